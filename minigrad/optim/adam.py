"""Adam and AdamW (``torch.optim.Adam``, ``torch.optim.AdamW``)."""
from __future__ import annotations

from .. import _backend as B
from . import _kernels
from .optimizer import Optimizer, state_zeros


class Adam(Optimizer):
    """Adam: steps scaled by running averages of the gradient and of its square.

    For step t (counting from 1)::

        g  = grad (negated if maximize) + weight_decay * p      (AdamW: p = p * (1 - lr * weight_decay) instead)
        m  = β1 * m + (1 - β1) * g                              first moment
        v  = β2 * v + (1 - β2) * g²                             second moment
        v̂  = max(v̂, v) if amsgrad else v
        p  = p - lr / (1 - β1^t) * m / (sqrt(v̂) / sqrt(1 - β2^t) + eps)

    The ``1 - β^t`` factors undo the bias of ``m`` and ``v`` towards their zero start.
    State per parameter: ``step`` (a number), ``exp_avg`` (m), ``exp_avg_sq`` (v),
    and ``max_exp_avg_sq`` with ``amsgrad``.
    """

    decoupled_weight_decay = False  # AdamW: decay the weights directly, not through the gradient

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False,
                 maximize=False):
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                        maximize=maximize)
        super().__init__(params, defaults)

    def _check_group(self, group):
        super()._check_group(group)
        name = type(self).__name__
        if group["eps"] < 0:
            raise ValueError(f"{name}: invalid eps={group['eps']} (must be >= 0)")
        betas = group["betas"]
        if len(betas) != 2:
            raise ValueError(f"{name}: betas must be a pair (beta1, beta2), got {betas!r}")
        for i, beta in enumerate(betas):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"{name}: invalid beta parameter at index {i}: {beta} (must be in [0, 1))")
        if group["weight_decay"] < 0:
            raise ValueError(f"{name}: invalid weight_decay={group['weight_decay']} (must be >= 0)")

    def _update(self, param, grad, state, group):
        xp = B.xp_of(param)
        lr, eps, weight_decay = float(group["lr"]), float(group["eps"]), float(group["weight_decay"])
        beta1, beta2 = (float(b) for b in group["betas"])
        if not state:
            state["step"] = 0
            state["exp_avg"] = state_zeros(param)
            state["exp_avg_sq"] = state_zeros(param)
        if group["amsgrad"] and "max_exp_avg_sq" not in state:
            state["max_exp_avg_sq"] = state_zeros(param)
        state["step"] += 1
        step = state["step"]
        bias_correction1 = 1 - beta1 ** step
        bias_correction2_sqrt = (1 - beta2 ** step) ** 0.5
        step_size = lr / bias_correction1

        fused = None if group["amsgrad"] else _kernels.kernel("adam", param, grad)
        if fused is not None:  # the same arithmetic as below, in one compiled pass over the parameter
            decoupled = self.decoupled_weight_decay
            fused(grad, 1 - lr * weight_decay if decoupled else 1.0, 0.0 if decoupled else weight_decay,
                  -1.0 if group["maximize"] else 1.0, beta1, beta2, 1 - beta2, bias_correction2_sqrt, eps,
                  -step_size, param, state["exp_avg"].data, state["exp_avg_sq"].data)
            return

        if self.decoupled_weight_decay:
            d = self._effective_grad(param, grad, 0.0, group["maximize"])
            if weight_decay != 0:
                param *= 1 - lr * weight_decay
        else:
            d = self._effective_grad(param, grad, weight_decay, group["maximize"])

        m, v = state["exp_avg"].data, state["exp_avg_sq"].data
        # m = β1 m + (1 - β1) g, computed in place as m = g + β1 (m - g): no temporary needed
        m -= d
        m *= beta1
        m += d
        tmp = self._scratch(param, 1)
        xp.multiply(d, d, out=tmp)
        tmp *= 1 - beta2
        v *= beta2
        v += tmp

        if group["amsgrad"]:
            v_max = state["max_exp_avg_sq"].data
            xp.maximum(v_max, v, out=v_max)  # never let the denominator shrink
            v = v_max
        denom = tmp
        xp.sqrt(v, out=denom)
        denom /= bias_correction2_sqrt
        denom += eps
        xp.divide(m, denom, out=denom)
        denom *= -step_size
        param += denom


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): ``p = p * (1 - lr * weight_decay)``
    before the Adam step, instead of adding ``weight_decay * p`` to the gradient.

    Default ``weight_decay=1e-2``; otherwise as :class:`Adam`.
    """

    decoupled_weight_decay = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False,
                 maximize=False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                         maximize=maximize)
