"""GPU behaviour (CuPy): skipped without CUDA.  The op-by-op parity tests live in test_ops.py."""
import numpy as np
import pytest

import minigrad as mg

pytestmark = pytest.mark.gpu


def test_factories_and_transfer():
    x = mg.randn(3, 4, device="cuda")
    assert x.device == "cuda" and x.is_cuda
    y = x.cpu()
    assert y.device == "cpu"
    np.testing.assert_array_equal(y.numpy(), mg._backend.to_device(x.data, "cpu"))
    assert mg.zeros(2, device="cuda").device == "cuda"


def test_mixing_devices_names_both():
    with pytest.raises(mg.DeviceError, match="cpu.*cuda|cuda.*cpu"):
        mg.randn(3) + mg.randn(3, device="cuda")


def test_backward_on_gpu_and_gradient_through_transfer():
    x = mg.randn(4, 3, requires_grad=True)
    w = mg.randn(3, 2, device="cuda", requires_grad=True)
    y = (x.cuda() @ w).tanh().sum()
    y.backward()
    assert x.grad.device == "cpu" and w.grad.device == "cuda"
    x2 = mg.tensor(x.data, dtype=mg.float64, requires_grad=True)
    w2 = mg.tensor(mg._backend.to_device(w.data, "cpu"), dtype=mg.float64, requires_grad=True)
    (x2 @ w2).tanh().sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), x2.grad.numpy(), rtol=1e-4, atol=1e-5)


def test_save_and_load_cuda_tensor(tmp_path):
    x = mg.randn(3, device="cuda")
    mg.save({"x": x}, tmp_path / "g.npz")
    back = mg.load(tmp_path / "g.npz")
    assert back["x"].device == "cuda"
    assert mg.load(tmp_path / "g.npz", map_location="cpu")["x"].device == "cpu"


def test_numpy_on_cuda_tensor_says_cpu_first():
    with pytest.raises(mg.DeviceError, match=r"\.cpu\(\)"):
        mg.randn(2, device="cuda").numpy()
