"""Registry entries for the nn ops (see op_registry.py for the fields).

NumPy references below are written independently of minigrad's code (other
index tricks, ``take_along_axis``, ``moveaxis``) so that they check it.
"""
import math

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigrad.nn.functional as F
from op_registry import NONEMPTY_DIMS, SHAPES, OpInfo, Sample, distinct, register, values  # noqa: F401

REDUCTIONS = st.sampled_from(["mean", "sum", "none"])


def _tf():
    import torch.nn.functional as tf

    return tf


def _rng(draw):
    return np.random.default_rng(draw(st.integers(0, 2**32 - 1)))


def _np_reduce(loss, reduction):
    return {"mean": np.mean, "sum": np.sum}[reduction](loss) if reduction != "none" else loss


# ----------------------------------------------------------------------------- linear
def _linear_sample(with_bias):
    def sample(draw):
        lead = draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=1, max_side=3))
        n_in, n_out = draw(st.integers(1, 4)), draw(st.integers(1, 4))
        args = [values(draw, lead + (n_in,)), values(draw, (n_out, n_in), salt=1)]
        if with_bias:
            args.append(values(draw, (n_out,), salt=2))
        return Sample(args)

    return sample


register(
    OpInfo("linear", lambda x, w, b: F.linear(x, w, b), _linear_sample(True), lambda x, w, b: x @ w.T + b,
           lambda x, w, b: _tf().linear(x, w, b)),
    OpInfo("linear_no_bias", lambda x, w: F.linear(x, w), _linear_sample(False), lambda x, w: np.matmul(x, w.T),
           lambda x, w: _tf().linear(x, w)),
)


# ----------------------------------------------------------------------------- class-index losses
def _np_log_softmax(x, axis):
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def _np_nll(logp, t, w=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """PyTorch's nll/cross-entropy formulas, class dim moved last."""
    classes = logp.shape[1]
    logp = np.moveaxis(logp, 1, -1)
    valid = t != ignore_index
    safe = np.where(valid, t, 0)
    w = np.ones(classes) if w is None else w
    w_t = w[safe] * valid
    nll = -w_t * np.take_along_axis(logp, safe[..., None], axis=-1)[..., 0]
    smooth = -(logp * w).sum(-1) * valid
    loss = (1 - label_smoothing) * nll + label_smoothing / classes * smooth
    if reduction == "none":
        return loss
    return loss.sum() / (w_t.sum() if reduction == "mean" else 1.0)


def _class_sample(weighted, smoothing=True, log_probs=False):
    def sample(draw):
        rng = _rng(draw)
        n, classes = draw(st.integers(1, 4)), draw(st.integers(2, 4))
        extra = tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
        x = values(draw, (n, classes) + extra, "wide")
        ignore_index = draw(st.sampled_from([-100, 1]))  # 1 is a real class: "never count class 1"
        t = rng.integers(0, classes, (n,) + extra)
        if draw(st.booleans()):
            t[rng.random(t.shape) < 0.3] = ignore_index
        t.reshape(-1)[0] = 0  # at least one counted target ('mean' of nothing is NaN)
        kwargs = {"ignore_index": ignore_index, "reduction": draw(REDUCTIONS)}
        if smoothing:
            kwargs["label_smoothing"] = draw(st.sampled_from([0.0, 0.25]))
        args = [x, t] + ([rng.uniform(0.5, 2.0, classes)] if weighted else [])
        return Sample(args, kwargs, constant=(1, 2))

    return sample


def _ce(x, t, w=None, **kw):
    return F.cross_entropy(x, t, weight=w, **kw)


def _np_ce(x, t, w=None, **kw):
    return _np_nll(_np_log_softmax(x, 1), t, w, **kw)


def _torch_ce(x, t, w=None, **kw):
    return _tf().cross_entropy(x, t, weight=w, **kw)


def _prob_target_sample(draw):
    rng = _rng(draw)
    n, classes = draw(st.integers(1, 4)), draw(st.integers(2, 4))
    extra = tuple(draw(st.lists(st.integers(1, 2), max_size=1)))
    shape = (n, classes) + extra
    target = rng.dirichlet(np.ones(classes), size=(n,) + extra)
    target = np.moveaxis(target, -1, 1)
    kwargs = {"reduction": draw(REDUCTIONS), "label_smoothing": draw(st.sampled_from([0.0, 0.25]))}
    return Sample([values(draw, shape, "wide"), target], kwargs)


def _np_ce_probs(x, q, reduction, label_smoothing):
    classes = x.shape[1]
    q = q * (1 - label_smoothing) + label_smoothing / classes
    return _np_reduce(-(q * _np_log_softmax(x, 1)).sum(1), reduction)


def _nll(x, t, w=None, **kw):
    return F.nll_loss(x, t, weight=w, **kw)


def _torch_nll(x, t, w=None, **kw):
    return _tf().nll_loss(x, t, weight=w, **kw)


register(
    OpInfo("cross_entropy", _ce, _class_sample(weighted=False), _np_ce, _torch_ce,
           notes="ignore_index, reductions, label smoothing, K-dimensional logits"),
    OpInfo("cross_entropy_weighted", _ce, _class_sample(weighted=True), _np_ce, _torch_ce),
    OpInfo("cross_entropy_probs", lambda x, q, **kw: F.cross_entropy(x, q, **kw), _prob_target_sample,
           _np_ce_probs, lambda x, q, **kw: _tf().cross_entropy(x, q, **kw), notes="probability targets"),
    OpInfo("nll_loss", _nll, _class_sample(weighted=False, smoothing=False), _np_nll, _torch_nll),
    OpInfo("nll_loss_weighted", _nll, _class_sample(weighted=True, smoothing=False), _np_nll, _torch_nll),
)


# ----------------------------------------------------------------------------- regression and binary losses
def _pair_sample(domain_t="real"):
    def sample(draw):
        shape = draw(SHAPES)
        return Sample([values(draw, shape), values(draw, shape, domain_t, salt=1)], {"reduction": draw(REDUCTIONS)})

    return sample


def _bce_logits_sample(weighted):
    def sample(draw):
        rng = _rng(draw)
        shape = draw(NONEMPTY_DIMS)
        args = [values(draw, shape, "wide"), rng.uniform(0, 1, shape)]
        if weighted:
            args += [rng.uniform(0.5, 2, shape[-1:] if draw(st.booleans()) else shape),
                     rng.uniform(0.5, 3, shape[-1:])]
        # PyTorch does not differentiate with respect to ``weight`` and ``pos_weight``: constants here.
        return Sample(args, {"reduction": draw(REDUCTIONS)}, constant=(2, 3))

    return sample


def _np_bce_logits(x, t, w=None, pw=None, reduction="mean"):
    log_sig = -np.logaddexp(0, -x)  # log sigmoid(x)
    log_not_sig = -np.logaddexp(0, x)  # log (1 - sigmoid(x))
    pw = 1.0 if pw is None else pw
    loss = -(pw * t * log_sig + (1 - t) * log_not_sig)
    return _np_reduce(loss * (1.0 if w is None else w), reduction)


def _bce_sample(draw):
    rng = _rng(draw)
    shape = draw(SHAPES)
    return Sample([rng.uniform(0.05, 0.95, shape), rng.uniform(0, 1, shape)], {"reduction": draw(REDUCTIONS)})


register(
    OpInfo("mse_loss", lambda x, t, **kw: F.mse_loss(x, t, **kw), _pair_sample(),
           lambda x, t, reduction: _np_reduce((x - t) ** 2, reduction),
           lambda x, t, **kw: _tf().mse_loss(x, t, **kw)),
    OpInfo("l1_loss", lambda x, t, **kw: F.l1_loss(x, t, **kw), _pair_sample(),
           lambda x, t, reduction: _np_reduce(np.abs(x - t), reduction),
           lambda x, t, **kw: _tf().l1_loss(x, t, **kw)),
    OpInfo("bce_with_logits", lambda x, t, **kw: F.binary_cross_entropy_with_logits(x, t, **kw),
           _bce_logits_sample(False), _np_bce_logits,
           lambda x, t, **kw: _tf().binary_cross_entropy_with_logits(x, t, **kw)),
    OpInfo("bce_with_logits_weighted",
           lambda x, t, w, pw, **kw: F.binary_cross_entropy_with_logits(x, t, weight=w, pos_weight=pw, **kw),
           _bce_logits_sample(True), _np_bce_logits,
           lambda x, t, w, pw, **kw: _tf().binary_cross_entropy_with_logits(x, t, weight=w, pos_weight=pw, **kw)),
    OpInfo("binary_cross_entropy", lambda p, t, **kw: F.binary_cross_entropy(p, t, **kw), _bce_sample,
           lambda p, t, reduction: _np_reduce(-(t * np.log(p) + (1 - t) * np.log(1 - p)), reduction),
           lambda p, t, **kw: _tf().binary_cross_entropy(p, t, **kw)),
)


# ----------------------------------------------------------------------------- normalisation
def _np_normalize(x, axes, eps):
    mean = x.mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    return (x - mean) / np.sqrt(var + eps)


def _layer_norm_sample(affine):
    def sample(draw):
        lead = draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=1, max_side=3))
        normalized = draw(hnp.array_shapes(min_dims=1, max_dims=2, min_side=1, max_side=3).filter(
            lambda s: int(np.prod(s)) >= 2))
        args = [distinct(draw, lead + normalized)]
        if affine:
            args += [values(draw, normalized, salt=1), values(draw, normalized, salt=2)]
        return Sample(args, {"normalized_shape": normalized, "eps": draw(st.sampled_from([1e-5, 0.1]))})

    return sample


def _np_layer_norm(x, w=None, b=None, normalized_shape=(), eps=1e-5):
    out = _np_normalize(x, tuple(range(x.ndim - len(normalized_shape), x.ndim)), eps)
    return out * w + b if w is not None else out


def _batch_norm_sample(mode):
    def sample(draw):
        n, c = draw(st.integers(1, 3)), draw(st.integers(1, 3))
        spatial = tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
        if n * int(np.prod(spatial)) < 3:  # 3+ values per channel: a well-conditioned variance
            n = 3
        shape = (n, c) + spatial
        args = [distinct(draw, shape)]
        if mode == "eval":
            rng = _rng(draw)
            args += [rng.uniform(-1, 1, c), rng.uniform(0.5, 2, c)]
        if mode != "train_no_affine":
            args += [values(draw, (c,), salt=1), values(draw, (c,), salt=2)]
        return Sample(args, {"eps": draw(st.sampled_from([1e-5, 0.1]))}, constant=(1, 2) if mode == "eval" else ())

    return sample


def _np_batch_norm_train(x, w=None, b=None, eps=1e-5):
    out = _np_normalize(x, (0,) + tuple(range(2, x.ndim)), eps)
    view = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    return out * w.reshape(view) + b.reshape(view) if w is not None else out


def _np_batch_norm_eval(x, rm, rv, w, b, eps=1e-5):
    view = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    return (x - rm.reshape(view)) / np.sqrt(rv.reshape(view) + eps) * w.reshape(view) + b.reshape(view)


register(
    OpInfo("layer_norm", lambda x, w, b, **kw: F.layer_norm(x, weight=w, bias=b, **kw), _layer_norm_sample(True),
           _np_layer_norm, lambda x, w, b, **kw: _tf().layer_norm(x, weight=w, bias=b, **kw), atol=1e-5),
    OpInfo("layer_norm_no_affine", lambda x, **kw: F.layer_norm(x, **kw), _layer_norm_sample(False),
           _np_layer_norm, lambda x, **kw: _tf().layer_norm(x, **kw), atol=1e-5),
    OpInfo("batch_norm_train", lambda x, w, b, eps: F.batch_norm(x, None, None, w, b, training=True, eps=eps),
           _batch_norm_sample("train"), _np_batch_norm_train,
           lambda x, w, b, eps: _tf().batch_norm(x, None, None, w, b, training=True, eps=eps), atol=1e-5),
    OpInfo("batch_norm_train_no_affine", lambda x, eps: F.batch_norm(x, None, None, training=True, eps=eps),
           _batch_norm_sample("train_no_affine"), _np_batch_norm_train,
           lambda x, eps: _tf().batch_norm(x, None, None, training=True, eps=eps), atol=1e-5),
    OpInfo("batch_norm_eval",
           lambda x, rm, rv, w, b, eps: F.batch_norm(x, rm, rv, w, b, training=False, eps=eps),
           _batch_norm_sample("eval"), _np_batch_norm_eval,
           lambda x, rm, rv, w, b, eps: _tf().batch_norm(x, rm, rv, w, b, training=False, eps=eps)),
)


# ----------------------------------------------------------------------------- embedding, one_hot, GELU
def _embedding_sample(draw):
    rng = _rng(draw)
    rows, dim = draw(st.integers(1, 5)), draw(st.integers(1, 3))
    index_shape = draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=1, max_side=4))
    return Sample([values(draw, (rows, dim)), rng.integers(0, rows, index_shape)], constant=(1,))


def _one_hot_sample(draw):
    rng = _rng(draw)
    classes = draw(st.integers(1, 5))
    idx = rng.integers(0, classes, draw(SHAPES))
    return Sample([idx], {"num_classes": draw(st.sampled_from([-1, classes, classes + 2]))}, constant=(0,))


def _np_one_hot(idx, num_classes):
    classes = int(idx.max()) + 1 if num_classes == -1 else num_classes
    return (idx[..., None] == np.arange(classes)).astype(np.int64)


_np_erf = np.vectorize(math.erf, otypes=[np.float64])


register(
    OpInfo("embedding", lambda w, i: F.embedding(i, w), _embedding_sample, lambda w, i: w[i],
           lambda w, i: _tf().embedding(i, w), notes="repeated indices accumulate in backward"),
    OpInfo("one_hot", lambda i, **kw: F.one_hot(i, **kw), _one_hot_sample, _np_one_hot,
           lambda i, **kw: _tf().one_hot(i, **kw), grad=False),
    OpInfo("gelu", lambda x: F.gelu(x), lambda draw: Sample([values(draw, draw(SHAPES), "wide")]),
           lambda x: 0.5 * x * (1 + _np_erf(x / math.sqrt(2))), lambda x: _tf().gelu(x)),
    OpInfo("gelu_tanh", lambda x: F.gelu(x, approximate="tanh"),
           lambda draw: Sample([values(draw, draw(SHAPES), "wide")]),
           lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3))),
           lambda x: _tf().gelu(x, approximate="tanh")),
    OpInfo("erf", lambda x: F.erf(x), lambda draw: Sample([values(draw, draw(SHAPES), "wide")]), _np_erf,
           lambda x: x.erf()),
)


# ----------------------------------------------------------------------------- more activations and losses
def _huber_sample(param):
    def sample(draw):
        shape = draw(SHAPES)
        # differences of size up to 4 around a threshold in [0.3, 2], kept 0.05 away from the kink at |d| = threshold
        threshold = draw(st.sampled_from([0.3, 1.0, 2.0]))
        rng = _rng(draw)
        target = rng.uniform(-1, 1, shape)
        size = rng.uniform(0.0, 4.0, shape)
        size = np.where(np.abs(size - threshold) < 0.05, threshold + 0.1, size)
        x = target + size * rng.choice([-1.0, 1.0], shape)
        return Sample([np.asarray(x), np.asarray(target)], {"reduction": draw(REDUCTIONS), param: threshold})

    return sample


def _np_huber(x, t, reduction, delta):
    d = np.abs(x - t)
    return _np_reduce(np.where(d < delta, 0.5 * d * d, delta * (d - 0.5 * delta)), reduction)


def _np_smooth_l1(x, t, reduction, beta):
    d = np.abs(x - t)
    return _np_reduce(np.where(d < beta, 0.5 * d * d / beta, d - 0.5 * beta), reduction)


def _softplus_sample(draw):
    return Sample([values(draw, draw(SHAPES), "wide")], {"beta": draw(st.sampled_from([1.0, 0.5, 3.0])),
                                                         "threshold": draw(st.sampled_from([20.0, 2.0]))})


def _np_softplus(x, beta, threshold):
    return np.where(beta * x > threshold, x, np.log1p(np.exp(beta * x)) / beta)


register(
    OpInfo("elu", lambda x, **kw: F.elu(x, **kw),
           lambda draw: Sample([values(draw, draw(SHAPES), "wide")], {"alpha": draw(st.sampled_from([1.0, 0.5]))}),
           lambda x, alpha: np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0))),
           lambda x, **kw: _tf().elu(x, **kw)),
    OpInfo("silu", lambda x: F.silu(x), lambda draw: Sample([values(draw, draw(SHAPES), "wide")]),
           lambda x: x / (1 + np.exp(-x)), lambda x: _tf().silu(x)),
    OpInfo("softplus_beta_threshold", lambda x, **kw: F.softplus(x, **kw), _softplus_sample, _np_softplus,
           lambda x, **kw: _tf().softplus(x, **kw)),
    OpInfo("huber_loss", lambda x, t, **kw: F.huber_loss(x, t, **kw), _huber_sample("delta"), _np_huber,
           lambda x, t, **kw: _tf().huber_loss(x, t, **kw)),
    OpInfo("smooth_l1_loss", lambda x, t, **kw: F.smooth_l1_loss(x, t, **kw), _huber_sample("beta"), _np_smooth_l1,
           lambda x, t, **kw: _tf().smooth_l1_loss(x, t, **kw)),
)
