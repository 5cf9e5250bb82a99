"""``autograd.tape()``: a printable list of the ops (and, optionally, the backward steps) a block runs."""
from __future__ import annotations

import itertools
from contextlib import contextmanager

import numpy as np

from .. import _backend as B
from .grad_mode import _state

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


def record_forward(cls, op, inputs, outs):
    """Add an op that just ran to every open tape of this thread (``op`` is None when not recorded)."""
    outs_t = outs if type(outs) is tuple else (outs,)
    entry = TapeEntry(
        -1 if op is None else op.seq, cls.__name__, [t.shape for t in inputs], [t.shape for t in outs_t],
        op is not None,
    )
    for rec in _state.recorders:
        rec.append(entry)


@contextmanager
def watching_backward():
    """Around one backward: yields this thread's ``tape(backward=True)`` recorders (or None) and takes
    them off the open list meanwhile, so that the ops backward formulas run are not listed as forward
    ops.  Other threads' tapes are not touched."""
    recorders = _state.recorders
    watching = [r for r in recorders if r.backward is not None] if recorders else None
    if not watching:
        yield None
        return
    _state.recorders = tuple(r for r in recorders if r.backward is None)
    try:
        yield watching
    finally:
        _state.recorders = (*_state.recorders, *watching)


def _receiver(x, names):
    if x.grad_fn is not None:
        return f"{x.grad_fn.name} #{x.grad_fn.seq}"
    return (names or {}).get(id(x), "leaf")


def record_backward(recorders, node, grads, inputs, input_grads):
    grads_in = [None if g is None else (tuple(g.shape), _norm(g.data)) for g in grads]
    for rec in recorders:
        grads_out = [None if gx is None or not x.requires_grad else
                     (tuple(x.shape), _norm(gx.data), _receiver(x, rec._names)) for x, gx in zip(inputs, input_grads)]
        rec.backward.append(BackwardEntry(node.seq, node.name, grads_in, grads_out))
