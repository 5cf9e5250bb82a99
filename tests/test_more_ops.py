"""Ops and layers beyond the basics (cumsum, norm, sort/topk, tril/triu, new_*, ELU, Softplus,
Huber/SmoothL1 losses, adaptive average pooling): the edge cases the generic registry tests do not draw."""
import numpy as np
import pytest

import minigrad as mg
import minigrad.nn as nn
import minigrad.nn.functional as F
from helpers import HAVE_TORCH, torch

needs_torch = pytest.mark.skipif(not HAVE_TORCH, reason="PyTorch is not installed")


def test_two_norm_of_zeros_has_zero_gradient_like_pytorch():
    x = mg.zeros(3, 2, dtype=mg.float64, requires_grad=True)
    x.norm().backward()
    assert np.array_equal(x.grad.data, np.zeros((3, 2)))
    y = mg.tensor([[0.0, 0.0], [3.0, 4.0]], requires_grad=True)
    y.norm(dim=1).sum().backward()
    np.testing.assert_allclose(y.grad.data, [[0, 0], [0.6, 0.8]])


def test_norm_rejects_integer_tensors_and_unknown_p():
    with pytest.raises(TypeError, match="int64"):
        mg.tensor([1, 2]).norm()
    with pytest.raises(ValueError, match="nuc"):
        mg.randn(3).norm(p="nuc")


def test_norm_zero_counts_nonzeros():
    assert mg.tensor([0.0, 2.0, -1.0, 0.0]).norm(p=0).item() == 2.0


def test_cumsum_of_booleans_counts_and_of_scalar_is_identity():
    assert mg.tensor([True, False, True]).cumsum(0).tolist() == [1, 1, 2]
    assert mg.tensor(2.5).cumsum(0).item() == 2.5


def test_sort_returns_values_and_indices_and_routes_gradient():
    x = mg.tensor([3.0, 1.0, 2.0], requires_grad=True)
    values, indices = x.sort(descending=True)
    assert values.tolist() == [3.0, 2.0, 1.0] and indices.tolist() == [0, 2, 1]
    (values * mg.tensor([1.0, 10.0, 100.0])).sum().backward()
    assert x.grad.tolist() == [1.0, 100.0, 10.0]


def test_topk_picks_largest_or_smallest_and_checks_k():
    x = mg.tensor([[1.0, 5.0, 3.0, 4.0]])
    assert x.topk(2).values.tolist() == [[5.0, 4.0]] and x.topk(2).indices.tolist() == [[1, 3]]
    assert x.topk(2, largest=False).values.tolist() == [[1.0, 3.0]]
    with pytest.raises(ValueError, match=r"k=5 .* size 4 .*\(1, 4\)"):
        x.topk(5)


def test_tril_needs_a_matrix():
    with pytest.raises(ValueError, match=r"tril.*\(3,\)"):
        mg.randn(3).tril()
    assert mg.ones(3, 3).triu(1).sum().item() == 3.0


def test_new_factories_take_dtype_and_device_of_the_tensor():
    x = mg.randn(2, dtype=mg.float64)
    assert x.new_zeros(3).dtype == mg.float64 and x.new_zeros(3).shape == (3,)
    assert x.new_ones((2, 2)).tolist() == [[1.0, 1.0], [1.0, 1.0]]
    assert x.new_full((2,), 7).dtype == mg.float64
    assert x.new_tensor([1, 2]).dtype == mg.float64
    assert x.new_zeros(2, dtype=mg.int64).dtype == mg.int64
    assert x.new_empty(1).device == x.device


def test_full_takes_its_dtype_from_the_value():
    assert mg.full((2,), 1.5).dtype == mg.float32 and mg.full((2,), 1.5).tolist() == [1.5, 1.5]
    assert mg.full(3, 7).dtype == mg.int64 and mg.full((1,), True).dtype == mg.bool_


def test_elu_is_finite_for_huge_inputs_and_its_gradient_too():
    x = mg.tensor([-1000.0, 1000.0], requires_grad=True)
    out = F.elu(x)
    assert out.tolist() == [-1.0, 1000.0]
    out.sum().backward()
    assert x.grad.tolist() == [0.0, 1.0]


def test_huber_and_smooth_l1_are_related_and_smooth_l1_with_beta_zero_is_l1():
    rng = np.random.default_rng(0)
    a, b = mg.tensor(rng.normal(size=20) * 3), mg.tensor(rng.normal(size=20))
    d = np.abs(a.data - b.data)  # smooth_l1 is computed from huber_loss: check it against the formula instead
    np.testing.assert_allclose(F.smooth_l1_loss(a, b, beta=0.5).item(),
                               np.mean(np.where(d < 0.5, d * d, d - 0.25)), rtol=1e-12)
    np.testing.assert_allclose(F.smooth_l1_loss(a, b, beta=0.0).item(), F.l1_loss(a, b).item())
    with pytest.raises(ValueError, match="delta"):
        F.huber_loss(a, b, delta=0)
    assert repr(nn.HuberLoss(reduction="sum")) == "HuberLoss(reduction='sum')"
    assert nn.SmoothL1Loss(reduction="none")(a, b).shape == (20,)


def test_adaptive_avg_pool_to_one_is_the_global_mean_and_has_no_parameters():
    x = mg.randn(2, 3, 5, 7, dtype=mg.float64)
    pool = nn.AdaptiveAvgPool2d(1)
    np.testing.assert_allclose(pool(x).data, x.data.mean(axis=(2, 3), keepdims=True))
    assert list(pool.parameters()) == [] and repr(pool) == "AdaptiveAvgPool2d(output_size=1)"
    assert nn.AdaptiveAvgPool2d((None, 2))(x).shape == (2, 3, 5, 2)
    with pytest.raises(ValueError, match="output_size"):
        F.adaptive_avg_pool2d(x, 0)
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        F.adaptive_avg_pool2d(mg.randn(2, 3), 1)


def test_adaptive_pool_keeps_float32():
    assert F.adaptive_avg_pool2d(mg.randn(1, 2, 6, 6), (4, 3)).dtype == mg.float32


@needs_torch
def test_loss_modules_match_pytorch():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(4, 5)) * 2, rng.normal(size=(4, 5))
    for ours, theirs in ((nn.HuberLoss(delta=0.7), torch.nn.HuberLoss(delta=0.7)),
                         (nn.SmoothL1Loss(beta=0.3, reduction="sum"), torch.nn.SmoothL1Loss(beta=0.3, reduction="sum"))):
        x = mg.tensor(a, requires_grad=True)
        tx = torch.tensor(a, requires_grad=True)
        ours(x, mg.tensor(b)).backward()
        theirs(tx, torch.tensor(b)).backward()
        np.testing.assert_allclose(x.grad.data, tx.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_einsum_errors_name_the_equation_and_shapes():
    a, b = mg.randn(2, 3), mg.randn(4, 5)
    with pytest.raises(ValueError, match=r"names 2 operands, but 1 tensors"):
        mg.einsum("ij,jk->ik", a)
    with pytest.raises(ValueError, match=r"operand 0 has shape \(2, 3\) \(2 dims\), but its subscripts 'ijk' name 3"):
        mg.einsum("ijk->i", a)
    with pytest.raises(ValueError, match=r"'ij,jk->ik' does not fit operands of shapes \(2, 3\), \(4, 5\)"):
        mg.einsum("ij,jk->ik", a, b)
    with pytest.raises(ValueError, match="letters"):
        mg.einsum("i1->i", a)
    with pytest.raises(ValueError, match="distinct letters"):
        mg.einsum("ij->ii", a)


def test_einsum_takes_a_list_and_keeps_float32():
    a, b = mg.randn(2, 3), mg.randn(3, 4)
    out = mg.einsum("ij,jk->ik", [a, b])
    np.testing.assert_allclose(out.data, a.data @ b.data, rtol=1e-5)
    assert out.dtype == mg.float32
