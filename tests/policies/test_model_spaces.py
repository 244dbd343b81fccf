"""A model made for other spaces than the env's is refused when the policy is built, with
both spaces named (it failed mid-run inside the model's ``predict``, or acted on the wrong
env silently)."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium.spaces import Box, Dict, Discrete, MultiBinary, MultiDiscrete, Sequence, Tuple

from gymsamp.data import EnvSpec
from gymsamp.policies import SB3Policy, as_policy
from gymsamp.policies._model_spaces import space_mismatch


class Model:
    """A duck-typed SB3 model with the spaces it was made for."""

    def __init__(self, observation_space, action_space):
        self.observation_space = observation_space
        self.action_space = action_space
        self.action_space.seed(0)  # predictions the same on every run

    def predict(self, observation, state=None, episode_start=None, deterministic=False):
        batch = len(observation)
        return np.stack([self.action_space.sample() for _ in range(batch)]), None


VECTOR = Box(-1.0, 1.0, (4,), np.float32)
IMAGE = Box(0, 255, (32, 48, 3), np.uint8)  # channel-last, as Gymnasium envs give images


@pytest.mark.parametrize(
    ("model_spaces", "env_spaces"),
    [
        ((VECTOR, Discrete(2)), (VECTOR, Discrete(2))),
        # Bounds and dtypes are not compared: a variant of the env with other limits.
        ((Box(-5.0, 5.0, (4,), np.float64), Discrete(2)), (VECTOR, Discrete(2))),
        ((VECTOR, Box(-2.0, 2.0, (1,))), (VECTOR, Box(-1.0, 1.0, (1,)))),
        # SB3 trains image policies channel-first on channel-last envs.
        ((Box(0, 255, (3, 32, 48), np.uint8), Discrete(3)), (IMAGE, Discrete(3))),
        ((IMAGE, Discrete(3)), (IMAGE, Discrete(3))),
        ((VECTOR, MultiDiscrete([3, 2])), (VECTOR, MultiDiscrete([3, 2]))),
        ((VECTOR, MultiBinary(3)), (VECTOR, MultiBinary(3))),
        (
            (Dict(a=VECTOR, b=Discrete(2)), Discrete(2)),
            (Dict(b=Discrete(2), a=VECTOR), Discrete(2)),
        ),
        ((Tuple([VECTOR, Discrete(2)]), Discrete(2)), (Tuple([VECTOR, Discrete(2)]), Discrete(2))),
        # Other kinds of space are compared as Gymnasium compares them.
        ((Sequence(VECTOR), Discrete(2)), (Sequence(VECTOR), Discrete(2))),
    ],
)
def test_fitting_spaces_are_accepted(model_spaces, env_spaces):
    spec = EnvSpec(*env_spaces)
    assert space_mismatch(Model(*model_spaces), spec) is None
    assert SB3Policy(Model(*model_spaces), spec).model.observation_space is model_spaces[0]


@pytest.mark.parametrize(
    ("model_spaces", "env_spaces", "what", "env_text", "model_text"),
    [
        (
            (Box(-1.0, 1.0, (3,), np.float32), Discrete(2)),
            (VECTOR, Discrete(2)),
            "observations",
            "Box(shape=(4,), dtype=float32)",
            "Box(shape=(3,), dtype=float32)",
        ),
        ((VECTOR, Discrete(3)), (VECTOR, Discrete(2)), "actions", "Discrete(2)", "Discrete(3)"),
        (
            (VECTOR, Discrete(2, start=-1)),
            (VECTOR, Discrete(2)),
            "actions",
            "Discrete(2)",
            "Discrete(2, start=-1)",
        ),
        (
            (VECTOR, Box(-1.0, 1.0, (1,), np.float32)),
            (VECTOR, Discrete(2)),
            "actions",
            "Discrete(2)",
            "Box(shape=(1,), dtype=float32)",
        ),
        (
            (VECTOR, MultiDiscrete([3, 3])),
            (VECTOR, MultiDiscrete([3, 2])),
            "actions",
            "MultiDiscrete([3 2])",
            "MultiDiscrete([3 3])",
        ),
        (
            (VECTOR, MultiBinary(4)),
            (VECTOR, MultiBinary(3)),
            "actions",
            "MultiBinary(3)",
            "MultiBinary(4)",
        ),
        (
            (Dict(a=VECTOR), Discrete(2)),
            (Dict(a=VECTOR, b=Discrete(2)), Discrete(2)),
            "observations",
            "Dict('a': Box(shape=(4,), dtype=float32), 'b': Discrete(2))",
            "Dict('a': Box(shape=(4,), dtype=float32))",
        ),
        (
            # Only what SB3 takes for an image (uint8 in [0, 255]) is transposed: a float
            # (4, 2, 3) Box was accepted for a (2, 3, 4) env and failed inside predict.
            (Box(-1.0, 1.0, (4, 2, 3), np.float32), Discrete(2)),
            (Box(-1.0, 1.0, (2, 3, 4), np.float32), Discrete(2)),
            "observations",
            "Box(shape=(2, 3, 4), dtype=float32)",
            "Box(shape=(4, 2, 3), dtype=float32)",
        ),
        (
            # A channel-first action is not an image: only observations are transposed.
            (VECTOR, Box(0.0, 1.0, (3, 32, 48))),
            (VECTOR, Box(0.0, 1.0, (32, 48, 3))),
            "actions",
            "Box(shape=(32, 48, 3), dtype=float32)",
            "Box(shape=(3, 32, 48), dtype=float32)",
        ),
        (
            (Sequence(Box(-1.0, 1.0, (3,), np.float32)), Discrete(2)),
            (Sequence(VECTOR), Discrete(2)),
            "observations",
            "Sequence(Box(-1.0, 1.0, (4,), float32), stack=False)",
            "Sequence(Box(-1.0, 1.0, (3,), float32), stack=False)",
        ),
    ],
)
def test_a_model_for_other_spaces_is_refused_naming_both(
    model_spaces, env_spaces, what, env_text, model_text
):
    spec = EnvSpec(*env_spaces)
    model = Model(*model_spaces)
    message = (
        f"made for the env's {what} {env_text}, got a model for {what} "
        f"{model_text} (trained on another env?)"
    )
    assert space_mismatch(model, spec).rule() == message
    with pytest.raises(ValueError, match="trained on another env") as info:
        SB3Policy(model, spec)
    assert str(info.value) == f"SB3Policy: model must be {message}"
    with pytest.raises(ValueError, match="trained on another env"):
        as_policy(model, spec)  # as_policy builds an SB3Policy for anything with predict


def test_a_model_without_spaces_is_not_checked():
    class Bare:
        def predict(self, observation, state=None, episode_start=None, deterministic=False):
            return np.zeros(len(observation), np.int64), None

    spec = EnvSpec(VECTOR, Discrete(2))
    assert space_mismatch(Bare(), spec) is None
    policy = SB3Policy(Bare(), spec)
    policy.start(2, eval=True)
    assert policy.act(np.zeros((2, 4), np.float32)).actions.tolist() == [0, 0]


def test_boxes_inside_dicts_and_tuples_are_named_by_shape_not_bounds():
    wide = Box(
        np.full(50, -1.0), np.full(50, 1.0), dtype=np.float64
    )  # numpy would print 100 bounds
    spec = EnvSpec(Tuple([Dict(x=wide), Discrete(2)]), Discrete(2))
    model = Model(Tuple([Dict(x=VECTOR), Discrete(2)]), Discrete(2))
    assert space_mismatch(model, spec) == (
        "observations",
        "Tuple(Dict('x': Box(shape=(50,), dtype=float64)), Discrete(2))",
        "Tuple(Dict('x': Box(shape=(4,), dtype=float32)), Discrete(2))",
    )
