"""Vanishing gradients: how much of the loss's gradient reaches each earlier time step?

Task: the adding problem (Hochreiter & Schmidhuber, 1997) at length 100.
Each input step is (value, marker); two steps are marked, and the target is
the sum of their two values, predicted from the last hidden state.  A marked
step may be 99 steps before the loss, so learning it needs dL/dh_t to reach
far back in time.

For a vanilla tanh RNN, a GRU and an LSTM of the same hidden size, this
script measures ||dL/dh_t|| at every step with ``mg.utils.gradient_flow`` and
prints it by distance from the loss (distance 0 = the last step):

1. with PyTorch's default initialisation, U(-1/sqrt(H), 1/sqrt(H)) for every
   weight and bias;
2. with the gated cells told to remember: the LSTM's forget-gate bias and the
   GRU's update-gate bias raised by ``--gate-bias`` (the usual remedy, e.g.
   Gers et al. 2000, Jozefowicz et al. 2015).  The vanilla RNN has no gate
   to bias and stays as it was.

What to look for: backpropagation multiplies the gradient by one Jacobian
dh_t/dh_{t-1} per step.  For the vanilla RNN that is diag(tanh') W_hh, whose
norm is well below 1 at this initialisation, so the gradient shrinks
geometrically: by about 20 orders of magnitude over 99 steps.  At default
initialisation the gates sit near sigmoid(0) = 0.5, so the LSTM's cell
path (dc_t/dc_{t-1} = f_t ~ 0.5) and the GRU's carry path (z_t ~ 0.5) also
halve the gradient at every step: the gated cells *can* keep it, but only
once their gates lean towards remembering.  With the gate bias the LSTM's
and GRU's gradients stay within a few orders of magnitude over all 99 steps,
while the vanilla RNN's still vanishes.

Run:  python examples/vanishing_gradients.py [--out DIR] [--train-steps N]
(``--out``: also save ``vanishing_gradients.png``, log scale, if matplotlib
is installed).
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout

import minigrad as mg  # noqa: E402
from minigrad import nn  # noqa: E402

DISTANCES = (0, 1, 2, 5, 10, 20, 50, 99)
CELLS = (("RNN (tanh)", nn.RNN), ("GRU", nn.GRU), ("LSTM", nn.LSTM))


def adding_problem(batch, length, rng):
    """Inputs (batch, length, 2) float32 and targets (batch, 1): the sum of the two marked values.

    One mark falls in the first half of the sequence, the other in the second half.
    """
    values = rng.uniform(0.0, 1.0, (batch, length)).astype(np.float32)
    rows = np.arange(batch)
    first = rng.integers(0, length // 2, batch)
    second = rng.integers(length // 2, length, batch)
    marks = np.zeros((batch, length), dtype=np.float32)
    marks[rows, first] = 1.0
    marks[rows, second] = 1.0
    targets = (values[rows, first] + values[rows, second])[:, None]
    return np.stack([values, marks], axis=-1), targets


class LastStepRegressor(nn.Module):
    """A recurrent layer (batch first) and a linear readout of the last step's hidden state."""

    def __init__(self, cell_class, hidden_size):
        super().__init__()
        self.recurrent = cell_class(2, hidden_size, batch_first=True)
        self.readout = nn.Linear(hidden_size, 1)

    def forward(self, x):
        output, _ = self.recurrent(x)  # (B, T, H)
        return self.readout(output[:, -1])  # (B, 1)


def open_the_gates(model, bias):
    """Raise the bias of the gate that keeps the old state: LSTM forget gate (rows H..2H), GRU update gate
    (rows H..2H: z multiplies h_{t-1}).  The vanilla RNN has no such gate."""
    layer, hidden = model.recurrent, model.recurrent.hidden_size
    if isinstance(layer, (nn.LSTM, nn.GRU)):
        with mg.no_grad():
            layer.bias_ih_l0.data[hidden:2 * hidden] += bias


def train(model, x, y, steps, lr=1e-3):
    """A few Adam steps on the same batch (optional: to see whether training changes the picture)."""
    if steps <= 0:
        return
    optimizer = mg.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.MSELoss()
    for _ in range(steps):
        optimizer.zero_grad()
        loss_fn(model(x), y).backward()
        optimizer.step()


def measure(length=100, hidden=64, batch=32, seed=0, gate_bias=3.0, train_steps=0):
    """||dL/dh_t|| for t = 1..length, per setting and model: ``{setting: {model name: array}}``."""
    rng = np.random.default_rng(seed)
    x_np, y_np = adding_problem(batch, length, rng)
    x, y = mg.tensor(x_np), mg.tensor(y_np)
    loss_fn = nn.MSELoss()
    results = {}
    for setting, bias in (("PyTorch default init", 0.0), (f"gate bias +{gate_bias:g}", gate_bias)):
        results[setting] = {}
        for name, cell_class in CELLS:
            mg.manual_seed(seed)  # the same weights in both settings
            model = LastStepRegressor(cell_class, hidden)
            open_the_gates(model, bias)
            train(model, x, y, train_steps)
            results[setting][name] = mg.utils.gradient_flow(model, x, lambda pred: loss_fn(pred, y))
    return results


def print_table(results, distances):
    for setting, by_model in results.items():
        print(f"\n||dL/dh_t|| by distance d = T - t from the loss ({setting})")
        header = f"{'model':<12}" + "".join(f"{'d=' + str(d):>10}" for d in distances) + f"{'d=max/d=0':>12}"
        print(header)
        print("-" * len(header))
        for name, norms in by_model.items():
            by_distance = norms[::-1]
            row = "".join(f"{by_distance[d]:>10.2e}" for d in distances)
            print(f"{name:<12}{row}{by_distance[-1] / by_distance[0]:>12.1e}")


def plot(results, path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot")
        return
    fig, ax = plt.subplots(figsize=(7, 4.5))
    colors = {name: f"C{k}" for k, (name, _) in enumerate(CELLS)}
    for style, (setting, by_model) in zip(("-", "--"), results.items()):
        for name, norms in by_model.items():
            if style == "--" and name.startswith("RNN"):
                continue  # unchanged by the gate bias
            ax.plot(np.arange(len(norms)), norms[::-1], style, color=colors[name], label=f"{name}, {setting}")
    ax.set_yscale("log")
    ax.set_xlabel("distance from the loss (steps back in time)")
    ax.set_ylabel("||dL/dh_t||")
    ax.set_title("Gradient reaching each time step (adding problem)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    print(f"\nsaved {path}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--length", type=int, default=100, help="sequence length T")
    parser.add_argument("--hidden", type=int, default=64, help="hidden size of every model")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--gate-bias", type=float, default=3.0, help="added to the LSTM forget / GRU update gate bias")
    parser.add_argument("--train-steps", type=int, default=0, help="Adam steps before measuring")
    parser.add_argument("--out", default=None, help="directory for vanishing_gradients.png")
    args = parser.parse_args(argv)
    results = measure(args.length, args.hidden, args.batch, args.seed, args.gate_bias, args.train_steps)
    print_table(results, [d for d in DISTANCES if d < args.length])
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        plot(results, os.path.join(args.out, "vanishing_gradients.png"))
    return results


if __name__ == "__main__":
    main()
