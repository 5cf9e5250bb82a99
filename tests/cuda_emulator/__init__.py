"""An emulated CUDA device for the test suite: minigrad's real CuPy code path, run on the CPU.

``install()`` puts a stand-in ``cupy`` (and the few ``cupyx`` parts minigrad uses) into ``sys.modules``.
minigrad then imports it as it would import CuPy on a GPU machine, sees one (or more) CUDA devices and
runs every ``--device cuda`` code path on it.  The stand-in keeps the properties of CuPy that bugs hide
behind:

* device arrays are not ``numpy.ndarray``; turning one into a NumPy array implicitly (``numpy.asarray``,
  ``__array__``) raises ``TypeError`` and NumPy arrays given to device functions are refused, as CuPy does;
* only the functions and keyword arguments that the installed CuPy offers exist, checked against its own
  namespace and signatures (the installed CuPy must be :data:`PINNED_CUPY`);
* reductions give 0-d device arrays, ``empty()`` is filled with NaN so a read of memory nobody wrote shows;
* a configurable number of devices, each array on one of them, and an op that mixes devices (or runs on an
  array that is not on the current device) is refused;
* ``cupy.ElementwiseKernel`` is executed for real: CuPy's own code generator writes the kernel source,
  g++ compiles it with a small header standing in for CUDA (``cuda_host.h``), and its "threads" run in
  sequential, reverse or shuffled order (see :mod:`cuda_emulator.kernels`).

What it cannot show: launch configuration, memory limits, races between truly concurrent threads, speed.

Switched on by ``MINIGRAD_EMULATE_CUDA=1`` or ``pytest --emulate-cuda``; ``MINIGRAD_EMULATE_CUDA_DEVICES``
sets the number of devices (default 1), ``MINIGRAD_EMULATE_THREAD_ORDER`` the thread order
(``sequential``, ``reverse`` or ``shuffled``, the default).
"""
from __future__ import annotations

import os
import sys

#: The CuPy release this emulator is written against (the wheel CI installs: cupy-cuda12x).
PINNED_CUPY = "14.2.0"

_installed = None


def real_cupy():
    """The installed CuPy (imported without a GPU), checked to be the pinned version."""
    from . import fake_cupy  # noqa: PLC0415

    return fake_cupy.real_cupy()


def install():
    """Put the emulated ``cupy``/``cupyx`` into ``sys.modules`` (idempotent); returns the emulated ``cupy``."""
    global _installed
    if _installed is not None:
        return _installed
    from . import fake_cupy  # noqa: PLC0415

    real = fake_cupy.real_cupy()  # imported first: its code generator, namespace and signatures are used
    fake_cupy.module.__version__ = real.__version__
    fake_cupy.set_device_count(int(os.environ.get("MINIGRAD_EMULATE_CUDA_DEVICES", "1")))
    sys.modules["cupy"] = fake_cupy.module
    sys.modules["cupyx"] = fake_cupy.cupyx
    sys.modules["cupyx.scipy"] = fake_cupy.cupyx.scipy
    sys.modules["cupyx.scipy.special"] = fake_cupy.cupyx.scipy.special
    _installed = fake_cupy.module
    return _installed


def installed():
    return _installed is not None
