"""Argument checks shared by the layers and functions of ``minigrad.nn``: one spelling of each.

Every check raises with the function (or layer) name first, then the argument's name and what it got:
``linear: weight must be a floating-point tensor, got dtype int64``.
"""
from __future__ import annotations

import numpy as np

from .. import _backend as B
from ..autograd.engine import Tensor


def check_tensor(value, fn, name="input"):
    """``value`` is a minigrad Tensor (TypeError naming ``fn`` and ``name`` if not)."""
    if not isinstance(value, Tensor):
        raise TypeError(f"{fn}: {name} must be a minigrad Tensor, got {type(value).__name__}")


def check_float(value, fn, name="input"):
    """``value`` is a floating-point minigrad Tensor."""
    check_tensor(value, fn, name)
    if value.dtype.kind != "f":
        raise TypeError(f"{fn}: {name} must be a floating-point tensor, got dtype {value.dtype}")


def check_same_dtype(fn, named):
    """All tensors of ``named`` (``[(name, tensor or None), ...]``) share one dtype (float32 models stay
    float32)."""
    present = [(name, t) for name, t in named if t is not None]
    dtypes = {t.dtype for _, t in present}
    if len(dtypes) > 1:
        listing = ", ".join(f"{name} {t.dtype}" for name, t in present)
        raise TypeError(f"{fn}: expected tensors of one dtype, got {listing}; convert with .to(dtype)")


def check_floats_alike(fn, *tensors):
    """Every tensor given (None skipped) is floating point, and all have one dtype (named by shape)."""
    for t in tensors:
        if t is not None and t.dtype.kind != "f":
            raise TypeError(f"{fn}: expected floating-point tensors, got dtype {t.dtype} (shape {tuple(t.shape)})")
    if len({t.dtype for t in tensors if t is not None}) > 1:
        names = ", ".join(f"{tuple(t.shape)} {t.dtype}" for t in tensors if t is not None)
        raise TypeError(f"{fn}: input, weight and bias must have the same dtype, got {names}")


def check_like(owner, name, t, weight):
    """``t`` has the parameters' dtype and device (no silent float64 upcast, no device mix)."""
    if t.dtype != weight.dtype:
        raise TypeError(
            f"{owner}: {name} has dtype {t.dtype} but the parameters are {weight.dtype}; convert one of them "
            f"(e.g. {name}.to(mg.{weight.dtype.name}) or module.to(mg.{t.dtype.name}))"
        )
    if t.device != weight.device:
        raise B.DeviceError(f"{owner}: {name} is on {t.device} but the parameters are on {weight.device}")


def check_lengths(fn, lengths, steps, batch):
    """``lengths=`` of a recurrent layer: one integer per batch element, each in 1..``steps``.

    ``lengths``: a list, a NumPy array or a Tensor (on any device).  Returns it as a NumPy integer
    array (B,); the recurrent layers and their functional forms check it here, once, and pass that on.
    """
    if isinstance(lengths, Tensor):
        lengths = B.to_device(lengths.data, "cpu")
    lengths = np.asarray(lengths)
    if lengths.ndim != 1 or lengths.shape[0] != batch:
        raise ValueError(f"{fn}: expected lengths with one entry per batch element ({batch}), "
                         f"got shape {lengths.shape}")
    if lengths.size and lengths.dtype.kind not in "iu":  # np.asarray([]) is float64: nothing to check
        raise TypeError(f"{fn}: lengths must be integers, got dtype {lengths.dtype}")
    if lengths.size and (lengths.min() < 1 or lengths.max() > steps):
        raise ValueError(f"{fn}: lengths must be between 1 and the sequence length {steps}, got "
                         f"{lengths.tolist()}")
    return lengths
