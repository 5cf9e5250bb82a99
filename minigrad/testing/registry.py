"""The op registry's data types (:class:`OpInfo`, :class:`Sample`), :func:`register` and the input drawers.

Hypothesis draws the *shapes* and parameters; the values come from a NumPy generator seeded by
hypothesis, so they are continuous, free of ties and kept away from kinks (``abs`` at 0, ``relu`` at
0) where a finite difference would be wrong.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

try:
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp
except ImportError as e:  # pragma: no cover - the test extra is missing
    raise ImportError('minigrad.testing needs hypothesis: pip install "minigrad[test]"') from e


@dataclass
class Sample:
    """One call of an op: positional args (float arrays are differentiable inputs) and kwargs."""

    args: list
    kwargs: dict = field(default_factory=dict)
    # Positions in args that are constant arrays (indices, masks), not differentiable inputs.
    constant: tuple = ()


@dataclass
class OpInfo:
    """How to call an op, draw its inputs and check it (see the module docstring for the checks)."""

    name: str
    mg_fn: Callable  # (*tensors, **kwargs) -> Tensor or tuple
    sample: Callable  # (draw) -> Sample   (used inside @st.composite)
    np_fn: Callable | None = None  # (*arrays, **kwargs) -> array or tuple
    torch_fn: Callable | None = None  # (*torch tensors, **kwargs) -> tensor or tuple
    grad: bool = True  # differentiable: run gradcheck
    keeps_dtype: bool = True  # float32 in gives float32 out
    gradgrad: bool = True  # run second-order gradcheck
    atol: float = 1e-6
    rtol: float = 1e-5
    notes: str = ""
    gradcheck_kwargs: dict[str, Any] = field(default_factory=dict)  # e.g. a larger eps

    def __repr__(self):
        return self.name


REGISTRY: list[OpInfo] = []


def register(*infos):
    """Add entries to :data:`REGISTRY`."""
    REGISTRY.extend(infos)


# ----------------------------------------------------------------------------- value drawing
SHAPES = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4)
SMALL_SHAPES = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=3)
NONEMPTY_DIMS = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4)
GROUPS_OF_2 = hnp.array_shapes(min_dims=1, max_dims=3, min_side=2, max_side=4)  # var/std need 2+ per group
def values(draw, shape, domain="real", salt=0):
    """Continuous values of ``shape`` from a generator seeded by hypothesis.

    ``salt`` tells apart the inputs of one sample, which may draw the same seed.
    """
    rng = np.random.default_rng([draw(st.integers(0, 2**32 - 1)), salt])
    if domain == "real":  # |x| in [0.1, 2]: away from 0 (kinks of abs, relu, sign)
        x = rng.uniform(0.1, 2.0, shape) * rng.choice([-1.0, 1.0], shape)
    elif domain == "positive":
        x = rng.uniform(0.2, 2.0, shape)
    elif domain == "unit":  # (-0.9, 0.9)
        x = rng.uniform(-0.9, 0.9, shape)
    elif domain == "wide":
        x = rng.uniform(-4, 4, shape)
    else:
        raise ValueError(domain)
    return np.asarray(x, dtype=np.float64)


def distinct(draw, shape):
    """Values with well-separated elements (no near-ties for max/min/sort)."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n = int(np.prod(shape)) if shape else 1
    x = rng.permutation(n).astype(np.float64) * 0.25 + rng.uniform(-0.05, 0.05, n)
    return x.reshape(shape) - n * 0.1


def dim_for(draw, shape, allow_none=True, allow_tuple=True):
    """A valid ``dim`` argument for ``shape``: None, an int (maybe negative) or a tuple."""
    ndim = len(shape)
    options = []
    if allow_none:
        options.append(st.none())
    if ndim:
        options.append(st.integers(-ndim, ndim - 1))
        if allow_tuple and ndim > 1:
            options.append(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True).map(tuple))
    return draw(st.one_of(*options)) if options else None


def unary(domain="real", shapes=SHAPES):
    def sample(draw):
        return Sample([values(draw, draw(shapes), domain)])

    return sample


def binary(domain_a="real", domain_b="real"):
    """Two inputs with mutually broadcastable shapes (including 0-d and size-1 dims)."""

    def sample(draw):
        shapes = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=4))
        a, b = shapes.input_shapes
        return Sample([values(draw, a, domain_a), values(draw, b, domain_b, salt=1)])

    return sample


def reduction(domain="real", keepdim=True, allow_tuple=True, allow_none=True, distinct_values=False, shapes=None):
    if shapes is None:
        shapes = SHAPES if allow_none else NONEMPTY_DIMS

    def sample(draw):
        shape = draw(shapes)
        x = distinct(draw, shape) if distinct_values else values(draw, shape, domain)
        kwargs = {"dim": dim_for(draw, shape, allow_none=allow_none, allow_tuple=allow_tuple)}
        if keepdim:
            kwargs["keepdim"] = draw(st.booleans())
        return Sample([x], kwargs)

    return sample
