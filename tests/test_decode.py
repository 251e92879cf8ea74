"""preprocess.decode and the fast paths of preprocess.ink: reduced-scale JPEG decoding gives the same digit
as a full decode (EXIF orientation included), the working-size shrink keeps thin lines, and the shortcuts
(the dither check on grey values already made, one paper level for evenly lit paper, the percentile
spread) agree with what they replace."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageOps

import preprocess
from preprocess import decode, ink, open_image

PHOTO_SIZE = (3000, 2250)  # a phone photo's 4:3, large enough for a 1/4 or 1/8 JPEG decode
ORIENTATION = 0x0112


def photo_of_a_seven(size=PHOTO_SIZE) -> Image.Image:
    """A dark 7 on slightly shaded paper, the way a phone photo of a sheet looks, RGB."""
    width, height = size
    shade = np.linspace(235, 205, width, dtype=np.float32)[np.newaxis, :].repeat(height, axis=0)
    image = Image.fromarray(shade.astype(np.uint8)).convert("RGB")
    side = min(size) * 0.6
    left, top = (width - side) / 2, (height - side) / 2
    points = [(left + x * side, top + y * side) for x, y in [(0.2, 0.15), (0.8, 0.15), (0.4, 0.9)]]
    ImageDraw.Draw(image).line(points, fill=(30, 30, 60), width=round(side / 14), joint="curve")
    return image


def full_decode(path) -> Image.Image:
    """The file decoded at full size with no draft mode, EXIF-rotated: what open_image must match."""
    with Image.open(path) as image:
        image.load()
        return ImageOps.exif_transpose(image)


def test_large_jpeg_is_decoded_reduced_to_the_same_digit(tmp_path):
    path = tmp_path / "photo.jpg"
    photo_of_a_seven().save(path, quality=90)
    reduced = open_image(path)
    assert reduced.mode == "L"
    # DCT scaling took it well below full size, but not below the working resolution.
    assert max(reduced.size) <= PHOTO_SIZE[0] // 2 and min(reduced.size) >= decode.WORK_MAX_SIDE
    assert reduced.size[0] / reduced.size[1] == pytest.approx(PHOTO_SIZE[0] / PHOTO_SIZE[1], rel=0.01)
    fast, slow = preprocess.preprocess(reduced), preprocess.preprocess(full_decode(path))
    assert np.abs(fast - slow).mean() < 0.02
    assert float(np.corrcoef(fast.ravel(), slow.ravel())[0, 1]) > 0.97


def test_exif_orientation_is_applied_to_a_reduced_jpeg(tmp_path):
    # Stored sideways with orientation 6 ("rotate 90 clockwise to view"), as phones save portraits.
    upright = photo_of_a_seven()
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    path = tmp_path / "portrait.jpg"
    upright.transpose(Image.Transpose.ROTATE_90).save(path, exif=exif, quality=90)
    opened = open_image(path)
    assert opened.width > opened.height  # turned back upright (the stored image is taller than wide)
    assert max(opened.size) < PHOTO_SIZE[0]  # and decoded reduced
    seen = preprocess.preprocess(opened)
    expected = preprocess.preprocess(upright)
    assert float(np.corrcoef(seen.ravel(), expected.ravel())[0, 1]) > 0.95
    sideways = preprocess.preprocess(upright.transpose(Image.Transpose.ROTATE_90))
    assert float(np.corrcoef(seen.ravel(), sideways.ravel())[0, 1]) < 0.8


def test_small_jpeg_is_decoded_at_full_size(tmp_path):
    path = tmp_path / "small.jpg"
    photo_of_a_seven((700, 500)).save(path, quality=90)
    assert open_image(path).size == (700, 500)  # half of it would fall below the working resolution


def test_decompression_bomb_is_refused_before_decoding(tmp_path):
    path = tmp_path / "bomb.png"
    Image.new("1", (10_000, 6_000)).save(path)  # 60 MP, a few kilobytes on disk
    with pytest.raises(preprocess.ImageError, match="decompression bomb"):
        open_image(path)


@pytest.mark.parametrize("longest", [430, 520, 599, 600, 790, 1190, 2390], ids=lambda side: f"{side}px")
def test_shrink_keeps_every_thin_line(longest):
    # Dark 1-pixel lines on white at every phase of the sampling grid: each must still show as ink at
    # the working size (averaging keeps at least a quarter of a line's contrast; so must the shrink).
    values = np.full((longest // 2, longest), 255, np.uint8)
    columns = np.arange(3, longest - 3, 9)
    values[:, columns] = 0
    small = decode.shrink(values, keep_bright=False if longest >= 2 * decode.WORK_MAX_SIDE else None)
    assert max(small.shape) == decode.WORK_MAX_SIDE
    scale = small.shape[1] / longest
    row = small[small.shape[0] // 2].astype(np.float32)
    for column in columns:
        centre = (column + 0.5) * scale - 0.5
        near = row[max(0, int(np.floor(centre)) - 1) : int(np.ceil(centre)) + 2]
        assert 255 - near.min() >= 255 / 4, f"line at column {column} faded to {near.min()}"


def test_a_one_pixel_dark_edge_stays_one_pixel_thin_when_shrunk():
    # Cropping and editing tools leave a photo a 1-pixel dark border. Shrunk from 2048 pixels to the working 400,
    # the last working column covers about 5 of its columns, so it may darken by about a fifth (an area average:
    # 200 * (1 - 1 / 5.12) = 161), not by four fifths: a real 7 on ruled paper was read as light ink on dark paper.
    values = np.full((2048, 1152), 200, np.uint8)
    values[:, -1] = values[-1, :] = 0
    small = decode.shrink(values, decode.WORK_MAX_SIDE)
    assert small.shape == (decode.WORK_MAX_SIDE, 225)
    assert small[:-1, -1].min() >= 150 and small[-1, :-1].min() >= 150
    assert small[:-1, :-1].min() == 200  # and the rest of the page is untouched


@pytest.mark.parametrize("mode", ["1", "L", "P"])
def test_dither_check_on_known_grey_values_agrees(mode):
    # Grey paper with a dark stroke (larger than the dither check's central sample), dithered and not.
    grey = Image.new("L", (900, 700), 215)
    ImageDraw.Draw(grey).line([(300, 200), (600, 200), (420, 560)], fill=20, width=30)
    for image in (grey.convert("1"), grey.convert("1", dither=Image.Dither.NONE)):
        image = image.convert(mode) if mode != "1" else image
        gray, _ = decode.raw_arrays(image)
        assert decode.dithered(image, gray) == decode.dithered(image)
    assert decode.dithered(grey.convert("1"))


def test_evenly_lit_paper_has_one_level():
    image = Image.new("L", (300, 240), 230)
    ImageDraw.Draw(image).line([(80, 40), (200, 40), (120, 200)], fill=20, width=14)
    gray, _ = decode.to_arrays(image)
    level = ink.paper_level(gray, dark_ink=True)
    assert isinstance(level, float) and level == pytest.approx(230 / 255, abs=0.01)
    assert np.array_equal(ink.background(gray, dark_ink=True), np.full(gray.shape, level, np.float32))
    inked = ink.ink_map(image)
    assert inked.dtype == np.float32 and inked.shape == gray.shape
    assert inked.max() > 0.85 and np.median(inked) < 0.02


def test_shadowed_paper_gets_a_level_per_pixel():
    ramp = np.linspace(250, 120, 300, dtype=np.float32)[np.newaxis, :].repeat(240, axis=0)
    image = Image.fromarray(ramp.astype(np.uint8))
    ImageDraw.Draw(image).line([(80, 40), (200, 40), (120, 200)], fill=10, width=14)
    gray, _ = decode.to_arrays(image)
    level = ink.paper_level(gray, dark_ink=True)
    assert isinstance(level, np.ndarray) and level.shape == gray.shape
    assert level[:, 5].mean() > level[:, -5].mean() + 0.3
    inked = ink.ink_map(image)
    assert np.percentile(inked, 50) < 0.05  # the shadowed side is paper, not ink


@pytest.mark.parametrize("shape", [(160, 150), (13, 160), (1, 7), (2, 2)])
def test_spread_matches_numpy_percentiles(shape):
    values = np.random.default_rng(1).random(shape).astype(np.float32)
    low, high = np.percentile(values, [1, 99])
    assert ink._spread(values) == pytest.approx(float(high) - float(low), abs=1e-6)


@pytest.mark.parametrize("dtype", [np.uint8, np.float32], ids=["uint8", "float32"])
@pytest.mark.parametrize("shape", [(1,), (2,), (7, 9), (64, 64), (3, 101)], ids=str)
def test_median_is_numpys_median(shape, dtype):
    values = np.random.default_rng(2).random(shape)
    values = (values * 255).astype(dtype) if dtype is np.uint8 else values.astype(dtype)
    assert ink._median(values) == float(np.median(values))  # the very same number, not merely close


# EXIF orientation -> how a camera stored the upright picture (what exif_transpose undoes); 1 is upright.
STORED_TURN = {3: Image.Transpose.ROTATE_180, 6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270}


@pytest.mark.parametrize("orientation", [1, 3, 6, 8])
def test_exif_orientation_of_a_png_is_applied(tmp_path, orientation):
    # open_image turns the decoded image itself (no copy): the result must still be upright, and turned once.
    upright = photo_of_a_seven((240, 180)).convert("L")
    stored = upright.transpose(STORED_TURN[orientation]) if orientation in STORED_TURN else upright
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    path = tmp_path / "turned.png"
    stored.save(path, exif=exif)
    opened = open_image(path)
    assert opened.size == upright.size
    assert np.array_equal(np.asarray(opened), np.asarray(upright))
    assert opened.getexif().get(ORIENTATION, 1) == 1  # turned once: nothing downstream turns it again


# --- phone formats: HEIC (pillow-heif's plugin, loaded only for such files) and AVIF (Pillow's own)

HEIC_SIZE = (800, 600)


def save_heic(image: Image.Image, path, **options) -> None:
    """Save as HEIC with pillow-heif's encoder, or skip where this build of it has none."""
    if not decode._heif_plugin():
        pytest.skip("pillow-heif is not installed")
    try:
        image.save(path, format="HEIF", quality=90, **options)
    except (OSError, KeyError, ValueError) as error:
        pytest.skip(f"pillow-heif cannot encode here: {error}")


def test_a_heic_photo_reads_as_the_same_digit_as_a_png_of_it(tmp_path):
    photo = photo_of_a_seven(HEIC_SIZE)
    photo.save(tmp_path / "photo.png")
    save_heic(photo, tmp_path / "photo.heic")
    from_heic, from_png = open_image(tmp_path / "photo.heic"), open_image(tmp_path / "photo.png")
    assert from_heic.size == from_png.size
    heic, png = preprocess.preprocess(from_heic), preprocess.preprocess(from_png)
    assert np.abs(heic - png).mean() < 0.02  # HEVC is lossy, a little
    # An upload (the web page, the JSON API) goes the same way.
    uploaded = decode.open_image_bytes((tmp_path / "photo.heic").read_bytes(), "photo.heic")
    assert np.array_equal(preprocess.preprocess(uploaded), heic)


def test_a_heic_portrait_is_turned_upright(tmp_path):
    # Stored sideways with orientation 6, as phones save portraits.
    upright = photo_of_a_seven(HEIC_SIZE)
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    save_heic(upright.transpose(Image.Transpose.ROTATE_90), tmp_path / "portrait.heic", exif=exif.tobytes())
    opened = open_image(tmp_path / "portrait.heic")
    assert opened.size == upright.size
    assert np.abs(preprocess.preprocess(opened) - preprocess.preprocess(upright)).mean() < 0.02


def test_a_heic_photo_without_pillow_heif_is_a_clear_error(tmp_path, monkeypatch):
    save_heic(photo_of_a_seven(HEIC_SIZE), tmp_path / "photo.heic")
    # As where pillow-heif is not installed: no HEIF opener registered with Pillow, and none to register. (Pillow's
    # own plugins are loaded first: loaded into the stand-in list, they would be lost with it.)
    Image.init()
    monkeypatch.setattr(Image, "ID", [format for format in Image.ID if format != "HEIF"])
    monkeypatch.setattr(decode, "_heif_plugin", lambda: False)
    with pytest.raises(preprocess.ImageError, match=r"photo\.heic: a HEIC/HEIF photo.*pip install pillow-heif"):
        open_image(tmp_path / "photo.heic")


def test_an_avif_image_is_read_where_pillow_reads_avif(tmp_path):
    from PIL import features

    if not features.check("avif"):
        pytest.skip("this Pillow has no AVIF support")
    photo = photo_of_a_seven(HEIC_SIZE)
    photo.save(tmp_path / "photo.avif", quality=90)
    assert np.abs(preprocess.preprocess(open_image(tmp_path / "photo.avif")) - preprocess.preprocess(photo)).mean() < 0.02


def test_phone_formats_are_listed_as_images():
    assert all(decode.is_image_path(name) for name in ("IMG_0001.HEIC", "a.heic", "b.heif", "c.avif"))
