"""What the collection loop takes from a policy's ``act``: a PolicyStep whose agent infos keep
the first step's keys and shapes, each leaf of shape ``(B, ...)``. Anything else is an error
naming the policy; it was recorded silently (uninitialized memory where a key was missing, a
shape broadcast or cut into the first step's) or failed deep inside the buffer."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest

from gymsamp.policies import PolicyStep
from gymsamp.sampling import ParallelRolloutSampler, rollout

ACTION = gym.spaces.Box(-2.0, 2.0, (1,), np.float32)


class InfoPolicy:
    """Zero actions, with agent infos ``infos(t, B)`` at its ``t``-th step (from 1)."""

    def __init__(self, infos):
        self.infos = infos

    def __repr__(self):
        return "InfoPolicy()"

    def start(self, num_envs, *, eval):
        self.t = 0

    def reset_envs(self, env_indices, rngs):
        pass

    def act(self, observations):
        self.t += 1
        batch = len(observations)
        return PolicyStep(np.zeros((batch, 1), np.float32), self.infos(self.t, batch))


def sample(policy, vectorization="sync"):
    with ParallelRolloutSampler(
        "Pendulum-v1", policy, 2, min_rollouts=2, seed=0, max_steps=6,
        vectorization=vectorization, show_progress_bar=False,
    ) as sampler:  # fmt: skip
        return sampler.sample()


def test_consistent_agent_infos_are_recorded_per_step_and_sub_env():
    policy = InfoPolicy(
        lambda t, b: {"value": np.arange(b) + 10.0 * t, "nested": {"k": np.ones((b, 2))}}
    )
    for vectorization in ("sync", "async"):
        rollouts = sample(policy, vectorization)
        for env, ro in enumerate(rollouts):
            np.testing.assert_array_equal(ro.agent_infos["value"], env + 10.0 * np.arange(1, 7))
            assert ro.agent_infos["nested"]["k"].shape == (6, 2)


@pytest.mark.parametrize(
    ("infos", "message"),
    [
        (  # a key only on some steps: the others held whatever the memory did
            lambda t, b: {"value": np.full(b, 7.0)} if t % 2 else {},
            "policy InfoPolicy() must return the same agent_infos at every step (the keys, "
            "shapes and dtype kinds of its first step: ['value'] of shapes [(2,)]), got [] of "
            "shapes []",
        ),
        (  # another key set
            lambda t, b: {"a": np.zeros(b)} if t == 1 else {"b": np.zeros(b)},
            "got ['b'] of shapes [(2,)]",
        ),
        (  # a shape that changes: it was broadcast into the first step's column
            lambda t, b: {"value": np.zeros((b, 2 if t % 2 else 1))},
            "first step: ['value'] of shapes [(2, 2)]), got ['value'] of shapes [(2, 1)]",
        ),
        (  # floats after ints: they were truncated into the first step's int column
            lambda t, b: {"value": np.zeros(b, np.int64) if t == 1 else np.full(b, 0.5)},
            "must return the same agent_infos at every step",
        ),
        (  # one row too many: the extra row was dropped silently
            lambda t, b: {"value": np.arange(b + 1.0)},
            "policy InfoPolicy() must return agent_infos whose values have shape (B, ...) with "
            "B=2 sub-envs, got 'value' of shape (3,)",
        ),
        (  # a scalar: an IndexError inside the buffer
            lambda t, b: {"value": 3.0},
            "must return agent_infos whose values have shape (B, ...) with B=2 sub-envs, got "
            "'value' of shape ()",
        ),
        (
            lambda t, b: {"outer": {"inner": np.zeros(b + 1)}},
            "got 'outer.inner' of shape (3,)",
        ),
    ],
)
def test_inconsistent_agent_infos_are_refused_naming_the_policy(infos, message):
    for vectorization in ("sync", "async"):
        with pytest.raises(ValueError, match="agent_infos") as info:
            sample(InfoPolicy(infos), vectorization)
        assert message in str(info.value)


@pytest.mark.parametrize("at_step", [1, 3])
def test_agent_infos_tracing_gradients_are_refused_naming_the_policy_and_key(at_step):
    # A custom policy returning log-probabilities that still trace gradients (to train on them
    # later) met torch's own "Can't call numpy() on Tensor that requires grad", naming neither.
    torch = pytest.importorskip("torch")
    weight = torch.ones(1, requires_grad=True)

    def infos(t, b):
        logp = torch.zeros(b)
        return {"dist": {"logp": logp * weight if t == at_step else logp.detach()}}

    message = (
        "policy InfoPolicy() must return agent_infos of numpy arrays (or CPU tensors that do not "
        "require grad), got 'dist.logp': Can't call numpy() on Tensor that requires grad"
    )
    for vectorization in ("sync", "async", "batched"):
        with pytest.raises(ValueError, match="agent_infos") as info:
            sample(InfoPolicy(infos), vectorization)
        assert str(info.value).startswith(message)
    with pytest.raises(ValueError, match="agent_infos") as info:
        rollout("Pendulum-v1", InfoPolicy(infos), seed=0, max_steps=6)
    assert str(info.value).startswith(message)


def test_torch_agent_infos_are_recorded_as_numpy_without_warnings():
    # The pipelined modes copied each step's infos with np.copy, which warns (a
    # DeprecationWarning per step) for torch tensors: their __array__ takes no copy argument.
    torch = pytest.importorskip("torch")
    infos = lambda t, b: {"logp": torch.full((b,), float(t))}  # noqa: E731
    for vectorization in ("sync", "async", "batched"):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            rollouts = sample(InfoPolicy(infos), vectorization)
        for ro in rollouts:
            logp = ro.get_data_values("agent_infos")["logp"]
            assert type(logp) is np.ndarray
            assert logp.tolist() == list(range(1, 7))


def test_the_same_kind_in_another_precision_is_booked_alike():
    # float32 at one step and float64 at the next is no error (booked in the first's dtype).
    policy = InfoPolicy(lambda t, b: {"v": np.full(b, t, np.float32 if t % 2 else np.float64)})
    np.testing.assert_array_equal(sample(policy)[0].agent_infos["v"], np.arange(1, 7))


class ArrayActPolicy(InfoPolicy):
    def act(self, observations):
        return np.zeros((len(observations), 1), np.float32)


class PairActPolicy(InfoPolicy):
    def act(self, observations):
        return np.full((len(observations), 1), 0.5, np.float32), {}


@pytest.mark.parametrize(("policy", "got"), [(ArrayActPolicy, "ndarray"), (PairActPolicy, "tuple")])
def test_act_must_return_a_policy_step(policy, got):
    # It was an AttributeError ("'numpy.ndarray' object has no attribute 'actions'").
    for vectorization in ("sync", "async"):
        with pytest.raises(TypeError) as info:
            sample(policy(None), vectorization)
        assert str(info.value) == (
            f"policy InfoPolicy()'s act() must return a PolicyStep(actions, agent_infos), got "
            f"{got} (a gymsamp Policy returns both; as_policy() wraps a function returning "
            "actions only)"
        )


def test_action_errors_of_the_loop_name_the_policy():
    class WrongShape(InfoPolicy):
        def act(self, observations):
            return PolicyStep(np.zeros((len(observations), 2), np.float32), {})

    with pytest.raises(ValueError, match="shape") as info:
        rollout("Pendulum-v1", WrongShape(None), seed=0, max_steps=3)
    assert str(info.value) == (
        "policy InfoPolicy() must return actions of shape (1, 1) for 1 sub-envs, got shape (1, 2)"
    )
