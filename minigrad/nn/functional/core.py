"""Functional forms of the layers: ``linear``, ``dropout``, ``embedding``, ``batch_norm``,
``layer_norm``, ``gelu``, ``one_hot``.

The layers in ``minigrad.nn`` hold the parameters and call these functions.
The heavy ones are single fused ops (one node on the graph each):

* :class:`LinearOp`: ``x @ W^T + b`` as one matrix product plus an in-place bias add;
* :class:`DropoutOp`: multiply by a saved random mask;
* :class:`EmbeddingOp`: a row lookup whose backward sums gradient rows per index
  with ``scatter_add_rows`` (no ``np.add.at``);
* :class:`BatchNormOp` and :class:`LayerNormOp`: normalise with the statistics
  of the batch (or of each sample) and the well-known closed-form backward.

Every backward is written with tensor ops, so gradients of gradients work
(``create_graph=True``).  Ops that save intermediate arrays use them as
constants when only first derivatives are wanted, and rebuild them as
differentiable tensors from the inputs when the backward itself is recorded
(``is_grad_enabled()`` is True inside backward only under ``create_graph``).
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from ... import _backend as B
from ...autograd.engine import Op, Tensor, is_grad_enabled
from .._checks import check_float, check_same_dtype, check_tensor
from ...ops._common import constant, xp_of
from ...ops.pointwise import softplus as _softplus_op, where

__all__ = ["linear", "dropout", "embedding", "one_hot", "batch_norm", "layer_norm", "gelu", "erf", "elu", "silu",
           "softplus"]


# ----------------------------------------------------------------------------- linear
class LinearOp(Op):
    """out = x @ W^T + b for x of shape (*, in_features), W (out_features, in_features), b (out_features,)

    Backward (for a gradient g of shape (*, out_features)):
    dL/dx = g @ W,   dL/dW = g^T @ x (summed over all leading dims),   dL/db = sum of g over leading dims.
    """

    def forward(self, x, weight, bias=None):
        if x.ndim <= 2:
            out = x @ weight.T  # NumPy hands the transposed view to BLAS: no copy
        else:  # one big matrix product instead of one per leading index
            out = (x.reshape(-1, x.shape[-1]) @ weight.T).reshape(x.shape[:-1] + (weight.shape[0],))
        if bias is not None:
            out += bias  # in place: ``out`` is a fresh array
        return out

    def backward(self, grad):
        inputs = self.inputs
        x, weight = inputs[0], inputs[1]
        need = self.needs_input_grad
        grad_x = grad @ weight if need[0] else None
        grad_w = grad_b = None
        need_bias = len(inputs) == 3 and need[2]
        if need[1] or need_bias:
            grad_2d = grad if grad.ndim == 2 else grad.reshape(-1, weight.shape[0])
            if need[1]:
                x_2d = x if x.ndim == 2 else x.reshape(-1, weight.shape[1])
                grad_w = grad_2d.mT @ x_2d
            if need_bias:
                grad_b = grad_2d.sum(0)
        return (grad_x, grad_w, grad_b) if len(inputs) == 3 else (grad_x, grad_w)


def linear(input, weight, bias=None):
    """Affine map ``input @ weight.T + bias``.

    Shapes: input (*, in_features), weight (out_features, in_features),
    bias (out_features,) or None -> output (*, out_features).
    """
    check_float(input, "linear")
    check_float(weight, "linear", "weight")
    if weight.ndim != 2:
        raise ValueError(f"linear: weight must be 2-D (out_features, in_features), got shape {weight.shape}")
    if input.ndim == 0:
        raise ValueError("linear: input must have at least 1 dimension (the features), got a 0-d tensor")
    if input.shape[-1] != weight.shape[1]:
        raise ValueError(
            f"linear: input has {input.shape[-1]} features in its last dimension (shape {tuple(input.shape)}), "
            f"but the weight expects in_features={weight.shape[1]} (weight shape {tuple(weight.shape)})"
        )
    if bias is not None:
        check_float(bias, "linear", "bias")
        if bias.shape != (weight.shape[0],):
            raise ValueError(f"linear: bias must have shape ({weight.shape[0]},) to match weight shape "
                             f"{tuple(weight.shape)}, got {tuple(bias.shape)}")
    check_same_dtype("linear", [("input", input), ("weight", weight), ("bias", bias)])
    if bias is None:
        return LinearOp.apply(input, weight)
    return LinearOp.apply(input, weight, bias)


# ----------------------------------------------------------------------------- dropout
class DropoutOp(Op):
    """out = x * mask / (1 - p), mask[i] = 1 with probability 1 - p (inverted dropout)

    Scaling the kept values by 1 / (1 - p) keeps the expected output equal
    to x, so evaluation mode can skip dropout without rescaling.
    """

    def forward(self, x):
        gen = B.random_module(B.device_of(x))
        keep = gen.random(x.shape, dtype=np.float32) >= self.p
        scale = keep.astype(x.dtype)
        scale *= 1.0 / (1.0 - self.p)
        self.scale = scale  # the mask, already scaled; backward reuses it
        return x * scale

    def backward(self, grad):
        return grad * constant(self.scale)


def dropout(input, p=0.5, training=True, inplace=False):
    """Zero each element with probability ``p`` and scale the rest by ``1 / (1 - p)``.

    Only when ``training``; otherwise (or with ``p=0``) returns ``input`` itself.
    The mask comes from minigrad's generator (``mg.manual_seed``).  ``inplace``
    is accepted for PyTorch compatibility; minigrad always returns a new tensor.
    Shape: any; the output has the input's shape.
    """
    check_float(input, "dropout")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return input
    if p == 1.0:  # everything dropped; the gradient is 0 as well
        return input * 0.0
    return DropoutOp.apply(input, p=float(p))


# ----------------------------------------------------------------------------- embedding
class EmbeddingOp(Op):
    """out[..., :] = weight[indices[...], :]: look up one row of the table per index

    ``indices`` is a constant integer array of any shape; the output has shape
    indices.shape + (embedding_dim,).  The gradient of the table adds each
    output gradient row into the row it was read from.
    """

    scale_grad_by_freq = False

    def forward(self, weight):
        self.num_embeddings = weight.shape[0]
        return xp_of(weight).take(weight, self.indices, axis=0)

    def backward(self, grad):
        return EmbeddingBackwardOp.apply(grad, indices=self.indices, num_embeddings=self.num_embeddings,
                                         padding_idx=self.padding_idx, scale_grad_by_freq=self.scale_grad_by_freq)


class EmbeddingBackwardOp(Op):
    """out = zeros(num_embeddings, dim); out[indices[k]] += g[k] (repeats accumulate); out[padding_idx] = 0

    With ``scale_grad_by_freq``, each row's sum is divided by how often its index occurs.
    The backward of the lookup, as an op of its own so that it can be
    differentiated again: its own backward is the lookup (masked at padding, scaled likewise).
    """

    scale_grad_by_freq = False

    def forward(self, grad):
        rows = self.indices.reshape(-1)
        values = grad.reshape(rows.size, grad.shape[-1])
        out = B.scatter_add_rows(self.num_embeddings, rows, values)
        if self.scale_grad_by_freq:
            out *= self._inverse_counts(xp_of(out))[:, None]
        if self.padding_idx is not None:
            out[self.padding_idx] = 0  # the padding row never learns
        return out

    def _inverse_counts(self, xp):
        """1 / (occurrences of each row index in ``indices``), 0 for rows that do not occur."""
        counts = xp.bincount(self.indices.reshape(-1), minlength=self.num_embeddings)
        return xp.where(counts > 0, 1.0 / xp.maximum(counts, 1), 0.0)

    def backward(self, grad):
        looked_up = EmbeddingOp.apply(grad, indices=self.indices, padding_idx=None, scale_grad_by_freq=False)
        if self.padding_idx is None and not self.scale_grad_by_freq:
            return looked_up
        xp = xp_of(grad.data)
        scale = xp.ones(self.indices.shape, dtype=grad.dtype)
        if self.scale_grad_by_freq:
            scale *= self._inverse_counts(xp)[self.indices].astype(grad.dtype)
        if self.padding_idx is not None:
            scale *= self.indices != self.padding_idx
        return looked_up * constant(scale[..., None])


def _index_array(indices, like, fn_name):
    """The raw integer array of ``indices`` (a Tensor, array or list), on ``like``'s device."""
    if isinstance(indices, Tensor):
        array = indices.data
        if not B.same_device([array, like.data]):
            raise B.DeviceError(f"{fn_name}: indices are on {indices.device} but the weight is on {like.device}")
    else:
        array = B.to_device(np.asarray(indices), like.device)
    if array.dtype.kind not in "iu":
        raise TypeError(f"{fn_name}: indices must be an integer tensor (e.g. int64), got dtype {array.dtype}")
    return array


def _normalize_padding_idx(padding_idx, num_embeddings):
    if padding_idx is None:
        return None
    if not -num_embeddings <= padding_idx < num_embeddings:
        raise ValueError(f"padding_idx {padding_idx} must be within the {num_embeddings} embeddings "
                         f"(-{num_embeddings} <= padding_idx < {num_embeddings})")
    return int(padding_idx) % num_embeddings


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0, scale_grad_by_freq=False,
              sparse=False):
    """Rows of ``weight`` picked by the integer indices ``input``.

    Shapes: input (*) integers in [0, num_embeddings), weight (num_embeddings, embedding_dim)
    -> output (*, embedding_dim).  The row ``padding_idx`` receives no gradient.

    ``max_norm``: first rescale, in place, every looked-up row whose ``norm_type``-norm exceeds
    ``max_norm`` down to that norm (as PyTorch, this changes ``weight``).  ``scale_grad_by_freq``:
    divide each row's gradient by how often its index occurs in ``input``.  ``sparse`` gradients
    are not supported (minigrad's gradients are dense).
    """
    if sparse:
        raise ValueError("embedding: sparse=True (sparse gradients) is not supported; with sparse=False the gradient "
                                  "has the same values, as a dense (num_embeddings, embedding_dim) tensor")
    check_float(weight, "embedding", "weight")
    if weight.ndim != 2:
        raise ValueError(f"embedding: weight must be 2-D (num_embeddings, embedding_dim), got shape {weight.shape}")
    indices = _index_array(input, weight, "embedding")
    n = weight.shape[0]
    if indices.size and bool(((indices < 0) | (indices >= n)).any()):
        low, high = int(indices.min()), int(indices.max())
        raise IndexError(f"embedding: indices must be in [0, {n}) for a table of {n} rows (weight shape "
                         f"{tuple(weight.shape)}), got values from {low} to {high}")
    if max_norm is not None:
        _renorm_rows_(weight, indices, float(max_norm), float(norm_type))
    return EmbeddingOp.apply(weight, indices=indices, padding_idx=_normalize_padding_idx(padding_idx, n),
                             scale_grad_by_freq=bool(scale_grad_by_freq))


def _renorm_rows_(weight, indices, max_norm, norm_type):
    """Scale the rows of ``weight`` named in ``indices`` whose norm exceeds ``max_norm`` to norm ``max_norm``
    (in place, not recorded: PyTorch's ``embedding_renorm_``)."""
    xp = xp_of(weight.data)
    rows = xp.unique(indices.reshape(-1))
    picked = weight.data[rows]
    norms = (xp.abs(picked) ** norm_type).sum(axis=1) ** (1.0 / norm_type)
    too_long = norms > max_norm
    if bool(too_long.any()):
        scale = (max_norm / (norms[too_long] + 1e-7)).astype(weight.dtype)
        weight.data[rows[too_long]] = picked[too_long] * scale[:, None]
        weight._bump_version()


# ----------------------------------------------------------------------------- one_hot
def one_hot(tensor, num_classes=-1):
    """Integer class indices of shape (*) -> int64 one-hot rows of shape (*, num_classes).

    ``num_classes=-1`` uses the largest index + 1.  No gradient.
    """
    check_tensor(tensor, "one_hot", "tensor")
    idx = tensor.data
    if idx.dtype.kind not in "iu":
        raise TypeError(f"one_hot: expects an integer tensor of class indices, got dtype {idx.dtype}")
    xp = xp_of(idx)
    if num_classes == -1:
        if idx.size == 0:
            raise ValueError("one_hot: cannot infer the number of classes from an empty tensor; pass num_classes")
        num_classes = int(idx.max()) + 1
    if num_classes < 0:
        raise ValueError(f"one_hot: num_classes must be non-negative or -1, got {num_classes}")
    if idx.size and bool(((idx < 0) | (idx >= num_classes)).any()):
        raise ValueError(f"one_hot: class values must be in [0, {num_classes}), got values from "
                         f"{int(idx.min())} to {int(idx.max())}")
    out = xp.zeros(idx.shape + (num_classes,), dtype=np.int64)
    rows = out.reshape(-1, num_classes)  # a view: writes land in ``out``
    rows[xp.arange(idx.size), idx.reshape(-1)] = 1
    return constant(out)


# ----------------------------------------------------------------------------- normalisation
class _NormalizeOp(Op):
    """out = (x - mean) / sqrt(var + eps) * weight + bias, mean and (biased) var taken over ``dims``

    Inputs: x, then weight and bias when present (``has_weight``/``has_bias``).
    ``param_view`` is the full-rank shape that weight and bias broadcast in.

    Backward, with xhat = (x - mean) * invstd and gx = g * weight:
    dL/dx = invstd * (gx - mean(gx) - xhat * mean(gx * xhat)),
    dL/dweight = sum(g * xhat), dL/dbias = sum(g), the sums over the broadcast dims.
    """

    def forward(self, x, *params):
        xp = xp_of(x)
        mean = x.mean(axis=self.dims, keepdims=True)
        centered = x - mean
        var = xp.square(centered).mean(axis=self.dims, keepdims=True)
        invstd = 1.0 / xp.sqrt(var + self.eps)
        centered *= invstd  # now x-hat (reusing the array)
        self.xhat, self.invstd = centered, invstd
        self._update_stats(xp, mean, var, x)
        weight = params[0].reshape(self.param_view) if self.has_weight else None
        bias = params[-1].reshape(self.param_view) if self.has_bias else None
        # The output gets its own array: x-hat is kept for backward.
        if weight is not None:
            out = centered * weight
            if bias is not None:
                out += bias
            return out
        return centered + bias if bias is not None else centered.copy()

    def _update_stats(self, xp, mean, var, x):
        """Hook for batch norm's running statistics."""

    def backward(self, grad):
        inputs = self.inputs
        x = inputs[0]
        weight = inputs[1] if self.has_weight else None
        bias_pos = 2 if self.has_weight else 1
        need = self.needs_input_grad
        grads = [None] * len(inputs)
        if is_grad_enabled():  # create_graph: the statistics must be differentiable functions of x
            mean = x.mean(self.dims, keepdim=True)
            centered = x - mean
            invstd = ((centered * centered).mean(self.dims, keepdim=True) + self.eps).rsqrt()
            xhat = centered * invstd
            if need[0]:
                grad_xhat = grad * weight.reshape(self.param_view) if weight is not None else grad
                grads[0] = invstd * (grad_xhat - grad_xhat.mean(self.dims, keepdim=True)
                                     - xhat * (grad_xhat * xhat).mean(self.dims, keepdim=True))
        else:
            # The same formula on the saved arrays, in place: far fewer full-size temporaries.
            xhat = constant(self.xhat)
            if need[0]:
                grads[0] = constant(self._input_grad(grad.data, None if weight is None else weight.data))
        param_dims = tuple(i for i, s in enumerate(self.param_view) if s == 1)
        if weight is not None and need[1]:
            grads[1] = (grad * xhat).sum(param_dims).reshape(weight.shape)
        if self.has_bias and need[bias_pos]:
            grads[bias_pos] = grad.sum(param_dims).reshape(inputs[bias_pos].shape)
        return tuple(grads)

    def _input_grad(self, grad, weight):
        """dL/dx = invstd * (gx - mean(gx) - xhat * mean(gx * xhat)) with arrays, gx = grad * weight."""
        xp = xp_of(grad)
        xhat, dims = self.xhat, self.dims
        grad_xhat = grad * weight.reshape(self.param_view) if weight is not None else xp.array(grad, copy=True)
        projection = xp.multiply(grad_xhat, xhat).mean(axis=dims, keepdims=True)
        grad_xhat -= grad_xhat.mean(axis=dims, keepdims=True)
        grad_xhat -= xhat * projection
        grad_xhat *= self.invstd
        return grad_xhat


class BatchNormOp(_NormalizeOp):
    """Batch normalisation in training mode: statistics over every dim but the channels (dim 1).

    Also updates the running statistics in place (when given):
    running = (1 - momentum) * running + momentum * batch statistic, with the
    unbiased variance n / (n - 1) * var for ``running_var`` (as PyTorch).
    """

    def _update_stats(self, xp, mean, var, x):
        if self.running_mean is None:
            return
        n = x.size // x.shape[1]
        m = self.momentum
        rm, rv = self.running_mean, self.running_var
        rm.data *= 1.0 - m
        rm.data += (m * mean.reshape(-1)).astype(rm.dtype, copy=False)
        rv.data *= 1.0 - m
        rv.data += (m * n / max(n - 1, 1) * var.reshape(-1)).astype(rv.dtype, copy=False)
        rm._bump_version()
        rv._bump_version()


class LayerNormOp(_NormalizeOp):
    """Layer normalisation: statistics over the last dims (``normalized_shape``) of each sample."""


def _norm_params(weight, bias, shape, fn_name):
    for name, p in (("weight", weight), ("bias", bias)):
        if p is not None:
            check_float(p, fn_name, name)
            if tuple(p.shape) != tuple(shape):
                raise ValueError(f"{fn_name}: {name} must have shape {tuple(shape)}, got {tuple(p.shape)}")
    return [p for p in (weight, bias) if p is not None]


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1,
               eps=1e-5):
    """Normalise each channel (dim 1) to zero mean and unit variance, then scale and shift.

    Shapes: input (N, C, *), running_mean/running_var/weight/bias (C,) -> output (N, C, *).
    ``training``: use the batch's statistics (biased variance) and update
    the running ones in place if given; otherwise normalise with the running statistics.
    """
    check_float(input, "batch_norm")
    if input.ndim < 2:
        raise ValueError(f"batch_norm: expected an input of shape (N, C, ...), got shape {tuple(input.shape)}")
    channels = input.shape[1]
    params = _norm_params(weight, bias, (channels,), "batch_norm")
    for name, stat in (("running_mean", running_mean), ("running_var", running_var)):
        if stat is not None and tuple(stat.shape) != (channels,):
            raise ValueError(f"batch_norm: {name} has shape {tuple(stat.shape)} but the input has {channels} "
                             f"channels (input shape {tuple(input.shape)})")
    check_same_dtype("batch_norm", [("input", input), ("weight", weight), ("bias", bias)])
    view = (1, channels) + (1,) * (input.ndim - 2)
    if training and input.numel() == 0 and channels:
        # An empty batch (PyTorch): an empty output, still a function of weight and bias (zero gradients);
        # the running statistics are left as they are.
        out = input
        if weight is not None:
            out = out * weight.reshape(view)
        if bias is not None:
            out = out + bias.reshape(view)
        return out
    if training:
        if input.numel() // max(channels, 1) <= 1:
            raise ValueError(f"batch_norm: expected more than 1 value per channel when training, got input "
                             f"of shape {tuple(input.shape)}")
        if (running_mean is None) != (running_var is None):
            raise ValueError("batch_norm: give both running_mean and running_var, or neither")
        dims = (0,) + tuple(range(2, input.ndim))
        return BatchNormOp.apply(input, *params, dims=dims, eps=float(eps), param_view=view,
                                 has_weight=weight is not None, has_bias=bias is not None,
                                 running_mean=running_mean, running_var=running_var,
                                 momentum=0.0 if momentum is None else float(momentum))
    if running_mean is None or running_var is None:
        raise ValueError("batch_norm: evaluation mode (training=False) needs running_mean and running_var")
    # Evaluation: a fixed per-channel affine map, y = x * scale + shift.
    scale = (running_var.detach() + float(eps)).rsqrt()
    if weight is not None:
        scale = scale * weight
    shift = -running_mean.detach() * scale
    if bias is not None:
        shift = shift + bias
    return input * scale.to(input.dtype).reshape(view) + shift.to(input.dtype).reshape(view)


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalise over the last ``len(normalized_shape)`` dims of each sample, then scale and shift.

    Shapes: input (*, *normalized_shape), weight/bias ``normalized_shape`` -> output like input.
    """
    check_float(input, "layer_norm")
    shape = (int(normalized_shape),) if isinstance(normalized_shape, numbers.Integral) else tuple(normalized_shape)
    k = len(shape)
    if k == 0 or input.ndim < k or tuple(input.shape[input.ndim - k:]) != shape:
        raise ValueError(f"layer_norm: normalized_shape {shape} must match the last dims of the input, "
                         f"got input shape {tuple(input.shape)}")
    params = _norm_params(weight, bias, shape, "layer_norm")
    check_same_dtype("layer_norm", [("input", input), ("weight", weight), ("bias", bias)])
    lead = input.ndim - k
    return LayerNormOp.apply(input, *params, dims=tuple(range(lead, input.ndim)), eps=float(eps),
                             param_view=(1,) * lead + shape, has_weight=weight is not None,
                             has_bias=bias is not None)


# ----------------------------------------------------------------------------- GELU and erf
def _series_coefficients(n_terms):
    """c_n = 2^n / (1 * 3 * 5 * ... * (2n + 1)), the coefficients of erf's series in z^2."""
    coefficients = [1.0]
    for n in range(1, n_terms):
        coefficients.append(coefficients[-1] * 2.0 / (2 * n + 1))
    return coefficients


# (series terms for |z| < 2, continued-fraction depth for |z| >= 2): enough for the input's precision
# (measured against math.erf: error < 1e-15 for float64, < 4e-8 for float32).
_ERF_TERMS = {np.dtype(np.float64): (30, 80), np.dtype(np.float32): (20, 30)}
_ERF_COEFFICIENTS = {dtype: _series_coefficients(terms) for dtype, (terms, _) in _ERF_TERMS.items()}


def _erf_numpy(x):
    """erf(x) with NumPy only (NumPy has no erf; SciPy is not a dependency), worked in float64.

    |z| < 2:  erf z = 2/sqrt(pi) z e^(-z^2) sum_n c_n z^(2n),  c_n = 2^n / (1*3*...*(2n+1)),
              all terms positive (no cancellation); a polynomial in z^2 evaluated by Horner's rule.
    |z| >= 2: erfc z = e^(-z^2) / sqrt(pi) / (z + (1/2)/(z + 1/(z + (3/2)/(z + ...)))), bottom-up.
    Both loops work in place on one array (no temporaries per term).
    """
    key = np.dtype(np.float64) if x.dtype == np.float64 else np.dtype(np.float32)
    depth = _ERF_TERMS[key][1]
    coefficients = _ERF_COEFFICIENTS[key]
    z = np.abs(x).astype(np.float64)
    out = np.empty_like(z)
    small = z < 2.0
    zs = z[small]
    z2 = zs * zs
    series = np.full_like(zs, coefficients[-1])
    for c in reversed(coefficients[:-1]):
        series *= z2
        series += c
    np.negative(z2, out=z2)
    np.exp(z2, out=z2)
    series *= z2
    series *= zs
    series *= 2.0 / math.sqrt(math.pi)
    out[small] = series
    zl = z[~small]
    fraction = zl.copy()
    for k in range(depth, 0, -1):
        np.divide(k / 2.0, fraction, out=fraction)
        fraction += zl
    tail = np.exp(-zl * zl)
    tail /= fraction
    out[~small] = 1.0 - tail * (1.0 / math.sqrt(math.pi))
    return np.copysign(out, x).astype(x.dtype, copy=False)


def _erf_array(x):
    """erf of a NumPy or CuPy array."""
    if xp_of(x) is np:
        return _erf_numpy(x)
    from cupyx.scipy.special import erf as cupy_erf  # noqa: PLC0415 - CuPy only

    return cupy_erf(x)


class ErfOp(Op):
    """out = erf(x) = 2/sqrt(pi) * integral_0^x e^(-t^2) dt;  d out/dx = 2/sqrt(pi) e^(-x^2)"""

    def forward(self, x):
        return _erf_array(x)

    def backward(self, grad):
        (x,) = self.inputs
        return grad * (-(x * x)).exp() * (2.0 / math.sqrt(math.pi))


def erf(input):
    """Elementwise error function (differentiable).  Shape: any."""
    check_float(input, "erf")
    return ErfOp.apply(input)


_SQRT_HALF = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


class GeluOp(Op):
    """out = x * Phi(x), Phi(x) = (1 + erf(x / sqrt 2)) / 2 the standard normal CDF

    d out/dx = Phi(x) + x * phi(x), phi(x) = e^(-x^2/2) / sqrt(2 pi) the normal density.
    """

    def forward(self, x):
        cdf = _erf_array(x * _SQRT_HALF)
        cdf += 1.0
        cdf *= 0.5
        self.cdf = cdf
        return x * cdf

    def backward(self, grad):
        (x,) = self.inputs
        if is_grad_enabled():  # create_graph: Phi and phi as differentiable functions of x
            cdf = (erf(x * _SQRT_HALF) + 1.0) * 0.5
            pdf = (x * x * -0.5).exp() * _INV_SQRT_2PI
            return grad * (cdf + x * pdf)
        xp = xp_of(x.data)
        slope = xp.exp(xp.square(x.data) * -0.5)
        slope *= x.data * _INV_SQRT_2PI
        slope += self.cdf
        return grad * constant(slope)


def gelu(input, approximate="none"):
    """Gaussian error linear unit: ``x * Phi(x)``, Phi the standard normal CDF.

    ``approximate='none'``: exact, ``0.5 x (1 + erf(x / sqrt(2)))`` (one fused op);
    ``'tanh'``: ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))``.  Shape: any.
    """
    check_float(input, "gelu")
    if approximate == "none":
        return GeluOp.apply(input)
    if approximate == "tanh":
        inner = (input + input * input * input * 0.044715) * math.sqrt(2.0 / math.pi)
        return input * 0.5 * (inner.tanh() + 1.0)
    raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")


class EluOp(Op):
    """out = x if x > 0 else alpha * (e^x - 1);  d out/dx = 1 if x > 0 else out + alpha"""

    save_output = True

    def forward(self, x):
        xp = xp_of(x)
        self.positive = ~(x <= 0)  # NaN takes the identity branch's gradient (1), as in PyTorch
        negative = xp.expm1(xp.minimum(x, 0))  # min: no overflow in the branch that is not taken
        negative *= self.alpha
        return xp.where(self.positive, x, negative)

    def backward(self, grad):
        return where(constant(self.positive), grad, grad * (self.output + self.alpha))


def elu(input, alpha=1.0):
    """Exponential linear unit: ``x`` for ``x > 0``, else ``alpha * (e^x - 1)``.  Shape: any."""
    check_float(input, "elu")
    return EluOp.apply(input, alpha=float(alpha))


def silu(input):
    """Sigmoid linear unit (swish): ``x * sigmoid(x)``.  Shape: any."""
    check_float(input, "silu")
    return input * input.sigmoid()


def softplus(input, beta=1.0, threshold=20.0):
    """``log(1 + e^(beta x)) / beta``, and ``x`` itself where ``beta x > threshold`` (as PyTorch).  Shape: any."""
    check_float(input, "softplus")
    scaled = input if beta == 1 else input * float(beta)
    smooth = _softplus_op(scaled) if beta == 1 else _softplus_op(scaled) / float(beta)
    return where(scaled > threshold, input, smooth)
