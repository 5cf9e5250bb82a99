"""Helpers for the tests: PyTorch when installed, the registry's argument helpers (minigrad.testing), and
``run_cli`` for the command-line tests."""
from __future__ import annotations

import io

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
