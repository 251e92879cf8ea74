"""Turn any picture of a handwritten digit into what the model was trained on: MNIST's own 28x28 format.

LeCun made MNIST by fitting each binary NIST digit into a 20x20 box (keeping its aspect ratio, with
anti-aliasing, which gives the grey edges) and placing that box in a 28x28 field so that the digit's
centre of mass sits at the centre. People's images are nothing like that: dark ink on white paper,
phone photos with shadows, canvas exports whose background is transparent, ruled paper, specks, huge
resolutions. Each stage below undoes some of those differences, then the last repeats LeCun's recipe:

    decode.open_image  -> EXIF orientation, decoding checks, decompression-bomb guard (Pillow)
    ink.ink_map        -> transparency, grayscale, working resolution, polarity, lighting: ink bright, paper 0
    clean.clean        -> threshold (Otsu above the noise, hysteresis), ruled lines and frames erased, components
    select.main_digit  -> the digit among the components, with its broken-off pieces
    render.render      -> crop, stroke width into MNIST's range (loops kept), 20x20 fit, centre of mass at (14, 14)
    segment            -> a number written in a row, digit by digit through the same stages

The pixel work (resizing, morphology, components, contours, moments) is OpenCV's; no TensorFlow, so
the CLI starts in well under a second. ``preprocess`` is the one path that evaluate.py and app.py share.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from . import clean, ink, render, select
from .common import MIN_SIDE, ImageError, NoDigitError, stroke_width, too_small
from .decode import IMAGE_EXTENSIONS, MAX_PIXELS, WORK_MAX_SIDE, is_image_path, open_image, open_image_bytes
from .render import MNIST_STROKE_WIDTH, STROKE_WIDTH_RANGE
from .segment import NOT_A_DIGIT_MARK, Digit, number_text, segment_digits, segment_number

__all__ = [
    "IMAGE_EXTENSIONS",
    "MAX_PIXELS",
    "MIN_SIDE",
    "MNIST_STROKE_WIDTH",
    "STROKE_WIDTH_RANGE",
    "WORK_MAX_SIDE",
    "Digit",
    "ImageError",
    "NoDigitError",
    "is_image_path",
    "number_text",
    "NOT_A_DIGIT_MARK",
    "open_image",
    "open_image_bytes",
    "preprocess",
    "segment_digits",
    "segment_number",
    "stroke_width",
]


def preprocess(image: Image.Image) -> np.ndarray:
    """Any PIL image of one digit -> float32 (28, 28, 1) in [0, 1], white on black, MNIST-style.

    Raises NoDigitError for a blank or near-blank image and ImageError for one too small to use.
    """
    if min(image.size) < MIN_SIDE:
        raise too_small(image.width, image.height)
    found = clean.clean(ink.ink_map(image))
    return render.render(found, select.main_digit(found))
