"""``Optimizer``: the base class of every optimizer, as ``torch.optim.Optimizer``.

An optimizer holds *parameter groups*: dicts with a ``"params"`` list and the
hyperparameters for those parameters (``lr``, ``weight_decay``, ...), so that
different parts of a model can train with different settings.  It also holds
``state``: one dict per parameter with what the update rule remembers between
steps (momentum buffers, running averages, the step count).

``step()`` walks every parameter that has a gradient and calls the subclass's
``_update(param, grad, state, group)`` on the raw NumPy/CuPy arrays, under
``no_grad``.  Updates write into the parameter's own array (``out=``), so a
model's float32 weights stay float32 and keep their memory; afterwards the
parameter's version counter is bumped, so a graph recorded before the step
refuses to backward through the new values.

``state_dict()`` has PyTorch's layout: parameters are named by their position
across all groups (0, 1, 2, ...), so a checkpoint can be loaded into a fresh
optimizer built over a fresh model of the same architecture.
"""
from __future__ import annotations

import abc
import contextlib
import numbers
from collections import defaultdict

import numpy as np

from .. import _backend as B
from ..autograd.engine import Tensor, _wrap, enable_grad, no_grad


class _RequiredParameter:
    """Marks a hyperparameter that has no default: every group must set it."""

    def __repr__(self):
        return "<required parameter>"


required = _RequiredParameter()


def _on_device_of(array):
    """A context in which new CuPy arrays land on ``array``'s GPU (nothing to do for NumPy)."""
    if type(array) is np.ndarray:
        return contextlib.nullcontext()
    return array.device


def state_zeros(param_array, fill=0.0):
    """A new state Tensor shaped like ``param_array``, same dtype and device, filled with ``fill``."""
    xp = B.xp_of(param_array)
    with _on_device_of(param_array):
        return _wrap(xp.full(param_array.shape, fill, dtype=param_array.dtype), None, 0)


class Optimizer(abc.ABC):
    """Base class of optimizers (abstract: a subclass that does not define ``_update`` cannot be made).

    ``params``: an iterable of Parameters (one group), or of dicts, each a
    group ``{"params": [...], "lr": ..., ...}`` whose missing options come
    from ``defaults``.

    Subclasses give ``defaults`` and implement ``_update``; they may check
    hyperparameters in ``_check_group``.
    """

    def __init__(self, params, defaults):
        self.defaults = dict(defaults)
        self.state = defaultdict(dict)  # parameter -> its state dict (Tensors hash by identity)
        self.param_groups = []
        self._scratch_arrays = {}  # reusable temporaries for _update (never saved)
        self._check_group(self.defaults)
        if isinstance(params, Tensor):
            raise TypeError(
                f"{type(self).__name__}: params must be an iterable of tensors or of dicts (parameter groups), "
                f"got a single Tensor of shape {params.shape}; wrap it in a list: [tensor]"
            )
        if isinstance(params, (set, frozenset)):
            raise TypeError(f"{type(self).__name__}: params must be an ordered collection (a list), not a set: "
                            "the order decides the indices in state_dict()")
        groups = list(params)
        if not groups:
            raise ValueError(f"{type(self).__name__} got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    # -- parameter groups ----------------------------------------------------------
    def add_param_group(self, param_group):
        """Add a group ``{"params": [...], option: value, ...}``; missing options take the defaults.

        Useful for fine-tuning: unfreeze layers and hand them to the optimizer as training goes on.
        """
        name = type(self).__name__
        if not isinstance(param_group, dict):
            raise TypeError(f"{name}.add_param_group expects a dict with a 'params' entry, "
                            f"got {type(param_group).__name__}")
        if "params" not in param_group:
            raise KeyError(f"{name}: a parameter group must have a 'params' entry, got keys {sorted(param_group)}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, (set, frozenset)):
            raise TypeError(f"{name}: a group's params must be an ordered collection (a list), not a set")
        else:
            params = list(params)
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(f"{name} can only optimize Tensors, but parameter {i} of the group is a "
                                f"{type(p).__name__}")
            if not p.is_leaf:
                raise ValueError(f"{name}: can't optimize a non-leaf tensor (parameter {i}, shape {p.shape}, "
                                 f"made by {p.grad_fn.name}); optimize the leaf it was computed from")
            if p.dtype.kind != "f":
                raise TypeError(f"{name}: can only optimize floating-point tensors, parameter {i} "
                                f"(shape {p.shape}) has dtype {p.dtype}")
        if len({id(p) for p in params}) != len(params):
            raise ValueError(f"{name}: a parameter group holds the same parameter more than once")
        group = dict(param_group)
        group["params"] = params
        for key, default in self.defaults.items():
            if default is required and key not in group:
                raise ValueError(f"{name}: parameter group didn't specify a value of required option {key!r}")
            group.setdefault(key, default)
        self._check_group(group)
        taken = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in taken for p in params):
            raise ValueError(f"{name}: some parameters appear in more than one parameter group")
        self.param_groups.append(group)
        self._init_group_state(group)

    def _check_group(self, group):
        """Raise ValueError for invalid hyperparameters (subclasses override)."""
        lr = group.get("lr", 0.0)
        if lr is not required and lr < 0:
            raise ValueError(f"{type(self).__name__}: invalid learning rate lr={lr} (must be >= 0)")

    def _init_group_state(self, group):
        """Create state eagerly when a group is added (only Adagrad does; others create it on the first step)."""

    # -- the update ------------------------------------------------------------------
    def zero_grad(self, set_to_none=True):
        """Clear the gradients of all optimized parameters.

        ``set_to_none=True`` (PyTorch's default) drops ``.grad``, saving memory and
        letting ``step()`` skip parameters that got no gradient; ``False`` fills it with zeros.
        """
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    if p.grad.grad_fn is not None:  # made with create_graph=True: cut it from that graph
                        p.grad = p.grad.detach()
                    p.grad.requires_grad = False
                    p.grad.data.fill(0)
                    p.grad._bump_version()

    def step(self, closure=None):
        """Update every parameter that has a gradient, once; returns ``closure()``'s loss if given.

        ``closure``: a function that clears the gradients, recomputes the loss,
        calls ``backward()`` and returns the loss (needed by optimizers that
        evaluate the loss several times; the others accept it for convenience).
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        name = type(self).__name__
        with no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    grad = p.grad
                    if grad is None:
                        continue
                    if grad.shape != p.shape:
                        raise ValueError(f"{name}.step: a parameter of shape {p.shape} has a gradient of shape "
                                         f"{grad.shape}")
                    if type(grad.data) is not type(p.data):
                        raise B.DeviceError(f"{name}.step: a parameter on {p.device} has its gradient on "
                                            f"{grad.device}")
                    state = self.state[p]
                    try:
                        self._update(p.data, grad.data, state, group)
                    except (TypeError, ValueError) as e:  # e.g. state left on another device by model.to()
                        held = ", ".join(f"{k}: {tuple(v.shape)} {v.dtype} on {v.device}"
                                         for k, v in state.items() if isinstance(v, Tensor))
                        raise type(e)(f"{name}.step: cannot update a parameter of shape {tuple(p.shape)} {p.dtype} "
                                      f"on {p.device} (gradient {grad.dtype} on {grad.device}; state {{{held}}}): "
                                      f"{e}") from e
                    p._bump_version()  # graphs recorded before this step now refuse to backward
        return loss

    @abc.abstractmethod
    def _update(self, param, grad, state, group):
        """Update the raw array ``param`` in place from ``grad`` (a raw array: never modify it)."""

    def _scratch(self, like, slot=0):
        """A temporary array shaped like ``like`` (same dtype and device), reused across steps.

        One flat buffer per slot, dtype and device, as large as the largest
        parameter, saves allocating fresh temporaries on every step.
        """
        key = (slot, like.dtype, B.device_of(like))
        buf = self._scratch_arrays.get(key)
        if buf is None or buf.size < like.size:
            with _on_device_of(like):
                buf = B.xp_of(like).empty(like.size, dtype=like.dtype)
            self._scratch_arrays[key] = buf
        return buf[: like.size].reshape(like.shape)

    def _effective_grad(self, param, grad, weight_decay, maximize):
        """The gradient the rule uses: ``-grad`` when maximizing, plus ``weight_decay * param`` (L2 penalty).

        Returns ``grad`` itself when nothing changes, else a scratch array (slot 0).
        """
        if weight_decay == 0 and not maximize:
            return grad
        xp = B.xp_of(param)
        d = self._scratch(param, 0)
        if weight_decay != 0:
            xp.multiply(param, weight_decay, out=d)
            if maximize:
                xp.subtract(d, grad, out=d)  # -grad + wd * param
            else:
                xp.add(d, grad, out=d)  # grad + wd * param
        else:
            xp.negative(grad, out=d)
        return d

    # -- checkpoints -----------------------------------------------------------------
    def state_dict(self):
        """The optimizer's state in PyTorch's layout.

        ``{"state": {index: {name: tensor or number}}, "param_groups": [{option: value, ...,
        "params": [index, ...]}]}``, indices counting parameters across groups in order.
        Tensors are shared with the optimizer (save the dict, or copy it, before stepping on).
        """
        index_of = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            for p in group["params"]:
                index_of[id(p)] = len(index_of)
            packed["params"] = [index_of[id(p)] for p in group["params"]]
            groups.append(packed)
        by_index = {}
        for group in self.param_groups:
            for p in group["params"]:
                if p in self.state and self.state[p]:
                    by_index[index_of[id(p)]] = dict(self.state[p])
        return {"state": by_index, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Load a dict made by :meth:`state_dict` (e.g. read back with ``mg.load``); values are copied.

        The groups must hold as many parameters as this optimizer's; tensors are
        cast to each parameter's dtype and moved to its device.  On an error the
        optimizer is left unchanged.
        """
        name = type(self).__name__
        if not isinstance(state_dict, dict) or "state" not in state_dict or "param_groups" not in state_dict:
            got = sorted(state_dict) if isinstance(state_dict, dict) else type(state_dict).__name__
            raise ValueError(f"{name}.load_state_dict expects a dict with 'state' and 'param_groups' "
                             f"(from optimizer.state_dict()), got {got}")
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"{name}.load_state_dict: the loaded state dict has {len(saved_groups)} parameter "
                             f"group(s), but the optimizer has {len(self.param_groups)}")
        id_map = {}
        new_groups = []
        for i, (group, saved) in enumerate(zip(self.param_groups, saved_groups)):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(f"{name}.load_state_dict: parameter group {i} of the loaded state dict has "
                                 f"{len(saved['params'])} parameters, but the optimizer's group {i} has "
                                 f"{len(group['params'])}")
            missing = [k for k in self.defaults if k not in saved]
            if missing:
                raise ValueError(f"{name}.load_state_dict: parameter group {i} of the loaded state dict lacks "
                                 f"option(s) {missing}; was it saved from a different optimizer?")
            for index, p in zip(saved["params"], group["params"]):
                id_map[int(index)] = p
            new_group = {k: v for k, v in saved.items() if k != "params"}
            new_group["params"] = group["params"]
            new_groups.append(new_group)
        new_state = defaultdict(dict)
        for index, entries in state_dict["state"].items():
            index = int(index)
            if index not in id_map:
                raise ValueError(f"{name}.load_state_dict: state for parameter index {index}, but the loaded "
                                 f"param_groups only list indices {sorted(id_map)}")
            p = id_map[index]
            new_state[p] = {key: _load_value(p, key, value, index, name) for key, value in entries.items()}
        for group in new_groups:
            self._check_group(group)
        self.param_groups = new_groups
        self.state = new_state

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for key in sorted(group):
                if key != "params":
                    lines.append(f"    {key}: {group[key]}")
        lines.append(")")
        return "\n".join(lines)


def _load_value(param, key, value, index, opt_name):
    """A copy of one saved state entry, as the running optimizer keeps it."""
    if hasattr(value, "detach") and hasattr(value, "numpy") and not isinstance(value, Tensor):
        value = value.detach().cpu().numpy()  # a PyTorch tensor
    if isinstance(value, Tensor):
        value = value.data
    is_array = isinstance(value, np.ndarray) or B.is_cupy_array(value)
    if key == "step":  # a number (PyTorch keeps a 0-d tensor)
        if is_array:
            value = value.item()
        return int(value) if float(value).is_integer() else float(value)
    if is_array:
        if tuple(value.shape) != tuple(param.shape):
            raise ValueError(f"{opt_name}.load_state_dict: state {key!r} of parameter {index} has shape "
                             f"{tuple(value.shape)}, but the parameter has shape {tuple(param.shape)}")
        array = B.to_device(value, param.device)
        dtype = param.dtype if array.dtype.kind == "f" else array.dtype
        return _wrap(array.astype(dtype, copy=True), None, 0)
    if isinstance(value, numbers.Number) or value is None or isinstance(value, str):
        return value
    raise TypeError(f"{opt_name}.load_state_dict: cannot load state {key!r} of parameter {index}: "
                    f"unsupported value of type {type(value).__name__}")
