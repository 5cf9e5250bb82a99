"""Argument checks have one home (minigrad/nn/_checks.py) and one argument order: (value, fn, name)."""
import os
import re

import pytest

import minigrad as mg
from minigrad.nn import _checks

ROOT = os.path.dirname(mg.__file__)


def test_no_module_keeps_its_own_copy_of_a_check():
    copies = []
    for folder, _, files in os.walk(ROOT):
        for f in files:
            if f.endswith(".py") and f != "_checks.py":
                text = open(os.path.join(folder, f), encoding="utf-8").read()
                copies += [f"{f}: {m}" for m in re.findall(r"^def (_?check_(?:tensor|float|like|same_dtype))\(",
                                                           text, flags=re.M)]
    assert not copies, copies


def test_the_checks_name_the_function_and_the_argument():
    with pytest.raises(TypeError, match=r"^conv2d: weight must be a minigrad Tensor, got list$"):
        mg.nn.functional.conv2d(mg.zeros(1, 1, 3, 3), [[1.0]])
    with pytest.raises(TypeError, match=r"^linear: weight must be a floating-point tensor, got dtype int64$"):
        mg.nn.functional.linear(mg.zeros(2, 3), mg.zeros(4, 3, dtype=mg.int64))
    with pytest.raises(TypeError, match=r"^RNN: h_0 must be a minigrad Tensor, got ndarray$"):
        import numpy as np

        mg.nn.RNN(2, 3)(mg.zeros(4, 1, 2), np.zeros((1, 1, 3)))
    with pytest.raises(TypeError, match="input, weight and bias must have the same dtype"):
        _checks.check_floats_alike("conv2d", mg.zeros(2), mg.zeros(2, dtype=mg.float64))
