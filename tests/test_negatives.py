"""negatives.py: synthetic not-a-digit images come out MNIST-shaped, inked, centred and reproducible."""

from __future__ import annotations

import numpy as np
import pytest

import negatives


@pytest.fixture(scope="module")
def drawn() -> np.ndarray:
    return negatives.make_not_digits(40, seed=7, workers=1)


def test_shape_and_ink(drawn):
    assert drawn.shape == (40, 28, 28) and drawn.dtype == np.uint8
    assert (drawn.reshape(40, -1).max(axis=1) > 200).all()  # every image holds a drawing


def test_mnist_layout_centre_of_mass(drawn):
    """They went through the preprocess package: mass centred near (14, 14) and the 4-pixel MNIST margin mostly empty."""
    images = drawn.astype(np.float64)
    rows, cols = np.indices((28, 28))
    mass = images.sum(axis=(1, 2))
    assert np.abs((images * rows).sum(axis=(1, 2)) / mass - 14).max() < 2.5
    assert np.abs((images * cols).sum(axis=(1, 2)) / mass - 14).max() < 2.5


def test_reproducible_and_seed_dependent(drawn):
    np.testing.assert_array_equal(drawn[:10], negatives.make_not_digits(10, seed=7, workers=1))
    assert not np.array_equal(drawn[:10], negatives.make_not_digits(10, seed=8, workers=1))


@pytest.mark.parametrize("kind", ["letter", "symbol", "doodle"])
def test_each_kind_draws_black_on_white(kind):
    fonts = [path for path in (negatives._font_dir() / name for name in negatives.FONT_FILES) if path.exists()]
    assert fonts, "matplotlib's fonts should always be there"
    image = negatives.draw_not_digit(np.random.default_rng(0), kind, fonts)
    assert image.shape == (negatives.CANVAS_SIDE, negatives.CANVAS_SIDE)
    assert image.min() < 100 and np.median(image) == 255


def test_no_digit_lookalikes_in_the_alphabets():
    for lookalike in "OoIlSsZzBGbgqQ":
        assert lookalike not in negatives.LETTERS
    assert not set("0123456789!?$&∃") & set(negatives.SYMBOLS)


def test_pen_letters_are_letters_we_turn_away():
    """The skeletons follow the same rule as LETTERS, and each draws inside the canvas with its strokes joined."""
    import cv2

    assert set(negatives.PEN_LETTERS) <= set(negatives.LETTERS)
    rng = np.random.default_rng(5)
    for letter in negatives.PEN_LETTERS:
        image = negatives._draw_pen_letter(letter, rng)
        ink = (image < 128).astype(np.uint8)
        assert ink.mean() > 0.01, letter
        assert not ink[0].any() and not ink[-1].any() and not ink[:, 0].any() and not ink[:, -1].any(), letter
        count, _ = cv2.connectedComponents(ink)
        assert count - 1 <= 2, letter  # a crossbar may stop short of a stem; no letter falls apart further


def test_doodles_are_one_drawing():
    """The preprocess package keeps the main drawing: a doodle in pieces would leave a lone box or circle, a 0's shape."""
    import cv2

    rng = np.random.default_rng(11)
    for _ in range(20):
        ink = (negatives._draw_doodle(rng) < 128).astype(np.uint8)
        count, _ = cv2.connectedComponents(ink)
        assert count - 1 == 1  # one component besides the background


def test_symbols_are_never_drawn_as_a_missing_glyph_box():
    """Computer Modern has no "∀": drawing it there gives the font's empty box, which looks like a boxy 0 and
    taught the model to turn such 0s away. A font without the glyph is passed over."""
    font_dir = negatives._font_dir()
    lacking, having = font_dir / "cmr10.ttf", font_dir / "DejaVuSans.ttf"
    assert not negatives.has_glyph(lacking, "∀") and negatives.has_glyph(having, "∀")
    assert negatives.has_glyph(lacking, "A")
    for seed in range(12):
        either = negatives._draw_truetype("∀", np.random.default_rng(seed), [lacking, having])
        np.testing.assert_array_equal(either, negatives._draw_truetype("∀", np.random.default_rng(seed), [having]))
