"""Touching pairs: two digits written into each other, read whole by a second, small model.

`python evaluate.py --number` cuts a blob that holds touching digits where the digit model reads both sides
best. Some pairs have no such cut: two digits that share a stroke (the 5 and the 8 of "58"), or one drawn
into the other (a 6 run into a 7, read as one 9). The pair model reads the blob as one picture, 28x48 (two digits'
width), and answers one of the 100 pairs "00".."99" or OTHER (one digit, three, or anything else).

It learns from MNIST's training digits, drawn touching as people write them: pushed together until their
inks meet or overlap, at slightly different heights and sizes, slanted, thin or bold; OTHER from one digit
(wide or narrow), from three digits touching, and from negatives.py's letters, symbols and doodles drawn wide.
Every sample goes through the tail of the path a user's blob takes (preprocess.render: stroke width into
MNIST's range, fitted and centred by mass), so the model sees a pair as it would arrive from evaluate.py. The
realistic generator (benchmarks/) draws its numbers from MNIST's test digits, and the real-image benchmarks use
people's own drawings: none of them are trained on.

    python pairs.py            # 720,000 samples, 8 epochs: the shipped reader (minutes on a GPU, hours on 2 CPU cores)
    python pairs.py --count 240000 --epochs 4 --out-dir runs/pairs   # about 40 min on 2 cores, about 1% less accurate
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

import negatives
from cli import HelpFormatter, fail
from preprocess.render import PAIR_BOX, PAIR_CANVAS, RENDER_SCALE, fit_and_centre, normalize_strokes

PAIRS = 100  # classes 0..99: the pair "ab" is 10 * a + b
OTHER = 100  # one digit, three, or anything that is not two digits
NUM_PAIR_CLASSES = 101
PAIR_MODEL_NAME = "pairs"
# Digits are drawn this many pixels tall (RENDER_SCALE times MNIST's 20-pixel box, as preprocess.render draws a
# blob before stroke widths are measured), so that the same stroke-width rule applies.
HEIGHT = RENDER_SCALE * 20
# What each sample holds: two digits touching (the classes that matter), or OTHER: one digit, three, or a letter,
# symbol or doodle (negatives.py's, which the digit model learns "not a digit" from), drawn wide.
KIND_SHARES = {"pair": 0.74, "one": 0.13, "three": 0.07, "not_digit": 0.06}
# How far the second digit's ink is pushed into the first's, in shares of the narrower digit's width: mostly just
# touching (people's pairs, the generator's), sometimes well into each other (a shared stroke).
OVERLAP = ((0.0, 0.1), (0.1, 0.4))
DEEP_OVERLAP_SHARE = 0.35
GAP_SHARE = 0.08  # pairs a hair apart (0-4% of the height): a thin pen's pieces linked into one blob
SIZE_RATIO = (0.85, 1.15)  # the second digit's height against the first's
DROP = 0.12  # either digit sits up to this share of the height higher or lower
SLANT = 0.3  # horizontal shear, either way
WIDEN = (0.8, 1.6)  # one digit alone, stretched sideways: a wide 0 or 4 a blob-width test let through
BOLD_SHARE, THIN_SHARE = 0.2, 0.1  # pens bolder or thinner than MNIST's, brought back by normalize_strokes
CHUNK = 2000  # samples per worker task
VALIDATION_DIGITS = 5000


def _digit_mask(image: np.ndarray, height: int) -> np.ndarray:
    """A float [0, 1] 28x28 digit as a bool mask ``height`` pixels tall, cropped to its ink."""
    rows, cols = np.flatnonzero(image.max(axis=1) > 0.2), np.flatnonzero(image.max(axis=0) > 0.2)
    crop = image[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1].astype(np.float32)
    width = max(1, round(crop.shape[1] * height / crop.shape[0]))
    return cv2.resize(crop, (width, height), interpolation=cv2.INTER_LINEAR) > 0.5


def _join(masks: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """Masks side by side, each pushed into the one before it until their inks meet (or overlap, or nearly meet)."""
    tallest = max(mask.shape[0] for mask in masks)
    drop = round(DROP * tallest)
    ys = [int(rng.integers(0, drop + 1)) + (tallest - mask.shape[0]) // 2 for mask in masks]
    row_height = tallest + drop
    xs = [0]
    for left, right, y_left, y_right in zip(masks, masks[1:], ys, ys[1:], strict=False):
        reach = [-1_000_000]
        for row in range(max(y_left, y_right), min(y_left + left.shape[0], y_right + right.shape[0])):
            left_ink, right_ink = np.flatnonzero(left[row - y_left]), np.flatnonzero(right[row - y_right])
            if left_ink.size and right_ink.size:
                reach.append(left_ink[-1] - right_ink[0])
        narrower = min(left.shape[1], right.shape[1])
        if rng.random() < GAP_SHARE:
            overlap = -rng.uniform(0.0, 0.04) * tallest
        else:
            low, high = OVERLAP[int(rng.random() < DEEP_OVERLAP_SHARE)]
            overlap = rng.uniform(low, high) * narrower
        step = max(reach) + 1 - round(overlap) if max(reach) > -1_000_000 else left.shape[1]
        xs.append(xs[-1] + max(1, int(step)))
    start = min(xs)
    xs = [x - start for x in xs]
    joined = np.zeros((row_height, max(x + mask.shape[1] for x, mask in zip(xs, masks, strict=True))), dtype=bool)
    for mask, y, x in zip(masks, ys, xs, strict=True):
        joined[y : y + mask.shape[0], x : x + mask.shape[1]] |= mask
    return joined


def _hand(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A slant and a pen width, then cropped to the ink."""
    shear = rng.uniform(-SLANT, SLANT)
    height, width = mask.shape
    pad = int(abs(shear) * height) + 2
    matrix = np.float32([[1, shear, pad - (shear * height if shear > 0 else 0)], [0, 1, 0]])
    out = cv2.warpAffine(mask.astype(np.uint8), matrix, (width + 2 * pad, height), flags=cv2.INTER_NEAREST)
    pen = rng.random()
    if pen < BOLD_SHARE:
        size = int(rng.integers(2, 3 * RENDER_SCALE))
        out = cv2.dilate(out, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size)))
    elif pen < BOLD_SHARE + THIN_SHARE:
        size = int(rng.integers(2, RENDER_SCALE))
        thinner = cv2.erode(out, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size)))
        out = thinner if cv2.countNonZero(thinner) > 0.3 * cv2.countNonZero(out) else out
    rows, cols = np.flatnonzero(out.any(axis=1)), np.flatnonzero(out.any(axis=0))
    return out[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1] > 0


def _not_digit(rng: np.random.Generator, fonts: list[Path]) -> np.ndarray:
    """A letter, symbol or doodle as a bool mask HEIGHT pixels tall, stretched as wide as a pair may be."""
    kinds = list(negatives.KIND_SHARES)
    shares = np.array(list(negatives.KIND_SHARES.values()))
    while True:
        ink = negatives.draw_not_digit(rng, kinds[rng.choice(len(kinds), p=shares / shares.sum())], fonts) < 128
        rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
        if rows.size >= 2 and cols.size >= 2:
            break
    crop = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1].astype(np.uint8) * 255
    width = max(1, round(HEIGHT * rng.uniform(*WIDEN) * crop.shape[1] / max(crop.shape)))
    return cv2.resize(crop, (width, HEIGHT), interpolation=cv2.INTER_LINEAR) > 127


def draw_sample(
    images: np.ndarray, labels: np.ndarray, rng: np.random.Generator, fonts: list[Path] | None = None
) -> tuple[np.ndarray, int]:
    """One training picture, float32 (28, 48, 1), and its class: a touching pair (10 * a + b) or OTHER.
    ``fonts``: negatives.py's, for letters and symbols (default: the ones Matplotlib ships)."""
    kinds = list(KIND_SHARES)
    kind = kinds[rng.choice(len(kinds), p=np.array(list(KIND_SHARES.values())))]
    if kind == "not_digit":
        return fit_and_centre(
            normalize_strokes(_hand(_not_digit(rng, negatives.font_paths() if fonts is None else fonts), rng)), PAIR_BOX, PAIR_CANVAS
        ), OTHER
    count = {"pair": 2, "one": 1, "three": 3}[kind]
    picks = rng.integers(0, len(images), size=count)
    heights = [round(HEIGHT * rng.uniform(*SIZE_RATIO)) if i else HEIGHT for i in range(count)]
    masks = [_digit_mask(images[pick, ..., 0], height) for pick, height in zip(picks, heights, strict=True)]
    if kind == "one":
        mask = masks[0]
        width = max(1, round(mask.shape[0] * rng.uniform(*WIDEN)))
        joined = cv2.resize(mask.astype(np.uint8), (width, mask.shape[0]), interpolation=cv2.INTER_NEAREST) > 0
    else:
        joined = _join(masks, rng)
    label = OTHER if kind != "pair" else int(10 * labels[picks[0]] + labels[picks[1]])
    return fit_and_centre(normalize_strokes(_hand(joined, rng)), PAIR_BOX, PAIR_CANVAS), label


def _draw_chunk(task: tuple[np.ndarray, np.ndarray, int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    images, labels, seed, chunk, count = task
    rng = np.random.default_rng([seed, chunk])
    fonts = negatives.font_paths()
    drawn = [draw_sample(images, labels, rng, fonts) for _ in range(count)]
    pictures = np.stack([picture[..., 0] for picture, _ in drawn])
    return np.round(pictures * 255).astype(np.uint8), np.array([label for _, label in drawn], dtype=np.int64)


def make_pairs(
    images: np.ndarray, labels: np.ndarray, count: int, seed: int, workers: int | None = None, progress: Callable[[int], None] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``count`` samples from MNIST-style float (N, 28, 28, 1) digits: uint8 (count, 28, 48) and int64 classes.
    The same for the same seed, however many workers draw them."""
    tasks = [(images, labels, seed, index, min(CHUNK, count - start)) for index, start in enumerate(range(0, count, CHUNK))]
    workers = min(workers or os.cpu_count() or 1, len(tasks))
    chunks = []
    if workers <= 1:
        for task in tasks:
            chunks.append(_draw_chunk(task))
            if progress:
                progress(task[-1])
    else:
        import multiprocessing

        with multiprocessing.get_context("fork").Pool(workers) as pool:
            for chunk in pool.imap(_draw_chunk, tasks):
                chunks.append(chunk)
                if progress:
                    progress(len(chunk[1]))
    return np.concatenate([c[0] for c in chunks]), np.concatenate([c[1] for c in chunks])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    parser.add_argument("--data", default=None, help="MNIST .npz or IDX folder (default: $MNIST_DATA, else Keras's download)")
    parser.add_argument("--count", type=int, default=720_000, help="training samples drawn (once, before training)")
    parser.add_argument("--epochs", type=int, default=8, help="training epochs")
    parser.add_argument("--batch-size", type=int, default=128, help="samples per training step")
    parser.add_argument("--seed", type=int, default=0, help="random seed for the samples and the weights")
    parser.add_argument("--out-dir", default="models", help="where pairs.tflite, pairs.keras and pairs.json are written")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.count < 1000 or args.epochs < 1 or args.batch_size < 1:
        return fail("pairs.py", "--count must be at least 1000, --epochs and --batch-size at least 1")
    from tqdm import tqdm

    from data import DataError, load_mnist
    from inference import import_tensorflow_quietly

    try:
        data = load_mnist(args.data)
    except DataError as error:
        return fail("pairs.py", str(error))
    started = time.perf_counter()
    # The last 5,000 training digits (a tenth of a smaller set) draw the validation pairs; the test digits the test pairs.
    held = min(VALIDATION_DIGITS, len(data.x_train) // 10)
    train_x, train_y = data.x_train[:-held], data.y_train[:-held]
    with tqdm(total=args.count + 2 * args.count // 10, desc="drawing pairs", unit="img") as bar:
        x, y = make_pairs(train_x, train_y, args.count, args.seed, progress=bar.update)
        val_x, val_y = make_pairs(data.x_train[-held:], data.y_train[-held:], args.count // 10, args.seed + 1, progress=bar.update)
        test_x, test_y = make_pairs(data.x_test, data.y_test, args.count // 10, args.seed + 2, progress=bar.update)
    drawn = time.perf_counter() - started
    on_tensorflow = os.environ.get("KERAS_BACKEND", "tensorflow") == "tensorflow"
    if on_tensorflow:
        import_tensorflow_quietly()
    import keras

    from atomic import atomic_path, write_json
    from model import build_pair_model
    from train import strip_optimizer

    keras.utils.set_random_seed(args.seed)
    steps = args.epochs * -(-len(y) // args.batch_size)
    model = build_pair_model(keras.optimizers.schedules.CosineDecay(2e-3, steps, alpha=0.01))
    if not on_tensorflow:
        model.jit_compile = True  # model.py turns XLA off for TensorFlow on the CPU; under JAX that means op by op

    def scaled(images: np.ndarray) -> np.ndarray:
        return (images.astype(np.float32) / 255.0)[..., np.newaxis]

    history = model.fit(scaled(x), y, batch_size=args.batch_size, epochs=args.epochs, validation_data=(scaled(val_x), val_y), verbose=2)
    fitted = time.perf_counter() - started - drawn
    predicted = model.predict(scaled(test_x), batch_size=1024, verbose=0).argmax(axis=1)
    is_pair = test_y != OTHER
    figures = {
        "test_accuracy": float(np.mean(predicted == test_y)),
        "test_pair_accuracy": float(np.mean(predicted[is_pair] == test_y[is_pair])),
        "test_other_recall": float(np.mean(predicted[~is_pair] == OTHER)),
        "val_accuracy": [float(v) for v in history.history["val_accuracy"]],
        "count": args.count,
        "epochs": args.epochs,
        "seed": args.seed,
        "backend": keras.backend.backend(),
        "seconds_drawing": round(drawn, 1),
        "seconds_training": round(fitted, 1),
    }
    out = Path(args.out_dir)
    model = strip_optimizer(model)
    with atomic_path(out / f"{PAIR_MODEL_NAME}.keras") as temporary:
        model.save(temporary)
    written = [".keras", ".json"]
    if on_tensorflow:  # the converter is TensorFlow's (another Keras backend: convert the .keras on a machine with it)
        from train import export_tflite

        export_tflite(model, out / f"{PAIR_MODEL_NAME}.tflite")
        written.insert(0, ".tflite")
    write_json(out / f"{PAIR_MODEL_NAME}.json", figures)
    print(json.dumps({k: v for k, v in figures.items() if k != "val_accuracy"}))
    print(f"wrote {out / PAIR_MODEL_NAME}{', '.join(written)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
