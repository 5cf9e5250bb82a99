"""Convolution and pooling, functional form: ``F.conv2d``, ``F.max_pool2d``, ``F.avg_pool2d``, ...

These functions check and normalise the arguments (ints or pairs, 'same'
padding, unbatched inputs) and explain bad ones; the arithmetic lives in the
ops of :mod:`minigrad.ops.conv`.  Semantics and argument names follow PyTorch.
"""
from __future__ import annotations

import numbers

import numpy as np

from ... import _backend as B
from .._checks import check_floats_alike, check_tensor
from ...autograd.engine import Tensor, is_grad_enabled
from ...ops.conv import (
    AvgPool2d, Conv2d, Conv2dInputGrad, ConvGeometry, Fold, MaxPool2d, PoolGeometry, Unfold, max_pool_with_argmax,
    out_len,
)

__all__ = ["conv1d", "conv2d", "conv_transpose2d", "max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d",
           "adaptive_avg_pool2d", "unfold", "fold"]


# ----------------------------------------------------------------------------- argument checking


def _ints(value, n, name, fn, minimum):
    """``value`` (an int or a sequence of ``n`` ints) as a tuple of ``n`` ints >= ``minimum``."""
    if isinstance(value, numbers.Integral):
        out = (int(value),) * n
    elif isinstance(value, (tuple, list)) and len(value) == n and all(isinstance(v, numbers.Integral) for v in value):
        out = tuple(int(v) for v in value)
    elif isinstance(value, (tuple, list)) and len(value) == 1 and isinstance(value[0], numbers.Integral):
        out = (int(value[0]),) * n  # (p,) means p on every side, as PyTorch reads it
    else:
        raise TypeError(f"{fn}: {name} must be an int or a tuple of {n} ints, got {value!r}")
    if min(out) < minimum:
        kind = "non-negative" if minimum == 0 else "positive"
        raise ValueError(f"{fn}: {name} must be {kind}, got {value!r}")
    return out


def _batched(input, spatial, fn):
    """``input`` with a batch dimension (adding one to an unbatched input); and whether it was added."""
    check_tensor(input, fn, "input")
    if input.ndim == spatial + 2:
        return input, False
    if input.ndim == spatial + 1:
        return input.unsqueeze(0), True
    layout = "(N, C, H, W) or (C, H, W)" if spatial == 2 else "(N, C, L) or (C, L)"
    raise ValueError(f"{fn}: expected input of shape {layout}, got shape {tuple(input.shape)}")


def _conv_padding(padding, kernel, stride, dilation, fn):
    """Padding per spatial dim as (before, after) pairs: from an int, a tuple, 'valid' or 'same'."""
    if isinstance(padding, str):
        if padding == "valid":
            return tuple((0, 0) for _ in kernel)
        if padding == "same":
            if any(s != 1 for s in stride):
                raise ValueError(f"{fn}: padding='same' is not supported for strided convolutions (stride={stride})")
            pads = []
            for k, d in zip(kernel, dilation):
                total = d * (k - 1)  # an even kernel needs one more on the right, as in PyTorch
                pads.append((total // 2, total - total // 2))
            return tuple(pads)
        raise ValueError(f"{fn}: padding must be an int, a tuple, 'valid' or 'same', got {padding!r}")
    return tuple((p, p) for p in _ints(padding, len(kernel), "padding", fn, 0))


def _check_conv(fn, x, weight, bias, groups, transposed=False):
    """Shapes of input (N, C, *spatial), weight and bias agree; ``groups`` divides the channels."""
    spatial = x.ndim - 2
    check_tensor(weight, fn, "weight")
    if weight.ndim != spatial + 2:
        kind = "(C_in, C_out/groups, " if transposed else "(C_out, C_in/groups, "
        raise ValueError(f"{fn}: expected a weight of shape {kind}{'kH, kW' if spatial == 2 else 'kL'}), "
                         f"got shape {tuple(weight.shape)}")
    if not isinstance(groups, numbers.Integral) or groups < 1:
        raise ValueError(f"{fn}: groups must be a positive int, got {groups!r}")
    c_in = x.shape[1]
    if transposed:
        c_out = weight.shape[1] * groups
        if c_in != weight.shape[0]:
            raise ValueError(f"{fn}: input of shape {tuple(x.shape)} has {c_in} channels, but the weight of shape "
                             f"{tuple(weight.shape)} expects {weight.shape[0]} (weight.shape[0])")
        if c_in % groups:
            raise ValueError(f"{fn}: groups={groups} does not divide the {c_in} input channels "
                             f"(input shape {tuple(x.shape)})")
    else:
        c_out = weight.shape[0]
        if c_in % groups:
            raise ValueError(f"{fn}: groups={groups} does not divide the {c_in} input channels "
                             f"(input shape {tuple(x.shape)})")
        if c_out % groups:
            raise ValueError(f"{fn}: groups={groups} does not divide the {c_out} output channels "
                             f"(weight shape {tuple(weight.shape)})")
        if c_in != weight.shape[1] * groups:
            raise ValueError(f"{fn}: input of shape {tuple(x.shape)} has {c_in} channels, but the weight of shape "
                             f"{tuple(weight.shape)} with groups={groups} expects {weight.shape[1] * groups} "
                             f"(weight.shape[1] * groups)")
    if min(weight.shape[2:], default=1) < 1:
        raise ValueError(f"{fn}: the weight of shape {tuple(weight.shape)} has an empty kernel")
    if bias is not None:
        check_tensor(bias, fn, "bias")
        if tuple(bias.shape) != (c_out,):
            raise ValueError(f"{fn}: expected a bias of shape ({c_out},) for {c_out} output channels, "
                             f"got shape {tuple(bias.shape)}")
    check_floats_alike(fn, x, weight, bias)


def _check_fits(fn, x, kernel, pads, dilation, out_hw):
    """The (dilated) kernel fits inside the padded input in every spatial dim."""
    if min(out_hw) >= 1:
        return
    spans = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
    padded = tuple(n + a + b for n, (a, b) in zip(x.shape[2:], pads))
    raise ValueError(f"{fn}: the kernel {tuple(kernel)} (dilation {tuple(dilation)}: spans {spans}) is larger than "
                     f"the padded input {padded} (input shape {tuple(x.shape)}, padding {tuple(pads)})")


# ----------------------------------------------------------------------------- convolution


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution (cross-correlation) of ``input`` with ``weight``, as ``torch.nn.functional.conv2d``.

    input (N, C_in, H, W) or unbatched (C_in, H, W); weight (C_out, C_in/groups, kH, kW);
    bias (C_out,) or None.  ``stride``, ``dilation``: int or (h, w); ``padding``: int,
    (h, w), 'valid' (no padding) or 'same' (output size = input size; stride 1 only).
    Returns (N, C_out, H_out, W_out) with
    ``H_out = floor((H + 2*padding - dilation*(kH - 1) - 1) / stride + 1)`` (same for W).
    """
    fn = "conv2d"
    x, unbatched = _batched(input, 2, fn)
    _check_conv(fn, x, weight, bias, groups)
    stride = _ints(stride, 2, "stride", fn, 1)
    dilation = _ints(dilation, 2, "dilation", fn, 1)
    pads = _conv_padding(padding, weight.shape[2:], stride, dilation, fn)
    out = _conv2d(fn, x, weight, bias, stride, pads, dilation, groups)
    return out.squeeze(0) if unbatched else out


def _conv2d(fn, x, weight, bias, stride, pads, dilation, groups):
    """conv2d on checked arguments; ``pads`` = ((top, bottom), (left, right))."""
    kernel = weight.shape[2:]
    out_hw = tuple(out_len(n, k, s, a, b, d) for n, k, s, (a, b), d in zip(x.shape[2:], kernel, stride, pads, dilation))
    _check_fits(fn, x, kernel, pads, dilation, out_hw)
    geom = ConvGeometry(stride, pads[0] + pads[1], dilation, int(groups))
    # Keep the column matrix for the weight gradient only when one will be asked for.
    keep = bool(weight.requires_grad and is_grad_enabled())
    if bias is None:
        return Conv2d.apply(x, weight, geom=geom, keep_cols=keep)
    return Conv2d.apply(x, weight, bias, geom=geom, keep_cols=keep)


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-D convolution, as ``torch.nn.functional.conv1d``: a conv2d over images of height 1.

    input (N, C_in, L) or (C_in, L); weight (C_out, C_in/groups, k); bias (C_out,) or None.
    ``padding``: int, 'valid' or 'same'.  Returns (N, C_out, L_out).
    """
    fn = "conv1d"
    x, unbatched = _batched(input, 1, fn)
    _check_conv(fn, x, weight, bias, groups)
    (stride,) = _ints(stride, 1, "stride", fn, 1)
    (dilation,) = _ints(dilation, 1, "dilation", fn, 1)
    (pads,) = _conv_padding(padding, weight.shape[2:], (stride,), (dilation,), fn)
    out = _conv2d(fn, x.unsqueeze(2), weight.unsqueeze(2), bias, (1, stride), ((0, 0), pads), (1, dilation), groups)
    out = out.squeeze(2)
    return out.squeeze(0) if unbatched else out


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """Transposed 2-D convolution (the gradient of conv2d w.r.t. its input), as in PyTorch.

    input (N, C_in, H, W) or (C_in, H, W); weight (C_in, C_out/groups, kH, kW); bias (C_out,).
    Returns (N, C_out, H_out, W_out) with
    ``H_out = (H - 1)*stride - 2*padding + dilation*(kH - 1) + output_padding + 1``.
    ``output_padding`` must be smaller than ``stride``.
    """
    fn = "conv_transpose2d"
    x, unbatched = _batched(input, 2, fn)
    _check_conv(fn, x, weight, bias, groups, transposed=True)
    stride = _ints(stride, 2, "stride", fn, 1)
    dilation = _ints(dilation, 2, "dilation", fn, 1)
    padding = _ints(padding, 2, "padding", fn, 0)
    output_padding = _ints(output_padding, 2, "output_padding", fn, 0)
    if any(op >= s for op, s in zip(output_padding, stride)):
        raise ValueError(f"{fn}: output_padding {output_padding} must be smaller than stride {stride}")
    kernel = weight.shape[2:]
    out_hw = tuple((n - 1) * s - 2 * p + d * (k - 1) + op + 1
                   for n, s, p, d, k, op in zip(x.shape[2:], stride, padding, dilation, kernel, output_padding))
    if min(out_hw) < 1:
        raise ValueError(f"{fn}: input of shape {tuple(x.shape)} with kernel {tuple(kernel)}, stride {stride} and "
                         f"padding {padding} gives an empty output {out_hw}")
    geom = ConvGeometry(stride, (padding[0], padding[0], padding[1], padding[1]), dilation, int(groups))
    out = Conv2dInputGrad.apply(x, weight, geom=geom, input_hw=out_hw)
    if bias is not None:
        out = out + bias.reshape(-1, 1, 1)
    return out.squeeze(0) if unbatched else out


# ----------------------------------------------------------------------------- pooling


def _pool_geometry(fn, x, kernel_size, stride, padding, dilation, ceil_mode):
    """Check pooling arguments; return the PoolGeometry (with ceil_mode's extra padding) and the output size."""
    kernel = _ints(kernel_size, 2, "kernel_size", fn, 1)
    stride = kernel if stride is None or (isinstance(stride, (tuple, list)) and not stride) else \
        _ints(stride, 2, "stride", fn, 1)
    padding = _ints(padding, 2, "padding", fn, 0)
    dilation = _ints(dilation, 2, "dilation", fn, 1)
    if any(p > k // 2 for p, k in zip(padding, kernel)):
        raise ValueError(f"{fn}: padding {padding} should be at most half of kernel_size {kernel}")
    pads, out_hw = [], []
    for n, k, s, p, d in zip(x.shape[2:], kernel, stride, padding, dilation):
        span = d * (k - 1) + 1
        if n + 2 * p < span:
            raise ValueError(f"{fn}: the kernel {kernel} (dilation {dilation}) is larger than the padded input "
                             f"(input shape {tuple(x.shape)}, padding {padding})")
        if ceil_mode:
            out = -(-(n + 2 * p - span) // s) + 1
            if (out - 1) * s >= n + p:  # the last window must start inside the input or the left padding
                out -= 1
        else:
            out = (n + 2 * p - span) // s + 1
        extra = max(0, (out - 1) * s + span - (n + 2 * p))  # room for ceil_mode's partial last window
        pads += [p, p + extra]
        out_hw.append(out)
    return PoolGeometry(kernel, stride, tuple(pads), dilation), tuple(out_hw)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """Maximum over each ``kernel_size`` window, as ``torch.nn.functional.max_pool2d``.

    input (N, C, H, W) or (C, H, W); ``stride`` defaults to ``kernel_size``; padding
    (at most half the kernel) counts as -inf.  Returns (N, C, H_out, W_out), and with
    ``return_indices=True`` also the flat index ``h * W + w`` of each maximum (int64).
    The gradient goes to the maximum of each window (the first one on ties).
    """
    fn = "max_pool2d"
    x, unbatched = _batched(input, 2, fn)
    geom, out_hw = _pool_geometry(fn, x, kernel_size, stride, padding, dilation, ceil_mode)
    out = MaxPool2d.apply(x, geom=geom)
    if return_indices:
        if out.grad_fn is not None:
            argmax = out.grad_fn.argmax  # the op kept it for backward
        else:
            _, argmax = max_pool_with_argmax(x.data, geom)
        indices = Tensor(_flat_indices(argmax, x.shape[3], geom, out_hw))
    if unbatched:
        out = out.squeeze(0)
        indices = indices.squeeze(0) if return_indices else None
    return (out, indices) if return_indices else out


def _flat_indices(argmax, width, geom, out_hw):
    """Flat input positions ``h * W + w`` of the maxima, from each window's winning kernel offset."""
    xp = B.xp_of(argmax)
    kw = geom.kernel[1]
    argmax = argmax.astype(np.int64)  # stored as uint8: widen before multiplying
    offset_row, offset_col = argmax // kw, argmax % kw
    rows = xp.arange(out_hw[0]).reshape(-1, 1) * geom.stride[0] + offset_row * geom.dilation[0] - geom.padding[0]
    cols = xp.arange(out_hw[1]) * geom.stride[1] + offset_col * geom.dilation[1] - geom.padding[2]
    return (rows * width + cols).astype(np.int64)


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """Maximum over windows of a (N, C, L) or (C, L) input, as ``torch.nn.functional.max_pool1d``.

    With ``return_indices=True`` also returns the position along L of each maximum (int64)."""
    x, unbatched = _batched(input, 1, "max_pool1d")
    k, = _ints(kernel_size, 1, "kernel_size", "max_pool1d", 1)
    s = k if stride is None or stride == () or stride == [] else _ints(stride, 1, "stride", "max_pool1d", 1)[0]
    p, = _ints(padding, 1, "padding", "max_pool1d", 0)
    d, = _ints(dilation, 1, "dilation", "max_pool1d", 1)
    out = max_pool2d(x.unsqueeze(2), (1, k), (1, s), (0, p), (1, d), ceil_mode, return_indices)
    if return_indices:  # a row of height 1: the flat index h * L + w is w
        out, indices = out[0].squeeze(2), out[1].squeeze(2)
        return (out.squeeze(0), indices.squeeze(0)) if unbatched else (out, indices)
    out = out.squeeze(2)
    return out.squeeze(0) if unbatched else out


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """Mean over each ``kernel_size`` window, as ``torch.nn.functional.avg_pool2d``.

    input (N, C, H, W) or (C, H, W); ``stride`` defaults to ``kernel_size``; zero
    padding (at most half the kernel).  The divisor is the window size, counting
    padding when ``count_include_pad`` (windows that ceil_mode lets run past the
    padding count only what lies inside it), or ``divisor_override``.
    """
    fn = "avg_pool2d"
    x, unbatched = _batched(input, 2, fn)
    if x.dtype.kind != "f":
        raise TypeError(f"{fn}: expected a floating-point input, got dtype {x.dtype}")
    geom, out_hw = _pool_geometry(fn, x, kernel_size, stride, padding, 1, ceil_mode)
    if divisor_override is not None:
        if not isinstance(divisor_override, numbers.Integral) or divisor_override <= 0:
            raise ValueError(f"{fn}: divisor_override must be a positive int, got {divisor_override!r}")
        divisor = int(divisor_override)
    else:
        counts = []
        for n, k, s, p, o in zip(x.shape[2:], geom.kernel, geom.stride, geom.padding[::2], out_hw):
            start = np.arange(o) * s - p
            end = np.minimum(start + k, n + p)  # windows may run past the padding only in ceil_mode
            counts.append(end - start if count_include_pad else np.minimum(end, n) - np.maximum(start, 0))
        divisor = np.outer(counts[0], counts[1]).astype(np.float64)
        if (divisor == divisor.flat[0]).all():
            divisor = int(divisor.flat[0])  # the usual case: one number for every window
    out = AvgPool2d.apply(x, geom=geom, divisor=divisor)
    return out.squeeze(0) if unbatched else out


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """Mean over windows of a (N, C, L) or (C, L) input, as ``torch.nn.functional.avg_pool1d``."""
    x, unbatched = _batched(input, 1, "avg_pool1d")
    k, = _ints(kernel_size, 1, "kernel_size", "avg_pool1d", 1)
    s = k if stride is None else _ints(stride, 1, "stride", "avg_pool1d", 1)[0]
    p, = _ints(padding, 1, "padding", "avg_pool1d", 0)
    out = avg_pool2d(x.unsqueeze(2), (1, k), (1, s), (0, p), ceil_mode, count_include_pad).squeeze(2)
    return out.squeeze(0) if unbatched else out


def _adaptive_pool_matrix(n_in, n_out, like):
    """(n_out, n_in) matrix whose row i averages input cells floor(i n_in / n_out) .. ceil((i+1) n_in / n_out) - 1."""
    i = np.arange(n_out)
    starts = (i * n_in) // n_out
    ends = -((-(i + 1) * n_in) // n_out)
    cells = np.arange(n_in)
    inside = (cells >= starts[:, None]) & (cells < ends[:, None])
    weights = inside / (ends - starts)[:, None]
    return Tensor(B.to_device(weights.astype(like.dtype), like.device))


def adaptive_avg_pool2d(input, output_size):
    """Average pooling to a fixed output size, as ``torch.nn.functional.adaptive_avg_pool2d``.

    input (N, C, H, W) or (C, H, W); ``output_size`` an int or ``(h, w)`` (None keeps
    that input size).  Output cell ``(i, j)`` is the mean of rows
    ``floor(i H / h) .. ceil((i + 1) H / h) - 1`` and the matching columns.  Computed as
    ``P_h @ x @ P_w^T`` with two small constant averaging matrices, so it needs no
    loop and its gradient is two matrix products.
    """
    fn = "adaptive_avg_pool2d"
    x, unbatched = _batched(input, 2, fn)
    if x.dtype.kind != "f":
        raise TypeError(f"{fn}: expected a floating-point input, got dtype {x.dtype}")
    sizes = (output_size, output_size) if output_size is None or isinstance(output_size, numbers.Integral) \
        else tuple(output_size)
    if len(sizes) != 2:
        raise ValueError(f"{fn}: output_size must be an int or a pair, got {output_size!r}")
    h, w = (x.shape[2 + k] if v is None else int(v) for k, v in enumerate(sizes))
    if h <= 0 or w <= 0:
        raise ValueError(f"{fn}: output_size must be positive, got {output_size!r}")
    if x.shape[2] == 0 or x.shape[3] == 0:
        raise ValueError(f"{fn}: input of shape {tuple(input.shape)} has an empty spatial dimension")
    out = _adaptive_pool_matrix(x.shape[2], h, x) @ x @ _adaptive_pool_matrix(x.shape[3], w, x).mT
    return out.squeeze(0) if unbatched else out


# ----------------------------------------------------------------------------- unfold / fold


def unfold(input, kernel_size, dilation=1, padding=0, stride=1):
    """Extract sliding windows (im2col), as ``torch.nn.functional.unfold``.

    input (N, C, H, W) -> (N, C*kH*kW, L), L = number of windows; column l holds
    window l (channel-major, then kernel row, then kernel column).
    """
    fn = "unfold"
    check_tensor(input, fn, "input")
    if input.ndim != 4:
        raise ValueError(f"{fn}: expected input of shape (N, C, H, W), got shape {tuple(input.shape)}")
    kernel = _ints(kernel_size, 2, "kernel_size", fn, 1)
    dilation = _ints(dilation, 2, "dilation", fn, 1)
    padding = _ints(padding, 2, "padding", fn, 0)
    stride = _ints(stride, 2, "stride", fn, 1)
    pads = tuple((p, p) for p in padding)
    out_hw = tuple(out_len(n, k, s, p, p, d)
                   for n, k, s, p, d in zip(input.shape[2:], kernel, stride, padding, dilation))
    _check_fits(fn, input, kernel, pads, dilation, out_hw)
    if input.shape[0] == 0:  # an empty batch: an empty result, still part of the graph
        n, c = input.shape[:2]
        return input.reshape(-1)[:0].reshape(0, c * kernel[0] * kernel[1], out_hw[0] * out_hw[1])
    geom = ConvGeometry(stride, pads[0] + pads[1], dilation, 1)
    return Unfold.apply(input, kernel=kernel, geom=geom)


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """Sum sliding-window columns back into an image (col2im), as ``torch.nn.functional.fold``.

    input (N, C*kH*kW, L) -> (N, C, *output_size); overlapping entries add up.
    """
    fn = "fold"
    check_tensor(input, fn, "input")
    kernel = _ints(kernel_size, 2, "kernel_size", fn, 1)
    output_size = _ints(output_size, 2, "output_size", fn, 1)
    dilation = _ints(dilation, 2, "dilation", fn, 1)
    padding = _ints(padding, 2, "padding", fn, 0)
    stride = _ints(stride, 2, "stride", fn, 1)
    out_hw = tuple(out_len(n, k, s, p, p, d) for n, k, s, p, d in zip(output_size, kernel, stride, padding, dilation))
    if input.ndim != 3 or input.shape[1] % (kernel[0] * kernel[1]) or input.shape[2] != out_hw[0] * out_hw[1] \
            or min(out_hw) < 1:
        raise ValueError(f"{fn}: expected input of shape (N, C*{kernel[0]}*{kernel[1]}, {out_hw[0]}*{out_hw[1]}) "
                         f"for output_size {output_size}, kernel {kernel}, got shape {tuple(input.shape)}")
    geom = ConvGeometry(stride, (padding[0], padding[0], padding[1], padding[1]), dilation, 1)
    return Fold.apply(input, kernel=kernel, geom=geom, output_hw=output_size)
