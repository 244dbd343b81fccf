import tracemalloc

import numpy as np
import pytest

from gymsamp.data import (
    gen_ordered_batch_idcs,
    gen_ordered_batches,
    gen_shuffled_batch_idcs,
    shuffled_ordered_batches,
)


def test_ordered_batch_idcs_sorted_and_shuffled():
    assert list(gen_ordered_batch_idcs(2, 5)) == [(0, 1), (2, 3), (4,)]
    shuffled = list(gen_ordered_batch_idcs(2, 5, sorted=False, seed=0))
    assert sorted(shuffled) == [(0, 1), (2, 3), (4,)]
    assert shuffled == list(gen_ordered_batch_idcs(2, 5, sorted=False, seed=0))


@pytest.mark.parametrize(("batch_size", "data_size"), [(1, 1), (3, 10), (4, 8), (7, 1000)])
@pytest.mark.parametrize("seed", range(3))
def test_ordered_batch_idcs_shuffle_the_listed_batches(batch_size, data_size, seed):
    # A permutation of the list of all batches, drawn from the seed's generator: batches made
    # one at a time must come in that order, as Python ints.
    listed = [
        tuple(range(start, min(start + batch_size, data_size)))
        for start in range(0, data_size, batch_size)
    ]
    order = np.random.default_rng(seed).permutation(len(listed))
    shuffled = list(gen_ordered_batch_idcs(batch_size, data_size, sorted=False, seed=seed))
    assert shuffled == [listed[i] for i in order]
    assert list(gen_ordered_batch_idcs(batch_size, data_size)) == listed
    assert {type(i) for batch in shuffled for i in batch} == {int}


@pytest.mark.parametrize("sorted_", [True, False])
def test_ordered_batch_idcs_make_each_batch_when_it_is_taken(sorted_):
    # Listing every batch first held all indices as Python ints (about 49 bytes each) before
    # the first batch: 49 MB for 10^6 indices, however few batches were taken.
    data_size, batch_size = 1_000_000, 64
    tracemalloc.start()
    try:
        batches = gen_ordered_batch_idcs(batch_size, data_size, sorted=sorted_, seed=0)
        first = next(batches)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(first) == batch_size
    # At most the batch order (8 bytes per batch, 125 kB here) and one batch, with room.
    assert peak < data_size  # one byte per index
    batches.close()


def test_shuffled_batch_idcs_is_a_seeded_permutation():
    batches = list(gen_shuffled_batch_idcs(3, 10, seed=np.random.default_rng(1)))
    assert [len(b) for b in batches] == [3, 3, 3, 1]
    assert sorted(i for b in batches for i in b) == list(range(10))
    expected = np.random.default_rng(1).permutation(10).tolist()
    assert [i for b in batches for i in b] == expected


def test_ordered_and_shuffled_ordered_batches():
    assert list(gen_ordered_batches(range(5), 2)) == [[0, 1], [2, 3], [4]]
    assert list(gen_ordered_batches(range(4), 2)) == [[0, 1], [2, 3]]  # no empty last batch
    out = shuffled_ordered_batches(list(range(7)), 3, seed=4)
    assert sorted(out) == [[0, 1, 2], [3, 4, 5], [6]]
    assert out == shuffled_ordered_batches(list(range(7)), 3, seed=4)
    # The chunks come in the order of the seed's permutation of the chunk indices.
    for seed in range(4):
        order = np.random.default_rng(seed).permutation(3)
        chunks = [[0, 1, 2], [3, 4, 5], [6]]
        assert shuffled_ordered_batches(list(range(7)), 3, seed=seed) == [chunks[i] for i in order]
    outs = {str(shuffled_ordered_batches(list(range(7)), 3, seed=seed)) for seed in range(10)}
    assert len(outs) > 1  # not always the original order


def test_global_rng_untouched():
    state = np.random.get_state()[1].copy()
    list(gen_shuffled_batch_idcs(2, 10))
    assert np.array_equal(np.random.get_state()[1], state)


@pytest.mark.parametrize(
    ("batch_size", "data_size", "error"),
    [(0, 5, ValueError), (2, 0, ValueError), (True, 5, TypeError), (1.5, 5, TypeError)],
)
def test_bad_sizes(batch_size, data_size, error):
    with pytest.raises(error, match="must be an int >= 1"):
        list(gen_shuffled_batch_idcs(batch_size, data_size))


def test_bad_seed():
    with pytest.raises(TypeError, match="seed must be None, an int >= 0 or a numpy"):
        list(gen_shuffled_batch_idcs(2, 4, seed="x"))


@pytest.mark.parametrize(
    "call",
    [
        lambda seed: gen_shuffled_batch_idcs(2, 5, seed=seed),
        lambda seed: gen_ordered_batch_idcs(2, 5, sorted=False, seed=seed),
        lambda seed: shuffled_ordered_batches([1, 2, 3], 2, seed=seed),
    ],
    ids=["shuffled_idcs", "ordered_idcs", "shuffled_ordered"],
)
def test_negative_seed_raises_at_the_call(call):
    # Checked at the call (not at the first next()), with the project's message.
    with pytest.raises(
        ValueError, match=r"seed must be None, an int >= 0 or a numpy.random.Generator, got -1"
    ):
        call(-1)
    with pytest.raises(TypeError, match=r"seed must be None, an int >= 0 or a numpy"):
        call(1.5)


def test_valid_seeds():
    for seed in (None, 0, np.int64(3), np.random.default_rng(1)):
        assert len(list(gen_shuffled_batch_idcs(2, 5, seed=seed))) == 3


def test_sorted_must_be_a_bool():
    with pytest.raises(TypeError, match=r"sorted must be a bool \(True or False\), got 'no'"):
        gen_ordered_batch_idcs(2, 5, sorted="no")
    assert list(gen_ordered_batch_idcs(2, 5, sorted=np.True_)) == [(0, 1), (2, 3), (4,)]


@pytest.mark.parametrize("call", [gen_ordered_batches, shuffled_ordered_batches])
def test_inp_must_be_iterable(call):
    with pytest.raises(TypeError, match=r"inp must be an iterable of items, got NoneType"):
        call(None, 2)


@pytest.mark.parametrize("call", [gen_ordered_batches, shuffled_ordered_batches])
@pytest.mark.parametrize("unordered", [set("abcd"), frozenset("abcd")], ids=["set", "frozenset"])
def test_inp_must_not_be_a_set(call, unordered):
    # A set of strs iterates in another order in every process (salted str hashes), so the
    # same seed gave other batches in every run.
    kind = type(unordered).__name__
    with pytest.raises(
        TypeError,
        match=rf"^inp must be an ordered iterable \(e.g. a list or tuple\), got {kind}: its "
        r"order may differ between processes, .* pass sorted\(inp\) or a list$",
    ):
        call(unordered, 2)
    # A dict and its key and item views keep insertion order: the same batches as the list.
    mapping = {"b": 1, "a": 2, "c": 3}
    for ordered, items in ((mapping, ["b", "a", "c"]), (mapping.items(), list(mapping.items()))):
        kwargs = {"seed": 0} if call is shuffled_ordered_batches else {}
        assert list(call(ordered, 2, **kwargs)) == list(call(items, 2, **kwargs))
    assert list(gen_ordered_batches(mapping.keys(), 2)) == [["b", "a"], ["c"]]
