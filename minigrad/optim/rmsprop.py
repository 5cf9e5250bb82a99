"""RMSprop (``torch.optim.RMSprop``)."""
from __future__ import annotations

from .. import _backend as B
from .optimizer import Optimizer, state_zeros


class RMSprop(Optimizer):
    """Divide each step by a running root-mean-square of recent gradients::

        g   = grad (negated if maximize) + weight_decay * p
        s   = α * s + (1 - α) * g²
        avg = sqrt(s - ḡ²) + eps   with ḡ = α ḡ + (1 - α) g   if centered   else   sqrt(s) + eps
        b   = μ * b + g / avg,   p = p - lr * b                  if momentum μ > 0
        p   = p - lr * g / avg                                   otherwise

    State per parameter: ``step``, ``square_avg`` (s), ``momentum_buffer`` (if momentum > 0),
    ``grad_avg`` (ḡ, if centered).
    """

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False,
                 maximize=False):
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                        centered=centered, maximize=maximize)
        super().__init__(params, defaults)

    def _check_group(self, group):
        super()._check_group(group)
        for key in ("alpha", "eps", "weight_decay", "momentum"):
            if group[key] < 0:
                raise ValueError(f"RMSprop: invalid {key}={group[key]} (must be >= 0)")

    def _update(self, param, grad, state, group):
        xp = B.xp_of(param)
        lr, alpha, eps = float(group["lr"]), float(group["alpha"]), float(group["eps"])
        momentum = float(group["momentum"])
        if not state:
            state["step"] = 0
            state["square_avg"] = state_zeros(param)
        if momentum > 0 and "momentum_buffer" not in state:
            state["momentum_buffer"] = state_zeros(param)
        if group["centered"] and "grad_avg" not in state:
            state["grad_avg"] = state_zeros(param)
        state["step"] += 1
        d = self._effective_grad(param, grad, float(group["weight_decay"]), group["maximize"])

        square_avg = state["square_avg"].data
        avg = self._scratch(param, 1)
        xp.multiply(d, d, out=avg)
        avg *= 1 - alpha
        square_avg *= alpha
        square_avg += avg
        if group["centered"]:  # subtract the squared mean: a running variance instead of a second moment
            grad_avg = state["grad_avg"].data
            grad_avg -= d  # ḡ = α ḡ + (1 - α) g, in place as ḡ = g + α (ḡ - g)
            grad_avg *= alpha
            grad_avg += d
            xp.multiply(grad_avg, grad_avg, out=avg)
            xp.subtract(square_avg, avg, out=avg)
            xp.sqrt(avg, out=avg)
        else:
            xp.sqrt(square_avg, out=avg)
        avg += eps
        xp.divide(d, avg, out=avg)  # avg now holds g / avg
        if momentum > 0:
            buf = state["momentum_buffer"].data
            buf *= momentum
            buf += avg
            xp.multiply(buf, -lr, out=avg)
        else:
            avg *= -lr
        param += avg
