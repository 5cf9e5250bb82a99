"""The autograd engine: tensors, ops and reverse mode.

Read this file top to bottom to see how minigrad computes gradients.

* A :class:`Tensor` wraps a NumPy (CPU) or CuPy (GPU) array.
* An :class:`Op` is one operation with a ``forward`` (arrays in, arrays out)
  and a ``backward`` (output gradients in, input gradients out, written with
  tensor ops so that they can themselves be differentiated).
* Calling ``SomeOp.apply(*tensors)`` runs ``forward`` and, when a gradient may
  be needed, records the op as a *node* of the graph with a sequence number:
  its place on the tape.  The output tensor points at that node
  (``tensor.grad_fn``) and the node holds the input tensors.
* ``tensor.backward()`` replays the tape in reverse (:func:`run_backward`): it
  walks the nodes the output depends on from the highest sequence number to
  the lowest (a node is always recorded after the nodes that made its inputs,
  so every gradient for a node has arrived before it runs), calls each node's
  ``backward`` and adds up the gradients of tensors used more than once.  Then
  it frees what the nodes saved, unless ``retain_graph=True``.
* Backward formulas run as ordinary ops, recorded when ``create_graph=True``:
  that is all it takes for gradients of gradients.
* Hooks (``register_hook``, ``retain_grad``, post-accumulate hooks) and the
  capture that ``autograd.grad`` uses plug into the loop at named places.

Grad mode lives in ``grad_mode.py``, the printable tape in ``tape.py``,
``autograd.grad`` in ``grads.py``; shapes and conversions in ``tensor_data.py``.
"""
from __future__ import annotations

import abc
import heapq
from heapq import heappop

import numpy as np

from .. import _backend as B
from . import errors
from .errors import BackwardError  # noqa: F401
from .grad_mode import _state, enable_grad, is_grad_enabled, no_grad, set_grad_enabled  # noqa: F401
from .tape import _sequence, record_backward, record_forward, watching_backward
from .hooks import HookMixin, Leaves, as_gradient, run_node_hooks
from .tensor_data import TensorData, to_array


# ----------------------------------------------------------------------------- ops
class Op(abc.ABC):
    """Base class of every differentiable operation (abstract: ``forward`` and ``backward`` are required).

    Subclasses define

    * ``forward(self, *arrays)``: raw NumPy/CuPy arrays in, an array (or a
      tuple of arrays) out.  Anything backward needs besides the inputs
      (masks, indices, shapes) may be kept on ``self``.
    * ``backward(self, *grads)``: one gradient Tensor per output in (None for
      an output of a multi-output op that got no gradient), one gradient
      Tensor (or None) per input out.  Written with tensor ops so it
      can itself be differentiated.  ``self.inputs`` are the input tensors,
      ``self.output`` the output (when the class sets ``save_output = True``).

    Keyword arguments given to ``apply`` become attributes (``self.dim``...).
    """

    save_output = False  # keep the output array for backward (exp, tanh, ...)
    is_view = False  # output shares memory with input 0: share its version counter
    differentiable_backward = True  # False: backward uses raw arrays; no double backward
    freed = False  # set once backward has released what the node saved
    _retained = None  # {output index: weakref} of outputs that called retain_grad()
    _hooks = None  # {output index: [hook, ...]} from register_hook on this node's outputs
    _n_out = 1

    @classmethod
    def apply(cls, *inputs, **params):
        """Run the op on tensors ``inputs`` and record it when a gradient may be needed.

        Every op call runs this, backward formulas included, so it is the engine's hand-tuned fast
        path: calls with one input or two CPU inputs are spelled out (no list, no device check), and
        so is ``_wrap`` for one output; W5 of ``python -m benchmarks`` (per-op overhead) shows what
        that buys."""
        op = _new(cls)
        if params:
            op.__dict__ = params
        try:
            if len(inputs) == 1:
                x = inputs[0]
                out = op.forward(x.data)
                needs = _state.grad_enabled and (x._requires_grad,)
            elif len(inputs) == 2 and type(inputs[0].data) is np.ndarray and type(inputs[1].data) is np.ndarray:
                a, b = inputs
                out = op.forward(a.data, b.data)
                needs = _state.grad_enabled and (a._requires_grad, b._requires_grad)
            else:
                arrays = [t.data for t in inputs]
                if not B.same_device(arrays):
                    raise B.DeviceError(f"{cls.__name__}: expected all tensors on the same device, got "
                                        + ", ".join(B.device_of(a) for a in arrays))
                out = op.forward(*arrays)
                needs = _state.grad_enabled and tuple([t._requires_grad for t in inputs])
        except (ValueError, TypeError, IndexError) as e:
            raise errors.explain(cls.__name__, inputs, e) from None
        if needs and True in needs:  # record the node: its inputs and its place on the tape
            op._inputs, op.needs_input_grad, op.seq = inputs, needs, next(_sequence)
        else:
            op = None
        if type(out) is tuple:
            outs = tuple([_wrap(a, op, i) for i, a in enumerate(out)])
            if op is not None:
                op._n_out = len(outs)
        else:
            if type(out) is not np.ndarray and isinstance(out, np.generic):
                out = np.asarray(out)  # NumPy reductions of 0-d arrays return scalars
            outs = _new(Tensor)  # _wrap(out, op, 0), spelled out
            outs.data, outs.grad, outs.grad_fn, outs._requires_grad = out, None, op, op is not None
            outs._out_index, outs._retains_grad = 0, False
            outs._version = inputs[0]._version if cls.is_view else [0, 0]
            if op is not None and cls.save_output:
                op._out_data, op._out_version = out, outs._version
        if _state.recorders:
            record_forward(cls, op, inputs, outs)
        return outs

    @abc.abstractmethod
    def forward(self, *arrays):
        """Arrays in, array (or tuple of arrays) out."""

    @abc.abstractmethod
    def backward(self, *grads):
        """One output gradient (Tensor) per output in, one input gradient (Tensor or None) per input out."""

    # -- what backward may read ------------------------------------------------
    @property
    def inputs(self):
        """The input tensors, checked against in-place changes since forward."""
        for t in self._inputs:
            if t._version[1] > self.seq:  # changed in place after this node was recorded
                raise errors.input_modified(self, t)
        return self._inputs

    @property
    def output(self):
        """The output tensor (needs ``save_output = True``), attached to this node."""
        counter = self._out_version
        if counter[1] > self.seq:
            raise errors.output_modified(self)
        out = _wrap(self._out_data, self, 0)
        out._version = counter
        return out

    @property
    def name(self):
        return type(self).__name__

    def __repr__(self):
        # self.name, not the class: a user Function's node shows the Function's name, not _UserOp
        return f"<{self.name} #{getattr(self, 'seq', '?')}>"

    def _release(self):
        """Drop everything saved for backward (after a backward without retain_graph)."""
        seq, n_out = self.seq, self._n_out
        self.__dict__.clear()
        self.seq, self._n_out, self.freed = seq, n_out, True


_new = object.__new__


def _wrap(array, grad_fn, index):
    """Make a Tensor around ``array`` (``__init__`` skipped: this runs for every op output)."""
    t = _new(Tensor)
    if type(array) is not np.ndarray and isinstance(array, np.generic):
        array = np.asarray(array)  # NumPy reductions of 0-d arrays return scalars
    t.data = array
    t.grad = None
    t.grad_fn = grad_fn
    t._requires_grad = grad_fn is not None
    t._out_index = index
    t._version = [0, 0]  # [in-place changes so far, the tape clock at the last one]: see Op.inputs
    t._retains_grad = False
    return t


# ----------------------------------------------------------------------------- tensor
class Tensor(TensorData, HookMixin):
    """An n-dimensional array that can record the operations applied to it.

    Make one with :func:`minigrad.tensor` or a factory (``mg.zeros``...).
    ``.data`` is the raw NumPy or CuPy array; ``.grad`` is filled by
    ``backward()`` for leaves that require grad; ``.grad_fn`` is the node that
    made a non-leaf tensor.  Its operators and methods (``x + y``, ``x.exp()``)
    come from the table in ``minigrad/api.py``; the hook methods from ``hooks.py``.
    """

    __slots__ = ("data", "grad", "grad_fn", "_requires_grad", "_out_index", "_version",
                 "_retains_grad", "_hooks", "_post_hooks", "__weakref__")  # set only on leaves with hooks
    __array_ufunc__ = None  # ndarray + Tensor -> Tensor.__radd__, not an object array
    __array_priority__ = 1000
    __hash__ = object.__hash__  # == is elementwise, so hash by identity

    def __init__(self, data, requires_grad=False, dtype=None, device=None):
        array = to_array(data, dtype, device)
        if requires_grad and array.dtype.kind != "f":
            raise TypeError(f"only floating-point tensors can require gradients, got dtype {array.dtype}")
        self.data = array
        self.grad = None
        self.grad_fn = None
        self._requires_grad = bool(requires_grad)
        self._out_index = 0
        self._version = [0, 0]
        self._retains_grad = False

    @property
    def is_leaf(self):
        return self.grad_fn is None

    def backward(self, gradient=None, retain_graph=None, create_graph=False):
        """Compute the gradient of this tensor with respect to every leaf it depends on.

        ``gradient``: dL/d(self), needed unless this tensor has one element.
        Gradients are added into the ``.grad`` of leaves that require grad.
        """
        if not self.requires_grad:
            raise errors.no_grad_root()
        if retain_graph is None:
            retain_graph = create_graph
        run_backward([self], [root_gradient(self, gradient)], retain_graph, create_graph)

    def detach(self):
        """A tensor sharing this data but cut from the graph (no grad_fn, no requires_grad)."""
        t = _wrap(self.data, None, 0)
        t._version = self._version  # same memory, same version counter
        return t

    def detach_(self):
        self.grad_fn = None
        self._requires_grad = False
        return self

    def requires_grad_(self, requires_grad=True):
        if self.grad_fn is not None and not requires_grad:
            raise RuntimeError("requires_grad_(False) on a non-leaf tensor: use detach()")
        if requires_grad and self.data.dtype.kind != "f":
            raise TypeError(f"only floating-point tensors can require gradients, got dtype {self.dtype}")
        self._requires_grad = bool(requires_grad)
        return self

    def _bump_version(self):
        """Record an in-place change: count it, and stamp it with the tape's clock (see ``Op.inputs``)."""
        self._version[0] += 1
        self._version[1] = next(_sequence)


def _set_requires_grad(self, value):
    # The same rules as requires_grad_(), so that `t.requires_grad = True` cannot skip them (PyTorch).
    if value and self.data.dtype.kind != "f":
        raise TypeError(f"only floating-point tensors can require gradients, got dtype {self.dtype}")
    if not value and self.grad_fn is not None:
        raise RuntimeError("requires_grad = False on a non-leaf tensor: use detach()")
    _requires_grad_slot.__set__(self, bool(value))


# The flag is a slot read on every op; reading it through the slot's own (C) getter keeps that fast,
# and setting it goes through the checks above.
_requires_grad_slot = Tensor._requires_grad
Tensor.requires_grad = property(_requires_grad_slot.__get__, _set_requires_grad,
                                doc="Whether operations on this tensor are recorded for backward.")


def root_gradient(output, gradient):
    """dL/d(output) to start backward from: ``gradient``, or 1 for a one-element output."""
    if gradient is not None:
        return as_gradient(gradient, output)
    if output.data.size != 1:
        raise errors.needs_gradient(output)
    return _wrap(B.xp_of(output.data).ones_like(output.data), None, 0)


# ----------------------------------------------------------------------------- reverse mode
def run_backward(roots, root_grads, retain_graph, create_graph, capture=None):
    """Replay the tape backwards from ``roots``, starting from the gradients ``root_grads``.

    ``capture`` (``autograd.grad``) takes the gradients of chosen tensors instead of ``.grad``
    and says which nodes lead to them; it returns them.  The named extension points:
    ``run_node_hooks`` (register_hook, retain_grad), ``capture.visit`` (autograd.grad),
    ``record_backward`` (``tape(backward=True)``) and ``Leaves`` (``.grad``, leaf hooks).
    """
    pending = {}  # node -> its gradients so far, one sum per output
    heap = []  # (-seq, node): the node recorded last runs first
    leaves = Leaves(create_graph, capture)  # where gradients that reach leaves go
    with set_grad_enabled(create_graph), watching_backward() as watching:
        for t, g in zip(roots, root_grads):
            send(t, g, pending, heap, leaves)
        while heap:
            node = heappop(heap)[1]
            grads = pending.pop(node)  # every gradient for this node has arrived
            if node.freed:
                raise errors.freed(node)
            if node._hooks or node._retained:
                run_node_hooks(node, grads, create_graph)
            if capture is not None and not capture.visit(node, grads):
                if not retain_graph:  # this node leads to no captured tensor: skip it
                    node._release()
                continue
            if create_graph and not node.differentiable_backward:
                raise errors.not_differentiable(node)
            input_grads = node.backward(*grads) if node._n_out > 1 else node.backward(grads[0])  # chain rule
            if type(input_grads) is not tuple:
                input_grads = (input_grads,)
            inputs = node._inputs
            if len(input_grads) != len(inputs):
                raise errors.gradient_count(node, input_grads)
            if watching:
                record_backward(watching, node, grads, inputs, input_grads)
            for x, gx in zip(inputs, input_grads):
                if gx is not None and x._requires_grad:
                    if gx.data.shape != x.data.shape or gx.data.dtype != x.data.dtype:
                        gx = fit_gradient(gx, x, type(node).__name__)  # sum back broadcasting, cast
                    send(x, gx, pending, heap, leaves)
            if not retain_graph:
                node._release()  # free what forward saved for this node
        leaves.finish()
    return None if capture is None else capture.grads


def send(t, g, pending, heap, leaves):
    """Add gradient ``g`` to what waits for tensor ``t``: at the node that made it, or at a leaf."""
    node = t.grad_fn
    if node is None:
        return leaves.add(t, g)
    buf = pending.get(node)
    if buf is None:  # first gradient for this node: schedule it
        buf = pending[node] = [None] * node._n_out
        heapq.heappush(heap, (-node.seq, node))
    i = t._out_index
    buf[i] = g if buf[i] is None else add_gradients(buf[i], g)


def add_gradients(a, b):
    """``a + b`` for two gradients of one tensor.  When grad mode is off (backward without create_graph)
    the op would record nothing: the arrays are added directly, the same sum without the op's cost."""
    if _state.grad_enabled:
        return a + b
    return _wrap(a.data + b.data, None, 0)


def fit_gradient(g, x, opname):
    """Sum a gradient back over the dimensions broadcasting added to ``x``, and cast it to ``x``'s dtype."""
    if g.data.shape != x.data.shape:
        try:
            g = sum_to(g, x.data.shape)
        except ValueError:
            raise errors.wrong_gradient_shape(opname, g, x) from None
    return g if g.data.dtype == x.data.dtype else Cast.apply(g, dtype=x.data.dtype)


# ----------------------------------------------------------------------------- the ops the engine uses
class SumTo(Op):
    """Sum ``x`` down to ``shape`` (undoes broadcasting); backward broadcasts back."""

    def forward(self, x):
        shape = tuple(self.shape)
        lead = x.ndim - len(shape)
        if lead < 0 or any(s != 1 and s != xs for s, xs in zip(shape, x.shape[lead:])):
            raise ValueError(f"cannot sum shape {x.shape} down to shape {shape}")
        axes = tuple(range(lead)) + tuple(lead + i for i, s in enumerate(shape) if s == 1 and x.shape[lead + i] != 1)
        self.in_shape = x.shape
        return (x.sum(axis=axes, keepdims=True) if axes else x).reshape(shape)

    def backward(self, grad):
        return BroadcastTo.apply(grad, shape=self.in_shape)


def sum_to(input, shape):
    """Sum ``input`` over broadcast dimensions so that it has ``shape``."""
    shape = tuple(shape)
    return input if input.shape == shape else SumTo.apply(input, shape=shape)


class BroadcastTo(Op):
    """Repeat size-1 (and missing leading) dimensions to reach ``shape`` without copying."""

    is_view = True

    def forward(self, x):
        self.in_shape = x.shape
        return B.xp_of(x).broadcast_to(x, self.shape)

    def backward(self, grad):
        return sum_to(grad, self.in_shape)


class Cast(Op):
    """Change the dtype; the gradient is cast back."""

    def forward(self, x):
        self.in_dtype = x.dtype
        return x.astype(self.dtype)

    def backward(self, grad):
        return Cast.apply(grad, dtype=self.in_dtype)
