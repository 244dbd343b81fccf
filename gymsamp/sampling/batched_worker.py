"""The worker side of :class:`~gymsamp.sampling.batched_vector_env.BatchedAsyncVectorEnv`.

A worker process serves a block of consecutive sub-envs: it waits for one request at a time
(a signal of :mod:`gymsamp.sampling.handshake`, and length-prefixed bytes on its socket unless
the request is a plain step), steps or resets its sub-envs, writes their observations, rewards
and flags into the shared batches (rows ``lo..hi - 1``) and replies with a signal, and on the
socket with whatever did not fit there (non-empty infos, pickled observations, an error report).

Both sides use the message framing (:func:`write_message`, :func:`read_message`) and the shared
batches (:func:`allocate_shared`, :func:`shared_views`; the parent writes each action batch
into them with :func:`put_actions`).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pickle
import select
import signal
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

import cloudpickle
import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import create_shared_memory, read_from_shared_memory

from gymsamp.sampling.errors import WorkerError
from gymsamp.sampling.handshake import REPLY, REQUEST, Handshake
from gymsamp.sampling.in_process_vector_env import check_own_env
from gymsamp.sampling.observations import is_array_space, set_sub_env
from gymsamp.sampling.queued_reset import step_sub_env
from gymsamp.sampling.step_outputs import real_reward, unfit_observation
from gymsamp.sampling.worker_lifetime import ParentWatch, default_sigterm, die_with_parent

__all__ = [
    "LOCAL",
    "STEP",
    "BlockServer",
    "CloudPickled",
    "Queued",
    "Views",
    "allocate_shared",
    "put_actions",
    "read_message",
    "shared_views",
    "start_worker",
    "tree_apply",
    "worker_main",
    "write_message",
]

STEP = b"s"  # the whole step request: the actions are already in shared memory
LOCAL = b"l"  # the parent's own block replied with infos in ``BlockServer.local_infos``
_CHUNK = 1 << 16
PARENT_CHECK_S = 0.5  # how often a sleeping worker checks that its parent still lives
Views = tuple[Any, Any, np.ndarray, np.ndarray, np.ndarray]  # obs, actions, rewards, flags
# A worker's sub-env -> its queued reset (seed, pickled options), or None to pause it.
Queued = dict[int, tuple[Any, bytes | None] | None]


def write_message(fd: int, payload: bytes) -> None:
    data = memoryview(len(payload).to_bytes(4, "little") + payload)
    while data:
        data = data[os.write(fd, data) :]


def read_message(fd: int) -> bytes:
    """One message (requests and replies alternate, so nothing of the next one is read)."""
    data = os.read(fd, _CHUNK)
    if len(data) >= 4 and len(data) == 4 + int.from_bytes(data[:4], "little"):
        return data[4:]  # the common case: one read
    buffer = bytearray(data)
    while len(buffer) < 4 or len(buffer) < 4 + int.from_bytes(buffer[:4], "little"):
        if not data:
            raise EOFError("the other end of the pipe closed")
        data = os.read(fd, _CHUNK)
        buffer += data
    return bytes(buffer[4:])


def tree_apply(fn: Callable[..., Any], tree: Any, *rest: Any) -> Any:
    """``fn`` applied leaf-wise to a batch (an array, or a dict / tuple of batches)."""
    if isinstance(tree, dict):
        return {k: tree_apply(fn, v, *(r[k] for r in rest)) for k, v in tree.items()}
    if isinstance(tree, tuple):
        return tuple(tree_apply(fn, *items) for items in zip(tree, *rest, strict=True))
    return fn(tree, *rest)


class CloudPickled:
    """Pickled with cloudpickle, and only where the start method pickles process arguments
    (spawn, forkserver): under fork the factories may close over anything (locks, arrays)."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def __getstate__(self) -> bytes:
        return cloudpickle.dumps(self.value)

    def __setstate__(self, state: bytes) -> None:
        self.value = cloudpickle.loads(state)


def allocate_shared(
    ctx: Any, spaces: tuple[gym.Space[Any], gym.Space[Any]], n: int
) -> tuple[Any, ...]:
    """The shared buffers of ``n`` sub-envs, read through :func:`shared_views`: observation and
    action batches (None for a space whose batches are not arrays, e.g. ``Text``: those travel
    pickled), float64 rewards, and the terminated and truncated flags."""
    return (
        *(create_shared_memory(s, n=n, ctx=ctx) if is_array_space(s) else None for s in spaces),
        ctx.RawArray(ctypes.c_double, n),
        ctx.RawArray("b", 2 * n),
    )


def shared_views(
    spaces: tuple[gym.Space[Any], gym.Space[Any]], memory: tuple[Any, ...], n: int
) -> Views:
    """Numpy views of the shared buffers (None for a space that travels pickled)."""
    obs, act = (
        None if mem is None else read_from_shared_memory(space, mem, n)
        for space, mem in zip(spaces, memory[:2], strict=True)
    )
    flags = np.frombuffer(memory[3], dtype=np.bool_)
    return obs, act, np.frombuffer(memory[2], dtype=np.float64), flags[:n], flags[n:]


def put_actions(views: Any, actions: Any) -> None:
    """Write an action batch into the shared action arrays ``views``, all leaves checked first.

    Numpy's assignment would broadcast (one action, or a batch of one, would reach every
    sub-env) and cast a float to an integer dtype (0.7 would reach a ``Discrete`` sub-env as
    0), where Gymnasium's vector envs raise or hand the env what was given: both are refused.
    """
    if type(views) is np.ndarray:  # the common case: one array
        pairs = [(views, actions)]
    else:
        pairs = []
        tree_apply(lambda view, a: pairs.append((view, a)), views, actions)
    checked = []
    for view, given in pairs:
        array = np.asarray(given)
        if array.shape != view.shape:
            raise ValueError(
                f"actions must have the shape {view.shape} of a batch of num_envs="
                f"{view.shape[0]} actions, got shape {array.shape}"
            )
        if view.dtype.kind in "biu" and array.dtype.kind in "fc":
            raise TypeError(
                f"actions must be integers for an action space of dtype {view.dtype} (a "
                f"float would be truncated), got dtype {array.dtype}"
            )
        checked.append((view, array))
    for view, array in checked:
        view[...] = array


def worker_main(
    env_fns: CloudPickled,
    lo: int,
    n: int,
    parent: ParentWatch | None,
    conn: Connection,
    *,
    memory: tuple[Any, ...],
    spaces: tuple[gym.Space[Any], gym.Space[Any]],
    cpu: int | None,
    busy_poll_s: float,
    autoreset_mode: AutoresetMode,
    signals: Handshake,
    worker: int,
) -> None:
    # Ctrl-C is the parent's to handle (it terminates the workers); a terminal sends SIGINT to
    # the whole process group, which would otherwise kill workers halfway through a reply.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    default_sigterm()
    die_with_parent(parent)
    if cpu is not None:
        with contextlib.suppress(OSError):  # e.g. the CPU went offline: run anywhere
            os.sched_setaffinity(0, {cpu})
    views = shared_views(spaces, memory, n)
    server = BlockServer(
        env_fns.value,
        lo,
        conn.fileno(),
        spaces,
        views,
        busy_poll_s=busy_poll_s,
        autoreset_mode=autoreset_mode,
        signals=(signals, worker),
    )
    try:
        server.serve()
    finally:
        server.close_envs()
        conn.close()


def start_worker(
    ctx: Any,
    env_fns: list[Callable[[], gym.Env[Any, Any]]],
    lo: int,
    n: int,
    *,
    name: str,
    daemon: bool,
    parent: ParentWatch | None,
    **options: Any,
) -> tuple[BaseProcess, Connection]:
    """Start a worker process for sub-envs ``lo..lo + len(env_fns) - 1`` of ``n``
    (``options``: :func:`worker_main`'s keywords); its process and the parent's end of its
    socket."""
    conn, child_conn = ctx.Pipe()
    process = ctx.Process(
        target=worker_main,
        name=name,
        args=(CloudPickled(env_fns), lo, n, parent, child_conn),
        kwargs=options,
        daemon=daemon,
    )
    process.start()
    # Closed at once, so no later worker inherits it: EOF on the parent's end then reliably
    # means that this worker died.
    child_conn.close()
    return process, conn


class BlockServer:
    """Serves a block of sub-envs ``lo..``: one reply per request, in a worker process
    (:meth:`serve`) or in the parent (:meth:`handle`, for the parent's own block)."""

    def __init__(
        self,
        env_fns: list[Callable[[], gym.Env[Any, Any]]],
        lo: int,
        fd: int,
        spaces: tuple[gym.Space[Any], gym.Space[Any]],
        views: Views,
        *,
        busy_poll_s: float = 0.0,
        autoreset_mode: AutoresetMode = AutoresetMode.DISABLED,
        signals: tuple[Handshake, int] | None = None,
    ) -> None:
        self.env_fns, self.lo, self.fd, self.spaces = env_fns, lo, fd, spaces
        self.busy_poll_s = busy_poll_s
        self.signals = signals  # None: served in the parent process (no messages)
        self.obs, self.act, self.rewards, self.terminated, self.truncated = views
        self.envs: list[gym.Env[Any, Any]] = []
        self.current: int | None = None  # the sub-env at work, for error reports
        self.queued: dict[int, tuple[Any, dict[str, Any] | None]] = {}
        self.paused: set[int] = set()
        self.pending: set[int] = set()  # NEXT_STEP: sub-envs the next step resets
        self.autoreset_mode = autoreset_mode
        # The parent's own block: the last reply's infos, handed over without pickling.
        self.local_infos: list[tuple[int, Any]] = []
        self.closed = False

    def serve(self) -> None:
        """Answer requests until the parent closes this worker or goes away."""
        assert self.signals is not None  # worker_main's server; the parent's block has none
        (signals, index), fd = self.signals, self.fd
        while True:
            try:
                has_message = signals.wait(
                    REQUEST,
                    index,
                    spin_s=self.busy_poll_s,
                    alive=self._parent_alive,
                    check_every_s=PARENT_CHECK_S,
                )
                message = read_message(fd) if has_message else STEP
            except EOFError:  # the parent is gone
                return
            reply = self.handle(message)
            signals.post(REPLY, index, message=bool(reply))
            if reply:
                write_message(fd, reply)
            if self.closed:  # a failed close replied first
                return

    def handle(self, message: bytes) -> bytes | None:
        """The reply to one request: empty if all went into shared memory, an error report
        if it failed, None after a close."""
        try:
            self.current = None
            if message == STEP:
                return self.do_step((None, None))
            command, data = pickle.loads(message[1:])
            if command == "close":
                self.closed = True
                failure = self.close_envs()
                return None if failure is None else b"e" + pickle.dumps(failure)
            reply: bytes = getattr(self, f"do_{command}")(data)
            return reply
        except Exception as err:
            return b"e" + pickle.dumps(self.report(err))
        except BaseException as err:
            # KeyboardInterrupt or SystemExit raised by a sub-env's own code (a worker ignores
            # Ctrl-C): the sub-env's error, as in async mode, not the end of its block. In the
            # parent's own block, or outside a sub-env, it is the caller's.
            if self.signals is None or self.current is None:
                raise
            return b"e" + pickle.dumps(self.report(err))

    def _parent_alive(self) -> bool:
        """Whether the parent's end of the socket is still open (it closes when the parent
        process ends, however it ends)."""
        if not hasattr(select, "poll"):
            return True
        poller = select.poll()
        poller.register(self.fd, select.POLLIN)
        return not any(events & select.POLLHUP for _, events in poller.poll(0))

    def close_envs(self) -> tuple[int | None, str, str] | None:
        """Close every sub-env, even after one's ``close()`` raised; the first failure's
        report (for the parent's warning), else None."""
        failure = None
        while self.envs:
            self.current = self.lo + len(self.envs) - 1
            try:
                self.envs.pop().close()
            except Exception as err:
                failure = self.report(err)  # the lowest sub-env's: they close last to first
        self.current = None
        return failure

    def report(self, err: BaseException) -> tuple[int | None, str, str]:
        if isinstance(err, WorkerError):  # from gymsamp's error-tagging wrapper: keep it
            index = self.current if err.env_index is None else err.env_index
            return index, err.message, err.remote_traceback or traceback.format_exc()
        where = f"sub-env {self.current}" if self.current is not None else "a worker"
        return self.current, f"{where} raised {type(err).__name__}: {err}", traceback.format_exc()

    def reply(self, pairs: list[tuple[int, Any]] | None, infos: list[tuple[int, Any]]) -> bytes:
        self.current = None  # what fails from here on is no sub-env's fault
        if not (infos or pairs):
            return b""
        if self.signals is None and pairs is None:
            # In the parent, a pickle round trip would only copy the infos: the parent copies
            # them itself (as an in-process vector env does), and shares the strings.
            self.local_infos = infos
            return LOCAL
        try:
            return b"d" + pickle.dumps((pairs, infos))
        except Exception:
            # A sub-env's info (or observation) that cannot be pickled is its fault: name it,
            # as the async workers do (only now, one by one).
            for j, value in [*(pairs or []), *infos]:
                try:
                    pickle.dumps(value)
                except Exception:
                    self.current = self.lo + j
                    raise
            raise

    def set_obs(self, i: int, obs: Any, pairs: list[tuple[int, Any]] | None) -> None:
        if pairs is not None:
            pairs.append((i - self.lo, obs))
        else:
            set_sub_env(self.obs, i, obs)

    def do_build(self, _: Any) -> bytes:
        for j, fn in enumerate(self.env_fns):
            self.current = self.lo + j
            try:
                env = fn()
            except Exception as err:
                raise WorkerError.of_build(
                    self.current, err, where="in its worker process"
                ) from err
            self.envs.append(env)
            check_own_env(self.envs, self.lo)
            if (env.observation_space, env.action_space) != self.spaces:
                raise ValueError(
                    f"sub-env spaces must equal sub-env 0's {self.spaces}, got "
                    f"{(env.observation_space, env.action_space)}"
                )
        return b""

    def do_step(self, data: tuple[list[Any] | None, Queued | None]) -> bytes:
        actions, queued = data
        for j, payload in (queued or {}).items():
            if payload is None:
                self.paused.add(j)
                self.queued.pop(j, None)
            else:  # each sub-env gets its own copy of the options
                seed, blob = payload
                self.queued[j] = (seed, None if blob is None else pickle.loads(blob))
        lo, envs, paused = self.lo, self.envs, self.paused
        mode, pending, waiting = self.autoreset_mode, self.pending, self.queued
        if actions is None:  # from shared memory: a private copy, which envs may keep
            if isinstance(self.act, np.ndarray):
                actions = self.act[lo : lo + len(envs)].copy()
            else:  # dict / tuple batch: one row per sub-env
                block = tree_apply(lambda v: v[lo : lo + len(envs)].copy(), self.act)
                actions = [tree_apply(lambda v, j=j: v[j], block) for j in range(len(envs))]
        rewards, terminated, truncated, view = (
            self.rewards,
            self.terminated,
            self.truncated,
            self.obs,
        )
        pairs: list[tuple[int, Any]] | None = None if view is not None else []
        plain = isinstance(view, np.ndarray)
        infos = []
        for j, env in enumerate(envs):
            self.current = i = lo + j
            if paused and j in paused:  # its last observation stays where it is
                rewards[i], terminated[i], truncated[i] = 0.0, False, False
                continue
            obs, reward, term, trunc, info = step_sub_env(
                env, j, actions[j], mode=mode, queued=waiting, pending=pending
            )
            if obs is None:  # numpy would store it as NaN
                raise unfit_observation(obs, env.observation_space)
            try:
                if plain:
                    view[i] = obs
                else:
                    self.set_obs(i, obs, pairs)
            except (TypeError, ValueError) as err:
                raise unfit_observation(obs, env.observation_space, err) from None
            try:
                rewards[i] = reward
            except (TypeError, ValueError):
                # A size-1 array is its element, as in every mode; anything else is named.
                rewards[i] = real_reward(reward)
            terminated[i], truncated[i] = term, trunc  # one value each (step_sub_env)
            if info:
                infos.append((j, info))
        return self.reply(pairs, infos)

    def do_reset(self, data: tuple[list[Any], list[bool] | None, bytes | None]) -> bytes:
        seeds, mask, blob = data
        pairs: list[tuple[int, Any]] | None = None if self.obs is not None else []
        infos = []
        for j, env in enumerate(self.envs):
            if mask is None or mask[j]:
                self.current = i = self.lo + j
                self.queued.pop(j, None)
                self.paused.discard(j)
                self.pending.discard(j)
                # Each sub-env gets its own copy of the options, as in a process of its own.
                options = None if blob is None else pickle.loads(blob)
                obs, info = env.reset(seed=seeds[j], options=options)
                if obs is None:
                    raise unfit_observation(obs, env.observation_space)
                self.set_obs(i, obs, pairs)
                self.terminated[i] = self.truncated[i] = False
                if info:
                    infos.append((j, info))
        return self.reply(pairs, infos)

    def do_attr(self, data: tuple[str, str, Any]) -> bytes:
        """``call`` (payload: args, kwargs), ``get`` or ``set`` (payload: one value each)."""
        op, name, payload = data
        results = []
        for j, env in enumerate(self.envs):
            self.current = self.lo + j
            if op == "set":
                results.append(env.set_wrapper_attr(name, payload[j]))
                continue
            attr = env.get_wrapper_attr(name)
            results.append(
                attr(*payload[0], **payload[1]) if op == "call" and callable(attr) else attr
            )
        return b"d" + pickle.dumps((None, results))
