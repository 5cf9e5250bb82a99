"""nn.init: fans and gains as PyTorch computes them, the statistics of every initialiser,
in-place semantics, dtype and reproducibility."""
import math

import numpy as np
import pytest

import minigrad as mg
import minigrad.nn as nn
from helpers import HAVE_TORCH, torch
from minigrad.nn import init

needs_torch = pytest.mark.skipif(not HAVE_TORCH, reason="PyTorch is not installed")

SHAPES = [(7, 3), (5, 4, 3), (16, 6, 5, 5), (2, 3, 1, 4, 2), (1, 9)]


def test_fans_match_the_formula():
    assert init._calculate_fan_in_and_fan_out(mg.zeros(7, 3)) == (3, 7)
    assert init._calculate_fan_in_and_fan_out(mg.zeros(16, 6, 5, 5)) == (150, 400)
    assert init._calculate_correct_fan(mg.zeros(16, 6, 5, 5), "fan_out") == 400
    with pytest.raises(ValueError, match=r"at least 2 dimensions.*\(5,\)"):
        init._calculate_fan_in_and_fan_out(mg.zeros(5))
    with pytest.raises(ValueError, match="fan_avg"):
        init.kaiming_uniform_(mg.zeros(3, 3), mode="fan_avg")


@needs_torch
@pytest.mark.parametrize("shape", SHAPES)
def test_fans_match_pytorch(shape):
    ours = init._calculate_fan_in_and_fan_out(mg.zeros(*shape))
    theirs = torch.nn.init._calculate_fan_in_and_fan_out(torch.zeros(*shape))
    assert ours == theirs


@needs_torch
def test_gains_match_pytorch():
    for name in ["linear", "conv1d", "conv2d", "conv3d", "conv_transpose2d", "sigmoid", "tanh", "relu", "selu"]:
        assert init.calculate_gain(name) == pytest.approx(torch.nn.init.calculate_gain(name), rel=1e-12)
    for slope in [None, 0.0, 0.2, math.sqrt(5)]:
        assert init.calculate_gain("leaky_relu", slope) == pytest.approx(
            torch.nn.init.calculate_gain("leaky_relu", slope), rel=1e-12)
    with pytest.raises(ValueError, match="unsupported nonlinearity 'swish'"):
        init.calculate_gain("swish")


def test_gain_values():
    assert init.calculate_gain("tanh") == pytest.approx(5 / 3)
    assert init.calculate_gain("relu") == pytest.approx(math.sqrt(2))
    assert init.calculate_gain("leaky_relu", 1.0) == pytest.approx(1.0)


def _std_ok(values, expected, rel=0.03):
    assert abs(values.std() / expected - 1) < rel, f"std {values.std()} vs expected {expected}"
    assert abs(values.mean()) < 4 * expected / math.sqrt(values.size) + 1e-12


def test_uniform_and_normal_statistics():
    t = mg.empty(300, 400)
    init.uniform_(t, -2.0, 3.0)
    assert t.data.min() >= -2.0 and t.data.max() <= 3.0
    assert abs(t.data.mean() - 0.5) < 0.02
    assert abs(t.data.std() - 5 / math.sqrt(12)) < 0.02
    init.normal_(t, 1.5, 0.5)
    assert abs(t.data.mean() - 1.5) < 0.005
    assert abs(t.data.std() - 0.5) < 0.01


@pytest.mark.parametrize("shape", [(256, 512), (64, 32, 3, 3)])
def test_xavier_statistics(shape):
    fan_in, fan_out = init._calculate_fan_in_and_fan_out(mg.zeros(*shape))
    std = 0.7 * math.sqrt(2 / (fan_in + fan_out))
    t = init.xavier_uniform_(mg.empty(*shape), gain=0.7)
    _std_ok(t.data, std)
    assert np.abs(t.data).max() <= math.sqrt(3) * std * (1 + 1e-6)
    _std_ok(init.xavier_normal_(mg.empty(*shape), gain=0.7).data, std)


@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
@pytest.mark.parametrize("nonlinearity,a", [("relu", 0), ("leaky_relu", 0.2), ("leaky_relu", math.sqrt(5)),
                                            ("tanh", 0), ("linear", 0)])
def test_kaiming_statistics(mode, nonlinearity, a):
    shape = (128, 64, 3, 3)
    fan = 64 * 9 if mode == "fan_in" else 128 * 9
    std = init.calculate_gain(nonlinearity, a) / math.sqrt(fan)
    t = init.kaiming_uniform_(mg.empty(*shape), a=a, mode=mode, nonlinearity=nonlinearity)
    _std_ok(t.data, std)
    assert np.abs(t.data).max() <= math.sqrt(3) * std * (1 + 1e-6)
    _std_ok(init.kaiming_normal_(mg.empty(*shape), a=a, mode=mode, nonlinearity=nonlinearity).data, std)


class _ConstantGenerator:
    """A stand-in generator whose uniform draws are all 1 and normal draws all 1: the init then writes
    exactly its upper bound (uniform) or its standard deviation (normal), so formulas can be checked exactly."""

    def random(self, size, dtype=np.float64):
        return np.ones(size, dtype=dtype)

    def standard_normal(self, size, dtype=np.float64):
        return np.ones(size, dtype=dtype)


@pytest.mark.parametrize("shape", [(3, 5), (4, 2, 3, 3)])
def test_init_scales_are_exactly_pytorchs_formulas(shape):
    gen = _ConstantGenerator()
    fan_in = int(np.prod(shape[1:]))
    fan_out = shape[0] * int(np.prod(shape[2:]))

    def value(fn, **kw):
        return float(fn(mg.empty(*shape, dtype=mg.float64), generator=gen, **kw).data.reshape(-1)[0])

    assert value(init.xavier_uniform_, gain=2.0) == pytest.approx(2.0 * math.sqrt(6 / (fan_in + fan_out)))
    assert value(init.xavier_normal_, gain=2.0) == pytest.approx(2.0 * math.sqrt(2 / (fan_in + fan_out)))
    assert value(init.kaiming_uniform_, a=math.sqrt(5)) == pytest.approx(1 / math.sqrt(fan_in))
    assert value(init.kaiming_uniform_, mode="fan_out", nonlinearity="relu") == pytest.approx(
        math.sqrt(2) * math.sqrt(3 / fan_out))
    assert value(init.kaiming_normal_, a=0.2) == pytest.approx(math.sqrt(2 / (1 + 0.04)) / math.sqrt(fan_in))
    assert value(init.kaiming_normal_, mode="fan_out", nonlinearity="tanh") == pytest.approx(
        5 / 3 / math.sqrt(fan_out))
    assert value(init.uniform_, a=-1.0, b=4.0) == pytest.approx(4.0)
    assert value(init.normal_, mean=1.0, std=3.0) == pytest.approx(4.0)


def test_kaiming_uniform_with_a_sqrt5_is_pytorchs_linear_default():
    t = init.kaiming_uniform_(mg.empty(200, 300), a=math.sqrt(5))
    bound = 1 / math.sqrt(300)
    assert np.abs(t.data).max() <= bound
    assert np.abs(t.data).max() > 0.99 * bound


@pytest.mark.parametrize("shape", [(6, 10), (10, 6), (8, 2, 3, 3), (5, 5)])
def test_orthogonal(shape):
    t = init.orthogonal_(mg.empty(*shape), gain=2.0)
    flat = t.data.reshape(shape[0], -1).astype(np.float64)
    rows, cols = flat.shape
    gram = flat @ flat.T if rows <= cols else flat.T @ flat
    np.testing.assert_allclose(gram, 4.0 * np.eye(min(rows, cols)), atol=1e-5)
    assert t.dtype == np.float32


def test_orthogonal_matrices_are_uniformly_distributed():
    """Haar-distributed matrices have symmetric entries: a QR without the sign fix is biased."""
    corners = [init.orthogonal_(mg.empty(3, 3, dtype=mg.float64)).data[0, 0] for _ in range(200)]
    assert abs(np.mean(corners)) < 0.15


def test_orthogonal_is_not_always_the_same_matrix():
    a = init.orthogonal_(mg.empty(4, 4)).data.copy()
    b = init.orthogonal_(mg.empty(4, 4)).data.copy()
    assert not np.allclose(a, b)


def test_trunc_normal_stays_in_bounds():
    t = init.trunc_normal_(mg.empty(100, 100), mean=0.5, std=1.0, a=0.0, b=1.0)
    assert t.data.min() >= 0.0 and t.data.max() <= 1.0
    assert 0.45 < t.data.mean() < 0.55  # symmetric around 0.5 within the interval


def test_constant_fills_and_eye():
    t = mg.empty(3, 4)
    assert np.all(init.constant_(t, 2.5).data == 2.5)
    assert np.all(init.zeros_(t).data == 0) and np.all(init.ones_(t).data == 1)
    np.testing.assert_array_equal(init.eye_(t).data, np.eye(3, 4))
    with pytest.raises(ValueError, match="2-D"):
        init.eye_(mg.empty(2, 2, 2))


def test_inits_work_in_place_on_parameters_and_keep_dtype():
    layer = nn.Linear(20, 30)
    w = layer.weight
    data_before, version = w.data, w._version[0]
    for fn in (init.uniform_, init.normal_, init.xavier_uniform_, init.xavier_normal_, init.kaiming_uniform_,
               init.kaiming_normal_, init.orthogonal_, init.zeros_, init.ones_, init.trunc_normal_):
        out = fn(w)
        assert out is w and w.data is data_before, fn.__name__  # same tensor, same memory
        assert w.dtype == np.float32 and w.requires_grad and w.is_leaf, fn.__name__
    assert w._version[0] > version  # a saved tensor that gets re-initialised cannot be used by backward
    t64 = init.normal_(mg.empty(3, 3, dtype=mg.float64))
    assert t64.dtype == np.float64
    with pytest.raises(TypeError, match="floating-point.*int64"):
        init.normal_(mg.zeros(3, dtype=mg.int64))


def test_init_is_reproducible_under_manual_seed():
    mg.manual_seed(7)
    a = init.kaiming_normal_(mg.empty(5, 5)).data.copy()
    mg.manual_seed(7)
    b = init.kaiming_normal_(mg.empty(5, 5)).data.copy()
    np.testing.assert_array_equal(a, b)
    mg.manual_seed(7)
    l1 = nn.Linear(4, 4)
    mg.manual_seed(7)
    l2 = nn.Linear(4, 4)
    np.testing.assert_array_equal(l1.weight.data, l2.weight.data)
    np.testing.assert_array_equal(l1.bias.data, l2.bias.data)


def test_zero_element_tensors_are_left_alone():
    t = mg.empty(0, 3)
    assert init.kaiming_uniform_(t) is t
    assert init.orthogonal_(t) is t
