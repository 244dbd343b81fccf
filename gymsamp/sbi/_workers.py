"""What the workers of :class:`~gymsamp.sbi.SimRolloutSamplerForSBI` run (torch-free).

Each worker of the sampler's :class:`~gymsamp.sampling.SamplerPool` (or the calling process,
for one worker) keeps one :class:`~gymsamp.sampling.ParallelRolloutSampler` in its namespace
``G`` and runs chunks of the parameter rows on it. Every rollout's reset seed and generator
come from the seed triple ``(seed, collection, row)``, so the result does not depend on how
the rows are split among workers. This module imports neither torch nor ``sbi``, so spawned
workers start quickly.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np

from gymsamp.data import EnvSpec, StepSequence
from gymsamp.policies import PlaybackPolicy, Policy, PolicyStep, as_policy
from gymsamp.sampling import GlobalNamespace, ParallelRolloutSampler, Quota, RolloutJob
from gymsamp.sampling.errors import NonFiniteError, StatesNotRecordedWarning, WorkerError
from gymsamp.sampling.vector_envs import EnvFactory
from gymsamp.sbi.rollout_data import actions_of, rollout_series

__all__ = [
    "NUM_STEPS_KEY",
    "Collection",
    "CollectionResult",
    "EnvInfo",
    "FailedRows",
    "RolloutResult",
    "SbiEnvFactory",
    "SegmentWrapper",
    "close_worker",
    "run_collections",
    "setup_worker",
]

#: Reset option read by :class:`SegmentWrapper`: the number of steps the rollout may take.
NUM_STEPS_KEY = "sbi_num_steps"

#: Sub-envs stepped by each worker's sampler: enough to amortize the collection loop's
#: per-step cost over several envs (measured on Pendulum), few enough for short chunks.
ENVS_PER_WORKER = 4


class SegmentWrapper(gym.Wrapper[Any, Any, Any, Any]):
    """Ends a rollout after ``options["sbi_num_steps"]`` steps (``truncated``) and, with
    ``ignore_termination``, reports ``terminated=False`` so the rollout runs on to that limit
    (the samplers' ``stop_on_done=False``). Other options pass through unchanged."""

    def __init__(self, env: gym.Env[Any, Any], *, ignore_termination: bool) -> None:
        super().__init__(env)
        self._ignore_termination = ignore_termination
        self._limit: int | None = None
        self._steps = 0

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        rest = dict(options) if options else {}
        self._limit = rest.pop(NUM_STEPS_KEY, None)
        self._steps = 0
        return self.env.reset(seed=seed, options=rest or None)

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._steps += 1
        if self._ignore_termination:
            terminated = False
        if self._limit is not None and self._steps >= self._limit:
            truncated = True
        return obs, reward, terminated, truncated, info


class SbiEnvFactory:
    """Picklable factory of the sub-envs: a copy of the user's env in a :class:`SegmentWrapper`."""

    def __init__(self, env: Any, *, ignore_termination: bool) -> None:
        self.factory = EnvFactory(env)
        self.ignore_termination = ignore_termination

    def __call__(self) -> gym.Env[Any, Any]:
        return SegmentWrapper(self.factory(), ignore_termination=self.ignore_termination)


class _PolicySwitch:
    """The policy the worker's sampler runs: the user's, or playback of one recording.

    The sub-envs live as long as the sampler, so the policy is switched between collections
    instead of rebuilding it. A collection replays one recording in all its episodes, so no
    rollout depends on the order in which episodes start.
    """

    def __init__(self) -> None:
        self.target: Policy | None = None

    def _policy(self) -> Policy:
        if self.target is None:
            raise RuntimeError("no policy selected for this collection")
        return self.target

    def start(self, num_envs: int, *, eval: bool) -> None:
        self._policy().start(num_envs, eval=eval)

    def reset_envs(self, env_indices: np.ndarray, rngs: Sequence[np.random.Generator]) -> None:
        self._policy().reset_envs(env_indices, rngs)

    def act(self, observations: np.ndarray) -> PolicyStep:
        return self._policy().act(observations)


@dataclass(frozen=True)
class EnvInfo:
    """What the parent learns about the env from a worker's sampler."""

    env_spec: EnvSpec
    env_id: str
    nominal_domain_param: dict[str, Any] | None
    vectorization_used: str
    #: Checks parameter values without an env (None: only the env can tell).
    domain_param_validator: Callable[[Mapping[str, Any]], object] | None


@dataclass(frozen=True)
class Collection:
    """One worker's share of a collection: rows ``offset ..`` of collection ``sub_seed``.

    Attributes:
        sub_seed: The collection's number (second element of the seed triple).
        offset: Global row index of ``payloads[0]`` (third element of the triple, plus j).
        payloads: Reset options per rollout (``domain_param``, ``init_state``, step limit);
            None for a row not to simulate (the parent found its parameters refused).
        recording: Actions replayed in every episode, or None to run the user's policy.
    """

    sub_seed: int
    offset: int
    payloads: list[dict[str, Any] | None]
    recording: np.ndarray | None


@dataclass(frozen=True)
class RolloutResult:
    """What the parent needs of one simulated rollout."""

    series: np.ndarray  # (n, S + A) data [s_t, a_t], n <= the requested steps
    domain_param: dict[str, Any]  # as reported in rollout_info
    actions: np.ndarray  # the applied actions


def setup_worker(
    G: GlobalNamespace,
    factory: SbiEnvFactory,
    policy: Any,
    spec: EnvSpec,
    sampler_options: Mapping[str, Any],
) -> EnvInfo:
    """Build this worker's sampler (closing an older one) and return what it found out.

    ``sampler_options``: the sampler's ``num_workers`` and options, e.g. ``vectorization``, or
    ``backend="ray"`` with ``envs_per_actor`` (then the rows of a collection run on Ray actors,
    and the switch travels to them, with its current policy, on every call).
    """
    old = G.__dict__.get("sbi_sampler")
    if old is not None:
        old.close()
    switch = _PolicySwitch()
    with warnings.catch_warnings():
        # States where the env has an adapter, as rollout() records them; an env without
        # one is no mistake here (its features come from observations).
        warnings.simplefilter("ignore", StatesNotRecordedWarning)
        sampler = ParallelRolloutSampler(
            factory,
            switch,
            min_rollouts=1,
            record_states=True,
            show_progress_bar=False,
            **sampler_options,
        )
    G.sbi_sampler, G.sbi_switch, G.sbi_spec = sampler, switch, spec
    G.sbi_policy = None if policy is None else as_policy(policy, sampler.env_spec)
    return EnvInfo(
        env_spec=sampler.env_spec,
        env_id=sampler.env_id,
        nominal_domain_param=sampler.nominal_domain_param,
        vectorization_used=sampler.vectorization_used,
        domain_param_validator=sampler.domain_param_validator,
    )


def close_worker(G: GlobalNamespace) -> None:
    """Close this worker's sampler (its sub-env processes end)."""
    sampler = G.__dict__.pop("sbi_sampler", None)
    if sampler is not None:
        sampler.close()


def _result(ro: StepSequence, spec: EnvSpec) -> RolloutResult:
    return RolloutResult(
        series=rollout_series(ro, spec, "a simulated rollout"),
        domain_param=dict(ro.rollout_info.get("domain_param", {})),
        actions=actions_of(ro),
    )


@dataclass(frozen=True)
class FailedRows:
    """A collection a worker could not finish: its first failure, numbered by global rows.

    Attributes:
        rows: The collection's rows (global, as ``Collection.offset + j``) the failure may
            belong to; empty where unknown.
        error_type: ``"NonFiniteError"`` or ``"WorkerError"`` (or the validator's error
            type, for a row the parent refused before simulating).
        message: The error's message, without the worker's own rollout and sub-env numbers
            (they depend on how the rows were split among workers).
        remote_traceback: The traceback of the env's exception, if any.
    """

    rows: tuple[int, ...]
    error_type: str
    message: str
    remote_traceback: str | None = None


#: The collection loop's worker-local numbers in its messages (rollout_assembly, errors).
_LOCAL_NUMBERS = (
    (re.compile(r" of rollout \d+ \(sub-env \d+\)"), ""),
    (re.compile(r" of rollout \d+ \(sub-env \d+; "), " ("),
    (re.compile(r"^sub-env \d+ raised "), "the env raised "),
)


def _failed_rows(err: WorkerError | NonFiniteError, rows: Sequence[int]) -> FailedRows:
    """``err`` as the failure of the collection rows ``rows`` (global numbers)."""
    message = err.message if isinstance(err, WorkerError) else str(err)
    for pattern, replacement in _LOCAL_NUMBERS:
        message = pattern.sub(replacement, message)
    return FailedRows(
        rows=tuple(rows),
        error_type=type(err).__name__,
        message=message,
        remote_traceback=getattr(err, "remote_traceback", None),
    )


@dataclass(frozen=True)
class CollectionResult:
    """A worker's share of a collection: one result per row, None where the row failed.

    Attributes:
        results: Per row of the share, in order; None for a row in ``failures`` or one not
            simulated (payload None). Empty when a failure ended the share.
        failures: The rows that failed, each named alone, in row order; or the one failure
            that ended the share (the first, with ``on_failure="raise"``, or one that no row
            can be told from, e.g. a worker that died).
    """

    results: list[RolloutResult | None]
    failures: list[FailedRows]


_FAILURES = (WorkerError, NonFiniteError)


def _run_rows(
    sampler: ParallelRolloutSampler, coll: Collection, seed: int | None, rows: list[int]
) -> list[StepSequence]:
    """Simulate the collection's local rows ``rows`` (job ``k`` is row ``rows[k]``)."""

    def make_job(k: int) -> RolloutJob:
        # The triple names the collection and the global row, never the worker or the job.
        j = rows[k]
        payload = coll.payloads[j]
        assert payload is not None  # rows without a payload are never pending
        return RolloutJob.seeded(k, seed, coll.sub_seed, coll.offset + j, options=dict(payload))

    return sampler.sample_jobs(Quota(min_rollouts=len(rows)), make_job, eval=True)


def _run_collection(
    G: GlobalNamespace, coll: Collection, seed: int | None, *, skip_failures: bool
) -> CollectionResult:
    """Simulate the rows of ``coll``; a failure names its row alone, for any worker count.

    A failure ends the sampler's call. Where it may belong to several rows (a reset in the
    step that ends the previous rollout of its sub-env), those rows run again one at a time
    to find which. With ``skip_failures`` the rows still to run then run again without the
    failed ones (each row's seed triple gives it the same rollout in any run), else the
    first failed row ends the share.
    """
    sampler: ParallelRolloutSampler = G.sbi_sampler
    results: list[RolloutResult | None] = [None] * len(coll.payloads)
    failures: list[FailedRows] = []
    pending = [j for j, payload in enumerate(coll.payloads) if payload is not None]
    while pending:
        try:
            rollouts = _run_rows(sampler, coll, seed, pending)
        except _FAILURES as err:
            suspects = [pending[k] for k in err.rollout_indices if k < len(pending)]
            if not suspects:  # no row to blame: the whole share fails
                return CollectionResult([], [_failed_rows(err, [])])
            settled: list[tuple[int, WorkerError | NonFiniteError]] = []
            if len(suspects) == 1:
                settled.append((suspects[0], err))
            else:
                for j in suspects:
                    try:
                        (single,) = _run_rows(sampler, coll, seed, [j])
                        results[j] = _result(single, G.sbi_spec)
                    except _FAILURES as single_err:
                        settled.append((j, single_err))
            failures.extend(_failed_rows(e, [coll.offset + j]) for j, e in settled)
            pending = [j for j in pending if j not in suspects]  # each settled either way
            if failures and not skip_failures:
                return CollectionResult([], failures[:1])
            continue
        for j, ro in zip(pending, rollouts, strict=True):
            results[j] = _result(ro, G.sbi_spec)
        pending = []
    failures.sort(key=lambda failure: failure.rows)
    return CollectionResult(results, failures)


def run_collections(
    G: GlobalNamespace, task: tuple[int | None, list[Collection], bool]
) -> list[CollectionResult]:
    """Run this worker's share of every collection of one simulator call, in order.

    ``task``: the base seed, the collections, and whether failed rows are skipped
    (``on_failure="nan"``) rather than ending the task with the collection's first failure
    (the caller names the parameter row, which only it knows).
    """
    seed, collections, skip_failures = task
    out: list[CollectionResult] = []
    for coll in collections:
        G.sbi_switch.target = (
            G.sbi_policy if coll.recording is None else PlaybackPolicy(coll.recording)
        )
        try:
            part = _run_collection(G, coll, seed, skip_failures=skip_failures)
        finally:
            G.sbi_switch.target = None
        out.append(part)
        if part.failures and not part.results:  # the share ended at a failure
            return out
    return out
