"""``mg.nn.utils.rnn``: PyTorch's tools for batches of sequences of different lengths.

minigrad's recurrent layers take a padded batch and ``lengths=`` directly (see ``nn.RNN``), which is
the simplest way. Code written for PyTorch packs the batch instead; these functions make that code
run unchanged:

* ``pad_sequence(seqs)``: a list of (L_i, *) tensors -> one padded (L_max, B, *) tensor;
* ``pack_padded_sequence(padded, lengths)`` -> a :class:`PackedSequence`, which any recurrent layer
  accepts (and then returns its output packed the same way);
* ``pad_packed_sequence(packed)`` -> ``(padded, lengths)`` again.

A :class:`PackedSequence` holds PyTorch's packed layout: ``data`` is every real step of every sequence,
time step by time step, longest sequence first, and ``batch_sizes[t]`` says how many sequences are
still running at step t. Packing and unpacking are each one indexing op, so gradients flow through them.
"""
from __future__ import annotations

from typing import NamedTuple, Optional

import numpy as np

from ... import _backend as B
from ...autograd.engine import Tensor
from ...ops.shape import cat, stack

__all__ = ["PackedSequence", "pad_sequence", "pack_padded_sequence", "pad_packed_sequence", "pack_sequence"]


class PackedSequence(NamedTuple):
    """A batch of sequences in PyTorch's packed layout (make one with ``pack_padded_sequence``).

    ``data``: (sum of lengths, *) the real steps, time-major, longest sequence first;
    ``batch_sizes``: (T,) int64 on the CPU, sequences still running at each step;
    ``sorted_indices``/``unsorted_indices``: the order by decreasing length and its inverse
    (None when the batch was already sorted, ``enforce_sorted=True``).
    """

    data: Tensor
    batch_sizes: Tensor
    sorted_indices: Optional[Tensor] = None
    unsorted_indices: Optional[Tensor] = None

    def to(self, *args, **kwargs):
        """The same sequences with ``data`` moved/cast by ``Tensor.to`` (indices stay on the CPU)."""
        return self._replace(data=self.data.to(*args, **kwargs))

    @property
    def is_cuda(self):
        return self.data.device != "cpu"


def _cpu_ints(values, what, fn):
    if isinstance(values, Tensor):
        values = B.to_device(values.data, "cpu")
    values = np.asarray(values)
    if values.ndim != 1:
        raise ValueError(f"{fn}: {what} must be one-dimensional, got shape {values.shape}")
    if values.size and values.dtype.kind not in "iu":
        raise TypeError(f"{fn}: {what} must be integers, got dtype {values.dtype}")
    return values.astype(np.int64)


def _steps_table(sorted_lengths, steps):
    """(steps, B) boolean: is sequence j (in sorted order) still running at step t?"""
    return np.arange(steps)[:, None] < sorted_lengths[None, :]


def pad_sequence(sequences, batch_first=False, padding_value=0.0):
    """Stack tensors of shapes (L_i, *) into (L_max, B, *) (``batch_first``: (B, L_max, *)), padding the ends."""
    sequences = list(sequences)
    if not sequences:
        raise ValueError("pad_sequence: got an empty list of sequences")
    trailing = tuple(sequences[0].shape[1:])
    for i, s in enumerate(sequences):
        if not isinstance(s, Tensor) or s.ndim < 1 or tuple(s.shape[1:]) != trailing:
            shape = tuple(s.shape) if isinstance(s, Tensor) else type(s).__name__
            raise ValueError(f"pad_sequence: every sequence must have shape (L, *{trailing}); sequence {i} is {shape}")
    longest = max(s.shape[0] for s in sequences)
    padded = []
    for s in sequences:
        if s.shape[0] < longest:
            filler = Tensor(B.xp_of(s.data).full((longest - s.shape[0],) + trailing, padding_value, dtype=s.dtype))
            s = cat([s, filler], dim=0)
        padded.append(s)
    return stack(padded, dim=0 if batch_first else 1)


def pack_padded_sequence(input, lengths, batch_first=False, enforce_sorted=True):
    """Pack a padded batch (T, B, *) (``batch_first``: (B, T, *)) whose sequence b has ``lengths[b]`` real steps.

    ``enforce_sorted=True`` requires ``lengths`` in decreasing order; ``False`` sorts them here and
    records the order in ``sorted_indices`` (outputs come back in the original order).
    """
    fn = "pack_padded_sequence"
    lengths = _cpu_ints(lengths, "lengths", fn)
    x = input.transpose(0, 1) if batch_first else input
    if x.ndim < 2:
        raise ValueError(f"{fn}: expected a padded batch of at least 2 dimensions, got shape {tuple(input.shape)}")
    steps, batch = x.shape[0], x.shape[1]
    if lengths.shape[0] != batch:
        raise ValueError(f"{fn}: got {lengths.shape[0]} lengths for a batch of {batch} "
                         f"(input shape {tuple(input.shape)}, batch_first={batch_first})")
    if batch and (lengths.min() < 1 or lengths.max() > steps):
        raise ValueError(f"{fn}: lengths must be between 1 and the padded length {steps}, got {lengths.tolist()}")
    if enforce_sorted:
        if np.any(np.diff(lengths) > 0):
            raise ValueError(f"{fn}: lengths {lengths.tolist()} must be sorted in decreasing order when "
                             "enforce_sorted=True (pass enforce_sorted=False to have them sorted here)")
        sorted_indices = None
    else:
        sorted_indices = np.argsort(-lengths, kind="stable")
    return _pack(x, lengths, sorted_indices)


def _pack(x, lengths, sorted_indices):
    """Pack time-major ``x`` (T, B, *) given the lengths (original order) and the sorting (or None)."""
    order = np.arange(len(lengths)) if sorted_indices is None else sorted_indices
    sorted_lengths = lengths[order]
    running = _steps_table(sorted_lengths, int(sorted_lengths.max(initial=0)))
    t_index, j_index = np.nonzero(running)  # row-major: step by step, longest sequence first
    data = x[t_index, order[j_index]]
    batch_sizes = Tensor(running.sum(axis=1).astype(np.int64))
    if sorted_indices is None:
        return PackedSequence(data, batch_sizes)
    return PackedSequence(data, batch_sizes, Tensor(sorted_indices.astype(np.int64)),
                          Tensor(np.argsort(sorted_indices).astype(np.int64)))


def _layout(sequence):
    """(lengths in the original batch order, sorted_indices as an array or None) of a PackedSequence."""
    batch_sizes = _cpu_ints(sequence.batch_sizes, "batch_sizes", "PackedSequence")
    batch = int(batch_sizes[0]) if batch_sizes.size else 0
    sorted_lengths = (batch_sizes[:, None] > np.arange(batch)[None, :]).sum(axis=0)
    if sequence.sorted_indices is None:
        return sorted_lengths, None
    sorted_indices = _cpu_ints(sequence.sorted_indices, "sorted_indices", "PackedSequence")
    lengths = np.empty_like(sorted_lengths)
    lengths[sorted_indices] = sorted_lengths
    return lengths, sorted_indices


def pad_packed_sequence(sequence, batch_first=False, padding_value=0.0, total_length=None):
    """Undo ``pack_padded_sequence``: returns ``(padded, lengths)``, padded (T, B, *) (``batch_first``:
    (B, T, *)) in the original batch order, and ``lengths`` an int64 tensor.

    ``total_length`` pads to that many steps instead of the longest sequence's length.
    """
    if not isinstance(sequence, PackedSequence):
        raise TypeError(f"pad_packed_sequence: expected a PackedSequence, got {type(sequence).__name__}")
    lengths, sorted_indices = _layout(sequence)
    order = np.arange(len(lengths)) if sorted_indices is None else sorted_indices
    steps = int(lengths.max(initial=0))
    if total_length is not None:
        if total_length < steps:
            raise ValueError(f"pad_packed_sequence: total_length={total_length} is shorter than the longest "
                             f"sequence ({steps} steps)")
        steps = int(total_length)
    # Row k + 1 of [padding; data] is packed step k: a table of those row numbers gives the padded batch.
    running = _steps_table(lengths[order], steps)
    table = np.zeros((steps, len(lengths)), dtype=np.int64)
    t_index, j_index = np.nonzero(running)
    table[t_index, order[j_index]] = np.arange(1, len(t_index) + 1)
    data = sequence.data
    pad_row = Tensor(B.xp_of(data.data).full((1,) + tuple(data.shape[1:]), padding_value, dtype=data.dtype))
    padded = cat([pad_row, data], dim=0)[table]
    return (padded.transpose(0, 1) if batch_first else padded), Tensor(lengths)


def pack_sequence(sequences, enforce_sorted=True):
    """Pack a list of (L_i, *) tensors: ``pack_padded_sequence(pad_sequence(sequences), lengths)``."""
    sequences = list(sequences)
    lengths = [s.shape[0] for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)
