"""Save and load rollouts and episode batches without pickle.

File format (version 2): an uncompressed (or, on request, deflated) ``.npz`` zip archive.

- The member ``packed.npy`` (read as ``npz["packed"]``) is one 1-D uint8 array holding the
  bytes of every array, one after another in C order, each starting at a multiple of 64 bytes.
  The metadata's ``"packed"`` list gives each array's ``[offset, dtype, shape]``
  (``dtype`` a numpy type string such as ``"<f4"``). One member for all arrays keeps saving and
  loading fast for many short rollouts (version 1 wrote one member per array).
- Arrays of structured dtypes are members of their own, ``.npy`` files named ``a<N>``.
- Object arrays are never pickled: a 1-D one is saved item by item (``{"__objects__": ...}``
  below), any other is refused. Every member is read with ``numpy.load(allow_pickle=False)``
  or as raw bytes of a plain dtype, so nothing can run code on load.
- The member ``__gymsamp__.json.npy`` (a uint8 array, read as ``npz["__gymsamp__.json"]``)
  holds UTF-8 JSON: ``{"format": "gymsamp", "version": 2,
  "kind": "rollouts" | "episode_batch", "packed": [...], "content": ...}``. The content is
  plain JSON in which non-JSON values are tagged objects: ``{"__array__": 3}`` (entry 3 of
  ``"packed"``) or ``{"__array__": "a3"}`` (the member ``a3.npy``), with ``"torch": true``
  for tensors, ``{"__scalar__": "<f4", "value": 1.5}`` (numpy scalars), ``{"__tuple__": [...]}``,
  ``{"__objects__": [...]}`` (a 1-D object array, its items saved like any other value),
  ``{"__namedtuple__": "Name", "fields": [...], "values": [...]}``, ``{"__dict__": [[k, v],
  ...]}`` (any dict, order kept), ``{"__space__": "Box", ...}`` (gymnasium spaces Box, Discrete,
  MultiDiscrete, MultiBinary, Dict, Tuple), ``{"__envspec__": {...}}``,
  ``{"__stepsequence__": {...}}`` and ``{"__episodebatch__": {...}}``.

Version 1 files (every array its own member ``a<N>``, no ``"packed"`` list) still load.

NamedTuples load as a ``collections.namedtuple`` with the same name and fields (the original
class is never imported). Loading checks the format name and version, rebuilds every rollout
through :class:`StepSequence`'s constructor (so a loaded rollout obeys the same rules as one
built in memory) and raises ``ValueError`` naming the file for anything that is not a valid
gymsamp file.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import math
import os
import zipfile
import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from gymsamp._checks import check_bool
from gymsamp._files import written_atomically
from gymsamp.data._packed_arrays import (
    is_plain,
    member_bytes,
    packed_layout,
    read_member,
    read_packed,
    write_packed,
)
from gymsamp.data._shapes import as_batch_step_types
from gymsamp.data._tree import tree_leaves, tree_map
from gymsamp.data.data_format import is_tensor, to_format
from gymsamp.data.episode_batch import EpisodeBatch
from gymsamp.data.spec import EnvSpec
from gymsamp.data.step_sequence import StepSequence

__all__ = [
    "FORMAT_VERSION",
    "load_episode_batch",
    "load_rollouts",
    "save_episode_batch",
    "save_rollouts",
]

FORMAT_NAME = "gymsamp"
FORMAT_VERSION = 2
#: Versions :func:`load_rollouts` and :func:`load_episode_batch` read.
_READABLE_VERSIONS = (1, 2)
_META = "__gymsamp__.json"
_PACKED = "packed"
_SPEC_FIELDS = (
    "observation_space",
    "action_space",
    "max_episode_length",
    "state_space",
    "obs_labels",
    "act_labels",
    "state_labels",
)


class _Encoder:
    """Turns a value into JSON, moving every array into ``self.packed`` (plain dtypes) or
    ``self.members`` (structured dtypes)."""

    def __init__(self) -> None:
        #: Arrays of plain dtypes, saved one after another in the ``packed`` member.
        self.packed: list[np.ndarray] = []
        #: Arrays of structured dtypes, each saved as a member of its own.
        self.members: dict[str, np.ndarray] = {}

    def array(self, value: Any, where: str) -> dict[str, Any]:
        torch = is_tensor(value)
        array = np.asarray(to_format(value, "numpy"))
        if array.dtype.hasobject:
            raise TypeError(f"{where} must not be an object array (it cannot be saved safely)")
        key: int | str
        if is_plain(array.dtype):
            key = len(self.packed)
            self.packed.append(array)
        else:
            key = f"a{len(self.members)}"
            self.members[key] = array
        return {"__array__": key, "torch": True} if torch else {"__array__": key}

    def __call__(self, value: Any, where: str = "value") -> Any:
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, (int, float)) and type(value) in (int, float):
            return value
        if isinstance(value, (int, float)):  # IntEnum, float subclasses: store the number
            return int(value) if isinstance(value, int) else float(value)
        if isinstance(value, np.generic):
            if value.dtype.hasobject:
                raise TypeError(f"{where} must not be a numpy object scalar")
            kind = value.dtype.kind
            if not (kind in "biuU" or (kind == "f" and value.dtype.itemsize <= 8)):
                # Their item() is no JSON number or string (complex, bytes, datetime) or is
                # a longdouble, whose precision JSON would lose.
                raise TypeError(
                    f"{where} has type numpy.{type(value).__name__}, which gymsamp cannot save"
                )
            return {"__scalar__": value.dtype.str, "value": value.item()}
        if isinstance(value, np.ndarray) and value.dtype == object and value.ndim == 1:
            # One value per episode (EpisodeBatch's rollout_info whose keys differ), each
            # saved as any other value: never as a pickled object array.
            return {"__objects__": [self(v, f"{where}[{i}]") for i, v in enumerate(value)]}
        if isinstance(value, np.ndarray) or is_tensor(value):
            return self.array(value, where)
        if isinstance(value, StepSequence):
            return {"__stepsequence__": self.step_sequence(value, where)}
        if isinstance(value, EnvSpec):
            return {"__envspec__": {f: self(getattr(value, f), where) for f in _SPEC_FIELDS}}
        if isinstance(value, gym.Space):
            return self.space(value, where)
        if _is_episode_batch(value):
            names = [field.name for field in dataclasses.fields(value)]
            return {"__episodebatch__": {f: self(getattr(value, f), f"{where}.{f}") for f in names}}
        if isinstance(value, tuple):
            values = [self(v, f"{where}[{i}]") for i, v in enumerate(value)]
            if hasattr(value, "_fields"):
                return {
                    "__namedtuple__": type(value).__name__,
                    "fields": list(value._fields),
                    "values": values,
                }
            return {"__tuple__": values}
        if isinstance(value, list):
            return [self(v, f"{where}[{i}]") for i, v in enumerate(value)]
        if isinstance(value, dict):
            return {
                "__dict__": [[self(k, where), self(v, f"{where}.{k}")] for k, v in value.items()]
            }
        raise TypeError(f"{where} has type {type(value).__name__}, which gymsamp cannot save")

    def space(self, space: gym.Space[Any], where: str) -> dict[str, Any]:
        spaces = gym.spaces
        if isinstance(space, spaces.Box):
            return {
                "__space__": "Box",
                "low": self.array(space.low, where),
                "high": self.array(space.high, where),
                "dtype": np.dtype(space.dtype).str,
            }
        if isinstance(space, spaces.Discrete):
            return {"__space__": "Discrete", "n": int(space.n), "start": int(space.start)}
        if isinstance(space, spaces.MultiDiscrete):
            return {
                "__space__": "MultiDiscrete",
                "nvec": self.array(space.nvec, where),
                "start": self.array(space.start, where),
            }
        if isinstance(space, spaces.MultiBinary):
            return {"__space__": "MultiBinary", "n": self(space.n, where)}
        if isinstance(space, spaces.Dict):
            return {"__space__": "Dict", "spaces": self(dict(space.spaces), where)}
        if isinstance(space, spaces.Tuple):
            return {"__space__": "Tuple", "spaces": [self.space(s, where) for s in space.spaces]}
        raise TypeError(f"{where} is a {type(space).__name__} space, which gymsamp cannot save")

    def step_sequence(self, seq: StepSequence, where: str) -> dict[str, Any]:
        bounds = seq._rollout_bounds
        # A single rollout's finals are its fields' last entries: the loader takes them from
        # the data (see _Decoder.step_sequence), so none are written. Writing them made a file
        # depend on how its rollouts were built (the samplers' store none, the constructor's
        # all), so loading and saving again changed the bytes, and it stored them twice.
        single = bounds is None or len(bounds) <= 2
        return {
            "data_format": seq.data_format,
            "data": self(seq._data, f"{where}.data"),
            "after_last": sorted(seq._after_last),
            "finals": self({} if single else seq._finals, f"{where}.finals"),
            "terminated": self.array(seq.terminated, where),
            "truncated": self.array(seq.truncated, where),
            "rollout_bounds": None if bounds is None else self.array(bounds, where),
            "rollout_infos": self(seq._rollout_infos, f"{where}.rollout_info"),
            "gathered_types": None
            if seq._gathered_types is None
            else self.array(seq._gathered_types, where),
        }


def _is_episode_batch(value: Any) -> bool:
    return isinstance(value, EpisodeBatch)


class _InvalidFileError(ValueError):
    """A ValueError that already names the file (so it is not wrapped a second time)."""


class _Decoder:
    """Rebuilds values written by :class:`_Encoder`, only through known constructors."""

    def __init__(self, members: dict[str, Any], packed: list[np.ndarray], path: Path) -> None:
        self.members = members
        self.packed = packed
        self.path = path

    def fail(self, what: str) -> ValueError:
        return _InvalidFileError(f"{self.path} is not a valid gymsamp file: {what}")

    def array(self, tag: Any) -> Any:
        if not isinstance(tag, dict) or "__array__" not in tag:
            raise self.fail(f"expected an array reference, got {tag!r}")
        key = tag["__array__"]
        if type(key) is int and 0 <= key < len(self.packed):
            array = self.packed[key]
        elif isinstance(key, str) and key in self.members:
            array = self.members[key]
        else:
            raise self.fail(f"array {key!r} is missing")
        return to_format(array, "torch") if tag.get("torch") else array

    def __call__(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self(v) for v in value]
        if not isinstance(value, dict):
            return value
        if "__array__" in value:
            return self.array(value)
        if "__scalar__" in value:
            return self.scalar(value)
        if "__tuple__" in value:
            return tuple(self(v) for v in value["__tuple__"])
        if "__objects__" in value:
            items = [self(v) for v in value["__objects__"]]
            objects = np.empty(len(items), dtype=object)
            for i, item in enumerate(items):  # one by one: numpy would unpack nested lists
                objects[i] = item
            return objects
        if "__namedtuple__" in value:
            cls = collections.namedtuple(value["__namedtuple__"], value["fields"])  # type: ignore[misc]
            return cls(*(self(v) for v in value["values"]))
        if "__dict__" in value:
            return {self(k): self(v) for k, v in value["__dict__"]}
        if "__space__" in value:
            return self.space(value)
        if "__envspec__" in value:
            return EnvSpec(**{k: self(v) for k, v in value["__envspec__"].items()})
        if "__stepsequence__" in value:
            return self.step_sequence(value["__stepsequence__"])
        if "__episodebatch__" in value:
            return EpisodeBatch(**{k: self(v) for k, v in value["__episodebatch__"].items()})
        raise self.fail(f"unknown tagged value with keys {sorted(value)}")

    def scalar(self, tag: dict[str, Any]) -> np.generic:
        """A numpy scalar of a type :class:`_Encoder` writes, from the JSON value it writes
        for it (a bool, int, float or str): any other type could be a bomb (``np.void(10**9)``
        is a GB of zeros) or a value that gymsamp cannot save again."""
        type_string, item = tag["__scalar__"], tag["value"]
        try:
            dtype = np.dtype(type_string) if isinstance(type_string, str) else None
        except (TypeError, ValueError, SyntaxError):  # numpy parses "f4,(2)i8" with ast
            dtype = None
        items = {"b": bool, "i": int, "u": int, "f": float, "U": str}
        if dtype is None or dtype.kind not in items or (dtype.kind == "f" and dtype.itemsize > 8):
            raise self.fail(
                f"a numpy scalar must have a bool, integer, float (at most 64 bits) or str "
                f"dtype, got {type_string!r}"
            )
        if type(item) is not items[dtype.kind]:
            raise self.fail(
                f"a numpy scalar of dtype {type_string} must have a value of type "
                f"{items[dtype.kind].__name__}, got {item!r}"
            )
        with np.errstate(over="ignore"):
            try:
                scalar = dtype.type(item)
            except OverflowError:
                scalar = None
        if scalar is None or (
            dtype.kind == "f" and np.isinf(scalar) and math.isfinite(tag["value"])
        ):
            raise self.fail(f"a numpy scalar of dtype {type_string} cannot hold {item!r}")
        return scalar

    def space(self, tag: dict[str, Any]) -> gym.Space[Any]:
        spaces = gym.spaces
        kind = tag["__space__"]
        if kind == "Box":
            return spaces.Box(self.array(tag["low"]), self.array(tag["high"]), dtype=tag["dtype"])
        if kind == "Discrete":
            return spaces.Discrete(tag["n"], start=tag["start"])
        if kind == "MultiDiscrete":
            return spaces.MultiDiscrete(self.array(tag["nvec"]), start=self.array(tag["start"]))
        if kind == "MultiBinary":
            return spaces.MultiBinary(self(tag["n"]))
        if kind == "Dict":
            return spaces.Dict(self(tag["spaces"]))
        if kind == "Tuple":
            return spaces.Tuple([self.space(s) for s in tag["spaces"]])
        raise self.fail(f"unknown space {kind!r}")

    def step_sequence(self, state: dict[str, Any]) -> StepSequence:
        """A sequence built by StepSequence's constructor, so a loaded file obeys the same
        rules as one built in memory; then the parts the constructor cannot take (each
        rollout's final entries, a batch's step types), checked against it."""
        data = self(state["data"])
        if not isinstance(data, dict):
            raise self.fail(f"the data of a rollout must be a dict, got {type(data).__name__}")
        bounds = state["rollout_bounds"]
        # The constructor neither copies arrays already in the data format nor infers
        # anything from flags that are given, so this costs checks, not copies.
        seq = StepSequence(
            data_format=state["data_format"],
            continuous=bounds is not None,
            rollout_bounds=None if bounds is None else self.array(bounds),
            terminated=self.array(state["terminated"]),
            truncated=self.array(state["truncated"]),
            **data,
        )
        if set(state["after_last"]) != seq._after_last:
            raise self.fail(
                f"after_last {sorted(state['after_last'])} does not match the fields with one "
                f"entry more than steps, {sorted(seq._after_last)}"
            )
        count = seq.rollout_count if seq.continuous else 1
        infos = self(state["rollout_infos"])
        if not isinstance(infos, list) or len(infos) != count:
            found = f"{len(infos)}" if isinstance(infos, list) else f"a {type(infos).__name__}"
            raise self.fail(f"rollout_infos must be a list of {count} infos, got {found}")
        seq._rollout_infos = infos
        finals = self(state["finals"])
        # A single rollout's finals are its own last entries: it may store none of them (the
        # samplers' rollouts share an empty dict); rollouts of a concatenation store them all.
        keys = set(finals) if isinstance(finals, dict) else None
        if keys is None or not keys <= seq._after_last or (count > 1 and keys != seq._after_last):
            raise self.fail(f"finals must be a dict with keys {sorted(seq._after_last)}")
        if count > 1:  # a single rollout's finals are its last entries, set by the constructor
            seq._finals = {
                name: None if final is None else self.finals_of(seq, name, final, count)
                for name, final in finals.items()
            }
        if state["gathered_types"] is not None:
            # Batches store them, and so do continuous slices that start mid-rollout (their
            # first step keeps its source's type, which the bounds would make FIRST).
            seq._gathered_types = as_batch_step_types(
                self(state["gathered_types"]), len(seq), "the number of steps", "gathered_types"
            )
        return seq

    def finals_of(self, seq: StepSequence, name: str, finals: Any, count: int) -> Any:
        """The final entries of field ``name`` of ``count`` rollouts, shaped like the field."""
        expected = [(p, (count, *np.shape(x)[1:])) for p, x in tree_leaves(seq._data[name], name)]
        found = [(p, tuple(np.shape(x))) for p, x in tree_leaves(finals, name)]
        if found != expected:
            raise self.fail(
                f"the final entries of {name} have the shapes {found} but must have {expected} "
                f"to match {count} rollouts"
            )
        return tree_map(lambda leaf: to_format(leaf, seq.data_format), finals)


def _as_path(path: Any) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or an os.PathLike, got {type(path).__name__}")
    return Path(path)


def _write(path: str | os.PathLike[str], kind: str, content: Any, compress: bool) -> Path:
    path = _as_path(path)
    compress = check_bool("compress", compress)
    encoder = _Encoder()
    try:
        encoded = encoder(content, kind)
        layout, size = packed_layout(encoder.packed)
        meta = {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "kind": kind,
            "packed": layout,
            "content": encoded,
        }
        text = json.dumps(meta)
    except RecursionError:
        raise ValueError(
            f"{kind} must not hold values nested this deeply (dicts, lists or tuples hundreds "
            "of levels deep); gymsamp cannot save them"
        ) from None
    members = dict(encoder.members)
    members[_META] = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    # numpy's savez layout (members "<name>.npy"), written member by member so the packed
    # arrays are streamed into the archive without a copy of them all.
    with written_atomically(path) as tmp, zipfile.ZipFile(tmp, "w", method) as archive:
        for name, array in members.items():
            with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, array, allow_pickle=False)
        with archive.open(f"{_PACKED}.npy", "w", force_zip64=True) as member:
            write_packed(member, encoder.packed, size)
    return path


def _member_name(filename: str) -> str:
    """The name numpy's ``NpzFile`` gives the zip entry ``filename`` (``a0.npy`` is ``a0``)."""
    return filename.removesuffix(".npy")


def _read(path: str | os.PathLike[str], kind: str) -> Any:
    path = _as_path(path)
    if path.is_file() and not zipfile.is_zipfile(path):
        # np.load would call any other file pickled data, and hint at loading it unsafely.
        raise ValueError(f"{path} is not a gymsamp file (not a zip/npz archive)")
    try:
        archive_bytes = path.stat().st_size
        # Read as numpy's savez writes (members "<name>.npy"), not with np.load: its reader
        # allocates whatever a member's header claims before reading it (read_member checks).
        with zipfile.ZipFile(path) as archive:
            infos = {_member_name(info.filename): info for info in archive.infolist()}
            if _META not in infos:
                raise ValueError(f"{path} is not a gymsamp file (no {_META} member)")
            meta_bytes = read_member(archive, infos[_META], archive_bytes).tobytes()
            meta = json.loads(meta_bytes.decode("utf-8"))
            members = {
                name: read_member(archive, info, archive_bytes)
                for name, info in infos.items()
                if name not in (_META, _PACKED)
            }
            packed: list[np.ndarray] = []
            if isinstance(meta, dict) and meta.get("version") == 2:
                if _PACKED not in infos:
                    raise ValueError(f"{path} is not a valid gymsamp file: no {_PACKED} member")
                info = infos[_PACKED]
                with archive.open(info) as member:
                    held = member_bytes(info, archive_bytes)
                    packed = read_packed(member, meta.get("packed"), held)
    except FileNotFoundError:
        raise
    except (
        zipfile.BadZipFile,
        OSError,
        EOFError,
        UnicodeDecodeError,
        json.JSONDecodeError,
        zlib.error,  # a damaged deflated member
        NotImplementedError,  # zipfile: a damaged header asks for an unknown method or version
        RuntimeError,  # zipfile: a damaged flag marks a member as encrypted
        RecursionError,  # JSON nested deeper than any file gymsamp writes
    ) as err:
        raise ValueError(f"{path} is not a readable gymsamp file: {err}") from err
    except ValueError as err:
        if str(path) in str(err):
            raise
        # numpy refuses object arrays with allow_pickle=False: never unpickle a file.
        raise ValueError(f"{path} is not a readable gymsamp file: {err}") from err
    if not isinstance(meta, dict):
        raise ValueError(
            f"{path} is not a gymsamp file (its metadata is a JSON {type(meta).__name__}, "
            "not an object)"
        )
    if meta.get("format") != FORMAT_NAME:
        raise ValueError(f"{path} is not a gymsamp file (format {meta.get('format')!r})")
    if meta.get("version") not in _READABLE_VERSIONS:
        raise ValueError(
            f"{path} has format version {meta.get('version')!r} but this gymsamp reads "
            f"versions {' and '.join(map(str, _READABLE_VERSIONS))}"
        )
    if meta.get("kind") != kind:
        raise ValueError(f"{path} holds {meta.get('kind')!r}, not {kind!r}")
    decoder = _Decoder(members, packed, path)
    try:
        return decoder(meta["content"])
    except _InvalidFileError:
        raise
    except (
        KeyError,
        TypeError,
        IndexError,
        ValueError,
        AttributeError,
        RecursionError,
        OverflowError,
        SyntaxError,
    ) as err:
        # Whatever a malformed content breaks (a constructor's check, a namedtuple's name, a
        # lookup in a list that should be a dict, nesting deeper than any file gymsamp
        # writes, a number too large for numpy, a dtype string numpy parses with ast), the
        # message names the file.
        raise decoder.fail(f"{type(err).__name__}: {err}") from err


def save_rollouts(
    path: str | os.PathLike[str], rollouts: Sequence[StepSequence], *, compress: bool = False
) -> Path:
    """Save rollouts to ``path`` (an ``.npz`` archive, format in the module docstring); its
    folder is created if needed.

    Every field type round-trips bit for bit: numpy and torch data, dict and (named) tuple
    fields, flags, rollout bounds, each rollout's final entries and ``rollout_info``.

    Example:
        >>> import tempfile, pathlib
        >>> ro = StepSequence(rewards=[1.0], observations=[0.0, 1.0], actions=[0])
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     path = pathlib.Path(folder) / "rollouts.npz"
        ...     _ = save_rollouts(path, [ro])
        ...     load_rollouts(path)[0].observations.tolist()
        [0.0, 1.0]
    """
    if isinstance(rollouts, StepSequence) or not isinstance(rollouts, Iterable):
        raise TypeError(
            f"rollouts must be a sequence of StepSequence objects, got {type(rollouts).__name__}"
        )
    rollouts = list(rollouts)
    for i, ro in enumerate(rollouts):
        if not isinstance(ro, StepSequence):
            raise TypeError(f"rollouts[{i}] must be a StepSequence, got {type(ro).__name__}")
    return _write(path, "rollouts", rollouts, compress)


def load_rollouts(path: str | os.PathLike[str]) -> list[StepSequence]:
    """Load rollouts saved by :func:`save_rollouts`.

    Nothing in the file is executed (no pickle): loading an untrusted file is safe.

    Args:
        path: The file.

    Returns:
        The rollouts, equal to those saved (fields, flags, final entries, ``rollout_info``).

    Raises:
        FileNotFoundError: If there is no such file.
        ValueError: If the file is no gymsamp rollout file (another kind of gymsamp file, such
            as a saved episode batch, included).

    Example:
        >>> import tempfile, pathlib
        >>> ro = StepSequence(rewards=[1.0, 0.5], observations=[0.0, 1.0, 2.0], actions=[0, 1],
        ...                   rollout_info={"seed": 7})
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     path = save_rollouts(pathlib.Path(folder) / "rollouts.npz", [ro, ro[1:]])
        ...     loaded = load_rollouts(path)
        >>> [r.length for r in loaded], loaded[0].rollout_info, loaded[0].rewards.tolist()
        ([2, 1], {'seed': 7}, [1.0, 0.5])
    """
    rollouts = _read(path, "rollouts")
    if not isinstance(rollouts, list) or not all(isinstance(r, StepSequence) for r in rollouts):
        raise ValueError(f"{path} is not a valid gymsamp file: the content is not rollouts")
    return rollouts


def save_episode_batch(
    path: str | os.PathLike[str], batch: EpisodeBatch, *, compress: bool = False
) -> Path:
    """Save an :class:`~gymsamp.data.EpisodeBatch` (with its env spec) to ``path``; its folder
    is created if needed.

    Args:
        path: The file to write (replaced whole, never left half-written).
        batch: The episodes.
        compress: Deflate the archive (smaller, slower).

    Returns:
        The path written.

    Raises:
        TypeError: If ``batch`` is no EpisodeBatch, or holds data that cannot be saved without
            pickle (the message names where).

    Example:
        >>> import tempfile, pathlib
        >>> import gymnasium as gym
        >>> spec = EnvSpec(gym.spaces.Box(-1.0, 1.0, (1,)), gym.spaces.Discrete(2))
        >>> ro = StepSequence(rewards=[1.0, 0.5], observations=[[0.0], [0.5], [1.0]],
        ...                   actions=[0, 1])
        >>> batch = EpisodeBatch.from_step_sequences([ro], spec)
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     path = save_episode_batch(pathlib.Path(folder) / "batch.npz", batch)
        ...     loaded = load_episode_batch(path)
        >>> loaded.lengths.tolist(), loaded.last_observations.tolist(), loaded.env_spec == spec
        ([2], [[1.0]], True)
    """
    if not _is_episode_batch(batch):
        raise TypeError(f"batch must be an EpisodeBatch, got {type(batch).__name__}")
    return _write(path, "episode_batch", batch, compress)


def load_episode_batch(path: str | os.PathLike[str]) -> EpisodeBatch:
    """Load an :class:`~gymsamp.data.EpisodeBatch` saved by :func:`save_episode_batch`.

    Nothing in the file is executed (no pickle).

    Args:
        path: The file.

    Returns:
        The episode batch, with its env spec.

    Raises:
        FileNotFoundError: If there is no such file.
        ValueError: If the file is no gymsamp episode-batch file.

    Example:
        >>> import tempfile, pathlib
        >>> ro = StepSequence(rewards=[1.0], observations=[0.0, 1.0], actions=[0])
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     path = save_rollouts(pathlib.Path(folder) / "rollouts.npz", [ro])
        ...     load_episode_batch(path)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ValueError: .../rollouts.npz holds 'rollouts', not 'episode_batch'
    """
    batch = _read(path, "episode_batch")
    if not isinstance(batch, EpisodeBatch):
        raise ValueError(f"{path} is not a valid gymsamp file: the content is not an EpisodeBatch")
    return batch
