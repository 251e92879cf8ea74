"""Train a CNN on MNIST and save the model, its TFLite export, metrics and plots.

The test set is touched once, after training, for the final report: validation comes from
the training set and the model kept is always the last epoch's.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import math
import os
import platform
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's C++ start-up notices are noise here

import numpy as np  # noqa: E402

import data  # noqa: E402
import metrics  # noqa: E402
import plots  # noqa: E402
from atomic import atomic_path, write_json  # noqa: E402
from cli import HelpFormatter  # noqa: E402
from inference import MODEL_DIR, MODEL_NAME, ModelError, load_predictor  # noqa: E402


@dataclass(frozen=True)
class Recipe:
    """How an architecture is meant to be trained; the CLI's defaults come from here."""

    epochs: int
    batch_size: int
    learning_rate: float  # Adam's (peak) learning rate
    validation_split: float  # fraction of the training set held out for validation
    augment: bool  # random rotation / shift / zoom of the training images
    schedule: bool  # one-cycle learning rate (warm up, then cosine decay to zero)


# Keys are model.py's architecture names (not imported from there: it loads TensorFlow, and --help should be instant).
RECIPES = {
    # Our stronger CNN. A small validation slice only for monitoring: the model kept is
    # always the last epoch's, so every image not held out goes to training.
    "default": Recipe(epochs=12, batch_size=128, learning_rate=3e-3, validation_split=0.08, augment=True, schedule=True),
    # The classic reference, trained as it always was: no augmentation, constant learning rate.
    "seed": Recipe(epochs=10, batch_size=60, learning_rate=1e-3, validation_split=0.3, augment=False, schedule=False),
}
DEFAULT_ARCH = "default"
DEFAULT_SEED = 42
TFLITE_TOLERANCE = 1e-4  # largest allowed |keras - tflite| probability difference
TFLITE_CHECK_IMAGES = 1000  # test images used to compare the two exports
# Augmentation ranges for the default recipe: MNIST digits are already centred and upright,
# so only small perturbations keep the labels true.
MAX_ROTATION_DEGREES = 10.0
MAX_SHIFT_PIXELS = 2.5
MAX_ZOOM = 0.1  # scale in [1 - MAX_ZOOM, 1 + MAX_ZOOM]
WARMUP_FRACTION = 0.15  # share of the steps spent warming the learning rate up (one-cycle)
WARMUP_START_FACTOR = 0.1  # warm-up starts at this fraction of the peak learning rate
VERSIONED_PACKAGES = ("tensorflow", "keras", "numpy", "matplotlib", "pillow", "ai-edge-litert")


def _recipe_help(field: str) -> str:
    return "default: " + ", ".join(f"{getattr(recipe, field)} for {arch}" for arch, recipe in RECIPES.items())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    parser.add_argument("--arch", choices=list(RECIPES), default=DEFAULT_ARCH, help="model architecture and its training recipe")
    parser.add_argument("--epochs", type=_positive_int, help=f"training epochs ({_recipe_help('epochs')})")
    parser.add_argument("--batch-size", type=_positive_int, help=f"images per step ({_recipe_help('batch_size')})")
    parser.add_argument("--learning-rate", type=_positive_float, help=f"Adam's (peak) learning rate ({_recipe_help('learning_rate')})")
    parser.add_argument(
        "--validation-split",
        type=_fraction,
        help=f"fraction of training images held out for validation ({_recipe_help('validation_split')})",
    )
    parser.add_argument(
        "--augment",
        action=argparse.BooleanOptionalAction,
        help=f"random rotation, shift and zoom of training images ({_recipe_help('augment')})",
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed for weights, shuffling and augmentation")
    parser.add_argument(
        "--data", help=f"MNIST .npz or folder of IDX files (default: ${data.ENV_VAR}, then {data.KERAS_CACHE}, then download)"
    )
    parser.add_argument("--out-dir", type=Path, default=MODEL_DIR, help="where the model, metrics and plots go")
    parser.add_argument("--limit", type=_positive_int, help="train on only the first N training images (smoke runs)")
    parser.add_argument("--deterministic", action="store_true", help="bit-reproducible run (deterministic ops; slower)")
    return parser


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0 or not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text}")
    return value


def resolve_config(args: argparse.Namespace) -> dict:
    """Fill the options left unset from the architecture's recipe; return the run's full config."""
    recipe = RECIPES[args.arch]
    config = dict(vars(args))
    for field in ("epochs", "batch_size", "learning_rate", "validation_split", "augment"):
        if config[field] is None:
            config[field] = getattr(recipe, field)
    config["schedule"] = recipe.schedule
    config["out_dir"] = str(args.out_dir)
    return config


def split_validation(x: np.ndarray, y: np.ndarray, fraction: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Hold out the last ``fraction`` of the images, as Keras's own validation_split does."""
    held_out = int(round(len(x) * fraction))
    if fraction > 0 and held_out == 0:
        held_out = 1
    if held_out >= len(x):
        raise ValueError(f"validation split {fraction} leaves no training images out of {len(x)}")
    cut = len(x) - held_out
    return x[:cut], y[:cut], x[cut:], y[cut:]


def random_affine(images, seed, max_rotation_degrees: float, max_shift: float, max_zoom: float):
    """Rotate, zoom and shift each image of a float32 (B, H, W, 1) batch by one bilinear warp.

    One projective transform per image costs far less on a CPU than three Keras augmentation layers;
    ``seed`` is a (2,) int tensor, so the same seed gives the same augmentation.
    """
    import tensorflow as tf

    batch = tf.shape(images)[0]
    height, width = images.shape[1], images.shape[2]
    seeds = tf.random.experimental.stateless_split(seed, num=4)
    angle = tf.random.stateless_uniform([batch], seeds[0], -1.0, 1.0) * (max_rotation_degrees * math.pi / 180)
    scale = 1.0 + tf.random.stateless_uniform([batch], seeds[1], -max_zoom, max_zoom)
    shift_x = tf.random.stateless_uniform([batch], seeds[2], -max_shift, max_shift)
    shift_y = tf.random.stateless_uniform([batch], seeds[3], -max_shift, max_shift)
    # The transform maps each output pixel back to the input: input = A (output - centre) + centre - shift.
    cos, sin = tf.cos(angle) / scale, tf.sin(angle) / scale
    centre_x, centre_y = (width - 1) / 2, (height - 1) / 2
    a0, a1, b0, b1 = cos, -sin, sin, cos
    a2 = centre_x - a0 * centre_x - a1 * centre_y - shift_x
    b2 = centre_y - b0 * centre_x - b1 * centre_y - shift_y
    zeros = tf.zeros_like(angle)
    transforms = tf.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images,
        transforms=transforms,
        output_shape=[height, width],
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="CONSTANT",
    )


def make_train_dataset(x: np.ndarray, y: np.ndarray, batch_size: int, augment: bool, seed: int):
    """Shuffled (and, for the default recipe, augmented) batches, reshuffled every epoch."""
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices((x, y))
    dataset = dataset.shuffle(len(x), seed=seed, reshuffle_each_iteration=True).batch(batch_size)
    if augment:
        # A seed stream that differs every epoch but is fixed by --seed, for reproducible runs.
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        dataset = tf.data.Dataset.zip(dataset, seeds).map(
            lambda batch, pair: (
                random_affine(batch[0], pair, MAX_ROTATION_DEGREES, MAX_SHIFT_PIXELS, MAX_ZOOM),
                batch[1],
            ),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
    return dataset.prefetch(tf.data.AUTOTUNE)


def learning_rate_for(config: dict, steps_per_epoch: int):
    """A constant rate, or a one-cycle schedule: linear warm-up to the peak, then cosine decay to zero."""
    if not config["schedule"]:
        return config["learning_rate"]
    import keras

    total = config["epochs"] * steps_per_epoch
    warmup = int(total * WARMUP_FRACTION)
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=config["learning_rate"] * WARMUP_START_FACTOR,
        decay_steps=total - warmup,
        warmup_target=config["learning_rate"],
        warmup_steps=warmup,
    )


def strip_optimizer(model):
    """A copy of the model with the same weights and no optimizer state: a third of the file size."""
    # Rebuilt from its layer config alone, the copy is never compiled (clone_model and
    # model_from_json would compile it too, and the optimizer's state would be saved with it).
    clone = model.__class__.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    return clone


def export_tflite(model, path: Path) -> None:
    """Write the model as a float32 TFLite flatbuffer, atomically."""
    with tempfile.TemporaryDirectory() as scratch:
        exported = Path(scratch) / "model.tflite"
        model.export(str(exported), format="litert", verbose=False)
        with atomic_path(path) as temporary:
            shutil.copyfile(exported, temporary)


def tflite_difference(tflite_path: Path, images: np.ndarray, keras_probabilities: np.ndarray) -> float | None:
    """Largest |keras - tflite| probability over ``images``; None when LiteRT is not installed."""
    try:
        predictor = load_predictor(tflite_path)
    except ModelError:
        return None
    if predictor.backend != "litert":
        return None
    return float(np.abs(predictor.predict(images) - keras_probabilities).max())


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in VERSIONED_PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def _error(message: str) -> int:
    print(f"train.py: error: {message}", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    config = resolve_config(args)
    started = time.perf_counter()
    out_dir = Path(config["out_dir"])
    if out_dir.exists() and not out_dir.is_dir():
        return _error(f"--out-dir {out_dir} exists and is not a folder")

    try:
        dataset = data.load_mnist(args.data)
    except data.DataError as error:
        return _error(str(error))
    x_all, y_all = dataset.x_train, dataset.y_train
    if args.limit:
        x_all, y_all = x_all[: args.limit], y_all[: args.limit]
    try:
        x_train, y_train, x_val, y_val = split_validation(x_all, y_all, config["validation_split"])
    except ValueError as error:
        return _error(str(error))

    import keras
    import tensorflow as tf

    from model import build_model

    keras.utils.set_random_seed(args.seed)
    if args.deterministic:
        tf.config.experimental.enable_op_determinism()

    steps_per_epoch = math.ceil(len(x_train) / config["batch_size"])
    model = build_model(args.arch, learning_rate_for(config, steps_per_epoch))
    train_data = make_train_dataset(x_train, y_train, config["batch_size"], config["augment"], args.seed)
    validation = (x_val, y_val) if len(x_val) else None
    print(
        f"Training {args.arch} ({model.count_params():,} parameters) on {len(x_train):,} images, "
        f"validating on {len(x_val):,}, for {config['epochs']} epochs; data: {dataset.source}"
    )
    fit_started = time.perf_counter()
    try:
        history = model.fit(
            train_data,
            epochs=config["epochs"],
            validation_data=validation,
            shuffle=False,  # the dataset shuffles itself, reproducibly from --seed
            verbose=1 if sys.stdout.isatty() else 2,
        ).history
    except KeyboardInterrupt:
        print("\ntrain.py: interrupted; nothing was written and the previous model is untouched", file=sys.stderr)
        return 130
    fit_seconds = time.perf_counter() - fit_started
    train_seconds = time.perf_counter() - started
    epochs_run = len(history["loss"])

    # The one and only look at the test set.
    probabilities = np.asarray(model.predict(dataset.x_test, batch_size=1024, verbose=0))
    summary = metrics.summarize(dataset.y_test, probabilities)

    keras_path = out_dir / f"{MODEL_NAME}.keras"
    tflite_path = out_dir / f"{MODEL_NAME}.tflite"
    try:
        lean_model = strip_optimizer(model)
        # Everything is written to temporary files and renamed into place, one file at a time.
        artifacts = {
            "history plot": plots.plot_history(history, out_dir / "history.png"),
            "confusion matrix": plots.plot_confusion_matrix(np.array(summary["confusion_matrix"]), out_dir / "confusion_matrix.png"),
            "worst mistakes": plots.plot_worst_mistakes(dataset.x_test, dataset.y_test, probabilities, out_dir / "worst_mistakes.png"),
            "sample predictions": plots.plot_sample_predictions(
                dataset.x_test, dataset.y_test, probabilities, out_dir / "sample_predictions.png", seed=args.seed
            ),
        }
        export_tflite(lean_model, tflite_path)
        artifacts["tflite model"] = tflite_path
        with atomic_path(keras_path) as temporary:
            lean_model.save(temporary)
        artifacts["keras model"] = keras_path
        check = slice(0, TFLITE_CHECK_IMAGES)
        difference = tflite_difference(tflite_path, dataset.x_test[check], probabilities[check])
        if difference is not None and difference > TFLITE_TOLERANCE:
            print(f"train.py: warning: TFLite and Keras predictions differ by {difference:.2e}", file=sys.stderr)
        wall_seconds = time.perf_counter() - started
        record = {
            "command": shlex.join(["python", "train.py", *argv]),
            "test_accuracy": summary["accuracy"],
            "test_loss": summary["loss"],
            "per_class": summary["per_class"],
            "confusion_matrix": summary["confusion_matrix"],
            "config": config,
            "epochs_run": epochs_run,
            "fit_seconds": round(fit_seconds, 1),  # model.fit alone, validation included
            "train_seconds": round(train_seconds, 1),  # from start: data loading, TensorFlow start-up, fit
            "wall_seconds": round(wall_seconds, 1),
            "tflite_max_abs_difference": difference,
            "history": {key: [float(value) for value in values] for key, values in history.items()},
            "data": {
                "source": dataset.source,
                "sha256": dataset.sha256,
                "train_images": len(x_train),
                "validation_images": len(x_val),
                "test_images": len(dataset.y_test),
            },
            "parameters": model.count_params(),
            "versions": library_versions(),
            "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        }
        artifacts["metrics"] = write_json(out_dir / "metrics.json", record)
    except KeyboardInterrupt:
        print("\ntrain.py: interrupted while saving; files already renamed into place are complete, the rest untouched", file=sys.stderr)
        return 130
    except OSError as error:
        return _error(f"cannot write to {out_dir}: {error}")

    print(f"\nTest accuracy {summary['accuracy']:.2%}, test loss {summary['loss']:.4f}, {epochs_run} epochs, {wall_seconds:.0f} s wall")
    for name, path in artifacts.items():
        print(f"  {name:<19} {path}")
    return 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except KeyboardInterrupt:  # Ctrl-C before training starts (loading data, importing TensorFlow): nothing written yet
        print("\ntrain.py: interrupted; nothing was written", file=sys.stderr)
        raise SystemExit(130) from None
