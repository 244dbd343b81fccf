"""The parameter rows that a call of :class:`~gymsamp.sbi.SimRolloutSamplerForSBI`
(:mod:`gymsamp.sbi.samplers`) could not simulate.

- :func:`refused_rows`: the rows the env refuses, found before any row runs;
- :func:`simulation_error`: the error a failed row raises (``on_failure="raise"``);
- :func:`warn_failed`: the one warning of a call whose failed rows get NaN features
  (``on_failure="nan"``);
- :func:`_where`: rows named by their parameter values, for both.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np

from gymsamp._warnings import user_stacklevel
from gymsamp.sampling import NonFiniteError, WorkerError
from gymsamp.sbi._workers import EnvInfo, FailedRows

__all__ = ["refused_rows", "simulation_error", "warn_failed"]

#: Failed rows a warning describes one by one (the count names the rest).
_FAILURES_SHOWN = 3


def refused_rows(
    theta: np.ndarray, info: EnvInfo, dp_names: Sequence[str], on_failure: str
) -> dict[int, FailedRows]:
    """The parameter rows of ``theta`` the env would refuse, checked here rather than as
    a worker's error (e.g. a prior too wide).

    With ``on_failure="raise"`` the first one raises; with ``"nan"`` each is returned as
    its row's failure, so that it gets NaN features without being simulated.
    """
    validator = info.domain_param_validator
    refused: dict[int, FailedRows] = {}
    if validator is None:  # only the env can tell
        return refused
    env_id = info.env_id
    for b, row in enumerate(theta.tolist()):
        try:
            validator(dict(zip(dp_names, row, strict=True)))
        except (TypeError, ValueError) as err:
            if on_failure == "raise":
                raise ValueError(
                    f"dp_values row {b} must hold values {env_id} accepts: {err}"
                ) from None
            message = f"{env_id} does not accept these values: {err}"
            refused[b] = FailedRows((b,), type(err).__name__, message)
    return refused


def _where(theta: np.ndarray, rows: Sequence[int], dp_names: Sequence[str]) -> str:
    """``row b (name=value, ...)`` for each parameter row in ``rows``."""
    return ", ".join(
        f"row {b} ("
        + ", ".join(f"{n}={v:.6g}" for n, v in zip(dp_names, theta[b], strict=True))
        + ")"
        for b in rows
    )


def simulation_error(failed: FailedRows, theta: np.ndarray, dp_names: Sequence[str]) -> Exception:
    """``failed`` as the error of the parameter row(s) it simulated."""
    rows = sorted(set(failed.rows))
    message = f"simulating theta {_where(theta, rows, dp_names) or 'rows'} failed: {failed.message}"
    if failed.error_type == "NonFiniteError":
        return NonFiniteError(message, rollout_indices=tuple(rows))
    error = WorkerError(message, remote_traceback=failed.remote_traceback)
    error.rollout_indices = tuple(rows)
    return error


def warn_failed(
    theta: np.ndarray, failed: Mapping[int, FailedRows], dp_names: Sequence[str]
) -> None:
    """One warning naming the parameter rows whose features are NaN, and why."""
    rows = sorted(failed)
    shown = "; ".join(
        f"{_where(theta, [b], dp_names)}: {failed[b].message.splitlines()[0]}"
        for b in rows[:_FAILURES_SHOWN]
    )
    more = len(rows) - _FAILURES_SHOWN
    warnings.warn(
        f"{len(rows)} of {len(theta)} theta rows failed to simulate and have NaN features "
        f"(on_failure='nan'): {shown}" + (f"; and {more} more" if more > 0 else ""),
        RuntimeWarning,
        stacklevel=user_stacklevel(),
    )
