"""The whole autograd engine: tensors, ops, the tape and reverse mode.

Read this file top to bottom to see how minigrad computes gradients.

* A :class:`Tensor` wraps a NumPy (CPU) or CuPy (GPU) array.
* An :class:`Op` is one operation with a ``forward`` (arrays in, arrays out)
  and a ``backward`` (output gradients in, input gradients out, written with
  tensor ops so that they can themselves be differentiated).
* Calling ``SomeOp.apply(*tensors)`` runs ``forward`` and, when a gradient may
  be needed, records the op as a *node* of the graph with a sequence number:
  its place on the tape.  The output tensor points at that node
  (``tensor.grad_fn``) and the node holds the input tensors.
* ``tensor.backward()`` replays the tape in reverse: it walks the nodes the
  output depends on from the highest sequence number to the lowest (a node is
  always recorded after the nodes that made its inputs, so every gradient for
  a node has arrived before it runs), calls each node's ``backward`` and adds
  up the gradients of tensors used more than once.  Then it frees what the
  nodes saved, unless ``retain_graph=True``.
* Backward formulas run as ordinary ops, recorded when ``create_graph=True``:
  that is all it takes for gradients of gradients.
* ``tensor.register_hook(fn)`` calls ``fn`` with the tensor's gradient once it
  is complete (and lets ``fn`` replace it): a window onto the replay.
  ``leaf.register_post_accumulate_grad_hook(fn)`` calls ``fn(leaf)`` once the
  gradient is in ``leaf.grad``.
"""
from __future__ import annotations

import abc
import functools
import heapq
import inspect
import itertools
import threading
import weakref
from contextlib import contextmanager

import numpy as np

from . import _backend as B

# ----------------------------------------------------------------------------- grad mode
class _ThreadState(threading.local):
    """Grad mode and open tapes, one set per thread (as in PyTorch): a thread evaluating under
    ``no_grad`` must not turn autograd off for a thread that is training."""

    def __init__(self):  # runs once in every thread that uses minigrad: grad mode on, no tape open
        self.grad_enabled = True
        self.recorders = ()  # open ``tape()`` contexts of this thread


_state = _ThreadState()


def is_grad_enabled() -> bool:
    """True when ops record the graph (the default).  Grad mode is per thread."""
    return _state.grad_enabled


def _decorate(fn, make_mode):
    """Run ``fn`` (a function or a generator function) under the grad mode ``make_mode()`` sets."""
    if inspect.isgeneratorfunction(fn):
        # A generator runs in pieces: switch the mode around each piece, restoring the caller's
        # mode at every ``yield`` (what PyTorch does).
        @functools.wraps(fn)
        def generator(*args, **kwargs):
            gen = fn(*args, **kwargs)
            try:
                with make_mode():
                    value = next(gen)
                while True:
                    try:
                        sent = yield value
                    except GeneratorExit:
                        with make_mode():
                            gen.close()
                        raise
                    except BaseException as e:  # noqa: BLE001 - thrown in by the caller: pass it on
                        with make_mode():
                            value = gen.throw(e)
                    else:
                        with make_mode():
                            value = gen.send(sent)
            except StopIteration as stop:
                return stop.value

        return generator

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with make_mode():
            return fn(*args, **kwargs)

    return wrapper


class set_grad_enabled:
    """Turn graph recording on or off for this thread; a function call, context manager or decorator."""

    def __init__(self, mode: bool):
        self.prev = _state.grad_enabled
        self.mode = bool(mode)
        _state.grad_enabled = self.mode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _state.grad_enabled = self.prev
        return False

    def __call__(self, fn):
        # Decorator use: switch only while the function runs.
        _state.grad_enabled = self.prev
        mode = self.mode
        return _decorate(fn, lambda: set_grad_enabled(mode))


class _GradMode:
    """Base of ``no_grad``/``enable_grad``: a context manager and decorator (of functions and generators)."""

    mode = True

    def __enter__(self):
        self.prev = _state.grad_enabled
        _state.grad_enabled = self.mode
        return self

    def __exit__(self, *exc):
        _state.grad_enabled = self.prev
        return False

    def __call__(self, fn):
        return _decorate(fn, type(self))


class no_grad(_GradMode):
    """Ops run inside record nothing: use for evaluation and parameter updates.  Affects this thread only."""

    mode = False


class enable_grad(_GradMode):
    """Turn recording back on inside a ``no_grad`` block (this thread only)."""

    mode = True


# ----------------------------------------------------------------------------- the tape
_sequence = itertools.count()  # every recorded node gets the next number


class TapeEntry:
    """One op run inside :func:`tape`: its name, shapes and place on the tape."""

    __slots__ = ("seq", "op", "input_shapes", "output_shapes", "recorded")

    def __init__(self, seq, op, input_shapes, output_shapes, recorded):
        self.seq, self.op = seq, op
        self.input_shapes, self.output_shapes, self.recorded = input_shapes, output_shapes, recorded

    def __repr__(self):
        ins = ", ".join(str(s) for s in self.input_shapes)
        outs = ", ".join(str(s) for s in self.output_shapes)
        mark = f"#{self.seq}" if self.recorded else "(not recorded)"
        return f"{mark:>6} {self.op}({ins}) -> {outs}"


def _norm(array):
    """The Euclidean norm of an array (all elements), as a Python float."""
    a = array.astype(np.float64) if array.dtype != np.float64 else array
    return float(B.xp_of(a).sqrt((a * a).sum()))


def _shape_text(shape):
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


class BackwardEntry:
    """One node run by backward inside ``tape(backward=True)``.

    ``seq``, ``op``: the node; ``grads_in``: per output, ``(shape, norm)`` of the gradient that arrived
    (None if none did); ``grads_out``: per input, ``(shape, norm, to)`` of the gradient sent on, where
    ``to`` names the receiver (``"Add #7"`` for a node, the leaf's name or ``"leaf"``), or None when
    nothing was sent (a constant, or an input that needs no gradient).
    """

    __slots__ = ("seq", "op", "grads_in", "grads_out")

    def __init__(self, seq, op, grads_in, grads_out):
        self.seq, self.op, self.grads_in, self.grads_out = seq, op, grads_in, grads_out

    def rows(self):
        """The entry as table rows ``[node, arrived, sent, to]``."""
        node = f"#{self.seq} {self.op}"
        arrived = [f"{_shape_text(g[0])} {g[1]:.4g}" if g is not None else "-" for g in self.grads_in]
        sent = [g for g in self.grads_out if g is not None] or [None]
        rows = []
        for i, g in enumerate(sent):
            rows.append([node if i == 0 else "", "  ".join(arrived) if i == 0 else "",
                         f"{_shape_text(g[0])} {g[1]:.4g}" if g is not None else "-", g[2] if g is not None else ""])
        return rows

    def __repr__(self):
        return "\n".join("  ".join(r).rstrip() for r in self.rows())


class BackwardTape(list):
    """The :class:`BackwardEntry` list of ``tape(backward=True)``, in the order backward ran the nodes;
    prints as a table: node, gradient arrived (shape, norm), gradients sent on (shape, norm) and to whom."""

    def __str__(self):
        if not self:
            return "(no backward recorded)"
        rows = [["node", "grad arrived", "grad sent", "to"]] + [r for e in self for r in e.rows()]
        widths = [max(len(r[i]) for r in rows) for i in range(3)]
        return "\n".join(("  ".join(c.ljust(w) for c, w in zip(r[:3], widths)) + "  " + r[3]).rstrip()
                         for r in rows)


class Tape(list):
    """The list of :class:`TapeEntry` made by :func:`tape`; prints as a table.

    With ``tape(backward=True)``, ``.backward`` is the :class:`BackwardTape` of every backward run inside
    the block (else None), printed after the forward ops."""

    backward = None
    _names = None

    def __str__(self):
        text = "\n".join(repr(e) for e in self) if self else "(empty tape)"
        if self.backward is not None:
            text += "\nbackward:\n" + str(self.backward)
        return text


@contextmanager
def tape(backward=False, params=None):
    """Record every op executed inside the block, in order.

    >>> with mg.autograd.tape() as t:
    ...     y = (x * w).sum()
    >>> print(t)   # one line per op: sequence number, op, input and output shapes

    Ops run with gradients disabled are listed as ``(not recorded)``: they
    leave no node on the graph.

    ``backward=True``: also record every backward run inside the block, in
    ``t.backward``: each node in the order it ran, the gradient that arrived at
    it and the gradients it sent on (shapes, norms, receivers).  The ops that
    backward formulas run internally are then not listed among the forward ops.
    ``params``: optional ``{name: tensor}`` naming leaves in that table.
    """
    entries = Tape()
    if backward:
        entries.backward = BackwardTape()
        entries._names = {id(t): n for n, t in (params or {}).items()}
    _state.recorders = (*_state.recorders, entries)
    try:
        yield entries
    finally:
        _state.recorders = tuple(r for r in _state.recorders if r is not entries)


def _receiver(x, names):
    if x.grad_fn is not None:
        return f"{x.grad_fn.name} #{x.grad_fn.seq}"
    return (names or {}).get(id(x), "leaf")


def _record_backward(recorders, node, grads, inputs, input_grads):
    grads_in = [None if g is None else (tuple(g.shape), _norm(g.data)) for g in grads]
    for rec in recorders:
        grads_out = [None if gx is None or not x.requires_grad else
                     (tuple(x.shape), _norm(gx.data), _receiver(x, rec._names)) for x, gx in zip(inputs, input_grads)]
        rec.backward.append(BackwardEntry(node.seq, node.name, grads_in, grads_out))


# ----------------------------------------------------------------------------- ops
class BackwardError(RuntimeError):
    """Raised when backward cannot run (freed graph, in-place change, ...)."""


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
        """Run the op on tensors ``inputs`` and record it when a gradient may be needed."""
        op = _new(cls)
        if params:
            op.__dict__ = params
        # This is the hot path of every op: the one- and two-input cases are spelled out.
        if len(inputs) == 1:
            x = inputs[0]
            try:
                out = op.forward(x.data)
            except (ValueError, TypeError, IndexError) as e:
                raise _explain(cls.__name__, inputs, e) from None
            record = _state.grad_enabled and x._requires_grad
            if record:
                op._inputs = inputs
                op._versions = (x._version[0],)
                op.needs_input_grad = (True,)
        else:
            arrays = [t.data for t in inputs]
            if type(arrays[0]) is not np.ndarray or len(arrays) != 2 or type(arrays[1]) is not np.ndarray:
                same = B.same_device(arrays)
            else:
                same = True  # two NumPy arrays: both on the CPU
            if not same:
                raise B.DeviceError(
                    f"{cls.__name__}: expected all tensors on the same device, got "
                    + ", ".join(B.device_of(a) for a in arrays)
                )
            try:
                out = op.forward(*arrays)
            except (ValueError, TypeError, IndexError) as e:
                raise _explain(cls.__name__, inputs, e) from None
            record = False
            if _state.grad_enabled:
                needs = tuple([t._requires_grad for t in inputs])
                if True in needs:
                    record = True
                    op._inputs = inputs
                    op._versions = tuple([t._version[0] for t in inputs])
                    op.needs_input_grad = needs
        if record:
            op.seq = next(_sequence)
        else:
            op = None
        if type(out) is tuple:
            outs = tuple([_wrap(a, op, i) for i, a in enumerate(out)])
            if op is not None:
                op._n_out = len(outs)
        else:
            # _wrap inlined: one Tensor per op adds up.
            if type(out) is not np.ndarray and isinstance(out, np.generic):
                out = np.asarray(out)
            outs = _new(Tensor)
            outs.data = out
            outs.grad = None
            outs.grad_fn = op
            outs._requires_grad = record
            outs._out_index = 0
            outs._retains_grad = False
            if cls.is_view:
                outs._version = inputs[0]._version
            else:
                outs._version = [0]
            if record and cls.save_output:
                op._out_data = out
                op._out_version = outs._version
                op._out_version_at = outs._version[0]
        if _state.recorders:
            _record_on_tape(cls, op, inputs, outs)
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
        for t, v in zip(self._inputs, self._versions):
            if t._version[0] != v:
                raise BackwardError(
                    f"a tensor of shape {t.shape} needed by {type(self).__name__}'s backward was "
                    f"modified in place after it was used (version {v} -> {t._version[0]}); "
                    "compute with an out-of-place op (x = x + y, not x += y) or clone it first"
                )
        return self._inputs

    @property
    def output(self):
        """The output tensor (needs ``save_output = True``), attached to this node."""
        counter = self._out_version
        if counter[0] != self._out_version_at:
            raise BackwardError(
                f"the output of {type(self).__name__} (shape {self._out_data.shape}) was modified "
                "in place after it was computed; its backward needs the original value"
            )
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
    """Make a Tensor around ``array`` (fast path used by every op)."""
    t = _new(Tensor)
    if type(array) is not np.ndarray and isinstance(array, np.generic):
        array = np.asarray(array)  # NumPy reductions of 0-d arrays return scalars
    t.data = array
    t.grad = None
    t.grad_fn = grad_fn
    t._requires_grad = grad_fn is not None
    t._out_index = index
    t._version = [0]
    t._retains_grad = False
    return t


def _record_on_tape(cls, op, inputs, outs):
    outs_t = outs if type(outs) is tuple else (outs,)
    entry = TapeEntry(
        -1 if op is None else op.seq, cls.__name__, [t.shape for t in inputs], [t.shape for t in outs_t],
        op is not None,
    )
    for rec in _state.recorders:
        rec.append(entry)


def _explain(name, inputs, err):
    """Turn a NumPy error from inside an op into one that names the op and shapes."""
    msg = str(err).split("\n")[0]
    if "broadcast" in msg:
        shapes = " and ".join(str(tuple(t.shape)) for t in inputs)
        return ValueError(f"{name.lower()}: shapes {shapes} cannot be broadcast together")
    shapes = ", ".join(f"{tuple(t.shape)} {t.dtype}" for t in inputs)
    kind = type(err) if type(err) in (ValueError, TypeError, IndexError) else ValueError
    return kind(f"{name.lower()}: cannot apply to inputs [{shapes}]: {msg}")


# ----------------------------------------------------------------------------- tensor
class Tensor:
    """An n-dimensional array that can record the operations applied to it.

    Make one with :func:`minigrad.tensor` or a factory (``mg.zeros``...).
    ``.data`` is the raw NumPy or CuPy array; ``.grad`` is filled by
    ``backward()`` for leaves that require grad; ``.grad_fn`` is the node that
    made a non-leaf tensor.
    """

    __slots__ = ("data", "grad", "grad_fn", "_requires_grad", "_out_index", "_version",
                 "_retains_grad", "_hooks", "_post_hooks", "__weakref__")  # set only on leaves with hooks
    __array_ufunc__ = None  # ndarray + Tensor -> Tensor.__radd__, not an object array
    __array_priority__ = 1000

    def __init__(self, data, requires_grad=False, dtype=None, device=None):
        from .creation import _to_array  # local: creation imports this module

        array = _to_array(data, dtype, device)
        if requires_grad and array.dtype.kind != "f":
            raise TypeError(f"only floating-point tensors can require gradients, got dtype {array.dtype}")
        self.data = array
        self.grad = None
        self.grad_fn = None
        self._requires_grad = bool(requires_grad)
        self._out_index = 0
        self._version = [0]
        self._retains_grad = False

    # -- attributes ------------------------------------------------------------
    @property
    def shape(self):
        return self.data.shape

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def device(self):
        return B.device_of(self.data)

    @property
    def is_cuda(self):
        return type(self.data) is not np.ndarray

    @property
    def is_leaf(self):
        return self.grad_fn is None

    def size(self, dim=None):
        """The shape (``dim`` given: one dimension's length)."""
        return self.data.shape if dim is None else self.data.shape[dim]

    def dim(self):
        return self.data.ndim

    def numel(self):
        return int(self.data.size)

    def __len__(self):
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.data.shape[0]

    __hash__ = object.__hash__  # == is elementwise, so hash by identity

    # -- conversion ------------------------------------------------------------
    def item(self):
        """The value of a one-element tensor as a Python number."""
        if self.data.size != 1:
            raise ValueError(f"item() needs a tensor with one element, got shape {self.shape}")
        return self.data.reshape(()).item()

    def tolist(self):
        return self.data.tolist()

    def numpy(self):
        """The data as a NumPy array (CPU tensors only; shares memory, like PyTorch)."""
        if self.requires_grad:
            raise RuntimeError("numpy() on a tensor that requires grad: use tensor.detach().numpy()")
        if not B.is_numpy(self.data):
            raise B.DeviceError(f"numpy() on a tensor on {self.device}: call .cpu() first")
        return self.data

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __bool__(self):
        if self.data.size != 1:
            raise ValueError(
                f"the truth value of a tensor with {self.data.size} elements is ambiguous; use .any() or .all()"
            )
        return bool(self.data.reshape(()).item())

    def __index__(self):
        if self.data.dtype.kind not in "iub" or self.data.size != 1:
            raise TypeError("only integer tensors of one element can be used as an index")
        return int(self.item())

    def __repr__(self):
        xp_data = self.data if B.is_numpy(self.data) else B.to_device(self.data, "cpu")
        body = np.array2string(xp_data, separator=", ", prefix="tensor(", precision=4)
        extras = []
        if self.dtype not in (np.float32, np.int64, np.bool_):
            extras.append(f"dtype={self.dtype}")
        if self.device != "cpu":
            extras.append(f"device='{self.device}'")
        if self.grad_fn is not None:
            extras.append(f"grad_fn=<{self.grad_fn.name}>")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + body + "".join(", " + e for e in extras) + ")"

    # -- autograd --------------------------------------------------------------
    def backward(self, gradient=None, retain_graph=None, create_graph=False):
        """Compute the gradient of this tensor with respect to every leaf it depends on.

        ``gradient``: dL/d(self), needed unless this tensor has one element.
        Gradients are added into the ``.grad`` of leaves that require grad.
        """
        if not self.requires_grad:
            raise BackwardError(
                "backward() on a tensor that does not require grad: no tensor it was computed "
                "from has requires_grad=True (or it was computed under no_grad)"
            )
        if retain_graph is None:
            retain_graph = create_graph
        run_backward([self], [_root_gradient(self, gradient)], retain_graph, create_graph)

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
        self._version[0] += 1


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


class RemovableHandle:
    """Returned by ``register_hook``: ``handle.remove()`` takes the hook off."""

    def __init__(self, hooks, hook):
        self._hooks, self._hook = hooks, hook

    def remove(self):
        if self._hook in self._hooks:
            self._hooks.remove(self._hook)


def _run_hooks(hooks, g):
    """Pass gradient ``g`` through tensor hooks; a hook returning a tensor replaces it."""
    for hook in list(hooks):
        out = hook(g)
        if out is not None:
            g = _as_gradient(out, g)
    return g


def _root_gradient(output, gradient):
    """dL/d(output) to start backward from: ``gradient``, or 1 for a one-element output."""
    if gradient is not None:
        return _as_gradient(gradient, output)
    if output.data.size != 1:
        raise BackwardError(
            f"backward from an output of shape {output.shape} needs a gradient (gradient= in backward(), "
            "grad_outputs= in autograd.grad()); only one-element outputs get an implicit gradient of 1. "
            "Or reduce first (e.g. .sum())"
        )
    return _wrap(B.xp_of(output.data).ones_like(output.data), None, 0)


def _as_gradient(gradient, like):
    if isinstance(gradient, Tensor):
        g = gradient
    else:
        g = _wrap(B.xp_of(like.data).asarray(gradient, dtype=like.dtype), None, 0)
    if g.shape != like.shape:
        raise ValueError(f"gradient has shape {g.shape}, but the output has shape {like.shape}")
    if not B.same_device([g.data, like.data]):
        raise B.DeviceError(f"gradient is on {g.device}, but the output is on {like.device}")
    return g


# ----------------------------------------------------------------------------- reverse mode
def run_backward(roots, root_grads, retain_graph, create_graph, capture=None):
    """Replay the tape backwards from ``roots``.

    ``capture``: for ``autograd.grad``: maps id(tensor) -> slot; gradients that
    reach those tensors are returned in a list instead of being added to
    ``.grad``.  Returns that list (or None).
    """
    # tape(backward=True) recorders: list the nodes backward runs, not the ops inside backward formulas
    # (this thread's tapes only: other threads' tapes and grad mode are not touched)
    recorders = _state.recorders
    watching = [r for r in recorders if r.backward is not None] if recorders else None
    if watching:
        _state.recorders = tuple(r for r in recorders if r.backward is None)
    try:
        return _run_backward(roots, root_grads, retain_graph, create_graph, capture, watching)
    finally:
        if watching:
            _state.recorders = (*_state.recorders, *watching)


def _run_backward(roots, root_grads, retain_graph, create_graph, capture, watching):
    pending = {}  # node -> list with one accumulated gradient per output
    heap = []  # (-seq, node): the node with the highest sequence number runs first
    captured = None
    owned = set()  # ids of arrays already stored in some .grad: never share one array
    hooked = {}  # id(leaf) -> [leaf, summed gradient] for leaves with hooks: run them once, at the end
    if capture is not None:
        captured = [None] * len(capture)
        nonleaf_targets = {}
        for tid, (slot, t) in capture.items():
            if t.grad_fn is not None:
                nonleaf_targets[(id(t.grad_fn), t._out_index)] = slot
        needed = _nodes_leading_to(roots, capture)

    with set_grad_enabled(create_graph):
        for t, g in zip(roots, root_grads):
            _deliver(t, g, pending, heap, capture, captured, create_graph, owned, hooked)
        heappop, heappush = heapq.heappop, heapq.heappush
        while heap:
            _, node = heappop(heap)
            grads = pending.pop(node)
            if node.freed:
                raise BackwardError(
                    f"backward through {type(node).__name__} (node #{node.seq}) a second time, but its "
                    "saved values were freed after the first backward; pass retain_graph=True to the "
                    "first backward() if you need to backward twice"
                )
            if node._hooks:
                for i, hooks in node._hooks.items():
                    if grads[i] is not None and hooks:
                        grads[i] = _run_hooks(hooks, grads[i])
            if node._retained:
                for i, ref in node._retained.items():
                    t = ref()
                    if t is not None and grads[i] is not None:
                        g = grads[i] if create_graph else grads[i].detach()
                        t.grad = g if t.grad is None else t.grad + g
            if capture is not None:
                for i in range(node._n_out):
                    slot = nonleaf_targets.get((id(node), i))
                    if slot is not None and grads[i] is not None:
                        captured[slot] = grads[i]
                if node not in needed:
                    if not retain_graph:
                        node._release()
                    continue
            if create_graph and not node.differentiable_backward:
                raise BackwardError(
                    f"{type(node).__name__} has a hand-written backward that cannot be differentiated "
                    "again (create_graph=True); use the unfused path for higher-order gradients"
                )
            input_grads = node.backward(grads[0]) if node._n_out == 1 else node.backward(*grads)
            if type(input_grads) is not tuple:
                input_grads = (input_grads,)
            inputs = node._inputs
            if len(input_grads) != len(inputs):
                raise BackwardError(
                    f"{type(node).__name__}.backward returned {len(input_grads)} gradients "
                    f"for {len(inputs)} inputs"
                )
            if watching:
                _record_backward(watching, node, grads, inputs, input_grads)
            for x, gx in zip(inputs, input_grads):
                if gx is None or not x._requires_grad:
                    continue
                if gx.data.shape != x.data.shape:  # broadcasting in forward: sum back
                    gx = _sum_to(gx, x.data.shape, type(node).__name__)
                if gx.data.dtype != x.data.dtype:
                    gx = gx.to(x.data.dtype)
                fn = x.grad_fn
                if fn is None or capture is not None:
                    _deliver(x, gx, pending, heap, capture, captured, create_graph, owned, hooked)
                    continue
                # _deliver inlined for the common case: a gradient for another node.
                buf = pending.get(fn)
                if buf is None:
                    pending[fn] = buf = [None] * fn._n_out
                    heappush(heap, (-fn.seq, fn))
                    buf[x._out_index] = gx
                else:
                    i = x._out_index
                    buf[i] = gx if buf[i] is None else buf[i] + gx
            if not retain_graph:
                node._release()
        for t, g in hooked.values():
            hooks = getattr(t, "_hooks", None)
            _deliver(t, _run_hooks(hooks, g) if hooks else g, pending, heap, capture, captured, create_graph, owned)
            post = getattr(t, "_post_hooks", None)
            if post and capture is None:  # autograd.grad accumulates nothing: no post-accumulate hooks
                for hook in list(post):
                    hook(t)
    return captured


def _deliver(t, g, pending, heap, capture, captured, create_graph, owned, hooked=None):
    """Send gradient ``g`` to tensor ``t``: to its node, or into a leaf's ``.grad``.

    ``hooked``: where gradients for leaves with hooks are summed instead, so that their hooks
    run once on the total."""
    node = t.grad_fn
    if node is None:
        if hooked is not None and (getattr(t, "_hooks", None) or getattr(t, "_post_hooks", None)):
            entry = hooked.get(id(t))
            if entry is None:
                hooked[id(t)] = [t, g]
            else:
                entry[1] = entry[1] + g
            return
        if capture is not None:
            entry = capture.get(id(t))
            if entry is not None:
                slot = entry[0]
                captured[slot] = g if captured[slot] is None else captured[slot] + g
            return
        if not t.requires_grad:
            return
        if t.grad is None:
            if not create_graph:
                # .grad must be a writeable array of its own (optimizers update it in place):
                # copy a broadcast view, or an array already given to another tensor's .grad.
                data = g.data
                base = data.base if data.base is not None else data
                if id(base) in owned or _is_broadcast_view(data):
                    g = _wrap(data.copy(), None, 0)
                    base = g.data
                owned.add(id(base))
            t.grad = g
        else:
            t.grad = t.grad + g
        return
    buf = pending.get(node)
    if buf is None:  # first gradient for this node: schedule it
        buf = pending[node] = [None] * node._n_out
        heapq.heappush(heap, (-node.seq, node))
    i = t._out_index
    buf[i] = g if buf[i] is None else buf[i] + g


def _is_broadcast_view(array):
    """True for arrays whose elements overlap in memory (a stride of 0), e.g. from broadcast_to."""
    return array.size > 1 and 0 in array.strides


def _nodes_leading_to(roots, capture):
    """The nodes from which one of the captured tensors can be reached (autograd.grad)."""
    targets_leaf = {tid for tid, (slot, t) in capture.items() if t.grad_fn is None}
    target_nodes = {id(t.grad_fn) for tid, (slot, t) in capture.items() if t.grad_fn is not None}
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
            if id(x) in targets_leaf or (x.grad_fn is not None and (x.grad_fn in needed or id(x.grad_fn) in target_nodes)):
                needed.add(node)
                break
    return needed


def _sum_to(g, shape, opname):
    """Sum a gradient over the dimensions that broadcasting added or stretched."""
    from .ops.reduce import sum_to

    try:
        return sum_to(g, shape)
    except ValueError:
        raise BackwardError(
            f"{opname}.backward produced a gradient of shape {g.shape} for an input of shape {shape}"
        ) from None


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, allow_unused=False):
    """Gradients of ``outputs`` with respect to ``inputs``, returned (``.grad`` untouched).

    ``outputs``/``inputs``: a tensor or a sequence of tensors.  With
    ``create_graph=True`` the returned gradients are themselves differentiable
    (Hessian-vector products, gradient penalties).
    """
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    single_input = isinstance(inputs, Tensor)
    inputs = [inputs] if single_input else list(inputs)
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    elif isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs]
    roots, root_grads = [], []
    for out, g in zip(outputs, grad_outputs):
        if not out.requires_grad:
            raise BackwardError(f"an output (shape {out.shape}) does not require grad and has no grad_fn")
        roots.append(out)
        root_grads.append(_root_gradient(out, g))
    for x in inputs:
        if not isinstance(x, Tensor) or not x.requires_grad:
            raise BackwardError("every input of grad() must be a tensor that requires grad")
    capture = {id(x): (i, x) for i, x in enumerate(inputs)}
    if retain_graph is None:
        retain_graph = create_graph
    result = run_backward(roots, root_grads, retain_graph, create_graph, capture)
    for i, (x, g) in enumerate(zip(inputs, result)):
        if g is None and not allow_unused:
            raise BackwardError(
                f"input {i} (shape {x.shape}) was not used to compute the outputs; pass allow_unused=True"
            )
        if g is not None and g.shape != x.shape:
            result[i] = _sum_to(g, x.shape, "grad")
    return tuple(result)
