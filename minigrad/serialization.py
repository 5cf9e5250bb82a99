"""``mg.save`` / ``mg.load``: checkpoints as plain ``.npz`` files, never pickle.

The file holds one array per tensor (``t0``, ``t1``, ...) and a JSON
description of the structure (dicts, lists, numbers, strings) in the entry
``__minigrad__``.  It is written to a temporary file in the same directory
and renamed over the target, so an interrupted save leaves the previous
checkpoint intact.
"""
from __future__ import annotations

import errno
import json
import os
import stat
import tempfile
import zipfile

import numpy as np

from . import _backend as B
from .autograd.engine import Tensor

FORMAT = "minigrad-checkpoint"
VERSION = 1
MANIFEST = "__minigrad__"


class CheckpointError(ValueError):
    """A file is not a readable minigrad checkpoint (truncated, foreign or corrupt): the one error type
    :func:`load` raises for a file that exists but cannot be read, with the cause in its message."""


def _encode(obj, arrays, path):
    if isinstance(obj, Tensor):
        key = f"t{len(arrays)}"
        arrays[key] = B.to_device(obj.data, "cpu")
        return {"__tensor__": key, "requires_grad": bool(obj.requires_grad), "device": obj.device}
    if isinstance(obj, np.ndarray) or B.is_cupy_array(obj):
        key = f"t{len(arrays)}"
        arrays[key] = B.to_device(obj, "cpu")
        return {"__array__": key}
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, (int, np.integer)) and not isinstance(obj, bool):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        value = float(obj)
        if value != value or value in (float("inf"), float("-inf")):
            return {"__float__": repr(value)}
        return value
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, dict):
        items = []
        for k, v in obj.items():
            if not isinstance(k, (str, int)) or isinstance(k, bool):
                raise TypeError(f"mg.save: dict keys must be str or int, got {type(k).__name__} at {path}")
            items.append([k, _encode(v, arrays, f"{path}[{k!r}]")])
        return {"__dict__": items}
    if isinstance(obj, (list, tuple)):
        kind = "__tuple__" if isinstance(obj, tuple) else "__list__"
        return {kind: [_encode(v, arrays, f"{path}[{i}]") for i, v in enumerate(obj)]}
    raise TypeError(
        f"mg.save cannot store {type(obj).__name__} at {path}: only tensors, arrays, numbers, strings, "
        "None and dicts/lists/tuples of them (use model.state_dict(), not the model)"
    )


def _decode(obj, arrays, map_location):
    if isinstance(obj, dict):
        if "__tensor__" in obj:
            device = map_location or obj.get("device", "cpu")
            if map_location is None:
                if not isinstance(device, str):
                    raise CheckpointError(f"damaged manifest: a tensor's device is {device!r}")
                if not (device in ("cpu", "cuda") or device.startswith("cuda:") and device[5:].isdigit()):
                    raise CheckpointError(f"damaged manifest: unknown device {device!r}")
            t = Tensor(B.to_device(arrays[obj["__tensor__"]], device))
            if obj.get("requires_grad"):
                t.requires_grad_(True)
            return t
        if "__array__" in obj:
            return arrays[obj["__array__"]]
        if "__float__" in obj:
            return float(obj["__float__"])
        if "__dict__" in obj:
            return {k: _decode(v, arrays, map_location) for k, v in obj["__dict__"]}
        if "__list__" in obj:
            return [_decode(v, arrays, map_location) for v in obj["__list__"]]
        if "__tuple__" in obj:
            return tuple(_decode(v, arrays, map_location) for v in obj["__tuple__"])
        raise CheckpointError(f"unknown entry in checkpoint structure: {sorted(obj)}")
    return obj


def save(obj, path):
    """Write ``obj`` (a state dict: nested dicts/lists of tensors, numbers, strings) to ``path``.

    The write is atomic: a temporary file in the same directory is renamed over
    ``path`` only once it is complete.  Like writing the file in place (what
    ``torch.save`` does), it keeps an existing file's permissions, writes through
    a symbolic link to the file it points at (the link stays), and refuses a
    read-only file (PermissionError).  Temporary files left by saves that were
    killed (their process is gone) are removed.
    """
    path = os.fspath(path)
    arrays: dict = {}
    structure = _encode(obj, arrays, "obj")
    manifest = json.dumps({"format": FORMAT, "version": VERSION, "root": structure})
    arrays[MANIFEST] = np.frombuffer(manifest.encode("utf-8"), dtype=np.uint8)
    target = os.path.realpath(path) if os.path.islink(path) else os.path.abspath(path)
    mode = 0o666 & ~_umask()
    if os.path.exists(target):
        st = os.stat(target)
        if not stat.S_ISREG(st.st_mode):
            raise IsADirectoryError(errno.EISDIR, "mg.save: not a regular file", path)
        if not st.st_mode & stat.S_IWUSR or not os.access(target, os.W_OK):
            raise PermissionError(errno.EACCES, "mg.save: the file is read-only; not overwritten", path)
        mode = stat.S_IMODE(st.st_mode)
    directory, name = os.path.split(target)
    os.makedirs(directory, exist_ok=True)
    _remove_stale_temporaries(directory, name)
    fd, tmp = tempfile.mkstemp(prefix=f"{_TMP}{name}-{os.getpid()}-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)  # mkstemp makes the file private (0600): the old file's mode, or the usual one
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


_TMP = ".tmp-"  # temporary files are named .tmp-<checkpoint name>-<pid>-<random>


def _remove_stale_temporaries(directory, name):
    """Delete temporary files of earlier saves of ``name`` whose writing process no longer exists."""
    prefix = f"{_TMP}{name}-"
    try:
        entries = os.listdir(directory)
    except OSError:
        return
    for entry in entries:
        if not entry.startswith(prefix):
            continue
        pid = entry[len(prefix):].split("-", 1)[0]
        if not pid.isdigit() or _process_alive(int(pid)):
            continue  # another writer's file in progress (or not ours to judge)
        try:
            os.unlink(os.path.join(directory, entry))
        except OSError:
            pass


def _process_alive(pid):
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGIC = b"PK"


def load(path, map_location=None):
    """Read a checkpoint written by :func:`save`, or a plain ``.npz`` of named arrays; never unpickles.

    ``map_location``: 'cpu' or 'cuda' to put every tensor there (default: the
    device it was saved from).  A plain ``.npz`` (``np.savez(path, **arrays)``,
    e.g. a PyTorch state dict saved as NumPy arrays) loads as a dict of name ->
    Tensor.

    Raises FileNotFoundError when there is no file at ``path`` and
    :class:`CheckpointError` for everything else that makes it unreadable (a folder, no
    permission to read, a ``.npy`` or other non-``.npz`` file, truncated or corrupt data,
    pickled objects, a damaged manifest), each naming the cause; ``DeviceError`` when a
    tensor's device is not available here (pass ``map_location="cpu"``).
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(errno.ENOENT, "no checkpoint at this path", path)
    if os.path.isdir(path):
        raise CheckpointError(f"{path!r} is a folder, not a checkpoint file")
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError as e:
        raise CheckpointError(f"cannot read {path!r}: {e.strerror or e}") from None
    if head.startswith(_NPY_MAGIC):
        raise CheckpointError(f"{path!r} is a .npy file (one NumPy array), not a checkpoint (an .npz archive): read it "
                              "with numpy.load, or write checkpoints with mg.save or numpy.savez")
    if not head.startswith(_ZIP_MAGIC):
        raise CheckpointError(f"{path!r} is not a checkpoint: not an .npz (zip) archive "
                              f"({os.path.getsize(path)} bytes starting {head[:4]!r})")
    try:
        with np.load(path, allow_pickle=False) as npz:
            names = list(npz.files)
            if MANIFEST not in names:  # a plain .npz of named arrays
                _check_only_arrays(path, npz.zip.namelist())
                return {name: Tensor(B.to_device(npz[name], map_location or "cpu")) for name in names}
            manifest = json.loads(npz[MANIFEST].tobytes().decode("utf-8"))
            arrays = {k: npz[k] for k in names if k != MANIFEST}
    except (CheckpointError, B.DeviceError):
        raise
    except ValueError as e:
        if "pickle" in str(e).lower():
            raise CheckpointError(f"{path!r} holds Python objects (pickled arrays), which mg.load never "
                                  "unpickles") from None
        raise _corrupt(path, e) from None
    except (zipfile.BadZipFile, EOFError, OSError, KeyError, UnicodeDecodeError, RecursionError) as e:
        raise _corrupt(path, e) from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
        raise CheckpointError(f"{path!r} is not a minigrad checkpoint (format {found!r})")
    version = manifest.get("version", 0)
    if not isinstance(version, int) or isinstance(version, bool):
        raise CheckpointError(f"{path!r}: damaged manifest (version {version!r})")
    if version > VERSION:
        raise CheckpointError(f"{path!r} was written by a newer minigrad (format version {version})")
    if "root" not in manifest:
        raise CheckpointError(f"{path!r}: damaged manifest (no root entry)")
    try:
        return _decode(manifest["root"], arrays, map_location)
    except (CheckpointError, B.DeviceError):
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, RecursionError) as e:
        raise CheckpointError(f"{path!r}: damaged manifest ({type(e).__name__}: {str(e)[:200]})") from None


def _check_only_arrays(path, members):
    """Refuse a zip archive with members that are not ``.npy`` arrays (NumPy would hand them over as raw bytes)."""
    others = [m for m in members if not m.endswith(".npy")]
    if any(m.endswith("data.pkl") for m in others):
        raise CheckpointError(f"{path!r} was written by torch.save (pickled objects), which mg.load never unpickles: "
                              "save the state dict as NumPy arrays, numpy.savez(path, **{k: v.numpy() for k, v in "
                              "state_dict.items()})")
    if others:
        raise CheckpointError(f"{path!r} is a zip archive but not an .npz of arrays: member {others[0]!r} is not "
                              "a .npy array")


def _corrupt(path, e):
    size = os.path.getsize(path)
    return CheckpointError(
        f"cannot read checkpoint {path!r} ({size} bytes): the file is truncated, corrupt or not written by "
        f"mg.save ({type(e).__name__}: {str(e)[:200]})"
    )
