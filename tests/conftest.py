"""Shared fixtures: the project root on sys.path, and real MNIST when MNIST_DATA points at it."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@pytest.fixture(scope="session")
def mnist_path() -> Path:
    """Path to the real mnist.npz from MNIST_DATA; skips the test when it is not available."""
    value = os.environ.get("MNIST_DATA")
    if not value or not Path(value).exists():
        pytest.skip("real MNIST not available: set MNIST_DATA=path/to/mnist.npz")
    return Path(value)
