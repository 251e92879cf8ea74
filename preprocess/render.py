"""Render: LeCun's recipe on the chosen components: crop, stroke width brought into MNIST's range (never
closing or opening a loop), fit into 20x20 keeping the aspect ratio, centre of mass at (14, 14) in 28x28."""

from __future__ import annotations

import cv2
import numpy as np

from .clean import Ink
from .common import CANVAS, CROSS, DIGIT_BOX, NoDigitError, disk, holes, stroke_width

# The fitted digit is drawn at this many times the 20x20 box first, so that stroke width can be
# adjusted in whole pixels and the final downscale (area averaging) gives MNIST-like grey edges.
RENDER_SCALE = 8
# MNIST stroke width, in pixels of the 28x28 image, measured on the MNIST training digits with
# `stroke_width` (median; 10th-90th percentile 2.3-4.1). Digits outside that range are thinned or
# thickened to the median: a fat marker or a 1-px canvas pen both look like MNIST then.
MNIST_STROKE_WIDTH = 3.0
STROKE_WIDTH_RANGE = (2.3, 4.1)
# Holes smaller than this many pixels of the 28x28 image are no loops the model could see (gaps
# between a thin stroke's anti-aliasing steps, or a loop already pinched shut).
MIN_HOLE = 2.0
# The rendered digit's mask is the ink map above this fraction of the ink threshold (edges included).
EDGE_LEVEL = 0.75
# Two digits written into each other, for the pair reader (pairs.py): as tall as one digit, fitted into
# 20x40 (two digits' width) inside a 28x48 field, centred by centre of mass like a digit.
PAIR_BOX = (DIGIT_BOX, 2 * DIGIT_BOX)
PAIR_CANVAS = (CANVAS, 48)


def render(
    found: Ink,
    chosen: np.ndarray,
    columns: tuple[int, int] | None = None,
    piece: tuple[int, int, np.ndarray] | None = None,
    pair: bool = False,
) -> np.ndarray:
    """The chosen components (within ``columns`` of the working image, if given) as a float32 (28, 28, 1)
    MNIST digit; or, given ``piece`` (top, left, bool mask), the pixels of that mask placed there in the
    working image (one digit of a touching pair cut apart). With ``pair``, drawn as two digits written into
    each other for the pair reader: float32 (28, 48, 1)."""
    parts = found.parts
    origin_y, origin_x = 0, 0
    if piece is not None:
        y, x, pixels = piece
        # The piece's box with a pixel around it where the image has one, for the grey edges below.
        origin_y, origin_x = max(y - 1, 0), max(x - 1, 0)
        end_y, end_x = min(y + pixels.shape[0] + 1, parts.shape[0]), min(x + pixels.shape[1] + 1, parts.shape[1])
        mask = np.zeros((end_y - origin_y, end_x - origin_x), dtype=bool)
        mask[y - origin_y : y - origin_y + pixels.shape[0], x - origin_x : x - origin_x + pixels.shape[1]] = pixels
    elif len(chosen):
        # Only the chosen components' box matters, with a pixel around it for the grey edges below: looking
        # up every pixel of the working image cost as much as the rest of the render.
        height, width = parts.shape
        origin_y, origin_x = max(int(parts.top[chosen].min()) - 1, 0), max(int(parts.left[chosen].min()) - 1, 0)
        end_y, end_x = min(int(parts.bottom[chosen].max()) + 1, height), min(int(parts.right[chosen].max()) + 1, width)
        mask = parts.mask(chosen, (origin_y, end_y, origin_x, end_x))
    else:
        mask = np.zeros(parts.shape, dtype=bool)
    if columns is not None:
        mask[:, : max(columns[0] - origin_x, 0)] = False
        mask[:, max(columns[1] - origin_x, 0) :] = False
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        raise NoDigitError("no digit found (blank or near-blank image)")
    top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    # Anti-aliased edges belong to the digit too: take the ink map around the mask, one pixel wide.
    outer_top, outer_left = max(top - 1, 0), max(left - 1, 0)
    near = cv2.dilate(np.ascontiguousarray(mask[outer_top : bottom + 1, outer_left : right + 1], dtype=np.uint8), CROSS)
    ink_top, ink_left = origin_y + outer_top, origin_x + outer_left
    ink = found.ink[ink_top : ink_top + near.shape[0], ink_left : ink_left + near.shape[1]] * near
    box_h, box_w = bottom - top, right - left
    # Draw the digit with its longer side RENDER_SCALE * 20 pixels (a pair: as tall as a digit, at most two
    # digits wide), so that stroke widths compare with MNIST's; threshold there for smooth edges.
    box, canvas = (PAIR_BOX, PAIR_CANVAS) if pair else ((DIGIT_BOX, DIGIT_BOX), (CANVAS, CANVAS))
    scale = RENDER_SCALE * min(box[0] / box_h, box[1] / box_w)
    size = (max(1, round(ink.shape[1] * scale)), max(1, round(ink.shape[0] * scale)))
    big = cv2.resize(ink.astype(np.float32), size, interpolation=cv2.INTER_LINEAR)
    binary = big > found.threshold * EDGE_LEVEL
    y0, x0 = round((top - outer_top) * scale), round((left - outer_left) * scale)
    y1 = min(binary.shape[0], y0 + max(1, round(box_h * scale)))
    x1 = min(binary.shape[1], x0 + max(1, round(box_w * scale)))
    return fit_and_centre(normalize_strokes(binary[y0:y1, x0:x1]), box, canvas)


def _loops(binary: np.ndarray) -> int:
    return holes(binary, MIN_HOLE * RENDER_SCALE**2)


def normalize_strokes(binary: np.ndarray) -> np.ndarray:
    """Thin fat-marker strokes or thicken hairlines (at RENDER_SCALE) into MNIST's stroke width range,
    never filling a loop in (an 8's, when thickened) or breaking one open (a thin 0's, when thinned)."""
    width = stroke_width(binary) / RENDER_SCALE
    low, high = STROKE_WIDTH_RANGE
    if low <= width <= high or width == 0:
        return binary
    radius = round(abs(width - MNIST_STROKE_WIDTH) * RENDER_SCALE / 2)
    if radius == 0:
        return binary
    padded = np.pad(binary.astype(np.uint8), radius + 1)
    loops = _loops(padded)
    area = int(cv2.countNonZero(padded))
    thin = width > high
    while radius > 0:
        if thin:
            result = cv2.erode(padded, disk(radius))
            # Never erase a stroke entirely: erode less if too much of the digit would vanish; and
            # never break a loop open (a thin stretch of a 0's ring).
            ok = cv2.countNonZero(result) >= 0.25 * area and _loops(result) == loops
        else:
            # Never fill a loop in (an 8's, small in a fat digit). A hairline's gaps, as narrow as the
            # growth, are bridged: that completes loops the threshold broke, as MNIST's pen would have.
            result = cv2.dilate(padded, disk(radius))
            ok = _loops(result) >= loops
        if ok:
            break
        # A smaller change, until the loops are what they were (or no change at all).
        radius = radius - 1 if radius <= 4 else radius * 2 // 3
    else:
        return binary
    rows = np.flatnonzero(result.any(axis=1))
    cols = np.flatnonzero(result.any(axis=0))
    if rows.size == 0:
        return binary
    return result[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1] > 0


def fit_and_centre(
    binary: np.ndarray, box: tuple[int, int] = (DIGIT_BOX, DIGIT_BOX), canvas: tuple[int, int] = (CANVAS, CANVAS)
) -> np.ndarray:
    """Fit a bool digit mask into 20x20 (aspect kept, area-averaged), centre its mass in 28x28: float32 (28, 28, 1).
    (A pair of digits: ``box`` PAIR_BOX in ``canvas`` PAIR_CANVAS.)"""
    height, width = binary.shape
    scale = min(box[0] / height, box[1] / width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    digit = cv2.resize(binary.astype(np.uint8) * 255, size, interpolation=cv2.INTER_AREA)
    moments = cv2.moments(digit)
    if moments["m00"] == 0:
        raise NoDigitError("no digit found (blank or near-blank image)")
    centre_x, centre_y = moments["m10"] / moments["m00"], moments["m01"] / moments["m00"]
    # Put the centre of mass at pixel (14, 14) as in MNIST (measured: mean 13.99, 14.00), keeping the box inside.
    top = int(np.clip(round(canvas[0] / 2 - centre_y), 0, canvas[0] - size[1]))
    left = int(np.clip(round(canvas[1] / 2 - centre_x), 0, canvas[1] - size[0]))
    field = np.zeros(canvas, dtype=np.uint8)
    field[top : top + size[1], left : left + size[0]] = digit
    # data.normalize's semantics: uint8 / 255 as float32, one channel.
    return (field.astype(np.float32) / 255.0)[..., np.newaxis]
