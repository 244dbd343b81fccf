"""Copies of a user's env instance, one per sub-env: :func:`instance_payload` and
:func:`copy_instance`.

cloudpickle alone does not copy Gymnasium's ``EzPickle`` envs (every MuJoCo env): they pickle
their constructor arguments and are built anew, so whatever the user changed on the instance
afterwards (``env.unwrapped.model.body_mass[2] = 10.0``, a friction, the time step) was lost,
and a sampler ran another simulation than ``rollout()`` on the same instance. The instance is
therefore pickled as it is (its attributes, model and data included), and only where that
fails (an open viewer, a Box2D world, a handle to native state) from its constructor
arguments, as before.
"""

from __future__ import annotations

import io
from typing import Any

import cloudpickle
import gymnasium as gym
from gymnasium.utils.ezpickle import EzPickle

__all__ = ["copy_instance", "instance_payload"]


def _bare(cls: type[Any]) -> Any:
    return object.__new__(cls)


def _set_attributes(obj: Any, state: dict[str, Any]) -> Any:
    obj.__dict__.update(state)
    return obj


class _AsItIsPickler(cloudpickle.Pickler):
    """Pickles ``EzPickle`` objects by their attributes, not their constructor arguments;
    :attr:`found` says whether it met any."""

    found = False

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, EzPickle) and not isinstance(obj, type):
            self.found = True
            # (build, args, state, list items, dict items, state setter): EzPickle's own
            # __setstate__ would run __init__ again.
            return _bare, (type(obj),), dict(obj.__dict__), None, None, _set_attributes
        return super().reducer_override(obj)


def instance_payload(env: gym.Env[Any, Any]) -> bytes:
    """``env`` pickled with cloudpickle, as it is where it can be (see the module docstring).

    Example:
        >>> import gymnasium as gym
        >>> env = gym.make("InvertedPendulum-v5")
        >>> env.unwrapped.model.body_mass[2] = 10.0  # a heavier pole
        >>> float(copy_instance(instance_payload(env)).unwrapped.model.body_mass[2])
        10.0
    """
    buffer = io.BytesIO()
    pickler = _AsItIsPickler(buffer)
    try:
        pickler.dump(env)
        if pickler.found:  # its state pickled: make sure a copy builds from it
            copy_instance(buffer.getvalue()).close()
    except Exception:  # its state does not copy: rebuilt from constructor arguments
        return cloudpickle.dumps(env)
    return buffer.getvalue()


def copy_instance(payload: bytes) -> gym.Env[Any, Any]:
    """A new copy of the env pickled by :func:`instance_payload`."""
    env: gym.Env[Any, Any] = cloudpickle.loads(payload)
    return env
