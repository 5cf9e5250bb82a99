"""The runnable scripts in examples/ run, and show what they claim to show (small sizes)."""
import importlib.util
import os

import numpy as np

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")


def _load(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(EXAMPLES, name + ".py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_vanishing_gradients_example_shows_the_rnn_vanishing_and_biased_gates_keeping_it(capsys):
    example = _load("vanishing_gradients")
    results = example.main(["--length", "40", "--hidden", "16", "--batch", "4"])
    printed = capsys.readouterr().out
    assert "RNN (tanh)" in printed and "gate bias +3" in printed

    def decay(norms):  # ||dL/dh_1|| / ||dL/dh_T||: how much survives the whole sequence
        return norms[0] / norms[-1]

    default, biased = results["PyTorch default init"], results["gate bias +3"]
    for name in ("RNN (tanh)", "GRU", "LSTM"):
        assert len(default[name]) == 40 and np.all(np.isfinite(default[name]))
        assert decay(default[name]) < 1e-5  # at default init all three vanish over 39 steps
    assert decay(biased["RNN (tanh)"]) < 1e-5  # no gate to bias: still vanishes
    assert decay(biased["GRU"]) > 1e-2 and decay(biased["LSTM"]) > 1e-2  # remembering gates keep it


def test_training_loop_example_learns_generated_digits_and_reloads_its_weights(capsys):
    history = _load("training_loop").main(["--fake-data", "--n-fake", "300", "--epochs", "2"])
    assert history[1][0] < history[0][0]  # training loss falls
    assert history[-1][1] > 0.5  # well above chance (10 classes)
    assert "same test accuracy" in capsys.readouterr().out


def test_char_rnn_tbptt_example_loss_falls_on_a_repetitive_text(tmp_path, capsys):
    text_file = tmp_path / "text.txt"
    text_file.write_text("the cat sat on the mat. " * 60, encoding="utf-8")
    history = _load("char_rnn_tbptt").main(["--text", str(text_file), "--epochs", "3", "--batch", "4",
                                            "--seq-len", "16", "--hidden", "32"])
    assert history[-1] < 0.7 * history[0]
    assert "sample: 't" in capsys.readouterr().out


def test_attention_figures_measure_each_length_and_draw(tmp_path, capsys):
    from minigrad_models import seq2seq as S

    paths = []
    for attention in ("none", "additive"):
        metrics = S.train(task="reverse", min_len=3, max_len=5, attention=attention, embed=8, hidden=16, epochs=1,
                          n_train=100, n_test=20, out=str(tmp_path / attention), quiet=True)
        paths.append(metrics["checkpoint"])
    example = _load("attention_figures")
    results = example.main(paths + ["--out", str(tmp_path / "img"), "--per-length", "5", "--strings", "2"])
    assert list(results) == ["no attention (final state only)", "additive attention"]
    for by_length in results.values():
        assert list(by_length) == [3, 4, 5] and all(0.0 <= a <= 1.0 for a in by_length.values())
    assert "length" in capsys.readouterr().out
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return
    for name in ("attention_bottleneck.svg", "attention_alignment.svg"):
        assert (tmp_path / "img" / name).read_text().lstrip().startswith("<?xml")


def test_truncated_bptt_example_quick_shows_the_gradient_and_accuracy_fall_with_short_windows(capsys):
    results = _load("truncated_bptt").main(["--quick"])
    assert list(results) == ["1", "2", "5", "10", "full"]
    assert results["full"]["cos_init"] > 0.999 and results["full"]["cos_trained"] > 0.999
    # the truncated gradient departs from the full one as the window shrinks (on trained weights)
    cos = [results[k]["cos_trained"] for k in ("1", "5", "10")]
    assert cos == sorted(cos) and cos[0] < 0.7
    assert results["1"]["accuracy"] < results["full"]["accuracy"] - 0.1
    assert "cos(trained)" in capsys.readouterr().out


def test_bptt_pictures_example_writes_the_guide_pictures(tmp_path, capsys):
    import pytest

    pytest.importorskip("matplotlib")
    written = _load("bptt_pictures").main(["--quick", "--out", str(tmp_path)])
    names = sorted(os.path.basename(p) for p in written)
    expected = ["bptt_contributions.svg", "lstm_forget_gate.svg", "truncated_bptt.svg"]
    assert [n for n in names if n != "unrolled_rnn.svg"] == expected
    for name in names:
        text = (tmp_path / name).read_text()
        assert "<svg" in text and len(text) < 200_000
    assert "mean forget gate" in capsys.readouterr().out
