"""Draw the pictures of backpropagation through time shown in the guide (docs/img/*.svg).

* ``unrolled_rnn.svg``: ``mg.utils.draw_unrolled`` of a 4-step RNN after a
  loss on its last output (needs Graphviz's ``dot`` program; skipped without it);
* ``bptt_contributions.svg``: ``mg.utils.bptt_contributions`` for a tanh RNN,
  a GRU and an LSTM with a loss on the last step: how much of dL/dW_hh each
  time step contributes (the vanishing gradient seen from the weights' side);
* ``lstm_forget_gate.svg``: an LSTM that must recall, at the last step, the
  symbol it saw at the first one: its forget gates over time
  (``mg.utils.record_gates``) next to ``||dL/dh_t||`` of the same run
  (``mg.utils.gradient_flow``), at PyTorch's default init and with the
  forget-gate bias raised by 2, and the accuracy each reaches when trained;
* ``truncated_bptt.svg``: examples/truncated_bptt.py's measurement.

Needs matplotlib.  Run:  python examples/bptt_pictures.py --out docs/img
(``--quick``: small sizes, a few seconds, for the tests).
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import minigrad as mg  # noqa: E402
from minigrad import nn  # noqa: E402
from minigrad.nn import functional as F  # noqa: E402


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams["svg.fonttype"] = "none"  # text stays text: small files
    matplotlib.rcParams["svg.hashsalt"] = "minigrad"  # the same picture gives the same file
    import matplotlib.pyplot as plt

    return plt


def unrolled(out):
    mg.manual_seed(0)
    rnn = nn.RNN(3, 4)
    dot = mg.utils.draw_unrolled(rnn, mg.randn(4, 2, 3), lambda output, h_n: output[-1].sum())
    if not mg.utils.graphviz_available():
        print("Graphviz's dot is not installed: unrolled_rnn.svg skipped")
        return None
    return dot.render(os.path.join(out, "unrolled_rnn.svg"))


def contributions(out, steps):
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    x = mg.randn(steps, 8, 2)
    for name, cls in (("RNN ", nn.RNN), ("GRU ", nn.GRU), ("LSTM ", nn.LSTM)):
        mg.manual_seed(0)
        layer = cls(2, 16)
        c = mg.utils.bptt_contributions(layer, x, lambda output, state: output[-1].pow(2).sum())
        mg.utils.plot_bptt_contributions(c, names=["weight_hh_l0"], ax=ax, prefix=name)
    ax.set_title("Each step's share of dL/dW_hh (loss on the last step, default init)", fontsize=10)
    path = os.path.join(out, "bptt_contributions.svg")
    fig.savefig(path)
    plt.close(fig)
    return path


def recall_batch(rng, batch, steps, symbols=4):
    """The symbol shown at step 0 (one-hot) must be named after ``steps`` steps of noise on an extra channel."""
    sym = rng.integers(0, symbols, batch)
    x = np.zeros((steps, batch, symbols + 1), np.float32)
    x[0, np.arange(batch), sym] = 1.0
    x[1:, :, symbols] = rng.normal(size=(steps - 1, batch))
    return mg.tensor(x), mg.tensor(sym)


class Recall(nn.Module):
    def __init__(self, hidden, symbols=4):
        super().__init__()
        self.lstm = nn.LSTM(symbols + 1, hidden)
        self.head = nn.Linear(hidden, symbols)

    def forward(self, x):
        output, _ = self.lstm(x)
        return self.head(output[-1])


def _trained_recall(steps, updates, hidden, forget_bias):
    """An LSTM recall model with the forget-gate bias raised by ``forget_bias``, trained for ``updates``
    steps; returns (model at init, trained model, test accuracy of the trained one)."""
    mg.manual_seed(0)
    model = Recall(hidden)
    with mg.no_grad():  # forget-gate bias (rows H..2H of the LSTM's biases)
        model.lstm.bias_ih_l0.data[hidden:2 * hidden] += forget_bias
    at_init = Recall(hidden)
    at_init.load_state_dict(model.state_dict())
    rng = np.random.default_rng(0)
    optimizer = mg.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(updates):
        x, y = recall_batch(rng, 32, steps)
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
    x_test, y_test = recall_batch(np.random.default_rng(1), 256, steps)
    with mg.no_grad():
        accuracy = float((model(x_test).numpy().argmax(1) == y_test.numpy()).mean())
    return at_init, model, accuracy


def forget_gate(out, steps, updates, hidden=16):
    """Forget gates and gradient flow at init, default vs forget-gate bias +2, on one recall sequence;
    the accuracy each reaches when trained."""
    plt = _pyplot()
    x_one, y_one = recall_batch(np.random.default_rng(1), 1, steps)
    loss_fn = lambda logits: F.cross_entropy(logits, y_one)  # noqa: E731
    runs = {}
    for label, bias in (("default init", 0.0), ("forget-gate bias +2", 2.0)):
        at_init, _, accuracy = _trained_recall(steps, updates, hidden, bias)
        forget = mg.utils.record_gates(at_init.lstm, x_one)["l0"]["forget"][:, 0, :].T  # (H, T)
        flow = mg.utils.gradient_flow(at_init, x_one, loss_fn)
        runs[label] = (forget, flow, accuracy)
    fig = plt.figure(figsize=(6.6, 6.0), constrained_layout=True)
    axes = fig.subplots(3, 1, sharex=True, gridspec_kw={"height_ratios": [1, 1, 1.1]})
    for ax, (label, (forget, flow, accuracy)) in zip(axes, runs.items()):
        image = ax.imshow(forget, aspect="auto", vmin=0, vmax=1, cmap="viridis", interpolation="nearest",
                          extent=(0.5, steps + 0.5, hidden - 0.5, -0.5))
        ax.set_ylabel("unit")
        ax.set_title(f"forget gate f_t, {label} (mean {forget.mean():.2f}); trained: accuracy {accuracy:.2f}",
                     fontsize=9)
    fig.colorbar(image, ax=axes[:2], pad=0.01, fraction=0.04)
    t = np.arange(1, steps + 1)
    for label, (_, flow, _) in runs.items():
        axes[2].semilogy(t, flow / flow[-1], label=label)
    axes[2].set_xlabel("time step t (the symbol to recall is shown at t = 1, the loss is at the last step)")
    axes[2].set_ylabel("||dL/dh_t|| / ||dL/dh_T||")
    axes[2].legend(fontsize=8)
    axes[2].grid(True, which="both", alpha=0.3)
    path = os.path.join(out, "lstm_forget_gate.svg")
    fig.savefig(path)
    plt.close(fig)
    for label, (forget, flow, accuracy) in runs.items():
        print(f"{label}: mean forget gate {forget.mean():.3f}, ||dL/dh_1||/||dL/dh_T|| {flow[0] / flow[-1]:.2e}, "
              f"recall accuracy after {updates} updates {accuracy:.3f}")
    return path, runs


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=os.path.join("docs", "img"))
    p.add_argument("--quick", action="store_true", help="small sizes, for the tests")
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    written = [unrolled(args.out), contributions(args.out, 10 if args.quick else 30)]
    written.append(forget_gate(args.out, 10 if args.quick else 30, 20 if args.quick else 600)[0])
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import truncated_bptt

    truncated_bptt.main((["--quick"] if args.quick else []) + ["--out", args.out])
    written.append(os.path.join(args.out, "truncated_bptt.svg"))
    for path in written:
        if path:
            print(f"wrote {path}")
    return [w for w in written if w]


if __name__ == "__main__":
    main()
