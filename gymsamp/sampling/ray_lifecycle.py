"""The Ray that the Ray backend (:mod:`gymsamp.sampling.ray_backend`) runs on, and the end of
its actors.

- :func:`connect_ray` / :func:`disconnect_ray`: use the running Ray (or join the cluster that
  ``RAY_ADDRESS`` names, or start a local one), and shut Ray down when the last open driver lets
  go of the Ray gymsamp started (see "Ray lifecycle" in :mod:`gymsamp.sampling.ray_backend`);
- :func:`current_session`: which Ray this process is connected to;
- :func:`_kill` / :class:`RayHolder`: a driver's actors and connection, ended by its ``close()``
  or its finalizer.
"""

from __future__ import annotations

import contextlib
import os
import threading
from itertools import count
from typing import Any

__all__ = ["RayHolder", "connect_ray", "current_session", "disconnect_ray", "driver_tokens"]

_lock = threading.RLock()
_users: set[int] = set()  # tokens of the open drivers
_started_node: str | None = None  # node id of the Ray gymsamp started, if it runs
driver_tokens = count()


def _current_node() -> str | None:
    import ray

    return ray.get_runtime_context().get_node_id() if ray.is_initialized() else None


def current_session() -> tuple[str, str] | None:
    """Which Ray this process is connected to: its job (new for every ``ray.init`` on a running
    cluster) and node (new for every new local Ray), or None if none."""
    import ray

    if not ray.is_initialized():
        return None
    context = ray.get_runtime_context()
    return context.get_job_id(), context.get_node_id()


def connect_ray(token: int, num_cpus: int) -> bool:
    """Make sure Ray runs (starting a local one if needed); True if gymsamp started it."""
    global _started_node
    import ray

    with _lock:
        if not ray.is_initialized() and os.environ.get("RAY_ADDRESS"):
            # The cluster the environment names (`ray job submit` sets it, or the user exports
            # it), joined as ray.init() would: a cluster's Ray is never gymsamp's to shut down.
            ray.init()
        elif not ray.is_initialized():
            # A new local Ray (address="local": not one a `ray start` on this machine left
            # behind), with no dashboard. Ray turns the loopback address into the machine's own
            # (its servers listen on every interface, behind its token authentication).
            ray.init(
                address="local",
                num_cpus=max(num_cpus, os.cpu_count() or 1),
                include_dashboard=False,
                _node_ip_address="127.0.0.1",
            )
            _started_node = _current_node()
        _users.add(token)
        return _started_node is not None and _started_node == _current_node()


def disconnect_ray(token: int) -> None:
    """Forget ``token``; shut Ray down if gymsamp started it and no other driver uses it."""
    global _started_node
    import sys

    ray = sys.modules.get("ray")
    with _lock:
        _users.discard(token)
        if _users or _started_node is None or ray is None:
            return
        # Only the very Ray gymsamp started: the user may have replaced it meanwhile.
        if ray.is_initialized() and _current_node() == _started_node:
            ray.shutdown()
        _started_node = None


def _kill(actors: list[Any]) -> None:
    import sys

    ray = sys.modules.get("ray")
    if ray is None or not ray.is_initialized():
        return
    for actor in actors:
        with contextlib.suppress(Exception):  # already dead, or Ray is going down
            ray.kill(actor, no_restart=True)


class RayHolder:
    """What the driver's finalizer needs (no reference back to the driver)."""

    def __init__(self, token: int) -> None:
        self.token = token
        self.actors: list[Any] = []
        self.surplus: list[Any] = []  # refs of the last call's batches still running
        self.connected = False
        self.session: tuple[str, str] | None = None  # the Ray the actors live on

    def stop(self) -> None:
        actors, self.actors = self.actors, []
        self.surplus = []
        _kill(actors)

    def release(self) -> None:
        self.stop()
        if self.connected:
            self.connected = False
            disconnect_ray(self.token)
