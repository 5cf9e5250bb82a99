"""Draw the graph behind a tensor as Graphviz DOT text."""
from __future__ import annotations

from ..engine import Tensor


def _shape(t):
    return "x".join(str(s) for s in t.shape) or "scalar"


def to_dot(tensor: Tensor, name: str = "output", params: dict | None = None) -> str:
    """The graph that produced ``tensor`` as DOT text (paste into Graphviz to draw it).

    Ops are boxes labelled with their name and tape number; tensors are
    ellipses with their shape.  Leaves that require grad are filled (they
    receive ``.grad``); constants are dashed.  ``params``: optional
    ``{name: tensor}`` (e.g. ``dict(model.named_parameters())``) to label leaves.
    """
    labels = {id(t): n for n, t in (params or {}).items()}
    lines = ["digraph minigrad {", '  rankdir="BT";', '  node [fontname="Helvetica", fontsize=10];']
    seen_nodes, seen_tensors = set(), set()
    # Short names in the order things are met (t0, t1, ... for tensors, n0, n1, ... for ops), not memory
    # addresses: the same graph always gives the same text.  Everything named stays alive in the graph.
    short = {"t": {}, "n": {}}

    def name_of(obj, prefix):
        names = short[prefix]
        if id(obj) not in names:
            names[id(obj)] = f"{prefix}{len(names)}"
        return names[id(obj)]

    def tensor_node(t, label=None):
        tid = name_of(t, "t")
        if tid not in seen_tensors:
            seen_tensors.add(tid)
            text = label or labels.get(id(t), "")
            text = f"{text}\\n{_shape(t)}" if text else _shape(t)
            if t.grad_fn is None and t.requires_grad:
                style = 'style="filled", fillcolor="lightblue"'
            elif t.requires_grad:
                style = 'style="solid"'
            else:
                style = 'style="dashed"'
            lines.append(f'  {tid} [label="{text}", shape=ellipse, {style}];')
        return tid

    root = tensor_node(tensor, name)
    if tensor.grad_fn is None:
        lines.append("}")
        return "\n".join(lines)
    # Iterative walk: deep graphs (long RNN unrolls) must not hit the recursion limit.
    stack = [(tensor.grad_fn, root)]
    while stack:
        node, out_id = stack.pop()
        nid = name_of(node, "n")
        lines.append(f"  {nid} -> {out_id};")
        if nid in seen_nodes:
            continue
        seen_nodes.add(nid)
        if node.freed:
            lines.append(f'  {nid} [label="{node.name} #{node.seq}\\n(freed by backward)", shape=box, '
                         'style="dotted"];')
            continue
        lines.append(f'  {nid} [label="{node.name} #{node.seq}", shape=box, style="rounded,filled", '
                     'fillcolor="lightyellow"];')
        for x in node._inputs:
            tid = tensor_node(x)
            lines.append(f"  {tid} -> {nid};")
            if x.grad_fn is not None:
                stack.append((x.grad_fn, tid))
    lines.append("}")
    # An edge may be listed twice when a node feeds several tensors: keep the first.
    out, seen = [], set()
    for line in lines:
        if "->" in line and line in seen:
            continue
        seen.add(line)
        out.append(line)
    return "\n".join(out)
