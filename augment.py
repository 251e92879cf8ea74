"""Training-time augmentation: make MNIST digits look like what the preprocess package makes of people's images.

MNIST's digits are smooth grey pen strokes of one width. What the model sees at run time is a
user's digit after the preprocess package: thresholded at a high resolution, stroke width brought into a range,
area-averaged into 20x20, sometimes with a gap where a faint stroke was lost, and written by hands
that slant and wobble more than MNIST's writers. Each epoch, every training image gets:

- a random affine warp (rotation, shear, zoom, shift) with an elastic wobble, one remap for both;
- for most images, the same render the preprocess package uses: upsample, threshold, grow or thin the strokes,
  area-average back down; the threshold and the stroke change are random, so widths vary;
- for a few, one or two small gaps cut into the strokes (a broken pen line).

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
        binary = np.where(big > 127, np.uint8(255), np.uint8(0))
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
