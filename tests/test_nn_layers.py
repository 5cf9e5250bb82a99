"""nn layers: outputs and gradients against NumPy formulas (always) and PyTorch (when installed),
parameter names/shapes/initialisation, train/eval behaviour, errors and repr."""
import math
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad as mg
import minigrad.nn as nn
import minigrad.nn.functional as F
from helpers import HAVE_TORCH, torch
from minigrad.nn import init

needs_torch = pytest.mark.skipif(not HAVE_TORCH, reason="PyTorch is not installed")


def _t(x):
    """A minigrad tensor as a float64 torch leaf that requires grad."""
    return torch.tensor(np.asarray(x.data), dtype=torch.float64, requires_grad=True)


def _copy_from_torch(mg_layer, torch_layer):
    mg_layer.double()
    mg_layer.load_state_dict({k: v.detach().numpy() for k, v in torch_layer.state_dict().items()})
    return mg_layer


def _close(a, b, atol=1e-9, rtol=1e-7, what=""):
    a = a.data if isinstance(a, mg.Tensor) else a
    b = b.detach().numpy() if HAVE_TORCH and isinstance(b, torch.Tensor) else b
    np.testing.assert_allclose(a, b, atol=atol, rtol=rtol, err_msg=what)


def _compare_with_torch(mg_layer, torch_layer, x_np, atol=1e-9, grad_seed=1):
    """Forward and backward (input and every parameter) of the two layers on the same float64 input."""
    x = mg.tensor(x_np, dtype=mg.float64, requires_grad=True)
    tx = torch.tensor(x_np, dtype=torch.float64, requires_grad=True)
    out, tout = mg_layer(x), torch_layer(tx)
    _close(out, tout, atol, what="forward")
    g = np.random.default_rng(grad_seed).standard_normal(out.shape)
    (out * mg.tensor(g)).sum().backward()
    (tout * torch.tensor(g)).sum().backward()
    _close(x.grad, tx.grad, atol, what="input gradient")
    torch_params = dict(torch_layer.named_parameters())
    for name, p in mg_layer.named_parameters():
        _close(p.grad, torch_params[name].grad, atol, what=f"gradient of {name}")
    return out


# ----------------------------------------------------------------------------- names, shapes, repr
LAYER_PAIRS = [
    ("Linear(5, 3)", lambda m: m.Linear(5, 3)),
    ("Linear(5, 3, bias=False)", lambda m: m.Linear(5, 3, bias=False)),
    ("Embedding(7, 4, padding_idx=2)", lambda m: m.Embedding(7, 4, padding_idx=2)),
    ("BatchNorm1d(6)", lambda m: m.BatchNorm1d(6)),
    ("BatchNorm2d(3, affine=False)", lambda m: m.BatchNorm2d(3, affine=False)),
    ("BatchNorm2d(3, track_running_stats=False)", lambda m: m.BatchNorm2d(3, track_running_stats=False)),
    ("BatchNorm3d(2)", lambda m: m.BatchNorm3d(2)),
    ("BatchNorm1d(2, bias=False)", lambda m: m.BatchNorm1d(2, bias=False)),
    ("LayerNorm((4, 5))", lambda m: m.LayerNorm((4, 5))),
    ("LayerNorm(4, elementwise_affine=False)", lambda m: m.LayerNorm(4, elementwise_affine=False)),
    ("LayerNorm(4, bias=False)", lambda m: m.LayerNorm(4, bias=False)),
]


@needs_torch
@pytest.mark.parametrize("name,make", LAYER_PAIRS, ids=[p[0] for p in LAYER_PAIRS])
def test_parameter_and_buffer_names_and_shapes_match_pytorch(name, make):
    try:
        theirs = make(torch.nn)
    except TypeError:  # an option this PyTorch version does not have yet
        pytest.skip(f"this PyTorch has no {name}")
    ours = make(nn)
    assert [(k, tuple(v.shape)) for k, v in ours.named_parameters()] == \
        [(k, tuple(v.shape)) for k, v in theirs.named_parameters()]
    assert [(k, tuple(v.shape)) for k, v in ours.state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in theirs.state_dict().items()]
    for k, v in ours.state_dict().items():
        expected = str(theirs.state_dict()[k].dtype).replace("torch.", "")
        assert str(v.dtype) == expected, f"{name} {k}: {v.dtype} vs torch {expected}"
    assert _repr(ours) == _repr(theirs)


def _repr(module):
    """repr without ``bias=...``, which recent PyTorch versions added to the norm layers' repr."""
    return re.sub(r", bias=(True|False)", "", repr(module))


def test_repr_of_a_model_is_readable():
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 10), nn.ReLU(), nn.Dropout(0.25), nn.LogSoftmax(dim=1))
    assert repr(model) == (
        "Sequential(\n"
        "  (0): Flatten(start_dim=1, end_dim=-1)\n"
        "  (1): Linear(in_features=784, out_features=10, bias=True)\n"
        "  (2): ReLU()\n"
        "  (3): Dropout(p=0.25, inplace=False)\n"
        "  (4): LogSoftmax(dim=1)\n"
        ")"
    )
    assert repr(nn.LeakyReLU(0.2)) == "LeakyReLU(negative_slope=0.2)"
    assert repr(nn.GELU()) == "GELU(approximate='none')"
    assert repr(nn.Unflatten(1, (2, 5))) == "Unflatten(dim=1, unflattened_size=(2, 5))"
    assert repr(nn.BatchNorm2d(16)) == ("BatchNorm2d(16, eps=1e-05, momentum=0.1, affine=True, bias=True, "
                                        "track_running_stats=True)")
    assert repr(nn.LayerNorm(8)) == "LayerNorm((8,), eps=1e-05, elementwise_affine=True, bias=True)"
    assert repr(nn.Softmax(dim=-1)) == "Softmax(dim=-1)"
    assert repr(nn.Tanh()) == "Tanh()"


# ----------------------------------------------------------------------------- Linear
def test_linear_matches_numpy_formula_for_any_leading_shape():
    layer = nn.Linear(4, 3).double()
    w, b = layer.weight.data, layer.bias.data
    for shape in [(4,), (2, 4), (2, 3, 4)]:
        x_np = np.random.default_rng(0).standard_normal(shape)
        x = mg.tensor(x_np, requires_grad=True)
        out = layer(x)
        np.testing.assert_allclose(out.data, x_np @ w.T + b, rtol=1e-12)
        g = np.random.default_rng(1).standard_normal(out.shape)
        layer.zero_grad()
        out.backward(mg.tensor(g))
        g2, x2 = g.reshape(-1, 3), x_np.reshape(-1, 4)
        np.testing.assert_allclose(x.grad.data, g @ w, rtol=1e-12)
        np.testing.assert_allclose(layer.weight.grad.data, g2.T @ x2, rtol=1e-12)
        np.testing.assert_allclose(layer.bias.grad.data, g2.sum(0), rtol=1e-12)


@needs_torch
@pytest.mark.parametrize("bias", [True, False])
def test_linear_matches_pytorch(bias):
    theirs = torch.nn.Linear(6, 4, bias=bias).double()
    ours = _copy_from_torch(nn.Linear(6, 4, bias=bias), theirs)
    _compare_with_torch(ours, theirs, np.random.default_rng(0).standard_normal((3, 2, 6)))


def test_linear_default_init_is_uniform_one_over_sqrt_fan_in():
    layer = nn.Linear(400, 300)
    bound = 1 / math.sqrt(400)
    w, b = layer.weight.data, layer.bias.data
    assert w.dtype == np.float32 and b.dtype == np.float32
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
    assert abs(w.std() / (bound / math.sqrt(3)) - 1) < 0.02  # U(-b, b) has std b / sqrt(3)
    assert abs(w.mean()) < 0.01 * bound
    assert np.abs(b).max() > 0.8 * bound  # the bias is drawn too, not zeros


def test_linear_keeps_float32():
    layer = nn.Linear(5, 2)
    x = mg.randn(3, 5, requires_grad=True)
    out = layer(x)
    assert out.dtype == np.float32
    out.sum().backward()
    assert x.grad.dtype == layer.weight.grad.dtype == layer.bias.grad.dtype == np.float32


def test_linear_wrong_input_width_names_both_sizes():
    layer = nn.Linear(784, 10)
    with pytest.raises(ValueError, match=r"(?s)100.*784|784.*100") as err:
        layer(mg.randn(8, 100))
    assert "(8, 100)" in str(err.value) and "(10, 784)" in str(err.value)


def test_linear_dtype_mismatch_is_a_clear_error():
    with pytest.raises(TypeError, match="float64.*float32|float32.*float64"):
        nn.Linear(3, 2)(mg.randn(2, 3, dtype=mg.float64))


def test_linear_is_one_node_on_the_graph():
    layer = nn.Linear(3, 2)
    x = mg.randn(4, 3, requires_grad=True)
    with mg.autograd.tape() as tape:
        layer(x)
    assert [e.op for e in tape] == ["LinearOp"]


# ----------------------------------------------------------------------------- Flatten / Unflatten
def test_flatten_and_unflatten_round_trip():
    x_np = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    x = mg.tensor(x_np, requires_grad=True)
    flat = nn.Flatten()(x)
    assert flat.shape == (2, 60)
    np.testing.assert_array_equal(flat.data, x_np.reshape(2, 60))
    assert nn.Flatten(0, 1)(x).shape == (6, 4, 5)
    assert nn.Flatten(-2)(x).shape == (2, 3, 20)
    back = nn.Unflatten(1, (3, 4, 5))(flat)
    np.testing.assert_array_equal(back.data, x_np)
    assert nn.Unflatten(-1, (2, -1))(flat).shape == (2, 2, 30)
    (back * 2.0).sum().backward()
    np.testing.assert_array_equal(x.grad.data, np.full(x_np.shape, 2.0))
    with pytest.raises(ValueError, match=r"size 60.*\(7, 7\)"):
        nn.Unflatten(1, (7, 7))(flat)


# ----------------------------------------------------------------------------- Dropout
def test_dropout_train_scales_kept_values_and_eval_is_identity():
    layer = nn.Dropout(0.3)
    x = mg.ones(200, 500)
    out = layer(x).data
    kept = out != 0
    np.testing.assert_allclose(out[kept], 1 / 0.7, rtol=1e-6)
    assert abs(1 - kept.mean() - 0.3) < 0.01  # about p of the elements are dropped
    layer.eval()
    assert layer(x) is x
    assert F.dropout(x, 0.3, training=False) is x


def test_dropout_gradient_is_the_same_mask():
    x = mg.randn(50, 40, requires_grad=True)
    out = F.dropout(x, 0.5)
    out.backward(mg.ones_like(out))
    mask = (out.data != 0) * 2.0
    np.testing.assert_allclose(x.grad.data, mask)
    np.testing.assert_allclose(out.data, x.data * mask, rtol=1e-6)
    assert out.dtype == x.grad.dtype == np.float32


def test_dropout_edge_probabilities():
    x = mg.randn(10, 10, requires_grad=True)
    assert F.dropout(x, 0.0) is x
    zero = F.dropout(x, 1.0)
    assert not zero.data.any() and zero.shape == x.shape
    zero.sum().backward()
    assert not x.grad.data.any()
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError, match="between 0 and 1"):
            nn.Dropout(bad)
        with pytest.raises(ValueError, match="between 0 and 1"):
            F.dropout(x, bad)


def test_dropout_is_reproducible_under_manual_seed():
    x = mg.ones(30, 30)
    mg.manual_seed(123)
    a = F.dropout(x, 0.5).data.copy()
    b = F.dropout(x, 0.5).data.copy()
    mg.manual_seed(123)
    np.testing.assert_array_equal(F.dropout(x, 0.5).data, a)
    assert not np.array_equal(a, b)  # successive calls draw new masks


# ----------------------------------------------------------------------------- Embedding
def test_embedding_lookup_and_gradient_accumulate_repeats():
    emb = nn.Embedding(6, 3).double()
    idx = mg.tensor([[0, 2, 2], [5, 2, 0]])
    out = emb(idx)
    assert out.shape == (2, 3, 3)
    np.testing.assert_array_equal(out.data, emb.weight.data[idx.data])
    g = np.random.default_rng(0).standard_normal(out.shape)
    out.backward(mg.tensor(g))
    expected = np.zeros((6, 3))
    for pos, row in np.ndenumerate(idx.data):
        expected[row] += g[pos]
    np.testing.assert_allclose(emb.weight.grad.data, expected, rtol=1e-12)


def test_embedding_padding_row_is_zero_and_gets_no_gradient():
    emb = nn.Embedding(5, 4, padding_idx=1)
    assert not emb.weight.data[1].any()
    assert emb.weight.data[0].any()
    out = emb(mg.tensor([1, 3, 1, 4]))
    assert not out.data[0].any()
    (out * out + out).sum().backward()
    assert not emb.weight.grad.data[1].any()
    assert emb.weight.grad.data[3].any()
    assert nn.Embedding(5, 4, padding_idx=-1).padding_idx == 4
    with pytest.raises(ValueError, match="padding_idx 5"):
        nn.Embedding(5, 4, padding_idx=5)


def test_embedding_default_init_is_standard_normal():
    w = nn.Embedding(1000, 100).weight.data
    assert w.dtype == np.float32
    assert abs(w.mean()) < 0.01 and abs(w.std() - 1) < 0.01


def test_embedding_double_backward_with_padding():
    """d/dw of |dL/dw|^2 for L = sum(emb(i)^2): the backward of the backward (padding masked)."""
    w_np = np.random.default_rng(0).standard_normal((4, 2))
    idx = np.array([0, 1, 1, 3])
    w = mg.tensor(w_np, requires_grad=True)
    (g,) = mg.autograd.grad((F.embedding(mg.tensor(idx), w, padding_idx=3) ** 2).sum(), w, create_graph=True)
    counts = np.bincount(idx, minlength=4).astype(float)
    counts[3] = 0  # the padding row gets no gradient
    np.testing.assert_allclose(g.data, 2 * counts[:, None] * w_np)
    (g * g).sum().backward()
    np.testing.assert_allclose(w.grad.data, 8 * counts[:, None] ** 2 * w_np)


@needs_torch
def test_embedding_matches_pytorch_with_padding():
    theirs = torch.nn.Embedding(7, 3, padding_idx=2).double()
    ours = _copy_from_torch(nn.Embedding(7, 3, padding_idx=2), theirs)
    idx = np.array([[2, 0, 6], [6, 6, 2]])
    out, tout = ours(mg.tensor(idx)), theirs(torch.tensor(idx))
    _close(out, tout)
    g = np.random.default_rng(0).standard_normal(out.shape)
    out.backward(mg.tensor(g))
    tout.backward(torch.tensor(g))
    _close(ours.weight.grad, theirs.weight.grad)


def test_embedding_scale_grad_by_freq_divides_by_counts_and_max_norm_renormalises_in_place():
    w = np.random.default_rng(0).normal(size=(5, 3)) * 2
    idx = np.array([[0, 2, 2], [4, 0, 2]])
    layer = nn.Embedding.from_pretrained(mg.tensor(w), freeze=False, scale_grad_by_freq=True)
    layer(mg.tensor(idx)).sum().backward()
    counts = np.bincount(idx.ravel(), minlength=5)
    expected = np.where(counts[:, None] > 0, 1.0, 0.0) * np.ones((5, 3))  # count * 1 / count
    np.testing.assert_allclose(layer.weight.grad.data, expected)
    capped = nn.Embedding.from_pretrained(mg.tensor(w.copy()), max_norm=1.0)
    out = capped(mg.tensor(idx))
    norms = np.linalg.norm(capped.weight.data, axis=1)
    looked_up = np.unique(idx)
    assert np.all(norms[looked_up] <= 1.0 + 1e-6)
    np.testing.assert_allclose(norms[[1, 3]], np.linalg.norm(w[[1, 3]], axis=1))  # rows not looked up stay
    np.testing.assert_allclose(out.data, capped.weight.data[idx])
    with pytest.raises(ValueError, match="sparse"):
        nn.Embedding(3, 2, sparse=True)


def test_embedding_scale_grad_by_freq_backward_is_differentiable():
    """The scaled backward is a linear map of the output gradient; gradcheck it (double backward)."""
    idx = mg.tensor(np.array([[0, 2, 2], [4, 0, 2]]))
    weight = mg.tensor(np.random.default_rng(1).normal(size=(5, 3)), requires_grad=True)

    def table_gradient(g):
        out = F.embedding(idx, weight, padding_idx=4, scale_grad_by_freq=True)
        return mg.autograd.grad(out, weight, g, create_graph=True)[0]

    g = mg.tensor(np.random.default_rng(2).normal(size=(2, 3, 3)), requires_grad=True)
    assert mg.autograd.gradcheck(table_gradient, g)


@needs_torch
@pytest.mark.parametrize("kwargs", [{"max_norm": 1.0}, {"max_norm": 1.5, "norm_type": 1.0},
                                    {"scale_grad_by_freq": True}, {"scale_grad_by_freq": True, "padding_idx": 2}])
def test_embedding_options_match_pytorch(kwargs):
    theirs = torch.nn.Embedding(6, 3, **kwargs).double()
    with torch.no_grad():
        theirs.weight.mul_(2.0)
    ours = _copy_from_torch(nn.Embedding(6, 3, **kwargs), theirs)
    assert repr(ours) == repr(theirs)
    idx = np.array([[0, 2, 2], [5, 0, 1]])
    out, tout = ours(mg.tensor(idx)), theirs(torch.tensor(idx))
    _close(out, tout)
    _close(ours.weight, theirs.weight)  # max_norm rescales the table in place
    g = np.random.default_rng(0).standard_normal(out.shape)
    out.backward(mg.tensor(g))
    tout.backward(torch.tensor(g))
    _close(ours.weight.grad, theirs.weight.grad)


def test_embedding_from_pretrained():
    table = mg.tensor(np.arange(12, dtype=np.float32).reshape(4, 3))
    frozen = nn.Embedding.from_pretrained(table)
    assert not frozen.weight.requires_grad
    assert frozen.num_embeddings == 4 and frozen.embedding_dim == 3
    np.testing.assert_array_equal(frozen(mg.tensor([3, 0])).data, [[9, 10, 11], [0, 1, 2]])
    trainable = nn.Embedding.from_pretrained(table, freeze=False, padding_idx=0)
    assert trainable.weight.requires_grad
    np.testing.assert_array_equal(trainable.weight.data[0], [0, 1, 2])  # kept: PyTorch does not zero it
    trainable(mg.tensor([0, 2])).sum().backward()
    np.testing.assert_array_equal(trainable.weight.grad.data[:, 0], [0, 0, 1, 0])
    with pytest.raises(ValueError, match="2-D"):
        nn.Embedding.from_pretrained(mg.zeros(3))


def test_embedding_bad_indices_are_clear_errors():
    emb = nn.Embedding(5, 2)
    with pytest.raises(IndexError, match=r"\[0, 5\).*7"):
        emb(mg.tensor([1, 7]))
    with pytest.raises(IndexError, match="-1"):
        emb(mg.tensor([-1]))
    with pytest.raises(TypeError, match="integer.*float32"):
        emb(mg.tensor([1.0]))


# ----------------------------------------------------------------------------- BatchNorm
def _np_batch_norm_steps(batches, momentum, eps, weight, bias):
    """Outputs and running statistics of PyTorch's batch norm over training steps (NumPy reference)."""
    c = batches[0].shape[1]
    running_mean, running_var, outs = np.zeros(c), np.ones(c), []
    for x in batches:
        axes = (0,) + tuple(range(2, x.ndim))
        view = (1, c) + (1,) * (x.ndim - 2)
        n = x.size // c
        mean, var = x.mean(axis=axes), x.var(axis=axes)
        outs.append((x - mean.reshape(view)) / np.sqrt(var.reshape(view) + eps) * weight.reshape(view)
                    + bias.reshape(view))
        running_mean = (1 - momentum) * running_mean + momentum * mean
        running_var = (1 - momentum) * running_var + momentum * var * n / (n - 1)
    return outs, running_mean, running_var


@pytest.mark.parametrize("cls,shape", [(nn.BatchNorm1d, (8, 3)), (nn.BatchNorm1d, (4, 3, 5)),
                                       (nn.BatchNorm2d, (4, 3, 2, 5))])
def test_batch_norm_training_steps_match_numpy(cls, shape):
    rng = np.random.default_rng(0)
    layer = cls(3, momentum=0.2).double()
    with mg.no_grad():
        layer.weight.copy_(rng.uniform(0.5, 2, 3))
        layer.bias.copy_(rng.standard_normal(3))
    batches = [rng.standard_normal(shape) * 3 + 1 for _ in range(3)]
    outs, rm, rv = _np_batch_norm_steps(batches, 0.2, 1e-5, layer.weight.data, layer.bias.data)
    for x, expected in zip(batches, outs):
        np.testing.assert_allclose(layer(mg.tensor(x)).data, expected, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(layer.running_mean.data, rm, rtol=1e-12)
    np.testing.assert_allclose(layer.running_var.data, rv, rtol=1e-12)
    assert int(layer.num_batches_tracked.item()) == 3
    layer.eval()  # now the running statistics normalise
    x = batches[0]
    view = (1, 3) + (1,) * (x.ndim - 2)
    expected = ((x - rm.reshape(view)) / np.sqrt(rv.reshape(view) + 1e-5) * layer.weight.data.reshape(view)
                + layer.bias.data.reshape(view))
    np.testing.assert_allclose(layer(mg.tensor(x)).data, expected, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(layer.running_mean.data, rm, rtol=1e-12)  # eval leaves them alone


def test_batch_norm_input_gradient_matches_numpy_formula():
    rng = np.random.default_rng(1)
    x_np = rng.standard_normal((6, 2, 3))
    layer = nn.BatchNorm1d(2).double()
    x = mg.tensor(x_np, requires_grad=True)
    g = rng.standard_normal(x_np.shape)
    layer(x).backward(mg.tensor(g))
    axes = (0, 2)
    mean, var = x_np.mean(axis=axes, keepdims=True), x_np.var(axis=axes, keepdims=True)
    xhat = (x_np - mean) / np.sqrt(var + 1e-5)
    expected = (g - g.mean(axis=axes, keepdims=True) - xhat * (g * xhat).mean(axis=axes, keepdims=True)) \
        / np.sqrt(var + 1e-5)
    np.testing.assert_allclose(x.grad.data, expected, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(layer.weight.grad.data, (g * xhat).sum(axis=axes), rtol=1e-9)
    np.testing.assert_allclose(layer.bias.grad.data, g.sum(axis=axes), rtol=1e-9)


@needs_torch
@pytest.mark.parametrize("name,shape,kwargs", [
    ("BatchNorm1d", (8, 3), {}),
    ("BatchNorm1d", (4, 3, 5), {"momentum": None}),
    ("BatchNorm2d", (4, 3, 2, 5), {}),
    ("BatchNorm2d", (4, 3, 2, 5), {"affine": False, "momentum": 0.3}),
    ("BatchNorm2d", (4, 3, 2, 2), {"track_running_stats": False}),
    ("BatchNorm3d", (2, 3, 2, 2, 2), {"eps": 0.1}),
])
def test_batch_norm_matches_pytorch_in_train_and_eval(name, shape, kwargs):
    theirs = getattr(torch.nn, name)(3, **kwargs).double()
    with torch.no_grad():
        if theirs.affine:
            theirs.weight.uniform_(0.5, 2)
            theirs.bias.normal_()
    ours = _copy_from_torch(getattr(nn, name)(3, **kwargs), theirs)
    rng = np.random.default_rng(0)
    for step in range(3):
        _compare_with_torch(ours, theirs, rng.standard_normal(shape) * 2 + 0.5, atol=1e-9, grad_seed=step)
        ours.zero_grad()
        theirs.zero_grad()
    for k, v in theirs.state_dict().items():
        _close(ours.state_dict()[k], v, what=k)
    ours.eval()
    theirs.eval()
    _compare_with_torch(ours, theirs, rng.standard_normal(shape))


def test_batch_norm_keeps_float32_including_running_stats():
    layer = nn.BatchNorm2d(3)
    x = mg.randn(4, 3, 2, 2, requires_grad=True)
    out = layer(x)
    out.sum().backward()
    assert out.dtype == x.grad.dtype == layer.weight.grad.dtype == np.float32
    assert layer.running_mean.dtype == layer.running_var.dtype == np.float32
    assert layer.num_batches_tracked.dtype == np.int64
    assert layer.eval()(x).dtype == np.float32


def test_batch_norm_errors_name_the_shapes():
    with pytest.raises(ValueError, match=r"expected 4D input, got 3D input of shape \(2, 3, 4\)"):
        nn.BatchNorm2d(3)(mg.randn(2, 3, 4))
    with pytest.raises(ValueError, match=r"input has 5 channels.*\(2, 5\).*expected 3"):
        nn.BatchNorm1d(3)(mg.randn(2, 5))
    with pytest.raises(ValueError, match=r"more than 1 value per channel.*\(1, 3\)"):
        nn.BatchNorm1d(3)(mg.randn(1, 3))
    nn.BatchNorm1d(3).eval()(mg.randn(1, 3))  # one sample is fine in eval mode


# ----------------------------------------------------------------------------- LayerNorm
def test_layer_norm_matches_numpy():
    rng = np.random.default_rng(2)
    x_np = rng.standard_normal((2, 3, 4, 5)) * 3
    layer = nn.LayerNorm((4, 5)).double()
    with mg.no_grad():
        layer.weight.copy_(rng.standard_normal((4, 5)))
        layer.bias.copy_(rng.standard_normal((4, 5)))
    x = mg.tensor(x_np, requires_grad=True)
    out = layer(x)
    mean = x_np.mean(axis=(2, 3), keepdims=True)
    std = np.sqrt(x_np.var(axis=(2, 3), keepdims=True) + 1e-5)
    xhat = (x_np - mean) / std
    np.testing.assert_allclose(out.data, xhat * layer.weight.data + layer.bias.data, rtol=1e-9, atol=1e-12)
    g = rng.standard_normal(out.shape)
    out.backward(mg.tensor(g))
    gx = g * layer.weight.data
    expected = (gx - gx.mean(axis=(2, 3), keepdims=True) - xhat * (gx * xhat).mean(axis=(2, 3), keepdims=True)) / std
    np.testing.assert_allclose(x.grad.data, expected, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(layer.weight.grad.data, (g * xhat).sum(axis=(0, 1)), rtol=1e-9)


@needs_torch
@pytest.mark.parametrize("kwargs", [{}, {"elementwise_affine": False}, {"bias": False}, {"eps": 0.5}])
def test_layer_norm_matches_pytorch(kwargs):
    theirs = torch.nn.LayerNorm((3, 4), **kwargs).double()
    with torch.no_grad():
        for p in theirs.parameters():
            p.normal_()
    ours = _copy_from_torch(nn.LayerNorm((3, 4), **kwargs), theirs)
    _compare_with_torch(ours, theirs, np.random.default_rng(0).standard_normal((2, 5, 3, 4)))


def test_layer_norm_shape_mismatch_names_shapes():
    with pytest.raises(ValueError, match=r"\(4,\).*\(2, 3\)"):
        nn.LayerNorm(4)(mg.randn(2, 3))


# ----------------------------------------------------------------------------- activations
ACTIVATIONS = [
    ("ReLU", (), {}), ("Tanh", (), {}), ("Sigmoid", (), {}), ("Softmax", (), {"dim": 1}),
    ("Softmax", (), {"dim": -1}), ("LogSoftmax", (), {"dim": 0}), ("LeakyReLU", (0.2,), {}),
    ("GELU", (), {}), ("GELU", (), {"approximate": "tanh"}), ("SiLU", (), {}), ("ELU", (), {}),
    ("ELU", (0.5,), {}), ("Softplus", (), {}), ("Softplus", (), {"beta": 2.0, "threshold": 3.0}),
]


@needs_torch
@pytest.mark.parametrize("name,args,kwargs", ACTIVATIONS, ids=[f"{a[0]}{a[2]}" for a in ACTIVATIONS])
def test_activation_modules_match_pytorch(name, args, kwargs):
    ours, theirs = getattr(nn, name)(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)
    assert repr(ours) == repr(theirs)
    x = np.random.default_rng(0).uniform(-4, 4, (3, 4, 5))
    _compare_with_torch(ours, theirs, x, atol=1e-12)


def test_activation_modules_match_numpy():
    x_np = np.random.default_rng(3).uniform(-5, 5, (4, 6))
    x = mg.tensor(x_np)
    e = np.exp(x_np - x_np.max(1, keepdims=True))
    cases = {
        nn.ReLU(): np.maximum(x_np, 0), nn.Tanh(): np.tanh(x_np), nn.Sigmoid(): 1 / (1 + np.exp(-x_np)),
        nn.Softmax(dim=1): e / e.sum(1, keepdims=True), nn.LogSoftmax(dim=1): np.log(e / e.sum(1, keepdims=True)),
        nn.LeakyReLU(0.1): np.where(x_np > 0, x_np, 0.1 * x_np), nn.SiLU(): x_np / (1 + np.exp(-x_np)),
        nn.GELU(): 0.5 * x_np * (1 + np.vectorize(math.erf)(x_np / math.sqrt(2))),
    }
    for layer, expected in cases.items():
        np.testing.assert_allclose(layer(x).data, expected, rtol=1e-10, atol=1e-13, err_msg=repr(layer))


@settings(max_examples=20)
@given(st.floats(-30, 30, allow_nan=False))
def test_erf_is_accurate_everywhere(v):
    out = F.erf(mg.tensor([v], dtype=mg.float64)).item()
    assert abs(out - math.erf(v)) < 2e-15


def test_erf_float32_is_accurate_to_float32_precision():
    x = np.linspace(-7, 7, 20001, dtype=np.float32)
    out = F.erf(mg.tensor(x)).data
    assert out.dtype == np.float32
    expected = np.array([math.erf(float(v)) for v in x])
    assert np.abs(out - expected).max() < 1.2e-7


def test_softmax_without_dim_warns_and_uses_pytorch_choice():
    x = mg.randn(2, 3)
    with pytest.warns(UserWarning, match="dim"):
        out = nn.Softmax()(x)
    np.testing.assert_allclose(out.data.sum(1), 1, rtol=1e-6)


# ----------------------------------------------------------------------------- one_hot
def test_one_hot():
    out = F.one_hot(mg.tensor([[0, 2], [1, 2]]))
    assert out.dtype == np.int64 and out.shape == (2, 2, 3)
    np.testing.assert_array_equal(out.data, np.eye(3, dtype=np.int64)[[[0, 2], [1, 2]]])
    assert F.one_hot(mg.tensor([1]), num_classes=4).shape == (1, 4)
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        F.one_hot(mg.tensor([0, 3]), num_classes=2)
    with pytest.raises(TypeError, match="integer.*float32"):
        F.one_hot(mg.tensor([0.0]))


# ----------------------------------------------------------------------------- whole models
@needs_torch
def test_mlp_loaded_from_pytorch_state_dict_gives_same_outputs_and_gradients():
    torch.manual_seed(0)
    theirs = torch.nn.Sequential(torch.nn.Linear(10, 8), torch.nn.ReLU(), torch.nn.BatchNorm1d(8),
                                 torch.nn.Linear(8, 8), torch.nn.LayerNorm(8), torch.nn.Tanh(),
                                 torch.nn.Linear(8, 3)).double()
    ours = nn.Sequential(nn.Linear(10, 8), nn.ReLU(), nn.BatchNorm1d(8), nn.Linear(8, 8), nn.LayerNorm(8),
                         nn.Tanh(), nn.Linear(8, 3))
    _copy_from_torch(ours, theirs)
    _compare_with_torch(ours, theirs, np.random.default_rng(0).standard_normal((16, 10)))


def test_train_and_eval_switch_every_submodule():
    model = nn.Sequential(nn.Linear(3, 3), nn.Dropout(0.5), nn.BatchNorm1d(3))
    model.eval()
    assert not any(m.training for m in model.modules())
    x = mg.randn(4, 3)
    np.testing.assert_array_equal(model(x).data, model(x).data)  # deterministic in eval mode
    model.train()
    assert all(m.training for m in model.modules())


# ----------------------------------------------------------------------------- GPU
@pytest.mark.gpu
def test_layers_losses_and_init_on_cuda_match_cpu():
    mg.manual_seed(0)
    cpu = nn.Sequential(nn.Linear(6, 5), nn.BatchNorm1d(5), nn.GELU(), nn.LayerNorm(5), nn.Linear(5, 4)).double()
    gpu = nn.Sequential(nn.Linear(6, 5), nn.BatchNorm1d(5), nn.GELU(), nn.LayerNorm(5), nn.Linear(5, 4)).double()
    gpu.load_state_dict(cpu.state_dict())
    gpu.to("cuda")
    x_np = np.random.default_rng(0).standard_normal((8, 6))
    t_np = np.array([0, 1, 2, 3, -100, 1, 2, 0])
    losses = []
    for model, device in ((cpu, "cpu"), (gpu, "cuda")):
        x = mg.tensor(x_np, device=device, requires_grad=True)
        loss = F.cross_entropy(model(x), mg.tensor(t_np, device=device), label_smoothing=0.1)
        loss.backward()
        losses.append((loss, x.grad))
    np.testing.assert_allclose(losses[1][0].detach().cpu().numpy(), losses[0][0].detach().numpy(), rtol=1e-10)
    np.testing.assert_allclose(losses[1][1].cpu().numpy(), losses[0][1].numpy(), rtol=1e-9, atol=1e-12)
    for (name, p_cpu), (_, p_gpu) in zip(cpu.named_parameters(), gpu.named_parameters()):
        assert p_gpu.grad.device == "cuda", name
        np.testing.assert_allclose(p_gpu.grad.cpu().numpy(), p_cpu.grad.numpy(), rtol=1e-9, atol=1e-12,
                                   err_msg=name)
    np.testing.assert_allclose(gpu[1].running_var.cpu().numpy(), cpu[1].running_var.numpy(), rtol=1e-12)
    emb = nn.Embedding(10, 3, padding_idx=0, device="cuda")
    out = F.dropout(emb(mg.tensor([[0, 3, 3]], device="cuda")), 0.5)
    out.sum().backward()
    assert emb.weight.grad.device == "cuda" and not emb.weight.grad.cpu().numpy()[0].any()
    w = init.orthogonal_(mg.empty(4, 6, device="cuda"))
    np.testing.assert_allclose((w @ w.T).cpu().numpy(), np.eye(4), atol=1e-5)
    assert init.kaiming_uniform_(mg.empty(3, 3, device="cuda")).device == "cuda"
    assert F.one_hot(mg.tensor([1, 2], device="cuda")).device == "cuda"
