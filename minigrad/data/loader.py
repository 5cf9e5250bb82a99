"""DataLoader: batches of examples, in order or shuffled, collated into Tensors."""
from __future__ import annotations

import collections.abc
import math
import numbers
import warnings

import numpy as np

from .. import _backend as B
from ..autograd.engine import Tensor
from .dataset import Subset, _generator, _is_array

__all__ = ["DataLoader", "default_collate"]


def default_collate(batch):
    """Stack a list of examples into one batch, as PyTorch's ``default_collate``.

    * Tensors / arrays of shape S -> one Tensor of shape (B, *S) (dtype kept);
    * Python ints -> int64 (B,), bools -> bool (B,), floats -> float32 (B,)
      (minigrad's default float; PyTorch gives float64 here);
      NumPy scalars keep their dtype;
    * tuples / lists / namedtuples -> the same kind of sequence, each field collated;
    * dicts -> a dict with each key collated; strings -> a list of strings.
    """
    if len(batch) == 0:
        raise ValueError("default_collate: got an empty batch")
    elem = batch[0]
    if isinstance(elem, Tensor) or _is_array(elem):
        return _stack(batch)
    if isinstance(elem, (str, bytes)):
        return list(batch)
    if isinstance(elem, (bool, np.bool_)):
        return Tensor(np.asarray(batch, dtype=np.bool_))
    if isinstance(elem, np.generic):
        return Tensor(np.asarray(batch, dtype=elem.dtype))
    if isinstance(elem, numbers.Integral):
        return Tensor(np.asarray(batch, dtype=np.int64))
    if isinstance(elem, numbers.Real):
        return Tensor(np.asarray(batch, dtype=np.float32))
    if isinstance(elem, collections.abc.Mapping):
        keys = list(elem.keys())
        for k, item in enumerate(batch):
            if not isinstance(item, collections.abc.Mapping) or set(item.keys()) != set(keys):
                got = sorted(item.keys()) if isinstance(item, collections.abc.Mapping) else type(item).__name__
                raise ValueError(f"default_collate: example 0 has keys {sorted(keys)}, example {k} has {got}")
        out = {key: default_collate([item[key] for item in batch]) for key in keys}
        if type(elem) is dict:
            return out
        try:  # keep OrderedDict and friends
            return type(elem)(out)
        except TypeError:
            return out
    if isinstance(elem, collections.abc.Sequence):
        size = len(elem)
        for k, item in enumerate(batch):
            if len(item) != size:
                raise ValueError(f"default_collate: every example must have the same number of fields; "
                                 f"example 0 has {size}, example {k} has {len(item)}")
        fields = [default_collate(list(samples)) for samples in zip(*batch)]
        if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
            return type(elem)(*fields)
        if isinstance(elem, tuple):
            return tuple(fields)
        return fields
    raise TypeError(f"default_collate: cannot batch examples of type {type(elem).__name__}; "
                    "use Tensors, arrays, numbers, strings, or tuples/dicts of them, or pass collate_fn=")


def _stack(items):
    """Stack Tensors/arrays of equal shape along a new first dimension."""
    tensors = [x for x in items if isinstance(x, Tensor)]
    if any(t.requires_grad for t in tensors):
        from ..ops.shape import stack  # noqa: PLC0415  (keep the graph)

        return stack([x if isinstance(x, Tensor) else Tensor(x) for x in items])
    arrays = [x.data if isinstance(x, Tensor) else x for x in items]
    shape = arrays[0].shape
    for k, a in enumerate(arrays):
        if a.shape != shape:
            raise ValueError(f"default_collate: cannot stack examples of different shapes: example 0 has "
                             f"shape {tuple(shape)}, example {k} has shape {tuple(a.shape)}; pad them first "
                             "(minigrad.data.pad_sequences) or pass collate_fn=")
    if arrays[0].dtype.kind in "OUS":
        raise TypeError(f"default_collate: cannot make a tensor from arrays of dtype {arrays[0].dtype}")
    if not B.same_device(arrays):
        raise B.DeviceError("default_collate: examples live on different devices: "
                            + ", ".join(sorted({B.device_of(a) for a in arrays})))
    return Tensor(B.xp_of(arrays[0]).stack(arrays))


def _batch_fetcher(dataset):
    """``fetch(indices) -> batch`` for datasets that index a whole batch at once, else None."""
    if isinstance(dataset, Subset):
        inner = _batch_fetcher(dataset.dataset)
        if inner is None:
            return None
        n = len(dataset.dataset)
        rows = np.where(dataset.indices < 0, dataset.indices + n, dataset.indices)
        return lambda idx: inner(rows[idx])
    get_batch = getattr(dataset, "get_batch", None)
    return get_batch if callable(get_batch) else None


class DataLoader:
    """Iterate over ``dataset`` in batches of ``batch_size`` examples.

    ``shuffle=True`` draws a new order every epoch (every ``iter``) from
    ``generator``: a ``numpy.random.Generator`` or an int seed, by default
    minigrad's generator, so ``mg.manual_seed`` makes the order reproducible.
    ``drop_last=True`` drops a final batch smaller than ``batch_size``.
    ``collate_fn`` turns a list of examples into a batch (default:
    :func:`default_collate`).  ``sampler``: an iterable of dataset indices
    that gives the order instead (with ``__len__``; not together with
    ``shuffle``).  ``batch_sampler``: an iterable of index lists, one per
    batch (instead of ``batch_size``, ``shuffle``, ``sampler`` and ``drop_last``).

    When the dataset has ``get_batch`` (:class:`TensorDataset`, and
    :class:`Subset` s of one) and no ``collate_fn`` is given, each batch is
    fetched with one indexing operation per tensor instead of a Python loop.

    Differs from PyTorch: batches are always loaded in the calling process.
    ``num_workers``, ``pin_memory`` and the other worker options are accepted
    so that PyTorch code runs, but do nothing (``num_workers > 0`` warns once).
    """

    _warned_workers = False

    def __init__(self, dataset, batch_size=1, shuffle=False, sampler=None, batch_sampler=None, num_workers=0,
                 collate_fn=None, pin_memory=False, drop_last=False, timeout=0, worker_init_fn=None,
                 multiprocessing_context=None, generator=None, *, prefetch_factor=None, persistent_workers=False,
                 pin_memory_device=""):
        if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be a positive int, got {batch_size!r}")
        if batch_sampler is not None and (batch_size != 1 or shuffle or sampler is not None or drop_last):
            raise ValueError("DataLoader: batch_sampler gives the batches itself; it is mutually exclusive with "
                             "batch_size, shuffle, sampler and drop_last")
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: sampler and shuffle=True are mutually exclusive (the sampler gives the order)")
        if num_workers and not DataLoader._warned_workers:
            DataLoader._warned_workers = True
            warnings.warn(f"DataLoader: num_workers={num_workers} is ignored; minigrad loads batches in the "
                          "calling process", stacklevel=2)
        try:
            len(dataset)
        except TypeError:
            raise TypeError(f"DataLoader needs a dataset with __len__ and __getitem__, "
                            f"got {type(dataset).__name__}") from None
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.sampler, self.batch_sampler = sampler, batch_sampler
        self.drop_last = bool(drop_last)
        self.collate_fn = collate_fn
        self.num_workers, self.pin_memory = num_workers, pin_memory
        self.generator = generator
        if generator is not None:
            _generator(generator)  # check it now, not in the first epoch

    def __len__(self):
        if self.batch_sampler is not None:
            return len(self.batch_sampler)
        return self._n_batches(len(self.dataset) if self.sampler is None else len(self.sampler))

    def _n_batches(self, n):
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def _order(self):
        if self.sampler is not None:
            return np.fromiter((int(i) for i in self.sampler), dtype=np.int64)
        n = len(self.dataset)
        if not self.shuffle:
            return np.arange(n)
        gen = self.generator
        if isinstance(gen, numbers.Integral):  # an int seed: one generator for the loader's lifetime
            self.generator = gen = np.random.default_rng(int(gen))
        return _generator(gen).permutation(n)

    def _index_batches(self):
        """The dataset indices of each batch, as int64 arrays."""
        if self.batch_sampler is not None:
            for batch in self.batch_sampler:
                yield self._checked(np.fromiter((int(i) for i in batch), dtype=np.int64), "batch_sampler")
            return
        order = self._order()
        if self.sampler is not None:
            order = self._checked(order, "sampler")
        for k in range(self._n_batches(len(order))):
            yield order[k * self.batch_size:(k + 1) * self.batch_size]

    def _checked(self, indices, source):
        """``indices`` from a user's sampler, refused (naming the dataset size) when out of range."""
        n = len(self.dataset)
        bad = indices[(indices < -n) | (indices >= n)]
        if bad.size:
            raise IndexError(f"DataLoader: the {source} gave index {int(bad[0])} for a dataset of {n} examples")
        return indices

    def __iter__(self):
        fetch = _batch_fetcher(self.dataset) if self.collate_fn is None else None
        collate = self.collate_fn or default_collate
        for idx in self._index_batches():
            if fetch is not None:
                yield fetch(idx)
            else:
                yield collate([self.dataset[int(i)] for i in idx])

    def __repr__(self):
        return (f"DataLoader({type(self.dataset).__name__} of {len(self.dataset)}, batch_size={self.batch_size}, "
                f"shuffle={self.shuffle}, drop_last={self.drop_last})")
