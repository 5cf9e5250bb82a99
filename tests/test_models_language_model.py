"""The language models of ``models/language_model.py`` and ``minigrad train charlm`` / ``minigrad generate``.

Everything runs on tiny models and small generated text (never the real Hamlet).
"""
import math

import numpy as np
import pytest

import minigrad as mg
from minigrad import cli
from minigrad.nn import functional as F
from minigrad_models import language_model as lm

LINES = ["HAMLET\nTo be, or not to be, that is the question.\n",
         "HORATIO\nIt is a nipping and an eager air.\n",
         "OPHELIA\nThere's rosemary, that's for remembrance.\n",
         "KING CLAUDIUS\nMy words fly up, my thoughts remain below.\n"]


def fake_play(n_lines=120, seed=0):
    """A small deterministic 'play': the lines above in a random order (learnable, not trivial)."""
    order = np.random.default_rng(seed).integers(0, len(LINES), n_lines)
    return "".join(LINES[i] for i in order)


def tiny_model(cell="lstm", vocab_size=12, **kwargs):
    mg.manual_seed(0)
    kwargs.setdefault("embed_dim", 8)
    kwargs.setdefault("hidden_size", 16)
    return lm.LanguageModel(vocab_size, cell=cell, **kwargs)


def char_model(text, cell="lstm", **kwargs):
    vocab = mg.data.CharVocab.build(text)
    model = tiny_model(cell, len(vocab), **kwargs)
    model.vocab = vocab
    return model, vocab


# ----------------------------------------------------------------------------- the model
@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("layers", [1, 2])
def test_forward_shapes_and_state(cell, layers):
    model = tiny_model(cell, num_layers=layers, dropout=0.2)
    x = mg.randint(0, 12, (3, 5))
    logits, state = model(x)
    assert logits.shape == (3, 5, 12) and logits.dtype == np.float32
    h = state[0] if cell == "lstm" else state
    assert h.shape == (layers, 3, 16)
    if cell == "lstm":
        assert state[1].shape == (layers, 3, 16)
    logits2, _ = model(x, state)  # a state passed back in is accepted
    assert logits2.shape == (3, 5, 12)


def test_forward_rejects_wrong_shapes_and_options():
    model = tiny_model()
    with pytest.raises(ValueError, match=r"\(batch, seq_len\).*\(5,\)"):
        model(mg.randint(0, 12, (5,)))
    with pytest.raises(ValueError, match="cell must be"):
        lm.LanguageModel(10, cell="rnn")


def test_state_carried_across_chunks_equals_one_long_pass():
    model = tiny_model("gru")
    model.eval()
    x = mg.randint(0, 12, (2, 9))
    full, _ = model(x)
    first, state = model(x[:, :4])
    second, _ = model(x[:, 4:], state)
    np.testing.assert_allclose(mg.cat([first, second], dim=1).detach().numpy(), full.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_tied_weights_share_one_parameter():
    model = tiny_model(embed_dim=16, hidden_size=16, tie_weights=True)
    assert model.decoder.weight is model.embedding.weight
    untied = tiny_model(embed_dim=16, hidden_size=16)
    n_tied = sum(p.numel() for p in model.parameters())
    n_untied = sum(p.numel() for p in untied.parameters())
    assert n_untied - n_tied == 12 * 16  # the decoder's weight is counted once
    # one gradient reaches the shared table from both uses
    logits, _ = model(mg.randint(0, 12, (2, 3)))
    logits.sum().backward()
    assert model.embedding.weight.grad is not None
    # hidden != embed: a projection makes the decoder's input embed-sized
    projected = tiny_model(embed_dim=8, hidden_size=16, tie_weights=True)
    assert projected.projection.weight.shape == (8, 16)
    assert projected(mg.randint(0, 12, (2, 3)))[0].shape == (2, 3, 12)


def test_loss_falls_with_truncated_bptt():
    text = fake_play(40)
    model, vocab = char_model(text)
    batches = mg.data.lm_batches(vocab.encode_array(text), batch_size=4, seq_len=16)
    optimizer = mg.optim.Adam(model.parameters(), lr=1e-2)
    first = lm.train_epoch(model, batches, optimizer)
    for _ in range(2):
        last = lm.train_epoch(model, batches, optimizer)
    assert first > math.log(len(vocab)) - 0.5
    assert last < first - 0.8


def test_training_carries_the_state_and_detaches_it(monkeypatch):
    text = fake_play(20)
    model, vocab = char_model(text)
    batches = mg.data.lm_batches(vocab.encode_array(text), batch_size=2, seq_len=8)
    seen = []
    original = lm.LanguageModel.forward

    def spy(self, x, state=None):
        seen.append(state)
        return original(self, x, state)

    monkeypatch.setattr(lm.LanguageModel, "forward", spy)
    optimizer = mg.optim.SGD(model.parameters(), lr=0.1)
    lm.train_epoch(model, batches, optimizer, steps=4)
    assert len(seen) == 4 and seen[0] is None  # zero state at the start of the epoch
    for state in seen[1:]:
        h, c = state
        assert h.shape == (1, 2, 16)
        assert h.grad_fn is None and c.grad_fn is None and not h.requires_grad  # cut from the graph
        assert np.abs(h.numpy()).sum() > 0  # ...but the values of the previous chunk are kept


# ----------------------------------------------------------------------------- evaluation
def test_evaluate_stream_is_one_stream_whatever_the_chunks():
    text = fake_play(5)
    model, vocab = char_model(text)
    ids = vocab.encode_array(text)
    a = lm.evaluate_stream(model, ids, chunk_len=7)
    b = lm.evaluate_stream(model, ids, chunk_len=10_000)
    assert a["tokens"] == b["tokens"] == len(ids) - 1
    assert a["nats"] == pytest.approx(b["nats"], rel=1e-5)
    # the same as one forward over the whole text by hand
    model.eval()
    logits, _ = model(mg.tensor(ids[None, :-1]))
    by_hand = F.cross_entropy(logits[0], mg.tensor(ids[1:])).item()
    assert a["nats"] == pytest.approx(by_hand, rel=1e-5)
    assert a["bits"] == pytest.approx(a["nats"] / math.log(2))
    assert a["perplexity"] == pytest.approx(math.exp(a["nats"]), rel=1e-6)
    model.train()
    lm.evaluate_stream(model, ids)
    assert model.training  # the mode is restored


def test_uniform_model_scores_log_vocab():
    model = tiny_model(vocab_size=12)
    with mg.no_grad():
        model.decoder.weight.zero_()
        model.decoder.bias.zero_()
    result = lm.evaluate_stream(model, np.arange(30) % 12)
    assert result["nats"] == pytest.approx(math.log(12), rel=1e-6)
    assert result["perplexity"] == pytest.approx(12, rel=1e-5)


def test_split_text_char_and_word():
    text = fake_play(40)
    train_ids, val_ids, vocab = lm.split_text(text, "char")
    assert len(train_ids) == int(len(text) * 0.9) and len(train_ids) + len(val_ids) == len(text)
    assert vocab.decode(val_ids) == text[len(train_ids):]
    train_ids, val_ids, vocab = lm.split_text(text + " zyzzyva", "word")
    assert isinstance(vocab, mg.data.Vocab) and not isinstance(vocab, mg.data.CharVocab)
    assert vocab.unk_id in val_ids.tolist()  # a word never seen in training
    assert vocab.decode(train_ids[:4]) == mg.data.basic_tokenize(text)[:4]


# ----------------------------------------------------------------------------- generation
def test_generate_is_seeded_and_respects_length():
    model, _ = char_model(fake_play(10))
    a = model.generate("HAMLET\n", 40, seed=3)
    assert isinstance(a, str) and len(a) == 40
    assert model.generate("HAMLET\n", 40, seed=3) == a
    assert model.generate("HAMLET\n", 40, seed=4) != a
    mg.manual_seed(7)
    b = model.generate("HAMLET\n", 20)
    mg.manual_seed(7)
    assert model.generate("HAMLET\n", 20) == b  # seed=None: minigrad's generator decides
    assert model.generate("", 5, seed=0) and model.generate("H", 0, seed=0) == ""


def test_greedy_generation_matches_a_full_forward():
    """Sampling step by step with the carried state = one forward over prompt + continuation."""
    model, vocab = char_model(fake_play(10), cell="gru")
    prompt = "To be"
    out = model.generate(vocab.encode(prompt), 15, temperature=0)
    assert model.generate(vocab.encode(prompt), 15, top_k=1, seed=5) == out  # top-1 sampling is greedy too
    ids = vocab.encode(prompt) + out
    model.eval()
    logits, _ = model(mg.tensor(np.array([ids[:-1]])))
    predicted = logits[0].detach().argmax(-1).numpy()[len(prompt) - 1:]
    assert predicted.tolist() == out


def test_top_k_limits_the_choices():
    rng = np.random.default_rng(0)
    logits = np.array([0.0, 3.0, 2.9, -1.0, 2.8], dtype=np.float32)
    draws = {lm._sample(logits, 5.0, 2, rng) for _ in range(200)}
    assert draws == {1, 2}
    assert lm._sample(logits, 0, None, rng) == 1
    assert lm._sample(logits, 1.0, None, rng, banned=[1, 2, 4]) in {0, 3}


def test_generate_word_level_and_errors():
    text = fake_play(40)
    _, _, vocab = lm.split_text(text, "word")
    model = tiny_model(vocab_size=len(vocab), vocab=vocab)
    words = model.generate("to be or", 6, seed=0)
    assert len(words.split(" ")) == 6
    assert "<pad>" not in words.split(" ")
    char, _ = char_model("abc")
    with pytest.raises(ValueError, match="never saw.*'z'"):
        char.generate("abz", 3)
    with pytest.raises(ValueError, match="needs the vocabulary"):
        tiny_model().generate("abc", 3)
    with pytest.raises(ValueError, match="temperature"):
        char.generate("a", 3, temperature=-1)


# ----------------------------------------------------------------------------- training, checkpoints, CLI
@pytest.fixture
def fake_hamlet(monkeypatch):
    text = fake_play(150)
    monkeypatch.setattr(mg.datasets, "hamlet", lambda root=None: text)
    return text


TINY = ["--embed", "8", "--hidden", "24", "--batch-size", "8", "--seq-len", "16", "--lr", "1e-2"]


def test_cli_train_eval_generate_end_to_end(fake_hamlet, tmp_path, capsys):
    out = tmp_path / "run"
    rc = cli.main(["train", "charlm", "--out", str(out), "--epochs", "3", "--max-steps", "12", "--quiet",
                   "--sample-length", "30", "--cell", "gru"] + TINY)
    assert rc == 0
    assert (out / "charlm.npz").exists() and (out / "charlm_metrics.json").exists()
    import json

    metrics = json.loads((out / "charlm_metrics.json").read_text())
    assert metrics["val_nats"] < math.log(len(set(fake_hamlet))) - 0.5  # learned something
    assert len(metrics["sample"]) == 30 and metrics["cell"] == "gru"
    capsys.readouterr()

    assert cli.main(["eval", "charlm", "--checkpoint", str(out / "charlm.npz")]) == 0
    printed = capsys.readouterr().out
    assert f"{metrics['val_nats']:.4f} nats/char" in printed  # the best epoch's number, recomputed

    assert cli.main(["generate", "--checkpoint", str(out / "charlm.npz"), "--prompt", "HAMLET\n",
                     "--length", "25", "--seed", "1", "--top-k", "5"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("HAMLET\n") and len(text.rstrip("\n")) >= len("HAMLET\n") + 20
    cli.main(["generate", "--checkpoint", str(out / "charlm.npz"), "--prompt", "HAMLET\n", "--length", "25",
              "--seed", "1", "--top-k", "5"])
    assert capsys.readouterr().out == text  # seeded


def test_checkpoint_round_trip_gives_identical_outputs(fake_hamlet, tmp_path):
    metrics = lm.train(cell="lstm", embed=8, hidden=16, layers=2, batch_size=8, seq_len=16, epochs=1, max_steps=3,
                       dropout=0.1, tie_weights=True, out=str(tmp_path), quiet=True, sample_length=5, threads=None)
    model, state = lm.load_model(metrics["checkpoint"])
    assert state["config"]["num_layers"] == 2 and model.decoder.weight is model.embedding.weight
    assert model.vocab.itos == mg.data.CharVocab.build(fake_hamlet).itos
    again, _ = lm.load_model(metrics["checkpoint"])
    x = mg.tensor(model.vocab.encode_array("HAMLET\nTo be")[None])
    model.eval()
    again.eval()
    np.testing.assert_array_equal(model(x)[0].detach().numpy(), again(x)[0].detach().numpy())
    assert lm.evaluate(metrics["checkpoint"])["nats"] == pytest.approx(metrics["val_nats"], rel=1e-6)


def test_word_level_training(fake_hamlet, tmp_path):
    metrics = lm.train(level="word", embed=8, hidden=16, batch_size=4, seq_len=8, epochs=1, out=str(tmp_path),
                       quiet=True, prompt="to be", sample_length=4, threads=None)
    assert metrics["level"] == "word" and math.isfinite(metrics["val_nats"])
    assert len(metrics["sample"].split(" ")) == 4
    assert lm.generate_text(metrics["checkpoint"], "to be", 3).startswith("to be ")


def test_blas_threads_is_restored():
    before = mg.get_num_threads()
    if before is None:
        pytest.skip("the BLAS thread count cannot be read here")
    with lm.blas_threads(1):
        assert mg.get_num_threads() == 1
    assert mg.get_num_threads() == before


@pytest.mark.gpu
def test_cuda_training_evaluation_and_generation_match_cpu(fake_hamlet, tmp_path):
    metrics = lm.train(cell="lstm", embed=8, hidden=16, batch_size=8, seq_len=16, epochs=1, max_steps=4,
                       device="cuda", out=str(tmp_path), quiet=True, sample_length=10)
    assert math.isfinite(metrics["val_nats"]) and len(metrics["sample"]) == 10
    gpu, _ = lm.load_model(metrics["checkpoint"], device="cuda")
    cpu, _ = lm.load_model(metrics["checkpoint"], device="cpu")
    ids = gpu.vocab.encode_array(fake_hamlet[:300])
    assert lm.evaluate_stream(gpu, ids, device="cuda")["nats"] == pytest.approx(
        lm.evaluate_stream(cpu, ids)["nats"], rel=1e-4)
    assert gpu.generate("HAMLET\n", 20, temperature=0) == cpu.generate("HAMLET\n", 20, temperature=0)


def test_rank_next_and_cli_predict_next_word(tmp_path, capsys):
    rng = np.random.default_rng(0)
    sentences = ["the boy crossed the road .", "the girl crossed the street .", "a dog crossed the road ."]
    text = " ".join(sentences[i] for i in rng.integers(0, 3, 300))
    metrics = lm.train(cell="gru", embed=16, hidden=32, batch_size=8, seq_len=8, lr=2e-2, epochs=4, dropout=0.0,
                       level="word", out=str(tmp_path), quiet=True, sample_length=3, threads=None, text=text,
                       prompt="the")
    model, _ = lm.load_model(metrics["checkpoint"])
    ranking = model.rank_next("the boy crossed the", top=3)
    assert ranking[0][0] == "road" and ranking[0][1] > 0.5  # only "road" ever follows "the boy crossed the"
    assert ranking[0][1] >= ranking[1][1] >= ranking[2][1]
    with pytest.raises(ValueError, match="top"):
        model.rank_next("the", top=0)
    capsys.readouterr()
    assert cli.main(["predict", "charlm", "--checkpoint", metrics["checkpoint"], "--next", "the boy crossed the",
                     "--top", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "most likely next words after 'the boy crossed the':"
    assert len(lines) == 3 and lines[1].split()[:2] == ["1.", "road"]


def test_rank_next_characters():
    text = "abcabcabcabc"
    model, vocab = char_model(text)
    ranking = model.rank_next("ab", top=len(vocab))
    assert sorted(c for c, _ in ranking) == sorted(vocab.itos[i] for i in range(len(vocab)) if i != vocab.pad_id) \
        or len(ranking) == len(vocab)
    assert abs(sum(p for _, p in ranking) - 1.0) < 1e-6
