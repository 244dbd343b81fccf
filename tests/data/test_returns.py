"""Reference tests of gymsamp's return helpers against plain Python loops (DESIGN §3, §8).

The loops below are written from the definitions, one rollout at a time:

* discounted reverse cumulative sum: ``y[t] = x[t] + gamma * y[t+1]`` inside a rollout,
  restarting at every rollout end;
* GAE (Schulman et al., ICLR 2016): ``delta_t = r_t + gamma * V_next(t) - V(s_t)`` with
  ``V_next(t) = V(s_{t+1})`` inside a rollout and, at a rollout's last step, 0 if that step is
  terminated (TERMINAL, also when truncated is set too), else ``V(s_T)`` of the rollout's true
  final observation (TIMEOUT, or cut short with both flags False);
  ``A_t = delta_t + gamma * lamb * A_{t+1}`` inside the rollout.

``bench/bench_data.py`` times the vectorized helpers against these same loops.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from gymsamp.data import (
    StepSequence,
    StepType,
    discounted_reverse_cumsum,
    discounted_value,
    discounted_values,
    gae_returns,
)

TOL = {"rtol": 1e-10, "atol": 1e-10}
GAMMAS = [0.0, 0.5, 0.99, 1.0]


# --- plain-loop references --------------------------------------------------------------------


def loop_discounted_cumsum(data, gamma, bounds=None):
    """``y[t] = x[t] + gamma * y[t+1]`` inside each rollout; ``bounds`` like ``rollout_bounds``.

    ``data`` is a sequence of rows (floats, or 1-D arrays for 2-D data).
    """
    rows = list(data)
    bounds = [0, len(rows)] if bounds is None else [int(b) for b in bounds]
    out = [0.0] * len(rows)
    for start, stop in itertools.pairwise(bounds):
        acc = 0.0
        for t in range(stop - 1, start - 1, -1):
            acc = rows[t] + gamma * acc
            out[t] = acc
    return np.array(out, dtype=np.float64)


def loop_gae_rollout(rewards, values, last_terminated, gamma, lamb):
    """GAE of one rollout: ``rewards`` has T entries, ``values`` T+1 (``values[T]`` = V(s_T))."""
    T = len(rewards)
    adv = [0.0] * T
    next_adv = 0.0
    for t in range(T - 1, -1, -1):
        if t == T - 1:
            next_value = 0.0 if last_terminated else values[T]
            next_adv = 0.0
        else:
            next_value = values[t + 1]
        delta = rewards[t] + gamma * next_value - values[t]
        next_adv = delta + gamma * lamb * next_adv
        adv[t] = next_adv
    return adv


@dataclass
class RawRollout:
    """The raw data of one rollout, as given to :class:`StepSequence`."""

    rewards: np.ndarray  # (T,)
    values: np.ndarray  # (T+1,)
    terminated: np.ndarray  # (T,) bool
    truncated: np.ndarray  # (T,) bool

    def to_seq(self, data_format: str = "numpy") -> StepSequence:
        T = len(self.rewards)

        def conv(x):
            return torch.from_numpy(x.copy()) if data_format == "torch" else x.copy()

        return StepSequence(
            rewards=conv(self.rewards),
            observations=conv(np.arange(T + 1, dtype=np.float64)),
            actions=conv(np.zeros((T, 1))),
            terminated=self.terminated,
            truncated=self.truncated,
            values=conv(self.values),
        )


def loop_gae(raws: Sequence[RawRollout], gamma, lamb):
    """GAE of several rollouts, one after the other."""
    out = []
    for raw in raws:
        out.extend(
            loop_gae_rollout(
                raw.rewards.tolist(), raw.values.tolist(), bool(raw.terminated[-1]), gamma, lamb
            )
        )
    return np.array(out, dtype=np.float64)


# --- random data --------------------------------------------------------------------------------

ENDINGS = ("terminal", "timeout", "both", "cut")


def make_raw(rng: np.random.Generator, length: int, ending: str) -> RawRollout:
    terminated = np.zeros(length, dtype=bool)
    truncated = np.zeros(length, dtype=bool)
    terminated[-1] = ending in ("terminal", "both")
    truncated[-1] = ending in ("timeout", "both")
    return RawRollout(
        rewards=rng.normal(size=length),
        values=rng.normal(size=length + 1),
        terminated=terminated,
        truncated=truncated,
    )


def make_raws(rng: np.random.Generator, endings: Sequence[str]) -> list[RawRollout]:
    return [make_raw(rng, int(rng.integers(1, 30)), ending) for ending in endings]


# Parts ending in TERMINAL, TIMEOUT, both flags set, cut short in the middle, one-step parts,
# and a final part cut short (both flags False at its end).
MIXED_ENDINGS = ("terminal", "timeout", "both", "cut", "timeout", "terminal", "both", "cut")


def concat_of(raws: Sequence[RawRollout], data_format: str = "numpy") -> StepSequence:
    return StepSequence.concat([raw.to_seq(data_format) for raw in raws])


def as_numpy(x) -> np.ndarray:
    return x.numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


# --- the references themselves -----------------------------------------------------------------


class TestReferences:
    def test_loop_cumsum_by_hand(self):
        np.testing.assert_allclose(
            loop_discounted_cumsum([1.0, 2.0, 4.0], 0.5), [1.0 + 1.0 + 1.0, 2.0 + 2.0, 4.0]
        )
        np.testing.assert_allclose(
            loop_discounted_cumsum([1.0, 2.0, 4.0], 0.5, [0, 1, 3]), [1.0, 4.0, 4.0]
        )

    def test_loop_gae_by_hand(self):
        # T=2, gamma=lamb=1: A_1 = r_1 + V_T - V_1, A_0 = r_0 + V_1 - V_0 + A_1.
        assert loop_gae_rollout([1.0, 1.0], [0.5, 0.5, 2.0], False, 1.0, 1.0) == [3.5, 2.5]
        assert loop_gae_rollout([1.0, 1.0], [0.5, 0.5, 2.0], True, 1.0, 1.0) == [1.5, 0.5]


# --- discounted_reverse_cumsum -----------------------------------------------------------------


class TestDiscountedReverseCumsum:
    @pytest.mark.parametrize("gamma", GAMMAS)
    @pytest.mark.parametrize("shape", [(40,), (40, 3)])
    @pytest.mark.parametrize("seed", [0, 1, 2])
    def test_one_rollout_matches_loop(self, gamma, shape, seed):
        x = np.random.default_rng(seed).normal(size=shape)
        out = discounted_reverse_cumsum(x, gamma)
        assert isinstance(out, np.ndarray)
        assert out.shape == shape
        np.testing.assert_allclose(out, loop_discounted_cumsum(x, gamma), **TOL)

    @pytest.mark.parametrize("gamma", GAMMAS)
    @pytest.mark.parametrize("shape", [(60,), (60, 2)])
    @pytest.mark.parametrize("seed", [0, 1, 2])
    def test_with_rollout_bounds_matches_loop(self, gamma, shape, seed):
        rng = np.random.default_rng(seed)
        x = rng.normal(size=shape)
        inner = np.sort(rng.choice(np.arange(1, 60), size=7, replace=False))
        # One-step rollouts at both ends too.
        bounds = np.unique(np.concatenate([[0, 1], inner, [59, 60]]))
        out = discounted_reverse_cumsum(x, gamma, rollout_bounds=bounds)
        np.testing.assert_allclose(out, loop_discounted_cumsum(x, gamma, bounds), **TOL)
        # Each rollout alone gives the same: nothing crosses a boundary.
        for start, stop in itertools.pairwise(bounds):
            np.testing.assert_allclose(
                out[start:stop], discounted_reverse_cumsum(x[start:stop], gamma), **TOL
            )

    @pytest.mark.parametrize("gamma", GAMMAS)
    @pytest.mark.parametrize("shape", [(30,), (30, 4)])
    @pytest.mark.parametrize("bounds", [None, [0, 5, 6, 30]])
    def test_torch_in_torch_out(self, gamma, shape, bounds):
        x = np.random.default_rng(3).normal(size=shape)
        out = discounted_reverse_cumsum(torch.from_numpy(x), gamma, rollout_bounds=bounds)
        assert isinstance(out, torch.Tensor)
        assert out.dtype == torch.float64
        assert tuple(out.shape) == shape
        np.testing.assert_allclose(out.numpy(), loop_discounted_cumsum(x, gamma, bounds), **TOL)
        np.testing.assert_allclose(
            out.numpy(), discounted_reverse_cumsum(x, gamma, rollout_bounds=bounds), **TOL
        )

    def test_dtypes(self):
        x32 = np.array([1.0, 2.0, 3.0], dtype=np.float32)
        assert discounted_reverse_cumsum(x32, 0.5).dtype == np.float32
        assert discounted_reverse_cumsum(torch.from_numpy(x32), 0.5).dtype == torch.float32
        ints = discounted_reverse_cumsum(np.array([1, 2, 3]), 0.5)
        assert ints.dtype == np.float64
        np.testing.assert_allclose(ints, [2.75, 3.5, 3.0])
        from_list = discounted_reverse_cumsum([1.0, 1.0, 1.0], 0.5)
        assert isinstance(from_list, np.ndarray)

    def test_docstring_examples(self):
        np.testing.assert_allclose(
            discounted_reverse_cumsum(np.ones(3), 0.5), [1.75, 1.5, 1.0], **TOL
        )
        np.testing.assert_allclose(
            discounted_reverse_cumsum(np.ones(3), 0.5, rollout_bounds=[0, 2, 3]),
            [1.5, 1.0, 1.0],
            **TOL,
        )

    def test_gamma_zero_is_identity_and_one_is_plain_reverse_cumsum(self):
        x = np.random.default_rng(4).normal(size=25)
        np.testing.assert_allclose(discounted_reverse_cumsum(x, 0.0), x, **TOL)
        np.testing.assert_allclose(
            discounted_reverse_cumsum(x, 1.0), np.cumsum(x[::-1])[::-1], **TOL
        )

    def test_does_not_modify_input(self):
        x = np.random.default_rng(5).normal(size=10)
        before = x.copy()
        discounted_reverse_cumsum(x, 0.9, rollout_bounds=[0, 4, 10])
        np.testing.assert_array_equal(x, before)

    @pytest.mark.parametrize("gamma", [-0.1, 1.0001, 2.0, float("nan")])
    def test_gamma_out_of_range_raises(self, gamma):
        with pytest.raises(ValueError, match="gamma"):
            discounted_reverse_cumsum(np.ones(3), gamma)

    @pytest.mark.parametrize("bounds", [[0, 2], [1, 3], [0, 2, 2, 3], [0, 2, 1, 3], [0, 4]])
    def test_bad_rollout_bounds_raise(self, bounds):
        with pytest.raises(ValueError, match="rollout_bounds"):
            discounted_reverse_cumsum(np.ones(3), 0.5, rollout_bounds=bounds)

    def test_empty_data_raises(self):
        with pytest.raises(ValueError, match="data"):
            discounted_reverse_cumsum(np.zeros(0), 0.5)

    @pytest.mark.parametrize("gamma", GAMMAS)
    @pytest.mark.parametrize("shape_tail", [(), (2,)])
    @pytest.mark.parametrize(
        "lengths",
        [
            # long rollouts (hundreds of steps each), with one-step rollouts among them
            [300, 1, 517, 700, 1, 410],
            # many short rollouts of widely spread lengths
            [1, 1, 2, 3, 5, 8, 64, 65, 66, 129, 130, 131, 250, 255, 1, 7, 40, 90, 3, 2],
            # short and long mixed
            [1, 1000, 2, 3, 33, 600, 1, 70],
        ],
    )
    def test_rollout_length_layouts_match_loop(self, gamma, shape_tail, lengths):
        rng = np.random.default_rng(sum(lengths))
        bounds = np.concatenate([[0], np.cumsum(lengths)])
        x = rng.normal(size=(int(bounds[-1]), *shape_tail))
        out = discounted_reverse_cumsum(x, gamma, rollout_bounds=bounds)
        assert out.shape == x.shape
        np.testing.assert_allclose(out, loop_discounted_cumsum(x, gamma, bounds), **TOL)

    @pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, 1e300])
    @pytest.mark.parametrize(
        "lengths", [[3, 4, 2, 5, 1], [400, 300, 500, 2, 350], [1, 1000, 5, 40]]
    )
    def test_bad_value_stays_in_its_rollout(self, bad, lengths):
        # A nan, an inf or a huge value in one rollout must not touch any other rollout.
        rng = np.random.default_rng(len(lengths))
        bounds = np.concatenate([[0], np.cumsum(lengths)])
        clean = rng.normal(size=int(bounds[-1]))
        expected = loop_discounted_cumsum(clean, 0.9, bounds)
        for k in range(len(lengths)):
            x = clean.copy()
            x[bounds[k + 1] - 1] = bad  # the rollout's last step: reaches its whole rollout
            out = discounted_reverse_cumsum(x, 0.9, rollout_bounds=bounds)
            outside = np.r_[0 : bounds[k], bounds[k + 1] : bounds[-1]]
            np.testing.assert_allclose(out[outside], expected[outside], **TOL)

    def test_non_finite_later_rollout_does_not_leak_backwards(self):
        out = discounted_reverse_cumsum(np.array([1.0, np.nan]), 0.5, rollout_bounds=[0, 1, 2])
        assert out[0] == 1.0
        assert np.isnan(out[1])
        out = discounted_reverse_cumsum(np.array([1.0, 1e17]), 1.0, rollout_bounds=[0, 1, 2])
        assert out.tolist() == [1.0, 1e17]


# --- discounted_value / discounted_values ------------------------------------------------------


class TestDiscountedValue:
    def test_known_value(self):
        ro = StepSequence(
            rewards=[-200.0, -100.0, -50.0, -25.0, -17.5],
            observations=np.zeros(6),
            actions=np.zeros(5),
        )
        assert discounted_value(ro, 0.9)[2] == pytest.approx(-86.675)
        ro.add_data("return", discounted_value(ro, 0.9))
        assert ro[2]["return"] == pytest.approx(-86.675)

    @pytest.mark.parametrize("gamma", GAMMAS)
    @pytest.mark.parametrize("seed", [0, 1, 2, 3])
    def test_concat_matches_loop(self, gamma, seed):
        raws = make_raws(np.random.default_rng(seed), MIXED_ENDINGS)
        seq = concat_of(raws)
        assert seq.rollout_count == len(raws)
        bounds = np.cumsum([0] + [len(r.rewards) for r in raws])
        np.testing.assert_array_equal(seq.rollout_bounds, bounds)
        rewards = np.concatenate([r.rewards for r in raws])
        out = discounted_value(seq, gamma)
        assert isinstance(out, np.ndarray)
        np.testing.assert_allclose(out, loop_discounted_cumsum(rewards, gamma, bounds), **TOL)

    @pytest.mark.parametrize("gamma", GAMMAS)
    def test_torch_rollout_gives_tensor(self, gamma):
        raws = make_raws(np.random.default_rng(7), MIXED_ENDINGS)
        out = discounted_value(concat_of(raws, "torch"), gamma)
        assert isinstance(out, torch.Tensor)
        expected = discounted_value(concat_of(raws), gamma)
        np.testing.assert_allclose(out.numpy(), expected, **TOL)

    def test_flat_rollout_bounds_respected(self):
        ro = StepSequence(
            rewards=np.arange(6.0),
            observations=np.arange(7.0),
            actions=np.zeros(6),
            rollout_bounds=[0, 2, 5, 6],
        )
        np.testing.assert_allclose(
            discounted_value(ro, 0.5),
            loop_discounted_cumsum(np.arange(6.0), 0.5, [0, 2, 5, 6]),
            **TOL,
        )

    @pytest.mark.parametrize("gamma", [-0.5, 1.5])
    def test_gamma_out_of_range_raises(self, gamma):
        ro = StepSequence(rewards=[1.0], observations=[0.0, 1.0], actions=[0.0])
        with pytest.raises(ValueError, match="gamma"):
            discounted_value(ro, gamma)


class TestDiscountedValues:
    def _rollouts(self, seed, data_format="numpy"):
        rng = np.random.default_rng(seed)
        first = make_raws(rng, ("terminal", "timeout", "cut"))
        second = make_raws(rng, ("both",))
        third = make_raws(rng, ("timeout", "terminal"))
        groups = [first, second, third]
        seqs = [concat_of(g, data_format) for g in groups]
        raws = [r for g in groups for r in g]
        bounds = np.cumsum([0] + [len(r.rewards) for r in raws])
        rewards = np.concatenate([r.rewards for r in raws])
        return seqs, rewards, bounds

    @pytest.mark.parametrize("gamma", GAMMAS)
    def test_default_is_torch(self, gamma):
        seqs, rewards, bounds = self._rollouts(0)
        out = discounted_values(seqs, gamma)
        assert isinstance(out, torch.Tensor)
        np.testing.assert_allclose(
            out.numpy(), loop_discounted_cumsum(rewards, gamma, bounds), rtol=1e-6, atol=1e-4
        )

    @pytest.mark.parametrize("gamma", GAMMAS)
    @pytest.mark.parametrize("input_format", ["numpy", "torch"])
    def test_numpy_format(self, gamma, input_format):
        seqs, rewards, bounds = self._rollouts(1, input_format)
        out = discounted_values(seqs, gamma, data_format="numpy")
        assert isinstance(out, np.ndarray)
        np.testing.assert_allclose(out, loop_discounted_cumsum(rewards, gamma, bounds), **TOL)

    def test_torch_output_is_the_default_dtype_as_in_pyrado(self):
        # pyrado cast the values for a torch critic with .to(torch.get_default_dtype()).
        for input_format in ("numpy", "torch"):
            seqs, rewards, bounds = self._rollouts(4, input_format)
            out = discounted_values(seqs, 0.9)
            assert out.dtype == torch.get_default_dtype() == torch.float32
            np.testing.assert_allclose(
                out.numpy(), loop_discounted_cumsum(rewards, 0.9, bounds), rtol=1e-6, atol=1e-5
            )
        seqs, _, _ = self._rollouts(4, "torch")
        assert discounted_values(seqs, 0.9, data_format=None).dtype == torch.float32
        assert discounted_values(seqs, 0.9, data_format="numpy").dtype == np.float64

    def test_none_keeps_format_of_first(self):
        seqs, _, _ = self._rollouts(2)
        assert isinstance(discounted_values(seqs, 0.9, data_format=None), np.ndarray)
        seqs, _, _ = self._rollouts(2, "torch")
        assert isinstance(discounted_values(seqs, 0.9, data_format=None), torch.Tensor)

    def test_equals_discounted_value_of_the_concatenation(self):
        seqs, _, _ = self._rollouts(3)
        np.testing.assert_allclose(
            discounted_values(seqs, 0.95, data_format="numpy"),
            discounted_value(StepSequence.concat(seqs), 0.95),
            **TOL,
        )

    def test_empty_raises(self):
        with pytest.raises(ValueError, match="rollouts"):
            discounted_values([], 0.9)

    def test_gamma_out_of_range_raises(self):
        seqs, _, _ = self._rollouts(4)
        with pytest.raises(ValueError, match="gamma"):
            discounted_values(seqs, 1.1)


# --- gae_returns -------------------------------------------------------------------------------


class TestGaeReturns:
    @pytest.mark.parametrize("ending", ENDINGS)
    @pytest.mark.parametrize(("gamma", "lamb"), [(0.99, 0.95), (0.5, 0.0), (1.0, 1.0), (0.0, 0.7)])
    def test_single_rollout_matches_loop(self, ending, gamma, lamb):
        raw = make_raw(np.random.default_rng(11), 17, ending)
        out = gae_returns(raw.to_seq(), gamma, lamb)
        assert isinstance(out, np.ndarray)
        assert out.shape == (17,)
        np.testing.assert_allclose(out, loop_gae([raw], gamma, lamb), **TOL)

    @pytest.mark.parametrize("gamma", GAMMAS)
    @pytest.mark.parametrize("lamb", [0.0, 0.95, 1.0])
    @pytest.mark.parametrize("seed", [0, 1, 2, 3])
    def test_concat_matches_loop(self, gamma, lamb, seed):
        raws = make_raws(np.random.default_rng(seed), MIXED_ENDINGS)
        seq = concat_of(raws)
        ends = seq.rollout_bounds[1:] - 1
        expected_types = {"terminal": StepType.TERMINAL, "both": StepType.TERMINAL}
        expected_types["timeout"] = StepType.TIMEOUT
        for end, ending in zip(ends, MIXED_ENDINGS, strict=True):
            if ending == "cut":
                assert not seq.terminated[end]
                assert not seq.truncated[end]
            else:
                assert seq.step_types[end] == expected_types[ending]
        out = gae_returns(seq, gamma, lamb)
        np.testing.assert_allclose(out, loop_gae(raws, gamma, lamb), **TOL)
        # Rollout by rollout gives the same: nothing leaks across a boundary.
        per_part = np.concatenate([gae_returns(raw.to_seq(), gamma, lamb) for raw in raws])
        np.testing.assert_allclose(out, per_part, **TOL)

    def test_default_gamma_lamb(self):
        raws = make_raws(np.random.default_rng(5), MIXED_ENDINGS)
        np.testing.assert_allclose(gae_returns(concat_of(raws)), loop_gae(raws, 0.99, 0.95), **TOL)

    def test_many_rollouts_matches_loop(self):
        rng = np.random.default_rng(21)
        endings = rng.choice(ENDINGS, size=200)
        raws = [make_raw(rng, int(rng.integers(1, 60)), str(e)) for e in endings]
        seq = concat_of(raws)
        np.testing.assert_allclose(gae_returns(seq, 0.99, 0.95), loop_gae(raws, 0.99, 0.95), **TOL)
        rewards = np.concatenate([r.rewards for r in raws])
        np.testing.assert_allclose(
            discounted_value(seq, 0.99),
            loop_discounted_cumsum(rewards, 0.99, seq.rollout_bounds),
            **TOL,
        )

    @pytest.mark.parametrize(("gamma", "lamb"), [(0.99, 0.95), (1.0, 1.0)])
    def test_torch_rollout_gives_tensor(self, gamma, lamb):
        raws = make_raws(np.random.default_rng(6), MIXED_ENDINGS)
        out = gae_returns(concat_of(raws, "torch"), gamma, lamb)
        assert isinstance(out, torch.Tensor)
        np.testing.assert_allclose(out.numpy(), loop_gae(raws, gamma, lamb), **TOL)

    def test_values_of_shape_t_plus_one_by_one(self):
        raws = make_raws(np.random.default_rng(8), MIXED_ENDINGS)
        parts = []
        for raw in raws:
            T = len(raw.rewards)
            parts.append(
                StepSequence(
                    rewards=raw.rewards,
                    observations=np.zeros(T + 1),
                    actions=np.zeros(T),
                    terminated=raw.terminated,
                    truncated=raw.truncated,
                    values=raw.values[:, None],
                )
            )
        out = gae_returns(StepSequence.concat(parts), 0.9, 0.8)
        assert out.shape == (sum(len(r.rewards) for r in raws),)
        np.testing.assert_allclose(out, loop_gae(raws, 0.9, 0.8), **TOL)

    @pytest.mark.parametrize("seed", [0, 1])
    def test_final_value_matters_only_for_open_ends_and_only_there(self, seed):
        gamma, lamb = 0.9, 0.8
        raws = make_raws(np.random.default_rng(seed), MIXED_ENDINGS)
        base = gae_returns(concat_of(raws), gamma, lamb)
        bounds = np.cumsum([0] + [len(r.rewards) for r in raws])
        for i, raw in enumerate(raws):
            changed = [*raws[:i], RawRollout(**vars(raw)), *raws[i + 1 :]]
            changed[i].values = raw.values.copy()
            changed[i].values[-1] += 10.0
            out = gae_returns(concat_of(changed), gamma, lamb)
            start, stop = bounds[i], bounds[i + 1]
            outside = np.r_[0:start, stop : bounds[-1]]
            np.testing.assert_allclose(out[outside], base[outside], **TOL)
            if raw.terminated[-1]:  # TERMINAL, also with truncated set: V(s_T) is never used.
                np.testing.assert_allclose(out[start:stop], base[start:stop], **TOL)
            else:  # TIMEOUT or cut short: bootstraps with V(s_T).
                steps_left = np.arange(stop - start)[::-1]
                expected_shift = gamma * 10.0 * (gamma * lamb) ** steps_left
                np.testing.assert_allclose(
                    out[start:stop] - base[start:stop], expected_shift, **TOL
                )
                assert np.all(np.abs(out[start:stop] - base[start:stop]) > 1e-3)
            np.testing.assert_allclose(out, loop_gae(changed, gamma, lamb), **TOL)

    def test_nan_value_in_one_part_stays_there(self):
        raws = make_raws(np.random.default_rng(17), MIXED_ENDINGS)
        expected = loop_gae(raws, 0.99, 0.95)
        bounds = np.cumsum([0] + [len(r.rewards) for r in raws])
        for i, raw in enumerate(raws):
            changed = [*raws[:i], RawRollout(**vars(raw)), *raws[i + 1 :]]
            changed[i].values = raw.values.copy()
            changed[i].values[-2] = np.nan  # V(s_{T-1}): used by every step of the part
            out = gae_returns(concat_of(changed), 0.99, 0.95)
            outside = np.r_[0 : bounds[i], bounds[i + 1] : bounds[-1]]
            np.testing.assert_allclose(out[outside], expected[outside], **TOL)
            assert np.isnan(out[bounds[i + 1] - 1])

    @pytest.mark.parametrize("seed", [0, 1, 2])
    def test_lamb_one_is_bootstrapped_return_minus_value(self, seed):
        # With lamb = 1, A_t = sum_k gamma^k r_{t+k} + gamma^(T-t) V_next(T-1) - V(s_t).
        gamma = 0.95
        raws = make_raws(np.random.default_rng(seed), MIXED_ENDINGS)
        out = gae_returns(concat_of(raws), gamma, 1.0)
        expected = []
        for raw in raws:
            T = len(raw.rewards)
            final = 0.0 if raw.terminated[-1] else raw.values[-1]
            for t in range(T):
                ret = sum(gamma**k * raw.rewards[t + k] for k in range(T - t))
                expected.append(ret + gamma ** (T - t) * final - raw.values[t])
        np.testing.assert_allclose(out, expected, **TOL)

    def test_lamb_zero_is_td_error(self):
        gamma = 0.9
        raws = make_raws(np.random.default_rng(9), MIXED_ENDINGS)
        out = gae_returns(concat_of(raws), gamma, 0.0)
        expected = []
        for raw in raws:
            nxt = raw.values[1:].copy()
            if raw.terminated[-1]:
                nxt[-1] = 0.0
            expected.extend(raw.rewards + gamma * nxt - raw.values[:-1])
        np.testing.assert_allclose(out, expected, **TOL)

    def test_docstring_example(self):
        ro = StepSequence(
            rewards=[1.0, 1.0],
            observations=np.zeros(3),
            actions=np.zeros(2),
            values=[0.5, 0.5, 2.0],
            terminated=[False, False],
            truncated=[False, True],
        )
        assert gae_returns(ro, gamma=1.0, lamb=1.0).tolist() == pytest.approx([3.5, 2.5])

    def test_t_length_values_allowed_when_every_rollout_ends_terminal(self):
        raws = make_raws(np.random.default_rng(10), ("terminal", "both", "terminal"))
        parts = []
        for raw in raws:
            T = len(raw.rewards)
            parts.append(
                StepSequence(
                    rewards=raw.rewards,
                    observations=np.zeros(T + 1),
                    actions=np.zeros(T),
                    terminated=raw.terminated,
                    truncated=raw.truncated,
                    values=raw.values[:-1],
                )
            )
        np.testing.assert_allclose(
            gae_returns(StepSequence.concat(parts), 0.9, 0.9), loop_gae(raws, 0.9, 0.9), **TOL
        )

    def test_no_values_field_raises(self):
        ro = StepSequence(
            rewards=[1.0, 2.0],
            observations=np.zeros(3),
            actions=np.zeros(2),
            terminated=[False, True],
            truncated=[False, False],
        )
        with pytest.raises(ValueError, match="values"):
            gae_returns(ro, 0.99, 0.95)

    @pytest.mark.parametrize("ending", ["timeout", "cut"])
    def test_t_length_values_on_open_end_raises(self, ending):
        raw = make_raw(np.random.default_rng(12), 5, ending)
        ro = StepSequence(
            rewards=raw.rewards,
            observations=np.zeros(6),
            actions=np.zeros(5),
            terminated=raw.terminated,
            truncated=raw.truncated,
            values=raw.values[:-1],
        )
        with pytest.raises(ValueError, match="values"):
            gae_returns(ro, 0.99, 0.95)

    def test_t_length_values_on_timeout_inside_concat_raises(self):
        raws = make_raws(np.random.default_rng(13), ("terminal", "timeout", "terminal"))
        parts = [
            StepSequence(
                rewards=r.rewards,
                observations=np.zeros(len(r.rewards) + 1),
                actions=np.zeros(len(r.rewards)),
                terminated=r.terminated,
                truncated=r.truncated,
                values=r.values[:-1],
            )
            for r in raws
        ]
        with pytest.raises(ValueError, match="values"):
            gae_returns(StepSequence.concat(parts), 0.99, 0.95)

    @pytest.mark.parametrize(("gamma", "lamb"), [(-0.1, 0.9), (1.1, 0.9)])
    def test_gamma_out_of_range_raises(self, gamma, lamb):
        ro = make_raw(np.random.default_rng(14), 4, "timeout").to_seq()
        with pytest.raises(ValueError, match="gamma"):
            gae_returns(ro, gamma, lamb)

    @pytest.mark.parametrize("lamb", [-0.1, 1.1])
    def test_lamb_out_of_range_raises(self, lamb):
        ro = make_raw(np.random.default_rng(15), 4, "timeout").to_seq()
        with pytest.raises(ValueError, match="lamb"):
            gae_returns(ro, 0.9, lamb)

    def test_shuffled_batch_raises(self):
        seq = concat_of(make_raws(np.random.default_rng(16), MIXED_ENDINGS))
        batch = seq[[3, 0, 5]]
        with pytest.raises(ValueError, match="continuous"):
            gae_returns(batch, 0.9, 0.9)


class TestReviewFindings:
    def test_discounted_value_refuses_a_shuffled_batch(self):
        ro = StepSequence(
            rewards=np.arange(6.0),
            observations=np.arange(7.0),
            actions=np.zeros(6),
            rollout_bounds=[0, 2, 5, 6],
        )
        with pytest.raises(ValueError, match="must be continuous to compute discounted values"):
            discounted_value(ro[[4, 0, 1]], 0.5)

    def test_gae_on_flat_rollouts_ending_terminal_needs_no_inner_finals(self):
        ro = StepSequence(
            rewards=np.ones(4),
            observations=np.zeros(5),
            actions=np.zeros(4),
            values=np.arange(5.0),
            terminated=[0, 1, 0, 1],
            truncated=[0, 0, 0, 0],
        )
        # Both rollouts end TERMINAL, so their (unknown) final values are never used.
        expected = loop_gae_rollout([1.0, 1.0], [0.0, 1.0, 0.0], True, 0.9, 0.8)
        expected += loop_gae_rollout([1.0, 1.0], [2.0, 3.0, 4.0], True, 0.9, 0.8)
        np.testing.assert_allclose(gae_returns(ro, 0.9, 0.8), expected, rtol=1e-12)


# --- both code paths: the compiled (numba) kernels and the scipy fallback ----------------------

# Rollout layouts that exercise the compiled scan's four lanes: fewer steps than lanes, fewer
# rollouts than lanes, one rollout far longer than the rest (a lane runs dry early), many
# one-step rollouts, and random lengths.
LANE_LAYOUTS = [
    [1],
    [2, 1],
    [1, 1, 1],
    [5],
    [3, 4, 2],
    [1, 1, 1, 1, 1, 1, 1],
    [900, 1, 2, 3, 1, 1, 2],
    [1, 2, 1, 700, 5, 1],
    [50, 60, 70, 80, 90],
    [1] * 40 + [300] + [2] * 30,
]


def _random_layout(seed: int) -> list[int]:
    return np.random.default_rng(seed).integers(1, 120, size=60).tolist()


@pytest.fixture(params=["compiled", "scipy"])
def returns_path(request, monkeypatch):
    """Runs a test on the compiled kernels (skipped without numba) and on the scipy fallback."""
    from gymsamp.data import returns

    if request.param == "compiled":
        pytest.importorskip("numba")
        monkeypatch.setattr(returns, "_USE_COMPILED", True)
        assert returns._get_kernels() is not None
    else:
        monkeypatch.setattr(returns, "_USE_COMPILED", False)
        assert returns._get_kernels() is None
    return request.param


def assert_matches_loop(out, expected, path):
    """Compiled: bit-identical to the loop (same operations, same order); scipy: within TOL."""
    if path == "compiled":
        np.testing.assert_array_equal(out, expected)
    else:
        np.testing.assert_allclose(out, expected, **TOL)


class TestCompiledAndFallbackPaths:
    @pytest.mark.parametrize("gamma", GAMMAS)
    @pytest.mark.parametrize("shape_tail", [(), (1,), (3,), (2, 2)])
    @pytest.mark.parametrize("lengths", [*LANE_LAYOUTS, _random_layout(0), _random_layout(1)])
    def test_cumsum_matches_loop(self, returns_path, gamma, shape_tail, lengths):
        rng = np.random.default_rng(len(lengths))
        bounds = np.concatenate([[0], np.cumsum(lengths)])
        x = rng.normal(size=(int(bounds[-1]), *shape_tail))
        before = x.copy()
        out = discounted_reverse_cumsum(x, gamma, rollout_bounds=bounds)
        assert out.shape == x.shape
        assert out.dtype == np.float64
        assert out.flags.c_contiguous
        rows = x.reshape(len(x), -1)
        expected = loop_discounted_cumsum(rows, gamma, bounds).reshape(x.shape)
        assert_matches_loop(out, expected, returns_path)
        np.testing.assert_array_equal(x, before)  # the input is never written to

    @pytest.mark.parametrize("shape", [(1,), (7,), (500,), (500, 3)])
    def test_cumsum_one_rollout_matches_loop(self, returns_path, shape):
        x = np.random.default_rng(2).normal(size=shape)
        expected = loop_discounted_cumsum(x, 0.99)
        assert_matches_loop(discounted_reverse_cumsum(x, 0.99), expected, returns_path)
        assert_matches_loop(
            discounted_reverse_cumsum(x, 0.99, rollout_bounds=[0, len(x)]), expected, returns_path
        )

    def test_cumsum_non_contiguous_and_integer_input(self, returns_path):
        x = np.random.default_rng(3).normal(size=(80, 4))[::2, 1]  # strided view
        bounds = [0, 3, 4, 30, 40]
        assert_matches_loop(
            discounted_reverse_cumsum(x, 0.9, rollout_bounds=bounds),
            loop_discounted_cumsum(x, 0.9, bounds),
            returns_path,
        )
        ints = discounted_reverse_cumsum(np.array([1, 2, 3]), 0.5, rollout_bounds=[0, 1, 3])
        assert ints.dtype == np.float64
        assert ints.tolist() == [1.0, 3.5, 3.0]

    @pytest.mark.parametrize("bounds", [None, [0, 2, 5]])
    def test_cumsum_of_rows_without_columns(self, returns_path, bounds):
        out = discounted_reverse_cumsum(np.zeros((5, 0)), 0.9, rollout_bounds=bounds)
        assert out.shape == (5, 0)

    @pytest.mark.parametrize("shape_tail", [(), (2,)])
    @pytest.mark.parametrize("bounds", [None, [0, 5, 6, 9, 30]])
    def test_torch_in_torch_out_and_float32_kept(self, returns_path, shape_tail, bounds):
        x = np.random.default_rng(4).normal(size=(30, *shape_tail))
        out = discounted_reverse_cumsum(torch.from_numpy(x), 0.95, rollout_bounds=bounds)
        assert isinstance(out, torch.Tensor)
        assert out.dtype == torch.float64
        assert_matches_loop(out.numpy(), loop_discounted_cumsum(x, 0.95, bounds), returns_path)
        x32 = torch.from_numpy(x.astype(np.float32))
        out32 = discounted_reverse_cumsum(x32, 0.95, rollout_bounds=bounds)
        assert out32.dtype == torch.float32
        expected32 = loop_discounted_cumsum(x.astype(np.float32).astype(np.float64), 0.95, bounds)
        # Computed in float64 and rounded once: the compiled path rounds the loop's exact
        # float64 result; scipy's may round to the neighbouring float32.
        if returns_path == "compiled":
            np.testing.assert_array_equal(out32.numpy(), expected32.astype(np.float32))
        else:
            np.testing.assert_allclose(out32.numpy(), expected32, rtol=1e-6, atol=1e-6)

    @pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, 1e300])
    @pytest.mark.parametrize("shape_tail", [(), (2,)])
    @pytest.mark.parametrize("lengths", [[3, 4, 2, 5, 1], [400, 300, 500, 2, 350], [1, 900, 5, 40]])
    def test_bad_value_stays_in_its_rollout(self, returns_path, bad, shape_tail, lengths):
        rng = np.random.default_rng(len(lengths))
        bounds = np.concatenate([[0], np.cumsum(lengths)])
        clean = rng.normal(size=(int(bounds[-1]), *shape_tail))
        for gamma in (0.0, 0.9, 1.0):
            expected = loop_discounted_cumsum(clean, gamma, bounds)
            for k in range(len(lengths)):
                x = clean.copy()
                x[bounds[k + 1] - 1] = bad  # the rollout's last step: reaches its whole rollout
                out = discounted_reverse_cumsum(x, gamma, rollout_bounds=bounds)
                outside = np.r_[0 : bounds[k], bounds[k + 1] : bounds[-1]]
                assert_matches_loop(out[outside], expected[outside], returns_path)
                if np.isnan(bad):
                    assert np.all(np.isnan(out[bounds[k + 1] - 1]))

    def test_nan_in_a_later_rollout_stays_there(self, returns_path):
        out = discounted_reverse_cumsum(np.array([1.0, np.nan]), 0.5, rollout_bounds=[0, 1, 2])
        assert out[0] == 1.0
        assert np.isnan(out[1])
        out = discounted_reverse_cumsum(np.array([1.0, 1e17]), 1.0, rollout_bounds=[0, 1, 2])
        assert out.tolist() == [1.0, 1e17]
        x = np.array([[1.0, 2.0], [3.0, 4.0], [np.inf, np.nan]])
        out = discounted_reverse_cumsum(x, 1.0, rollout_bounds=[0, 2, 3])
        assert out[:2].tolist() == [[4.0, 6.0], [3.0, 4.0]]
        assert out[2, 0] == np.inf
        assert np.isnan(out[2, 1])

    @pytest.mark.parametrize(("gamma", "lamb"), [(0.99, 0.95), (1.0, 1.0), (0.5, 0.0), (0.0, 0.7)])
    @pytest.mark.parametrize("seed", [0, 1])
    def test_gae_matches_loop(self, returns_path, gamma, lamb, seed):
        rng = np.random.default_rng(seed)
        endings = rng.choice(ENDINGS, size=60)
        raws = [make_raw(rng, int(rng.integers(1, 80)), str(e)) for e in endings]
        expected = loop_gae(raws, gamma, lamb)
        assert_matches_loop(gae_returns(concat_of(raws), gamma, lamb), expected, returns_path)
        out = gae_returns(concat_of(raws, "torch"), gamma, lamb)
        assert isinstance(out, torch.Tensor)
        assert_matches_loop(out.numpy(), expected, returns_path)
        rewards = np.concatenate([r.rewards for r in raws])
        bounds = np.cumsum([0] + [len(r.rewards) for r in raws])
        assert_matches_loop(
            discounted_value(concat_of(raws), gamma),
            loop_discounted_cumsum(rewards, gamma, bounds),
            returns_path,
        )

    def test_gae_flat_rollouts_and_t_length_values(self, returns_path):
        # Flat rollout bounds (no per-rollout finals), and T-entry values (all TERMINAL).
        ro = StepSequence(
            rewards=np.ones(4),
            observations=np.zeros(5),
            actions=np.zeros(4),
            values=np.arange(5.0),
            terminated=[0, 1, 0, 1],
            truncated=[0, 0, 0, 0],
        )
        expected = loop_gae_rollout([1.0, 1.0], [0.0, 1.0, 0.0], True, 0.9, 0.8)
        expected += loop_gae_rollout([1.0, 1.0], [2.0, 3.0, 4.0], True, 0.9, 0.8)
        assert_matches_loop(gae_returns(ro, 0.9, 0.8), np.array(expected), returns_path)
        raws = make_raws(np.random.default_rng(10), ("terminal", "both", "terminal"))
        parts = [
            StepSequence(
                rewards=raw.rewards,
                observations=np.zeros(len(raw.rewards) + 1),
                actions=np.zeros(len(raw.rewards)),
                terminated=raw.terminated,
                truncated=raw.truncated,
                values=raw.values[:-1],
            )
            for raw in raws
        ]
        assert_matches_loop(
            gae_returns(StepSequence.concat(parts), 0.9, 0.9),
            loop_gae(raws, 0.9, 0.9),
            returns_path,
        )

    @pytest.mark.parametrize("bad", [np.nan, np.inf, 1e300])
    def test_gae_bad_value_stays_in_its_part(self, returns_path, bad):
        raws = make_raws(np.random.default_rng(17), MIXED_ENDINGS)
        expected = loop_gae(raws, 0.99, 0.95)
        bounds = np.cumsum([0] + [len(r.rewards) for r in raws])
        for i, raw in enumerate(raws):
            for where in (-2, -1):  # V(s_{T-1}), used by every step; V(s_T), the bootstrap
                changed = [*raws[:i], RawRollout(**vars(raw)), *raws[i + 1 :]]
                changed[i].values = raw.values.copy()
                changed[i].values[where] = bad
                out = gae_returns(concat_of(changed), 0.99, 0.95)
                outside = np.r_[0 : bounds[i], bounds[i + 1] : bounds[-1]]
                assert_matches_loop(out[outside], expected[outside], returns_path)
                if returns_path == "compiled":
                    # Bit-identical inside the bad part too. scipy's filter form may turn
                    # inf - inf into a NaN at other steps of that part than the loop does.
                    np.testing.assert_array_equal(out, loop_gae(changed, 0.99, 0.95))

    def test_gae_does_not_modify_the_rollout(self, returns_path):
        raws = make_raws(np.random.default_rng(18), MIXED_ENDINGS)
        seq = concat_of(raws)
        before = {name: seq.get_data_values(name).copy() for name in ("rewards", "values")}
        gae_returns(seq, 0.99, 0.95)
        for name, data in before.items():
            np.testing.assert_array_equal(seq.get_data_values(name), data)


class TestCompiledKernelLoading:
    def test_import_gymsamp_does_not_import_numba(self):
        import subprocess
        import sys

        code = "import sys, gymsamp.data; assert 'numba' not in sys.modules"
        subprocess.run([sys.executable, "-c", code], check=True)

    def test_without_numba_falls_back_to_scipy(self, monkeypatch):
        import sys

        from gymsamp.data import returns

        monkeypatch.setattr(returns, "_USE_COMPILED", True)
        monkeypatch.setattr(returns, "_kernels", None)  # not tried yet
        monkeypatch.setitem(sys.modules, "numba", None)  # `import numba` raises ImportError
        assert returns._get_kernels() is None
        assert returns._kernels is False  # remembered: not tried again
        x = np.random.default_rng(19).normal(size=50)
        np.testing.assert_allclose(
            discounted_reverse_cumsum(x, 0.9, rollout_bounds=[0, 20, 50]),
            loop_discounted_cumsum(x, 0.9, [0, 20, 50]),
            **TOL,
        )
        raws = make_raws(np.random.default_rng(20), MIXED_ENDINGS)
        np.testing.assert_allclose(
            gae_returns(concat_of(raws), 0.99, 0.95), loop_gae(raws, 0.99, 0.95), **TOL
        )

    def test_without_a_writable_cache_compiles_without_one(self, monkeypatch):
        import sys
        import types

        from gymsamp.data import returns

        calls = []

        def njit(signature, *, cache, nogil):
            calls.append(cache)
            if cache:  # what numba raises when no cache folder is writable
                raise RuntimeError("cannot cache function: no locator available for file")
            return lambda fn: fn  # the kernels' Python source: the same results, slowly

        monkeypatch.setitem(sys.modules, "numba", types.SimpleNamespace(njit=njit))
        monkeypatch.setattr(returns, "_USE_COMPILED", True)
        monkeypatch.setattr(returns, "_kernels", None)
        kernels = returns._get_kernels()
        assert calls == [True, False, False]
        assert kernels is not None
        assert kernels.scan is returns._segmented_scan
        lengths = [1, 30, 2, 1, 7, 12, 1]
        bounds = np.concatenate([[0], np.cumsum(lengths)])
        x = np.random.default_rng(21).normal(size=(int(bounds[-1]), 2))
        for data in (x, x[:, 0]):
            np.testing.assert_array_equal(
                discounted_reverse_cumsum(data, 0.9, rollout_bounds=bounds),
                loop_discounted_cumsum(data, 0.9, bounds),
            )
        raws = make_raws(np.random.default_rng(22), MIXED_ENDINGS)
        np.testing.assert_array_equal(
            gae_returns(concat_of(raws), 0.99, 0.95), loop_gae(raws, 0.99, 0.95)
        )


# --- input validation (DESIGN §8) -----------------------------------------------------------


@pytest.mark.parametrize(
    ("bounds", "error", "message"),
    [
        ([0, 2.5, 5], TypeError, r"rollout_bounds must be integers, got \[0.0, 2.5, 5.0\]"),
        ([0.0, 2.0, 5.0], TypeError, r"rollout_bounds must be integers"),
        ([], ValueError, r"rollout_bounds must be strictly increasing from 0 to the length 5"),
        ([0, 7], ValueError, r"rollout_bounds must be strictly increasing .* got \[0, 7\]"),
    ],
)
def test_discounted_reverse_cumsum_refuses_bad_bounds(bounds, error, message):
    with pytest.raises(error, match=message):
        discounted_reverse_cumsum(np.arange(5.0), 0.9, rollout_bounds=bounds)


def test_discounted_reverse_cumsum_accepts_tuple_and_numpy_bounds():
    expected = discounted_reverse_cumsum(np.arange(5.0), 0.9, rollout_bounds=[0, 2, 5])
    for bounds in ((0, 2, 5), np.array([0, 2, 5], dtype=np.int32)):
        np.testing.assert_array_equal(
            discounted_reverse_cumsum(np.arange(5.0), 0.9, rollout_bounds=bounds), expected
        )


@pytest.mark.parametrize(
    "call", [lambda: discounted_value(None, 0.9), lambda: gae_returns(None)], ids=["dv", "gae"]
)
def test_return_helpers_refuse_a_non_sequence(call):
    with pytest.raises(TypeError, match=r"rollout must be a StepSequence, got NoneType"):
        call()


def test_discounted_values_refuses_a_single_rollout_and_bad_items():
    ro = StepSequence(rewards=np.ones(2), observations=np.zeros((3, 1)), actions=np.zeros((2, 1)))
    with pytest.raises(TypeError, match=r"rollouts must be a list of StepSequence objects, got a "):
        discounted_values(ro, 0.9)
    with pytest.raises(TypeError, match=r"rollouts\[1\] must be a StepSequence, got int"):
        discounted_values([ro, 3], 0.9)
    with pytest.raises(ValueError, match=r"data_format must be one of .* got 'foo'"):
        discounted_values([ro], 0.9, "foo")
    with pytest.raises(
        TypeError, match=r"rollouts must be a list of StepSequence objects, got set"
    ):
        discounted_values({ro}, 0.9)
    with pytest.raises(TypeError, match=r"gamma must be a real number in \[0, 1\], got 'x'"):
        discounted_values([ro], "x")
    np.testing.assert_allclose(discounted_values((ro,), 0.5, "numpy"), [1.5, 1.0])


def test_gae_returns_refuses_values_of_several_entries_per_step():
    ro = StepSequence(rewards=np.ones(2), observations=np.zeros((3, 1)), actions=np.zeros((2, 1)))
    ro.add_data("values", np.zeros((3, 2)))
    with pytest.raises(
        ValueError, match=r"values has shape \(2, 2\) but must have \(2,\) to match"
    ):
        gae_returns(ro, 0.9, 0.95)


def test_discounted_reverse_cumsum_refuses_data_that_is_not_numbers():
    with pytest.raises(TypeError, match=r"data must hold real numbers, got \['a', 'b'\]"):
        discounted_reverse_cumsum(["a", "b"], 0.5)


def _gae_rollout(reward_dtype, value_dtype):
    return StepSequence(
        rewards=np.array([1, 1, 1], reward_dtype),
        observations=np.zeros((4, 1), np.float32),
        actions=np.zeros((3, 1), np.float32),
        values=np.array([0.5, 0.5, 0.5, 2.0], value_dtype),
        terminated=[False, False, False],
        truncated=[False, False, True],
    )


@pytest.mark.parametrize(
    ("reward_dtype", "value_dtype", "expected"),
    [
        (np.float32, np.float32, np.float32),
        (np.float16, np.float16, np.float16),
        (np.float64, np.float32, np.float64),
        (np.int64, np.float32, np.float64),  # int rewards: float64, as discounted_value does
    ],
)
def test_gae_returns_keeps_the_datas_float_type(reward_dtype, value_dtype, expected):
    # float32 data gave float64 advantages, which turn a float32 policy loss into float64.
    reference = loop_gae_rollout(np.ones(3), np.array([0.5, 0.5, 0.5, 2.0]), False, 0.9, 0.95)
    out = gae_returns(_gae_rollout(reward_dtype, value_dtype), 0.9, 0.95)
    assert out.dtype == expected
    np.testing.assert_allclose(out, reference, rtol=1e-3 if expected == np.float16 else 1e-6)
    tensors = gae_returns(_gae_rollout(reward_dtype, value_dtype).torch(), 0.9, 0.95)
    assert tensors.dtype == torch.from_numpy(np.empty(0, expected)).dtype


def test_bfloat16_tensors_work_in_every_return_helper():
    # numpy has no bfloat16: the helpers crashed inside torch ("unsupported ScalarType").
    bf16 = torch.bfloat16
    ro = StepSequence(
        rewards=torch.ones(3, dtype=bf16),
        observations=torch.zeros(4, 1),
        actions=torch.zeros(3, 1),
        values=torch.tensor([0.5, 0.5, 0.5, 2.0], dtype=bf16),
        terminated=[False, False, False],
        truncated=[False, False, True],
    )
    cumsum = discounted_reverse_cumsum(torch.ones(3, dtype=bf16), 0.5)
    assert cumsum.dtype == bf16
    assert cumsum.float().tolist() == [1.75, 1.5, 1.0]
    value = discounted_value(ro, 0.9)
    assert value.dtype == bf16
    np.testing.assert_allclose(value.float().numpy(), [2.71, 1.9, 1.0], rtol=1e-2)
    advantages = gae_returns(ro, 0.9, 0.95)
    assert advantages.dtype == bf16
    reference = loop_gae_rollout(np.ones(3), np.array([0.5, 0.5, 0.5, 2.0]), False, 0.9, 0.95)
    np.testing.assert_allclose(advantages.float().numpy(), reference, rtol=1e-2)
    assert ro.undiscounted_return() == 3.0


def test_undiscounted_return_sums_in_float64():
    # float32 sums lose small terms: 1e8 + 1 + 1 + 1 summed in float32 is 1e8.
    rewards = np.array([1e8, 1, 1, 1], np.float32)
    ro = StepSequence(rewards=rewards, observations=np.zeros(5), actions=np.zeros(4))
    assert ro.undiscounted_return() == 100000003.0 == ro.discounted_return(1.0)
    many = np.full(10**6, 0.1, np.float32)
    ro = StepSequence(rewards=many, observations=np.zeros(10**6 + 1), actions=np.zeros(10**6))
    exact = math.fsum(many.astype(np.float64).tolist())
    assert abs(float(many.sum()) - exact) > 1e-3  # what a float32 sum gives
    assert ro.undiscounted_return() == pytest.approx(exact, rel=1e-12, abs=0)


def test_values_added_to_a_concatenation_name_what_to_do_instead():
    # The message told the user to build the sequence with concat, which they had done.
    def part(offset):
        return StepSequence(
            rewards=np.ones(2), observations=np.arange(3.0) + offset, actions=np.zeros(2),
            terminated=[False, False], truncated=[False, True],
        )  # fmt: skip

    both = StepSequence.concat([part(0.0), part(100.0)])
    both.add_data("values", np.zeros(both.length + 1))
    with pytest.raises(
        ValueError,
        match=r"values was given flat for all 2 rollouts.*"
        r"add values to each over iterate_rollouts\(\)",
    ):
        gae_returns(both, 0.99, 0.95)
    parts = [part(0.0), part(100.0)]
    for ro in parts:
        ro.add_data("values", np.zeros(ro.length + 1))
    assert gae_returns(StepSequence.concat(parts), 1.0, 1.0).tolist() == [2.0, 1.0, 2.0, 1.0]


def test_values_added_to_a_concatenation_bootstrap_its_last_rollout_with_its_own_final_value():
    # Added flat (T+1 entries), values know only the last rollout's V(s_T); that is enough when
    # every earlier rollout ends TERMINAL, and it must be that rollout's value, not another's.
    first = StepSequence(
        rewards=[1.0, 2.0], observations=[0.0, 1.0, 2.0], actions=[0, 0],
        terminated=[False, True], truncated=[False, False],
    )  # fmt: skip
    second = StepSequence(
        rewards=[3.0, 4.0], observations=[10.0, 11.0, 12.0], actions=[0, 0],
        terminated=[False, False], truncated=[False, True],
    )  # fmt: skip
    both = StepSequence.concat([first, second])
    both.add_data("values", np.array([0.1, 0.2, 0.3, 0.4, 2.0]), with_after_last=True)
    expected = loop_gae_rollout([1.0, 2.0], [0.1, 0.2, 0.0], True, 0.9, 0.8)  # V(s_T) unused
    expected += loop_gae_rollout([3.0, 4.0], [0.3, 0.4, 2.0], False, 0.9, 0.8)
    np.testing.assert_allclose(gae_returns(both, 0.9, 0.8), expected, **TOL)
