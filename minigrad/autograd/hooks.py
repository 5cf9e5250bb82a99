"""Hooks: windows onto backward that a tensor can open.

``register_hook(fn)`` calls ``fn(grad)`` once a tensor's gradient is complete (and lets ``fn`` replace
it); ``retain_grad()`` keeps a non-leaf tensor's gradient in ``.grad``;
``register_post_accumulate_grad_hook(fn)`` calls ``fn(leaf)`` once the gradient is in ``leaf.grad``.
The hooks are stored on tensors and nodes; the backward loop (``engine.run_backward``) calls
``run_node_hooks`` on each node and hands what reaches leaves to :class:`Leaves`.
"""
from __future__ import annotations

import weakref

from .. import _backend as B


class RemovableHandle:
    """Returned by ``register_hook``: ``handle.remove()`` takes the hook off."""

    def __init__(self, hooks, hook):
        self._hooks, self._hook = hooks, hook

    def remove(self):
        if self._hook in self._hooks:
            self._hooks.remove(self._hook)


class HookMixin:
    """The hook methods of :class:`minigrad.Tensor`."""

    __slots__ = ()

    def retain_grad(self):
        """Keep ``.grad`` for this non-leaf tensor after backward."""
        if self.grad_fn is None:
            return self
        if self.grad_fn._retained is None:
            self.grad_fn._retained = {}
        self.grad_fn._retained[self._out_index] = weakref.ref(self)
        self._retains_grad = True
        return self

    @property
    def retains_grad(self):
        return self._retains_grad

    def register_hook(self, hook):
        """Call ``hook(grad)`` with this tensor's gradient during backward; if it returns a tensor,
        that replaces the gradient.  For a leaf, the hook sees the sum of everything the backward
        brings, before it is added to ``.grad``.  Returns a handle whose ``remove()`` undoes it."""
        if not self.requires_grad:
            raise RuntimeError(f"register_hook on a tensor of shape {self.shape} that does not require grad")
        if self.grad_fn is None:
            hooks = getattr(self, "_hooks", None)
            if hooks is None:
                hooks = self._hooks = []
        else:
            node = self.grad_fn
            if node._hooks is None:
                node._hooks = {}
            hooks = node._hooks.setdefault(self._out_index, [])
        hooks.append(hook)
        return RemovableHandle(hooks, hook)

    def register_post_accumulate_grad_hook(self, hook):
        """Call ``hook(tensor)`` on this leaf once backward has added its gradient into ``.grad``
        (as PyTorch's): the place to act on the finished gradient, e.g. to all-reduce it.
        Returns a handle whose ``remove()`` undoes it."""
        if self.grad_fn is not None:
            raise RuntimeError("post accumulate grad hooks cannot be registered on non-leaf tensors "
                               f"(shape {self.shape}, made by {self.grad_fn.name})")
        if not self.requires_grad:
            raise RuntimeError(f"register_post_accumulate_grad_hook on a tensor of shape {self.shape} "
                               "that does not require grad")
        hooks = getattr(self, "_post_hooks", None)
        if hooks is None:
            hooks = self._post_hooks = []
        hooks.append(hook)
        return RemovableHandle(hooks, hook)


def run_node_hooks(node, grads, create_graph):
    """Run the hooks of a node's outputs on their complete gradients; fill ``.grad`` of retained ones."""
    for i, hooks in (node._hooks or {}).items():
        if grads[i] is not None and hooks:
            grads[i] = run_hooks(hooks, grads[i])
    for i, ref in (node._retained or {}).items():
        t = ref()
        if t is not None and grads[i] is not None:
            g = grads[i] if create_graph else grads[i].detach()
            t.grad = g if t.grad is None else t.grad + g


def run_hooks(hooks, g):
    """Pass gradient ``g`` through tensor hooks; a hook returning a tensor replaces it."""
    for hook in list(hooks):
        out = hook(g)
        if out is not None:
            g = as_gradient(out, g)
    return g


class Leaves:
    """Where the gradients that reach leaves go: into ``.grad``, or the capture of ``autograd.grad``.
    A leaf's gradients are summed while backward runs (:meth:`add`); at the end (:meth:`finish`) its
    hooks run once on the total, which is stored, then its post-accumulate hooks."""

    def __init__(self, create_graph, capture):
        self.create_graph, self.capture = create_graph, capture
        self.sums = {}  # id(leaf) -> [leaf, its gradient so far, whether that is an array this backward made]

    def add(self, t, g):
        """Add gradient ``g`` to the sum of leaf ``t``."""
        entry = self.sums.get(id(t))
        if entry is None:
            self.sums[id(t)] = [t, g, False]
        elif entry[2]:  # a sum made below (without create_graph): no one else holds its array
            entry[1].data += g.data
        else:  # a new sum (either gradient may be shared with other tensors; with create_graph, recorded)
            entry[1], entry[2] = entry[1] + g, not self.create_graph

    def finish(self):
        """Run each leaf's hooks on its summed gradient, store it, then run its post-accumulate hooks."""
        owned = set()  # ids of arrays already stored in some .grad: never share one array
        for t, g, _ in self.sums.values():
            hooks = getattr(t, "_hooks", None)
            if hooks:
                g = run_hooks(hooks, g)
            if self.capture is not None:  # autograd.grad: nothing goes into .grad, no post-accumulate hooks
                self.capture.leaf(t, g)
            elif t.requires_grad:
                self.store(t, g, owned)
                for hook in list(getattr(t, "_post_hooks", None) or ()):
                    hook(t)

    def store(self, t, g, owned):
        """Add ``g`` into ``t.grad``."""
        if t.grad is not None:
            t.grad = t.grad + g
            return
        if not self.create_graph:
            # .grad must be a writeable array of its own (optimizers update it in place):
            # copy a broadcast view (a stride of 0), or an array already given to another .grad.
            data = g.data
            base = data.base if data.base is not None else data
            if id(base) in owned or (data.size > 1 and 0 in data.strides):
                g = type(g)(data.copy())
                base = g.data
            owned.add(id(base))
        t.grad = g


def as_gradient(gradient, like):
    """``gradient`` as a tensor like ``like`` (same shape and device), for backward or a hook's result."""
    tensor = type(like)
    g = gradient if isinstance(gradient, tensor) else tensor(B.xp_of(like.data).asarray(gradient, dtype=like.dtype))
    if g.shape != like.shape:
        raise ValueError(f"gradient has shape {g.shape}, but the output has shape {like.shape}")
    if not B.same_device([g.data, like.data]):
        raise B.DeviceError(f"gradient is on {g.device}, but the output is on {like.device}")
    return g
