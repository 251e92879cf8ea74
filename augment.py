"""Training-time augmentation: make MNIST digits look like what the preprocess package makes of people's images.

MNIST's digits are smooth grey pen strokes of one width. What the model sees at run time is a
user's digit after the preprocess package: thresholded at a high resolution, stroke width brought into a range,
area-averaged into 20x20, sometimes with a gap where a faint stroke was lost, and written by hands
that slant and wobble more than MNIST's writers. Each epoch, every training image gets:

- a random affine warp (rotation, shear, zoom, shift) with an elastic wobble, one remap for both;
- for most images, the same render the preprocess package uses: upsample, threshold, grow or thin the strokes,
  area-average back down; the threshold and the stroke change are random, so widths vary;
- for a few, one or two small gaps cut into the strokes (a broken pen line).

Before that, ``restyle`` draws shapes that people write and MNIST's (mostly American) writers rarely did:
a share of the 1s get the flag at the top that much of the world writes, some with a foot as well, and a share
of the 0s are squared off into the rounded box that paint programs and quick hands draw.

Images are processed as mosaics of many tiles at once, so OpenCV's whole-image calls do the work
in C and an epoch's augmentation costs a couple of seconds on one core.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

IMAGE_SIZE = 28
PAD = 1  # zero margin around each tile, so no operation reaches a neighbour (28-pixel units)
TILE = IMAGE_SIZE + 2 * PAD
TILES_PER_ROW = 32  # a mosaic holds up to 32 x 32 images
UPSCALE = 4  # render resolution, as the preprocess package thresholds at a higher resolution than 28x28

# Geometry (units in comments).
MAX_ROTATION_DEGREES = 12.0
MAX_SHEAR = 0.25  # x shift per unit of y
MAX_ZOOM = 0.12  # scale in [1 - MAX_ZOOM, 1 + MAX_ZOOM]
MAX_SHIFT = 2.0  # pixels; the preprocess package centres by mass, so only small offsets remain
ELASTIC_SHARE = 0.5  # share of images with an elastic wobble
ELASTIC_SIGMA = 3.5  # pixels; smoothness of the displacement field
ELASTIC_ALPHA = 9.0  # strength; gives displacements of about 1-1.5 pixels

# Render (share of images, threshold range, stroke change in render pixels).
RENDER_SHARE = 0.65
THRESHOLD_RANGE = (0.2, 0.6)  # of full scale, on the upsampled image
STROKE_CHANGES = (-3, -2, 0, 0, 2, 4, 6)  # negative: thin (erode), positive: thicken (dilate), in UPSCALE pixels
BREAK_SHARE = 0.08  # share of rendered images with gaps cut into their strokes
BREAK_RADIUS = (3, 6)  # UPSCALE pixels

# Written styles rare in MNIST (restyle): the 1 with a flag (and sometimes a foot).
ONE = 1
FLAG_SHARE = 0.35  # of the 1s
FLAG_LENGTH = (0.2, 0.42)  # of the digit's height: longer and flatter, it is the bar of a 7
FLAG_ANGLE_DEGREES = (30.0, 65.0)  # below the horizontal, pointing left from the top of the stem
FOOT_SHARE = 0.25  # of the flagged 1s
FOOT_LENGTH = (0.35, 0.6)  # of the digit's height, centred on the foot of the stem
ZERO = 0
BOX_SHARE = 0.15  # of the 0s
BOX_POWER = (4.0, 10.0)  # the superellipse |x|^p + |y|^p = 1 the ring is mapped onto: 2 is an ellipse, large p a box


def _mosaic(images: np.ndarray, fill: float = 0) -> np.ndarray:
    """(N, h, w) -> one image of up to TILES_PER_ROW tiles a row, each padded by PAD * h / 28 with ``fill``."""
    count, height, width = images.shape
    pad = PAD * height // IMAGE_SIZE
    rows = math.ceil(count / TILES_PER_ROW)
    padded = np.full((rows * TILES_PER_ROW, height + 2 * pad, width + 2 * pad), fill, images.dtype)
    padded[:count, pad : pad + height, pad : pad + width] = images
    tile_h, tile_w = padded.shape[1:]
    return padded.reshape(rows, TILES_PER_ROW, tile_h, tile_w).transpose(0, 2, 1, 3).reshape(rows * tile_h, TILES_PER_ROW * tile_w)


def _tile(mosaic: np.ndarray, index: int, scale: int = 1) -> np.ndarray:
    """A writable view of tile ``index``'s inner 28 * scale square."""
    tile, pad, side = TILE * scale, PAD * scale, IMAGE_SIZE * scale
    top, left = (index // TILES_PER_ROW) * tile + pad, (index % TILES_PER_ROW) * tile + pad
    return mosaic[top : top + side, left : left + side]


def _tiles(mosaic: np.ndarray, count: int, scale: int = 1) -> np.ndarray:
    """Undo _mosaic: a (count, 28 * scale, 28 * scale) copy of the tiles' inner squares."""
    tile, pad, side = TILE * scale, PAD * scale, IMAGE_SIZE * scale
    rows = mosaic.shape[0] // tile
    tiles = mosaic.reshape(rows, tile, TILES_PER_ROW, tile).transpose(0, 2, 1, 3).reshape(-1, tile, tile)[:count]
    return tiles[:, pad : pad + side, pad : pad + side]


def _warp(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One affine warp and elastic wobble per image, as a single cv2.remap of their mosaic."""
    count = len(images)
    angle = np.radians(rng.uniform(-MAX_ROTATION_DEGREES, MAX_ROTATION_DEGREES, count)).astype(np.float32)
    shear = rng.uniform(-MAX_SHEAR, MAX_SHEAR, count).astype(np.float32)
    zoom = 1 + rng.uniform(-MAX_ZOOM, MAX_ZOOM, count).astype(np.float32)
    shift = rng.uniform(-MAX_SHIFT, MAX_SHIFT, (2, count, 1, 1)).astype(np.float32)
    # Output pixel p maps back to the input at M (p - c) + c - shift, M = (rotation @ shear) / zoom.
    cos, sin = (np.cos(angle) / zoom)[:, None, None], (np.sin(angle) / zoom)[:, None, None]
    shear = shear[:, None, None]
    centre = (IMAGE_SIZE - 1) / 2
    ys, xs = np.mgrid[0:IMAGE_SIZE, 0:IMAGE_SIZE].astype(np.float32) - centre
    src_x = cos * xs + (cos * shear - sin) * ys + centre - shift[0]
    src_y = sin * xs + (sin * shear + cos) * ys + centre - shift[1]
    # Elastic wobble (Simard et al. 2003): smoothed random displacements. Blurring the whole mosaic's
    # field at once mixes neighbours' noise at tile borders, which is as random as any other noise.
    wobble = (rng.random(count) < ELASTIC_SHARE).astype(np.float32)[:, None, None] * ELASTIC_ALPHA
    for source in (src_x, src_y):
        field = cv2.GaussianBlur(_mosaic(rng.uniform(-1, 1, (count, IMAGE_SIZE, IMAGE_SIZE)).astype(np.float32)), (0, 0), ELASTIC_SIGMA)
        source += _tiles(field, count) * wobble
    # Sources outside a tile's 28x28 read the constant border, not the neighbour's pixels.
    outside = (src_x < -1) | (src_x > IMAGE_SIZE) | (src_y < -1) | (src_y > IMAGE_SIZE)
    src_x[outside] = -1e4
    index = np.arange(count)
    src_x += ((index % TILES_PER_ROW) * TILE + PAD).astype(np.float32)[:, None, None]
    src_y += ((index // TILES_PER_ROW) * TILE + PAD).astype(np.float32)[:, None, None]
    warped = cv2.remap(_mosaic(images), _mosaic(src_x, -1e4), _mosaic(src_y, -1e4), cv2.INTER_LINEAR, borderValue=0)
    return _tiles(warped, count)


def _render(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Threshold at UPSCALE x, change stroke width, cut gaps, area-average back: preprocess/render.py's render."""
    count = len(images)
    # A random threshold, applied as a gain so that one fixed threshold serves the whole mosaic.
    gain = 0.5 / rng.uniform(*THRESHOLD_RANGE, count)
    scaled = np.clip(images * gain[:, None, None], 0, 255).astype(np.uint8)
    changes = np.array(STROKE_CHANGES)[rng.integers(len(STROKE_CHANGES), size=count)]
    broken = rng.random(count) < BREAK_SHARE
    out = np.empty_like(images)
    # One mosaic per stroke change, so that each morphology call covers whole mosaics.
    for change in np.unique(changes):
        members = np.flatnonzero(changes == change)
        big = cv2.resize(_mosaic(scaled[members]), None, fx=UPSCALE, fy=UPSCALE, interpolation=cv2.INTER_LINEAR)
        _, binary = cv2.threshold(big, 127, 255, cv2.THRESH_BINARY)  # np.where's result, in a twentieth of the time
        if change:
            # An ellipse of size k changes a stroke's width by k - 1 pixels.
            kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (abs(int(change)) + 1,) * 2)
            binary = cv2.dilate(binary, kernel) if change > 0 else cv2.erode(binary, kernel)
        for position in np.flatnonzero(broken[members]):
            tile = _tile(binary, position, UPSCALE)
            ink_y, ink_x = np.nonzero(tile)
            for spot in rng.integers(len(ink_y), size=int(rng.integers(1, 3))) if len(ink_y) else []:
                cv2.circle(tile, (int(ink_x[spot]), int(ink_y[spot])), int(rng.integers(*BREAK_RADIUS)), 0, -1)
        small = cv2.resize(binary, None, fx=1 / UPSCALE, fy=1 / UPSCALE, interpolation=cv2.INTER_AREA)
        out[members] = _tiles(small, len(members))
    return out


def _ink_ends(image: np.ndarray) -> tuple[tuple[float, float], tuple[float, float], float] | None:
    """The top and bottom of a digit's stroke (x, y), and its stroke width, from a uint8 28x28 image."""
    ink = image > 127
    rows = np.flatnonzero(ink.any(axis=1))
    if len(rows) < 4:
        return None
    top, bottom = rows[0], rows[-1]
    top_x = float(np.flatnonzero(ink[top]).mean())
    bottom_x = float(np.flatnonzero(ink[bottom]).mean())
    width = ink.sum() / (bottom - top + 1)  # ink per row of a stick: its width
    return (top_x, float(top)), (bottom_x, float(bottom)), float(width)


def _recentre(image: np.ndarray) -> np.ndarray:
    """Shift the ink's centre of mass back to the middle, as the preprocess package places every digit."""
    mass = image.astype(np.float64)
    total = mass.sum()
    rows, cols = np.indices(image.shape)
    dy = (IMAGE_SIZE - 1) / 2 - (rows * mass).sum() / total
    dx = (IMAGE_SIZE - 1) / 2 - (cols * mass).sum() / total
    return cv2.warpAffine(image, np.float32([[1, 0, dx], [0, 1, dy]]), (IMAGE_SIZE, IMAGE_SIZE), flags=cv2.INTER_LINEAR)


def _square_off(image: np.ndarray, power: float) -> np.ndarray:
    """Map a ring onto a rounded box: each output point on the superellipse of ``power`` reads the ellipse's point."""
    ink = image > 127
    rows, cols = np.nonzero(ink)
    if len(rows) < 4:
        return image
    cy, cx = (rows.min() + rows.max()) / 2, (cols.min() + cols.max()) / 2
    half_h, half_w = max((rows.max() - rows.min()) / 2, 1.0), max((cols.max() - cols.min()) / 2, 1.0)
    ys, xs = np.mgrid[0:IMAGE_SIZE, 0:IMAGE_SIZE].astype(np.float64)
    u, v = (xs - cx) / half_w, (ys - cy) / half_h
    round_radius = np.hypot(u, v)
    box_radius = (np.abs(u) ** power + np.abs(v) ** power) ** (1 / power)
    factor = np.where(round_radius > 1e-6, box_radius / np.maximum(round_radius, 1e-6), 1.0)
    map_x = (cx + u * factor * half_w).astype(np.float32)
    map_y = (cy + v * factor * half_h).astype(np.float32)
    return cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderValue=0)


def restyle(images: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Give a share of the 1s a flag at the top (and some a foot), drawn with the digit's own stroke width, and
    square off a share of the 0s.

    uint8 (N, 28, 28) white on black and their labels in; a new array out. Other digits pass unchanged.
    """
    out = images.copy()
    ones = np.flatnonzero(labels == ONE)
    for index in ones[rng.random(len(ones)) < FLAG_SHARE]:
        ends = _ink_ends(out[index])
        if ends is None:
            continue
        (top_x, top_y), (bottom_x, bottom_y), width = ends
        height = bottom_y - top_y
        thickness = max(1, int(round(width)))
        length = rng.uniform(*FLAG_LENGTH) * height
        angle = np.radians(rng.uniform(*FLAG_ANGLE_DEGREES))
        # Fixed-point coordinates (4 fractional bits) for sub-pixel, anti-aliased lines.
        scale = 16
        start = (round(top_x * scale), round(top_y * scale))
        end = (round((top_x - length * np.cos(angle)) * scale), round((top_y + length * np.sin(angle)) * scale))
        cv2.line(out[index], start, end, 255, thickness, cv2.LINE_AA, shift=4)
        if rng.random() < FOOT_SHARE:
            half = rng.uniform(*FOOT_LENGTH) * height / 2
            left, right = (
                (round((bottom_x - half) * scale), round(bottom_y * scale)),
                (round((bottom_x + half) * scale), round(bottom_y * scale)),
            )
            cv2.line(out[index], left, right, 255, thickness, cv2.LINE_AA, shift=4)
        out[index] = _recentre(out[index])
    zeros = np.flatnonzero(labels == ZERO)
    for index in zeros[rng.random(len(zeros)) < BOX_SHARE]:
        out[index] = _square_off(out[index], rng.uniform(*BOX_POWER))
    return out


def augment(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Augment uint8 (N, 28, 28) white-on-black images; returns a new uint8 (N, 28, 28) array."""
    out = np.empty_like(images)
    chunk = TILES_PER_ROW * TILES_PER_ROW
    for start in range(0, len(images), chunk):
        warped = _warp(images[start : start + chunk], rng)
        use_render = rng.random(len(warped)) < RENDER_SHARE
        warped[use_render] = _render(warped[use_render], rng)
        out[start : start + len(warped)] = warped
    return out
