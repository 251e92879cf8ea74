"""evaluate.py's CLI through main([...]): output lines, --json, --jsonl, --top-k, --number, --recursive,
--save-preprocessed, "not a digit", exit codes, bad inputs, the missing-model hint, LiteRT vs Keras
agreement; and as a real process: streaming, Ctrl-C and a closed pipe.

Tests that need the shipped model skip cleanly until train.py has written models/mnist_cnn.tflite. The
"not a digit" output is tested with an 11-output stand-in for the model (the thing under test is what
evaluate.py prints, not what a model says), and in a slow test with a real 11-output Keras model."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw
from test_segment import READ_WHOLE, generated, touching

import evaluate
from inference import DEFAULT_KERAS_PATH, DEFAULT_TFLITE_PATH, LOW_CONFIDENCE, NOT_DIGIT_THRESHOLD, Predictor
from preprocess import segment_number

ROOT = Path(__file__).resolve().parent.parent
needs_model = pytest.mark.skipif(not DEFAULT_TFLITE_PATH.exists(), reason="no trained model: run `python train.py` first")
LINE = re.compile(r"^(?P<path>.+): (?P<digit>\d) \((?P<percent>\d+\.\d)%(?P<low>, low confidence)?\)")
MANY_INPUTS = evaluate.POOL_MIN_FILES * 3  # enough for the worker pool, with several chunks in flight
PROCESS_TIMEOUT_S = 120


def seven(path, size=(200, 200)):
    """A dark 7 on white paper, saved at path."""
    image = Image.new("L", size, 255)
    width, height = size
    ImageDraw.Draw(image).line([(0.3 * width, 0.2 * height), (0.7 * width, 0.2 * height), (0.45 * width, 0.85 * height)], fill=0, width=12)
    image.save(path)
    return path


def one(path):
    image = Image.new("L", (200, 200), 255)
    ImageDraw.Draw(image).line([(100, 30), (100, 170)], fill=0, width=12)
    image.save(path)
    return path


def seventeen(folder):
    """A 1 and a 7 side by side in one image: a two-digit number."""
    image = Image.new("L", (480, 200), 255)
    image.paste(Image.open(one(folder / "1.png")), (0, 0))
    image.paste(Image.open(seven(folder / "7.png")), (150, 0))
    path = folder / "seventeen.png"
    image.save(path)
    return path


def row(digit: int | None, probability: float, columns: int = 11) -> np.ndarray:
    """A model output row: ``probability`` on ``digit`` (None: on "not a digit"), the rest spread evenly."""
    values = np.full(columns, (1 - probability) / (columns - 1), np.float32)
    values[10 if digit is None else digit] = probability
    return values


class RowsPredictor(Predictor):
    """Stands in for an 11-output model: the i-th image of every call gets rows[i % len(rows)]."""

    backend = "fixed rows"
    path = Path("fixed-rows")

    def __init__(self, *rows: np.ndarray) -> None:
        self.rows = np.stack(rows)

    def predict(self, images: np.ndarray) -> np.ndarray:
        return self.rows[np.arange(len(images)) % len(self.rows)]


@pytest.fixture
def model_says(monkeypatch):
    """Make evaluate.py use a RowsPredictor with the given rows instead of loading a model."""

    def use(*rows: np.ndarray) -> None:
        monkeypatch.setattr(evaluate, "load_predictor", lambda path, **options: RowsPredictor(*rows))

    return use


def jsonl_records(text: str) -> list[dict]:
    lines = text.splitlines()
    assert text.endswith("\n") and all(lines)
    return [json.loads(line) for line in lines]


# --- usage and model problems --------------------------------------------------------------------


def test_help_shows_defaults_and_exit_codes(capsys):
    with pytest.raises(SystemExit) as caught:
        evaluate.main(["--help"])
    assert caught.value.code == 0
    out = capsys.readouterr().out
    assert "--top-k" in out and "(default: 1)" in out and "--save-preprocessed" in out and "--jsonl" in out and "--recursive" in out
    for code in ("0 ", "1 ", "2 ", "130 "):
        assert re.search(rf"^  {code}", out, re.MULTILINE), code
    assert "not a digit" in out
    # The default model is shown as the project's path, not this machine's.
    assert "(default: models/mnist_cnn.tflite" in " ".join(out.split()) and str(ROOT) not in out


@pytest.mark.parametrize(
    "argv",
    [["--bogus"], ["--top-k", "0", "a.png"], ["--top-k", "11", "a.png"], ["--top-k", "x"], ["--json", "--jsonl", "a.png"]],
    ids=["flag", "k0", "k11", "kx", "json-and-jsonl"],
)
def test_bad_usage_exits_2(argv, capsys):
    with pytest.raises(SystemExit) as caught:
        evaluate.main(argv)
    assert caught.value.code == 2
    assert "usage:" in capsys.readouterr().err


@pytest.mark.parametrize("many", [False, True], ids=["one-file", "pool"])
def test_missing_model_exits_2_with_train_hint(tmp_path, capsys, many):
    paths = [str(seven(tmp_path / "a.png"))] * (MANY_INPUTS if many else 1)
    code = evaluate.main(["--jsonl", "--model", str(tmp_path / "none.tflite"), *paths])
    assert code == 2
    captured = capsys.readouterr()
    assert "python train.py" in captured.err and "Traceback" not in captured.err and captured.out == ""


def test_unknown_model_format_exits_2(tmp_path, capsys):
    bogus = tmp_path / "model.onnx"
    bogus.write_bytes(b"not a model")
    assert evaluate.main(["--model", str(bogus), str(seven(tmp_path / "a.png"))]) == 2
    assert "unknown model format" in capsys.readouterr().err


# --- listing inputs ------------------------------------------------------------------------------


def test_folder_listing_is_sorted_and_skips_other_files(tmp_path):
    for name in ("b.png", "a.jpg", "c.HEIC", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub.png").mkdir()
    items = list(evaluate.expand_paths([str(tmp_path)]))
    assert [item.path for item in items] == [str(tmp_path / name) for name in ("a.jpg", "b.png", "c.HEIC")]


def test_empty_folder_is_a_failed_item(tmp_path):
    (tmp_path / "readme.txt").write_text("no images here")
    items = list(evaluate.expand_paths([str(tmp_path)]))
    assert len(items) == 1 and items[0].error == "folder holds no image files"


def test_recursive_walks_subfolders_in_name_order(tmp_path):
    for relative in ("top/b.png", "top/a/2.png", "top/a/deeper/3.png", "top/c/4.jpg", "top/c/notes.txt", "top/0.png"):
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_bytes(b"x")
    (tmp_path / "top/empty").mkdir()
    top = str(tmp_path / "top")
    walked = [item.path for item in evaluate.expand_paths([top], recursive=True)]
    expected = ["top/0.png", "top/a/2.png", "top/a/deeper/3.png", "top/b.png", "top/c/4.jpg"]
    assert walked == [os.path.join(tmp_path, *name.split("/")) for name in expected]
    flat = [item.path for item in evaluate.expand_paths([top])]
    assert flat == [os.path.join(tmp_path, "top", "0.png"), os.path.join(tmp_path, "top", "b.png")]


def test_folder_with_only_subfolders_hints_at_recursive(tmp_path):
    (tmp_path / "outer" / "inner").mkdir(parents=True)
    seven(tmp_path / "outer" / "inner" / "7.png")
    (item,) = evaluate.expand_paths([str(tmp_path / "outer")])
    assert "no image files" in item.error and "--recursive" in item.error
    (found,) = evaluate.expand_paths([str(tmp_path / "outer")], recursive=True)
    assert found.error is None and found.path.endswith("7.png")


def test_recursive_through_the_cli(tmp_path, capsys, model_says):
    model_says(row(7, 0.9))
    (tmp_path / "scans" / "2024").mkdir(parents=True)
    paths = [seven(tmp_path / "scans" / "2024" / "b.png"), seven(tmp_path / "scans" / "a.png")]
    assert evaluate.main(["--jsonl", "-r", str(tmp_path / "scans")]) == 0
    assert [record["path"] for record in jsonl_records(capsys.readouterr().out)] == [str(path) for path in paths]
    assert evaluate.main(["--jsonl", str(tmp_path / "scans")]) == 0  # without -r: only the image directly inside
    assert [record["path"] for record in jsonl_records(capsys.readouterr().out)] == [str(paths[1])]


def test_listing_is_lazy(tmp_path):
    """Inputs are listed as the work reaches them: the first one is ready before later folders are read."""
    seven(tmp_path / "a.png")
    items = evaluate.expand_paths([str(tmp_path / "a.png"), str(tmp_path / "created-later")])
    assert next(items).path == str(tmp_path / "a.png")
    (tmp_path / "created-later").mkdir()
    seven(tmp_path / "created-later" / "b.png")
    assert [item.path for item in items] == [str(tmp_path / "created-later" / "b.png")]


# --- answers with the shipped model --------------------------------------------------------------


@needs_model
def test_one_image_prints_one_line(tmp_path, capsys):
    path = seven(tmp_path / "seven.png")
    assert evaluate.main([str(path)]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    match = LINE.match(out[0])
    assert match and match["path"] == str(path) and match["digit"] == "7"


@needs_model
def test_bad_inputs_are_reported_and_the_rest_still_processed(tmp_path, capsys):
    good = seven(tmp_path / "good.png")
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.png").write_text("hello")
    Image.new("L", (100, 100), 255).save(tmp_path / "blank.png")
    Image.new("L", (5, 5), 0).save(tmp_path / "tiny.png")
    empty_folder = tmp_path / "nothing"
    empty_folder.mkdir()
    paths = [
        good,
        tmp_path / "missing.png",
        tmp_path / "empty.png",
        tmp_path / "text.png",
        tmp_path / "blank.png",
        tmp_path / "tiny.png",
        empty_folder,
    ]
    assert evaluate.main([str(p) for p in paths]) == 1
    captured = capsys.readouterr()
    assert captured.out.count("\n") == 1 and str(good) in captured.out
    errors = captured.err.strip().splitlines()
    assert len(errors) == 6 and "Traceback" not in captured.err
    expected = ["no such file", "empty file", "not an image", "no digit found", "too small", "no image files"]
    for line, path, message in zip(errors, paths[1:], expected, strict=True):
        assert line.startswith(f"{path}: error: ") and message in line


@needs_model
def test_json_schema_and_top_k(tmp_path, capsys):
    good, bad = seven(tmp_path / "seven.png"), tmp_path / "missing.png"
    assert evaluate.main(["--json", "--top-k", "3", str(good), str(bad)]) == 1
    records = json.loads(capsys.readouterr().out)
    assert [r["path"] for r in records] == [str(good), str(bad)]
    ok, failed = records
    assert ok["digit"] == 7 and 0 < ok["confidence"] <= 1 and ok["error"] is None
    assert ok["not_a_digit"] is False and 0 <= ok["not_digit_probability"] < NOT_DIGIT_THRESHOLD
    assert len(ok["top_k"]) == 3 and ok["top_k"][0]["digit"] == 7
    assert [t["probability"] for t in ok["top_k"]] == sorted((t["probability"] for t in ok["top_k"]), reverse=True)
    assert failed["digit"] is None and failed["confidence"] is None and "no such file" in failed["error"]


@needs_model
def test_top_k_in_text(tmp_path, capsys):
    assert evaluate.main(["--top-k", "2", str(seven(tmp_path / "s.png"))]) == 0
    assert re.search(r"top-2: 7 \d+\.\d%, \d \d+\.\d%", capsys.readouterr().out)


@needs_model
def test_save_preprocessed_writes_what_the_model_saw(tmp_path):
    out = tmp_path / "seen"
    first = tmp_path / "a"
    first.mkdir()
    assert evaluate.main(["--save-preprocessed", str(out), str(seven(first / "x.png")), str(seven(tmp_path / "x.png"))]) == 0
    saved = sorted(p.name for p in out.iterdir())
    assert saved == ["x-2.png", "x.png"]  # same stem from two folders: both kept
    pixels = np.asarray(Image.open(out / "x.png"))
    assert pixels.shape == (28, 28) and pixels.max() > 200 and pixels[0, 0] == 0


@needs_model
def test_number_reads_digits_left_to_right(tmp_path, capsys):
    path = seventeen(tmp_path)
    saved = tmp_path / "seen"
    assert evaluate.main(["--number", "--json", "--save-preprocessed", str(saved), str(path)]) == 0
    (record,) = json.loads(capsys.readouterr().out)
    assert record["number"] == "17" and len(record["digits"]) == 2 and record["not_digit_positions"] == []
    assert sorted(p.name for p in saved.iterdir()) == ["seventeen_digit0.png", "seventeen_digit1.png"]
    assert evaluate.main(["--number", str(path)]) == 0
    assert capsys.readouterr().out.startswith(f"{path}: 17 (1: ")


@needs_model
@pytest.mark.parametrize("many", [False, True], ids=["one-file", "pool"])
def test_number_reads_touching_digits_whole_with_the_pair_reader(tmp_path, capsys, mnist_path, many):
    # The generator's 5 and 8 sharing a stroke, which no cut parts: the pair reader (models/pairs.tflite) reads
    # them whole, in this process or in each worker of the pool.
    image = generated("touching_pair", 0, *READ_WHOLE["58"], mnist_path, tmp_path)
    path = tmp_path / "fifty-eight.png"
    image.save(path)
    count = evaluate.POOL_MIN_FILES if many else 1
    assert evaluate.main(["--number", "--jsonl", *[str(path)] * count]) == 0
    records = jsonl_records(capsys.readouterr().out)
    assert [record["number"] for record in records] == ["58"] * count
    assert all(record["digits"][1]["top_k"][0]["digit"] == 8 for record in records)


@needs_model
@pytest.mark.parametrize("many", [False, True], ids=["one-file", "pool"])
@pytest.mark.parametrize(("pair", "overlap"), [("17", 12), ("71", 6)], ids=["1-7", "7-1"])
def test_number_cuts_touching_digits_where_the_model_reads_both(tmp_path, capsys, pair, overlap, many):
    # A 1 leaning on its neighbour is one blob no wider than one wide digit: the shape alone leaves it
    # whole; the model as judge (in this process, or in each worker of the pool) reads it as two digits.
    path = tmp_path / "touching.png"
    touching(*pair, overlap=overlap).save(path)
    assert len(segment_number(Image.open(path))) == 1
    count = evaluate.POOL_MIN_FILES if many else 1
    assert evaluate.main(["--number", "--jsonl", *[str(path)] * count]) == 0
    records = jsonl_records(capsys.readouterr().out)
    assert [record["number"] for record in records] == [pair] * count
    assert all(digit["digit"] == int(name) for record in records for digit, name in zip(record["digits"], pair, strict=True))


def test_a_worker_that_cannot_load_the_model_names_each_file(tmp_path):
    # The main process loaded the model a moment before; if the file is gone when a worker needs it,
    # that worker's files get a one-line error each, and the run goes on.
    items = [evaluate.Item(str(seven(tmp_path / "a.png"))), evaluate.Item("b.png", error="no such file")]
    evaluate.prepare_chunk_in_worker(items, True, tmp_path / "gone.tflite")
    assert "cannot load the model in a worker process" in items[0].error and "gone.tflite" in items[0].error
    assert items[1].error == "no such file" and items[0].images is None


@needs_model
def test_single_digit_mode_does_not_split(tmp_path, capsys):
    path = seven(tmp_path / "wide.png", size=(500, 200))
    assert evaluate.main(["--json", str(path)]) == 0
    (record,) = json.loads(capsys.readouterr().out)
    assert "number" not in record and record["digit"] is not None


# --- streaming many inputs -----------------------------------------------------------------------


def many_inputs(folder: Path) -> tuple[list[str], list[str]]:
    """Command-line paths (files, a missing file, folders, given twice) and the input order they expand to."""
    folder.mkdir()
    for name in ("c.png", "a.png", "b.png"):  # written out of name order
        seven(folder / name)
    (folder / "broken.png").write_text("not an image")
    listed = [str(folder / name) for name in ("a.png", "b.png", "broken.png", "c.png")]
    argv, expected = [], []
    for index in range(MANY_INPUTS // 5):
        argv += [str(folder / "c.png"), str(folder), str(folder / f"missing-{index}.png")]
        expected += [str(folder / "c.png"), *listed, str(folder / f"missing-{index}.png")]
    return argv, expected


@needs_model
@pytest.mark.parametrize("style", ["--jsonl", "--json", "text"])
def test_many_inputs_stream_in_input_order(tmp_path, capsys, style):
    argv, expected = many_inputs(tmp_path / "images")
    assert len(expected) >= evaluate.POOL_MIN_FILES  # the worker pool's path
    assert evaluate.main([*([style] if style != "text" else []), *argv]) == 1
    captured = capsys.readouterr()
    if style == "text":
        answered = [line.rsplit(": ", 1)[0] for line in captured.out.splitlines()]
        failed = [line.split(": error: ")[0] for line in captured.err.splitlines()]
        assert answered == [path for path in expected if "missing" not in path and "broken" not in path]
        assert failed == [path for path in expected if "missing" in path or "broken" in path]
        return
    records = jsonl_records(captured.out) if style == "--jsonl" else json.loads(captured.out)
    assert [record["path"] for record in records] == expected
    for record in records:
        failed = "missing" in record["path"] or "broken" in record["path"]
        assert (record["error"] is not None) == failed
        assert failed or (record["digit"] == 7 and record["not_a_digit"] is False)


@pytest.mark.parametrize("count", [evaluate.MODEL_BATCH * 2 + 1, evaluate.POOL_MIN_FILES + 3], ids=["in-process", "worker-pool"])
def test_one_prediction_call_per_batch_of_images(tmp_path, capsys, monkeypatch, count):
    """Predictions are batched: full batches of MODEL_BATCH, padded, never one model call per file."""
    calls = []

    class Counting(RowsPredictor):
        def predict(self, images):
            calls.append(len(images))
            return super().predict(images)

    monkeypatch.setattr(evaluate, "load_predictor", lambda path, **options: Counting(row(7, 0.9)))
    assert evaluate.main(["--jsonl", *[str(seven(tmp_path / "s.png"))] * count]) == 0
    assert len(jsonl_records(capsys.readouterr().out)) == count
    assert calls == [evaluate.MODEL_BATCH] * -(-count // evaluate.MODEL_BATCH)


# --- "not a digit" -------------------------------------------------------------------------------


def test_not_a_digit_in_text_json_and_jsonl(tmp_path, capsys, model_says):
    path = str(seven(tmp_path / "doodle.png"))
    model_says(row(None, 0.931))
    assert evaluate.main([path]) == 0  # answered: not an error
    assert capsys.readouterr().out == f"{path}: not a digit (93.1%)\n"
    for style in ("--json", "--jsonl"):
        assert evaluate.main([style, "--top-k", "2", path]) == 0
        out = capsys.readouterr().out
        (record,) = json.loads(out) if style == "--json" else jsonl_records(out)
        assert record["digit"] is None and record["not_a_digit"] is True and record["error"] is None
        assert record["confidence"] == pytest.approx(0.931) and record["not_digit_probability"] == pytest.approx(0.931)
        assert record["low_confidence"] is False and len(record["top_k"]) == 2


@pytest.mark.parametrize("columns", [10, 11], ids=["10-output", "11-output"])
def test_digit_answers_carry_the_not_a_digit_fields(tmp_path, capsys, model_says, columns):
    model_says(row(3, 0.5, columns))
    assert evaluate.main(["--jsonl", str(seven(tmp_path / "s.png"))]) == 0
    (record,) = jsonl_records(capsys.readouterr().out)
    assert record["digit"] == 3 and record["not_a_digit"] is False and record["error"] is None
    assert record["not_digit_probability"] == pytest.approx(0.05 if columns == 11 else 0.0)
    assert record["low_confidence"] is (record["confidence"] < LOW_CONFIDENCE)


def test_number_marks_positions_that_are_not_digits(tmp_path, capsys, model_says):
    path = seventeen(tmp_path)
    model_says(row(1, 0.99), row(None, 0.8))  # beside a digit, 0.8 is not sure enough to be no digit
    assert evaluate.main(["--number", "--jsonl", str(path)]) == 0
    (record,) = jsonl_records(capsys.readouterr().out)
    assert record["number"] == "10" and record["not_digit_positions"] == []
    model_says(row(1, 0.99), row(None, 0.95))
    assert evaluate.main(["--number", "--jsonl", str(path)]) == 0
    (record,) = jsonl_records(capsys.readouterr().out)
    assert record["number"] == "1?" and record["not_digit_positions"] == [1]
    first, second = record["digits"]
    assert first["digit"] == 1 and first["not_a_digit"] is False
    assert second["digit"] is None and second["not_a_digit"] is True and second["confidence"] == pytest.approx(0.95)
    assert record["not_a_digit"] is False and record["confidence"] == pytest.approx(0.95)
    assert evaluate.main(["--number", str(path)]) == 0
    # 99.1%: the digit's share of the ten digits' probabilities, 0.99 / (1 - 0.001 on "not a digit")
    assert capsys.readouterr().out == f"{path}: 1? (1: 99.1%, ?: not a digit 95.0%)\n"


def test_numbers_through_the_worker_pool(tmp_path, capsys, model_says):
    """Many --number inputs: every digit image of a chunk reaches the model and comes back to its own file."""
    model_says(row(1, 0.99), row(None, 0.95))  # model calls are MODEL_BATCH images, and each file has 2 digits
    path = str(seventeen(tmp_path))
    count = evaluate.POOL_MIN_FILES + 3
    saved = tmp_path / "seen"
    assert evaluate.main(["--number", "--jsonl", "--save-preprocessed", str(saved), *[path] * count]) == 0
    records = jsonl_records(capsys.readouterr().out)
    assert [record["number"] for record in records] == ["1?"] * count
    assert len(list(saved.iterdir())) == 2 * count


def test_blank_image_is_still_an_error_not_a_non_digit(tmp_path, capsys, model_says):
    model_says(row(None, 0.99))
    Image.new("L", (100, 100), 255).save(tmp_path / "blank.png")
    assert evaluate.main(["--jsonl", str(tmp_path / "blank.png")]) == 1
    (record,) = jsonl_records(capsys.readouterr().out)
    assert "no digit found" in record["error"] and "not_a_digit" not in record


@pytest.mark.slow
def test_a_real_11_output_model_says_not_a_digit(tmp_path, capsys):
    """A tiny real Keras model whose 11th output always wins, as .keras and as .tflite, through the CLI."""
    import keras

    import train

    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(11, activation="softmax")])
    kernel, bias = model.layers[-1].get_weights()
    bias[10] = 5.0  # softmax: e^5 / (10 + e^5) = 0.937 on "not a digit", whatever the input
    model.layers[-1].set_weights([np.zeros_like(kernel), bias])
    model.save(tmp_path / "tiny.keras")
    train.export_tflite(model, tmp_path / "tiny.tflite")
    path = str(seven(tmp_path / "s.png"))
    expected = np.exp(5.0) / (10 + np.exp(5.0))
    for suffix in (".keras", ".tflite"):
        assert evaluate.main(["--jsonl", "--model", str(tmp_path / f"tiny{suffix}"), path]) == 0
        (record,) = jsonl_records(capsys.readouterr().out)
        assert record["not_a_digit"] is True and record["digit"] is None
        assert record["confidence"] == pytest.approx(expected, abs=1e-4)


# --- as a real process ---------------------------------------------------------------------------


def _as_from_a_terminal() -> None:
    # A shell starts background jobs with SIGINT ignored, and a child keeps that: pytest run as one (a CI
    # script's `&`) would hand it on, and evaluate.py rightly would not stop. A terminal's Ctrl-C is on.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start(argv: list[str], tmp_path: Path) -> subprocess.Popen:
    """evaluate.py in its own process group, as a terminal would run it (so Ctrl-C reaches the workers too)."""
    return subprocess.Popen(
        [sys.executable, "evaluate.py", *argv],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=open(tmp_path / "stderr.txt", "w"),  # a file: a full stderr pipe must never stall the run
        start_new_session=True,
        preexec_fn=_as_from_a_terminal,
    )


def endless(tmp_path: Path) -> list[str]:
    """A run far longer than any test waits: one folder of images, given a thousand times."""
    folder = tmp_path / "images"
    folder.mkdir()
    for index in range(20):
        seven(folder / f"{index:02d}.png")
    return [str(folder)] * 1000


@needs_model
@pytest.mark.parametrize("style", ["--jsonl", "--json", "text"])
def test_ctrl_c_leaves_only_complete_lines_and_exits_130(tmp_path, style):
    process = start([*([style] if style != "text" else []), *endless(tmp_path)], tmp_path)
    try:
        first = process.stdout.readline()  # streaming: output starts long before the run could end
        assert first.endswith(b"\n") and process.poll() is None
        time.sleep(0.5)
        os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole group
        rest, _ = process.communicate(timeout=PROCESS_TIMEOUT_S)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    stderr = (tmp_path / "stderr.txt").read_text()
    assert process.returncode == 130 and "Traceback" not in stderr and "interrupted" in stderr
    out = (first + rest).decode()
    assert out.endswith("\n")
    if style == "--jsonl":
        records = jsonl_records(out)
    elif style == "--json":
        records = json.loads(out)  # the array is closed after the last complete object
    else:
        records = [LINE.match(line) for line in out.splitlines()]
        assert all(records)
    assert 0 < len(records) < 20_000


@needs_model
def test_a_closed_pipe_ends_the_run_quietly(tmp_path):
    process = start(["--jsonl", *endless(tmp_path)], tmp_path)
    try:
        json.loads(process.stdout.readline())
        process.stdout.close()  # `evaluate.py ... | head -1`
        process.wait(timeout=PROCESS_TIMEOUT_S)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == evaluate.EXIT_BROKEN_PIPE
    assert "Traceback" not in (tmp_path / "stderr.txt").read_text()


@needs_model
@pytest.mark.parametrize("files", [1, evaluate.POOL_MIN_FILES], ids=["one-file", "pool"])
def test_the_tflite_path_never_imports_tensorflow(tmp_path, files):
    """TensorFlow takes seconds to import; a .tflite run must not pay for it, nor for a pool it does not use."""
    path = str(seven(tmp_path / "s.png"))
    check = (
        "import sys, evaluate\n"
        f"code = evaluate.main([*{[path] * files!r}])\n"
        "print(code, 'tensorflow' in sys.modules, 'keras' in sys.modules, 'multiprocessing' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", check], cwd=ROOT, capture_output=True, text=True, timeout=PROCESS_TIMEOUT_S)
    assert result.stdout.splitlines()[-1] == f"0 False False {files > 1}"


def children(pid: int) -> list[int]:
    return [int(child) for task in Path(f"/proc/{pid}/task").iterdir() for child in (task / "children").read_text().split()]


@needs_model
@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux's /proc to find the worker processes")
def test_a_killed_worker_ends_the_run_with_an_error_not_a_hang(tmp_path):
    process = start(["--jsonl", *endless(tmp_path)], tmp_path)
    try:
        first = process.stdout.readline()
        workers = children(process.pid)
        assert len(workers) >= 2  # the run is long enough to use the worker pool
        os.kill(workers[0], signal.SIGKILL)  # what the kernel's out-of-memory killer does
        rest, _ = process.communicate(timeout=PROCESS_TIMEOUT_S)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    stderr = (tmp_path / "stderr.txt").read_text()
    assert process.returncode == 1 and "worker process died" in stderr and "Traceback" not in stderr
    assert 0 < len(jsonl_records((first + rest).decode())) < 20_000


@needs_model
@pytest.mark.skipif(not DEFAULT_KERAS_PATH.exists(), reason="no .keras model beside the .tflite")
def test_litert_and_keras_agree(tmp_path):
    pytest.importorskip("ai_edge_litert")
    from inference import load_predictor
    from preprocess import preprocess

    images = np.stack([preprocess(Image.open(seven(tmp_path / "s.png"))), preprocess(Image.open(one(tmp_path / "o.png")))])
    rng = np.random.default_rng(0)
    images = np.concatenate([images, rng.random((3, 28, 28, 1), dtype=np.float32)])
    litert = load_predictor(DEFAULT_TFLITE_PATH)
    keras_model = load_predictor(DEFAULT_KERAS_PATH)
    assert litert.backend == "litert" and keras_model.backend == "keras"
    import train

    # The .tflite holds 8-bit weights: the same answers, probabilities within the export's tolerance.
    lite_probabilities, keras_probabilities = litert.predict(images), keras_model.predict(images)
    np.testing.assert_allclose(lite_probabilities, keras_probabilities, atol=train.TFLITE_TOLERANCE)
    assert lite_probabilities[:2].argmax(1).tolist() == keras_probabilities[:2].argmax(1).tolist()


@needs_model
@pytest.mark.slow
def test_mnist_mode_reports_accuracy(mnist_path, capsys):
    assert evaluate.main(["--data", str(mnist_path)]) == 0
    out = capsys.readouterr().out
    assert "accuracy" in out and "confusion matrix" in out
