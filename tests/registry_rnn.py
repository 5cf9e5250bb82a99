"""Registry entries for the recurrent cells (see op_registry.py for the fields).

Each cell is a function of (x, h[, c], w_ih, w_hh[, b_ih, b_hh]); the NumPy
references below are written out gate by gate, independently of minigrad's
code, and PyTorch's ``torch.*_cell`` functions are the cross-check.
"""
import numpy as np
from hypothesis import strategies as st

from minigrad.nn import rnn as R
from minigrad.nn.utils import rnn as nn_rnn_utils
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


# ----------------------------------------------------------------------------- packing (nn.utils.rnn)
def _packing_sample(draw):
    """A padded batch (T, B, F) or (B, T, F) and lengths in [1, T], in any order unless enforce_sorted."""
    steps, batch, feat = draw(st.integers(1, 4)), draw(st.integers(1, 4)), draw(st.integers(1, 3))
    lengths = draw(st.lists(st.integers(1, steps), min_size=batch, max_size=batch))
    enforce_sorted = draw(st.booleans())
    if enforce_sorted:
        lengths = sorted(lengths, reverse=True)
    batch_first = draw(st.booleans())
    shape = (batch, steps, feat) if batch_first else (steps, batch, feat)
    return Sample([values(draw, shape)], {"lengths": lengths, "batch_first": batch_first,
                                          "enforce_sorted": enforce_sorted})


def _np_pack(x, lengths, batch_first, enforce_sorted):
    """Packed data written out step by step: at step t, every sequence longer than t, longest first."""
    x = np.swapaxes(x, 0, 1) if batch_first else x
    order = sorted(range(len(lengths)), key=lambda b: -lengths[b])  # stable, as PyTorch
    return np.stack([x[t, b] for t in range(max(lengths)) for b in order if lengths[b] > t])


def _np_pack_then_pad(x, lengths, batch_first, enforce_sorted):
    """pad_packed_sequence(pack_padded_sequence(x)) = x with the steps past each length zeroed."""
    out = np.array(x)
    for b, n in enumerate(lengths):
        if batch_first:
            out[b, n:] = 0
        else:
            out[n:, b] = 0
    return out[:, :max(lengths)] if batch_first else out[:max(lengths)]


def _pack_and_pad(x, **kw):
    packed = nn_rnn_utils.pack_padded_sequence(x, **kw)
    return nn_rnn_utils.pad_packed_sequence(packed, batch_first=kw["batch_first"])[0]


def _torch_pack_and_pad(x, **kw):
    rnn_utils = _torch().nn.utils.rnn
    return rnn_utils.pad_packed_sequence(rnn_utils.pack_padded_sequence(x, **kw), batch_first=kw["batch_first"])[0]


def _pad_sequence_sample(draw):
    feat = draw(st.integers(1, 3))
    lengths = draw(st.lists(st.integers(1, 4), min_size=1, max_size=4))
    return Sample([values(draw, (n, feat), salt=k) for k, n in enumerate(lengths)],
                  {"batch_first": draw(st.booleans()), "padding_value": draw(st.sampled_from([0.0, -1.5]))})


def _np_pad_sequence(*seqs, batch_first, padding_value):
    out = np.full((len(seqs), max(len(s) for s in seqs), seqs[0].shape[1]), padding_value)
    for b, s in enumerate(seqs):
        out[b, :len(s)] = s
    return out if batch_first else np.swapaxes(out, 0, 1)


register(
    OpInfo("pack_padded_sequence", lambda x, **kw: nn_rnn_utils.pack_padded_sequence(x, **kw).data, _packing_sample,
           _np_pack, lambda x, **kw: _torch().nn.utils.rnn.pack_padded_sequence(x, **kw).data),
    OpInfo("pad_packed_sequence", _pack_and_pad, _packing_sample, _np_pack_then_pad, _torch_pack_and_pad),
    OpInfo("pad_sequence", lambda *s, **kw: nn_rnn_utils.pad_sequence(s, **kw), _pad_sequence_sample,
           _np_pad_sequence, lambda *s, **kw: _torch().nn.utils.rnn.pad_sequence(s, **kw)),
)
