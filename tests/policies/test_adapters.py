"""Tests of as_policy and its adapters: callables, torch modules, SB3-style models."""

from __future__ import annotations

import copy
import subprocess
import sys
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces

from gymsamp.data import EnvSpec
from gymsamp.policies import (
    CallablePolicy,
    LinearPolicy,
    ParametricPolicy,
    Policy,
    RandomPolicy,
    SB3Policy,
    TorchPolicy,
    as_policy,
)
from gymsamp.sampling import ParallelRolloutSampler, rollout

BOX_SPEC = EnvSpec(spaces.Box(-5.0, 5.0, (3,)), spaces.Box(-1.0, 1.0, (2,)))
CARTPOLE_SPEC = EnvSpec(spaces.Box(-np.inf, np.inf, (4,), dtype=np.float32), spaces.Discrete(2))


def idx(*indices: int) -> np.ndarray:
    return np.array(indices, dtype=np.int64)


def rngs(*seeds: int) -> list[np.random.Generator]:
    return [np.random.default_rng(s) for s in seeds]


def test_import_loads_neither_torch_nor_sb3() -> None:
    code = (
        "import sys, gymsamp.policies\n"
        "print(sorted({'torch', 'stable_baselines3'} & set(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# ----------------------------------------------------------------------------------------------
# as_policy and CallablePolicy
# ----------------------------------------------------------------------------------------------


def test_as_policy_dispatch() -> None:
    policy = RandomPolicy(BOX_SPEC.action_space)
    assert as_policy(policy, BOX_SPEC) is policy
    assert isinstance(as_policy(lambda o: o[:, :2], BOX_SPEC), CallablePolicy)
    assert isinstance(as_policy(torch.nn.Linear(3, 2), BOX_SPEC), TorchPolicy)
    assert isinstance(as_policy(FakeRecurrentModel(), BOX_SPEC), SB3Policy)
    with pytest.raises(TypeError, match=r"obj must be a gymsamp Policy .* got int"):
        as_policy(42, BOX_SPEC)
    with pytest.raises(TypeError, match="spec must be a gymsamp.data.EnvSpec, got tuple"):
        as_policy(policy, (BOX_SPEC.observation_space, BOX_SPEC.action_space))  # type: ignore[arg-type]


def test_callable_policy_passes_the_batch() -> None:
    policy = as_policy(lambda o: 2.0 * o[:, :2], BOX_SPEC)
    assert isinstance(policy, Policy)
    policy.start(2, eval=True)
    o = np.arange(6.0).reshape(2, 3)
    step = policy.act(o)
    np.testing.assert_array_equal(step.actions, [[0.0, 2.0], [6.0, 8.0]])
    assert step.agent_infos == {}


def test_callable_policy_takes_callables_and_checks_actions_of_other_types() -> None:
    with pytest.raises(TypeError, match="^CallablePolicy: fn must be callable, got int$"):
        CallablePolicy(5, BOX_SPEC)  # type: ignore[arg-type]
    # A list is no array of the batch's shape: checked and converted, not passed on.
    policy = _start(CallablePolicy(lambda obs: [[0.5, -0.5]] * len(obs), BOX_SPEC), 2)
    actions = policy.act(np.zeros((2, 3), np.float32)).actions
    assert type(actions) is np.ndarray
    assert actions.tolist() == [[0.5, -0.5], [0.5, -0.5]]


def test_a_predict_whose_signature_cannot_be_read_counts_as_sb3_like() -> None:
    class Opaque:
        predict = staticmethod(max)  # a builtin: inspect.signature raises ValueError

    assert isinstance(as_policy(Opaque(), BOX_SPEC), SB3Policy)
    with pytest.raises(
        TypeError, match="^SB3Policy: model must have a predict\\(\\) method, got 3$"
    ):
        SB3Policy(3, BOX_SPEC)


def test_callable_policy_shape_errors_name_policy_and_shapes() -> None:
    def bad_policy(o: np.ndarray) -> np.ndarray:
        return o  # (B, 3) instead of (B, 2)

    policy = as_policy(bad_policy, BOX_SPEC)
    policy.start(2, eval=True)
    with pytest.raises(
        ValueError, match=r"bad_policy.* returned actions of shape \(2, 3\) but must return \(2, 2"
    ):
        policy.act(np.zeros((2, 3)))
    good = CallablePolicy(lambda o: o[:, :2], BOX_SPEC, name="mine")
    good.start(2, eval=True)
    with pytest.raises(
        ValueError,
        match=r"mine.*observations has shape \(2, 4\) but must have "
        r"\(2, 3\)",
    ):
        good.act(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="batch dimension 1 but must have 2"):
        good.act(np.zeros((1, 3)))


# ----------------------------------------------------------------------------------------------
# TorchPolicy
# ----------------------------------------------------------------------------------------------


def make_mlp() -> torch.nn.Sequential:
    gen = torch.Generator().manual_seed(0)
    mlp = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.Tanh(), torch.nn.Linear(5, 2))
    with torch.no_grad():
        for p in mlp.parameters():
            p.copy_(torch.randn(p.shape, generator=gen))
    return mlp


@pytest.mark.parametrize("batch_invariant", [None, False])
def test_torch_actions_equal_forward_on_float32(batch_invariant: bool | None) -> None:
    linear = torch.nn.Linear(3, 2)
    weights = np.random.default_rng(1).normal(size=8).astype(np.float32)
    torch.nn.utils.vector_to_parameters(torch.as_tensor(weights), linear.parameters())
    policy = as_policy(linear, BOX_SPEC, batch_invariant=batch_invariant)
    policy.start(4, eval=True)
    o = np.random.default_rng(0).normal(size=(4, 3))  # float64 in, float32 to the module
    step = policy.act(o)
    x = torch.as_tensor(o, dtype=torch.float32)
    # By default a module whose batched products round by batch size runs row by row.
    assert policy.row_by_row is (batch_invariant is None)  # type: ignore[attr-defined]
    expected = (
        torch.cat([linear(x[i : i + 1]) for i in range(4)]) if policy.row_by_row else linear(x)
    )  # type: ignore[attr-defined]
    assert isinstance(step.actions, np.ndarray)
    assert step.actions.dtype == np.float32
    np.testing.assert_array_equal(step.actions, expected.detach().numpy())
    assert step.agent_infos == {}


def test_torch_eval_flag_switches_training_mode() -> None:
    mlp = make_mlp()
    policy = TorchPolicy(mlp, BOX_SPEC)
    policy.start(1, eval=True)
    assert not mlp.training
    assert not mlp[0].training
    policy.start(1, eval=False)
    assert mlp.training
    assert mlp[0].training


def test_torch_param_values_round_trip() -> None:
    mlp = make_mlp()
    policy = TorchPolicy(mlp, BOX_SPEC)
    assert isinstance(policy, ParametricPolicy)
    assert policy.num_params == 3 * 5 + 5 + 5 * 2 + 2
    expected = torch.nn.utils.parameters_to_vector(mlp.parameters()).detach().numpy()
    np.testing.assert_array_equal(policy.param_values, expected)
    new = np.arange(policy.num_params, dtype=np.float64) / 10
    policy.param_values = new
    np.testing.assert_allclose(policy.param_values, new, rtol=1e-6)
    first = mlp[0]
    assert isinstance(first, torch.nn.Linear)
    np.testing.assert_allclose(first.weight.detach().numpy().ravel(), new[:15], rtol=1e-6)
    with pytest.raises(
        ValueError,
        match=r"param_values must be a flat vector of length "
        r"num_params=32, got shape \(31,\)",
    ):
        policy.param_values = np.zeros(31)


@pytest.mark.parametrize(
    ("values", "error", "message"),
    [
        ([0.0, np.nan, 1.0, 2.0], ValueError, r"param_values must be finite, got .*nan"),
        ([0.0, np.inf, 1.0, 2.0], ValueError, r"param_values must be finite, got .*inf"),
        (np.zeros(4, dtype=complex), TypeError, r"param_values must hold real numbers"),
        ("abcd", TypeError, r"param_values must hold real numbers, got dtype <U4"),
    ],
)
def test_torch_param_values_refuse_what_set_env_params_refuses(
    values: Any, error: type[Exception], message: str
) -> None:
    # Found by tests/policies/test_properties.py's probes: the setter took NaN / inf (the
    # module then acted NaN, refused only steps later as non-finite actions) and a complex
    # vector (its imaginary part dropped with a warning), which set_env_params and
    # LinearPolicy.param_values refuse; a string met "got shape ()".
    policy = TorchPolicy(torch.nn.Linear(3, 1), BOX_SPEC)
    before = policy.param_values
    with pytest.raises(error, match=r"^TorchPolicy: " + message):
        policy.param_values = values
    assert policy.param_values.tobytes() == before.tobytes()


def test_torch_param_values_of_a_bfloat16_module_read_as_float32_and_round_trip() -> None:
    # The getter raised torch's bare "Got unsupported ScalarType BFloat16" (numpy has no
    # bfloat16); like the module's actions, the vector now reads as float32, exactly.
    module = torch.nn.Linear(3, 1).to(torch.bfloat16)
    policy = TorchPolicy(module, BOX_SPEC)
    expected = torch.nn.utils.parameters_to_vector(module.parameters()).detach().float().numpy()
    values = policy.param_values
    assert values.dtype == np.float32
    assert values.tobytes() == expected.tobytes()
    policy.param_values = values * 2  # doubling is exact in bfloat16
    assert policy.param_values.tobytes() == (expected * 2).tobytes()


@pytest.mark.parametrize("batch_invariant", [None, False])
def test_torch_group_mode_runs_per_env_params_of_a_bfloat16_module(
    batch_invariant: bool | None,
) -> None:
    # per_env_mode="group" keyed each parameter set by its numpy bytes, which a bfloat16
    # vector has none of: the first act() failed as "the module must accept observations ...:
    # Got unsupported ScalarType BFloat16".
    module = torch.nn.Linear(3, 2).to(torch.bfloat16)
    policy = TorchPolicy(module, BOX_SPEC, per_env_mode="group", batch_invariant=batch_invariant)
    policy.start(3, eval=True)
    policy.reset_envs(idx(0, 1, 2), [np.random.default_rng(i) for i in range(3)])
    policy.set_env_params(idx(1, 2), np.stack([np.ones(8), np.full(8, 0.5)]))
    obs = np.ones((3, 3), dtype=np.float32)
    actions = policy.act(obs).actions
    with torch.no_grad():
        default = module(torch.ones(1, 3, dtype=torch.bfloat16)).float().numpy()[0]
    np.testing.assert_array_equal(actions, [default, [4.0, 4.0], [2.0, 2.0]])


class _ThreeRows(torch.nn.Module):
    """Returns 3 rows of actions whatever the batch (a wrong shape)."""

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return torch.zeros(3, 2)


class _ThreeRowsModel:
    def predict(
        self,
        observation: Any,
        state: Any = None,
        episode_start: Any = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, None]:
        return np.zeros((3, 2), dtype=np.float32), None


@pytest.mark.parametrize(
    ("obj", "batch_invariant", "named"),
    [
        (_ThreeRows(), True, r"module TorchPolicy\(_ThreeRows\)"),
        (_ThreeRows(), None, r"module TorchPolicy\(_ThreeRows\)"),
        (_ThreeRowsModel(), True, r"model SB3Policy\(_ThreeRowsModel"),
    ],
)
def test_wrong_action_shape_run_row_by_row_names_the_shape_the_model_returned(
    obj: Any, batch_invariant: bool | None, named: str
) -> None:
    # Found by tests/policies/test_properties.py: run on each sub-env alone, the adapters
    # joined the rows before checking them and reported the join's shape, (6, 2) for 2
    # sub-envs, a shape the model never returned.
    policy = as_policy(obj, BOX_SPEC, batch_invariant=batch_invariant)
    policy.start(2, eval=True)
    policy.reset_envs(idx(0, 1), [np.random.default_rng(i) for i in range(2)])
    with pytest.raises(ValueError, match=named) as info:
        policy.act(np.zeros((2, 3), dtype=np.float32))
    message = str(info.value)
    if getattr(policy, "row_by_row", False):
        assert "returned actions of shape (3, 2)" in message
        assert "(1, 2)" in message
        assert "one sub-env at a time" in message
    else:  # the batch-invariance test could not run it row by row: batched, as it is
        assert "returned actions of shape (3, 2) but must return (2, 2)" in message
    assert "(6, 2)" not in message


def test_parameters_may_be_tensors_that_require_grad() -> None:
    # e.g. an optimizer's parameter vector, handed over without detaching it first
    values = torch.arange(8, dtype=torch.float64, requires_grad=True)
    linear = LinearPolicy((3, 2))
    linear.param_values = values
    np.testing.assert_array_equal(linear.param_values, np.arange(8.0))
    module = TorchPolicy(torch.nn.Linear(3, 2), BOX_SPEC)
    module.param_values = values
    np.testing.assert_array_equal(module.param_values, np.arange(8.0))
    for policy in (linear, module):
        policy.start(2, eval=True)
        policy.set_env_params(idx(1), torch.zeros(1, 8, requires_grad=True))
        actions = policy.act(np.ones((2, 3), dtype=np.float32)).actions
        np.testing.assert_allclose(actions, [[3.0 + 6.0, 12.0 + 7.0], [0.0, 0.0]])


@pytest.mark.parametrize("mode", ["vmap", "group"])
def test_torch_per_env_params_equal_module_copies(mode: str) -> None:
    mlp = make_mlp()
    # Batched (the per-env modes batch the sub-envs); row by row: exact, below.
    policy = TorchPolicy(mlp, BOX_SPEC, per_env_mode=mode, batch_invariant=False)  # type: ignore[arg-type]
    policy.start(4, eval=True)
    rng = np.random.default_rng(1)
    params = rng.normal(size=(3, policy.num_params)).astype(np.float32)
    params[2] = params[0]  # two sub-envs sharing one parameter set
    policy.set_env_params(idx(0, 2, 3), params)
    o = rng.normal(size=(4, 3)).astype(np.float32)
    actions = policy.act(o).actions
    for env, p in zip((0, 2, 3), params, strict=True):
        module = copy.deepcopy(mlp)
        torch.nn.utils.vector_to_parameters(torch.as_tensor(p), module.parameters())
        expected = module(torch.as_tensor(o[env : env + 1])).detach().numpy()[0]
        np.testing.assert_allclose(actions[env], expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        actions[1], mlp(torch.as_tensor(o[1:2])).detach().numpy()[0], rtol=1e-5, atol=1e-6
    )
    policy.clear_env_params()
    np.testing.assert_array_equal(policy.act(o).actions, mlp(torch.as_tensor(o)).detach().numpy())
    with pytest.raises(ValueError, match=r"params has shape \(1, 5\) but must have \(1, 32\)"):
        policy.set_env_params(idx(0), np.zeros((1, 5)))


def test_torch_group_mode_puts_each_groups_outputs_back_in_sub_env_order() -> None:
    # Groups in call order: default (sub-env 2), then sub-env 0's set, then sub-env 1's; a
    # cyclic order, so that an output permutation equal to its own inverse cannot pass.
    linear = torch.nn.Linear(1, 1)
    spec = EnvSpec(spaces.Box(-10.0, 10.0, (1,)), spaces.Box(-100.0, 100.0, (1,)))
    policy = TorchPolicy(linear, spec, per_env_mode="group", batch_invariant=False)
    policy.param_values = np.array([1.0, 0.0])  # weight, bias: a = obs
    policy.start(3, eval=True)
    policy.set_env_params(idx(0, 1), np.array([[2.0, 0.0], [3.0, 0.0]]))  # a = 2 obs, 3 obs
    actions = policy.act(np.ones((3, 1), dtype=np.float32)).actions
    np.testing.assert_array_equal(actions, [[2.0], [3.0], [1.0]])


def test_torch_per_env_params_row_by_row_are_the_module_copies_exactly() -> None:
    mlp = make_mlp()
    policy = TorchPolicy(mlp, BOX_SPEC)
    policy.start(4, eval=True)
    assert policy.row_by_row is True  # the MLP's batched products round by batch size
    rng = np.random.default_rng(1)
    params = rng.normal(size=(2, policy.num_params)).astype(np.float32)
    policy.set_env_params(idx(0, 3), params)
    o = rng.normal(size=(4, 3)).astype(np.float32)
    actions = policy.act(o).actions
    for env, p in ((0, params[0]), (1, None), (2, None), (3, params[1])):
        module = copy.deepcopy(mlp)
        if p is not None:
            torch.nn.utils.vector_to_parameters(torch.as_tensor(p), module.parameters())
        expected = module(torch.as_tensor(o[env : env + 1])).detach().numpy()
        np.testing.assert_array_equal(actions[env : env + 1], expected)


def test_torch_module_output_shape_is_checked() -> None:
    policy = TorchPolicy(torch.nn.Linear(3, 4), BOX_SPEC)
    policy.start(2, eval=True)
    with pytest.raises(
        ValueError,
        match=r"Linear.* returned actions of shape \(2, 4\) but must "
        r"return \(2, 2\)",
    ):
        policy.act(np.zeros((2, 3)))
    with pytest.raises(TypeError, match="module must be a torch.nn.Module"):
        TorchPolicy(lambda o: o, BOX_SPEC)  # type: ignore[arg-type]


class _FirstTwo(torch.nn.Module):
    """Actions = the first two observation entries: a view of the input tensor."""

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return obs[:, :2]


def test_torch_actions_are_a_copy_not_a_view_of_the_observations() -> None:
    # torch.as_tensor shares the memory of float32 observations, and a slicing module returns
    # a view of it: the actions must not change when the caller reuses its observation buffer
    # (vector envs write the next step's observations into the same array).
    policy = TorchPolicy(_FirstTwo(), BOX_SPEC, batch_invariant=False)
    policy.start(2, eval=True)
    o = np.arange(6, dtype=np.float32).reshape(2, 3)
    actions = policy.act(o).actions
    o[:] = -1.0
    np.testing.assert_array_equal(actions, [[0.0, 1.0], [3.0, 4.0]])


def test_torch_stochastic_module_is_seeded_from_env_rngs_only() -> None:
    drop = torch.nn.Sequential(torch.nn.Dropout(0.5), torch.nn.Linear(3, 2))

    def run() -> np.ndarray:
        policy = TorchPolicy(drop, BOX_SPEC)
        policy.start(3, eval=False)  # dropout active: draws from torch's global generator
        policy.reset_envs(idx(0, 1, 2), rngs(0, 1, 2))
        return np.stack([policy.act(np.ones((3, 3))).actions for _ in range(4)])

    before = torch.get_rng_state()
    first = run()
    assert torch.equal(torch.get_rng_state(), before)
    torch.manual_seed(12345)  # the global state must not matter
    np.testing.assert_array_equal(run(), first)
    assert len({a.tobytes() for a in first}) > 1  # masks differ between steps


class TinyRNN(torch.nn.Module):
    """h' = tanh(W x + U h + 1), action = V h'; init_hidden = 0.5."""

    is_recurrent = True

    def __init__(self) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(3)
        self.W = torch.nn.Parameter(torch.randn(4, 3, generator=gen))
        self.U = torch.nn.Parameter(torch.randn(4, 4, generator=gen))
        self.V = torch.nn.Parameter(torch.randn(2, 4, generator=gen))

    def init_hidden(self, batch_size: int) -> torch.Tensor:
        return torch.full((batch_size, 4), 0.5)

    def forward(self, obs: torch.Tensor, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        new = torch.tanh(obs @ self.W.T + hidden @ self.U.T + 1.0)
        return new @ self.V.T, new


def hand_rnn(module: TinyRNN, observations: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One episode by hand: the hidden states before each step and the actions."""
    W, U, V = (p.detach().numpy().astype(np.float64) for p in (module.W, module.U, module.V))
    h = np.full(4, 0.5)
    hiddens, actions = [], []
    for o in observations:
        hiddens.append(h)
        h = np.tanh(W @ o + U @ h + 1.0)
        actions.append(V @ h)
    return np.array(hiddens), np.array(actions)


@pytest.mark.parametrize("per_env", [None, "vmap", "group"])
def test_recurrent_torch_hidden_reset_and_recorded_per_env(per_env: str | None) -> None:
    rnn = TinyRNN()
    policy = TorchPolicy(rnn, BOX_SPEC, per_env_mode=per_env or "vmap")  # type: ignore[arg-type]
    policy.start(2, eval=True)
    if per_env:  # per-env params, with env 1 running a scaled copy
        policy.set_env_params(idx(1), policy.param_values[None] * 0.5)
    rng = np.random.default_rng(5)
    o = rng.normal(size=(5, 2, 3)).astype(np.float32)
    policy.reset_envs(idx(0, 1), rngs(0, 1))
    hiddens, actions = [], []
    for t in range(5):
        if t == 2:  # a new episode starts in sub-env 1
            policy.reset_envs(idx(1), rngs(2))
        step = policy.act(o[t])
        hiddens.append(step.agent_infos["hidden_states"])
        actions.append(step.actions)
    hiddens_arr, actions_arr = np.stack(hiddens), np.stack(actions)
    assert hiddens_arr.shape == (5, 2, 4)
    ref1 = copy.deepcopy(rnn)
    if per_env:
        with torch.no_grad():
            for p in ref1.parameters():
                p.mul_(0.5)
    for env, module, segments in ((0, rnn, [(0, 5)]), (1, ref1, [(0, 2), (2, 5)])):
        for start, stop in segments:
            h_ref, a_ref = hand_rnn(module, o[start:stop, env].astype(np.float64))
            np.testing.assert_allclose(hiddens_arr[start:stop, env], h_ref, rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(actions_arr[start:stop, env], a_ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(hiddens_arr[2, 1], np.full(4, 0.5, np.float32))


def test_recurrent_torch_requires_init_hidden() -> None:
    class NoInit(torch.nn.Module):
        is_recurrent = True

    with pytest.raises(TypeError, match="must define init_hidden"):
        TorchPolicy(NoInit(), BOX_SPEC)


# ----------------------------------------------------------------------------------------------
# SB3Policy
# ----------------------------------------------------------------------------------------------


class StatelessModel:
    """An SB3-style model whose ``predict`` returns ``actions(observation)`` and no state."""

    def __init__(self, actions: Any) -> None:
        self.actions = actions

    def predict(
        self,
        observation: np.ndarray,
        state: Any = None,
        episode_start: Any = None,
        deterministic: bool = False,
    ) -> Any:
        return self.actions(observation), None


class FakeRecurrentModel:
    """Records every predict call; state = ((1, B, 1) step counters, (1, B, 1) obs sums)."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def predict(
        self,
        observation: np.ndarray,
        state: tuple[np.ndarray, ...] | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
        self.calls.append(
            {"state": state, "episode_start": episode_start, "deterministic": deterministic}
        )
        batch = len(observation)
        count, total = (np.zeros((1, batch, 1)),) * 2 if state is None else state
        count = count + 1
        total = total + observation.sum(axis=1)[None, :, None]
        actions = np.tanh(total[0] * np.ones((1, 2)))
        return actions, (count, total)


def test_sb3_state_and_episode_start_handling() -> None:
    model = FakeRecurrentModel()
    policy = SB3Policy(model, BOX_SPEC, deterministic=False)
    policy.start(2, eval=True)
    policy.reset_envs(idx(0, 1), rngs(0, 1))
    o = np.ones((2, 3))
    step0 = policy.act(o)
    step1 = policy.act(2 * o)
    policy.reset_envs(idx(1), rngs(2))
    step2 = policy.act(o)
    step3 = policy.act(o)

    starts = [c["episode_start"].tolist() for c in model.calls]
    assert starts == [[True, True], [False, False], [False, True], [False, False]]
    assert all(c["deterministic"] is False for c in model.calls)
    assert model.calls[0]["state"] is None
    # the state returned is passed back; sub-env 1's entries are zeroed at its new episode
    count2, total2 = model.calls[2]["state"]
    np.testing.assert_array_equal(count2[0, :, 0], [2.0, 0.0])
    np.testing.assert_array_equal(total2[0, :, 0], [9.0, 0.0])
    count3, _ = model.calls[3]["state"]
    np.testing.assert_array_equal(count3[0, :, 0], [3.0, 1.0])
    # recorded: the state before each step, batch first, (h, c)-style tuple stacked
    # (1, B, 1) arrays -> (B, 1, 1) each -> stacked (B, 2, 1, 1)
    assert step0.agent_infos["hidden_states"].shape == (2, 2, 1, 1)
    np.testing.assert_array_equal(step0.agent_infos["hidden_states"], np.zeros((2, 2, 1, 1)))
    recorded = [s.agent_infos["hidden_states"][:, :, 0, 0] for s in (step1, step2, step3)]
    np.testing.assert_array_equal(recorded[0], [[1, 3], [1, 3]])
    np.testing.assert_array_equal(recorded[1], [[2, 9], [0, 0]])
    np.testing.assert_array_equal(recorded[2], [[3, 12], [1, 3]])
    np.testing.assert_allclose(step3.actions[1], np.tanh([6.0, 6.0]))
    # a new collection starts without state
    policy.start(3, eval=True)
    policy.act(np.ones((3, 3)))
    assert model.calls[-1]["state"] is None
    assert model.calls[-1]["episode_start"].tolist() == [True, True, True]


def test_sb3_row_by_row_passes_each_sub_envs_own_episode_start() -> None:
    # Run on one sub-env at a time, each call gets that sub-env's flag: a sub-env in mid
    # episode must not be told it starts one because another sub-env does.
    model = FakeRecurrentModel()
    policy = SB3Policy(model, BOX_SPEC, batch_invariant=True)
    policy.start(3, eval=True)
    assert policy.row_by_row is True
    policy.reset_envs(idx(0, 1, 2), rngs(0, 1, 2))
    o = np.ones((3, 3))
    policy.act(o)
    policy.act(o)
    policy.reset_envs(idx(0), rngs(3))
    step = policy.act(o)
    starts = [c["episode_start"].tolist() for c in model.calls]
    assert starts == [[True]] * 3 + [[False]] * 3 + [[True], [False], [False]]
    # the step counters: sub-env 0 starts again, the others are at their third step
    np.testing.assert_array_equal(step.agent_infos["hidden_states"][:, 0, 0, 0], [0, 2, 2])


def test_sb3_stateless_model_records_no_hidden_states() -> None:
    policy = as_policy(StatelessModel(lambda observation: observation[:, :2]), BOX_SPEC)
    policy.start(2, eval=True)
    step = policy.act(np.ones((2, 3)))
    assert step.agent_infos == {}
    np.testing.assert_array_equal(step.actions, np.ones((2, 2)))
    bad = SB3Policy(FakeRecurrentModel(), BOX_SPEC, state_batch_axis=0)
    bad.start(2, eval=True)
    with pytest.raises(ValueError, match="state_batch_axis=0 must have size B=2"):
        bad.act(np.ones((2, 3)))


class CounterModel:
    """A GRU-style SB3 model: its state is one (1, B, 1) array of step counters (its actions)."""

    def predict(
        self,
        observation: np.ndarray,
        state: np.ndarray | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, np.ndarray]:
        count = np.zeros((1, len(observation), 1)) if state is None else state
        count = count + 1
        return np.repeat(count[0], 2, axis=1) / 10, count


@pytest.mark.parametrize("batch_invariant", [False, True], ids=["batched", "row-by-row"])
def test_sb3_single_array_state_is_masked_recorded_and_joined_per_row(batch_invariant) -> None:
    policy = SB3Policy(CounterModel(), BOX_SPEC, batch_invariant=batch_invariant)
    policy.start(2, eval=True)
    assert policy.row_by_row is batch_invariant
    policy.reset_envs(idx(0, 1), rngs(0, 1))
    o = np.ones((2, 3))
    steps = [policy.act(o), policy.act(o)]
    policy.reset_envs(idx(1), rngs(2))  # sub-env 1's counter starts again
    steps.append(policy.act(o))
    # recorded: the state before each step, batch first: (1, B, 1) -> (B, 1, 1)
    recorded = [step.agent_infos["hidden_states"][:, 0, 0].tolist() for step in steps]
    assert recorded == [[0, 0], [1, 1], [2, 0]]
    assert steps[2].agent_infos["hidden_states"].shape == (2, 1, 1)
    np.testing.assert_allclose(steps[2].actions, [[0.3, 0.3], [0.1, 0.1]])


def test_sb3_state_tuple_of_unequal_arrays_cannot_be_recorded() -> None:
    class Unequal(StatelessModel):
        def predict(self, observation, state=None, episode_start=None, deterministic=False):
            batch = len(observation)
            return np.zeros((batch, 2)), (np.zeros((1, batch, 1)), np.zeros((1, batch, 3)))

    policy = SB3Policy(Unequal(lambda o: o), BOX_SPEC)
    policy.start(2, eval=True)
    with pytest.raises(
        ValueError,
        match=r"cannot record a state tuple whose arrays have different shapes "
        r"\[\(1, 2, 1\), \(1, 2, 3\)\]",
    ):
        policy.act(np.ones((2, 3)))


@pytest.mark.parametrize("axis", [np.int64(1), np.int32(1), 1])
def test_sb3_state_batch_axis_takes_numpy_integers(axis) -> None:
    # np.int64(1) was refused: "state_batch_axis must be an int".
    policy = SB3Policy(FakeRecurrentModel(), BOX_SPEC, state_batch_axis=axis)
    assert policy.state_batch_axis == 1
    assert type(policy.state_batch_axis) is int
    policy.start(2, eval=True)
    assert policy.act(np.ones((2, 3))).actions.shape == (2, 2)
    for bad in (True, np.True_, 1.0, "1"):
        with pytest.raises(TypeError, match="SB3Policy: state_batch_axis must be an int, got"):
            SB3Policy(FakeRecurrentModel(), BOX_SPEC, state_batch_axis=bad)


def test_sb3_multi_binary_float_actions_are_cast_to_the_spaces_dtype() -> None:
    # SB3 samples MultiBinary actions from a Bernoulli: floats 0. and 1.
    bernoulli = StatelessModel(
        lambda observation: np.tile(np.array([1.0, 0.0, 1.0], np.float32), (len(observation), 1))
    )
    spec = EnvSpec(spaces.Box(-1.0, 1.0, (2,)), spaces.MultiBinary(3))
    policy = SB3Policy(bernoulli, spec)
    policy.start(2, eval=True)
    policy.reset_envs(idx(0, 1), rngs(0, 1))
    actions = policy.act(np.zeros((2, 2), np.float32)).actions
    assert actions.dtype == np.int8
    assert actions.tolist() == [[1, 0, 1], [1, 0, 1]]


@pytest.fixture(scope="module")
def ppo() -> Any:
    sb3 = pytest.importorskip("stable_baselines3")
    return sb3.PPO("MlpPolicy", "CartPole-v1", n_steps=64, batch_size=64, seed=0, device="cpu")


def cartpole_obs(batch: int) -> np.ndarray:
    env = gym.make("CartPole-v1")
    return np.stack([env.reset(seed=s)[0] for s in range(batch)])


def test_sb3_ppo_deterministic_equals_predict(ppo: Any) -> None:
    policy = as_policy(ppo, CARTPOLE_SPEC)
    assert isinstance(policy, SB3Policy)
    assert isinstance(as_policy(ppo.policy, CARTPOLE_SPEC), SB3Policy)  # nn.Module with predict
    o = cartpole_obs(6)
    o[:, 2] = np.linspace(-0.2, 0.2, 6)  # make the two actions both likely to appear
    policy.start(6, eval=True)
    policy.reset_envs(np.arange(6), rngs(*range(6)))
    step = policy.act(o)
    np.testing.assert_array_equal(step.actions, ppo.predict(o, deterministic=True)[0])
    assert step.agent_infos == {}


def test_sb3_ppo_stochastic_is_reproducible_and_leaves_torch_rng_alone(ppo: Any) -> None:
    o = np.zeros((8, 4), dtype=np.float32)  # probabilities near 1/2: sampling shows

    def run(seeds: tuple[int, ...]) -> np.ndarray:
        policy = as_policy(ppo, CARTPOLE_SPEC, deterministic=False)
        policy.start(8, eval=True)
        policy.reset_envs(np.arange(8), rngs(*seeds))
        return np.stack([policy.act(o).actions for _ in range(4)])

    before = torch.get_rng_state()
    first = run(tuple(range(8)))
    assert torch.equal(torch.get_rng_state(), before)
    torch.manual_seed(777)
    np.testing.assert_array_equal(run(tuple(range(8))), first)
    assert not np.array_equal(run(tuple(range(10, 18))), first)
    assert len(np.unique(first)) == 2


# -- argument checks ----------------------------------------------------------------------------


def test_as_policy_flags_must_be_bools() -> None:
    # A callable ignores deterministic, so "no" used to pass silently (batch_invariant: in
    # tests/policies/test_batch_invariance.py).
    with pytest.raises(
        TypeError,
        match=r"as_policy: deterministic must be a bool \(True or False\), got 'no'",
    ):
        as_policy(lambda obs: obs, BOX_SPEC, deterministic="no")
    assert isinstance(as_policy(lambda obs: obs, BOX_SPEC, deterministic=np.False_), CallablePolicy)


def test_sb3_deterministic_must_be_a_bool() -> None:
    class Model:
        def predict(self, obs, state=None, episode_start=None, deterministic=True):
            return np.zeros((len(obs), 2)), None

    with pytest.raises(
        TypeError,
        match=r"SB3Policy: deterministic must be a bool \(True or "
        r"False\), got 'x'",
    ):
        SB3Policy(Model(), BOX_SPEC, deterministic="x")


def _start(policy: Any, n: int) -> Any:
    policy.start(n, eval=True)
    policy.reset_envs(np.arange(n), [np.random.default_rng(i) for i in range(n)])
    return policy


def test_torch_module_of_the_wrong_input_size_is_named_on_the_first_pass() -> None:
    policy = _start(TorchPolicy(torch.nn.Linear(4, 2), BOX_SPEC), 2)
    # Was torch's bare RuntimeError "mat1 and mat2 shapes cannot be multiplied".
    with pytest.raises(
        ValueError,
        match=r"TorchPolicy\(Linear\): the module must accept observations of shape \(3,\) "
        r"\(got a batch of shape \(2, 3\)\), but its first forward pass failed: mat1 and mat2 "
        r"shapes cannot be multiplied",
    ):
        policy.act(np.zeros((2, 3), dtype=np.float32))


class BatchNormPolicy(torch.nn.Module):
    """Batch norm between two layers; outputs Box actions of shape (2,)."""

    def __init__(self) -> None:
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.Linear(4, 2)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


@pytest.mark.parametrize("num_envs", [1, 3])
def test_batch_norm_in_train_mode_on_one_row_says_why_and_what_to_do(num_envs: int) -> None:
    # Row by row (the default for it: not batch invariant) or one sub-env, train mode: torch's
    # bare "Expected more than 1 value per channel when training".
    policy = TorchPolicy(BatchNormPolicy(), BOX_SPEC)
    policy.start(num_envs, eval=False)
    policy.reset_envs(np.arange(num_envs), rngs(*range(num_envs)))
    assert policy.row_by_row is (num_envs > 1)  # a batch of one is one row anyway
    with pytest.raises(
        ValueError,
        match=r"TorchPolicy\(BatchNormPolicy\): the module's first forward pass, in train mode "
        r"\(eval=False\) on one observation at a time \(a batch of one per sub-env\), failed: "
        r"Expected more than 1 value per channel.*sample with eval=True, or pass "
        r"batch_invariant=False with several sub-envs",
    ):
        policy.act(np.zeros((num_envs, 3), dtype=np.float32))


def test_batch_norm_in_train_mode_runs_batched_over_several_sub_envs() -> None:
    module = BatchNormPolicy()
    policy = TorchPolicy(module, BOX_SPEC, batch_invariant=False)
    policy.start(3, eval=False)
    policy.reset_envs(np.arange(3), rngs(0, 1, 2))
    observations = np.random.default_rng(0).normal(size=(3, 3)).astype(np.float32)
    actions = policy.act(observations).actions
    reference = copy.deepcopy(module).train()
    with torch.no_grad():
        expected = reference(torch.as_tensor(observations)).numpy()
    np.testing.assert_array_equal(actions, expected)  # batch statistics over the 3 rows
    # ... and in eval mode row by row is fine: running statistics.
    policy = _start(TorchPolicy(BatchNormPolicy(), BOX_SPEC), 1)
    assert policy.act(observations[:1]).actions.shape == (1, 2)


def test_torch_errors_after_the_first_pass_stay_the_modules_own() -> None:
    class FailsLater(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.calls = 0

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            self.calls += 1
            if self.calls > 1:
                raise RuntimeError("the module's own failure")
            return torch.zeros(len(x), 2)

    policy = _start(TorchPolicy(FailsLater(), BOX_SPEC), 1)
    policy.act(np.zeros((1, 3), dtype=np.float32))
    with pytest.raises(RuntimeError, match="the module's own failure"):
        policy.act(np.zeros((1, 3), dtype=np.float32))


def test_a_callable_gets_a_read_only_batch() -> None:
    # The loop records the batch it hands the policy: `obs /= 10` once rescaled the recorded
    # observations of every step but the first and the last.
    def normalizing(obs: np.ndarray) -> np.ndarray:
        obs /= 10.0
        return obs[:, :2]

    policy = as_policy(normalizing, BOX_SPEC)
    policy.start(2, eval=True)
    batch = np.ones((2, 3), np.float32)
    with pytest.raises(ValueError, match="read-only"):
        policy.act(batch)
    np.testing.assert_array_equal(batch, np.ones((2, 3)))
    dict_spec = EnvSpec(
        gym.spaces.Dict({"a": gym.spaces.Box(-1, 1, (2,))}), gym.spaces.Box(-1, 1, (2,))
    )
    seen: list[bool] = []
    reader = as_policy(lambda obs: seen.append(obs["a"].flags.writeable) or obs["a"], dict_spec)
    reader.start(2, eval=True)
    np.testing.assert_array_equal(reader.act({"a": np.zeros((2, 2), np.float32)}).actions, 0)
    assert seen == [False]
    # Leaves that are no numpy arrays (the numbers of a caller's own list) are handed on as
    # they are.
    pair_spec = EnvSpec(
        gym.spaces.Dict({"a": gym.spaces.Box(-1, 1, (2,)), "b": gym.spaces.Box(-1, 1, (1,))}),
        gym.spaces.Box(-1, 1, (2,)),
    )
    given: list[Any] = []
    passer = as_policy(lambda obs: given.append(obs["b"]) or obs["a"], pair_spec)
    passer.start(2, eval=True)
    b = [[0.5], [0.25]]
    passer.act({"a": np.zeros((2, 2), np.float32), "b": b})
    assert given == [b]


class ActorCritic(torch.nn.Module):
    """Returns (actions, values), as actor-critic modules do."""

    def __init__(self) -> None:
        super().__init__()
        self.actor = torch.nn.Linear(3, 2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.actor(x), torch.zeros(len(x))


def test_a_policy_returning_a_tuple_is_told_to_return_the_actions_alone() -> None:
    # It was numpy's "setting an array element with a sequence ... inhomogeneous shape".
    tail = (
        "got a tuple of 2 (a module or function returning (actions, ...) must be wrapped to "
        "return the actions alone)"
    )
    policy = _start(TorchPolicy(ActorCritic(), BOX_SPEC), 2)
    with pytest.raises(TypeError) as info:
        policy.act(np.zeros((2, 3), dtype=np.float32))
    assert str(info.value) == (
        "module TorchPolicy(ActorCritic) must return one array of actions of shape (2, 2) "
        f"(B, *action_shape), {tail}"
    )

    def both(obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros((len(obs), 2)), np.zeros((len(obs), 2))  # stacks to (2, B, 2)

    policy = _start(as_policy(both, BOX_SPEC), 2)
    with pytest.raises(ValueError, match="tuple") as info:
        policy.act(np.zeros((2, 3), dtype=np.float32))
    assert str(info.value).endswith(tail)

    # Other values numpy cannot make one array of are named too.
    def ragged(obs: np.ndarray) -> list[np.ndarray]:
        return [np.zeros(2), np.zeros(3)]

    policy = _start(as_policy(ragged, BOX_SPEC), 2)
    rule = r"CallablePolicy\(.*ragged\) must return one array of actions of shape \(2, 2\)"
    with pytest.raises(TypeError, match=rf"{rule} \(B, \*action_shape\), got list \(setting"):
        policy.act(np.zeros((2, 3), dtype=np.float32))

    # No actions at all: named by type (it was a ValueError about "actions of shape ()").
    for nothing in (None, {"actions": np.zeros((2, 2))}):
        policy = _start(as_policy(lambda obs, out=nothing: out, BOX_SPEC), 2)
        with pytest.raises(
            TypeError, match=rf"\(B, \*action_shape\), got {type(nothing).__name__}$"
        ):
            policy.act(np.zeros((2, 3), dtype=np.float32))


def test_a_float64_module_gets_float64_observations() -> None:
    # It failed: "mat1 and mat2 must have the same dtype, but got Float and Double".
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2))
    policy = _start(TorchPolicy(module.double(), BOX_SPEC), 2)
    assert policy.input_dtype == torch.float64
    obs = np.random.default_rng(0).normal(size=(2, 3)).astype(np.float32)
    actions = policy.act(obs).actions
    with torch.no_grad():  # row by row, as the policy runs it (batching rounds differently)
        expected = np.concatenate(
            [module(torch.as_tensor(row[None], dtype=torch.float64)).numpy() for row in obs]
        )
    assert actions.dtype == np.float64
    np.testing.assert_array_equal(actions, expected)
    assert TorchPolicy(torch.nn.Linear(3, 2), BOX_SPEC).input_dtype == torch.float32
    assert TorchPolicy(torch.nn.Flatten(), BOX_SPEC).input_dtype == torch.float32  # no params


def test_a_failing_first_pass_in_train_mode_blames_batch_norm_only_where_there_is_one() -> None:
    # rollout() runs one row in train mode by default: every first-pass error of any module
    # was explained as batch norm's.
    policy = TorchPolicy(torch.nn.Linear(4, 2), BOX_SPEC)
    policy.start(1, eval=False)
    policy.reset_envs(idx(0), rngs(0))
    with pytest.raises(ValueError, match="mat1 and mat2") as info:
        policy.act(np.zeros((1, 3), dtype=np.float32))
    assert str(info.value).startswith(
        "TorchPolicy(Linear): the module must accept observations of shape (3,) (got a batch "
        "of shape (1, 3)), but its first forward pass failed: mat1 and mat2 shapes"
    )
    assert "batch norm" not in str(info.value)


class _DictInput(torch.nn.Module):
    def forward(self, obs: dict) -> torch.Tensor:
        return obs["pos"] @ torch.ones(4, 2)  # pos has 3 entries


def test_a_failing_first_pass_on_dict_observations_names_the_space_and_shapes() -> None:
    spec = EnvSpec(
        spaces.Dict(pos=spaces.Box(-1.0, 1.0, (3,)), vel=spaces.Box(-1.0, 1.0, (2,))),
        spaces.Box(-1.0, 1.0, (2,)),
    )
    policy = _start(TorchPolicy(_DictInput(), spec), 2)
    observations = {"pos": np.zeros((2, 3), np.float32), "vel": np.zeros((2, 2), np.float32)}
    # Read "observations of shape None (got a batch of shape ?)".
    with pytest.raises(
        ValueError,
        match=r"the module must accept observations of Dict\('pos': Box\(-1.0, 1.0, \(3,\), "
        r"float32\), 'vel': Box\(-1.0, 1.0, \(2,\), float32\)\) \(got a batch of \{'pos': "
        r"shape \(2, 3\), 'vel': shape \(2, 2\)\}\), but its first forward pass failed",
    ):
        policy.act(observations)


class _TupleInput(torch.nn.Module):
    def forward(self, obs: tuple) -> torch.Tensor:
        return obs[0] @ torch.ones(4, 2)  # the first part has 3 entries


def test_a_failing_first_pass_on_tuple_observations_names_the_shapes() -> None:
    spec = EnvSpec(
        spaces.Tuple((spaces.Box(-1.0, 1.0, (3,)), spaces.Box(-1.0, 1.0, (2,)))),
        spaces.Box(-1.0, 1.0, (2,)),
    )
    policy = _start(TorchPolicy(_TupleInput(), spec), 2)
    with pytest.raises(
        ValueError, match=r"\(got a batch of \(shape \(2, 3\), shape \(2, 2\)\)\), but its first"
    ):
        policy.act((np.zeros((2, 3), np.float32), np.zeros((2, 2), np.float32)))


def test_torch_policy_construction_checks_the_spec_and_per_env_mode() -> None:
    sequence = EnvSpec(spaces.Sequence(spaces.Box(-1.0, 1.0, (3,))), spaces.Box(-1.0, 1.0, (2,)))
    with pytest.raises(
        TypeError,
        match=r"^TorchPolicy: spec.observation_space must have a shape \(array observations\) or "
        r"be a Dict or Tuple space, got Sequence\(",
    ):
        TorchPolicy(torch.nn.Linear(3, 2), sequence)
    with pytest.raises(
        ValueError, match="^TorchPolicy: per_env_mode must be 'vmap' or 'group', got 'loop'$"
    ):
        TorchPolicy(torch.nn.Linear(3, 2), BOX_SPEC, per_env_mode="loop")  # type: ignore[arg-type]


class _IntBufferFirst(torch.nn.Module):
    """An integer buffer registered before any float tensor (e.g. a step counter)."""

    def __init__(self, with_params: bool) -> None:
        super().__init__()
        self.register_buffer("steps", torch.zeros((), dtype=torch.int64))
        self.linear = torch.nn.Linear(3, 2).double() if with_params else None

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return obs[:, :2] if self.linear is None else self.linear(obs)


def test_placement_reads_the_first_float_tensor_and_a_module_without_parameters_has_none() -> None:
    # The device comes from the first tensor, the input dtype from the first floating one.
    policy = TorchPolicy(_IntBufferFirst(with_params=True), BOX_SPEC)
    assert (policy.device, policy.input_dtype) == (torch.device("cpu"), torch.float64)
    bare = TorchPolicy(_IntBufferFirst(with_params=False), BOX_SPEC)
    assert (bare.device, bare.input_dtype) == (torch.device("cpu"), torch.float32)
    assert bare.num_params == 0
    assert bare.param_values.shape == (0,)
    assert _start(bare, 2).act(np.ones((2, 3), np.float32)).actions.tolist() == [[1, 1], [1, 1]]


class _FloatBufferAfterAnInt(torch.nn.Module):
    """No parameters; an int buffer, then a float64 one."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("steps", torch.zeros((), dtype=torch.int64))
        self.register_buffer("scale", torch.ones((), dtype=torch.float64))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return obs[:, :2] * self.scale


def test_the_input_dtype_is_the_first_float_tensors_past_an_int_one() -> None:
    policy = _start(TorchPolicy(_FloatBufferAfterAnInt(), BOX_SPEC), 2)
    assert (policy.device, policy.input_dtype) == (torch.device("cpu"), torch.float64)
    assert policy.act(np.ones((2, 3), np.float32)).actions.dtype == np.float64


class _HiddenOfTheWrongBatch(TinyRNN):
    def init_hidden(self, batch_size: int) -> torch.Tensor:
        return torch.zeros(4)


class _NoNewHidden(TinyRNN):
    def forward(self, obs: torch.Tensor, hidden: torch.Tensor) -> Any:
        return obs[:, :2]


class _NewHiddenOfAnotherShape(TinyRNN):
    def forward(self, obs: torch.Tensor, hidden: torch.Tensor) -> Any:
        return obs[:, :2], torch.zeros(len(obs), 3)


def test_recurrent_modules_returning_the_wrong_hidden_states_are_named() -> None:
    failed = TorchPolicy(_HiddenOfTheWrongBatch(), BOX_SPEC)
    with pytest.raises(
        ValueError,
        match=r"^TorchPolicy: _HiddenOfTheWrongBatch.init_hidden\(2\) must return a tensor of "
        r"shape \(2, ...\), got torch.Size\(\[4\]\)$",
    ):
        failed.start(2, eval=True)
    # The start did not complete: there is no hidden state to act from.
    with pytest.raises(
        RuntimeError, match=r"^TorchPolicy.act\(\) called before a start\(\) that completed; "
    ):
        failed.act(np.zeros((2, 3), np.float32))
    with pytest.raises(
        TypeError,
        match=r"a recurrent module's forward\(obs, hidden\) must return \(actions, new_hidden\), "
        "got Tensor$",
    ):
        _start(TorchPolicy(_NoNewHidden(), BOX_SPEC), 2).act(np.zeros((2, 3), np.float32))
    with pytest.raises(
        ValueError,
        match=r"new_hidden must be a tensor of shape \(2, 4\) like the hidden state, got "
        r"torch.Size\(\[2, 3\]\)$",
    ):
        _start(TorchPolicy(_NewHiddenOfAnotherShape(), BOX_SPEC), 2).act(
            np.zeros((2, 3), np.float32)
        )


class _ForgotRecurrent(torch.nn.Module):
    """init_hidden and forward(obs, hidden), but no is_recurrent = True."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(3, 2)

    def init_hidden(self, batch_size: int) -> torch.Tensor:
        return torch.zeros(batch_size, 2)

    def forward(self, obs: torch.Tensor, hidden: torch.Tensor) -> tuple[torch.Tensor, Any]:
        return self.linear(obs) + hidden, hidden


def test_a_recurrent_module_without_is_recurrent_is_told_to_set_it() -> None:
    # Was torch's bare "forward() missing 1 required positional argument: 'hidden'".
    policy = _start(TorchPolicy(_ForgotRecurrent(), BOX_SPEC), 2)
    with pytest.raises(
        ValueError,
        match=r"TorchPolicy\(_ForgotRecurrent\): the module must accept observations of shape "
        r"\(3,\) .* missing 1 required positional argument: 'hidden'; the module defines "
        r"init_hidden: a recurrent module must also set is_recurrent = True",
    ):
        policy.act(np.zeros((2, 3), dtype=np.float32))


class _NoisyStartRNN(TinyRNN):
    """TinyRNN whose episodes start from a random hidden state."""

    def init_hidden(self, batch_size: int) -> torch.Tensor:
        return 0.5 * torch.randn(batch_size, 4)


def test_a_random_init_hidden_is_reproducible_per_episode_and_leaves_torch_alone() -> None:
    # init_hidden ran outside the seeded fork of torch's generator: two runs of the same
    # episodes started from different states, and the caller's generator moved.
    def run() -> tuple[np.ndarray, np.ndarray]:
        policy = TorchPolicy(_NoisyStartRNN(), BOX_SPEC)
        policy.start(2, eval=True)
        policy.reset_envs(idx(0, 1), rngs(10, 11))
        first = policy.act(np.zeros((2, 3), np.float32)).agent_infos["hidden_states"]
        policy.reset_envs(idx(1), rngs(12))  # a new episode in sub-env 1
        second = policy.act(np.zeros((2, 3), np.float32)).agent_infos["hidden_states"]
        return first, second

    torch.manual_seed(0)
    before = torch.random.get_rng_state()
    first, second = run()
    assert torch.equal(torch.random.get_rng_state(), before)
    again = run()
    np.testing.assert_array_equal(first, again[0])
    np.testing.assert_array_equal(second, again[1])
    assert not np.array_equal(first[0], first[1])  # each episode its own draw
    assert not np.array_equal(second[1], first[1])
    # An episode's start depends on its own generator alone, not on the other sub-envs.
    alone = TorchPolicy(_NoisyStartRNN(), BOX_SPEC)
    alone.start(1, eval=True)
    alone.reset_envs(idx(0), rngs(11))
    np.testing.assert_array_equal(
        alone.act(np.zeros((1, 3), np.float32)).agent_infos["hidden_states"][0], first[1]
    )


class _BroadcastStartRNN(TinyRNN):
    """TinyRNN whose episodes start from one random row broadcast over the batch (``expand``:
    every row is a view of the same memory)."""

    def init_hidden(self, batch_size: int) -> torch.Tensor:
        return torch.randn(1, 4).expand(batch_size, -1)


def test_an_expanded_init_hidden_still_gives_each_episode_its_own_start() -> None:
    # reset_envs writes each new episode's row into the batch's hidden state: written in place
    # into an expanded tensor, every row would show the last episode's start.
    def first_hidden(num_envs: int, seeds: tuple[int, ...]) -> np.ndarray:
        policy = TorchPolicy(_BroadcastStartRNN(), BOX_SPEC)
        policy.start(num_envs, eval=True)
        policy.reset_envs(idx(*range(num_envs)), rngs(*seeds))
        step = policy.act(np.zeros((num_envs, 3), np.float32))
        return step.agent_infos["hidden_states"]

    both = first_hidden(2, (10, 11))
    assert not np.array_equal(both[0], both[1])
    np.testing.assert_array_equal(both[0], first_hidden(1, (10,))[0])
    np.testing.assert_array_equal(both[1], first_hidden(1, (11,))[0])


def test_a_bfloat16_module_runs() -> None:
    # gymsamp fed it bfloat16 observations, then refused its bfloat16 actions (numpy has none).
    module = torch.nn.Linear(3, 2).to(torch.bfloat16)
    policy = _start(TorchPolicy(module, BOX_SPEC), 2)
    observations = np.array([[0.5, -1.0, 2.0], [1.0, 0.0, -0.5]], np.float32)
    with torch.no_grad():
        expected = module(torch.as_tensor(observations, dtype=torch.bfloat16)).float().numpy()
    np.testing.assert_array_equal(policy.act(observations).actions, expected)


def test_sb3_predict_returning_actions_alone_is_named() -> None:
    # Was "not enough values to unpack", or with two sub-envs row 0 taken for the actions.
    class ActionsOnly:
        observation_space, action_space = BOX_SPEC.observation_space, BOX_SPEC.action_space

        def predict(self, observation, state=None, episode_start=None, deterministic=True):
            return np.zeros((len(observation), 2), np.float32)

    for num_envs in (1, 2, 3):
        policy = _start(SB3Policy(ActionsOnly(), BOX_SPEC), num_envs)
        with pytest.raises(
            TypeError,
            match=r"model SB3Policy\(ActionsOnly, deterministic=True\): predict\(observation, "
            r"state, episode_start, deterministic\) must return \(actions, state\) as SB3's "
            rf"does .* got ndarray of shape \({num_envs}, 2\)",
        ):
            policy.act(np.zeros((num_envs, 3), np.float32))


# --- what a wrong action shape most likely means -------------------------------------------


@pytest.mark.parametrize(
    ("env_id", "policy", "hint"),
    [
        # a function written for one observation, returning one action
        (
            "CartPole-v1",
            lambda obs: 1,
            "(one action, not a batch: a policy gets a batch of observations, one row per "
            "sub-env, and returns one action per row)",
        ),
        # a network's scores for a Discrete space, one column per action
        (
            "CartPole-v1",
            lambda obs: np.zeros((len(obs), 2)),
            "(a value for each of the 2 actions, e.g. logits or Q-values? return the chosen "
            "action of each row, e.g. .argmax(-1))",
        ),
        (
            "CartPole-v1",
            lambda obs: np.zeros((len(obs), 1), np.int64),
            "(an action per row with an extra axis: drop it, e.g. actions[:, 0])",
        ),
        (
            "Pendulum-v1",
            lambda obs: -obs[:, 2],
            "(an action per row without the action axis: add it, e.g. actions[:, None])",
        ),
    ],
)
def test_a_wrong_action_shape_says_what_it_most_likely_means(env_id, policy, hint):
    with pytest.raises(ValueError, match=" returned actions of shape ") as info:
        rollout(env_id, policy, seed=0, max_steps=3)
    assert str(info.value).endswith(f"{gym.make(env_id).action_space!r} {hint}")


def test_a_module_returning_logits_for_a_discrete_space_is_told_to_pick_the_action():
    with pytest.raises(ValueError, match="Linear") as info:
        rollout("CartPole-v1", torch.nn.Linear(4, 2), seed=0, max_steps=3)
    message = str(info.value)
    assert message.startswith("module TorchPolicy(Linear) returned actions of shape (1, 2)")
    assert message.endswith("return the chosen action of each row, e.g. .argmax(-1))")


def test_an_unrelated_wrong_shape_gets_no_hint():
    with pytest.raises(ValueError, match=r"shape \(1, 3\)") as info:
        rollout("CartPole-v1", lambda obs: np.zeros((len(obs), 3), np.int64), seed=0, max_steps=3)
    assert str(info.value).endswith("for B=1 sub-envs and the action space Discrete(2)")


@pytest.mark.parametrize(
    ("policy", "dtype"),
    [(lambda obs: obs[:, 2] > 0, "bool"), (lambda obs: (obs[:, 2] > 0) * 1.0, "float64")],
)
def test_float_or_bool_actions_for_a_discrete_space_are_told_to_cast(policy, dtype):
    with pytest.raises(TypeError) as info:
        rollout("CartPole-v1", policy, seed=0, max_steps=3)
    assert str(info.value).endswith(
        f"(numpy kinds 'iu'), got dtype {dtype}, e.g. .astype(np.int64)"
    )


class _Model:
    """An SB3-style model: predict returns (actions, state)."""

    def predict(self, observation, state=None, episode_start=None, deterministic=False):
        return (observation[:, 2] > 0).astype(np.int64), state


def test_a_models_predict_passed_as_the_policy_is_told_to_pass_the_model():
    with pytest.raises(TypeError) as info:
        rollout("CartPole-v1", _Model().predict, seed=0, max_steps=3)
    assert str(info.value) == (
        "policy CallablePolicy(_Model.predict) is the predict method of a _Model, which returns "
        "(actions, state): pass the model itself as the policy (gymsamp calls its predict)"
    )
    assert rollout("CartPole-v1", _Model(), seed=0, max_steps=3).length == 3


def test_a_callable_object_returning_a_tuple_keeps_the_tuple_message():
    import functools

    def pair(obs, scale):
        return (obs[:, 2] > 0).astype(np.int64) * scale, None

    with pytest.raises(TypeError, match=r"got a tuple of 2 \(a module or function returning"):
        rollout("CartPole-v1", functools.partial(pair, scale=1), seed=0, max_steps=3)


def _one_observation_policy(obs):
    return 1 if obs[2] > 0 else 0  # written for obs of shape (4,)


@pytest.mark.parametrize("num_workers", [1, 2])
def test_a_policy_failing_on_its_batch_gets_a_note_with_the_batch_it_got(num_workers):
    # A function written for one observation failed with the user's own IndexError ("index 2
    # is out of bounds for axis 0 with size 1"), which said nothing of batches.
    shape = f"({num_workers}, 4)"
    with (
        pytest.raises(IndexError, match="index 2 is out of bounds for axis 0") as info,
        ParallelRolloutSampler(
            "CartPole-v1",
            _one_observation_policy,
            num_workers,
            min_rollouts=2,
            seed=0,
            vectorization="sync",
            show_progress_bar=False,
        ) as sampler,
    ):
        sampler.sample()
    assert info.value.__notes__ == [
        "gymsamp called policy CallablePolicy(_one_observation_policy) with a batch of "
        f"observations of shape {shape}: a callable policy maps a batch of observations "
        "(B, *obs_shape), one row per sub-env, to a batch of actions (B, *action_shape)"
    ]


def test_the_note_shows_each_array_of_a_dict_batch():
    spec = EnvSpec(
        spaces.Dict({"a": spaces.Box(-1.0, 1.0, (3,)), "b": spaces.Discrete(2)}), spaces.Discrete(2)
    )
    policy = as_policy(lambda obs: obs["c"], spec)
    policy.start(2, eval=False)
    with pytest.raises(KeyError) as info:
        policy.act({"a": np.zeros((2, 3), np.float32), "b": np.zeros(2, np.int64)})
    assert "of shapes {'a': (2, 3), 'b': (2,)}" in info.value.__notes__[0]
