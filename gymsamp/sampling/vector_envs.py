"""Building the vector envs the collection loop runs on.

- :class:`EnvFactory` turns what users pass (an env id, a factory, an env instance) into a
  picklable factory, so sub-envs can be built inside worker processes (fork or spawn).
- :class:`SubEnvFactory` adds gymsamp's wrappers (domain parameters, initial states, state
  recording) to every sub-env of a simulator gymsamp has an adapter for.
- :func:`make_vector_env` builds one of gymsamp's vector envs with autoreset ``DISABLED``, whose
  errors name the failing sub-env and carry its traceback (:class:`WorkerError`):
  ``"sync"`` (:mod:`~gymsamp.sampling.in_process_vector_env`), ``"async"``
  (:mod:`~gymsamp.sampling.async_vector_env`, one process per sub-env) or ``"batched"``
  (:mod:`~gymsamp.sampling.batched_vector_env`, several sub-envs per worker process).
- :func:`choose_vectorization` picks one of them for ``vectorization="auto"`` from the
  measured cost of a step (:func:`measure_step_cost`).
"""

from __future__ import annotations

import dataclasses
import math
import traceback
from collections.abc import Callable
from typing import Any

import cloudpickle
import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv

from gymsamp.envs.adapter import has_adapter, shared_adapter
from gymsamp.envs.wrappers import DomainParamWrapper, InitStateWrapper, find_wrapper
from gymsamp.sampling.async_vector_env import _AsyncVectorEnv, _QueuedResetWrapper
from gymsamp.sampling.batched_vector_env import BatchedAsyncVectorEnv
from gymsamp.sampling.env_copy import copy_instance, instance_payload
from gymsamp.sampling.errors import WorkerError
from gymsamp.sampling.in_process_vector_env import (
    InProcessVectorEnv,
    SingleEnvVector,
    build_sub_envs,
)

__all__ = [
    "VECTORIZATIONS",
    "EnvFactory",
    "InProcessVectorEnv",
    "SingleEnvVector",
    "SubEnvFactory",
    "batched_layout",
    "batched_workers",
    "choose_vectorization",
    "dt_param_name",
    "env_dt",
    "env_id_of",
    "make_vector_env",
    "measure_step_cost",
    "prepare_env",
]

EnvLike = str | Callable[[], gym.Env[Any, Any]] | gym.Env[Any, Any]

#: The values of the samplers' ``vectorization`` option: ``"sync"`` (every sub-env in this
#: process), ``"async"`` (Gymnasium's ``AsyncVectorEnv``: a process per sub-env), ``"batched"``
#: (several sub-envs per worker process) and ``"auto"`` (:func:`choose_vectorization`).
VECTORIZATIONS = ("auto", "sync", "async", "batched")


def env_id_of(env: EnvLike) -> str:
    """How gymsamp names an env: an id as given, an instance's registered id (else its
    unwrapped class's name), a factory's name.

    Example:
        >>> import gymnasium as gym
        >>> env_id_of("CartPole-v1"), env_id_of(gym.make("CartPole-v1")), env_id_of(gym.make)
        ('CartPole-v1', 'CartPole-v1', 'make')
    """
    if isinstance(env, EnvFactory):
        return env.env_id
    if isinstance(env, str):
        return env
    if isinstance(env, gym.Env):
        return env.spec.id if env.spec is not None else type(env.unwrapped).__name__
    return getattr(env, "__name__", type(env).__name__)


def _vector_env_hint(env: object) -> str:
    """What to pass instead of a vector env (Gymnasium's, ``gym.make_vec``'s, or SB3's
    ``VecEnv``, told by its ``env_method``), which users hand over first."""
    if not (isinstance(env, VectorEnv) or hasattr(env, "env_method")):
        return ""
    env_id = getattr(getattr(env, "spec", None), "id", None)
    single = repr(env_id) if env_id else "its env id"
    return (
        f", a vector env: gymsamp builds the vector env itself from one env, so pass {single}, "
        "a factory of one env or one env instance (num_workers sets the number of sub-envs); "
        "to collect over a vector env built elsewhere, use gymsamp.sampling.collect"
    )


class EnvFactory:
    """A picklable factory for what the user gave: an env id, a factory or an env instance.

    Args:
        env: A registered env id (``"CartPole-v1"``, ``"gymsamp/Counting-v0"``), a callable
            returning a ``gymnasium.Env``, or an env instance (copied as it is for every
            sub-env, see :mod:`gymsamp.sampling.env_copy`; the instance itself is never
            stepped).
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
                spec = gym.spec(env)
            except gym.error.Error as err:
                import gymsamp  # noqa: F401  (registers the gymsamp/... ids)

                try:
                    spec = gym.spec(env)
                except gym.error.Error:
                    raise ValueError(
                        f"env must be a registered Gymnasium id, got {env!r}: {err}"
                    ) from None
            # The registration itself travels: a worker that never ran the user's
            # gym.register (a spawned process, a Ray actor) makes the same env from it.
            self._kind, self._payload = "id", (spec, make_kwargs)
        elif isinstance(env, gym.Env):
            # An EzPickle env rebuilt from its constructor arguments (env_copy) comes back
            # without its spec: the copies get it again (env id, time limit, episode length).
            self._kind = "instance"
            self._payload = (instance_payload(env), env.unwrapped.spec)
        elif callable(env):
            self._kind, self._payload = "factory", env
        else:
            raise TypeError(
                "env must be a Gymnasium env id, a callable returning a gymnasium.Env or a "
                f"gymnasium.Env instance, got {type(env).__name__}{_vector_env_hint(env)}"
            )
        self.env_id = env_id_of(env)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        if self._kind == "id":  # pickled for a worker: see _main_resolved
            spec, kwargs = self._payload
            state["_payload"] = (_main_resolved(spec), kwargs)
        return state

    def __repr__(self) -> str:
        if self._kind == "id":
            kwargs = "".join(f", {key}={value!r}" for key, value in self._payload[1].items())
            return f"EnvFactory({self.env_id!r}{kwargs})"
        if self._kind == "instance":
            return f"EnvFactory(<{self.env_id} instance>)"
        return f"EnvFactory({self._payload!r})"

    def __call__(self) -> gym.Env[Any, Any]:
        if self._kind == "id":
            spec, kwargs = self._payload
            return gym.make(spec, **kwargs)
        if self._kind == "instance":
            payload, spec = self._payload
            copy = copy_instance(payload)
            if copy.unwrapped.spec is None:
                copy.unwrapped.spec = spec
            return copy
        env = self._payload()
        # A VectorEnv is no gymnasium.Env: checked first, or the check below would name it.
        if isinstance(env, VectorEnv):
            raise TypeError(
                f"env factory {self.env_id} must return a single env, got a VectorEnv "
                f"({type(env).__name__})"
            )
        if not isinstance(env, gym.Env):
            raise TypeError(
                f"env factory {self.env_id} must return a gymnasium.Env, got {type(env).__name__}"
            )
        return env


def _main_resolved(spec: Any) -> Any:
    """``spec`` as it travels to a worker: an entry point into the main script
    (``"__main__:MyEnv"``) replaced by what it names, which then travels by value (cloudpickle).

    A worker's ``__main__`` is the user's script only where a spawned worker re-runs it (from a
    file): under ``python -c``, in Jupyter or on a Ray actor it is something else, and
    ``gym.make`` failed there with "module '__main__' has no attribute 'MyEnv'". What does
    not pickle (it holds or uses a lock, an open file, ...) travels by name, as registered: it
    still reaches the workers that re-run the script (spawned ones, from a script file).
    """
    entry = spec.entry_point
    if not (isinstance(entry, str) and entry.partition(":")[0] == "__main__"):
        return spec
    try:
        creator = gym.envs.registration.load_env_creator(entry)
        cloudpickle.dumps(creator)
    except Exception:  # missing (gym.make reports it as before), or does not pickle: by name
        return spec
    return dataclasses.replace(spec, entry_point=creator)


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


def make_vector_env(
    factory: EnvFactory,
    num_envs: int,
    mode: str,
    *,
    record_state: bool = True,
    start_method: str | None = None,
    num_workers: int | None = None,
    in_parent: int = 0,
    build_timeout: float | None = None,
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
        in_parent: ``"batched"`` only: sub-envs stepped in this process, while the workers
            step the others (:func:`batched_layout`).
        build_timeout: Worker processes only: seconds their start and the build of their
            sub-envs may take (None: no limit), then ``LateSubEnvsError``.

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
        return InProcessVectorEnv(build_sub_envs(plain))
    if mode == "async":
        return _AsyncVectorEnv(
            env_fns,
            autoreset_mode=AutoresetMode.DISABLED,
            shared_memory=True,
            context=start_method,
            build_timeout=build_timeout,
        )
    if mode == "batched":
        return BatchedAsyncVectorEnv(
            env_fns,
            num_workers,
            context=start_method,
            in_parent=in_parent,
            build_timeout=build_timeout,
        )
    raise ValueError(f"vectorization must be 'sync', 'async' or 'batched' here, got {mode!r}")


#: The fewest steps :func:`measure_step_cost` times (its lower quartile then skips a slow
#: outlier).
MIN_PROBE_STEPS = 3


def measure_step_cost(
    env: gym.Env[Any, Any], *, steps: int = 30, seed: int = 0, budget_s: float = 0.1
) -> float:
    """Wall time of one ``env.step`` in microseconds: the lower quartile of the steps of a
    short run of random actions.

    Not the mean: on a loaded machine a step of the probe may be preempted for milliseconds,
    and the first step may run one-off checks (Gymnasium's env checker). Not the median
    either: other load slows some steps (a shared CPU, cold caches), never speeds one up, and
    CartPole's median swung across the cost at which ``auto`` leaves the in-process mode
    (probes idle on 2 vCPUs: medians 6.2-7.4 us, lower quartiles 6.0-6.6 us). The env
    is reset with ``seed`` and its action space is seeded, so the probe never touches a global
    RNG. Episode ends are reset (with ``seed + 1``, ``seed + 2``, ...: some envs refuse a
    reset without a seed) and not timed. The probe stops before ``steps`` once the timed
    steps took ``budget_s`` seconds (after at least :data:`MIN_PROBE_STEPS`): an expensive
    step's cost shows in a few steps, and a slow simulator's construction stays cheap.
    """
    import time

    env.action_space.seed(seed)
    env.reset(seed=seed)
    times: list[float] = []
    spent = 0.0
    episodes = 1
    for _ in range(steps):
        action = env.action_space.sample()
        start = time.perf_counter()
        _, _, terminated, truncated, _ = env.step(action)
        times.append(time.perf_counter() - start)
        spent += times[-1]
        if spent >= budget_s and len(times) >= MIN_PROBE_STEPS:
            break
        if terminated or truncated:
            env.reset(seed=seed + episodes)
            episodes += 1
    return 1e6 * float(np.percentile(times, 25))


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
#: The parent's own block (:func:`batched_layout`) costs the parent this much per step on top
#: of its share of env steps and the collection loop: the batched env's own work (actions into
#: shared memory, signals, copies of the results). Fitted to samplers of 8 sub-envs on 2 vCPUs
#: with steps of 3-34 us (bench/NOTES.md 17) so that the predicted gains stay at or below the
#: measured ones; CartPole's ~6 us steps, where the parent block measured within noise of
#: stepping in-process, stay in-process.
PARENT_BLOCK_US = 15.0


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


def batched_layout(
    num_envs: int, step_cost_us: float, cpu_count: int | None, *, parent_block: bool = True
) -> tuple[int, int]:
    """``(worker processes, sub-envs stepped in the parent)`` for ``"batched"``.

    ``P = batched_workers(...)`` processes; or, where those would take every CPU (and
    ``parent_block``), ``P - 1`` workers and ``num_envs // P`` sub-envs in the parent, which
    would otherwise wait for the workers (``in_parent`` of
    :class:`~gymsamp.sampling.batched_vector_env.BatchedAsyncVectorEnv`). Without
    ``parent_block`` (a step timeout cannot bound the parent's own steps), workers only.

    Example:
        >>> batched_layout(8, 5.0, 2), batched_layout(8, 5.0, 2, parent_block=False)
        ((1, 4), (2, 0))
        >>> batched_layout(8, 200.0, 16)  # CPUs to spare: the parent keeps to booking
        (8, 0)
    """
    processes = batched_workers(num_envs, step_cost_us, cpu_count)
    if parent_block and processes >= 2 and processes >= (cpu_count or 1):
        return processes - 1, num_envs // processes
    return processes, 0


def _layout_us(num_envs: int, step_cost_us: float, workers: int, in_parent: int) -> float:
    """The model's microseconds per vector step of a batched layout, collection loop included
    (with a parent block, the parent's share and the workers' run side by side)."""
    remote = _batched_us(num_envs - in_parent, step_cost_us, workers)
    if not in_parent:
        return remote + COLLECTION_LOOP_US
    return max(in_parent * step_cost_us + COLLECTION_LOOP_US + PARENT_BLOCK_US, remote)


def choose_vectorization(
    num_workers: int, step_cost_us: float, cpu_count: int | None, *, parent_block: bool = True
) -> str:
    """``"sync"``, ``"batched"`` or ``"async"`` for ``vectorization="auto"``.

    For ``n = num_workers`` sub-envs of step cost ``c``, a vector step costs ``n * c`` in this
    process and ``ceil(n / P) * c + BATCHED_FIXED_US + BATCHED_PER_WORKER_US * P`` over ``P``
    worker processes, plus ``COLLECTION_LOOP_US`` either way; with a block of ``k`` sub-envs in
    the parent (:func:`batched_layout`), the parent's ``k * c + COLLECTION_LOOP_US +
    PARENT_BLOCK_US`` and the workers' part run side by side. The choice:

    - ``"sync"``: one sub-env, one CPU, or batching predicted less than ``BATCHED_MIN_GAIN``
      times as fast: steps too cheap to pay for the messages (CartPole on 2 CPUs);
    - ``"async"``: steps of at least ``ASYNC_MIN_STEP_US``, where messages are negligible;
    - ``"batched"``: in between (8 sub-envs of 20 us steps on 2 CPUs: 4 in the parent, 4 in
      one worker).

    Example:
        >>> choose_vectorization(8, 6.0, 2), choose_vectorization(8, 10.0, 2)
        ('sync', 'batched')
        >>> choose_vectorization(8, 10.0, 2, parent_block=False), choose_vectorization(8, 20.0, 2)
        ('sync', 'batched')
        >>> choose_vectorization(2, 200.0, 2), choose_vectorization(2, 5000.0, 2)
        ('batched', 'async')
    """
    cpus = cpu_count or 1
    if num_workers == 1 or cpus == 1:
        return "sync"
    workers, in_parent = batched_layout(num_workers, step_cost_us, cpus, parent_block=parent_block)
    in_process = num_workers * step_cost_us + COLLECTION_LOOP_US
    batched = _layout_us(num_workers, step_cost_us, workers, in_parent)
    if in_process < BATCHED_MIN_GAIN * batched:
        return "sync"
    return "async" if step_cost_us >= ASYNC_MIN_STEP_US else "batched"


#: Names of a simulator's seconds per step (MuJoCo and Pendulum ``dt``, CartPole ``tau``).
_DT_NAMES = ("dt", "tau")


def _seconds(value: Any) -> float | None:
    """``value`` as seconds per step if it is a positive real number, else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)):
        return None
    return float(value) if value > 0 else None


def _simulator_dt(env: gym.Env[Any, Any]) -> tuple[str, float] | None:
    """``(name, seconds per step)`` of the env's time step: an attribute of the unwrapped env,
    or for an env that keeps it only among its own domain parameters (gymsamp/PointMass-v0's
    ``dt``) that parameter's current value; None if it has none."""
    for name in _DT_NAMES:
        seconds = _seconds(getattr(env.unwrapped, name, None))
        if seconds is not None:
            return name, seconds
    if has_adapter(env):
        current = shared_adapter(env).get_domain_param()
        for name in _DT_NAMES:
            seconds = _seconds(current.get(name))
            if seconds is not None:
                return name, seconds
    return None


def env_dt(env: gym.Env[Any, Any]) -> float:
    """Simulated seconds per step (MuJoCo ``dt``, CartPole ``tau``, Pendulum ``dt``, or a
    ``dt`` domain parameter), else 1."""
    found = _simulator_dt(env)
    return 1.0 if found is None else found[1]


def dt_param_name(env: gym.Env[Any, Any]) -> str | None:
    """The domain parameter that sets :func:`env_dt` (CartPole ``tau``, Pendulum ``dt``), if
    any: rollouts that change it get their own ``time`` axis."""
    found = _simulator_dt(env)
    if found is None or not has_adapter(env):
        return None
    return found[0] if found[0] in shared_adapter(env).nominal_domain_param() else None
