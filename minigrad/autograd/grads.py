"""``autograd.grad``: gradients returned instead of added to ``.grad``.

It runs the same backward loop as ``tensor.backward()`` with a :class:`Capture`, which takes the
gradients that reach the chosen inputs and skips the nodes that lead to none of them.
"""
from __future__ import annotations

from .engine import Tensor, root_gradient, run_backward, fit_gradient
from .errors import BackwardError


class Capture:
    """The gradients of ``inputs`` during one backward from ``roots``."""

    def __init__(self, roots, inputs):
        self.slots = {id(x): (i, x) for i, x in enumerate(inputs)}
        self.grads = [None] * len(inputs)
        self.nonleaf = {(id(x.grad_fn), x._out_index): i for i, x in enumerate(inputs) if x.grad_fn is not None}
        self.needed = _nodes_leading_to(roots, inputs)

    def visit(self, node, grads):
        """Take the gradients of a node's captured outputs; True when the node must still run."""
        for i in range(node._n_out):
            slot = self.nonleaf.get((id(node), i))
            if slot is not None and grads[i] is not None:
                self.grads[slot] = grads[i]
        return node in self.needed

    def leaf(self, t, g):
        """Take a gradient that reached leaf ``t`` (nothing goes into ``.grad``)."""
        entry = self.slots.get(id(t))
        if entry is not None:
            slot = entry[0]
            self.grads[slot] = g if self.grads[slot] is None else self.grads[slot] + g


def _nodes_leading_to(roots, inputs):
    """The nodes from which one of ``inputs`` can be reached."""
    leaf_targets = {id(x) for x in inputs if x.grad_fn is None}
    node_targets = {id(x.grad_fn) for x in inputs if x.grad_fn is not None}
    seen, stack, order = set(), [t.grad_fn for t in roots if t.grad_fn is not None], []
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        order.append(node)
        for x in getattr(node, "_inputs", ()):
            if x.grad_fn is not None and x.grad_fn not in seen:
                stack.append(x.grad_fn)
    needed = set()
    for node in sorted(order, key=lambda n: n.seq):  # inputs' nodes are decided first
        for x in getattr(node, "_inputs", ()):
            if id(x) in leaf_targets or (x.grad_fn is not None
                                         and (x.grad_fn in needed or id(x.grad_fn) in node_targets)):
                needed.add(node)
                break
    return needed


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, allow_unused=False):
    """Gradients of ``outputs`` with respect to ``inputs``, returned (``.grad`` untouched).

    ``outputs``/``inputs``: a tensor or a sequence of tensors.  With
    ``create_graph=True`` the returned gradients are themselves differentiable
    (Hessian-vector products, gradient penalties).
    """
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    elif isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs]
    roots, root_grads = [], []
    for out, g in zip(outputs, grad_outputs):
        if not out.requires_grad:
            raise BackwardError(f"an output (shape {out.shape}) does not require grad and has no grad_fn")
        roots.append(out)
        root_grads.append(root_gradient(out, g))
    for x in inputs:
        if not isinstance(x, Tensor) or not x.requires_grad:
            raise BackwardError("every input of grad() must be a tensor that requires grad")
    if retain_graph is None:
        retain_graph = create_graph
    result = run_backward(roots, root_grads, retain_graph, create_graph, Capture(roots, inputs))
    for i, (x, g) in enumerate(zip(inputs, result)):
        if g is None and not allow_unused:
            raise BackwardError(
                f"input {i} (shape {x.shape}) was not used to compute the outputs; pass allow_unused=True"
            )
        if g is not None and g.shape != x.shape:
            result[i] = fit_gradient(g, x, "grad")
    return tuple(result)
