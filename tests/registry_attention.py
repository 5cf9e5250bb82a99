"""Registry entries for attention (see op_registry.py for the fields).

``scaled_dot_product_attention`` is a composite of registered ops; these
entries check the composite itself: its scale, its masks (bool: which keys
a query may see; float: added to the scores, and differentiable), the
causal mask and broadcast batch dims.  The NumPy reference is written out
from the definition, independently of minigrad's code.
"""
import numpy as np
from hypothesis import strategies as st

import minigrad.nn.functional as F
from op_registry import OpInfo, Sample, register, values


def _tf():
    import torch.nn.functional as tf

    return tf


def _np_sdpa(q, k, v, mask=None, is_causal=False, scale=None):
    """softmax(q k^T * scale + mask) v, rows with no key allowed giving 0."""
    scale = 1.0 / np.sqrt(q.shape[-1]) if scale is None else scale
    scores = np.einsum("...ld,...sd->...ls", q, k) * scale
    allowed = np.ones(scores.shape[-2:], dtype=bool)
    if is_causal:
        allowed = np.tril(allowed)
    if mask is not None and mask.dtype == bool:
        allowed = allowed & mask
    elif mask is not None:
        scores = scores + mask
    scores = np.where(allowed, scores, -np.inf)
    top = np.max(scores, axis=-1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    e = np.exp(scores - top)
    total = e.sum(-1, keepdims=True)
    w = np.divide(e, total, out=np.zeros_like(e), where=total > 0)
    return np.einsum("...ls,...sd->...ld", w, v)


def _sdpa_sample(mask_kind):
    """q (B..., L, E), k (B..., S, E), v (B..., S, Ev) with broadcast batch dims, plus the mask of ``mask_kind``."""

    def sample(draw):
        batch_q = tuple(draw(st.lists(st.integers(1, 2), max_size=2)))
        batch_kv = tuple(1 if draw(st.booleans()) else b for b in batch_q)  # broadcast against the query's
        L, S, E, Ev = (draw(st.integers(1, 4)) for _ in range(4))
        args = [values(draw, batch_q + (L, E)), values(draw, batch_kv + (S, E), salt=1),
                values(draw, batch_kv + (S, Ev), salt=2)]
        kwargs = {}
        if draw(st.booleans()):
            kwargs["scale"] = draw(st.sampled_from([0.5, 2.0]))
        constant = ()
        if mask_kind == "causal":
            kwargs["is_causal"] = True
        elif mask_kind == "bool":
            rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
            mask = rng.random((L, S)) < 0.6
            if draw(st.booleans()):
                mask[0] = False  # a query that may see nothing: its output is 0
            args.append(mask)
            constant = (3,)
        elif mask_kind == "float":
            args.append(values(draw, (L, S), "unit", salt=3))  # a differentiable additive mask
        return Sample(args, kwargs, constant=constant)

    return sample


def _mg_sdpa(q, k, v, mask=None, **kwargs):
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, **kwargs)


def _torch_sdpa(q, k, v, mask=None, **kwargs):
    return _tf().scaled_dot_product_attention(q, k, v, attn_mask=mask, **kwargs)


register(
    OpInfo("scaled_dot_product_attention", _mg_sdpa, _sdpa_sample(None), _np_sdpa, _torch_sdpa, atol=1e-6),
    OpInfo("scaled_dot_product_attention_causal", _mg_sdpa, _sdpa_sample("causal"), _np_sdpa, _torch_sdpa,
           atol=1e-6),
    OpInfo("scaled_dot_product_attention_bool_mask", _mg_sdpa, _sdpa_sample("bool"), _np_sdpa, _torch_sdpa,
           atol=1e-6, notes="a row with every key masked gives zeros (and zero gradient), as PyTorch's"),
    OpInfo("scaled_dot_product_attention_float_mask", _mg_sdpa, _sdpa_sample("float"), _np_sdpa, _torch_sdpa,
           atol=1e-6, notes="the additive mask is an input: its gradient is checked too"),
)
