"""The NumPy floor: W1-W4 written directly in NumPy, forward and hand-written backward.

No autograd, no graph, no framework: the same arithmetic as the minigrad and
PyTorch models, float32 throughout, written the way a competent engineer
writes NumPy (im2col convolutions, one matmul per gate block, batched weight
gradients after the time loop) but without heroic fusion.  The time a
framework spends above this floor is the framework's own.

Each workload is a class with the same interface as the minigrad and torch
workloads (see :class:`FloorWorkload`).  ``python -m benchmarks.workloads_numpy
--check`` compares one step's loss and gradients, and two optimizer steps, with
PyTorch at small sizes: the floor must be correct, not just fast.

W5 (per-op framework overhead) has no floor: there is no framework to measure.
"""
from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from . import NoFloor, make_data, make_params


# ----------------------------------------------------------------------------- building blocks
def sigmoid(x):
    """Logistic function; the tanh form never overflows (exp(-x) does for x < -88 in float32)."""
    return 0.5 * (np.tanh(0.5 * x) + 1.0)


def cross_entropy(logits, targets):
    """Mean cross-entropy of ``logits`` (N, C) against class ids ``targets`` (N,).

    Returns ``(loss, dlogits)``: a float32 scalar and d(loss)/d(logits), (N, C).
    """
    n = logits.shape[0]
    rows = np.arange(n)
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    sum_exp = exp.sum(axis=1, keepdims=True)
    loss = np.log(sum_exp[:, 0]).mean() - shifted[rows, targets].mean()
    dlogits = exp / sum_exp  # softmax
    dlogits[rows, targets] -= 1.0
    dlogits /= n
    return loss, dlogits


def linear_backward(dout, x, weight):
    """Gradients of ``out = x @ weight.T + bias``: (dx, dweight, dbias). x (N, in), dout (N, out)."""
    return dout @ weight, dout.T @ x, dout.sum(axis=0)


def embedding_backward(ids, dout, n_rows):
    """Gradient of the embedding table: row ``ids[k]`` gets ``dout[k]``, repeated ids add up.

    ids (N,), dout (N, D) -> (n_rows, D).  Sorting groups equal ids and
    ``add.reduceat`` sums each group (much faster than ``np.add.at``).
    """
    order = np.argsort(ids, kind="stable")
    sorted_ids = ids[order]
    starts = np.flatnonzero(np.concatenate(([True], sorted_ids[1:] != sorted_ids[:-1])))
    grad = np.zeros((n_rows, dout.shape[1]), dtype=dout.dtype)
    grad[sorted_ids[starts]] = np.add.reduceat(dout[order], starts, axis=0)
    return grad


def im2col(x, k, padding):
    """Unfold ``x`` (N, C, H, W) into one column per output pixel: (N, C*k*k, OH*OW), stride 1.

    Column layout per image (as Caffe's im2col): a (F, C*k*k) weight matrix
    times it gives the (F, OH*OW) output already in NCHW order.
    """
    if padding:
        x = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    n, c = x.shape[:2]
    windows = sliding_window_view(x, (k, k), axis=(2, 3))  # (N, C, OH, OW, k, k), a view
    oh, ow = windows.shape[2:4]
    return windows.transpose(0, 1, 4, 5, 2, 3).reshape(n, c * k * k, oh * ow), (oh, ow)


def col2im(dcols, x_shape, k, padding, out_hw):
    """Adjoint of :func:`im2col`: add each column's window back onto the (unpadded) input, (N, C, H, W)."""
    n, c, h, w = x_shape
    oh, ow = out_hw
    dcols = dcols.reshape(n, c, k, k, oh, ow)
    dx = np.zeros((n, c, h + 2 * padding, w + 2 * padding), dtype=dcols.dtype)
    for i in range(k):  # one vectorized add per kernel offset (k*k of them), not per pixel
        for j in range(k):
            dx[:, :, i:i + oh, j:j + ow] += dcols[:, :, i, j]
    if padding:
        dx = dx[:, :, padding:-padding, padding:-padding]
    return dx


def conv2d_forward(x, weight, bias, padding):
    """Stride-1 convolution by im2col: x (N, C, H, W), weight (F, C, k, k) -> (N, F, OH, OW), cache."""
    n = x.shape[0]
    f, _, k, _ = weight.shape
    cols, (oh, ow) = im2col(x, k, padding)
    out = weight.reshape(f, -1) @ cols + bias[:, None]  # (N, F, OH*OW): one matmul per image
    return out.reshape(n, f, oh, ow), (cols, x.shape, (oh, ow))


def conv2d_backward(dout, weight, cache, padding, need_dx=True):
    """Gradients of :func:`conv2d_forward`: (dx or None, dweight, dbias)."""
    cols, x_shape, out_hw = cache
    n, f = dout.shape[:2]
    dout = dout.reshape(n, f, -1)  # (N, F, OH*OW)
    dweight = (dout @ cols.transpose(0, 2, 1)).sum(axis=0).reshape(weight.shape)
    dbias = dout.sum(axis=(0, 2))
    dx = None
    if need_dx:
        dx = col2im(weight.reshape(f, -1).T @ dout, x_shape, weight.shape[2], padding, out_hw)
    return dx, dweight, dbias


def maxpool2x2_forward(x):
    """2x2 max-pool, stride 2: x (N, C, H, W) -> (N, C, H/2, W/2), cache (which of the 4 won).

    The four corners of every window are four strided views; the winner is the
    first maximum in row-major window order, as PyTorch picks it.
    """
    corners = (x[:, :, 0::2, 0::2], x[:, :, 0::2, 1::2], x[:, :, 1::2, 0::2], x[:, :, 1::2, 1::2])
    out = np.maximum(np.maximum(corners[0], corners[1]), np.maximum(corners[2], corners[3]))
    winner = np.full(out.shape, 3, dtype=np.int8)
    for index in (2, 1, 0):  # the earliest corner equal to the max wins ties
        winner[corners[index] == out] = index
    return out, (winner, x.shape)


def maxpool2x2_backward(dout, cache):
    """Route each window's gradient to its winner."""
    winner, x_shape = cache
    dx = np.zeros(x_shape, dtype=dout.dtype)
    for index, (i, j) in enumerate(((0, 0), (0, 1), (1, 0), (1, 1))):
        dx[:, :, i::2, j::2] = dout * (winner == index)
    return dx


class SGD:
    """Plain SGD: p -= lr * g."""

    def __init__(self, params, lr):
        self.params, self.lr = params, lr

    def step(self, grads):
        for name, p in self.params.items():
            p -= self.lr * grads[name]


class Adam:
    """Adam with PyTorch's defaults (betas 0.9, 0.999, eps 1e-8) and PyTorch's update formula."""

    def __init__(self, params, lr, betas=(0.9, 0.999), eps=1e-8):
        self.params, self.lr, self.betas, self.eps = params, lr, betas, eps
        self.m = {k: np.zeros_like(p) for k, p in params.items()}
        self.v = {k: np.zeros_like(p) for k, p in params.items()}
        self.t = 0

    def step(self, grads):
        self.t += 1
        b1, b2 = self.betas
        correction1 = 1.0 - b1 ** self.t
        correction2_sqrt = math.sqrt(1.0 - b2 ** self.t)
        for name, p in self.params.items():
            g, m, v = grads[name], self.m[name], self.v[name]
            m *= b1
            m += (1.0 - b1) * g
            v *= b2
            v += (1.0 - b2) * (g * g)
            denom = np.sqrt(v) / correction2_sqrt + self.eps
            p -= (self.lr / correction1) * (m / denom)


# ----------------------------------------------------------------------------- the workloads
class FloorWorkload:
    """One workload: ``step()`` (forward + loss + backward + update) returns the loss.

    The interface shared with the minigrad and torch workloads:
    ``step()``, ``forward_backward()`` (no update; gradients kept),
    ``grads()`` / ``params()`` (name -> NumPy array), ``loss_value(loss)``,
    ``sync()``, ``n_params``.
    """

    def __init__(self, cfg, device, params=None, data=None):
        if device != "cpu":
            raise NoFloor("the NumPy floor runs on the CPU only")
        self.cfg = cfg
        self.p = {k: np.array(v, dtype=np.float32) for k, v in (params or make_params(cfg)).items()}
        self.data = data or make_data(cfg)
        self.n_params = sum(p.size for p in self.p.values())
        self._grads = {}

    def step(self):
        loss = self.forward_backward()
        self.optimizer.step(self._grads)
        return loss

    def forward_backward(self):
        loss, self._grads = self.loss_and_grads(self.data["x"], self.data["y"])
        return loss

    def grads(self):
        return dict(self._grads)

    def params(self):
        return {k: v.copy() for k, v in self.p.items()}

    @staticmethod
    def loss_value(loss):
        return float(loss)

    def sync(self):
        pass


class LeNet5(FloorWorkload):
    """W1: conv(1->6, 5x5, pad 2) relu pool, conv(6->16, 5x5) relu pool, 400-120-84-10, CE, SGD."""

    def __init__(self, cfg, device, **kw):
        super().__init__(cfg, device, **kw)
        self.optimizer = SGD(self.p, cfg["lr"])

    def loss_and_grads(self, x, y):
        p = self.p
        n = x.shape[0]
        # forward
        c1, conv1_cache = conv2d_forward(x, p["conv1.weight"], p["conv1.bias"], padding=2)
        r1 = np.maximum(c1, 0)
        p1, pool1_cache = maxpool2x2_forward(r1)
        c2, conv2_cache = conv2d_forward(p1, p["conv2.weight"], p["conv2.bias"], padding=0)
        r2 = np.maximum(c2, 0)
        p2, pool2_cache = maxpool2x2_forward(r2)
        flat = p2.reshape(n, -1)  # (N, 400), channel-major as nn.Flatten on NCHW
        h1 = flat @ p["fc1.weight"].T + p["fc1.bias"]
        a1 = np.maximum(h1, 0)
        h2 = a1 @ p["fc2.weight"].T + p["fc2.bias"]
        a2 = np.maximum(h2, 0)
        logits = a2 @ p["fc3.weight"].T + p["fc3.bias"]
        loss, dlogits = cross_entropy(logits, y)
        # backward
        g = {}
        da2, g["fc3.weight"], g["fc3.bias"] = linear_backward(dlogits, a2, p["fc3.weight"])
        da1, g["fc2.weight"], g["fc2.bias"] = linear_backward(da2 * (h2 > 0), a1, p["fc2.weight"])
        dflat, g["fc1.weight"], g["fc1.bias"] = linear_backward(da1 * (h1 > 0), flat, p["fc1.weight"])
        dr2 = maxpool2x2_backward(dflat.reshape(p2.shape), pool2_cache)
        dp1, g["conv2.weight"], g["conv2.bias"] = conv2d_backward(dr2 * (c2 > 0), p["conv2.weight"], conv2_cache, 0)
        dr1 = maxpool2x2_backward(dp1, pool1_cache)
        _, g["conv1.weight"], g["conv1.bias"] = conv2d_backward(
            dr1 * (c1 > 0), p["conv1.weight"], conv1_cache, 2, need_dx=False)
        return loss, g


class CharLSTM(FloorWorkload):
    """W2: embedding, 1-layer LSTM over all steps (gates i, f, g, o), linear at every step, mean CE, Adam."""

    def __init__(self, cfg, device, **kw):
        super().__init__(cfg, device, **kw)
        self.optimizer = Adam(self.p, cfg["lr"])

    def loss_and_grads(self, tokens, targets):
        p = self.p
        steps, batch = tokens.shape
        hid = p["lstm.weight_hh_l0"].shape[1]
        vocab = p["embed.weight"].shape[0]
        w_ih, w_hh = p["lstm.weight_ih_l0"], p["lstm.weight_hh_l0"]
        # forward: the input projection of every step in one matmul, then the recurrence
        ids = tokens.reshape(-1)
        xs = p["embed.weight"][ids]  # (T*B, E)
        x_gates = (xs @ w_ih.T + (p["lstm.bias_ih_l0"] + p["lstm.bias_hh_l0"])).reshape(steps, batch, 4 * hid)
        hs = np.zeros((steps + 1, batch, hid), dtype=np.float32)  # hs[t] is the state before step t
        cs = np.zeros((steps + 1, batch, hid), dtype=np.float32)
        gates = np.empty((steps, batch, 4 * hid), dtype=np.float32)  # activated i, f, g, o
        tanh_cs = np.empty((steps, batch, hid), dtype=np.float32)
        for t in range(steps):
            pre = x_gates[t] + hs[t] @ w_hh.T
            act = gates[t]
            act[:, :2 * hid] = sigmoid(pre[:, :2 * hid])
            act[:, 2 * hid:3 * hid] = np.tanh(pre[:, 2 * hid:3 * hid])
            act[:, 3 * hid:] = sigmoid(pre[:, 3 * hid:])
            i, f, g, o = act[:, :hid], act[:, hid:2 * hid], act[:, 2 * hid:3 * hid], act[:, 3 * hid:]
            cs[t + 1] = f * cs[t] + i * g
            tanh_cs[t] = np.tanh(cs[t + 1])
            hs[t + 1] = o * tanh_cs[t]
        out = hs[1:].reshape(steps * batch, hid)
        logits = out @ p["head.weight"].T + p["head.bias"]
        loss, dlogits = cross_entropy(logits, targets.reshape(-1))
        # backward
        grads = {}
        dout, grads["head.weight"], grads["head.bias"] = linear_backward(dlogits, out, p["head.weight"])
        dout = dout.reshape(steps, batch, hid)
        dpre = np.empty((steps, batch, 4 * hid), dtype=np.float32)  # d(loss)/d(gate pre-activations)
        dh_next = np.zeros((batch, hid), dtype=np.float32)
        dc_next = np.zeros((batch, hid), dtype=np.float32)
        for t in reversed(range(steps)):
            act = gates[t]
            i, f, g, o = act[:, :hid], act[:, hid:2 * hid], act[:, 2 * hid:3 * hid], act[:, 3 * hid:]
            dh = dout[t] + dh_next
            dc = dc_next + dh * o * (1.0 - tanh_cs[t] ** 2)
            d = dpre[t]
            d[:, :hid] = dc * g * i * (1.0 - i)
            d[:, hid:2 * hid] = dc * cs[t] * f * (1.0 - f)
            d[:, 2 * hid:3 * hid] = dc * i * (1.0 - g ** 2)
            d[:, 3 * hid:] = dh * tanh_cs[t] * o * (1.0 - o)
            dh_next = d @ w_hh
            dc_next = dc * f
        dpre = dpre.reshape(steps * batch, 4 * hid)
        grads["lstm.weight_hh_l0"] = dpre.T @ hs[:-1].reshape(steps * batch, hid)
        dxs, grads["lstm.weight_ih_l0"], grads["lstm.bias_ih_l0"] = linear_backward(dpre, xs, w_ih)
        grads["lstm.bias_hh_l0"] = grads["lstm.bias_ih_l0"].copy()
        grads["embed.weight"] = embedding_backward(ids, dxs, vocab)
        return loss, grads


class GRUSentiment(FloorWorkload):
    """W3: embedding, 1-layer GRU (PyTorch form: n = tanh(W_in x + b_in + r * (W_hn h + b_hn))),
    last state, linear, CE, Adam."""

    def __init__(self, cfg, device, **kw):
        super().__init__(cfg, device, **kw)
        self.optimizer = Adam(self.p, cfg["lr"])

    def loss_and_grads(self, tokens, labels):
        p = self.p
        steps, batch = tokens.shape
        hid = p["gru.weight_hh_l0"].shape[1]
        w_ih, w_hh, b_hh = p["gru.weight_ih_l0"], p["gru.weight_hh_l0"], p["gru.bias_hh_l0"]
        # forward
        ids = tokens.reshape(-1)
        xs = p["embed.weight"][ids]  # (T*B, E)
        x_gates = (xs @ w_ih.T + p["gru.bias_ih_l0"]).reshape(steps, batch, 3 * hid)
        hs = np.zeros((steps + 1, batch, hid), dtype=np.float32)
        rz = np.empty((steps, batch, 2 * hid), dtype=np.float32)  # activated r, z
        ns = np.empty((steps, batch, hid), dtype=np.float32)
        h_ns = np.empty((steps, batch, hid), dtype=np.float32)  # W_hn h + b_hn, needed for dr
        for t in range(steps):
            h_gates = hs[t] @ w_hh.T + b_hh
            rz[t] = sigmoid(x_gates[t, :, :2 * hid] + h_gates[:, :2 * hid])
            r, z = rz[t, :, :hid], rz[t, :, hid:]
            h_ns[t] = h_gates[:, 2 * hid:]
            ns[t] = np.tanh(x_gates[t, :, 2 * hid:] + r * h_ns[t])
            hs[t + 1] = (1.0 - z) * ns[t] + z * hs[t]
        logits = hs[steps] @ p["head.weight"].T + p["head.bias"]
        loss, dlogits = cross_entropy(logits, labels)
        # backward
        grads = {}
        dh, grads["head.weight"], grads["head.bias"] = linear_backward(dlogits, hs[steps], p["head.weight"])
        dx_pre = np.empty((steps, batch, 3 * hid), dtype=np.float32)  # d/d(W_ih x + b_ih)
        dh_pre = np.empty((steps, batch, 3 * hid), dtype=np.float32)  # d/d(W_hh h + b_hh)
        for t in reversed(range(steps)):
            r, z, n = rz[t, :, :hid], rz[t, :, hid:], ns[t]
            dn = dh * (1.0 - z) * (1.0 - n ** 2)
            dr = dn * h_ns[t] * r * (1.0 - r)
            dz = dh * (hs[t] - n) * z * (1.0 - z)
            dx_pre[t, :, :hid] = dr
            dx_pre[t, :, hid:2 * hid] = dz
            dx_pre[t, :, 2 * hid:] = dn
            dh_pre[t, :, :2 * hid] = dx_pre[t, :, :2 * hid]
            dh_pre[t, :, 2 * hid:] = dn * r
            dh = dh * z + dh_pre[t] @ w_hh
        dx_pre = dx_pre.reshape(steps * batch, 3 * hid)
        dh_pre = dh_pre.reshape(steps * batch, 3 * hid)
        grads["gru.weight_hh_l0"] = dh_pre.T @ hs[:-1].reshape(steps * batch, hid)
        grads["gru.bias_hh_l0"] = dh_pre.sum(axis=0)
        dxs, grads["gru.weight_ih_l0"], grads["gru.bias_ih_l0"] = linear_backward(dx_pre, xs, w_ih)
        grads["embed.weight"] = embedding_backward(ids, dxs, p["embed.weight"].shape[0])
        return loss, grads


class MLP(FloorWorkload):
    """W4: 784-512-512-10 with ReLU, CE, SGD."""

    def __init__(self, cfg, device, **kw):
        super().__init__(cfg, device, **kw)
        self.optimizer = SGD(self.p, cfg["lr"])
        self.n_layers = len(cfg["sizes"]) - 1

    def loss_and_grads(self, x, y):
        p = self.p
        inputs, pre = [], []  # each layer's input and pre-activation
        h = x
        for k in range(1, self.n_layers + 1):
            inputs.append(h)
            z = h @ p[f"fc{k}.weight"].T + p[f"fc{k}.bias"]
            pre.append(z)
            h = np.maximum(z, 0) if k < self.n_layers else z
        loss, d = cross_entropy(h, y)
        grads = {}
        for k in range(self.n_layers, 0, -1):
            if k < self.n_layers:
                d = d * (pre[k - 1] > 0)
            d, grads[f"fc{k}.weight"], grads[f"fc{k}.bias"] = linear_backward(d, inputs[k - 1], p[f"fc{k}.weight"])
        return loss, grads


KINDS = {"lenet5": LeNet5, "charlstm": CharLSTM, "grusent": GRUSentiment, "mlp": MLP}


def build(cfg, device="cpu", variant=None, params=None, data=None):
    """The NumPy-floor workload for ``cfg`` (an entry of ``benchmarks.WORKLOADS``).

    ``variant`` is ignored (it selects minigrad implementations).  Raises
    :class:`NoFloor` for W5 and for devices other than the CPU.
    """
    if cfg["kind"] not in KINDS:
        raise NoFloor(f"no NumPy floor for {cfg['kind']!r} (it measures framework overhead)")
    return KINDS[cfg["kind"]](cfg, device, params=params, data=data)


def info(device="cpu"):
    """This worker's NumPy version (the runner reads the BLAS from ``numpy.show_config``)."""
    return {"numpy": np.__version__}


def _main(argv=None):
    import argparse

    parser = argparse.ArgumentParser(prog="python -m benchmarks.workloads_numpy", description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="compare one step's gradients (and two optimizer steps) with PyTorch at small sizes")
    parser.add_argument("--workloads", default="W1,W2,W3,W4")
    args = parser.parse_args(argv)
    if not args.check:
        parser.print_help()
        return 0
    from .workloads_torch import check_against_torch

    ok = check_against_torch(build, args.workloads.split(","), label="numpy floor")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(_main())
