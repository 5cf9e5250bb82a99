"""minigrad: a small deep-learning framework with tape-based reverse-mode autograd.

``import minigrad as mg``; the API follows PyTorch's names and semantics.
"""
from . import _backend
from ._backend import (  # noqa: F401
    DeviceError, bool_, cuda_available, double, float16, float32, float64, half, int8, int16, int32, int64,
    get_num_threads, get_rng_state, long, manual_seed, set_num_threads, set_rng_state, uint8,
)
from .autograd.engine import (  # noqa: F401
    BackwardError, Tensor, enable_grad, is_grad_enabled, no_grad, set_grad_enabled,
)
from . import api as _api
from .ops.reduce import MaxResult, SortResult  # noqa: F401
from .ops.shape import channels_last, channels_last_3d, contiguous_format, preserve_format  # noqa: F401

globals().update(_api.install())  # mg.add, mg.zeros..., and Tensor's methods and operators: see api.py

from . import autograd  # noqa: F401,E402
from . import creation  # noqa: F401,E402
from . import nn  # noqa: F401,E402
from . import ops  # noqa: F401,E402
from . import data  # noqa: F401,E402
from . import datasets  # noqa: F401,E402
from . import distributed  # noqa: F401,E402  (mpi4py is imported only by init_process_group)
from . import optim  # noqa: F401,E402
from . import utils  # noqa: F401,E402
from .serialization import CheckpointError, load, save  # noqa: F401,E402

bool = bool_  # noqa: A001  (mg.bool, as torch.bool)
__version__ = "0.1.0"


class _Cuda:
    """``mg.cuda.is_available()``, as ``torch.cuda.is_available()``."""

    @staticmethod
    def is_available():
        return _backend.cuda_available()

    @staticmethod
    def synchronize():
        if _backend._cupy is not None:
            _backend._cupy.cuda.Device().synchronize()


cuda = _Cuda()
