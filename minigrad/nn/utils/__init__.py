"""``mg.nn.utils``: gradient clipping, flattening parameters, cutting recurrent state from the graph.

As ``torch.nn.utils``: ``clip_grad_norm_``, ``clip_grad_value_``,
``parameters_to_vector``, ``vector_to_parameters`` and the ``rnn`` submodule
(packing sequences); plus ``detach_state`` for truncated backpropagation
through time.
"""
from __future__ import annotations

import math

import numpy as np

from ... import _backend as B
from ...autograd.engine import Tensor, _wrap, no_grad
from ...ops.shape import cat

__all__ = ["clip_grad_norm_", "clip_grad_value_", "parameters_to_vector", "vector_to_parameters", "detach_state",
           "rnn"]


def _as_list(parameters, fn_name):
    if isinstance(parameters, Tensor):
        return [parameters]
    if isinstance(parameters, (str, bytes)) or not hasattr(parameters, "__iter__"):
        raise TypeError(f"{fn_name}: expected a tensor or an iterable of tensors, got {type(parameters).__name__}")
    params = list(parameters)
    for i, p in enumerate(params):
        if not isinstance(p, Tensor):
            raise TypeError(f"{fn_name}: expected tensors, but item {i} is a {type(p).__name__}")
    return params


def _vector_norm(array, norm_type, dtype=None):
    """The ``norm_type``-norm of all elements of ``array`` as a 0-d array of ``dtype`` (default: its own)
    on its device.  Half-precision arrays are summed in float32: their squares overflow float16
    (300**2 > 65504), as PyTorch's accumulation avoids too."""
    xp = B.xp_of(array)
    flat = array.reshape(-1)
    if flat.dtype.kind == "f" and flat.dtype.itemsize < 4:
        flat = flat.astype(xp.float32)
    return xp.asarray(_raw_vector_norm(xp, flat, norm_type), dtype=dtype or array.dtype)


def _raw_vector_norm(xp, flat, norm_type):
    if norm_type == math.inf:
        return xp.abs(flat).max() if flat.size else 0.0
    if norm_type == -math.inf:
        return xp.abs(flat).min() if flat.size else math.inf
    if norm_type == 0:
        return (flat != 0).sum()
    if norm_type == 2:
        return xp.sqrt(xp.dot(flat, flat))  # one BLAS call
    if norm_type == 1:
        return xp.abs(flat).sum()
    return (xp.abs(flat) ** norm_type).sum() ** (1.0 / norm_type)


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """Scale the gradients of ``parameters`` in place so that their total norm is at most ``max_norm``.

    The total norm is the ``norm_type``-norm of all gradients together, as if they
    were concatenated into one vector (``float("inf")``: the largest absolute value).
    Gradients are multiplied by ``min(1, max_norm / (total_norm + 1e-6))``; parameters
    without a gradient are skipped.

    Returns the total norm *before* clipping, as a 0-d Tensor (the gradients' dtype
    and device): handy for logging exploding gradients.  ``error_if_nonfinite=True``
    raises if it is nan or inf (otherwise the gradients become nan/inf, as in PyTorch).
    ``foreach`` is accepted for PyTorch compatibility and ignored.
    """
    params = _as_list(parameters, "clip_grad_norm_")
    max_norm = float(max_norm)
    norm_type = float(norm_type)
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return Tensor(np.zeros((), dtype=np.float32))
    with np.errstate(invalid="ignore", over="ignore"):  # nan/inf gradients give a nan/inf norm, as in PyTorch
        total = _clip_by_total_norm(grads, max_norm, norm_type, error_if_nonfinite)
    return _wrap(total, None, 0)


def _clip_by_total_norm(grads, max_norm, norm_type, error_if_nonfinite):
    """Scale the gradient Tensors ``grads`` in place; returns their total norm (a 0-d array)."""
    first = grads[0].data
    xp = B.xp_of(first)
    # One norm per gradient (on its own device), then the norm of those norms: the norm of everything.
    # Half-precision gradients: norms and the clipping factor in float32, the returned norm in their dtype.
    wide = first.dtype if first.dtype.itemsize >= 4 else xp.dtype(xp.float32)
    norms = [B.to_device(_vector_norm(g.data, norm_type, wide), B.device_of(first)) for g in grads]
    total = _vector_norm(xp.stack(norms), norm_type) if len(norms) > 1 else norms[0]
    if error_if_nonfinite and not bool(xp.isfinite(total)):
        raise RuntimeError(
            f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is {float(total)}, so they "
            "cannot be clipped; pass error_if_nonfinite=False to clip anyway (the gradients become nan/inf)"
        )
    # Keep everything on the device (no sync): multiply always, by 1.0 when no clipping is needed.
    # The 0-d arrays keep the gradients' dtype (NumPy 1.x would turn float32 scalars into float64).
    dtype = total.dtype
    coef = xp.asarray(max_norm, dtype=dtype) / (total + xp.asarray(1e-6, dtype=dtype))
    coef = xp.minimum(coef, xp.asarray(1.0, dtype=dtype))
    with no_grad():
        for g in grads:
            data = g.data
            c = B.to_device(coef, B.device_of(data)).astype(data.dtype, copy=False)
            B.xp_of(data).multiply(data, c, out=data)
            g._bump_version()
    return total.astype(first.dtype, copy=False)


def clip_grad_value_(parameters, clip_value, foreach=None):
    """Clamp every gradient element of ``parameters`` into ``[-clip_value, clip_value]``, in place.

    Parameters without a gradient are skipped.  ``foreach`` is accepted for PyTorch
    compatibility and ignored.
    """
    params = _as_list(parameters, "clip_grad_value_")
    clip_value = float(clip_value)
    if not clip_value >= 0:
        raise ValueError(f"clip_grad_value_: clip_value must be >= 0, got {clip_value}")
    with no_grad():
        for p in params:
            if p.grad is None:
                continue
            data = p.grad.data
            B.xp_of(data).clip(data, -clip_value, clip_value, out=data)
            p.grad._bump_version()


def parameters_to_vector(parameters):
    """All ``parameters`` flattened and concatenated into one 1-D tensor (differentiable), shape ``(total,)``."""
    params = _as_list(parameters, "parameters_to_vector")
    if not params:
        raise ValueError("parameters_to_vector: got no parameters")
    devices = {p.device for p in params}
    if len(devices) > 1:
        raise B.DeviceError(f"parameters_to_vector: parameters are on several devices {sorted(devices)}")
    return cat([p.reshape(-1) for p in params])


def vector_to_parameters(vec, parameters):
    """Copy consecutive slices of the 1-D tensor ``vec`` into ``parameters`` (in place, under ``no_grad``).

    The inverse of :func:`parameters_to_vector`: ``vec`` must hold exactly as many
    elements as the parameters together.
    """
    if not isinstance(vec, Tensor):
        raise TypeError(f"vector_to_parameters: expected vec to be a Tensor, got {type(vec).__name__}")
    if vec.ndim != 1:
        raise ValueError(f"vector_to_parameters: vec must be 1-D, got shape {vec.shape}")
    params = _as_list(parameters, "vector_to_parameters")
    total = sum(p.numel() for p in params)
    if vec.shape[0] != total:
        shapes = ", ".join(str(tuple(p.shape)) for p in params)
        raise ValueError(f"vector_to_parameters: vec has {vec.shape[0]} elements, but the parameters "
                         f"({shapes}) have {total}")
    start = 0
    with no_grad():
        for p in params:
            n = p.numel()
            piece = vec.data[start:start + n].reshape(p.shape)
            if not B.same_device([piece, p.data]):
                raise B.DeviceError(f"vector_to_parameters: vec is on {vec.device}, a parameter on {p.device}")
            p.data[...] = piece  # casts to the parameter's dtype
            p._bump_version()
            start += n


def detach_state(state):
    """Cut a recurrent state from the graph: ``h = mg.nn.utils.detach_state(h)``.

    ``state``: a Tensor, or a (nested) tuple/list of Tensors such as an LSTM's
    ``(h, c)``; the same structure comes back with every tensor detached (sharing
    its data).  Use it between chunks of a long sequence (truncated backpropagation
    through time), so the next backward stops at the chunk boundary instead of
    reaching through every earlier chunk.  ``None`` and numbers pass through.
    """
    if isinstance(state, Tensor):
        return state.detach()
    if isinstance(state, list):
        return [detach_state(s) for s in state]
    if isinstance(state, tuple):
        items = [detach_state(s) for s in state]
        if hasattr(state, "_fields"):  # a namedtuple keeps its type
            return type(state)(*items)
        return tuple(items)
    if isinstance(state, dict):
        return {k: detach_state(v) for k, v in state.items()}
    if state is None or isinstance(state, (int, float, complex, np.generic)):
        return state
    raise TypeError(f"detach_state: expected a Tensor or a nested tuple/list of Tensors, got {type(state).__name__}")


from . import rnn  # noqa: E402  (mg.nn.utils.rnn, as torch.nn.utils.rnn)
