"""Helpers for the tests: PyTorch when installed, the registry's argument helpers (minigrad.testing), and
``run_cli`` and ``tiny_digits`` for the command-line tests."""
from __future__ import annotations

import io

import numpy as np

import minigrad as mg
from minigrad.testing import as_tuple, assert_close, mg_args, to_numpy, torch_args  # noqa: F401

try:
    import torch

    HAVE_TORCH = True
except ImportError:  # the PyTorch cross-checks are skipped
    torch = None
    HAVE_TORCH = False


def run_cli(argv, capsys, stdin=None, monkeypatch=None):
    """Run ``minigrad argv`` in this process: (exit status, stdout, stderr). ``stdin`` (a str) needs ``monkeypatch``."""
    from minigrad.cli import main

    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    try:
        code = main(argv)
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


def tiny_digits(n_train, n_test, seed=0):
    """A small synthetic stand-in for MNIST: ``n_train + n_test`` noisy copies of 10 random 28x28 templates,
    x (N, 1, 28, 28) float32 in [0, 1], y (N,) int64."""
    rng = np.random.default_rng(seed)
    templates = (rng.random((10, 28, 28)) > 0.7).astype(np.float32)
    labels = rng.integers(0, 10, n_train + n_test)
    x = (templates[labels] * 0.8 + rng.random((len(labels), 28, 28)) * 0.2).astype(np.float32)[:, None]
    y = labels.astype(np.int64)
    return mg.datasets.ImageSplit(x[:n_train], y[:n_train], x[n_train:], y[n_train:])
