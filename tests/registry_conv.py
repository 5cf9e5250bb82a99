"""Registry entries for the conv ops (see op_registry.py for the fields).

The NumPy references below are deliberately naive -- one window at a time,
looping over output pixels -- so that they share no code or trick (strided
views, col2im) with minigrad's implementation.
"""
from __future__ import annotations

import math

import numpy as np
from hypothesis import strategies as st

import minigrad.nn.functional as F
from op_registry import OpInfo, Sample, distinct, register, values  # noqa: F401


def _t():
    import torch

    return torch


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


# ----------------------------------------------------------------------------- NumPy references


def conv_out_len(n, k, s, pad_total, d):
    """PyTorch's output-size formula: floor((n + 2p - d(k-1) - 1) / s + 1)."""
    return (n + pad_total - d * (k - 1) - 1) // s + 1


def same_pads(kernel, dilation):
    """PyTorch's 'same' padding per dim: (before, after), the extra one after."""
    return [(d * (k - 1) // 2, d * (k - 1) - d * (k - 1) // 2) for k, d in zip(kernel, dilation)]


def np_conv2d(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    """Reference conv2d: pixel by pixel, group by group."""
    stride, dilation = _pair(stride), _pair(dilation)
    kernel = w.shape[2:]
    if padding == "same":
        pads = same_pads(kernel, dilation)
    elif padding == "valid":
        pads = [(0, 0), (0, 0)]
    else:
        pads = [(p, p) for p in _pair(padding)]
    xpad = np.pad(x, [(0, 0), (0, 0)] + pads)
    n, c = x.shape[:2]
    c_out = w.shape[0]
    cg, og = c // groups, c_out // groups
    ho = conv_out_len(x.shape[2], kernel[0], stride[0], sum(pads[0]), dilation[0])
    wo = conv_out_len(x.shape[3], kernel[1], stride[1], sum(pads[1]), dilation[1])
    out = np.zeros((n, c_out, ho, wo), dtype=np.result_type(x, w))
    for y in range(ho):
        for z in range(wo):
            rows = slice(y * stride[0], y * stride[0] + dilation[0] * (kernel[0] - 1) + 1, dilation[0])
            cols = slice(z * stride[1], z * stride[1] + dilation[1] * (kernel[1] - 1) + 1, dilation[1])
            window = xpad[:, :, rows, cols]  # (N, C, kh, kw)
            for g in range(groups):
                out[:, g * og:(g + 1) * og, y, z] = np.einsum(
                    "nchw,ochw->no", window[:, g * cg:(g + 1) * cg], w[g * og:(g + 1) * og])
    if b is not None:
        out += b.reshape(-1, 1, 1)
    return out


def np_conv1d(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    """Reference conv1d via the 2-D reference on images of height 1."""
    pad = padding if isinstance(padding, str) else (0, padding)
    return np_conv2d(x[:, :, None], w[:, :, None], b, (1, stride), pad, (1, dilation), groups)[:, :, 0]


def np_conv_transpose2d(x, w, b=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """Reference transposed conv: each input pixel scatters weight * value onto the output, one at a time."""
    stride, padding, output_padding, dilation = map(_pair, (stride, padding, output_padding, dilation))
    n, c_in, h, wd = x.shape
    kernel = w.shape[2:]
    cg, og = c_in // groups, w.shape[1]
    size = [(i - 1) * s - 2 * p + d * (k - 1) + op + 1
            for i, s, p, d, k, op in zip((h, wd), stride, padding, dilation, kernel, output_padding)]
    full = np.zeros((n, og * groups, size[0] + 2 * padding[0], size[1] + 2 * padding[1]), dtype=np.result_type(x, w))
    for y in range(h):
        for z in range(wd):
            for i in range(kernel[0]):
                for j in range(kernel[1]):
                    r, c = y * stride[0] + i * dilation[0], z * stride[1] + j * dilation[1]
                    for g in range(groups):
                        block = x[:, g * cg:(g + 1) * cg, y, z] @ w[g * cg:(g + 1) * cg, :, i, j]
                        full[:, g * og:(g + 1) * og, r, c] += block
    out = full[:, :, padding[0]:padding[0] + size[0], padding[1]:padding[1] + size[1]]
    if b is not None:
        out = out + b.reshape(-1, 1, 1)
    return out


def pool_out_len(n, k, s, p, d, ceil_mode):
    """PyTorch's pooling output size, including ceil_mode's rule that the last window starts inside."""
    span = d * (k - 1) + 1
    if ceil_mode:
        out = -(-(n + 2 * p - span) // s) + 1
        if (out - 1) * s >= n + p:
            out -= 1
        return out
    return (n + 2 * p - span) // s + 1


def _pool_windows(x, kernel, stride, padding, dilation, ceil_mode, fill):
    """Yield (y, z, window) for each output pixel; the input is padded with ``fill`` (and more for ceil_mode)."""
    kernel, padding, dilation = _pair(kernel), _pair(padding), _pair(dilation)
    stride = kernel if stride is None else _pair(stride)
    ho, wo = (pool_out_len(n, k, s, p, d, ceil_mode)
              for n, k, s, p, d in zip(x.shape[2:], kernel, stride, padding, dilation))
    big = 2 * max(kernel) * max(dilation) + 2 * max(stride)
    xpad = np.pad(x, [(0, 0), (0, 0), (padding[0], big), (padding[1], big)], constant_values=fill)
    for y in range(ho):
        for z in range(wo):
            r0, c0 = y * stride[0], z * stride[1]
            yield y, z, xpad[:, :, r0:r0 + dilation[0] * (kernel[0] - 1) + 1:dilation[0],
                             c0:c0 + dilation[1] * (kernel[1] - 1) + 1:dilation[1]], (r0 - padding[0], c0 - padding[1])


def np_max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    """Reference max pooling: the max of each window, padding counted as -inf."""
    windows = list(_pool_windows(x, kernel_size, stride, padding, dilation, ceil_mode, -np.inf))
    ho, wo = windows[-1][0] + 1, windows[-1][1] + 1
    out = np.empty(x.shape[:2] + (ho, wo), dtype=x.dtype)
    for y, z, win, _ in windows:
        out[:, :, y, z] = win.max(axis=(2, 3))
    return out


def np_avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                  divisor_override=None):
    """Reference average pooling with PyTorch's divisor rules."""
    kernel, pad = _pair(kernel_size), _pair(padding)
    windows = list(_pool_windows(x, kernel_size, stride, padding, 1, ceil_mode, 0.0))
    ho, wo = windows[-1][0] + 1, windows[-1][1] + 1
    out = np.empty(x.shape[:2] + (ho, wo), dtype=x.dtype)
    h, w = x.shape[2:]
    for y, z, win, (r0, c0) in windows:
        if divisor_override:
            div = divisor_override
        elif count_include_pad:  # window clipped to the padded input
            div = (min(r0 + kernel[0], h + pad[0]) - r0) * (min(c0 + kernel[1], w + pad[1]) - c0)
        else:  # only real pixels
            div = (min(r0 + kernel[0], h) - max(r0, 0)) * (min(c0 + kernel[1], w) - max(c0, 0))
        out[:, :, y, z] = win.sum(axis=(2, 3)) / div
    return out


def np_unfold(x, kernel_size, dilation=1, padding=0, stride=1):
    """Reference unfold: window by window, flattened channel-major."""
    kernel, dilation, padding, stride = map(_pair, (kernel_size, dilation, padding, stride))
    xpad = np.pad(x, [(0, 0), (0, 0), (padding[0], padding[0]), (padding[1], padding[1])])
    ho, wo = (conv_out_len(n, k, s, 2 * p, d) for n, k, s, p, d in zip(x.shape[2:], kernel, stride, padding, dilation))
    cols = []
    for y in range(ho):
        for z in range(wo):
            r, c = y * stride[0], z * stride[1]
            win = xpad[:, :, r:r + dilation[0] * (kernel[0] - 1) + 1:dilation[0],
                       c:c + dilation[1] * (kernel[1] - 1) + 1:dilation[1]]
            cols.append(win.reshape(x.shape[0], -1))
    return np.stack(cols, axis=-1)


def np_fold(cols, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """Reference fold: add each column's window back onto the image, one window at a time."""
    kernel, dilation, padding, stride, size = map(_pair, (kernel_size, dilation, padding, stride, output_size))
    n, ckk, _ = cols.shape
    c = ckk // (kernel[0] * kernel[1])
    out = np.zeros((n, c, size[0] + 2 * padding[0], size[1] + 2 * padding[1]), dtype=cols.dtype)
    ho, wo = (conv_out_len(m, k, s, 2 * p, d) for m, k, s, p, d in zip(size, kernel, stride, padding, dilation))
    for y in range(ho):
        for z in range(wo):
            r, q = y * stride[0], z * stride[1]
            out[:, :, r:r + dilation[0] * (kernel[0] - 1) + 1:dilation[0],
                q:q + dilation[1] * (kernel[1] - 1) + 1:dilation[1]] += cols[:, :, y * wo + z].reshape(n, c, *kernel)
    return out[:, :, padding[0]:padding[0] + size[0], padding[1]:padding[1] + size[1]]


# ----------------------------------------------------------------------------- samples


@st.composite
def conv2d_case(draw, max_side=7):
    """A valid conv2d call (shapes and keyword arguments) with small sizes: N<=2, C<=4, H, W<=7."""
    groups = draw(st.sampled_from([1, 1, 2]))
    c_in = groups * draw(st.integers(1, 2))
    c_out = groups * draw(st.integers(1, 2))
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    if stride == (1, 1) and draw(st.integers(0, 4)) == 0:
        padding = draw(st.sampled_from(["same", "valid"]))
        pads = same_pads(kernel, dilation) if padding == "same" else [(0, 0), (0, 0)]
    else:
        padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
        pads = [(p, p) for p in padding]
    spans = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
    hw = [draw(st.integers(max(1, span - sum(p)), max_side)) for span, p in zip(spans, pads)]
    n = draw(st.integers(1, 2))
    return {"x": (n, c_in, *hw), "w": (c_out, c_in // groups, *kernel), "bias": draw(st.booleans()),
            "kwargs": {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}}


def _conv2d_sample(draw):
    case = draw(conv2d_case())
    args = [values(draw, case["x"]), values(draw, case["w"], salt=1)]
    if case["bias"]:
        args.append(values(draw, (case["w"][0],), salt=2))
    return Sample(args, case["kwargs"])


def _conv1d_sample(draw):
    groups = draw(st.sampled_from([1, 2]))
    c_in, c_out = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    k, d = draw(st.integers(1, 3)), draw(st.integers(1, 2))
    stride = draw(st.integers(1, 2))
    padding = draw(st.sampled_from(["same", 0, 1])) if stride == 1 else draw(st.integers(0, 2))
    pad_total = d * (k - 1) if padding == "same" else 2 * padding
    length = draw(st.integers(max(1, d * (k - 1) + 1 - pad_total), 7))
    args = [values(draw, (draw(st.integers(1, 2)), c_in, length)), values(draw, (c_out, c_in // groups, k), salt=1)]
    if draw(st.booleans()):
        args.append(values(draw, (c_out,), salt=2))
    return Sample(args, {"stride": stride, "padding": padding, "dilation": d, "groups": groups})


def _conv_transpose2d_sample(draw):
    groups = draw(st.sampled_from([1, 2]))
    c_in, og = groups * draw(st.integers(1, 2)), draw(st.integers(1, 2))
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    output_padding = tuple(draw(st.integers(0, s - 1)) for s in stride)
    padding = tuple(draw(st.integers(0, (d * (k - 1)) // 2)) for k, d in zip(kernel, dilation))
    hw = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    args = [values(draw, (draw(st.integers(1, 2)), c_in, *hw)), values(draw, (c_in, og, *kernel), salt=1)]
    if draw(st.booleans()):
        args.append(values(draw, (og * groups,), salt=2))
    return Sample(args, {"stride": stride, "padding": padding, "output_padding": output_padding, "groups": groups,
                         "dilation": dilation})


@st.composite
def pool_case(draw, max_pool=True, max_side=7):
    """A valid pooling call: input shape and keyword arguments."""
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride = draw(st.one_of(st.none(), st.tuples(st.integers(1, 3), st.integers(1, 3))))
    padding = tuple(draw(st.integers(0, k // 2)) for k in kernel)
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2))) if max_pool else (1, 1)
    kwargs = {"kernel_size": kernel, "stride": stride, "padding": padding, "ceil_mode": draw(st.booleans())}
    if max_pool:
        kwargs["dilation"] = dilation
    else:
        kwargs["count_include_pad"] = draw(st.booleans())
    spans = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
    # span - p (not span - 2p): with dilation, a window could otherwise lie entirely in the padding
    # (a -inf maximum, as in PyTorch, but no gradient to check).
    hw = [draw(st.integers(max(1, span - p), max_side)) for span, p in zip(spans, padding)]
    return (draw(st.integers(1, 2)), draw(st.integers(1, 3)), *hw), kwargs


def _max_pool_sample(draw):
    shape, kwargs = draw(pool_case())
    return Sample([distinct(draw, shape)], kwargs)  # no ties: the max is differentiable


def _avg_pool_sample(draw):
    shape, kwargs = draw(pool_case(max_pool=False))
    if draw(st.integers(0, 4)) == 0:
        kwargs["divisor_override"] = draw(st.integers(1, 5))
    return Sample([values(draw, shape)], kwargs)


def _unfold_sample(draw):
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = (draw(st.integers(0, 1)), draw(st.integers(0, 1)))
    stride = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    hw = [draw(st.integers(max(1, d * (k - 1) + 1 - 2 * p), 6)) for k, d, p in zip(kernel, dilation, padding)]
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 3)), *hw)
    return Sample([values(draw, shape)], {"kernel_size": kernel, "dilation": dilation, "padding": padding,
                                          "stride": stride})


def _fold_sample(draw):
    """The adjoint of an unfold sample: columns of the right shape for its image size."""
    sample = _unfold_sample(draw)
    x, kw = sample.args[0], sample.kwargs
    cols = np_unfold(x, **kw)
    return Sample([values(draw, cols.shape, salt=3)], dict(kw, output_size=x.shape[2:]))


def _torch_F():
    return _t().nn.functional


register(
    OpInfo("conv2d", lambda *a, **kw: F.conv2d(*a, **kw), _conv2d_sample, np_conv2d,
           lambda *a, **kw: _torch_F().conv2d(*a, **kw), atol=1e-9, rtol=1e-7),
    OpInfo("conv1d", lambda *a, **kw: F.conv1d(*a, **kw), _conv1d_sample, np_conv1d,
           lambda *a, **kw: _torch_F().conv1d(*a, **kw), atol=1e-9, rtol=1e-7),
    OpInfo("conv_transpose2d", lambda *a, **kw: F.conv_transpose2d(*a, **kw), _conv_transpose2d_sample,
           np_conv_transpose2d, lambda *a, **kw: _torch_F().conv_transpose2d(*a, **kw), atol=1e-9, rtol=1e-7),
    OpInfo("max_pool2d", lambda a, **kw: F.max_pool2d(a, **kw), _max_pool_sample, np_max_pool2d,
           lambda a, **kw: _torch_F().max_pool2d(a, **kw)),
    OpInfo("avg_pool2d", lambda a, **kw: F.avg_pool2d(a, **kw), _avg_pool_sample, np_avg_pool2d,
           lambda a, **kw: _torch_F().avg_pool2d(a, **kw)),
    OpInfo("unfold", lambda a, **kw: F.unfold(a, **kw), _unfold_sample, np_unfold,
           lambda a, **kw: _torch_F().unfold(a, **kw)),
    OpInfo("fold", lambda a, **kw: F.fold(a, **kw), _fold_sample, np_fold,
           lambda a, **kw: _torch_F().fold(a, **kw)),
)


def _adaptive_sample(draw):
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 2)), draw(st.integers(1, 7)), draw(st.integers(1, 7)))
    size = draw(st.one_of(st.integers(1, 5), st.tuples(st.one_of(st.none(), st.integers(1, 5)), st.integers(1, 5))))
    unbatched = draw(st.booleans())
    return Sample([values(draw, shape[1:] if unbatched else shape)], {"output_size": size})


def np_adaptive_avg_pool2d(x, output_size):
    """Loops over output cells with PyTorch's window bounds (independent of minigrad's matrix form)."""
    h_in, w_in = x.shape[-2:]
    h, w = (output_size, output_size) if isinstance(output_size, int) else output_size
    h = h_in if h is None else h
    out = np.empty(x.shape[:-2] + (h, w))
    for i in range(h):
        r0, r1 = math.floor(i * h_in / h), math.ceil((i + 1) * h_in / h)
        for j in range(w):
            c0, c1 = math.floor(j * w_in / w), math.ceil((j + 1) * w_in / w)
            out[..., i, j] = x[..., r0:r1, c0:c1].mean(axis=(-2, -1))
    return out


register(
    OpInfo("adaptive_avg_pool2d", lambda a, **kw: F.adaptive_avg_pool2d(a, **kw), _adaptive_sample,
           np_adaptive_avg_pool2d, lambda a, **kw: _torch_F().adaptive_avg_pool2d(a, **kw)),
)
