"""preprocess.ink's polarity: which side of a picture is the ink, when strokes are as wide as the paper between them."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageOps

import preprocess


def fat_zero(side: int = 300, pen: int = 100, margin: int = 20) -> Image.Image:
    """A 0 drawn with a marker so fat that only a slit of a hole is left, cropped tightly on white paper."""
    image = Image.new("L", (side, side), 245)
    ImageDraw.Draw(image).ellipse([margin + side // 8, margin, side - margin - side // 8, side - margin], outline=20, width=pen)
    return image


@pytest.mark.parametrize("pen", [60, 80])
def test_fat_zero_cropped_tightly_is_dark_ink_not_its_hole(pen):
    # Inside a stroke wider than the polarity window the local median sees "paper", and the paper around
    # the 0 and in its hole looks like "ink": the even white border shows which side the paper is.
    image = fat_zero(pen=pen)
    gray, _ = preprocess.decode.to_arrays(image)
    assert preprocess.ink.dark_ink(gray)
    digit = preprocess.preprocess(image)[..., 0]
    inverted = preprocess.preprocess(ImageOps.invert(image))[..., 0]
    # The 28x28 is the ring, the same as for the same 0 drawn light on dark, with its hole in the middle.
    assert np.abs(digit - inverted).mean() < 0.02
    assert digit[14, 14] < 0.2 and digit[14].max() > 0.8
