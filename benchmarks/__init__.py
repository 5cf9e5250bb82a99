"""minigrad's speed benchmarks: the workloads W1-W5 (README.md), side by side with PyTorch and a NumPy floor.

Run ``python -m benchmarks`` (see benchmarks/README.md).  This file holds what
every framework shares, so that all three run exactly the same problem:

* :data:`WORKLOADS`: the sizes of W1-W5 (and the ``-large`` rows),
* :func:`make_data`: the synthetic batch, drawn once from a fixed seed,
* :func:`make_params`: the starting weights, drawn once from a fixed seed with
  PyTorch's default initialisation and PyTorch's parameter names.  Every
  framework loads them, so the first-step losses agree across frameworks
  (a cheap check that the three are computing the same thing).

NumPy is imported inside the functions, never at import time: a benchmark
worker must fix its thread count before NumPy loads its BLAS.
"""
from __future__ import annotations

# Each workload: its kind (which model) and its sizes.  ``-large`` rows are the
# arithmetic-bound sizes added by ``--size large``.
WORKLOADS = {
    "W1": dict(kind="lenet5", batch=64, lr=0.01),
    "W1-large": dict(kind="lenet5", batch=512, lr=0.01),
    "W2": dict(kind="charlstm", vocab=65, embed=64, hidden=256, seq=64, batch=32, lr=1e-3),
    "W2-large": dict(kind="charlstm", vocab=65, embed=64, hidden=1024, seq=64, batch=256, lr=1e-3),
    "W3": dict(kind="grusent", vocab=5000, embed=100, hidden=128, seq=100, batch=64, classes=2, lr=1e-3),
    "W4": dict(kind="mlp", sizes=(784, 512, 512, 10), batch=128, lr=0.01),
    "W5": dict(kind="overhead", side=4, chain=100),
}

# Small sizes for the gradient checks against PyTorch (``--check``): every code
# path of the big workload, in a fraction of a second.
CHECK_SIZES = {
    "W1": dict(kind="lenet5", batch=3, lr=0.01),
    "W2": dict(kind="charlstm", vocab=11, embed=5, hidden=7, seq=6, batch=3, lr=1e-3),
    "W3": dict(kind="grusent", vocab=9, embed=6, hidden=5, seq=7, batch=4, classes=2, lr=1e-3),
    "W4": dict(kind="mlp", sizes=(20, 16, 12, 10), batch=8, lr=0.01),
    "W5": dict(kind="overhead", side=4, chain=12),
}

DATA_SEED = 1234
PARAM_SEED = 4321


def make_data(cfg: dict, seed: int = DATA_SEED) -> dict:
    """The synthetic batch of one workload as NumPy arrays (float32 inputs, int64 targets).

    lenet5:   x (B, 1, 28, 28), y (B,)
    charlstm: x (T, B) character ids, y (T, B) the next character (time-major, as nn.LSTM's default)
    grusent:  x (T, B) word ids, y (B,) labels
    mlp:      x (B, 784), y (B,)
    overhead: x, w (side, side)
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    kind = cfg["kind"]
    if kind == "lenet5":
        b = cfg["batch"]
        return dict(x=rng.standard_normal((b, 1, 28, 28), dtype=np.float32),
                    y=rng.integers(0, 10, size=b, dtype=np.int64))
    if kind == "charlstm":
        text = rng.integers(0, cfg["vocab"], size=(cfg["seq"] + 1, cfg["batch"]), dtype=np.int64)
        return dict(x=np.ascontiguousarray(text[:-1]), y=np.ascontiguousarray(text[1:]))
    if kind == "grusent":
        return dict(x=rng.integers(0, cfg["vocab"], size=(cfg["seq"], cfg["batch"]), dtype=np.int64),
                    y=rng.integers(0, cfg["classes"], size=cfg["batch"], dtype=np.int64))
    if kind == "mlp":
        return dict(x=rng.standard_normal((cfg["batch"], cfg["sizes"][0]), dtype=np.float32),
                    y=rng.integers(0, cfg["sizes"][-1], size=cfg["batch"], dtype=np.int64))
    if kind == "overhead":
        side = cfg["side"]
        return dict(x=rng.standard_normal((side, side), dtype=np.float32),
                    w=rng.standard_normal((side, side), dtype=np.float32))
    raise ValueError(f"unknown workload kind {kind!r}")


def make_params(cfg: dict, seed: int = PARAM_SEED) -> dict:
    """The starting weights of one workload: ``{PyTorch state-dict name: float32 array}``.

    PyTorch's default initialisation: Linear and Conv2d weights and biases
    uniform in +-1/sqrt(fan_in); Embedding standard normal; LSTM/GRU
    everything uniform in +-1/sqrt(hidden).  The overhead workload (W5) has
    no model: its tensors come from :func:`make_data`.
    """
    import numpy as np

    rng = np.random.default_rng(seed)

    def uniform(shape, fan_in):
        bound = 1.0 / np.sqrt(fan_in)
        return rng.uniform(-bound, bound, size=shape).astype(np.float32)

    def linear(name, n_in, n_out):
        return {f"{name}.weight": uniform((n_out, n_in), n_in), f"{name}.bias": uniform((n_out,), n_in)}

    def conv(name, c_in, c_out, k):
        fan_in = c_in * k * k
        return {f"{name}.weight": uniform((c_out, c_in, k, k), fan_in), f"{name}.bias": uniform((c_out,), fan_in)}

    def recurrent(name, n_in, hidden, gates):
        return {
            f"{name}.weight_ih_l0": uniform((gates * hidden, n_in), hidden),
            f"{name}.weight_hh_l0": uniform((gates * hidden, hidden), hidden),
            f"{name}.bias_ih_l0": uniform((gates * hidden,), hidden),
            f"{name}.bias_hh_l0": uniform((gates * hidden,), hidden),
        }

    kind = cfg["kind"]
    params = {}
    if kind == "lenet5":
        params.update(conv("conv1", 1, 6, 5))
        params.update(conv("conv2", 6, 16, 5))
        params.update(linear("fc1", 400, 120))
        params.update(linear("fc2", 120, 84))
        params.update(linear("fc3", 84, 10))
    elif kind == "charlstm":
        params["embed.weight"] = rng.standard_normal((cfg["vocab"], cfg["embed"]), dtype=np.float32)
        params.update(recurrent("lstm", cfg["embed"], cfg["hidden"], 4))
        params.update(linear("head", cfg["hidden"], cfg["vocab"]))
    elif kind == "grusent":
        params["embed.weight"] = rng.standard_normal((cfg["vocab"], cfg["embed"]), dtype=np.float32)
        params.update(recurrent("gru", cfg["embed"], cfg["hidden"], 3))
        params.update(linear("head", cfg["hidden"], cfg["classes"]))
    elif kind == "mlp":
        sizes = cfg["sizes"]
        for k in range(len(sizes) - 1):
            params.update(linear(f"fc{k + 1}", sizes[k], sizes[k + 1]))
    elif kind != "overhead":
        raise ValueError(f"unknown workload kind {kind!r}")
    return params


class NoFloor(Exception):
    """Raised by a framework module for a workload it deliberately does not implement (W5 in NumPy)."""
