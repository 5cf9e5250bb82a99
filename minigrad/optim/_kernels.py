"""One-pass parameter updates on the CPU: each optimizer's NumPy update (about ten array operations, each a
pass over the parameter) as one compiled elementwise kernel (:mod:`minigrad._cpu_kernels`).

The kernels repeat the NumPy code's arithmetic operation by operation, in the parameter's dtype (scalars are
rounded to it first, as NumPy does with Python floats), so both paths give the same numbers; the tests
check that.  :func:`kernel` returns None where the NumPy code runs instead: CuPy arrays, dtypes other than
float32/float64, mixed dtypes, :data:`USE_CPU_KERNELS` False, or no compiled kernels here.
"""
from __future__ import annotations

import numpy as np

from .. import _cpu_kernels

#: Update parameters with the compiled kernels where possible (False: always the NumPy code).
USE_CPU_KERNELS = True

# d: the gradient the rule uses, as Optimizer._effective_grad computes it (sign -1 when maximizing;
# weight_decay * p added for the L2 penalty).
_EFFECTIVE_GRAD = "const T d = wd != 0 ? param * (T)wd + (T)sign * grad : (T)sign * grad;"

_SOURCES = {
    # SGD without momentum: p += d * (-lr)
    "sgd": ("T grad, float64 wd, float64 sign, float64 neg_lr", "T param",
            _EFFECTIVE_GRAD + "\nparam = param + d * (T)neg_lr;"),
    # SGD with momentum (after the first step): b = b * mu + d (dampening: d * (1 - dampening));
    # p += (nesterov ? d + b * mu : b) * (-lr)
    "sgd_momentum": (
        "T grad, float64 wd, float64 sign, float64 momentum, float64 keep, int32 dampen, int32 nesterov, "
        "float64 neg_lr",
        "T param, T buf",
        _EFFECTIVE_GRAD + """
        const T b = buf * (T)momentum + (dampen ? d * (T)keep : d);
        buf = b;
        const T step = nesterov ? d + b * (T)momentum : b;
        param = param + step * (T)neg_lr;
        """),
    # Adam / AdamW (not amsgrad): decay = 1 - lr * weight_decay for AdamW (1 for Adam)
    "adam": (
        "T grad, float64 decay, float64 wd, float64 sign, float64 beta1, float64 beta2, float64 one_minus_beta2, "
        "float64 bc2_sqrt, float64 eps, float64 neg_step",
        "T param, T m, T v",
        """
        const T p = decay != 1 ? param * (T)decay : param;
        const T d = wd != 0 ? p * (T)wd + (T)sign * grad : (T)sign * grad;
        const T m_new = (m - d) * (T)beta1 + d;
        const T v_new = v * (T)beta2 + d * d * (T)one_minus_beta2;
        const T denom = sqrt(v_new) / (T)bc2_sqrt + (T)eps;
        m = m_new;
        v = v_new;
        param = p + m_new / denom * (T)neg_step;
        """),
}
_built = {}


def kernel(name, param, grad):
    """The compiled update ``name`` for this parameter and gradient, or None (use the NumPy code)."""
    if (not USE_CPU_KERNELS or type(param) is not np.ndarray or type(grad) is not np.ndarray
            or param.dtype != grad.dtype or param.dtype not in (np.float32, np.float64)
            or not _cpu_kernels.available()):
        return None
    k = _built.get(name)
    if k is None:
        k = _built[name] = _cpu_kernels.ElementwiseKernel(*_SOURCES[name], "minigrad_opt_" + name)
    return k
