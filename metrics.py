"""Classification metrics from predicted probabilities: accuracy, loss, per-class report, confusion matrix."""

from __future__ import annotations

import numpy as np

from data import NUM_CLASSES
from inference import predicted_labels

EPSILON = 1e-7  # Keras clips probabilities to this before taking the log; so do we


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, num_classes: int = NUM_CLASSES) -> np.ndarray:
    """int64 (C, C): rows are true classes, columns predicted classes."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (labels, predictions), 1)
    return matrix


def per_class_report(matrix: np.ndarray) -> dict[str, dict[str, float]]:
    """Precision, recall, F1 and support for each class of a confusion matrix, keyed by the class as a string."""
    true_positives = np.diag(matrix).astype(np.float64)
    predicted = matrix.sum(axis=0)
    actual = matrix.sum(axis=1)
    report = {}
    for label in range(matrix.shape[0]):
        precision = true_positives[label] / predicted[label] if predicted[label] else 0.0
        recall = true_positives[label] / actual[label] if actual[label] else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        report[str(label)] = {
            "precision": float(precision),
            "recall": float(recall),
            "f1": float(f1),
            "support": int(actual[label]),
        }
    return report


def summarize(labels: np.ndarray, probabilities: np.ndarray) -> dict:
    """Accuracy, crossentropy loss, per-class report and confusion matrix for (N,) labels and (N, C) probabilities.

    Answers follow inference.predicted_labels, so a digit turned away as "not a digit" counts as wrong.
    """
    predictions = predicted_labels(probabilities)
    picked = np.clip(probabilities[np.arange(len(labels)), labels], EPSILON, 1.0)
    matrix = confusion_matrix(labels, predictions, probabilities.shape[1])
    return {
        "accuracy": float((predictions == labels).mean()),
        "loss": float(-np.log(picked).mean()),
        "per_class": per_class_report(matrix),
        "confusion_matrix": matrix.tolist(),
    }


def format_report(summary: dict) -> str:
    """A plain-text classification report and confusion matrix, like scikit-learn's, for the terminal."""
    lines = [f"accuracy {summary['accuracy']:.2%}   loss {summary['loss']:.4f}", "", "class  precision  recall  f1      support"]
    for label, row in summary["per_class"].items():
        lines.append(f"{label:>5}  {row['precision']:9.4f}  {row['recall']:6.4f}  {row['f1']:6.4f}  {row['support']:7d}")
    lines += ["", "confusion matrix (rows: true, columns: predicted)"]
    lines.append("      " + "".join(f"{label:>6}" for label in range(len(summary["confusion_matrix"]))))
    for label, row in enumerate(summary["confusion_matrix"]):
        lines.append(f"{label:>6}" + "".join(f"{count:>6}" for count in row))
    return "\n".join(lines)
