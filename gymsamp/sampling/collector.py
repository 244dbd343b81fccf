"""The one collection loop: drive a policy across a Gymnasium vector env into rollouts.

Every sampler, ``rollout()`` and the Ray actors run this loop. It works on any
``gymnasium.vector.VectorEnv`` in any autoreset mode (DESIGN §3):

- ``DISABLED`` (what gymsamp's own vector envs use): finished sub-envs are reset by masked
  ``reset(seed=..., options={"reset_mask": ...})`` calls, one per distinct payload;
- ``SAME_STEP``: the true final observation comes from ``info["final_obs"]``, then the sub-env
  is reset again with its next rollout's seed and options;
- ``NEXT_STEP``: the step after an episode end only resets the sub-env; that transition is
  never recorded, and the sub-env is then reset with its next rollout's seed and options.

Per-rollout payloads (reset seed, ``domain_param``, ``init_state``) travel through masked
resets, Gymnasium's only per-env channel, because ``options`` is one dict for all masked
sub-envs and autoresets get none.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode

from gymsamp.data import StepSequence
from gymsamp.policies.base import Policy
from gymsamp.sampling.errors import StepTimeoutError
from gymsamp.sampling.quota import Quota
from gymsamp.sampling.seeding import derive_seed, rollout_generator

__all__ = ["RolloutJob", "collect"]

# Reset-info keys that describe the rollout rather than a step.
_ROLLOUT_INFO_KEYS = ("domain_param", "init_state")


@dataclass
class RolloutJob:
    """Everything one rollout gets: its index, reset seed, options and generator.

    Args:
        index: Position ``k`` of the rollout in the collection's result.
        seed: The reset seed (None: no seed).
        rng: The rollout's own generator for policy noise.
        options: Reset options for the sub-env (``domain_param``, ``init_state``), or None.
        policy_params: A flat parameter vector for a :class:`ParametricPolicy`, or None.
        info: Extra entries for the rollout's ``rollout_info``.
    """

    index: int
    seed: int | None
    rng: np.random.Generator
    options: dict[str, Any] | None = None
    policy_params: np.ndarray | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def seeded(
        cls, index: int, seed: int | None, sub_seed: int, sub_sub_seed: int, **fields: Any
    ) -> RolloutJob:
        """The job whose reset seed and generator come from the triple (DESIGN §4).

        ``seed=None`` gives no reset seed and a generator with fresh entropy.
        """
        if seed is None:
            return cls(index=index, seed=None, rng=np.random.default_rng(), **fields)
        return cls(
            index=index,
            seed=derive_seed(seed, sub_seed, sub_sub_seed),
            rng=rollout_generator(seed, sub_seed, sub_sub_seed),
            **fields,
        )


def env_info_at(infos: Mapping[str, Any], i: int) -> dict[str, Any]:
    """Sub-env ``i``'s entries of a batched Gymnasium info dict (using the ``_key`` masks)."""
    out: dict[str, Any] = {}
    for key, value in infos.items():
        if key.startswith("_"):
            continue
        mask = infos.get(f"_{key}")
        if mask is not None and not mask[i]:
            continue
        out[key] = env_info_at(value, i) if isinstance(value, Mapping) else value[i]
    return out


class _Recorder:
    """The growing record of one rollout in one sub-env."""

    def __init__(
        self, job: RolloutJob, obs: Any, reset_info: dict[str, Any], *, record_dts: bool
    ) -> None:
        self.job = job
        self.observations = [obs]
        self.actions: list[Any] = []
        self.actions_applied: list[Any] = []
        self.rewards: list[float] = []
        self.terminated: list[bool] = []
        self.truncated: list[bool] = []
        self.env_infos: list[dict[str, Any]] = []
        self.agent_infos: list[dict[str, Any]] = []
        state = reset_info.pop("state", None)
        self.states = [] if state is None else [np.asarray(state)]
        self.reset_info = reset_info
        self.record_dts = record_dts
        self.dt_policy: list[float] = []
        self.dt_step: list[float] = []

    @property
    def length(self) -> int:
        return len(self.rewards)

    def add(
        self,
        action: Any,
        applied: Any,
        reward: float,
        terminated: bool,
        truncated: bool,
        info: dict[str, Any],
        agent_info: dict[str, Any],
        next_obs: Any,
        timing: tuple[float, float],
    ) -> None:
        self.actions.append(action)
        self.actions_applied.append(applied)
        self.rewards.append(reward)
        self.terminated.append(terminated)
        self.truncated.append(truncated)
        state = info.pop("state", None)
        if self.states and state is not None:
            self.states.append(np.asarray(state))
        self.env_infos.append(info)
        self.agent_infos.append(agent_info)
        self.observations.append(next_obs)
        if self.record_dts:
            self.dt_policy.append(timing[0])
            self.dt_step.append(timing[1])

    def finish(self, *, cut: bool, dt: float, env_id: str | None) -> StepSequence:
        truncated = list(self.truncated)
        if cut:  # stopped by max_steps: a truncation by the sampler
            truncated[-1] = True
        # Keys reported at every step become env_infos; the rest of the last info is kept.
        common = set.intersection(*(set(info) for info in self.env_infos))
        env_infos = [{k: info[k] for k in sorted(common)} for info in self.env_infos]
        final_info = {k: v for k, v in self.env_infos[-1].items() if k not in common}
        rollout_info: dict[str, Any] = {
            "env_id": env_id,
            "seed": self.job.seed,
            "rollout_index": self.job.index,
            **{k: self.reset_info[k] for k in _ROLLOUT_INFO_KEYS if k in self.reset_info},
            **self.job.info,
        }
        if final_info:
            rollout_info["final_info"] = final_info
        fields: dict[str, Any] = {
            "actions_applied": self.actions_applied,
            "time": np.arange(self.length + 1, dtype=np.float64) * dt,
        }
        if env_infos[0]:
            fields["env_infos"] = env_infos
        if self.agent_infos[0]:
            fields["agent_infos"] = self.agent_infos
        if len(self.states) == self.length + 1:
            fields["states"] = self.states
        if self.record_dts:
            fields["dt_policy"] = np.asarray(self.dt_policy)
            fields["dt_step"] = np.asarray(self.dt_step)
        return StepSequence(
            rewards=np.asarray(self.rewards, dtype=np.float64),
            observations=self.observations,
            actions=self.actions,
            terminated=self.terminated,
            truncated=truncated,
            rollout_info=rollout_info,
            **fields,
        )


def _clipper(space: gym.Space[Any]) -> Callable[[np.ndarray], np.ndarray]:
    if isinstance(space, gym.spaces.Box):
        low, high = space.low, space.high
        return lambda actions: np.clip(actions, low, high).astype(space.dtype, copy=False)
    return lambda actions: actions


def _check_finite(what: str, values: np.ndarray, slots: list[Any]) -> None:
    if values.dtype.kind == "f" and not np.all(np.isfinite(values)):
        bad = [
            i
            for i in range(len(values))
            if slots[i] is not None and not np.all(np.isfinite(values[i]))
        ]
        if bad:
            i = bad[0]
            raise ValueError(
                f"{what} must be finite, got {values[i]!r} in sub-env {i} "
                f"(rollout {slots[i].job.index})"
            )


class _Collection:
    """State of one call of :func:`collect` (kept in one place for the helpers below)."""

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
        dt: float,
        env_id: str | None,
        on_rollout: Callable[[StepSequence], None] | None,
        on_step: Callable[[int], None] | None,
    ) -> None:
        self.envs = envs
        self.policy = policy
        self.make_job = make_job
        self.quota = quota
        self.max_steps = max_steps
        self.stop_on_done = stop_on_done
        self.step_timeout = step_timeout
        self.record_dts = record_dts
        self.dt = dt
        self.env_id = env_id
        self.on_rollout = on_rollout
        self.on_step = on_step
        self.num_envs = envs.num_envs
        self.mode = AutoresetMode(envs.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP))
        self.clip = _clipper(envs.single_action_space)
        self.slots: list[_Recorder | None] = [None] * self.num_envs
        self.must_reset = np.zeros(self.num_envs, dtype=bool)
        self.autoreset_pending = np.zeros(self.num_envs, dtype=bool)
        self.completed: dict[int, StepSequence] = {}
        self.completed_steps = 0
        # The complete leading rollouts 0..prefix_count-1 and their steps, advanced on the fly.
        self.prefix_count = 0
        self.prefix_steps = 0
        self.result_count: int | None = None
        self.next_index = 0
        self.obs: np.ndarray | None = None
        self.act_shape = (self.num_envs, *(envs.single_action_space.shape or ()))

    # -- issuing rollouts -------------------------------------------------------------------

    def _next_job(self) -> RolloutJob | None:
        running = sum(r.length for r in self.slots if r is not None)
        if not self.quota.should_issue(self.next_index, self.completed_steps + running):
            return None
        job = self.make_job(self.next_index)
        self.next_index += 1
        return job

    def _reset(self, jobs: dict[int, RolloutJob | None]) -> None:
        """Reset sub-envs ``jobs`` keys; start the given jobs there (None: idle reset)."""
        seeds: list[int | None] = [None] * self.num_envs
        for i, job in jobs.items():
            seeds[i] = None if job is None else job.seed
        # One masked reset per distinct options dict (options go to every masked sub-env).
        groups: dict[int, list[int]] = {}
        payloads: dict[int, dict[str, Any] | None] = {}
        for i, job in jobs.items():
            payload = None if job is None else job.options
            key = id(payload) if payload else 0
            groups.setdefault(key, []).append(i)
            payloads[key] = payload
        started: list[int] = []
        for key, members in groups.items():
            mask = np.zeros(self.num_envs, dtype=bool)
            mask[members] = True
            # A per-env seed list is Gymnasium's own API, though VectorEnv's stub says int.
            options = {"reset_mask": mask, **(payloads[key] or {})}
            obs, infos = self.envs.reset(seed=seeds, options=options)  # type: ignore[arg-type]
            if self.obs is None:
                self.obs = np.array(obs, copy=True)
            self.obs[members] = obs[members]
            for i in members:
                self.must_reset[i] = False
                job = jobs[i]
                if job is not None:
                    info = env_info_at(infos, i)
                    self.slots[i] = _Recorder(
                        job, self.obs[i].copy(), info, record_dts=self.record_dts
                    )
                    started.append(i)
        if started:
            indices = np.asarray(started)
            self.policy.reset_envs(indices, [jobs[i].rng for i in started])  # type: ignore[union-attr]
            params = [jobs[i].policy_params for i in started]  # type: ignore[union-attr]
            if any(p is not None for p in params):
                stacked = np.stack([np.asarray(p) for p in params])
                self.policy.set_env_params(indices, stacked)  # type: ignore[attr-defined]

    # -- stepping -------------------------------------------------------------------------

    def _step(self, actions: np.ndarray) -> tuple[Any, ...]:
        if self.step_timeout is None or not hasattr(self.envs, "step_async"):
            return self.envs.step(actions)
        import multiprocessing

        self.envs.step_async(actions)
        try:
            return self.envs.step_wait(timeout=self.step_timeout)  # type: ignore[attr-defined]
        except multiprocessing.TimeoutError as err:
            raise StepTimeoutError(
                f"a sub-env did not finish its step within step_timeout={self.step_timeout} s"
            ) from err

    def _record_step(self) -> None:
        assert self.obs is not None  # set by the initial reset
        t0 = time.perf_counter()
        policy_step = self.policy.act(self.obs)
        actions = np.asarray(policy_step.actions)
        if actions.shape != self.act_shape:
            raise ValueError(
                f"policy must return actions of shape {self.act_shape} for {self.num_envs} "
                f"sub-envs, got shape {actions.shape}"
            )
        _check_finite("actions", actions, self.slots)
        applied = self.clip(actions)
        t1 = time.perf_counter()
        next_obs, rewards, terminated, truncated, infos = self._step(applied)
        timing = (t1 - t0, time.perf_counter() - t1)
        _check_finite("observations", np.asarray(next_obs), self.slots)
        same_step_final = infos.get("_final_obs") if self.mode == AutoresetMode.SAME_STEP else None
        for i in range(self.num_envs):
            ended = bool(terminated[i] or truncated[i])
            if self.autoreset_pending[i]:  # NEXT_STEP's reset transition: never recorded
                self.autoreset_pending[i] = False
                continue
            recorder = self.slots[i]
            if recorder is None:
                self._mark_end(i, ended)
                continue
            final = same_step_final is not None and same_step_final[i]
            info = env_info_at(infos["final_info"] if final else infos, i)
            obs_i = infos["final_obs"][i] if final else next_obs[i]
            agent_info = {k: _at(v, i) for k, v in policy_step.agent_infos.items()}
            recorder.add(
                actions[i],
                applied[i],
                float(rewards[i]),
                bool(terminated[i]),
                bool(truncated[i]),
                info,
                agent_info,
                np.array(obs_i, copy=True),
                timing,
            )
            done = ended and self.stop_on_done
            cut = self.max_steps is not None and recorder.length >= self.max_steps
            if done or cut:
                rollout = recorder.finish(cut=cut and not done, dt=self.dt, env_id=self.env_id)
                self._complete(recorder.job.index, rollout)
                self.slots[i] = None
                if self.on_rollout is not None:
                    self.on_rollout(rollout)
                # A sub-env cut short is mid-episode: start its next rollout with a reset.
                self._mark_end(i, ended or cut, autoreset=ended)
        if self.on_step is not None:
            self.on_step(sum(r is not None for r in self.slots))
        self.obs = np.array(next_obs, copy=True)

    def _complete(self, index: int, rollout: StepSequence) -> None:
        self.completed[index] = rollout
        self.completed_steps += rollout.length
        while self.result_count is None and self.prefix_count in self.completed:
            self.prefix_steps += self.completed[self.prefix_count].length
            self.prefix_count += 1
            if self.quota.is_met(self.prefix_count, self.prefix_steps):
                self.result_count = self.prefix_count

    def _mark_end(self, i: int, ended: bool, *, autoreset: bool | None = None) -> None:
        if not ended:
            return
        autoreset = ended if autoreset is None else autoreset
        if self.mode == AutoresetMode.NEXT_STEP and autoreset:
            self.autoreset_pending[i] = True
        elif self.mode == AutoresetMode.DISABLED or not autoreset:
            self.must_reset[i] = True

    def run(self) -> list[StepSequence]:
        initial = {i: self._next_job() for i in range(self.num_envs)}
        self._reset(initial)
        while True:
            if self.result_count is not None:
                return [self.completed[k] for k in range(self.result_count)]
            jobs: dict[int, RolloutJob | None] = {}
            for i in range(self.num_envs):
                if self.slots[i] is None and not self.autoreset_pending[i]:
                    job = self._next_job()
                    if job is not None or self.must_reset[i]:
                        jobs[i] = job
            if jobs:
                self._reset(jobs)
            self._record_step()


def _at(value: Any, i: int) -> Any:
    if isinstance(value, Mapping):
        return {k: _at(v, i) for k, v in value.items()}
    if isinstance(value, tuple):
        return tuple(_at(v, i) for v in value)
    return value[i]


def collect(
    envs: gym.vector.VectorEnv,
    policy: Policy,
    make_job: Callable[[int], RolloutJob],
    quota: Quota,
    *,
    eval: bool = False,
    max_steps: int | None = None,
    stop_on_done: bool = True,
    step_timeout: float | None = None,
    record_dts: bool = False,
    dt: float = 1.0,
    env_id: str | None = None,
    on_rollout: Callable[[StepSequence], None] | None = None,
    on_step: Callable[[int], None] | None = None,
) -> list[StepSequence]:
    """Collect the rollouts ``0..K-1`` that ``quota`` asks for, on ``envs`` with ``policy``.

    Args:
        envs: Any Gymnasium vector env (its ``metadata["autoreset_mode"]`` is honoured).
        policy: A :class:`~gymsamp.policies.Policy` (use ``as_policy`` for other objects).
        make_job: Builds the :class:`RolloutJob` of rollout ``k``; called in index order.
        quota: The bounds; rollouts are issued only while they may be needed.
        eval: Passed to ``policy.start`` (torch modules: ``.eval()`` vs ``.train()``).
        max_steps: Cut rollouts after this many steps (they end in ``TIMEOUT``).
        stop_on_done: False keeps stepping after the env reports an episode end (debugging;
            only ``max_steps`` ends a rollout then).
        step_timeout: Seconds a vector step may take (async vector envs only).
        record_dts: Record ``dt_policy`` and ``dt_step`` per step.
        dt: Simulated seconds per step, for the ``time`` field.
        env_id: Recorded in every ``rollout_info``.
        on_rollout: Called with every completed rollout (progress bars).
        on_step: Called after every vector step with the number of running rollouts.

    Returns:
        The rollouts ``0..K-1`` in index order.
    """
    if not stop_on_done and max_steps is None:
        raise ValueError("max_steps must be given when stop_on_done is False, got None")
    if max_steps is not None and (isinstance(max_steps, bool) or max_steps < 1):
        raise ValueError(f"max_steps must be None or an int >= 1, got {max_steps!r}")
    collection = _Collection(
        envs,
        policy,
        make_job,
        quota,
        max_steps=max_steps,
        stop_on_done=stop_on_done,
        step_timeout=step_timeout,
        record_dts=record_dts,
        dt=dt,
        env_id=env_id,
        on_rollout=on_rollout,
        on_step=on_step,
    )
    policy.start(envs.num_envs, eval=eval)
    return collection.run()
