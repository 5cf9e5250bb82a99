"""Watch gradients flow back through time: ||dL/dh_t|| for every step of a recurrent layer.

Backpropagation through time multiplies the gradient by one Jacobian
dh_t/dh_{t-1} per step.  When those Jacobians shrink vectors (a tanh RNN with
small weights), the gradient reaching early steps vanishes exponentially with
the distance from the loss, and the early inputs cannot be learned from.
:func:`gradient_flow` measures exactly that.
"""
from __future__ import annotations

import numpy as np

from .. import _backend as B
from ..autograd.engine import Tensor


def _recurrent_layer(model, layer):
    """The module whose per-step states to probe: ``layer``, the model itself, or its last recurrent layer."""
    if layer is not None:
        target = layer
    elif hasattr(model, "keep_states"):
        target = model
    else:
        found = [m for m in model.modules() if hasattr(m, "keep_states")] if hasattr(model, "modules") else []
        if not found:
            raise ValueError(
                f"gradient_flow: {type(model).__name__} contains no recurrent layer (a module with a "
                "keep_states attribute, such as nn.RNN, nn.GRU or nn.LSTM); pass layer="
            )
        target = found[-1]
    if not hasattr(target, "keep_states"):
        raise ValueError(f"gradient_flow: layer {type(target).__name__} has no keep_states attribute, so its "
                         "per-step states cannot be probed")
    return target


def gradient_flow(model, inputs, loss_fn, layer=None, direction="forward"):
    """The norm of dL/dh_t for every time step t = 1..T of a recurrent layer.

    ``model``: a recurrent layer (``nn.RNN``/``GRU``/``LSTM``) or a Module
    containing one (the last one registered is probed unless ``layer=`` names
    it).  ``inputs``: the model's input, or a tuple of positional inputs
    (``model(*inputs)``).  ``loss_fn(output) -> scalar tensor``: gets whatever
    the model returns (for a bare layer, ``(output, h_n)``).

    Probes the last layer's hidden state ``h_t`` (B, H) at every step:
    the layer stores its per-step states when ``keep_states`` is set, each
    gets ``retain_grad()``, and one backward fills their ``.grad``.  ``dL/dh_t``
    is the *total* derivative: through the output at step t and through every
    later step.  Its norm is taken over the whole (B, H) tensor.  With
    ``direction="reverse"`` the reverse direction of a bidirectional layer is
    probed instead (its step t has seen inputs t..T).

    Returns a float64 NumPy array of length T: entry ``t - 1`` is ||dL/dh_t||
    (so entry ``T - 1 - d`` is the norm at distance d from the last step).
    Steps the loss does not depend on get 0.  (With ``lengths=``, the layers
    run only ``max(lengths)`` steps, so T is that.)

    The parameters' ``.grad`` are left as they were before the call.  Any
    module with a ``keep_states`` attribute that, when it is true, stores its
    per-step hidden states (a list of tensors in time order) in
    ``step_states`` can be probed the same way.
    """
    if direction not in ("forward", "reverse"):
        raise ValueError(f"gradient_flow: direction must be 'forward' or 'reverse', got {direction!r}")
    target = _recurrent_layer(model, layer)
    args = inputs if isinstance(inputs, tuple) else (inputs,)
    params = list(model.parameters()) if hasattr(model, "parameters") else []
    saved_grads = [p.grad for p in params]
    previous = target.keep_states
    attr = "step_states" if direction == "forward" else "step_states_reverse"
    target.keep_states = True
    setattr(target, attr, None)
    try:
        output = model(*args)
        states = getattr(target, attr, None)
        if not states:
            raise ValueError(
                f"gradient_flow: {type(target).__name__} stored no per-step states in {attr} during forward"
                + (" (is it bidirectional?)" if direction == "reverse" else "")
            )
        for h in states:
            h.retain_grad()
        loss = loss_fn(output)
        if not isinstance(loss, Tensor) or loss.data.size != 1:
            shape = tuple(loss.shape) if isinstance(loss, Tensor) else type(loss).__name__
            raise ValueError(f"gradient_flow: loss_fn must return a one-element tensor, got {shape}")
        if not loss.requires_grad:
            raise ValueError("gradient_flow: the loss does not require grad (computed under no_grad, or "
                             "nothing in the model requires grad)")
        loss.backward()
        norms = np.zeros(len(states), dtype=np.float64)
        for t, h in enumerate(states):
            if h.grad is not None:
                g = h.grad.data
                norms[t] = float(B.xp_of(g).sqrt((g.astype(np.float64) ** 2).sum()))
        return norms
    finally:
        target.keep_states = previous
        setattr(target, attr, None)  # the states hold the whole graph: let it go
        if getattr(target, "step_states_all", None) is not None:
            target.step_states_all = None
        for p, g in zip(params, saved_grads):
            p.grad = g
