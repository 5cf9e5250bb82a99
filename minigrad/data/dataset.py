"""Datasets: anything with ``__getitem__`` and ``__len__``.

A dataset hands out one example at a time (``dataset[i]``); a
:class:`~minigrad.data.DataLoader` groups examples into batches.  Datasets that
can fetch a whole batch in one indexing operation define
``get_batch(indices)``; the loader uses it instead of a Python loop over the
batch.  :class:`TensorDataset` does, and so does a :class:`Subset` of one.
"""
from __future__ import annotations

import abc
import numbers

import numpy as np

from .. import _backend as B
from ..creation import _to_array
from ..autograd.engine import Tensor

__all__ = ["Dataset", "TensorDataset", "Subset", "ConcatDataset", "random_split"]


class Dataset(abc.ABC):
    """Base class of map-style datasets (abstract): subclasses define ``__getitem__`` and ``__len__``."""

    @abc.abstractmethod
    def __getitem__(self, index):
        """The example at ``index``."""

    @abc.abstractmethod
    def __len__(self):
        """The number of examples."""

    def __add__(self, other):
        return ConcatDataset([self, other])


def _is_array(x) -> bool:
    return isinstance(x, np.ndarray) or B.is_cupy_array(x)


def _check_index(index, n, who):
    """Turn a Python/NumPy integer index into a non-negative int, or raise a clear IndexError."""
    if not isinstance(index, numbers.Integral):
        raise TypeError(f"{who} indices must be integers, got {type(index).__name__}")
    i = int(index)
    if not -n <= i < n:
        raise IndexError(f"{who} index {i} is out of range for a dataset of length {n}")
    return i + n if i < 0 else i


class TensorDataset(Dataset):
    """Examples made of rows of tensors: ``dataset[i] == (t[i] for t in tensors)``.

    ``TensorDataset(images, labels)`` with ``images`` of shape (N, C, H, W)
    and ``labels`` of shape (N,) gives ``(image (C, H, W), label ())`` pairs.
    Accepts Tensors, NumPy/CuPy arrays or nested lists (converted as
    ``mg.tensor`` would: Python floats become float32).  All must have the
    same first dimension N.  Items come out as Tensors.
    """

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset needs at least one tensor")
        converted = []
        for t in tensors:
            if not isinstance(t, Tensor) and not _is_array(t):
                t = _to_array(t)
            if t.ndim == 0:
                raise ValueError("TensorDataset: every tensor needs a first (example) dimension, got a 0-d one")
            converted.append(t)
        sizes = [t.shape[0] for t in converted]
        if any(s != sizes[0] for s in sizes):
            shapes = ", ".join(str(tuple(t.shape)) for t in converted)
            raise ValueError(f"TensorDataset: all tensors must have the same size in dimension 0, "
                             f"got sizes {sizes} (shapes {shapes})")
        self.tensors = tuple(converted)

    def __len__(self):
        return self.tensors[0].shape[0]

    def __getitem__(self, index):
        i = _check_index(index, len(self), "TensorDataset")
        return tuple(_rows(t, i) for t in self.tensors)

    def get_batch(self, indices):
        """The collated batch for an integer array ``indices`` (B,): one Tensor (B, ...) per tensor.

        One fancy-indexing operation per tensor, no loop over the batch.
        """
        return tuple(_rows(t, indices) for t in self.tensors)


def _rows(t, index):
    """``t[index]`` as a Tensor; keeps the graph only when ``t`` requires grad."""
    if isinstance(t, Tensor):
        if t.requires_grad:
            return t[index]
        data = t.data
    else:
        data = t
    if not isinstance(index, int) and type(data) is not np.ndarray:
        index = B.xp_of(data).asarray(index)  # CuPy wants its index arrays on the GPU
    return Tensor(data[index])


class Subset(Dataset):
    """The examples of ``dataset`` at ``indices``, in that order."""

    def __init__(self, dataset, indices):
        self.dataset = dataset
        if isinstance(indices, Tensor):
            indices = indices.data
        if _is_array(indices) and type(indices) is not np.ndarray:
            indices = B.to_device(indices, "cpu")
        self.indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        n = len(dataset)
        if self.indices.size and (self.indices.min() < -n or self.indices.max() >= n):
            raise IndexError(f"Subset: indices must be in [-{n}, {n}) for a dataset of length {n}, "
                             f"got min {self.indices.min()} and max {self.indices.max()}")

    def __len__(self):
        return int(self.indices.shape[0])

    def __getitem__(self, index):
        i = _check_index(index, len(self), "Subset")
        return self.dataset[int(self.indices[i])]


class ConcatDataset(Dataset):
    """Several datasets one after another (``ds1 + ds2`` makes one)."""

    def __init__(self, datasets):
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset needs at least one dataset")
        self.cumulative_sizes = np.cumsum([len(d) for d in self.datasets])

    def __len__(self):
        return int(self.cumulative_sizes[-1])

    def __getitem__(self, index):
        i = _check_index(index, len(self), "ConcatDataset")
        which = int(np.searchsorted(self.cumulative_sizes, i, side="right"))
        start = 0 if which == 0 else int(self.cumulative_sizes[which - 1])
        return self.datasets[which][i - start]


def _generator(generator):
    """A ``numpy.random.Generator``: the one given, one seeded by an int, or minigrad's (``mg.manual_seed``)."""
    if generator is None:
        return B.rng()
    if isinstance(generator, numbers.Integral):
        return np.random.default_rng(int(generator))
    if isinstance(generator, np.random.Generator):
        return generator
    raise TypeError(f"generator must be None, an int seed or a numpy.random.Generator, got {type(generator).__name__}")


def random_split(dataset, lengths, generator=None):
    """Split ``dataset`` at random into non-overlapping :class:`Subset` s of the given lengths.

    ``lengths`` are ints that add up to ``len(dataset)``, or fractions that
    add up to 1 (each gets ``floor(frac * n)`` items; the remainder goes
    one by one to the first subsets, as PyTorch does).  ``generator``: a
    ``numpy.random.Generator`` or int seed; by default minigrad's generator,
    so ``mg.manual_seed`` makes the split reproducible.
    """
    n = len(dataset)
    lengths = list(lengths)
    if lengths and all(isinstance(x, numbers.Real) and not isinstance(x, numbers.Integral) for x in lengths):
        if any(x < 0 for x in lengths) or abs(sum(lengths) - 1.0) > 1e-6:
            raise ValueError(f"random_split: fractions must be non-negative and sum to 1, got {lengths}")
        counts = [int(np.floor(f * n)) for f in lengths]
        for k in range(n - sum(counts)):
            counts[k % len(counts)] += 1
        lengths = counts
    if any(not isinstance(x, numbers.Integral) or x < 0 for x in lengths):
        raise ValueError(f"random_split: lengths must be non-negative ints (or fractions summing to 1), got {lengths}")
    if sum(lengths) != n:
        raise ValueError(f"random_split: lengths {lengths} sum to {sum(lengths)}, "
                         f"but the dataset has {n} examples")
    order = _generator(generator).permutation(n)
    bounds = np.cumsum([0] + [int(x) for x in lengths])
    return [Subset(dataset, order[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
