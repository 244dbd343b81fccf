"""Property-based tests of gymsamp.sbi: the embeddings and the samplers as ``sbi`` simulators.

* The fixed-statistic embeddings (:class:`LastStepEmbedding`, :class:`DeltaStepsEmbedding`,
  :class:`AllStepsEmbedding`, :class:`BayesSimEmbedding`) on generated specs (1-4 state and
  action columns, masks), rollout lengths (1-30, also shorter or longer than the embedding was
  built for), batch sizes, downsampling, float32/float64 data of large and small magnitudes:
  against plain numpy loops over the steps of every rollout, as their docstrings define them.
* :class:`DynamicTimeWarpingEmbedding` against dtw-python called directly, per state column.
* :class:`RNNEmbedding`: shape, dtype, determinism with a seed.
* Masks by label select the same columns as masks by index.
* For all: ``dim_output`` is the width they return, and embedding a batch equals embedding
  every rollout alone (no leakage across parameter sets or rollouts).
* The samplers: :class:`SimRolloutSamplerForSBI` gives a row the same features whatever rows
  are simulated next to it and however many workers run them, and those features are the
  embedding of rollouts recorded by hand with ``rollout()`` and ``reset_kwargs``;
  it zero-pads what the env ends early; :class:`RealRolloutSamplerForSBI` /
  :class:`RecRolloutSamplerForSBI` embed the rollouts they return (Rec: in file-name order,
  cycling from the documented start).

Hypothesis runs derandomized (tests/conftest.py), so CI sees the same examples.
"""

from __future__ import annotations

import functools
import itertools
import math
import tempfile
from pathlib import Path
from typing import Any

import dtw
import gymnasium as gym
import numpy as np
import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st

from gymsamp.data import EnvSpec, StepSequence
from gymsamp.data.io import save_rollouts
from gymsamp.envs import CountingEnv
from gymsamp.policies import LinearPolicy, PlaybackPolicy, RandomPolicy
from gymsamp.sampling import rollout
from gymsamp.sbi import (
    AllStepsEmbedding,
    BayesSimEmbedding,
    DeltaStepsEmbedding,
    DynamicTimeWarpingEmbedding,
    Embedding,
    LastStepEmbedding,
    RealRolloutSamplerForSBI,
    RecRolloutSamplerForSBI,
    RNNEmbedding,
    SimRolloutSamplerForSBI,
    sbi_env_spec,
)

SETTINGS = settings(max_examples=40)  # derandomized: the profile in tests/conftest.py
SAMPLER_SETTINGS = settings(max_examples=8)  # each example starts worker processes

# --- generated specs and data ----------------------------------------------------------------


class Case:
    """A generated spec, masks and ``(B, R, L, D)`` data (numpy float64 and the torch tensor)."""

    def __init__(self, draw: Any, *, double: bool = False, min_len: int = 1) -> None:
        self.num_states = draw(st.integers(1, 4))
        self.num_acts = draw(st.integers(1, 4))
        self.spec = EnvSpec(
            gym.spaces.Box(-1.0, 1.0, (self.num_states,)),
            gym.spaces.Box(-1.0, 1.0, (self.num_acts,)),
        )
        self.dim_data = self.num_states + self.num_acts
        self.state_mask = draw(_mask(self.num_states))
        self.act_mask = draw(_mask(self.num_acts))
        self.factor = draw(st.integers(1, 3))
        self.batch = draw(st.integers(1, 3))
        self.num_rollouts = draw(st.integers(1, 3))
        self.length = draw(st.integers(min_len, 30))
        scale = draw(st.sampled_from([1e-6, 1e-2, 1.0, 1e3, 1e6]))
        seed = draw(st.integers(0, 2**16))
        self.dtype = draw(st.sampled_from([torch.float32, torch.float64]))
        width = self.dim_data * (2 if double else 1)
        shape = (self.batch, self.num_rollouts, self.length, width)
        values = np.random.default_rng(seed).normal(0.0, scale, shape)
        self.tensor = torch.as_tensor(values, dtype=self.dtype)
        # What forward() computes on: the data cast to torch's default dtype.
        self.data = self.tensor.to(torch.get_default_dtype()).double().numpy()

    def kwargs(self) -> dict[str, Any]:
        return dict(
            downsampling_factor=self.factor,
            state_mask_labels=self.state_mask,
            act_mask_labels=self.act_mask,
        )

    def rollouts(self) -> list[tuple[int, int, np.ndarray]]:
        """``(b, r, kept steps of the rollout)``: the data one summary statistic sees."""
        return [
            (b, r, self.data[b, r, :: self.factor])
            for b in range(self.batch)
            for r in range(self.num_rollouts)
        ]

    def states(self, steps: np.ndarray) -> np.ndarray:
        idcs = range(self.num_states) if self.state_mask is None else self.state_mask
        return np.stack([steps[:, i] for i in idcs], axis=1)

    def actions(self, steps: np.ndarray) -> np.ndarray:
        idcs = range(self.num_acts) if self.act_mask is None else self.act_mask
        return np.stack([steps[:, self.num_states + i] for i in idcs], axis=1)


def _mask(width: int) -> st.SearchStrategy[list[int] | None]:
    """None (all columns) or a non-empty, unordered selection of distinct column indices."""
    return st.none() | st.lists(st.integers(0, width - 1), min_size=1, max_size=width, unique=True)


@st.composite
def cases(draw: Any, **kwargs: Any) -> Case:
    return Case(draw, **kwargs)


def _tolerance(case: Case, power: int = 1) -> dict[str, float]:
    """Float32 rounding of values of the data's magnitude (to ``power``, summed over steps)."""
    scale = float(np.abs(case.data).max(initial=0.0)) ** power
    return dict(rtol=1e-5, atol=1e-5 * scale * case.length * power)


def _reference(case: Case, statistic: Any, dim: int) -> np.ndarray:
    """``(B, R * dim)``: the per-rollout ``statistic`` of the kept steps, concatenated."""
    out = np.zeros((case.batch, case.num_rollouts * dim))
    for b, r, steps in case.rollouts():
        out[b, r * dim : (r + 1) * dim] = statistic(steps)
    return out


def _check_batch_invariance(emb: Embedding, tensor: torch.Tensor, features: torch.Tensor) -> None:
    """Every parameter set's and every rollout's features equal those of its data alone."""
    dim = emb.dim_output
    for b in range(tensor.shape[0]):
        alone = emb(Embedding.pack(tensor[b : b + 1]))
        assert torch.equal(alone[0], features[b])
        torch.testing.assert_close(emb.forward_one_batch(tensor[b]), features[b])
        for r in range(tensor.shape[1]):
            one = emb(Embedding.pack(tensor[b : b + 1, r : r + 1]))
            assert torch.equal(one[0], features[b, r * dim : (r + 1) * dim])


def _kept(length: int, factor: int) -> int:
    return len(range(0, length, factor))


# --- fixed statistics --------------------------------------------------------------------------


@SETTINGS
@given(cases())
def test_last_step_embedding_is_the_last_kept_masked_state(case):
    emb = LastStepEmbedding(case.spec, case.dim_data, **case.kwargs())
    features = emb(Embedding.pack(case.tensor))
    num = len(case.state_mask or range(case.num_states))
    assert emb.dim_output == num
    assert features.shape == (case.batch, case.num_rollouts * num)
    assert features.dtype == torch.get_default_dtype()
    expected = _reference(case, lambda steps: case.states(steps)[-1], num)
    np.testing.assert_array_equal(features.double().numpy(), expected)
    _check_batch_invariance(emb, case.tensor, features)


@SETTINGS
@given(cases(), st.none() | st.integers(1, 30))
def test_all_steps_embedding_flattens_the_kept_states_time_major(case, len_rollouts):
    len_rollouts = case.length if len_rollouts is None else len_rollouts  # None: fits
    emb = AllStepsEmbedding(case.spec, case.dim_data, len_rollouts, **case.kwargs())
    num = len(case.state_mask or range(case.num_states))
    kept = _kept(len_rollouts, case.factor)
    assert emb.dim_output == math.ceil(len_rollouts / case.factor) * num == kept * num
    if _kept(case.length, case.factor) != kept:  # no padding, no truncation: refused
        with pytest.raises(ValueError, match="must produce"):
            emb(Embedding.pack(case.tensor))
        return
    features = emb(Embedding.pack(case.tensor))
    assert features.shape == (case.batch, case.num_rollouts * emb.dim_output)

    def statistic(steps: np.ndarray) -> np.ndarray:
        states = case.states(steps)
        return np.array([states[t, j] for t in range(len(steps)) for j in range(num)])

    np.testing.assert_array_equal(
        features.double().numpy(), _reference(case, statistic, kept * num)
    )
    _check_batch_invariance(emb, case.tensor, features)


@SETTINGS
@given(cases(), st.none() | st.integers(1, 30))
def test_delta_steps_embedding_is_the_differences_of_consecutive_kept_states(case, len_rollouts):
    len_rollouts = case.length if len_rollouts is None else len_rollouts  # None: fits
    kept = _kept(len_rollouts, case.factor)
    if kept < 2:
        with pytest.raises(ValueError, match="len_rollouts must leave at least 2"):
            DeltaStepsEmbedding(case.spec, case.dim_data, len_rollouts, **case.kwargs())
        return
    emb = DeltaStepsEmbedding(case.spec, case.dim_data, len_rollouts, **case.kwargs())
    num = len(case.state_mask or range(case.num_states))
    assert emb.dim_output == (kept - 1) * num
    if _kept(case.length, case.factor) != kept:
        with pytest.raises(ValueError, match="time steps per rollout|must produce"):
            emb(Embedding.pack(case.tensor))
        return
    features = emb(Embedding.pack(case.tensor))
    assert features.shape == (case.batch, case.num_rollouts * emb.dim_output)

    def statistic(steps: np.ndarray) -> np.ndarray:
        states = case.states(steps)
        return np.array(
            [states[t + 1, j] - states[t, j] for t in range(len(steps) - 1) for j in range(num)]
        )

    # The difference of two float32 values is computed in float32: one rounding.
    expected = _reference(case, statistic, emb.dim_output)
    np.testing.assert_allclose(features.double().numpy(), expected, rtol=1e-6, atol=0)
    _check_batch_invariance(emb, case.tensor, features)


@SETTINGS
@given(cases())
def test_bayessim_embedding_is_the_documented_statistics(case):
    emb = BayesSimEmbedding(case.spec, case.dim_data, **case.kwargs())
    num_s = len(case.state_mask or range(case.num_states))
    num_a = len(case.act_mask or range(case.num_acts))
    assert emb.dim_output == num_a * num_s + 2 * num_s
    if _kept(case.length, case.factor) < 2:
        with pytest.raises(ValueError, match="at least 2 time steps"):
            emb(Embedding.pack(case.tensor))
        return
    features = emb(Embedding.pack(case.tensor))
    assert features.shape == (case.batch, case.num_rollouts * emb.dim_output)

    def statistic(steps: np.ndarray) -> np.ndarray:
        # d_t = s_{t+1} - s_t, t = 0 .. L-2; [vec(sum_t a_t d_t^T), mean_t d_t, var_t d_t]
        states, acts = case.states(steps), case.actions(steps)
        n = len(steps) - 1
        diffs = [[states[t + 1, j] - states[t, j] for j in range(num_s)] for t in range(n)]
        cross = [
            sum(acts[t, i] * diffs[t][j] for t in range(n))
            for i in range(num_a)
            for j in range(num_s)
        ]
        mean = [sum(diffs[t][j] for t in range(n)) / n for j in range(num_s)]
        var = [sum((diffs[t][j] - mean[j]) ** 2 for t in range(n)) / n for j in range(num_s)]
        return np.array(cross + mean + var)

    expected = _reference(case, statistic, emb.dim_output)
    got = features.double().numpy()
    scale = float(np.abs(case.data).max(initial=0.0))
    # Float32 sums of up to 30 products / squares of values up to 2 * scale.
    atol = 1e-5 * case.length * (2 * scale) ** 2
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=atol)
    _check_batch_invariance(emb, case.tensor, features)


# --- dynamic time warping ----------------------------------------------------------------------

PATTERNS = {
    "symmetric2": dtw.stepPattern.symmetric2,
    "symmetric1": dtw.stepPattern.symmetric1,
    "asymmetric": dtw.stepPattern.asymmetric,
    "rabinerJuang6c": dtw.stepPattern.rabinerJuangStepPattern(6, "c"),
}


@SETTINGS
@given(cases(double=True), st.sampled_from(sorted(PATTERNS)), st.booleans())
def test_dtw_embedding_is_dtw_python_distance_per_state_column(case, pattern, by_name):
    step_pattern: Any = PATTERNS[pattern]
    if by_name and pattern != "rabinerJuang6c":
        step_pattern = pattern
    emb = DynamicTimeWarpingEmbedding(case.spec, case.dim_data, step_pattern, **case.kwargs())
    num = len(case.state_mask or range(case.num_states))
    assert emb.dim_output == num

    def statistic(steps: np.ndarray) -> np.ndarray:
        sim, target = steps[:, : case.dim_data], steps[:, case.dim_data :]
        sim_s, target_s = case.states(sim), case.states(target)
        return np.array(
            [
                dtw.dtw(sim_s[:, j], target_s[:, j], step_pattern=PATTERNS[pattern]).distance
                for j in range(num)
            ]
        )

    try:
        expected = _reference(case, statistic, num)
    except ValueError as err:  # no warping path under the pattern's constraints
        with pytest.raises(ValueError, match=str(err)[:20]):
            emb(Embedding.pack(case.tensor))
        return
    features = emb(Embedding.pack(case.tensor))
    assert features.shape == (case.batch, case.num_rollouts * num)
    assert features.dtype == torch.get_default_dtype()
    # dtw-python sums in float64; the features are rounded to float32.
    np.testing.assert_allclose(features.double().numpy(), expected, rtol=1e-6, atol=0)
    _check_batch_invariance(emb, case.tensor, features)
    # A series compared with itself has distance 0.
    sim = case.tensor[..., : case.dim_data]
    same = emb(Embedding.pack(torch.cat([sim, sim], dim=-1)))
    assert torch.count_nonzero(same) == 0


# --- recurrent network -------------------------------------------------------------------------


@settings(max_examples=25)
@given(
    cases(),
    st.none() | st.integers(1, 30),
    st.sampled_from([torch.nn.RNN, torch.nn.GRU, torch.nn.LSTM]),
    st.booleans(),
    st.integers(1, 4),
    st.integers(1, 2),
    st.integers(0, 2**31 - 1),
    st.booleans(),
    st.booleans(),
)
def test_rnn_embedding_shape_determinism_and_batch_invariance(
    case, len_rollouts, net, only_last, output_size, layers, seed, batch_first, bidirectional
):
    len_rollouts = case.length if len_rollouts is None else len_rollouts  # None: fits

    def build() -> RNNEmbedding:
        return RNNEmbedding(
            case.spec,
            case.dim_data,
            hidden_size=3,
            num_recurrent_layers=layers,
            output_size=output_size,
            recurrent_network_type=net,
            only_last_output=only_last,
            len_rollouts=None if only_last else len_rollouts,
            init_param_kwargs={"seed": seed},
            batch_first=batch_first,
            bidirectional=bidirectional,
            **case.kwargs(),
        )

    emb = build()
    kept = _kept(len_rollouts, case.factor)
    assert emb.dim_output == (output_size if only_last else kept * output_size)
    state = torch.random.get_rng_state()
    if not only_last and _kept(case.length, case.factor) != kept:
        with pytest.raises(ValueError, match="must produce"):
            emb(Embedding.pack(case.tensor))
        return
    features = emb(Embedding.pack(case.tensor))
    assert features.shape == (case.batch, case.num_rollouts * emb.dim_output)
    assert features.dtype == torch.get_default_dtype()
    assert torch.isfinite(features).all()
    assert torch.equal(torch.random.get_rng_state(), state)  # torch's global RNG untouched
    assert torch.equal(build()(Embedding.pack(case.tensor)), features)  # same seed, same map
    # Batch invariance up to float32 rounding (a batch of one runs another kernel path).
    dim = emb.dim_output
    for b in range(case.batch):
        for r in range(case.num_rollouts):
            one = emb(Embedding.pack(case.tensor[b : b + 1, r : r + 1]))
            torch.testing.assert_close(one[0], features[b, r * dim : (r + 1) * dim])


# --- the samplers ------------------------------------------------------------------------------

POINT_MASS = "gymsamp/PointMass-v0"
PM_SPEC = sbi_env_spec(POINT_MASS)  # states (x, v), one force
PM_DIM = 3


def _pm_embedding(kind: str, length: int) -> Embedding:
    if kind == "all":
        return AllStepsEmbedding(PM_SPEC, PM_DIM, length)
    if kind == "bayessim":
        return BayesSimEmbedding(PM_SPEC, PM_DIM)
    return LastStepEmbedding(PM_SPEC, PM_DIM)


def _series(ro: StepSequence) -> np.ndarray:
    """The ``[s_t, a_t]`` rows of a rollout (float64), zero-padded as the samplers do."""
    return np.concatenate([ro.states[:-1], ro.actions_applied.reshape(ro.length, -1)], axis=1)


def _embed(emb: Embedding, rows: list[list[np.ndarray]]) -> torch.Tensor:
    return emb(Embedding.pack(torch.as_tensor(np.array(rows))))


@pytest.mark.slow
@SAMPLER_SETTINGS
@given(
    st.integers(2, 12),
    st.lists(st.floats(0.3, 3.0) | st.floats(-2.0, 0.0), min_size=1, max_size=4),
    st.integers(1, 2),
    st.sampled_from(["all", "bayessim", "last"]),
    st.integers(0, 2**16),
)
@example(length=3, masses=[1.0, -0.5, 2.0], workers=2, kind="all", seed=1)
def test_sim_sampler_without_recordings_is_the_hand_recorded_episode(
    length, masses, workers, kind, seed
):
    """Row b of call c: rollout(seed=s, sub_seed=c, sub_sub_seed=b) with the row's mass; a
    refused row (mass <= 0, on_failure="nan") is NaN and the others keep their seeds."""
    factory = functools.partial(gym.make, POINT_MASS, max_episode_steps=length)
    policy = LinearPolicy(PM_SPEC, weight=[[0.3, -0.2]])
    emb = _pm_embedding(kind, length)
    theta = torch.tensor(masses, dtype=torch.float64)[:, None]
    calls_rows = [masses, masses[:1], masses[-1:]]
    calls = []
    with SimRolloutSamplerForSBI(
        factory,
        policy,
        {0: "mass"},
        emb,
        num_segments=1,
        num_workers=workers,
        seed=seed,
        on_failure="nan",
    ) as sim:
        for c, dp_values in enumerate([theta, theta[:1], theta[-1]]):
            if min(calls_rows[c]) <= 0:
                with pytest.warns(RuntimeWarning, match="failed to simulate"):
                    calls.append(sim(dp_values))
            else:
                calls.append(sim(dp_values))
    for c, rows in enumerate(calls_rows):
        got = calls[c] if c < 2 else calls[c][None]
        assert got.shape == (len(rows), emb.dim_output)
        for b, m in enumerate(rows):
            if m <= 0:
                assert torch.isnan(got[b]).all()
                continue
            by_hand = rollout(
                factory,
                policy,
                seed=seed,
                sub_seed=c,
                sub_sub_seed=b,
                reset_kwargs={"domain_param": {"mass": m}},
            )
            assert torch.equal(got[b], _embed(emb, [[_series(by_hand)]])[0])


@pytest.mark.slow
@SAMPLER_SETTINGS
@given(
    st.lists(st.floats(0.3, 3.0), min_size=1, max_size=4),
    st.integers(1, 3),  # target rollouts
    st.integers(1, 12),  # their length
    st.integers(1, 12),  # num_segments or len_segments (clipped to the length)
    st.booleans(),  # by len_segments
    st.integers(1, 2),
    st.sampled_from(["all", "bayessim", "last", "dtw"]),
    st.integers(0, 2**16),
)
def test_sim_sampler_rows_are_independent_of_the_batch_split_and_match_rollouts_by_hand(
    masses, num_real, length, segments, by_len, workers, kind, seed
):
    if kind == "bayessim" and length < 2:
        length = 2
    segments = min(segments, length)
    rng = np.random.default_rng(seed)
    real = [
        rollout(
            POINT_MASS,
            PlaybackPolicy(rng.uniform(-1, 1, (length, 1)).astype(np.float32)),
            seed=seed + r,
            max_steps=length,
            reset_kwargs={"domain_param": {"mass": 1.5}},
        )
        for r in range(num_real)
    ]
    emb = DynamicTimeWarpingEmbedding(PM_SPEC, PM_DIM) if kind == "dtw" else None
    emb = emb or _pm_embedding(kind, length)
    theta = torch.tensor(masses, dtype=torch.float64)[:, None]
    options: dict[str, Any] = dict(rollouts_real=real, seed=seed)
    options["len_segments" if by_len else "num_segments"] = segments
    with SimRolloutSamplerForSBI(
        POINT_MASS, None, {0: "mass"}, emb, num_workers=workers, **options
    ) as sim:
        together = sim(theta)
        row_by_row = torch.stack([sim(row) for row in theta])
    with SimRolloutSamplerForSBI(POINT_MASS, None, {0: "mass"}, emb, **options) as sim:
        reversed_rows = sim(theta.flip(0)).flip(0)
    assert together.shape == (len(masses), num_real * emb.dim_output)
    assert torch.equal(row_by_row, together)
    assert torch.equal(reversed_rows, together)

    # By hand: each segment a rollout from the recorded state replaying the recorded actions;
    # len_segments steps each (the last one shorter), or num_segments of near-equal lengths.
    if by_len:
        edges = [*range(0, length, segments), length]
    else:
        sizes = [len(c) for c in np.array_split(np.arange(length), segments)]
        edges = np.cumsum([0, *sizes]).tolist()
    rows = []
    for m in masses:
        per_real = []
        for ro in real:
            parts = [
                _series(
                    rollout(
                        POINT_MASS,
                        PlaybackPolicy(ro.actions_applied[start:stop]),
                        max_steps=stop - start,
                        reset_kwargs={"init_state": ro.states[start], "domain_param": {"mass": m}},
                    )
                )
                for start, stop in itertools.pairwise(edges)
            ]
            sim_data = np.concatenate(parts)
            if emb.requires_target_domain_data:
                sim_data = np.concatenate([sim_data, _series(ro)], axis=1)
            per_real.append(sim_data)
        rows.append(per_real)
    torch.testing.assert_close(together, _embed(emb, rows), rtol=0, atol=0)


@pytest.mark.slow
@SAMPLER_SETTINGS
@given(
    st.lists(st.floats(-2.0, 2.0), min_size=1, max_size=4),
    st.integers(1, 6),  # terminate_at
    st.integers(2, 10),  # recording length
    st.integers(1, 10),  # len_segments (clipped to the length)
    st.integers(1, 2),
    st.booleans(),
)
def test_sim_sampler_zero_pads_segments_the_env_ends_early(
    increments, terminate_at, length, len_segments, workers, stop_on_done
):
    """CountingEnv terminates ``terminate_at`` steps after every reset: each segment of the
    recording holds its first ``terminate_at`` simulated steps, then zeros (with
    ``stop_on_done=False``: all of its steps)."""
    factory = functools.partial(CountingEnv, terminate_at=terminate_at)
    spec = sbi_env_spec(factory)
    real = rollout(CountingEnv, PlaybackPolicy(np.ones(length, dtype=np.int64)), max_steps=length)
    real.states[:] = np.arange(length + 1, dtype=np.float64)[:, None] * 0.5  # "recorded" counts
    emb = AllStepsEmbedding(spec, 2, length)
    with SimRolloutSamplerForSBI(
        factory,
        None,
        {0: "increment"},
        emb,
        len_segments=min(len_segments, length),
        rollouts_real=[real],
        num_workers=workers,
        stop_on_done=stop_on_done,
    ) as sim:
        x = sim(torch.tensor(increments, dtype=torch.float64)[:, None])
    for b, inc in enumerate(increments):
        counts = np.zeros(length)
        seg = min(len_segments, length)
        for start in range(0, length, seg):
            run = min(seg, length - start)
            for k in range(min(run, terminate_at) if stop_on_done else run):
                counts[start + k] = real.states[start, 0] + k * inc
        torch.testing.assert_close(x[b], torch.as_tensor(counts, dtype=x.dtype))


@pytest.mark.slow
@SAMPLER_SETTINGS
@given(
    st.integers(2, 10),
    st.integers(1, 4),
    st.integers(0, 2**16),
    st.integers(1, 3),  # files
    st.booleans(),  # rand_init_rollout
    st.sampled_from(["all", "bayessim", "dtw"]),
)
def test_real_and_rec_samplers_embed_the_rollouts_they_return(
    length, num_rollouts, seed, num_files, rand_init, kind
):
    """Real: call k is rollout(seed=s, sub_seed=0, sub_sub_seed=k), embedded (DTW: compared
    with itself). Rec: the files' rollouts in name order, cycling from the (drawn) start."""
    factory = functools.partial(gym.make, POINT_MASS, max_episode_steps=length)
    policy = LinearPolicy(PM_SPEC, weight=[[0.3, -0.2]])
    emb = DynamicTimeWarpingEmbedding(PM_SPEC, PM_DIM) if kind == "dtw" else None
    emb = emb or _pm_embedding(kind, length)

    def embedded(ro: StepSequence) -> torch.Tensor:
        data = _series(ro)
        if emb.requires_target_domain_data:
            data = np.concatenate([data, data], axis=1)
        return _embed(emb, [[data]])

    real = RealRolloutSamplerForSBI(factory, policy, emb, num_segments=1, seed=seed)
    recorded = []
    for k in range(num_rollouts):
        x, ro = real()
        by_hand = rollout(factory, policy, seed=seed, sub_seed=0, sub_sub_seed=k)
        np.testing.assert_array_equal(ro.states, by_hand.states)
        assert x.shape == (1, emb.dim_output)
        assert torch.equal(x, embedded(by_hand))
        recorded.append(ro)
    with tempfile.TemporaryDirectory() as name:
        # Files in name order (b_ after a_ though written first), rollouts in file order.
        chunks = np.array_split(np.arange(num_rollouts), num_files)
        for i, chunk in reversed(list(enumerate(chunks))):
            if len(chunk):
                save_rollouts(Path(name) / f"{'abc'[i]}_ros.npz", [recorded[j] for j in chunk])
        rec = RecRolloutSamplerForSBI(
            name, emb, num_segments=1, rand_init_rollout=rand_init, seed=seed
        )
    assert rec.num_rollouts == num_rollouts
    start = int(np.random.default_rng(seed).integers(num_rollouts)) if rand_init else 0
    assert rec.ring_idx == start
    for k in range(2 * num_rollouts):  # cycling
        x, ro = rec()
        expected = recorded[(start + k) % num_rollouts]
        np.testing.assert_array_equal(ro.states, expected.states)
        assert torch.equal(x, embedded(expected))


@pytest.mark.slow
@SAMPLER_SETTINGS
@given(
    st.lists(st.floats(0.3, 3.0), min_size=1, max_size=3),
    st.integers(1, 2),  # target rollouts
    st.integers(2, 10),  # their length
    st.integers(1, 3),  # num_segments
    st.integers(1, 2),
    st.integers(0, 2**16),
)
def test_sim_sampler_feedback_segments_reset_with_the_documented_seed_triples(
    masses, num_real, length, num_segments, workers, seed
):
    """use_rec_act=False with a stochastic policy: segment k (of K in all) of row b in call c
    is rollout(seed=s, sub_seed=c * K + k, sub_sub_seed=b) from the recorded state."""
    num_segments = min(num_segments, length)
    real = [
        rollout(POINT_MASS, RandomPolicy(PM_SPEC.action_space), seed=seed + r, max_steps=length)
        for r in range(num_real)
    ]
    policy = RandomPolicy(PM_SPEC.action_space)
    emb = AllStepsEmbedding(PM_SPEC, PM_DIM, length)
    theta = torch.tensor(masses, dtype=torch.float64)[:, None]

    def simulator(num_workers: int) -> SimRolloutSamplerForSBI:
        return SimRolloutSamplerForSBI(
            POINT_MASS,
            policy,
            {0: "mass"},
            emb,
            num_segments=num_segments,
            rollouts_real=real,
            use_rec_act=False,
            num_workers=num_workers,
            seed=seed,
        )

    with simulator(workers) as sim:
        calls = [sim(theta), sim(theta[-1:]), sim(theta[:1])]
    with simulator(1) as sim:
        prefix = sim(theta[:1])
    assert torch.equal(prefix, calls[0][:1])  # row 0 of call 0, whatever rows follow it
    edges = np.cumsum([0] + [len(c) for c in np.array_split(np.arange(length), num_segments)])
    num_all = num_real * num_segments
    for c, rows in enumerate([masses, masses[-1:], masses[:1]]):
        expected = []
        for b, m in enumerate(rows):
            per_real = []
            for r, ro in enumerate(real):
                parts = [
                    _series(
                        rollout(
                            POINT_MASS,
                            policy,
                            seed=seed,
                            sub_seed=c * num_all + r * num_segments + k,
                            sub_sub_seed=b,
                            max_steps=stop - start,
                            reset_kwargs={
                                "init_state": ro.states[start],
                                "domain_param": {"mass": m},
                            },
                        )
                    )
                    for k, (start, stop) in enumerate(itertools.pairwise(edges))
                ]
                per_real.append(np.concatenate(parts))
            expected.append(per_real)
        assert torch.equal(calls[c], _embed(emb, expected))


@pytest.mark.slow
@SAMPLER_SETTINGS
@given(
    st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=4),
    st.integers(1, 8),  # terminate_at
    st.integers(1, 8),  # time limit
    st.integers(1, 2),
    st.booleans(),
    st.integers(1, 3),  # downsampling
)
def test_sim_sampler_without_recordings_zero_pads_episodes_the_env_ends_early(
    increments, terminate_at, limit, workers, stop_on_done, factor
):
    """CountingEnv: the data of row b is the counts 0, inc, 2 inc, ... for the episode's
    steps (``terminate_at`` of them with stop_on_done, else the time limit's), then zeros."""
    factory = functools.partial(
        gym.make, "gymsamp/Counting-v0", max_episode_steps=limit, terminate_at=terminate_at
    )
    spec = sbi_env_spec(factory)
    assert spec.max_episode_length == limit
    emb = AllStepsEmbedding(spec, 2, limit, downsampling_factor=factor)
    policy = PlaybackPolicy(np.ones(limit, dtype=np.int64))
    with SimRolloutSamplerForSBI(
        factory,
        policy,
        {0: "increment"},
        emb,
        num_segments=1,
        num_workers=workers,
        stop_on_done=stop_on_done,
        seed=0,
    ) as sim:
        x = sim(torch.tensor(increments, dtype=torch.float64)[:, None])
    steps = min(terminate_at, limit) if stop_on_done else limit
    for b, inc in enumerate(increments):
        counts = np.array([k * inc if k < steps else 0.0 for k in range(limit)])
        expected = torch.as_tensor(counts[::factor], dtype=x.dtype)
        torch.testing.assert_close(x[b], expected)


@SETTINGS
@given(cases(min_len=2), st.sampled_from(["bayessim", "last", "rnn"]))  # BayesSim: 2+ steps
def test_masks_by_label_select_the_same_columns_as_by_index(case, kind):
    spec = EnvSpec(
        case.spec.observation_space,
        case.spec.action_space,
        obs_labels=tuple(f"s{i}" for i in range(case.num_states)),
        act_labels=tuple(f"a{i}" for i in range(case.num_acts)),
    )
    by_label = dict(
        state_mask_labels=None if case.state_mask is None else [f"s{i}" for i in case.state_mask],
        act_mask_labels=None if case.act_mask is None else [f"a{i}" for i in case.act_mask],
    )
    by_index = dict(state_mask_labels=case.state_mask, act_mask_labels=case.act_mask)
    cls: Any = {"bayessim": BayesSimEmbedding, "last": LastStepEmbedding}.get(kind)
    if cls is None:
        cls = functools.partial(
            RNNEmbedding,
            hidden_size=2,
            num_recurrent_layers=1,
            output_size=2,
            only_last_output=True,
            init_param_kwargs={"seed": 0},
        )
    labelled = cls(spec, case.dim_data, **by_label)
    indexed = cls(case.spec, case.dim_data, **by_index)
    assert labelled.state_idcs == indexed.state_idcs
    assert labelled.act_idcs == indexed.act_idcs
    packed = Embedding.pack(case.tensor)
    assert torch.equal(labelled(packed), indexed(packed))
