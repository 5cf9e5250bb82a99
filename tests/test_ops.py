"""Generic op tests driven by the registry: every op, every check (the checks are minigrad.testing's).

* forward agrees with NumPy (float64, hypothesis-drawn shapes incl. 0-d,
  size-1 and broadcast dims);
* gradcheck (central differences) on every differentiable op;
* second-order gradcheck where the op supports it;
* float32 in gives float32 out and float32 gradients (no silent upcasts);
* forward and gradients agree with PyTorch when it is installed;
* every Op class in minigrad is run by some entry, or is listed below with the reason it is not.
"""
import inspect

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import minigrad as mg
from api_reference import names, read, resolve, section
from helpers import HAVE_TORCH
from minigrad import testing
from op_registry import API_COVERAGE, BY_NAME, GRAD_OPS, GRADGRAD_OPS, REGISTRY


@pytest.mark.parametrize("info", REGISTRY, ids=str)
@given(data=st.data())
def test_forward_matches_numpy(info, data):
    testing.check_forward(info, info.sample(data.draw))


@pytest.mark.parametrize("info", GRAD_OPS, ids=str)
@given(data=st.data())
def test_gradcheck(info, data):
    testing.check_gradcheck(info, info.sample(data.draw))


@pytest.mark.parametrize("info", GRADGRAD_OPS, ids=str)
@settings(max_examples=4)
@given(data=st.data())
def test_gradgradcheck(info, data):
    testing.check_gradgradcheck(info, info.sample(data.draw))


@pytest.mark.parametrize("info", [i for i in GRAD_OPS if i.keeps_dtype], ids=str)
@settings(max_examples=3)
@given(data=st.data())
def test_float32_stays_float32(info, data):
    testing.check_float32(info, info.sample(data.draw))


@pytest.mark.skipif(not HAVE_TORCH, reason="PyTorch is not installed")
@pytest.mark.parametrize("info", [i for i in REGISTRY if i.torch_fn is not None], ids=str)
@settings(max_examples=5)
@given(data=st.data())
def test_matches_pytorch(info, data):
    testing.check_pytorch(info, info.sample(data.draw))


@pytest.mark.gpu
@pytest.mark.parametrize("info", REGISTRY, ids=str)
@settings(max_examples=3)
@given(data=st.data())
def test_cuda_matches_cpu(info, data):
    testing.check_cuda(info, info.sample(data.draw))


# Tensor operations listed in docs/api.md that no registry entry runs, and why.  Any other op listed there
# without an entry fails the test below.
LISTED_WITHOUT_ENTRIES = {
    "mg.equal": "returns a Python bool, not a tensor (test_equal_and_allclose_answer_with_python_bools)",
    "mg.allclose": "returns a Python bool, not a tensor (test_equal_and_allclose_answer_with_python_bools)",
    "mg.broadcast_shapes": "arithmetic on shape tuples, no tensor involved",
}


def _api_reference_ops():
    """The ops listed under "Tensor operations" in docs/api.md (mg.x and Tensor.x names, result types aside)."""
    listed = names(section(read(), "Tensor operations"))
    return [n for n in listed if not inspect.isclass(resolve(n))]


def _entries(dotted, by_function):
    name = dotted.split(".", 1)[1]
    if name in API_COVERAGE:
        return API_COVERAGE[name]
    if name in BY_NAME:
        return [name]
    return by_function.get(resolve(dotted), [])  # another name of an op with entries (Tensor.divide is div)


def test_registry_covers_the_api():
    """Every op listed under "Tensor operations" in docs/api.md has registry entries (and they exist)."""
    listed = _api_reference_ops()
    assert len(listed) > 100 and "mg.exp" in listed and "Tensor.view" in listed, listed
    by_function = {}
    for dotted in listed:  # ops whose entries are found by name also cover their aliases
        name = dotted.split(".", 1)[1]
        if name in API_COVERAGE or name in BY_NAME:
            by_function.setdefault(resolve(dotted), []).extend(API_COVERAGE.get(name, [name]))
    uncovered = []
    for dotted in listed:
        entries = _entries(dotted, by_function)
        for entry in entries:
            assert entry in BY_NAME, f"{dotted}: registry entry {entry!r} is missing"
        if not entries and dotted not in LISTED_WITHOUT_ENTRIES:
            uncovered.append(dotted)
    assert not uncovered, f"ops listed in docs/api.md without registry entries: {uncovered}"
    stale = [n for n in LISTED_WITHOUT_ENTRIES if n not in listed or _entries(n, by_function)]
    assert not stale, f"LISTED_WITHOUT_ENTRIES names ops that are not listed or do have entries: {stale}"
    for api_name, entries in API_COVERAGE.items():
        assert entries, api_name
        for entry in entries:
            assert entry in BY_NAME, f"{api_name}: registry entry {entry!r} is missing"
    names_ = [i.name for i in REGISTRY]
    assert len(names_) == len(set(names_)), "duplicate registry names"


def test_equal_and_allclose_answer_with_python_bools():
    a = mg.tensor([1.0, 2.0])
    assert mg.equal(a, mg.tensor([1.0, 2.0])) is True and a.equal(mg.tensor([1.0, 3.0])) is False
    assert mg.equal(a, mg.tensor([1.0, 2.0, 3.0])) is False  # different shapes
    assert mg.allclose(a, a + 1e-9) is True and a.allclose(a + 1e-3) is False
    assert mg.allclose(a, a + 0.1, atol=0.2) is True


# Op classes that no registry entry runs, and why.  Anything else without an entry fails the test below.
NOT_IN_THE_REGISTRY = {
    "_RecurrentLayerOp": "base class of the fused recurrent layer ops",
    "_NormalizeOp": "base class of BatchNormOp and LayerNormOp",
    "_UserOp": "the node of every mg.autograd.Function (test_engine.py)",
    "ToDevice": "moves a tensor between devices: needs a GPU (test_devices.py, gpu tests)",
    "DropoutOp": "random masks (test_nn_layers.py checks it against its own mask)",
    "RNNLayerOp": "fused layer, checked against the unrolled cells (test_rnn_fused.py)",
    "GRULayerOp": "fused layer, checked against the unrolled cells (test_rnn_fused.py)",
    "LSTMLayerOp": "fused layer, checked against the unrolled cells (test_rnn_fused.py)",
    "MaxPool2dGather": "runs only in max_pool2d's second-order backward (its gradgradcheck)",
}


def test_every_op_class_has_an_entry():
    """Walk every Op subclass in minigrad: some registry entry must run it (forward or backward).

    Each entry runs on a few samples (derandomized, so the walk is the same every time), because
    some ops run only for some parameters (``norm`` with p=2)."""
    run = set()

    @settings(max_examples=6, derandomize=True, phases=[Phase.generate], deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(data=st.data())
    def walk(data):
        for info in REGISTRY:
            run.update(testing.ops_exercised(info, info.sample(data.draw)))

    walk()
    classes = testing.op_classes()
    missing = sorted(set(classes) - run - set(NOT_IN_THE_REGISTRY))
    assert not missing, f"Op classes no registry entry runs (add an entry, or an exemption with a reason): {missing}"
    stale = sorted(set(NOT_IN_THE_REGISTRY) - set(classes))
    assert not stale, f"exemptions for Op classes that no longer exist: {stale}"
