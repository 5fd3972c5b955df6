"""The real packaged models, loaded once for every real-model test."""

import pytest

from tokswap import load_model, load_target


@pytest.fixture(scope="session")
def pair():
    """SmolLM2-135M (source) and Gemma-3-270M's vocabulary (target, and the donor `omp` reads)."""
    return load_model("smollm2-135m"), load_target("gemma-3-270m")
