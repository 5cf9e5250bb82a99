"""minigrad's public functions and Tensor's methods and operators, declared in one table.

Each row of ``FUNCTIONS`` names a function (the op modules define it, next to its ``Op`` class) and where it
appears:

* ``mg.``: the names of ``minigrad.<name>(...)`` (empty: not a top-level function);
* ``Tensor methods``: the names of ``x.<name>(...)``, the function itself with the tensor as ``input``;
* ``operators``: Python's operator methods.  ``__add__`` is the function itself; a reflected one
  (``__radd__``, for ``2 + x``) calls it with the operands swapped; an augmented one (``__iadd__``, for
  ``x += y``, on the row of the in-place method) runs in place, or the plain operator (``__add__``) when
  the tensor is part of the graph (see ``minigrad/ops/inplace.py``).

``PROPERTIES`` gives the attributes computed by an op (``x.T``).  :func:`install` puts all of it on
``Tensor`` and returns the ``mg.`` names; ``minigrad/__init__.py`` calls it once.  What is not an op
(``backward``, ``detach``, ``item``, ``shape``, hooks...) is written in the ``Tensor`` class itself
(``minigrad/autograd/``).  A new op is a new row here (and an import above when its module is new).
"""
from __future__ import annotations

from . import creation as C
from .autograd import engine
from .autograd.engine import Tensor
from .nn.functional import core as nn_core
from .ops import index as I  # noqa: E741
from .ops import inplace
from .ops import linalg as L
from .ops import pointwise as P
from .ops import reduce as R
from .ops import shape as S
from .ops._common import reflected

FUNCTIONS = (
    # function              mg.                  Tensor methods              operators
    # ------------------------------------------------------------------------ arithmetic (ops/pointwise.py)
    (P.add,                 "add",               "add",                      "__add__ __radd__"),
    (P.sub,                 "sub",               "sub",                      "__sub__ __rsub__"),
    (P.mul,                 "mul",               "mul",                      "__mul__ __rmul__"),
    (P.div,                 "div",               "div divide true_divide",   "__truediv__ __rtruediv__"),
    (P.floor_divide,        "floor_divide",      "floor_divide",             "__floordiv__ __rfloordiv__"),
    (P.remainder,           "remainder",         "remainder",                "__mod__ __rmod__"),
    (P.pow,                 "pow",               "pow",                      "__pow__ __rpow__"),
    (P.neg,                 "neg",               "neg",                      "__neg__"),
    (P.positive,            "",                  "",                         "__pos__"),
    (P.abs,                 "abs",               "abs",                      "__abs__"),
    # ------------------------------------------------------------------------ math functions, activations
    (P.exp,                 "exp",               "exp",                      ""),
    (P.expm1,               "expm1",             "expm1",                    ""),
    (P.log,                 "log",               "log",                      ""),
    (P.log1p,               "log1p",             "log1p",                    ""),
    (P.log2,                "log2",              "log2",                     ""),
    (P.log10,               "log10",             "log10",                    ""),
    (P.sqrt,                "sqrt",              "sqrt",                     ""),
    (P.rsqrt,               "rsqrt",             "rsqrt",                    ""),
    (P.square,              "square",            "square",                   ""),
    (P.reciprocal,          "reciprocal",        "reciprocal",               ""),
    (P.sin,                 "sin",               "sin",                      ""),
    (P.cos,                 "cos",               "cos",                      ""),
    (P.tan,                 "tan",               "tan",                      ""),
    (P.atan2,               "atan2",             "atan2 arctan2",            ""),
    (P.tanh,                "tanh",              "tanh",                     ""),
    (P.sigmoid,             "sigmoid",           "sigmoid",                  ""),
    (P.relu,                "relu",              "relu",                     ""),
    (P.leaky_relu,          "leaky_relu",        "leaky_relu",               ""),
    (P.softplus,            "softplus",          "softplus",                 ""),
    (nn_core.erf,           "erf",               "erf",                      ""),
    (P.clamp,               "clamp",             "clamp clip",               ""),
    (P.clamp_min,           "clamp_min",         "clamp_min",                ""),
    (P.clamp_max,           "clamp_max",         "clamp_max",                ""),
    (P.maximum,             "maximum",           "maximum",                  ""),
    (P.minimum,             "minimum",           "minimum",                  ""),
    (P.where,               "where",             "",                         ""),
    (P.where_method,        "",                  "where",                    ""),
    (P.masked_fill,         "masked_fill",       "masked_fill",              ""),
    # ------------------------------------------------------------------------ piecewise constant: zero gradient
    (P.sign,                "sign",              "sign",                     ""),
    (P.floor,               "floor",             "floor",                    ""),
    (P.ceil,                "ceil",              "ceil",                     ""),
    (P.trunc,               "trunc",             "trunc fix",                ""),
    (P.round,               "round",             "round",                    ""),
    # ------------------------------------------------------------------------ comparisons, logic: no gradient
    (P.eq,                  "eq",                "eq",                       "__eq__"),
    (P.ne,                  "ne",                "ne",                       "__ne__"),
    (P.lt,                  "lt",                "lt",                       "__lt__"),
    (P.le,                  "le",                "le",                       "__le__"),
    (P.gt,                  "gt",                "gt",                       "__gt__"),
    (P.ge,                  "ge",                "ge",                       "__ge__"),
    (P.equal,               "equal",             "equal",                    ""),
    (P.allclose,            "allclose",          "allclose",                 ""),
    (P.isnan,               "isnan",             "isnan",                    ""),
    (P.isinf,               "isinf",             "isinf",                    ""),
    (P.isfinite,            "isfinite",          "isfinite",                 ""),
    (P.logical_and,         "logical_and",       "logical_and",              ""),
    (P.logical_or,          "logical_or",        "logical_or",               ""),
    (P.logical_xor,         "logical_xor",       "logical_xor",              ""),
    (P.logical_not,         "logical_not",       "logical_not",              ""),
    (P.bitwise_and,         "bitwise_and",       "bitwise_and",              "__and__ __rand__"),
    (P.bitwise_or,          "bitwise_or",        "bitwise_or",               "__or__ __ror__"),
    (P.bitwise_xor,         "bitwise_xor",       "bitwise_xor",              "__xor__ __rxor__"),
    (P.bitwise_not,         "bitwise_not",       "bitwise_not",              "__invert__"),
    # ------------------------------------------------------------------------ in place, not recorded (ops/inplace.py)
    (inplace.add_,          "",                  "add_",                     "__iadd__"),
    (inplace.sub_,          "",                  "sub_",                     "__isub__"),
    (inplace.mul_,          "",                  "mul_",                     "__imul__"),
    (inplace.div_,          "",                  "div_",                     "__itruediv__"),
    (inplace.zero_,         "",                  "zero_",                    ""),
    (inplace.fill_,         "",                  "fill_",                    ""),
    (inplace.copy_,         "",                  "copy_",                    ""),
    (inplace.clamp_,        "",                  "clamp_",                   ""),
    (inplace.uniform_,      "",                  "uniform_",                 ""),
    (inplace.normal_,       "",                  "normal_",                  ""),
    # ------------------------------------------------------------------------ reductions, softmax (ops/reduce.py)
    (R.sum,                 "sum",               "sum",                      ""),
    (R.nansum,              "nansum",            "nansum",                   ""),
    (R.mean,                "mean",              "mean",                     ""),
    (R.prod,                "prod",              "prod",                     ""),
    (R.var,                 "var",               "var",                      ""),
    (R.std,                 "std",               "std",                      ""),
    (R.norm,                "norm",              "norm",                     ""),
    (R.max,                 "max",               "max",                      ""),
    (R.min,                 "min",               "min",                      ""),
    (R.amax,                "amax",              "amax",                     ""),
    (R.amin,                "amin",              "amin",                     ""),
    (R.argmax,              "argmax",            "argmax",                   ""),
    (R.argmin,              "argmin",            "argmin",                   ""),
    (R.all_,                "all",               "all",                      ""),
    (R.any_,                "any",               "any",                      ""),
    (R.median,              "median",            "median",                   ""),
    (R.sort,                "sort",              "sort",                     ""),
    (R.argsort,             "argsort",           "argsort",                  ""),
    (R.topk,                "topk",              "topk",                     ""),
    (R.cumsum,              "cumsum",            "cumsum",                   ""),
    (R.cumprod,             "cumprod",           "cumprod",                  ""),
    (R.diff,                "diff",              "diff",                     ""),
    (R.logsumexp,           "logsumexp",         "logsumexp",                ""),
    (R.softmax,             "softmax",           "softmax",                  ""),
    (R.log_softmax,         "log_softmax",       "log_softmax",              ""),
    (engine.sum_to,         "sum_to",            "sum_to",                   ""),
    # ------------------------------------------------------------------------ shapes (ops/shape.py)
    (S.reshape,             "reshape",           "reshape view",             ""),
    (S.reshape_as,          "",                  "reshape_as view_as",       ""),
    (S.flatten,             "flatten",           "flatten",                  ""),
    (S.squeeze,             "squeeze",           "squeeze",                  ""),
    (S.unsqueeze,           "unsqueeze",         "unsqueeze",                ""),
    (S.permute,             "permute",           "permute",                  ""),
    (S.transpose,           "transpose",         "transpose swapaxes",       ""),
    (S.t,                   "t",                 "t",                        ""),
    (S.movedim,             "movedim",           "movedim moveaxis",         ""),
    (S.expand,              "expand",            "expand",                   ""),
    (S.expand_as,           "",                  "expand_as",                ""),
    (S.broadcast_to,        "broadcast_to",      "broadcast_to",             ""),
    (S.broadcast_tensors,   "broadcast_tensors", "",                         ""),
    (S.broadcast_shapes,    "broadcast_shapes",  "",                         ""),
    (S.cat,                 "cat concat concatenate", "",                    ""),
    (S.stack,               "stack",             "",                         ""),
    (S.hstack,              "hstack",            "",                         ""),
    (S.vstack,              "vstack row_stack",  "",                         ""),
    (S.split,               "split",             "split",                    ""),
    (S.chunk,               "chunk",             "chunk",                    ""),
    (S.unbind,              "unbind",            "unbind",                   ""),
    (S.iterate,             "",                  "",                         "__iter__"),
    (S.select,              "select",            "select",                   ""),
    (S.narrow,              "narrow",            "narrow",                   ""),
    (S.pad,                 "pad",               "pad",                      ""),
    (S.flip,                "flip",              "flip",                     ""),
    (S.roll,                "roll",              "roll",                     ""),
    (S.repeat,              "repeat",            "repeat",                   ""),
    (S.tile,                "tile",              "tile",                     ""),
    (S.repeat_interleave,   "repeat_interleave", "repeat_interleave",        ""),
    (S.tril,                "tril",              "tril",                     ""),
    (S.triu,                "triu",              "triu",                     ""),
    (S.clone,               "clone",             "clone",                    ""),
    (S.contiguous,          "contiguous",        "contiguous",               ""),
    # ------------------------------------------------------------------------ dtype and device (ops/shape.py)
    (S.to,                  "to",                "to",                       ""),
    (S.cpu,                 "",                  "cpu",                      ""),
    (S.cuda,                "",                  "cuda",                     ""),
    (S.to_float,            "",                  "float",                    ""),
    (S.to_double,           "",                  "double",                   ""),
    (S.to_half,             "",                  "half",                     ""),
    (S.to_long,             "",                  "long",                     ""),
    (S.to_int,              "",                  "int",                      ""),
    (S.to_bool,             "",                  "bool",                     ""),
    (S.type_as,             "",                  "type_as",                  ""),
    # ------------------------------------------------------------------------ indexing (ops/index.py)
    (I.getitem,             "getitem",           "",                         "__getitem__"),
    (I.setitem,             "setitem",           "",                         "__setitem__"),
    (I.gather,              "gather",            "gather",                   ""),
    (I.scatter,             "scatter",           "scatter",                  ""),
    (I.scatter_add,         "scatter_add",       "scatter_add",              ""),
    (I.scatter_add_flat,    "scatter_add_flat",  "",                         ""),
    (I.index_select,        "index_select",      "index_select",             ""),
    (I.index_add,           "index_add",         "index_add",                ""),
    (I.masked_select,       "masked_select",     "masked_select",            ""),
    (I.nonzero,             "nonzero",           "nonzero",                  ""),
    # ------------------------------------------------------------------------ matrix products (ops/linalg.py)
    (L.matmul,              "matmul",            "matmul",                   "__matmul__ __rmatmul__"),
    (L.mm,                  "mm",                "mm",                       ""),
    (L.bmm,                 "bmm",               "bmm",                      ""),
    (L.mv,                  "mv",                "mv",                       ""),
    (L.dot,                 "dot",               "dot",                      ""),
    (L.outer,               "outer",             "outer ger",                ""),
    (L.addmm,               "addmm",             "addmm",                    ""),
    (L.tensordot,           "tensordot",         "",                         ""),
    (L.einsum,              "einsum",            "",                         ""),
    # ------------------------------------------------------------------------ new tensors (creation.py)
    (C.tensor,              "tensor",            "",                         ""),
    (C.as_tensor,           "as_tensor",         "",                         ""),
    (C.from_numpy,          "from_numpy",        "",                         ""),
    (C.zeros,               "zeros",             "",                         ""),
    (C.ones,                "ones",              "",                         ""),
    (C.empty,               "empty",             "",                         ""),
    (C.full,                "full",              "",                         ""),
    (C.eye,                 "eye",               "",                         ""),
    (C.arange,              "arange",            "",                         ""),
    (C.linspace,            "linspace",          "",                         ""),
    (C.rand,                "rand",              "",                         ""),
    (C.randn,               "randn",             "",                         ""),
    (C.randint,             "randint",           "",                         ""),
    (C.randperm,            "randperm",          "",                         ""),
    (C.zeros_like,          "zeros_like",        "",                         ""),
    (C.ones_like,           "ones_like",         "",                         ""),
    (C.empty_like,          "empty_like",        "",                         ""),
    (C.full_like,           "full_like",         "",                         ""),
    (C.rand_like,           "rand_like",         "",                         ""),
    (C.randn_like,          "randn_like",        "",                         ""),
    (C.randint_like,        "randint_like",      "",                         ""),
    (C.new_zeros,           "",                  "new_zeros",                ""),
    (C.new_ones,            "",                  "new_ones",                 ""),
    (C.new_empty,           "",                  "new_empty",                ""),
    (C.new_full,            "",                  "new_full",                 ""),
    (C.new_tensor,          "",                  "new_tensor",               ""),
)

PROPERTIES = (
    # function              Tensor property
    (S.reversed_dims,       "T"),
    (S.matrix_transpose,    "mT"),
    (S.conj_transpose,      "H"),
    (S.adjoint,             "mH"),
)

REFLECTED = ("__radd__", "__rsub__", "__rmul__", "__rtruediv__", "__rfloordiv__", "__rmod__", "__rpow__",
             "__rmatmul__", "__rand__", "__ror__", "__rxor__")
AUGMENTED = {"__iadd__": "__add__", "__isub__": "__sub__", "__imul__": "__mul__", "__itruediv__": "__truediv__"}


def install():
    """Put the table's methods, operators and properties on ``Tensor``; return ``{mg name: function}``."""
    public = {}
    for fn, names, methods, operators in FUNCTIONS:
        for name in names.split():
            public[name] = fn
        for method in methods.split():
            setattr(Tensor, method, fn)
        for op in operators.split():
            if op in REFLECTED:
                setattr(Tensor, op, reflected(fn))
            elif op not in AUGMENTED:
                setattr(Tensor, op, fn)
    for fn, _, _, operators in FUNCTIONS:  # after the plain operators: x += y falls back on x + y
        for op in operators.split():
            if op in AUGMENTED:
                setattr(Tensor, op, inplace.augmented(getattr(Tensor, AUGMENTED[op]), fn))
    for fn, name in PROPERTIES:
        setattr(Tensor, name, property(fn, doc=fn.__doc__))
    return public
