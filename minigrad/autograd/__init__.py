"""``mg.autograd``: gradients on demand, user-defined ops, gradient checking, the tape."""
from ..engine import (  # noqa: F401
    BackwardEntry, BackwardError, BackwardTape, Tape, TapeEntry, enable_grad, grad, is_grad_enabled, no_grad,
    set_grad_enabled, tape,
)
from .function import Function, FunctionCtx  # noqa: F401
from .gradcheck import GradcheckError, gradcheck, gradgradcheck  # noqa: F401
from .functional import hessian, hessian_vector_product, hvp, jacobian, vjp  # noqa: F401
