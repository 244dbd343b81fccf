"""Joint draws of several domain parameters, and grids of fixed parameter values.

:class:`DomainRandomizer` is SimuRLacra's ``pyrado.domain_randomization.DomainRandomizer``
(DESIGN §6) on numpy generators: ``randomize`` stores joint samples that ``get_params`` hands
out as a list of dicts or a dict of arrays (numpy or torch), and ``sample`` draws one joint
sample for a randomizing env wrapper without touching the stored ones. :func:`param_grid`
spans the Cartesian product of given values, e.g. for sweeps over a parameter range.
"""

from __future__ import annotations

import copy
import itertools
import math
import reprlib
from collections.abc import Mapping, Sequence
from typing import Any, Literal, overload

import numpy as np

from gymsamp.envs.domain_params import (
    DomainParam,
    DomainValue,
    RngLike,
    _as_generator,
    _check_num_samples,
    _check_real,
)

__all__ = ["DomainRandomizer", "param_grid"]

_FORMATS = ("list", "dict")
_DTYPES = ("numpy", "torch")
# Fields that are not numbers, so rescale_distr_param cannot multiply them.
_NON_NUMERIC_FIELDS = ("name", "roundint")


class DomainRandomizer:
    """Draws joint samples of several independent domain parameters.

    Sample ``i`` is drawn by sampling each parameter once, in the order the parameters were
    given, so ``randomize(n, rng=g)`` stores exactly ``[sample(rng=g) for _ in range(n)]``, and
    a seed fixes every sample regardless of how many are drawn after it. The domain parameters
    are held by reference: adapting one of them changes the randomizer's distribution.

    Args:
        *domain_params: The parameters to randomize; their names must be unique.

    Raises:
        TypeError: An argument is not a :class:`DomainParam`.
        ValueError: Two parameters share a name.

    Example:
        >>> from gymsamp.envs.domain_params import NormalDomainParam, UniformDomainParam
        >>> randomizer = DomainRandomizer(
        ...     NormalDomainParam("mass", mean=1.0, std=0.1, clip_lo=0.5),
        ...     UniformDomainParam("length", mean=0.5, halfspan=0.1),
        ... )
        >>> randomizer.randomize(num_samples=3, rng=0)
        >>> params = randomizer.get_params(fmt="dict")
        >>> params["mass"].shape, bool(params["length"].min() >= 0.4)
        ((3,), True)
        >>> print(randomizer)
        DomainRandomizer with 2 domain parameters:
          mass: Normal(mean=1, std=0.1), clip [0.5, inf]
          length: Uniform(mean=0.5, halfspan=0.1), clip [-inf, inf]
    """

    def __init__(self, *domain_params: DomainParam) -> None:
        for i, param in enumerate(domain_params):
            if not isinstance(param, DomainParam):
                raise TypeError(f"domain_params[{i}] must be a DomainParam, got {param!r}")
        _check_unique_names(domain_params)
        self._domain_params = list(domain_params)
        self._samples: list[dict[str, DomainValue]] | None = None

    @property
    def domain_params(self) -> list[DomainParam]:
        """The domain parameters, in order (a new list of the held objects)."""
        return list(self._domain_params)

    @property
    def param_names(self) -> list[str]:
        """The names of the domain parameters, in order."""
        return [param.name for param in self._domain_params]

    def sample(self, rng: RngLike = None) -> dict[str, DomainValue]:
        """Draw one joint sample without touching the stored samples.

        Args:
            rng: An int seed >= 0, a :class:`numpy.random.Generator` (advanced in place, e.g. an
                env's ``np_random``) or None for fresh entropy.

        Returns:
            ``{name: value}`` in the order of the domain parameters.

        Example:
            >>> from gymsamp.envs.domain_params import BernoulliDomainParam
            >>> randomizer = DomainRandomizer(BernoulliDomainParam("m", 1.0, 2.0, prob_1=1.0))
            >>> randomizer.sample(rng=0)
            {'m': 2.0}
        """
        return self._draw_one(_as_generator(rng))

    def _draw_one(self, rng: np.random.Generator) -> dict[str, DomainValue]:
        sample = {param.name: param.sample(1, rng)[0] for param in self._domain_params}
        if len(sample) < len(self._domain_params):  # a parameter renamed by adapt("name", ...)
            _check_unique_names(self._domain_params, renamed=True)
        return sample

    def randomize(self, num_samples: int, rng: RngLike = None) -> None:
        """Draw and store ``num_samples`` joint samples, replacing those stored before.

        Args:
            num_samples: How many joint samples to draw (>= 1).
            rng: An int seed >= 0, a :class:`numpy.random.Generator` (advanced in place) or None
                for fresh entropy.

        Example:
            >>> from gymsamp.envs.domain_params import NormalDomainParam
            >>> randomizer = DomainRandomizer(NormalDomainParam("mass", mean=1.0, std=0.1))
            >>> randomizer.randomize(4, rng=7)
            >>> len(randomizer.get_params())
            4
        """
        num = _check_num_samples(num_samples)
        gen = _as_generator(rng)
        # Sample-major order (all params of sample 0, then sample 1, ...) keeps each sample
        # independent of how many are drawn; see the class docstring.
        self._samples = [self._draw_one(gen) for _ in range(num)]

    @overload
    def get_params(
        self, num_samples: int = -1, fmt: Literal["list"] = "list", dtype: str = "numpy"
    ) -> list[dict[str, Any]]: ...

    @overload
    def get_params(
        self, num_samples: int, fmt: Literal["dict"], dtype: str = "numpy"
    ) -> dict[str, Any]: ...

    @overload
    def get_params(
        self, num_samples: int = -1, *, fmt: Literal["dict"], dtype: str = "numpy"
    ) -> dict[str, Any]: ...

    @overload
    def get_params(
        self, num_samples: int = -1, fmt: str = "list", dtype: str = "numpy"
    ) -> list[dict[str, Any]] | dict[str, Any]: ...

    def get_params(
        self, num_samples: int = -1, fmt: str = "list", dtype: str = "numpy"
    ) -> list[dict[str, Any]] | dict[str, Any]:
        """The stored samples (copies), as a list of dicts or a dict of batched arrays.

        Args:
            num_samples: -1 for all stored samples, else the first ``num_samples`` of them.
            fmt: ``"list"``: one ``{name: value}`` dict per sample; ``"dict"``: ``{name: array}``
                with the samples stacked along a new first axis, shape ``(n,)`` or ``(n, d)``.
            dtype: ``"numpy"``: values as drawn (Python floats / ints, numpy vectors) for
                ``"list"``, numpy arrays for ``"dict"``; ``"torch"``: torch tensors instead
                (float64, or int64 for ``roundint`` parameters).

        Raises:
            ValueError: Nothing was stored yet, ``num_samples`` exceeds what is stored, or
                ``fmt`` / ``dtype`` is unknown.

        Example:
            >>> from gymsamp.envs.domain_params import DomainParam
            >>> randomizer = DomainRandomizer(DomainParam("g", mean=9.81))
            >>> randomizer.randomize(3)
            >>> randomizer.get_params(2)
            [{'g': 9.81}, {'g': 9.81}]
            >>> randomizer.get_params(fmt="dict")["g"].tolist()
            [9.81, 9.81, 9.81]
        """
        if fmt not in _FORMATS:
            raise ValueError(f"fmt must be one of {list(_FORMATS)}, got {fmt!r}")
        if dtype not in _DTYPES:
            raise ValueError(f"dtype must be one of {list(_DTYPES)}, got {dtype!r}")
        if self._samples is None:
            raise ValueError("no samples are stored yet; call randomize(num_samples) first")
        chosen = self._samples[: self._check_count(num_samples)]
        if fmt == "dict":
            return {
                param.name: self._convert(
                    np.asarray(
                        [sample[param.name] for sample in chosen],
                        dtype=np.int64 if param.roundint else np.float64,
                    ),
                    dtype,
                )
                for param in self._domain_params
            }
        if dtype == "torch":
            return [
                {name: self._convert(np.asarray(value), dtype) for name, value in sample.items()}
                for sample in chosen
            ]
        return [copy.deepcopy(sample) for sample in chosen]

    def _check_count(self, num_samples: Any) -> int:
        stored = len(self._samples or [])
        rule = f"num_samples must be -1 (all) or an int in [1, {stored}] (the stored samples)"
        if isinstance(num_samples, (bool, np.bool_)) or not isinstance(
            num_samples, (int, np.integer)
        ):
            raise TypeError(f"{rule}, got {num_samples!r}")
        if num_samples == -1:
            return stored
        if not 1 <= num_samples <= stored:
            raise ValueError(f"{rule}, got {num_samples}")
        return int(num_samples)

    @staticmethod
    def _convert(array: np.ndarray, dtype: str) -> Any:
        if dtype == "numpy":
            return array
        import torch  # only here: importing gymsamp must stay fast (DESIGN §2)

        return torch.from_numpy(np.array(array))

    def rescale_distr_param(self, param: str, scale: float) -> None:
        """Multiply the distribution parameter ``param`` of every domain param having it.

        E.g. ``("std", 2.0)`` doubles every normal parameter's standard deviation, ``("cov",
        2.0)`` doubles every covariance (so its standard deviations grow by sqrt(2)). Domain
        params without ``param`` are left alone. All changes are validated before any is
        made, so on error nothing changes.

        Args:
            param: A numeric field name, e.g. ``"std"``, ``"halfspan"``, ``"cov"``, ``"mean"``.
            scale: The factor (>= 0).

        Raises:
            ValueError: No domain param has ``param``, ``scale`` < 0, or a result is invalid.

        Example:
            >>> from gymsamp.envs.domain_params import NormalDomainParam
            >>> randomizer = DomainRandomizer(NormalDomainParam("mass", mean=1.0, std=0.1))
            >>> randomizer.rescale_distr_param("std", 2.0)
            >>> randomizer.domain_params[0].std
            0.2
        """
        factor = _check_real("scale", scale, nonneg=True)
        numeric = sorted(
            {f for p in self._domain_params for f in p.get_field_names()} - set(_NON_NUMERIC_FIELDS)
        )
        if param not in numeric:
            raise ValueError(
                f"param must be a numeric field of at least one domain param, one of {numeric}, "
                f"got {param!r}"
            )
        targets = [p for p in self._domain_params if param in p.get_field_names()]
        # Try every change on a copy first so that one invalid result leaves all params as they
        # were, instead of half of them rescaled.
        for target in targets:
            copy.copy(target).adapt(param, _scaled(getattr(target, param), factor))
        for target in targets:
            target.adapt(param, _scaled(getattr(target, param), factor))

    def adapt_one_distr_param(self, name: str, field: str, value: Any) -> None:
        """Set one field of one domain parameter (see :meth:`DomainParam.adapt`).

        pyrado called the arguments ``domain_param_name``, ``domain_distr_param`` and
        ``domain_distr_param_value``; positional calls read the same.

        Args:
            name: The domain parameter's name.
            field: The field, one of its ``get_field_names()`` (e.g. ``"mean"``, ``"std"``).
            value: The new value.

        Raises:
            ValueError: Unknown name or field, an invalid value, or a rename to a name in use.

        Example:
            >>> from gymsamp.envs.domain_params import UniformDomainParam
            >>> randomizer = DomainRandomizer(UniformDomainParam("l", mean=0.5, halfspan=0.1))
            >>> randomizer.adapt_one_distr_param("l", "halfspan", 0.2)
            >>> randomizer.domain_params[0].halfspan
            0.2
        """
        names = self.param_names
        if name not in names:
            raise ValueError(f"name must be one of {names}, got {name!r}")
        target = self._domain_params[names.index(name)]
        fields = target.get_field_names()
        if field not in fields:
            raise ValueError(
                f"field must be one of {list(fields)} (the fields of "
                f"{type(target).__name__} {name!r}), got {field!r}"
            )
        if field == "name" and value != name and value in names:
            raise ValueError(f"value must be a name no other domain param has, got {value!r}")
        target.adapt(field, value)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(repr(p) for p in self._domain_params)})"

    def __str__(self) -> str:
        count = len(self._domain_params)
        lines = [f"{type(self).__name__} with {count} domain parameter{'s' * (count != 1)}:"]
        lines += [f"  {param}" for param in self._domain_params]
        return "\n".join(lines)


def _scaled(value: Any, factor: float) -> Any:
    """``factor * value``, an infinite value (a missing clipping bound) kept as it is (a zero
    factor made NaN of it)."""
    if np.ndim(value) == 0:
        return value if math.isinf(value) else factor * value
    array = np.asarray(value)
    with np.errstate(invalid="ignore"):  # 0 * inf, replaced by the kept inf
        return np.where(np.isinf(array), array, factor * array)


def check_randomizer(randomizer: Any, name: str = "randomizer") -> None:
    """Refuse a ``randomizer`` that cannot make joint draws (``sample(rng=...) -> dict``).

    A single :class:`DomainParam` has a ``sample`` method too, but it returns a list of values:
    it is named, with the fix, instead of failing at the first reset.

    Raises:
        TypeError: ``randomizer`` is a single ``DomainParam`` or has no ``sample`` method.
    """
    if isinstance(randomizer, DomainParam):
        raise TypeError(
            f"{name} must be a DomainRandomizer (joint draws, one dict each), got the single "
            f"{type(randomizer).__name__} {randomizer.name!r}; wrap it: DomainRandomizer(param)"
        )
    if not callable(getattr(randomizer, "sample", None)):
        raise TypeError(
            f"{name} must be a DomainRandomizer (an object with sample(rng=...)), got "
            f"{type(randomizer).__name__} {reprlib.repr(randomizer)}"
        )


def checked_domain_param(value: Any, name: str) -> dict[str, Any]:
    """``value`` (e.g. a randomizer's draw) as a dict, or a TypeError naming ``name``."""
    if not isinstance(value, Mapping):
        raise TypeError(
            f"{name} must be a dict of domain parameters, got {type(value).__name__} "
            f"{reprlib.repr(value)}"
        )
    return dict(value)


def param_grid(param_values: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """The Cartesian product of parameter values, one dict per grid point.

    Points are in row-major order (the last name varies fastest); values are kept as given
    (not converted). An empty mapping gives the single empty point ``[{}]``.

    Args:
        param_values: ``{name: values}``, each a non-empty sequence (or numpy array).

    Raises:
        TypeError: ``param_values`` is not a mapping, a key is not a str, or values are not a
            sequence (a str does not count).
        ValueError: Some values are empty.

    Example:
        >>> param_grid({"m": [1, 2], "l": [0.5, 1.0]})
        [{'m': 1, 'l': 0.5}, {'m': 1, 'l': 1.0}, {'m': 2, 'l': 0.5}, {'m': 2, 'l': 1.0}]
    """
    if not isinstance(param_values, Mapping):
        raise TypeError(f"param_values must be a mapping of names to values, got {param_values!r}")
    for name, values in param_values.items():
        if not isinstance(name, str):
            raise TypeError(f"param_values keys must be str, got {name!r}")
        if (
            isinstance(values, (str, bytes))
            or not isinstance(values, (Sequence, np.ndarray))
            or (isinstance(values, np.ndarray) and values.ndim == 0)  # a 0-d array is one value
        ):
            raise TypeError(f"param_values[{name!r}] must be a sequence of values, got {values!r}")
        if len(values) == 0:
            raise ValueError(f"param_values[{name!r}] must be a non-empty sequence, got {values!r}")
    names = list(param_values)
    return [
        dict(zip(names, point, strict=True))
        for point in itertools.product(*(param_values[name] for name in names))
    ]


def _check_unique_names(domain_params: Sequence[DomainParam], *, renamed: bool = False) -> None:
    """Refuse two parameters of one name (the later one's draws would replace the earlier's)."""
    names = [param.name for param in domain_params]
    for name in names:
        if names.count(name) > 1:
            since = " (one was renamed with adapt('name', ...) after it joined)" if renamed else ""
            raise ValueError(f"domain_params must have unique names, got {name!r} twice{since}")
