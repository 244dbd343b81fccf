"""Discounted returns and generalized advantage estimation, vectorized and rollout-aware.

Every function here respects rollout boundaries: on a concatenation of rollouts nothing is
summed across the end of one rollout into the next. GAE bootstraps with ``V(s_T)`` when a
rollout ends in ``TIMEOUT`` (or is cut short) and with 0 when it ends in ``TERMINAL``
(DESIGN §8). Each function is checked in the tests against a plain Python loop.

With numba installed (the ``fast`` extra) the scans run in compiled kernels whose results are
bit-identical to those loops; without it, in scipy's ``lfilter`` (same results up to rounding,
several times slower).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import numpy as np
import numpy.typing as npt

from gymsamp.data.data_format import DATA_FORMATS, is_tensor, to_format
from gymsamp.data.step_type import check_rollout_bounds

if TYPE_CHECKING:
    from gymsamp.data.step_sequence import StepSequence

__all__ = [
    "check_gamma",
    "discounted_reverse_cumsum",
    "discounted_value",
    "discounted_values",
    "gae_returns",
]


def check_gamma(gamma: float, name: str = "gamma") -> float:
    """Validate a discount factor: a real number in [0, 1]."""
    if isinstance(gamma, bool) or not isinstance(gamma, (int, float, np.floating, np.integer)):
        raise TypeError(f"{name} must be a real number in [0, 1], got {gamma!r}")
    if not 0.0 <= float(gamma) <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {gamma!r}")
    return float(gamma)


# --- compiled path (optional: numba, the ``fast`` extra) ----------------------------------------

# Private switch for the tests: False forces the scipy path below even where numba is installed,
# so both paths stay checked against the reference loops.
_USE_COMPILED = True


class _Kernels(NamedTuple):
    """The jitted kernels (sources: :func:`_segmented_scan` and :func:`_gae_deltas`)."""

    scan: Callable[[np.ndarray, float, np.ndarray, np.ndarray], np.ndarray]
    gae_deltas: Callable[..., np.ndarray]


# The kernels, built on first use so that ``import gymsamp`` never imports numba (~0.5 s):
# None until tried, False when numba is not installed.
_kernels: _Kernels | Literal[False] | None = None


def _segmented_scan(x: np.ndarray, gamma: float, bounds: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``out[t] = x[t] + gamma * out[t+1]`` inside each rollout of ``x`` (T, d); returns ``out``.

    ``out`` may be ``x`` itself: each step reads ``x[t]`` before it writes ``out[t]``.

    The source of the compiled kernel (see :func:`_get_kernels`). Every rollout is scanned
    as the reference loop does, backwards from ``acc = 0.0`` with ``acc = x + gamma * acc``:
    the same operations in the same order, so the results are bit-identical to that loop (numba
    reassociates nothing and forms no FMA without ``fastmath``), and a non-finite value never
    leaves its rollout.

    One rollout's scan is a chain of dependent multiply-adds, so it runs at the latency of that
    chain (~8 cycles a step), not at the CPU's throughput. So the kernel scans several
    independent chains at once:

    * with several columns (or none), row by row: the columns are independent chains, and the
      rows are contiguous in memory (a column at a time would stride through all of them);
    * with one column, four lanes of whole consecutive rollouts (about a quarter of the steps
      each) advance in lockstep (~3x faster on 1,000 rollouts; one long rollout gets no such
      gain). The lockstep runs in segments that end where a lane reaches a rollout start, so
      the inner loop needs no per-step restart test; once a lane runs out of rollouts, the
      others finish on their own.
    """
    n_steps, n_cols = x.shape
    if n_cols != 1:
        acc = np.empty(n_cols)
        for r in range(bounds.shape[0] - 1):
            acc[:] = 0.0
            for s in range(bounds[r + 1] - 1, bounds[r] - 1, -1):
                for j in range(n_cols):
                    acc[j] = x[s, j] + gamma * acc[j]
                    out[s, j] = acc[j]
        return out
    # Lane k holds rollouts first[k] .. first[k + 1] - 1 and scans them last to first.
    first = np.empty(5, np.intp)
    for k in range(4):
        first[k] = np.searchsorted(bounds, k * n_steps // 4)
    first[4] = bounds.shape[0] - 1
    rollout = np.empty(4, np.intp)  # the rollout each lane is in
    t = np.empty(4, np.intp)  # the next step each lane computes
    lane_acc = np.zeros(4)
    for k in range(4):
        rollout[k] = first[k + 1] - 1
        t[k] = bounds[first[k + 1]] - 1
    while (
        rollout[0] >= first[0]
        and rollout[1] >= first[1]
        and rollout[2] >= first[2]
        and rollout[3] >= first[3]
    ):
        # Steps until the nearest rollout start of any lane: no lane restarts inside.
        seg = 1 + min(
            min(t[0] - bounds[rollout[0]], t[1] - bounds[rollout[1]]),
            min(t[2] - bounds[rollout[2]], t[3] - bounds[rollout[3]]),
        )
        t0, t1, t2, t3 = t[0], t[1], t[2], t[3]
        a0, a1, a2, a3 = lane_acc[0], lane_acc[1], lane_acc[2], lane_acc[3]
        for i in range(seg):
            a0 = x[t0 - i, 0] + gamma * a0
            out[t0 - i, 0] = a0
            a1 = x[t1 - i, 0] + gamma * a1
            out[t1 - i, 0] = a1
            a2 = x[t2 - i, 0] + gamma * a2
            out[t2 - i, 0] = a2
            a3 = x[t3 - i, 0] + gamma * a3
            out[t3 - i, 0] = a3
        lane_acc[0], lane_acc[1], lane_acc[2], lane_acc[3] = a0, a1, a2, a3
        for k in range(4):
            t[k] -= seg
            if t[k] < bounds[rollout[k]]:  # lane k is done with this rollout: restart
                rollout[k] -= 1
                lane_acc[k] = 0.0
    # The lanes still holding rollouts finish them one after the other.
    for k in range(4):
        a = lane_acc[k]
        for s in range(t[k], bounds[first[k]] - 1, -1):
            if s < bounds[rollout[k]]:
                rollout[k] -= 1
                a = 0.0
            a = x[s, 0] + gamma * a
            out[s, 0] = a
    return out


def _gae_deltas(
    rewards: np.ndarray,
    values: np.ndarray,
    next_values: np.ndarray,
    terminated: np.ndarray,
    ends: np.ndarray,
    final_values: np.ndarray,
    gamma: float,
) -> np.ndarray:
    """GAE's ``delta_t = r_t + gamma * V_next(t) - V(s_t)`` of every step, in one pass.

    The source of a compiled kernel: numpy takes five passes over the data and a copy for the
    same thing, which cost twice the scan itself. ``V_next(t)`` is ``next_values[t]`` except at
    each rollout's last step ``ends[i]``, where it is ``final_values[i]``; it is 0 where the
    step is terminated. Same operations in the same order as the numpy path.
    """
    out = np.empty_like(rewards)
    for t in range(rewards.shape[0]):
        next_value = 0.0 if terminated[t] else next_values[t]
        out[t] = rewards[t] + gamma * next_value - values[t]
    for i in range(ends.shape[0]):
        t = ends[i]
        next_value = 0.0 if terminated[t] else final_values[i]
        out[t] = rewards[t] + gamma * next_value - values[t]
    return out


def _build_kernels(numba: Any, cache: bool) -> _Kernels:
    # One explicit signature each, compiled here (or loaded from numba's on-disk cache), so no
    # call ever compiles again: callers always pass C-contiguous float64 data ((T, d) for the
    # scan), bool flags and intp indices.
    return _Kernels(
        scan=numba.njit(
            "float64[:, ::1](float64[:, ::1], float64, intp[::1], float64[:, ::1])",
            cache=cache,
            nogil=True,
        )(_segmented_scan),
        gae_deltas=numba.njit(
            "float64[::1](float64[::1], float64[::1], float64[::1], boolean[::1], intp[::1], "
            "float64[::1], float64)",
            cache=cache,
            nogil=True,
        )(_gae_deltas),
    )


def _get_kernels() -> _Kernels | None:
    """The jitted kernels, or None to use numpy and scipy (no numba, or the tests say so)."""
    global _kernels
    if not _USE_COMPILED:
        return None
    if _kernels is None:
        try:
            import numba
        except ImportError:  # numba missing (or unusable with this numpy): scipy path
            _kernels = False
        else:
            # The cache (in __pycache__, else numba's user cache folder) turns the ~1.5 s
            # compilation into a ~0.3 s load in later processes.
            try:
                _kernels = _build_kernels(numba, cache=True)
            except RuntimeError:  # no writable cache folder (read-only install): no cache
                _kernels = _build_kernels(numba, cache=False)
    return _kernels or None


# --- scipy path (used when numba is not installed) -----------------------------------------------

# Below this mean rollout length, one filter call per rollout costs more in call overhead than
# the padded batch filter costs in padding.
_MIN_MEAN_LENGTH_FOR_LOOP = 256


def _reverse_filter(x: np.ndarray, gamma: float, axis: int = 0) -> np.ndarray:
    """``y[t] = x[t] + gamma * y[t+1]`` along ``axis``, as one IIR filter over reversed data."""
    from scipy.signal import lfilter  # imported here: scipy.signal costs ~0.7 s to import

    rev = np.flip(x, axis)
    return np.flip(lfilter([1.0], [1.0, -gamma], rev, axis=axis), axis)


def _segmented_reverse_filter(x: np.ndarray, gamma: float, bounds: np.ndarray) -> np.ndarray:
    """The reverse filter run on every rollout separately, so nothing ever crosses a bound.

    Each rollout is filtered on its own (a NaN or a huge value stays in its rollout). Long
    rollouts get one filter call each; many short ones are grouped by length (within a factor
    of two), padded into a matrix and filtered along its rows in one call per group.
    """
    lengths = np.diff(bounds)
    starts = bounds[:-1]
    out = np.empty_like(x)
    if lengths.mean() >= _MIN_MEAN_LENGTH_FOR_LOOP:
        for start, stop in zip(starts.tolist(), bounds[1:].tolist(), strict=True):
            out[start:stop] = _reverse_filter(x[start:stop], gamma)
        return out
    order = np.argsort(lengths, kind="stable")
    sorted_lengths = lengths[order]
    first = 0
    while first < len(order):
        shortest = int(sorted_lengths[first])
        stop = int(np.searchsorted(sorted_lengths, max(2 * shortest, shortest + 64), "right"))
        group = order[first:stop]
        width = int(sorted_lengths[stop - 1])
        group_lengths = lengths[group]
        # Row i holds rollout group[i] reversed, zero-padded at its (reversed) end, so the
        # causal filter never sees the padding before the real data.
        rows = np.repeat(np.arange(len(group)) * width, group_lengths)
        cols = np.arange(int(group_lengths.sum())) - np.repeat(
            np.cumsum(group_lengths) - group_lengths, group_lengths
        )
        source = np.repeat(starts[group] + group_lengths - 1, group_lengths) - cols
        padded = np.zeros((len(group) * width, *x.shape[1:]))
        padded[rows + cols] = x[source]
        from scipy.signal import lfilter

        filtered = lfilter(
            [1.0], [1.0, -gamma], padded.reshape((len(group), width, *x.shape[1:])), axis=1
        )
        out[source] = filtered.reshape(padded.shape)[rows + cols]
        first = stop
    return out


def _checked_bounds(rollout_bounds: npt.ArrayLike, length: int) -> np.ndarray:
    """``rollout_bounds`` as C-contiguous intp, checked (the compiled scan trusts them)."""
    return np.ascontiguousarray(check_rollout_bounds(rollout_bounds, length))


def _scan(
    x: np.ndarray, gamma: float, bounds: np.ndarray | None, *, in_place: bool = False
) -> np.ndarray:
    """The reverse discounted scan of float64 ``x`` along axis 0, restarting at ``bounds``.

    Uses the compiled kernel when numba is there, else scipy. ``in_place=True`` lets the
    compiled path write into ``x`` (when ``x`` is the caller's own scratch array): a fresh
    1M-step array costs about as much as the scan itself in page faults.
    """
    kernels = _get_kernels()
    if kernels is None:
        if bounds is None:
            return _reverse_filter(x, gamma)
        return _segmented_reverse_filter(x, gamma, bounds)
    if bounds is None:
        bounds = np.array([0, len(x)], dtype=np.intp)
    # The kernel's one signature: C-contiguous float64 (T, d), any trailing shape folded into d.
    x2d = np.ascontiguousarray(x.reshape(len(x), math.prod(x.shape[1:])))
    out = x2d if in_place else np.empty_like(x2d)
    return kernels.scan(x2d, gamma, bounds, out).reshape(x.shape)


def discounted_reverse_cumsum(
    data: Any, gamma: float, *, rollout_bounds: npt.ArrayLike | None = None
) -> Any:
    """Reverse discounted cumulative sum ``y[t] = sum_k gamma**k * data[t+k]`` along axis 0.

    Args:
        data: Samples along axis 0 (numpy array, torch tensor or list).
        gamma: Discount factor in [0, 1].
        rollout_bounds: Start index of every rollout followed by the length; the sum restarts
            at every rollout end. None treats ``data`` as one rollout.

    Returns:
        The cumulative sums, same format (numpy or torch) and shape as ``data``.

    Example:
        >>> discounted_reverse_cumsum(np.array([1.0, 1.0, 1.0]), 0.5)
        array([1.75, 1.5 , 1.  ])
        >>> discounted_reverse_cumsum(np.array([1.0, 1.0, 1.0]), 0.5, rollout_bounds=[0, 2, 3])
        array([1.5, 1. , 1. ])
    """
    gamma = check_gamma(gamma)
    as_tensor = is_tensor(data)
    x = np.asarray(to_format(data, "numpy"))
    if x.dtype.kind not in "biuf":
        raise TypeError(f"data must hold real numbers, got {data!r} (dtype {x.dtype})")
    out_dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.float64
    x = x.astype(np.float64, copy=False)
    if x.ndim == 0 or x.shape[0] == 0:
        raise ValueError(f"data must have at least one sample along axis 0, got shape {x.shape}")
    bounds = None if rollout_bounds is None else _checked_bounds(rollout_bounds, len(x))
    result = _scan(x, gamma, bounds)
    result = np.ascontiguousarray(result, dtype=out_dtype)
    # A tensor keeps its own dtype, also one numpy lacks (bfloat16 came as float32).
    return to_format(result, "torch", data.dtype) if as_tensor else result


def _advantage_dtype(rewards: Any, values: Any) -> Any:
    """The float type of advantages from ``rewards`` and ``values`` (arrays, or tensors: then a
    torch dtype, bfloat16 included): their promoted type where both are floats, else float64."""
    if is_tensor(rewards):
        import torch

        if rewards.is_floating_point() and values.is_floating_point():
            return torch.promote_types(rewards.dtype, values.dtype)
        return torch.float64
    if rewards.dtype.kind == "f" and values.dtype.kind == "f":
        return np.result_type(rewards.dtype, values.dtype)
    return np.dtype(np.float64)


def _check_rollout(rollout: Any, name: str = "rollout") -> None:
    """Refuse anything but a :class:`StepSequence` (a list of them included)."""
    from gymsamp.data.step_sequence import StepSequence

    if not isinstance(rollout, StepSequence):
        raise TypeError(f"{name} must be a StepSequence, got {type(rollout).__name__}")


def _bounds_of(rollout: StepSequence, what: str) -> np.ndarray:
    if not rollout.continuous:
        raise ValueError(
            f"rollout must be continuous to compute {what}, got a shuffled batch (its steps "
            "belong to unrelated rollouts)"
        )
    return rollout.rollout_bounds


def discounted_value(rollout: StepSequence, gamma: float) -> Any:
    """Discounted value (reward-to-go) of every step, restarting at every rollout end.

    Example:
        >>> from gymsamp.data import StepSequence
        >>> ro = StepSequence(rewards=[-200.0, -100.0, -50.0, -25.0, -17.5],
        ...                   observations=np.zeros(6), actions=np.zeros(5))
        >>> round(float(discounted_value(ro, 0.9)[2]), 6)
        -86.675
    """
    _check_rollout(rollout)
    return discounted_reverse_cumsum(
        rollout.get_data_values("rewards"),
        gamma,
        rollout_bounds=_bounds_of(rollout, "discounted values"),
    )


def discounted_values(
    rollouts: Sequence[StepSequence], gamma: float, data_format: str | None = "torch"
) -> Any:
    """Discounted values of several rollouts, concatenated in order.

    Args:
        rollouts: The rollouts (each may itself hold several).
        gamma: Discount factor in [0, 1].
        data_format: ``"torch"`` (the seed's default), ``"numpy"``, or None for the format of
            the first rollout.

    Returns:
        The values of all steps, concatenated into one array of shape ``(sum of lengths,)``;
        a tensor is of torch's default dtype (``torch.get_default_dtype()``), as in pyrado.

    Raises:
        TypeError: If ``rollouts`` is not a list of :class:`StepSequence` (a single one is
            refused: use :func:`discounted_value` for it, or wrap it in a list).
        ValueError: If ``rollouts`` is empty or ``data_format`` is unknown.

    Example:
        >>> from gymsamp.data import StepSequence
        >>> ros = [StepSequence(rewards=r, observations=np.zeros(len(r) + 1),
        ...                     actions=np.zeros(len(r))) for r in ([1.0, 1.0], [2.0])]
        >>> discounted_values(ros, 0.5, data_format="numpy")
        array([1.5, 1. , 2. ])
    """
    from gymsamp.data.step_sequence import StepSequence

    if isinstance(rollouts, StepSequence):
        raise TypeError(
            "rollouts must be a list of StepSequence objects, got a single StepSequence (use "
            "discounted_value for it, or pass [rollout])"
        )
    if not isinstance(rollouts, Sequence):
        raise TypeError(
            f"rollouts must be a list of StepSequence objects, got {type(rollouts).__name__}"
        )
    if not rollouts:
        raise ValueError("rollouts must contain at least one StepSequence, got none")
    for i, ro in enumerate(rollouts):
        _check_rollout(ro, f"rollouts[{i}]")
    if data_format is not None and data_format not in DATA_FORMATS:
        raise ValueError(f"data_format must be one of {DATA_FORMATS} or None, got {data_format!r}")
    values = [np.asarray(to_format(discounted_value(ro, gamma), "numpy")) for ro in rollouts]
    fmt = data_format if data_format is not None else rollouts[0].data_format
    if fmt == "torch":
        import torch

        # As pyrado: value targets for a torch critic come in torch's default dtype.
        return to_format(np.concatenate(values), fmt, torch.get_default_dtype())
    return np.concatenate(values)


def gae_returns(rollout: StepSequence, gamma: float = 0.99, lamb: float = 0.95) -> Any:
    """Generalized advantage estimates (Schulman et al., ICLR 2016) of every step.

    Needs a ``values`` field with the value estimate ``V(s_t)`` of each observation, ideally
    with T+1 entries (added ``with_after_last``) so that rollouts ending in ``TIMEOUT`` or cut
    short bootstrap with ``V(s_T)`` of their true final observation. Steps ending in
    ``TERMINAL`` bootstrap with 0. The advantage recursion restarts at every rollout end.

    Args:
        rollout: The rollout(s), with a ``values`` field.
        gamma: Temporal discount factor.
        lamb: GAE's lambda.

    Returns:
        The advantages, shape ``(T,)``, in the rollout's data format and float type (float64
        for integer rewards).

    Example:
        >>> from gymsamp.data import StepSequence
        >>> ro = StepSequence(rewards=[1.0, 1.0], observations=np.zeros(3), actions=np.zeros(2),
        ...                   values=[0.5, 0.5, 2.0], terminated=[False, False],
        ...                   truncated=[False, True])
        >>> gae_returns(ro, gamma=1.0, lamb=1.0).tolist()  # bootstraps V(s_T) = 2 at TIMEOUT
        [3.5, 2.5]
    """
    _check_rollout(rollout)
    gamma = check_gamma(gamma)
    lamb = check_gamma(lamb, "lamb")
    if "values" not in rollout.data_names:
        raise ValueError(
            "rollout must have a 'values' field with V(s_t) of every observation, got fields "
            f"{list(rollout.data_names)}"
        )
    as_tensor = rollout.data_format == "torch"

    def flat(field: Any) -> np.ndarray:
        array = np.asarray(to_format(field, "numpy"), dtype=np.float64)
        if array.ndim > 1 and array.shape[1:] == (1,) * (array.ndim - 1):
            array = array.reshape(len(array))
        return array

    length = rollout.length
    raw_values = rollout.get_data_values("values", truncate_last=True)
    values = flat(raw_values)
    if values.shape != (length,):
        raise ValueError(
            f"values has shape {values.shape} but must have ({length},) to match rewards"
        )
    raw_rewards = rollout.get_data_values("rewards")
    rewards = flat(raw_rewards)
    # Checked here: the compiled kernels index with them unchecked.
    bounds = _checked_bounds(_bounds_of(rollout, "advantages"), length)
    ends = bounds[1:] - 1
    # V(s_T) is needed only where a rollout does not end in TERMINAL.
    open_rollouts = np.flatnonzero(~rollout.terminated[ends])
    # V_next(t) = V(s_{t+1}) except at each rollout's last step, where it is V(s_T) of the
    # rollout's final observation (unused, so left 0, for rollouts ending in TERMINAL).
    final_values = np.zeros(len(ends))
    if "values" in rollout._after_last:
        next_values = flat(rollout.get_data_values("values"))[1:]
        finals = rollout._final_entries("values")
        if finals is not None:
            final_values[:] = flat(finals)
        else:
            for r in open_rollouts:
                final_values[r] = flat(rollout._final_entry("values", int(r)))
    else:
        if open_rollouts.size:
            raise ValueError(
                "values must have T+1 entries (add it with_after_last) to bootstrap the "
                "rollouts that do not end in TERMINAL, got T entries; open ends at steps "
                f"{ends[open_rollouts].tolist()}"
            )
        next_values = np.concatenate([values[1:], [0.0]])
    kernels = _get_kernels()
    if kernels is not None:
        deltas = kernels.gae_deltas(
            *(np.ascontiguousarray(a) for a in (rewards, values, next_values)),
            np.ascontiguousarray(rollout.terminated, dtype=np.bool_),
            ends,
            final_values,
            gamma,
        )
    else:
        # deltas = rewards + gamma * next_values - values, in place in one copy rather than in
        # four fresh temporaries (each costs page faults). Same operations in the same order as
        # that expression (the addition is commutative).
        deltas = next_values.copy()
        deltas[ends] = final_values
        np.copyto(deltas, 0.0, where=rollout.terminated)
        deltas *= gamma
        deltas += rewards
        deltas -= values
    # deltas is this call's own array, so the scan may overwrite it.
    advantages = _scan(deltas, gamma * lamb, bounds, in_place=True)
    # In the data's float type (float32 data gives float32 advantages, as the other return
    # helpers keep it), though computed in float64.
    dtype = _advantage_dtype(raw_rewards, raw_values)
    if as_tensor:
        return to_format(np.ascontiguousarray(advantages), "torch", dtype)
    return np.ascontiguousarray(advantages, dtype=dtype)
