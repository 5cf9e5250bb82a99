"""Every trainer writes a checkpoint after each epoch that `--resume` continues exactly: a run stopped by
Ctrl-C in epoch 2 and resumed ends with the same weights and metrics as a run that was never stopped."""
import numpy as np
import pytest

import minigrad as mg
from minigrad_models import training as T
from helpers import run_cli as _cli
from helpers import tiny_digits


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


LENET = ["train", "lenet", "--epochs", "2", "--batch-size", "16", "--quiet"]


def test_lenet_interrupted_and_resumed_equals_uninterrupted(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(mg.datasets, "mnist5k", lambda: tiny_digits(48, 24))
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
    monkeypatch.setattr(mg.datasets, "mnist5k", lambda: tiny_digits(48, 24))
    out = tmp_path / "a"
    assert _cli(LENET + ["--out", str(out)], capsys)[0] == 0
    code, _, err = _cli(LENET + ["--out", str(out), "--lr", "0.1", "--resume", str(out / "lenet5.npz")], capsys)
    assert code == 2 and "lr=0.002" in err and "Traceback" not in err


def test_checkpoint_holds_everything_resume_needs(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(mg.datasets, "mnist5k", lambda: tiny_digits(48, 24))
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


# ----------------------------------------------------------------------------- the other trainers, via their API
TIMES = ("seconds", "time", "checkpoint", "curves", "best_checkpoint", "alignments")


def _metrics_equal(a, b):
    a = {k: v for k, v in a.items() if not any(t in k for t in TIMES)}
    b = {k: v for k, v in b.items() if not any(t in k for t in TIMES)}
    assert a == b


def _resumed_equals_straight(tmp_path, monkeypatch, train, ckpt_name, module=T, name="train_epoch", **kwargs):
    straight = train(out=str(tmp_path / "a"), **kwargs)
    restore = _interrupt_epoch(monkeypatch, module, name, 2)
    with pytest.raises(T.TrainingInterrupted, match="interrupted during epoch 2"):
        train(out=str(tmp_path / "b"), **kwargs)
    restore()
    ckpt = tmp_path / "b" / ckpt_name
    assert mg.load(str(ckpt))["resume"]["epoch"] == 1
    resumed = train(out=str(tmp_path / "b"), resume=str(ckpt), **kwargs)
    _same(_weights(tmp_path / "a" / ckpt_name), _weights(ckpt))
    a, b = mg.load(str(tmp_path / "a" / ckpt_name))["resume"], mg.load(str(ckpt))["resume"]
    for k in a.get("model", {}):  # the live weights too, where the checkpoint keeps a best epoch
        np.testing.assert_array_equal(a["model"][k].numpy(), b["model"][k].numpy())
    _metrics_equal(straight, resumed)


def test_forecast_resume(tmp_path, monkeypatch):
    from minigrad_models import forecaster as Fc

    t = np.arange(24 * 40, dtype=np.float64)
    series = 50 + 10 * np.sin(2 * np.pi * t / 24) + np.random.default_rng(0).normal(0, 1, t.size)
    _resumed_equals_straight(tmp_path, monkeypatch, Fc.train, "forecast_seattle_h1.npz", series=series, window=24,
                             hidden=8, epochs=2, batch_size=64, quiet=True)


def test_seq2seq_resume(tmp_path, monkeypatch):
    from minigrad_models import seq2seq as S

    _resumed_equals_straight(tmp_path, monkeypatch, S.train, "seq2seq_reverse.npz", embed=8, hidden=16, epochs=2,
                             n_train=128, n_test=16, quiet=True)


@pytest.mark.parametrize("average", [0.0, 0.9])
def test_sentiment_resume(tmp_path, monkeypatch, average):
    from minigrad_models import sentiment as S
    from tests.test_models_sentiment import fake_split, fake_vectors

    _resumed_equals_straight(tmp_path, monkeypatch, S.train, "sentiment.npz", hidden=8, epochs=3, batch_size=16,
                             dropout=0.2, average=average, data=fake_split(80, 20), vectors=fake_vectors(), quiet=True)


def test_charlm_resume(tmp_path, monkeypatch):
    from minigrad_models import language_model as LM

    text = "to be, or not to be, that is the question:\nwhether 'tis nobler in the mind to suffer\n" * 20
    _resumed_equals_straight(tmp_path, monkeypatch, LM.train, "charlm.npz", text=text, embed=8,
                             hidden=16, epochs=2, batch_size=4, seq_len=16, max_steps=5, dropout=0.1,
                             sample_length=20, quiet=True)


def test_ctrl_c_in_a_real_process_prints_one_line_and_leaves_a_resumable_checkpoint(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "run"
    child = f"""
import sys, numpy as np, minigrad as mg
from minigrad import cli
def digits():
    rng = np.random.default_rng(0)
    x = rng.random((2000, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, 2000).astype(np.int64)
    return mg.datasets.ImageSplit(x[:1800], y[:1800], x[1800:], y[1800:])
mg.datasets.mnist5k = digits
sys.exit(cli.main(["train", "lenet", "--epochs", "50", "--batch-size", "64", "--quiet", "--out", {str(out)!r}]))
"""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.Popen([sys.executable, "-c", child], cwd=root, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    ckpt = out / "lenet5.npz"
    try:
        deadline = time.time() + 300
        while time.time() < deadline and not ckpt.exists() and proc.poll() is None:
            time.sleep(0.1)
        assert ckpt.exists(), "no checkpoint after the first epoch"
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "interrupted during epoch" in lines[0] and f"--resume {ckpt}" in lines[0], err
    assert mg.load(str(ckpt))["resume"]["epoch"] >= 1
