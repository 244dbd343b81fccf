"""Cutting finished rollouts out of the collection loop's column buffer.

The collection loop (:mod:`gymsamp.sampling.collector`) writes one row per vector step into a
:class:`~gymsamp.sampling.step_buffer.StepBuffer`; when a rollout ends, a
:class:`RolloutAssembler` cuts its sub-env's column out into a
:class:`~gymsamp.data.StepSequence` of one rollout (DESIGN §3: ``observations`` with the true
final observation, ``time``, ``states`` where recorded, env and agent infos, ``rollout_info``).

Rollouts are many and small (a CartPole episode holds ~2 KB of arrays), so the assembler keeps
each one's other objects few: rollouts share what never changes in place (their read-only
``[0, T]`` bounds, the set of after-last fields, an empty finals dict, equal float values of
their domain parameters), and nothing keeps a view into a batch alive.
"""

from __future__ import annotations

import itertools
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from gymsamp.data import StepSequence
from gymsamp.data._tree import tree_leaves, tree_map
from gymsamp.data.data_format import stack_to_format
from gymsamp.sampling.errors import NonFiniteError

if TYPE_CHECKING:
    from gymsamp.sampling.rollout_job import RolloutJob
    from gymsamp.sampling.step_buffer import StepBuffer

__all__ = ["RolloutAssembler", "check_finite", "flatten_agent_infos"]

# Reset-info keys that describe the rollout rather than a step.
_ROLLOUT_INFO_KEYS = ("domain_param", "init_state")

# A single rollout finds its final entries in its own fields (StepSequence never updates
# this dict in place, so all rollouts share it).
_NO_FINALS: dict[str, Any] = {}


def flatten_agent_infos(tree: Mapping[str, Any], prefix: str = "agent") -> dict[str, Any]:
    """Leaves of nested agent infos under ``prefix/path`` keys (buffer column names)."""
    return {f"{prefix}/{path}": leaf for path, leaf in tree_leaves(dict(tree))}


def _unflatten(template: Mapping[str, Any], prefix: str, take: Callable[[str], Any]) -> Any:
    """Rebuild the structure of ``template`` with ``take(column key)`` as leaves."""
    paths = iter(path for path, _ in tree_leaves(dict(template)))
    return tree_map(lambda _: take(f"{prefix}/{next(paths)}"), dict(template))


def check_finite(
    what: str,
    values: np.ndarray,
    job: RolloutJob,
    env: int,
    rollout_indices: tuple[int, ...] | None = None,
    *,
    source: str | None = None,
) -> None:
    """Raise :class:`NonFiniteError` if a float array of ``job``'s rollout holds NaN or inf
    (once per rollout, not per step); ``rollout_indices``: the rollouts it may belong to, if
    not just ``job``'s; ``source``: where the values came from, said instead of their step
    (for one row of a batch, whose row number is no step)."""
    if values.dtype.kind == "f" and not np.isfinite(values).all():
        step = int(np.flatnonzero(~np.isfinite(values.reshape(len(values), -1)).all(axis=1))[0])
        where = f"at step {step} of" if source is None else f"{source} in"
        raise NonFiniteError(
            f"{what} must be finite, got {values[step]!r} {where} rollout {job.reported_index} "
            f"(sub-env {env})",
            rollout_indices=(job.index,) if rollout_indices is None else rollout_indices,
        )


_dot = np.dot  # the C function itself: a rollout's reward check is on the hot path


def _nan_reward_error(rewards: np.ndarray, job: RolloutJob, env: int) -> NonFiniteError:
    """The error for ``job``'s rollout, whose ``rewards`` hold a NaN: numpy reads a sub-env's
    ``None`` (or another non-number it can cast) as NaN when it fills the reward batch, so
    only the rollout's rewards can still tell. Infinite rewards are numbers (a penalty of
    ``-inf`` is legal)."""
    step = int(np.flatnonzero(np.isnan(rewards))[0])
    return NonFiniteError(
        f"rewards must be numbers (not NaN), got nan at step {step} of rollout "
        f"{job.reported_index} (sub-env {env}; numpy reads a reward of None as nan)",
        rollout_indices=(job.index,),
    )


def _observations(
    recorded: np.ndarray, rows: slice, i: int, first_obs: Any, final_obs: Any
) -> np.ndarray:
    """One rollout's ``T + 1`` observations: the reset's, those recorded at ``rows`` of
    sub-env ``i``'s column (the second to the last step's), and the true final one."""
    length = rows.stop - rows.start + 1
    observations = np.empty((length + 1, *recorded.shape[2:]), dtype=recorded.dtype)
    observations[0] = first_obs
    observations[1:length] = recorded[rows, i]
    observations[length] = final_obs
    return observations


def _plain(value: Any) -> Any:
    """Numpy scalars (from batched infos) as Python scalars, also inside dicts.

    E.g. a rollout's ``domain_param`` reads as the env reported it (``{"length": 0.5}``),
    and each value costs less than half a numpy scalar in every one of many rollouts.
    """
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value.item() if isinstance(value, np.generic) else value


def _sub_env_infos(
    info_rows: Mapping[int, Mapping[int, dict[str, Any]]], i: int, start: int, stop: int
) -> dict[int, dict[str, Any]]:
    """Sub-env ``i``'s infos of the rows ``start..stop-1``, by row, in time linear in the
    fewer of the rows kept and the rollout's own (the rows kept reach back to the start of
    the longest rollout running, which may be far longer than this one)."""
    if len(info_rows) > stop - start:
        rows = ((r, info_rows.get(r)) for r in range(start, stop))
        return {r: infos[i] for r, infos in rows if infos is not None and i in infos}
    return {r: infos[i] for r, infos in info_rows.items() if start <= r < stop and i in infos}


class RolloutAssembler:
    """Builds the rollouts of one collection from its column buffer.

    Args:
        dt: Simulated seconds per step, for the ``time`` field.
        dt_param: The domain parameter that sets ``dt`` (CartPole ``tau``): a rollout whose
            ``domain_param`` holds it uses its own value.
        env_id: Recorded in every ``rollout_info``.
        record_dts: The buffer has ``dt_policy`` and ``dt_step`` columns to keep.
    """

    def __init__(
        self, *, dt: float, env_id: str | None, record_dts: bool, dt_param: str | None = None
    ) -> None:
        self.dt = dt
        self.dt_param = dt_param
        self.env_id = env_id
        self.record_dts = record_dts
        self._after_last: dict[bool, set[str]] = {}  # by whether states are recorded
        self._bounds: dict[int, np.ndarray] = {}  # by length, see _bounds_of
        self._last_floats: dict[str, float] = {}  # see _shared_floats

    def build(
        self,
        buffer: StepBuffer,
        i: int,
        *,
        start: int,
        stop: int,
        job: RolloutJob,
        first_obs: Any,
        first_state: Any,
        reset_info: Mapping[str, Any],
        final_obs: np.ndarray,
        final_info: dict[str, Any] | None,
        cut: bool,
        info_rows: Mapping[int, Mapping[int, dict[str, Any]]],
        agent_template: dict[str, Any] | None,
    ) -> StepSequence:
        """Sub-env ``i``'s rollout at buffer rows ``start..stop-1``.

        Args:
            buffer: The collection's column buffer.
            i: The sub-env.
            start: The rollout's first row.
            stop: One past its last row.
            job: The rollout's job (seed, index, extra ``rollout_info``).
            first_obs: The observation its reset returned.
            first_state: The state its reset reported, or None.
            reset_info: Its reset info (``domain_param`` and ``init_state`` are kept).
            final_obs: The true final observation.
            final_info: The last step's info where it did not come through ``info_rows``
                (an autoreset's ``final_info``), else None.
            cut: The rollout was stopped by the sampler: its last step becomes a truncation.
            info_rows: The env infos of the rows where any sub-env reported some, per sub-env.
            agent_template: The structure of the policy's agent infos, or None.
        """
        length = stop - start
        rows = slice(start + 1 - buffer.offset, stop - buffer.offset)
        if "obs" in buffer.columns:
            observations = _observations(buffer.columns["obs"], rows, i, first_obs, final_obs)
            check_finite("observations", observations, job, i)
        else:  # a Dict / Tuple observation: its arrays are the columns obs/0, obs/1, ...
            leaves = itertools.count()  # the arrays in the batch's order
            observations = tree_map(
                lambda first, final: _observations(
                    buffer.columns[f"obs/{next(leaves)}"], rows, i, first, final
                ),
                first_obs,
                final_obs,
            )
            for path, leaf in tree_leaves(observations, "observations"):
                check_finite(path, leaf, job, i)
        truncated = buffer.column("truncated", start, stop, i)
        if cut:  # stopped by max_steps (or past an end with stop_on_done=False): a truncation
            truncated[-1] = True
        times = np.arange(length + 1, dtype=np.float64)
        dt = self.dt
        if self.dt_param is not None:
            dt = reset_info.get("domain_param", {}).get(self.dt_param, dt)
        times *= dt  # in place: no temporary array per rollout
        fields: dict[str, Any] = {
            # No "applied" column: the actions were applied as they are (a copy of their own).
            "actions_applied": buffer.column(
                "applied" if "applied" in buffer.columns else "actions", start, stop, i
            ),
            "time": times,
        }
        if first_state is not None and "state" in buffer.columns:
            fields["states"] = np.concatenate(
                [np.asarray(first_state)[None], buffer.column("state", start, stop, i)]
            )
        if agent_template is not None:
            fields["agent_infos"] = _unflatten(
                agent_template, "agent", lambda key: buffer.column(key, start, stop, i)
            )
        if self.record_dts:
            fields["dt_policy"] = buffer.column("dt_policy", start, stop, i)
            fields["dt_step"] = buffer.column("dt_step", start, stop, i)
        # Env infos of the rows where this sub-env reported any (most envs: none at all).
        reported = _sub_env_infos(info_rows, i, start, stop)
        if final_info is not None:
            reported[stop - 1] = final_info
        common: set[str] = set()
        if len(reported) == length:  # keys reported at every step become env_infos
            step_infos = [reported[r] for r in range(start, stop)]
            common = set.intersection(*(set(info) for info in step_infos))
            if common:
                fields["env_infos"] = _stacked_infos(step_infos, sorted(common))
        rollout_info: dict[str, Any] = {
            "env_id": self.env_id,
            "seed": job.seed,
            "rollout_index": job.index,
            **{
                k: self._shared_floats(reset_info[k]) for k in _ROLLOUT_INFO_KEYS if k in reset_info
            },
            **job.info,
        }
        last = {k: v for k, v in reported.get(stop - 1, {}).items() if k not in common}
        if last:
            rollout_info["final_info"] = last
        rewards = buffer.column("rewards", start, stop, i).astype(np.float64, copy=False)
        # NaN iff a reward is: squares are >= 0, so no inf - inf (0.6 us; a sum warns on it).
        if math.isnan(_dot(rewards, rewards)):
            raise _nan_reward_error(rewards, job, i)
        data: dict[str, Any] = {
            "rewards": rewards,
            "observations": observations,
            "actions": buffer.column("actions", start, stop, i),
            **fields,
        }
        # Built here from consistent arrays: skip StepSequence's validation (it is per rollout,
        # and the collection loop is the hot path).
        return StepSequence._assemble(
            data=data,
            after_last=self._after_last_of(data),
            terminated=buffer.column("terminated", start, stop, i).astype(bool, copy=False),
            truncated=truncated.astype(bool, copy=False),
            rollout_bounds=self._bounds_of(length),
            rollout_infos=[rollout_info],
            finals=_NO_FINALS,
            data_format="numpy",
        )

    def _after_last_of(self, data: Mapping[str, Any]) -> set[str]:
        """The fields with T+1 entries, one set shared by the rollouts (StepSequence replaces
        it rather than updating it in place)."""
        with_states = "states" in data
        after_last = self._after_last.get(with_states)
        if after_last is None:
            after_last = {"observations", "time", "states"} & set(data)
            self._after_last[with_states] = after_last
        return after_last

    def _bounds_of(self, length: int) -> np.ndarray:
        """``[0, length]``, one read-only array per length, shared by the rollouts (they are
        many and small: each array costs more than its data)."""
        bounds = self._bounds.get(length)
        if bounds is None:
            bounds = self._bounds[length] = np.array([0, length], dtype=np.intp)
            bounds.flags.writeable = False
        return bounds

    def _shared_floats(self, value: Any) -> Any:
        """``value`` as :func:`_plain` makes it, with each float of a dict replaced by the
        equal float of the last rollout's dict (floats are immutable: sharing them is safe),
        and each name interned. Rollouts at nominal domain parameters then share their names
        and values, the common case, also where every reset info arrives pickled from a
        worker. (One pass over the dict: this runs for every rollout.)"""
        if not isinstance(value, dict):
            return _plain(value)
        last = self._last_floats
        shared = {}
        for key, item in value.items():
            if type(key) is str:  # names that arrived pickled from a worker are new objects
                key = sys.intern(key)
            if isinstance(item, (np.generic, dict)):
                item = _plain(item)
            if type(item) is float:
                previous = last.get(key)
                if previous is not None and previous == item:
                    item = previous
                else:
                    last[key] = item
            shared[key] = item
        return shared


def _stacked_infos(step_infos: Sequence[Mapping[str, Any]], keys: list[str]) -> dict[str, Any]:
    """The ``keys`` of the steps' infos, each stacked over the steps; a key whose values do
    not stack (a contact list whose length changes, a dict whose keys change) as an object
    array of the values: the env's data, kept as reported, never the reason a call fails.

    Example:
        >>> steps = [{"a": 1, "b": np.zeros(1)}, {"a": 2, "b": np.zeros(2)}]
        >>> infos = _stacked_infos(steps, ["a", "b"])
        >>> infos["a"], infos["b"].dtype, [v.shape for v in infos["b"]]
        (array([1, 2]), dtype('O'), [(1,), (2,)])
    """
    stacked = {}
    for key in keys:
        values = [info[key] for info in step_infos]
        try:
            stacked[key] = stack_to_format(values, "numpy")
        except (TypeError, ValueError):
            column = np.empty(len(values), dtype=object)
            for t, value in enumerate(values):  # not column[:] = values: it would broadcast
                column[t] = value
            stacked[key] = column
    return stacked
