"""Stochastic gradient descent, with momentum and Nesterov momentum (``torch.optim.SGD``)."""
from __future__ import annotations

from .. import _backend as B
from ..autograd.engine import _wrap
from . import _kernels
from .optimizer import Optimizer


class SGD(Optimizer):
    """Gradient descent: ``p <- p - lr * d``.

    With ``momentum`` μ the step follows a running sum of gradients (the first step
    starts it at the gradient)::

        g = grad (negated if maximize) + weight_decay * p
        b = μ * b + (1 - dampening) * g
        d = g + μ * b   if nesterov   else   b
        p = p - lr * d

    State per parameter: ``momentum_buffer`` (only when ``momentum != 0``).
    """

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, maximize=False):
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize)
        super().__init__(params, defaults)

    def _check_group(self, group):
        super()._check_group(group)
        if group["momentum"] < 0:
            raise ValueError(f"SGD: invalid momentum={group['momentum']} (must be >= 0)")
        if group["weight_decay"] < 0:
            raise ValueError(f"SGD: invalid weight_decay={group['weight_decay']} (must be >= 0)")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("SGD: Nesterov momentum requires a momentum > 0 and zero dampening, got "
                             f"momentum={group['momentum']}, dampening={group['dampening']}")

    def _update(self, param, grad, state, group):
        xp = B.xp_of(param)
        lr, momentum = float(group["lr"]), float(group["momentum"])
        dampening = float(group["dampening"])
        weight_decay, sign = float(group["weight_decay"]), -1.0 if group["maximize"] else 1.0
        if momentum == 0:
            fused = _kernels.kernel("sgd", param, grad)
            if fused is not None:  # the same arithmetic as below, in one compiled pass over the parameter
                fused(grad, weight_decay, sign, -lr, param)
                return
        elif "momentum_buffer" in state:
            fused = _kernels.kernel("sgd_momentum", param, grad)
            if fused is not None:
                fused(grad, weight_decay, sign, momentum, 1 - dampening, int(dampening != 0), int(group["nesterov"]),
                      -lr, param, state["momentum_buffer"].data)
                return
        d = self._effective_grad(param, grad, weight_decay, group["maximize"])
        if momentum != 0:
            buf_tensor = state.get("momentum_buffer")
            if buf_tensor is None:  # first step: the buffer starts as the gradient itself
                buf = d.astype(param.dtype, copy=True)
                state["momentum_buffer"] = _wrap(buf, None, 0)
            else:
                buf = buf_tensor.data
                buf *= momentum
                if dampening == 0:
                    buf += d
                else:
                    tmp = self._scratch(param, 1)
                    xp.multiply(d, 1 - dampening, out=tmp)
                    buf += tmp
            if group["nesterov"]:  # look ahead: step along the gradient plus the updated momentum
                tmp = self._scratch(param, 1)
                xp.multiply(buf, momentum, out=tmp)
                xp.add(d, tmp, out=tmp)
                d = tmp
            else:
                d = buf
        change = self._scratch(param, 1)
        xp.multiply(d, -lr, out=change)
        param += change
