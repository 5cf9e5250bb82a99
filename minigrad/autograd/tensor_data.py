"""What a tensor is apart from autograd: an array with a shape, a dtype and a device.

:class:`TensorData` is the base of :class:`minigrad.Tensor`: the attributes and conversions that only
read ``self.data``.  ``to_array`` turns what users pass (numbers, nested lists, arrays, tensors) into
the NumPy/CuPy array a tensor holds.
"""
from __future__ import annotations

import numpy as np

from .. import _backend as B


def _infer_python_dtype(data):
    """float32 for float data, int64 for ints, bool for bools (PyTorch's defaults)."""
    arr = np.asarray(data)
    if arr.dtype.kind == "f":
        return B.DEFAULT_FLOAT
    if arr.dtype.kind in "iu":
        return B.DEFAULT_INT
    if arr.dtype.kind == "b":
        return np.dtype(np.bool_)
    if arr.dtype.kind == "O" and arr.size:
        raise TypeError(f"cannot make a tensor from {type(data).__name__} holding {type(arr.flat[0]).__name__}")
    return arr.dtype


def to_array(data, dtype=None, device=None):
    """Turn ``data`` into a NumPy/CuPy array of ``dtype`` on ``device``."""
    dtype = B.to_dtype(dtype)
    if isinstance(data, TensorData):
        data = data.data
    if isinstance(data, np.ndarray) or B.is_cupy_array(data):
        arr = data if dtype is None or data.dtype == dtype else data.astype(dtype)
    elif isinstance(data, np.generic):
        arr = np.asarray(data, dtype=dtype)
    else:
        if isinstance(data, (list, tuple)) and data and isinstance(data[0], TensorData):
            data = [d.item() if d.ndim == 0 else d.tolist() for d in data]
        try:
            arr = np.asarray(data, dtype=dtype if dtype is not None else _infer_python_dtype(data))
        except ValueError as e:
            raise ValueError(f"cannot make a tensor from this data (ragged nesting?): {e}") from None
    if device is None:
        if type(arr) is not np.ndarray and not isinstance(arr, np.ndarray):
            if B.is_cupy_array(arr) and arr.device.id != 0:
                raise B.DeviceError(B.one_gpu_message(f"a CuPy array on cuda:{arr.device.id}"))
            return arr
        return np.asarray(arr)
    return B.to_device(arr, device)


class TensorData:
    """Shape, dtype, device and conversions of a tensor: everything that reads only ``self.data``."""

    __slots__ = ()

    @property
    def shape(self):
        return self.data.shape

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def device(self):
        return B.device_of(self.data)

    @property
    def is_cuda(self):
        return type(self.data) is not np.ndarray

    def size(self, dim=None):
        """The shape (``dim`` given: one dimension's length)."""
        return self.data.shape if dim is None else self.data.shape[dim]

    def dim(self):
        return self.data.ndim

    def numel(self):
        return int(self.data.size)

    def __len__(self):
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.data.shape[0]

    # -- conversion ------------------------------------------------------------
    def item(self):
        """The value of a one-element tensor as a Python number."""
        if self.data.size != 1:
            raise ValueError(f"item() needs a tensor with one element, got shape {self.shape}")
        return self.data.reshape(()).item()

    def tolist(self):
        return self.data.tolist()

    def numpy(self):
        """The data as a NumPy array (CPU tensors only; shares memory, like PyTorch)."""
        if self.requires_grad:
            raise RuntimeError("numpy() on a tensor that requires grad: use tensor.detach().numpy()")
        if not B.is_numpy(self.data):
            raise B.DeviceError(f"numpy() on a tensor on {self.device}: call .cpu() first")
        return self.data

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __bool__(self):
        if self.data.size != 1:
            raise ValueError(
                f"the truth value of a tensor with {self.data.size} elements is ambiguous; use .any() or .all()"
            )
        return bool(self.data.reshape(()).item())

    def __index__(self):
        if self.data.dtype.kind not in "iub" or self.data.size != 1:
            raise TypeError("only integer tensors of one element can be used as an index")
        return int(self.item())

    def __repr__(self):
        xp_data = self.data if B.is_numpy(self.data) else B.to_device(self.data, "cpu")
        body = np.array2string(xp_data, separator=", ", prefix="tensor(", precision=4)
        extras = []
        if self.dtype not in (np.float32, np.int64, np.bool_):
            extras.append(f"dtype={self.dtype}")
        if self.device != "cpu":
            extras.append(f"device='{self.device}'")
        if self.grad_fn is not None:
            extras.append(f"grad_fn=<{self.grad_fn.name}>")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + body + "".join(", " + e for e in extras) + ")"
