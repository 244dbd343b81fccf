"""The recurrent-network embedding: features from a fixed, randomly initialized RNN."""

from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn
from torch.nn.utils import convert_parameters

from gymsamp._checks import check_bool, check_int, check_seed
from gymsamp.data import EnvSpec
from gymsamp.sbi.embeddings import Embedding, MaskLabels

__all__ = ["RNNEmbedding"]

_RECURRENT_TYPES = (nn.RNN, nn.LSTM, nn.GRU)

#: Constructor arguments of the recurrent net that gymsamp sets, and what sets them.
_OWNED_KWARGS = {
    "input_size": "dim_data and the state and action masks",
    "num_layers": "num_recurrent_layers",
    "device": "use_cuda",
    "dtype": "torch's default dtype",
}


def _recurrent_net_kwargs(network_type: type, given: dict[str, Any]) -> dict[str, Any]:
    """The caller's ``recurrent_net_kwargs`` over gymsamp's defaults (pyrado's choices)."""
    for key, owner in _OWNED_KWARGS.items():
        if key in given:
            raise TypeError(
                f"recurrent_net_kwargs must not set {key} (got {key}={given[key]!r}): "
                f"{owner} sets it"
            )
    kwargs: dict[str, Any] = {"bias": True, "batch_first": False, "bidirectional": False}
    if issubclass(network_type, nn.RNN):
        kwargs["nonlinearity"] = "tanh"
    kwargs.update(given)
    # summary_statistic lays out the input and reads the output by these two.
    for key in ("batch_first", "bidirectional"):
        kwargs[key] = check_bool(key, kwargs[key])
    return kwargs


class RNNEmbedding(Embedding):
    """Features computed by a recurrent network (RNN, LSTM or GRU) and a linear output layer.

    The network reads the masked states and actions of every (kept) time step. Its parameters
    are initialized once (reproducibly with ``init_param_kwargs={"seed": s}``, from a local
    generator: torch's global RNG is never advanced) and then frozen, as in pyrado: the
    embedding is a fixed random feature map, and ``sbi`` trains its own embedding net if one is
    wanted. The module starts in ``eval()`` mode, so dropout (if any) stays off.

    Args:
        spec: See :class:`~gymsamp.sbi.Embedding`.
        dim_data: See :class:`~gymsamp.sbi.Embedding`.
        hidden_size: Size of every recurrent layer.
        num_recurrent_layers: Number of stacked recurrent layers.
        output_size: Features per time step (from the linear output layer).
        recurrent_network_type: ``nn.RNN`` (tanh), ``nn.LSTM`` or ``nn.GRU``.
        only_last_output: True: only the last time step's output is a feature
            (``dim_output = output_size``, any length); False: every kept step's output
            (``dim_output = ceil(len_rollouts / downsampling_factor) * output_size``).
        len_rollouts: Time steps per rollout before downsampling; needed unless
            ``only_last_output``.
        output_nonlin: A function applied to the output layer's result (e.g. ``torch.tanh``).
        dropout: Dropout probability between recurrent layers (training mode only).
        init_param_kwargs: Keyword arguments of :meth:`init_param` (``seed``).
        downsampling_factor: See :class:`~gymsamp.sbi.Embedding`.
        state_mask_labels: See :class:`~gymsamp.sbi.Embedding`.
        act_mask_labels: See :class:`~gymsamp.sbi.Embedding`.
        use_cuda: See :class:`~gymsamp.sbi.Embedding`. On a GPU with TF32 (NVIDIA Ampere and
            later) PyTorch lets cuDNN's recurrent layers compute in TF32 by default, so the
            features differ from the CPU's by ~1e-3 relative;
            ``torch.backends.cudnn.allow_tf32 = False`` keeps float32 precision.
        **recurrent_net_kwargs: Passed to the recurrent network's constructor, over the
            defaults ``bias=True``, ``batch_first=False``, ``bidirectional=False`` (and
            ``nonlinearity="tanh"`` for ``nn.RNN``). The output layer reads the net's whole
            output per step (both directions with ``bidirectional=True``, the projection with
            an LSTM's ``proj_size``), so ``dim_output`` does not change. ``input_size``,
            ``num_layers``, ``device`` and ``dtype`` are set by gymsamp (a TypeError says by
            what).

    Example:
        >>> import torch
        >>> from gymnasium.spaces import Box
        >>> from gymsamp.data import EnvSpec
        >>> spec = EnvSpec(Box(-1, 1, (2,)), Box(-1, 1, (1,)))
        >>> emb = RNNEmbedding(spec, 3, hidden_size=4, num_recurrent_layers=1, output_size=2,
        ...                    len_rollouts=5, init_param_kwargs={"seed": 0})
        >>> emb.dim_output, emb(torch.zeros(2, 1, 15)).shape
        (10, torch.Size([2, 10]))
    """

    name: ClassVar[str] = "rnnemb"
    requires_target_domain_data: ClassVar[bool] = False

    def __init__(
        self,
        spec: EnvSpec,
        dim_data: int,
        hidden_size: int,
        num_recurrent_layers: int,
        output_size: int,
        recurrent_network_type: type = nn.RNN,
        only_last_output: bool = False,
        len_rollouts: int | None = None,
        output_nonlin: Callable[[torch.Tensor], torch.Tensor] | None = None,
        dropout: float = 0.0,
        init_param_kwargs: dict[str, Any] | None = None,
        downsampling_factor: int = 1,
        state_mask_labels: MaskLabels | None = None,
        act_mask_labels: MaskLabels | None = None,
        use_cuda: bool = False,
        **recurrent_net_kwargs: Any,
    ) -> None:
        super().__init__(
            spec, dim_data, downsampling_factor, state_mask_labels, act_mask_labels, use_cuda
        )
        hidden_size = check_int("hidden_size", hidden_size, 1)
        num_recurrent_layers = check_int("num_recurrent_layers", num_recurrent_layers, 1)
        output_size = check_int("output_size", output_size, 1)
        if not (
            isinstance(recurrent_network_type, type)
            and issubclass(recurrent_network_type, _RECURRENT_TYPES)
        ):
            raise TypeError(
                "recurrent_network_type must be nn.RNN, nn.LSTM or nn.GRU (or a subclass), got "
                f"{recurrent_network_type!r}"
            )
        if output_nonlin is not None and not callable(output_nonlin):
            raise TypeError(f"output_nonlin must be None or callable, got {output_nonlin!r}")
        given: Any = dropout  # annotated float, but a caller may pass anything
        if not isinstance(given, numbers.Real) or isinstance(given, bool):
            raise TypeError(f"dropout must be a real number in [0, 1), got {dropout!r}")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        self.only_last_output = check_bool("only_last_output", only_last_output)
        self.len_rollouts: int | None = None
        if not self.only_last_output:
            if len_rollouts is None:
                raise ValueError("len_rollouts must be given unless only_last_output is True")
            self.len_rollouts = check_int("len_rollouts", len_rollouts, 1)
        net_kwargs = _recurrent_net_kwargs(recurrent_network_type, recurrent_net_kwargs)
        # The layers' default initialization draws from torch's global generator; fork it so the
        # caller's stream is left as it was (init_param then sets every value from its own).
        with torch.random.fork_rng(devices=[]):
            self.rnn_layers = recurrent_network_type(
                input_size=len(self.state_idcs) + len(self.act_idcs),
                hidden_size=hidden_size,
                num_layers=num_recurrent_layers,
                dropout=float(dropout),
                **net_kwargs,
            )
            self.output_layer = nn.Linear(self._recurrent_width(), output_size)
        self.output_nonlin = output_nonlin
        self.init_param(None, **(init_param_kwargs or {}))
        self.to(self.device)
        for param in self.parameters():
            param.requires_grad_(False)
        self.eval()

    def _recurrent_width(self) -> int:
        """Width of the recurrent net's output per step (both directions, after a projection)."""
        net = self.rnn_layers
        per_direction = getattr(net, "proj_size", 0) or net.hidden_size
        return per_direction * (2 if net.bidirectional else 1)

    @property
    def dim_output(self) -> int:
        per_step = self.output_layer.out_features
        if self.len_rollouts is None:
            return per_step
        return self._downsampled_length(self.len_rollouts) * per_step

    def init_param(self, init_values: torch.Tensor | None = None, **kwargs: Any) -> None:
        """Set the parameters to ``init_values`` (a flat vector) or initialize them afresh.

        The fresh initialization uses a local ``torch.Generator``: Xavier-uniform input and
        output weights, orthogonal recurrent weights, zero biases.

        Args:
            init_values: All parameters as one flat vector (``parameters()`` order), or None.
            **kwargs: ``seed`` (int or None): seed of the fresh initialization; None draws
                fresh entropy.
        """
        if init_values is not None:
            if kwargs:
                raise TypeError(f"init_param takes no options with init_values, got {kwargs}")
            values = torch.as_tensor(init_values, dtype=torch.get_default_dtype())
            expected = sum(p.numel() for p in self.parameters())
            if values.shape != (expected,):
                raise ValueError(
                    f"init_values must have shape ({expected},), got {tuple(values.shape)}"
                )
            convert_parameters.vector_to_parameters(values.to(self.device), self.parameters())
            return
        unknown = sorted(set(kwargs) - {"seed"})
        if unknown:
            raise TypeError(f"init_param got unknown options {unknown}; valid: ['seed']")
        seed = kwargs.get("seed")
        if seed is None:
            seed = int(np.random.SeedSequence().generate_state(1)[0])
        else:
            seed = check_seed(seed)
        generator = torch.Generator().manual_seed(int(seed))
        with torch.no_grad():
            for name, param in self.rnn_layers.named_parameters():
                # Draw on the CPU from the local generator, then copy to the device.
                value = torch.empty(param.shape)
                if name.startswith("weight_hh"):
                    nn.init.orthogonal_(value, generator=generator)
                elif name.startswith("weight"):
                    nn.init.xavier_uniform_(value, generator=generator)
                else:
                    value.zero_()
                param.copy_(value)
            weight = torch.empty(self.output_layer.weight.shape)
            nn.init.xavier_uniform_(weight, generator=generator)
            self.output_layer.weight.copy_(weight)
            self.output_layer.bias.zero_()

    def summary_statistic(self, data: torch.Tensor) -> torch.Tensor:
        """The output layer's result at every kept step (or the last), flattened time-major."""
        self.check_rollout_data(data)
        inputs = torch.cat([self._states(data), self._actions(data)], dim=1)
        with torch.no_grad():
            # One rollout is a batch of one: (1, L, in) if batch_first, else (L, 1, in).
            out, _ = self.rnn_layers(inputs.unsqueeze(0 if self.rnn_layers.batch_first else 1))
            out = out.reshape(inputs.shape[0], -1)  # (L, width) in either layout
            if self.only_last_output:
                out = out[-1]
            out = self.output_layer(out)
            if self.output_nonlin is not None:
                out = self.output_nonlin(out)
        return out.reshape(-1)
