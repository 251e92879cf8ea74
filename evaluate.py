"""Read handwritten digits from image files with the trained MNIST model.

  python evaluate.py photo.jpg drawings/        one line per image: "photo.jpg: 7 (98.4%)"
  python evaluate.py --number year.png          a number written in a row: "year.png: 2024 (...)"
  python evaluate.py                            no images: evaluate the model on the MNIST test set

Every image is prepared the way MNIST's digits were made (see preprocess.py) before the model sees it.
Exit status: 0 all images predicted, 1 some inputs failed (each named on stderr), 2 usage or model problem.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cli import HelpFormatter
from inference import DEFAULT_TFLITE_PATH, ModelError, load_predictor
from preprocess import ImageError, is_image_path, open_image, preprocess, segment_number

LOW_CONFIDENCE = 0.60  # below this probability an answer is flagged: the digit may well be something else
DEFAULT_TOP_K = 1
NUM_DIGITS = 10
PARALLEL_MIN_FILES = 50  # per worker process: below this, starting processes costs more than it saves
EXIT_OK, EXIT_INPUT_FAILED, EXIT_USAGE = 0, 1, 2


@dataclass
class Item:
    """One input: its path as the user wrote it, and either the images to classify or the reason it failed."""

    path: str
    images: list[np.ndarray] = field(default_factory=list)
    spaces: list[bool] = field(default_factory=list)  # --number: a wide gap before each digit
    error: str | None = None
    probabilities: np.ndarray | None = None  # (len(images), 10) once predicted


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    parser.add_argument("paths", nargs="*", metavar="PATH", help="image files or folders of images; none: evaluate on MNIST's test set")
    parser.add_argument("--model", type=Path, default=DEFAULT_TFLITE_PATH, help="trained model, .tflite (fast) or .keras")
    parser.add_argument("--top-k", type=int, default=DEFAULT_TOP_K, metavar="K", help="show the K most likely digits with probabilities")
    parser.add_argument("--json", action="store_true", help="print one JSON array, one object per input")
    parser.add_argument("--number", action="store_true", help="each image holds a number written in a row: read every digit")
    parser.add_argument("--save-preprocessed", type=Path, metavar="DIR", help="write the 28x28 image the model saw for each input here")
    parser.add_argument("--data", help="MNIST .npz or IDX folder for the no-image mode (default: $MNIST_DATA, then the Keras cache)")
    return parser


def expand_paths(paths: Sequence[str]) -> list[Item]:
    """Files as given; folders as their image files, sorted. A folder without images is a failed item."""
    items = []
    for path in paths:
        if os.path.isdir(path):
            names = sorted(name for name in os.listdir(path) if is_image_path(name) and os.path.isfile(os.path.join(path, name)))
            if not names:
                items.append(Item(path, error="folder holds no image files"))
            items.extend(Item(os.path.join(path, name)) for name in names)
        else:
            items.append(Item(path))
    return items


def _reason(error: Exception, path: str) -> str:
    """The error message without a leading file name, which the output adds itself."""
    message = str(error)
    prefix = f"{path}: "
    return message[len(prefix) :] if message.startswith(prefix) else message


def prepare(item: Item, number: bool) -> None:
    """Open and preprocess one input in place, recording a one-line error instead of raising."""
    try:
        image = open_image(item.path)
        if number:
            digits = segment_number(image)
            item.images = [digit.image for digit in digits]
            item.spaces = [digit.space_before for digit in digits]
        else:
            item.images = [preprocess(image)]
    except ImageError as error:
        item.error = _reason(error, item.path)
    except MemoryError:
        item.error = "not enough memory to decode this image"


def _prepare_one(task: tuple[Item, bool]) -> Item:
    item, number = task
    prepare(item, number)
    return item


def prepare_all(items: list[Item], number: bool) -> None:
    """Preprocess every input in place; large batches use a process per CPU core."""
    todo = [index for index, item in enumerate(items) if item.error is None]
    workers = min(os.cpu_count() or 1, len(todo) // PARALLEL_MIN_FILES)
    if workers < 2:
        for index in todo:
            prepare(items[index], number)
        return
    import multiprocessing

    # fork: the workers start instantly with preprocess already imported.
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        done = pool.map(_prepare_one, [(items[index], number) for index in todo], chunksize=16)
    for index, item in zip(todo, done, strict=True):
        items[index] = item


def _top(probabilities: np.ndarray, k: int) -> list[dict]:
    order = np.argsort(probabilities)[::-1][:k]
    return [{"digit": int(d), "probability": round(float(probabilities[d]), 6)} for d in order]


def _percent(value: float) -> str:
    return f"{100 * value:.1f}%"


def describe(item: Item, top_k: int, number: bool) -> dict:
    """The JSON object for one input (also the source of its text line)."""
    record: dict = {"path": item.path, "digit": None, "confidence": None, "error": item.error, "top_k": []}
    if item.error is not None or item.probabilities is None:
        if number:
            record.update(number=None, digits=[])
        return record
    probabilities = item.probabilities
    labels = [int(row.argmax()) for row in probabilities]
    confidences = [float(row.max()) for row in probabilities]
    if number:
        spaces = item.spaces or [False] * len(labels)
        record["number"] = "".join((" " if space else "") + str(label) for space, label in zip(spaces, labels, strict=True))
        record["digits"] = [
            {"digit": label, "confidence": round(confidence, 6), "top_k": _top(row, top_k)}
            for label, confidence, row in zip(labels, confidences, probabilities, strict=True)
        ]
        # A number is only as sure as its least sure digit.
        record["digit"] = labels[0] if len(labels) == 1 else None
        record["confidence"] = round(min(confidences), 6)
        record["top_k"] = _top(probabilities[0], top_k) if len(labels) == 1 else []
    else:
        record["digit"] = labels[0]
        record["confidence"] = round(confidences[0], 6)
        record["top_k"] = _top(probabilities[0], top_k)
    record["low_confidence"] = record["confidence"] < LOW_CONFIDENCE
    return record


def text_line(record: dict, top_k: int) -> str:
    """`path: 7 (98.4%)`, flagged when unsure, with the top K when asked."""
    if "number" in record:
        digits = ", ".join(
            f"{d['digit']}: {_percent(d['confidence'])}" + (" low" if d["confidence"] < LOW_CONFIDENCE else "") for d in record["digits"]
        )
        line = f"{record['path']}: {record['number']} ({digits})"
        if top_k > 1:
            per_digit = (" ".join(f"{t['digit']}:{_percent(t['probability'])}" for t in d["top_k"]) for d in record["digits"])
            line += f"  top-{top_k}: " + " | ".join(per_digit)
        return line
    flag = ", low confidence" if record["low_confidence"] else ""
    line = f"{record['path']}: {record['digit']} ({_percent(record['confidence'])}{flag})"
    if top_k > 1:
        line += f"  top-{top_k}: " + ", ".join(f"{t['digit']} {_percent(t['probability'])}" for t in record["top_k"])
    return line


def save_preprocessed(items: list[Item], folder: Path) -> None:
    """Write each 28x28 model input as a PNG named after its file (…_digit0.png, … for numbers)."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    used: set[str] = set()
    for item in items:
        stem = Path(item.path).stem or "image"
        for index, image in enumerate(item.images):
            base = f"{stem}_digit{index}" if len(item.images) > 1 else stem
            name, copy = f"{base}.png", 2
            while name in used:  # two inputs with one name (a/1.png, b/1.png) keep both
                name, copy = f"{base}-{copy}.png", copy + 1
            used.add(name)
            pixels = np.round(image[..., 0] * 255).astype(np.uint8)
            Image.fromarray(pixels, mode="L").save(folder / name)


def evaluate_mnist(args: argparse.Namespace, predictor) -> int:
    """The no-image mode: accuracy, loss, per-class report and confusion matrix on the MNIST test set."""
    from data import DataError, load_mnist
    from metrics import format_report, summarize

    try:
        dataset = load_mnist(args.data)
    except DataError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    summary = summarize(dataset.y_test, predictor.predict(dataset.x_test))
    if args.json:
        print(json.dumps({"model": str(predictor.path), "backend": predictor.backend, "data": dataset.source, **summary}))
    else:
        print(f"model {predictor.path} ({predictor.backend}) on the MNIST test set ({len(dataset.y_test)} images from {dataset.source})")
        print(format_report(summary))
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not 1 <= args.top_k <= NUM_DIGITS:
        parser.error(f"--top-k must be between 1 and {NUM_DIGITS}, got {args.top_k}")
    try:
        predictor = load_predictor(args.model)
    except ModelError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    if not args.paths:
        return evaluate_mnist(args, predictor)

    items = expand_paths(args.paths)
    prepare_all(items, args.number)
    # One predictor call for every image: per-call overhead is paid once, not per file.
    batch = [image for item in items for image in item.images]
    if batch:
        probabilities = predictor.predict(np.stack(batch))
        start = 0
        for item in items:
            item.probabilities = probabilities[start : start + len(item.images)]
            start += len(item.images)
    if args.save_preprocessed is not None:
        try:
            save_preprocessed(items, args.save_preprocessed)
        except OSError as error:
            print(f"error: cannot write preprocessed images to {args.save_preprocessed}: {error.strerror or error}", file=sys.stderr)
            return EXIT_USAGE

    records = [describe(item, args.top_k, args.number) for item in items]
    if args.json:
        print(json.dumps(records, indent=2))
    else:
        for record in records:
            if record["error"] is None:
                print(text_line(record, args.top_k))
            else:
                print(f"{record['path']}: error: {record['error']}", file=sys.stderr)
    return EXIT_INPUT_FAILED if any(record["error"] is not None for record in records) else EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
