"""Domain parameters: a named physics parameter and the distribution it is drawn from.

Modelled on SimuRLacra's ``pyrado.domain_randomization.domain_parameter`` (DESIGN §6), but
every draw comes from the :class:`numpy.random.Generator` given as ``rng`` (or one seeded by
it); the global RNGs are never used (DESIGN §4, §8).
"""

from __future__ import annotations

import math
import numbers
from typing import Any, ClassVar, TypeAlias

import numpy as np
import numpy.typing as npt

from gymsamp._checks import check_bool

__all__ = [
    "BernoulliDomainParam",
    "DomainParam",
    "DomainValue",
    "MultivariateNormalDomainParam",
    "NormalDomainParam",
    "RngLike",
    "UniformDomainParam",
]

#: One drawn value: a float, an int (``roundint=True``) or a vector (multivariate parameters).
DomainValue: TypeAlias = float | int | npt.NDArray[Any]
#: What ``rng`` accepts: an int seed >= 0, a generator (advanced in place) or None.
RngLike: TypeAlias = int | np.random.Generator | None
#: A mean or a clipping bound: a float, or a vector for multivariate parameters.
_Real: TypeAlias = float | npt.NDArray[np.float64]

# The floats that round to an int64, [_INT64_MIN, _INT64_END): 2**63 - 1 is no float64, and
# numpy casts the floats beyond (and NaN) to -2**63 without an error.
_INT64_MIN = -(2.0**63)
_INT64_END = 2.0**63

# Relative tolerance of the symmetry and positive-semi-definiteness checks of a covariance, so
# that matrices computed as A @ A.T (exact up to round-off) are accepted.
_COV_RTOL = 1e-10


# --- validation: one helper per concern -------------------------------------------------------


def _as_generator(rng: Any) -> np.random.Generator:
    """The generator itself, or a new one seeded by an int >= 0 (None: fresh entropy)."""
    if isinstance(rng, np.random.Generator):
        return rng
    rule = "rng must be None, an int >= 0 or a numpy.random.Generator"
    is_int = isinstance(rng, numbers.Integral) and not isinstance(rng, (bool, np.bool_))
    if rng is not None and not is_int:
        raise TypeError(f"{rule}, got {rng!r}")
    if rng is not None and rng < 0:
        raise ValueError(f"{rule}, got {rng}")
    return np.random.default_rng(None if rng is None else int(rng))


def _check_num_samples(num_samples: Any) -> int:
    if isinstance(num_samples, (bool, np.bool_)) or not isinstance(num_samples, numbers.Integral):
        raise TypeError(f"num_samples must be an int >= 1, got {num_samples!r}")
    if num_samples < 1:
        raise ValueError(f"num_samples must be an int >= 1, got {num_samples}")
    return int(num_samples)


def _check_name(name: Any) -> str:
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {name!r}")
    if not name:
        raise ValueError("name must be a non-empty str, got ''")
    return name


def _check_real(arg: str, value: Any, *, nonneg: bool = False, allow_inf: bool = False) -> float:
    """A real number as float; NaN is always rejected, +-inf unless ``allow_inf``."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{arg} must be a real number, got {value!r}")
    num = float(value)
    if math.isnan(num) or (math.isinf(num) and not allow_inf):
        raise ValueError(f"{arg} must be a finite number, got {num}")
    if nonneg and num < 0:
        raise ValueError(f"{arg} must be >= 0, got {num}")
    return num


def _check_prob(arg: str, value: Any) -> float:
    prob = _check_real(arg, value)
    if not 0.0 <= prob <= 1.0:
        raise ValueError(f"{arg} must be in [0, 1], got {prob}")
    return prob


def _as_float_array(arg: str, value: Any, *, allow_inf: bool = False) -> npt.NDArray[np.float64]:
    """A float64 copy of ``value`` (never a view of the caller's array) without NaN (or inf)."""
    try:
        arr = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{arg} must be an array of real numbers, got {value!r}") from None
    if np.any(np.isnan(arr)) or (not allow_inf and np.any(np.isinf(arr))):
        rule = "free of NaN" if allow_inf else "finite"
        raise ValueError(f"{arg} must be {rule}, got {arr.tolist()}")
    return arr


def _check_vector(arg: str, value: Any) -> npt.NDArray[np.float64]:
    arr = _as_float_array(arg, value)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{arg} must have shape (d,) with d >= 1, got shape {arr.shape}")
    return arr


def _check_cov(cov: Any, mean: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """A symmetric positive semi-definite (d, d) matrix; returned exactly symmetrized."""
    arr = _as_float_array("cov", cov)
    dim = mean.shape[0]
    if arr.shape != (dim, dim):
        raise ValueError(
            f"cov has shape {arr.shape} but must have shape {(dim, dim)} "
            f"to match mean of shape {mean.shape}"
        )
    asym = float(np.max(np.abs(arr - arr.T)))
    if asym > _COV_RTOL * float(np.max(np.abs(arr))):
        raise ValueError(f"cov must be symmetric, got max |cov - cov.T| = {asym:.3g}")
    # Not (arr + arr.T) / 2, whose sum overflows to inf for entries beyond ~9e307 (NaN draws);
    # the asymmetry is tiny (checked above), and a symmetric matrix stays exactly as given.
    sym = arr + (arr.T - arr) / 2
    eig = np.linalg.eigvalsh(sym)
    if not np.all(np.isfinite(eig)):
        # An eigenvalue beyond float64's range: numpy's sampler would draw NaN or inf.
        raise ValueError(
            f"cov must have eigenvalues within float64's range, got {_fmt(eig)}; scale it down"
        )
    if eig[0] < -_COV_RTOL * float(np.max(np.abs(eig))):
        raise ValueError(
            f"cov must be positive semi-definite, got smallest eigenvalue {eig[0]:.3g}"
        )
    return sym


def _check_bound(arg: str, value: Any, shape: tuple[int, ...], *, unbounded: float) -> _Real:
    """A clipping bound: a float, or for vector params also a (d,) array; infinite only on the
    side ``unbounded`` (-inf for clip_lo, +inf for clip_up), which means "no bound"."""
    bound: _Real
    if shape == () or np.ndim(value) == 0:
        bound = _check_real(arg, value, allow_inf=True)
    else:
        bound = _as_float_array(arg, value, allow_inf=True)
        if bound.shape != shape:
            raise ValueError(
                f"{arg} has shape {bound.shape} but must have shape {shape} to match mean"
            )
    # clip_lo=+inf (clip_up=-inf) clipped every draw to that infinity, which no simulator takes.
    if np.any(np.asarray(bound) == -unbounded):
        raise ValueError(f"{arg} must be finite or {_fmt(unbounded)} (no bound), got {_fmt(bound)}")
    return bound


def _check_clip(
    clip_lo: Any, clip_up: Any, roundint: bool, shape: tuple[int, ...]
) -> tuple[_Real, _Real]:
    lo = _check_bound("clip_lo", clip_lo, shape, unbounded=-math.inf)
    up = _check_bound("clip_up", clip_up, shape, unbounded=math.inf)
    if np.any(np.greater(lo, up)):
        raise ValueError(f"clip_lo must be <= clip_up, got clip_lo={_fmt(lo)}, clip_up={_fmt(up)}")
    # Rounded draws are clipped to the integers inside the bounds (see _finish): one must exist.
    empty = np.flatnonzero(np.greater(np.ceil(lo), np.floor(up)))
    if roundint and empty.size:
        if np.ndim(lo) == 0 and np.ndim(up) == 0:
            where, bounds = "", f"[{_fmt(lo)}, {_fmt(up)}]"
        else:  # name the element (per-element bounds or a scalar bound broadcast)
            i = int(empty[0])
            low, high = np.broadcast_to(lo, shape).flat[i], np.broadcast_to(up, shape).flat[i]
            where, bounds = " in every element", f"[{_fmt(low)}, {_fmt(high)}] in element {i}"
        raise ValueError(
            f"[clip_lo, clip_up] must contain an integer{where} when roundint is True, got {bounds}"
        )
    return lo, up


def _check_fits_int64(name: str, rounded: npt.NDArray[np.float64], what: str) -> None:
    """Refuse rounded values that int64 cannot hold, which numpy's cast would wrap silently."""
    # Written so that NaN fails too.
    outside = ~((rounded >= _INT64_MIN) & (rounded < _INT64_END))
    if np.any(outside):
        value = float(rounded[outside].flat[0])
        raise ValueError(
            f"roundint values of {name!r} must lie within int64's range [-2**63, 2**63 - 1], "
            f"got {what} {_fmt(value)}; narrow the distribution or clip it with clip_lo / clip_up"
        )


# --- formatting -------------------------------------------------------------------------------


def _fmt(value: Any) -> str:
    """Short human-readable form of a number or an array (no line breaks)."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, list):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    if isinstance(value, float):
        return f"{value:.6g}"
    return repr(value)


# --- the distributions ------------------------------------------------------------------------


class DomainParam:
    """A named domain parameter fixed at its mean; the base of the randomized ones.

    Sampling it always yields ``mean`` (clipped and rounded like every draw), which makes it
    useful to pin one parameter while others are randomized. Subclasses override
    :meth:`_draw` and list their constructor arguments in ``_FIELDS``.

    Args:
        name: The parameter's name, e.g. ``"masspole"``.
        mean: The nominal value.
        clip_lo: Lower bound every draw is clipped to; -inf (the default) for none, never +inf.
        clip_up: Upper bound every draw is clipped to, >= ``clip_lo``; inf (the default) for
            none, never -inf.
        roundint: Round draws to ints (to the integers inside ``[clip_lo, clip_up]``). They
            must fit int64: a parameter that may draw beyond is refused here where its
            distribution is bounded (its mean otherwise), and a draw beyond in :meth:`sample`.

    Raises:
        ValueError: An argument breaks its rule (named in the message).

    Example:
        >>> DomainParam("gravity", mean=9.81).sample(2)
        [9.81, 9.81]
        >>> DomainParam("links", mean=3.4, clip_up=3.0, roundint=True).sample(1)
        [3]
    """

    # The constructor arguments, in order: what adapt() may change and __repr__ shows.
    _FIELDS: ClassVar[tuple[str, ...]] = ("name", "mean", "clip_lo", "clip_up", "roundint")
    # The distribution's name and parameters as shown by __str__.
    _DISTR: ClassVar[str] = "Constant"
    _DISTR_FIELDS: ClassVar[tuple[str, ...]] = ("mean",)

    def __init__(
        self,
        name: str,
        mean: Any,
        clip_lo: Any = -math.inf,
        clip_up: Any = math.inf,
        roundint: bool = False,
    ) -> None:
        self.name: str = _check_name(name)
        self.mean: _Real = self._check_mean(mean)
        self.roundint: bool = check_bool("roundint", roundint)
        self.clip_lo: _Real
        self.clip_up: _Real
        self.clip_lo, self.clip_up = _check_clip(
            clip_lo, clip_up, self.roundint, np.shape(self.mean)
        )
        if self.roundint:
            reach = np.array(self._draw_range(), dtype=np.float64)
            _check_fits_int64(self.name, self._rounded(reach), "a possible draw of")

    def __setattr__(self, name: str, value: Any) -> None:
        # A field assigned again after the constructor set it (``param.halfspan = -1``, as
        # pyrado's scripts do) is checked as adapt() checks it, or a value the constructor
        # refuses would reach every later draw unchecked.
        if name in self._FIELDS and name in self.__dict__:
            self.adapt(name, value)
        elif name == "mean" and name in self.__dict__:  # derived from the fields
            raise AttributeError(
                f"mean of a {type(self).__name__} follows from its fields "
                f"{list(self._DISTR_FIELDS)} and cannot be assigned, got mean={value!r}"
            )
        else:
            super().__setattr__(name, value)

    def _draw_range(self) -> tuple[_Real, _Real]:
        """The smallest and largest raw draw, checked at construction: the support of a bounded
        distribution, the mean of an unbounded one (whose draws are checked in _finish)."""
        return self.mean, self.mean

    @staticmethod
    def _check_mean(mean: Any) -> _Real:
        return _check_real("mean", mean)

    @classmethod
    def get_field_names(cls) -> tuple[str, ...]:
        """The fields :meth:`adapt` may change (the constructor's arguments, in order).

        Example:
            >>> UniformDomainParam.get_field_names()
            ('name', 'mean', 'halfspan', 'clip_lo', 'clip_up', 'roundint')
        """
        return cls._FIELDS

    def adapt(self, field: str, value: Any) -> None:
        """Set one field, validated as in the constructor; on error nothing changes.

        Assigning a field (``param.std = 0.2``) does the same.

        Args:
            field: One of :meth:`get_field_names`.
            value: The new value.

        Raises:
            ValueError: ``field`` is unknown, or ``value`` breaks a rule of the constructor.

        Example:
            >>> param = NormalDomainParam("mass", mean=1.0, std=0.1)
            >>> param.adapt("std", 0.2)
            >>> param.std
            0.2
        """
        fields = self.get_field_names()
        if field not in fields:
            raise ValueError(f"field must be one of {list(fields)}, got {field!r}")
        kwargs = {name: getattr(self, name) for name in fields}
        kwargs[field] = value
        # Re-running the constructor checks the new value together with the others (clip_lo <=
        # clip_up, cov matching mean) and leaves self untouched when it fails.
        fresh = type(self)(**kwargs)
        self.__dict__.update(fresh.__dict__)

    def sample(self, num_samples: int = 1, rng: RngLike = None) -> list[DomainValue]:
        """Draw values, clipped to ``[clip_lo, clip_up]`` and rounded if ``roundint``.

        Args:
            num_samples: How many values to draw (>= 1).
            rng: An int seed >= 0, a :class:`numpy.random.Generator` (advanced in place) or None
                for fresh entropy.

        Returns:
            ``num_samples`` Python floats (ints if ``roundint``); numpy vectors for
            :class:`MultivariateNormalDomainParam`.

        Raises:
            ValueError: ``num_samples`` or ``rng`` is invalid, or with ``roundint`` a draw
                does not fit int64.

        Example:
            >>> values = UniformDomainParam("mass", mean=1.0, halfspan=0.5).sample(3, rng=0)
            >>> len(values), all(0.5 <= v <= 1.5 for v in values)
            (3, True)
        """
        num = _check_num_samples(num_samples)
        gen = _as_generator(rng)
        return self._finish(self._draw(num, gen))

    def _draw(self, num_samples: int, rng: np.random.Generator) -> npt.NDArray[np.float64]:
        """Raw draws, shape (num_samples,) or (num_samples, d). The base consumes no randomness."""
        return np.full(num_samples, self.mean, dtype=np.float64)

    def _rounded(self, raw: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Raw draws rounded, then clipped to the integers inside the bounds (still floats)."""
        # Clipping first could round a value out of them (clip_lo=0.3: 0.3 -> 0).
        return np.clip(np.rint(raw), np.ceil(self.clip_lo), np.floor(self.clip_up))

    def _finish(self, raw: npt.NDArray[np.float64]) -> list[DomainValue]:
        if self.roundint:
            rounded = self._rounded(raw)
            _check_fits_int64(self.name, rounded, "a draw of")
            out: npt.NDArray[Any] = rounded.astype(np.int64)
        else:
            out = np.clip(raw, self.clip_lo, self.clip_up)
        # tolist() turns scalars into Python floats / ints; vectors stay numpy rows.
        return out.tolist() if out.ndim == 1 else list(out)

    def __repr__(self) -> str:
        # Arrays as nested lists, so that the repr is exact and on one line.
        fields = {f: getattr(self, f) for f in self.get_field_names()}
        args = (
            f"{f}={v.tolist() if isinstance(v, np.ndarray) else v!r}" for f, v in fields.items()
        )
        return f"{type(self).__name__}({', '.join(args)})"

    def __str__(self) -> str:
        distr = ", ".join(f"{f}={_fmt(getattr(self, f))}" for f in self._DISTR_FIELDS)
        text = f"{self.name}: {self._DISTR}({distr}), clip [{_fmt(self.clip_lo)}, "
        text += f"{_fmt(self.clip_up)}]"
        return text + (", roundint" if self.roundint else "")


class UniformDomainParam(DomainParam):
    """A parameter drawn uniformly from ``[mean - halfspan, mean + halfspan]``.

    Args:
        name: The parameter's name.
        mean: The centre of the interval.
        halfspan: Half the interval's width (>= 0).
        clip_lo, clip_up, roundint: As for :class:`DomainParam`.

    Example:
        >>> param = UniformDomainParam("length", mean=0.5, halfspan=0.1)
        >>> print(param)
        length: Uniform(mean=0.5, halfspan=0.1), clip [-inf, inf]
        >>> all(0.4 <= v <= 0.6 for v in param.sample(100, rng=1))
        True
    """

    _FIELDS = ("name", "mean", "halfspan", "clip_lo", "clip_up", "roundint")
    _DISTR = "Uniform"
    _DISTR_FIELDS = ("mean", "halfspan")

    def __init__(
        self,
        name: str,
        mean: float,
        halfspan: float,
        clip_lo: float = -math.inf,
        clip_up: float = math.inf,
        roundint: bool = False,
    ) -> None:
        # Before the base constructor, which reads it in _draw_range for roundint's check.
        self.halfspan: float = _check_real("halfspan", halfspan, nonneg=True)
        super().__init__(name, mean, clip_lo, clip_up, roundint)
        # numpy's uniform() needs a width it can represent; past float64's range it raises a
        # bare OverflowError at the first draw instead of naming the parameter.
        width = (self.mean + self.halfspan) - (self.mean - self.halfspan)
        if not math.isfinite(width):
            raise ValueError(
                f"halfspan must keep [mean - halfspan, mean + halfspan] within float64's range, "
                f"got mean={self.mean}, halfspan={self.halfspan} for {self.name!r}"
            )

    def _draw_range(self) -> tuple[_Real, _Real]:
        return self.mean - self.halfspan, self.mean + self.halfspan

    def _draw(self, num_samples: int, rng: np.random.Generator) -> npt.NDArray[np.float64]:
        return rng.uniform(self.mean - self.halfspan, self.mean + self.halfspan, size=num_samples)


class NormalDomainParam(DomainParam):
    """A parameter drawn from the normal distribution N(mean, std²).

    Args:
        name: The parameter's name.
        mean: The distribution's mean.
        std: Its standard deviation (>= 0).
        clip_lo, clip_up, roundint: As for :class:`DomainParam`.

    Example:
        >>> param = NormalDomainParam("mass", mean=1.0, std=5.0, clip_lo=0.1, clip_up=2.0)
        >>> all(0.1 <= v <= 2.0 for v in param.sample(100, rng=0))
        True
    """

    _FIELDS = ("name", "mean", "std", "clip_lo", "clip_up", "roundint")
    _DISTR = "Normal"
    _DISTR_FIELDS = ("mean", "std")

    def __init__(
        self,
        name: str,
        mean: float,
        std: float,
        clip_lo: float = -math.inf,
        clip_up: float = math.inf,
        roundint: bool = False,
    ) -> None:
        super().__init__(name, mean, clip_lo, clip_up, roundint)
        self.std: float = _check_real("std", std, nonneg=True)

    def _draw(self, num_samples: int, rng: np.random.Generator) -> npt.NDArray[np.float64]:
        return rng.normal(self.mean, self.std, size=num_samples)


class MultivariateNormalDomainParam(DomainParam):
    """A vector parameter drawn from N(mean, cov); clipping is elementwise.

    Args:
        name: The parameter's name.
        mean: The mean vector, shape (d,).
        cov: The covariance, shape (d, d), symmetric positive semi-definite (singular is fine).
        clip_lo, clip_up: Clipping bounds, floats or (d,) arrays.
        roundint: Round draws to ints (int64 vectors).

    Example:
        >>> param = MultivariateNormalDomainParam(
        ...     "com", mean=[0.0, 1.0], cov=[[1.0, 0.0], [0.0, 0.0]], clip_lo=[-0.5, -1.0]
        ... )
        >>> values = param.sample(5, rng=0)
        >>> values[0].shape, all(v[0] >= -0.5 and v[1] == 1.0 for v in values)
        ((2,), True)
    """

    _FIELDS = ("name", "mean", "cov", "clip_lo", "clip_up", "roundint")
    _DISTR = "MultivariateNormal"
    _DISTR_FIELDS = ("mean", "cov")

    def __init__(
        self,
        name: str,
        mean: npt.ArrayLike,
        cov: npt.ArrayLike,
        clip_lo: float | npt.ArrayLike = -math.inf,
        clip_up: float | npt.ArrayLike = math.inf,
        roundint: bool = False,
    ) -> None:
        super().__init__(name, mean, clip_lo, clip_up, roundint)
        self.cov: npt.NDArray[np.float64] = _check_cov(cov, np.asarray(self.mean))

    @staticmethod
    def _check_mean(mean: Any) -> _Real:
        return _check_vector("mean", mean)

    def _draw(self, num_samples: int, rng: np.random.Generator) -> npt.NDArray[np.float64]:
        # "eigh" copes with singular covariances; validity was checked with a tolerance already.
        return rng.multivariate_normal(
            np.asarray(self.mean), self.cov, size=num_samples, check_valid="ignore", method="eigh"
        )


class BernoulliDomainParam(DomainParam):
    """A parameter that is ``val_1`` with probability ``prob_1`` and ``val_0`` otherwise.

    ``mean`` is the expected value ``val_0 + prob_1 * (val_1 - val_0)`` (before clipping); it
    follows from the other fields, so it is not one :meth:`adapt` can set.

    Args:
        name: The parameter's name.
        val_0: The value drawn with probability ``1 - prob_1``.
        val_1: The value drawn with probability ``prob_1``.
        prob_1: The probability of ``val_1``, in [0, 1].
        clip_lo, clip_up, roundint: As for :class:`DomainParam`.

    Example:
        >>> param = BernoulliDomainParam("motor", val_0=0, val_1=1, prob_1=1.0, roundint=True)
        >>> param.sample(3, rng=0), param.mean
        ([1, 1, 1], 1.0)
    """

    _FIELDS = ("name", "val_0", "val_1", "prob_1", "clip_lo", "clip_up", "roundint")
    _DISTR = "Bernoulli"
    _DISTR_FIELDS = ("val_0", "val_1", "prob_1")

    def __init__(
        self,
        name: str,
        val_0: float,
        val_1: float,
        prob_1: float,
        clip_lo: float = -math.inf,
        clip_up: float = math.inf,
        roundint: bool = False,
    ) -> None:
        self.val_0: float = _check_real("val_0", val_0)
        self.val_1: float = _check_real("val_1", val_1)
        self.prob_1: float = _check_prob("prob_1", prob_1)
        mean = self.val_0 + self.prob_1 * (self.val_1 - self.val_0)
        if not math.isfinite(mean):  # val_1 - val_0 overflowed (values near the float limits)
            mean = (1.0 - self.prob_1) * self.val_0 + self.prob_1 * self.val_1
        super().__init__(name, mean, clip_lo, clip_up, roundint)

    def _draw_range(self) -> tuple[_Real, _Real]:
        # Only the values drawn with a positive probability.
        drawn = [v for v, p in ((self.val_0, 1.0 - self.prob_1), (self.val_1, self.prob_1)) if p]
        return min(drawn), max(drawn)

    def _draw(self, num_samples: int, rng: np.random.Generator) -> npt.NDArray[np.float64]:
        # random() lies in [0, 1), so prob_1 = 1 always gives val_1 and prob_1 = 0 never does.
        return np.where(rng.random(num_samples) < self.prob_1, self.val_1, self.val_0)
