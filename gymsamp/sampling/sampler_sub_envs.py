"""A sampler's own sub-envs, seen from outside the sampler: the probe env that measures their
step cost, closing them so that no worker process outlives the sampler, and the message that
refuses to pickle a sampler that owns them."""

from __future__ import annotations

import traceback
import warnings
from typing import Any

import gymnasium as gym

from gymsamp._warnings import user_stacklevel
from gymsamp.sampling.batched_vector_env import BatchedAsyncVectorEnv
from gymsamp.sampling.errors import WorkerError
from gymsamp.sampling.vector_envs import measure_step_cost

__all__ = ["close_vector_env", "not_picklable", "probe_step_cost"]


def not_picklable(sampler: str) -> str:
    """The message refusing to pickle or copy a sampler that owns sub-envs."""
    return (
        f"a {sampler} cannot be pickled or copied: it owns its sub-envs and worker processes "
        "(build another one from the same env and policy)"
    )


def probe_step_cost(probe: gym.Env[Any, Any]) -> float:
    """``measure_step_cost``, its failures named as what they are: the env's, in the probe."""
    try:
        return measure_step_cost(probe)
    except Exception as err:
        raise WorkerError(
            f"the env raised {type(err).__name__} in a probe env's first reset or steps "
            "(vectorization='auto' runs one in this process to measure the step cost; a "
            f"vectorization other than 'auto' runs none): {err}",
            remote_traceback=traceback.format_exc(),
        ) from err


def close_vector_env(envs: gym.vector.VectorEnv, terminate: bool) -> None:
    """Close ``envs``; no worker process outlives it. A failing close is not raised (close runs
    in ``with`` exits and finalizers, where it would hide the error that led there) but warned
    about where the user closed the sampler (on error paths, ``terminate``, it is expected)."""
    if getattr(envs, "closed", False):
        return
    try:
        if isinstance(envs, (gym.vector.AsyncVectorEnv, BatchedAsyncVectorEnv)):
            envs.close(terminate=terminate)
        else:
            envs.close()
    except Exception as err:
        for process in getattr(envs, "processes", ()):
            if process.is_alive():
                process.kill()
        if not terminate:
            what = err.message if isinstance(err, WorkerError) else f"{type(err).__name__}: {err}"
            warnings.warn(
                f"closing the sampler's sub-envs failed: {what} (every sub-env was still "
                "closed and every worker process ended)",
                RuntimeWarning,
                stacklevel=user_stacklevel(),
            )
