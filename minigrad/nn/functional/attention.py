"""Attention: ``scaled_dot_product_attention``, PyTorch's names, shapes and masks.

Attention is a composite of ops that already have their backward (matrix
product, ``where``, ``softmax``, dropout), so it needs no op of its own:
gradients, gradients of gradients and the GPU come from those ops.

    scores  = query @ key^T * scale + mask          (..., L, S)
    weights = softmax(scores, dim=-1)               each row sums to 1
    output  = weights @ value                        (..., L, Ev)
"""
from __future__ import annotations

import math

import numpy as np

from ... import _backend as B
from ...autograd.engine import Tensor
from ...ops._common import xp_of
from ...ops.pointwise import where
from .._checks import check_float
from .core import dropout

__all__ = ["scaled_dot_product_attention"]


def _mask_array(mask, like, name, fn, allow_float=True):
    """A mask (Tensor or array) on ``like``'s device: a bool mask as a bool array, a float mask (when allowed)
    as a tensor of ``like``'s dtype (its gradient flows, as in PyTorch)."""
    if isinstance(mask, Tensor):
        if mask.device != like.device:
            raise B.DeviceError(f"{fn}: {name} is on {mask.device} but the query is on {like.device}")
        arr = mask.data
    else:
        arr = xp_of(like.data).asarray(mask)
    if arr.dtype.kind == "b":
        return arr
    if not allow_float:
        raise TypeError(f"{fn}: {name} must be bool (True = left out), got dtype {arr.dtype}")
    if arr.dtype.kind != "f":
        raise TypeError(f"{fn}: {name} must be a bool or floating-point mask, got dtype {arr.dtype}")
    if isinstance(mask, Tensor):
        return mask if mask.dtype == like.dtype else mask.to(like.dtype)
    return Tensor(arr.astype(like.dtype))


def _broadcastable(shape, target, name, fn):
    try:
        np.broadcast_shapes(tuple(shape), tuple(target))
    except ValueError:
        raise ValueError(f"{fn}: {name} of shape {tuple(shape)} does not broadcast to the attention scores' "
                         f"shape {tuple(target)} (batch..., L, S)") from None


def _repeat_heads(t, times):
    """(..., H, S, E) -> (..., H * times, S, E), each head repeated ``times`` times in a row."""
    shape = tuple(t.shape)
    t = t.unsqueeze(-3).expand(*shape[:-2], times, *shape[-2:])
    return t.reshape(*shape[:-3], shape[-3] * times, *shape[-2:])


def masked_softmax(scores, blocked):
    """Softmax over the last dim of ``scores``, where ``blocked`` (a bool array or None) is left out.

    A row whose every entry is blocked (or ``-inf``) gives zeros rather than
    NaN, as PyTorch's ``scaled_dot_product_attention`` does: its scores are
    replaced by 0 before the softmax (so no NaN reaches the backward either)
    and its weights by 0 after.
    """
    xp = xp_of(scores.data)
    if blocked is not None:
        scores = where(blocked, -math.inf, scores)
    dead = xp.isneginf(scores.data).all(axis=-1, keepdims=True)  # rows with nothing to attend to
    if not dead.any():
        return scores.softmax(-1)
    weights = where(dead, 0.0, scores).softmax(-1)
    return where(dead, 0.0, weights)


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
                                 enable_gqa=False):
    """Each query position takes a weighted mean of ``value``, weighted by its match with every ``key``.

    Shapes: query (N..., L, E), key (N..., S, E), value (N..., S, Ev) ->
    output (N..., L, Ev); the leading (batch, head) dims broadcast.

    * ``scale``: the factor on ``query @ key^T`` (default ``1 / sqrt(E)``).
    * ``attn_mask`` broadcastable to (N..., L, S): a **bool** mask says
      which keys a query may attend to (True = take part); a **float** mask
      is added to the scores (``-inf`` blocks; its gradient flows).
    * ``is_causal=True``: query i sees keys 0..i only (a lower-triangular
      mask, top-left aligned as in PyTorch); not together with ``attn_mask``.
    * ``dropout_p``: dropout on the attention weights, applied whenever
      ``dropout_p > 0`` (pass ``dropout_p if model.training else 0.0``).
    * ``enable_gqa``: query may have more heads (dim -3) than key/value, a
      multiple of them; each key/value head serves a group of query heads.

    A query whose every key is masked out gets an output of zeros (not NaN).
    """
    fn = "scaled_dot_product_attention"
    for name, t in (("query", query), ("key", key), ("value", value)):
        check_float(t, fn, name)
        if t.ndim < 2:
            raise ValueError(f"{fn}: {name} must have at least 2 dims (..., sequence, features), got shape "
                             f"{tuple(t.shape)}")
    if len({query.dtype, key.dtype, value.dtype}) > 1:
        raise TypeError(f"{fn}: query, key and value must share a dtype, got {query.dtype}, {key.dtype}, "
                        f"{value.dtype}")
    if len({query.device, key.device, value.device}) > 1:
        raise B.DeviceError(f"{fn}: query, key and value must be on one device, got {query.device}, {key.device}, "
                            f"{value.device}")
    if query.shape[-1] != key.shape[-1]:
        raise ValueError(f"{fn}: query and key must have the same feature size E, got query {tuple(query.shape)} "
                         f"and key {tuple(key.shape)}")
    if key.shape[-2] != value.shape[-2]:
        raise ValueError(f"{fn}: key and value must have the same sequence length S, got key {tuple(key.shape)} "
                         f"and value {tuple(value.shape)}")
    if not 0.0 <= dropout_p <= 1.0:
        raise ValueError(f"{fn}: dropout_p must be between 0 and 1, got {dropout_p}")
    if enable_gqa and query.ndim >= 3 and key.shape[-3] != query.shape[-3]:
        heads, kv_heads = query.shape[-3], key.shape[-3]
        if kv_heads != value.shape[-3] or heads % kv_heads:
            raise ValueError(f"{fn}: with enable_gqa the query's {heads} heads must be a multiple of the key's and "
                             f"value's (got {kv_heads} and {value.shape[-3]})")
        key, value = _repeat_heads(key, heads // kv_heads), _repeat_heads(value, heads // kv_heads)
    L, S = query.shape[-2], key.shape[-2]
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else float(scale)
    scores = (query @ key.transpose(-2, -1)) * scale
    blocked = None
    if is_causal:
        if attn_mask is not None:
            raise ValueError(f"{fn}: give either attn_mask or is_causal=True, not both")
        blocked = ~xp_of(query.data).tri(L, S, dtype=bool)
    elif attn_mask is not None:
        mask = _mask_array(attn_mask, query, "attn_mask", fn)
        _broadcastable(mask.shape, scores.shape, "attn_mask", fn)
        if isinstance(mask, Tensor):
            scores = scores + mask
        else:
            blocked = ~mask
    weights = masked_softmax(scores, blocked)
    if dropout_p > 0.0:
        weights = dropout(weights, dropout_p, training=True)
    return weights @ value
