"""The errors the autograd engine raises, each worded in one place.

:class:`BackwardError` is ``mg.BackwardError``; the functions below build the messages the engine
raises (they name the op, the node, shapes and dtypes, and say what to do).
"""
from __future__ import annotations


class BackwardError(RuntimeError):
    """Raised when backward cannot run (freed graph, in-place change, ...)."""

    __module__ = "minigrad"  # shown as minigrad.BackwardError, its public name


def explain(name, inputs, err):
    """Turn a NumPy error from inside an op into one that names the op and shapes."""
    msg = str(err).split("\n")[0]
    if "broadcast" in msg:
        shapes = " and ".join(str(tuple(t.shape)) for t in inputs)
        return ValueError(f"{name.lower()}: shapes {shapes} cannot be broadcast together")
    shapes = ", ".join(f"{tuple(t.shape)} {t.dtype}" for t in inputs)
    kind = type(err) if type(err) in (ValueError, TypeError, IndexError) else ValueError
    return kind(f"{name.lower()}: cannot apply to inputs [{shapes}]: {msg}")


def freed(node):
    return BackwardError(
        f"backward through {type(node).__name__} (node #{node.seq}) a second time, but its "
        "saved values were freed after the first backward; pass retain_graph=True to the "
        "first backward() if you need to backward twice")


def not_differentiable(node):
    return BackwardError(
        f"{type(node).__name__} has a hand-written backward that cannot be differentiated "
        "again (create_graph=True); use the unfused path for higher-order gradients")


def gradient_count(node, input_grads):
    return BackwardError(f"{type(node).__name__}.backward returned {len(input_grads)} "
                         f"gradients for {len(node._inputs)} inputs")


def wrong_gradient_shape(opname, g, x):
    return BackwardError(f"{opname}.backward produced a gradient of shape {g.shape} for an input of shape {x.shape}")


def input_modified(op, t):
    return BackwardError(
        f"a tensor of shape {t.shape} needed by {type(op).__name__}'s backward was "
        f"modified in place after it was used (it is now at version {t._version[0]}); "
        "compute with an out-of-place op (x = x + y, not x += y) or clone it first")


def output_modified(op):
    return BackwardError(
        f"the output of {type(op).__name__} (shape {op._out_data.shape}) was modified "
        "in place after it was computed; its backward needs the original value")


def no_grad_root():
    return BackwardError(
        "backward() on a tensor that does not require grad: no tensor it was computed "
        "from has requires_grad=True (or it was computed under no_grad)")


def needs_gradient(output):
    return BackwardError(
        f"backward from an output of shape {output.shape} needs a gradient (gradient= in backward(), "
        "grad_outputs= in autograd.grad()); only one-element outputs get an implicit gradient of 1. "
        "Or reduce first (e.g. .sum())")
