"""What runs inside a Ray actor of the Ray backend (:mod:`gymsamp.sampling.ray_backend`).

- :func:`policy_params` / :func:`load_policy_params`: the policy's current parameters, put into
  Ray's object store once per ``sample()`` call and loaded by each actor when it first sees
  the call;
- :class:`WorkerSpec`: what an actor is built from;
- :class:`RolloutWorker`: the actor (wrapped by ``ray.remote`` in the driver), which runs
  batches of jobs with :func:`~gymsamp.sampling.collector.collect` on its own ``"sync"``
  vector env and reports failures as values the driver re-raises.
"""

from __future__ import annotations

import os
import pickle
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import cloudpickle
import numpy as np

from gymsamp.policies.adapters import _is_torch_module
from gymsamp.policies.base import ParametricPolicy, Policy
from gymsamp.policies.sb3_policy import SB3Policy
from gymsamp.policies.torch_policy import TorchPolicy
from gymsamp.sampling.collector import collect
from gymsamp.sampling.errors import WorkerError
from gymsamp.sampling.quota import Quota
from gymsamp.sampling.rollout_job import RolloutJob
from gymsamp.sampling.vector_envs import EnvFactory, make_vector_env

__all__ = [
    "Pickled",
    "PolicyParams",
    "RolloutWorker",
    "WorkerSpec",
    "load_policy_params",
    "policy_params",
]


# -- parameters ----------------------------------------------------------------------------


class PolicyParams(NamedTuple):
    """What one ``sample()`` call broadcasts to the actors: the policy's current parameters.

    ``kind`` says how to load ``value`` (see :func:`policy_params`).

    Example:
        >>> params = PolicyParams("param_values", np.array([1.0, 2.0]))
        >>> kind, value = params
        >>> kind, value
        ('param_values', array([1., 2.]))
    """

    kind: str
    value: Any


def policy_params(policy: Policy) -> PolicyParams:
    """The current parameters of ``policy``, in the form that travels to the actors.

    - :class:`~gymsamp.policies.torch_policy.TorchPolicy`: ``("state_dict", module.state_dict())``
      (parameters and buffers, e.g. batch-norm statistics);
    - :class:`~gymsamp.policies.sb3_policy.SB3Policy` of a model with a torch ``.policy``:
      ``("sb3_state_dict", model.policy.state_dict())``;
    - any other :class:`~gymsamp.policies.ParametricPolicy`: ``("param_values", copy)``;
    - anything else: ``("policy", policy)``, the whole object (it has no parameter notion).

    Example:
        >>> import numpy as np
        >>> from gymsamp.policies import LinearPolicy
        >>> policy = LinearPolicy((2, 1))
        >>> policy.param_values = np.array([1.0, 2.0, 0.5])
        >>> policy_params(policy).kind, policy_params(policy).value
        ('param_values', array([1. , 2. , 0.5]))
    """
    if isinstance(policy, TorchPolicy):
        return PolicyParams("state_dict", policy.module.state_dict())
    if isinstance(policy, SB3Policy) and _is_torch_module(getattr(policy.model, "policy", None)):
        return PolicyParams("sb3_state_dict", policy.model.policy.state_dict())
    if isinstance(policy, ParametricPolicy):
        return PolicyParams("param_values", np.array(policy.param_values, copy=True))
    return PolicyParams("policy", policy)


def load_policy_params(policy: Policy, params: PolicyParams) -> Policy:
    """Load ``params`` (from :func:`policy_params`) into ``policy``; returns the policy to use.

    Example:
        >>> import numpy as np
        >>> from gymsamp.policies import LinearPolicy
        >>> source = LinearPolicy((2, 1))
        >>> source.param_values = np.array([1.0, 2.0, 0.5])
        >>> copy = LinearPolicy((2, 1))
        >>> load_policy_params(copy, policy_params(source)).param_values
        array([1. , 2. , 0.5])
    """
    kind, value = params
    if kind == "state_dict":
        policy.module.load_state_dict(value)  # type: ignore[attr-defined]
    elif kind == "sb3_state_dict":
        policy.model.policy.load_state_dict(value)  # type: ignore[attr-defined]
    elif kind == "param_values":
        policy.param_values = value  # type: ignore[attr-defined]
    elif kind == "policy":
        return value
    else:
        raise ValueError(
            f"params.kind must be 'state_dict', 'sb3_state_dict', 'param_values' or 'policy', "
            f"got {kind!r}"
        )
    return policy


# -- the actor -----------------------------------------------------------------------------


@dataclass(frozen=True)
class WorkerSpec:
    """What every actor of a sampler is built from (fixed until ``reinit``).

    Args:
        factory: The env factory (cloudpickled into every actor).
        policy: The adapted policy (copied into every actor once).
        envs_per_actor: Sub-envs in each actor's vector env.
        record_states: Record full simulator states (see the sampler).
        dt: Simulated seconds per step, for the rollouts' ``time`` field.
        env_id: Recorded in every ``rollout_info``.
        dt_param: The domain parameter that sets ``dt``, if any (see ``collect``).

    Example:
        >>> from gymnasium.spaces import Discrete
        >>> from gymsamp.policies import IdlePolicy
        >>> spec = WorkerSpec(EnvFactory("CartPole-v1"), IdlePolicy(Discrete(2)),
        ...                   envs_per_actor=2, record_states=False, dt=0.02,
        ...                   env_id="CartPole-v1")
        >>> spec.envs_per_actor, spec.dt_param
        (2, None)
    """

    factory: EnvFactory
    policy: Policy
    envs_per_actor: int
    record_states: bool
    dt: float
    env_id: str | None
    dt_param: str | None = None


@dataclass
class _Failure:
    """An exception raised inside an actor, carried back as a return value.

    Returning it (instead of raising through Ray) keeps the exception and its remote traceback
    free of Ray's wrapping, so the driver can raise exactly what the local backend raises.
    """

    exception: BaseException | None  # None if it could not be pickled
    type_name: str
    text: str
    remote_traceback: str

    @classmethod
    def capture(cls, err: BaseException) -> _Failure:
        try:  # Ray pickles return values with cloudpickle: check that this one survives
            pickle.loads(cloudpickle.dumps(err))
            picklable: BaseException | None = err
        except Exception:
            picklable = None
        return cls(picklable, type(err).__name__, str(err), traceback.format_exc())


@dataclass
class _BatchResult:
    """One batch's rollouts, pickled in the actor, plus timestamps for overhead statistics.

    Rollouts travel as one pickled ``bytes`` object rather than as Ray-serialized arrays
    because arrays Ray deserializes are read-only views into its object store; unpickling
    gives the driver ordinary writable arrays, as the local backend returns.
    """

    payload: bytes
    started: float  # time.time() when the actor began the batch
    finished: float  # time.time() when the payload was ready
    collect_s: float  # seconds inside collect()


@dataclass(frozen=True)
class Pickled:
    """A value shipped to the actors as cloudpickle bytes.

    Ray hands the numpy arrays of an object it stores back as read-only views of its object
    store: a policy or env factory holding an array it updates in place (a running
    normalizer, an env's position) would fail on Ray only. Bytes unpickle into fresh,
    writable arrays, as the local backend's copies have.

    Example:
        >>> shipped = Pickled.of({"weights": np.zeros(2)})
        >>> shipped.load()["weights"].flags.writeable
        True
    """

    payload: bytes

    @classmethod
    def of(cls, value: Any) -> Pickled:
        return cls(cloudpickle.dumps(value))

    def load(self) -> Any:
        return cloudpickle.loads(self.payload)


def _resolve(value: Any) -> Any:
    """``ray.get`` for an object reference, the value itself otherwise (tests without Ray);
    a :class:`Pickled` value unpickled."""
    import sys

    ray = sys.modules.get("ray")
    if ray is not None and isinstance(value, ray.ObjectRef):
        value = ray.get(value)
    return value.load() if isinstance(value, Pickled) else value


class RolloutWorker:
    """The body of one Ray actor: a sync vector env and a policy copy that run job batches.

    It is a plain class (``ray.remote(RolloutWorker)`` makes the actor), so it also runs
    without Ray. Construction errors are kept and reported by :meth:`ready`, so they reach
    the driver like any other failure.

    Args:
        index: The actor's index (named in errors).
        spec: What to build.

    Example:
        >>> import numpy as np
        >>> from gymnasium.spaces import Discrete
        >>> from gymsamp.policies import IdlePolicy
        >>> from gymsamp.sampling import RolloutJob
        >>> spec = WorkerSpec(EnvFactory("gymsamp/Counting-v0", terminate_at=2),
        ...                   IdlePolicy(Discrete(2)), envs_per_actor=1, record_states=False,
        ...                   dt=1.0, env_id="gymsamp/Counting-v0")
        >>> worker = RolloutWorker(0, spec)
        >>> jobs = [RolloutJob.seeded(k, 0, 0, k) for k in (5, 6)]
        >>> params = policy_params(spec.policy)
        >>> result = worker.run(1, [params], jobs, eval=True, max_steps=None)
        >>> [ro.rollout_info["rollout_index"] for ro in pickle.loads(result.payload)]
        [5, 6]
        >>> worker.close()
    """

    def __init__(self, index: int, spec: WorkerSpec | Pickled) -> None:
        self.index = index
        self._params_call: int | None = None
        self._envs: Any = None
        self._error: _Failure | None = None
        try:
            self.spec: WorkerSpec = _resolve(spec)
        except Exception as err:
            # Most likely a module the env factory or policy needs is not importable here.
            # Raised from __init__, Ray would report only "The actor died because of an error
            # raised in its creation task", without the error.
            self._error = _Failure.capture(
                WorkerError(
                    f"the env factory and policy could not be loaded on this actor: "
                    f"{type(err).__name__}: {err} (the modules they import must be installed "
                    "where the actors run)",
                    remote_traceback=traceback.format_exc(),
                )
            )
            return
        self.policy = self.spec.policy
        try:
            self._envs = make_vector_env(
                self.spec.factory,
                self.spec.envs_per_actor,
                "sync",
                record_state=self.spec.record_states,
            )
        except Exception as err:
            self._error = _Failure.capture(err)

    def ready(self) -> tuple[int, str] | _Failure:
        """``(pid, node address)`` of the actor, or the failure of its construction."""
        if self._error is not None:
            return self._error
        import socket

        return os.getpid(), socket.gethostname()

    def run(
        self,
        call: int,
        params_box: Sequence[Any],
        jobs: Sequence[RolloutJob],
        *,
        eval: bool,
        max_steps: int | None,
    ) -> _BatchResult | _Failure:
        """Collect the rollouts of ``jobs`` (any indices) on this actor's vector env.

        Args:
            call: The driver's call number; parameters are loaded once per new number.
            params_box: ``[ref]``: the object-store reference of the call's
                :class:`PolicyParams` (boxed in a list so Ray hands over the reference, and
                the actor fetches it only when ``call`` changes), or ``[params]`` itself.
            jobs: The jobs, in index order; their indices are restored in ``rollout_info``.
            eval: Passed to the policy.
            max_steps: Cut rollouts after this many steps.
        """
        started = time.time()
        try:
            if self._error is not None:
                return self._error
            if call != self._params_call:
                self.policy = load_policy_params(self.policy, _resolve(params_box[0]))
                self._params_call = call
            # collect() numbers a collection's rollouts 0..n-1 (its prefix logic relies on
            # that), so the batch runs under local indices and gets its own back afterwards.
            # Each keeps the caller's index as the one it reports (reported_index): a
            # rollout-indexed policy (PlaybackPolicy) and the error messages see it.
            local = [
                job.replace(index=j, info={**job.info, "rollout_index": job.reported_index})
                for j, job in enumerate(jobs)
            ]
            t0 = time.perf_counter()
            rollouts = collect(
                self._envs,
                self.policy,
                local.__getitem__,
                Quota(min_rollouts=len(local)),
                eval=eval,
                max_steps=max_steps,
                record_states=self.spec.record_states,
                dt=self.spec.dt,
                dt_param=self.spec.dt_param,
                env_id=self.spec.env_id,
            )
            collect_s = time.perf_counter() - t0
            for job, ro in zip(jobs, rollouts, strict=True):
                ro.rollout_info["rollout_index"] = job.index
            # cloudpickle: infos may hold objects of classes defined in the user's script.
            payload = cloudpickle.dumps(rollouts, protocol=pickle.HIGHEST_PROTOCOL)
        except SystemExit:
            raise  # how Ray ends an actor (ray.actor.exit_actor()): Ray's own to handle
        except BaseException as err:
            # A KeyboardInterrupt or another BaseException from the policy or env, too: let
            # through, Ray would report it as a cancelled task (TaskCancelledError) or a
            # RayTaskError with its colour codes, where the local backend raises it as is.
            return _Failure.capture(err)
        return _BatchResult(payload, started, time.time(), collect_s)

    def close(self) -> None:
        """Close the vector env."""
        if self._envs is not None:
            self._envs.close()
            self._envs = None
