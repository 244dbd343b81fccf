"""Adapters that turn user objects into policies: :func:`as_policy` and its three adapters.

=================================================  ===============================================
user object                                        adapter
=================================================  ===============================================
anything with ``start``, ``reset_envs``, ``act``   returned unchanged (it is a :class:`Policy`)
anything with SB3's ``predict(observation, state,  :class:`SB3Policy` (SB3 / sb3-contrib models and
episode_start, deterministic)``                    their policies, including ``RecurrentPPO``)
a ``torch.nn.Module``                              :class:`TorchPolicy` (optionally recurrent)
a callable on numpy batches                        :class:`CallablePolicy`
=================================================  ===============================================

Torch and stable-baselines3 are imported only when an adapter that needs them runs.

Torch's global generator: :class:`TorchPolicy` and :class:`SB3Policy` run the model inside
``torch.random.fork_rng``, seeded with one value combined from one draw of every sub-env's
per-episode generator. A model that samples from torch's global generator (SB3 with
``deterministic=False``, dropout in train mode) is therefore reproducible, and gymsamp never
disturbs or depends on the global torch RNG state. Because the seed mixes all sub-envs, such
stochastic models are reproducible only for a fixed number of sub-envs (and a fixed order of
episode starts), unlike gymsamp's own stochastic policies.
"""

from __future__ import annotations

import contextlib
import inspect
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from gymsamp.data.data_format import is_tensor
from gymsamp.data.spec import EnvSpec
from gymsamp.policies.base import Policy, PolicyStep
from gymsamp.policies.builtin import _check_observation_shape, _EnvRngs

if TYPE_CHECKING:
    import torch

__all__ = ["CallablePolicy", "SB3Policy", "TorchPolicy", "as_policy"]


# ----------------------------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------------------------


def _check_spec(spec: Any, owner: str) -> EnvSpec:
    if not isinstance(spec, EnvSpec):
        raise TypeError(f"{owner}: spec must be a gymsamp.data.EnvSpec, got {type(spec).__name__}")
    return spec


def _to_numpy(value: Any) -> np.ndarray:
    """A fresh numpy copy (never a view of a tensor or array the caller may reuse)."""
    if is_tensor(value):
        return value.detach().cpu().numpy().copy()
    return np.array(value)


def _tree_map(fn: Callable[..., Any], *trees: Any) -> Any:
    """Map ``fn`` over the leaves of tensors or (nested) tuples/lists of them."""
    first = trees[0]
    if isinstance(first, (tuple, list)):
        return type(first)(_tree_map(fn, *parts) for parts in zip(*trees, strict=True))
    return fn(*trees)


def _observations(observations: Any, spec: EnvSpec, batch: int, owner: str) -> Any:
    """Check array observations against the observation space; dict/tuple ones pass as is."""
    obs_shape = spec.observation_space.shape
    if obs_shape is None:
        return observations
    return _check_observation_shape(observations, tuple(obs_shape), batch, owner)


def _check_actions(actions: Any, spec: EnvSpec, batch: int, owner: str) -> np.ndarray:
    array = _to_numpy(actions)
    act_shape = spec.action_space.shape
    if act_shape is not None and array.shape != (batch, *act_shape):
        raise ValueError(
            f"{owner} returned actions of shape {array.shape} but must return "
            f"{(batch, *act_shape)} (B, *action_shape) for B={batch} sub-envs and the action "
            f"space {spec.action_space!r}"
        )
    return array


@contextlib.contextmanager
def _seeded_torch_rng(seed: int, device: torch.device) -> Iterator[None]:
    """Fork torch's global generators (CPU and ``device``) and seed the fork with ``seed``."""
    import torch

    if device.type == "cpu":
        with torch.random.fork_rng(devices=[]):
            torch.default_generator.manual_seed(seed)
            yield
        return
    device_module = torch.get_device_module(device.type)
    index = device.index if device.index is not None else device_module.current_device()
    with torch.random.fork_rng(devices=[index], device_type=device.type):
        torch.default_generator.manual_seed(seed)
        with device_module.device(index):
            device_module.manual_seed(seed)
        yield


# ----------------------------------------------------------------------------------------------
# CallablePolicy
# ----------------------------------------------------------------------------------------------


class CallablePolicy:
    """A plain callable ``fn(observations) -> actions`` on numpy batches, as a policy.

    ``fn`` receives the observations of all ``B`` sub-envs, shape ``(B, *obs_shape)`` (dict or
    tuple observations as the vector env gives them), and must return actions of shape
    ``(B, *action_shape)`` (numpy or anything ``np.asarray`` accepts; torch tensors are
    converted); anything else raises ``ValueError`` naming the policy and both shapes. ``fn``
    has no access to the per-episode generators, so it should be deterministic.

    Args:
        fn: The callable.
        spec: The :class:`~gymsamp.data.EnvSpec` of the environment.
        name: Name used in error messages; ``fn``'s qualified name if None.

    Example:
        >>> import numpy as np
        >>> import gymnasium as gym
        >>> from gymsamp.data import EnvSpec
        >>> spec = EnvSpec.from_env(gym.make("CartPole-v1"))
        >>> policy = CallablePolicy(lambda obs: (obs[:, 2] > 0).astype(np.int64), spec)
        >>> policy.start(2, eval=True)
        >>> policy.act(np.array([[0, 0, 0.1, 0], [0, 0, -0.1, 0]], dtype=np.float32)).actions
        array([1, 0])
    """

    def __init__(self, fn: Callable[[Any], Any], spec: EnvSpec, *, name: str | None = None) -> None:
        if not callable(fn):
            raise TypeError(f"CallablePolicy: fn must be callable, got {type(fn).__name__}")
        self.fn = fn
        self.spec = _check_spec(spec, "CallablePolicy")
        self.name = name if name is not None else getattr(fn, "__qualname__", repr(fn))
        self._rngs = _EnvRngs(f"CallablePolicy({self.name})")

    def __repr__(self) -> str:
        return f"CallablePolicy({self.name})"

    def start(self, num_envs: int, *, eval: bool) -> None:
        """Begin a collection over ``num_envs`` sub-envs."""
        self._rngs.start(num_envs)
        obs_shape, act_shape = self.spec.observation_space.shape, self.spec.action_space.shape
        # The shapes every act() must see; checked once here, then compared cheaply per step.
        self._obs_batch = None if obs_shape is None else (num_envs, *obs_shape)
        self._act_batch = None if act_shape is None else (num_envs, *act_shape)

    def reset_envs(self, env_indices: np.ndarray, rngs: Sequence[np.random.Generator]) -> None:
        """Nothing to reset (the generators are checked but not used)."""
        self._rngs.reset(env_indices, rngs)

    def act(self, observations: np.ndarray) -> PolicyStep:
        """``fn(observations)``, checked to have shape ``(B, *action_shape)``."""
        # Fast path (once per vector step): arrays of exactly the expected shapes.
        expected = getattr(self, "_obs_batch", None)
        if (
            expected is None
            or type(observations) is not np.ndarray
            or (observations.shape != expected)
        ):
            batch = self._rngs.check_batch(observations)
            observations = _observations(observations, self.spec, batch, repr(self))
        actions = self.fn(observations)
        if type(actions) is np.ndarray and actions.shape == getattr(self, "_act_batch", None):
            return PolicyStep(actions, {})
        checked = _check_actions(actions, self.spec, len(observations), f"policy {self!r}")
        return PolicyStep(checked, {})


# ----------------------------------------------------------------------------------------------
# TorchPolicy
# ----------------------------------------------------------------------------------------------


class TorchPolicy:
    """A ``torch.nn.Module`` mapping observation batches to action batches, as a policy.

    Observations go in as float32 tensors on the device of the module's parameters; actions
    come back as CPU numpy arrays of shape ``(B, *action_shape)`` (the module must output
    actions, e.g. integer indices for a ``Discrete`` space, not scores). The module runs under
    ``torch.no_grad()`` and inside a seeded ``torch.random.fork_rng`` (see the module docstring);
    :meth:`start` switches it to ``.eval()`` if ``eval`` else ``.train()``.

    Recurrent modules: a module with ``is_recurrent = True`` must define
    ``init_hidden(batch_size) -> Tensor`` (batch dimension first) and
    ``forward(obs, hidden) -> (actions, new_hidden)``. Each sub-env's hidden state is set to
    ``init_hidden`` at its episode start (:meth:`reset_envs`) and the hidden state *before* each
    step is recorded in ``agent_infos["hidden_states"]`` (numpy, ``(B, ...)``).

    Parameters (:class:`~gymsamp.policies.base.ParametricPolicy`): the flat vector is
    ``torch.nn.utils.parameters_to_vector(module.parameters())``. :meth:`set_env_params` gives
    sub-envs their own parameter vectors (until :meth:`clear_env_params` or the next
    :meth:`start`); while any sub-env has its own, :meth:`act` evaluates the module
    functionally (``torch.func.functional_call``), either vectorized over the per-env
    parameters with ``torch.func.vmap`` (``per_env_mode="vmap"``, one batched call; all
    sub-envs, also those on the default parameters, go through it) or once per distinct
    parameter set on the sub-envs using it (``per_env_mode="group"``, for modules vmap cannot
    handle, e.g. batch norm in train mode).

    Args:
        module: The module.
        spec: The :class:`~gymsamp.data.EnvSpec`; its observation space must have a shape.
        per_env_mode: ``"vmap"`` or ``"group"`` (see above).

    Example:
        >>> import numpy as np, torch
        >>> from gymnasium.spaces import Box
        >>> from gymsamp.data import EnvSpec
        >>> linear = torch.nn.Linear(3, 1)
        >>> policy = TorchPolicy(linear, EnvSpec(Box(-1, 1, (3,)), Box(-1, 1, (1,))))
        >>> policy.param_values = np.array([1.0, 2.0, 3.0, 0.5])  # weight (1, 3), then bias
        >>> policy.start(2, eval=True)
        >>> policy.set_env_params(np.array([1]), np.array([[0.0, 0.0, 0.0, -1.0]]))
        >>> policy.act(np.ones((2, 3), dtype=np.float32)).actions
        array([[ 6.5],
               [-1. ]], dtype=float32)
    """

    def __init__(
        self,
        module: torch.nn.Module,
        spec: EnvSpec,
        *,
        per_env_mode: Literal["vmap", "group"] = "vmap",
    ) -> None:
        import torch

        owner = "TorchPolicy"
        if not isinstance(module, torch.nn.Module):
            raise TypeError(f"{owner}: module must be a torch.nn.Module, got {module!r}")
        self.spec = _check_spec(spec, owner)
        if spec.observation_space.shape is None:
            raise TypeError(
                f"{owner}: spec.observation_space must have a shape (array observations), "
                f"got {spec.observation_space!r}"
            )
        if per_env_mode not in ("vmap", "group"):
            raise ValueError(
                f"{owner}: per_env_mode must be 'vmap' or 'group', got {per_env_mode!r}"
            )
        self.is_recurrent = getattr(module, "is_recurrent", False) is True
        if self.is_recurrent and not callable(getattr(module, "init_hidden", None)):
            raise TypeError(
                f"{owner}: module {type(module).__name__} sets is_recurrent = True, so it must "
                "define init_hidden(batch_size) -> Tensor"
            )
        self.module = module
        self.per_env_mode = per_env_mode
        self._env_params: dict[int, torch.Tensor] = {}
        self._hidden: torch.Tensor | None = None
        self._rngs = _EnvRngs(owner)

    def __repr__(self) -> str:
        return f"TorchPolicy({type(self.module).__name__})"

    # -- parameters ------------------------------------------------------------------------

    @property
    def device(self) -> torch.device:
        """The device of the module's first parameter (or buffer); CPU if it has none."""
        import torch

        for tensor in (*self.module.parameters(), *self.module.buffers()):
            return tensor.device
        return torch.device("cpu")

    def _default_vector(self) -> torch.Tensor:
        import torch

        params = list(self.module.parameters())
        if not params:
            return torch.zeros(0, device=self.device)
        return torch.nn.utils.parameters_to_vector(params).detach()

    @property
    def num_params(self) -> int:
        """Number of scalars in ``module.parameters()``."""
        return sum(p.numel() for p in self.module.parameters())

    @property
    def param_values(self) -> np.ndarray:
        """A copy of the flat parameters (``parameters_to_vector`` order, parameter dtype)."""
        return self._default_vector().cpu().numpy().copy()

    @param_values.setter
    def param_values(self, values: np.ndarray) -> None:
        import torch

        vector = self._as_vector(values, "param_values")
        with torch.no_grad():
            offset = 0
            for param in self.module.parameters():
                param.copy_(vector[offset : offset + param.numel()].view_as(param))
                offset += param.numel()

    def _as_vector(self, values: Any, name: str) -> torch.Tensor:
        import torch

        array = np.asarray(values)
        if array.shape != (self.num_params,):
            raise ValueError(
                f"TorchPolicy: {name} must be a flat vector of length "
                f"num_params={self.num_params}, got shape {array.shape}"
            )
        ref = self._default_vector()
        return torch.as_tensor(array, device=ref.device).to(ref.dtype)

    def set_env_params(self, env_indices: np.ndarray, params: np.ndarray) -> None:
        """Use ``params[j]`` (flat, :attr:`param_values` layout) in sub-env ``env_indices[j]``."""
        from gymsamp.policies.builtin import _check_env_params

        indices, array = _check_env_params(
            env_indices, params, self.num_params, self._rngs.num_envs, "TorchPolicy"
        )
        for index, row in zip(indices, array, strict=True):
            self._env_params[int(index)] = self._as_vector(row, "params[j]")

    def clear_env_params(self, env_indices: np.ndarray | None = None) -> None:
        """Make ``env_indices`` (all sub-envs if None) use :attr:`param_values` again."""
        if env_indices is None:
            self._env_params.clear()
            return
        for index in np.asarray(env_indices).ravel():
            self._env_params.pop(int(index), None)

    # -- collection ------------------------------------------------------------------------

    def _init_hidden(self, batch_size: int) -> torch.Tensor:
        import torch

        hidden = self.module.init_hidden(batch_size)  # type: ignore[operator]
        if not isinstance(hidden, torch.Tensor) or hidden.ndim < 1 or len(hidden) != batch_size:
            raise ValueError(
                f"TorchPolicy: {type(self.module).__name__}.init_hidden({batch_size}) must "
                f"return a tensor of shape ({batch_size}, ...), got "
                f"{getattr(hidden, 'shape', type(hidden).__name__)}"
            )
        return hidden.detach().to(self.device)

    def start(self, num_envs: int, *, eval: bool) -> None:
        """Begin a collection: ``.eval()``/``.train()``, fresh hidden states, no per-env params."""
        import torch

        self._rngs.start(num_envs)
        self.clear_env_params()
        self.module.train(not eval)
        if self.is_recurrent:
            with torch.no_grad():
                self._hidden = self._init_hidden(num_envs)

    def reset_envs(self, env_indices: np.ndarray, rngs: Sequence[np.random.Generator]) -> None:
        """New episodes: reset the hidden states of ``env_indices`` to ``init_hidden``."""
        import torch

        indices = self._rngs.reset(env_indices, rngs)
        if self.is_recurrent and len(indices) and self._hidden is not None:
            with torch.no_grad():
                fresh = self._init_hidden(len(indices))
                hidden = self._hidden.clone()  # the module may still hold the old tensor
                hidden[torch.as_tensor(indices, device=hidden.device)] = fresh
                self._hidden = hidden

    def _call(self, params: Any, obs: torch.Tensor, hidden: torch.Tensor | None) -> Any:
        """Run the module on ``obs`` (and ``hidden``), with ``params`` unless it is None."""
        from torch.func import functional_call

        args = (obs,) if hidden is None else (obs, hidden)
        if params is None:
            return self.module(*args)
        buffers = dict(self.module.named_buffers())
        return functional_call(self.module, (params, buffers), args)

    def _unflatten(self, vector: torch.Tensor) -> dict[str, torch.Tensor]:
        """Split flat parameter vectors ``(..., P)`` into ``{name: (..., *shape)}``."""
        out, offset = {}, 0
        lead = vector.shape[:-1]
        for name, param in self.module.named_parameters():
            out[name] = vector[..., offset : offset + param.numel()].reshape(*lead, *param.shape)
            offset += param.numel()
        return out

    def _forward(self, obs: torch.Tensor, hidden: torch.Tensor | None) -> Any:
        import torch

        batch = len(obs)
        own = sorted(i for i in self._env_params if i < batch)
        if not own:
            return self._call(None, obs, hidden)
        if self.per_env_mode == "vmap":
            vectors = self._default_vector().expand(batch, -1).clone()
            for i in own:
                vectors[i] = self._env_params[i]

            def single(params: Any, x: torch.Tensor, h: torch.Tensor | None) -> Any:
                out = self._call(params, x.unsqueeze(0), None if h is None else h.unsqueeze(0))
                return _tree_map(lambda t: t.squeeze(0), out)

            in_dims = (0, 0, None if hidden is None else 0)
            vmapped = torch.func.vmap(single, in_dims=in_dims, randomness="different")
            return vmapped(self._unflatten(vectors), obs, hidden)
        # "group": one call per distinct parameter set, on the sub-envs that use it.
        groups: dict[bytes | None, tuple[torch.Tensor | None, list[int]]] = {}
        own_set = set(own)
        default = [i for i in range(batch) if i not in own_set]
        if default:
            groups[None] = (None, default)
        for i in own:
            vector = self._env_params[i]
            key = vector.cpu().numpy().tobytes()
            groups.setdefault(key, (vector, []))[1].append(i)
        indices, outputs = [], []
        for group_vector, members in groups.values():
            idx = torch.as_tensor(members, device=obs.device)
            params = None if group_vector is None else self._unflatten(group_vector)
            outputs.append(self._call(params, obs[idx], None if hidden is None else hidden[idx]))
            indices.extend(members)
        order = torch.as_tensor(np.argsort(indices, kind="stable"), device=obs.device)
        return _tree_map(lambda *parts: torch.cat(parts)[order], *outputs)

    def act(self, observations: np.ndarray) -> PolicyStep:
        """The module's actions for all sub-envs (recurrent: also the hidden states before)."""
        import torch

        batch = self._rngs.check_batch(observations)
        obs = _observations(observations, self.spec, batch, repr(self))
        device = self.device
        x = torch.as_tensor(obs, dtype=torch.float32, device=device)
        seed = self._rngs.combined_seed()
        infos: dict[str, Any] = {}
        with torch.no_grad(), _seeded_torch_rng(seed, device):
            if self.is_recurrent:
                hidden = self._hidden
                if hidden is None:  # start() allocates it; this only satisfies mypy
                    raise RuntimeError("TorchPolicy.act() called before start()")
                infos["hidden_states"] = hidden.detach().cpu().numpy().copy()
                out = self._forward(x, hidden)
                if not (isinstance(out, tuple) and len(out) == 2):
                    raise TypeError(
                        f"{self!r}: a recurrent module's forward(obs, hidden) must return "
                        f"(actions, new_hidden), got {type(out).__name__}"
                    )
                out, new_hidden = out
                if not isinstance(new_hidden, torch.Tensor) or new_hidden.shape != hidden.shape:
                    raise ValueError(
                        f"{self!r}: new_hidden must be a tensor of shape {tuple(hidden.shape)} "
                        f"like the hidden state, got {getattr(new_hidden, 'shape', new_hidden)}"
                    )
                self._hidden = new_hidden.detach()
            else:
                out = self._forward(x, None)
        actions = _check_actions(out, self.spec, batch, f"module {self!r}")
        return PolicyStep(actions, infos)


# ----------------------------------------------------------------------------------------------
# SB3Policy
# ----------------------------------------------------------------------------------------------


def _map_state(state: Any, fn: Callable[[np.ndarray], np.ndarray]) -> Any:
    if isinstance(state, tuple):
        return tuple(fn(np.asarray(s)) for s in state)
    return fn(np.asarray(state))


class SB3Policy:
    """Any object with stable-baselines3's ``predict`` (SB3 and sb3-contrib models), as a policy.

    Each :meth:`act` calls ``predict(observations, state=..., episode_start=...,
    deterministic=...)`` once with all ``B`` sub-envs. The recurrent ``state`` returned is kept
    and passed back at the next step; ``episode_start`` is True for sub-envs whose episode
    started since the last step (set by :meth:`reset_envs`, cleared after one :meth:`act`; all
    True after :meth:`start`). Following sb3-contrib's ``RecurrentPPO``, a sub-env's state is
    zero at episode start: its entries of the state passed in are zeroed (the model would
    discard them anyway), so no state leaks from one episode into the next.

    When ``predict`` returns a state, ``agent_infos["hidden_states"]`` records the state
    *before* each step (the one passed in; zeros at the first step of a collection, where
    ``None`` is passed), batch dimension first: each state array is moved so that its axis
    ``state_batch_axis`` comes first, and a tuple of arrays (``RecurrentPPO``'s ``(h, c)``,
    each ``(n_layers, B, hidden)``) is stacked to ``(B, len(state), ...)``.

    ``predict`` runs inside a seeded ``torch.random.fork_rng`` (see the module docstring): with
    ``deterministic=False`` it is reproducible for a fixed number of sub-envs only. The ``eval``
    flag of :meth:`start` is ignored (SB3's ``predict`` sets its own training mode). SB3 clips
    ``Box`` actions itself.

    Args:
        model: The object with ``predict``.
        spec: The :class:`~gymsamp.data.EnvSpec` of the environment.
        deterministic: Passed to ``predict``.
        state_batch_axis: The batch axis of each state array (1 for ``RecurrentPPO``).

    Example:
        >>> import numpy as np
        >>> from gymnasium.spaces import Box, Discrete
        >>> from gymsamp.data import EnvSpec
        >>> class Counter:  # a recurrent "model": action = steps since episode start
        ...     def predict(self, observation, state=None, episode_start=None,
        ...                 deterministic=False):
        ...         count = np.zeros((1, len(observation), 1)) if state is None else state[0]
        ...         count = count + 1
        ...         return count[0, :, 0].astype(np.int64) - 1, (count,)
        >>> policy = SB3Policy(Counter(), EnvSpec(Box(-1, 1, (2,)), Discrete(10)))
        >>> policy.start(2, eval=True)
        >>> policy.reset_envs(np.array([0, 1]), [np.random.default_rng(0)] * 2)
        >>> [int(a) for a in policy.act(np.zeros((2, 2))).actions]
        [0, 0]
        >>> policy.reset_envs(np.array([1]), [np.random.default_rng(1)])
        >>> [int(a) for a in policy.act(np.zeros((2, 2))).actions]
        [1, 0]
    """

    def __init__(
        self,
        model: Any,
        spec: EnvSpec,
        *,
        deterministic: bool = True,
        state_batch_axis: int = 1,
    ) -> None:
        owner = "SB3Policy"
        if not callable(getattr(model, "predict", None)):
            raise TypeError(f"{owner}: model must have a predict() method, got {model!r}")
        if not isinstance(deterministic, bool):
            raise TypeError(f"{owner}: deterministic must be a bool, got {deterministic!r}")
        if isinstance(state_batch_axis, bool) or not isinstance(state_batch_axis, int):
            raise TypeError(f"{owner}: state_batch_axis must be an int, got {state_batch_axis!r}")
        self.model = model
        self.spec = _check_spec(spec, owner)
        self.deterministic = deterministic
        self.state_batch_axis = state_batch_axis
        self._state: Any = None
        self._episode_start = np.ones(0, dtype=bool)
        self._rngs = _EnvRngs(owner)

    def __repr__(self) -> str:
        return f"SB3Policy({type(self.model).__name__}, deterministic={self.deterministic})"

    def start(self, num_envs: int, *, eval: bool) -> None:
        """Begin a collection: no state yet, every sub-env at an episode start."""
        self._rngs.start(num_envs)
        self._state = None
        self._episode_start = np.ones(int(num_envs), dtype=bool)

    def reset_envs(self, env_indices: np.ndarray, rngs: Sequence[np.random.Generator]) -> None:
        """Mark ``env_indices`` as starting an episode at the next :meth:`act`."""
        indices = self._rngs.reset(env_indices, rngs)
        self._episode_start[indices] = True

    def _batch_view(self, array: np.ndarray, batch: int) -> np.ndarray:
        axis = self.state_batch_axis
        if not -array.ndim <= axis < array.ndim or array.shape[axis] != batch:
            raise ValueError(
                f"{self!r}: predict returned a state array of shape {array.shape}, whose axis "
                f"state_batch_axis={axis} must have size B={batch}; set state_batch_axis to "
                "the model's batch axis"
            )
        return np.moveaxis(array, axis, 0)

    def _masked(self, state: Any, batch: int) -> Any:
        """A copy of ``state`` with the entries of sub-envs at an episode start zeroed."""
        starts = self._episode_start

        def mask(array: np.ndarray) -> np.ndarray:
            array = array.copy()
            self._batch_view(array, batch)[starts] = 0
            return array

        return _map_state(state, mask)

    def _record(self, state: Any, batch: int) -> np.ndarray:
        if not isinstance(state, tuple):
            return self._batch_view(np.asarray(state), batch).copy()
        parts = [self._batch_view(np.asarray(s), batch) for s in state]
        if any(p.shape != parts[0].shape for p in parts):
            raise ValueError(
                f"{self!r}: cannot record a state tuple whose arrays have different shapes "
                f"{[np.shape(s) for s in state]}"
            )
        return np.stack(parts, axis=1)

    def act(self, observations: np.ndarray) -> PolicyStep:
        """``predict`` on all sub-envs, with the kept state and the episode-start flags."""
        batch = self._rngs.check_batch(observations)
        obs = _observations(observations, self.spec, batch, repr(self))
        state_in = None if self._state is None else self._masked(self._state, batch)
        episode_start = self._episode_start.copy()
        device = _sb3_device(self.model)
        with _seeded_torch_rng(self._rngs.combined_seed(), device):
            actions, state_out = self.model.predict(
                obs, state=state_in, episode_start=episode_start, deterministic=self.deterministic
            )
        checked = _check_actions(actions, self.spec, batch, f"model {self!r}")
        infos: dict[str, Any] = {}
        if state_out is not None:
            before = state_in if state_in is not None else _map_state(state_out, np.zeros_like)
            infos["hidden_states"] = self._record(before, batch)
        self._state = state_out
        self._episode_start[:] = False
        return PolicyStep(checked, infos)


def _sb3_device(model: Any) -> torch.device:
    import torch

    device = getattr(model, "device", None)
    return device if isinstance(device, torch.device) else torch.device("cpu")


# ----------------------------------------------------------------------------------------------
# as_policy
# ----------------------------------------------------------------------------------------------


def _is_policy(obj: Any) -> bool:
    return all(callable(getattr(obj, name, None)) for name in ("start", "reset_envs", "act"))


def _is_sb3_like(obj: Any) -> bool:
    predict = getattr(obj, "predict", None)
    if not callable(predict):
        return False
    try:
        parameters = inspect.signature(predict).parameters
    except (TypeError, ValueError):
        return True
    return "deterministic" in parameters or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()
    )


def _is_torch_module(obj: Any) -> bool:
    torch = sys.modules.get("torch")  # a module exists only if torch was imported
    return torch is not None and isinstance(obj, torch.nn.Module)


def as_policy(obj: Any, spec: EnvSpec, *, deterministic: bool = True) -> Policy:
    """Turn ``obj`` into a :class:`~gymsamp.policies.base.Policy`.

    Checked in this order: an object with callable ``start``, ``reset_envs`` and ``act`` is
    returned unchanged; an object whose ``predict`` takes a ``deterministic`` keyword (SB3 and
    sb3-contrib models, and SB3 policies, which are also torch modules) becomes an
    :class:`SB3Policy`; a ``torch.nn.Module`` a :class:`TorchPolicy`; any other callable a
    :class:`CallablePolicy`.

    Args:
        obj: The policy-like object.
        spec: The :class:`~gymsamp.data.EnvSpec` of the environment.
        deterministic: Passed to SB3's ``predict``; ignored by the other adapters.

    Returns:
        The policy.

    Raises:
        TypeError: If ``obj`` is none of the above, or ``spec`` is not an ``EnvSpec``.

    Example:
        >>> import numpy as np
        >>> import gymnasium as gym
        >>> from gymsamp.data import EnvSpec
        >>> spec = EnvSpec.from_env(gym.make("CartPole-v1"))
        >>> policy = as_policy(lambda obs: np.zeros(len(obs), dtype=np.int64), spec)
        >>> policy
        CallablePolicy(<lambda>)
        >>> as_policy(policy, spec) is policy
        True
    """
    _check_spec(spec, "as_policy")
    if _is_policy(obj):
        return obj
    if _is_sb3_like(obj):
        return SB3Policy(obj, spec, deterministic=deterministic)
    if _is_torch_module(obj):
        return TorchPolicy(obj, spec)
    if callable(obj):
        return CallablePolicy(obj, spec)
    raise TypeError(
        "as_policy: obj must be a gymsamp Policy (start, reset_envs, act), an object with "
        "SB3's predict(observation, state, episode_start, deterministic), a torch.nn.Module, "
        f"or a callable on numpy observation batches, got {type(obj).__name__}"
    )
