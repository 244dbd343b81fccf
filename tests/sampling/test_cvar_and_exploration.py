import copy
import math
import pickle

import gymnasium as gym
import numpy as np
import pytest
import torch

from gymsamp.data import EnvSpec, StepSequence
from gymsamp.envs import (
    CountingEnv,
    DomainRandomizer,
    DomainRandWrapper,
    NormalDomainParam,
    PointMassEnv,
    UniformDomainParam,
)
from gymsamp.policies import IdlePolicy, LinearPolicy, TorchPolicy, as_policy
from gymsamp.sampling import (
    CVaRSampler,
    ParallelRolloutSampler,
    ParameterExplorationSampler,
    ParameterSample,
    ParameterSamplingResult,
    derive_seed,
    rollout,
    select_cvar,
)


def seq(ret):
    return StepSequence(rewards=[ret, 0.0], observations=[0, 0, 0], actions=[0, 0])


def random_length_sampler(num_workers: int, *, min_rollouts: int) -> ParallelRolloutSampler:
    return ParallelRolloutSampler(
        "gymsamp/RandomLength-v0",
        IdlePolicy(gym.spaces.Discrete(2)),
        num_workers,
        min_rollouts=min_rollouts,
        seed=0,
        show_progress_bar=False,
    )


class TestCVaR:
    def test_select_cvar_keeps_the_worst_quantile_without_reordering(self):
        rollouts = [seq(r) for r in (5.0, -1.0, 3.0, 0.0, 7.0, 2.0, 9.0, 1.0, 4.0, 6.0)]
        original = list(rollouts)
        worst = select_cvar(rollouts, 0.3)
        assert [ro.undiscounted_return() for ro in worst] == [-1.0, 0.0, 1.0]
        assert rollouts == original  # the caller's list is untouched
        # the mean of the selection is the empirical CVaR of the set
        returns = np.sort([ro.undiscounted_return() for ro in rollouts])
        assert np.mean([ro.undiscounted_return() for ro in worst]) == returns[:3].mean()
        # Equal returns keep their order (a stable sort): the earlier rollouts are selected.
        tied = [seq(r) for r in (1.0, 2.0, 1.0, 1.0)]
        kept = select_cvar(tied, 0.5)
        assert kept[0] is tied[0]
        assert kept[1] is tied[2]

    @pytest.mark.parametrize(
        ("n", "epsilon", "kept"),
        [(3, 0.5, 1), (5, 0.5, 2), (7, 0.5, 3), (10, 0.35, 3), (100, 0.29, 29), (10, 0.7, 7)],
    )
    def test_select_cvar_keeps_epsilon_n_rounded_down_as_pyrado(self, n, epsilon, kept):
        # round() rounded half to even: 3 rollouts at 0.5 kept 2 (more than the worst half),
        # 7 kept 4 and 10 at 0.35 kept 4, while 5 kept 2. pyrado kept floor(epsilon * n);
        # 0.29 * 100 is 28.999999999999996 in float64 and still keeps 29.
        rollouts = [seq(float(r)) for r in reversed(range(n))]
        worst = select_cvar(rollouts, epsilon)
        assert [ro.undiscounted_return() for ro in worst] == [float(r) for r in range(kept)]

    def test_the_wrapped_sampler_count_ignores_float_noise(self):
        # 7 / 0.7 is 10.000000000000002 in float64: its ceil made the inner sampler collect 11
        # rollouts, one more than 1 / epsilon times the bound.
        inner = random_length_sampler(1, min_rollouts=1)
        with CVaRSampler(inner, epsilon=0.7, min_rollouts=7):
            assert inner.min_rollouts == 10
        inner = random_length_sampler(1, min_rollouts=1)
        with CVaRSampler(inner, epsilon=0.1, min_rollouts=3, min_steps=7):
            assert (inner.min_rollouts, inner.min_steps) == (30, 70)

    def test_gamma_ranks_by_discounted_return(self):
        early = StepSequence(rewards=[1.0, 0.0], observations=[0, 0, 0], actions=[0, 0])
        late = StepSequence(rewards=[0.0, 1.1], observations=[0, 0, 0], actions=[0, 0])
        assert select_cvar([early, late], 0.5, gamma=1.0) == [early]
        assert select_cvar([early, late], 0.5, gamma=0.5) == [late]

    @pytest.mark.parametrize("epsilon", [0.0, 1.5, -0.1])
    def test_bad_epsilon(self, epsilon):
        with pytest.raises(ValueError, match=r"epsilon must be a number in \(0, 1\]"):
            select_cvar([seq(1.0)], epsilon)
        with pytest.raises(ValueError, match="must be at least 1"):
            select_cvar([seq(1.0)], 0.2)

    def test_a_subnormal_epsilon_is_refused_where_its_inverse_overflows(self):
        # 1 / 1e-320 is inf: CVaRSampler's and summarize's rollout counts raised a bare
        # OverflowError ("cannot convert float infinity to integer").
        with pytest.raises(
            ValueError, match=r"\(0, 1\] whose inverse is a finite float, got 1e-320"
        ):
            select_cvar([seq(1.0)], 1e-320)
        with pytest.raises(ValueError, match="whose inverse is a finite float"):
            CVaRSampler(random_length_sampler(1, min_rollouts=1), 1e-320, min_rollouts=1)
        with pytest.raises(ValueError, match="must be at least 1"):  # a tiny normal float is fine
            select_cvar([seq(1.0)], 1e-300)

    @pytest.mark.parametrize("epsilon", [np.float32(0.5), np.float64(0.5), np.int64(1), 0.5])
    def test_numpy_scalar_epsilon(self, epsilon):
        # A level read from a numpy array or config (np.float32) was refused as "not a number
        # in (0, 1]"; only Python's int and float passed.
        rollouts = [seq(r) for r in (3.0, 1.0)]
        expected = [1.0] if epsilon < 1 else [1.0, 3.0]
        assert [ro.undiscounted_return() for ro in select_cvar(rollouts, epsilon)] == expected
        inner = random_length_sampler(1, min_rollouts=1)
        with CVaRSampler(inner, epsilon=epsilon, min_rollouts=2) as sampler:
            assert sampler.epsilon == float(epsilon)
            assert type(sampler.epsilon) is float
            assert inner.min_rollouts == math.ceil(2 / float(epsilon))

    @pytest.mark.parametrize("epsilon", ["0.5", None, True, np.bool_(True), [0.5]])
    def test_epsilon_that_is_no_number_is_a_type_error(self, epsilon):
        with pytest.raises(TypeError, match=r"epsilon must be a number in \(0, 1\], got"):
            select_cvar([seq(1.0)], epsilon)
        with pytest.raises(TypeError, match=r"epsilon must be a number in \(0, 1\], got"):
            CVaRSampler(random_length_sampler(1, min_rollouts=1), epsilon)

    def test_nan_epsilon(self):
        with pytest.raises(ValueError, match=r"epsilon must be a number in \(0, 1\], got nan"):
            select_cvar([seq(1.0)], float("nan"))

    def test_sampler_samples_more_and_selects(self):
        inner = random_length_sampler(2, min_rollouts=1)
        with CVaRSampler(inner, epsilon=0.25, min_rollouts=3) as sampler:
            assert inner.min_rollouts == 12
            rollouts = sampler.sample()
            assert len(rollouts) == 3
        with random_length_sampler(1, min_rollouts=12) as full:
            everything = full.sample()
        lengths = sorted(ro.length for ro in everything)
        # RandomLength rewards sum the step counts: the shortest episodes have the lowest returns
        assert sorted(ro.length for ro in rollouts) == lengths[:3]

    def test_the_wrapped_sampler_gets_the_bounds_divided_by_epsilon_rounded_up(self):
        inner = random_length_sampler(1, min_rollouts=1)
        # Each bound is divided by epsilon, rounded up: the inner sampler collects 1 / epsilon
        # times as much before the selection (not the bound itself, nor one rollout too few).
        with CVaRSampler(inner, epsilon=0.3, min_rollouts=2) as sampler:
            assert inner.min_rollouts == math.ceil(2 / 0.3) == 7
            assert inner.min_steps is None
            sampler.set_min_count(min_steps=10)
            assert inner.min_rollouts == math.ceil(1 / 0.3) == 4  # so the worst 30% hold one
            assert inner.min_steps == math.ceil(10 / 0.3) == 34

    def test_a_step_bound_alone_keeps_at_least_one_rollout(self):
        # One long rollout met the inner step bound, and the worst 25% of 1 rounded to none:
        # select_cvar raised about a list the caller never gave.
        inner = random_length_sampler(1, min_rollouts=1)
        with CVaRSampler(inner, epsilon=0.25, min_steps=1) as sampler:
            assert (inner.min_rollouts, inner.min_steps) == (4, 4)
            (worst,) = sampler.sample()
        with random_length_sampler(1, min_rollouts=4) as full:
            everything = full.sample()
        assert worst.length == min(ro.length for ro in everything)

    def test_reinit_and_close_reach_the_wrapped_sampler(self):
        import multiprocessing

        def children():
            return [p for p in multiprocessing.active_children() if p.is_alive()]

        before = len(children())
        inner = ParallelRolloutSampler(
            lambda: CountingEnv(terminate_at=2),
            IdlePolicy(gym.spaces.Discrete(2)),
            2,
            min_rollouts=1,
            seed=0,
            vectorization="async",
            show_progress_bar=False,
        )
        with CVaRSampler(inner, epsilon=0.5, min_rollouts=1) as sampler:
            assert [ro.length for ro in sampler.sample()] == [2]
            assert len(children()) == before + 2
            sampler.reinit(env=lambda: CountingEnv(terminate_at=4))
            assert len(children()) == before  # the wrapped sampler's workers ended
            assert [ro.length for ro in sampler.sample()] == [4]
            assert len(children()) == before + 2
        assert len(children()) == before  # closed with the CVaR sampler


def exploration_env():
    randomizer = DomainRandomizer(
        UniformDomainParam("mass", mean=1.0, halfspan=0.5),
        NormalDomainParam("friction", mean=0.5, std=0.1, clip_lo=0.0),
    )
    return DomainRandWrapper(PointMassEnv(), randomizer)


class TestParameterExploration:
    def make(self, **kwargs):
        spec_policy = LinearPolicy((2, 1))
        return ParameterExplorationSampler(
            exploration_env,
            spec_policy,
            num_init_states_per_domain=2,
            num_domains=3,
            num_workers=2,
            max_steps=20,
            **{"seed": 7, **kwargs},
        )

    def test_common_random_numbers_and_pairing(self):
        params = np.random.default_rng(0).normal(size=(4, 3))
        with self.make() as sampler:
            assert sampler.num_rollouts_per_param == 6
            result = sampler.sample(params)
        assert len(result) == 4
        assert result.num_rollouts() == 24
        np.testing.assert_array_equal(result.parameters(), params)
        reference = result[0].rollouts
        for sample in result:
            assert sample.num_rollouts == 6
            for i, (ro, ref) in enumerate(zip(sample.rollouts, reference, strict=True)):
                # every parameter set sees the same (domain, init state) pairs in the same order
                assert ro.rollout_info["domain_param"] == ref.rollout_info["domain_param"]
                np.testing.assert_array_equal(
                    ro.rollout_info["init_state"], ref.rollout_info["init_state"]
                )
                assert ro.rollout_info["seed"] == derive_seed(7, 0, i)
                assert ro.rollout_info["domain_index"] == i // 2
        domains = [ro.rollout_info["domain_param"] for ro in reference]
        assert domains[0] == domains[1] != domains[2] == domains[3] != domains[4] == domains[5]
        # each init state was drawn for its domain: resetting a fresh env with that seed and
        # domain gives exactly the recorded initial state
        env = exploration_env()
        for i, ro in enumerate(reference):
            obs, _ = env.reset(seed=derive_seed(7, 0, i), options={"domain_param": domains[i]})
            np.testing.assert_array_equal(obs, ro.observations[0])
        # different parameter sets act differently on the same start
        assert not np.array_equal(result[0].rollouts[0].actions, result[1].rollouts[0].actions)

    def test_common_random_numbers_without_a_seed(self):
        params = np.random.default_rng(0).normal(size=(3, 3))
        with self.make(seed=None) as sampler:
            results = [sampler.sample(params), sampler.sample(params)]
        for result in results:
            reference = result[0].rollouts
            for sample in result:
                for ro, ref in zip(sample.rollouts, reference, strict=True):
                    assert ro.rollout_info["seed"] == ref.rollout_info["seed"]
                    assert ro.rollout_info["domain_param"] == ref.rollout_info["domain_param"]
                    np.testing.assert_array_equal(ro.observations[0], ref.observations[0])
            assert len({ro.observations[0].tobytes() for ro in reference}) == 6
        # a new call draws new entropy: new domains and starts
        first, second = (r[0].rollouts[0] for r in results)
        assert first.rollout_info["seed"] != second.rollout_info["seed"]
        assert first.rollout_info["domain_param"] != second.rollout_info["domain_param"]

    def test_reinit_to_an_env_without_randomizer_runs_every_domain_nominal(self):
        params = np.zeros((1, 3))
        with self.make() as sampler:
            drawn = [ro.rollout_info["domain_param"] for ro in sampler.sample(params)[0].rollouts]
            sampler.reinit(env=PointMassEnv)
            after = [ro.rollout_info["domain_param"] for ro in sampler.sample(params)[0].rollouts]
        assert len({str(d) for d in drawn}) == 3
        assert after == [{"mass": 1.0, "friction": 0.5, "dt": 0.05}] * 6

    def test_a_refused_reinit_policy_leaves_the_previous_policy(self):
        # The policy was refused after it had replaced the sampler's own: every later call
        # failed with "'CallablePolicy' object has no attribute 'num_params'".
        params = np.random.default_rng(0).normal(size=(2, 3))
        with self.make() as sampler:
            sampler.sample(params)
            with pytest.raises(
                TypeError, match="policy must have a flat parameter vector .*, got CallablePolicy"
            ):
                sampler.reinit(policy=lambda obs: np.zeros((len(obs), 1)))
            assert isinstance(sampler.policy, LinearPolicy)
            again = sampler.sample(params)
        self._assert_second_call_of_a_fresh_sampler(params, again)

    def test_a_reinit_with_a_policy_alone_keeps_the_envs_randomizer(self):
        # Only a new env brings a new randomizer: calls after a policy-only reinit draw their
        # domains as if there had been none.
        params = np.random.default_rng(0).normal(size=(2, 3))
        with self.make() as sampler:
            sampler.sample(params)
            replacement = LinearPolicy((2, 1))
            sampler.reinit(policy=replacement)
            assert sampler.policy is replacement
            again = sampler.sample(params)
        self._assert_second_call_of_a_fresh_sampler(params, again)
        assert len({str(ro.rollout_info["domain_param"]) for ro in again[0].rollouts}) == 3

    def _assert_second_call_of_a_fresh_sampler(self, params, result):
        """``result`` is what a fresh sampler's second call with ``params`` returns: the same
        domains and actions (a reinit that kept the env changed nothing of either)."""
        with self.make() as reference:
            expected = [reference.sample(params) for _ in range(2)][1]
        for before, after in zip(expected, result, strict=True):
            for ro, ref in zip(before.rollouts, after.rollouts, strict=True):
                assert ro.rollout_info["domain_param"] == ref.rollout_info["domain_param"]
                np.testing.assert_array_equal(ro.actions, ref.actions)

    def test_each_seeded_call_draws_new_domains(self):
        # Call c resets rollout i with derive_seed(seed, c, i) and draws its domains from a
        # stream of its own: a second call must not repeat the first call's domains.
        params = np.zeros((1, 3))
        with self.make() as sampler:
            calls = [sampler.sample(params)[0].rollouts for _ in range(2)]
        for c, rollouts in enumerate(calls):
            seeds = [ro.rollout_info["seed"] for ro in rollouts]
            assert seeds == [derive_seed(7, c, i) for i in range(6)]
        first, second = ([ro.rollout_info["domain_param"] for ro in ros[::2]] for ros in calls)
        assert len({str(d) for d in first + second}) == 6  # 3 domains per call, all different

    def test_each_parameter_set_acts_with_its_own_parameters(self):
        params = np.array([[0.0, 0.0, 0.3], [1.0, -1.0, 0.0]])
        with self.make() as sampler:
            result = sampler.sample(params)
        for p, sample in zip(params, result, strict=True):
            ro = sample.rollouts[0]
            expected = ro.observations[:-1] @ p[:2] + p[2]
            np.testing.assert_allclose(ro.actions[:, 0], expected, rtol=1e-5, atol=1e-6)

    def test_deterministic_with_its_seed_and_mean_returns(self):
        params = np.zeros((2, 3))
        with self.make() as a, self.make() as b:
            ra, rb = a.sample(params), b.sample(params)
        np.testing.assert_array_equal(ra.mean_returns(), rb.mean_returns())
        assert ra.mean_returns()[0] == pytest.approx(
            np.mean([ro.undiscounted_return() for ro in ra[0].rollouts])
        )

    def test_fixed_init_states_and_torch_params(self):
        states = [np.array([0.5, 0.0]), np.array([-0.5, 0.0])]
        with self.make() as sampler:
            result = sampler.sample(torch.zeros(2, 3, dtype=torch.float64), init_states=states)
        assert isinstance(result.parameters(), torch.Tensor)
        starts = [ro.rollout_info["init_state"].tolist() for ro in result[0].rollouts]
        assert starts == [s.tolist() for s in states] * 3

    def test_a_none_init_state_is_drawn_by_its_seeded_reset(self):
        # numpy read None as a NaN scalar: refused as "init_states[0] must have shape (2,) ...,
        # got shape ()", where ParallelRolloutSampler draws that state by the reset.
        fixed = np.array([0.5, 0.0])
        with self.make() as free, self.make() as sampler:
            drawn = free.sample(np.zeros((1, 3)))[0].rollouts
            result = sampler.sample(np.zeros((1, 3)), init_states=[None, fixed])[0].rollouts
        for i, (ro, ref) in enumerate(zip(result, drawn, strict=True)):
            expected = fixed if i % 2 else ref.rollout_info["init_state"]
            np.testing.assert_array_equal(ro.rollout_info["init_state"], expected)
        assert not np.array_equal(drawn[0].rollout_info["init_state"], fixed)
        with self.make() as sampler:  # all None: every state drawn, as without init_states
            unfixed = sampler.sample(np.zeros((1, 3)), init_states=[None, None])[0].rollouts
        for ro, ref in zip(unfixed, drawn, strict=True):
            np.testing.assert_array_equal(
                ro.rollout_info["init_state"], ref.rollout_info["init_state"]
            )

    @pytest.mark.parametrize(
        "init_states", [[object(), object()], [[1.0, "a"], [1.0, 2.0]], [[[1.0], [2.0, 3.0]]] * 2]
    )
    def test_init_states_that_are_no_arrays_of_numbers_are_refused(self, init_states):
        with (
            self.make() as sampler,
            pytest.raises(
                TypeError, match=r"^init_states must hold arrays of real numbers, got \["
            ),
        ):
            sampler.sample(np.zeros((1, 3)), init_states=init_states)

    @pytest.mark.parametrize("as_type", [np.asarray, torch.as_tensor, np.ndarray.tolist])
    def test_results_keep_their_parameters_when_the_callers_buffer_is_refilled(self, as_type):
        # Each ParameterSample held a view of the caller's row: a loop that refills one
        # buffer every iteration found every earlier result reporting the last parameters.
        buffer = as_type(np.zeros((2, 3)))
        results = []
        with self.make() as sampler:
            for it in range(2):
                for row in buffer:
                    for j in range(3):
                        row[j] = float(it)
                results.append(sampler.sample(buffer))
        for it, result in enumerate(results):
            assert np.asarray(result.parameters()).tolist() == [[float(it)] * 3] * 2
        # a copy of the caller's type (a list's rows become float64 arrays)
        expected = np.ndarray if isinstance(buffer, list) else type(buffer[0])
        assert type(results[0][0].params) is expected

    def test_parameter_sets_of_a_data_frame_are_kept_as_float_rows(self):
        # Each result's params were param_sets[p]: a DataFrame's column p, a KeyError for
        # named columns, raised after every rollout of the call had run.
        import pandas as pd

        table = np.array([[0.5, -1.0, 2.0], [1.5, 0.0, -2.0]])
        frame = pd.DataFrame(table, columns=["k_pos", "k_vel", "bias"])
        with self.make() as sampler:
            result = sampler.sample(frame)
        for sample, row in zip(result, table, strict=True):
            assert type(sample.params) is np.ndarray
            assert sample.params.tolist() == row.tolist()
        assert result.parameters().tolist() == table.tolist()

    def test_a_later_plain_sampler_does_not_inherit_per_env_parameters(self):
        policy = LinearPolicy((2, 1))
        with ParameterExplorationSampler(
            exploration_env, policy, 1, 1, 2, seed=0, max_steps=5
        ) as s:
            s.sample(np.ones((2, 3)))
        with ParallelRolloutSampler(
            exploration_env, policy, 2, min_rollouts=2, seed=0, max_steps=5, show_progress_bar=False
        ) as plain:
            ro = plain.sample()[0]
        np.testing.assert_allclose(ro.actions, 0.0)  # param_values are zeros

    def test_it_cannot_be_pickled_or_copied(self):
        # It owns a sampler's sub-envs; the refusal names it, not a lock inside it.
        message = (
            "a ParameterExplorationSampler cannot be pickled or copied: it owns its sub-envs "
            "and worker processes (build another one from the same env and policy)"
        )
        with self.make() as sampler:
            for copy_it in (pickle.dumps, copy.copy, copy.deepcopy):
                with pytest.raises(TypeError) as info:
                    copy_it(sampler)
                assert str(info.value) == message
            assert len(sampler.sample(np.zeros((1, 3)))) == 1  # unchanged by the attempts

    def test_validation(self):
        with self.make() as sampler:
            with pytest.raises(ValueError, match=r"param_sets must have shape \(N, 3\)"):
                sampler.sample(np.zeros((2, 4)))
            with pytest.raises(ValueError, match="init_states must hold"):
                sampler.sample(np.zeros((1, 3)), init_states=[np.zeros(2)] * 5)
            with pytest.raises(ValueError, match=r"init_states\[1\] must have shape \(2,\)"):
                sampler.sample(np.zeros((1, 3)), init_states=[np.zeros(2), np.zeros(5)])
            # Once numpy's or Python's own messages, naming no argument.
            table = r"param_sets must be an \(N, 3\) array of real numbers, got "
            for bad in ([[0, 0, "x"]], [[0, 0, 0], [0, 0]], np.full((1, 3), 0.1 + 5j)):
                with pytest.raises(TypeError, match=table):
                    sampler.sample(bad)
            with pytest.raises(TypeError, match="init_states must be None or a list of states"):
                sampler.sample(np.zeros((1, 3)), init_states=5)
        with pytest.raises(TypeError, match="ParametricPolicy"):
            ParameterExplorationSampler(CountingEnv, IdlePolicy(gym.spaces.Discrete(2)), 1, 1, 1)
        with pytest.raises(ValueError, match="num_domains must be an int >= 1"):
            ParameterExplorationSampler(exploration_env, LinearPolicy((2, 1)), 1, 0, 1)
        # Python's "got multiple values for keyword argument 'min_rollouts'" before.
        for bound in ("min_rollouts", "min_steps"):
            with pytest.raises(
                TypeError, match=rf"{bound} is not an option of ParameterExplorationSampler: "
            ):
                ParameterExplorationSampler(
                    exploration_env, LinearPolicy((2, 1)), 1, 1, 1, **{bound: 3}
                )


def negative_mass_pendulum():
    # Pendulum's adapter can tell a bad mass without an env; the randomizer draws only those.
    randomizer = DomainRandomizer(NormalDomainParam("m", mean=-1.0, std=0.1))
    return DomainRandWrapper(gym.make("Pendulum-v1"), randomizer)


def test_parameter_exploration_refuses_drawn_domains_the_env_refuses_up_front():
    # Was a WorkerError from a sub-env's reset ("sub-env 0 raised ValueError in reset").
    with ParameterExplorationSampler(
        negative_mass_pendulum,
        LinearPolicy((3, 1)),
        num_init_states_per_domain=1,
        num_domains=2,
        num_workers=1,
        seed=0,
        max_steps=3,
        vectorization="sync",  # "auto" would reset a probe env, which draws a bad mass itself
    ) as sampler:
        with pytest.raises(
            ValueError,
            match=r"^domain 0 drawn by the env's randomizer \(call 0\) must hold values "
            r"Pendulum-v1 accepts: domain_param\['m'\] must be a finite real number > 0, got "
            r"-[0-9.]+ \(bound the randomizer's distributions, e.g. with clip_lo / clip_up\)$",
        ):
            sampler.sample(np.zeros((2, 4)))
        assert sampler._sampler._local.envs is None  # no sub-env was started for it


class TestArgumentChecks:
    @pytest.mark.parametrize(
        ("rollouts", "message"),
        [
            (seq(1.0), r"rollouts must be a list of StepSequence, got a single StepSequence"),
            ([1, 2], r"rollouts\[0\] must be a StepSequence, got int"),
            (None, r"rollouts must be a list of StepSequence, got NoneType"),
        ],
    )
    def test_select_cvar_needs_a_list_of_rollouts(self, rollouts, message):
        with pytest.raises(TypeError, match=message):
            select_cvar(rollouts, 0.5)
        assert select_cvar((seq(2.0), seq(1.0)), 0.5)[0].undiscounted_return() == 1.0

    def test_cvar_sampler_wraps_only_a_gymsamp_sampler(self):
        with pytest.raises(
            TypeError, match=r"^wrapped_sampler must be a gymsamp sampler, got list$"
        ):
            CVaRSampler([seq(1.0)], 0.5)
        with random_length_sampler(1, min_rollouts=1) as inner:
            assert CVaRSampler(inner, 0.5, min_rollouts=1).wrapped_sampler is inner

    @pytest.mark.parametrize("empty", [[], ()])
    def test_select_cvar_names_an_empty_list(self, empty):
        # Was "epsilon * len(rollouts) must round to at least 1, got 0.5 * 0" (now "be at least 1").
        with pytest.raises(
            ValueError,
            match=r"^rollouts must hold at least one StepSequence to select from, got \[\]$",
        ):
            select_cvar(empty, 0.5)
        with pytest.raises(ValueError, match=r"must be at least 1, got 0.25 \* 1$"):
            select_cvar([seq(1.0)], 0.25)  # a list too short for epsilon is still named so

    def test_parameter_samples_must_have_rollouts(self):
        with pytest.raises(
            ValueError,
            match=r"rollouts must be a non-empty list of "
            r"StepSequence \(the rollouts of params\), got \[\]",
        ):
            ParameterSample(np.ones(2), [])  # its mean return was nan
        with pytest.raises(
            TypeError,
            match=r"rollouts must be a non-empty list .*got "
            r"StepSequence",
        ):
            ParameterSample(np.ones(2), seq(1.0))
        # Accepted before; mean_undiscounted_return then raised AttributeError.
        with pytest.raises(TypeError, match=r"rollouts\[1\] must be a StepSequence, got int"):
            ParameterSample(np.ones(2), [seq(1.0), 5])
        with pytest.raises(
            ValueError,
            match=r"samples must be a non-empty list of "
            r"ParameterSample, got \[\]",
        ):
            ParameterSamplingResult([])  # parameters() raised numpy's "need at least one array"
        with pytest.raises(
            TypeError, match=r"^samples must be a non-empty list of ParameterSample, got generator$"
        ):
            ParameterSamplingResult(ParameterSample(np.ones(2), [seq(1.0)]) for _ in range(2))
        with pytest.raises(TypeError, match=r"samples\[0\] must be a ParameterSample, got tuple"):
            ParameterSamplingResult([(np.ones(2), [seq(1.0)])])
        result = ParameterSamplingResult([ParameterSample(np.ones(2), (seq(1.0),))])
        assert result.mean_returns().tolist() == [1.0]

    def test_parameters_that_make_no_matrix_are_named(self):
        # numpy's stack raised "all input arrays must have the same shape" naming no sample;
        # None and strs were stacked into an object / str array.
        def result(*params):
            return ParameterSamplingResult([ParameterSample(p, [seq(1.0)]) for p in params])

        with pytest.raises(
            ValueError,
            match=r"samples\[1\].params has shape \(3,\) but must have \(2,\) to match "
            r"samples\[0\].params",
        ):
            result(np.zeros(2), np.zeros(3)).parameters()
        with pytest.raises(ValueError, match=r"samples\[1\].params has shape \(3,\)"):
            result(torch.zeros(2), torch.zeros(3)).parameters()
        for bad in (None, "ab", np.array(["a", "b"])):
            with pytest.raises(TypeError, match=r"samples\[1\].params must hold real numbers"):
                result(np.zeros(2), bad).parameters()
        assert result(np.zeros(2), [1, 2]).parameters().tolist() == [[0.0, 0.0], [1.0, 2.0]]
        stacked = result(torch.zeros(2), torch.ones(2)).parameters()
        assert stacked.tolist() == [[0.0, 0.0], [1.0, 1.0]]

    def test_non_finite_param_sets_are_named(self):
        with ParameterExplorationSampler(
            exploration_env, LinearPolicy((2, 1)), 1, 1, 1, seed=0, max_steps=5
        ) as sampler:
            params = np.zeros((2, 3))
            params[1, 2] = np.nan
            # Was "LinearPolicy: params must be finite" from deep inside the loop.
            with pytest.raises(
                ValueError,
                match=r"param_sets must be finite, got nan at index "
                r"\(1, 2\)",
            ):
                sampler.sample(params)


def _pendulum_parameter_sets(module):
    count = sum(p.numel() for p in module.parameters())
    return np.random.default_rng(0).normal(size=(3, count)) * 0.3


def _plain_invariant_linear() -> torch.nn.Module:
    """A linear layer that passes the batch test on plain calls (so it runs batched) but
    rounds otherwise under vmap (found by a search over seeds)."""
    torch.manual_seed(1)
    return torch.nn.Sequential(torch.nn.Linear(3, 1))


def _mlp() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))


@pytest.mark.parametrize("make_module", [_mlp, _plain_invariant_linear])
def test_parameter_exploration_with_a_torch_module_is_the_same_for_any_worker_count(make_module):
    # With one sub-env the per-env parameters ran under vmap, whose kernels round unlike the
    # plain call rollout() makes (actions differed by ~1e-7 from 2 workers and from rollout()).
    # The linear layer passes the batch test on plain calls (so it ran batched) but rounds
    # otherwise under vmap: 1 and 2 workers differed until per-env parameters retested it.
    net = make_module()
    params = _pendulum_parameter_sets(net)
    actions = {}
    for num_workers in (1, 2):
        with ParameterExplorationSampler(
            "Pendulum-v1", net, 2, 1, num_workers, seed=0, max_steps=20
        ) as sampler:
            result = sampler.sample(params)
        actions[num_workers] = [ro.actions for sample in result for ro in sample.rollouts]
    for one, two in zip(actions[1], actions[2], strict=True):
        np.testing.assert_array_equal(one, two)
    policy = as_policy(net, EnvSpec.from_env(gym.make("Pendulum-v1")))
    policy.param_values = params[0]
    ro = rollout("Pendulum-v1", policy, seed=0, max_steps=20, eval=True)
    np.testing.assert_array_equal(ro.actions, actions[1][0])


def test_a_module_invariant_in_plain_calls_only_goes_row_by_row_with_per_env_params():
    net = _plain_invariant_linear()
    policy = TorchPolicy(net, EnvSpec.from_env(gym.make("Pendulum-v1")))
    policy.start(2, eval=False)
    assert policy.row_by_row is False
    assert net.training
    params = _pendulum_parameter_sets(net)[:2].astype(np.float32)
    policy.set_env_params(np.array([0, 1]), params)
    assert policy.row_by_row is True
    assert net.training
    policy.reset_envs(np.arange(2), [np.random.default_rng(i) for i in range(2)])
    observations = np.random.default_rng(3).normal(size=(2, 3)).astype(np.float32)
    actions = policy.act(observations).actions
    for i in range(2):
        single = copy.deepcopy(net)
        torch.nn.utils.vector_to_parameters(torch.as_tensor(params[i]), single.parameters())
        with torch.no_grad():
            expected = single(torch.as_tensor(observations[i : i + 1])).numpy()
        np.testing.assert_array_equal(actions[i : i + 1], expected)  # the plain call's bits
    policy.start(2, eval=True)  # a new collection tests plain calls again
    assert policy.row_by_row is False


def test_a_module_vmap_cannot_run_is_pointed_to_group_mode():
    class Branchy(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(3, 1)

        def forward(self, x):
            y = self.linear(x)
            return -y if y.sum().item() > 0 else y  # data-dependent: vmap cannot run it

    spec = EnvSpec.from_env(gym.make("Pendulum-v1"))
    params = np.zeros((2, 4))
    with (
        pytest.raises(ValueError, match=r"for a module vmap cannot run, pass per_env_mode='group'"),
        ParameterExplorationSampler(
            "Pendulum-v1", TorchPolicy(Branchy(), spec, batch_invariant=False), 1, 1, 2, seed=0,
            max_steps=5,
        ) as sampler,
    ):  # fmt: skip
        sampler.sample(params)
    policy = TorchPolicy(Branchy(), spec, batch_invariant=False, per_env_mode="group")
    with ParameterExplorationSampler(
        "Pendulum-v1", policy, 1, 1, 2, seed=0, max_steps=5
    ) as sampler:
        assert len(sampler.sample(params)) == 2


class TestParameterSamplingResultSlices:
    """pyrado's algorithms slice the result and query the slice (PEPG:
    ``param_results[1:].mean_returns`` leaves out the current policy's set); a slice was a
    plain list, so every such query raised AttributeError."""

    def result(self):
        returns = [1.0, 2.0, 3.0, 4.0]
        return ParameterSamplingResult(
            [ParameterSample(np.full(2, r), [seq(r), seq(2 * r)]) for r in returns]
        )

    def test_a_slice_is_a_result_with_the_sliced_samples(self):
        result = self.result()
        tail = result[1:]
        assert isinstance(tail, ParameterSamplingResult)
        assert len(tail) == 3
        assert tail.mean_returns().tolist() == [3.0, 4.5, 6.0]
        assert tail.parameters().tolist() == [[2.0, 2.0], [3.0, 3.0], [4.0, 4.0]]
        assert tail.num_rollouts() == 6
        assert tail[0] is result[1]
        assert [s.params[0] for s in result[::-2]] == [4.0, 2.0]
        assert isinstance(result[-1], ParameterSample)

    def test_an_empty_slice_is_an_empty_result(self):
        empty = self.result()[4:]
        assert isinstance(empty, ParameterSamplingResult)
        assert len(empty) == 0
        assert empty.mean_returns().shape == (0,)
        assert empty.num_rollouts() == 0
        assert empty.rollouts() == []
        with pytest.raises(ValueError, match=r"parameters\(\) needs at least one parameter set"):
            empty.parameters()


def test_the_wrapping_samplers_and_the_result_say_what_they_are_in_their_repr():
    with CVaRSampler(random_length_sampler(1, min_rollouts=1), 0.25, min_rollouts=2) as cvar:
        # The wrapped sampler's bounds are the ones it was given: 2 / 0.25 rollouts.
        assert repr(cvar) == (
            "CVaRSampler(ParallelRolloutSampler(env='gymsamp/RandomLength-v0', num_workers=1, "
            "min_rollouts=8, min_steps=None, seed=0, vectorization='sync'), epsilon=0.25, "
            "gamma=1.0, min_rollouts=2, min_steps=None)"
        )
    randomized = DomainRandWrapper(
        PointMassEnv(), DomainRandomizer(UniformDomainParam(name="mass", mean=1.0, halfspan=0.5))
    )
    with ParameterExplorationSampler(
        lambda: copy.deepcopy(randomized), LinearPolicy((2, 1)), 2, 3, 1, seed=7, max_steps=3
    ) as sampler:
        assert repr(sampler).startswith("ParameterExplorationSampler(env=")
        assert repr(sampler).endswith(
            "num_init_states_per_domain=2, num_domains=3, num_workers=1, seed=7, randomized=True)"
        )
        result = sampler.sample(np.zeros((4, 3)))
    assert repr(result) == "ParameterSamplingResult(parameter_sets=4, rollouts=24)"
    assert repr(result[1:]) == "ParameterSamplingResult(parameter_sets=3, rollouts=18)"
