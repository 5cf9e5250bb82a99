"""What truncated BPTT costs: the same model trained with full BPTT and with windows of k steps.

Task: delayed recall.  The input is a random sequence of symbols (one-hot,
``--symbols`` of them); at every step t >= d the model must output the symbol
it saw d = ``--delay`` steps earlier.  Chance is 1/symbols.  The dependency
is known exactly: the answer at step t sits d steps back.

Training (same initial weights, same batches for every run): a GRU reads the
whole sequence; the loss is the mean cross-entropy over the steps t >= d.
With full BPTT the gradient of that loss flows back through all T steps.
With a window k the sequence is cut into chunks of k steps and the hidden
state is detached between chunks (``detach_state``): the forward pass still
carries the state across the cut, but no gradient crosses it.  The chunks'
gradients are summed, so every run makes one optimizer step per batch and
the only difference is where the gradient stops.

Measured for every k:

* ``cos(init)`` and ``cos(trained)``: the cosine similarity between the
  truncated gradient and the full one, over all parameters, on one fixed
  batch, at the initial weights and at the weights full BPTT ends with (the
  point where the long dependency matters);
* ``accuracy``: the final accuracy of the run trained with window k, on
  fresh sequences, at the steps t >= d.

What to look for: a window k <= d never has x_{t-d} and the loss at step t in
the same chunk, so no gradient links them and the run stays near chance; from
k > d on, some positions of each window teach the delay and, the weights
being shared across steps, the model learns it everywhere.

Run:  python examples/truncated_bptt.py [--quick] [--out DIR]
(``--out``: also save ``truncated_bptt.svg`` if matplotlib is installed).
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import minigrad as mg  # noqa: E402
from minigrad.nn import functional as F  # noqa: E402


class Recall(mg.nn.Module):
    """GRU + linear read-out: logits (T, B, symbols) for a one-hot input (T, B, symbols)."""

    def __init__(self, symbols, hidden):
        super().__init__()
        self.gru = mg.nn.GRU(symbols, hidden)
        self.head = mg.nn.Linear(hidden, symbols)

    def forward(self, x, h=None):
        out, h = self.gru(x, h)
        return self.head(out), h


def make_batch(rng, batch, steps, symbols, delay):
    """One-hot inputs (T, B, symbols) and targets (T, B): the symbol ``delay`` steps back, -100 before."""
    seq = rng.integers(0, symbols, size=(steps, batch))
    x = np.eye(symbols, dtype=np.float32)[seq]
    target = np.full((steps, batch), -100, dtype=np.int64)
    target[delay:] = seq[:-delay]
    return mg.tensor(x), mg.tensor(target)


def window_loss_and_grads(model, x, target, window):
    """Gradient of the mean loss over the valid steps, the state detached every ``window`` steps
    (``window=None``: full BPTT).  Returns (loss value, [gradient per parameter])."""
    params = list(model.parameters())
    steps = x.shape[0]
    valid = int((target.numpy() != -100).sum())
    window = window or steps
    total, grads, h = 0.0, [mg.zeros_like(p) for p in params], None
    for start in range(0, steps, window):
        logits, h = model(x[start:start + window], h)
        chunk_t = target[start:start + window]
        count = int((chunk_t.numpy() != -100).sum())
        if count:
            # mean over the whole sequence's valid steps = sum of the chunks' sums / valid
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), chunk_t.reshape(-1),
                                   reduction="sum") / valid
            chunk_grads = mg.autograd.grad(loss, params, allow_unused=True)
            grads = [g if cg is None else g + cg for g, cg in zip(grads, chunk_grads)]
            total += loss.item()
        h = h.detach()  # truncation: no gradient crosses into the previous chunk
    return total, grads


def cosine(a, b):
    va = np.concatenate([g.numpy().ravel() for g in a]).astype(np.float64)
    vb = np.concatenate([g.numpy().ravel() for g in b]).astype(np.float64)
    return float(va @ vb / (np.linalg.norm(va) * np.linalg.norm(vb) + 1e-30))


def accuracy(model, x, target):
    with mg.no_grad():
        logits, _ = model(x)
    t = target.numpy()
    pred = logits.numpy().argmax(-1)
    keep = t != -100
    return float((pred[keep] == t[keep]).mean())


def train(args, window, init_state):
    model = Recall(args.symbols, args.hidden)
    model.load_state_dict(init_state)
    opt = mg.optim.Adam(model.parameters(), lr=args.lr)
    rng = np.random.default_rng(args.seed + 1)  # the same batches for every window
    for _ in range(args.updates):
        x, target = make_batch(rng, args.batch, args.steps, args.symbols, args.delay)
        _, grads = window_loss_and_grads(model, x, target, window)
        for p, g in zip(model.parameters(), grads):
            p.grad = g
        mg.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    return model


def parse(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=60, help="sequence length T")
    p.add_argument("--delay", type=int, default=8, help="the answer at step t is the input at t - delay")
    p.add_argument("--symbols", type=int, default=4)
    p.add_argument("--hidden", type=int, default=32)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--updates", type=int, default=300, help="optimizer steps per run")
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--windows", default="1,2,5,10,20,50", help="truncation windows k, comma-separated")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="a small run (seconds): T=20, delay 3, 40 updates")
    p.add_argument("--out", help="directory for truncated_bptt.svg (needs matplotlib)")
    args = p.parse_args(argv)
    if args.quick:
        args.steps, args.delay, args.hidden, args.batch, args.updates = 20, 3, 16, 16, 40
        args.windows = "1,2,5,10"
    args.windows = [int(k) for k in args.windows.split(",")]
    return args


def main(argv=None):
    args = parse(argv)
    mg.manual_seed(args.seed)
    init_state = {k: v.numpy().copy() for k, v in Recall(args.symbols, args.hidden).state_dict().items()}
    init_state = {k: mg.tensor(v) for k, v in init_state.items()}
    probe_x, probe_t = make_batch(np.random.default_rng(args.seed + 2), 64, args.steps, args.symbols, args.delay)
    test_x, test_t = make_batch(np.random.default_rng(args.seed + 3), 256, args.steps, args.symbols, args.delay)

    full_model = train(args, None, init_state)
    init_model = Recall(args.symbols, args.hidden)
    init_model.load_state_dict(init_state)
    references = {name: window_loss_and_grads(m, probe_x, probe_t, None)[1]
                  for name, m in (("init", init_model), ("trained", full_model))}
    print(f"delayed recall: T={args.steps}, delay d={args.delay}, {args.symbols} symbols "
          f"(chance {1 / args.symbols:.2f}), GRU({args.hidden}), {args.updates} updates of {args.batch}")
    print(f"{'window k':>10} {'cos(init)':>10} {'cos(trained)':>13} {'accuracy':>9}")
    results = {}
    for k in args.windows + [None]:
        cos = {name: cosine(window_loss_and_grads(m, probe_x, probe_t, k)[1], references[name])
               for name, m in (("init", init_model), ("trained", full_model))}
        model = full_model if k is None else train(args, k, init_state)
        acc = accuracy(model, test_x, test_t)
        label = "full" if k is None else str(k)
        results[label] = {"cos_init": cos["init"], "cos_trained": cos["trained"], "accuracy": acc}
        print(f"{label:>10} {cos['init']:>10.3f} {cos['trained']:>13.3f} {acc:>9.3f}", flush=True)
    if args.out:
        plot(results, args, os.path.join(args.out, "truncated_bptt.svg"))
    return results


def plot(results, args, path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        matplotlib.rcParams["svg.fonttype"] = "none"  # text stays text: small files
        matplotlib.rcParams["svg.hashsalt"] = "minigrad"
        import matplotlib.pyplot as plt
    except ImportError:
        print("(matplotlib not installed: no plot)")
        return
    labels = list(results)
    xs = np.arange(len(labels))
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.plot(xs, [results[k]["cos_init"] for k in labels], "o-", label="cosine to full gradient (init)")
    ax.plot(xs, [results[k]["cos_trained"] for k in labels], "s-", label="cosine to full gradient (trained)")
    ax.plot(xs, [results[k]["accuracy"] for k in labels], "^-", label="final accuracy")
    ax.axhline(1 / args.symbols, color="gray", linestyle=":", label="chance")
    ax.axvline(next((i for i, k in enumerate(labels) if k == "full" or int(k) > args.delay), 0) - 0.5,
               color="firebrick", alpha=0.4, label=f"k > delay {args.delay}")
    ax.set_xticks(xs, labels)
    ax.set_xlabel("truncation window k")
    ax.set_ylim(-0.05, 1.05)
    ax.legend(fontsize=7, loc="center right")
    ax.set_title(f"Truncated BPTT on delayed recall (T={args.steps}, d={args.delay})")
    fig.tight_layout()
    fig.savefig(path)
    print(f"saved {path}")


if __name__ == "__main__":
    main()
