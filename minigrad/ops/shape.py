"""Shape ops (reshape, permute, expand, cat, stack, split, pad, ...) and conversions.

These move numbers around without changing them, so each backward moves the
gradient back the same way.
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import _backend as B
from ..autograd.engine import BroadcastTo, Cast, Op, Tensor  # noqa: F401  (BroadcastTo, Cast: the engine uses them too)
from ._common import constant, normalize_dims, xp_of
from .index import scatter_add_flat


def _sizes(args):
    """Accept ``f(2, 3)``, ``f((2, 3))`` and ``f([2, 3])``."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        args = tuple(args[0])
    return tuple(int(a) for a in args)


class Reshape(Op):
    """Same elements, new shape."""

    is_view = True

    def forward(self, x):
        self.in_shape = x.shape
        return x.reshape(self.shape)

    def backward(self, grad):
        return grad.reshape(self.in_shape)


def _infer_shape(old_shape, shape, numel):
    """Resolve one -1 in ``shape`` and check the element count, naming both shapes on error."""
    unknown = [i for i, s in enumerate(shape) if s == -1]
    if len(unknown) > 1 or any(s < -1 for s in shape):
        raise ValueError(f"reshape: invalid target shape {shape} for a tensor of shape {old_shape}")
    known = 1
    for s in shape:
        if s != -1:
            known *= s
    if unknown:
        if known == 0 or numel % known:
            raise ValueError(
                f"reshape: cannot reshape a tensor of shape {old_shape} ({numel} elements) into shape {shape}"
            )
        shape = tuple(numel // known if s == -1 else s for s in shape)
    elif known != numel:
        raise ValueError(
            f"reshape: cannot reshape a tensor of shape {old_shape} ({numel} elements) into shape {shape} "
            f"({known} elements)"
        )
    return shape


def reshape(input, *shape):
    """The same elements in a new shape (one size may be -1).

    minigrad's ``view`` is ``reshape``: it copies when NumPy cannot make a view.
    """
    shape = _infer_shape(input.shape, _sizes(shape), input.data.size)
    if shape == input.shape:
        return input
    return Reshape.apply(input, shape=shape)


def reshape_as(input, other):
    """``input.reshape(other.shape)``."""
    return reshape(input, other.shape)


def flatten(input, start_dim=0, end_dim=-1):
    """Merge dimensions ``start_dim..end_dim`` into one."""
    if input.ndim == 0:
        return reshape(input, 1)
    for d in (start_dim, end_dim):
        if not -input.ndim <= d < input.ndim:
            raise IndexError(f"flatten: dim {d} is out of range for a tensor of shape {input.shape}")
    start, end = start_dim % input.ndim, end_dim % input.ndim
    if start > end:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
    shape = input.shape[:start] + (-1,) + input.shape[end + 1:]
    if 0 in input.shape:
        n = 1
        for s in input.shape[start:end + 1]:
            n *= s
        shape = input.shape[:start] + (n,) + input.shape[end + 1:]
    return reshape(input, shape)


def squeeze(input, dim=None):
    """Remove dimensions of size 1 (only ``dim`` when given; a no-op if its size is not 1)."""
    if dim is None:
        shape = tuple(s for s in input.shape if s != 1)
    else:
        dims = normalize_dims(dim, input.ndim)
        shape = tuple(s for i, s in enumerate(input.shape) if not (i in dims and s == 1))
    return reshape(input, shape)


def unsqueeze(input, dim):
    """Insert a dimension of size 1 at ``dim`` (negative counts from the new end)."""
    ndim = input.ndim + 1
    if not -ndim <= dim < ndim:
        raise IndexError(f"unsqueeze: dim {dim} out of range for a result with {ndim} dimensions")
    dim %= ndim
    return reshape(input, input.shape[:dim] + (1,) + input.shape[dim:])


class Permute(Op):
    """Reorder the dimensions."""

    is_view = True

    def forward(self, x):
        return x.transpose(self.dims)

    def backward(self, grad):
        inverse = [0] * len(self.dims)
        for i, d in enumerate(self.dims):
            inverse[d] = i
        return grad.permute(inverse)


def permute(input, *dims):
    """Reorder dimensions: ``out.shape[i] == input.shape[dims[i]]``."""
    dims = _sizes(dims)
    if sorted(d % max(input.ndim, 1) for d in dims) != list(range(input.ndim)):
        raise ValueError(f"permute: dims {dims} are not a permutation of the {input.ndim} dims of shape {input.shape}")
    dims = tuple(d % input.ndim for d in dims)
    if dims == tuple(range(input.ndim)):
        return input
    return Permute.apply(input, dims=dims)


def transpose(input, dim0, dim1):
    """Swap two dimensions."""
    if input.ndim < 2 and dim0 in (0, -1) and dim1 in (0, -1):
        return input
    dims = list(range(input.ndim))
    d0, d1 = normalize_dims(dim0, input.ndim)[0], normalize_dims(dim1, input.ndim)[0]
    dims[d0], dims[d1] = dims[d1], dims[d0]
    return permute(input, dims)


def t(input):
    """Transpose of a matrix (1-D and 0-D tensors unchanged)."""
    if input.ndim > 2:
        raise ValueError(f"t() expects at most 2 dimensions, got shape {input.shape}; use transpose or mT")
    return transpose(input, 0, -1) if input.ndim == 2 else input


def reversed_dims(input):
    """All dimensions reversed (the property ``x.T``)."""
    return permute(input, tuple(reversed(range(input.ndim))))


def matrix_transpose(input):
    """The last two dimensions swapped, a batched transpose (the property ``x.mT``)."""
    return transpose(input, -2, -1)


def broadcast_to(input, shape):
    """``input`` broadcast to ``shape`` (a read-only view)."""
    shape = tuple(shape)
    if shape == input.shape:
        return input
    _check_broadcast(input.shape, shape)
    return BroadcastTo.apply(input, shape=shape)


def _check_broadcast(old, new):
    lead = len(new) - len(old)
    if lead < 0 or any(o != 1 and o != n for o, n in zip(old, new[lead:])):
        raise ValueError(f"expand: cannot broadcast a tensor of shape {old} to shape {new}")


def expand(input, *sizes):
    """Broadcast to ``sizes``; -1 keeps a dimension's size."""
    sizes = _sizes(sizes)
    lead = len(sizes) - input.ndim
    if lead < 0:
        raise ValueError(f"expand: the target {sizes} has fewer dimensions than the tensor's shape {input.shape}")
    shape = tuple(input.shape[i - lead] if s == -1 and i >= lead else s for i, s in enumerate(sizes))
    if any(s < 0 for s in shape):
        raise ValueError(f"expand: -1 is not allowed for a new leading dimension in {sizes}")
    return broadcast_to(input, shape)


def expand_as(input, other):
    return broadcast_to(input, other.shape)


def broadcast_shapes(*shapes):
    """The shape that ``shapes`` broadcast to, or a ValueError naming them."""
    ndim = max((len(s) for s in shapes), default=0)
    out = [1] * ndim
    for s in shapes:
        for i, n in enumerate(s):
            j = ndim - len(s) + i
            if out[j] == 1:
                out[j] = n
            elif n != 1 and n != out[j]:
                raise ValueError(f"shapes {' and '.join(str(tuple(x)) for x in shapes)} cannot be broadcast together")
    return tuple(out)


def broadcast_tensors(*tensors):
    shape = broadcast_shapes(*(t.shape for t in tensors))
    return tuple(broadcast_to(t, shape) for t in tensors)


# ----------------------------------------------------------------------------- joining and splitting


class Cat(Op):
    """Join tensors along ``dim``."""

    def forward(self, *xs):
        self.sizes = [x.shape[self.dim] for x in xs]
        return xp_of(xs[0]).concatenate(xs, axis=self.dim)

    def backward(self, grad):
        return Split.apply(grad, sizes=self.sizes, dim=self.dim)


def cat(tensors, dim=0):
    """Concatenate tensors along an existing dimension ``dim``."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("cat: expected a non-empty list of tensors")
    first = tensors[0]
    tensors = [t for t in tensors if not (t.ndim == 1 and t.shape[0] == 0)] or [first]  # PyTorch skips empty 1-D
    ref = tensors[0]
    d = normalize_dims(dim, ref.ndim)[0] if ref.ndim else None
    if d is None:
        raise ValueError("cat: zero-dimensional tensors cannot be concatenated; use stack")
    for i, t in enumerate(tensors):
        if t.ndim != ref.ndim or any(a != b for j, (a, b) in enumerate(zip(t.shape, ref.shape)) if j != d):
            shapes = ", ".join(str(tuple(x.shape)) for x in tensors)
            raise ValueError(
                f"cat: tensors must have the same shape except in dim {dim}; got shapes {shapes} "
                f"(tensor {i} differs from tensor 0)"
            )
    if len(tensors) == 1:
        return tensors[0]
    return Cat.apply(*tensors, dim=d)


concat = cat
concatenate = cat


class Stack(Op):
    """Join same-shaped tensors along a new dimension ``dim``."""

    def forward(self, *xs):
        return xp_of(xs[0]).stack(xs, axis=self.dim)

    def backward(self, grad):
        return Unbind.apply(grad, dim=self.dim)


def stack(tensors, dim=0):
    """Stack same-shaped tensors along a new dimension ``dim``."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("stack: expected a non-empty list of tensors")
    shape = tensors[0].shape
    for i, t in enumerate(tensors):
        if t.shape != shape:
            raise ValueError(
                f"stack: every tensor must have the same shape; tensor 0 has {shape}, tensor {i} has {t.shape}"
            )
    ndim = len(shape) + 1
    if not -ndim <= dim < ndim:
        raise IndexError(f"stack: dim {dim} out of range for a result with {ndim} dimensions")
    return Stack.apply(*tensors, dim=dim % ndim)


class Split(Op):
    """Cut ``x`` into consecutive pieces of ``sizes`` along ``dim`` (one output per piece)."""

    def forward(self, x):
        self.shape, self.dtype = x.shape, x.dtype
        pieces, start = [], 0
        index = [slice(None)] * x.ndim
        for s in self.sizes:
            index[self.dim] = slice(start, start + s)
            pieces.append(x[tuple(index)])
            start += s
        return tuple(pieces)

    def backward(self, *grads):
        # An unused piece gets no gradient: fill it with zeros.
        filled = [g if g is not None else _zeros_piece(self, i, grads) for i, g in enumerate(grads)]
        return Cat.apply(*filled, dim=self.dim) if len(filled) > 1 else filled[0]


def _zeros_piece(op, i, grads):
    like = next(g for g in grads if g is not None)
    shape = list(op.shape)
    shape[op.dim] = op.sizes[i]
    return constant(xp_of(like.data).zeros(tuple(shape), dtype=like.dtype))


def split(input, split_size_or_sections, dim=0):
    """Split into pieces of ``split_size`` (the last may be smaller) or of the listed sizes."""
    d = normalize_dims(dim, input.ndim)[0]
    n = input.shape[d]
    if isinstance(split_size_or_sections, numbers.Integral):
        size = int(split_size_or_sections)
        if size <= 0:
            raise ValueError(f"split: split_size must be positive, got {size}")
        sizes = [size] * (n // size) + ([n % size] if n % size else [])
        sizes = sizes or [0]
    else:
        sizes = [int(s) for s in split_size_or_sections]
        if sum(sizes) != n:
            raise ValueError(f"split: sizes {sizes} sum to {sum(sizes)}, but dim {dim} of shape {input.shape} is {n}")
    return Split.apply(input, sizes=sizes, dim=d)


def chunk(input, chunks, dim=0):
    """Split into ``chunks`` pieces of equal size (the last may be smaller)."""
    d = normalize_dims(dim, input.ndim)[0]
    n = input.shape[d]
    size = -(-n // chunks) if n else 1
    return split(input, max(size, 1), d)


class Unbind(Op):
    """Remove dimension ``dim``, returning one tensor per index along it."""

    def forward(self, x):
        self.shape, self.dtype = x.shape, x.dtype
        moved = xp_of(x).moveaxis(x, self.dim, 0)
        return tuple(moved[i] for i in range(x.shape[self.dim]))

    def backward(self, *grads):
        like = next(g for g in grads if g is not None)
        piece = self.shape[: self.dim] + self.shape[self.dim + 1:]
        zeros = None
        filled = []
        for g in grads:
            if g is None:
                if zeros is None:
                    zeros = constant(xp_of(like.data).zeros(piece, dtype=like.dtype))
                g = zeros
            filled.append(g)
        return Stack.apply(*filled, dim=self.dim)


def unbind(input, dim=0):
    """The slices along ``dim`` as a tuple (one graph node, so backward costs one stack)."""
    if input.ndim == 0:
        raise ValueError("unbind: a 0-d tensor has no dimension to unbind")
    return Unbind.apply(input, dim=normalize_dims(dim, input.ndim)[0])


def iterate(input):
    """``iter(x)``: the slices along dim 0 (a 0-d tensor gives nothing)."""
    return iter(unbind(input, 0)) if input.ndim else iter(())


class Pad(Op):
    """Add ``value`` (constant), mirrored (reflect) or edge (replicate) elements around ``x``."""

    def forward(self, x):
        xp = xp_of(x)
        self.in_shape = x.shape
        if self.mode == "constant":
            return xp.pad(x, self.widths, mode="constant", constant_values=self.value)
        return xp.pad(x, self.widths, mode={"reflect": "reflect", "replicate": "edge", "circular": "wrap"}[self.mode])

    def backward(self, grad):
        index = tuple(slice(lo, lo + n) for (lo, _), n in zip(self.widths, self.in_shape))
        if self.mode == "constant":
            return grad[index]
        # Other modes copy interior elements: route the copies back by padding's own index map.
        xp = xp_of(grad.data)
        positions = xp.arange(_prod(self.in_shape)).reshape(self.in_shape)
        mode = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}[self.mode]
        source = xp.pad(positions, self.widths, mode=mode)
        return scatter_add_flat(grad, source, _prod(self.in_shape)).reshape(self.in_shape)


def _prod(shape):
    n = 1
    for s in shape:
        n *= s
    return n


def pad(input, pad, mode="constant", value=0.0):
    """Pad the last ``len(pad) // 2`` dimensions: ``pad = (left, right, top, bottom, ...)``, last dim first.

    ``mode``: 'constant' (fill with ``value``), 'reflect', 'replicate' or 'circular' (as PyTorch's F.pad).
    """
    pad = tuple(int(p) for p in pad)
    if len(pad) % 2 or len(pad) // 2 > input.ndim:
        raise ValueError(f"pad: expected pairs for at most {input.ndim} dims, got {pad} for shape {input.shape}")
    if mode not in ("constant", "reflect", "replicate", "circular"):
        raise ValueError(f"pad: unknown mode {mode!r}")
    if value is None:
        value = 0.0
    widths = [(0, 0)] * input.ndim
    for i in range(len(pad) // 2):
        widths[input.ndim - 1 - i] = (pad[2 * i], pad[2 * i + 1])
    # Negative padding removes elements, as in PyTorch: 'circular' crops first and wraps what is
    # left; the other modes pad by the positive amounts, then crop.
    grow = tuple((max(lo, 0), max(hi, 0)) for lo, hi in widths)
    if not any(lo < 0 or hi < 0 for lo, hi in widths):
        return Pad.apply(input, widths=grow, mode=mode, value=value)
    crop_first = mode == "circular"
    sizes = input.shape if crop_first else tuple(n + lo + hi for (lo, hi), n in zip(grow, input.shape))
    crop = tuple(slice(max(-lo, 0), n - max(-hi, 0)) for (lo, hi), n in zip(widths, sizes))
    if any(c.start > c.stop for c in crop):
        raise ValueError(f"pad: padding {pad} removes more than the whole of shape {input.shape}")
    if crop_first:
        return Pad.apply(input[crop], widths=grow, mode=mode, value=value)
    return Pad.apply(input, widths=grow, mode=mode, value=value)[crop]


class Flip(Op):
    """Reverse the order of elements along ``dims``."""

    is_view = True

    def forward(self, x):
        return xp_of(x).flip(x, self.dims)

    def backward(self, grad):
        return Flip.apply(grad, dims=self.dims)


def flip(input, dims):
    """Reverse along ``dims`` (int or tuple)."""
    return Flip.apply(input, dims=normalize_dims(dims, input.ndim))


def repeat(input, *sizes):
    """Tile the tensor ``sizes[i]`` times along each dimension (PyTorch's ``repeat``)."""
    sizes = _sizes(sizes)
    if len(sizes) < input.ndim:
        raise ValueError(f"repeat: need at least {input.ndim} repeat counts for shape {input.shape}, got {sizes}")
    x = input.reshape((1,) * (len(sizes) - input.ndim) + input.shape)
    # Interleave a repeat axis before each dim, broadcast, and merge: (r0, s0, r1, s1, ...) -> (r0*s0, ...).
    inter = []
    for s in x.shape:
        inter += [1, s]
    target = []
    for r, s in zip(sizes, x.shape):
        target += [r, s]
    out = x.reshape(inter).expand(target)
    return out.reshape(tuple(r * s for r, s in zip(sizes, x.shape)))


class Triangle(Op):
    """Keep the lower (``upper=False``) or upper triangle of the last two dims, zero the rest;
    the gradient is masked the same way."""

    def forward(self, x):
        xp = xp_of(x)
        return xp.triu(x, self.diagonal) if self.upper else xp.tril(x, self.diagonal)

    def backward(self, grad):
        return Triangle.apply(grad, diagonal=self.diagonal, upper=self.upper)


def _triangle(input, diagonal, upper):
    if input.ndim < 2:
        name = "triu" if upper else "tril"
        raise ValueError(f"{name}: expected a tensor with at least 2 dimensions, got shape {input.shape}")
    return Triangle.apply(input, diagonal=int(diagonal), upper=upper)


def tril(input, diagonal=0):
    """Lower triangle of the last two dims (elements with ``col - row <= diagonal``); the rest 0."""
    return _triangle(input, diagonal, False)


def triu(input, diagonal=0):
    """Upper triangle of the last two dims (elements with ``col - row >= diagonal``); the rest 0."""
    return _triangle(input, diagonal, True)


# ----------------------------------------------------------------------------- conversions


class ToDevice(Op):
    """Move to another device; the gradient moves back."""

    def forward(self, x):
        self.in_device = B.device_of(x)
        return B.to_device(x, self.device)

    def backward(self, grad):
        return ToDevice.apply(grad, device=self.in_device)


class MemoryFormat:
    """PyTorch's memory formats (``mg.contiguous_format``...), accepted where PyTorch takes
    ``memory_format=``.  minigrad keeps no layout hints: every format gives the same values."""

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return f"minigrad.{self.name}"


contiguous_format = MemoryFormat("contiguous_format")
preserve_format = MemoryFormat("preserve_format")
channels_last = MemoryFormat("channels_last")
channels_last_3d = MemoryFormat("channels_last_3d")


def _check_memory_format(memory_format, fn):
    if memory_format is not None and not isinstance(memory_format, MemoryFormat):
        raise TypeError(f"{fn}: memory_format must be one of mg.contiguous_format, mg.preserve_format, "
                        f"mg.channels_last, mg.channels_last_3d, got {memory_format!r}")


class Clone(Op):
    """A copy with its own memory."""

    def forward(self, x):
        return x.copy()

    def backward(self, grad):
        return grad


def _cast(input, dtype):
    dtype = B.to_dtype(dtype)
    if input.dtype == dtype:
        return input
    if dtype.kind != "f":  # integer/bool results carry no gradient
        return constant(input.data.astype(dtype))
    return Cast.apply(input, dtype=dtype)


def to(input, *args, dtype=None, device=None, non_blocking=False, copy=False, memory_format=None):
    """``to(dtype)``, ``to(device)``, ``to(device, dtype)`` or ``to(other_tensor)``, each optionally
    followed by ``non_blocking`` and ``copy`` (as PyTorch; ``non_blocking`` changes nothing here)."""
    _check_memory_format(memory_format, "to")
    flags = []
    for a in args:
        if isinstance(a, bool):
            flags.append(a)
        elif isinstance(a, Tensor):
            dtype, device = a.dtype, a.device
        elif isinstance(a, str):
            device = a
        else:
            dtype = a
    if len(flags) > 2:
        raise TypeError(f"to: expected at most two flags (non_blocking, copy), got {len(flags)}")
    if len(flags) == 2:
        copy = flags[1]
    out = input
    if device is not None and B.device_name(device) != input.device:
        out = ToDevice.apply(out, device=B.device_name(device))
    if dtype is not None:
        out = _cast(out, dtype)
    if copy and out is input:
        out = clone(input)
    return out


def cpu(input):
    return to(input, "cpu")


def cuda(input, device=None):
    return to(input, "cuda" if device is None else f"cuda:{int(device)}")


def _cast_method(name, dtype):
    """The method ``x.float()`` (``name``) that casts to ``dtype``."""

    def fn(input, memory_format=None):
        _check_memory_format(memory_format, name)
        return _cast(input, dtype)

    fn.__name__ = name
    fn.__doc__ = f"Cast to {dtype.__name__}."
    return fn


to_float = _cast_method("float", B.float32)
to_double = _cast_method("double", B.float64)
to_half = _cast_method("half", B.float16)
to_long = _cast_method("long", B.int64)
to_int = _cast_method("int", B.int32)
to_bool = _cast_method("bool", B.bool_)


def type_as(input, other):
    return _cast(input, other.dtype)


def clone(input, *, memory_format=None):
    """A copy that is still part of the graph (gradient passes through).  ``memory_format`` is
    accepted for PyTorch's signature and changes nothing."""
    _check_memory_format(memory_format, "clone")
    return Clone.apply(input)


def contiguous(input, memory_format=None):
    """A C-contiguous version (the same tensor when it already is)."""
    _check_memory_format(memory_format, "contiguous")
    if input.data.flags.c_contiguous:
        return input
    return Clone.apply(input)


# ----------------------------------------------------------------------------- more shape ops


class Roll(Op):
    """Shift elements along ``dims`` by ``shifts``, wrapping around; backward rolls back."""

    def forward(self, x):
        return xp_of(x).roll(x, self.shifts, axis=self.dims)

    def backward(self, grad):
        return Roll.apply(grad, shifts=tuple(-s for s in self.shifts), dims=self.dims)


def roll(input, shifts, dims=None):
    """Shift elements by ``shifts`` along ``dims`` (ints or tuples of equal length), wrapping around.
    With ``dims=None`` the flattened tensor is rolled and the shape restored."""
    shifts = (int(shifts),) if isinstance(shifts, numbers.Integral) else tuple(int(s) for s in shifts)
    if dims is None:
        if len(shifts) != 1:
            raise ValueError(f"roll: without dims, shifts must be one number, got {shifts}")
        return Roll.apply(input.reshape(-1), shifts=shifts, dims=(0,)).reshape(input.shape)
    dims = (int(dims),) if isinstance(dims, numbers.Integral) else tuple(int(d) for d in dims)
    if len(dims) != len(shifts):
        raise ValueError(f"roll: shifts {shifts} and dims {dims} must have the same length")
    for d in dims:
        if not -max(input.ndim, 1) <= d < max(input.ndim, 1):
            raise IndexError(f"roll: dim {d} is out of range for a tensor of shape {input.shape}")
    if input.ndim == 0:
        return input.clone()
    return Roll.apply(input, shifts=shifts, dims=tuple(d % input.ndim for d in dims))


def narrow(input, dim, start, length):
    """The ``length`` elements from ``start`` along ``dim`` (a view; ``start`` may be negative)."""
    (d,) = normalize_dims(dim, input.ndim)
    n = input.shape[d]
    start = int(start.item() if isinstance(start, Tensor) else start)
    length = int(length)
    if not -n <= start <= n:
        raise IndexError(f"narrow: start {start} is out of range for dim {dim} of size {n}")
    start %= max(n, 1) if start < 0 else n + 1
    if length < 0 or start + length > n:
        raise ValueError(f"narrow: start {start} + length {length} exceeds dim {dim} of size {n}")
    return input[(slice(None),) * d + (slice(start, start + length),)]


def select(input, dim, index):
    """The slice at ``index`` along ``dim``, with that dim removed (``x.select(0, i)`` is ``x[i]``)."""
    (d,) = normalize_dims(dim, input.ndim)
    n = input.shape[d]
    index = int(index)
    if not -n <= index < n:
        raise IndexError(f"select: index {index} is out of range for dim {dim} of size {n}")
    return input[(slice(None),) * d + (index,)]


def movedim(input, source, destination):
    """Move dims ``source`` to positions ``destination`` (ints or tuples); the others keep their order."""
    src = (source,) if isinstance(source, numbers.Integral) else tuple(source)
    dst = (destination,) if isinstance(destination, numbers.Integral) else tuple(destination)
    if len(src) != len(dst):
        raise ValueError(f"movedim: source {src} and destination {dst} must have the same length")
    nd = input.ndim
    if nd == 0:
        for d in src + dst:
            normalize_dims(d, 0)
        return input
    src = [normalize_dims(d, nd)[0] for d in src]
    dst = [normalize_dims(d, nd)[0] for d in dst]
    if len(set(src)) != len(src) or len(set(dst)) != len(dst):
        raise ValueError(f"movedim: repeated dims in source {source} or destination {destination}")
    order = [None] * nd
    for s, t in zip(src, dst):
        order[t] = s
    rest = iter(d for d in range(nd) if d not in src)
    order = [next(rest) if o is None else o for o in order]
    return permute(input, order)


def hstack(tensors):
    """Join along dim 1 (dim 0 for 1-D tensors); 0-d tensors count as 1-D."""
    tensors = [t.reshape(1) if t.ndim == 0 else t for t in tensors]
    if not tensors:
        raise ValueError("hstack: expected a non-empty list of tensors")
    return cat(tensors, 0 if tensors[0].ndim == 1 else 1)


def vstack(tensors):
    """Join along dim 0 after making 0-d and 1-D tensors rows (1, n)."""
    tensors = [t.reshape(1, -1) if t.ndim < 2 else t for t in tensors]
    if not tensors:
        raise ValueError("vstack: expected a non-empty list of tensors")
    return cat(tensors, 0)


row_stack = vstack


def tile(input, *dims):
    """Repeat the tensor ``dims[i]`` times along each dim; fewer ``dims`` than dims count from the last."""
    dims = _sizes(dims)
    if len(dims) < input.ndim:
        dims = (1,) * (input.ndim - len(dims)) + dims
    return repeat(input, dims)


def repeat_interleave(input, repeats, dim=None, *, output_size=None):
    """Repeat each element ``repeats`` times (a number, or a 1-D tensor of counts per element) along
    ``dim`` (the flattened tensor when None): ``[1, 2]`` with 2 repeats is ``[1, 1, 2, 2]``."""
    from .index import index_select

    xp = xp_of(input.data)
    if dim is None:
        input = input.reshape(-1)
        d = 0
    else:
        (d,) = normalize_dims(dim, input.ndim)
    if input.ndim == 0:
        input = input.reshape(1)
    n = input.shape[d]
    counts = repeats.data if isinstance(repeats, Tensor) else xp.asarray(repeats)
    if counts.ndim > 1 or (counts.ndim == 1 and counts.shape[0] not in (1, n)):
        raise ValueError(f"repeat_interleave: repeats must be a number or have {n} entries, got shape "
                         f"{tuple(counts.shape)}")
    counts = B.to_device(counts, "cpu")  # a few counts: the index is built on the host
    if counts.dtype.kind not in "iu":  # a float count would be truncated
        raise TypeError(f"repeat_interleave: repeats must be integers, got dtype {counts.dtype}")
    counts = np.broadcast_to(counts.reshape(-1) if counts.ndim else counts, (n,)).astype("int64")
    if (counts < 0).any():
        raise ValueError("repeat_interleave: repeats must be non-negative")
    idx = np.repeat(np.arange(n), counts)
    return index_select(input, d, constant(B.to_device(idx, input.device)))


def conj_transpose(input):
    """The transpose of a matrix (real tensors: no conjugation needed); 0-d and 1-D unchanged
    (the property ``x.H``)."""
    return _conj_transpose(input, "H")


def adjoint(input):
    """The last two dims swapped (real tensors: no conjugation needed; the property ``x.mH``)."""
    return _conj_transpose(input, "mH")


def _conj_transpose(input, name):
    if name == "H":
        if input.ndim > 2:
            raise ValueError(f"H expects at most 2 dimensions, got shape {input.shape}; use mH")
        return t(input)
    if input.ndim < 2:
        raise ValueError(f"mH expects at least 2 dimensions, got shape {input.shape}")
    return transpose(input, -2, -1)
