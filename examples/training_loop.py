"""The whole training loop in plain sight: a small CNN on MNIST digits, written as a PyTorch user would.

``minigrad train lenet`` does the same with a progress bar, curves and checkpoints (models/lenet.py);
this script keeps only the steps every training loop has, so you can read them top to bottom:

1. data: a ``TensorDataset`` and a shuffling ``DataLoader``;
2. a model (``nn.Sequential`` of conv, pool and linear layers), a loss and an optimizer;
3. per batch: ``zero_grad`` -> forward -> loss -> ``backward`` -> ``step``;
4. evaluation under ``mg.no_grad()`` with the model in ``eval()`` mode;
5. saving the weights with ``mg.save`` and loading them back.

Run:  python examples/training_loop.py [--epochs N] [--fake-data]
(``--fake-data``: generated 28x28 "digits" -- a class-dependent stroke plus noise -- instead of
fetching mnist5k, for a quick offline run.)
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout

import minigrad as mg  # noqa: E402
from minigrad import nn  # noqa: E402
from minigrad.data import DataLoader, TensorDataset  # noqa: E402


def fake_digits(n, seed=0):
    """(n, 1, 28, 28) float32 images and (n,) labels: class k lights up row band k and column band 9 - k."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n)
    images = rng.uniform(0.0, 0.3, (n, 1, 28, 28)).astype(np.float32)
    for i, k in enumerate(labels):
        images[i, 0, 2 + 2 * k: 4 + 2 * k, :] += 0.7
        images[i, 0, :, 2 + 2 * (9 - k): 4 + 2 * (9 - k)] += 0.7
    return images, labels.astype(np.int64)


def small_cnn():
    """1x28x28 -> 10 logits: two conv/pool stages and a linear classifier (9,098 parameters)."""
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),   # (N, 8, 14, 14)
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (N, 16, 7, 7)
        nn.Flatten(), nn.Linear(16 * 7 * 7, 10),
    )


def accuracy(model, loader):
    """Fraction of correctly classified examples, without recording a graph."""
    model.eval()
    correct = total = 0
    with mg.no_grad():
        for x, y in loader:
            correct += (model(x).argmax(dim=1) == y).sum().item()
            total += len(y)
    model.train()
    return correct / total


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--fake-data", action="store_true", help="generated digits instead of mnist5k")
    parser.add_argument("--n-fake", type=int, default=1000, help="number of generated images (with --fake-data)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    mg.manual_seed(args.seed)
    if args.fake_data:
        x_all, y_all = fake_digits(args.n_fake, args.seed)
        cut = int(0.8 * len(y_all))
        x_train, y_train, x_test, y_test = x_all[:cut], y_all[:cut], x_all[cut:], y_all[cut:]
    else:
        x_train, y_train, x_test, y_test = mg.datasets.mnist5k()  # fetched once, then cached
    train_loader = DataLoader(TensorDataset(mg.tensor(x_train), mg.tensor(y_train)), batch_size=args.batch_size,
                              shuffle=True, generator=np.random.default_rng(args.seed))
    test_loader = DataLoader(TensorDataset(mg.tensor(x_test), mg.tensor(y_test)), batch_size=256)

    model = small_cnn()
    loss_fn = nn.CrossEntropyLoss()
    optimizer = mg.optim.Adam(model.parameters(), lr=args.lr)
    print(f"{sum(p.numel() for p in model.parameters()):,} parameters; "
          f"{len(y_train)} training and {len(y_test)} test images")

    history = []
    for epoch in range(1, args.epochs + 1):
        start, total_loss = time.perf_counter(), 0.0
        for x, y in train_loader:
            optimizer.zero_grad()          # gradients add up across backward() calls: clear them
            loss = loss_fn(model(x), y)    # forward: records the graph
            loss.backward()                # reverse mode over that graph: fills p.grad
            optimizer.step()               # p -= lr * (Adam's rescaled p.grad)
            total_loss += loss.item() * len(y)
        test_acc = accuracy(model, test_loader)
        history.append((total_loss / len(y_train), test_acc))
        print(f"epoch {epoch}: train loss {history[-1][0]:.4f}, test accuracy {test_acc:.2%} "
              f"({time.perf_counter() - start:.1f} s)")

    with tempfile.TemporaryDirectory() as folder:  # save, load into a fresh model, check it agrees
        path = os.path.join(folder, "cnn.npz")
        mg.save(model.state_dict(), path)
        restored = small_cnn()
        restored.load_state_dict(mg.load(path))
        assert accuracy(restored, test_loader) == history[-1][1]
        print(f"saved and reloaded the weights: same test accuracy ({os.path.getsize(path):,} bytes)")
    return history


if __name__ == "__main__":
    main()
