"""Elementwise kernels in CuPy's ``ElementwiseKernel`` conventions, compiled for the CPU with the system C compiler.

One kernel source serves both devices: on CuPy arrays minigrad hands it to
``cupy.ElementwiseKernel``; on NumPy arrays :class:`ElementwiseKernel` below
wraps the same body in a C loop over the elements, compiles it once with
``cc``/``gcc``/``clang``, caches the shared library on disk and calls it
through :mod:`ctypes`.

The conventions (a subset of CuPy's):

* ``in_params`` / ``out_params``: comma-separated ``[raw] type name``.  The
  type is a NumPy dtype name (``float32``, ``int32``, ...) or a placeholder
  (``T``: any other identifier) bound to the dtype of the arrays given for it.
* A plain parameter is elementwise: in the body ``name`` is element ``i`` of
  its array (readable, and writable for outputs).  A plain *input* may also
  be given a scalar; the body then sees that value.
* A ``raw`` parameter is the array's base pointer, indexed by hand
  (``gates[k]``); the kernel must not read what another element writes.
* ``i`` is the element index (``ptrdiff_t``), ``n`` the number of elements:
  the broadcast size of the plain array arguments, or ``size=`` when every
  array argument is raw.
* Math functions are C's, type-generic (``tanh`` of a ``float`` is
  computed in float, as on the GPU).

Arrays are used as contiguous buffers in C order: an argument that is not
contiguous (or is a broadcast plain input) is copied first, and a
non-contiguous output is written back after the call.

When kernels cannot be used (``MINIGRAD_CPU_KERNELS=0``, no C compiler, a
cache folder that someone else could write), :func:`get` returns None and
callers run their NumPy code.  minigrad says why once (a
:class:`CPUKernelsUnavailable` warning), except when they were switched off
on purpose with ``MINIGRAD_CPU_KERNELS=0``; :func:`status` tells either way.

The cache folder is ``$MINIGRAD_KERNEL_CACHE``, else
``$XDG_CACHE_HOME/minigrad/kernels``, else ``~/.cache/minigrad/kernels``.  A
library is loaded only from a folder owned by the current user that neither
group nor others can write, and only if the library file itself passes the
same check.  Its name is the SHA-256 of the C source, the compiler (path and
version) and the flags; it is compiled into a private temporary file in the
same folder and renamed into place, so two processes compiling the same
kernel at once both end up loading one complete file.
"""
from __future__ import annotations

import ctypes
import hashlib
import math
import os
import re
import shutil
import stat
import subprocess
import tempfile
import threading
import warnings

import numpy as np

__all__ = ["ElementwiseKernel", "CPUKernelsUnavailable", "KernelCompileError", "available", "status", "get",
           "cache_dir", "compiler"]

ENV_SWITCH = "MINIGRAD_CPU_KERNELS"
ENV_CACHE = "MINIGRAD_KERNEL_CACHE"
# Portable and fast: no -march=native (the cached library must run on any machine of this architecture);
# -fno-math-errno lets the compiler inline sqrt and keep loops free of errno writes, -fno-trapping-math lets it
# compute both sides of a ?: (no floating-point traps are enabled anyway): results are unchanged;
# -ffp-contract=off: a * b + c is rounded twice, as NumPy does it (no fused multiply-add);
# -fopenmp-simd reads '#pragma omp simd' (no OpenMP runtime).
FLAGS = ("-O3", "-fPIC", "-shared", "-std=c99", "-fno-math-errno", "-fno-trapping-math", "-ffp-contract=off",
         "-fopenmp-simd")

_C_TYPES = {
    "bool": ("_Bool", ctypes.c_bool), "int8": ("int8_t", ctypes.c_int8), "uint8": ("uint8_t", ctypes.c_uint8),
    "int16": ("int16_t", ctypes.c_int16), "uint16": ("uint16_t", ctypes.c_uint16),
    "int32": ("int32_t", ctypes.c_int32), "uint32": ("uint32_t", ctypes.c_uint32),
    "int64": ("int64_t", ctypes.c_int64), "uint64": ("uint64_t", ctypes.c_uint64),
    "float32": ("float", ctypes.c_float), "float64": ("double", ctypes.c_double),
}

_PRELUDE = r"""
#include <stddef.h>
#include <stdint.h>
#include <tgmath.h>

/* tanh in float, written so that the compiler can vectorise it (C's tanhf is an opaque library call, one
   element at a time): tanh(x) = x P(x^2) / Q(x^2) for |x| <= 9 (a rational fit of degree 4 over 4 in x^2,
   relative error 6e-8 before rounding, within 6 units in the last place in float), +-1 beyond (tanh(9)
   rounds to 1 in float).  NaN stays NaN. */
static inline float mg_tanhf(float x) {
    const float a = fabsf(x) > 9.0f ? 9.0f : fabsf(x);
    const float t = a * a;
    const float p = 1.0f + t * (0.13396863639354706f + t * (0.0035142770502716303f + t * (2.091183341690339e-05f
                    + t * 1.3765339090809903e-08f)));
    const float q = 1.0f + t * (0.4673018753528595f + t * (0.02594839595258236f + t * (0.00033159906161017716f
                    + t * 7.946500772959553e-07f)));
    return copysignf(a * p / q, x);
}
/* One library, several instruction sets: GCC compiles the kernel for AVX-512 and AVX2 machines besides the
   baseline and picks one when the library is loaded (the cached file runs on any x86-64 machine). */
#if defined(__x86_64__) && defined(__GLIBC__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#define MG_TARGETS __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define MG_TARGETS
#endif

#undef tanh
#define tanh(x) _Generic((x), float: mg_tanhf, double: (tanh), long double: tanhl)(x)
"""


class CPUKernelsUnavailable(UserWarning):
    """Compiled CPU kernels are off or cannot be built here: minigrad runs its NumPy code instead."""


class KernelCompileError(RuntimeError):
    """The C compiler rejected a kernel (the message has the compiler's output and the source)."""


# ----------------------------------------------------------------------------- environment
_state = {"checked": False, "reason": None, "compiler": None, "warned": False, "compiled": 0, "loaded": 0}
_lock = threading.Lock()


def cache_dir() -> str:
    """The folder holding compiled kernels (see the module docstring)."""
    path = os.environ.get(ENV_CACHE)
    if not path:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        path = os.path.join(base, "minigrad", "kernels")
    return os.path.abspath(os.path.expanduser(path))


def compiler():
    """The C compiler to use: ``$CC`` if set, else the first of cc, gcc, clang on PATH; None if none."""
    cc = os.environ.get("CC")
    if cc:
        return shutil.which(cc) or (cc if os.path.isfile(cc) else None)
    for name in ("cc", "gcc", "clang"):
        found = shutil.which(name)
        if found:
            return found
    return None


def _safe(path, st=None):
    """None if ``path`` belongs to this user and neither group nor others can write it, else why not."""
    st = st or os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        return f"{path} is a symbolic link"
    if hasattr(os, "geteuid") and st.st_uid != os.geteuid():
        return f"{path} belongs to another user (uid {st.st_uid})"
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return f"{path} is writable by group or others (mode {stat.S_IMODE(st.st_mode):o})"
    return None


def _check_environment():
    """Why kernels cannot be used here (a sentence), or None.  Computed once per process (see :func:`reset`)."""
    if os.environ.get(ENV_SWITCH, "1").strip().lower() in ("0", "false", "no", "off"):
        return f"{ENV_SWITCH}=0"
    cc = compiler()
    if cc is None:
        return "no C compiler found (cc, gcc or clang; or set CC)"
    try:
        version = subprocess.run([cc, "--version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as e:
        return f"the C compiler {cc} does not run ({e})"
    if version.returncode != 0:
        return f"the C compiler {cc} does not run ({version.stderr.strip()[:200]})"
    folder = cache_dir()
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        problem = _safe(folder)
    except OSError as e:
        problem = f"cannot create {folder} ({e})"
    if problem:
        return f"unsafe kernel cache folder: {problem}; set {ENV_CACHE} to a private folder"
    _state["compiler"] = (cc, version.stdout)
    return None


def _ensure_checked():
    if not _state["checked"]:
        with _lock:
            if not _state["checked"]:
                _state["reason"] = _check_environment()
                _state["checked"] = True


def _notice(reason):
    """Say once per process that the NumPy code runs instead, and why."""
    if not _state["warned"]:
        _state["warned"] = True
        warnings.warn(f"minigrad: compiled CPU kernels are off ({reason}); running the NumPy code instead",
                      CPUKernelsUnavailable, stacklevel=3)


def available() -> bool:
    """True when kernels can be compiled and loaded here (checks once; says why not once)."""
    _ensure_checked()
    if _state["reason"] is not None:
        if _state["reason"] != f"{ENV_SWITCH}=0":  # switched off on purpose: nothing to tell
            _notice(_state["reason"])
        return False
    return True


def status() -> dict:
    """What the benchmarks record: whether kernels are on, why not, the compiler, the cache folder, counts."""
    _ensure_checked()
    cc = _state["compiler"]
    return {"enabled": _state["reason"] is None, "reason": _state["reason"],
            "compiler": None if cc is None else cc[0],
            "compiler_version": None if cc is None else (cc[1].splitlines() or [""])[0],
            "flags": " ".join(FLAGS), "cache_dir": cache_dir(),
            "compiled": _state["compiled"], "loaded": _state["loaded"]}


def reset():
    """Forget the environment check and loaded libraries (tests change the environment between calls)."""
    with _lock:
        _state.update(checked=False, reason=None, compiler=None, warned=False)
        _functions.clear()


# ----------------------------------------------------------------------------- parameters and source
class _Param:
    __slots__ = ("name", "type", "raw", "is_output", "placeholder")

    def __init__(self, text, is_output):
        words = text.split()
        self.raw = words[0] == "raw"
        if self.raw:
            words = words[1:]
        if len(words) != 2 or not all(re.fullmatch(r"[A-Za-z_]\w*", w) for w in words):
            raise ValueError(f"cannot read kernel parameter {text!r}: expected '[raw] type name'")
        self.type, self.name = words
        if self.name in ("i", "n"):
            raise ValueError(f"kernel parameter {self.name!r}: 'i' and 'n' are reserved")
        self.is_output = is_output
        self.placeholder = self.type not in _C_TYPES


def _parse(params, is_output):
    return [_Param(p, is_output) for p in params.split(",") if p.strip()]


def c_source(name, params, types, scalars, body):
    """The C text of one kernel instance: ``types`` maps placeholders to dtype names, ``scalars`` the
    names of plain inputs given a scalar.

    The elements are walked as ``rows`` x ``cols`` (C order of the broadcast shape): each plain array
    is a base pointer and a row stride, its columns contiguous, so strided views (a gate's columns of a
    (B, 4H) array, a bias broadcast over rows) need no copy and the inner loop vectorises.
    """
    lines = [_PRELUDE]
    lines += [f"typedef {c} {dtype_name};" for dtype_name, (c, _) in _C_TYPES.items()]  # CuPy's type names
    for placeholder, dtype_name in sorted(types.items()):
        lines.append(f"typedef {_C_TYPES[dtype_name][0]} {placeholder};")
    args, plain = ["ptrdiff_t mg_rows", "ptrdiff_t mg_cols"], []
    for p in params:
        const = "" if p.is_output else "const "
        if p.name in scalars:
            args.append(f"const {p.type} {p.name}")
        elif p.raw:
            args.append(f"{const}{p.type} *{p.name}")
        else:
            args.append(f"{const}{p.type} *mg_ptr_{p.name}, ptrdiff_t mg_rs_{p.name}")
            plain.append(p)
    lines.append(f"MG_TARGETS void {name}({', '.join(args)}) {{")
    lines.append("    const ptrdiff_t n = mg_rows * mg_cols;")
    lines.append("    (void)n;")
    lines += [f"#define {p.name} (mg_row_{p.name}[mg_c])" for p in plain]
    lines.append("    for (ptrdiff_t mg_r = 0; mg_r < mg_rows; ++mg_r) {")
    for p in plain:
        const = "" if p.is_output else "const "
        lines.append(f"        {const}{p.type} *mg_row_{p.name} = mg_ptr_{p.name} + mg_r * mg_rs_{p.name};")
    # The elements are independent (CuPy runs them as parallel threads): let the compiler vectorise the
    # loop even where it cannot prove it safe.  -fopenmp-simd: the pragma only, no OpenMP runtime.
    lines.append("        #pragma omp simd")
    lines.append("        for (ptrdiff_t mg_c = 0; mg_c < mg_cols; ++mg_c) {")
    lines.append("            const ptrdiff_t i = mg_r * mg_cols + mg_c;")
    lines.append("            (void)i;")
    lines += ["            " + line.strip() for line in body.strip().splitlines()]
    lines.append("        }")
    lines.append("    }")
    lines += [f"#undef {p.name}" for p in plain]
    lines.append("}")
    return "\n".join(lines) + "\n"


def _row_stride(a, rows, cols):
    """The row stride (in elements) of ``a`` seen as (rows, cols) with contiguous columns, or None."""
    item = a.itemsize
    if a.ndim == 0:
        return 0
    if cols > 1 and a.strides[-1] != item:
        return None
    if rows <= 1:
        return 0
    lead = [(n, st) for n, st in zip(a.shape[:-1], a.strides[:-1]) if n > 1]
    for (n0, s0), (n1, s1) in zip(lead, lead[1:]):
        if s0 != s1 * n1:
            return None
    stride = lead[-1][1]
    if stride % item:
        return None
    return stride // item


def _build(source, name):
    """Compile (or find in the cache) the library for ``source``; returns its path."""
    cc, version = _state["compiler"]
    key = hashlib.sha256("\0".join([source, cc, version, *FLAGS]).encode()).hexdigest()
    folder = cache_dir()
    path = os.path.join(folder, f"{name}-{key[:32]}.so")
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        st = None
    if st is not None:
        problem = _safe(path, st)
        if problem is None:
            return path
        raise KernelCompileError(f"refusing to load {path}: {problem}")
    fd, src = tempfile.mkstemp(prefix=f".{name}-", suffix=".c", dir=folder)
    partial = src[:-2] + ".so.partial"
    try:
        with os.fdopen(fd, "w") as f:
            f.write(source)
        result = subprocess.run([cc, *FLAGS, src, "-o", partial, "-lm"], capture_output=True, text=True)
        if result.returncode != 0:
            raise KernelCompileError(f"the C compiler rejected kernel {name}:\n{result.stderr}\n{source}")
        os.chmod(partial, 0o700)
        os.replace(partial, path)  # atomic: a process loading the library sees all of it or none
        _state["compiled"] += 1
    finally:
        for leftover in (src, partial):
            try:
                os.unlink(leftover)
            except FileNotFoundError:
                pass
    return path


_functions = {}  # (kernel id, types, scalars) -> (ctypes function, per-parameter ctypes scalar types)


# ----------------------------------------------------------------------------- the kernel
class ElementwiseKernel:
    """``ElementwiseKernel(in_params, out_params, operation, name)``: CuPy's interface, on NumPy arrays.

    Call it with the inputs, then (optionally) the outputs, positionally, and
    ``size=`` when no plain array argument fixes the element count.  Outputs
    not given are allocated with the broadcast shape.  Returns the output, or
    a tuple of them.  Raises :class:`KernelCompileError` when it cannot be
    compiled (check :func:`available` first to fall back quietly).
    """

    def __init__(self, in_params, out_params, operation, name="kernel"):
        self.in_params = _parse(in_params, False)
        self.out_params = _parse(out_params, True)
        self.params = self.in_params + self.out_params
        names = [p.name for p in self.params]
        if len(set(names)) != len(names):
            raise ValueError(f"kernel {name}: a parameter name is repeated in {names}")
        self.operation = operation
        self.name = re.sub(r"\W", "_", name)
        self._signature = (in_params, out_params, operation, self.name)

    def __repr__(self):
        return f"<minigrad CPU ElementwiseKernel {self.name}>"

    def _function(self, types, scalars):
        """(ctypes function, ctypes type of each scalar parameter or None, dtype of each parameter)."""
        key = (self._signature, tuple(types.items()), scalars)
        found = _functions.get(key)
        if found is not None:
            return found
        if not available():
            raise KernelCompileError(f"compiled CPU kernels are off: {_state['reason']}")
        types = {name: np.dtype(t).name for name, t in types.items()}
        for name in types.values():
            if name not in _C_TYPES:
                raise TypeError(f"kernel {self.name}: dtype {name} is not supported on the CPU")
        source = c_source(self.name, self.params, types, scalars, self.operation)
        path = _build(source, self.name)
        fn = getattr(ctypes.CDLL(path), self.name)
        arg_types, scalar_types = [ctypes.c_ssize_t, ctypes.c_ssize_t], []
        for p in self.params:
            if p.name in scalars:
                ct = _C_TYPES[types[p.type] if p.placeholder else p.type][1]
                arg_types.append(ct)
                scalar_types.append(ct)
            else:
                arg_types += [ctypes.c_void_p] if p.raw else [ctypes.c_void_p, ctypes.c_ssize_t]
                scalar_types.append(None)
        fn.argtypes, fn.restype = arg_types, None
        _state["loaded"] += 1
        dtypes = [np.dtype(types[p.type] if p.placeholder else p.type) for p in self.params]
        found = _functions[key] = (fn, scalar_types, dtypes)
        return found

    def __call__(self, *args, size=None):
        fn, call, outputs, write_back, _, copies = self._plan(args, size)
        if call[0] and call[1]:
            fn(*call)  # ``copies`` holds the contiguous copies the call points into until it returns
        for target, buf in write_back:
            target[...] = buf
        return outputs[0] if len(outputs) == 1 else tuple(outputs)

    def stepper(self, first, second):
        """The kernel prepared for a loop over steps: ``run(t)`` calls it on step t's arguments.

        ``first`` and ``second`` are the argument tuples of steps 0 and 1: arrays of the same shapes
        and strides, each a view at a fixed offset into one buffer (``buf[t]``, a gate's columns of
        ``gates[t]``...), so step t's data pointers are ``first``'s plus t times the difference.  The
        checks and the layout work are done here, once; ``run(t)`` only moves the pointers and calls
        the C function (the per-step cost of a recurrent layer's loop is mostly this call).  Returns
        None when the arguments do not qualify (scalars, copies, layouts that differ): call the
        kernel as usual then.
        """
        if not len(first) == len(second) == len(self.params):  # every output given: nothing allocated
            return None
        for a, b in zip(first, second):
            if not isinstance(a, np.ndarray) or not isinstance(b, np.ndarray) or a.shape != b.shape \
                    or a.strides != b.strides or a.dtype != b.dtype:
                return None
        fn, call0, _, _, pointers, copies0 = self._plan(first, None)
        _, call1, _, _, _, copies1 = self._plan(second, None)
        if copies0 or copies1 or not (call0[0] and call0[1]):  # a copy's pointer dies with the call
            return None
        if any(u != v for k, (u, v) in enumerate(zip(call0, call1)) if k not in pointers):
            return None
        deltas = [v - u if k in pointers else 0 for k, (u, v) in enumerate(zip(call0, call1))]
        moving = [(k, call0[k], deltas[k]) for k in sorted(pointers) if deltas[k]]
        call = list(call0)

        def run(t):
            for k, base, delta in moving:
                call[k] = base + t * delta
            fn(*call)

        return run

    def _plan(self, args, size):
        """Check ``args`` and lay out the C call: ``(fn, call arguments, outputs, write-backs, indices
        of the data pointers in the call, the contiguous copies made of arguments)``; ``call[0] * call[1]``
        is the number of elements.  The call holds raw pointers into the copies: keep the list alive
        until the C function has returned."""
        params = self.params
        n_all = len(params)
        if len(args) != n_all:
            n_in = len(self.in_params)
            if len(args) != n_in:
                raise TypeError(f"kernel {self.name} takes {n_in} inputs (+ {n_all - n_in} outputs), "
                                f"got {len(args)} arguments")
            args = args + (None,) * (n_all - n_in)
        types, scalars, plain = {}, (), []
        for p, a in zip(params, args):
            if a is None:
                continue
            if type(a) is not np.ndarray:
                if not isinstance(a, np.ndarray):
                    if p.raw or p.is_output:
                        raise TypeError(f"kernel {self.name}: {p.name} needs a NumPy array, "
                                        f"got {type(a).__name__}")
                    scalars += (p.name,)
                    continue
                a = a.view(np.ndarray)
            if not p.raw:
                plain.append(a.shape)
            dtype = a.dtype
            if p.placeholder:
                bound = types.setdefault(p.type, dtype)
                if bound != dtype:
                    raise TypeError(f"kernel {self.name}: {p.name} is {dtype} but {p.type} is {bound}")
            elif dtype != p.type:
                raise TypeError(f"kernel {self.name}: {p.name} must be {p.type}, got {dtype}")
        if scalars:  # placeholders seen only through scalars: Python's float -> float64, int -> int64
            for p, a in zip(params, args):
                if p.placeholder and p.type not in types:
                    types[p.type] = np.dtype(np.float64 if isinstance(a, float) else np.int64)
        if plain:
            shape = plain[0]
            if plain.count(shape) != len(plain):
                try:
                    shape = np.broadcast_shapes(*plain)
                except ValueError:
                    raise ValueError(f"kernel {self.name}: arguments of shapes {plain} do not broadcast") from None
            count = math.prod(shape)
            if size is not None and int(size) != count:
                raise ValueError(f"kernel {self.name}: size={size} but the arguments broadcast to {shape}")
        elif size is None:
            raise ValueError(f"kernel {self.name}: give size= when every array argument is raw")
        else:
            shape, count = None, int(size)
        fn, scalar_types, out_types = self._function(types, scalars)
        # Walk the elements as rows x contiguous columns: one flat row when every plain array is
        # contiguous with the full shape (the common case), else rows of the last axis.
        rows, cols, pending = 1, count, []
        call, write_back, outputs, pointers, copies = [1, count], [], [], set(), []
        for p, a, st, out_type in zip(params, args, scalar_types, out_types):
            if st is not None:
                call.append(st(a))
                continue
            if a is None:  # an output not given: allocate it
                if p.raw:
                    raise TypeError(f"kernel {self.name}: raw output {p.name} must be given")
                a = np.empty(shape, dtype=out_type)
            if p.is_output:
                outputs.append(a)
                if not a.flags.writeable:
                    raise ValueError(f"kernel {self.name}: output {p.name} is read-only")
                if not p.raw and a.shape != shape:
                    raise ValueError(f"kernel {self.name}: output {p.name} has shape {a.shape}, "
                                     f"the arguments broadcast to {shape}")
            interface = a.__array_interface__
            if p.raw:
                if interface["strides"] is not None and not a.flags.c_contiguous:
                    buf = np.ascontiguousarray(a)
                    copies.append(buf)
                    if p.is_output:
                        write_back.append((a, buf))
                    a, interface = buf, buf.__array_interface__
                pointers.add(len(call))
                call.append(interface["data"][0])
                continue
            if interface["strides"] is None and a.shape == shape:  # C-contiguous, full shape
                call += [interface["data"][0], None]
                pending.append((len(call) - 1, None))
            else:
                call += [None, None]
                pending.append((len(call) - 1, (p, a)))
        if any(item is not None for _, item in pending):
            rows, cols = (count // shape[-1], shape[-1]) if shape[-1] else (0, 0)
            call[0], call[1] = rows, cols
        for index, item in pending:
            if item is None:
                call[index] = cols if rows > 1 else 0
                continue
            p, a = item
            view = a if a.shape == shape else np.broadcast_to(a, shape)
            stride = _row_stride(view, rows, cols)
            if stride is None:  # not (rows x contiguous columns): work on a contiguous copy
                buf = np.ascontiguousarray(view)
                copies.append(buf)
                if p.is_output:
                    write_back.append((a, buf))
                view, stride = buf, cols
            call[index - 1], call[index] = view.__array_interface__["data"][0], stride
        pointers.update(index - 1 for index, _ in pending)
        return fn, call, outputs, write_back, pointers, copies


def get(in_params, out_params, operation, name="kernel"):
    """An :class:`ElementwiseKernel`, or None when compiled kernels cannot be used here (said once)."""
    if not available():
        return None
    return ElementwiseKernel(in_params, out_params, operation, name)
