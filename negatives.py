"""Synthetic "not a digit" training images: letters, math symbols and doodles, drawn the way people draw them.

The model's 11th class learns from these. Each one is drawn black on white at a working size, warped a
little as a hand would, and then sent through ``preprocess.preprocess``: the very path a user's image
takes, so the model sees a letter exactly as it would arrive from evaluate.py or the web page.

Shapes that a person could read as a digit are left out on purpose (O, I, l, S, Z, B, G, b, g, q, ...):
turning those away would turn away real digits too.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

import preprocess
from data import IMAGE_SIZE

NOT_A_DIGIT_LABEL = 10  # the model's extra class, after the digits 0-9
CANVAS_SIDE = 96  # working size of each drawing, pixels
# Letters that do not read as a digit in anyone's handwriting (0/O, 1/I/l, 2/Z, 5/S, 6/b/G, 8/B, 9/g/q are out).
LETTERS = "ACDEFHKLMNPRTUVWXYacdefhkmnprtuvwxy"
# Symbols likewise: no ! (a 1), ? (a 2), $ and ∫ (a 5), & and β (an 8), ∂ (a 6), θ (a slashed 0), ∃ (a boxy 3).
SYMBOLS = "+−×÷=≠±→←↔⇒πΣ√∞%#@*ΔΩαλμ≈≤≥<>∈∀"
HERSHEY_FACES = (
    cv2.FONT_HERSHEY_SIMPLEX,
    cv2.FONT_HERSHEY_DUPLEX,
    cv2.FONT_HERSHEY_COMPLEX,
    cv2.FONT_HERSHEY_TRIPLEX,
    cv2.FONT_HERSHEY_SCRIPT_SIMPLEX,
    cv2.FONT_HERSHEY_SCRIPT_COMPLEX,
)
# Matplotlib ships these fonts, so every install has them; Hershey's stroke fonts come with OpenCV.
FONT_FILES = (
    "DejaVuSans.ttf",
    "DejaVuSans-Oblique.ttf",
    "DejaVuSans-Bold.ttf",
    "DejaVuSerif.ttf",
    "DejaVuSerif-Italic.ttf",
    "DejaVuSansMono.ttf",
    "STIXGeneral.ttf",
    "STIXGeneralItalic.ttf",
    "cmr10.ttf",
    "cmmi10.ttf",
    "cmss10.ttf",
)
# Share of each kind among the generated images.
KIND_SHARES = {"letter": 0.55, "symbol": 0.2, "doodle": 0.25}
PEN_LETTER_SHARE = 0.4  # of letters: drawn from a stroke skeleton with a hand's wobble and overshoot (_draw_pen_letter)
HERSHEY_SHARE = 0.7  # of the other ASCII letters: Hershey's single-line strokes look more like a pen than typefaces do
PEN_SYMBOL_SHARE = 0.5  # of symbols: drawn as pen strokes (arrows, +, =, x) rather than from a font
MAX_ROTATION_DEGREES = 15.0
MAX_SHEAR = 0.3
MAX_STROKE = 9  # pixels at CANVAS_SIDE, the thickest pen
MAX_DOODLE_INK = 0.3  # share of the canvas
# Pen letters: how far a hand strays from the skeleton (fractions of the letter's height).
PEN_JITTER = 0.06  # each skeleton point moves up to this far
PEN_OVERSHOOT = (-0.04, 0.15)  # a stroke's ends stop short of or run past the skeleton's ends (crossbars, corners)
PEN_ASPECT = (0.5, 1.0)  # letter width / height
ARC_POINTS = 16


def _arc(cx: float, cy: float, rx: float, ry: float, start: float, end: float) -> list[tuple[float, float]]:
    """Points of an elliptical arc in the unit box (y down), angles in degrees, clockwise on screen as they grow."""
    angles = np.radians(np.linspace(start, end, ARC_POINTS))
    return list(zip(cx + rx * np.cos(angles), cy + ry * np.sin(angles), strict=True))


# Handwritten letters as pen strokes in a unit box (x right, y down): the shapes people draw, not a typeface's.
# Same rule as LETTERS: nothing a person could read as a digit.
PEN_LETTERS: dict[str, list[list[tuple[float, float]]]] = {
    "A": [[(0.0, 1.0), (0.5, 0.0), (1.0, 1.0)], [(0.2, 0.6), (0.8, 0.6)]],
    "C": [_arc(0.55, 0.5, 0.45, 0.5, -50, -310)],
    "D": [[(0.1, 0.0), (0.1, 1.0)], [(0.1, 0.0), *_arc(0.1, 0.5, 0.8, 0.5, -90, 90), (0.1, 1.0)]],
    "E": [[(0.9, 0.0), (0.1, 0.0), (0.1, 1.0), (0.9, 1.0)], [(0.1, 0.5), (0.7, 0.5)]],
    "F": [[(0.9, 0.0), (0.1, 0.0), (0.1, 1.0)], [(0.1, 0.5), (0.7, 0.5)]],
    "H": [[(0.1, 0.0), (0.1, 1.0)], [(0.9, 0.0), (0.9, 1.0)], [(0.1, 0.5), (0.9, 0.5)]],
    "K": [[(0.1, 0.0), (0.1, 1.0)], [(0.9, 0.0), (0.1, 0.55)], [(0.35, 0.4), (0.9, 1.0)]],
    "M": [[(0.0, 1.0), (0.1, 0.0), (0.5, 0.6), (0.9, 0.0), (1.0, 1.0)]],
    "N": [[(0.1, 1.0), (0.1, 0.0), (0.9, 1.0), (0.9, 0.0)]],
    "P": [[(0.1, 1.0), (0.1, 0.0)], [(0.1, 0.0), *_arc(0.1, 0.27, 0.75, 0.27, -90, 90), (0.1, 0.54)]],
    "R": [[(0.1, 1.0), (0.1, 0.0)], [(0.1, 0.0), *_arc(0.1, 0.27, 0.75, 0.27, -90, 90), (0.1, 0.54)], [(0.3, 0.54), (0.9, 1.0)]],
    "T": [[(0.0, 0.0), (1.0, 0.0)], [(0.5, 0.0), (0.5, 1.0)]],
    "U": [[(0.1, 0.0), *_arc(0.5, 0.6, 0.4, 0.4, 180, 0), (0.9, 0.0)]],
    "V": [[(0.0, 0.0), (0.5, 1.0), (1.0, 0.0)]],
    "W": [[(0.0, 0.0), (0.25, 1.0), (0.5, 0.3), (0.75, 1.0), (1.0, 0.0)]],
    "X": [[(0.0, 0.0), (1.0, 1.0)], [(1.0, 0.0), (0.0, 1.0)]],
    "Y": [[(0.0, 0.0), (0.5, 0.5), (1.0, 0.0)], [(0.5, 0.5), (0.5, 1.0)]],
    "e": [[(0.1, 0.55), (0.9, 0.55), *_arc(0.5, 0.55, 0.4, 0.45, 0, -300)]],
    "h": [[(0.1, 0.0), (0.1, 1.0)], [*_arc(0.5, 0.65, 0.4, 0.3, 180, 360), (0.9, 1.0)]],
    "n": [[(0.1, 0.3), (0.1, 1.0)], [*_arc(0.5, 0.6, 0.4, 0.3, 180, 360), (0.9, 1.0)]],
    "r": [[(0.15, 0.3), (0.15, 1.0)], _arc(0.6, 0.65, 0.45, 0.3, 180, 290)],
}


def _font_dir() -> Path:
    import matplotlib

    return Path(matplotlib.__file__).parent / "mpl-data" / "fonts" / "ttf"


def font_paths() -> list[Path]:
    """FONT_FILES where this install has them (Matplotlib's own fonts)."""
    return [path for path in (_font_dir() / name for name in FONT_FILES) if path.exists()]


def _blank() -> np.ndarray:
    return np.full((CANVAS_SIDE, CANVAS_SIDE), 255, np.uint8)


MISSING_GLYPH = "\ue000"  # a private-use code point: no font here has it, so it draws the font's missing-glyph box


@functools.cache
def _glyph(font_path: Path, text: str) -> bytes:
    """``text`` drawn in the font at a fixed size, as bytes to compare."""
    font = ImageFont.truetype(str(font_path), size=40)
    image = Image.new("L", (120, 120), 0)
    ImageDraw.Draw(image).text((20, 20), text, font=font, fill=255)
    return image.tobytes()


def has_glyph(font_path: Path, text: str) -> bool:
    """Whether the font draws ``text`` itself, not its missing-glyph box (or nothing): the Computer Modern fonts
    lack most math symbols, and a box drawn in their place taught the model that a boxy 0 is no digit."""
    return _glyph(font_path, text) != _glyph(font_path, MISSING_GLYPH)


def _draw_truetype(text: str, rng: np.random.Generator, fonts: list[Path]) -> np.ndarray:
    fonts = [path for path in fonts if has_glyph(path, text)] or fonts[:1]
    font = ImageFont.truetype(str(fonts[rng.integers(len(fonts))]), size=int(rng.integers(48, 72)))
    image = Image.fromarray(_blank())
    draw = ImageDraw.Draw(image)
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    origin = ((CANVAS_SIDE - (right - left)) / 2 - left, (CANVAS_SIDE - (bottom - top)) / 2 - top)
    draw.text(origin, text, font=font, fill=0, stroke_width=int(rng.integers(0, 4)), stroke_fill=0)
    return np.asarray(image).copy()


def _draw_hershey(text: str, rng: np.random.Generator) -> np.ndarray:
    face = HERSHEY_FACES[rng.integers(len(HERSHEY_FACES))] | (cv2.FONT_ITALIC if rng.random() < 0.3 else 0)
    thickness = int(rng.integers(2, MAX_STROKE))
    scale = 2.0
    (width, height), baseline = cv2.getTextSize(text, face, scale, thickness)
    image = _blank()
    origin = ((CANVAS_SIDE - width) // 2, (CANVAS_SIDE + height) // 2)
    cv2.putText(image, text, origin, face, scale, 0, thickness, cv2.LINE_AA)
    return image


def _draw_pen_letter(letter: str, rng: np.random.Generator) -> np.ndarray:
    """``letter``'s skeleton drawn with one pen: points moved a little, strokes running short or long, a random width."""
    height = rng.uniform(0.45, 0.65) * CANVAS_SIDE  # room for wobble, overshoot and a thick pen
    width = height * rng.uniform(*PEN_ASPECT)
    origin = np.array([(CANVAS_SIDE - width) / 2, (CANVAS_SIDE - height) / 2])
    thickness = int(rng.integers(2, MAX_STROKE))
    image = _blank()
    for stroke in PEN_LETTERS[letter]:
        points = np.array(stroke, np.float64)
        # Corners move on their own; a curve bends smoothly (a few moved control points, interpolated along it).
        controls = rng.uniform(-PEN_JITTER, PEN_JITTER, (min(len(stroke), 3), 2))
        along = np.linspace(0, len(controls) - 1, len(stroke))
        points += np.stack([np.interp(along, np.arange(len(controls)), controls[:, axis]) for axis in (0, 1)], 1)
        for end, inner in ((0, 1), (-1, -2)):  # each end runs on past the skeleton or stops short of it
            direction = points[end] - points[inner]
            points[end] += direction / max(np.linalg.norm(direction), 1e-6) * rng.uniform(*PEN_OVERSHOOT)
        pixels = origin + points * np.array([width, height])
        cv2.polylines(image, [np.round(pixels).astype(np.int32)], False, 0, thickness, cv2.LINE_AA)
    return image


def _random_point(rng: np.random.Generator, margin: float = 0.12) -> tuple[int, int]:
    low, high = margin * CANVAS_SIDE, (1 - margin) * CANVAS_SIDE
    return int(rng.uniform(low, high)), int(rng.uniform(low, high))


def _draw_doodle(rng: np.random.Generator) -> np.ndarray:
    """A doodle with ink on at most MAX_DOODLE_INK of the canvas (a denser one is a blob, not a drawing)."""
    while True:
        image = _draw_shapes(rng)
        if (image < 128).mean() <= MAX_DOODLE_INK:
            return image


def _draw_shapes(rng: np.random.Generator) -> np.ndarray:
    """Three to six shapes (boxes, polygons, circles, zigzags, star points, a cloud) joined into one drawing.

    Each shape is joined to the one before by a stroke: the preprocess package keeps the main connected drawing,
    and a lone box or circle left over from a scattered doodle would teach the model that a 0 is no digit.
    """
    image = _blank()
    thickness = int(rng.integers(2, MAX_STROKE - 3))  # many strokes: a thinner pen, or the doodle fills in
    previous = _bumpy_outline(image, rng, thickness) if rng.random() < 0.3 else None
    for _ in range(int(rng.integers(3, 7))):
        kind = rng.integers(5)
        anchor = _random_point(rng)
        if kind == 0:  # a box
            corner = _random_point(rng)
            cv2.rectangle(image, anchor, corner, 0, thickness)
        elif kind == 1:  # a triangle or other small polygon
            points = np.array([anchor] + [_random_point(rng) for _ in range(int(rng.integers(2, 4)))], np.int32)
            cv2.polylines(image, [points], True, 0, thickness, cv2.LINE_AA)
        elif kind == 2:  # a small circle (a wheel, an eye, a sun) with the anchor on its rim
            radius = int(rng.uniform(0.05, 0.15) * CANVAS_SIDE)
            cv2.circle(image, (anchor[0] + radius, anchor[1]), radius, 0, thickness, cv2.LINE_AA)
        elif kind == 3:  # a zigzag or wave starting at the anchor
            count = int(rng.integers(5, 10))
            xs = anchor[0] + np.arange(count) * rng.uniform(-0.1, 0.1) * CANVAS_SIDE
            ys = anchor[1] + rng.uniform(-0.12, 0.12, count) * CANVAS_SIDE
            cv2.polylines(image, [np.stack([xs, ys], 1).astype(np.int32)], False, 0, thickness, cv2.LINE_AA)
        else:  # a star's points around the anchor
            radius = rng.uniform(0.12, 0.3) * CANVAS_SIDE
            angles = rng.uniform(0, math.tau) + np.arange(5) * 2 * math.tau / 5
            points = np.array(anchor) + radius * np.stack([np.cos(angles), np.sin(angles)], 1)
            cv2.polylines(image, [points.astype(np.int32)], True, 0, thickness, cv2.LINE_AA)
        if previous is not None:
            cv2.line(image, previous, anchor, 0, thickness, cv2.LINE_AA)
        previous = anchor
    return image


def _arrow(image: np.ndarray, start: np.ndarray, end: np.ndarray, thickness: int, heads: int) -> None:
    cv2.line(image, tuple(start.astype(int)), tuple(end.astype(int)), 0, thickness, cv2.LINE_AA)
    for tip, tail in ((end, start), (start, end))[:heads]:
        direction = (tail - tip) / max(np.linalg.norm(tail - tip), 1)
        for turn in (0.5, -0.5):
            rotation = np.array([[math.cos(turn), -math.sin(turn)], [math.sin(turn), math.cos(turn)]])
            wing = tip + rotation @ direction * 0.25 * CANVAS_SIDE
            cv2.line(image, tuple(tip.astype(int)), tuple(wing.astype(int)), 0, thickness, cv2.LINE_AA)


def _draw_pen_symbol(rng: np.random.Generator) -> np.ndarray:
    """Arrows, double lines, plus, times, equals and divide signs drawn as a pen draws them."""
    image = _blank()
    thickness = int(rng.integers(2, MAX_STROKE))
    low, high, middle = 0.15 * CANVAS_SIDE, 0.85 * CANVAS_SIDE, CANVAS_SIDE / 2
    kind = rng.integers(5)
    if kind == 0:  # an arrow, one or two heads
        _arrow(image, np.array([low, middle]), np.array([high, middle]), thickness, int(rng.integers(1, 3)))
    elif kind == 1:  # a double arrow (=>)
        for offset in (-0.08, 0.08):
            y = middle + offset * CANVAS_SIDE
            cv2.line(image, (int(low), int(y)), (int(high - 0.1 * CANVAS_SIDE), int(y)), 0, thickness, cv2.LINE_AA)
        _arrow(image, np.array([high - 0.25 * CANVAS_SIDE, middle]), np.array([high, middle]), thickness, 1)
    elif kind == 2:  # plus or times
        angle = 0.0 if rng.random() < 0.5 else math.pi / 4
        for turn in (angle, angle + math.pi / 2):
            offset = 0.35 * CANVAS_SIDE * np.array([math.cos(turn), math.sin(turn)])
            start, end = np.array([middle, middle]) - offset, np.array([middle, middle]) + offset
            cv2.line(image, tuple(start.astype(int)), tuple(end.astype(int)), 0, thickness, cv2.LINE_AA)
    elif kind == 3:  # equals, or a not-equal sign
        for offset in (-0.12, 0.12):
            y = int(middle + offset * CANVAS_SIDE)
            cv2.line(image, (int(low), y), (int(high), y), 0, thickness, cv2.LINE_AA)
        if rng.random() < 0.4:
            cv2.line(image, (int(middle + 12), int(low)), (int(middle - 12), int(high)), 0, thickness, cv2.LINE_AA)
    else:  # divide
        cv2.line(image, (int(low), int(middle)), (int(high), int(middle)), 0, thickness, cv2.LINE_AA)
        for y in (middle - 0.22 * CANVAS_SIDE, middle + 0.22 * CANVAS_SIDE):
            cv2.circle(image, (int(middle), int(y)), thickness + 2, 0, -1)
    return image


def _bumpy_outline(image: np.ndarray, rng: np.random.Generator, thickness: int) -> tuple[int, int]:
    """A cloud or bush: a closed outline of five to nine bumps; returns a point on it."""
    centre = np.array(_random_point(rng, 0.35), np.float64)
    bumps = int(rng.integers(5, 10))
    radius = rng.uniform(0.2, 0.35) * CANVAS_SIDE
    angles = np.linspace(0, math.tau, bumps * 12, endpoint=False)
    wobble = radius * (1 + 0.18 * np.abs(np.sin(angles * bumps / 2)))
    points = centre + np.stack([np.cos(angles) * wobble * 1.3, np.sin(angles) * wobble * 0.8], 1)
    cv2.polylines(image, [points.astype(np.int32)], True, 0, thickness, cv2.LINE_AA)
    return int(points[0, 0]), int(points[0, 1])


def _hand_warp(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Rotate and shear a drawing slightly, as a hand slants its writing."""
    angle = math.radians(rng.uniform(-MAX_ROTATION_DEGREES, MAX_ROTATION_DEGREES))
    shear = rng.uniform(-MAX_SHEAR, MAX_SHEAR)
    linear = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]]) @ np.array([[1, shear], [0, 1]])
    centre = np.array([CANVAS_SIDE / 2, CANVAS_SIDE / 2])
    matrix = np.hstack([linear, (centre - linear @ centre)[:, None]])
    return cv2.warpAffine(image, matrix, (CANVAS_SIDE, CANVAS_SIDE), flags=cv2.INTER_LINEAR, borderValue=255)


def draw_not_digit(rng: np.random.Generator, kind: str, fonts: list[Path]) -> np.ndarray:
    """One drawing of ``kind`` ('letter', 'symbol' or 'doodle'): uint8 (CANVAS_SIDE, CANVAS_SIDE), black on white."""
    if kind == "doodle":
        image = _draw_doodle(rng)
    elif kind == "symbol" and rng.random() < PEN_SYMBOL_SHARE:
        image = _draw_pen_symbol(rng)
    else:
        alphabet = LETTERS if kind == "letter" else SYMBOLS
        text = alphabet[rng.integers(len(alphabet))]
        if kind == "letter" and rng.random() < PEN_LETTER_SHARE:
            text = list(PEN_LETTERS)[rng.integers(len(PEN_LETTERS))]
            image = _draw_pen_letter(text, rng)
        # Hershey's stroke fonts only know ASCII.
        elif text.isascii() and rng.random() < HERSHEY_SHARE:
            image = _draw_hershey(text, rng)
        else:
            image = _draw_truetype(text, rng, fonts)
    return _hand_warp(image, rng)


def _render_chunk(task: tuple[int, int, int]) -> np.ndarray:
    """Draw ``count`` not-digits from seed ``(seed, chunk)`` and preprocess them: uint8 (count, 28, 28)."""
    seed, chunk, count = task
    rng = np.random.default_rng([seed, chunk])
    fonts = font_paths()
    kinds = list(KIND_SHARES)
    shares = np.array(list(KIND_SHARES.values()))
    out = np.zeros((count, IMAGE_SIZE, IMAGE_SIZE), np.uint8)
    done = 0
    while done < count:
        drawing = draw_not_digit(rng, kinds[rng.choice(len(kinds), p=shares / shares.sum())], fonts)
        try:
            image = preprocess.preprocess(Image.fromarray(drawing))
        except preprocess.ImageError:  # a drawing warped off the canvas: draw another
            continue
        out[done] = np.round(image[..., 0] * 255).astype(np.uint8)
        done += 1
    return out


CHUNK = 250  # drawings per worker task


def make_not_digits(count: int, seed: int, workers: int | None = None, progress: Callable[[int], None] | None = None) -> np.ndarray:
    """``count`` preprocessed not-digit images, uint8 (count, 28, 28) white on black, the same for the same seed."""
    tasks = [(seed, index, min(CHUNK, count - start)) for index, start in enumerate(range(0, count, CHUNK))]
    workers = min(workers or os.cpu_count() or 1, len(tasks))
    if workers <= 1:
        chunks = []
        for task in tasks:
            chunks.append(_render_chunk(task))
            if progress:
                progress(task[2])
    else:
        import multiprocessing

        chunks = []
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            for chunk in pool.imap(_render_chunk, tasks):
                chunks.append(chunk)
                if progress:
                    progress(len(chunk))
    return np.concatenate(chunks) if chunks else np.zeros((0, IMAGE_SIZE, IMAGE_SIZE), np.uint8)
