"""Train a CNN on MNIST and save the model, its TFLite export, metrics and plots.

The default recipe also teaches the model an 11th answer, "not a digit", from synthetic letters,
symbols and doodles (negatives.py), and augments every epoch so that MNIST looks like what
the preprocess package makes of people's photos and drawings (augment.py).

The test set is touched once, after training, for the final report: validation comes from
the training set and the model kept is always the last epoch's. A short run (--limit, fewer
epochs than the recipe) goes to runs/ unless --out-dir says otherwise, so it never replaces the
shipped model by accident.
"""

from __future__ import annotations

import argparse
import gc
import importlib.metadata
import json
import math
import os
import platform
import shlex
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import data
import metrics
import plots
from atomic import atomic_path, write_json
from cli import HelpFormatter, fail
from inference import MODEL_DIR, MODEL_NAME, NOT_A_DIGIT, ModelError, import_tensorflow_quietly, load_predictor, predicted_labels

ROOT = Path(__file__).resolve().parent
RUNS_DIR = ROOT / "runs"  # where short runs go by default: never the shipped model's folder


@dataclass(frozen=True)
class Recipe:
    """How an architecture is meant to be trained; the CLI's defaults come from here."""

    epochs: int
    batch_size: int
    learning_rate: float  # Adam's (peak) learning rate
    validation_split: float  # fraction of the training set held out for validation
    augment: bool  # warp, re-render and break the training images each epoch (augment.py)
    schedule: bool  # one-cycle learning rate (warm up, then cosine decay to zero)
    not_digits: float  # synthetic "not a digit" images per training digit; 0 gives a 10-output model
    members: int  # models trained with consecutive seeds and averaged into one exported model


# Keys are model.py's architecture names (not imported from there: it loads TensorFlow, and --help should be instant).
RECIPES = {
    # Our stronger CNN. A small validation slice only for monitoring: the model kept is
    # always the last epoch's, so every image not held out goes to training. One member: about
    # 6.5 minutes on a 2-core machine; --members N averages N for a little more accuracy (the shipped model has 8: ensemble.py).
    "default": Recipe(
        epochs=12, batch_size=128, learning_rate=3e-3, validation_split=0.08, augment=True, schedule=True, not_digits=0.2, members=1
    ),
    # The fast preset: a small CNN, one pass over the data, no augmentation (it pays off over many epochs, not one),
    # a small validation slice (validating costs time too) and digits only.
    "fast": Recipe(
        epochs=1, batch_size=128, learning_rate=5e-3, validation_split=0.02, augment=False, schedule=True, not_digits=0.0, members=1
    ),
    # The classic reference, trained as it always was: no augmentation, constant learning rate.
    "seed": Recipe(
        epochs=10, batch_size=60, learning_rate=1e-3, validation_split=0.3, augment=False, schedule=False, not_digits=0.0, members=1
    ),
}
DEFAULT_ARCH = "default"
DEFAULT_SEED = 42
# The .tflite keeps its weights in 8 bits (dynamic-range quantization: activations are quantized on the fly):
# a quarter of the file, and on a 2-core Xeon the model runs 4-5x faster for the same answers (the previous
# shipped model: MNIST 99.57% against 99.56%, the same 671/676 real digits and 92/98 not-digits; the shipped
# one: 99.64% both); probabilities move by up to a few hundredths, so the two exports are compared with this tolerance.
TFLITE_TOLERANCE = 0.05  # largest allowed |keras - tflite| probability difference
TFLITE_CHECK_IMAGES = 1000  # test images used to compare the two exports
CALIBRATION_SEED = 12345  # the fixed augmentation of the validation images that the temperature is fitted on
TEMPERATURES = np.geomspace(0.5, 5.0, 200)  # candidates for temperature scaling
FLAGGED_RIGHT_SHARE = 0.03  # the low-confidence flag may catch this share of right answers (issue 7's budget)
BATCHNORM_IMAGES = 4096  # training images whose statistics the BatchNorm layers keep after training
BATCHNORM_CHUNK = 512  # ... passed through the model this many at a time
PREFETCH_BATCHES = 2  # batches prepared ahead of the training step
WARMUP_FRACTION = 0.15  # share of the steps spent warming the learning rate up (one-cycle)
WARMUP_START_FACTOR = 0.1  # warm-up starts at this fraction of the peak learning rate
VERSIONED_PACKAGES = ("tensorflow", "keras", "numpy", "matplotlib", "pillow", "ai-edge-litert", "opencv-python-headless")


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
        help=f"warp, re-render and break training images each epoch ({_recipe_help('augment')})",
    )
    parser.add_argument(
        "--not-digits",
        type=_non_negative_float,
        help=f"synthetic not-a-digit images per training digit; 0: a 10-output model ({_recipe_help('not_digits')})",
    )
    parser.add_argument(
        "--members",
        type=_positive_int,
        help=f"models trained with seeds SEED, SEED+1, ... and averaged into one ({_recipe_help('members')})",
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed for weights, shuffling and augmentation")
    parser.add_argument(
        "--data",
        help=f"MNIST .npz or folder of IDX files (default: ${data.ENV_VAR}, then {data.SHARED_COPY}, "
        f"then {data.KERAS_CACHE}, then download)",
    )
    parser.add_argument(
        "--out-dir",
        type=Path,
        help=f"where the model, metrics and plots go (default: {portable_path(MODEL_DIR)}/ for a full run, "
        f"{portable_path(RUNS_DIR)}/quick/ for a short one)",
    )
    parser.add_argument("--force", action="store_true", help="replace a model in --out-dir even when it scored better than this run")
    parser.add_argument("--tensorboard", type=Path, metavar="DIR", help="also write Keras TensorBoard logs here")
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


def _non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0 or not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text}")
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
    for field in ("epochs", "batch_size", "learning_rate", "validation_split", "augment", "not_digits", "members"):
        if config[field] is None:
            config[field] = getattr(recipe, field)
    config["schedule"] = recipe.schedule
    config["short_run"] = bool(args.limit) or config["epochs"] < recipe.epochs
    if args.out_dir is None:
        config["out_dir"] = RUNS_DIR / "quick" if config["short_run"] else MODEL_DIR
    for key in ("out_dir", "data", "tensorboard"):
        if config[key] is not None:
            config[key] = portable_path(config[key])
    return config


def portable_path(path: str | os.PathLike) -> str:
    """``path`` relative to the project (``models``, ``../shared/data/mnist.npz``), as a record should hold it."""
    return os.path.relpath(Path(path).expanduser().resolve(), ROOT)


def split_validation(x: np.ndarray, y: np.ndarray, fraction: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Hold out the last ``fraction`` of the images, as Keras's own validation_split does."""
    held_out = int(round(len(x) * fraction))
    if fraction > 0 and held_out == 0:
        held_out = 1
    if held_out >= len(x):
        raise ValueError(f"validation split {fraction} leaves no training images out of {len(x)}")
    cut = len(x) - held_out
    return x[:cut], y[:cut], x[cut:], y[cut:]


def as_uint8(images: np.ndarray) -> np.ndarray:
    """float32 (N, 28, 28, 1) in [0, 1] -> uint8 (N, 28, 28), MNIST's own storage (lossless for MNIST)."""
    return np.round(images[..., 0] * 255).astype(np.uint8)


def calibration_images(x_val: np.ndarray, y_val: np.ndarray, augment: bool) -> np.ndarray:
    """The uint8 validation images as the augmentation makes them look (fixed seed), normalized.

    Closer to people's images than clean MNIST is: the temperature and the suggested low-confidence
    threshold are fitted on these.
    """
    if augment and len(x_val):
        import augment as augmentation

        rng = np.random.default_rng(CALIBRATION_SEED)
        x_val = augmentation.augment(augmentation.restyle(x_val, y_val, rng), rng)
    return data.normalize(x_val)


def make_train_dataset(x: np.ndarray, y: np.ndarray, batch_size: int, augment: bool, seed: int, epochs: int):
    """Batches of a fresh shuffle (and augmentation) every epoch, the next epoch's prepared while this one trains.

    ``x`` is uint8 (N, 28, 28). Each epoch's order and augmentation come from (seed, epoch), so runs repeat exactly.
    ``model.fit`` takes ``as_dataset()``; ``current`` holds the epoch being trained on.
    """
    import augment as augmentation

    class EpochBatches:
        def __init__(self) -> None:
            self.epoch = 0
            self.last_index = -1
            self.pool = ThreadPoolExecutor(max_workers=1)
            self.current = self._make(0)
            self.upcoming = self.pool.submit(self._make, 1) if epochs > 1 else None

        def _make(self, epoch: int) -> tuple[np.ndarray, np.ndarray]:
            rng = np.random.default_rng([seed, epoch])
            order = rng.permutation(len(x))
            images = augmentation.augment(augmentation.restyle(x[order], y[order], rng), rng) if augment else x[order]
            return images, y[order]

        def __len__(self) -> int:
            return math.ceil(len(x) / batch_size)

        def __getitem__(self, index: int):
            # The next epoch starts where the batches start over after the last one (each epoch's pass
            # asks for them in order), not at a callback: tf.data's prefetch reads ahead of Keras's.
            if index == 0 and self.last_index == len(self) - 1 and self.upcoming is not None:
                self.epoch += 1
                self.current = self.upcoming.result()
                self.upcoming = self.pool.submit(self._make, self.epoch + 1) if self.epoch + 1 < epochs else None
            self.last_index = index
            images, labels = self.current
            batch = slice(index * batch_size, (index + 1) * batch_size)
            return data.normalize(images[batch]), labels[batch]

        def as_dataset(self):
            """A tf.data pipeline of one pass over the batches (Keras starts a pass each epoch), autotuning off.

            tf.data's autotuner runs a thread that sleeps for doubling periods (10 ms, 20 ms, ... 41 s), and
            deleting a pass's iterator waited for its current sleep to end: an epoch of 30 s took 41, and the
            fast preset's 16 s fit took 22. A fixed prefetch needs no tuning.
            """
            import tensorflow as tf

            def batches():
                for index in range(len(self)):
                    yield self[index]

            signature = (
                tf.TensorSpec((None, *x.shape[1:], 1), tf.float32),
                tf.TensorSpec((None,), tf.as_dtype(y.dtype)),
            )
            options = tf.data.Options()
            options.autotune.enabled = False
            dataset = tf.data.Dataset.from_generator(batches, output_signature=signature)
            dataset = dataset.apply(tf.data.experimental.assert_cardinality(len(self)))  # Keras shows the steps of epoch 1 too
            return dataset.prefetch(PREFETCH_BATCHES).with_options(options)

    return EpochBatches()


def make_interrupt_at_step_end():
    """A Keras callback and context manager: during fit, Ctrl-C stops training at the end of the current step.

    Python runs a SIGINT handler in the main thread at whatever bytecode it reaches, and during fit that is
    usually inside TensorFlow's function-call machinery (between the C++ call of a training step and the
    handling of its outputs), while tf.data's prefetch thread runs the batch generator. A KeyboardInterrupt
    raised there was sometimes swallowed (training went on) and sometimes killed the process a moment later
    in glibc (free(): invalid next size). So the handler only takes note, and the callback raises
    KeyboardInterrupt between steps, in Keras's own Python loop. A second Ctrl-C raises at once, for a step
    that never ends.
    """
    import keras

    class InterruptAtStepEnd(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.requested = False
            self.previous_handler = None

        def __enter__(self):
            if threading.current_thread() is threading.main_thread():  # only the main thread may set handlers
                self.previous_handler = signal.signal(signal.SIGINT, self._note)
            return self

        def __exit__(self, *exc_info) -> None:
            if self.previous_handler is not None:
                signal.signal(signal.SIGINT, self.previous_handler)

        def _note(self, signum, frame) -> None:
            self.requested = True
            signal.signal(signal.SIGINT, signal.default_int_handler)

        def _stop_if_requested(self) -> None:
            if self.requested:
                raise KeyboardInterrupt

        def on_train_batch_end(self, batch, logs=None) -> None:
            self._stop_if_requested()

        def on_test_batch_end(self, batch, logs=None) -> None:  # validation steps
            self._stop_if_requested()

    return InterruptAtStepEnd()


def make_epoch_clock(epochs: int):
    """A Keras callback that times each epoch and prints how long the whole run has left."""
    import keras

    class EpochClock(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.seconds: list[float] = []

        def on_epoch_begin(self, epoch, logs=None) -> None:
            self.began = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None) -> None:
            self.seconds.append(time.perf_counter() - self.began)
            left = (epochs - len(self.seconds)) * float(np.mean(self.seconds))
            if left > 0:
                finish = time.strftime("%H:%M", time.localtime(time.time() + left))
                took = self.seconds[-1]
                print(f"epoch {len(self.seconds)}/{epochs} took {took:.0f} s; about {_duration(left)} left (done around {finish})")

    return EpochClock()


def _duration(seconds: float) -> str:
    minutes, seconds = divmod(round(seconds), 60)
    return f"{minutes} min {seconds:02d} s" if minutes else f"{seconds} s"


def recompute_batchnorm(model, images: np.ndarray) -> None:
    """Set every BatchNorm layer's statistics to those of ``images`` under the final weights.

    The moving averages lag behind the weights: after a short run (a smoke test's 15 steps) they still
    describe the first, untrained steps, and the model evaluates near chance. Forward passes in training
    mode over ``images`` replace them with the exact statistics; the weights are untouched. The passes go
    in chunks, each averaged in with momentum i / (i + 1): one pass over all of them would hold every
    layer's activations at once (a gigabyte for 4,096 images).
    """
    import keras

    layers = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    momenta = [layer.momentum for layer in layers]
    try:
        for index, start in enumerate(range(0, len(images), BATCHNORM_CHUNK)):
            for layer in layers:
                layer.momentum = index / (index + 1)  # the running mean of the chunks' statistics
            model(images[start : start + BATCHNORM_CHUNK], training=True)
    finally:
        for layer, momentum in zip(layers, momenta, strict=True):
            layer.momentum = momentum


def fit_temperature(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """The temperature T that minimizes the crossentropy of softmax(log p / T) on held-out images."""
    log_p = np.log(np.clip(probabilities, 1e-12, 1.0)).astype(np.float64)

    def loss(temperature: float) -> float:
        scaled = log_p / temperature
        scaled -= scaled.max(axis=1, keepdims=True)
        log_softmax = scaled - np.log(np.exp(scaled).sum(axis=1, keepdims=True))
        return float(-log_softmax[np.arange(len(labels)), labels].mean())

    return float(min(TEMPERATURES, key=loss))


def suggest_low_confidence(probabilities: np.ndarray, labels: np.ndarray) -> float | None:
    """The digit confidence below which FLAGGED_RIGHT_SHARE of the right digit answers fall, on held-out images.

    A data-driven starting point for inference.LOW_CONFIDENCE, recorded in metrics.json.
    """
    answers = predicted_labels(probabilities)
    digits = probabilities[:, : data.NUM_CLASSES]
    confidence = digits.max(axis=1) / np.maximum(digits.sum(axis=1), 1e-12)
    right = (answers == labels) & (labels != NOT_A_DIGIT)
    return float(np.quantile(confidence[right], FLAGGED_RIGHT_SHARE)) if right.any() else None


def apply_temperature(model, temperature: float) -> None:
    """Fold temperature scaling into the final softmax layer: softmax(z / T) with z = W x + b is W / T, b / T."""
    last = model.layers[-1]
    kernel, bias = last.get_weights()
    last.set_weights([kernel / temperature, bias / temperature])


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


def average_members(models: list):
    """One model whose output is the mean of the members' probabilities: a small ensemble in one file."""
    if len(models) == 1:
        return models[0]
    import keras

    for index, member in enumerate(models):
        member.name = f"member_{index + 1}"  # a functional model needs unique layer names
    inputs = keras.Input(shape=models[0].input_shape[1:])
    outputs = keras.layers.Average(name="mean_probability")([member(inputs) for member in models])
    return keras.Model(inputs, outputs, name=f"ensemble_of_{len(models)}")


def strip_optimizer(model):
    """A copy of the model with the same weights and no optimizer state: a third of the file size."""
    # Rebuilt from its layer config alone, the copy is never compiled (clone_model and
    # model_from_json would compile it too, and the optimizer's state would be saved with it).
    clone = model.__class__.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    return clone


def export_tflite(model, path: Path) -> None:
    """Write the model as a TFLite flatbuffer with 8-bit weights (see TFLITE_TOLERANCE), atomically."""
    import tensorflow as tf

    with tempfile.TemporaryDirectory() as scratch:
        exported = Path(scratch) / "model.tflite"
        model.export(str(exported), format="litert", verbose=False, optimizations=[tf.lite.Optimize.DEFAULT])
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


def machine() -> dict:
    """CPU model, core count and GPUs, for the run's record."""
    import tensorflow as tf

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), cpu)
    except OSError:
        pass
    gpus = [device.name for device in tf.config.list_physical_devices("GPU")]
    return {"platform": platform.platform(), "cpu": cpu, "cpus": os.cpu_count(), "gpus": gpus}


def summary_accuracy(model, dataset: data.Dataset) -> float:
    """Test accuracy of one model (a member of an ensemble), a digit turned away counting as wrong."""
    return metrics.summarize(dataset.y_test, np.asarray(model.predict(dataset.x_test, batch_size=1024, verbose=0)))["accuracy"]


def previous_accuracy(out_dir: Path) -> float | None:
    """The test accuracy recorded by the model already in ``out_dir``, if there is one."""
    try:
        return float(json.loads((out_dir / "metrics.json").read_text())["test_accuracy"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def destination_for(out_dir: Path, shown: str, accuracy: float, force: bool) -> Path:
    """``out_dir``, unless it holds a model that scored better than ``accuracy`` (then runs/<time>/, said aloud)."""
    previous = previous_accuracy(out_dir)
    if previous is None or previous <= accuracy or force:
        return out_dir
    destination = RUNS_DIR / time.strftime("%Y%m%d-%H%M%S")
    print(
        f"\n{shown} holds a better model ({previous:.2%} > {accuracy:.2%}); "
        f"it stays, and this run goes to {portable_path(destination)} (--force replaces it)"
    )
    return destination


def write_model_and_plots(
    model, history: dict, destination: Path, dataset: data.Dataset, probabilities: np.ndarray, summary: dict, seed: int
) -> tuple[dict[str, Path], float | None]:
    """Write the plots, the 8-bit .tflite and the lean .keras into ``destination``, each file atomically.

    Returns what was written, by name, and the largest |keras - tflite| probability difference (None without LiteRT).
    """
    keras_path = destination / f"{MODEL_NAME}.keras"
    tflite_path = destination / f"{MODEL_NAME}.tflite"
    lean_model = strip_optimizer(model)
    # Everything is written to temporary files and renamed into place, one file at a time.
    artifacts = {
        "history plot": plots.plot_history(history, destination / "history.png"),
        "confusion matrix": plots.plot_confusion_matrix(np.array(summary["confusion_matrix"]), destination / "confusion_matrix.png"),
        "worst mistakes": plots.plot_worst_mistakes(dataset.x_test, dataset.y_test, probabilities, destination / "worst_mistakes.png"),
        "sample predictions": plots.plot_sample_predictions(
            dataset.x_test, dataset.y_test, probabilities, destination / "sample_predictions.png", seed=seed
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
        print(f"warning: TFLite and Keras predictions differ by {difference:.2e}", file=sys.stderr)
    return artifacts, difference


def add_not_digits(x: np.ndarray, y: np.ndarray, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Append ``share * len(x)`` synthetic not-a-digit images (label 10) to uint8 images ``x`` and labels ``y``."""
    count = round(share * len(x))
    if count == 0:
        return x, y
    import negatives

    progress = None
    if sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(total=count, desc="drawing not-a-digit images", unit="img", leave=False)
        progress = bar.update
    started = time.perf_counter()
    extra = negatives.make_not_digits(count, seed, progress=progress)
    if progress is not None:
        bar.close()
    print(f"Drew {count:,} not-a-digit images (letters, symbols, doodles) in {time.perf_counter() - started:.0f} s")
    return np.concatenate([x, extra]), np.concatenate([y, np.full(count, NOT_A_DIGIT, y.dtype)])


def _error(message: str) -> int:
    return fail("train.py", message)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    config = resolve_config(args)
    started = time.perf_counter()
    out_dir = ROOT / config["out_dir"]
    if out_dir.exists() and not out_dir.is_dir():
        return _error(f"--out-dir {out_dir} exists and is not a folder")

    try:
        dataset = data.load_mnist(args.data)
    except data.DataError as error:
        return _error(str(error))
    x_all, y_all = as_uint8(dataset.x_train), dataset.y_train
    if args.limit:
        x_all, y_all = x_all[: args.limit], y_all[: args.limit]
    try:
        x_train, y_train, x_val, y_val = split_validation(x_all, y_all, config["validation_split"])
    except ValueError as error:
        return _error(str(error))
    # Not-digits are drawn for training and validation alike, in proportion, from their own seeds.
    x_train, y_train = add_not_digits(x_train, y_train, config["not_digits"], args.seed)
    x_val, y_val = add_not_digits(x_val, y_val, config["not_digits"], args.seed + 1)
    num_classes = data.NUM_CLASSES + (1 if config["not_digits"] > 0 else 0)

    import_tensorflow_quietly()
    import keras

    from model import build_model

    keras.utils.set_random_seed(args.seed)
    if args.deterministic:
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()

    validation = (data.normalize(x_val), y_val) if len(x_val) else None
    members = config["members"]
    clock = make_epoch_clock(members * config["epochs"])
    callbacks = [clock]
    if args.tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(log_dir=str(args.tensorboard)))
    # Temperature scaling on the validation images as the augmentation makes them look (closer to people's
    # images than clean MNIST is), so that a probability means what it says; folded into the last layer.
    hard_val = calibration_images(x_val, y_val, config["augment"])
    steps_per_epoch = math.ceil(len(x_train) / config["batch_size"])
    trained, histories, temperatures, fit_seconds = [], [], [], 0.0
    for member in range(members):
        seed = args.seed + member  # each member its own weights, shuffling and augmentation
        keras.utils.set_random_seed(seed)
        model = build_model(args.arch, learning_rate_for(config, steps_per_epoch), num_classes=num_classes)
        train_data = make_train_dataset(x_train, y_train, config["batch_size"], config["augment"], seed, config["epochs"])
        which = f"member {member + 1} of {members}: " if members > 1 else ""
        print(
            f"Training {which}{args.arch} ({model.count_params():,} parameters, {num_classes} outputs) on {len(x_train):,} images, "
            f"validating on {len(x_val):,}, for {config['epochs']} epochs; data: {dataset.source}"
        )
        fit_started = time.perf_counter()
        interrupted = False
        try:
            with make_interrupt_at_step_end() as stop_on_interrupt:
                history = model.fit(
                    train_data.as_dataset(),
                    epochs=config["epochs"],
                    # Our own shuffle, once per epoch (make_train_dataset): Keras's default would only print a
                    # warning that it cannot shuffle a tf.data pipeline.
                    shuffle=False,
                    validation_data=validation,
                    callbacks=[*callbacks, stop_on_interrupt],
                    verbose=1 if sys.stdout.isatty() else 2,
                ).history
        except KeyboardInterrupt:
            interrupted = True
        if interrupted:  # out of the except block, so that the exception no longer holds fit's frames
            # Stop every thread that runs Python for the input before the interpreter tears down: a thread
            # still in Python code then can take the process down with it instead of it exiting 130.
            # Collecting deletes Keras's epoch iterator (held in a reference cycle) and with it the tf.data
            # iterator, which cancels and joins its prefetch thread; then the next epoch's augmentation finishes.
            gc.collect()
            train_data.pool.shutdown(wait=True, cancel_futures=True)
            print("\ntrain.py: interrupted; nothing was written and the previous model is untouched", file=sys.stderr)
            return 130
        fit_seconds += time.perf_counter() - fit_started
        # BatchNorm statistics from a random sample of the images as the last epoch saw them (augmented).
        last_images = train_data.current[0]
        sample = np.random.default_rng(seed).choice(len(last_images), min(BATCHNORM_IMAGES, len(last_images)), replace=False)
        recompute_batchnorm(model, data.normalize(last_images[sample]))
        temperature = 1.0
        if len(x_val):
            temperature = fit_temperature(np.asarray(model.predict(hard_val, batch_size=1024, verbose=0)), y_val)
            apply_temperature(model, temperature)
        trained.append(model)
        histories.append(history)
        temperatures.append(temperature)
    model = average_members(trained)
    epochs_run = len(histories[0]["loss"])
    history = {key: np.mean([h[key] for h in histories], axis=0).tolist() for key in histories[0]}  # plotted: the members' mean
    low_confidence = None
    if len(x_val):
        low_confidence = suggest_low_confidence(np.asarray(model.predict(hard_val, batch_size=1024, verbose=0)), y_val)
    train_seconds = time.perf_counter() - started

    # The one and only look at the test set (each member's too: a member is what --members 1 with its seed trains).
    probabilities = np.asarray(model.predict(dataset.x_test, batch_size=1024, verbose=0))
    member_accuracies = [summary_accuracy(member, dataset) for member in trained] if members > 1 else None
    summary = metrics.summarize(dataset.y_test, probabilities)
    turned_away = float((predicted_labels(probabilities) == NOT_A_DIGIT).mean())

    destination = destination_for(out_dir, config["out_dir"], summary["accuracy"], args.force)
    try:
        artifacts, difference = write_model_and_plots(model, history, destination, dataset, probabilities, summary, args.seed)
        wall_seconds = time.perf_counter() - started
        record = {
            "command": shlex.join(["python", "train.py", *argv]),
            "test_accuracy": summary["accuracy"],
            "test_loss": summary["loss"],
            "test_turned_away": turned_away,  # share of MNIST test digits answered "not a digit"
            "per_class": summary["per_class"],
            "confusion_matrix": summary["confusion_matrix"],
            "config": {**config, "out_dir": portable_path(destination)},
            "epochs_run": epochs_run,
            "epoch_seconds": [round(seconds, 1) for seconds in clock.seconds],
            "fit_seconds": round(fit_seconds, 1),  # model.fit alone, validation included
            "train_seconds": round(train_seconds, 1),  # from start: data, not-digits, TensorFlow start-up, fit, calibration
            "wall_seconds": round(wall_seconds, 1),
            "members": members,
            "temperatures": temperatures,  # one per member, each folded into its last layer
            "member_test_accuracies": member_accuracies or [summary["accuracy"]],
            "suggested_low_confidence": low_confidence,  # flags FLAGGED_RIGHT_SHARE of right answers on augmented validation
            "outputs": num_classes,
            "tflite_max_abs_difference": difference,
            "history": {key: [float(value) for value in values] for key, values in history.items()},
            "member_histories": [{key: [float(value) for value in values] for key, values in h.items()} for h in histories],
            "data": {
                "source": dataset.source if dataset.source == "keras download" else portable_path(dataset.source),
                "sha256": dataset.sha256,
                "train_images": len(x_train),
                "validation_images": len(x_val),
                "not_digit_images": int((y_train == NOT_A_DIGIT).sum() + (y_val == NOT_A_DIGIT).sum()),
                "test_images": len(dataset.y_test),
            },
            "parameters": model.count_params(),
            "versions": library_versions(),
            "machine": machine(),
        }
        artifacts["metrics"] = write_json(destination / "metrics.json", record)
    except KeyboardInterrupt:
        print("\ntrain.py: interrupted while saving; files already renamed into place are complete, the rest untouched", file=sys.stderr)
        return 130
    except OSError as error:
        return _error(f"cannot write to {destination}: {error}")

    print(
        f"\nTest accuracy {summary['accuracy']:.2%} ({turned_away:.2%} of test digits turned away as not a digit), "
        f"test loss {summary['loss']:.4f}, {members} x {epochs_run} epochs, {_duration(wall_seconds)} wall"
    )
    for name, path in artifacts.items():
        print(f"  {name:<19} {portable_path(path)}")
    if config["short_run"] and args.out_dir is None:
        print(f"A short run (--limit or fewer epochs than the recipe): {portable_path(MODEL_DIR)}/ is untouched.")
    return 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except KeyboardInterrupt:  # Ctrl-C before training starts (loading data, importing TensorFlow): nothing written yet
        print("\ntrain.py: interrupted; nothing was written", file=sys.stderr)
        raise SystemExit(130) from None
