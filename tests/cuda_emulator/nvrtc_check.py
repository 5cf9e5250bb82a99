"""Compile every CUDA kernel instantiation with NVIDIA's real compiler (NVRTC), without a GPU.

NVRTC (the ``nvidia-cuda-nvrtc-cu12`` wheel) runs without a driver.  For each kernel of
``minigrad/ops/rnn_fused.py`` and ``minigrad/ops/_conv_kernels.py``, in float32 and float64, CuPy's code
generator writes the source it would compile on a GPU machine (the same source the emulator runs); NVRTC
compiles it, with CuPy's compiler options, to PTX for compute capability 8.0 and 9.0.  The float32 PTX
must hold no ``.f64`` instruction: one would mean the kernel computes in double precision, slowly, on
consumer GPUs.

Run ``python tests/cuda_emulator/nvrtc_check.py`` (CI does), or the test in test_cuda_emulator.py.
"""
from __future__ import annotations

import ctypes
import importlib.util
import os
import re
import sys

import numpy as np

ARCHS = ("compute_80", "compute_90")
# Every argument is a (B, H) array; the gates' column blocks of the (B, G*H) gate rows and the GRU's bias
# broadcast over the batch are strided views (not C-contiguous), so CuPy keeps two dimensions for all.
STRIDED = {"gi", "gf", "gg", "go", "in_g", "f", "g", "o", "di", "df", "dg", "d_o", "rec_r", "rec_z", "rec_n", "b_hn",
           "gr", "gz", "gn", "r", "z", "cand", "dr_i", "dz_i", "dn_i", "dr_h", "dz_h", "dn_h"}
DTYPES = (np.float32, np.float64)


def nvrtc_library():
    """The NVRTC shared library from the nvidia-cuda-nvrtc-cu12 wheel (or the system's), loaded with ctypes."""
    candidates = []
    try:
        spec = importlib.util.find_spec("nvidia.cuda_nvrtc")
    except (ImportError, ValueError):  # no ``nvidia`` package at all
        spec = None
    if spec is not None and spec.submodule_search_locations:
        for root in spec.submodule_search_locations:
            candidates.append(os.path.join(root, "lib", "libnvrtc.so.12"))
    candidates.append("libnvrtc.so.12")
    errors = []
    for path in candidates:
        try:
            return ctypes.CDLL(path)
        except OSError as e:
            errors.append(f"{path}: {e}")
    raise RuntimeError("NVRTC not found: pip install nvidia-cuda-nvrtc-cu12 (" + "; ".join(errors) + ")")


class NVRTC:
    def __init__(self):
        self.lib = lib = nvrtc_library()
        lib.nvrtcGetErrorString.restype = ctypes.c_char_p
        major, minor = ctypes.c_int(), ctypes.c_int()
        self._check(lib.nvrtcVersion(ctypes.byref(major), ctypes.byref(minor)), "nvrtcVersion")
        self.version = (major.value, minor.value)

    def _check(self, status, what, log=""):
        if status != 0:
            raise RuntimeError(f"{what}: {self.lib.nvrtcGetErrorString(status).decode()}\n{log}")

    def compile(self, source, options, name="kernel.cu"):
        """PTX text of ``source``; RuntimeError with NVRTC's log when it does not compile."""
        lib, prog = self.lib, ctypes.c_void_p()
        self._check(lib.nvrtcCreateProgram(ctypes.byref(prog), source.encode(), name.encode(), 0, None, None),
                    "nvrtcCreateProgram")
        try:
            opts = (ctypes.c_char_p * len(options))(*[o.encode() for o in options])
            status = lib.nvrtcCompileProgram(prog, len(options), opts)
            size = ctypes.c_size_t()
            lib.nvrtcGetProgramLogSize(prog, ctypes.byref(size))
            log = ctypes.create_string_buffer(size.value)
            lib.nvrtcGetProgramLog(prog, log)
            self._check(status, "nvrtcCompileProgram", log.value.decode(errors="replace"))
            lib.nvrtcGetPTXSize(prog, ctypes.byref(size))
            ptx = ctypes.create_string_buffer(size.value)
            self._check(lib.nvrtcGetPTX(prog, ptx), "nvrtcGetPTX")
            return ptx.value.decode()
        finally:
            lib.nvrtcDestroyProgram(ctypes.byref(prog))


def kernel_sources():
    """(kernel name, dtype, source) of every instantiation: CuPy's generated code after CuPy's headers."""
    from cuda_emulator import kernels  # noqa: PLC0415
    from cuda_emulator.fake_cupy import real_cupy  # noqa: PLC0415

    from minigrad.ops import rnn_fused  # noqa: PLC0415

    cp = real_cupy()
    k, core = cp._core._kernel, cp._core.core
    for name, (params_in, params_out, body) in rnn_fused._KERNEL_SOURCES.items():
        ek = cp.ElementwiseKernel(params_in, params_out, body, "minigrad_" + name)
        for dtype in DTYPES:
            params = ek.params[: ek.nin + ek.nout]
            in_types = tuple(None if p.dtype is not None else dtype for p in params[: ek.nin])
            out_types = tuple(dtype for _ in params[ek.nin:])
            _, _, type_map = ek._decide_params_type(in_types, out_types)
            # as minigrad calls them: 2-d (B, H) arrays, contiguous or strided (STRIDED)
            # (test_cuda_emulator checks that these are the instantiations the layers use)
            arginfos = [k._ArgInfo(1, core._ndarray_base, np.dtype(dtype), 2, p.name not in STRIDED, True)
                        for p in params]
            arginfos.append(k._ArgInfo(2, cp._core._carray.Indexer, None, 2, True, True))
            code = k._get_elementwise_kernel_code(tuple(arginfos), type_map, ek.params, ek.operation, ek.name,
                                                  ek.preamble)
            yield ek.name, np.dtype(dtype), kernels.cupy_source(code)


# The pooling and col2im kernels (minigrad/ops/_conv_kernels.py) as minigrad calls them: contiguous arrays,
# the plain ones flattened to one dimension (CuPy merges contiguous dimensions), the raw ones with their own
# dimensions, scalars of their parameter's type; the argmax in uint8 (up to 255 window offsets) or int32.
CONV_RAW_NDIM = {"x": 4, "h": 4, "dx": 4, "cols": 5}
ARGMAX_DTYPES = (np.uint8, np.int32)


def conv_kernel_sources():
    """(kernel name, dtype, source) of every instantiation of the conv kernels."""
    from cuda_emulator import kernels  # noqa: PLC0415
    from cuda_emulator.fake_cupy import real_cupy  # noqa: PLC0415

    from minigrad.ops import _conv_kernels  # noqa: PLC0415

    cp = real_cupy()
    k, core = cp._core._kernel, cp._core.core
    for name, (params_in, params_out, body) in _conv_kernels.SOURCES.items():
        ek = cp.ElementwiseKernel(params_in, params_out, _conv_kernels._expand(body), "minigrad_" + name)
        params = ek.params[: ek.nin + ek.nout]
        uses_argmax = any(p.name == "argmax" for p in params)
        for dtype in DTYPES:
            for argmax_dtype in ARGMAX_DTYPES if uses_argmax else (None,):
                def array_dtype(p):
                    return np.dtype(argmax_dtype if p.name == "argmax" else dtype if p.dtype is None else p.dtype)

                arrays = {p.name for p in params[ek.nin:]} | {p.name for p in params if p.raw or p.name == "g"}
                arrays.add("argmax") if uses_argmax else None
                in_types = tuple(array_dtype(p).type if p.name in arrays else None for p in params[: ek.nin])
                out_types = tuple(array_dtype(p).type for p in params[ek.nin:])
                _, _, type_map = ek._decide_params_type(in_types, out_types)
                arginfos = []
                for p in params:
                    if p.name in arrays:
                        ndim = CONV_RAW_NDIM[p.name] if p.raw else 1
                        arginfos.append(k._ArgInfo(1, core._ndarray_base, array_dtype(p), ndim, True, True))
                    else:
                        scalar = np.dtype(dtype) if p.dtype is None else np.dtype(p.dtype)
                        arginfos.append(k._ArgInfo(3, cp._core._scalar.CScalar, scalar, 0, True, True))
                arginfos.append(k._ArgInfo(2, cp._core._carray.Indexer, None, 1, True, True))
                code = k._get_elementwise_kernel_code(tuple(arginfos), type_map, ek.params, ek.operation, ek.name,
                                                      ek.preamble)
                yield ek.name, np.dtype(dtype), kernels.cupy_source(code)


def all_kernel_sources():
    yield from kernel_sources()
    yield from conv_kernel_sources()


def generated_codes():
    """The generated kernel code (without CuPy's headers) of every instantiation :func:`kernel_sources` makes."""
    from cuda_emulator import kernels  # noqa: PLC0415

    prefix = kernels.cupy_source("")
    return {source[len(prefix):] for _, _, source in all_kernel_sources()}


def compiler_options(arch):
    """CuPy's options for NVRTC (its include paths, C++17), for ``arch``."""
    from cuda_emulator.fake_cupy import real_cupy  # noqa: PLC0415

    options = [o for o in real_cupy()._core.core.assemble_cupy_compiler_options(())
               if not (o.startswith("-I") and not os.path.isdir(o[2:]))]
    return options + [f"-arch={arch}"]


F64 = re.compile(r"^\s*(?!//)[^\n]*\.f64\b", re.M)


def double_instructions(ptx):
    """The PTX lines that compute or move float64 values."""
    return [line.strip() for line in ptx.splitlines() if F64.match(line)]


def check(verbose=True):
    """Compile everything; returns a list of problems (empty: all good)."""
    nvrtc = NVRTC()
    problems, count = [], 0
    for name, dtype, source in all_kernel_sources():
        for arch in ARCHS:
            try:
                ptx = nvrtc.compile(source, compiler_options(arch), f"{name}.cu")
            except RuntimeError as e:
                problems.append(f"{name} {dtype} {arch}: {e}")
                continue
            count += 1
            if f".entry {name}" not in ptx:
                problems.append(f"{name} {dtype} {arch}: the PTX has no entry {name}")
            doubles = double_instructions(ptx)
            if dtype == np.float32 and doubles:
                problems.append(f"{name} float32 {arch}: {len(doubles)} float64 instructions, e.g. {doubles[:3]}")
            if verbose:
                print(f"{name:24s} {str(dtype):8s} {arch}: {len(ptx.splitlines()):5d} PTX lines, "
                      f"{len(doubles)} .f64 instructions")
    if verbose:
        print(f"NVRTC {nvrtc.version[0]}.{nvrtc.version[1]}: {count} kernels compiled, {len(problems)} problems")
    return problems


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:0] = [os.path.dirname(here), os.path.dirname(os.path.dirname(here))]
    problems = check()
    for p in problems:
        print("FAIL", p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
