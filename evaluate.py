"""Read handwritten digits from image files with the trained MNIST model.

  python evaluate.py photo.jpg drawings/        one line per image: "photo.jpg: 7 (98.4%)"
  python evaluate.py --jsonl -r scans/ > out    one JSON object per line, streamed, for any number of files
  python evaluate.py --number year.png          a number written in a row: "year.png: 2024 (...)"
  python evaluate.py                            no images: evaluate the model on the MNIST test set

Every image is prepared the way MNIST's digits were made (see preprocess/) before the model sees it.
Answers are printed as they are ready, in the order the inputs were given; a letter, symbol or doodle
is answered "not a digit" (JSON: "digit": null, "not_a_digit": true) when the model has that output.

Exit status:
  0    every input answered: a digit, or "not a digit"
  1    some inputs could not be read or hold no digit at all (each named on stderr, or in its JSON record),
       or a worker process was killed (out of memory) and the run stopped
  2    usage or model problem
  130  interrupted (Ctrl-C); every line already printed is complete
"""

from __future__ import annotations

import argparse
import contextlib
import heapq
import itertools
import json
import os
import signal
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cli import HelpFormatter
from inference import (
    DEFAULT_TFLITE_PATH,
    NUM_DIGITS,
    Answer,
    ModelError,
    Predictor,
    digit_judge,
    interpret,
    interpret_number,
    load_pair_reader,
    load_predictor,
    with_pair_readings,
)
from preprocess import NOT_A_DIGIT_MARK, ImageError, is_image_path, number_text, open_image, preprocess, segment_number

DEFAULT_TOP_K = 1
# Files per task handed to a worker process. Small, so that a run of slow
# phone photos cannot leave one core working alone at the end; each task costs well under a millisecond.
CHUNK_FILES = 4
# Images per model call, padded to it: LiteRT re-plans its memory whenever the batch size changes, and below
# 8 images each call's own overhead weighs (4 cost 40% more CPU per image than 8; more gains nothing).
MODEL_BATCH = 8
POOL_MIN_FILES = 16  # fewer inputs are read in this process: forking workers would cost more than it saves
# Chunks queued, running or done but not yet printed, per worker. Output keeps input order, so a slow file
# holds back what follows it: this many chunks (about 1 MB) keep the other cores busy meanwhile, and the
# bound keeps memory flat for any number of files.
CHUNKS_IN_FLIGHT_PER_WORKER = 32
WORKER_CHECK_S = 1.0  # how often a wait for a worker's files checks that the workers are all still alive
PROGRESS_DELAY_S = 2.0  # the progress bar appears only once a run has taken this long
EXIT_OK, EXIT_INPUT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED, EXIT_BROKEN_PIPE = 0, 1, 2, 130, 141
ROOT = Path(__file__).resolve().parent

# preprocess.segment_number's judge: float32 (N, 28, 28, 1) digit images -> (N,) how sure the model is of each.
Judge = Callable[[np.ndarray], np.ndarray]


@dataclass
class Item:
    """One input: its path as the user wrote it, and either the images to classify or the reason it failed."""

    path: str
    error: str | None = None
    images: np.ndarray | None = None  # float32 (K, 28, 28, 1): one digit, or a --number's digits left to right
    spaces: list[bool] = field(default_factory=list)  # --number: a wide gap before each digit
    probabilities: np.ndarray | None = None  # (K, 10) or (K, 11) once predicted
    read: list[np.ndarray | None] = field(default_factory=list)  # --number: digits the pair reader read, (11,) each


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    parser.add_argument("paths", nargs="*", metavar="PATH", help="image files or folders of images; none: evaluate on MNIST's test set")
    # The default is decided by load_predictor (the shipped .tflite, else its .keras twin) and shown relative to
    # the project, not as this machine's absolute path.
    shipped = os.path.relpath(DEFAULT_TFLITE_PATH, ROOT)
    parser.add_argument("--model", type=Path, help=f"trained model, .tflite (fast) or .keras (default: {shipped}, else its .keras twin)")
    parser.add_argument("--top-k", type=int, default=DEFAULT_TOP_K, metavar="K", help="show the K most likely digits with probabilities")
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print one JSON array, one object per input")
    output.add_argument("--jsonl", action="store_true", help="print one JSON object per line, per input, each as soon as it is ready")
    parser.add_argument("-r", "--recursive", action="store_true", help="walk folders into their subfolders too")
    parser.add_argument("--number", action="store_true", help="each image holds a number written in a row: read every digit")
    parser.add_argument("--save-preprocessed", type=Path, metavar="DIR", help="write the 28x28 image the model saw for each input here")
    parser.add_argument(
        "--data",
        help="MNIST .npz or IDX folder for the no-image mode "
        "(default: $MNIST_DATA, then ../shared/data/mnist.npz beside the checkout, then the Keras cache)",
    )
    return parser


# --- Inputs --------------------------------------------------------------------------------------


def _folder_items(folder: str, recursive: bool) -> Iterator[Item]:
    """The image files in ``folder`` by name; with ``recursive``, each subfolder's where its name sorts.

    Only one folder's names are held at a time (plain strings, not directory entries, which weigh
    several times more), so memory follows the largest folder, not the whole tree. Symbolic links to
    folders are not followed (they could loop).
    """
    files: list[str] = []
    folders: list[str] = []
    try:
        with os.scandir(folder) as listing:
            for entry in listing:
                if recursive and entry.is_dir(follow_symlinks=False):
                    folders.append(entry.name)
                elif is_image_path(entry.name) and entry.is_file():
                    files.append(entry.name)
    except OSError as error:
        yield Item(folder, error=f"cannot list folder: {error.strerror or error}")
        return
    files.sort()
    folders.sort()
    for name, is_folder in heapq.merge(((name, False) for name in files), ((name, True) for name in folders)):
        path = os.path.join(folder, name)
        if is_folder:
            yield from _folder_items(path, recursive)
        else:
            yield Item(path)


def expand_paths(paths: Iterable[str], recursive: bool = False) -> Iterator[Item]:
    """Files as given; folders as their image files, sorted. A folder without images is a failed item.

    A generator: inputs are listed as the work reaches them, never all at once.
    """
    for path in paths:
        if not os.path.isdir(path):
            yield Item(path)
            continue
        found = False
        for item in _folder_items(path, recursive):
            found = True
            yield item
        if not found:
            hint = " (add --recursive to read its subfolders)" if not recursive and _has_subfolder(path) else ""
            yield Item(path, error=f"folder holds no image files{hint}")


def _has_subfolder(folder: str) -> bool:
    with contextlib.suppress(OSError), os.scandir(folder) as listing:
        return any(entry.is_dir() for entry in listing)
    return False


def _chunks(items: Iterator, size: int) -> Iterator[list]:
    while chunk := list(itertools.islice(items, size)):
        yield chunk


# --- Preprocessing, in worker processes when there are many files --------------------------------


def _reason(error: Exception, path: str) -> str:
    """The error message without a leading file name, which the output adds itself."""
    message = str(error)
    prefix = f"{path}: "
    return message[len(prefix) :] if message.startswith(prefix) else message


def prepare(item: Item, number: bool, judge: Judge | None = None, pairs: Judge | None = None) -> None:
    """Open and preprocess one input in place, recording a one-line error instead of raising.

    With --number, ``judge`` (the model, through inference.digit_judge) decides where touching digits are cut.
    """
    if item.error is not None:
        return
    try:
        image = open_image(item.path)
        if number:
            digits = segment_number(image, judge=judge, pairs=pairs)
            if not digits:
                raise ImageError("no digit found")
            item.images = np.stack([digit.image for digit in digits])
            item.spaces = [digit.space_before for digit in digits]
            item.read = [digit.probabilities for digit in digits]
        else:
            item.images = preprocess(image)[np.newaxis]
    except ImageError as error:
        item.error = _reason(error, item.path)
    except MemoryError:
        item.error = "not enough memory to decode this image"
    except Exception as error:  # a bug on one odd file must not end a run over thousands: name it and go on
        item.error = f"cannot process this image ({type(error).__name__}: {error}); please report it"


def prepare_chunk(chunk: list[Item], number: bool, judge: Judge | None = None, pairs: Judge | None = None) -> list[Item]:
    for item in chunk:
        prepare(item, number, judge, pairs)
    return chunk


# A worker's own model, for judging --number cuts: loaded on the worker's first --number chunk and kept for
# the worker's life. Workers are forked before the main process loads its model, so none inherits an
# interpreter (or its threads) across the fork; each loads its own, which LiteRT does in a fraction of a second.
_worker_judge: Judge | None = None
_worker_pairs: Judge | None = None


def prepare_chunk_in_worker(chunk: list[Item], number: bool, model: Path | None) -> list[Item]:
    """prepare_chunk in a worker process; with --number, the cuts are judged by this worker's own copy of ``model``."""
    global _worker_judge, _worker_pairs
    if number and _worker_judge is None:
        try:
            _worker_judge = digit_judge(load_predictor(model, threads=1).predict)
            _worker_pairs = load_pair_reader(threads=1)
        except ModelError as error:  # the main process loaded it a moment ago, so the file changed since
            for item in chunk:
                if item.error is None:
                    item.error = f"cannot load the model in a worker process ({error})"
            return chunk
    return prepare_chunk(chunk, number, _worker_judge if number else None, _worker_pairs if number else None)


def _worker_count() -> int:
    try:
        return len(os.sched_getaffinity(0))  # the cores this process may use, which may be fewer than the machine's
    except AttributeError:
        return os.cpu_count() or 1


PR_SET_PDEATHSIG = 1  # Linux prctl option: a signal for this process when the one that started it ends
# glibc's malloc options (mallopt): a worker keeps the memory of the arrays it frees for the next image's,
# instead of handing it back to the kernel and taking it again, zeroed, page by page (measured over the 676
# real and 300 realistic images: 25,000 page faults fewer, system time 0.38 -> 0.21 s). Arrays above
# the first size are still mapped and unmapped one by one; freed memory above the second is given back.
M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3
WORKER_MALLOC = {M_MMAP_THRESHOLD: 32 << 20, M_TRIM_THRESHOLD: 128 << 20, M_TOP_PAD: 16 << 20}  # bytes


def _start_worker(parent: int) -> None:
    # Ctrl-C reaches every process in the terminal's group; the main process alone decides what it means.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # A worker must never outlive the run: one left blocked on the pool's queue would keep stdout open,
    # and whoever reads it (a pipe, a test) would wait forever. On Linux the kernel sees to that.
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: the pool's own clean-up is all there is
        return
    if os.getppid() != parent:  # the run ended before the line above took effect
        os._exit(1)
    with contextlib.suppress(AttributeError):  # a C library without mallopt (musl): its defaults
        for option, value in WORKER_MALLOC.items():
            libc.mallopt(option, value)


class WorkerDied(Exception):
    """A worker process ended without handing back its files (killed, perhaps for lack of memory)."""


class Workers:
    """A pool of forked worker processes: they start in milliseconds with preprocess already imported.

    Started before the model is loaded, so no interpreter or TensorFlow threads exist to be forked.
    """

    def __init__(self, count: int) -> None:
        import multiprocessing
        from multiprocessing.pool import Pool

        class QuietPool(Pool):
            """CPython's pool wakes the thread that looks after its workers whenever a result waits in the pipe,
            and that thread spins until the result thread has read it: 0.22 s of CPU over the 976-file call,
            beside the model's 0.5. It needs waking only when a worker ends or the pool changes state (as in
            CPython's own ThreadPool); ``wait`` watches for dead workers itself."""

            def _get_sentinels(self):
                return [self._change_notifier._reader]

        before = set(multiprocessing.active_children())
        self.count = count
        self.pool = QuietPool(count, initializer=_start_worker, initargs=(os.getpid(),), context=multiprocessing.get_context("fork"))
        self.processes = set(multiprocessing.active_children()) - before

    def submit(self, chunk: list[Item], number: bool, model: Path | None):
        return self.pool.apply_async(prepare_chunk_in_worker, (chunk, number, model))

    def wait(self, pending) -> list[Item]:
        """The chunk ``pending`` stands for, once done; WorkerDied if a worker has gone.

        A pool replaces a worker that dies, but the files it held never come back: without this check
        the run would wait for them forever.
        """
        import multiprocessing

        while True:
            try:
                return pending.get(timeout=WORKER_CHECK_S)
            except multiprocessing.TimeoutError:
                if not all(process.is_alive() for process in self.processes):
                    raise WorkerDied("a worker process died (killed, perhaps for lack of memory)") from None

    def close(self) -> None:
        import multiprocessing

        if all(process.is_alive() for process in self.processes):
            self.pool.terminate()  # finished or interrupted: nothing of the workers' is still wanted
            self.pool.join()
            return
        # A worker killed while it held the task queue's lock (an idle worker holds it while it waits for
        # work) leaves that lock taken for good, and Pool.terminate() waits for it forever (CPython's
        # _help_stuff_finish). Kill the workers, the pool's replacements too, and skip the pool's own
        # clean-up, which would wait for the same lock at exit; its threads end with the process.
        for process in multiprocessing.active_children():
            process.kill()
        self.pool._terminate.cancel()


def prepared_chunks(
    items: Iterator[Item],
    number: bool,
    workers: Workers | None = None,
    judge: Judge | None = None,
    model: Path | None = None,
    pairs: Judge | None = None,
) -> Iterator[list[Item]]:
    """Chunks of preprocessed items, in input order, each as soon as it and those before it are done.

    With --number, touching digits are cut with a judge (and read whole with the pair reader ``pairs``)
    in this process, or with each worker's own copy of ``model`` (and of the pair reader). With workers,
    at most CHUNKS_IN_FLIGHT_PER_WORKER chunks per worker are queued or waiting to be taken, so memory
    stays flat however many files there are, and every core stays busy.
    """
    chunks = _chunks(items, CHUNK_FILES)
    if workers is None:
        for chunk in chunks:
            yield prepare_chunk(chunk, number, judge, pairs)
        return
    in_flight: deque = deque()
    for chunk in chunks:
        in_flight.append(workers.submit(chunk, number, model))
        if len(in_flight) >= workers.count * CHUNKS_IN_FLIGHT_PER_WORKER:
            yield workers.wait(in_flight.popleft())
    while in_flight:
        yield workers.wait(in_flight.popleft())


# --- Prediction ----------------------------------------------------------------------------------


def predict_chunks(predictor: Predictor, chunks: list[list[Item]]) -> None:
    """Fill in each item's probabilities with model calls of MODEL_BATCH images each.

    Short calls are padded to that size: LiteRT re-plans its memory whenever the batch size changes,
    which costs more than classifying a few blank images.
    """
    found = [item for chunk in chunks for item in chunk if item.images is not None]
    if not found:
        return
    images = np.concatenate([item.images for item in found])
    count = len(images)
    padding = -count % MODEL_BATCH
    if padding:
        images = np.concatenate([images, np.zeros((padding, *images.shape[1:]), images.dtype)])
    rows = np.concatenate([predictor.predict(images[start : start + MODEL_BATCH]) for start in range(0, len(images), MODEL_BATCH)])
    start = 0
    for item in found:
        item.probabilities = with_pair_readings(rows[start : start + len(item.images)], item.read)
        start += len(item.images)


# --- Records and lines ---------------------------------------------------------------------------


def _top(probabilities: np.ndarray, k: int) -> list[dict]:
    order = np.argsort(probabilities)[::-1][:k]
    return [{"digit": int(d), "probability": round(float(probabilities[d]), 6)} for d in order]


def _percent(value: float) -> str:
    return f"{100 * value:.1f}%"


def _answer_fields(answer: Answer, top_k: int) -> dict:
    """What one model output row says, read by inference.interpret or interpret_number (as the app reads it)."""
    return {
        "digit": answer.digit,
        "confidence": round(answer.confidence, 6),
        "not_a_digit": answer.digit is None,
        "not_digit_probability": round(answer.not_digit, 6),
        "low_confidence": answer.low_confidence,
        "top_k": _top(answer.probabilities, top_k),
    }


def describe(item: Item, top_k: int, number: bool) -> dict:
    """The JSON object for one input (also the source of its text line).

    "confidence" is the probability of the answer given: of the digit, or of "not a digit". With
    --number it is the least sure position's, and "not_a_digit" is true only when no position is a digit.
    """
    record: dict = {"path": item.path, "digit": None, "confidence": None, "error": item.error, "top_k": []}
    if item.error is not None or item.probabilities is None:
        if number:
            record.update(number=None, digits=[])
        return record
    if not number:
        record.update(_answer_fields(interpret(item.probabilities[0]), top_k))
        return record
    answers = [_answer_fields(answer, top_k) for answer in interpret_number(item.probabilities)]
    spaces = item.spaces or [False] * len(answers)
    record["number"] = number_text(spaces, [answer["digit"] for answer in answers])
    record["digits"] = answers
    record["not_digit_positions"] = [index for index, answer in enumerate(answers) if answer["not_a_digit"]]
    if len(answers) == 1:
        record.update(digit=answers[0]["digit"], top_k=answers[0]["top_k"])
    record["confidence"] = min(answer["confidence"] for answer in answers)  # a number is only as sure as its least sure digit
    record["not_a_digit"] = all(answer["not_a_digit"] for answer in answers)
    record["not_digit_probability"] = max(answer["not_digit_probability"] for answer in answers)
    record["low_confidence"] = any(answer["low_confidence"] for answer in answers)
    return record


def _position_text(answer: dict) -> str:
    if answer["not_a_digit"]:
        return f"{NOT_A_DIGIT_MARK}: not a digit {_percent(answer['confidence'])}"
    return f"{answer['digit']}: {_percent(answer['confidence'])}" + (" low" if answer["low_confidence"] else "")


def text_line(record: dict, top_k: int) -> str:
    """`path: 7 (98.4%)` or `path: not a digit (93.1%)`, flagged when unsure, with the top K when asked."""
    if "number" in record:
        line = f"{record['path']}: {record['number']} ({', '.join(_position_text(answer) for answer in record['digits'])})"
        if top_k > 1:
            per_digit = (" ".join(f"{t['digit']}:{_percent(t['probability'])}" for t in d["top_k"]) for d in record["digits"])
            line += f"  top-{top_k}: " + " | ".join(per_digit)
        return line
    if record["not_a_digit"]:
        line = f"{record['path']}: not a digit ({_percent(record['confidence'])})"
    else:
        flag = ", low confidence" if record["low_confidence"] else ""
        line = f"{record['path']}: {record['digit']} ({_percent(record['confidence'])}{flag})"
    if top_k > 1:
        line += f"  top-{top_k}: " + ", ".join(f"{t['digit']} {_percent(t['probability'])}" for t in record["top_k"])
    return line


# --- Output --------------------------------------------------------------------------------------


@contextlib.contextmanager
def _whole_lines() -> Iterator[None]:
    """Hold a Ctrl-C that arrives while lines are being written until they are out, so none is cut short."""
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield
        return
    held: list[int] = []
    signal.signal(signal.SIGINT, lambda signum, frame: held.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if held:
        raise KeyboardInterrupt


class Printer:
    """Prints records as they come, in text, --json or --jsonl, whole lines at a time.

    --json streams its array too, one object per line: each line waits for the next record only to
    learn whether a comma follows it, and an interrupted run still closes the array.
    """

    def __init__(self, style: str, top_k: int, progress=None) -> None:
        self.style, self.top_k, self.progress = style, top_k, progress
        self.held: dict | None = None  # --json: the latest record, printed once the next one arrives
        self.count = 0
        self.failed = False

    def add(self, records: list[dict]) -> None:
        lines: list[tuple[object, str]] = []  # (stream, line) in input order: text mode interleaves stdout and stderr
        for record in records:
            self.failed |= record["error"] is not None
            if self.style == "jsonl":
                lines.append((sys.stdout, json.dumps(record)))
            elif self.style == "json":
                if self.held is None:
                    lines.append((sys.stdout, "["))
                else:
                    lines.append((sys.stdout, f"  {json.dumps(self.held)},"))
                self.held = record
            elif record["error"] is None:
                lines.append((sys.stdout, text_line(record, self.top_k)))
            else:
                lines.append((sys.stderr, f"{record['path']}: error: {record['error']}"))
            self.count += 1
        self._write(lines)
        if self.progress is not None:
            self.progress.update(len(records))

    def finish(self) -> None:
        """Close the --json array (also after an interrupt: the objects printed so far stay valid JSON)."""
        if self.style == "json":
            self._write([(sys.stdout, "[]" if self.held is None else f"  {json.dumps(self.held)}\n]")])
            self.held = None
        if self.progress is not None:
            self.progress.close()

    def _write(self, lines: list[tuple[object, str]]) -> None:
        clear_bar = self.progress.external_write_mode() if self.progress is not None else contextlib.nullcontext()
        with _whole_lines(), clear_bar:
            for stream, group in itertools.groupby(lines, key=lambda line: line[0]):
                stream.write("".join(f"{text}\n" for _, text in group))
                stream.flush()


def _progress_bar(paths: Sequence[str], recursive: bool):
    """A tqdm bar on stderr when a person is watching it there (and the run lasts); None otherwise."""
    if not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    total = sum(1 for _ in expand_paths(paths, recursive))  # names only: quick next to reading the images
    return tqdm(total=total, unit="file", file=sys.stderr, delay=PROGRESS_DELAY_S, dynamic_ncols=True)


class PreprocessedWriter:
    """Writes each 28x28 model input as a PNG named after its file (…_digit0.png, … for numbers)."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.used: set[str] = set()  # names only, so two inputs called 1.png (a/1.png, b/1.png) keep both

    def write(self, item: Item) -> None:
        from PIL import Image

        if item.images is None:
            return
        stem = Path(item.path).stem or "image"
        for index, image in enumerate(item.images):
            base = f"{stem}_digit{index}" if len(item.images) > 1 else stem
            name, copy = f"{base}.png", 2
            while name in self.used:
                name, copy = f"{base}-{copy}.png", copy + 1
            self.used.add(name)
            pixels = np.round(image[..., 0] * 255).astype(np.uint8)
            Image.fromarray(pixels, mode="L").save(self.folder / name)


# --- The two modes -------------------------------------------------------------------------------


def _cannot_save(folder: Path, error: OSError) -> int:
    print(f"error: cannot write preprocessed images to {folder}: {error.strerror or error}", file=sys.stderr)
    return EXIT_USAGE


def evaluate_images(args: argparse.Namespace, printer: Printer) -> int:
    """Read, predict and print every input, streaming; the caller handles Ctrl-C and a closed pipe."""
    items = expand_paths(args.paths, args.recursive)
    head = list(itertools.islice(items, POOL_MIN_FILES))
    cores = _worker_count()
    workers = Workers(cores) if len(head) >= POOL_MIN_FILES and cores >= 2 else None
    try:
        try:
            # One interpreter thread beside the workers: they keep both cores busy already.
            predictor = load_predictor(args.model, threads=1) if workers is not None else load_predictor(args.model)
            # --number reads touching digits whole with the pair reader, where models/ has one; workers load their own.
            pairs = load_pair_reader() if args.number and workers is None else None
            writer = None if args.save_preprocessed is None else PreprocessedWriter(args.save_preprocessed)
        except ModelError as error:
            print(f"error: {error}", file=sys.stderr)
            return EXIT_USAGE
        except OSError as error:
            return _cannot_save(args.save_preprocessed, error)
        # Without workers the cuts of --number are judged by this process's model; workers load their own.
        judge = digit_judge(predictor.predict) if args.number and workers is None else None
        chunks = prepared_chunks(itertools.chain(head, items), args.number, workers, judge, args.model, pairs)
        # Chunks are predicted in pairs: a model call of MODEL_BATCH images, not one of CHUNK_FILES.
        for group in _chunks(chunks, max(1, MODEL_BATCH // CHUNK_FILES)):
            predict_chunks(predictor, group)
            done = [item for chunk in group for item in chunk]
            if writer is not None:
                try:
                    for item in done:
                        writer.write(item)
                except OSError as error:
                    return _cannot_save(writer.folder, error)
            printer.add([describe(item, args.top_k, args.number) for item in done])
    finally:
        if workers is not None:
            workers.close()
    return EXIT_INPUT_FAILED if printer.failed else EXIT_OK


def evaluate_mnist(args: argparse.Namespace) -> int:
    """The no-image mode: accuracy, loss, per-class report and confusion matrix on the MNIST test set."""
    from data import DataError, load_mnist
    from metrics import format_report, summarize

    try:
        predictor = load_predictor(args.model)
        dataset = load_mnist(args.data)
    except (ModelError, DataError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    summary = summarize(dataset.y_test, predictor.predict(dataset.x_test))
    if args.json or args.jsonl:
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
    if not args.paths:
        return evaluate_mnist(args)

    style = "jsonl" if args.jsonl else "json" if args.json else "text"
    printer = Printer(style, args.top_k, _progress_bar(args.paths, args.recursive))
    try:
        code = evaluate_images(args, printer)
        if code != EXIT_USAGE or printer.count:
            printer.finish()
        return code
    except KeyboardInterrupt:
        printer.finish()
        print(f"\nevaluate.py: interrupted after {printer.count} inputs; every line printed is complete", file=sys.stderr)
        return EXIT_INTERRUPTED
    except WorkerDied as error:
        printer.finish()
        print(f"error: {error}; stopped after {printer.count} inputs, every line printed is complete", file=sys.stderr)
        return EXIT_INPUT_FAILED
    except BrokenPipeError:  # the reader went away (`... | head`): stop quietly, as command-line tools do
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error when Python flushes at exit
        return EXIT_BROKEN_PIPE


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except KeyboardInterrupt:  # Ctrl-C outside the image loop (the MNIST mode): no half-printed line to worry about
        raise SystemExit(EXIT_INTERRUPTED) from None
