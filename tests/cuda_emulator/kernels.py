"""``cupy.ElementwiseKernel`` executed on the CPU: CuPy's own kernel source, compiled by g++, run "thread" by thread.

For every call the installed CuPy decides the parameter types (``_decide_params_type``) and writes the
kernel source (``_get_elementwise_kernel_code``), exactly the text it would hand NVRTC after its headers
(``cupy/carray.cuh`` and friends).  That text is compiled as host C++ with :file:`cuda_host.h`, which
defines CUDA's keywords, ``threadIdx``/``blockIdx`` and CUDA's float overloads of the math functions.
A small launcher, appended to the source, builds the ``CArray``/``CIndexer`` arguments over the NumPy
buffers (through their constructors, so CuPy's own contiguity asserts run) and calls the kernel once per
thread, in the order asked for:

* ``sequential`` (0, 1, 2, ...), ``reverse`` or ``shuffled`` (a fresh permutation every launch): a kernel
  whose thread reads what another thread writes gives different results in different orders;
* ``-Wdouble-promotion -Wfloat-conversion`` are errors: a float32 kernel that computes in double (a
  ``double`` literal, a math function taking the double overload) does not compile.

Compiled libraries are cached on disk (``MINIGRAD_EMULATOR_CACHE``, default ``~/.cache/minigrad-cuda-emulator``)
under the SHA-256 of the source, the flags and the compiler's version, and in memory per process.
"""
from __future__ import annotations

import ctypes
import hashlib
import os
import re
import shutil
import subprocess
import tempfile

import numpy as np

from . import fake_cupy
from .fake_cupy import _check_devices, _split_params, current_device, ndarray, real_cupy

HERE = os.path.dirname(os.path.abspath(__file__))
THREAD_ORDERS = ("sequential", "reverse", "shuffled")
WARNING_FLAGS = ("-Wdouble-promotion", "-Wfloat-conversion", "-Werror=double-promotion", "-Werror=float-conversion")

_settings = {"order": None}
_loaded = {}  # cache key -> ctypes library
_by_code = {}  # generated kernel code -> ctypes library (this process)
_shuffle = np.random.default_rng(2024)
launches = {"count": 0, "compiled": 0}


def set_thread_order(order):
    """Run the threads of every launch in ``order`` (None: from MINIGRAD_EMULATE_THREAD_ORDER, default shuffled)."""
    if order is not None and order not in THREAD_ORDERS:
        raise ValueError(f"thread order must be one of {THREAD_ORDERS}, got {order!r}")
    _settings["order"] = order


def thread_order():
    order = _settings["order"] or os.environ.get("MINIGRAD_EMULATE_THREAD_ORDER", "shuffled")
    if order not in THREAD_ORDERS:
        raise ValueError(f"MINIGRAD_EMULATE_THREAD_ORDER must be one of {THREAD_ORDERS}, got {order!r}")
    return order


def compiler():
    cxx = os.environ.get("CXX") or shutil.which("g++") or shutil.which("clang++")
    if not cxx:
        raise RuntimeError("the CUDA emulator compiles kernels with a C++ compiler: install g++ or clang++")
    return cxx


def _cache_dir():
    path = os.environ.get("MINIGRAD_EMULATOR_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "minigrad-cuda-emulator")
    os.makedirs(path, exist_ok=True)
    return path


def include_options():
    """The include directories CuPy gives NVRTC: its headers and its bundled CCCL (thrust, libcu++)."""
    core = real_cupy()._core.core
    dirs = [core._get_header_dir_path()] + [opt[2:] for opt in core._get_cccl_include_options()]
    return dirs


def cupy_source(code):
    """What CuPy hands the compiler: its standard headers, then the generated kernel."""
    headers = real_cupy()._core.core._cupy_header_list
    return "".join(f"#include <{h}>\n" for h in headers) + code


_compiler_version = {}


def _version_of(cxx):
    if cxx not in _compiler_version:
        _compiler_version[cxx] = subprocess.run([cxx, "--version"], capture_output=True, text=True).stdout
    return _compiler_version[cxx]


def build(source, name):
    """Compile ``source`` (CuPy's kernel plus the launcher) to a shared library; cached. Returns the library."""
    cxx = compiler()
    flags = ["-std=c++17", "-O1", "-shared", "-fPIC", *WARNING_FLAGS]
    for d in include_options():
        flags += ["-isystem", d]
    flags += ["-include", os.path.join(HERE, "cuda_host.h")]
    with open(os.path.join(HERE, "cuda_host.h"), "rb") as f:
        host_header = f.read()
    key = hashlib.sha256("\0".join([source, *flags[:-1], _version_of(cxx)]).encode() + host_header).hexdigest()
    if key in _loaded:
        return _loaded[key]
    path = os.path.join(_cache_dir(), f"{name}-{key[:24]}.so")
    if not os.path.exists(path):
        with tempfile.TemporaryDirectory() as tmp:
            src = os.path.join(tmp, f"{name}.cpp")
            with open(src, "w") as f:
                f.write(source)
            out = os.path.join(tmp, "kernel.so")
            result = subprocess.run([cxx, *flags, src, "-o", out], capture_output=True, text=True)
            if result.returncode != 0:
                raise CompileError(f"kernel {name} does not compile:\n{result.stderr}", source)
            partial = f"{path}.{os.getpid()}.tmp"
            shutil.copyfile(out, partial)
            os.replace(partial, path)  # atomic: other processes see the whole library or none
        launches["compiled"] += 1
    lib = ctypes.CDLL(path)
    lib.minigrad_emulator_launch.restype = None
    lib.minigrad_emulator_launch.argtypes = [ctypes.POINTER(ctypes.c_void_p)] * 3 + [
        ctypes.POINTER(ctypes.c_longlong), ctypes.c_longlong, ctypes.c_longlong]
    _loaded[key] = lib
    return lib


class CompileError(RuntimeError):
    def __init__(self, message, source):
        super().__init__(message)
        self.source = source


def kernel_parameters(code, name):
    """[(C type, name)] of the generated kernel's parameters."""
    m = re.search(r'extern "C" __global__ void ' + re.escape(name) + r"\((.*?)\)\s*\{", code, re.S)
    if not m:
        raise RuntimeError(f"cannot find kernel {name} in the generated source")
    params = []
    for p in _split_params(m.group(1)):
        ctype, pname = p.rsplit(None, 1)
        params.append((ctype.strip(), pname))
    return params


def launcher(code, name):
    """C++ that builds each argument from (pointer, shape, strides) and runs the kernel per thread, in order."""
    lines = ['extern "C" void minigrad_emulator_launch(void** ptrs, void** shapes, void** strides,',
             "                                         const long long* order, long long n, long long size) {"]
    names = []
    for k, (ctype, pname) in enumerate(kernel_parameters(code, name)):
        base = ctype[len("const "):] if ctype.startswith("const ") else ctype
        arg = f"a{k}"
        if base.startswith("CArray<"):
            elem = _split_params(base[len("CArray<"):-1])[0]
            lines.append(f"  {base} {arg}(static_cast<{elem}*>(ptrs[{k}]), static_cast<const long long*>("
                         f"shapes[{k}]), static_cast<const long long*>(strides[{k}]));")
        elif base.startswith("CIndexer<"):
            lines.append(f"  {base} {arg}(static_cast<const long long*>(shapes[{k}]));")
        else:  # a scalar passed by value
            lines.append(f"  {base} {arg} = *static_cast<const {base}*>(ptrs[{k}]);")
        names.append(arg)
    lines += ["  blockDim.x = 1; threadIdx.x = 0; gridDim.x = static_cast<unsigned int>(size);",
              "  for (long long t = 0; t < n; ++t) {",
              "    blockIdx.x = static_cast<unsigned int>(order[t]);",
              f"    {name}({', '.join(names)});",
              "  }", "}"]
    return "\n".join(lines) + "\n"


def _index_32_bits(a):
    return a.size * a.itemsize <= 2 ** 31 - 1


class ElementwiseKernel:
    """``cupy.ElementwiseKernel`` on the emulated device (CuPy's parameter parsing and code generation)."""

    def __init__(self, in_params, out_params, operation, name="kernel", reduce_dims=True, preamble="",
                 no_return=False, return_tuple=False, **kwargs):
        self._real = real_cupy().ElementwiseKernel(in_params, out_params, operation, name, reduce_dims,
                                                   preamble, no_return, return_tuple, **kwargs)
        self.name, self.nin, self.nout = name, self._real.nin, self._real.nout
        self.params = self._real.params
        self.reduce_dims, self.no_return, self.return_tuple = reduce_dims, no_return, return_tuple
        self.cached_codes = {}

    def __call__(self, *args, size=None, block_size=None, stream=None):
        if size is not None:
            raise NotImplementedError("the CUDA emulator does not support ElementwiseKernel(size=...)")
        if len(args) not in (self.nin, self.nin + self.nout):
            raise TypeError(f"Wrong number of arguments for {self.name!r}: {len(args)} given, "
                            f"{self.nin} or {self.nin + self.nout} expected")
        params = self.params[: self.nin + self.nout]
        devices = set()
        for a, p in zip(args, params):
            if type(a) is ndarray:
                devices.add(a._dev)
            elif isinstance(a, np.ndarray) or not (np.isscalar(a) or isinstance(a, np.generic)):
                raise TypeError(f"{self.name}: Unsupported type {type(a)} for parameter {p.name}")
        _check_devices(devices, f"ElementwiseKernel {self.name}")
        in_args, out_args = list(args[: self.nin]), list(args[self.nin:])
        in_types = tuple(a.dtype.type if type(a) is ndarray else None for a in in_args)
        out_types = tuple(a.dtype.type for a in out_args)
        in_types, out_types, type_map = self._real._decide_params_type(in_types, out_types)
        shapes = [a.shape for a, p in zip(args, params) if type(a) is ndarray and not p.raw]
        if not shapes:
            raise ValueError(f"{self.name}: loop size is undecidable (every array is raw)")
        shape = np.broadcast_shapes(*shapes)
        if not out_args:  # CuPy allocates the outputs
            out_args = [ndarray._from(fake_cupy._uninitialised(shape, np.dtype(t)), current_device())
                        for t in out_types]
        for a, p in zip(out_args, params[self.nin:]):
            if not p.raw and a.shape != shape:
                raise ValueError(f"{self.name}: Out shape is mismatched ({p.name}: {a.shape}, loop: {shape})")
        views = []  # (NumPy view the kernel sees, keep-alive) per parameter
        for k, (a, p) in enumerate(zip(in_args + out_args, params)):
            if type(a) is not ndarray:
                t = in_types[k]
                views.append(np.asarray(a, dtype=t))  # a scalar: cast to the parameter's type, as CuPy does
            elif p.raw:
                views.append(a._a)
            else:
                views.append(np.broadcast_to(a._a, shape) if a.shape != shape else a._a)
        outs = [v for v, p in zip(views[self.nin:], params[self.nin:])]
        for k in range(self.nin):  # CuPy copies an input that overlaps an output (unless it is the same view)
            v, p = views[k], params[k]
            if v.ndim and not p.raw and any(np.may_share_memory(v, o) and not (v is o) for o in outs):
                views[k] = v.copy()
        loop_shape = shape
        if self.reduce_dims and all(v.flags.c_contiguous for v, p, a in zip(views, params, in_args + out_args)
                                    if type(a) is ndarray and not p.raw):
            loop_shape = (int(np.prod(shape)),)
            views = [v.reshape(loop_shape) if (type(a) is ndarray and not p.raw) else v
                     for v, p, a in zip(views, params, in_args + out_args)]
        size_ = int(np.prod(loop_shape))
        kernel = real_cupy()._core._kernel
        scalar_t, indexer_t = real_cupy()._core._scalar.CScalar, real_cupy()._core._carray.Indexer
        arginfos = []
        for v, p, a in zip(views, params, in_args + out_args):
            if type(a) is ndarray:
                arginfos.append(kernel._ArgInfo(1, real_cupy()._core.core._ndarray_base, v.dtype, v.ndim,
                                                bool(v.flags.c_contiguous), _index_32_bits(v)))
            else:
                arginfos.append(kernel._ArgInfo(3, scalar_t, v.dtype, 0, True, True))
        arginfos.append(kernel._ArgInfo(2, indexer_t, None, len(loop_shape), True, size_ <= 2 ** 31 - 1))
        code = kernel._get_elementwise_kernel_code(tuple(arginfos), type_map, self.params, self._real.operation,
                                                   self.name, self._real.preamble, **self._real.kwargs)
        self.cached_codes[tuple(v.dtype for v in views)] = code
        lib = _by_code.get(code)
        if lib is None:
            lib = _by_code[code] = build(cupy_source(code) + "\n" + launcher(code, self.name), self.name)
        if size_:
            self._launch(lib, views, loop_shape, size_)
        launches["count"] += 1
        if self.no_return:
            return None
        result = out_args
        return tuple(result) if (self.return_tuple or len(result) > 1) else result[0]

    @staticmethod
    def _launch(lib, views, loop_shape, size):
        n = len(views) + 1
        ptrs, shapes, strides, keep = (ctypes.c_void_p * n)(), (ctypes.c_void_p * n)(), (ctypes.c_void_p * n)(), []
        for k, v in enumerate(views):
            shp = np.array(v.shape or (1,), dtype=np.int64)
            std = np.array(v.strides or (v.itemsize,), dtype=np.int64)
            keep += [shp, std]
            ptrs[k], shapes[k], strides[k] = v.ctypes.data, shp.ctypes.data, std.ctypes.data
        ind = np.array(loop_shape, dtype=np.int64)
        keep.append(ind)
        shapes[n - 1] = ind.ctypes.data
        order = np.arange(size, dtype=np.int64)
        mode = thread_order()
        if mode == "reverse":
            order = order[::-1].copy()
        elif mode == "shuffled":
            _shuffle.shuffle(order)
        lib.minigrad_emulator_launch(ptrs, shapes, strides, order.ctypes.data_as(ctypes.POINTER(ctypes.c_longlong)),
                                     size, size)
