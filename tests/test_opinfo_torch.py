"""PyTorch's own OpInfo samples, run against minigrad.

PyTorch ships a database of its operators (``op_db``) with, for each one, a
generator of sample calls (``sample_inputs``) and a larger set of harder ones
(``reference_inputs``: NaN, inf, zero-size, non-contiguous and extreme values).
Every OpInfo whose name has a minigrad counterpart (``MAPPED``) is run here:
each sample is converted to minigrad tensors and the outputs (values, dtypes,
shapes) and the gradients of every input are compared with PyTorch's.

Each sample ends in one of:

* ``passed``: same answer;
* ``unsupported``: minigrad raised a clear error and the (op, argument)
  combination is on the documented ``UNSUPPORTED`` list below;
* ``raised``: minigrad raised, but the sample is not on that list (a failure);
* ``differed``: minigrad answered differently (a failure: a silent difference).

Needs torch and expecttest (``torch.testing._internal`` imports it); skipped
without them.  ``python tests/test_opinfo_torch.py`` prints the counts per op.
"""
from __future__ import annotations

import collections
import itertools
import math
import os
import sys
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch") if __name__ != "__main__" else __import__("torch")
if __name__ != "__main__":
    pytest.importorskip("expecttest")

import minigrad as mg  # noqa: E402
import minigrad.nn.functional as F  # noqa: E402

from torch.testing._internal.common_methods_invocations import op_db  # noqa: E402

# ----------------------------------------------------------------------------- conversions

_DTYPES = {torch.float64: mg.float64, torch.float32: mg.float32, torch.float16: mg.float16,
           torch.int64: mg.int64, torch.int32: mg.int32, torch.int16: mg.int16, torch.int8: mg.int8,
           torch.uint8: mg.uint8, torch.bool: mg.bool_}


class _Untranslatable(Exception):
    """A sample argument with no minigrad counterpart (complex numbers, sparse layouts...)."""


def to_mg(obj):
    """A sample argument with every torch object replaced by its minigrad counterpart."""
    if isinstance(obj, torch.Tensor):
        if obj.is_complex() or obj.layout != torch.strided or obj.dtype not in _DTYPES:
            raise _Untranslatable(f"tensor of dtype {obj.dtype}, layout {obj.layout}")
        return mg.tensor(obj.detach().numpy().copy(), requires_grad=obj.requires_grad)
    if isinstance(obj, torch.dtype):
        if obj not in _DTYPES:
            raise _Untranslatable(f"dtype {obj}")
        return _DTYPES[obj]
    if isinstance(obj, torch.device):
        return str(obj)
    if isinstance(obj, torch.memory_format):
        name = str(obj).split(".")[-1]
        return getattr(mg, name, name)
    if isinstance(obj, torch.Size):
        return tuple(obj)
    if isinstance(obj, complex):
        raise _Untranslatable("complex number")
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_mg(o) for o in obj)
    if isinstance(obj, dict):
        return {k: to_mg(v) for k, v in obj.items()}
    return obj


def _fresh_leaves(obj, memo):
    """Each tensor that requires grad replaced by a leaf over the same memory (same strides).

    PyTorch's reference samples make non-contiguous inputs as views that were given
    ``requires_grad`` afterwards; autograd does not connect ops to such a view, so its gradient
    would read as zero.  ``detach().requires_grad_()`` is a proper leaf with the same layout.
    """
    if isinstance(obj, torch.Tensor):
        if not obj.requires_grad:
            return obj
        if id(obj) not in memo:
            memo[id(obj)] = obj.detach().requires_grad_(True)
        return memo[id(obj)]
    if isinstance(obj, (list, tuple)) and not isinstance(obj, torch.Size):
        return type(obj)(_fresh_leaves(o, memo) for o in obj)
    if isinstance(obj, dict):
        return {k: _fresh_leaves(v, memo) for k, v in obj.items()}
    return obj


def _tensors(obj, kind):
    """Every tensor (of ``kind``) inside a nested sample argument, in order."""
    if isinstance(obj, kind):
        return [obj]
    if isinstance(obj, (list, tuple)):
        return [t for o in obj for t in _tensors(o, kind)]
    if isinstance(obj, dict):
        return [t for o in obj.values() for t in _tensors(o, kind)]
    return []


def _flat_outputs(out, kind):
    """An op's result as a flat list (tensors, or Python values for ops like ``item``)."""
    if isinstance(out, (list, tuple)) and not isinstance(out, torch.Size):
        return [o for x in out for o in _flat_outputs(x, kind)]
    return [out]


# ----------------------------------------------------------------------------- the mapping
class _Method:
    """``x.name(*args, **kwargs)``: an OpInfo that is a Tensor method."""

    def __init__(self, name):
        self.name = name

    def __call__(self, x, *args, **kwargs):
        return getattr(x, self.name)(*args, **kwargs)


_method = _Method


def _functional(name):
    return getattr(F, name)


# OpInfos that are not compared, with the reason.
NOT_MAPPED = {
    # Random or uninitialised values: nothing to compare but shapes.
    "randn", "rand_like", "randn_like", "randint", "randint_like", "empty", "empty_like", "new_empty",
    "nn.functional.dropout", "bernoulli", "multinomial", "normal", "uniform",
    # float16 arithmetic (minigrad's float16 is NumPy's, PyTorch's CPU half differs in rounding).
    "half",
    # In place on the sample itself; minigrad's zero_ is not an op here.
    "zero_",
    # A variant PyTorch keeps only to exercise its own kernels (a triton path and a complex one).
    "bmm.triton_optimized", "nn.functional.silu.complex",
}

# Where minigrad's function has another name or takes the sample differently.
OVERRIDES = {
    "T": lambda x: x.T,
    "mT": lambda x: x.mT,
    "__getitem__": lambda x, idx: x[idx],
    "item": lambda x: x.item(),
    # torch's OpInfo calls these with the input first: where(x, condition, other) is torch.where(condition, x, other)
    "where": lambda x, condition, other: mg.where(condition, x, other),
    "einsum": lambda tensors, equation: mg.einsum(equation, *tensors),
    "nn.functional.embedding": lambda weight, indices, **kw: F.embedding(indices, weight, **kw),
}
if hasattr(mg.Tensor, "H"):
    OVERRIDES.update({"H": lambda x: x.H, "mH": lambda x: x.mH})


def _key(op):
    return op.name + (f".{op.variant_test_name}" if op.variant_test_name else "")


def resolve(op):
    """The minigrad callable for an OpInfo, or None when minigrad has no counterpart."""
    key = _key(op)
    if key in NOT_MAPPED or op.name in NOT_MAPPED:
        return None
    if key in OVERRIDES:
        return OVERRIDES[key]
    if op.name in OVERRIDES:
        return OVERRIDES[op.name]
    name = op.name
    if name.startswith("nn.functional."):
        short = name[len("nn.functional."):]
        return getattr(F, short) if hasattr(F, short) else None
    if "." in name:
        return None
    if hasattr(mg, name) and type(getattr(mg, name)).__name__ == "function":  # not mg.bool, mg.double (dtypes)
        return getattr(mg, name)
    if name.startswith("__") and hasattr(mg.Tensor, name):
        return _method(name)
    if hasattr(mg.Tensor, name):
        return _method(name)
    return None


MAPPED = {}
for _op in op_db:
    _fn = resolve(_op)
    if _fn is not None:
        MAPPED[_key(_op)] = (_op, _fn)


# ----------------------------------------------------------------------------- unsupported arguments
def _kw(name):
    return lambda s: name in s.kwargs


def _kw_value(name, predicate):
    return lambda s: name in s.kwargs and predicate(s.kwargs[name])


def _dtype_of(s):
    return s.input.dtype if isinstance(s.input, torch.Tensor) else None


# (op key or name, predicate on the torch SampleInput, reason): the combinations minigrad deliberately
# refuses with an error.  A sample counts as "unsupported" only when minigrad raises AND it matches here.
def _numbers_only(s):
    return not isinstance(s.input, torch.Tensor) and not _tensors(tuple(s.args), torch.Tensor)


UNSUPPORTED = [
    # Matrix norms: minigrad's norm is the vector p-norm only.
    ("norm.nuc", lambda s: True, "the nuclear (matrix) norm"),
    # mg.add(2.0, 3.0): minigrad's arithmetic functions need at least one tensor (PyTorch makes one).
    *((name, _numbers_only, "both operands Python numbers")
      for name in ("add", "sub", "mul", "div.no_rounding_mode", "div.trunc_rounding", "div.floor_rounding",
                   "floor_divide", "remainder", "pow", "maximum", "minimum")),
    # A 1-D input: minigrad needs (N, C, ...); PyTorch reads a 1-D input as having no channels.
    ("nn.functional.batch_norm", lambda s: s.input.ndim == 1, "a 1-D input (no channel dim)"),
    # A negative divisor_override: minigrad asks for a positive divisor.
    ("nn.functional.avg_pool2d", lambda s: (s.args[5] if len(s.args) > 5 else s.kwargs.get("divisor_override"))
     is not None and (s.args[5] if len(s.args) > 5 else s.kwargs["divisor_override"]) <= 0,
     "divisor_override <= 0"),
    # output_padding may only exceed the stride when the dilation is larger still: minigrad asks for
    # output_padding < stride.
    ("nn.functional.conv_transpose2d", lambda s: any(
        op >= st for op, st in zip(_pair(s.kwargs.get("output_padding", 0)), _pair(s.kwargs.get("stride", 1)))),
     "output_padding >= stride (allowed by PyTorch when smaller than the dilation)"),
]


UNSUPPORTED += [
    # Antialiased resizing is not implemented.
    ("nn.functional.interpolate.bicubic", _kw_value("antialias", bool), "antialias=True"),
    ("nn.functional.interpolate", _kw_value("antialias", bool), "antialias=True"),
    ("nn.functional.interpolate.bilinear", _kw_value("antialias", bool), "antialias=True"),
    # tensordot contracts dims of equal size only (PyTorch also broadcasts a size-1 dim against another).
    ("tensordot", lambda s: True and _tensordot_broadcasts(s), "contracting a size-1 dim with a larger one"),
]


def _tensordot_broadcasts(s):
    a, b = s.input, s.args[0]
    dims = s.kwargs.get("dims", s.args[1] if len(s.args) > 1 else 2)
    if isinstance(dims, int):
        pairs = zip(range(a.ndim - dims, a.ndim), range(dims))
    else:
        da, db = ([d] if isinstance(d, int) else list(d) for d in dims)
        pairs = zip(da, db)
    return any(a.shape[i] != b.shape[j] for i, j in pairs)


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def unsupported_reason(op, sample):
    key = _key(op)
    for name, predicate, reason in UNSUPPORTED:
        if name in (key, op.name):
            try:
                if predicate(sample):
                    return reason
            except Exception:  # a predicate written for another form of sample
                continue
    return None


# Gradient elements not compared where the op's input is NaN, with the reason.
NAN_GRAD_UNDEFINED = {
    # PyTorch's own elu gradient at NaN depends on the tensor's size: its scalar kernel gives 1 (as
    # minigrad does), its vectorised kernel NaN (16384 elements).
    "nn.functional.elu": "PyTorch's answer depends on whether its vectorised kernel runs",
    "nn.functional.celu": "the same elu kernel",
    "nn.functional.selu": "the same elu kernel",
    # hardtanh's: within one tensor of 9 elements PyTorch passes the gradient at one NaN and not at
    # the others (its vectorised and scalar paths differ); minigrad gives 0, as clamp does.
    "nn.functional.hardtanh": "PyTorch's answer differs between its vectorised and scalar paths",
    "nn.functional.relu6": "the same hardtanh kernel",
}

# Outputs compared at these tolerances (float64 unless the sample's dtype says otherwise).
ATOL, RTOL = 1e-7, 1e-6
GRAD_ATOL, GRAD_RTOL = 1e-6, 1e-5
TOLERANCES = {}  # op key -> (atol, rtol, grad_atol, grad_rtol), with the reason beside each

# ----------------------------------------------------------------------------- running one sample
_CLEAR_ERRORS = (TypeError, ValueError, IndexError, NotImplementedError, RuntimeError)


def _np(x):
    if isinstance(x, mg.Tensor):
        return np.asarray(x.data)
    if isinstance(x, torch.Tensor):
        return x.detach().numpy()
    return x


def _compare_values(mo, to, atol, rtol, what):
    """None when the minigrad and torch results agree, else a description of the difference."""
    if isinstance(to, torch.Tensor):
        if not isinstance(mo, mg.Tensor):
            return f"{what}: torch gives a tensor, minigrad {type(mo).__name__}"
        tdt = _DTYPES.get(to.dtype)
        if tdt is None:
            return f"{what}: torch dtype {to.dtype} has no minigrad counterpart"
        if np.dtype(mo.dtype) != np.dtype(tdt):
            return f"{what}: dtype {mo.dtype} vs torch {to.dtype}"
        a, e = _np(mo), _np(to)
        if a.shape != e.shape:
            return f"{what}: shape {a.shape} vs torch {tuple(e.shape)}"
        if a.dtype.kind in "biu":
            if not np.array_equal(a, e):
                return f"{what}: values differ: {a.ravel()[:6]} vs torch {e.ravel()[:6]}"
            return None
        with np.errstate(all="ignore"):
            ok = np.isclose(a, e, atol=atol, rtol=rtol, equal_nan=True)
        if not ok.all():
            bad = np.argwhere(~ok)[0]
            return (f"{what}: values differ at {tuple(bad)}: {a[tuple(bad)]!r} vs torch {e[tuple(bad)]!r} "
                    f"({int((~ok).sum())} of {a.size})")
        return None
    if isinstance(mo, mg.Tensor):
        mo = mo.item() if mo.ndim == 0 else tuple(mo.shape)
    if isinstance(to, (float, int, bool)) and isinstance(mo, (float, int, bool, np.generic)):
        if isinstance(to, float) and math.isnan(to) and math.isnan(float(mo)):
            return None
        if type(to) is bool and not isinstance(mo, (bool, np.bool_)):
            return f"{what}: {mo!r} vs torch {to!r} (a bool)"
        return None if mo == to or (isinstance(to, float) and math.isclose(mo, to, rel_tol=rtol, abs_tol=atol)) \
            else f"{what}: {mo!r} vs torch {to!r}"
    if isinstance(to, torch.Size):
        return None if tuple(mo) == tuple(to) else f"{what}: {mo!r} vs torch {tuple(to)!r}"
    return None if mo == to else f"{what}: {mo!r} vs torch {to!r}"


_REFLECTED = {"__radd__", "__rsub__", "__rmul__", "__rdiv__", "__rtruediv__", "__rmod__", "__rpow__", "__rand__",
              "__ror__", "__rxor__"}
Outcome = collections.namedtuple("Outcome", "status detail")

# Samples whose result is random (dropout inside the op): not compared, with the reason.
RANDOM_SAMPLES = {
    "nn.functional.scaled_dot_product_attention": lambda s: s.kwargs.get("dropout_p", 0.0) > 0,
}


def run_sample(op, fn, sample, index):
    """Compare minigrad with torch on one SampleInput; returns an Outcome."""
    memo = {}
    t_args = _fresh_leaves((sample.input,) + tuple(sample.args), memo)
    t_kwargs = _fresh_leaves(dict(sample.kwargs), memo)
    try:
        t_out = op.op(*t_args, **t_kwargs)
    except Exception as e:  # a sample torch itself refuses: not counted
        return Outcome("skipped", f"torch raised {type(e).__name__}: {e}")
    if _key(op) in RANDOM_SAMPLES and RANDOM_SAMPLES[_key(op)](sample):
        return Outcome("skipped", "a random result (dropout)")
    if isinstance(fn, _Method) and not isinstance(sample.input, torch.Tensor):
        return Outcome("skipped", "a Tensor method called on a number")
    try:
        m_args = to_mg(t_args)
        m_kwargs = to_mg(t_kwargs)
    except _Untranslatable as e:
        return Outcome("skipped", str(e))
    t_outs = _flat_outputs(t_out, torch.Tensor)
    atol, rtol, gatol, grtol = TOLERANCES.get(_key(op), (ATOL, RTOL, GRAD_ATOL, GRAD_RTOL))
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # NaN/inf samples: NumPy warns, the answer counts
        try:
            m_out = fn(*m_args, **m_kwargs)
        except Exception as e:
            return _raised(op, sample, e, "forward")
        m_outs = _flat_outputs(m_out, mg.Tensor)
        if len(m_outs) != len(t_outs):
            return Outcome("differed", f"{len(m_outs)} outputs vs torch {len(t_outs)}")
        for k, (mo, to) in enumerate(zip(m_outs, t_outs)):
            problem = _compare_values(mo, to, atol, rtol, f"output {k}")
            if problem:
                return Outcome("differed", problem)
        # Gradients of every input that requires grad, through every float output that does.
        t_inputs = [t for t in _tensors(t_args, torch.Tensor) + _tensors(t_kwargs, torch.Tensor)
                    if t.requires_grad]
        m_inputs = [t for t in _tensors(m_args, mg.Tensor) + _tensors(m_kwargs, mg.Tensor) if t.requires_grad]
        pairs = [(mo, to) for mo, to in zip(m_outs, t_outs)
                 if isinstance(to, torch.Tensor) and to.requires_grad and to.dtype.is_floating_point]
        if op.name in _REFLECTED and any(isinstance(a, torch.Tensor) for a in sample.args):
            # torch.Tensor.__radd__(x, tensor) called directly sends no gradient to x; Python only
            # calls the reflected form with a number on the left, so only the values are compared.
            return Outcome("passed", "")
        if not t_inputs or not pairs:
            return Outcome("passed", "")
        if len(m_inputs) != len(t_inputs):
            return Outcome("differed", f"{len(m_inputs)} inputs require grad vs torch {len(t_inputs)}")
        for k, (mo, to) in enumerate(pairs):
            if not mo.requires_grad:
                return Outcome("differed", f"output {k} does not require grad (torch's does)")
        rng = np.random.default_rng(index)
        grads_out = [rng.standard_normal(to.shape) for _, to in pairs]
        try:
            t_grads = torch.autograd.grad([to for _, to in pairs],
                                          t_inputs, [torch.tensor(g, dtype=to.dtype) for g, (_, to) in
                                                     zip(grads_out, pairs)], allow_unused=True)
        except RuntimeError:  # torch has no derivative here (remainder by a tensor...): outputs only
            return Outcome("passed", "")
        try:
            m_grads = mg.autograd.grad([mo for mo, _ in pairs], m_inputs,
                                       [mg.tensor(g.astype(mo.dtype)) for g, (mo, _) in zip(grads_out, pairs)],
                                       allow_unused=True)
        except Exception as e:
            return _raised(op, sample, e, "backward")
        for k, (mg_g, t_g, x) in enumerate(zip(m_grads, t_grads, t_inputs)):
            t_g = torch.zeros_like(x) if t_g is None else t_g
            mg_g = mg.zeros(tuple(x.shape), dtype=_DTYPES[x.dtype]) if mg_g is None else mg_g
            if _key(op) in NAN_GRAD_UNDEFINED and x is t_args[0]:
                nan = torch.isnan(x.detach())
                t_g = t_g.masked_fill(nan, 0.0)
                mg_g = mg_g.masked_fill(mg.tensor(nan.numpy()), 0.0)
            problem = _compare_values(mg_g, t_g, gatol, grtol, f"gradient of input {k}")
            if problem:
                return Outcome("differed", problem)
    return Outcome("passed", "")


def _raised(op, sample, error, phase):
    message = f"{phase}: {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
    reason = unsupported_reason(op, sample)
    if reason and isinstance(error, _CLEAR_ERRORS) and str(error):
        return Outcome("unsupported", f"{reason} ({message})")
    return Outcome("raised", message)


def _describe(sample):
    def short(x):
        if isinstance(x, torch.Tensor):
            return f"{x.dtype}{tuple(x.shape)}"
        if isinstance(x, (list, tuple)):
            return type(x)(short(o) for o in x)
        return x

    return f"input={short(sample.input)} args={short(tuple(sample.args))} kwargs={short(dict(sample.kwargs))}"


def _dtype_for(op):
    """float64 where the op supports it, else its integer or bool dtype (bitwise and logical ops)."""
    supported = op.supported_dtypes("cpu")
    for dtype in (torch.float64, torch.int64, torch.bool):
        if dtype in supported:
            return dtype
    return None


_CACHE = {}


def run_op(key, which):
    """Every sample of one OpInfo: a list of (Outcome, description).  ``which``: 'sample' or 'reference'."""
    if (key, which) in _CACHE:
        return _CACHE[(key, which)]
    op, fn = MAPPED[key]
    if which == "reference" and op.reference_inputs_func is None:
        # PyTorch's reference inputs of this op are its sample inputs: run them once
        _CACHE[(key, which)] = run_op(key, "sample")
        return _CACHE[(key, which)]
    dtype = _dtype_for(op)
    results = []
    if dtype is not None:
        grad = dtype.is_floating_point and op.supports_autograd
        torch.manual_seed(0)
        make = op.sample_inputs if which == "sample" else op.reference_inputs
        samples = iter(make("cpu", dtype, requires_grad=grad))
        for i in itertools.count():
            try:
                sample = next(samples)
            except StopIteration:
                break
            except Exception:  # torch's own generator fails part-way (clamp's reference inputs)
                break
            results.append((run_sample(op, fn, sample, i), _describe(sample)))
    _CACHE[(key, which)] = results
    return results


def _failures(results):
    return [f"{o.status}: {o.detail}\n    {d}" for o, d in results if o.status in ("raised", "differed")]


@pytest.mark.parametrize("key", sorted(MAPPED))
def test_sample_inputs(key):
    results = run_op(key, "sample")
    if not results:  # no dtype this suite runs (float64, int64, bool) is supported: nothing was checked
        pytest.skip(f"{key}: PyTorch has no sample inputs here in float64, int64 or bool")
    failures = _failures(results)
    assert not failures, f"{key}: {len(failures)} samples\n" + "\n".join(failures[:8])


@pytest.mark.parametrize("key", sorted(MAPPED))
def test_reference_inputs(key):
    results = run_op(key, "reference")
    if not results:  # no dtype this suite runs (float64, int64, bool) is supported: nothing was checked
        pytest.skip(f"{key}: PyTorch has no reference inputs here in float64, int64 or bool")
    failures = _failures(results)
    assert not failures, f"{key}: {len(failures)} samples\n" + "\n".join(failures[:8])


def counts(which):
    total = collections.Counter()
    for key in MAPPED:
        for outcome, _ in run_op(key, which):
            total[outcome.status] += 1
    return total


MIN_MAPPED = 210


def test_coverage():
    """Enough of PyTorch's ops map, and nearly every sample of them is answered."""
    assert len(MAPPED) >= MIN_MAPPED, f"only {len(MAPPED)} OpInfos map to minigrad"
    c = counts("sample")
    answered = c["passed"] + c["unsupported"] + c["raised"] + c["differed"]
    assert c["passed"] >= 0.95 * answered, f"sample_inputs: {dict(c)}"


if __name__ == "__main__":
    verbose = "-v" in sys.argv
    print(f"{len(MAPPED)} of {len(op_db)} OpInfos map to minigrad")
    for which in ("sample", "reference"):
        by_op = {}
        for key in sorted(MAPPED):
            c = collections.Counter(o.status for o, _ in run_op(key, which))
            by_op[key] = c
            bad = c["raised"] + c["differed"]
            if verbose or bad:
                print(f"  [{which}] {key}: {dict(c)}")
                if verbose and bad:
                    for line in _failures(run_op(key, which))[:3]:
                        print("      " + line)
        total = sum(by_op.values(), collections.Counter())
        ops_differing = sum(1 for c in by_op.values() if c["differed"])
        print(f"{which}_inputs: {dict(total)}; ops with a silent difference: {ops_differing}")
    os._exit(0)
