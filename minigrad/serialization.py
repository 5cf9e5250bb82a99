"""``mg.save`` / ``mg.load``: checkpoints as plain ``.npz`` files, never pickle.

The file holds one array per tensor (``t0``, ``t1``, ...) and a JSON
description of the structure (dicts, lists, numbers, strings) in the entry
``__minigrad__``.  It is written to a temporary file in the same directory
and renamed over the target, so an interrupted save leaves the previous
checkpoint intact.
"""
from __future__ import annotations

import json
import os
import tempfile
import zipfile

import numpy as np

from . import _backend as B
from .engine import Tensor

FORMAT = "minigrad-checkpoint"
VERSION = 1
MANIFEST = "__minigrad__"


class CheckpointError(ValueError):
    """A file is not a readable minigrad checkpoint (truncated, foreign or corrupt)."""


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
    ``path`` only once it is complete.
    """
    path = os.fspath(path)
    arrays: dict = {}
    structure = _encode(obj, arrays, "obj")
    manifest = json.dumps({"format": FORMAT, "version": VERSION, "root": structure})
    arrays[MANIFEST] = np.frombuffer(manifest.encode("utf-8"), dtype=np.uint8)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-" + os.path.basename(path) + "-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes the file private (0600); give it the usual mode
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def load(path, map_location=None):
    """Read a checkpoint written by :func:`save`; never unpickles.

    ``map_location``: 'cpu' or 'cuda' to put every tensor there (default: the
    device it was saved from).  Raises :class:`CheckpointError` for a truncated,
    corrupt or foreign file.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no checkpoint at {path!r}")
    try:
        with np.load(path, allow_pickle=False) as npz:
            if MANIFEST not in npz.files:
                raise CheckpointError(f"{path!r} is an .npz file but not a minigrad checkpoint (no {MANIFEST} entry)")
            manifest = json.loads(npz[MANIFEST].tobytes().decode("utf-8"))
            if manifest.get("format") != FORMAT:
                raise CheckpointError(f"{path!r} is not a minigrad checkpoint (format {manifest.get('format')!r})")
            if manifest.get("version", 0) > VERSION:
                raise CheckpointError(f"{path!r} was written by a newer minigrad (format version {manifest['version']})")
            arrays = {k: npz[k] for k in npz.files if k != MANIFEST}
    except CheckpointError:
        raise
    except (zipfile.BadZipFile, EOFError, ValueError, OSError, KeyError, UnicodeDecodeError) as e:
        size = os.path.getsize(path)
        raise CheckpointError(
            f"cannot read checkpoint {path!r} ({size} bytes): the file is truncated, corrupt or not written by "
            f"mg.save ({type(e).__name__}: {e})"
        ) from None
    return _decode(manifest["root"], arrays, map_location)
