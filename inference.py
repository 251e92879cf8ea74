"""Load a saved digit model (.tflite or .keras) and predict probabilities; the fast path imports no TensorFlow.

A ``.tflite`` model runs on the LiteRT interpreter (pip ``ai-edge-litert``), which starts in a fraction
of a second; TensorFlow (seconds to import) is loaded only for ``.keras`` models, or when LiteRT is
not installed, in which case the ``.keras`` model beside the ``.tflite`` file is used instead.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MODEL_DIR = Path(__file__).resolve().parent / "models"
MODEL_NAME = "mnist_cnn"
DEFAULT_KERAS_PATH = MODEL_DIR / f"{MODEL_NAME}.keras"
DEFAULT_TFLITE_PATH = MODEL_DIR / f"{MODEL_NAME}.tflite"
# The pair reader (pairs.py) that --number reads touching digits with, where it is there.
PAIRS_PATH = MODEL_DIR / "pairs.tflite"
PREDICT_BATCH = 256  # images per interpreter call; large enough to amortize call overhead
NUM_DIGITS = 10
# Models trained since the "not a digit" work have an 11th output: the probability that the input is
# no digit at all (a letter, a symbol, a doodle). Older 10-output models always answer a digit.
NOT_A_DIGIT = 10
# An answer is "not a digit" when that output reaches this probability: where the calibrated model finds "not a
# digit" likelier than the ten digits together. Not tuned on any test set. The held-out MNIST validation digits
# are too few to place it finer (the shipped model turns away 0.23% of them at 0.5, 11 of 4,800, and 0.19% at
# 0.6); benchmarks/bench_not_digits.py shows the whole curve on real letters, real digits and the MNIST test set.
NOT_DIGIT_THRESHOLD = 0.5
# Within a number (evaluate.py --number, the app's ?number=true) that has a digit, its other pieces are "not a
# digit" only from this probability on: among digits, the pieces the model finds odd are mostly digits too (one
# cut with the end of its neighbour, boxed in a form field, drawn on ruled paper). See interpret_number.
NUMBER_NOT_DIGIT_THRESHOLD = 0.9
# Below this probability a digit answer is flagged as unsure. Set on validation data: train.py's (and
# ensemble.py's) "suggested_low_confidence" (0.942 for the shipped model) flags 3% of the right answers on the
# augmented validation images; benchmarks/bench_real.py checks how the flag splits right and wrong answers on real images.
LOW_CONFIDENCE = 0.94


@contextlib.contextmanager
def _quiet_native_stderr() -> Iterator[None]:
    """Hide what native code prints on file descriptor 2 (LiteRT's "Created XNNPACK delegate" notice).

    Python-level errors still surface as exceptions with their messages.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


@dataclass(frozen=True)
class Answer:
    """What the model says about one 28x28 input, the one reading evaluate.py and app.py share."""

    digit: int | None  # None when the input is judged not to be a digit
    confidence: float  # the probability of ``digit``, or of "not a digit" when digit is None
    probabilities: np.ndarray  # float32 (10,): the digits' probabilities, renormalized to sum to 1
    not_digit: float  # the model's probability that this is not a digit (0.0 for 10-output models)

    @property
    def low_confidence(self) -> bool:
        return self.digit is not None and self.confidence < LOW_CONFIDENCE


def interpret(row: np.ndarray, not_digit_threshold: float = NOT_DIGIT_THRESHOLD) -> Answer:
    """Turn one row of model output, (10,) or (11,) probabilities, into an Answer."""
    row = np.asarray(row, dtype=np.float32)
    not_digit = float(row[NOT_A_DIGIT]) if len(row) > NUM_DIGITS else 0.0
    digits = row[:NUM_DIGITS]
    total = float(digits.sum())
    digits = digits / total if total > 0 else np.full(NUM_DIGITS, 1 / NUM_DIGITS, np.float32)
    if not_digit >= not_digit_threshold:
        return Answer(None, not_digit, digits, not_digit)
    best = int(digits.argmax())
    return Answer(best, float(digits[best]), digits, not_digit)


def interpret_number(rows: np.ndarray) -> list[Answer]:
    """The Answers for the pieces of one number, (N, 10 or 11) rows of model output, left to right.

    Pieces none of which reads as a digit are no number: each keeps ``interpret``'s answer (a word, a doodle).
    Once one piece is a digit, the row is a number, and the others are "not a digit" only from
    NUMBER_NOT_DIGIT_THRESHOLD on. On the realistic numbers (benchmarks/bench_realistic.py, seeds 0, 1 and 2,
    700 each) this reads 677, 676 and 665 exactly instead of 675, 669 and 661 at NOT_DIGIT_THRESHOLD throughout;
    the real not-digits under --number, one letter, symbol or doodle each, read all "?" in 72 of 98 (71 before).
    """
    answers = [interpret(row) for row in rows]
    if all(answer.digit is None for answer in answers):
        return answers
    return [
        answer if answer.digit is not None else interpret(row, NUMBER_NOT_DIGIT_THRESHOLD)
        for row, answer in zip(rows, answers, strict=True)
    ]


def predicted_labels(probabilities: np.ndarray) -> np.ndarray:
    """int64 (N,) answers for (N, 10 or 11) probabilities, ``interpret``'s rule: NOT_A_DIGIT (10) or the likeliest digit."""
    probabilities = np.asarray(probabilities)
    labels = probabilities[:, :NUM_DIGITS].argmax(axis=1)
    if probabilities.shape[1] > NUM_DIGITS:
        labels = np.where(probabilities[:, NOT_A_DIGIT] >= NOT_DIGIT_THRESHOLD, NOT_A_DIGIT, labels)
    return labels


def digit_judge(predict: Callable[[np.ndarray], np.ndarray]) -> Callable[[np.ndarray], np.ndarray]:
    """preprocess.segment_number's judge from a model's predict function (Predictor.predict, or a locked wrapper).

    The judge maps float32 (N, 28, 28, 1) images to float64 (N,) scores in [0, 1]: how sure the model is
    that each is one digit, read through ``interpret`` as a piece of a number: the digit's confidence times the
    share the model does not give to "not a digit", and 0 for a piece answered "not a digit". evaluate.py --number and
    app.py's ?number=true cut touching digits with it, so both read a number the same way.
    """

    def judge(images: np.ndarray) -> np.ndarray:
        answers = [interpret(row, NUMBER_NOT_DIGIT_THRESHOLD) for row in predict(images)]
        return np.array([0.0 if answer.digit is None else answer.confidence * (1 - answer.not_digit) for answer in answers])

    return judge


def load_pair_reader(path: str | os.PathLike | None = None, threads: int | None = None) -> Callable[[np.ndarray], np.ndarray] | None:
    """preprocess.segment_number's pair reader (pairs.py's model, PAIRS_PATH by default), or None where there is none."""
    path = Path(path) if path is not None else PAIRS_PATH
    twin = path.with_suffix(".keras")
    if not path.exists() and not twin.exists():
        return None
    if path.suffix == ".tflite" and _litert_interpreter_class() is None and not twin.exists():
        return None  # only the .tflite ships: without LiteRT, numbers are read by cuts alone
    return load_predictor(path, threads=threads).predict


def with_pair_readings(rows: np.ndarray, read: list[np.ndarray | None]) -> np.ndarray:
    """A number's model outputs, one row per digit, with the pair reader's rows (preprocess.Digit.probabilities)
    where it read two touching digits whole; a 10-output model's rows get the digits' share renormalized."""
    rows = np.array(rows, dtype=np.float32)
    for position, row in enumerate(read):
        if row is not None:
            row = np.asarray(row, np.float32)[: rows.shape[1]]
            rows[position] = row / row.sum()
    return rows


# What TensorFlow's native code prints on every start; anything else it prints is shown.
TENSORFLOW_NOISE = (
    "All log messages before absl::InitializeLog()",
    "oneDNN custom operations are on",
    "cudart_stub",
    "Could not find cuda drivers",
    "Unable to register cu",
    "computation placer already registered",
    "TF-TRT Warning",
    "This TensorFlow binary is optimized",
    "To enable the following instructions",
    "failed call to cuInit",
)


def import_tensorflow_quietly() -> None:
    """Import TensorFlow and Keras with their native start-up notices kept off the console.

    TF_CPP_MIN_LOG_LEVEL no longer silences absl's pre-initialization notices (TensorFlow 2.21), so
    file descriptor 2 goes to a temporary file during the import; lines that are not known noise are
    printed afterwards, so real errors still show.
    """
    import tempfile

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    # TensorFlow's CPU allocator hands every tensor to malloc, which maps a large one afresh and unmaps it when it is
    # freed, so the kernel fills its pages again on every step: on a 2-core AMD EPYC, 40% of a training run's CPU time
    # (960 of 2,380 s, 335 million page faults). Its BFC allocator keeps the memory it freed for the next tensors:
    # the same weights, bit for bit, with a training step 40% faster there. Read when TensorFlow starts, so set first.
    os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import keras  # noqa: F401
            import tensorflow  # noqa: F401
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            for line in captured.read().decode(errors="replace").splitlines():
                if line.strip() and not any(noise in line for noise in TENSORFLOW_NOISE):
                    print(line, file=sys.stderr)


class ModelError(Exception):
    """The model could not be loaded; the message is one line for users."""


class Predictor:
    """Maps float32 (N, 28, 28, 1) images in [0, 1] to float32 (N, 10) or (N, 11) probabilities (see ``interpret``)."""

    backend: str
    path: Path

    def predict(self, images: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class LiteRTPredictor(Predictor):
    backend = "litert"

    def __init__(self, path: Path, interpreter_class, threads: int | None = None) -> None:
        self.path = path
        try:
            self.interpreter = interpreter_class(model_path=str(path), num_threads=threads or os.cpu_count() or 1)
        except (ValueError, RuntimeError) as error:
            raise ModelError(f"{path}: not a valid TFLite model ({error})") from None
        details = self.interpreter.get_input_details()[0]
        self.input_index, self.input_shape = details["index"], [int(side) for side in details["shape"][1:]]
        self.output_index = self.interpreter.get_output_details()[0]["index"]
        self.batch = 0

    def _resize(self, batch: int) -> None:
        if batch != self.batch:
            self.interpreter.resize_tensor_input(self.input_index, [batch, *self.input_shape])
            if self.batch:
                self.interpreter.allocate_tensors()
            else:  # the first allocation applies the XNNPACK delegate, which announces itself on stderr
                with _quiet_native_stderr():
                    self.interpreter.allocate_tensors()
            self.batch = batch

    def predict(self, images: np.ndarray) -> np.ndarray:
        images = np.ascontiguousarray(images, dtype=np.float32)
        outputs = []
        for start in range(0, len(images), PREDICT_BATCH):
            chunk = images[start : start + PREDICT_BATCH]
            self._resize(len(chunk))
            self.interpreter.set_tensor(self.input_index, chunk)
            self.interpreter.invoke()
            outputs.append(self.interpreter.get_tensor(self.output_index).copy())
        return np.concatenate(outputs) if outputs else np.zeros((0, NUM_DIGITS), np.float32)


class KerasPredictor(Predictor):
    backend = "keras"

    def __init__(self, path: Path) -> None:
        self.path = path
        import_tensorflow_quietly()
        import keras

        try:
            self.model = keras.models.load_model(path, compile=False)
        except Exception as error:  # Keras raises many types for a bad file; all mean "cannot load"
            raise ModelError(f"{path}: cannot load Keras model ({type(error).__name__}: {error})") from None

    def predict(self, images: np.ndarray) -> np.ndarray:
        if len(images) == 0:
            return np.zeros((0, NUM_DIGITS), np.float32)
        return np.asarray(self.model.predict(np.asarray(images, np.float32), batch_size=PREDICT_BATCH, verbose=0))


def _litert_interpreter_class():
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        return None
    return Interpreter


def load_predictor(path: str | os.PathLike | None = None, prefer_litert: bool = True, threads: int | None = None) -> Predictor:
    """Load the model at ``path`` (default: the shipped .tflite, else .keras); raise ModelError if it can't.

    ``threads``: the LiteRT interpreter's threads (default: one per core). A process that shares the cores
    with busy workers wants 1: a second thread only waits for the first, spinning on a core they need.
    """
    if path is None:
        path = DEFAULT_TFLITE_PATH if DEFAULT_TFLITE_PATH.exists() or not DEFAULT_KERAS_PATH.exists() else DEFAULT_KERAS_PATH
    path = Path(path)
    if not path.exists():
        raise ModelError(f"model {path} not found; run `python train.py` to train one, or pass --model PATH")
    if path.suffix == ".tflite":
        interpreter_class = _litert_interpreter_class() if prefer_litert else None
        if interpreter_class is not None:
            return LiteRTPredictor(path, interpreter_class, threads)
        # No LiteRT: the .keras twin gives the same predictions through TensorFlow.
        twin = path.with_suffix(".keras")
        if twin.exists():
            return KerasPredictor(twin)
        raise ModelError(f"{path}: LiteRT is not installed (pip install ai-edge-litert) and there is no {twin.name} beside it")
    if path.suffix == ".keras":
        return KerasPredictor(path)
    raise ModelError(f"{path}: unknown model format (expected .tflite or .keras)")
