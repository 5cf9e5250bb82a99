"""Edge cases of ops and layers: arguments that used to give a wrong result, a NaN or a bare traceback."""
import numpy as np
import pytest

import minigrad as mg

F = mg.nn.functional


def test_alpha_scales_a_list_operand_not_repeats_it():
    x = mg.tensor([1.0, 2.0])
    np.testing.assert_array_equal(mg.add(x, [1.0, 1.0], alpha=2).numpy(), [3.0, 4.0])
    np.testing.assert_array_equal(mg.sub(x, [1.0, 1.0], alpha=0.5).numpy(), [0.5, 1.5])
    np.testing.assert_array_equal(mg.add(mg.ones(2, 2), [1.0], alpha=2).numpy(), np.full((2, 2), 3.0))


@pytest.mark.parametrize("fn", [mg.floor, mg.sign, lambda x: mg.div(x, mg.tensor([2.0, 2.0]), rounding_mode="floor"),
                                lambda x: mg.div(x, mg.tensor([2.0, 2.0]), rounding_mode="trunc")])
def test_piecewise_constant_ops_give_zero_gradients_even_for_an_infinite_one(fn):
    x = mg.tensor([1.5, 2.5], requires_grad=True)
    out = fn(x)
    out.backward(mg.tensor([np.inf, -np.inf]))
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0])  # grad * 0 would be NaN


def test_clamp_with_constant_bounds_and_max_shares():
    x = mg.tensor([0.0, 1.0, 2.0], requires_grad=True)
    mg.clamp(x, min=mg.tensor(0.5), max=mg.tensor(1.5)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 1.0, 0.0])
    a = mg.tensor([1.0, 2.0, np.nan], requires_grad=True)
    b = mg.tensor([1.0, 3.0, 0.0], requires_grad=True)
    mg.maximum(a, b).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [0.5, 0.0, 1.0])
    np.testing.assert_array_equal(b.grad.numpy(), [0.5, 1.0, 1.0])
    assert a.grad.dtype == mg.float32


def test_lstm_cell_refuses_a_tensor_state():
    with pytest.raises(TypeError, match=r"lstm_cell: hx must be a tuple \(h, c\), got Tensor"):
        F.lstm_cell(mg.randn(2, 3), mg.zeros(2, 4), mg.randn(16, 3), mg.randn(16, 4))


def test_lengths_for_an_empty_batch_are_checked_like_any_other():
    gru = mg.nn.GRU(3, 4)
    with pytest.raises(ValueError, match=r"GRU: expected lengths with one entry per batch element \(0\)"):
        gru(mg.zeros(5, 0, 3), lengths=7)
    with pytest.raises(ValueError, match=r"got shape \(1,\)"):
        gru(mg.zeros(5, 0, 3), lengths=[1])
    assert gru(mg.zeros(5, 0, 3), lengths=[])[0].shape == (5, 0, 4)


def test_glu_repeat_interleave_interpolate_refuse_bad_arguments():
    with pytest.raises(IndexError, match="dim 5 is out of range for a tensor with 2 dimensions"):
        F.glu(mg.randn(3, 4), 5)
    with pytest.raises(IndexError, match="dim -3 is out of range"):
        F.glu(mg.randn(3, 4), -3)
    with pytest.raises(TypeError, match="repeat_interleave: repeats must be integers, got dtype float64"):
        mg.repeat_interleave(mg.tensor([1.0, 2.0]), 1.7)
    for kwargs in ({"size": 0}, {"scale_factor": 0.1}):
        with pytest.raises(ValueError, match=r"interpolate: output sizes \(0,\) must be positive"):
            F.interpolate(mg.randn(1, 1, 4), **kwargs)


@pytest.mark.parametrize("fn, name", [(lambda a, b: a < b, "less"), (mg.eq, "equal"),
                                      (mg.floor_divide, "floor_divide"), (mg.logical_and, "logical_and")])
def test_ops_outside_the_graph_name_shapes_that_do_not_broadcast(fn, name):
    with pytest.raises(ValueError, match=rf"{name}: shapes \(2,\) and \(3,\) cannot be broadcast together"):
        fn(mg.ones(2), mg.ones(3))
    with pytest.raises(ValueError, match=r"bitwise_and: shapes \(2,\) and \(3,\)"):
        mg.tensor([1, 2]) & mg.tensor([1, 2, 3])


def test_instance_norm_names_the_shapes_the_caller_passed():
    with pytest.raises(ValueError, match=r"instance_norm: running_mean must have shape \(4,\), got \(3,\)"):
        F.instance_norm(mg.randn(2, 4, 3), mg.zeros(3), mg.ones(3))
    with pytest.raises(ValueError, match=r"instance_norm: weight must have shape \(4,\), got \(3,\)"):
        F.instance_norm(mg.randn(2, 4, 3), weight=mg.ones(3))
