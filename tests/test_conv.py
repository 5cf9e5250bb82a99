"""Convolution and pooling: shapes, gradients, PyTorch agreement, equivariance, layers, errors.

The generic checks (forward vs a naive NumPy reference, gradcheck, second-order
gradcheck, float32, PyTorch, CUDA) run from the registry entries in
registry_conv.py; this file adds what is specific to convolutions.
"""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad as mg
import minigrad.nn.functional as F
from helpers import HAVE_TORCH, torch
from registry_conv import conv2d_case, conv_out_len, np_conv2d, pool_case, pool_out_len, same_pads

needs_torch = pytest.mark.skipif(not HAVE_TORCH, reason="PyTorch is not installed")


def _rand(rng, shape, dtype=np.float64):
    return rng.standard_normal(shape).astype(dtype)


def _expected_conv_hw(case):
    kw = case["kwargs"]
    kernel = case["w"][2:]
    if kw["padding"] == "same":
        pads = [sum(p) for p in same_pads(kernel, kw["dilation"])]
    elif kw["padding"] == "valid":
        pads = [0, 0]
    else:
        pads = [2 * p for p in kw["padding"]]
    return tuple(conv_out_len(n, k, s, p, d)
                 for n, k, s, p, d in zip(case["x"][2:], kernel, kw["stride"], pads, kw["dilation"]))


# ----------------------------------------------------------------------------- shapes and gradients


@given(case=conv2d_case(), seed=st.integers(0, 2**16))
def test_conv2d_shape_formula_and_gradcheck(case, seed):
    """Output size is floor((n + 2p - d(k-1) - 1)/s + 1) per dim, and gradients pass gradcheck."""
    rng = np.random.default_rng(seed)
    x = mg.tensor(_rand(rng, case["x"]), requires_grad=True)
    w = mg.tensor(_rand(rng, case["w"]), requires_grad=True)
    b = mg.tensor(_rand(rng, case["w"][:1]), requires_grad=True) if case["bias"] else None
    out = F.conv2d(x, w, b, **case["kwargs"])
    assert out.shape == (case["x"][0], case["w"][0]) + _expected_conv_hw(case)
    inputs = (x, w) if b is None else (x, w, b)
    assert mg.autograd.gradcheck(lambda *t: F.conv2d(*t, **case["kwargs"]), inputs)


@settings(max_examples=5)
@given(case=pool_case(), seed=st.integers(0, 2**16))
def test_pool_shape_formula(case, seed):
    shape, kwargs = case
    x = mg.tensor(np.random.default_rng(seed).permutation(int(np.prod(shape))).reshape(shape).astype(np.float64))
    kernel, stride = kwargs["kernel_size"], kwargs["stride"] or kwargs["kernel_size"]
    expected = tuple(pool_out_len(n, k, s, p, d, kwargs["ceil_mode"])
                     for n, k, s, p, d in zip(shape[2:], kernel, stride, kwargs["padding"], kwargs["dilation"]))
    assert F.max_pool2d(x, **kwargs).shape == shape[:2] + expected
    avg_kwargs = {k: v for k, v in kwargs.items() if k != "dilation"}
    if kwargs["dilation"] == (1, 1):
        assert F.avg_pool2d(x, **avg_kwargs).shape == shape[:2] + expected


# ----------------------------------------------------------------------------- agreement with PyTorch


@needs_torch
@settings(max_examples=6)
@given(case=conv2d_case(), seed=st.integers(0, 2**16))
def test_conv2d_matches_torch_forward_and_grads(case, seed):
    rng = np.random.default_rng(seed)
    arrays = [_rand(rng, case["x"]), _rand(rng, case["w"])] + ([_rand(rng, case["w"][:1])] if case["bias"] else [])
    m_in = [mg.tensor(a, requires_grad=True) for a in arrays]
    t_in = [torch.tensor(a, requires_grad=True) for a in arrays]
    m_out = F.conv2d(*m_in, **case["kwargs"])
    t_out = torch.nn.functional.conv2d(*t_in, **case["kwargs"])
    np.testing.assert_allclose(m_out.data, t_out.detach().numpy(), rtol=1e-10, atol=1e-10)
    g = _rand(rng, tuple(t_out.shape))
    m_out.backward(mg.tensor(g))
    t_out.backward(torch.tensor(g))
    for name, m, t in zip(("input", "weight", "bias"), m_in, t_in):
        np.testing.assert_allclose(m.grad.data, t.grad.numpy(), rtol=1e-10, atol=1e-10, err_msg=name)


@needs_torch
@settings(max_examples=6)
@given(case=pool_case(), seed=st.integers(0, 2**16))
def test_pooling_matches_torch_forward_and_grads(case, seed):
    shape, kwargs = case
    rng = np.random.default_rng(seed)
    x = rng.permutation(int(np.prod(shape))).reshape(shape) * 0.5 + rng.uniform(-0.1, 0.1, shape)
    avg_kwargs = {k: v for k, v in kwargs.items() if k != "dilation"}
    avg_kwargs["count_include_pad"] = bool(seed % 2)
    cases = [(F.max_pool2d, torch.nn.functional.max_pool2d, kwargs)]
    if kwargs["dilation"] == (1, 1):  # avg_pool2d has no dilation
        cases.append((F.avg_pool2d, torch.nn.functional.avg_pool2d, avg_kwargs))
    for m_fn, t_fn, kw in cases:
        mx, tx = mg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        m_out, t_out = m_fn(mx, **kw), t_fn(tx, **kw)
        np.testing.assert_allclose(m_out.data, t_out.detach().numpy(), rtol=1e-12, atol=1e-12)
        g = _rand(rng, tuple(t_out.shape))
        m_out.backward(mg.tensor(g))
        t_out.backward(torch.tensor(g))
        np.testing.assert_allclose(mx.grad.data, tx.grad.numpy(), rtol=1e-12, atol=1e-12, err_msg=m_fn.__name__)


@pytest.mark.filterwarnings("ignore:Using padding='same'")
def test_same_padding_with_even_kernels_pads_more_after():
    """'same' keeps the size; an odd total padding puts the extra row/column after (PyTorch's rule)."""
    rng = np.random.default_rng(0)
    x, w = _rand(rng, (1, 2, 5, 6)), _rand(rng, (3, 2, 2, 4))
    out = F.conv2d(mg.tensor(x), mg.tensor(w), padding="same").data
    assert out.shape == (1, 3, 5, 6)
    # total padding 1 (rows) and 3 (columns): (0, 1) and (1, 2)
    manual = F.conv2d(mg.tensor(np.pad(x, [(0, 0), (0, 0), (0, 1), (1, 2)])), mg.tensor(w)).data
    np.testing.assert_allclose(out, manual, rtol=1e-12)
    if HAVE_TORCH:
        expected = torch.nn.functional.conv2d(torch.tensor(x), torch.tensor(w), padding="same").numpy()
        np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-12)
        x1, w1 = _rand(rng, (2, 2, 7)), _rand(rng, (3, 2, 4))
        np.testing.assert_allclose(
            F.conv1d(mg.tensor(x1), mg.tensor(w1), padding="same", dilation=3).data,
            torch.nn.functional.conv1d(torch.tensor(x1), torch.tensor(w1), padding="same", dilation=3).numpy(),
            rtol=1e-10, atol=1e-12)


@needs_torch
def test_max_pool_ties_overlaps_nan_and_indices_match_torch():
    """Ties pick the first maximum, overlapping windows (stride < kernel) add up, NaN propagates."""
    x = np.array([[[[1.0, 3.0, 3.0, 0.0, 2.0],
                    [3.0, 1.0, 2.0, 2.0, 2.0],
                    [0.0, 3.0, 3.0, 1.0, 0.0],
                    [np.nan, 1.0, 0.0, 5.0, 5.0]]]])
    for kwargs in ({"kernel_size": 2, "stride": 1}, {"kernel_size": 3, "stride": 1, "padding": 1},
                   {"kernel_size": 2, "stride": 2, "ceil_mode": True},
                   {"kernel_size": (2, 3), "stride": (1, 2), "padding": (1, 1), "dilation": (2, 1)}):
        mx, tx = mg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        m_out, m_idx = F.max_pool2d(mx, return_indices=True, **kwargs)
        t_out, t_idx = torch.nn.functional.max_pool2d(tx, return_indices=True, **kwargs)
        np.testing.assert_array_equal(m_out.data, t_out.detach().numpy())  # NaN positions too
        np.testing.assert_array_equal(m_idx.data, t_idx.numpy())
        m_out.sum().backward()
        t_out.sum().backward()
        np.testing.assert_array_equal(mx.grad.data, tx.grad.numpy())
    assert np.isnan(F.max_pool2d(mg.tensor(x), 2).data[0, 0, 1, 0])
    with mg.no_grad():  # indices also come back when nothing is recorded
        _, idx = F.max_pool2d(mg.tensor(x), 2, return_indices=True)
    np.testing.assert_array_equal(idx.data, torch.nn.functional.max_pool2d(torch.tensor(x), 2, return_indices=True)[1])


@needs_torch
def test_conv_double_backward_matches_torch():
    """A gradient penalty: d/dw of |d(loss)/dx|^2 through conv2d, pooling and conv_transpose2d."""
    rng = np.random.default_rng(3)
    xs, ws, w2s = _rand(rng, (2, 4, 7, 6)), _rand(rng, (6, 2, 3, 2)), _rand(rng, (6, 3, 2, 2))

    def run(lib, fn, tensor):
        x, w, w2 = (tensor(a) for a in (xs, ws, w2s))
        h = fn.conv2d(x, w, stride=(2, 1), padding=1, dilation=(1, 2), groups=2)
        h = fn.max_pool2d(lib.tanh(h), 2, stride=1) + fn.avg_pool2d(h, 2, stride=1, padding=1)[..., 1:-1, 1:-1]
        h = fn.conv_transpose2d(h, w2, stride=2, groups=2)
        loss = (h * h).sum()
        (gx,) = lib.autograd.grad(loss, [x], create_graph=True)
        (gx * gx).sum().backward()
        return [t.grad for t in (x, w, w2)]

    m_grads = run(mg, F, lambda a: mg.tensor(a, requires_grad=True))
    t_grads = run(torch, torch.nn.functional, lambda a: torch.tensor(a, requires_grad=True))
    for name, m, t in zip(("x", "w", "w2"), m_grads, t_grads):
        np.testing.assert_allclose(m.data, t.numpy(), rtol=1e-9, atol=1e-9, err_msg=name)


@needs_torch
@pytest.mark.parametrize("name", ["conv1d", "max_pool1d", "avg_pool1d"])
def test_1d_convolution_and_pooling_match_torch(name):
    rng = np.random.default_rng(5)
    x, w, b = rng.standard_normal((2, 4, 11)), rng.standard_normal((6, 2, 3)), rng.standard_normal(6)

    def run(f, make):
        xt, wt, bt = make(x), make(w), make(b)
        out = {"conv1d": lambda: f.conv1d(xt, wt, bt, stride=2, padding=2, dilation=2, groups=2),
               "max_pool1d": lambda: f.max_pool1d(xt, 3, stride=2, padding=1, ceil_mode=True),
               "avg_pool1d": lambda: f.avg_pool1d(xt, 4, stride=3, padding=2, count_include_pad=False)}[name]()
        (out * out).sum().backward()
        return [out.detach()] + [t.grad for t in (xt, wt, bt) if t.grad is not None]

    mine = run(F, lambda a: mg.tensor(a, requires_grad=True))
    theirs = run(torch.nn.functional, lambda a: torch.tensor(a, requires_grad=True))
    assert len(mine) == len(theirs) == (4 if name == "conv1d" else 2)
    for m, t in zip(mine, theirs):
        np.testing.assert_allclose(m.numpy(), t.numpy(), rtol=1e-10, atol=1e-12)


def test_fold_of_unfold_counts_window_memberships():
    x = mg.tensor(np.random.default_rng(0).standard_normal((2, 3, 6, 5)))
    kwargs = {"kernel_size": (2, 3), "padding": 1, "stride": (1, 2)}
    cols = mg.nn.Unfold(**kwargs)(x)
    back = mg.nn.Fold((6, 5), **kwargs)(cols)
    counts = F.fold(F.unfold(mg.ones(1, 1, 6, 5, dtype=mg.float64), **kwargs), (6, 5), **kwargs)
    np.testing.assert_allclose(back.data, x.data * counts.data, rtol=1e-12)
    assert counts.data.min() >= 1 and counts.data.max() > 1  # overlapping windows really overlap


# ----------------------------------------------------------------------------- equivariance


@settings(max_examples=5)
@given(case=conv2d_case(), shift=st.integers(1, 2), seed=st.integers(0, 2**16))
def test_conv2d_translation_equivariance(case, shift, seed):
    """Shifting the input by k strides shifts the output by k pixels (compared away from the borders)."""
    rng = np.random.default_rng(seed)
    kwargs, kernel = case["kwargs"], case["w"][2:]
    stride, dilation = kwargs["stride"], kwargs["dilation"]
    n, c, h, w = case["x"][:2] + tuple(s + 8 for s in case["x"][2:])  # room for windows away from the borders
    x = _rand(rng, (n, c, h + shift * stride[0], w + shift * stride[1]))
    weight = mg.tensor(_rand(rng, case["w"]))
    image = x[:, :, :h, :w].copy()
    moved = x[:, :, shift * stride[0]:, shift * stride[1]:].copy()  # the same scene, moved up-left by `shift` strides
    out = F.conv2d(mg.tensor(image), weight, **kwargs).data
    out_moved = F.conv2d(mg.tensor(moved), weight, **kwargs).data
    # Output j's window starts at input row j*s - pad_before; keep the outputs whose windows lie inside the image.
    if kwargs["padding"] == "same":
        before = [p[0] for p in same_pads(kernel, dilation)]
    else:
        before = [0, 0] if kwargs["padding"] == "valid" else list(kwargs["padding"])
    lo = [-(-p // s) for p, s in zip(before, stride)]
    hi = [(size + p - d * (k - 1) - 1) // s + 1 for size, p, d, k, s in zip((h, w), before, dilation, kernel, stride)]
    a = out[:, :, lo[0] + shift:hi[0], lo[1] + shift:hi[1]]
    b = out_moved[:, :, lo[0]:hi[0] - shift, lo[1]:hi[1] - shift]
    assert a.size > 0
    np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10)


def test_pooling_translation_equivariance():
    rng = np.random.default_rng(0)
    x = _rand(rng, (2, 3, 12, 13))
    for fn in (lambda t: F.max_pool2d(t, 3, stride=2), lambda t: F.avg_pool2d(t, (2, 3), stride=2)):
        out = fn(mg.tensor(x[:, :, :10, :11].copy())).data
        moved = fn(mg.tensor(x[:, :, 2:, 2:].copy())).data  # shifted by one stride in each direction
        np.testing.assert_allclose(out[:, :, 1:, 1:], moved[:, :, :out.shape[2] - 1, :out.shape[3] - 1])


# ----------------------------------------------------------------------------- layers


def test_pooling_layers_have_no_parameters():
    for layer in (mg.nn.MaxPool2d(2), mg.nn.AvgPool2d(3, 1, 1), mg.nn.MaxPool1d(2), mg.nn.AvgPool1d(2)):
        assert list(layer.parameters()) == []
        assert layer.state_dict() == {}


def test_conv2d_parameters_and_default_init():
    layer = mg.nn.Conv2d(6, 8, (5, 3), groups=2)
    assert [(n, p.shape, p.dtype) for n, p in layer.named_parameters()] == [
        ("weight", (8, 3, 5, 3), np.float32), ("bias", (8,), np.float32)]
    bound = 1 / math.sqrt(3 * 5 * 3)  # fan_in = C_in/groups * kH * kW
    for p in (layer.weight, layer.bias):
        assert np.abs(p.data).max() <= bound
    assert np.abs(layer.weight.data).max() > 0.9 * bound  # U(-bound, bound), not something narrower
    assert abs(layer.weight.data.std() - bound / math.sqrt(3)) < 0.15 * bound
    mg.manual_seed(7)
    a = mg.nn.Conv2d(2, 3, 3).weight.data.copy()
    mg.manual_seed(7)
    np.testing.assert_array_equal(mg.nn.Conv2d(2, 3, 3).weight.data, a)
    assert mg.nn.Conv2d(2, 3, 3, bias=False).bias is None
    assert mg.nn.Conv2d(2, 3, 3, dtype=mg.float64).weight.dtype == np.float64
    t = mg.nn.ConvTranspose2d(4, 6, 3, groups=2)
    assert t.weight.shape == (4, 3, 3, 3) and np.abs(t.weight.data).max() <= 1 / math.sqrt(3 * 9)


@needs_torch
def test_layer_reprs_match_torch():
    pairs = [
        (mg.nn.Conv2d(1, 6, 5, padding=2), torch.nn.Conv2d(1, 6, 5, padding=2)),
        (mg.nn.Conv2d(4, 8, 3, stride=2, dilation=2, groups=2, bias=False),
         torch.nn.Conv2d(4, 8, 3, stride=2, dilation=2, groups=2, bias=False)),
        (mg.nn.Conv2d(4, 8, 3, padding="same", padding_mode="reflect"),
         torch.nn.Conv2d(4, 8, 3, padding="same", padding_mode="reflect")),
        (mg.nn.Conv1d(3, 5, 4), torch.nn.Conv1d(3, 5, 4)),
        (mg.nn.ConvTranspose2d(3, 5, 4, stride=2, output_padding=1),
         torch.nn.ConvTranspose2d(3, 5, 4, stride=2, output_padding=1)),
        (mg.nn.MaxPool2d(2), torch.nn.MaxPool2d(2)),
        (mg.nn.MaxPool2d((3, 2), 1, 1, ceil_mode=True), torch.nn.MaxPool2d((3, 2), 1, 1, ceil_mode=True)),
        (mg.nn.AvgPool2d(3, 1, 1), torch.nn.AvgPool2d(3, 1, 1)),
    ]
    for m, t in pairs:
        assert repr(m) == repr(t)


@needs_torch
@pytest.mark.parametrize("kind", ["conv2d", "conv2d_groups_reflect", "conv2d_same_circular", "conv1d",
                                  "conv_transpose2d"])
def test_conv_layers_load_torch_state_dict_and_match(kind):
    torch.manual_seed(0)
    make = {
        "conv2d": lambda nn: nn.Conv2d(3, 4, (3, 2), stride=(2, 1), padding=1, dilation=(1, 2)),
        "conv2d_groups_reflect": lambda nn: nn.Conv2d(4, 6, 3, padding=1, groups=2, padding_mode="reflect"),
        "conv2d_same_circular": lambda nn: nn.Conv2d(4, 2, (4, 3), padding="same", padding_mode="circular"),
        "conv1d": lambda nn: nn.Conv1d(4, 6, 3, stride=2, padding=1, groups=2),
        "conv_transpose2d": lambda nn: nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2),
    }[kind]
    t_layer, m_layer = make(torch.nn).double(), make(mg.nn).double()
    m_layer.load_state_dict({k: v.detach().numpy() for k, v in t_layer.state_dict().items()})
    shape = (2, 4, 9) if kind == "conv1d" else (2, 3 if kind == "conv2d" else 4, 7, 8)
    x = np.random.default_rng(1).standard_normal(shape)
    tx, mx = torch.tensor(x, requires_grad=True), mg.tensor(x, requires_grad=True)
    t_out, m_out = t_layer(tx), m_layer(mx)
    np.testing.assert_allclose(m_out.data, t_out.detach().numpy(), rtol=1e-10, atol=1e-10)
    (t_out ** 2).sum().backward()
    (m_out ** 2).sum().backward()
    np.testing.assert_allclose(mx.grad.data, tx.grad.numpy(), rtol=1e-10, atol=1e-10)
    for name, p in t_layer.named_parameters():
        np.testing.assert_allclose(getattr(m_layer, name).grad.data, p.grad.numpy(), rtol=1e-10, atol=1e-10)


@needs_torch
def test_lenet_features_float32_match_torch_and_stay_float32():
    """LeNet-5's conv/pool stack (W1) in float32: same outputs and gradients as PyTorch, no float64."""
    torch.manual_seed(0)
    t_net = torch.nn.Sequential(torch.nn.Conv2d(1, 6, 5, padding=2), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                                torch.nn.Conv2d(6, 16, 5), torch.nn.ReLU(), torch.nn.AvgPool2d(2))
    convs = [mg.nn.Conv2d(1, 6, 5, padding=2), mg.nn.Conv2d(6, 16, 5)]
    for m, t in zip(convs, (t_net[0], t_net[3])):
        m.load_state_dict({k: v.detach().numpy() for k, v in t.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((8, 1, 28, 28)).astype(np.float32)
    mx = mg.tensor(x, requires_grad=True)
    out = F.avg_pool2d(F.relu(convs[1](F.max_pool2d(F.relu(convs[0](mx)), 2))), 2)
    tx = torch.tensor(x, requires_grad=True)
    t_out = t_net(tx)
    assert out.shape == (8, 16, 5, 5) and out.dtype == np.float32
    np.testing.assert_allclose(out.data, t_out.detach().numpy(), rtol=1e-4, atol=1e-5)
    out.sum().backward()
    t_out.sum().backward()
    assert mx.grad.dtype == np.float32
    np.testing.assert_allclose(mx.grad.data, tx.grad.numpy(), rtol=1e-4, atol=1e-5)
    for m, t in zip(convs, (t_net[0], t_net[3])):
        assert m.weight.grad.dtype == np.float32 and m.bias.grad.dtype == np.float32
        np.testing.assert_allclose(m.weight.grad.data, t.weight.grad.numpy(), rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(m.bias.grad.data, t.bias.grad.numpy(), rtol=1e-4, atol=1e-4)


def test_unbatched_inputs_and_no_grad():
    rng = np.random.default_rng(0)
    x, w = _rand(rng, (3, 6, 5)), _rand(rng, (4, 3, 3, 3))
    out = F.conv2d(mg.tensor(x), mg.tensor(w), padding=1)
    np.testing.assert_allclose(out.data, np_conv2d(x[None], w, padding=1)[0], rtol=1e-12)
    assert F.max_pool2d(mg.tensor(x), 2).shape == (3, 3, 2)
    assert F.conv1d(mg.tensor(x[:, 0]), mg.tensor(w[:, :, 0])).shape == (4, 3)
    with mg.no_grad():
        out = F.conv2d(mg.tensor(x, requires_grad=True), mg.tensor(w, requires_grad=True))
    assert out.grad_fn is None and not out.requires_grad


# ----------------------------------------------------------------------------- errors


def test_conv2d_errors_name_shapes():
    x, w = mg.randn(2, 3, 8, 8), mg.randn(4, 2, 3, 3)
    with pytest.raises(ValueError, match=r"conv2d: input of shape \(2, 3, 8, 8\) has 3 channels, but the weight of "
                                         r"shape \(4, 2, 3, 3\) with groups=1 expects 2"):
        F.conv2d(x, w)
    with pytest.raises(ValueError, match=r"groups=2 does not divide the 3 input channels"):
        F.conv2d(x, mg.randn(4, 1, 3, 3), groups=2)
    with pytest.raises(ValueError, match=r"groups=2 does not divide the 3 output channels"):
        F.conv2d(mg.randn(2, 4, 8, 8), mg.randn(3, 2, 3, 3), groups=2)
    with pytest.raises(ValueError, match=r"kernel \(5, 5\).*larger than the padded input \(4, 4\).*"
                                         r"\(1, 3, 2, 2\)"):
        F.conv2d(mg.randn(1, 3, 2, 2), mg.randn(4, 3, 5, 5), padding=1)
    with pytest.raises(ValueError, match=r"spans \(5, 3\)"):
        F.conv2d(mg.randn(1, 3, 4, 4), mg.randn(4, 3, 3, 3), dilation=(2, 1))
    with pytest.raises(ValueError, match=r"bias of shape \(4,\).*got shape \(3,\)"):
        F.conv2d(mg.randn(1, 2, 5, 5), w, mg.randn(3))
    with pytest.raises(ValueError, match=r"padding='same' is not supported for strided"):
        F.conv2d(mg.randn(1, 2, 5, 5), w, padding="same", stride=2)
    with pytest.raises(ValueError, match=r"padding must be an int, a tuple, 'valid' or 'same', got 'full'"):
        F.conv2d(mg.randn(1, 2, 5, 5), w, padding="full")
    with pytest.raises(ValueError, match=r"stride must be positive"):
        F.conv2d(mg.randn(1, 2, 5, 5), w, stride=0)
    with pytest.raises(ValueError, match=r"expected input of shape \(N, C, H, W\) or \(C, H, W\), got shape \(5, 5\)"):
        F.conv2d(mg.randn(5, 5), w)
    with pytest.raises(ValueError, match=r"expected a weight of shape .* got shape \(4, 2, 3\)"):
        F.conv2d(mg.randn(1, 2, 5, 5), mg.randn(4, 2, 3))
    with pytest.raises(TypeError, match=r"same dtype.*float32.*float64"):
        F.conv2d(mg.randn(1, 2, 5, 5), mg.randn(4, 2, 3, 3, dtype=mg.float64))
    with pytest.raises(ValueError, match=r"in_channels \(3\) must be divisible by groups \(2\)"):
        mg.nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match=r"conv_transpose2d: input of shape \(1, 3, 4, 4\) has 3 channels.*"
                                         r"\(2, 4, 3, 3\)"):
        F.conv_transpose2d(mg.randn(1, 3, 4, 4), mg.randn(2, 4, 3, 3))


def test_pooling_errors():
    x = mg.randn(1, 2, 5, 5)
    with pytest.raises(ValueError, match=r"max_pool2d: padding \(2, 2\) should be at most half of kernel_size"):
        F.max_pool2d(x, 3, padding=2)
    with pytest.raises(ValueError, match=r"avg_pool2d: the kernel \(7, 7\).*larger than the padded input.*"
                                         r"\(1, 2, 5, 5\)"):
        F.avg_pool2d(x, 7)
    with pytest.raises(TypeError, match=r"kernel_size must be an int or a tuple of 2 ints"):
        F.max_pool2d(x, "2")
    with pytest.raises(TypeError, match=r"avg_pool2d: expected a floating-point input, got dtype int64"):
        F.avg_pool2d(mg.tensor(np.ones((1, 1, 4, 4), dtype=np.int64)), 2)


# ----------------------------------------------------------------------------- GPU


@pytest.mark.gpu
def test_conv_pool_layers_on_cuda_match_cpu():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 3, 12, 12)).astype(np.float32)
    conv, pool = mg.nn.Conv2d(3, 8, 3, padding=1, groups=1), mg.nn.MaxPool2d(2)
    outs, grads = [], []
    for device in ("cpu", "cuda"):
        conv.to(device)
        conv.zero_grad()
        t = mg.tensor(x, device=device, requires_grad=True)
        out = F.avg_pool2d(pool(conv(t)), 2, ceil_mode=True)
        out.sum().backward()
        outs.append(out.cpu().detach().numpy())
        grads.append([t.grad.cpu().numpy(), conv.weight.grad.cpu().numpy()])
    np.testing.assert_allclose(outs[1], outs[0], rtol=1e-4, atol=1e-5)
    for g_gpu, g_cpu in zip(grads[1], grads[0]):
        np.testing.assert_allclose(g_gpu, g_cpu, rtol=1e-4, atol=1e-4)
