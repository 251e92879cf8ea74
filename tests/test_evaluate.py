"""evaluate.py's CLI through main([...]): output lines, --json, --top-k, --number, --save-preprocessed,
exit codes, bad inputs, the missing-model hint, and LiteRT vs Keras agreement.

Tests that need the shipped model skip cleanly until train.py has written models/mnist_cnn.tflite."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from PIL import Image, ImageDraw

import evaluate
from inference import DEFAULT_KERAS_PATH, DEFAULT_TFLITE_PATH

needs_model = pytest.mark.skipif(not DEFAULT_TFLITE_PATH.exists(), reason="no trained model: run `python train.py` first")
LINE = re.compile(r"^(?P<path>.+): (?P<digit>\d) \((?P<percent>\d+\.\d)%(?P<low>, low confidence)?\)")


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


def test_help_shows_defaults(capsys):
    with pytest.raises(SystemExit) as caught:
        evaluate.main(["--help"])
    assert caught.value.code == 0
    out = capsys.readouterr().out
    assert "--top-k" in out and "(default: 1)" in out and "--save-preprocessed" in out


@pytest.mark.parametrize(
    "argv", [["--bogus"], ["--top-k", "0", "a.png"], ["--top-k", "11", "a.png"], ["--top-k", "x"]], ids=["flag", "k0", "k11", "kx"]
)
def test_bad_usage_exits_2(argv, capsys):
    with pytest.raises(SystemExit) as caught:
        evaluate.main(argv)
    assert caught.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_missing_model_exits_2_with_train_hint(tmp_path, capsys):
    code = evaluate.main(["--model", str(tmp_path / "none.tflite"), str(seven(tmp_path / "a.png"))])
    assert code == 2
    err = capsys.readouterr().err
    assert "python train.py" in err and "Traceback" not in err


def test_unknown_model_format_exits_2(tmp_path, capsys):
    bogus = tmp_path / "model.onnx"
    bogus.write_bytes(b"not a model")
    assert evaluate.main(["--model", str(bogus), str(seven(tmp_path / "a.png"))]) == 2
    assert "unknown model format" in capsys.readouterr().err


def test_folder_listing_is_sorted_and_skips_other_files(tmp_path):
    for name in ("b.png", "a.jpg", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub.png").mkdir()
    items = evaluate.expand_paths([str(tmp_path)])
    assert [item.path for item in items] == [str(tmp_path / "a.jpg"), str(tmp_path / "b.png")]


def test_empty_folder_is_a_failed_item(tmp_path):
    (tmp_path / "readme.txt").write_text("no images here")
    items = evaluate.expand_paths([str(tmp_path)])
    assert len(items) == 1 and items[0].error == "folder holds no image files"


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
    image = Image.new("L", (480, 200), 255)
    image.paste(Image.open(one(tmp_path / "1.png")), (0, 0))
    image.paste(Image.open(seven(tmp_path / "7.png")), (150, 0))
    path = tmp_path / "seventeen.png"
    image.save(path)
    saved = tmp_path / "seen"
    assert evaluate.main(["--number", "--json", "--save-preprocessed", str(saved), str(path)]) == 0
    (record,) = json.loads(capsys.readouterr().out)
    assert record["number"] == "17" and len(record["digits"]) == 2
    assert sorted(p.name for p in saved.iterdir()) == ["seventeen_digit0.png", "seventeen_digit1.png"]
    assert evaluate.main(["--number", str(path)]) == 0
    assert capsys.readouterr().out.startswith(f"{path}: 17 (1: ")


@needs_model
def test_single_digit_mode_does_not_split(tmp_path, capsys):
    path = seven(tmp_path / "wide.png", size=(500, 200))
    assert evaluate.main(["--json", str(path)]) == 0
    (record,) = json.loads(capsys.readouterr().out)
    assert "number" not in record and record["digit"] is not None


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
    np.testing.assert_allclose(litert.predict(images), keras_model.predict(images), atol=1e-4)


@needs_model
@pytest.mark.slow
def test_mnist_mode_reports_accuracy(mnist_path, capsys):
    assert evaluate.main(["--data", str(mnist_path)]) == 0
    out = capsys.readouterr().out
    assert "accuracy" in out and "confusion matrix" in out
