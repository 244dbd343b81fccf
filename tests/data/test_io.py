import gc
import json
import zipfile

import numpy as np
import pytest
import torch

from gymsamp.data import StepSequence
from gymsamp.data.io import FORMAT_VERSION, load_rollouts, save_rollouts
from tests.data.test_step_sequence import make_rollout
from tests.helpers import assert_sequences_equal


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

    def full_disk(file, **members):
        file.write(b"PK")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", full_disk)
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


def _tampered(good, dst, change_meta=None, **members):
    """A copy of the file ``good`` with its metadata changed and array members replaced."""
    with np.load(good) as npz:
        arrays = {name: npz[name] for name in npz.files}
    meta = json.loads(arrays.pop("__gymsamp__.json").tobytes())
    if change_meta is not None:
        change_meta(meta)
    arrays.update(members)
    arrays["__gymsamp__.json"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    np.savez(dst, **arrays)
    return dst


def _state(meta, index=0):
    return meta["content"][index]["__stepsequence__"]


def _member(good, part, field, index=0):
    """The name of the array member that holds ``field`` of ``part`` (``"data"`` or
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
    bad = _tampered(good, tmp_path / "obs.npz", **{obs: np.zeros((10, 2))})
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
    bad = _tampered(good, tmp_path / "finals.npz", **{finals: np.zeros((3, 3))})
    with pytest.raises(
        ValueError,
        match=r"finals.npz .*the final entries of observations have the shapes "
        r"\[\('observations', \(3, 3\)\)\] but must have \[\('observations', \(2, 3\)\)\]",
    ):
        load_rollouts(bad)

    with np.load(good) as npz:
        types = _state(json.loads(npz["__gymsamp__.json"].tobytes()), 2)["gathered_types"]
    bad = _tampered(good, tmp_path / "types.npz", **{types["__array__"]: np.int8([0, 7])})
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
