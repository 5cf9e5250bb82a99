"""Helpers for the tests: PyTorch when installed, and the registry's argument helpers (minigrad.testing)."""
from __future__ import annotations

from minigrad.testing import as_tuple, assert_close, mg_args, to_numpy, torch_args  # noqa: F401

try:
    import torch

    HAVE_TORCH = True
except ImportError:  # the PyTorch cross-checks are skipped
    torch = None
    HAVE_TORCH = False
