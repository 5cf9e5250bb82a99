"""The table in minigrad/api.py is what Tensor and ``mg.`` have: every row installed, nothing from elsewhere."""
import ast
import os
import types

import numpy as np
import pytest

import minigrad as mg
from minigrad import api
from minigrad.autograd.engine import Tensor

ROOT = os.path.dirname(mg.__file__)

# What the Tensor class (minigrad/autograd/: engine.py, tensor_data.py, hooks.py) defines itself: not ops.
CLASS_LEVEL = {
    "__init__", "__repr__", "__len__", "__bool__", "__float__", "__int__", "__index__", "__hash__",
    "__array_ufunc__", "__array_priority__",
    "data", "grad", "grad_fn", "requires_grad", "is_leaf", "shape", "ndim", "dtype", "device", "is_cuda",
    "backward", "detach", "detach_", "requires_grad_", "item", "tolist", "numpy", "size", "dim", "numel",
    "retain_grad", "retains_grad", "register_hook", "register_post_accumulate_grad_hook",
    "_requires_grad", "_out_index", "_version", "_retains_grad", "_hooks", "_post_hooks", "_bump_version",
}
# Written by Python for every class body, or by __slots__.
CLASS_BODY = {"__module__", "__qualname__", "__doc__", "__slots__", "__weakref__", "__dict__", "__firstlineno__",
              "__static_attributes__"}
# Public mg. functions that are not ops: the backend's settings and checkpoints.
NOT_OPS = {"cuda_available", "get_num_threads", "set_num_threads", "get_rng_state", "set_rng_state", "manual_seed",
           "is_grad_enabled", "load", "save"}


def _rows():
    for fn, names, methods, operators in api.FUNCTIONS:
        yield fn, names.split(), methods.split(), operators.split()


def test_rows_are_well_formed():
    seen_mg, seen_attr = set(), set()
    for fn, names, methods, operators in _rows():
        assert callable(fn) and (names or methods or operators), fn
        for op in operators:
            assert op.startswith("__") and op.endswith("__"), op
        for name in names:
            assert name not in seen_mg, f"mg.{name} is in two rows"
            seen_mg.add(name)
        for attr in methods + operators:
            assert attr not in seen_attr, f"Tensor.{attr} is in two rows"
            seen_attr.add(attr)
    for op in api.REFLECTED:
        assert op in seen_attr, op
    for op, plain in api.AUGMENTED.items():
        assert op in seen_attr and plain in seen_attr, op


def test_every_row_is_installed():
    for fn, names, methods, operators in _rows():
        for name in names:
            assert getattr(mg, name) is fn, f"mg.{name}"
        for method in methods:
            assert vars(Tensor)[method] is fn, f"Tensor.{method}"
        for op in operators:
            installed = vars(Tensor)[op]
            if op in api.REFLECTED:
                assert installed.__wrapped__ is fn, op
            elif op in api.AUGMENTED:
                assert installed.__wrapped__ is vars(Tensor)[api.AUGMENTED[op]], op
            else:
                assert installed is fn, op
    for fn, name in api.PROPERTIES:
        assert isinstance(vars(Tensor)[name], property) and vars(Tensor)[name].fget is fn, name


def test_operators_from_the_table_work():
    x = mg.tensor([1.0, 2.0, 4.0])
    assert (2 - x).tolist() == [1.0, 0.0, -2.0]  # __rsub__: the operands swapped
    assert (8 / x).tolist() == [8.0, 4.0, 2.0]
    assert (2 ** x).tolist() == [2.0, 4.0, 16.0]
    assert (7 % x).tolist() == [0.0, 1.0, 3.0] and (7 // x).tolist() == [7.0, 3.0, 1.0]
    assert ([1.0, 1.0, 1.0] @ x).item() == 7.0
    assert (True & (x > 1)).tolist() == [False, True, True]
    assert (+x) is x and [t.item() for t in x] == [1.0, 2.0, 4.0]
    assert x.T.shape == (3,) and mg.ones(2, 3).mT.shape == (3, 2)
    before = x
    x += 1  # a tensor outside the graph: __iadd__ works in place
    assert x is before and x.tolist() == [2.0, 3.0, 5.0]
    w = mg.tensor([1.0, 2.0], requires_grad=True)
    y = w * 2
    y += 1  # part of the graph: rebinds to y + 1, differentiable
    y.sum().backward()
    assert w.grad.tolist() == [2.0, 2.0]


def test_tensor_has_no_method_from_outside_the_table_or_the_class():
    table = {p for _, p in api.PROPERTIES}
    for _, _, methods, operators in _rows():
        table.update(methods, operators)
    defined = set()
    for cls in Tensor.__mro__[:-1]:  # Tensor and its bases, not object
        defined.update(vars(cls))
    extra = defined - table - CLASS_LEVEL - CLASS_BODY
    assert not extra, f"Tensor attributes neither in minigrad/api.py nor in the class: {sorted(extra)}"
    overlap = table & CLASS_LEVEL
    assert not overlap, f"both in the table and in the class: {sorted(overlap)}"
    missing = CLASS_LEVEL - defined
    assert not missing, missing


def test_every_public_function_of_mg_is_in_the_table():
    table = {name for _, names, _, _ in _rows() for name in names}
    functions = {name for name, value in vars(mg).items()
                 if not name.startswith("_") and isinstance(value, types.FunctionType)}
    assert functions - table == NOT_OPS
    assert table <= set(vars(mg))


def _assignments_to_tensor(tree):
    """(line, attribute) of each ``Tensor.x = ...`` and ``setattr(Tensor, ...)`` in a module."""
    for node in ast.walk(tree):
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id == "Tensor":
                    yield node.lineno, t.attr
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "setattr"
              and node.args and isinstance(node.args[0], ast.Name) and node.args[0].id == "Tensor"):
            yield node.lineno, "setattr"


def test_only_the_table_attaches_to_tensor():
    found = []
    for folder, _, files in os.walk(ROOT):
        for f in files:
            if f.endswith(".py"):
                path = os.path.join(folder, f)
                rel = os.path.relpath(path, ROOT)
                tree = ast.parse(open(path, encoding="utf-8").read())
                found += [(rel.replace(os.sep, "/"), attr) for _, attr in _assignments_to_tensor(tree)]
    # api.install's setattr calls; the engine's requires_grad property (its setter checks the dtype)
    assert sorted(set(found)) == [("api.py", "setattr"), ("autograd/engine.py", "requires_grad")], found


@pytest.mark.parametrize("other", [mg.tensor([2.0, 3.0]), 0.5, 2, np.float64(2.0), [1.0, 2.0], np.ones(2),
                                   mg.tensor(2.0, dtype=mg.float64), mg.nn.Parameter(mg.tensor([1.0, 1.0]))])
def test_arithmetic_fast_path_and_slow_path_agree(other):
    x = mg.tensor([1.0, 4.0])
    for op in (np.add, np.subtract, np.multiply, np.true_divide):
        fn = {np.add: mg.add, np.subtract: mg.sub, np.multiply: mg.mul, np.true_divide: mg.div}[op]
        b = other.data if isinstance(other, Tensor) else np.asarray(other)
        expected = op(x.data, b)
        for got in (fn(x, other), {np.add: x + other, np.subtract: x - other, np.multiply: x * other,
                                   np.true_divide: x / other}[op]):
            # a float64 array with dimensions widens, as in NumPy; numbers and 0-d tensors do not
            want = mg.float64 if isinstance(other, np.ndarray) else mg.float32
            assert got.dtype == want, (op, other)
            np.testing.assert_allclose(got.data, expected.astype(want))
