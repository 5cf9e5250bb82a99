"""``mg.autograd``: the engine, gradients on demand, user-defined ops, gradient checking, the tape."""
from .engine import BackwardError, Op, Tensor, enable_grad, is_grad_enabled, no_grad, set_grad_enabled  # noqa: F401
from .tape import BackwardEntry, BackwardTape, Tape, TapeEntry, tape  # noqa: F401
from .grads import grad  # noqa: F401
from .function import Function, FunctionCtx  # noqa: F401
from .gradcheck import GradcheckError, gradcheck, gradgradcheck  # noqa: F401
from .functional import hessian, hessian_vector_product, hvp, jacobian, vjp  # noqa: F401
