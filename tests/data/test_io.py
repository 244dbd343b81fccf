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
