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


def _cuda_available():
    try:
        import minigrad as mg

        return mg.cuda.is_available()
    except Exception:
        return False


CUDA = _cuda_available()


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
