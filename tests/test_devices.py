"""Devices: NumPy scalars stay on the CPU, one GPU ('cuda' = 'cuda:0'), host data written into GPU tensors.

The first tests run everywhere; the ``gpu`` ones need CuPy and a device (a real GPU, or the emulated
device of ``tests/cuda_emulator`` with ``MINIGRAD_EMULATE_CUDA=1``).
"""
import math
import os
import sys
import types

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn
from minigrad import _backend as B
from minigrad.nn import functional as F

EMULATED = os.environ.get("MINIGRAD_EMULATE_CUDA", "") == "1"


@pytest.fixture
def cupy_loaded(monkeypatch):
    """A stand-in for a loaded CuPy (its own ndarray type): what xp_of sees on any GPU machine."""
    class DeviceArray:
        pass

    fake = types.SimpleNamespace(ndarray=DeviceArray)
    monkeypatch.setattr(B, "_cupy", fake)
    return fake


# ----------------------------------------------------------------------------- NumPy scalars are host data
def test_xp_of_numpy_scalars_is_numpy_once_cupy_is_loaded(cupy_loaded):
    zero_d = np.array(2.0)
    for value in (np.float64(1.5), np.float32(1.5), zero_d * 0.5, np.int64(3), np.bool_(True), zero_d):
        assert B.xp_of(value) is np, type(value)
    assert B.xp_of(cupy_loaded.ndarray()) is cupy_loaded
    assert B.device_of(np.float64(1.0)) == "cpu"


@pytest.mark.parametrize("dtype", [mg.float32, mg.float64])
def test_gelu_and_erf_of_0d_cpu_tensor_once_cupy_is_loaded(cupy_loaded, dtype):
    """0-d arithmetic gives NumPy scalars: they must not be sent to cupyx.scipy.special.erf."""
    x = mg.tensor(0.5, dtype=dtype, requires_grad=True)
    y = F.gelu(x) + F.erf(x)
    y.backward()
    assert y.device == "cpu" and np.isfinite(y.item()) and np.isfinite(x.grad.item())
    assert y.item() == pytest.approx(0.25 * (1 + math.erf(0.5 / math.sqrt(2))) + math.erf(0.5), rel=1e-6)


# ----------------------------------------------------------------------------- one GPU: 'cuda' is 'cuda:0'
def test_gpu_other_than_the_first_is_refused_before_cupy_is_needed():
    assert B.parse_device("cuda:0") == ("cuda", 0) and B.device_name("cuda:0") == "cuda"
    for spec in ("cuda:1", "CUDA:3"):
        with pytest.raises(mg.DeviceError, match=r"one GPU, device 0 .*CUDA_VISIBLE_DEVICES"):
            B.parse_device(spec)
    for make in (lambda: mg.zeros(2, device="cuda:1"), lambda: mg.randn(2, device="cuda:1"),
                 lambda: mg.randn(2).to("cuda:1"), lambda: mg.randn(2).cuda(1),
                 lambda: nn.Linear(2, 2).to("cuda:1"), lambda: nn.Linear(2, 2).cuda(1)):
        with pytest.raises(mg.DeviceError, match="'cuda:1': minigrad runs on one GPU"):
            make()


# ----------------------------------------------------------------------------- on a device (real or emulated)
@pytest.fixture
def two_devices(monkeypatch):
    """Two emulated GPUs (the emulator only: a real machine has what it has)."""
    if not EMULATED:
        pytest.skip("needs the emulated CUDA device (MINIGRAD_EMULATE_CUDA=1)")
    import cuda_emulator.fake_cupy as fake  # noqa: PLC0415

    fake.set_device_count(2)
    yield sys.modules["cupy"]
    fake.set_device_count(1)


@pytest.mark.gpu
def test_tensor_from_cupy_array_made_before_minigrad_loaded_cupy(monkeypatch):
    cp = B.cupy()
    a = cp.arange(4, dtype=cp.float32)
    monkeypatch.setattr(B, "_cupy", None)  # as in a fresh process where the user imported CuPy first
    t = mg.tensor(a, device="cuda")
    assert t.device == "cuda" and t.tolist() == [0.0, 1.0, 2.0, 3.0]
    monkeypatch.setattr(B, "_cupy", None)
    assert mg.as_tensor(a).device == "cuda"
    monkeypatch.setattr(B, "_cupy", None)
    assert mg.tensor(a).device == "cpu"  # mg.tensor's default device is the CPU: a copy to the host
    assert B._cupy is cp


@pytest.mark.gpu
def test_gpu_other_than_the_first_is_refused_everywhere(two_devices, tmp_path):
    cp = two_devices
    with pytest.raises(mg.DeviceError, match="'cuda:1': minigrad runs on one GPU"):
        mg.randint(0, 5, (3,), device="cuda:1")
    with pytest.raises(mg.DeviceError, match="'cuda:1': minigrad runs on one GPU"):
        mg.randperm(5, device="cuda:1")
    with pytest.raises(mg.DeviceError, match="'cuda:1'"):
        nn.BatchNorm1d(3).to("cuda:1")
    with pytest.raises(mg.DeviceError, match="'cuda:1'"):
        nn.Conv2d(1, 2, 3).cuda(1)
    mg.save({"w": mg.randn(3)}, tmp_path / "w.npz")
    with pytest.raises(mg.DeviceError, match="'cuda:1'"):
        mg.load(tmp_path / "w.npz", map_location="cuda:1")
    with cp.cuda.Device(1):
        on_second = cp.arange(3, dtype=cp.float32)
    with pytest.raises(mg.DeviceError, match="cuda:1.*one GPU"):
        mg.as_tensor(on_second)
    moved = mg.tensor(on_second, device="cuda")  # an explicit copy to the first GPU works
    assert moved.data.device.id == 0 and (moved * 2).tolist() == [0.0, 2.0, 4.0]


@pytest.mark.gpu
def test_everything_stays_on_the_first_gpu(two_devices):
    """Factories, scalar lifting, layer initialisation and buffers: all on device 0, never elsewhere."""
    x = mg.randn(2, 3, device="cuda")
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2)).to("cuda:0")
    tensors = [x, x * 2, mg.rand(2, device="cuda"), mg.randint(0, 3, (2,), device="cuda"),
               mg.randperm(3, device="cuda"), *model.parameters(), *model.buffers()]
    for t in tensors:
        assert t.device == "cuda" and t.data.device.id == 0


@pytest.mark.gpu
def test_host_data_written_into_a_cuda_tensor():
    t = mg.zeros(5, device="cuda")
    t[0:2] = mg.tensor([1.0, 2.0])  # a CPU tensor, copied across as in PyTorch
    t[2:4] = np.array([3.0, 4.0], dtype=np.float32)
    t[4] = 5.0
    assert t.device == "cuda" and t.tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]
    c = mg.zeros(3)
    c[1:] = mg.ones(2, device="cuda")  # and the other way
    assert c.device == "cpu" and c.tolist() == [0.0, 1.0, 1.0]
    t.copy_(mg.arange(5.0))
    assert t.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]


@pytest.mark.gpu
@pytest.mark.parametrize("init", ["uniform_", "normal_", "trunc_normal_", "xavier_uniform_", "kaiming_normal_",
                                  "orthogonal_"])
def test_init_with_a_numpy_generator_fills_a_cuda_tensor(init):
    fn = getattr(nn.init, init)
    gpu, cpu = mg.empty(4, 3, device="cuda"), mg.empty(4, 3)
    fn(gpu, generator=np.random.default_rng(5))
    fn(cpu, generator=np.random.default_rng(5))
    assert gpu.device == "cuda"
    np.testing.assert_allclose(gpu.cpu().numpy(), cpu.numpy(), rtol=1e-6, atol=1e-7)


def test_cli_refuses_a_second_gpu_in_one_line(capsys, tmp_path):
    from minigrad import cli  # noqa: PLC0415

    status = cli.main(["train", "lenet", "--device", "cuda:1", "--epochs", "1", "--out", str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) <= 2 and "'cuda:1': minigrad runs on one GPU" in err[0]
