"""Helpers shared by the op modules: attaching methods to Tensor, lifting numbers."""
from __future__ import annotations

import numbers

import numpy as np

from .. import _backend as B
from ..autograd.engine import Tensor, _wrap

xp_of = B.xp_of


def tensor_method(*names):
    """Also make the decorated function a Tensor method under ``names`` (its own name if none)."""

    def attach(fn):
        for name in names or (fn.__name__,):
            setattr(Tensor, name, fn)
        return fn

    return attach


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


def pair(a, b):
    """Both operands of a binary op as tensors (one of them may be a number)."""
    if isinstance(a, Tensor):
        return a, (b if isinstance(b, Tensor) else lift(b, a))
    if isinstance(b, Tensor):
        return lift(a, b), b
    raise TypeError(f"expected a tensor, got {type(a).__name__} and {type(b).__name__}")


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
