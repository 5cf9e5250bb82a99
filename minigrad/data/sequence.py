"""Sequences: padding to a batch, the language-model stream layout, sliding windows.

* :func:`pad_sequences` - variable-length id lists -> one (B, T) batch and
  the lengths (pass them to a recurrent layer as ``lengths=``).
* :func:`lm_batches` - one long id stream -> ``batch_size`` parallel streams
  cut into chunks, so a language model can carry its hidden state from one
  chunk to the next (truncated backpropagation through time).
* :func:`sliding_windows` - a time series -> (past window, future horizon)
  pairs for forecasting.
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import _backend as B
from ..creation import _to_array
from ..autograd.engine import Tensor
from .loader import default_collate

__all__ = ["pad_sequences", "PadCollate", "lm_batches", "LMBatches", "sliding_windows"]


def _array(x):
    """Tensor / array / list -> array (lists as ``mg.tensor`` would convert them)."""
    if isinstance(x, Tensor):
        return x.data
    if isinstance(x, np.ndarray) or B.is_cupy_array(x):
        return x
    return _to_array(x)


def _positive_int(value, name, who):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{who}: {name} must be a positive int, got {value!r}")
    return int(value)


def pad_sequences(seqs, padding_value=0, max_len=None, dtype=None, as_tensor=True):
    """Pad (or cut) sequences to one length and stack them.

    ``seqs``: B sequences (lists, arrays or Tensors) of shapes (L_b, *F).
    Returns ``(padded, lengths)``: ``padded`` (B, T, *F) with
    T = ``max_len`` or the longest L_b, real values first then
    ``padding_value``; sequences longer than ``max_len`` keep their first
    ``max_len`` items.  ``lengths`` (B,) int64 are the real lengths in
    ``padded`` (so at most T).  Integer data becomes int64 unless ``dtype``
    is given.  Tensors by default; NumPy arrays with ``as_tensor=False``.
    """
    arrays = [_array(s) for s in seqs]
    if any(a.ndim == 0 for a in arrays):
        raise ValueError("pad_sequences: every sequence needs at least one dimension (its length); got a scalar")
    feature_shape = arrays[0].shape[1:] if arrays else ()
    for k, a in enumerate(arrays):
        if a.shape[1:] != feature_shape:
            raise ValueError(f"pad_sequences: sequences must agree past their first dimension; sequence 0 has "
                             f"shape {tuple(arrays[0].shape)}, sequence {k} has shape {tuple(a.shape)}")
    xp = B.xp_of(arrays[0]) if arrays else np
    lengths = np.array([a.shape[0] for a in arrays], dtype=np.int64)
    longest = int(lengths.max()) if arrays else 0
    if max_len is None:
        steps = longest
    else:
        if isinstance(max_len, bool) or not isinstance(max_len, numbers.Integral) or max_len < 0:
            raise ValueError(f"pad_sequences: max_len must be a non-negative int or None, got {max_len!r}")
        steps = int(max_len)
    if dtype is None:
        kinds = {a.dtype.kind for a in arrays if a.size}
        if not kinds or kinds <= {"i", "u"}:
            dtype = np.int64
        else:
            dtype = np.result_type(*[a.dtype for a in arrays if a.size])
    out = xp.full((len(arrays), steps) + tuple(feature_shape), padding_value, dtype=dtype)
    if arrays and lengths.sum() > 0 and steps > 0:
        flat = xp.concatenate(arrays)
        # row and position of every element of every sequence, without a loop over the batch
        first = np.cumsum(lengths) - lengths
        pos = np.arange(flat.shape[0]) - np.repeat(first, lengths)
        row = np.repeat(np.arange(len(arrays)), lengths)
        keep = np.flatnonzero(pos < steps)
        if xp is not np:
            row, pos, keep = xp.asarray(row), xp.asarray(pos), xp.asarray(keep)
        out[row[keep], pos[keep]] = flat[keep]
    lengths = np.minimum(lengths, steps)
    if as_tensor:
        return Tensor(out), Tensor(lengths)
    return out, lengths


class PadCollate:
    """A ``collate_fn`` for examples ``(sequence, *others)``: pads the sequences, collates the rest.

    Each batch is ``(padded (B, T), lengths (B,), *others)``.  Examples that
    are bare sequences give ``(padded, lengths)``.

    >>> loader = DataLoader(list(zip(id_lists, labels)), batch_size=64, collate_fn=PadCollate())
    """

    def __init__(self, padding_value=0, max_len=None):
        self.padding_value = padding_value
        self.max_len = max_len

    def __call__(self, batch):
        if batch and isinstance(batch[0], tuple):
            seqs = [item[0] for item in batch]
            rest = default_collate([item[1:] for item in batch]) if len(batch[0]) > 1 else ()
            return pad_sequences(seqs, self.padding_value, self.max_len) + tuple(rest)
        return pad_sequences(batch, self.padding_value, self.max_len)


class LMBatches:
    """The chunks made by :func:`lm_batches`: iterate once per epoch; ``len`` is the number of chunks."""

    def __init__(self, ids, batch_size, seq_len, drop_last=False, batch_first=True, as_tensor=True):
        who = "lm_batches"
        self.batch_size = _positive_int(batch_size, "batch_size", who)
        self.seq_len = _positive_int(seq_len, "seq_len", who)
        ids = _array(ids)
        if ids.ndim != 1:
            raise ValueError(f"{who}: ids must be one 1-D stream of token ids, got shape {tuple(ids.shape)}")
        stream_len = ids.shape[0] // self.batch_size
        if stream_len < 2:
            raise ValueError(f"{who}: {ids.shape[0]} ids cannot make {self.batch_size} streams of at least "
                             f"2 tokens (an input and its next-token target); use a smaller batch_size")
        # Row b is the b-th contiguous piece of the stream; the tail that does not fill a row is dropped.
        self.streams = ids[:self.batch_size * stream_len].reshape(self.batch_size, stream_len)
        self.drop_last, self.batch_first, self.as_tensor = drop_last, batch_first, as_tensor

    def __len__(self):
        steps = self.streams.shape[1] - 1  # the last token is only a target
        return steps // self.seq_len if self.drop_last else -(-steps // self.seq_len)

    def __iter__(self):
        steps = self.streams.shape[1] - 1
        for k in range(len(self)):
            start = k * self.seq_len
            end = min(start + self.seq_len, steps)
            x = self.streams[:, start:end]
            y = self.streams[:, start + 1:end + 1]
            if not self.batch_first:
                x, y = x.T, y.T
            x, y = B.xp_of(x).ascontiguousarray(x), B.xp_of(y).ascontiguousarray(y)
            yield (Tensor(x), Tensor(y)) if self.as_tensor else (x, y)


def lm_batches(ids, batch_size, seq_len, drop_last=False, batch_first=True, as_tensor=True):
    """Language-model batches from one id stream (the char-rnn layout).

    The stream is cut into ``batch_size`` contiguous pieces, one per batch
    row; chunks of ``seq_len`` steps are then taken from all rows in order,
    so row b of chunk k+1 continues exactly where row b of chunk k stopped
    and a model may carry its hidden state across chunks (detach it between
    chunks).  Yields ``(x, y)`` int64 Tensors of shape (batch_size, T)
    (``batch_first=False``: (T, batch_size)) with ``y`` = ``x`` shifted by
    one step: ``y[b, t]`` is the token after ``x[b, t]``.  T = ``seq_len``
    except perhaps in the last chunk (dropped with ``drop_last=True``).

    Returns a reusable iterable with ``len`` = number of chunks.
    """
    return LMBatches(ids, batch_size, seq_len, drop_last=drop_last, batch_first=batch_first, as_tensor=as_tensor)


def sliding_windows(series, window, horizon=1, stride=1, targets=None, as_tensor=False):
    """Forecasting pairs from a time series: ``window`` past steps -> the next ``horizon`` steps.

    ``series``: (L,) or (L, F).  Window n starts at step ``s = n * stride``:
    ``inputs[n] = series[s : s + window]`` with shape (window, F) (F = 1 for
    a 1-D series) and ``outputs[n] = targets[s + window : s + window + horizon]``
    where ``targets`` (length L, default ``series`` itself) may be a
    different aligned series (e.g. one column).  Returns
    ``(inputs (N, window, F), outputs (N, horizon, *targets.shape[1:]))``
    with N = (L - window - horizon) // stride + 1, as NumPy arrays (Tensors
    with ``as_tensor=True``); ready for ``TensorDataset(inputs, outputs)``.
    """
    who = "sliding_windows"
    window = _positive_int(window, "window", who)
    horizon = _positive_int(horizon, "horizon", who)
    stride = _positive_int(stride, "stride", who)
    x = _array(series)
    if x.ndim not in (1, 2):
        raise ValueError(f"{who}: series must have shape (L,) or (L, F), got {tuple(x.shape)}")
    target = x if targets is None else _array(targets)
    if target.ndim == 0 or target.shape[0] != x.shape[0]:
        raise ValueError(f"{who}: targets must have the same length as series ({x.shape[0]}), "
                         f"got shape {tuple(target.shape)}")
    if x.ndim == 1:
        x = x[:, None]
    length = x.shape[0]
    n = (length - window - horizon) // stride + 1
    if n < 1:
        raise ValueError(f"{who}: a series of length {length} is too short for window={window} + "
                         f"horizon={horizon}")
    starts = np.arange(n) * stride
    input_idx = starts[:, None] + np.arange(window)  # (N, window)
    target_idx = starts[:, None] + window + np.arange(horizon)  # (N, horizon)
    xp = B.xp_of(x)
    if xp is not np:
        input_idx, target_idx = xp.asarray(input_idx), xp.asarray(target_idx)
    inputs, outputs = x[input_idx], target[target_idx]
    if as_tensor:
        return Tensor(inputs), Tensor(outputs)
    return inputs, outputs
