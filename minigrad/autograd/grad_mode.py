"""Grad mode: whether ops record the graph.  One flag per thread, as in PyTorch."""
from __future__ import annotations

import functools
import inspect
import threading


class _ThreadState(threading.local):
    """Grad mode and open tapes, one set per thread (as in PyTorch): a thread evaluating under
    ``no_grad`` must not turn autograd off for a thread that is training."""

    def __init__(self):  # runs once in every thread that uses minigrad: grad mode on, no tape open
        self.grad_enabled = True
        self.recorders = ()  # open ``tape()`` contexts of this thread


_state = _ThreadState()


def is_grad_enabled() -> bool:
    """True when ops record the graph (the default).  Grad mode is per thread."""
    return _state.grad_enabled


def _decorate(fn, make_mode):
    """Run ``fn`` (a function or a generator function) under the grad mode ``make_mode()`` sets."""
    if inspect.isgeneratorfunction(fn):
        # A generator runs in pieces: switch the mode around each piece, restoring the caller's
        # mode at every ``yield`` (what PyTorch does).
        @functools.wraps(fn)
        def generator(*args, **kwargs):
            gen = fn(*args, **kwargs)
            try:
                with make_mode():
                    value = next(gen)
                while True:
                    try:
                        sent = yield value
                    except GeneratorExit:
                        with make_mode():
                            gen.close()
                        raise
                    except BaseException as e:  # noqa: BLE001 - thrown in by the caller: pass it on
                        with make_mode():
                            value = gen.throw(e)
                    else:
                        with make_mode():
                            value = gen.send(sent)
            except StopIteration as stop:
                return stop.value

        return generator

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with make_mode():
            return fn(*args, **kwargs)

    return wrapper


class set_grad_enabled:
    """Turn graph recording on or off for this thread; a function call, context manager or decorator."""

    def __init__(self, mode: bool):
        self.prev = _state.grad_enabled
        self.mode = bool(mode)
        _state.grad_enabled = self.mode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _state.grad_enabled = self.prev
        return False

    def __call__(self, fn):
        # Decorator use: switch only while the function runs.
        _state.grad_enabled = self.prev
        mode = self.mode
        return _decorate(fn, lambda: set_grad_enabled(mode))


class _GradMode:
    """Base of ``no_grad``/``enable_grad``: a context manager and decorator (of functions and generators)."""

    mode = True

    def __new__(cls, fn=None):
        # ``@mg.no_grad`` without parentheses decorates ``fn`` directly, as PyTorch allows
        if fn is None:
            return super().__new__(cls)
        if not callable(fn):
            raise TypeError(f"{cls.__name__}() takes no arguments (or a function to decorate), got "
                            f"{type(fn).__name__}")
        return cls()(fn)

    def __enter__(self):
        self.prev = _state.grad_enabled
        _state.grad_enabled = self.mode
        return self

    def __exit__(self, *exc):
        _state.grad_enabled = self.prev
        return False

    def __call__(self, fn):
        return _decorate(fn, type(self))


class no_grad(_GradMode):
    """Ops run inside record nothing: use for evaluation and parameter updates.  Affects this thread only."""

    mode = False


class enable_grad(_GradMode):
    """Turn recording back on inside a ``no_grad`` block (this thread only)."""

    mode = True
