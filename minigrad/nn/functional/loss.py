"""Loss functions: ``cross_entropy``, ``nll_loss``, ``mse_loss``, ``l1_loss``,
``binary_cross_entropy`` and ``binary_cross_entropy_with_logits``.

Formulas, options and reductions are PyTorch's.  ``cross_entropy`` with
class-index targets is one fused op (:class:`CrossEntropyOp`): log-softmax
and picking the target's log-probability in forward, and in backward
``(softmax - target distribution) * grad / normaliser``, one pass over the
logits.  The other losses are short compositions of differentiable ops.

Reductions: ``'none'`` keeps one loss per element, ``'sum'`` adds them and
``'mean'`` divides the sum by a normaliser: the number of elements, or, for
the class-index losses, the summed class weights of the targets that are not
``ignore_index`` (the plain count of such targets when there are no weights).
"""
from __future__ import annotations

import warnings

import numpy as np

from ... import _backend as B
from ...autograd.engine import Op, Tensor, is_grad_enabled
from .._checks import check_float
from ...ops._common import constant, xp_of
from ...ops.pointwise import where

__all__ = ["cross_entropy", "nll_loss", "mse_loss", "l1_loss", "huber_loss", "smooth_l1_loss",
           "binary_cross_entropy", "binary_cross_entropy_with_logits"]

_REDUCTIONS = ("mean", "sum", "none")


def _reduction(reduction, size_average=None, reduce=None, fn_name=""):
    """The reduction, mapping PyTorch's deprecated ``size_average``/``reduce`` flags like PyTorch."""
    if size_average is not None or reduce is not None:
        size_average = True if size_average is None else size_average
        reduce = True if reduce is None else reduce
        reduction = "none" if not reduce else ("mean" if size_average else "sum")
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{fn_name}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    return reduction


def _reduce(loss, reduction):
    """Apply ``'mean'``/``'sum'``/``'none'`` to a tensor of per-element losses."""
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


# ----------------------------------------------------------------------------- class-index targets
def _check_class_targets(input, target, weight, ignore_index, fn_name):
    """Validate (N, C, *) scores against (N, *) class indices; return the raw target array and weights.

    ``weight`` comes back as an array of the input's dtype (or None).
    """
    if input.ndim < 2:
        raise ValueError(f"{fn_name}: expected input of shape (N, C) or (N, C, d1, ...), got {tuple(input.shape)}")
    expected = (input.shape[0],) + tuple(input.shape[2:])
    if tuple(target.shape) != expected:
        raise ValueError(f"{fn_name}: target shape {tuple(target.shape)} does not match input shape "
                         f"{tuple(input.shape)}: class-index targets need shape {expected}")
    t = target.data
    if not B.same_device([t, input.data]):
        raise B.DeviceError(f"{fn_name}: input is on {input.device} but target is on {target.device}")
    classes = input.shape[1]
    if t.size:
        bad = ((t < 0) | (t >= classes)) & (t != ignore_index)
        if bool(bad.any()):
            raise IndexError(f"{fn_name}: target values must be class indices in [0, {classes}) (or "
                             f"ignore_index={ignore_index}), got {int(t[bad].reshape(-1)[0])} for input of "
                             f"shape {tuple(input.shape)}")
    w = None
    if weight is not None:
        if not isinstance(weight, Tensor):
            raise TypeError(f"{fn_name}: weight must be a Tensor, got {type(weight).__name__}")
        if tuple(weight.shape) != (classes,):
            raise ValueError(f"{fn_name}: weight must have one entry per class, shape ({classes},), "
                             f"got {tuple(weight.shape)}")
        w = B.to_device(weight.data, input.device).astype(input.dtype, copy=False)
    return t, w


def _target_index(t):
    """Index tuple that picks ``x[n, t[n, d...], d...]`` for every position of ``t`` (no loops)."""
    xp = xp_of(t)
    parts = []
    for axis, size in enumerate(t.shape):
        shape = [1] * t.ndim
        shape[axis] = size
        parts.append(xp.arange(size).reshape(shape))
    return (parts[0], t) + tuple(parts[1:])


def _target_weights(t, valid, weight, dtype):
    """The weight of each target (0 where ignored): ``weight[t] * valid``."""
    if weight is None:
        return valid.astype(dtype)
    return xp_of(t).take(weight, t) * valid


def _inverse_normaliser(w_t, reduction, dtype):
    """1 / (sum of target weights) for 'mean' (0 when every target is ignored), else 1, as a 0-d array."""
    xp = xp_of(w_t)
    if reduction != "mean":
        return xp.asarray(1, dtype=dtype)
    total = w_t.sum(dtype=dtype)
    with np.errstate(divide="ignore"):
        return xp.where(total != 0, 1 / total, 0).astype(dtype)


def _finish(per_element, w_t, reduction, dtype):
    """Reduce per-element losses; 'mean' divides by the summed target weights (NaN if all ignored)."""
    xp = xp_of(per_element)
    if reduction == "none":
        return per_element.astype(dtype, copy=False)
    total = per_element.sum(dtype=dtype)
    if reduction == "sum":
        return xp.asarray(total, dtype=dtype)
    with np.errstate(divide="ignore", invalid="ignore"):
        return xp.asarray(total / w_t.sum(dtype=dtype), dtype=dtype)


def _grad_scale(grad, reduction):
    """The output gradient shaped to broadcast against (N, C, *): unsqueeze the class dim for 'none'."""
    return grad.unsqueeze(1) if reduction == "none" else grad


class CrossEntropyOp(Op):
    """loss = -sum_c q_c log softmax(x)_c for logits x (N, C, *) and class-index targets (N, *)

    The target distribution q of each position is (1 - eps) * weight[t] on the
    target class plus eps / C * weight[c] on every class c (label smoothing
    eps), and 0 where the target is ``ignore_index``.  With Q = sum_c q_c,
    d loss / dx_c = softmax(x)_c * Q - q_c: the fused backward.
    """

    def forward(self, x):
        xp = xp_of(x)
        t, weight, eps = self.target, self.weight, self.label_smoothing
        classes = x.shape[1]
        shifted = x - x.max(axis=1, keepdims=True)  # log-softmax without overflow
        valid = t != self.ignore_index
        t = xp.where(valid, t, 0)  # ignored positions read class 0, then get weight 0
        index = _target_index(t)
        w_t = _target_weights(t, valid, weight, x.dtype)
        shifted_target = shifted[index]
        if eps > 0:  # sum_c weight_c * shifted_c, for sum_c weight_c * log p_c
            if weight is None:
                weighted_shifted = shifted.sum(axis=1)
            else:
                weighted_shifted = (shifted * weight.reshape((1, classes) + (1,) * (x.ndim - 2))).sum(axis=1)
        exp = xp.exp(shifted, out=shifted)  # ``shifted`` is not needed any more: reuse its memory
        sum_exp = exp.sum(axis=1, keepdims=True)
        log_sum_exp = xp.log(sum_exp)[:, 0]
        per_element = -w_t * (shifted_target - log_sum_exp)
        if eps > 0:
            total_weight = classes if weight is None else weight.sum()
            weighted_log_p = weighted_shifted - total_weight * log_sum_exp
            per_element = (1.0 - eps) * per_element - (eps / classes) * weighted_log_p * valid
        exp /= sum_exp  # the softmax, kept for backward
        self.softmax, self.index, self.valid, self.w_t = exp, index, valid, w_t
        return _finish(per_element, w_t, self.reduction, x.dtype)

    def _target_distribution_sum(self, dtype):
        """Q = sum_c q_c for each position (shape (N, *))."""
        eps = self.label_smoothing
        if eps == 0:
            return self.w_t
        total_weight = self.softmax.shape[1] if self.weight is None else self.weight.sum()
        return (1.0 - eps) * self.w_t + (eps * total_weight / self.softmax.shape[1]) * self.valid.astype(dtype)

    def _smoothing_part(self, dtype):
        """eps / C * weight_c on every class of each non-ignored position, shape (N, C, *)."""
        classes = self.softmax.shape[1]
        per_class = (np.ones((classes,), dtype=dtype) if self.weight is None else self.weight)
        per_class = xp_of(self.softmax).asarray(per_class)
        ndim = self.softmax.ndim
        valid = self.valid.astype(dtype)[:, None]
        return (self.label_smoothing / classes) * valid * per_class.reshape((1, classes) + (1,) * (ndim - 2))

    def backward(self, grad):
        dtype = self.softmax.dtype
        eps = self.label_smoothing
        q_sum = self._target_distribution_sum(dtype)[:, None]
        scale = _inverse_normaliser(self.w_t, self.reduction, dtype)
        if is_grad_enabled():  # create_graph: the softmax must be a differentiable function of x
            (x,) = self.inputs
            target_part = xp_of(self.softmax).zeros_like(self.softmax)
            target_part[self.index] = (1.0 - eps) * self.w_t
            if eps > 0:
                target_part += self._smoothing_part(dtype)
            delta = x.softmax(1) * constant(q_sum) - constant(target_part)
            return delta * constant(scale) * _grad_scale(grad, self.reduction)
        delta = self.softmax * q_sum  # a new array: backward may run again with retain_graph=True
        delta[self.index] -= (1.0 - eps) * self.w_t
        if eps > 0:
            delta -= self._smoothing_part(dtype)
        delta *= grad.data[:, None] * scale if self.reduction == "none" else grad.data * scale
        return constant(delta)


class NLLLossOp(Op):
    """loss = -weight[t] * x[t] for log-probabilities x (N, C, *) and class indices t (N, *)

    The loss is linear in x: its gradient is -weight[t] / normaliser at the
    target class of each position (0 elsewhere and at ignored positions).
    """

    def forward(self, x):
        xp = xp_of(x)
        valid = self.target != self.ignore_index
        t = xp.where(valid, self.target, 0)
        self.index = _target_index(t)
        self.w_t = _target_weights(t, valid, self.weight, x.dtype)
        self.in_shape = x.shape
        return _finish(-self.w_t * x[self.index], self.w_t, self.reduction, x.dtype)

    def backward(self, grad):
        dtype = grad.dtype
        coeff = xp_of(self.w_t).zeros(self.in_shape, dtype=dtype)
        coeff[self.index] = -self.w_t * _inverse_normaliser(self.w_t, self.reduction, dtype)
        return constant(coeff) * _grad_scale(grad, self.reduction)


def _unbatched(input, target, fn_name):
    """(C,) scores with a 0-d target: treat as a batch of one. Returns (input, target, was_unbatched)."""
    if input.ndim == 1 and target.ndim == 0:
        return input.reshape(1, input.shape[0]), Tensor(target.data.reshape(1)), True
    return input, target, False


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean"):
    """Negative log-likelihood of class-index targets, given log-probabilities.

    Shapes: input (N, C) or (N, C, d1, ...) (or (C,)), target (N,) or (N, d1, ...) integers
    in [0, C) or ``ignore_index``; weight (C,).  Output: a scalar, or (N, d1, ...) for 'none'.
    """
    reduction = _reduction(reduction, size_average, reduce, "nll_loss")
    check_float(input, "nll_loss")
    target = _as_index_tensor(target, input, "nll_loss")
    input, target, unbatched = _unbatched(input, target, "nll_loss")
    t, w = _check_class_targets(input, target, weight, ignore_index, "nll_loss")
    out = NLLLossOp.apply(input, target=t, weight=w, ignore_index=ignore_index, reduction=reduction)
    return out.reshape(()) if unbatched and reduction == "none" else out


def _as_index_tensor(target, input, fn_name):
    if not isinstance(target, Tensor):
        target = Tensor(B.to_device(np.asarray(target), input.device))
    if target.dtype.kind not in "iu":
        raise TypeError(f"{fn_name}: target must hold integer class indices (e.g. int64), got dtype "
                        f"{target.dtype} (shape {tuple(target.shape)}); for class probabilities pass a float "
                        f"target of the input's shape {tuple(input.shape)}")
    return target


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
                  reduction="mean", label_smoothing=0.0):
    """Cross-entropy between logits and targets (``log_softmax`` + ``nll_loss`` in one op).

    Shapes: input (N, C) or (N, C, d1, ...) (or (C,)) unnormalised scores;
    target either class indices of shape (N,) / (N, d1, ...) (integers, may be
    ``ignore_index``) or class probabilities of the input's shape (float).
    ``weight`` (C,): a weight per class; ``label_smoothing`` in [0, 1]: mixes
    the target with the uniform distribution.  Output: a scalar, or one loss
    per position for 'none'.
    """
    reduction = _reduction(reduction, size_average, reduce, "cross_entropy")
    check_float(input, "cross_entropy")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    if isinstance(target, Tensor) and target.dtype.kind == "f":
        if tuple(target.shape) != tuple(input.shape):
            raise TypeError(f"cross_entropy: target must hold integer class indices (e.g. int64), got dtype "
                            f"{target.dtype} (shape {tuple(target.shape)}); float targets are class probabilities "
                            f"and need the input's shape {tuple(input.shape)}")
        return _cross_entropy_probabilities(input, target, weight, reduction, label_smoothing)
    target = _as_index_tensor(target, input, "cross_entropy")
    input, target, unbatched = _unbatched(input, target, "cross_entropy")
    t, w = _check_class_targets(input, target, weight, ignore_index, "cross_entropy")
    out = CrossEntropyOp.apply(input, target=t, weight=w, ignore_index=ignore_index, reduction=reduction,
                               label_smoothing=float(label_smoothing))
    return out.reshape(()) if unbatched and reduction == "none" else out


def _cross_entropy_probabilities(input, target, weight, reduction, label_smoothing):
    """Soft targets: loss = -sum_c weight_c q_c log softmax(x)_c; 'mean' divides by the number of positions."""
    class_dim = 0 if input.ndim == 1 else 1
    classes = input.shape[class_dim]
    if label_smoothing > 0:
        target = target * (1.0 - label_smoothing) + label_smoothing / classes
    weighted = target
    if weight is not None:
        if tuple(weight.shape) != (classes,):
            raise ValueError(f"cross_entropy: weight must have shape ({classes},), got {tuple(weight.shape)}")
        view = (classes,) + (1,) * (input.ndim - class_dim - 1)
        weighted = target * weight.detach().to(input.dtype).reshape(view)
    per_position = -(weighted * input.log_softmax(class_dim)).sum(class_dim)
    return _reduce(per_position, reduction)


# ----------------------------------------------------------------------------- regression losses
def _pair_shapes(input, target, fn_name):
    check_float(input, fn_name)
    if not isinstance(target, Tensor):
        target = Tensor(B.to_device(np.asarray(target, dtype=input.dtype), input.device))
    if tuple(target.shape) != tuple(input.shape):
        # PyTorch broadcasts with a warning; a mismatch is nearly always a bug (e.g. (N, 1) vs (N,)).
        warnings.warn(f"{fn_name}: target shape {tuple(target.shape)} differs from input shape "
                      f"{tuple(input.shape)}; they will be broadcast, which is probably not what you want",
                      stacklevel=3)
    return target


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """Mean squared error ``(input - target)^2``, reduced.  Shapes: any two equal shapes."""
    reduction = _reduction(reduction, size_average, reduce, "mse_loss")
    target = _pair_shapes(input, target, "mse_loss")
    diff = input - target
    return _reduce(diff * diff, reduction)


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """Mean absolute error ``|input - target|``, reduced.  Shapes: any two equal shapes."""
    reduction = _reduction(reduction, size_average, reduce, "l1_loss")
    target = _pair_shapes(input, target, "l1_loss")
    return _reduce((input - target).abs(), reduction)


def huber_loss(input, target, reduction="mean", delta=1.0):
    """Huber loss: ``0.5 d^2`` where ``|d| < delta``, else ``delta (|d| - 0.5 delta)``, with ``d = input - target``.

    Quadratic near zero, linear (so robust to outliers) beyond ``delta``.  Shapes: any two equal shapes.
    """
    reduction = _reduction(reduction, fn_name="huber_loss")
    if delta <= 0:
        raise ValueError(f"huber_loss: delta must be positive, got {delta}")
    target = _pair_shapes(input, target, "huber_loss")
    return _reduce(_huber_elements(input - target, delta), reduction)


def _huber_elements(diff, delta):
    """Per-element Huber loss of the differences ``diff``."""
    size = diff.abs()
    return where(size < delta, diff * diff * 0.5, (size - 0.5 * delta) * float(delta))


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):
    """Smooth L1: ``0.5 d^2 / beta`` where ``|d| < beta``, else ``|d| - 0.5 beta`` (``huber_loss / beta``;
    plain L1 when ``beta == 0``).  Shapes: any two equal shapes."""
    reduction = _reduction(reduction, size_average, reduce, "smooth_l1_loss")
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: beta must be >= 0, got {beta}")
    diff = input - _pair_shapes(input, target, "smooth_l1_loss")
    if beta == 0:
        return _reduce(diff.abs(), reduction)
    return _reduce(_huber_elements(diff, beta) * (1.0 / beta), reduction)


# ----------------------------------------------------------------------------- binary targets
def _check_binary(input, target, fn_name):
    check_float(input, fn_name)
    if not isinstance(target, Tensor):
        target = Tensor(B.to_device(np.asarray(target, dtype=input.dtype), input.device))
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"{fn_name}: target size {tuple(target.shape)} must be the same as input size "
                         f"{tuple(input.shape)}")
    if target.dtype.kind != "f":
        target = target.to(input.dtype)
    return target


def _like_input(value, input, name, fn_name):
    """An optional weight as a tensor of the input's dtype (a float64 weight must not upcast a float32 loss)."""
    if value is None:
        return None
    if not isinstance(value, Tensor):
        value = Tensor(B.to_device(np.asarray(value), input.device))
    try:
        fits = np.broadcast_shapes(tuple(value.shape), tuple(input.shape)) == tuple(input.shape)
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(f"{fn_name}: {name} of shape {tuple(value.shape)} does not broadcast against the "
                         f"input's shape {tuple(input.shape)}")
    return value.to(input.dtype)


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None,
                                     reduction="mean", pos_weight=None):
    """Binary cross-entropy on logits: ``-w [p t log sigmoid(x) + (1 - t) log(1 - sigmoid(x))]``.

    Computed as ``p t softplus(-x) + (1 - t) softplus(x)``: no overflow and
    full relative precision even for very confident logits (no sigmoid then log).  Shapes: input and
    target equal; ``weight`` broadcasts against them; ``pos_weight`` (the
    weight p of positive examples) broadcasts along the last dim (classes).
    """
    reduction = _reduction(reduction, size_average, reduce, "binary_cross_entropy_with_logits")
    target = _check_binary(input, target, "binary_cross_entropy_with_logits")
    weight = _like_input(weight, input, "weight", "binary_cross_entropy_with_logits")
    pos_weight = _like_input(pos_weight, input, "pos_weight", "binary_cross_entropy_with_logits")
    # -log sigmoid(x) = softplus(-x) and -log(1 - sigmoid(x)) = softplus(x): both exact in either tail.
    positive_part = target * (-input).softplus()
    if pos_weight is not None:
        positive_part = positive_part * pos_weight
    loss = positive_part + (1.0 - target) * input.softplus()
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None, reduction="mean"):
    """Binary cross-entropy on probabilities in [0, 1]: ``-w [t log p + (1 - t) log(1 - p)]``.

    Each log is clamped at -100 (as PyTorch), so p = 0 or 1 gives a finite
    loss.  Prefer ``binary_cross_entropy_with_logits``: it is exact for
    confident predictions.  Shapes: input and target equal; weight broadcasts.
    """
    reduction = _reduction(reduction, size_average, reduce, "binary_cross_entropy")
    target = _check_binary(input, target, "binary_cross_entropy")
    weight = _like_input(weight, input, "weight", "binary_cross_entropy")
    data = input.data
    if data.size and bool(((data < 0) | (data > 1)).any()):
        raise ValueError("binary_cross_entropy: input values must be probabilities in [0, 1]; for "
                         "unbounded scores use binary_cross_entropy_with_logits")
    with np.errstate(divide="ignore"):
        log_p = input.log().clamp(min=-100.0)
        log_not_p = (1.0 - input).log().clamp(min=-100.0)
    loss = -(target * log_p + (1.0 - target) * log_not_p)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)
