"""Higher-level uses of ``grad``: Jacobians, Hessians, vector-Jacobian and Hessian-vector products."""
from __future__ import annotations

from .. import _backend as B
from .engine import Tensor
from .grads import grad


def hessian_vector_product(fn, inputs, vectors):
    """``H v`` for a scalar function ``fn``: differentiate ``grad(fn) . v`` once more.

    ``inputs`` and ``vectors``: tensors (or tuples of them) of the same shapes.
    Returns a tuple with one tensor per input.
    """
    inputs = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    vectors = tuple(vectors) if isinstance(vectors, (tuple, list)) else (vectors,)
    return _hvp_of_output(fn(*inputs), inputs, vectors)


def _hvp_of_output(out, inputs, vectors):
    if out.data.size != 1:
        raise ValueError(f"a Hessian-vector product needs a scalar function, got output shape {out.shape}")
    gs = grad(out, inputs, create_graph=True)
    dot = None
    for g, v in zip(gs, vectors):
        term = (g * v).sum()
        dot = term if dot is None else dot + term
    if not dot.requires_grad:  # the gradient does not depend on the inputs: a zero Hessian
        return tuple(None for _ in inputs)
    return grad(dot, inputs, allow_unused=True)


def jacobian(fn, input):
    """The Jacobian of ``fn`` at ``input`` as a tensor of shape ``output.shape + input.shape``.

    ``input`` may be a tuple of tensors (``fn`` then takes them as arguments, as in PyTorch): the result is
    a tuple with one Jacobian per input.  ``fn`` returns one tensor.
    """
    xs, is_tuple = _as_tuple(input)
    _check_tensors("jacobian", xs)
    xs = tuple(x if x.requires_grad else x.detach().requires_grad_() for x in xs)
    out = fn(*xs)
    if not isinstance(out, Tensor):
        raise TypeError(f"jacobian: fn must return one tensor, got {type(out).__name__}")
    jacobians = tuple(_jacobian_of(out, x) for x in xs)
    return jacobians if is_tuple else jacobians[0]


def _check_tensors(name, inputs):
    for x in inputs:
        if not isinstance(x, Tensor):
            raise TypeError(f"{name}: inputs must be tensors (or a tuple of tensors), got {type(x).__name__}")


def _jacobian_of(out, x):
    """d out / d x, one backward per element of ``out`` (row j: the gradient of ``out.flat[j]``)."""
    xp = B.xp_of(out.data)
    shape = out.shape + x.shape
    if not out.requires_grad:  # out does not depend on x
        return Tensor(xp.zeros(shape, dtype=out.dtype))
    rows = []
    for j in range(out.data.size):
        onehot = xp.zeros(out.shape, dtype=out.dtype)
        onehot.reshape(-1)[j] = 1
        (g,) = grad(out, x, Tensor(onehot), retain_graph=True, allow_unused=True)
        rows.append(xp.zeros(x.shape, dtype=out.dtype) if g is None else g.data)
    return Tensor(xp.stack(rows).reshape(shape) if rows else xp.zeros(shape, dtype=out.dtype))


def _as_tuple(x):
    return (tuple(x), True) if isinstance(x, (tuple, list)) else ((x,), False)


def _fresh_inputs(inputs):
    """Inputs as new leaves that require grad (the caller's tensors are left alone)."""
    return tuple(x.detach().requires_grad_() for x in inputs)


def _zeros_for_none(grads, inputs):
    """Unused inputs get zero gradients (PyTorch's functional API does the same)."""
    return tuple(g if g is not None else Tensor(B.xp_of(x.data).zeros_like(x.data)) for g, x in zip(grads, inputs))


def vjp(func, inputs, v=None):
    """Vector-Jacobian product, as ``torch.autograd.functional.vjp``: ``(func(inputs), v^T J)``.

    ``v`` has the output's shape (may be omitted for a one-element output); the
    products have the inputs' shapes (a tuple when ``inputs`` is a tuple).
    """
    xs, is_tuple = _as_tuple(inputs)
    xs = _fresh_inputs(xs)
    out = func(*xs)
    gs = _zeros_for_none(grad(out, xs, v, allow_unused=True), xs)
    return out.detach(), (gs if is_tuple else gs[0])


def hvp(func, inputs, v):
    """Hessian-vector product of a scalar ``func``, as ``torch.autograd.functional.hvp``: ``(func(inputs), H v)``."""
    xs, is_tuple = _as_tuple(inputs)
    vs, _ = _as_tuple(v)
    xs = _fresh_inputs(xs)
    out = func(*xs)
    products = _zeros_for_none(_hvp_of_output(out, xs, vs), xs)
    return out.detach(), (products if is_tuple else products[0])


def hessian(func, input):
    """The Hessian of a scalar ``func`` at one tensor ``input``: shape ``input.shape + input.shape``.

    Row ``i`` is the gradient of ``d func / d input_i``: the Jacobian of the gradient, built with
    ``create_graph=True`` so the gradient can be differentiated again.  With a tuple of inputs (as in
    PyTorch) the result is a tuple of tuples: entry ``[i][j]`` has shape ``inputs[i].shape + inputs[j].shape``.
    """
    xs, is_tuple = _as_tuple(input)
    _check_tensors("hessian", xs)
    xs = _fresh_inputs(xs)
    out = func(*xs)
    if not isinstance(out, Tensor) or out.data.size != 1:
        shape = out.shape if isinstance(out, Tensor) else type(out).__name__
        raise ValueError(f"hessian needs a scalar function, got output shape {shape}")
    gradients = grad(out, xs, create_graph=True, allow_unused=True)
    blocks = []
    for g, xi in zip(gradients, xs):
        if g is None:  # func does not depend on this input: its rows are zero
            g = Tensor(B.xp_of(xi.data).zeros_like(xi.data))
        blocks.append(tuple(_jacobian_of(g, xj) for xj in xs))
    return tuple(blocks) if is_tuple else blocks[0][0]
