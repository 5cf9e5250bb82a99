"""mg.save / mg.load: round trips, atomic writes, clear errors, no pickle."""
import os
import zipfile

import numpy as np
import pytest

import minigrad as mg


def test_round_trip_nested_structure(tmp_path):
    obj = {
        "model": {"weight": mg.randn(3, 4), "bias": mg.zeros(4, dtype=mg.float64)},
        "step": 12,
        "lr": 0.001,
        "name": "lenet",
        "history": [1.5, 0.5, {"nested": mg.arange(5)}],
        "state": {0: {"momentum": mg.ones(2)}, 1: {}},
        "flag": True,
        "none": None,
        "inf": float("inf"),
        "pair": (1, "a"),
        "raw": np.arange(3.0),
    }
    path = tmp_path / "ckpt.npz"
    mg.save(obj, path)
    back = mg.load(path)
    assert back["step"] == 12 and isinstance(back["step"], int)
    assert back["lr"] == 0.001 and back["name"] == "lenet" and back["flag"] is True and back["none"] is None
    assert back["inf"] == float("inf") and back["pair"] == (1, "a")
    np.testing.assert_array_equal(back["model"]["weight"].numpy(), obj["model"]["weight"].numpy())
    assert back["model"]["bias"].dtype == np.float64
    assert back["history"][2]["nested"].dtype == np.int64
    assert set(back["state"]) == {0, 1}
    np.testing.assert_array_equal(back["raw"], np.arange(3.0))


def test_file_is_plain_npz_without_pickle(tmp_path):
    path = tmp_path / "a.npz"
    mg.save({"w": mg.randn(2)}, path)
    with np.load(path, allow_pickle=False) as z:  # loads with pickling disabled
        assert "__minigrad__" in z.files


def test_truncated_file_gives_clear_error(tmp_path):
    path = tmp_path / "a.npz"
    mg.save({"w": mg.randn(100, 100)}, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(mg.CheckpointError, match="truncated, corrupt or not written by mg.save"):
        mg.load(path)


def test_foreign_files_give_clear_errors(tmp_path):
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a checkpoint at all")
    with pytest.raises(mg.CheckpointError):
        mg.load(junk)
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, x=np.arange(3))
    # an .npz whose manifest names another format
    np.savez(foreign, __minigrad__=np.frombuffer(b'{"format": "other"}', dtype=np.uint8))
    with pytest.raises(mg.CheckpointError, match="not a minigrad checkpoint"):
        mg.load(foreign)
    with pytest.raises(FileNotFoundError):
        mg.load(tmp_path / "missing.npz")


def test_interrupted_save_keeps_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.npz"
    mg.save({"version": 1, "w": mg.ones(3)}, path)

    def crash(file, **arrays):
        file.write(b"partial data")
        raise KeyboardInterrupt("power cut")

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(KeyboardInterrupt):
        mg.save({"version": 2, "w": mg.zeros(3)}, path)
    monkeypatch.undo()
    assert mg.load(path)["version"] == 1
    assert os.listdir(tmp_path) == ["ckpt.npz"]  # no temporary file left behind


def test_unsupported_object_is_refused(tmp_path):
    with pytest.raises(TypeError, match="cannot store object"):
        mg.save({"x": object()}, tmp_path / "a.npz")


def test_pickled_payload_is_never_loaded(tmp_path):
    path = tmp_path / "evil.npz"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("x.npy", b"\x93NUMPY\x01\x00v\x00{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"
                   .ljust(128 - 1) + b"\n" + b"cos\nsystem\n")
    with pytest.raises(mg.CheckpointError):
        mg.load(path)


def test_zip_members_that_are_not_arrays_are_refused(tmp_path):
    """NumPy hands a non-.npy member of a zip over as raw bytes: mg.load must not turn those into tensors."""
    path = tmp_path / "other.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("weights.npy", b"")
        z.writestr("notes.txt", b"hello")
    with pytest.raises(mg.CheckpointError, match="'notes.txt' is not a .npy array"):
        mg.load(path)
    # the layout torch.save writes: a zip holding a pickle
    torch_like = tmp_path / "model.pt"
    with zipfile.ZipFile(torch_like, "w") as z:
        z.writestr("model/data.pkl", b"\x80\x02}q\x00.")
        z.writestr("model/data/0", b"\x00" * 8)
    with pytest.raises(mg.CheckpointError, match="torch.save"):
        mg.load(torch_like)


def test_saved_file_gets_the_usual_permissions(tmp_path):
    mask = os.umask(0o022)
    try:
        mg.save({"w": mg.ones(2)}, tmp_path / "a.npz")
    finally:
        os.umask(mask)
    assert (tmp_path / "a.npz").stat().st_mode & 0o777 == 0o644
