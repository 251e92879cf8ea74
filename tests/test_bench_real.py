"""Tests for the real-image benchmark's calculations (benchmarks/bench_real.py) on synthetic inputs: no real data needed."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from benchmarks import bench_real


@pytest.mark.parametrize(
    ("style", "size", "group"),
    [
        ("photo-paper-blue-pen", (3024, 4032), bench_real.PHOTO),
        ("photo-paper-28px-gray", (28, 28), bench_real.PHOTO),  # a photo shrunk to 28 px is still a photo
        ("scan-pen-boxed", (600, 400), bench_real.PHOTO),
        ("chalk-white-on-black-textured", (200, 200), bench_real.PHOTO),
        ("paint-28px-black-on-white", (28, 28), bench_real.SMALL_PAINT),
        ("paint-30px-black-on-white", (30, 32), bench_real.SMALL_PAINT),
        ("canvas-28px-white-on-black", (28, 28), bench_real.SMALL_PAINT),
        ("paint-48px-white-on-black", (48, 48), bench_real.LARGE_PAINT),
        ("canvas-white-on-black-thin", (280, 280), bench_real.LARGE_PAINT),
        ("marker-black-on-white-thick", (500, 500), bench_real.LARGE_PAINT),
    ],
    ids=lambda value: str(value),
)
def test_style_group(style, size, group):
    assert bench_real.style_group(style, size) == group


def test_ece_is_zero_when_confidence_matches_accuracy_and_large_when_sure_and_wrong():
    # 10 answers at 80% confidence, 8 of them right: perfectly calibrated.
    assert bench_real.expected_calibration_error(np.full(10, 0.8), np.arange(10) < 8) == pytest.approx(0.0)
    assert bench_real.expected_calibration_error(np.full(4, 0.99), np.zeros(4, bool)) == pytest.approx(0.99)
    assert bench_real.expected_calibration_error(np.array([]), np.array([], bool)) == 0.0


def test_ece_weights_bins_by_their_size():
    # Bin (0.9, 1.0]: 3 answers at 0.95, all right -> gap 0.05; bin (0.5, 0.6]: 1 answer at 0.55, wrong -> gap 0.55.
    confidences = np.array([0.95, 0.95, 0.95, 0.55])
    correct = np.array([True, True, True, False])
    assert bench_real.expected_calibration_error(confidences, correct) == pytest.approx((3 * 0.05 + 0.55) / 4)
    # One bin over everything mixes the two and hides the gap.
    assert bench_real.expected_calibration_error(confidences, correct, bins=1) == pytest.approx(abs(0.75 - 0.85))


def test_flag_split_counts_wrong_and_right_answers_below_the_threshold():
    confidences = np.array([0.3, 0.5, 0.7, 0.9, 0.55, 0.99])
    correct = np.array([False, False, False, True, True, True])
    split = bench_real.flag_split(confidences, correct, 0.6)
    assert (split["wrong_flagged"], split["wrong"], split["right_flagged"], split["right"]) == (2, 3, 1, 3)
    assert split["wrong_flagged_share"] == pytest.approx(2 / 3)
    assert split["right_flagged_share"] == pytest.approx(1 / 3)
    assert bench_real.flag_split(confidences, correct, 0.5)["wrong_flagged"] == 1  # strictly below, like Answer.low_confidence


def test_threshold_sweep_finds_the_range_where_both_targets_hold():
    # 100 right answers at 0.99-1.0 (2 of them at 0.9), 6 wrong ones: 4 below 0.8, 2 sure of themselves.
    right = np.concatenate([np.linspace(0.99, 1.0, 98), [0.9, 0.9]])
    wrong = np.array([0.4, 0.5, 0.6, 0.75, 0.999, 0.9995])
    confidences = np.concatenate([right, wrong])
    correct = np.concatenate([np.ones(100, bool), np.zeros(6, bool)])
    sweep = bench_real.threshold_sweep(confidences, correct)
    lowest, highest = sweep["lowest_reaching_wrong_target"], sweep["highest_within_right_target"]
    assert lowest["wrong_flagged"] == 4 and lowest["right_flagged"] == 0 and 0.75 < lowest["threshold"] <= 0.76
    assert highest["right_flagged"] == 3 and highest["right_flagged_share"] <= bench_real.TARGET_RIGHT_FLAGGED
    assert sweep["both_targets_possible"]
    assert [row["threshold"] for row in sweep["table"]] == list(bench_real.SWEEP_REPORTED)


def test_threshold_sweep_says_when_the_targets_cannot_both_hold():
    # Every wrong answer is surer than every right one: no threshold catches them without flagging all right ones.
    confidences = np.array([0.6, 0.7, 0.8, 0.99, 0.995])
    correct = np.array([True, True, True, False, False])
    assert not bench_real.threshold_sweep(confidences, correct)["both_targets_possible"]


@pytest.mark.parametrize(
    ("record", "answer"),
    [
        ({"digit": 7, "confidence": 0.9, "error": None}, 7),
        ({"digit": 0, "confidence": 0.9, "error": None, "not_a_digit": False}, 0),
        ({"digit": None, "confidence": 0.93, "error": None, "not_a_digit": True}, bench_real.NOT_A_DIGIT),
        ({"digit": None, "confidence": None, "error": "no digit found (blank or near-blank image)"}, bench_real.NO_DIGIT),
        ({"digit": None, "confidence": None, "error": "not an image file"}, bench_real.UNREADABLE),
    ],
    ids=["digit", "zero", "not-a-digit", "no-digit", "unreadable"],
)
def test_answer_of_a_record(record, answer):
    assert bench_real.answer_of(record) == answer


def test_score_counts_turned_away_and_missing_images_as_wrong():
    rows = [{"file": name, "label": 3, "style": "paint", "group": bench_real.LARGE_PAINT} for name in ("a.png", "b.png", "c.png", "d.png")]
    records = [
        {"path": "set/images/a.png", "digit": 3, "confidence": 0.99, "error": None, "low_confidence": False},
        {"path": "set/images/b.png", "digit": None, "confidence": 0.8, "error": None, "not_a_digit": True},
        {"path": "set/images/c.png", "digit": 8, "confidence": 0.5, "error": None, "low_confidence": True},
    ]
    results = bench_real.score(rows, records)
    assert [result.correct for result in results] == [True, False, False, False]
    assert [result.answer for result in results] == [3, bench_real.NOT_A_DIGIT, 8, bench_real.UNREADABLE]
    assert results[2].low_confidence and results[2].answered_digit and not results[1].answered_digit
    groups = bench_real.accuracy_by(results, lambda result: result.group)
    assert groups == {bench_real.LARGE_PAINT: {"total": 4, "correct": 1, "accuracy": 0.25}}


def test_preprocessed_names_match_what_evaluate_writes(tmp_path):
    from inference import DEFAULT_TFLITE_PATH

    if not DEFAULT_TFLITE_PATH.exists():
        pytest.skip("no shipped model")
    images = tmp_path / "images"
    images.mkdir()
    for name in ("one.png", "one.jpg", "two.png"):  # one.png and one.jpg: two inputs, one stem
        _draw(1, 100, images / name)
    (images / "notes.png").write_text("not an image")
    records, _ = bench_real.run_evaluate(images, tmp_path / "seen", None)
    names = bench_real.preprocessed_names(records)
    assert sorted(names.values()) == sorted(path.name for path in (tmp_path / "seen").iterdir())
    assert sorted(names.values()) == ["one-2.png", "one.png", "two.png"]
    assert str(images / "notes.png") not in names


def test_main_skips_cleanly_without_the_data(tmp_path, capsys):
    assert bench_real.main(["--data", str(tmp_path / "absent"), "--out", str(tmp_path / "out")]) == 0
    assert capsys.readouterr().out.startswith("skipped: no real-digits set")
    assert not (tmp_path / "out").exists()


def _draw(label: int, side: int, path) -> None:
    image = Image.new("L", (side, side), 255)
    font = ImageFont.load_default(size=int(side * 0.8))
    ImageDraw.Draw(image).text((side / 2, side / 2), str(label), fill=0, font=font, anchor="mm", stroke_width=max(1, side // 28))
    image.save(path)


def test_main_through_the_real_cli_on_a_tiny_set(tmp_path, capsys):
    from inference import DEFAULT_TFLITE_PATH

    if not DEFAULT_TFLITE_PATH.exists():
        pytest.skip("no shipped model")
    data = tmp_path / "real"
    (data / "images").mkdir(parents=True)
    lines = ["file\tlabel\trepo\tcommit\tpath\tstyle"]
    for name, label, side, style in [("one.png", 1, 280, "canvas-black-on-white"), ("seven.png", 7, 28, "paint-28px-black-on-white")]:
        _draw(label, side, data / "images" / name)
        lines.append(f"{name}\t{label}\tr\tc\tp\t{style}")
    Image.new("L", (200, 200), 255).save(data / "images" / "blank.png")  # "no digit found": a miss
    lines.append("blank.png\t4\tr\tc\tp\tphoto-paper")
    (data / "manifest.tsv").write_text("\n".join(lines) + "\n")

    assert bench_real.main(["--data", str(data), "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "3 real images" in out and "no digit found: 1" in out
    figures = json.loads((tmp_path / "out" / "real_digits.json").read_text())
    assert figures["images"] == 3 and figures["turned_away"][bench_real.NO_DIGIT] == 1
    assert set(figures["groups"]) == {bench_real.PHOTO, bench_real.LARGE_PAINT, bench_real.SMALL_PAINT}
    assert {miss["file"] for miss in figures["misses"]} >= {"blank.png"}
    with Image.open(tmp_path / "out" / "real_digits_misses.png") as sheet:
        assert sheet.width > 0


# --- benchmarks/bench_not_digits.py ----------------------------------------------------------------------------


def test_not_digit_scores_use_the_eleventh_output_or_max_softmax():
    from benchmarks import bench_not_digits

    eleven = np.array([[0.9] + [0.0] * 9 + [0.1], [0.05] + [0.0] * 9 + [0.95]])
    assert bench_not_digits.not_digit_scores(eleven) == pytest.approx([0.1, 0.95])
    ten = np.array([[0.7, 0.3] + [0.0] * 8, [0.1] * 10])
    assert bench_not_digits.not_digit_scores(ten) == pytest.approx([0.3, 0.9])


def test_record_score_from_evaluate_records():
    from benchmarks import bench_not_digits

    answered = {"digit": 4, "confidence": 0.8, "error": None, "not_a_digit": False, "not_digit_probability": 0.15}
    assert bench_not_digits.record_score(answered, has_not_digit_output=True) == pytest.approx(0.15)
    assert bench_not_digits.record_score(answered, has_not_digit_output=False) == pytest.approx(0.2)
    assert bench_not_digits.record_score({"error": "no digit found (blank)"}, has_not_digit_output=True) is None
    with pytest.raises(ValueError, match="not_digit_probability"):
        bench_not_digits.record_score({"digit": 4, "confidence": 0.8, "error": None}, has_not_digit_output=True)


def test_turned_away_rate_counts_inputs_without_a_score_in_the_total():
    from benchmarks import bench_not_digits

    rates = bench_not_digits.turned_away_rate(np.array([0.2, 0.5, 0.9]), total=4, thresholds=[0.0, 0.5, 0.95])
    assert rates == pytest.approx([0.75, 0.5, 0.0])  # a score equal to the threshold is turned away, like interpret


def test_best_threshold_keeps_digits_within_their_targets():
    from benchmarks import bench_not_digits

    thresholds = [0.1, 0.3, 0.5, 0.7]
    not_digits = np.array([0.99, 0.95, 0.9, 0.5])
    real = np.array([0.05, 0.02, 0.01, 0.0])
    mnist = np.array([0.01, 0.001, 0.001, 0.0])
    best = bench_not_digits.best_threshold(not_digits, real, mnist, thresholds)
    assert best == pytest.approx({"threshold": 0.5, "not_digits": 0.9, "real": 0.01, "mnist": 0.001})
    assert bench_not_digits.best_threshold(not_digits, real + 0.5, mnist, thresholds) is None


def test_not_digits_main_skips_cleanly_and_plots(tmp_path, capsys):
    from benchmarks import bench_not_digits

    assert bench_not_digits.main(["--not-digits", str(tmp_path / "absent"), "--out", str(tmp_path / "out")]) == 0
    assert capsys.readouterr().out.startswith("skipped: no not-digits set")
    thresholds = np.linspace(0, 1, 11)
    curves = {name: np.linspace(1, 0, 11) ** power for name, power in (("not-digits", 1), ("real digits", 3), ("MNIST test", 4))}
    plot = bench_not_digits.plot_curves(curves, thresholds, 0.5, "P(not a digit)", tmp_path / "curve.png")
    with Image.open(plot) as image:
        assert image.format == "PNG" and image.width > 400


# --- benchmarks/bench_real_numbers.py ---------------------------------------------------------------------------


def _stroke_image(mode: str, size=(60, 80), box=(20, 10, 35, 70)) -> Image.Image:
    """A bar of ink at ``box`` in one of the ways real drawings come: dark on light, light on dark, on a transparent canvas."""
    if mode == "dark-on-light":
        image = Image.new("L", size, 240)
        ImageDraw.Draw(image).rectangle(box, fill=20)
    elif mode == "light-on-dark":
        image = Image.new("L", size, 10)
        ImageDraw.Draw(image).rectangle(box, fill=250)
    elif mode == "transparent-strokes":
        image = Image.new("RGBA", size, (0, 0, 0, 0))
        ImageDraw.Draw(image).rectangle(box, fill=(0, 0, 0, 255))
    else:  # a black box drawn on a transparent canvas, white strokes on it
        image = Image.new("RGBA", size, (0, 0, 0, 0))
        ImageDraw.Draw(image).rectangle((5, 5, size[0] - 6, size[1] - 6), fill=(0, 0, 0, 255))
        ImageDraw.Draw(image).rectangle(box, fill=(255, 255, 255, 255))
    return image


@pytest.mark.parametrize(
    ("mode", "paper", "ink"),
    [("dark-on-light", 240, 20), ("light-on-dark", 10, 250), ("transparent-strokes", 255, 0), ("box-on-transparent", 0, 255)],
)
def test_ink_of_crops_a_drawings_ink_whatever_its_polarity(tmp_path, mode, paper, ink):
    from benchmarks import bench_real_numbers

    path = tmp_path / "d.png"
    _stroke_image(mode).save(path)
    coverage, found_paper, found_ink = bench_real_numbers.ink_of(path)
    assert coverage.shape == (61, 16)  # the bar's box, nothing of the paper or the drawn box around it
    assert coverage.min() > 0.9
    assert (found_paper, found_ink) == pytest.approx((paper, ink), abs=1)


def test_ink_of_an_empty_drawing_is_none(tmp_path):
    from benchmarks import bench_real_numbers

    Image.new("L", (40, 40), 200).save(tmp_path / "blank.png")
    assert bench_real_numbers.ink_of(tmp_path / "blank.png") is None


def test_compose_lays_one_persons_drawings_apart_in_a_row():
    import cv2

    from benchmarks import bench_real_numbers

    drawings = [
        bench_real_numbers.Drawing(f"{label}.png", label, bench_real.LARGE_PAINT, np.ones((100, width), np.float32), 250.0, 30.0)
        for label, width in [(1, 12), (0, 60), (7, 50)]
    ]
    row = np.asarray(bench_real_numbers.compose(drawings, np.random.default_rng(0)))
    assert row.dtype == np.uint8 and row.max() == 250 and row.min() == 30  # the person's own paper and ink
    count, _, stats, _ = cv2.connectedComponentsWithStats((row < 140).astype(np.uint8))
    boxes = sorted(stats[1:].tolist())
    assert count - 1 == 3  # apart: none touches another
    widths = [box[2] for box in boxes]
    assert widths[0] < widths[2] < widths[1]  # left to right, as drawn: 1, 0, 7
    assert all(92 <= box[3] <= 108 for box in boxes)  # each at the median height, +-8%
    gaps = [right[0] - (left[0] + left[2]) for left, right in zip(boxes, boxes[1:], strict=False)]
    assert all(15 <= gap <= 50 for gap in gaps)


def test_compose_pushes_neighbours_together_until_their_inks_touch():
    import cv2

    from benchmarks import bench_real_numbers

    disc = np.zeros((80, 60), np.float32)
    cv2.circle(disc, (30, 40), 25, 1.0, thickness=6)
    drawings = [bench_real_numbers.Drawing(f"{i}.png", 0, bench_real.SMALL_PAINT, disc, 255.0, 0.0) for i in range(3)]
    apart = np.asarray(bench_real_numbers.compose(drawings, np.random.default_rng(1), touching=0.0))
    joined = np.asarray(bench_real_numbers.compose(drawings, np.random.default_rng(1), touching=1.0))
    assert cv2.connectedComponents((apart < 128).astype(np.uint8))[0] - 1 == 3
    assert cv2.connectedComponents((joined < 128).astype(np.uint8))[0] - 1 == 1
    assert joined.shape[1] < apart.shape[1]


def test_bench_real_numbers_skips_cleanly_without_the_data(tmp_path, capsys):
    from benchmarks import bench_real_numbers

    assert bench_real_numbers.main(["--data", str(tmp_path / "absent"), "--out", str(tmp_path / "out")]) == 0
    assert capsys.readouterr().out.startswith("skipped: no real-digits set")


def test_bench_real_numbers_through_the_real_cli_on_a_tiny_set(tmp_path, capsys):
    from benchmarks import bench_real_numbers
    from inference import DEFAULT_TFLITE_PATH

    if not DEFAULT_TFLITE_PATH.exists():
        pytest.skip("no shipped model")
    data = tmp_path / "real"
    (data / "images").mkdir(parents=True)
    lines = ["file\tlabel\trepo\tcommit\tpath\tstyle"]
    for name, label, repo, style in [
        ("a1.png", 1, "a", "canvas-black-on-white"),
        ("a7.png", 7, "a", "canvas-black-on-white"),
        ("a4.png", 4, "a", "canvas-black-on-white"),
        ("b2.png", 2, "b", "paint-black-on-white"),  # alone in its hand: no row
        ("c3.png", 3, "c", "photo-paper"),  # photos are left out
        ("c5.png", 5, "c", "photo-paper"),
    ]:
        _draw(label, 200, data / "images" / name)
        lines.append(f"{name}\t{label}\t{repo}\tc\tp\t{style}")
    (data / "manifest.tsv").write_text("\n".join(lines) + "\n")

    argv = ["--data", str(data), "--out", str(tmp_path / "out"), "--rows", "4", "--lengths", "2,3", "--keep", str(tmp_path / "rows")]
    assert bench_real_numbers.main(argv) == 0
    out = capsys.readouterr().out
    assert "4 rows of 2-3 real digits from 3 drawings in 1 hands" in out
    figures = json.loads((tmp_path / "out" / "real_numbers.json").read_text())
    assert figures["rows"] == 4 and figures["hands"] == 1 and 0 <= figures["exact"] <= 4
    assert set(figures["groups"]) == {bench_real.LARGE_PAINT}
    assert len(list((tmp_path / "rows").glob("*.png"))) == 4
    for miss in figures["misses"]:
        assert set(miss["label"]) <= set("174") and set(miss["sources"]) <= {"a1.png", "a7.png", "a4.png"}
