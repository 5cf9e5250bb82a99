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
from ._common import normalize_dims, tensor_method, xp_of


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


Tensor.__getitem__ = getitem


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


Tensor.__setitem__ = setitem


@tensor_method()
def gather(input, dim, index):
    """``out[i][j] = input[i][index[i][j]]`` for ``dim=1`` (PyTorch's gather; any dim)."""
    idx = index.data if isinstance(index, Tensor) else xp_of(input.data).asarray(index)
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


@tensor_method()
def index_select(input, dim, index):
    """The entries of ``index`` (1-D) along ``dim``."""
    d = normalize_dims(dim, input.ndim)[0]
    return getitem(input, (slice(None),) * d + (index,))


def scatter_add_flat(values, positions, size):
    """A length-``size`` tensor with ``values[k]`` added at ``positions[k]`` (differentiable in values)."""
    return IndexAdd.apply(values.reshape(-1), index=(positions.reshape(-1),), shape=(size,))
