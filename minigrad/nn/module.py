"""``Module`` and ``Parameter``: the building blocks of models, as in PyTorch.

A Module holds Parameters (tensors to train), buffers (tensors to keep but not
train, e.g. BatchNorm's running mean) and sub-Modules, all found by
attribute assignment.  ``state_dict()`` names every parameter and buffer by
its dotted path (``features.0.weight``), the same names PyTorch uses, so a
PyTorch state dict converted to NumPy loads unchanged.
"""
from __future__ import annotations

from collections import OrderedDict, namedtuple

import numpy as np

from .. import _backend as B
from ..autograd.engine import Tensor, no_grad


class Parameter(Tensor):
    """A tensor that is a trainable parameter of a Module (``requires_grad=True`` by default)."""

    __slots__ = ()

    def __init__(self, data=None, requires_grad=True):
        if data is None:
            data = np.zeros(0, dtype=np.float32)
        if isinstance(data, Tensor):
            data = data.data
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


class IncompatibleKeys(namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])):
    """What ``load_state_dict`` returns: the keys it missed and the keys it did not use (two lists).

    Unpacks like a tuple; prints ``<All keys matched successfully>`` when both are empty, as in PyTorch.
    """

    __slots__ = ()

    def __repr__(self):
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return super().__repr__()


class Module:
    """Base class of every layer and model: subclass it, set parameters and layers in
    ``__init__``, and write ``forward``.  Call the module (``model(x)``), not ``forward``."""

    training: bool

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "_forward_hooks", OrderedDict())
        object.__setattr__(self, "_forward_pre_hooks", OrderedDict())
        object.__setattr__(self, "training", True)

    # -- attribute plumbing --------------------------------------------------------
    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"call super().__init__() in {type(self).__name__}.__init__ before assigning attributes")
        params, buffers, modules = self._parameters, self._buffers, self._modules
        if isinstance(value, Parameter):
            self.__dict__.pop(name, None)
            buffers.pop(name, None)
            modules.pop(name, None)
            params[name] = value
        elif isinstance(value, Module):
            self.__dict__.pop(name, None)
            params.pop(name, None)
            buffers.pop(name, None)
            modules[name] = value
        elif name in params:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} to parameter {name!r}: use nn.Parameter")
            params[name] = None
        elif name in buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"buffer {name!r} must be a Tensor or None, got {type(value).__name__}")
            buffers[name] = value
        else:
            if name in modules and value is None:
                modules[name] = None
                return
            modules.pop(name, None)
            object.__setattr__(self, name, value)

    def __getattr__(self, name):
        d = self.__dict__
        for store in ("_parameters", "_buffers", "_modules"):
            if store in d and name in d[store]:
                return d[store][name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name):
        for store in (self._parameters, self._buffers, self._modules):
            if name in store:
                del store[name]
                return
        object.__delattr__(self, name)

    def register_parameter(self, name, param):
        """Add a parameter (or None) under ``name``."""
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"register_parameter({name!r}) expects a Parameter or None, got {type(param).__name__}")
        self._parameters[name] = param

    def register_buffer(self, name, tensor, persistent=True):
        """Add a tensor that is saved in ``state_dict`` (if persistent) but not trained."""
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"register_buffer({name!r}) expects a Tensor or None, got {type(tensor).__name__}")
        self._buffers[name] = tensor
        if not persistent:
            self._non_persistent.add(name)

    def add_module(self, name, module):
        """Add a child module under ``name``."""
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module({name!r}) expects a Module, got {type(module).__name__}")
        self._modules[name] = module

    register_module = add_module

    # -- calling -----------------------------------------------------------------
    # Subclasses define ``forward``; Module itself has none (containers such as ModuleList are never called).
    def __call__(self, *args, **kwargs):
        if self._forward_pre_hooks:
            for hook in list(self._forward_pre_hooks.values()):
                hook(self, args)
        try:
            forward = self.forward
        except AttributeError:
            raise TypeError(f"{type(self).__name__} cannot be called: it defines no forward()") from None
        out = forward(*args, **kwargs)
        for hook in list(self._forward_hooks.values()):
            result = hook(self, args, out)
            if result is not None:
                out = result
        return out

    def register_forward_hook(self, hook):
        """Call ``hook(module, inputs, output)`` after every forward (a non-None result replaces the
        output); returns a handle with ``remove()``."""
        return _HookHandle(self._forward_hooks, hook)

    def register_forward_pre_hook(self, hook):
        """Call ``hook(module, inputs)`` before every forward; returns a handle with ``remove()``."""
        return _HookHandle(self._forward_pre_hooks, hook)

    # -- traversal -----------------------------------------------------------------
    def named_modules(self, memo=None, prefix=""):
        """Every module in the tree (this one first) with its dotted name."""
        if memo is None:
            memo = set()
        if id(self) in memo:
            return
        memo.add(id(self))
        yield prefix, self
        for name, module in self._modules.items():
            if module is not None:
                yield from module.named_modules(memo, f"{prefix}.{name}" if prefix else name)

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def named_children(self):
        for name, module in self._modules.items():
            if module is not None:
                yield name, module

    def children(self):
        for _, m in self.named_children():
            yield m

    def _named_members(self, getter, prefix, recurse):
        seen = set()
        modules = self.named_modules(prefix=prefix) if recurse else [(prefix, self)]
        for module_prefix, module in modules:
            for name, value in getter(module):
                if value is None or id(value) in seen:
                    continue
                seen.add(id(value))
                yield (f"{module_prefix}.{name}" if module_prefix else name), value

    def named_parameters(self, prefix="", recurse=True):
        """``(name, Parameter)`` pairs; a parameter shared by two modules appears once."""
        yield from self._named_members(lambda m: m._parameters.items(), prefix, recurse)

    def parameters(self, recurse=True):
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix="", recurse=True):
        yield from self._named_members(lambda m: m._buffers.items(), prefix, recurse)

    def buffers(self, recurse=True):
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    # -- modes and devices -----------------------------------------------------------
    def train(self, mode=True):
        """Training mode (dropout active, batch norm uses batch statistics); returns self."""
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self):
        """Evaluation mode: ``train(False)``."""
        return self.train(False)

    def requires_grad_(self, requires_grad=True):
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none=True):
        """Clear the gradients of all parameters."""
        for p in self.parameters():
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                with no_grad():
                    p.grad.zero_()

    def apply(self, fn):
        """Call ``fn(module)`` on every submodule (children first) and this one; returns self."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    def _convert(self, device=None, dtype=None):
        """Move/cast every parameter and buffer in place (parameter objects stay the same)."""
        dtype = B.to_dtype(dtype)

        def convert(t, floats_only):
            data = t.data
            if device is not None:
                data = B.to_device(data, device)
            if dtype is not None and (data.dtype.kind == "f" or not floats_only):
                data = data.astype(dtype)
            return data

        with no_grad():
            for m in self.modules():
                for p in m._parameters.values():
                    if p is not None:
                        p.data = convert(p, True)
                        p._bump_version()
                        if p.grad is not None:
                            p.grad = Tensor(convert(p.grad, True))
                for name, b in m._buffers.items():
                    if b is not None and (dtype is None or b.data.dtype.kind == "f" or device is not None):
                        new = Tensor(convert(b, True))
                        m._buffers[name] = new
        return self

    def to(self, *args, device=None, dtype=None):
        """``to(device)``, ``to(dtype)`` or ``to(device, dtype)``: convert parameters and buffers in place."""
        for a in args:
            if isinstance(a, str):
                device = a
            else:
                dtype = a
        return self._convert(device=device, dtype=dtype)

    def cuda(self, device=None):
        return self.to("cuda" if device is None else f"cuda:{int(device)}")

    def cpu(self):
        return self.to("cpu")

    def float(self):
        return self.to(dtype=np.float32)

    def double(self):
        return self.to(dtype=np.float64)

    # -- saving ------------------------------------------------------------------------
    def state_dict(self, prefix=""):
        """An ordered ``{name: tensor}`` of every parameter and persistent buffer (detached, sharing memory)."""
        out = OrderedDict()
        for module_prefix, module in self.named_modules(prefix=prefix.rstrip(".")):
            for name, p in module._parameters.items():
                if p is not None:
                    out[f"{module_prefix}.{name}" if module_prefix else name] = p.detach()
            for name, b in module._buffers.items():
                if b is not None and name not in module._non_persistent:
                    out[f"{module_prefix}.{name}" if module_prefix else name] = b.detach()
        return out

    def load_state_dict(self, state_dict, strict=True):
        """Copy values (tensors or NumPy arrays) into the parameters and buffers with the same names.

        ``strict``: every key must match (missing and unexpected keys are errors).
        Returns ``(missing_keys, unexpected_keys)`` (an :class:`IncompatibleKeys` named tuple).
        """
        targets = {}
        for module_prefix, module in self.named_modules():
            for store in (module._parameters, module._buffers):
                for name, t in store.items():
                    if t is not None and not (store is module._buffers and name in module._non_persistent):
                        targets[f"{module_prefix}.{name}" if module_prefix else name] = (module, store, name)
        missing = [k for k in targets if k not in state_dict]
        unexpected = [k for k in state_dict if k not in targets]
        if strict and (missing or unexpected):
            raise KeyError(f"load_state_dict for {type(self).__name__}: missing keys {missing}, unexpected keys "
                           f"{unexpected}")
        errors = []
        with no_grad():
            for key, (module, store, name) in targets.items():
                if key not in state_dict:
                    continue
                value = state_dict[key]
                data = value.data if isinstance(value, Tensor) else value
                if hasattr(data, "detach") and hasattr(data, "numpy"):  # a torch tensor
                    data = data.detach().cpu().numpy()
                current = store[name]
                data = B.to_device(np.asarray(data) if not hasattr(data, "shape") else data, current.device)
                if tuple(data.shape) != tuple(current.shape):
                    errors.append(f"{key}: checkpoint shape {tuple(data.shape)} vs model shape {tuple(current.shape)}")
                    continue
                current.data[...] = data.astype(current.dtype, copy=False)
                current._bump_version()
        if errors:
            raise ValueError(f"load_state_dict for {type(self).__name__}: size mismatch for " + "; ".join(errors))
        return IncompatibleKeys(missing, unexpected)

    # -- printing ------------------------------------------------------------------------
    def extra_repr(self):
        """The text inside this module's parentheses in ``repr`` (layer sizes and options)."""
        return ""

    def __repr__(self):
        lines = []
        for name, module in self._modules.items():
            text = repr(module).replace("\n", "\n  ")
            lines.append(f"({name}): {text}")
        extra = self.extra_repr()
        if not lines:
            return f"{type(self).__name__}({extra})"
        body = "\n  ".join(([extra] if extra else []) + lines)
        return f"{type(self).__name__}(\n  {body}\n)"

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self._parameters) | set(self._buffers) | set(self._modules))


class _HookHandle:
    """Returned by ``register_forward_hook``: ``remove()`` unregisters the hook."""

    def __init__(self, hooks, hook):
        self.hooks, self.key = hooks, object()
        hooks[self.key] = hook

    def remove(self):
        self.hooks.pop(self.key, None)


class Identity(Module):
    """Returns its input unchanged."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, x):
        return x


class Sequential(Module):
    """Modules applied one after another: ``Sequential(a, b, c)(x) == c(b(a(x)))``.

    Also accepts an ``OrderedDict`` of named modules.
    """

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], (dict, OrderedDict)):
            for name, m in modules[0].items():
                self.add_module(name, m)
        else:
            for i, m in enumerate(modules):
                self.add_module(str(i), m)

    def forward(self, x):
        for m in self._modules.values():
            x = m(x)
        return x

    def __getitem__(self, idx):
        items = list(self._modules.values())
        if isinstance(idx, slice):
            return Sequential(*items[idx])
        return items[idx]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, module):
        self.add_module(str(len(self._modules)), module)
        return self


class ModuleList(Module):
    """A list of modules whose parameters the parent module finds."""

    def __init__(self, modules=None):
        super().__init__()
        for m in modules or []:
            self.append(m)

    def append(self, module):
        self.add_module(str(len(self._modules)), module)
        return self

    def extend(self, modules):
        for m in modules:
            self.append(m)
        return self

    def __getitem__(self, idx):
        items = list(self._modules.values())
        if isinstance(idx, slice):
            return ModuleList(items[idx])
        return items[idx]

    def __setitem__(self, idx, module):
        key = list(self._modules)[idx]
        self.add_module(key, module)

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())


class ModuleDict(Module):
    """A dict of modules whose parameters the parent module finds."""

    def __init__(self, modules=None):
        super().__init__()
        for name, m in (modules or {}).items():
            self.add_module(name, m)

    def __getitem__(self, key):
        return self._modules[key]

    def __setitem__(self, key, module):
        self.add_module(key, module)

    def __contains__(self, key):
        return key in self._modules

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules)

    def keys(self):
        return self._modules.keys()

    def values(self):
        return self._modules.values()

    def items(self):
        return self._modules.items()
