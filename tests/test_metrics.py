"""metrics.py: accuracy, loss, confusion matrix and per-class report against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

import metrics


def test_summary_by_hand():
    labels = np.array([0, 0, 1, 2])
    probabilities = np.array([[0.9, 0.1, 0.0], [0.2, 0.8, 0.0], [0.1, 0.7, 0.2], [0.0, 0.0, 1.0]])
    summary = metrics.summarize(labels, probabilities)
    assert summary["accuracy"] == pytest.approx(0.75)
    assert summary["loss"] == pytest.approx(-np.mean(np.log([0.9, 0.2, 0.7, 1.0])))
    assert summary["confusion_matrix"] == [[1, 1, 0], [0, 1, 0], [0, 0, 1]]
    assert summary["per_class"]["0"] == {"precision": 1.0, "recall": 0.5, "f1": pytest.approx(2 / 3), "support": 2}
    assert summary["per_class"]["1"]["precision"] == pytest.approx(0.5)


def test_zero_probability_loss_is_finite():
    summary = metrics.summarize(np.array([1]), np.array([[1.0, 0.0]]))
    assert np.isfinite(summary["loss"]) and summary["loss"] > 10


def test_report_text_lists_every_class():
    labels = np.arange(10)
    text = metrics.format_report(metrics.summarize(labels, np.eye(10)))
    assert "accuracy 100.00%" in text
    assert len([line for line in text.splitlines() if line.strip().startswith(("0", "9"))]) >= 2
