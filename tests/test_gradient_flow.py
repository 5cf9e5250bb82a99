"""mg.utils.gradient_flow: ||dL/dh_t|| per time step, checked against closed forms."""
import numpy as np
import pytest

import minigrad as mg
from minigrad import nn


def _set(param, array):
    param.data[...] = np.asarray(array, dtype=param.dtype)


def _linear_relu_rnn(rng, n_in, hidden):
    """A ReLU RNN whose states stay positive (positive weights, inputs, zero biases): ReLU is the identity,
    so h_t = W h_{t-1} + U x_t exactly."""
    rnn = nn.RNN(n_in, hidden, nonlinearity="relu").double()
    w = rng.uniform(0.05, 1.0, (hidden, hidden))
    w *= 0.9 / np.max(np.abs(np.linalg.eigvals(w)))  # spectral radius 0.9: a slow, visible decay
    _set(rnn.weight_hh_l0, w)
    _set(rnn.weight_ih_l0, rng.uniform(0.1, 1.0, (hidden, n_in)))
    _set(rnn.bias_ih_l0, np.zeros(hidden))
    _set(rnn.bias_hh_l0, np.zeros(hidden))
    return rnn, w


def test_linear_rnn_matches_closed_form():
    """h_t = W h_{t-1} + U x_t and L = <g, h_T>:  dL/dh_t = (W^T)^(T-t) g for every row of the batch."""
    rng = np.random.default_rng(0)
    steps, batch, n_in, hidden = 12, 3, 2, 4
    rnn, w = _linear_relu_rnn(rng, n_in, hidden)
    x = mg.tensor(rng.uniform(0.1, 1.0, (steps, batch, n_in)))
    g = rng.standard_normal((batch, hidden))  # the gradient at the last step: signs mixed
    norms = mg.utils.gradient_flow(rnn, x, lambda out: (out[1][0] * mg.tensor(g)).sum())
    # the states really are positive, so the ReLU is the identity and the closed form applies
    assert (rnn(x)[0].detach().numpy() > 0).all()
    expected = np.empty(steps)
    grad = g.T  # (H, B): one column per batch element
    for t in range(steps - 1, -1, -1):
        expected[t] = np.linalg.norm(grad)
        grad = w.T @ grad
    assert norms.shape == (steps,) and norms.dtype == np.float64
    np.testing.assert_allclose(norms, expected, rtol=1e-10)
    assert norms[0] < 0.5 * norms[-1]  # and it does decay: the check is not vacuous


class LinearRNN(nn.Module):
    """h_t = h_{t-1} W^T + x_t U^T with no nonlinearity, following gradient_flow's protocol."""

    def __init__(self, w, u):
        super().__init__()
        self.w, self.u = nn.Parameter(w), nn.Parameter(u)
        self.keep_states = False
        self.step_states = None

    def forward(self, x):
        h = mg.zeros(x.shape[1], self.w.shape[0], dtype=x.dtype)
        states = []
        for x_t in x.unbind(0):
            h = h @ self.w.T + x_t @ self.u.T
            states.append(h)
        if self.keep_states:
            self.step_states = states
        return h


class Regressor(nn.Module):
    """A model that contains a recurrent layer: gradient_flow finds it."""

    def __init__(self, recurrent, hidden):
        super().__init__()
        self.recurrent = recurrent
        self.readout = nn.Parameter(np.linspace(-1, 1, hidden)[:, None])

    def forward(self, x):
        h = self.recurrent(x)
        return h @ self.readout


def test_custom_module_protocol_and_model_search():
    """Any module with keep_states/step_states can be probed; a model containing it is searched."""
    rng = np.random.default_rng(1)
    hidden, steps = 3, 8
    w = rng.standard_normal((hidden, hidden)) * 0.4
    model = Regressor(LinearRNN(w, rng.standard_normal((hidden, 2))), hidden)
    x = mg.tensor(rng.standard_normal((steps, 2, 2)))
    norms = mg.utils.gradient_flow(model, x, lambda y: y.sum())
    g = np.tile(model.readout.detach().numpy()[:, 0], (2, 1)).T  # dL/dh_T, (H, B)
    expected = [np.linalg.norm(np.linalg.matrix_power(w.T, steps - 1 - t) @ g) for t in range(steps)]
    np.testing.assert_allclose(norms, expected, rtol=1e-10)
    assert model.recurrent.keep_states is False and model.recurrent.step_states is None


def test_tanh_rnn_with_small_weights_decays_with_distance():
    mg.manual_seed(0)
    rnn = nn.RNN(2, 8).double()
    with mg.no_grad():
        for p in rnn.parameters():
            p.data *= 0.5  # small weights: every step's Jacobian shrinks the gradient
    x = mg.randn(40, 2, 2).double()
    norms = mg.utils.gradient_flow(rnn, x, lambda out: out[0][-1].sum())
    distance_first = norms[::-1]
    assert np.all(np.diff(distance_first) < 0), "the norm must fall at every step back in time"
    assert distance_first[20] < 1e-6 * distance_first[0]


def test_gated_cells_keep_the_gradient_when_their_gates_say_remember():
    """The example's claim: a vanilla RNN loses the gradient over 50 steps; an LSTM whose forget gate is
    biased open keeps it (same hidden size, same seed)."""
    mg.manual_seed(0)
    x = mg.randn(60, 4, 2)
    rnn, lstm = nn.RNN(2, 32), nn.LSTM(2, 32)
    with mg.no_grad():
        lstm.bias_ih_l0.data[32:64] += 3.0  # forget gate ~ sigmoid(3) = 0.95
    loss = lambda out: out[0][-1].sum()  # noqa: E731
    rnn_norms, lstm_norms = mg.utils.gradient_flow(rnn, x, loss), mg.utils.gradient_flow(lstm, x, loss)
    assert rnn_norms[-51] < 1e-8 * rnn_norms[-1]
    assert lstm_norms[-51] > 1e-2 * lstm_norms[-1]


def test_leaves_parameter_grads_and_layer_state_unchanged():
    mg.manual_seed(1)
    gru = nn.GRU(2, 3, bidirectional=True)
    marker = mg.ones(9, 3)
    gru.weight_hh_l0.grad = marker
    norms = mg.utils.gradient_flow(gru, mg.randn(5, 2, 2), lambda out: out[0].sum())
    assert gru.weight_hh_l0.grad is marker and gru.bias_ih_l0.grad is None
    assert gru.keep_states is False and gru.step_states is None
    assert norms.shape == (5,) and np.all(norms > 0)


def test_reverse_direction_and_lstm_state_tuple():
    mg.manual_seed(2)
    lstm = nn.LSTM(2, 4, bidirectional=True)
    x = mg.randn(6, 1, 2)
    # loss on the reverse direction's output at step 1: it saw steps 1..6, so the gradient is largest there
    norms = mg.utils.gradient_flow(lstm, x, lambda out: out[0][0, :, 4:].sum(), direction="reverse")
    assert norms.shape == (6,) and np.argmax(norms) == 0 and np.all(norms > 0)
    forward = mg.utils.gradient_flow(lstm, x, lambda out: out[0][0, :, 4:].sum())
    np.testing.assert_array_equal(forward, np.zeros(6))  # the forward direction does not reach that loss


def test_errors():
    with pytest.raises(ValueError, match="no recurrent layer"):
        mg.utils.gradient_flow(nn.Sequential(), mg.randn(3, 1, 2), lambda out: out.sum())
    rnn = nn.RNN(2, 3)
    with pytest.raises(ValueError, match="one-element tensor"):
        mg.utils.gradient_flow(rnn, mg.randn(3, 1, 2), lambda out: out[0])
    assert rnn.keep_states is False and rnn.step_states is None  # cleaned up after the error
    with pytest.raises(ValueError, match="direction"):
        mg.utils.gradient_flow(rnn, mg.randn(3, 1, 2), lambda out: out[0].sum(), direction="up")
    with pytest.raises(ValueError, match="bidirectional"):
        mg.utils.gradient_flow(rnn, mg.randn(3, 1, 2), lambda out: out[0].sum(), direction="reverse")


def test_vanishing_gradients_example_runs_and_shows_the_effect(capsys):
    """The example (smaller): the vanilla RNN's gradient vanishes, the gate-biased GRU/LSTM keep theirs."""
    import importlib.util
    import os

    path = os.path.join(os.path.dirname(__file__), "..", "examples", "vanishing_gradients.py")
    spec = importlib.util.spec_from_file_location("vanishing_gradients_example", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    results = example.main(["--length", "40", "--hidden", "16", "--batch", "4"])
    printed = capsys.readouterr().out
    assert "d=20" in printed and "LSTM" in printed
    default, biased = results.values()
    for by_model in (default, biased):
        rnn = by_model["RNN (tanh)"]
        assert rnn.shape == (40,) and rnn[0] < 1e-6 * rnn[-1]
    for name in ("GRU", "LSTM"):
        assert biased[name][0] > 1e-3 * biased[name][-1], name
        assert biased[name][0] > 1e3 * default[name][0], name  # the gate bias is what keeps it
