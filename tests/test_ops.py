"""Generic op tests driven by the registry: every op, every check.

* forward agrees with NumPy (float64, hypothesis-drawn shapes incl. 0-d,
  size-1 and broadcast dims);
* gradcheck (central differences) on every differentiable op;
* second-order gradcheck where the op supports it;
* float32 in gives float32 out and float32 gradients (no silent upcasts);
* forward and gradients agree with PyTorch when it is installed.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad as mg
from helpers import HAVE_TORCH, as_tuple, assert_close, mg_args, torch, torch_args
from op_registry import API_COVERAGE, BY_NAME, GRAD_OPS, GRADGRAD_OPS, REGISTRY


def _call(info, args, kwargs):
    return info.mg_fn(*args, **kwargs)


@pytest.mark.parametrize("info", REGISTRY, ids=str)
@given(data=st.data())
def test_forward_matches_numpy(info, data):
    sample = info.sample(data.draw)
    out = _call(info, mg_args(sample), sample.kwargs)
    expected = info.np_fn(*sample.args, **sample.kwargs)
    assert_close(out, expected, atol=info.atol, rtol=info.rtol, what=info.name)
    for o in as_tuple(out):
        if o.dtype.kind == "f":
            assert o.dtype == np.float64, f"{info.name}: float64 in, {o.dtype} out"


@pytest.mark.parametrize("info", GRAD_OPS, ids=str)
@given(data=st.data())
def test_gradcheck(info, data):
    sample = info.sample(data.draw)
    args = mg_args(sample)
    assert mg.autograd.gradcheck(lambda *xs: _call(info, xs, sample.kwargs), tuple(args), **info.gradcheck_kwargs)


@pytest.mark.parametrize("info", GRADGRAD_OPS, ids=str)
@settings(max_examples=4)
@given(data=st.data())
def test_gradgradcheck(info, data):
    sample = info.sample(data.draw)
    args = mg_args(sample)
    assert mg.autograd.gradgradcheck(lambda *xs: _call(info, xs, sample.kwargs), tuple(args),
                                     **info.gradcheck_kwargs)


@pytest.mark.parametrize("info", [i for i in GRAD_OPS if i.keeps_dtype], ids=str)
@settings(max_examples=3)
@given(data=st.data())
def test_float32_stays_float32(info, data):
    sample = info.sample(data.draw)
    args = mg_args(sample, dtype=np.float32)
    outs = [o for o in as_tuple(_call(info, args, sample.kwargs)) if o.dtype.kind == "f"]
    for o in outs:
        assert o.dtype == np.float32, f"{info.name}: float32 in, {o.dtype} out"
    total = sum((o * 1.0).sum() for o in outs if o.requires_grad)
    if isinstance(total, mg.Tensor) and total.requires_grad:
        total.backward()
        for a in args:
            if a.requires_grad and a.grad is not None:
                assert a.grad.dtype == np.float32, f"{info.name}: gradient {a.grad.dtype} for a float32 input"


@pytest.mark.skipif(not HAVE_TORCH, reason="PyTorch is not installed")
@pytest.mark.parametrize("info", [i for i in REGISTRY if i.torch_fn is not None], ids=str)
@settings(max_examples=5)
@given(data=st.data())
def test_matches_pytorch(info, data):
    sample = info.sample(data.draw)
    margs, targs = mg_args(sample), torch_args(sample)
    mout = as_tuple(_call(info, margs, sample.kwargs))
    tout = as_tuple(info.torch_fn(*targs, **sample.kwargs))
    assert_close(mout, tout, atol=info.atol, rtol=info.rtol, what=f"{info.name} forward vs torch")
    if not info.grad:
        return
    rng = np.random.default_rng(1)
    mtotal, ttotal = None, None
    for mo, to in zip(mout, tout):
        if not (mo.requires_grad and to.requires_grad):
            continue
        g = rng.standard_normal(mo.shape)
        mterm = (mo * mg.tensor(g)).sum()
        tterm = (to * torch.tensor(g)).sum()
        mtotal = mterm if mtotal is None else mtotal + mterm
        ttotal = tterm if ttotal is None else ttotal + tterm
    if mtotal is None:
        return
    mtotal.backward()
    ttotal.backward()
    for i, (ma, ta) in enumerate(zip(margs, targs)):
        if i in sample.constant:
            continue
        mg_grad = ma.grad if ma.grad is not None else mg.zeros_like(ma)
        t_grad = ta.grad if ta.grad is not None else torch.zeros_like(ta)
        assert_close(mg_grad, t_grad, atol=1e-6, rtol=1e-5, what=f"{info.name} grad of input {i} vs torch")


@pytest.mark.gpu
@pytest.mark.parametrize("info", REGISTRY, ids=str)
@settings(max_examples=3)
@given(data=st.data())
def test_cuda_matches_cpu(info, data):
    sample = info.sample(data.draw)
    cpu_args, gpu_args = mg_args(sample), mg_args(sample, device="cuda")
    cpu_out = as_tuple(_call(info, cpu_args, sample.kwargs))
    gpu_out = as_tuple(_call(info, gpu_args, sample.kwargs))
    for o in gpu_out:
        assert o.device.startswith("cuda"), f"{info.name}: output left the GPU ({o.device})"
    assert_close(gpu_out, cpu_out, atol=1e-9, rtol=1e-9, what=f"{info.name} cuda vs cpu")
    if not info.grad:
        return
    for outs, args in ((cpu_out, cpu_args), (gpu_out, gpu_args)):
        total = sum((o * o).sum().cpu() for o in outs if o.requires_grad)
        if isinstance(total, mg.Tensor):
            total.backward()
    for i, (c, g) in enumerate(zip(cpu_args, gpu_args)):
        if c.requires_grad and c.grad is not None:
            assert g.grad is not None and g.grad.device.startswith("cuda")
            assert_close(g.grad, c.grad, atol=1e-9, rtol=1e-9, what=f"{info.name} grad {i} cuda vs cpu")


def test_registry_covers_the_api():
    """Every op named in API.md's Tensors section has registry entries (and they exist)."""
    for api_name, entries in API_COVERAGE.items():
        assert entries, api_name
        for entry in entries:
            assert entry in BY_NAME, f"{api_name}: registry entry {entry!r} is missing"
    names = [i.name for i in REGISTRY]
    assert len(names) == len(set(names)), "duplicate registry names"
