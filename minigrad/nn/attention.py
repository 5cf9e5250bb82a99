"""Attention layers: ``MultiheadAttention`` (PyTorch's) and ``AdditiveAttention`` (Bahdanau et al., 2014).

Both are composites of existing ops (linear maps, matrix products, ``where``,
``softmax``), so their gradients come from those ops.
"""
from __future__ import annotations

import math

from ..autograd.engine import Tensor
from ..ops._common import xp_of
from ..ops.shape import cat
from . import functional as F
from . import init
from ._checks import check_tensor
from .functional.attention import _mask_array, masked_softmax
from .layers import Linear, _new
from .module import Module, Parameter

__all__ = ["AdditiveAttention", "MultiheadAttention"]


def _padding_mask_array(key_padding_mask, like, shape, owner):
    """A bool ``key_padding_mask`` (True = padding, left out) as an array of ``shape`` on ``like``'s device."""
    mask = _mask_array(key_padding_mask, like, "key_padding_mask", owner, allow_float=False)
    if tuple(mask.shape) != tuple(shape):
        raise ValueError(f"{owner}: key_padding_mask must have shape {tuple(shape)} (batch, source length), "
                         f"got {tuple(mask.shape)}")
    return mask


# ----------------------------------------------------------------------------- additive attention
class AdditiveAttention(Module):
    r"""Additive attention (Bahdanau, Cho and Bengio, 2014), the paper's equations one line each.

    For a decoder state :math:`s` (the query) and encoder states
    :math:`h_1 .. h_S` (the keys, also the values unless given):

    .. math::

        e_j = v_a^\top \tanh(W_a s + U_a h_j)          \qquad \text{(score of source position } j)

        \alpha_j = \exp(e_j) / \textstyle\sum_k \exp(e_k)  \qquad \text{(alignment weights)}

        c = \textstyle\sum_j \alpha_j h_j                  \qquad \text{(context vector)}

    Parameters: ``W_a`` (attn_size, query_size), ``U_a`` (attn_size,
    key_size), ``v_a`` (1, attn_size), each an ``nn.Linear`` without bias
    (as in the paper); ``attn_size`` defaults to ``query_size``.

    ``forward(query, keys, values=None, key_padding_mask=None, projected_keys=None)``:

    * query (N, query_size), or (N, L, query_size) for L queries at once;
    * keys (N, S, key_size); values (N, S, value_size) (default: the keys);
    * key_padding_mask (N, S) bool, True at padded source positions (they
      get weight 0), as ``MultiheadAttention``'s;
    * projected_keys: ``U_a h_j`` from :meth:`project_keys`, to compute it
      once per source sentence rather than at every decoder step.

    Returns ``(context, weights)``: context (N, value_size) and weights
    (N, S) (or (N, L, value_size) and (N, L, S)); each row of weights sums to 1.
    """

    def __init__(self, query_size, key_size, attn_size=None, device=None, dtype=None):
        super().__init__()
        attn_size = int(query_size if attn_size is None else attn_size)
        self.query_size, self.key_size, self.attn_size = int(query_size), int(key_size), attn_size
        self.W_a = Linear(query_size, attn_size, bias=False, device=device, dtype=dtype)
        self.U_a = Linear(key_size, attn_size, bias=False, device=device, dtype=dtype)
        self.v_a = Linear(attn_size, 1, bias=False, device=device, dtype=dtype)

    def project_keys(self, keys):
        """``U_a h_j`` for every source position: (N, S, key_size) -> (N, S, attn_size)."""
        return self.U_a(keys)

    def forward(self, query, keys, values=None, key_padding_mask=None, projected_keys=None):
        owner = type(self).__name__
        if keys.ndim != 3:
            raise ValueError(f"{owner}: keys must be (batch, source length, key_size), got shape {tuple(keys.shape)}")
        single = query.ndim == 2
        if query.ndim not in (2, 3) or query.shape[0] != keys.shape[0]:
            raise ValueError(f"{owner}: query must be (batch, query_size) or (batch, L, query_size) with the keys' "
                             f"batch {keys.shape[0]}, got shape {tuple(query.shape)}")
        values = keys if values is None else values
        if projected_keys is None:
            projected_keys = self.project_keys(keys)
        q = self.W_a(query.unsqueeze(1) if single else query)             # (N, L, A)
        e = self.v_a((q.unsqueeze(2) + projected_keys.unsqueeze(1)).tanh())  # e_j = v_a^T tanh(W_a s + U_a h_j)
        e = e.squeeze(-1)                                                   # (N, L, S)
        blocked = None
        if key_padding_mask is not None:
            blocked = _padding_mask_array(key_padding_mask, keys, keys.shape[:2], owner)[:, None, :]
        alpha = masked_softmax(e, blocked)                                  # alpha_j = softmax_j(e_j)
        context = alpha @ values                                            # c = sum_j alpha_j h_j
        if single:
            return context.squeeze(1), alpha.squeeze(1)
        return context, alpha

    def extra_repr(self):
        return f"query_size={self.query_size}, key_size={self.key_size}, attn_size={self.attn_size}"


# ----------------------------------------------------------------------------- multi-head attention
def _float_mask(mask, like, name, owner):
    """A bool mask (True = left out) as an additive float tensor (0 / -inf); a float mask as a tensor of ``like``'s dtype."""
    if mask is None:
        return None
    mask = _mask_array(mask, like, name, owner)
    if isinstance(mask, Tensor):
        return mask
    return Tensor(xp_of(like.data).where(mask, -math.inf, 0.0).astype(like.dtype))


class MultiheadAttention(Module):
    r"""Multi-head attention (Vaswani et al., 2017), PyTorch's ``nn.MultiheadAttention``.

    Each of ``num_heads`` heads projects query, key and value to
    ``head_dim = embed_dim // num_heads`` features and attends on its own:

    .. math::

        \mathrm{head}_i = \mathrm{softmax}\big(Q W^Q_i (K W^K_i)^\top / \sqrt{d} + \text{mask}\big)\, V W^V_i,
        \qquad \text{output} = [\mathrm{head}_1; \dots; \mathrm{head}_h]\, W^O + b^O

    Parameters (PyTorch's names and default initialisation, so a PyTorch
    state dict loads unchanged): ``in_proj_weight`` (3E, E) and
    ``in_proj_bias`` (3E,) hold the query, key and value projections stacked
    (with ``kdim``/``vdim`` other than E: ``q_proj_weight``,
    ``k_proj_weight``, ``v_proj_weight`` instead); ``out_proj.weight`` (E, E),
    ``out_proj.bias``; ``bias_k``, ``bias_v`` (1, 1, E) with ``add_bias_kv``.

    ``forward(query, key, value, key_padding_mask=None, need_weights=True,
    attn_mask=None, average_attn_weights=True, is_causal=False)``:

    * query (L, N, E), key (S, N, kdim), value (S, N, vdim); (N, L, E) etc.
      with ``batch_first=True``; or unbatched (L, E), (S, kdim), (S, vdim).
    * key_padding_mask (N, S): bool, True = padding (left out), or float (added).
    * attn_mask (L, S) or (N * num_heads, L, S): bool, True = *not* allowed
      (the opposite of ``scaled_dot_product_attention``'s bool mask, as in
      PyTorch), or float (added to the scores).
    * is_causal: a hint that ``attn_mask`` is the causal mask; it must be given.

    Returns ``(attn_output, attn_weights)``: output shaped as the query with
    E features; weights (N, L, S) averaged over the heads, (N, num_heads, L, S)
    with ``average_attn_weights=False``, or None with ``need_weights=False``.
    ``dropout`` drops attention weights in training mode.  A query whose every
    key is masked out gets NaN with ``need_weights=True`` and zeros without,
    as in PyTorch.
    """

    def __init__(self, embed_dim, num_heads, dropout=0.0, bias=True, add_bias_kv=False, add_zero_attn=False,
                 kdim=None, vdim=None, batch_first=False, device=None, dtype=None):
        super().__init__()
        embed_dim, num_heads = int(embed_dim), int(num_heads)
        if embed_dim <= 0 or num_heads <= 0:
            raise ValueError(f"MultiheadAttention: embed_dim and num_heads must be positive, got {embed_dim} and "
                             f"{num_heads}")
        if embed_dim % num_heads:
            raise ValueError(f"MultiheadAttention: embed_dim {embed_dim} must be divisible by num_heads {num_heads}")
        if not 0.0 <= dropout <= 1.0:
            raise ValueError(f"MultiheadAttention: dropout must be between 0 and 1, got {dropout}")
        self.embed_dim, self.num_heads, self.dropout = embed_dim, num_heads, float(dropout)
        self.kdim = int(kdim) if kdim is not None else embed_dim
        self.vdim = int(vdim) if vdim is not None else embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.head_dim = embed_dim // num_heads
        self.batch_first, self.add_zero_attn = bool(batch_first), bool(add_zero_attn)
        if self._qkv_same_embed_dim:
            self.in_proj_weight = Parameter(_new((3 * embed_dim, embed_dim), device, dtype))
            for name in ("q_proj_weight", "k_proj_weight", "v_proj_weight"):
                self.register_parameter(name, None)
        else:
            self.register_parameter("in_proj_weight", None)
            self.q_proj_weight = Parameter(_new((embed_dim, embed_dim), device, dtype))
            self.k_proj_weight = Parameter(_new((embed_dim, self.kdim), device, dtype))
            self.v_proj_weight = Parameter(_new((embed_dim, self.vdim), device, dtype))
        if bias:
            self.in_proj_bias = Parameter(_new((3 * embed_dim,), device, dtype))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias, device=device, dtype=dtype)
        if add_bias_kv:
            self.bias_k = Parameter(_new((1, 1, embed_dim), device, dtype))
            self.bias_v = Parameter(_new((1, 1, embed_dim), device, dtype))
        else:
            self.bias_k = self.bias_v = None
        self._reset_parameters()

    def _reset_parameters(self):
        """PyTorch's initialisation: Xavier-uniform projections, zero biases (``out_proj.weight`` keeps Linear's)."""
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            for w in (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight):
                init.xavier_uniform_(w)
        if self.in_proj_bias is not None:
            init.zeros_(self.in_proj_bias)
            init.zeros_(self.out_proj.bias)
        if self.bias_k is not None:
            init.xavier_normal_(self.bias_k)
            init.xavier_normal_(self.bias_v)

    def _projections(self):
        """(W_q, W_k, W_v) and (b_q, b_k, b_v) (Nones without bias): slices of the packed parameters."""
        E = self.embed_dim
        if self._qkv_same_embed_dim:
            w = self.in_proj_weight
            weights = (w[:E], w[E:2 * E], w[2 * E:])
        else:
            weights = (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight)
        b = self.in_proj_bias
        biases = (None, None, None) if b is None else (b[:E], b[E:2 * E], b[2 * E:])
        return weights, biases

    def forward(self, query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
                average_attn_weights=True, is_causal=False):
        owner = type(self).__name__
        for name, t in (("query", query), ("key", key), ("value", value)):
            check_tensor(t, owner, name)
            if t.ndim not in (2, 3) or t.ndim != query.ndim:
                raise ValueError(f"{owner}: query, key and value must all be 3-D (batched) or all 2-D (unbatched), "
                                 f"got shapes {tuple(query.shape)}, {tuple(key.shape)}, {tuple(value.shape)}")
        if is_causal and attn_mask is None:
            raise ValueError(f"{owner}: is_causal is a hint that attn_mask is the causal mask; give attn_mask too")
        unbatched = query.ndim == 2
        if unbatched:  # one sequence: a batch of one, dropped again at the end
            query, key, value = query.unsqueeze(0), key.unsqueeze(0), value.unsqueeze(0)
            if key_padding_mask is not None:
                key_padding_mask = key_padding_mask[None]
        elif not self.batch_first:  # (L, N, E) -> (N, L, E)
            query, key, value = query.transpose(0, 1), key.transpose(0, 1), value.transpose(0, 1)
        N, L, S = query.shape[0], query.shape[1], key.shape[1]
        for name, t, size in (("query", query, self.embed_dim), ("key", key, self.kdim), ("value", value, self.vdim)):
            if t.shape[-1] != size:
                raise ValueError(f"{owner}: {name} must have {size} features in its last dim, got shape "
                                 f"{tuple(t.shape)}")
        if key.shape[:2] != value.shape[:2] or key.shape[0] != N:
            raise ValueError(f"{owner}: key and value must have the query's batch size and one sequence length, got "
                             f"query {tuple(query.shape)}, key {tuple(key.shape)}, value {tuple(value.shape)} "
                             f"(batch first)")

        (w_q, w_k, w_v), (b_q, b_k, b_v) = self._projections()
        q, k, v = F.linear(query, w_q, b_q), F.linear(key, w_k, b_k), F.linear(value, w_v, b_v)  # (N, L|S, E)

        # masks as additive float tensors broadcastable to the scores (N, heads, L, S)
        mask = _float_mask(attn_mask, q, "attn_mask", owner)
        if mask is not None:
            if mask.ndim == 2 and tuple(mask.shape) == (L, S):
                pass
            elif mask.ndim == 3 and tuple(mask.shape) == (N * self.num_heads, L, S):
                mask = mask.reshape(N, self.num_heads, L, S)
            else:
                raise ValueError(f"{owner}: attn_mask must be ({L}, {S}) or ({N * self.num_heads}, {L}, {S}) "
                                 f"(batch * num_heads, L, S), got {tuple(mask.shape)}")
        padding = _float_mask(key_padding_mask, q, "key_padding_mask", owner)
        if padding is not None:
            if tuple(padding.shape) != (N, S):
                raise ValueError(f"{owner}: key_padding_mask must have shape ({N}, {S}) (batch, source length), "
                                 f"got {tuple(padding.shape)}")
            padding = padding.reshape(N, 1, 1, S)

        def extend(m, extra):  # one more key (bias_k or the zero key) that every query may see
            if m is None:
                return None
            return F.pad(m, (0, extra)) if m.ndim >= 2 else m

        if self.bias_k is not None:
            k = cat([k, self.bias_k.expand(N, 1, self.embed_dim)], 1)
            v = cat([v, self.bias_v.expand(N, 1, self.embed_dim)], 1)
            mask, padding, S = extend(mask, 1), extend(padding, 1), S + 1

        H, D = self.num_heads, self.head_dim
        q = q.reshape(N, L, H, D).transpose(1, 2)  # (N, H, L, D)
        k = k.reshape(N, S, H, D).transpose(1, 2)
        v = v.reshape(N, S, H, D).transpose(1, 2)
        if self.add_zero_attn:
            zeros = Tensor(xp_of(q.data).zeros((N, H, 1, D), dtype=q.dtype))
            k, v = cat([k, zeros], 2), cat([v, zeros], 2)
            mask, padding, S = extend(mask, 1), extend(padding, 1), S + 1
        if padding is not None:
            mask = padding if mask is None else mask + padding
        p = self.dropout if self.training else 0.0

        if not need_weights:  # the fused path: fully masked rows give zeros, as PyTorch's
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)
            weights = None
        else:
            scores = (q * (1.0 / math.sqrt(D))) @ k.transpose(-2, -1)
            if mask is not None:
                scores = scores + mask
            weights = scores.softmax(-1)  # (N, H, L, S)
            if p > 0.0:
                weights = F.dropout(weights, p, training=True)
            out = weights @ v
            if average_attn_weights:
                weights = weights.mean(1)
        out = self.out_proj(out.transpose(1, 2).reshape(N, L, self.embed_dim))
        if unbatched:
            return out.squeeze(0), (weights.squeeze(0) if weights is not None else None)
        if not self.batch_first:
            out = out.transpose(0, 1)
        return out, weights

    def extra_repr(self):
        return (f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, dropout={self.dropout}, "
                f"batch_first={self.batch_first}")
