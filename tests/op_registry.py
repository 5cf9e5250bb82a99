"""The op registry: one entry per op, driving every generic op test.

Each :class:`OpInfo` says how to call the op in minigrad, NumPy and PyTorch,
and how to draw valid inputs with hypothesis (``sample``).  Hypothesis draws
the *shapes* and parameters; the values come from a NumPy generator seeded
by hypothesis, so they are continuous, free of ties and kept away from kinks
(``abs`` at 0, ``relu`` at 0) where a finite difference would be wrong.

The machinery (:class:`OpInfo`, :class:`Sample`, ``register``, the input drawers and the checks) is
:mod:`minigrad.testing`; this file and the ``registry_*.py`` files it imports hold minigrad's own entries.
Adding an op to minigrad = one class in ``minigrad/ops`` and its row in ``minigrad/api.py`` + one entry here.
"""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigrad as mg
from minigrad.testing import (  # noqa: F401  (the registry_*.py files import these names from here)
    GROUPS_OF_2, NONEMPTY_DIMS, REGISTRY, SHAPES, SMALL_SHAPES, OpInfo, Sample, binary, dim_for, distinct,
    reduction, register, unary, values,
)


def _np_dim(dim):
    return dim


# ----------------------------------------------------------------------------- torch helpers
def _t():
    import torch

    return torch


# Arithmetic -------------------------------------------------------------------------------------
register(
    OpInfo("add", lambda a, b: a + b, binary(), np.add, lambda a, b: a + b),
    OpInfo("sub", lambda a, b: a - b, binary(), np.subtract, lambda a, b: a - b),
    OpInfo("mul", lambda a, b: a * b, binary(), np.multiply, lambda a, b: a * b),
    OpInfo("div", lambda a, b: a / b, binary("real", "positive"), np.divide, lambda a, b: a / b),
    OpInfo("neg", lambda a: -a, unary(), np.negative, lambda a: -a),
    OpInfo("pow_tensor_tensor", lambda a, b: a**b, binary("positive", "real"), np.power, lambda a, b: a**b),
    OpInfo("pow_scalar_exponent", lambda a: a**3, unary(), lambda a: a**3, lambda a: a**3),
    OpInfo("pow_fractional_exponent", lambda a: a**0.5, unary("positive"), np.sqrt, lambda a: a**0.5),
    OpInfo("rpow_scalar_base", lambda a: 2.0**a, unary(), lambda a: 2.0**a, lambda a: 2.0**a),
    OpInfo("radd_scalar", lambda a: 1.5 + a, unary(), lambda a: 1.5 + a, lambda a: 1.5 + a),
    OpInfo("rsub_scalar", lambda a: 1.5 - a, unary(), lambda a: 1.5 - a, lambda a: 1.5 - a),
    OpInfo("rdiv_scalar", lambda a: 1.5 / a, unary(), lambda a: 1.5 / a, lambda a: 1.5 / a),
)


def _matmul_sample(draw):
    """Matrix products with 1-D operands and broadcast batch dimensions."""
    kind = draw(st.sampled_from(["mm", "mv", "vm", "vv", "batched", "broadcast_batch", "batched_vec"]))
    n, k, m = draw(st.integers(1, 4)), draw(st.integers(1, 4)), draw(st.integers(1, 4))
    b = draw(st.integers(1, 3))
    shapes = {
        "mm": ((n, k), (k, m)),
        "mv": ((n, k), (k,)),
        "vm": ((k,), (k, m)),
        "vv": ((k,), (k,)),
        "batched": ((b, n, k), (b, k, m)),
        "broadcast_batch": ((b, 1, n, k), (2, k, m)),
        "batched_vec": ((k,), (b, k, m)),
    }[kind]
    return Sample([values(draw, shapes[0]), values(draw, shapes[1], salt=1)])


register(OpInfo("matmul", lambda a, b: a @ b, _matmul_sample, np.matmul, lambda a, b: a @ b, atol=1e-5))

EINSUM_EQUATIONS = ["ij,jk->ik", "ij,jk", "bij,bjk->bik", "i,j->ij", "ij->", "ij->j", "ii->i", "ii", "iij->ij",
                    "ijk->kji", "i,i", "ij,jk,kl->il", "bhqd,bhkd->bhqk", "...ij,...jk->...ik", "...i,...i->..."]


def _einsum_sample(draw):
    """An equation from the list; a size per letter; broadcastable batch shapes for '...'."""
    equation = draw(st.sampled_from(EINSUM_EQUATIONS))
    terms = equation.split("->")[0].split(",")
    size = {c: draw(st.integers(1, 3)) for c in sorted(set(equation) - set(".,->"))}
    batch = [()] * len(terms)
    if "..." in equation:
        batch = draw(hnp.mutually_broadcastable_shapes(num_shapes=len(terms), min_dims=0, max_dims=2,
                                                        max_side=3)).input_shapes
    shapes = [tuple(b) + tuple(size[c] for c in t.replace("...", "")) for t, b in zip(terms, batch)]
    return Sample([values(draw, shape, salt=k) for k, shape in enumerate(shapes)], {"equation": equation})


register(OpInfo("einsum", lambda *xs, equation: mg.einsum(equation, *xs), _einsum_sample,
                lambda *xs, equation: np.einsum(equation, *xs), lambda *xs, equation: _t().einsum(equation, *xs),
                atol=1e-5, notes="matmul, batched, outer, sums, diagonals, transposes, chains, broadcast '...'"))

# Math functions ---------------------------------------------------------------------------------
register(
    OpInfo("exp", mg.exp, unary("unit"), np.exp, lambda a: a.exp()),
    OpInfo("log", mg.log, unary("positive"), np.log, lambda a: a.log()),
    OpInfo("log1p", mg.log1p, unary("unit"), np.log1p, lambda a: a.log1p()),
    OpInfo("expm1", mg.expm1, unary("unit"), np.expm1, lambda a: a.expm1()),
    OpInfo("sqrt", mg.sqrt, unary("positive"), np.sqrt, lambda a: a.sqrt()),
    OpInfo("rsqrt", mg.rsqrt, unary("positive"), lambda a: 1 / np.sqrt(a), lambda a: a.rsqrt()),
    OpInfo("square", mg.square, unary(), np.square, lambda a: a.square()),
    OpInfo("reciprocal", mg.reciprocal, unary(), np.reciprocal, lambda a: a.reciprocal()),
    OpInfo("sin", mg.sin, unary("wide"), np.sin, lambda a: a.sin()),
    OpInfo("cos", mg.cos, unary("wide"), np.cos, lambda a: a.cos()),
    OpInfo("tanh", mg.tanh, unary("wide"), np.tanh, lambda a: a.tanh()),
    OpInfo("sigmoid", mg.sigmoid, unary("wide"), lambda a: 1 / (1 + np.exp(-a)), lambda a: a.sigmoid()),
    OpInfo("relu", mg.relu, unary(), lambda a: np.maximum(a, 0), lambda a: a.relu()),
    OpInfo("leaky_relu", lambda a: mg.leaky_relu(a, 0.1), unary(), lambda a: np.where(a > 0, a, 0.1 * a),
           lambda a: _t().nn.functional.leaky_relu(a, 0.1)),
    OpInfo("softplus", mg.softplus, unary("wide"), lambda a: np.log1p(np.exp(a)),
           lambda a: _t().nn.functional.softplus(a)),
    OpInfo("abs", mg.abs, unary(), np.abs, lambda a: a.abs()),
    OpInfo("clamp", lambda a: mg.clamp(a, -0.5, 0.75), unary("wide"), lambda a: np.clip(a, -0.5, 0.75),
           lambda a: a.clamp(-0.5, 0.75)),
    OpInfo("clamp_min_only", lambda a: a.clamp(min=0.3), unary("wide"), lambda a: np.maximum(a, 0.3),
           lambda a: a.clamp(min=0.3)),
    OpInfo("maximum", mg.maximum, binary(), np.maximum, lambda a, b: _t().maximum(a, b)),
    OpInfo("minimum", mg.minimum, binary(), np.minimum, lambda a, b: _t().minimum(a, b)),
)


def _where_sample(draw):
    shapes = draw(hnp.mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=3, max_side=4))
    c, a, b = shapes.input_shapes
    cond = values(draw, c) > 0
    return Sample([cond, values(draw, a, salt=1), values(draw, b, salt=2)], constant=(0,))


register(
    OpInfo("where", lambda c, a, b: mg.where(c, a, b), _where_sample, np.where,
           lambda c, a, b: _t().where(c, a, b)),
    OpInfo("masked_fill", lambda a, m: a.masked_fill(m, -2.0),
           lambda draw: (lambda x: Sample([x, values(draw, x.shape, salt=1) > 0], constant=(1,)))(
               values(draw, draw(SHAPES))),
           lambda a, m: np.where(m, -2.0, a), lambda a, m: a.masked_fill(m, -2.0)),
)

# Reductions -------------------------------------------------------------------------------------


def _torch_dim(kwargs):
    kw = dict(kwargs)
    if kw.get("dim") is None:
        kw.pop("dim", None)
        kw.pop("keepdim", None)
    return kw


def _np_reduce(fn):
    def ref(a, dim=None, keepdim=False, **kw):
        return fn(a, axis=dim, keepdims=keepdim, **kw)

    return ref


def _torch_reduce(name):
    def ref(a, dim=None, keepdim=False, **kw):
        if dim is None:
            if a.ndim == 0:
                return getattr(a, name)(**kw)
            dim = tuple(range(a.ndim))
        if isinstance(dim, tuple) and len(dim) == 0:
            return getattr(a, name)(**kw)
        return getattr(a, name)(dim=dim, keepdim=keepdim, **kw)

    return ref


register(
    OpInfo("sum", lambda a, **kw: a.sum(**kw), reduction(), _np_reduce(np.sum), _torch_reduce("sum")),
    OpInfo("mean", lambda a, **kw: a.mean(**kw), reduction(), _np_reduce(np.mean), _torch_reduce("mean")),
    OpInfo("var", lambda a, **kw: a.var(**kw), reduction(shapes=GROUPS_OF_2), _np_reduce(lambda a, **kw: np.var(a, ddof=1, **kw)),
           _torch_reduce("var")),
    OpInfo("var_biased", lambda a, **kw: a.var(**kw, unbiased=False), reduction(shapes=GROUPS_OF_2),
           _np_reduce(lambda a, **kw: np.var(a, **kw)), lambda a, **kw: _torch_reduce("var")(a, correction=0, **kw)),
    OpInfo("std", lambda a, **kw: a.std(**kw), reduction(shapes=GROUPS_OF_2), _np_reduce(lambda a, **kw: np.std(a, ddof=1, **kw)),
           _torch_reduce("std")),
    OpInfo("amax", lambda a, **kw: a.amax(**kw), reduction(distinct_values=True), _np_reduce(np.max),
           _torch_reduce("amax")),
    OpInfo("amin", lambda a, **kw: a.amin(**kw), reduction(distinct_values=True), _np_reduce(np.min),
           _torch_reduce("amin")),
    OpInfo("max_all", lambda a: a.max(), lambda draw: Sample([distinct(draw, draw(SHAPES))]), np.max,
           lambda a: a.max()),
    OpInfo("min_all", lambda a: a.min(), lambda draw: Sample([distinct(draw, draw(SHAPES))]), np.min,
           lambda a: a.min()),
    OpInfo("max_dim_values", lambda a, **kw: a.max(**kw).values,
           reduction(allow_none=False, allow_tuple=False, distinct_values=True),
           lambda a, dim, keepdim: np.max(a, axis=dim, keepdims=keepdim),
           lambda a, dim, keepdim: a.max(dim=dim, keepdim=keepdim).values),
    OpInfo("min_dim_values", lambda a, **kw: a.min(**kw).values,
           reduction(allow_none=False, allow_tuple=False, distinct_values=True),
           lambda a, dim, keepdim: np.min(a, axis=dim, keepdims=keepdim),
           lambda a, dim, keepdim: a.min(dim=dim, keepdim=keepdim).values),
    OpInfo("max_dim_indices", lambda a, **kw: a.max(**kw).indices,
           reduction(allow_none=False, allow_tuple=False, distinct_values=True),
           lambda a, dim, keepdim: np.argmax(a, axis=dim, keepdims=keepdim),
           lambda a, dim, keepdim: a.max(dim=dim, keepdim=keepdim).indices, grad=False),
    OpInfo("argmax", lambda a, **kw: a.argmax(**kw), reduction(allow_tuple=False, distinct_values=True),
           lambda a, dim=None, keepdim=False: np.argmax(a, axis=dim, keepdims=keepdim),
           lambda a, dim=None, keepdim=False: a.argmax(dim=dim, keepdim=keepdim),
           grad=False),
    OpInfo("argmin", lambda a, **kw: a.argmin(**kw), reduction(allow_tuple=False, distinct_values=True),
           lambda a, dim=None, keepdim=False: np.argmin(a, axis=dim, keepdims=keepdim),
           lambda a, dim=None, keepdim=False: a.argmin(dim=dim, keepdim=keepdim),
           grad=False),
    OpInfo("logsumexp", lambda a, **kw: a.logsumexp(**kw), reduction(domain="wide", allow_none=False),
           lambda a, dim, keepdim: np.log(np.sum(np.exp(a), axis=dim, keepdims=keepdim)),
           lambda a, dim, keepdim: a.logsumexp(dim=dim if dim != () else (), keepdim=keepdim)
           if a.ndim else a.logsumexp(dim=0)),
    OpInfo("prod", lambda a, **kw: a.prod(**kw), reduction(allow_tuple=False),
           _np_reduce(np.prod),
           lambda a, dim=None, keepdim=False: (a.prod().reshape((1,) * a.ndim) if keepdim else a.prod())
           if dim is None or a.ndim == 0 else a.prod(dim=dim, keepdim=keepdim)),
    OpInfo("softmax", lambda a, dim: a.softmax(dim), reduction(domain="wide", keepdim=False, allow_none=False,
                                                             allow_tuple=False),
           lambda a, dim: np.exp(a - np.log(np.sum(np.exp(a), axis=dim, keepdims=True))),
           lambda a, dim: a.softmax(dim)),
    OpInfo("log_softmax", lambda a, dim: a.log_softmax(dim), reduction(domain="wide", keepdim=False, allow_none=False,
                                                                     allow_tuple=False),
           lambda a, dim: a - np.log(np.sum(np.exp(a), axis=dim, keepdims=True)),
           lambda a, dim: a.log_softmax(dim)),
)


def _prod_with_zero(draw):
    """One or two exact zeros: out / x is 0/0 there, so the backward takes the product of the others."""
    shape = draw(NONEMPTY_DIMS)
    x = values(draw, shape)
    flat = x.reshape(-1)
    for _ in range(draw(st.integers(1, 2))):
        flat[draw(st.integers(0, flat.size - 1))] = 0.0
    return Sample([x], {"dim": draw(st.one_of(st.none(), st.integers(-len(shape), len(shape) - 1)))})


register(OpInfo("prod_with_zero", lambda a, dim: a.prod(dim), _prod_with_zero,
                lambda a, dim: np.prod(a, axis=dim),
                lambda a, dim: a.prod() if dim is None else a.prod(dim),
                notes="exact zeros: first and second order through the product of the other elements"))


# Beyond the basics: running sums, norms, sorting --------------------------------------------------------


def _one_dim_sample(shapes=NONEMPTY_DIMS, distinct_values=False):
    def sample(draw):
        shape = draw(shapes)
        x = distinct(draw, shape) if distinct_values else values(draw, shape)
        return Sample([x], {"dim": draw(st.integers(-len(shape), len(shape) - 1))})

    return sample


def _norm_sample(draw):
    shape = draw(SHAPES)
    kwargs = {"p": draw(st.sampled_from([2, "fro", 1, 3, 0.5, float("inf"), -float("inf")])),
              "dim": dim_for(draw, shape), "keepdim": draw(st.booleans())}
    return Sample([distinct(draw, shape) if kwargs["p"] in (float("inf"), -float("inf")) else values(draw, shape)],
                  kwargs)


def _np_norm(a, p, dim, keepdim):
    p = 2 if p == "fro" else p
    if p == float("inf"):
        return np.max(np.abs(a), axis=dim, keepdims=keepdim)
    if p == -float("inf"):
        return np.min(np.abs(a), axis=dim, keepdims=keepdim)
    return np.sum(np.abs(a) ** p, axis=dim, keepdims=keepdim) ** (1 / p)


def _torch_norm(a, p, dim, keepdim):
    return _t().linalg.vector_norm(a, ord=2 if p == "fro" else p, dim=dim, keepdim=keepdim)


def _topk_sample(draw):
    shape = draw(NONEMPTY_DIMS)
    dim = draw(st.integers(-len(shape), len(shape) - 1))
    return Sample([distinct(draw, shape)], {"k": draw(st.integers(0, shape[dim])), "dim": dim,
                                            "largest": draw(st.booleans())})


def _np_topk(a, k, dim, largest):
    order = np.argsort(-a if largest else a, axis=dim)
    return np.take_along_axis(a, np.take(order, np.arange(k), axis=dim), axis=dim)


def _triangle_sample(draw):
    shape = draw(hnp.array_shapes(min_dims=2, max_dims=3, max_side=4))
    return Sample([values(draw, shape)], {"diagonal": draw(st.integers(-3, 3))})


register(
    OpInfo("cumsum", lambda a, dim: a.cumsum(dim), _one_dim_sample(), lambda a, dim: np.cumsum(a, axis=dim),
           lambda a, dim: a.cumsum(dim)),
    OpInfo("norm", lambda a, **kw: a.norm(**kw), _norm_sample, _np_norm, _torch_norm,
           notes="p in {2, 'fro', 1, 3, 0.5, inf, -inf}"),
    OpInfo("sort_values", lambda a, dim: a.sort(dim).values, _one_dim_sample(distinct_values=True),
           lambda a, dim: np.sort(a, axis=dim), lambda a, dim: a.sort(dim).values),
    OpInfo("sort_descending_values", lambda a, dim: a.sort(dim, descending=True).values,
           _one_dim_sample(distinct_values=True), lambda a, dim: -np.sort(-a, axis=dim),
           lambda a, dim: a.sort(dim, descending=True).values),
    OpInfo("argsort", lambda a, dim: a.argsort(dim), _one_dim_sample(distinct_values=True),
           lambda a, dim: np.argsort(a, axis=dim), lambda a, dim: a.argsort(dim), grad=False),
    OpInfo("topk_values", lambda a, **kw: a.topk(**kw).values, _topk_sample, _np_topk,
           lambda a, **kw: a.topk(**kw).values),
    OpInfo("topk_indices", lambda a, **kw: a.topk(**kw).indices, _topk_sample,
           lambda a, k, dim, largest: np.take(np.argsort(-a if largest else a, axis=dim), np.arange(k), axis=dim),
           lambda a, **kw: a.topk(**kw).indices, grad=False),
    OpInfo("tril", lambda a, diagonal: a.tril(diagonal), _triangle_sample, lambda a, diagonal: np.tril(a, diagonal),
           lambda a, diagonal: a.tril(diagonal)),
    OpInfo("triu", lambda a, diagonal: a.triu(diagonal), _triangle_sample, lambda a, diagonal: np.triu(a, diagonal),
           lambda a, diagonal: a.triu(diagonal)),
)

def _remainder_sample(draw):
    """Kept away from the jumps of %: b in {+-0.5, +-1, +-2} and a = k + f with f near 0.3, so a / b has a
    fractional part of at least 0.1 for every pairing that broadcasting makes."""
    shapes = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=4))
    a_shape, b_shape = shapes.input_shapes
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    b = rng.choice([0.5, 1.0, 2.0], b_shape) * rng.choice([-1.0, 1.0], b_shape)
    a = rng.integers(-4, 4, a_shape) + rng.uniform(0.28, 0.32, a_shape)
    return Sample([np.asarray(a, dtype=np.float64), np.asarray(b)])


register(
    OpInfo("remainder", lambda a, b: a % b, _remainder_sample, np.remainder, lambda a, b: a % b),
    OpInfo("floor_divide", lambda a, b: a // b, _remainder_sample, np.floor_divide, lambda a, b: a // b, grad=False),
)

# Shape ops --------------------------------------------------------------------------------------


def _reshape_sample(draw):
    shape = draw(SHAPES)
    n = int(np.prod(shape))
    divisors = [d for d in range(1, n + 1) if n % d == 0]
    d = draw(st.sampled_from(divisors))
    new = draw(st.sampled_from([(d, n // d), (n,), (-1, d), (n // d, 1, d)]))
    return Sample([values(draw, shape)], {"shape": new})


def _permute_sample(draw):
    shape = draw(SHAPES)
    return Sample([values(draw, shape)], {"dims": tuple(draw(st.permutations(range(len(shape)))))})


def _transpose_sample(draw):
    shape = draw(hnp.array_shapes(min_dims=2, max_dims=3, max_side=4))
    nd = len(shape)
    return Sample([values(draw, shape)], {"dim0": draw(st.integers(-nd, nd - 1)), "dim1": draw(st.integers(-nd, nd - 1))})


def _expand_sample(draw):
    shapes = draw(hnp.mutually_broadcastable_shapes(num_shapes=1, min_dims=0, max_dims=3, max_side=4))
    return Sample([values(draw, shapes.input_shapes[0])], {"shape": shapes.result_shape})


def _squeeze_sample(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=2))
    dim = draw(st.one_of(st.none(), st.integers(-len(shape), len(shape) - 1)))
    return Sample([values(draw, shape)], {"dim": dim})


def _unsqueeze_sample(draw):
    shape = draw(SHAPES)
    return Sample([values(draw, shape)], {"dim": draw(st.integers(-len(shape) - 1, len(shape)))})


def _flatten_sample(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=4, max_side=3))
    nd = len(shape)
    start = draw(st.integers(0, nd - 1))
    end = draw(st.integers(start, nd - 1))
    return Sample([values(draw, shape)], {"start_dim": start, "end_dim": end})


def _np_squeeze(a, dim):
    if dim is None:
        return np.squeeze(a)
    return np.squeeze(a, axis=dim) if a.shape[dim] == 1 else a


def _torch_squeeze(a, dim):
    return a.squeeze() if dim is None else a.squeeze(dim)


def _join_sample(n_min=1, n_max=3, new_dim=False):
    def sample(draw):
        base = list(draw(NONEMPTY_DIMS))
        nd = len(base)
        if new_dim:
            dim = draw(st.integers(-nd - 1, nd))
            arrays = [values(draw, tuple(base), salt=k) for k in range(draw(st.integers(n_min, n_max)))]
        else:
            dim = draw(st.integers(-nd, nd - 1))
            arrays = []
            for k in range(draw(st.integers(n_min, n_max))):
                shape = list(base)
                shape[dim] = draw(st.integers(1, 3))
                arrays.append(values(draw, tuple(shape), salt=k))
        return Sample(arrays, {"dim": dim})

    return sample


def _split_sample(draw):
    shape = list(draw(NONEMPTY_DIMS))
    nd = len(shape)
    dim = draw(st.integers(-nd, nd - 1))
    n = shape[dim]
    if draw(st.booleans()):
        arg = draw(st.integers(1, n))
    else:
        cuts = sorted(draw(st.lists(st.integers(0, n), max_size=3)))
        edges = [0] + cuts + [n]
        arg = [b - a for a, b in zip(edges, edges[1:])]
    return Sample([values(draw, tuple(shape))], {"split": arg, "dim": dim})


def _np_split(a, split, dim):
    n = a.shape[dim]
    if isinstance(split, int):
        bounds = list(range(split, n, split))
    else:
        bounds = list(np.cumsum(split)[:-1])
    return tuple(np.split(a, bounds, axis=dim))


def _chunk_sample(draw):
    shape = list(draw(NONEMPTY_DIMS))
    nd = len(shape)
    return Sample([values(draw, tuple(shape))], {"chunks": draw(st.integers(1, 4)), "dim": draw(st.integers(-nd, nd - 1))})


def _np_chunk(a, chunks, dim):
    n = a.shape[dim]
    size = -(-n // chunks)
    return tuple(np.split(a, list(range(size, n, size)), axis=dim))


def _pad_sample(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=2, max_side=4))
    k = draw(st.integers(1, len(shape)))
    mode = draw(st.sampled_from(["constant", "reflect", "replicate", "circular"]))
    limit = 1 if mode in ("reflect", "circular") else 2
    pads = tuple(draw(st.integers(0, limit)) for _ in range(2 * k))
    if mode != "constant":  # PyTorch supports these modes on the last 1-3 dims of 2-4-D input only
        k = min(k, len(shape) - 1) if len(shape) > 1 else 0
        pads = pads[: 2 * k]
        if not pads:
            mode = "constant"
            pads = (1, 1)
    return Sample([values(draw, shape)], {"pad": pads, "mode": mode})


def _np_pad(a, pad, mode):
    widths = [(0, 0)] * a.ndim
    for i in range(len(pad) // 2):
        widths[a.ndim - 1 - i] = (pad[2 * i], pad[2 * i + 1])
    npmode = {"constant": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}[mode]
    return np.pad(a, widths, mode=npmode)


def _torch_pad(a, pad, mode):
    torch = _t()
    if mode == "constant":
        return torch.nn.functional.pad(a, pad, mode=mode)
    x = a.unsqueeze(0) if a.ndim == len(pad) // 2 else a  # needs a batch dim
    x = x.unsqueeze(0) if x.ndim == len(pad) // 2 + 1 else x
    out = torch.nn.functional.pad(x, pad, mode=mode)
    return out.reshape(out.shape[out.ndim - a.ndim:])


def _flip_sample(draw):
    shape = draw(NONEMPTY_DIMS)
    dims = draw(st.lists(st.integers(0, len(shape) - 1), min_size=1, max_size=len(shape), unique=True).map(tuple))
    return Sample([values(draw, shape)], {"dims": dims})


def _repeat_sample(draw):
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=2, max_side=3))
    extra = draw(st.integers(0, 1))
    reps = tuple(draw(st.integers(1, 3)) for _ in range(len(shape) + extra))
    return Sample([values(draw, shape)], {"sizes": reps or (2,)})


def _unbind_sample(draw):
    shape = draw(NONEMPTY_DIMS)
    return Sample([values(draw, shape)], {"dim": draw(st.integers(-len(shape), len(shape) - 1))})


register(
    OpInfo("reshape", lambda a, shape: a.reshape(shape), _reshape_sample, lambda a, shape: np.reshape(a, shape),
           lambda a, shape: a.reshape(shape)),
    OpInfo("view", lambda a, shape: a.view(*shape), _reshape_sample, lambda a, shape: np.reshape(a, shape),
           lambda a, shape: a.reshape(shape)),
    OpInfo("flatten", lambda a, **kw: a.flatten(**kw), _flatten_sample,
           lambda a, start_dim, end_dim: a.reshape(a.shape[:start_dim] + (-1,) + a.shape[end_dim + 1:]),
           lambda a, **kw: a.flatten(**kw)),
    OpInfo("squeeze", lambda a, dim: a.squeeze(dim), _squeeze_sample, _np_squeeze, _torch_squeeze),
    OpInfo("unsqueeze", lambda a, dim: a.unsqueeze(dim), _unsqueeze_sample, lambda a, dim: np.expand_dims(a, dim),
           lambda a, dim: a.unsqueeze(dim)),
    OpInfo("permute", lambda a, dims: a.permute(*dims), _permute_sample, lambda a, dims: np.transpose(a, dims),
           lambda a, dims: a.permute(dims)),
    OpInfo("transpose", lambda a, dim0, dim1: a.transpose(dim0, dim1), _transpose_sample,
           lambda a, dim0, dim1: np.swapaxes(a, dim0, dim1), lambda a, dim0, dim1: a.transpose(dim0, dim1)),
    OpInfo("T", lambda a: a.T, unary(shapes=hnp.array_shapes(min_dims=0, max_dims=2, max_side=4)),
           lambda a: a.T, lambda a: a.permute(tuple(reversed(range(a.ndim))))),
    OpInfo("mT", lambda a: a.mT, unary(shapes=hnp.array_shapes(min_dims=2, max_dims=3, max_side=4)),
           lambda a: np.swapaxes(a, -1, -2), lambda a: a.mT),
    OpInfo("expand", lambda a, shape: a.expand(*shape), _expand_sample, lambda a, shape: np.broadcast_to(a, shape),
           lambda a, shape: a.expand(shape)),
    OpInfo("broadcast_to", lambda a, shape: mg.broadcast_to(a, shape), _expand_sample,
           lambda a, shape: np.broadcast_to(a, shape), lambda a, shape: _t().broadcast_to(a, shape)),
    OpInfo("cat", lambda *xs, dim: mg.cat(xs, dim), _join_sample(), lambda *xs, dim: np.concatenate(xs, dim),
           lambda *xs, dim: _t().cat(xs, dim)),
    OpInfo("stack", lambda *xs, dim: mg.stack(xs, dim), _join_sample(new_dim=True), lambda *xs, dim: np.stack(xs, dim),
           lambda *xs, dim: _t().stack(xs, dim)),
    OpInfo("split", lambda a, split, dim: a.split(split, dim), _split_sample, _np_split,
           lambda a, split, dim: a.split(split, dim)),
    OpInfo("chunk", lambda a, chunks, dim: a.chunk(chunks, dim), _chunk_sample, _np_chunk,
           lambda a, chunks, dim: a.chunk(chunks, dim)),
    OpInfo("unbind", lambda a, dim: a.unbind(dim), _unbind_sample,
           lambda a, dim: tuple(np.moveaxis(a, dim, 0)), lambda a, dim: a.unbind(dim)),
    OpInfo("pad", lambda a, pad, mode: mg.pad(a, pad, mode=mode), _pad_sample, _np_pad, _torch_pad),
    OpInfo("flip", lambda a, dims: a.flip(dims), _flip_sample, lambda a, dims: np.flip(a, dims),
           lambda a, dims: a.flip(dims)),
    OpInfo("repeat", lambda a, sizes: a.repeat(*sizes), _repeat_sample, lambda a, sizes: np.tile(a, sizes),
           lambda a, sizes: a.repeat(*sizes)),
    OpInfo("sum_to", lambda a, shape: a.sum_to(shape),
           lambda draw: (lambda s: Sample([values(draw, s.result_shape)], {"shape": s.input_shapes[0]}))(
               draw(hnp.mutually_broadcastable_shapes(num_shapes=1, min_dims=0, max_dims=3, max_side=3))),
           lambda a, shape: a.sum(axis=tuple(range(a.ndim - len(shape))) + tuple(
               a.ndim - len(shape) + i for i, s in enumerate(shape) if s == 1 and a.shape[a.ndim - len(shape) + i] != 1),
               keepdims=True).reshape(shape),
           lambda a, shape: a.sum_to_size(shape) if shape else a.sum()),
    OpInfo("clone", lambda a: a.clone(), unary(), np.copy, lambda a: a.clone()),
    OpInfo("to_float32", lambda a: a.to(mg.float32).to(mg.float64), unary(), lambda a: a.astype(np.float32).astype(np.float64),
           lambda a: a.float().double(), atol=1e-6, gradcheck_kwargs={"eps": 1e-2}, keeps_dtype=False,
           notes="float32 rounding: a linear map checked with a large step"),
)

# Indexing ---------------------------------------------------------------------------------------


def _basic_index_sample(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=4))
    index = draw(hnp.basic_indices(shape, min_dims=0, allow_newaxis=True, allow_ellipsis=True))
    return Sample([values(draw, shape)], {"index": index})


def _int_array_index_sample(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=4))
    n = shape[0]
    idx = np.array(draw(st.lists(st.integers(-n, n - 1), min_size=1, max_size=6)))  # repeats allowed
    form = draw(st.sampled_from(["rows", "rows_slice", "second_axis", "two_arrays"]))
    if form == "rows":
        index = idx
    elif form == "rows_slice":
        index = (idx, Ellipsis)
    elif form == "second_axis" and len(shape) >= 2:
        m = shape[1]
        index = (slice(None), np.array(draw(st.lists(st.integers(0, m - 1), min_size=1, max_size=5))))
    elif len(shape) >= 2:
        m = shape[1]
        other = np.array(draw(st.lists(st.integers(0, m - 1), min_size=len(idx), max_size=len(idx))))
        index = (idx, other)
    else:
        index = idx
    return Sample([values(draw, shape)], {"index": index})


def _mask_index_sample(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=4))
    k = draw(st.integers(1, len(shape)))
    mask = values(draw, shape[:k], salt=1) > 0
    return Sample([values(draw, shape)], {"index": mask})


def _torch_index(a, index):
    torch = _t()

    def conv(p):
        return torch.as_tensor(p) if isinstance(p, np.ndarray) else p

    return a[tuple(conv(p) for p in index)] if isinstance(index, tuple) else a[conv(index)]


def _torch_basic_index(a, index):
    """``a[index]`` in PyTorch, which refuses negative slice steps: flip those dims and slice forwards."""
    parts = index if isinstance(index, tuple) else (index,)
    named = sum(1 for p in parts if p is not None and p is not Ellipsis)
    dim, flips, rewritten = 0, [], []
    for p in parts:
        if p is Ellipsis:
            dim += a.ndim - named
        elif isinstance(p, slice) and p.step is not None and p.step < 0:
            n = a.shape[dim]
            picked = range(n)[p]
            flips.append(dim)
            p = slice(n - 1 - picked[0], n - picked[-1], -p.step) if len(picked) else slice(0, 0)
        if p is not None and p is not Ellipsis:
            dim += 1
        rewritten.append(p)
    if flips:
        a = a.flip(flips)
    return a[tuple(rewritten)]


def _gather_sample(draw):
    shape = draw(NONEMPTY_DIMS)
    nd = len(shape)
    dim = draw(st.integers(-nd, nd - 1))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    idx_shape = tuple(draw(st.integers(1, s)) if i != dim % nd else draw(st.integers(1, 4)) for i, s in enumerate(shape))
    index = rng.integers(0, shape[dim], idx_shape)
    return Sample([values(draw, shape), index], {"dim": dim}, constant=(1,))


def _np_gather(a, index, dim):
    sl = tuple(slice(0, s) if i != dim % a.ndim else slice(None) for i, s in enumerate(index.shape))
    return np.take_along_axis(a[sl], index, axis=dim)


def _index_select_sample(draw):
    shape = draw(NONEMPTY_DIMS)
    nd = len(shape)
    dim = draw(st.integers(-nd, nd - 1))
    index = np.array(draw(st.lists(st.integers(0, shape[dim] - 1), min_size=1, max_size=5)))
    return Sample([values(draw, shape), index], {"dim": dim}, constant=(1,))


register(
    OpInfo("getitem_basic", lambda a, index: a[index], _basic_index_sample, lambda a, index: a[index],
           _torch_basic_index, notes="negative slice steps too (PyTorch lacks them: its reference flips)"),
    OpInfo("getitem_int_array", lambda a, index: a[index], _int_array_index_sample, lambda a, index: a[index],
           _torch_index, notes="repeated indices accumulate in backward"),
    OpInfo("getitem_bool_mask", lambda a, index: a[index], _mask_index_sample, lambda a, index: a[index],
           _torch_index),
    OpInfo("gather", lambda a, i, dim: a.gather(dim, i), _gather_sample, _np_gather,
           lambda a, i, dim: a.gather(dim, i)),
    OpInfo("index_select", lambda a, i, dim: a.index_select(dim, i), _index_select_sample,
           lambda a, i, dim: np.take(a, i, axis=dim), lambda a, i, dim: a.index_select(dim, i)),
)

# Comparisons (forward only) ---------------------------------------------------------------------
for _name, _op in (("lt", np.less), ("le", np.less_equal), ("gt", np.greater), ("ge", np.greater_equal),
                   ("eq", np.equal), ("ne", np.not_equal)):
    register(OpInfo(_name, (lambda n: lambda a, b: getattr(a, n)(b))(_name), binary(), _op,
                    (lambda n: lambda a, b: getattr(a, n)(b))(_name), grad=False))

# Matrix products of fixed rank, broadcasting several tensors, NaN test, assignment -------------------
def _mm_sample(batch):
    def sample(draw):
        n, k, m = (draw(st.integers(1, 4)) for _ in range(3))
        lead = (draw(st.integers(1, 3)),) if batch else ()
        return Sample([values(draw, lead + (n, k)), values(draw, lead + (k, m), salt=1)])

    return sample


def _dot_sample(draw):
    n = draw(st.integers(1, 5))
    return Sample([values(draw, (n,)), values(draw, (n,), salt=1)])


def _broadcast_tensors_sample(draw):
    shapes = draw(hnp.mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=3, max_side=3))
    return Sample([values(draw, shape, salt=i) for i, shape in enumerate(shapes.input_shapes)])


def _isnan_sample(draw):
    x = values(draw, draw(SHAPES))
    if x.size:
        x.reshape(-1)[draw(st.integers(0, x.size - 1))] = np.nan
    return Sample([x])


def _setitem_sample(draw):
    """A row, a slice of rows or a column assigned a value of the matching shape."""
    n, m = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    kind = draw(st.sampled_from(["row", "rows", "column"]))
    if kind == "row":
        i = draw(st.integers(-n, n - 1))
        index, vshape = (i,), (m,)
    elif kind == "rows":
        start = draw(st.integers(0, n - 1))
        index, vshape = (slice(start, n),), (n - start, m)
    else:
        j = draw(st.integers(0, m - 1))
        index, vshape = (slice(None), j), (n,)
    return Sample([values(draw, (n, m)), values(draw, vshape, salt=1)], {"index": index})


def _assigned(a, v, index):
    out = a.detach().clone() if hasattr(a, "detach") else a.copy()
    out[index] = v.detach() if hasattr(v, "detach") else v
    return out


register(
    OpInfo("mm", mg.mm, _mm_sample(batch=False), np.matmul, lambda a, b: a.mm(b)),
    OpInfo("bmm", mg.bmm, _mm_sample(batch=True), np.matmul, lambda a, b: a.bmm(b)),
    OpInfo("dot", mg.dot, _dot_sample, np.dot, lambda a, b: a.dot(b)),
    OpInfo("broadcast_tensors", mg.broadcast_tensors, _broadcast_tensors_sample, np.broadcast_arrays,
           lambda *ts: _t().broadcast_tensors(*ts)),
    OpInfo("isnan", mg.isnan, _isnan_sample, np.isnan, lambda a: a.isnan(), grad=False),
    OpInfo("setitem", _assigned, _setitem_sample, _assigned, _assigned, grad=False,
           notes="x[index] = value in place (not recorded); the entry assigns into a copy"),
)

# Entries for the ops of other packages live in their own files (each calls ``register``).
import registry_nn  # noqa: E402,F401  (nn.functional: linear, losses, normalisation, ...)
import registry_conv  # noqa: E402,F401  (conv2d, pooling)
import registry_rnn  # noqa: E402,F401  (recurrent cells and layers)
import registry_attention  # noqa: E402,F401  (scaled_dot_product_attention)
import registry_more  # noqa: E402,F401  (more math, scatter, shape helpers, more nn.functional)
import registry_api  # noqa: E402,F401  (the rest of the tensor operations docs/api.md lists)

BY_NAME = {info.name: info for info in REGISTRY}
GRAD_OPS = [i for i in REGISTRY if i.grad]
GRADGRAD_OPS = [i for i in REGISTRY if i.grad and i.gradgrad]

# Operators and ops whose registry entries have other names.  test_ops.py checks that every op listed under
# "Tensor operations" in docs/api.md has entries (named like the op, listed here, or running the same
# function), so an op cannot silently lose its tests.
API_COVERAGE = {
    "+": ["add", "radd_scalar"], "-": ["sub", "rsub_scalar", "neg"], "*": ["mul"], "/": ["div", "rdiv_scalar"],
    "**": ["pow_tensor_tensor", "pow_scalar_exponent", "rpow_scalar_base"], "@": ["matmul"],
    "comparisons": ["lt", "le", "gt", "ge", "eq", "ne"],
    "__getitem__": ["getitem_basic", "getitem_int_array", "getitem_bool_mask"],
    "exp": ["exp"], "log": ["log"], "sqrt": ["sqrt"], "sin": ["sin"], "cos": ["cos"], "tanh": ["tanh"],
    "sigmoid": ["sigmoid"], "relu": ["relu"], "abs": ["abs"], "clamp": ["clamp", "clamp_min_only"],
    "maximum": ["maximum"], "minimum": ["minimum"], "where": ["where"], "pow": ["pow_tensor_tensor"],
    "sum": ["sum"], "mean": ["mean"], "var": ["var", "var_biased"], "std": ["std"], "max": ["max_all", "max_dim_values"],
    "min": ["min_all", "min_dim_values"], "amax": ["amax"], "amin": ["amin"], "argmax": ["argmax"],
    "argmin": ["argmin"], "logsumexp": ["logsumexp"], "prod": ["prod", "prod_with_zero"],
    "mm": ["mm"], "bmm": ["bmm"], "dot": ["dot"], "broadcast_tensors": ["broadcast_tensors"], "isnan": ["isnan"],
    "__setitem__": ["setitem"],
    "reshape": ["reshape"], "view": ["view"], "flatten": ["flatten"], "squeeze": ["squeeze"],
    "unsqueeze": ["unsqueeze"], "transpose": ["transpose"], "permute": ["permute"], "T": ["T"],
    "expand": ["expand"], "broadcast_to": ["broadcast_to"], "cat": ["cat"], "stack": ["stack"],
    "split": ["split"], "chunk": ["chunk"], "pad": ["pad"], "softmax": ["softmax"], "log_softmax": ["log_softmax"],
    "getitem": ["getitem_basic", "getitem_int_array", "getitem_bool_mask"],
    "sort": ["sort_values", "sort_descending_values"], "topk": ["topk_values", "topk_indices"],
}
