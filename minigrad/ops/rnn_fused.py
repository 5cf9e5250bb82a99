"""Fused recurrent layers: one op runs a whole sequence through one direction of an RNN, GRU or LSTM layer.

minigrad's recurrent layers (:mod:`minigrad.nn.rnn`) run in one of two ways:

* **unrolled** (``fused=False``): every step is a handful of ordinary ops, and
  backpropagation through time (BPTT) is plain reverse-mode autograd through
  the unrolled graph.  Easy to read, differentiable twice, but every step
  records a dozen graph nodes and allocates their temporaries.
* **fused** (``fused=True``, the default): the ops of this module run one
  (layer, direction) over the whole sequence as ONE graph node.  Forward is a
  step loop writing into preallocated buffers; backward is a hand-written
  step loop running the other way.  Both are below, side by side.

How BPTT looks written by hand
------------------------------
Forward computes the input's contribution to every gate for all steps in one
matmul (``X W_ih^T``: it does not depend on the state), then loops over the
steps, adding ``h_{t-1} W_hh^T`` and applying the gate nonlinearities in
place.  It keeps what the derivatives will need: the activated gates of every
step and the state entering every step.

Backward walks the steps in the opposite order, carrying ``dh`` = dL/dh_t,
the *total* derivative of the loss with respect to the state after step t:
the output's gradient at step t plus whatever flowed back from step t+1.
At each step it

1. turns ``dh`` (and the LSTM's ``dc``) into dL/d(pre-activation) of each of
   the step's gates, stored in row t of one (T, B, G*H) array ``dgates``;
2. sends the gradient to the previous state: ``dh_{t-1} = dgates_t W_hh``,
   plus the paths that skip the matmul (the GRU's ``z * dh``, the LSTM's
   ``f * dc``).

The weights are shared by all steps, so their gradients are sums over steps.
That sum is a matmul: after the loop, ONE matmul over all T*B rows gives
``dW_ih = dgates^T X`` and another ``dW_hh = dgates^T H_prev`` (H_prev: the
states entering each step); the bias gradients are column sums of
``dgates`` and ``dX = dgates W_ih``.  The per-cell recurrences are in each
op's docstring.

The ops take the biases already folded by the cell kind that runs them
(``CellKind`` in :mod:`minigrad.nn.rnn`): ``b_in``, added to the input
projection, and for PyTorch's GRU ``b_hn``, which sits inside ``r * (...)``.
Their gradients reach ``b_ih`` and ``b_hh`` through the ordinary ops that
folded them.  The layers check ``lengths=`` and give the ops ``running``, a
(T, B, 1) bool array, True while a sequence still runs.

Variable lengths: a step where a sequence has already ended keeps its state
(``h_t = h_{t-1}`` for that row) and outputs zeros, exactly as the unrolled
path does.  In backward such a row's ``dh`` passes straight to
``dh_{t-1}`` and its gate gradients are zero.  The reverse direction runs
from the last step down, so each sequence's state stays ``h_0`` until its own
last real step: it starts there, as with PyTorch's packed sequences.

The per-step elementwise work of the LSTM and the (``reset_after``) GRU,
forward and backward, is one kernel per step written once in CuPy's
``ElementwiseKernel`` conventions: on CuPy it runs as a CUDA kernel
(:data:`USE_CUDA_KERNELS`), on NumPy as C compiled by the system C compiler
(:mod:`minigrad._cpu_kernels`, :data:`USE_CPU_KERNELS`; off with
``MINIGRAD_CPU_KERNELS=0`` or without a compiler).  Everything else, and the
fallback, is the portable code below, which works on NumPy and CuPy alike.

The backward is written on raw arrays, so it cannot be differentiated again:
``create_graph=True`` through a fused layer raises the engine's clear error.
Second-order gradients need ``fused=False``.

Shapes: ``T`` steps, ``B`` batch, ``I`` input size, ``H`` hidden size, ``G``
gates (RNN 1, GRU 3, LSTM 4), time first.
"""
from __future__ import annotations

import numpy as np

from .. import _backend as B
from .. import _cpu_kernels as _cpu
from ..autograd.engine import Op, Tensor
from ._common import constant, xp_of

__all__ = ["RNNLayerOp", "GRULayerOp", "LSTMLayerOp", "input_projection"]

#: Use the fused CUDA kernels for the LSTM and GRU steps on CuPy arrays (False: the portable path).
USE_CUDA_KERNELS = True
#: Use the same kernels compiled for the CPU on NumPy arrays (False, or MINIGRAD_CPU_KERNELS=0: the portable path).
USE_CPU_KERNELS = True
#: The dtypes that use them.  float64 stays on NumPy: C's double tanh is a library call per element, slower
#: than NumPy's vectorised one (float uses the runner's vectorisable tanh).  The tests run float64 too.
CPU_KERNEL_DTYPES = (np.float32,)


# ----------------------------------------------------------------------------- small helpers
def _sigmoid_(x):
    """In place: ``x <- sigmoid(x) = (1 + tanh(x / 2)) / 2``; the tanh form never overflows."""
    x *= 0.5
    xp_of(x).tanh(x, out=x)
    x += 1.0
    x *= 0.5
    return x


def _step_order(steps, reverse):
    """The time indices in the order the forward loop visits them."""
    return range(steps - 1, -1, -1) if reverse else range(steps)


def _state_buffer(xp, initial, steps, reverse):
    """A (T+1, B, H) buffer holding the initial state and the state after every step.

    Forward direction: ``buf[0] = h_0`` and the state after step t is
    ``buf[t + 1]``.  Reverse direction: ``buf[T] = h_0`` and the state after
    step t is ``buf[t]``.  Either way the states entering and leaving the
    steps are two contiguous (T, B, H) views (see :func:`_entering_and_leaving`).
    """
    buf = xp.empty((steps + 1,) + initial.shape, dtype=initial.dtype)
    buf[steps if reverse else 0] = initial
    return buf


def _entering_and_leaving(buf, reverse):
    """(state entering step t, state after step t) for every t, in time order: two (T, B, H) views of buf."""
    return (buf[1:], buf[:-1]) if reverse else (buf[:-1], buf[1:])


def _final(buf, reverse):
    """The state after the last step run (a copy: the buffer stays private to backward)."""
    return buf[0 if reverse else -1].copy()


class _Masks:
    """The per-step masks of a padded batch (``running``: (T, B, 1) bool, True while a sequence runs)."""

    def __init__(self, running, dtype):
        self.keep = ~running  # rows whose state is carried over unchanged
        self.run_f = running.astype(dtype)  # 1.0 / 0.0, to scale gradients
        self.keep_f = self.keep.astype(dtype)
        # steps where some sequence has ended; steps where all run need no masking at all
        self.partial = B.to_device(self.keep.reshape(running.shape[0], -1).any(axis=1), "cpu").tolist()


def input_projection(x, w_ih, b_in):
    """``x W_ih^T + b_in``: the input's contribution to every gate, side by side, for every row at once.

    ``x`` (..., I), ``w_ih`` (G*H, I), ``b_in`` (G*H,) or None; returns (..., G*H).  It does not depend
    on the state, so both paths compute it for all steps before their step loop: the unrolled layers on
    Tensors (recorded as ordinary ops), the fused ops below on raw arrays.
    """
    gi = x @ w_ih.T
    if b_in is None:
        return gi
    if isinstance(gi, Tensor):
        return gi + b_in
    gi += b_in  # raw arrays: add into the product, no second (T*B, G*H) array
    return gi


def _all_steps_projection(x, w_ih, b_in):
    """:func:`input_projection` of a (T, B, I) array: ``(x as (T*B, I), gates (T, B, G*H))``."""
    steps, batch, n_in = x.shape
    x2 = x.reshape(steps * batch, n_in)
    return x2, input_projection(x2, w_ih, b_in).reshape(steps, batch, w_ih.shape[0])


def _grads_through_input_projection(op, dgates, x2, x_shape, w_ih, x_index, w_index):
    """dX = dgates W_ih and dW_ih = dgates^T X (one matmul each, over all T*B rows); None where not needed."""
    d2 = dgates.reshape(-1, dgates.shape[-1])
    need = op.needs_input_grad
    dx = (d2 @ w_ih).reshape(x_shape) if need[x_index] else None
    dw_ih = d2.T @ x2 if need[w_index] else None
    return dx, dw_ih


def _start_backward(op, grad_out, grad_final, batch_shape, dtype):
    """``(dout, d_out, d_in)``: dL/d(output) with finished rows zeroed, or None; and the gradients of the
    states as two (T, B, H) views of one private (T+1, B, H) buffer, laid out as the states are (see
    :func:`_state_buffer`): ``d_out[t]`` belongs to the state after step t, ``d_in[t]`` to the state
    entering it.  The state after the last step run holds dL/dh_n (zeros when none flows back)."""
    xp = op.xp
    dout = None
    if grad_out is not None:
        dout = grad_out.data if op.masks is None else grad_out.data * op.masks.run_f
    buf = xp.empty((op.steps + 1,) + tuple(batch_shape), dtype=dtype)
    last = 0 if op.reverse else op.steps
    if grad_final is None:
        buf[last] = 0
    else:
        buf[last] = grad_final.data
    d_in, d_out = _entering_and_leaving(buf, op.reverse)
    return dout, d_out, d_in


def _wrap_grads(op, grads):
    """Raw gradient arrays -> constant tensors (None stays None, and so do inputs that need no gradient)."""
    return tuple(None if g is None or not need else constant(g) for g, need in zip(grads, op.needs_input_grad))


# ----------------------------------------------------------------------------- fused kernels (GPU and CPU)
# One source per kernel, in CuPy's ElementwiseKernel conventions: on CuPy arrays it is a CUDA kernel
# (cupy.ElementwiseKernel), on NumPy arrays a C loop compiled by the system C compiler
# (minigrad._cpu_kernels).  Every parameter is elementwise over one step's (B, H) arrays; a gate is a
# (B, H) column block of the (B, G*H) gate rows (a strided view, no copy), the GRU's b_hn an (H,) row
# broadcast over the batch.  Outputs are read before they are written where the gate arrays are updated in
# place.  Sigmoid uses the same tanh form as _sigmoid_.  (``i`` and ``n`` are reserved names in CuPy
# kernels: the candidate gate is called ``cand``; ``do`` is a C keyword: the output gate's gradient is
# ``d_o``.)
_KERNEL_SOURCES = {
    "lstm_forward": (
        "T c_prev",
        "T gi, T gf, T gg, T go, T c_new, T h_new, T tanh_c",
        """
        const T half = 0.5;
        const T in_g = half * tanh(half * gi) + half;
        const T f = half * tanh(half * gf) + half;
        const T g = tanh(gg);
        const T o = half * tanh(half * go) + half;
        gi = in_g; gf = f; gg = g; go = o;
        const T c = f * c_prev + in_g * g;
        const T tc = tanh(c);
        c_new = c; tanh_c = tc; h_new = o * tc;
        """,
    ),
    "lstm_backward": (
        "T in_g, T f, T g, T o, T c_prev, T tanh_c, T dh, T dc",
        "T di, T df, T dg, T d_o, T dc_prev",
        """
        const T dcell = dc + dh * o * (1 - tanh_c * tanh_c);
        di = dcell * g * in_g * (1 - in_g);
        df = dcell * c_prev * f * (1 - f);
        dg = dcell * in_g * (1 - g * g);
        d_o = dh * tanh_c * o * (1 - o);
        dc_prev = dcell * f;
        """,
    ),
    "gru_forward": (
        "T h_prev, T rec_r, T rec_z, T rec_n, T b_hn",
        "T gr, T gz, T gn, T hn, T h_new",
        """
        const T half = 0.5;
        const T r = half * tanh(half * (gr + rec_r)) + half;
        const T z = half * tanh(half * (gz + rec_z)) + half;
        const T hn_v = rec_n + b_hn;
        const T cand = tanh(gn + r * hn_v);
        gr = r; gz = z; gn = cand;
        hn = hn_v;
        h_new = cand + z * (h_prev - cand);
        """,
    ),
    "gru_backward": (
        "T r, T z, T cand, T hn, T h_prev, T dh",
        "T dr_i, T dz_i, T dn_i, T dr_h, T dz_h, T dn_h, T skip",
        """
        const T dn = dh * (1 - z) * (1 - cand * cand);
        const T dz = dh * (h_prev - cand) * z * (1 - z);
        const T dr = dn * hn * r * (1 - r);
        dr_i = dr; dz_i = dz; dn_i = dn;
        dr_h = dr; dz_h = dz; dn_h = dn * r;
        skip = dh * z;
        """,
    ),
}
_kernels = {}
_cpu_kernel_cache = {}


def _cuda_kernels(xp, dtype):
    """The kernels (name -> ElementwiseKernel) when running on CuPy with float32/64, else None.

    Built on first use and cached (CuPy compiles each once per dtype).
    """
    if xp is np or not USE_CUDA_KERNELS or dtype not in (np.float32, np.float64):
        return None
    if not _kernels:
        for name, (params_in, params_out, body) in _KERNEL_SOURCES.items():
            _kernels[name] = xp.ElementwiseKernel(params_in, params_out, body, "minigrad_" + name)
    return _kernels


def _cpu_kernels(dtype):
    """The same kernels compiled for the CPU (minigrad._cpu_kernels), or None: off, no compiler, not float."""
    if not USE_CPU_KERNELS or dtype not in CPU_KERNEL_DTYPES or not _cpu.available():
        return None
    if not _cpu_kernel_cache:
        for name, (params_in, params_out, body) in _KERNEL_SOURCES.items():
            _cpu_kernel_cache[name] = _cpu.ElementwiseKernel(params_in, params_out, body, "minigrad_" + name)
    return _cpu_kernel_cache


def _fused_kernels(xp, dtype):
    """The step kernels for ``xp``'s arrays: CUDA on CuPy, compiled C on NumPy; None: the portable code."""
    kernels = _cuda_kernels(xp, dtype)
    if kernels is None and xp is np:
        kernels = _cpu_kernels(dtype)
    return kernels


def _blocks(a, count):
    """The ``count`` equal column blocks of a (B, count*H) array, as views (the gates of one step)."""
    width = a.shape[-1] // count
    return [a[..., k * width:(k + 1) * width] for k in range(count)]


#: Prepare each step kernel's call once per loop on the CPU (False: check and lay out every call; the tests
#: compare the two).
USE_CPU_STEPPER = True


def _step_kernel(kernels, name, args_at, steps):
    """``run(t)``: the kernel ``name`` on step t's arguments ``args_at(t)``; None without kernels.

    Every argument of step t is a view at a fixed offset into a buffer, so on the CPU runner the call is
    prepared once (:meth:`minigrad._cpu_kernels.ElementwiseKernel.stepper`) and a step only moves its
    data pointers; CuPy's kernels are called as they are.
    """
    if kernels is None:
        return None
    kernel = kernels[name]
    stepper = getattr(kernel, "stepper", None)
    if USE_CPU_STEPPER and stepper is not None and steps > 1:
        run = stepper(args_at(0), args_at(1))
        if run is not None:
            return run

    def run(t):
        kernel(*args_at(t))

    return run


# ----------------------------------------------------------------------------- the ops
class _RecurrentLayerOp(Op):
    """Shared parts: the backward is raw-array code, so it cannot be differentiated again.

    Keyword attributes (from ``apply``): ``reverse`` (run from the last step
    to the first) and ``running`` (None, or a (T, B, 1) bool array, True
    where a sequence is still running).
    """

    differentiable_backward = False
    reverse = False  # defaults when apply() is not given them
    running = None

    def _begin(self, x, dtype):
        """Remember the array module, the sizes and the masks for forward and backward."""
        self.xp = xp_of(x)
        self.steps = x.shape[0]
        self.masks = None if self.running is None else _Masks(self.running, dtype)
        self.order = _step_order(self.steps, self.reverse)

    def _output(self, leaving):
        """The output sequence: the state after each step, zero past each sequence's end (a new array)."""
        if self.masks is None:
            return leaving.copy()
        out = leaving * self.masks.run_f
        out += 0.0  # -0.0 (a negative state times a 0 mask) prints as "-0."; make padding plain 0
        return out


class RNNLayerOp(_RecurrentLayerOp):
    """Elman RNN over a whole sequence: ``h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)``.

    Inputs ``x`` (T, B, I), ``h0`` (B, H), ``w_ih`` (H, I), ``w_hh`` (H, H)
    [, ``b_in`` = ``b_ih + b_hh`` (H,)].  Attribute ``nonlinearity``: 'tanh' or
    'relu'.  Outputs ``output`` (T, B, H) and ``h_n`` (B, H).

    BPTT, with ``dh`` = dL/dh_t (total)::

        dpre_t  = dh * (1 - h_t^2)          (tanh)   or   dh * [h_t > 0]   (relu)
        dh_{t-1} = dpre_t W_hh              (+ the output's gradient at t-1)
        dW_hh = sum_t dpre_t^T h_{t-1},  dW_ih = sum_t dpre_t^T x_t,  db = sum_t dpre_t
    """

    nonlinearity = "tanh"

    def forward(self, x, h0, w_ih, w_hh, b_in=None):
        xp = xp_of(x)
        self._begin(x, x.dtype)
        masks = self.masks
        self.x2, pre = _all_steps_projection(x, w_ih, b_in)
        hbuf = _state_buffer(xp, h0, self.steps, self.reverse)
        entering, leaving = _entering_and_leaving(hbuf, self.reverse)
        w_hh_t = w_hh.T
        for t in self.order:
            h = leaving[t]
            xp.matmul(entering[t], w_hh_t, out=h)
            h += pre[t]
            if self.nonlinearity == "tanh":
                xp.tanh(h, out=h)
            else:
                xp.maximum(h, 0, out=h)
            if masks is not None and masks.partial[t]:
                xp.copyto(h, entering[t], where=masks.keep[t])  # finished sequences keep their state
        self.hbuf = hbuf
        return self._output(leaving), _final(hbuf, self.reverse)

    def backward(self, grad_out, grad_h_n):
        inputs = self.inputs  # checks that no input was changed in place since forward
        x, w_ih, w_hh = inputs[0].data, inputs[2].data, inputs[3].data
        xp, masks = self.xp, self.masks
        entering, leaving = _entering_and_leaving(self.hbuf, self.reverse)
        dout, dh_out, dh_in = _start_backward(self, grad_out, grad_h_n, entering.shape[1:], x.dtype)
        dpre = xp.empty(leaving.shape, dtype=x.dtype)  # dL/d(pre-activation), every step
        for t in reversed(self.order):
            dh = dh_out[t]
            if dout is not None:
                dh += dout[t]
            partial = masks is not None and masks.partial[t]
            if partial:  # finished rows: the gradient skips the step
                carry = dh * masks.keep_f[t]
                dh *= masks.run_f[t]
            d, h = dpre[t], leaving[t]
            if self.nonlinearity == "tanh":
                xp.multiply(h, h, out=d)
                xp.subtract(1.0, d, out=d)
                d *= dh
            else:
                xp.multiply(dh, h > 0, out=d)
            xp.matmul(d, w_hh, out=dh_in[t])
            if partial:
                dh_in[t] += carry
        dh = dh_in[self.order[0]]  # the gradient of h_0
        need = self.needs_input_grad
        dx, dw_ih = _grads_through_input_projection(self, dpre, self.x2, x.shape, w_ih, 0, 2)
        dw_hh = dpre.reshape(-1, dpre.shape[-1]).T @ entering.reshape(-1, entering.shape[-1]) if need[3] else None
        grads = [dx, dh, dw_ih, dw_hh]
        if len(inputs) == 5:
            grads.append(dpre.reshape(-1, dpre.shape[-1]).sum(axis=0))
        return _wrap_grads(self, grads)


class LSTMLayerOp(_RecurrentLayerOp):
    """LSTM over a whole sequence (equations in :func:`minigrad.nn.rnn.lstm_step`; gates i, f, g, o).

    Inputs ``x`` (T, B, I), ``h0``, ``c0`` (B, H), ``w_ih`` (4H, I), ``w_hh``
    (4H, H) [, ``b_in`` = ``b_ih + b_hh`` (4H,)].  Outputs ``output`` (T, B, H),
    ``h_n`` and ``c_n`` (B, H).  Forward keeps the activated gates (T, B, 4H),
    the cells and ``tanh(c_t)``.

    BPTT, with ``dh``, ``dc`` the total derivatives after step t::

        dc  += dh * o * (1 - tanh(c_t)^2)      the cell's gradient, through h_t = o tanh(c_t)
        di   = dc * g * i (1 - i)
        df   = dc * c_{t-1} * f (1 - f)
        dg   = dc * i * (1 - g^2)
        do   = dh * tanh(c_t) * o (1 - o)
        dh_{t-1} = [di, df, dg, do] W_hh
        dc_{t-1} = dc * f                       the cell path: only scaled by the forget gate
    """

    def forward(self, x, h0, c0, w_ih, w_hh, b_in=None):
        xp = xp_of(x)
        self._begin(x, x.dtype)
        masks, steps, hidden = self.masks, self.steps, h0.shape[-1]
        self.x2, gates = _all_steps_projection(x, w_ih, b_in)  # pre-activations, activated in place below
        hbuf = _state_buffer(xp, h0, steps, self.reverse)
        cbuf = _state_buffer(xp, c0, steps, self.reverse)
        h_in, h_out = _entering_and_leaving(hbuf, self.reverse)
        c_in, c_out = _entering_and_leaving(cbuf, self.reverse)
        tanh_c = xp.empty(h_out.shape, dtype=x.dtype)
        recurrent = xp.empty(gates.shape[1:], dtype=x.dtype)  # h_{t-1} W_hh^T of one step
        scratch = xp.empty(h0.shape, dtype=x.dtype)
        w_hh_t = w_hh.T
        kernel = _step_kernel(_fused_kernels(xp, x.dtype), "lstm_forward",
                              lambda t: (c_in[t], *_blocks(gates[t], 4), c_out[t], h_out[t], tanh_c[t]), steps)
        for t in self.order:
            g_t = gates[t]
            xp.matmul(h_in[t], w_hh_t, out=recurrent)
            g_t += recurrent
            if kernel is not None:
                kernel(t)
            else:
                _sigmoid_(g_t[:, :2 * hidden])  # i, f
                xp.tanh(g_t[:, 2 * hidden:3 * hidden], out=g_t[:, 2 * hidden:3 * hidden])  # g
                _sigmoid_(g_t[:, 3 * hidden:])  # o
                i, f, g, o = _blocks(g_t, 4)
                c = c_out[t]
                xp.multiply(f, c_in[t], out=c)  # c_t = f c_{t-1} + i g
                xp.multiply(i, g, out=scratch)
                c += scratch
                xp.tanh(c, out=tanh_c[t])
                xp.multiply(o, tanh_c[t], out=h_out[t])  # h_t = o tanh(c_t)
            if masks is not None and masks.partial[t]:
                xp.copyto(h_out[t], h_in[t], where=masks.keep[t])
                xp.copyto(c_out[t], c_in[t], where=masks.keep[t])
        self.gates, self.tanh_c, self.hbuf, self.cbuf = gates, tanh_c, hbuf, cbuf
        return self._output(h_out), _final(hbuf, self.reverse), _final(cbuf, self.reverse)

    def backward(self, grad_out, grad_h_n, grad_c_n):
        inputs = self.inputs
        x, w_ih, w_hh = inputs[0].data, inputs[3].data, inputs[4].data
        xp, masks, gates, tanh_c = self.xp, self.masks, self.gates, self.tanh_c
        hidden = w_hh.shape[1]
        h_in, _ = _entering_and_leaving(self.hbuf, self.reverse)
        c_in, _ = _entering_and_leaving(self.cbuf, self.reverse)
        # dL/dh and dL/dc of every state, laid out as the states are: step t reads the gradient of the
        # state it left (d*_out[t]) and writes that of the state it entered (d*_in[t]), which the step
        # before reads as its own d*_out
        dout, dh_out, dh_in = _start_backward(self, grad_out, grad_h_n, h_in.shape[1:], x.dtype)
        _, dc_out, dc_in = _start_backward(self, None, grad_c_n, h_in.shape[1:], x.dtype)
        scratch = xp.empty(h_in.shape[1:], dtype=x.dtype)
        dgates = xp.empty(gates.shape, dtype=x.dtype)
        kernel = _step_kernel(_fused_kernels(xp, x.dtype), "lstm_backward",
                              lambda t: (*_blocks(gates[t], 4), c_in[t], tanh_c[t], dh_out[t], dc_out[t],
                                         *_blocks(dgates[t], 4), dc_in[t]), self.steps)
        for t in reversed(self.order):
            dh, dc, dc_prev = dh_out[t], dc_out[t], dc_in[t]
            if dout is not None:
                dh += dout[t]
            partial = masks is not None and masks.partial[t]
            if partial:
                carry_h, carry_c = dh * masks.keep_f[t], dc * masks.keep_f[t]
                dh *= masks.run_f[t]
                dc *= masks.run_f[t]
            d = dgates[t]
            if kernel is not None:
                kernel(t)
            else:
                i, f, g, o = _blocks(gates[t], 4)
                di, df, dg, do = _blocks(d, 4)
                tc = tanh_c[t]
                xp.multiply(tc, tc, out=scratch)  # dc += dh * o * (1 - tanh(c)^2)
                xp.subtract(1.0, scratch, out=scratch)
                scratch *= o
                scratch *= dh
                dc += scratch
                xp.multiply(dh, tc, out=do)  # do = dh * tanh(c) * o (1 - o)
                do *= o
                xp.subtract(1.0, o, out=scratch)
                do *= scratch
                xp.multiply(dc, g, out=di)  # di = dc * g * i (1 - i)
                di *= i
                xp.subtract(1.0, i, out=scratch)
                di *= scratch
                xp.multiply(dc, c_in[t], out=df)  # df = dc * c_{t-1} * f (1 - f)
                df *= f
                xp.subtract(1.0, f, out=scratch)
                df *= scratch
                xp.multiply(g, g, out=scratch)  # dg = dc * i * (1 - g^2)
                xp.subtract(1.0, scratch, out=scratch)
                scratch *= i
                xp.multiply(dc, scratch, out=dg)
                xp.multiply(dc, f, out=dc_prev)  # dc_{t-1} = dc * f
            xp.matmul(d, w_hh, out=dh_in[t])  # dh_{t-1} = dgates W_hh
            if partial:
                dh_in[t] += carry_h
                dc_prev += carry_c
        first = self.order[0]
        dh, dc = dh_in[first], dc_in[first]  # the gradients of h_0 and c_0
        need = self.needs_input_grad
        dx, dw_ih = _grads_through_input_projection(self, dgates, self.x2, x.shape, w_ih, 0, 3)
        d2 = dgates.reshape(-1, dgates.shape[-1])
        dw_hh = d2.T @ h_in.reshape(-1, hidden) if need[4] else None
        grads = [dx, dh, dc, dw_ih, dw_hh]
        if len(inputs) == 6:
            grads.append(d2.sum(axis=0))
        return _wrap_grads(self, grads)


class GRULayerOp(_RecurrentLayerOp):
    """GRU over a whole sequence (gates r, z, n; equations in :class:`minigrad.nn.GRUCell`).

    Inputs ``x`` (T, B, I), ``h0`` (B, H), ``w_ih`` (3H, I), ``w_hh`` (3H, H)
    [, ``b_in`` (3H,): ``b_ih`` plus every recurrent bias that acts once per
    step [, ``b_hn`` (H,): reset_after's bias inside ``r * (...)``]].
    Attribute ``reset_after``: True for
    PyTorch's form ``n = tanh(i_n + r * (h W_hn^T + b_hn))``, False for the
    textbook form ``n = tanh(i_n + (r * h) W_hn^T + b_hn)``.  Outputs
    ``output`` (T, B, H) and ``h_n`` (B, H).  Forward keeps the activated
    gates (T, B, 3H) and, per step, ``h W_hn^T + b_hn`` (reset_after) or
    ``r * h`` (textbook).

    BPTT, ``h_t = n + z (h_{t-1} - n)``, with ``dh`` the total derivative after step t::

        dn = dh * (1 - z) * (1 - n^2)            (gradient of n's pre-activation)
        dz = dh * (h_{t-1} - n) * z (1 - z)
      reset_after:
        dr = dn * (h_{t-1} W_hn^T + b_hn) * r (1 - r)
        dh_{t-1} = [dr, dz, dn * r] W_hh + dh * z
      textbook:
        d(r h) = dn W_hn
        dr = d(r h) * h_{t-1} * r (1 - r)
        dh_{t-1} = [dr, dz] W_hrz + d(r h) * r + dh * z

    The input side always gets ``[dr, dz, dn]``; the recurrent weights get
    ``[dr, dz, dn * r]^T H_prev`` (reset_after) or ``[dr, dz]^T H_prev`` and
    ``dn^T (R * H_prev)`` (textbook).
    """

    reset_after = True

    def forward(self, x, h0, w_ih, w_hh, b_in=None, b_hn=None):
        xp = xp_of(x)
        self._begin(x, x.dtype)
        hidden = h0.shape[-1]
        self.x2, gates = _all_steps_projection(x, w_ih, b_in)
        hbuf = _state_buffer(xp, h0, self.steps, self.reverse)
        if self.reset_after:
            self.hn = self._forward_reset_after(xp, gates, hbuf, w_hh, b_hn, hidden)
        else:
            self.rh = self._forward_textbook(xp, gates, hbuf, w_hh, hidden)
        self.gates, self.hbuf = gates, hbuf
        return self._output(_entering_and_leaving(hbuf, self.reverse)[1]), _final(hbuf, self.reverse)

    def _forward_reset_after(self, xp, gates, hbuf, w_hh, b_hn, hidden):
        """The step loop of PyTorch's form; returns ``h_{t-1} W_hn^T + b_hn`` of every step (T, B, H)."""
        masks, h2 = self.masks, 2 * hidden
        h_in, h_out = _entering_and_leaving(hbuf, self.reverse)
        hn = xp.empty(h_out.shape, dtype=gates.dtype)
        recurrent = xp.empty(gates.shape[1:], dtype=gates.dtype)  # h_{t-1} W_hh^T: [h_r, h_z, h_n]
        scratch = xp.empty(h_out.shape[1:], dtype=gates.dtype)
        w_hh_t = w_hh.T
        kernels = _fused_kernels(xp, gates.dtype)
        if kernels is not None and b_hn is None:
            b_hn = xp.zeros(hidden, dtype=gates.dtype)
        kernel = _step_kernel(kernels, "gru_forward", lambda t: (h_in[t], *_blocks(recurrent, 3), b_hn,
                                                                 *_blocks(gates[t], 3), hn[t], h_out[t]),
                              self.steps)
        for t in self.order:
            a = gates[t]  # holds i_r, i_z, i_n (+ biases); becomes r, z, n
            xp.matmul(h_in[t], w_hh_t, out=recurrent)
            if kernel is not None:
                kernel(t)
            else:
                rz = a[:, :h2]
                rz += recurrent[:, :h2]
                _sigmoid_(rz)
                r, z, n = _blocks(a, 3)
                if b_hn is None:
                    xp.copyto(hn[t], recurrent[:, h2:])
                else:
                    xp.add(recurrent[:, h2:], b_hn, out=hn[t])
                xp.multiply(r, hn[t], out=scratch)  # n = tanh(i_n + r * (h W_hn^T + b_hn))
                n += scratch
                xp.tanh(n, out=n)
                h = h_out[t]
                xp.subtract(h_in[t], n, out=h)  # h_t = n + z (h_{t-1} - n) = (1 - z) n + z h_{t-1}
                h *= z
                h += n
            if masks is not None and masks.partial[t]:
                xp.copyto(h_out[t], h_in[t], where=masks.keep[t])
        return hn

    def _forward_textbook(self, xp, gates, hbuf, w_hh, hidden):
        """The step loop of the textbook form; returns ``r * h_{t-1}`` of every step (T, B, H)."""
        masks, h2 = self.masks, 2 * hidden
        h_in, h_out = _entering_and_leaving(hbuf, self.reverse)
        rh = xp.empty(h_out.shape, dtype=gates.dtype)
        rz_recurrent = xp.empty((gates.shape[1], h2), dtype=gates.dtype)  # h_{t-1} [W_hr; W_hz]^T
        hn = xp.empty(h_out.shape[1:], dtype=gates.dtype)
        w_hrz_t, w_hn_t = w_hh[:h2].T, w_hh[h2:].T
        for t in self.order:
            a = gates[t]
            xp.matmul(h_in[t], w_hrz_t, out=rz_recurrent)
            rz = a[:, :h2]
            rz += rz_recurrent
            _sigmoid_(rz)
            r, z, n = _blocks(a, 3)
            xp.multiply(r, h_in[t], out=rh[t])  # n = tanh(i_n + (r * h) W_hn^T + b_hn)
            xp.matmul(rh[t], w_hn_t, out=hn)
            n += hn
            xp.tanh(n, out=n)
            h = h_out[t]
            xp.subtract(h_in[t], n, out=h)
            h *= z
            h += n
            if masks is not None and masks.partial[t]:
                xp.copyto(h_out[t], h_in[t], where=masks.keep[t])
        return rh

    def backward(self, grad_out, grad_h_n):
        inputs = self.inputs
        x, w_ih, w_hh = inputs[0].data, inputs[2].data, inputs[3].data
        xp, masks, gates = self.xp, self.masks, self.gates
        hidden, h2 = w_hh.shape[1], 2 * w_hh.shape[1]
        h_in, _ = _entering_and_leaving(self.hbuf, self.reverse)
        dout, dh_out, dh_in = _start_backward(self, grad_out, grad_h_n, h_in.shape[1:], x.dtype)
        scratch, skip = xp.empty(h_in.shape[1:], dtype=x.dtype), xp.empty(h_in.shape[1:], dtype=x.dtype)
        dgi = xp.empty(gates.shape, dtype=x.dtype)  # dL/d[i_r, i_z, i_n]: the input side, every step
        kernel = None
        if self.reset_after:
            dgh = xp.empty(gates.shape, dtype=x.dtype)  # dL/d[h_r, h_z, h_n]: the recurrent side
            kernel = _step_kernel(_fused_kernels(xp, x.dtype), "gru_backward",
                                  lambda t: (*_blocks(gates[t], 3), self.hn[t], h_in[t], dh_out[t],
                                             *_blocks(dgi[t], 3), *_blocks(dgh[t], 3), skip), self.steps)
        else:
            drh = xp.empty_like(scratch)  # dL/d(r * h_{t-1})
        for t in reversed(self.order):
            dh, dh_prev = dh_out[t], dh_in[t]
            if dout is not None:
                dh += dout[t]
            partial = masks is not None and masks.partial[t]
            if partial:
                carry = dh * masks.keep_f[t]
                dh *= masks.run_f[t]
            h_prev = h_in[t]
            if kernel is not None:
                kernel(t)
            else:
                r, z, n = _blocks(gates[t], 3)
                dr, dz, dn = _blocks(dgi[t], 3)
                xp.multiply(n, n, out=scratch)  # dn = dh * (1 - z) * (1 - n^2)
                xp.subtract(1.0, scratch, out=scratch)
                scratch *= dh
                xp.subtract(1.0, z, out=dn)
                dn *= scratch
                xp.subtract(h_prev, n, out=dz)  # dz = dh * (h_{t-1} - n) * z (1 - z)
                dz *= dh
                dz *= z
                xp.subtract(1.0, z, out=scratch)
                dz *= scratch
                if self.reset_after:
                    xp.multiply(dn, self.hn[t], out=dr)  # dr = dn * (h W_hn^T + b_hn) * r (1 - r)
                else:
                    xp.matmul(dn, w_hh[h2:], out=drh)  # d(r h) = dn W_hn;  dr = d(r h) * h_{t-1} * r (1 - r)
                    xp.multiply(drh, h_prev, out=dr)
                dr *= r
                xp.subtract(1.0, r, out=scratch)
                dr *= scratch
                xp.multiply(dh, z, out=skip)  # the path that skips the gates: h_t = ... + z h_{t-1}
                if self.reset_after:
                    xp.copyto(dgh[t][:, :h2], dgi[t][:, :h2])
                    xp.multiply(dn, r, out=dgh[t][:, h2:])
            if self.reset_after:
                xp.matmul(dgh[t], w_hh, out=dh_prev)
            else:
                xp.matmul(dgi[t][:, :h2], w_hh[:h2], out=dh_prev)
                xp.multiply(drh, gates[t][:, :hidden], out=scratch)  # + d(r h) * r
                dh_prev += scratch
            dh_prev += skip
            if partial:
                dh_prev += carry
        dh = dh_in[self.order[0]]  # the gradient of h_0
        need = self.needs_input_grad
        dx, dw_ih = _grads_through_input_projection(self, dgi, self.x2, x.shape, w_ih, 0, 2)
        dgi2 = dgi.reshape(-1, dgi.shape[-1])
        h_prev2 = h_in.reshape(-1, hidden)
        dw_hh = None
        if self.reset_after:
            dgh2 = dgh.reshape(-1, dgh.shape[-1])
            if need[3]:
                dw_hh = dgh2.T @ h_prev2
        elif need[3]:
            dw_hh = xp.empty(w_hh.shape, dtype=x.dtype)
            xp.matmul(dgi2[:, :h2].T, h_prev2, out=dw_hh[:h2])
            xp.matmul(dgi2[:, h2:].T, self.rh.reshape(-1, hidden), out=dw_hh[h2:])
        grads = [dx, dh, dw_ih, dw_hh]
        if len(inputs) >= 5:
            grads.append(dgi2.sum(axis=0))  # b_in
        if len(inputs) == 6:
            grads.append(dgh2[:, h2:].sum(axis=0))  # b_hn (reset_after)
        return _wrap_grads(self, grads)
