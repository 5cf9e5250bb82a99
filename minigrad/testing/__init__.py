"""``minigrad.testing``: the op registry and the checks it drives, for minigrad's ops and yours.

An :class:`OpInfo` says how to call an op in minigrad, NumPy and PyTorch, and how to draw valid inputs
(``sample``, a function of hypothesis' ``draw``).  The checks run one drawn :class:`Sample`:

* :func:`check_forward`: the forward agrees with ``np_fn`` in float64 (and float64 stays float64);
* :func:`check_gradcheck`, :func:`check_gradgradcheck`: first and second derivatives against central
  differences;
* :func:`check_float32`: float32 in gives float32 out and float32 gradients;
* :func:`check_pytorch`: forward and gradients agree with ``torch_fn`` (needs PyTorch);
* :func:`check_cuda`: the same results on a GPU (needs CuPy and a device).

:func:`check_op` runs them on many samples (hypothesis draws the shapes, 0-d and broadcast dimensions
included).  :func:`register` adds an entry to :data:`REGISTRY`, the list minigrad's own test suite
runs every check on.  Needs ``hypothesis`` (``pip install "minigrad[test]"``).
"""
from .registry import (  # noqa: F401
    GROUPS_OF_2, NONEMPTY_DIMS, REGISTRY, SHAPES, SMALL_SHAPES, OpInfo, Sample, binary, dim_for, distinct,
    reduction, register, unary, values,
)
from .checks import (  # noqa: F401
    CHECKS, as_tuple, assert_close, check_cuda, check_float32, check_forward, check_gradcheck,
    check_gradgradcheck, check_op, check_pytorch, mg_args, op_classes, ops_exercised, to_numpy, torch_args,
)
