"""augment.py: shapes, determinism, tiles that never leak into each other, and stroke widths that really vary."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

import augment


def digits(count: int) -> np.ndarray:
    """White-on-black ring digits ("0") drawn with Pillow, MNIST's uint8 (N, 28, 28) layout."""
    images = np.zeros((count, 28, 28), np.uint8)
    for index in range(count):
        canvas = Image.new("L", (28, 28))
        ImageDraw.Draw(canvas).ellipse([8, 5, 20, 23], outline=255, width=2 + index % 2)
        images[index] = np.asarray(canvas)
    return images


def test_shape_dtype_and_determinism():
    images = digits(50)
    first = augment.augment(images, np.random.default_rng(3))
    again = augment.augment(images, np.random.default_rng(3))
    other = augment.augment(images, np.random.default_rng(4))
    assert first.shape == images.shape and first.dtype == np.uint8
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    assert not np.array_equal(first, images)


def test_more_images_than_one_mosaic():
    images = digits(augment.TILES_PER_ROW**2 + 7)
    out = augment.augment(images, np.random.default_rng(0))
    assert out.shape == images.shape
    assert (out.reshape(len(out), -1).max(axis=1) > 100).all()  # no image lost its digit


def test_tiles_do_not_leak():
    """A blank image between inked ones stays blank, whatever is done to its neighbours."""
    images = digits(3 * augment.TILES_PER_ROW)
    blank = np.arange(1, len(images), 2)
    images[blank] = 0
    out = augment.augment(images, np.random.default_rng(1))
    assert out[blank].max() == 0


def test_the_digit_stays_in_the_frame_and_near_the_centre():
    out = augment.augment(digits(200), np.random.default_rng(2)).astype(np.float64)
    rows, cols = np.indices((28, 28))
    mass = out.sum(axis=(1, 2))
    centre_y = (out * rows).sum(axis=(1, 2)) / mass
    centre_x = (out * cols).sum(axis=(1, 2)) / mass
    assert np.abs(centre_y - 14).max() < 4 and np.abs(centre_x - 14).max() < 4


def test_rendered_stroke_width_varies_both_ways():
    """The render step must both thin and thicken strokes, as preprocess/render.py's stroke normalization does."""
    images = np.repeat(digits(1), 400, axis=0)
    rendered = augment._render(images, np.random.default_rng(5))
    ink = (rendered > 127).sum(axis=(1, 2))
    original = (images[0] > 127).sum()
    assert ink.min() < 0.85 * original and ink.max() > 1.3 * original


def sticks(count: int) -> np.ndarray:
    """Vertical strokes ("1") drawn with Pillow, MNIST's layout."""
    images = np.zeros((count, 28, 28), np.uint8)
    for index in range(count):
        canvas = Image.new("L", (28, 28))
        ImageDraw.Draw(canvas).line([(14, 4), (14, 23)], fill=255, width=2 + index % 2)
        images[index] = np.asarray(canvas)
    return images


def test_restyle_flags_a_share_of_the_ones_only():
    """Flags go on 1s (ink appears left of the stem's top, within the top half), never on other digits."""
    ones, rings = sticks(200), digits(50)
    images = np.concatenate([ones, rings])
    labels = np.array([1] * len(ones) + [7] * len(rings))  # a ring labelled 7: no style of a 7 is drawn
    out = augment.restyle(images, labels, np.random.default_rng(0))
    np.testing.assert_array_equal(out[len(ones) :], rings)
    changed = np.flatnonzero((out[: len(ones)] != ones).any(axis=(1, 2)))
    assert 0.2 < len(changed) / len(ones) < 0.5  # about FLAG_SHARE
    for index in changed:
        ink = out[index] > 127
        rows, cols = np.nonzero(ink)
        centre = cols[(rows > 14) & (rows < 20)].mean()  # the stem, below any flag and above any foot
        top_half_left = ink[:14, : int(round(centre)) - 1].sum()
        assert top_half_left > 0, index  # a flag reaches out to the left of the stem at the top
        # Recentred, as the preprocess package places every digit.
        mass = out[index].astype(np.float64)
        assert abs((np.indices((28, 28))[1] * mass).sum() / mass.sum() - 13.5) < 1.0


def test_restyle_is_reproducible():
    images, labels = sticks(50), np.ones(50, int)
    first = augment.restyle(images, labels, np.random.default_rng(3))
    np.testing.assert_array_equal(first, augment.restyle(images, labels, np.random.default_rng(3)))


def test_restyle_squares_off_some_zeros():
    """A squared-off 0 reaches into the corners of its bounding box, where a ring has no ink."""
    rings = digits(300)
    out = augment.restyle(rings, np.zeros(len(rings), int), np.random.default_rng(1))
    changed = np.flatnonzero((out != rings).any(axis=(1, 2)))
    assert 0.05 < len(changed) / len(rings) < 0.3  # about BOX_SHARE
    corners = (slice(5, 7), slice(8, 10))  # the top-left corner of the ring's box, [8, 20] x [5, 23]
    assert (rings[:, corners[0], corners[1]] > 127).sum() == 0
    assert all((out[index][corners] > 127).any() for index in changed)
