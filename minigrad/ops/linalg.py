"""Matrix products and Einstein summation."""
from __future__ import annotations

import collections
import string

from ..autograd.engine import Op, Tensor
from ._common import lift, xp_of


class Matmul(Op):
    """out = a @ b (NumPy's matmul rules: 1-D operands and broadcast batch dimensions)

    For matrices, dL/da = g @ b^T and dL/db = a^T @ g.  A 1-D operand is a
    row (left) or column (right) vector, so its gradient is an outer product
    summed back by the engine.
    """

    def forward(self, a, b):
        return a @ b

    def backward(self, grad):
        a, b = self.inputs
        need_a, need_b = self.needs_input_grad
        grad_a = grad_b = None
        if a.ndim == 1 and b.ndim == 1:  # dot product
            return (grad * b if need_a else None), (grad * a if need_b else None)
        if a.ndim == 1:  # (k,) @ (..., k, n) -> (..., n)
            if need_a:
                grad_a = grad.unsqueeze(-2) @ b.mT  # (..., 1, k), summed to (k,) by the engine
                grad_a = grad_a.squeeze(-2)
            if need_b:
                grad_b = a.unsqueeze(-1) * grad.unsqueeze(-2)  # outer product (..., k, n)
            return grad_a, grad_b
        if b.ndim == 1:  # (..., m, k) @ (k,) -> (..., m)
            if need_a:
                grad_a = grad.unsqueeze(-1) * b  # (..., m, k)
            if need_b:
                grad_b = (a.mT @ grad.unsqueeze(-1)).squeeze(-1)  # (..., k), summed to (k,)
            return grad_a, grad_b
        if need_a:
            grad_a = grad @ b.mT
        if need_b:
            grad_b = a.mT @ grad
        return grad_a, grad_b


def _check_matmul(a, b):
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: both operands need at least 1 dimension, got shapes {a.shape} and {b.shape}")
    k_a = a.shape[-1]
    k_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
    if k_a != k_b:
        raise ValueError(
            f"matmul: shapes {a.shape} and {b.shape} are not aligned: {k_a} (last dim of the first) != "
            f"{k_b} ({'dim 0' if b.ndim == 1 else 'second-to-last dim'} of the second)"
        )


def matmul(input, other):
    """Matrix product with NumPy/PyTorch broadcasting rules."""
    if not isinstance(other, Tensor):
        other = lift(other, input)
    _check_matmul(input, other)
    return Matmul.apply(input, other)


def mm(input, mat2):
    """Product of two matrices (2-D only)."""
    if input.ndim != 2 or mat2.ndim != 2:
        raise ValueError(f"mm expects two matrices, got shapes {input.shape} and {mat2.shape}")
    return matmul(input, mat2)


def bmm(input, mat2):
    """Batched product of (b, n, m) and (b, m, p) tensors."""
    if input.ndim != 3 or mat2.ndim != 3 or input.shape[0] != mat2.shape[0]:
        raise ValueError(f"bmm expects (b, n, m) and (b, m, p) with the same b, got {input.shape} and {mat2.shape}")
    return matmul(input, mat2)


def dot(input, other):
    """Inner product of two 1-D tensors."""
    if input.ndim != 1 or other.ndim != 1:
        raise ValueError(f"dot expects two 1-D tensors, got shapes {input.shape} and {other.shape}")
    return matmul(input, other)


# ----------------------------------------------------------------------------- einsum
class Einsum(Op):
    """out = einsum(equation, *xs), the equation in explicit form (``"ij,jk->ik"``, no ellipsis)

    The gradient of operand k is itself an einsum: the output gradient contracted with the
    other operands, written to operand k's subscripts.  Subscripts only operand k has
    (summed in forward) come back by broadcasting; a subscript repeated within operand k
    (a diagonal) puts the gradient back on the diagonal by multiplying with an identity.
    """

    def forward(self, *xs):
        return xp_of(xs[0]).einsum(self.equation, *xs, optimize=len(xs) > 2)

    def backward(self, grad):
        terms, out = self.terms, self.out
        grads = []
        for k, x in enumerate(self.inputs):
            if not self.needs_input_grad[k]:
                grads.append(None)
                continue
            others = [t for j, t in enumerate(self.inputs) if j != k]
            other_terms = [s for j, s in enumerate(terms) if j != k]
            grads.append(_einsum_adjoint(grad, out, others, other_terms, terms[k], x.shape))
        return tuple(grads)


def _einsum_adjoint(grad, out, others, other_terms, term, shape):
    """d(sum grad * einsum(...))/d(operand) for the operand with subscripts ``term`` and ``shape``."""
    size = {}
    for letter, n in zip(term, shape):
        size.setdefault(letter, n)
    unique = "".join(dict.fromkeys(term))
    available = set(out).union(*other_terms)
    reached = "".join(c for c in unique if c in available)
    g = _einsum(",".join([out] + other_terms) + "->" + reached, [grad] + others)
    lonely = [i for i, c in enumerate(unique) if c not in available]
    if lonely:  # summed inside this operand only: the gradient is the same along those dims
        for i in lonely:
            g = g.unsqueeze(i)
        g = g.expand(*(size[c] for c in unique))
    if len(unique) == len(term):
        return g
    # A repeated subscript (a diagonal): rename each repeat, tie it to the first with an identity.
    renamed, eyes, eye_terms = [], [], []
    spare = (c for c in string.ascii_letters if c not in set(term) | available)
    for c in term:
        if c in renamed:
            fresh = next(spare)
            eye_terms.append(c + fresh)
            eyes.append(Tensor(xp_of(grad.data).eye(size[c], dtype=grad.dtype)))
            renamed.append(fresh)
        else:
            renamed.append(c)
    return _einsum(",".join([unique] + eye_terms) + "->" + "".join(renamed), [g] + eyes)


def _einsum(equation, tensors):
    terms, out = equation.split("->")
    return Einsum.apply(*tensors, equation=equation, terms=terms.split(","), out=out)


def _explicit(equation, shapes):
    """``equation`` with every ``...`` replaced by letters and the output written out (NumPy's rules)."""
    eq = equation.replace(" ", "")
    lhs, arrow, out = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(shapes):
        raise ValueError(f"einsum: {equation!r} names {len(terms)} operands, but {len(shapes)} tensors were given")
    letters_used = set(c for c in eq if c.isalpha())
    if any(not (c.isalpha() or c in ".,->") for c in eq) or any(c not in string.ascii_letters for c in letters_used):
        raise ValueError(f"einsum: subscripts must be letters a-z, A-Z (with ',', '->' and '...'), got {equation!r}")
    spans = []
    for i, (t, shape) in enumerate(zip(terms, shapes)):
        named = len(t.replace("...", ""))
        if "..." in t:
            spans.append(len(shape) - named)
        else:
            spans.append(0)
        if spans[-1] < 0 or ("..." not in t and named != len(shape)):
            raise ValueError(f"einsum: operand {i} has shape {tuple(shape)} ({len(shape)} dims), but its "
                             f"subscripts {t!r} name {named}")
    spare = [c for c in string.ascii_letters if c not in letters_used]
    broadcast = "".join(spare[:max(spans, default=0)])
    terms = [t.replace("...", broadcast[len(broadcast) - n:] if n else "") for t, n in zip(terms, spans)]
    if not arrow:  # implicit output: broadcast dims, then the letters used once, in alphabetical order
        counts = collections.Counter("".join(terms))
        out = broadcast + "".join(sorted(c for c in letters_used if counts[c] == 1))
    else:
        out = out.replace("...", broadcast)
    if len(set(out)) != len(out) or any(c not in "".join(terms) for c in out):
        raise ValueError(f"einsum: the output subscripts of {equation!r} must be distinct letters of the inputs")
    return terms, out


def einsum(equation, *operands):
    """Einstein summation, as ``torch.einsum``: ``einsum("ij,jk->ik", a, b)`` is ``a @ b``.

    Each operand's dims are named by letters; letters missing from the output are summed
    over.  ``...`` stands for broadcast dims; without ``->`` the output is the broadcast
    dims then the letters used once, in alphabetical order.  Operands may also be given
    as one list.  Differentiable to any order (the backward is einsum again).
    """
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    if not operands or not all(isinstance(t, Tensor) for t in operands):
        raise TypeError("einsum: expected one or more tensors after the equation")
    terms, out = _explicit(equation, [t.shape for t in operands])
    try:
        return _einsum(",".join(terms) + "->" + out, list(operands))
    except ValueError as e:
        shapes = ", ".join(str(tuple(t.shape)) for t in operands)
        raise ValueError(f"einsum: {equation!r} does not fit operands of shapes {shapes}: {e}") from None


# ----------------------------------------------------------------------------- more products


def outer(input, vec2):
    """Outer product of two 1-D tensors: (n,) and (m,) -> (n, m)."""
    if input.ndim != 1 or vec2.ndim != 1:
        raise ValueError(f"outer expects two 1-D tensors, got shapes {input.shape} and {vec2.shape}")
    return input.unsqueeze(1) * vec2.unsqueeze(0)


def mv(input, vec):
    """Matrix-vector product: (n, m) and (m,) -> (n,)."""
    if input.ndim != 2 or vec.ndim != 1:
        raise ValueError(f"mv expects a matrix and a vector, got shapes {input.shape} and {vec.shape}")
    return matmul(input, vec)


def addmm(input, mat1, mat2, *, beta=1, alpha=1):
    """``beta * input + alpha * (mat1 @ mat2)``: input broadcast to (n, p), mat1 (n, m), mat2 (m, p).
    With ``beta=0`` the input is ignored (NaN in it does not propagate), as in PyTorch."""
    if mat1.ndim != 2 or mat2.ndim != 2:
        raise ValueError(f"addmm expects two matrices, got shapes {mat1.shape} and {mat2.shape}")
    product = mm(mat1, mat2)
    if alpha != 1:
        product = product * alpha
    if beta == 0:  # the input only sets the broadcast shape
        from .shape import broadcast_shapes

        return product.expand(*broadcast_shapes(input.shape, product.shape))
    return product + (input if beta == 1 else input * beta)


def tensordot(a, b, dims=2):
    """Contract the last ``dims`` dims of ``a`` with the first ``dims`` of ``b`` (an int), or the listed
    dims (``dims=([1, 0], [0, 1])``)."""
    letters = string.ascii_letters
    if isinstance(dims, int) or (isinstance(dims, Tensor) and dims.ndim == 0):
        k = int(dims)
        if k < 0 or k > min(a.ndim, b.ndim):
            raise ValueError(f"tensordot: dims={k} does not fit shapes {a.shape} and {b.shape}")
        dims_a, dims_b = list(range(a.ndim - k, a.ndim)), list(range(k))
    else:
        dims_a, dims_b = ([int(d) for d in (x.tolist() if isinstance(x, Tensor) else
                                              ([x] if isinstance(x, int) else x))] for x in dims)
        dims_a = [d % max(a.ndim, 1) for d in dims_a]
        dims_b = [d % max(b.ndim, 1) for d in dims_b]
        if len(dims_a) != len(dims_b):
            raise ValueError(f"tensordot: dims {dims} must list as many dims of each tensor")
    for da, db in zip(dims_a, dims_b):
        if a.shape[da] != b.shape[db]:
            raise ValueError(f"tensordot: dim {da} of shape {a.shape} and dim {db} of shape {b.shape} differ")
    sa = list(letters[:a.ndim])
    sb = list(letters[a.ndim:a.ndim + b.ndim])
    for da, db in zip(dims_a, dims_b):
        sb[db] = sa[da]
    out = [c for i, c in enumerate(sa) if i not in dims_a] + [c for i, c in enumerate(sb) if i not in dims_b]
    return einsum("".join(sa) + "," + "".join(sb) + "->" + "".join(out), a, b)
