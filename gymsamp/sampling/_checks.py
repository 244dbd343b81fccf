"""Argument checks shared by the samplers (the generic ones live in :mod:`gymsamp._checks`)."""

from __future__ import annotations

import math
import numbers
from typing import Any, Literal, overload

import numpy as np

__all__ = ["check_positive_real"]


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
