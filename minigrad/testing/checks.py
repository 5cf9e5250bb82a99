"""The checks the registry drives, each on one drawn :class:`~minigrad.testing.Sample`."""
from __future__ import annotations

import numpy as np

import minigrad as mg

from ..autograd.engine import Op


def _torch():
    try:
        import torch  # noqa: PLC0415 - optional: only the PyTorch check needs it
    except ImportError:
        return None
    return torch


def as_tuple(x):
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def mg_args(sample, dtype=np.float64, device="cpu", requires_grad=True):
    """The sample's arrays as minigrad tensors (differentiable ones require grad)."""
    out = []
    for i, a in enumerate(sample.args):
        if i in sample.constant:
            out.append(mg.tensor(a, device=device))
        else:
            out.append(mg.tensor(np.asarray(a, dtype=dtype), device=device, requires_grad=requires_grad))
    return out


def torch_args(sample):
    """The sample's arrays as float64 PyTorch tensors."""
    torch = _torch()
    out = []
    for i, a in enumerate(sample.args):
        if i in sample.constant:
            out.append(torch.as_tensor(a))
        else:
            out.append(torch.tensor(a, dtype=torch.float64, requires_grad=True))
    return out


def to_numpy(x):
    if isinstance(x, mg.Tensor):
        return mg._backend.to_device(x.data, "cpu")
    torch = _torch()
    if torch is not None and isinstance(x, torch.Tensor):
        return x.detach().numpy()
    return np.asarray(x)


def assert_close(actual, expected, atol=1e-6, rtol=1e-5, what=""):
    """Outputs (tensors, PyTorch tensors or arrays, one or a tuple) agree in number, shape and value."""
    actual, expected = as_tuple(actual), as_tuple(expected)
    assert len(actual) == len(expected), f"{what}: {len(actual)} outputs vs {len(expected)}"
    for k, (a, e) in enumerate(zip(actual, expected)):
        a, e = to_numpy(a), to_numpy(e)
        assert a.shape == e.shape, f"{what} output {k}: shape {a.shape} vs expected {e.shape}"
        np.testing.assert_allclose(a.astype(np.float64) if a.dtype != bool else a,
                                   e.astype(np.float64) if e.dtype != bool else e,
                                   atol=atol, rtol=rtol, err_msg=f"{what} output {k}")


def check_forward(info, sample):
    """The forward agrees with ``info.np_fn`` in float64, and float64 in gives float64 out."""
    out = info.mg_fn(*mg_args(sample), **sample.kwargs)
    expected = info.np_fn(*sample.args, **sample.kwargs)
    assert_close(out, expected, atol=info.atol, rtol=info.rtol, what=info.name)
    for o in as_tuple(out):
        if o.dtype.kind == "f":
            assert o.dtype == np.float64, f"{info.name}: float64 in, {o.dtype} out"


def check_gradcheck(info, sample):
    """First derivatives against central differences."""
    args = mg_args(sample)
    assert mg.autograd.gradcheck(lambda *xs: info.mg_fn(*xs, **sample.kwargs), tuple(args), **info.gradcheck_kwargs)


def check_gradgradcheck(info, sample):
    """Second derivatives against central differences of the first."""
    args = mg_args(sample)
    assert mg.autograd.gradgradcheck(lambda *xs: info.mg_fn(*xs, **sample.kwargs), tuple(args),
                                     **info.gradcheck_kwargs)


def check_float32(info, sample):
    """float32 in gives float32 out and float32 gradients (no silent float64 upcast)."""
    args = mg_args(sample, dtype=np.float32)
    outs = [o for o in as_tuple(info.mg_fn(*args, **sample.kwargs)) if o.dtype.kind == "f"]
    for o in outs:
        assert o.dtype == np.float32, f"{info.name}: float32 in, {o.dtype} out"
    total = sum((o * 1.0).sum() for o in outs if o.requires_grad)
    if isinstance(total, mg.Tensor) and total.requires_grad:
        total.backward()
        for a in args:
            if a.requires_grad and a.grad is not None:
                assert a.grad.dtype == np.float32, f"{info.name}: gradient {a.grad.dtype} for a float32 input"


def check_pytorch(info, sample):
    """Forward and gradients agree with ``info.torch_fn`` (float64)."""
    torch = _torch()
    margs, targs = mg_args(sample), torch_args(sample)
    mout = as_tuple(info.mg_fn(*margs, **sample.kwargs))
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


def check_cuda(info, sample):
    """The same outputs and gradients on the GPU as on the CPU, and they stay on the GPU."""
    cpu_args, gpu_args = mg_args(sample), mg_args(sample, device="cuda")
    cpu_out = as_tuple(info.mg_fn(*cpu_args, **sample.kwargs))
    gpu_out = as_tuple(info.mg_fn(*gpu_args, **sample.kwargs))
    for o in gpu_out:
        assert o.device.startswith("cuda"), f"{info.name}: output left the GPU ({o.device})"
    assert_close(gpu_out, cpu_out, atol=1e-9, rtol=1e-9, what=f"{info.name} cuda vs cpu")
    if not info.grad:
        return
    for outs in (cpu_out, gpu_out):
        total = sum((o * o).sum().cpu() for o in outs if o.requires_grad)
        if isinstance(total, mg.Tensor):
            total.backward()
    for i, (c, g) in enumerate(zip(cpu_args, gpu_args)):
        if c.requires_grad and c.grad is not None:
            assert g.grad is not None and g.grad.device.startswith("cuda")
            assert_close(g.grad, c.grad, atol=1e-9, rtol=1e-9, what=f"{info.name} grad {i} cuda vs cpu")


CHECKS = {
    "forward": check_forward, "gradcheck": check_gradcheck, "gradgradcheck": check_gradgradcheck,
    "float32": check_float32, "pytorch": check_pytorch, "cuda": check_cuda,
}


def applicable(info, name):
    """Whether check ``name`` applies to ``info`` (its options, PyTorch installed, a GPU present)."""
    return {
        "forward": info.np_fn is not None,
        "gradcheck": info.grad,
        "gradgradcheck": info.grad and info.gradgrad,
        "float32": info.grad and info.keeps_dtype,
        "pytorch": info.torch_fn is not None and _torch() is not None,
        "cuda": mg.cuda.is_available(),
    }[name]


def check_op(info, checks=("forward", "gradcheck", "gradgradcheck", "float32", "pytorch"), max_examples=20):
    """Run ``checks`` (names from :data:`CHECKS`) on ``max_examples`` samples that hypothesis draws.

    The checks that do not apply (``grad=False``, no ``torch_fn``, PyTorch or a GPU missing) are skipped.
    Returns the names of the checks that ran; raises AssertionError (with hypothesis' smallest failing
    sample) when one fails.
    """
    from hypothesis import HealthCheck, given, settings  # noqa: PLC0415 - registry.py already needs it
    from hypothesis import strategies as st  # noqa: PLC0415

    def runner(check):
        @settings(max_examples=max_examples, deadline=None, database=None,
                  suppress_health_check=[HealthCheck.too_slow])
        @given(data=st.data())
        def run(data):
            check(info, info.sample(data.draw))

        return run

    ran = [name for name in checks if applicable(info, name)]
    for name in ran:
        runner(CHECKS[name])()
    return ran


def op_classes():
    """Every :class:`~minigrad.autograd.Op` subclass defined in minigrad (imported so far), by name."""
    found, stack = {}, list(Op.__subclasses__())
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if cls.__module__.startswith("minigrad.") and not cls.__module__.startswith("minigrad.testing"):
            found[cls.__name__] = cls
    return found


def ops_exercised(info, sample):
    """The names of the Op classes that one call of the entry runs, forward and backward."""
    with mg.autograd.tape() as t:
        outs = [o for o in as_tuple(info.mg_fn(*mg_args(sample), **sample.kwargs)) if o.requires_grad]
        if outs:
            sum((o * 1.0).sum() for o in outs).backward()
    return {e.op for e in t}
