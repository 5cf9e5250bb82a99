"""Bad input gets a clear error naming shapes, dtypes or devices, never a NumPy traceback."""
import sys
import types

import numpy as np
import pytest

import minigrad as mg


def test_matmul_shape_mismatch_names_shapes():
    with pytest.raises(ValueError, match=r"matmul: shapes \(2, 3\) and \(4, 5\) are not aligned"):
        mg.randn(2, 3) @ mg.randn(4, 5)
    with pytest.raises(ValueError, match=r"\(3,\) and \(2, 5\)"):
        mg.randn(3) @ mg.randn(2, 5)
    with pytest.raises(ValueError, match=r"at least 1 dimension"):
        mg.tensor(2.0) @ mg.randn(2)


def test_batched_matmul_broadcast_mismatch_names_shapes():
    with pytest.raises(ValueError, match=r"\(2, 3, 4\).*\(5, 4, 6\)"):
        mg.randn(2, 3, 4) @ mg.randn(5, 4, 6)


def test_cat_mismatch_names_shapes():
    with pytest.raises(ValueError, match=r"cat: .*\(2, 3\), \(2, 4\), \(3, 3\)"):
        mg.cat([mg.randn(2, 3), mg.randn(2, 4), mg.randn(3, 3)], dim=1)
    with pytest.raises(ValueError, match=r"stack: .*\(2, 3\).*\(3, 2\)"):
        mg.stack([mg.randn(2, 3), mg.randn(3, 2)])


def test_reshape_mismatch_names_shapes():
    with pytest.raises(ValueError, match=r"reshape: cannot reshape a tensor of shape \(2, 3\) \(6 elements\) "
                                         r"into shape \(4, 2\)"):
        mg.randn(2, 3).reshape(4, 2)
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(-1, 4\)"):
        mg.randn(2, 3).view(-1, 4)


def test_broadcast_mismatch_names_shapes():
    for op in (lambda a, b: a + b, lambda a, b: a * b, lambda a, b: a - b, mg.maximum):
        with pytest.raises(ValueError, match=r"shapes \(2, 3\) and \(4,\) cannot be broadcast"):
            op(mg.randn(2, 3), mg.randn(4))
    with pytest.raises(ValueError, match=r"cannot broadcast a tensor of shape \(3,\) to shape \(2, 4\)"):
        mg.randn(3).expand(2, 4)


def test_index_out_of_range_names_shape():
    with pytest.raises(IndexError, match=r"shape \(2, 3\)"):
        mg.randn(2, 3)[5]
    with pytest.raises(IndexError, match=r"shape \(2, 3\)"):
        mg.randn(2, 3)[np.array([0, 7])]


def test_reduction_bad_dim():
    with pytest.raises(IndexError, match=r"dim 3 is out of range for a tensor with 2 dimensions"):
        mg.randn(2, 3).sum(3)


def test_cuda_without_cupy_explains_the_extra(monkeypatch):
    """Without CuPy (``import cupy`` fails): the message names the extra to install."""
    monkeypatch.setattr(mg._backend, "_cupy", None)
    monkeypatch.setitem(sys.modules, "cupy", None)  # makes ``import cupy`` raise ImportError
    with pytest.raises(mg.DeviceError, match=r"minigrad\[gpu\]"):
        mg.zeros(3, device="cuda")
    with pytest.raises(mg.DeviceError, match=r"minigrad\[gpu\]"):
        mg.randn(3).cuda()
    assert not mg.cuda.is_available()


def test_cuda_with_cupy_but_no_device_says_so(monkeypatch):
    """CuPy installed but no driver or GPU (a CPU machine with the gpu extra): the message says so."""
    def no_driver():
        raise RuntimeError("cudaErrorInsufficientDriver: CUDA driver version is insufficient")

    stub = types.ModuleType("cupy")
    stub.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=no_driver))
    monkeypatch.setattr(mg._backend, "_cupy", None)
    monkeypatch.setitem(sys.modules, "cupy", stub)
    with pytest.raises(mg.DeviceError, match="CuPy finds no usable CUDA device: cudaErrorInsufficientDriver"):
        mg.zeros(3, device="cuda")
    assert not mg.cuda.is_available()
    stub.cuda.runtime.getDeviceCount = lambda: 0
    with pytest.raises(mg.DeviceError, match="CuPy finds no CUDA device"):
        mg.randn(3).cuda()


def test_unknown_device():
    with pytest.raises(mg.DeviceError, match="unknown device 'tpu'"):
        mg.zeros(2, device="tpu")


def test_gradient_shape_mismatch():
    x = mg.randn(3, requires_grad=True)
    with pytest.raises(ValueError, match=r"gradient has shape \(2,\), but the output has shape \(3,\)"):
        (x * 2).backward(mg.ones(2))


def test_setitem_on_tensor_requiring_grad():
    x = mg.randn(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="requires grad"):
        x[0] = 1.0
    y = mg.zeros(2, 3)
    with pytest.raises(ValueError, match=r"shape \(4,\).*shape \(2, 3\)"):
        y[0] = np.ones(4)


def test_item_of_many_elements():
    with pytest.raises(ValueError, match=r"one element, got shape \(2,\)"):
        mg.randn(2).item()


def test_numpy_on_tensor_requiring_grad():
    with pytest.raises(RuntimeError, match=r"detach\(\)"):
        mg.randn(2, requires_grad=True).numpy()


def test_combining_with_unsupported_type():
    with pytest.raises(TypeError, match="cannot combine a tensor with str"):
        mg.randn(2) + "a"


def test_extension_points_missing_a_required_method_are_clear_type_errors():
    """Op, Optimizer, LRScheduler, Dataset and RNNBase are abstract; Module and Function say what is missing."""
    from minigrad.autograd.engine import Op

    class HalfOp(Op):
        def forward(self, x):
            return x

    with pytest.raises(TypeError, match="HalfOp.*backward"):
        HalfOp.apply(mg.ones(2, requires_grad=True))

    class NoForward(mg.nn.Module):
        pass

    with pytest.raises(TypeError, match="NoForward cannot be called: it defines no forward"):
        NoForward()(mg.ones(1))

    class NoBackward(mg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

    with pytest.raises(TypeError, match="NoBackward must define @staticmethod backward"):
        NoBackward.apply(mg.ones(1, requires_grad=True))

    class NoUpdate(mg.optim.Optimizer):
        pass

    with pytest.raises(TypeError, match="NoUpdate.*_update"):
        NoUpdate([mg.nn.Parameter(mg.zeros(1))], {"lr": 0.1})

    class NoLength(mg.data.Dataset):
        def __getitem__(self, i):
            return i

    with pytest.raises(TypeError, match="NoLength.*__len__"):
        NoLength()


def test_scatter_bad_index_or_src_names_them():
    x, idx = mg.zeros(3, 4), mg.tensor([[0, 1], [1, 2], [2, 3]])
    with pytest.raises(ValueError, match=r"scatter: src of shape \(3,\) must have as many dims as index \(3, 2\)"):
        x.scatter(1, idx, mg.ones(3))
    with pytest.raises(TypeError, match="scatter_add: index must be an integer tensor, got dtype float32"):
        x.scatter_add(1, idx.float(), mg.ones(3, 2))
