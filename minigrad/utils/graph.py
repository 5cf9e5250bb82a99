"""Draw the graph behind a tensor as Graphviz DOT text, and render DOT with Graphviz when it is installed."""
from __future__ import annotations

import os
import shutil
import subprocess

import numpy as np

from .. import _backend as B
from ..autograd.engine import Tensor

#: What to tell a user who asks for a picture without Graphviz.
NO_GRAPHVIZ = ("rendering DOT needs Graphviz's 'dot' program on the PATH: install Graphviz itself "
               "(apt-get install graphviz, brew install graphviz, conda install graphviz, or graphviz.org); "
               "'pip install graphviz' installs only Python bindings, not the program")


class Dot(str):
    """DOT text (a ``str``) that can render itself with Graphviz.

    ``dot.render("graph.svg")`` writes SVG, PNG, PDF... (the format from the
    file's suffix) by running Graphviz's ``dot`` program; Jupyter shows the
    picture inline when Graphviz is installed.  Without Graphviz, paste the
    text into any Graphviz viewer.
    """

    def render(self, path, format=None):
        """Write the picture to ``path`` (format: ``format`` or the suffix: svg, png, pdf...); returns ``path``."""
        fmt = format or os.path.splitext(str(path))[1].lstrip(".") or "svg"
        exe = shutil.which("dot")
        if exe is None:
            raise RuntimeError(NO_GRAPHVIZ)
        subprocess.run([exe, f"-T{fmt}", "-o", str(path)], input=str(self).encode("utf-8"), check=True,
                       capture_output=True)
        return path

    def _repr_svg_(self):
        exe = shutil.which("dot")
        if exe is None:
            return None
        done = subprocess.run([exe, "-Tsvg"], input=str(self).encode("utf-8"), capture_output=True)
        return done.stdout.decode("utf-8") if done.returncode == 0 else None


def graphviz_available() -> bool:
    """True when Graphviz's ``dot`` program is on the PATH (so :meth:`Dot.render` works)."""
    return shutil.which("dot") is not None


def _shape(t):
    return "x".join(str(s) for s in t.shape) or "scalar"


def _number(array):
    """A value for a label: the number itself for one element, else ``|.|=`` its norm."""
    a = B.to_device(array, "cpu")
    if a.size == 1:
        return f"{float(a.reshape(())):.4g}"
    return f"|.|={float(np.sqrt((a.astype(np.float64) ** 2).sum())):.4g}"


def to_dot(tensor: Tensor, name: str = "output", params: dict | None = None, values: bool = False,
           grads: bool = False) -> Dot:
    """The graph that produced ``tensor`` as DOT text (paste into Graphviz to draw it).

    Ops are boxes labelled with their name and tape number; tensors are
    ellipses with their shape.  Leaves that require grad are filled (they
    receive ``.grad``); constants are dashed.  ``params``: optional
    ``{name: tensor}`` (e.g. ``dict(model.named_parameters())``) to label leaves.
    ``values=True`` adds each tensor's value (a single number as itself, a
    larger tensor as its norm ``|.|=``); ``grads=True`` adds the ``.grad`` of
    tensors that have one (leaves after ``backward()``, and tensors that
    called ``retain_grad()``).  Returns a :class:`Dot` (a ``str``;
    ``.render("g.svg")`` draws it where Graphviz is installed).
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
            if values:
                text += f"\\ndata {_number(t.data)}"
            if grads and t.grad is not None:
                text += f"\\ngrad {_number(t.grad.data)}"
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
        return Dot("\n".join(lines))
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
    return Dot("\n".join(out))
