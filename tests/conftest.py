"""Shared fixtures: the project root on sys.path, and real MNIST when MNIST_DATA points at it."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

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


def draw_bars(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A learnable toy task in MNIST's format: label d is a white bar at a position set by d."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, count).astype(np.uint8)
    images = np.zeros((count, 28, 28), np.uint8)
    for image, label in zip(images, labels, strict=True):
        canvas = Image.new("L", (28, 28))
        offset = 2 + 2 * int(label) + int(rng.integers(0, 2))
        ImageDraw.Draw(canvas).rectangle([offset, 4, offset + 2, 23], fill=255)
        image[:] = np.asarray(canvas)
    return images, labels


@pytest.fixture(scope="session")
def toy_npz(tmp_path_factory) -> Path:
    x_train, y_train = draw_bars(600, seed=0)
    x_test, y_test = draw_bars(200, seed=1)
    path = tmp_path_factory.mktemp("data") / "toy.npz"
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return path


@pytest.fixture(scope="session")
def trained(tmp_path_factory, toy_npz) -> Path:
    """A short train.py run of two members on the toy task (test_train.py and test_ensemble.py read it)."""
    import train

    out_dir = tmp_path_factory.mktemp("run")
    flags = ["--data", str(toy_npz), "--out-dir", str(out_dir), "--epochs", "3", "--batch-size", "32", "--seed", "1", "--members", "2"]
    code = train.main(flags)  # two members: an ensemble, as the shipped model is
    assert code == 0
    return out_dir
