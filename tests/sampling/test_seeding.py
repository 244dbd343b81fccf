import numpy as np
import pytest

from gymsamp.sampling import Quota, RolloutJob, derive_seed, rollout_generator
from gymsamp.sampling.quota import LeadingResults
from gymsamp.sampling.reset_args import group_by_options
from gymsamp.sampling.rollout_job import JobGenerators


def test_derive_seed_formula_is_pinned():
    expected = np.random.SeedSequence(entropy=7, spawn_key=(2, 3)).generate_state(1, np.uint32)[0]
    assert derive_seed(7, 2, 3) == int(expected)
    # Pinned values: a change of the formula breaks every user's reproducibility.
    assert [derive_seed(0, 0, k) for k in range(3)] == [
        int(np.random.SeedSequence(0, spawn_key=(0, k)).generate_state(1, np.uint32)[0])
        for k in range(3)
    ]
    assert derive_seed(0) == derive_seed(0, None, None) == derive_seed(0, 0, 0)


# Word boundaries of SeedSequence's int reading (one word, two, the pool of four, more) and
# sub_sub_seeds past 2**32, where derive_seed hands over to SeedSequence itself.
_EDGES = [0, 1, 2**32 - 1, 2**32, 2**64 + 5, 2**127 + 3, 2**128 - 1, 2**160 + 7]


def test_derive_seed_equals_seed_sequence_at_word_boundaries_and_random_triples():
    rng = np.random.default_rng(12345)
    seeds = _EDGES + [int(x) for x in rng.integers(0, 2**63, 12)]
    sub_seeds = _EDGES[:6] + [int(x) for x in rng.integers(0, 2**40, 4)]
    sub_sub_seeds = [0, 1, 2**32 - 1, 2**32, 2**33 + 1] + [
        int(x) for x in rng.integers(0, 2**32, 4)
    ]
    for seed in seeds:
        for sub_seed in sub_seeds:
            for sub_sub_seed in sub_sub_seeds:
                sequence = np.random.SeedSequence(entropy=seed, spawn_key=(sub_seed, sub_sub_seed))
                expected = int(sequence.generate_state(1, np.uint32)[0])
                assert derive_seed(seed, sub_seed, sub_sub_seed) == expected, (
                    seed,
                    sub_seed,
                    sub_sub_seed,
                )


def test_derive_seed_accepts_numpy_integers_like_ints():
    assert derive_seed(np.int64(5), np.uint32(2), np.int16(7)) == derive_seed(5, 2, 7)


def test_derive_seed_values_differ_and_fit_32_bits():
    seeds = {derive_seed(1, c, k) for c in range(5) for k in range(50)}
    assert len(seeds) == 250
    assert all(0 <= s < 2**32 for s in seeds)


def test_none_means_fresh_entropy_and_no_global_rng():
    state = np.random.get_state()[1].copy()
    assert derive_seed(None) != derive_seed(None)
    np.testing.assert_array_equal(np.random.get_state()[1], state)


@pytest.mark.parametrize(
    ("bad", "error"), [(-1, ValueError), (1.5, TypeError), ("0", TypeError), (True, TypeError)]
)
def test_bad_seeds(bad, error):
    with pytest.raises(error, match=r"^seed must be None or an int >= 0, got "):
        derive_seed(bad)
    with pytest.raises(error, match=r"^sub_seed must be None or an int >= 0, got "):
        derive_seed(0, bad)
    assert derive_seed(np.uint32(3)) == derive_seed(3)  # numpy integers are seeds too


def test_rollout_generator_is_reproducible_and_independent_of_the_reset_seed():
    a = rollout_generator(3, 1, 4).random(5)
    np.testing.assert_array_equal(a, rollout_generator(3, 1, 4).random(5))
    assert not np.array_equal(a, rollout_generator(3, 1, 5).random(5))
    assert not np.array_equal(a, np.random.default_rng(derive_seed(3, 1, 4)).random(5))
    # Pinned: the triple's SeedSequence with the policy-stream word 1 appended. Another stream
    # would change every seeded rollout's policy noise and domain draw (no replay from a seed).
    expected = np.random.default_rng(np.random.SeedSequence(entropy=3, spawn_key=(1, 4, 1)))
    np.testing.assert_array_equal(a, expected.random(5))


class TestQuota:
    def test_rollout_bound(self):
        q = Quota(min_rollouts=3)
        assert [q.should_issue(k, 0) for k in range(5)] == [True, True, True, False, False]
        assert q.prefix_length({0: 5, 1: 5}) is None
        assert q.prefix_length({0: 5, 1: 5, 2: 1, 3: 9}) == 3

    def test_step_bound_is_the_shortest_sufficient_prefix(self):
        q = Quota(min_steps=10)
        assert q.prefix_length({0: 4, 2: 100}) is None  # rollout 1 still missing
        assert q.prefix_length({0: 4, 1: 6, 2: 100}) == 2
        assert q.should_issue(2, 9)
        assert not q.should_issue(2, 10)

    def test_both_bounds(self):
        q = Quota(min_rollouts=3, min_steps=10)
        assert q.prefix_length({0: 20, 1: 1, 2: 1}) == 3
        assert q.prefix_length({0: 1, 1: 1, 2: 1, 3: 7}) == 4
        assert q.should_issue(2, 100)

    @pytest.mark.parametrize(
        ("kwargs", "error", "match"),
        [
            ({}, ValueError, "at least one of min_rollouts and min_steps"),
            ({"min_rollouts": 0}, ValueError, "min_rollouts must be an int >= 1, got 0"),
            ({"min_steps": -5}, ValueError, "min_steps must be an int >= 1, got -5"),
            ({"min_rollouts": 2.0}, TypeError, "min_rollouts must be an int >= 1, got 2.0"),
        ],
    )
    def test_bad_bounds(self, kwargs, error, match):
        with pytest.raises(error, match=match):
            Quota(**kwargs)


@pytest.mark.parametrize("bounds", [(3, None), (None, 25), (4, 25)])
@pytest.mark.parametrize("order_seed", range(5))
def test_leading_results_follow_the_quota_whatever_the_completion_order(bounds, order_seed):
    """Against Quota.prefix_length over the same lengths: the result is fixed when the
    leading rollouts first meet the quota, and later completions never change it."""
    rng = np.random.default_rng(order_seed)
    quota = Quota(min_rollouts=bounds[0], min_steps=bounds[1])
    lengths = rng.integers(1, 12, size=12).tolist()
    results = LeadingResults(quota)
    seen: dict[int, int] = {}
    expected = None
    for index in rng.permutation(len(lengths)).tolist():
        # would_complete predicts exactly what adding the rollout does, and changes nothing.
        before = (list(results.items), results.steps, results.all_steps)
        if not results.complete:
            assert results.would_complete({index: lengths[index]}) == (
                quota.prefix_length({**seen, index: lengths[index]}) is not None
            )
        assert (list(results.items), results.steps, results.all_steps) == before
        results.add(index, f"rollout {index}", lengths[index])
        seen[index] = lengths[index]
        expected = expected or quota.prefix_length(seen)
        assert results.complete == (expected is not None)
        assert results.all_steps == sum(seen.values())
    assert expected is not None
    assert results.items == [f"rollout {k}" for k in range(expected)]
    assert results.steps == sum(lengths[:expected])


def test_group_by_options_groups_by_identity_with_the_option_less_group_first():
    low, high = {"domain_param": {"l": 0.4}}, {"domain_param": {"l": 0.6}}
    equal_but_other = {"domain_param": {"l": 0.4}}
    groups = group_by_options({0: high, 1: low, 2: None, 3: equal_but_other, 4: {}, 5: high})
    assert groups == [([2, 4], None), ([0, 5], high), ([1], low), ([3], equal_but_other)]
    assert groups[2][1] is low
    assert groups[3][1] is equal_but_other
    assert group_by_options({0: low}) == [([0], low)]
    assert group_by_options({}) == []


def test_rollout_jobs_make_their_generator_from_the_triple_when_first_read() -> None:
    job = RolloutJob.seeded(4, 3, 1, 4, options={"init_state": None})
    assert job.seed == derive_seed(3, 1, 4)
    moved = job.replace(index=0)
    assert (moved.index, moved.seed, moved.options) == (0, job.seed, job.options)
    expected = rollout_generator(3, 1, 4).random(3)
    np.testing.assert_array_equal(moved.rng.random(3), expected)
    assert job.rng is job.rng  # one generator per job: draws continue the stream
    np.testing.assert_array_equal(job.rng.random(3), expected)
    fresh = RolloutJob.seeded(0, None, 0, 0)
    assert fresh.seed is None
    assert not np.array_equal(fresh.rng.random(3), RolloutJob.seeded(0, None, 0, 0).rng.random(3))
    generators = JobGenerators([job, moved])
    assert len(generators) == 2
    assert generators[0] is job.rng
    assert generators[1:] == [moved.rng]


def test_rollout_job_replace_checks_its_field_names() -> None:
    job = RolloutJob.seeded(1, 0, 0, 1, info={"a": 1})
    given = np.random.default_rng(9)
    assert job.replace(rng=given).rng is given
    assert job.replace(options={"init_state": None}).info == {"a": 1}
    with pytest.raises(TypeError, match=r"unknown fields \['sede'\]"):
        job.replace(sede=3)


def test_a_rollout_jobs_generator_may_be_replaced() -> None:
    job = RolloutJob.seeded(0, 1, 0, 0)
    given = np.random.default_rng(4)
    job.rng = given
    assert job.rng is given
