"""Argument checks shared by every layer (a leaf module: it imports nothing of gymsamp)."""

from __future__ import annotations

import math
import numbers
from typing import Any, Literal, overload

import numpy as np

__all__ = [
    "check_bool",
    "check_epsilon",
    "check_int",
    "check_positive_real",
    "check_seed",
    "is_int",
]


def is_int(value: object) -> bool:
    """Whether ``value`` is an integer (Python or numpy), bools excluded."""
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def check_int(name: str, value: Any, minimum: int = 1) -> int:
    """``value`` as a Python int >= ``minimum``.

    Raises:
        TypeError: ``value`` is not an integer (numpy integers count; bools do not).
        ValueError: ``value`` is below ``minimum``.

    Example:
        >>> check_int("num_workers", np.int64(2))
        2
        >>> check_int("num_workers", 0)
        Traceback (most recent call last):
        ...
        ValueError: num_workers must be an int >= 1, got 0
    """
    if not is_int(value) or value < minimum:
        error = ValueError if is_int(value) else TypeError
        raise error(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def check_bool(name: str, value: Any) -> bool:
    """``value`` as a Python bool; only ``True`` and ``False`` (numpy's too) are flags.

    A truthy string such as ``"no"`` would otherwise silently mean True.

    Raises:
        TypeError: ``value`` is not a bool.

    Example:
        >>> check_bool("eval", np.True_)
        True
        >>> check_bool("eval", "no")
        Traceback (most recent call last):
        ...
        TypeError: eval must be a bool (True or False), got 'no'
    """
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool (True or False), got {value!r}")
    return bool(value)


def check_seed(seed: Any, name: str = "seed", *, generator: bool = False) -> Any:
    """``seed`` as None or a Python int >= 0 (numpy integers too, bools not), or with
    ``generator=True`` also a ``numpy.random.Generator``, returned as it is.

    Raises:
        TypeError: ``seed`` is none of these types.
        ValueError: ``seed`` is a negative int.

    Example:
        >>> check_seed(np.uint32(7))
        7
        >>> check_seed(-1, "sub_seed")
        Traceback (most recent call last):
        ...
        ValueError: sub_seed must be None or an int >= 0, got -1
    """
    if type(seed) is int and seed >= 0:  # the usual seed (derive_seed runs once per rollout)
        return seed
    if seed is None or (generator and isinstance(seed, np.random.Generator)):
        return seed
    rule = "None, an int >= 0 or a numpy.random.Generator" if generator else "None or an int >= 0"
    if not is_int(seed):
        raise TypeError(f"{name} must be {rule}, got {seed!r}")
    if seed < 0:
        raise ValueError(f"{name} must be {rule}, got {seed!r}")
    return int(seed)


@overload
def check_positive_real(name: str, value: Any, *, optional: Literal[False] = False) -> float: ...
@overload
def check_positive_real(name: str, value: Any, *, optional: bool) -> float | None: ...
def check_positive_real(name: str, value: Any, *, optional: bool = False) -> float | None:
    """``value`` as a finite float > 0 (None passes if ``optional``), e.g. a timeout or ``dt``.

    Raises:
        TypeError: ``value`` is not a real number (bools are not).
        ValueError: ``value`` is NaN, infinite or <= 0.

    Example:
        >>> check_positive_real("dt", np.float32(0.5))
        0.5
        >>> check_positive_real("step_timeout", float("nan"), optional=True)
        Traceback (most recent call last):
        ...
        ValueError: step_timeout must be None or a finite number > 0 (seconds), got nan
    """
    if optional and value is None:
        return None
    rule = "None or a finite number > 0" if optional else "a finite number > 0"
    if name.endswith("timeout"):
        rule += " (seconds)"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be {rule}, got {value!r}")
    number = float(value)
    if not (math.isfinite(number) and number > 0):
        raise ValueError(f"{name} must be {rule}, got {value!r}")
    return number


def check_epsilon(epsilon: Any) -> float:
    """``epsilon``, a CVaR level, as a float in (0, 1]; numpy scalars count, bools do not.

    Raises:
        TypeError: ``epsilon`` is not a real number.
        ValueError: ``epsilon`` is NaN or outside (0, 1].

    Example:
        >>> check_epsilon(np.float32(0.25))
        0.25
        >>> check_epsilon(0)
        Traceback (most recent call last):
        ...
        ValueError: epsilon must be a number in (0, 1], got 0
    """
    rule = "epsilon must be a number in (0, 1]"
    if isinstance(epsilon, (bool, np.bool_)) or not isinstance(epsilon, numbers.Real):
        raise TypeError(f"{rule}, got {epsilon!r}")
    number = float(epsilon)
    if not 0 < number <= 1:  # NaN fails both comparisons
        raise ValueError(f"{rule}, got {epsilon!r}")
    if math.isinf(1.0 / number):  # a subnormal: the 1 / epsilon rollouts it needs overflow
        raise ValueError(f"{rule} whose inverse is a finite float, got {epsilon!r}")
    return number


#: Relative distance within which a count's product or quotient is taken as the whole number
#: near it: float arithmetic misses the whole number that a decimal epsilon means (0.29 * 100 is
#: 28.999999999999996 and 7 / 0.7 is 10.000000000000002 in float64; one operation is off by a
#: few 1e-16), and a floor or ceil would then be one off.
_COUNT_RTOL = 1e-12


def _snapped(value: float) -> float:
    """``value``, or the whole number within float noise of it."""
    nearest = round(value)
    return float(nearest) if abs(value - nearest) <= _COUNT_RTOL * max(1.0, abs(value)) else value


def cvar_count(n: int, epsilon: float) -> int:
    """How many of ``n`` rollouts the CVaR at level ``epsilon`` keeps: ``floor(epsilon * n)``
    (as pyrado), a product within float noise of a whole number taken as that number.

    Example:
        >>> cvar_count(3, 0.5), cvar_count(7, 0.5), cvar_count(100, 0.29)
        (1, 3, 29)
    """
    return math.floor(_snapped(n * epsilon))


def ceil_count(value: float) -> int:
    """``ceil(value)``, a value within float noise of a whole number taken as that number.

    Example:
        >>> ceil_count(7 / 0.7), ceil_count(2 / 0.3)
        (10, 7)
    """
    return math.ceil(_snapped(value))
