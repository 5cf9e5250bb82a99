"""Samplers: the order in which a DataLoader visits a dataset's indices."""
from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = ["DistributedSampler"]


class DistributedSampler:
    """Give each of ``num_replicas`` ranks its own share of the dataset's indices, as PyTorch's.

    Every epoch, the indices ``0 .. len(dataset)-1`` are put in order (shuffled with
    seed ``seed + epoch`` when ``shuffle``: the same order on every rank), made a
    multiple of ``num_replicas`` long, and rank ``r`` takes positions
    ``r, r + num_replicas, ...``.  Without ``drop_last`` the list is padded by
    repeating its first indices (so a few examples are seen twice an epoch);
    with it, the tail is dropped.  Each rank gets ``len(sampler)`` indices.

    ``num_replicas`` and ``rank`` default to the process group's world size and
    rank.  Call ``set_epoch(epoch)`` before each epoch for a new shuffle.

    >>> s = DistributedSampler(range(10), num_replicas=4, rank=1, shuffle=False)
    >>> list(s)
    [1, 5, 9]
    """

    def __init__(self, dataset, num_replicas=None, rank=None, shuffle=True, seed=0, drop_last=False):
        if num_replicas is None or rank is None:
            from .. import distributed as dist  # noqa: PLC0415 - only when asked for the group's values

            if not dist.is_initialized():
                raise ValueError("DistributedSampler: pass num_replicas= and rank=, or call "
                                 "minigrad.distributed.init_process_group(backend='mpi') first")
            num_replicas = dist.get_world_size() if num_replicas is None else num_replicas
            rank = dist.get_rank() if rank is None else rank
        for name, v in (("num_replicas", num_replicas), ("rank", rank), ("seed", seed)):
            if isinstance(v, bool) or not isinstance(v, numbers.Integral):
                raise TypeError(f"DistributedSampler: {name} must be an int, got {v!r}")
        if num_replicas < 1:
            raise ValueError(f"DistributedSampler: num_replicas must be at least 1, got {num_replicas}")
        if not 0 <= rank < num_replicas:
            raise ValueError(f"Invalid rank {rank}, rank should be in the interval [0, {num_replicas - 1}]")
        self.dataset = dataset
        self.num_replicas, self.rank = int(num_replicas), int(rank)
        self.shuffle, self.seed, self.drop_last = bool(shuffle), int(seed), bool(drop_last)
        self.epoch = 0
        n = len(dataset)
        if self.drop_last and n % self.num_replicas:
            self.num_samples = math.ceil((n - self.num_replicas) / self.num_replicas)
        else:
            self.num_samples = math.ceil(n / self.num_replicas)
        self.total_size = self.num_samples * self.num_replicas

    def __iter__(self):
        n = len(self.dataset)
        if self.shuffle:
            indices = np.random.default_rng(self.seed + self.epoch).permutation(n)
        else:
            indices = np.arange(n)
        if not self.drop_last:
            pad = self.total_size - n
            if pad > 0:  # repeat the list (more than once for tiny datasets) to fill the last round
                indices = np.concatenate([indices, np.resize(indices, pad)])
        else:
            indices = indices[:self.total_size]
        return iter(indices[self.rank:self.total_size:self.num_replicas].tolist())

    def __len__(self):
        return self.num_samples

    def set_epoch(self, epoch):
        """Use shuffle ``seed + epoch`` from now on (call it at the start of every epoch)."""
        self.epoch = int(epoch)

    def __repr__(self):
        return (f"DistributedSampler(len(dataset)={len(self.dataset)}, num_replicas={self.num_replicas}, "
                f"rank={self.rank}, shuffle={self.shuffle}, drop_last={self.drop_last})")
