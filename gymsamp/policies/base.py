"""The policy protocol the collection loop drives (DESIGN §5).

The loop runs the policy once per vector step, in the parent process, batched over all
sub-envs. Around that it tells the policy when a collection starts and when episodes start in
which sub-envs, handing each new episode its own ``numpy.random.Generator`` (derived from the
rollout's seed triple), so stochastic policies are reproducible per rollout whatever the
number of workers. Anything can become a :class:`Policy` through
:func:`gymsamp.policies.as_policy`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple, Protocol, TypeGuard, runtime_checkable

import numpy as np

__all__ = [
    "LazyGenerators",
    "ParametricPolicy",
    "Policy",
    "PolicyStep",
    "is_policy",
    "is_rollout_indexed",
]


class LazyGenerators(Sequence[np.random.Generator]):
    """Base of ``rngs`` sequences whose generators are made when first read (the collection
    loop's: a seeded generator costs about as much as a cheap env's reset).

    gymsamp's policies keep such a sequence unread until they draw; any other ``rngs`` (a
    list, a tuple, a generator expression) is read and checked in ``reset_envs``.

    Example:
        >>> class SeededGenerators(LazyGenerators):  # a generator per seed, made on demand
        ...     def __init__(self, seeds):
        ...         self.seeds = seeds
        ...     def __len__(self):
        ...         return len(self.seeds)
        ...     def __getitem__(self, i):
        ...         return np.random.default_rng(self.seeds[i])
        >>> rngs = SeededGenerators([7, 8])
        >>> len(rngs), rngs[1].integers(100) == np.random.default_rng(8).integers(100)
        (2, np.True_)
    """


class PolicyStep(NamedTuple):
    """The output of :meth:`Policy.act` for a batch of ``B`` sub-envs.

    Example:
        >>> step = PolicyStep(actions=np.zeros((2, 1)), agent_infos={})
        >>> step.actions.shape
        (2, 1)
    """

    #: Actions, shape ``(B, *action_shape)``.
    actions: np.ndarray
    #: Per-step agent information, each value of shape ``(B, ...)`` (possibly nested dicts),
    #: e.g. ``{"hidden_states": h}`` with the hidden state *before* this step.
    agent_infos: dict[str, Any]


@runtime_checkable
class Policy(Protocol):
    """Maps a batch of observations to a batch of actions, with per-episode state and RNGs.

    Call order used by the collection loop::

        policy.start(num_envs, eval=...)           # once per collection
        policy.reset_envs(indices, rngs)           # whenever episodes start in some sub-envs
        policy.start_rollouts(indices, rollouts)   # then, only if the policy has the method
        policy.act(observations) -> PolicyStep     # once per vector step, all B sub-envs

    ``start_rollouts`` (:class:`RolloutIndexedPolicy`) tells a policy which rollouts of the
    collection start, for policies whose behaviour depends on the rollout itself (e.g.
    :class:`~gymsamp.policies.PlaybackPolicy` replays recording ``k mod n`` in rollout ``k``),
    so that it never depends on which sub-env runs it, or when.

    Example:
        >>> from gymsamp.policies import RandomPolicy
        >>> import gymnasium as gym
        >>> policy = RandomPolicy(gym.spaces.Discrete(2))
        >>> isinstance(policy, Policy)
        True
        >>> policy.start(2, eval=True)
        >>> rngs = [np.random.default_rng(0), np.random.default_rng(1)]
        >>> policy.reset_envs(np.array([0, 1]), rngs)
        >>> policy.act(np.zeros((2, 4))).actions.shape
        (2,)
    """

    def start(self, num_envs: int, *, eval: bool) -> None:
        """Begin a collection over ``num_envs`` sub-envs.

        Allocates per-sub-env state (e.g. hidden states) and switches torch modules to
        ``.eval()`` if ``eval`` else ``.train()``.
        """
        ...

    def reset_envs(self, env_indices: np.ndarray, rngs: Sequence[np.random.Generator]) -> None:
        """Episodes start in sub-envs ``env_indices``.

        Resets their per-env state and makes ``rngs[j]`` the only source of randomness for
        sub-env ``env_indices[j]`` until its next reset. The collection loop passes a
        :class:`LazyGenerators` whose generators are made when first read: a policy that
        draws nothing need not read them.
        """
        ...

    def act(self, observations: np.ndarray) -> PolicyStep:
        """Actions for the observations ``(B, *obs_shape)`` of all ``B`` sub-envs."""
        ...


@runtime_checkable
class ParametricPolicy(Policy, Protocol):
    """A policy with a flat parameter vector that can run different parameters per sub-env.

    :class:`~gymsamp.sampling.ParameterExplorationSampler` uses this to evaluate several
    parameter sets side by side in one vector step.

    Example:
        >>> from gymsamp.policies import LinearPolicy
        >>> policy = LinearPolicy((2, 1))
        >>> isinstance(policy, ParametricPolicy), policy.num_params
        (True, 3)
    """

    @property
    def param_values(self) -> np.ndarray:
        """The flat parameter vector used by sub-envs without their own parameters."""
        ...

    @param_values.setter
    def param_values(self, values: np.ndarray) -> None: ...

    @property
    def num_params(self) -> int:
        """Length of the flat parameter vector."""
        ...

    def set_env_params(self, env_indices: np.ndarray, params: np.ndarray) -> None:
        """Use ``params[j]`` (a flat vector) in sub-env ``env_indices[j]`` from now on."""
        ...


@runtime_checkable
class RolloutIndexedPolicy(Policy, Protocol):
    """A policy told which rollouts start, by their index ``k`` in the collection's result.

    The collection loop calls :meth:`start_rollouts` right after :meth:`reset_envs`; with it a
    policy can make rollout ``k`` behave the same whichever sub-env runs it, and whenever it
    starts (DESIGN §4: results independent of the number of workers). ``rollout(...,
    sub_sub_seed=k)`` runs rollout ``k``.

    Example:
        >>> from gymsamp.policies import PlaybackPolicy
        >>> policy = PlaybackPolicy([np.array([0, 0]), np.array([1, 1])])
        >>> isinstance(policy, RolloutIndexedPolicy)
        True
        >>> policy.start(1, eval=True)
        >>> policy.reset_envs(np.array([0]), [np.random.default_rng(0)])
        >>> policy.start_rollouts(np.array([0]), np.array([3]))  # rollout 3: recording 3 mod 2
        >>> policy.act(np.zeros((1, 4))).actions
        array([1])
    """

    def start_rollouts(self, env_indices: np.ndarray, rollout_indices: np.ndarray) -> None:
        """Rollouts ``rollout_indices[j]`` start in sub-envs ``env_indices[j]``."""
        ...


def is_policy(obj: Any) -> TypeGuard[Policy]:
    """Whether ``obj`` has the methods of a :class:`Policy` (``start``, ``reset_envs``, ``act``).

    What ``isinstance(obj, Policy)`` decides, without the runtime Protocol check's cost on
    Python 3.11 (~5 us, ~13 us for :class:`RolloutIndexedPolicy`), which ``rollout()`` paid on
    every call.

    Example:
        >>> from gymsamp.policies import IdlePolicy
        >>> import gymnasium as gym
        >>> is_policy(IdlePolicy(gym.spaces.Discrete(2))), is_policy(lambda obs: obs)
        (True, False)
    """
    return all(callable(getattr(obj, name, None)) for name in ("start", "reset_envs", "act"))


def is_rollout_indexed(policy: Any) -> TypeGuard[RolloutIndexedPolicy]:
    """Whether a :class:`Policy` also has :meth:`RolloutIndexedPolicy.start_rollouts` (as
    :func:`is_policy`, for ``isinstance(policy, RolloutIndexedPolicy)``).

    Example:
        >>> from gymsamp.policies import IdlePolicy, PlaybackPolicy
        >>> import gymnasium as gym
        >>> is_rollout_indexed(PlaybackPolicy([np.zeros(1)]))
        True
        >>> is_rollout_indexed(IdlePolicy(gym.spaces.Discrete(2)))
        False
    """
    return is_policy(policy) and callable(getattr(policy, "start_rollouts", None))
