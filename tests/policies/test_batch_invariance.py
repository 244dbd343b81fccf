"""Batch-invariant torch, SB3 and callable policies: ``sample()`` equals one-env ``rollout()``
calls bit for bit (DESIGN §4) also for networks and numpy matrix products, which round
differently for different batch sizes, and for stochastic ones."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch

from gymsamp.data import EnvSpec
from gymsamp.policies import CallablePolicy, as_policy
from gymsamp.policies._shared import _NEAR_ZERO_BATCHES, _PROBE_BATCHES, _same_bits
from gymsamp.policies.sb3_policy import SB3Policy
from gymsamp.policies.torch_policy import TorchPolicy
from gymsamp.sampling import ParallelRolloutSampler, rollout

ENV = "Pendulum-v1"  # continuous actions: any rounding difference shows in the rollout
SPEC = EnvSpec.from_env(gym.make(ENV))
ROLLOUTS, STEPS = 4, 60


class NoisyMlp(torch.nn.Module):
    """A 3-64-64-1 MLP (its products round by batch size); ``noise``: plus N(0, noise^2) from
    torch's global generator."""

    def __init__(self, noise: float = 0.0) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(0)
        self.net = torch.nn.Sequential(
            torch.nn.Linear(3, 64), torch.nn.Tanh(), torch.nn.Linear(64, 64), torch.nn.Tanh(),
            torch.nn.Linear(64, 1),
        )  # fmt: skip
        with torch.no_grad():
            for param in self.net.parameters():
                param.copy_(torch.randn(param.shape, generator=generator) * 0.7)
        self.noise = noise

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        actions = 2.0 * torch.tanh(self.net(obs))
        return actions + self.noise * torch.randn(actions.shape) if self.noise else actions


def sample(policy: Any, num_workers: int, vectorization: str) -> list[Any]:
    with ParallelRolloutSampler(
        ENV,
        policy,
        num_workers,
        min_rollouts=ROLLOUTS,
        seed=5,
        max_steps=STEPS,
        vectorization=vectorization,
        show_progress_bar=False,
    ) as sampler:
        return sampler.sample()


def assert_equal_to_rollouts(rollouts: list[Any], policy: Any) -> None:
    assert len(rollouts) == ROLLOUTS
    for k, ro in enumerate(rollouts):
        ref = rollout(ENV, policy, seed=5, sub_seed=0, sub_sub_seed=k, max_steps=STEPS)
        np.testing.assert_array_equal(ro.observations, ref.observations)
        np.testing.assert_array_equal(ro.actions, ref.actions)
        np.testing.assert_array_equal(ro.rewards, ref.rewards)


@pytest.mark.parametrize("noise", [0.0, 0.3])
@pytest.mark.parametrize(("num_workers", "vectorization"), [(3, "sync"), (2, "async")])
def test_batch_invariant_torch_policy_equals_sequential_rollouts(
    noise: float, num_workers: int, vectorization: str
) -> None:
    policy = TorchPolicy(NoisyMlp(noise), SPEC, batch_invariant=True)
    rollouts = sample(policy, num_workers, vectorization)
    assert_equal_to_rollouts(rollouts, policy)
    # The rollouts differ from one another (own seeds, and own noise where there is noise).
    assert len({ro.actions[:5].tobytes() for ro in rollouts}) == ROLLOUTS
    # A plain module in rollout() (batch of one, one seed) acts as the batch-invariant policy.
    assert_equal_to_rollouts(rollouts, NoisyMlp(noise))


def test_as_policy_passes_batch_invariance_on() -> None:
    module = NoisyMlp()
    assert as_policy(module, SPEC, batch_invariant=True).batch_invariant is True  # type: ignore[attr-defined]
    assert as_policy(module, SPEC, batch_invariant=np.False_).batch_invariant is False  # type: ignore[attr-defined]
    assert as_policy(module, SPEC).batch_invariant is None  # type: ignore[attr-defined]
    rule = r"batch_invariant must be None \(test the model\), True or False, got "
    with pytest.raises(TypeError, match=rf"TorchPolicy: {rule}1"):
        TorchPolicy(module, SPEC, batch_invariant=1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=rf"SB3Policy: {rule}'yes'"):
        SB3Policy(_Predictor(0.0), SPEC, batch_invariant="yes")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=rf"as_policy: {rule}'no'"):
        as_policy(lambda obs: obs, SPEC, batch_invariant="no")


class MatmulPolicy:
    """``tanh(obs @ w1) @ w2``: numpy's matrix products, which round by batch size; records the
    batch sizes it was called with."""

    def __init__(self) -> None:
        rng = np.random.default_rng(1)
        self.w1 = rng.standard_normal((3, 17)).astype(np.float32)
        self.w2 = rng.standard_normal((17, 1)).astype(np.float32)
        self.batch_sizes: set[int] = set()

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        self.batch_sizes.add(len(obs))
        return np.tanh(obs @ self.w1) @ self.w2


@pytest.mark.parametrize(("num_workers", "vectorization"), [(3, "sync"), (2, "async")])
def test_batch_invariant_callable_equals_sequential_rollouts(
    num_workers: int, vectorization: str
) -> None:
    fn = MatmulPolicy()
    policy = as_policy(fn, SPEC, batch_invariant=True)
    assert isinstance(policy, CallablePolicy)
    assert policy.batch_invariant is True
    rollouts = sample(policy, num_workers, vectorization)
    assert fn.batch_sizes == {1}  # every sub-env alone, as in rollout()
    assert_equal_to_rollouts(rollouts, fn)
    assert len({ro.actions[:5].tobytes() for ro in rollouts}) == ROLLOUTS


def test_batch_invariant_callable_rows_are_the_one_env_actions() -> None:
    fn = MatmulPolicy()
    policy = CallablePolicy(fn, SPEC, batch_invariant=True)
    policy.start(5, eval=True)
    obs = np.random.default_rng(2).standard_normal((5, 3)).astype(np.float32)
    actions = policy.act(obs).actions
    assert actions.shape == (5, 1)
    for i in range(5):
        assert np.array_equal(actions[i : i + 1], fn(obs[i : i + 1]))
    default = as_policy(fn, SPEC)
    assert default.batch_invariant is None  # type: ignore[attr-defined]
    default.start(5, eval=True)
    assert default.row_by_row is False  # type: ignore[attr-defined]
    # A wrong shape for one sub-env is named with the batch of one it was called with.
    bad = CallablePolicy(lambda obs: np.zeros((1, 2)), SPEC, batch_invariant=True)
    bad.start(2, eval=True)
    with pytest.raises(ValueError, match=r"shape \(1, 2\) but must return \(1, 1\)"):
        bad.act(obs[:2])
    with pytest.raises(TypeError, match=r"CallablePolicy: batch_invariant must be None .*, got 1"):
        CallablePolicy(fn, SPEC, batch_invariant=1)  # type: ignore[arg-type]


class _Predictor:
    """SB3's predict API over the MLP, with a recurrent state ``(h, c)`` of shape (1, B, 2)
    that counts steps since the episode start and feeds back into the action."""

    def __init__(self, noise: float) -> None:
        self.module = NoisyMlp(noise)

    def predict(
        self,
        observation: Any,
        state: Any = None,
        episode_start: Any = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
        batch = len(observation)
        h = np.zeros((1, batch, 2)) if state is None else state[0]
        h = h + 1.0
        with torch.no_grad():
            actions = self.module(torch.as_tensor(observation, dtype=torch.float32)).numpy()
        actions = actions + 0.01 * h[0, :, :1].astype(np.float32)
        return actions, (h, 2.0 * h)


def test_batch_invariant_sb3_policy_with_state_equals_sequential_rollouts() -> None:
    policy = SB3Policy(_Predictor(0.3), SPEC, deterministic=False, batch_invariant=True)
    rollouts = sample(policy, 3, "sync")
    assert_equal_to_rollouts(rollouts, policy)
    # The state went round per sub-env: hidden_states count the steps of each rollout.
    for ro in rollouts:
        hidden = ro.agent_infos["hidden_states"]  # (T, len(state), 1, 2)
        np.testing.assert_array_equal(hidden[:, 0, 0, 0], np.arange(ro.length))


class NoisyGru(torch.nn.Module):
    """A recurrent module (GRU cell) with noise from torch's global generator."""

    is_recurrent = True

    def __init__(self) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(0)
        self.cell = torch.nn.GRUCell(3, 16)
        self.out = torch.nn.Linear(16, 1)
        with torch.no_grad():
            for param in self.parameters():
                param.copy_(torch.randn(param.shape, generator=generator) * 0.5)

    def init_hidden(self, batch_size: int) -> torch.Tensor:
        return torch.zeros(batch_size, 16)

    def forward(self, obs: torch.Tensor, hidden: torch.Tensor) -> tuple[torch.Tensor, Any]:
        hidden = self.cell(obs, hidden)
        actions = 2.0 * torch.tanh(self.out(hidden)) + 0.1 * torch.randn(len(obs), 1)
        return actions, hidden


def test_batch_invariant_recurrent_torch_policy_equals_sequential_rollouts() -> None:
    policy = TorchPolicy(NoisyGru(), SPEC, batch_invariant=True)
    rollouts = sample(policy, 3, "sync")
    assert_equal_to_rollouts(rollouts, policy)
    for k, ro in enumerate(rollouts):
        ref = rollout(ENV, policy, seed=5, sub_seed=0, sub_sub_seed=k, max_steps=STEPS)
        np.testing.assert_array_equal(
            ro.agent_infos["hidden_states"], ref.agent_infos["hidden_states"]
        )


# -- the default: torch modules and SB3 models tested, run batched only where that is exact --------


@pytest.mark.parametrize("noise", [0.0, 0.3])
@pytest.mark.parametrize(("num_workers", "vectorization"), [(3, "sync"), (2, "batched")])
def test_a_network_is_run_row_by_row_by_default(
    noise: float, num_workers: int, vectorization: str
) -> None:
    # DESIGN §4 wins over §5: an MLP's batched products round by batch size (and a noisy one
    # draws by batch), so by default it runs on each sub-env alone.
    policy = as_policy(NoisyMlp(noise), SPEC)
    rollouts = sample(policy, num_workers, vectorization)
    assert policy.row_by_row is True  # type: ignore[attr-defined]
    assert_equal_to_rollouts(rollouts, NoisyMlp(noise))


def test_a_recurrent_network_is_run_row_by_row_by_default() -> None:
    policy = TorchPolicy(NoisyGru(), SPEC)
    rollouts = sample(policy, 3, "sync")
    assert policy.row_by_row is True
    assert_equal_to_rollouts(rollouts, NoisyGru())


class SmallRecurrent(torch.nn.Module):
    """A small recurrent module whose products agree batched and row by row from zero hidden
    states (for seeds 2, 7, 4) but not once the hidden state has evolved."""

    is_recurrent = True

    def __init__(self, seed: int) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.step = torch.nn.Linear(3 + 2, 2)
        self.out = torch.nn.Linear(2, 1)
        with torch.no_grad():
            for param in self.parameters():
                param.copy_(torch.randn(param.shape, generator=generator))

    def init_hidden(self, batch_size: int) -> torch.Tensor:
        return torch.zeros(batch_size, 2)

    def forward(self, obs: torch.Tensor, hidden: torch.Tensor) -> Any:
        new_hidden = torch.tanh(self.step(torch.cat([obs, hidden], -1)))
        return 2.0 * torch.tanh(self.out(new_hidden)), new_hidden


@pytest.mark.parametrize("seed", [2, 4, 7])
def test_a_recurrent_module_is_tested_beyond_its_initial_hidden_state(seed: int) -> None:
    # The test ran from init_hidden only: these modules were run batched, and rollouts of
    # 2 sub-envs differed from rollout() in the last bits.
    policy = TorchPolicy(SmallRecurrent(seed), SPEC)
    rollouts = sample(policy, 2, "sync")
    assert policy.row_by_row is True
    assert_equal_to_rollouts(rollouts, policy)


class ShapeRecorder(torch.nn.Module):
    """An elementwise module (exact in any batch) that records the batch sizes it is given."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = torch.nn.Parameter(torch.tensor([-0.7]))
        self.batch_sizes: list[int] = []

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        self.batch_sizes.append(len(obs))
        return torch.clamp(self.scale * obs[:, 2:3], -2.0, 2.0)


def test_a_batch_invariant_module_runs_batched_after_one_test_per_start() -> None:
    module = ShapeRecorder()
    policy = TorchPolicy(module, SPEC)
    torch_state = torch.random.get_rng_state()
    rollouts = sample(policy, 3, "sync")
    assert policy.row_by_row is False
    # The test at start(): each drawn batch whole, then row by row; after it, whole batches.
    probes = _PROBE_BATCHES + _NEAR_ZERO_BATCHES  # drawn from the space, and around 0
    tested = 4 * probes
    assert module.batch_sizes[:tested] == [3, 1, 1, 1] * probes
    assert set(module.batch_sizes[tested:]) == {3}
    assert_equal_to_rollouts(rollouts, ShapeRecorder())
    assert torch.equal(torch.random.get_rng_state(), torch_state)  # the test drew nothing


class NormedMlp(torch.nn.Module):
    """Batch norm, then a linear layer: the test must run in eval mode (running statistics
    untouched) and leave the mode start() asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.norm = torch.nn.BatchNorm1d(3)
        self.linear = torch.nn.Linear(3, 1)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.linear(self.norm(obs))


@pytest.mark.parametrize("eval_mode", [True, False])
def test_the_test_runs_in_eval_mode_and_keeps_batch_norm_statistics(eval_mode: bool) -> None:
    module = NormedMlp()
    policy = TorchPolicy(module, SPEC)
    policy.start(4, eval=eval_mode)
    assert policy.row_by_row is not None
    assert module.training is not eval_mode
    assert int(module.norm.num_batches_tracked) == 0
    np.testing.assert_array_equal(module.norm.running_mean.numpy(), np.zeros(3))


def test_a_module_failing_the_test_runs_batched_and_act_names_its_error() -> None:
    module = torch.nn.Linear(5, 1)  # the wrong input size: the test's forward pass fails
    policy = TorchPolicy(module, SPEC)
    policy.start(2, eval=True)
    assert policy.row_by_row is False
    with pytest.raises(ValueError, match=r"must accept observations of shape \(3,\)"):
        policy.act(np.zeros((2, 3), np.float32))


def test_sb3_models_are_tested_and_other_predictors_run_batched() -> None:
    sb3 = pytest.importorskip("stable_baselines3")
    model = sb3.PPO("MlpPolicy", ENV, n_steps=64, batch_size=64, seed=0, device="cpu")
    policy = as_policy(model, SPEC)
    rollouts = sample(policy, 3, "sync")
    assert policy.row_by_row is True  # type: ignore[attr-defined]  # Gaussian means: by batch size
    assert_equal_to_rollouts(rollouts, model)
    # An object that only has SB3's predict may record its calls: it is not tested.
    predictor = _Predictor(0.0)
    calls: list[int] = []
    original = predictor.predict
    predictor.predict = lambda obs, **kw: (calls.append(len(obs)), original(obs, **kw))[1]  # type: ignore[method-assign]
    other = as_policy(predictor, SPEC)
    other.start(3, eval=True)
    assert other.row_by_row is False  # type: ignore[attr-defined]
    assert calls == []


class _Saturating(torch.nn.Module):
    """A 3-64-1 tanh MLP: its output is exactly +-1 on observations far from 0."""

    def __init__(self) -> None:
        super().__init__()
        with torch.random.fork_rng():  # torch's default initialization, seeded
            torch.manual_seed(0)
            self.net = torch.nn.Sequential(
                torch.nn.Linear(3, 64), torch.nn.ReLU(), torch.nn.Linear(64, 1), torch.nn.Tanh()
            )

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.net(obs)


def test_the_test_also_draws_observations_far_inside_wide_bounds() -> None:
    # Declared +-1000, observed +-1: every probe drawn from the space saturated the tanh to
    # exactly +-1 in both ways, so the module ran batched and 2 sub-envs differed from
    # rollout() in the last bits.
    spec = EnvSpec(
        gym.spaces.Box(-1000.0, 1000.0, (3,), np.float32), gym.spaces.Box(-1.0, 1.0, (1,))
    )
    policy = TorchPolicy(_Saturating(), spec)
    policy.start(2, eval=True)
    assert policy.row_by_row is True
    rng = np.random.default_rng(0)
    differing = 0
    for _ in range(50):  # indeed not batch invariant on the observations it meets
        observations = torch.as_tensor(rng.uniform(-1, 1, (2, 3)).astype(np.float32))
        with torch.no_grad():
            whole = policy.module(observations)
            rows = torch.cat([policy.module(observations[i : i + 1]) for i in range(2)])
        differing += not torch.equal(whole, rows)
    assert differing > 0


class InputRecorder(torch.nn.Module):
    """An elementwise module (exact in any batch) that keeps every observation it is given."""

    def __init__(self) -> None:
        super().__init__()
        self.inputs: list[torch.Tensor] = []

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        self.inputs.append(obs.clone())
        return obs[:, :1]


def test_the_test_draws_observations_inside_the_observation_space_only() -> None:
    # The draws around 0 (scales 0.1, 1 and 10) are clipped into the bounds: a module may rely
    # on getting observations of its space (a lookup table, a log of a positive entry).
    low = np.array([-1.0, 0.0, 0.5], np.float32)
    high = np.array([1.0, 0.25, 20.0], np.float32)
    spec = EnvSpec(gym.spaces.Box(low, high), gym.spaces.Box(-1.0, 1.0, (1,)))
    module = InputRecorder()
    policy = TorchPolicy(module, spec)
    policy.start(4, eval=True)
    assert policy.row_by_row is False  # every probe batch ran
    seen = torch.cat(module.inputs).numpy()
    assert len(seen) == 2 * 4 * (_PROBE_BATCHES + _NEAR_ZERO_BATCHES)
    assert np.all((seen >= low) & (seen <= high))
    # clipped draws sit on the bounds
    assert np.any(seen == low)
    assert np.any(seen == high)


@pytest.mark.parametrize("net_seed", [1, 5, 12])
def test_a_small_network_that_rounds_by_batch_size_is_caught_by_the_test(net_seed: int) -> None:
    # Random 2-8-1 tanh networks on 2 sub-envs agree with themselves, batch against rows, on
    # ~70 % of observation batches around 0 (and on every batch at the point mass's +-3e38
    # bounds, where they saturate): with 8 batches around 0 the test passed ~27 % of them, and
    # sample() differed from rollout() in the last bits. These three were among them.
    env = "gymsamp/PointMass-v0"
    spec = EnvSpec.from_env(gym.make(env))
    torch.manual_seed(net_seed)  # the network's initial weights only (the policy draws none)
    module = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    policy = TorchPolicy(module, spec)
    with ParallelRolloutSampler(
        env, policy, 2, min_rollouts=4, seed=0, max_steps=50, vectorization="sync",
        show_progress_bar=False,
    ) as sampler:  # fmt: skip
        rollouts = sampler.sample()
    assert policy.row_by_row is True
    for k, ro in enumerate(rollouts):
        ref = rollout(
            env, TorchPolicy(module, spec), seed=0, sub_seed=0, sub_sub_seed=k, max_steps=50
        )
        np.testing.assert_array_equal(ro.actions, ref.actions)
        np.testing.assert_array_equal(ro.observations, ref.observations)


class _TupleInput(torch.nn.Module):
    """Actions from a (Box, Discrete) observation; ``centred``: minus the batch's mean, so a
    row's actions depend on the rows beside it."""

    def __init__(self, centred: bool) -> None:
        super().__init__()
        self.centred = centred

    def forward(self, obs: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        x = obs[0] + obs[1].to(obs[0].dtype)[:, None]
        return x - x.mean(0, keepdim=True) if self.centred else x


class _Centred(torch.nn.Module):
    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return obs[:, :1] - obs[:, :1].mean(0, keepdim=True)


class _Unsampleable(gym.spaces.Space):
    """A space of (3,) float32 arrays that Gymnasium cannot batch (nor gymsamp draw from)."""

    def __init__(self) -> None:
        super().__init__((3,), np.float32)


@pytest.mark.parametrize(("centred", "row_by_row"), [(False, False), (True, True)])
def test_the_test_draws_tuple_and_discrete_observations(centred: bool, row_by_row: bool) -> None:
    space = gym.spaces.Tuple((gym.spaces.Box(-1.0, 1.0, (1,)), gym.spaces.Discrete(3)))
    policy = TorchPolicy(_TupleInput(centred), EnvSpec(space, gym.spaces.Box(-9.0, 9.0, (1,))))
    policy.start(3, eval=True)
    assert policy.row_by_row is row_by_row


def test_a_space_the_test_cannot_draw_from_runs_the_model_batched() -> None:
    spec = EnvSpec(_Unsampleable(), gym.spaces.Box(-9.0, 9.0, (1,)))
    box = EnvSpec(gym.spaces.Box(-1.0, 1.0, (3,)), spec.action_space)
    for observations, row_by_row in ((box, True), (spec, False)):
        policy = TorchPolicy(_Centred(), observations)  # each row depends on the batch
        policy.start(3, eval=True)
        assert policy.row_by_row is row_by_row  # undrawable: as a model gymsamp may not test


@pytest.mark.parametrize(
    ("first", "second", "same"),
    [
        ({"a": np.zeros(2)}, {"a": np.zeros(2)}, True),
        ({"a": np.zeros(2)}, {"a": np.zeros(2, np.float32)}, False),  # another dtype
        ({"a": np.zeros(2)}, {"b": np.zeros(2)}, False),
        # A model whose output is a dict on the batch and no dict on one row disagrees.
        ({"a": np.zeros(2)}, np.zeros(2), False),
        (np.zeros(2), {"a": np.zeros(2)}, False),
        ((np.zeros(2), torch.zeros(1)), (np.zeros(2), torch.zeros(1)), True),
        ((np.zeros(2),), np.zeros(2), False),
    ],
)
def test_outputs_are_the_same_bits_only_in_the_same_structure(first, second, same) -> None:
    assert _same_bits(first, second) is same
