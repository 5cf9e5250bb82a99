"""Each time step's share of a recurrent layer's weight gradient.

Backpropagation through time treats the unrolled network as one big
feed-forward net in which every step has its own copy of the weights; the
gradient of the shared weights is the sum of the gradients of the copies.
:func:`bptt_contributions` makes that literal: it runs the layer with a
separate leaf copy of every parameter at every step and returns the gradient
each copy receives.  Summed over the steps, they are ``param.grad``.
"""
from __future__ import annotations

import numpy as np

from .. import _backend as B
from ..autograd.engine import Tensor
from ..autograd.grads import grad as _grad


def _check_layer(layer, who):
    from ..nn.rnn import RNNBase

    if not isinstance(layer, RNNBase):
        raise TypeError(f"{who}: layer must be a recurrent layer (nn.RNN, nn.GRU, nn.LSTM or another "
                        f"nn.RNNBase), got {type(layer).__name__}")


def _steps_of(layer, x, who):
    """T, the number of time steps of the layer's input ``x`` (a Tensor: TypeError naming ``who`` if not)."""
    from ..nn._checks import check_tensor

    check_tensor(x, who, "x")
    if x.ndim == 3 and layer.batch_first:
        return x.shape[1]
    return x.shape[0]


def bptt_contributions(layer, x, loss_fn, h0=None, *, lengths=None):
    """The contribution of every time step to the gradient of every parameter of a recurrent layer.

    ``layer``: an ``nn.RNN``/``nn.GRU``/``nn.LSTM`` (any ``num_layers``,
    bidirectional or not, ``batch_first`` or not) or a custom cell built on
    ``nn.RNNBase``.  ``x``: its input ((T, B, H_in), (B, T, H_in) with
    ``batch_first``, or (T, H_in)).  ``loss_fn(output, state) -> scalar tensor``
    gets what ``layer(x, h0, lengths=lengths)`` returns.

    Returns ``{name: array of shape (T, *param.shape)}`` for every parameter
    (names as in ``layer.named_parameters()``; NumPy arrays in the parameter's
    dtype).  Entry ``t`` is the gradient reaching the copy of the parameter
    used at time step ``t`` (for a reverse direction, the step that reads
    ``x_t``); steps past ``max(lengths)`` contribute 0.  Summed over ``t`` it
    is the gradient ``loss.backward()`` would leave in ``param.grad``::

        contributions = mg.utils.bptt_contributions(rnn, x, lambda out, h: out[-1].sum())
        contributions["weight_hh_l0"].sum(0)  # == what rnn.weight_hh_l0.grad becomes

    The layer runs its unrolled path with one leaf copy of each parameter per
    step; ``.grad`` of the parameters is left untouched.  Dropout between
    layers draws a random mask, so it is refused in training mode (call
    ``layer.eval()``).
    """
    _check_layer(layer, "bptt_contributions")
    if layer.training and layer.dropout > 0 and layer.num_layers > 1:
        raise ValueError("bptt_contributions: the layer has dropout between layers and is in training mode; "
                         "call layer.eval() first (the random masks would differ from one run to the next)")
    steps = _steps_of(layer, x, "bptt_contributions")
    copies = {}  # full parameter name -> {t: leaf copy used at step t}

    def weights_at(layer_index, direction, t):
        sfx = layer._suffix(layer_index, direction)
        out = {}
        for short, p in layer._direction_weights(layer_index, direction).items():
            c = p.detach().requires_grad_()  # shares the parameter's data: a copy in the graph, not in memory
            copies.setdefault(short + sfx, {})[t] = c
            out[short] = c
        return out

    layer._per_step_weights = weights_at
    try:
        output, state = layer(x, h0, lengths=lengths)
    finally:
        layer.__dict__.pop("_per_step_weights", None)
    loss = loss_fn(output, state)
    if not isinstance(loss, Tensor) or loss.data.size != 1:
        shape = tuple(loss.shape) if isinstance(loss, Tensor) else type(loss).__name__
        raise ValueError(f"bptt_contributions: loss_fn must return a one-element tensor, got {shape}")
    if not loss.requires_grad:
        raise ValueError("bptt_contributions: the loss does not depend on the layer (computed under no_grad?)")
    keys = [(name, t) for name, per_t in copies.items() for t in sorted(per_t)]
    grads = _grad(loss, [copies[name][t] for name, t in keys], allow_unused=True)
    result = {}
    for name, p in layer.named_parameters():
        result[name] = np.zeros((steps,) + tuple(p.shape), dtype=p.dtype)
    for (name, t), g in zip(keys, grads):
        if g is not None:
            result[name][t] = B.to_device(g.data, "cpu")
    return result


def step_norms(contributions):
    """``{name: (T,) float64 array}``: the Frobenius norm of each step's contribution (see
    :func:`bptt_contributions`), the vanishing gradient seen from the weights' side."""
    out = {}
    for name, c in contributions.items():
        flat = np.asarray(c, dtype=np.float64).reshape(c.shape[0], -1)
        out[name] = np.sqrt((flat ** 2).sum(axis=1))
    return out


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("plotting needs matplotlib: pip install 'minigrad[plot]' (or pip install matplotlib)") \
            from None
    return plt


def plot_bptt_contributions(contributions, names=None, ax=None, title=None, prefix=""):
    """Plot the norm of each step's contribution per parameter, log scale (needs matplotlib).

    ``contributions``: what :func:`bptt_contributions` returns; ``names``: the
    parameters to show (default: every ``weight_*``); ``ax``: draw into these axes
    (several layers in one plot); ``prefix``: put before each curve's label.  Returns the matplotlib Axes;
    save with ``ax.figure.savefig("contributions.svg")``.
    """
    plt = _pyplot()
    norms = step_norms(contributions)
    names = names or [n for n in norms if n.startswith("weight")]
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.2))
    for name in names:
        values = norms[name]
        steps = np.arange(1, len(values) + 1)
        ax.semilogy(steps, np.where(values > 0, values, np.nan), marker="o" if len(values) <= 20 else None,
                    markersize=3, label=prefix + name)
    ax.set_xlabel("time step t")
    ax.set_ylabel("||share of dL/dW from step t||")
    ax.set_title(title or "Each step's share of the weight gradient")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    ax.figure.tight_layout()
    return ax
