"""Turn any picture of a handwritten digit into what the model was trained on: MNIST's own 28x28 format.

LeCun made MNIST by fitting each binary NIST digit into a 20x20 box (keeping its aspect ratio, with
anti-aliasing, which gives the grey edges) and placing that box in a 28x28 field so that the digit's
centre of mass sits at the centre. People's images are nothing like that: dark ink on white paper,
phone photos with shadows, canvas exports whose background is transparent, ruled paper, specks, huge
resolutions. Every step below undoes one of those differences, then repeats LeCun's recipe:

    open_image  -> EXIF orientation, decoding checks, decompression-bomb guard
    _ink_map    -> transparency, grayscale, polarity, background (lighting) removal: ink bright, paper 0
    _clean_mask -> robust threshold, connected components, ruled lines / frames / specks removed
    _render     -> crop, stroke width brought into MNIST's range, 20x20 fit, centre of mass at (14, 14)

``preprocess`` reads one digit; ``segment_digits`` reads a row of digits ("2024") through the same steps.
Pure numpy + Pillow, no TensorFlow: the CLI must start in well under a second.
"""

from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter, ImageOps, UnidentifiedImageError

from data import IMAGE_SIZE

# --- LeCun's recipe -----------------------------------------------------------------------------
DIGIT_BOX = 20  # MNIST digits are fitted into a 20x20 box ...
CANVAS = IMAGE_SIZE  # ... inside a 28x28 field, centred by centre of mass.
# The fitted digit is drawn at this many times the 20x20 box first, so that stroke width can be
# adjusted in whole pixels and the final downscale (area averaging) gives MNIST-like grey edges.
RENDER_SCALE = 8
# MNIST stroke width, in pixels of the 28x28 image, measured on the MNIST training digits with
# `stroke_width` below (median; 10th-90th percentile 2.3-4.1). Digits outside that range are
# thinned or thickened to the median: a fat marker or a 1-px canvas pen both look like MNIST then.
MNIST_STROKE_WIDTH = 3.0
STROKE_WIDTH_RANGE = (2.3, 4.1)

# --- Input limits --------------------------------------------------------------------------------
MAX_PIXELS = 50_000_000  # refuse larger declared sizes before decoding (a 50 MP photo is ~8700x5800)
MIN_SIDE = 8  # pixels; smaller images cannot hold a recognisable digit
WORK_MAX_SIDE = 640  # photos are shrunk to this longest side first: enough for a digit, fast to process
# JPEGs are decoded at a reduced scale (DCT scaling) when they are at least this much larger.
DRAFT_SIDE = 2 * WORK_MAX_SIDE
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm")

# --- Finding the ink -----------------------------------------------------------------------------
# A canvas export with at least this fraction of fully transparent pixels draws its digit in alpha.
TRANSPARENT_FRACTION = 0.2
# The window for the lighting estimate is measured at this longest side, where it is cheap.
BACKGROUND_SIDE = 160
# The estimate's window is 2.5 stroke widths, at least the first fraction of the longest side and at
# most the second of the shortest: wide enough to ignore texture, narrow enough to follow a shadow,
# and always wider than a fat marker.
# Strokes are measured on the shapes clear of the image edge when the largest spans this fraction of it.
INNER_DIGIT_FRACTION = 0.1
MIN_WINDOW_FRACTION = 1 / 20
MAX_WINDOW_FRACTION = 1 / 3
# Polarity is judged at this longest side against a local median over this fraction of it.
POLARITY_SIDE = 64
POLARITY_WINDOW_FRACTION = 1 / 4
# When neither side wins by this factor, an image edge that differs from the image's median by this
# fraction of its contrast range is a surround (a table, a wall), and the median is the paper.
POLARITY_DECISIVE = 4.0
SURROUND_CONTRAST = 0.4
# A two-tone (1-bit) image with at least this fraction of isolated dots is dithered; it is blurred by
# this radius in its own pixels, looked at in a central crop of this side.
DITHER_DOTS = 0.005
DITHER_BLUR = 1.5
DITHER_SAMPLE_SIDE = 512
MIN_CONTRAST = 0.12  # ink must differ from the paper by this fraction of full scale, or there is no digit
NOISE_SIGMAS = 4.0  # the ink threshold stays this many noise standard deviations above the paper
WEAK_FRACTION = 0.5  # hysteresis: faint pixels above this fraction of the threshold join touching strokes ...
WEAK_EXCESS = 0.2  # ... unless they outnumber the strong ones by this factor and fill areas wider than a stroke

# --- Cleaning ----------------------------------------------------------------------------------
SPECK_FRACTION = 0.03  # components smaller than this fraction of the digit's area are specks
MIN_DIGIT_FRACTION = 0.04  # the digit's longer side must be at least this fraction of the image's
NEARBY_FRACTION = 0.25  # pieces within this fraction of the digit's size belong to it (a broken stroke)
# Ruled lines and frame edges are straight runs of ink across at least this fraction of the image ...
LINE_SPAN = 0.85
LINE_TILT = 0.006  # ... allowed to drift this fraction of their length sideways (a photo's slight tilt)
LINE_GAP = 0.01  # ... and to have gaps this fraction of their length (noise, faint printing),
LINE_THICKNESS = 0.02  # ... and no thicker than this fraction of the image.
LINE_SHARE = 0.6  # a component with this share of its pixels on lines is a line (with specks), not a digit
LINE_BEYOND = 2.0  # a line crossing a digit is erased only when it runs this many times the digit's extent
# Components touching the image edge (shadows, the table around the paper, frames) are passed over
# for one that does not, when that one is at least this fraction of their size ...
BORDER_PREFERENCE = 0.1
# ... or when they run along an image edge for this fraction of its length (a digit cropped tightly
# only touches the edge where its strokes cross it) and the one clear of the edge is digit-sized.
EDGE_RUN = 0.5

# --- Numbers (segment_digits) ------------------------------------------------------------------
MERGE_OVERLAP = 0.5  # components sharing this fraction of the narrower one's width are one digit
DIGIT_ASPECT = 0.75  # a typical digit's width / height; a blob wider than ~1.6 heights holds 2+ digits
SPLIT_ASPECT = 1.25
SPLIT_WIDTH = 1.6  # ... and, beside two or more separate digits, wider than this many times their median width
FRAGMENT_HEIGHT = 0.5  # a piece less tall than this fraction of the digits' (median) height is a fragment
SPACE_FRACTION = 0.6  # a gap wider than this fraction of the median digit height may be a space ...
SPACE_CONTRAST = 2.5  # ... when it is also this many times the number's narrowest gap


# Pillow warns on images between its own limit and twice that; MAX_PIXELS, lower, already refuses them
# with a clear error, so the warning would only be noise. (A module-level filter, unlike
# warnings.catch_warnings, is safe with the web app's threads.)
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)


class ImageError(Exception):
    """An image cannot be used; the message is one line naming the problem."""


class NoDigitError(ImageError):
    """The image is blank or holds nothing digit-like."""


@dataclass(frozen=True)
class Digit:
    """One digit found by segment_number: its (28, 28, 1) image, its columns in the working image, and
    whether a space precedes it."""

    image: np.ndarray
    left: int
    right: int
    space_before: bool


def is_image_path(path: str | os.PathLike) -> bool:
    """True if the file name has an image extension we read (used to list folders)."""
    return os.fspath(path).lower().endswith(IMAGE_EXTENSIONS)


# --- Opening -------------------------------------------------------------------------------------


def open_image(path: str | os.PathLike) -> Image.Image:
    """Open and fully decode an image file, EXIF-rotated; raise ImageError with a one-line reason.

    Animated images give their first frame. Large JPEGs may be decoded at a reduced scale (no smaller
    than DRAFT_SIDE), which preprocessing would do anyway.
    """
    name = os.fspath(path)
    if not os.path.exists(name):
        raise ImageError(f"{name}: no such file")
    if os.path.isdir(name):
        raise ImageError(f"{name}: is a folder, not an image")
    if os.path.getsize(name) == 0:
        raise ImageError(f"{name}: empty file")
    return _decode(name, name)


def open_image_bytes(content: bytes, name: str = "upload") -> Image.Image:
    """open_image for an image file's bytes (an upload); ``name`` is how error messages call it."""
    if not content:
        raise ImageError(f"{name}: empty file")
    return _decode(io.BytesIO(content), name)


def _decode(source: str | io.BytesIO, name: str) -> Image.Image:
    try:
        with Image.open(source) as image:
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise ImageError(f"{name}: {width}x{height} pixels is too large (limit {MAX_PIXELS:,}); possible decompression bomb")
            if image.format == "JPEG" and max(width, height) >= 2 * DRAFT_SIDE:
                image.draft(None, (DRAFT_SIDE, DRAFT_SIDE))
            image.seek(0)  # first frame of an animation
            image.load()
            oriented = ImageOps.exif_transpose(image)
            if oriented is image:
                oriented = image.copy()
    except ImageError:
        raise
    except UnidentifiedImageError:
        raise ImageError(f"{name}: not an image file (or a format Pillow cannot read)") from None
    except Image.DecompressionBombError:
        raise ImageError(f"{name}: declared size is too large; possible decompression bomb") from None
    except (OSError, SyntaxError, ValueError, EOFError) as error:  # Pillow's ways of saying "broken file"
        reason = str(error) or type(error).__name__
        if "truncated" in reason or isinstance(error, EOFError):
            reason = f"truncated or corrupt image data ({reason})"
        raise ImageError(f"{name}: cannot decode image: {reason}") from None
    if min(oriented.size) < MIN_SIDE:
        raise ImageError(f"{name}: {oriented.width}x{oriented.height} pixels is too small to hold a digit (need at least {MIN_SIDE})")
    return oriented


# --- Ink map: transparency, grayscale, polarity, lighting ----------------------------------------


def _to_arrays(image: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    """Gray float32 (H, W) in [0, 1] and alpha float32 (H, W) in [0, 1] (None when opaque), for any mode."""
    mode = image.mode
    if mode == "P" or mode == "PA":
        image = image.convert("RGBA" if ("transparency" in image.info or mode == "PA") else "RGB")
        mode = image.mode
    if mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        values = np.asarray(image, dtype=np.float64)
        # 16-bit and float images have no fixed white level; scale by the type's range when the
        # values fit it, otherwise by the image's own maximum.
        top = float(values.max()) if values.size else 1.0
        if mode == "F" and top <= 1.0:
            scale = 1.0
        elif top <= 255:
            scale = 255.0
        elif top <= 65535:
            scale = 65535.0
        else:
            scale = top
        low = min(float(values.min()), 0.0)
        return np.clip((values - low) / (scale - low), 0, 1).astype(np.float32), None
    alpha = None
    if mode in ("RGBA", "LA", "RGBa", "La"):
        alpha = np.asarray(image.getchannel("A"), dtype=np.float32) / 255.0
        if alpha.min() >= 1.0:
            alpha = None
    if mode == "CMYK":
        # Pillow's CMYK -> RGB ignores ICC profiles but keeps dark ink dark, which is all we need.
        image = image.convert("RGB")
    gray = np.asarray(image.convert("L"), dtype=np.float32) / 255.0
    return gray, alpha


def _shrink(image: Image.Image) -> Image.Image:
    """Downscale so the longest side is at most WORK_MAX_SIDE (area averaging keeps thin strokes as grey)."""
    longest = max(image.size)
    if longest <= WORK_MAX_SIDE:
        return image
    scale = WORK_MAX_SIDE / longest
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    if image.mode.startswith("I;16"):
        # 16-bit greyscale: Pillow cannot resize it, and converting it to RGB clips every value above
        # 255 to white. "I" (32-bit integers) keeps the full range; _to_arrays scales it.
        image = image.convert("I")
    elif image.mode not in ("L", "LA", "RGB", "RGBA", "F", "I"):
        image = image.convert("RGBA" if "A" in image.getbands() or "transparency" in image.info else "RGB")
    return image.resize(size, Image.Resampling.BOX, reducing_gap=3.0)


def _running(values: np.ndarray, size: int, axis: int, pick) -> np.ndarray:
    """Max or min (``pick``) over a centred window of odd ``size`` along ``axis``, edges extended."""
    values = np.moveaxis(values, axis, 0)
    radius = size // 2
    out = np.concatenate([np.repeat(values[:1], radius, axis=0), values, np.repeat(values[-1:], radius, axis=0)])
    # Doubling: after each step out[i] covers a window of `width` starting at i; two overlapping windows make `size`.
    width = 1
    while 2 * width <= size:
        out = pick(out[:-width], out[width:])
        width *= 2
    out = pick(out[: len(out) - (size - width)], out[size - width :])
    return np.moveaxis(out, 0, axis)


def _background(gray: np.ndarray, dark_ink: bool) -> np.ndarray:
    """The paper's own brightness under the lighting, float32 (H, W): the ink erased by a morphological
    closing (opening for light ink) with a window wider than the strokes, which keeps shadow edges sharp."""
    height, width = gray.shape
    scale = min(1.0, BACKGROUND_SIDE / max(height, width))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = np.asarray(Image.fromarray(gray, mode="F").resize(size, Image.Resampling.BOX), dtype=np.float32)
    # The window must be wider than a stroke: measure strokes roughly on a global threshold first.
    ink = 1.0 - small if dark_ink else small
    rough = ink > _otsu(np.clip(ink, 0, 1))
    longest = max(size)
    # A dark table edge or frame around the paper is no stroke: measuring it would widen the window
    # until the closing filled it in as paper, turning it into "ink". So strokes are measured on the
    # shapes clear of the image edge, unless the digit itself touches the edge with only specks inside.
    parts = _components(rough)
    inner = _digits_clear_of_edge(parts)
    if inner.size:
        rough = parts.mask(inner)
    window = 2.5 * stroke_width(rough) + 3
    # The cap is a fraction of the shorter side: in a wide picture (a number written in a row) a
    # window taller than the picture carries the lit half's paper level into a shadowed half.
    window = float(np.clip(window, longest * MIN_WINDOW_FRACTION, max(min(size) * MAX_WINDOW_FRACTION, longest * MIN_WINDOW_FRACTION)))
    # The closing itself runs at full resolution: done small and scaled up, it blurred each shadow's
    # edge into a band that read as ink on the shadow's side.
    window = int(window / scale) | 1
    first, second = (np.maximum, np.minimum) if dark_ink else (np.minimum, np.maximum)
    level = gray
    for pick in (first, second):
        level = _running(_running(level, window, 0, pick), window, 1, pick)
    return level


def _dark_ink(gray: np.ndarray) -> bool:
    """Polarity: True for dark ink on light paper.

    Ink is the side that departs most from the local paper level: the median over a window much wider
    than a stroke. A local median, unlike the image's median, follows shadows and lit patches, whose
    large areas would otherwise outweigh thin strokes. Near the corners of large regions (the paper
    inside a dark table edge) the median still departs; there a morphological closing (opening), which
    keeps any shape wider than the window, says no ink: a pixel counts only as far as both agree.
    """
    height, width = gray.shape
    scale = min(1.0, POLARITY_SIDE / max(height, width))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = Image.fromarray(gray, mode="F").resize(size, Image.Resampling.BOX)
    window = max(3, int(POLARITY_WINDOW_FRACTION * max(size)) | 1)
    values = np.asarray(small, dtype=np.float32)
    median = np.asarray(small.filter(ImageFilter.MedianFilter(window)), dtype=np.float32)
    closing, opening = values, values
    for pick in (np.maximum, np.minimum):
        closing = _running(_running(closing, window, 0, pick), window, 1, pick)
    for pick in (np.minimum, np.maximum):
        opening = _running(_running(opening, window, 0, pick), window, 1, pick)
    darker = float(np.minimum(median - values, closing - values).clip(0, None).sum())
    lighter = float(np.minimum(values - median, values - opening).clip(0, None).sum())
    if max(darker, lighter) < POLARITY_DECISIVE * min(darker, lighter):
        # Close: fat strokes leave gaps of paper as narrow as themselves, and a sheet lying on a dark
        # table is cut by its digit into pieces narrower than the window, so both sides look like
        # ink. A surround settles it: when the image's edge is much darker than most of the image
        # (the table around the sheet), most of the image is paper, and the ink is dark.
        edge = float(np.median(np.concatenate([values[0], values[-1], values[:, 0], values[:, -1]])))
        bulk = float(np.median(values))
        low, high = np.percentile(values, [1, 99])
        if abs(bulk - edge) >= max(MIN_CONTRAST, SURROUND_CONTRAST * float(high - low)):
            return bulk > edge
    return darker >= lighter


def _dithered(image: Image.Image) -> bool:
    """True for a two-tone picture whose grey areas are dithered: a pattern of isolated dots, not strokes."""
    if image.mode not in ("1", "L", "P") or "transparency" in image.info:
        return False
    # A central crop is enough to see the pattern, and cheap on a huge fax.
    width, height = image.size
    side = DITHER_SAMPLE_SIDE
    left, top = max(0, (width - side) // 2), max(0, (height - side) // 2)
    values = np.asarray(image.crop((left, top, left + min(side, width), top + min(side, height))).convert("L"))
    if np.count_nonzero(np.bincount(values.ravel(), minlength=256)) > 2:
        return False
    dark = values < (int(values.min()) + int(values.max())) / 2
    core = dark[1:-1, 1:-1]
    # A dot differs from all eight of its neighbours; a stroke, however thin (a 1-pixel pencil's
    # diagonal), continues along itself.
    isolated = np.ones_like(core)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            if dy or dx:
                isolated &= core != dark[1 + dy : dark.shape[0] - 1 + dy, 1 + dx : dark.shape[1] - 1 + dx]
    return float(isolated.mean()) >= DITHER_DOTS


def _ink_map(image: Image.Image) -> np.ndarray:
    """Float32 (H, W) in [0, 1]: how much ink each pixel holds, paper 0 whatever its colour or lighting."""
    shrunk = _shrink(image)
    if _dithered(image):
        # Dithered grey paper is a field of dots that ruled-line and speck removal would take for
        # ink (rows of dots look like lines across the page); blurred, it is the grey it stands for.
        radius = DITHER_BLUR * shrunk.width / image.width
        shrunk = shrunk.convert("L").filter(ImageFilter.GaussianBlur(radius))
    gray, alpha = _to_arrays(shrunk)
    if alpha is not None:
        transparent = float((alpha < 0.05).mean())
        if transparent >= TRANSPARENT_FRACTION:
            # A canvas export: strokes of any colour on a transparent background, so alpha is the ink.
            return alpha
        # Semi-transparent pixels over white: how the image looks in a viewer.
        gray = gray * alpha + (1.0 - alpha)
    dark_ink = _dark_ink(gray)
    level = _background(gray, dark_ink)
    if dark_ink:
        # Dark ink on light paper: lighting multiplies the paper's brightness, so divide it out.
        return np.clip(1.0 - gray / np.maximum(level, 1e-3), 0, 1)
    # Light ink on a dark background (a paint program, a blackboard): subtract the background.
    return np.clip(gray - level, 0, 1)


# --- Connected components (run-length union-find in numpy) ---------------------------------------


@dataclass
class _Components:
    """8-connected components of a binary mask, with per-component area and bounding box (exclusive ends)."""

    shape: tuple[int, int]
    run_row: np.ndarray
    run_start: np.ndarray
    run_end: np.ndarray
    run_label: np.ndarray
    count: int
    area: np.ndarray
    top: np.ndarray
    bottom: np.ndarray
    left: np.ndarray
    right: np.ndarray

    def label_image(self) -> np.ndarray:
        """Int64 (H, W): each pixel's component label, -1 for background."""
        out = np.full(self.shape, -1, dtype=np.int64)
        lengths = self.run_end - self.run_start
        if lengths.size:
            starts = self.run_row * self.shape[1] + self.run_start
            offsets = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
            out.reshape(-1)[np.repeat(starts, lengths) + offsets] = np.repeat(self.run_label, lengths)
        return out

    def mask(self, labels: np.ndarray) -> np.ndarray:
        """Bool (H, W) of the pixels in the given components."""
        out = np.zeros(self.shape, dtype=bool)
        chosen = np.isin(self.run_label, labels)
        flat = out.reshape(-1)
        starts = self.run_row[chosen] * self.shape[1] + self.run_start[chosen]
        lengths = self.run_end[chosen] - self.run_start[chosen]
        if lengths.size:
            offsets = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
            flat[np.repeat(starts, lengths) + offsets] = True
        return out


def _horizontal_runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The horizontal runs of True pixels of a bool (H, W) mask, in reading order: row, start column, end column (exclusive)."""
    height, width = mask.shape
    padded = np.zeros((height, width + 2), dtype=np.int8)
    padded[:, 1:-1] = mask
    steps = np.diff(padded, axis=1)
    rows, starts = np.nonzero(steps == 1)
    _, ends = np.nonzero(steps == -1)
    return rows, starts, ends


def _components(mask: np.ndarray) -> _Components:
    """Label the 8-connected components of a bool (H, W) mask."""
    height, width = mask.shape
    start_rows, starts, ends = _horizontal_runs(mask)
    n = starts.size
    stride = width + 2
    # Runs in the next row touch run i (8-connected) when their start <= end_i and their end >= start_i.
    start_keys = start_rows * stride + starts
    end_keys = start_rows * stride + ends
    lo = np.searchsorted(end_keys, (start_rows + 1) * stride + starts, side="left")
    hi = np.searchsorted(start_keys, (start_rows + 1) * stride + ends, side="right")
    counts = np.clip(hi - lo, 0, None)
    a = np.repeat(np.arange(n), counts)
    b = np.repeat(lo, counts) + (np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts))
    parent = np.arange(n)
    while a.size:
        # Hook each edge's larger root onto the smaller, then jump pointers until every run sees its root.
        root_a, root_b = parent[a], parent[b]
        differ = root_a != root_b
        if not differ.any():
            break
        low = np.minimum(root_a[differ], root_b[differ])
        np.minimum.at(parent, root_a[differ], low)
        np.minimum.at(parent, root_b[differ], low)
        while True:
            jumped = parent[parent]
            if np.array_equal(jumped, parent):
                break
            parent = jumped
    roots, labels = np.unique(parent, return_inverse=True)
    count = roots.size
    lengths = ends - starts
    area = np.bincount(labels, weights=lengths, minlength=count).astype(np.int64)
    top = np.full(count, height)
    bottom = np.zeros(count, dtype=np.int64)
    left = np.full(count, width)
    right = np.zeros(count, dtype=np.int64)
    np.minimum.at(top, labels, start_rows)
    np.maximum.at(bottom, labels, start_rows + 1)
    np.minimum.at(left, labels, starts)
    np.maximum.at(right, labels, ends)
    return _Components((height, width), start_rows, starts, ends, labels, count, area, top, bottom, left, right)


# --- Threshold and clean -------------------------------------------------------------------------


def _otsu(values: np.ndarray) -> float:
    """Otsu's threshold of values in [0, 1] (256 bins)."""
    histogram, edges = np.histogram(values, bins=256, range=(0.0, 1.0))
    weights = histogram.astype(np.float64)
    centres = (edges[:-1] + edges[1:]) / 2
    below = np.cumsum(weights)
    above = below[-1] - below
    sum_below = np.cumsum(weights * centres)
    mean_below = sum_below / np.maximum(below, 1e-12)
    mean_above = (sum_below[-1] - sum_below) / np.maximum(above, 1e-12)
    between = below * above * (mean_below - mean_above) ** 2
    return float(edges[int(np.argmax(between)) + 1])


@dataclass
class _Ink:
    """The ink map and its cleaned binary mask, with the threshold used (in ink units)."""

    ink: np.ndarray
    threshold: float
    parts: _Components
    keep: np.ndarray  # component labels that are content (digits), not lines, frames or specks


def _threshold(ink: np.ndarray) -> tuple[np.ndarray, float]:
    """Binary ink mask by Otsu with a noise floor, extended by hysteresis; raise NoDigitError on blank images."""
    if float(np.percentile(ink, 99.9)) < MIN_CONTRAST and float(ink.max()) < 2 * MIN_CONTRAST:
        raise NoDigitError("no digit found (blank or near-blank image)")
    # Paper noise (texture, JPEG): median absolute deviation of the mostly-paper ink map.
    paper = ink
    if float(np.median(ink)) >= MIN_CONTRAST:
        # Ink covers most of the picture (a fat digit cropped tightly): the paper's noise is judged on
        # the paper's side of Otsu's split, not on a median that falls inside the strokes.
        paper = ink[ink <= _otsu(np.clip(ink, 0, 1))]
    median = float(np.median(paper))
    sigma = 1.4826 * float(np.median(np.abs(paper - median)))
    floor = max(median + NOISE_SIGMAS * sigma, MIN_CONTRAST / 2)
    liberal = ink > floor
    # Ruled lines and frames can be darker than the writing; they must not set the threshold. Nor can
    # the table or frame around the paper (regions along the image edge) when a digit lies clear of it.
    setting = liberal & ~_lines(liberal)
    regions = _components(liberal)
    if _digits_clear_of_edge(regions).size:
        edge = np.flatnonzero(_touches_border(regions, np.arange(regions.count)))
        surround = edge[_runs_along_edge(regions, edge)]
        if surround.size:
            setting &= ~regions.mask(surround)
    candidates = ink[setting]
    if candidates.size < 4:
        raise NoDigitError("no digit found (blank or near-blank image)")
    # Otsu among the pixels above the noise floor: ink vs paper texture, not balanced by the paper's area.
    threshold = max(_otsu(np.clip(candidates, 0, 1)), floor, MIN_CONTRAST)
    strong = ink > threshold
    weak = ink > max(WEAK_FRACTION * threshold, floor)
    faint = weak & ~strong
    if faint.sum() > WEAK_EXCESS * strong.sum():
        # More faint ink than the edges of the strokes explain: a soft shadow's edge or a smudge, which
        # hysteresis would join to the digit it touches. Faint areas wider than a stroke are dropped
        # (an opening: what a disk of the stroke's width fits in); faint strokes and grey edges stay.
        window = 2 * int(np.ceil(stroke_width(strong))) + 1
        wide = faint.astype(np.uint8)
        for pick in (np.minimum, np.maximum):
            wide = _running(_running(wide, window, 0, pick), window, 1, pick)
        weak &= ~wide.astype(bool)
    parts = _components(weak)
    # Keep the faint pixels only where their component also holds strong ink.
    label_image = parts.label_image()
    strong_labels = np.unique(label_image[strong & weak])
    return np.isin(label_image, strong_labels[strong_labels >= 0]), threshold


def _horizontal_lines(mask: np.ndarray) -> np.ndarray:
    """Bool mask of the pixels on straight horizontal runs that cross (almost) the whole image."""
    height, width = mask.shape
    tilt = max(1, round(LINE_TILT * width))
    # Cheap test first: a line puts at least half its length of ink into some band of rows.
    band = np.convolve(mask.sum(axis=1), np.ones(2 * tilt + 1), mode="same")
    if band.max(initial=0) < 0.5 * LINE_SPAN * width:
        return np.zeros_like(mask)
    # Thicken vertically a little so a slightly tilted line (a phone photo) still forms long runs.
    grown = mask.copy()
    for shift in range(1, tilt + 1):
        grown[shift:] |= mask[:-shift]
        grown[:-shift] |= mask[shift:]
    # ... and bridge the gaps that noise and faint printing leave along a line.
    bridged = grown.copy()
    for shift in range(1, max(1, round(LINE_GAP * width)) + 1):
        bridged[:, shift:] |= grown[:, :-shift]
    grown = bridged
    length = round(LINE_SPAN * width)
    # full[:, i]: the window of `length` pixels starting at column i is all ink.
    cumulative = np.concatenate([np.zeros((height, 1), np.int32), np.cumsum(grown, axis=1, dtype=np.int32)], axis=1)
    full = np.zeros((height, width), np.int32)
    full[:, : width - length + 1] = (cumulative[:, length:] - cumulative[:, : width - length + 1]) == length
    # A pixel is on the line when some full window covers it.
    starts = np.concatenate([np.zeros((height, 1), np.int32), np.cumsum(full, axis=1, dtype=np.int32)], axis=1)
    lagged = np.concatenate([np.zeros((height, length), np.int32), starts[:, 1 : width + 1 - length]], axis=1)
    covered = ((starts[:, 1:] - lagged) > 0) & mask
    if not covered.any():
        return covered
    # Only thin pieces are the line itself: where a digit's stroke crosses it, the ink runs on
    # across the line, and that stroke stays.
    return covered & (_run_lengths(mask.T).T <= max(3, round(LINE_THICKNESS * height)))


def _run_lengths(mask: np.ndarray) -> np.ndarray:
    """Int (H, W): for each True pixel, the length of the horizontal run of True pixels holding it."""
    height, width = mask.shape
    rows, starts, ends = _horizontal_runs(mask)
    lengths = ends - starts
    out = np.zeros((height, width), dtype=np.int32)
    if lengths.size:
        offsets = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        out.reshape(-1)[np.repeat(rows * width + starts, lengths) + offsets] = np.repeat(lengths, lengths)
    return out


def _lines(mask: np.ndarray) -> np.ndarray:
    """Bool mask of ruled-line and frame pixels: straight runs across (almost) the whole image."""
    return _horizontal_lines(mask) | _horizontal_lines(mask.T).T


def _clean(ink: np.ndarray) -> _Ink:
    """Threshold the ink map, erase ruled lines and frames, and keep the components that are not specks."""
    mask, threshold = _threshold(ink)
    lines = _lines(mask)
    if lines.any():
        parts = _components(mask)
        labels = parts.label_image()
        on_line = np.bincount(labels[lines], minlength=parts.count)
        stripped = mask.copy()
        for label in np.flatnonzero(on_line):
            component = labels == label
            rest = component & ~lines
            if on_line[label] >= LINE_SHARE * parts.area[label] or not rest.any():
                stripped &= ~component  # a line or frame with at most some specks on it
                continue
            # A digit crossed by a line: erase the line only if it runs well beyond the digit, so that
            # the top bar of a 7 filling a tightly cropped image stays.
            line_part = component & lines
            if _extent(line_part, 1) >= LINE_BEYOND * _extent(rest, 1) or _extent(line_part, 0) >= LINE_BEYOND * _extent(rest, 0):
                stripped &= ~line_part
        if stripped.any():
            mask = stripped
    parts = _components(mask)
    if parts.count == 0:
        raise NoDigitError("no digit found (only lines or frames)")
    largest = int(parts.area.max())
    content = np.flatnonzero(parts.area >= max(SPECK_FRACTION * largest, 2))
    if content.size == 0:
        raise NoDigitError("no digit found (only specks)")
    return _Ink(ink, threshold, parts, content)


def _extent(mask: np.ndarray, axis: int) -> float:
    """How far a mask's pixels spread along columns (axis=1) or rows (axis=0), ignoring stray pixels."""
    coordinates = np.nonzero(mask)[axis]
    if coordinates.size == 0:
        return 0.0
    low, high = np.percentile(coordinates, [2, 98])
    return float(high - low + 1)


def _touches_border(parts: _Components, labels: np.ndarray) -> np.ndarray:
    height, width = parts.shape
    return (parts.top[labels] == 0) | (parts.left[labels] == 0) | (parts.bottom[labels] == height) | (parts.right[labels] == width)


def _runs_along_edge(parts: _Components, labels: np.ndarray) -> np.ndarray:
    """Bool per label: the component covers at least EDGE_RUN of one image side (a table, a frame, a shadow)."""
    height, width = parts.shape
    lengths = parts.run_end - parts.run_start
    top = np.bincount(parts.run_label[parts.run_row == 0], lengths[parts.run_row == 0], parts.count)
    bottom = np.bincount(parts.run_label[parts.run_row == height - 1], lengths[parts.run_row == height - 1], parts.count)
    left = np.bincount(parts.run_label[parts.run_start == 0], minlength=parts.count)
    right = np.bincount(parts.run_label[parts.run_end == width], minlength=parts.count)
    along = np.maximum(np.maximum(top, bottom) / width, np.maximum(left, right) / height)
    return along[labels] >= EDGE_RUN


def _digit_sized(parts: _Components, labels: np.ndarray) -> np.ndarray:
    """Bool per label: the component's longer side is at least INNER_DIGIT_FRACTION of the image's."""
    sides = np.maximum(parts.bottom - parts.top, parts.right - parts.left)[labels]
    return sides >= INNER_DIGIT_FRACTION * max(parts.shape)


def _digits_clear_of_edge(parts: _Components) -> np.ndarray:
    """Labels of the components clear of the image edge, if any of them is digit-sized; otherwise none,
    as then the digit itself must be touching the edge."""
    inner = np.flatnonzero(~_touches_border(parts, np.arange(parts.count)))
    return inner if _digit_sized(parts, inner).any() else inner[:0]


def _main_digit(found: _Ink) -> np.ndarray:
    """Labels of the digit: the largest content component (preferring one clear of the image edge) and
    the pieces near it, such as the detached bar of a 5."""
    parts, content = found.parts, found.keep
    border = _touches_border(parts, content)
    inner = content[~border]
    main = int(content[np.argmax(parts.area[content])])
    if inner.size:
        best = int(inner[np.argmax(parts.area[inner])])
        if (
            not border.any()
            or parts.area[best] >= BORDER_PREFERENCE * parts.area[main]
            # The paper's digit, not the table or frame around the paper that dwarfs it.
            or (_runs_along_edge(parts, np.array([main]))[0] and _digit_sized(parts, np.array([best]))[0])
        ):
            main = best
    height, width = parts.shape
    if max(parts.bottom[main] - parts.top[main], parts.right[main] - parts.left[main]) < MIN_DIGIT_FRACTION * max(height, width):
        raise NoDigitError("no digit found (only specks)")
    # Specks are judged against the digit itself: against a table that dwarfs it, its broken strokes
    # would all look like specks.
    content = np.flatnonzero(parts.area >= max(SPECK_FRACTION * parts.area[main], 2))
    chosen = [main]
    top, bottom, left, right = parts.top[main], parts.bottom[main], parts.left[main], parts.right[main]
    for _ in range(2):  # twice, so a chain of pieces (a dashed stroke) is followed
        margin = NEARBY_FRACTION * max(bottom - top, right - left)
        near = (
            (parts.left[content] < right + margin)
            & (parts.right[content] > left - margin)
            & (parts.top[content] < bottom + margin)
            & (parts.bottom[content] > top - margin)
            # Regions at the edge that reach beyond the digit (shadows, the table, a frame) are not pieces of it.
            & ~(
                _touches_border(parts, content)
                & (
                    (parts.left[content] < left - margin)
                    | (parts.right[content] > right + margin)
                    | (parts.top[content] < top - margin)
                    | (parts.bottom[content] > bottom + margin)
                )
            )
        )
        chosen = np.unique(np.concatenate([chosen, content[near]]))
        top, bottom = parts.top[chosen].min(), parts.bottom[chosen].max()
        left, right = parts.left[chosen].min(), parts.right[chosen].max()
    return chosen


# --- Render: crop, stroke width, 20x20 fit, centre of mass ---------------------------------------


def _shift(mask: np.ndarray, dy: int, dx: int) -> np.ndarray:
    out = np.zeros_like(mask)
    h, w = mask.shape
    out[max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = mask[max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)]
    return out


def _morph(mask: np.ndarray, radius: int, grow: bool) -> np.ndarray:
    """Dilate (grow) or erode a bool mask by `radius` pixels with an octagon (alternating square and cross)."""
    for step in range(radius):
        neighbours = ((0, 1), (0, -1), (1, 0), (-1, 0))
        if step % 2:
            neighbours += ((1, 1), (1, -1), (-1, 1), (-1, -1))
        result = mask.copy()
        for dy, dx in neighbours:
            if grow:
                result |= _shift(mask, dy, dx)
            else:
                result &= _shift(mask, dy, dx)
        mask = result
    return mask


def stroke_width(mask: np.ndarray) -> float:
    """Mean stroke width in pixels of a bool mask: twice the area over the boundary length."""
    area = int(mask.sum())
    if area == 0:
        return 0.0
    interior = _morph(np.pad(mask, 1), 1, grow=False)[1:-1, 1:-1]
    boundary = area - int(interior.sum())
    # A stroke of width w and length L has area w*L and two edges of length L; boundary pixels sit
    # half a pixel inside the edge, hence the +1.
    return 2.0 * area / max(boundary, 1) + 1.0


def _render(found: _Ink, labels: np.ndarray, columns: tuple[int, int] | None = None) -> np.ndarray:
    """The chosen components as a float32 (28, 28, 1) MNIST digit."""
    parts = found.parts
    mask = parts.mask(labels)
    if columns is not None:
        mask[:, : columns[0]] = False
        mask[:, columns[1] :] = False
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        raise NoDigitError("no digit found (blank or near-blank image)")
    top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    # Anti-aliased edges belong to the digit too: take the ink map around the mask, one pixel wide.
    near = _morph(mask[max(top - 1, 0) : bottom + 1, max(left - 1, 0) : right + 1], 1, grow=True)
    ink = found.ink[max(top - 1, 0) : bottom + 1, max(left - 1, 0) : right + 1] * near
    # Offsets of the digit's box inside the padded crop.
    pad_top, pad_left = top - max(top - 1, 0), left - max(left - 1, 0)
    box_h, box_w = bottom - top, right - left
    # Draw the digit with its longer side RENDER_SCALE * 20 pixels; threshold there for smooth edges.
    scale = RENDER_SCALE * DIGIT_BOX / max(box_h, box_w)
    size = (max(1, round(ink.shape[1] * scale)), max(1, round(ink.shape[0] * scale)))
    big = np.asarray(Image.fromarray(ink.astype(np.float32), mode="F").resize(size, Image.Resampling.BILINEAR))
    binary = big > found.threshold * 0.75
    y0, x0 = round(pad_top * scale), round(pad_left * scale)
    y1 = min(binary.shape[0], y0 + max(1, round(box_h * scale)))
    x1 = min(binary.shape[1], x0 + max(1, round(box_w * scale)))
    binary = binary[y0:y1, x0:x1]
    binary = _normalize_strokes(binary)
    return _fit_and_centre(binary)


def _normalize_strokes(binary: np.ndarray) -> np.ndarray:
    """Thin fat-marker strokes or thicken hairlines (at RENDER_SCALE) into MNIST's stroke width range."""
    width = stroke_width(binary) / RENDER_SCALE
    low, high = STROKE_WIDTH_RANGE
    if low <= width <= high or width == 0:
        return binary
    radius = round(abs(width - MNIST_STROKE_WIDTH) * RENDER_SCALE / 2)
    if radius == 0:
        return binary
    padded = np.pad(binary, radius + 1)
    if width > high:
        thinned = _morph(padded, radius, grow=False)
        # Never erase a stroke entirely: erode less if too much of the digit would vanish.
        while radius > 1 and thinned.sum() < 0.25 * binary.sum():
            radius -= 1
            thinned = _morph(padded, radius, grow=False)
        result = thinned
    else:
        result = _morph(padded, radius, grow=True)
    rows = np.flatnonzero(result.any(axis=1))
    cols = np.flatnonzero(result.any(axis=0))
    if rows.size == 0:
        return binary
    return result[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def _fit_and_centre(binary: np.ndarray) -> np.ndarray:
    """Fit a bool digit mask into 20x20 (aspect kept, area-averaged), centre its mass in 28x28: float32 (28, 28, 1)."""
    height, width = binary.shape
    scale = DIGIT_BOX / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    digit = Image.fromarray(binary.astype(np.uint8) * 255, mode="L").resize(size, Image.Resampling.BOX)
    pixels = np.asarray(digit, dtype=np.float64)
    total = pixels.sum()
    if total == 0:
        raise NoDigitError("no digit found (blank or near-blank image)")
    rows, cols = np.indices(pixels.shape)
    centre_y, centre_x = (rows * pixels).sum() / total, (cols * pixels).sum() / total
    # Put the centre of mass at pixel (14, 14) as in MNIST (measured: mean 13.99, 14.00), keeping the box inside.
    top = int(np.clip(round(CANVAS / 2 - centre_y), 0, CANVAS - size[1]))
    left = int(np.clip(round(CANVAS / 2 - centre_x), 0, CANVAS - size[0]))
    canvas = np.zeros((CANVAS, CANVAS), dtype=np.uint8)
    canvas[top : top + size[1], left : left + size[0]] = np.asarray(digit)
    # data.normalize's semantics: uint8 / 255 as float32, one channel.
    return (canvas.astype(np.float32) / 255.0)[..., np.newaxis]


# --- Public API ----------------------------------------------------------------------------------


def preprocess(image: Image.Image) -> np.ndarray:
    """Any PIL image of one digit -> float32 (28, 28, 1) in [0, 1], white on black, MNIST-style.

    Raises NoDigitError for a blank or near-blank image and ImageError for one too small to use.
    """
    if min(image.size) < MIN_SIDE:
        raise ImageError(f"{image.width}x{image.height} pixels is too small to hold a digit (need at least {MIN_SIDE})")
    found = _clean(_ink_map(image))
    return _render(found, _main_digit(found))


def segment_number(image: Image.Image) -> list[Digit]:
    """The digits of a number written in a row, left to right, each rendered like preprocess does."""
    if min(image.size) < MIN_SIDE:
        raise ImageError(f"{image.width}x{image.height} pixels is too small to hold a digit (need at least {MIN_SIDE})")
    found = _clean(_ink_map(image))
    parts, content = found.parts, found.keep
    main = _main_digit(found)  # validates that something digit-sized exists
    # The row: components whose vertical middle lies within the band of the largest digit.
    anchor = main[np.argmax(parts.area[main])]
    band_top, band_bottom = parts.top[anchor], parts.bottom[anchor]
    band = band_bottom - band_top
    middles = (parts.top[content] + parts.bottom[content]) / 2
    in_row = content[(middles > band_top - 0.5 * band) & (middles < band_bottom + 0.5 * band)]
    border = _touches_border(parts, in_row) & (parts.area[in_row] > 2 * parts.area[anchor])
    in_row = in_row[~border]
    # Group components that overlap horizontally (broken strokes of one digit), left to right.
    order = in_row[np.argsort(parts.left[in_row])]
    groups: list[list[int]] = []
    for label in order:
        left, right = parts.left[label], parts.right[label]
        if groups:
            g_left = min(parts.left[g] for g in groups[-1])
            g_right = max(parts.right[g] for g in groups[-1])
            overlap = min(right, g_right) - max(left, g_left)
            if overlap >= MERGE_OVERLAP * min(right - left, g_right - g_left):
                groups[-1].append(int(label))
                continue
        groups.append([int(label)])
    def height(group: list[int]) -> int:
        return max(parts.bottom[g] for g in group) - min(parts.top[g] for g in group)

    def span(group: list[int]) -> tuple[int, int]:
        return min(parts.left[g] for g in group), max(parts.right[g] for g in group)

    # A flat fragment (the detached bar of a 5, the tail of a 2) is no digit of its own: it joins
    # the nearest group beside it, so it can neither add a digit nor be read as a "1" or a "7".
    median_height = float(np.median([height(group) for group in groups]))
    merged = True
    while merged and len(groups) > 1:
        merged = False
        for index, group in enumerate(groups):
            if height(group) >= FRAGMENT_HEIGHT * median_height:
                continue
            left, right = span(group)
            neighbours = [i for i in (index - 1, index + 1) if 0 <= i < len(groups)]
            gaps = [max(left - span(groups[i])[1], span(groups[i])[0] - right, 0) for i in neighbours]
            target = neighbours[int(np.argmin(gaps))]
            groups[target] = groups[target] + group
            del groups[index]
            merged = True
            break
    heights = [height(group) for group in groups]
    median_height = float(np.median(heights))
    widths = [span(group)[1] - span(group)[0] for group in groups]
    pieces: list[tuple[np.ndarray, int, int]] = []
    for index, group in enumerate(groups):
        labels = np.array(group)
        left, right = int(parts.left[labels].min()), int(parts.right[labels].max())
        top, bottom = int(parts.top[labels].min()), int(parts.bottom[labels].max())
        # Beside digits written apart, a blob holds two only if it is about twice as wide as they are:
        # a wide 2 or 0 among them is one digit.
        others = widths[:index] + widths[index + 1 :]
        if len(others) >= 2 and right - left <= SPLIT_WIDTH * float(np.median(others)):
            ranges = [(0, right - left)]
        else:
            ranges = _split_wide(parts.mask(labels)[top:bottom, left:right], max(bottom - top, median_height))
        for piece_left, piece_right in ranges:
            columns = (left + piece_left, left + piece_right)
            pieces.append((_render(found, labels, columns), columns[0], columns[1]))
    gaps = [left - previous[2] for previous, (_, left, _) in zip(pieces, pieces[1:], strict=False)]
    # A space must be wide for the handwriting and stand out from the number's ordinary spacing,
    # so a narrow "1" beside a wide gap, or two digits far apart, read as one number without spaces.
    ordinary = min(gaps, default=0)
    spaces = [False] + [gap > SPACE_FRACTION * median_height and gap > SPACE_CONTRAST * max(ordinary, 1) for gap in gaps]
    return [Digit(image, left, right, space) for (image, left, right), space in zip(pieces, spaces, strict=True)]


def _split_wide(mask: np.ndarray, height: float) -> list[tuple[int, int]]:
    """Column ranges of the digits in a blob; a blob much wider than a digit is cut at its thinnest columns."""
    width = mask.shape[1]
    if width <= SPLIT_ASPECT * height:
        return [(0, width)]
    count = max(2, round(width / (DIGIT_ASPECT * height)))
    profile = mask.sum(axis=0).astype(np.float64)
    # Vertical runs of ink in each column: where two digits touch, a column crosses only the joint.
    runs = np.count_nonzero(np.diff(mask.astype(np.int8), axis=0, prepend=0) == 1, axis=0)
    cuts = []
    for k in range(1, count):
        # Cut at the emptiest column near where an evenly spaced cut would fall.
        centre = round(k * width / count)
        reach = max(1, round(0.25 * width / count))
        low, high = max(1, centre - reach), min(width - 1, centre + reach + 1)
        if high <= low:
            continue
        best = low + int(np.lexsort((profile[low:high], runs[low:high]))[0])
        if runs[best] > 1:
            # Every column there crosses two strokes or more: the loop of a wide 0, the arc and base
            # of a wide 2. That is one digit, not two touching.
            return [(0, width)]
        cuts.append(best)
    edges = [0, *sorted(set(cuts)), width]
    pieces = [(a, b) for a, b in zip(edges[:-1], edges[1:], strict=True) if b > a]
    # Every piece of a split must be a digit, as tall as most of the blob: a wide 2 cut at its
    # thinnest column leaves a flat tail, and then the blob was one digit all along.
    rows = [np.flatnonzero(mask[:, a:b].any(axis=1)) for a, b in pieces]
    if any(r.size == 0 or r[-1] - r[0] + 1 < FRAGMENT_HEIGHT * mask.shape[0] for r in rows):
        return [(0, width)]
    return pieces


def segment_digits(image: Image.Image) -> list[np.ndarray]:
    """A number written in a row -> its digits left to right, each float32 (28, 28, 1) like preprocess."""
    return [digit.image for digit in segment_number(image)]


def number_text(digits: list[Digit], labels: list[int]) -> str:
    """The number as text, with a space where the writer left a wide gap ("31 415")."""
    return "".join((" " if digit.space_before else "") + str(label) for digit, label in zip(digits, labels, strict=True))
