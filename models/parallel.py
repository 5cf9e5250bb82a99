"""Data-parallel training for the trainers in ``models/`` (``minigrad train <task> --distributed``).

Started under ``mpiexec -n N``, every process builds the same model and walks
through the same sequence of global batches (``--batch-size`` rows each); each
rank takes its own contiguous share of every batch's rows, and
:class:`~minigrad.nn.parallel.DistributedDataParallel` averages the gradients,
so every rank takes the same optimizer step as one process on the whole batch
would.  Only rank 0 prints and writes files (checkpoints, metrics, curves: see
:func:`is_main`, which ``minigrad_models.training``'s writers consult).

Unlike :class:`~minigrad.data.DistributedSampler`, which hands each rank its own
examples, cutting every global batch keeps the batches (and so the result) of
a one-process run, whatever the loader: the recurrent trainers' length buckets
and parallel text streams included.
"""
from __future__ import annotations

import numbers
import os
import sys

import numpy as np

import minigrad as mg
import minigrad.distributed as dist


def rank() -> int:
    """This process's rank (0 without a process group)."""
    return dist.get_rank() if dist.is_initialized() else 0


def world_size() -> int:
    """The number of ranks (1 without a process group)."""
    return dist.get_world_size() if dist.is_initialized() else 1


def launched_ranks() -> int:
    """How many processes ``mpiexec`` started, from the environment it sets (1 when not under MPI)."""
    for key in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE"):
        value = os.environ.get(key, "")
        if value.isdigit():
            return int(value)
    return 1


def is_main() -> bool:
    """True on the rank that prints and writes files: rank 0, or the only process."""
    return rank() == 0


class Run:
    """How this process takes part in a training run: ``rank``, ``world``, ``is_main``.

    ``Run(distributed=True, batch_size=B, seed=S)`` joins the MPI process group
    (``mpiexec`` started the processes) and checks that the global batch ``B``
    splits evenly over the ranks.  After the model is built, :meth:`wrap` makes
    it data-parallel and :meth:`shard` gives a loader's batches cut to this rank.
    """

    def __init__(self, distributed=False, batch_size=None, seed=0):
        self.distributed = bool(distributed)
        self.seed = int(seed)
        if self.distributed and not dist.is_initialized():
            dist.init_process_group(backend="mpi")
        self.rank, self.world = rank(), world_size()
        self.is_main = self.rank == 0
        launched = launched_ranks()
        if not self.distributed and launched > 1:
            sys.stderr.write(f"minigrad: warning: started as one of {launched} processes (mpiexec) without "
                             "--distributed: each process trains the whole model on its own\n")
        if self.distributed and batch_size is not None and batch_size % self.world:
            # The same on every rank: each exits, no abort needed; rank 0 says why.
            if self.is_main:
                _fail(f"--batch-size {batch_size} is the global batch: it must be a multiple of the {self.world} "
                      f"ranks (e.g. {max(1, batch_size // self.world) * self.world})")
            raise EveryRankExit(2)

    def wrap(self, model):
        """``model`` wrapped in DistributedDataParallel when distributed (else unchanged).

        Then every rank draws its own random numbers (dropout masks), from ``seed + rank``;
        the data order does not use minigrad's generator (see :meth:`shard`)."""
        if not self.distributed:
            return model
        ddp = mg.nn.parallel.DistributedDataParallel(model)
        if self.world > 1:
            mg.manual_seed(self.seed + self.rank)
        return ddp

    def shard(self, batches):
        """An iterable over ``batches`` (with ``len``) that yields this rank's rows of each batch.

        A shuffling :class:`~minigrad.data.DataLoader` without its own generator gets one
        seeded with ``seed``, so that every rank draws the same order."""
        if not self.distributed:
            return batches
        if isinstance(batches, mg.data.DataLoader) and batches.shuffle and batches.generator is None:
            batches.generator = np.random.default_rng(self.seed)
        return Shards(batches, self.rank, self.world)


class Shards:
    """Rank ``rank``'s share of every batch from ``batches``: rows ``[r * b / n, (r + 1) * b / n)``.

    A batch is a Tensor or array (rows along dimension 0), a tuple/list of them
    (lengths lists too), or a dict.  Batches with fewer rows than ranks are skipped
    on every rank alike.
    """

    def __init__(self, batches, rank, world):
        self.batches, self.rank, self.world = batches, rank, world

    def __len__(self):
        return len(self.batches)

    def __getattr__(self, name):  # the wrapped loader's attributes (its generator, dataset, ...)
        if name == "batches":
            raise AttributeError(name)
        return getattr(self.batches, name)

    def __iter__(self):
        for batch in self.batches:
            rows = _rows(batch)
            if rows is not None and rows < self.world:
                continue
            yield _take(batch, self.rank, self.world, rows)


def _rows(batch):
    if isinstance(batch, mg.Tensor) or hasattr(batch, "shape"):
        return batch.shape[0]
    if isinstance(batch, dict):
        batch = list(batch.values())
    if isinstance(batch, (tuple, list)) and batch:
        if all(isinstance(b, numbers.Number) for b in batch):
            return len(batch)
        return _rows(batch[0])
    return None


def _take(batch, r, n, rows):
    lo, hi = r * rows // n, (r + 1) * rows // n
    if isinstance(batch, mg.Tensor) or hasattr(batch, "shape"):
        return batch[lo:hi]
    if isinstance(batch, dict):
        return {k: _take(v, r, n, rows) for k, v in batch.items()}
    if isinstance(batch, (tuple, list)):
        if all(isinstance(b, numbers.Number) for b in batch):
            return type(batch)(batch[lo:hi])
        parts = [_take(b, r, n, rows) for b in batch]
        return tuple(parts) if isinstance(batch, tuple) else parts
    return batch


def sum_over_ranks(*values):
    """The sums over all ranks of these numbers (the numbers themselves without a group of several)."""
    if world_size() == 1:
        return values
    t = mg.tensor(np.asarray(values, dtype=np.float64))
    dist.all_reduce(t)
    return tuple(float(v) for v in t.numpy())


class EveryRankExit(SystemExit):
    """An exit that every rank takes at the same point: nothing to abort."""


def _fail(message):
    sys.stderr.write(f"minigrad: error: {message}\n")
    sys.stderr.flush()
    return 2
