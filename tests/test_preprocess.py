"""The preprocess package on digits drawn with Pillow in the test: every mode, polarity, transparency, EXIF,
noise and lines, stroke width, the 20x20 fit and centring, bad files, and numbers written in a row."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter, ImageOps

import preprocess
from preprocess import ImageError, NoDigitError, open_image, segment_digits, segment_number

# A "7" (top bar and diagonal) and a "1", as stroke polylines in a unit square.
SEVEN = [[(0.25, 0.2), (0.75, 0.2), (0.45, 0.85)]]
ONE = [[(0.5, 0.15), (0.5, 0.85)]]
ZERO = [[(0.5, 0.15), (0.7, 0.3), (0.72, 0.7), (0.5, 0.85), (0.3, 0.7), (0.28, 0.3), (0.5, 0.15)]]


def draw(strokes=SEVEN, size=(200, 200), pen=12, ink=0, paper=255, mode="L", offset=(0.0, 0.0), scale=1.0) -> Image.Image:
    """Strokes (unit coordinates) drawn on a plain background."""
    image = Image.new(mode, size, paper)
    pen_draw = ImageDraw.Draw(image)
    width, height = size
    side = min(size) * scale
    for stroke in strokes:
        left, top = offset[0] * width + (width - side) / 2, offset[1] * height + (height - side) / 2
        points = [(left + x * side, top + y * side) for x, y in stroke]
        pen_draw.line(points, fill=ink, width=pen, joint="curve")
    return image


def reference(strokes=SEVEN) -> np.ndarray:
    """The same digit drawn cleanly white on black and run through the pipeline."""
    return preprocess.preprocess(draw(strokes, ink=255, paper=0))


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def check_digit(result: np.ndarray) -> None:
    assert result.shape == (28, 28, 1)
    assert result.dtype == np.float32
    assert 0.0 <= result.min() and result.max() <= 1.0
    assert result.max() > 0.9  # stroke cores are fully white, as in MNIST


def centre_of_mass(result: np.ndarray) -> tuple[float, float]:
    pixels = result[..., 0].astype(np.float64)
    rows, cols = np.indices(pixels.shape)
    return (rows * pixels).sum() / pixels.sum(), (cols * pixels).sum() / pixels.sum()


def bounding_box(result: np.ndarray, level: float = 0.05) -> tuple[int, int]:
    rows = np.flatnonzero((result[..., 0] > level).any(axis=1))
    cols = np.flatnonzero((result[..., 0] > level).any(axis=0))
    return rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1


def test_dark_ink_on_paper_is_inverted_to_white_on_black():
    result = preprocess.preprocess(draw(ink=0, paper=255))
    check_digit(result)
    assert result[0, 0, 0] == 0.0 and result[..., 0].mean() < 0.35
    assert similarity(result, reference()) > 0.97


def test_light_ink_on_dark_background_is_kept():
    result = preprocess.preprocess(draw(ink=230, paper=30))
    assert similarity(result, reference()) > 0.97


def test_grey_paper_and_blue_pen_in_colour():
    image = draw(ink=(20, 40, 160), paper=(225, 220, 200), mode="RGB")
    assert similarity(preprocess.preprocess(image), reference()) > 0.95


@pytest.mark.parametrize("colour", [(0, 0, 0), (255, 255, 255), (220, 30, 30)], ids=["black", "white", "red"])
def test_transparent_canvas_export_uses_alpha(colour):
    # Strokes of any colour on a fully transparent background: the colour under alpha 0 is arbitrary.
    alpha = draw(ink=255, paper=0)
    image = Image.new("RGBA", alpha.size, (*colour, 0))
    image.putalpha(alpha)
    rgb = Image.new("RGB", alpha.size, colour)
    rgb.putalpha(alpha)
    assert similarity(preprocess.preprocess(rgb), reference()) > 0.97


def test_semi_transparent_image_is_flattened_over_white():
    image = draw(ink=0, paper=255).convert("RGBA")
    image.putalpha(200)  # uniformly semi-transparent: a dark 7 on light grey once flattened
    assert similarity(preprocess.preprocess(image), reference()) > 0.95


def _modes() -> list[tuple[str, Image.Image]]:
    base = draw(ink=0, paper=255)
    rgba = base.convert("RGBA")
    palette_transparent = draw(ink=255, paper=0).convert("P")
    palette_transparent.info["transparency"] = 0
    i16 = Image.fromarray(np.asarray(base, dtype=np.uint16) * 257)
    return [
        ("1", base.convert("1")),
        ("L", base),
        ("P", base.convert("RGB").convert("P")),
        ("P-transparent", palette_transparent),
        ("I;16", i16),
        ("I", base.convert("I")),
        ("F", base.convert("F")),
        ("RGB", base.convert("RGB")),
        ("RGBA", rgba),
        ("LA", base.convert("LA")),
        ("CMYK", base.convert("CMYK")),
        ("PA", rgba.convert("PA")),
    ]


@pytest.mark.parametrize("mode,image", _modes(), ids=[name for name, _ in _modes()])
def test_every_image_mode(mode, image):
    result = preprocess.preprocess(image)
    check_digit(result)
    assert similarity(result, reference()) > 0.95, mode


def test_exif_orientation_is_applied(tmp_path):
    # Stored sideways with orientation 6 ("rotate 90 clockwise to view"), as a phone saves portraits.
    upright = draw(ink=0, paper=255).convert("RGB")
    stored = upright.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "phone.jpg"
    stored.save(path, exif=exif, quality=95)
    opened = open_image(path)
    assert similarity(preprocess.preprocess(opened), reference()) > 0.95
    assert similarity(preprocess.preprocess(Image.open(path)), reference()) < 0.8  # without EXIF it is sideways


def test_specks_and_ruled_lines_are_removed():
    image = draw(size=(300, 300), ink=0, paper=255, pen=14, scale=0.7)
    pen = ImageDraw.Draw(image)
    for y in range(20, 300, 40):
        pen.line([(0, y), (299, y + 3)], fill=150, width=2)  # ruled paper, slightly tilted
    rng = np.random.default_rng(0)
    for x, y in rng.integers(0, 300, size=(25, 2)):
        pen.ellipse([x, y, x + 3, y + 3], fill=40)  # specks of dust
    assert similarity(preprocess.preprocess(image), reference()) > 0.9


def test_frame_around_the_picture_is_ignored():
    image = draw(size=(240, 240), ink=0, paper=255, scale=0.6)
    ImageDraw.Draw(image).rectangle([0, 0, 239, 239], outline=0, width=6)
    assert similarity(preprocess.preprocess(image), reference()) > 0.95


def test_uneven_lighting_is_removed():
    image = draw(size=(400, 400), ink=40, paper=235, pen=10, scale=0.6)
    gradient = np.linspace(1.0, 0.45, 400, dtype=np.float32)[np.newaxis, :]  # light falls off across the page
    shaded = np.asarray(image, dtype=np.float32) * gradient
    result = preprocess.preprocess(Image.fromarray(shaded.astype(np.uint8)))
    assert similarity(result, reference()) > 0.93


@pytest.mark.parametrize("pen", [2, 6, 30, 45], ids=["hairline", "thin", "fat", "marker"])
def test_stroke_width_is_brought_into_mnist_range(pen):
    result = preprocess.preprocess(draw(strokes=ZERO, size=(400, 400), pen=pen))
    core = result[..., 0] > 0.5
    width = preprocess.stroke_width(core)
    assert 1.5 <= width <= 4.5, width


def test_digit_fits_20x20_box_and_is_centred_by_mass():
    result = preprocess.preprocess(draw(strokes=ONE, size=(300, 500), offset=(0.3, -0.2), scale=0.4))
    height, width = bounding_box(result)
    assert height == 20 and width < 10  # a tall 1 keeps its aspect ratio
    row, col = centre_of_mass(result)
    assert abs(row - 14) <= 0.5 and abs(col - 14) <= 0.5


def test_mnist_digit_survives_the_pipeline(mnist_path):
    # An MNIST digit is already in MNIST's format, so the pipeline must give (nearly) it back.
    with np.load(mnist_path) as data:
        digits = data["x_test"][:20]
    scores = [similarity(preprocess.preprocess(Image.fromarray(d)), d / 255.0) for d in digits]
    assert np.mean(scores) > 0.95


@pytest.mark.parametrize(
    "image",
    [Image.new("L", (100, 100), 255), Image.new("L", (100, 100), 0), Image.new("RGBA", (100, 100), (0, 0, 0, 0))],
    ids=["white", "black", "transparent"],
)
def test_blank_image_is_no_digit(image):
    with pytest.raises(NoDigitError, match="no digit"):
        preprocess.preprocess(image)


def test_paper_noise_alone_is_no_digit():
    noise = np.random.default_rng(1).normal(230, 4, size=(200, 200)).clip(0, 255).astype(np.uint8)
    with pytest.raises(NoDigitError):
        preprocess.preprocess(Image.fromarray(noise))


@pytest.mark.parametrize("size", [(1, 1), (5, 5)], ids=["1x1", "5x5"])
def test_tiny_image_is_an_image_error(size):
    with pytest.raises(ImageError, match="too small"):
        preprocess.preprocess(Image.new("L", size, 0))


def _truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]


def _encoded(fmt: str) -> bytes:
    buffer = io.BytesIO()
    draw(ink=0, paper=255).convert("RGB").save(buffer, fmt)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "name,content,message",
    [
        ("empty.png", b"", "empty file"),
        ("notes.png", b"this is a text file, not a picture\n", "not an image"),
        ("cut.png", _truncated(_encoded("PNG")), "cannot decode"),
        ("cut.jpg", _truncated(_encoded("JPEG")), "cannot decode"),
    ],
    ids=["empty", "text", "truncated-png", "truncated-jpeg"],
)
def test_bad_files_raise_image_error_naming_the_file(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ImageError, match=message) as caught:
        open_image(path)
    assert str(path) in str(caught.value)


def test_missing_file(tmp_path):
    with pytest.raises(ImageError, match="no such file"):
        open_image(tmp_path / "absent.png")


def test_decompression_bomb_is_refused_before_decoding(tmp_path):
    # A valid PNG header declaring 30000x30000 pixels (900 MP): refused from the header alone.
    path = tmp_path / "bomb.png"
    Image.new("1", (30000, 30000)).save(path, optimize=False)
    with pytest.raises(ImageError, match="too large"):
        open_image(path)


def test_animated_gif_gives_its_first_frame(tmp_path):
    frames = [draw(ink=0, paper=255).convert("P"), draw(strokes=ONE, ink=0, paper=255).convert("P")]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100)
    assert similarity(preprocess.preprocess(open_image(path)), reference()) > 0.95


def test_huge_photo_is_processed_at_working_resolution(tmp_path):
    path = tmp_path / "photo.jpg"
    draw(size=(6000, 4000), pen=90, ink=30, paper=220).save(path, quality=80)
    image = open_image(path)
    assert max(image.size) < 6000  # decoded at a reduced scale
    assert similarity(preprocess.preprocess(image), reference()) > 0.95


def test_segment_digits_reads_a_row_left_to_right():
    strokes = {"1": ONE, "7": SEVEN, "0": ZERO}
    image = Image.new("L", (700, 200), 255)
    for digit, left in zip("170", (0, 120, 420), strict=True):  # a wide gap before the 0
        image.paste(draw(strokes=strokes[digit], size=(200, 200)), (left, 0), mask=draw(strokes=strokes[digit], ink=255, paper=0))
    digits = segment_number(image)
    assert len(digits) == 3
    for digit, name in zip(digits, "170", strict=True):
        check_digit(digit.image)
        assert similarity(digit.image, reference(strokes[name])) > 0.9, name
    assert [d.space_before for d in digits] == [False, False, True]
    assert [d.left for d in digits] == sorted(d.left for d in digits)
    assert len(segment_digits(image)) == 3


def test_segment_keeps_a_broken_stroke_with_its_digit():
    # A 5 whose top bar was lifted off the page: two components, one digit.
    five = [[(0.7, 0.15), (0.35, 0.15)], [(0.33, 0.25), (0.3, 0.45), (0.6, 0.45), (0.7, 0.65), (0.55, 0.85), (0.3, 0.8)]]
    image = Image.new("L", (400, 200), 255)
    image.paste(draw(strokes=five, size=(200, 200)), (0, 0))
    image.paste(draw(strokes=ONE, size=(200, 200)), (200, 0))
    assert len(segment_digits(image)) == 2


def test_segment_splits_touching_digits():
    image = Image.new("L", (300, 200), 255)
    image.paste(draw(strokes=ZERO, size=(200, 200)), (0, 0))
    second = draw(strokes=ZERO, size=(200, 200))
    image.paste(Image.composite(image.crop((90, 0, 290, 200)), second, second.point(lambda v: 255 if v > 128 else 0)), (90, 0))
    assert len(segment_digits(image)) == 2


def test_single_digit_mode_never_splits():
    # A wide 0 written alone is one digit for preprocess, however wide.
    wide_zero = draw(strokes=ZERO, size=(200, 200)).resize((400, 200))
    check_digit(preprocess.preprocess(wide_zero))


def test_open_image_bytes_matches_open_image(tmp_path):
    path = tmp_path / "digit.png"
    draw().save(path)
    from_file, from_bytes = open_image(path), preprocess.open_image_bytes(path.read_bytes(), "canvas")
    np.testing.assert_array_equal(np.asarray(from_file), np.asarray(from_bytes))
    for content, message in ((b"", "canvas: empty file"), (b"hello", "canvas: not an image")):
        with pytest.raises(ImageError, match=message):
            preprocess.open_image_bytes(content, "canvas")


def test_large_16_bit_image_keeps_its_range():
    # A 16-bit PNG larger than the working size is shrunk first; converting it to RGB there clipped
    # every value above 255 to white and left a blank image.
    base = draw(size=(900, 700), pen=40, ink=0, paper=255)
    i16 = Image.fromarray((np.asarray(base, dtype=np.float32) * 200 + 5000).astype(np.uint16))
    assert i16.mode.startswith("I;16") and max(i16.size) > preprocess.WORK_MAX_SIDE
    assert similarity(preprocess.preprocess(i16), reference()) > 0.95


def test_hard_shadow_does_not_flip_polarity():
    # A phone photo with a lit patch over a minority of the page: the patch is much lighter than the
    # page's median, but it is a large region, not thin strokes, so the ink stays the dark side.
    image = draw(size=(400, 400), ink=40, paper=200, pen=12, scale=0.6)
    pixels = np.asarray(image, dtype=np.float32)
    lit = np.zeros_like(pixels)
    lit[:, 260:] = 1.0  # a sharp-edged lit band down the right side, beside the digit
    lit[:150, :] = 1.0  # and along the top, across the top bar of the 7
    pixels = np.where(lit > 0, np.minimum(pixels * 1.25, 255), pixels * 0.55)
    result = preprocess.preprocess(Image.fromarray(pixels.astype(np.uint8)))
    assert similarity(result, preprocess.preprocess(image)) > 0.95


@pytest.mark.parametrize("strip", [10, 16], ids=["narrow", "wide"])
def test_strip_along_the_image_edge_is_not_part_of_the_digit(strip):
    # A strip of table or frame along the top and right edges, near the digit and about as large: it
    # reaches far beyond the digit, so it is no piece of it (the detached bar of a 5 is).
    digit = draw(size=(300, 300), ink=255, paper=0, pen=18, scale=0.6, offset=(0.05, -0.05))
    image = Image.new("L", (300 + strip, 300 + strip), 255)
    image.paste(digit, (0, strip))
    assert similarity(preprocess.preprocess(image), preprocess.preprocess(digit)) > 0.95


def test_segment_does_not_split_a_wide_digit_into_a_digit_and_a_tail():
    # A flat, wide 2 with a long base: cut at its thinnest column it would leave a flat tail, which
    # is no digit, so it stays one digit; two digits written beside it are still found.
    two = [[(0.1, 0.35), (0.35, 0.15), (0.6, 0.3), (0.15, 0.85), (0.95, 0.85)]]
    image = Image.new("L", (640, 200), 255)
    image.paste(draw(strokes=two, size=(200, 200)).resize((340, 200)), (0, 0))
    image.paste(draw(strokes=ONE, size=(150, 200)), (340, 0))
    image.paste(draw(strokes=ZERO, size=(150, 200)), (470, 0))
    assert len(segment_digits(image)) == 3


@pytest.mark.parametrize("digit_ink", [0, 110], ids=["as-dark-as-the-table", "lighter-than-the-table"])
def test_paper_on_a_large_dark_table_gives_the_digit_not_the_table(digit_ink):
    # A photo of a sheet on a dark table: the table shows all along the image edges, narrower than the
    # closing that estimates the paper (so it reads as ink), many times larger than the small digit,
    # and it can be darker than a grey pencil.
    image = Image.new("L", (400, 400), 15)
    image.paste(draw(size=(380, 380), ink=digit_ink, paper=235, pen=8, scale=0.3), (10, 10))
    expected = preprocess.preprocess(draw(size=(380, 380), ink=digit_ink, paper=235, pen=8, scale=0.3))
    assert similarity(preprocess.preprocess(image), expected) > 0.95


def test_a_tightly_cropped_digit_touching_the_edge_is_still_the_digit():
    # The digit itself touches the image edge and a small mark lies clear of it: the mark is no digit.
    image = draw(strokes=ZERO, size=(200, 200), pen=16, scale=1.35)
    ImageDraw.Draw(image).ellipse([95, 95, 104, 104], fill=0)
    found = preprocess.clean.clean(preprocess.ink.ink_map(image))
    assert found.parts.touches_border(found.keep).any()
    alone = draw(strokes=ZERO, size=(200, 200), pen=16, scale=1.35)
    assert similarity(preprocess.preprocess(image), preprocess.preprocess(alone)) > 0.9


def test_dithered_one_bit_image_on_grey_paper():
    # A fax or bilevel scan of grey paper: the paper becomes a field of dots, in rows that look like
    # ruled lines; the digit must survive them.
    gray = draw(size=(400, 400), ink=20, paper=215, pen=16, scale=0.7)
    image = gray.convert("1", dither=Image.Dither.FLOYDSTEINBERG)
    assert preprocess.decode.dithered(image) and not preprocess.decode.dithered(gray.convert("1", dither=Image.Dither.NONE))
    pencil = Image.new("1", (280, 280), 1)
    ImageDraw.Draw(pencil).line([(60, 60), (200, 200)], fill=0, width=1)  # a 1-pixel diagonal is no dither
    assert not preprocess.decode.dithered(pencil)
    assert similarity(preprocess.preprocess(image), preprocess.preprocess(gray)) > 0.95


def test_faint_shadow_touching_a_stroke_is_not_joined_to_it():
    # An ink map with two strokes and, under the first, the soft edge of a shadow: fainter than the
    # threshold but above hysteresis' faint level, and far wider than a stroke. It is not ink.
    ink = np.zeros((200, 300), dtype=np.float32)
    ink[150:, :110] = 0.35
    ink[20:180, 50:60] = 0.9
    ink[20:180, 200:210] = 0.9
    parts, threshold, _ = preprocess.clean.threshold(ink)
    mask = parts.labels > 0
    assert 0.35 < threshold < 0.9
    assert mask[20:180, 50:60].all() and mask[20:180, 200:210].all()
    assert not mask[170:, :40].any() and not mask[185:, 70:110].any()


def test_segment_does_not_cut_a_wide_zero_through_its_loop():
    # A flat 0 written wide beside a 1: every column across the 0 crosses two strokes, so it is one digit.
    image = Image.new("L", (560, 200), 255)
    image.paste(draw(strokes=ONE, size=(150, 200)), (0, 0))
    image.paste(draw(strokes=ZERO, size=(200, 200)).resize((380, 200)), (160, 0))
    assert len(segment_digits(image)) == 2


def test_segment_does_not_split_a_wide_digit_among_digits_nearly_as_wide():
    # A wide 4 (wider than its height, which alone would allow a split) beside separate 0s that are
    # more than half as wide: two digits touching would be about twice their width, so it is one.
    four = [[(0.4, 0.1), (0.05, 0.6), (0.95, 0.6)], [(0.6, 0.3), (0.6, 0.9)]]
    zero = draw(strokes=ZERO, size=(200, 200)).resize((300, 200)).crop((70, 0, 230, 200))
    image = Image.new("L", (820, 200), 255)
    for left in (0, 170, 580):
        image.paste(zero, (left, 0))
    image.paste(draw(strokes=four, size=(200, 200)).resize((225, 200)), (340, 0))
    assert len(segment_digits(image)) == 4


THREE = [[(0.3, 0.2), (0.6, 0.15), (0.7, 0.3), (0.5, 0.48), (0.72, 0.65), (0.6, 0.85), (0.3, 0.8)]]


@pytest.mark.parametrize(("strokes", "pen"), [(THREE, 45), (ZERO, 51)], ids=["fat-3", "fat-0"])
def test_fat_marker_on_a_sheet_on_a_dark_table_keeps_dark_ink(strokes, pen):
    # The paper between fat strokes is as narrow as the strokes, so locally either side could be
    # ink; the dark table all around the sheet shows which side is paper.
    image = Image.new("L", (400, 400), 25)
    image.paste(draw(strokes=strokes, size=(340, 340), pen=pen, ink=20, paper=230), (30, 30))
    gray, _ = preprocess.decode.to_arrays(image)
    assert preprocess.ink.dark_ink(gray)


def test_chalkboard_on_a_light_wall_keeps_light_ink():
    image = Image.new("L", (400, 400), 225)
    image.paste(draw(strokes=THREE, size=(340, 340), pen=20, ink=230, paper=40), (30, 30))
    gray, _ = preprocess.decode.to_arrays(image)
    assert not preprocess.ink.dark_ink(gray)


def test_wide_number_photo_half_in_shadow():
    # A number written in a row, photographed with the lower half of the strip in shadow: the paper
    # estimate's window must stay shorter than the picture, or the lit half's paper level is carried
    # into the shadow and the whole shadow reads as ink.
    image = Image.new("L", (800, 200), 235)
    for index, strokes in enumerate([ONE, SEVEN, ZERO, ONE]):
        image.paste(draw(strokes=strokes, size=(180, 180), pen=20, ink=30, paper=235), (40 + index * 190, 10))
    rows = np.arange(200, dtype=np.float32)[:, np.newaxis]
    shade = 1.0 - 0.4 * np.clip((rows - 90) / 20, 0, 1)
    shaded = Image.fromarray((np.asarray(image, dtype=np.float32) * shade).astype(np.uint8))
    assert len(segment_digits(shaded)) == 4


def test_tightly_cropped_mnist_digits_are_found(mnist_path):
    # People crop their digit to its box: dark ink then covers half the picture, so neither the
    # paper's noise level nor the faint grey edges can be judged as if paper were the majority.
    with np.load(mnist_path) as data:
        digits = data["x_test"][:60]
    scores = []
    for digit in digits:
        rows, cols = np.flatnonzero(digit.max(axis=1)), np.flatnonzero(digit.max(axis=0))
        crop = 255 - digit[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
        image = Image.fromarray(crop).resize((crop.shape[1] * 10, crop.shape[0] * 10), Image.Resampling.BICUBIC)
        scores.append(similarity(preprocess.preprocess(image), digit / 255.0))
    assert np.mean(scores) > 0.85 and np.percentile(scores, 10) > 0.7


# --- Failure classes seen on real images (issue 7), each drawn here -------------------------------


def loops(result: np.ndarray, level: float = 0.4) -> int:
    """Holes (of at least one pixel) in a 28x28 result's strokes: 1 for a 0, 2 for an 8."""
    mask = (result[..., 0] > level).astype(np.uint8)
    contours, hierarchy = cv2.findContours(mask, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    if hierarchy is None:
        return 0
    return sum(1 for index, entry in enumerate(hierarchy[0]) if entry[3] >= 0 and cv2.contourArea(contours[index]) >= 1.0)


def ellipse(centre_x: float, centre_y: float, radius_x: float, radius_y: float, start: float = 0, end: float = 360) -> list:
    angles = np.radians(np.linspace(start, end, 60))
    return [(centre_x + radius_x * np.cos(a), centre_y + radius_y * np.sin(a)) for a in angles]


def encoded(image: Image.Image, fmt: str) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, fmt, quality=90)
    return preprocess.open_image_bytes(buffer.getvalue(), f"drawn.{fmt.lower()}")


def shaded_paper(size: tuple[int, int], level: float, vignette: float, noise: float, seed: int) -> np.ndarray:
    """Float32 (H, W) paper brightness: ``level`` in the centre, darker towards the corners, with noise."""
    width, height = size
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float32)
    falloff = 1 - vignette * 2 * (((cols - width / 2) / width) ** 2 + ((rows - height / 2) / height) ** 2)
    return level * falloff + np.random.default_rng(seed).normal(0, noise, (height, width)).astype(np.float32)


def test_faint_one_pixel_grey_zero_on_a_large_white_canvas_keeps_its_loop():
    # A browser canvas exported at 1150x720 with a 1-pixel light-grey pen: shrunk by averaging, the
    # stroke faded into the paper, and what was left was a broken arc (a 0 read as 2, or "no digit").
    size = (1150, 720)
    image = Image.new("RGB", size, (255, 255, 255))
    ImageDraw.Draw(image).line(ellipse(575, 360, 115, 187), fill=(175, 175, 175), width=1)
    result = preprocess.preprocess(encoded(image, "PNG"))
    check_digit(result)
    assert loops(result) == 1
    clean = Image.new("L", size, 0)
    ImageDraw.Draw(clean).line(ellipse(575, 360, 115, 187), fill=255, width=12)
    assert similarity(result, preprocess.preprocess(clean)) > 0.85


def test_thin_light_top_of_a_blue_ballpoint_nine_on_grey_paper_is_kept():
    # A phone photo of grey paper: the 9's loop was pressed hard at the bottom and drawn light and
    # thin over the top. Dropping the top leaves a hook that reads as 3 or 7.
    size = (1600, 1200)
    paper = shaded_paper(size, 178, 0.35, 4, seed=3)
    image = Image.fromarray(np.clip(np.stack([paper, paper * 0.99, paper * 0.95], axis=-1), 0, 255).astype(np.uint8))
    pen = ImageDraw.Draw(image)
    centre_x, centre_y, radius = 800, 504, 108
    pen.line(ellipse(centre_x, centre_y, radius, radius, 20, 160), fill=(40, 50, 120), width=7, joint="curve")
    pen.line(ellipse(centre_x, centre_y, radius, radius, 160, 380), fill=(95, 100, 150), width=3)
    stem = [(centre_x + radius, centre_y), (centre_x + radius * 0.9, centre_y + radius * 2.6)]
    pen.line(stem, fill=(40, 50, 120), width=7)
    result = preprocess.preprocess(encoded(image.filter(ImageFilter.GaussianBlur(1.0)), "JPEG"))
    check_digit(result)
    clean = Image.new("L", size, 0)
    ImageDraw.Draw(clean).line(ellipse(centre_x, centre_y, radius, radius), fill=255, width=7)
    ImageDraw.Draw(clean).line(stem, fill=255, width=7)
    assert similarity(result, preprocess.preprocess(clean)) > 0.8
    # The loop's top is there: ink across the top rows of the digit, above the loop's hole.
    rows = np.flatnonzero(result[..., 0].max(axis=1) > 0.4)
    assert (result[rows[0] : rows[0] + 3, :, 0] > 0.4).sum() >= 6


def test_small_thin_eight_in_a_dim_vignetted_photo_keeps_both_loops():
    # A small 8 in a large, dim photo darkening towards the corners: the corners must not become
    # ink, and thickening the thin strokes must not fill the small loops (two blobs read as 3).
    size = (1400, 1050)
    image = Image.fromarray(np.clip(shaded_paper(size, 110, 0.3, 3, seed=5), 0, 255).astype(np.uint8))
    pen = ImageDraw.Draw(image)
    pen.line(ellipse(630, 503, 13.6, 22), fill=40, width=5)
    pen.line(ellipse(630, 547, 16, 22), fill=40, width=5)
    result = preprocess.preprocess(encoded(image.filter(ImageFilter.GaussianBlur(1.0)), "JPEG"))
    check_digit(result)
    assert loops(result) == 2


def test_stroke_width_changes_never_fill_or_open_a_loop():
    # At the render scale: a hairline 8 whose loops are narrower than the full thickening would
    # grow, and a fat-marker 0 whose ring is thin at one point, which full thinning would cut.
    scale = preprocess.render.RENDER_SCALE
    eight = Image.new("L", (90, 160), 0)
    ImageDraw.Draw(eight).line(ellipse(45, 42, 14, 38), fill=255, width=4)
    ImageDraw.Draw(eight).line(ellipse(45, 118, 16, 38), fill=255, width=4)
    thin = np.asarray(eight) > 0
    assert preprocess.render._loops(thin) == 2 and preprocess.stroke_width(thin) / scale < preprocess.STROKE_WIDTH_RANGE[0]
    thickened = preprocess.render.normalize_strokes(thin)
    assert preprocess.render._loops(thickened) == 2
    assert preprocess.stroke_width(thickened) > preprocess.stroke_width(thin)
    zero = Image.new("L", (160, 160), 0)
    ImageDraw.Draw(zero).ellipse([0, 0, 159, 159], fill=255)
    ImageDraw.Draw(zero).ellipse([50, 30, 110, 130], fill=0)
    ImageDraw.Draw(zero).rectangle([108, 70, 150, 90], fill=0)  # the ring is thinnest on the right
    fat = np.asarray(zero) > 0
    assert preprocess.stroke_width(fat) / scale > preprocess.STROKE_WIDTH_RANGE[1]
    thinned = preprocess.render.normalize_strokes(fat)
    assert preprocess.render._loops(thinned) == 1
    assert preprocess.stroke_width(thinned) < preprocess.stroke_width(fat)


def test_small_paint_drawing_with_fat_strokes_keeps_dark_ink():
    # A 28x28 paint-program 8 drawn with a fat brush, touching the bottom edge: the paper left between
    # the strokes is as narrow as they are, so locally either side could be ink; a drawing this
    # small has no surround but its own background, which its border shows.
    image = Image.new("L", (28, 28), 255)
    pen = ImageDraw.Draw(image)
    pen.ellipse([7, 2, 21, 13], outline=0, width=5)
    pen.ellipse([5, 12, 23, 27], outline=0, width=5)
    result = preprocess.preprocess(image)
    assert loops(result) == 2
    assert similarity(result, preprocess.preprocess(ImageOps.invert(image))) > 0.95


def test_long_thin_stroke_of_a_tightly_cropped_drawing_is_no_ruled_line():
    # A 28x28 paint drawing of an open 4 with a 1-pixel pen: its stem crosses nearly the whole image,
    # straight and thin like a ruled line, but it ends where the digit does, so it is kept.
    image = Image.new("L", (28, 28), 255)
    pen = ImageDraw.Draw(image)
    pen.line([(6, 3), (6, 13)], fill=0)
    pen.line([(6, 12), (17, 12)], fill=0)
    pen.line([(16, 3), (16, 25)], fill=0)
    with_margin = Image.new("L", (56, 56), 255)
    with_margin.paste(image, (14, 14))
    result = preprocess.preprocess(image)
    assert bounding_box(result)[0] == 20  # the stem sets the height
    assert similarity(result, preprocess.preprocess(with_margin)) > 0.95


def test_ruled_paper_photographed_at_an_angle():
    # The ruled lines slope (the phone was turned a little), cross the digit and join it: they are
    # lines all the same, found by their common slope, and erased.
    image = draw(strokes=ZERO, size=(400, 300), pen=6, ink=40, paper=235, scale=0.7)
    pen = ImageDraw.Draw(image)
    for y in range(-30, 330, 36):
        pen.line([(0, y), (399, y + 24)], fill=120, width=2)
    alone = draw(strokes=ZERO, size=(400, 300), pen=6, ink=40, paper=235, scale=0.7)
    result = preprocess.preprocess(image)
    assert loops(result) == 1
    assert similarity(result, preprocess.preprocess(alone)) > 0.8  # the line crossings leave small nicks


def test_blurred_ruled_paper_photographed_at_an_angle():
    # A phone photo of a 1 on ruled paper, taken at an angle: the lines slope, converge and bow, and
    # the blur spreads them, so above the paper's noise they are too fat for lines and only above
    # the ink threshold thin enough. There they must be found and erased, or they join the 1 into one
    # shape across the whole picture and the 1 is lost in it.
    width, height = 800, 466
    paper = np.full((height, width), 205.0, np.float32) + np.linspace(-12, 12, width)[np.newaxis]
    columns = np.arange(width)
    for start in range(-40, height, 90):
        slope = 0.07 + 0.03 * (start + 40) / height  # steeper down the page (perspective) ...
        rows = start + slope * columns + 0.02 * columns**2 / width  # ... and more so to the right (the lens)
        cv2.polylines(paper, [np.stack([columns, rows], axis=1).round().astype(np.int32)], False, 120.0, 3, cv2.LINE_AA)
    cv2.line(paper, (360, 115), (352, 300), 60.0, 9, cv2.LINE_AA)
    paper = cv2.GaussianBlur(paper, (0, 0), 2.5) + np.random.default_rng(0).normal(0, 3, paper.shape)
    result = preprocess.preprocess(Image.fromarray(np.clip(paper, 0, 255).astype(np.uint8)))
    tall, wide = bounding_box(result, level=0.3)
    assert tall == 20 and wide <= 6  # the 1 alone, upright, filling the box's height


def test_thin_lines_drawn_across_a_thick_digit_are_erased():
    # A recognizer's test picture: a 1 in a fat marker, crossed by thin straight lines at any angle
    # from edge to edge. They join it into one shape as wide as the picture; they are no ruled lines
    # (too steep, each its own slope), but far thinner than the digit's strokes and running past it.
    image = draw(strokes=ONE, size=(200, 200), pen=12, scale=0.8)
    alone = preprocess.preprocess(image.copy())
    pen = ImageDraw.Draw(image)
    for start, end in [((25, 15), (190, 195)), ((10, 100), (155, 199)), ((35, 108), (199, 70)), ((110, 199), (150, 20))]:
        pen.line([start, end], fill=0, width=2)
    result = preprocess.preprocess(image)
    assert bounding_box(result, level=0.3)[1] <= 6  # the 1 alone, not the lines' spread
    assert similarity(result, alone) > 0.8
    # A thin straight stroke of the digit's own ends in it, and stays: a 4 in a fat marker whose
    # arm came out thin, long and straight, from the top of the picture down to its bar.
    four = draw(strokes=[[(0.62, 0.03), (0.62, 0.97)], [(0.03, 0.65), (0.97, 0.65)]], size=(200, 200), pen=14)
    ImageDraw.Draw(four).line([(105, 2), (22, 128)], fill=0, width=2)
    arm = preprocess.preprocess(four)[4:14, 4:14, 0]  # above the bar, left of the stem: only the arm
    assert np.count_nonzero(arm > 0.3) >= 8


def test_small_drawing_broken_into_dots_keeps_every_piece():
    # A 28x28 photo of a 5, thresholded by its author: the bar survived whole, the rest as dots
    # farther from it than a broken stroke's pieces usually are. A drawing this small is one digit.
    image = Image.new("L", (28, 28), 255)
    pen = ImageDraw.Draw(image)
    pen.rectangle([10, 4, 21, 5], fill=0)  # the bar
    for x, y in [(9, 10), (13, 13), (17, 14), (19, 17), (19, 20), (17, 22), (13, 23), (9, 22)]:
        pen.rectangle([x, y, x + 1, y + 1], fill=0)  # the bowl, in dots
    result = preprocess.preprocess(image)
    assert bounding_box(result)[0] == 20  # the whole 5 is there: its height is the bowl's, not the bar's


def test_small_drawing_keeps_a_lone_pixel_of_stroke_but_not_a_speck():
    # A 28x28 photo of a 5 drawn with a thin pen: the stem came out too faint for the threshold, and
    # where it met the bowl one dark pixel is left, cut off from the bowl by paler ones. At this size
    # that pixel is stroke, and faint ink joins it to the digit: dropped, the 5 loses the start of
    # its bowl (and reads as a 3). A dark pixel alone on the paper is still a speck.
    def five(lone_pixel: bool = False, speck: bool = False) -> Image.Image:
        pixels = np.full((28, 28), 255, np.uint8)
        pixels[3:8, 9:21] = 150  # the bar, with the grey edges of a photo
        pixels[4:7, 9:21] = 0
        pen = ImageDraw.Draw(image := Image.fromarray(pixels))
        bowl = [(13, 13), (16, 13), (18, 15), (19, 18), (18, 20), (15, 22), (11, 23)]
        pen.line(bowl, fill=150, width=3)
        pen.line(bowl, fill=0)
        pen.point([(9, 11), (8, 12), (9, 12), (10, 13), (11, 13), (12, 13)], fill=235)  # the faint stem and joint
        if lone_pixel:
            pen.point([(9, 13)], fill=0)
        if speck:
            pen.point([(24, 12)], fill=0)
        return image

    without = preprocess.preprocess(five())
    with_pixel = preprocess.preprocess(five(lone_pixel=True))
    rows, cols = np.nonzero(np.abs(with_pixel - without)[..., 0] > 0.5)
    assert rows.size  # the pixel is there, below the bar's left end, where the bowl starts (and nothing else moved)
    assert np.all((rows >= 13) & (rows < 20)) and np.all((cols >= 6) & (cols < 12))
    assert np.array_equal(preprocess.preprocess(five(speck=True)), without)


def test_digit_drawn_in_dots_is_chosen_over_a_solid_watermark_badge():
    # A soft brush leaves a 0 as a ring of separate dabs; a paint program's badge in the corner is
    # one solid shape larger than any dab. The dabs together are the digit.
    image = Image.new("RGB", (400, 300), (255, 255, 255))
    pen = ImageDraw.Draw(image)
    for angle in np.radians(np.arange(0, 360, 13)):
        x, y = 180 + 55 * np.cos(angle), 140 + 95 * np.sin(angle)
        pen.ellipse([x - 7, y - 7, x + 7, y + 7], fill=(90, 90, 90))
    pen.rectangle([300, 255, 390, 285], fill=(220, 20, 120))  # the badge ...
    pen.text((310, 263), "Paint X", fill=(255, 255, 255))  # ... with its name
    result = preprocess.preprocess(image)
    assert loops(result) == 1
    assert bounding_box(result)[0] == 20 and bounding_box(result)[1] < 16  # the tall ring, not the flat badge
