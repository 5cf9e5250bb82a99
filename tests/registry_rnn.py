"""Registry entries for the recurrent cells (see op_registry.py for the fields).

Each cell is a function of (x, h[, c], w_ih, w_hh[, b_ih, b_hh]); the NumPy
references below are written out gate by gate, independently of minigrad's
code, and PyTorch's ``torch.*_cell`` functions are the cross-check.
"""
import numpy as np
from hypothesis import strategies as st

from minigrad.nn import rnn as R
from op_registry import OpInfo, Sample, register, values


def _np_sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def _cell_sample(gates, with_cell=False, bias=True):
    """x (B, H_in), h (B, H)[, c (B, H)], w_ih (G*H, H_in), w_hh (G*H, H)[, b_ih, b_hh (G*H,)]."""

    def sample(draw):
        batch, n_in, hidden = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
        rows = gates * hidden
        shapes = [(batch, n_in), (batch, hidden)] + ([(batch, hidden)] if with_cell else [])
        shapes += [(rows, n_in), (rows, hidden)] + ([(rows,), (rows,)] if bias else [])
        # "unit" values keep the pre-activations moderate (gates not saturated)
        return Sample([values(draw, s, "unit", salt=k) for k, s in enumerate(shapes)])

    return sample


def _np_rnn(act):
    def ref(x, h, w_ih, w_hh, b_ih=0.0, b_hh=0.0):
        return act(x @ w_ih.T + b_ih + h @ w_hh.T + b_hh)

    return ref


def _np_gru(reset_after):
    def ref(x, h, w_ih, w_hh, b_ih=None, b_hh=None):
        hidden = h.shape[-1]
        b_ih = np.zeros(3 * hidden) if b_ih is None else b_ih
        b_hh = np.zeros(3 * hidden) if b_hh is None else b_hh
        w_ir, w_iz, w_in = np.split(w_ih, 3)
        w_hr, w_hz, w_hn = np.split(w_hh, 3)
        b_ir, b_iz, b_in = np.split(b_ih, 3)
        b_hr, b_hz, b_hn = np.split(b_hh, 3)
        r = _np_sigmoid(x @ w_ir.T + b_ir + h @ w_hr.T + b_hr)
        z = _np_sigmoid(x @ w_iz.T + b_iz + h @ w_hz.T + b_hz)
        if reset_after:
            n = np.tanh(x @ w_in.T + b_in + r * (h @ w_hn.T + b_hn))
        else:
            n = np.tanh(x @ w_in.T + b_in + (r * h) @ w_hn.T + b_hn)
        return (1 - z) * n + z * h

    return ref


def _np_lstm(x, h, c, w_ih, w_hh, b_ih=0.0, b_hh=0.0):
    pre = x @ w_ih.T + b_ih + h @ w_hh.T + b_hh
    i, f, g, o = np.split(pre, 4, axis=-1)
    c_new = _np_sigmoid(f) * c + _np_sigmoid(i) * np.tanh(g)
    return _np_sigmoid(o) * np.tanh(c_new), c_new


def _torch():
    import torch

    return torch


register(
    OpInfo("rnn_tanh_cell", R.rnn_tanh_cell, _cell_sample(1), _np_rnn(np.tanh),
           lambda *a: _torch().rnn_tanh_cell(*a)),
    OpInfo("rnn_tanh_cell_nobias", R.rnn_tanh_cell, _cell_sample(1, bias=False), _np_rnn(np.tanh),
           lambda *a: _torch().rnn_tanh_cell(*a)),
    OpInfo("rnn_relu_cell", R.rnn_relu_cell, _cell_sample(1), _np_rnn(lambda a: np.maximum(a, 0)),
           lambda *a: _torch().rnn_relu_cell(*a)),
    OpInfo("gru_cell", R.gru_cell, _cell_sample(3), _np_gru(True), lambda *a: _torch().gru_cell(*a)),
    OpInfo("gru_cell_textbook", lambda *a: R.gru_cell(*a, reset_after=False), _cell_sample(3), _np_gru(False),
           notes="reset_after=False: PyTorch has no such cell, checked against NumPy only"),
    OpInfo("gru_cell_textbook_nobias", lambda *a: R.gru_cell(*a, reset_after=False), _cell_sample(3, bias=False),
           _np_gru(False)),
    OpInfo("lstm_cell", lambda x, h, c, *w: R.lstm_cell(x, (h, c), *w), _cell_sample(4, with_cell=True), _np_lstm,
           lambda x, h, c, *w: _torch().lstm_cell(x, [h, c], *w)),
    OpInfo("lstm_cell_nobias", lambda x, h, c, *w: R.lstm_cell(x, (h, c), *w),
           _cell_sample(4, with_cell=True, bias=False), _np_lstm,
           lambda x, h, c, *w: _torch().lstm_cell(x, [h, c], *w)),
)
