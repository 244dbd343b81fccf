"""Errors raised by gymsamp's samplers and worker pools."""

from __future__ import annotations

__all__ = ["StepTimeoutError", "WorkerError"]


class WorkerError(RuntimeError):
    """A sub-env, worker process or Ray actor failed; carries where and the original traceback.

    Args:
        message: What failed, e.g. ``"sub-env 3 raised ValueError: bad action"``.
        env_index: Index of the failing sub-env, if known.
        worker_index: Index of the failing worker process or actor, if known.
        remote_traceback: The traceback text from the process where the error happened.

    Example:
        >>> err = WorkerError("sub-env 2 raised ValueError: bad action", env_index=2)
        >>> isinstance(err, RuntimeError), err.env_index
        (True, 2)
    """

    def __init__(
        self,
        message: str,
        *,
        env_index: int | None = None,
        worker_index: int | None = None,
        remote_traceback: str | None = None,
    ) -> None:
        self.message = message
        self.env_index = env_index
        self.worker_index = worker_index
        self.remote_traceback = remote_traceback
        full = message
        if remote_traceback:
            full = f"{message}\n\nOriginal traceback:\n{remote_traceback.rstrip()}"
        super().__init__(full)

    def __reduce__(self) -> tuple[object, ...]:
        # Keyword-only attributes must survive being sent between processes.
        return (
            _rebuild,
            (type(self), self.message, self.env_index, self.worker_index, self.remote_traceback),
        )


def _rebuild(
    cls: type[WorkerError],
    message: str,
    env_index: int | None,
    worker_index: int | None,
    remote_traceback: str | None,
) -> WorkerError:
    return cls(
        message, env_index=env_index, worker_index=worker_index, remote_traceback=remote_traceback
    )


class StepTimeoutError(WorkerError):
    """A sub-env did not answer within the sampler's step timeout (it hangs).

    Example:
        >>> issubclass(StepTimeoutError, WorkerError)
        True
        >>> print(StepTimeoutError.of_call("step", 2.0))
        a sub-env did not finish its step within step_timeout=2.0 s
    """

    @classmethod
    def of_call(cls, call: str, step_timeout: float | None) -> StepTimeoutError:
        """The error for a vector env's ``call`` (``"step"``, ``"reset"``) that timed out."""
        return cls(f"a sub-env did not finish its {call} within step_timeout={step_timeout} s")
