"""LeNet models, summary, checkpoints and the `minigrad train/eval lenet` command, end to end."""
import json
import os

import numpy as np
import pytest

import minigrad as mg
from minigrad.cli import main
from minigrad_models import lenet
from minigrad_models.training import load_checkpoint


def _generated_digits(n, seed=0):
    """Small synthetic 'digits': each class is a fixed random 28x28 template plus noise."""
    rng = np.random.default_rng(seed)
    templates = rng.random((10, 28, 28)).astype(np.float32) > 0.7
    labels = rng.integers(0, 10, n)
    images = templates[labels].astype(np.float32) * 0.8 + rng.random((n, 28, 28)).astype(np.float32) * 0.2
    return images.reshape(n, 1, 28, 28), labels.astype(np.int64)


def _split(n_train=200, n_test=100):
    x, y = _generated_digits(n_train + n_test)
    return mg.datasets.ImageSplit(x[:n_train], y[:n_train], x[n_train:], y[n_train:])


def _real_or_generated(n_train):
    try:
        split = mg.datasets.mnist5k()
    except mg.datasets.DataError:  # offline: generated digits
        return _split(n_train, 200)
    return mg.datasets.ImageSplit(split.x_train[:n_train], split.y_train[:n_train], split.x_test[:200],
                                  split.y_test[:200])


def test_lenet5_has_61706_parameters_and_summary_says_so():
    model = lenet.LeNet5()
    assert sum(p.numel() for p in model.parameters()) == 61_706
    s = mg.utils.summary(model, (1, 1, 28, 28))
    assert s.total_params == 61_706 and s.trainable_params == 61_706
    text = str(s)
    assert "61,706" in text and "(1, 16, 5, 5)" in text and "Conv2d" in text
    assert sum(row[3] for row in s.rows) == 61_706  # per-layer counts add up


def test_lenet1989_has_the_papers_9760_free_parameters():
    model = lenet.LeNet1989()
    assert sum(p.numel() for p in model.parameters()) == 9_760
    assert model(mg.zeros(2, 1, 28, 28)).shape == (2, 10)
    assert model(mg.zeros(2, 1, 16, 16)).shape == (2, 10)
    # every H2 map reads 8 of the 12 H1 maps, and every H1 map feeds 8 H2 maps
    counts = np.bincount(np.array(lenet._h2_connections()).ravel(), minlength=12)
    assert (counts == 8).all()


def test_lenet5_loss_falls_on_digits():
    mg.manual_seed(0)
    split = _real_or_generated(300)
    model = lenet.LeNet5()
    opt = mg.optim.Adam(model.parameters(), lr=2e-3)
    x = mg.tensor(lenet.prepare_images(split.x_train, {"model": "lenet5"}))
    y = mg.tensor(split.y_train)
    losses = []
    for step in range(50):
        idx = np.arange(step * 16, step * 16 + 16) % len(y)
        loss = mg.nn.functional.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5])


def test_saved_model_gives_identical_outputs(tmp_path):
    model = lenet.LeNet5()
    x = mg.randn(3, 1, 28, 28)
    mg.save({"model": model.state_dict()}, tmp_path / "m.npz")
    other = lenet.LeNet5()
    assert not np.allclose(other(x).detach().numpy(), model(x).detach().numpy())
    other.load_state_dict(mg.load(tmp_path / "m.npz")["model"])
    np.testing.assert_array_equal(other(x).detach().numpy(), model(x).detach().numpy())


def test_train_and_eval_commands_round_trip(tmp_path, monkeypatch):
    split = _split(160, 80)
    monkeypatch.setattr(mg.datasets, "mnist5k", lambda root=None: split)
    out = tmp_path / "run"
    assert main(["train", "lenet", "--epochs", "2", "--batch-size", "16", "--out", str(out), "--quiet"]) == 0
    metrics = json.loads((out / "lenet5_metrics.json").read_text())
    state = load_checkpoint(out / "lenet5.npz")
    assert state["config"]["model"] == "lenet5" and len(state["history"]["records"]) == 2
    assert "optimizer" in state
    again = lenet.evaluate(out / "lenet5.npz", data=split)
    assert again["test_accuracy"] == pytest.approx(metrics["test_accuracy"])
    assert main(["eval", "lenet", "--checkpoint", str(out / "lenet5.npz")]) == 0


def test_truncated_checkpoint_is_refused_and_previous_survives(tmp_path, monkeypatch):
    model = lenet.LeNet5()
    path = tmp_path / "lenet.npz"
    mg.save({"model": model.state_dict()}, path)
    good = path.read_bytes()
    (tmp_path / "bad.npz").write_bytes(good[: len(good) // 3])
    with pytest.raises(mg.CheckpointError):
        mg.load(tmp_path / "bad.npz")

    def interrupted(file, **arrays):
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", interrupted)
    with pytest.raises(KeyboardInterrupt):
        mg.save({"model": lenet.LeNet5().state_dict()}, path)
    monkeypatch.undo()
    assert path.read_bytes() == good
    assert sorted(os.listdir(tmp_path)) == ["bad.npz", "lenet.npz"]


def test_optimizer_state_round_trips_with_the_model(tmp_path):
    model = lenet.LeNet5()
    opt = mg.optim.Adam(model.parameters(), lr=1e-3)
    x, y = mg.randn(4, 1, 28, 28), mg.tensor([1, 2, 3, 4])
    mg.nn.functional.cross_entropy(model(x), y).backward()
    opt.step()
    mg.save({"model": model.state_dict(), "optimizer": opt.state_dict()}, tmp_path / "c.npz")
    back = mg.load(tmp_path / "c.npz")
    model2 = lenet.LeNet5()
    model2.load_state_dict(back["model"])
    opt2 = mg.optim.Adam(model2.parameters(), lr=1e-3)
    opt2.load_state_dict(back["optimizer"])
    for m, o in ((model, opt), (model2, opt2)):
        o.zero_grad()
        mg.nn.functional.cross_entropy(m(x), y).backward()
        o.step()
    for p, q in zip(model.parameters(), model2.parameters()):
        np.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy())


def test_random_shift_moves_each_image_within_bounds():
    rng = np.random.default_rng(0)
    x = np.zeros((50, 1, 28, 28), np.float32)
    x[:, 0, 14, 14] = 1.0  # one lit pixel in the middle
    shifted = lenet.random_shift(x, 2, -0.5, rng)
    assert shifted.shape == x.shape and shifted.dtype == np.float32
    ys, xs = np.nonzero(shifted[:, 0] == 1.0)[1:]
    assert len(ys) == 50 and np.all(np.abs(ys - 14) <= 2) and np.all(np.abs(xs - 14) <= 2)
    assert len(set(zip(ys.tolist(), xs.tolist()))) > 5  # really random
    assert (shifted[:, 0, :2, :] == -0.5).any()  # uncovered border gets the background value
