"""Convolution and pooling over images: tensors of shape (N, C, H, W).

How a convolution is computed (im2col)
--------------------------------------
Output pixel (y, x) of output channel o is a dot product between the weights
``w[o]`` (C_in/groups x kh x kw numbers) and the input window under the kernel
at that pixel.  Gather every window of every image into a *column matrix*
``cols`` of shape (N, groups, C_in/groups*kh*kw, Ho*Wo) -- one column per
output pixel -- and the whole convolution is ONE (batched) matrix product::

    out (N, groups, C_out/groups, Ho*Wo) = w (groups, C_out/groups, C_in/groups*kh*kw) @ cols

``cols`` is built from a strided *view* of the padded input (no data moves
until the single copy that makes it contiguous; its last axis runs along an
image row, so the copy reads memory in order).  The layout keeps the output
already in (N, C_out, Ho, Wo) order: no transpose afterwards.

The backward pass is two more linear maps of the same three arrays:

* input gradient ("transposed convolution", :class:`Conv2dInputGrad`):
  ``w^T @ grad`` gives gradient columns, and col2im adds each kernel offset's
  slice back onto the (padded) input -- a loop over the kh*kw offsets only.
  Here the batch axis goes *last* (one copy of ``grad``, which is small next
  to the columns): each slice addition then runs over long contiguous rows;
* weight gradient (:class:`Conv2dWeightGrad`): ``grad @ cols^T`` summed over
  the batch, reusing the forward's ``cols``.

The three ops are each other's derivatives, so backward-of-backward (e.g. a
gradient penalty) works: every backward below is written with these ops.

Pooling uses the same offset loop: max pooling keeps, per output pixel, which
kernel offset won (``argmax``) and routes the gradient back through it;
average pooling spreads the gradient evenly over the window.

Geometry is passed to the ops already checked and normalised (see
``minigrad.nn.functional.conv``): ``stride`` and ``dilation`` are (h, w)
pairs and ``padding`` is (top, bottom, left, right).
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from ..autograd.engine import Op
from . import _conv_kernels
from ._common import xp_of

# ----------------------------------------------------------------------------- geometry helpers


class ConvGeometry(NamedTuple):
    """Where a convolution's windows sit: all already checked by the functional layer."""

    stride: tuple  # (sh, sw)
    padding: tuple  # (top, bottom, left, right)
    dilation: tuple  # (dh, dw)
    groups: int


class PoolGeometry(NamedTuple):
    """Where a pooling layer's windows sit (padding includes any extra that ceil_mode needs)."""

    kernel: tuple  # (kh, kw)
    stride: tuple
    padding: tuple  # (top, bottom, left, right)
    dilation: tuple


def out_len(size, kernel, stride, pad_before, pad_after, dilation):
    """Output length along one axis: floor((n + pads - d*(k-1) - 1) / s) + 1 (may be <= 0 when too small)."""
    return (size + pad_before + pad_after - dilation * (kernel - 1) - 1) // stride + 1


def _pad_hw(x, padding, value=0):
    """``x`` (N, C, H, W) surrounded by ``padding`` = (top, bottom, left, right) elements of ``value``.

    Returns ``x`` itself (no copy) when there is no padding.
    """
    top, bottom, left, right = padding
    if not (top or bottom or left or right):
        return x
    n, c, h, w = x.shape
    out = xp_of(x).full((n, c, h + top + bottom, w + left + right), value, dtype=x.dtype)
    out[:, :, top:top + h, left:left + w] = x
    return out


def _crop_hw(x, padding):
    """Undo :func:`_pad_hw`: the (contiguous) interior of a padded (N, C, Hp, Wp) array."""
    top, bottom, left, right = padding
    if not (top or bottom or left or right):
        return x
    hp, wp = x.shape[2:]
    return xp_of(x).ascontiguousarray(x[:, :, top:hp - bottom, left:wp - right])


def _offset_regions(kernel, stride, dilation, out_hw):
    """For each kernel offset (i, j), row-major: the slice of the padded input that it reads.

    Offset (i, j) of the window at output pixel (y, x) reads padded pixel
    ``(y*sh + i*dh, x*sw + j*dw)``; over all output pixels that is one strided
    slice of shape (N, C, Ho, Wo).
    """
    (kh, kw), (sh, sw), (dh, dw), (ho, wo) = kernel, stride, dilation, out_hw
    for i in range(kh):
        rows = slice(i * dh, i * dh + sh * (ho - 1) + 1, sh)
        for j in range(kw):
            yield (slice(None), slice(None), rows, slice(j * dw, j * dw + sw * (wo - 1) + 1, sw))


def _windows(xpad, kernel, stride, dilation, out_hw):
    """A strided view (N, C, kh, kw, Ho, Wo) of a padded input, without copying.

    ``view[n, c, i, j, y, x] == xpad[n, c, y*sh + i*dh, x*sw + j*dw]``.
    """
    xp = xp_of(xpad)
    sn, sc, s_row, s_col = xpad.strides
    (kh, kw), (sh, sw), (dh, dw), (ho, wo) = kernel, stride, dilation, out_hw
    return xp.lib.stride_tricks.as_strided(
        xpad,
        shape=(xpad.shape[0], xpad.shape[1], kh, kw, ho, wo),
        strides=(sn, sc, s_row * dh, s_col * dw, s_row * sh, s_col * sw),
    )


def _conv_out_hw(in_hw, kernel, geom):
    (h, w), (kh, kw) = in_hw, kernel
    top, bottom, left, right = geom.padding
    return (out_len(h, kh, geom.stride[0], top, bottom, geom.dilation[0]),
            out_len(w, kw, geom.stride[1], left, right, geom.dilation[1]))


def im2col(x, kernel, geom):
    """The column matrix of ``x`` (N, C, H, W): shape (N, groups, C/groups*kh*kw, Ho*Wo).

    Column p of group g holds the input window (channels of the group x kernel
    rows x kernel columns) under output pixel p.  One contiguous copy.
    """
    n, c = x.shape[:2]
    out_hw = _conv_out_hw(x.shape[2:], kernel, geom)
    view = _windows(_pad_hw(x, geom.padding), kernel, geom.stride, geom.dilation, out_hw)
    return view.reshape(n, geom.groups, (c // geom.groups) * kernel[0] * kernel[1], out_hw[0] * out_hw[1])


def col2im(cols, in_shape, kernel, out_hw, geom):
    """Adjoint of :func:`im2col`: add every column entry back onto the input pixel it came from.

    ``cols``: (C, kh*kw, Ho, Wo, N) -- batch *last* -> array of ``in_shape`` (N, C, H, W).
    Overlapping windows add up.  One slice addition per kernel offset; with the
    batch innermost each addition runs over rows of Wo*N contiguous numbers
    (not just Wo), which is what makes it fast.  One transpose at the end.
    """
    n, c, h, w = in_shape
    top, bottom, left, right = geom.padding
    xp = xp_of(cols)
    cols = cols.reshape(c, kernel[0] * kernel[1], out_hw[0], out_hw[1], n)
    k = _conv_kernels.kernel("col2im", xp, cols.dtype, math.prod(in_shape))
    if k is not None:
        # one pass: each input pixel sums its own column entries, no padded buffer, no transpose
        img = xp.empty(in_shape, dtype=cols.dtype)
        k(xp.ascontiguousarray(cols), n, c,
          *_conv_kernels.geometry((h, w), out_hw, kernel, geom.stride, geom.padding, geom.dilation),
          *_conv_kernels.divisors(w, h, c), img)
        return img
    acc = xp.zeros((c, h + top + bottom, w + left + right, n), dtype=cols.dtype)
    for k, region in enumerate(_offset_regions(kernel, geom.stride, geom.dilation, out_hw)):
        acc[region[1:]] += cols[:, k]  # region[1:]: this buffer has no leading batch axis
    interior = acc[:, top:top + h, left:left + w]
    return xp.ascontiguousarray(interior.transpose(3, 0, 1, 2))


def _grouped_weight(w, groups):
    """Weight (C_out, C_in/groups, kh, kw) as a stack of matrices (groups, C_out/groups, C_in/groups*kh*kw)."""
    return w.reshape(groups, w.shape[0] // groups, -1)


# ----------------------------------------------------------------------------- convolution


class Conv2d(Op):
    """out[n, o, y, x] = b[o] + sum over c, i, j of w[o, c, i, j] * xpad[n, g*Cg + c, y*sh + i*dh, x*sw + j*dw]

    (cross-correlation, as in every deep-learning framework; g is o's group).
    Inputs: x (N, C_in, H, W), w (C_out, C_in/groups, kh, kw), optional b (C_out,).
    Params: ``geom`` (stride, padding, dilation, groups); ``keep_cols``: save the
    column matrix for the weight gradient instead of rebuilding it;
    ``cols``: a column matrix of x already built (by a previous op).
    """

    cols = None
    keep_cols = False

    def forward(self, x, w, b=None):
        geom = self.geom
        cols = self.cols if self.cols is not None else im2col(x, w.shape[2:], geom)
        n, groups, _, pixels = cols.shape
        out = _grouped_weight(w, groups) @ cols  # (N, groups, C_out/groups, Ho*Wo)
        out = out.reshape((n, w.shape[0]) + _conv_out_hw(x.shape[2:], w.shape[2:], geom))
        if b is not None:
            out += b.reshape(-1, 1, 1)
        self.cols = cols if self.keep_cols else None
        return out

    def backward(self, grad):
        x, w = self.inputs[:2]
        need = self.needs_input_grad
        grad_x = grad_w = grad_b = None
        if need[0]:
            grad_x = Conv2dInputGrad.apply(grad, w, geom=self.geom, input_hw=x.shape[2:])
        if need[1]:
            grad_w = Conv2dWeightGrad.apply(x, grad, geom=self.geom, kernel=w.shape[2:], cols=self.cols)
        if len(need) == 3 and need[2]:
            grad_b = grad.sum((0, 2, 3))
        return (grad_x, grad_w, grad_b) if len(need) == 3 else (grad_x, grad_w)


class Conv2dInputGrad(Op):
    """The gradient of conv2d with respect to its input: a transposed convolution.

    Inputs: g (N, C_out, Ho, Wo), w (C_out, C_in/groups, kh, kw).  Output
    (N, C_in, H, W) with (H, W) = ``input_hw``: each output-gradient pixel is
    spread back over the input window it came from, weighted by w.
    Also the forward of ``conv_transpose2d``.
    """

    def forward(self, g, w):
        geom = self.geom
        n, c_out, ho, wo = g.shape
        groups = geom.groups
        w_t = _grouped_weight(w, groups).swapaxes(1, 2)  # (groups, C_in/groups*kh*kw, C_out/groups)
        # Gradient columns with the batch last, the layout col2im adds fastest: one copy of g, one product.
        g_t = g.reshape(n, groups, c_out // groups, ho * wo).transpose(1, 2, 3, 0)
        cols = w_t @ g_t.reshape(groups, c_out // groups, ho * wo * n)  # (groups, C_in/groups*kh*kw, Ho*Wo*N)
        in_shape = (n, w.shape[1] * groups) + tuple(self.input_hw)
        return col2im(cols, in_shape, w.shape[2:], (ho, wo), geom)

    def backward(self, grad):
        g, w = self.inputs
        need = self.needs_input_grad
        # out = A(g, w) is bilinear; <A(g, w), grad> = <conv2d(grad, w), g> = <weight_grad(grad, g), w>.
        grad_g = Conv2d.apply(grad, w, geom=self.geom) if need[0] else None
        grad_w = Conv2dWeightGrad.apply(grad, g, geom=self.geom, kernel=w.shape[2:]) if need[1] else None
        return grad_g, grad_w


class Conv2dWeightGrad(Op):
    """The gradient of conv2d with respect to its weight: sum over the batch of grad @ cols^T.

    Inputs: x (N, C_in, H, W), g (N, C_out, Ho, Wo).  Output (C_out, C_in/groups, kh, kw)
    for ``kernel`` = (kh, kw).  ``cols``: x's column matrix when the forward kept it.
    """

    cols = None

    def forward(self, x, g):
        geom = self.geom
        kh, kw = self.kernel
        cols = self.cols if self.cols is not None else im2col(x, self.kernel, geom)
        n, groups, ckk, pixels = cols.shape
        per_group = g.shape[1] // groups
        g = g.reshape(n, groups, per_group, pixels)
        if per_group <= pixels:
            # One small product per image, then a sum over the batch: the (N, groups, C_in/groups*kh*kw,
            # C_out/groups) intermediate is no larger than cols itself.  Computed as cols @ g^T and transposed
            # back: BLAS runs this orientation several times faster on these thin products.
            grad_w = (cols @ g.swapaxes(2, 3)).sum(axis=0).swapaxes(1, 2)
        else:
            # Few pixels, many channels: fold the batch into the inner dimension of one product
            # (copies cols once, but avoids a batch of large per-image weight matrices).
            g_mat = g.transpose(1, 2, 0, 3).reshape(groups, per_group, n * pixels)
            cols_mat = cols.transpose(1, 0, 3, 2).reshape(groups, n * pixels, ckk)
            grad_w = g_mat @ cols_mat
        return grad_w.reshape(groups * per_group, ckk // (kh * kw), kh, kw)

    def backward(self, grad):
        x, g = self.inputs
        need = self.needs_input_grad
        # <weight_grad(x, g), grad> = <conv2d(x, grad), g> = <input_grad(g, grad), x>.
        grad_x = Conv2dInputGrad.apply(g, grad, geom=self.geom, input_hw=x.shape[2:]) if need[0] else None
        grad_g = Conv2d.apply(x, grad, geom=self.geom, cols=self.cols) if need[1] else None
        return grad_x, grad_g


class Unfold(Op):
    """im2col as an op: x (N, C, H, W) -> (N, C*kh*kw, L), one column per window (``F.unfold``)."""

    def forward(self, x):
        self.in_shape = x.shape
        cols = im2col(x, self.kernel, self.geom)
        out = cols.reshape(cols.shape[0], -1, cols.shape[-1])
        # A 1x1 kernel with stride 1 and no padding needs no copy: make one, so the output never aliases x.
        return out.copy() if xp_of(x).may_share_memory(out, x) else out

    def backward(self, grad):
        return Fold.apply(grad, kernel=self.kernel, geom=self.geom, output_hw=self.in_shape[2:])


class Fold(Op):
    """col2im as an op: (N, C*kh*kw, L) -> (N, C, H, W), overlapping entries summed (``F.fold``)."""

    def forward(self, cols):
        kh, kw = self.kernel
        n, ckk, _ = cols.shape
        in_shape = (n, ckk // (kh * kw)) + tuple(self.output_hw)
        out_hw = _conv_out_hw(self.output_hw, self.kernel, self.geom)
        return col2im(cols.transpose(1, 2, 0), in_shape, self.kernel, out_hw, self.geom)

    def backward(self, grad):
        return Unfold.apply(grad, kernel=self.kernel, geom=self.geom)


# ----------------------------------------------------------------------------- pooling


def _lowest(dtype):
    """The value max pooling pads with: -inf for floats, the smallest integer otherwise."""
    dtype = np.dtype(dtype)
    return -np.inf if dtype.kind == "f" else np.iinfo(dtype).min


def _offset_dtype(n_offsets):
    """The smallest integer type that numbers the kernel offsets."""
    return np.uint8 if n_offsets <= 255 else np.int32


def _pool_out_hw(in_hw, geom):
    top, bottom, left, right = geom.padding
    return (out_len(in_hw[0], geom.kernel[0], geom.stride[0], top, bottom, geom.dilation[0]),
            out_len(in_hw[1], geom.kernel[1], geom.stride[1], left, right, geom.dilation[1]))


def _pool_args(in_hw, out_hw, geom):
    return _conv_kernels.geometry(in_hw, out_hw, geom.kernel, geom.stride, geom.padding, geom.dilation)


def _route_divisors(out_hw, geom):
    return _conv_kernels.divisors(out_hw[1], out_hw[0], geom.kernel[1])


def max_pool_with_argmax(x, geom):
    """Max pooling of the array ``x``: the maxima and, per output pixel, the winning kernel offset.

    Offsets are numbered row-major (k = i*kw + j).  One pass per offset keeps
    the running maximum and where it came from.
    """
    xp = xp_of(x)
    out_hw = _pool_out_hw(x.shape[2:], geom)
    k = _conv_kernels.kernel("max_pool_forward", xp, x.dtype, math.prod(x.shape[:2] + out_hw))
    if k is not None:  # one pass over the output, no padded copy
        best = xp.empty(x.shape[:2] + out_hw, dtype=x.dtype)
        argmax = xp.empty(best.shape, dtype=_offset_dtype(geom.kernel[0] * geom.kernel[1]))
        k(xp.ascontiguousarray(x), x.dtype.type(_lowest(x.dtype)), *_pool_args(x.shape[2:], out_hw, geom),
          *_conv_kernels.divisors(*out_hw[::-1]), best, argmax)
        return best, argmax
    xpad = _pad_hw(x, geom.padding, _lowest(x.dtype))
    regions = list(_offset_regions(geom.kernel, geom.stride, geom.dilation, out_hw))
    best = xpad[regions[0]].copy()
    argmax = xp.zeros(best.shape, dtype=_offset_dtype(len(regions)))
    # argmax = k where offset k wins: k exceeds every offset before it, so that is maximum(argmax, wins * k),
    # which runs without a data-dependent branch (copyto(..., where=wins) is several times slower on CPU).
    for k, region in enumerate(regions[1:], start=1):
        candidate = xpad[region]
        wins = candidate > best  # strict: ties keep the first offset
        xp.maximum(best, candidate, out=best)
        xp.maximum(argmax, xp.multiply(wins, argmax.dtype.type(k), dtype=argmax.dtype), out=argmax)
    if x.dtype.kind == "f" and xp.isnan(best).any():
        # NaN propagates into the maximum (as in PyTorch); point its gradient at the last NaN, as PyTorch does.
        for k, region in enumerate(regions):
            candidate = xpad[region]
            xp.copyto(argmax, xp.asarray(k, dtype=argmax.dtype), where=candidate != candidate)
    return best, argmax


class MaxPool2d(Op):
    """out[n, c, y, x] = max over the window (-inf padding); ``argmax`` keeps the winning offset.

    Ties go to the first offset in row-major order and NaN wins (as in PyTorch).
    Params: ``geom`` (kernel, stride, padding incl. any ceil_mode extra, dilation).
    """

    def forward(self, x):
        self.in_shape = x.shape
        out, self.argmax = max_pool_with_argmax(x, self.geom)
        return out

    def backward(self, grad):
        return MaxPool2dRoute.apply(grad, argmax=self.argmax, geom=self.geom, in_shape=self.in_shape)


class MaxPool2dRoute(Op):
    """The gradient of max pooling: each output gradient goes to its window's argmax (overlaps add).

    Input g (N, C, Ho, Wo) -> (N, C, H, W) for ``in_shape``.  Linear in g; its
    backward gathers at the same argmax positions (:class:`MaxPool2dGather`).
    """

    def forward(self, g):
        geom = self.geom
        xp = xp_of(g)
        n, c, h, w = self.in_shape
        top, bottom, left, right = geom.padding
        spans = [d * (k - 1) + 1 for k, d in zip(geom.kernel, geom.dilation)]
        disjoint = all(s >= span for s, span in zip(geom.stride, spans))  # windows never overlap
        kernel = _conv_kernels.kernel("max_pool_route_disjoint", xp, g.dtype, g.size) if disjoint else None
        if kernel is not None:  # one write per output gradient, straight into the unpadded input's shape
            out = xp.zeros(self.in_shape, dtype=g.dtype)
            kernel(xp.ascontiguousarray(g), xp.ascontiguousarray(self.argmax),
                   *_pool_args((h, w), g.shape[2:], geom), *_route_divisors(g.shape[2:], geom), out)
            return out
        out = xp.zeros((n, c, h + top + bottom, w + left + right), dtype=g.dtype)
        for k, region in enumerate(_offset_regions(geom.kernel, geom.stride, geom.dilation, g.shape[2:])):
            if disjoint:  # each input pixel is in one window at most: write, no read-add
                xp.multiply(g, self.argmax == k, out=out[region])
            else:
                out[region] += g * (self.argmax == k)
        return _crop_hw(out, geom.padding)

    def backward(self, grad):
        return MaxPool2dGather.apply(grad, argmax=self.argmax, geom=self.geom, in_shape=self.in_shape)


class MaxPool2dGather(Op):
    """Read h (N, C, H, W) at each window's stored argmax: (N, C, Ho, Wo).  Adjoint of the route."""

    def forward(self, h):
        geom = self.geom
        xp = xp_of(h)
        kernel = _conv_kernels.kernel("max_pool_gather", xp, h.dtype, self.argmax.size)
        if kernel is not None:
            return kernel(xp.ascontiguousarray(h), xp.ascontiguousarray(self.argmax),
                          *_pool_args(h.shape[2:], self.argmax.shape[2:], geom),
                          *_route_divisors(self.argmax.shape[2:], geom))
        hpad = _pad_hw(h, geom.padding, 0)
        out = None
        for k, region in enumerate(_offset_regions(geom.kernel, geom.stride, geom.dilation,
                                                   self.argmax.shape[2:])):
            if out is None:
                out = hpad[region].copy()  # argmax 0 everywhere else overwritten below
            else:
                xp.copyto(out, hpad[region], where=self.argmax == k)
        return out

    def backward(self, grad):
        return MaxPool2dRoute.apply(grad, argmax=self.argmax, geom=self.geom, in_shape=self.in_shape)


def _scale(divisor, like):
    """1 / divisor as a Python float or an (Ho, Wo) array of ``like``'s dtype and device."""
    if isinstance(divisor, np.ndarray):
        return xp_of(like).asarray(1.0 / divisor, dtype=like.dtype)
    return 1.0 / divisor


class AvgPool2d(Op):
    """out[n, c, y, x] = sum over the window (zero padding) / divisor.

    Params: ``geom`` and ``divisor`` (a number, or an (Ho, Wo) NumPy array when
    windows differ in size: ``count_include_pad=False`` or ``ceil_mode``).
    """

    def forward(self, x):
        geom = self.geom
        out_hw = _pool_out_hw(x.shape[2:], geom)
        xpad = _pad_hw(x, geom.padding, 0)
        total = None
        for region in _offset_regions(geom.kernel, geom.stride, geom.dilation, out_hw):
            if total is None:
                total = xpad[region].copy()
            else:
                total += xpad[region]
        self.in_shape = x.shape
        total *= _scale(self.divisor, x)
        return total

    def backward(self, grad):
        return AvgPool2dSpread.apply(grad, geom=self.geom, divisor=self.divisor, in_shape=self.in_shape)


class AvgPool2dSpread(Op):
    """The gradient of average pooling: g / divisor added to every pixel of the window.

    Input g (N, C, Ho, Wo) -> (N, C, H, W) for ``in_shape``; its adjoint is average pooling itself.
    """

    def forward(self, g):
        geom = self.geom
        n, c, h, w = self.in_shape
        top, bottom, left, right = geom.padding
        share = g * _scale(self.divisor, g)
        out = xp_of(g).zeros((n, c, h + top + bottom, w + left + right), dtype=g.dtype)
        for region in _offset_regions(geom.kernel, geom.stride, geom.dilation, g.shape[2:]):
            out[region] += share
        return _crop_hw(out, geom.padding)

    def backward(self, grad):
        return AvgPool2d.apply(grad, geom=self.geom, divisor=self.divisor)
