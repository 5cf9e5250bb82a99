"""Registry entries for the tensor operations the API reference lists that had none: the ``*_as`` forms,
``t``, ``scatter_add_flat`` and the logical functions (see op_registry.py for the fields).

NumPy references are written independently of minigrad's code.
"""
import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigrad as mg
from op_registry import SHAPES, OpInfo, Sample, register, values


def _t():
    import torch

    return torch


def _rng(draw):
    return np.random.default_rng(draw(st.integers(0, 2**32 - 1)))


# ----------------------------------------------------------------------------- shapes taken from another tensor
def _reshaped_sample(draw):
    """An array and another shape with as many elements (the shape of the tensor passed to ``*_as``)."""
    shape = draw(SHAPES)
    size = int(np.prod(shape))
    other = draw(st.sampled_from([(size,), (1, size), (size, 1)] + ([tuple(reversed(shape))] if shape else [()])))
    return Sample([values(draw, shape)], {"shape": other})


def _expandable_sample(draw):
    """An array and a shape it broadcasts to (size-1 dims grown, a leading dim added)."""
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=3))
    target = tuple(draw(st.integers(1, 3)) if d == 1 else d for d in shape)
    return Sample([values(draw, shape)], {"shape": (draw(st.integers(1, 3)),) + target})


def _like(a, shape):
    return mg.zeros(shape, dtype=a.dtype, device=a.device)


def _torch_like(a, shape):
    return _t().zeros(shape, dtype=a.dtype)


def _matrix_sample(draw):
    return Sample([values(draw, draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=1, max_side=4)))])


register(
    OpInfo("view_as", lambda a, shape: a.view_as(_like(a, shape)), _reshaped_sample,
           lambda a, shape: a.reshape(shape), lambda a, shape: a.reshape(shape).view_as(_torch_like(a, shape))),
    OpInfo("reshape_as", lambda a, shape: a.reshape_as(_like(a, shape)), _reshaped_sample,
           lambda a, shape: a.reshape(shape), lambda a, shape: a.reshape_as(_torch_like(a, shape))),
    OpInfo("expand_as", lambda a, shape: a.expand_as(_like(a, shape)), _expandable_sample,
           lambda a, shape: np.broadcast_to(a, shape), lambda a, shape: a.expand_as(_torch_like(a, shape))),
    OpInfo("t", mg.t, _matrix_sample, lambda a: a.T, lambda a: a.t()),
)


# ----------------------------------------------------------------------------- scatter_add_flat
def _scatter_add_flat_sample(draw):
    """Values, the positions they go to (an integer array; repeats accumulate) and the output length."""
    size = draw(st.integers(1, 5))
    n = draw(st.integers(0, 6))
    positions = _rng(draw).integers(0, size, n)
    return Sample([values(draw, (n,))], {"positions": positions, "size": size})


def _np_scatter_add_flat(v, positions, size):
    out = np.zeros(size, dtype=v.dtype)
    for value, position in zip(v, positions):
        out[position] += value
    return out


register(
    OpInfo("scatter_add_flat", lambda v, positions, size: mg.scatter_add_flat(v, mg.tensor(positions, device=v.device).data, size),
           _scatter_add_flat_sample, _np_scatter_add_flat,
           lambda v, positions, size: v.new_zeros(size).index_add(0, _t().as_tensor(positions), v)),
)


# ----------------------------------------------------------------------------- logical functions (no gradient)
def _bool_pair(draw):
    shapes = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=4))
    rng = _rng(draw)
    return Sample([rng.random(s) < 0.5 for s in shapes.input_shapes], constant=(0, 1))


def _real_pair(draw):
    """Floats, some of them exactly zero (false), for the logical functions on non-bool tensors."""
    shapes = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=4))
    rng = _rng(draw)
    return Sample([np.where(rng.random(s) < 0.3, 0.0, values(draw, s, salt=i))
                   for i, s in enumerate(shapes.input_shapes)], constant=(0, 1))


def _bool_reduce(draw):
    shape = draw(SHAPES)
    x = _rng(draw).random(shape) < draw(st.sampled_from([0.2, 0.8, 1.0]))
    kwargs = {"dim": draw(st.integers(-len(shape), len(shape) - 1))} if shape else {}
    return Sample([x], kwargs, constant=(0,))


def _with_non_finite(draw):
    x = values(draw, draw(SHAPES))
    pick = _rng(draw).random(x.shape)
    return Sample([np.where(pick < 0.2, np.inf, np.where(pick < 0.4, np.nan, x))])


for _name, _np_op in (("logical_and", np.logical_and), ("logical_or", np.logical_or),
                      ("logical_xor", np.logical_xor)):
    register(
        OpInfo(_name, getattr(mg, _name), _bool_pair, _np_op,
               (lambda n: lambda a, b: getattr(_t(), n)(a, b))(_name), grad=False),
        OpInfo(f"{_name}_float", getattr(mg, _name), _real_pair, _np_op,
               (lambda n: lambda a, b: getattr(_t(), n)(a, b))(_name), grad=False),
    )
register(
    OpInfo("logical_not", lambda a, b: mg.logical_not(a), _real_pair, lambda a, b: np.logical_not(a),
           lambda a, b: _t().logical_not(a), grad=False),
    OpInfo("isfinite", mg.isfinite, _with_non_finite, np.isfinite, lambda a: a.isfinite(), grad=False),
    OpInfo("all", mg.all, _bool_reduce, lambda a, dim=None: np.all(a, axis=dim),
           lambda a, dim=None: a.all() if dim is None else a.all(dim), grad=False),
    OpInfo("any", mg.any, _bool_reduce, lambda a, dim=None: np.any(a, axis=dim),
           lambda a, dim=None: a.any() if dim is None else a.any(dim), grad=False),
)
