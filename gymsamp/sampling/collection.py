"""One collection's state, and the operations the collection loop is made of.

:mod:`gymsamp.sampling.collector` drives these operations (reset, act, step, record); this
module keeps what they share: the running rollouts and where each one starts in the column
buffer, the jobs queued in the env, the paused sub-envs, and the results so far.
"""

from __future__ import annotations

import multiprocessing
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode

from gymsamp.data import StepSequence
from gymsamp.data._tree import tree_map
from gymsamp.policies.base import Policy, is_rollout_indexed
from gymsamp.sampling._numpy_c import count_nonzero as _any
from gymsamp.sampling.collection_inputs import autoreset_mode_of, check_job
from gymsamp.sampling.errors import StepTimeoutError
from gymsamp.sampling.observations import (
    ARRAY_SPACES,
    copy_batch,
    leaf_columns,
    set_sub_envs,
    sub_env_obs,
)
from gymsamp.sampling.policy_outputs import AgentInfoCheck, checked_policy_step
from gymsamp.sampling.queued_reset import supports_queued_resets
from gymsamp.sampling.quota import LeadingResults, Quota
from gymsamp.sampling.reset_args import group_by_options
from gymsamp.sampling.rollout_assembly import RolloutAssembler, check_finite, flatten_agent_infos
from gymsamp.sampling.rollout_job import JobGenerators, RolloutJob, RunningRollout
from gymsamp.sampling.space_checks import ActionCheck
from gymsamp.sampling.step_buffer import StepBuffer
from gymsamp.sampling.sub_env_infos import PerEnvInfos, SubEnvInfos, row_infos, state_rows

__all__ = ["ActionBatch", "Collection", "autoreset_mode_of", "check_job"]


@dataclass(slots=True)
class ActionBatch:
    """One vector step's actions: the observations they answer, and timings."""

    obs: np.ndarray
    policy_step: Any
    actions: np.ndarray
    applied: np.ndarray
    dt_policy: float
    sent_at: float = 0.0
    dt_step: float = 0.0


# A step's ended sub-envs and the rollouts it brings to max_steps (None without max_steps).
_Ends = tuple[np.ndarray, np.ndarray | None]


class Collection:
    """The state of one call of :func:`~gymsamp.sampling.collector.collect`, and its steps.

    The loop calls :meth:`begin` once, then per vector step :meth:`refill`, :meth:`act`,
    :meth:`step` (or :meth:`send` and :meth:`receive`), :meth:`observe`, :meth:`ends` and
    :meth:`record`, until ``results.complete``.
    """

    def __init__(
        self,
        envs: gym.vector.VectorEnv,
        policy: Policy,
        make_job: Callable[[int], RolloutJob],
        quota: Quota,
        *,
        max_steps: int | None,
        stop_on_done: bool,
        step_timeout: float | None,
        record_dts: bool,
        record_states: bool,
        dt: float,
        dt_param: str | None,
        env_id: str | None,
        on_rollout: Callable[[StepSequence], None] | None,
        on_step: Callable[[int], None] | None,
        per_env: Callable[[Any], SubEnvInfos],
    ) -> None:
        self.envs = envs
        self.policy = policy
        self.make_job = make_job
        self.quota = quota
        self.max_steps = max_steps
        self.stop_on_done = stop_on_done
        self.step_timeout = step_timeout
        self.record_dts = record_dts
        self.record_states = record_states
        self.on_rollout = on_rollout
        self.on_step = on_step
        self.num_envs = envs.num_envs
        self.mode = autoreset_mode_of(envs)
        who = f"policy {policy!r}"
        self.action_check = ActionCheck(envs.single_action_space, self.num_envs, who=who)
        self.agent_info_check = AgentInfoCheck(self.num_envs, who)
        self.indexed_policy = is_rollout_indexed(policy)
        self.slots: list[RunningRollout | None] = [None] * self.num_envs
        # Each running sub-env's next job, queued in the env (None: nothing queued).
        queued_resets = supports_queued_resets(envs)
        self.queueing = stop_on_done and self.mode == AutoresetMode.DISABLED and queued_resets
        self.queued: list[RolloutJob | None] = [None] * self.num_envs
        # The jobs of the reset call under way (for error reports: see rollouts_of).
        self.resetting: dict[int, RolloutJob | None] = {}
        # Sub-envs without a rollout to run are paused, not stepped through episodes nobody
        # asked for (wasted work, whose failures would fail the call).
        self.pausing = self.mode == AutoresetMode.DISABLED and queued_resets
        self.paused = np.zeros(self.num_envs, dtype=bool)
        # Sub-envs whose running rollout records states (its reset reported one).
        self.recording_states = np.zeros(self.num_envs, dtype=bool)
        # Sub-envs in other processes: send the next step before booking the last one.
        self.pipelined = (
            self.mode == AutoresetMode.DISABLED
            and stop_on_done
            and not record_dts
            and callable(getattr(envs, "step_async", None))
        )
        self.active = np.zeros(self.num_envs, dtype=bool)
        self.start_rows = np.zeros(self.num_envs, dtype=np.int64)
        # Running rollouts and the sum of their start rows (their steps, without a scan).
        self.running_count = 0
        self.running_start_sum = 0
        self.must_reset = np.zeros(self.num_envs, dtype=bool)
        self.autoreset_pending = np.zeros(self.num_envs, dtype=bool)
        self.next_step_mode = self.mode == AutoresetMode.NEXT_STEP
        # Free sub-envs are looked for only after one became free (not on every step).
        self.slots_changed = True
        self.buffer = StepBuffer(self.num_envs)
        # Env infos of the rows where any sub-env reported some, per sub-env, oldest row
        # first (rows only grow): those no running rollout needs leave from the front.
        self.info_rows: OrderedDict[int, SubEnvInfos] = OrderedDict()
        # Turns what envs.reset/step return as infos into infos per sub-env.
        self.per_env = per_env
        self.agent_template: dict[str, Any] | None = None
        self.assembler = RolloutAssembler(
            dt=dt, dt_param=dt_param, env_id=env_id, record_dts=record_dts
        )
        self.results: LeadingResults[StepSequence] = LeadingResults(quota)
        self.next_index = 0
        self.obs: np.ndarray | None = None
        # gymsamp's vector envs return a fresh observation batch per step (unless built with
        # copy=False), which the loop may keep as it is.
        self.fresh_obs = isinstance(envs, PerEnvInfos) and getattr(envs, "copy", True) is True
        # Array observations (else a dict / tuple of arrays: Dict and Tuple spaces).
        self.array_obs = isinstance(envs.single_observation_space, ARRAY_SPACES)

    # -- issuing rollouts -------------------------------------------------------------------

    def begin(self) -> None:
        """Reset every sub-env with its first job; the others to idle, or (gymsamp's own
        vector envs) paused without a reset."""
        jobs = {i: self._next_job() for i in range(self.num_envs)}
        if self.pausing:
            # gymsamp's own vector envs reset only the sub-envs with a rollout to run and
            # pause the others unreset, as if the call had fewer sub-envs: an unseeded reset
            # there could fail (some envs need a seed), and fail the call for some worker
            # counts only (DESIGN §4).
            for i in [i for i, job in jobs.items() if job is None]:
                del jobs[i]
                self._pause(i)
        self._reset(jobs)

    def _next_job(self) -> RolloutJob | None:
        # Steps issued so far: complete rollouts plus the rows every running one has.
        running = self.running_count * self.buffer.next_row - self.running_start_sum
        if not self.quota.should_issue(self.next_index, self.results.all_steps + running):
            return None
        job = self.make_job(self.next_index)
        check_job(job, self.next_index)
        self.next_index += 1
        return job

    def rollouts_of(self, env_index: int | None) -> tuple[int, ...]:
        """The rollouts sub-env ``env_index`` is running or starting (its running job, its
        queued one, the one a reset under way starts), in index order: for error reports."""
        if env_index is None or not 0 <= env_index < self.num_envs:
            return ()
        running = self.slots[env_index]
        jobs = (
            None if running is None else running.job,
            self.queued[env_index],
            self.resetting.get(env_index),
        )
        return tuple(sorted({job.index for job in jobs if job is not None}))

    def _reset(self, jobs: dict[int, RolloutJob | None]) -> None:
        """Reset sub-envs ``jobs`` keys; start the given jobs there (None: idle reset)."""
        self.resetting = jobs  # kept if a reset fails (see rollouts_of)
        seeds: list[int | None] = [None] * self.num_envs
        for i, job in jobs.items():
            seeds[i] = None if job is None else job.seed
        groups = group_by_options(
            {i: None if job is None else job.options for i, job in jobs.items()}
        )
        started: list[int] = []
        if self.obs is None and not self.pausing:
            # The first reset covers every sub-env (a masked one would leave the others unset,
            # which SyncVectorEnv cannot batch); sub-envs with options are reset again below.
            obs, infos = self._reset_call(seeds, None)
            self.obs = copy_batch(obs)
            if groups and groups[0][1] is None:  # those without options are reset now
                started += self._start(groups.pop(0)[0], jobs, infos)
        for members, options in groups:
            mask = np.zeros(self.num_envs, dtype=bool)
            mask[members] = True
            obs, infos = self._reset_call(seeds, {"reset_mask": mask, **(options or {})})
            if self.obs is None:  # the first reset (pausing): the paused rows stay unset
                self.obs = copy_batch(obs)
            else:
                set_sub_envs(self.obs, obs, members)
            started += self._start(members, jobs, infos)
        self._start_policy(started, [self.slots[i].job for i in started])  # type: ignore[union-attr]
        self._queue_next(started)
        self.resetting = {}

    def _pause(self, i: int) -> None:
        self.envs.pause(i)  # type: ignore[attr-defined]
        self.paused[i] = True
        self.must_reset[i] = False

    def _reset_call(
        self, seeds: list[int | None], options: dict[str, Any] | None
    ) -> tuple[Any, SubEnvInfos]:
        """``envs.reset``, bounded by the step timeout if there is one (collect() accepts one
        only for envs that can be waited on)."""
        if self.step_timeout is None:
            # A per-env seed list is Gymnasium's own API, though VectorEnv's stub says int.
            obs, infos = self.envs.reset(seed=seeds, options=options)  # type: ignore[arg-type]
            return obs, self.per_env(infos)
        self.envs.reset_async(seed=seeds, options=options)  # type: ignore[attr-defined]
        try:
            obs, infos = self.envs.reset_wait(timeout=self.step_timeout)  # type: ignore[attr-defined]
        except multiprocessing.TimeoutError as err:
            raise StepTimeoutError.of_call("reset", self.step_timeout, err) from err
        return obs, self.per_env(infos)

    def _start_policy(self, started: list[int], jobs: list[RolloutJob]) -> None:
        """Tell the policy that ``jobs`` start in sub-envs ``started``."""
        if not started:
            return
        indices = np.asarray(started)
        self.policy.reset_envs(indices, JobGenerators(jobs))
        if self.indexed_policy:  # rollout() names its one rollout by sub_sub_seed
            rollouts = [job.reported_index for job in jobs]
            self.policy.start_rollouts(indices, np.array(rollouts))  # type: ignore[attr-defined]
        params = [job.policy_params for job in jobs]
        if any(p is not None for p in params):
            stacked = np.stack([np.asarray(p) for p in params])
            self.policy.set_env_params(indices, stacked)  # type: ignore[attr-defined]

    def _queue_next(self, started: list[int]) -> None:
        """Queue the next job of every sub-env that just started one (queued resets only)."""
        if not self.queueing:
            return
        for i in started:
            job = self._next_job()
            if job is None:
                break
            self.queued[i] = job
            self.envs.queue_reset(i, seed=job.seed, options=job.options)  # type: ignore[attr-defined]

    def _start(
        self, members: list[int], jobs: dict[int, RolloutJob | None], infos: SubEnvInfos
    ) -> list[int]:
        """Begin the jobs of freshly reset sub-envs ``members``; returns those with a job."""
        assert self.obs is not None
        started = []
        for i in members:
            self.must_reset[i] = False
            job = jobs[i]
            if job is not None:
                info = dict(infos.get(i, ()))
                info.pop("final_obs", None)  # started inside the step that ended the last one
                info.pop("final_info", None)
                running = RunningRollout(
                    job, sub_env_obs(self.obs, i), info, record_state=self.record_states
                )
                self.slots[i] = running
                self.active[i] = True
                self.recording_states[i] = running.first_state is not None
                self.start_rows[i] = self.buffer.next_row
                self.running_count += 1
                self.running_start_sum += self.buffer.next_row
                started.append(i)
        return started

    # -- stepping -------------------------------------------------------------------------

    def observe(self, results: tuple[Any, ...]) -> None:
        """Keep a step's observation batch for the next actions, as one the env will not
        overwrite."""
        obs = results[0]
        if self.fresh_obs and (type(obs) is np.ndarray or not self.array_obs):
            self.obs = obs
        else:
            self.obs = copy_batch(obs)

    def act(self) -> ActionBatch:
        """The policy's actions for the current observations, checked and clipped."""
        assert self.obs is not None  # set by the initial reset
        t0 = time.perf_counter()
        policy_step = checked_policy_step(self.policy.act(self.obs), self.agent_info_check.who)
        actions = np.asarray(policy_step.actions)
        if self.pipelined:
            # The next step's actions come before this step is booked: a policy that reuses
            # its output arrays would overwrite the ones still to be recorded.
            actions = actions.copy()
            if policy_step.agent_infos:
                try:
                    # np.asarray first: np.copy of a torch tensor warns (torch's __array__
                    # takes no copy argument).
                    copies = tree_map(_array_copy, dict(policy_step.agent_infos))
                except (RuntimeError, TypeError):  # a leaf numpy cannot take: the check names it
                    self.agent_info_check.check(flatten_agent_infos(policy_step.agent_infos))
                    raise
                policy_step = policy_step._replace(agent_infos=copies)
        self.action_check.check(actions)
        if self.action_check.first_non_finite(actions) is not None:
            actions = self._finite_idle_actions(actions)
        applied = self.action_check.clip(actions)
        return ActionBatch(self.obs, policy_step, actions, applied, time.perf_counter() - t0)

    def _finite_idle_actions(self, actions: np.ndarray) -> np.ndarray:
        """Raise for the first running rollout whose action is not finite (before stepping:
        NaN must never reach a simulator); idle sub-envs' actions, which are never recorded,
        are made finite instead (the policy may be undefined in the final state they hold)."""
        bad = ~np.isfinite(actions.reshape(self.num_envs, -1)).all(axis=1)
        for i in np.flatnonzero(bad & self.active).tolist():
            running = self.slots[i]
            assert running is not None  # an active sub-env runs a rollout
            related = self.rollouts_of(i)  # also a queued one that just started
            check_finite(
                "actions",
                actions[i : i + 1],
                running.job,
                i,
                related,
                source="from the policy",
            )
        return np.nan_to_num(actions)

    def send(self, action: ActionBatch) -> None:
        action.sent_at = time.perf_counter()
        self.envs.step_async(action.applied)  # type: ignore[attr-defined]

    def receive(self, action: ActionBatch) -> tuple[Any, ...]:
        try:
            obs, rewards, terminated, truncated, infos = self.envs.step_wait(  # type: ignore[attr-defined]
                timeout=self.step_timeout
            )
        except multiprocessing.TimeoutError as err:
            raise StepTimeoutError.of_call("step", self.step_timeout, err) from err
        action.dt_step = time.perf_counter() - action.sent_at
        return obs, rewards, terminated, truncated, self.per_env(infos)

    def step(self, action: ActionBatch) -> tuple[Any, ...]:
        if self.step_timeout is None:
            t1 = time.perf_counter()
            obs, rewards, terminated, truncated, infos = self.envs.step(action.applied)
            action.dt_step = time.perf_counter() - t1
            return obs, rewards, terminated, truncated, self.per_env(infos)
        self.send(action)
        return self.receive(action)

    def record(
        self, action: ActionBatch, results: tuple[Any, ...], ends: _Ends, *, prestarted: bool
    ) -> None:
        """Book one vector step: its row, and the rollouts it ends (and starts, in-step).

        ``prestarted``: the policy was already told about the rollouts started in the step
        (the pipelined loop acts on the next observations before booking this step).
        """
        next_obs, rewards, terminated, truncated, infos = results
        # The step after a NEXT_STEP episode end only resets: never recorded (those sub-envs
        # are idle, so nothing of them is used), and it does not end anything.
        if self.next_step_mode and _any(self.autoreset_pending):
            self.autoreset_pending[:] = False
            self.slots_changed = True
        row_values: dict[str, Any] = {
            "actions": action.actions,
            "rewards": rewards,
            "terminated": terminated,
            "truncated": truncated,
        }
        if self.array_obs:
            row_values["obs"] = action.obs
        else:  # a column per array of a Dict / Tuple observation
            row_values.update(leaf_columns(action.obs))
        if self.action_check.clips:  # else the applied actions are the actions themselves
            row_values["applied"] = action.applied
        if self.record_states:
            state, with_state = state_rows(infos, self.num_envs) if infos else (None, 0)
            # Every sub-env reported one (gymsamp's envs at every step): nothing to look for.
            if with_state < self.num_envs and _any(self.recording_states):
                self._require_states(infos, row=self.buffer.next_row)
            if state is not None:
                row_values["state"] = state
        agent_infos = action.policy_step.agent_infos
        if agent_infos or self.agent_info_check.expects_infos:
            flat = flatten_agent_infos(agent_infos)
            self.agent_info_check.check(flat)
            if self.agent_template is None:
                self.agent_template = dict(agent_infos)
            row_values.update(flat)
        if self.record_dts:
            row_values["dt_policy"] = np.full(self.num_envs, action.dt_policy)
            row_values["dt_step"] = np.full(self.num_envs, action.dt_step)
        row = self.buffer.append(row_values, self._oldest_needed_row)
        reported = row_infos(infos, states=self.record_states) if infos else None
        if reported:
            self.info_rows[row] = reported
        ended, cut = ends
        # Most steps end nothing: skip the per-sub-env scans then (this runs once per step).
        if _any(ended) or (cut is not None and _any(cut)):
            finishing = self.active & ended if self.stop_on_done else np.zeros_like(ended)
            if cut is not None:
                finishing |= cut
            started = []
            for i in np.flatnonzero(finishing).tolist():
                if self.queueing and "final_obs" in infos.get(i, ()):
                    self._finish(i, row, True, next_obs, infos, same_step=True)
                    job, self.queued[i] = self.queued[i], None
                    started += self._start([i], {i: job}, infos)
                else:
                    self._finish(i, row, bool(ended[i]), next_obs, infos)
            if not prestarted:
                self._start_policy(started, [self.slots[i].job for i in started])  # type: ignore[union-attr]
            self._queue_next(started)
            for i in np.flatnonzero(ended & ~finishing & ~self.active):
                self._mark_end(int(i))  # an idle sub-env ended an episode
        if self.on_step is not None:
            self.on_step(int(self.active.sum()))

    def ends(self, results: tuple[Any, ...]) -> _Ends:
        """The sub-envs whose episode ended in the step about to be booked, and the running
        rollouts it brings to ``max_steps`` (None without ``max_steps``)."""
        ended = results[2] | results[3]
        if self.max_steps is None:
            return ended, None
        row = self.buffer.next_row  # the row this step will be booked in
        return ended, self.active & (row + 1 - self.start_rows >= self.max_steps)

    def booking_can_wait(self, results: tuple[Any, ...], ends: _Ends) -> list[int] | None:
        """Whether the next step may be sent before this one is booked; then the sub-envs
        whose next rollout started inside this step (else None).

        It may when booking needs no reset call (every ended sub-env was running and reset
        itself with its queued job; no rollout hits ``max_steps``) and the rollouts it
        completes cannot meet the quota (so no step is ever taken past the result).
        """
        infos = results[4]
        ended, cut = ends
        row = self.buffer.next_row
        if cut is not None and _any(cut & ~ended):
            return None
        if not _any(ended):
            return []
        started = np.flatnonzero(ended).tolist()
        for i in started:  # each ended sub-env must have run a rollout and reset in the step
            if not (self.active[i] and "final_obs" in infos.get(i, ())):
                return None
        lengths = {self.slots[i].job.index: row + 1 - int(self.start_rows[i]) for i in started}
        return None if self.results.would_complete(lengths) else started

    def prestart(self, started: list[int]) -> None:
        """Tell the policy about the queued jobs that started inside the step just received,
        before that step is booked (see :meth:`booking_can_wait`)."""
        self._start_policy(started, [self.queued[i] for i in started])  # type: ignore[misc]

    def refill(self) -> None:
        """Start the next jobs (or idle resets) in free sub-envs, if any became free."""
        if not self.slots_changed:
            return
        self.slots_changed = False
        jobs: dict[int, RolloutJob | None] = {}
        for i in np.flatnonzero(~self.active & ~self.autoreset_pending & ~self.paused).tolist():
            job, self.queued[i] = self.queued[i] or self._next_job(), None
            if job is None and self.pausing:
                self._pause(i)
            elif job is not None or self.must_reset[i]:
                jobs[i] = job
        if jobs:
            self._reset(jobs)

    def _require_states(self, infos: SubEnvInfos, *, row: int) -> None:
        """Raise unless every rollout that records states has one for the step at ``row`` (in
        its info, or in the ``final_info`` of an episode that ended in it): a row without one
        would hold whatever the buffer held there."""
        for i in np.flatnonzero(self.recording_states).tolist():
            info = infos.get(i) or {}
            # An episode that ended in the step: its info is the next one's reset info.
            if "state" not in info.get("final_info", info):
                self._raise_no_state(i, row)

    def _raise_no_state(self, i: int, row: int) -> None:
        running = self.slots[i]
        assert running is not None
        raise ValueError(
            f"sub-env {i} reported no info['state'] at step {row - self.start_rows[i]} of "
            f"rollout {running.job.reported_index}, but its reset did: with record_states=True "
            "every step of such a rollout must report its state (as gymsamp's "
            "InitStateWrapper(record_state=True) does), or record none"
        )

    def _finish(
        self,
        i: int,
        row: int,
        ended: bool,
        next_obs: Any,
        infos: SubEnvInfos,
        *,
        same_step: bool = False,
    ) -> None:
        """Complete sub-env ``i``'s rollout at ``row``; ``same_step``: the env already reset."""
        running = self.slots[i]
        assert running is not None
        start, stop = int(self.start_rows[i]), row + 1
        final_step = (same_step or self.mode == AutoresetMode.SAME_STEP) and ended
        final_info = dict(infos[i]["final_info"]) if final_step else None
        # Copied into the rollout's observations by the assembler: a view will do.
        final_obs = infos[i]["final_obs"] if final_step else sub_env_obs(next_obs, i, copy=False)
        if self.record_states and final_info is not None:
            if "state" in final_info:
                self.buffer.set("state", row, i, final_info.pop("state"))
            elif running.first_state is not None:  # the row holds the next reset's state
                self._raise_no_state(i, row)
        cut = not (ended and self.stop_on_done)
        rollout = self.assembler.build(
            self.buffer,
            i,
            start=start,
            stop=stop,
            job=running.job,
            first_obs=running.first_obs,
            first_state=running.first_state,
            reset_info=running.reset_info,
            final_obs=final_obs,  # copied into the rollout's observations
            final_info=final_info,
            cut=cut,
            info_rows=self.info_rows,
            agent_template=self.agent_template,
        )
        self.results.add(running.job.index, rollout, rollout.length)
        if self.info_rows:  # forget env infos no running rollout needs any more
            oldest = self._oldest_needed_row()
            # From the front only: a scan of every row kept cost each ending rollout time in
            # the length of the longest one running (quadratic with one long episode).
            while self.info_rows and next(iter(self.info_rows)) < oldest:
                self.info_rows.popitem(last=False)
        self.slots[i] = None
        self.active[i] = False
        self.recording_states[i] = False
        self.running_count -= 1
        self.running_start_sum -= start
        self.slots_changed = True
        if self.on_rollout is not None:
            self.on_rollout(rollout)
        if not same_step:  # a sub-env cut short is mid-episode: start its next rollout with a reset
            self._mark_end(i, autoreset=ended)

    def _oldest_needed_row(self) -> int:
        """The first buffer row a running rollout still needs."""
        return (
            int(self.start_rows[self.active].min()) if self.active.any() else self.buffer.next_row
        )

    def _mark_end(self, i: int, *, autoreset: bool = True) -> None:
        """Sub-env ``i`` must be reset before its next rollout (``autoreset``: its episode
        ended, so a NEXT_STEP or SAME_STEP env resets it itself)."""
        self.slots_changed = True
        if self.mode == AutoresetMode.NEXT_STEP and autoreset:
            self.autoreset_pending[i] = True
        elif self.mode == AutoresetMode.DISABLED or not autoreset:
            self.must_reset[i] = True


def _array_copy(leaf: Any) -> np.ndarray:
    """``leaf`` as a numpy array of its own."""
    return np.asarray(leaf).copy()
