"""Rollout samplers that act as ``sbi`` simulators: :class:`SimRolloutSamplerForSBI`.

It maps a ``(B, P)`` tensor of domain parameters to ``(B, R * dim_output)`` embedded features:
the ``B`` rows run in parallel on the workers of a :class:`~gymsamp.sampling.SamplerPool`, each
stepping several sub-envs of a :class:`~gymsamp.sampling.ParallelRolloutSampler`, with results
independent of the number of workers. With recorded target-domain rollouts every simulated
segment starts from the recorded state and (by default) replays the recorded actions. The
target-domain counterparts live in :mod:`gymsamp.sbi.target_samplers`, their common base in
:mod:`gymsamp.sbi.sampler_base`; the data layout is described in
:mod:`gymsamp.sbi.rollout_data`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import torch

from gymsamp._checks import check_bool, check_int
from gymsamp.data import EnvSpec, StepSequence
from gymsamp.policies.adapters import check_policy_like
from gymsamp.sampling import SamplerPool
from gymsamp.sampling.one_call import OneCallAtATime
from gymsamp.sampling.sampler_options import check_backend_options
from gymsamp.sampling.seeding import call_seed, check_seed
from gymsamp.sampling.vector_envs import VECTORIZATIONS
from gymsamp.sbi._workers import (
    ENVS_PER_WORKER,
    NUM_STEPS_KEY,
    Collection,
    CollectionResult,
    EnvInfo,
    FailedRows,
    RolloutResult,
    SbiEnvFactory,
    close_worker,
    run_collections,
    setup_worker,
)
from gymsamp.sbi.embeddings import Embedding
from gymsamp.sbi.rollout_data import (
    actions_of,
    float_field,
    pad_series,
    rollout_series,
    segment_edges,
)
from gymsamp.sbi.row_failures import refused_rows, simulation_error, warn_failed
from gymsamp.sbi.sampler_base import RolloutSamplerForSBI, embed_data, with_target_data
from gymsamp.sbi.simulator_checks import (
    check_applied,
    check_dp_mapping,
    check_dp_values,
    check_env,
    check_replay,
    check_rollouts_real,
)

__all__ = ["RolloutSamplerForSBI", "SimRolloutSamplerForSBI", "embed_data", "with_target_data"]


#: The values of ``SimRolloutSamplerForSBI(on_failure=...)``.
ON_FAILURE = ("raise", "nan")


class _Segment(NamedTuple):
    """One segment of a target-domain rollout."""

    rollout: int  # index into rollouts_real
    init_state: np.ndarray
    actions: np.ndarray  # recorded (applied) actions, (L, *action_shape)


# --------------------------------------------------------------------------------------------
# Simulation
# --------------------------------------------------------------------------------------------


class SimRolloutSamplerForSBI(RolloutSamplerForSBI):
    """An ``sbi`` simulator: domain parameters in, embedded simulated rollouts out.

    ``sampler(theta)`` with ``theta`` of shape ``(B, P)`` (parameter ``j`` is named
    ``dp_mapping[j]``) returns features of shape ``(B, R * dim_output)``; a single ``(P,)``
    vector gives ``(R * dim_output,)``. The ``B`` rows are split among ``num_workers``
    processes of a :class:`~gymsamp.sampling.SamplerPool` (1: this process), each stepping a few
    sub-envs of its own :class:`~gymsamp.sampling.ParallelRolloutSampler`; workers and sub-envs
    live until :meth:`close`. Row ``b`` of the ``c``-th call (0-based) resets with the seed
    triple ``(seed, c, b)``; with ``rollouts_real`` cut into ``K`` segments in all, its
    segment ``k`` (counted through all target rollouts) resets with ``(seed, c * K + k, b)``.
    So a row's features never depend on ``num_workers``, ``vectorization`` or the number of
    rows next to it.

    With ``rollouts_real`` (``R`` recorded target-domain rollouts of equal length ``T``, with
    ``states``) each is cut into segments; every simulated segment starts from the recorded
    state at the segment's start and replays the recorded actions (``use_rec_act``, one
    collection per segment) or runs the policy, for as many steps as the segment has. A
    segment ended early by the env (``stop_on_done``) is zero-padded. Each segment is a fresh
    episode of the env, so a segment longer than the env's time limit (``max_episode_length``)
    is refused: the limit would cut it short whatever the parameters. The segments are joined
    into one ``T``-step series per target rollout. Without ``rollouts_real`` (``R = 1``) every
    row runs one episode of the env's ``max_episode_length`` steps from the env's own (seeded)
    initial state.

    The applied parameters are checked against every rollout's ``rollout_info``. Parameters
    not in ``dp_mapping`` stay nominal (explicit parameters bypass a ``DomainRandWrapper``'s
    draw). The env passed in is never stepped or changed: the sub-envs are copies.

    Args:
        env: An env id, a factory or a ``gymnasium.Env`` instance with domain parameters
            (a simulator gymsamp has an adapter for); picklable for ``num_workers > 1``.
        policy: Anything :func:`gymsamp.policies.as_policy` accepts (it runs in the workers);
            may be None when only recorded actions are replayed.
        dp_mapping: ``{0: name_0, 1: name_1, ...}``: the column of ``theta`` of each domain
            parameter.
        embedding: The embedding (built on :func:`~gymsamp.sbi.sbi_env_spec` of the env).
        num_segments: See :class:`RolloutSamplerForSBI`.
        len_segments: See :class:`RolloutSamplerForSBI`.
        stop_on_done: See :class:`RolloutSamplerForSBI`.
        rollouts_real: Recorded target-domain rollouts, or None (not for an embedding that
            compares with target-domain data, such as DTW).
        use_rec_act: Replay the recorded actions (feed-forward) instead of running the policy.
        num_workers: Worker processes simulating rows in parallel (1: in this process);
            with ``backend="ray"``, the number of Ray actors.
        seed: Base seed of the reset seeds and policy noise (DESIGN §4); None: fresh entropy.
        vectorization: How each worker steps its few sub-envs: ``"auto"`` (in the worker's
            own process: the workers are the parallelism) or any mode of
            :class:`~gymsamp.sampling.ParallelRolloutSampler` (e.g. ``"async"`` for an
            expensive simulator with one worker); ``"auto"`` or ``"sync"`` with Ray.
        backend: ``"local"`` (worker processes of this machine) or ``"ray"``: the rows run on
            ``num_workers`` Ray actors of a :class:`~gymsamp.sampling.ParallelRolloutSampler`
            with ``backend="ray"`` (the Ray the caller initialized, else a local one), each
            stepping a few sub-envs; the features are bit-identical to the local backend's.
        on_failure: What a parameter row whose simulation fails does (the env raises, or its
            observations stop being finite, e.g. a simulator diverging at an extreme
            parameter), or one whose values the env refuses (e.g. a negative mass, checked
            before any row runs): ``"raise"`` (the default) raises the error of the first
            such row, naming it; ``"nan"`` gives that row features of NaN (a refused row is
            not simulated), warns once per call
            (``RuntimeWarning``, naming the rows and errors) and simulates every other row
            as usual, so that ``sbi`` drops the row (``append_simulations`` excludes
            non-finite ``x`` by default) instead of losing the whole batch. The other rows'
            features are the same in both modes.

    Example:
        >>> from gymsamp.policies import PlaybackPolicy
        >>> from gymsamp.sampling import rollout
        >>> from gymsamp.sbi import BayesSimEmbedding, sbi_env_spec
        >>> spec = sbi_env_spec("Pendulum-v1")
        >>> emb = BayesSimEmbedding(spec, RolloutSamplerForSBI.get_dim_data(spec))
        >>> torques = np.full((20, 1), 0.5, np.float32)
        >>> real = rollout("Pendulum-v1", PlaybackPolicy(torques), seed=0, max_steps=20,
        ...                reset_kwargs={"domain_param": {"m": 1.2}})
        >>> with SimRolloutSamplerForSBI("Pendulum-v1", None, {0: "m"}, emb, num_segments=2,
        ...                              rollouts_real=[real]) as sim:
        ...     x = sim(torch.tensor([[1.2], [0.8]]))
        >>> x.shape, emb.dim_output
        (torch.Size([2, 6]), 6)
        >>> target = emb(Embedding.pack(torch.tensor(np.concatenate(
        ...     [real.states[:-1], real.actions_applied], axis=1))))
        >>> torch.allclose(x[0], target[0])  # true parameters reproduce the recording
        True
    """

    def __init__(
        self,
        env: Any,
        policy: Any,
        dp_mapping: Mapping[int, str],
        embedding: Embedding,
        num_segments: int | None = None,
        len_segments: int | None = None,
        stop_on_done: bool = True,
        rollouts_real: Sequence[StepSequence] | None = None,
        use_rec_act: bool = True,
        *,
        num_workers: int = 1,
        seed: int | None = None,
        vectorization: str = "auto",
        backend: str = "local",
        on_failure: str = "raise",
    ) -> None:
        super().__init__(env, policy, embedding, num_segments, len_segments, stop_on_done)
        if on_failure not in ON_FAILURE:
            raise ValueError(f"on_failure must be one of {ON_FAILURE}, got {on_failure!r}")
        self.dp_names = check_dp_mapping(dp_mapping)
        use_rec_act = check_bool("use_rec_act", use_rec_act)
        num_workers = check_int("num_workers", num_workers)
        if vectorization not in VECTORIZATIONS:
            raise ValueError(
                f"vectorization must be one of {VECTORIZATIONS}, got {vectorization!r}"
            )
        envs_per_actor = ENVS_PER_WORKER if backend == "ray" else 1
        check_backend_options(backend, envs_per_actor, None, vectorization, None)
        self.use_rec_act = use_rec_act
        self.num_workers = num_workers
        self.vectorization = vectorization
        self.backend = backend
        self.on_failure = on_failure
        self.seed = check_seed(seed)
        self.rollouts_real = check_rollouts_real(rollouts_real)
        if self.rollouts_real is None and embedding.requires_target_domain_data:
            # Compared with themselves, the simulations would all embed to zeros.
            raise ValueError(
                f"rollouts_real must be given for {type(embedding).__name__}, which compares "
                "simulated with target-domain rollouts, got None"
            )
        if policy is None and (self.rollouts_real is None or not use_rec_act):
            raise ValueError(
                "policy must be given unless recorded actions are replayed "
                "(rollouts_real given and use_rec_act=True), got None"
            )
        if policy is not None:  # here, not as a worker's error once workers run
            check_policy_like(policy)
        self._factory = SbiEnvFactory(env, ignore_termination=not stop_on_done)
        self._num_collections = 0
        # One call at a time, refused before it counts a collection or touches the pool: a
        # call the pool refused closed it (its error path), ending the call that ran.
        self._one_call = OneCallAtATime(
            "SimRolloutSamplerForSBI", kind="simulator", callers="the policy or the embedding"
        )
        self._pool: SamplerPool | None = None
        self._info = self._start_pool()
        try:
            check_env(self._info, self.dp_names, self._embedding.spec, self.rollouts_real)
            self._segments, self._target = self._prepare_targets()
        except BaseException:
            self.close()
            raise

    # -- target-domain data ------------------------------------------------------------------

    def _prepare_targets(self) -> tuple[list[_Segment], np.ndarray | None]:
        if self.rollouts_real is None:
            return [], None
        shape = self._info.env_spec.state_space.shape  # type: ignore[union-attr]
        segments, targets = [], []
        for r, ro in enumerate(self.rollouts_real):
            states = float_field(ro, "states")
            if states.shape[1:] != shape:
                raise ValueError(
                    f"rollouts_real[{r}] has states of shape {states.shape[1:]} but must have "
                    f"{shape} to match {self._info.env_id}"
                )
            actions = actions_of(ro)
            for start, stop in segment_edges(ro.length, self.num_segments, self.len_segments):
                segments.append(_Segment(r, states[start].copy(), actions[start:stop]))
            targets.append(rollout_series(ro, self._embedding.spec, f"rollouts_real[{r}]"))
        self._check_time_limit(max(len(seg.actions) for seg in segments))
        return segments, np.stack(targets)

    def _check_time_limit(self, longest: int) -> None:
        """Refuse segments the env's time limit would cut short.

        Every segment is a fresh episode of the env, so its time limit counts from the
        segment's start: a longer segment was truncated there and zero-padded (with
        ``stop_on_done=False`` too), features no parameter could match to the recording's.
        """
        limit = self._info.env_spec.max_episode_length
        if limit is None or longest <= limit:
            return
        length = self.rollouts_real[0].length  # type: ignore[index]  # all equal (checked)
        raise ValueError(
            f"rollouts_real segments must fit the env's time limit: segments of up to {longest} "
            f"steps, but {self._info.env_id} truncates episodes after {limit} steps "
            "(max_episode_length), which would cut each longer simulated segment short and "
            "zero-pad it; build the env with a longer limit (e.g. gym.make(..., "
            f"max_episode_steps={length})) or cut the recordings into shorter segments "
            f"(num_segments={-(-length // limit)} or more, or len_segments <= {limit})"
        )

    # -- workers ------------------------------------------------------------------------------

    def _start_pool(self) -> EnvInfo:
        """Start the workers and build their samplers; returns what they report of the env.

        With Ray, this process is the one worker: its sampler hands the rows to the actors.
        """
        options: dict[str, Any]
        if self.backend == "ray":
            workers = 1
            options = dict(
                num_workers=self.num_workers,
                vectorization=self.vectorization,
                backend="ray",
                envs_per_actor=ENVS_PER_WORKER,
            )
        else:
            workers = self.num_workers
            # Sub-env processes inside worker processes would only compete for the CPUs.
            vectorization = "sync" if self.vectorization == "auto" else self.vectorization
            options = {"num_workers": ENVS_PER_WORKER, "vectorization": vectorization}
        pool = SamplerPool(workers)
        try:
            infos = pool.invoke_all(
                setup_worker, self._factory, self._policy, self._embedding.spec, options
            )
        except BaseException:
            pool.stop()
            raise
        self._pool = pool
        return infos[0]

    def _run(
        self,
        collections: list[tuple[list[dict[str, Any] | None], np.ndarray | None]],
        theta: np.ndarray,
        failed: dict[int, FailedRows],
    ) -> list[list[RolloutResult | None]]:
        """Run collections ``(payloads, recording or None)``; their results in row order.

        A payload of None is a row not to simulate: its result is None, without a failure.

        Each collection's rows are split into one contiguous chunk per worker; each worker
        runs its chunks of all collections in one task. Row ``b`` of every collection simulates
        parameter row ``b`` of ``theta``: a failed rollout raises its error naming that row;
        with ``on_failure="nan"`` its result is None instead, and ``failed`` gets the
        parameter row's first failure (in collection, row order).
        """
        if self._pool is None:
            self._info = self._start_pool()
        assert self._pool is not None
        workers = self._pool.num_threads
        tasks: list[list[Collection]] = [[] for _ in range(workers)]
        owners: list[list[int]] = []  # per collection: the workers holding its chunks, in order
        for payloads, recording in collections:
            sub_seed, self._num_collections = self._num_collections, self._num_collections + 1
            bounds = np.linspace(0, len(payloads), workers + 1).round().astype(int)
            owners.append([])
            for w in range(workers):
                lo, hi = int(bounds[w]), int(bounds[w + 1])
                if hi > lo:
                    tasks[w].append(Collection(sub_seed, lo, payloads[lo:hi], recording))
                    owners[-1].append(w)
        skip_failures = self.on_failure == "nan"
        try:
            # One base seed for all workers (fresh entropy for seed=None): every row still
            # resets with its own seed, whichever worker (holding a copy of the env) runs it.
            seed = call_seed(self.seed)
            done: list[list[CollectionResult]] = self._pool.run_map(
                run_collections, [(seed, task, skip_failures) for task in tasks]
            )
        except BaseException:
            # A failed or interrupted worker may hold a half-run collection: start afresh.
            self.close()
            raise
        results: list[list[RolloutResult | None]] = []
        failures: list[tuple[int, int, FailedRows]] = []
        cursor = [0] * workers
        for c, owned in enumerate(owners):
            rows: list[RolloutResult | None] = []
            for w in owned:
                if cursor[w] < len(done[w]):  # else: the worker stopped at a failure
                    part = done[w][cursor[w]]
                    rows.extend(part.results)
                    failures.extend((c, min(f.rows, default=-1), f) for f in part.failures)
                cursor[w] += 1
            results.append(rows)
        failures.sort(key=lambda item: item[:2])  # the same order for any worker count
        # With on_failure="nan" too, a failure no row can be told from is the call's.
        fatal = [item for item in failures if not (skip_failures and item[2].rows)]
        if fatal:
            raise simulation_error(fatal[0][2], theta, self.dp_names)
        for _, row, failure in failures:
            failed.setdefault(row, failure)
        return results

    # -- simulating ---------------------------------------------------------------------------

    @property
    def spec(self) -> EnvSpec:
        """The env's specification (with the simulator's ``state_space``)."""
        return self._info.env_spec

    def check_domain_params(
        self,
        rollouts: StepSequence | Sequence[StepSequence],
        domain_param_value: np.ndarray,
        domain_param_names: Sequence[str],
    ) -> None:
        """Verify that the rollouts ran with the commanded domain parameters.

        Args:
            rollouts: Simulated rollouts or rollout segments.
            domain_param_value: One set of domain parameters as commanded.
            domain_param_names: Their names (the values of ``dp_mapping``).

        Raises:
            ValueError: If a rollout reports other values in ``rollout_info["domain_param"]``.
        """
        if isinstance(rollouts, StepSequence):
            rollouts = [rollouts]
        for ro in rollouts:
            check_applied(
                ro.rollout_info.get("domain_param", {}), domain_param_value, domain_param_names
            )

    def _simulate(self, theta: np.ndarray, failed: dict[int, FailedRows]) -> np.ndarray:
        """The ``(B, R, T, D)`` simulated data for the parameter rows ``theta``; rows that
        failed (``on_failure="nan"``) are zeros, and ``failed`` gets their failures. Rows
        already in ``failed`` (refused up front) are not simulated; the others keep their
        positions, hence their seeds."""
        params: list[dict[str, float] | None] = [
            None if b in failed else dict(zip(self.dp_names, map(float, row), strict=True))
            for b, row in enumerate(theta)
        ]
        width = self.get_dim_data(self._embedding.spec)

        def series(res: RolloutResult | None, row: int, length: int) -> np.ndarray:
            if res is None:  # the row failed: its features will be NaN
                return np.zeros((length, width))
            check_applied(res.domain_param, theta[row], self.dp_names)
            return pad_series(res.series, length)

        if self.rollouts_real is None:
            length = self._info.env_spec.max_episode_length
            assert length is not None  # checked in __init__
            episodes = [
                None if p is None else {"domain_param": p, NUM_STEPS_KEY: length} for p in params
            ]
            (results,) = self._run(
                [(episodes, None)],
                theta,
                failed=failed,
            )
            return np.stack([series(res, b, length) for b, res in enumerate(results)])[:, None]

        def payload(seg: _Segment, param: dict[str, float] | None) -> dict[str, Any] | None:
            if param is None:  # refused up front: not simulated
                return None
            return {
                "domain_param": param,
                "init_state": seg.init_state,
                NUM_STEPS_KEY: len(seg.actions),
            }

        # parts[b][r]: the simulated segments of target rollout r under parameter row b.
        parts: list[list[list[np.ndarray]]] = [
            [[] for _ in self.rollouts_real] for _ in range(len(theta))
        ]
        # One collection per segment, replaying its recorded actions or running the policy:
        # segment k of row b resets with (seed, c * K + k, b) in the c-th call, whatever the
        # other rows (one collection of all (segment, row) pairs gave row b's segments seeds
        # that depended on the batch size B, so a stochastic policy's features of a row
        # changed with the rows simulated next to it).
        runs = self._run(
            [
                (
                    [payload(seg, p) for p in params],
                    seg.actions if self.use_rec_act else None,
                )
                for seg in self._segments
            ],
            theta,
            failed=failed,
        )
        for seg, results in zip(self._segments, runs, strict=True):
            for b, res in enumerate(results):
                if res is not None and self.use_rec_act:
                    check_replay(res.actions, seg.actions)
                parts[b][seg.rollout].append(series(res, b, len(seg.actions)))
        return np.stack([[np.concatenate(segs) for segs in row] for row in parts])

    def __call__(self, dp_values: Any) -> torch.Tensor:
        """Simulate and embed: ``(B, P)`` parameters to ``(B, R * dim_output)`` features.

        Args:
            dp_values: A tensor or array of shape ``(B, P)``, or ``(P,)`` for one row (then
                the result is ``(R * dim_output,)``).

        Returns:
            The features, in torch's default dtype.

        Raises:
            RuntimeError: If another call of this simulator runs (in another thread, or the
                policy calls it): it runs one call at a time. :meth:`close` may come from
                another thread; it ends the running call.
        """
        with self._one_call.hold():
            return self._simulate_and_embed(dp_values)

    def _simulate_and_embed(self, dp_values: Any) -> torch.Tensor:
        theta, single = check_dp_values(dp_values, self.dp_names)
        failed = refused_rows(theta, self._info, self.dp_names, self.on_failure)
        sim = self._simulate(theta, failed)
        if not failed:
            features = self._embed(sim)
        else:  # NaN rows for the failed ones, the others embedded as usual
            warn_failed(theta, failed, self.dp_names)
            ok = np.ones(len(theta), dtype=bool)
            ok[list(failed)] = False
            embedded = self._embed(sim[ok])
            # Where the embedding computed them (a GPU with use_cuda=True), as without failures.
            features = torch.full(
                (len(theta), embedded.shape[1]),
                torch.nan,
                dtype=embedded.dtype,
                device=embedded.device,
            )
            features[torch.from_numpy(ok).to(embedded.device)] = embedded
        return features[0] if single else features

    def _embed(self, sim: np.ndarray) -> torch.Tensor:
        """Features of the ``(B, R, T, D)`` simulated data (next to the target data where the
        embedding compares the two)."""
        if not len(sim):  # every row failed: nothing for the embedding to see
            return torch.empty(
                (0, sim.shape[1] * self._embedding.dim_output), device=self._embedding.device
            )
        target = self._target if self._target is not None else sim
        return embed_data(self._embedding, with_target_data(self._embedding, sim, target))

    def close(self) -> None:
        """End the workers and their sub-envs (they restart on the next call)."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        try:
            # Lets workers close their sub-envs; a broken worker is terminated by stop() anyway.
            with contextlib.suppress(Exception):
                pool.invoke_all(close_worker)
        finally:
            pool.stop()

    def __reduce__(self) -> Any:
        # A copy in another process (sbi's simulate_for_sbi(num_workers > 1) ships the
        # simulator with joblib) would start workers of its own and number its calls from the
        # same count: every batch's row b would reset with the same seed triple.
        raise TypeError(
            "a SimRolloutSamplerForSBI cannot be pickled: it owns its worker processes. For "
            "parallel simulation give it num_workers=N (or backend='ray') and call sbi's "
            "simulate_for_sbi with num_workers=1"
        )

    def __repr__(self) -> str:
        real = 0 if self.rollouts_real is None else len(self.rollouts_real)
        return (
            f"SimRolloutSamplerForSBI(env={self._info.env_id!r}, dp_names={self.dp_names}, "
            f"embedding={type(self._embedding).__name__}, rollouts_real={real}, "
            f"num_workers={self.num_workers}, backend={self.backend!r}, seed={self.seed})"
        )
