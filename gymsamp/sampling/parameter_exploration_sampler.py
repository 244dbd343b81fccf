"""Evaluating many policy parameter sets on common random numbers.

:class:`ParameterExplorationSampler` runs every parameter set on the same (domain, initial
state) pairs in the same order, with the same reset seeds and policy-noise generators, so the
differences between parameter sets are not drowned in sampling noise (common random numbers).
Different parameter sets run side by side in one vector step through
:class:`~gymsamp.policies.ParametricPolicy.set_env_params`.
"""

from __future__ import annotations

import reprlib
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple, SupportsIndex, TypeAlias, overload

import numpy as np
import numpy.typing as npt

from gymsamp._checks import check_int
from gymsamp.data import StepSequence, to_format
from gymsamp.data.data_format import is_tensor
from gymsamp.envs.probe import probing
from gymsamp.envs.wrappers import DomainRandWrapper, find_wrapper
from gymsamp.policies.base import ParametricPolicy
from gymsamp.policies.sb3_policy import SB3Policy
from gymsamp.sampling.parallel_rollout_sampler import ParallelRolloutSampler, not_picklable
from gymsamp.sampling.quota import Quota
from gymsamp.sampling.rollout_job import RolloutJob
from gymsamp.sampling.sampler import Closable
from gymsamp.sampling.seeding import call_seed, check_seed, rollout_generator
from gymsamp.sampling.vector_envs import EnvLike

__all__ = ["ParameterExplorationSampler", "ParameterSample", "ParameterSamplingResult"]

# sample()'s init_states: a list of states (None entries draw theirs) or a 2-D array.
_InitStates: TypeAlias = Sequence[npt.ArrayLike | None] | npt.NDArray[Any]

# sub_sub_seed of the generator that draws a call's domains (rollout indices start at 0).
_DOMAIN_STREAM = 2**31


class _ParameterSampleFields(NamedTuple):
    params: Any
    rollouts: list[StepSequence]


class ParameterSample(_ParameterSampleFields):
    """Policy parameters and the rollouts sampled with them: the named tuple
    ``(params, rollouts)``, whose ``rollouts`` must be a non-empty list of StepSequence.

    Example:
        >>> from gymsamp.data import StepSequence
        >>> ro = StepSequence(rewards=[1.0, 2.0], observations=[0, 0, 0], actions=[0, 0])
        >>> sample = ParameterSample(params=np.zeros(3), rollouts=[ro, ro])
        >>> sample.num_rollouts, sample.mean_undiscounted_return
        (2, 3.0)
    """

    __slots__ = ()

    def __new__(cls, params: Any, rollouts: list[StepSequence]) -> ParameterSample:
        if isinstance(rollouts, StepSequence) or not isinstance(rollouts, Sequence):
            raise TypeError(
                "rollouts must be a non-empty list of StepSequence (the rollouts of params), "
                f"got {type(rollouts).__name__}"
            )
        if len(rollouts) == 0:
            raise ValueError(
                "rollouts must be a non-empty list of StepSequence (the rollouts of params), got []"
            )
        for i, ro in enumerate(rollouts):
            if not isinstance(ro, StepSequence):
                raise TypeError(f"rollouts[{i}] must be a StepSequence, got {type(ro).__name__}")
        return super().__new__(cls, params, rollouts)

    @property
    def mean_undiscounted_return(self) -> float:
        """Mean of the undiscounted returns over all rollouts."""
        return float(np.mean([ro.undiscounted_return() for ro in self.rollouts]))

    @property
    def num_rollouts(self) -> int:
        """Number of rollouts."""
        return len(self.rollouts)


class ParameterSamplingResult(Sequence[ParameterSample]):
    """The result of a parameter exploration run: a list of :class:`ParameterSample`.

    Indexing with an int gives a :class:`ParameterSample`, with a slice a
    ``ParameterSamplingResult`` (as in pyrado), e.g. ``result[1:].mean_returns()``.

    Args:
        samples: One sample per parameter set.

    Example:
        >>> from gymsamp.data import StepSequence
        >>> ro = StepSequence(rewards=[1.0], observations=[0, 0], actions=[0])
        >>> result = ParameterSamplingResult([ParameterSample(np.ones(2), [ro]),
        ...                                   ParameterSample(np.zeros(2), [ro, ro])])
        >>> result.parameters().shape, result.mean_returns().tolist(), result.num_rollouts()
        ((2, 2), [1.0, 1.0], 3)
    """

    def __init__(self, samples: Sequence[ParameterSample]) -> None:
        if not isinstance(samples, Sequence):
            raise TypeError(
                f"samples must be a non-empty list of ParameterSample, got {type(samples).__name__}"
            )
        if len(samples) == 0:
            raise ValueError("samples must be a non-empty list of ParameterSample, got []")
        for i, sample in enumerate(samples):
            if not isinstance(sample, ParameterSample):
                raise TypeError(
                    f"samples[{i}] must be a ParameterSample, got {type(sample).__name__}"
                )
        self._samples = list(samples)

    @overload
    def __getitem__(self, index: SupportsIndex) -> ParameterSample: ...

    @overload
    def __getitem__(self, index: slice) -> ParameterSamplingResult: ...

    def __getitem__(
        self, index: SupportsIndex | slice
    ) -> ParameterSample | ParameterSamplingResult:
        if isinstance(index, slice):
            # A result again, as in pyrado, whose algorithms read e.g.
            # ``param_results[1:].mean_returns`` (PEPG leaves out the current policy's set).
            # An empty slice is a result too (Sequence semantics), built past the
            # constructor's non-empty check; its parameters() refuses with a message.
            sliced = object.__new__(ParameterSamplingResult)
            sliced._samples = self._samples[index]
            return sliced
        return self._samples[index]

    def __len__(self) -> int:
        return len(self._samples)

    def __repr__(self) -> str:
        return (
            f"ParameterSamplingResult(parameter_sets={len(self)}, rollouts={self.num_rollouts()})"
        )

    def parameters(self) -> Any:
        """All parameter sets as an ``N x P`` matrix (torch if the inputs were tensors).

        Raises:
            TypeError: A sample's ``params`` are not real numbers (e.g. None or a str).
            ValueError: The samples' ``params`` differ in shape, so they make no matrix, or
                the result is an empty slice.
        """
        if not self._samples:
            raise ValueError(
                "parameters() needs at least one parameter set to make an N x P matrix, got "
                "an empty result (an empty slice)"
            )
        params = [s.params for s in self._samples]
        # Checked here: numpy's stack said "all input arrays must have the same shape" without
        # naming a sample, and None or strs stacked into an object or str "matrix".
        shape = None
        for i, p in enumerate(params):
            array = np.asarray(to_format(p, "numpy")) if p is not None else np.asarray(None)
            if array.dtype.kind not in "biuf":
                raise TypeError(
                    f"samples[{i}].params must hold real numbers to make the parameter matrix, "
                    f"got {reprlib.repr(p)}"
                )
            if shape is not None and array.shape != shape:
                raise ValueError(
                    f"samples[{i}].params has shape {array.shape} but must have {shape} to match "
                    "samples[0].params (parameters() stacks them into an N x P matrix)"
                )
            shape = array.shape
        fmt = "torch" if any(type(p).__module__.startswith("torch") for p in params) else "numpy"
        if fmt == "torch":
            import torch

            return torch.stack([to_format(p, "torch") for p in params])
        return np.stack([np.asarray(p) for p in params])

    def mean_returns(self) -> np.ndarray:
        """Mean undiscounted return of every parameter set, shape ``(N,)``."""
        return np.array([s.mean_undiscounted_return for s in self._samples])

    def num_rollouts(self) -> int:
        """Total number of rollouts over all parameter sets."""
        return sum(s.num_rollouts for s in self._samples)

    def rollouts(self) -> list[list[StepSequence]]:
        """The rollouts of every parameter set (a list of lists)."""
        return [s.rollouts for s in self._samples]


class ParameterExplorationSampler(Closable):
    """Samples rollouts for many policy parameter sets on common random numbers.

    Per ``sample()`` call ``c`` the sampler draws ``num_domains`` domains from the env's
    :class:`~gymsamp.envs.DomainRandWrapper` randomizer (with a generator derived from
    ``seed`` and ``c``; nominal parameters if the env is not randomized). For domain ``d`` and
    init state ``j`` (pair index ``i = d * num_init_states_per_domain + j``) every parameter
    set resets with ``derive_seed(seed, c, i)`` under domain ``d``, so the initial state is
    drawn for that very domain, and draws policy noise from the generator of the same triple.

    Args:
        env: An env id, factory or instance (with a ``DomainRandWrapper`` to randomize).
        policy: A :class:`~gymsamp.policies.ParametricPolicy` (e.g. ``LinearPolicy`` or a
            torch module through ``as_policy``).
        num_init_states_per_domain: Rollouts per domain, each from its own initial state.
        num_domains: Number of domains per call.
        num_workers: Number of sub-envs stepped in parallel.
        seed: Base seed; None draws fresh entropy for every call.
        **sampler_kwargs: Passed on to :class:`ParallelRolloutSampler` (``vectorization``,
            ``max_steps``, ``show_progress_bar``, ...).

    Example:
        >>> from gymsamp.policies import LinearPolicy
        >>> with ParameterExplorationSampler("gymsamp/PointMass-v0", LinearPolicy((2, 1)),
        ...         num_init_states_per_domain=2, num_domains=1, num_workers=2, seed=0,
        ...         max_steps=10) as sampler:
        ...     result = sampler.sample(np.zeros((3, 3)))
        >>> len(result), result.num_rollouts()
        (3, 6)
        >>> # common random numbers: every parameter set starts from the same states
        >>> [ro.observations[0].tolist() for ro in result[0].rollouts] == [
        ...     ro.observations[0].tolist() for ro in result[2].rollouts]
        True
    """

    def __init__(
        self,
        env: EnvLike,
        policy: Any,
        num_init_states_per_domain: int,
        num_domains: int,
        num_workers: int,
        seed: int | None = None,
        **sampler_kwargs: Any,
    ) -> None:
        self.num_init_states_per_domain = check_int(
            "num_init_states_per_domain", num_init_states_per_domain
        )
        self.num_domains = check_int("num_domains", num_domains)
        self.seed = check_seed(seed)
        sampler_kwargs.setdefault("show_progress_bar", False)
        for bound in ("min_rollouts", "min_steps"):
            if bound in sampler_kwargs:  # set by each sample() call from the parameter sets
                raise TypeError(
                    f"{bound} is not an option of ParameterExplorationSampler: every call "
                    "samples num_domains * num_init_states_per_domain rollouts per parameter "
                    f"set, got {bound}={sampler_kwargs[bound]!r}"
                )
        self._sampler = ParallelRolloutSampler(
            env, policy, num_workers, min_rollouts=1, seed=seed, **sampler_kwargs
        )
        try:
            self._check_policy()
            self._randomizer = self._find_randomizer()
        except BaseException:
            self._sampler.close()
            raise

    def _check_policy(self) -> None:
        policy = self._sampler.policy
        if not isinstance(policy, ParametricPolicy):
            # An SB3 policy network is a torch module, but as_policy runs anything with
            # predict() through it (its forward returns actions, values and log-probabilities).
            note = (
                "; an object with predict() (an SB3 model or policy network) runs through "
                "predict(), which takes no per-sub-env parameters: pass a torch module whose "
                "forward(obs) returns the actions"
                if isinstance(policy, SB3Policy)
                else ""
            )
            raise TypeError(
                "policy must have a flat parameter vector that can differ per sub-env "
                "(gymsamp.policies.ParametricPolicy, e.g. LinearPolicy or a torch module), got "
                f"{type(policy).__name__}{note}"
            )

    def _find_randomizer(self) -> Any:
        with probing(self._sampler._factory()) as probe:
            wrapper = find_wrapper(probe, DomainRandWrapper)
            return None if wrapper is None else wrapper.randomizer

    @property
    def num_rollouts_per_param(self) -> int:
        """Rollouts per parameter set: ``num_init_states_per_domain * num_domains``."""
        return self.num_init_states_per_domain * self.num_domains

    @property
    def policy(self) -> ParametricPolicy:
        """The (adapted) policy."""
        return self._sampler.policy  # type: ignore[return-value]

    def reinit(self, env: Any = None, policy: Any = None) -> None:
        """Rebuild the sub-envs (optionally from a new env) and/or replace the policy.

        A reinit that raises (e.g. a policy without a flat parameter vector) leaves the
        sampler on its previous env and policy.
        """

        def check() -> None:  # the sampler's last step: what raises here undoes the reinit
            self._check_policy()
            if env is not None:
                self._randomizer = self._find_randomizer()

        self._sampler._checked_reinit(env, policy, check)

    def _domains(self, seed: int, call: int) -> list[dict[str, Any] | None]:
        if self._randomizer is None:
            return [None] * self.num_domains
        rng = rollout_generator(seed, call, _DOMAIN_STREAM)
        return [dict(self._randomizer.sample(rng=rng)) for _ in range(self.num_domains)]

    def _check_domains(self, domains: list[dict[str, Any] | None], call: int) -> None:
        """Refuse drawn domains the env's adapter refuses, before any rollout runs.

        The domains are drawn here, not in the sub-envs, so they can be checked as
        :meth:`ParallelRolloutSampler.check_payloads` checks ``domain_params`` (e.g. a
        negative mass): in a sub-env's reset they surfaced as a ``WorkerError``.
        """
        drawn = [(d, params) for d, params in enumerate(domains) if params]
        if not drawn:
            return
        try:
            self._sampler.check_payloads(
                [{"domain_param": params} for _, params in drawn],
                [("", f"domain {d} drawn by the env's randomizer (call {call})") for d, _ in drawn],
            )
        except (TypeError, ValueError) as err:
            raise type(err)(
                f"{err} (bound the randomizer's distributions, e.g. with clip_lo / clip_up)"
            ) from None

    def _init_states(self, init_states: _InitStates | None) -> list[Any]:
        per_domain = self.num_init_states_per_domain
        if init_states is None:
            return [None] * self.num_rollouts_per_param
        if isinstance(init_states, Mapping) or not hasattr(init_states, "__len__"):
            raise TypeError(
                "init_states must be None or a list of states, got "
                f"{type(init_states).__name__} {init_states!r}"
            )
        try:
            # None: that rollout draws its state by its seeded reset (as in ParallelRolloutSampler);
            # numpy read it as a NaN scalar, refused as "got shape ()".
            states = [None if s is None else np.asarray(s, dtype=np.float64) for s in init_states]
        except (TypeError, ValueError):
            raise TypeError(
                f"init_states must hold arrays of real numbers, got {init_states!r}"
            ) from None
        fixed = [k for k, state in enumerate(states) if state is not None]
        if fixed:
            self._sampler.check_payloads(
                [{"init_state": states[k]} for k in fixed],
                [(f"init_states[{k}]", "") for k in fixed],
            )
        if len(states) == per_domain:  # the same init states in every domain
            return states * self.num_domains
        if len(states) == self.num_rollouts_per_param:  # domain-major, one per pair
            return states
        raise ValueError(
            f"init_states must hold num_init_states_per_domain={per_domain} or "
            f"num_init_states_per_domain * num_domains={self.num_rollouts_per_param} states, "
            f"got {len(states)}"
        )

    def sample(
        self, param_sets: Any, init_states: _InitStates | None = None
    ) -> ParameterSamplingResult:
        """Sample ``num_rollouts_per_param`` rollouts for every parameter set.

        Args:
            param_sets: ``N x P`` parameter sets (numpy array or torch tensor).
            init_states: Fixed initial states: ``num_init_states_per_domain`` of them (used in
                every domain) or one per (domain, init state) pair in domain-major order;
                None draws them by seeded resets under each domain (a None entry: that one).

        Returns:
            One :class:`ParameterSample` per parameter set, rollouts in pair order.

        Raises:
            ValueError / TypeError: A drawn domain holds a value the env's adapter refuses
                (e.g. a negative mass), where the adapter can tell without an env; nothing
                runs then.
            WorkerError: A sub-env failed. Its ``rollout_indices`` number this call's rollouts
                parameter-set-major: rollout ``k`` is parameter set ``k //
                num_rollouts_per_param`` on pair ``k % num_rollouts_per_param``.
        """
        num_params = self.policy.num_params
        params = _param_sets(param_sets, num_params)
        if params.ndim != 2 or params.shape[1] != num_params or params.shape[0] < 1:
            raise ValueError(
                f"param_sets must have shape (N, {num_params}) with N >= 1, got {params.shape}"
            )
        if not np.isfinite(params).all():
            bad = tuple(int(i) for i in np.argwhere(~np.isfinite(params))[0])
            raise ValueError(f"param_sets must be finite, got {params[bad]} at index {bad}")
        call = self._sampler._sample_count
        # One base seed for the whole call (fresh entropy for seed=None): every parameter set
        # sees the same domains and the same seeded resets (common random numbers).
        seed = call_seed(self.seed)
        domains = self._domains(seed, call)
        self._check_domains(domains, call)
        states = self._init_states(init_states)
        pairs = self.num_rollouts_per_param

        def make_job(k: int) -> RolloutJob:
            p, i = divmod(k, pairs)
            options: dict[str, Any] = {}
            if domains[i // self.num_init_states_per_domain] is not None:
                options["domain_param"] = domains[i // self.num_init_states_per_domain]
            if states[i] is not None:
                options["init_state"] = states[i]
            return RolloutJob.seeded(
                k,
                seed,
                call,
                i,
                options=options or None,
                policy_params=params[p],
                info={"param_set_index": p, "domain_index": i // self.num_init_states_per_domain},
            )

        rollouts = self._sampler.sample_jobs(
            Quota(min_rollouts=len(params) * pairs), make_job, eval=True
        )
        return ParameterSamplingResult(
            [
                ParameterSample(
                    params=_own_row(param_sets, params, p),
                    rollouts=rollouts[p * pairs : (p + 1) * pairs],
                )
                for p in range(len(params))
            ]
        )

    def close(self) -> None:
        """End the sub-envs and worker processes."""
        self._sampler.close()

    def __repr__(self) -> str:
        return (
            f"ParameterExplorationSampler(env={self._sampler.env_id!r}, "
            f"num_init_states_per_domain={self.num_init_states_per_domain}, "
            f"num_domains={self.num_domains}, num_workers={self._sampler.num_workers}, "
            f"seed={self.seed}, randomized={self._randomizer is not None})"
        )

    def __reduce__(self) -> Any:
        raise TypeError(not_picklable(type(self).__name__))


def _own_row(param_sets: Any, params: np.ndarray, p: int) -> Any:
    """Row ``p`` of the caller's ``param_sets`` as a copy of its own type (a torch tensor or a
    numpy array; ``params``' float64 row for anything else), not a view: a training loop that
    refills one buffer every iteration would find every earlier result's parameters changed.

    Only a tensor or an array is indexed: ``param_sets[p]`` of a DataFrame is a column (a
    KeyError for named ones, after the whole call had run), of an ``np.matrix`` a 2-D row.
    """
    if is_tensor(param_sets):
        return param_sets[p].clone()  # keeps autograd's link to param_sets, not its memory
    if isinstance(param_sets, np.ndarray):
        return np.array(np.asarray(param_sets)[p])
    return params[p].copy()


def _param_sets(param_sets: Any, num_params: int) -> np.ndarray:
    """``param_sets`` as a float64 array, refusing what is no table of real numbers."""
    try:
        raw = np.asarray(to_format(param_sets, "numpy"))
    except (TypeError, ValueError):  # ragged rows
        raw = None
    if raw is None or raw.dtype.kind not in "biuf":
        raise TypeError(
            f"param_sets must be an (N, {num_params}) array of real numbers, got "
            f"{reprlib.repr(param_sets)}"
        )
    return raw.astype(np.float64)
