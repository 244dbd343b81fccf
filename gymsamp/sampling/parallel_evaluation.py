"""Evaluating a policy over domain parameters and initial states (pyrado's, made to work).

Every function's ``pool`` argument takes a worker count, a :class:`SamplerPool` (its worker
count is used) or a :class:`ParallelRolloutSampler` (its worker count, vectorization,
backend, ``max_steps`` and ``record_states`` are used, and locally its ``step_timeout`` and
``start_method``). The rollouts are
collected by a :class:`ParallelRolloutSampler` with ``seed``, so the results are the same
for every worker count. The keyword ``backend`` (``"local"`` or ``"ray"``; None: the pool
sampler's backend, else ``"local"``) chooses where; with ``"ray"`` the worker count is the
number of Ray actors and the results are the same (DESIGN §4).

Bad input raises ``TypeError`` (wrong kind of object, e.g. one dict where a list of dicts is
expected) or ``ValueError`` (a value out of range, an empty list, an unknown domain-parameter
name, an initial state of the wrong shape), naming the argument, the rule and the value.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from gymsamp._checks import check_bool
from gymsamp.data import StepSequence
from gymsamp.envs.randomizer import check_randomizer, checked_domain_param
from gymsamp.policies.base import PolicyStep
from gymsamp.sampling.evaluation_pool import (
    as_list,
    checked_state,
    pool_settings,
    run_payloads,
    sampler_for,
    shown,
    state_payload,
)
from gymsamp.sampling.parallel_rollout_sampler import ParallelRolloutSampler
from gymsamp.sampling.quota import Quota
from gymsamp.sampling.rollout_job import RolloutJob
from gymsamp.sampling.sampler_options import DomainParams, InitStates
from gymsamp.sampling.seeding import call_seed, check_seed
from gymsamp.sampling.vector_envs import EnvLike

__all__ = [
    "eval_domain_params",
    "eval_domain_params_with_segmentwise_reset",
    "eval_nominal_domain",
    "eval_randomized_domain",
]

# -- the public functions ---------------------------------------------------------------------


def eval_domain_params(
    pool: Any,
    env: EnvLike,
    policy: Any,
    params: DomainParams,
    init_state: npt.ArrayLike | None = None,
    seed: int | None = None,
    *,
    backend: str | None = None,
    max_steps: int | None = None,
) -> list[StepSequence]:
    """One rollout per domain-parameter dict (e.g. a :func:`~gymsamp.envs.param_grid`).

    Args:
        pool: Worker count, :class:`SamplerPool` or :class:`ParallelRolloutSampler`.
        env: The env (id, factory or instance) to evaluate in.
        policy: The policy to evaluate.
        params: The domain parameters: a non-empty list of dicts, one rollout each, in this
            order (names missing from a dict take their nominal values).
        init_state: A fixed initial state for every rollout, or None.
        seed: Base seed (rollout ``k`` resets with ``derive_seed(seed, 0, k)``).
        backend: ``"local"`` or ``"ray"``; None: the pool sampler's, else ``"local"``.
        max_steps: Cut each rollout after this many steps (it ends in ``TIMEOUT``); None:
            the pool sampler's ``max_steps``, else only the env's own time limit.

    Returns:
        The rollouts, ``rollouts[k]`` with ``params[k]``.

    Raises:
        TypeError: ``params`` is not a list of dicts (e.g. a single dict), or ``pool`` is
            not a worker count, pool or sampler.
        ValueError: ``params`` is empty or uses a name the env does not have, ``init_state``
            has the wrong shape, or ``pool`` is below 1.

    Example:
        >>> import gymnasium as gym
        >>> from gymsamp.envs import CountingEnv
        >>> from gymsamp.policies import IdlePolicy
        >>> env = lambda: CountingEnv(terminate_at=3)
        >>> policy = IdlePolicy(gym.spaces.Discrete(2))
        >>> grid = [{"increment": 1.0}, {"increment": 2.0}]
        >>> rollouts = eval_domain_params(2, env, policy, grid, seed=0)
        >>> [ro.observations[:, 0].tolist() for ro in rollouts]
        [[0.0, 1.0, 2.0, 3.0], [0.0, 2.0, 4.0, 6.0]]
    """
    items = as_list(params, "params", "domain-parameter dicts (one rollout each)")
    common: dict[str, Any] = {}
    if init_state is not None:
        common["init_state"] = checked_state(init_state, "init_state")
    payloads = [
        {**common, "domain_param": checked_domain_param(p, f"params[{k}]")}
        for k, p in enumerate(items)
    ]
    labels = [("init_state", f"params[{k}]") for k in range(len(payloads))]
    return run_payloads(pool, env, policy, payloads, labels, seed, backend, max_steps)


def eval_nominal_domain(
    pool: Any,
    env: EnvLike,
    policy: Any,
    init_states: InitStates,
    seed: int | None = None,
    *,
    backend: str | None = None,
    max_steps: int | None = None,
) -> list[StepSequence]:
    """One rollout per initial state with the env's nominal domain parameters.

    The nominal parameters hold even where ``env`` randomizes its domain at every reset (a
    :class:`~gymsamp.envs.DomainRandWrapper`): no draw is made.

    Args:
        pool: Worker count, :class:`SamplerPool` or :class:`ParallelRolloutSampler`.
        env: The env (id, factory or instance) to evaluate in.
        policy: The policy to evaluate.
        init_states: A non-empty list (or 2-D array) of initial states, one rollout each;
            a None entry lets the env draw that rollout's initial state (seeded).
        seed: Base seed (rollout ``k`` resets with ``derive_seed(seed, 0, k)``).
        backend: ``"local"`` or ``"ray"``; None: the pool sampler's, else ``"local"``.
        max_steps: Cut each rollout after this many steps (it ends in ``TIMEOUT``); None:
            the pool sampler's ``max_steps``, else only the env's own time limit.

    Returns:
        The rollouts, ``rollouts[k]`` from ``init_states[k]``.

    Raises:
        TypeError: ``init_states`` is not a list of arrays.
        ValueError: ``init_states`` is empty or one has the wrong shape.

    Example:
        >>> import gymnasium as gym
        >>> from gymsamp.envs import CountingEnv
        >>> from gymsamp.policies import IdlePolicy
        >>> env = lambda: CountingEnv(terminate_at=2)
        >>> policy = IdlePolicy(gym.spaces.Discrete(2))
        >>> rollouts = eval_nominal_domain(1, env, policy, [np.array([0.0]), np.array([5.0])])
        >>> [ro.observations[:, 0].tolist() for ro in rollouts]
        [[0.0, 1.0, 2.0], [5.0, 6.0, 7.0]]
    """
    items = as_list(init_states, "init_states", "initial states (one rollout each)")
    payloads = [state_payload(s, f"init_states[{k}]") for k, s in enumerate(items)]
    labels = [(f"init_states[{k}]", "") for k in range(len(payloads))]
    return run_payloads(pool, env, policy, payloads, labels, seed, backend, max_steps, nominal=True)


def eval_randomized_domain(
    pool: Any,
    env: EnvLike,
    randomizer: Any,
    policy: Any,
    init_states: InitStates,
    seed: int | None = None,
    *,
    backend: str | None = None,
    max_steps: int | None = None,
) -> list[StepSequence]:
    """One rollout per initial state, each in its own domain drawn from ``randomizer``.

    The domains are drawn in the parent from a generator seeded with ``seed`` (one joint draw
    per initial state, paired in order).

    Args:
        pool: Worker count, :class:`SamplerPool` or :class:`ParallelRolloutSampler`.
        env: The env (id, factory or instance) to evaluate in.
        randomizer: A :class:`~gymsamp.envs.DomainRandomizer` (anything with
            ``sample(rng=...)`` returning a dict of domain parameters).
        policy: The policy to evaluate.
        init_states: A non-empty list (or 2-D array) of initial states, one rollout each;
            a None entry lets the env draw that rollout's initial state (seeded).
        seed: Base seed for the draws and the rollouts (rollout ``k`` resets with
            ``derive_seed(seed, 0, k)``).
        backend: ``"local"`` or ``"ray"``; None: the pool sampler's, else ``"local"``.
        max_steps: Cut each rollout after this many steps (it ends in ``TIMEOUT``); None:
            the pool sampler's ``max_steps``, else only the env's own time limit.

    Returns:
        The rollouts, ``rollouts[k]`` from ``init_states[k]`` in the ``k``-th drawn domain
        (``rollout_info["domain_param"]``).

    Raises:
        TypeError: ``randomizer`` has no ``sample`` method, or ``init_states`` is not a list.
        ValueError: ``init_states`` is empty or one has the wrong shape, or the randomizer
            draws a name the env does not have.

    Example:
        >>> import gymnasium as gym
        >>> from gymsamp.envs import CountingEnv, DomainRandomizer, UniformDomainParam
        >>> from gymsamp.policies import IdlePolicy
        >>> randomizer = DomainRandomizer(UniformDomainParam("increment", mean=2.0, halfspan=1.0))
        >>> policy = IdlePolicy(gym.spaces.Discrete(2))
        >>> starts = [np.array([0.0])] * 3
        >>> rollouts = eval_randomized_domain(
        ...     2, lambda: CountingEnv(terminate_at=2), randomizer, policy, starts, seed=0)
        >>> [1.0 <= ro.rollout_info["domain_param"]["increment"] <= 3.0 for ro in rollouts]
        [True, True, True]
    """
    check_randomizer(randomizer)
    items = as_list(init_states, "init_states", "initial states (one rollout each)")
    states = [state_payload(s, f"init_states[{k}]") for k, s in enumerate(items)]
    rng = np.random.default_rng(np.random.SeedSequence(check_seed(seed), spawn_key=(2**31,)))
    payloads = [
        {
            **state,
            "domain_param": checked_domain_param(
                randomizer.sample(rng=rng), f"randomizer.sample() (draw {k})"
            ),
        }
        for k, state in enumerate(states)
    ]
    labels = [(f"init_states[{k}]", f"randomizer (draw {k})") for k in range(len(payloads))]
    return run_payloads(pool, env, policy, payloads, labels, seed, backend, max_steps)


# -- segment-wise re-simulation ---------------------------------------------------------------


class _SegmentPlayback:
    """Replays in each sub-env the actions its rollout's job carries as ``policy_params``.

    Every job of one collection carries the recorded actions of its own real segment
    (flattened), so segments of different real rollouts run side by side in one vector env.
    A sub-env without a recording (idle) gets zeros, which the loop ignores.
    """

    def __init__(self, action_shape: tuple[int, ...], dtype: np.dtype[Any]) -> None:
        self.action_shape = action_shape
        self.dtype = dtype
        self._recordings: list[np.ndarray | None] = []
        self._steps = np.zeros(0, dtype=np.int64)

    def start(self, num_envs: int, *, eval: bool) -> None:
        self._recordings = [None] * int(num_envs)
        self._steps = np.zeros(int(num_envs), dtype=np.int64)

    def reset_envs(self, env_indices: np.ndarray, rngs: Sequence[np.random.Generator]) -> None:
        for i in np.asarray(env_indices).tolist():
            self._recordings[i] = None  # set_env_params follows with the job's recording
            self._steps[i] = 0

    def set_env_params(self, env_indices: np.ndarray, params: np.ndarray) -> None:
        for i, flat in zip(np.asarray(env_indices).tolist(), params, strict=True):
            shaped = np.asarray(flat).astype(self.dtype, copy=False)
            self._recordings[i] = shaped.reshape(-1, *self.action_shape)

    def act(self, observations: np.ndarray) -> PolicyStep:
        actions = np.zeros((len(self._recordings), *self.action_shape), dtype=self.dtype)
        for i, recording in enumerate(self._recordings):
            if recording is not None:
                actions[i] = recording[min(int(self._steps[i]), len(recording) - 1)]
        self._steps += 1
        return PolicyStep(actions=actions, agent_infos={})


def _start_field(segment: StepSequence) -> str:
    """Where a segment's initial state comes from: its states, else its observations."""
    return "states" if "states" in segment.data_names else "observations"


def _segment_start(segment: StepSequence, name: str) -> np.ndarray:
    field = _start_field(segment)
    values = segment.get_data_values(field)
    if isinstance(values, (dict, tuple)):
        # Indexing took a dict's key 0 or a tuple's first leaf (all its steps): no state.
        kind = "Dict" if isinstance(values, dict) else "Tuple"
        hint = "" if field == "states" else " and no states; samplers record states with "
        raise ValueError(
            f"{name} must hold states, or observations of an array space, to start from (its "
            f"first state, else its first observation), got {kind} {field}"
            + (hint and f"{hint}record_states=True")
        )
    return np.asarray(values[0], dtype=np.float64)


def _segment_start_label(segment: StepSequence, name: str) -> str:
    """``name`` (a segment's) as the source of an initial state, for error messages."""
    if _start_field(segment) == "states":
        return f"{name} (its first state)"
    return (
        f"{name} (its first observation, as its initial state: it has no states; samplers "
        "record them with record_states=True)"
    )


def _collect_segments(
    sampler: ParallelRolloutSampler, jobs: list[RolloutJob], length: int, stop_on_done: bool
) -> list[StepSequence]:
    """The rollouts of ``jobs`` (indices ``0..n-1``), each cut after ``length`` steps."""
    quota = Quota(min_rollouts=len(jobs))
    sampler.max_steps = length
    if stop_on_done:
        return sampler.sample_jobs(quota, jobs.__getitem__, eval=True)
    # Stepping past an episode end: the local vector envs (autoreset DISABLED) allow it.
    spec = sampler._local_spec()
    return sampler._local.run(spec, quota, jobs.__getitem__, eval=True, stop_on_done=False)


def eval_domain_params_with_segmentwise_reset(
    pool: Any,
    env_sim: EnvLike,
    policy: Any,
    segments_real_all: Sequence[Sequence[StepSequence]],
    domain_params_ml_all: Sequence[DomainParams],
    stop_on_done: bool,
    use_rec: bool,
    seed: int | None = None,
    *,
    backend: str | None = None,
) -> list[list[list[StepSequence]]]:
    """Re-simulate real rollouts segment by segment under candidate domain parameters.

    Segment ``s`` of real rollout ``i`` is simulated under every domain-parameter dict of
    ``domain_params_ml_all[i]``, starting from the real segment's initial state (its
    ``states`` where recorded, else its first observation, which holds the state only to the
    observation's precision: float32 in classic control) for at most the real segment's
    length, with the segment's recorded actions (``use_rec``) or the policy. All these
    rollouts run on the pool's workers (those of equal length in one collection), and the
    result is the same for every worker count.

    Args:
        pool: Worker count, :class:`SamplerPool` or :class:`ParallelRolloutSampler`.
        env_sim: The simulated env (id, factory or instance).
        policy: The policy (ignored with ``use_rec``).
        segments_real_all: For each real rollout, the list of its segments (each a
            :class:`StepSequence` of at least one step).
        domain_params_ml_all: For each real rollout, the list of domain-parameter dicts to
            evaluate it under.
        stop_on_done: True ends a simulated segment at an episode end; False runs it for the
            segment's full length regardless (``backend="local"`` only).
        use_rec: Replay the recorded actions of each real segment instead of running the
            policy.
        seed: Base seed: segment ``s`` of real rollout ``i`` under domain ``d`` resets with
            ``derive_seed(seed, i, s * len(domain_params_ml_all[i]) + d)``, which is also its
            ``rollout_info["rollout_index"]``; None: a fresh base seed.
        backend: ``"local"`` or ``"ray"``; None: the pool sampler's, else ``"local"``.

    Returns:
        ``result[i][s][d]``: segment ``s`` of real rollout ``i`` simulated under
        ``domain_params_ml_all[i][d]`` (as pyrado's ``segments_ml_all``).

    Raises:
        TypeError: A list argument is not a list of the right items (e.g. a real rollout
            given as one ``StepSequence`` instead of a list of segments), or a flag is not a
            bool.
        ValueError: The two lists differ in length, a segment is empty or starts in a state
            of the wrong shape, a dict uses a name the env does not have, or
            ``stop_on_done=False`` with the Ray backend.

    Example:
        >>> import gymnasium as gym
        >>> from gymsamp.envs import CountingEnv
        >>> from gymsamp.policies import IdlePolicy
        >>> from gymsamp.sampling import rollout
        >>> env = lambda: CountingEnv(terminate_at=10)
        >>> policy = IdlePolicy(gym.spaces.Discrete(2))
        >>> real = rollout(
        ...     env, policy, max_steps=5, reset_kwargs={"domain_param": {"increment": 2.0}})
        >>> segments = [real[0:2], real[2:5]]
        >>> result = eval_domain_params_with_segmentwise_reset(
        ...     2, env, policy, [segments], [[{"increment": 2.0}, {"increment": 1.0}]],
        ...     stop_on_done=True, use_rec=True, seed=0)
        >>> [[len(per_domain) for per_domain in per_segment] for per_segment in result]
        [[2, 2]]
        >>> result[0][1][0].observations[:, 0].tolist()  # from 4.0, 3 steps of 2.0
        [4.0, 6.0, 8.0, 10.0]
        >>> result[0][1][1].observations[:, 0].tolist()  # from 4.0, 3 steps of 1.0
        [4.0, 5.0, 6.0, 7.0]
    """
    outer = as_list(
        segments_real_all,
        "segments_real_all",
        "lists of segments (one list per real rollout)",
        allow_empty=True,
    )
    params_outer = as_list(
        domain_params_ml_all,
        "domain_params_ml_all",
        "lists of domain-parameter dicts (one list per real rollout)",
        allow_empty=True,
    )
    if len(outer) != len(params_outer):
        raise ValueError(
            "segments_real_all and domain_params_ml_all must have one entry per real rollout, got "
            f"{len(outer)} and {len(params_outer)}"
        )
    stop_on_done = check_bool("stop_on_done", stop_on_done)
    use_rec = check_bool("use_rec", use_rec)
    segments_all: list[list[StepSequence]] = []
    for i, segments in enumerate(outer):
        name = f"segments_real_all[{i}]"
        items = as_list(segments, name, "segments (StepSequences)", allow_empty=True)
        for s, segment in enumerate(items):
            if not isinstance(segment, StepSequence):
                raise TypeError(f"{name}[{s}] must be a StepSequence, got {shown(segment)}")
            if not segment.continuous or segment.rollout_count != 1:
                # It would be simulated as one run across the real episode boundary.
                got = (
                    f"steps of {segment.rollout_count} rollouts"
                    if segment.continuous
                    else "a shuffled batch"
                )
                raise ValueError(
                    f"{name}[{s}] must be a piece of one rollout (steps in order, no episode "
                    f"start inside), got {got}"
                )
        segments_all.append(items)
    params_all = [
        [
            checked_domain_param(p, f"domain_params_ml_all[{i}][{d}]")
            for d, p in enumerate(
                as_list(
                    params, f"domain_params_ml_all[{i}]", "domain-parameter dicts", allow_empty=True
                )
            )
        ]
        for i, params in enumerate(params_outer)
    ]
    _, options = pool_settings(pool, backend)
    if not stop_on_done and options.get("backend") == "ray":
        raise ValueError(
            "stop_on_done must be True with the Ray backend (its actors always end a rollout "
            "at an episode end), got False; use backend='local'"
        )
    base_seed = call_seed(seed)

    # Every (i, s, d) is one rollout; those of equal length share one collection.
    keys = [
        (i, s, d)
        for i, segments in enumerate(segments_all)
        for s in range(len(segments))
        for d in range(len(params_all[i]))
    ]
    results: dict[tuple[int, int, int], StepSequence] = {}
    if keys:
        runner: Any = policy
        if use_rec:
            recorded = [
                np.asarray(segment.actions) for segments in segments_all for segment in segments
            ]
            shapes = {rec.shape[1:] for rec in recorded}
            if len(shapes) != 1:
                raise ValueError(
                    "segments_real_all must hold segments of one action shape, got shapes "
                    f"{sorted(shapes)}"
                )
            runner = _SegmentPlayback(shapes.pop(), np.result_type(*recorded))
        starts = {
            (i, s): _segment_start(segment, f"segments_real_all[{i}][{s}]")
            for i, segments in enumerate(segments_all)
            for s, segment in enumerate(segments)
        }
        payloads = {
            (i, s, d): {"init_state": starts[i, s], "domain_param": dict(params_all[i][d])}
            for i, s, d in keys
        }
        with sampler_for(pool, env_sim, runner, base_seed, backend) as sampler:
            sampler.check_payloads(
                list(payloads.values()),
                [
                    (
                        _segment_start_label(segments_all[i][s], f"segments_real_all[{i}][{s}]"),
                        f"domain_params_ml_all[{i}][{d}]",
                    )
                    for i, s, d in keys
                ],
            )
            groups: dict[int, list[tuple[int, int, int]]] = {}
            for key in keys:
                groups.setdefault(segments_all[key[0]][key[1]].length, []).append(key)
            for length, members in sorted(groups.items()):
                jobs = [
                    RolloutJob.seeded(
                        k,
                        base_seed,
                        i,
                        s * len(params_all[i]) + d,
                        options=payloads[i, s, d],
                        policy_params=(
                            np.asarray(segments_all[i][s].actions).reshape(-1) if use_rec else None
                        ),
                    )
                    for k, (i, s, d) in enumerate(members)
                ]
                rollouts = _collect_segments(sampler, jobs, length, stop_on_done)
                for (i, s, d), ro in zip(members, rollouts, strict=True):
                    ro.rollout_info["rollout_index"] = s * len(params_all[i]) + d
                    results[i, s, d] = ro
    return [
        [[results[i, s, d] for d in range(len(params_all[i]))] for s in range(len(segments))]
        for i, segments in enumerate(segments_all)
    ]
