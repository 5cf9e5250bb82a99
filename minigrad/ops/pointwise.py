"""Elementwise ops: arithmetic, math functions, activations, comparisons.

Broadcasting needs no code here: the engine sums each input's gradient back
to the input's shape.
"""
from __future__ import annotations

from ..autograd import errors
from ..autograd.engine import Op, Tensor
from ._common import constant, lift, operands, xp_of

# ----------------------------------------------------------------------------- arithmetic


class Add(Op):
    """out = a + b"""

    def forward(self, a, b):
        return a + b

    def backward(self, grad):
        return grad, grad


class Sub(Op):
    """out = a - b"""

    def forward(self, a, b):
        return a - b

    def backward(self, grad):
        return grad, (-grad if self.needs_input_grad[1] else None)


class Mul(Op):
    """out = a * b"""

    def forward(self, a, b):
        return a * b

    def backward(self, grad):
        a, b = self.inputs
        need_a, need_b = self.needs_input_grad
        return (grad * b if need_a else None), (grad * a if need_b else None)


class Div(Op):
    """out = a / b"""

    def forward(self, a, b):
        return a / b

    def backward(self, grad):
        a, b = self.inputs
        grad_a = grad / b
        return grad_a, (-grad_a * a / b if self.needs_input_grad[1] else None)


class Neg(Op):
    """out = -a"""

    def forward(self, a):
        return -a

    def backward(self, grad):
        return -grad


class Pow(Op):
    """out = a ** b"""

    save_output = True

    def forward(self, a, b):
        return a**b

    def backward(self, grad):
        a, b = self.inputs
        need_a, need_b = self.needs_input_grad
        grad_a = None
        if need_a:
            # where b == 0 the gradient is 0 even at a == 0 (b * a^(b-1) would be 0 * inf), as in PyTorch
            grad_a = grad * b * a ** (b - 1)
            if (b.data == 0).any():
                grad_a = where(b.data == 0, 0.0, grad_a)
        grad_b = None
        if need_b:
            # d(a^b)/db = a^b log a; where a == 0 (and b >= 0) the limit is 0, as in PyTorch.
            zero_limit = (a.data == 0) & (b.data >= 0)
            safe_a = where(zero_limit, 1.0, a)
            grad_b = grad * self.output * log(safe_a)
        return grad_a, grad_b


def _int_to_float(a, b):
    """True division of integer tensors gives float32, as in PyTorch."""
    if a.data.dtype.kind in "iub" and b.data.dtype.kind in "iub":
        return a.float(), b.float()
    return a, b


# add, sub, mul and div are also the operators + - * / (see minigrad/api.py), so each starts with the
# fast path of two plain tensors of one dtype; anything else goes through ``operands``.


def add(input, other, *, alpha=1):
    """Elementwise ``input + alpha * other`` with broadcasting (either side may be a number)."""
    if alpha != 1:  # scale a tensor, not a list the caller gave (a list * 2 would repeat it)
        input, other = operands(input, other)
        other = other * alpha
    if type(input) is not Tensor or type(other) is not Tensor or input.data.dtype is not other.data.dtype:
        input, other = operands(input, other)
    return Add.apply(input, other)


def sub(input, other, *, alpha=1):
    """Elementwise ``input - alpha * other`` with broadcasting (either side may be a number)."""
    if alpha != 1:  # scale a tensor, not a list the caller gave (a list * 2 would repeat it)
        input, other = operands(input, other)
        other = other * alpha
    if type(input) is not Tensor or type(other) is not Tensor or input.data.dtype is not other.data.dtype:
        input, other = operands(input, other)
    return Sub.apply(input, other)


def mul(input, other):
    """Elementwise ``input * other`` with broadcasting (either side may be a number)."""
    if type(input) is not Tensor or type(other) is not Tensor or input.data.dtype is not other.data.dtype:
        input, other = operands(input, other)
    return Mul.apply(input, other)


def _zero_gradient(grad):
    """The gradient of a piecewise-constant op: zeros of ``grad``'s shape (not ``grad * 0``, which is NaN
    where ``grad`` is infinite)."""
    return constant(xp_of(grad.data).zeros_like(grad.data))


class RoundedDiv(Op):
    """out = a / b rounded toward zero ('trunc') or down ('floor'); piecewise constant: zero gradients"""

    def forward(self, a, b):
        xp = xp_of(a)
        if self.rounding_mode == "floor":
            return xp.floor_divide(a, b)
        if a.dtype.kind in "iub" and b.dtype.kind in "iub":
            q = xp.floor_divide(a, b)
            # floor division rounds down; toward zero differs where the signs differ and b does not divide a
            return q + ((q < 0) & (q * b != a))
        return xp.trunc(a / b)

    def backward(self, grad):
        zeros = _zero_gradient(grad)
        need_a, need_b = self.needs_input_grad
        return (zeros if need_a else None), (zeros if need_b else None)


def div(input, other, *, rounding_mode=None):
    """Elementwise ``input / other``: true division (integers give float32) when ``rounding_mode`` is
    None, else rounded toward zero (``'trunc'``) or down (``'floor'``), keeping integer dtypes."""
    if rounding_mode is not None:
        if rounding_mode not in ("trunc", "floor"):
            raise ValueError(f"div: rounding_mode must be None, 'trunc' or 'floor', got {rounding_mode!r}")
        input, other = operands(input, other)
        return RoundedDiv.apply(input, other, rounding_mode=rounding_mode)
    if type(input) is not Tensor or type(other) is not Tensor or input.data.dtype is not other.data.dtype:
        input, other = operands(input, other)
    if input.data.dtype.kind in "iub":
        input, other = _int_to_float(input, other)
    return Div.apply(input, other)


def neg(input):
    """``-input``."""
    return Neg.apply(input)


def positive(input):
    """``+input``: the tensor itself."""
    return input


def pow(input, exponent):
    """Elementwise ``input ** exponent`` (either may be a number)."""
    input, exponent = operands(input, exponent)
    return Pow.apply(input, exponent)


# ----------------------------------------------------------------------------- math functions


class Exp(Op):
    """out = e^x"""

    save_output = True

    def forward(self, x):
        return xp_of(x).exp(x)

    def backward(self, grad):
        return grad * self.output


class Log(Op):
    """out = ln x"""

    def forward(self, x):
        return xp_of(x).log(x)

    def backward(self, grad):
        (x,) = self.inputs
        return grad / x


class Log1p(Op):
    """out = ln(1 + x), accurate for small x"""

    def forward(self, x):
        return xp_of(x).log1p(x)

    def backward(self, grad):
        (x,) = self.inputs
        return grad / (x + 1.0)


class Expm1(Op):
    """out = e^x - 1, accurate for small x"""

    save_output = True

    def forward(self, x):
        return xp_of(x).expm1(x)

    def backward(self, grad):
        return grad * (self.output + 1.0)


class Sqrt(Op):
    """out = sqrt(x)"""

    save_output = True

    def forward(self, x):
        return xp_of(x).sqrt(x)

    def backward(self, grad):
        return grad / (self.output * 2.0)


class Sin(Op):
    """out = sin x"""

    def forward(self, x):
        return xp_of(x).sin(x)

    def backward(self, grad):
        (x,) = self.inputs
        return grad * cos(x)


class Cos(Op):
    """out = cos x"""

    def forward(self, x):
        return xp_of(x).cos(x)

    def backward(self, grad):
        (x,) = self.inputs
        return -grad * sin(x)


class Tanh(Op):
    """out = tanh x;  d out/dx = 1 - out^2"""

    save_output = True

    def forward(self, x):
        return xp_of(x).tanh(x)

    def backward(self, grad):
        return TanhBackward.apply(grad, self.output)


class TanhBackward(Op):
    """out = grad (1 - y^2): tanh's gradient from its output y, one op instead of three (as PyTorch's
    tanh_backward); differentiable, for second order."""

    def forward(self, grad, y):
        return grad * (1 - y * y)

    def backward(self, g):
        grad, y = self.inputs
        need_grad, need_y = self.needs_input_grad
        return (TanhBackward.apply(g, y) if need_grad else None), (g * grad * y * -2.0 if need_y else None)


class Sigmoid(Op):
    """out = 1 / (1 + e^-x), computed without overflow for any finite x;  d out/dx = out (1 - out)"""

    save_output = True

    def forward(self, x):
        xp = xp_of(x)
        e = xp.exp(-xp.abs(x))  # in (0, 1]: never overflows
        return xp.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(x.dtype, copy=False)

    def backward(self, grad):
        return SigmoidBackward.apply(grad, self.output)


class SigmoidBackward(Op):
    """out = grad y (1 - y): sigmoid's gradient from its output y, one op instead of three (as PyTorch's
    sigmoid_backward); differentiable, for second order."""

    def forward(self, grad, y):
        return grad * (y * (1 - y))

    def backward(self, g):
        grad, y = self.inputs
        need_grad, need_y = self.needs_input_grad
        return (SigmoidBackward.apply(g, y) if need_grad else None), (g * grad * (1.0 - 2.0 * y) if need_y else None)


class Relu(Op):
    """out = max(x, 0)"""

    def forward(self, x):
        xp = xp_of(x)
        self.mask = ~(x <= 0)  # NaN passes its gradient, as in PyTorch
        # maximum keeps NaN, as PyTorch does; unlike where(mask, x, 0) it has no data-dependent branch
        # (about 20x faster on CPU).
        return xp.maximum(x, xp.zeros((), dtype=x.dtype))

    def backward(self, grad):
        return grad * constant(self.mask)


class LeakyRelu(Op):
    """out = x if x > 0 else negative_slope * x"""

    def forward(self, x):
        self.scale = xp_of(x).where(x > 0, 1.0, self.negative_slope).astype(x.dtype)
        return x * self.scale

    def backward(self, grad):
        return grad * constant(self.scale)


class Softplus(Op):
    """out = ln(1 + e^x), stable for large |x|;  d out/dx = sigmoid(x)"""

    def forward(self, x):
        return xp_of(x).logaddexp(0, x).astype(x.dtype, copy=False)

    def backward(self, grad):
        (x,) = self.inputs
        return grad * sigmoid(x)


class Abs(Op):
    """out = |x|;  gradient sign(x) (0 at 0, as in PyTorch)"""

    def forward(self, x):
        return xp_of(x).abs(x)

    def backward(self, grad):
        (x,) = self.inputs
        return grad * constant(_sign(x.data))  # 0 at 0 and at NaN, as in PyTorch


class Clamp(Op):
    """out = min(max(x, min), max);  the gradient passes where min <= x <= max"""

    def forward(self, x):
        xp = xp_of(x)
        out = x
        mask = None
        if self.min is not None:
            out = xp.maximum(out, self.min)
            mask = x >= self.min
        if self.max is not None:
            out = xp.minimum(out, self.max)
            mask = (x <= self.max) if mask is None else mask & (x <= self.max)
        self.mask = mask
        return out.astype(x.dtype, copy=False) if out is not x else x.copy()

    def backward(self, grad):
        return grad if self.mask is None else grad * constant(self.mask)


def _shares(a, b, a_loses, b_loses):
    """Gradient weights of the two sides of max/min: half each at ties, none for the side that lost,
    the whole gradient otherwise (so with a NaN both sides get it, as in PyTorch)."""
    xp = xp_of(a)
    dtype = xp.result_type(a, b)
    tie = a == b
    half = xp.asarray(0.5, dtype=dtype)  # a typed scalar: no float64 temporaries to cast back
    share_a = xp.where(tie, half, ~a_loses).astype(dtype, copy=False)
    share_b = xp.where(tie, half, ~b_loses).astype(dtype, copy=False)
    return share_a, share_b


class Maximum(Op):
    """out = max(a, b) elementwise; at ties each side gets half the gradient (PyTorch)"""

    def forward(self, a, b):
        self.share_a, self.share_b = _shares(a, b, a < b, a > b)
        return xp_of(a).maximum(a, b)

    def backward(self, grad):
        return grad * constant(self.share_a), grad * constant(self.share_b)


class Minimum(Op):
    """out = min(a, b) elementwise; at ties each side gets half the gradient"""

    def forward(self, a, b):
        self.share_a, self.share_b = _shares(a, b, a > b, a < b)
        return xp_of(a).minimum(a, b)

    def backward(self, grad):
        return grad * constant(self.share_a), grad * constant(self.share_b)


class Where(Op):
    """out = a where cond else b  (cond is a constant boolean array)"""

    def forward(self, a, b):
        return xp_of(a).where(self.cond, a, b)

    def backward(self, grad):
        zero = constant(xp_of(grad.data).zeros((), dtype=grad.dtype))
        need_a, need_b = self.needs_input_grad
        grad_a = Where.apply(grad, zero, cond=self.cond) if need_a else None
        grad_b = Where.apply(zero, grad, cond=self.cond) if need_b else None
        return grad_a, grad_b


def exp(input):
    """Elementwise e^x."""
    return Exp.apply(input)


def log(input):
    """Elementwise natural logarithm."""
    return Log.apply(input)


def log1p(input):
    """Elementwise ln(1 + x)."""
    return Log1p.apply(input)


def expm1(input):
    """Elementwise e^x - 1."""
    return Expm1.apply(input)


def sqrt(input):
    """Elementwise square root."""
    return Sqrt.apply(input)


def sin(input):
    """Elementwise sine."""
    return Sin.apply(input)


def cos(input):
    """Elementwise cosine."""
    return Cos.apply(input)


def tanh(input):
    """Elementwise hyperbolic tangent."""
    return Tanh.apply(input)


def sigmoid(input):
    """Elementwise logistic sigmoid, stable for any finite input."""
    return Sigmoid.apply(input)


def relu(input):
    """Elementwise max(x, 0)."""
    return Relu.apply(input)


def softplus(input):
    """Elementwise ln(1 + e^x), stable for large inputs."""
    return Softplus.apply(input)


def abs(input):
    """Elementwise absolute value."""
    return Abs.apply(input)


def square(input):
    """Elementwise ``input * input``."""
    return Mul.apply(input, input)


def rsqrt(input):
    """Elementwise ``1 / sqrt(input)``."""
    return 1.0 / Sqrt.apply(input)


def reciprocal(input):
    """Elementwise ``1 / input``."""
    return 1.0 / input


def leaky_relu(input, negative_slope=0.01):
    """Elementwise ``x if x > 0 else negative_slope * x``."""
    return LeakyRelu.apply(input, negative_slope=float(negative_slope))


class ClampTensor(Op):
    """out = min(max(x, lo), hi) with tensor bounds (broadcasting; a missing bound is +-inf).

    The gradient goes to x where lo <= x <= hi, to lo where x < lo (and lo < hi), to hi where
    x > hi (or hi < lo): PyTorch's rule, so a NaN in x sends no gradient anywhere."""

    def forward(self, x, lo, hi):
        xp = xp_of(x)
        out = xp.minimum(xp.maximum(x, lo), hi)
        if self.has_lo and self.has_hi:
            self.to_x = (x >= lo) & (x <= hi)
            self.to_lo = (x < lo) & (lo < hi)
            self.to_hi = (x > hi) | (hi < lo)
        elif self.has_lo:
            self.to_x, self.to_lo, self.to_hi = x >= lo, x < lo, xp.zeros((), dtype=bool)
        else:
            self.to_x, self.to_lo, self.to_hi = x <= hi, xp.zeros((), dtype=bool), x > hi
        return out

    def backward(self, grad):
        zero = constant(xp_of(grad.data).zeros((), dtype=grad.dtype))
        need_x, need_lo, need_hi = self.needs_input_grad  # the bounds are most often constants
        return (Where.apply(grad, zero, cond=self.to_x) if need_x else None,
                Where.apply(grad, zero, cond=self.to_lo) if need_lo else None,
                Where.apply(grad, zero, cond=self.to_hi) if need_hi else None)


def clamp(input, min=None, max=None):
    """Limit values to ``[min, max]``; either bound may be None, a number or a tensor (broadcast)."""
    if min is None and max is None:
        raise ValueError("clamp needs at least one of min and max")
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        inf = float("inf")
        lo = lift(-inf if min is None else min, input)
        hi = lift(inf if max is None else max, input)
        if lo.data.dtype != input.data.dtype:
            lo = lo.to(input.dtype) if input.dtype.kind == "f" else lo
        if hi.data.dtype != input.data.dtype:
            hi = hi.to(input.dtype) if input.dtype.kind == "f" else hi
        return ClampTensor.apply(input, lo, hi, has_lo=min is not None, has_hi=max is not None)
    return Clamp.apply(input, min=min, max=max)


def clamp_min(input, min):
    """``clamp(input, min=min)``."""
    return clamp(input, min=min)


def clamp_max(input, max):
    """``clamp(input, max=max)``."""
    return clamp(input, max=max)


def maximum(input, other):
    """Elementwise maximum of two tensors (broadcasting)."""
    return Maximum.apply(*operands(input, other))


def minimum(input, other):
    """Elementwise minimum of two tensors (broadcasting)."""
    return Minimum.apply(*operands(input, other))


def where(condition, input, other):
    """``input`` where ``condition`` is true, else ``other`` (numbers allowed)."""
    cond = condition.data if isinstance(condition, Tensor) else condition
    like = input if isinstance(input, Tensor) else other
    if not isinstance(like, Tensor):
        raise TypeError("where needs at least one of input and other to be a tensor")
    xp = xp_of(like.data)
    cond = xp.asarray(cond, dtype=bool)
    a = lift(input, like)
    b = lift(other, like)
    return Where.apply(a, b, cond=cond)


def where_method(self, condition, other):
    """``self`` where ``condition``, else ``other`` (the method ``x.where(condition, y)``)."""
    return where(condition, self, other)


def masked_fill(input, mask, value):
    """``value`` where ``mask`` is true, ``input`` elsewhere."""
    return where(mask, value, input)


def _sign(x):
    """-1, 0 or 1; 0 for NaN (as PyTorch's sign)."""
    xp = xp_of(x)
    s = xp.sign(x)
    if s.dtype.kind == "f":
        s = xp.where(xp.isnan(s), xp.zeros((), dtype=s.dtype), s)
    return s


class Stepwise(Op):
    """out = fn(x) for a piecewise-constant ``fn`` (floor, sign, ...): the gradient is zero.

    The output still takes part in the graph, as in PyTorch, so that a loss built on it
    can call backward (and gets zeros)."""

    def forward(self, x):
        return self.fn(x)

    def backward(self, grad):
        return _zero_gradient(grad)


def stepwise(input, fn):
    """``fn(input.data)`` as a tensor with a zero gradient (integer inputs: no gradient at all)."""
    if input.data.dtype.kind != "f":
        return constant(fn(input.data))
    return Stepwise.apply(input, fn=fn)


def sign(input):
    """-1, 0 or 1 by the sign of each element (0 for NaN); the gradient is zero."""
    return stepwise(input, _sign)


def _rounding(name, doc):
    def fn(input):
        return stepwise(input, getattr(xp_of(input.data), name))

    fn.__name__ = name
    fn.__doc__ = doc
    return fn


floor = _rounding("floor", "Elementwise floor (the largest integer <= x); the gradient is zero.")
ceil = _rounding("ceil", "Elementwise ceiling (the smallest integer >= x); the gradient is zero.")
trunc = _rounding("trunc", "Elementwise rounding toward zero; the gradient is zero.")


def round(input, decimals=0):
    """Round half to even, to ``decimals`` decimal places (negative: to tens, hundreds...);
    the gradient is zero."""
    decimals = int(decimals)
    if decimals == 0:
        return stepwise(input, xp_of(input.data).round)
    return stepwise(input, lambda a: xp_of(a).round(a, decimals))


class Remainder(Op):
    """out = a - b * floor(a / b) (the sign of b, as Python's % and PyTorch's remainder);
    d out/da = 1, d out/db = -floor(a / b)"""

    def forward(self, a, b):
        xp = xp_of(a)
        self.quotient = xp.floor_divide(a, b)
        return xp.remainder(a, b)

    def backward(self, grad):
        need_a, need_b = self.needs_input_grad
        return (grad if need_a else None), (grad * constant(-self.quotient) if need_b else None)


def remainder(input, other):
    """Elementwise ``input % other`` with the sign of ``other`` (Python's rule)."""
    input, other = operands(input, other)
    return Remainder.apply(input, other)


def _elementwise_constant(ufunc_name, input, other):
    """``ufunc(input, other)`` on the arrays, as a tensor outside the graph; a shape or dtype mismatch is
    named as the ops' errors are (these do not go through ``Op.apply``)."""
    try:
        return constant(getattr(xp_of(input.data), ufunc_name)(input.data, other.data))
    except (ValueError, TypeError) as err:
        raise errors.explain(ufunc_name, (input, other), err) from None


def floor_divide(input, other):
    """Elementwise ``input // other``, rounded down (no gradient: it is piecewise constant)."""
    input, other = operands(input, other)
    return _elementwise_constant("floor_divide", input, other)


# ----------------------------------------------------------------------------- comparisons and logic
# Comparisons give boolean tensors with no gradient, as in PyTorch.


def _compare(ufunc_name):
    def fn(input, other):
        input, other = operands(input, other)
        return _elementwise_constant(ufunc_name, input, other)

    fn.__name__ = ufunc_name
    fn.__doc__ = f"Elementwise ``{ufunc_name}`` as a boolean tensor (no gradient)."
    return fn


lt = _compare("less")
le = _compare("less_equal")
gt = _compare("greater")
ge = _compare("greater_equal")
eq = _compare("equal")
ne = _compare("not_equal")
logical_and = _compare("logical_and")
logical_or = _compare("logical_or")
logical_xor = _compare("logical_xor")


def logical_not(input):
    """Elementwise not: True where ``input`` is zero (no gradient)."""
    return constant(xp_of(input.data).logical_not(input.data))


def _bitwise(ufunc_name, operator):
    def fn(input, other):
        input, other = operands(input, other)
        for t in (input, other):
            if t.data.dtype.kind not in "iub":
                raise TypeError(f"{ufunc_name}: expected integer or bool tensors, got dtypes "
                                f"{input.dtype} and {other.dtype}")
        return _elementwise_constant(ufunc_name, input, other)

    fn.__name__ = ufunc_name
    fn.__doc__ = (f"Elementwise ``{ufunc_name}`` of integer or bool tensors (``{operator}``): bit by bit for "
                  "integers, logical for bools (no gradient).")
    return fn


bitwise_and = _bitwise("bitwise_and", "&")
bitwise_or = _bitwise("bitwise_or", "|")
bitwise_xor = _bitwise("bitwise_xor", "^")


def bitwise_not(input):
    """``~input``: bitwise not of integers, logical not of bools (no gradient)."""
    if input.data.dtype.kind not in "iub":
        raise TypeError(f"bitwise_not: expected an integer or bool tensor, got dtype {input.dtype}")
    return constant(xp_of(input.data).invert(input.data))


def isnan(input):
    """Elementwise test for NaN (no gradient)."""
    return constant(xp_of(input.data).isnan(input.data))


def isfinite(input):
    """Elementwise test for finite values (not inf or NaN; no gradient)."""
    return constant(xp_of(input.data).isfinite(input.data))


def allclose(input, other, rtol=1e-5, atol=1e-8):
    """True when every element of the two tensors is close."""
    input, other = operands(input, other)
    return bool(xp_of(input.data).allclose(input.data, other.data, rtol=rtol, atol=atol))


def equal(input, other):
    """True when both tensors have the same shape and elements."""
    return input.shape == other.shape and bool((input.data == other.data).all())

# ----------------------------------------------------------------------------- more math functions


class Tan(Op):
    """out = tan x;  d out/dx = 1 + out^2"""

    save_output = True

    def forward(self, x):
        return xp_of(x).tan(x)

    def backward(self, grad):
        out = self.output
        return grad * (1.0 + out * out)


class Atan2(Op):
    """out = atan2(a, b), the angle of the point (b, a);  d/da = b / (a^2 + b^2), d/db = -a / (a^2 + b^2)"""

    def forward(self, a, b):
        return xp_of(a).arctan2(a, b)

    def backward(self, grad):
        a, b = self.inputs
        denominator = a * a + b * b
        zero = denominator.data == 0  # at the origin PyTorch gives 0
        scale = where(zero, 0.0, grad / where(zero, 1.0, denominator)) if zero.any() else grad / denominator
        need_a, need_b = self.needs_input_grad
        return (scale * b if need_a else None), (-scale * a if need_b else None)


def tan(input):
    """Elementwise tangent."""
    return Tan.apply(input)


def atan2(input, other):
    """Elementwise angle (radians, in [-pi, pi]) of the point ``(other, input)`` (broadcasting)."""
    input, other = operands(input, other)
    input, other = _int_to_float(input, other)
    return Atan2.apply(input, other)


_LN2, _LN10 = 0.6931471805599453, 2.302585092994046


class LogBase(Op):
    """out = log_base(x) (base 2 or 10, computed directly for exact powers);  d out/dx = 1 / (x ln base)"""

    def forward(self, x):
        xp = xp_of(x)
        return xp.log2(x) if self.base == 2 else xp.log10(x)

    def backward(self, grad):
        (x,) = self.inputs
        return grad / (x * (_LN2 if self.base == 2 else _LN10))


def log2(input):
    """Elementwise base-2 logarithm."""
    return LogBase.apply(input, base=2)


def log10(input):
    """Elementwise base-10 logarithm."""
    return LogBase.apply(input, base=10)


def isinf(input):
    """Elementwise test for +-inf (no gradient)."""
    return constant(xp_of(input.data).isinf(input.data))
