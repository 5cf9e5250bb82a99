"""Binary ops promote mixed dtypes as PyTorch does (NumPy's rule differs for integer with float)."""
import itertools

import numpy as np
import pytest

import minigrad as mg

DTYPES = ["bool", "uint8", "int32", "int64", "float16", "float32", "float64"]
OPS = ["add", "sub", "mul", "div", "pow", "maximum", "atan2", "remainder"]


def _make(lib, dtype, zero_dim):
    values = [True, True] if dtype == "bool" else ([1, 2] if "int" in dtype else [1.5, 2.0])
    x = lib.tensor(values, dtype=getattr(lib, dtype))
    return x[0] if zero_dim else x


@pytest.mark.parametrize("a, b, want", [
    (mg.tensor([1, 2]), 0.5, mg.float32),                                  # NumPy: float64
    (mg.tensor([1, 2]), mg.tensor([0.5, 1.0]), mg.float32),                # int64 * float32: NumPy float64
    (mg.tensor([1, 2]), mg.tensor(0.5, dtype=mg.float64), mg.float64),     # a 0-d of a higher category counts
    (mg.tensor([1, 2], dtype=mg.int32), mg.tensor(3), mg.int32),           # same category: the 0-d does not widen
    (mg.tensor([True, False]), 1, mg.int64),
    (mg.tensor([1.0, 2.0]), mg.tensor([1.0], dtype=mg.float64), mg.float64),
])
def test_promotion_examples(a, b, want):
    assert (a * b).dtype == want
    assert (b * a).dtype == want
    assert mg.maximum(a, b if isinstance(b, mg.Tensor) else mg.tensor(b)).dtype == want


def test_promotion_keeps_the_gradient_of_the_float_operand():
    w = mg.tensor([0.5, 2.0], requires_grad=True)
    (mg.tensor([3, 4]) * w).sum().backward()
    assert w.grad.dtype == mg.float32
    np.testing.assert_array_equal(w.grad.numpy(), [3.0, 4.0])


def test_every_dtype_pair_promotes_as_pytorch():
    torch = pytest.importorskip("torch")
    differ = []
    for a, b, op in itertools.product(DTYPES, DTYPES, OPS):
        for za, zb in ((False, False), (True, False), (False, True)):
            try:
                want = getattr(torch, op)(_make(torch, a, za), _make(torch, b, zb)).dtype
            except RuntimeError:  # a pair PyTorch refuses (e.g. bool - bool)
                continue
            got = getattr(mg, op)(_make(mg, a, za), _make(mg, b, zb)).dtype
            if str(want).replace("torch.", "") != str(got):
                differ.append((op, a, za, b, zb, str(want), str(got)))
    for number in (0.5, 2):
        for a, op in itertools.product(DTYPES, ("add", "mul", "pow")):
            if a == "bool" and op == "pow":  # PyTorch's bool ** number keeps bool, a case with no use
                continue
            want = getattr(torch, op)(_make(torch, a, False), number).dtype
            got = getattr(mg, op)(_make(mg, a, False), number).dtype
            if str(want).replace("torch.", "") != str(got):
                differ.append((op, a, number, str(want), str(got)))
    assert not differ, differ[:10]
