"""Tests of gymsamp.envs.randomizer: joint draws, storage and formats, seeding, rescale / adapt,
formatting, param_grid and every validation message."""

from __future__ import annotations

import math
import random
import re

import numpy as np
import pytest
import torch

from gymsamp.envs.domain_params import (
    BernoulliDomainParam,
    DomainParam,
    MultivariateNormalDomainParam,
    NormalDomainParam,
    UniformDomainParam,
)
from gymsamp.envs.randomizer import DomainRandomizer, param_grid

N = 20_000
Z = 5.0  # tolerance in standard errors (see tests/envs/test_domain_params.py)


def _randomizer() -> DomainRandomizer:
    return DomainRandomizer(
        NormalDomainParam("mass", mean=1.0, std=0.2),
        UniformDomainParam("length", mean=0.5, halfspan=0.1),
        MultivariateNormalDomainParam("com", mean=[0.0, 1.0], cov=[[1.0, 0.5], [0.5, 1.0]]),
        BernoulliDomainParam("motor", val_0=0, val_1=1, prob_1=0.3, roundint=True),
    )


# --- construction and properties --------------------------------------------------------------


def test_names_and_domain_params_in_order():
    rand = _randomizer()
    assert rand.param_names == ["mass", "length", "com", "motor"]
    params = rand.domain_params
    assert [p.name for p in params] == rand.param_names
    params.pop()
    assert len(rand.domain_params) == 4


def test_duplicate_names_rejected():
    with pytest.raises(ValueError, match="domain_params must have unique names, got 'm' twice"):
        DomainRandomizer(NormalDomainParam("m", 0.0, 1.0), UniformDomainParam("m", 0.0, 1.0))


def test_a_parameter_renamed_onto_another_is_refused_at_the_next_draw():
    # adapt("name", ...) after construction made two "m": the later one's draw silently
    # replaced the earlier one's, and the sample held one parameter fewer.
    first, second = NormalDomainParam("m", 0.0, 1.0), UniformDomainParam("l", 5.0, 1.0)
    rand = DomainRandomizer(first, second)
    assert list(rand.sample(rng=0)) == ["m", "l"]
    second.adapt("name", "m")
    with pytest.raises(ValueError, match=r"got 'm' twice \(one was renamed with adapt"):
        rand.sample(rng=0)
    with pytest.raises(ValueError, match="domain_params must have unique names"):
        rand.randomize(2, rng=0)


def test_non_domain_param_rejected():
    with pytest.raises(TypeError, match=r"domain_params\[1\] must be a DomainParam, got 3"):
        DomainRandomizer(NormalDomainParam("m", 0.0, 1.0), 3)


# --- randomize and get_params -----------------------------------------------------------------


def test_get_params_before_randomize():
    with pytest.raises(ValueError, match=r"call randomize\(num_samples\) first"):
        _randomizer().get_params()


def test_list_format_values_and_prefix():
    rand = _randomizer()
    rand.randomize(5, rng=0)
    samples = rand.get_params()
    assert len(samples) == 5
    for sample in samples:
        assert list(sample) == ["mass", "length", "com", "motor"]
        assert type(sample["mass"]) is float
        assert 0.4 <= sample["length"] <= 0.6
        assert isinstance(sample["com"], np.ndarray)
        assert sample["com"].shape == (2,)
        assert sample["motor"] in (0, 1)
        assert type(sample["motor"]) is int
    first = rand.get_params(num_samples=2)
    assert len(first) == 2
    assert first[1]["mass"] == samples[1]["mass"]
    np.testing.assert_array_equal(first[0]["com"], samples[0]["com"])


@pytest.mark.parametrize("num_samples", ["2", 2.0, None, True])
def test_get_params_refuses_a_count_that_is_no_int(num_samples):
    rand = _randomizer()
    rand.randomize(3, rng=0)
    with pytest.raises(
        TypeError,
        match=r"^num_samples must be -1 \(all\) or an int in \[1, 3\] \(the stored samples\), "
        rf"got {re.escape(repr(num_samples))}$",
    ):
        rand.get_params(num_samples)
    assert len(rand.get_params(np.int64(2))) == 2  # numpy integers count


def test_returned_samples_are_copies():
    rand = _randomizer()
    rand.randomize(2, rng=0)
    got = rand.get_params()
    got[0]["mass"] = -1.0
    got[0]["com"][0] = 1e9
    again = rand.get_params()
    assert again[0]["mass"] != -1.0
    assert again[0]["com"][0] != 1e9


def test_dict_format_numpy():
    rand = _randomizer()
    rand.randomize(6, rng=1)
    as_list = rand.get_params()
    as_dict = rand.get_params(fmt="dict")
    assert list(as_dict) == rand.param_names
    assert as_dict["mass"].shape == (6,)
    assert as_dict["mass"].dtype == np.float64
    assert as_dict["com"].shape == (6, 2)
    assert as_dict["motor"].dtype == np.int64
    np.testing.assert_array_equal(as_dict["mass"], [s["mass"] for s in as_list])
    np.testing.assert_array_equal(as_dict["com"], np.stack([s["com"] for s in as_list]))
    np.testing.assert_array_equal(as_dict["motor"], [s["motor"] for s in as_list])
    three = rand.get_params(3, "dict")
    np.testing.assert_array_equal(three["length"], as_dict["length"][:3])


def test_dict_format_torch():
    rand = _randomizer()
    rand.randomize(4, rng=2)
    as_np = rand.get_params(fmt="dict")
    as_torch = rand.get_params(fmt="dict", dtype="torch")
    for name in rand.param_names:
        assert isinstance(as_torch[name], torch.Tensor)
        np.testing.assert_array_equal(as_torch[name].numpy(), as_np[name])
    assert as_torch["mass"].dtype == torch.float64
    assert as_torch["motor"].dtype == torch.int64
    assert tuple(as_torch["com"].shape) == (4, 2)


def test_list_format_torch():
    rand = _randomizer()
    rand.randomize(3, rng=3)
    as_np = rand.get_params()
    as_torch = rand.get_params(dtype="torch")
    for a, t in zip(as_np, as_torch, strict=True):
        assert all(isinstance(v, torch.Tensor) for v in t.values())
        assert t["mass"].item() == a["mass"]
        assert t["mass"].dtype == torch.float64
        assert t["motor"].dtype == torch.int64
        np.testing.assert_array_equal(t["com"].numpy(), a["com"])


@pytest.mark.parametrize("num", [7, 0, -2])
def test_get_params_bad_count(num):
    rand = _randomizer()
    rand.randomize(5, rng=0)
    with pytest.raises(
        ValueError,
        match=rf"num_samples must be -1 \(all\) or an int in \[1, 5\] .*, got {num}",
    ):
        rand.get_params(num)


def test_get_params_of_as_many_samples_as_stored_gives_them_all():
    rand = DomainRandomizer(NormalDomainParam("m", mean=1.0, std=0.1))
    rand.randomize(3, rng=0)
    expected = [{"m": v} for v in NormalDomainParam("m", mean=1.0, std=0.1).sample(3, rng=0)]
    assert rand.get_params(3) == rand.get_params(-1) == expected


def test_get_params_bad_fmt_and_dtype():
    rand = _randomizer()
    rand.randomize(1, rng=0)
    with pytest.raises(ValueError, match=r"fmt must be one of \['list', 'dict'\], got 'tuple'"):
        rand.get_params(fmt="tuple")
    with pytest.raises(ValueError, match=r"dtype must be one of \['numpy', 'torch'\], got 'jax'"):
        rand.get_params(dtype="jax")


def test_randomize_replaces_stored_samples():
    rand = _randomizer()
    rand.randomize(5, rng=0)
    rand.randomize(2, rng=1)
    assert len(rand.get_params()) == 2


def test_randomize_bad_num_samples():
    with pytest.raises(ValueError, match="num_samples must be an int >= 1, got 0"):
        _randomizer().randomize(0)


# --- statistics and seeding -------------------------------------------------------------------


def test_joint_samples_have_the_marginals_and_are_independent():
    rand = DomainRandomizer(
        NormalDomainParam("a", mean=1.0, std=0.2), UniformDomainParam("b", mean=-1.0, halfspan=1.0)
    )
    rand.randomize(N, rng=4)
    params = rand.get_params(fmt="dict")
    a, b = params["a"], params["b"]
    assert abs(a.mean() - 1.0) < Z * 0.2 / math.sqrt(N)
    assert abs(a.std() - 0.2) < Z * 0.2 / math.sqrt(2 * N)
    assert abs(b.mean() + 1.0) < Z * math.sqrt(1 / 3 / N)
    # The sample correlation of independent variables has standard error about 1 / sqrt(n).
    assert abs(np.corrcoef(a, b)[0, 1]) < Z / math.sqrt(N)


def test_same_seed_same_samples():
    a, b = _randomizer(), _randomizer()
    a.randomize(10, rng=5)
    b.randomize(10, rng=np.random.default_rng(5))
    da, db = a.get_params(fmt="dict"), b.get_params(fmt="dict")
    for name in a.param_names:
        np.testing.assert_array_equal(da[name], db[name])
    b.randomize(10, rng=6)
    assert not np.array_equal(da["mass"], b.get_params(fmt="dict")["mass"])


def test_draw_order_is_sample_major_in_param_order():
    params = [NormalDomainParam("a", 0.0, 1.0), NormalDomainParam("b", 10.0, 1.0)]
    rand = DomainRandomizer(*params)
    rand.randomize(3, rng=7)
    gen = np.random.default_rng(7)
    expected = [{p.name: p.sample(1, gen)[0] for p in params} for _ in range(3)]
    assert rand.get_params() == expected
    # Hence the first samples do not depend on how many are drawn.
    rand.randomize(5, rng=7)
    assert rand.get_params(3) == expected


def test_sample_draws_one_joint_sample_without_touching_storage():
    rand = _randomizer()
    rand.randomize(2, rng=8)
    stored = rand.get_params(fmt="dict")
    one = rand.sample(rng=8)
    assert list(one) == rand.param_names
    assert one["mass"] == stored["mass"][0]
    np.testing.assert_array_equal(one["com"], stored["com"][0])
    after = rand.get_params(fmt="dict")
    for name in rand.param_names:
        np.testing.assert_array_equal(after[name], stored[name])
    gen = np.random.default_rng(9)
    assert rand.sample(gen)["mass"] != rand.sample(gen)["mass"]


def test_global_rngs_are_untouched():
    np_state = np.random.get_state()
    py_state = random.getstate()
    rand = _randomizer()
    rand.randomize(20)
    rand.sample()
    rand.randomize(20, rng=1)
    after = np.random.get_state()
    assert np_state[0] == after[0]
    np.testing.assert_array_equal(np_state[1], after[1])
    assert np_state[2:] == after[2:]
    assert random.getstate() == py_state


@pytest.mark.parametrize("rng", ["0", 0.5, np.random.RandomState(0)])
def test_bad_rng(rng):
    with pytest.raises(TypeError, match="rng must be None, an int >= 0 or a numpy"):
        _randomizer().randomize(2, rng=rng)
    with pytest.raises(TypeError, match="rng must be None, an int >= 0 or a numpy"):
        _randomizer().sample(rng=rng)


# --- rescale and adapt ------------------------------------------------------------------------


def test_rescale_std_doubles_the_empirical_std():
    rand = DomainRandomizer(
        NormalDomainParam("a", mean=1.0, std=0.2), UniformDomainParam("b", 0.0, 1.0)
    )
    rand.randomize(N, rng=10)
    before = rand.get_params(fmt="dict")
    rand.rescale_distr_param("std", 2.0)
    assert rand.domain_params[0].std == 0.4
    assert rand.domain_params[1].halfspan == 1.0  # has no std: untouched
    rand.randomize(N, rng=11)
    after = rand.get_params(fmt="dict")
    assert abs(after["a"].std() - 0.4) < Z * 0.4 / math.sqrt(2 * N)
    assert abs(after["a"].std() / before["a"].std() - 2.0) < 2 * Z * math.sqrt(2 / N)
    assert abs(after["b"].std() - before["b"].std()) < Z * 2 * math.sqrt(4 / 45 / N)


def test_rescale_halfspan_and_cov():
    rand = DomainRandomizer(
        UniformDomainParam("u", 0.0, 1.0),
        UniformDomainParam("w", 5.0, 2.0),
        MultivariateNormalDomainParam("v", [0.0, 0.0], [[1.0, 0.5], [0.5, 2.0]]),
    )
    rand.rescale_distr_param("halfspan", 0.5)
    assert [p.halfspan for p in rand.domain_params[:2]] == [0.5, 1.0]
    rand.rescale_distr_param("cov", 4.0)
    np.testing.assert_array_equal(rand.domain_params[2].cov, [[4.0, 2.0], [2.0, 8.0]])
    rand.randomize(N, rng=12)
    com = rand.get_params(fmt="dict")["v"]
    np.testing.assert_allclose(com.std(axis=0), [2.0, math.sqrt(8.0)], rtol=Z / math.sqrt(2 * N))
    assert abs(rand.get_params(fmt="dict")["u"]).max() <= 0.5


def test_rescale_by_zero_makes_the_param_constant():
    rand = DomainRandomizer(NormalDomainParam("a", 3.0, 1.0))
    rand.rescale_distr_param("std", 0)
    rand.randomize(5, rng=0)
    assert [s["a"] for s in rand.get_params()] == [3.0] * 5


def test_rescale_keeps_a_missing_clipping_bound_missing():
    # 0 * -inf was NaN: "clip_lo must be a finite number, got nan".
    scalar = NormalDomainParam("a", 3.0, 1.0, clip_lo=1.0)
    vector = MultivariateNormalDomainParam("b", [0.0, 0.0], np.eye(2), clip_lo=[-np.inf, 2.0])
    rand = DomainRandomizer(scalar, vector)
    rand.rescale_distr_param("clip_up", 0)
    rand.rescale_distr_param("clip_lo", 0.5)
    assert (scalar.clip_lo, scalar.clip_up) == (0.5, math.inf)
    assert vector.clip_lo.tolist() == [-math.inf, 1.0]
    assert vector.clip_up == math.inf


def test_rescale_errors():
    rand = _randomizer()
    with pytest.raises(ValueError, match=r"scale must be >= 0, got -1\.0"):
        rand.rescale_distr_param("std", -1.0)
    with pytest.raises(
        ValueError,
        match=r"param must be a numeric field of at least one domain param, one of \[.*'cov'.*\], "
        r"got 'sigma'",
    ):
        rand.rescale_distr_param("sigma", 2.0)
    with pytest.raises(ValueError, match="param must be a numeric field .*, got 'name'"):
        rand.rescale_distr_param("name", 2.0)


def test_rescale_failure_changes_nothing():
    first = UniformDomainParam("a", 0.0, 1.0, clip_lo=-2.0, clip_up=5.0)
    second = UniformDomainParam("b", 0.0, 1.0, clip_lo=0.5, clip_up=1.0)
    rand = DomainRandomizer(first, second)
    with pytest.raises(ValueError, match="clip_lo must be <= clip_up, got clip_lo=1.5, clip_up=1"):
        rand.rescale_distr_param("clip_lo", 3.0)
    assert first.clip_lo == -2.0
    assert second.clip_lo == 0.5


def test_adapt_one_distr_param():
    rand = _randomizer()
    rand.adapt_one_distr_param("mass", "std", 0.5)
    assert rand.domain_params[0].std == 0.5
    rand.adapt_one_distr_param("motor", "prob_1", 1.0)
    rand.randomize(50, rng=13)
    assert all(s["motor"] == 1 for s in rand.get_params())
    rand.adapt_one_distr_param("length", "name", "pole_length")
    assert rand.param_names == ["mass", "pole_length", "com", "motor"]


def test_adapt_one_distr_param_errors():
    rand = _randomizer()
    with pytest.raises(
        ValueError,
        match=r"name must be one of \['mass', 'length', 'com', 'motor'\], "
        r"got 'masss'",
    ):
        rand.adapt_one_distr_param("masss", "std", 0.5)
    with pytest.raises(ValueError, match="field must be one of .*, got 'halfspan'"):
        rand.adapt_one_distr_param("mass", "halfspan", 0.5)
    with pytest.raises(ValueError, match=r"std must be >= 0, got -0\.5"):
        rand.adapt_one_distr_param("mass", "std", -0.5)
    with pytest.raises(
        ValueError,
        match="value must be a name no other domain param has, got 'com'",
    ):
        rand.adapt_one_distr_param("mass", "name", "com")
    assert rand.param_names == ["mass", "length", "com", "motor"]
    assert rand.domain_params[0].std == 0.2


def test_adapt_one_distr_param_takes_the_issues_keyword_names():
    rand = _randomizer()
    rand.adapt_one_distr_param(name="mass", field="std", value=0.25)
    assert rand.domain_params[0].std == 0.25


# --- formatting -------------------------------------------------------------------------------


def test_str_has_one_line_per_param():
    rand = DomainRandomizer(
        NormalDomainParam("mass", mean=1.2, std=0.1, clip_lo=0.5, clip_up=2.0),
        UniformDomainParam("k", mean=3, halfspan=2, roundint=True),
        DomainParam("g", 9.81),
    )
    assert str(rand) == (
        "DomainRandomizer with 3 domain parameters:\n"
        "  mass: Normal(mean=1.2, std=0.1), clip [0.5, 2]\n"
        "  k: Uniform(mean=3, halfspan=2), clip [-inf, inf], roundint\n"
        "  g: Constant(mean=9.81), clip [-inf, inf]"
    )
    assert repr(rand).startswith("DomainRandomizer(NormalDomainParam(name='mass', mean=1.2")


def test_empty_randomizer():
    rand = DomainRandomizer()
    assert str(rand) == "DomainRandomizer with 0 domain parameters:"
    rand.randomize(2, rng=0)
    assert rand.get_params() == [{}, {}]


# --- param_grid -------------------------------------------------------------------------------


def test_param_grid_example_order():
    assert param_grid({"m": [1, 2], "l": [0.5, 1.0]}) == [
        {"m": 1, "l": 0.5},
        {"m": 1, "l": 1.0},
        {"m": 2, "l": 0.5},
        {"m": 2, "l": 1.0},
    ]


def test_param_grid_length_row_major_and_values_kept():
    vec_a, vec_b = np.array([1.0, 2.0]), np.array([3.0, 4.0])
    grid = param_grid({"a": (1, 2, 3), "b": ["x", "y"], "v": [vec_a, vec_b]})
    assert len(grid) == 3 * 2 * 2
    assert [(p["a"], p["b"]) for p in grid[:4]] == [(1, "x"), (1, "x"), (1, "y"), (1, "y")]
    assert grid[0]["v"] is vec_a
    assert grid[1]["v"] is vec_b
    assert grid[-1] == {"a": 3, "b": "y", "v": vec_b}
    assert all(list(p) == ["a", "b", "v"] for p in grid)


def test_param_grid_numpy_values_and_empty_mapping():
    grid = param_grid({"m": np.linspace(0.0, 1.0, 3)})
    assert [p["m"] for p in grid] == [0.0, 0.5, 1.0]
    assert param_grid({}) == [{}]


def test_param_grid_keeps_values_of_different_kinds():
    # Was numpy's "inhomogeneous shape" ValueError: a list mixing scalars and arrays.
    vec = np.array([1.0, 2.0])
    grid = param_grid({"l": [0.5, None, vec]})
    assert [p["l"] for p in grid[:2]] == [0.5, None]
    assert grid[2]["l"] is vec


def test_param_grid_errors():
    with pytest.raises(ValueError, match=r"param_values\['l'\] must be a non-empty sequence, got"):
        param_grid({"m": [1], "l": []})
    with pytest.raises(TypeError, match=r"param_values\['m'\] must be a sequence of values"):
        param_grid({"m": 1.0})
    with pytest.raises(TypeError, match=r"param_values\['m'\] must be a sequence of values"):
        param_grid({"m": "abc"})
    with pytest.raises(  # was "len() of unsized object"
        TypeError, match=r"param_values\['m'\] must be a sequence of values, got array\(3.\)"
    ):
        param_grid({"m": np.array(3.0)})
    with pytest.raises(TypeError, match="param_values keys must be str, got 1"):
        param_grid({1: [1]})
    with pytest.raises(TypeError, match="param_values must be a mapping"):
        param_grid([("m", [1])])
