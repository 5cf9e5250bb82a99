"""The emulated ``cupy`` module: device arrays over NumPy buffers, with CuPy's rules enforced.

Every function is looked up in the installed CuPy first: a name CuPy lacks is an AttributeError, and the
arguments are bound against CuPy's own signature (``inspect.signature``, or the signature line Cython
writes at the top of a docstring) before NumPy does the arithmetic.  NumPy arrays given where CuPy wants
device arrays raise ``TypeError`` as in CuPy; device arrays refuse implicit conversion to NumPy.
"""
from __future__ import annotations

import inspect
import math
import re
import sys
import types
import weakref

import numpy as np

from . import PINNED_CUPY

_real = {}


def real_cupy():
    """The installed CuPy module (and cupyx), imported once, checked against :data:`PINNED_CUPY`."""
    if "cupy" not in _real:
        saved = {k: sys.modules.pop(k) for k in ("cupy", "cupyx", "cupyx.scipy", "cupyx.scipy.special")
                 if k in sys.modules and getattr(sys.modules[k], "_minigrad_emulated", False)}
        try:
            import cupy  # noqa: PLC0415
            import cupyx  # noqa: PLC0415
            import cupyx.scipy.special  # noqa: PLC0415, F401
        except ImportError as e:
            raise RuntimeError(f"the CUDA emulator needs CuPy {PINNED_CUPY} installed (pip install "
                               f"cupy-cuda12x=={PINNED_CUPY}; it imports without a GPU): {e}") from e
        finally:
            sys.modules.update(saved)
        if cupy.__version__ != PINNED_CUPY:
            raise RuntimeError(f"the CUDA emulator is written against CuPy {PINNED_CUPY}, but CuPy "
                               f"{cupy.__version__} is installed: pip install cupy-cuda12x=={PINNED_CUPY}")
        _real["cupy"], _real["cupyx"] = cupy, cupyx
    return _real["cupy"]


def real_cupyx():
    real_cupy()
    return _real["cupyx"]


# ----------------------------------------------------------------------------- devices
_state = {"count": 1, "stack": [0]}


class CUDARuntimeError(RuntimeError):
    pass


def set_device_count(n):
    """Emulate ``n`` CUDA devices (device 0 becomes current)."""
    if n < 1:
        raise ValueError("the emulator needs at least one device")
    _state["count"], _state["stack"] = int(n), [0]


def current_device():
    return _state["stack"][-1]


def _check_device_id(i):
    if not 0 <= i < _state["count"]:
        raise CUDARuntimeError("cudaErrorInvalidDevice: invalid device ordinal "
                               f"(device {i}; the emulator has {_state['count']})")
    return i


class Device:
    """``cupy.cuda.Device``: a context manager that makes a device current."""

    def __init__(self, device=None):
        if isinstance(device, Device):
            device = device.id
        self.id = current_device() if device is None else _check_device_id(int(device))

    def __enter__(self):
        _state["stack"].append(self.id)
        return self

    def __exit__(self, *exc):
        _state["stack"].pop()
        return False

    def use(self):
        _state["stack"][-1] = self.id

    def synchronize(self):
        pass

    @property
    def compute_capability(self):
        return "90"

    def __int__(self):
        return self.id

    def __eq__(self, other):
        return isinstance(other, Device) and other.id == self.id

    def __hash__(self):
        return hash(self.id)

    def __repr__(self):
        return f"<CUDA Device {self.id}>"


def _check_devices(devices, what):
    """CuPy launches on the current device: an array elsewhere needs peer access, which the emulator denies."""
    cur = current_device()
    for d in devices:
        if d != cur:
            raise ValueError(f"{what}: the device where the array resides ({d}) is different from the current "
                             f"device ({cur}). Peer access is unavailable between these devices.")


# ----------------------------------------------------------------------------- signatures
_sig_cache = {}


def _split_params(text):
    parts, depth, cur, quote = [], 0, "", None
    for ch in text:
        if quote:
            cur += ch
            if ch == quote:
                quote = None
            continue
        if ch in "'\"":
            quote = ch
        elif ch in "([{<":
            depth += 1
        elif ch in ")]}>":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(cur.strip())
            cur = ""
            continue
        cur += ch
    if cur.strip():
        parts.append(cur.strip())
    return parts


def _doc_signature(obj):
    """The signature Cython writes as the first docstring line: ``name(a, b=None, *, c=1) -> type``."""
    doc = (getattr(obj, "__doc__", None) or "").strip()
    if not doc:
        return None
    m = re.match(r"^[\w.]+\((.*)\)(\s*->.*)?$", doc.splitlines()[0].replace("\\", ""))
    if not m:
        return None
    params = []
    for p in _split_params(m.group(1)):
        name = p.split("=", 1)[0].split(":", 1)[0].strip()
        if name in ("self", ""):
            continue
        if name.startswith("*") or name == "/":
            params.append(name)
        else:
            params.append(name + "=None" if "=" in p else name)
    namespace = {}
    try:
        exec(f"def _f({', '.join(params)}): pass", namespace)
    except SyntaxError:
        return None
    return inspect.signature(namespace["_f"])


def _signature(key, obj):
    if key not in _sig_cache:
        try:
            sig = inspect.signature(obj)
        except (TypeError, ValueError):
            sig = _doc_signature(obj)
        _sig_cache[key] = sig
    return _sig_cache[key]


def _bind(key, obj, args, kwargs):
    """Check ``args``/``kwargs`` against CuPy's own signature of ``obj``; TypeError names both."""
    sig = _signature(key, obj)
    if sig is None:
        return
    try:
        sig.bind(*args, **kwargs)
    except TypeError as e:
        raise TypeError(f"{key}: {e} (CuPy {PINNED_CUPY}: {key}{sig})") from None


# ----------------------------------------------------------------------------- wrapping and unwrapping
def _unwrap(x, devices, host_ok=False, what="cupy"):
    """Device arrays -> their NumPy buffers (devices noted); NumPy arrays are refused unless ``host_ok``."""
    t = type(x)
    if t is ndarray:
        devices.add(x._dev)
        return x._a
    if t is np.ndarray or isinstance(x, np.ndarray):
        if host_ok:
            return x
        raise TypeError(f"{what}: Unsupported type {t} (a NumPy array where CuPy needs a device array)")
    if t is list or t is tuple:
        return t(_unwrap(v, devices, host_ok, what) for v in x)
    if isinstance(x, dict):
        return {k: _unwrap(v, devices, host_ok, what) for k, v in x.items()}
    return x


def _wrap(r, dev):
    if type(r) is np.ndarray:
        return ndarray._from(r, dev)
    if isinstance(r, np.generic):  # CuPy reductions and scalar indexing give 0-d device arrays
        return ndarray._from(np.asarray(r), dev)
    if isinstance(r, tuple):
        return tuple(_wrap(v, dev) for v in r)
    if isinstance(r, list):
        return [_wrap(v, dev) for v in r]
    return r


def _uninitialised(shape, dtype, order="C"):
    """Memory nobody has written: NaN for floats, the largest value for integers, True for bools."""
    a = np.empty(shape, dtype=dtype, order=order)
    kind = a.dtype.kind
    if kind in "fc":
        a.fill(np.nan)
    elif kind in "iu":
        a.fill(np.iinfo(a.dtype).max)
    elif kind == "b":
        a.fill(True)
    return a


def _call(key, real_obj, np_fn, args, kwargs, host_ok=False, out_names=("out",)):
    """Check against CuPy, unwrap, run NumPy on the current device, wrap the result there."""
    _bind(key, real_obj, args, kwargs)
    devices = set()
    uargs = _unwrap(args, devices, host_ok, key)
    ukwargs = _unwrap(kwargs, devices, host_ok, key)
    _check_devices(devices, key)
    result = np_fn(*uargs, **ukwargs)
    for name in out_names:  # ``out=`` returns the very array given
        out = kwargs.get(name)
        if type(out) is ndarray and result is out._a:
            return out
    return _wrap(result, current_device())


_owners = weakref.WeakValueDictionary()  # id(NumPy buffer that owns memory) -> its device array


class ndarray:
    """A device array: a NumPy buffer that lives on one emulated device and is never a ``numpy.ndarray``."""

    __slots__ = ("_a", "_dev", "_basew", "__weakref__")
    __array_priority__ = 100
    __hash__ = None

    def __init__(self, shape, dtype=float, memptr=None, strides=None, order="C"):
        if memptr is not None or strides is not None:
            raise NotImplementedError("the CUDA emulator does not support ndarray(memptr=..., strides=...)")
        self._a = _uninitialised(shape, dtype, order)
        self._dev = current_device()
        _owners[id(self._a)] = self

    @classmethod
    def _from(cls, a, dev):
        self = object.__new__(cls)
        self._a, self._dev = a, dev
        if a.base is None:
            _owners[id(a)] = self
        return self

    @property
    def base(self):
        """As in CuPy: the array that owns the memory of a view (one object, kept alive by the view)."""
        root = self._a.base
        if root is None:
            return None
        while isinstance(root, np.ndarray) and root.base is not None:
            root = root.base
        if not isinstance(root, np.ndarray):
            return None
        owner = _owners.get(id(root))
        if owner is None or owner._a is not root:
            owner = ndarray._from(root, self._dev)
            _owners[id(root)] = owner
        self._basew = owner
        return owner

    # -- what NumPy must not do implicitly
    def __array__(self, *args, **kwargs):
        raise TypeError("Implicit conversion to a NumPy array is not allowed. Please use `.get()` to construct "
                        "a NumPy array explicitly.")

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        fn = getattr(module, ufunc.__name__, None)
        if fn is None:
            return NotImplemented
        return fn(*inputs, **kwargs) if method == "__call__" else getattr(fn, method)(*inputs, **kwargs)

    def __array_function__(self, func, types_, args, kwargs):
        target = module
        for sub in func.__module__.split(".")[1:]:
            target = getattr(target, sub, None)
            if target is None:
                return NotImplemented
        fn = getattr(target, func.__name__, None)
        return NotImplemented if fn is None else fn(*args, **kwargs)

    # -- attributes
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    itemsize = property(lambda self: self._a.itemsize)
    nbytes = property(lambda self: self._a.nbytes)
    strides = property(lambda self: self._a.strides)
    flags = property(lambda self: self._a.flags)
    T = property(lambda self: ndarray._from(self._a.T, self._dev))
    mT = property(lambda self: ndarray._from(np.swapaxes(self._a, -1, -2), self._dev))
    device = property(lambda self: Device(self._dev))
    data = property(lambda self: MemoryPointer(self))

    @property
    def real(self):
        return ndarray._from(self._a.real, self._dev)

    @property
    def imag(self):
        return ndarray._from(self._a.imag, self._dev)

    def __getattr__(self, name):
        real = getattr(real_cupy().ndarray, name, None)
        fn = getattr(np.ndarray, name, None)
        if name.startswith("__") or real is None or fn is None or not callable(real):
            raise AttributeError(f"cupy.ndarray has no attribute {name!r}"
                                 + ("" if real is None else " in the CUDA emulator"))

        def method(*args, **kwargs):
            key = f"cupy.ndarray.{name}"
            _bind(key, real, args, kwargs)
            devices = {self._dev}
            uargs, ukwargs = _unwrap(args, devices, False, key), _unwrap(kwargs, devices, False, key)
            _check_devices(devices, key)
            result = getattr(self._a, name)(*uargs, **ukwargs)
            out = kwargs.get("out")
            if type(out) is ndarray and result is out._a:
                return out
            return _wrap(result, self._dev)

        return method

    # -- explicit transfers and host values
    def get(self, stream=None, order="C", out=None, blocking=True):
        if out is not None:
            out[...] = self._a
            return out
        return np.array(self._a, order=order)

    def set(self, arr, stream=None):
        if not isinstance(arr, np.ndarray):
            raise TypeError(f"Only numpy.ndarray can be set to cupy.ndarray, got {type(arr)}")
        if arr.shape != self.shape:
            raise ValueError(f"Shape mismatch: {arr.shape} != {self.shape}")
        self._a[...] = arr

    def item(self):
        return self._a.item()

    def tolist(self):
        return self._a.tolist()

    def fill(self, value):
        if isinstance(value, np.ndarray) and value.shape != ():
            raise ValueError("non-scalar numpy.ndarray cannot be used for fill")
        if type(value) is ndarray:
            _check_devices({value._dev}, "cupy.ndarray.fill")
            value = value._a
        elif isinstance(value, (list, tuple)):
            raise TypeError(f"Unsupported type {type(value)}")
        _check_devices({self._dev}, "cupy.ndarray.fill")
        self._a.fill(value)

    def copy(self, order="C"):
        """As in CuPy: the copy is made on the current device (a peer copy when the array is elsewhere)."""
        return ndarray._from(self._a.copy(order=order), current_device())

    def reshape(self, *shape, order="C"):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return ndarray._from(self._a.reshape(shape, order=order), self._dev)

    def view(self, *args, **kwargs):
        return ndarray._from(self._a.view(*args, **kwargs), self._dev)

    def __bool__(self):
        return bool(self._a)

    def __float__(self):
        return float(self._a)

    def __int__(self):
        return int(self._a)

    def __index__(self):
        return self._a.__index__()

    def __complex__(self):
        return complex(self._a)

    def __len__(self):
        return len(self._a)

    def __iter__(self):
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d array")
        return (self[i] for i in range(len(self)))

    def __repr__(self):
        return repr(self._a)

    def __str__(self):
        return str(self._a)

    def __format__(self, spec):
        return format(self._a.item() if self.ndim == 0 else self._a, spec)

    def __copy__(self):
        return self.copy()

    def __deepcopy__(self, memo):
        return self.copy()

    def __reduce__(self):
        return (_rebuild, (self._a.copy(), self._dev))

    # -- indexing
    def _key(self, key):
        devices = set()
        ukey = _unwrap(key, devices, host_ok=True, what="cupy.ndarray indexing")  # CuPy copies host indices
        return ukey, devices

    def __getitem__(self, key):
        ukey, devices = self._key(key)
        if devices:
            _check_devices(devices | {self._dev}, "cupy.ndarray.__getitem__")
        return _wrap(self._a[ukey], self._dev)

    def __setitem__(self, key, value):
        ukey, devices = self._key(key)
        if type(value) is ndarray:
            devices.add(value._dev)
            value = value._a
        elif isinstance(value, np.ndarray):
            if value.shape != ():
                raise ValueError("non-scalar numpy.ndarray cannot be used for fill")
        elif isinstance(value, (list, tuple)):
            raise TypeError(f"Unsupported type {type(value)}")
        _check_devices(devices | {self._dev}, "cupy.ndarray.__setitem__")
        self._a[ukey] = value


def _rebuild(a, dev):
    return ndarray._from(a, dev)


class MemoryPointer:
    def __init__(self, arr):
        self.ptr = arr._a.ctypes.data
        self.device_id = arr._dev
        self.device = Device(arr._dev)


_BINARY = {"add": "add", "sub": "subtract", "mul": "multiply", "truediv": "true_divide",
           "floordiv": "floor_divide", "mod": "remainder", "pow": "power", "matmul": "matmul",
           "and": "bitwise_and", "or": "bitwise_or", "xor": "bitwise_xor", "lshift": "left_shift",
           "rshift": "right_shift"}
_COMPARE = {"lt": "less", "le": "less_equal", "eq": "equal", "ne": "not_equal", "gt": "greater",
            "ge": "greater_equal"}
_UNARY = {"neg": "negative", "pos": "positive", "abs": "absolute", "invert": "invert"}


def _install_operators():
    def binary(fname):
        def op(self, other):
            return getattr(module, fname)(self, other)

        def rop(self, other):
            return getattr(module, fname)(other, self)

        def iop(self, other):
            getattr(module, fname)(self, other, out=self)
            return self

        return op, rop, iop

    for dunder, fname in _BINARY.items():
        op, rop, iop = binary(fname)
        setattr(ndarray, f"__{dunder}__", op)
        setattr(ndarray, f"__r{dunder}__", rop)
        setattr(ndarray, f"__i{dunder}__", iop)
    for dunder, fname in _COMPARE.items():
        setattr(ndarray, f"__{dunder}__", binary(fname)[0])
    for dunder, fname in _UNARY.items():
        setattr(ndarray, f"__{dunder}__", lambda self, _f=fname: getattr(module, _f)(self))


_install_operators()


# ----------------------------------------------------------------------------- functions and ufuncs
class _Ufunc:
    """A CuPy ufunc: ``__call__`` and the reduce/accumulate/outer/at methods, checked against CuPy's."""

    def __init__(self, name, real, np_ufunc):
        self.__name__ = self.name = name
        self._real, self._np = real, np_ufunc
        self.nin, self.nout, self.nargs = real.nin, real.nout, real.nargs

    def __call__(self, *args, **kwargs):
        for a in args:  # CuPy's ufuncs take arrays and scalars, not sequences
            if isinstance(a, (list, tuple)):
                raise TypeError(f"cupy.{self.name}: Unsupported type {type(a)}")
        return _call(f"cupy.{self.name}", self._real, self._np, args, kwargs)

    def __getattr__(self, method):
        real = getattr(self._real, method, None)
        if method.startswith("_") or real is None:
            raise AttributeError(f"cupy.{self.name} has no attribute {method!r}")
        fn = getattr(self._np, method)
        return lambda *args, **kwargs: _call(f"cupy.{self.name}.{method}", real, fn, args, kwargs)

    def __repr__(self):
        return f"<emulated ufunc 'cupy.{self.name}'>"


def _function(prefix, name, real, np_fn):
    def fn(*args, **kwargs):
        return _call(f"{prefix}.{name}", real, np_fn, args, kwargs)

    fn.__name__ = name
    fn.__doc__ = f"{prefix}.{name} on the emulated device (NumPy's {np_fn.__name__})."
    return fn


class _Namespace(types.ModuleType):
    """A module-like namespace mirroring a CuPy (sub)module: names CuPy has, computed by NumPy's twin."""

    _minigrad_emulated = True

    def __init__(self, name, real_getter, np_module):
        super().__init__(name)
        self._real_getter, self._np = real_getter, np_module

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        real_mod = self._real_getter()
        real = getattr(real_mod, name, None)
        if real is None:
            raise AttributeError(f"module {self.__name__!r} has no attribute {name!r} (CuPy {PINNED_CUPY})")
        np_obj = getattr(self._np, name, None)
        if np_obj is not None and np_obj is real:  # a dtype, type or constant CuPy takes from NumPy
            value = real
        elif isinstance(real, types.ModuleType):
            value = _Namespace(f"{self.__name__}.{name}", lambda: getattr(self._real_getter(), name),
                               np_obj) if np_obj is not None else None
        elif type(real).__name__ == "ufunc" and isinstance(np_obj, np.ufunc):
            value = _Ufunc(name, real, np_obj)
        elif callable(real) and callable(np_obj):
            value = _function(self.__name__, name, real, np_obj)
        elif isinstance(real, (int, float)) and not callable(real):
            value = real
        else:
            value = None
        if value is None:
            raise AttributeError(f"the CUDA emulator does not implement {self.__name__}.{name}")
        setattr(self, name, value)  # cache
        return value


# ----------------------------------------------------------------------------- the module
module = _Namespace("cupy", real_cupy, np)
module.ndarray = ndarray


def asarray(a, dtype=None, order=None, *, copy=None, blocking=False):
    """Host data is copied to the current device; a device array stays (a copy if on another device)."""
    _bind("cupy.asarray", real_cupy().asarray, (a,), dict(dtype=dtype, order=order, copy=copy, blocking=blocking))
    if type(a) is ndarray:
        if a._dev == current_device() and (dtype is None or np.dtype(dtype) == a.dtype) and not copy:
            return a
        return ndarray._from(np.array(a._a, dtype=dtype, order=order or "K", copy=True), current_device())
    devices = set()
    host = _unwrap(a, devices, host_ok=True)
    _check_devices(devices, "cupy.asarray")
    return ndarray._from(np.array(host, dtype=dtype, order=order or "K", copy=True), current_device())


def array(obj, dtype=None, copy=True, order="K", subok=False, ndmin=0, *, blocking=False):
    _bind("cupy.array", real_cupy().array, (obj,), dict(dtype=dtype, copy=copy, order=order, subok=subok,
                                                        ndmin=ndmin, blocking=blocking))
    if type(obj) is ndarray and not copy and obj._dev == current_device():
        return asarray(obj, dtype=dtype)
    devices = set()
    host = _unwrap(obj, devices, host_ok=True)
    return ndarray._from(np.array(host, dtype=dtype, order=order, ndmin=ndmin, copy=True), current_device())


def asnumpy(a, stream=None, order="C", out=None, *, blocking=True):
    if type(a) is ndarray:
        return a.get(order=order, out=out)
    return np.asarray(a, order=order)


def empty(shape, dtype=float, order="C"):
    return ndarray._from(_uninitialised(shape, dtype, order), current_device())


def empty_like(prototype, dtype=None, order="K", subok=None, shape=None):
    _bind("cupy.empty_like", real_cupy().empty_like, (prototype,), dict(dtype=dtype, order=order, subok=subok,
                                                                        shape=shape))
    if type(prototype) is not ndarray:
        raise TypeError(f"cupy.empty_like: Unsupported type {type(prototype)}")
    shape = prototype.shape if shape is None else shape
    dtype = prototype.dtype if dtype is None else dtype
    order = "C" if order in ("K", "A") else order
    return ndarray._from(_uninitialised(shape, dtype, order), current_device())


def get_array_module(*args):
    return module if any(type(a) is ndarray for a in args) else np


class _MemoryPool:
    def used_bytes(self):
        return 0

    def total_bytes(self):
        return 0

    def free_all_blocks(self, stream=None):
        pass

    def set_limit(self, size=None, fraction=None):
        pass

    def get_limit(self):
        return 0


_pool, _pinned_pool = _MemoryPool(), _MemoryPool()

for _f in (asarray, array, asnumpy, empty, empty_like, get_array_module):
    setattr(module, _f.__name__, _f)
module.get_default_memory_pool = lambda: _pool
module.get_default_pinned_memory_pool = lambda: _pinned_pool


# -- cupy.cuda
class _Runtime(types.SimpleNamespace):
    CUDARuntimeError = CUDARuntimeError

    @staticmethod
    def getDeviceCount():
        return _state["count"]

    @staticmethod
    def getDevice():
        return current_device()

    @staticmethod
    def setDevice(i):
        Device(i).use()

    @staticmethod
    def getDeviceProperties(i):
        _check_device_id(i)
        return {"name": b"minigrad CUDA emulator (CPU)", "totalGlobalMem": 16 << 30, "major": 9, "minor": 0,
                "multiProcessorCount": 1, "warpSize": 32}

    @staticmethod
    def runtimeGetVersion():
        return 12090

    @staticmethod
    def deviceSynchronize():
        pass


class _Cuda(types.ModuleType):
    _minigrad_emulated = True

    def __init__(self):
        super().__init__("cupy.cuda")
        self.Device = Device
        self.runtime = _Runtime()
        self.get_device_id = current_device
        self.is_available = lambda: True
        self.CUDARuntimeError = CUDARuntimeError

    def __getattr__(self, name):
        raise AttributeError(f"the CUDA emulator does not implement cupy.cuda.{name}")


module.cuda = _Cuda()


# -- cupy.random: NumPy's legacy generator per device, behind CuPy's signatures
class _Random(types.ModuleType):
    _minigrad_emulated = True

    def __init__(self):
        super().__init__("cupy.random")
        self._states = {}

    def _state(self):
        return self._states.setdefault(current_device(), np.random.RandomState(current_device()))

    def seed(self, seed=None):
        self._states = {}
        self._seed = seed
        for d in range(_state["count"]):
            self._states[d] = np.random.RandomState(None if seed is None else (int(seed) + d) % 2 ** 32)

    def __getattr__(self, name):
        real = getattr(real_cupy().random, name, None)
        if name.startswith("_") or real is None or not callable(real):
            raise AttributeError(f"module 'cupy.random' has no attribute {name!r}")
        if not hasattr(np.random.RandomState, name):
            raise AttributeError(f"the CUDA emulator does not implement cupy.random.{name}")
        key = f"cupy.random.{name}"

        def fn(*args, **kwargs):
            _bind(key, real, args, kwargs)
            dtype = kwargs.pop("dtype", None)
            devices = set()
            uargs, ukwargs = _unwrap(args, devices, False, key), _unwrap(kwargs, devices, False, key)
            _check_devices(devices, key)
            np_fn = getattr(self._state(), name)
            if dtype is not None and "dtype" in inspect.signature(np_fn).parameters:
                ukwargs["dtype"] = dtype
                dtype = None
            result = np_fn(*uargs, **ukwargs)
            if dtype is not None:
                result = np.asarray(result).astype(dtype)
            return _wrap(np.asarray(result) if np.isscalar(result) else result, current_device())

        fn.__name__ = name
        return fn


module.random = _Random()


# -- cupyx: the parts minigrad uses
def scatter_add(a, slices, value):
    _bind("cupyx.scatter_add", real_cupyx().scatter_add, (a, slices, value), {})
    devices = set()
    ua, uslices = _unwrap(a, devices, False, "cupyx.scatter_add"), _unwrap(slices, devices, True)
    uvalue = _unwrap(value, devices, False, "cupyx.scatter_add")
    _check_devices(devices, "cupyx.scatter_add")
    np.add.at(ua, uslices, uvalue)


def _erf_numpy(x):
    values = np.asarray(np.frompyfunc(math.erf, 1, 1)(x), dtype=object)
    return values.astype(x.dtype if x.dtype.kind == "f" else np.float64)


class _Cupyx(types.ModuleType):
    _minigrad_emulated = True

    def __init__(self):
        super().__init__("cupyx")
        self.scatter_add = scatter_add
        self.scipy = types.ModuleType("cupyx.scipy")
        self.scipy._minigrad_emulated = True
        special = types.ModuleType("cupyx.scipy.special")
        special._minigrad_emulated = True
        special.erf = _ErfUfunc()
        self.scipy.special = special

    def __getattr__(self, name):
        raise AttributeError(f"the CUDA emulator does not implement cupyx.{name}")


class _ErfUfunc:
    __name__ = "erf"

    def __call__(self, x, out=None, **kwargs):
        _bind("cupyx.scipy.special.erf", real_cupyx().scipy.special.erf, (x,), dict(out=out, **kwargs))
        if type(x) is not ndarray:
            raise TypeError(f"cupyx.scipy.special.erf: Unsupported type {type(x)}")
        _check_devices({x._dev}, "cupyx.scipy.special.erf")
        result = _erf_numpy(x._a)
        if out is not None:
            out._a[...] = result
            return out
        return ndarray._from(result, current_device())


cupyx = _Cupyx()


def _elementwise_kernel(*args, **kwargs):
    from .kernels import ElementwiseKernel  # noqa: PLC0415 - needs a C++ compiler only when used

    return ElementwiseKernel(*args, **kwargs)


module.ElementwiseKernel = _elementwise_kernel
