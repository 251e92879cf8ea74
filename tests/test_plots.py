"""plots.py: every plot is a real PNG written from plain data, atomically."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import plots

HISTORY = {"accuracy": [0.9, 0.95, 0.97], "loss": [0.3, 0.15, 0.1], "val_accuracy": [0.92, 0.96, 0.975], "val_loss": [0.25, 0.12, 0.09]}


def fake_predictions(count: int = 50):
    rng = np.random.default_rng(1)
    images = rng.random((count, 28, 28, 1), dtype=np.float32)
    labels = rng.integers(0, 10, count)
    probabilities = rng.dirichlet(np.ones(10), count).astype(np.float32)
    return images, labels, probabilities


def assert_png(path):
    assert path.exists() and path.stat().st_size > 1000
    with Image.open(path) as image:
        assert image.format == "PNG" and image.width > 200
    assert not [p for p in path.parent.iterdir() if ".tmp" in p.name], "temporary file left behind"


@pytest.mark.parametrize("with_validation", [True, False], ids=["train+val", "train-only"])
def test_history(tmp_path, with_validation):
    history = HISTORY if with_validation else {k: v for k, v in HISTORY.items() if not k.startswith("val_")}
    assert_png(plots.plot_history(history, tmp_path / "history.png"))


def test_confusion_matrix(tmp_path):
    matrix = np.diag(np.full(10, 100)) + np.eye(10, k=1, dtype=int)
    assert_png(plots.plot_confusion_matrix(matrix, tmp_path / "cm.png"))


def test_grids(tmp_path):
    images, labels, probabilities = fake_predictions()
    assert_png(plots.plot_worst_mistakes(images, labels, probabilities, tmp_path / "worst.png"))
    assert_png(plots.plot_sample_predictions(images, labels, probabilities, tmp_path / "sample.png"))


def test_no_mistakes_still_plots(tmp_path):
    images, labels, _ = fake_predictions(10)
    assert_png(plots.plot_worst_mistakes(images, labels, np.eye(10)[labels], tmp_path / "worst.png"))


def test_failed_write_keeps_old_file(tmp_path):
    target = tmp_path / "history.png"
    target.write_bytes(b"old")
    with pytest.raises(KeyError):
        plots.plot_history({"accuracy": [1.0]}, target)  # no "loss": fails mid-plot
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["history.png"]
