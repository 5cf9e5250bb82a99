"""minigrad's side of the benchmarks: W1-W5 written with minigrad's public API only.

The same models as :mod:`benchmarks.workloads_torch`, line for line
(``import minigrad as mg``; ``mg.nn`` layers, ``mg.nn.CrossEntropyLoss``,
``mg.optim``), the same starting weights (loaded with ``load_state_dict``),
the same data.  On ``device="cuda"`` the models and data live on CuPy arrays.

``variant`` (the runner's ``--variant``, e.g. ``fused=True``) is a dict of
keyword arguments given to the recurrent layers of W2/W3 (``mg.nn.LSTM``,
``mg.nn.GRU``), the hook for comparing their implementations.

``python -m benchmarks.workloads_minigrad --check`` compares one step's
gradients (and two optimizer steps) with PyTorch at small sizes.
"""
from __future__ import annotations

import numpy as np

import minigrad as mg
from minigrad import nn

from . import make_data, make_params


# ----------------------------------------------------------------------------- models
class LeNet5(nn.Module):
    """W1: LeNet-5 on 1x28x28 (61,706 parameters)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(400, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)
        self.relu = nn.ReLU()
        self.pool = nn.MaxPool2d(2, 2)
        self.flatten = nn.Flatten()

    def forward(self, x):
        x = self.pool(self.relu(self.conv1(x)))
        x = self.pool(self.relu(self.conv2(x)))
        x = self.flatten(x)
        x = self.relu(self.fc1(x))
        x = self.relu(self.fc2(x))
        return self.fc3(x)


class CharLSTM(nn.Module):
    """W2: embedding -> LSTM (time-major) -> linear at every step; returns (T*B, vocab) logits."""

    def __init__(self, vocab, embed, hidden, **rnn_options):
        super().__init__()
        self.embed = nn.Embedding(vocab, embed)
        self.lstm = nn.LSTM(embed, hidden, **rnn_options)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, tokens):
        out, _ = self.lstm(self.embed(tokens))
        logits = self.head(out)
        return logits.reshape(-1, logits.shape[-1])


class GRUSentiment(nn.Module):
    """W3: embedding -> GRU (time-major) -> last hidden state -> linear."""

    def __init__(self, vocab, embed, hidden, classes, **rnn_options):
        super().__init__()
        self.embed = nn.Embedding(vocab, embed)
        self.gru = nn.GRU(embed, hidden, **rnn_options)
        self.head = nn.Linear(hidden, classes)

    def forward(self, tokens):
        _, h_n = self.gru(self.embed(tokens))
        return self.head(h_n[0])


class MLP(nn.Module):
    """W4: Linear/ReLU stack (784-512-512-10)."""

    def __init__(self, sizes):
        super().__init__()
        self.n_layers = len(sizes) - 1
        for k in range(self.n_layers):
            setattr(self, f"fc{k + 1}", nn.Linear(sizes[k], sizes[k + 1]))
        self.relu = nn.ReLU()

    def forward(self, x):
        for k in range(1, self.n_layers + 1):
            x = getattr(self, f"fc{k}")(x)
            if k < self.n_layers:
                x = self.relu(x)
        return x


def make_model(cfg, variant=None):
    """The minigrad model and its optimizer class for a workload config."""
    kind, options = cfg["kind"], dict(variant or {})
    if kind == "lenet5":
        return LeNet5(), mg.optim.SGD
    if kind == "charlstm":
        return CharLSTM(cfg["vocab"], cfg["embed"], cfg["hidden"], **options), mg.optim.Adam
    if kind == "grusent":
        return GRUSentiment(cfg["vocab"], cfg["embed"], cfg["hidden"], cfg["classes"], **options), mg.optim.Adam
    if kind == "mlp":
        return MLP(cfg["sizes"]), mg.optim.SGD
    raise ValueError(f"unknown workload kind {kind!r}")


def _to_numpy(t):
    return t.detach().cpu().numpy().copy()


# ----------------------------------------------------------------------------- workloads
class MinigradWorkload:
    """A model, its data and optimizer; ``step()`` = zero_grad, forward, loss, backward, update.

    Same interface as the NumPy floor's :class:`~benchmarks.workloads_numpy.FloorWorkload`.
    """

    def __init__(self, cfg, device="cpu", variant=None, params=None, data=None):
        self.device = device
        data = data or make_data(cfg)
        self.model, optimizer_class = make_model(cfg, variant)
        params = params if params is not None else make_params(cfg)
        self.model.load_state_dict({k: np.array(v) for k, v in params.items()})
        self.model.to(device)
        self.x = mg.tensor(data["x"], device=device)
        self.y = mg.tensor(data["y"].reshape(-1), device=device)
        self.loss_fn = nn.CrossEntropyLoss()
        self.optimizer = optimizer_class(self.model.parameters(), lr=cfg["lr"])
        self.n_params = sum(p.numel() for p in self.model.parameters())

    def forward_backward(self):
        self.optimizer.zero_grad()
        loss = self.loss_fn(self.model(self.x), self.y)
        loss.backward()
        return loss

    def step(self):
        loss = self.forward_backward()
        self.optimizer.step()
        return loss

    def grads(self):
        return {k: _to_numpy(p.grad) for k, p in self.model.named_parameters()}

    def params(self):
        return {k: _to_numpy(p) for k, p in self.model.named_parameters()}

    @staticmethod
    def loss_value(loss):
        return float(loss.item())

    def sync(self):
        if self.device != "cpu":
            mg.cuda.synchronize()


class MinigradOverhead:
    """W5: a chain of elementwise ops (add, mul, tanh in turn) on small tensors, sum, backward."""

    def __init__(self, cfg, device="cpu", variant=None, params=None, data=None):
        self.device = device
        data = data or make_data(cfg)
        self.chain = cfg["chain"]
        self.x = mg.tensor(data["x"], device=device, requires_grad=True)
        self.w = mg.tensor(data["w"], device=device, requires_grad=True)
        self.n_params = 0

    def forward_backward(self):
        x, w = self.x, self.w
        x.grad = w.grad = None
        y = x
        for k in range(self.chain):
            if k % 3 == 0:
                y = y + w
            elif k % 3 == 1:
                y = y * w
            else:
                y = mg.tanh(y)
        total = y.sum()
        total.backward()
        return total

    step = forward_backward  # no optimizer: a step is the chain forward and backward

    def grads(self):
        return {"x": _to_numpy(self.x.grad), "w": _to_numpy(self.w.grad)}

    def params(self):
        return {"x": _to_numpy(self.x), "w": _to_numpy(self.w)}

    loss_value = staticmethod(MinigradWorkload.loss_value)
    sync = MinigradWorkload.sync


def build(cfg, device="cpu", variant=None, params=None, data=None):
    """The minigrad workload for ``cfg`` (an entry of ``benchmarks.WORKLOADS``).

    ``variant``: keyword arguments for ``mg.nn.LSTM``/``mg.nn.GRU`` (W2/W3 only).
    """
    if cfg["kind"] == "overhead":
        return MinigradOverhead(cfg, device, variant, params, data)
    return MinigradWorkload(cfg, device, variant, params, data)


def info(device="cpu"):
    """minigrad's version and, on CUDA, CuPy's version and the GPU."""
    out = {"minigrad": mg.__version__}
    if str(device).startswith("cuda"):
        try:
            import cupy  # noqa: PLC0415 - only to name the GPU in the report

            out["cupy"] = cupy.__version__
            props = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)
            name = props.get("name", b"")
            out["gpu"] = name.decode() if isinstance(name, bytes) else str(name)
        except Exception as e:  # the worker reports the real error when the model is built
            out["cupy"] = f"unavailable ({type(e).__name__})"
    return out


def _main(argv=None):
    import argparse

    parser = argparse.ArgumentParser(prog="python -m benchmarks.workloads_minigrad",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="compare one step's gradients (and two optimizer steps) with PyTorch at small sizes")
    parser.add_argument("--workloads", default="W1,W2,W3,W4,W5")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--variant", default=None, help="as the runner's --variant, e.g. 'fused'")
    args = parser.parse_args(argv)
    if not args.check:
        parser.print_help()
        return 0
    from .run import parse_variant
    from .workloads_torch import check_against_torch

    variant = parse_variant(args.variant)
    ok = check_against_torch(lambda cfg, device, **kw: build(cfg, device, variant=variant, **kw),
                             args.workloads.split(","), label="minigrad", device=args.device)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(_main())
