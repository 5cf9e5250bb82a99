"""Reductions (sum, mean, var, max, logsumexp, ...) and softmax.

Each reduction's backward spreads the output gradient back over the reduced
dimensions: reshape to the ``keepdim`` shape, then broadcast.
"""
from __future__ import annotations

import builtins  # this module defines sum/max/min for tensors
from collections import namedtuple

from ..autograd import engine
from ..autograd.engine import Op, Tensor
from ._common import constant, keepdim_shape, normalize_dims, xp_of


def _spread(grad, in_shape, dims, keepdim):
    """Broadcast a reduced gradient back to ``in_shape``."""
    if not keepdim:
        grad = grad.reshape(keepdim_shape(in_shape, dims))
    return grad.expand(in_shape)


def _axis(dims, ndim):
    return None if len(dims) == ndim else dims


sum_to = engine.sum_to  # the engine sums broadcast gradients back with it


class Sum(Op):
    """out = sum of x over ``dims``"""

    def forward(self, x):
        self.in_shape = x.shape
        out = x.sum(axis=_axis(self.dims, x.ndim), keepdims=self.keepdim)
        if out.dtype.kind == "b":
            out = out.astype("int64")
        return out

    def backward(self, grad):
        return _spread(grad, self.in_shape, self.dims, self.keepdim)


class Mean(Op):
    """out = mean of x over ``dims``"""

    def forward(self, x):
        self.in_shape = x.shape
        self.count = builtins.max(1, _size(x.shape, self.dims))
        return x.mean(axis=_axis(self.dims, x.ndim), keepdims=self.keepdim)

    def backward(self, grad):
        return _spread(grad, self.in_shape, self.dims, self.keepdim) / float(self.count)


def _size(shape, dims):
    """Number of elements in each group reduced over ``dims``."""
    n = 1
    for i in dims:
        n *= shape[i]
    return n


def sum(input, dim=None, keepdim=False, dtype=None):
    """Sum over ``dim`` (int, tuple or None for all)."""
    if dtype is not None:
        input = input.to(dtype)
    return Sum.apply(input, dims=normalize_dims(dim, input.ndim), keepdim=keepdim)


def mean(input, dim=None, keepdim=False):
    """Mean over ``dim`` (integer tensors give float32)."""
    if input.dtype.kind != "f":
        input = input.float()
    return Mean.apply(input, dims=normalize_dims(dim, input.ndim), keepdim=keepdim)


class Var(Op):
    """out = sum((x - mean)^2) / (n - correction) over ``dims``"""

    def forward(self, x):
        self.in_shape = x.shape
        self.n = _size(x.shape, self.dims)
        return x.var(axis=_axis(self.dims, x.ndim), ddof=self.correction, keepdims=self.keepdim)

    def backward(self, grad):
        (x,) = self.inputs
        centered = x - x.mean(dim=self.dims, keepdim=True)
        d = builtins.max(self.n - self.correction, 0)
        scale = 2.0 / d if d else float("inf")
        return _spread(grad, self.in_shape, self.dims, self.keepdim) * centered * scale


class Std(Op):
    """out = sqrt(var(x)) over ``dims``"""

    save_output = True

    def forward(self, x):
        self.in_shape = x.shape
        self.n = _size(x.shape, self.dims)
        return x.std(axis=_axis(self.dims, x.ndim), ddof=self.correction, keepdims=self.keepdim)

    def backward(self, grad):
        (x,) = self.inputs
        centered = x - x.mean(dim=self.dims, keepdim=True)
        denom = _spread(self.output, self.in_shape, self.dims, self.keepdim) * float(self.n - self.correction)
        return _spread(grad, self.in_shape, self.dims, self.keepdim) * centered / denom


def _var_args(dim, unbiased, correction):
    """``(dim, correction)``; ``var(True)`` passes ``unbiased`` first, as PyTorch allows."""
    if isinstance(dim, bool):
        if unbiased is not None:
            raise TypeError("var/std: unbiased given twice (a bool as dim and unbiased=)")
        dim, unbiased = None, dim
    if correction is not None:
        if unbiased is not None:
            raise TypeError("var/std: give only one of unbiased and correction")
        return dim, correction  # may be any number: sum / (n - correction)
    return dim, (1 if unbiased in (None, True) else 0)


def var(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """Variance over ``dim``: ``sum((x - mean)^2) / (n - correction)``; ``correction`` is 1 (unbiased)
    by default, 0 with ``unbiased=False``, and may be any number."""
    dim, correction = _var_args(dim, unbiased, correction)
    return Var.apply(input, dims=normalize_dims(dim, input.ndim), correction=correction, keepdim=keepdim)


def std(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """Standard deviation over ``dim`` (the square root of ``var``; unbiased by default)."""
    dim, correction = _var_args(dim, unbiased, correction)
    return Std.apply(input, dims=normalize_dims(dim, input.ndim), correction=correction, keepdim=keepdim)


class Amax(Op):
    """out = max of x over ``dims``; ties share the gradient evenly (PyTorch's amax)"""

    save_output = True
    largest = True

    def forward(self, x):
        self.in_shape = x.shape
        axis = _axis(self.dims, x.ndim)
        reduce = x.max if self.largest else x.min
        if x.size == 0:
            raise ValueError(f"{'amax' if self.largest else 'amin'} of an empty tensor of shape {x.shape}")
        return reduce(axis=axis, keepdims=self.keepdim)

    def backward(self, grad):
        (x,) = self.inputs
        out = _spread(self.output, self.in_shape, self.dims, self.keepdim).data
        hit = x.data == out
        if getattr(self, "nan_hits", False):
            # max()/min() of everything (PyTorch): a NaN result came from the NaN elements, and they share
            # the gradient (nan == nan is False).  amax/amin leave it NaN, as PyTorch's do.
            xp = xp_of(x.data)
            hit |= xp.isnan(x.data) & xp.isnan(out)
        hit = hit.astype(x.dtype)
        count = hit.sum(axis=self.dims, keepdims=True)
        return _spread(grad, self.in_shape, self.dims, self.keepdim) * constant(hit / count)


class Amin(Amax):
    """out = min of x over ``dims``; ties share the gradient evenly"""

    largest = False


def amax(input, dim=None, keepdim=False):
    """Maximum over ``dim`` (int, tuple or None); ties split the gradient."""
    return Amax.apply(input, dims=normalize_dims(dim, input.ndim), keepdim=keepdim)


def amin(input, dim=None, keepdim=False):
    """Minimum over ``dim`` (int, tuple or None); ties split the gradient."""
    return Amin.apply(input, dims=normalize_dims(dim, input.ndim), keepdim=keepdim)


MaxResult = namedtuple("MaxResult", ["values", "indices"])
MaxResult.__doc__ = "``(values, indices)`` returned by ``max(dim)``/``min(dim)``."


def _extreme(input, dim, keepdim, largest):
    if isinstance(dim, Tensor):  # mg.max(a, b) is the elementwise maximum, as in PyTorch
        from .pointwise import maximum, minimum

        return maximum(input, dim) if largest else minimum(input, dim)
    if dim is None:
        return (Amax if largest else Amin).apply(input, dims=normalize_dims(None, input.ndim), keepdim=False,
                                                 nan_hits=True)
    if input.ndim == 0:  # dim 0 or -1 of a 0-d tensor: the element itself, index 0
        normalize_dims(dim, 0)
        return MaxResult(input.clone(), constant(xp_of(input.data).zeros((), dtype="int64")))
    (d,) = normalize_dims(dim, input.ndim)
    arg = input.data.argmax if largest else input.data.argmin
    if input.shape[d] == 0:
        raise ValueError(f"max/min over dim {dim} of size 0 (shape {input.shape})")
    idx = arg(axis=d, keepdims=True)
    values = input.gather(d, constant(idx))  # the gradient goes to the chosen index only
    if not keepdim:
        values = values.squeeze(d)
        idx = idx.squeeze(d)
    return MaxResult(values, constant(idx))


def max(input, dim=None, keepdim=False):
    """``max()``: the largest element; ``max(dim)``: ``(values, indices)`` along ``dim``."""
    return _extreme(input, dim, keepdim, True)


def min(input, dim=None, keepdim=False):
    """``min()``: the smallest element; ``min(dim)``: ``(values, indices)`` along ``dim``."""
    return _extreme(input, dim, keepdim, False)


def _arg_extreme(input, dim, keepdim, name):
    xp = xp_of(input.data)
    if input.data.size == 0 and (dim is None or input.shape[normalize_dims(dim, input.ndim)[0]] == 0):
        raise ValueError(f"{name}: cannot take the {name} of an empty dimension (shape {input.shape})")
    find = input.data.argmax if name == "argmax" else input.data.argmin
    if dim is None:
        out = xp.asarray(find())
        return constant(out.reshape((1,) * input.ndim) if keepdim else out)
    if input.ndim == 0:
        normalize_dims(dim, 0)
        return constant(xp.zeros((), dtype="int64"))
    return constant(find(axis=normalize_dims(dim, input.ndim)[0], keepdims=keepdim))


def argmax(input, dim=None, keepdim=False):
    """Index of the largest element (over the flattened tensor when ``dim`` is None)."""
    return _arg_extreme(input, dim, keepdim, "argmax")


def argmin(input, dim=None, keepdim=False):
    """Index of the smallest element (over the flattened tensor when ``dim`` is None)."""
    return _arg_extreme(input, dim, keepdim, "argmin")


class Logsumexp(Op):
    """out = log(sum(exp(x))) over ``dims``, computed as m + log(sum(exp(x - m))) with m = max x"""

    save_output = True

    def forward(self, x):
        xp = xp_of(x)
        self.in_shape = x.shape
        if x.size == 0:  # log of an empty sum: -inf
            shape = keepdim_shape(x.shape, self.dims) if self.keepdim else \
                tuple(s for i, s in enumerate(x.shape) if i not in self.dims)
            return xp.full(shape, -xp.inf, dtype=x.dtype)
        m = x.max(axis=self.dims, keepdims=True)
        m = xp.where(xp.isfinite(m), m, 0)  # all -inf: avoid inf - inf
        out = xp.log(xp.exp(x - m).sum(axis=self.dims, keepdims=True)) + m
        if self.keepdim:
            return out
        return out.reshape(tuple(s for i, s in enumerate(x.shape) if i not in self.dims))

    def backward(self, grad):
        (x,) = self.inputs
        out = _spread(self.output, self.in_shape, self.dims, self.keepdim)
        return _spread(grad, self.in_shape, self.dims, self.keepdim) * (x - out).exp()


def logsumexp(input, dim, keepdim=False):
    """``log(sum(exp(input)))`` over ``dim`` without overflow."""
    return Logsumexp.apply(input, dims=normalize_dims(dim, input.ndim), keepdim=keepdim)


class Prod(Op):
    """out = product of x over ``dims``"""

    save_output = True

    def forward(self, x):
        self.in_shape = x.shape
        return x.prod(axis=_axis(self.dims, x.ndim), keepdims=self.keepdim)

    def backward(self, grad):
        (x,) = self.inputs
        g = _spread(grad, self.in_shape, self.dims, self.keepdim)
        xp = xp_of(x.data)
        if not (x.data == 0).any():
            return g * _spread(self.output, self.in_shape, self.dims, self.keepdim) / x
        # With zeros, out / x is 0/0: use the product of all the other elements.
        from ..autograd.engine import is_grad_enabled

        if is_grad_enabled():  # create_graph: the same product, built from differentiable ops
            return g * _product_of_others_differentiable(x, self.dims)
        return g * constant(_product_of_others(x.data, self.dims, xp))


def _product_of_others_differentiable(x, dims):
    """``_product_of_others`` as a graph: each group's n values are copied into an n x n matrix
    whose diagonal is set to 1, and each row is multiplied out (n^2 memory per group: only used
    for higher-order gradients through zeros)."""
    from .pointwise import where

    rest = tuple(d for d in range(x.ndim) if d not in dims)
    moved = x.permute(*(rest + dims))
    lead = moved.shape[:len(rest)]
    n = _size(x.shape, dims)
    flat = moved.reshape(lead + (n,))
    square = flat.unsqueeze(-2).expand(*(lead + (n, n)))
    eye = constant(xp_of(x.data).eye(n, dtype=bool))
    others = where(eye, 1.0, square).prod(-1)  # row i: every element but the i-th
    inverse = [0] * x.ndim
    for position, d in enumerate(rest + dims):
        inverse[d] = position
    return others.reshape(moved.shape).permute(*inverse)


def _product_of_others(x, dims, xp):
    """For each element, the product of the other elements in its reduction group."""
    moved = xp.moveaxis(x, dims, tuple(range(x.ndim - len(dims), x.ndim)))
    flat = moved.reshape(moved.shape[: x.ndim - len(dims)] + (-1,))
    ones = xp.ones(flat.shape[:-1] + (1,), dtype=x.dtype)
    before = xp.cumprod(xp.concatenate([ones, flat[..., :-1]], axis=-1), axis=-1)
    after = xp.flip(xp.cumprod(xp.flip(xp.concatenate([flat[..., 1:], ones], axis=-1), -1), axis=-1), -1)
    others = (before * after).reshape(moved.shape)
    return xp.moveaxis(others, tuple(range(x.ndim - len(dims), x.ndim)), dims)


def prod(input, dim=None, keepdim=False, *, dtype=None):
    """Product over ``dim`` (``dtype``: cast the input first)."""
    if dtype is not None:
        input = input.to(dtype)
    return Prod.apply(input, dims=normalize_dims(dim, input.ndim), keepdim=keepdim)


def all_(input, dim=None, keepdim=False):
    """True where every element (over ``dim``) is nonzero (no gradient)."""
    return constant(xp_of(input.data).asarray(input.data.all(axis=None if dim is None else dim, keepdims=keepdim)))


def any_(input, dim=None, keepdim=False):
    """True where some element (over ``dim``) is nonzero (no gradient)."""
    return constant(xp_of(input.data).asarray(input.data.any(axis=None if dim is None else dim, keepdims=keepdim)))


# ----------------------------------------------------------------------------- softmax


class Softmax(Op):
    """out = exp(x - max) / sum(exp(x - max)) along ``dim``"""

    save_output = True

    def forward(self, x):
        xp = xp_of(x)
        e = xp.exp(x - x.max(axis=self.dim, keepdims=True))
        return e / e.sum(axis=self.dim, keepdims=True)

    def backward(self, grad):
        out = self.output
        return out * (grad - (grad * out).sum(self.dim, keepdim=True))


class LogSoftmax(Op):
    """out = x - max - log(sum(exp(x - max))) along ``dim``"""

    save_output = True

    def forward(self, x):
        xp = xp_of(x)
        shifted = x - x.max(axis=self.dim, keepdims=True)
        return shifted - xp.log(xp.exp(shifted).sum(axis=self.dim, keepdims=True))

    def backward(self, grad):
        return grad - self.output.exp() * grad.sum(self.dim, keepdim=True)


def softmax(input, dim, dtype=None):
    """Softmax along ``dim``, stable for any finite input (``dtype``: cast the input first)."""
    if dtype is not None:
        input = input.to(dtype)
    if input.data.size == 0:
        return input.clone()
    return Softmax.apply(input, dim=_one_dim(dim, input.ndim))


def log_softmax(input, dim, dtype=None):
    """Log of the softmax along ``dim``, stable for any finite input (``dtype``: cast the input first)."""
    if dtype is not None:
        input = input.to(dtype)
    if input.data.size == 0:
        return input.clone()
    return LogSoftmax.apply(input, dim=_one_dim(dim, input.ndim))


def _one_dim(dim, ndim):
    """A single axis as an int (None for a 0-d tensor)."""
    dims = normalize_dims(dim, ndim)
    if len(dims) != 1:
        if ndim == 0:
            return None
        raise ValueError(f"expected a single dim, got {dim!r}")
    return dims[0]


# ----------------------------------------------------------------------------- cumulative sums and norms


class Cumsum(Op):
    """out[..., i, ...] = x[..., 0, ...] + ... + x[..., i, ...] along ``dim``;
    backward: the same running sum taken from the other end (a reversed cumsum)."""

    def forward(self, x):
        out = xp_of(x).cumsum(x, axis=self.dim)
        return out.astype("int64") if out.dtype.kind == "b" else out

    def backward(self, grad):
        return grad.flip(self.dim).cumsum(self.dim).flip(self.dim)


def cumsum(input, dim, *, dtype=None):
    """Running sum along ``dim``; same shape as ``input`` (``dtype``: cast the input first)."""
    if dtype is not None:
        input = input.to(dtype)
    d = _one_dim(dim, input.ndim)
    if d is None:  # 0-d: nothing to accumulate
        return input.clone()
    return Cumsum.apply(input, dim=d)


class VectorNorm2(Op):
    """out = sqrt(sum(x^2)) over ``dims``;  d out/dx = x / out (0 where out is 0, as in PyTorch)"""

    save_output = True

    def forward(self, x):
        self.in_shape = x.shape
        xp = xp_of(x)
        return xp.sqrt((x * x).sum(axis=_axis(self.dims, x.ndim), keepdims=self.keepdim))

    def backward(self, grad):
        (x,) = self.inputs
        out = _spread(self.output, self.in_shape, self.dims, self.keepdim)
        g = _spread(grad, self.in_shape, self.dims, self.keepdim)
        from .pointwise import where

        zero = constant(out.data == 0)
        return x * where(zero, 0.0, g / where(zero, 1.0, out))


def norm(input, p=2, dim=None, keepdim=False):
    """Vector p-norm over ``dim`` (all elements when None): ``(sum |x|^p)^(1/p)``.

    ``p`` may be any number (negative too), ``float('inf')`` (largest ``|x|``),
    ``-float('inf')`` (smallest), 0 (count of nonzeros) or ``'fro'`` (= 2).
    The 2-norm's gradient at an all-zero input is 0, as in PyTorch.
    """
    if input.dtype.kind != "f":
        raise TypeError(f"norm: expected a floating-point tensor, got dtype {input.dtype}")
    dims = normalize_dims(dim, input.ndim)
    if p == "fro" or p == 2:
        return VectorNorm2.apply(input, dims=dims, keepdim=keepdim)
    if isinstance(p, str):
        raise ValueError(f"norm: unsupported p={p!r} (use a number, float('inf') or 'fro')")
    p = float(p)
    if p == float("inf"):
        return input.abs().amax(dim=dims, keepdim=keepdim)
    if p == -float("inf"):
        return input.abs().amin(dim=dims, keepdim=keepdim)
    if p == 0:  # the count of nonzeros: piecewise constant, a zero gradient (as PyTorch)
        from .pointwise import stepwise

        return stepwise(input, lambda a: (a != 0).astype(a.dtype)).sum(dim=dims, keepdim=keepdim)
    if p == 1:
        return input.abs().sum(dim=dims, keepdim=keepdim)
    return (input.abs() ** p).sum(dim=dims, keepdim=keepdim) ** (1.0 / p)


# ----------------------------------------------------------------------------- sorting

SortResult = namedtuple("SortResult", ["values", "indices"])
SortResult.__doc__ = "``(values, indices)`` returned by ``sort`` and ``topk``."


def _order(input, dim, descending):
    """Indices that sort ``input`` along ``dim`` (a raw array), stable: equal elements keep their order.
    NaN counts as the largest value, as in PyTorch."""
    xp = xp_of(input.data)
    if not descending:
        return xp.argsort(input.data, axis=dim, kind="stable")
    # Descending and stable: sort the reversed array ascending, read it backwards, map indices back.
    n = input.shape[dim]
    idx = xp.argsort(xp.flip(input.data, axis=dim), axis=dim, kind="stable")
    return (n - 1) - xp.flip(idx, axis=dim)


def sort(input, dim=-1, descending=False, *, stable=False):
    """Sort along ``dim``: ``(values, indices)``; the gradient flows back to where each value came from.

    The sort is always stable (``stable`` is accepted for PyTorch's signature)."""
    if input.ndim == 0:
        return SortResult(input.clone(), constant(xp_of(input.data).zeros((), dtype="int64")))
    (d,) = normalize_dims(dim, input.ndim)
    idx = _order(input, d, descending)
    return SortResult(input.gather(d, constant(idx)), constant(idx))


def argsort(input, dim=-1, descending=False, *, stable=False):
    """Indices that sort ``input`` along ``dim`` (no gradient; always a stable sort)."""
    return sort(input, dim, descending).indices


def topk(input, k, dim=-1, largest=True, sorted=True):
    """The ``k`` largest (``largest=False``: smallest) elements along ``dim``, as ``(values, indices)``,
    in sorted order.  Output shape: ``input``'s with ``dim`` of size ``k``."""
    d = normalize_dims(dim, input.ndim)
    d = d[0] if d else None
    size = input.shape[d] if d is not None else 1
    if not 0 <= int(k) <= size:
        raise ValueError(f"topk: k={k} is out of range for dim {dim} of size {size} (shape {input.shape})")
    if d is None:
        return sort(input)
    idx = _order(input, d, largest)
    idx = xp_of(idx).take(idx, xp_of(idx).arange(int(k)), axis=d)
    return SortResult(input.gather(d, constant(idx)), constant(idx))


# ----------------------------------------------------------------------------- more reductions


class Cumprod(Op):
    """out[..., i, ...] = x[..., 0, ...] * ... * x[..., i, ...] along ``dim``.

    Backward: dL/dx_j = sum_{i >= j} g_i * prod_{k <= i, k != j} x_k.  Written as
    (reversed cumsum of g * out) / x where x has no zeros; with zeros, the same sum is
    built from the product of the elements before j times a running product after it.
    """

    save_output = True

    def forward(self, x):
        out = xp_of(x).cumprod(x, axis=self.dim)
        return out.astype("int64") if out.dtype.kind == "b" else out

    def backward(self, grad):
        (x,) = self.inputs
        d = self.dim
        out = self.output
        if not (x.data == 0).any():
            return (grad * out).flip(d).cumsum(d).flip(d) / x
        return _cumprod_grad_with_zeros(x, grad, d)


def _cumprod_grad_with_zeros(x, grad, d):
    """dL/dx_j = sum_{i >= j} g_i * prod_{k <= i, k != j} x_k, by an n x n mask along ``d`` (small n)."""
    from .pointwise import where

    n = x.shape[d]
    xm = x.movedim(d, -1)  # (..., n)
    gm = grad.movedim(d, -1)
    xp = xp_of(x.data)
    # m[..., j, i] = prod_{k <= i, k != j} x_k: the cumulative product of x with x_j replaced by 1
    eye = constant(xp.eye(n, dtype=bool))
    replaced = where(eye, 1.0, xm.unsqueeze(-2).expand(*(xm.shape[:-1] + (n, n))))  # row j: x with x_j -> 1
    running = replaced.cumprod(-1)  # [..., j, i]
    upper = constant(xp.triu(xp.ones((n, n), dtype=x.dtype)))  # i >= j
    result = (running * upper * gm.unsqueeze(-2)).sum(-1)  # (..., n) indexed by j
    return result.movedim(-1, d)


def cumprod(input, dim, *, dtype=None):
    """Running product along ``dim``; same shape as ``input`` (``dtype``: cast the input first)."""
    if dtype is not None:
        input = input.to(dtype)
    d = _one_dim(dim, input.ndim)
    if d is None:
        return input.clone()
    return Cumprod.apply(input, dim=d)


def nansum(input, dim=None, keepdim=False, *, dtype=None):
    """Sum over ``dim`` counting NaN as zero (its gradient there is zero)."""
    from .pointwise import where

    if dtype is not None:
        input = input.to(dtype)
    if input.dtype.kind == "f":
        input = where(xp_of(input.data).isnan(input.data), 0.0, input)
    return sum(input, dim, keepdim)


def median(input, dim=None, keepdim=False):
    """``median()``: the lower median of all elements; ``median(dim)``: ``(values, indices)`` along ``dim``.

    Of an even count the lower of the two middle values (as PyTorch); NaN counts as the largest
    value unless present, in which case the median is NaN (as PyTorch).  The gradient goes to the
    chosen element."""
    if dim is None:
        flat = input.reshape(-1)
        if flat.shape[0] == 0:
            raise ValueError("median() of an empty tensor")
        values, indices = median(flat, 0)
        return values
    if input.ndim == 0:
        normalize_dims(dim, 0)
        return MaxResult(input.clone(), constant(xp_of(input.data).zeros((), dtype="int64")))
    (d,) = normalize_dims(dim, input.ndim)
    n = input.shape[d]
    if n == 0:
        raise ValueError(f"median over dim {dim} of size 0 (shape {input.shape})")
    xp = xp_of(input.data)
    order = _order(input, d, False)  # NaN sorts last
    k = (n - 1) // 2
    idx = xp.take(order, [k], axis=d)
    if input.dtype.kind == "f":
        # any NaN in a row: the median is NaN, at the first NaN's index
        nan = xp.isnan(input.data)
        has_nan = nan.any(axis=d, keepdims=True)
        first_nan = nan.argmax(axis=d, keepdims=True)
        idx = xp.where(has_nan, first_nan, idx)
    values = input.gather(d, constant(idx))
    if not keepdim:
        values, idx = values.squeeze(d), idx.squeeze(d)
    return MaxResult(values, constant(idx))


def diff(input, n=1, dim=-1, prepend=None, append=None):
    """The ``n``-th forward difference along ``dim`` (``out[i] = x[i + 1] - x[i]``), with ``prepend``
    and ``append`` joined to ``input`` along ``dim`` first."""
    from .shape import cat

    if input.ndim == 0:
        raise ValueError("diff expects a tensor with at least one dimension, got a 0-d tensor")
    (d,) = normalize_dims(dim, input.ndim)
    if int(n) == 0:  # nothing to take: the input itself (prepend/append unused), as PyTorch
        return input
    parts = [t for t in (prepend, input, append) if t is not None]
    if len(parts) > 1:
        from ._common import lift

        parts = [p if isinstance(p, Tensor) else lift(p, input) for p in parts]
        parts = [p.expand(*(input.shape[:d] + (1,) + input.shape[d + 1:])) if p.ndim == 0 else p for p in parts]
        x = cat(parts, d)
    else:
        x = input
    for _ in range(int(n)):
        length = x.shape[d]
        if length == 0:
            break
        hi = x.narrow(d, 1, length - 1)
        lo = x.narrow(d, 0, length - 1)
        x = hi.logical_xor(lo) if x.dtype.kind == "b" else hi - lo
    return x
