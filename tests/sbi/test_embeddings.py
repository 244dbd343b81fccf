import math

import numpy as np
import pytest
import torch
from gymnasium.spaces import Box, Dict, Discrete

from gymsamp.data import EnvSpec
from gymsamp.sbi import (
    AllStepsEmbedding,
    BayesSimEmbedding,
    DeltaStepsEmbedding,
    DynamicTimeWarpingEmbedding,
    Embedding,
    LastStepEmbedding,
    RNNEmbedding,
)

# States (x, y, z) in the state space, actions (u, w): data rows [x, y, z, u, w].
SPEC = EnvSpec(
    observation_space=Box(-1, 1, (4,)),
    action_space=Box(-1, 1, (2,)),
    state_space=Box(-np.inf, np.inf, (3,), np.float64),
    state_labels=("x", "y", "z"),
    act_labels=("u", "w"),
)
S, A, L = 3, 2, 7  # 7 steps: a multiple of neither downsampling factor below


def make(cls, **kwargs):
    if cls in (AllStepsEmbedding, DeltaStepsEmbedding):
        return cls(SPEC, S + A, len_rollouts=L, **kwargs)
    if cls is RNNEmbedding:
        return cls(
            SPEC,
            S + A,
            hidden_size=4,
            num_recurrent_layers=2,
            output_size=3,
            len_rollouts=L,
            init_param_kwargs={"seed": 0},
            **kwargs,
        )
    return cls(SPEC, S + A, **kwargs)


def expected_dim(cls, states, acts, factor):
    steps = math.ceil(L / factor)  # data[::f] keeps ceil(L / f) steps
    return {
        LastStepEmbedding: states,
        AllStepsEmbedding: steps * states,
        DeltaStepsEmbedding: (steps - 1) * states,
        BayesSimEmbedding: acts * states + 2 * states,
        DynamicTimeWarpingEmbedding: states,
        RNNEmbedding: steps * 3,
    }[cls]


ALL = [
    LastStepEmbedding,
    AllStepsEmbedding,
    DeltaStepsEmbedding,
    BayesSimEmbedding,
    DynamicTimeWarpingEmbedding,
    RNNEmbedding,
]


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
@pytest.mark.parametrize("factor", [1, 2, 3])
@pytest.mark.parametrize(
    ("state_mask", "act_mask", "states", "acts"),
    [(None, None, 3, 2), (["z", "x"], ["w"], 2, 1), ([1], [0, 1], 1, 2)],
    ids=["all", "labels", "indices"],
)
def test_output_shape_is_dim_output_for_every_mask_and_downsampling(
    cls, factor, state_mask, act_mask, states, acts
):
    emb = make(
        cls, downsampling_factor=factor, state_mask_labels=state_mask, act_mask_labels=act_mask
    )
    assert emb.dim_output == expected_dim(cls, states, acts, factor)
    width = 2 * (S + A) if emb.requires_target_domain_data else S + A
    assert emb.dim_data_orig == width
    batch, rollouts = 4, 3
    data = torch.randn(batch, rollouts, L, width, generator=torch.Generator().manual_seed(0))
    out = emb(Embedding.pack(data))
    assert out.shape == (batch, rollouts * emb.dim_output)
    assert out.dtype == torch.get_default_dtype()
    # Unpacked data gives the same features.
    torch.testing.assert_close(emb(data), out)


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
@pytest.mark.parametrize("factor", [1, 3])
def test_forward_one_batch_is_one_row_of_forward(cls, factor):
    # The seed downsamples "in the base class before calling summary_statistic()": for the
    # rollouts of one parameter set too, so its features are dim_output wide each.
    emb = make(cls, downsampling_factor=factor)
    data = torch.randn(2, 3, L, emb.dim_data_orig, generator=torch.Generator().manual_seed(0))
    features = emb(data)
    for i in range(2):
        one = emb.forward_one_batch(data[i])
        assert one.shape == (3 * emb.dim_output,)
        assert torch.equal(one, features[i])
    # Data of another dtype is cast as forward casts it.
    assert torch.equal(emb.forward_one_batch(data[0].double()), features[0])


def test_forward_one_batch_downsamples_before_the_summary_statistic():
    spec = EnvSpec(Box(-9, 9, (1,)), Box(-1, 1, (1,)))
    data = torch.tensor([[[0.0, 0.0], [1.0, 0.0], [3.0, 0.0], [6.0, 0.0], [10.0, 0.0]]])
    # Steps 0, 3 are kept (of L = 5 with factor 3): states 0 and 6.
    assert AllStepsEmbedding(spec, 2, 5, downsampling_factor=3).forward_one_batch(
        data
    ).tolist() == [0.0, 6.0]
    assert DeltaStepsEmbedding(spec, 2, 5, downsampling_factor=3).forward_one_batch(
        data
    ).tolist() == [6.0]


def test_forward_one_batch_checks_its_data_and_the_output_width():
    emb = AllStepsEmbedding(SPEC, 5, len_rollouts=4)
    with pytest.raises(ValueError, match=r"data_batch must have shape \(R, L, D\), got \(4, 5\)"):
        emb.forward_one_batch(torch.zeros(4, 5))
    with pytest.raises(ValueError, match=r"data_batch must have shape \(R, L, D\), got \(\)"):
        emb.forward_one_batch(torch.tensor(1.0))
    with pytest.raises(ValueError, match="columns per step but must have 5"):
        emb.forward_one_batch(torch.zeros(1, 4, 6))
    with pytest.raises(ValueError, match=r"must produce \(24,\) = \(R \* dim_output,\)"):
        emb.forward_one_batch(torch.zeros(2, 5, 5))  # 5 steps instead of 4
    with pytest.raises(TypeError, match="data_batch must be a torch.Tensor, got list"):
        emb.forward_one_batch([[[0.0] * 5]])
    # Empty batches failed inside torch ("stack expects a non-empty TensorList").
    every = r"with every size but D >= 1, got "
    with pytest.raises(ValueError, match=r"data_batch must have shape \(R, L, D\) " + every):
        emb.forward_one_batch(torch.zeros(0, 4, 5))
    with pytest.raises(ValueError, match=r"data must have shape \(B, R, L, D\) " + every):
        emb(torch.zeros(0, 2, 4, 5))
    with pytest.raises(ValueError, match=r"data must have shape \(B, R, L, D\) " + every):
        emb(torch.zeros(3, 0, 4, 5))


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_summary_statistic_takes_one_rollouts_steps_only(cls):
    # Public, but unchecked: LastStepEmbedding gave an IndexError from inside for 4-D data
    # and zeros (the padding columns' values) for data with too many columns.
    emb = make(cls)
    width = emb.dim_data_orig
    shape = rf"\(L, dim_data_orig\) = \(L >= 1, {width}\) for {cls.__name__}.summary_statistic"
    for bad in ((1, 1, L, width), (L, width + 2), (L, width - 1), (width,), (0, width)):
        with pytest.raises(ValueError, match=rf"^data must be .* {shape} .*, got shape "):
            emb.summary_statistic(torch.zeros(bad))
    with pytest.raises(TypeError, match=r"^data must be a torch.Tensor, got ndarray$"):
        emb.summary_statistic(np.zeros((L, width)))
    # One rollout's steps give its row of forward().
    data = torch.randn(1, 1, L, width, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(emb.summary_statistic(data[0, 0]), emb(data)[0])


def test_masks_select_the_labelled_columns_in_the_given_order():
    emb = LastStepEmbedding(SPEC, 5, state_mask_labels=["z", "x"])
    assert emb.state_idcs == (2, 0)
    data = torch.tensor([[1.0, 2.0, 3.0, 4.0, 5.0], [6.0, 7.0, 8.0, 9.0, 10.0]])
    assert emb.summary_statistic(data).tolist() == [8.0, 6.0]
    bs = BayesSimEmbedding(SPEC, 5, act_mask_labels=["w"])
    assert bs.act_idcs == (1,)


def test_bayessim_matches_hand_computed_statistics():
    spec = EnvSpec(Box(-9, 9, (4,)), Box(-9, 9, (1,)), state_space=Box(-9, 9, (2,)))
    emb = BayesSimEmbedding(spec, 3)
    # States s0..s3 and actions a0..a3 (a3 has no state difference after it).
    states = [[0.0, 0.0], [1.0, 2.0], [3.0, 2.0], [4.0, 5.0]]
    acts = [1.0, -1.0, 2.0, 9.0]
    data = torch.tensor([[*s, a] for s, a in zip(states, acts, strict=True)], dtype=torch.float64)
    # d = (1, 2), (2, 0), (1, 3); sum a_t d_t = (1, 2) - (2, 0) + (2, 6) = (1, 8);
    # mean d = (4/3, 5/3); var d = ((1/9 + 4/9 + 1/9) / 3, (1/9 + 25/9 + 16/9) / 3).
    expected = [1.0, 8.0, 4 / 3, 5 / 3, 2 / 9, 14 / 9]
    torch.testing.assert_close(
        emb.summary_statistic(data), torch.tensor(expected, dtype=torch.float64)
    )
    masked = BayesSimEmbedding(spec, 3, state_mask_labels=[1])
    torch.testing.assert_close(
        masked.summary_statistic(data), torch.tensor([8.0, 5 / 3, 14 / 9], dtype=torch.float64)
    )
    # Downsampling by 2 keeps s0, s2 and a0: d = (3, 2).
    ds = BayesSimEmbedding(spec, 3, downsampling_factor=2)
    out = ds(data.reshape(1, 1, -1))
    torch.testing.assert_close(out, torch.tensor([[3.0, 2.0, 3.0, 2.0, 0.0, 0.0]]))


def test_bayessim_outer_product_is_action_major():
    spec = EnvSpec(Box(-9, 9, (1,)), Box(-9, 9, (2,)))
    emb = BayesSimEmbedding(spec, 3)
    assert emb.dim_output == 2 * 1 + 2 * 1
    data = torch.tensor([[0.0, 1.0, 10.0], [1.0, 2.0, 20.0], [3.0, 7.0, 70.0]])
    # d = 1, 2: sum of u*d = 1 + 4, sum of w*d = 10 + 40; mean 1.5; var 0.25.
    assert emb.summary_statistic(data).tolist() == [5.0, 50.0, 1.5, 0.25]
    # With several state columns too: all of action 0's products first, then action 1's.
    emb = BayesSimEmbedding(EnvSpec(Box(-9, 9, (2,)), Box(-9, 9, (2,))), 4)
    data = torch.tensor([[0.0, 0.0, 1.0, 10.0], [1.0, 2.0, 0.0, 0.0]], dtype=torch.float64)
    d, a = np.array([1.0, 2.0]), np.array([1.0, 10.0])  # the one state difference, its action
    assert emb.summary_statistic(data)[:4].tolist() == np.outer(a, d).ravel().tolist()


def test_last_all_and_delta_steps_values():
    spec = EnvSpec(Box(-9, 9, (2,)), Discrete(3))  # states = observations, one action column
    data = torch.tensor([[0.0, 1.0, 2.0], [2.0, 3.0, 0.0], [5.0, 4.0, 1.0], [9.0, 0.0, 1.0]])
    assert LastStepEmbedding(spec, 3).summary_statistic(data).tolist() == [9.0, 0.0]
    all_steps = AllStepsEmbedding(spec, 3, len_rollouts=4, downsampling_factor=3)
    assert all_steps(data.reshape(1, 1, -1)).tolist() == [[0.0, 1.0, 9.0, 0.0]]
    delta = DeltaStepsEmbedding(spec, 3, len_rollouts=4, state_mask_labels=[0])
    assert delta(data.reshape(1, 1, -1)).tolist() == [[2.0, 3.0, 4.0]]


def test_dtw_distances_match_hand_computed_values():
    spec = EnvSpec(Box(-9, 9, (2,)), Box(-1, 1, (1,)))
    emb = DynamicTimeWarpingEmbedding(spec, 3)
    sim = torch.tensor([[0.0, 0.0, 0.5], [1.0, 2.0, 0.5], [2.0, 5.0, 0.5]])
    target = torch.tensor([[0.0, 1.0, -0.5], [2.0, 1.0, -0.5], [2.0, 5.0, -0.5]])
    # Local costs |x_i - y_j|; symmetric2: g[i,j] = min(g[i-1,j-1] + 2d, g[i,j-1] + d,
    # g[i-1,j] + d), g[0,0] = d[0,0]. Column 0 ([0,1,2] vs [0,2,2]): g[2,2] = 1.
    # Column 1 ([0,2,5] vs [1,1,5]): g = [[1,2,7],[2,3,6],[6,7,3]], so 3.
    data = torch.cat([sim, target], dim=1)
    assert emb.summary_statistic(data).tolist() == [1.0, 3.0]
    # symmetric1 (diagonal steps cost d once): column 1 gives 2 instead.
    sym1 = DynamicTimeWarpingEmbedding(spec, 3, step_pattern="symmetric1")
    assert sym1.summary_statistic(data).tolist() == [1.0, 2.0]
    masked = DynamicTimeWarpingEmbedding(spec, 3, state_mask_labels=[1])
    assert masked(data.reshape(1, 1, -1)).tolist() == [[3.0]]


def test_dtw_of_a_series_with_itself_is_zero_and_warping_absorbs_shifts():
    emb = DynamicTimeWarpingEmbedding(SPEC, 5)
    series = torch.randn(20, 5, generator=torch.Generator().manual_seed(1))
    assert emb.summary_statistic(torch.cat([series, series], dim=1)).tolist() == [0.0] * 3
    spec = EnvSpec(Box(-9, 9, (1,)), Box(-1, 1, (1,)))
    shifted = torch.tensor([[0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [1.0, 0.0, 1.0, 0.0]])
    assert DynamicTimeWarpingEmbedding(spec, 2).summary_statistic(shifted).tolist() == [0.0]


def test_dtw_rejects_an_unknown_step_pattern():
    with pytest.raises(ValueError, match="step_pattern must name"):
        DynamicTimeWarpingEmbedding(SPEC, 5, step_pattern="nonsense")
    with pytest.raises(TypeError, match="step_pattern must be"):
        DynamicTimeWarpingEmbedding(SPEC, 5, step_pattern=3)


def test_rnn_is_reproducible_frozen_and_leaves_the_global_generator_alone():
    state = torch.random.get_rng_state()
    a = make(RNNEmbedding)
    b = make(RNNEmbedding)
    assert torch.equal(torch.random.get_rng_state(), state)
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)
        assert not pa.requires_grad
    other = RNNEmbedding(SPEC, 5, 4, 2, 3, len_rollouts=L, init_param_kwargs={"seed": 1})
    assert not torch.equal(next(a.parameters()), next(other.parameters()))
    data = torch.randn(2, 1, L * 5, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(a(data), b(data))
    values = torch.cat([p.reshape(-1) for p in other.parameters()])
    a.init_param(values)
    torch.testing.assert_close(a(data), other(data))


def test_rnn_init_param_checks_its_values_and_without_a_seed_draws_afresh():
    emb = make(RNNEmbedding)
    n = sum(p.numel() for p in emb.parameters())
    with pytest.raises(ValueError, match=rf"^init_values must have shape \({n},\), got \(3,\)$"):
        emb.init_param(torch.zeros(3))
    with pytest.raises(
        TypeError, match=r"init_param takes no options with init_values, got \{'seed': 1\}"
    ):
        emb.init_param(torch.zeros(n), seed=1)
    state = torch.random.get_rng_state()
    emb.init_param()
    first = torch.cat([p.reshape(-1) for p in emb.parameters()])
    emb.init_param(seed=None)
    second = torch.cat([p.reshape(-1) for p in emb.parameters()])
    assert torch.equal(torch.random.get_rng_state(), state)  # fresh entropy, not torch's stream
    assert not torch.equal(first, second)
    unseeded = RNNEmbedding(SPEC, 5, 4, 2, 3, len_rollouts=L)
    assert not torch.equal(next(unseeded.parameters()), next(make(RNNEmbedding).parameters()))


def test_rnn_only_last_output_and_lstm():
    emb = RNNEmbedding(
        SPEC,
        5,
        6,
        1,
        2,
        recurrent_network_type=torch.nn.LSTM,
        only_last_output=True,
        output_nonlin=torch.tanh,
        init_param_kwargs={"seed": 0},
    )
    assert emb.dim_output == 2
    out = emb(torch.randn(3, 2, 11 * 5, generator=torch.Generator().manual_seed(0)))
    assert out.shape == (3, 4)
    assert bool(torch.all(out.abs() < 1))
    with pytest.raises(ValueError, match="len_rollouts must be given"):
        RNNEmbedding(SPEC, 5, 6, 1, 2)
    with pytest.raises(TypeError, match="recurrent_network_type"):
        RNNEmbedding(SPEC, 5, 6, 1, 2, recurrent_network_type=torch.nn.Linear, len_rollouts=3)
    with pytest.raises(TypeError, match="unknown options"):
        RNNEmbedding(SPEC, 5, 6, 1, 2, len_rollouts=3, init_param_kwargs={"gain": 2})


def test_forward_checks_the_output_width():
    emb = AllStepsEmbedding(SPEC, 5, len_rollouts=4)
    # The rollouts of every parameter set are checked (forward_one_batch) as they are embedded.
    with pytest.raises(ValueError, match=r"must produce \(12,\) = \(R \* dim_output,\)"):
        emb(torch.zeros(1, 1, 5 * 5))  # 5 steps instead of 4
    with pytest.raises(ValueError, match="positive multiple of dim_data_orig=5"):
        emb(torch.zeros(1, 1, 12))
    with pytest.raises(ValueError, match="columns per step but must have 10"):
        DynamicTimeWarpingEmbedding(SPEC, 5)(torch.zeros(1, 1, 4, 5))
    with pytest.raises(ValueError, match="at least 2 time steps"):
        BayesSimEmbedding(SPEC, 5)(torch.zeros(1, 1, 5))


def test_pack_and_unpack_round_trip():
    data = torch.arange(2 * 3 * 4 * 5.0).reshape(2, 3, 4, 5)
    packed = Embedding.pack(data)
    assert packed.shape == (2, 3, 20)
    assert torch.equal(Embedding.unpack(packed, 5), data)
    assert Embedding.pack(data[0, 0]).shape == (1, 1, 20)
    assert Embedding.pack(data[0]).shape == (1, 3, 20)
    with pytest.raises(ValueError, match="2, 3 or 4 dimensions"):
        Embedding.pack(torch.zeros(3))
    with pytest.raises(ValueError, match="must be packed"):
        Embedding.unpack(data, 5)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="dim_data must be S \\+ A = 3 \\+ 2 = 5"):
        LastStepEmbedding(SPEC, 4)
    with pytest.raises(ValueError, match="downsampling_factor must be an int >= 1"):
        LastStepEmbedding(SPEC, 5, downsampling_factor=0)
    with pytest.raises(ValueError, match="state_mask_labels has the unknown label 'q'"):
        LastStepEmbedding(SPEC, 5, state_mask_labels=["q"])
    with pytest.raises(ValueError, match=r"act_mask_labels indices must be in \[0, 2\)"):
        BayesSimEmbedding(SPEC, 5, act_mask_labels=[2])
    with pytest.raises(ValueError, match="must not select a column twice"):
        LastStepEmbedding(SPEC, 5, state_mask_labels=[0, "x"])
    unlabelled = EnvSpec(Box(-1, 1, (2,)), Box(-1, 1, (1,)))
    with pytest.raises(ValueError, match="labels only if the spec has labels"):
        LastStepEmbedding(unlabelled, 3, state_mask_labels=["x"])
    with pytest.raises(TypeError, match="spec must be a gymsamp.data.EnvSpec"):
        LastStepEmbedding(None, 3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="len_rollouts must leave at least 2 time steps"):
        DeltaStepsEmbedding(SPEC, 5, len_rollouts=3, downsampling_factor=3)
    nested = EnvSpec(Dict(x=Box(-1, 1, (2,))), Box(-1, 1, (1,)))
    with pytest.raises(
        TypeError, match=r"^space must have a fixed shape \(Box, Discrete, ...\), got Dict"
    ):
        LastStepEmbedding(nested, 3)


@pytest.mark.parametrize(
    ("mask", "error", "message"),
    [
        ("x", TypeError, "state_mask_labels must be a list or tuple of ints or strings, got 'x'"),
        ([], ValueError, r"state_mask_labels must select at least one column, got an empty \[\]"),
        ([1.0], TypeError, "state_mask_labels must hold ints or strings, got 1.0"),
        ([True], TypeError, "state_mask_labels must hold ints or strings, got True"),
    ],
)
def test_state_masks_that_select_no_columns_by_index_or_label_are_refused(mask, error, message):
    with pytest.raises(error, match=f"^{message}$"):
        LastStepEmbedding(SPEC, 5, state_mask_labels=mask)


def test_data_that_is_no_tensor_is_refused_by_name():
    data = np.zeros((1, 1, 5))
    emb = LastStepEmbedding(SPEC, 5)
    for call in (emb, Embedding.pack, lambda d: Embedding.unpack(d, 5)):
        with pytest.raises(TypeError, match="^data must be a torch.Tensor, got ndarray$"):
            call(data)
    with pytest.raises(TypeError, match="^data_batch must be a torch.Tensor, got ndarray$"):
        emb.forward_one_batch(data)


def test_repr_shows_the_selected_columns_and_the_output_width():
    emb = LastStepEmbedding(SPEC, 5, state_mask_labels=["z", "x"], downsampling_factor=2)
    assert repr(emb) == (
        "LastStepEmbedding(dim_data=5, downsampling_factor=2, state_idcs=(2, 0), "
        "act_idcs=(0, 1), dim_output=2)"
    )


def test_rnn_output_nonlin_must_be_callable():
    with pytest.raises(TypeError, match="^output_nonlin must be None or callable, got 5$"):
        make(RNNEmbedding, output_nonlin=5)
    squashed = make(RNNEmbedding, output_nonlin=torch.tanh)
    torch.testing.assert_close(squashed(RNN_DATA), torch.tanh(make(RNNEmbedding)(RNN_DATA)))


def test_use_cuda_falls_back_to_the_cpu_with_a_warning(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.warns(UserWarning, match="CUDA is not available"):
        emb = LastStepEmbedding(SPEC, 5, use_cuda=True)
    assert emb.device == "cpu"


@pytest.mark.parametrize("cls", [LastStepEmbedding, BayesSimEmbedding, RNNEmbedding])
def test_use_cuda_must_be_a_bool(cls):
    # "no" is truthy: it would silently ask for the GPU.
    with pytest.raises(TypeError, match=r"use_cuda must be a bool \(True or False\), got 'no'"):
        make(cls, use_cuda="no")
    assert make(cls, use_cuda=np.False_).device == "cpu"


def test_rnn_dropout_must_be_a_real_number():
    for bad in ("x", None, True):
        with pytest.raises(TypeError, match=r"dropout must be a real number in \[0, 1\), got"):
            make(RNNEmbedding, dropout=bad)


@pytest.mark.parametrize("bad", [1.0, -0.1, 1.5, float("nan")])
def test_rnn_dropout_must_be_below_one(bad):
    # 1.0 would drop every output of the layers below the last.
    with pytest.raises(ValueError, match=rf"^dropout must be in \[0, 1\), got {bad}$"):
        make(RNNEmbedding, dropout=bad)
    assert make(RNNEmbedding, dropout=0.5).rnn_layers.dropout == 0.5


@pytest.mark.parametrize("net", [torch.nn.RNN, torch.nn.LSTM, torch.nn.GRU])
def test_rnn_recurrent_weights_are_orthogonal_and_biases_zero(net):
    emb = make(RNNEmbedding, recurrent_network_type=net)  # hidden_size 4, 2 layers
    recurrent = dict(emb.rnn_layers.named_parameters())
    assert {"weight_hh_l0", "weight_hh_l1"} <= recurrent.keys()
    for name, value in recurrent.items():
        if name.startswith("weight_hh"):
            # The gates' (G * 4, 4) stack has orthonormal columns (a square one is orthogonal).
            torch.testing.assert_close(value.T @ value, torch.eye(4), msg=name)
        elif name.startswith("bias"):
            assert not value.any(), name
    assert not emb.output_layer.bias.any()


def test_rnn_only_last_output_must_be_a_bool():
    with pytest.raises(
        TypeError, match=r"only_last_output must be a bool \(True or False\), got 'no'"
    ):
        make(RNNEmbedding, only_last_output="no")


def _rnn(**kwargs):
    return make(RNNEmbedding, recurrent_network_type=torch.nn.GRU, **kwargs)


RNN_DATA = torch.randn(2, 3, L, S + A, generator=torch.Generator().manual_seed(2))


def test_rnn_bias_and_batch_first_kwargs_reach_the_recurrent_net():
    plain = _rnn()
    no_bias = _rnn(bias=False)
    assert not no_bias.rnn_layers.bias
    assert not [name for name, _ in no_bias.rnn_layers.named_parameters() if "bias" in name]
    # init_param zeroes the biases, so the same seed gives the same features without them.
    torch.testing.assert_close(no_bias(RNN_DATA), plain(RNN_DATA))
    # batch_first only changes the layout gymsamp feeds the net, not the features.
    batch_first = _rnn(batch_first=True)
    assert batch_first.rnn_layers.batch_first
    assert torch.equal(batch_first(RNN_DATA), plain(RNN_DATA))
    rnn = make(RNNEmbedding, nonlinearity="relu")
    assert rnn.rnn_layers.nonlinearity == "relu"


@pytest.mark.parametrize("only_last_output", [False, True])
def test_rnn_bidirectional_features_see_the_whole_rollout(only_last_output):
    emb = _rnn(bidirectional=True, only_last_output=only_last_output)
    assert emb.dim_output == (1 if only_last_output else L) * 3
    out = emb(RNN_DATA)
    assert out.shape == (2, 3 * emb.dim_output)
    # A plain bidirectional GRU with the same weights, fed one rollout, is the reference.
    ref = torch.nn.GRU(S + A, 4, num_layers=2, bidirectional=True)
    ref.load_state_dict(emb.rnn_layers.state_dict())
    with torch.no_grad():
        hidden, _ = ref(RNN_DATA[1, 2].unsqueeze(1))
        expected = emb.output_layer(hidden[-1:] if only_last_output else hidden).reshape(-1)
    torch.testing.assert_close(emb.forward_one_batch(RNN_DATA[1])[-emb.dim_output :], expected)
    # The first step's features depend on the last step (the backward direction).
    changed = RNN_DATA.clone()
    changed[:, :, -1] += 1.0
    first = slice(0, 3)
    assert not torch.allclose(emb(changed)[:, first], out[:, first])
    assert torch.equal(_rnn()(changed)[:, first], _rnn()(RNN_DATA)[:, first])


@pytest.mark.filterwarnings("ignore:LSTM with projections is not supported with oneDNN")
def test_rnn_lstm_projection_sets_the_output_layer_width():
    emb = make(RNNEmbedding, recurrent_network_type=torch.nn.LSTM, proj_size=2)
    assert emb.output_layer.in_features == 2
    assert emb(RNN_DATA).shape == (2, 3 * emb.dim_output)


@pytest.mark.parametrize(
    ("kwarg", "owner"),
    [
        ("input_size", "dim_data and the state and action masks"),
        ("num_layers", "num_recurrent_layers"),
        ("device", "use_cuda"),
        ("dtype", "torch's default dtype"),
    ],
)
def test_rnn_refuses_kwargs_that_gymsamp_sets(kwarg, owner):
    with pytest.raises(
        TypeError,
        match=rf"recurrent_net_kwargs must not set {kwarg} \(got {kwarg}=1\): {owner} sets it",
    ):
        RNNEmbedding(SPEC, 5, 4, 2, 3, len_rollouts=L, **{kwarg: 1})


def test_rnn_batch_first_and_bidirectional_must_be_bools():
    for kwarg in ("batch_first", "bidirectional"):
        with pytest.raises(TypeError, match=rf"{kwarg} must be a bool \(True or False\), got 1"):
            _rnn(**{kwarg: 1})
