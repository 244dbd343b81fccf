"""A local Ray for the Ray-backend tests, started once per test module that uses it.

Not a ``conftest.py`` on purpose: only the modules that use the fixture start Ray. A test module
registers it by binding it to a module-level name::

    from tests.sampling import conftest_ray

    ray_session = conftest_ray.ray_session

Ray runs as a new local instance with 2 CPUs, no dashboard, its node address 127.0.0.1 (Ray up to
2.50 then listens on loopback only; 2.60 takes the machine's address instead), without usage
reporting and without forwarding worker logs (an actor killed on purpose would otherwise print
into the test output).
The environment variables are set only while the fixture is active, and Ray is shut down at the
end of the module only if the fixture started it: the rest of the suite forks and spawns many
processes, which it must not do beside the live gRPC threads of a Ray driver (a full run hung once
with the driver blocked in a gRPC call to Ray's GCS, in the first Ray test after ~1,500 tests that
started processes while the session-wide Ray of an earlier module was still running).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

#: Keep Ray quiet and offline; read by ray.init and inherited by the processes it starts.
RAY_ENV = {
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_DISABLE_DOCKER_CPU_WARNING": "1",
}

RAY_INIT = {
    "address": "local",  # a new instance, never a cluster some `ray start` left on this machine
    "num_cpus": 2,
    "include_dashboard": False,
    "_node_ip_address": "127.0.0.1",
    "log_to_driver": False,
}


@pytest.fixture(scope="module")
def ray_session() -> Iterator[Any]:
    """The ``ray`` module, with a local 2-CPU Ray running for the whole test module."""
    import ray

    saved = {key: os.environ.get(key) for key in RAY_ENV}
    os.environ.update(RAY_ENV)
    started = not ray.is_initialized()
    try:
        if started:
            ray.init(**RAY_INIT)
        yield ray
    finally:
        if started:
            ray.shutdown()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
