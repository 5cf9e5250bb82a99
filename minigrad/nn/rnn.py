"""Recurrent layers: RNN, GRU and LSTM cells, and multi-layer (bidirectional) layers built from them.

A recurrent layer reads a sequence ``x_1 .. x_T`` one step at a time and
carries a hidden state: ``h_t = cell(x_t, h_{t-1})``.  The layers here *unroll*
that loop with ordinary minigrad ops, so backpropagation through time (BPTT)
needs no code of its own: it is reverse-mode autograd through the unrolled
graph.  Truncated BPTT is the usual pattern: run a chunk, backward, detach
the state, run the next chunk with it.

How the code is layered (read it in this order):

1. The cell math, one function per cell kind (:func:`rnn_step`,
   :func:`gru_step`, :func:`gru_textbook_step`, :func:`lstm_step`).  Each
   takes ``gi``, the input's contribution ``x_t W_ih^T + b_in`` (all gates side
   by side), and the previous state, and computes every gate of the step from
   one product ``h W_hh^T``.
2. The cell kinds (:class:`CellKind`: tanh/ReLU RNN, the two GRU forms,
   LSTM): each owns, in one place, how its two biases fold into one, the
   step of the unrolled path and its fused op.  Everything below dispatches
   through a kind, once.
3. The functional cells (:func:`rnn_tanh_cell`, :func:`gru_cell`,
   :func:`lstm_cell`, PyTorch's ``torch.*_cell`` signatures), the cell
   modules (:class:`RNNCell`, :class:`GRUCell`, :class:`LSTMCell`): one step;
   and the functional fused layers (:func:`rnn_layer`, :func:`gru_layer`,
   :func:`lstm_layer`): one direction over a whole sequence.
4. :func:`run_direction`: one direction of one layer over a whole sequence.
   The input projections of all steps are computed in one matmul before the
   loop (they do not depend on the state), then the loop calls the step
   function.  This is the readable path (``fused=False``).
5. :class:`RNNBase` (:class:`RNN`, :class:`GRU`, :class:`LSTM`): layers,
   directions, dropout between layers, variable lengths, shapes.

Fused or unrolled: the layers take ``fused=`` (default True).  Fused, each
(layer, direction) is ONE op of :mod:`minigrad.ops.rnn_fused` with a
hand-written forward and BPTT loop over preallocated buffers: several times
faster, same results (to rounding), first-order gradients only
(``create_graph=True`` raises a clear error).  ``fused=False`` runs the
unrolled graph of this module: slower, but every step is ordinary ops, so
second-order gradients work and it is the place to read how the cells work.
Setting ``keep_states`` (used by :func:`minigrad.utils.gradient_flow`) falls
back to the unrolled path, which has per-step states to probe.

Shapes follow PyTorch (``B`` batch, ``T`` sequence length, ``D`` = 2 if
bidirectional else 1, ``L`` layers): input ``(T, B, H_in)`` (``(B, T, H_in)``
with ``batch_first=True``, ``(T, H_in)`` unbatched); output ``(T, B, D*H)``;
``h_0``/``h_n`` (and LSTM's ``c_0``/``c_n``) ``(D*L, B, H)``, ordered layer 0
forward, layer 0 reverse, layer 1 forward, ...  Parameters are named as in
PyTorch (``weight_ih_l0``, ``bias_hh_l1_reverse``...), gates stacked in rows in
PyTorch's order (LSTM ``i, f, g, o``; GRU ``r, z, n``), so a PyTorch state dict
converted to NumPy loads unchanged.
"""
from __future__ import annotations

import abc
import math
import numbers
import warnings

import numpy as np

from .. import _backend as B
from ._checks import check_lengths, check_like, check_tensor
from ..ops._common import constant
from ..ops.pointwise import relu, sigmoid, tanh, where
from ..ops.rnn_fused import GRULayerOp, LSTMLayerOp, RNNLayerOp, input_projection
from ..ops.shape import cat, pad, stack
from .module import Module, Parameter
from .utils.rnn import PackedSequence, _pack, pad_packed_sequence

__all__ = ["RNNCellBase", "RNNCell", "GRUCell", "LSTMCell", "RNNBase", "RNN", "GRU", "LSTM"]

#: The default of the layers' ``fused=`` switch.
FUSED_DEFAULT = True

#: While :func:`minigrad.utils.record_gates` or :func:`minigrad.utils.draw_unrolled` runs: the object told
#: which (layer, direction) runs (``key``), when each step begins (``begin(t)``) and what its gates are
#: (``note(**gates)``).  None otherwise (one check per step).
_step_watch = None


# ----------------------------------------------------------------------------- the cell math
def rnn_step(gi, h, w_hh_t, nonlinearity="tanh"):
    """One step of the Elman RNN, given the input projection ``gi``.

    ``h' = act(gi + h W_hh^T)`` with ``gi = x W_ih^T + b_ih + b_hh`` and ``act``
    tanh or relu.  Shapes: ``gi`` (B, H), ``h`` (B, H), ``w_hh_t`` = W_hh^T
    (H, H).  Returns ``h'`` (B, H).
    """
    pre = gi + h @ w_hh_t
    return tanh(pre) if nonlinearity == "tanh" else relu(pre)


def lstm_step(gi, state, w_hh_t):
    """One LSTM step, given the input projection ``gi`` (B, 4H) and ``state = (h, c)``.

    ``gi = x W_ih^T + b_ih + b_hh`` (both biases act once per step, so they are
    folded into one).  With ``[.]_k`` the k-th quarter of ``gi + h W_hh^T``::

        i  = sigmoid([.]_i)       input gate: how much of the candidate to write
        f  = sigmoid([.]_f)       forget gate: how much of the old cell to keep
        g  = tanh([.]_g)          candidate cell values
        o  = sigmoid([.]_o)       output gate: how much of the cell to show
        c' = f * c + i * g
        h' = o * tanh(c')

    The cell ``c`` is updated by addition, so dc'/dc = f: the gradient along
    the cell is only scaled by the forget gate, which is why LSTMs can carry
    gradients over long distances.  ``w_hh_t`` = W_hh^T (H, 4H).  Returns
    ``(h', c')``, each (B, H).
    """
    h, c = state
    gates = gi + h @ w_hh_t
    i, f, g, o = gates.chunk(4, dim=-1)
    i, f, g, o = sigmoid(i), sigmoid(f), tanh(g), sigmoid(o)
    c_new = f * c + i * g
    h_new = o * tanh(c_new)
    if _step_watch is not None:
        _step_watch.note(input=i, forget=f, cell=g, output=o, c=c_new)
    return h_new, c_new


def gru_step(gi, h, w_hh_t, b_hn=None):
    """One GRU step in PyTorch's (cuDNN's) form, given the input projection ``gi`` (B, 3H).

    With ``gi = [i_r, i_z, i_n]`` (``b_hr`` and ``b_hz`` folded into ``i_r``
    and ``i_z``) and ``h W_hh^T = [h_r, h_z, h_n]``::

        r  = sigmoid(i_r + h_r)             reset gate
        z  = sigmoid(i_z + h_z)             update gate: how much of the old state to keep
        n  = tanh(i_n + r * (h_n + b_hn))   candidate state (reset applied after W_hn h + b_hn)
        h' = (1 - z) * n + z * h

    All three recurrent products come from one ``h @ W_hh^T``.  ``w_hh_t`` =
    W_hh^T (H, 3H), ``b_hn`` (H,) or None.  Returns ``h'`` (B, H).
    """
    gh = h @ w_hh_t
    i_r, i_z, i_n = gi.chunk(3, dim=-1)
    h_r, h_z, h_n = gh.chunk(3, dim=-1)
    if b_hn is not None:
        h_n = h_n + b_hn
    r = sigmoid(i_r + h_r)
    z = sigmoid(i_z + h_z)
    n = tanh(i_n + r * h_n)
    if _step_watch is not None:
        _step_watch.note(reset=r, update=z, candidate=n)
    return (1.0 - z) * n + z * h


def gru_textbook_step(gi, h, w_hrz_t, w_hn_t):
    """One GRU step in the textbook form (``reset_after=False``): the reset gate acts on ``h``.

    With ``gi = [i_r, i_z, i_n]`` (every recurrent bias folded in: each acts
    once per step, outside the products)::

        r  = sigmoid(i_r + h W_hr^T)
        z  = sigmoid(i_z + h W_hz^T)
        n  = tanh(i_n + (r * h) W_hn^T)
        h' = (1 - z) * n + z * h

    ``n`` needs ``r`` first, so this form takes two recurrent products per
    step: ``w_hrz_t`` = [W_hr; W_hz]^T (H, 2H) and ``w_hn_t`` = W_hn^T (H, H).
    Returns ``h'`` (B, H).
    """
    grz = h @ w_hrz_t
    i_r, i_z, i_n = gi.chunk(3, dim=-1)
    h_r, h_z = grz.chunk(2, dim=-1)
    r = sigmoid(i_r + h_r)
    z = sigmoid(i_z + h_z)
    n = tanh(i_n + (r * h) @ w_hn_t)
    if _step_watch is not None:
        _step_watch.note(reset=r, update=z, candidate=n)
    return (1.0 - z) * n + z * h


# ----------------------------------------------------------------------------- the cell kinds
def _added(a, b):
    """``a + b``, or whichever of them is not None."""
    if a is None or b is None:
        return b if a is None else a
    return a + b


class CellKind(abc.ABC):
    """One kind of built-in recurrent cell, in one place: its biases, its step and its fused op.

    The layers (:class:`RNN`, :class:`GRU`, :class:`LSTM`), the functional
    cells and the functional layers all run a cell through its kind:

    * :meth:`fold_biases` turns ``(b_ih, b_hh)`` into ``(b_in, b_rec)``:
      ``b_in`` joins the input projection, computed once for all steps;
      ``b_rec`` is what must stay inside the step (None for every kind but
      PyTorch's GRU).  Both paths use the folded biases (as ordinary ops, so
      the gradients reach ``b_ih`` and ``b_hh`` through them).
    * :meth:`step` gives the unrolled path's ``step(gi_t, state)``.
    * :meth:`fused` runs one direction over a whole sequence as one op of
      :mod:`minigrad.ops.rnn_fused`.
    """

    mode = None  #: PyTorch's name of the kind (``RNNBase.mode``)
    label = None  #: its name in drawings (:func:`minigrad.utils.draw_unrolled`)
    num_gates = 1  #: G: the gates stacked in the rows of ``weight_ih``/``weight_hh``

    def fold_biases(self, b_ih, b_hh):
        """``(b_in, b_rec)``.  By default every recurrent bias acts once per step, outside the products,
        so all of ``b_hh`` folds into the input bias."""
        return _added(b_ih, b_hh), None

    @abc.abstractmethod
    def step(self, w_hh, b_rec):
        """``step(gi_t, state) -> new state`` with the recurrent weights ``w_hh`` (G*H, H) bound."""

    @abc.abstractmethod
    def fused(self, x, state, w_ih, w_hh, b_in, b_rec, *, reverse, running):
        """``(output (T, B, H), final state)``: one direction over ``x`` (T, B, I) as one op.

        ``running``: None, or a (T, B, 1) bool array on ``x``'s device, True while a sequence runs."""

    def __repr__(self):
        return f"<{self.label} cell>"


class ElmanKind(CellKind):
    """The Elman RNN, ``h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh)``, act tanh or relu."""

    def __init__(self, nonlinearity):
        self.nonlinearity = nonlinearity
        self.mode = "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU"
        self.label = "tanh RNN" if nonlinearity == "tanh" else "ReLU RNN"

    def step(self, w_hh, b_rec):
        w_hh_t, act = w_hh.T, self.nonlinearity  # transpose once, not once per step

        def step(gi, h):
            return rnn_step(gi, h, w_hh_t, act)

        return step

    def fused(self, x, state, w_ih, w_hh, b_in, b_rec, *, reverse, running):
        biases = () if b_in is None else (b_in,)
        return RNNLayerOp.apply(x, state, w_ih, w_hh, *biases, nonlinearity=self.nonlinearity, reverse=reverse,
                                running=running)


class GRUKind(CellKind):
    """The GRU, PyTorch's form (``reset_after=True``) or the textbook form."""

    mode = label = "GRU"
    num_gates = 3

    def __init__(self, reset_after):
        self.reset_after = reset_after

    def fold_biases(self, b_ih, b_hh):
        if not self.reset_after or b_hh is None:  # textbook: b_hn is added outside (r * h) W_hn^T
            return super().fold_biases(b_ih, b_hh)
        hidden = b_hh.shape[0] // 3
        b_hrz, b_hn = b_hh.split([2 * hidden, hidden], dim=0)  # b_hn sits inside r * (...): it stays
        return _added(b_ih, pad(b_hrz, (0, hidden))), b_hn

    def step(self, w_hh, b_rec):
        if self.reset_after:
            w_hh_t = w_hh.T

            def step(gi, h):
                return gru_step(gi, h, w_hh_t, b_rec)

            return step
        hidden = w_hh.shape[1]
        w_hrz, w_hn = w_hh.split([2 * hidden, hidden], dim=0)
        w_hrz_t, w_hn_t = w_hrz.T, w_hn.T

        def textbook_step(gi, h):
            return gru_textbook_step(gi, h, w_hrz_t, w_hn_t)

        return textbook_step

    def fused(self, x, state, w_ih, w_hh, b_in, b_rec, *, reverse, running):
        biases = tuple(b for b in (b_in, b_rec) if b is not None)
        return GRULayerOp.apply(x, state, w_ih, w_hh, *biases, reset_after=self.reset_after, reverse=reverse,
                                running=running)


class LSTMKind(CellKind):
    """The LSTM; its state is the pair ``(h, c)``."""

    mode = label = "LSTM"
    num_gates = 4

    def step(self, w_hh, b_rec):
        w_hh_t = w_hh.T

        def step(gi, state):
            return lstm_step(gi, state, w_hh_t)

        return step

    def fused(self, x, state, w_ih, w_hh, b_in, b_rec, *, reverse, running):
        biases = () if b_in is None else (b_in,)
        out, h_n, c_n = LSTMLayerOp.apply(x, *state, w_ih, w_hh, *biases, reverse=reverse, running=running)
        return out, (h_n, c_n)


ELMAN_KINDS = {"tanh": ElmanKind("tanh"), "relu": ElmanKind("relu")}
GRU_KINDS = {True: GRUKind(True), False: GRUKind(False)}  # by reset_after
LSTM_KIND = LSTMKind()


def _elman_kind(name, nonlinearity):
    if nonlinearity not in ELMAN_KINDS:
        raise ValueError(f"{name}: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
    return ELMAN_KINDS[nonlinearity]


# ----------------------------------------------------------------------------- functional cells
def _cell_step(kind, input, hx, w_ih, w_hh, b_ih, b_hh):
    """One step of ``kind``: fold the biases, project the input, run the step."""
    b_in, b_rec = kind.fold_biases(b_ih, b_hh)
    return kind.step(w_hh, b_rec)(input_projection(input, w_ih, b_in), hx)


def rnn_tanh_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):
    """One tanh RNN step: ``h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)``.

    ``input`` (B, H_in), ``hx`` (B, H), ``w_ih`` (H, H_in), ``w_hh`` (H, H),
    biases (H,) or None.  Returns ``h'`` (B, H).
    """
    return _cell_step(ELMAN_KINDS["tanh"], input, hx, w_ih, w_hh, b_ih, b_hh)


def rnn_relu_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):
    """One ReLU RNN step: ``h' = relu(x W_ih^T + b_ih + h W_hh^T + b_hh)`` (shapes as :func:`rnn_tanh_cell`)."""
    return _cell_step(ELMAN_KINDS["relu"], input, hx, w_ih, w_hh, b_ih, b_hh)


def gru_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None, reset_after=True):
    """One GRU step (equations in :func:`gru_step`, or :func:`gru_textbook_step` if not ``reset_after``).

    ``input`` (B, H_in), ``hx`` (B, H), ``w_ih`` (3H, H_in), ``w_hh`` (3H, H),
    biases (3H,) or None; gates in rows in the order r, z, n.  Returns ``h'`` (B, H).
    """
    return _cell_step(GRU_KINDS[bool(reset_after)], input, hx, w_ih, w_hh, b_ih, b_hh)


def lstm_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):
    """One LSTM step (equations in :func:`lstm_step`); ``hx = (h, c)``.

    ``input`` (B, H_in), ``h``/``c`` (B, H), ``w_ih`` (4H, H_in), ``w_hh``
    (4H, H), biases (4H,) or None; gates in rows in the order i, f, g, o.
    Returns ``(h', c')``.
    """
    if not isinstance(hx, (tuple, list)) or len(hx) != 2:  # a Tensor would split into its rows
        raise TypeError(f"lstm_cell: hx must be a tuple (h, c), got {type(hx).__name__}")
    return _cell_step(LSTM_KIND, input, tuple(hx), w_ih, w_hh, b_ih, b_hh)


# ----------------------------------------------------------------------------- functional fused layers
def _running(lengths, steps):
    """The (steps, B) bool table of validated ``lengths`` (True while sequence b still runs at step t), or
    None when every sequence runs every step."""
    if lengths is None:
        return None
    running = np.arange(steps)[:, None] < lengths[None, :]
    return None if running.all() else running


def _fused_mask(running, like):
    """The running table as the fused ops take it: (T, B, 1) on ``like``'s device, or None."""
    if running is None:
        return None
    return B.to_device(np.ascontiguousarray(running[:, :, None]), like.device)


def _step_masks(running, like):
    """The running table as :func:`run_direction` takes it: per step, None (every sequence runs) or a
    (B, 1) bool array on ``like``'s device; or None."""
    if running is None:
        return None
    on_device = _fused_mask(running, like)  # one copy to the device, not one per step
    return [None if r.all() else on_device[t] for t, r in enumerate(running)]


def _check_layer_args(name, gates, x, states, w_ih, w_hh, b_ih, b_hh):
    """Clear errors for the functional layers: shapes, dtypes and devices, named."""
    named = [("input", x)] + list(states) + [("w_ih", w_ih), ("w_hh", w_hh)]
    if (b_ih is None) != (b_hh is None):
        raise ValueError(f"{name}: give both b_ih and b_hh, or neither")
    if b_ih is not None:
        named += [("b_ih", b_ih), ("b_hh", b_hh)]
    for what, t in named:
        check_tensor(t, name, what)
    if x.ndim != 3:
        raise ValueError(f"{name}: expected input of shape (seq_len, batch, input_size), got {tuple(x.shape)}")
    steps, batch, n_in = x.shape
    if w_hh.ndim != 2 or w_hh.shape[0] != gates * w_hh.shape[1]:
        raise ValueError(f"{name}: expected w_hh of shape ({gates}*hidden, hidden), got {tuple(w_hh.shape)}")
    hidden = w_hh.shape[1]
    expected = {"w_ih": (gates * hidden, n_in), "b_ih": (gates * hidden,), "b_hh": (gates * hidden,)}
    for what, t in named:
        if what in expected and tuple(t.shape) != expected[what]:
            raise ValueError(f"{name}: expected {what} of shape {expected[what]} for input {tuple(x.shape)} "
                             f"and hidden size {hidden}, got {tuple(t.shape)}")
    for what, t in states:
        if tuple(t.shape) != (batch, hidden):
            raise ValueError(f"{name}: expected {what} of shape {(batch, hidden)} (batch, hidden) for input "
                             f"{tuple(x.shape)}, got {tuple(t.shape)}")
    if steps == 0 or batch == 0:
        raise ValueError(f"{name}: got an empty input of shape {tuple(x.shape)}")
    for what, t in named:
        if t.dtype != x.dtype or t.dtype.kind != "f":
            raise TypeError(f"{name}: every tensor must have the input's floating dtype {x.dtype}; "
                            f"{what} is {t.dtype}")
        if t.device != x.device:
            raise B.DeviceError(f"{name}: input is on {x.device} but {what} is on {t.device}")
    return steps, batch


def _fused_layer(name, kind, input, states, w_ih, w_hh, b_ih, b_hh, reverse, lengths):
    """Check the arguments, fold the biases and run ``kind``'s fused op (``states``: ``[(name, tensor)]``)."""
    steps, batch = _check_layer_args(name, kind.num_gates, input, states, w_ih, w_hh, b_ih, b_hh)
    running = _running(None if lengths is None else check_lengths(name, lengths, steps, batch), steps)
    b_in, b_rec = kind.fold_biases(b_ih, b_hh)
    state = tuple(t for _, t in states) if len(states) > 1 else states[0][1]
    return kind.fused(input, state, w_ih, w_hh, b_in, b_rec, reverse=bool(reverse),
                      running=_fused_mask(running, input))


def rnn_layer(input, hx, w_ih, w_hh, b_ih=None, b_hh=None, *, nonlinearity="tanh", reverse=False, lengths=None):
    """One direction of an Elman RNN layer over a whole sequence, fused
    (:class:`minigrad.ops.rnn_fused.RNNLayerOp`).

    ``input`` (T, B, I), ``hx`` (B, H), ``w_ih`` (H, I), ``w_hh`` (H, H),
    biases (H,) or None; ``nonlinearity`` 'tanh' or 'relu'; ``reverse``: run
    from the last step to the first; ``lengths``: one int per batch element
    (padded steps keep the state, their outputs are zero).  Returns
    ``(output (T, B, H), h_n (B, H))``.  First-order gradients only.
    """
    kind = _elman_kind("rnn_layer", nonlinearity)
    return _fused_layer("rnn_layer", kind, input, [("hx", hx)], w_ih, w_hh, b_ih, b_hh, reverse, lengths)


def gru_layer(input, hx, w_ih, w_hh, b_ih=None, b_hh=None, *, reset_after=True, reverse=False, lengths=None):
    """One direction of a GRU layer over a whole sequence, fused
    (:class:`minigrad.ops.rnn_fused.GRULayerOp`).

    ``input`` (T, B, I), ``hx`` (B, H), ``w_ih`` (3H, I), ``w_hh`` (3H, H),
    biases (3H,) or None (gates r, z, n); ``reset_after`` as in
    :class:`minigrad.nn.GRU`; ``reverse``/``lengths`` as in :func:`rnn_layer`.
    Returns ``(output (T, B, H), h_n (B, H))``.  First-order gradients only.
    """
    kind = GRU_KINDS[bool(reset_after)]
    return _fused_layer("gru_layer", kind, input, [("hx", hx)], w_ih, w_hh, b_ih, b_hh, reverse, lengths)


def lstm_layer(input, hx, w_ih, w_hh, b_ih=None, b_hh=None, *, reverse=False, lengths=None):
    """One direction of an LSTM layer over a whole sequence, fused
    (:class:`minigrad.ops.rnn_fused.LSTMLayerOp`).

    ``input`` (T, B, I), ``hx = (h0, c0)`` each (B, H), ``w_ih`` (4H, I),
    ``w_hh`` (4H, H), biases (4H,) or None (gates i, f, g, o);
    ``reverse``/``lengths`` as in :func:`rnn_layer`.  Returns
    ``(output (T, B, H), (h_n, c_n))``.  First-order gradients only.
    """
    if not isinstance(hx, (tuple, list)) or len(hx) != 2:
        raise TypeError(f"lstm_layer: hx must be a tuple (h0, c0), got {type(hx).__name__}")
    states = [("h0", hx[0]), ("c0", hx[1])]
    return _fused_layer("lstm_layer", LSTM_KIND, input, states, w_ih, w_hh, b_ih, b_hh, reverse, lengths)


# ----------------------------------------------------------------------------- checks shared by cells and layers
def _zeros_state(like, shape):
    """A constant zero state of ``shape`` with ``like``'s dtype and device."""
    return constant(B.xp_of(like.data).zeros(shape, dtype=like.dtype))


def _init_uniform(module, hidden_size):
    """PyTorch's init for recurrent layers: every parameter ~ U(-1/sqrt(H), 1/sqrt(H))."""
    bound = 1.0 / math.sqrt(hidden_size)
    rng = B.rng()
    for p in module.parameters():
        p.data[...] = B.to_device(rng.uniform(-bound, bound, p.shape).astype(p.dtype), p.device)
        p._bump_version()


# ----------------------------------------------------------------------------- cell modules
class RNNCellBase(Module):
    """Shared parts of the cells: parameters ``weight_ih`` (G*H, H_in), ``weight_hh`` (G*H, H),
    ``bias_ih``/``bias_hh`` (G*H,) for G gates, PyTorch's init, input checks."""

    num_gates = 1

    def __init__(self, input_size, hidden_size, bias=True):
        super().__init__()
        _check_sizes(type(self).__name__, input_size, hidden_size)
        self.input_size, self.hidden_size, self.bias = int(input_size), int(hidden_size), bool(bias)
        rows = self.num_gates * self.hidden_size
        self.weight_ih = Parameter(np.empty((rows, self.input_size), dtype=np.float32))
        self.weight_hh = Parameter(np.empty((rows, self.hidden_size), dtype=np.float32))
        if self.bias:
            self.bias_ih = Parameter(np.empty(rows, dtype=np.float32))
            self.bias_hh = Parameter(np.empty(rows, dtype=np.float32))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self):
        """Draw every parameter from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)), as PyTorch."""
        _init_uniform(self, self.hidden_size)

    def extra_repr(self):
        text = f"{self.input_size}, {self.hidden_size}"
        if not self.bias:
            text += ", bias=False"
        return text

    def _check_input(self, input):
        """Return (input as (B, H_in), batched?)."""
        name = type(self).__name__
        check_tensor(input, name, "input")
        if input.ndim not in (1, 2) or input.shape[-1] != self.input_size:
            raise ValueError(
                f"{name}: expected input of shape (batch, {self.input_size}) or ({self.input_size},) "
                f"(input_size={self.input_size}), got {tuple(input.shape)}"
            )
        check_like(name, "input", input, self.weight_ih)
        batched = input.ndim == 2
        return (input if batched else input.unsqueeze(0)), batched

    def _check_state(self, state, what, x, batched):
        """A given state as (B, H), or zeros when None."""
        name = type(self).__name__
        batch = x.shape[0]
        if state is None:
            return _zeros_state(x, (batch, self.hidden_size))
        check_tensor(state, name, what)
        expected = (batch, self.hidden_size) if batched else (self.hidden_size,)
        if tuple(state.shape) != expected:
            raise ValueError(
                f"{name}: expected {what} of shape {expected} for input of shape "
                f"{(batch, self.input_size) if batched else (self.input_size,)}, got {tuple(state.shape)}"
            )
        check_like(name, what, state, self.weight_hh)
        return state if batched else state.unsqueeze(0)


class RNNCell(RNNCellBase):
    """One step of an Elman RNN: ``h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)`` (or relu).

    ``forward(input, hx=None)``: input (B, H_in) or (H_in,), hx (B, H) or (H,)
    (zeros if None); returns h' of hx's shape.  Parameters ``weight_ih``
    (H, H_in), ``weight_hh`` (H, H), ``bias_ih``, ``bias_hh`` (H,).
    """

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh"):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        super().__init__(input_size, hidden_size, bias)
        self.nonlinearity = nonlinearity

    def extra_repr(self):
        text = super().extra_repr()
        return text + (f", nonlinearity={self.nonlinearity!r}" if self.nonlinearity != "tanh" else "")

    def forward(self, input, hx=None):
        x, batched = self._check_input(input)
        h = self._check_state(hx, "hx", x, batched)
        cell = rnn_tanh_cell if self.nonlinearity == "tanh" else rnn_relu_cell
        h_new = cell(x, h, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        return h_new if batched else h_new.squeeze(0)


class GRUCell(RNNCellBase):
    """One GRU step; gates r, z, n stacked in rows of ``weight_ih`` (3H, H_in) and ``weight_hh`` (3H, H).

    ``reset_after=True`` (PyTorch/cuDNN)::

        r  = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
        z  = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
        n  = tanh(W_in x + b_in + r * (W_hn h + b_hn))
        h' = (1 - z) * n + z * h

    ``reset_after=False`` (textbook): ``n = tanh(W_in x + b_in + W_hn (r * h) + b_hn)``.

    ``forward(input, hx=None)``: input (B, H_in) or (H_in,), hx (B, H) or (H,)
    (zeros if None); returns h'.
    """

    num_gates = 3

    def __init__(self, input_size, hidden_size, bias=True, reset_after=True):
        super().__init__(input_size, hidden_size, bias)
        self.reset_after = bool(reset_after)

    def extra_repr(self):
        return super().extra_repr() + ("" if self.reset_after else ", reset_after=False")

    def forward(self, input, hx=None):
        x, batched = self._check_input(input)
        h = self._check_state(hx, "hx", x, batched)
        h_new = gru_cell(x, h, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh, self.reset_after)
        return h_new if batched else h_new.squeeze(0)


class LSTMCell(RNNCellBase):
    """One LSTM step; gates i, f, g, o stacked in rows of ``weight_ih`` (4H, H_in) and ``weight_hh`` (4H, H)::

        i  = sigmoid(W_ii x + b_ii + W_hi h + b_hi)
        f  = sigmoid(W_if x + b_if + W_hf h + b_hf)
        g  = tanh(W_ig x + b_ig + W_hg h + b_hg)
        o  = sigmoid(W_io x + b_io + W_ho h + b_ho)
        c' = f * c + i * g
        h' = o * tanh(c')

    ``forward(input, hx=None)``: input (B, H_in) or (H_in,), ``hx = (h, c)``
    each (B, H) or (H,) (zeros if None); returns ``(h', c')``.
    """

    num_gates = 4

    def forward(self, input, hx=None):
        x, batched = self._check_input(input)
        if hx is None:
            h = c = self._check_state(None, "h", x, batched)
        else:
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise TypeError(f"LSTMCell: hx must be a tuple (h, c), got {type(hx).__name__}")
            h = self._check_state(hx[0], "h", x, batched)
            c = self._check_state(hx[1], "c", x, batched)
        h_new, c_new = lstm_cell(x, (h, c), self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        if not batched:
            return h_new.squeeze(0), c_new.squeeze(0)
        return h_new, c_new


def _check_sizes(name, input_size, hidden_size):
    for what, v in (("input_size", input_size), ("hidden_size", hidden_size)):
        if not isinstance(v, numbers.Integral) or isinstance(v, bool) or v <= 0:
            raise ValueError(f"{name}: {what} must be a positive integer, got {v!r}")


# ----------------------------------------------------------------------------- one direction of one layer
def run_direction(x, state, w_ih, b_ih, step, masks=None, reverse=False, per_step=None):
    """Run one direction of one recurrent layer over a whole sequence (the unrolled loop).

    ``x``: (T, B, H_in), time first.  ``state``: the initial state, h0 (B, H)
    or LSTM's (h0, c0).  ``w_ih`` (G*H, H_in) and ``b_ih`` (G*H,) or None:
    the input weights.  ``step(gi_t, state) -> new state``: the cell math with
    its recurrent weights bound.  ``masks``: None, or a list of T entries, each
    None (every sequence is still running at that step) or a constant boolean
    array (B, 1), True for the sequences that are.  ``reverse``: run from the
    last step to the first.  ``per_step``: None, or ``per_step(t) -> (w_ih,
    b_ih, step)`` giving each time step its own weights (then ``w_ih``,
    ``b_ih`` and ``step`` are ignored): the unrolled network with a separate
    copy of the weights per step, which :func:`minigrad.utils.bptt_contributions`
    uses to see each step's share of the gradient.

    Padded steps keep the state (``where(mask, new, old)``) and output zeros,
    so a reverse pass starts at each sequence's own last step.

    Returns ``(output, final_state, step_states)``: ``output`` (T, B, H) with
    ``output[t]`` the hidden state after step t; the state after the last
    step run; and the list of those T hidden-state tensors in time order (the
    graph nodes a gradient-flow probe can call ``retain_grad()`` on).
    """
    steps, batch = x.shape[0], x.shape[1]
    if per_step is None:
        # The input's contribution does not depend on the state: one big matmul for all steps, then
        # one unbind (one graph node; x[t] per step would make backward cost O(T^2)).
        gi = input_projection(x.reshape(steps * batch, x.shape[2]), w_ih, b_ih)
        gi_steps = gi.reshape(steps, batch, gi.shape[-1]).unbind(0)
    else:
        x_steps = x.unbind(0)
    outputs, step_states = [None] * steps, [None] * steps
    for t in (range(steps - 1, -1, -1) if reverse else range(steps)):
        if _step_watch is not None:
            _step_watch.begin(t)
        if per_step is None:
            new_state = step(gi_steps[t], state)
        else:
            w_ih_t, b_ih_t, step_t = per_step(t)
            new_state = step_t(input_projection(x_steps[t], w_ih_t, b_ih_t), state)
        running = masks[t] if masks is not None else None
        if running is not None:  # finished sequences keep their state
            if isinstance(new_state, tuple):
                new_state = tuple(where(running, n, s) for n, s in zip(new_state, state))
            else:
                new_state = where(running, new_state, state)
        state = new_state
        h = state[0] if isinstance(state, tuple) else state
        step_states[t] = h
        outputs[t] = h if running is None else where(running, h, 0.0)
    return stack(outputs, 0), state, step_states


def _dropout_between_layers(x, p):
    """Inverted dropout: zero each element with probability p, scale the rest by 1/(1-p)."""
    if p >= 1.0:
        return x * 0.0
    keep = B.random_module(x.device).random(x.shape) >= p
    return x * constant(keep.astype(x.dtype) * (1.0 / (1.0 - p)))


# ----------------------------------------------------------------------------- the layers
class RNNBase(Module, metaclass=abc.ABCMeta):
    """Multi-layer, optionally bidirectional recurrent layer (the base of :class:`RNN`, :class:`GRU`, :class:`LSTM`).

    ``forward(input, hx=None, *, lengths=None)``:

    * ``input``: (T, B, H_in), or (B, T, H_in) with ``batch_first=True``, or
      (T, H_in) unbatched.
    * ``hx``: initial state(s) (D*L, B, H) ((D*L, H) unbatched); zeros if None.
      LSTM takes ``(h_0, c_0)``.
    * ``lengths``: one int per batch element, any order, 1 <= length <= T.
      Steps past a sequence's length are padding: they do not change its
      state (so ``h_n`` is the state after its last real step), its outputs
      there are zero, and the reverse direction starts at its last real step,
      as with PyTorch's packed sequences.

    Returns ``(output, h_n)`` (LSTM: ``(output, (h_n, c_n))``); ``output``
    (T, B, D*H) (batch first if ``batch_first``) holds the last layer's hidden
    state at every step, both directions concatenated (forward first).

    Between layers, ``dropout`` (in training mode) zeroes elements of each
    layer's output except the last layer's.

    ``keep_states``: set it to True and forward also stores the last layer's
    per-step hidden states (T tensors (B, H), time order) in ``step_states``
    (forward direction) and ``step_states_reverse`` (bidirectional), for
    :func:`minigrad.utils.gradient_flow`, and every layer's in ``step_states_all``
    (``{"l0": [...], "l0_reverse": [...], ...}``) for :func:`minigrad.utils.draw_unrolled`.
    The per-step states exist only on the unrolled path, so a layer with
    ``keep_states`` set runs unrolled.

    ``fused`` (default True): run each (layer, direction) as one fused op
    with a hand-written backward (:mod:`minigrad.ops.rnn_fused`), several
    times faster; first-order gradients only.  ``fused=False``: the unrolled
    graph of ordinary ops (needed for second-order gradients, e.g.
    ``create_graph=True``).  Both give the same results up to rounding.  It
    is a plain attribute: ``layer.fused = False`` switches an existing layer.
    """

    num_gates = 1
    #: The state is a pair (h, c) (LSTM), not one tensor.
    _state_pair = False
    #: Set (on the instance) only while :func:`minigrad.utils.bptt_contributions` runs the layer with one copy
    #: of the weights per step: ``(layer, direction, t) -> {short name: tensor}``.
    _per_step_weights = None

    def __init__(self, mode, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, fused=FUSED_DEFAULT, proj_size=0):
        super().__init__()
        name = type(self).__name__
        _check_sizes(name, input_size, hidden_size)
        if not isinstance(proj_size, numbers.Integral) or isinstance(proj_size, bool) or proj_size < 0:
            raise ValueError(f"{name}: proj_size must be an integer >= 0, got {proj_size!r}")
        if proj_size >= hidden_size:
            raise ValueError(f"{name}: proj_size ({proj_size}) must be smaller than hidden_size ({hidden_size})")
        if not isinstance(num_layers, numbers.Integral) or isinstance(num_layers, bool) or num_layers < 1:
            raise ValueError(f"{name}: num_layers must be an integer >= 1, got {num_layers!r}")
        if not isinstance(dropout, numbers.Real) or isinstance(dropout, bool) or not 0.0 <= dropout <= 1.0:
            raise ValueError(f"{name}: dropout must be a probability in [0, 1], got {dropout!r}")
        if dropout > 0 and num_layers == 1:
            warnings.warn(f"{name}: dropout={dropout} acts between layers only, so it does nothing with "
                          "num_layers=1", stacklevel=3)
        self.mode = mode
        self.input_size, self.hidden_size, self.num_layers = int(input_size), int(hidden_size), int(num_layers)
        self.bias, self.batch_first, self.bidirectional = bool(bias), bool(batch_first), bool(bidirectional)
        self.dropout = float(dropout)
        self.proj_size = int(proj_size)
        self.fused = bool(fused)
        self.keep_states = False
        self.step_states = None
        self.step_states_reverse = None
        self.step_states_all = None
        rows = self.num_gates * self.hidden_size
        num_directions = 2 if self.bidirectional else 1
        for layer in range(self.num_layers):
            layer_input = self.input_size if layer == 0 else self.state_size * num_directions
            for direction in range(num_directions):
                sfx = self._suffix(layer, direction)
                setattr(self, "weight_ih" + sfx, Parameter(np.empty((rows, layer_input), dtype=np.float32)))
                setattr(self, "weight_hh" + sfx, Parameter(np.empty((rows, self.state_size), dtype=np.float32)))
                if self.bias:
                    setattr(self, "bias_ih" + sfx, Parameter(np.empty(rows, dtype=np.float32)))
                    setattr(self, "bias_hh" + sfx, Parameter(np.empty(rows, dtype=np.float32)))
                if self.proj_size:
                    setattr(self, "weight_hr" + sfx,
                            Parameter(np.empty((self.proj_size, self.hidden_size), dtype=np.float32)))
        self.reset_parameters()

    @staticmethod
    def _suffix(layer, direction):
        return f"_l{layer}" + ("_reverse" if direction == 1 else "")

    @property
    def num_directions(self):
        return 2 if self.bidirectional else 1

    @property
    def state_size(self):
        """Size of the hidden state h: ``proj_size`` for a projected LSTM, else ``hidden_size``."""
        return self.proj_size or self.hidden_size

    def reset_parameters(self):
        """Draw every parameter from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)), as PyTorch."""
        _init_uniform(self, self.hidden_size)

    def flatten_parameters(self):
        """No-op (PyTorch packs weights for cuDNN here; minigrad has nothing to pack)."""

    @property
    def all_weights(self):
        """The parameters per (layer, direction): ``[[w_ih, w_hh, b_ih, b_hh], ...]``."""
        out = []
        for layer in range(self.num_layers):
            for direction in range(self.num_directions):
                sfx = self._suffix(layer, direction)
                names = ["weight_ih", "weight_hh"] + (["bias_ih", "bias_hh"] if self.bias else [])
                names += ["weight_hr"] if self.proj_size else []
                out.append([getattr(self, n + sfx) for n in names])
        return out

    def extra_repr(self):
        text = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size:
            text += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            text += f", num_layers={self.num_layers}"
        if not self.bias:
            text += ", bias=False"
        if self.batch_first:
            text += ", batch_first=True"
        if self.dropout:
            text += f", dropout={self.dropout}"
        if self.bidirectional:
            text += ", bidirectional=True"
        if self.fused != FUSED_DEFAULT:
            text += f", fused={self.fused}"
        return text

    # -- what the subclasses define ----------------------------------------------------------------
    @abc.abstractmethod
    def cell_math(self, w_ih, w_hh, b_ih, b_hh):
        """The cell of one (layer, direction), given its weights: returns ``(w_ih, b_in, step)``.

        ``w_ih`` (G*H, H_in) and ``b_in`` (G*H,) or None make the input projection
        ``gi_t = x_t w_ih^T + b_in`` of every step (computed for all steps at once);
        ``step(gi_t, h) -> h'`` is the recurrence, with ``gi_t`` (B, G*H) and ``h`` (B, H)
        (LSTM: ``(h, c)`` pairs).  ``w_hh`` (G*H, H), ``b_ih``, ``b_hh`` (G*H,) or None are the
        parameters to bind into ``step``.  This is the one method a custom cell defines
        (see the guide's "Your own cell"): a subclass with its own ``cell_math`` runs unrolled.
        """

    def _direction_weights(self, layer, direction):
        """``{short name: parameter}`` of one (layer, direction): ``weight_ih``, ``weight_hh`` (and
        ``bias_ih``, ``bias_hh``, ``weight_hr`` when the layer has them)."""
        sfx = self._suffix(layer, direction)
        names = ["weight_ih", "weight_hh"] + (["bias_ih", "bias_hh"] if self.bias else [])
        names += ["weight_hr"] if self.proj_size else []
        return {n: getattr(self, n + sfx) for n in names}

    def _direction(self, layer, direction, weights=None):
        """``(w_ih, b_in, step)`` of one (layer, direction); ``weights`` (as :meth:`_direction_weights`)
        replaces the parameters, e.g. by one copy per time step."""
        w = self._direction_weights(layer, direction) if weights is None else weights
        w_ih, b_in, step = self.cell_math(w["weight_ih"], w["weight_hh"], w.get("bias_ih"), w.get("bias_hh"))
        if "weight_hr" not in w:
            return w_ih, b_in, step
        w_hr_t = w["weight_hr"].T  # an LSTM with projections

        def projected_step(gi, state):
            h, c = step(gi, state)
            return h @ w_hr_t, c  # h_t = (o * tanh(c_t)) W_hr^T

        return w_ih, b_in, projected_step

    def _fused_kind(self):
        """The cell kind whose fused op computes this layer's cell, or None (run unrolled): a subclass
        with its own ``cell_math`` has no fused op; neither has a projected LSTM."""
        if type(self).cell_math is not _BuiltinLayer.cell_math or self.proj_size:
            return None
        return self.cell_kind

    def _fused_direction(self, kind, layer, direction, x, state, running):
        """One (layer, direction) as one fused op: ``(output (T, B, H), final state)``."""
        w = self._direction_weights(layer, direction)
        b_in, b_rec = kind.fold_biases(w.get("bias_ih"), w.get("bias_hh"))
        return kind.fused(x, state, w["weight_ih"], w["weight_hh"], b_in, b_rec, reverse=direction == 1,
                          running=running)

    # -- input checks --------------------------------------------------------------------------
    def _time_major_input(self, input):
        """Return (input as (T, B, H_in), batched?)."""
        name = type(self).__name__
        check_tensor(input, name, "input")
        layout = "(batch, seq_len, input_size)" if self.batch_first else "(seq_len, batch, input_size)"
        if input.ndim not in (2, 3) or input.shape[-1] != self.input_size:
            raise ValueError(
                f"{name}: expected input of shape {layout} or (seq_len, input_size) with "
                f"input_size={self.input_size}, got {tuple(input.shape)}"
            )
        if input.shape[1 if self.batch_first and input.ndim == 3 else 0] == 0:
            raise ValueError(f"{name}: got an input with no time steps (shape {tuple(input.shape)})")
        check_like(name, "input", input, self.weight_ih_l0)
        if input.ndim == 2:
            return input.unsqueeze(1), False
        return (input.transpose(0, 1) if self.batch_first else input), True

    def _initial_states(self, hx, x, batched):
        """The initial state of every (layer, direction), in h_n's order: a list of (B, H) (or pairs)."""
        name = type(self).__name__
        batch = x.shape[1]
        count = self.num_layers * self.num_directions
        if hx is None:
            zero = _zeros_state(x, (batch, self.state_size))
            if not self._state_pair:
                return [zero] * count
            cell_zero = zero if not self.proj_size else _zeros_state(x, (batch, self.hidden_size))
            return [(zero, cell_zero)] * count
        if self._state_pair:
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise TypeError(f"{name}: hx must be a tuple (h_0, c_0), got {type(hx).__name__}")
            hs = self._check_state(hx[0], "h_0", x, batched, self.state_size)
            cs = self._check_state(hx[1], "c_0", x, batched, self.hidden_size)
            return list(zip(hs, cs))
        return self._check_state(hx, "h_0", x, batched, self.hidden_size)

    def _check_state(self, state, what, x, batched, size):
        name = type(self).__name__
        check_tensor(state, name, what)
        count, batch = self.num_layers * self.num_directions, x.shape[1]
        expected = (count, batch, size) if batched else (count, size)
        size_name = "proj_size" if size == self.proj_size else "hidden_size"
        if tuple(state.shape) != expected:
            raise ValueError(
                f"{name}: expected {what} of shape {expected} (num_layers * num_directions, "
                f"{'batch, ' if batched else ''}{size_name}), got {tuple(state.shape)}"
            )
        check_like(name, what, state, self.weight_hh_l0)
        if not batched:
            state = state.unsqueeze(1)
        return list(state.unbind(0))

    def _steps_to_run(self, lengths, x, batched):
        """Check ``lengths``; return (steps to run, the running table of :func:`_running`, or None)."""
        steps, batch = x.shape[0], x.shape[1]
        if lengths is None:
            return steps, None
        name = type(self).__name__
        if not batched:
            raise ValueError(f"{name}: lengths= needs a batched input; got an unbatched input of shape "
                             f"{(steps, self.input_size)}")
        lengths = check_lengths(name, lengths, steps, batch)
        run = int(lengths.max())  # no sequence has a real step after this one
        return run, _running(lengths, run)

    # -- forward -------------------------------------------------------------------------------
    def forward(self, input, hx=None, *, lengths=None):
        if isinstance(input, PackedSequence):
            return self._forward_packed(input, hx, lengths)
        x, batched = self._time_major_input(input)
        steps = x.shape[0]
        states = self._initial_states(hx, x, batched)
        empty = x.shape[1] == 0  # a batch of 0 sequences (PyTorch gives empty outputs): unrolled, no masks
        if empty and lengths is not None:
            check_lengths(type(self).__name__, lengths, steps, 0)
        run, running = (steps, None) if empty else self._steps_to_run(lengths, x, batched)
        if run < steps:  # steps after every sequence's end change nothing: skip them
            x = x[:run]
        # keep_states, per-step weights and the step watch need the unrolled path's steps; a custom cell
        # and a projected LSTM have no fused op: all of them run unrolled.
        per_step_weights = self._per_step_weights
        kind = None
        if self.fused and not self.keep_states and per_step_weights is None and _step_watch is None and not empty:
            kind = self._fused_kind()
        masks = _step_masks(running, x) if kind is None else _fused_mask(running, x)
        layer_input, finals = x, []
        if self.keep_states:
            self.step_states_all = {}
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(self.num_directions):
                state = states[layer * self.num_directions + direction]
                if kind is not None:
                    out, final = self._fused_direction(kind, layer, direction, layer_input, state, masks)
                    outputs.append(out)
                    finals.append(final)
                    continue
                if _step_watch is not None:
                    _step_watch.key = self._suffix(layer, direction)[1:]
                if per_step_weights is None:
                    w_ih, b_in, step = self._direction(layer, direction)
                    per_step = None
                else:
                    w_ih = b_in = step = None
                    per_step = _bind_per_step(self, per_step_weights, layer, direction)
                out, final, step_states = run_direction(layer_input, state, w_ih, b_in, step, masks,
                                                        reverse=direction == 1, per_step=per_step)
                outputs.append(out)
                finals.append(final)
                if self.keep_states:
                    self.step_states_all[self._suffix(layer, direction)[1:]] = step_states
                if self.keep_states and layer == self.num_layers - 1:
                    setattr(self, "step_states_reverse" if direction == 1 else "step_states", step_states)
            layer_input = outputs[0] if len(outputs) == 1 else cat(outputs, dim=2)
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                layer_input = _dropout_between_layers(layer_input, self.dropout)
        output = layer_input
        if run < steps:
            output = cat([output, _zeros_state(output, (steps - run,) + tuple(output.shape[1:]))], dim=0)
        if self.batch_first and batched:  # unbatched input (T, H_in) has no batch dim to move
            output = output.transpose(0, 1)
        if self._state_pair:
            h_n, c_n = stack([f[0] for f in finals], 0), stack([f[1] for f in finals], 0)
            if not batched:
                return output.squeeze(1), (h_n.squeeze(1), c_n.squeeze(1))
            return output, (h_n, c_n)
        h_n = stack(finals, 0)
        if not batched:
            return output.squeeze(1), h_n.squeeze(1)
        return output, h_n


    def _forward_packed(self, packed, hx, lengths):
        """A PackedSequence in, a PackedSequence out (PyTorch's way of giving lengths): unpack, run with
        ``lengths=``, pack the output in the same order.  ``hx`` and the final states are in the original
        batch order, as in PyTorch."""
        if lengths is not None:
            raise ValueError(f"{type(self).__name__}: a PackedSequence carries its lengths; do not also pass lengths=")
        padded, lengths = pad_packed_sequence(packed, batch_first=self.batch_first)
        output, state = self.forward(padded, hx, lengths=lengths)
        time_major = output.transpose(0, 1) if self.batch_first else output
        sorted_indices = None if packed.sorted_indices is None else B.to_device(packed.sorted_indices.data, "cpu")
        return _pack(time_major, B.to_device(lengths.data, "cpu"), sorted_indices), state


def _bind_per_step(module, weights_at, layer, direction):
    """``per_step(t)`` for :func:`run_direction`: the cell of step t with the weights ``weights_at(layer,
    direction, t)`` gives."""
    def per_step(t):
        return module._direction(layer, direction, weights_at(layer, direction, t))

    return per_step


class _BuiltinLayer(RNNBase):
    """RNN, GRU and LSTM: the cell is a built-in :class:`CellKind` (``cell_kind``), which also has a
    fused op.  A subclass that defines its own ``cell_math`` runs unrolled."""

    @property
    @abc.abstractmethod
    def cell_kind(self):
        """The :class:`CellKind` of this layer's cell."""

    def cell_math(self, w_ih, w_hh, b_ih, b_hh):
        kind = self.cell_kind
        b_in, b_rec = kind.fold_biases(b_ih, b_hh)
        return w_ih, b_in, kind.step(w_hh, b_rec)


class RNN(_BuiltinLayer):
    """Elman RNN layer: ``h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)``, act tanh or relu.

    ``RNN(input_size, hidden_size, num_layers=1, nonlinearity='tanh', bias=True, batch_first=False,
    dropout=0.0, bidirectional=False, fused=True)``; shapes, ``lengths=``, ``fused`` and returns as in
    :class:`RNNBase`: ``output, h_n = rnn(x, h_0)``.  Parameters ``weight_ih_l{k}``
    (H, H_in or D*H), ``weight_hh_l{k}`` (H, H), ``bias_ih_l{k}``, ``bias_hh_l{k}`` (H,).
    """

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, fused=FUSED_DEFAULT):
        kind = _elman_kind("RNN", nonlinearity)
        super().__init__(kind.mode, input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         fused)
        self.nonlinearity = nonlinearity

    @property
    def cell_kind(self):
        return ELMAN_KINDS[self.nonlinearity]

    def extra_repr(self):
        text = super().extra_repr()
        return text + (f", nonlinearity={self.nonlinearity!r}" if self.nonlinearity != "tanh" else "")


class GRU(_BuiltinLayer):
    """GRU layer (equations in :class:`GRUCell`; ``reset_after=False`` for the textbook form).

    ``GRU(input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
    bidirectional=False, reset_after=True, fused=True)``; ``output, h_n = gru(x, h_0)``.
    Parameters ``weight_ih_l{k}`` (3H, H_in or D*H), ``weight_hh_l{k}`` (3H, H),
    biases (3H,), gates in rows in the order r, z, n.
    """

    num_gates = 3

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, reset_after=True, fused=FUSED_DEFAULT):
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         fused)
        self.reset_after = bool(reset_after)

    @property
    def cell_kind(self):
        return GRU_KINDS[self.reset_after]

    def extra_repr(self):
        return super().extra_repr() + ("" if self.reset_after else ", reset_after=False")


class LSTM(_BuiltinLayer):
    """LSTM layer (equations in :class:`LSTMCell`).

    ``LSTM(input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
    bidirectional=False, proj_size=0, fused=True)``; ``output, (h_n, c_n) = lstm(x, (h_0, c_0))``.
    Parameters ``weight_ih_l{k}`` (4H, H_in or D*H), ``weight_hh_l{k}`` (4H, H),
    biases (4H,), gates in rows in the order i, f, g, o.

    ``proj_size = P > 0`` (an LSTM with projections, Sak et al. 2014, as PyTorch): the hidden
    state is projected down, ``h_t = (o_t * tanh(c_t)) W_hr^T`` with ``weight_hr_l{k}`` (P, H),
    so ``h`` and the output have size P (``weight_hh`` is (4H, P), deeper layers take D*P inputs)
    while the cell ``c`` keeps size H.  Projected layers run on the unrolled path.
    """

    num_gates = 4
    cell_kind = LSTM_KIND
    _state_pair = True

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, proj_size=0, fused=FUSED_DEFAULT):
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         fused, proj_size)
