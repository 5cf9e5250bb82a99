"""Tools that show backpropagation through time: each step's share of the gradient, custom cells."""
import numpy as np
import pytest

import minigrad as mg
from minigrad.nn.functional import softmax


def _layer(kind, **kw):
    mg.manual_seed(0)
    cls = {"RNN": mg.nn.RNN, "GRU": mg.nn.GRU, "LSTM": mg.nn.LSTM}[kind]
    return cls(3, 4, **kw).double()


def _loss(output, state):
    h = state[0] if isinstance(state, tuple) else state
    return (output ** 2).sum() * 0.5 + (h * h.detach().sin()).sum()  # uses every output step and h_n


CASES = [
    ("RNN", {}), ("GRU", {}), ("LSTM", {}),
    ("RNN", {"bidirectional": True}), ("GRU", {"bidirectional": True}), ("LSTM", {"bidirectional": True}),
    ("RNN", {"num_layers": 2}), ("GRU", {"num_layers": 2}), ("LSTM", {"num_layers": 2}),
    ("LSTM", {"num_layers": 2, "bidirectional": True, "batch_first": True}),
    ("GRU", {"reset_after": False, "bidirectional": True}),
    ("LSTM", {"proj_size": 2, "bidirectional": True}),
]


@pytest.mark.parametrize("kind,kw", CASES, ids=lambda v: str(v))
def test_bptt_contributions_sum_to_the_gradient_backward_leaves(kind, kw):
    layer = _layer(kind, **kw)
    x = mg.randn(2, 5, 3, dtype=mg.float64) if kw.get("batch_first") else mg.randn(5, 2, 3, dtype=mg.float64)
    contributions = mg.utils.bptt_contributions(layer, x, _loss)
    assert all(p.grad is None for p in layer.parameters())  # left untouched
    output, state = layer(x)  # the default, fused path
    _loss(output, state).backward()
    assert sorted(contributions) == sorted(n for n, _ in layer.named_parameters())
    for name, p in layer.named_parameters():
        c = contributions[name]
        assert c.shape == (5,) + tuple(p.shape) and c.dtype == np.float64
        np.testing.assert_allclose(c.sum(0), p.grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=name)
        assert np.count_nonzero(np.abs(c).reshape(5, -1).sum(1)) >= 4, name  # spread over steps, not all on one


def test_bptt_contributions_with_lengths_and_h0():
    layer = _layer("GRU", bidirectional=True)
    x = mg.randn(6, 3, 3, dtype=mg.float64)
    h0 = mg.randn(2, 3, 4, dtype=mg.float64)
    lengths = [6, 2, 4]
    contributions = mg.utils.bptt_contributions(layer, x, _loss, h0, lengths=lengths)
    output, state = layer(x, h0, lengths=lengths)
    _loss(output, state).backward()
    for name, p in layer.named_parameters():
        np.testing.assert_allclose(contributions[name].sum(0), p.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_early_steps_share_vanishes_for_a_loss_on_the_last_step():
    mg.manual_seed(1)
    layer = mg.nn.RNN(2, 8).double()
    x = mg.randn(30, 1, 2, dtype=mg.float64)
    contributions = mg.utils.bptt_contributions(layer, x, lambda out, h: out[-1].sum())
    norms = mg.utils.step_norms(contributions)["weight_hh_l0"]
    assert norms.shape == (30,)
    assert norms[0] < 1e-3 * norms[-1]
    assert norms[0] == 0.0  # W_hh at step 1 multiplies h_0 = 0


def test_bptt_contributions_errors():
    with pytest.raises(TypeError, match="recurrent layer"):
        mg.utils.bptt_contributions(mg.nn.Linear(2, 2), mg.randn(3, 2), lambda o, s: o.sum())
    layer = mg.nn.RNN(2, 3, num_layers=2, dropout=0.5)
    with pytest.raises(ValueError, match="layer.eval"):
        mg.utils.bptt_contributions(layer, mg.randn(3, 2), lambda o, s: o.sum())
    layer.eval()
    with pytest.raises(ValueError, match="one-element"):
        mg.utils.bptt_contributions(layer, mg.randn(3, 2), lambda o, s: o)
    assert "_per_step_weights" not in layer.__dict__


def test_plot_bptt_contributions(tmp_path):
    pytest.importorskip("matplotlib")
    layer = _layer("LSTM")
    contributions = mg.utils.bptt_contributions(layer, mg.randn(6, 1, 3, dtype=mg.float64),
                                                lambda o, s: o[-1].sum())
    ax = mg.utils.plot_bptt_contributions(contributions)
    assert [line.get_label() for line in ax.get_lines()] == ["weight_ih_l0", "weight_hh_l0"]
    ax.figure.savefig(tmp_path / "c.svg")
    assert (tmp_path / "c.svg").stat().st_size > 1000


# ----------------------------------------------------------------------------- custom cells
class SoftmaxRNN(mg.nn.RNNBase):
    """The lecture's unit h' = softmax(W h + U x + b)."""

    def __init__(self, input_size, hidden_size, **kw):
        super().__init__("SOFTMAX", input_size, hidden_size, **kw)

    def cell_math(self, w_ih, w_hh, b_ih, b_hh):
        w_hh_t = w_hh.T

        def step(gi, h):
            pre = gi + h @ w_hh_t
            return softmax(pre if b_hh is None else pre + b_hh, dim=-1)

        return w_ih, b_ih, step


def _reference_softmax_rnn(layer, x, lengths):
    """The same unit, written as a plain loop in NumPy, forward direction, one layer."""
    w_ih, w_hh = layer.weight_ih_l0.detach().numpy(), layer.weight_hh_l0.detach().numpy()
    b = layer.bias_ih_l0.detach().numpy() + layer.bias_hh_l0.detach().numpy()
    h = np.zeros((x.shape[1], layer.hidden_size))
    outs = []
    for t in range(x.shape[0]):
        pre = x[t] @ w_ih.T + h @ w_hh.T + b
        new = np.exp(pre - pre.max(-1, keepdims=True))
        new /= new.sum(-1, keepdims=True)
        running = (t < np.asarray(lengths))[:, None]
        h = np.where(running, new, h)
        outs.append(np.where(running, h, 0.0))
    return np.stack(outs), h


def test_custom_cell_runs_under_defaults_with_layers_directions_and_lengths():
    mg.manual_seed(0)
    layer = SoftmaxRNN(3, 5, num_layers=2, bidirectional=True).double()
    assert layer.fused  # the default: still runs, unrolled, because no fused op computes this cell
    x = mg.randn(6, 2, 3, dtype=mg.float64)
    output, h_n = layer(x, lengths=[6, 4])
    assert output.shape == (6, 2, 10) and h_n.shape == (4, 2, 5)
    np.testing.assert_allclose(output[:4].detach().numpy().reshape(4, 2, 2, 5).sum(-1), 1.0)  # softmax rows
    assert np.all(output[4:, 1].detach().numpy() == 0.0)  # padding
    output.sum().backward()
    assert all(p.grad is not None for p in layer.parameters())
    contributions = mg.utils.bptt_contributions(layer, x, lambda o, s: (o * o).sum(), lengths=[6, 4])
    for p in layer.parameters():
        p.grad = None
    out, _ = layer(x, lengths=[6, 4])
    (out * out).sum().backward()
    for name, p in layer.named_parameters():
        np.testing.assert_allclose(contributions[name].sum(0), p.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_custom_cell_matches_a_plain_loop():
    mg.manual_seed(2)
    layer = SoftmaxRNN(3, 4).double()
    x = np.random.default_rng(0).normal(size=(5, 3, 3))
    lengths = [5, 3, 1]
    output, h_n = layer(mg.tensor(x), lengths=lengths)
    want_out, want_h = _reference_softmax_rnn(layer, x, lengths)
    np.testing.assert_allclose(output.detach().numpy(), want_out, rtol=1e-12)
    np.testing.assert_allclose(h_n[0].detach().numpy(), want_h, rtol=1e-12)


def test_subclass_of_a_builtin_layer_with_its_own_cell_runs_unrolled_and_plain_subclass_stays_fused():
    class LeakyRNN(mg.nn.RNN):
        def cell_math(self, w_ih, w_hh, b_ih, b_hh):
            w_ih, b_in, step = super().cell_math(w_ih, w_hh, b_ih, b_hh)
            return w_ih, b_in, lambda gi, h: 0.5 * h + 0.5 * step(gi, h)

    class NamedGRU(mg.nn.GRU):
        pass

    x = mg.randn(4, 2, 3)
    with mg.autograd.tape() as t:
        LeakyRNN(3, 4)(x)
        NamedGRU(3, 4)(x)
    ops = [e.op for e in t]
    assert "RNNLayerOp" not in ops and "GRULayerOp" in ops


# ----------------------------------------------------------------------------- the backward tape
def test_backward_tape_lists_nodes_in_run_order_with_gradients_arrived_and_sent():
    w = mg.tensor([[1.0, -2.0], [0.5, 3.0]], requires_grad=True)
    x = mg.tensor([1.0, 2.0])
    with mg.autograd.tape(backward=True, params={"w": w}) as t:
        y = (x @ w).tanh()
        loss = (y * y).sum()
        loss.backward()
    assert [e.op for e in t] == ["Matmul", "Tanh", "Mul", "Sum"]  # backward's own ops are not listed
    bw = t.backward
    assert [e.op for e in bw] == ["Sum", "Mul", "Tanh", "Matmul"]
    assert [e.seq for e in bw] == sorted((e.seq for e in t), reverse=True)
    sum_entry, mul_entry, tanh_entry, matmul_entry = bw
    assert sum_entry.grads_in == [((), 1.0)]
    # Mul(y, y) sends y to Tanh's node once per input
    y_np = np.tanh(np.array([1.0, 2.0]) @ w.detach().numpy())
    assert [g[2] for g in mul_entry.grads_out] == [f"Tanh #{tanh_entry.seq}"] * 2
    np.testing.assert_allclose(mul_entry.grads_out[0][1], np.linalg.norm(y_np))
    np.testing.assert_allclose(tanh_entry.grads_in[0][1], np.linalg.norm(2 * y_np))
    assert matmul_entry.grads_out[0] is None  # x is a constant
    assert matmul_entry.grads_out[1][0] == (2, 2) and matmul_entry.grads_out[1][2] == "w"
    np.testing.assert_allclose(matmul_entry.grads_out[1][1], np.linalg.norm(w.grad.numpy()))
    text = str(t)
    assert "backward:" in text and "grad arrived" in text and text.rstrip().endswith("w")


def test_plain_tape_is_unchanged_by_backward_and_records_no_backward():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    with mg.autograd.tape() as t:
        (x * 2).sum().backward()
    assert t.backward is None and "backward:" not in str(t)
    with mg.autograd.tape(backward=True) as t2:
        pass
    assert str(t2.backward) == "(no backward recorded)"


def test_backward_tape_of_a_recurrent_layer_and_autograd_grad():
    mg.manual_seed(0)
    rnn = mg.nn.RNN(2, 3, fused=False)
    x = mg.randn(4, 1, 2)
    with mg.autograd.tape(backward=True) as t:
        out, _ = rnn(x)
        (g,) = mg.autograd.grad(out[-1].sum(), [rnn.weight_hh_l0])
    ops = [e.op for e in t.backward]
    assert ops.count("Tanh") == 4  # one per step, last step first
    seqs = [e.seq for e in t.backward]
    assert seqs == sorted(seqs, reverse=True)
    assert g.shape == (3, 3)


# ----------------------------------------------------------------------------- drawing
import re  # noqa: E402


def test_draw_unrolled_collapsed_rnn_has_one_box_per_step_and_gradient_norms_on_edges():
    mg.manual_seed(0)
    rnn = mg.nn.RNN(3, 4)
    x = mg.randn(4, 2, 3)
    loss = lambda out, h: out[-1].sum()  # noqa: E731
    dot = mg.utils.draw_unrolled(rnn, x, loss)
    assert isinstance(dot, str) and dot.startswith("digraph unrolled {") and dot.rstrip().endswith("}")
    assert len(dot.splitlines()) < 70  # readable: no per-op nodes
    assert [f"x_{t}" in dot and f"h_{t}" in dot and f"y_{t}" in dot for t in range(1, 5)] == [True] * 4
    assert dot.count("tanh RNN cell") == 4
    assert dot.count("shared by every step") == 1
    assert len(re.findall(r"l0_W -> l0_c\d", dot)) == 4  # the weights linked to every step
    assert "l0_h0 -> l0_c0;" in dot and "l0_h1 -> l0_c1;" in dot and "x2 -> l0_c2;" in dot
    drawn = [float(v) for v in re.findall(r'dL/dh_\d\\n([0-9.e+-]+)"', dot)]
    want = mg.utils.gradient_flow(rnn, x, lambda out: loss(*out))
    np.testing.assert_allclose(drawn, want, rtol=2e-3)
    assert all(p.grad is None for p in rnn.parameters())  # parameters' .grad untouched
    assert rnn.keep_states is False and rnn.step_states_all is None


def test_draw_unrolled_without_loss_expanded_and_deep_bidirectional():
    mg.manual_seed(0)
    x = mg.randn(3, 1, 2)
    plain = mg.utils.draw_unrolled(mg.nn.GRU(2, 3), x)
    assert "dL/dh" not in plain and plain.count("GRU cell") == 3
    expanded = mg.utils.draw_unrolled(mg.nn.LSTM(2, 3), x, lambda o, s: o.sum(), expand=True)
    assert expanded.count("subgraph cluster_") == 3 and expanded.count('label="Sigmoid"') == 9
    edges = [line for line in expanded.splitlines() if "->" in line]
    assert len(edges) == len(set(edges))
    deep = mg.utils.draw_unrolled(mg.nn.LSTM(2, 3, num_layers=2, bidirectional=True, batch_first=True),
                                  mg.randn(1, 3, 2), lambda o, s: o[:, -1].sum())
    assert deep.count("shared by every step") == 4 and deep.count("LSTM cell") == 12
    assert "l0_h1 -> l1_c0;" in deep and "l0_reverse_h1 -> l1_c0;" in deep  # layer 1 reads both directions
    assert "l1_h3 -> y2;" in deep and "l1_reverse_h3 -> y2;" in deep


def test_draw_unrolled_custom_cell_and_errors():
    layer = SoftmaxRNN(2, 3)
    dot = mg.utils.draw_unrolled(layer, mg.randn(3, 2), lambda o, s: o[-1, 0])
    assert dot.count("SoftmaxRNN cell") == 3
    with pytest.raises(ValueError, match="one-element"):
        mg.utils.draw_unrolled(layer, mg.randn(3, 2), lambda o, s: o)
    assert layer.keep_states is False
    with pytest.raises(TypeError, match="recurrent layer"):
        mg.utils.draw_unrolled(mg.nn.Linear(2, 2), mg.randn(3, 2))


@pytest.mark.parametrize("tool", ["bptt_contributions", "record_gates", "draw_unrolled"])
def test_tools_refuse_an_input_that_is_not_a_tensor(tool):
    args = (lambda o, s: o.sum(),) if tool == "bptt_contributions" else ()
    with pytest.raises(TypeError, match=f"{tool}: x must be a minigrad Tensor, got ndarray"):
        getattr(mg.utils, tool)(mg.nn.GRU(2, 3), np.zeros((3, 2)), *args)


def test_to_dot_values_and_grads():
    x = mg.tensor(2.0, requires_grad=True)
    w = mg.tensor([1.0, 2.0], requires_grad=True)
    y = (x * w).sum()
    y.backward(retain_graph=True)
    dot = mg.utils.to_dot(y, params={"x": x, "w": w}, values=True, grads=True)
    assert 'label="x\\nscalar\\ndata 2\\ngrad 3"' in dot
    assert 'label="w\\n2\\ndata |.|=2.236\\ngrad |.|=2.828"' in dot
    assert 'label="output\\nscalar\\ndata 6"' in dot
    assert "data" not in mg.utils.to_dot(y)


def test_render_needs_graphviz_and_says_how_to_install_it(tmp_path, monkeypatch):
    dot = mg.utils.to_dot((mg.tensor(1.0, requires_grad=True) * 2).sum())
    if mg.utils.graphviz_available():
        dot.render(tmp_path / "g.svg")
        assert (tmp_path / "g.svg").read_text().lstrip().startswith("<?xml")
        assert "<svg" in dot._repr_svg_()
    monkeypatch.setattr("shutil.which", lambda name: None)
    with pytest.raises(RuntimeError, match="apt-get install graphviz.*only Python bindings"):
        dot.render(tmp_path / "g.png")
    assert dot._repr_svg_() is None


# ----------------------------------------------------------------------------- gates
def test_record_gates_matches_the_layer_and_recomputes_the_lstm_cell():
    mg.manual_seed(0)
    lstm = mg.nn.LSTM(3, 4, num_layers=2, bidirectional=True).double()
    x = mg.randn(5, 2, 3, dtype=mg.float64)
    record = mg.utils.record_gates(lstm, x)
    assert sorted(record) == ["l0", "l0_reverse", "l1", "l1_reverse"]
    assert sorted(record["l0"]) == ["c", "cell", "forget", "h", "input", "output"]
    out, (h_n, c_n) = lstm(x)
    np.testing.assert_allclose(record.output.detach().numpy(), out.detach().numpy(), rtol=1e-12)
    for key, index in (("l1", 2), ("l1_reverse", 3)):
        g = record[key]
        assert g["forget"].shape == (5, 2, 4) and 0 < g["forget"].min() and g["forget"].max() < 1
        # the recorded gates really are the cell's: c_t = f c_{t-1} + i g, h_t = o tanh(c_t)
        order = range(5) if key == "l1" else range(4, -1, -1)
        c = np.zeros((2, 4))
        for t in order:
            c = g["forget"][t] * c + g["input"][t] * g["cell"][t]
            np.testing.assert_allclose(g["c"][t], c, rtol=1e-12)
            np.testing.assert_allclose(g["h"][t], g["output"][t] * np.tanh(c), rtol=1e-12)
        np.testing.assert_allclose(c, c_n[index].detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(record["l1"]["h"], out.detach().numpy()[:, :, :4], rtol=1e-12)


def test_record_gates_gru_forms_lengths_and_batch_first():
    mg.manual_seed(0)
    for reset_after in (True, False):
        gru = mg.nn.GRU(3, 4, batch_first=True, reset_after=reset_after)
        record = mg.utils.record_gates(gru, mg.randn(2, 6, 3), lengths=[6, 3])
        assert sorted(record["l0"]) == ["candidate", "h", "reset", "update"]
        assert record["l0"]["update"].shape == (6, 2, 4)
        assert gru.keep_states is False
    rnn = mg.utils.record_gates(mg.nn.RNN(3, 4), mg.randn(6, 3))
    assert sorted(rnn["l0"]) == ["h"]


def test_plot_gates(tmp_path):
    pytest.importorskip("matplotlib")
    record = mg.utils.record_gates(mg.nn.GRU(2, 3), mg.randn(5, 1, 2))
    fig = mg.utils.plot_gates(record)
    assert len([ax for ax in fig.axes if ax.get_ylabel()]) == 4
    fig.savefig(tmp_path / "g.svg")
    with pytest.raises(KeyError, match="l1"):
        mg.utils.plot_gates(record, key="l1")
