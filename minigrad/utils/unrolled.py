"""Draw a recurrent layer unrolled in time, as the textbooks do.

``x_t`` along the bottom, ``h_0 -> h_1 -> ... -> h_T`` across, the outputs
``y_t`` on top, the shared weights drawn once per (layer, direction) and linked
to every step.  Each tensor shows its shape and norm; given a loss, each
``h_t``'s incoming edge shows ``||dL/dh_t||`` and gets thinner as the gradient
vanishes.
"""
from __future__ import annotations

import numpy as np

from .. import _backend as B
from ..autograd.engine import Tensor
from ..autograd.grads import grad as _grad
from ..autograd.tape import _norm, _shape_text
from .bptt import _check_layer, _steps_of
from .gates import _watching
from .graph import Dot


def _time_major(layer, array):
    """A NumPy copy of an input/output array with time first."""
    a = np.asarray(B.to_device(array, "cpu"))
    return a.swapaxes(0, 1) if (a.ndim == 3 and layer.batch_first) else a


def draw_unrolled(layer, x, loss_fn=None, h0=None, *, lengths=None, expand=False) -> Dot:
    """The unrolled computation of ``layer(x, h0)`` as Graphviz DOT text.

    ``layer``: an ``nn.RNN``/``GRU``/``LSTM`` or a custom ``nn.RNNBase`` (any
    ``num_layers``, bidirectional or not).  ``x``: its input ((T, B, H_in),
    (B, T, H_in) with ``batch_first``, or (T, H_in)).

    The picture, read bottom-up: the inputs ``x_1 .. x_T``; for each layer
    and direction a row ``h_0 -> [cell] -> h_1 -> [cell] -> ... -> h_T`` (a
    reverse direction runs right to left); the outputs ``y_1 .. y_T`` on top
    (the last layer's hidden states, both directions concatenated).  The
    shared parameters of each (layer, direction) are one node, linked (dashed)
    to every cell that uses them.  Every tensor node shows its shape and
    norm ``|.|`` (over the whole batch).

    ``loss_fn(output, state) -> scalar``: when given, ``dL/dh_t`` is computed
    (``.grad`` of parameters and input untouched) and each edge into ``h_t``
    is labelled with ``||dL/dh_t||``, drawn thinner where it is smaller.
    ``expand=True`` draws each cell's ops (one cluster per step) instead of
    one box.  The layer runs its unrolled path once.

    Returns a :class:`minigrad.utils.graph.Dot` (a ``str``):
    ``.render("rnn.svg")`` draws it where Graphviz is installed.
    """
    _check_layer(layer, "draw_unrolled")
    _steps_of(layer, x, "draw_unrolled")  # x is a Tensor
    previous = layer.keep_states
    layer.keep_states = True
    try:
        with _watching(keep_gates=False) as watch:
            output, state = layer(x, h0, lengths=lengths)
        states = layer.step_states_all
        grad_norms = {}
        if loss_fn is not None:
            loss = loss_fn(output, state)
            if not isinstance(loss, Tensor) or loss.data.size != 1:
                shape = tuple(loss.shape) if isinstance(loss, Tensor) else type(loss).__name__
                raise ValueError(f"draw_unrolled: loss_fn must return a one-element tensor, got {shape}")
            targets = [(key, t, h) for key, hs in states.items() for t, h in enumerate(hs)
                       if h is not None and h.requires_grad]
            if targets and loss.requires_grad:
                grads = _grad(loss, [h for _, _, h in targets], retain_graph=True, allow_unused=True)
                for (key, t, _), g in zip(targets, grads):
                    grad_norms[(key, t)] = 0.0 if g is None else _norm(g.data)
        return _build(layer, x, output, states, grad_norms, watch, expand)
    finally:
        layer.keep_states = previous
        layer.step_states_all = layer.step_states = layer.step_states_reverse = None


def _build(layer, x, output, states, grad_norms, watch, expand):
    xs = _time_major(layer, x.data)
    ys = _time_major(layer, output.data)
    steps = xs.shape[0]
    kind = getattr(layer, "cell_kind", None)  # a built-in cell's name, else the layer class's
    kind = type(layer).__name__ if kind is None else kind.label
    keys = list(states)
    lines = ["digraph unrolled {", '  rankdir="BT"; newrank=true; nodesep=0.25; ranksep=0.45;',
             '  node [fontname="Helvetica", fontsize=10];', '  edge [fontname="Helvetica", fontsize=9];']
    biggest = max(grad_norms.values(), default=0.0) or 1.0
    drawn = set()  # sequence numbers of the ops drawn in clusters (expand=True)

    # the inputs, in one row, in time order
    for t in range(steps):
        lines.append(f'  x{t} [label="x_{t + 1}\\n{_shape_text(xs[t].shape)}\\n|.|={_norm(xs[t]):.3g}", '
                     'shape=ellipse, style="dashed"];')
    lines.append("  { rank=same; " + " ".join(f"x{t};" for t in range(steps)) + " }")
    lines += [f"  x{t} -> x{t + 1} [style=invis];" for t in range(steps - 1)]

    def h_name(key, t):
        return f"{key}_h{t}"

    below = [[f"x{t}"] for t in range(steps)]  # what feeds the cells of the next row, per step
    anchor = "x0"
    for key in keys:
        reverse = key.endswith("_reverse")
        hs = states[key]
        layer_index, direction = int(key[1:].split("_")[0]), 1 if reverse else 0
        row = [f"{key}_h0"]
        title = f"layer {layer_index}" + (" reverse" if reverse else "")
        lines.append(f'  {key}_h0 [label="{title}\\nh_0", shape=ellipse, style="dotted"];')
        weights = layer._direction_weights(layer_index, direction)
        sfx = layer._suffix(layer_index, direction)
        w_label = "\\n".join(f"{n}{sfx} {_shape_text(p.shape)}" for n, p in weights.items())
        lines.append(f'  {key}_W [label="shared by every step\\n{w_label}", shape=note, style="filled", '
                     'fillcolor="lightblue"];')
        order = range(steps - 1, -1, -1) if reverse else range(steps)
        produced = {}
        for t in order:
            h = hs[t]
            if h is None:  # past max(lengths): not run
                continue
            cell = f"{key}_c{t}"
            hn = h_name(key, t + 1)
            lines.append(f'  {hn} [label="h_{t + 1}\\n{_shape_text(h.shape)}\\n|.|={_norm(h.data):.3g}", '
                         'shape=ellipse];')
            if (key, t) in grad_norms:
                g = grad_norms[(key, t)]
                width = 0.4 + 3.0 * g / biggest
                grad_attr = f' label="dL/dh_{t + 1}\\n{g:.3g}", penwidth={width:.2f}, color="firebrick"'
            else:
                grad_attr = ""
            prev = produced.get("last", f"{key}_h0")
            if expand:
                cell_in, cell_out = _cluster(lines, layer, key, t, h, states, watch, below[t], drawn, kind)
            else:
                lines.append(f'  {cell} [label="{kind} cell\\nt={t + 1}", shape=box, style="rounded,filled", '
                             'fillcolor="lightyellow"];')
                cell_in = cell_out = cell
                for src in below[t]:
                    lines.append(f"  {src} -> {cell};")
                lines.append(f'  {key}_W -> {cell} [style="dashed", color="gray50", arrowsize=0.5];')
            if reverse:  # flat edges written left to right, arrows turned back: time still reads left to right
                lines.append(f"  {cell_in} -> {prev} [dir=back];")
                lines.append(f"  {hn} -> {cell_out} [dir=back{',' + grad_attr if grad_attr else ''}];")
            else:
                lines.append(f"  {prev} -> {cell_in};")
                lines.append(f"  {cell_out} -> {hn}{' [' + grad_attr.strip() + ']' if grad_attr else ''};")
            produced["last"] = hn
            row_nodes = [hn] if expand else ([cell, hn] if not reverse else [hn, cell])
            row += row_nodes
        members = sorted(set(row), key=row.index)
        lines.append("  { rank=same; " + " ".join(m + ";" for m in members) + " }")
        # stack the rows: an invisible edge from the previous row's leftmost node to this row's
        first = f"{key}_h0" if not reverse else next((h_name(key, t + 1) for t in range(steps) if hs[t] is not None),
                                                     f"{key}_h0")
        lines.append(f"  {anchor} -> {first} [style=invis];")
        anchor = first
        # the next layer reads this layer's h_t (both directions when bidirectional)
        if direction == layer.num_directions - 1:
            below = [[h_name(k, t + 1) for k in keys if k.startswith(f"l{layer_index}") and states[k][t] is not None]
                     for t in range(steps)]
    # outputs on top
    for t in range(steps):
        lines.append(f'  y{t} [label="y_{t + 1}\\n{_shape_text(ys[t].shape)}\\n|.|={_norm(ys[t]):.3g}", '
                     'shape=ellipse, style="filled", fillcolor="honeydew"];')
        for src in below[t]:
            lines.append(f"  {src} -> y{t};")
    lines.append("  { rank=same; " + " ".join(f"y{t};" for t in range(steps)) + " }")
    lines += [f"  y{t} -> y{t + 1} [style=invis];" for t in range(steps - 1)]
    lines.append(f"  {anchor} -> y0 [style=invis];")
    lines.append("}")
    return Dot("\n".join(lines))


def _cluster(lines, layer, key, t, h, states, watch, inputs, drawn, kind):
    """Draw the ops of one step inside a cluster; returns (first op, last op) names for the row's edges."""
    start = watch.starts.get((key, t), -1)
    nodes, stack = {}, [h.grad_fn] if h.grad_fn is not None else []
    while stack:
        node = stack.pop()
        if node is None or node.seq <= start or id(node) in nodes or node.freed:
            continue
        nodes[id(node)] = node
        stack += [i.grad_fn for i in node._inputs if i.grad_fn is not None]
    state_ids = {}
    for k, hs in states.items():
        for s, st in enumerate(hs):
            if st is not None:
                state_ids[id(st)] = f"{k}_h{s + 1}"
    lines.append(f"  subgraph cluster_{key}_{t} {{")
    lines.append(f'    label="{kind} cell, t={t + 1}"; style="rounded"; color="gray60";')
    for node in sorted(nodes.values(), key=lambda n: n.seq):
        lines.append(f'    op{node.seq} [label="{node.name}", shape=box, style="rounded,filled", '
                     'fillcolor="lightyellow"];')
    lines.append("  }")
    drawn.update(n.seq for n in nodes.values())
    first = None  # the first op reading the previous state: the row's edge from h_{t-1} goes there
    for node in sorted(nodes.values(), key=lambda n: n.seq):
        for inp in node._inputs:
            src, attrs = None, ""
            fn = inp.grad_fn
            if fn is not None and id(fn) in nodes:
                src = f"op{fn.seq}"
            elif id(inp) in state_ids:
                if first is None:
                    first = f"op{node.seq}"
                    continue
                src = state_ids[id(inp)]
            elif fn is not None and fn.name == "Unbind":  # this step's share of the input projection
                for s in inputs:
                    lines.append(f'  {s} -> op{node.seq} [label="W_ih", fontsize=8];')
                continue
            elif fn is not None and fn.seq in drawn:
                src = f"op{fn.seq}"  # e.g. the LSTM's cell state, from the previous step's cluster
            elif inp.requires_grad:
                src, attrs = f"{key}_W", ' [style="dashed", color="gray50", arrowsize=0.5]'
            if src is not None:
                lines.append(f"  {src} -> op{node.seq}{attrs};")
    last = f"op{h.grad_fn.seq}" if h.grad_fn is not None and id(h.grad_fn) in nodes else None
    if first is None:  # the step read the initial state (a constant): connect h_0 to the first op
        first = f"op{min(n.seq for n in nodes.values())}" if nodes else None
    return first or last, last
