"""Attention: ``F.scaled_dot_product_attention``, ``nn.MultiheadAttention`` against PyTorch, ``nn.AdditiveAttention``.

The op-by-op checks of ``scaled_dot_product_attention`` (NumPy, gradcheck,
second order, PyTorch, GPU) run from the registry (registry_attention.py);
here: the layers, their parameters and state dicts, masks, dropout, errors.
"""
import math

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn
from minigrad.nn import functional as F
from helpers import HAVE_TORCH, to_numpy, torch

needs_torch = pytest.mark.skipif(not HAVE_TORCH, reason="PyTorch is not installed")


def _rng(seed=0):
    return np.random.default_rng(seed)


def _pair(*arrays):
    """The same float64 arrays as minigrad and PyTorch leaves."""
    return ([mg.tensor(a, requires_grad=True) for a in arrays],
            [torch.tensor(a, requires_grad=True) for a in arrays])


# ----------------------------------------------------------------------------- scaled_dot_product_attention
def test_sdpa_is_softmax_of_scaled_scores_times_value():
    rng = _rng()
    q, k, v = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 5, 4)), rng.standard_normal((2, 5, 6))
    out = F.scaled_dot_product_attention(mg.tensor(q), mg.tensor(k), mg.tensor(v))
    scores = q @ k.transpose(0, 2, 1) / 2.0  # sqrt(E) = 2
    w = np.exp(scores - scores.max(-1, keepdims=True))
    w /= w.sum(-1, keepdims=True)
    np.testing.assert_allclose(out.numpy(), w @ v, atol=1e-12)
    assert out.shape == (2, 3, 6)


def test_sdpa_causal_query_ignores_later_keys():
    rng = _rng(1)
    q, k, v = (mg.tensor(rng.standard_normal((1, 4, 3))) for _ in range(3))
    out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    v2 = v.detach().clone()
    v2.data[:, 2:] += 100.0  # changing the later values must not change the first two outputs
    out2 = F.scaled_dot_product_attention(q, k, v2, is_causal=True)
    np.testing.assert_allclose(out.numpy()[:, :2], out2.numpy()[:, :2], atol=1e-12)
    np.testing.assert_allclose(out.numpy()[:, 0], v.numpy()[:, 0], atol=1e-12)  # query 0 sees key 0 only


def test_sdpa_fully_masked_row_is_zero_with_zero_gradient():
    rng = _rng(2)
    q, k, v = (mg.tensor(rng.standard_normal((3, 4)), requires_grad=True) for _ in range(3))
    mask = np.ones((3, 3), dtype=bool)
    mask[1] = False
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mg.tensor(mask))
    assert np.all(out.detach().numpy()[1] == 0.0) and np.all(np.isfinite(out.detach().numpy()))
    out.sum().backward()
    assert np.all(q.grad.numpy()[1] == 0.0) and np.all(np.isfinite(k.grad.numpy()))


@needs_torch
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sdpa_float32_and_grouped_query_heads_match_pytorch(dtype):
    rng = _rng(3)
    q, k, v = rng.standard_normal((2, 4, 3, 5)), rng.standard_normal((2, 2, 6, 5)), rng.standard_normal((2, 2, 6, 3))
    (mq, mk, mv), (tq, tk, tv) = _pair(*(a.astype(dtype) for a in (q, k, v)))
    out = F.scaled_dot_product_attention(mq, mk, mv, enable_gqa=True, scale=0.7)
    ref = torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, enable_gqa=True, scale=0.7)
    assert out.dtype == dtype
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(to_numpy(out), to_numpy(ref), atol=tol)
    out.sum().backward()
    ref.sum().backward()
    for m, t in ((mq, tq), (mk, tk), (mv, tv)):
        np.testing.assert_allclose(m.grad.numpy(), t.grad.numpy(), atol=tol * 10)


def test_sdpa_dropout_drops_weights_and_keeps_the_mean():
    q, k = mg.zeros(1, 200, 4), mg.zeros(1, 50, 4)  # uniform weights 1/50
    v = mg.ones(1, 50, 1)
    mg.manual_seed(0)
    out = F.scaled_dot_product_attention(q, k, v, dropout_p=0.5).numpy()
    assert abs(out.mean() - 1.0) < 0.05 and out.std() > 0.05  # inverted dropout: unbiased, but noisy
    np.testing.assert_allclose(F.scaled_dot_product_attention(q, k, v, dropout_p=0.0).numpy(), 1.0, rtol=1e-6)


@pytest.mark.parametrize("kwargs, match", [
    ({"key": mg.zeros(2, 5, 3)}, "same feature size E"),
    ({"value": mg.zeros(2, 4, 3)}, "same sequence length S"),
    ({"attn_mask": mg.ones(3, 4, dtype=mg.bool)}, "does not broadcast"),
    ({"attn_mask": mg.ones(3, 5, dtype=mg.bool), "is_causal": True}, "not both"),
    ({"attn_mask": mg.ones(3, 5, dtype=mg.int64)}, "bool or floating-point"),
    ({"dropout_p": 1.5}, "dropout_p"),
    ({"value": mg.zeros(2, 5, 3, dtype=mg.float64)}, "share a dtype"),
])
def test_sdpa_errors_name_the_shapes(kwargs, match):
    args = {"query": mg.zeros(2, 3, 4), "key": mg.zeros(2, 5, 4), "value": mg.zeros(2, 5, 3)}
    args.update(kwargs)
    with pytest.raises((ValueError, TypeError), match=match):
        F.scaled_dot_product_attention(**args)


# ----------------------------------------------------------------------------- MultiheadAttention vs PyTorch
MHA_CASES = {
    # name: (constructor kwargs, forward kwargs builder(N, L, S, rng) -> (minigrad kwargs, torch kwargs))
    "plain": ({}, None),
    "batch_first_no_bias": ({"batch_first": True, "bias": False}, None),
    "key_padding_mask": ({}, "padding"),
    "bool_attn_mask_per_head_weights": ({}, "bool_mask"),
    "float_masks": ({}, "float_masks"),
    "per_batch_head_mask": ({"batch_first": True}, "mask3d"),
    "no_weights_fused_path": ({}, "no_weights"),
    "kdim_vdim_bias_kv_zero_attn": ({"kdim": 3, "vdim": 5, "add_bias_kv": True, "add_zero_attn": True}, "padding"),
    "causal_hint": ({"batch_first": True}, "causal"),
}


def _forward_kwargs(kind, N, L, S, heads, rng):
    if kind is None:
        return {}
    if kind == "padding":
        pad = np.zeros((N, S), dtype=bool)
        pad[0, S - 2:] = True
        return {"key_padding_mask": pad}
    if kind == "bool_mask":
        mask = rng.random((L, S)) < 0.3
        mask[:, 0] = False  # every query keeps one key
        return {"attn_mask": mask, "average_attn_weights": False}
    if kind == "float_masks":
        return {"attn_mask": rng.standard_normal((L, S)), "key_padding_mask": rng.standard_normal((N, S))}
    if kind == "mask3d":
        mask = rng.random((N * heads, L, S)) < 0.3
        mask[..., 1] = False
        return {"attn_mask": mask}
    if kind == "no_weights":
        pad = np.zeros((N, S), dtype=bool)
        pad[1, 0] = True
        return {"need_weights": False, "key_padding_mask": pad, "attn_mask": np.triu(np.ones((L, S), bool), 1)}
    if kind == "causal":
        return {"attn_mask": np.triu(np.ones((L, S), bool), 1), "is_causal": True}
    raise ValueError(kind)


def _convert(kwargs, to):
    return {k: (to(v) if isinstance(v, np.ndarray) else v) for k, v in kwargs.items()}


@needs_torch
@pytest.mark.parametrize("case", list(MHA_CASES), ids=str)
def test_multihead_attention_matches_pytorch(case):
    ctor, kind = MHA_CASES[case]
    E, heads, N, L, S = 8, 2, 2, 3, 5
    torch.manual_seed(0)
    ref = torch.nn.MultiheadAttention(E, heads, **ctor).double()
    layer = nn.MultiheadAttention(E, heads, **ctor).to(mg.float64)
    state = {k: v.detach().numpy() for k, v in ref.state_dict().items()}
    assert sorted(layer.state_dict()) == sorted(state)
    layer.load_state_dict(state)
    rng = _rng(4)
    kdim, vdim = ctor.get("kdim", E), ctor.get("vdim", E)
    lead = (lambda n, s: (n, s)) if ctor.get("batch_first") else (lambda n, s: (s, n))
    arrays = (rng.standard_normal(lead(N, L) + (E,)), rng.standard_normal(lead(N, S) + (kdim,)),
              rng.standard_normal(lead(N, S) + (vdim,)))
    fkw = _forward_kwargs(kind, N, L, S, heads, rng)
    (mq, mk, mv), (tq, tk, tv) = _pair(*arrays)
    out, weights = layer(mq, mk, mv, **_convert(fkw, mg.tensor))
    t_out, t_weights = ref(tq, tk, tv, **_convert(fkw, torch.tensor))
    np.testing.assert_allclose(to_numpy(out), to_numpy(t_out), atol=1e-12)
    if t_weights is None:
        assert weights is None
    else:
        assert weights.shape == tuple(t_weights.shape)
        np.testing.assert_allclose(to_numpy(weights), to_numpy(t_weights), atol=1e-12)
    g = rng.standard_normal(out.shape)
    (out * mg.tensor(g)).sum().backward()
    (t_out * torch.tensor(g)).sum().backward()
    for m, t in ((mq, tq), (mk, tk), (mv, tv)):
        np.testing.assert_allclose(m.grad.numpy(), t.grad.numpy(), atol=1e-12)
    params = dict(layer.named_parameters())
    for name, p in ref.named_parameters():
        np.testing.assert_allclose(params[name].grad.numpy(), p.grad.numpy(), atol=1e-12, err_msg=name)


@needs_torch
def test_multihead_attention_unbatched_matches_pytorch():
    torch.manual_seed(1)
    ref = torch.nn.MultiheadAttention(6, 3).double()
    layer = nn.MultiheadAttention(6, 3).to(mg.float64)
    layer.load_state_dict({k: v.detach().numpy() for k, v in ref.state_dict().items()})
    rng = _rng(5)
    q, kv = rng.standard_normal((4, 6)), rng.standard_normal((7, 6))
    pad = np.zeros(7, dtype=bool)
    pad[5:] = True
    out, w = layer(mg.tensor(q), mg.tensor(kv), mg.tensor(kv), key_padding_mask=mg.tensor(pad))
    t_out, t_w = ref(torch.tensor(q), torch.tensor(kv), torch.tensor(kv), key_padding_mask=torch.tensor(pad))
    assert out.shape == (4, 6) and w.shape == (4, 7)
    np.testing.assert_allclose(to_numpy(out), to_numpy(t_out), atol=1e-12)
    np.testing.assert_allclose(to_numpy(w), to_numpy(t_w), atol=1e-12)


@needs_torch
def test_multihead_attention_float32_state_dict_from_pytorch():
    """A float32 PyTorch layer's state dict, as NumPy arrays, loads into the default (float32) layer unchanged."""
    torch.manual_seed(2)
    ref = torch.nn.MultiheadAttention(16, 4, batch_first=True)
    layer = nn.MultiheadAttention(16, 4, batch_first=True)
    result = layer.load_state_dict({k: v.detach().numpy() for k, v in ref.state_dict().items()})
    assert not result.missing_keys and not result.unexpected_keys
    x = _rng(8).standard_normal((2, 7, 16)).astype(np.float32)
    pad = np.zeros((2, 7), dtype=bool)
    pad[1, 5:] = True
    out, w = layer(mg.tensor(x), mg.tensor(x), mg.tensor(x), key_padding_mask=mg.tensor(pad))
    t_out, t_w = ref(*(torch.tensor(x),) * 3, key_padding_mask=torch.tensor(pad))
    assert out.dtype == np.float32 and w.dtype == np.float32
    np.testing.assert_allclose(to_numpy(out), to_numpy(t_out), atol=1e-5)
    np.testing.assert_allclose(to_numpy(w), to_numpy(t_w), atol=1e-6)


def test_multihead_attention_parameters_and_initialisation():
    mg.manual_seed(0)
    layer = nn.MultiheadAttention(16, 4)
    shapes = {name: p.shape for name, p in layer.named_parameters()}
    assert shapes == {"in_proj_weight": (48, 16), "in_proj_bias": (48,), "out_proj.weight": (16, 16),
                      "out_proj.bias": (16,)}
    assert np.all(to_numpy(layer.in_proj_bias) == 0) and np.all(to_numpy(layer.out_proj.bias) == 0)
    bound = math.sqrt(6.0 / (16 + 48))  # Xavier-uniform over the packed (3E, E) matrix
    w = layer.in_proj_weight.detach().numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.8 * bound
    assert layer.head_dim == 4 and layer.in_proj_weight.dtype == np.float32
    separate = nn.MultiheadAttention(16, 4, kdim=8, vdim=12, bias=False)
    assert {n: p.shape for n, p in separate.named_parameters()} == {
        "q_proj_weight": (16, 16), "k_proj_weight": (16, 8), "v_proj_weight": (16, 12), "out_proj.weight": (16, 16)}
    assert "embed_dim=16, num_heads=4" in repr(layer) and "(out_proj): Linear" in repr(layer)


def test_multihead_attention_dropout_only_in_training():
    mg.manual_seed(0)
    layer = nn.MultiheadAttention(8, 2, dropout=0.5, batch_first=True)
    x = mg.randn(2, 6, 8)
    layer.eval()
    a, wa = layer(x, x, x)
    b, wb = layer(x, x, x)
    np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    np.testing.assert_allclose(wa.detach().numpy().sum(-1), 1.0, rtol=1e-5)
    layer.train()
    c, wc = layer(x, x, x)
    assert not np.allclose(c.detach().numpy(), a.detach().numpy())
    assert (wc.detach().numpy() == 0).any()  # dropped weights


@pytest.mark.parametrize("ctor, match", [
    ({"embed_dim": 10, "num_heads": 3}, "divisible by num_heads"),
    ({"embed_dim": 8, "num_heads": 2, "dropout": 2.0}, "dropout"),
])
def test_multihead_attention_constructor_errors(ctor, match):
    with pytest.raises(ValueError, match=match):
        nn.MultiheadAttention(**ctor)


@pytest.mark.parametrize("call, match", [
    (lambda m, x: m(x, x, x[:, :, :4]), "value must have 8 features"),
    (lambda m, x: m(x, x, x, key_padding_mask=mg.zeros(3, 5, dtype=mg.bool)), r"key_padding_mask must have shape \(2, 5\)"),
    (lambda m, x: m(x, x, x, attn_mask=mg.zeros(4, 4, dtype=mg.bool)), r"attn_mask must be \(5, 5\)"),
    (lambda m, x: m(x, x, x, is_causal=True), "give attn_mask too"),
    (lambda m, x: m(x, x[0], x), "all be 3-D"),
])
def test_multihead_attention_forward_errors(call, match):
    layer = nn.MultiheadAttention(8, 2, batch_first=True)
    with pytest.raises(ValueError, match=match):
        call(layer, mg.zeros(2, 5, 8))


# ----------------------------------------------------------------------------- AdditiveAttention
def test_additive_attention_is_the_papers_equations():
    mg.manual_seed(0)
    layer = nn.AdditiveAttention(query_size=3, key_size=4, attn_size=5).to(mg.float64)
    assert {n: p.shape for n, p in layer.named_parameters()} == {
        "W_a.weight": (5, 3), "U_a.weight": (5, 4), "v_a.weight": (1, 5)}
    rng = _rng(6)
    s, h = rng.standard_normal((2, 3)), rng.standard_normal((2, 6, 4))
    pad = np.zeros((2, 6), dtype=bool)
    pad[1, 4:] = True
    context, alpha = layer(mg.tensor(s), mg.tensor(h), key_padding_mask=mg.tensor(pad))
    W, U, v = (p.detach().numpy() for p in (layer.W_a.weight, layer.U_a.weight, layer.v_a.weight))
    e = np.tanh((s @ W.T)[:, None, :] + h @ U.T) @ v[0]  # e_j = v_a^T tanh(W_a s + U_a h_j)
    e[pad] = -np.inf
    a = np.exp(e - e.max(1, keepdims=True))
    a /= a.sum(1, keepdims=True)
    np.testing.assert_allclose(alpha.detach().numpy(), a, atol=1e-12)
    np.testing.assert_allclose(context.detach().numpy(), np.einsum("bs,bsd->bd", a, h), atol=1e-12)
    assert np.all(alpha.detach().numpy()[1, 4:] == 0)


def test_additive_attention_many_queries_projected_keys_and_gradients():
    mg.manual_seed(0)
    layer = nn.AdditiveAttention(4, 4).to(mg.float64)
    rng = _rng(7)
    q = mg.tensor(rng.standard_normal((2, 3, 4)), requires_grad=True)
    h = mg.tensor(rng.standard_normal((2, 5, 4)), requires_grad=True)
    values = mg.tensor(rng.standard_normal((2, 5, 7)), requires_grad=True)
    context, alpha = layer(q, h, values)
    assert context.shape == (2, 3, 7) and alpha.shape == (2, 3, 5)
    one, _ = layer(q[:, 1], h, values, projected_keys=layer.project_keys(h))
    np.testing.assert_allclose(one.detach().numpy(), context.detach().numpy()[:, 1], atol=1e-12)
    assert mg.autograd.gradcheck(lambda q, h, v: layer(q, h, v)[0], (q, h, values))


def test_additive_attention_errors():
    layer = nn.AdditiveAttention(4, 4)
    with pytest.raises(ValueError, match="keys must be"):
        layer(mg.zeros(2, 4), mg.zeros(2, 4))
    with pytest.raises(ValueError, match="batch 2"):
        layer(mg.zeros(3, 4), mg.zeros(2, 5, 4))
    with pytest.raises(TypeError, match="must be bool"):
        layer(mg.zeros(2, 4), mg.zeros(2, 5, 4), key_padding_mask=mg.zeros(2, 5))


@pytest.mark.gpu
def test_attention_layers_on_cuda_match_cpu():
    mg.manual_seed(0)
    mha = nn.MultiheadAttention(8, 2, batch_first=True, add_zero_attn=True)
    additive = nn.AdditiveAttention(8, 8)
    x = mg.randn(2, 5, 8)
    pad = mg.tensor([[False] * 5, [False] * 3 + [True] * 2])
    cpu = [mha(x, x, x, key_padding_mask=pad)[0], additive(x[:, 0], x, key_padding_mask=pad)[0]]
    mha.to("cuda")
    additive.to("cuda")
    xg, padg = x.to("cuda"), pad.to("cuda")
    gpu = [mha(xg, xg, xg, key_padding_mask=padg)[0], additive(xg[:, 0], xg, key_padding_mask=padg)[0]]
    for c, g in zip(cpu, gpu):
        assert g.device.startswith("cuda")
        np.testing.assert_allclose(to_numpy(g), to_numpy(c), rtol=1e-5, atol=1e-6)
