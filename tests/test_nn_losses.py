"""Losses: every option against PyTorch (when installed) and NumPy formulas (always), gradients,
numerical stability, dtype, errors and the loss modules."""
import itertools
import math

import numpy as np
import pytest

import minigrad as mg
import minigrad.nn as nn
import minigrad.nn.functional as F
from helpers import HAVE_TORCH, torch

needs_torch = pytest.mark.skipif(not HAVE_TORCH, reason="PyTorch is not installed")


def _np_log_softmax(x, axis=1):
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def _targets(rng, shape, classes, ignore_index, ignore_some):
    t = rng.integers(0, classes, shape)
    if ignore_some:
        t[rng.random(shape) < 0.3] = ignore_index
        t.reshape(-1)[0] = 0 if ignore_index != 0 else 1
    return t


def _mg_and_torch_loss(fn_name, x_np, t_np, grad_seed=0, **kwargs):
    """Loss value and logits gradient from minigrad and PyTorch (float64, random output gradient)."""
    x = mg.tensor(x_np, requires_grad=True)
    tx = torch.tensor(x_np, requires_grad=True)
    mg_kwargs, t_kwargs = dict(kwargs), dict(kwargs)
    if kwargs.get("weight") is not None:
        mg_kwargs["weight"] = mg.tensor(kwargs["weight"])
        t_kwargs["weight"] = torch.tensor(kwargs["weight"])
    out = getattr(F, fn_name)(x, mg.tensor(t_np), **mg_kwargs)
    tout = getattr(torch.nn.functional, fn_name)(tx, torch.tensor(t_np), **t_kwargs)
    g = np.random.default_rng(grad_seed).standard_normal(out.shape)
    out.backward(mg.tensor(g))
    tout.backward(torch.tensor(g))
    return out, tout, x.grad, tx.grad


# ----------------------------------------------------------------------------- cross-entropy
CE_CASES = list(itertools.product(
    [(5, 4), (3, 4, 2), (2, 3, 2, 3)],  # logits (N, C) and K-dimensional (N, C, d1, ...)
    [False, True],  # class weights
    [(-100, False), (-100, True), (2, False)],  # ignore_index; whether some targets are ignored
    ["mean", "sum", "none"],
    [0.0, 0.15],  # label smoothing
))


@needs_torch
@pytest.mark.parametrize("shape,weighted,ignore,reduction,smoothing", CE_CASES)
def test_cross_entropy_matches_pytorch(shape, weighted, ignore, reduction, smoothing):
    rng = np.random.default_rng(hash((shape, weighted, ignore, reduction)) % 2**32)
    ignore_index, ignore_some = ignore
    x_np = rng.standard_normal(shape) * 3
    t_np = _targets(rng, (shape[0],) + shape[2:], shape[1], ignore_index, ignore_some)
    weight = rng.uniform(0.2, 3, shape[1]) if weighted else None
    out, tout, grad, tgrad = _mg_and_torch_loss("cross_entropy", x_np, t_np, weight=weight,
                                                ignore_index=ignore_index, reduction=reduction,
                                                label_smoothing=smoothing)
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(grad.data, tgrad.numpy(), rtol=1e-10, atol=1e-12)


def test_cross_entropy_matches_numpy_formulas():
    """PyTorch's 'mean' with class weights divides by the summed weights of the counted targets."""
    rng = np.random.default_rng(0)
    x_np, t_np = rng.standard_normal((6, 4)), np.array([0, 3, -100, 1, 3, 2])
    w_np = np.array([0.5, 1.0, 2.0, 3.0])
    logp = _np_log_softmax(x_np)
    valid = t_np != -100
    picked = logp[np.arange(6)[valid], t_np[valid]]
    w_t = w_np[t_np[valid]]
    x = mg.tensor(x_np, requires_grad=True)
    loss = F.cross_entropy(x, mg.tensor(t_np), weight=mg.tensor(w_np))
    np.testing.assert_allclose(loss.item(), -(w_t * picked).sum() / w_t.sum(), rtol=1e-12)
    loss.backward()
    expected = np.exp(logp) * np.where(valid, w_np[np.where(valid, t_np, 0)], 0)[:, None]
    expected[np.arange(6)[valid], t_np[valid]] -= w_t
    np.testing.assert_allclose(x.grad.data, expected / w_t.sum(), rtol=1e-12, atol=1e-15)
    # label smoothing, no weights: (1 - eps) * nll + eps * mean over classes of -log p
    eps = 0.2
    smoothed = F.cross_entropy(mg.tensor(x_np), mg.tensor(t_np), label_smoothing=eps, reduction="none")
    expected = np.where(valid, (1 - eps) * -logp[np.arange(6), np.where(valid, t_np, 0)] - eps * logp.mean(1), 0)
    np.testing.assert_allclose(smoothed.data, expected, rtol=1e-12)
    # sum and 'none' agree; K-dimensional = flattened positions
    x4 = rng.standard_normal((2, 3, 4, 5))
    t4 = rng.integers(0, 3, (2, 4, 5))
    per_position = F.cross_entropy(mg.tensor(x4), mg.tensor(t4), reduction="none")
    flat = F.cross_entropy(mg.tensor(np.moveaxis(x4, 1, -1).reshape(-1, 3)), mg.tensor(t4.reshape(-1)),
                           reduction="none")
    np.testing.assert_allclose(per_position.data.reshape(-1), flat.data, rtol=1e-12)
    np.testing.assert_allclose(F.cross_entropy(mg.tensor(x4), mg.tensor(t4), reduction="sum").item(),
                               per_position.data.sum(), rtol=1e-12)


def test_cross_entropy_gradcheck_with_every_option():
    rng = np.random.default_rng(1)
    x = mg.tensor(rng.standard_normal((3, 4, 2)), requires_grad=True)
    t = mg.tensor(np.array([[0, 2], [-100, 3], [1, 1]]))
    w = mg.tensor(rng.uniform(0.5, 2, 4))
    for reduction in ("mean", "sum", "none"):
        fn = lambda x: F.cross_entropy(x, t, weight=w, reduction=reduction, label_smoothing=0.1)  # noqa: E731
        assert mg.autograd.gradcheck(fn, (x,))
        assert mg.autograd.gradgradcheck(fn, (x,))


@needs_torch
def test_cross_entropy_second_derivatives_match_pytorch():
    """Hessian-vector product through the fused op (create_graph=True) equals PyTorch's."""
    rng = np.random.default_rng(2)
    x_np, t_np, v_np = rng.standard_normal((4, 5)), np.array([1, 0, 4, -100]), rng.standard_normal((4, 5))
    w_np = rng.uniform(0.5, 2, 5)
    x = mg.tensor(x_np, requires_grad=True)
    (g,) = mg.autograd.grad(F.cross_entropy(x, mg.tensor(t_np), weight=mg.tensor(w_np), label_smoothing=0.1), x,
                            create_graph=True)
    (g * mg.tensor(v_np)).sum().backward()
    tx = torch.tensor(x_np, requires_grad=True)
    (tg,) = torch.autograd.grad(torch.nn.functional.cross_entropy(tx, torch.tensor(t_np), weight=torch.tensor(w_np),
                                                                  label_smoothing=0.1), tx, create_graph=True)
    (tg * torch.tensor(v_np)).sum().backward()
    np.testing.assert_allclose(g.data, tg.detach().numpy(), rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(x.grad.data, tx.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_cross_entropy_is_stable_for_huge_logits():
    x = mg.tensor([[1e4, -1e4, 0.0], [-3e4, 3e4, 3e4]], requires_grad=True)
    loss = F.cross_entropy(x, mg.tensor([0, 1]), reduction="none")
    np.testing.assert_allclose(loss.data, [0.0, math.log(2)], atol=1e-6)
    loss.sum().backward()
    assert np.isfinite(x.grad.data).all()
    np.testing.assert_allclose(x.grad.data, [[0, 0, 0], [0, -0.5, 0.5]], atol=1e-6)


def test_cross_entropy_is_one_fused_node_and_keeps_float32():
    x = mg.randn(8, 10, requires_grad=True)
    with mg.autograd.tape() as tape:
        loss = F.cross_entropy(x, mg.randint(0, 10, (8,)), weight=mg.ones(10, dtype=mg.float64),
                               label_smoothing=0.1)
    assert [e.op for e in tape] == ["CrossEntropyOp"]
    assert loss.dtype == np.float32
    loss.backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_allclose(x.grad.data.sum(1), 0, atol=1e-6)  # rows of softmax - target sum to 0


def test_fused_ops_can_backward_twice_with_retain_graph():
    """The saved softmax / x-hat must survive the first backward."""
    x = mg.randn(4, 3, requires_grad=True)
    for make in (lambda: F.cross_entropy(x, mg.tensor([0, 2, 1, 1]), label_smoothing=0.1),
                 lambda: (F.layer_norm(x, (3,)) * mg.randn(4, 3)).sum(),
                 lambda: (F.batch_norm(x, None, None, training=True) * mg.randn(4, 3)).sum()):
        x.grad = None
        loss = make()
        loss.backward(retain_graph=True)
        first = x.grad.data.copy()
        loss.backward()
        np.testing.assert_allclose(x.grad.data, 2 * first, rtol=1e-6)


@needs_torch
def test_cross_entropy_all_targets_ignored_gives_nan_mean_and_zero_gradient_like_pytorch():
    x_np, t_np = np.random.default_rng(0).standard_normal((3, 4)), np.full(3, -100)
    out, tout, grad, tgrad = _mg_and_torch_loss("cross_entropy", x_np, t_np)
    assert np.isnan(out.item()) and np.isnan(tout.item())
    np.testing.assert_array_equal(grad.data, tgrad.numpy())
    assert F.cross_entropy(mg.tensor(x_np), mg.tensor(t_np), reduction="sum").item() == 0


@needs_torch
def test_cross_entropy_unbatched_and_probability_targets_match_pytorch():
    rng = np.random.default_rng(3)
    x_np = rng.standard_normal(5)
    for reduction in ("mean", "none"):
        out, tout, grad, tgrad = _mg_and_torch_loss("cross_entropy", x_np, np.array(3), reduction=reduction)
        assert out.shape == tuple(tout.shape)
        np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=1e-12)
        np.testing.assert_allclose(grad.data, tgrad.numpy(), rtol=1e-12)
    x_np = rng.standard_normal((4, 3, 2))
    q_np = rng.dirichlet(np.ones(3), size=(4, 2)).transpose(0, 2, 1)
    for reduction, smoothing, weighted in itertools.product(("mean", "sum", "none"), (0.0, 0.2), (False, True)):
        weight = rng.uniform(0.5, 2, 3) if weighted else None
        out, tout, grad, tgrad = _mg_and_torch_loss("cross_entropy", x_np, q_np, reduction=reduction,
                                                    label_smoothing=smoothing, weight=weight)
        np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=1e-12)
        np.testing.assert_allclose(grad.data, tgrad.numpy(), rtol=1e-12, atol=1e-15)


def test_cross_entropy_bad_targets_are_clear_errors():
    x = mg.randn(4, 3)
    with pytest.raises(ValueError, match=r"target shape \(4, 1\).*input shape \(4, 3\).*\(4,\)"):
        F.cross_entropy(x, mg.tensor([[0], [1], [2], [0]]))
    with pytest.raises(ValueError, match=r"\(3,\).*\(4, 3\)"):
        F.cross_entropy(x, mg.tensor([0, 1, 2]))
    with pytest.raises(TypeError, match=r"integer class indices.*float32.*\(4,\)"):
        F.cross_entropy(x, mg.tensor([0.0, 1.0, 2.0, 0.0]))
    with pytest.raises(TypeError, match="integer class indices.*bool"):
        F.cross_entropy(x, mg.tensor([True, False, True, True]))
    with pytest.raises(IndexError, match=r"\[0, 3\).*got 3"):
        F.cross_entropy(x, mg.tensor([0, 1, 3, 0]))
    with pytest.raises(IndexError, match="got -1"):
        F.cross_entropy(x, mg.tensor([0, 1, -1, 0]))
    with pytest.raises(ValueError, match=r"weight.*\(3,\).*\(2,\)"):
        F.cross_entropy(x, mg.tensor([0, 1, 2, 0]), weight=mg.ones(2))
    with pytest.raises(ValueError, match="reduction"):
        F.cross_entropy(x, mg.tensor([0, 1, 2, 0]), reduction="average")
    with pytest.raises(ValueError, match="label_smoothing"):
        F.cross_entropy(x, mg.tensor([0, 1, 2, 0]), label_smoothing=1.5)


# ----------------------------------------------------------------------------- NLL
@needs_torch
@pytest.mark.parametrize("shape,weighted,reduction", list(itertools.product(
    [(5, 3), (2, 3, 4)], [False, True], ["mean", "sum", "none"])))
def test_nll_loss_matches_pytorch(shape, weighted, reduction):
    rng = np.random.default_rng(4)
    x_np = _np_log_softmax(rng.standard_normal(shape))
    t_np = _targets(rng, (shape[0],) + shape[2:], shape[1], -100, True)
    weight = rng.uniform(0.5, 2, shape[1]) if weighted else None
    out, tout, grad, tgrad = _mg_and_torch_loss("nll_loss", x_np, t_np, weight=weight, reduction=reduction)
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(grad.data, tgrad.numpy(), rtol=1e-12)


def test_nll_of_log_softmax_equals_cross_entropy():
    rng = np.random.default_rng(5)
    x = mg.tensor(rng.standard_normal((6, 5)), requires_grad=True)
    t = mg.tensor(np.array([0, 4, 2, -100, 1, 1]))
    w = mg.tensor(rng.uniform(0.5, 2, 5))
    a = F.nll_loss(F.log_softmax(x, 1), t, weight=w)
    (ga,) = mg.autograd.grad(a, x)
    b = F.cross_entropy(x, t, weight=w)
    (gb,) = mg.autograd.grad(b, x)
    np.testing.assert_allclose(a.item(), b.item(), rtol=1e-12)
    np.testing.assert_allclose(ga.data, gb.data, rtol=1e-10, atol=1e-14)
    assert mg.autograd.gradgradcheck(lambda x: F.nll_loss(x.log_softmax(1), t, weight=w), (x,))


# ----------------------------------------------------------------------------- regression losses
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_and_l1_match_numpy(reduction):
    rng = np.random.default_rng(6)
    a_np, b_np = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    reduce = {"mean": np.mean, "sum": np.sum, "none": lambda v: v}[reduction]
    for fn, ref, dref in ((F.mse_loss, (a_np - b_np) ** 2, 2 * (a_np - b_np)),
                          (F.l1_loss, np.abs(a_np - b_np), np.sign(a_np - b_np))):
        a, b = mg.tensor(a_np, requires_grad=True), mg.tensor(b_np, requires_grad=True)
        out = fn(a, b, reduction=reduction)
        np.testing.assert_allclose(out.data, reduce(ref), rtol=1e-12)
        out.sum().backward()
        scale = 1 / a_np.size if reduction == "mean" else 1
        np.testing.assert_allclose(a.grad.data, dref * scale, rtol=1e-12)
        np.testing.assert_allclose(b.grad.data, -dref * scale, rtol=1e-12)


def test_regression_losses_warn_about_broadcast_targets():
    with pytest.warns(UserWarning, match=r"target shape \(4, 1\) differs from input shape \(4,\)"):
        F.mse_loss(mg.randn(4), mg.randn(4, 1))


# ----------------------------------------------------------------------------- binary cross-entropy
def test_bce_with_logits_is_exact_for_extreme_logits():
    x = mg.tensor([100.0, -100.0, 100.0, -100.0, 0.0], dtype=mg.float64, requires_grad=True)
    t = mg.tensor([1.0, 0.0, 0.0, 1.0, 1.0], dtype=mg.float64)
    loss = F.binary_cross_entropy_with_logits(x, t, reduction="none")
    np.testing.assert_allclose(loss.data, [math.exp(-100), math.exp(-100), 100, 100, math.log(2)], rtol=1e-12)
    loss.sum().backward()
    np.testing.assert_allclose(x.grad.data, [-math.exp(-100), math.exp(-100), 1, -1, -0.5], rtol=1e-12,
                               atol=1e-300)


def test_bce_with_logits_matches_numpy_with_weights():
    rng = np.random.default_rng(7)
    x_np, t_np = rng.standard_normal((5, 3)) * 4, rng.uniform(0, 1, (5, 3))
    w_np, pw_np = rng.uniform(0.5, 2, (5, 1)), np.array([1.0, 2.0, 0.5])
    sig = 1 / (1 + np.exp(-x_np))
    expected = -w_np * (pw_np * t_np * np.log(sig) + (1 - t_np) * np.log(1 - sig))
    out = F.binary_cross_entropy_with_logits(mg.tensor(x_np), mg.tensor(t_np), weight=mg.tensor(w_np),
                                             pos_weight=mg.tensor(pw_np), reduction="none")
    np.testing.assert_allclose(out.data, expected, rtol=1e-10)


@needs_torch
@pytest.mark.parametrize("reduction,weighted,pos", list(itertools.product(["mean", "sum", "none"], [False, True],
                                                                          [False, True])))
def test_bce_losses_match_pytorch(reduction, weighted, pos):
    rng = np.random.default_rng(8)
    x_np, t_np = rng.standard_normal((4, 3)) * 5, rng.uniform(0, 1, (4, 3))
    kwargs = {"reduction": reduction}
    if weighted:
        kwargs["weight"] = rng.uniform(0.5, 2, (4, 3))
    t_kwargs = {k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
    m_kwargs = {k: mg.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
    if pos:
        pw = rng.uniform(0.5, 3, 3)
        out = F.binary_cross_entropy_with_logits(mg.tensor(x_np, requires_grad=True), mg.tensor(t_np),
                                                 pos_weight=mg.tensor(pw), **m_kwargs)
        tout = torch.nn.functional.binary_cross_entropy_with_logits(
            torch.tensor(x_np, requires_grad=True), torch.tensor(t_np), pos_weight=torch.tensor(pw), **t_kwargs)
    else:  # plain BCE on probabilities, including exact 0 and 1 (logs clamped at -100)
        p_np = 1 / (1 + np.exp(-x_np))
        p_np[0, 0], p_np[1, 1] = 0.0, 1.0
        out = F.binary_cross_entropy(mg.tensor(p_np, requires_grad=True), mg.tensor(t_np), **m_kwargs)
        tout = torch.nn.functional.binary_cross_entropy(torch.tensor(p_np, requires_grad=True),
                                                        torch.tensor(t_np), **t_kwargs)
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=1e-10)


def test_binary_losses_errors():
    with pytest.raises(ValueError, match=r"target size \(4, 1\).*input size \(4,\)"):
        F.binary_cross_entropy_with_logits(mg.randn(4), mg.rand(4, 1))
    with pytest.raises(ValueError, match="probabilities in"):
        F.binary_cross_entropy(mg.tensor([0.5, 1.5]), mg.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"pos_weight of shape \(3,\).*\(4, 2\)"):
        F.binary_cross_entropy_with_logits(mg.randn(4, 2), mg.rand(4, 2), pos_weight=mg.ones(3))


# ----------------------------------------------------------------------------- dtype, modules
def test_every_loss_keeps_float32():
    x, t_cls = mg.randn(4, 3, requires_grad=True), mg.tensor([0, 2, 1, -100])
    y = mg.rand(4, 3)
    w64 = mg.ones(3, dtype=mg.float64)  # a float64 weight must not upcast a float32 loss
    losses = [
        F.cross_entropy(x, t_cls, weight=w64, label_smoothing=0.1), F.cross_entropy(x, y),
        F.nll_loss(x, t_cls, weight=w64), F.mse_loss(x, y), F.l1_loss(x, y),
        F.binary_cross_entropy_with_logits(x, y, weight=w64, pos_weight=w64),
        F.binary_cross_entropy(x.sigmoid(), y, weight=w64),
    ]
    for loss in losses:
        assert loss.dtype == np.float32, loss.grad_fn
        x.grad = None
        loss.backward()
        assert x.grad.dtype == np.float32, loss.grad_fn


def test_loss_modules_call_the_functions_and_hold_weights_as_buffers():
    rng = np.random.default_rng(9)
    x = mg.tensor(rng.standard_normal((5, 3)))
    t = mg.tensor(np.array([0, 1, 2, 1, -1]))
    w = mg.tensor(np.array([1.0, 2.0, 0.5]))
    module = nn.CrossEntropyLoss(weight=w, ignore_index=-1, label_smoothing=0.1)
    np.testing.assert_allclose(module(x, t).item(),
                               F.cross_entropy(x, t, weight=w, ignore_index=-1, label_smoothing=0.1).item())
    assert list(module.state_dict()) == ["weight"]
    assert repr(module) == "CrossEntropyLoss(ignore_index=-1, label_smoothing=0.1)"
    assert repr(nn.MSELoss()) == "MSELoss()"
    assert repr(nn.L1Loss(reduction="sum")) == "L1Loss(reduction='sum')"
    assert nn.NLLLoss(reduction="none")(x.log_softmax(1), t.clamp(min=0)).shape == (5,)
    y = mg.tensor(rng.uniform(0, 1, (5, 3)))
    np.testing.assert_allclose(nn.MSELoss(reduction="sum")(x, y).item(), F.mse_loss(x, y, reduction="sum").item())
    np.testing.assert_allclose(nn.L1Loss()(x, y).item(), F.l1_loss(x, y).item())
    bce = nn.BCEWithLogitsLoss(pos_weight=mg.tensor([1.0, 2.0, 3.0]))
    assert list(bce.state_dict()) == ["pos_weight"]
    np.testing.assert_allclose(bce(x, y).item(), F.binary_cross_entropy_with_logits(
        x, y, pos_weight=mg.tensor([1.0, 2.0, 3.0])).item())
    np.testing.assert_allclose(nn.BCELoss()(x.sigmoid(), y).item(), F.binary_cross_entropy(x.sigmoid(), y).item())
    assert nn.CrossEntropyLoss(size_average=False).reduction == "sum"  # PyTorch's legacy flags
    with pytest.raises(ValueError, match="reduction"):
        nn.MSELoss(reduction="avg")
