"""pairs.py: touching pairs drawn for the pair reader, its training run, and how a number is read with it."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image, ImageDraw

import pairs
from inference import with_pair_readings
from preprocess import segment_number
from preprocess.common import components
from preprocess.render import PAIR_CANVAS


def two_digits() -> tuple[np.ndarray, np.ndarray]:
    """A 3 (an open curve) and a 7 (a bar and a stroke), as float MNIST images (2, 28, 28, 1)."""
    images = []
    for draw_digit in (
        lambda pen: pen.line([(8, 6), (19, 7), (13, 13), (20, 18), (9, 22)], fill=255, width=3),
        lambda pen: pen.line([(7, 6), (20, 6), (11, 22)], fill=255, width=3),
    ):
        canvas = Image.new("L", (28, 28))
        draw_digit(ImageDraw.Draw(canvas))
        images.append(np.asarray(canvas, np.float32)[..., np.newaxis] / 255)
    return np.stack(images), np.array([3, 7])


def test_samples_are_pairs_of_the_digits_drawn_or_other():
    images, labels = two_digits()
    x, y = pairs.make_pairs(images, labels, 300, seed=0, workers=1)
    assert x.shape == (300, *PAIR_CANVAS) and x.dtype == np.uint8
    assert set(np.unique(y)) <= {33, 37, 73, 77, pairs.OTHER}
    # Every kind is drawn: each of the four pairs, and "other".
    assert {33, 37, 73, 77, pairs.OTHER} <= set(np.unique(y))
    # Centred by mass like a digit: the ink's middle near the field's.
    mass = x.astype(np.float64).sum(axis=0)
    columns = np.arange(PAIR_CANVAS[1])
    assert abs((mass.sum(axis=0) * columns).sum() / mass.sum() - PAIR_CANVAS[1] / 2) < 1.5


def test_samples_are_the_same_for_any_number_of_workers():
    images, labels = two_digits()
    one = pairs.make_pairs(images, labels, 2 * pairs.CHUNK + 10, seed=3, workers=1)
    two = pairs.make_pairs(images, labels, 2 * pairs.CHUNK + 10, seed=3, workers=2)
    assert np.array_equal(one[0], two[0]) and np.array_equal(one[1], two[1])
    other_seed = pairs.make_pairs(images, labels, 50, seed=4, workers=1)
    assert not np.array_equal(other_seed[0], one[0][:50])


def test_joined_digits_touch_or_nearly():
    images, _ = two_digits()
    masks = [pairs._digit_mask(images[i, ..., 0], pairs.HEIGHT) for i in (0, 1)]
    for seed in range(20):
        joined = pairs._join(masks, np.random.default_rng(seed))
        # One blob (touching or overlapping), or two a hair apart: never a digit's width between them.
        assert joined.shape[1] < masks[0].shape[1] + masks[1].shape[1] + 0.05 * pairs.HEIGHT
        parts = components(joined)
        assert len(parts.area) <= 2
        if len(parts.area) == 2:
            gap = min(parts.left.max() - parts.right.min(), joined.shape[1])
            assert gap <= 0.05 * pairs.HEIGHT


def test_pair_readings_replace_the_model_rows_they_read():
    rows = np.full((3, 11), 1 / 11, np.float32)
    read = np.zeros(11, np.float32)
    read[4], read[10] = 0.9, 0.1
    out = with_pair_readings(rows, [None, read, None])
    assert np.array_equal(out[[0, 2]], rows[[0, 2]])
    assert out[1].argmax() == 4 and out[1, 10] == pytest.approx(0.1)
    # A 10-output model: the digits' share, renormalized.
    ten = with_pair_readings(rows[:, :10], [None, read, None])
    assert ten.shape == (3, 10) and ten[1, 4] == pytest.approx(1.0)


def touching_pair_picture() -> Image.Image:
    """Two wide rings run into each other (what the pair reader gets), beside a lone 1."""
    canvas = Image.new("L", (520, 220), 235)
    pen = ImageDraw.Draw(canvas)
    pen.ellipse([30, 40, 150, 180], outline=20, width=12)
    pen.ellipse([135, 40, 255, 180], outline=20, width=12)
    pen.line([(380, 40), (380, 180)], fill=20, width=12)
    return canvas


def reader_of(answer: int, sure: float, seen: list):
    def read(images: np.ndarray) -> np.ndarray:
        seen.extend(images)
        rows = np.full((len(images), pairs.NUM_PAIR_CLASSES), (1 - sure) / (pairs.NUM_PAIR_CLASSES - 1), np.float32)
        rows[:, answer] = sure
        return rows

    return read


def sure_judge(images: np.ndarray) -> np.ndarray:
    return np.full(len(images), 0.99)


def test_a_blob_the_pair_reader_is_sure_of_becomes_its_two_digits():
    seen: list = []
    digits = segment_number(touching_pair_picture(), judge=sure_judge, pairs=reader_of(80, 0.99, seen))
    # Only the wide blob (and its pieces, where the shape cut it) is read as a pair, drawn 28x48; the 1 beside it
    # (a few columns of ink drawn alone) is not.
    assert seen and all(image.shape == (*PAIR_CANVAS, 1) for image in seen)
    assert all(np.count_nonzero(image.max(axis=0) > 0.5) >= 12 for image in seen)
    assert len(digits) == 3
    first, second, third = (digit.probabilities for digit in digits)
    assert first.argmax() == 8 and second.argmax() == 0 and third is None
    assert first[:10].sum() + first[10] == pytest.approx(1.0, abs=1e-5)
    assert digits[0].right <= digits[1].right and digits[1].left < digits[2].left


@pytest.mark.parametrize(("answer", "sure"), [(pairs.OTHER, 0.99), (80, 0.6)], ids=["other", "unsure"])
def test_a_blob_the_pair_reader_is_not_sure_of_as_two_digits_is_read_as_before(answer, sure):
    before = segment_number(touching_pair_picture(), judge=sure_judge)
    after = segment_number(touching_pair_picture(), judge=sure_judge, pairs=reader_of(answer, sure, []))
    assert [(d.left, d.right) for d in after] == [(d.left, d.right) for d in before]
    assert all(digit.probabilities is None for digit in after)


def flat_judge(whole: float):
    """A stand-in judge: as sure as ``whole`` of a flat drawing (the two rings drawn as one digit), and barely sure of any
    taller one (a ring, a half, the 1), so that the rings are never cut."""

    def judge(images: np.ndarray) -> np.ndarray:
        inked_rows = np.array([np.count_nonzero(image[..., 0].max(axis=1) > 0.5) for image in images])
        return np.where(inked_rows < 16, whole, 0.1)

    return judge


@pytest.mark.parametrize(
    ("whole", "beside", "answer", "read"),
    [(0.5, True, 80, True), (0.99, True, 80, False), (0.5, False, 80, False), (0.5, True, 11, False)],
    ids=["doubted", "sure", "lone", "ones"],
)
def test_a_blob_the_model_doubts_as_one_digit_needs_a_less_sure_pair_reader(whole, beside, answer, read):
    # The rings are left whole, so the reader needs PAIR_READ_WHOLE_SURE of them; at 96% it is not, but where the
    # model doubts them as one digit (50%) among other blobs, PAIR_READ_DOUBTED_SURE is enough. A lone blob (a
    # letter, as often as two digits) keeps the higher bar, and so does "11" (a 1 with a flag and a foot).
    picture = touching_pair_picture()
    if not beside:
        ImageDraw.Draw(picture).rectangle([300, 0, 520, 220], fill=235)  # the 1 rubbed out
    digits = segment_number(picture, judge=flat_judge(whole), pairs=reader_of(answer, 0.96, []))
    if read:
        assert len(digits) == 3 and [int(digit.probabilities.argmax()) for digit in digits[:2]] == list(divmod(answer, 10))
    else:
        assert len(digits) == 1 + beside and all(digit.probabilities is None for digit in digits)


def test_training_run_writes_the_reader(toy_npz, tmp_path, capsys):
    out = tmp_path / "pairs"
    assert pairs.main(["--data", str(toy_npz), "--count", "1000", "--epochs", "1", "--out-dir", str(out)]) == 0
    figures = json.loads((out / "pairs.json").read_text())
    assert figures["count"] == 1000 and 0.0 <= figures["test_accuracy"] <= 1.0
    assert (out / "pairs.tflite").stat().st_size > 0 and (out / "pairs.keras").exists()
    from inference import load_predictor

    assert load_predictor(out / "pairs.tflite").predict(np.zeros((2, *PAIR_CANVAS, 1), np.float32)).shape == (2, pairs.NUM_PAIR_CLASSES)
    assert "wrote" in capsys.readouterr().out


def test_bad_flags_are_a_usage_error(capsys):
    assert pairs.main(["--count", "10"]) == 2
    assert "error" in capsys.readouterr().err
