"""Compiled kernels for pooling and col2im: one source for the GPU (CuPy) and the CPU (the system C compiler).

Each kernel is written once in CuPy's ``ElementwiseKernel`` conventions
(:mod:`minigrad._cpu_kernels` lists them): on CuPy arrays it runs as a CUDA
kernel, on NumPy arrays as C compiled by :mod:`minigrad._cpu_kernels`.  The
NumPy code in :mod:`minigrad.ops.conv` is the portable path, and what runs
when :func:`kernel` returns None (``MINIGRAD_CPU_KERNELS=0``, no compiler,
:data:`USE_CPU_KERNELS` / :data:`USE_CUDA_KERNELS` False, or a dtype other
than float32/float64).  The kernels repeat the portable code's arithmetic in
the same order, so both give the same numbers; the tests check that.

Every kernel computes one output element per index ``i`` and writes nothing
another element reads (the GPU runs them as parallel threads).  The image
arrays are C-contiguous and indexed by hand (``raw``); geometry comes as
``int32`` scalars: ``H, W`` the input's height and width, ``Ho, Wo`` the
output's, ``kh, kw`` the kernel, ``sh, sw`` the stride, ``pt, pl`` the top
and left padding, ``dh, dw`` the dilation.  Offsets in a window are numbered
row-major, ``k = ki * kw + kj``, as in the portable code.  (``n`` and ``i``
are reserved names; the batch size is ``batch``.)
"""
from __future__ import annotations

import re

import numpy as np

from .. import _cpu_kernels as _cpu

#: Use the CUDA kernels on CuPy arrays (False: the portable NumPy/CuPy code).
USE_CUDA_KERNELS = True
#: Use the same kernels compiled for the CPU on NumPy arrays (False, or MINIGRAD_CPU_KERNELS=0: the NumPy code).
USE_CPU_KERNELS = True

_GEOMETRY = ("int32 H, int32 W, int32 Ho, int32 Wo, int32 kh, int32 kw, int32 sh, int32 sw, int32 pt, int32 pl, "
             "int32 dh, int32 dw")

# Integer division is the slowest instruction in these kernels (tens of cycles, and it does not vectorise):
# a quotient by a divisor d fixed for the whole call is a multiplication and a shift instead,
# ``q = (x * m) >> s`` with the (m, s) of :func:`divisor`, exact for 0 <= x < 2**31.  ``DIVIDE(x, d)`` in a
# source below stands for it, with parameters ``uint64 d_m, int32 d_s``.
_DIVIDE = "((ptrdiff_t)(((unsigned long long)({x}) * {d}_m) >> {d}_s))"
MAX_ELEMENTS = 2 ** 31  # bigger arrays run the portable code


def _DIVISORS(*names):  # noqa: N802 - reads as the parameter list it makes
    return "".join(f", uint64 {d}_m, int32 {d}_s" for d in names)


# Output pixel i = (plane, yo, xo) of an (N*C, Ho, Wo) grid.
_OUTPUT_PIXEL = """
const ptrdiff_t row = DIVIDE(i, Wo);
const ptrdiff_t xo = i - row * Wo;
const ptrdiff_t plane = DIVIDE(row, Ho);
const ptrdiff_t yo = row - plane * Ho;
"""

SOURCES = {
    # out, argmax (N, C, Ho, Wo) from x (N, C, H, W).  Padding reads as ``lowest`` (-inf).  As in the
    # portable code: the first offset starts the maximum, a later one wins only when strictly greater
    # (ties keep the first), NaN propagates and the argmax points at the last NaN.  A: the argmax dtype
    # (CuPy takes one-letter type placeholders; I is C's imaginary unit).  (Written without
    # branches on the data: ``arg + wins * (k - arg)`` rather than ``if``.)
    "max_pool_forward": (
        "raw T x, T lowest, " + _GEOMETRY + _DIVISORS("Wo", "Ho"),
        "T out, A argmax",
        _OUTPUT_PIXEL + """
        T best = lowest;
        int arg = 0;
        for (int ki = 0; ki < kh; ++ki) {
            const ptrdiff_t y = yo * sh + ki * dh - pt;
            for (int kj = 0; kj < kw; ++kj) {
                const ptrdiff_t xx = xo * sw + kj * dw - pl;
                const T v = (y >= 0 && y < H && xx >= 0 && xx < W) ? x[(plane * H + y) * W + xx] : lowest;
                // arg starts at offset 0, which wins unless it is -inf (then it stays 0); NaN wins and stays.
                const int wins = (v > best) | (v != v);
                best = v > best ? v : best;
                best = v != v ? v : best;
                arg = arg + wins * (ki * kw + kj - arg);
            }
        }
        out = best;
        argmax = (A)arg;
        """,
    ),
    # The gradient of max pooling when no two windows overlap: each output gradient g (N, C, Ho, Wo) is
    # written at its window's argmax in dx (N, C, H, W), which comes in zeroed.  Disjoint windows: no two
    # elements write the same pixel.  An argmax in the padding is dropped (the portable code crops it).
    "max_pool_route_disjoint": (
        "T g, A argmax, " + _GEOMETRY + _DIVISORS("Wo", "Ho", "kw"),
        "raw T dx",
        _OUTPUT_PIXEL + """
        const ptrdiff_t k = (ptrdiff_t)argmax;
        const ptrdiff_t ki = DIVIDE(k, kw);
        const ptrdiff_t y = yo * sh + ki * dh - pt;
        const ptrdiff_t xx = xo * sw + (k - ki * kw) * dw - pl;
        if (y >= 0 && y < H && xx >= 0 && xx < W) {
            dx[(plane * H + y) * W + xx] = g;
        }
        """,
    ),
    # The adjoint of the route: h (N, C, H, W) read at each window's argmax (0 in the padding).
    "max_pool_gather": (
        "raw T h, A argmax, " + _GEOMETRY + _DIVISORS("Wo", "Ho", "kw"),
        "T out",
        _OUTPUT_PIXEL + """
        const ptrdiff_t k = (ptrdiff_t)argmax;
        const ptrdiff_t ki = DIVIDE(k, kw);
        const ptrdiff_t y = yo * sh + ki * dh - pt;
        const ptrdiff_t xx = xo * sw + (k - ki * kw) * dw - pl;
        out = (y >= 0 && y < H && xx >= 0 && xx < W) ? h[(plane * H + y) * W + xx] : (T)0;
        """,
    ),
    # col2im: cols (C, kh*kw, Ho, Wo, batch), batch last, summed onto img (batch, C, H, W).  Element i is
    # input pixel (b, c, y, x); it adds every column entry that came from it, offsets in ascending order as
    # the portable code does.
    "col2im": (
        "raw T cols, int32 batch, int32 C, " + _GEOMETRY + _DIVISORS("W", "H", "C"),
        "T img",
        """
        const ptrdiff_t row = DIVIDE(i, W);
        const ptrdiff_t xx = i - row * W;
        const ptrdiff_t plane = DIVIDE(row, H);
        const ptrdiff_t y = row - plane * H;
        const ptrdiff_t b = DIVIDE(plane, C);
        const ptrdiff_t c = plane - b * C;
        T acc = (T)0;
        for (int ki = 0; ki < kh; ++ki) {
            const ptrdiff_t ty = y + pt - ki * dh;
            if (ty < 0) break;
            ptrdiff_t yo = ty;
            if (sh != 1) {
                if (ty % sh != 0) continue;
                yo = ty / sh;
            }
            if (yo >= Ho) continue;
            for (int kj = 0; kj < kw; ++kj) {
                const ptrdiff_t tx = xx + pl - kj * dw;
                if (tx < 0) break;
                ptrdiff_t xo = tx;
                if (sw != 1) {
                    if (tx % sw != 0) continue;
                    xo = tx / sw;
                }
                if (xo >= Wo) continue;
                acc = acc + cols[((((c * kh + ki) * kw + kj) * Ho + yo) * Wo + xo) * batch + b];
            }
        }
        img = acc;
        """,
    ),
}


def _expand(body):
    """The body with every ``DIVIDE(x, d)`` written out (see _DIVIDE)."""
    return re.sub(r"DIVIDE\((\w+), (\w+)\)", lambda m: _DIVIDE.format(x=m[1], d=m[2]), body)


def divisor(d):
    """(m, s) with ``(x * m) >> s == x // d`` for every integer 0 <= x < 2**31 (``1 <= d < 2**31``).

    The round-up method of Granlund and Montgomery with l = ceil(log2 d): m = 2**(31 + l) // d + 1 < 2**33,
    so ``x * m < 2**64`` never overflows an unsigned 64-bit product.
    """
    d = int(d)
    if not 1 <= d < 2 ** 31:
        raise ValueError(f"divisor {d} is out of range [1, 2**31)")
    l = (d - 1).bit_length()
    return np.uint64(2 ** (31 + l) // d + 1), 31 + l


def divisors(*values):
    """The (m, s) argument pairs for ``values``, flattened, in order."""
    return tuple(part for d in values for part in divisor(d))


#: The kernels that also run on the CPU.  The others stay NumPy there: their loops over the window's offsets
#: keep the C compiler from vectorising them, and NumPy's whole-array passes are faster (max pooling forward
#: by about 2x, col2im by 3x, measured at LeNet-5's sizes); on the GPU every kernel runs.
CPU_KERNELS = frozenset({"max_pool_route_disjoint", "max_pool_gather"})

_cuda_built = {}
_cpu_built = {}


def kernel(name, xp, dtype, size):
    """The kernel ``name`` for ``size`` elements of ``xp``'s arrays of ``dtype``, or None: run the portable code."""
    if dtype not in (np.float32, np.float64) or size >= MAX_ELEMENTS:
        return None
    if xp is np:
        if name not in CPU_KERNELS or not USE_CPU_KERNELS or not _cpu.available():
            return None
        built, make = _cpu_built, _cpu.ElementwiseKernel
    else:
        if not USE_CUDA_KERNELS:
            return None
        built, make = _cuda_built, xp.ElementwiseKernel
    k = built.get(name)
    if k is None:
        params_in, params_out, body = SOURCES[name]
        k = built[name] = make(params_in, params_out, _expand(body), "minigrad_" + name)
    return k


def geometry(in_hw, out_hw, kernel_hw, stride, padding, dilation):
    """The twelve int32 geometry arguments, in the order of the kernels' parameters."""
    return (int(in_hw[0]), int(in_hw[1]), int(out_hw[0]), int(out_hw[1]), int(kernel_hw[0]), int(kernel_hw[1]),
            int(stride[0]), int(stride[1]), int(padding[0]), int(padding[2]), int(dilation[0]), int(dilation[1]))
