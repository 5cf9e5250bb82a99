"""Registry entries for the ops added to follow PyTorch more closely (see op_registry.py for the fields):
more math functions, rounding with zero gradients, bitwise ops, cumulative products, medians,
shape helpers (roll, narrow, movedim, tile, ...), scatter/index_add, more products, and more of
``nn.functional`` (hardtanh, glu, group_norm, interpolate, conv_transpose1d, kl_div, ...).

NumPy references are written independently of minigrad's code.
"""
import math

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigrad as mg
import minigrad.nn.functional as F
from op_registry import NONEMPTY_DIMS, SHAPES, OpInfo, Sample, binary, distinct, register, unary, values


def _t():
    import torch

    return torch


def _tf():
    import torch.nn.functional as tf

    return tf


def _rng(draw):
    return np.random.default_rng(draw(st.integers(0, 2**32 - 1)))


def _one_dim(shapes=NONEMPTY_DIMS, distinct_values=False, domain="real"):
    def sample(draw):
        shape = draw(shapes)
        x = distinct(draw, shape) if distinct_values else values(draw, shape, domain)
        return Sample([x], {"dim": draw(st.integers(-len(shape), len(shape) - 1))})

    return sample


def _away_from_integers(draw):
    """Values whose fractional part stays in [0.2, 0.8] (rounding is flat there), and x.5 +- 0.2."""
    rng = _rng(draw)
    shape = draw(SHAPES)
    return Sample([np.asarray(rng.integers(-4, 4, shape) + rng.uniform(0.2, 0.45, shape), dtype=np.float64)])


def _with_infinities(draw):
    x = values(draw, draw(SHAPES))
    rng = _rng(draw)
    return np.where(rng.random(x.shape) < 0.3, np.inf * np.sign(x), x)


# ----------------------------------------------------------------------------- math functions
_erf = np.vectorize(math.erf, otypes=[np.float64])

register(
    OpInfo("tan", mg.tan, unary("unit"), np.tan, lambda a: a.tan()),
    OpInfo("atan2", mg.atan2, binary(), np.arctan2, lambda a, b: _t().atan2(a, b)),
    OpInfo("log2", mg.log2, unary("positive"), np.log2, lambda a: a.log2()),
    OpInfo("log10", mg.log10, unary("positive"), np.log10, lambda a: a.log10()),
    OpInfo("erf_toplevel", mg.erf, unary("wide"), _erf, lambda a: a.erf()),
    OpInfo("floor", mg.floor, _away_from_integers, np.floor, lambda a: a.floor(),
           notes="piecewise constant: a zero gradient, as PyTorch"),
    OpInfo("ceil", mg.ceil, _away_from_integers, np.ceil, lambda a: a.ceil()),
    OpInfo("trunc", mg.trunc, _away_from_integers, np.trunc, lambda a: a.trunc()),
    OpInfo("round", mg.round, _away_from_integers, np.round, lambda a: a.round()),
    OpInfo("round_decimals", lambda a: mg.round(a, decimals=1), lambda draw: Sample(
        [np.round(values(draw, draw(SHAPES)), 1) + 0.02]), lambda a: np.round(a, 1),
           lambda a: a.round(decimals=1)),
    OpInfo("sign", mg.sign, unary(), np.sign, lambda a: a.sign()),
    OpInfo("isinf", mg.isinf, lambda draw: Sample([_with_infinities(draw)]), np.isinf, lambda a: a.isinf(),
           grad=False),
    OpInfo("clamp_min", lambda a: mg.clamp_min(a, 0.3), unary("wide"), lambda a: np.maximum(a, 0.3),
           lambda a: a.clamp_min(0.3)),
    OpInfo("clamp_max", lambda a: mg.clamp_max(a, 0.3), unary("wide"), lambda a: np.minimum(a, 0.3),
           lambda a: a.clamp_max(0.3)),
)


def _clamp_tensor_sample(draw):
    shapes = draw(hnp.mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=3, max_side=3))
    _, lo_shape, hi_shape = shapes.input_shapes
    x_shape = shapes.result_shape  # PyTorch's backward cannot sum a broadcast gradient back to x
    rng = _rng(draw)
    # x away from both bounds (no ties): bounds around -1 and 1, x in well-separated bands
    lo = rng.uniform(-1.2, -0.8, lo_shape)
    hi = rng.uniform(0.8, 1.2, hi_shape)
    x = rng.choice([-2.0, 0.0, 2.0], x_shape) + rng.uniform(-0.3, 0.3, x_shape)
    return Sample([np.asarray(x), np.asarray(lo), np.asarray(hi)])


def _div_rounding_sample(draw):
    shapes = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=4))
    a_shape, b_shape = shapes.input_shapes
    rng = _rng(draw)
    b = rng.choice([0.5, 1.0, 2.0], b_shape) * rng.choice([-1.0, 1.0], b_shape)
    a = rng.integers(-4, 4, a_shape) + rng.uniform(0.28, 0.32, a_shape)  # quotient never near an integer
    return Sample([np.asarray(a, dtype=np.float64), np.asarray(b)], {"mode": draw(st.sampled_from(["trunc",
                                                                                                  "floor"]))})


register(
    OpInfo("clamp_tensor_bounds", lambda x, lo, hi: mg.clamp(x, lo, hi), _clamp_tensor_sample,
           lambda x, lo, hi: np.minimum(np.maximum(x, lo), hi), lambda x, lo, hi: x.clamp(lo, hi)),
    OpInfo("div_rounding_mode", lambda a, b, mode: mg.div(a, b, rounding_mode=mode), _div_rounding_sample,
           lambda a, b, mode: np.trunc(a / b) if mode == "trunc" else np.floor_divide(a, b),
           lambda a, b, mode: _t().div(a, b, rounding_mode=mode)),
    OpInfo("add_alpha", lambda a, b: mg.add(a, b, alpha=-1.5), binary(), lambda a, b: a - 1.5 * b,
           lambda a, b: _t().add(a, b, alpha=-1.5)),
    OpInfo("sub_alpha", lambda a, b: mg.sub(a, b, alpha=2), binary(), lambda a, b: a - 2 * b,
           lambda a, b: _t().sub(a, b, alpha=2)),
)


def _int_pair(draw):
    shapes = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=4))
    rng = _rng(draw)
    a, b = (rng.integers(-20, 20, s).astype(np.int64) for s in shapes.input_shapes)
    return Sample([a, b], constant=(0, 1))


for _name, _np_op in (("bitwise_and", np.bitwise_and), ("bitwise_or", np.bitwise_or),
                      ("bitwise_xor", np.bitwise_xor)):
    register(OpInfo(_name, getattr(mg, _name), _int_pair, _np_op,
                    (lambda n: lambda a, b: getattr(_t(), n)(a, b))(_name), grad=False))
register(
    OpInfo("and_operator_int", lambda a, b: a & b, _int_pair, np.bitwise_and, lambda a, b: a & b, grad=False,
           notes="& | ^ on integer tensors are bitwise, as in PyTorch"),
    OpInfo("rand_int_scalar", lambda a, b: 6 & a, _int_pair, lambda a, b: 6 & a, lambda a, b: 6 & a, grad=False),
    OpInfo("bitwise_not", lambda a, b: ~a, _int_pair, lambda a, b: ~a, lambda a, b: ~a, grad=False),
)

# ----------------------------------------------------------------------------- reductions and scans


def _np_median(a, dim):
    if dim is None:
        return np.sort(a.reshape(-1))[(a.size - 1) // 2]
    n = a.shape[dim]
    return np.take(np.sort(a, axis=dim), (n - 1) // 2, axis=dim)


def _median_sample(draw):
    shape = draw(NONEMPTY_DIMS)
    return Sample([distinct(draw, shape)], {"dim": draw(st.one_of(st.none(), st.integers(-len(shape),
                                                                                          len(shape) - 1)))})


def _nan_sample(draw):
    shape = draw(NONEMPTY_DIMS)
    x = values(draw, shape)
    flat = x.reshape(-1)
    flat[draw(st.integers(0, flat.size - 1))] = np.nan
    return Sample([x], {"dim": draw(st.one_of(st.none(), st.integers(-len(shape), len(shape) - 1)))})


def _diff_sample(draw):
    shape = draw(NONEMPTY_DIMS)
    nd = len(shape)
    dim = draw(st.integers(-nd, nd - 1))
    kwargs = {"n": draw(st.integers(0, 2)), "dim": dim}
    args = [values(draw, shape)]
    if draw(st.booleans()):
        other = list(shape)
        other[dim] = draw(st.integers(1, 2))
        args.append(values(draw, tuple(other), salt=1))
    return Sample(args, kwargs)


def _np_diff(a, prepend=None, n=1, dim=-1):
    if n == 0:
        return a
    return np.diff(a, n=n, axis=dim, prepend=prepend) if prepend is not None else np.diff(a, n=n, axis=dim)


register(
    OpInfo("cumprod", lambda a, dim: a.cumprod(dim), _one_dim(), lambda a, dim: np.cumprod(a, axis=dim),
           lambda a, dim: a.cumprod(dim)),
    OpInfo("cumprod_with_zero", lambda a, dim: a.cumprod(dim),
           lambda draw: (lambda s: Sample([np.where(np.arange(s.args[0].size).reshape(s.args[0].shape) == 0, 0.0,
                                                    s.args[0])], s.kwargs))(_one_dim()(draw)),
           lambda a, dim: np.cumprod(a, axis=dim), lambda a, dim: a.cumprod(dim),
           notes="an exact zero: the backward multiplies out the other elements"),
    OpInfo("median", lambda a, dim: mg.median(a) if dim is None else mg.median(a, dim).values, _median_sample,
           _np_median, lambda a, dim: a.median() if dim is None else a.median(dim).values,
           notes="the lower middle value of an even count, as PyTorch"),
    OpInfo("nansum", lambda a, dim: mg.nansum(a, dim), _nan_sample, lambda a, dim: np.nansum(a, axis=dim),
           lambda a, dim: _t().nansum(a, dim) if dim is not None else _t().nansum(a), atol=1e-6),
    OpInfo("diff", lambda a, *p, **kw: mg.diff(a, prepend=p[0] if p else None, **kw), _diff_sample,
           lambda a, *p, **kw: _np_diff(a, p[0] if p else None, **kw),
           lambda a, *p, **kw: _t().diff(a, prepend=p[0] if p else None, **kw)),
)

# ----------------------------------------------------------------------------- shape ops


def _roll_sample(draw):
    shape = draw(NONEMPTY_DIMS)
    if draw(st.booleans()):
        return Sample([values(draw, shape)], {"shifts": draw(st.integers(-5, 5)), "dims": None})
    dims = tuple(draw(st.lists(st.integers(0, len(shape) - 1), min_size=1, max_size=len(shape), unique=True)))
    return Sample([values(draw, shape)], {"shifts": tuple(draw(st.integers(-5, 5)) for _ in dims), "dims": dims})


def _narrow_sample(draw):
    shape = draw(NONEMPTY_DIMS)
    dim = draw(st.integers(0, len(shape) - 1))
    start = draw(st.integers(0, shape[dim]))
    return Sample([values(draw, shape)], {"dim": dim, "start": start,
                                          "length": draw(st.integers(0, shape[dim] - start))})


def _select_sample(draw):
    shape = draw(NONEMPTY_DIMS)
    dim = draw(st.integers(-len(shape), len(shape) - 1))
    return Sample([values(draw, shape)], {"dim": dim, "index": draw(st.integers(-shape[dim], shape[dim] - 1))})


def _movedim_sample(draw):
    shape = draw(NONEMPTY_DIMS)
    nd = len(shape)
    k = draw(st.integers(1, nd))
    src = draw(st.permutations(range(nd)))[:k]
    dst = draw(st.permutations(range(nd)))[:k]
    return Sample([values(draw, shape)], {"source": tuple(src), "destination": tuple(dst)})


def _stack_sample(draw):
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, max_side=3))
    return Sample([values(draw, shape, salt=k) for k in range(draw(st.integers(1, 3)))])


def _tile_sample(draw):
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, max_side=3))
    return Sample([values(draw, shape)], {"dims": tuple(draw(st.lists(st.integers(1, 3), min_size=1, max_size=4)))})


def _repeat_interleave_sample(draw):
    shape = draw(NONEMPTY_DIMS)
    if draw(st.booleans()):
        return Sample([values(draw, shape)], {"repeats": draw(st.integers(0, 3)), "dim": None})
    dim = draw(st.integers(0, len(shape) - 1))
    reps = np.array(draw(st.lists(st.integers(0, 3), min_size=shape[dim], max_size=shape[dim])))
    return Sample([values(draw, shape), reps], {"dim": dim}, constant=(1,))


def _np_repeat_interleave(a, repeats=None, dim=None):
    return np.repeat(a, repeats, axis=dim) if dim is not None else np.repeat(a.reshape(-1), repeats)


register(
    OpInfo("roll", lambda a, shifts, dims: a.roll(shifts, dims), _roll_sample,
           lambda a, shifts, dims: np.roll(a, shifts, axis=dims), lambda a, shifts, dims: a.roll(shifts, dims)),
    OpInfo("narrow", lambda a, **kw: a.narrow(**kw), _narrow_sample,
           lambda a, dim, start, length: np.take(a, np.arange(start, start + length), axis=dim),
           lambda a, **kw: a.narrow(**kw)),
    OpInfo("select", lambda a, **kw: a.select(**kw), _select_sample,
           lambda a, dim, index: np.take(a, index, axis=dim), lambda a, **kw: a.select(**kw)),
    OpInfo("movedim", lambda a, **kw: a.movedim(**kw), _movedim_sample,
           lambda a, source, destination: np.moveaxis(a, source, destination), lambda a, **kw: a.movedim(**kw)),
    OpInfo("hstack", lambda *xs: mg.hstack(xs), _stack_sample, lambda *xs: np.hstack(xs),
           lambda *xs: _t().hstack(xs)),
    OpInfo("vstack", lambda *xs: mg.vstack(xs), _stack_sample, lambda *xs: np.vstack(xs),
           lambda *xs: _t().vstack(xs)),
    OpInfo("tile", lambda a, dims: a.tile(dims), _tile_sample, lambda a, dims: np.tile(a, dims),
           lambda a, dims: a.tile(dims)),
    OpInfo("repeat_interleave", lambda a, *r, **kw: a.repeat_interleave(r[0] if r else kw.pop("repeats"), **kw),
           _repeat_interleave_sample,
           lambda a, *r, **kw: _np_repeat_interleave(a, r[0] if r else kw.pop("repeats"), **kw),
           lambda a, *r, **kw: a.repeat_interleave(r[0] if r else kw.pop("repeats"), **kw)),
    OpInfo("H", lambda a: a.H, unary(shapes=hnp.array_shapes(min_dims=0, max_dims=2, max_side=4)),
           lambda a: a.T, lambda a: a.H if a.ndim == 2 else a),
    OpInfo("mH", lambda a: a.mH, unary(shapes=hnp.array_shapes(min_dims=2, max_dims=3, max_side=4)),
           lambda a: np.swapaxes(a, -1, -2), lambda a: a.mH),
)

# ----------------------------------------------------------------------------- scatter and friends


def _scatter_sample(draw):
    shape = draw(NONEMPTY_DIMS)
    nd = len(shape)
    dim = draw(st.integers(0, nd - 1))
    rng = _rng(draw)
    idx_shape = tuple(draw(st.integers(1, s)) if k != dim else draw(st.integers(1, 3)) for k, s in enumerate(shape))
    index = rng.integers(0, shape[dim], idx_shape)
    # src as large as the index: PyTorch's backward cannot handle a larger src (minigrad's can)
    return Sample([values(draw, shape), index, values(draw, idx_shape, salt=1)], {"dim": dim}, constant=(1,))


def _np_scatter_add(a, index, src, dim):
    out = a.copy()
    for pos in np.ndindex(*index.shape):
        target = list(pos)
        target[dim] = index[pos]
        out[tuple(target)] += src[pos]
    return out


def _distinct_scatter_sample(draw):
    """scatter with distinct positions along dim (PyTorch leaves repeated positions undefined)."""
    shape = draw(NONEMPTY_DIMS)
    nd = len(shape)
    dim = draw(st.integers(0, nd - 1))
    rng = _rng(draw)
    lead = tuple(draw(st.integers(1, s)) for s in shape)  # the index's other dims fit the input
    k = draw(st.integers(1, shape[dim]))
    full = lead[:dim] + (shape[dim],) + lead[dim + 1:]
    index = np.take(np.argsort(rng.random(full), axis=dim), np.arange(k), axis=dim)
    return Sample([values(draw, shape), index, values(draw, index.shape, salt=1)], {"dim": dim}, constant=(1,))


def _np_scatter(a, index, src, dim):
    out = a.copy()
    for pos in np.ndindex(*index.shape):
        target = list(pos)
        target[dim] = index[pos]
        out[tuple(target)] = src[pos]
    return out


def _index_add_sample(draw):
    shape = draw(NONEMPTY_DIMS)
    dim = draw(st.integers(0, len(shape) - 1))
    index = np.array(draw(st.lists(st.integers(0, shape[dim] - 1), min_size=1, max_size=4)))
    src_shape = tuple(len(index) if k == dim else s for k, s in enumerate(shape))
    return Sample([values(draw, shape), index, values(draw, src_shape, salt=1)], {"dim": dim}, constant=(1,))


def _np_index_add(a, index, src, dim):
    out = np.moveaxis(a.copy(), dim, 0)
    moved = np.moveaxis(src, dim, 0)
    for k, i in enumerate(index):
        out[i] += moved[k]
    return np.moveaxis(out, 0, dim)


def _masked_select_sample(draw):
    shapes = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3))
    a_shape, m_shape = shapes.input_shapes
    return Sample([values(draw, a_shape), values(draw, m_shape, salt=1) > 0], constant=(1,))


register(
    OpInfo("scatter_add", lambda a, i, s, dim: a.scatter_add(dim, i, s), _scatter_sample, _np_scatter_add,
           lambda a, i, s, dim: a.scatter_add(dim, i, s), notes="repeated positions add up"),
    OpInfo("scatter", lambda a, i, s, dim: a.scatter(dim, i, s), _distinct_scatter_sample, _np_scatter,
           lambda a, i, s, dim: a.scatter(dim, i, s)),
    OpInfo("scatter_value", lambda a, i, s, dim: a.scatter(dim, i, 2.5), _distinct_scatter_sample,
           lambda a, i, s, dim: _np_scatter(a, i, np.full(i.shape, 2.5), dim),
           lambda a, i, s, dim: a.scatter(dim, i, 2.5)),
    OpInfo("index_add", lambda a, i, s, dim: a.index_add(dim, i, s), _index_add_sample, _np_index_add,
           lambda a, i, s, dim: a.index_add(dim, i, s)),
    OpInfo("masked_select", lambda a, m: a.masked_select(m), _masked_select_sample,
           lambda a, m: np.broadcast_to(a, np.broadcast_shapes(a.shape, m.shape))[
               np.broadcast_to(m, np.broadcast_shapes(a.shape, m.shape))],
           lambda a, m: a.masked_select(m)),
    OpInfo("nonzero", lambda a: a.nonzero(), lambda draw: Sample([np.where(values(draw, draw(SHAPES)) > 0, 1.0,
                                                                           0.0)]),
           lambda a: np.argwhere(a), lambda a: a.nonzero(), grad=False),
)

# ----------------------------------------------------------------------------- products


def _vec_pair(draw):
    return Sample([values(draw, (draw(st.integers(1, 4)),)), values(draw, (draw(st.integers(1, 4)),), salt=1)])


def _mv_sample(draw):
    n, m = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    return Sample([values(draw, (n, m)), values(draw, (m,), salt=1)])


def _addmm_sample(draw):
    n, m, p = (draw(st.integers(1, 4)) for _ in range(3))
    bias_shape = draw(st.sampled_from([(n, p), (p,), (1, p), ()]))
    return Sample([values(draw, bias_shape), values(draw, (n, m), salt=1), values(draw, (m, p), salt=2)],
                  {"beta": draw(st.sampled_from([1, 0.5])), "alpha": draw(st.sampled_from([1, -2.0]))})


def _tensordot_sample(draw):
    k = draw(st.integers(0, 2))
    contracted = tuple(draw(st.integers(1, 3)) for _ in range(k))
    a_lead = draw(hnp.array_shapes(min_dims=0, max_dims=2, max_side=3))
    b_tail = draw(hnp.array_shapes(min_dims=0, max_dims=2, max_side=3))
    return Sample([values(draw, a_lead + contracted), values(draw, contracted + b_tail, salt=1)], {"dims": k})


register(
    OpInfo("outer", mg.outer, _vec_pair, np.outer, lambda a, b: _t().outer(a, b)),
    OpInfo("mv", mg.mv, _mv_sample, lambda a, b: a @ b, lambda a, b: _t().mv(a, b), atol=1e-5),
    OpInfo("addmm", lambda c, a, b, **kw: mg.addmm(c, a, b, **kw), _addmm_sample,
           lambda c, a, b, beta, alpha: beta * c + alpha * (a @ b),
           lambda c, a, b, **kw: _t().addmm(c, a, b, **kw), atol=1e-5),
    OpInfo("tensordot", lambda a, b, dims: mg.tensordot(a, b, dims), _tensordot_sample,
           lambda a, b, dims: np.tensordot(a, b, dims), lambda a, b, dims: _t().tensordot(a, b, dims), atol=1e-5),
)

# ----------------------------------------------------------------------------- nn.functional


def _activation_sample(draw):
    rng = _rng(draw)
    shape = draw(SHAPES)
    # away from the kinks at -1, 0, 1 and 6: bands around -3, -0.5, 0.5, 3 and 8
    x = rng.choice([-3.0, -0.5, 0.5, 3.0, 8.0], shape) + rng.uniform(-0.3, 0.3, shape)
    return Sample([np.asarray(x, dtype=np.float64)])


def _selu_np(a):
    return 1.0507009873554805 * np.where(a > 0, a, 1.6732632423543772 * np.expm1(a))


def _glu_sample(draw):
    shape = list(draw(NONEMPTY_DIMS))
    dim = draw(st.integers(-len(shape), len(shape) - 1))
    shape[dim] *= 2
    return Sample([values(draw, tuple(shape), "wide")], {"dim": dim})


def _glu_np(a, dim):
    x, g = np.split(a, 2, axis=dim)
    return x / (1 + np.exp(-g))


def _group_norm_sample(draw):
    groups = draw(st.integers(1, 3))
    c = groups * draw(st.integers(1, 2))
    shape = (draw(st.integers(1, 3)), c) + tuple(draw(st.lists(st.integers(1, 3), min_size=0, max_size=2)))
    if int(np.prod(shape[2:])) * (c // groups) < 2:
        shape = shape[:2] + (2,)
    return Sample([values(draw, shape, "wide"), values(draw, (c,), salt=1), values(draw, (c,), salt=2)],
                  {"num_groups": groups})


def _np_group_norm(x, w, b, num_groups, eps=1e-5):
    n, c = x.shape[:2]
    g = x.reshape(n, num_groups, -1)
    out = ((g - g.mean(-1, keepdims=True)) / np.sqrt(g.var(-1, keepdims=True) + eps)).reshape(x.shape)
    view = (1, c) + (1,) * (x.ndim - 2)
    return out * w.reshape(view) + b.reshape(view)


def _instance_norm_sample(draw):
    c = draw(st.integers(1, 3))
    shape = (draw(st.integers(1, 3)), c) + tuple(draw(st.lists(st.integers(2, 3), min_size=1, max_size=2)))
    return Sample([values(draw, shape, "wide"), values(draw, (c,), salt=1), values(draw, (c,), salt=2)])


def _np_instance_norm(x, w, b, eps=1e-5):
    axes = tuple(range(2, x.ndim))
    out = (x - x.mean(axes, keepdims=True)) / np.sqrt(x.var(axes, keepdims=True) + eps)
    view = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    return out * w.reshape(view) + b.reshape(view)


def _interpolate_sample(draw):
    mode = draw(st.sampled_from(["nearest", "linear", "bilinear", "bicubic", "area"]))
    k = {"linear": 1, "bilinear": 2, "bicubic": 2}.get(mode, draw(st.integers(1, 2)))
    spatial = tuple(draw(st.integers(1, 4)) for _ in range(k))
    size = tuple(draw(st.integers(1, 6)) for _ in range(k))
    kwargs = {"size": size, "mode": mode}
    if mode in ("linear", "bilinear", "bicubic"):
        kwargs["align_corners"] = draw(st.booleans())
    return Sample([values(draw, (draw(st.integers(1, 2)), draw(st.integers(1, 2))) + spatial)], kwargs)


def _np_interpolate(x, size, mode, align_corners=False):
    """Resize axis by axis with explicit source coordinates (PyTorch's formulas)."""
    out = x
    for axis, n_out in enumerate(size):
        d = 2 + axis
        n_in = out.shape[d]
        if mode == "nearest":
            src = np.minimum(np.floor(np.arange(n_out) * (n_in / n_out)).astype(int), n_in - 1)
            out = np.take(out, src, axis=d)
        elif mode == "bicubic":
            rows = []
            for i in range(n_out):
                if align_corners:
                    real = i * (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
                else:
                    real = (i + 0.5) * n_in / n_out - 0.5
                base = math.floor(real)
                t = real - base
                row = np.zeros(n_in)
                for k in range(-1, 3):
                    x = abs(t - k)  # distance from the tap
                    a = -0.75
                    w = ((a + 2) * x - (a + 3)) * x * x + 1 if x <= 1 else ((a * x - 5 * a) * x + 8 * a) * x - 4 * a
                    row[min(max(base + k, 0), n_in - 1)] += w
                rows.append(row)
            out = np.moveaxis(np.tensordot(np.array(rows), np.moveaxis(out, d, 0), axes=(1, 0)), 0, d)
        elif mode == "area":
            pieces = []
            for i in range(n_out):
                lo, hi = (i * n_in) // n_out, -((-(i + 1) * n_in) // n_out)
                pieces.append(np.take(out, np.arange(lo, hi), axis=d).mean(axis=d, keepdims=True))
            out = np.concatenate(pieces, axis=d)
        else:
            i = np.arange(n_out, dtype=float)
            if align_corners:
                src = i * ((n_in - 1) / (n_out - 1)) if n_out > 1 else i * 0
            else:
                src = np.maximum((i + 0.5) * (n_in / n_out) - 0.5, 0)
            lo = np.minimum(np.floor(src).astype(int), n_in - 1)
            hi = np.minimum(lo + 1, n_in - 1)
            w = (src - lo).reshape([-1 if j == d else 1 for j in range(out.ndim)])
            out = np.take(out, lo, axis=d) * (1 - w) + np.take(out, hi, axis=d) * w
    return out


def _conv_transpose1d_sample(draw):
    groups = draw(st.integers(1, 2))
    c_in, c_out = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    k = draw(st.integers(1, 3))
    stride = draw(st.integers(1, 2))
    kwargs = {"stride": stride, "padding": draw(st.integers(0, 1)), "output_padding": draw(st.integers(0, stride - 1)),
              "groups": groups, "dilation": draw(st.integers(1, 2))}
    length = draw(st.integers(2, 4))
    out_len = (length - 1) * stride - 2 * kwargs["padding"] + kwargs["dilation"] * (k - 1) + kwargs["output_padding"] + 1
    if out_len < 1:
        kwargs["padding"] = 0
    return Sample([values(draw, (draw(st.integers(1, 2)), c_in, length)), values(draw, (c_in, c_out // groups, k),
                                                                                   salt=1),
                   values(draw, (c_out,), salt=2)], kwargs)


def _np_conv_transpose1d(x, w, b, stride, padding, output_padding, groups, dilation):
    n, c_in, length = x.shape
    _, c_out_g, k = w.shape
    full = (length - 1) * stride + dilation * (k - 1) + 1 + output_padding
    out = np.zeros((n, c_out_g * groups, full))
    per = c_in // groups
    for g in range(groups):
        for ci in range(g * per, (g + 1) * per):
            for j in range(k):
                for t in range(length):
                    out[:, g * c_out_g:(g + 1) * c_out_g, t * stride + j * dilation] += np.outer(x[:, ci, t], w[ci, :, j])
    out = out[:, :, padding:full - padding] if padding else out
    return out + b.reshape(1, -1, 1)


def _cosine_sample(draw):
    shapes = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=1, max_dims=3, max_side=4))
    a, b = shapes.input_shapes
    nd = len(shapes.result_shape)
    return Sample([values(draw, a), values(draw, b, salt=1)], {"dim": draw(st.integers(-nd, nd - 1))})


def _np_cosine(a, b, dim):
    a, b = np.broadcast_arrays(a, b)
    na = np.maximum(np.sqrt((a * a).sum(dim, keepdims=True)), 1e-8)
    nb = np.maximum(np.sqrt((b * b).sum(dim, keepdims=True)), 1e-8)
    return ((a / na) * (b / nb)).sum(dim)


def _normalize_sample(draw):
    shape = draw(NONEMPTY_DIMS)
    return Sample([values(draw, shape)], {"p": draw(st.sampled_from([1.0, 2.0, 3.0])),
                                          "dim": draw(st.integers(-len(shape), len(shape) - 1))})


def _np_normalize(a, p, dim):
    return a / np.maximum((np.abs(a) ** p).sum(dim, keepdims=True) ** (1 / p), 1e-12)


def _kl_sample(draw):
    shape = draw(NONEMPTY_DIMS)
    log_target = draw(st.booleans())
    target = values(draw, shape, "unit" if log_target else "positive", salt=1)
    return Sample([values(draw, shape), target], {"reduction": draw(st.sampled_from(["mean", "sum", "none",
                                                                                      "batchmean"])),
                                                   "log_target": log_target})


def _np_kl(x, t, reduction, log_target):
    loss = np.exp(t) * (t - x) if log_target else t * (np.log(t) - x)
    return {"none": loss, "sum": loss.sum(), "mean": loss.mean(), "batchmean": loss.sum() / x.shape[0]}[reduction]


register(
    OpInfo("hardtanh", F.hardtanh, _activation_sample, lambda a: np.clip(a, -1, 1), lambda a: _tf().hardtanh(a)),
    OpInfo("relu6", F.relu6, _activation_sample, lambda a: np.clip(a, 0, 6), lambda a: _tf().relu6(a)),
    OpInfo("selu", F.selu, unary(), _selu_np, lambda a: _tf().selu(a)),
    OpInfo("celu", lambda a: F.celu(a, 0.7), unary(), lambda a: np.where(a > 0, a, 0.7 * np.expm1(a / 0.7)),
           lambda a: _tf().celu(a, 0.7)),
    OpInfo("mish", F.mish, unary("wide"), lambda a: a * np.tanh(np.log1p(np.exp(a))), lambda a: _tf().mish(a)),
    OpInfo("glu", lambda a, dim: F.glu(a, dim), _glu_sample, _glu_np, lambda a, dim: _tf().glu(a, dim)),
    OpInfo("group_norm", lambda x, w, b, num_groups: F.group_norm(x, num_groups, w, b), _group_norm_sample,
           _np_group_norm, lambda x, w, b, num_groups: _tf().group_norm(x, num_groups, w, b), atol=1e-5,
           gradcheck_kwargs={"atol": 1e-4}),
    OpInfo("instance_norm", lambda x, w, b: F.instance_norm(x, weight=w, bias=b), _instance_norm_sample,
           _np_instance_norm, lambda x, w, b: _tf().instance_norm(x, weight=w, bias=b), atol=1e-5,
           gradcheck_kwargs={"atol": 1e-4}),
    OpInfo("interpolate", lambda x, **kw: F.interpolate(x, **kw), _interpolate_sample, _np_interpolate,
           lambda x, **kw: _tf().interpolate(x, **kw), notes="nearest, linear, bilinear, bicubic, area"),
    OpInfo("conv_transpose1d", lambda x, w, b, **kw: F.conv_transpose1d(x, w, b, **kw), _conv_transpose1d_sample,
           _np_conv_transpose1d, lambda x, w, b, **kw: _tf().conv_transpose1d(x, w, b, **kw), atol=1e-5),
    OpInfo("cosine_similarity", lambda a, b, dim: F.cosine_similarity(a, b, dim), _cosine_sample, _np_cosine,
           lambda a, b, dim: _tf().cosine_similarity(a, b, dim)),
    OpInfo("normalize", lambda a, **kw: F.normalize(a, **kw), _normalize_sample, _np_normalize,
           lambda a, **kw: _tf().normalize(a, **kw)),
    OpInfo("kl_div", lambda x, t, **kw: F.kl_div(x, t, **kw), _kl_sample, _np_kl,
           lambda x, t, **kw: _tf().kl_div(x, t, **kw)),
)
