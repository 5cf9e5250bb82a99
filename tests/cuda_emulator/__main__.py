"""``python tests/cuda_emulator ARGS``: the ``minigrad`` command on the emulated CUDA device.

For example ``python tests/cuda_emulator train lenet --device cuda --epochs 1 --limit 256``.  The
emulator is installed before minigrad imports CuPy, so ``--device cuda`` runs minigrad's CuPy path.
"""
import os
import sys

if __package__ in (None, ""):  # run as a directory: make ``cuda_emulator`` and minigrad importable
    tests = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    sys.path[:1] = [tests, os.path.dirname(tests)]

import cuda_emulator  # noqa: E402

os.environ["MINIGRAD_EMULATE_CUDA"] = "1"
cuda_emulator.install()

from minigrad.cli import main  # noqa: E402

sys.exit(main(sys.argv[1:]))
