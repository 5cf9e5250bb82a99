"""All tensor ops.  Each module keeps an op's forward and backward side by side.

Importing this package also attaches the ops to :class:`minigrad.Tensor` as
methods and operators (``x.exp()``, ``x + y``, ``x[idx]``).
"""
from .index import gather, getitem, index_select, scatter_add_flat, setitem  # noqa: F401
from .linalg import bmm, dot, einsum, matmul, mm  # noqa: F401
from .pointwise import (  # noqa: F401
    abs, add, allclose, ceil, clamp, cos, div, eq, equal, exp, expm1, floor, floor_divide, ge, gt, isfinite,
    isnan, le, leaky_relu, log, log1p, logical_and, logical_not, logical_or, logical_xor, lt, masked_fill,
    maximum, minimum, mul, ne, neg, pow, reciprocal, relu, remainder, round, rsqrt, sigmoid, sign, sin,
    softplus, sqrt, square, sub, tanh, where,
)
from .reduce import (  # noqa: F401
    MaxResult, SortResult, all_, amax, amin, any_, argmax, argmin, argsort, cumsum, log_softmax, logsumexp, max,
    mean, min, norm, prod, softmax, sort, std, sum, sum_to, topk, var,
)
from .shape import (  # noqa: F401
    broadcast_shapes, broadcast_tensors, broadcast_to, cat, chunk, clone, concat, concatenate, contiguous,
    expand, flatten, flip, pad, permute, repeat, reshape, split, squeeze, stack, t, to, transpose, tril,
    triu, unbind, unsqueeze,
)
from . import inplace  # noqa: F401,E402

__all__ = [name for name, value in list(globals().items())
           if not name.startswith("_") and callable(value) and name not in ("all_", "any_")]
