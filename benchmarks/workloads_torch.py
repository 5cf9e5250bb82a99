"""The PyTorch reference: W1-W5 with torch.nn and torch.optim (cuDNN on CUDA).

The same models, shapes, starting weights, data and optimizers as the minigrad
workloads and the NumPy floor (the parameter names here are the names all three
use).  This module also holds :func:`check_against_torch`, the gradient check
that ``python -m benchmarks.workloads_numpy --check`` (and
``python -m benchmarks.workloads_minigrad --check``) run.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from . import CHECK_SIZES, make_data, make_params


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

    def __init__(self, vocab, embed, hidden):
        super().__init__()
        self.embed = nn.Embedding(vocab, embed)
        self.lstm = nn.LSTM(embed, hidden)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, tokens):
        out, _ = self.lstm(self.embed(tokens))
        logits = self.head(out)
        return logits.reshape(-1, logits.shape[-1])


class GRUSentiment(nn.Module):
    """W3: embedding -> GRU (time-major) -> last hidden state -> linear."""

    def __init__(self, vocab, embed, hidden, classes):
        super().__init__()
        self.embed = nn.Embedding(vocab, embed)
        self.gru = nn.GRU(embed, hidden)
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


def make_model(cfg):
    """The torch.nn model and its optimizer class and learning rate for a workload config."""
    kind = cfg["kind"]
    if kind == "lenet5":
        return LeNet5(), torch.optim.SGD
    if kind == "charlstm":
        return CharLSTM(cfg["vocab"], cfg["embed"], cfg["hidden"]), torch.optim.Adam
    if kind == "grusent":
        return GRUSentiment(cfg["vocab"], cfg["embed"], cfg["hidden"], cfg["classes"]), torch.optim.Adam
    if kind == "mlp":
        return MLP(cfg["sizes"]), torch.optim.SGD
    raise ValueError(f"unknown workload kind {kind!r}")


# ----------------------------------------------------------------------------- workloads
class TorchWorkload:
    """A model, its data and optimizer; ``step()`` = zero_grad, forward, loss, backward, update.

    Same interface as the NumPy floor's :class:`~benchmarks.workloads_numpy.FloorWorkload`.
    """

    def __init__(self, cfg, device="cpu", params=None, data=None):
        self.device = torch.device(device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError("this PyTorch build sees no CUDA device")
        data = data or make_data(cfg)
        self.model, optimizer_class = make_model(cfg)
        params = params if params is not None else make_params(cfg)
        self.model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in params.items()})
        self.model.to(self.device)
        self.x = torch.from_numpy(data["x"]).to(self.device)
        self.y = torch.from_numpy(data["y"]).reshape(-1).to(self.device)
        self.loss_fn = nn.CrossEntropyLoss()
        self.optimizer = optimizer_class(self.model.parameters(), lr=cfg["lr"])
        self.n_params = sum(p.numel() for p in self.model.parameters())

    def forward_backward(self):
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.loss_fn(self.model(self.x), self.y)
        loss.backward()
        return loss

    def step(self):
        loss = self.forward_backward()
        self.optimizer.step()
        return loss

    def grads(self):
        return {k: p.grad.detach().cpu().numpy().copy() for k, p in self.model.named_parameters()}

    def params(self):
        return {k: p.detach().cpu().numpy().copy() for k, p in self.model.named_parameters()}

    @staticmethod
    def loss_value(loss):
        return float(loss.item())

    def sync(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize()


class TorchOverhead:
    """W5: a chain of elementwise ops (add, mul, tanh in turn) on small tensors, sum, backward."""

    def __init__(self, cfg, device="cpu", params=None, data=None):
        self.device = torch.device(device)
        data = data or make_data(cfg)
        self.chain = cfg["chain"]
        self.x = torch.tensor(data["x"], device=self.device, requires_grad=True)
        self.w = torch.tensor(data["w"], device=self.device, requires_grad=True)
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
                y = torch.tanh(y)
        total = y.sum()
        total.backward()
        return total

    step = forward_backward  # no optimizer: a step is the chain forward and backward

    def grads(self):
        return {"x": self.x.grad.cpu().numpy().copy(), "w": self.w.grad.cpu().numpy().copy()}

    def params(self):
        return {"x": self.x.detach().cpu().numpy().copy(), "w": self.w.detach().cpu().numpy().copy()}

    loss_value = staticmethod(TorchWorkload.loss_value)
    sync = TorchWorkload.sync


def build(cfg, device="cpu", variant=None, params=None, data=None):
    """The PyTorch workload for ``cfg`` (an entry of ``benchmarks.WORKLOADS``); ``variant`` is ignored."""
    if cfg["kind"] == "overhead":
        return TorchOverhead(cfg, device, params, data)
    return TorchWorkload(cfg, device, params, data)


def set_threads(n):
    """Fix PyTorch's intra-op and inter-op thread pools (before any parallel work)."""
    torch.set_num_threads(n)
    try:
        torch.set_num_interop_threads(n)
    except RuntimeError:  # already set or parallel work already started
        pass


def info(device="cpu"):
    """PyTorch's version, thread pools and, on CUDA, the GPU and cuDNN."""
    out = {
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "torch_mkldnn": bool(torch.backends.mkldnn.is_available()),
    }
    if str(device).startswith("cuda") and torch.cuda.is_available():
        out["gpu"] = torch.cuda.get_device_name()
        out["cudnn"] = torch.backends.cudnn.version()
    return out


# ----------------------------------------------------------------------------- gradient check
def _relative_error(got, want):
    """max |got - want| over max |want| (an absolute error when want is all zeros)."""
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        return float("inf")
    scale = np.abs(want).max() if want.size else 0.0
    return float(np.abs(got - want).max() / scale) if scale > 0 else float(np.abs(got).max(initial=0.0))


def check_against_torch(build_other, workload_ids, label, device="cpu", tol=2e-4, update_tol=1e-3, verbose=True):
    """Compare another framework's workloads with PyTorch's at the small :data:`CHECK_SIZES`.

    For each workload, both start from the same weights and data and must agree on
    (1) the loss and every parameter's gradient after one forward/backward, and
    (2) the parameter changes after two full training steps (so the optimizer,
    including Adam's state, is checked too).  Errors are relative to the
    largest magnitude of PyTorch's tensor; the loss and gradients must be within
    ``tol``, the updates within ``update_tol`` (looser: Adam's first steps are
    about lr * sign(grad), which magnifies float32 rounding where a gradient is
    tiny).  Prints one line per quantity and returns True when all agree.
    """
    all_ok = True
    for wid in workload_ids:
        cfg = CHECK_SIZES[wid]
        params, data = make_params(cfg), make_data(cfg)
        rows = []
        try:
            ref = build(cfg, "cpu", params=params, data=data)
            other = build_other(cfg, device, params=params, data=data)
            rows.append(("loss", _relative_error(other.loss_value(other.forward_backward()),
                                                 ref.loss_value(ref.forward_backward())), tol))
            want, got = ref.grads(), other.grads()
            if set(want) != set(got):
                raise AssertionError(f"gradient names differ: torch {sorted(want)}, {label} {sorted(got)}")
            rows += [(f"grad {k}", _relative_error(got[k], want[k]), tol) for k in want]
            if cfg["kind"] != "overhead":  # W5 has no optimizer
                ref = build(cfg, "cpu", params=params, data=data)
                other = build_other(cfg, device, params=params, data=data)
                for _ in range(2):
                    ref.step()
                    other.step()
                want, got = ref.params(), other.params()
                rows += [(f"2-step update {k}", _relative_error(got[k] - params[k], want[k] - params[k]),
                          update_tol) for k in want]
        except Exception as e:  # report and go on with the next workload
            rows.append((f"error: {type(e).__name__}: {e}", float("inf"), tol))
        for what, err, limit in rows:
            ok = err <= limit
            all_ok &= ok
            if verbose:
                print(f"{wid:3} {label} vs torch  {what:38} rel err {err:9.2e}  {'ok' if ok else 'FAIL'}")
    if verbose:
        print(f"{label}: {'all gradients and updates match PyTorch' if all_ok else 'MISMATCH (see FAIL above)'}")
    return all_ok
