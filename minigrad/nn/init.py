"""Weight initialisation, as ``torch.nn.init``.

Every function fills a tensor *in place* (without recording anything on the
graph, so it works on parameters that require grad) and returns it.  Random
numbers come from minigrad's generator, so ``mg.manual_seed`` makes them
reproducible; on a GPU they are drawn by CuPy directly on the device.

Fans follow PyTorch: for a weight of shape ``(out, in, *kernel)``
``fan_in = in * prod(kernel)`` and ``fan_out = out * prod(kernel)``.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from .. import _backend as B
from ..autograd.engine import Tensor, no_grad

__all__ = [
    "calculate_gain", "uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_", "eye_",
    "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "orthogonal_",
]

_LINEAR_LIKE = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                "conv_transpose3d", "sigmoid")


def calculate_gain(nonlinearity, param=None):
    """The recommended scale of the weights in front of ``nonlinearity`` (PyTorch's table).

    linear, conv and sigmoid: 1; tanh: 5/3; relu: sqrt(2);
    leaky_relu: sqrt(2 / (1 + negative_slope^2)) (``param``, default 0.01); selu: 3/4.
    """
    if nonlinearity in _LINEAR_LIKE:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, numbers.Real) and not isinstance(param, bool):
            slope = float(param)
        else:
            raise ValueError(f"calculate_gain: negative_slope {param!r} is not a number")
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}; use one of "
                     f"{', '.join(_LINEAR_LIKE + ('tanh', 'relu', 'leaky_relu', 'selu'))}")


def _calculate_fan_in_and_fan_out(tensor):
    """``(fan_in, fan_out)`` of a weight of shape ``(out, in, *kernel)`` (needs 2+ dimensions)."""
    shape = tuple(tensor.shape)
    if len(shape) < 2:
        raise ValueError(f"fan in and fan out need a tensor with at least 2 dimensions, got shape {shape}")
    receptive_field = 1
    for s in shape[2:]:
        receptive_field *= s
    return shape[1] * receptive_field, shape[0] * receptive_field


def _calculate_correct_fan(tensor, mode):
    mode = mode.lower()
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode {mode!r} is not supported: use 'fan_in' or 'fan_out'")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


# ----------------------------------------------------------------------------- filling helpers
def _check(tensor, fn_name):
    if not isinstance(tensor, Tensor):
        raise TypeError(f"{fn_name} expects a minigrad Tensor, got {type(tensor).__name__}")
    if tensor.dtype.kind != "f":
        raise TypeError(f"{fn_name} fills floating-point tensors, got dtype {tensor.dtype}")


def _draw_dtype(tensor):
    """Draw float32 numbers for float32/float16 tensors (half the work of float64), else float64."""
    return np.float64 if tensor.dtype == np.float64 else np.float32


def _generator(tensor, generator):
    return generator if generator is not None else B.random_module(tensor.device)


@no_grad()
def _fill(tensor, values):
    """Write ``values`` (an array on either device, or a number) into ``tensor`` and bump its version counter."""
    if isinstance(values, np.ndarray) or B.is_cupy_array(values):
        values = B.to_device(values, tensor.device)  # a NumPy generator draws on the host
    tensor.data[...] = values
    tensor._bump_version()
    return tensor


def _standard_uniform(tensor, generator):
    """U[0, 1) samples of the tensor's shape, on its device."""
    return _generator(tensor, generator).random(tensor.shape, dtype=_draw_dtype(tensor))


def _standard_normal(tensor, generator):
    """N(0, 1) samples of the tensor's shape, on its device."""
    return _generator(tensor, generator).standard_normal(tensor.shape, dtype=_draw_dtype(tensor))


# ----------------------------------------------------------------------------- plain distributions
def uniform_(tensor, a=0.0, b=1.0, generator=None):
    """Fill ``tensor`` with samples from U(a, b); returns it."""
    _check(tensor, "uniform_")
    if not a <= b:
        raise ValueError(f"uniform_: the lower bound a={a} is above the upper bound b={b}")
    u = _standard_uniform(tensor, generator)
    return _fill(tensor, u * (b - a) + a)


def normal_(tensor, mean=0.0, std=1.0, generator=None):
    """Fill ``tensor`` with samples from N(mean, std^2); returns it."""
    _check(tensor, "normal_")
    if std < 0:
        raise ValueError(f"normal_: std must be non-negative, got {std}")
    z = _standard_normal(tensor, generator)
    return _fill(tensor, z * std + mean)


def trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0, generator=None):
    """Fill with N(mean, std^2) samples restricted to [a, b] (redrawn until inside); returns it."""
    _check(tensor, "trunc_normal_")
    if not a < b:
        raise ValueError(f"trunc_normal_: the interval [a={a}, b={b}] is empty")
    gen = _generator(tensor, generator)
    out = gen.standard_normal(tensor.shape, dtype=np.float64) * std + mean
    xp = B.xp_of(out)  # where the generator draws: the host for a NumPy generator
    bad = (out < a) | (out > b)
    # Rejection sampling: each round redraws only the samples that fell outside.
    for _ in range(100):
        n_bad = int(bad.sum())
        if n_bad == 0:
            break
        out[bad] = gen.standard_normal(n_bad, dtype=np.float64) * std + mean
        bad = (out < a) | (out > b)
    out = xp.clip(out, a, b)  # only matters when [a, b] is far in a tail
    return _fill(tensor, out)


def constant_(tensor, val):
    """Fill ``tensor`` with the number ``val``; returns it."""
    _check(tensor, "constant_")
    return _fill(tensor, val)


def ones_(tensor):
    """Fill ``tensor`` with ones; returns it."""
    return constant_(tensor, 1.0)


def zeros_(tensor):
    """Fill ``tensor`` with zeros; returns it."""
    return constant_(tensor, 0.0)


def eye_(tensor):
    """Fill a 2-D tensor with the identity matrix (ones on the diagonal); returns it."""
    _check(tensor, "eye_")
    if tensor.ndim != 2:
        raise ValueError(f"eye_ needs a 2-D tensor, got shape {tensor.shape}")
    xp = B.xp_of(tensor.data)
    return _fill(tensor, xp.eye(*tensor.shape, dtype=tensor.dtype))


# ----------------------------------------------------------------------------- scaled by the fans
def xavier_uniform_(tensor, gain=1.0, generator=None):
    """Glorot uniform: U(-b, b) with ``b = gain * sqrt(6 / (fan_in + fan_out))``; returns it.

    Keeps the variance of activations and gradients alike through a layer.
    """
    _check(tensor, "xavier_uniform_")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    bound = math.sqrt(3.0) * std  # U(-b, b) has standard deviation b / sqrt(3)
    return uniform_(tensor, -bound, bound, generator)


def xavier_normal_(tensor, gain=1.0, generator=None):
    """Glorot normal: N(0, std^2) with ``std = gain * sqrt(2 / (fan_in + fan_out))``; returns it."""
    _check(tensor, "xavier_normal_")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return normal_(tensor, 0.0, std, generator)


def _kaiming_std(tensor, a, mode, nonlinearity):
    fan = _calculate_correct_fan(tensor, mode)
    gain = calculate_gain(nonlinearity, a)
    return gain / math.sqrt(fan)


def kaiming_uniform_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    """He uniform: U(-b, b) with ``b = gain * sqrt(3 / fan)``; returns it.

    ``a``: the negative slope of the leaky ReLU that follows (used by the gain);
    ``mode``: ``'fan_in'`` keeps the forward variance, ``'fan_out'`` the backward one.
    PyTorch's default for Linear and Conv weights is ``a=sqrt(5)``, i.e. U(+-1/sqrt(fan_in)).
    """
    _check(tensor, "kaiming_uniform_")
    if tensor.numel() == 0:
        return tensor
    bound = math.sqrt(3.0) * _kaiming_std(tensor, a, mode, nonlinearity)
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    """He normal: N(0, std^2) with ``std = gain / sqrt(fan)``; returns it."""
    _check(tensor, "kaiming_normal_")
    if tensor.numel() == 0:
        return tensor
    return normal_(tensor, 0.0, _kaiming_std(tensor, a, mode, nonlinearity), generator)


def orthogonal_(tensor, gain=1.0, generator=None):
    """Fill with a (semi-)orthogonal matrix times ``gain``; returns it.

    The tensor is seen as ``(shape[0], rest)``; its rows (or columns, whichever
    are fewer) come out orthonormal.  Made from the QR decomposition of a
    Gaussian matrix, with signs fixed so the result is uniformly distributed.
    """
    _check(tensor, "orthogonal_")
    if tensor.ndim < 2:
        raise ValueError(f"orthogonal_ needs a tensor with at least 2 dimensions, got shape {tensor.shape}")
    if tensor.numel() == 0:
        return tensor
    rows = tensor.shape[0]
    cols = tensor.numel() // rows
    flat = _generator(tensor, generator).standard_normal((rows, cols), dtype=np.float64)
    xp = B.xp_of(flat)  # where the generator draws: the host for a NumPy generator
    if rows < cols:
        flat = flat.T
    q, r = xp.linalg.qr(flat)
    # QR is unique only up to the signs of r's diagonal: making them positive makes q uniform.
    q = q * xp.sign(xp.diagonal(r))
    if rows < cols:
        q = q.T
    return _fill(tensor, (q * gain).reshape(tensor.shape))
