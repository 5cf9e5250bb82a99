"""The fused recurrent path (minigrad/ops/rnn_fused.py) proven against the unrolled path of nn.rnn.

The unrolled layers are plain autograd through ordinary ops (checked against
PyTorch and by gradcheck in test_rnn.py), so they are the reference: the
fused ops must give the same outputs and the same gradients for every input,
initial state and parameter, in every configuration the layers support.
"""
import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
from minigrad import nn
from minigrad.autograd.engine import BackwardError
from minigrad.ops import rnn_fused as F

from test_rnn import KINDS, make_layer  # noqa: E402  (the same layer factory as the unrolled tests)

FUSED_OP = {"rnn_tanh": "RNNLayerOp", "rnn_relu": "RNNLayerOp", "gru": "GRULayerOp", "gru_textbook": "GRULayerOp",
            "lstm": "LSTMLayerOp"}


def run_layer(layer, kind, x_np, state_np, lengths, seed=0, dtype=np.float64):
    """Forward, then backward of a random weighting of every output.

    Returns (output values, gradients of input/states/parameters, names of the ops on the tape).
    """
    layer.zero_grad()
    x = mg.tensor(x_np.astype(dtype), requires_grad=True)
    states = [mg.tensor(s.astype(dtype), requires_grad=True) for s in state_np or []]
    hx = None if not states else (tuple(states) if kind == "lstm" else states[0])
    mg.manual_seed(seed)  # the same dropout masks on both paths
    with mg.autograd.tape() as tape:
        out, final = layer(x, hx, lengths=lengths)
    outs = [out] + (list(final) if kind == "lstm" else [final])
    rng = np.random.default_rng(seed)
    loss = None
    for o in outs:
        term = (o * mg.tensor(rng.standard_normal(o.shape).astype(dtype))).sum()
        loss = term if loss is None else loss + term
    loss.backward()
    values = [o.detach().numpy().copy() for o in outs]
    grads = [x.grad.numpy().copy()] + [s.grad.numpy().copy() for s in states]
    grads += [p.grad.numpy().copy() for p in layer.parameters()]
    return values, grads, {entry.op for entry in tape}


def assert_same(a, b, rtol=1e-10, atol=1e-12, what=""):
    assert len(a) == len(b)
    for k, (u, v) in enumerate(zip(a, b)):
        assert u.shape == v.shape and u.dtype == v.dtype, f"{what} {k}: {u.shape} {u.dtype} vs {v.shape} {v.dtype}"
        np.testing.assert_allclose(u, v, rtol=rtol, atol=atol, err_msg=f"{what} {k}")


def fused_vs_unrolled(kind, x_np, state_np, lengths, **layer_kwargs):
    """Run the same layer unrolled and fused; check both ran the intended path and agree."""
    layer = make_layer(kind, x_np.shape[-1], layer_kwargs.pop("hidden"), fused=False, **layer_kwargs)
    ref_values, ref_grads, ref_ops = run_layer(layer, kind, x_np, state_np, lengths)
    layer.fused = True
    values, grads, ops = run_layer(layer, kind, x_np, state_np, lengths)
    assert FUSED_OP[kind] in ops and FUSED_OP[kind] not in ref_ops  # each path really ran
    assert_same(values, ref_values, what="output")
    assert_same(grads, ref_grads, what="gradient")  # input, initial states, every parameter
    return values, grads


# ----------------------------------------------------------------------------- fused == unrolled
@pytest.mark.parametrize("kind", KINDS)
@given(data=st.data())
def test_fused_matches_unrolled(kind, data):
    """Forward and every gradient agree (float64) over sizes, depth, directions, layout, bias, lengths, states."""
    draw = data.draw
    steps, batch = draw(st.integers(1, 5), label="steps"), draw(st.integers(1, 4), label="batch")
    n_in, hidden = draw(st.integers(1, 3), label="n_in"), draw(st.integers(1, 4), label="hidden")
    num_layers, bidirectional = draw(st.integers(1, 2), label="layers"), draw(st.booleans(), label="bidirectional")
    batch_first, bias = draw(st.booleans(), label="batch_first"), draw(st.booleans(), label="bias")
    with_state = draw(st.booleans(), label="with_state")
    lengths = draw(st.none() | st.lists(st.integers(1, steps), min_size=batch, max_size=batch), label="lengths")
    dropout = draw(st.sampled_from([0.0, 0.4]), label="dropout") if num_layers > 1 else 0.0
    rng = np.random.default_rng(draw(st.integers(0, 2**31), label="seed"))
    x_np = rng.uniform(-1, 1, (batch, steps, n_in) if batch_first else (steps, batch, n_in))
    d = 2 if bidirectional else 1
    state_np = None
    if with_state:
        state_np = [rng.uniform(-1, 1, (d * num_layers, batch, hidden)) for _ in range(2 if kind == "lstm" else 1)]
    fused_vs_unrolled(kind, x_np, state_np, lengths, hidden=hidden, num_layers=num_layers, bias=bias,
                      batch_first=batch_first, bidirectional=bidirectional, dropout=dropout)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("lengths,steps", [([3, 5, 1, 4, 5], 5), ([2, 1, 2], 4)])
def test_fused_matches_unrolled_with_lengths(kind, lengths, steps):
    """Unsorted lengths with full-length and length-1 sequences, and max(lengths) < T (padding after every end)."""
    rng = np.random.default_rng(1)
    batch = len(lengths)
    x_np = rng.uniform(-1, 1, (batch, steps, 3))
    x_np[np.arange(steps)[None, :] >= np.array(lengths)[:, None]] = 5.0  # padding must not matter
    state_np = [rng.uniform(-1, 1, (4, batch, 4)) for _ in range(2 if kind == "lstm" else 1)]
    values, grads = fused_vs_unrolled(kind, x_np, state_np, lengths, hidden=4, num_layers=2, batch_first=True,
                                      bidirectional=True)
    out, x_grad = values[0], grads[0]
    for b, n in enumerate(lengths):
        assert np.all(out[b, n:] == 0) and np.all(x_grad[b, n:] == 0)
        assert np.any(out[b, :n] != 0)


@pytest.mark.parametrize("kind", KINDS)
def test_fused_matches_unrolled_every_flag_combination(kind):
    """Every combination of depth, direction, layout, bias, initial state and lengths, at one small size."""
    rng = np.random.default_rng(12)
    for num_layers, bidirectional, batch_first, bias, with_state, use_lengths in itertools.product(
            [1, 2], [False, True], [False, True], [False, True], [False, True], [False, True]):
        x_np = rng.uniform(-1, 1, (3, 4, 2) if batch_first else (4, 3, 2))
        d = 2 if bidirectional else 1
        state_np = None
        if with_state:
            state_np = [rng.uniform(-1, 1, (d * num_layers, 3, 3)) for _ in range(2 if kind == "lstm" else 1)]
        fused_vs_unrolled(kind, x_np, state_np, [2, 4, 1] if use_lengths else None, hidden=3,
                          num_layers=num_layers, bias=bias, batch_first=batch_first, bidirectional=bidirectional)


def test_fused_is_the_default_and_one_node_per_direction():
    layer = nn.LSTM(3, 4, num_layers=2, bidirectional=True)
    assert layer.fused and repr(layer) == "LSTM(3, 4, num_layers=2, bidirectional=True)"
    assert repr(nn.GRU(3, 4, fused=False)) == "GRU(3, 4, fused=False)"
    with mg.autograd.tape() as tape:
        layer(mg.randn(6, 2, 3, requires_grad=True))
    assert [e.op for e in tape].count("LSTMLayerOp") == 4  # (layer, direction) pairs
    assert [e.op for e in tape].count("Add") == 4  # b_ih + b_hh, folded once per (layer, direction)
    assert len(tape) < 16  # plus a few shape ops; the unrolled graph has hundreds of nodes


@pytest.mark.parametrize("kind", KINDS)
def test_fused_under_no_grad_and_unbatched(kind):
    rng = np.random.default_rng(2)
    layer = make_layer(kind, 2, 3, num_layers=2, bidirectional=True)
    x = mg.tensor(rng.uniform(-1, 1, (4, 2)))
    results = []
    for fused in (False, True):
        layer.fused = fused
        with mg.no_grad():
            out, final = layer(x)
        results.append([out.numpy()] + [f.numpy() for f in (final if kind == "lstm" else [final])])
    assert results[0][0].shape == (4, 6)
    assert_same(results[1], results[0])


# ----------------------------------------------------------------------------- the ops themselves
def _op_inputs(kind, rng, steps=3, batch=2, n_in=2, hidden=2, bias=True):
    gates = {"lstm": 4, "gru": 3, "gru_textbook": 3}.get(kind, 1)

    def r(*shape):
        return mg.tensor(rng.uniform(-1, 1, shape), requires_grad=True)

    states = [r(batch, hidden) for _ in range(2 if kind == "lstm" else 1)]
    weights = [r(gates * hidden, n_in), r(gates * hidden, hidden)]
    biases = [r(gates * hidden), r(gates * hidden)] if bias else []
    return [r(steps, batch, n_in)] + states + weights + biases


def _call_op(kind, args, n_states, **kw):
    """The functional fused op on a flat argument list; returns (output, *final states)."""
    x, states, rest = args[0], args[1:1 + n_states], args[1 + n_states:]
    if kind == "lstm":
        out, (h, c) = nn.functional.lstm_layer(x, tuple(states), *rest, **kw)
        return out, h, c
    if kind.startswith("gru"):
        return nn.functional.gru_layer(x, states[0], *rest, reset_after=kind == "gru", **kw)
    return nn.functional.rnn_layer(x, states[0], *rest, nonlinearity=kind[4:], **kw)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("lengths", [None, [3, 1]])
def test_fused_op_gradcheck(kind, reverse, lengths):
    """float64 gradcheck of the hand-written BPTT itself: input, states, weights, biases."""
    rng = np.random.default_rng(3)
    args = _op_inputs(kind, rng, bias=not (reverse and lengths))  # one no-bias case per kind
    n_states = 2 if kind == "lstm" else 1
    assert mg.autograd.gradcheck(lambda *a: _call_op(kind, a, n_states, reverse=reverse, lengths=lengths),
                                 tuple(args))


@pytest.mark.parametrize("kind", KINDS)
def test_fused_op_gradcheck_without_input_grads(kind):
    """Only some inputs need gradients (frozen weights, constant input): the others are skipped, not wrong."""
    rng = np.random.default_rng(4)
    args = _op_inputs(kind, rng)
    n_states = 2 if kind == "lstm" else 1
    args[0].requires_grad = False
    for w in args[1 + n_states:1 + n_states + 2]:
        w.requires_grad = False
    assert mg.autograd.gradcheck(lambda *a: _call_op(kind, a, n_states), tuple(args))


def test_backward_twice_with_retain_graph_gives_the_same_gradients():
    """Backward must not change what forward saved: a second pass gives the same gradients."""
    rng = np.random.default_rng(5)
    args = _op_inputs("lstm", rng, steps=4)
    out, h, c = _call_op("lstm", args, 2, lengths=[4, 2])
    loss = (out * out).sum() + h.sum() + (c * c).sum()
    loss.backward(retain_graph=True)
    first = [a.grad.numpy().copy() for a in args]
    for a in args:
        a.grad = None
    loss.backward()
    for a, g in zip(args, first):
        np.testing.assert_array_equal(a.grad.numpy(), g)


def test_output_is_not_the_saved_state():
    """Changing the returned output in place must not change what backward uses."""
    rng = np.random.default_rng(6)
    layer = make_layer("gru", 2, 3)
    x = mg.tensor(rng.uniform(-1, 1, (4, 2, 2)), requires_grad=True)
    out, h_n = layer(x)
    out.sum().backward(retain_graph=True)
    before = x.grad.numpy().copy()
    out.data[...] = 100.0
    h_n.data[...] = 100.0
    x.grad = None
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), before)


# ----------------------------------------------------------------------------- second order, dtype, keep_states
@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_create_graph_through_fused_layer_raises_clear_error(kind):
    layer = make_layer(kind, 2, 3)
    x = mg.randn(3, 2, 2).double().requires_grad_()
    out, _ = layer(x)
    with pytest.raises(BackwardError, match=r"LayerOp has a hand-written backward.*unfused path"):
        mg.autograd.grad((out * out).sum(), x, create_graph=True)
    out, _ = layer(x)  # first order through the same layer is fine
    (g,) = mg.autograd.grad((out * out).sum(), x)
    assert g.shape == x.shape


@pytest.mark.parametrize("kind", ["rnn_tanh", "gru", "lstm"])
def test_unfused_supports_second_order(kind):
    rng = np.random.default_rng(7)
    layer = make_layer(kind, 1, 2, fused=False)
    x = mg.tensor(rng.uniform(-1, 1, (2, 1, 1)), requires_grad=True)
    h0 = mg.tensor(rng.uniform(-1, 1, (1, 1, 2)), requires_grad=True)

    def fn(x, h0):
        out, _ = layer(x, (h0, h0) if kind == "lstm" else h0)
        return out

    assert mg.autograd.gradgradcheck(fn, (x, h0))


@pytest.mark.parametrize("kind", KINDS)
def test_float32_stays_float32(kind):
    """float32 in, float32 out and gradients (no float64 upcast), close to the float64 unrolled result."""
    rng = np.random.default_rng(8)
    x_np = rng.uniform(-1, 1, (5, 3, 3))
    state_np = [rng.uniform(-1, 1, (4, 3, 4)) for _ in range(2 if kind == "lstm" else 1)]
    ref = make_layer(kind, 3, 4, num_layers=2, bidirectional=True, fused=False)
    ref_values, ref_grads, _ = run_layer(ref, kind, x_np, state_np, [5, 2, 3])
    layer = make_layer(kind, 3, 4, num_layers=2, bidirectional=True).float()
    layer.load_state_dict({k: v.detach().numpy().astype(np.float32) for k, v in ref.state_dict().items()})
    values, grads, ops = run_layer(layer, kind, x_np, state_np, [5, 2, 3], dtype=np.float32)
    assert FUSED_OP[kind] in ops
    assert all(v.dtype == np.float32 for v in values) and all(g.dtype == np.float32 for g in grads)
    assert_same([v.astype(np.float64) for v in values], ref_values, rtol=1e-4, atol=1e-5)
    assert_same([g.astype(np.float64) for g in grads], ref_grads, rtol=1e-4, atol=1e-4)


class _SeqModel(nn.Module):
    """A recurrent layer and a linear head on every step's output."""

    def __init__(self, kind, fused):
        super().__init__()
        self.rnn = make_layer(kind, 3, 5, num_layers=2, bidirectional=True, fused=fused)
        self.head = nn.Linear(10, 2).double()

    def forward(self, x, lengths):
        out, _ = self.rnn(x, lengths=lengths)
        return self.head(out)


@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_training_fused_and_unrolled_reach_the_same_parameters(kind):
    rng = np.random.default_rng(9)
    mg.manual_seed(0)
    models = [_SeqModel(kind, fused=False), _SeqModel(kind, fused=True)]
    models[1].load_state_dict(models[0].state_dict())
    x, y = mg.tensor(rng.uniform(-1, 1, (6, 4, 3))), mg.tensor(rng.uniform(-1, 1, (6, 4, 2)))
    lengths = [6, 3, 1, 5]
    for model in models:
        for _ in range(4):  # plain SGD, written out
            model.zero_grad()
            loss = ((model(x, lengths) - y) ** 2).mean()
            loss.backward()
            with mg.no_grad():
                for p in model.parameters():
                    p.data -= 0.5 * p.grad.data
    start = _SeqModel(kind, fused=True)
    moved = False
    for (name, a), (_, b), (_, s) in zip(models[0].named_parameters(), models[1].named_parameters(),
                                         start.named_parameters()):
        np.testing.assert_allclose(b.detach().numpy(), a.detach().numpy(), rtol=1e-9, atol=1e-12, err_msg=name)
        moved = moved or not np.allclose(a.detach().numpy(), s.detach().numpy())
    assert moved


def test_keep_states_falls_back_to_the_unrolled_path():
    layer = make_layer("lstm", 2, 3, bidirectional=True)
    assert layer.fused
    layer.keep_states = True
    with mg.autograd.tape() as tape:
        out, _ = layer(mg.randn(5, 2, 2).double())
    assert "LSTMLayerOp" not in {e.op for e in tape}
    assert len(layer.step_states) == 5 and len(layer.step_states_reverse) == 5
    norms = mg.utils.gradient_flow(nn.GRU(2, 3).double(), mg.randn(6, 2, 2).double(), lambda o: o[1].sum())
    assert norms.shape == (6,) and norms[-1] > 0


# ----------------------------------------------------------------------------- errors of the functional API
def test_functional_errors_name_shapes_and_dtypes():
    x, h = mg.randn(5, 2, 3), mg.randn(2, 4)
    w_ih, w_hh = mg.randn(12, 3), mg.randn(12, 4)
    with pytest.raises(ValueError, match=r"w_hh of shape \(3\*hidden, hidden\), got \(10, 4\)"):
        nn.functional.gru_layer(x, h, w_ih, mg.randn(10, 4))
    with pytest.raises(ValueError, match=r"expected w_ih of shape \(12, 3\).*got \(12, 2\)"):
        nn.functional.gru_layer(x, h, mg.randn(12, 2), mg.randn(12, 4))
    with pytest.raises(ValueError, match=r"expected c0 of shape \(2, 4\).*got \(3, 4\)"):
        nn.functional.lstm_layer(x, (h, mg.randn(3, 4)), mg.randn(16, 3), mg.randn(16, 4))
    with pytest.raises(ValueError, match=r"\(seq_len, batch, input_size\), got \(5, 3\)"):
        nn.functional.rnn_layer(mg.randn(5, 3), h, mg.randn(4, 3), mg.randn(4, 4))
    with pytest.raises(TypeError, match="float32.*w_hh is float64"):
        nn.functional.rnn_layer(x, h, mg.randn(4, 3), mg.randn(4, 4).double())
    with pytest.raises(ValueError, match="both b_ih and b_hh"):
        nn.functional.rnn_layer(x, h, mg.randn(4, 3), mg.randn(4, 4), mg.randn(4))
    with pytest.raises(ValueError, match=r"between 1 and the sequence length 5.*\[6, 1\]"):
        nn.functional.rnn_layer(x, h, mg.randn(4, 3), mg.randn(4, 4), lengths=[6, 1])
    with pytest.raises(TypeError, match=r"tuple \(h0, c0\)"):
        nn.functional.lstm_layer(x, h, mg.randn(16, 3), mg.randn(16, 4))
    with pytest.raises(ValueError, match="nonlinearity"):
        nn.functional.rnn_layer(x, h, mg.randn(4, 3), mg.randn(4, 4), nonlinearity="sigmoid")
    out, h_n = nn.functional.gru_layer(x, h, w_ih, w_hh)  # and the right shapes work
    assert out.shape == (5, 2, 4) and h_n.shape == (2, 4)


# ----------------------------------------------------------------------------- the CUDA kernels' logic, on the CPU
class _EmulatedKernel:
    """Runs one of rnn_fused's ElementwiseKernel sources with NumPy, all threads at once (i = arange(size)).

    Only the small C subset the kernels use: ``const T a = e, b = e;`` declarations, assignments to
    outputs and to raw arrays at computed flat indices, ``tanh``, integer ``/`` and ``%`` on indices.
    It checks the kernels' indexing and math and the call sites' argument order without a GPU (not
    CuPy's compilation: the @gpu tests below do that).
    """

    def __init__(self, params_in, params_out, body, name):
        def parse(text):
            return [(p.split()[-1], p.split()[0] == "raw") for p in text.split(",")]

        self.params, self.n_in, self.body, self.name = parse(params_in) + parse(params_out), \
            len(parse(params_in)), body, name

    def __call__(self, *args):
        assert len(args) == len(self.params), f"{self.name}: {len(args)} arguments for {len(self.params)} params"
        env, outputs, shape = {"tanh": np.tanh}, set(), None
        for k, ((pname, raw), value) in enumerate(zip(self.params, args)):
            if isinstance(value, np.ndarray):
                if raw:
                    assert value.flags.c_contiguous, f"{self.name}: {pname} is not contiguous"
                    value = value.reshape(-1)  # a view: writes reach the caller's array
                else:  # elementwise: broadcast like CuPy (a (B, H) gate view, an (H,) bias row)
                    shape = np.broadcast_shapes(value.shape, shape or value.shape)
                    if k >= self.n_in:
                        outputs.add(pname)
                env[pname] = value
            else:
                env[pname] = int(value)
        for pname in outputs:
            assert env[pname].shape == shape, f"{self.name}: output {pname} is {env[pname].shape}, not {shape}"
        env["i"] = np.arange(int(np.prod(shape))).reshape(shape)
        for statement in filter(None, (st.strip() for st in self.body.split(";"))):
            if statement.startswith("const ptrdiff_t "):
                statement = statement[len("const ptrdiff_t "):].replace("/", "//")
            elif statement.startswith("const T "):
                statement = statement[len("const T "):]
            for part in statement.split(", "):  # "a = e, b = e" declares several
                target, expr = (x.strip() for x in part.split("=", 1))
                if target in outputs:
                    target += "[...]"
                exec(f"{target} = {expr}", env)


def _emulated_kernels(xp, dtype):
    return {name: _EmulatedKernel(*source, name) for name, source in F._KERNEL_SOURCES.items()}


@pytest.mark.parametrize("kind", ["gru", "lstm"])
@pytest.mark.parametrize("lengths", [None, [5, 2, 4]])
@pytest.mark.parametrize("bias", [True, False])
def test_cuda_kernel_sources_emulated_on_numpy_match_portable_path(kind, lengths, bias, monkeypatch):
    """The kernel bodies (run by a NumPy emulator of ElementwiseKernel) give the portable path's results."""
    layer = make_layer(kind, 3, 4, num_layers=2, bidirectional=True, bias=bias)
    rng = np.random.default_rng(11)
    x_np = rng.uniform(-1, 1, (5, 3, 3))
    state_np = [rng.uniform(-1, 1, (4, 3, 4)) for _ in range(2 if kind == "lstm" else 1)]
    monkeypatch.setattr(F, "USE_CPU_KERNELS", False)
    portable = run_layer(layer, kind, x_np, state_np, lengths)
    monkeypatch.setattr(F, "_cuda_kernels", _emulated_kernels)
    emulated = run_layer(layer, kind, x_np, state_np, lengths)
    assert_same(emulated[0], portable[0], rtol=1e-13, atol=1e-15, what="output")
    assert_same(emulated[1], portable[1], rtol=1e-12, atol=1e-14, what="gradient")


# ----------------------------------------------------------------------------- GPU (CuPy): untested on this machine
def _results(layer, kind, device, dtype, lengths):
    """Forward and backward of ``layer`` on ``device``: outputs, input gradient, parameter gradients (NumPy)."""
    rng = np.random.default_rng(10)
    x = mg.tensor(rng.uniform(-1, 1, (3, 5, 3)).astype(dtype), device=device, requires_grad=True)
    out, final = layer(x, lengths=lengths)
    finals = list(final) if kind == "lstm" else [final]
    loss = (out * out).sum() + sum((f * f * 0.5).sum() for f in finals)
    loss.backward()
    return ([t.cpu().detach().numpy() for t in [out] + finals] + [x.grad.cpu().numpy()]
            + [p.grad.cpu().numpy() for p in layer.parameters()])


def _layer_on(kind, device, dtype, fused, state_dict=None):
    layer = make_layer(kind, 3, 4, num_layers=2, bidirectional=True, batch_first=True, fused=fused).to(dtype)
    if state_dict is not None:
        layer.load_state_dict(state_dict)
    return layer.to(device)


@pytest.mark.gpu
@pytest.mark.parametrize("kind", ["gru", "lstm"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_cuda_kernels_match_portable_path(kind, dtype, monkeypatch):
    """The fused CUDA kernels (LSTM, GRU) against the portable CuPy code, forward and backward."""
    tol = dict(rtol=1e-11, atol=1e-12) if dtype == np.float64 else dict(rtol=2e-4, atol=1e-5)
    layer = _layer_on(kind, "cuda", dtype, fused=True)
    for lengths in (None, [5, 2, 4]):
        monkeypatch.setattr(F, "USE_CUDA_KERNELS", True)
        with_kernels = _results(layer, kind, "cuda", dtype, lengths)
        layer.zero_grad()
        monkeypatch.setattr(F, "USE_CUDA_KERNELS", False)
        portable = _results(layer, kind, "cuda", dtype, lengths)
        layer.zero_grad()
        for a, b in zip(with_kernels, portable):
            np.testing.assert_allclose(a, b, **tol)


@pytest.mark.gpu
@pytest.mark.parametrize("kind", KINDS)
def test_cuda_fused_matches_cpu_unrolled(kind):
    cpu = _layer_on(kind, "cpu", np.float64, fused=False)
    gpu = _layer_on(kind, "cuda", np.float64, fused=True, state_dict=cpu.state_dict())
    for a, b in zip(_results(gpu, kind, "cuda", np.float64, [5, 2, 4]),
                    _results(cpu, kind, "cpu", np.float64, [5, 2, 4])):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
