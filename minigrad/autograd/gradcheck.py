"""Numerical gradient checking: compare autograd's Jacobian with central differences.

For each input element x_k the numerical column is
``(f(x + eps e_k) - f(x - eps e_k)) / (2 eps)``, computed in float64; the
analytical row for each output element comes from one backward pass.
"""
from __future__ import annotations

import numpy as np

from .. import _backend as B
from .engine import Tensor
from .grads import grad


class GradcheckError(AssertionError):
    """Analytical and numerical gradients disagree; the message names the worst element."""


def _as_tuple(x):
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def _float64_inputs(inputs):
    out = []
    for x in inputs:
        if isinstance(x, Tensor) and x.dtype.kind == "f" and x.dtype != np.float64:
            y = Tensor(x.data.astype(np.float64))
            y.requires_grad = x.requires_grad
            out.append(y)
        else:
            out.append(x)
    return tuple(out)


def _outputs(fn, inputs):
    out = _as_tuple(fn(*inputs))
    return [o for o in out if isinstance(o, Tensor) and o.dtype.kind == "f"]


def _numeric_jacobian(fn, inputs, index, eps, n_out):
    x = inputs[index]
    data = x.data
    cols = []
    # Not under no_grad: the function may itself differentiate (gradgradcheck).
    for k in range(data.size):
        pos = np.unravel_index(k, data.shape) if data.ndim else ()
        orig = data[pos].item()
        data[pos] = orig + eps
        plus = [B.to_device(o.data, "cpu").astype(np.float64).ravel() for o in _outputs(fn, inputs)]
        data[pos] = orig - eps
        minus = [B.to_device(o.data, "cpu").astype(np.float64).ravel() for o in _outputs(fn, inputs)]
        data[pos] = orig
        diff = [(p - m) / (2 * eps) for p, m in zip(plus, minus)]
        cols.append(np.concatenate(diff) if diff else np.zeros(n_out))
    return np.stack(cols, axis=1) if cols else np.zeros((n_out, 0))


def _analytic_jacobian(outputs, checked):
    rows = []
    for o in outputs:
        xp = B.xp_of(o.data)
        for j in range(o.data.size):
            onehot = xp.zeros(o.shape, dtype=o.dtype)
            onehot.reshape(-1)[j] = 1
            if not o.requires_grad:
                rows.append([np.zeros(x.data.size) for x in checked])
                continue
            gs = grad(o, checked, Tensor(onehot), retain_graph=True, allow_unused=True)
            rows.append([np.zeros(x.data.size) if g is None else B.to_device(g.data, "cpu").astype(np.float64).ravel()
                         for g, x in zip(gs, checked)])
    # rows[j][i] is d out_j / d input_i: make one matrix per input
    return [np.stack([r[i] for r in rows]) if rows else np.zeros((0, checked[i].data.size))
            for i in range(len(checked))]


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True):
    """Check ``fn``'s gradients at ``inputs`` against central differences.

    ``inputs``: a tensor or a tuple; those with ``requires_grad=True`` are
    checked (float inputs are converted to float64 first).  Returns True, or
    raises :class:`GradcheckError` naming the input, element and output where
    analytic and numeric derivatives differ most (returns False instead when
    ``raise_exception=False``).
    """
    inputs = _float64_inputs(_as_tuple(inputs))
    checked_idx = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if not checked_idx:
        raise ValueError("gradcheck: no input has requires_grad=True")
    outputs = _outputs(fn, inputs)
    n_out = sum(o.data.size for o in outputs)
    analytic = _analytic_jacobian(outputs, [inputs[i] for i in checked_idx])
    worst = None
    for a, i in zip(analytic, checked_idx):
        numeric = _numeric_jacobian(fn, inputs, i, eps, n_out)
        if a.shape != numeric.shape:
            raise GradcheckError(f"input {i}: analytic Jacobian {a.shape} vs numeric {numeric.shape}")
        excess = np.abs(a - numeric) - (atol + rtol * np.abs(numeric))
        excess = np.where(np.isnan(a) != np.isnan(numeric), np.inf, np.nan_to_num(excess, nan=-1.0))
        if excess.size and (worst is None or excess.max() > worst[0]):
            r, c = np.unravel_index(int(np.argmax(excess)), excess.shape)
            worst = (excess.max(), i, r, c, a[r, c], numeric[r, c])
    if worst is None or worst[0] <= 0:
        return True
    _, i, r, c, a_val, n_val = worst
    shape = inputs[i].shape
    elem = tuple(int(v) for v in np.unravel_index(c, shape)) if shape else ()
    msg = (f"gradcheck failed: d output[{r}] / d input {i}{list(elem)} (input shape {shape}): "
           f"analytic {a_val:.8g} vs numeric {n_val:.8g} (difference {abs(a_val - n_val):.3g}, "
           f"tolerance atol={atol} + rtol={rtol} * |numeric|)")
    if raise_exception:
        raise GradcheckError(msg)
    return False


def gradgradcheck(fn, inputs, grad_outputs=None, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True):
    """Check second derivatives: gradcheck of the map (inputs, v) -> v^T J(inputs)."""
    inputs = _float64_inputs(_as_tuple(inputs))
    checked_idx = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    outputs = _outputs(fn, inputs)
    if grad_outputs is None:
        rng = np.random.default_rng(0)
        grad_outputs = [Tensor(B.to_device(rng.standard_normal(o.shape), o.device), requires_grad=True)
                        for o in outputs]
    grad_outputs = tuple(_float64_inputs(_as_tuple(grad_outputs)))
    n = len(inputs)

    def first_derivatives(*args):
        xs, vs = args[:n], args[n:]
        outs = _outputs(fn, xs)
        pairs = [(o, v) for o, v in zip(outs, vs) if o.requires_grad]
        gs = grad([o for o, _ in pairs], [xs[i] for i in checked_idx], [v for _, v in pairs],
                  create_graph=True, allow_unused=True)
        return tuple(g for g in gs if g is not None)

    return gradcheck(first_derivatives, inputs + grad_outputs, eps=eps, atol=atol, rtol=rtol,
                     raise_exception=raise_exception)
