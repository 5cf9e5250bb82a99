"""``mg.autograd.Function``: add your own op in PyTorch's style.

>>> class Square(mg.autograd.Function):
...     @staticmethod
...     def forward(ctx, x):
...         ctx.save_for_backward(x)
...         return x * x
...     @staticmethod
...     def backward(ctx, grad):
...         (x,) = ctx.saved_tensors
...         return 2 * x * grad
>>> y = Square.apply(mg.tensor([3.0], requires_grad=True))

``forward`` runs with gradients disabled on the input tensors; ``backward``
gets one gradient per output and returns one gradient (or None) per argument
of ``forward``.  When ``backward`` is written with minigrad ops, the op also
supports higher-order gradients.
"""
from __future__ import annotations

from .engine import BackwardError, Op, Tensor, _wrap, no_grad


class FunctionCtx:
    """What ``forward`` and ``backward`` share (``ctx``): saved tensors and any attributes."""

    def save_for_backward(self, *tensors):
        """Keep tensors (inputs, outputs or others) for backward; checked for in-place changes."""
        self._to_save = tensors

    @property
    def saved_tensors(self):
        return self._node._saved()


class _UserOp(Op):
    """The graph node behind a user ``Function``: calls its forward and backward."""

    def forward(self, *arrays):
        ctx = self.ctx
        ctx._node = self
        ctx.needs_input_grad = tuple(isinstance(a, Tensor) and a.requires_grad for a in self.args)
        with no_grad():
            out = self.fn.forward(ctx, *self.args)
        outs = out if isinstance(out, tuple) else (out,)
        for o in outs:
            if not isinstance(o, Tensor):
                raise TypeError(f"{self.fn.__name__}.forward must return tensors, got {type(o).__name__}")
        self.out_ids = [id(o) for o in outs]
        self.to_save = [(t, t._version[0]) for t in getattr(ctx, "_to_save", ())]
        self.single = not isinstance(out, tuple)
        arrays = tuple(o.data for o in outs)
        return arrays[0] if self.single else arrays

    def _saved(self):
        tensors = []
        for t, version in self.to_save:
            if id(t) in self.out_ids:  # an output: hand back one attached to this node
                t = _wrap(t.data, self if hasattr(self, "seq") else None, self.out_ids.index(id(t)))
            elif t._version[0] != version:
                raise BackwardError(
                    f"a tensor of shape {t.shape} saved by {self.fn.__name__} was modified in place "
                    "before backward"
                )
            tensors.append(t)
        return tuple(tensors)

    def backward(self, *grads):
        result = self.fn.backward(self.ctx, *grads)
        result = result if isinstance(result, tuple) else (result,)
        if len(result) != len(self.args):
            raise BackwardError(
                f"{self.fn.__name__}.backward returned {len(result)} gradients but forward took "
                f"{len(self.args)} arguments"
            )
        return tuple(g for g, a in zip(result, self.args) if isinstance(a, Tensor))

    @property
    def name(self):
        # After backward frees the node (``_release`` clears its attributes) the name must survive:
        # printing a tensor made by a Function shows it in ``grad_fn=<...>``.
        fn = self.__dict__.get("fn")
        return fn.__name__ if fn is not None else self.__dict__.get("_name", "Function")

    def _release(self):
        name = self.name
        super()._release()
        self._name = name


class Function:
    """Subclass with ``@staticmethod forward(ctx, *args)`` and ``backward(ctx, *grads)``; call ``.apply``."""

    @classmethod
    def apply(cls, *args):
        """Run ``forward`` and record a node whose backward calls ``backward``."""
        missing = [name for name in ("forward", "backward") if not callable(getattr(cls, name, None))]
        if missing:
            raise TypeError(f"{cls.__name__} must define @staticmethod {' and '.join(missing)} to be a Function")
        tensors = [a for a in args if isinstance(a, Tensor)]
        if not tensors:
            raise TypeError(f"{cls.__name__}.apply needs at least one tensor argument")
        return _UserOp.apply(*tensors, fn=cls, args=args, ctx=FunctionCtx())
