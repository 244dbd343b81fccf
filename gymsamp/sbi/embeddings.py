"""Embeddings: fixed-size features of rollouts for simulation-based inference.

An embedding is a ``torch.nn.Module`` that maps time series of rollout data to one feature
vector per rollout. Every time step of the data holds the state followed by the action,
``[s_t, a_t]`` (``dim_data = S + A`` columns), where the "state" is the full simulator state when
the :class:`~gymsamp.data.EnvSpec` has a ``state_space`` (see :func:`gymsamp.sbi.sbi_env_spec`)
and the observation otherwise. Embeddings that compare simulated with target-domain data
(:attr:`Embedding.requires_target_domain_data`) get both side by side, ``2 * dim_data`` columns.

:meth:`Embedding.forward` takes packed data of shape ``(B, R, L * dim_data)`` (``B`` parameter
sets, ``R`` rollouts each, ``L`` time steps; see :meth:`Embedding.pack`) and returns features of
shape ``(B, R * dim_output)``. The state and action masks select columns by index or, when the
spec has labels, by label.

Example:
    >>> import numpy as np, torch
    >>> from gymnasium.spaces import Box
    >>> from gymsamp.data import EnvSpec
    >>> spec = EnvSpec(Box(-1, 1, (2,)), Box(-1, 1, (1,)))
    >>> emb = LastStepEmbedding(spec, dim_data=3)
    >>> data = torch.arange(12.0).reshape(1, 1, 4, 3)  # B=1, R=1, L=4 steps of [s0, s1, a]
    >>> emb(Embedding.pack(data))
    tensor([[ 9., 10.]])
"""

from __future__ import annotations

import math
import warnings
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from gymsamp._checks import check_bool, check_int
from gymsamp._warnings import user_stacklevel
from gymsamp.data import EnvSpec
from gymsamp.sbi.rollout_data import data_width, state_space_of

__all__ = [
    "AllStepsEmbedding",
    "BayesSimEmbedding",
    "DeltaStepsEmbedding",
    "Embedding",
    "LastStepEmbedding",
    "MaskLabels",
]

#: A state or action mask: indices and/or labels of the columns to keep.
MaskLabels = Sequence[int | str]


def _resolve_mask(
    name: str, mask: MaskLabels | None, width: int, labels: tuple[str, ...] | None
) -> tuple[int, ...]:
    """Column indices selected by ``mask`` (all columns if None)."""
    if mask is None:
        return tuple(range(width))
    if isinstance(mask, (str, bytes)) or not isinstance(mask, Sequence):
        raise TypeError(f"{name} must be a list or tuple of ints or strings, got {mask!r}")
    if len(mask) == 0:
        raise ValueError(f"{name} must select at least one column, got an empty {mask!r}")
    idcs = []
    for item in mask:
        if isinstance(item, str):
            if labels is None:
                raise ValueError(
                    f"{name} may hold labels only if the spec has labels for them, got {item!r} "
                    "(the spec has none; select by index instead)"
                )
            if item not in labels:
                raise ValueError(f"{name} has the unknown label {item!r}; valid: {list(labels)}")
            idcs.append(labels.index(item))
        elif isinstance(item, (int, np.integer)) and not isinstance(item, bool):
            if not 0 <= item < width:
                raise ValueError(f"{name} indices must be in [0, {width}), got {item!r}")
            idcs.append(int(item))
        else:
            raise TypeError(f"{name} must hold ints or strings, got {item!r}")
    if len(set(idcs)) != len(idcs):
        raise ValueError(f"{name} must not select a column twice, got {mask!r}")
    return tuple(idcs)


def _choose_device(use_cuda: bool) -> str:
    if not use_cuda:
        return "cpu"
    if torch.cuda.is_available():
        return "cuda"
    warnings.warn(
        "use_cuda=True but CUDA is not available; using the CPU", stacklevel=user_stacklevel()
    )
    return "cpu"


class Embedding(ABC, nn.Module):
    """Base class of the embeddings: data layout, masks, downsampling, shape checks.

    The features of the rollouts are concatenated, so every rollout must yield the same number
    of features (for the time-series embeddings: have the same length).

    Subclasses set :attr:`name` and :attr:`requires_target_domain_data` and implement
    :attr:`dim_output` and :meth:`summary_statistic` (one rollout's ``(L, dim_data)`` data, after
    downsampling, to its ``(dim_output,)`` features).

    Args:
        spec: The environment specification; its ``state_space`` (else the observation space)
            and ``action_space`` fix the data layout.
        dim_data: Columns of one time step of simulated data: ``S + A`` (see
            :meth:`gymsamp.sbi.RolloutSamplerForSBI.get_dim_data`). Embeddings that use
            target-domain data get twice as many columns; pass the single width here.
        downsampling_factor: Keep every ``downsampling_factor``-th time step (from the first).
        state_mask_labels: The state columns to use, by index or label (the spec's
            ``state_labels``, or ``obs_labels`` when the states are the observations); None
            uses all.
        act_mask_labels: The action columns to use, by index or label (``act_labels``); None
            uses all.
        use_cuda: Compute on the GPU if one is available (a warning falls back to the CPU).

    Example:
        >>> import torch
        >>> from gymnasium.spaces import Box
        >>> from gymsamp.data import EnvSpec
        >>> spec = EnvSpec(Box(-1, 1, (2,)), Box(-1, 1, (1,)), obs_labels=("x", "v"))
        >>> emb = LastStepEmbedding(spec, 3, state_mask_labels=["v"])
        >>> emb.state_idcs, emb.dim_output, emb.name
        ((1,), 1, 'lsemb')
        >>> Embedding.unpack(Embedding.pack(torch.zeros(2, 4, 3)), 3).shape
        torch.Size([1, 2, 4, 3])
    """

    name: ClassVar[str]
    requires_target_domain_data: ClassVar[bool]

    def __init__(
        self,
        spec: EnvSpec,
        dim_data: int,
        downsampling_factor: int = 1,
        state_mask_labels: MaskLabels | None = None,
        act_mask_labels: MaskLabels | None = None,
        use_cuda: bool = False,
    ) -> None:
        if not isinstance(spec, EnvSpec):
            raise TypeError(f"spec must be a gymsamp.data.EnvSpec, got {type(spec).__name__}")
        super().__init__()
        states = state_space_of(spec)
        self._dim_state = data_width(states)
        self._dim_act = data_width(spec.action_space)
        dim_data = check_int("dim_data", dim_data, 1)
        if dim_data != self._dim_state + self._dim_act:
            raise ValueError(
                f"dim_data must be S + A = {self._dim_state} + {self._dim_act} = "
                f"{self._dim_state + self._dim_act} (state and action columns of spec), "
                f"got {dim_data}"
            )
        self._env_spec = spec
        self._dim_data = dim_data
        self._dim_data_orig = 2 * dim_data if self.requires_target_domain_data else dim_data
        self.downsampling_factor = check_int("downsampling_factor", downsampling_factor, 1)
        state_labels = spec.state_labels if spec.state_space is not None else spec.obs_labels
        self._state_idcs = _resolve_mask(
            "state_mask_labels", state_mask_labels, self._dim_state, state_labels
        )
        self._act_idcs = _resolve_mask(
            "act_mask_labels", act_mask_labels, self._dim_act, spec.act_labels
        )
        self._device = _choose_device(check_bool("use_cuda", use_cuda))

    # -- layout -------------------------------------------------------------------------------

    @property
    def spec(self) -> EnvSpec:
        """The environment specification."""
        return self._env_spec

    @property
    def dim_data(self) -> int:
        """Columns of one time step of simulated data, ``S + A``."""
        return self._dim_data

    @property
    def dim_data_orig(self) -> int:
        """Columns of one time step that :meth:`forward` expects (doubled with target data)."""
        return self._dim_data_orig

    @property
    def state_idcs(self) -> tuple[int, ...]:
        """The state columns used (after the mask)."""
        return self._state_idcs

    @property
    def act_idcs(self) -> tuple[int, ...]:
        """The action columns used, counted within the action (after the mask)."""
        return self._act_idcs

    @property
    def device(self) -> str:
        """The device the embedding computes on (``"cpu"`` or ``"cuda"``)."""
        return self._device

    @property
    @abstractmethod
    def dim_output(self) -> int:
        """Number of features per rollout."""

    def _downsampled_length(self, length: int) -> int:
        # data[::f] keeps ceil(L / f) steps, also when f does not divide L.
        return math.ceil(length / self.downsampling_factor)

    def _states(self, data: torch.Tensor) -> torch.Tensor:
        """The masked state columns of ``(L, >= dim_data)`` data."""
        return data[:, list(self._state_idcs)]

    def _actions(self, data: torch.Tensor) -> torch.Tensor:
        """The masked action columns of ``(L, >= dim_data)`` data."""
        return data[:, [self._dim_state + i for i in self._act_idcs]]

    # -- computing ----------------------------------------------------------------------------

    @abstractmethod
    def summary_statistic(self, data: torch.Tensor) -> torch.Tensor:
        """The ``(dim_output,)`` features of one rollout's ``(L, dim_data_orig)`` data.

        The built-in embeddings check ``data`` with :meth:`check_rollout_data` first (a
        ``TypeError`` / ``ValueError`` naming the shape); subclasses may call it too.
        """

    def check_rollout_data(self, data: torch.Tensor) -> None:
        """Refuse what is not one rollout's data, a tensor of shape ``(L, dim_data_orig)``.

        :meth:`summary_statistic` is public: given 4-D data or the wrong number of columns,
        the built-in statistics failed deep inside with an ``IndexError`` or returned
        features of the wrong columns (zeros for zero padding). The check reads a few
        attributes, so it costs nothing next to the statistic, which :meth:`forward` computes
        once per rollout.

        Raises:
            TypeError: If ``data`` is not a ``torch.Tensor``.
            ValueError: If ``data`` is not ``(L, dim_data_orig)`` with ``L >= 1``.
        """
        if not isinstance(data, torch.Tensor):
            raise TypeError(f"data must be a torch.Tensor, got {type(data).__name__}")
        if data.ndim != 2 or data.shape[0] == 0 or data.shape[1] != self._dim_data_orig:
            raise ValueError(
                f"data must be one rollout's steps of shape (L, dim_data_orig) = "
                f"(L >= 1, {self._dim_data_orig}) for {type(self).__name__}.summary_statistic "
                f"(forward() takes batches), got shape {tuple(data.shape)}"
            )

    @staticmethod
    def pack(data: torch.Tensor) -> torch.Tensor:
        """Flatten time and data columns: ``(B, R, L, D)`` to ``(B, R, L * D)``.

        ``(L, D)`` (one rollout) becomes ``(1, 1, L * D)`` and ``(R, L, D)`` ``(1, R, L * D)``.
        """
        if not isinstance(data, torch.Tensor):
            raise TypeError(f"data must be a torch.Tensor, got {type(data).__name__}")
        if data.ndim == 2:
            return data.reshape(1, 1, -1)
        if data.ndim == 3:
            return data.reshape(1, data.shape[0], -1)
        if data.ndim == 4:
            return data.reshape(data.shape[0], data.shape[1], -1)
        raise ValueError(f"data must have 2, 3 or 4 dimensions, got shape {tuple(data.shape)}")

    @staticmethod
    def unpack(data: torch.Tensor, dim_data_orig: int) -> torch.Tensor:
        """Undo :meth:`pack`: ``(B, R, L * D)`` to ``(B, R, L, D)`` with ``D = dim_data_orig``."""
        if not isinstance(data, torch.Tensor):
            raise TypeError(f"data must be a torch.Tensor, got {type(data).__name__}")
        if data.ndim != 3:
            raise ValueError(
                f"data must be packed to shape (B, R, L * D), got shape {tuple(data.shape)}"
            )
        dim = check_int("dim_data_orig", dim_data_orig, 1)
        if data.shape[2] == 0 or data.shape[2] % dim:
            raise ValueError(
                f"data has {data.shape[2]} values per rollout but must have a positive multiple "
                f"of dim_data_orig={dim}"
            )
        return data.reshape(data.shape[0], data.shape[1], -1, dim)

    def _as_steps(self, data: torch.Tensor, name: str, layout: str) -> torch.Tensor:
        """``data`` of ``layout`` (e.g. ``"(R, L, D)"``) cast to the default dtype on the device."""
        if not isinstance(data, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(data).__name__}")
        if data.ndim != len(layout.split(",")):
            raise ValueError(f"{name} must have shape {layout}, got {tuple(data.shape)}")
        if 0 in data.shape[:-1]:  # torch's stack / cat of nothing would fail deep inside
            raise ValueError(
                f"{name} must have shape {layout} with every size but D >= 1, got "
                f"{tuple(data.shape)}"
            )
        data = data.to(device=self.device, dtype=torch.get_default_dtype())
        if data.shape[-1] != self._dim_data_orig:
            raise ValueError(
                f"{name} has {data.shape[-1]} columns per step but must have "
                f"{self._dim_data_orig} to match {type(self).__name__}"
            )
        return data

    def _check_features(
        self, features: torch.Tensor, expected: tuple[int, ...], form: str, data: torch.Tensor
    ) -> torch.Tensor:
        """Refuse features that are not ``dim_output`` wide per rollout."""
        if tuple(features.shape) != expected:
            steps = self._downsampled_length(data.shape[-2])
            raise ValueError(
                f"{type(self).__name__} produced features of shape {tuple(features.shape)} but "
                f"must produce {expected} = {form} for data of shape {tuple(data.shape)} "
                f"({steps} steps after downsampling; check the rollout length)"
            )
        return features

    def forward_one_batch(self, data_batch: torch.Tensor) -> torch.Tensor:
        """Features of the ``R`` rollouts of one parameter set: ``(R, L, D)`` to ``(R * F,)``.

        The data is cast and downsampled as in :meth:`forward`, and the features
        (``F = dim_output`` each) are concatenated in rollout order, so
        ``forward_one_batch(data[i])`` equals ``forward(data)[i]`` for unpacked ``data``.

        Raises:
            ValueError: If the data is not ``(R, L, dim_data_orig)`` or the features are not
                ``R * dim_output`` wide.
        """
        data_batch = self._as_steps(data_batch, "data_batch", "(R, L, D)")
        kept = data_batch[:, :: self.downsampling_factor, :]
        features = torch.cat([self.summary_statistic(rollout) for rollout in kept], dim=0)
        expected = (data_batch.shape[0] * self.dim_output,)
        return self._check_features(features, expected, "(R * dim_output,)", data_batch)

    def forward(self, data: torch.Tensor) -> torch.Tensor:
        """Features of packed data: ``(B, R, L * D)`` to ``(B, R * dim_output)``.

        Unpacked ``(B, R, L, D)`` data is accepted too. The data is cast to torch's default
        dtype on :attr:`device`; :meth:`forward_one_batch` then keeps every
        ``downsampling_factor``-th step of every parameter set's rollouts.

        Raises:
            ValueError: If the data does not have ``dim_data_orig`` columns per step or the
                features are not ``dim_output`` wide (e.g. rollouts of another length than the
                embedding was built for).
        """
        if not isinstance(data, torch.Tensor):
            raise TypeError(f"data must be a torch.Tensor, got {type(data).__name__}")
        if data.ndim != 4:
            data = Embedding.unpack(data, self._dim_data_orig)
        # Checked and cast here too, so that a bad argument is named as the caller's.
        data = self._as_steps(data, "data", "(B, R, L, D)")
        features = torch.stack([self.forward_one_batch(batch) for batch in data], dim=0)
        expected = (data.shape[0], data.shape[1] * self.dim_output)
        return self._check_features(features, expected, "(B, R * dim_output)", data)

    def extra_repr(self) -> str:
        return (
            f"dim_data={self._dim_data}, downsampling_factor={self.downsampling_factor}, "
            f"state_idcs={self._state_idcs}, act_idcs={self._act_idcs}, "
            f"dim_output={self.dim_output}"
        )


def _check_min_steps(data: torch.Tensor, minimum: int, owner: str) -> None:
    if data.shape[0] < minimum:
        raise ValueError(
            f"{owner} needs at least {minimum} time steps per rollout (after downsampling), "
            f"got {data.shape[0]}"
        )


class LastStepEmbedding(Embedding):
    """The (masked) state of the last time step: ``dim_output = S``.

    Args: see :class:`Embedding`.

    Example:
        >>> import torch
        >>> from gymnasium.spaces import Box
        >>> from gymsamp.data import EnvSpec
        >>> emb = LastStepEmbedding(EnvSpec(Box(-1, 1, (2,)), Box(-1, 1, (1,))), 3)
        >>> emb.summary_statistic(torch.tensor([[0.0, 1.0, 5.0], [2.0, 3.0, 5.0]]))
        tensor([2., 3.])
    """

    name: ClassVar[str] = "lsemb"
    requires_target_domain_data: ClassVar[bool] = False

    @property
    def dim_output(self) -> int:
        return len(self._state_idcs)

    @torch.no_grad()
    def summary_statistic(self, data: torch.Tensor) -> torch.Tensor:
        """The last time step's masked state."""
        self.check_rollout_data(data)
        return self._states(data)[-1].reshape(-1)


class _FixedLengthEmbedding(Embedding):
    """An embedding whose output grows with the rollout length ``len_rollouts``."""

    def __init__(
        self,
        spec: EnvSpec,
        dim_data: int,
        len_rollouts: int,
        downsampling_factor: int = 1,
        state_mask_labels: MaskLabels | None = None,
        act_mask_labels: MaskLabels | None = None,
        use_cuda: bool = False,
    ) -> None:
        super().__init__(
            spec, dim_data, downsampling_factor, state_mask_labels, act_mask_labels, use_cuda
        )
        self.len_rollouts = check_int("len_rollouts", len_rollouts, 1)


class AllStepsEmbedding(_FixedLengthEmbedding):
    """The (masked) states of all (kept) time steps, flattened time-major.

    ``dim_output = ceil(len_rollouts / downsampling_factor) * S``.

    Args:
        spec: See :class:`Embedding`.
        dim_data: See :class:`Embedding`.
        len_rollouts: Time steps per rollout before downsampling (the same for all rollouts).
        downsampling_factor: See :class:`Embedding`.
        state_mask_labels: See :class:`Embedding`.
        act_mask_labels: See :class:`Embedding` (unused: only states are features).
        use_cuda: See :class:`Embedding`.

    Example:
        >>> import torch
        >>> from gymnasium.spaces import Box
        >>> from gymsamp.data import EnvSpec
        >>> spec = EnvSpec(Box(-1, 1, (2,)), Box(-1, 1, (1,)))
        >>> emb = AllStepsEmbedding(spec, 3, len_rollouts=5, downsampling_factor=2)
        >>> emb.dim_output  # steps 0, 2, 4 of 2 states
        6
        >>> emb(torch.arange(15.0).reshape(1, 1, 15))
        tensor([[ 0.,  1.,  6.,  7., 12., 13.]])
    """

    name: ClassVar[str] = "asemb"
    requires_target_domain_data: ClassVar[bool] = False

    @property
    def dim_output(self) -> int:
        return self._downsampled_length(self.len_rollouts) * len(self._state_idcs)

    @torch.no_grad()
    def summary_statistic(self, data: torch.Tensor) -> torch.Tensor:
        """All masked states, time-major: ``[s_0, s_1, ...]``."""
        self.check_rollout_data(data)
        return self._states(data).reshape(-1)


class DeltaStepsEmbedding(_FixedLengthEmbedding):
    """The changes of the (masked) states between consecutive (kept) time steps.

    ``dim_output = (ceil(len_rollouts / downsampling_factor) - 1) * S``.

    Args: see :class:`AllStepsEmbedding`.

    Example:
        >>> import torch
        >>> from gymnasium.spaces import Box
        >>> from gymsamp.data import EnvSpec
        >>> emb = DeltaStepsEmbedding(EnvSpec(Box(-9, 9, (1,)), Box(-1, 1, (1,))), 2, 3)
        >>> emb.summary_statistic(torch.tensor([[1.0, 0.0], [4.0, 0.0], [2.0, 0.0]]))
        tensor([ 3., -2.])
    """

    name: ClassVar[str] = "dsemb"
    requires_target_domain_data: ClassVar[bool] = False

    def __init__(
        self,
        spec: EnvSpec,
        dim_data: int,
        len_rollouts: int,
        downsampling_factor: int = 1,
        state_mask_labels: MaskLabels | None = None,
        act_mask_labels: MaskLabels | None = None,
        use_cuda: bool = False,
    ) -> None:
        super().__init__(
            spec,
            dim_data,
            len_rollouts,
            downsampling_factor,
            state_mask_labels,
            act_mask_labels,
            use_cuda,
        )
        if self._downsampled_length(self.len_rollouts) < 2:
            raise ValueError(
                "len_rollouts must leave at least 2 time steps after downsampling by "
                f"{self.downsampling_factor}, got {len_rollouts}"
            )

    @property
    def dim_output(self) -> int:
        return (self._downsampled_length(self.len_rollouts) - 1) * len(self._state_idcs)

    @torch.no_grad()
    def summary_statistic(self, data: torch.Tensor) -> torch.Tensor:
        """``[s_1 - s_0, s_2 - s_1, ...]`` of the masked states, time-major."""
        self.check_rollout_data(data)
        _check_min_steps(data, 2, type(self).__name__)
        states = self._states(data)
        return (states[1:] - states[:-1]).reshape(-1)


class BayesSimEmbedding(Embedding):
    """The summary statistics of BayesSim, eq. (22) (Ramos, Possas and Fox, RSS 2019).

    With the state differences ``d_t = s_{t+1} - s_t`` (``t = 0 .. L-2``) and the actions
    ``a_t`` (masked), the features are ``[vec(sum_t a_t d_t^T), mean_t d_t, var_t d_t]``: the
    action-major flattened sum of the ``A x S`` outer products, then the mean and the
    population variance of the differences, so ``dim_output = A * S + 2 * S`` for any length.

    Args: see :class:`Embedding`.

    Example:
        >>> import torch
        >>> from gymnasium.spaces import Box
        >>> from gymsamp.data import EnvSpec
        >>> emb = BayesSimEmbedding(EnvSpec(Box(-9, 9, (1,)), Box(-1, 1, (1,))), 2)
        >>> data = torch.tensor([[0.0, 1.0], [1.0, 2.0], [3.0, 0.0]])  # d = [1, 2], a = [1, 2]
        >>> emb.summary_statistic(data)  # [1*1 + 2*2, mean 1.5, var 0.25]
        tensor([5.0000, 1.5000, 0.2500])
    """

    name: ClassVar[str] = "bsemb"
    requires_target_domain_data: ClassVar[bool] = False

    @property
    def dim_output(self) -> int:
        num_states, num_acts = len(self._state_idcs), len(self._act_idcs)
        return num_acts * num_states + 2 * num_states

    @torch.no_grad()
    def summary_statistic(self, data: torch.Tensor) -> torch.Tensor:
        """``[vec(sum_t a_t d_t^T), mean(d), var(d)]`` of one rollout."""
        self.check_rollout_data(data)
        _check_min_steps(data, 2, type(self).__name__)
        states = self._states(data)
        # The last action has no state difference after it (the data ends at s_{L-1}).
        acts = self._actions(data)[:-1]
        diffs = states[1:] - states[:-1]
        act_diff = torch.einsum("ta,ts->as", acts, diffs).reshape(-1)
        mean = diffs.mean(dim=0)
        var = ((diffs - mean) ** 2).mean(dim=0)
        return torch.cat([act_diff, mean, var])
