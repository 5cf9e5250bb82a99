"""The pooling and col2im kernels (minigrad/ops/_conv_kernels.py): every kernel proven equal to the portable
NumPy code, in float32 and float64, over strides, padding, dilation, ceil_mode, groups, ties, -inf and NaN.

On the CPU the tests run every kernel, also those minigrad keeps on NumPy there for speed (CPU_KERNELS), so the
source the GPU runs is checked here too; the ``gpu`` tests run the same comparisons through CuPy on the
emulated CUDA device.  With MINIGRAD_CPU_KERNELS=0 (or no C compiler) the comparisons skip and the fallback
tests still run.
"""
import numpy as np
import pytest

import minigrad as mg
from minigrad import _cpu_kernels as K
from minigrad.nn import functional as F
from minigrad.ops import _conv_kernels as CK

DTYPES = [np.float32, np.float64]

# (input shape, max_pool2d keyword arguments)
POOL_CASES = [
    ((2, 3, 8, 8), dict(kernel_size=2)),
    ((2, 3, 9, 7), dict(kernel_size=2, stride=2)),  # odd sizes: the last row/column is dropped
    ((1, 2, 9, 7), dict(kernel_size=3, stride=2, padding=1)),  # overlapping windows and padding
    ((1, 2, 10, 11), dict(kernel_size=(3, 2), stride=(2, 3), padding=(1, 0), dilation=(2, 1))),
    ((2, 1, 7, 7), dict(kernel_size=2, stride=2, ceil_mode=True)),  # partial last windows
    ((1, 2, 8, 9), dict(kernel_size=3, stride=3, padding=1, ceil_mode=True)),
    ((1, 1, 5, 5), dict(kernel_size=1, stride=2)),
    ((1, 2, 17, 3), dict(kernel_size=(4, 1), stride=(4, 1))),
]


@pytest.fixture(scope="module")
def cache_folder(tmp_path_factory):
    """One private kernel cache for this module's tests (each kernel compiles once)."""
    return tmp_path_factory.mktemp("conv_kernels") / "kernels"


@pytest.fixture
def compiled(cache_folder, monkeypatch):
    """Compiled kernels on, in a private cache, for every kernel (also those that stay NumPy on the CPU)."""
    monkeypatch.setenv(K.ENV_CACHE, str(cache_folder))
    monkeypatch.delenv(K.ENV_SWITCH, raising=False)
    K.reset()
    if not K.available():
        pytest.skip(f"compiled CPU kernels unavailable: {K.status()['reason']}")
    monkeypatch.setattr(CK, "CPU_KERNELS", frozenset(CK.SOURCES))
    monkeypatch.setattr(CK, "_cpu_built", {})
    yield
    K.reset()


@pytest.fixture
def ran(monkeypatch):
    """The names of the kernels that ran (kernel() gave one), in order."""
    real, names = CK.kernel, []

    def counting(name, xp, dtype, size):
        k = real(name, xp, dtype, size)
        if k is not None:
            names.append(name)
        return k

    monkeypatch.setattr(CK, "kernel", counting)
    return names


def _data(shape, dtype, seed=0, special=True):
    """Random values with ties, and (``special``) a -inf and a NaN."""
    rng = np.random.default_rng(seed)
    x = rng.integers(-3, 4, size=shape).astype(dtype)  # small integers: many ties
    x += rng.standard_normal(shape).astype(dtype) * (rng.random(shape) < 0.5)
    if special:
        flat = x.reshape(-1)
        flat[rng.integers(flat.size)] = -np.inf
        flat[rng.integers(flat.size)] = np.nan
    return x


def _pool_results(x, kwargs, device="cpu"):
    """Forward, backward and double backward (through the gather) of max_pool2d."""
    t = mg.tensor(x, device=device, requires_grad=True)
    out = F.max_pool2d(t, **kwargs)
    g = mg.tensor(_data(out.shape, x.dtype, seed=1, special=False), device=device, requires_grad=True)
    (gx,) = mg.autograd.grad(out, t, g, create_graph=True)
    h = mg.tensor(_data(x.shape, x.dtype, seed=2, special=False), device=device)
    (gg,) = mg.autograd.grad((gx * h).sum(), g)  # = h gathered at the argmax: MaxPool2dGather
    _, indices = F.max_pool2d(t.detach(), return_indices=True, **kwargs)
    return [a.cpu().detach().numpy() for a in (out, gx, gg, indices)]


def _pair(v):
    return tuple(v) if isinstance(v, tuple) else (v, v)


def _disjoint(kwargs):
    """No two windows overlap: the route kernel runs (overlapping windows keep the NumPy code)."""
    k, d = _pair(kwargs["kernel_size"]), _pair(kwargs.get("dilation", 1))
    s = _pair(kwargs.get("stride") or kwargs["kernel_size"])
    return all(si >= di * (ki - 1) + 1 for si, di, ki in zip(s, d, k))


def _assert_same(a_list, b_list):
    for a, b in zip(a_list, b_list):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)  # NaN equals NaN here


@pytest.mark.parametrize("shape,kwargs", POOL_CASES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_max_pool_kernels_equal_portable(shape, kwargs, dtype, compiled, ran, monkeypatch):
    x = _data(shape, dtype)
    fast = _pool_results(x, kwargs)
    assert "max_pool_forward" in ran and "max_pool_gather" in ran
    assert ("max_pool_route_disjoint" in ran) == _disjoint(kwargs)
    monkeypatch.setattr(CK, "USE_CPU_KERNELS", False)
    ran.clear()
    slow = _pool_results(x, kwargs)
    assert not ran  # the NumPy code ran: not the kernels compared with themselves
    _assert_same(fast, slow)


def test_max_pool_nan_and_ties_pick_the_portable_offsets(compiled, monkeypatch):
    x = np.zeros((1, 1, 4, 4), dtype=np.float32)
    x[0, 0, 0, 1] = x[0, 0, 1, 0] = np.nan  # two NaN in the first window: the last one wins
    x[0, 0, 2:, 2:] = [[1, 5], [5, 5]]  # a tie: the first 5 wins
    x[0, 0, 2:, :2] = -np.inf  # all -inf: offset 0
    out, indices = F.max_pool2d(mg.tensor(x), 2, return_indices=True)
    assert np.isnan(out.numpy()[0, 0, 0, 0])
    assert indices.numpy()[0, 0].tolist() == [[4, 2], [8, 11]]
    monkeypatch.setattr(CK, "USE_CPU_KERNELS", False)
    _, slow = F.max_pool2d(mg.tensor(x), 2, return_indices=True)
    assert slow.numpy().tolist() == indices.numpy().tolist()


# (input shape, weight shape, conv keyword arguments): the input gradient is col2im
CONV_CASES = [
    ((2, 3, 7, 8), (4, 3, 3, 3), dict()),
    ((2, 3, 9, 9), (4, 3, 3, 2), dict(stride=2, padding=1)),
    ((1, 4, 11, 10), (6, 2, 3, 3), dict(stride=(2, 3), padding=(2, 1), dilation=(2, 1), groups=2)),
    ((3, 2, 6, 6), (2, 2, 1, 1), dict(stride=3)),  # pixels no window reads get zero
    ((1, 1, 5, 5), (1, 1, 5, 5), dict(padding=4)),
]


def _conv_results(x, w, kwargs, device="cpu"):
    tx = mg.tensor(x, device=device, requires_grad=True)
    tw = mg.tensor(w, device=device, requires_grad=True)
    out = F.conv2d(tx, tw, **kwargs)
    g = mg.tensor(_data(out.shape, x.dtype, seed=3, special=False), device=device)
    gx, gw = mg.autograd.grad(out, (tx, tw), g)
    return [a.cpu().detach().numpy() for a in (out, gx, gw)]


@pytest.mark.parametrize("xs,ws,kwargs", CONV_CASES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_col2im_kernel_equals_portable(xs, ws, kwargs, dtype, compiled, ran, monkeypatch):
    x, w = _data(xs, dtype, special=False), _data(ws, dtype, seed=5, special=False)
    fast = _conv_results(x, w, kwargs)
    assert "col2im" in ran
    monkeypatch.setattr(CK, "USE_CPU_KERNELS", False)
    ran.clear()
    slow = _conv_results(x, w, kwargs)
    assert not ran
    _assert_same(fast, slow)


@pytest.mark.parametrize("dtype", DTYPES)
def test_fold_kernel_equals_portable(dtype, compiled, ran, monkeypatch):
    cols = _data((2, 3 * 2 * 3, 4 * 3), dtype, special=False)  # not contiguous once transposed for col2im
    kwargs = dict(output_size=(6, 8), kernel_size=(2, 3), stride=(2, 2), padding=(1, 0), dilation=(1, 1))
    fast = F.fold(mg.tensor(cols), **kwargs).numpy()
    assert ran == ["col2im"]
    monkeypatch.setattr(CK, "USE_CPU_KERNELS", False)
    np.testing.assert_array_equal(fast, F.fold(mg.tensor(cols), **kwargs).numpy())


def test_divisor_gives_exact_quotients():
    rng = np.random.default_rng(0)
    xs = np.concatenate([np.arange(5000), rng.integers(0, 2 ** 31, 20000), 2 ** 31 - 1 - np.arange(100)])
    xs = xs.astype(np.uint64)
    for d in [1, 2, 3, 5, 7, 10, 14, 28, 100, 641, 2 ** 16 + 1, 10 ** 9 + 7, 2 ** 30, 2 ** 31 - 1]:
        m, s = CK.divisor(d)
        # (x * m) >> s in exact integers (Python's), and as the kernels compute it in uint64
        assert all((int(x) * int(m)) >> s == int(x) // d for x in xs[::97])
        assert int(m) * (2 ** 31 - 1) < 2 ** 64
        np.testing.assert_array_equal((xs * m) >> np.uint64(s), xs // np.uint64(d))
    with pytest.raises(ValueError, match="out of range"):
        CK.divisor(0)


def test_kernels_off_use_the_numpy_code(monkeypatch):
    monkeypatch.setenv(K.ENV_SWITCH, "0")
    K.reset()
    try:
        for name in CK.SOURCES:
            assert CK.kernel(name, np, np.dtype(np.float32), 10) is None
        x = _data((2, 2, 6, 6), np.float32)
        out = F.max_pool2d(mg.tensor(x), 2).numpy()
        np.testing.assert_array_equal(out, x.reshape(2, 2, 3, 2, 3, 2).max(axis=(3, 5)))
    finally:
        K.reset()


def test_integer_and_half_dtypes_and_huge_arrays_take_the_numpy_code():
    for dtype in (np.float16, np.int32):
        assert CK.kernel("max_pool_gather", np, np.dtype(dtype), 10) is None
    assert CK.kernel("max_pool_gather", np, np.dtype(np.float32), 2 ** 31) is None  # quotients exact below


# ----------------------------------------------------------------------------- the same sources on CuPy
@pytest.mark.gpu
@pytest.mark.parametrize("dtype", DTYPES)
def test_cuda_kernels_equal_portable(dtype, ran, monkeypatch):
    for shape, kwargs in POOL_CASES[:5]:
        x = _data(shape, dtype)
        monkeypatch.setattr(CK, "USE_CUDA_KERNELS", True)
        ran.clear()
        fast = _pool_results(x, kwargs, "cuda")
        assert {"max_pool_forward", "max_pool_gather"} <= set(ran)
        monkeypatch.setattr(CK, "USE_CUDA_KERNELS", False)
        ran.clear()
        slow = _pool_results(x, kwargs, "cuda")
        assert not ran
        _assert_same(fast, slow)
    for xs, ws, kwargs in CONV_CASES:
        x, w = _data(xs, dtype, special=False), _data(ws, dtype, seed=5, special=False)
        monkeypatch.setattr(CK, "USE_CUDA_KERNELS", True)
        ran.clear()
        fast = _conv_results(x, w, kwargs, "cuda")
        assert "col2im" in ran
        monkeypatch.setattr(CK, "USE_CUDA_KERNELS", False)
        ran.clear()
        slow = _conv_results(x, w, kwargs, "cuda")
        assert not ran
        _assert_same(fast, slow)  # the same products, then the same additions in the same order


@pytest.mark.gpu
def test_nvrtc_check_compiles_the_instantiations_the_conv_ops_use(monkeypatch):
    """Every kernel code the pooling and col2im ops generate (both dtypes) is one that NVRTC checks."""
    from cuda_emulator import nvrtc_check  # noqa: PLC0415

    monkeypatch.setattr(CK, "_cuda_built", {})
    for dtype in DTYPES:
        _pool_results(_data((1, 2, 7, 7), dtype), dict(kernel_size=2, padding=1), "cuda")
        _pool_results(_data((1, 1, 20, 20), dtype), dict(kernel_size=16), "cuda")  # 256 offsets: int32 argmax
        xs, ws, kwargs = CONV_CASES[1]
        _conv_results(_data(xs, dtype, special=False), _data(ws, dtype, special=False), kwargs, "cuda")
    used = {code for k in CK._cuda_built.values() for code in k.cached_codes.values()}
    assert len(used) == 2 * (3 * 2 + 1)  # 2 dtypes x (3 argmax kernels x 2 argmax dtypes + col2im)
    assert used <= nvrtc_check.generated_codes()
