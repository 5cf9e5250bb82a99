"""Higher-level uses of ``grad``: Jacobians and Hessian-vector products."""
from __future__ import annotations

from .. import _backend as B
from ..engine import Tensor, grad


def hessian_vector_product(fn, inputs, vectors):
    """``H v`` for a scalar function ``fn``: differentiate ``grad(fn) . v`` once more.

    ``inputs`` and ``vectors``: tensors (or tuples of them) of the same shapes.
    Returns a tuple with one tensor per input.
    """
    inputs = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    vectors = tuple(vectors) if isinstance(vectors, (tuple, list)) else (vectors,)
    out = fn(*inputs)
    if out.data.size != 1:
        raise ValueError(f"hessian_vector_product needs a scalar function, got output shape {out.shape}")
    gs = grad(out, inputs, create_graph=True)
    dot = None
    for g, v in zip(gs, vectors):
        term = (g * v).sum()
        dot = term if dot is None else dot + term
    return grad(dot, inputs, allow_unused=True)


def jacobian(fn, input):
    """The Jacobian of ``fn`` at ``input`` as a tensor of shape ``output.shape + input.shape``."""
    x = input if input.requires_grad else input.detach().requires_grad_()
    out = fn(x)
    xp = B.xp_of(out.data)
    rows = []
    for j in range(out.data.size):
        onehot = xp.zeros(out.shape, dtype=out.dtype)
        onehot.reshape(-1)[j] = 1
        (g,) = grad(out, x, Tensor(onehot), retain_graph=True, allow_unused=True)
        rows.append(xp.zeros(x.shape, dtype=out.dtype) if g is None else g.data)
    return Tensor(xp.stack(rows).reshape(out.shape + x.shape) if rows else xp.zeros(out.shape + x.shape))
