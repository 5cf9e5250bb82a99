"""Making tensors: ``mg.tensor`` and the factories (``zeros``, ``randn``, ...).

Dtype rules follow PyTorch: Python floats give float32, Python ints give
int64, bools give bool; a NumPy array keeps its dtype.
"""
from __future__ import annotations

import numbers

import numpy as np

from . import _backend as B
from .autograd.engine import Tensor, _wrap
from .autograd.tensor_data import _infer_python_dtype, to_array as _to_array


def tensor(data, dtype=None, device="cpu", requires_grad=False):
    """A new leaf tensor holding a copy of ``data`` (number, nested list, array or tensor).

    Python floats become float32 and ints int64; NumPy arrays keep their dtype.
    """
    if isinstance(data, Tensor):
        data = data.data
    arr = _to_array(data, dtype, device)
    if isinstance(data, np.ndarray) or B.is_cupy_array(data):
        if arr is data:
            arr = arr.copy()
    return Tensor(arr, requires_grad=requires_grad)


def as_tensor(data, dtype=None, device=None):
    """Like :func:`tensor` but shares memory with a NumPy/CuPy array when it can."""
    if isinstance(data, Tensor) and dtype is None and device is None:
        return data
    return Tensor(_to_array(data, dtype, device))


def from_numpy(array):
    """A tensor sharing memory with a NumPy array."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy expects a numpy.ndarray, got {type(array).__name__}")
    return Tensor(array)


def _shape(size):
    """Accept ``f(2, 3)``, ``f((2, 3))`` and ``f([2, 3])``."""
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    shape = []
    for s in size:
        if isinstance(s, Tensor):
            s = s.item()
        if not isinstance(s, numbers.Integral):
            raise TypeError(f"sizes must be ints, got {s!r} in {tuple(size)}")
        if s < 0:
            raise ValueError(f"negative dimension {s} in size {tuple(size)}")
        shape.append(int(s))
    return tuple(shape)


def _finish(array, requires_grad):
    t = _wrap(array, None, 0)
    if requires_grad:
        t.requires_grad_(True)
    return t


def _float_dtype(dtype):
    return B.DEFAULT_FLOAT if dtype is None else B.to_dtype(dtype)


def zeros(*size, dtype=None, device="cpu", requires_grad=False):
    """A tensor of zeros of the given shape (float32 unless ``dtype``)."""
    xp = B.module_for_device(device)
    with _on(device):
        return _finish(xp.zeros(_shape(size), dtype=_float_dtype(dtype)), requires_grad)


def ones(*size, dtype=None, device="cpu", requires_grad=False):
    """A tensor of ones of the given shape."""
    xp = B.module_for_device(device)
    with _on(device):
        return _finish(xp.ones(_shape(size), dtype=_float_dtype(dtype)), requires_grad)


def empty(*size, dtype=None, device="cpu", requires_grad=False):
    """An uninitialised tensor (minigrad fills it with zeros, so it is never garbage)."""
    return zeros(*size, dtype=dtype, device=device, requires_grad=requires_grad)


def full(size, fill_value, dtype=None, device="cpu", requires_grad=False):
    """A tensor filled with ``fill_value``; the dtype follows the value (float -> float32)."""
    if dtype is None:
        dtype = _infer_python_dtype(fill_value)
    xp = B.module_for_device(device)
    shape = _shape((size,)) if isinstance(size, (tuple, list)) else _shape((size,))
    with _on(device):
        return _finish(xp.full(shape, fill_value, dtype=B.to_dtype(dtype)), requires_grad)


def eye(n, m=None, dtype=None, device="cpu", requires_grad=False):
    """The ``n x m`` identity matrix."""
    xp = B.module_for_device(device)
    with _on(device):
        return _finish(xp.eye(n, m, dtype=_float_dtype(dtype)), requires_grad)


def arange(start, end=None, step=1, dtype=None, device="cpu", requires_grad=False):
    """Values from ``start`` to ``end`` (exclusive) by ``step``; int64 for ints, float32 for floats."""
    if end is None:
        start, end = 0, start
    if dtype is None:
        dtype = B.DEFAULT_INT if all(isinstance(v, numbers.Integral) for v in (start, end, step)) else B.DEFAULT_FLOAT
    xp = B.module_for_device(device)
    with _on(device):
        return _finish(xp.arange(start, end, step, dtype=B.to_dtype(dtype)), requires_grad)


def linspace(start, end, steps, dtype=None, device="cpu", requires_grad=False):
    """``steps`` evenly spaced values from ``start`` to ``end`` inclusive (numbers or 0-d tensors)."""
    start, end, steps = (v.item() if isinstance(v, Tensor) else v for v in (start, end, steps))
    xp = B.module_for_device(device)
    with _on(device):
        return _finish(xp.linspace(start, end, steps, dtype=_float_dtype(dtype)), requires_grad)


def rand(*size, dtype=None, device="cpu", requires_grad=False):
    """Uniform samples from [0, 1)."""
    arr = B.random_module(device).random(_shape(size))
    return _finish(arr.astype(_float_dtype(dtype), copy=False), requires_grad)


def randn(*size, dtype=None, device="cpu", requires_grad=False):
    """Standard normal samples."""
    arr = B.random_module(device).standard_normal(_shape(size))
    return _finish(arr.astype(_float_dtype(dtype), copy=False), requires_grad)


def randint(low, high=None, size=None, dtype=None, device="cpu"):
    """Random integers from ``low`` to ``high`` (exclusive); ``randint(high, size)`` also works."""
    if size is None:
        if high is None or not isinstance(high, (tuple, list)):
            raise TypeError("randint needs a size, e.g. mg.randint(0, 10, (3, 4))")
        low, high, size = 0, low, high
    elif high is None:
        low, high = 0, low
    shape = _shape((size,))
    dtype = B.DEFAULT_INT if dtype is None else B.to_dtype(dtype)
    kind, _ = B.parse_device(device)
    gen = B.random_module(device)
    arr = gen.integers(low, high, shape) if kind == "cpu" else gen.randint(low, high, shape)
    return _finish(arr.astype(dtype, copy=False), False)


def randperm(n, device="cpu"):
    """A random permutation of ``0..n-1`` (int64)."""
    kind, _ = B.parse_device(device)
    arr = B.rng().permutation(n) if kind == "cpu" else B.random_module(device).permutation(n)
    return _finish(arr.astype(np.int64), False)


def _like(t, dtype, device):
    return (t.dtype if dtype is None else B.to_dtype(dtype)), (t.device if device is None else device)


def zeros_like(input, dtype=None, device=None, requires_grad=False):
    """Zeros with ``input``'s shape (and its dtype and device unless given)."""
    dtype, device = _like(input, dtype, device)
    return zeros(input.shape, dtype=dtype, device=device, requires_grad=requires_grad)


def ones_like(input, dtype=None, device=None, requires_grad=False):
    """Ones with ``input``'s shape (and its dtype and device unless given)."""
    dtype, device = _like(input, dtype, device)
    return ones(input.shape, dtype=dtype, device=device, requires_grad=requires_grad)


def empty_like(input, dtype=None, device=None, requires_grad=False):
    """An uninitialised (zero-filled) tensor with ``input``'s shape, dtype and device."""
    return zeros_like(input, dtype=dtype, device=device, requires_grad=requires_grad)


def full_like(input, fill_value, dtype=None, device=None, requires_grad=False):
    """``fill_value`` everywhere, with ``input``'s shape (and its dtype and device unless given)."""
    dtype, device = _like(input, dtype, device)
    return full(input.shape, fill_value, dtype=dtype, device=device, requires_grad=requires_grad)


def rand_like(input, dtype=None, device=None, requires_grad=False):
    """Uniform [0, 1) values with ``input``'s shape, dtype and device."""
    dtype, device = _like(input, dtype, device)
    return rand(input.shape, dtype=dtype, device=device, requires_grad=requires_grad)


def randn_like(input, dtype=None, device=None, requires_grad=False):
    """Standard normal values with ``input``'s shape, dtype and device."""
    dtype, device = _like(input, dtype, device)
    return randn(input.shape, dtype=dtype, device=device, requires_grad=requires_grad)


def randint_like(input, low, high=None, dtype=None, device=None):
    """Random integers in ``[low, high)`` with ``input``'s shape, dtype and device."""
    dtype, device = _like(input, dtype, device)
    return randint(low, high, input.shape, dtype=dtype, device=device)


class _on:
    """Make CuPy allocate on the requested GPU (a no-op on the CPU)."""

    def __init__(self, device):
        kind, idx = B.parse_device(device)
        self.ctx = B.cupy().cuda.Device(idx) if kind == "cuda" else None

    def __enter__(self):
        if self.ctx is not None:
            self.ctx.__enter__()

    def __exit__(self, *exc):
        if self.ctx is not None:
            self.ctx.__exit__(*exc)
        return False


# Tensor.new_*: factories that take the dtype and device of an existing tensor (as in PyTorch).
def _new_factory(make, doc):
    def method(self, *args, dtype=None, device=None, requires_grad=False):
        dtype, device = _like(self, dtype, device)
        return make(*args, dtype=dtype, device=device, requires_grad=requires_grad)

    method.__name__ = method.__qualname__ = f"new_{make.__name__}"
    method.__doc__ = doc
    return method


new_zeros = _new_factory(zeros, "``new_zeros(*size)``: zeros with this tensor's dtype and device.")
new_ones = _new_factory(ones, "``new_ones(*size)``: ones with this tensor's dtype and device.")
new_empty = _new_factory(empty, "``new_empty(*size)``: a zero-filled tensor with this tensor's dtype and device.")
new_full = _new_factory(full, "``new_full(size, fill_value)``: ``fill_value`` with this tensor's dtype and device.")
new_tensor = _new_factory(tensor, "``new_tensor(data)``: a new tensor from ``data`` with this tensor's dtype and device.")
