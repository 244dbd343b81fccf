"""numpy's C functions, called without their Python dispatch, for the collection loop's
per-step work on small batches.

``np.clip`` and ``ndarray.clip`` wrap the clip ufunc in Python code that costs twice as much
as clipping a handful of actions, and ``np.count_nonzero`` costs three times its C function
on a small mask (~0.2 us against ~0.05 us; ``a.any()`` ~0.67 us). Both run once per vector
step. numpy keeps them in private modules, so each falls back to the public function if a
numpy release moves it.
"""

from __future__ import annotations

import numpy as np

__all__ = ["clip", "count_nonzero"]

try:
    from numpy._core.umath import clip  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover (a numpy that moved it)
    clip = np.clip

try:
    from numpy._core.multiarray import count_nonzero
except ImportError:  # pragma: no cover (a numpy that moved it)
    count_nonzero = np.count_nonzero
