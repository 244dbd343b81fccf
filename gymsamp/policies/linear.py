"""A linear policy with one flat parameter vector per sub-env: :class:`LinearPolicy`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

import gymnasium as gym
import numpy as np
import numpy.typing as npt
from gymnasium.spaces import Box

from gymsamp._checks import check_bool, is_int
from gymsamp.data.spec import EnvSpec
from gymsamp.policies._shared import (
    _check_env_params,
    _check_flat_params,
    _check_observation_shape,
    _EnvRngs,
    _forget_env_params,
    _real_params,
)
from gymsamp.policies.base import PolicyStep

if TYPE_CHECKING:
    pass

__all__ = ["LinearPolicy"]


class LinearPolicy:
    """Linear actions ``a = W @ obs_flat + b`` with true per-sub-env parameters.

    Implements :class:`~gymsamp.policies.base.ParametricPolicy`. The flat parameter vector is
    ``W`` in row-major order (``W`` has shape ``(act_dim, obs_dim)``, so entry ``(i, j)`` sits at
    position ``i * obs_dim + j``) followed by ``b`` (``act_dim`` entries, absent when
    ``use_bias=False``), so ``num_params = act_dim * obs_dim (+ act_dim)``.

    :meth:`set_env_params` gives sub-envs their own parameters; the others use
    :attr:`param_values`. Each sub-env's action is computed by the same batched ``einsum`` over
    per-env weight matrices whichever parameters it uses, so a sub-env running parameters
    ``p`` gives bit-identical actions to a policy whose :attr:`param_values` are ``p``.
    Per-env parameters last until :meth:`clear_env_params` or the next :meth:`start`, so a
    parameter-exploration run never leaks into later sampling with the same policy.

    Computation is in float64; actions are returned in the action space's dtype when built
    from an :class:`~gymsamp.data.EnvSpec`, else as float64, with shape ``(B, *action_shape)``.

    Args:
        spec: An :class:`~gymsamp.data.EnvSpec` with ``Box`` observation and action spaces
            (observations are flattened), or a pair ``(obs_dim, act_dim)``.
        weight: Initial ``W`` of shape ``(act_dim, obs_dim)``; zeros if None.
        bias: Initial ``b`` of shape ``(act_dim,)``; zeros if None. Must be None when
            ``use_bias`` is False.
        use_bias: Whether the policy has the bias ``b``.

    Example:
        >>> import numpy as np
        >>> policy = LinearPolicy((3, 2), weight=[[1.0, 0.0, 2.0], [0.0, 1.0, 0.0]],
        ...                       bias=[0.5, -0.5])
        >>> policy.param_values
        array([ 1. ,  0. ,  2. ,  0. ,  1. ,  0. ,  0.5, -0.5])
        >>> policy.start(2, eval=True)
        >>> policy.set_env_params(np.array([1]), np.zeros((1, policy.num_params)))
        >>> policy.act(np.array([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]])).actions
        array([[7.5, 1.5],
               [0. , 0. ]])
    """

    def __init__(
        self,
        spec: EnvSpec | tuple[int, int],
        *,
        weight: npt.ArrayLike | None = None,
        bias: npt.ArrayLike | None = None,
        use_bias: bool = True,
    ) -> None:
        owner = "LinearPolicy"
        self._obs_shape: tuple[int, ...] | None
        if isinstance(spec, EnvSpec):
            obs_space, act_space = spec.observation_space, spec.action_space
            for name, space in (("observation_space", obs_space), ("action_space", act_space)):
                if not isinstance(space, gym.spaces.Box):
                    raise TypeError(f"{owner}: spec.{name} must be a Box, got {space!r}")
            obs_space, act_space = cast(Box, obs_space), cast(Box, act_space)
            self._obs_shape = tuple(obs_space.shape)
            self._act_shape: tuple[int, ...] = tuple(act_space.shape)
            self._dtype: np.dtype[Any] = np.dtype(act_space.dtype)
            obs_dim, act_dim = int(np.prod(obs_space.shape)), int(np.prod(act_space.shape))
        elif isinstance(spec, tuple) and len(spec) == 2:
            obs_dim, act_dim = spec
            for dim in (obs_dim, act_dim):
                if not is_int(dim) or dim < 1:
                    raise (ValueError if is_int(dim) else TypeError)(
                        f"{owner}: spec must be an EnvSpec or a pair (obs_dim, act_dim) of "
                        f"ints >= 1, got {spec!r}"
                    )
            obs_dim, act_dim = int(obs_dim), int(act_dim)
            self._obs_shape = None
            self._act_shape = (act_dim,)
            self._dtype = np.dtype(np.float64)
        else:
            raise TypeError(
                f"{owner}: spec must be an EnvSpec or a pair (obs_dim, act_dim), got {spec!r}"
            )
        use_bias = check_bool(f"{owner}: use_bias", use_bias)
        if bias is not None and not use_bias:
            raise ValueError(f"{owner}: bias must be None when use_bias is False, got {bias!r}")
        self.obs_dim, self.act_dim, self.use_bias = obs_dim, act_dim, use_bias
        w = (
            np.zeros((act_dim, obs_dim))
            if weight is None
            else _real_params(weight, "weight", owner)
        )
        if w.shape != (act_dim, obs_dim):
            raise ValueError(
                f"{owner}: weight has shape {w.shape} but must have {(act_dim, obs_dim)} "
                "(act_dim, obs_dim)"
            )
        parts = [w.ravel()]
        if use_bias:
            b = np.zeros(act_dim) if bias is None else _real_params(bias, "bias", owner)
            if b.shape != (act_dim,):
                raise ValueError(
                    f"{owner}: bias has shape {b.shape} but must have {(act_dim,)} (act_dim,)"
                )
            parts.append(b)
        self._params = np.concatenate(parts)
        self._env_params: dict[int, np.ndarray] = {}
        self._rngs = _EnvRngs(owner)

    def __repr__(self) -> str:
        return (
            f"LinearPolicy(obs_dim={self.obs_dim}, act_dim={self.act_dim}, "
            f"use_bias={self.use_bias})"
        )

    @property
    def num_params(self) -> int:
        """Length of the flat parameter vector: ``act_dim * obs_dim (+ act_dim)``."""
        return len(self._params)

    @property
    def param_values(self) -> np.ndarray:
        """A copy of the flat parameters ``[W.ravel() (row-major), b]`` (float64)."""
        return self._params.copy()

    @param_values.setter
    def param_values(self, values: np.ndarray) -> None:
        self._params = _check_flat_params(values, self.num_params, "param_values", "LinearPolicy")

    @property
    def weight(self) -> np.ndarray:
        """A copy of ``W``, shape ``(act_dim, obs_dim)``."""
        split = self.act_dim * self.obs_dim
        return self._params[:split].reshape(self.act_dim, self.obs_dim).copy()

    @property
    def bias(self) -> np.ndarray | None:
        """A copy of ``b``, shape ``(act_dim,)``, or None without bias."""
        return self._params[self.act_dim * self.obs_dim :].copy() if self.use_bias else None

    def set_env_params(self, env_indices: np.ndarray, params: np.ndarray) -> None:
        """Use ``params[j]`` (flat, same layout as :attr:`param_values`) in ``env_indices[j]``."""
        indices, array = _check_env_params(
            env_indices, params, self.num_params, self._rngs.num_envs, "LinearPolicy"
        )
        for index, row in zip(indices, array, strict=True):
            self._env_params[int(index)] = row.copy()

    def clear_env_params(self, env_indices: np.ndarray | None = None) -> None:
        """Make ``env_indices`` (all sub-envs if None) use :attr:`param_values` again."""
        _forget_env_params(self._env_params, env_indices)

    def start(self, num_envs: int, *, eval: bool) -> None:
        """Begin a collection over ``num_envs`` sub-envs (per-env parameters are cleared)."""
        self._rngs.start(num_envs)
        self.clear_env_params()

    def reset_envs(self, env_indices: np.ndarray, rngs: Sequence[np.random.Generator]) -> None:
        """Nothing to reset (the generators are checked but not used)."""
        self._rngs.reset(env_indices, rngs)

    def act(self, observations: np.ndarray) -> PolicyStep:
        """Actions ``W_i @ obs_flat_i + b_i`` for every sub-env ``i``."""
        batch = self._rngs.check_batch(observations)
        if self._obs_shape is not None:
            obs = _check_observation_shape(observations, self._obs_shape, batch, "LinearPolicy")
        else:
            obs = np.asarray(observations)
        flat = obs.reshape(batch, -1).astype(np.float64, copy=False)
        if flat.shape[1] != self.obs_dim:
            raise ValueError(
                f"LinearPolicy: observations flatten to {flat.shape[1]} features per sub-env "
                f"but must have obs_dim={self.obs_dim}"
            )
        params = np.broadcast_to(self._params, (batch, self.num_params))
        own = [index for index in self._env_params if index < batch]
        if own:
            params = params.copy()
            for index in own:
                params[index] = self._env_params[index]
        split = self.act_dim * self.obs_dim
        weights = params[:, :split].reshape(batch, self.act_dim, self.obs_dim)
        actions = np.einsum("bij,bj->bi", weights, flat)
        if self.use_bias:
            actions = actions + params[:, split:]
        actions = actions.reshape(batch, *self._act_shape).astype(self._dtype, copy=False)
        return PolicyStep(actions, {})
