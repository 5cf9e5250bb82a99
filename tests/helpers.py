"""Helpers for the generic op tests: turning a registry Sample into minigrad/torch/numpy calls."""
from __future__ import annotations

import numpy as np

import minigrad as mg

try:
    import torch

    HAVE_TORCH = True
except ImportError:  # the PyTorch cross-checks are skipped
    torch = None
    HAVE_TORCH = False


def as_tuple(x):
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def mg_args(sample, dtype=np.float64, device="cpu", requires_grad=True):
    out = []
    for i, a in enumerate(sample.args):
        if i in sample.constant:
            out.append(mg.tensor(a, device=device))
        else:
            out.append(mg.tensor(np.asarray(a, dtype=dtype), device=device, requires_grad=requires_grad))
    return out


def torch_args(sample):
    out = []
    for i, a in enumerate(sample.args):
        if i in sample.constant:
            out.append(torch.as_tensor(a))
        else:
            out.append(torch.tensor(a, dtype=torch.float64, requires_grad=True))
    return out


def to_numpy(x):
    if isinstance(x, mg.Tensor):
        return mg._backend.to_device(x.data, "cpu")
    if torch is not None and isinstance(x, torch.Tensor):
        return x.detach().numpy()
    return np.asarray(x)


def assert_close(actual, expected, atol=1e-6, rtol=1e-5, what=""):
    actual, expected = as_tuple(actual), as_tuple(expected)
    assert len(actual) == len(expected), f"{what}: {len(actual)} outputs vs {len(expected)}"
    for k, (a, e) in enumerate(zip(actual, expected)):
        a, e = to_numpy(a), to_numpy(e)
        assert a.shape == e.shape, f"{what} output {k}: shape {a.shape} vs expected {e.shape}"
        np.testing.assert_allclose(a.astype(np.float64) if a.dtype != bool else a,
                                   e.astype(np.float64) if e.dtype != bool else e,
                                   atol=atol, rtol=rtol, err_msg=f"{what} output {k}")
