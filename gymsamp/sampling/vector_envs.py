"""Building the vector envs the collection loop runs on.

- :class:`EnvFactory` turns what users pass (an env id, a factory, an env instance) into a
  picklable factory, so sub-envs can be built inside worker processes (fork or spawn).
- :class:`SubEnvFactory` adds gymsamp's wrappers (domain parameters, initial states, state
  recording) to every sub-env of a simulator gymsamp has an adapter for.
- :func:`make_vector_env` builds a Sync, Async or batched (several sub-envs per worker
  process, :class:`~gymsamp.sampling.batched_vector_env.BatchedAsyncVectorEnv`) vector env with
  autoreset ``DISABLED`` whose errors name the failing sub-env and carry its traceback
  (:class:`WorkerError`).
- :func:`choose_vectorization` picks one of them for ``vectorization="auto"`` from the
  measured cost of a step (:func:`measure_step_cost`).
- :class:`SingleEnvVector` views one env instance as a vector env of one, for ``rollout()``.
"""

from __future__ import annotations

import math
import queue
import traceback
from collections.abc import Callable, Iterable, Sequence
from multiprocessing.connection import Connection
from numbers import Integral
from typing import Any

import cloudpickle
import gymnasium as gym
import numpy as np
from gymnasium.vector import AsyncVectorEnv, AutoresetMode, VectorEnv
from gymnasium.vector.async_vector_env import AsyncState
from gymnasium.vector.async_vector_env import _async_worker as _gymnasium_async_worker
from gymnasium.vector.utils import batch_space, create_empty_array, iterate

from gymsamp.envs.adapter import has_adapter
from gymsamp.envs.wrappers import DomainParamWrapper, InitStateWrapper, find_wrapper
from gymsamp.sampling.batched_vector_env import BatchedAsyncVectorEnv, _check_mask
from gymsamp.sampling.errors import WorkerError
from gymsamp.sampling.queued_reset import check_env_index, reset_in_step
from gymsamp.sampling.start_method import global_start_method_kept

__all__ = [
    "VECTORIZATIONS",
    "EnvFactory",
    "InProcessVectorEnv",
    "SingleEnvVector",
    "SubEnvFactory",
    "batched_workers",
    "choose_vectorization",
    "env_dt",
    "make_vector_env",
    "measure_step_cost",
    "prepare_env",
]

EnvLike = str | Callable[[], gym.Env[Any, Any]] | gym.Env[Any, Any]

#: The values of the samplers' ``vectorization`` option: ``"sync"`` (every sub-env in this
#: process), ``"async"`` (Gymnasium's ``AsyncVectorEnv``: a process per sub-env), ``"batched"``
#: (several sub-envs per worker process) and ``"auto"`` (:func:`choose_vectorization`).
VECTORIZATIONS = ("auto", "sync", "async", "batched")


def _make_registered(env_id: str, kwargs: dict[str, Any]) -> gym.Env[Any, Any]:
    # Importing gymsamp registers its toy ids, also in a freshly spawned worker.
    import gymsamp  # noqa: F401

    return gym.make(env_id, **kwargs)


class EnvFactory:
    """A picklable factory for what the user gave: an env id, a factory or an env instance.

    Args:
        env: A registered env id (``"CartPole-v1"``, ``"gymsamp/Counting-v0"``), a callable
            returning a ``gymnasium.Env``, or an env instance (copied with cloudpickle for
            every sub-env, so the instance itself is never stepped).
        **make_kwargs: Keyword arguments for ``gym.make`` when ``env`` is an id.
    """

    _kind: str
    _payload: Any
    env_id: str

    def __init__(self, env: EnvLike, **make_kwargs: Any) -> None:
        if isinstance(env, EnvFactory):
            self._kind, self._payload, self.env_id = env._kind, env._payload, env.env_id
            return
        if isinstance(env, str):
            try:
                gym.spec(env)
            except gym.error.Error as err:
                import gymsamp  # noqa: F401  (registers the gymsamp/... ids)

                try:
                    gym.spec(env)
                except gym.error.Error:
                    raise ValueError(
                        f"env must be a registered Gymnasium id, got {env!r}: {err}"
                    ) from None
            self._kind, self._payload, self.env_id = "id", (env, make_kwargs), env
        elif isinstance(env, gym.Env):
            self._kind, self._payload = "instance", cloudpickle.dumps(env)
            self.env_id = env.spec.id if env.spec is not None else type(env.unwrapped).__name__
        elif callable(env):
            self._kind, self._payload = "factory", env
            self.env_id = getattr(env, "__name__", type(env).__name__)
        else:
            raise TypeError(
                "env must be a Gymnasium env id, a callable returning a gymnasium.Env or a "
                f"gymnasium.Env instance, got {type(env).__name__}"
            )

    def __call__(self) -> gym.Env[Any, Any]:
        if self._kind == "id":
            env_id, kwargs = self._payload
            return _make_registered(env_id, kwargs)
        if self._kind == "instance":
            return cloudpickle.loads(self._payload)
        env = self._payload()
        if not isinstance(env, gym.Env):
            raise TypeError(
                f"env factory {self.env_id} must return a gymnasium.Env, got {type(env).__name__}"
            )
        if isinstance(env, VectorEnv):
            raise TypeError(f"env factory {self.env_id} must return a single env, got a VectorEnv")
        return env


def prepare_env(env: gym.Env[Any, Any], *, record_state: bool = True) -> gym.Env[Any, Any]:
    """Add gymsamp's domain-parameter and init-state wrappers where the env lacks them.

    Envs without a simulator adapter are returned unchanged (they cannot take domain
    parameters or initial states; asking for them then fails with a clear error).
    """
    if not has_adapter(env):
        return env
    if find_wrapper(env, DomainParamWrapper) is None:
        env = DomainParamWrapper(env)
    existing = find_wrapper(env, InitStateWrapper)
    if existing is None:
        env = InitStateWrapper(env, record_state=record_state)
    else:
        existing.record_state = record_state
    return env


class _ErrorTagWrapper(gym.Wrapper[Any, Any, Any, Any]):
    """Re-raises a sub-env's exception as :class:`WorkerError` naming the sub-env."""

    def __init__(self, env: gym.Env[Any, Any], index: int) -> None:
        super().__init__(env)
        self._index = index

    def _fail(self, where: str, err: Exception) -> WorkerError:
        return WorkerError(
            f"sub-env {self._index} raised {type(err).__name__} in {where}: {err}",
            env_index=self._index,
            remote_traceback=traceback.format_exc(),
        )

    def reset(self, **kwargs: Any) -> Any:
        try:
            return self.env.reset(**kwargs)
        except WorkerError:
            raise
        except Exception as err:
            raise self._fail("reset", err) from err

    def step(self, action: Any) -> Any:
        try:
            return self.env.step(action)
        except Exception as err:
            raise self._fail("step", err) from err


class _WithReset:
    """An action with its sub-env's queued reset riding along (async mode's step message)."""

    __slots__ = ("action", "options", "seed")

    def __init__(self, action: Any, seed: int | None, options: dict[str, Any] | None) -> None:
        self.action, self.seed, self.options = action, seed, options


class _QueuedResetWrapper(gym.Wrapper[Any, Any, Any, Any]):
    """In an async worker: keeps the reset that rode in with an action and resets with it in
    the step that ends the episode (:mod:`gymsamp.sampling.queued_reset`)."""

    def __init__(self, env: gym.Env[Any, Any]) -> None:
        super().__init__(env)
        self._queued: tuple[int | None, dict[str, Any] | None] | None = None

    def reset(self, **kwargs: Any) -> Any:
        self._queued = None
        return self.env.reset(**kwargs)

    def step(self, action: Any) -> Any:
        if type(action) is _WithReset:
            self._queued = (action.seed, action.options)
            action = action.action
        obs, reward, terminated, truncated, info = self.env.step(action)
        if (terminated or truncated) and self._queued is not None:
            (seed, options), self._queued = self._queued, None
            obs, info = reset_in_step(self.env, seed, options, obs, info)
        return obs, reward, terminated, truncated, info


class SubEnvFactory:
    """Builds sub-env ``index``: the user's env, gymsamp's wrappers, error tagging, and (for
    async workers) queued resets."""

    def __init__(
        self,
        factory: EnvFactory,
        index: int,
        *,
        record_state: bool = True,
        tag_errors: bool = True,
        queued_resets: bool = False,
    ) -> None:
        self.factory = factory
        self.index = index
        self.record_state = record_state
        self.tag_errors = tag_errors
        self.queued_resets = queued_resets

    def __call__(self) -> gym.Env[Any, Any]:
        env = prepare_env(self.factory(), record_state=self.record_state)
        if self.tag_errors:
            env = _ErrorTagWrapper(env, self.index)
        return _QueuedResetWrapper(env) if self.queued_resets else env


#: Seconds the parent waits for a failed worker's error report to arrive on the error queue
#: (it is sent before the failure reply, so it is normally there at once).
_REPORT_TIMEOUT_S = 5.0
#: Seconds a terminated worker gets to exit before it is killed.
_TERMINATE_TIMEOUT_S = 2.0


def _async_worker(
    index: int,
    env_fn: Callable[[], gym.Env[Any, Any]],
    pipe: Connection,
    parent_pipe: Connection,
    shared_memory: Any,
    error_queue: Any,
    *rest: Any,
) -> None:
    """Gymnasium's async worker, except that a sub-env failing to build reports its error.

    Gymnasium's worker builds the sub-env outside its error handling: the process dies with the
    error and the parent only sees the pipe break. Here the error goes on the error queue and
    the parent's first command (the space check) gets Gymnasium's failure reply.
    """
    try:
        env = env_fn()
    except BaseException as err:  # KeyboardInterrupt too: the parent must hear of it
        trace = traceback.format_exc()
        parent_pipe.close()
        error = WorkerError(
            f"sub-env {index} raised {type(err).__name__} while being built in its worker "
            f"process: {err}",
            env_index=index,
            worker_index=index,
            remote_traceback=trace,
        )
        error_queue.put((index, WorkerError, error, trace))
        try:
            pipe.recv()
            pipe.send((None, False))
        except (EOFError, OSError):  # the parent is gone
            pass
        return
    _gymnasium_async_worker(
        index, lambda: env, pipe, parent_pipe, shared_memory, error_queue, *rest
    )


class _WorkerPipe:
    """The parent's end of a worker's pipe, on which a dead worker reads as a failed reply.

    Sending to a dead worker does nothing; receiving from it records the sub-env in ``dead`` and
    returns Gymnasium's failure reply ``(None, False)``, so every call of ``AsyncVectorEnv``
    reads the replies of all workers and ends in ``_raise_if_errors``.
    """

    __slots__ = ("conn", "dead", "index")

    def __init__(self, conn: Connection, index: int, dead: set[int]) -> None:
        self.conn, self.index, self.dead = conn, index, dead

    def send(self, obj: Any) -> None:
        try:
            self.conn.send(obj)
        except (ConnectionError, EOFError):  # broken pipe: the worker is gone
            self.dead.add(self.index)

    def recv(self) -> Any:
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


class _AsyncVectorEnv(AsyncVectorEnv):
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
    ``seed`` in ``reset`` takes what :class:`InProcessVectorEnv` takes.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._outbox: dict[int, tuple[int | None, dict[str, Any] | None]] = {}
        self._dead: set[int] = set()  # sub-envs whose pipe broke (filled by _WorkerPipe)
        self._failure: tuple[str, int | None] | None = None  # what made the env unusable
        if len(args) < 6:  # Gymnasium's sixth parameter is ``worker``
            kwargs.setdefault("worker", _async_worker)
        try:
            with global_start_method_kept():  # get_context(None) would fix the caller's
                super().__init__(*args, **kwargs)
        except BaseException:
            if hasattr(self, "processes"):  # workers started: end them, quietly
                self.close(terminate=True)
            raise

    def _check_spaces(self) -> None:
        # The end of Gymnasium's __init__, and its first message to the workers.
        pipes: list[Any] = [
            pipe if isinstance(pipe, _WorkerPipe) else _WorkerPipe(pipe, i, self._dead)
            for i, pipe in enumerate(self.parent_pipes)
        ]
        self.parent_pipes = pipes
        super()._check_spaces()

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
        ready = super()._poll_pipe_envs(timeout)
        if not ready:  # late replies would be read as the next ones
            self._failure = (f"a call timed out (timeout={timeout} s)", None)
        return ready

    def queue_reset(
        self, index: int, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> None:
        """Reset sub-env ``index`` with ``seed`` and ``options`` inside the step that next
        ends its episode; sent with the next ``step_async`` (so also while one is pending)."""
        self._outbox[check_env_index(index, self.num_envs)] = (seed, options)

    def step_async(self, actions: Any) -> None:
        if self._outbox:
            per_env: list[Any] = list(iterate(self.action_space, actions))
            for i, (seed, options) in self._outbox.items():
                per_env[i] = _WithReset(per_env[i], seed, options)
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
        seeds = _reset_seeds(seed, self.num_envs)
        mask = None
        if options is not None and "reset_mask" in options:
            mask = _check_mask(options["reset_mask"], self.num_envs)
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
        process.join(timeout=1.0)  # reap it, for the exit code
        what = "died unexpectedly" if index in self._dead else "failed without an error report"
        return WorkerError(
            f"worker {index} (sub-env {index}) {what} (exit code {process.exitcode})",
            env_index=index,
            worker_index=index,
        )

    def close_extras(self, timeout: float | None = None, terminate: bool = False) -> None:
        """End every worker: gracefully, or (with ``terminate``, or after a failure or a
        timeout) by terminating them. Never raises for a failed or dead worker."""
        if not terminate and self._failure is None and not self._dead:
            try:
                super().close_extras(timeout=timeout, terminate=False)
            except (WorkerError, OSError, EOFError):
                pass  # a worker failed in a pending call: the others end below
            except BaseException:
                self._end_workers()
                raise
        self._end_workers()

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
            process.join(timeout=_TERMINATE_TIMEOUT_S)
            if process.is_alive():  # it ignores SIGTERM
                process.kill()
                process.join()


def make_vector_env(
    factory: EnvFactory,
    num_envs: int,
    mode: str,
    *,
    record_state: bool = True,
    start_method: str | None = None,
    num_workers: int | None = None,
) -> VectorEnv:
    """A vector env of ``num_envs`` prepared sub-envs with autoreset ``DISABLED``.

    Args:
        factory: Builds the user's env.
        num_envs: Number of sub-envs.
        mode: ``"sync"``, ``"async"`` or ``"batched"`` (see :data:`VECTORIZATIONS`).
        record_state: Sub-envs report their full state in ``info["state"]``.
        start_method: Multiprocessing start method of the worker processes (None: default).
        num_workers: ``"batched"`` only: worker processes (default ``min(num_envs, CPUs)``),
            each stepping ``ceil(num_envs / num_workers)`` sub-envs.

    Example:
        >>> envs = make_vector_env(EnvFactory("CartPole-v1"), 4, "batched", num_workers=2)
        >>> type(envs).__name__, envs.num_workers, envs.metadata["autoreset_mode"].name
        ('BatchedAsyncVectorEnv', 2, 'DISABLED')
        >>> envs.close()
    """
    env_fns = [
        SubEnvFactory(factory, i, record_state=record_state, queued_resets=mode == "async")
        for i in range(num_envs)
    ]
    if mode == "sync":
        # In-process sub-envs need no error-tag wrapper: the vector env names them itself.
        plain = [
            SubEnvFactory(factory, i, record_state=record_state, tag_errors=False)
            for i in range(num_envs)
        ]
        return InProcessVectorEnv([fn() for fn in plain])
    if mode == "async":
        return _AsyncVectorEnv(
            env_fns,
            autoreset_mode=AutoresetMode.DISABLED,
            shared_memory=True,
            context=start_method,
        )
    if mode == "batched":
        return BatchedAsyncVectorEnv(env_fns, num_workers, context=start_method)
    raise ValueError(f"vectorization must be 'sync', 'async' or 'batched' here, got {mode!r}")


def measure_step_cost(env: gym.Env[Any, Any], *, steps: int = 30, seed: int = 0) -> float:
    """Median wall time of one ``env.step`` in microseconds, from a short run of random actions.

    The median, not the mean: on a loaded machine one step of the probe may be preempted for
    milliseconds, and the first step may run one-off checks (Gymnasium's env checker). The env
    is reset with ``seed`` and its action space is seeded, so the probe never touches a global
    RNG. Episode ends are reset and not timed.
    """
    import time

    env.action_space.seed(seed)
    env.reset(seed=seed)
    times = []
    for _ in range(steps):
        action = env.action_space.sample()
        start = time.perf_counter()
        _, _, terminated, truncated, _ = env.step(action)
        times.append(time.perf_counter() - start)
        if terminated or truncated:
            env.reset()
    return 1e6 * float(np.median(times))


#: The cost model of :func:`choose_vectorization`, in microseconds per vector step, fitted to
#: samplers on 2 idle vCPUs (bench/NOTES.md): a batched step pays a fixed cost (waking the
#: parent, copying the batch) plus a message round trip per worker, and the collection loop's
#: own time is paid in every mode.
BATCHED_FIXED_US = 15.0
BATCHED_PER_WORKER_US = 5.0
COLLECTION_LOOP_US = 50.0
#: Batch only where the model predicts at least this speed-up over stepping in-process: it
#: leaves out other load on the machine, which hurts worker processes most.
BATCHED_MIN_GAIN = 1.15
#: From this step cost on, one process per sub-env costs < ~3% in messages and lets the OS
#: balance sub-envs whose step costs vary (contacts, iterative solvers).
ASYNC_MIN_STEP_US = 1000.0


def _batched_us(num_envs: int, step_cost_us: float, processes: int) -> float:
    per_worker = math.ceil(num_envs / processes) * step_cost_us
    return per_worker + BATCHED_FIXED_US + BATCHED_PER_WORKER_US * processes


def batched_workers(num_envs: int, step_cost_us: float, cpu_count: int | None) -> int:
    """The number of worker processes (>= 2 where possible) that the cost model finds fastest.

    Cheap steps favour few processes with many sub-envs each, expensive ones every CPU.

    Example:
        >>> batched_workers(8, 8.0, 16), batched_workers(8, 200.0, 16), batched_workers(8, 200.0, 2)
        (4, 8, 2)
    """
    top = max(1, min(num_envs, cpu_count or 1))
    return min(range(min(2, top), top + 1), key=lambda p: _batched_us(num_envs, step_cost_us, p))


def choose_vectorization(num_workers: int, step_cost_us: float, cpu_count: int | None) -> str:
    """``"sync"``, ``"batched"`` or ``"async"`` for ``vectorization="auto"``.

    For ``n = num_workers`` sub-envs of step cost ``c``, a vector step costs ``n * c`` in this
    process and ``ceil(n / P) * c + BATCHED_FIXED_US + BATCHED_PER_WORKER_US * P`` batched over
    ``P = batched_workers(...)`` processes, plus ``COLLECTION_LOOP_US`` either way. The choice:

    - ``"sync"``: one sub-env, one CPU, or batching predicted less than ``BATCHED_MIN_GAIN``
      times as fast (steps too cheap to pay for the messages; CartPole on 2 CPUs);
    - ``"async"``: steps of at least ``ASYNC_MIN_STEP_US``, where messages are negligible;
    - ``"batched"``: in between.

    Example:
        >>> choose_vectorization(8, 8.5, 2), choose_vectorization(8, 20.0, 2)
        ('sync', 'batched')
        >>> choose_vectorization(2, 200.0, 2), choose_vectorization(2, 5000.0, 2)
        ('batched', 'async')
    """
    cpus = cpu_count or 1
    if num_workers == 1 or cpus == 1:
        return "sync"
    processes = batched_workers(num_workers, step_cost_us, cpus)
    in_process = num_workers * step_cost_us + COLLECTION_LOOP_US
    batched = _batched_us(num_workers, step_cost_us, processes) + COLLECTION_LOOP_US
    if in_process < BATCHED_MIN_GAIN * batched:
        return "sync"
    return "async" if step_cost_us >= ASYNC_MIN_STEP_US else "batched"


def env_dt(env: gym.Env[Any, Any]) -> float:
    """Simulated seconds per step (MuJoCo ``dt``, CartPole ``tau``, Pendulum ``dt``), else 1."""
    unwrapped = env.unwrapped
    for name in ("dt", "tau"):
        value = getattr(unwrapped, name, None)
        if isinstance(value, (int, float, np.floating)) and value > 0:
            return float(value)
    return 1.0


def _scalars(what: str, values: list[Any], dtype: type) -> np.ndarray:
    """The sub-envs' step scalars as one array (a size-1 array counts as its scalar)."""
    batch: np.ndarray = np.array(values, dtype=dtype)
    if batch.shape != (len(values),):
        if batch.size != len(values):
            raise ValueError(f"sub-env {what} must be scalars, got {values!r}")
        batch = batch.reshape(len(values))
    return batch


def _is_int(value: Any) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool)


def _reset_seeds(seed: Any, n: int) -> list[int | None]:
    """One seed (a Python ``int`` or None) per sub-env from the ``seed`` of a vector reset.

    None: no seeds; an int (numpy integers too): sub-env ``i`` gets ``seed + i``, as in
    Gymnasium; a list, tuple or 1-D array: one int or None per sub-env.

    Example:
        >>> _reset_seeds(np.int64(5), 3), _reset_seeds((1, None), 2)
        ([5, 6, 7], [1, None])
    """
    if seed is None:
        return [None] * n
    if _is_int(seed):
        return [int(seed) + i for i in range(n)]
    is_sequence = isinstance(seed, Sequence) and not isinstance(seed, (str, bytes))
    if not is_sequence and not (isinstance(seed, np.ndarray) and seed.ndim == 1):
        raise TypeError(
            f"seed must be None, an int or a list or tuple of num_envs={n} ints or Nones, "
            f"got {seed!r}"
        )
    seeds = list(seed)
    if len(seeds) != n:
        raise ValueError(f"seed must hold num_envs={n} seeds, got {len(seeds)}: {seed!r}")
    for i, value in enumerate(seeds):
        if value is not None and not _is_int(value):
            raise TypeError(f"seed must hold ints or None, got {value!r} for sub-env {i}")
    return [None if value is None else int(value) for value in seeds]


class InProcessVectorEnv(VectorEnv):
    """Sub-envs stepped one after the other in this process, autoreset ``DISABLED``.

    gymsamp's ``"sync"`` mode. Compared with ``SyncVectorEnv`` it writes observations straight
    into a preallocated batch (no concatenation and deep copy per step), does info work only for
    sub-envs that report any, resets masked sub-envs without rebuilding the batch, may step a
    sub-env past its episode end (``rollout()``'s ``stop_on_done=False``), and, with
    ``tag_errors``, raises a sub-env's exception as :class:`WorkerError` naming the sub-env.
    Observation spaces must be array spaces (Box, Discrete, MultiDiscrete, MultiBinary).

    Args:
        envs: The sub-env instances.
        tag_errors: Re-raise sub-env exceptions as :class:`WorkerError` with the sub-env index
            (else they propagate unchanged).

    Example:
        >>> import gymnasium as gym
        >>> envs = InProcessVectorEnv([gym.make("CartPole-v1") for _ in range(2)])
        >>> obs, _ = envs.reset(seed=[1, 2])
        >>> obs.shape, envs.step(np.array([0, 1]))[1].tolist()
        ((2, 4), [1.0, 1.0])
        >>> envs.close()
    """

    def __init__(self, envs: list[gym.Env[Any, Any]], *, tag_errors: bool = True) -> None:
        if not envs:
            raise ValueError("envs must hold at least one env, got none")
        self.envs = list(envs)
        self.num_envs = len(self.envs)
        first = self.envs[0]
        self.metadata = {**first.metadata, "autoreset_mode": AutoresetMode.DISABLED}
        self.render_mode = first.render_mode
        self.single_observation_space = first.observation_space
        self.single_action_space = first.action_space
        self.observation_space = batch_space(first.observation_space, self.num_envs)
        self.action_space = batch_space(first.action_space, self.num_envs)
        self.spec = first.spec
        self.tag_errors = tag_errors
        self._obs: Any = create_empty_array(first.observation_space, n=self.num_envs)
        self._queued: dict[int, tuple[int | None, dict[str, Any] | None]] = {}

    def queue_reset(
        self, index: int, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> None:
        """Reset sub-env ``index`` with ``seed`` and ``options`` inside the step that next
        ends its episode (:mod:`gymsamp.sampling.queued_reset`)."""
        self._queued[check_env_index(index, self.num_envs)] = (seed, options)

    def _reset_in_step(self, i: int, final_obs: Any, final_info: dict[str, Any]) -> Any:
        seed, options = self._queued.pop(i)
        try:
            return reset_in_step(self.envs[i], seed, options, final_obs, final_info)
        except Exception as err:
            raise self._fail(i, "reset", err) from err

    def _fail(self, i: int, where: str, err: Exception) -> Exception:
        if not self.tag_errors or isinstance(err, WorkerError):
            return err
        return WorkerError(
            f"sub-env {i} raised {type(err).__name__} in {where}: {err}",
            env_index=i,
            remote_traceback=traceback.format_exc(),
        )

    def reset(
        self,
        *,
        seed: int | Sequence[int | None] | None = None,
        options: dict[str, Any] | None = None,
    ) -> tuple[Any, dict[str, Any]]:
        """Reset all sub-envs, or those in ``options["reset_mask"]`` (the others keep their obs).

        Args:
            seed: None, an int (sub-env ``i`` gets ``seed + i``, numpy integers too) or a list
                or tuple of one int or None per sub-env.
            options: Sent to every reset sub-env, less ``reset_mask``: a numpy bool array of
                shape ``(num_envs,)`` with at least one True (the caller's dict is left alone).

        Raises:
            TypeError: A ``seed`` or ``reset_mask`` of the wrong type.
            ValueError: A ``seed`` sequence or ``reset_mask`` of the wrong length, or a
                ``reset_mask`` without a True.
        """
        seeds = _reset_seeds(seed, self.num_envs)
        rest = dict(options) if options else {}
        mask = rest.pop("reset_mask", None)
        if mask is None:
            indices: Iterable[int] = range(self.num_envs)
        else:
            indices = np.flatnonzero(_check_mask(mask, self.num_envs)).tolist()
        infos: dict[str, Any] = {}
        for i in indices:
            self._queued.pop(i, None)
            try:
                obs, info = self.envs[i].reset(seed=seeds[i], options=rest or None)
            except Exception as err:
                raise self._fail(i, "reset", err) from err
            self._obs[i] = obs
            if info:
                infos = self._add_info(infos, info, i)
        return self._obs.copy(), infos

    def step(self, actions: Any) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        infos: dict[str, Any] = {}
        queued, batch = self._queued, self._obs
        # Scalars gathered in lists and converted once: cheaper than a numpy store each.
        rewards, terminations, truncations = [], [], []
        for i, env in enumerate(self.envs):
            try:
                obs, reward, terminated, truncated, info = env.step(actions[i])
            except Exception as err:
                raise self._fail(i, "step", err) from err
            if (terminated or truncated) and i in queued:
                obs, info = self._reset_in_step(i, obs, info)
            batch[i] = obs
            rewards.append(reward)
            terminations.append(terminated)
            truncations.append(truncated)
            if info:  # most envs report nothing: skip Gymnasium's info batching then
                infos = self._add_info(infos, info, i)
        return (
            batch.copy(),
            _scalars("rewards", rewards, np.float64),
            _scalars("terminated flags", terminations, np.bool_),
            _scalars("truncated flags", truncations, np.bool_),
            infos,
        )

    def call(self, name: str, *args: Any, **kwargs: Any) -> tuple[Any, ...]:
        results = []
        for env in self.envs:
            attr = env.get_wrapper_attr(name)
            results.append(attr(*args, **kwargs) if callable(attr) else attr)
        return tuple(results)

    def get_attr(self, name: str) -> tuple[Any, ...]:
        return tuple(env.get_wrapper_attr(name) for env in self.envs)

    def render(self) -> tuple[Any, ...] | None:
        """The rendered frames of every sub-env, as ``SyncVectorEnv`` returns them."""
        return self.call("render")

    def set_attr(self, name: str, values: list[Any] | tuple[Any, ...] | Any) -> None:
        if not isinstance(values, (list, tuple)):
            values = [values] * self.num_envs
        if len(values) != self.num_envs:
            raise ValueError(f"values must hold {self.num_envs} values, got {len(values)}")
        for env, value in zip(self.envs, values, strict=True):
            env.set_wrapper_attr(name, value)

    def close_extras(self, **kwargs: Any) -> None:
        for env in self.envs:
            env.close()


class SingleEnvVector(InProcessVectorEnv):
    """One env instance seen as a vector env of one, for ``rollout()``.

    It may step the env past its episode end (``stop_on_done=False``) and raises the env's own
    exceptions unchanged.
    """

    def __init__(self, env: gym.Env[Any, Any]) -> None:
        super().__init__([env], tag_errors=False)
        self.env = env

    def _batch(self, obs: Any) -> Any:
        self._obs[0] = obs
        return self._obs.copy()
