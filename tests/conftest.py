"""Shared test settings: the hypothesis profiles and the ``gpu`` marker.

The ``ci`` profile (default) is derandomized and bounded so the suite is
reproducible and fast; ``HYPOTHESIS_PROFILE=thorough`` draws many more examples.
"""
import os
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

sys.path.insert(0, os.path.dirname(__file__))  # the op registry and helpers live beside the tests

settings.register_profile(
    "ci", derandomize=True, max_examples=8, deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("thorough", max_examples=200, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def _emulating():
    return os.environ.get("MINIGRAD_EMULATE_CUDA", "") == "1"


if _emulating():  # before anything imports CuPy: minigrad finds the emulated device (tests/cuda_emulator)
    import cuda_emulator

    cuda_emulator.install()


def _cuda_available():
    try:
        import minigrad as mg

        return mg.cuda.is_available()
    except Exception:
        return False


CUDA = _cuda_available()


def pytest_addoption(parser):
    parser.addoption("--emulate-cuda", action="store_true",
                     help="run the gpu tests on the emulated CUDA device of tests/cuda_emulator "
                          "(as MINIGRAD_EMULATE_CUDA=1; needs the pinned CuPy wheel and g++)")


def pytest_configure(config):
    global CUDA
    if config.getoption("--emulate-cuda") and not _emulating():
        os.environ["MINIGRAD_EMULATE_CUDA"] = "1"
        import cuda_emulator

        cuda_emulator.install()
        CUDA = _cuda_available()


def pytest_report_header(config):
    if _emulating():
        return "CUDA: emulated on the CPU (tests/cuda_emulator)"
    return None


def pytest_collection_modifyitems(config, items):
    skip_gpu = pytest.mark.skip(reason="needs CuPy and a CUDA device")
    for item in items:
        if "gpu" in item.keywords and not CUDA:
            item.add_marker(skip_gpu)


@pytest.fixture(autouse=True)
def _seeded():
    """Every test starts from the same random state."""
    import minigrad as mg

    mg.manual_seed(0)
    np.random.seed(0)
    yield
