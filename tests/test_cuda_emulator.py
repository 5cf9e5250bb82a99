"""The emulated CUDA device (tests/cuda_emulator) keeps CuPy's rules, and the CUDA kernels pass real compilers.

The emulator tests run with ``MINIGRAD_EMULATE_CUDA=1`` (``pytest --emulate-cuda``); the NVRTC check needs
the ``nvidia-cuda-nvrtc-cu12`` wheel and CuPy (both import without a GPU).  Both are skipped otherwise.
"""
import importlib.util
import os
import sys

import numpy as np
import pytest

import minigrad as mg
from minigrad.ops import rnn_fused as F

EMULATED = os.environ.get("MINIGRAD_EMULATE_CUDA", "") == "1"


@pytest.fixture
def cp():
    if not EMULATED:
        pytest.skip("needs the emulated CUDA device (MINIGRAD_EMULATE_CUDA=1)")
    return sys.modules["cupy"]


@pytest.fixture
def kernels(cp):
    from cuda_emulator import kernels  # noqa: PLC0415

    yield kernels
    kernels.set_thread_order(None)


# ----------------------------------------------------------------------------- arrays
@pytest.mark.gpu
def test_device_arrays_are_not_numpy_and_refuse_implicit_conversion(cp):
    a = cp.arange(6, dtype=cp.float32).reshape(2, 3)
    assert not isinstance(a, np.ndarray) and isinstance(a, cp.ndarray)
    for convert in (np.asarray, np.array, lambda x: np.add(np.ones(3), x), lambda x: x + np.ones(3)):
        with pytest.raises(TypeError):
            convert(a)
    with pytest.raises(TypeError, match="Unsupported type"):
        cp.tanh(np.ones(3))
    with pytest.raises(TypeError, match="Unsupported type"):
        cp.add(a[0], [1.0, 2.0, 3.0])  # CuPy's ufuncs take no lists either
    with pytest.raises(ValueError, match="non-scalar numpy.ndarray cannot be used for fill"):
        a[0] = np.ones(3, dtype=np.float32)
    np.testing.assert_array_equal(a.get(), np.arange(6).reshape(2, 3))
    np.testing.assert_array_equal(cp.asnumpy(cp.asarray(np.eye(2))), np.eye(2))  # explicit transfers work


@pytest.mark.gpu
def test_only_what_the_pinned_cupy_offers(cp):
    from cuda_emulator import PINNED_CUPY, real_cupy  # noqa: PLC0415

    assert real_cupy().__version__ == PINNED_CUPY
    missing = [n for n in ("trapz", "asmatrix", "fromregex", "nanquantile", "genfromtxt")
               if hasattr(np, n) and not hasattr(real_cupy(), n)]
    assert missing, "pick a NumPy function CuPy lacks"
    with pytest.raises(AttributeError):
        getattr(cp, missing[0])
    a = cp.ones(3)
    with pytest.raises(TypeError, match=r"cupy.clip: .*a_min"):
        cp.clip(a, min=0.0, max=1.0)  # NumPy 2 has min=/max=; CuPy does not
    with pytest.raises(TypeError, match="where"):
        cp.add(a, a, where=a > 0)  # NumPy ufuncs take where=; CuPy's do not
    with pytest.raises(TypeError, match="cupy.ndarray.sum"):
        a.sum(initial=0.0)


@pytest.mark.gpu
def test_reductions_are_0d_device_arrays_and_empty_is_nan(cp):
    a = cp.arange(4.0)
    for r in (a.sum(), cp.sum(a), a.max(), cp.mean(a), a[1]):
        assert isinstance(r, cp.ndarray) and r.shape == ()
    assert float(a.sum()) == 6.0
    assert np.isnan(cp.empty(3).get()).all() and np.isnan(cp.empty_like(a).get()).all()


@pytest.mark.gpu
def test_devices_do_not_mix(cp):
    import cuda_emulator.fake_cupy as fake  # noqa: PLC0415

    fake.set_device_count(2)
    try:
        with cp.cuda.Device(1):
            b = cp.ones(3)
            assert b.device.id == 1 and float((b * 2).sum()) == 6.0  # on its own device: fine
        a = cp.ones(3)
        with pytest.raises(ValueError, match="Peer access is unavailable"):
            a + b
        with pytest.raises(ValueError, match="different from the current device"):
            b * 2  # device 0 is current
        with pytest.raises(cp.cuda.runtime.CUDARuntimeError):
            cp.cuda.Device(2)
    finally:
        fake.set_device_count(1)


# ----------------------------------------------------------------------------- kernels
@pytest.mark.gpu
def test_thread_order_changes_a_kernel_that_reads_another_threads_result(cp, kernels):
    """Thread i reads what thread i+1 writes: the three orders give different answers."""
    racy = cp.ElementwiseKernel("T x", "raw T y", "y[i] = x + (i + 1 < _ind.size() ? y[i + 1] : 0)", "racy")
    results = {}
    for order in kernels.THREAD_ORDERS:
        kernels.set_thread_order(order)
        y = cp.zeros(6)
        racy(cp.ones(6), y)
        results[order] = y.get().tolist()
    assert results["sequential"] == [1.0] * 6
    assert results["reverse"] == [6.0, 5.0, 4.0, 3.0, 2.0, 1.0]
    independent = cp.ElementwiseKernel("T x", "T y", "y = x * x", "square")
    for order in kernels.THREAD_ORDERS:
        kernels.set_thread_order(order)
        assert independent(cp.arange(5.0)).get().tolist() == [0.0, 1.0, 4.0, 9.0, 16.0]


@pytest.mark.gpu
def test_float32_kernel_computing_in_double_does_not_compile(cp, kernels):
    doubled = cp.ElementwiseKernel("T x", "T y", "y = tanh(x * 0.1)", "promotes")
    assert doubled(cp.ones(2)).dtype == np.float64  # in double it is all double: fine
    with pytest.raises(kernels.CompileError, match="double-promotion|float-conversion"):
        doubled(cp.ones(2, dtype=cp.float32))
    fixed = cp.ElementwiseKernel("T x", "T y", "y = tanh(x * T(0.1))", "no_promotion")
    assert fixed(cp.ones(2, dtype=cp.float32)).dtype == np.float32


@pytest.mark.gpu
def test_kernels_are_compiled_once(cp, kernels):
    k = cp.ElementwiseKernel("T x", "T y", "y = x + x", "cached_twice")
    k(cp.ones(3))
    before = dict(kernels.launches)
    k(cp.ones(7))
    assert kernels.launches["compiled"] == before["compiled"] and kernels.launches["count"] == before["count"] + 1
    assert "y = x + x" in next(iter(k.cached_codes.values()))  # CuPy's generated source, kept for reading


@pytest.mark.gpu
@pytest.mark.parametrize("order", ["sequential", "reverse", "shuffled"])
@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_fused_kernels_match_portable_path_in_every_thread_order(kind, order, kernels, monkeypatch):
    from test_rnn_fused import _layer_on, _results  # noqa: PLC0415

    kernels.set_thread_order(order)
    layer = _layer_on(kind, "cuda", np.float32, fused=True)
    for lengths in (None, [5, 2, 4]):
        monkeypatch.setattr(F, "USE_CUDA_KERNELS", True)
        count = kernels.launches["count"]
        with_kernels = _results(layer, kind, "cuda", np.float32, lengths)
        assert kernels.launches["count"] > count  # the kernels did run
        layer.zero_grad()
        monkeypatch.setattr(F, "USE_CUDA_KERNELS", False)
        portable = _results(layer, kind, "cuda", np.float32, lengths)
        layer.zero_grad()
        for a, b in zip(with_kernels, portable):
            np.testing.assert_allclose(a, b, rtol=2e-4, atol=1e-5)


# ----------------------------------------------------------------------------- NVIDIA's compiler
def _have_nvrtc():
    """The NVRTC wheel and the pinned CuPy (whose code generator writes the kernels) are installed."""
    try:
        if importlib.util.find_spec("nvidia.cuda_nvrtc") is None:
            return False
    except (ImportError, ValueError):  # no ``nvidia`` package at all
        return False
    from cuda_emulator.fake_cupy import real_cupy  # noqa: PLC0415

    try:
        real_cupy()
    except RuntimeError:
        return False
    return True


@pytest.mark.skipif(not _have_nvrtc(), reason="needs the nvidia-cuda-nvrtc-cu12 and cupy-cuda12x wheels")
def test_every_kernel_compiles_with_nvrtc_and_float32_stays_float32():
    from cuda_emulator import nvrtc_check  # noqa: PLC0415

    try:
        nvrtc_check.NVRTC()
    except RuntimeError as e:
        pytest.skip(str(e))
    assert nvrtc_check.check(verbose=False) == []


@pytest.mark.skipif(not _have_nvrtc(), reason="needs the nvidia-cuda-nvrtc-cu12 and cupy-cuda12x wheels")
def test_nvrtc_check_sees_double_precision():
    """The .f64 detector is not blind: a float kernel with a double literal shows float64 instructions."""
    from cuda_emulator import nvrtc_check  # noqa: PLC0415

    try:
        nvrtc = nvrtc_check.NVRTC()
    except RuntimeError as e:
        pytest.skip(str(e))
    source = 'extern "C" __global__ void k(float* x) { x[threadIdx.x] = x[threadIdx.x] * %s; }'
    options = ["-arch=compute_80"]
    assert nvrtc_check.double_instructions(nvrtc.compile(source % "0.1", options))
    assert not nvrtc_check.double_instructions(nvrtc.compile(source % "0.1f", options))


@pytest.mark.gpu
@pytest.mark.parametrize("kernel,first,second", [
    ("lstm_backward", "di = ", "df = "),  # the input and forget gates' gradients swapped
    ("gru_forward", "gr = r; gz = z;", "gr = z; gz = r;"),  # r and z swapped
])
def test_a_broken_kernel_is_caught(kernel, first, second, kernels, monkeypatch):
    """The checks are not blind: two gates swapped in one kernel make the fused layer disagree."""
    from test_rnn_fused import _layer_on, _results  # noqa: PLC0415

    params_in, params_out, body = F._KERNEL_SOURCES[kernel]
    marker = "\0"
    broken = body.replace(first, marker).replace(second, first).replace(marker, second)
    assert broken != body
    monkeypatch.setitem(F._KERNEL_SOURCES, kernel, (params_in, params_out, broken))
    monkeypatch.setattr(F, "_kernels", {})  # build the kernels again from the broken source
    kind = kernel.split("_")[0]
    layer = _layer_on(kind, "cuda", np.float64, fused=True)
    with_kernels = _results(layer, kind, "cuda", np.float64, None)
    layer.zero_grad()
    monkeypatch.setattr(F, "USE_CUDA_KERNELS", False)
    portable = _results(layer, kind, "cuda", np.float64, None)
    assert any(not np.allclose(a, b, rtol=1e-6, atol=1e-8) for a, b in zip(with_kernels, portable))


@pytest.mark.gpu
def test_nvrtc_check_compiles_the_instantiations_the_layers_use(kernels, monkeypatch):
    """Every kernel code the fused layers generate (both dtypes, with and without lengths) is one NVRTC checks."""
    from test_rnn_fused import _layer_on, _results  # noqa: PLC0415

    from cuda_emulator import nvrtc_check  # noqa: PLC0415

    monkeypatch.setattr(F, "_kernels", {})
    for kind in ("gru", "lstm"):
        for dtype in (np.float32, np.float64):
            layer = _layer_on(kind, "cuda", dtype, fused=True)
            for lengths in (None, [5, 2, 4]):
                _results(layer, kind, "cuda", dtype, lengths)
    used = {code for kernel in F._kernels.values() for code in kernel.cached_codes.values()}
    assert len(used) == 8  # 4 kernels x 2 dtypes
    assert used <= nvrtc_check.generated_codes()
