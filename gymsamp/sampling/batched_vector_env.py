"""A vector env that steps several sub-envs per worker process: :class:`BatchedAsyncVectorEnv`.

Gymnasium's ``AsyncVectorEnv`` pays a pipe round trip per sub-env per step, more than a cheap
env's step costs (CartPole: ~8 us). Here the sub-envs are split into contiguous blocks over
``num_workers`` processes (as in EnvPool and Sample Factory): one round trip per worker.

- Shared memory, allocated before the workers start, holds the observation and action batches
  (``gymnasium.vector.utils.create_shared_memory``; spaces it cannot hold, such as ``Text``,
  travel pickled in the messages instead), float64 rewards and the two flag arrays. Worker
  ``w`` writes only its rows ``lo_w..hi_w - 1``.
- Each request and each reply is a signal (:mod:`gymsamp.sampling.handshake`: a semaphore
  that the other side checks for a while before it sleeps), followed, where shared memory does
  not say it all, by length-prefixed bytes on a socket pair per worker, moved with ``os.read``
  / ``os.write``. Requests and replies strictly alternate, so a read never holds more than one
  message.
- A step is a bare signal to every worker and one reply from each: a bare signal when all of
  the worker's infos were empty (the common case: no system call on either side while both
  are awake, and no info work in the parent), else the pickled non-empty infos, or an error
  report. Reset, call, get/set attributes and close are one pickled command per worker.
- Queued resets (:mod:`gymsamp.sampling.queued_reset`) ride on the worker's next step
  request, so a sub-env starts its next episode with its own seed and options inside the step
  that ends the current one: no extra round trip per episode.

The worker processes' side lives in :mod:`gymsamp.sampling.batched_worker`; their blocks of
sub-envs, start, deaths and end in :mod:`gymsamp.sampling.batched_workers`.
"""

from __future__ import annotations

import multiprocessing
import pickle
import time
from collections.abc import Callable, Iterable, Sequence
from multiprocessing.connection import Connection
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space, concatenate, iterate

from gymsamp._checks import check_positive_real
from gymsamp.envs.probe import probing
from gymsamp.sampling.batched_worker import (
    LOCAL,
    STEP,
    BlockServer,
    Queued,
    allocate_shared,
    put_actions,
    read_message,
    shared_views,
    write_message,
)
from gymsamp.sampling.batched_workers import (
    available_cpus,
    check_busy_poll,
    end_workers,
    start_workers,
    worker_blocks,
    worker_death,
)
from gymsamp.sampling.errors import LateSubEnvsError, WorkerError
from gymsamp.sampling.handshake import REPLY, REQUEST, Handshake
from gymsamp.sampling.in_process_vector_env import build_sub_env
from gymsamp.sampling.observations import copy_batch, idle_batch, idle_observation
from gymsamp.sampling.queued_reset import check_call_name, check_env_index
from gymsamp.sampling.reset_args import check_reset_mask, reset_seeds
from gymsamp.sampling.start_method import global_start_method_kept, main_guard_hint
from gymsamp.sampling.sub_env_infos import PerEnvInfos, owned_info
from gymsamp.sampling.worker_lifetime import parent_watch, sigint_held

__all__ = ["BatchedAsyncVectorEnv", "available_cpus"]

_IDLE, _WAITING, _BROKEN = "idle", "waiting", "broken"


class BatchedAsyncVectorEnv(PerEnvInfos, VectorEnv):
    """Several sub-envs per worker process, shared-memory batches (autoreset ``DISABLED`` unless
    asked for Gymnasium's ``NEXT_STEP`` or ``SAME_STEP``).

    Args:
        env_fns: One factory per sub-env (pickled with cloudpickle; ``env_fns[0]`` is also
            called once here to read the spaces).
        num_workers: Worker processes (default: ``min(len(env_fns), CPUs available)``); each
            steps ``ceil(len(env_fns) / num_workers)`` consecutive sub-envs (the last fewer).
        context: Multiprocessing start method (None: the platform's default).
        daemon: Run the workers as daemon processes.
        copy: Return copies of the observation batch (False: a view the next call overwrites).
        close_timeout: Seconds a graceful ``close()`` waits before terminating the workers.
        pin_workers: Pin worker ``w`` to the ``w``-th CPU this process may use (round robin).
            Unpinned, Linux often stacks two freshly woken workers on one CPU, which serializes
            a step (measured on 2 vCPUs: 85 us instead of 52 us for 2 x 4 CartPole sub-envs).
            Turn it off for sub-envs that run threads or processes of their own: those
            inherit the single CPU.
        autoreset_mode: As in Gymnasium's vector envs (``metadata["autoreset_mode"]`` tells);
            queued resets apply in every mode and take precedence over an autoreset.
        in_parent: The last ``in_parent`` sub-envs are stepped in this process, inside
            ``step_async`` once the workers have their requests (their block's
            ``worker_index`` in errors is ``num_workers``); the workers step the others. On
            few CPUs the parent, which would otherwise wait, does a share of the work. A step
            timeout does not bound these sub-envs' steps.
        busy_poll_us: Microseconds a worker keeps checking for the next request after a
            reply, and the parent for the replies after a request, giving the CPU away
            between checks (``sched_yield``), before they sleep. A sleeping process costs
            10-20 us to wake on a VM, once per step and side; cheap sub-envs reply, and the
            collection loop's next request comes, sooner than 100 us. 0: sleep at once (the
            checks cost CPU time where nothing else wants the CPU).
        build_timeout: Seconds the workers may take to start and build their sub-envs (None:
            no limit); a worker that takes longer raises
            :class:`~gymsamp.sampling.errors.LateSubEnvsError` naming its sub-envs, and every
            worker is terminated.

    Actions travel in shared memory of the action space's dtype, so a float64 action for a
    float32 ``Box`` reaches the sub-env as float32 (Sync and Async vector envs pass it as
    given; the collection loop casts to the space's dtype in every mode). An action batch of
    another shape (``ValueError``; numpy would broadcast it) and float actions for an integer
    space (``TypeError``; they would be truncated) are refused.

    An exception in a sub-env raises :class:`~gymsamp.sampling.errors.WorkerError` with the
    sub-env's (global) index and the worker's traceback; the worker lives on, the sub-env is
    in whatever state the exception left. A dead worker raises a ``WorkerError`` naming the
    worker and its sub-envs. After a dead worker, a step timeout
    (``multiprocessing.TimeoutError``) or an interrupt, only ``close()`` is left, and it
    terminates the workers.

    Example:
        >>> import gymnasium as gym
        >>> envs = BatchedAsyncVectorEnv([lambda: gym.make("CartPole-v1")] * 4, num_workers=2)
        >>> envs.num_workers, envs.envs_per_worker
        (2, 2)
        >>> obs, infos = envs.reset(seed=0)
        >>> obs.shape, infos
        ((4, 4), {})
        >>> obs, rewards, terminated, truncated, infos = envs.step(np.ones(4, dtype=np.int64))
        >>> rewards.tolist(), terminated.tolist(), infos
        ([1.0, 1.0, 1.0, 1.0], [False, False, False, False], {})
        >>> mask = np.array([True, False, False, False])
        >>> obs2, _ = envs.reset(seed=[0, None, None, None], options={"reset_mask": mask})
        >>> bool((obs2[1:] == obs[1:]).all()), envs.get_attr("spec")[0].id
        (True, 'CartPole-v1')
        >>> envs.close()
    """

    def __init__(
        self,
        env_fns: Sequence[Callable[[], gym.Env[Any, Any]]],
        num_workers: int | None = None,
        *,
        context: str | None = None,
        daemon: bool = True,
        copy: bool = True,
        close_timeout: float = 10.0,
        pin_workers: bool = True,
        busy_poll_us: float = 100.0,
        autoreset_mode: AutoresetMode | str = AutoresetMode.DISABLED,
        in_parent: int = 0,
        build_timeout: float | None = None,
    ) -> None:
        self.build_timeout = check_positive_real("build_timeout", build_timeout, optional=True)
        self.processes: list[multiprocessing.process.BaseProcess] = []
        self._conns: list[Connection] = []
        self._fds: list[int] = []
        self._state = _IDLE
        self._outbox: dict[int, Queued] = {}  # queued resets not yet sent, by worker
        self._pending_reset: list[int] | None = None  # the workers a pending reset went to
        self._local: BlockServer | None = None
        self._local_reply: bytes = b""
        self.num_envs = n = len(env_fns)
        # Blocks of consecutive sub-envs: the workers', then the parent's (if any).
        blocks = worker_blocks(n, in_parent, num_workers)
        self.in_parent, self.envs_per_worker, self.num_workers, self._bounds = blocks
        remote = n - self.in_parent
        self._spin_s = busy_poll_s = check_busy_poll(busy_poll_us) * 1e-6
        self.autoreset_mode = AutoresetMode(autoreset_mode)
        self._blocks = range(len(self._bounds))
        self._owner = [  # sub-env -> (its block, its place there)
            (w, i - lo) for w, (lo, hi) in enumerate(self._bounds) for i in range(lo, hi)
        ]
        self.copy, self.close_timeout = copy, close_timeout

        # A probe (its close() may raise, e.g. a renderer already gone: a warning then);
        # its build failing is sub-env 0's WorkerError, as in a worker process.
        with probing(build_sub_env(0, env_fns[0], where="in this process")) as dummy:
            self.metadata = {**dummy.metadata, "autoreset_mode": self.autoreset_mode}
            self.render_mode = dummy.render_mode
            spaces = (dummy.observation_space, dummy.action_space)
        self.single_observation_space, self.single_action_space = spaces
        self.observation_space = batch_space(spaces[0], n)
        self.action_space = batch_space(spaces[1], n)

        # Neither get_context(None) nor a spawned worker may fix the caller's start method.
        with global_start_method_kept():
            ctx: Any = multiprocessing.get_context(context)
            # Held back: multiprocessing names the semaphores and the shared memory's file
            # (/dev/shm/pym-*) and removes the names at once; a Ctrl-C in between left them.
            with sigint_held():
                self._signals = Handshake(ctx, self.num_workers)
                memory = allocate_shared(ctx, spaces, n)
            self._obs, self._act, self._rewards, self._terminated, self._truncated = shared_views(
                spaces, memory, n
            )
            # Rows of sub-envs not reset yet (paused ones) hold an element of the space.
            if self._obs is not None:
                idle_batch(spaces[0], n, out=self._obs)
            # Without shared memory: each sub-env's observation, and their batch.
            self._obs_list: list[Any] = [idle_observation(spaces[0])] * n
            self._obs_batch: Any = None if self._obs is not None else idle_batch(spaces[0], n)

            self._start_method = ctx.get_start_method()
            self._starting = True  # until every sub-env is built (a death then gets a hint)
            parent = parent_watch(self._start_method)
            try:
                # A Ctrl-C in a fork would leave a worker that no close() ends: held back, it
                # comes once every worker is recorded here (and the except below ends them).
                with sigint_held():
                    for process, conn in start_workers(
                        ctx,
                        env_fns,
                        self._bounds[: self.num_workers],
                        name=f"Worker<{type(self).__name__}>",
                        pin_workers=pin_workers,
                        parent=parent,
                        daemon=daemon,
                        signals=self._signals,
                        memory=memory,
                        spaces=spaces,
                        busy_poll_s=busy_poll_s,
                        autoreset_mode=self.autoreset_mode,
                    ):
                        self._conns.append(conn)
                        self._fds.append(conn.fileno())
                        self.processes.append(process)
                if in_parent:
                    views = (self._obs, self._act, self._rewards, self._terminated)
                    self._local = BlockServer(
                        list(env_fns[remote:]),
                        remote,
                        -1,
                        spaces,
                        (*views, self._truncated),
                        autoreset_mode=self.autoreset_mode,
                    )
                self._request(("build", None), timeout=self.build_timeout)
            except BaseException:
                self.close(terminate=True)
                raise
            self._starting = False

    # -- the vector env API -------------------------------------------------------------------

    def reset(
        self,
        *,
        seed: int | Sequence[int | None] | None = None,
        options: dict[str, Any] | None = None,
    ) -> tuple[Any, dict[str, Any]]:
        """Reset all sub-envs, or those in ``options["reset_mask"]`` (the others keep their obs).

        ``seed``: None, an int (sub-env ``i`` gets ``seed + i``) or one seed per sub-env.
        ``options`` (less ``reset_mask``) goes to every reset sub-env, each its own copy; the
        caller's dict is left alone (Gymnasium's vector envs pop ``reset_mask`` from it).
        """
        self.reset_async(seed=seed, options=options)
        return self.reset_wait()

    def reset_async(
        self,
        seed: int | Sequence[int | None] | None = None,
        options: dict[str, Any] | None = None,
    ) -> None:
        """Send a :meth:`reset` to the workers (collect it with :meth:`reset_wait`)."""
        self._check_idle()
        n = self.num_envs
        seeds = reset_seeds(seed, n)
        mask = None
        if options is not None:
            options = dict(options)  # unlike Gymnasium's, the caller's dict stays as it was
            if "reset_mask" in options:
                mask = check_reset_mask(options.pop("reset_mask"), n)
        # Nothing left but the mask: None, as the other modes hand it (an env may read any
        # dict, {} too, as "start where the options say").
        blob = pickle.dumps(options) if options else None
        for w, (lo, _hi) in enumerate(self._bounds):  # resetting discards queued resets
            for j in [j for j in self._outbox.get(w, {}) if mask is None or mask[lo + j]]:
                del self._outbox[w][j]
        requests = {
            w: ("reset", (seeds[lo:hi], None if mask is None else mask[lo:hi].tolist(), blob))
            for w, (lo, hi) in enumerate(self._bounds)
            if mask is None or mask[lo:hi].any()
        }
        self._post(*requests.values(), workers=requests)
        self._pending_reset = list(requests)

    def reset_wait(self, timeout: float | None = None) -> tuple[Any, dict[str, Any]]:
        """The reset results; ``multiprocessing.TimeoutError`` after ``timeout`` seconds."""
        workers, self._pending_reset = self._pending_reset, None
        if workers is None or self._state != _WAITING:
            raise gym.error.NoAsyncCallError("reset_wait called without reset_async", "reset")
        replies = self._decode(
            dict(zip(workers, self._receive(workers, timeout, "reset"), strict=True))
        )
        infos: dict[str, Any] = {}
        for w, reply in replies.items():
            self._store(w, reply, infos)
        return self._observations(), infos

    def queue_reset(
        self, index: int, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> None:
        """Reset sub-env ``index`` with ``seed`` and ``options`` inside the step that next
        ends its episode (:mod:`gymsamp.sampling.queued_reset`).

        The payload travels with the next ``step_async``, so it may be queued while a step is
        pending (it then applies from the step after that one).
        """
        if self._state != _WAITING:
            self._check_idle()
        w, j = self._owner[check_env_index(index, self.num_envs)]
        outbox = self._outbox.setdefault(w, {})
        if j in outbox and outbox[j] is None:  # a pause not yet sent: it lasts until a reset
            return
        outbox[j] = (seed, None if options is None else pickle.dumps(options))

    def pause(self, index: int) -> None:
        """Stop stepping sub-env ``index`` until its next reset; sent with the next
        ``step_async`` (:mod:`gymsamp.sampling.queued_reset`)."""
        if self._state != _WAITING:
            self._check_idle()
        w, j = self._owner[check_env_index(index, self.num_envs)]
        self._outbox.setdefault(w, {})[j] = None

    def step_async(self, actions: Any) -> None:
        """Send the actions to the workers (collect the results with :meth:`step_wait`)."""
        self._check_idle()
        if self._act is None:  # actions that cannot live in shared memory travel pickled
            per_env = list(iterate(self.action_space, actions))
            messages = [
                b"p" + pickle.dumps(("step", (per_env[lo:hi], self._outbox.pop(w, None))))
                for w, (lo, hi) in enumerate(self._bounds)
            ]
        else:
            put_actions(self._act, actions)
            messages = [STEP] * len(self._bounds)
            for w, queued in self._outbox.items():
                messages[w] = b"p" + pickle.dumps(("step", (None, queued)))
            self._outbox.clear()
        self._state = _WAITING
        for w, message in enumerate(messages):
            self._send(w, message)

    def step_wait(
        self, timeout: float | None = None
    ) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """The step results; ``multiprocessing.TimeoutError`` after ``timeout`` seconds."""
        if self._state != _WAITING or self._pending_reset is not None:
            raise gym.error.NoAsyncCallError("step_wait called without step_async", "step")
        replies = self._receive(self._blocks, timeout, "step")
        infos: dict[str, Any] = {}
        if any(replies):  # skipped in the common case: every info empty, obs shared
            for w, reply in self._decode(dict(enumerate(replies))).items():
                self._store(w, reply, infos)
        return (
            self._observations(),
            self._rewards.copy(),
            self._terminated.copy(),
            self._truncated.copy(),
            infos,
        )

    def step(self, actions: Any) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Step every sub-env (also one past its episode end: nothing checks that here)."""
        self.step_async(actions)
        return self.step_wait()

    def call(self, name: str, *args: Any, **kwargs: Any) -> tuple[Any, ...]:
        """``name(*args, **kwargs)`` in every sub-env (an attribute's value if not callable)."""
        return self._per_env(("attr", ("call", check_call_name(name), (args, kwargs))))

    def get_attr(self, name: str) -> tuple[Any, ...]:
        """The attribute ``name`` of every sub-env (found through its wrappers)."""
        return self._per_env(("attr", ("get", name, None)))

    def set_attr(self, name: str, values: Any) -> None:
        """Set ``name`` in every sub-env: one value each from a list or tuple, else the same."""
        if not isinstance(values, (list, tuple)):
            values = [values] * self.num_envs
        if len(values) != self.num_envs:
            raise ValueError(f"values must hold num_envs={self.num_envs} values, got {len(values)}")
        self._per_env(*(("attr", ("set", name, values[lo:hi])) for lo, hi in self._bounds))

    def render(self) -> tuple[Any, ...] | None:
        """The rendered frames of every sub-env."""
        return self.call("render")

    def close_extras(self, *, terminate: bool = False, **kwargs: Any) -> None:
        """End every worker: gracefully (closing the sub-envs) or, with ``terminate``, now.

        A pending call or a broken state (after a timeout, a dead worker or an interrupt)
        always terminates, and so does a graceful close that takes over ``close_timeout``.
        """
        failed_close: WorkerError | None = None
        try:
            if not terminate and self._state == _IDLE:
                try:
                    self._request(("close", None), timeout=self.close_timeout)
                except WorkerError as err:
                    # A sub-env's close() raised (the others were closed all the same), or a
                    # worker died: raised once every process has ended.
                    failed_close, terminate = err, True
                except (OSError, multiprocessing.TimeoutError):
                    terminate = True
            else:
                terminate = True
            self.processes = end_workers(
                self.processes, terminate=terminate, close_timeout=self.close_timeout
            )
        except BaseException:
            # Interrupted (Ctrl-C while the workers close or are waited for): they end all the
            # same, or they would outlive a close that a sampler does not repeat.
            self.processes = end_workers(
                self.processes, terminate=True, close_timeout=self.close_timeout
            )
            raise
        finally:
            for conn in self._conns:
                conn.close()
            if self._local is not None:  # closed already, unless it was terminated
                self._local.close_envs()
            self._state = _BROKEN
        if failed_close is not None:
            self.closed = True  # every worker ended: nothing is left to close
            raise failed_close

    def __del__(self) -> None:
        # A forgotten vector env must not leave processes behind. Never raise from here, and
        # use no module globals in the handler: they may be gone at interpreter shutdown.
        try:
            if not getattr(self, "closed", True) and hasattr(self, "_state"):
                self._conns = []  # they close themselves: see _AsyncVectorEnv.__del__
                self.close(terminate=True)
        except Exception:
            pass

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(num_envs={self.num_envs}, num_workers={self.num_workers}, "
            f"envs_per_worker={self.envs_per_worker}, in_parent={self.in_parent})"
        )

    # -- messages -------------------------------------------------------------------------

    def _check_idle(self) -> None:
        if self.closed:
            raise gym.error.ClosedEnvironmentError(f"{type(self).__name__} is closed")
        if self._state == _WAITING:
            raise gym.error.AlreadyPendingCallError(
                "a call is pending: call step_wait (or reset_wait)", "step"
            )
        if self._state == _BROKEN:
            raise WorkerError(
                f"{type(self).__name__} is unusable after a timeout, a dead worker or an "
                "interrupt: close it and build a new one"
            )

    def _per_env(self, *commands: tuple[str, Any]) -> tuple[Any, ...]:
        self._check_idle()
        replies = self._request(*commands)
        return tuple(value for w in range(len(self._bounds)) for value in replies[w][1])

    def _request(
        self,
        *commands: tuple[str, Any],
        workers: Iterable[int] | None = None,
        timeout: float | None = None,
    ) -> dict[int, tuple[Any, Any]]:
        """Send a command to each worker (one for all, or one each); their decoded replies."""
        targets = self._post(*commands, workers=workers)
        return self._decode(
            dict(zip(targets, self._receive(targets, timeout, commands[0][0]), strict=True))
        )

    def _post(self, *commands: tuple[str, Any], workers: Iterable[int] | None = None) -> list[int]:
        """Send a command to each worker (one for all, or one each); the workers sent to."""
        targets = list(range(len(self._bounds)) if workers is None else workers)
        self._state = _WAITING
        for i, w in enumerate(targets):
            self._send(w, b"p" + pickle.dumps(commands[i if len(commands) > 1 else 0]))
        return targets

    def _send(self, w: int, message: bytes) -> None:
        """Send a request to worker ``w``; the parent's own block (always the last one, so
        the workers already run) answers it at once."""
        local = self._local
        if local is not None and w == self.num_workers:
            self._local_reply = local.handle(message) or b""
            return
        try:
            if message is STEP:  # the actions are in shared memory: the signal says it all
                self._signals.post(REQUEST, w, message=False)
            else:  # signal first: a worker that waits for the signal reads as we write
                self._signals.post(REQUEST, w, message=True)
                write_message(self._fds[w], message)
        except OSError:  # broken pipe: the worker is gone
            self._state = _BROKEN
            raise self._death(w) from None

    def _receive(self, workers: Sequence[int], timeout: float | None, call: str) -> list[bytes]:
        """One raw reply from each worker to ``call``, in order; broken unless all arrive in
        time."""
        replies: dict[int, bytes] = {}
        dead = []
        if self._local is not None and self.num_workers in workers:
            replies[self.num_workers] = self._local_reply  # the parent's block answered at once
        deadline = None if timeout is None else time.perf_counter() + timeout
        wait, spin_s = self._signals.wait, self._spin_s
        for w in workers:
            if w in replies:
                continue
            remaining = None if deadline is None else max(deadline - time.perf_counter(), 0.0)
            try:
                message = wait(
                    REPLY, w, spin_s=spin_s, alive=self.processes[w].is_alive, timeout=remaining
                )
                replies[w] = read_message(self._fds[w]) if message else b""
            except TimeoutError:  # an OSError too: caught first
                self._state = _BROKEN  # late replies would be read as the next ones
                late = [v for v in workers if v not in replies and v not in dead]
                late = [v for v in late if v == w or not self._replied(v)]
                raise LateSubEnvsError(
                    call,
                    timeout,
                    [i for v in late for i in range(*self._bounds[v])],
                    worker_index=late[0] if len(late) == 1 else None,
                ) from None
            except (EOFError, OSError):  # the worker died
                dead.append(w)
        if dead:
            self._state = _BROKEN
            raise self._death(min(dead))
        self._state = _IDLE
        return [replies[w] for w in workers]

    def _replied(self, w: int) -> bool:
        """Whether worker ``w`` has signalled its reply (taking the signal: for error
        messages after a timeout, when the env is broken anyway)."""
        try:
            self._signals.wait(REPLY, w, spin_s=0.0, alive=lambda: True, timeout=0.0)
        except TimeoutError:
            return False
        return True

    def _death(self, w: int) -> WorkerError:
        hint = main_guard_hint(self._start_method) if self._starting else ""
        return worker_death(w, self.processes[w], self._bounds[w], hint)

    def _decode(self, replies: dict[int, bytes]) -> dict[int, tuple[Any, Any]]:
        """Replies as ``(obs pairs or None, data)``; raises the lowest sub-env's error."""
        decoded: dict[int, tuple[Any, Any]] = {}
        errors = []
        for w, reply in replies.items():
            if not reply:
                decoded[w] = (None, None)
            elif reply == LOCAL:  # the parent's own block: its infos, not yet copied
                local = self._local
                assert local is not None  # LOCAL comes only from the parent's own block
                infos, local.local_infos = local.local_infos, []  # held no longer than needed
                decoded[w] = (None, [(j, owned_info(info)) for j, info in infos])
            elif reply[:1] == b"e":
                errors.append((w, *pickle.loads(reply[1:])))
            else:
                decoded[w] = pickle.loads(reply[1:])
        if errors:
            w, index, message, trace = min(errors, key=lambda e: (e[1] is None, e[1] or 0, e[0]))
            raise WorkerError(message, env_index=index, worker_index=w, remote_traceback=trace)
        return decoded

    def _store(self, w: int, reply: tuple[Any, Any], infos: dict[str, Any]) -> None:
        lo = self._bounds[w][0]
        obs, info_pairs = reply
        for j, value in obs or ():  # observations that travel pickled
            self._obs_list[lo + j] = value
        for j, info in info_pairs or ():
            self._add_info(infos, info, lo + j)

    def _observations(self) -> Any:
        if self._obs is None:
            space = self.single_observation_space
            self._obs_batch = concatenate(space, self._obs_list, self._obs_batch)
        batch = self._obs_batch if self._obs is None else self._obs
        return copy_batch(batch) if self.copy else batch
