"""Adapters that turn user objects into policies: :func:`as_policy` and :class:`CallablePolicy`
(:class:`TorchPolicy` and :class:`SB3Policy` live in their own modules).

=================================================  ===============================================
user object                                        adapter
=================================================  ===============================================
anything with ``start``, ``reset_envs``, ``act``   returned unchanged (it is a :class:`Policy`)
anything with SB3's ``predict(observation, state,  :class:`SB3Policy` (SB3 / sb3-contrib models and
episode_start, deterministic)``                    their policies, including ``RecurrentPPO``)
a ``torch.nn.Module``                              :class:`TorchPolicy` (optionally recurrent)
a callable on numpy batches                        :class:`CallablePolicy`
=================================================  ===============================================

Torch and stable-baselines3 are imported only when an adapter that needs them runs.

Torch's global generator: :class:`TorchPolicy` and :class:`SB3Policy` run the model inside
``torch.random.fork_rng``. A model that samples from torch's global generator (SB3 with
``deterministic=False``, dropout in train mode) is therefore reproducible, and gymsamp never
disturbs or depends on the global torch RNG state. Run row by row (what their batch test picks
for a model whose outputs depend on the batch, as sampled actions do), each sub-env's call is
seeded from its own per-episode generator alone, so the rollouts do not depend on the number
of sub-envs. Run batched, the fork is seeded with one value combined from one draw of every
sub-env's per-episode generator: such stochastic models are then reproducible only for a
fixed number of sub-envs (and a fixed order of episode starts), unlike gymsamp's own
stochastic policies.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from gymsamp._checks import check_bool
from gymsamp._notes import add_note
from gymsamp.data.spec import EnvSpec
from gymsamp.policies._shared import (
    _check_actions,
    _check_batch_invariant,
    _check_spec,
    _EnvRngs,
    _observations,
    _read_only,
    _RowByRow,
    _RowByRowChoice,
    _rows,
    _tree_map,
)
from gymsamp.policies.base import Policy, PolicyStep, is_policy
from gymsamp.policies.sb3_policy import SB3Policy
from gymsamp.policies.torch_policy import TorchPolicy

if TYPE_CHECKING:
    pass

__all__ = ["CallablePolicy", "SB3Policy", "TorchPolicy", "as_policy"]


# ----------------------------------------------------------------------------------------------
# CallablePolicy
# ----------------------------------------------------------------------------------------------


class CallablePolicy(_RowByRowChoice):
    """A plain callable ``fn(observations) -> actions`` on numpy batches, as a policy.

    ``fn`` receives the observations of all ``B`` sub-envs, shape ``(B, *obs_shape)`` (dict or
    tuple observations as the vector env gives them), and must return actions of shape
    ``(B, *action_shape)`` (numpy or anything ``np.asarray`` accepts; torch tensors are
    converted); anything else raises ``ValueError`` naming the policy and both shapes. ``fn``
    has no access to the per-episode generators, so it should be deterministic. The
    observations are a read-only view: they are recorded as they are, so changing them in
    place (``obs /= 10``) would change the rollout's data (numpy refuses it instead).

    Batch invariance: a matrix product over the batch (``obs @ w``) rounds differently for
    different batch sizes (numpy's BLAS picks its kernel by shape), so a sub-env's action may
    differ in the last bits with the number of sub-envs beside it, and so may whole rollouts
    (DESIGN §4 promises ``sample()`` equal to one-env ``rollout()`` calls bit for bit). With
    ``batch_invariant=True``, ``fn`` gets each sub-env's observation alone (a batch of one, as
    in ``rollout()``), at the cost of one call per sub-env and step. Elementwise policies need
    no such thing. Unlike torch modules and SB3 models, a plain function is not tested for
    batch invariance (it may record its calls or draw from its own generator): the default
    (``None``, as ``False``) calls it with the whole batch.

    Args:
        fn: The callable.
        spec: The :class:`~gymsamp.data.EnvSpec` of the environment.
        name: Name used in error messages; ``fn``'s qualified name if None.
        batch_invariant: True: call ``fn`` once per sub-env (see above); None or False:
            once per vector step.

    Example:
        >>> import numpy as np
        >>> import gymnasium as gym
        >>> from gymsamp.data import EnvSpec
        >>> spec = EnvSpec.from_env(gym.make("CartPole-v1"))
        >>> policy = CallablePolicy(lambda obs: (obs[:, 2] > 0).astype(np.int64), spec)
        >>> policy.start(2, eval=True)
        >>> policy.act(np.array([[0, 0, 0.1, 0], [0, 0, -0.1, 0]], dtype=np.float32)).actions
        array([1, 0])
        >>> w = np.array([0.3, -1.7, 2.9], dtype=np.float32)
        >>> spec = EnvSpec.from_env(gym.make("Pendulum-v1"))
        >>> exact = CallablePolicy(lambda obs: obs @ w[:, None], spec, batch_invariant=True)
        >>> exact.start(3, eval=True)
        >>> obs = np.array([[0.1, 0.2, 0.3], [1, 2, 3], [-1, 0.5, 2]], dtype=np.float32)
        >>> bool((exact.act(obs).actions[1:2] == obs[1:2] @ w[:, None]).all())
        True
    """

    def __init__(
        self,
        fn: Callable[[Any], Any],
        spec: EnvSpec,
        *,
        name: str | None = None,
        batch_invariant: bool | None = None,
    ) -> None:
        if not callable(fn):
            raise TypeError(f"CallablePolicy: fn must be callable, got {type(fn).__name__}")
        self.fn = fn
        self.spec = _check_spec(spec, "CallablePolicy")
        self.name = name if name is not None else getattr(fn, "__qualname__", repr(fn))
        self._rows = _RowByRow(batch_invariant, "CallablePolicy")
        self._rngs = _EnvRngs(f"CallablePolicy({self.name})")

    def __repr__(self) -> str:
        return f"CallablePolicy({self.name})"

    def start(self, num_envs: int, *, eval: bool) -> None:
        """Begin a collection over ``num_envs`` sub-envs."""
        self._rngs.start(num_envs)
        obs_shape, act_shape = self.spec.observation_space.shape, self.spec.action_space.shape
        # The shapes every act() must see; checked once here, then compared cheaply per step.
        self._obs_batch = None if obs_shape is None else (num_envs, *obs_shape)
        self._act_batch = None if act_shape is None else (num_envs, *act_shape)
        self._rows.decide(int(num_envs), self.spec.observation_space, None)

    def reset_envs(self, env_indices: np.ndarray, rngs: Sequence[np.random.Generator]) -> None:
        """Nothing to reset (the generators are checked but not used)."""
        self._rngs.reset(env_indices, rngs)

    def act(self, observations: np.ndarray) -> PolicyStep:
        """``fn(observations)``, checked to have shape ``(B, *action_shape)``."""
        # Fast path (once per vector step): arrays of exactly the expected shapes.
        expected = getattr(self, "_obs_batch", None)
        if (
            expected is None
            or type(observations) is not np.ndarray
            or (observations.shape != expected)
        ):
            batch = self._rngs.check_batch(observations)
            observations = _observations(observations, self.spec, batch, repr(self))
        observations = _read_only(observations)
        if self._rows.row_by_row:
            return PolicyStep(self._act_rows(observations), {})
        actions = self._call(observations)
        if type(actions) is np.ndarray and actions.shape == getattr(self, "_act_batch", None):
            return PolicyStep(actions, {})
        batch = self._rngs.check_batch(observations)
        if isinstance(actions, tuple):
            _refuse_bound_predict(self)
        checked = _check_actions(actions, self.spec, batch, f"policy {self!r}")
        return PolicyStep(checked, {})

    def _call(self, observations: Any) -> Any:
        """``fn(observations)``; an exception it raises gets a note with the batch it got."""
        try:
            return self.fn(observations)
        except Exception as err:
            # A function written for one observation (obs[2], `if obs[0] > 0`) fails on a
            # batch with the user's own IndexError or ValueError, which says nothing of it.
            add_note(
                err,
                f"gymsamp called policy {self!r} with a batch of observations "
                f"{_batch_shapes(observations)}: a callable policy maps a batch of observations "
                "(B, *obs_shape), one row per sub-env, to a batch of actions (B, *action_shape)",
            )
            raise

    def _act_rows(self, observations: Any) -> np.ndarray:
        """``fn`` on each sub-env's observation alone (a batch of one), the actions joined."""
        batch = self._rngs.check_batch(observations)
        owner = f"policy {self!r}"
        rows = [
            _check_actions(self._call(_rows(observations, slice(i, i + 1))), self.spec, 1, owner)
            for i in range(batch)
        ]
        return np.concatenate(rows)


# ----------------------------------------------------------------------------------------------
# as_policy
# ----------------------------------------------------------------------------------------------


def _is_sb3_like(obj: Any) -> bool:
    predict = getattr(obj, "predict", None)
    if not callable(predict):
        return False
    try:
        parameters = inspect.signature(predict).parameters
    except (TypeError, ValueError):
        return True
    return "deterministic" in parameters or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()
    )


def _is_torch_module(obj: Any) -> bool:
    torch = sys.modules.get("torch")  # a module exists only if torch was imported
    return torch is not None and isinstance(obj, torch.nn.Module)


def as_policy(
    obj: Any, spec: EnvSpec, *, deterministic: bool = True, batch_invariant: bool | None = None
) -> Policy:
    """Turn ``obj`` into a :class:`~gymsamp.policies.base.Policy`.

    Checked in this order: an object with callable ``start``, ``reset_envs`` and ``act`` is
    returned unchanged; an object whose ``predict`` takes a ``deterministic`` keyword (SB3 and
    sb3-contrib models, and SB3 policies, which are also torch modules) becomes an
    :class:`SB3Policy`; a ``torch.nn.Module`` a :class:`TorchPolicy`; any other callable a
    :class:`CallablePolicy`.

    Args:
        obj: The policy-like object.
        spec: The :class:`~gymsamp.data.EnvSpec` of the environment.
        deterministic: Passed to SB3's ``predict``; ignored by the other adapters.
        batch_invariant: Whether SB3 models, torch modules and callables run on each
            sub-env alone, so that their rollouts are bit-identical for any number of
            sub-envs: True always row by row; False always batched; None (default) lets
            the adapter choose: torch modules and SB3's own models are tested at each
            ``start`` and run batched only where that is exact, callables and other
            ``predict`` objects run batched (see :class:`TorchPolicy`, :class:`SB3Policy`,
            :class:`CallablePolicy`). A :class:`Policy` is returned as it is.

    Returns:
        The policy.

    Raises:
        TypeError: If ``obj`` is none of the above, or ``spec`` is not an ``EnvSpec``.

    Example:
        >>> import numpy as np
        >>> import gymnasium as gym
        >>> from gymsamp.data import EnvSpec
        >>> spec = EnvSpec.from_env(gym.make("CartPole-v1"))
        >>> policy = as_policy(lambda obs: np.zeros(len(obs), dtype=np.int64), spec)
        >>> policy
        CallablePolicy(<lambda>)
        >>> as_policy(policy, spec) is policy
        True
    """
    _check_spec(spec, "as_policy")
    deterministic = check_bool("as_policy: deterministic", deterministic)
    batch_invariant = _check_batch_invariant(batch_invariant, "as_policy")
    if is_policy(obj):
        return obj
    if _is_sb3_like(obj):
        return SB3Policy(obj, spec, deterministic=deterministic, batch_invariant=batch_invariant)
    if _is_torch_module(obj):
        return TorchPolicy(obj, spec, batch_invariant=batch_invariant)
    check_policy_like(obj, "as_policy: obj")
    return CallablePolicy(obj, spec, batch_invariant=batch_invariant)


def check_policy_like(obj: Any, name: str = "policy") -> None:
    """Raise the TypeError of :func:`as_policy` for an ``obj`` it could never convert (no env
    spec needed: samplers check their ``policy`` before starting workers).

    Example:
        >>> check_policy_like(3)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        TypeError: policy must be a gymsamp Policy (start, reset_envs, act), ..., got int
    """
    # A torch module and an SB3 model are callable too (a model with predict only is not).
    if callable(obj) or is_policy(obj) or _is_sb3_like(obj):
        return
    raise TypeError(
        f"{name} must be a gymsamp Policy (start, reset_envs, act), an object with "
        "SB3's predict(observation, state, episode_start, deterministic), a torch.nn.Module, "
        f"or a callable on numpy observation batches, got {type(obj).__name__}"
    )


def _batch_shapes(observations: Any) -> str:
    """``"of shape (B, ...)"``, or the shapes of a dict / tuple batch's arrays."""
    shapes = _tree_map(lambda leaf: tuple(np.shape(leaf)), observations)
    if isinstance(shapes, tuple) and all(isinstance(size, int) for size in shapes):
        return f"of shape {shapes}"
    return f"of shapes {shapes}"


def _refuse_bound_predict(policy: CallablePolicy) -> None:
    """Refuse an SB3 model's bound ``predict``, which SB3 users pass first: its
    ``(actions, state)`` is no action batch."""
    model = getattr(policy.fn, "__self__", None)
    if getattr(policy.fn, "__name__", None) == "predict" and _is_sb3_like(model):
        raise TypeError(
            f"policy {policy!r} is the predict method of a {type(model).__name__}, which "
            "returns (actions, state): pass the model itself as the policy (gymsamp calls "
            "its predict)"
        )
