"""In-place ops (``zero_``, ``add_``, ``x += y``, ...).

minigrad records no in-place op on the graph.  They are for what PyTorch
does under ``no_grad`` too: parameter updates, initialisation, buffers.  Each
bumps the tensor's version counter, so a backward that needed the old values
raises instead of returning a wrong gradient.

``x += y`` on a tensor that is part of the graph (not a leaf) rebinds ``x``
to the out-of-place result, so model code written in PyTorch's style still
differentiates correctly (other references to the old ``x`` keep the old
values: that is where minigrad differs from PyTorch).
"""
from __future__ import annotations

from .. import _backend as B
from ..autograd.engine import Tensor, is_grad_enabled
from ._common import xp_of


def _check_inplace(t, opname):
    if is_grad_enabled() and t.requires_grad:
        if t.grad_fn is None:
            raise RuntimeError(
                f"{opname} on a leaf tensor of shape {t.shape} that requires grad: changing it in place would "
                "hide the change from autograd. Do it under mg.no_grad() (as optimizers do)"
            )
        raise RuntimeError(
            f"{opname} on a tensor of shape {t.shape} that is part of the graph: minigrad records no "
            "in-place ops. Write the out-of-place form (x = x + y)"
        )


def _value(other, t):
    if isinstance(other, Tensor):
        if not B.same_device([other.data, t.data]):
            raise B.DeviceError(f"in-place op between tensors on {t.device} and {other.device}")
        return other.data
    return other


def _inplace(name, ufunc):
    def fn(self, other, *, alpha=None):
        _check_inplace(self, name)
        value = _value(other, self)
        if alpha is not None:
            value = value * alpha
        try:
            getattr(xp_of(self.data), ufunc)(self.data, value, out=self.data, casting="same_kind")
        except (ValueError, TypeError) as e:
            shape = getattr(value, "shape", ())
            raise ValueError(f"{name}: cannot update a tensor of shape {self.shape} {self.dtype} in place with "
                             f"shape {tuple(shape)}: {e}") from None
        self._bump_version()
        return self

    fn.__name__ = name
    fn.__doc__ = f"In-place ``{ufunc}`` (not recorded by autograd)."
    return fn


add_ = _inplace("add_", "add")
sub_ = _inplace("sub_", "subtract")
mul_ = _inplace("mul_", "multiply")
div_ = _inplace("div_", "true_divide")


def augmented(outofplace_fn, inplace_fn):
    """``x op= y`` (``__iadd__``...): in place when allowed, else rebinding to the out-of-place result."""

    def fn(self, other):
        if is_grad_enabled() and self.requires_grad and self.grad_fn is not None:
            return outofplace_fn(self, other)
        return inplace_fn(self, other)

    fn.__name__ = fn.__qualname__ = f"augmented_{outofplace_fn.__name__}"
    fn.__doc__ = f"``self {outofplace_fn.__name__}= other``: ``{inplace_fn.__name__}`` when allowed (see the module)."
    fn.__wrapped__ = outofplace_fn
    return fn


def zero_(self):
    """Fill with zeros in place."""
    return fill_(self, 0)


def fill_(self, value):
    """Fill with ``value`` in place."""
    _check_inplace(self, "fill_")
    self.data[...] = _value(value, self)
    self._bump_version()
    return self


def copy_(self, src):
    """Copy ``src`` (broadcast, moved across devices if needed) into this tensor in place."""
    _check_inplace(self, "copy_")
    data = src.data if isinstance(src, Tensor) else src
    data = B.to_device(data, self.device)
    try:
        self.data[...] = data
    except ValueError as e:
        raise ValueError(f"copy_: cannot copy shape {tuple(getattr(data, 'shape', ()))} into shape {self.shape}: {e}") from None
    self._bump_version()
    return self


def clamp_(self, min=None, max=None):
    """Clamp to ``[min, max]`` in place."""
    _check_inplace(self, "clamp_")
    xp_of(self.data).clip(self.data, min, max, out=self.data)
    self._bump_version()
    return self


def uniform_(self, a=0.0, b=1.0):
    """Fill with samples from U(a, b) in place."""
    _check_inplace(self, "uniform_")
    gen = B.random_module(self.device)
    self.data[...] = gen.uniform(a, b, self.shape)
    self._bump_version()
    return self


def normal_(self, mean=0.0, std=1.0):
    """Fill with samples from N(mean, std^2) in place."""
    _check_inplace(self, "normal_")
    gen = B.random_module(self.device)
    self.data[...] = gen.normal(mean, std, self.shape)
    self._bump_version()
    return self
