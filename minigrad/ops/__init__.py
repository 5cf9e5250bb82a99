"""All tensor ops.  Each module keeps an op's forward and backward side by side.

Importing this package also attaches the ops to :class:`minigrad.Tensor` as
methods and operators (``x.exp()``, ``x + y``, ``x[idx]``).
"""
from .index import (  # noqa: F401
    gather, getitem, index_add, index_select, masked_select, nonzero, scatter, scatter_add, scatter_add_flat, setitem,
)
from .linalg import addmm, bmm, dot, einsum, matmul, mm, mv, outer, tensordot  # noqa: F401
from .pointwise import (  # noqa: F401
    abs, add, allclose, bitwise_and, bitwise_not, bitwise_or, bitwise_xor, ceil, clamp, clamp_max, clamp_min,
    cos, div, eq, equal, exp, expm1, floor, floor_divide, ge, gt, isfinite, isnan, le, leaky_relu, log, log1p,
    logical_and, logical_not, logical_or, logical_xor, lt, masked_fill, maximum, minimum, mul, ne, neg, pow,
    reciprocal, relu, remainder, round, rsqrt, sigmoid, sign, sin, softplus, sqrt, square, sub, tanh, trunc,
    where, tan, atan2, log2, log10, isinf,
)
from .reduce import (  # noqa: F401
    MaxResult, SortResult, all_, amax, amin, any_, argmax, argmin, argsort, cumprod, cumsum, diff, log_softmax,
    logsumexp, max, mean, median, min, nansum, norm, prod, softmax, sort, std, sum, sum_to, topk, var,
)
from .shape import (  # noqa: F401
    broadcast_shapes, broadcast_tensors, broadcast_to, cat, chunk, clone, concat, concatenate, contiguous,
    expand, flatten, flip, hstack, movedim, narrow, pad, permute, repeat, repeat_interleave, reshape, roll,
    row_stack, select, split, squeeze, stack, t, tile, to, transpose, tril, triu, unbind, unsqueeze, vstack,
)
from .shape import channels_last, channels_last_3d, contiguous_format, preserve_format  # noqa: F401
from . import inplace  # noqa: F401,E402

__all__ = [name for name, value in list(globals().items())
           if not name.startswith("_") and callable(value) and name not in ("all_", "any_")]
