"""Every trainer writes a checkpoint after each epoch that `--resume` continues exactly: a run stopped by
Ctrl-C in epoch 2 and resumed ends with the same weights and metrics as a run that was never stopped."""
import numpy as np
import pytest

import minigrad as mg
from minigrad.cli import main
from models import training as T


def _tiny_digits(n_train=48, n_test=24, seed=0):
    rng = np.random.default_rng(seed)
    templates = (rng.random((10, 28, 28)) > 0.7).astype(np.float32)
    labels = rng.integers(0, 10, n_train + n_test)
    x = (templates[labels] * 0.8 + rng.random((len(labels), 28, 28)) * 0.2).astype(np.float32)[:, None]
    y = labels.astype(np.int64)
    return mg.datasets.ImageSplit(x[:n_train], y[:n_train], x[n_train:], y[n_train:])


def _interrupt_epoch(monkeypatch, module, name, epoch):
    """Make ``module.name`` (an epoch function) raise KeyboardInterrupt on its ``epoch``-th call, midway."""
    real = getattr(module, name)
    calls = []

    def wrapped(*args, **kwargs):
        calls.append(1)
        if len(calls) == epoch:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, wrapped)
    return lambda: monkeypatch.setattr(module, name, real)


def _weights(path):
    state = mg.load(str(path))
    return {k: v.numpy() for k, v in state["model"].items()}, state["history"]["records"]


def _same(a, b):
    wa, ha = a
    wb, hb = b
    assert wa.keys() == wb.keys()
    for k in wa:
        np.testing.assert_array_equal(wa[k], wb[k], err_msg=k)
    assert ha == hb


def _cli(argv, capsys):
    try:
        code = main(argv)
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


LENET = ["train", "lenet", "--epochs", "2", "--batch-size", "16", "--quiet"]


def test_lenet_interrupted_and_resumed_equals_uninterrupted(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(mg.datasets, "mnist5k", lambda: _tiny_digits())
    assert _cli(LENET + ["--out", str(tmp_path / "a")], capsys)[0] == 0
    straight = _weights(tmp_path / "a" / "lenet5.npz")

    restore = _interrupt_epoch(monkeypatch, T, "train_epoch", 2)
    code, _, err = _cli(LENET + ["--out", str(tmp_path / "b")], capsys)
    ckpt = tmp_path / "b" / "lenet5.npz"
    assert code == 130 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert "interrupted during epoch 2" in err and f"--resume {ckpt}" in err
    state = mg.load(str(ckpt))
    assert state["resume"]["epoch"] == 1 and len(state["history"]["records"]) == 1
    restore()
    assert _cli(LENET + ["--out", str(tmp_path / "b"), "--resume", str(ckpt)], capsys)[0] == 0
    _same(straight, _weights(ckpt))


def test_resume_refuses_other_options(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(mg.datasets, "mnist5k", lambda: _tiny_digits())
    out = tmp_path / "a"
    assert _cli(LENET + ["--out", str(out)], capsys)[0] == 0
    code, _, err = _cli(LENET + ["--out", str(out), "--lr", "0.1", "--resume", str(out / "lenet5.npz")], capsys)
    assert code == 2 and "lr=0.002" in err and "Traceback" not in err


def test_checkpoint_holds_everything_resume_needs(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(mg.datasets, "mnist5k", lambda: _tiny_digits())
    out = tmp_path / "a"
    assert _cli(LENET + ["--out", str(out), "--epochs", "1"], capsys)[0] == 0
    resume = mg.load(str(out / "lenet5.npz"))["resume"]
    assert resume["epoch"] == 1 and resume["optimizer"]["state"] and "scheduler" in resume
    assert set(resume["rng"]) == {"minigrad", "shift"} and resume["best"] is not None


def test_rng_state_round_trip():
    mg.manual_seed(3)
    state = mg.get_rng_state()
    a = mg.rand(5).numpy()
    mg.set_rng_state(state)
    np.testing.assert_array_equal(mg.rand(5).numpy(), a)
