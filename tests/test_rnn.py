"""Recurrent cells and layers: gradients, equivalences, PyTorch parity, lengths, truncated BPTT, errors."""
import gc
import itertools
import warnings
import weakref

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad as mg
from minigrad import nn
from minigrad.autograd.engine import Op
from helpers import HAVE_TORCH, torch

KINDS = ["rnn_tanh", "rnn_relu", "gru", "gru_textbook", "lstm"]


def make_layer(kind, *args, **kwargs):
    """The layer for ``kind`` (float64)."""
    if kind.startswith("rnn"):
        return nn.RNN(*args, nonlinearity=kind[4:], **kwargs).double()
    if kind.startswith("gru"):
        return nn.GRU(*args, reset_after=kind == "gru", **kwargs).double()
    return nn.LSTM(*args, **kwargs).double()


def make_cell(kind, *args, **kwargs):
    if kind.startswith("rnn"):
        return nn.RNNCell(*args, nonlinearity=kind[4:], **kwargs).double()
    if kind.startswith("gru"):
        return nn.GRUCell(*args, reset_after=kind == "gru", **kwargs).double()
    return nn.LSTMCell(*args, **kwargs).double()


def rand(rng, *shape, requires_grad=True):
    return mg.tensor(rng.uniform(-1, 1, shape), requires_grad=requires_grad)


def state_of(kind, rng, shape):
    """A random initial state: h0, or (h0, c0) for the LSTM."""
    if kind == "lstm":
        return rand(rng, *shape), rand(rng, *shape)
    return rand(rng, *shape)


def flat_state(state):
    return list(state) if isinstance(state, tuple) else [state]


def weighted_sum(tensors, rng):
    """sum_k <w_k, t_k> with fixed random weights: a scalar that depends on every element."""
    total = None
    for t in tensors:
        term = (t * mg.tensor(rng.standard_normal(t.shape))).sum()
        total = term if total is None else total + term
    return total


def grads_of(tensors):
    return [np.zeros(t.shape) if t.grad is None else t.grad.numpy().copy() for t in tensors]


# ----------------------------------------------------------------------------- gradcheck through layers
@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=3)
@given(data=st.data())
def test_layer_gradcheck(kind, data):
    """float64 gradcheck through the unrolled graph: input, initial state and every parameter."""
    draw = data.draw
    steps, batch = draw(st.integers(1, 3)), draw(st.integers(1, 2))
    n_in, hidden = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    layers, bidirectional = draw(st.integers(1, 2)), draw(st.booleans())
    batch_first, bias = draw(st.booleans()), draw(st.booleans())
    use_lengths = draw(st.booleans())
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    mg.manual_seed(int(rng.integers(1 << 30)))
    layer = make_layer(kind, n_in, hidden, num_layers=layers, bias=bias, batch_first=batch_first,
                       bidirectional=bidirectional)
    x = rand(rng, *((batch, steps, n_in) if batch_first else (steps, batch, n_in)))
    d = 2 if bidirectional else 1
    state = state_of(kind, rng, (d * layers, batch, hidden))
    lengths = [int(v) for v in rng.integers(1, steps + 1, batch)] if use_lengths else None
    params = list(layer.parameters())
    n_state = len(flat_state(state))
    proj = np.random.default_rng(1)
    weights = None

    def fn(x, *rest):
        nonlocal weights
        hx = tuple(rest[:n_state]) if kind == "lstm" else rest[0]
        out, final = layer(x, hx, lengths=lengths)
        outs = [out] + flat_state(final)
        if weights is None:
            weights = [proj.standard_normal((3,) + tuple(o.shape)) for o in outs]
        # three random projections of all outputs: cheap to backward, still sensitive to every element
        return sum((o.unsqueeze(0) * mg.tensor(w)).reshape(3, -1).sum(1) for o, w in zip(outs, weights))

    assert mg.autograd.gradcheck(fn, (x, *flat_state(state), *params))


@pytest.mark.parametrize("kind", ["rnn_tanh", "gru", "gru_textbook", "lstm"])
def test_cell_module_gradcheck_unbatched(kind):
    rng = np.random.default_rng(3)
    cell = make_cell(kind, 2, 3)
    x = rand(rng, 2)
    state = state_of(kind, rng, (3,))

    def fn(x, *rest):
        hx = tuple(rest[:2]) if kind == "lstm" else rest[0]
        out = cell(x, hx)
        return out

    assert mg.autograd.gradcheck(fn, (x, *flat_state(state), *cell.parameters()))


# ----------------------------------------------------------------------------- equivalences
def copy_direction_to_cell(layer, cell, suffix="_l0"):
    cell.load_state_dict({name: getattr(layer, name + suffix).detach() for name in
                          ("weight_ih", "weight_hh", "bias_ih", "bias_hh")})


@pytest.mark.parametrize("kind", KINDS)
def test_layer_equals_loop_over_cell(kind):
    rng = np.random.default_rng(0)
    layer, cell = make_layer(kind, 3, 4), make_cell(kind, 3, 4)
    copy_direction_to_cell(layer, cell)
    x = rand(rng, 5, 2, 3)
    state = state_of(kind, rng, (1, 2, 4))
    out, final = layer(x, state)
    weighted_sum([out] + flat_state(final), np.random.default_rng(1)).backward()
    layer_grads = grads_of([x] + flat_state(state) + list(layer.parameters()))

    x2 = mg.tensor(x.detach().numpy(), requires_grad=True)
    s = tuple(t.detach()[0].requires_grad_() for t in flat_state(state))
    hx = s if kind == "lstm" else s[0]
    outs = []
    for x_t in x2.unbind(0):
        hx = cell(x_t, hx)
        outs.append(hx[0] if kind == "lstm" else hx)
    loop_out = mg.stack(outs)
    loop_final = tuple(t.unsqueeze(0) for t in hx) if kind == "lstm" else hx.unsqueeze(0)
    np.testing.assert_allclose(out.detach().numpy(), loop_out.detach().numpy(), rtol=1e-12, atol=1e-14)
    for a, b in zip(flat_state(final), flat_state(loop_final)):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-12, atol=1e-14)
    weighted_sum([loop_out] + flat_state(loop_final), np.random.default_rng(1)).backward()
    loop_grads = grads_of([x2] + list(s) + list(cell.parameters()))
    loop_grads[1:1 + len(s)] = [g[None] for g in loop_grads[1:1 + len(s)]]
    for a, b in zip(layer_grads, loop_grads):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_bidirectional_reverse_half_is_forward_pass_on_reversed_sequence(kind):
    rng = np.random.default_rng(2)
    bi = make_layer(kind, 3, 4, bidirectional=True)
    uni = make_layer(kind, 3, 4)
    uni.load_state_dict({name + "_l0": getattr(bi, name + "_l0_reverse").detach()
                         for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")})
    x = rand(rng, 6, 2, 3, requires_grad=False)
    out, final = bi(x)
    rev_out, rev_final = uni(x.flip(0))
    np.testing.assert_allclose(out.detach().numpy()[:, :, 4:], rev_out.detach().numpy()[::-1], rtol=1e-12, atol=1e-14)
    for a, b in zip(flat_state(final), flat_state(rev_final)):
        np.testing.assert_allclose(a.detach().numpy()[1], b.detach().numpy()[0], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("batch_first", [False, True])
def test_lengths_equal_running_each_sequence_alone(kind, batch_first):
    """A padded batch with lengths= gives each sequence's own outputs, final state and gradients."""
    rng = np.random.default_rng(4)
    steps, n_in, hidden, lengths = 5, 3, 4, [3, 5, 1, 4]
    batch = len(lengths)
    layer = make_layer(kind, n_in, hidden, num_layers=2, bidirectional=True, batch_first=batch_first)
    x_np = rng.uniform(-1, 1, (batch, steps, n_in))
    x_np[np.arange(steps)[None, :] >= np.array(lengths)[:, None]] = 7.0  # padding must not matter
    state = state_of(kind, rng, (4, batch, hidden))
    x = mg.tensor(x_np if batch_first else x_np.transpose(1, 0, 2), requires_grad=True)
    out, final = layer(x, state, lengths=lengths)
    out_np = out.detach().numpy() if batch_first else out.detach().numpy().transpose(1, 0, 2)
    upstream = np.random.default_rng(5)
    g_out = upstream.standard_normal((batch, steps, 2 * hidden))
    g_final = [upstream.standard_normal(t.shape) for t in flat_state(final)]
    loss = (out * mg.tensor(g_out if batch_first else g_out.transpose(1, 0, 2))).sum()
    for t, g in zip(flat_state(final), g_final):
        loss = loss + (t * mg.tensor(g)).sum()
    loss.backward()
    x_grad = x.grad.numpy() if batch_first else x.grad.numpy().transpose(1, 0, 2)
    param_grad_sum = [np.zeros(p.shape) for p in layer.parameters()]

    for b, n in enumerate(lengths):
        layer.zero_grad()
        xb = mg.tensor(x_np[b:b + 1, :n] if batch_first else x_np[b:b + 1, :n].transpose(1, 0, 2),
                       requires_grad=True)
        sb = tuple(mg.tensor(t.detach().numpy()[:, b:b + 1]) for t in flat_state(state))
        out_b, final_b = layer(xb, sb if kind == "lstm" else sb[0])
        out_b_np = out_b.detach().numpy() if batch_first else out_b.detach().numpy().transpose(1, 0, 2)
        np.testing.assert_allclose(out_np[b, :n], out_b_np[0], rtol=1e-12, atol=1e-14)
        assert np.all(out_np[b, n:] == 0), "outputs past a sequence's end must be zero"
        for whole, alone in zip(flat_state(final), flat_state(final_b)):
            np.testing.assert_allclose(whole.detach().numpy()[:, b], alone.detach().numpy()[:, 0], rtol=1e-12,
                                       atol=1e-14)
        loss_b = (out_b * mg.tensor(g_out[b:b + 1, :n] if batch_first else g_out[b:b + 1, :n].transpose(1, 0, 2))).sum()
        for t, g in zip(flat_state(final_b), g_final):
            loss_b = loss_b + (t * mg.tensor(g[:, b:b + 1])).sum()
        loss_b.backward()
        xb_grad = xb.grad.numpy() if batch_first else xb.grad.numpy().transpose(1, 0, 2)
        np.testing.assert_allclose(x_grad[b, :n], xb_grad[0], rtol=1e-10, atol=1e-12)
        assert np.all(x_grad[b, n:] == 0), "padding gets no gradient"
        for acc, p in zip(param_grad_sum, layer.parameters()):
            acc += p.grad.numpy()
    layer.zero_grad()  # the parameters' gradients of the batch = the sum of the per-sequence ones
    out, final = layer(x, state, lengths=lengths)
    loss = (out * mg.tensor(g_out if batch_first else g_out.transpose(1, 0, 2))).sum()
    for t, g in zip(flat_state(final), g_final):
        loss = loss + (t * mg.tensor(g)).sum()
    loss.backward()
    for acc, p in zip(param_grad_sum, layer.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), acc, rtol=1e-10, atol=1e-12)


def test_lengths_all_full_equal_no_lengths():
    rng = np.random.default_rng(6)
    layer = make_layer("lstm", 2, 3, bidirectional=True)
    x = rand(rng, 4, 3, 2, requires_grad=False)
    out_a, (h_a, c_a) = layer(x)
    out_b, (h_b, c_b) = layer(x, lengths=mg.tensor([4, 4, 4]))
    np.testing.assert_array_equal(out_a.detach().numpy(), out_b.detach().numpy())
    np.testing.assert_array_equal(c_a.detach().numpy(), c_b.detach().numpy())


def _np_gru_textbook_layer(x, h, w_ih, w_hh, b_ih, b_hh):
    """The textbook GRU written out in NumPy: n = tanh(W_in x + b_in + W_hn (r * h) + b_hn)."""
    sig = lambda a: 1 / (1 + np.exp(-a))  # noqa: E731
    w_ir, w_iz, w_in = np.split(w_ih, 3)
    w_hr, w_hz, w_hn = np.split(w_hh, 3)
    b_ir, b_iz, b_in = np.split(b_ih, 3)
    b_hr, b_hz, b_hn = np.split(b_hh, 3)
    outs = []
    for x_t in x:
        r = sig(x_t @ w_ir.T + b_ir + h @ w_hr.T + b_hr)
        z = sig(x_t @ w_iz.T + b_iz + h @ w_hz.T + b_hz)
        n = np.tanh(x_t @ w_in.T + b_in + (r * h) @ w_hn.T + b_hn)
        h = (1 - z) * n + z * h
        outs.append(h)
    return np.stack(outs), h


def test_gru_reset_after_false_matches_textbook_numpy():
    rng = np.random.default_rng(7)
    layer = nn.GRU(3, 4, reset_after=False).double()
    x, h0 = rng.uniform(-1, 1, (6, 2, 3)), rng.uniform(-1, 1, (1, 2, 4))
    out, h_n = layer(mg.tensor(x), mg.tensor(h0))
    w = [getattr(layer, n + "_l0").detach().numpy() for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
    ref_out, ref_h = _np_gru_textbook_layer(x, h0[0], *w)
    np.testing.assert_allclose(out.detach().numpy(), ref_out, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(h_n.detach().numpy()[0], ref_h, rtol=1e-12, atol=1e-14)
    # and the two forms really differ (the test would notice a swapped implementation)
    after = nn.GRU(3, 4).double()
    after.load_state_dict(layer.state_dict())
    assert not np.allclose(after(mg.tensor(x), mg.tensor(h0))[0].detach().numpy(), ref_out, atol=1e-6)
    cell = nn.GRUCell(3, 4, reset_after=False).double()
    cell.load_state_dict({k[:-3]: v for k, v in layer.state_dict().items()})
    np.testing.assert_allclose(cell(mg.tensor(x[0]), mg.tensor(h0[0])).detach().numpy(), ref_out[0], rtol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_unbatched_input_equals_batch_of_one(kind):
    rng = np.random.default_rng(8)
    layer = make_layer(kind, 2, 3, num_layers=2, bidirectional=True)
    x = rand(rng, 4, 2, requires_grad=False)
    state = state_of(kind, rng, (4, 3))
    out, final = layer(x, state)
    assert out.shape == (4, 6)
    out_b, final_b = layer(x.unsqueeze(1), tuple(s.unsqueeze(1) for s in flat_state(state))
                           if kind == "lstm" else state.unsqueeze(1))
    np.testing.assert_allclose(out.detach().numpy(), out_b.detach().numpy()[:, 0], rtol=1e-12)
    for a, b in zip(flat_state(final), flat_state(final_b)):
        assert a.shape == (4, 3)
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy()[:, 0], rtol=1e-12)


# ----------------------------------------------------------------------------- shapes, names, init, dtype
def test_parameter_names_shapes_and_init():
    layer = nn.LSTM(3, 5, num_layers=2, bidirectional=True)
    names = [n for n, _ in layer.named_parameters()]
    expected = [f"{w}_l{k}{s}" for k in range(2) for s in ("", "_reverse")
                for w in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
    assert names == expected
    shapes = dict((n, p.shape) for n, p in layer.named_parameters())
    assert shapes["weight_ih_l0"] == (20, 3) and shapes["weight_ih_l1_reverse"] == (20, 10)
    assert shapes["weight_hh_l1"] == (20, 5) and shapes["bias_hh_l0_reverse"] == (20,)
    bound = 1 / np.sqrt(5)
    values = np.concatenate([p.detach().numpy().ravel() for p in layer.parameters()])
    assert values.dtype == np.float32
    assert np.abs(values).max() <= bound and np.abs(values).max() > 0.9 * bound
    assert abs(values.std() - bound / np.sqrt(3)) < 0.1 * bound  # uniform on [-b, b]
    assert [n for n, _ in nn.GRU(2, 3, bias=False).named_parameters()] == ["weight_ih_l0", "weight_hh_l0"]
    assert [n for n, _ in nn.RNNCell(2, 3).named_parameters()] == ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]
    assert nn.GRUCell(2, 3).weight_hh.shape == (9, 3)


def test_manual_seed_makes_init_reproducible():
    mg.manual_seed(3)
    a = nn.GRU(2, 3).weight_hh_l0.detach().numpy().copy()
    mg.manual_seed(3)
    b = nn.GRU(2, 3).weight_hh_l0.detach().numpy().copy()
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("kind", KINDS)
def test_float32_stays_float32(kind):
    layer = make_layer(kind, 3, 4, num_layers=2, bidirectional=True).float()
    x = mg.randn(5, 2, 3, requires_grad=True)
    out, final = layer(x, lengths=[5, 2])
    assert out.dtype == np.float32 and all(s.dtype == np.float32 for s in flat_state(final))
    (out.sum() + sum(s.sum() for s in flat_state(final))).backward()
    assert x.grad.dtype == np.float32
    assert all(p.grad.dtype == np.float32 for p in layer.parameters())


def test_shapes_batch_first_and_repr():
    layer = nn.GRU(3, 4, num_layers=2, batch_first=True, bidirectional=True)
    out, h_n = layer(mg.randn(2, 7, 3))
    assert out.shape == (2, 7, 8) and h_n.shape == (4, 2, 4)
    assert repr(layer) == "GRU(3, 4, num_layers=2, batch_first=True, bidirectional=True)"
    assert repr(nn.RNN(2, 3, nonlinearity="relu")) == "RNN(2, 3, nonlinearity='relu')"
    assert repr(nn.LSTMCell(2, 3, bias=False)) == "LSTMCell(2, 3, bias=False)"


def test_dropout_between_layers():
    layer = nn.LSTM(3, 4, num_layers=2, dropout=0.5).double()
    x = mg.randn(5, 2, 3).double()
    layer.eval()
    a, b = layer(x)[0].detach().numpy(), layer(x)[0].detach().numpy()
    np.testing.assert_array_equal(a, b)  # no dropout in eval mode
    layer.train()
    mg.manual_seed(1)
    c = layer(x)[0].detach().numpy()
    mg.manual_seed(1)
    d = layer(x)[0].detach().numpy()
    np.testing.assert_array_equal(c, d)  # seeded
    assert not np.allclose(a, c)  # dropout changed the second layer's input
    layer1 = nn.LSTM(3, 4, num_layers=2, dropout=1.0).double()
    layer1.load_state_dict(layer.state_dict())
    ref = nn.LSTM(3, 4, num_layers=2).double()
    ref.load_state_dict(layer.state_dict())
    # dropout=1 zeroes layer 0's output, the same as layer 1 ignoring its input
    ref.weight_ih_l1.data[...] = 0.0
    np.testing.assert_allclose(layer1(x)[0].detach().numpy(), ref(x)[0].detach().numpy(), rtol=1e-12)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        nn.GRU(2, 3, dropout=0.2)
    assert any("dropout" in str(w.message) for w in caught)


def test_keep_states_stores_per_step_states():
    layer = nn.GRU(2, 3, num_layers=2, bidirectional=True)
    out, _ = layer(mg.randn(5, 2, 2))
    assert layer.step_states is None
    layer.keep_states = True
    out, _ = layer(mg.randn(5, 2, 2))
    assert len(layer.step_states) == 5 and len(layer.step_states_reverse) == 5
    for t in range(5):
        np.testing.assert_array_equal(layer.step_states[t].detach().numpy(), out.detach().numpy()[t, :, :3])
        np.testing.assert_array_equal(layer.step_states_reverse[t].detach().numpy(), out.detach().numpy()[t, :, 3:])


# ----------------------------------------------------------------------------- errors
def test_clear_errors():
    rnn = nn.RNN(3, 4, num_layers=2)
    with pytest.raises(ValueError, match=r"input_size=3.*\(5, 2, 7\)"):
        rnn(mg.randn(5, 2, 7))
    with pytest.raises(ValueError, match=r"\(5, 2, 3, 1\)"):
        rnn(mg.randn(5, 2, 3, 1))
    with pytest.raises(ValueError, match=r"expected h_0 of shape \(2, 2, 4\).*got \(1, 2, 4\)"):
        rnn(mg.randn(5, 2, 3), mg.randn(1, 2, 4))
    with pytest.raises(ValueError, match=r"expected h_0 of shape \(2, 4\).*got \(2, 1, 4\)"):
        rnn(mg.randn(5, 3), mg.randn(2, 1, 4))
    with pytest.raises(ValueError, match=r"between 1 and the sequence length 5.*\[6, 2\]"):
        rnn(mg.randn(5, 2, 3), lengths=[6, 2])
    with pytest.raises(ValueError, match=r"between 1 and the sequence length 5.*\[0, 2\]"):
        rnn(mg.randn(5, 2, 3), lengths=[0, 2])
    with pytest.raises(ValueError, match=r"one entry per batch element \(2\).*\(3,\)"):
        rnn(mg.randn(5, 2, 3), lengths=[1, 2, 3])
    with pytest.raises(TypeError, match="integers"):
        rnn(mg.randn(5, 2, 3), lengths=[1.5, 2.0])
    with pytest.raises(ValueError, match="batched"):
        rnn(mg.randn(5, 3), lengths=[5])
    with pytest.raises(TypeError, match="float64.*float32"):
        rnn(mg.randn(5, 2, 3).double())
    with pytest.raises(TypeError, match=r"tuple \(h_0, c_0\)"):
        nn.LSTM(3, 4)(mg.randn(5, 2, 3), mg.randn(1, 2, 4))
    with pytest.raises(ValueError, match=r"expected c_0 of shape \(1, 2, 4\).*got \(1, 2, 5\)"):
        nn.LSTM(3, 4)(mg.randn(5, 2, 3), (mg.randn(1, 2, 4), mg.randn(1, 2, 5)))
    with pytest.raises(ValueError, match=r"\(batch, 3\).*got \(2, 4\)"):
        nn.GRUCell(3, 4)(mg.randn(2, 4))
    with pytest.raises(ValueError, match=r"expected hx of shape \(2, 4\).*got \(3, 4\)"):
        nn.RNNCell(3, 4)(mg.randn(2, 3), mg.randn(3, 4))
    with pytest.raises(ValueError, match="nonlinearity"):
        nn.RNN(3, 4, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="hidden_size"):
        nn.LSTM(3, 0)
    with pytest.raises(ValueError, match="num_layers"):
        nn.GRU(3, 4, num_layers=0)
    with pytest.raises(ValueError, match="dropout"):
        nn.GRU(3, 4, num_layers=2, dropout=1.5)
    with pytest.raises(TypeError, match="Tensor"):
        rnn(np.zeros((5, 2, 3), dtype=np.float32))


# ----------------------------------------------------------------------------- truncated BPTT
def detach_state(state):
    return tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()


def test_truncated_bptt_backward_stops_at_the_chunk_boundary():
    rng = np.random.default_rng(9)
    lstm = nn.LSTM(2, 3).double()
    x1, x2 = rand(rng, 4, 1, 2), rand(rng, 4, 1, 2)
    for detach in (True, False):  # without the detach, the checks fail: the test can tell
        x1.grad = None
        out1, state = lstm(x1)
        first_chunk_node = weakref.ref(state[0].grad_fn)
        del out1
        out2, _ = lstm(x2, detach_state(state) if detach else state)
        del state
        gc.collect()
        # after detach, nothing in the second chunk's graph holds the first chunk's graph
        assert (first_chunk_node() is None) == detach
        out2.sum().backward()
        assert (x1.grad is None) == detach and x2.grad is not None


def _live_ops():
    return sum(1 for o in gc.get_objects() if issubclass(type(o), Op))


def test_truncated_bptt_long_sequence_trains_with_bounded_memory():
    """1,000 steps in chunks of 50: live graph nodes stay bounded, and the loss goes down."""
    mg.manual_seed(0)
    steps, chunk, lr = 1000, 50, 0.5
    wave = np.sin(np.arange(steps + 1) * 0.3)[:, None, None]
    x_all, y_all = wave[:-1].astype(np.float32), wave[1:].astype(np.float32)
    lstm = nn.LSTM(1, 8)
    readout = mg.tensor(np.random.default_rng(0).uniform(-0.3, 0.3, (8, 1)).astype(np.float32), requires_grad=True)
    params = list(lstm.parameters()) + [readout]
    state, losses, live = None, [], []
    for start in range(0, steps, chunk):
        out, state = lstm(mg.tensor(x_all[start:start + chunk]), state)
        loss = ((out @ readout - mg.tensor(y_all[start:start + chunk])) ** 2).mean()
        loss.backward()
        with mg.no_grad():
            for p in params:
                p.data -= lr * p.grad.data
                p.grad = None
        state = detach_state(state)
        losses.append(loss.item())
        del out, loss
        if start // chunk in (2, 10, 19):
            gc.collect()
            live.append(_live_ops())
    assert live[-1] <= live[0] + 20 and live[1] <= live[0] + 20, f"live graph nodes grow: {live}"
    assert np.mean(losses[-3:]) < 0.5 * np.mean(losses[:3]), f"did not train: {losses[:3]} -> {losses[-3:]}"


def test_truncated_bptt_with_nn_utils_detach_state():
    detach = getattr(nn.utils, "detach_state", None)
    if detach is None:
        pytest.skip("mg.nn.utils.detach_state is not written yet")
    lstm = nn.LSTM(2, 3)
    x1 = mg.randn(3, 1, 2, requires_grad=True)
    _, state = lstm(x1)
    state = detach(state)
    assert isinstance(state, tuple) and len(state) == 2
    out, _ = lstm(mg.randn(3, 1, 2), state)
    out.sum().backward()
    assert x1.grad is None


# ----------------------------------------------------------------------------- PyTorch parity
TORCH_CASES = (
    [("rnn_tanh",) + c for c in itertools.product([1, 2], [False, True], [False, True])]
    + [("rnn_relu",) + c for c in itertools.product([1, 2], [False, True], [False, True])]
    + [("gru",) + c for c in itertools.product([1, 2], [False, True], [False, True])]
    + [("lstm",) + c for c in itertools.product([1, 2], [False, True], [False, True])]
)


def torch_pair(kind, n_in, hidden, **kwargs):
    """A float64 torch layer with random weights and the minigrad layer loaded from its state dict."""
    if kind.startswith("rnn"):
        t = torch.nn.RNN(n_in, hidden, nonlinearity=kind[4:], **kwargs)
    elif kind == "gru":
        t = torch.nn.GRU(n_in, hidden, **kwargs)
    else:
        t = torch.nn.LSTM(n_in, hidden, **kwargs)
    t = t.double()
    m = make_layer(kind, n_in, hidden, **kwargs)
    m.load_state_dict({k: v.detach().numpy() for k, v in t.state_dict().items()})
    return t, m


def compare_with_torch(kind, t_layer, m_layer, x_np, state_np, lengths=None, batch_first=False):
    rng = np.random.default_rng(11)
    mx = mg.tensor(x_np, requires_grad=True)
    tx = torch.tensor(x_np, requires_grad=True)
    mstate = [mg.tensor(s, requires_grad=True) for s in state_np]
    tstate = [torch.tensor(s, requires_grad=True) for s in state_np]
    m_out, m_final = m_layer(mx, tuple(mstate) if kind == "lstm" else mstate[0], lengths=lengths)
    t_in = tx
    if lengths is not None:
        t_in = torch.nn.utils.rnn.pack_padded_sequence(tx, lengths, batch_first=batch_first, enforce_sorted=False)
    t_out, t_final = t_layer(t_in, tuple(tstate) if kind == "lstm" else tstate[0])
    if lengths is not None:
        t_out, _ = torch.nn.utils.rnn.pad_packed_sequence(t_out, batch_first=batch_first,
                                                          total_length=x_np.shape[1 if batch_first else 0])
    m_outs, t_outs = [m_out] + flat_state(m_final), [t_out] + list(t_final if kind == "lstm" else [t_final])
    for k, (a, b) in enumerate(zip(m_outs, t_outs)):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-5, atol=1e-12,
                                   err_msg=f"output {k}")
    m_loss, t_loss = 0, 0
    for a, b in zip(m_outs, t_outs):
        g = rng.standard_normal(a.shape)
        m_loss = m_loss + (a * mg.tensor(g)).sum()
        t_loss = t_loss + (b * torch.tensor(g)).sum()
    m_loss.backward()
    t_loss.backward()
    np.testing.assert_allclose(mx.grad.numpy(), tx.grad.numpy(), rtol=1e-5, atol=1e-12, err_msg="input grad")
    for k, (a, b) in enumerate(zip(mstate, tstate)):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-5, atol=1e-12, err_msg=f"state {k} grad")
    t_params = dict(t_layer.named_parameters())
    for name, p in m_layer.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), t_params[name].grad.numpy(), rtol=1e-5, atol=1e-12,
                                   err_msg=f"grad of {name}")


@pytest.mark.skipif(not HAVE_TORCH, reason="PyTorch is not installed")
@pytest.mark.parametrize("kind,num_layers,bidirectional,batch_first", TORCH_CASES)
def test_matches_torch_layers(kind, num_layers, bidirectional, batch_first):
    torch.manual_seed(0)
    rng = np.random.default_rng(10)
    steps, batch, n_in, hidden = 4, 3, 3, 5
    t_layer, m_layer = torch_pair(kind, n_in, hidden, num_layers=num_layers, bidirectional=bidirectional,
                                  batch_first=batch_first)
    x = rng.standard_normal((batch, steps, n_in) if batch_first else (steps, batch, n_in))
    d = 2 if bidirectional else 1
    state = [rng.standard_normal((d * num_layers, batch, hidden)) for _ in range(2 if kind == "lstm" else 1)]
    compare_with_torch(kind, t_layer, m_layer, x, state)


@pytest.mark.skipif(not HAVE_TORCH, reason="PyTorch is not installed")
@pytest.mark.parametrize("kind", ["rnn_tanh", "gru", "lstm"])
@pytest.mark.parametrize("bidirectional,batch_first", [(False, False), (True, False), (True, True)])
def test_lengths_match_torch_packed_sequences(kind, bidirectional, batch_first):
    torch.manual_seed(1)
    rng = np.random.default_rng(12)
    steps, n_in, hidden, lengths = 6, 3, 4, [4, 6, 1, 3]
    batch = len(lengths)
    t_layer, m_layer = torch_pair(kind, n_in, hidden, num_layers=2, bidirectional=bidirectional,
                                  batch_first=batch_first)
    x = rng.standard_normal((batch, steps, n_in) if batch_first else (steps, batch, n_in))
    d = 2 if bidirectional else 1
    state = [rng.standard_normal((d * 2, batch, hidden)) for _ in range(2 if kind == "lstm" else 1)]
    compare_with_torch(kind, t_layer, m_layer, x, state, lengths=lengths, batch_first=batch_first)


@pytest.mark.skipif(not HAVE_TORCH, reason="PyTorch is not installed")
@pytest.mark.parametrize("kind", ["rnn_tanh", "rnn_relu", "gru", "lstm"])
@pytest.mark.parametrize("batched", [True, False])
def test_cell_modules_match_torch(kind, batched):
    torch.manual_seed(2)
    rng = np.random.default_rng(13)
    if kind.startswith("rnn"):
        t_cell = torch.nn.RNNCell(3, 4, nonlinearity=kind[4:])
    elif kind == "gru":
        t_cell = torch.nn.GRUCell(3, 4)
    else:
        t_cell = torch.nn.LSTMCell(3, 4)
    t_cell = t_cell.double()
    m_cell = make_cell(kind, 3, 4)
    m_cell.load_state_dict({k: v.detach().numpy() for k, v in t_cell.state_dict().items()})
    shape = (2, 3) if batched else (3,)
    x = rng.standard_normal(shape)
    hs = [rng.standard_normal(shape[:-1] + (4,)) for _ in range(2 if kind == "lstm" else 1)]
    m_out = m_cell(mg.tensor(x), tuple(mg.tensor(h) for h in hs) if kind == "lstm" else mg.tensor(hs[0]))
    t_out = t_cell(torch.tensor(x), tuple(torch.tensor(h) for h in hs) if kind == "lstm" else torch.tensor(hs[0]))
    for a, b in zip(flat_state(m_out), flat_state(t_out) if kind == "lstm" else [t_out]):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-10)


def test_unbatched_matches_torch():
    if not HAVE_TORCH:
        pytest.skip("PyTorch is not installed")
    torch.manual_seed(3)
    rng = np.random.default_rng(14)
    t_layer, m_layer = torch_pair("lstm", 2, 3, num_layers=2, bidirectional=True)
    x = rng.standard_normal((5, 2))
    state = [rng.standard_normal((4, 3)) for _ in range(2)]
    compare_with_torch("lstm", t_layer, m_layer, x, state)


# ----------------------------------------------------------------------------- GPU
@pytest.mark.gpu
@pytest.mark.parametrize("kind", KINDS)
def test_cuda_matches_cpu(kind):
    rng = np.random.default_rng(15)
    cpu = make_layer(kind, 3, 4, num_layers=2, bidirectional=True, batch_first=True)
    gpu = make_layer(kind, 3, 4, num_layers=2, bidirectional=True, batch_first=True).to("cuda")
    gpu.load_state_dict(cpu.state_dict())
    x = rng.standard_normal((3, 5, 3))
    results = []
    for layer, device in ((cpu, "cpu"), (gpu, "cuda")):
        xt = mg.tensor(x, device=device, requires_grad=True)
        out, final = layer(xt, lengths=[5, 2, 4])
        assert out.device.startswith(device)
        (out.sum() + sum((s * s).sum() for s in flat_state(final))).backward()
        results.append([out.cpu().detach().numpy(), xt.grad.cpu().numpy()]
                       + [p.grad.cpu().numpy() for p in layer.parameters()])
    for a, b in zip(*results):
        np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("cls", [mg.nn.RNN, mg.nn.GRU, mg.nn.LSTM])
@pytest.mark.parametrize("fused", [True, False])
def test_unbatched_input_with_batch_first(cls, fused):
    layer = cls(3, 4, batch_first=True, fused=fused)
    out, state = layer(mg.randn(5, 3))
    h = state[0] if isinstance(state, tuple) else state
    assert out.shape == (5, 4) and h.shape == (1, 4)  # as PyTorch: no batch dim added


# ----------------------------------------------------------------------------- LSTM with projections
@pytest.mark.skipif(not HAVE_TORCH, reason="PyTorch is not installed")
@pytest.mark.parametrize("num_layers,bidirectional,batch_first", [(1, False, False), (2, True, True), (2, False, True)])
@pytest.mark.parametrize("with_lengths", [False, True])
def test_projected_lstm_matches_torch(num_layers, bidirectional, batch_first, with_lengths):
    torch.manual_seed(2)
    rng = np.random.default_rng(13)
    steps, batch, n_in, hidden, proj = 5, 4, 3, 6, 2
    t_layer, m_layer = torch_pair("lstm", n_in, hidden, num_layers=num_layers, bidirectional=bidirectional,
                                  batch_first=batch_first, proj_size=proj)
    assert repr(m_layer) == repr(t_layer)
    x = rng.standard_normal((batch, steps, n_in) if batch_first else (steps, batch, n_in))
    d = 2 if bidirectional else 1
    state = [rng.standard_normal((d * num_layers, batch, proj)), rng.standard_normal((d * num_layers, batch, hidden))]
    compare_with_torch("lstm", t_layer, m_layer, x, state, lengths=[5, 2, 3, 1] if with_lengths else None,
                       batch_first=batch_first)


def test_projected_lstm_shapes_gradcheck_and_errors():
    mg.manual_seed(0)
    layer = nn.LSTM(3, 5, num_layers=2, bidirectional=True, proj_size=2).double()
    assert layer.weight_hr_l1_reverse.shape == (2, 5) and layer.weight_hh_l0.shape == (20, 2)
    assert layer.weight_ih_l1.shape == (20, 4)  # the next layer reads 2 directions x proj_size
    x = mg.tensor(np.random.default_rng(0).normal(size=(3, 2, 3)), requires_grad=True)
    out, (h, c) = layer(x)
    assert out.shape == (3, 2, 4) and h.shape == (4, 2, 2) and c.shape == (4, 2, 5)
    assert mg.autograd.gradcheck(lambda t: layer(t)[0], x)
    with pytest.raises(ValueError, match=r"h_0 of shape \(4, 2, 2\).*proj_size"):
        layer(x, (mg.zeros(4, 2, 5, dtype=mg.float64), mg.zeros(4, 2, 5, dtype=mg.float64)))
    with pytest.raises(ValueError, match="smaller than hidden_size"):
        nn.LSTM(3, 5, proj_size=5)
    with pytest.raises(ValueError, match="proj_size must be an integer"):
        nn.LSTM(3, 5, proj_size=-1)
