"""The ``packed`` member of a gymsamp file: the bytes of many arrays in one ``.npy`` member.

Version 2 of the file format (:mod:`gymsamp.data.io`) writes every array of a plain dtype
into one 1-D uint8 ``.npy`` member, each array in C order starting at a multiple of
``_ALIGNMENT`` bytes; the JSON metadata lists each array's ``[offset, dtype, shape]``. Arrays
are streamed in on writing and read one at a time, so neither side holds a copy of them all.

Every member's header is checked against the bytes the member can hold before anything is
allocated (:func:`member_bytes`, :func:`read_member`): a damaged or crafted file of a kilobyte
must not make the loader allocate gigabytes.
"""

from __future__ import annotations

import math
import tokenize
import zipfile
from typing import IO, Any

import numpy as np

__all__ = [
    "is_plain",
    "member_bytes",
    "packed_layout",
    "read_member",
    "read_packed",
    "write_packed",
]

#: Each packed array starts at a multiple of this many bytes (any dtype's alignment).
_ALIGNMENT = 64
#: Bytes read from the packed member at a time (numpy reads ``.npy`` members in 256 KiB).
_READ_BYTES = 2**20
#: The most bytes one compressed byte of a deflated member unpacks to (deflate's limit).
_MAX_DEFLATE_RATIO = 1032
#: The largest dimension numpy takes.
_MAX_COUNT = np.iinfo(np.intp).max
#: The ``.npy`` format versions numpy reads.
_NPY_VERSIONS = ((1, 0), (2, 0), (3, 0))


def packed_layout(arrays: list[np.ndarray]) -> tuple[list[list[Any]], int]:
    """``[offset, dtype, shape]`` of every array as :func:`write_packed` lays them out, and
    the size of the packed member.

    Example:
        >>> packed_layout([np.zeros(3, np.float32), np.zeros((2, 2), np.int64)])
        ([[0, '<f4', [3]], [64, '<i8', [2, 2]]], 96)
    """
    layout, end = [], 0
    for array in arrays:
        offset = _aligned(end)
        layout.append([offset, array.dtype.str, list(array.shape)])
        end = offset + array.nbytes
    return layout, end


def is_plain(dtype: np.dtype[Any]) -> bool:
    """True if ``dtype`` is fully described by its type string (no fields, no sub-arrays)."""
    return dtype.fields is None and dtype.subdtype is None and not dtype.hasobject


def _aligned(offset: int) -> int:
    return -(-offset // _ALIGNMENT) * _ALIGNMENT


def write_packed(member: IO[bytes], arrays: list[np.ndarray], size: int) -> None:
    """Write ``arrays`` as the 1-D uint8 ``.npy`` array of ``size`` bytes that
    :func:`packed_layout` describes, one array at a time (no copy of them all)."""
    header = {"descr": "|u1", "fortran_order": False, "shape": (size,)}
    np.lib.format.write_array_header_2_0(member, header)
    written = 0
    for array in arrays:
        padding = _aligned(written) - written
        member.write(bytes(padding))
        contiguous = array if array.flags.c_contiguous else np.ascontiguousarray(array)
        member.write(contiguous.reshape(-1).view(np.uint8).data)
        written += padding + array.nbytes


def read_packed(member: IO[bytes], layout: Any, member_bytes: int) -> list[np.ndarray]:
    """The arrays of the ``packed`` member, each its own array, read one at a time.

    ``member_bytes`` is the member's size in the archive: the sizes its header and the layout
    claim are checked against it before anything is allocated (a damaged or crafted file
    could claim terabytes).

    Raises:
        ValueError: If the layout or the member is malformed (messages without the path; the
            caller adds it).
    """
    shape, _, dtype = _read_header(member)
    if dtype != np.uint8 or len(shape) != 1:
        raise ValueError(f"the packed member must be a 1-D uint8 array, got {dtype} {shape}")
    held = member_bytes - member.tell()
    if shape[0] > held:
        raise ValueError(f"the packed member's header claims {shape[0]} bytes, it holds {held}")
    if not isinstance(layout, list):
        raise ValueError(f"packed must be a list of [offset, dtype, shape], got {layout!r}")
    size, position, arrays = shape[0], 0, []
    for i, entry in enumerate(layout):
        offset, dtype, shape = _packed_entry(entry, i)
        if dtype.itemsize == 0 and all(shape):
            # np.empty makes such a dtype one character wide: 10**12 entries of "<U0" in no
            # bytes at all would allocate 4 TB (and save to a file that cannot be read back).
            raise ValueError(f"packed[{i}] must not hold entries of 0 bytes, got {entry}")
        if offset != _aligned(position) or offset + dtype.itemsize * math.prod(shape) > size:
            raise ValueError(
                f"packed[{i}] must start at byte {_aligned(position)} and end within the "
                f"{size} bytes of the packed member, got {entry}"
            )
        member.read(offset - position)
        array = np.empty(shape, dtype)
        if not _read_into(member, array.reshape(-1).view(np.uint8)):
            raise ValueError(f"the packed member ends inside packed[{i}]")
        arrays.append(array)
        position = offset + array.nbytes
    return arrays


def _read_into(member: IO[bytes], buffer: np.ndarray) -> bool:
    """Fill ``buffer`` from ``member``; False if the member ends first. In pieces of
    ``_READ_BYTES``: a zip member's ``readinto`` reads into a temporary ``bytes`` of the size
    asked for, which for one large array would double the memory a load needs."""
    for start in range(0, len(buffer), _READ_BYTES):
        piece = buffer[start : start + _READ_BYTES]
        if member.readinto(piece) != len(piece):  # type: ignore[attr-defined]
            return False
    return True


def _packed_entry(entry: Any, i: int) -> tuple[int, np.dtype[Any], tuple[int, ...]]:
    """``[offset, dtype, shape]`` of ``packed[i]``, checked."""
    try:
        offset, type_string, shape = entry
        dtype = np.dtype(type_string) if isinstance(type_string, str) else None
    except (TypeError, ValueError, SyntaxError):  # numpy parses "f4,(2)i8" with ast
        dtype = None
    if (
        dtype is None
        or not is_plain(dtype)
        or not _is_count(offset)
        or not isinstance(shape, list)
        or not all(_is_count(n) for n in shape)
    ):
        raise ValueError(
            f"packed[{i}] must be [offset, dtype, shape] with a plain numpy dtype string and "
            f"counts >= 0, got {entry!r}"
        )
    return offset, dtype, tuple(shape)


def _is_count(value: Any) -> bool:
    return type(value) is int and value >= 0


def member_bytes(info: zipfile.ZipInfo, archive_bytes: int) -> int:
    """The most bytes the member ``info`` of an archive of ``archive_bytes`` bytes can hold.

    Its directory entry's size, bounded by what its stored or deflated bytes can unpack to: a
    damaged or crafted entry can claim terabytes.

    Raises:
        ValueError: If the member is compressed otherwise (gymsamp and numpy write stored or
            deflated members; bzip2 or lzma could unpack a small file to gigabytes).
    """
    if info.compress_type == zipfile.ZIP_STORED:
        ratio = 1
    elif info.compress_type == zipfile.ZIP_DEFLATED:
        ratio = _MAX_DEFLATE_RATIO
    else:
        raise ValueError(
            f"member {info.filename} must be stored or deflated, got compression method "
            f"{info.compress_type}"
        )
    return min(info.file_size, ratio * min(info.compress_size, archive_bytes))


def read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, archive_bytes: int) -> Any:
    """The ``.npy`` array of the member ``info``, read (by numpy, without pickle) only after
    its header is checked: a readable ``.npy`` header, no object dtype, and no more bytes than
    the member can hold (numpy allocates the array its header claims before reading it).

    Raises:
        ValueError: If the member is no ``.npy`` array or claims more than it holds (messages
            name the member, not the path; the caller adds it).
    """
    held = member_bytes(info, archive_bytes)
    with archive.open(info) as member:
        try:
            shape, _, dtype = _read_header(member)
        except ValueError as err:
            raise ValueError(f"member {info.filename} is no readable .npy array: {err}") from None
        held -= member.tell()
    if not all(0 <= n <= _MAX_COUNT for n in shape):
        # numpy multiplies the dimensions as int64 (OverflowError), even with one of them 0.
        raise ValueError(f"member {info.filename} must have dimensions >= 0, got {shape}")
    count = math.prod(shape)
    if dtype.hasobject:
        raise ValueError(f"member {info.filename} must not be an object array (never unpickled)")
    if dtype.itemsize == 0 and count:
        raise ValueError(f"member {info.filename} must not hold entries of 0 bytes, got {dtype}")
    if count * dtype.itemsize > held:
        raise ValueError(
            f"member {info.filename}'s header claims {count * dtype.itemsize} bytes "
            f"({dtype} {shape}), it holds at most {held}"
        )
    with archive.open(info) as member:
        return np.lib.format.read_array(member, allow_pickle=False)


def _read_header(member: IO[bytes]) -> tuple[tuple[int, ...], bool, np.dtype[Any]]:
    """Shape, Fortran order and dtype from the ``.npy`` header ``member`` starts with.

    Raises:
        ValueError: For anything but a readable header of a version numpy reads.
    """
    version = np.lib.format.read_magic(member)
    if version not in _NPY_VERSIONS:
        raise ValueError(f"the .npy format version must be one of {_NPY_VERSIONS}, got {version}")
    # Version 3.0 is 2.0 with a UTF-8 header (for field names): read as Latin-1, its shape
    # and item size are the same, which is all this header is read for.
    read_header = (
        np.lib.format.read_array_header_1_0
        if version == (1, 0)
        else np.lib.format.read_array_header_2_0
    )
    try:
        return read_header(member)
    except (SyntaxError, tokenize.TokenError) as err:  # numpy's parser of Python 2 headers
        raise ValueError(f"the .npy header cannot be parsed ({err})") from None
    except TypeError as err:  # numpy sorts the keys of a header with wrong ones to name them
        raise ValueError(
            f"the .npy header must have the keys descr, fortran_order and shape ({err})"
        ) from None
