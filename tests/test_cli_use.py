"""Using trained models from the command line: predict (sentiment per text and from stdin, seq2seq, forecast),
summary of every model the CLI trains, and `train charlm --text FILE`."""
import json

import numpy as np
import pytest

import minigrad as mg
from minigrad import cli
from helpers import run_cli as _run




@pytest.fixture(scope="module")
def sentiment_ckpt(tmp_path_factory):
    from minigrad_models import sentiment as S
    from tests.test_models_sentiment import fake_split, fake_vectors

    out = tmp_path_factory.mktemp("sent")
    S.train(hidden=8, epochs=1, batch_size=16, data=fake_split(80, 20), vectors=fake_vectors(), out=str(out),
            quiet=True)
    return str(out / "sentiment.npz")


def test_predict_sentiment_classifies_each_argument(sentiment_ckpt, capsys):
    code, out, _ = _run(["predict", "sentiment", "--checkpoint", sentiment_ckpt, "a superb film", "dull plot"],
                        capsys)
    lines = out.strip().splitlines()
    assert code == 0 and len(lines) == 2
    assert lines[0].endswith(": a superb film") and lines[1].endswith(": dull plot")
    for line in lines:
        assert line.split(" ")[0] in ("positive", "negative")


def test_predict_sentiment_reads_stdin_lines(sentiment_ckpt, capsys, monkeypatch):
    code, out, _ = _run(["predict", "sentiment", "--checkpoint", sentiment_ckpt, "-"], capsys,
                        stdin="a superb film\n\na dull , boring story\n", monkeypatch=monkeypatch)
    lines = out.strip().splitlines()
    assert code == 0 and len(lines) == 2 and lines[1].endswith(": a dull , boring story")


def test_predict_seq2seq(tmp_path, capsys):
    from minigrad_models import seq2seq as S

    S.train(embed=8, hidden=16, epochs=1, n_train=128, n_test=16, out=str(tmp_path), quiet=True)
    ckpt = str(tmp_path / "seq2seq_reverse.npz")
    code, out, _ = _run(["predict", "seq2seq", "--checkpoint", ckpt, "1234", "56"], capsys)
    lines = out.strip().splitlines()
    assert code == 0 and len(lines) == 2 and lines[0].startswith("1234 -> ") and lines[1].startswith("56 -> ")
    model, vocab, _ = S.load_model(ckpt)
    assert lines[0] == f"1234 -> {S.decode_strings(model, ['1234', '56'], vocab)[0]}"
    code, _, err = _run(["predict", "seq2seq", "--checkpoint", ckpt, "12a"], capsys)
    assert code == 2 and "'a'" in err and len(err.strip().splitlines()) <= 2
    code, _, err = _run(["predict", "seq2seq", "--checkpoint", ckpt, ""], capsys)
    assert code == 2 and "empty source string" in err and len(err.strip().splitlines()) <= 2


def test_predict_forecast(tmp_path, capsys, monkeypatch):
    from minigrad_models import forecaster as Fc
    from tests.test_models_forecaster import daily_series

    series = daily_series()
    Fc.train(series=series, window=24, horizon=2, hidden=8, epochs=1, out=str(tmp_path), quiet=True)
    ckpt = str(tmp_path / "forecast_seattle_h2.npz")
    values = [f"{v:.1f}" for v in series[-30:]]
    code, out, _ = _run(["predict", "forecast", "--checkpoint", ckpt, *values], capsys)
    assert code == 0, out
    numbers = [float(w) for w in out.split("(")[0].split()[:2]]
    model, config = Fc.load_model(ckpt)
    expected = Fc.forecast(model, config, np.array([float(v) for v in values]))
    np.testing.assert_allclose(numbers, expected, rtol=1e-3)
    code, out2, _ = _run(["predict", "forecast", "--checkpoint", ckpt, "-"], capsys,
                         stdin="\n".join(values) + "\n", monkeypatch=monkeypatch)
    assert code == 0 and out2 == out
    code, _, err = _run(["predict", "forecast", "--checkpoint", ckpt, *values[:5]], capsys)
    assert code == 2 and "last 24 values" in err


@pytest.mark.parametrize("model", ["lenet5", "lenet1989", "sentiment", "charlm", "forecast", "seq2seq"])
def test_summary_of_every_model(model, capsys):
    code, out, _ = _run(["summary", model], capsys)
    assert code == 0 and "params" in out.lower(), out


def test_summary_lists_every_task():
    assert {task for task, _ in cli._summary_models().values()} == set(cli.TASKS)


def test_summary_of_a_checkpoint(sentiment_ckpt, capsys):
    code, out, _ = _run(["summary", "sentiment", "--checkpoint", sentiment_ckpt], capsys)
    state = mg.load(sentiment_ckpt)
    total = sum(v.numel() for v in state["model"].values())  # its own (small) vocabulary and sizes
    assert code == 0 and f"{total:,}" in out, out


TEXT = ("The Owl and the Pussy-cat went to sea\nIn a beautiful pea-green boat,\n"
        "They took some honey, and plenty of money,\nWrapped up in a five-pound note.\n") * 12


@pytest.mark.parametrize("level", ["char", "word"])
def test_train_charlm_on_your_own_text(tmp_path, capsys, level):
    text_file = tmp_path / "owl.txt"
    text_file.write_text(TEXT, encoding="utf-8")
    out = tmp_path / "run"
    code, stdout, err = _run(["train", "charlm", "--text", str(text_file), "--level", level, "--epochs", "1",
                              "--max-steps", "3", "--hidden", "16", "--embed", "8", "--batch-size", "4",
                              "--seq-len", "8", "--sample-length", "10", "--out", str(out), "--quiet"], capsys)
    assert code == 0, err
    metrics = json.loads((out / "charlm_metrics.json").read_text())
    expected = "The Owl and the Pussy-cat went to sea" if level == "char" else "The Owl and the Pussy-cat"
    assert metrics["prompt"] == expected
    code, stdout, err = _run(["generate", "--checkpoint", str(out / "charlm.npz"), "--length", "5"], capsys)
    assert code == 0 and stdout.startswith(expected), (stdout, err)
    code, stdout, err = _run(["eval", "charlm", "--checkpoint", str(out / "charlm.npz")], capsys)
    assert code == 0 and "validation" in stdout, err


def test_train_charlm_text_errors_are_one_line(tmp_path, capsys):
    short = tmp_path / "short.txt"
    short.write_text("too short")
    for path in (short, tmp_path / "missing.txt"):
        code, _, err = _run(["train", "charlm", "--text", str(path), "--quiet", "--out", str(tmp_path / "o")],
                            capsys)
        assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) <= 2, err
