"""A realistic test set: MNIST test digits rendered the way people's own digit images look.

The yardstick for the custom-image preprocessing, so it is written without looking at it: every
"style" below imitates one kind of image that users feed a digit recognizer (a phone photo of paper,
a web-canvas export with a transparent background, a scan, a chalkboard, a paint program, odd file
modes) and is a named function from one 28x28 MNIST digit and a random generator to a ``Sample``.
``generate`` writes a labelled set of them, ``generate_numbers`` multi-digit number images for
``evaluate.py --number`` (plain rows, ruled paper in a drawn frame, squared paper, boxed form fields,
thin broken strokes, slanted rows, touching pairs), and ``generate_bad_inputs`` the broken and degenerate files the CLI must
answer with a clear error (or, where there is one, the right digit).

Pure numpy + Pillow; everything is deterministic given the seed.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import struct
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageOps

MIN_SIDE, MAX_SIDE = 200, 1000  # image sides in pixels
DIGIT_HEIGHT = (0.20, 0.70)  # digit height as a fraction of the image height
MAX_TILT_DEGREES = 10.0  # slight rotation of a hand-held photo or a sloppy writer
MARGIN = 0.03  # fraction of each side kept clear of ink, so no digit is cut by the image edge
SUPERSAMPLE = 4  # pen-width changes and stroke thinning run on the digit upsampled this many times
INK_THRESHOLD = 0.4  # MNIST grey level taken as the edge of a pen stroke
FILLED_WIDTH = 2.0  # a part of a digit this many stroke widths thick is a loop filled in (see stroke_ink)
PAPER_WHITE = 255.0
ORIENTATION_TAG = 0x0112  # EXIF orientation
MANIFEST_CSV = "labels.csv"
MANIFEST_JSON = "labels.json"
NUMBER_LENGTHS = (2, 5)  # digits per number image, inclusive
PNG_COMPRESSION = 1  # zlib level for PNGs: noisy pictures barely compress, and level 6 triples generation time
EXTENSIONS = {"PNG": ".png", "JPEG": ".jpg", "WEBP": ".webp", "BMP": ".bmp", "TIFF": ".tif", "GIF": ".gif"}

DigitSource = tuple[np.ndarray, np.ndarray]  # images uint8 (N, 28, 28) white on black, labels int (N,)


@dataclass
class Sample:
    """One rendered image and how to write it (Pillow format name and save options)."""

    image: Image.Image
    format: str = "PNG"
    options: dict = field(default_factory=dict)

    @property
    def extension(self) -> str:
        return EXTENSIONS[self.format]

    def save(self, target: Path | io.BytesIO) -> None:
        options = {"compress_level": PNG_COMPRESSION, **self.options} if self.format == "PNG" else self.options
        self.image.save(target, format=self.format, **options)

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        self.save(buffer)
        return buffer.getvalue()


@dataclass(frozen=True)
class BadInput:
    """A broken or degenerate input; ``expected`` is the right digit, or None when an error is the right answer."""

    path: Path
    expected: int | None
    why: str


# --- the digit: MNIST's grey levels to a pen's ink coverage -------------------------------------------------


def _digit_crop(digit: np.ndarray) -> np.ndarray:
    """uint8 (28, 28) white-on-black -> float32 crop of its ink bounding box in [0, 1]."""
    ink = np.asarray(digit, dtype=np.float32).reshape(digit.shape[:2]) / 255.0
    rows = np.flatnonzero(ink.max(axis=1) > 0.05)
    cols = np.flatnonzero(ink.max(axis=0) > 0.05)
    if rows.size == 0:
        raise ValueError("the digit image is blank")
    return ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def _trim(coverage: np.ndarray) -> np.ndarray:
    rows = np.flatnonzero(coverage.max(axis=1) > 0.01)
    cols = np.flatnonzero(coverage.max(axis=0) > 0.01)
    if rows.size == 0:
        raise ValueError("rendering lost the whole digit")
    return coverage[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def _upsampled(digit: np.ndarray, pad: int = 2) -> tuple[Image.Image, int]:
    """The padded digit crop as an 'F' image upsampled SUPERSAMPLE times, and its unpadded height in MNIST pixels."""
    crop = np.pad(_digit_crop(digit), pad)
    height, width = crop.shape
    big = Image.fromarray(crop, "F").resize((width * SUPERSAMPLE, height * SUPERSAMPLE), Image.Resampling.BICUBIC)
    return big, height - 2 * pad


def mask_ink(digit: np.ndarray, height: float, *, grow: int = 0, hard: bool = False) -> np.ndarray:
    """MNIST digit -> float32 ink coverage in [0, 1], about ``height`` px tall, with a pen's crisp edges.

    The digit keeps MNIST's own shape and stroke width; ``grow`` > 0 fattens (< 0 thins) every stroke by
    that many quarter MNIST pixels on each side, ``hard`` leaves the edges aliased like a paint program's pencil.
    """
    big, mnist_height = _upsampled(digit)
    if grow:
        size = 2 * abs(grow) + 1
        big = big.filter(ImageFilter.MaxFilter(size) if grow > 0 else ImageFilter.MinFilter(size))
    scale = height / mnist_height  # output pixels per MNIST pixel
    size = (max(1, round(big.width / SUPERSAMPLE * scale)), max(1, round(big.height / SUPERSAMPLE * scale)))
    value = np.asarray(big.resize(size, Image.Resampling.BICUBIC))
    if hard:
        return _trim((value > INK_THRESHOLD).astype(np.float32))
    # MNIST's strokes are blurred by its 28 px grid; a pen's edge is about one pixel wide at any size.
    gain = max(1.0, scale)
    return _trim(np.clip((value - INK_THRESHOLD) * gain + 0.5, 0.0, 1.0).astype(np.float32))


def _thin(mask: np.ndarray) -> np.ndarray:
    """Zhang-Suen thinning of a bool mask to one-pixel-wide strokes."""
    image = np.pad(mask.astype(np.uint8), 1)
    while True:
        changed = False
        for step in (0, 1):
            p = np.pad(image[1:-1, 1:-1], 1)
            p2, p3, p4 = p[:-2, 1:-1], p[:-2, 2:], p[1:-1, 2:]
            p5, p6, p7 = p[2:, 2:], p[2:, 1:-1], p[2:, :-2]
            p8, p9 = p[1:-1, :-2], p[:-2, :-2]
            ring = [p2, p3, p4, p5, p6, p7, p8, p9, p2]
            neighbours = sum(ring[:8])
            transitions = sum((ring[i] == 0) & (ring[i + 1] == 1) for i in range(8))
            if step == 0:
                side = (p2 * p4 * p6 == 0) & (p4 * p6 * p8 == 0)
            else:
                side = (p2 * p4 * p8 == 0) & (p2 * p6 * p8 == 0)
            remove = (p[1:-1, 1:-1] == 1) & (neighbours >= 2) & (neighbours <= 6) & (transitions == 1) & side
            if remove.any():
                image[1:-1, 1:-1][remove] = 0
                changed = True
        if not changed:
            return image[1:-1, 1:-1].astype(bool)


def _shrink(mask: np.ndarray, radius: int) -> np.ndarray:
    """A bool mask eroded (radius < 0: dilated) by a square of ``abs(radius)`` pixels on each side."""
    if radius == 0:
        return mask
    size = 2 * abs(radius) + 1
    layer = Image.fromarray(mask.astype(np.uint8) * 255)
    return np.asarray(layer.filter(ImageFilter.MinFilter(size) if radius > 0 else ImageFilter.MaxFilter(size))) > 0


def _with_filled_loops(mask: np.ndarray, skeleton: np.ndarray) -> np.ndarray:
    """The skeleton with each part of the digit FILLED_WIDTH times thicker than its strokes (a loop that
    MNIST's thick pen filled in: a 6's, a 9's, an 8's) drawn as its outline: thinned, such a blob is a
    line or a dot, and a 6 becomes an L that nobody reads as a 6."""
    # Half a stroke's width: how far in the mask shrinks before it loses half of the centre line.
    half = 1
    while half < max(mask.shape) and (skeleton & _shrink(mask, half)).sum() > skeleton.sum() / 2:
        half += 1
    radius = max(1, round(FILLED_WIDTH * half))
    core = _shrink(mask, radius)
    if not core.any():
        return skeleton
    filled = _shrink(core, -2 * radius) & mask  # grown back over the blob, to its own round edge
    outline = filled & ~_shrink(filled, 1)
    return (skeleton & ~_shrink(filled, 2)) | outline


def stroke_ink(digit: np.ndarray, height: float, pen_width: float, *, hard: bool = False, loops: bool = False) -> np.ndarray:
    """MNIST digit -> float32 ink coverage, redrawn along its centre lines with a round pen ``pen_width`` px wide
    (with ``loops``, the loops MNIST's thick strokes filled in are drawn round their outline)."""
    big, mnist_height = _upsampled(digit)
    mask = np.asarray(big) > INK_THRESHOLD
    skeleton = _with_filled_loops(mask, _thin(mask)) if loops else _thin(mask)
    scale = height / mnist_height
    oversample = 1 if hard else 2  # drawn large and shrunk, for anti-aliased edges
    step = scale / SUPERSAMPLE * oversample  # drawing pixels per skeleton pixel
    canvas = Image.new("L", (max(1, round(big.width * step)), max(1, round(big.height * step))), 0)
    draw = ImageDraw.Draw(canvas)
    radius = max(0.5, pen_width * oversample / 2)
    ys, xs = np.nonzero(skeleton)
    points = set(zip(ys.tolist(), xs.tolist(), strict=True))
    for y, x in points:
        cx, cy = (x + 0.5) * step, (y + 0.5) * step
        draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=255)
        for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1)):
            if (y + dy, x + dx) in points:
                end = ((x + dx + 0.5) * step, (y + dy + 0.5) * step)
                draw.line(((cx, cy), end), fill=255, width=max(1, round(2 * radius)))
    if oversample > 1:
        canvas = canvas.resize((max(1, canvas.width // oversample), max(1, canvas.height // oversample)), Image.Resampling.BOX)
    return _trim(np.asarray(canvas, dtype=np.float32) / 255.0)


def _rotate(coverage: np.ndarray, degrees: float) -> np.ndarray:
    if not degrees:
        return coverage
    turned = Image.fromarray(coverage, "F").rotate(degrees, resample=Image.Resampling.BICUBIC, expand=True)
    return _trim(np.clip(np.asarray(turned), 0.0, 1.0))


def _fit(coverage: np.ndarray, height: int, width: int) -> np.ndarray:
    """Shrink coverage (keeping its aspect ratio) until it fits height x width."""
    factor = min(1.0, height / coverage.shape[0], width / coverage.shape[1])
    if factor >= 1.0:
        return coverage
    size = (max(1, int(coverage.shape[1] * factor)), max(1, int(coverage.shape[0] * factor)))
    return np.clip(np.asarray(Image.fromarray(coverage, "F").resize(size, Image.Resampling.BILINEAR)), 0.0, 1.0)


def _place(
    coverage: np.ndarray, shape: tuple[int, int], rng: np.random.Generator, box: tuple[int, int, int, int] | None = None
) -> np.ndarray:
    """Put coverage at a random spot inside box (top, left, bottom, right) of an empty (H, W) layer, off-centre."""
    height, width = shape
    top, left, bottom, right = box or (0, 0, height, width)
    margin_y, margin_x = round(MARGIN * height), round(MARGIN * width)
    coverage = _fit(coverage, bottom - top - 2 * margin_y, right - left - 2 * margin_x)
    y, x = _spot(coverage.shape, shape, rng, box)
    return _paste(coverage, shape, y, x)


def _spot(
    size: tuple[int, int], shape: tuple[int, int], rng: np.random.Generator, box: tuple[int, int, int, int] | None = None
) -> tuple[int, int]:
    """A random top-left corner for something of ``size`` inside box (default: the whole (H, W) picture) less its margins."""
    height, width = shape
    top, left, bottom, right = box or (0, 0, height, width)
    margin_y, margin_x = round(MARGIN * height), round(MARGIN * width)
    top, left, bottom, right = top + margin_y, left + margin_x, bottom - margin_y, right - margin_x
    y = top + int(rng.integers(0, bottom - top - size[0] + 1))
    x = left + int(rng.integers(0, right - left - size[1] + 1))
    return y, x


def _paste(coverage: np.ndarray, shape: tuple[int, int], y: int, x: int) -> np.ndarray:
    """An empty (H, W) layer with coverage at (y, x), cut at the picture's edges."""
    layer = np.zeros(shape, dtype=np.float32)
    height, width = min(coverage.shape[0], shape[0] - y), min(coverage.shape[1], shape[1] - x)
    layer[y : y + height, x : x + width] = coverage[:height, :width]
    return layer


def _canvas_size(rng: np.random.Generator, low: int = MIN_SIDE, high: int = MAX_SIDE) -> tuple[int, int]:
    height = int(rng.integers(low, high + 1))
    width = int(np.clip(round(height * rng.uniform(0.75, 1.34)), low, high))
    return height, width


def _digit_layer(
    digit: np.ndarray,
    rng: np.random.Generator,
    shape: tuple[int, int],
    *,
    fraction: tuple[float, float] = DIGIT_HEIGHT,
    tilt: float = 0.0,
    box: tuple[int, int, int, int] | None = None,
    pen: str = "mask",
    **pen_options,
) -> np.ndarray:
    """The digit's ink coverage as an (H, W) float32 layer: random size within ``fraction`` of H, off-centre."""
    height = rng.uniform(*fraction) * shape[0]
    if box is not None:
        height = min(height, 0.9 * (box[2] - box[0]))
    if pen == "stroke":
        pen_width = pen_options.pop("pen_fraction") * height
        coverage = stroke_ink(digit, height, max(1.2, pen_width), **pen_options)
    else:
        coverage = mask_ink(digit, height, **pen_options)
    return _place(_rotate(coverage, tilt), shape, rng, box)


# --- paper, light and camera ----------------------------------------------------------------------------------


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], cells: int = 6) -> np.ndarray:
    """Low-frequency noise in about [-1, 1], (H, W) float32: blotches, uneven paper, smudges."""
    coarse = rng.normal(size=(cells, cells)).astype(np.float32)
    return np.asarray(Image.fromarray(coarse, "F").resize((shape[1], shape[0]), Image.Resampling.BICUBIC))


def _paper(
    rng: np.random.Generator, shape: tuple[int, int], tone: tuple[float, float] = (232, 255), tint: float = 0.02, unevenness: float = 0.012
) -> np.ndarray:
    """Off-white paper (H, W, 3) float32 in 0..255 with a faint colour cast and uneven fibres."""
    base = rng.uniform(*tone) * (1 + rng.uniform(-tint, tint, size=3))
    blotches = 1 + rng.uniform(0.0, unevenness) * _smooth_noise(rng, shape)
    return np.minimum(base[None, None, :] * blotches[..., None], PAPER_WHITE).astype(np.float32)


def _lighting(rng: np.random.Generator, shape: tuple[int, int], strength: float, shadow: bool) -> np.ndarray:
    """Multiplicative light over the page (H, W) in (0, 1]: a gradient, vignetting and maybe a hand's or phone's shadow."""
    height, width = shape
    ys = np.linspace(-1, 1, height, dtype=np.float32)[:, None]
    xs = np.linspace(-1, 1, width, dtype=np.float32)[None, :]
    angle = rng.uniform(0, 2 * math.pi)
    ramp = xs * math.cos(angle) + ys * math.sin(angle)
    light = 1 - strength * (ramp - ramp.min()) / max(1e-6, float(ramp.max() - ramp.min()))
    light = light * (1 - rng.uniform(0, 0.15) * (xs**2 + ys**2) / 2)
    if shadow:
        angle = rng.uniform(0, 2 * math.pi)
        offset = rng.uniform(-0.6, 0.6)
        distance = xs * math.cos(angle) + ys * math.sin(angle) - offset
        softness = rng.uniform(0.02, 0.15)
        light = light * (1 - rng.uniform(0.2, 0.45) / (1 + np.exp(-distance / softness)))
    return light.astype(np.float32)


def _dark_ink(rng: np.random.Generator) -> np.ndarray:
    """A black or near-black pen, RGB float32."""
    return (rng.uniform(10, 70) + rng.uniform(-8, 8, size=3)).astype(np.float32)


def _coloured_ink(rng: np.random.Generator) -> np.ndarray:
    """A blue (mostly), red, green or purple pen, RGB float32."""
    pens = {
        "blue": ((15, 50), (30, 90), (120, 210)),
        "red": ((160, 215), (15, 60), (25, 70)),
        "green": ((15, 60), (95, 140), (40, 80)),
        "purple": ((70, 120), (20, 60), (110, 170)),
    }
    name = rng.choice(["blue", "blue", "blue", "red", "green", "purple"])
    return np.array([rng.uniform(*channel) for channel in pens[name]], dtype=np.float32)


def _compose(paper: np.ndarray, coverage: np.ndarray, ink: np.ndarray, opacity: float = 1.0) -> np.ndarray:
    alpha = (coverage * opacity)[..., None]
    return paper * (1 - alpha) + ink[None, None, :] * alpha


def _camera(rng: np.random.Generator, rgb: np.ndarray, light: np.ndarray | None, noise: float) -> np.ndarray:
    """Light, sensor noise and white balance applied to a (H, W, 3) float scene -> uint8."""
    if light is not None:
        rgb = rgb * light[..., None]
    rgb = rgb * (1 + rng.uniform(-0.03, 0.03, size=3))[None, None, :]  # white balance
    if noise:
        rgb = rgb + rng.normal(0, noise, size=rgb.shape[:2])[..., None].astype(np.float32)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def _blur(image: Image.Image, radius: float) -> Image.Image:
    return image.filter(ImageFilter.GaussianBlur(radius)) if radius > 0.3 else image


def _photo_or_png(rng: np.random.Generator, image: Image.Image, jpeg_share: float = 0.5) -> Sample:
    if rng.random() < jpeg_share:
        return Sample(image, "JPEG", {"quality": int(rng.integers(75, 96))})
    return Sample(image, "PNG")


def _paper_image(digit: np.ndarray, rng: np.random.Generator, *, ink: np.ndarray | None = None, **layer_options) -> Image.Image:
    """The base every paper style shares: a digit in dark (or given) ink on off-white paper, RGB."""
    shape = _canvas_size(rng)
    coverage = _digit_layer(digit, rng, shape, **layer_options)
    rgb = _compose(_paper(rng, shape), coverage, _dark_ink(rng) if ink is None else ink)
    return Image.fromarray(_camera(rng, rgb, None, rng.uniform(0, 3)))


# --- the styles -----------------------------------------------------------------------------------------------


def clean_paper(digit: np.ndarray, rng: np.random.Generator) -> Sample:
    """Dark ink on white or off-white paper, evenly lit: the easy case. RGB or greyscale PNG."""
    image = _paper_image(digit, rng)
    return Sample(image.convert("L") if rng.random() < 0.3 else image, "PNG")


def thick_pen(digit: np.ndarray, rng: np.random.Generator) -> Sample:
    """A fat marker: every stroke widened by 0.5 to 1 MNIST pixel a side."""
    return _photo_or_png(rng, _paper_image(digit, rng, grow=int(rng.integers(2, 5))))


def thin_pen(digit: np.ndarray, rng: np.random.Generator) -> Sample:
    """A fine ballpoint or fineliner: strokes redrawn 1-4% of the digit's height wide (MNIST's are ~12%)."""
    ink = _dark_ink(rng) if rng.random() < 0.5 else _coloured_ink(rng)
    image = _paper_image(digit, rng, ink=ink, pen="stroke", pen_fraction=rng.uniform(0.01, 0.04))
    return _photo_or_png(rng, image)


def soft_ink(digit: np.ndarray, rng: np.random.Generator) -> Sample:
    """Blurred, soft or pencil-grey ink (out of focus, felt tip bleeding); PNG or lossy WebP."""
    ink = _dark_ink(rng) if rng.random() < 0.6 else np.full(3, rng.uniform(80, 130), dtype=np.float32)
    shape = _canvas_size(rng)
    fraction = rng.uniform(*DIGIT_HEIGHT)
    coverage = _digit_layer(digit, rng, shape, fraction=(fraction, fraction))
    rgb = _camera(rng, _compose(_paper(rng, shape), coverage, ink), None, rng.uniform(0, 3))
    image = _blur(Image.fromarray(rgb), rng.uniform(0.005, 0.03) * fraction * shape[0])
    if rng.random() < 0.5:
        return Sample(image, "WEBP", {"quality": int(rng.integers(70, 95))})
    return Sample(image, "PNG")


def jpeg_artifacts(digit: np.ndarray, rng: np.random.Generator) -> Sample:
    """Heavily compressed JPEG (quality 10-50, chroma subsampled): blocks and ringing around the strokes."""
    ink = _dark_ink(rng) if rng.random() < 0.6 else _coloured_ink(rng)
    image = _paper_image(digit, rng, ink=ink)
    return Sample(image, "JPEG", {"quality": int(rng.integers(10, 51)), "subsampling": int(rng.choice([0, 2]))})


def phone_photo(digit: np.ndarray, rng: np.random.Generator) -> Sample:
    """A phone photo of paper: uneven light, maybe a shadow, paper grain, sensor noise, slight tilt and blur, JPEG."""
    shape = _canvas_size(rng)
    tilt = rng.uniform(-5, 5)
    coverage = _digit_layer(digit, rng, shape, tilt=tilt, grow=int(rng.integers(-1, 3)))
    ink = _dark_ink(rng) if rng.random() < 0.7 else _coloured_ink(rng)
    paper = _paper(rng, shape, tone=(200, 250), tint=0.04, unevenness=0.04)
    light = _lighting(rng, shape, strength=rng.uniform(0.1, 0.4), shadow=rng.random() < 0.5)
    image = Image.fromarray(_camera(rng, _compose(paper, coverage, ink), light, rng.uniform(2, 7)))
    image = _blur(image, rng.uniform(0, 1.5) * shape[0] / 500)
    return Sample(image, "JPEG", {"quality": int(rng.integers(70, 93))})


def rotated(digit: np.ndarray, rng: np.random.Generator) -> Sample:
    """The digit written or photographed at a slant, 3 to 10 degrees either way."""
    tilt = rng.uniform(3, MAX_TILT_DEGREES) * rng.choice([-1, 1])
    return _photo_or_png(rng, _paper_image(digit, rng, tilt=tilt))


def chalkboard(digit: np.ndarray, rng: np.random.Generator) -> Sample:
    """Light on dark: grainy chalk on a green, black or slate board with smudges of old chalk."""
    shape = _canvas_size(rng)
    coverage = _digit_layer(digit, rng, shape, tilt=rng.uniform(-4, 4), grow=int(rng.integers(0, 3)))
    grain = np.clip(rng.uniform(0.55, 0.8) + rng.normal(0, 0.25, size=shape), 0, 1).astype(np.float32)
    board = np.array([(38, 62, 48), (26, 26, 30), (52, 58, 64)][int(rng.integers(3))], dtype=np.float32)
    board = board[None, None, :] * (1 + rng.uniform(0.05, 0.2) * _smooth_noise(rng, shape, cells=8))[..., None]
    chalk = np.full(3, rng.uniform(205, 245), dtype=np.float32)
    rgb = _compose(board, coverage * grain, chalk)
    light = _lighting(rng, shape, strength=rng.uniform(0, 0.3), shadow=False)
    image = _blur(Image.fromarray(_camera(rng, rgb, light, rng.uniform(2, 6))), rng.uniform(0, 1.2))
    return _photo_or_png(rng, image, jpeg_share=0.7)


def blue_pen(digit: np.ndarray, rng: np.random.Generator) -> Sample:
    """Coloured ink: blue ballpoint mostly, some red, green or purple."""
    return _photo_or_png(rng, _paper_image(digit, rng, ink=_coloured_ink(rng), grow=int(rng.integers(-1, 3))))


def canvas_rgba(digit: np.ndarray, rng: np.random.Generator) -> Sample:
    """A web-canvas export: round-pen strokes of any colour on a fully transparent background (RGBA PNG).

    The colour under alpha = 0 is black, white or the stroke colour, as different canvas libraries leave it,
    so only the alpha channel tells strokes from background.
    """
    side = int(rng.choice([200, 280, 300, 400, 500]))
    shape = (side, side)
    coverage = _digit_layer(digit, rng, shape, fraction=(0.4, 0.85), pen="stroke", pen_fraction=rng.uniform(0.05, 0.13))
    colours = [(0, 0, 0), (255, 255, 255), (30, 60, 200), (220, 30, 30), tuple(int(c) for c in rng.integers(0, 256, 3))]
    stroke = np.array(colours[int(rng.integers(len(colours)))], dtype=np.uint8)
    background = [np.zeros(3, np.uint8), np.full(3, 255, np.uint8), stroke][int(rng.integers(3))]
    rgba = np.empty((*shape, 4), dtype=np.uint8)
    rgba[..., :3] = np.where(coverage[..., None] > 0, stroke[None, None, :], background[None, None, :])
    rgba[..., 3] = np.round(coverage * 255).astype(np.uint8)
    return Sample(Image.fromarray(rgba, "RGBA"), "PNG")


def _rules(shape: tuple[int, int], spacing: float, thickness: int, y_start: float, x_start: float | None = None) -> np.ndarray:
    """Coverage (H, W) of ruled lines ``spacing`` px apart from ``y_start`` down; with ``x_start``, squared paper."""
    height, width = shape
    lines = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(lines)
    for y in np.arange(y_start % spacing, height, spacing):
        draw.line(((0, y), (width, y)), fill=255, width=thickness)
    if x_start is not None:
        for x in np.arange(x_start % spacing, width, spacing):
            draw.line(((x, 0), (x, height)), fill=255, width=thickness)
    return np.asarray(lines, dtype=np.float32) / 255


def _pale_lines(paper: np.ndarray, lines: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Paper with printed lines in a notebook's pale blue, grey or cyan, at random strength."""
    line_colour = np.array([(150, 185, 225), (170, 170, 175), (140, 200, 215)][int(rng.integers(3))], dtype=np.float32)
    return _compose(paper, lines * rng.uniform(0.5, 1.0), line_colour)


def notebook(digit: np.ndarray, rng: np.random.Generator) -> Sample:
    """Ruled or squared notebook paper: pale blue/grey lines (and a red margin) under the digit."""
    shape = _canvas_size(rng)
    height, width = shape
    paper = _paper(rng, shape, tone=(225, 252))
    spacing = height / rng.uniform(7, 16)
    thickness = max(1, round(rng.uniform(0.6, 2.0) * height / 500))
    start = rng.uniform(0, spacing)
    squared = rng.random() < 0.3
    lines = _rules(shape, spacing, thickness, start, rng.uniform(0, spacing) if squared else None)
    paper = _pale_lines(paper, lines, rng)
    box = None
    if rng.random() < 0.5:  # red margin line on the left; the digit is written right of it
        margin_x = round(width * rng.uniform(0.08, 0.15))
        margin = np.zeros(shape, dtype=np.float32)
        margin[:, margin_x : margin_x + max(1, thickness)] = 1
        paper = _compose(paper, margin, np.array([220, 110, 120], dtype=np.float32))
        box = (0, margin_x + thickness, height, width)
    ink = _dark_ink(rng) if rng.random() < 0.5 else _coloured_ink(rng)
    coverage = _digit_layer(digit, rng, shape, box=box, tilt=rng.uniform(-5, 5))
    light = _lighting(rng, shape, strength=rng.uniform(0, 0.25), shadow=False)
    image = Image.fromarray(_camera(rng, _compose(paper, coverage, ink), light, rng.uniform(1, 5)))
    return _photo_or_png(rng, image, jpeg_share=0.6)


def border(digit: np.ndarray, rng: np.random.Generator) -> Sample:
    """Something dark around the page: a drawn frame, the table around a photographed sheet, or a scanner's edge."""
    shape = _canvas_size(rng)
    height, width = shape
    paper = _paper(rng, shape)
    kind = rng.choice(["frame", "table", "scanner"])
    surround = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(surround)
    if kind == "frame":
        inset = round(rng.uniform(0, 0.05) * min(shape))
        line = max(1, round(rng.uniform(0.005, 0.02) * min(shape)))
        draw.rectangle((inset, inset, width - 1 - inset, height - 1 - inset), outline=255, width=line)
        reach = inset + line
        box = (reach, reach, height - reach, width - reach)
        colour = _dark_ink(rng)
    else:
        # The page covers the middle; its edges are cut by the table (or scanner lid) on some sides.
        insets = [round(rng.uniform(0.02, 0.12) * side) if rng.random() < 0.6 else 0 for side in (height, width, height, width)]
        if not any(insets):
            insets[int(rng.integers(4))] = round(0.06 * height)
        top, left, bottom, right = insets[0], insets[1], height - insets[2], width - insets[3]
        skew = rng.uniform(-0.02, 0.02) * width
        draw.rectangle((0, 0, width, height), fill=255)
        draw.polygon([(left + skew, top), (right + skew, top), (right - skew, bottom), (left - skew, bottom)], fill=0)
        surround = _blur(surround, 1.0)
        reach = round(abs(skew)) + 2
        box = (top + reach, left + reach, bottom - reach, right - reach)
        colour = (
            np.array([(90, 60, 40), (40, 40, 45), (15, 15, 15)][int(rng.integers(3))], dtype=np.float32)
            if kind == "table"
            else np.full(3, rng.uniform(0, 40), dtype=np.float32)
        )
    paper = _compose(paper, np.asarray(surround, dtype=np.float32) / 255, colour)
    coverage = _digit_layer(digit, rng, shape, box=box, fraction=(0.2, 0.6))
    light = _lighting(rng, shape, strength=rng.uniform(0, 0.25), shadow=False) if kind == "table" else None
    image = Image.fromarray(_camera(rng, _compose(paper, coverage, _dark_ink(rng)), light, rng.uniform(0, 4)))
    return _photo_or_png(rng, image)


def scan(digit: np.ndarray, rng: np.random.Generator) -> Sample:
    """A greyscale scan: grey paper, low contrast, slight skew of the whole page, a little blur; PNG or TIFF."""
    shape = _canvas_size(rng)
    paper_tone = rng.uniform(195, 235)
    paper = _paper(rng, shape, tone=(paper_tone, paper_tone), tint=0.0)
    ink = np.full(3, rng.uniform(40, 100), dtype=np.float32)
    coverage = _digit_layer(digit, rng, shape, grow=int(rng.integers(-1, 2)))
    gray = Image.fromarray(_camera(rng, _compose(paper, coverage, ink), None, rng.uniform(1, 4))).convert("L")
    skew = rng.uniform(-3, 3)
    gray = gray.rotate(skew, resample=Image.Resampling.BICUBIC, fillcolor=int(paper_tone))
    gray = _blur(gray, rng.uniform(0.3, 1.0))
    if rng.random() < 0.5:
        return Sample(gray, "TIFF", {"compression": "tiff_lzw"})
    return Sample(gray, "PNG")


def specks(digit: np.ndarray, rng: np.random.Generator) -> Sample:
    """Dust, crumbs and toner specks scattered over the page, smaller than a stroke is wide."""
    shape = _canvas_size(rng)
    height, width = shape
    fraction = rng.uniform(*DIGIT_HEIGHT)
    coverage = _digit_layer(digit, rng, shape, fraction=(fraction, fraction))
    dust = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(dust)
    digit_height = fraction * height
    for _ in range(int(rng.integers(5, 41))):
        radius = max(0.7, rng.uniform(0.005, 0.035) * digit_height)
        x, y = rng.uniform(0, width), rng.uniform(0, height)
        draw.ellipse((x - radius, y - radius * rng.uniform(0.5, 1.5), x + radius, y + radius), fill=int(rng.integers(120, 256)))
    coverage = np.maximum(coverage, np.asarray(dust, dtype=np.float32) / 255)
    rgb = _compose(_paper(rng, shape), coverage, _dark_ink(rng))
    return _photo_or_png(rng, Image.fromarray(_camera(rng, rgb, None, rng.uniform(0, 3))))


def palette(digit: np.ndarray, rng: np.random.Generator) -> Sample:
    """A palette ('P') image with 16 to 256 colours, as PNG or GIF."""
    ink = _dark_ink(rng) if rng.random() < 0.5 else _coloured_ink(rng)
    image = _paper_image(digit, rng, ink=ink).convert("P", palette=Image.Palette.ADAPTIVE, colors=int(rng.choice([16, 64, 256])))
    return Sample(image, "GIF" if rng.random() < 0.5 else "PNG")


def bilevel(digit: np.ndarray, rng: np.random.Generator) -> Sample:
    """A 1-bit image (fax, bilevel scan), thresholded or dithered; PNG, BMP or Group 4 TIFF."""
    gray = _paper_image(digit, rng).convert("L")
    if rng.random() < 0.7:
        image = gray.point(lambda value: 255 if value > 128 else 0).convert("1", dither=Image.Dither.NONE)
    else:
        image = gray.convert("1", dither=Image.Dither.FLOYDSTEINBERG)
    kind = rng.choice(["PNG", "BMP", "TIFF"])
    return Sample(image, str(kind), {"compression": "group4"} if kind == "TIFF" else {})


def gray16(digit: np.ndarray, rng: np.random.Generator) -> Sample:
    """A 16-bit greyscale PNG (mode 'I;16'), as scientific and some scanning software write."""
    gray = np.asarray(_paper_image(digit, rng).convert("L"), dtype=np.uint16)
    return Sample(Image.fromarray(gray * 257), "PNG")


def cmyk(digit: np.ndarray, rng: np.random.Generator) -> Sample:
    """A CMYK image (print workflows), as JPEG or TIFF."""
    ink = _dark_ink(rng) if rng.random() < 0.5 else _coloured_ink(rng)
    image = _paper_image(digit, rng, ink=ink).convert("CMYK")
    if rng.random() < 0.5:
        return Sample(image, "JPEG", {"quality": int(rng.integers(80, 96))})
    return Sample(image, "TIFF")


EXIF_STORAGE = {  # orientation tag -> how the upright picture is turned to get the stored pixels
    3: Image.Transpose.ROTATE_180,
    6: Image.Transpose.ROTATE_90,  # displayed by turning the pixels 90 degrees clockwise
    8: Image.Transpose.ROTATE_270,
}


def exif_rotated(digit: np.ndarray, rng: np.random.Generator) -> Sample:
    """A phone JPEG whose pixels are stored sideways or upside down, with the EXIF orientation that puts them right."""
    upright = phone_photo(digit, rng).image
    orientation = int(rng.choice(list(EXIF_STORAGE)))
    exif = Image.Exif()
    exif[ORIENTATION_TAG] = orientation
    stored = upright.transpose(EXIF_STORAGE[orientation])
    return Sample(stored, "JPEG", {"quality": int(rng.integers(75, 93)), "exif": exif.tobytes()})


def paint_program(digit: np.ndarray, rng: np.random.Generator) -> Sample:
    """Drawn in a paint program: a large digit in hard-edged strokes, black on white (sometimes white on black)."""
    side = int(rng.choice([200, 256, 280, 300, 400, 512]))
    shape = (side, int(side * rng.choice([1.0, 1.0, 1.25, 1.5])))
    if rng.random() < 0.5:
        coverage = _digit_layer(digit, rng, shape, fraction=(0.4, 0.85), hard=True, grow=int(rng.integers(0, 3)))
    else:
        coverage = _digit_layer(digit, rng, shape, fraction=(0.4, 0.85), pen="stroke", pen_fraction=rng.uniform(0.06, 0.14), hard=True)
    inverted = rng.random() < 0.25
    ink = 255 if inverted else 0
    gray = np.where(coverage > 0.5, ink, 255 - ink).astype(np.uint8)
    image = Image.fromarray(gray).convert("RGB")
    return Sample(image, "BMP" if rng.random() < 0.4 else "PNG")


Style = Callable[[np.ndarray, np.random.Generator], Sample]
STYLES: dict[str, Style] = {
    style.__name__: style
    for style in (
        clean_paper,
        thick_pen,
        thin_pen,
        soft_ink,
        jpeg_artifacts,
        phone_photo,
        rotated,
        chalkboard,
        blue_pen,
        canvas_rgba,
        notebook,
        border,
        scan,
        specks,
        palette,
        bilevel,
        gray16,
        cmyk,
        exif_rotated,
        paint_program,
    )
}


# --- writing sets -----------------------------------------------------------------------------------------------


def load_test_digits(path: str | os.PathLike | None = None) -> DigitSource:
    """MNIST's test split as uint8 (N, 28, 28) white-on-black images and int labels, via data.load_mnist."""
    import data  # the project's loader; imported late so the styles work without the project on sys.path

    dataset = data.load_mnist(path)
    images = np.round(dataset.x_test[..., 0] * 255).astype(np.uint8)
    return images, dataset.y_test


def _choose(source: DigitSource, count: int, seed: int) -> np.ndarray:
    """Indices of ``count`` source digits, a seeded permutation (repeated if count exceeds the source)."""
    total = len(source[1])
    order = np.random.default_rng([seed, 0]).permutation(total)
    return np.resize(order, count)


def parse_styles(names: str | Sequence[str] | None, registry: dict[str, Callable] = STYLES) -> list[str]:
    """Comma-separated or listed style names -> validated list; None means all styles of the registry."""
    if names is None:
        return list(registry)
    if isinstance(names, str):
        names = [name.strip() for name in names.split(",") if name.strip()]
    unknown = [name for name in names if name not in registry]
    if unknown or not names:
        raise ValueError(f"unknown style(s) {', '.join(unknown) or '(none given)'}; choose from {', '.join(registry)}")
    return list(names)


def render(style: str, digit: np.ndarray, seed: int, index: int = 0) -> Sample:
    """Render one digit in one style; the same (style, digit, seed, index) always gives the same image."""
    return STYLES[style](digit, np.random.default_rng([seed, 1, index]))


def generate(
    out_dir: str | os.PathLike,
    count: int,
    seed: int = 0,
    styles: str | Sequence[str] | None = None,
    source: DigitSource | None = None,
) -> list[tuple[Path, int]]:
    """Write ``count`` images (styles in turn, digits a seeded draw from source) and labels.csv/.json; return (path, label)s.

    ``source`` defaults to the MNIST test split. File names carry the index and style, never the label.
    """
    names = parse_styles(styles)
    source = load_test_digits() if source is None else source
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    images, labels = source
    rows = []
    for index, source_index in enumerate(_choose(source, count, seed)):
        style = names[index % len(names)]
        sample = render(style, images[source_index], seed, index)
        path = out / f"{index:05d}_{style}{sample.extension}"
        sample.save(path)
        rows.append({"file": path.name, "label": int(labels[source_index]), "style": style, "source_index": int(source_index)})
    _write_manifest(out, rows, {"seed": seed, "count": count, "styles": names})
    return [(out / row["file"], row["label"]) for row in rows]


def _write_manifest(out: Path, rows: list[dict], params: dict) -> None:
    with open(out / MANIFEST_CSV, "w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(rows[0]) if rows else ["file", "label"])
        writer.writeheader()
        writer.writerows(rows)
    (out / MANIFEST_JSON).write_text(json.dumps({**params, "images": rows}, indent=1) + "\n")


def manifest_params(out_dir: str | os.PathLike) -> dict | None:
    """What a set in out_dir was generated with (seed, count, styles or lengths), or None if there is none."""
    path = Path(out_dir) / MANIFEST_JSON
    if not path.exists():
        return None
    return {key: value for key, value in json.loads(path.read_text()).items() if key != "images"}


def read_manifest(out_dir: str | os.PathLike) -> list[dict]:
    """The rows generate (or generate_numbers) wrote to labels.json, file names resolved to paths."""
    out = Path(out_dir)
    rows = json.loads((out / MANIFEST_JSON).read_text())["images"]
    return [{**row, "path": out / row["file"]} for row in rows]


# --- numbers: several digits in a row ---------------------------------------------------------------------------


def _lay_row(
    masks: Sequence[np.ndarray], gaps: Sequence[int | None], row_height: int, rng: np.random.Generator, overlap: int = 1
) -> np.ndarray:
    """Digit coverages side by side in one (row_height, W) layer, each at a random height.

    ``gaps[i]`` pixels separate digit i from digit i + 1; where it is None, digit i + 1 is pushed against
    digit i until their ink shares ``overlap`` pixel columns where they come closest (0: just adjacent),
    a touching pair, as people write.
    """
    ys = [int(rng.integers(0, row_height - mask.shape[0] + 1)) for mask in masks]
    xs = [0]
    for index, gap in enumerate(gaps):
        left, y_left, right, y_right = masks[index], ys[index], masks[index + 1], ys[index + 1]
        if gap is not None:
            xs.append(xs[-1] + left.shape[1] + gap)
            continue
        # Per picture row both digits have ink in: the left digit's last ink column minus the right one's first.
        reach = []
        for row in range(max(y_left, y_right), min(y_left + left.shape[0], y_right + right.shape[0])):
            left_ink = np.flatnonzero(left[row - y_left] > 0.5)
            right_ink = np.flatnonzero(right[row - y_right] > 0.5)
            if left_ink.size and right_ink.size:
                reach.append(left_ink[-1] - right_ink[0])
        step = max(reach) + 1 - overlap if reach else left.shape[1]  # the closest rows just touch
        xs.append(xs[-1] + max(1, step))
    row = np.zeros((row_height, max(x + mask.shape[1] for x, mask in zip(xs, masks, strict=True))), dtype=np.float32)
    for mask, y, x in zip(masks, ys, xs, strict=True):
        row[y : y + mask.shape[0], x : x + mask.shape[1]] = np.maximum(row[y : y + mask.shape[0], x : x + mask.shape[1]], mask)
    return row


def _row_gaps(count: int, digit_height: float, rng: np.random.Generator, spread: tuple[float, float] = (0.12, 0.5)) -> list[int | None]:
    """Pixels between neighbouring digits, ``spread`` digit heights; sometimes a thousands gap, as in "31 415"."""
    gaps: list[int | None] = [int(rng.uniform(*spread) * digit_height) for _ in range(count - 1)]
    if count >= 4 and rng.random() < 0.3:
        gaps[count - 4] = int(digit_height * rng.uniform(0.8, 1.2))
    return gaps


def _number_page(row_shape: tuple[int, int], rng: np.random.Generator, share: tuple[float, float] = (0.25, 0.6)) -> tuple[int, int]:
    """A landscape picture (H, W) around a row of digits: the row fills 55-90% of the width and ``share`` of the height."""
    row_height, row_width = row_shape
    width = int(np.clip(row_width / rng.uniform(0.55, 0.9), MIN_SIDE, 3 * MAX_SIDE))
    width = max(width, row_width + 4 * round(MARGIN * width) + 2)
    height = int(np.clip(row_height / rng.uniform(*share), MIN_SIDE, width))
    return height, max(width, row_height + 4 * round(MARGIN * height) + 2)


def _number_sample(coverage: np.ndarray, ink: np.ndarray, rng: np.random.Generator, paper: np.ndarray | None = None) -> Sample:
    """Ink on the paper (prepared, or plain), maybe lit unevenly, through the camera; JPEG or PNG."""
    shape = coverage.shape
    light = _lighting(rng, shape, strength=rng.uniform(0, 0.3), shadow=rng.random() < 0.3) if rng.random() < 0.5 else None
    paper = _paper(rng, shape) if paper is None else paper
    image = Image.fromarray(_camera(rng, _compose(paper, coverage, ink), light, rng.uniform(0, 5)))
    return _photo_or_png(rng, image)


def _pen_ink(rng: np.random.Generator, dark_share: float = 0.7) -> np.ndarray:
    return _dark_ink(rng) if rng.random() < dark_share else _coloured_ink(rng)


def number_photo(digits: Sequence[np.ndarray], rng: np.random.Generator) -> Sample:
    """Several digits written in a row on paper (clean, or lit unevenly), with gaps between them, one photo."""
    digit_height = rng.uniform(60, 220)
    masks = [mask_ink(digit, digit_height * rng.uniform(0.9, 1.1), grow=int(rng.integers(-1, 3))) for digit in digits]
    gaps = _row_gaps(len(masks), digit_height, rng)
    row = _lay_row(masks, gaps, int(max(mask.shape[0] for mask in masks) + 0.2 * digit_height), rng)
    shape = _number_page(row.shape, rng)
    coverage = _place(row, shape, rng)
    ink = _pen_ink(rng)
    return _number_sample(coverage, ink, rng)


def _pen_frame(shape: tuple[int, int], box: tuple[float, float, float, float], width: float, rng: np.random.Generator) -> np.ndarray:
    """Coverage of a rectangle drawn by hand around box (top, left, bottom, right): corners a little off, strokes overshooting."""
    top, left, bottom, right = box
    wobble = 0.01 * (bottom - top + right - left)
    corners = [(left, top), (right, top), (right, bottom), (left, bottom)]
    corners = [(x + rng.uniform(-wobble, wobble), y + rng.uniform(-wobble, wobble)) for x, y in corners]
    layer = Image.new("L", (shape[1], shape[0]), 0)
    draw = ImageDraw.Draw(layer)
    for start, end in zip(corners, corners[1:] + corners[:1], strict=True):
        overshoot = rng.uniform(0, 2 * width)
        length = max(1e-6, math.dist(start, end))
        dx, dy = (end[0] - start[0]) / length * overshoot, (end[1] - start[1]) / length * overshoot
        draw.line(((start[0] - dx / 2, start[1] - dy / 2), (end[0] + dx, end[1] + dy)), fill=255, width=max(1, round(width)))
    return np.asarray(layer, dtype=np.float32) / 255


def ruled_frame(digits: Sequence[np.ndarray], rng: np.random.Generator) -> Sample:
    """A number on ruled notebook paper, sitting on a line that may cut through it, inside a frame drawn with the pen."""
    digit_height = rng.uniform(50, 160)
    masks = [mask_ink(digit, digit_height * rng.uniform(0.9, 1.1), grow=int(rng.integers(-1, 3))) for digit in digits]
    row = _lay_row(masks, _row_gaps(len(masks), digit_height, rng), int(max(mask.shape[0] for mask in masks) + 0.1 * digit_height), rng)
    shape = _number_page((int(row.shape[0] + 2.5 * digit_height), int(row.shape[1] + 2.5 * digit_height)), rng, share=(0.5, 0.8))
    y, x = _spot((int(row.shape[0] + 2 * digit_height), int(row.shape[1] + 2 * digit_height)), shape, rng)
    y, x = y + int(digit_height), x + int(digit_height)  # the frame's room around the row
    coverage = _paste(row, shape, y, x)
    # Rules about a digit apart, one of them near the row's foot: the digits sit on it or dip through it.
    spacing = digit_height * rng.uniform(0.95, 1.6)
    baseline = y + row.shape[0] - rng.uniform(0, 0.15) * digit_height
    thickness = max(1, round(rng.uniform(0.01, 0.03) * digit_height))
    paper = _pale_lines(_paper(rng, shape, tone=(225, 252)), _rules(shape, spacing, thickness, baseline), rng)
    if rng.random() < 0.4:  # the red margin line, left of the number
        margin = np.zeros(shape, dtype=np.float32)
        margin_x = max(0, x - int(rng.uniform(1.2, 2.0) * digit_height))
        margin[:, margin_x : margin_x + thickness] = 1
        paper = _compose(paper, margin, np.array([220, 110, 120], dtype=np.float32))
    if rng.random() < 0.5:  # a box drawn around the answer
        pad = digit_height * rng.uniform(0.3, 0.9)
        frame_box = (y - pad, x - pad, y + row.shape[0] + pad, x + row.shape[1] + pad)
    else:  # a frame around the page
        inset = rng.uniform(0.02, 0.06) * min(shape)
        frame_box = (inset, inset, shape[0] - inset, shape[1] - inset)
    frame_box = (max(2, frame_box[0]), max(2, frame_box[1]), min(shape[0] - 3, frame_box[2]), min(shape[1] - 3, frame_box[3]))
    frame = _pen_frame(shape, frame_box, rng.uniform(0.04, 0.1) * digit_height, rng)
    return _number_sample(np.maximum(coverage, frame), _pen_ink(rng), rng, paper)


def squared_paper(digits: Sequence[np.ndarray], rng: np.random.Generator) -> Sample:
    """A number on squared (grid) paper, each digit about two squares tall, grid lines crossing the strokes."""
    digit_height = rng.uniform(50, 180)
    masks = [mask_ink(digit, digit_height * rng.uniform(0.9, 1.1), grow=int(rng.integers(-1, 3))) for digit in digits]
    row = _lay_row(masks, _row_gaps(len(masks), digit_height, rng), int(max(mask.shape[0] for mask in masks) + 0.1 * digit_height), rng)
    shape = _number_page(row.shape, rng)
    y, x = _spot(row.shape, shape, rng)
    spacing = digit_height * rng.uniform(0.4, 0.75)
    thickness = max(1, round(rng.uniform(0.008, 0.025) * digit_height))
    lines = _rules(shape, spacing, thickness, y + row.shape[0] - rng.uniform(0, 0.1) * digit_height, rng.uniform(0, spacing))
    paper = _pale_lines(_paper(rng, shape, tone=(225, 252)), lines, rng)
    return _number_sample(_paste(row, shape, y, x), _pen_ink(rng, dark_share=0.6), rng, paper)


def form_boxes(digits: Sequence[np.ndarray], rng: np.random.Generator) -> Sample:
    """A form field of printed boxes, one digit written in each (and maybe empty boxes left over)."""
    digit_height = rng.uniform(45, 140)
    box_height = round(digit_height * rng.uniform(1.25, 1.6))
    box_width = round(digit_height * rng.uniform(0.9, 1.3))
    spacing = 0 if rng.random() < 0.6 else round(box_width * rng.uniform(0.1, 0.4))  # boxes sharing walls, or apart
    line = max(1, round(box_height * rng.uniform(0.015, 0.05)))
    boxes = len(digits) + (int(rng.integers(1, 3)) if rng.random() < 0.3 else 0)
    field_shape = (box_height + line, boxes * (box_width + spacing) - spacing + line)
    walls = Image.new("L", (field_shape[1], field_shape[0]), 0)
    draw = ImageDraw.Draw(walls)
    written = np.zeros(field_shape, dtype=np.float32)
    inner = round(0.08 * box_width) + line  # writers keep clear of the printed walls
    for index in range(boxes):
        left = index * (box_width + spacing)
        draw.rectangle((left, 0, left + box_width, box_height), outline=255, width=line)
        if index < len(digits):
            size = (box_height - 2 * inner, box_width - 2 * inner)
            mask = _fit(mask_ink(digits[index], digit_height * rng.uniform(0.85, 1.0), grow=int(rng.integers(-1, 3))), *size)
            y = inner + int(rng.integers(0, size[0] - mask.shape[0] + 1))
            x = left + inner + int(rng.integers(0, size[1] - mask.shape[1] + 1))
            written[y : y + mask.shape[0], x : x + mask.shape[1]] = np.maximum(written[y : y + mask.shape[0], x : x + mask.shape[1]], mask)
    shape = _number_page(field_shape, rng)
    y, x = _spot(field_shape, shape, rng)
    printed = np.array([(40, 40, 40), (90, 90, 95), (60, 90, 170), (200, 70, 70), (60, 140, 90)][int(rng.integers(5))], dtype=np.float32)
    paper = _compose(_paper(rng, shape), _paste(np.asarray(walls, dtype=np.float32) / 255, shape, y, x), printed)
    return _number_sample(_paste(written, shape, y, x), _pen_ink(rng), rng, paper)


def _broken(coverage: np.ndarray, pen_width: float, rng: np.random.Generator) -> np.ndarray:
    """A ballpoint that skips: short gaps (a few pen widths long) cut into the strokes, and uneven pressure."""
    height, width = coverage.shape
    cell = max(2.0, 3 * pen_width)
    coarse = rng.normal(size=(int(height / cell) + 2, int(width / cell) + 2)).astype(np.float32)
    field = np.asarray(Image.fromarray(coarse, "F").resize((width, height), Image.Resampling.BICUBIC))
    skips = np.clip((field + rng.uniform(0.9, 1.3)) * 3, 0, 1)  # about 10-20% of the stroke length left out
    pressure = np.clip(1 + 0.25 * _smooth_noise(rng, coverage.shape, cells=4), 0.45, 1)
    return coverage * skips * pressure


def broken_strokes(digits: Sequence[np.ndarray], rng: np.random.Generator) -> Sample:
    """Thin pen strokes, 1-3% of the digit's height wide, broken where the pen skipped and faint where it was light."""
    digit_height = rng.uniform(60, 200)
    pen_width = max(1.2, rng.uniform(0.01, 0.03) * digit_height)
    # Loops MNIST's thick pens filled in are drawn round: thinned to a centre line, a 6 would be an L.
    masks = [_broken(stroke_ink(digit, digit_height * rng.uniform(0.9, 1.1), pen_width, loops=True), pen_width, rng) for digit in digits]
    row = _lay_row(masks, _row_gaps(len(masks), digit_height, rng), int(max(mask.shape[0] for mask in masks) + 0.2 * digit_height), rng)
    shape = _number_page(row.shape, rng)
    return _number_sample(_place(row, shape, rng), _pen_ink(rng, dark_share=0.5), rng)


def slanted_row(digits: Sequence[np.ndarray], rng: np.random.Generator) -> Sample:
    """A row written uphill or downhill (4-12 degrees), digits of different heights, sometimes widely spaced."""
    digit_height = rng.uniform(50, 180)
    masks = [mask_ink(digit, digit_height * rng.uniform(0.75, 1.25), grow=int(rng.integers(-1, 3))) for digit in digits]
    spread = (0.12, 0.5) if rng.random() < 0.5 else (0.5, 1.2)
    row_height = int(max(mask.shape[0] for mask in masks) + 0.3 * digit_height)
    row = _lay_row(masks, _row_gaps(len(masks), digit_height, rng, spread), row_height, rng)
    row = _rotate(row, rng.uniform(4, 12) * rng.choice([-1, 1]))
    shape = _number_page(row.shape, rng, share=(0.4, 0.75))
    return _number_sample(_place(row, shape, rng), _pen_ink(rng), rng)


def touching_pair(digits: Sequence[np.ndarray], rng: np.random.Generator) -> Sample:
    """A row in which a pair of neighbours (sometimes more) touch: their strokes run into each other."""
    digit_height = rng.uniform(60, 200)
    masks = [mask_ink(digit, digit_height * rng.uniform(0.9, 1.1), grow=int(rng.integers(0, 3))) for digit in digits]
    gaps = _row_gaps(len(masks), digit_height, rng, (0.1, 0.35))
    touching = rng.random(len(gaps)) < 0.2
    touching[int(rng.integers(len(gaps)))] = True  # at least one pair
    gaps = [None if touch else gap for gap, touch in zip(gaps, touching, strict=True)]
    row_height = int(max(mask.shape[0] for mask in masks) + 0.15 * digit_height)
    row = _lay_row(masks, gaps, row_height, rng, overlap=max(1, round(rng.uniform(0.0, 0.03) * digit_height)))
    shape = _number_page(row.shape, rng)
    return _number_sample(_place(row, shape, rng), _pen_ink(rng), rng)


NumberStyle = Callable[[Sequence[np.ndarray], np.random.Generator], Sample]
NUMBER_STYLES: dict[str, NumberStyle] = {
    style.__name__: style for style in (number_photo, ruled_frame, squared_paper, form_boxes, broken_strokes, slanted_row, touching_pair)
}


def generate_numbers(
    out_dir: str | os.PathLike,
    count: int,
    seed: int = 0,
    source: DigitSource | None = None,
    lengths: tuple[int, int] = NUMBER_LENGTHS,
    styles: str | Sequence[str] | None = None,
) -> list[tuple[Path, str]]:
    """Write ``count`` images of numbers of ``lengths`` (inclusive) digits, 2-5 by default (styles in turn), and their
    labels.csv/.json; return (path, number string)s."""
    names = parse_styles(styles, NUMBER_STYLES)
    source = load_test_digits() if source is None else source
    images, labels = source
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    pool = _choose(source, count * lengths[1], seed + 1)
    rows = []
    for index in range(count):
        style = names[index % len(names)]
        rng = np.random.default_rng([seed, 2, index])
        length = int(rng.integers(lengths[0], lengths[1] + 1))
        chosen = pool[index * lengths[1] : index * lengths[1] + length]
        sample = NUMBER_STYLES[style]([images[i] for i in chosen], rng)
        path = out / f"{index:05d}_{style}{sample.extension}"
        sample.save(path)
        number = "".join(str(int(labels[i])) for i in chosen)
        rows.append({"file": path.name, "label": number, "style": style, "source_index": ",".join(str(int(i)) for i in chosen)})
    _write_manifest(out, rows, {"seed": seed, "count": count, "lengths": list(lengths), "styles": names})
    return [(out / row["file"], row["label"]) for row in rows]


# --- bad inputs ---------------------------------------------------------------------------------------------------


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def decompression_bomb_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A tiny PNG whose header declares width x height greyscale pixels (10 gigapixels by default)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", rows) + _png_chunk(b"IEND", b"")


def generate_bad_inputs(out_dir: str | os.PathLike, seed: int = 0, source: DigitSource | None = None) -> list[BadInput]:
    """Write the broken and degenerate inputs of issue 3 into out_dir; return each with its expected outcome."""
    source = load_test_digits() if source is None else source
    images, labels = source
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    picks = _choose(source, 4, seed + 2)
    rng = np.random.default_rng([seed, 3])
    cases: list[BadInput] = []

    def add(name: str, payload: bytes | Image.Image | Sample | None, expected: int | None, why: str) -> None:
        path = out / name
        if isinstance(payload, bytes):
            path.write_bytes(payload)
        elif payload is not None:  # a Sample, or an Image whose format follows the name
            payload.save(path)
        cases.append(BadInput(path, expected, why))

    add("missing.png", None, None, "the file does not exist")
    add("empty.png", b"", None, "an empty file")
    add("notes.png", b"Shopping list: eggs, milk, 7 apples\n", None, "a text file named .png")
    png = phone_photo(images[picks[0]], rng).image
    png_bytes = Sample(png, "PNG").to_bytes()
    add("truncated.png", png_bytes[: len(png_bytes) * 6 // 10], None, "a PNG cut off at 60%")
    jpeg_bytes = Sample(png, "JPEG", {"quality": 90}).to_bytes()
    add("truncated.jpg", jpeg_bytes[: len(jpeg_bytes) // 2], None, "a JPEG cut off at 50%")
    add("bomb.png", decompression_bomb_png(), None, "a decompression bomb: a tiny PNG declaring 100000x100000 pixels")
    add("one_pixel.png", Image.new("L", (1, 1), 255), None, "a 1x1 image")
    tiny = Image.new("L", (5, 5), 255)
    for y in (1, 2, 3):  # a short dark bar: ink, but far too few pixels to be read as a digit
        tiny.putpixel((2, y), 0)
    add("five_pixels.png", tiny, None, "a 5x5 image, too small to hold a digit")
    add("all_white.png", Image.new("RGB", (400, 300), (255, 255, 255)), None, "an all-white image: no digit")
    add("all_black.png", Image.new("RGB", (400, 300), (0, 0, 0)), None, "an all-black image: no digit")
    shape = _canvas_size(rng)
    blank = _camera(rng, _paper(rng, shape), _lighting(rng, shape, 0.15, shadow=False), 3)
    add("blank_paper.jpg", Sample(Image.fromarray(blank), "JPEG", {"quality": 85}), None, "a photo of blank paper: no digit")
    add("large_photo.jpg", _large_photo(images[picks[1]], rng), int(labels[picks[1]]), "a 6000x4000 phone photo of one digit")
    frames = [clean_paper(images[i], rng).image.convert("RGB").resize((300, 300)).convert("P") for i in picks[2:4]]
    frames.append(Image.new("P", (300, 300), 0))
    add(
        "animated.gif",
        Sample(frames[0], "GIF", {"save_all": True, "append_images": frames[1:], "duration": 500, "loop": 0}),
        int(labels[picks[2]]),
        "an animated GIF: the first frame's digit counts",
    )
    (out / "no_images").mkdir(exist_ok=True)
    (out / "no_images" / "readme.txt").write_text("no pictures here\n")
    cases.append(BadInput(out / "no_images", None, "a folder with no images"))
    return cases


def _large_photo(digit: np.ndarray, rng: np.random.Generator) -> Sample:
    """A 6000x4000 (24 megapixel) phone photo of one digit, built in greyscale to keep memory modest."""
    shape = (4000, 6000)
    coverage = _digit_layer(digit, rng, shape, fraction=(0.15, 0.4))
    light = _lighting(rng, shape, strength=0.25, shadow=False)
    gray = (rng.uniform(215, 245) * (1 - coverage) + 40 * coverage) * light
    gray = np.clip(gray, 0, 255).astype(np.uint8)
    return Sample(Image.merge("RGB", [Image.fromarray(gray)] * 3), "JPEG", {"quality": 85})


def display_image(path: str | os.PathLike) -> Image.Image:
    """Open an image the way a viewer shows it (EXIF orientation applied, transparency over grey), RGB; for contact sheets."""
    with Image.open(path) as image:
        image = ImageOps.exif_transpose(image)
        if image.mode in ("I;16", "I"):
            image = Image.fromarray((np.asarray(image, dtype=np.float32) / 257).astype(np.uint8))
        image = image.convert("RGBA")
        backdrop = Image.new("RGBA", image.size, (128, 128, 128, 255))
        return Image.alpha_composite(backdrop, image).convert("RGB")
