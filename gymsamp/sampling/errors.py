"""Errors raised by gymsamp's samplers and worker pools."""

from __future__ import annotations

import multiprocessing
import traceback
from collections.abc import Iterable

__all__ = [
    "LateSubEnvsError",
    "NonFiniteError",
    "StatesNotRecordedWarning",
    "StepTimeoutError",
    "WorkerError",
]


class WorkerError(RuntimeError):
    """A sub-env, worker process or Ray actor failed; carries where and the original traceback.

    Args:
        message: What failed, e.g. ``"sub-env 3 raised ValueError: bad action"``.
        env_index: Index of the failing sub-env, if known.
        worker_index: Index of the failing worker process or actor, if known.
        remote_traceback: The traceback text from the process where the error happened.

    Attributes:
        lost_env_indices: Every sub-env the failure took down where that is more than
            ``env_index`` (a dead worker process that stepped several sub-envs, or several
            hanging sub-envs), else empty.
        rollout_indices: The rollouts (their indices ``k`` in the collection) that the failed
            sub-envs were running or starting when they failed, set by the collection loop;
            for a dead Ray actor, every rollout lost with it (the batch it was running first);
            empty where unknown.

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
        self.lost_env_indices: tuple[int, ...] = ()
        self.rollout_indices: tuple[int, ...] = ()
        full = message
        if remote_traceback:
            full = f"{message}\n\nOriginal traceback:\n{remote_traceback.rstrip()}"
        super().__init__(full)

    @classmethod
    def of_build(
        cls, index: int, err: BaseException, *, where: str = "", worker_index: int | None = None
    ) -> WorkerError:
        """The error of sub-env ``index``, whose factory raised ``err`` ``where`` (e.g. "in its
        worker process"); call it in the ``except`` block, whose traceback it keeps.

        Example:
            >>> try:
            ...     raise OSError("license server unreachable")
            ... except OSError as err:
            ...     print(WorkerError.of_build(1, err).message)
            sub-env 1 raised OSError while being built: license server unreachable
        """
        return cls(
            f"sub-env {index} raised {type(err).__name__} while being built"
            f"{' ' + where if where else ''}: {err}",
            env_index=index,
            worker_index=worker_index,
            remote_traceback=traceback.format_exc(),
        )

    def __reduce__(self) -> tuple[object, ...]:
        # Keyword-only attributes, and the notes (PEP 678 ``__notes__``) and attributes set
        # after construction, must survive being sent between processes.
        return (
            _rebuild,
            (type(self), self.message, self.env_index, self.worker_index, self.remote_traceback),
            dict(self.__dict__),
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


class NonFiniteError(ValueError):
    """A rollout's observations or the policy's actions for it hold NaN or inf.

    Args:
        message: What is not finite, where, e.g. ``"actions must be finite, got ..."``.
        rollout_indices: The rollouts (indices ``k`` in the collection) it may belong to, as
            in :class:`WorkerError`.

    Example:
        >>> err = NonFiniteError("actions must be finite, got nan", rollout_indices=(3,))
        >>> isinstance(err, ValueError), err.rollout_indices
        (True, (3,))
    """

    def __init__(self, message: str, *, rollout_indices: tuple[int, ...] = ()) -> None:
        super().__init__(message)
        self.rollout_indices = tuple(rollout_indices)

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild_non_finite, (str(self), self.rollout_indices), dict(self.__dict__))


def _rebuild_non_finite(message: str, rollout_indices: tuple[int, ...]) -> NonFiniteError:
    return NonFiniteError(message, rollout_indices=rollout_indices)


class LateSubEnvsError(multiprocessing.TimeoutError):
    """A timed-out call of gymsamp's vector envs, naming who did not answer.

    A ``multiprocessing.TimeoutError``, as Gymnasium's ``step_wait(timeout)`` raises.

    Args:
        call: The call that timed out (``"step"``, ``"reset"``).
        timeout: Its timeout in seconds.
        env_indices: The sub-envs that did not answer (a hanging worker's whole block).
        worker_index: The worker process that did not answer, where sub-envs share one.

    Example:
        >>> print(LateSubEnvsError("step", 2.0, [1, 3]))
        sub-envs 1, 3 did not finish their step within 2.0 s
        >>> print(LateSubEnvsError("reset", 2.0, range(4), worker_index=0))
        worker 0 (sub-envs 0..3) did not finish its reset within 2.0 s
    """

    def __init__(
        self,
        call: str,
        timeout: float | None,
        env_indices: Iterable[int],
        *,
        worker_index: int | None = None,
    ) -> None:
        self.call = call
        self.timeout = timeout
        self.env_indices = list(env_indices)
        self.worker_index = worker_index
        super().__init__(self.describe(f"{timeout} s"))

    def __reduce__(self) -> tuple[object, ...]:
        # The default (the class called with ``args``, the message alone) cannot rebuild it.
        return (
            _rebuild_late,
            (type(self), self.call, self.timeout, self.env_indices, self.worker_index),
            dict(self.__dict__),
        )

    def describe(self, limit: str) -> str:
        """``"<who> did not finish its <call> within <limit>"``."""
        first, last = self.env_indices[0], self.env_indices[-1]
        if len(self.env_indices) == 1:
            who, whose = f"sub-env {first}", "its"
        elif self.worker_index is not None:  # a worker's block is a range of sub-envs
            who, whose = f"worker {self.worker_index} (sub-envs {first}..{last})", "its"
        else:
            who, whose = "sub-envs " + ", ".join(map(str, self.env_indices)), "their"
        return f"{who} did not finish {whose} {self.call} within {limit}"


def _rebuild_late(
    cls: type[LateSubEnvsError],
    call: str,
    timeout: float | None,
    env_indices: list[int],
    worker_index: int | None,
) -> LateSubEnvsError:
    return cls(call, timeout, env_indices, worker_index=worker_index)


class StepTimeoutError(WorkerError):
    """A sub-env did not answer within the sampler's step timeout (it hangs).

    Example:
        >>> issubclass(StepTimeoutError, WorkerError)
        True
        >>> print(StepTimeoutError.of_call("step", 2.0))
        a sub-env did not finish its step within step_timeout=2.0 s
        >>> err = StepTimeoutError.of_call("step", 2.0, LateSubEnvsError("step", 2.0, [3]))
        >>> print(err), err.env_index
        sub-env 3 did not finish its step within step_timeout=2.0 s
        (None, 3)
    """

    @classmethod
    def of_call(
        cls,
        call: str,
        step_timeout: float | None,
        late: BaseException | None = None,
        *,
        limit: str | None = None,
    ) -> StepTimeoutError:
        """The error for a vector env's ``call`` (``"step"``, ``"reset"``, ``"build"``) that
        timed out; ``late``: the vector env's own timeout error, which may name the sub-envs;
        ``limit``: the limit in words, where it is not ``step_timeout`` itself."""
        limit = limit or f"step_timeout={step_timeout} s"
        if not isinstance(late, LateSubEnvsError):
            return cls(f"a sub-env did not finish its {call} within {limit}")
        indices = late.env_indices
        error = cls(
            late.describe(limit),
            env_index=indices[0] if len(indices) == 1 else None,
            worker_index=late.worker_index,
        )
        if len(indices) > 1:  # every hanging sub-env, for the rollouts they were running
            error.lost_env_indices = tuple(indices)
        return error


class StatesNotRecordedWarning(UserWarning):
    """``record_states=True`` was asked for an env whose state gymsamp cannot read (no
    simulator adapter): the rollouts hold no ``states``. Code that asks for states wherever
    they exist filters this category.

    Example:
        >>> import warnings
        >>> import numpy as np
        >>> from gymsamp.sampling import ParallelRolloutSampler
        >>> zeros = lambda obs: np.zeros(len(obs), dtype=np.int64)
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     with ParallelRolloutSampler("gymsamp/RandomLength-v0", zeros, 1, min_rollouts=1,
        ...                                 record_states=True, show_progress_bar=False) as s:
        ...         (ro,) = s.sample()
        >>> [w.category.__name__ for w in caught], "states" in ro.data_names
        (['StatesNotRecordedWarning'], False)
    """
