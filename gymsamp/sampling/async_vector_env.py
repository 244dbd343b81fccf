"""gymsamp's ``"async"`` vectorization: Gymnasium's ``AsyncVectorEnv``, one process per sub-env,
with errors that name the sub-env, queued resets that ride with the step actions, and a close
that ends every worker after a failure.
"""

from __future__ import annotations

import contextlib
import functools
import multiprocessing
import os
import queue
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from multiprocessing.connection import Connection
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AsyncVectorEnv
from gymnasium.vector.async_vector_env import AsyncState
from gymnasium.vector.async_vector_env import _async_worker as _gymnasium_async_worker
from gymnasium.vector.utils import create_empty_array, iterate

from gymsamp._checks import check_positive_real
from gymsamp.envs.probe import probing
from gymsamp.sampling.errors import LateSubEnvsError, WorkerError
from gymsamp.sampling.in_process_vector_env import build_sub_env
from gymsamp.sampling.observations import idle_batch, idle_observation
from gymsamp.sampling.queued_reset import check_env_index, reset_in_step
from gymsamp.sampling.reset_args import check_reset_mask, reset_seeds
from gymsamp.sampling.start_method import global_start_method_kept, main_guard_hint
from gymsamp.sampling.step_outputs import (
    check_step_info,
    one_flag,
    real_reward,
    unfit_observation,
)
from gymsamp.sampling.sub_env_infos import PerEnvInfos
from gymsamp.sampling.worker_lifetime import (
    ParentWatch,
    default_sigterm,
    die_with_parent,
    parent_watch,
    reap,
    release,
    sigint_held,
    sigint_released,
)


class _WithReset:
    """An action with its sub-env's queued reset riding along (async mode's step message)."""

    __slots__ = ("action", "options", "seed")

    def __init__(self, action: Any, seed: int | None, options: dict[str, Any] | None) -> None:
        self.action, self.seed, self.options = action, seed, options


class _Pause:
    """A step message that pauses its sub-env until the next reset (async mode)."""

    __slots__ = ()


class _QueuedResetWrapper(gym.Wrapper[Any, Any, Any, Any]):
    """In an async worker: keeps the reset that rode in with an action and resets with it in
    the step that ends the episode, and pauses on a :class:`_Pause`
    (:mod:`gymsamp.sampling.queued_reset`)."""

    def __init__(self, env: gym.Env[Any, Any]) -> None:
        super().__init__(env)
        self._queued: tuple[int | None, dict[str, Any] | None] | None = None
        self._paused = False
        # A row like Gymnasium's shared memory (array observations): each observation is
        # written here first, so one that does not fit is named before Gymnasium fails on it.
        row = create_empty_array(env.observation_space, n=1)
        self._row = row if type(row) is np.ndarray else None
        # What a sub-env paused before its first reset returns, as the other modes' rows
        # hold (Gymnasium's worker writes every step's observation to shared memory, where
        # None would fail integer and nested spaces and read as NaN in float ones).
        self._last_obs: Any = idle_observation(env.observation_space)

    def _check_obs(self, obs: Any) -> None:
        if obs is None:  # Gymnasium's shared memory would hold it as NaN
            raise unfit_observation(obs, self.observation_space)
        if self._row is not None:
            try:
                self._row[0] = obs
            except (TypeError, ValueError) as err:
                raise unfit_observation(obs, self.observation_space, err) from None

    def reset(self, **kwargs: Any) -> Any:
        self._queued = None
        self._paused = False
        if not kwargs.get("options"):
            # Gymnasium's masked reset hands the options left once it took out reset_mask,
            # {} if that was all: the env gets None, as in rollout() and the other modes (an
            # env may read any dict as "start where the options say").
            kwargs["options"] = None
        obs, info = self.env.reset(**kwargs)
        self._check_obs(obs)
        self._last_obs = obs
        return obs, info

    def step(self, action: Any) -> Any:
        if type(action) is _Pause:
            self._queued, self._paused = None, True
        if self._paused:
            return self._last_obs, 0.0, False, False, {}
        if type(action) is _WithReset:
            self._queued = (action.seed, action.options)
            action = action.action
        obs, reward, terminated, truncated, info = self.env.step(action)
        # Checked here: the parent gathers the rewards where the sub-env is no longer known
        # (and stacks size-1 arrays into a column, not the row of scalars the other modes make).
        reward = real_reward(reward)
        check_step_info(info)
        terminated, truncated = one_flag(terminated), one_flag(truncated, "truncated")
        self._check_obs(obs)
        if (terminated or truncated) and self._queued is not None:
            (seed, options), self._queued = self._queued, None
            obs, info = reset_in_step(self.env, seed, options, obs, info)
        self._last_obs = obs
        return obs, reward, terminated, truncated, info


#: Seconds the parent waits for a failed worker's error report to arrive on the error queue
#: (it is sent before the failure reply, so it is normally there at once).
_REPORT_TIMEOUT_S = 5.0
#: Seconds a terminated worker gets to exit before it is killed.
_TERMINATE_TIMEOUT_S = 2.0
#: Seconds a graceful close waits for the sub-envs' own ``close`` (as the batched env's
#: ``close_timeout``) before the workers are terminated.
_CLOSE_TIMEOUT_S = 10.0


def _async_worker(
    index: int,
    env_fn: Callable[[], gym.Env[Any, Any]],
    pipe: Connection,
    parent_pipe: Connection,
    shared_memory: Any,
    error_queue: Any,
    *rest: Any,
    parent: ParentWatch | None = None,
) -> None:
    """Gymnasium's async worker, except that a sub-env failing to build reports its error, and
    that the worker ends with the process ``parent`` watches (:func:`die_with_parent`).

    Gymnasium's worker builds the sub-env outside its error handling: the process dies with the
    error and the parent only sees the pipe break. Here the error goes on the error queue and
    the parent's first command (the space check) gets Gymnasium's failure reply.
    """
    sigint_released()
    default_sigterm()
    die_with_parent(parent)
    try:
        env = env_fn()
    except BaseException as err:  # KeyboardInterrupt too: the parent must hear of it
        parent_pipe.close()
        error = WorkerError.of_build(index, err, where="in its worker process", worker_index=index)
        error_queue.put((index, WorkerError, error, error.remote_traceback))
        try:
            pipe.recv()
            pipe.send((None, False))
        except (EOFError, OSError):  # the parent is gone
            pass
        return
    env = _ReportedClose(env, index, error_queue)
    _gymnasium_async_worker(
        index, lambda: env, pipe, parent_pipe, shared_memory, error_queue, *rest
    )


class _ReportedClose(gym.Wrapper[Any, Any, Any, Any]):
    """A worker's sub-env whose ``close()`` failure goes on the error queue for the parent's
    ``close()`` to report (Gymnasium's worker closes it after its last reply, so the error
    ended the process with a traceback on stderr and the parent never heard of it)."""

    def __init__(self, env: gym.Env[Any, Any], index: int, error_queue: Any) -> None:
        super().__init__(env)
        self._index, self._error_queue = index, error_queue

    def close(self) -> None:
        try:
            super().close()
        except Exception as err:
            message = f"sub-env {self._index} raised {type(err).__name__}: {err}"
            trace = traceback.format_exc()
            error = WorkerError(
                message, env_index=self._index, worker_index=self._index, remote_traceback=trace
            )
            self._error_queue.put((self._index, WorkerError, error, trace))


class _LateReplyError(Exception):
    """A worker's reply did not come before its pipe's ``deadline``."""

    def __init__(self, index: int) -> None:
        super().__init__(index)
        self.index = index


class _WorkerPipe:
    """The parent's end of a worker's pipe, on which a dead worker reads as a failed reply.

    Sending to a dead worker does nothing; receiving from it records the sub-env in ``dead`` and
    returns Gymnasium's failure reply ``(None, False)``, so every call of ``AsyncVectorEnv``
    reads the replies of all workers and ends in ``_raise_if_errors``. While ``deadline`` (a
    ``time.monotonic()`` value) is set, a reply not there by then raises :class:`_LateReplyError`.
    """

    __slots__ = ("conn", "dead", "deadline", "index")

    def __init__(self, conn: Connection, index: int, dead: set[int]) -> None:
        self.conn, self.index, self.dead = conn, index, dead
        self.deadline: float | None = None

    def send(self, obj: Any) -> None:
        try:
            self.conn.send(obj)
        except (ConnectionError, EOFError):  # broken pipe: the worker is gone
            self.dead.add(self.index)

    def recv(self) -> Any:
        if self.deadline is not None and not self.conn.poll(
            max(self.deadline - time.monotonic(), 0.0)
        ):
            raise _LateReplyError(self.index)
        try:
            return self.conn.recv()
        except (ConnectionError, EOFError):
            self.dead.add(self.index)
            return None, False

    def poll(self, timeout: float | None = 0.0) -> bool:
        return self.conn.poll(timeout)

    def fileno(self) -> int:
        return self.conn.fileno()

    def close(self) -> None:
        self.conn.close()

    @property
    def closed(self) -> bool:
        return self.conn.closed


class _ProbeEnv(gym.Wrapper[Any, Any, Any, Any]):
    """Gymnasium's dummy env (built in the parent to read spaces and metadata), closed as
    gymsamp's own probe envs are: a ``close()`` that raises is a warning, not a failed
    construction of a vector env whose sub-envs work.

    Its ``metadata`` is a copy of the env's: Gymnasium < 1.4 writes its ``autoreset_mode``
    into the dummy env's metadata, which is usually the env class's own dict, so every other
    vector env of that class (a user's ``SyncVectorEnv`` with ``SAME_STEP``, say) reported
    this one's mode and was collected as if it reset that way."""

    def __init__(self, env: gym.Env[Any, Any], on_close: Callable[[], None] | None = None) -> None:
        super().__init__(env)
        self.metadata = dict(env.metadata)
        self._on_close = on_close

    def close(self) -> None:
        with probing(self.env):
            pass
        if self._on_close is not None:
            self._on_close()  # Gymnasium starts the workers next


class _ProbedInParent:
    """``env_fns[0]``: what it builds in the parent (the dummy env) is a :class:`_ProbeEnv`,
    and a failure there sub-env 0's :class:`WorkerError`, as in its worker process; in the
    worker process it builds the sub-env as it is. ``on_probed``: called once the dummy env is
    closed, before Gymnasium starts the workers."""

    def __init__(self, env_fn: Callable[[], Any], on_probed: Callable[[], None] | None) -> None:
        self.env_fn = env_fn
        self.on_probed = on_probed
        self.parent_pid = os.getpid()

    def __call__(self) -> Any:
        if os.getpid() != self.parent_pid:
            return self.env_fn()
        return _ProbeEnv(build_sub_env(0, self.env_fn, where="in this process"), self.on_probed)

    def __getstate__(self) -> dict[str, Any]:
        # Sent to worker 0 (spawn, forkserver) without the parent's callback, which holds the
        # vector env.
        return {"env_fn": self.env_fn, "parent_pid": self.parent_pid}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state, on_probed=None)


class _AsyncVectorEnv(PerEnvInfos, AsyncVectorEnv):
    """AsyncVectorEnv whose worker errors name the sub-env and keep the traceback, with
    queued resets (:mod:`gymsamp.sampling.queued_reset`) for sub-envs built with
    ``SubEnvFactory(..., queued_resets=True)``: a payload rides to its worker with the next
    step's action.

    Gymnasium re-raises only the message (and logs the traceback with %-formatting, which
    itself fails on tracebacks containing '%'); this raises :class:`WorkerError` instead, also
    where Gymnasium raises a bare ``EOFError``, ``BrokenPipeError`` or ``ConnectionResetError``:
    a worker process that dies (killed, ``os._exit`` in its sub-env) or whose sub-env fails to
    build. A worker holds one sub-env, so the error's ``env_index`` and ``worker_index`` are
    both the sub-env's index; of several sub-envs failing in one call, the lowest is named.

    After a failure or a timeout the vector env is unusable (every call raises
    :class:`WorkerError`), and ``close()`` terminates the remaining workers without raising.
    ``seed`` in ``reset`` takes what :class:`InProcessVectorEnv` takes. ``build_timeout``
    (keyword, seconds; None: no limit) bounds the workers' start and their sub-envs' build:
    :class:`LateSubEnvsError` names the sub-envs not built by then, and every worker is
    terminated.
    """

    def __init__(self, *args: Any, build_timeout: float | None = None, **kwargs: Any) -> None:
        self._build_timeout = check_positive_real("build_timeout", build_timeout, optional=True)
        # Per sub-env, what rides with its next action: a queued reset, or None to pause.
        self._outbox: dict[int, tuple[int | None, dict[str, Any] | None] | None] = {}
        self._dead: set[int] = set()  # sub-envs whose pipe broke (filled by _WorkerPipe)
        self._failure: tuple[str, int | None] | None = None  # what made the env unusable
        context = args[3] if len(args) > 3 else kwargs.get("context")
        with global_start_method_kept():
            self._start_method = multiprocessing.get_context(context).get_start_method()
        self._starting = True  # until every worker has answered (a death then gets a hint)
        if len(args) < 6 and "worker" not in kwargs:  # Gymnasium's sixth parameter
            watch = parent_watch(self._start_method)
            kwargs["worker"] = functools.partial(_async_worker, parent=watch)
        env_fns = list(args[0] if args else kwargs.pop("env_fns"))
        # Ctrl-C is held back from the dummy env's close (Gymnasium then starts the workers)
        # to the space check (sigint_held: one in a fork would leave a worker no close() ends).
        self._start_hold = contextlib.ExitStack()
        if env_fns:
            env_fns[0] = _ProbedInParent(
                env_fns[0], lambda: self._start_hold.enter_context(sigint_held())
            )
        try:
            with global_start_method_kept(), self._start_hold:  # get_context(None) would fix
                super().__init__(env_fns, *args[1:], **kwargs)  # the caller's
        except BaseException:
            if hasattr(self, "processes"):  # workers started: end them, quietly
                self.close(terminate=True)
            raise
        self._starting = False
        # Rows of sub-envs not reset yet (paused ones) hold an element of the space, as the
        # workers' paused sub-envs report it (shared memory, or Gymnasium's own batch).
        idle_batch(self.single_observation_space, self.num_envs, out=self.observations)

    def _check_spaces(self) -> None:
        # The end of Gymnasium's __init__, and its first message to the workers: every worker
        # is recorded, so a Ctrl-C held back meanwhile comes now (and the workers are ended).
        self._start_hold.close()
        pipes: list[Any] = [
            pipe if isinstance(pipe, _WorkerPipe) else _WorkerPipe(pipe, i, self._dead)
            for i, pipe in enumerate(self.parent_pipes)
        ]
        self.parent_pipes = pipes
        if self._build_timeout is None:
            super()._check_spaces()
            return
        # The workers answer the space check once their sub-env is built, so the check's
        # replies bound the build (Gymnasium's check waits for them without a timeout).
        deadline = time.monotonic() + self._build_timeout
        for pipe in pipes:
            pipe.deadline = deadline
        try:
            super()._check_spaces()
        except _LateReplyError as late:  # the replies are read in order: the ones before came
            still = [j for j in range(late.index + 1, len(pipes)) if not pipes[j].poll()]
            raise LateSubEnvsError("build", self._build_timeout, [late.index, *still]) from None
        finally:
            for pipe in pipes:
                pipe.deadline = None

    def _assert_is_running(self) -> None:
        super()._assert_is_running()
        if self._failure is not None:
            what, index = self._failure
            raise WorkerError(
                f"{type(self).__name__} is unusable after {what}: close it and build a new one",
                env_index=index,
                worker_index=index,
            )

    def _poll_pipe_envs(self, timeout: float | None = None) -> bool:
        """Gymnasium's wait for every reply; on a timeout, names the sub-envs still silent."""
        if super()._poll_pipe_envs(timeout):
            return True
        self._failure = (f"a call timed out (timeout={timeout} s)", None)  # late replies
        late = [i for i, pipe in enumerate(self.parent_pipes) if pipe is None or not pipe.poll()]
        call = self._state.value  # "step", "reset" or "call"
        self._state = AsyncState.DEFAULT  # as Gymnasium leaves it after a timeout
        raise LateSubEnvsError(call, timeout, late)

    def queue_reset(
        self, index: int, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> None:
        """Reset sub-env ``index`` with ``seed`` and ``options`` inside the step that next
        ends its episode; sent with the next ``step_async`` (so also while one is pending)."""
        index = check_env_index(index, self.num_envs)
        if index in self._outbox and self._outbox[index] is None:  # a pause not yet sent
            return  # it lasts until a reset, which would discard this payload anyway
        self._outbox[index] = (seed, options)

    def pause(self, index: int) -> None:
        """Stop stepping sub-env ``index`` until its next reset; sent with the next
        ``step_async`` (:mod:`gymsamp.sampling.queued_reset`)."""
        self._outbox[check_env_index(index, self.num_envs)] = None

    def step_async(self, actions: Any) -> None:
        if self._outbox:
            per_env: list[Any] = list(iterate(self.action_space, actions))
            for i, payload in self._outbox.items():
                per_env[i] = _Pause() if payload is None else _WithReset(per_env[i], *payload)
            self._outbox.clear()
            self._send_steps(per_env)
        else:
            super().step_async(actions)

    def _send_steps(self, per_env: list[Any]) -> None:
        """Gymnasium's ``step_async`` for actions already split per sub-env."""
        self._assert_is_running()
        if self._state != AsyncState.DEFAULT:
            raise gym.error.AlreadyPendingCallError(
                f"Calling `step_async` while waiting for a pending call to "
                f"`{self._state.value}` to complete.",
                str(self._state.value),
            )
        for pipe, action in zip(self.parent_pipes, per_env, strict=True):
            pipe.send(("step", action))
        self._state = AsyncState.WAITING_STEP

    def reset_async(
        self,
        seed: int | Sequence[int | None] | None = None,
        options: dict[str, Any] | None = None,
    ) -> None:
        self._assert_is_running()
        seeds = reset_seeds(seed, self.num_envs)
        mask = None
        if options is not None and "reset_mask" in options:
            mask = check_reset_mask(options["reset_mask"], self.num_envs)
        super().reset_async(seed=seeds, options=options)
        for i in [i for i in self._outbox if mask is None or mask[i]]:
            del self._outbox[i]  # resetting discards queued resets

    def _raise_if_errors(self, successes: Iterable[bool]) -> None:
        failed = [i for i, success in enumerate(successes) if not success]
        if not failed:
            return
        errors: dict[int, WorkerError] = {}
        for _ in range(sum(i not in self._dead for i in failed)):  # the reported ones
            try:
                index, exctype, value, trace = self.error_queue.get(timeout=_REPORT_TIMEOUT_S)
            except queue.Empty:  # lost with its process: named as a death below
                break
            if isinstance(value, WorkerError):  # raised by _ErrorTagWrapper or _async_worker
                message = value.message
                # Its own traceback is the sub-env's; the worker's would repeat it inside the
                # chained WorkerError's text.
                trace = value.remote_traceback or trace
            else:
                message = f"sub-env {index} raised {exctype.__name__}: {value}"
            errors[index] = WorkerError(
                message, env_index=index, worker_index=index, remote_traceback=trace
            )
        for i in failed:  # every failed worker has ended (or is ending): drop its pipe
            if i not in errors:
                errors[i] = self._death(i)
            pipe = self.parent_pipes[i]
            if pipe is not None:
                pipe.close()
            self.parent_pipes[i] = None  # type: ignore[call-overload]
        self._state = AsyncState.DEFAULT
        first = min(failed)  # the lowest, as in the sync and batched vector envs
        self._failure = (f"the failure of sub-env {first}", first)
        raise errors[first]

    def _death(self, index: int) -> WorkerError:
        process = self.processes[index]
        reap(process, 1.0)  # for the exit code
        what = "died unexpectedly" if index in self._dead else "failed without an error report"
        hint = main_guard_hint(self._start_method) if self._starting else ""
        return WorkerError(
            f"worker {index} (sub-env {index}) {what} (exit code {process.exitcode}){hint}",
            env_index=index,
            worker_index=index,
        )

    def close_extras(self, timeout: float | None = None, terminate: bool = False) -> None:
        """End every worker: gracefully, or (with ``terminate``, after a failure, or when the
        sub-envs take over ``timeout`` seconds, 10 by default, to finish a pending call and
        close) by terminating them. Never raises for a failed or dead worker."""
        # After a close that was interrupted (its error queue dropped), only ending is left.
        graceful = (
            not terminate
            and self._failure is None
            and not self._dead
            and self.error_queue is not None
        )
        try:
            if graceful:
                try:
                    self._close_gracefully(_CLOSE_TIMEOUT_S if timeout is None else timeout)
                except (WorkerError, OSError, EOFError, multiprocessing.TimeoutError):
                    graceful = False  # a worker failed or hangs: every worker ends below
                except BaseException:
                    self._end_workers()
                    raise
            self._end_workers()
            if graceful:
                failed_close = self._failed_close()
                if failed_close is not None:
                    self.closed = True  # every worker ended: nothing is left to close
                    raise failed_close
        finally:
            # Ended workers' handles are closed now; workers still running (this close was
            # interrupted) stay, so that the next close ends them.
            self.processes = release(self.processes)
            # Dropped, not closed: Queue.close() closes the queue's pipe only after a put()
            # from this process. With the processes released nothing else holds it, so its
            # fds close now, also while an error's traceback keeps this env alive.
            self.error_queue = None  # type: ignore[assignment]

    def _failed_close(self) -> WorkerError | None:
        """The lowest sub-env's ``close()`` failure (:class:`_ReportedClose`), if any."""
        errors: dict[int, WorkerError] = {}
        while True:
            try:
                index, _, error, _ = self.error_queue.get(timeout=0.0)
            except (queue.Empty, OSError, EOFError, ValueError):
                break
            if isinstance(error, WorkerError):
                errors.setdefault(index, error)
        return errors[min(errors)] if errors else None

    def _close_gracefully(self, timeout: float) -> None:
        """Gymnasium's graceful close, bounded: its ``close_extras`` waits for every pipe's
        reply without a timeout, so a sub-env whose ``close`` hangs would hang ``close()``."""
        deadline = time.monotonic() + timeout
        if self._state != AsyncState.DEFAULT:  # a call is pending: its reply comes first
            getattr(self, f"{self._state.value}_wait")(timeout)
        pipes = [p for p in self.parent_pipes if p is not None and not p.closed]
        for pipe in pipes:
            pipe.send(("close", None))
        for pipe in pipes:
            if not pipe.poll(max(deadline - time.monotonic(), 0.0)):
                return  # the rest are terminated
            pipe.recv()
        for process in self.processes:  # a worker closes its sub-env after its reply
            reap(process, max(deadline - time.monotonic(), 0.0))

    def __del__(self) -> None:
        # A forgotten vector env must not leave processes behind, and must not raise. Its
        # pipes close themselves: garbage collection finalizes the objects of a cycle in any
        # order, and a Connection finalized first has closed its fd but kept the number, so
        # closing it again fails (EBADF) or, were the number reused, closes another file.
        try:
            if not getattr(self, "closed", True) and hasattr(self, "_state"):
                self.parent_pipes = []
                self.close(terminate=True)
        except Exception:
            pass

    def _end_workers(self) -> None:
        """Terminate the workers still running, close every pipe and reap every process."""
        started = [p for p in getattr(self, "processes", []) if p.pid is not None]
        for process in started:
            if process.is_alive():
                process.terminate()
        for pipe in getattr(self, "parent_pipes", []):
            if pipe is not None and not pipe.closed:
                pipe.close()
        for process in started:
            reap(process, _TERMINATE_TIMEOUT_S)
            if process.is_alive():  # it ignores SIGTERM
                process.kill()
                reap(process)
