"""Grad mode is per thread (as in PyTorch), and no_grad/enable_grad decorate generator functions."""
import threading

import numpy as np
import pytest

import minigrad as mg


def _run_threads(*targets):
    errors = []

    def guard(fn):
        def run():
            try:
                fn()
            except BaseException as e:  # noqa: BLE001 - reported by the test
                errors.append(e)
        return run

    threads = [threading.Thread(target=guard(t)) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors


def test_no_grad_in_one_thread_does_not_stop_training_in_another():
    stop = threading.Event()
    started = threading.Event()
    steps = []

    def evaluate():
        x = mg.randn(8, 8)
        with mg.no_grad():
            started.set()
            while not stop.is_set():
                assert not mg.is_grad_enabled()
                (x @ x).sum()
        assert mg.is_grad_enabled()

    def train():
        started.wait(10)
        w = mg.randn(8, 8, requires_grad=True)
        try:
            for _ in range(300):
                assert mg.is_grad_enabled()
                loss = (w @ w).tanh().sum()
                loss.backward()  # fails with "does not require grad" if no_grad leaked in
                assert w.grad is not None
                w.grad = None
                steps.append(1)
        finally:
            stop.set()

    _run_threads(evaluate, train)
    assert len(steps) == 300
    assert mg.is_grad_enabled()


def test_overlapping_no_grad_blocks_restore_grad_mode():
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    seen = {}

    def first():
        with mg.no_grad():
            a_in.set()
            b_in.wait(10)  # the second thread enters its block while this one is inside
        a_out.set()
        seen["first"] = mg.is_grad_enabled()

    def second():
        a_in.wait(10)
        with mg.no_grad():
            b_in.set()
            a_out.wait(10)  # ... and leaves after the first one left
            seen["second_inside"] = mg.is_grad_enabled()
        seen["second"] = mg.is_grad_enabled()

    _run_threads(first, second)
    assert seen == {"first": True, "second_inside": False, "second": True}
    assert mg.is_grad_enabled()
    x = mg.ones(3, requires_grad=True)
    (x * 2).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2, 2, 2])


def test_backward_does_not_change_other_threads_grad_mode():
    # backward() turns recording off while it runs (create_graph=False): other threads must not see it.
    stop = threading.Event()
    off = []

    def watch():
        while not stop.is_set():
            if not mg.is_grad_enabled():
                off.append(1)

    def train():
        w = mg.randn(16, 16, requires_grad=True)
        try:
            for _ in range(200):
                (w @ w @ w).sum().backward()
        finally:
            stop.set()

    _run_threads(watch, train)
    assert not off


def test_set_grad_enabled_call_is_per_thread():
    def worker():
        mg.set_grad_enabled(False)
        assert not mg.is_grad_enabled()

    _run_threads(worker)
    assert mg.is_grad_enabled()


def test_new_threads_start_with_grad_enabled():
    seen = []
    with mg.no_grad():
        _run_threads(lambda: seen.append(mg.is_grad_enabled()))
    assert seen == [True]


def test_no_grad_decorates_generator_functions():
    @mg.no_grad()
    def gen(x):
        for i in range(3):
            yield mg.is_grad_enabled(), (x * i).requires_grad

    x = mg.ones(2, requires_grad=True)
    out = []
    for item in gen(x):
        out.append(item)
        assert mg.is_grad_enabled()  # the caller's mode between steps
    assert out == [(False, False)] * 3

    @mg.enable_grad()
    def gen2():
        yield mg.is_grad_enabled()
        value = yield mg.is_grad_enabled()
        yield value

    with mg.no_grad():
        g = gen2()
        assert next(g) is True
        assert not mg.is_grad_enabled()
        assert next(g) is True
        assert g.send(42) == 42

    @mg.set_grad_enabled(False)
    def gen3():
        yield mg.is_grad_enabled()
        return "done"

    g = gen3()
    assert next(g) is False
    try:
        next(g)
    except StopIteration as stop:
        assert stop.value == "done"
    assert mg.is_grad_enabled()


def test_no_grad_and_enable_grad_decorate_without_parentheses():
    @mg.no_grad
    def off():
        return mg.is_grad_enabled()

    @mg.enable_grad
    def on():
        return mg.is_grad_enabled()

    assert off() is False and mg.is_grad_enabled()
    with mg.no_grad():
        assert on() is True
        assert not mg.is_grad_enabled()
    assert off.__name__ == "off"
    with pytest.raises(TypeError, match="no arguments"):
        mg.no_grad(3)


def test_tape_records_only_its_own_thread():
    stop = threading.Event()

    def noise():
        x = mg.ones(3, requires_grad=True)
        while not stop.is_set():
            x * 2

    t = threading.Thread(target=noise)
    t.start()
    try:
        x = mg.ones(3, requires_grad=True)
        with mg.autograd.tape() as tape:
            for _ in range(50):
                (x + 1).sum()
    finally:
        stop.set()
        t.join()
    assert {e.op for e in tape} <= {"Add", "Sum"}, {e.op for e in tape}
