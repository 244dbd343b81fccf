"""An SB3-style model (anything with ``predict(observation, state, episode_start,
deterministic)``) as a policy: :class:`SB3Policy`.

stable-baselines3 and torch are imported only when the adapter runs. The model runs inside a
seeded fork of torch's global generator (see :mod:`gymsamp.policies.adapters`).
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np

from gymsamp._checks import check_bool, is_int
from gymsamp._warnings import user_stacklevel
from gymsamp.data.spec import EnvSpec
from gymsamp.policies._model_spaces import space_mismatch
from gymsamp.policies._shared import (
    _check_actions,
    _check_row_actions,
    _check_spec,
    _EnvRngs,
    _observations,
    _RowByRow,
    _RowByRowChoice,
    _rows,
    _same_bits,
    _seeded_torch_rng,
)
from gymsamp.policies.base import PolicyStep

if TYPE_CHECKING:
    import torch

__all__ = ["SB3Policy"]


def _map_state(state: Any, fn: Callable[[np.ndarray], np.ndarray]) -> Any:
    if isinstance(state, tuple):
        return tuple(fn(np.asarray(s)) for s in state)
    return fn(np.asarray(state))


class SB3Policy(_RowByRowChoice):
    """Any object with stable-baselines3's ``predict`` (SB3 and sb3-contrib models), as a policy.

    Each :meth:`act` calls ``predict(observations, state=..., episode_start=...,
    deterministic=...)`` once with all ``B`` sub-envs. The recurrent ``state`` returned is kept
    and passed back at the next step; ``episode_start`` is True for sub-envs whose episode
    started since the last step (set by :meth:`reset_envs`, cleared after one :meth:`act`; all
    True after :meth:`start`). Following sb3-contrib's ``RecurrentPPO``, a sub-env's state is
    zero at episode start: its entries of the state passed in are zeroed (the model would
    discard them anyway), so no state leaks from one episode into the next.

    When ``predict`` returns a state, ``agent_infos["hidden_states"]`` records the state
    *before* each step (the one passed in; zeros at the first step of a collection, where
    ``None`` is passed), batch dimension first: each state array is moved so that its axis
    ``state_batch_axis`` comes first, and a tuple of arrays (``RecurrentPPO``'s ``(h, c)``,
    each ``(n_layers, B, hidden)``) is stacked to ``(B, len(state), ...)``.

    ``predict`` runs inside a seeded ``torch.random.fork_rng`` (see the module docstring): run
    batched, with ``deterministic=False`` it is reproducible for a fixed number of sub-envs
    only, and a network's batched matrix products round differently for different batch sizes.
    By default (``batch_invariant=None``), for SB3's and sb3-contrib's own models, :meth:`start`
    tests ``predict`` (with this ``deterministic``, on observations drawn from the observation
    space with a fixed seed) once on the batch and once row by row: where the actions and states
    agree bit for bit (most argmax policies on ``Discrete`` actions), it runs batched; where
    they do not (Gaussian actions, sampling), it runs on each sub-env alone (a batch of one, as
    in ``rollout()``; the state sliced along ``state_batch_axis``), seeded from that sub-env's
    rollout generator alone: rollouts are then bit-identical for any number of sub-envs and
    workers, stochastic ones too (DESIGN §4), at one ``predict`` per sub-env and step.
    :attr:`row_by_row` says which. Any other object with ``predict`` is not tested (it may
    record its calls) and runs batched. ``batch_invariant=True`` always runs row by row,
    ``False`` always batched (the fastest). The ``eval`` flag of :meth:`start` is ignored (SB3's
    ``predict`` sets its own training mode). SB3 clips ``Box`` actions itself.

    A model whose ``observation_space`` / ``action_space`` do not fit the env's (trained on
    another env) is refused up front, both spaces named: they must have the same kind and
    shape; ``Box`` bounds are not compared, and a channel-first image observation fits the
    env's channel-last one (SB3 transposes images itself).

    Args:
        model: The object with ``predict``.
        spec: The :class:`~gymsamp.data.EnvSpec` of the environment.
        deterministic: Passed to ``predict``.
        state_batch_axis: The batch axis of each state array (1 for ``RecurrentPPO``).
        batch_invariant: None: test an SB3 model's ``predict`` (see above); True: call it
            once per sub-env; False: once per vector step.

    Raises:
        TypeError: ``model`` has no ``predict``, or an option has the wrong type.
        ValueError: The model's spaces do not fit ``spec``'s.

    Warns:
        UserWarning: ``model`` is an SB3 model that holds the ``VecNormalize`` env it was
            trained on, normalizing observations: fed the env's raw ones, it would act on
            inputs it never saw (put the frozen statistics in front of ``predict``).

    Example:
        >>> import numpy as np
        >>> from gymnasium.spaces import Box, Discrete
        >>> from gymsamp.data import EnvSpec
        >>> class Counter:  # a recurrent "model": action = steps since episode start
        ...     def predict(self, observation, state=None, episode_start=None,
        ...                 deterministic=False):
        ...         count = np.zeros((1, len(observation), 1)) if state is None else state[0]
        ...         count = count + 1
        ...         return count[0, :, 0].astype(np.int64) - 1, (count,)
        >>> policy = SB3Policy(Counter(), EnvSpec(Box(-1, 1, (2,)), Discrete(10)))
        >>> policy.start(2, eval=True)
        >>> policy.reset_envs(np.array([0, 1]), [np.random.default_rng(0)] * 2)
        >>> [int(a) for a in policy.act(np.zeros((2, 2))).actions]
        [0, 0]
        >>> policy.reset_envs(np.array([1]), [np.random.default_rng(1)])
        >>> [int(a) for a in policy.act(np.zeros((2, 2))).actions]
        [1, 0]
    """

    def __init__(
        self,
        model: Any,
        spec: EnvSpec,
        *,
        deterministic: bool = True,
        state_batch_axis: int = 1,
        batch_invariant: bool | None = None,
    ) -> None:
        owner = "SB3Policy"
        if not callable(getattr(model, "predict", None)):
            raise TypeError(f"{owner}: model must have a predict() method, got {model!r}")
        deterministic = check_bool(f"{owner}: deterministic", deterministic)
        self._rows = _RowByRow(batch_invariant, owner)
        if not is_int(state_batch_axis):  # numpy integers count, bools do not
            raise TypeError(f"{owner}: state_batch_axis must be an int, got {state_batch_axis!r}")
        self.spec = _check_spec(spec, owner)
        mismatch = space_mismatch(model, self.spec)
        if mismatch is not None:
            raise ValueError(f"{owner}: model must be {mismatch.rule()}")
        _warn_if_trained_on_normalized_observations(model)
        self.model = model
        self.deterministic = deterministic
        self.state_batch_axis = int(state_batch_axis)
        self._state: Any = None
        self._episode_start = np.ones(0, dtype=bool)
        self._rngs = _EnvRngs(owner)

    def __repr__(self) -> str:
        return f"SB3Policy({type(self.model).__name__}, deterministic={self.deterministic})"

    def start(self, num_envs: int, *, eval: bool) -> None:
        """Begin a collection: no state yet, every sub-env at an episode start."""
        self._rngs.start(num_envs)
        self._state = None
        self._episode_start = np.ones(int(num_envs), dtype=bool)
        testable = _is_sb3_model(self.model)
        self._rows.decide(num_envs, self.spec.observation_space, self._agrees if testable else None)

    def _agrees(self, observations: Any, base: int) -> bool:
        """Whether ``predict`` gives the same actions and states on the batch as on each row
        alone (at an episode start; torch's generator seeded with ``base`` for the batch and
        ``base + i`` for row ``i``, as :meth:`act` seeds each sub-env's row: with one seed for
        all, a model that draws one number for the whole batch would agree with its rows, and
        then share its draws among the sub-envs)."""
        batch = self._rngs.check_batch(observations)
        starts = np.ones(batch, dtype=bool)
        device = _sb3_device(self.model)
        with _seeded_torch_rng(base, device):
            whole = self.model.predict(
                observations, state=None, episode_start=starts, deterministic=self.deterministic
            )
        seeds = [base + i for i in range(batch)]
        rows = self._predict_rows(observations, None, starts, device, seeds)
        return _same_bits(whole, rows)

    def reset_envs(self, env_indices: np.ndarray, rngs: Sequence[np.random.Generator]) -> None:
        """Mark ``env_indices`` as starting an episode at the next :meth:`act`."""
        indices = self._rngs.reset(env_indices, rngs)
        self._episode_start[indices] = True

    def _batch_view(self, array: np.ndarray, batch: int) -> np.ndarray:
        axis = self.state_batch_axis
        if not -array.ndim <= axis < array.ndim or array.shape[axis] != batch:
            raise ValueError(
                f"{self!r}: predict returned a state array of shape {array.shape}, whose axis "
                f"state_batch_axis={axis} must have size B={batch}; set state_batch_axis to "
                "the model's batch axis"
            )
        return np.moveaxis(array, axis, 0)

    def _masked(self, state: Any, batch: int) -> Any:
        """A copy of ``state`` with the entries of sub-envs at an episode start zeroed."""
        starts = self._episode_start

        def mask(array: np.ndarray) -> np.ndarray:
            array = array.copy()
            self._batch_view(array, batch)[starts] = 0
            return array

        return _map_state(state, mask)

    def _record(self, state: Any, batch: int) -> np.ndarray:
        if not isinstance(state, tuple):
            return self._batch_view(np.asarray(state), batch).copy()
        parts = [self._batch_view(np.asarray(s), batch) for s in state]
        if any(p.shape != parts[0].shape for p in parts):
            raise ValueError(
                f"{self!r}: cannot record a state tuple whose arrays have different shapes "
                f"{[np.shape(s) for s in state]}"
            )
        return np.stack(parts, axis=1)

    def act(self, observations: np.ndarray) -> PolicyStep:
        """``predict`` on all sub-envs, with the kept state and the episode-start flags."""
        batch = self._rngs.check_batch(observations)
        obs = _observations(observations, self.spec, batch, repr(self))
        state_in = None if self._state is None else self._masked(self._state, batch)
        episode_start = self._episode_start.copy()
        device = _sb3_device(self.model)
        if self._rows.row_by_row:
            seeds = self._rngs.row_seeds()
            actions, state_out = self._predict_rows(obs, state_in, episode_start, device, seeds)
        else:
            with _seeded_torch_rng(self._rngs.combined_seed(), device):
                actions, state_out = self._pair(
                    self.model.predict(
                        obs,
                        state=state_in,
                        episode_start=episode_start,
                        deterministic=self.deterministic,
                    )
                )
        check = _check_row_actions if self._rows.row_by_row else _check_actions
        checked = _binary_as_ints(
            check(actions, self.spec, batch, f"model {self!r}"), self.spec.action_space
        )
        infos: dict[str, Any] = {}
        if state_out is not None:
            before = state_in if state_in is not None else _map_state(state_out, np.zeros_like)
            infos["hidden_states"] = self._record(before, batch)
        self._state = state_out
        self._episode_start[:] = False
        return PolicyStep(checked, infos)

    def _pair(self, result: Any) -> tuple[Any, Any]:
        """``predict``'s ``(actions, state)``, or a TypeError naming the model."""
        if not (isinstance(result, tuple) and len(result) == 2):
            what = (
                f"a tuple of {len(result)}"
                if isinstance(result, tuple)
                else f"{type(result).__name__} of shape {np.shape(result)}"
            )
            raise TypeError(
                f"model {self!r}: predict(observation, state, episode_start, deterministic) "
                f"must return (actions, state) as SB3's does (state None for a model without "
                f"one), got {what}; a function of the observations alone can be passed as the "
                "policy itself"
            )
        return result

    def _predict_rows(
        self,
        obs: Any,
        state: Any,
        episode_start: np.ndarray,
        device: torch.device,
        seeds: list[int],
    ) -> tuple[np.ndarray, Any]:
        """``predict`` on each sub-env alone (its state slice, its seed); the results joined
        as one batched call returns them."""
        axis = self.state_batch_axis
        actions, states = [], []
        for i, seed in enumerate(seeds):
            take_row = functools.partial(_row, i=i, axis=axis)
            row_state = None if state is None else _map_state(state, take_row)
            with _seeded_torch_rng(seed, device):
                action, row_out = self._pair(
                    self.model.predict(
                        _rows(obs, slice(i, i + 1)),
                        state=row_state,
                        episode_start=episode_start[i : i + 1],
                        deterministic=self.deterministic,
                    )
                )
            actions.append(np.asarray(action))
            states.append(row_out)
        if states[0] is None:
            return np.concatenate(actions), None
        if isinstance(states[0], tuple):
            joined = tuple(np.concatenate(parts, axis) for parts in zip(*states, strict=True))
            return np.concatenate(actions), joined
        return np.concatenate(actions), np.concatenate(states, axis)


def _warn_if_trained_on_normalized_observations(model: Any) -> None:
    """Warn about an SB3 model that still holds the ``VecNormalize`` env it was trained on,
    with observation normalization: ``predict`` gets the env's raw observations from gymsamp,
    which the model never saw in training, and would act on them without any error.

    (A model loaded from its zip has forgotten that env, so only models in memory, or loaded
    with ``env=``, are caught.)
    """
    if not _is_sb3_model(model):
        return
    get_stats = getattr(model, "get_vec_normalize_env", None)
    stats = get_stats() if callable(get_stats) else None
    if stats is None or not getattr(stats, "norm_obs", False):
        return
    warnings.warn(
        f"SB3Policy: model must see observations as in training, got a {type(model).__name__} "
        "trained on a VecNormalize env that normalizes them (model.get_vec_normalize_env()), "
        "while predict() gets the env's raw observations here; put the frozen statistics in "
        "front of predict (see 'Models trained with VecNormalize' in the policies guide)",
        UserWarning,
        stacklevel=user_stacklevel(),
    )


def _binary_as_ints(actions: np.ndarray, space: Any) -> np.ndarray:
    """SB3 samples ``MultiBinary`` actions from a Bernoulli distribution as floats 0. and 1.;
    gymsamp takes them in the space's own dtype (as the env would store them)."""
    if (
        isinstance(space, gym.spaces.MultiBinary)
        and actions.dtype.kind == "f"
        and np.all((actions == 0) | (actions == 1))
    ):
        return actions.astype(space.dtype)
    return actions


def _is_sb3_model(model: Any) -> bool:
    """Whether ``model`` is (a subclass of) a class of stable-baselines3 or sb3-contrib, whose
    ``predict`` is a pure function of its inputs and torch's generator (told by the classes'
    modules, so that neither package is imported for the answer)."""
    return any(
        cls.__module__.partition(".")[0] in ("stable_baselines3", "sb3_contrib")
        for cls in type(model).__mro__
    )


def _row(array: np.ndarray, *, i: int, axis: int) -> np.ndarray:
    """Entry ``i`` of ``array``'s batch ``axis``, keeping that axis (length one)."""
    return np.take(array, [i], axis=axis)


def _sb3_device(model: Any) -> torch.device:
    import torch

    device = getattr(model, "device", None)
    return device if isinstance(device, torch.device) else torch.device("cpu")
