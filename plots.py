"""PNG plots from plain data: training curves, confusion matrix, worst mistakes, sample predictions.

Every function takes arrays or a history dict and a path, writes one PNG atomically and returns the path.
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on servers or in CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from atomic import atomic_path  # noqa: E402
from inference import NOT_A_DIGIT, predicted_labels  # noqa: E402

DPI = 110
GRID_COLUMNS = 8


def _name(label: int) -> str:
    return "not a digit" if label == NOT_A_DIGIT else str(label)


def _save(fig, path: str | os.PathLike) -> Path:
    path = Path(path)
    with atomic_path(path) as temporary:
        fig.savefig(temporary, dpi=DPI, bbox_inches="tight", format="png")
    plt.close(fig)
    return path


def plot_history(history: dict[str, list[float]], path: str | os.PathLike) -> Path:
    """Accuracy and loss per epoch, train vs validation, side by side."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    epochs = np.arange(1, len(history["loss"]) + 1)
    for axis, metric, title in ((axes[0], "accuracy", "Accuracy"), (axes[1], "loss", "Loss")):
        axis.plot(epochs, history[metric], "o-", label="train")
        if f"val_{metric}" in history:
            axis.plot(epochs, history[f"val_{metric}"], "s-", label="validation")
        axis.set_title(f"{title} per epoch")
        axis.set_xlabel("epoch")
        axis.set_ylabel(metric)
        axis.grid(alpha=0.3)
        axis.legend()
    if len(epochs) <= 20:
        for axis in axes:
            axis.set_xticks(epochs)
    return _save(fig, path)


def plot_confusion_matrix(matrix: np.ndarray, path: str | os.PathLike, title: str = "Confusion matrix (test set)") -> Path:
    """Counts per (true, predicted) pair; the log colour scale keeps the rare mistakes visible beside the diagonal."""
    matrix = np.asarray(matrix)
    size = matrix.shape[0]
    fig, axis = plt.subplots(figsize=(7, 6))
    image = axis.imshow(np.log1p(matrix), cmap="Blues")
    threshold = np.log1p(matrix).max() / 2
    for true in range(size):
        for predicted in range(size):
            count = matrix[true, predicted]
            if count:
                colour = "white" if np.log1p(count) > threshold else "black"
                axis.text(predicted, true, str(count), ha="center", va="center", color=colour, fontsize=8)
    tick_labels = ["none" if label == NOT_A_DIGIT else str(label) for label in range(size)]
    axis.set_xticks(range(size), tick_labels)
    axis.set_yticks(range(size), tick_labels)
    axis.set_xlabel("predicted digit")
    axis.set_ylabel("true digit")
    accuracy = np.trace(matrix) / max(matrix.sum(), 1)
    axis.set_title(f"{title}: {accuracy:.2%} correct")
    fig.colorbar(image, ax=axis, label="log(1 + count)")
    return _save(fig, path)


def _image_grid(images: np.ndarray, captions: list[str], colours: list[str], title: str, path: str | os.PathLike) -> Path:
    count = len(images)
    rows = max(1, -(-count // GRID_COLUMNS))
    fig, axes = plt.subplots(rows, GRID_COLUMNS, figsize=(GRID_COLUMNS * 1.4, rows * 1.6 + 0.4), squeeze=False)
    for index, axis in enumerate(axes.flat):
        axis.axis("off")
        if index < count:
            axis.imshow(images[index].squeeze(), cmap="gray", vmin=0, vmax=1)
            axis.set_title(captions[index], fontsize=8, color=colours[index])
    fig.suptitle(title)
    return _save(fig, path)


def plot_worst_mistakes(
    images: np.ndarray, labels: np.ndarray, probabilities: np.ndarray, path: str | os.PathLike, count: int = 32
) -> Path:
    """The misclassified images the model was most confident about, with true, predicted and confidence."""
    predictions = predicted_labels(probabilities)
    wrong = np.flatnonzero(predictions != labels)
    worst = wrong[np.argsort(-probabilities[wrong, predictions[wrong]])][:count]
    captions = [f"true {labels[i]}, pred {_name(predictions[i])}\n{probabilities[i, predictions[i]]:.1%}" for i in worst]
    title = f"Most confident mistakes ({len(wrong)} wrong of {len(labels)})"
    return _image_grid(images[worst], captions, ["red"] * len(worst), title, path)


def plot_sample_predictions(
    images: np.ndarray, labels: np.ndarray, probabilities: np.ndarray, path: str | os.PathLike, count: int = 32, seed: int = 0
) -> Path:
    """A random sample of images with their predicted digit and confidence; mistakes in red."""
    chosen = np.random.default_rng(seed).choice(len(labels), size=min(count, len(labels)), replace=False)
    predictions = predicted_labels(probabilities)
    captions = [f"pred {_name(predictions[i])} ({probabilities[i, predictions[i]]:.1%})\ntrue {_name(labels[i])}" for i in chosen]
    colours = ["green" if predictions[i] == labels[i] else "red" for i in chosen]
    return _image_grid(images[chosen], captions, colours, "Sample test predictions", path)
