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
from typing import Any, NamedTuple, Protocol, runtime_checkable

import numpy as np

__all__ = ["ParametricPolicy", "Policy", "PolicyStep"]


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
        policy.act(observations) -> PolicyStep     # once per vector step, all B sub-envs

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
        sub-env ``env_indices[j]`` until its next reset.
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
