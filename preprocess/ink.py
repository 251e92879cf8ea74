"""Ink map: transparency, grayscale, polarity and lighting removed -> float32 (H, W), ink bright, paper 0."""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

from .common import components, stroke_width
from .decode import DITHER_BLUR, WORK_MAX_SIDE, dithered, raw_arrays, shrink, unit

# A canvas export with at least this fraction of fully transparent pixels draws its digit in alpha ...
TRANSPARENT_FRACTION = 0.2
# ... unless its opaque part is a picture itself (a black canvas with white strokes pasted on a
# transparent page): opaque pixels whose grey spans this much are no single stroke colour.
OPAQUE_CONTRAST = 0.3
# The window for the lighting estimate is measured at this longest side, where it is cheap.
BACKGROUND_SIDE = 160
# The estimate's window is 2.5 stroke widths, at least the first fraction of the longest side and at
# most the second of the shortest: wide enough to ignore texture, narrow enough to follow a shadow,
# and always wider than a fat marker.
MIN_WINDOW_FRACTION = 1 / 20
MAX_WINDOW_FRACTION = 1 / 3
# Paper whose estimated level varies less than this (of full scale) is evenly lit, at one level.
EVEN_LIGHTING = 0.03
# Strokes are measured on the shapes clear of the image edge when the largest spans this fraction of it.
INNER_DIGIT_FRACTION = 0.1
# Polarity is judged at this longest side against a local median over this fraction of it.
POLARITY_SIDE = 64
POLARITY_WINDOW_FRACTION = 1 / 4
POLARITY_FLOOR = 0.03  # of full scale: smaller departures from the local paper level are shading, not ink
# When neither side wins by this factor, an image edge that differs from the image's median by this
# fraction of its contrast range is a surround (a table, a wall), and the median is the paper.
POLARITY_DECISIVE = 5.0
SURROUND_CONTRAST = 0.4
# A drawing no larger than this (pixels) whose border is this share within BORDER_UNIFORMITY of one
# tone, near black or white, has that tone as its background.
SMALL_DRAWING = 64
BORDER_SHARE = 0.75
BORDER_UNIFORMITY = 0.15
MIN_CONTRAST = 0.12  # ink must differ from the paper by this fraction of full scale, or there is no digit


def otsu(values: np.ndarray) -> float:
    """Otsu's threshold (OpenCV's) of values in [0, 1], in the same units: values above it are the bright class."""
    quantized = np.clip(np.asarray(values, dtype=np.float32) * 255.0 + 0.5, 0, 255).astype(np.uint8).reshape(-1, 1)
    level, _ = cv2.threshold(quantized, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    return (level + 0.5) / 255.0


def _window_filter(values: np.ndarray, window: int, close: bool) -> np.ndarray:
    """Morphological closing (``close``) or opening of a float32 image with a square window: what is left
    when every shape narrower than the window is erased (dark shapes by closing, light by opening)."""
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (window, window))
    return cv2.morphologyEx(values, cv2.MORPH_CLOSE if close else cv2.MORPH_OPEN, kernel, borderType=cv2.BORDER_REPLICATE)


def inner_components(parts) -> np.ndarray:
    """Numbers of the components clear of the image edge, if any of them is digit-sized; otherwise none,
    as then the digit itself must be touching the edge."""
    inner = np.flatnonzero(~parts.touches_border(np.arange(parts.count)))
    sides = np.maximum(parts.bottom - parts.top, parts.right - parts.left)[inner]
    return inner if (sides >= INNER_DIGIT_FRACTION * max(parts.shape)).any() else inner[:0]


def _spread(values: np.ndarray) -> float:
    """np.percentile(values, 99) - np.percentile(values, 1), without percentile's general machinery
    (one partition, linear interpolation between order statistics as numpy's default does)."""
    flat = values.ravel()
    last = flat.size - 1
    positions = (0.01 * last, 0.99 * last)
    order = sorted({min(int(position) + step, last) for position in positions for step in (0, 1)})
    ranked = np.partition(flat, order)

    def at(position: float) -> float:
        below = int(position)
        return float(ranked[below]) + (float(ranked[min(below + 1, last)]) - float(ranked[below])) * (position - below)

    return at(positions[1]) - at(positions[0])


def _median(values: np.ndarray) -> float:
    """np.median of all ``values`` (which hold no NaN), the same number, without np.median's NaN check:
    that check imports numpy.ma, about 10 ms of a one-image call's start-up."""
    flat = np.asarray(values).ravel()
    half = flat.size // 2
    middle = [half] if flat.size % 2 else [half - 1, half]
    ranked = np.partition(flat, middle)
    return float(np.mean(ranked[middle[0] : half + 1]))  # np.median's mean: the same rounding and type


def background(gray: np.ndarray, dark_ink: bool) -> np.ndarray:
    """The paper's own brightness under the lighting, float32 (H, W): the ink erased by a morphological
    closing (opening for light ink) with a window wider than the strokes, which keeps shadow edges sharp."""
    level = paper_level(gray, dark_ink)
    return np.full(gray.shape, level, dtype=np.float32) if isinstance(level, float) else level


def paper_level(gray: np.ndarray, dark_ink: bool, gray8: np.ndarray | None = None) -> np.ndarray | float:
    """``background``, but one float for evenly lit paper (no image-sized array of one value); ``gray8``
    is ``gray`` in 8 bits (0-255) when the caller has it, saving a conversion."""
    height, width = gray.shape
    small = shrink(gray, BACKGROUND_SIDE)
    scale = small.shape[1] / width
    # The window must be wider than a stroke: measure strokes roughly on a global threshold first.
    ink = 1.0 - small if dark_ink else small
    rough = ink > otsu(ink)
    longest, shortest = max(small.shape), min(small.shape)
    # A dark table edge or frame around the paper is no stroke: measuring it would widen the window
    # until the closing filled it in as paper, turning it into "ink". So strokes are measured on the
    # shapes clear of the image edge, unless the digit itself touches the edge with only specks inside.
    parts = components(rough)
    inner = inner_components(parts)
    if inner.size:
        rough = parts.mask(inner)
    window = 2.5 * stroke_width(rough) + 3
    # The cap is a fraction of the shorter side: in a wide picture (a number written in a row) a
    # window taller than the picture carries the lit half's paper level into a shadowed half.
    low = longest * MIN_WINDOW_FRACTION
    window = float(np.clip(window, low, max(shortest * MAX_WINDOW_FRACTION, low)))
    # Evenly lit paper (a canvas, a scan) has one level: the closing at the small size shows that.
    rough_level = _window_filter(small, max(3, int(window) | 1), close=dark_ink)
    if _spread(rough_level) < EVEN_LIGHTING:
        return float(np.float32(_median(rough_level)))
    # Otherwise the closing runs at the working resolution: done small and scaled up, it blurred each
    # shadow's edge into a band that read as ink on the shadow's side.
    # In 8 bits: four times faster than in floats, and the image had no more to begin with.
    if gray8 is None:
        gray8 = np.clip(gray * 255.0 + 0.5, 0, 255).astype(np.uint8)
    level = _window_filter(gray8, int(window / scale) | 1, close=dark_ink)
    return level.astype(np.float32) / np.float32(255)


def _median_filter(values: np.ndarray, window: int) -> np.ndarray:
    """Median filter of a float32 image in [0, 1] (in 8 bits: OpenCV's large median windows need them)."""
    return cv2.medianBlur(np.clip(values * 255.0 + 0.5, 0, 255).astype(np.uint8), window).astype(np.float32) / 255.0


def dark_ink(gray: np.ndarray) -> bool:
    """Polarity of a float32 grey image: True for dark ink on light paper.

    Ink is the side that departs most from the local paper level: the median over a window much wider
    than a stroke. A local median, unlike the image's median, follows shadows and lit patches, whose
    large areas would otherwise outweigh thin strokes. Near the corners of large regions (the paper
    inside a dark table edge) the median still departs; there a morphological closing (opening), which
    keeps any shape wider than the window, says no ink: a pixel counts only as far as both agree.
    """
    if max(gray.shape) <= SMALL_DRAWING:
        # A drawing this small comes from a paint program, not a camera: no table around a sheet,
        # and its border is the background it was drawn on, whatever the fat strokes leave between them.
        paper = _even_border(gray)
        if paper is not None:
            return paper
    # Dark strokes are judged on a small copy that keeps them at full contrast however thin: averaged
    # down, a thin pen line on a photo's paper fades until the paper's texture outweighs it. (Light
    # strokes on dark backgrounds come from paint programs and chalk: bold, and kept by averaging.)
    # Half a small pixel of pooling keeps a thin line without eating the paper between fat strokes.
    pool = max(1, round(max(gray.shape) / POLARITY_SIDE / 2))
    darkened = shrink(cv2.erode(gray, np.ones((pool, pool), np.uint8)), POLARITY_SIDE)
    lightened = shrink(gray, POLARITY_SIDE)
    window = max(3, int(POLARITY_WINDOW_FRACTION * max(darkened.shape)) | 1)
    paper_dark = np.minimum(_median_filter(darkened, window), _window_filter(darkened, window, close=True))
    paper_light = np.maximum(_median_filter(lightened, window), _window_filter(lightened, window, close=False))
    # Departures smaller than POLARITY_FLOOR are shading (a vignette's bright centre is a wide, low
    # bump that an opening shaves), not strokes.
    darker = float((paper_dark - darkened - POLARITY_FLOOR).clip(0, None).sum())
    lighter = float((lightened - paper_light - POLARITY_FLOOR).clip(0, None).sum())
    values = (darkened + lightened) / 2
    if max(darker, lighter) < POLARITY_DECISIVE * min(darker, lighter):
        # Close: fat strokes leave gaps of paper as narrow as themselves, and a sheet lying on a dark
        # table is cut by its digit into pieces narrower than the window, so both sides look like
        # ink. A surround settles it: when the image's edge is much darker than most of the image
        # (the table around the sheet), most of the image is paper, and the ink is dark.
        edge = _median(np.concatenate([values[0], values[-1], values[:, 0], values[:, -1]]))
        bulk = _median(values)
        low, high = np.percentile(values, [1, 99])
        if abs(bulk - edge) >= max(MIN_CONTRAST, SURROUND_CONTRAST * float(high - low)):
            return bulk > edge
        # Without a surround, an even border is the page or canvas around a digit cropped tightly: a marker
        # stroke wider than the window is "paper" to the local median, and the paper around it and in
        # its loops "ink", so the two sums mislead (a fat 0 read as its own hole).
        paper = _even_border(values)
        if paper is not None:
            return paper
    return darker >= lighter


def _even_border(values: np.ndarray) -> bool | None:
    """True for an image edge of one light level, False for one dark level, None for a mixed or mid-grey edge."""
    border = np.concatenate([values[0], values[-1], values[:, 0], values[:, -1]])
    level = _median(border)
    if np.mean(np.abs(border - level) < BORDER_UNIFORMITY) >= BORDER_SHARE and abs(level - 0.5) >= 0.25:
        return level > 0.5
    return None


def ink_map(image: Image.Image, side: int = WORK_MAX_SIDE) -> np.ndarray:
    """Float32 (H, W) in [0, 1] at the working resolution (``side`` pixels along the longest side, or the
    image's own if smaller): how much ink each pixel holds, paper 0 whatever its colour or lighting."""
    gray, alpha = raw_arrays(image)
    if dithered(image, gray):
        # Dithered grey paper is a field of dots that ruled-line and speck removal would take for
        # ink (rows of dots look like lines across the page); blurred, it is the grey it stands for.
        gray = cv2.GaussianBlur(gray, (0, 0), DITHER_BLUR)
    if alpha is not None:
        # Transparency is judged and flattened at the working resolution: the same there, and cheaper.
        if (unit(shrink(alpha, POLARITY_SIDE)) < 0.05).mean() >= TRANSPARENT_FRACTION:
            opaque = gray[alpha > 242]
            sample = opaque[:: max(1, opaque.size // 10_000)]
            if opaque.size == 0 or np.ptp(np.percentile(unit(sample), [5, 95])) < OPAQUE_CONTRAST:
                # A canvas export: strokes of one colour on a transparent background, so alpha is the ink.
                return unit(shrink(alpha, side, keep_bright=True))
            # A picture pasted on a transparent page: its own background continues into the
            # transparent part, so the digit is not mistaken for the whole picture.
            paper = _median(unit(sample))
        else:
            # Semi-transparent pixels over white: how the image looks in a viewer.
            paper = 1.0
        alpha = unit(shrink(alpha, side))
        gray = unit(shrink(gray, side)) * alpha + paper * (1.0 - alpha)
    averaged = shrink(gray, side)
    values = np.ascontiguousarray(unit(averaged), dtype=np.float32)
    dark = dark_ink(values)
    if max(gray.shape) >= 2 * side:  # shrunk enough for thin strokes to fade (see shrink)
        averaged = shrink(gray, side, keep_bright=not dark)
        values = np.ascontiguousarray(unit(averaged), dtype=np.float32)
    level = paper_level(values, dark, averaged if averaged.dtype == np.uint8 else None)
    # In place on one working-size array, and a single number for evenly lit paper: every image pays this.
    if dark:
        # Dark ink on light paper: lighting multiplies the paper's brightness, so divide it out.
        if isinstance(level, float):
            result = values / np.float32(max(level, 1e-3))
        else:
            np.maximum(level, np.float32(1e-3), out=level)
            result = cv2.divide(values, level)
        np.subtract(np.float32(1), result, out=result)
    else:
        # Light ink on a dark background (a paint program, a blackboard): subtract the background.
        result = values - np.float32(level) if isinstance(level, float) else cv2.subtract(values, level)
    return np.clip(result, 0, 1, out=result)
