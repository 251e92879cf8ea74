"""Tests for the realistic test-set generator (benchmarks/realistic.py) and, when MNIST and the model exist, the CLI on it."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont, ImageOps

from benchmarks import realistic

# Every style's promise: the modes its files open in.
STYLE_MODES = {
    "clean_paper": {"RGB", "L"},
    "scan": {"L"},
    "canvas_rgba": {"RGBA"},
    "palette": {"P"},
    "bilevel": {"1"},
    "gray16": {"I;16"},
    "cmyk": {"CMYK"},
}


def synthetic_digits() -> realistic.DigitSource:
    """Digits 0-9 drawn with Pillow's default font, white on black like MNIST: uint8 (10, 28, 28), labels (10,)."""
    font = ImageFont.load_default(size=24)
    images = []
    for label in range(10):
        canvas = Image.new("L", (28, 28), 0)
        ImageDraw.Draw(canvas).text((14, 14), str(label), fill=255, font=font, anchor="mm", stroke_width=1, stroke_fill=255)
        images.append(np.asarray(canvas))
    return np.stack(images), np.arange(10)


def bar_digit() -> np.ndarray:
    """A '1' as a vertical bar 3 MNIST pixels wide and 20 tall, uint8 (28, 28)."""
    digit = np.zeros((28, 28), dtype=np.uint8)
    digit[4:24, 13:16] = 255
    return digit


@pytest.fixture(scope="module")
def source() -> realistic.DigitSource:
    return synthetic_digits()


@pytest.mark.parametrize("style", list(realistic.STYLES), ids=list(realistic.STYLES))
def test_every_style_writes_a_valid_image_of_its_promised_mode_and_size(style, source, tmp_path):
    images, _ = source
    for index in range(2):  # two renders: different digits, sizes and random choices
        sample = realistic.render(style, images[(index * 3) % 10], seed=1, index=index)
        path = tmp_path / f"{index}{sample.extension}"
        sample.save(path)
        with Image.open(path) as image:
            image.load()
            assert image.format == sample.format
            assert image.mode in STYLE_MODES.get(style, {"RGB"})
            assert realistic.MIN_SIDE <= min(image.size) and max(image.size) <= realistic.MAX_SIDE
        # Whatever the mode, a person sees a digit: the displayed picture has both ink and background.
        gray = np.asarray(realistic.display_image(path).convert("L"), dtype=np.float32)
        assert gray.max() - gray.min() > 60


def test_canvas_rgba_strokes_live_only_in_alpha(source):
    sample = realistic.render("canvas_rgba", source[0][8], seed=0, index=0)
    alpha = np.asarray(sample.image)[..., 3]
    assert alpha.min() == 0 and alpha.max() == 255
    assert 0.01 < (alpha > 0).mean() < 0.5


@pytest.mark.parametrize("index", range(4))
def test_exif_rotated_is_upright_only_after_exif_transpose(source, tmp_path, index):
    digit = source[0][7]
    sample = realistic.render("exif_rotated", digit, seed=3, index=index)
    path = tmp_path / "photo.jpg"
    sample.save(path)
    # exif_rotated draws the upright photo first from the same random stream.
    upright = realistic.phone_photo(digit, np.random.default_rng([3, 1, index])).image
    with Image.open(path) as stored:
        orientation = stored.getexif()[realistic.ORIENTATION_TAG]
        assert orientation in realistic.EXIF_STORAGE
        shown = ImageOps.exif_transpose(stored)
    assert shown.size == upright.size
    if orientation != 3:
        assert stored.size == upright.size[::-1]
    difference = np.abs(np.asarray(shown, dtype=np.float32) - np.asarray(upright, dtype=np.float32)).mean()
    assert difference < 4  # JPEG noise only


def test_generate_is_deterministic_and_labelled(source, tmp_path):
    styles = ["clean_paper", "phone_photo", "canvas_rgba", "cmyk"]
    first = realistic.generate(tmp_path / "a", 8, seed=5, styles=styles, source=source)
    second = realistic.generate(tmp_path / "b", 8, seed=5, styles=styles, source=source)
    other = realistic.generate(tmp_path / "c", 4, seed=6, styles=styles, source=source)
    assert [path.read_bytes() for path, _ in first] == [path.read_bytes() for path, _ in second]
    assert [path.read_bytes() for path, _ in first[:4]] != [path.read_bytes() for path, _ in other]
    rows = realistic.read_manifest(tmp_path / "a")
    assert [(row["path"], row["label"]) for row in rows] == first
    for index, row in enumerate(rows):
        assert row["label"] == source[1][row["source_index"]]
        assert row["style"] == styles[index % len(styles)]
        assert row["path"].exists() and row["style"] in row["file"]
    assert (tmp_path / "a" / realistic.MANIFEST_CSV).read_text().count("\n") == 9


def test_unknown_style_is_a_value_error(source, tmp_path):
    with pytest.raises(ValueError, match="unknown style"):
        realistic.generate(tmp_path, 2, styles="clean_paper,watercolour", source=source)
    assert realistic.parse_styles("scan, bilevel") == ["scan", "bilevel"]


def test_thin_and_thick_pens_change_stroke_width():
    digit = bar_digit()

    def middle_width(coverage: np.ndarray) -> float:
        return float(coverage[coverage.shape[0] // 2].sum())

    natural = middle_width(realistic.mask_ink(digit, 200))
    assert abs(realistic.mask_ink(digit, 200).shape[0] - 200) < 20
    assert 25 < natural < 40  # 3 of 20 MNIST pixels at 10 px each, less the soft edge
    assert middle_width(realistic.mask_ink(digit, 200, grow=4)) > natural + 15
    assert 3 <= middle_width(realistic.stroke_ink(digit, 200, pen_width=4)) <= 6
    assert 18 <= middle_width(realistic.stroke_ink(digit, 200, pen_width=20)) <= 22


def test_numbers_are_rows_of_labelled_digits_in_every_style(source, tmp_path):
    count = len(realistic.NUMBER_STYLES)
    numbers = realistic.generate_numbers(tmp_path, count, seed=2, source=source)
    rows = realistic.read_manifest(tmp_path)
    assert [row["style"] for row in rows] == list(realistic.NUMBER_STYLES)
    for (path, number), row in zip(numbers, rows, strict=True):
        low, high = realistic.NUMBER_LENGTHS
        assert low <= len(number) <= high
        assert number == "".join(str(source[1][int(i)]) for i in row["source_index"].split(","))
        assert row["style"] in path.name
        with Image.open(path) as image:
            assert image.width >= image.height
        gray = np.asarray(realistic.display_image(path).convert("L"), dtype=np.float32)
        assert gray.max() - gray.min() > 60, path.name
    again = realistic.generate_numbers(tmp_path / "again", 3, seed=2, source=source)
    assert [path.read_bytes() for path, _ in again] == [path.read_bytes() for path, _ in numbers[:3]]
    assert realistic.manifest_params(tmp_path)["styles"] == list(realistic.NUMBER_STYLES)


def test_number_styles_can_be_chosen_and_are_checked(source, tmp_path):
    numbers = realistic.generate_numbers(tmp_path, 2, seed=0, source=source, styles="form_boxes")
    assert all("form_boxes" in path.name for path, _ in numbers)
    with pytest.raises(ValueError, match="unknown style"):
        realistic.generate_numbers(tmp_path, 2, source=source, styles="clean_paper")  # a single-digit style


def _ink_columns(coverage: np.ndarray) -> np.ndarray:
    return coverage.max(axis=0) > 0.5


def filled_six() -> np.ndarray:
    """A '6' as MNIST's thick pens write it: a stem 3 pixels wide and a loop filled in with ink, uint8 (28, 28)."""
    digit = np.zeros((28, 28), dtype=np.uint8)
    digit[4:20, 9:12] = 255
    rows, cols = np.indices(digit.shape)
    digit[(rows - 18) ** 2 + (cols - 14) ** 2 <= 36] = 255
    return digit


def test_a_loop_filled_in_is_drawn_round_by_a_thin_pen():
    # Thinned to its centre line, a filled loop is a line: the 6 became an L (broken_strokes drew
    # such 6s, 8s and 9s that nobody could read). Drawn round its outline, the loop is a loop again.
    import cv2

    def holes(coverage: np.ndarray) -> int:
        paper = np.pad((coverage < 0.5).astype(np.uint8), 1, constant_values=1)
        return cv2.connectedComponents(paper, connectivity=4)[0] - 2  # background and the paper around

    assert holes(realistic.stroke_ink(filled_six(), 200, pen_width=4)) == 0
    assert holes(realistic.stroke_ink(filled_six(), 200, pen_width=4, loops=True)) == 1
    assert np.array_equal(realistic.stroke_ink(bar_digit(), 200, 4), realistic.stroke_ink(bar_digit(), 200, 4, loops=True))


def test_a_touching_pair_touches_and_a_gap_separates():
    bar = realistic.mask_ink(bar_digit(), 100)
    width = _ink_columns(bar).sum()
    apart = realistic._lay_row([bar, bar], [12], 120, np.random.default_rng(0))
    assert not _ink_columns(apart).all() and _ink_columns(apart).sum() == 2 * width
    rows = {overlap: realistic._lay_row([bar, bar], [None], 120, np.random.default_rng(0), overlap=overlap) for overlap in (0, 1, 3)}
    for row in rows.values():
        assert _ink_columns(row).all()  # no empty column between the two: their ink meets
    assert rows[0].shape[1] - rows[1].shape[1] == 1 and rows[1].shape[1] - rows[3].shape[1] == 2
    assert rows[0].shape[1] < 2 * bar.shape[1]


def test_broken_strokes_leave_gaps_in_a_long_stroke():
    bar = realistic.stroke_ink(bar_digit(), 400, pen_width=4)
    broken = realistic._broken(bar, 4, np.random.default_rng(1))
    column = broken[:, int(np.argmax(bar.sum(axis=0)))] > 0.5
    pieces = np.count_nonzero(np.diff(column.astype(int)) == 1) + int(column[0])
    assert pieces >= 3
    assert broken.sum() < 0.95 * bar.sum()


def test_bad_inputs_are_what_they_claim(source, tmp_path):
    cases = {case.path.name: case for case in realistic.generate_bad_inputs(tmp_path, seed=0, source=source)}
    assert not cases["missing.png"].path.exists()
    assert cases["empty.png"].path.stat().st_size == 0
    with pytest.raises(Image.DecompressionBombError):
        Image.open(cases["bomb.png"].path)
    for name in ("truncated.png", "truncated.jpg"):
        with pytest.raises(OSError), Image.open(cases[name].path) as image:
            image.load()
    with pytest.raises(Image.UnidentifiedImageError):
        Image.open(cases["notes.png"].path)
    with Image.open(cases["large_photo.jpg"].path) as image:
        assert image.size == (6000, 4000)
    with Image.open(cases["animated.gif"].path) as image:
        assert image.n_frames == 3
    assert {name for name, case in cases.items() if case.expected is not None} == {"large_photo.jpg", "animated.gif"}
    assert all(case.why for case in cases.values())


# --- through the CLI, on real MNIST digits with the shipped model --------------------------------------------


@pytest.fixture(scope="module")
def mnist_digits(mnist_path) -> realistic.DigitSource:
    return realistic.load_test_digits(mnist_path)


@pytest.fixture(scope="module")
def model_path():
    from inference import DEFAULT_TFLITE_PATH

    if not DEFAULT_TFLITE_PATH.exists():
        pytest.skip(f"no shipped model at {DEFAULT_TFLITE_PATH}: run python train.py")
    return DEFAULT_TFLITE_PATH


SLOW_COUNT = 240  # 12 per style: a loose bar, but every style is in it
SLOW_ACCURACY = 0.97  # the benchmark's target is 99% on 2000; 240 images leave room for sampling noise


@pytest.mark.slow
def test_realistic_images_through_the_cli(mnist_digits, model_path, tmp_path):
    from benchmarks import bench_realistic

    realistic.generate(tmp_path, SLOW_COUNT, seed=2024, source=mnist_digits)
    rows = realistic.read_manifest(tmp_path)
    code, records, stderr = bench_realistic.run_cli([row["path"] for row in rows], "--model", str(model_path))
    assert code in (0, 1), stderr
    assert "Traceback" not in stderr
    per_style, failures = bench_realistic.score_digits(rows, records)
    accuracy = sum(tally["correct"] for tally in per_style.values()) / len(rows)
    report = [f"{f['file']}: true {f['label']} got {f['digit']} {f['error'] or ''}" for f in failures]
    assert accuracy >= SLOW_ACCURACY, f"{accuracy:.1%} on realistic images; failures: {report}"


@pytest.mark.slow
def test_bad_inputs_fail_one_by_one_and_the_good_files_are_still_read(mnist_digits, model_path, tmp_path):
    from benchmarks import bench_realistic

    cases = realistic.generate_bad_inputs(tmp_path / "bad", seed=0, source=mnist_digits)
    good = realistic.generate(tmp_path / "good", 3, seed=0, styles="clean_paper", source=mnist_digits)
    code, records, stderr = bench_realistic.run_cli(
        [*(case.path for case in cases), *(path for path, _ in good)], "--model", str(model_path)
    )
    assert code == 1  # some inputs failed, the rest were predicted
    assert "Traceback" not in stderr
    wrong = [outcome for outcome in bench_realistic.check_bad_inputs(cases, records) if not outcome["ok"]]
    assert not wrong, wrong
    by_path = {record["path"]: record for record in records}
    for record in (by_path[str(case.path)] for case in cases if case.expected is None):
        assert record["digit"] is None and record["error"].strip()
    assert [by_path[str(path)]["digit"] for path, _ in good] == [label for _, label in good]


SLOW_NUMBERS = 14  # number images, two per number style
SLOW_NUMBER_SHARE = 0.7  # read exactly with the model judging cuts; the benchmark measures 100 per style


@pytest.mark.slow
def test_numbers_in_every_style_are_read_with_the_model_judging_cuts(mnist_digits, model_path, tmp_path):
    from benchmarks import bench_realistic

    realistic.generate_numbers(tmp_path, SLOW_NUMBERS, seed=2024, source=mnist_digits)
    rows = realistic.read_manifest(tmp_path)
    per_style, failures = bench_realistic.score_numbers(rows, bench_realistic.judged_numbers(rows, model_path))
    assert set(per_style) == set(realistic.NUMBER_STYLES)
    read = sum(tally["read"] for tally in per_style.values())
    report = [f"{f['file']}: true {f['label']} got {f['number']!r} {f['error'] or ''}" for f in failures]
    assert read >= SLOW_NUMBER_SHARE * len(rows), report


def test_the_model_ceiling_counts_the_rows_whose_digits_the_model_reads_right_alone():
    """model_ceiling reads each row's own MNIST digits (source_index) by evaluate.py's rules: a number is right
    only if every digit is, and a digit the model turns away is a miss (a lone one at 0.5, one in a number at 0.9)."""
    from benchmarks import bench_realistic

    images = np.zeros((6, 28, 28), dtype=np.uint8)
    images[:, 0, 0] = np.arange(6)  # each image says which one it is, so the stand-in model can answer per image
    # The stand-in model's answer for each image: digits 3, 4, 5, 7, then two that are mostly "not a digit".
    answers = {0: 3, 1: 4, 2: 5, 3: 7}

    def predict(batch: np.ndarray) -> np.ndarray:
        rows = np.zeros((len(batch), 11), dtype=np.float32)
        for row, image in zip(rows, batch, strict=True):
            index = round(float(image[0, 0, 0]) * 255)
            if index in answers:
                row[answers[index]] = 1.0
            else:
                row[10], row[1] = (0.95, 0.05) if index == 4 else (0.6, 0.4)  # 4: sure not a digit; 5: not sure
        return rows

    rows = [
        {"label": 3, "source_index": 0},  # right
        {"label": 3, "source_index": 1},  # read as 4
        {"label": "345", "source_index": "0,1,2"},  # right
        {"label": "347", "source_index": "0,1,2"},  # one digit wrong
        {"label": "71", "source_index": "3,5"},  # in a number, 0.6 "not a digit" is still read as its digit: right
        {"label": "71", "source_index": "3,4"},  # 0.95: "?"
        {"label": 1, "source_index": 5},  # alone, 0.6 is "not a digit"
    ]
    assert bench_realistic.model_ceiling(images, rows, predict) == 3
