"""A ``torch.nn.Module`` (optionally recurrent) as a policy: :class:`TorchPolicy`.

Torch is imported only when the adapter runs. The module runs inside a seeded fork of torch's
global generator (see :mod:`gymsamp.policies.adapters`).
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Literal

import gymnasium as gym
import numpy as np

from gymsamp.data._tree import tree_first_leaf
from gymsamp.data.spec import EnvSpec
from gymsamp.policies._shared import (
    _PROBE_SEED,
    _check_actions,
    _check_env_params,
    _check_row_actions,
    _check_spec,
    _EnvRngs,
    _forget_env_params,
    _observations,
    _real_params,
    _RowByRow,
    _RowByRowChoice,
    _rows,
    _same_bits,
    _seeded_torch_rng,
    _to_numpy,
    _tree_map,
)
from gymsamp.policies.base import PolicyStep

if TYPE_CHECKING:
    import torch

__all__ = ["TorchPolicy"]

#: Steps a recurrent module runs in the batch-invariance test (from ``init_hidden``, then
#: from each step's new hidden state): with 2, 1 of 30 small random recurrent modules agreed
#: by chance and then differed in sampling; with 4 (and 8, 16), none.
_RECURRENT_PROBE_STEPS = 4


class TorchPolicy(_RowByRowChoice):
    """A ``torch.nn.Module`` mapping observation batches to action batches, as a policy.

    Observations go in as float tensors of the dtype and on the device of the module's first
    floating parameter or buffer (float32 on the CPU for a module with none); actions
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

    Batch invariance: a matrix product over a batch rounds differently for different batch
    sizes, so a network's action for one sub-env may differ in the last bits with the number
    of sub-envs beside it, and so do whole rollouts (DESIGN §4 promises ``sample()`` equal to
    one-env ``rollout()`` calls bit for bit). By default (``batch_invariant=None``)
    :meth:`start` tests the module (in the mode it samples in, on observations drawn from the
    observation space with a fixed seed; buffers restored) once as a batch and once row by row
    (each row with a torch seed of its own): where every output agrees bit for bit, it runs
    batched; where it does not (almost any network on continuous actions), it
    runs on each sub-env alone (a batch of one, as in ``rollout()``), inside torch's generator
    seeded from that sub-env's rollout generator alone. :attr:`row_by_row` says which. A
    module that runs batched is tested again under vmap when per-env parameters are first set
    (``per_env_mode="vmap"``): vmap's kernels may round unlike the plain call.
    Row by row, rollouts are bit-identical for any number of sub-envs, workers or vectorization
    mode, also for stochastic modules, at the cost of one call per sub-env and step.
    ``batch_invariant=True`` always runs row by row; ``False`` always batched (the fastest;
    exact only for a batch-invariant module). A module that draws from torch's generator in
    train mode (dropout) fails the test with ``eval=False`` (each row draws its own numbers)
    and so runs row by row; with ``eval=True`` it is tested, and runs, without drawing.

    Args:
        module: The module.
        spec: The :class:`~gymsamp.data.EnvSpec`; its observation space must have a shape
            or be a ``Dict`` / ``Tuple`` space (the module then gets a dict / tuple of float
            tensors).
        per_env_mode: ``"vmap"`` or ``"group"`` (see above).
        batch_invariant: None: test the module (see above); True: run it once per sub-env;
            False: once per vector step.

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
        batch_invariant: bool | None = None,
    ) -> None:
        import torch

        owner = "TorchPolicy"
        self._rows = _RowByRow(batch_invariant, owner)
        if not isinstance(module, torch.nn.Module):
            raise TypeError(f"{owner}: module must be a torch.nn.Module, got {module!r}")
        self.spec = _check_spec(spec, owner)
        if spec.observation_space.shape is None and not isinstance(
            spec.observation_space, (gym.spaces.Dict, gym.spaces.Tuple)
        ):
            raise TypeError(
                f"{owner}: spec.observation_space must have a shape (array observations) or "
                f"be a Dict or Tuple space, got {spec.observation_space!r}"
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
        self._forward_ok = False
        self._retest_under_vmap: int | None = None

    def __repr__(self) -> str:
        return f"TorchPolicy({type(self.module).__name__})"

    # -- parameters ------------------------------------------------------------------------

    @property
    def device(self) -> torch.device:
        """The device of the module's first parameter (or buffer); CPU if it has none."""
        return self._placement()[0]

    @property
    def input_dtype(self) -> torch.dtype:
        """The dtype observations go in as: the module's first floating parameter's (or
        buffer's), so that a float64 module gets float64 tensors; float32 if it has none."""
        return self._placement()[1]

    def _placement(self) -> tuple[torch.device, torch.dtype]:
        """:attr:`device` and :attr:`input_dtype`, from one lazy walk over the module's
        tensors (it runs at every step: the module may have been moved or cast since)."""
        import torch

        device = None
        for tensor in itertools.chain(self.module.parameters(), self.module.buffers()):
            if device is None:
                device = tensor.device
            if tensor.is_floating_point():
                return device, tensor.dtype
        return device or torch.device("cpu"), torch.float32

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
        """A copy of the flat parameters (``parameters_to_vector`` order, parameter dtype;
        bfloat16 ones as float32, which holds them exactly: numpy has no bfloat16). Set it
        to real, finite numbers, as :meth:`set_env_params` takes them."""
        return _to_numpy(self._default_vector())

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

        # Real and finite, as set_env_params checks its rows: a NaN parameter would show only
        # later, as NaN actions; a complex one would lose its imaginary part.
        array = _real_params(values, name, "TorchPolicy")
        if array.shape != (self.num_params,):
            raise ValueError(
                f"TorchPolicy: {name} must be a flat vector of length "
                f"num_params={self.num_params}, got shape {array.shape}"
            )
        ref = self._default_vector()
        return torch.as_tensor(array, device=ref.device).to(ref.dtype)

    def set_env_params(self, env_indices: np.ndarray, params: np.ndarray) -> None:
        """Use ``params[j]`` (flat, :attr:`param_values` layout) in sub-env ``env_indices[j]``."""
        indices, array = _check_env_params(
            env_indices, params, self.num_params, self._rngs.num_envs, "TorchPolicy"
        )
        for index, row in zip(indices, array, strict=True):
            self._env_params[int(index)] = self._as_vector(row, "params[j]")
        if self._retest_under_vmap is not None and len(indices):
            num_envs, self._retest_under_vmap = self._retest_under_vmap, None
            self._retest_with_env_params(num_envs)

    def _retest_with_env_params(self, num_envs: int) -> None:
        """Test batch invariance again now that per-env parameters run the batch under vmap:
        a module whose plain batched call equals its rows may still round differently under
        vmap's batched kernels, and then a parameter set's rollouts would depend on the number
        of sub-envs beside it (most modules of 2 layers that pass the plain test do)."""
        self._rows.decide(num_envs, self.spec.observation_space, self._agrees)

    def clear_env_params(self, env_indices: np.ndarray | None = None) -> None:
        """Make ``env_indices`` (all sub-envs if None) use :attr:`param_values` again."""
        _forget_env_params(self._env_params, env_indices)

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
        self._forward_ok = False  # errors of the first forward pass name the observations
        # A torch.export program refuses train(): it keeps the mode it was exported in.
        with contextlib.suppress(NotImplementedError):
            self.module.train(not eval)
        # The test in the mode the collection runs in: a module that draws in train mode only
        # (dropout) agrees with itself in eval mode, yet batched in train mode its draws would
        # depend on the number of sub-envs, unlike rollout()'s.
        batched = not self._rows.decide(num_envs, self.spec.observation_space, self._agrees)
        # Tested on the plain call: per-env parameters would run the batch under vmap (the
        # number of sub-envs to test them on, None: no retest due).
        retest = batched and self._rows.setting is None and self.per_env_mode == "vmap"
        self._retest_under_vmap = num_envs if retest else None
        if self.is_recurrent:
            # Every episode starts from reset_envs' hidden state; this one only fills the
            # batch, drawn (if init_hidden draws) without touching torch's global generator.
            device, _ = self._placement()
            with torch.no_grad(), _seeded_torch_rng(_PROBE_SEED, device):
                self._hidden = self._init_hidden(num_envs)

    def _agrees(self, observations: Any, base: int) -> bool:
        """Whether the module gives the same bits on the batch as on each row alone (torch's
        generator seeded with ``base`` for the batch and ``base + i`` for row ``i``, each row
        with a seed of its own as in :meth:`act`). A recurrent module is tested over
        :data:`_RECURRENT_PROBE_STEPS` steps, each from the hidden state the last returned:
        from ``init_hidden`` alone (often zeros) products may agree by chance. It runs in
        the module's current mode; buffers it changes (batch-norm statistics in train mode)
        are restored afterwards."""
        with _buffers_restored(self.module):
            if not self.module.training:
                return self._agrees_once(observations, base)
            try:
                return self._agrees_once(observations, base)
            except (RuntimeError, ValueError, TypeError):
                # Train mode that cannot run on one row (batch norm): the verdict of eval mode,
                # so that such a module runs row by row where eval mode would, and act() says
                # why it fails there (rollout() fails alike) instead of sharing batch statistics.
                with contextlib.suppress(NotImplementedError):
                    self.module.train(False)
                try:
                    return self._agrees_once(observations, base)
                finally:
                    with contextlib.suppress(NotImplementedError):
                        self.module.train(True)

    def _agrees_once(self, observations: Any, base: int) -> bool:
        import torch

        device, dtype = self._placement()
        x = self._tensors(observations, device, dtype)
        batch = len(tree_first_leaf(x))
        with torch.no_grad(), _seeded_torch_rng(_PROBE_SEED, device):
            hidden = self._init_hidden(batch) if self.is_recurrent else None
        for _ in range(_RECURRENT_PROBE_STEPS if self.is_recurrent else 1):
            with torch.no_grad(), _seeded_torch_rng(base, device):
                whole = self._forward(x, hidden)
            with torch.no_grad():
                rows = self._forward_rows(x, hidden, [base + i for i in range(batch)])
            if not _same_bits(whole, rows):
                return False
            if self.is_recurrent:
                hidden = whole[1]  # a malformed output fails in act(), named there
        return True

    @staticmethod
    def _tensors(observations: Any, device: torch.device, dtype: torch.dtype) -> Any:
        """Observations as ``dtype`` tensors on ``device``."""
        import torch

        return _tree_map(lambda a: torch.as_tensor(a, dtype=dtype, device=device), observations)

    def reset_envs(self, env_indices: np.ndarray, rngs: Sequence[np.random.Generator]) -> None:
        """New episodes: reset the hidden states of ``env_indices`` to ``init_hidden``."""
        import torch

        indices = self._rngs.reset(env_indices, rngs)
        if self.is_recurrent and len(indices) and self._hidden is not None:
            hidden = self._hidden.clone()  # the module may still hold the old tensor
            # One episode at a time, from a fork of torch's generator seeded by the episode's
            # own generator: an init_hidden that draws gives each episode its own state, the
            # same in a sampler as in rollout(), and leaves the global generator alone.
            seeds = self._rngs.row_seeds_of(indices)
            with torch.no_grad():
                for index, seed in zip(indices.tolist(), seeds, strict=True):
                    with _seeded_torch_rng(seed, hidden.device):
                        hidden[index] = self._init_hidden(1)[0]
            self._hidden = hidden

    def _call(self, params: Any, obs: Any, hidden: torch.Tensor | None) -> Any:
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

    def _forward(self, obs: Any, hidden: torch.Tensor | None) -> Any:
        import torch

        batch = len(tree_first_leaf(obs))
        if batch == 1:
            # One sub-env: the plain call, as rollout() makes with its parameters set (vmap's
            # batched kernels round differently, even for a batch of one).
            vector = self._env_params.get(0)
            return self._call(None if vector is None else self._unflatten(vector), obs, hidden)
        own = sorted(i for i in self._env_params if i < batch)
        if not own:
            return self._call(None, obs, hidden)
        if self.per_env_mode == "vmap":
            vectors = self._default_vector().expand(batch, -1).clone()
            for i in own:
                vectors[i] = self._env_params[i]

            def single(params: Any, x: torch.Tensor, h: torch.Tensor | None) -> Any:
                row = _tree_map(lambda t: t.unsqueeze(0), x)
                out = self._call(params, row, None if h is None else h.unsqueeze(0))
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
            key = _to_numpy(vector).tobytes()  # bfloat16 as float32: numpy has no bfloat16
            groups.setdefault(key, (vector, []))[1].append(i)
        indices, outputs = [], []
        for group_vector, members in groups.values():
            idx = torch.as_tensor(members, device=tree_first_leaf(obs).device)
            params = None if group_vector is None else self._unflatten(group_vector)
            outputs.append(
                self._call(params, _rows(obs, idx), None if hidden is None else hidden[idx])
            )
            indices.extend(members)
        order = torch.as_tensor(np.argsort(indices, kind="stable"), device=idx.device)
        return _tree_map(lambda *parts: torch.cat(parts)[order], *outputs)

    def _run(self, obs: Any, hidden: torch.Tensor | None, row_seeds: Any) -> Any:
        if row_seeds is None:
            return self._forward(obs, hidden)
        return self._forward_rows(obs, hidden, row_seeds)

    def _forward_rows(self, obs: Any, hidden: torch.Tensor | None, seeds: list[int]) -> Any:
        """The module on each sub-env alone (its own parameters, its own seed)."""
        import torch

        outputs = []
        for i, seed in enumerate(seeds):
            vector = self._env_params.get(i)
            params = None if vector is None else self._unflatten(vector)
            row_hidden = None if hidden is None else hidden[i : i + 1]
            with _seeded_torch_rng(seed, tree_first_leaf(obs).device):
                outputs.append(self._call(params, _rows(obs, slice(i, i + 1)), row_hidden))
        return _tree_map(lambda *rows: torch.cat(rows), *outputs)

    def act(self, observations: np.ndarray) -> PolicyStep:
        """The module's actions for all sub-envs (recurrent: also the hidden states before)."""
        import torch

        batch = self._rngs.check_batch(observations)
        obs = _observations(observations, self.spec, batch, repr(self))
        # Once per step (the module may have been moved or cast since the last one).
        device, dtype = self._placement()
        x = self._tensors(obs, device, dtype)
        # Row by row: each row seeds its own fork; else one fork for the whole batch.
        row_seeds = self._rngs.row_seeds() if self._rows.row_by_row else None
        seeded: Any = (
            contextlib.nullcontext()
            if row_seeds is not None
            else _seeded_torch_rng(self._rngs.combined_seed(), device)
        )
        if self.is_recurrent and self._hidden is None:  # start() allocates it
            raise RuntimeError(
                "TorchPolicy.act() called before a start() that completed; call "
                "policy.start(num_envs, eval=...) first (a start() that raised left no hidden "
                "state)"
            )
        infos: dict[str, Any] = {}
        hidden = self._hidden if self.is_recurrent else None
        if hidden is not None:
            infos["hidden_states"] = hidden.detach().cpu().numpy().copy()
        try:
            with torch.no_grad(), seeded:
                out = self._run(x, hidden, row_seeds)
        except (RuntimeError, ValueError, TypeError) as err:  # torch's errors for unfit inputs
            if self._forward_ok:  # a failure after the first forward pass is the module's own
                raise
            raise ValueError(self._first_failure(err, observations, batch, row_seeds)) from err
        self._forward_ok = True
        if hidden is not None:
            out = self._keep_hidden(out, hidden)
        check = _check_actions if row_seeds is None else _check_row_actions
        actions = check(out, self.spec, batch, f"module {self!r}")
        return PolicyStep(actions, infos)

    def _first_failure(self, err: Exception, observations: Any, batch: int, row_seeds: Any) -> str:
        """The message for a failure of the module's first forward pass, with what it ran on."""
        one_row = row_seeds is not None or batch == 1
        if self.module.training and one_row and _has_batch_norm(self.module):
            return (
                f"{self!r}: the module's first forward pass, in train mode (eval=False) on one "
                f"observation at a time (a batch of one per sub-env), failed: {err}; a module "
                "whose train mode needs several rows (batch norm) cannot run on one "
                "observation: sample with eval=True, or pass batch_invariant=False with several "
                "sub-envs (they then share its batch statistics)"
            )
        vmapped = self._env_params and self.per_env_mode == "vmap" and batch > 1
        hint = (
            " (with per-env parameters it runs under torch.func.vmap; for a module vmap "
            "cannot run, pass per_env_mode='group')"
            if vmapped
            else ""
        )
        if not self.is_recurrent and callable(getattr(self.module, "init_hidden", None)):
            hint += (
                "; the module defines init_hidden: a recurrent module must also set "
                "is_recurrent = True to be called as forward(obs, hidden)"
            )
        space = self.spec.observation_space
        expected = f"of shape {space.shape}" if space.shape is not None else f"of {space}"
        return (
            f"{self!r}: the module must accept observations {expected} (got a batch of "
            f"{_batch_shapes(observations)}), but its first forward pass failed: {err}{hint}"
        )

    def _keep_hidden(self, out: Any, hidden: torch.Tensor) -> Any:
        """The actions of a recurrent module's output; its new hidden state is kept."""
        import torch

        if not (isinstance(out, tuple) and len(out) == 2):
            raise TypeError(
                f"{self!r}: a recurrent module's forward(obs, hidden) must return "
                f"(actions, new_hidden), got {type(out).__name__}"
            )
        actions, new_hidden = out
        if not isinstance(new_hidden, torch.Tensor) or new_hidden.shape != hidden.shape:
            raise ValueError(
                f"{self!r}: new_hidden must be a tensor of shape {tuple(hidden.shape)} "
                f"like the hidden state, got {getattr(new_hidden, 'shape', new_hidden)}"
            )
        self._hidden = new_hidden.detach()
        return actions


@contextlib.contextmanager
def _buffers_restored(module: torch.nn.Module) -> Iterator[None]:
    """Put ``module``'s buffers back as they were (the batch-invariance test runs the module in
    train mode for ``eval=False``: batch norm would update its running statistics)."""
    import torch

    saved = [(buffer, buffer.detach().clone()) for buffer in module.buffers()]
    try:
        yield
    finally:
        with torch.no_grad():
            for buffer, value in saved:
                buffer.copy_(value)


def _has_batch_norm(module: Any) -> bool:
    """Whether ``module`` holds a batch-norm layer (train mode needs several rows)."""
    import torch

    modules = getattr(module, "modules", None)
    return callable(modules) and any(
        isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in modules()
    )


def _batch_shapes(observations: Any) -> str:
    """``shape (B, ...)`` of an observation batch, or the shapes of a dict's or tuple's."""
    if isinstance(observations, dict):
        inner = ", ".join(f"{k!r}: {_batch_shapes(v)}" for k, v in observations.items())
        return "{" + inner + "}"
    if isinstance(observations, tuple):
        return "(" + ", ".join(_batch_shapes(v) for v in observations) + ")"
    return f"shape {tuple(getattr(observations, 'shape', ()))}"
