"""Indexing: ``x[...]`` reads (differentiable), ``x[...] = v`` writes (in place, no gradient).

Basic indexing (ints, slices, None, ...) gives a view and its backward writes
the gradient into zeros.  Advanced indexing (integer arrays, boolean masks)
may pick the same element twice, so its backward must *add*: a scatter-add,
done without ``np.add.at`` (slow) by sorting rows or by ``np.bincount``.
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import _backend as B
from ..autograd.engine import Op, Tensor, is_grad_enabled
from ._common import constant, normalize_dims, xp_of


def _normalize_index(index, x):
    """Index parts as NumPy/CuPy-ready objects; True when any part is advanced."""
    if not isinstance(index, tuple):
        index = (index,)
    out, advanced = [], False
    xp = xp_of(x.data)
    for part in index:
        if isinstance(part, Tensor):
            part = part.data
        if isinstance(part, (list, range)):
            part = np.asarray(part)
        if isinstance(part, (bool, np.bool_)):
            part = np.asarray(part)
        if isinstance(part, np.ndarray) or B.is_cupy_array(part):
            if part.dtype.kind not in "iub":
                raise IndexError(f"tensors used as indices must be integer or boolean, got dtype {part.dtype}")
            advanced = True
            part = B.to_device(part, x.device) if xp is not np or type(part) is not np.ndarray else part
        elif isinstance(part, numbers.Integral):
            part = int(part)
        elif not (part is None or part is Ellipsis or isinstance(part, slice)):
            raise IndexError(f"unsupported index {part!r} of type {type(part).__name__}")
        out.append(part)
    return tuple(out), advanced


class Index(Op):
    """out = x[index] for basic indices (ints, slices, None, ...): a view."""

    is_view = True

    def forward(self, x):
        self.in_shape, self.dtype = x.shape, x.dtype
        return x[self.index]

    def backward(self, grad):
        return IndexPut.apply(grad, index=self.index, shape=self.in_shape)


class IndexPut(Op):
    """out = zeros(shape) with out[index] = g (basic indices never repeat an element)."""

    def forward(self, g):
        out = xp_of(g).zeros(self.shape, dtype=g.dtype)
        out[self.index] = g
        return out

    def backward(self, grad):
        return Index.apply(grad, index=self.index)


class AdvancedIndex(Op):
    """out = x[index] with integer arrays or boolean masks (a copy)."""

    def forward(self, x):
        self.in_shape = x.shape
        return x[self.index]

    def backward(self, grad):
        return IndexAdd.apply(grad, index=self.index, shape=self.in_shape)


class IndexAdd(Op):
    """out = zeros(shape) with g added at x[index]; repeated indices accumulate."""

    def forward(self, g):
        xp = xp_of(g)
        shape, index = self.shape, self.index
        if xp is not np:
            import cupyx  # noqa: PLC0415 - CuPy only

            out = xp.zeros(shape, dtype=g.dtype)
            cupyx.scatter_add(out, index, g)
            return out
        rows = _leading_rows(index, shape)
        if rows is not None:  # x[idx] or x[idx, :, ...]: sum gradient rows per index
            rows = np.where(rows < 0, rows + shape[0], rows).ravel()
            return B.scatter_add_rows(shape[0], rows, g.reshape((rows.size,) + tuple(shape[1:])))
        if len(index) == 1 and index[0].dtype == np.bool_:  # a mask selects each element once
            out = np.zeros(shape, dtype=g.dtype)
            out[index] = g
            return out
        positions = np.arange(_numel(shape)).reshape(shape)[index]
        summed = np.bincount(positions.ravel(), weights=g.ravel(), minlength=_numel(shape))
        return summed.astype(g.dtype, copy=False).reshape(shape)

    def backward(self, grad):
        return AdvancedIndex.apply(grad, index=self.index)


def _leading_rows(index, shape):
    """The integer array when ``index`` picks whole rows of axis 0, else None."""
    first = index[0]
    if not (isinstance(first, np.ndarray) and first.dtype.kind in "iu"):
        return None
    if all(isinstance(p, slice) and p == slice(None) for p in index[1:]) or (len(index) == 2 and index[1] is Ellipsis):
        return first
    return None


def _numel(shape):
    n = 1
    for s in shape:
        n *= s
    return n


def getitem(input, index):
    """``input[index]``: ints, slices, None, ``...``, integer arrays/tensors and boolean masks."""
    index, advanced = _normalize_index(index, input)
    op = AdvancedIndex if advanced else Index
    try:
        return op.apply(input, index=index)
    except IndexError as e:
        raise IndexError(f"index {_describe(index)} is out of range for a tensor of shape {input.shape}: "
                         f"{str(e).split(': ', 1)[-1]}") from None


def _describe(index):
    parts = []
    for p in index:
        if hasattr(p, "shape") and hasattr(p, "dtype"):
            parts.append(f"<{p.dtype} array {tuple(p.shape)}>")
        else:
            parts.append(repr(p))
    return "[" + ", ".join(parts) + "]"


def setitem(input, index, value):
    """``input[index] = value`` in place.  Not recorded: only for tensors that need no gradient."""
    if is_grad_enabled() and input.requires_grad:
        raise RuntimeError(
            f"in-place assignment to a tensor of shape {input.shape} that requires grad: minigrad does not "
            "record in-place ops. Build the result out of place (mg.cat, mg.stack, mg.where), or assign "
            "under mg.no_grad()"
        )
    index, _ = _normalize_index(index, input)
    if isinstance(value, Tensor):
        value = value.data
    if isinstance(value, np.ndarray) or B.is_cupy_array(value):
        value = B.to_device(value, input.device)  # as in PyTorch, the value is copied across devices
    elif isinstance(value, (list, tuple)) and xp_of(input.data) is not np:
        value = B.to_device(np.asarray(value, dtype=input.dtype), input.device)
    try:
        input.data[index] = value
    except (ValueError, IndexError) as e:
        shape = getattr(value, "shape", ())
        raise type(e)(f"cannot assign a value of shape {tuple(shape)} to index {_describe(index)} of a tensor "
                      f"of shape {input.shape}: {e}") from None
    input._bump_version()


def gather(input, dim, index):
    """``out[i][j] = input[i][index[i][j]]`` for ``dim=1`` (PyTorch's gather; any dim)."""
    idx = index.data if isinstance(index, Tensor) else xp_of(input.data).asarray(index)
    if input.ndim == 0:  # a 0-d input: the index (0-d or of one element) can only pick the element
        normalize_dims(dim, 0)
        if idx.size and (idx.reshape(-1) != 0).any() and (idx.reshape(-1) != -1).any():
            raise IndexError(f"gather: index {idx.reshape(-1).tolist()} is out of range for a 0-d input")
        return input.expand(*idx.shape).clone() if idx.ndim else input.clone()
    if idx.size == 0:  # PyTorch allows any empty index: an empty result of the index's shape
        normalize_dims(dim, input.ndim)
        return input.reshape(-1)[:0].reshape(idx.shape)
    d = normalize_dims(dim, input.ndim)[0]
    if idx.ndim != input.ndim:
        raise ValueError(f"gather: index has {idx.ndim} dims but input has shape {input.shape}")
    for k, (i, s) in enumerate(zip(idx.shape, input.shape)):
        if k != d and i > s:
            raise ValueError(f"gather: index shape {idx.shape} is larger than input shape {input.shape} in dim {k}")
    xp = xp_of(input.data)
    parts = []
    for k in range(input.ndim):
        if k == d:
            parts.append(idx)
        else:
            shape = [1] * input.ndim
            shape[k] = idx.shape[k]
            parts.append(xp.arange(idx.shape[k]).reshape(shape))
    return getitem(input, tuple(parts))


def index_select(input, dim, index):
    """The entries of ``index`` (1-D, or 0-d) along ``dim``."""
    if input.ndim == 0:  # the index must be 0 (or -1): the result is the 0-d input
        normalize_dims(dim, 0)
        idx = index.data if isinstance(index, Tensor) else np.asarray(index)
        if idx.size != 1 or int(idx.reshape(-1)[0]) not in (0, -1):
            raise IndexError(f"index_select: index {idx.tolist()} is out of range for a 0-d input")
        return input.clone()
    d = normalize_dims(dim, input.ndim)[0]
    return getitem(input, (slice(None),) * d + (index,))


def scatter_add_flat(values, positions, size):
    """A length-``size`` tensor with ``values[k]`` added at ``positions[k]`` (differentiable in values)."""
    return IndexAdd.apply(values.reshape(-1), index=(positions.reshape(-1),), shape=(size,))


# ----------------------------------------------------------------------------- scatter and friends


def _scatter_positions(input_shape, dim, idx, xp):
    """Flat positions in ``input_shape`` of ``out[..., idx[i][j], ...]`` for every entry of ``idx``
    (PyTorch's scatter addressing: ``dim`` from ``idx``, every other dim from the entry's own position)."""
    nd = len(input_shape)
    parts = [idx if k == dim else xp.arange(idx.shape[k]).reshape((1,) * k + (-1,) + (1,) * (nd - k - 1))
             for k in range(nd)]
    return xp.ravel_multi_index(tuple(xp.broadcast_arrays(*parts)), input_shape, mode="raise")


def _check_scatter(fn, input, dim, idx, src_shape):
    if idx.dtype.kind not in "iu":
        raise TypeError(f"{fn}: index must be an integer tensor, got dtype {idx.dtype}")
    if idx.ndim != input.ndim:
        raise ValueError(f"{fn}: index has {idx.ndim} dims but input has shape {input.shape}")
    if len(src_shape) != idx.ndim:
        raise ValueError(f"{fn}: src of shape {tuple(src_shape)} must have as many dims as index {idx.shape}")
    for k, i in enumerate(idx.shape):
        if (k != dim and i > input.shape[k]) or i > src_shape[k]:
            raise ValueError(f"{fn}: index shape {idx.shape} must fit in src shape {src_shape} and, except in "
                             f"dim {dim}, in input shape {input.shape}")
    if idx.size and ((idx < -input.shape[dim]).any() or (idx >= input.shape[dim]).any()):
        raise IndexError(f"{fn}: index out of range for dim {dim} of size {input.shape[dim]}")
    return idx % max(input.shape[dim], 1)


class Scatter(Op):
    """out = input, then out[positions] = src_used (the last write wins on repeats, as NumPy);
    d/dinput = g with the overwritten positions zeroed, d/dsrc = g at the positions."""

    def forward(self, x, src):
        out = x.copy()
        used = src[tuple(slice(0, n) for n in self.index_shape)]
        out.reshape(-1)[self.positions.reshape(-1)] = used.reshape(-1)
        self.src_shape = src.shape
        return out

    def backward(self, grad):
        need_x, need_src = self.needs_input_grad
        xp = xp_of(grad.data)
        g_x = g_src = None
        if need_x:
            keep = xp.ones(grad.shape, dtype=bool)
            keep.reshape(-1)[self.positions.reshape(-1)] = False
            g_x = grad * constant(keep.astype(grad.dtype))
        if need_src:
            picked = grad.reshape(-1)[self.positions]
            pad = [(0, s - n) for s, n in zip(self.src_shape, self.index_shape)]
            g_src = picked if all(p == (0, 0) for p in pad) else _zero_pad(picked, pad)
        return g_x, g_src


def _zero_pad(t, widths):
    from .shape import pad as _pad

    flat = []
    for lo, hi in reversed(widths):
        flat += [lo, hi]
    return _pad(t, flat)


def _scatter_src(input, src, idx_shape):
    from ._common import lift

    if isinstance(src, Tensor):
        if src.dtype != input.dtype:
            raise TypeError(f"scatter: src dtype {src.dtype} differs from input dtype {input.dtype}")
        return src
    value = lift(src, input)
    if value.dtype != input.dtype:
        value = constant(value.data.astype(input.dtype))
    return value.expand(*idx_shape)


def _scatter(fn, apply, input, dim, index, src, reduce=None):
    """Check and lay out a scatter; ``apply(input, src, positions, index_shape)`` makes the result."""
    if reduce is not None:
        raise ValueError(f"{fn}: reduce={reduce!r} is not supported; use scatter_add or scatter_reduce")
    (d,) = normalize_dims(dim, input.ndim) if input.ndim else (0,)
    idx = index.data if isinstance(index, Tensor) else xp_of(input.data).asarray(index)
    if input.ndim == 0:
        idx = idx.reshape(())
    src = _scatter_src(input, src, idx.shape)
    if input.ndim == 0:  # a 0-d input: index must be 0
        if idx.size and int(idx) not in (0, -1):
            raise IndexError(f"{fn}: index {int(idx)} is out of range for a 0-d input")
        shaped_input, shaped_src, idx = input.reshape(1), src.reshape(-1)[:1] if src.ndim else src.reshape(1), \
            idx.reshape(1) * 0
        out = _scatter(fn, apply, shaped_input, 0, constant(idx), shaped_src)
        return out.reshape(())
    idx = _check_scatter(fn, input, d, idx, src.shape)
    xp = xp_of(input.data)
    positions = _scatter_positions(input.shape, d, idx, xp)
    return apply(input, src, positions=positions, index_shape=idx.shape)


def _scatter_add_op(input, src, positions, index_shape):
    """input + (src's leading block summed into ``positions``): IndexAdd does the adding."""
    used = src[tuple(slice(0, n) for n in index_shape)] if tuple(src.shape) != tuple(index_shape) else src
    if used.data.size == 0:
        return input.clone()
    added = scatter_add_flat(used, positions, input.data.size).reshape(input.shape)
    return input + added


def scatter_add(input, dim, index, src):
    """``out = input`` with ``out[i][index[i][j]] += src[i][j]`` for ``dim=1`` (any dim); repeated
    indices add up.  Differentiable in ``input`` and ``src``."""
    return _scatter("scatter_add", _scatter_add_op, input, dim, index, src)


def scatter(input, dim, index, src=None, *, value=None, reduce=None):
    """``out = input`` with ``out[i][index[i][j]] = src[i][j]`` for ``dim=1`` (any dim); ``src`` may be a
    number (or give ``value=``).  With repeated indices the result is undefined in PyTorch; here the
    last write wins."""
    if src is None:
        src = value
    if src is None:
        raise TypeError("scatter: give src (a tensor or a number) or value=")
    return _scatter("scatter", Scatter.apply, input, dim, index, src, reduce)


def index_add(input, dim, index, source, *, alpha=1):
    """``out = input`` with ``source``'s slices added at ``index`` (1-D) along ``dim``, times ``alpha``:
    ``out[index[i]] += alpha * source[i]`` for ``dim=0``.  Repeated indices add up."""
    idx = index.data if isinstance(index, Tensor) else xp_of(input.data).asarray(index)
    if input.ndim == 0:
        return scatter_add(input, dim, constant(idx.reshape(())), source.reshape(()) * alpha)
    (d,) = normalize_dims(dim, input.ndim)
    idx = idx.reshape(-1)
    src_nd = source.reshape(source.shape + (1,) * (input.ndim - source.ndim)) if source.ndim < input.ndim \
        else source
    if src_nd.ndim != input.ndim or src_nd.shape[d] != idx.shape[0] or any(
            a != b for k, (a, b) in enumerate(zip(src_nd.shape, input.shape)) if k != d):
        raise ValueError(f"index_add: source of shape {source.shape} does not fit input {input.shape} with "
                         f"{idx.shape[0]} indices along dim {dim}")
    shape = [1] * input.ndim
    shape[d] = idx.shape[0]
    full_idx = xp_of(input.data).broadcast_to(idx.reshape(shape), src_nd.shape)
    return scatter_add(input, d, constant(full_idx), src_nd * alpha if alpha != 1 else src_nd)


def masked_select(input, mask):
    """The elements of ``input`` where ``mask`` (broadcast with it) is true, as a 1-D tensor."""
    from .shape import broadcast_shapes, broadcast_to

    m = mask.data if isinstance(mask, Tensor) else xp_of(input.data).asarray(mask)
    if m.dtype != np.bool_:
        raise TypeError(f"masked_select: mask must be a bool tensor, got dtype {m.dtype}")
    shape = broadcast_shapes(input.shape, m.shape)
    x = broadcast_to(input, shape)
    m = xp_of(m).broadcast_to(m, shape)
    return getitem(x, (m,)) if shape else getitem(x.reshape(1), (m.reshape(1),))


def nonzero(input, *, as_tuple=False):
    """Indices of the nonzero elements: a (count, ndim) int64 tensor, or one 1-D tensor per dim with
    ``as_tuple=True`` (no gradient)."""
    xp = xp_of(input.data)
    data = input.data if input.ndim else input.data.reshape(1)
    found = xp.nonzero(data)
    if as_tuple:
        return tuple(Tensor(f.astype("int64")) for f in found) if input.ndim else (Tensor(found[0].astype("int64")),)
    stacked = xp.stack(found, axis=1).astype("int64") if input.ndim else xp.zeros((len(found[0]), 0), dtype="int64")
    return constant(stacked)
