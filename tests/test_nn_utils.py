"""mg.nn.utils: gradient clipping, parameters <-> vector, detach_state for truncated BPTT."""
import collections
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad as mg
from minigrad.nn import Parameter
from minigrad.nn.utils import (
    clip_grad_norm_, clip_grad_value_, detach_state, parameters_to_vector, vector_to_parameters,
)


def _params_with_grads(grads, dtype=np.float64):
    params = []
    for g in grads:
        p = Parameter(mg.tensor(np.zeros(np.shape(g), dtype=dtype)))
        p.grad = None if g is None else mg.tensor(np.asarray(g, dtype=dtype))
        params.append(p)
    return params


# ----------------------------------------------------------------------------- clip_grad_norm_
def test_clip_grad_norm_returns_total_norm_and_scales():
    params = _params_with_grads([[3.0, 0.0], [[0.0], [4.0]], None])
    grad_arrays = [p.grad.data for p in params[:2]]
    total = clip_grad_norm_(params, max_norm=1.0)
    assert isinstance(total, mg.Tensor) and total.shape == () and total.item() == pytest.approx(5.0)
    scale = 1.0 / (5.0 + 1e-6)
    np.testing.assert_allclose(params[0].grad.data, [3.0 * scale, 0.0], rtol=1e-12)
    np.testing.assert_allclose(params[1].grad.data, [[0.0], [4.0 * scale]], rtol=1e-12)
    assert params[0].grad.data is grad_arrays[0] and params[1].grad.data is grad_arrays[1]  # in place
    assert params[2].grad is None


def test_clip_grad_norm_leaves_small_gradients_alone():
    params = _params_with_grads([[0.3, -0.4]])
    total = clip_grad_norm_(params, max_norm=2.0)
    assert total.item() == pytest.approx(0.5)
    np.testing.assert_array_equal(params[0].grad.data, [0.3, -0.4])


@pytest.mark.parametrize("norm_type,expected", [
    (1, 10.0), (math.inf, 4.0), ("inf", 4.0), (3, (1 + 8 + 27 + 64) ** (1 / 3)),
])
def test_clip_grad_norm_other_norms(norm_type, expected):
    params = _params_with_grads([[1.0, -2.0], [3.0, -4.0]])
    total = clip_grad_norm_(params, max_norm=1.0, norm_type=norm_type)
    assert total.item() == pytest.approx(expected, rel=1e-12)
    clipped = np.concatenate([p.grad.data for p in params])
    after = np.linalg.norm(clipped, ord=float(norm_type))
    assert after == pytest.approx(1.0, rel=1e-5)


def test_clip_grad_norm_single_tensor_float32_and_empty():
    p = Parameter(mg.zeros(3))
    p.grad = mg.tensor([2.0, 0.0, 0.0])
    total = clip_grad_norm_(p, 0.5)
    assert total.dtype == np.float32 and p.grad.dtype == np.float32
    np.testing.assert_allclose(p.grad.data, [0.5, 0.0, 0.0], rtol=1e-5)
    assert clip_grad_norm_([Parameter(mg.zeros(2))], 1.0).item() == 0.0  # no gradients at all


def test_clip_grad_norm_nonfinite():
    params = _params_with_grads([[1.0, np.inf]])
    with pytest.raises(RuntimeError, match="non-finite|is inf"):
        clip_grad_norm_(params, 1.0, error_if_nonfinite=True)
    np.testing.assert_array_equal(params[0].grad.data, [1.0, np.inf])  # untouched after the error
    params = _params_with_grads([[1.0, np.nan]])
    total = clip_grad_norm_(params, 1.0)  # no RuntimeWarning either (pytest.ini turns those into errors)
    assert math.isnan(total.item()) and np.isnan(params[0].grad.data).all()
    params = _params_with_grads([[1.0, np.inf]])
    assert clip_grad_norm_(params, 1.0).item() == np.inf
    np.testing.assert_array_equal(params[0].grad.data, [0.0, np.nan])  # scaled by 0, inf * 0 = nan: as PyTorch


def test_clip_grad_bad_input():
    with pytest.raises(TypeError, match="item 1 is a ndarray"):
        clip_grad_norm_([Parameter(mg.zeros(1)), np.zeros(2)], 1.0)
    with pytest.raises(ValueError, match="clip_value must be >= 0"):
        clip_grad_value_(_params_with_grads([[1.0]]), -1.0)


@settings(max_examples=8)
@given(shapes=st.lists(st.lists(st.integers(1, 4), min_size=0, max_size=3), min_size=1, max_size=4),
       max_norm=st.floats(0.01, 10.0), seed=st.integers(0, 2 ** 16))
def test_clip_grad_norm_property(shapes, max_norm, seed):
    rng = np.random.default_rng(seed)
    grads = [rng.standard_normal(s) * 3 for s in shapes]
    params = _params_with_grads(grads)
    total = clip_grad_norm_(params, max_norm)
    norm = np.sqrt(sum((g ** 2).sum() for g in grads))
    assert total.item() == pytest.approx(norm, rel=1e-12)
    new_norm = np.sqrt(sum((p.grad.data ** 2).sum() for p in params))
    assert new_norm == pytest.approx(min(norm, max_norm), rel=1e-5)
    for p, g in zip(params, grads):  # every gradient scaled by the same factor: directions kept
        np.testing.assert_allclose(p.grad.data, g * (new_norm / norm), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf])
def test_clip_grad_norm_matches_torch(norm_type):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    grads = [rng.standard_normal((4, 3)).astype(np.float32), rng.standard_normal(5).astype(np.float32)]
    params = _params_with_grads(grads, np.float32)
    t_params = [torch.zeros(g.shape, requires_grad=True) for g in grads]
    for tp, g in zip(t_params, grads):
        tp.grad = torch.tensor(g)
    expected = torch.nn.utils.clip_grad_norm_(t_params, 0.7, norm_type=norm_type)
    total = clip_grad_norm_(params, 0.7, norm_type=norm_type)
    assert total.dtype == np.float32
    np.testing.assert_allclose(total.item(), expected.item(), rtol=1e-6)
    for p, tp in zip(params, t_params):
        np.testing.assert_allclose(p.grad.data, tp.grad.numpy(), rtol=1e-6, atol=1e-7)


# ----------------------------------------------------------------------------- clip_grad_value_
def test_clip_grad_value():
    params = _params_with_grads([[-3.0, 0.5, 2.0], None], np.float32)
    array = params[0].grad.data
    assert clip_grad_value_(params, 1.0) is None
    np.testing.assert_array_equal(array, np.array([-1.0, 0.5, 1.0], dtype=np.float32))
    assert params[0].grad.data is array and array.dtype == np.float32


def test_clip_grad_value_matches_torch():
    torch = pytest.importorskip("torch")
    g = np.random.default_rng(0).standard_normal((6, 2))
    params = _params_with_grads([g])
    tp = torch.zeros(6, 2, dtype=torch.float64, requires_grad=True)
    tp.grad = torch.tensor(g)
    torch.nn.utils.clip_grad_value_([tp], 0.4)
    clip_grad_value_(params, 0.4)
    np.testing.assert_array_equal(params[0].grad.data, tp.grad.numpy())


def test_clipping_inside_a_training_step():
    model = mg.nn.Linear(4, 3)
    opt = mg.optim.SGD(model.parameters(), lr=0.1)
    x = mg.randn(5, 4) * 100
    model(x).pow(2).sum().backward()
    total = clip_grad_norm_(model.parameters(), 1.0)
    assert total.item() > 1.0
    after = math.sqrt(sum(float((p.grad * p.grad).sum().item()) for p in model.parameters()))
    assert after == pytest.approx(1.0, rel=1e-4)
    opt.step()


# ----------------------------------------------------------------------------- parameters <-> vector
def test_parameters_to_vector_and_back():
    a, b = Parameter(mg.tensor([[1.0, 2.0], [3.0, 4.0]])), Parameter(mg.tensor([5.0]))
    vec = parameters_to_vector([a, b])
    np.testing.assert_array_equal(vec.data, [1.0, 2.0, 3.0, 4.0, 5.0])
    (vec * mg.arange(5).float()).sum().backward()  # differentiable
    np.testing.assert_array_equal(a.grad.data, [[0.0, 1.0], [2.0, 3.0]])
    np.testing.assert_array_equal(b.grad.data, [4.0])
    arrays = (a.data, b.data)
    vector_to_parameters(mg.tensor([9.0, 8.0, 7.0, 6.0, 5.5]), [a, b])
    np.testing.assert_array_equal(a.data, [[9.0, 8.0], [7.0, 6.0]])
    assert b.data[0] == 5.5 and a.data is arrays[0] and b.data is arrays[1]
    with pytest.raises(ValueError, match=r"vec has 3 elements, but the parameters \(\(2, 2\), \(1,\)\) have 5"):
        vector_to_parameters(mg.zeros(3), [a, b])
    with pytest.raises(TypeError, match="expected vec to be a Tensor"):
        vector_to_parameters(np.zeros(5), [a, b])


# ----------------------------------------------------------------------------- detach_state
def test_detach_state_cuts_the_graph():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    w = mg.tensor([0.5, -1.0], requires_grad=True)
    h, c = x * 2.0, x * 3.0
    state = (h, [c, (h, None)])
    detached = detach_state(state)
    assert isinstance(detached, tuple) and isinstance(detached[1], list) and isinstance(detached[1][1], tuple)
    assert detached[1][1][1] is None
    for t in (detached[0], detached[1][0], detached[1][1][0]):
        assert t.grad_fn is None and not t.requires_grad
    np.testing.assert_array_equal(detached[1][0].data, [3.0, 6.0])
    assert detached[0].data is h.data  # shares memory, like Tensor.detach
    h2, (c2, _) = detached[0], detached[1]
    loss = (h2 * w).sum() + (c2 * w).sum()
    loss.backward()
    assert x.grad is None  # backward stopped at the detached state
    np.testing.assert_array_equal(w.grad.data, [5.0, 10.0])


def test_detach_state_in_truncated_bptt():
    cell = mg.nn.RNNCell(3, 4)
    h = mg.zeros(2, 4)
    earlier = None
    for chunk in range(3):
        h = detach_state(h)
        if chunk == 1:
            earlier = h
        for _ in range(2):
            h = cell(mg.randn(2, 3), h)
    h.sum().backward()
    assert earlier.grad is None and earlier.grad_fn is None  # nothing flowed back into chunk 0
    assert cell.weight_hh.grad is not None


def test_detach_state_keeps_namedtuples_and_rejects_junk():
    Pair = collections.namedtuple("Pair", "h c")
    x = mg.tensor([1.0], requires_grad=True)
    out = detach_state(Pair(x * 2, x * 3))
    assert type(out) is Pair and out.c.grad_fn is None and out.h.item() == 2.0
    assert detach_state(None) is None
    with pytest.raises(TypeError, match="got str"):
        detach_state("h")


# ----------------------------------------------------------------------------- GPU
@pytest.mark.gpu
def test_clip_grad_norm_gpu():
    grads = [np.array([3.0, 0.0], dtype=np.float32), np.array([4.0], dtype=np.float32)]
    params = []
    for g in grads:
        p = Parameter(mg.zeros(g.shape, device="cuda"))
        p.grad = mg.tensor(g, device="cuda")
        params.append(p)
    total = clip_grad_norm_(params, 1.0)
    assert total.device == "cuda" and total.dtype == np.float32
    assert total.item() == pytest.approx(5.0, rel=1e-6)
    np.testing.assert_allclose(params[0].grad.cpu().numpy(), [0.6, 0.0], rtol=1e-5)
    clip_grad_value_(params, 0.1)
    np.testing.assert_allclose(params[0].grad.cpu().numpy(), [0.1, 0.0], rtol=1e-6)
    vec = parameters_to_vector(params)
    assert vec.device == "cuda" and vec.shape == (3,)
    vector_to_parameters(mg.ones(3, device="cuda"), params)
    assert params[1].cpu().detach().numpy()[0] == 1.0
