"""Gates over time: what a GRU's or LSTM's gates do at every step.

:func:`record_gates` runs a recurrent layer once and keeps every gate's
activation at every step of every (layer, direction), with the LSTM's cell
state and the hidden state; :func:`plot_gates` draws them as heatmaps (time
across, units down).  An LSTM forget gate near 1 keeps the cell's memory,
near 0 erases it.
"""
from __future__ import annotations

from contextlib import contextmanager

import numpy as np

from .. import _backend as B
from ..autograd.tape import _sequence
from .bptt import _check_layer, _pyplot, _steps_of

#: What each gate is called in a record, per layer kind, in the order of the weight rows.
GATE_NAMES = {
    "LSTM": ("input", "forget", "cell", "output"),
    "GRU": ("reset", "update", "candidate"),
}


class _StepWatch:
    """Told by the recurrent layers which (layer, direction) and step run, and their gates."""

    def __init__(self, keep_gates=True):
        self.key, self.step = None, None
        self.keep_gates = keep_gates
        self.gates = {}  # key -> gate -> {t: array (B, H)}
        self.starts = {}  # (key, t) -> a sequence number below every node made by that step

    def begin(self, t):
        self.step = t
        if self.key is not None:
            self.starts[(self.key, t)] = next(_sequence)  # numbers only need to increase

    def note(self, **gates):
        if self.key is None or not self.keep_gates:  # a cell module run by hand while watching: not ours
            return
        per_key = self.gates.setdefault(self.key, {})
        for name, g in gates.items():
            per_key.setdefault(name, {})[self.step] = np.array(B.to_device(g.data, "cpu"))


@contextmanager
def _watching(keep_gates=True):
    from ..nn import rnn

    if rnn._step_watch is not None:
        raise RuntimeError("record_gates/draw_unrolled cannot run inside one another")
    watch = _StepWatch(keep_gates)
    rnn._step_watch = watch
    try:
        yield watch
    finally:
        rnn._step_watch = None


class GateRecord(dict):
    """``{"l0": {gate: array (T, B, H)}, "l0_reverse": {...}, "l1": ...}`` from :func:`record_gates`,
    plus ``output`` and ``state``: what the layer returned."""

    output = None
    state = None


def record_gates(layer, x, h0=None, *, lengths=None):
    """Run ``layer`` on ``x`` once and record its gates at every step.

    ``layer``: an ``nn.GRU`` or ``nn.LSTM`` (any ``num_layers``, bidirectional
    or not; an ``nn.RNN`` has no gates, only ``"h"`` is recorded).  ``x``,
    ``h0``, ``lengths``: as for ``layer(x, h0, lengths=lengths)``.

    Returns a :class:`GateRecord`: for each (layer, direction), keyed ``"l0"``,
    ``"l0_reverse"``, ``"l1"``..., a dict of NumPy arrays of shape (T, B, H),
    time first whatever ``batch_first`` is:

    * LSTM: ``input``, ``forget``, ``cell`` (the candidate g), ``output``
      gates, ``c`` (the cell state after the step) and ``h``;
    * GRU: ``reset``, ``update``, ``candidate`` (n) and ``h``.

    Entry ``t`` is time step ``t`` (for a reverse direction too).  Padded steps
    (``lengths=``) hold the gates computed there, which do not change the state;
    steps past ``max(lengths)`` are not run and hold zeros.  ``.output`` and
    ``.state`` are what the layer returned (part of the graph as usual: a loss
    on them can be backpropagated).  The layer runs its unrolled path.
    """
    _check_layer(layer, "record_gates")
    steps = _steps_of(layer, x, "record_gates")
    previous = layer.keep_states
    layer.keep_states = True
    try:
        with _watching() as watch:
            output, state = layer(x, h0, lengths=lengths)
        states = layer.step_states_all
    finally:
        layer.keep_states = previous
        layer.step_states_all = layer.step_states = layer.step_states_reverse = None
    record = GateRecord()
    for key, step_states in states.items():
        per_gate = dict(watch.gates.get(key, {}))
        per_gate["h"] = {t: np.array(B.to_device(h.data, "cpu")) for t, h in enumerate(step_states) if h is not None}
        arrays = {}
        for name, by_step in per_gate.items():
            first = next(iter(by_step.values()))
            out = np.zeros((steps,) + first.shape, dtype=first.dtype)
            for t, a in by_step.items():
                out[t] = a
            arrays[name] = out
        record[key] = arrays
    record.output, record.state = output, state
    return record


def plot_gates(record, key="l0", batch_index=0, gates=None, fig=None):
    """Heatmaps of a :func:`record_gates` record, one per gate: time across, units down (needs matplotlib).

    ``key``: which (layer, direction) (``"l0"``, ``"l0_reverse"``...);
    ``batch_index``: which sequence of the batch; ``gates``: names to show
    (default: every gate, then ``c``/``h``).  Sigmoid gates are drawn on
    [0, 1], the others on [-1, 1] (the cell state on its own range).  Returns
    the matplotlib Figure (``fig.savefig("gates.svg")``).
    """
    plt = _pyplot()
    if key not in record:
        raise KeyError(f"plot_gates: no {key!r} in the record; it has {sorted(record)}")
    data = record[key]
    names = gates or [n for n in data if n not in ("c", "h")] + [n for n in ("c", "h") if n in data]
    if fig is None:
        fig = plt.figure(figsize=(7, 1.3 + 1.2 * len(names)))
    axes = fig.subplots(len(names), 1, sharex=True, squeeze=False)[:, 0]
    for ax, name in zip(axes, names):
        values = data[name][:, batch_index, :].T  # (H, T): units down, time across
        if name in ("input", "forget", "output", "reset", "update"):
            lo, hi, cmap = 0.0, 1.0, "viridis"
        elif name == "c":
            bound = max(float(np.abs(values).max()), 1e-6)
            lo, hi, cmap = -bound, bound, "RdBu_r"
        else:
            lo, hi, cmap = -1.0, 1.0, "RdBu_r"
        image = ax.imshow(values, aspect="auto", interpolation="nearest", vmin=lo, vmax=hi, cmap=cmap,
                          extent=(0.5, values.shape[1] + 0.5, values.shape[0] - 0.5, -0.5))
        ax.set_ylabel(name, rotation=0, ha="right", va="center")
        fig.colorbar(image, ax=ax, pad=0.01, fraction=0.03)
    axes[-1].set_xlabel("time step t")
    axes[0].set_title(f"gates of {key}, sequence {batch_index} (units down)")
    fig.tight_layout()
    return fig
