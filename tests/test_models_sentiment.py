"""The sentiment model (models/sentiment.py): shapes, padding, embeddings, learning, checkpoints, the CLI.

Everything runs on small generated snippets and a fake word-vector table, so
no data set is fetched.
"""
import json
import os

import numpy as np
import pytest

import minigrad as mg
from minigrad.nn import functional as F
from minigrad_models import sentiment as S

POSITIVE = ["great", "superb", "moving", "funny", "brilliant"]
NEGATIVE = ["awful", "dull", "boring", "clumsy", "tedious"]
FILLER = ["the", "film", "is", "a", "story", "with", "actors", "and", "plot", "of", ",", "."]


def fake_texts(n, seed):
    """Snippets whose label is whether their one sentiment word is positive."""
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for _ in range(n):
        label = int(rng.integers(2))
        words = list(rng.choice(FILLER, size=int(rng.integers(2, 9))))
        words.insert(int(rng.integers(len(words) + 1)), rng.choice(POSITIVE if label else NEGATIVE))
        texts.append(" ".join(words))
        labels.append(label)
    return texts, np.array(labels, dtype=np.int64)


def fake_split(n_train=200, n_test=60):
    train_texts, train_labels = fake_texts(n_train, 1)
    test_texts, test_labels = fake_texts(n_test, 2)
    test_texts = [t + " sequel" for t in test_texts]  # a word the training snippets never use
    return mg.datasets.TextSplit(train_texts, train_labels, test_texts, test_labels)


def fake_vectors(dim=8):
    """A word-vector table that knows most (not all) of the fake words."""
    words = POSITIVE[:-1] + NEGATIVE[:-1] + FILLER + ["unrelated"]
    return words, np.random.default_rng(3).standard_normal((len(words), dim)).astype(np.float32)


def batch_of(texts, vocab):
    return mg.data.pad_sequences(S.encode_texts(texts, vocab), padding_value=vocab.pad_id)


def logits_of(net, padded, lengths=None):
    with mg.no_grad():
        return net(padded, lengths).numpy()


@pytest.fixture(scope="module")
def vocab():
    texts, _ = fake_texts(100, 0)
    return mg.data.Vocab.build([S.tokenize(t) for t in texts])


# ----------------------------------------------------------------------------- text
def test_tokenize_splits_clitics_and_normalises_quotes():
    assert S.tokenize("It isn\u2019t the film\u2019s fault, you'll see!") == [
        "it", "is", "n't", "the", "film", "'s", "fault", ",", "you", "'ll", "see", "!"]


def test_encode_texts_maps_unknown_words_and_keeps_empty_snippets_nonempty(vocab):
    ids = S.encode_texts(["great zzzunknownzzz", ""], vocab)
    assert ids[0].tolist() == [vocab["great"], vocab.unk_id]
    assert ids[1].tolist() == [vocab.unk_id]  # lengths must be >= 1 for the recurrent layer
    assert ids[0].dtype == np.int64


def test_pretrained_table_rows_follow_the_vocab_and_pad_is_zero(vocab):
    words, vectors = fake_vectors()
    table, coverage = S.pretrained_table(vocab, (words, vectors))
    assert table.shape == (len(vocab), 8) and table.dtype == np.float32
    np.testing.assert_array_equal(table[vocab["film"]], vectors[words.index("film")])
    assert not table[vocab.pad_id].any()
    assert table[vocab["brilliant"]].any()  # missing words get noise, not zeros
    assert 0.5 < coverage < 1.0


# ----------------------------------------------------------------------------- the model
@pytest.mark.parametrize("cell,bidirectional,layers", [("gru", False, 1), ("lstm", True, 1), ("gru", True, 2)])
def test_shapes(cell, bidirectional, layers):
    mg.manual_seed(0)
    net = S.SentimentRNN(30, 6, 5, num_classes=3, cell=cell, bidirectional=bidirectional, num_layers=layers)
    ids = mg.randint(1, 30, (4, 7))
    lengths = [7, 3, 1, 5]
    assert net.features(ids, lengths).shape == (4, (2 if bidirectional else 1) * 5)
    logits = net(ids, lengths)
    assert logits.shape == (4, 3) and logits.dtype == np.float32


@pytest.mark.parametrize("cell,bidirectional", [("gru", False), ("lstm", True)])
def test_padding_never_changes_a_snippets_logits(vocab, cell, bidirectional):
    mg.manual_seed(1)
    net = S.SentimentRNN(len(vocab), 6, 5, cell=cell, bidirectional=bidirectional).eval()
    texts = ["a dull story", "the film is a great story with actors and plot", "funny"]
    padded, lengths = batch_of(texts, vocab)
    together = logits_of(net, padded, lengths)
    for k, text in enumerate(texts):
        alone_ids, alone_len = batch_of([text], vocab)
        np.testing.assert_allclose(logits_of(net, alone_ids, alone_len)[0], together[k], rtol=1e-5, atol=1e-6)
    # Without lengths the padding would be read: the short snippets' logits change.
    assert not np.allclose(logits_of(net, padded)[0], together[0], atol=1e-4)


def test_pretrained_embeddings_frozen_or_fine_tuned(vocab):
    words, vectors = fake_vectors()
    table, _ = S.pretrained_table(vocab, (words, vectors))
    original = table.copy()
    padded, lengths = batch_of(["a great film", "a dull plot"], vocab)
    y = mg.tensor([1, 0])
    for freeze in (True, False):
        mg.manual_seed(0)
        net = S.SentimentRNN(len(vocab), 8, 5, pretrained=table, freeze=freeze, dropout=0.0)
        assert net.embedding.weight.requires_grad is not freeze
        opt = mg.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=0.1)
        F.cross_entropy(net(padded, lengths), y).backward()
        opt.step()
        changed = not np.array_equal(net.embedding.weight.detach().numpy(), original)
        assert changed is not freeze
        assert not net.embedding.weight.detach().numpy()[vocab.pad_id].any()  # the padding row never moves
    np.testing.assert_array_equal(table, original)  # the caller's table is copied, not trained


def test_bad_arguments_name_what_is_wrong():
    with pytest.raises(ValueError, match="cell must be one of"):
        S.SentimentRNN(10, 4, 4, cell="rnn")
    with pytest.raises(ValueError, match=r"\(12, 4\).*\(10, 4\)"):
        S.SentimentRNN(10, 4, 4, pretrained=np.zeros((12, 4), np.float32))
    net = S.SentimentRNN(10, 4, 4)
    with pytest.raises(ValueError, match=r"\(batch, seq_len\).*\(5,\)"):
        net(mg.tensor(np.arange(5)))


def test_loss_falls_on_generated_snippets(vocab):
    mg.manual_seed(0)
    texts, labels = fake_texts(64, 5)
    padded, lengths = batch_of(texts, vocab)
    y = mg.tensor(labels)
    net = S.SentimentRNN(len(vocab), 8, 16, dropout=0.0)
    opt = mg.optim.Adam(net.parameters(), lr=1e-2)
    losses = []
    for _ in range(25):
        loss = F.cross_entropy(net(padded, lengths), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.3 * losses[0], losses


def test_bucket_batches_cover_every_example_once_with_little_padding():
    ids = [np.arange(1, n + 1) for n in np.random.default_rng(0).integers(1, 30, size=103)]
    labels = np.arange(103) % 2
    loader = S.BucketBatches(ids, labels, batch_size=10, generator=np.random.default_rng(0), pool_batches=4)
    seen = []
    batches = list(loader)
    assert len(batches) == len(loader) == 11
    for padded, lengths, y in batches:
        assert padded.shape[1] == int(lengths.numpy().max())  # padded to the batch's own longest
        for row, n in zip(padded.numpy(), lengths.numpy()):
            assert row[:n].tolist() == list(range(1, n + 1)) and not row[n:].any()
        seen += [int(n) for n in lengths.numpy()]
    assert sorted(seen) == sorted(len(a) for a in ids)


def test_weight_average_follows_the_moving_average_formula_and_skips_frozen_weights():
    mg.manual_seed(0)
    net = S.SentimentRNN(6, 3, 2, pretrained=np.ones((6, 3), np.float32), freeze=True)
    avg = S.WeightAverage(net, decay=0.5)
    assert "embedding.weight" not in avg.shadow
    w = net.classifier.weight
    start = w.detach().numpy().copy()
    expected = start.copy()
    for t, value in enumerate([1.0, 2.0, 4.0]):
        with mg.no_grad():
            w.fill_(value)
        avg.update()
        d = min(0.5, (1 + t) / (10 + t))  # the warm-up: 0.1, 0.18..., then capped at 0.5
        expected = d * expected + (1 - d) * value
    state = avg.averaged()
    np.testing.assert_allclose(state["classifier.weight"], expected, rtol=1e-6)
    assert state["classifier.weight"].dtype == np.float32
    np.testing.assert_array_equal(state["embedding.weight"], np.ones((6, 3), np.float32))
    np.testing.assert_array_equal(w.detach().numpy(), np.full_like(start, 4.0))  # the live weights are untouched
    with pytest.raises(ValueError, match="decay"):
        S.WeightAverage(net, decay=1.0)


# ----------------------------------------------------------------------------- training, checkpoints, CLI
@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("sentiment"))
    metrics = S.train(hidden=16, epochs=3, batch_size=16, lr=2e-2, schedule="constant", dropout=0.1, out=out,
                      quiet=True, data=fake_split(), vectors=fake_vectors())
    return out, metrics


def test_train_learns_writes_files_and_keeps_the_best_epoch(trained):
    out, metrics = trained
    assert metrics["test_accuracy"] >= 0.85  # chance is about 0.5
    with open(os.path.join(out, "sentiment_metrics.json")) as f:
        assert json.load(f)["test_accuracy"] == metrics["test_accuracy"]
    state = mg.load(os.path.join(out, "sentiment.npz"))
    records = state["history"]["records"]
    assert len(records) == metrics["epochs_run"] == 3
    best = max(range(3), key=lambda k: (records[k]["val_acc"], -k))  # the first epoch with the best val accuracy
    assert metrics["best_epoch"] == best + 1
    assert metrics["test_accuracy"] == records[best]["test_acc"]
    assert records[-1]["train_loss"] < records[0]["train_loss"]


def test_checkpoint_round_trip_gives_identical_outputs(trained, tmp_path):
    out, metrics = trained
    net, vocab, config = S.load(os.path.join(out, "sentiment.npz"))
    # The vocabulary comes from the training snippets only: a word seen only in a test snippet is unknown.
    assert "brilliant" in vocab and "sequel" not in vocab and config["vocab"]["itos"] == vocab.itos
    # The reloaded best epoch scores the test accuracy reported for it.
    assert S.evaluate(os.path.join(out, "sentiment.npz"), data=fake_split())["test_accuracy"] == \
        pytest.approx(metrics["test_accuracy"])
    # Save again and reload: identical logits.
    from minigrad_models import training as T

    path = str(tmp_path / "again.npz")
    T.save_checkpoint(path, net, config)
    again, _, _ = S.load(path)
    padded, lengths = batch_of(["a great film", "the plot is dull and clumsy"], vocab)
    np.testing.assert_array_equal(logits_of(net, padded, lengths), logits_of(again, padded, lengths))


def test_frozen_training_keeps_the_pretrained_table(tmp_path):
    words, vectors = fake_vectors()
    S.train(hidden=8, epochs=1, batch_size=32, freeze=True, out=str(tmp_path), quiet=True,
            data=fake_split(80, 20), vectors=(words, vectors))
    net, vocab, _ = S.load(str(tmp_path / "sentiment.npz"))
    np.testing.assert_array_equal(net.embedding.weight.detach().numpy()[vocab["film"]], vectors[words.index("film")])


def test_cli_train_eval_predict_end_to_end(tmp_path, monkeypatch, capsys):
    from minigrad import cli

    monkeypatch.setattr(mg.datasets, "rotten_tomatoes_split", lambda root=None: fake_split())
    monkeypatch.setattr(mg.datasets, "glove_6b_50d", lambda words=None, root=None: fake_vectors())
    out = tmp_path / "run"
    assert cli.main(["train", "sentiment", "--hidden", "16", "--epochs", "2", "--batch-size", "16", "--lr", "1e-2",
                     "--limit", "150", "--out", str(out), "--seed", "3"]) == 0
    text = capsys.readouterr().out
    assert "epoch  2:" in text and "val acc" in text and "test acc" in text
    assert "135 train / 15 validation / 60 test snippets" in text.split("\n")[0]
    ckpt = str(out / "sentiment.npz")
    assert os.path.exists(ckpt) and os.path.exists(out / "sentiment_metrics.json")
    with open(out / "sentiment_metrics.json") as f:
        metrics = json.load(f)
    assert metrics["seed"] == 3 and metrics["hidden"] == 16
    if metrics["curves"]:
        assert os.path.exists(metrics["curves"])

    assert cli.main(["eval", "sentiment", "--checkpoint", ckpt]) == 0
    assert f"test accuracy {metrics['test_accuracy']:.2%}" in capsys.readouterr().out

    assert cli.main(["predict", "sentiment", "--checkpoint", ckpt, "a superb funny film"]) == 0
    line = capsys.readouterr().out.strip()
    label, rest = line.split(" ", 1)
    assert label in ("positive", "negative") and rest.startswith("(probability 0.")
    assert line.endswith(": a superb funny film")
    probability = float(rest[len("(probability "):].split(")")[0])
    assert 0.5 <= probability <= 1.0


def test_gru_form_textbook_builds_the_textbook_gru_learns_and_round_trips(tmp_path, monkeypatch, capsys):
    from minigrad import cli

    net = S.SentimentRNN(20, 4, 6, gru_form="textbook")
    assert net.rnn.reset_after is False and S.SentimentRNN(20, 4, 6).rnn.reset_after is True
    with pytest.raises(ValueError, match="gru_form.*'cudnn', 'textbook'"):
        S.SentimentRNN(20, 4, 6, gru_form="keras")
    monkeypatch.setattr(mg.datasets, "rotten_tomatoes_split", lambda root=None: fake_split())
    monkeypatch.setattr(mg.datasets, "glove_6b_50d", lambda words=None, root=None: fake_vectors())
    out = tmp_path / "run"
    assert cli.main(["train", "sentiment", "--gru-form", "textbook", "--hidden", "16", "--epochs", "3",
                     "--batch-size", "16", "--lr", "2e-2", "--schedule", "constant", "--dropout", "0.1",
                     "--out", str(out)]) == 0
    assert "gru (textbook form)" in capsys.readouterr().out.split("\n")[0]
    with open(out / "sentiment_metrics.json") as f:
        metrics = json.load(f)
    assert metrics["gru_form"] == "textbook" and metrics["test_accuracy"] >= 0.8
    reloaded, _, config = S.load(str(out / "sentiment.npz"))
    assert config["gru_form"] == "textbook" and reloaded.rnn.reset_after is False
