"""More functional forms: bounded and self-normalising activations, gated units, group and
instance normalisation, resizing, 1-D transposed convolution, similarity and the KL loss.

Each is built from minigrad's differentiable ops, so gradients of any order follow.
"""
from __future__ import annotations

import math
import numbers

from ...autograd.engine import Op, Tensor
from ...ops._common import constant, normalize_dims, xp_of
from ...ops.pointwise import where
from .._checks import check_float
from .core import batch_norm, layer_norm
from .conv import _adaptive_pool_matrix, conv_transpose2d

__all__ = ["hardtanh", "relu6", "selu", "celu", "glu", "mish", "group_norm", "instance_norm", "interpolate",
           "conv_transpose1d", "cosine_similarity", "normalize", "kl_div"]


class HardtanhOp(Op):
    """out = clamp(x, lo, hi);  the gradient passes strictly inside (lo, hi) (as PyTorch), not at NaN"""

    def forward(self, x):
        xp = xp_of(x)
        self.mask = (x > self.lo) & (x < self.hi)
        return xp.clip(x, self.lo, self.hi).astype(x.dtype, copy=False)

    def backward(self, grad):
        return grad * constant(self.mask.astype(grad.dtype))


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    """``clamp(input, min_val, max_val)``; the gradient is 1 strictly inside the interval.  Shape: any."""
    check_float(input, "hardtanh")
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val {min_val} must not exceed max_val {max_val}")
    return HardtanhOp.apply(input, lo=float(min_val), hi=float(max_val))


def relu6(input, inplace=False):
    """``min(max(input, 0), 6)``.  Shape: any."""
    return hardtanh(input, 0.0, 6.0)


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def selu(input, inplace=False):
    """Scaled ELU: ``scale * (x if x > 0 else alpha * (e^x - 1))`` with the self-normalising constants.
    Shape: any."""
    from .core import elu

    return elu(input, _SELU_ALPHA) * _SELU_SCALE


def celu(input, alpha=1.0, inplace=False):
    """``x if x > 0 else alpha * (e^(x / alpha) - 1)``.  Shape: any."""
    from .core import elu

    if alpha == 0:
        raise ValueError("celu: alpha must not be 0")
    return elu(input / float(alpha), 1.0) * float(alpha)


def glu(input, dim=-1):
    """Gated linear unit: split ``input`` in halves ``a, b`` along ``dim``, return ``a * sigmoid(b)``.
    Shape: (*, 2n, *) -> (*, n, *)."""
    check_float(input, "glu")
    if input.ndim == 0:
        raise ValueError("glu: a 0-d tensor cannot be halved")
    (d,) = normalize_dims(dim, input.ndim)  # an out-of-range dim is an error, not wrapped around
    n = input.shape[d]
    if n % 2:
        raise ValueError(f"glu: dim {dim} of shape {tuple(input.shape)} has odd size {n}")
    a, b = input.split(n // 2, d)
    return a * b.sigmoid()


def mish(input, inplace=False):
    """``x * tanh(softplus(x))``.  Shape: any."""
    from ...ops.pointwise import softplus

    check_float(input, "mish")
    return input * softplus(input).tanh()


def _check_per_channel(fn, channels, **params):
    """Per-channel parameters (weight, bias, running statistics) must have shape (C,)."""
    for name, p in params.items():
        if p is not None and tuple(p.shape) != (channels,):
            raise ValueError(f"{fn}: {name} must have shape ({channels},), got {tuple(p.shape)}")


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """Normalise each group of ``C / num_groups`` channels of each sample to zero mean and unit variance,
    then scale and shift per channel.  Shapes: input (N, C, *), weight/bias (C,) -> like input."""
    check_float(input, "group_norm")
    if input.ndim < 2:
        raise ValueError(f"group_norm: expected an input of shape (N, C, ...), got shape {tuple(input.shape)}")
    n, c = input.shape[:2]
    if num_groups <= 0 or c % num_groups:
        raise ValueError(f"group_norm: {c} channels cannot be split into {num_groups} groups")
    _check_per_channel("group_norm", c, weight=weight, bias=bias)
    if input.data.size == 0:
        out = input.clone()
    else:
        grouped = input.reshape(n, num_groups, -1)  # each group is a layer norm over its values
        out = layer_norm(grouped, (grouped.shape[-1],), eps=eps).reshape(input.shape)
    view = (1, c) + (1,) * (input.ndim - 2)
    if weight is not None:
        out = out * weight.reshape(view)
    if bias is not None:
        out = out + bias.reshape(view)
    return out


def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None, use_input_stats=True,
                  momentum=0.1, eps=1e-5):
    """Normalise each channel of each sample over its spatial dims, then scale and shift per channel.

    Shapes: input (N, C, *), weight/bias/running statistics (C,) -> like input.  With
    ``use_input_stats=False`` the running statistics are used instead; with it, given running
    statistics are updated in place with the mean over the batch of each sample's statistics."""
    check_float(input, "instance_norm")
    if input.ndim < 3:
        raise ValueError(f"instance_norm: expected an input of shape (N, C, L, ...), got {tuple(input.shape)}")
    n, c = input.shape[:2]
    # checked here: the folded tensors below have shapes the caller never passed
    _check_per_channel("instance_norm", c, weight=weight, bias=bias, running_mean=running_mean,
                       running_var=running_var)
    if not use_input_stats:
        return batch_norm(input, running_mean, running_var, weight, bias, False, momentum, eps)
    # Each (sample, channel) pair is one channel of a batch-norm over a batch of one.
    folded = input.reshape(1, n * c, *input.shape[2:])
    rm = rv = None
    if running_mean is not None and running_var is not None:
        rm = Tensor(xp_of(running_mean.data).tile(running_mean.data, n))
        rv = Tensor(xp_of(running_var.data).tile(running_var.data, n))
    w = weight.repeat(n) if weight is not None else None
    b = bias.repeat(n) if bias is not None else None
    out = batch_norm(folded, rm, rv, w, b, True, momentum, eps).reshape(input.shape)
    if rm is not None:
        running_mean.data[...] = rm.data.reshape(n, c).mean(0).astype(running_mean.dtype)
        running_var.data[...] = rv.data.reshape(n, c).mean(0).astype(running_var.dtype)
        running_mean._bump_version()
        running_var._bump_version()
    return out


def _out_sizes(input, size, scale_factor, fn, recompute_scale_factor):
    spatial = input.shape[2:]
    k = len(spatial)
    if (size is None) == (scale_factor is None):
        raise ValueError(f"{fn}: give exactly one of size and scale_factor")
    if size is not None:
        sizes = (int(size),) * k if isinstance(size, numbers.Integral) else tuple(int(s) for s in size)
        if len(sizes) != k:
            raise ValueError(f"{fn}: size {size} must give {k} sizes for input shape {tuple(input.shape)}")
        _check_out_sizes(fn, sizes, input)
        return sizes, tuple(s / n if n else 0.0 for s, n in zip(sizes, spatial)), False
    scales = (float(scale_factor),) * k if isinstance(scale_factor, numbers.Number) else \
        tuple(float(s) for s in scale_factor)
    if len(scales) != k:
        raise ValueError(f"{fn}: scale_factor {scale_factor} must give {k} factors")
    sizes = tuple(int(math.floor(n * s)) for n, s in zip(spatial, scales))
    _check_out_sizes(fn, sizes, input)
    return sizes, scales, not recompute_scale_factor


def _check_out_sizes(fn, sizes, input):
    if any(s <= 0 for s in sizes):
        raise ValueError(f"{fn}: output sizes {sizes} must be positive (input shape {tuple(input.shape)})")


def _source_index(out_size, in_size, scale, use_scale, align_corners, mode, xp):
    """Source coordinate of each output position along one axis, as PyTorch computes it."""
    i = xp.arange(out_size, dtype="float64")
    if mode == "nearest":
        ratio = 1.0 / scale if use_scale and scale > 0 else in_size / out_size
        return xp.minimum(xp.floor(i * ratio), in_size - 1).astype("int64")
    if mode == "nearest-exact":
        ratio = 1.0 / scale if use_scale and scale > 0 else in_size / out_size
        return xp.minimum(xp.floor((i + 0.5) * ratio), in_size - 1).astype("int64")
    if align_corners:
        return i * ((in_size - 1) / (out_size - 1)) if out_size > 1 else i * 0.0
    ratio = 1.0 / scale if use_scale and scale > 0 else in_size / out_size
    if mode == "bicubic":  # not clamped at 0: the cubic taps reach past the border (clamped there)
        return (i + 0.5) * ratio - 0.5
    return xp.maximum((i + 0.5) * ratio - 0.5, 0.0)


def _cubic_weights(t):
    """Keys' cubic convolution weights (a = -0.75, as PyTorch) of the taps at -1, 0, 1, 2 for offset t."""
    a = -0.75

    def near(x):  # |x| <= 1
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def far(x):  # 1 < |x| < 2
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a

    return far(t + 1), near(t), near(1 - t), far(2 - t)


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False):
    """Resize the spatial dims of (N, C, *spatial) input, as ``torch.nn.functional.interpolate``.

    ``mode``: 'nearest' and 'nearest-exact' (any number of spatial dims), 'area' (any), 'linear' (1),
    'bilinear' (2), 'bicubic' (2: Keys' cubic with a = -0.75), 'trilinear' (3).  Give ``size`` or ``scale_factor``.  Linear modes weigh
    the two neighbours along each axis (``align_corners`` as PyTorch); the gradient follows."""
    if input.ndim < 3:
        raise ValueError(f"interpolate: expected input of shape (N, C, *spatial), got {tuple(input.shape)}")
    if antialias:
        raise ValueError("interpolate: antialias=True is not supported")
    k = input.ndim - 2
    linear = {"linear": 1, "bilinear": 2, "bicubic": 2, "trilinear": 3}
    if mode in linear:
        if linear[mode] != k:
            raise ValueError(f"interpolate: mode {mode!r} expects {linear[mode]} spatial dims, got input "
                             f"shape {tuple(input.shape)}")
    elif mode == "area":  # each output cell is the mean of its share of the input (adaptive average pooling)
        if align_corners is not None:
            raise ValueError("interpolate: align_corners only applies to the linear modes")
        sizes, _, _ = _out_sizes(input, size, scale_factor, "interpolate", recompute_scale_factor)
        out = input
        for axis, n_out in enumerate(sizes):  # separable: one averaging matrix per axis
            d = 2 + axis
            mat = _adaptive_pool_matrix(input.shape[d], n_out, input)
            out = (out.movedim(d, -1) @ mat.mT).movedim(-1, d)
        return out
    elif mode not in ("nearest", "nearest-exact"):
        raise ValueError(f"interpolate: mode {mode!r} is not supported (nearest, nearest-exact, area, linear, "
                         "bilinear, bicubic, trilinear)")
    elif align_corners is not None:
        raise ValueError("interpolate: align_corners only applies to the linear modes")
    sizes, scales, use_scale = _out_sizes(input, size, scale_factor, "interpolate", recompute_scale_factor)
    xp = xp_of(input.data)
    out = input
    for axis, (n_out, scale) in enumerate(zip(sizes, scales)):
        d = 2 + axis
        n_in = input.shape[d]
        src = _source_index(n_out, n_in, scale, use_scale, bool(align_corners), mode, xp)
        if mode in ("nearest", "nearest-exact"):
            out = out.index_select(d, Tensor(src))
            continue
        shape = [1] * input.ndim
        shape[d] = n_out
        if mode == "bicubic":  # four taps per output, clamped to the border
            base = xp.floor(src)
            weights = _cubic_weights(src - base)
            base = base.astype("int64")
            total = None
            for k, w in zip(range(-1, 3), weights):
                taps = xp.clip(base + k, 0, n_in - 1)
                term = out.index_select(d, Tensor(taps)) * Tensor(w.astype(input.dtype).reshape(shape))
                total = term if total is None else total + term
            out = total
            continue
        lo = xp.minimum(xp.floor(src).astype("int64"), n_in - 1)
        hi = xp.minimum(lo + 1, n_in - 1)
        w = Tensor((src - lo).astype(input.dtype).reshape(shape))
        out = out.index_select(d, Tensor(lo)) * (1.0 - w) + out.index_select(d, Tensor(hi)) * w
    return out


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """Transposed 1-D convolution, as in PyTorch: input (N, C_in, L) or (C_in, L), weight
    (C_in, C_out/groups, k) -> (N, C_out, L_out), ``L_out = (L - 1)*stride - 2*padding +
    dilation*(k - 1) + output_padding + 1``."""
    def one(v):
        return int(v[0]) if isinstance(v, (tuple, list)) else int(v)

    if input.ndim not in (2, 3):
        raise ValueError(f"conv_transpose1d: expected input (N, C, L) or (C, L), got shape {tuple(input.shape)}")
    if weight.ndim != 3:
        raise ValueError(f"conv_transpose1d: expected weight (C_in, C_out/groups, k), got {tuple(weight.shape)}")
    x = input.unsqueeze(-2)
    out = conv_transpose2d(x, weight.unsqueeze(-2), bias, (1, one(stride)), (0, one(padding)),
                           (0, one(output_padding)), groups, (1, one(dilation)))
    return out.squeeze(-2)


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    """Cosine of the angle between ``x1`` and ``x2`` (broadcast together) along ``dim``: each divided
    by its 2-norm (kept >= ``eps``), then the dot product.  Shape: the broadcast shape without ``dim``."""
    check_float(x1, "cosine_similarity", "x1")
    check_float(x2, "cosine_similarity", "x2")
    from ...ops.shape import broadcast_tensors

    a, b = broadcast_tensors(x1, x2)
    n1 = a.norm(2, dim, keepdim=True).clamp(min=float(eps))
    n2 = b.norm(2, dim, keepdim=True).clamp(min=float(eps))
    return ((a / n1) * (b / n2)).sum(dim)


def normalize(input, p=2.0, dim=1, eps=1e-12, out=None):
    """``input / max(norm_p(input, dim), eps)``: unit vectors along ``dim``.  Shape: like input."""
    check_float(input, "normalize")
    if out is not None:
        raise ValueError("normalize: out= is not supported")
    norm = input.norm(p, dim, keepdim=True) if input.ndim else input.abs()
    return input / norm.clamp(min=float(eps))


def kl_div(input, target, size_average=None, reduce=None, reduction="mean", log_target=False):
    """Kullback-Leibler divergence with ``input`` as log-probabilities: pointwise
    ``target * (log target - input)`` (0 where target is 0), or ``exp(target) * (target - input)``
    with ``log_target=True``.  ``reduction``: 'mean' (over all elements), 'batchmean' (sum / N),
    'sum' or 'none'."""
    from .loss import _reduction

    check_float(input, "kl_div")
    if reduction == "batchmean":
        red = "batchmean"
    else:
        red = _reduction(reduction, size_average, reduce, "kl_div")
    if log_target:
        pointwise = target.exp() * (target - input)
    else:  # target * log(target), taken as 0 where the target is 0
        zero = target.data == 0
        pointwise = where(zero, 0.0, target * where(zero, 1.0, target).log()) - target * input
    if red == "none":
        return pointwise
    if red == "sum":
        return pointwise.sum()
    if red == "batchmean":
        return pointwise.sum() / (input.shape[0] if input.ndim else 1)
    return pointwise.mean()
