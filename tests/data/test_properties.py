"""Property-based tests of the data model: generated rollouts against a plain-Python model.

Each example is a list of rollouts, each kept twice: as a :class:`RolloutModel` (plain lists of
numpy entries, one per step) and as the :class:`StepSequence` built from it. The properties
check what gymsamp gives (concatenations, slices, batches, conversions, files, returns) against
what the model says it must be. Hypothesis runs derandomized, so CI sees the same examples.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

import numpy as np
import pytest
from gymnasium.spaces import Box, Discrete
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from gymsamp.data import (
    EnvSpec,
    EpisodeBatch,
    StepSequence,
    StepType,
    discounted_value,
    discounted_values,
    gae_returns,
    load_episode_batch,
    load_rollouts,
    save_episode_batch,
    save_rollouts,
)

SETTINGS = settings(max_examples=60)  # derandomized: the profile in tests/conftest.py

ENDINGS = ("cut", "terminated", "truncated", "both")  # index: terminated + 2 * truncated


@dataclasses.dataclass
class RolloutModel:
    """One rollout as plain per-step lists (the reference the properties compare against)."""

    observations: list[np.ndarray]  # T + 1 entries
    actions: list[Any]
    rewards: list[float]
    terminated: list[bool]
    truncated: list[bool]
    values: list[float]  # T + 1 entries
    infos: list[dict[str, Any]]  # dict-valued field
    hidden: list[tuple[np.ndarray, np.ndarray]]  # tuple-valued field
    rollout_info: dict[str, Any]

    @property
    def ending(self) -> str:
        return ENDINGS[self.terminated[-1] + 2 * self.truncated[-1]]

    @property
    def length(self) -> int:
        return len(self.rewards)

    def step_types(self) -> list[int]:
        types = []
        for t in range(self.length):
            if self.terminated[t]:
                types.append(StepType.TERMINAL)
            elif self.truncated[t]:
                types.append(StepType.TIMEOUT)
            elif t == 0:
                types.append(StepType.FIRST)
            else:
                types.append(StepType.MID)
        return [int(x) for x in types]

    def sequence(self) -> StepSequence:
        return StepSequence(
            rewards=np.array(self.rewards),
            observations=np.stack(self.observations),
            actions=np.stack([np.asarray(a) for a in self.actions]),
            terminated=self.terminated,
            truncated=self.truncated,
            rollout_info=self.rollout_info,
            values=np.array(self.values),
            infos=list(self.infos),
            hidden=list(self.hidden),
        )


@st.composite
def rollout_models(draw: Any, obs_dim: int, discrete: bool, index: int) -> RolloutModel:
    length = draw(st.integers(1, 20))
    floats = st.floats(-100, 100, allow_nan=False, width=32)
    obs = [
        np.array(draw(st.lists(floats, min_size=obs_dim, max_size=obs_dim)))
        for _ in range(length + 1)
    ]
    if discrete:
        actions: list[Any] = [np.int64(draw(st.integers(0, 3))) for _ in range(length)]
    else:
        actions = [np.array([draw(floats)]) for _ in range(length)]
    rewards = [draw(floats) for _ in range(length)]
    ending = draw(st.sampled_from(ENDINGS))
    terminated = [False] * length
    truncated = [False] * length
    terminated[-1] = ending in ("terminated", "both")
    truncated[-1] = ending in ("truncated", "both")
    values = [draw(floats) for _ in range(length + 1)]
    infos = [
        {"cost": np.float64(draw(floats)), "flags": np.array([t % 2, index], dtype=np.int32)}
        for t in range(length)
    ]
    hidden = [(np.full(2, float(t)), np.full(2, float(-t - index))) for t in range(length)]
    name = draw(st.text(min_size=0, max_size=6))
    rollout_info = {"name": name, "seed": index, "mass": draw(floats)}
    return RolloutModel(
        obs, actions, rewards, terminated, truncated, values, infos, hidden, rollout_info
    )


@st.composite
def rollout_lists(draw: Any, max_rollouts: int = 4) -> list[RolloutModel]:
    count = draw(st.integers(1, max_rollouts))
    obs_dim = draw(st.integers(1, 3))
    discrete = draw(st.booleans())
    return [draw(rollout_models(obs_dim, discrete, i)) for i in range(count)]


def concat_of(models: list[RolloutModel]) -> StepSequence:
    return StepSequence.concat([m.sequence() for m in models])


def flat(models: list[RolloutModel], attr: str) -> list[Any]:
    """The per-step entries of all rollouts back to back (T entries each)."""
    return [x for m in models for x in getattr(m, attr)[: m.length]]


def assert_rollout_equals(seq: StepSequence, model: RolloutModel) -> None:
    """``seq`` is exactly the one rollout ``model``, final entries and info included."""
    assert seq.rollout_count == 1
    np.testing.assert_array_equal(seq.observations, np.stack(model.observations))
    np.testing.assert_array_equal(seq.actions, np.stack([np.asarray(a) for a in model.actions]))
    np.testing.assert_array_equal(seq.rewards, np.array(model.rewards))
    np.testing.assert_array_equal(seq.values, np.array(model.values))
    np.testing.assert_array_equal(seq.terminated, model.terminated)
    np.testing.assert_array_equal(seq.truncated, model.truncated)
    assert seq.step_types.tolist() == model.step_types()
    np.testing.assert_array_equal(seq.infos["cost"], [i["cost"] for i in model.infos])
    np.testing.assert_array_equal(seq.infos["flags"], [i["flags"] for i in model.infos])
    np.testing.assert_array_equal(seq.hidden[0], [h[0] for h in model.hidden])
    np.testing.assert_array_equal(seq.hidden[1], [h[1] for h in model.hidden])
    assert seq.rollout_info == model.rollout_info


def assert_steps_equal(seq: StepSequence, models: list[RolloutModel], idcs: list[int]) -> None:
    """``seq`` holds exactly the steps ``idcs`` of the flattened ``models``, with their types."""
    obs = flat(models, "observations")
    np.testing.assert_array_equal(seq.get_data_values("observations", True), [obs[i] for i in idcs])
    np.testing.assert_array_equal(
        seq.actions, [np.asarray(flat(models, "actions")[i]) for i in idcs]
    )
    np.testing.assert_array_equal(seq.rewards, [flat(models, "rewards")[i] for i in idcs])
    np.testing.assert_array_equal(seq.terminated, [flat(models, "terminated")[i] for i in idcs])
    np.testing.assert_array_equal(seq.truncated, [flat(models, "truncated")[i] for i in idcs])
    types = [t for m in models for t in m.step_types()]
    assert seq.step_types.tolist() == [types[i] for i in idcs]
    infos = flat(models, "infos")
    np.testing.assert_array_equal(seq.infos["cost"], [infos[i]["cost"] for i in idcs])
    np.testing.assert_array_equal(seq.infos["flags"], [infos[i]["flags"] for i in idcs])
    hidden = flat(models, "hidden")
    np.testing.assert_array_equal(seq.hidden[1], [hidden[i][1] for i in idcs])


def bounds_of(models: list[RolloutModel]) -> list[int]:
    return [0, *np.cumsum([m.length for m in models]).tolist()]


# --- StepSequence: concat, indexing, rollouts ------------------------------------------------


@SETTINGS
@given(rollout_lists())
def test_concat_keeps_every_rollout_whole(models: list[RolloutModel]) -> None:
    seq = concat_of(models)
    assert seq.rollout_bounds.tolist() == bounds_of(models)
    assert seq.rollout_lengths.tolist() == [m.length for m in models]
    assert len(seq) == sum(m.length for m in models)
    assert seq.step_types.tolist() == [t for m in models for t in m.step_types()]
    assert seq.rollout_infos == [m.rollout_info for m in models]
    # T+1 fields: all steps, then the last rollout's final entry.
    np.testing.assert_array_equal(
        seq.observations, [*flat(models, "observations"), models[-1].observations[-1]]
    )
    assert_steps_equal(seq, models, list(range(len(seq))))
    for r, model in enumerate(models):
        assert_rollout_equals(seq.get_rollout(r), model)
        assert_rollout_equals(seq.get_rollout(r - len(models)), model)
    for part, model in zip(seq.iterate_rollouts(), models, strict=True):
        assert_rollout_equals(part, model)
    # next_ values never come from the next rollout.
    expected_next = [o for m in models for o in m.observations[1:]]
    np.testing.assert_array_equal(seq.next_values("observations"), expected_next)
    np.testing.assert_array_equal(
        seq.next_values("values"), [v for m in models for v in m.values[1:]]
    )


@SETTINGS
@given(rollout_lists(), st.data())
def test_get_rollout_by_slice_and_list(models: list[RolloutModel], data: st.DataObject) -> None:
    seq = concat_of(models)
    n = len(models)
    start = data.draw(st.integers(-n - 1, n + 1))
    stop = data.draw(st.integers(-n - 1, n + 1))
    step = data.draw(st.sampled_from([None, 1, 2, -1, -2]))
    selected = list(range(n))[start:stop:step]
    if not selected:
        with pytest.raises(IndexError):
            seq.get_rollout(slice(start, stop, step))
    else:
        sub = seq.get_rollout(slice(start, stop, step))
        assert sub.rollout_lengths.tolist() == [models[i].length for i in selected]
        for part, i in zip(sub.iterate_rollouts(), selected, strict=True):
            assert_rollout_equals(part, models[i])
    chosen = data.draw(st.lists(st.integers(-n, n - 1), min_size=1, max_size=6))
    sub = seq.get_rollout(chosen)
    assert sub.rollout_infos == [models[i].rollout_info for i in chosen]
    for part, i in zip(sub.iterate_rollouts(), chosen, strict=True):
        assert_rollout_equals(part, models[i])


@SETTINGS
@given(rollout_lists(), st.data())
def test_slices_and_index_lists(models: list[RolloutModel], data: st.DataObject) -> None:
    seq = concat_of(models)
    length = len(seq)
    # int indexing: a Step proxy of that step.
    i = data.draw(st.integers(-length, length - 1))
    step = seq[i]
    assert float(step.reward) == flat(models, "rewards")[i]
    np.testing.assert_array_equal(step.observation, flat(models, "observations")[i])
    assert bool(step.terminated) == flat(models, "terminated")[i]
    # slices with any step
    start = data.draw(st.integers(-length - 2, length + 2))
    stop = data.draw(st.integers(-length - 2, length + 2))
    stride = data.draw(st.sampled_from([None, 1, 2, 3, -1, -2]))
    idcs = list(range(length))[start:stop:stride]
    if not idcs:
        with pytest.raises(IndexError):
            seq[start:stop:stride]
    else:
        assert_steps_equal(seq[start:stop:stride], models, idcs)
    # index lists (duplicates and negatives allowed)
    chosen = data.draw(st.lists(st.integers(-length, length - 1), min_size=1, max_size=10))
    assert_steps_equal(seq[chosen], models, [c % length for c in chosen])


@SETTINGS
@given(rollout_lists(), st.data())
def test_contiguous_slice_keeps_rollouts(models: list[RolloutModel], data: st.DataObject) -> None:
    seq = concat_of(models)
    length = len(seq)
    start = data.draw(st.integers(0, length - 1))
    stop = data.draw(st.integers(start + 1, length))
    sub = seq[start:stop]
    bounds = bounds_of(models)
    inner = [b - start for b in bounds if start < b < stop]
    assert sub.rollout_bounds.tolist() == [0, *inner, stop - start]
    assert_steps_equal(sub, models, list(range(start, stop)))
    # The entry after each step is the model's, never the next rollout's.
    nxt = [o for m in models for o in m.observations[1:]]
    np.testing.assert_array_equal(sub.next_values("observations"), nxt[start:stop])
    first = int(np.searchsorted(bounds, start, side="right")) - 1
    last = int(np.searchsorted(bounds, stop - 1, side="right")) - 1
    assert sub.rollout_infos == [m.rollout_info for m in models[first : last + 1]]


@SETTINGS
@given(rollout_lists(), st.data())
def test_iterate_rollouts_round_trip(models: list[RolloutModel], data: st.DataObject) -> None:
    seq = concat_of(models)
    again = StepSequence.concat(list(seq.iterate_rollouts()))
    assert again.rollout_bounds.tolist() == seq.rollout_bounds.tolist()
    assert again.rollout_infos == seq.rollout_infos
    for part, model in zip(again.iterate_rollouts(), models, strict=True):
        assert_rollout_equals(part, model)


# --- batching --------------------------------------------------------------------------------


@SETTINGS
@given(rollout_lists(), st.data())
def test_ordered_batches_partition_in_order(
    models: list[RolloutModel], data: st.DataObject
) -> None:
    seq = concat_of(models)
    length = len(seq)
    if data.draw(st.booleans()):
        size = data.draw(st.integers(1, length + 3))
        batches = list(seq.split_ordered_batches(batch_size=size))
        assert all(len(b) == size for b in batches[:-1])
        assert 1 <= len(batches[-1]) <= size
    else:
        count = data.draw(st.integers(1, length))
        batches = list(seq.split_ordered_batches(num_batches=count))
        assert len(batches) == count
        sizes = [len(b) for b in batches]
        assert max(sizes) - min(sizes) <= 1
    start = 0
    for b in batches:
        assert_steps_equal(b, models, list(range(start, start + len(b))))
        start += len(b)
    assert start == length


def _batch_rewards(batches: list[StepSequence]) -> list[list[float]]:
    return [b.rewards.tolist() for b in batches]


@SETTINGS
@given(rollout_lists(), st.data())
def test_shuffled_batches_seeded_partition(models: list[RolloutModel], data: st.DataObject) -> None:
    seq = concat_of(models)
    length = len(seq)
    size = data.draw(st.integers(1, length + 2))
    complete = data.draw(st.booleans())
    seed = data.draw(st.integers(0, 2**32 - 1))
    batches = list(seq.split_shuffled_batches(size, complete, seed=seed))
    again = list(seq.split_shuffled_batches(size, complete, seed=seed))
    assert _batch_rewards(batches) == _batch_rewards(again)
    # Identify steps by their (unique) index: tag every step with it.
    tagged = concat_of(models)
    tagged.add_data("step_id", np.arange(length))
    ids = [
        i
        for b in tagged.split_shuffled_batches(size, complete, seed=seed)
        for i in b.step_id.tolist()
    ]
    assert sorted(ids) == list(range(length))
    for b in tagged.split_shuffled_batches(size, complete, seed=seed):
        assert_steps_equal(b, models, b.step_id.tolist())
        if complete:
            assert b.continuous
            # whole rollouts only
            for part in b.iterate_rollouts():
                r = int(np.searchsorted(bounds_of(models), part.step_id[0], side="right")) - 1
                assert_rollout_equals(_without(part, "step_id"), models[r])
        else:
            assert len(b) <= size


def _without(seq: StepSequence, name: str) -> StepSequence:
    seq = seq[0 : len(seq)] if seq.continuous else seq
    del seq._data[name]
    return seq


@SETTINGS
@given(rollout_lists(), st.data())
def test_sample_w_next_stays_in_rollout(models: list[RolloutModel], data: st.DataObject) -> None:
    seq = concat_of(models)
    seq.add_data("step_id", np.arange(len(seq)))
    eligible = [
        i
        for m_start, m in zip(bounds_of(models), models, strict=False)
        for i in range(m_start, m_start + m.length - 1)
    ]
    if not eligible:
        with pytest.raises(ValueError, match="batch_size"):
            seq.sample_w_next(1, seed=0)
        return
    size = data.draw(st.integers(1, len(eligible)))
    seed = data.draw(st.integers(0, 1000))
    steps, nxt = seq.sample_w_next(size, seed=seed)
    ids = steps.step_id.tolist()
    assert len(set(ids)) == size
    assert set(ids) <= set(eligible)
    assert nxt.step_id.tolist() == [i + 1 for i in ids]
    assert_steps_equal(steps, models, ids)
    assert_steps_equal(nxt, models, [i + 1 for i in ids])
    again, _ = seq.sample_w_next(size, seed=seed)
    assert again.step_id.tolist() == ids


@SETTINGS
@given(rollout_lists(max_rollouts=1), st.integers(0, 5), st.sampled_from([0, -1.5, 7]))
def test_pad(models: list[RolloutModel], extra: int, pad_value: float) -> None:
    (model,) = models
    ro = model.sequence()
    T = model.length
    StepSequence.pad(ro, T + extra, pad_value)
    assert len(ro) == T + extra
    assert ro.rollout_bounds.tolist() == [0, T + extra]
    np.testing.assert_array_equal(ro.rewards[:T], model.rewards)
    np.testing.assert_array_equal(ro.rewards[T:], np.full(extra, pad_value))
    np.testing.assert_array_equal(ro.observations[: T + 1], np.stack(model.observations))
    np.testing.assert_array_equal(
        ro.observations[T + 1 :], np.full((extra, len(model.observations[0])), pad_value)
    )
    np.testing.assert_array_equal(
        ro.infos["flags"][T:], np.full((extra, 2), pad_value, dtype=np.int32)
    )
    np.testing.assert_array_equal(ro.hidden[0][:T], [h[0] for h in model.hidden])
    assert ro.terminated[-1] == model.terminated[-1]
    assert ro.truncated[-1] == model.truncated[-1]
    assert not ro.done[:-1].any()
    assert ro.rewards.dtype == np.float64
    assert ro.infos["flags"].dtype == np.int32


# --- conversions -----------------------------------------------------------------------------


def spec_of(models: list[RolloutModel]) -> EnvSpec:
    obs_dim = len(models[0].observations[0])
    discrete = np.asarray(models[0].actions[0]).ndim == 0
    act_space = Discrete(4) if discrete else Box(-100.0, 100.0, (1,), dtype=np.float64)
    return EnvSpec(Box(-100.0, 100.0, (obs_dim,), dtype=np.float64), act_space)


def assert_same_sequence(a: StepSequence, b: StepSequence) -> None:
    """Bit-exact equality of two sequences: fields, dtypes, flags, bounds, infos, finals."""
    assert list(a.data_names) == list(b.data_names)
    assert a.data_format == b.data_format
    for name in a.data_names:
        assert _structure(a.get_data_values(name)) == _structure(b.get_data_values(name)), name
        la, lb = _leaves(a.get_data_values(name)), _leaves(b.get_data_values(name))
        assert [p for p, _ in la] == [p for p, _ in lb], name
        for (path, x), (_, y) in zip(la, lb, strict=True):
            x, y = np.asarray(_np(x)), np.asarray(_np(y))
            assert x.dtype == y.dtype, (name, path)
            assert x.shape == y.shape, (name, path)
            assert x.tobytes() == y.tobytes(), (name, path)
    np.testing.assert_array_equal(a.terminated, b.terminated)
    np.testing.assert_array_equal(a.truncated, b.truncated)
    assert a.step_types.tolist() == b.step_types.tolist()
    assert a.continuous == b.continuous
    if a.continuous:
        assert a.rollout_bounds.tolist() == b.rollout_bounds.tolist()
        assert a.rollout_infos == b.rollout_infos
        for pa, pb in zip(a.iterate_rollouts(), b.iterate_rollouts(), strict=True):
            assert pa.observations.tolist() == _np(pb.observations).tolist()


def _np(x: Any) -> Any:
    return x.numpy() if hasattr(x, "numpy") and not isinstance(x, np.ndarray) else x


def _structure(field: Any) -> Any:
    """The dicts and tuples of a field (empty ones included), leaves as None."""
    if isinstance(field, dict):
        return {k: _structure(v) for k, v in field.items()}
    if isinstance(field, tuple):
        return (type(field).__name__, *(_structure(v) for v in field))
    return None


def _leaves(field: Any, path: str = "") -> list[tuple[str, Any]]:
    if isinstance(field, dict):
        return [leaf for k, v in field.items() for leaf in _leaves(v, f"{path}[{k!r}]")]
    if isinstance(field, tuple):
        return [leaf for i, v in enumerate(field) for leaf in _leaves(v, f"{path}[{i}]")]
    return [(path, field)]


@SETTINGS
@given(rollout_lists())
def test_numpy_torch_round_trip(models: list[RolloutModel]) -> None:
    torch = pytest.importorskip("torch")
    seq = concat_of(models)
    reference = concat_of(models)
    seq.torch()
    assert seq.data_format == "torch"
    assert isinstance(seq.rewards, torch.Tensor)
    assert isinstance(seq.hidden[0], torch.Tensor)
    assert seq.rewards.dtype == torch.float64
    for r, model in enumerate(models):
        part = seq.get_rollout(r)
        np.testing.assert_array_equal(part.observations.numpy(), np.stack(model.observations))
    seq.numpy()
    assert_same_sequence(seq, reference)


@SETTINGS
@given(rollout_lists())
def test_pandas_round_trip(models: list[RolloutModel]) -> None:
    # A table finds a rollout cut without a flag by its next_ entries differing from the next
    # row's: a cut whose final entries equal the next rollout's first ones cannot be seen.
    assume(
        not any(
            m.ending == "cut"
            and np.array_equal(m.observations[-1], n.observations[0])
            and m.values[-1] == n.values[0]
            for m, n in itertools.pairwise(models)
        )
    )
    seq = concat_of(models)
    spec = spec_of(models)
    df = seq.to_pandas(spec)
    assert len(df) == len(seq)
    np.testing.assert_array_equal(df["rewards"], flat(models, "rewards"))
    np.testing.assert_array_equal(df["terminated"], flat(models, "terminated"))
    back = StepSequence.from_pandas(df, spec)
    assert back.rollout_bounds.tolist() == seq.rollout_bounds.tolist()
    assert back.step_types.tolist() == seq.step_types.tolist()
    for name in seq.data_names:
        for (path, x), (_, y) in zip(
            _leaves(seq.get_data_values(name, True)),
            _leaves(back.get_data_values(name, True)),
            strict=True,
        ):
            assert x.dtype == y.dtype, (name, path)
            np.testing.assert_array_equal(x, y)
    for part, model in zip(back.iterate_rollouts(), models, strict=True):
        np.testing.assert_array_equal(part.observations, np.stack(model.observations))
        np.testing.assert_array_equal(part.values, model.values)


@SETTINGS
@given(rollout_lists(), st.booleans())
def test_episode_batch_round_trip(models: list[RolloutModel], one_sequence: bool) -> None:
    spec = spec_of(models)
    source = [concat_of(models)] if one_sequence else [m.sequence() for m in models]
    batch = EpisodeBatch.from_step_sequences(source, spec, agent_info_names=["hidden"])
    assert batch.lengths.tolist() == [m.length for m in models]
    assert batch.step_types.tolist() == [t for m in models for t in m.step_types()]
    np.testing.assert_array_equal(batch.last_observations, [m.observations[-1] for m in models])
    # valid mask and padded views
    width = max(m.length for m in models)
    assert batch.valids.shape == (len(models), width)
    for i, m in enumerate(models):
        assert batch.valids[i].tolist() == [t < m.length for t in range(width)]
        np.testing.assert_array_equal(batch.padded_rewards[i, : m.length], m.rewards)
        np.testing.assert_array_equal(batch.padded_observations[i, : m.length], m.observations[:-1])
        np.testing.assert_array_equal(
            batch.padded_next_observations[i, : m.length], m.observations[1:]
        )
        assert batch.padded_step_types[i, : m.length].tolist() == m.step_types()
        assert (batch.padded_step_types[i, m.length :] == -1).all()
    back = batch.to_step_sequences()
    assert len(back) == len(models)
    for ro, m in zip(back, models, strict=True):
        np.testing.assert_array_equal(ro.observations, np.stack(m.observations))
        np.testing.assert_array_equal(ro.values, m.values)
        assert ro.values.dtype == np.float64
        np.testing.assert_array_equal(ro.terminated, m.terminated)
        np.testing.assert_array_equal(ro.truncated, m.truncated)
        assert ro.step_types.tolist() == m.step_types()
        np.testing.assert_array_equal(ro.infos["flags"], [i["flags"] for i in m.infos])
        assert ro.infos["flags"].dtype == np.int32
        # tuples come back as dicts keyed "0", "1" (documented)
        np.testing.assert_array_equal(ro.hidden["1"], [h[1] for h in m.hidden])
        assert ro.rollout_info == m.rollout_info
    # split / concatenate / to_list / from_list
    parts = batch.split()
    assert [p.lengths.tolist() for p in parts] == [[m.length] for m in models]
    joined = EpisodeBatch.concatenate(*parts)
    _assert_same_batch(joined, batch)
    listed = batch.to_list()
    for ep, m in zip(listed, models, strict=True):
        np.testing.assert_array_equal(ep["next_observations"], m.observations[1:])
        assert ep["episode_infos"]["name"] == m.rollout_info["name"]
    _assert_same_batch(EpisodeBatch.from_list(spec, listed), batch)


def _assert_same_batch(a: EpisodeBatch, b: EpisodeBatch) -> None:
    for name in (
        "observations",
        "last_observations",
        "actions",
        "rewards",
        "step_types",
        "lengths",
    ):
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype, name
        assert x.tobytes() == y.tobytes(), name
    for name in ("env_infos", "agent_infos", "episode_infos"):
        la, lb = _leaves(getattr(a, name)), _leaves(getattr(b, name))
        assert [p for p, _ in la] == [p for p, _ in lb], name
        for (path, x), (_, y) in zip(la, lb, strict=True):
            assert x.dtype == y.dtype, (name, path)
            if x.dtype == object:
                assert x.tolist() == y.tolist(), (name, path)
            else:
                assert x.tobytes() == y.tobytes(), (name, path)


# --- files -----------------------------------------------------------------------------------

DTYPES = [
    np.float16,
    np.float32,
    np.float64,
    np.int8,
    np.int16,
    np.int32,
    np.int64,
    np.bool_,
    np.uint8,
]


@st.composite
def typed_sequences(draw: Any) -> StepSequence:
    """One rollout (or a concatenation) with fields of many dtypes, images, empty dicts."""
    count = draw(st.integers(1, 3))
    dtypes = {f"f_{np.dtype(d).name}": d for d in DTYPES}
    shapes = {name: draw(st.sampled_from([(), (1,), (2, 3)])) for name in dtypes}
    parts = []
    for _r in range(count):
        length = draw(st.integers(1, 6))
        seed = draw(st.integers(0, 2**16))
        rng = np.random.default_rng(seed)
        fields = {
            name: (rng.normal(size=(length, *shapes[name])) * 50).astype(d)
            if np.dtype(d).kind == "f"
            else rng.integers(0, 2 if d is np.bool_ else 100, size=(length, *shapes[name])).astype(
                d
            )
            for name, d in dtypes.items()
        }
        if draw(st.booleans()):  # a NaN and an inf survive too
            fields["f_float32"].reshape(-1)[0] = np.nan
            fields["f_float64"].reshape(-1)[-1] = -np.inf
        ending = draw(st.sampled_from(ENDINGS))
        term = [False] * length
        trunc = [False] * length
        term[-1] = ending in ("terminated", "both")
        trunc[-1] = ending in ("truncated", "both")
        info = draw(
            st.one_of(
                st.none(),
                st.dictionaries(
                    st.text(max_size=5),
                    st.one_of(
                        st.text(max_size=8),
                        st.integers(-(2**40), 2**40),
                        st.floats(allow_nan=False),
                        st.booleans(),
                        st.none(),
                    ),
                    max_size=3,
                ),
                st.text(max_size=10),
            )
        )
        parts.append(
            StepSequence(
                rewards=rng.normal(size=length).astype(np.float32),
                observations=rng.integers(0, 256, size=(length + 1, 4, 4, 3), dtype=np.uint8),
                actions=rng.integers(-5, 5, size=length, dtype=np.int8),
                terminated=term,
                truncated=trunc,
                rollout_info=info,
                env_infos=[{"e": {}, "x": np.int16(t)} for t in range(length)],
                **fields,
            )
        )
    return StepSequence.concat(parts) if draw(st.booleans()) else parts[0]


@SETTINGS
@given(st.lists(typed_sequences(), min_size=1, max_size=3), st.booleans(), st.booleans())
def test_save_load_rollouts_bit_exact(
    tmp_path_factory: Any, rollouts: list[StepSequence], compress: bool, as_torch: bool
) -> None:
    if as_torch:
        rollouts[0].torch()
    path = tmp_path_factory.mktemp("io") / "ro.npz"
    save_rollouts(path, rollouts, compress=compress)
    loaded = load_rollouts(path)
    assert len(loaded) == len(rollouts)
    for a, b in zip(rollouts, loaded, strict=True):
        assert_same_sequence(a, b)
        for name in a.data_names:
            if name in a._after_last:
                for r in range(a.rollout_count):
                    x, y = a._final_entry(name, r), b._final_entry(name, r)
                    assert np.asarray(x).tobytes() == np.asarray(y).tobytes()


@SETTINGS
@given(rollout_lists(), st.booleans())
def test_save_load_episode_batch_bit_exact(
    tmp_path_factory: Any, models: list[RolloutModel], compress: bool
) -> None:
    batch = EpisodeBatch.from_step_sequences([m.sequence() for m in models], spec_of(models))
    path = tmp_path_factory.mktemp("io") / "batch.npz"
    save_episode_batch(path, batch, compress=compress)
    loaded = load_episode_batch(path)
    _assert_same_batch(loaded, batch)
    assert loaded.env_spec.observation_space == batch.env_spec.observation_space
    assert loaded.env_spec.action_space == batch.env_spec.action_space
    for ro, m in zip(loaded.to_step_sequences(), models, strict=True):
        assert ro.rollout_info == m.rollout_info


# --- returns ---------------------------------------------------------------------------------


def reference_discounted(models: list[RolloutModel], gamma: float) -> list[float]:
    out: list[float] = []
    for m in models:
        acc = 0.0
        vals = []
        for r in reversed(m.rewards):
            acc = r + gamma * acc
            vals.append(acc)
        out.extend(reversed(vals))
    return out


def reference_gae(models: list[RolloutModel], gamma: float, lamb: float) -> list[float]:
    out: list[float] = []
    for m in models:
        adv = 0.0
        advs = []
        for t in reversed(range(m.length)):
            v_next = 0.0 if m.terminated[t] else m.values[t + 1]
            delta = m.rewards[t] + gamma * v_next - m.values[t]
            adv = delta + gamma * lamb * adv
            advs.append(adv)
        out.extend(reversed(advs))
    return out


@SETTINGS
@given(rollout_lists(), st.floats(0, 1), st.floats(0, 1))
def test_returns_match_plain_loops(models: list[RolloutModel], gamma: float, lamb: float) -> None:
    seq = concat_of(models)
    np.testing.assert_allclose(
        discounted_value(seq, gamma), reference_discounted(models, gamma), rtol=1e-12, atol=1e-9
    )
    np.testing.assert_allclose(
        discounted_values([m.sequence() for m in models], gamma, data_format="numpy"),
        reference_discounted(models, gamma),
        rtol=1e-12,
        atol=1e-9,
    )
    expected = reference_gae(models, gamma, lamb)
    np.testing.assert_allclose(gae_returns(seq, gamma, lamb), expected, rtol=1e-12, atol=1e-9)
    # per rollout gives the same: nothing leaks across the boundaries
    per_part = np.concatenate([gae_returns(m.sequence(), gamma, lamb) for m in models])
    np.testing.assert_allclose(per_part, expected, rtol=1e-12, atol=1e-9)
    sliced = seq[: len(seq)]
    np.testing.assert_allclose(gae_returns(sliced, gamma, lamb), expected, rtol=1e-12, atol=1e-9)
    assert seq.discounted_return(gamma) == pytest.approx(
        sum(reference_discounted([m], gamma)[0] for m in models), rel=1e-12, abs=1e-9
    )


# --- composed operations ---------------------------------------------------------------------


@st.composite
def slice_bounds(draw: Any, length: int) -> tuple[int, int]:
    start = draw(st.integers(0, length - 1))
    return start, draw(st.integers(start + 1, length))


@SETTINGS
@given(rollout_lists(), st.data())
def test_concat_of_slices(models: list[RolloutModel], data: st.DataObject) -> None:
    seq = concat_of(models)
    length = len(seq)
    cuts = data.draw(st.lists(slice_bounds(length), min_size=1, max_size=4))
    joined = StepSequence.concat([seq[a:b] for a, b in cuts])
    ids = [i for a, b in cuts for i in range(a, b)]
    assert_steps_equal(joined, models, ids)
    nxt = [o for m in models for o in m.observations[1:]]
    np.testing.assert_array_equal(joined.next_values("observations"), [nxt[i] for i in ids])
    nxt_values = [v for m in models for v in m.values[1:]]
    np.testing.assert_array_equal(joined.next_values("values"), [nxt_values[i] for i in ids])
    # Rollouts: every piece's own rollouts, in order.
    bounds = bounds_of(models)
    expected_bounds = [0]
    offset = 0
    for a, b in cuts:
        expected_bounds += [x - a + offset for x in bounds if a < x < b] + [b - a + offset]
        offset += b - a
    assert joined.rollout_bounds.tolist() == expected_bounds
    # and each of them survives a round trip through a file and an EpisodeBatch
    for r, part in enumerate(joined.iterate_rollouts()):
        assert_steps_equal(part, models, ids[expected_bounds[r] : expected_bounds[r + 1]])


@SETTINGS
@given(rollout_lists(max_rollouts=1), st.data())
def test_pad_of_a_slice(models: list[RolloutModel], data: st.DataObject) -> None:
    (model,) = models
    seq = model.sequence()
    start, stop = data.draw(slice_bounds(model.length))
    extra = data.draw(st.integers(0, 4))
    ro = seq[start:stop]
    StepSequence.pad(ro, stop - start + extra)
    # The model: the slice plus `extra` steps, the real last step's end flags moved to the end;
    # the first step is FIRST only where the slice starts the rollout.
    new_length = stop - start + extra
    terminated = [False] * (new_length - 1) + [model.terminated[stop - 1]]
    truncated = [False] * (new_length - 1) + [model.truncated[stop - 1]]
    padded = dataclasses.replace(model, terminated=terminated, truncated=truncated)
    padded.rewards = [0.0] * new_length
    padded_types = padded.step_types()
    if start > 0 and padded_types[0] == int(StepType.FIRST):
        padded_types[0] = int(StepType.MID)
    assert len(ro.step_types) == len(ro)
    assert ro.step_types.tolist() == padded_types
    np.testing.assert_array_equal(ro.rewards[: stop - start], model.rewards[start:stop])
