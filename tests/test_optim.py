"""mg.optim: update rules against PyTorch and hand-written NumPy, state dicts, errors, dtype and in-place rules."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad as mg
from minigrad.nn import Parameter

OPTIMIZERS = ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"]

# (optimizer, options): every option combination that changes the update rule.
CASES = [
    ("SGD", dict(lr=0.05)),
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.3)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True)),
    ("SGD", dict(lr=0.05, weight_decay=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.8, dampening=0.1, weight_decay=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.05, maximize=True)),
    ("Adam", dict(lr=0.05)),
    ("Adam", dict(lr=0.05, betas=(0.8, 0.99), eps=1e-6)),
    ("Adam", dict(lr=0.05, weight_decay=0.1)),
    ("Adam", dict(lr=0.05, amsgrad=True)),
    ("Adam", dict(lr=0.05, amsgrad=True, weight_decay=0.1, maximize=True)),
    ("AdamW", dict(lr=0.05)),
    ("AdamW", dict(lr=0.05, weight_decay=0.3, amsgrad=True)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, centered=True)),
    ("RMSprop", dict(lr=0.01, momentum=0.7)),
    ("RMSprop", dict(lr=0.01, centered=True, momentum=0.5, weight_decay=0.1, alpha=0.9)),
    ("RMSprop", dict(lr=0.01, maximize=True)),
    ("Adagrad", dict(lr=0.1)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.05)),
    ("Adagrad", dict(lr=0.1, initial_accumulator_value=0.5)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1, weight_decay=0.1, maximize=True)),
]
CASE_IDS = [f"{name}-{'-'.join(f'{k}={v}' for k, v in kw.items())}" for name, kw in CASES]

# Full-state options per optimizer, for the state dict and dtype tests.
RICH = {
    "SGD": dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01),
    "Adam": dict(lr=0.05, amsgrad=True, weight_decay=0.01),
    "AdamW": dict(lr=0.05, amsgrad=True),
    "RMSprop": dict(lr=0.01, centered=True, momentum=0.5, weight_decay=0.01),
    "Adagrad": dict(lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1),
}


def _data():
    rng = np.random.default_rng(1234)
    return dict(X=rng.standard_normal((8, 3)), Y=rng.standard_normal((8, 2)),
                W=rng.standard_normal((3, 2)), b=rng.standard_normal(2), u=rng.standard_normal(4))


def _objective(W, b, X, Y, maximize):
    """A least-squares fit plus a quartic term (so the gradient is not linear in the parameters)."""
    loss = ((X @ W + b - Y) ** 2).mean() + 0.1 * (W ** 4).sum()
    return -loss if maximize else loss


def _run_mg(name, groups_of, steps=40, dtype=np.float64):
    """Train W, b (and an unused parameter u that never gets a gradient) with mg.optim.<name>."""
    d = _data()
    W, b, u = (Parameter(mg.tensor(d[k].astype(dtype))) for k in ("W", "b", "u"))
    X, Y = mg.tensor(d["X"].astype(dtype)), mg.tensor(d["Y"].astype(dtype))
    groups, kwargs = groups_of(W, b, u)
    opt = getattr(mg.optim, name)(groups, **kwargs)
    for _ in range(steps):
        opt.zero_grad()
        _objective(W, b, X, Y, kwargs.get("maximize", False)).backward()
        opt.step()
    return opt, (W, b, u)


def _run_torch(name, groups_of, steps=40):
    torch = pytest.importorskip("torch")
    d = _data()
    W, b, u = (torch.tensor(d[k], requires_grad=True) for k in ("W", "b", "u"))
    X, Y = torch.tensor(d["X"]), torch.tensor(d["Y"])
    groups, kwargs = groups_of(W, b, u)
    opt = getattr(torch.optim, name)(groups, **kwargs)
    for _ in range(steps):
        opt.zero_grad()
        _objective(W, b, X, Y, kwargs.get("maximize", False)).backward()
        opt.step()
    return opt, (W, b, u)


def _assert_same_values(mg_params, torch_params, rtol=1e-10):
    for a, t in zip(mg_params, torch_params):
        np.testing.assert_allclose(a.data, t.detach().numpy(), rtol=rtol, atol=1e-13)


# ----------------------------------------------------------------------------- against PyTorch
@pytest.mark.parametrize("name,kwargs", CASES, ids=CASE_IDS)
def test_trajectory_matches_torch(name, kwargs):
    def groups_of(W, b, u):
        return [W, b, u], kwargs

    t_opt, t_params = _run_torch(name, groups_of)
    m_opt, m_params = _run_mg(name, groups_of)
    _assert_same_values(m_params, t_params)
    # The trajectory actually moved (the comparison is not between two untouched copies).
    assert not np.allclose(m_params[0].data, _data()["W"], atol=1e-3)
    np.testing.assert_array_equal(m_params[2].data, _data()["u"])  # no gradient: left alone
    # Same state entries (names, values) as PyTorch.
    m_state, t_state = m_opt.state_dict()["state"], t_opt.state_dict()["state"]
    assert sorted(m_state) == sorted(t_state)
    for index in t_state:
        assert sorted(m_state[index]) == sorted(t_state[index])
        for key, value in t_state[index].items():
            if key == "step":
                assert m_state[index][key] == int(value.item())
            else:
                np.testing.assert_allclose(m_state[index][key].data, value.numpy(), rtol=1e-9, atol=1e-13)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_parameter_groups_match_torch(name):
    defaults = {"SGD": dict(lr=0.05, momentum=0.9), "Adam": dict(lr=0.05), "AdamW": dict(lr=0.05),
                "RMSprop": dict(lr=0.01), "Adagrad": dict(lr=0.1)}[name]

    def groups_of(W, b, u):
        return [{"params": [W], "lr": defaults["lr"] * 0.5, "weight_decay": 0.2},
                {"params": [b, u]}], defaults

    _, t_params = _run_torch(name, groups_of, steps=30)
    m_opt, m_params = _run_mg(name, groups_of, steps=30)
    _assert_same_values(m_params, t_params)
    assert m_opt.param_groups[0]["lr"] == defaults["lr"] * 0.5
    assert m_opt.param_groups[1]["lr"] == defaults["lr"]
    assert m_opt.param_groups[1]["weight_decay"] == (1e-2 if name == "AdamW" else 0)


def test_state_dict_layout_matches_torch():
    torch = pytest.importorskip("torch")

    def groups_of(W, b, u):
        return [{"params": [W], "lr": 0.01}, {"params": [b, u]}], dict(lr=0.05, amsgrad=True)

    m_opt, _ = _run_mg("Adam", groups_of, steps=2)
    t_opt, _ = _run_torch("Adam", groups_of, steps=2)
    m_sd, t_sd = m_opt.state_dict(), t_opt.state_dict()
    assert [g["params"] for g in m_sd["param_groups"]] == [g["params"] for g in t_sd["param_groups"]] == [[0], [1, 2]]
    for mg_group, t_group in zip(m_sd["param_groups"], t_sd["param_groups"]):
        for key, value in mg_group.items():
            assert t_group[key] == value, key
    assert isinstance(t_sd["state"][0]["exp_avg"], torch.Tensor)


def test_loads_a_torch_optimizer_state_dict_and_continues_identically():
    torch = pytest.importorskip("torch")

    def groups_of(W, b, u):
        return [W, b, u], dict(lr=0.05, amsgrad=True, weight_decay=0.01)

    t_opt, (tW, tb, tu) = _run_torch("Adam", groups_of, steps=3)
    W, b, u = (Parameter(mg.tensor(t.detach().numpy().copy())) for t in (tW, tb, tu))
    opt = mg.optim.Adam([W, b, u], lr=1.0)
    opt.load_state_dict(t_opt.state_dict())  # torch tensors, a 0-d float "step", torch's extra group keys
    assert opt.state[W]["step"] == 3 and opt.param_groups[0]["lr"] == 0.05
    d = _data()
    X, Y, tX, tY = mg.tensor(d["X"]), mg.tensor(d["Y"]), torch.tensor(d["X"]), torch.tensor(d["Y"])
    for _ in range(5):
        for o, params, x, y in ((opt, (W, b), X, Y), (t_opt, (tW, tb), tX, tY)):
            o.zero_grad()
            _objective(*params, x, y, False).backward()
            o.step()
    _assert_same_values((W, b, u), (tW, tb, tu))


# ----------------------------------------------------------------------------- against NumPy formulas
C = np.array([0.5, 1.0, 2.0, 4.0])
A = np.array([1.0, -2.0, 0.5, 0.0])
P0 = np.array([1.0, -1.5, 2.0, 0.25])


def _grad(p):
    """Gradient of f(p) = 0.5 * sum(C p^2) + sum(A p)."""
    return C * p + A


def _run_quadratic(name, kwargs, steps):
    p = Parameter(mg.tensor(P0.copy()))
    opt = getattr(mg.optim, name)([p], **kwargs)
    for _ in range(steps):
        opt.zero_grad()
        (0.5 * (mg.tensor(C) * p * p).sum() + (mg.tensor(A) * p).sum()).backward()
        opt.step()
    return p.data


def _sgd_reference(p, steps, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
    buf = None
    for _ in range(steps):
        g = _grad(p) + weight_decay * p
        if momentum:
            buf = g.copy() if buf is None else momentum * buf + (1 - dampening) * g
            g = g + momentum * buf if nesterov else buf
        p = p - lr * g
    return p


def _adam_reference(p, steps, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False, decoupled=False):
    b1, b2 = betas
    m = v = v_max = np.zeros_like(p)
    for t in range(1, steps + 1):
        g = _grad(p)
        if decoupled:
            p = p * (1 - lr * weight_decay)
        else:
            g = g + weight_decay * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        v_max = np.maximum(v_max, v)
        v_hat = (v_max if amsgrad else v) / (1 - b2 ** t)
        p = p - lr * (m / (1 - b1 ** t)) / (np.sqrt(v_hat) + eps)
    return p


def _rmsprop_reference(p, steps, lr, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False):
    s = g_avg = buf = np.zeros_like(p)
    for _ in range(steps):
        g = _grad(p) + weight_decay * p
        s = alpha * s + (1 - alpha) * g * g
        if centered:
            g_avg = alpha * g_avg + (1 - alpha) * g
            avg = np.sqrt(s - g_avg ** 2) + eps
        else:
            avg = np.sqrt(s) + eps
        if momentum:
            buf = momentum * buf + g / avg
            p = p - lr * buf
        else:
            p = p - lr * g / avg
    return p


def _adagrad_reference(p, steps, lr, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10):
    total = np.full_like(p, initial_accumulator_value)
    for t in range(1, steps + 1):
        g = _grad(p) + weight_decay * p
        total = total + g * g
        p = p - lr / (1 + (t - 1) * lr_decay) * g / (np.sqrt(total) + eps)
    return p


HAND_CASES = [
    ("SGD", dict(lr=0.1), _sgd_reference),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.5, weight_decay=0.1), _sgd_reference),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True), _sgd_reference),
    ("Adam", dict(lr=0.1), _adam_reference),
    ("Adam", dict(lr=0.1, weight_decay=0.1, amsgrad=True, betas=(0.5, 0.9)), _adam_reference),
    ("AdamW", dict(lr=0.1, weight_decay=0.2), lambda p, s, **kw: _adam_reference(p, s, decoupled=True, **kw)),
    ("RMSprop", dict(lr=0.05), _rmsprop_reference),
    ("RMSprop", dict(lr=0.05, centered=True, momentum=0.5, weight_decay=0.1), _rmsprop_reference),
    ("Adagrad", dict(lr=0.2, lr_decay=0.1, initial_accumulator_value=0.3, weight_decay=0.1), _adagrad_reference),
]


@pytest.mark.parametrize("name,kwargs,reference", HAND_CASES,
                         ids=[f"{n}-{'-'.join(map(str, kw))}" for n, kw, _ in HAND_CASES])
def test_matches_numpy_reference(name, kwargs, reference):
    steps = 6
    expected = reference(P0.copy(), steps, **kwargs)
    np.testing.assert_allclose(_run_quadratic(name, kwargs, steps), expected, rtol=1e-12, atol=1e-14)
    assert not np.allclose(expected, P0)


def test_sgd_first_steps_by_hand():
    # lr 0.1, momentum 0.9: b1 = g0, p1 = p0 - 0.1 g0; b2 = 0.9 b1 + g1, p2 = p1 - 0.1 b2.
    p0 = P0.copy()
    g0 = C * p0 + A
    p1 = p0 - 0.1 * g0
    g1 = C * p1 + A
    p2 = p1 - 0.1 * (0.9 * g0 + g1)
    np.testing.assert_allclose(_run_quadratic("SGD", dict(lr=0.1, momentum=0.9), 2), p2, rtol=1e-14)


@settings(max_examples=6)
@given(shape=st.lists(st.integers(1, 4), min_size=0, max_size=3), lr=st.floats(1e-3, 1.0),
       seed=st.integers(0, 2 ** 16))
def test_first_steps_on_random_shapes(shape, lr, seed):
    """SGD moves by -lr*g; Adam's first step moves each element by -lr*g/(|g| + eps) (|m̂/sqrt(v̂)| = 1)."""
    rng = np.random.default_rng(seed)
    start, grad = rng.standard_normal(shape), rng.standard_normal(shape)
    for name, expected in [("SGD", start - lr * grad), ("Adam", start - lr * grad / (np.abs(grad) + 1e-8))]:
        p = Parameter(mg.tensor(start.copy()))
        p.grad = mg.tensor(grad.copy())
        getattr(mg.optim, name)([p], lr=lr).step()
        np.testing.assert_allclose(p.data, expected, rtol=1e-9, atol=1e-12)
        np.testing.assert_array_equal(p.grad.data, grad)  # the gradient is read, never written


# ----------------------------------------------------------------------------- state dicts
def _two_param_model(dtype=np.float64):
    d = _data()
    return Parameter(mg.tensor(d["W"].astype(dtype))), Parameter(mg.tensor(d["b"].astype(dtype)))


def _train(opt, W, b, steps):
    d = _data()
    X, Y = mg.tensor(d["X"].astype(W.dtype)), mg.tensor(d["Y"].astype(W.dtype))
    values = []
    for _ in range(steps):
        opt.zero_grad()
        _objective(W, b, X, Y, False).backward()
        opt.step()
        values.append((W.data.copy(), b.data.copy()))
    return values


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_state_dict_round_trip_through_save_load(name, tmp_path):
    cls = getattr(mg.optim, name)
    W, b = _two_param_model()
    opt = cls([{"params": [W]}, {"params": [b], "lr": RICH[name]["lr"] * 0.5}], **RICH[name])
    _train(opt, W, b, 3)
    path = tmp_path / "ckpt.npz"
    mg.save({"W": W.detach(), "b": b.detach(), "optimizer": opt.state_dict()}, path)
    continued = _train(opt, W, b, 4)

    ckpt = mg.load(path)
    W2, b2 = Parameter(ckpt["W"]), Parameter(ckpt["b"])
    opt2 = cls([{"params": [W2]}, {"params": [b2], "lr": 123.0}], **RICH[name])
    opt2.load_state_dict(ckpt["optimizer"])
    assert opt2.param_groups[1]["lr"] == RICH[name]["lr"] * 0.5  # hyperparameters come from the checkpoint
    resumed = _train(opt2, W2, b2, 4)
    for (w_a, b_a), (w_b, b_b) in zip(continued, resumed):
        np.testing.assert_array_equal(w_a, w_b)
        np.testing.assert_array_equal(b_a, b_b)
    # A fresh optimizer (no loaded state) takes a different path: the state matters.
    W3, b3 = Parameter(mg.load(path)["W"]), Parameter(mg.load(path)["b"])
    fresh = _train(cls([W3, b3], **RICH[name]), W3, b3, 4)
    assert not np.array_equal(fresh[-1][0], continued[-1][0])


def test_state_dict_layout():
    W, b = _two_param_model()
    unused = Parameter(mg.zeros(3, dtype=mg.float64))
    opt = mg.optim.Adam([{"params": [W, unused], "lr": 0.1}, {"params": [b]}], lr=0.01, amsgrad=True)
    _train(opt, W, b, 2)
    sd = opt.state_dict()
    assert set(sd) == {"state", "param_groups"}
    assert [g["params"] for g in sd["param_groups"]] == [[0, 1], [2]]
    assert sorted(sd["state"]) == [0, 2]  # the unused parameter has no state
    assert sd["param_groups"][0]["lr"] == 0.1 and sd["param_groups"][1]["lr"] == 0.01
    assert sd["param_groups"][1]["betas"] == (0.9, 0.999)
    entry = sd["state"][0]
    assert sorted(entry) == ["exp_avg", "exp_avg_sq", "max_exp_avg_sq", "step"]
    assert entry["step"] == 2 and isinstance(entry["step"], int)
    assert isinstance(entry["exp_avg"], mg.Tensor) and entry["exp_avg"].shape == W.shape


def test_adagrad_state_exists_before_the_first_step():
    p = Parameter(mg.zeros(3))
    opt = mg.optim.Adagrad([p], initial_accumulator_value=0.25)
    state = opt.state_dict()["state"][0]
    assert state["step"] == 0
    np.testing.assert_array_equal(state["sum"].data, np.full(3, 0.25, dtype=np.float32))


def test_load_state_dict_copies_and_casts():
    W, b = _two_param_model(np.float64)
    opt = mg.optim.SGD([W, b], lr=0.1, momentum=0.9)
    _train(opt, W, b, 2)
    sd = opt.state_dict()
    W32, b32 = _two_param_model(np.float32)
    opt32 = mg.optim.SGD([W32, b32], lr=0.1, momentum=0.9)
    opt32.load_state_dict(sd)
    buf = opt32.state[W32]["momentum_buffer"]
    assert buf.dtype == np.float32
    before = buf.data.copy()
    sd["state"][0]["momentum_buffer"].data[...] = 99.0  # changing the source afterwards changes nothing
    sd["param_groups"][0]["lr"] = 5.0
    np.testing.assert_array_equal(buf.data, before)
    assert opt32.param_groups[0]["lr"] == 0.1


def _sgd_state(momentum=0.9):
    W, b = _two_param_model()
    opt = mg.optim.SGD([W, b], lr=0.1, momentum=momentum)
    _train(opt, W, b, 1)
    return opt.state_dict()


def test_load_state_dict_errors_and_leaves_optimizer_unchanged():
    W, b = _two_param_model()
    opt = mg.optim.SGD([W, b], lr=0.1, momentum=0.9)
    _train(opt, W, b, 1)
    before = opt.state_dict()

    two_groups = mg.optim.SGD([{"params": [W]}, {"params": [b]}], lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match=r"2 parameter group\(s\), but the optimizer has 1"):
        opt.load_state_dict(two_groups.state_dict())
    with pytest.raises(ValueError, match="group 0 of the loaded state dict has 1 parameters, but the optimizer's "
                                         "group 0 has 2"):
        opt.load_state_dict(mg.optim.SGD([W], lr=0.1).state_dict())
    bad_shape = _sgd_state()
    bad_shape["state"][1]["momentum_buffer"] = mg.zeros(5, dtype=mg.float64)
    with pytest.raises(ValueError, match=r"'momentum_buffer' of parameter 1 has shape \(5,\), but the parameter "
                                         r"has shape \(2,\)"):
        opt.load_state_dict(bad_shape)
    with pytest.raises(ValueError, match=r"lacks option\(s\) \['momentum', 'dampening', 'nesterov'\]"):
        opt.load_state_dict(mg.optim.Adam([W, b]).state_dict())
    with pytest.raises(ValueError, match="'state' and 'param_groups'"):
        opt.load_state_dict({"W": W})
    bad_index = _sgd_state()
    bad_index["state"][7] = bad_index["state"].pop(1)
    with pytest.raises(ValueError, match=r"parameter index 7.*indices \[0, 1\]"):
        opt.load_state_dict(bad_index)
    bad_option = _sgd_state()
    bad_option["param_groups"][0]["nesterov"] = True
    bad_option["param_groups"][0]["dampening"] = 0.5
    with pytest.raises(ValueError, match="Nesterov"):
        opt.load_state_dict(bad_option)

    after = opt.state_dict()  # every failed load left the optimizer as it was
    assert after["param_groups"] == before["param_groups"]
    for index in before["state"]:
        assert after["state"][index]["momentum_buffer"] is before["state"][index]["momentum_buffer"]


# ----------------------------------------------------------------------------- dtype, memory, versions
@pytest.mark.parametrize("name", OPTIMIZERS)
def test_float32_stays_float32_and_updates_in_place(name):
    W, b = _two_param_model(np.float32)
    arrays = (W.data, b.data)
    versions = (W._version[0], b._version[0])
    opt = getattr(mg.optim, name)([W, b], **RICH[name])
    d = _data()
    X, Y = mg.tensor(d["X"].astype(np.float32)), mg.tensor(d["Y"].astype(np.float32))
    for _ in range(3):
        opt.zero_grad()
        _objective(W, b, X, Y, False).backward()
        grads = (W.grad.data.copy(), b.grad.data.copy())
        opt.step()
        np.testing.assert_array_equal(W.grad.data, grads[0])  # gradients are not modified
        np.testing.assert_array_equal(b.grad.data, grads[1])
    assert W.data is arrays[0] and b.data is arrays[1]
    assert W.dtype == np.float32 and b.dtype == np.float32
    assert W._version[0] == versions[0] + 3 and b._version[0] == versions[1] + 3
    for p in (W, b):
        for key, value in opt.state[p].items():
            if isinstance(value, mg.Tensor):
                assert value.dtype == np.float32, key
    # float32 result close to the float64 run
    W64, b64 = _two_param_model()
    opt64 = getattr(mg.optim, name)([W64, b64], **RICH[name])
    _train(opt64, W64, b64, 3)
    np.testing.assert_allclose(W.data, W64.data, rtol=1e-4, atol=1e-5)


def test_stale_graph_cannot_backward_after_step():
    p = Parameter(mg.tensor([1.0, 2.0]))
    loss = (p * p).sum()
    loss.backward(retain_graph=True)
    mg.optim.SGD([p], lr=0.1).step()
    with pytest.raises(mg.BackwardError, match="modified in place"):
        loss.backward()


def test_step_runs_without_recording_a_graph():
    p = Parameter(mg.tensor([1.0, -2.0]))
    p.grad = mg.tensor([0.5, 0.5])
    mg.optim.Adam([p], lr=0.1).step()
    assert p.is_leaf and p.requires_grad and p.grad_fn is None


# ----------------------------------------------------------------------------- API behaviour
def test_zero_grad():
    p = Parameter(mg.tensor([1.0, 2.0]))
    opt = mg.optim.SGD([p], lr=0.1)
    (p * p).sum().backward()
    grad_array = p.grad.data
    opt.zero_grad(set_to_none=False)
    assert p.grad.data is grad_array and np.all(grad_array == 0)
    opt.zero_grad()
    assert p.grad is None
    opt.step()  # no gradient: nothing happens
    np.testing.assert_array_equal(p.data, [1.0, 2.0])


def test_step_with_closure_returns_loss():
    p = Parameter(mg.tensor([3.0]))
    opt = mg.optim.SGD([p], lr=0.25)
    calls = []

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        calls.append(1)
        return loss

    with mg.no_grad():  # the closure still records its graph
        loss = opt.step(closure)
    assert calls == [1] and loss.item() == 9.0
    np.testing.assert_allclose(p.data, [3.0 - 0.25 * 6.0])


def test_add_param_group_and_defaults():
    a, b = Parameter(mg.ones(2)), Parameter(mg.ones(3))
    opt = mg.optim.SGD([a], lr=0.1, momentum=0.5)
    opt.add_param_group({"params": b, "lr": 0.01})
    assert opt.param_groups[1]["momentum"] == 0.5 and opt.param_groups[1]["lr"] == 0.01
    assert opt.param_groups[1]["params"] == [b]
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [a]})
    with pytest.raises(KeyError, match="'params' entry"):
        opt.add_param_group({"lr": 0.1})
    b.grad = mg.ones(3)
    opt.step()
    np.testing.assert_allclose(b.data, np.full(3, 0.99), rtol=1e-6)


def test_accepts_module_parameters_and_repr():
    model = mg.nn.Sequential(mg.nn.Linear(3, 4), mg.nn.ReLU(), mg.nn.Linear(4, 1))
    opt = mg.optim.AdamW(model.parameters(), lr=3e-4)
    assert len(opt.param_groups[0]["params"]) == 4
    text = repr(opt)
    assert text.startswith("AdamW (") and "Parameter Group 0" in text and "lr: 0.0003" in text
    assert "weight_decay: 0.01" in text


@pytest.mark.parametrize("make,error,pattern", [
    (lambda p: mg.optim.SGD(p[0], lr=0.1), TypeError, "single Tensor"),
    (lambda p: mg.optim.SGD([], lr=0.1), ValueError, "empty parameter list"),
    (lambda p: mg.optim.SGD(set(p), lr=0.1), TypeError, "not a set"),
    (lambda p: mg.optim.SGD([p[0], p[0]], lr=0.1), ValueError, "more than once"),
    (lambda p: mg.optim.SGD([p[0] * 2], lr=0.1), ValueError, "non-leaf"),
    (lambda p: mg.optim.SGD([np.ones(2)], lr=0.1), TypeError, "ndarray"),
    (lambda p: mg.optim.SGD([mg.arange(3)], lr=0.1), TypeError, "int64"),
    (lambda p: mg.optim.SGD(p, lr=-1.0), ValueError, "lr=-1.0"),
    (lambda p: mg.optim.SGD(p, lr=0.1, momentum=-0.1), ValueError, "momentum"),
    (lambda p: mg.optim.SGD(p, lr=0.1, nesterov=True), ValueError, "Nesterov"),
    (lambda p: mg.optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), ValueError, "Nesterov"),
    (lambda p: mg.optim.SGD([{"params": p[:1]}, {"params": p[:1]}], lr=0.1), ValueError, "more than one"),
    (lambda p: mg.optim.Adam(p, betas=(1.0, 0.999)), ValueError, "index 0"),
    (lambda p: mg.optim.Adam(p, betas=(0.9, -0.1)), ValueError, "index 1"),
    (lambda p: mg.optim.Adam(p, eps=-1.0), ValueError, "eps"),
    (lambda p: mg.optim.AdamW(p, weight_decay=-1.0), ValueError, "weight_decay"),
    (lambda p: mg.optim.RMSprop(p, alpha=-0.5), ValueError, "alpha"),
    (lambda p: mg.optim.Adagrad(p, lr_decay=-0.5), ValueError, "lr_decay"),
    (lambda p: mg.optim.Adagrad(p, initial_accumulator_value=-1), ValueError, "initial_accumulator_value"),
])
def test_constructor_errors(make, error, pattern):
    params = [Parameter(mg.ones(2)), Parameter(mg.ones(3))]
    with pytest.raises(error, match=pattern):
        make(params)


def test_step_error_names_shapes_dtypes_and_devices():
    p = Parameter(mg.ones(3))
    opt = mg.optim.Adam([p])
    p.grad = mg.ones(3)
    opt.step()
    opt.state[p]["exp_avg"] = mg.zeros(4)  # as if the parameter had been replaced behind the optimizer's back
    with pytest.raises(ValueError, match=r"Adam.step: cannot update a parameter of shape \(3,\) float32 on cpu.*"
                                         r"exp_avg: \(4,\) float32 on cpu"):
        opt.step()


def test_step_rejects_mismatched_gradient():
    p = Parameter(mg.ones(3))
    p.grad = mg.ones(4)
    with pytest.raises(ValueError, match=r"shape \(3,\) has a gradient of shape \(4,\)"):
        mg.optim.SGD([p], lr=0.1).step()


# ----------------------------------------------------------------------------- GPU
@pytest.mark.gpu
@pytest.mark.parametrize("name", OPTIMIZERS)
def test_gpu_matches_cpu(name):
    results = []
    for device in ("cpu", "cuda"):
        d = _data()
        W = Parameter(mg.tensor(d["W"].astype(np.float32), device=device))
        b = Parameter(mg.tensor(d["b"].astype(np.float32), device=device))
        X = mg.tensor(d["X"].astype(np.float32), device=device)
        Y = mg.tensor(d["Y"].astype(np.float32), device=device)
        opt = getattr(mg.optim, name)([W, b], **RICH[name])
        for _ in range(5):
            opt.zero_grad()
            _objective(W, b, X, Y, False).backward()
            opt.step()
        assert W.device == device and W.dtype == np.float32
        for state in opt.state.values():
            for value in state.values():
                if isinstance(value, mg.Tensor):
                    assert value.device == device and value.dtype == np.float32
        results.append(W.cpu().detach().numpy())
    np.testing.assert_allclose(results[1], results[0], rtol=1e-4, atol=1e-5)
