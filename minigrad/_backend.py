"""Devices, array modules, dtypes and random numbers.

minigrad keeps its data in NumPy arrays on the CPU and in CuPy arrays on a
CUDA GPU.  Ops never import CuPy themselves: they ask :func:`xp_of` for the
module their inputs live in, so one code path serves both devices.  CuPy is
imported lazily, the first time a CUDA tensor is asked for.
"""
from __future__ import annotations

import os
import sys

import numpy as np

float16 = np.float16
float32 = np.float32
float64 = np.float64
int8 = np.int8
int16 = np.int16
int32 = np.int32
int64 = np.int64
uint8 = np.uint8
bool_ = np.bool_
long = np.int64
double = np.float64
half = np.float16

# ----------------------------------------------------------------------------- the C allocator
# glibc returns freed blocks above a (dynamic) size to the kernel, so a training step that frees and
# re-allocates its activations can pay thousands of page faults every step (measured: LeNet-5, batch 64,
# 3,300 faults and 37 ms per step; 0 faults and 25 ms with these settings).  Keeping big blocks in the
# heap makes the next step reuse them.  Set MINIGRAD_MALLOC_TUNING=0 to leave the allocator alone.
MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc's maximum: blocks below 32 MiB come from the heap
TRIM_THRESHOLD = 256 * 1024 * 1024  # keep up to 256 MiB of freed heap for reuse
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": str(MMAP_THRESHOLD), "MALLOC_TRIM_THRESHOLD_": str(TRIM_THRESHOLD)}


def _tune_allocator():
    if os.environ.get("MINIGRAD_MALLOC_TUNING", "1") == "0" or not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes  # noqa: PLC0415

        libc = ctypes.CDLL("libc.so.6")
        M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
        return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
            libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to do
        return False


ALLOCATOR_TUNED = _tune_allocator()

DEFAULT_FLOAT = np.dtype(np.float32)
DEFAULT_INT = np.dtype(np.int64)


class DeviceError(RuntimeError):
    """Raised when a device is unavailable or tensors on different devices meet."""


_cupy = None


def cupy():
    """Return the CuPy module, importing it on first use.

    Raises DeviceError with install instructions when CuPy or a CUDA device is
    missing.
    """
    global _cupy
    if _cupy is None:
        try:
            import cupy as cp  # noqa: PLC0415 - lazy on purpose
        except ImportError as e:
            raise DeviceError(
                "device 'cuda' needs CuPy, which is not installed. Install the GPU extra: "
                "pip install 'minigrad[gpu]' (CUDA 12: cupy-cuda12x, CUDA 13: cupy-cuda13x)"
            ) from e
        try:
            count = cp.cuda.runtime.getDeviceCount()
        except Exception as e:  # CUDA driver missing or broken
            raise DeviceError(f"device 'cuda' asked for, but CuPy finds no usable CUDA device: {e}") from e
        if count == 0:
            raise DeviceError("device 'cuda' asked for, but CuPy finds no CUDA device")
        _cupy = cp
    return _cupy


def cuda_available() -> bool:
    """True when CuPy imports and sees at least one CUDA device."""
    try:
        cupy()
    except DeviceError:
        return False
    return True


def is_numpy(array) -> bool:
    return type(array) is np.ndarray


def is_cupy_array(obj) -> bool:
    """True for a CuPy array, also one made before minigrad first asked for CuPy (then CuPy is set up here)."""
    if type(obj) is np.ndarray:
        return False
    if _cupy is not None:
        return isinstance(obj, _cupy.ndarray)
    cp = sys.modules.get("cupy")  # the user imported CuPy themselves: its arrays are CuPy arrays all the same
    if cp is None or not isinstance(obj, getattr(cp, "ndarray", ())):
        return False
    cupy()
    return True


def xp_of(array):
    """The array module (``numpy`` or ``cupy``) that owns ``array``.

    Everything that is not a CuPy array (NumPy arrays, and NumPy scalars such as the ``np.float64``
    a 0-d array's arithmetic gives) belongs to NumPy.
    """
    if type(array) is np.ndarray or _cupy is None or not isinstance(array, _cupy.ndarray):
        return np
    return _cupy


def device_of(array) -> str:
    """'cpu' for NumPy arrays (and scalars), 'cuda' for CuPy arrays."""
    if type(array) is np.ndarray or not is_cupy_array(array):
        return "cpu"
    idx = array.device.id
    return "cuda" if idx == 0 else f"cuda:{idx}"


def parse_device(device) -> tuple[str, int]:
    """Normalise a device spec to ('cpu', 0) or ('cuda', index)."""
    if device is None:
        return ("cpu", 0)
    text = str(device).strip().lower()
    if text == "cpu":
        return ("cpu", 0)
    if text == "cuda":
        return ("cuda", 0)
    if text.startswith("cuda:") and text[5:].isdigit():
        idx = int(text[5:])
        if idx != 0:
            raise DeviceError(one_gpu_message(device))
        return ("cuda", 0)
    raise DeviceError(f"unknown device {device!r}: use 'cpu', 'cuda' or 'cuda:N'")


def one_gpu_message(where) -> str:
    """Why a GPU other than the first is refused, and what to do instead."""
    return (f"{where!r}: minigrad runs on one GPU, device 0 ('cuda' or 'cuda:0'). To use another GPU, make it "
            f"device 0 for this process: CUDA_VISIBLE_DEVICES=N python ...")


def device_name(device) -> str:
    kind, idx = parse_device(device)
    if kind == "cpu":
        return "cpu"
    return "cuda" if idx == 0 else f"cuda:{idx}"


def to_device(array, device):
    """Return ``array`` on ``device`` (no copy when it is already there)."""
    kind, idx = parse_device(device)
    if kind == "cpu":
        if type(array) is np.ndarray:
            return array
        if is_cupy_array(array):
            return _cupy.asnumpy(array)
        return np.asarray(array)
    cp = cupy()
    if isinstance(array, cp.ndarray):
        if array.device.id == idx:
            return array
        with cp.cuda.Device(idx):
            return array.copy()  # CuPy copies to the current device
    with cp.cuda.Device(idx):
        return cp.asarray(array)


def module_for_device(device):
    kind, idx = parse_device(device)
    if kind == "cpu":
        return np
    return cupy()


def same_device(arrays) -> bool:
    """True when every array lives on the same device."""
    first = type(arrays[0])
    for a in arrays:
        if type(a) is not first:
            return False
    if first is np.ndarray:
        return True
    dev = arrays[0].device.id
    return all(a.device.id == dev for a in arrays)


def to_dtype(dtype):
    """Normalise ``dtype`` (a NumPy dtype, type or name, or Python type) to ``np.dtype``."""
    if dtype is None:
        return None
    if dtype is float:
        return DEFAULT_FLOAT
    if dtype is int:
        return DEFAULT_INT
    if dtype is bool:
        return np.dtype(np.bool_)
    try:
        return np.dtype(dtype)
    except TypeError as e:
        raise TypeError(f"unknown dtype {dtype!r}: use a NumPy dtype such as mg.float32") from e


def is_floating(dtype) -> bool:
    return np.dtype(dtype).kind == "f"


# ----------------------------------------------------------------------------- BLAS threads
_blas_functions = None


def _openblas_thread_functions():
    """(set_num_threads, get_num_threads) of the OpenBLAS that NumPy loaded, or (None, None).

    NumPy's wheels ship OpenBLAS under several symbol names (scipy-openblas,
    64-bit interfaces); find the library in this process's memory map.
    """
    global _blas_functions
    if _blas_functions is not None:
        return _blas_functions
    _blas_functions = (None, None)
    try:
        import ctypes  # noqa: PLC0415

        with open("/proc/self/maps") as f:
            libraries = sorted({line.split()[-1] for line in f if "openblas" in line.lower() and "/" in line})
    except OSError:
        return _blas_functions
    names = [("scipy_openblas_set_num_threads64_", "scipy_openblas_get_num_threads64_"),
             ("scipy_openblas_set_num_threads", "scipy_openblas_get_num_threads"),
             ("openblas_set_num_threads64_", "openblas_get_num_threads64_"),
             ("openblas_set_num_threads", "openblas_get_num_threads")]
    for path in libraries:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for set_name, get_name in names:
            if hasattr(lib, set_name) and hasattr(lib, get_name):
                setter, getter = getattr(lib, set_name), getattr(lib, get_name)
                setter.argtypes, setter.restype, getter.restype = [ctypes.c_int], None, ctypes.c_int
                _blas_functions = (setter, getter)
                return _blas_functions
    return _blas_functions


def set_num_threads(n: int) -> bool:
    """Use ``n`` threads for NumPy's matrix products (like ``torch.set_num_threads``).

    Small matrix products (an RNN step) do not get faster with threads, and on
    a busy machine waiting threads can make them much slower.  Works with
    NumPy's OpenBLAS (threadpoolctl, when installed, covers other BLAS
    libraries); returns False when the thread count could not be set.
    """
    n = int(n)
    if n < 1:
        raise ValueError(f"set_num_threads needs a positive number, got {n}")
    setter, _ = _openblas_thread_functions()
    if setter is not None:
        setter(n)
        return True
    try:
        from threadpoolctl import threadpool_limits  # noqa: PLC0415 - optional
    except ImportError:
        return False
    threadpool_limits(n, user_api="blas")
    return True


def get_num_threads() -> int | None:
    """The number of threads NumPy's BLAS uses (None when it cannot be told)."""
    _, getter = _openblas_thread_functions()
    if getter is not None:
        return int(getter())
    try:
        from threadpoolctl import threadpool_info  # noqa: PLC0415 - optional
    except ImportError:
        return None
    info = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    return info[0]["num_threads"] if info else None


# ----------------------------------------------------------------------------- random numbers
_rng = np.random.default_rng()


def manual_seed(seed: int) -> None:
    """Seed minigrad's random number generators (CPU, and CUDA once CuPy is loaded)."""
    global _rng
    _rng = np.random.default_rng(seed)
    if _cupy is not None:
        _cupy.random.seed(seed)
    _cuda_seed[0] = seed


_cuda_seed = [None]


def get_rng_state():
    """The state of minigrad's CPU generator (a dict, for :func:`set_rng_state` and checkpoints)."""
    return _rng.bit_generator.state


def set_rng_state(state):
    """Put minigrad's CPU generator back in a state :func:`get_rng_state` returned."""
    _rng.bit_generator.state = state


def rng():
    """The generator that ``rand``/``randn``/``randint``, dropout and shuffling draw from."""
    return _rng


def random_module(device):
    """NumPy's seeded ``Generator`` on the CPU, ``cupy.random`` on CUDA."""
    kind, _ = parse_device(device)
    if kind == "cpu":
        return _rng
    cp = cupy()
    if _cuda_seed[0] is not None:
        cp.random.seed(_cuda_seed[0])
        _cuda_seed[0] = None
    return cp.random


def scatter_add_rows(n_rows: int, rows, values):
    """Sum ``values[k]`` into row ``rows[k]`` of an ``(n_rows, ...)`` zero array.

    The gradient of gathering rows (``x[idx]``, embeddings).  Repeated rows
    accumulate.  NumPy: a stable sort groups equal rows and ``add.reduceat``
    sums each group (``np.add.at`` is much slower); CuPy: atomic
    ``cupyx.scatter_add``.
    """
    xp = xp_of(values)
    out = xp.zeros((n_rows,) + values.shape[1:], dtype=values.dtype)
    if rows.size == 0:
        return out
    if xp is np:
        order = np.argsort(rows, kind="stable")
        sorted_rows = rows[order]
        starts = np.flatnonzero(np.concatenate(([True], sorted_rows[1:] != sorted_rows[:-1])))
        out[sorted_rows[starts]] = np.add.reduceat(values[order], starts, axis=0)
    else:
        import cupyx  # noqa: PLC0415

        cupyx.scatter_add(out, rows, values)
    return out
