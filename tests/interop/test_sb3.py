"""stable-baselines3 models as gymsamp policies, checked against SB3's own ``evaluate_policy``.

Why the returns agree: ``evaluate_policy`` on a single env runs its episodes one after another
in a ``DummyVecEnv``, which resets the env once at the start and again (without a seed) after
every episode. :class:`ResetSeeds` makes the ``k``-th of those resets use
``derive_seed(SEED, 0, k)``, the very seed gymsamp resets rollout ``k`` of the first
``sample()`` call with (DESIGN §4). A deterministic policy then takes the same actions in the
same states, so both produce the same episodes, step for step.
"""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest

from gymsamp.data import EnvSpec
from gymsamp.policies import SB3Policy, as_policy
from gymsamp.sampling import ParallelRolloutSampler, derive_seed, rollout
from tests.helpers import DictPendulum

sb3 = pytest.importorskip("stable_baselines3")
torch = pytest.importorskip("torch")

from stable_baselines3 import PPO  # noqa: E402
from stable_baselines3.common.evaluation import evaluate_policy  # noqa: E402
from stable_baselines3.common.monitor import Monitor  # noqa: E402
from stable_baselines3.common.vec_env import DummyVecEnv  # noqa: E402

SEED = 3
NUM_EPISODES = 6


class ResetSeeds(gym.Wrapper):
    """Resets with ``seeds[k]`` at its ``k``-th reset, whatever seed the caller passes."""

    def __init__(self, env: gym.Env, seeds: list[int]) -> None:
        super().__init__(env)
        self.seeds = list(seeds)
        self.resets = 0

    def reset(self, *, seed=None, options=None):
        k = self.resets
        self.resets += 1
        # evaluate_policy's DummyVecEnv resets once more after the last episode: no seed then.
        return self.env.reset(seed=self.seeds[k] if k < len(self.seeds) else None, options=options)


def sb3_episode_returns(model, seeds):
    env = DummyVecEnv([lambda: Monitor(ResetSeeds(gym.make("CartPole-v1"), seeds))])
    returns, lengths = evaluate_policy(
        model, env, n_eval_episodes=len(seeds), deterministic=True, return_episode_rewards=True
    )
    env.close()
    return [float(r) for r in returns], [int(n) for n in lengths]


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    """A PPO trained briefly (a few seconds), saved as SB3's zip."""
    model = PPO(
        "MlpPolicy", "CartPole-v1", seed=0, device="cpu", n_steps=512, batch_size=64, n_epochs=4
    )
    # SB3's default logger makes a folder under the temp dir on every learn(): keep it here.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SB3_LOGDIR", str(tmp_path_factory.mktemp("sb3_log")))
        model.learn(total_timesteps=2048)
    path = tmp_path_factory.mktemp("sb3") / "ppo_cartpole.zip"
    model.save(path)
    return path


@pytest.fixture(scope="module")
def model(model_path):
    return PPO.load(model_path, device="cpu")


@pytest.fixture(scope="module")
def sampled(model):
    with ParallelRolloutSampler(
        "CartPole-v1",
        model,
        num_workers=3,
        min_rollouts=NUM_EPISODES,
        seed=SEED,
        vectorization="sync",
        show_progress_bar=False,
    ) as sampler:
        assert isinstance(sampler.policy, SB3Policy)
        assert sampler.policy.deterministic
        return sampler.sample()


def test_returns_match_evaluate_policy(model, sampled):
    seeds = [derive_seed(SEED, 0, k) for k in range(NUM_EPISODES)]
    assert [ro.rollout_info["seed"] for ro in sampled] == seeds
    returns, lengths = sb3_episode_returns(model, seeds)
    assert [ro.undiscounted_return() for ro in sampled] == returns
    assert [ro.length for ro in sampled] == lengths
    assert len(set(lengths)) > 1, "the trained policy should not balance equally long every time"
    # The seeds matter: shifted by one episode, SB3's returns shift with them.
    shifted, _ = sb3_episode_returns(model, [*seeds[1:], derive_seed(SEED, 0, NUM_EPISODES)])
    assert shifted[:-1] == returns[1:]


def test_deterministic_actions_are_the_models_predictions(model, sampled):
    for ro in sampled:
        predicted, _ = model.predict(ro.observations[:-1], deterministic=True)
        np.testing.assert_array_equal(ro.actions, predicted)


def test_rollout_equals_sampler_and_loaded_policy_object(model, sampled):
    for k in (0, NUM_EPISODES - 1):
        ro = rollout("CartPole-v1", model, seed=SEED, sub_sub_seed=k)
        np.testing.assert_array_equal(ro.observations, sampled[k].observations)
        np.testing.assert_array_equal(ro.actions, sampled[k].actions)
    # SB3's policy module has predict() too (and is a torch module): still the SB3 adapter.
    ro = rollout("CartPole-v1", model.policy, seed=SEED, sub_sub_seed=0)
    np.testing.assert_array_equal(ro.actions, sampled[0].actions)


def test_stochastic_policy_is_reproducible_and_samples(model):
    spec = EnvSpec.from_env(gym.make("CartPole-v1"))
    torch_state = torch.get_rng_state()

    def sample():
        policy = as_policy(model, spec, deterministic=False)
        assert isinstance(policy, SB3Policy)
        assert not policy.deterministic
        with ParallelRolloutSampler(
            "CartPole-v1",
            policy,
            num_workers=2,
            min_rollouts=4,
            seed=SEED,
            vectorization="sync",
            show_progress_bar=False,
        ) as sampler:
            return sampler.sample()

    first, second = sample(), sample()
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a.actions, b.actions)
    assert torch.equal(torch.get_rng_state(), torch_state)  # the global generator untouched
    observations = np.concatenate([ro.observations[:-1] for ro in first])
    actions = np.concatenate([ro.actions for ro in first])
    greedy, _ = model.predict(observations, deterministic=True)
    disagree = np.mean(actions != greedy)
    assert 0.0 < disagree < 0.5, disagree  # sampled from the policy, mostly its mode


class FakeRecurrentPPO:
    """sb3-contrib's ``RecurrentPPO.predict`` API: state ``(h, c)`` of shape (layers, B, 1).

    ``h`` counts the steps since the episode start (the model zeroes it where
    ``episode_start``); the action is that count's parity. A state leaking across episodes
    shows up in the recorded hidden states and in the actions.
    """

    def predict(self, observation, state=None, episode_start=None, deterministic=False):
        batch = len(observation)
        if state is None:
            h = np.zeros((1, batch, 1))
        else:
            h = state[0] * (1.0 - episode_start.astype(float))[None, :, None]
        h = h + 1.0
        return (h[0, :, 0] - 1).astype(np.int64) % 2, (h, 2.0 * h)


def test_recurrent_predictor_through_the_sampler():
    with ParallelRolloutSampler(
        "gymsamp/RandomLength-v0",
        FakeRecurrentPPO(),
        num_workers=2,
        min_rollouts=5,
        seed=0,
        vectorization="sync",
        show_progress_bar=False,
    ) as sampler:
        rollouts = sampler.sample()
    assert len({ro.length for ro in rollouts}) > 1  # uneven episode ends between the sub-envs
    for k, ro in enumerate(rollouts):
        t = np.arange(ro.length)
        np.testing.assert_array_equal(ro.observations[:-1, 0], t)  # RandomLength: step number
        np.testing.assert_array_equal(ro.actions, t % 2)
        hidden = ro.agent_infos["hidden_states"]  # before each step, (T, len(state), 1, 1)
        assert hidden.shape == (ro.length, 2, 1, 1)
        np.testing.assert_array_equal(hidden[:, 0, 0, 0], t)
        np.testing.assert_array_equal(hidden[:, 1, 0, 0], 2 * t)
        ref = rollout("gymsamp/RandomLength-v0", FakeRecurrentPPO(), seed=0, sub_sub_seed=k)
        np.testing.assert_array_equal(ref.agent_infos["hidden_states"], hidden)


def test_batch_invariant_stochastic_ppo_equals_sequential_rollouts():
    """An SB3 model on continuous actions, sampling (deterministic=False): with
    batch_invariant, three sub-envs give exactly the one-env rollouts (batched, the network's
    products and the shared seed would make them differ)."""
    model = PPO("MlpPolicy", "Pendulum-v1", seed=0, device="cpu")
    spec = EnvSpec.from_env(gym.make("Pendulum-v1"))
    policy = SB3Policy(model, spec, deterministic=False, batch_invariant=True)
    with ParallelRolloutSampler(
        "Pendulum-v1",
        policy,
        3,
        min_rollouts=3,
        seed=1,
        max_steps=40,
        vectorization="sync",
        show_progress_bar=False,
    ) as sampler:
        rollouts = sampler.sample()
    for k, ro in enumerate(rollouts):
        ref = rollout("Pendulum-v1", policy, seed=1, sub_sub_seed=k, max_steps=40)
        np.testing.assert_array_equal(ro.observations, ref.observations)
        np.testing.assert_array_equal(ro.actions, ref.actions)
    assert len({ro.actions[:3].tobytes() for ro in rollouts}) == 3


class OneDrawPPO(PPO):
    """A PPO subclass (so gymsamp tests it) acting elementwise, batch invariant, whose sampling
    draws one number from torch's generator for the whole batch (the same noise for every
    row)."""

    def predict(self, observation, state=None, episode_start=None, deterministic=False):
        actions = np.clip(np.asarray(observation)[:, 2:3] * 0.5, -2.0, 2.0).astype(np.float32)
        if not deterministic:
            actions = actions + torch.randn(1).numpy()
        return actions, state


def test_a_model_drawing_once_per_batch_runs_row_by_row_and_equals_rollouts():
    # Its batch-invariance test seeded the batch and every row alike, so one draw for the
    # batch equalled each row's: it ran batched, all sub-envs got the same noise from the
    # batch's seed, and sample() differed from rollout(). The rows are now seeded apart.
    model = OneDrawPPO("MlpPolicy", "Pendulum-v1", seed=0, device="cpu")
    spec = EnvSpec.from_env(gym.make("Pendulum-v1"))
    policy = SB3Policy(model, spec, deterministic=False)
    with ParallelRolloutSampler(
        "Pendulum-v1", policy, 2, min_rollouts=2, seed=1, max_steps=20,
        vectorization="sync", show_progress_bar=False,
    ) as sampler:  # fmt: skip
        rollouts = sampler.sample()
    assert policy.row_by_row is True
    for k, ro in enumerate(rollouts):
        ref = rollout("Pendulum-v1", policy, seed=1, sub_sub_seed=k, max_steps=20)
        np.testing.assert_array_equal(ro.actions, ref.actions)


@pytest.mark.parametrize("deterministic", [True, False], ids=["deterministic", "stochastic"])
def test_multi_input_ppo_on_dict_observations(deterministic):
    """SB3's MultiInputPolicy on a Dict observation space: deterministic actions are the model's
    predictions on the recorded observation dicts, and with batch_invariant a sampler equals
    one-env rollout() calls (the rows of the dict batch are cut out leaf by leaf)."""
    model = PPO("MultiInputPolicy", DictPendulum(), seed=0, device="cpu")
    policy = SB3Policy(
        model, EnvSpec.from_env(DictPendulum()), deterministic=deterministic, batch_invariant=True
    )
    with ParallelRolloutSampler(
        DictPendulum,
        policy,
        3,
        min_rollouts=3,
        seed=1,
        max_steps=30,
        vectorization="sync",
        show_progress_bar=False,
    ) as sampler:
        rollouts = sampler.sample()
    for k, ro in enumerate(rollouts):
        assert sorted(ro.observations) == ["angle", "speed"]
        assert ro.observations["speed"].shape == (31, 1)
        ref = rollout(DictPendulum(), policy, seed=1, sub_sub_seed=k, max_steps=30)
        for key in ("angle", "speed"):
            np.testing.assert_array_equal(ro.observations[key], ref.observations[key])
        np.testing.assert_array_equal(ro.actions, ref.actions)
        if deterministic:
            recorded = {key: value[:-1] for key, value in ro.observations.items()}
            predicted, _ = model.predict(recorded, deterministic=True)
            np.testing.assert_allclose(ro.actions, predicted, rtol=1e-6, atol=1e-6)
    assert len({ro.actions[:3].tobytes() for ro in rollouts}) == 3


def test_sb3_contrib_recurrent_ppo_is_reproducible_and_resets_its_state_per_episode():
    from sb3_contrib import RecurrentPPO  # the sb3 extra installs sb3-contrib

    model = RecurrentPPO(
        "MlpLstmPolicy", "CartPole-v1", n_steps=32, batch_size=32, seed=0, device="cpu"
    )
    sequential = [rollout("CartPole-v1", model, seed=0, sub_sub_seed=k) for k in range(4)]
    for num_workers, vectorization in ((1, "sync"), (4, "sync"), (2, "async")):
        with ParallelRolloutSampler(
            "CartPole-v1",
            model,
            num_workers,
            min_rollouts=4,
            seed=0,
            vectorization=vectorization,
            show_progress_bar=False,
        ) as sampler:
            sampled = sampler.sample()
        for ro, ref in zip(sampled, sequential, strict=True):
            np.testing.assert_array_equal(ro.observations, ref.observations)
            np.testing.assert_array_equal(ro.actions, ref.actions)
    for ro in sequential:  # (h, c) before each step, batch first: (T, 2, layers, hidden)
        hidden = ro.agent_infos["hidden_states"]
        assert hidden.shape == (ro.length, 2, 1, 256)
        assert not hidden[0].any()  # zeroed at the episode's start
        assert hidden[1:].any()  # and carried on from step to step


@pytest.mark.parametrize("vectorization", ["sync", "async"])
def test_a_model_trained_on_another_env_is_refused_before_sampling(model, vectorization):
    # It failed mid-run inside SB3: "Unexpected observation shape (1, 3) for Box environment".
    message = (
        "SB3Policy: model must be made for the env's observations Box(shape=(3,), "
        "dtype=float32), got a model for observations Box(shape=(4,), dtype=float32) "
        "(trained on another env?)"
    )
    with pytest.raises(ValueError, match="trained on another env") as info:
        ParallelRolloutSampler(
            "Pendulum-v1", model, 2, min_rollouts=2, vectorization=vectorization,
            show_progress_bar=False,
        )  # fmt: skip
    assert str(info.value) == message
    with pytest.raises(ValueError, match="trained on another env") as info:
        rollout("Pendulum-v1", model, seed=0)
    assert str(info.value) == message


class BinaryEnv(gym.Env):
    """Three switches to set (a ``MultiBinary`` action space); five steps per episode."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    action_space = gym.spaces.MultiBinary(3)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self.np_random.uniform(-1, 1, 2).astype(np.float32), {}

    def step(self, action):
        assert self.action_space.contains(action)
        self.t += 1
        obs = self.np_random.uniform(-1, 1, 2).astype(np.float32)
        return obs, float(np.sum(action)), self.t == 5, False, {}


@pytest.mark.parametrize("deterministic", [True, False], ids=["deterministic", "stochastic"])
def test_models_on_multi_binary_actions(deterministic):
    # SB3 returns Bernoulli actions as floats 0. and 1.; they were refused ("policy must return
    # actions of a numeric dtype that the action space MultiBinary(3) takes").
    model = PPO("MlpPolicy", BinaryEnv(), n_steps=16, batch_size=16, seed=0, device="cpu")
    policy = as_policy(model, EnvSpec.from_env(BinaryEnv()), deterministic=deterministic)
    sequential = [rollout(BinaryEnv, policy, seed=2, sub_sub_seed=k) for k in range(4)]
    with ParallelRolloutSampler(
        BinaryEnv, policy, 2, min_rollouts=4, seed=2, show_progress_bar=False
    ) as sampler:
        rollouts = sampler.sample()
    for ro, ref in zip(rollouts, sequential, strict=True):
        assert ro.actions.dtype == np.int8  # MultiBinary's own dtype
        np.testing.assert_array_equal(ro.actions, ref.actions)
        if deterministic:
            for obs, action in zip(ro.observations[:-1], ro.actions, strict=True):
                predicted, _ = model.predict(obs, deterministic=True)
                np.testing.assert_array_equal(predicted, action)
    assert {tuple(a) for ro in rollouts for a in ro.actions} <= {
        tuple(int(b) for b in f"{i:03b}") for i in range(8)
    }


def test_parameter_exploration_names_what_an_sb3_policy_network_lacks():
    from gymsamp.sampling import ParameterExplorationSampler

    network = PPO("MlpPolicy", "Pendulum-v1", device="cpu", seed=0).policy  # a torch module
    with pytest.raises(TypeError) as info:
        ParameterExplorationSampler("Pendulum-v1", network, 1, 1, 1, seed=0)
    assert str(info.value).endswith(
        "got SB3Policy; an object with predict() (an SB3 model or policy network) runs through "
        "predict(), which takes no per-sub-env parameters: pass a torch module whose "
        "forward(obs) returns the actions"
    )


def test_a_model_trained_on_normalized_observations_is_warned_about():
    # It acted on the env's raw observations, which it never saw in training, silently.
    from stable_baselines3.common.vec_env import VecNormalize

    spec = EnvSpec.from_env(gym.make("Pendulum-v1"))
    venv = VecNormalize(DummyVecEnv([lambda: gym.make("Pendulum-v1")]))
    model = PPO("MlpPolicy", venv, n_steps=64, batch_size=64, seed=0, device="cpu")
    with pytest.warns(UserWarning, match="trained on a VecNormalize env") as caught:
        SB3Policy(model, spec)
    assert str(caught[0].message) == (
        "SB3Policy: model must see observations as in training, got a PPO trained on a "
        "VecNormalize env that normalizes them (model.get_vec_normalize_env()), while predict() "
        "gets the env's raw observations here; put the frozen statistics in front of predict "
        "(see 'Models trained with VecNormalize' in the policies guide)"
    )
    assert caught[0].filename == __file__  # the user's line
    with pytest.warns(UserWarning, match="trained on a VecNormalize env"):
        rollout("Pendulum-v1", model, seed=0, max_steps=2)
    # Rewards normalized only, or no VecNormalize: the observations are the env's; no warning.
    for env in (VecNormalize(DummyVecEnv([lambda: gym.make("Pendulum-v1")]), norm_obs=False),
                DummyVecEnv([lambda: gym.make("Pendulum-v1")])):  # fmt: skip
        other = PPO("MlpPolicy", env, n_steps=64, batch_size=64, seed=0, device="cpu")
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            SB3Policy(other, spec)


@pytest.mark.parametrize(("gamma", "lamb"), [(0.99, 0.95), (0.9, 1.0), (1.0, 0.0)])
def test_gae_returns_equal_the_advantages_of_sb3s_rollout_buffer(gamma, lamb):
    """An independent reference for GAE at episode boundaries: SB3's PPO buffer.

    SB3 cuts the advantage recursion at every episode start and, for an episode cut by its
    time limit, adds ``gamma * V(terminal observation)`` to the last reward (its
    ``collect_rollouts``): gymsamp's bootstrap of ``V(s_T)`` on TIMEOUT and 0 on TERMINAL.
    """
    from stable_baselines3.common.buffers import RolloutBuffer

    from gymsamp.data import StepSequence, StepType, gae_returns
    from gymsamp.policies import RandomPolicy

    env = gym.make("CartPole-v1", max_episode_steps=15)  # TIMEOUT and TERMINAL endings
    weights = np.array([0.3, -1.2, 2.5, 0.7])

    def value(obs: np.ndarray) -> np.ndarray:
        return np.tanh(obs @ weights) + 1.0

    policy = RandomPolicy(env.action_space)
    with ParallelRolloutSampler(
        env, policy, 2, min_rollouts=12, seed=4, show_progress_bar=False
    ) as sampler:
        rollouts = sampler.sample()
    endings = {StepType(int(ro.step_types[-1])) for ro in rollouts}
    assert endings == {StepType.TERMINAL, StepType.TIMEOUT}  # both boundaries are exercised
    for ro in rollouts:
        ro.add_data("values", value(ro.observations), with_after_last=True)

    total = sum(ro.length for ro in rollouts)
    buffer = RolloutBuffer(
        total,
        env.observation_space,
        env.action_space,
        device="cpu",
        gae_lambda=lamb,
        gamma=gamma,
        n_envs=1,
    )
    for ro in rollouts:
        for t in range(ro.length):
            reward = float(ro.rewards[t])
            if t == ro.length - 1 and ro.truncated[t] and not ro.terminated[t]:
                reward += gamma * float(value(ro.observations[-1]))
            buffer.add(
                ro.observations[t][None],
                np.asarray([[ro.actions[t]]]),
                np.asarray([reward]),
                np.asarray([t == 0]),
                torch.as_tensor([float(value(ro.observations[t]))]),
                torch.zeros(1),
            )
    # The buffer's last step ends an episode: nothing follows it.
    buffer.compute_returns_and_advantage(torch.zeros(1), np.ones(1))

    advantages = gae_returns(StepSequence.concat(rollouts), gamma=gamma, lamb=lamb)
    np.testing.assert_allclose(advantages, buffer.advantages.ravel(), rtol=1e-5, atol=1e-5)
