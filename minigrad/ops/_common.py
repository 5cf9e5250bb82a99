"""Helpers shared by the op modules: lifting numbers to tensors, the operands of binary ops, dims."""
from __future__ import annotations

import numbers

import numpy as np

from .. import _backend as B
from ..autograd.engine import Tensor, _wrap

xp_of = B.xp_of


def lift(value, like: Tensor) -> Tensor:
    """Turn a number or array met in arithmetic with ``like`` into a constant tensor.

    Python (and NumPy) numbers take the tensor's dtype, as in PyTorch, so that
    ``x * 0.5`` stays float32; a float with an integer tensor gives float32.
    """
    if isinstance(value, Tensor):
        return value
    dtype = like.data.dtype
    if type(value) is float and dtype.kind == "f":  # the common case: x * 0.5
        return _wrap(xp_of(like.data).asarray(value, dtype=dtype), None, 0)
    if isinstance(value, (bool, np.bool_)):
        pass
    elif isinstance(value, numbers.Integral):
        if dtype.kind == "b":
            dtype = B.DEFAULT_INT
    elif isinstance(value, numbers.Real):
        if dtype.kind != "f":
            dtype = B.DEFAULT_FLOAT
    elif isinstance(value, (np.ndarray, list, tuple)) or B.is_cupy_array(value):
        arr = np.asarray(value) if isinstance(value, (list, tuple)) else value
        if isinstance(value, (list, tuple)) and arr.dtype.kind == "f":
            arr = arr.astype(dtype if dtype.kind == "f" else B.DEFAULT_FLOAT)
        return _wrap(B.to_device(arr, like.device), None, 0)
    else:
        raise TypeError(f"cannot combine a tensor with {type(value).__name__}")
    return _wrap(xp_of(like.data).asarray(value, dtype=dtype), None, 0)


def operands(input, other):
    """The two operands of a binary op as tensors (one of them may be a number), promoted as PyTorch does.

    add, sub, mul and div call this only off their fast path (two plain tensors of one dtype):
    for a number, an array, a Tensor subclass (a Parameter) or two dtypes."""
    if isinstance(input, Tensor):
        if isinstance(other, Tensor):
            pass
        elif type(other) is float and input.data.dtype.kind == "f":  # x * 0.5: lift's common case, inlined
            return input, _wrap(xp_of(input.data).asarray(other, dtype=input.data.dtype), None, 0)
        else:
            other = lift(other, input)
    elif isinstance(other, Tensor):
        input = lift(input, other)
    else:
        raise TypeError(f"expected a tensor, got {type(input).__name__} and {type(other).__name__}")
    if input.data.dtype != other.data.dtype:
        input, other = promote(input, other)
    return input, other


_CATEGORY = {"b": 0, "u": 1, "i": 1, "f": 2, "c": 3}


def promote(a, b):
    """Two operands of different dtypes brought to PyTorch's result dtype, where NumPy's would differ.

    * Different categories (bool < integer < floating < complex): the higher category's operand gives
      the dtype, whatever the shapes (int64 * float32 is float32, and an integer tensor times a Python
      float is float32); NumPy would widen to float64.
    * Same category: a 0-d tensor does not widen a tensor with dimensions (float32 * 0-d float64 is
      float32); NumPy would widen it.  Otherwise NumPy's rule (float32 + float64 is float64) is PyTorch's.
    """
    ca, cb = _CATEGORY[a.data.dtype.kind], _CATEGORY[b.data.dtype.kind]
    if ca != cb:
        return (a.to(b.data.dtype), b) if ca < cb else (a, b.to(a.data.dtype))
    if (a.data.ndim == 0) == (b.data.ndim == 0):
        return a, b
    return (a.to(b.data.dtype), b) if a.data.ndim == 0 else (a, b.to(a.data.dtype))


def reflected(fn):
    """``fn`` with its operands swapped, for a number on the left: ``2 - x`` is ``x.__rsub__(2)``."""

    def method(self, other):
        return fn(lift(other, self), self)

    method.__name__ = method.__qualname__ = f"reflected_{fn.__name__}"
    method.__doc__ = f"``other {fn.__name__} self`` with a number or array on the left."
    method.__wrapped__ = fn
    return method


def constant(array) -> Tensor:
    """A tensor that is not part of the graph (masks, indices, zeros)."""
    return _wrap(array, None, 0)


def normalize_dims(dim, ndim):
    """``dim`` (None, int or tuple) as a sorted tuple of non-negative axes."""
    if dim is None:
        return tuple(range(ndim))
    dims = (dim,) if isinstance(dim, numbers.Integral) else tuple(dim)
    out = []
    for d in dims:
        d = int(d)
        if not -max(ndim, 1) <= d < max(ndim, 1):
            raise IndexError(f"dim {d} is out of range for a tensor with {ndim} dimensions")
        if ndim:  # a 0-d tensor accepts dim 0 or -1 and has nothing to reduce
            out.append(d % ndim)
    return tuple(sorted(set(out)))


def keepdim_shape(shape, dims):
    """``shape`` with the reduced ``dims`` set to 1."""
    return tuple(1 if i in dims else s for i, s in enumerate(shape))
