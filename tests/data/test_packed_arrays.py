"""Tests of :mod:`gymsamp.data._packed_arrays` on in-memory members (the file-level paths,
damaged files included, are tested through :mod:`gymsamp.data.io` in test_io.py)."""

from __future__ import annotations

import io

import numpy as np
import pytest

from gymsamp.data._packed_arrays import packed_layout, read_packed, write_packed

ARRAYS = [np.arange(3, dtype=np.float32), np.arange(4, dtype=np.int64).reshape(2, 2)]


def packed_member(arrays: list[np.ndarray]) -> tuple[io.BytesIO, list[list[object]], int]:
    """The member :func:`write_packed` writes, rewound, with its layout and its byte count."""
    layout, size = packed_layout(arrays)
    member = io.BytesIO()
    write_packed(member, arrays, size)
    member.seek(0)
    return member, layout, len(member.getvalue())


def test_packed_arrays_round_trip_each_as_its_own_array():
    member, layout, nbytes = packed_member(ARRAYS)
    arrays = read_packed(member, layout, nbytes)
    assert [(a.dtype, a.shape) for a in arrays] == [(b.dtype, b.shape) for b in ARRAYS]
    for got, want in zip(arrays, ARRAYS, strict=True):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("layout", [None, {"0": [0, "<f4", [3]]}, "[[0, '<f4', [3]]]"])
def test_a_layout_that_is_no_list_is_named(layout):
    member, _, nbytes = packed_member(ARRAYS)
    with pytest.raises(ValueError, match=r"packed must be a list of \[offset, dtype, shape\], got"):
        read_packed(member, layout, nbytes)


def test_a_member_that_ends_early_is_named_by_the_array_it_ends_in():
    # A stream that holds fewer bytes than its size claims (the header and the layout checks
    # trust that size): the read stops at the array it ends in, without reading past it.
    member, layout, nbytes = packed_member(ARRAYS)
    short = io.BytesIO(member.getvalue()[:-8])
    with pytest.raises(ValueError, match=r"the packed member ends inside packed\[1\]"):
        read_packed(short, layout, nbytes)


def test_a_header_of_another_array_or_more_bytes_than_held_is_named():
    member, layout, nbytes = packed_member(ARRAYS)
    with pytest.raises(ValueError, match=r"header claims \d+ bytes, it holds \d+"):
        read_packed(member, layout, nbytes - 1)
    other = io.BytesIO()
    np.lib.format.write_array(other, np.zeros(3, np.float32))
    other.seek(0)
    with pytest.raises(ValueError, match=r"must be a 1-D uint8 array, got float32 \(3,\)"):
        read_packed(other, layout, len(other.getvalue()))
