"""The encoder-decoder (models/seq2seq.py): data, shapes, padding, greedy decoding, learning, checkpoints, CLI."""
import json

import numpy as np
import pytest

import minigrad as mg
from minigrad.nn import functional as F
from minigrad_models import seq2seq as S


@pytest.fixture
def vocab():
    return S.make_vocab()


# ----------------------------------------------------------------------------- data
@pytest.mark.parametrize("task", ["reverse", "add"])
def test_make_pairs_holds_out_distinct_unseen_sources(task):
    train, test = S.make_pairs(task, 300, 60, seed=5)
    assert len(train) == 300 and len(test) == 60
    sources = [s for s, _ in train + test]
    assert len(set(sources)) == len(sources)  # no duplicates, so nothing held out was seen in training
    for source, target in train + test:
        if task == "reverse":
            assert target == source[::-1]
        else:
            a, b = source.split("+")
            assert int(target) == int(a) + int(b)
    assert S.make_pairs(task, 300, 60, seed=5) == (train, test)  # deterministic
    assert S.make_pairs(task, 300, 60, seed=6) != (train, test)


def test_make_pairs_says_when_the_task_is_too_small():
    with pytest.raises(ValueError, match="distinct sources; ask for at most 500,000"):
        S.make_pairs("add", 10**7, 10, seed=0)  # only 10**6 distinct sums of two numbers below 1000
    with pytest.raises(ValueError, match="task must be one of"):
        S.make_pairs("sort", 10, 10, seed=0)


def test_encode_pairs_layout(vocab):
    src, src_len, tgt_in, tgt_out = S.encode_pairs([("12", "21"), ("3456", "6543")], vocab)
    sos, eos, pad = vocab.stoi["<sos>"], vocab.stoi["<eos>"], vocab.pad_id
    assert src.shape == (2, 4) and src_len.tolist() == [2, 4]
    assert src[0].tolist() == vocab.encode("12") + [pad, pad]
    assert tgt_in[0].tolist() == [sos] + vocab.encode("21") + [pad, pad]
    assert tgt_out[0].tolist() == vocab.encode("21") + [eos, pad, pad]
    assert tgt_out[1].tolist() == vocab.encode("6543") + [eos]


def test_ids_to_strings_cuts_at_the_first_eos(vocab):
    eos = vocab.stoi["<eos>"]
    ids = np.array([vocab.encode("12") + [eos] + vocab.encode("9"), vocab.encode("3456")])
    assert S.ids_to_strings(ids, vocab) == ["12", "3456"]


# ----------------------------------------------------------------------------- the model
@pytest.mark.parametrize("cell, bidirectional", [("gru", True), ("gru", False), ("lstm", True)])
def test_shapes_and_padding_does_not_change_the_answer(cell, bidirectional, vocab):
    mg.manual_seed(0)
    model = S.Seq2Seq(len(vocab), embed_dim=8, hidden_size=16, cell=cell, bidirectional=bidirectional)
    src, src_len, tgt_in, _ = S.encode_pairs([("12", "21"), ("34567", "76543")], vocab)
    logits = model(mg.tensor(src), src_len, mg.tensor(tgt_in))
    assert logits.shape == (2, 6, len(vocab)) and logits.dtype == mg.float32
    # the short source alone, without padding, gives the same logits: lengths= reaches the encoder
    alone = model(mg.tensor(src[:1, :2]), [2], mg.tensor(tgt_in[:1, :3]))
    np.testing.assert_allclose(logits[:1, :3].detach().numpy(), alone.detach().numpy(), rtol=1e-5, atol=1e-6)
    ids = model.greedy_decode(mg.tensor(src), src_len, max_len=7)
    assert ids.shape[0] == 2 and 1 <= ids.shape[1] <= 7 and ids.dtype == mg.int64


def test_bidirectional_encoder_state_puts_both_directions_side_by_side(vocab):
    mg.manual_seed(2)
    model = S.Seq2Seq(len(vocab), embed_dim=8, hidden_size=12, cell="lstm", num_layers=2)
    assert model.encoder.hidden_size == 6 and model.decoder.hidden_size == 12
    src, src_len, _, _ = S.encode_pairs([("123", "321"), ("45", "54")], vocab)
    h, c = model.encode(mg.tensor(src), src_len)
    assert h.shape == (2, 2, 12) and c.shape == (2, 2, 12)
    _, (h_n, _) = model.encoder(model.embedding(mg.tensor(src)), lengths=src_len)  # (layers * 2, B, 6)
    np.testing.assert_array_equal(h[1, :, :6].detach().numpy(), h_n[2].detach().numpy())  # layer 1 forward
    np.testing.assert_array_equal(h[1, :, 6:].detach().numpy(), h_n[3].detach().numpy())  # layer 1 reverse
    with pytest.raises(ValueError, match="must be even; got 13"):
        S.Seq2Seq(len(vocab), hidden_size=13)


def test_greedy_decoding_agrees_with_teacher_forcing_on_its_own_output(vocab):
    """Feeding the greedy output back as the teacher-forced input must reproduce the same argmaxes."""
    mg.manual_seed(3)
    model = S.Seq2Seq(len(vocab), embed_dim=8, hidden_size=16)
    src, src_len, _, _ = S.encode_pairs([("123", "321"), ("9", "9"), ("4444", "4444")], vocab)
    ids = model.greedy_decode(mg.tensor(src), src_len, max_len=5).numpy()
    sos = np.full((3, 1), vocab.stoi["<sos>"])
    logits = model(mg.tensor(src), src_len, mg.tensor(np.concatenate([sos, ids[:, :-1]], axis=1)))
    np.testing.assert_array_equal(logits.argmax(-1).numpy(), ids)


def test_loss_falls_with_teacher_forcing(vocab):
    mg.manual_seed(0)
    train, _ = S.make_pairs("reverse", 128, 8, seed=1)
    src, src_len, tgt_in, tgt_out = (mg.tensor(a) for a in S.encode_pairs(train, vocab))
    model = S.Seq2Seq(len(vocab), embed_dim=16, hidden_size=32)
    optimizer = mg.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(25):
        logits = model(src, src_len, tgt_in)
        loss = F.cross_entropy(logits.reshape(-1, len(vocab)), tgt_out.reshape(-1), ignore_index=vocab.pad_id)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[0] > 2.0  # about log(14) at the start
    assert losses[-1] < 0.75 * losses[0]


# ----------------------------------------------------------------------------- training, checkpoints, command line
def test_train_checkpoint_round_trip(tmp_path):
    metrics = S.train(task="add", embed=8, hidden=16, epochs=1, n_train=256, n_test=40, out=str(tmp_path),
                      quiet=True)
    assert 0.0 <= metrics["exact_match"] <= 1.0 and metrics["held_out"] == 40
    assert len(metrics["examples"]) == 6 and {"source", "target", "decoded"} <= set(metrics["examples"][0])
    model, vocab, config = S.load_model(metrics["checkpoint"])
    assert config["problem"] == "add" and vocab.itos == S.make_vocab().itos
    # the reloaded model decodes exactly what the metrics recorded, and evaluate agrees
    _, test = S.make_pairs("add", 256, 40, seed=0)
    decoded = S.decode_strings(model, [s for s, _ in test[:6]], vocab, max_len=6)
    assert decoded == [e["decoded"] for e in metrics["examples"]]
    assert S.evaluate(metrics["checkpoint"])["exact_match"] == metrics["exact_match"]
    state = mg.load(metrics["checkpoint"])
    again = S.build_model(state["config"])
    again.load_state_dict(state["model"])
    src, src_len, tgt_in, _ = (mg.tensor(a) for a in S.encode_pairs(test[:5], vocab))
    np.testing.assert_array_equal(model(src, src_len, tgt_in).detach().numpy(),
                                  again(src, src_len, tgt_in).detach().numpy())


def test_cli_train_and_eval_seq2seq(tmp_path, capsys):
    from minigrad import cli

    out = tmp_path / "run"
    assert cli.main(["train", "seq2seq", "--epochs", "1", "--train-size", "300", "--test-size", "30",
                     "--hidden", "16", "--embed", "8", "--out", str(out), "--quiet"]) == 0
    ckpt = out / "seq2seq_reverse.npz"
    metrics = json.loads((out / "seq2seq_reverse_metrics.json").read_text())
    assert ckpt.exists() and metrics["task"] == "reverse" and metrics["held_out"] == 30
    assert cli.main(["eval", "seq2seq", "--checkpoint", str(ckpt)]) == 0
    printed = capsys.readouterr().out
    assert "held-out exact match" in printed and "target" in printed


# ----------------------------------------------------------------------------- attention
@pytest.mark.parametrize("attention, cell", [("additive", "gru"), ("dot", "gru"), ("additive", "lstm")])
def test_attention_model_shapes_padding_and_weights(attention, cell, vocab):
    mg.manual_seed(0)
    model = S.Seq2Seq(len(vocab), embed_dim=8, hidden_size=16, cell=cell, attention=attention)
    src, src_len, tgt_in, _ = S.encode_pairs([("12", "21"), ("34567", "76543")], vocab)
    logits = model(mg.tensor(src), src_len, mg.tensor(tgt_in))
    assert logits.shape == (2, 6, len(vocab))
    # padding is masked out of the attention: the short source alone gives the same logits
    alone = model(mg.tensor(src[:1, :2]), [2], mg.tensor(tgt_in[:1, :3]))
    np.testing.assert_allclose(logits[:1, :3].detach().numpy(), alone.detach().numpy(), rtol=1e-5, atol=1e-6)
    ids, weights = model.greedy_decode(mg.tensor(src), src_len, max_len=7, return_weights=True)
    w = weights.numpy()
    assert w.shape == (2, ids.shape[1], 5)
    np.testing.assert_allclose(w.sum(-1), 1.0, rtol=1e-5)
    assert np.all(w[0, :, 2:] == 0)  # the padded source positions get no weight
    # greedy decoding and teacher forcing on its own output agree (one code path for both)
    sos = np.full((2, 1), vocab.stoi["<sos>"])
    again = model(mg.tensor(src), src_len, mg.tensor(np.concatenate([sos, ids.numpy()[:, :-1]], axis=1)))
    np.testing.assert_array_equal(again.argmax(-1).numpy(), ids.numpy())


def test_attention_option_is_checked(vocab):
    with pytest.raises(ValueError, match="attention must be one of none, additive, dot"):
        S.Seq2Seq(len(vocab), attention="bahdanau")
    with pytest.raises(ValueError, match="min_len <= max_len"):
        S.make_pairs("reverse", 10, 10, seed=0, min_len=9, max_len=3)
    with pytest.raises(ValueError, match="fixed operands"):
        S.make_pairs("add", 10, 10, seed=0, max_len=3)


def test_make_pairs_string_lengths():
    train, test = S.make_pairs("reverse", 200, 50, seed=0, min_len=16, max_len=20)
    assert {len(s) for s, _ in train + test} <= set(range(16, 21))
    assert len({len(s) for s, _ in train}) == 5


def test_additive_attention_learns_to_align_reversal(vocab):
    """100 steps on 5-to-8-digit reversal: the weights move to the anti-diagonal (about 0.65 of each row)."""
    mg.manual_seed(0)
    train, test = S.make_pairs("reverse", 512, 16, seed=0, min_len=5, max_len=8)
    src, src_len, tgt_in, tgt_out = (mg.tensor(a) for a in S.encode_pairs(train, vocab))
    model = S.Seq2Seq(len(vocab), embed_dim=16, hidden_size=32, attention="additive")
    optimizer = mg.optim.Adam(model.parameters(), lr=1e-2)
    for step in range(100):
        rows = slice(64 * (step % 8), 64 * (step % 8 + 1))
        logits = model(src[rows], src_len[rows], tgt_in[rows])
        loss = F.cross_entropy(logits.reshape(-1, len(vocab)), tgt_out[rows].reshape(-1), ignore_index=vocab.pad_id)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    found = S.alignments(model, [s for s, _ in test], vocab)
    on_anti_diagonal = [w[np.arange(len(s)), len(s) - 1 - np.arange(len(s))].mean()
                        for s, d, w in found if len(d) >= len(s)]
    assert on_anti_diagonal and np.mean(on_anti_diagonal) > 0.5  # uniform weights would give 1/len(s) < 0.2


def test_cli_train_with_attention_saves_alignments(tmp_path, capsys):
    from minigrad import cli

    out = tmp_path / "run"
    assert cli.main(["train", "seq2seq", "--attention", "dot", "--min-len", "3", "--max-len", "6", "--epochs", "1",
                     "--train-size", "200", "--test-size", "20", "--hidden", "16", "--embed", "8", "--out", str(out),
                     "--quiet"]) == 0
    metrics = json.loads((out / "seq2seq_reverse_metrics.json").read_text())
    assert metrics["attention"] == "dot" and (metrics["min_len"], metrics["max_len"]) == (3, 6)
    assert (out / "seq2seq_reverse_best.npz").exists()
    pytest.importorskip("matplotlib")
    assert metrics["alignments"] and (out / "seq2seq_reverse_attention.png").exists()
    # eval regenerates the held-out strings from the saved lengths
    assert cli.main(["eval", "seq2seq", "--checkpoint", str(out / "seq2seq_reverse.npz")]) == 0
    assert f"({metrics['held_out']} pairs)" in capsys.readouterr().out


def test_without_matplotlib_the_trainer_skips_the_heatmap_with_a_note(tmp_path, capsys, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # ``import matplotlib`` now raises ImportError
    metrics = S.train(task="reverse", attention="additive", min_len=2, max_len=4, embed=8, hidden=16, epochs=1,
                      n_train=64, n_test=8, out=str(tmp_path))
    assert metrics["alignments"] is None and metrics["curves"] is None
    assert "no attention heatmap" in capsys.readouterr().out
    assert not list(tmp_path.glob("*.png"))
