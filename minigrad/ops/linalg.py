"""Matrix products."""
from __future__ import annotations

from ..engine import Op, Tensor
from ._common import lift, tensor_method


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


@tensor_method("matmul", "__matmul__")
def matmul(input, other):
    """Matrix product with NumPy/PyTorch broadcasting rules."""
    if not isinstance(other, Tensor):
        other = lift(other, input)
    _check_matmul(input, other)
    return Matmul.apply(input, other)


Tensor.__rmatmul__ = lambda self, other: matmul(lift(other, self), self)


@tensor_method()
def mm(input, mat2):
    """Product of two matrices (2-D only)."""
    if input.ndim != 2 or mat2.ndim != 2:
        raise ValueError(f"mm expects two matrices, got shapes {input.shape} and {mat2.shape}")
    return matmul(input, mat2)


@tensor_method()
def bmm(input, mat2):
    """Batched product of (b, n, m) and (b, m, p) tensors."""
    if input.ndim != 3 or mat2.ndim != 3 or input.shape[0] != mat2.shape[0]:
        raise ValueError(f"bmm expects (b, n, m) and (b, m, p) with the same b, got {input.shape} and {mat2.shape}")
    return matmul(input, mat2)


@tensor_method()
def dot(input, other):
    """Inner product of two 1-D tensors."""
    if input.ndim != 1 or other.ndim != 1:
        raise ValueError(f"dot expects two 1-D tensors, got shapes {input.shape} and {other.shape}")
    return matmul(input, other)
