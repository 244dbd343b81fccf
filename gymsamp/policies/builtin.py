"""Built-in policies: random, idle, playback, and Gaussian exploration noise.

Every policy here follows the call order of :class:`~gymsamp.policies.base.Policy`:
``start(num_envs, eval=...)`` once per collection, ``reset_envs(indices, rngs)`` whenever
episodes start, ``act(observations)`` once per vector step with all ``B`` sub-envs.

Randomness: the stochastic policies (:class:`RandomPolicy`, :class:`GaussianActionNoise`) draw
only from the ``numpy.random.Generator`` that ``reset_envs`` handed to each sub-env, and each
sub-env draws from its own generator. An episode's actions therefore depend only on its own
generator, never on how many sub-envs run or on what the other sub-envs do. Sub-envs that have
not been reset since ``start`` (idle ones) draw from a fallback ``np.random.default_rng(0)``
created at ``start``; their actions are ignored by the collection loop.
The linear policy is in :mod:`gymsamp.policies.linear`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

import gymnasium as gym
import numpy as np
import numpy.typing as npt

from gymsamp.policies._shared import (
    _check_action_space,
    _EnvRngs,
)
from gymsamp.policies.base import Policy, PolicyStep, is_rollout_indexed

if TYPE_CHECKING:
    pass

__all__ = ["GaussianActionNoise", "IdlePolicy", "PlaybackPolicy", "RandomPolicy"]


# ----------------------------------------------------------------------------------------------
# RandomPolicy and IdlePolicy
# ----------------------------------------------------------------------------------------------


def _sample_box(space: gym.spaces.Box, rng: np.random.Generator) -> np.ndarray:
    """Draw like ``Box.sample()`` (uniform / exponential / normal by boundedness) from ``rng``."""
    low = space.low.astype(np.float64)
    high = space.high.astype(np.float64)
    is_float = space.dtype.kind == "f"
    if not is_float:  # integer boxes: sample [low, high + 1) and floor, as gymnasium does
        high = high + 1.0
    below, above = space.bounded_below, space.bounded_above
    sample = np.empty(space.shape, dtype=np.float64)
    bounded = below & above
    sample[bounded] = rng.uniform(low[bounded], high[bounded])
    low_only = below & ~above
    sample[low_only] = low[low_only] + rng.exponential(size=int(low_only.sum()))
    high_only = ~below & above
    sample[high_only] = high[high_only] - rng.exponential(size=int(high_only.sum()))
    unbounded = ~below & ~above
    sample[unbounded] = rng.normal(size=int(unbounded.sum()))
    if not is_float:
        sample = np.clip(np.floor(sample), space.low, space.high)
    return sample.astype(space.dtype)


class RandomPolicy:
    """Uniformly random actions, drawn from each sub-env's own per-episode generator.

    Each call of :meth:`act` draws exactly one action per sub-env from that sub-env's generator
    (see the module docstring), so an episode's actions depend only on its own generator.
    ``Box`` spaces are sampled like ``Box.sample()`` (uniform where bounded on both sides,
    shifted exponential where bounded on one side, standard normal where unbounded);
    ``Discrete``, ``MultiDiscrete`` and ``MultiBinary`` uniformly over their values.

    Args:
        action_space: A ``Box``, ``Discrete``, ``MultiDiscrete`` or ``MultiBinary`` space.

    Example:
        >>> import numpy as np
        >>> from gymnasium.spaces import Box
        >>> policy = RandomPolicy(Box(-1.0, 1.0, shape=(2,)))
        >>> policy.start(3, eval=True)
        >>> policy.reset_envs(np.array([0, 1, 2]), [np.random.default_rng(s) for s in (7, 8, 9)])
        >>> step = policy.act(np.zeros((3, 4)))
        >>> step.actions.shape, step.actions.dtype, bool(np.all(np.abs(step.actions) <= 1))
        ((3, 2), dtype('float32'), True)
    """

    _SUPPORTED = (
        gym.spaces.Box,
        gym.spaces.Discrete,
        gym.spaces.MultiDiscrete,
        gym.spaces.MultiBinary,
    )

    def __init__(self, action_space: gym.Space[Any]) -> None:
        _check_action_space(action_space, self._SUPPORTED, "RandomPolicy")
        self.action_space = action_space
        self._rngs = _EnvRngs("RandomPolicy")

    def __repr__(self) -> str:
        return f"RandomPolicy({self.action_space!r})"

    def start(self, num_envs: int, *, eval: bool) -> None:
        """Begin a collection; every sub-env draws from the fallback generator until reset."""
        self._rngs.start(num_envs)

    def reset_envs(self, env_indices: np.ndarray, rngs: Sequence[np.random.Generator]) -> None:
        """Make ``rngs[j]`` the generator of sub-env ``env_indices[j]``."""
        self._rngs.reset(env_indices, rngs)

    def _sample(self, rng: np.random.Generator) -> Any:
        space = self.action_space
        if isinstance(space, gym.spaces.Box):
            return _sample_box(space, rng)
        if isinstance(space, gym.spaces.Discrete):
            return space.start + rng.integers(space.n)
        if isinstance(space, gym.spaces.MultiDiscrete):
            return space.start + rng.integers(space.nvec)
        return rng.integers(0, 2, size=space.shape)  # MultiBinary

    def act(self, observations: np.ndarray) -> PolicyStep:
        """One random action per sub-env, shape ``(B, *action_shape)``, in the space's dtype."""
        self._rngs.check_batch(observations)
        space = self.action_space
        actions = np.stack([np.asarray(self._sample(rng)) for rng in self._rngs.rngs])
        return PolicyStep(actions.astype(space.dtype, copy=False), {})


def _idle_action(space: gym.Space[Any]) -> np.ndarray:
    if isinstance(space, gym.spaces.Box):
        return np.clip(np.zeros(space.shape), space.low, space.high).astype(space.dtype)
    if isinstance(space, (gym.spaces.Discrete, gym.spaces.MultiDiscrete)):
        return np.asarray(space.start, dtype=space.dtype)
    binary = cast(gym.spaces.MultiBinary, space)
    return np.zeros(binary.shape, dtype=binary.dtype)


class IdlePolicy:
    """The same "do nothing" action in every sub-env at every step.

    ``Box``: zeros clipped into ``[low, high]``; ``Discrete`` and ``MultiDiscrete``: the
    space's ``start`` (0 unless the space says otherwise); ``MultiBinary``: zeros.

    Args:
        action_space: A ``Box``, ``Discrete``, ``MultiDiscrete`` or ``MultiBinary`` space.

    Example:
        >>> import numpy as np
        >>> from gymnasium.spaces import Box
        >>> low, high = np.array([-1.0, 0.5], np.float32), np.array([1.0, 2.0], np.float32)
        >>> policy = IdlePolicy(Box(low=low, high=high))
        >>> policy.start(2, eval=True)
        >>> policy.act(np.zeros((2, 3))).actions
        array([[0. , 0.5],
               [0. , 0.5]], dtype=float32)
    """

    def __init__(self, action_space: gym.Space[Any]) -> None:
        _check_action_space(action_space, RandomPolicy._SUPPORTED, "IdlePolicy")
        self.action_space = action_space
        self._action = _idle_action(action_space)
        self._rngs = _EnvRngs("IdlePolicy")

    def __repr__(self) -> str:
        return f"IdlePolicy({self.action_space!r})"

    def start(self, num_envs: int, *, eval: bool) -> None:
        """Begin a collection over ``num_envs`` sub-envs."""
        self._rngs.start(num_envs)

    def reset_envs(self, env_indices: np.ndarray, rngs: Sequence[np.random.Generator]) -> None:
        """Nothing to reset (the generators are checked but not used)."""
        self._rngs.reset(env_indices, rngs)

    def act(self, observations: np.ndarray) -> PolicyStep:
        """The idle action for every sub-env, shape ``(B, *action_shape)``."""
        batch = self._rngs.check_batch(observations)
        actions = np.broadcast_to(self._action, (batch, *self._action.shape)).copy()
        return PolicyStep(actions, {})


# ----------------------------------------------------------------------------------------------
# PlaybackPolicy
# ----------------------------------------------------------------------------------------------


class PlaybackPolicy:
    """Replays recorded action sequences, one recording per episode.

    Assignment rule: rollout ``k`` of a collection (0-based, its index in the result; ``k =
    sub_sub_seed`` for ``rollout()``) replays recording ``k mod n`` from its first action,
    whichever sub-env runs it (:meth:`start_rollouts`, which the collection loop calls). Driven
    by hand without :meth:`start_rollouts`, the ``k``-th episode started since :meth:`start`
    (in the order :meth:`reset_envs` reports them) replays recording ``k mod n``.

    Running past the end: the policy cannot tell an active sub-env from an idle one (the loop
    asks it for actions of all sub-envs, including finished ones whose actions it ignores), so
    it cannot raise when a recording runs out. Instead it repeats the recording's last action
    and reports ``agent_infos["playback_exhausted"]``, a ``(B,)`` bool array that is True where
    the action did not come from a recording (past its end, or a sub-env not reset since
    :meth:`start`, which gets the first action of recording 0). An episode that ran longer than
    its recording therefore shows ``playback_exhausted`` True in its recorded agent infos.

    Args:
        actions_per_rollout: A list of action arrays, each of shape ``(T_k, *action_shape)``
            with ``T_k >= 1``, or a single such array (replayed in every episode).

    Example:
        >>> import numpy as np
        >>> policy = PlaybackPolicy([np.array([0, 1, 1]), np.array([1, 0, 0])])
        >>> policy.start(2, eval=True)
        >>> policy.reset_envs(np.array([0, 1]), [np.random.default_rng(0)] * 2)
        >>> policy.act(np.zeros((2, 4))).actions, policy.act(np.zeros((2, 4))).actions
        (array([0, 1]), array([1, 0]))
    """

    def __init__(self, actions_per_rollout: Sequence[npt.ArrayLike] | np.ndarray) -> None:
        owner = "PlaybackPolicy"
        if isinstance(actions_per_rollout, np.ndarray):
            recordings = [actions_per_rollout]
        elif isinstance(actions_per_rollout, Sequence) and not isinstance(
            actions_per_rollout, (str, bytes)
        ):
            recordings = [np.asarray(rec) for rec in actions_per_rollout]
        else:
            raise TypeError(
                f"{owner}: actions_per_rollout must be a list of arrays or an array, "
                f"got {type(actions_per_rollout).__name__}"
            )
        if not recordings:
            raise ValueError(f"{owner}: actions_per_rollout must hold at least one recording")
        for k, rec in enumerate(recordings):
            if rec.ndim < 1 or len(rec) < 1:
                raise ValueError(
                    f"{owner}: actions_per_rollout[{k}] must have shape (T, *action_shape) "
                    f"with T >= 1, got shape {rec.shape}"
                )
            if rec.shape[1:] != recordings[0].shape[1:]:
                raise ValueError(
                    f"{owner}: actions_per_rollout[{k}] has action shape {rec.shape[1:]} but "
                    f"must have {recordings[0].shape[1:]} to match actions_per_rollout[0]"
                )
        dtype = np.result_type(*recordings)
        self.recordings: list[np.ndarray] = [rec.astype(dtype, copy=True) for rec in recordings]
        self._rngs = _EnvRngs(owner)
        self._assigned: list[int] = []
        self._steps: list[int] = []
        self._episodes_started = 0

    def __repr__(self) -> str:
        lengths = [len(rec) for rec in self.recordings]
        return f"PlaybackPolicy(num_recordings={len(lengths)}, lengths={lengths})"

    @property
    def num_recordings(self) -> int:
        """Number of recorded action sequences."""
        return len(self.recordings)

    def start(self, num_envs: int, *, eval: bool) -> None:
        """Begin a collection; the next episode started replays recording 0."""
        self._rngs.start(num_envs)
        self._assigned = [-1] * int(num_envs)
        self._steps = [0] * int(num_envs)
        self._episodes_started = 0

    def reset_envs(self, env_indices: np.ndarray, rngs: Sequence[np.random.Generator]) -> None:
        """Assign the next recordings (in ``env_indices`` order) to the new episodes."""
        indices = self._rngs.reset(env_indices, rngs)
        for index in indices:
            self._assigned[int(index)] = self._episodes_started % self.num_recordings
            self._steps[int(index)] = 0
            self._episodes_started += 1

    def start_rollouts(self, env_indices: np.ndarray, rollout_indices: np.ndarray) -> None:
        """Rollout ``rollout_indices[j]`` replays recording ``rollout_indices[j] mod n`` in
        sub-env ``env_indices[j]``."""
        for index, k in zip(
            np.asarray(env_indices).tolist(), np.asarray(rollout_indices).tolist(), strict=True
        ):
            self._assigned[index] = int(k) % self.num_recordings
            self._steps[index] = 0

    def act(self, observations: np.ndarray) -> PolicyStep:
        """The next recorded action of every sub-env (see the class docstring for overruns)."""
        batch = self._rngs.check_batch(observations)
        actions = []
        exhausted = np.zeros(batch, dtype=bool)
        for i in range(batch):
            k, t = self._assigned[i], self._steps[i]
            if k < 0:
                actions.append(self.recordings[0][0])
                exhausted[i] = True
                continue
            rec = self.recordings[k]
            if t >= len(rec):
                exhausted[i] = True
            actions.append(rec[min(t, len(rec) - 1)])
            self._steps[i] = t + 1
        return PolicyStep(np.stack(actions), {"playback_exhausted": exhausted})


# ----------------------------------------------------------------------------------------------
# GaussianActionNoise
# ----------------------------------------------------------------------------------------------


class GaussianActionNoise:
    """Adds ``N(0, std**2)`` noise to the actions of any policy, per sub-env and episode.

    The wrapper forwards :meth:`start` and :meth:`reset_envs` to the inner policy and shares
    the per-episode generators with it: at each step the inner policy draws first, then the
    noise of sub-env ``i`` is drawn from sub-env ``i``'s generator (``std * standard_normal``),
    so the noise of an episode depends only on its own generator. The noisy action keeps the
    inner action's floating-point dtype; it is not clipped (the collection loop clips).

    The inner policy's ``agent_infos`` pass through; the noise added is recorded under
    ``agent_infos[info_key]`` (shape ``(B, *action_shape)``) unless ``info_key`` is None.

    Args:
        policy: Any :class:`~gymsamp.policies.base.Policy` with floating-point actions.
        std: Noise standard deviation, a float >= 0 or an array of them broadcastable to
            the action shape.
        info_key: Agent-info key for the noise, or None not to record it. It must not clash
            with a key of the inner policy's agent infos.

    Example:
        >>> import numpy as np
        >>> from gymnasium.spaces import Box
        >>> policy = GaussianActionNoise(IdlePolicy(Box(-1.0, 1.0, shape=(2,))), std=0.1)
        >>> policy.start(1, eval=False)
        >>> policy.reset_envs(np.array([0]), [np.random.default_rng(0)])
        >>> step = policy.act(np.zeros((1, 3)))
        >>> bool(np.allclose(step.actions, step.agent_infos["noise"]))
        True
        >>> bool(np.allclose(step.actions, 0.1 * np.random.default_rng(0).standard_normal(2)))
        True
    """

    def __init__(
        self, policy: Policy, std: float | npt.ArrayLike, *, info_key: str | None = "noise"
    ) -> None:
        owner = "GaussianActionNoise"
        for method in ("start", "reset_envs", "act"):
            if not callable(getattr(policy, method, None)):
                raise TypeError(
                    f"{owner}: policy must be a gymsamp Policy (start, reset_envs, act); "
                    f"got {type(policy).__name__} without {method}(); use as_policy() first"
                )
        if info_key is not None and not isinstance(info_key, str):
            raise TypeError(f"{owner}: info_key must be a str or None, got {info_key!r}")
        self.policy = policy
        self.std = std
        self.info_key = info_key
        self._rngs = _EnvRngs(owner)

    @property
    def std(self) -> np.ndarray:
        """The noise's standard deviation (a float64 array); set it between calls to anneal
        the exploration (a float >= 0 or an array of them, checked as in the constructor)."""
        return self._std

    @std.setter
    def std(self, std: float | npt.ArrayLike) -> None:
        try:
            # A bool (True: "add noise") is no standard deviation.
            if np.asarray(std).dtype.kind not in "iuf":
                raise TypeError
            # A copy: the caller's array changing later must not change the noise.
            std_array = np.array(std, dtype=np.float64)
        except (TypeError, ValueError):
            raise TypeError(
                f"GaussianActionNoise: std must be a float >= 0 or an array of them, got {std!r}"
            ) from None
        if not np.all(np.isfinite(std_array)) or np.any(std_array < 0):
            raise ValueError(f"GaussianActionNoise: std must be finite and >= 0, got {std!r}")
        self._std = std_array

    def __repr__(self) -> str:
        return f"GaussianActionNoise({self.policy!r}, std={self.std.tolist()!r})"

    def start(self, num_envs: int, *, eval: bool) -> None:
        """Begin a collection (forwarded to the inner policy)."""
        self._rngs.start(num_envs)
        self.policy.start(num_envs, eval=eval)

    def reset_envs(self, env_indices: np.ndarray, rngs: Sequence[np.random.Generator]) -> None:
        """New episodes: store their generators and forward them to the inner policy."""
        self._rngs.reset(env_indices, rngs)
        self.policy.reset_envs(env_indices, rngs)

    def start_rollouts(self, env_indices: np.ndarray, rollout_indices: np.ndarray) -> None:
        """Forwarded to the inner policy, if it is a rollout-indexed one."""
        if is_rollout_indexed(self.policy):
            self.policy.start_rollouts(env_indices, rollout_indices)

    def act(self, observations: np.ndarray) -> PolicyStep:
        """The inner policy's actions plus per-sub-env Gaussian noise."""
        self._rngs.check_batch(observations)
        inner = self.policy.act(observations)
        actions = np.asarray(inner.actions)
        if actions.dtype.kind != "f":
            raise TypeError(
                f"GaussianActionNoise: the inner policy {self.policy!r} must return "
                f"floating-point actions, got dtype {actions.dtype}"
            )
        act_shape = actions.shape[1:]
        try:
            std = np.broadcast_to(self.std, act_shape)
        except ValueError:
            raise ValueError(
                f"GaussianActionNoise: std has shape {self.std.shape} but must be "
                f"broadcastable to the action shape {act_shape}"
            ) from None
        noise = np.stack([std * rng.standard_normal(act_shape) for rng in self._rngs.rngs])
        infos = dict(inner.agent_infos)
        if self.info_key is not None:
            if self.info_key in infos:
                raise ValueError(
                    f"GaussianActionNoise: info_key {self.info_key!r} clashes with a key of "
                    f"the inner policy's agent_infos {sorted(infos)}; choose another info_key"
                )
            infos[self.info_key] = noise
        noisy = (actions.astype(np.float64) + noise).astype(actions.dtype, copy=False)
        return PolicyStep(noisy, infos)
