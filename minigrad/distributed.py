"""``minigrad.distributed``: several processes training one model, over MPI, with PyTorch's names.

Start the processes with ``mpiexec`` and call :func:`init_process_group` in each::

    mpiexec -n 4 python train.py

    # train.py
    import minigrad as mg
    import minigrad.distributed as dist
    dist.init_process_group(backend="mpi")
    rank, world = dist.get_rank(), dist.get_world_size()
    model = mg.nn.parallel.DistributedDataParallel(Net())

Needs the ``mpi`` extra (``pip install "minigrad[mpi]"``: mpi4py and an MPI
runtime).  mpi4py is imported only when a process group is created, so the
rest of minigrad never needs it.

Collectives work in place on a tensor's array, on every rank at once, in the
same order on every rank (the MPI rule: a rank that skips one hangs the rest).
CuPy arrays go through NCCL (``cupy.cuda.nccl``) when it is available, straight
to MPI when the MPI library is CUDA-aware, and through host memory otherwise;
``MINIGRAD_GPU_COLLECTIVES=nccl|mpi|host`` forces one.

A rank that dies of an uncaught exception aborts the whole job
(``MPI_Abort``) after printing its traceback, so that the other ranks, which
may be waiting for it inside a collective, do not hang.
"""
from __future__ import annotations

import os
import sys
import time

import numpy as np

__all__ = [
    "ReduceOp", "init_process_group", "is_initialized", "is_available", "get_rank", "get_world_size", "barrier",
    "all_reduce", "broadcast", "destroy_process_group", "get_backend", "abort",
]

_INSTALL_HINT = 'pip install "minigrad[mpi]" (or: pip install mpi4py mpich)'


class ReduceOp:
    """How :func:`all_reduce` combines the ranks' values (``ReduceOp.SUM``...)."""

    SUM = "sum"
    PRODUCT = "product"
    MIN = "min"
    MAX = "max"
    AVG = "avg"  # the sum divided by the world size (floating-point tensors)


class _Group:
    """The default process group: the MPI communicator and how GPU arrays travel."""

    def __init__(self, MPI, comm):
        self.MPI, self.comm = MPI, comm
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        self.gpu_path = None  # decided at the first CuPy collective
        self.nccl = None


_group: _Group | None = None
_previous_excepthook = None


def _import_mpi():
    try:
        from mpi4py import MPI  # noqa: PLC0415 - optional dependency, imported on demand
    except ImportError as e:
        raise ImportError(f"minigrad.distributed needs mpi4py and an MPI runtime ({e}); install them with "
                          f"{_INSTALL_HINT}") from None
    return MPI


def is_available() -> bool:
    """True when mpi4py can be imported (without starting MPI)."""
    import importlib.util  # noqa: PLC0415

    return importlib.util.find_spec("mpi4py") is not None


def init_process_group(backend="mpi", init_method=None, timeout=None, world_size=-1, rank=-1, store=None,
                       group_name="", pg_options=None):
    """Join the job's default process group: every process started by ``mpiexec``.

    ``backend`` must be ``"mpi"``; rank and world size come from MPI (``world_size``
    and ``rank``, if given, must agree with it).  A process started without
    ``mpiexec`` is a world of one.  Installs an exception hook that aborts the
    whole job when this rank dies of an uncaught exception.
    """
    global _group, _previous_excepthook
    if backend not in ("mpi", "MPI"):
        raise ValueError(f"init_process_group: backend {backend!r} is not supported; minigrad has backend='mpi' "
                         "(CuPy tensors use NCCL through it when available)")
    if _group is not None:
        raise RuntimeError("trying to initialize the default process group twice!")
    MPI = _import_mpi()
    comm = MPI.COMM_WORLD
    group = _Group(MPI, comm)
    if world_size not in (-1, None) and world_size != group.size:
        raise ValueError(f"init_process_group: world_size={world_size}, but MPI started {group.size} processes")
    if rank not in (-1, None) and rank != group.rank:
        raise ValueError(f"init_process_group: rank={rank}, but MPI says this process is rank {group.rank}")
    _group = group
    if _previous_excepthook is None:
        _previous_excepthook = sys.excepthook
        sys.excepthook = _abort_on_exception


def _abort_on_exception(exc_type, exc, tb):
    """``sys.excepthook`` while a group is up: print the traceback, then take every rank down."""
    group = _group
    if group is None or group.size == 1:
        _previous_excepthook(exc_type, exc, tb)
        return
    import traceback  # noqa: PLC0415

    text = "".join(traceback.format_exception(exc_type, exc, tb))
    abort(1, f"{text}minigrad.distributed: rank {group.rank} failed with {exc_type.__name__}; aborting all ranks")


def abort(code=1, message=None):
    """End every rank of the job now (``MPI_Abort``), after writing ``message`` to stderr.

    For failures on one rank that must not leave the others waiting in a collective;
    outside a group of several ranks it is ``sys.exit(code)``.
    """
    sys.stdout.flush()
    if message:
        sys.stderr.flush()
        # One write, then a moment for mpiexec to forward it: MPI_Abort tears the job down at once.
        os.write(2, (message.rstrip("\n") + "\n").encode("utf-8", "replace"))
    if _group is not None and _group.size > 1:
        time.sleep(0.5)
        _group.comm.Abort(code)
    sys.exit(code)


def is_initialized() -> bool:
    """True between :func:`init_process_group` and :func:`destroy_process_group`."""
    return _group is not None


def _get_group(who):
    if _group is None:
        raise ValueError(f"{who}: Default process group has not been initialized, please make sure to call "
                         "minigrad.distributed.init_process_group(backend='mpi')")
    return _group


def get_rank(group=None) -> int:
    """This process's number, 0 to world size - 1."""
    return _get_group("get_rank").rank


def get_world_size(group=None) -> int:
    """The number of processes in the group."""
    return _get_group("get_world_size").size


def get_backend(group=None) -> str:
    _get_group("get_backend")
    return "mpi"


def barrier(group=None, async_op=False, device_ids=None):
    """Wait until every rank has reached this call."""
    _get_group("barrier").comm.Barrier()
    return _Done() if async_op else None


def destroy_process_group(group=None):
    """Leave the process group (MPI itself is finalised when the process exits)."""
    global _group, _previous_excepthook
    if _group is None:
        raise ValueError("destroy_process_group: Default process group has not been initialized")
    _group = None
    if _previous_excepthook is not None and sys.excepthook is _abort_on_exception:
        sys.excepthook = _previous_excepthook
    _previous_excepthook = None


class _Done:
    """What ``async_op=True`` returns: the work is already finished (MPI calls here block)."""

    def wait(self, timeout=None):
        return True

    def is_completed(self):
        return True


def _array_of(tensor, who):
    from .autograd.engine import Tensor  # noqa: PLC0415

    if not isinstance(tensor, Tensor):
        raise TypeError(f"{who} expects a minigrad Tensor, got {type(tensor).__name__}")
    return tensor.data


def all_reduce(tensor, op=ReduceOp.SUM, group=None, async_op=False):
    """Combine ``tensor`` across all ranks with ``op`` and leave the result, in place, on every rank.

    ``tensor``: any shape; every rank passes the same shape and dtype.
    """
    g = _get_group("all_reduce")
    data = _array_of(tensor, "all_reduce")
    if op not in (ReduceOp.SUM, ReduceOp.PRODUCT, ReduceOp.MIN, ReduceOp.MAX, ReduceOp.AVG):
        raise ValueError(f"all_reduce: unknown op {op!r}; use minigrad.distributed.ReduceOp.SUM/PRODUCT/MIN/MAX/AVG")
    if op == ReduceOp.AVG and data.dtype.kind != "f":
        raise TypeError(f"all_reduce: ReduceOp.AVG needs a floating-point tensor, got dtype {data.dtype}")
    _collective(g, data, "allreduce", op)
    if op == ReduceOp.AVG:
        data /= g.size
    tensor._bump_version()
    return _Done() if async_op else None


def broadcast(tensor, src, group=None, async_op=False):
    """Copy rank ``src``'s ``tensor`` into ``tensor`` on every other rank, in place."""
    g = _get_group("broadcast")
    data = _array_of(tensor, "broadcast")
    if not 0 <= int(src) < g.size:
        raise ValueError(f"broadcast: src={src} is not a rank of a world of size {g.size}")
    _collective(g, data, "bcast", int(src))
    tensor._bump_version()
    return _Done() if async_op else None


# ----------------------------------------------------------------------------- moving arrays
def _mpi_op(g, op):
    MPI = g.MPI
    return {ReduceOp.SUM: MPI.SUM, ReduceOp.AVG: MPI.SUM, ReduceOp.PRODUCT: MPI.PROD, ReduceOp.MIN: MPI.MIN,
            ReduceOp.MAX: MPI.MAX}[op]


def _mpi_call(g, buf, kind, arg):
    """One in-place MPI collective on a contiguous NumPy (or, CUDA-aware MPI, CuPy) array."""
    if kind == "allreduce":
        g.comm.Allreduce(g.MPI.IN_PLACE, buf, op=_mpi_op(g, arg))
    else:
        g.comm.Bcast(buf, root=arg)


def _collective(g, data, kind, arg):
    """Run collective ``kind`` ("allreduce" with op ``arg``, "bcast" from rank ``arg``) on ``data`` in place."""
    if g.size == 1:
        return  # a world of one: the result is the input
    if isinstance(data, np.ndarray):
        buf = data if data.flags.c_contiguous else np.ascontiguousarray(data)
        _mpi_call(g, buf, kind, arg)
        if buf is not data:
            data[...] = buf
        return
    _gpu_collective(g, data, kind, arg)


def gpu_path(group=None):
    """How CuPy arrays travel between ranks: ``"nccl"``, ``"mpi"`` (CUDA-aware MPI) or ``"host"``."""
    g = _get_group("gpu_path")
    if g.gpu_path is None:
        g.gpu_path = _choose_gpu_path(g)
    return g.gpu_path


def _choose_gpu_path(g):
    forced = os.environ.get("MINIGRAD_GPU_COLLECTIVES", "").strip().lower()
    if forced:
        if forced not in ("nccl", "mpi", "host"):
            raise ValueError(f"MINIGRAD_GPU_COLLECTIVES={forced!r}: expected nccl, mpi or host")
        return forced
    # Every rank must take the same path: decide on rank 0 and tell the others.
    choice = None
    if g.rank == 0:
        choice = "nccl" if _nccl_available() else ("mpi" if mpi_is_cuda_aware() else "host")
    return g.comm.bcast(choice, root=0)


def _nccl_available():
    try:
        from cupy.cuda import nccl  # noqa: PLC0415 - optional
    except Exception:  # noqa: BLE001 - cupy without NCCL raises various errors
        return False
    return bool(getattr(nccl, "available", True))


def mpi_is_cuda_aware() -> bool:
    """True when the MPI library says it can read and write GPU memory (``MPIX_Query_cuda_support``)."""
    import ctypes  # noqa: PLC0415

    MPI = _import_mpi()
    try:
        query = ctypes.CDLL(MPI.__file__).MPIX_Query_cuda_support
    except (OSError, AttributeError):
        return False  # not Open MPI or MPICH (>= 4.1): assume not
    query.restype = ctypes.c_int
    return bool(query())


def _gpu_collective(g, data, kind, arg):
    path = gpu_path()
    import cupy  # noqa: PLC0415 - data is a CuPy array, so CuPy is there

    buf = data if data.flags.c_contiguous else cupy.ascontiguousarray(data)
    if path == "nccl":
        _nccl_call(g, buf, kind, arg)
    elif path == "mpi":
        cupy.cuda.get_current_stream().synchronize()  # MPI reads the memory outside CuPy's stream
        _mpi_call(g, buf, kind, arg)
    else:
        host = cupy.asnumpy(buf)
        _mpi_call(g, host, kind, arg)
        buf.set(host)
    if buf is not data:
        data[...] = buf


def _nccl_call(g, buf, kind, arg):
    import cupy  # noqa: PLC0415
    from cupy.cuda import nccl  # noqa: PLC0415

    if g.nccl is None:
        uid = nccl.get_unique_id() if g.rank == 0 else None
        uid = g.comm.bcast(uid, root=0)
        g.nccl = nccl.NcclCommunicator(g.size, uid, g.rank)
    types = {np.dtype(np.float16): nccl.NCCL_FLOAT16, np.dtype(np.float32): nccl.NCCL_FLOAT32,
             np.dtype(np.float64): nccl.NCCL_FLOAT64, np.dtype(np.int32): nccl.NCCL_INT32,
             np.dtype(np.int64): nccl.NCCL_INT64, np.dtype(np.uint8): nccl.NCCL_UINT8,
             np.dtype(np.int8): nccl.NCCL_INT8}
    if buf.dtype not in types:
        raise TypeError(f"NCCL collectives do not take dtype {buf.dtype}")
    stream = cupy.cuda.get_current_stream().ptr
    if kind == "allreduce":
        ops = {ReduceOp.SUM: nccl.NCCL_SUM, ReduceOp.AVG: nccl.NCCL_SUM, ReduceOp.PRODUCT: nccl.NCCL_PROD,
               ReduceOp.MIN: nccl.NCCL_MIN, ReduceOp.MAX: nccl.NCCL_MAX}
        g.nccl.allReduce(buf.data.ptr, buf.data.ptr, buf.size, types[buf.dtype], ops[arg], stream)
    else:
        g.nccl.bcast(buf.data.ptr, buf.size, types[buf.dtype], arg, stream)


# ----------------------------------------------------------------------------- helpers for DDP and trainers
def _allgather_object(obj):
    """Every rank's ``obj`` (picklable), as a list indexed by rank."""
    g = _get_group("all_gather_object")
    return g.comm.allgather(obj) if g.size > 1 else [obj]


def all_gather_object(object_list, obj, group=None):
    """Fill ``object_list`` (length world size) with every rank's ``obj``, as PyTorch's."""
    gathered = _allgather_object(obj)
    if len(object_list) != len(gathered):
        raise ValueError(f"all_gather_object: object_list has length {len(object_list)}, the world size is "
                         f"{len(gathered)}")
    object_list[:] = gathered


def broadcast_object_list(object_list, src=0, group=None, device=None):
    """Replace ``object_list``'s items on every rank by rank ``src``'s, as PyTorch's."""
    g = _get_group("broadcast_object_list")
    if not 0 <= int(src) < g.size:
        raise ValueError(f"broadcast_object_list: src={src} is not a rank of a world of size {g.size}")
    if g.size > 1:
        object_list[:] = g.comm.bcast(list(object_list), root=src)
