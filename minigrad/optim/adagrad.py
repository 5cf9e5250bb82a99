"""Adagrad (``torch.optim.Adagrad``)."""
from __future__ import annotations

from .. import _backend as B
from .optimizer import Optimizer, state_zeros


class Adagrad(Optimizer):
    """Per-element steps that shrink with the sum of all squared gradients seen so far::

        g   = grad (negated if maximize) + weight_decay * p
        clr = lr / (1 + (t - 1) * lr_decay)          t: the step number, from 1
        S   = S + g²                                 S starts at initial_accumulator_value
        p   = p - clr * g / (sqrt(S) + eps)

    State per parameter (created with the optimizer, as PyTorch does): ``step``, ``sum`` (S).
    """

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10,
                 maximize=False):
        defaults = dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, maximize=maximize)
        super().__init__(params, defaults)

    def _check_group(self, group):
        super()._check_group(group)
        for key in ("lr_decay", "eps", "weight_decay", "initial_accumulator_value"):
            if group[key] < 0:
                raise ValueError(f"Adagrad: invalid {key}={group[key]} (must be >= 0)")

    def _init_group_state(self, group):
        for p in group["params"]:
            state = self.state[p]
            if not state:
                state["step"] = 0
                state["sum"] = state_zeros(p.data, float(group["initial_accumulator_value"]))

    def _update(self, param, grad, state, group):
        xp = B.xp_of(param)
        if not state:  # e.g. loaded from a state dict that had none for this parameter
            state["step"] = 0
            state["sum"] = state_zeros(param, float(group["initial_accumulator_value"]))
        state["step"] += 1
        step = state["step"]
        d = self._effective_grad(param, grad, float(group["weight_decay"]), group["maximize"])
        clr = float(group["lr"]) / (1 + (step - 1) * float(group["lr_decay"]))

        total = state["sum"].data
        tmp = self._scratch(param, 1)
        xp.multiply(d, d, out=tmp)
        total += tmp
        xp.sqrt(total, out=tmp)
        tmp += float(group["eps"])
        xp.divide(d, tmp, out=tmp)
        tmp *= -clr
        param += tmp
