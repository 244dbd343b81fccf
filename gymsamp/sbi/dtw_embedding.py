"""The dynamic-time-warping embedding (uses the optional ``dtw-python`` package, GPL-3.0+).

``dtw`` is imported here only, when a :class:`DynamicTimeWarpingEmbedding` is built, so the rest
of gymsamp (and of :mod:`gymsamp.sbi`) works without it.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch

from gymsamp.data import EnvSpec
from gymsamp.sbi.embeddings import Embedding, MaskLabels

__all__ = ["DynamicTimeWarpingEmbedding"]


def _import_dtw() -> Any:
    try:
        import dtw
    except ImportError as err:  # pragma: no cover - the extra is installed in development
        raise ImportError(
            "DynamicTimeWarpingEmbedding needs dtw-python (GPL-3.0-or-later), an optional "
            "dependency: pip install 'gymsamp[sbi]' or pip install dtw-python"
        ) from err
    return dtw


class DynamicTimeWarpingEmbedding(Embedding):
    """Per state dimension, the DTW distance between the simulated and the target states.

    The data of every time step holds the simulated ``[s, a]`` followed by the target-domain
    ``[s, a]`` (``2 * dim_data`` columns; the samplers arrange this). For every masked state
    column ``j`` the feature is dtw-python's ``dtw(sim[:, j], target[:, j],
    step_pattern=step_pattern).distance`` (absolute differences as local costs, no
    normalization), so ``dim_output = S``. A series compared with itself has distance 0.

    Args:
        spec: See :class:`~gymsamp.sbi.Embedding`.
        dim_data: See :class:`~gymsamp.sbi.Embedding` (the single width ``S + A``).
        step_pattern: A dtw-python step pattern or its name; None uses dtw-python's default
            ``"symmetric2"``. For example ``dtw.stepPattern.rabinerJuangStepPattern(6, "c")``.
        downsampling_factor: See :class:`~gymsamp.sbi.Embedding`.
        state_mask_labels: See :class:`~gymsamp.sbi.Embedding`.
        act_mask_labels: See :class:`~gymsamp.sbi.Embedding` (unused: only states are compared).
        use_cuda: See :class:`~gymsamp.sbi.Embedding` (the distance itself runs on the CPU).

    Example:
        >>> import torch
        >>> from gymnasium.spaces import Box
        >>> from gymsamp.data import EnvSpec
        >>> emb = DynamicTimeWarpingEmbedding(EnvSpec(Box(-9, 9, (1,)), Box(-1, 1, (1,))), 2)
        >>> sim = torch.tensor([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0]])
        >>> target = torch.tensor([[0.0, 0.0], [2.0, 0.0], [2.0, 0.0]])
        >>> emb.summary_statistic(torch.cat([sim, target], dim=1))
        tensor([1.])
    """

    name: ClassVar[str] = "dtwemb"
    requires_target_domain_data: ClassVar[bool] = True

    def __init__(
        self,
        spec: EnvSpec,
        dim_data: int,
        step_pattern: Any = None,
        downsampling_factor: int = 1,
        state_mask_labels: MaskLabels | None = None,
        act_mask_labels: MaskLabels | None = None,
        use_cuda: bool = False,
    ) -> None:
        super().__init__(
            spec, dim_data, downsampling_factor, state_mask_labels, act_mask_labels, use_cuda
        )
        dtw = _import_dtw()
        pattern = "symmetric2" if step_pattern is None else step_pattern
        if isinstance(pattern, str):
            resolved = getattr(dtw.stepPattern, pattern, None)
            if not isinstance(resolved, dtw.stepPattern.StepPattern):
                raise ValueError(
                    f"step_pattern must name a dtw-python step pattern (e.g. 'symmetric2'), "
                    f"got {pattern!r}"
                )
            pattern = resolved
        elif not isinstance(pattern, dtw.stepPattern.StepPattern):
            raise TypeError(
                "step_pattern must be None, a step pattern name or a dtw.stepPattern.StepPattern, "
                f"got {type(pattern).__name__}"
            )
        self.step_pattern = pattern

    @property
    def dim_output(self) -> int:
        return len(self._state_idcs)

    @torch.no_grad()
    def summary_statistic(self, data: torch.Tensor) -> torch.Tensor:
        """The DTW distance of every masked state column, simulated vs. target."""
        self.check_rollout_data(data)
        dtw = _import_dtw()  # already imported by __init__: a dict lookup
        sim, target = data[:, : self.dim_data], data[:, self.dim_data :]
        sim_states = self._states(sim).double().cpu().numpy()
        target_states = self._states(target).double().cpu().numpy()
        distances = [
            dtw.dtw(
                np.ascontiguousarray(sim_states[:, j]),
                np.ascontiguousarray(target_states[:, j]),
                step_pattern=self.step_pattern,
                distance_only=True,
            ).distance
            for j in range(sim_states.shape[1])
        ]
        return torch.tensor(distances, dtype=data.dtype, device=data.device)
