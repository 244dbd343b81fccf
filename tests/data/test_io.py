import enum
import gc
import json
import math
import os
import subprocess
import sys
import zipfile
from io import BytesIO
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

from gymsamp.data import StepSequence, StepType, io
from gymsamp.data.io import FORMAT_VERSION, load_rollouts, save_rollouts
from tests.data.test_step_sequence import make_rollout
from tests.helpers import assert_sequences_equal, assert_tree_equal


@pytest.fixture
def rollouts():
    info = {
        "domain_param": {"mass": np.float32(1.5), "length": 0.5},
        "init_state": np.arange(4.0),
        "seed": 7,
        "tag": ("a", 1),
        "none": None,
    }
    a = make_rollout(3, seed=1, end="terminal", info=info)
    b = make_rollout(4, seed=2, end="timeout", info={"k": [1, 2]}, offset=100.0)
    concat = StepSequence.concat([a, b])
    shuffled = concat[[4, 0, 2]]
    torch_ro = make_rollout(2, seed=3, end="none").torch()
    return [a, concat, shuffled, torch_ro]


def test_round_trip_is_bit_exact(tmp_path, rollouts):
    path = save_rollouts(tmp_path / "ro.npz", rollouts)
    assert path == tmp_path / "ro.npz"  # no suffix added, no temp file left
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ro.npz"]
    loaded = load_rollouts(path)
    assert len(loaded) == len(rollouts)
    for original, back in zip(rollouts, loaded, strict=True):
        assert_sequences_equal(original, back)
    assert isinstance(loaded[3].observations, torch.Tensor)
    assert type(loaded[0].rollout_info["domain_param"]["mass"]) is np.float32
    assert loaded[0].rollout_info["tag"] == ("a", 1)
    assert type(loaded[0].hidden).__name__ == "Hidden"
    assert loaded[0].hidden._fields == ("h", "c")


def test_compressed_round_trip(tmp_path, rollouts):
    path = save_rollouts(tmp_path / "ro.npz", rollouts, compress=True)
    for original, back in zip(rollouts, load_rollouts(path), strict=True):
        assert_sequences_equal(original, back)


def test_slices_starting_mid_rollout_round_trip(tmp_path, rollouts):
    # Such a slice is continuous but keeps its first step's source type (MID, not FIRST); the
    # loader refused every file holding one ("a continuous sequence must not store step types").
    concat = rollouts[1]  # 3 + 4 steps
    inside, across = concat[1:3], concat[1:5]
    parts = [inside, across, StepSequence.concat([inside, across])]
    assert [int(p.step_types[0]) for p in parts] == [StepType.MID] * 3
    loaded = load_rollouts(save_rollouts(tmp_path / "slices.npz", parts))
    for original, back in zip(parts, loaded, strict=True):
        assert back.continuous
        assert_sequences_equal(original, back)
    np.testing.assert_array_equal(
        loaded[1].step_types, [StepType.MID, StepType.TERMINAL, StepType.FIRST, StepType.MID]
    )


def test_saving_a_loaded_file_again_gives_the_same_bytes(tmp_path, rollouts):
    # A single rollout's final entries are its fields' last ones and the loader takes them
    # from there. The writer stored them anyway where the rollout held them (built by the
    # constructor, not by a sampler), so a loaded file, saved again, had other bytes.
    from gymsamp.sampling import ParallelRolloutSampler, rollout

    def policy(obs: np.ndarray) -> np.ndarray:
        return (obs[:, 2] > 0).astype(np.int64)

    with ParallelRolloutSampler(
        "CartPole-v1", policy, 2, min_rollouts=2, seed=0, max_steps=20, show_progress_bar=False
    ) as sampler:
        sampled = sampler.sample()
    padded = make_rollout(3, seed=4)
    StepSequence.pad(padded, 5)
    kinds = {
        "sampled": sampled,
        "rollout()": [rollout("CartPole-v1", policy, seed=0, max_steps=20)],
        "built, sliced, concatenated, gathered": rollouts,
        "padded, sliced mid-rollout": [padded, rollouts[1][1:3]],
    }
    for kind, parts in kinds.items():
        first = save_rollouts(tmp_path / "first.npz", parts)
        again = save_rollouts(tmp_path / "again.npz", load_rollouts(first))
        assert again.read_bytes() == first.read_bytes(), kind


def test_unsaveable_values_are_refused(tmp_path):
    ro = make_rollout(2, info={"fn": print})
    with pytest.raises(TypeError, match=r"rollouts\[0\]\.rollout_info\[0\]\.fn has type"):
        save_rollouts(tmp_path / "x.npz", [ro])
    with pytest.raises(TypeError, match="sequence of StepSequence"):
        save_rollouts(tmp_path / "x.npz", ro)


def test_a_folder_is_refused_and_a_failed_write_leaves_nothing(tmp_path, monkeypatch):
    ro = make_rollout(2)
    with pytest.raises(ValueError, match="path must be a file path, got .* \\(a folder\\)"):
        save_rollouts(tmp_path, [ro])

    def full_disk(member, arrays, size):
        member.write(b"\x93NUMPY")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(io, "write_packed", full_disk)
    with pytest.raises(OSError, match="No space left"):
        save_rollouts(tmp_path / "x.npz", [ro])
    assert list(tmp_path.iterdir()) == []  # neither the file nor its temporary twin


def test_missing_folders_are_created_like_every_gymsamp_writer(tmp_path):
    ro = make_rollout(2)
    target = tmp_path / "new" / "deeper" / "r.npz"
    assert save_rollouts(target, [ro]) == target
    assert sorted(p.name for p in target.parent.iterdir()) == ["r.npz"]
    assert_sequences_equal(load_rollouts(target)[0], ro)


@pytest.mark.parametrize("inside", ["r.npz", "sub/r.npz"])
def test_a_file_where_a_folder_must_be_is_refused_naming_the_path(tmp_path, inside):
    (tmp_path / "file").write_text("not a folder")
    target = tmp_path / "file" / inside
    blocker = str(tmp_path / "file")
    with pytest.raises(
        ValueError, match=f"path must be in a folder, got {str(target)!r}, but {blocker!r} is a"
    ):
        save_rollouts(target, [make_rollout(2)])
    assert (tmp_path / "file").read_text() == "not a folder"


def _rewrite_meta(src, dst, change):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.namelist():
            data = zin.read(item)
            if item == "__gymsamp__.json.npy":
                arr = np.load(src)["__gymsamp__.json"]
                meta = json.loads(arr.tobytes())
                change(meta)
                import io

                buf = io.BytesIO()
                np.save(buf, np.frombuffer(json.dumps(meta).encode(), np.uint8))
                data = buf.getvalue()
            zout.writestr(item, data)


def test_wrong_version_and_foreign_files_raise_naming_the_file(tmp_path, rollouts):
    good = save_rollouts(tmp_path / "good.npz", rollouts[:1])
    bad = tmp_path / "v99.npz"
    _rewrite_meta(good, bad, lambda m: m.update(version=99))
    with pytest.raises(ValueError, match=rf"v99.npz has format version 99.*{FORMAT_VERSION}"):
        load_rollouts(bad)

    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, x=np.zeros(3))
    with pytest.raises(ValueError, match="foreign.npz is not a gymsamp file"):
        load_rollouts(foreign)

    text = tmp_path / "text.npz"
    text.write_text("hello")
    with pytest.raises(
        ValueError, match=r"text.npz is not a gymsamp file \(not a zip/npz archive\)"
    ):
        load_rollouts(text)


def test_truncated_file_raises(tmp_path, rollouts):
    good = save_rollouts(tmp_path / "good.npz", rollouts)
    cut = tmp_path / "cut.npz"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(ValueError, match="cut.npz"):
        load_rollouts(cut)


def test_object_arrays_are_never_unpickled(tmp_path, rollouts):
    good = save_rollouts(tmp_path / "good.npz", rollouts[:1])
    evil = tmp_path / "evil.npz"
    with zipfile.ZipFile(good) as zin, zipfile.ZipFile(evil, "w") as zout:
        for item in zin.namelist():
            if item != "a0.npy":
                zout.writestr(item, zin.read(item))
        import io

        buf = io.BytesIO()
        np.save(buf, np.array([object()], dtype=object), allow_pickle=True)
        zout.writestr("a0.npy", buf.getvalue())  # a pickled object array in place of data
    with pytest.raises(ValueError, match="evil.npz"):
        load_rollouts(evil)


def _unpacked(npz, meta):
    """The packed arrays of an opened file, decoded independently of gymsamp's reader."""
    blob = npz["packed"]
    return [
        np.frombuffer(blob, np.dtype(dtype), count=math.prod(shape), offset=offset).reshape(shape)
        for offset, dtype, shape in meta["packed"]
    ]


def _repacked(meta, arrays):
    """The packed member for ``arrays`` (64-byte aligned, in order); updates ``meta``."""
    blob, meta["packed"] = bytearray(), []
    for array in arrays:
        blob += bytes(-len(blob) % 64)
        meta["packed"].append([len(blob), array.dtype.str, list(array.shape)])
        blob += np.ascontiguousarray(array).tobytes()
    return np.frombuffer(bytes(blob), np.uint8)


def _tampered(good, dst, change_meta=None, arrays=None):
    """A copy of the file ``good`` with its metadata changed and arrays replaced (keys as in
    the ``__array__`` tags: an int for a packed array, a str for a member)."""
    with np.load(good) as npz:
        members = {name: npz[name] for name in npz.files}
        meta = json.loads(members.pop("__gymsamp__.json").tobytes())
        packed = _unpacked(npz, meta)
    for key, array in (arrays or {}).items():
        if isinstance(key, int):
            packed[key] = array
        else:
            members[key] = array
    if change_meta is not None:
        change_meta(meta)
    members["packed"] = _repacked(meta, packed)
    members["__gymsamp__.json"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    np.savez(dst, **members)
    return dst


def _state(meta, index=0):
    return meta["content"][index]["__stepsequence__"]


def _member(good, part, field, index=0):
    """The ``__array__`` key of the array that holds ``field`` of ``part`` (``"data"`` or
    ``"finals"``) of rollout ``index``."""
    with np.load(good) as npz:
        meta = json.loads(npz["__gymsamp__.json"].tobytes())
    return dict(_state(meta, index)[part]["__dict__"])[field]["__array__"]


@pytest.fixture
def good(tmp_path):
    ro = StepSequence(rewards=[1.0, 2.0], observations=np.zeros((3, 2)), actions=np.zeros(2))
    concat = StepSequence.concat([make_rollout(2), make_rollout(3, seed=1)])
    return save_rollouts(tmp_path / "good.npz", [ro, concat, concat[[0, 3]]])


def test_loading_validates_like_the_constructor(tmp_path, good):
    obs = _member(good, "data", "observations")
    bad = _tampered(good, tmp_path / "obs.npz", arrays={obs: np.zeros((10, 2))})
    with pytest.raises(
        ValueError,
        match=r"obs.npz is not a valid gymsamp file: .*observations has 10 entries but must "
        r"have 2 or 3 to match rewards",
    ):
        load_rollouts(bad)

    def bogus_format(meta):
        _state(meta)["data_format"] = "bogus"

    bad = _tampered(good, tmp_path / "fmt.npz", bogus_format)
    with pytest.raises(
        ValueError, match=r"fmt.npz is not a valid gymsamp file: .*data_format must be one of"
    ):
        load_rollouts(bad)

    def bounds_of_another_rollout(meta):
        _state(meta, 1)["rollout_bounds"] = _state(meta, 0)["rollout_bounds"]  # [0, 2]

    bad = _tampered(good, tmp_path / "bounds.npz", bounds_of_another_rollout)
    with pytest.raises(
        ValueError,
        match=r"bounds.npz is not a valid gymsamp file: .*rollout_bounds must be strictly "
        r"increasing from 0 to the length 5, got \[0, 2\]",
    ):
        load_rollouts(bad)


def test_loading_checks_what_the_constructor_cannot_take(tmp_path, good):
    def extra_info(meta):
        _state(meta, 1)["rollout_infos"].append(None)

    bad = _tampered(good, tmp_path / "infos.npz", extra_info)
    with pytest.raises(ValueError, match=r"infos.npz .*rollout_infos must be a list of 2 infos"):
        load_rollouts(bad)

    finals = _member(good, "finals", "observations", index=1)
    bad = _tampered(good, tmp_path / "finals.npz", arrays={finals: np.zeros((3, 3))})
    with pytest.raises(
        ValueError,
        match=r"finals.npz .*the final entries of observations have the shapes "
        r"\[\('observations', \(3, 3\)\)\] but must have \[\('observations', \(2, 3\)\)\]",
    ):
        load_rollouts(bad)

    with np.load(good) as npz:
        types = _state(json.loads(npz["__gymsamp__.json"].tobytes()), 2)["gathered_types"]
    bad = _tampered(good, tmp_path / "types.npz", arrays={types["__array__"]: np.int8([0, 7])})
    with pytest.raises(
        ValueError, match=r"types.npz .*gathered_types has values \[7\] but must have values in"
    ):
        load_rollouts(bad)


def test_malformed_metadata_raises_naming_the_file(tmp_path, good):
    bad = tmp_path / "list.npz"
    np.savez(bad, **{"__gymsamp__.json": np.frombuffer(b"[1, 2]", np.uint8)})
    with pytest.raises(
        ValueError, match=r"list.npz is not a gymsamp file \(its metadata is a JSON list"
    ):
        load_rollouts(bad)

    def keyword_name(meta):
        meta["content"] = [{"__namedtuple__": "class", "fields": ["x"], "values": [1]}]

    bad = _tampered(good, tmp_path / "nt.npz", keyword_name)
    with pytest.raises(
        ValueError, match=r"nt.npz is not a valid gymsamp file: ValueError: .*'class'"
    ):
        load_rollouts(bad)


def test_padded_rollouts_round_trip(tmp_path):
    ro = make_rollout(3, end="terminal")
    StepSequence.pad(ro, 5)
    (back,) = load_rollouts(save_rollouts(tmp_path / "padded.npz", [ro]))
    assert_sequences_equal(ro, back)
    assert back.step_types.tolist() == [0, 1, 1, 1, 2]


def test_sampled_rollouts_and_their_concatenation_round_trip(tmp_path):
    """Rollouts from the collection loop keep no finals of their own (an empty shared dict)."""
    from gymsamp.envs import CountingEnv
    from gymsamp.policies import IdlePolicy
    from gymsamp.sampling import ParallelRolloutSampler

    with ParallelRolloutSampler(
        lambda: CountingEnv(terminate_at=3),
        IdlePolicy(CountingEnv().action_space),
        2,
        min_rollouts=3,
        seed=0,
        record_states=True,
        show_progress_bar=False,
    ) as sampler:
        rollouts = sampler.sample()
    both = [*rollouts, StepSequence.concat(rollouts)]
    save_rollouts(tmp_path / "sampled.npz", both)
    loaded = load_rollouts(tmp_path / "sampled.npz")
    for saved, back in zip(both, loaded, strict=True):
        assert_sequences_equal(saved, back)
    np.testing.assert_array_equal(loaded[-1].get_rollout(2).observations[:, 0], [0, 1, 2, 3])


# --- input validation (DESIGN §8) -----------------------------------------------------------


def test_save_rollouts_refuses_what_is_no_list_of_rollouts(tmp_path):
    with pytest.raises(
        TypeError, match=r"rollouts must be a sequence of StepSequence objects, got NoneType"
    ):
        save_rollouts(tmp_path / "x.npz", None)
    with pytest.raises(TypeError, match=r"rollouts\[1\] must be a StepSequence, got int"):
        save_rollouts(tmp_path / "x.npz", [make_rollout(2), 3])
    assert not (tmp_path / "x.npz").exists()


def test_path_must_be_a_path(tmp_path):
    with pytest.raises(TypeError, match=r"path must be a str or an os.PathLike, got NoneType"):
        save_rollouts(None, [make_rollout(2)])
    with pytest.raises(TypeError, match=r"path must be a str or an os.PathLike, got NoneType"):
        load_rollouts(None)
    # str paths and tuples of rollouts work
    save_rollouts(str(tmp_path / "x.npz"), (make_rollout(2),))
    assert len(load_rollouts(str(tmp_path / "x.npz"))) == 1


def test_compress_must_be_a_bool(tmp_path):
    with pytest.raises(TypeError, match=r"compress must be a bool \(True or False\), got 'yes'"):
        save_rollouts(tmp_path / "x.npz", [make_rollout(2)], compress="yes")
    assert not (tmp_path / "x.npz").exists()
    save_rollouts(tmp_path / "x.npz", [make_rollout(2)], compress=np.True_)
    assert len(load_rollouts(tmp_path / "x.npz")) == 1


@pytest.mark.parametrize(
    ("offset", "value", "error"),
    [(10, 0x63, "compression method"), (8, 0x41, "encryption"), (6, 0xB3, "version")],
    ids=["method", "flags", "version"],
)
def test_a_damaged_zip_header_raises_naming_the_file(tmp_path, rollouts, offset, value, error):
    # One byte of the last central-directory entry: zipfile raised NotImplementedError or
    # RuntimeError, which reached the caller (and the CLI) without the file's name.
    raw = bytearray(save_rollouts(tmp_path / "good.npz", rollouts[:1]).read_bytes())
    raw[raw.rfind(b"PK\x01\x02") + offset] = value
    bad = tmp_path / "bad.npz"
    bad.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=rf"bad.npz is not a readable gymsamp file: .*{error}"):
        load_rollouts(bad)


def test_bools_and_dict_keys_of_every_kind_come_back_as_they_were(tmp_path):
    # JSON has str keys only and bool is an int subclass: a dict keyed by step index came back
    # keyed by "0", or True as 1, if the encoder took them for plain JSON values.
    info = {
        "flags": {"done": True, "ok": False, "np": np.bool_(True)},
        "by_step": {0: 1.5, 3: "a"},
        "by_pair": {(1, 2): [True, 0], 0.5: None, True: 1, None: "none"},
    }
    ro = make_rollout(2, info=info)
    (back,) = load_rollouts(save_rollouts(tmp_path / "keys.npz", [ro]))
    assert_tree_equal(ro.rollout_info, back.rollout_info, "rollout_info")
    keys = list(back.rollout_info["by_pair"])
    assert keys == [(1, 2), 0.5, True, None]
    assert [type(key) for key in keys] == [tuple, float, bool, type(None)]
    assert [type(key) for key in back.rollout_info["by_step"]] == [int, int]
    assert type(back.rollout_info["flags"]["done"]) is bool
    assert type(back.rollout_info["by_pair"][(1, 2)][0]) is bool


def test_values_nested_too_deeply_raise_value_errors(tmp_path):
    deep: object = 1
    for _ in range(2000):
        deep = {"x": deep}
    with pytest.raises(ValueError, match="rollouts must not hold values nested this deeply"):
        save_rollouts(tmp_path / "deep.npz", [make_rollout(2, info={"deep": deep})])
    assert not list(tmp_path.iterdir())  # no half-written file

    # A tampered file, deeper than anything gymsamp writes (too deep for json.dumps, too).
    good = save_rollouts(tmp_path / "good.npz", [make_rollout(2)])
    with np.load(good) as npz:
        arrays = {name: npz[name] for name in npz.files}
    meta = json.loads(arrays["__gymsamp__.json"].tobytes())
    _state(meta)["rollout_infos"] = ["DEEP"]
    text = json.dumps(meta).replace('"DEEP"', '{"__tuple__": [' * 5000 + "1" + "]}" * 5000)
    arrays["__gymsamp__.json"] = np.frombuffer(text.encode(), np.uint8)
    np.savez(tmp_path / "nested.npz", **arrays)
    with pytest.raises(ValueError, match=r"nested.npz is not a (readable|valid) gymsamp file"):
        load_rollouts(tmp_path / "nested.npz")


@pytest.mark.parametrize(
    "value",
    [np.complex128(1 + 2j), np.longdouble(1.5), np.bytes_(b"ab"), np.datetime64("2026-01-01")],
    ids=lambda v: type(v).__name__,
)
def test_numpy_scalars_json_cannot_hold_are_refused_naming_them(tmp_path, value):
    # Their item() went to json.dumps: "Object of type complex is not JSON serializable".
    with pytest.raises(
        TypeError,
        match=rf"rollouts\[0\]\.rollout_info\[0\]\.v has type numpy\.{type(value).__name__}, "
        "which gymsamp cannot save",
    ):
        save_rollouts(tmp_path / "x.npz", [make_rollout(2, info={"v": value})])


class _Level(enum.IntEnum):
    HIGH = 3


class _Meters(float):
    pass


def test_number_subclasses_are_saved_as_plain_numbers(tmp_path):
    info = {"level": _Level.HIGH, "length": _Meters(1.5)}
    back = load_rollouts(save_rollouts(tmp_path / "x.npz", [make_rollout(2, info=info)]))
    loaded = back[0].rollout_info
    assert loaded == {"level": 3, "length": 1.5}
    assert (type(loaded["level"]), type(loaded["length"])) == (int, float)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (np.zeros((2, 2), dtype=object), "must not be an object array"),
        (np.zeros(1, dtype=[("a", object)])[0], "must not be a numpy object scalar"),
        (gym.spaces.Text(5), "is a Text space, which gymsamp cannot save"),
    ],
    ids=["2-D object array", "structured scalar with an object field", "Text space"],
)
def test_values_that_cannot_be_saved_safely_are_refused_naming_them(tmp_path, value, message):
    with pytest.raises(TypeError, match=rf"rollouts\[0\]\.rollout_info\[0\]\.v {message}"):
        save_rollouts(tmp_path / "x.npz", [make_rollout(2, info={"v": value})])
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "space",
    [
        gym.spaces.MultiDiscrete([3, 4], start=[1, -1]),
        gym.spaces.MultiBinary(3),
        gym.spaces.MultiBinary([2, 3]),
        gym.spaces.Dict({"a": gym.spaces.Discrete(2), "b": gym.spaces.Box(0, 1, (2,))}),
        gym.spaces.Tuple((gym.spaces.Discrete(2, start=1), gym.spaces.MultiBinary(2))),
    ],
    ids=repr,
)
def test_every_documented_space_round_trips(tmp_path, space):
    ro = make_rollout(2, info={"space": space})
    loaded = load_rollouts(save_rollouts(tmp_path / "r.npz", [ro]))[0].rollout_info["space"]
    assert loaded == space
    assert repr(loaded) == repr(space)


def test_save_episode_batch_refuses_what_is_no_episode_batch(tmp_path):
    with pytest.raises(TypeError, match="batch must be an EpisodeBatch, got list"):
        io.save_episode_batch(tmp_path / "b.npz", [make_rollout(2)])


def _set_content(value):
    return lambda meta: meta.update(content=value)


def _set_state(key, value, index=0):
    return lambda meta: _state(meta, index).update({key: value})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda meta: meta.update(format="other"), r"is not a gymsamp file \(format 'other'\)"),
        (lambda meta: meta.update(kind="episode_batch"), "holds 'episode_batch', not 'rollouts'"),
        (_set_content([1]), "is not a valid gymsamp file: the content is not rollouts"),
        (_set_content([{"__bogus__": 1}]), r"unknown tagged value with keys \['__bogus__'\]"),
        (_set_content([{"__space__": "Text"}]), "unknown space 'Text'"),
        (_set_content([{"__array__": 999}]), "array 999 is missing"),
        (_set_content([{"__array__": "a9"}]), "array 'a9' is missing"),
        (_set_state("terminated", [False]), r"expected an array reference, got \[False\]"),
        (_set_state("data", [1]), "the data of a rollout must be a dict, got list"),
        (
            _set_state("after_last", []),
            r"after_last \[\] does not match the fields with one entry more than steps, "
            r"\['observations'\]",
        ),
        (_set_state("finals", None), r"finals must be a dict with keys \['observations'\]"),
        (
            _set_state("finals", {"__dict__": []}, index=1),
            r"finals must be a dict with keys \['observations'\]",
        ),
    ],
    ids=[
        "format",
        "kind",
        "not rollouts",
        "unknown tag",
        "unknown space",
        "packed array missing",
        "member missing",
        "flags no array",
        "data no dict",
        "after_last",
        "finals no dict",
        "finals of a concatenation empty",
    ],
)
def test_tampered_content_raises_naming_the_file(tmp_path, good, change, message):
    bad = _tampered(good, tmp_path / "bad.npz", change)
    with pytest.raises(ValueError, match=rf"bad.npz {'' if 'not a' in message else '.*'}{message}"):
        load_rollouts(bad)


def test_a_rollouts_file_is_no_episode_batch(tmp_path, good):
    from gymsamp.data.io import load_episode_batch

    with pytest.raises(ValueError, match="good.npz holds 'rollouts', not 'episode_batch'"):
        load_episode_batch(good)
    bad = _tampered(good, tmp_path / "bad.npz", lambda meta: meta.update(kind="episode_batch"))
    with pytest.raises(
        ValueError, match="bad.npz is not a valid gymsamp file: the content is not an EpisodeBatch"
    ):
        load_episode_batch(bad)


# zipfile's own ZipFile.__del__, at the next garbage collection, still finds the member it
# was writing open and says so ("Exception ignored"): noise from the interrupted writer.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_ctrl_c_while_the_zip_closes_is_a_keyboard_interrupt_and_leaves_no_file(
    tmp_path, rollouts, monkeypatch
):
    # A SIGINT inside a zip member's close(): numpy's savez then closed the zip in a finally,
    # which raised "ValueError: Can't close the ZIP file while there is an open writing
    # handle" in its place (the CLI reported an error, exit 1, instead of "interrupted").
    import zipfile

    original = zipfile._ZipWriteFile.close
    closes = []

    def interrupted_close(self):
        closes.append(1)
        if len(closes) == 2:
            raise KeyboardInterrupt
        return original(self)

    good = save_rollouts(tmp_path / "r.npz", rollouts)
    before = good.read_bytes()
    monkeypatch.setattr(zipfile._ZipWriteFile, "close", interrupted_close)
    with pytest.raises(KeyboardInterrupt):
        save_rollouts(tmp_path / "r.npz", rollouts)
    monkeypatch.undo()
    gc.collect()  # the noise comes now, inside this test, which ignores it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.npz"]  # no .tmp left
    assert good.read_bytes() == before  # the old file is whole


# --- format version 2: one packed member for all plain arrays --------------------------------


def test_plain_arrays_share_one_packed_member_as_documented(tmp_path, rollouts):
    path = save_rollouts(tmp_path / "ro.npz", rollouts)
    with zipfile.ZipFile(path) as archive:
        assert sorted(archive.namelist()) == ["__gymsamp__.json.npy", "packed.npy"]
    with np.load(path, allow_pickle=False) as npz:
        meta = json.loads(npz["__gymsamp__.json"].tobytes())
        assert (meta["format"], meta["version"]) == ("gymsamp", FORMAT_VERSION) == ("gymsamp", 2)
        packed = _unpacked(npz, meta)  # decoded from the documented layout alone
    assert all(offset % 64 == 0 for offset, _, _ in meta["packed"])
    # The first rollout's observations are where its tag says.
    key = _member(path, "data", "observations")
    assert isinstance(key, int)
    np.testing.assert_array_equal(packed[key], rollouts[0].observations, strict=True)


def _varied_rollouts():
    rng = np.random.default_rng(0)
    rollouts = []
    dtypes = [np.float32, np.float16, np.int8, np.uint16, np.complex64, np.dtype(">f8"), bool]
    for k in range(40):
        length = 1 + k % 5
        dtype = np.dtype(dtypes[k % len(dtypes)])
        obs = (rng.standard_normal((length + 1, 2, 3)) * 10).astype(dtype)
        info = {
            "strided": np.arange(12.0)[::3],  # not contiguous
            "scalar": np.array(k),  # 0-d
            "empty": np.zeros((0, 4), np.int32),
            "text": np.array(["a", "bcd"]),
        }
        rollouts.append(
            StepSequence(
                observations=obs,
                actions=rng.integers(0, 255, (length, 4), dtype=np.uint8),
                rewards=rng.standard_normal(length),
                terminated=np.arange(length) == length - 1,
                rollout_info=info,
            )
        )
    return rollouts


@pytest.mark.parametrize("compress", [False, True])
def test_many_dtypes_and_layouts_round_trip_bit_exact(tmp_path, compress):
    rollouts = _varied_rollouts()
    loaded = load_rollouts(save_rollouts(tmp_path / "ro.npz", rollouts, compress=compress))
    for original, back in zip(rollouts, loaded, strict=True):
        assert_sequences_equal(original, back)
        for name in ("observations", "actions"):
            assert getattr(back, name).dtype == getattr(original, name).dtype
        for key, value in original.rollout_info.items():
            np.testing.assert_array_equal(back.rollout_info[key], value, strict=True)
        # Every loaded array is its own (writable, not a view of one shared buffer).
        assert back.observations.flags.owndata or back.observations.base is None
        assert back.observations.flags.writeable


def test_structured_arrays_are_members_of_their_own(tmp_path):
    record = np.array([(1.5, 2), (3.0, -4)], dtype=[("x", "<f4"), ("n", "<i8")])
    ro = make_rollout(2, info={"record": record})
    path = save_rollouts(tmp_path / "ro.npz", [ro])
    with zipfile.ZipFile(path) as archive:
        assert "a0.npy" in archive.namelist()
    (back,) = load_rollouts(path)
    np.testing.assert_array_equal(back.rollout_info["record"], record, strict=True)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda p: p[0].__setitem__(1, "|O"), r"packed\[0\] must be \[offset, dtype, shape\]"),
        (lambda p: p[0].__setitem__(1, "<f4 junk"), r"packed\[0\] must be \[offset, dtype"),
        (lambda p: p[0].__setitem__(2, [-1]), r"packed\[0\] must be \[offset, dtype, shape\]"),
        (lambda p: p[0].__setitem__(2, [10**9]), r"packed\[0\] must start at byte 0 and end"),
        (lambda p: p[1].__setitem__(0, p[1][0] + 8), r"packed\[1\] must start at byte"),
        (lambda p: p.__setitem__(0, 5), r"packed\[0\] must be \[offset, dtype, shape\]"),
        (lambda p: p.append([0, "<f4", [1.5]]), r"packed\[\d+\] must be \[offset, dtype, shape\]"),
    ],
    ids=["object", "bad-dtype", "negative", "too-long", "misaligned", "no-list", "float"],
)
def test_a_damaged_packed_layout_raises_naming_the_file(tmp_path, good, change, message):
    def damage(meta):
        change(meta["packed"])

    bad = tmp_path / "bad.npz"
    with np.load(good) as npz:
        members = {name: npz[name] for name in npz.files}
    meta = json.loads(members["__gymsamp__.json"].tobytes())
    damage(meta)
    members["__gymsamp__.json"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    np.savez(bad, **members)
    with pytest.raises(ValueError, match=rf"bad.npz is not a readable gymsamp file: {message}"):
        load_rollouts(bad)


@pytest.mark.parametrize("damage", ["cut", "missing", "not-uint8"])
def test_a_damaged_packed_member_raises_naming_the_file(tmp_path, good, damage):
    with np.load(good) as npz:
        members = {name: npz[name] for name in npz.files}
    if damage == "cut":
        members["packed"] = members["packed"][:-3]
        message = r"is not a readable gymsamp file: packed\[\d+\] must start at byte \d+ and end"
    elif damage == "missing":
        del members["packed"]
        message = "is not a valid gymsamp file: no packed member"
    else:
        members["packed"] = members["packed"].astype(np.int16)
        message = "is not a readable gymsamp file: the packed member must be a 1-D uint8 array"
    np.savez(tmp_path / "bad.npz", **members)
    with pytest.raises(ValueError, match=rf"bad.npz {message}"):
        load_rollouts(tmp_path / "bad.npz")


def test_a_packed_member_claiming_more_bytes_than_it_holds_is_refused_before_allocating(
    tmp_path, good
):
    # A crafted header and layout claiming ~80 GB: refused from the member's size in the
    # archive, not a MemoryError (or an 80 GB allocation) from np.empty.
    with zipfile.ZipFile(good) as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    meta = json.loads(np.load(BytesIO(parts["__gymsamp__.json.npy"])).tobytes())
    meta["packed"] = [[0, "<f8", [10**10]]]
    header = BytesIO()
    np.lib.format.write_array_header_2_0(
        header, {"descr": "|u1", "fortran_order": False, "shape": (8 * 10**10,)}
    )
    data = np.load(BytesIO(parts["packed.npy"])).tobytes()
    parts["packed.npy"] = header.getvalue() + data
    meta_member = BytesIO()
    np.save(meta_member, np.frombuffer(json.dumps(meta).encode(), np.uint8))
    parts["__gymsamp__.json.npy"] = meta_member.getvalue()
    bad = tmp_path / "bad.npz"
    with zipfile.ZipFile(bad, "w") as archive:
        for name, content in parts.items():
            archive.writestr(name, content)
    with pytest.raises(
        ValueError,
        match=r"bad.npz is not a readable gymsamp file: the packed member's header claims "
        rf"80000000000 bytes, it holds {len(data)}$",
    ):
        load_rollouts(bad)


def test_version_1_files_still_load(tmp_path, rollouts):
    # Written by gymsamp's version 1 writer (compressed): the `rollouts` fixture, and an
    # episode batch of two rollouts with a Box/Discrete env spec.
    from gymsamp.data import EnvSpec, EpisodeBatch
    from gymsamp.data.io import load_episode_batch

    files = Path(__file__).parent / "files"
    with np.load(files / "rollouts_v1.npz") as npz:
        assert json.loads(npz["__gymsamp__.json"].tobytes())["version"] == 1
    for original, back in zip(rollouts, load_rollouts(files / "rollouts_v1.npz"), strict=True):
        assert_sequences_equal(original, back)
    spec = EnvSpec(
        gym.spaces.Box(-np.inf, np.inf, (3,), np.float64),
        gym.spaces.Discrete(2),
        max_episode_length=10,
    )
    parts = [
        make_rollout(3, seed=1, end="terminal", info={"seed": 0}),
        make_rollout(4, seed=2, end="timeout", info={"seed": 1}, offset=9),
    ]
    batch = EpisodeBatch.from_step_sequences(parts, spec, agent_info_names=["hidden"])
    loaded = load_episode_batch(files / "episode_batch_v1.npz")
    assert loaded.env_spec == batch.env_spec
    for field in ("observations", "last_observations", "actions", "rewards", "step_types"):
        assert_tree_equal(getattr(batch, field), getattr(loaded, field))
    for field in ("env_infos", "agent_infos", "episode_infos"):
        assert_tree_equal(getattr(batch, field), getattr(loaded, field))
    # Re-saved, it is a version 2 file with the same content.
    again = load_episode_batch(io.save_episode_batch(tmp_path / "b.npz", loaded))
    for field in ("observations", "actions", "step_types"):
        assert_tree_equal(getattr(loaded, field), getattr(again, field))


_SAVE_IN_A_FRESH_PYTHON = """
import hashlib, sys
import numpy as np
from gymsamp.data import StepSequence
from gymsamp.data.io import load_rollouts, save_rollouts

def ro(k, T=3):
    extra = {name: np.full(T + 1, k) for name in ("alpha", "beta", "gamma", "delta", "time")}
    obs, actions = np.arange(T + 1.0), np.zeros(T)
    return StepSequence(rewards=np.arange(T) + k, observations=obs, actions=actions, **extra)

padded = ro(3)
StepSequence.pad(padded, 5)
both = StepSequence.concat([ro(0), ro(1)])
save_rollouts(sys.argv[1] + "/a.npz", [both, both[0:5], ro(2), padded])
save_rollouts(sys.argv[1] + "/b.npz", load_rollouts(sys.argv[1] + "/a.npz"))
for name in ("a", "b"):
    print(hashlib.sha256(open(sys.argv[1] + f"/{name}.npz", "rb").read()).hexdigest())
"""


def test_saved_bytes_do_not_depend_on_the_string_hash_seed(tmp_path: Path) -> None:
    # Users diff saved files. The final entries of the fields with T+1 entries were stored in
    # the order of a set of field names, which string hashing (PYTHONHASHSEED, random per
    # process by default) changes: the same rollouts gave other bytes in another process.
    digests = []
    for hash_seed in ("0", "2"):  # two seeds that order these names differently
        out = tmp_path / hash_seed
        out.mkdir()
        done = subprocess.run(
            [sys.executable, "-c", _SAVE_IN_A_FRESH_PYTHON, str(out)],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=Path(__file__).parents[2],
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
        )
        assert done.returncode == 0, done.stderr
        digests.append(done.stdout.split())
    assert len(digests[0]) == 2
    assert digests[0] == digests[1]


def _npy_member(header: str, data: bytes = b"") -> bytes:
    """A version 1.0 ``.npy`` member with the header text ``header`` (any text, even one
    numpy cannot parse) followed by ``data``."""
    text = header.encode("latin1")
    text += b" " * (-(len(text) + 11) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text + data


def _rezipped(good, dst, replace, method=zipfile.ZIP_STORED):
    """A copy of the file ``good`` with the zip entries of ``replace`` (name: bytes) replaced."""
    with zipfile.ZipFile(good) as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    parts.update(replace)
    with zipfile.ZipFile(dst, "w", method) as archive:
        for name, content in parts.items():
            archive.writestr(name, content)
    return dst


@pytest.mark.parametrize(
    ("member", "content", "message"),
    [
        (
            "__gymsamp__.json.npy",
            _npy_member(f"{{'descr': '|u1', 'fortran_order': False, 'shape': ({2**50},), }}"),
            rf"member __gymsamp__.json.npy's header claims {2**50} bytes \(uint8 \({2**50},\)\), "
            r"it holds at most 0",
        ),
        (
            "a7.npy",
            _npy_member("{'descr': '<U0', 'fortran_order': False, 'shape': (10, 10), }"),
            r"member a7.npy must not hold entries of 0 bytes, got <U0",
        ),
        (
            "__gymsamp__.json.npy",
            _npy_member(f"{{'descr': '|u1', 'fortran_order': False, 'shape': (0, {10**30}), }}"),
            rf"member __gymsamp__.json.npy must have dimensions >= 0, got \(0, {10**30}\)",
        ),
        (
            "a7.npy",
            _npy_member("{'descr': '<f8', 'fortran_order': False, 'shape': (3,\n"),
            r"member a7.npy is no readable .npy array: the .npy header cannot be parsed "
            r"\(\('EOF in multi-line statement'",
        ),
        (
            "__gymsamp__.json.npy",
            b'{"format": "gymsamp", "version": 2}',
            r"member __gymsamp__.json.npy is no readable .npy array: the magic string is not "
            "correct",
        ),
        (
            "a7.npy",
            _npy_member("{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }", bytes(8))[:6]
            + b"\x04\x00"
            + _npy_member("{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }", bytes(8))[
                8:
            ],
            r"member a7.npy is no readable .npy array: the .npy format version must be one of",
        ),
        (
            "packed.npy",
            _npy_member("{b'descr': '|u1', 'fortran_order': False, 'shape': (0,), }"),
            r"the .npy header must have the keys descr, fortran_order and shape \('<' not "
            "supported",
        ),
    ],
    ids=[
        "1 PB claimed",
        "zero-byte entries",
        "int64 overflow",
        "unparsable",
        "no npy",
        "v4",
        "bytes key",
    ],
)
def test_a_damaged_member_header_raises_naming_the_file_before_allocating(
    tmp_path, good, member, content, message
):
    # numpy's np.load allocated what a member's header claims before reading it (MemoryError
    # for a petabyte from a file of a few kB), raised OverflowError, tokenize.TokenError, or
    # gave the raw bytes of a member that is no .npy array (AttributeError: 'bytes' object
    # has no attribute 'tobytes').
    bad = _rezipped(good, tmp_path / "bad.npz", {member: content})
    with pytest.raises(ValueError, match=rf"bad.npz is not a readable gymsamp file: {message}"):
        load_rollouts(bad)


def test_a_directory_entry_claiming_more_than_the_member_holds_is_refused_before_allocating(
    tmp_path, good
):
    # The packed member's size in the zip's central directory says ~4 GB, and so do its
    # header and the layout: the checks trusted that size and allocated 4 GB for a 2 kB file.
    with zipfile.ZipFile(good) as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    meta = json.loads(np.load(BytesIO(parts["__gymsamp__.json.npy"])).tobytes())
    claimed = 2**32 - 2**12
    meta["packed"] = [[0, "|u1", [claimed - 128]]]
    parts["__gymsamp__.json.npy"] = _npy_member(
        f"{{'descr': '|u1', 'fortran_order': False, 'shape': ({len(json.dumps(meta))},), }}",
        json.dumps(meta).encode(),
    )
    data = bytes(64)
    parts["packed.npy"] = _npy_member(
        f"{{'descr': '|u1', 'fortran_order': False, 'shape': ({claimed - 128},), }}", data
    )
    bad = tmp_path / "bad.npz"
    with zipfile.ZipFile(bad, "w") as archive:
        for name, content in parts.items():
            archive.writestr(name, content)
    raw = bytearray(bad.read_bytes())
    entry = raw.find(b"PK\x01\x02", raw.find(b"packed.npy") + 1)
    while raw[entry + 46 : entry + 56] != b"packed.npy":
        entry = raw.find(b"PK\x01\x02", entry + 1)
    raw[entry + 24 : entry + 28] = claimed.to_bytes(4, "little")  # uncompressed size
    bad.write_bytes(bytes(raw))
    with pytest.raises(
        ValueError,
        match=rf"bad.npz is not a readable gymsamp file: the packed member's header claims "
        rf"{claimed - 128} bytes, it holds {len(data)}$",
    ):
        load_rollouts(bad)


def test_a_member_compressed_otherwise_than_gymsamp_writes_is_refused(tmp_path, good):
    # A bzip2 or lzma member can unpack a kilobyte to gigabytes, more than deflate's 1032:1.
    bad = _rezipped(good, tmp_path / "bad.npz", {}, zipfile.ZIP_BZIP2)
    with pytest.raises(
        ValueError,
        match=r"bad.npz is not a readable gymsamp file: member \S+ must be stored or deflated, "
        r"got compression method 12",
    ):
        load_rollouts(bad)


def test_a_damaged_deflate_stream_raises_naming_the_file(tmp_path, good):
    # zlib.error ("invalid block type") reached the caller without the file's name.
    bad = _rezipped(good, tmp_path / "bad.npz", {}, zipfile.ZIP_DEFLATED)
    raw = bytearray(bad.read_bytes())
    with zipfile.ZipFile(bad) as archive:
        info = archive.getinfo("packed.npy")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    raw[start] = 0xFF  # a final block of the reserved type 3
    bad.write_bytes(bytes(raw))
    with pytest.raises(
        ValueError, match=r"bad.npz is not a readable gymsamp file: .*invalid block type"
    ):
        load_rollouts(bad)


@pytest.mark.parametrize(
    ("tag", "message"),
    [
        ({"__scalar__": "<i1", "value": 1000}, "a numpy scalar of dtype <i1 cannot hold 1000"),
        ({"__scalar__": "<i8", "value": 1e400}, "dtype <i8 must have a value of type int, got inf"),
        ({"__scalar__": "<f4", "value": 1e300}, "a numpy scalar of dtype <f4 cannot hold 1e"),
        ({"__scalar__": "|V8", "value": 10**9}, "must have a bool, .* dtype, got '\\|V8'"),
        ({"__scalar__": "<f16", "value": 1.5}, "must have a bool, .* dtype, got '<f16'"),
        ({"__scalar__": "f4,(2", "value": 1.5}, r"must have a bool, .* dtype, got 'f4,\(2'"),
        ({"__scalar__": "<f8", "value": "x"}, "dtype <f8 must have a value of type float, got 'x'"),
    ],
    ids=["int overflow", "inf int", "float overflow", "void bomb", "longdouble", "ast", "str"],
)
def test_a_numpy_scalar_the_encoder_never_writes_is_refused(tmp_path, good, tag, message):
    # np.dtype(...).type(value) raised OverflowError or SyntaxError past the loader, built a
    # GB of zeros for np.void(10**9), or loaded values (longdouble) gymsamp cannot save again.
    bad = _tampered(good, tmp_path / "bad.npz", _set_state("rollout_infos", [tag]))
    with pytest.raises(ValueError, match=rf"bad.npz is not a valid gymsamp file: .*{message}"):
        load_rollouts(bad)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ([0, "<U0", [10**14]], r"packed\[0\] must not hold entries of 0 bytes"),
        ([0, "f4,(2", [1]], r"packed\[0\] must be \[offset, dtype, shape\]"),
    ],
    ids=["zero-byte dtype", "ast"],
)
def test_a_packed_entry_of_a_zero_byte_or_unparsable_dtype_is_refused(
    tmp_path, good, entry, message
):
    # "<U0": 10**14 entries in no bytes passed the size check, then np.empty made them one
    # character wide (MemoryError for 400 TB); "f4,(2": SyntaxError from numpy's dtype parser.
    with np.load(good) as npz:
        members = {name: npz[name] for name in npz.files}
    meta = json.loads(members["__gymsamp__.json"].tobytes())
    meta["packed"][0] = entry
    members["__gymsamp__.json"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    np.savez(tmp_path / "bad.npz", **members)
    with pytest.raises(ValueError, match=rf"bad.npz is not a readable gymsamp file: {message}"):
        load_rollouts(tmp_path / "bad.npz")
