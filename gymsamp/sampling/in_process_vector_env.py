"""Sub-envs stepped one after the other in this process: :class:`InProcessVectorEnv`.

gymsamp's ``"sync"`` vectorization, and (as :class:`SingleEnvVector`) the vector env of one that
``rollout()`` runs on. Its ``reset`` takes the same seeds and reset masks as the other vector
envs of gymsamp (:mod:`gymsamp.sampling.reset_args`).
"""

from __future__ import annotations

import contextlib
import functools
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.envs.registration import EnvSpec
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space, iterate

from gymsamp.sampling.errors import WorkerError
from gymsamp.sampling.observations import ARRAY_SPACES, copy_batch, idle_batch, set_sub_env
from gymsamp.sampling.queued_reset import (
    check_call_name,
    check_env_index,
    failed_in_reset,
    step_sub_env,
)
from gymsamp.sampling.reset_args import check_reset_mask, reset_seeds
from gymsamp.sampling.step_outputs import real_reward, unfit_observation
from gymsamp.sampling.sub_env_infos import PerEnvInfos

__all__ = [
    "InProcessVectorEnv",
    "SingleEnvVector",
    "build_sub_env",
    "build_sub_envs",
    "check_own_env",
]


def build_sub_env(
    index: int, env_fn: Callable[[], gym.Env[Any, Any]], *, where: str = ""
) -> gym.Env[Any, Any]:
    """Call ``env_fn`` in this process; a failure is sub-env ``index``'s :class:`WorkerError`
    (raised ``where``, e.g. "in this process"), as in a worker process.

    Example:
        >>> build_sub_env(0, lambda: gym.make("CartPole-v1")).spec.id
        'CartPole-v1'
    """
    try:
        return env_fn()
    except Exception as err:
        raise WorkerError.of_build(index, err, where=where) from err


def build_sub_envs(env_fns: Sequence[Callable[[], gym.Env[Any, Any]]]) -> list[gym.Env[Any, Any]]:
    """Call each factory in this process; a failure is the sub-env's :class:`WorkerError`, as
    in a worker process, and closes the sub-envs built before it.

    Example:
        >>> def fails():
        ...     raise OSError("license server unreachable")
        >>> try:
        ...     build_sub_envs([lambda: gym.make("CartPole-v1"), fails])
        ... except WorkerError as err:
        ...     print(err.env_index, err.message)
        1 sub-env 1 raised OSError while being built: license server unreachable
    """
    envs: list[gym.Env[Any, Any]] = []
    try:
        for i, fn in enumerate(env_fns):
            envs.append(build_sub_env(i, fn))
            check_own_env(envs, 0)
    except BaseException:
        for env in envs:
            with contextlib.suppress(Exception):  # the build's error is the one to raise
                env.close()
        raise
    return envs


def check_own_env(envs: Sequence[gym.Env[Any, Any]], lo: int) -> None:
    """Refuse the last of ``envs`` (sub-envs ``lo..``, built in this process) if it wraps the
    same env object as an earlier one: a factory that hands out one env (``lambda: env``)
    makes sub-envs that step and reset one simulation under each other's episodes, which
    gave silently wrong rollouts.

    Example:
        >>> env = gym.make("CartPole-v1")
        >>> try:
        ...     build_sub_envs([lambda: env, lambda: env])
        ... except ValueError as err:
        ...     print(str(err)[:69])
        the env factory returned the same env object (a CartPoleEnv) for sub-
    """
    last = envs[-1].unwrapped
    for j, env in enumerate(envs[:-1]):
        if env.unwrapped is last:
            raise ValueError(
                f"the env factory returned the same env object (a {type(last).__name__}) for "
                f"sub-envs {lo + j} and {lo + len(envs) - 1}, but each sub-env must be an env "
                "of its own: make a new env on every call (e.g. lambda: gym.make(env_id)), or "
                "pass the env instance itself as env, which gymsamp copies into every sub-env"
            )


class InProcessVectorEnv(PerEnvInfos, VectorEnv):
    """Sub-envs stepped one after the other in this process (autoreset ``DISABLED`` unless
    asked for Gymnasium's ``NEXT_STEP`` or ``SAME_STEP``).

    gymsamp's ``"sync"`` mode. Compared with ``SyncVectorEnv`` it writes observations straight
    into a preallocated batch (no concatenation and deep copy per step), does info work only for
    sub-envs that report any, resets masked sub-envs without rebuilding the batch, may step a
    sub-env past its episode end (``rollout()``'s ``stop_on_done=False``), and, with
    ``tag_errors``, raises a sub-env's exception as :class:`WorkerError` naming the sub-env.
    Observations are batched as Gymnasium batches them: one array, or for ``Dict`` and ``Tuple``
    spaces a dict or tuple of arrays. Actions for such spaces come batched the same way, or
    as a list of one dict (or tuple) per sub-env.

    Args:
        envs: The sub-env instances.
        tag_errors: Re-raise sub-env exceptions as :class:`WorkerError` with the sub-env index
            (else they propagate unchanged).
        autoreset_mode: As in Gymnasium's vector envs (``metadata["autoreset_mode"]`` tells);
            queued resets apply in every mode and take precedence over an autoreset.

    Example:
        >>> import gymnasium as gym
        >>> envs = InProcessVectorEnv([gym.make("CartPole-v1") for _ in range(2)])
        >>> obs, _ = envs.reset(seed=[1, 2])
        >>> obs.shape, envs.step(np.array([0, 1]))[1].tolist()
        ((2, 4), [1.0, 1.0])
        >>> envs.close()
    """

    owned_infos = True  # the sub-envs' own dicts and arrays: copied when handed over

    def __init__(
        self,
        envs: list[gym.Env[Any, Any]],
        *,
        tag_errors: bool = True,
        autoreset_mode: AutoresetMode | str = AutoresetMode.DISABLED,
    ) -> None:
        if not envs:
            raise ValueError("envs must hold at least one env, got none")
        self.envs = list(envs)
        self.num_envs = len(self.envs)
        first = self.envs[0]
        self.autoreset_mode = AutoresetMode(autoreset_mode)
        self.metadata = {**first.metadata, "autoreset_mode": self.autoreset_mode}
        self.render_mode = first.render_mode
        self.single_observation_space = first.observation_space
        self.single_action_space = first.action_space
        self.tag_errors = tag_errors
        # Dict, Tuple (and other) action spaces batch into a dict or tuple, not one array
        # indexed by sub-env: split it as SyncVectorEnv does.
        self._split_actions = not isinstance(first.action_space, ARRAY_SPACES)
        # Rows of sub-envs not reset yet (paused ones) hold an element of the space.
        self._obs: Any = idle_batch(first.observation_space, self.num_envs)
        self._array_obs = type(self._obs) is np.ndarray  # else a dict / tuple of arrays
        self._queued: dict[int, tuple[int | None, dict[str, Any] | None]] = {}
        self._paused: set[int] = set()
        self._pending: set[int] = set()  # NEXT_STEP: sub-envs the next step resets

    # Built on first use: the batched spaces (a deep copy of each space's generator) and the
    # spec (a deep copy per wrapper of the env) cost most of rollout()'s fixed ~0.5 ms, and
    # the collection loop never reads them. An assignment replaces them as an attribute would.
    @functools.cached_property
    def observation_space(self) -> gym.Space[Any]:  # type: ignore[override]
        return batch_space(self.single_observation_space, self.num_envs)

    @functools.cached_property
    def action_space(self) -> gym.Space[Any]:  # type: ignore[override]
        return batch_space(self.single_action_space, self.num_envs)

    @functools.cached_property
    def spec(self) -> EnvSpec | None:  # type: ignore[override]
        return self.envs[0].spec

    def queue_reset(
        self, index: int, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> None:
        """Reset sub-env ``index`` with ``seed`` and ``options`` inside the step that next
        ends its episode (:mod:`gymsamp.sampling.queued_reset`)."""
        self._queued[check_env_index(index, self.num_envs)] = (seed, options)

    def pause(self, index: int) -> None:
        """Stop stepping sub-env ``index`` until its next reset
        (:mod:`gymsamp.sampling.queued_reset`)."""
        index = check_env_index(index, self.num_envs)
        self._paused.add(index)
        self._queued.pop(index, None)

    def _put(self, i: int, obs: Any) -> None:
        """Write sub-env ``i``'s observation into the batch, refusing one that does not fit
        (numpy would turn a None into NaN, or fail with its own message)."""
        if obs is None:
            raise unfit_observation(obs, self.single_observation_space)
        try:
            set_sub_env(self._obs, i, obs)
        except (TypeError, ValueError, KeyError, IndexError) as err:
            raise unfit_observation(obs, self.single_observation_space, err) from None

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
        seeds = reset_seeds(seed, self.num_envs)
        rest = dict(options) if options else {}
        mask = rest.pop("reset_mask", None)
        if mask is None:
            indices: Iterable[int] = range(self.num_envs)
        else:
            indices = np.flatnonzero(check_reset_mask(mask, self.num_envs)).tolist()
        infos: dict[str, Any] = {}
        for i in indices:
            self._queued.pop(i, None)
            self._paused.discard(i)
            self._pending.discard(i)
            try:
                obs, info = self.envs[i].reset(seed=seeds[i], options=rest or None)
                self._put(i, obs)
            except Exception as err:
                raise self._fail(i, "reset", err) from err
            if info:
                infos = self._add_info(infos, info, i)
        return copy_batch(self._obs), infos

    def step(self, actions: Any) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        if self._split_actions and not _per_env_actions(self.single_action_space, actions):
            actions = list(iterate(self.action_space, actions))
        try:
            count = len(actions)
        except TypeError:  # a scalar, or a 0-d array
            count = None
        if count != self.num_envs:  # else extra actions were dropped, or raised mid-step
            raise ValueError(
                f"actions must hold one action per sub-env (num_envs={self.num_envs}), got "
                f"{count if count is not None else repr(actions)}"
            )
        infos: dict[str, Any] = {}
        queued, batch, paused = self._queued, self._obs, self._paused
        mode, pending, array_obs = self.autoreset_mode, self._pending, self._array_obs
        # Scalars gathered in lists and converted once: cheaper than a numpy store each.
        rewards: list[Any] = []
        terminations: list[Any] = []
        truncations: list[Any] = []
        for i, env in enumerate(self.envs):
            if paused and i in paused:  # its last observation stays in the batch
                rewards.append(0.0)
                terminations.append(False)
                truncations.append(False)
                continue
            try:
                obs, reward, terminated, truncated, info = step_sub_env(
                    env, i, actions[i], mode=mode, queued=queued, pending=pending
                )
            except Exception as err:
                raise self._fail(i, "reset" if failed_in_reset(err) else "step", err) from err
            if array_obs and obs is not None:
                try:
                    batch[i] = obs
                except (TypeError, ValueError) as err:
                    unfit = unfit_observation(obs, self.single_observation_space, err)
                    raise self._fail(i, "step", unfit) from err
            else:
                try:
                    self._put(i, obs)
                except ValueError as err:
                    raise self._fail(i, "step", err) from err
            rewards.append(reward)
            terminations.append(terminated)
            truncations.append(truncated)
            if info:  # most envs report nothing: skip Gymnasium's info batching then
                infos = self._add_info(infos, info, i)
        return (
            batch.copy() if array_obs else copy_batch(batch),
            self._rewards(rewards),
            np.array(terminations, dtype=np.bool_),  # one value each (step_sub_env)
            np.array(truncations, dtype=np.bool_),
            infos,
        )

    def _rewards(self, rewards: list[Any]) -> np.ndarray:
        """The sub-envs' rewards as one array (a size-1 array counts as its element, as in
        every mode); a reward that is not one number names its sub-env."""
        try:
            batch: np.ndarray = np.array(rewards, dtype=np.float64)
            if batch.ndim == 1:
                return batch
        except (TypeError, ValueError):
            pass
        # Only now one by one: size-1 arrays (as their elements), or a reward that is no number.
        values = []
        for i, reward in enumerate(rewards):
            try:
                values.append(real_reward(reward))
            except ValueError as bad:
                raise self._fail(i, "step", bad) from None
        return np.array(values, dtype=np.float64)

    def call(self, name: str, *args: Any, **kwargs: Any) -> tuple[Any, ...]:
        """``name(*args, **kwargs)`` in every sub-env (an attribute's value if not callable)."""
        check_call_name(name)
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
            raise ValueError(f"values must hold num_envs={self.num_envs} values, got {len(values)}")
        for env, value in zip(self.envs, values, strict=True):
            env.set_wrapper_attr(name, value)

    def close_extras(self, **kwargs: Any) -> None:
        # Every sub-env is closed even if one's close() raises (then the first error is raised).
        errors = []
        for env in self.envs:
            try:
                env.close()
            except Exception as err:
                errors.append(err)
        if errors:
            # Every sub-env was closed: a second close() has nothing left to do. Gymnasium < 1.3's
            # VectorEnv.__del__ closes again whatever is not marked closed, so without this the
            # error came back from the garbage collector ("Exception ignored in __del__").
            self.closed = True
            raise errors[0]


class SingleEnvVector(InProcessVectorEnv):
    """One env instance seen as a vector env of one, for ``rollout()``.

    It may step the env past its episode end (``stop_on_done=False``) and raises the env's own
    exceptions unchanged.
    """

    def __init__(self, env: gym.Env[Any, Any]) -> None:
        super().__init__([env], tag_errors=False)
        self.env = env

    def _batch(self, obs: Any) -> Any:
        set_sub_env(self._obs, 0, obs)
        return copy_batch(self._obs)


def _per_env_actions(space: gym.Space[Any], actions: Any) -> bool:
    """Whether ``actions`` for a Dict or Tuple ``space`` is a list of one action per sub-env
    (dicts, or tuples), which step() took before it split batches as Gymnasium's vector envs
    do: a batch is a dict, or a tuple, never a list of them. Splitting such a list as a batch
    would hand each sub-env a mix of all sub-envs' actions (a Tuple's components transposed)."""
    if type(actions) is not list or not actions:
        return False
    if isinstance(space, gym.spaces.Dict):
        return all(isinstance(action, Mapping) for action in actions)
    if isinstance(space, gym.spaces.Tuple):
        return all(type(action) is tuple for action in actions)
    return False
