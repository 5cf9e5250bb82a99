"""Engine behaviour: accumulation, grad modes, freeing, deep graphs, version counters, autograd API."""
import gc
import weakref

import numpy as np
import pytest

import minigrad as mg
from minigrad.autograd import BackwardError


def test_reuse_accumulates_gradient():
    x = mg.tensor([1.0, -2.0, 3.0], requires_grad=True)
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * x.data)


def test_diamond_graph():
    x = mg.tensor([0.5, 2.0], requires_grad=True)
    a = x * 2.0
    b = x * 3.0
    (a * b).sum().backward()  # y = 6 x^2
    np.testing.assert_allclose(x.grad.numpy(), 12 * x.data, rtol=1e-6)


def test_grad_accumulates_across_backward_calls():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    (x * 3).sum().backward()
    (x * 3).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [6.0, 6.0])


def test_broadcast_gradients_are_summed_back():
    a = mg.randn(3, 1, requires_grad=True)
    b = mg.randn(4, requires_grad=True)
    (a + b).sum().backward()
    assert a.grad.shape == (3, 1) and b.grad.shape == (4,)
    np.testing.assert_allclose(a.grad.numpy(), np.full((3, 1), 4.0))
    np.testing.assert_allclose(b.grad.numpy(), np.full(4, 3.0))


def test_leaf_and_non_leaf():
    x = mg.randn(3, requires_grad=True)
    y = x * 2
    assert x.is_leaf and not y.is_leaf
    assert y.requires_grad and y.grad_fn is not None
    y.sum().backward()
    assert y.grad is None  # non-leaf grads are not kept ...
    z = mg.randn(3, requires_grad=True)
    w = z * 2
    w.retain_grad()  # ... unless asked
    (w * w).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), 2 * w.data, rtol=1e-6)


def test_no_grad_records_nothing():
    x = mg.randn(3, requires_grad=True)
    with mg.no_grad():
        y = x * 2
    assert y.grad_fn is None and not y.requires_grad

    @mg.no_grad()
    def f(t):
        return t * 2

    assert f(x).grad_fn is None
    with mg.no_grad():
        with mg.enable_grad():
            z = x * 2
    assert z.grad_fn is not None
    with mg.set_grad_enabled(False):
        assert not mg.is_grad_enabled()
    assert mg.is_grad_enabled()


def test_detach_shares_data_but_stops_gradient():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    d = (x * 2).detach()
    assert d.grad_fn is None and not d.requires_grad
    y = (x * d).sum()
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), d.numpy())  # d treated as a constant


def test_backward_twice_needs_retain_graph():
    x = mg.randn(3, requires_grad=True)
    y = (x.exp() * 2).sum()
    y.backward()
    with pytest.raises(BackwardError, match="retain_graph=True"):
        y.backward()
    x.grad = None
    y2 = (x.exp() * 2).sum()
    y2.backward(retain_graph=True)
    first = x.grad.numpy().copy()
    y2.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * first, rtol=1e-6)


def test_deep_chain_does_not_recurse():
    x = mg.tensor(0.5, requires_grad=True)
    y = x
    for _ in range(10_000):
        y = y * 1.0001 + 0.0
    y.backward()
    np.testing.assert_allclose(x.grad.item(), 1.0001**10_000, rtol=1e-3)
    assert mg.utils.to_dot(x * 2)  # drawing works too (iterative)


def test_deep_chain_frees_without_recursion():
    x = mg.tensor(0.5, requires_grad=True)
    y = x
    for _ in range(20_000):
        y = y + 1.0
    del y  # releasing a long chain must not overflow the C stack either
    gc.collect()


def test_graph_memory_released_after_backward():
    x = mg.randn(1000, requires_grad=True)
    h = x.exp()
    ref = weakref.ref(h)
    loss = (h * 2).sum()
    del h
    assert ref() is not None  # kept alive by the graph
    loss.backward()
    assert ref() is None  # backward freed the saved tensors, loss still alive
    assert loss.grad_fn.freed


def test_graph_without_backward_is_freed_by_refcount():
    gc.disable()
    try:
        x = mg.randn(100, requires_grad=True)
        h = x.tanh()
        ref_h = weakref.ref(h)
        node_ref = weakref.ref(h.grad_fn)
        loss = (h * h).sum()
        del h, loss
        assert ref_h() is None and node_ref() is None  # no reference cycles: freed at once
    finally:
        gc.enable()


def test_in_place_change_of_saved_input_raises():
    a = mg.randn(3, requires_grad=True)
    b = a * 2
    c = (b * b).sum()  # Mul saves b
    with mg.no_grad():
        b.mul_(2)
    with pytest.raises(BackwardError, match="modified in place"):
        c.backward()


def test_in_place_change_of_saved_output_raises():
    a = mg.randn(3, requires_grad=True)
    y = a.exp()  # Exp saves its output
    loss = (y * 1).sum()
    with mg.no_grad():
        y.add_(1)
    with pytest.raises(BackwardError, match="modified in place"):
        loss.backward()


def test_in_place_change_through_a_view_raises():
    a = mg.randn(2, 3, requires_grad=True)
    b = a * 1
    loss = (b * b).sum()
    view = b.reshape(6)
    with mg.no_grad():
        view.add_(1)  # changes b's memory: b's version counter is shared with its views
    with pytest.raises(BackwardError, match="modified in place"):
        loss.backward()


def test_in_place_change_before_use_is_fine_and_versions_count_changes():
    # a node checks for changes stamped after its own place on the tape; the count is PyTorch's _version
    a = mg.randn(3, requires_grad=True)
    b = a * 2
    with mg.no_grad():
        b.mul_(2)
        b.add_(1)
    assert b._version[0] == 2
    c = (b * b).sum()  # Mul saves b after both changes
    c.backward()
    np.testing.assert_allclose(a.grad.numpy(), 2 * 2 * (4 * a.data + 1), rtol=1e-6)  # in-place ops are not recorded
    d = b * b  # a node recorded, then a change: that one is refused, with the count in the message
    with mg.no_grad():
        b.mul_(1)
    with pytest.raises(BackwardError, match="now at version 3"):
        d.sum().backward()


def test_unused_inputs_are_not_flagged():
    a = mg.randn(3, requires_grad=True)
    b = a + 1  # Add saves nothing it reads in backward
    loss = b.sum()
    with mg.no_grad():
        a.add_(1)
    loss.backward()  # fine: add's backward does not read a


def test_in_place_on_leaf_requiring_grad_raises():
    w = mg.randn(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="no_grad"):
        w.add_(1)
    with mg.no_grad():
        w.add_(1)
        w.zero_()
    assert float(w.abs().sum()) == 0.0


def test_augmented_assignment_on_graph_tensor_is_out_of_place():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    h = x * 2
    h += x  # rebinding: h = h + x
    h.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 3.0])


def test_leaves_never_share_a_gradient_array():
    a = mg.randn(3, requires_grad=True)
    b = mg.randn(3, requires_grad=True)
    (a + b).sum().backward()  # Add hands the same gradient to both
    with mg.no_grad():
        a.grad.mul_(10)
    np.testing.assert_allclose(b.grad.numpy(), np.ones(3))


def test_float32_gradient_for_float32_leaf_mixed_with_float64():
    x = mg.randn(3, requires_grad=True)
    y = x * np.arange(3.0)  # float64 array: the product is float64
    y.sum().backward()
    assert x.grad.dtype == np.float32


def test_backward_needs_gradient_for_non_scalar():
    x = mg.randn(3, requires_grad=True)
    with pytest.raises(BackwardError, match="one-element"):
        (x * 2).backward()
    (x * 2).backward(mg.ones(3))
    np.testing.assert_allclose(x.grad.numpy(), np.full(3, 2.0))


def test_only_float_tensors_require_grad():
    with pytest.raises(TypeError, match="floating"):
        mg.tensor([1, 2], requires_grad=True)


def test_multi_output_op_with_unused_output():
    x = mg.randn(6, requires_grad=True)
    a, b, c = x.split(2)
    del a, c  # only one output is used (the DeZero crash)
    (b * 3).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [0, 0, 3, 3, 0, 0])


def test_autograd_grad_leaves_dot_grad_alone():
    x = mg.randn(3, requires_grad=True)
    y = (x * x).sum()
    (g,) = mg.autograd.grad(y, x)
    np.testing.assert_allclose(g.numpy(), 2 * x.data, rtol=1e-6)
    assert x.grad is None


def test_autograd_grad_unused_input():
    x = mg.randn(3, requires_grad=True)
    z = mg.randn(3, requires_grad=True)
    y = (x * 2).sum()
    with pytest.raises(BackwardError, match="allow_unused"):
        mg.autograd.grad(y, [x, z], retain_graph=True)
    gx, gz = mg.autograd.grad(y, [x, z], allow_unused=True)
    assert gz is None


def test_autograd_grad_of_intermediate_tensor():
    x = mg.randn(3, requires_grad=True)
    h = x * 2
    y = (h * h).sum()
    (gh,) = mg.autograd.grad(y, h)
    np.testing.assert_allclose(gh.numpy(), 2 * h.data, rtol=1e-6)


def test_hessian_vector_product():
    x = mg.tensor([1.0, -2.0, 0.5], dtype=mg.float64, requires_grad=True)
    v = mg.tensor([0.3, 1.0, -1.0], dtype=mg.float64)
    f = (x**3).sum() + (x[0] * x[1])
    (g,) = mg.autograd.grad(f, x, create_graph=True)
    (hv,) = mg.autograd.grad((g * v).sum(), x)
    hessian = np.diag(6 * x.data)
    hessian[0, 1] = hessian[1, 0] = 1.0
    np.testing.assert_allclose(hv.numpy(), hessian @ v.data, rtol=1e-10)
    (hv2,) = mg.autograd.hessian_vector_product(lambda t: (t**3).sum() + t[0] * t[1], x, v)
    np.testing.assert_allclose(hv2.numpy(), hv.numpy(), rtol=1e-10)


def _cubic(t):
    return (t**3).sum() + t[0] * t[1]


def _cubic_hessian(x):
    h = np.diag(6 * x)
    h[0, 1] = h[1, 0] = 1.0
    return h


def test_functional_hessian_hvp_and_vjp_match_closed_forms():
    x_np = np.array([1.0, -2.0, 0.5])
    x = mg.tensor(x_np)
    np.testing.assert_allclose(mg.autograd.functional.hessian(_cubic, x).data, _cubic_hessian(x_np), rtol=1e-12)
    v = mg.tensor([0.3, 1.0, -1.0], dtype=mg.float64)
    value, hv = mg.autograd.functional.hvp(_cubic, x, v)
    assert value.item() == pytest.approx(_cubic(x).item()) and not value.requires_grad
    np.testing.assert_allclose(hv.data, _cubic_hessian(x_np) @ v.data, rtol=1e-12)
    out, vj = mg.autograd.functional.vjp(lambda t: t * t, x, v)
    np.testing.assert_allclose(vj.data, 2 * x_np * v.data, rtol=1e-12)
    assert not x.requires_grad  # the caller's tensor is left alone
    with pytest.raises(ValueError, match="scalar"):
        mg.autograd.functional.hessian(lambda t: t * 2, x)


def test_functional_hessian_of_an_unused_input_is_zero():
    h = mg.autograd.functional.hessian(lambda t: (t * 0.0).sum(), mg.ones(2, dtype=mg.float64))
    assert h.shape == (2, 2) and not h.data.any()


def test_functional_jacobian_and_hessian_take_a_tuple_of_inputs():
    """As torch.autograd.functional: one Jacobian per input; Hessian blocks [i][j]."""
    a_np, b_np = np.array([1.0, -2.0]), np.array([0.5, 3.0])
    a, b = mg.tensor(a_np), mg.tensor(b_np)
    ja, jb = mg.autograd.functional.jacobian(lambda x, y: x * y, (a, b))
    np.testing.assert_allclose(ja.data, np.diag(b_np))
    np.testing.assert_allclose(jb.data, np.diag(a_np))
    (haa, hab), (hba, hbb) = mg.autograd.functional.hessian(lambda x, y: (x * x * y).sum(), (a, b))
    np.testing.assert_allclose(haa.data, np.diag(2 * b_np))
    np.testing.assert_allclose(hab.data, np.diag(2 * a_np))
    np.testing.assert_allclose(hba.data, np.diag(2 * a_np))
    assert hbb.shape == (2, 2) and not hbb.data.any()
    (h11, h12), (h21, h22) = mg.autograd.hessian(lambda x, y: (x ** 3).sum(), (a, mg.ones(3, dtype=mg.float64)))
    np.testing.assert_allclose(h11.data, np.diag(6 * a_np))
    assert h12.shape == (2, 3) and h21.shape == (3, 2) and h22.shape == (3, 3) and not h22.data.any()
    assert not a.requires_grad and not b.requires_grad
    with pytest.raises(TypeError, match="inputs must be tensors"):
        mg.autograd.jacobian(lambda x: x, [1.0, 2.0])
    with pytest.raises(TypeError, match="one tensor"):
        mg.autograd.jacobian(lambda x: (x, x), a)


def test_backward_create_graph_then_second_derivative():
    x = mg.tensor(2.0, dtype=mg.float64, requires_grad=True)
    y = x**4
    y.backward(create_graph=True)
    g = x.grad  # 4 x^3, still on the graph
    x.grad = None
    g.backward()
    assert x.grad.item() == pytest.approx(12 * 2.0**2)


class Cube(mg.autograd.Function):
    @staticmethod
    def forward(ctx, x, scale):
        ctx.save_for_backward(x)
        ctx.scale = scale
        return x * x * x * scale

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * 3 * x * x * ctx.scale, None


def test_user_function_forward_backward_and_double_backward():
    x = mg.tensor([0.5, -1.5], dtype=mg.float64, requires_grad=True)
    y = Cube.apply(x, 2.0)
    np.testing.assert_allclose(y.numpy() if not y.requires_grad else y.detach().numpy(), 2 * x.data**3)
    assert mg.autograd.gradcheck(lambda t: Cube.apply(t, 2.0), x)
    assert mg.autograd.gradgradcheck(lambda t: Cube.apply(t, 2.0), x)


class SavesOutput(mg.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        out = x.exp()
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * out


def test_user_function_saving_its_output():
    x = mg.tensor([0.1, 0.7], dtype=mg.float64, requires_grad=True)
    assert mg.autograd.gradcheck(SavesOutput.apply, x)
    assert mg.autograd.gradgradcheck(SavesOutput.apply, x)


def test_gradcheck_reports_the_worst_element():
    class Wrong(mg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, grad):
            return grad * 3

    x = mg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(mg.autograd.GradcheckError, match=r"analytic 3 vs numeric 2"):
        mg.autograd.gradcheck(Wrong.apply, x)
    assert mg.autograd.gradcheck(Wrong.apply, x, raise_exception=False) is False


def test_tape_records_ops_in_order():
    x = mg.randn(2, 3, requires_grad=True)
    with mg.autograd.tape() as t:
        y = (x * 2).exp().sum()
        with mg.no_grad():
            x * 5
    assert [e.op for e in t] == ["Mul", "Exp", "Sum", "Mul"]
    seqs = [e.seq for e in t if e.recorded]
    assert seqs == sorted(seqs) and len(set(seqs)) == 3
    assert not t[-1].recorded
    assert t[0].input_shapes == [(2, 3), ()] and t[1].output_shapes == [(2, 3)]
    assert "Exp" in str(t)
    assert y.grad_fn.seq == seqs[-1]


def test_to_dot_shows_ops_and_shapes():
    w = mg.randn(3, 2, requires_grad=True)
    x = mg.randn(4, 3)
    dot = mg.utils.to_dot((x @ w).relu().sum(), params={"w": w})
    assert dot.startswith("digraph") and dot.rstrip().endswith("}")
    for text in ("Matmul", "Relu", "Sum", "4x3", "3x2", "w\\n3x2", "lightblue", "dashed"):
        assert text in dot, text


def test_blas_thread_count_can_be_set_and_read():
    before = mg.get_num_threads()
    if before is None:
        pytest.skip("NumPy's BLAS thread count cannot be read here")
    try:
        assert mg.set_num_threads(1) and mg.get_num_threads() == 1
    finally:
        mg.set_num_threads(before)
    assert mg.get_num_threads() == before
    with pytest.raises(ValueError):
        mg.set_num_threads(0)


# ----------------------------------------------------------------------------- tensor hooks
def test_leaf_hook_runs_once_on_the_summed_gradient_and_can_be_removed():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    seen = []
    handle = x.register_hook(lambda g: seen.append(g.tolist()))
    (x * 2 + x * 3).sum().backward()  # two contributions, one call
    assert seen == [[5.0, 5.0]] and x.grad.tolist() == [5.0, 5.0]
    handle.remove()
    (x * 2).sum().backward()
    assert len(seen) == 1 and x.grad.tolist() == [7.0, 7.0]


def test_hook_return_value_replaces_the_gradient_upstream():
    y = mg.tensor([1.0, -1.0], requires_grad=True)
    z = y * 2
    z.register_hook(lambda g: g * 10)
    z.retain_grad()
    (z.sum() + z.sum()).backward()
    assert z.grad.tolist() == [20.0, 20.0]  # retain_grad sees the hooked gradient, as in PyTorch
    assert y.grad.tolist() == [40.0, 40.0]


def test_hooks_also_run_in_autograd_grad():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    x.register_hook(lambda g: g * 7)
    (g,) = mg.autograd.grad((x * 2).sum(), x)
    assert g.tolist() == [14.0, 14.0] and x.grad is None


def test_register_hook_needs_a_tensor_that_requires_grad():
    with pytest.raises(RuntimeError, match="does not require grad"):
        mg.zeros(2).register_hook(lambda g: g)


def test_hook_returning_a_wrong_shape_is_a_clear_error():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    x.register_hook(lambda g: g.sum())
    with pytest.raises(ValueError, match=r"\(\).*\(2,\)"):
        (x * 2).sum().backward()


# ----------------------------------------------------------------------------- summing gradients
def test_leaf_gradients_summed_without_an_op_equal_the_recorded_sum():
    # Without create_graph the engine adds gradient arrays directly; with it, through Add. Same numbers.
    def run(create_graph):
        x = mg.tensor([0.5, -1.0, 2.0], dtype=mg.float64, requires_grad=True)
        y = x * x + mg.tanh(x) * 3.0 + x  # x reaches the leaf sum four times
        y.sum().backward(create_graph=create_graph)
        return x
    plain, recorded = run(False), run(True)
    assert plain.grad.grad_fn is None and recorded.grad.grad_fn is not None
    np.testing.assert_allclose(plain.grad.numpy(), recorded.grad.detach().numpy())
    x = recorded.data
    np.testing.assert_allclose(plain.grad.numpy(), 2 * x + 3 * (1 - np.tanh(x) ** 2) + 1)


def test_summed_gradients_stay_differentiable_with_create_graph():
    # x is used three times and y twice: both sums must be on the graph for the second derivative
    x = mg.tensor(1.5, dtype=mg.float64, requires_grad=True)
    y = x * x
    z = y * y + y * x  # x^4 + x^3
    (g,) = mg.autograd.grad(z, x, create_graph=True)
    assert g.item() == pytest.approx(4 * 1.5**3 + 3 * 1.5**2)
    (h,) = mg.autograd.grad(g, x)
    assert h.item() == pytest.approx(12 * 1.5**2 + 6 * 1.5)


def test_post_accumulate_hook_sees_the_complete_gradient_once_per_backward():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    seen = []
    x.register_post_accumulate_grad_hook(lambda t: seen.append(t.grad.tolist()))
    (x * 2 + x * 3 + x).sum().backward()
    assert seen == [[6.0, 6.0]]
    (x * 2).sum().backward()  # accumulates into the existing .grad, then the hook runs again
    assert seen == [[6.0, 6.0], [8.0, 8.0]]


def test_summed_leaf_gradient_is_its_own_writeable_array():
    a = mg.randn(3, requires_grad=True)
    b = mg.randn(3, requires_grad=True)
    s = a + b  # Add hands one gradient object to both leaves...
    (s + a).sum().backward()  # ...and a gets a second one: its .grad is a fresh sum
    with mg.no_grad():
        a.grad.mul_(10)
        b.grad.mul_(100)
    np.testing.assert_allclose(a.grad.numpy(), 20 * np.ones(3))
    np.testing.assert_allclose(b.grad.numpy(), 100 * np.ones(3))


def test_leaf_sum_added_in_place_never_touches_a_shared_gradient():
    # a's first gradient is the very tensor Add also hands to b; the sum of a's three gradients is built
    # in an array of its own (then added to in place), so b's gradient stays ones
    a = mg.randn(3, requires_grad=True)
    b = mg.randn(3, requires_grad=True)
    seen = []
    b.register_hook(lambda g: seen.append(g))
    loss = (a * 2).sum() + (a * 3).sum() + (a + b).sum()  # a + b is recorded last: backward meets it first
    loss.backward()
    np.testing.assert_allclose(a.grad.numpy(), 6 * np.ones(3))
    np.testing.assert_allclose(b.grad.numpy(), np.ones(3))
    np.testing.assert_allclose(seen[0].numpy(), np.ones(3))
    loss = (a * 2).sum() + (a * 3).sum() + (a + b).sum()  # into existing .grad: out of place, as before
    loss.backward()
    np.testing.assert_allclose(a.grad.numpy(), 12 * np.ones(3))
    np.testing.assert_allclose(b.grad.numpy(), 2 * np.ones(3))


def test_add_gradients_matches_plus_in_both_grad_modes():
    from minigrad.autograd.engine import add_gradients

    a = mg.tensor([1.0, 2.0], requires_grad=True)
    b = mg.tensor([0.5, 0.25])
    with mg.no_grad():
        s = add_gradients(a, b)
    assert s.grad_fn is None and s.tolist() == [1.5, 2.25]
    s = add_gradients(a, b)  # grad mode on: the sum is an op on the graph
    assert s.grad_fn is not None and s.tolist() == [1.5, 2.25]


def test_ops_with_one_two_and_three_inputs_record_the_same_way():
    # Op.apply spells out one and two inputs; three go through the general path
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    c = mg.tensor([3.0, 4.0])
    one, two, three = mg.tanh(x), x * c, mg.clamp(c, max=x)  # clamp: c, -inf and x
    assert one.grad_fn.needs_input_grad == (True,)
    assert two.grad_fn.needs_input_grad == (True, False)
    assert three.grad_fn.needs_input_grad == (False, False, True)
    (one.sum() + two.sum() + three.sum()).backward()
    np.testing.assert_allclose(x.grad.numpy(), 1 - np.tanh([1.0, 2.0]) ** 2 + [3.0, 4.0] + [1.0, 1.0], rtol=1e-6)
    with mg.no_grad():
        assert (x * c).grad_fn is None and mg.clamp(c, max=x).grad_fn is None


def test_tanh_and_sigmoid_backward_ops_differentiate_to_third_order():
    # their backward is one op (TanhBackward, SigmoidBackward) whose own backward must stay exact
    x = mg.tensor([0.3, -1.2, 2.0], dtype=mg.float64, requires_grad=True)
    t, s = np.tanh(x.data), 1 / (1 + np.exp(-x.data))
    cases = [(mg.tanh, 1 - t**2, -2 * t * (1 - t**2), -2 * (1 - t**2) * (1 - 3 * t**2)),
             (mg.sigmoid, s * (1 - s), s * (1 - s) * (1 - 2 * s), s * (1 - s) * (1 - 6 * s + 6 * s**2))]
    for fn, *derivatives in cases:
        y = fn(x).sum()
        for order, expected in enumerate(derivatives):
            (y,) = mg.autograd.grad(y, x, create_graph=True)
            if order == 0:
                assert y.grad_fn.name == fn.__name__.capitalize() + "Backward"
            np.testing.assert_allclose(y.detach().numpy(), expected, rtol=1e-10)
            y = y.sum()
