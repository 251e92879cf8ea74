"""Clean: threshold the ink map (Otsu above the paper's noise, hysteresis), erase ruled lines and frames,
and label what is left (connected components) -> Ink."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from .common import Components, NoDigitError, binary_image, components, disk, stroke_width
from .ink import MIN_CONTRAST, inner_components, otsu

NOISE_SIGMAS = 4.0  # the ink threshold stays this many noise standard deviations above the paper
NOISE_SAMPLE = 40_000  # pixels; larger ink maps are sampled for the paper's noise level
WEAK_FRACTION = 0.5  # hysteresis: faint pixels above this fraction of the threshold join touching strokes ...
WEAK_EXCESS = 0.2  # ... unless they outnumber the strong ones by this factor and fill areas wider than a stroke
SPECK_FRACTION = 0.03  # components smaller than this fraction of the largest one's area are specks
EDGE_RUN = 0.5  # a component covering this fraction of an image side is a surround (a table, a frame, a shadow)
# Ruled lines and frame edges are straight runs of ink across at least this fraction of the image ...
LINE_SPAN = 0.85
LINE_TILT = 0.006  # ... allowed to drift this fraction of their length sideways (a photo's slight tilt)
LINE_GAP = 0.01  # ... and to have gaps this fraction of their length (noise, faint printing),
# Ruled lines photographed at an angle slope up to this many rows per column; slopes are tried in
# SLOPE_STEPS steps each way, on at most SLOPE_SAMPLE ink pixels.
MAX_SLOPE = 0.15
SLOPE_STEPS = 10
SLOPE_SAMPLE = 1500
SLOPE_GAIN = 1.2  # ... and a slope is taken when its fullest row holds this many times the level one's ink,
SLOPE_REFINE = 3  # ... then refined in this many finer steps each way, to within a sixth of a step.
# A photo taken at an angle fans its ruled lines out (perspective) and bows them (the lens): no one slope
# fits them all within LINE_TILT, so after the lines one slope finds, the rest are searched for theirs,
# up to this many slopes.
MAX_LINE_SLOPES = 6
LINE_THICKNESS = 0.02  # ... and no thicker than this fraction of the image.
EDGE_SLACK = 0.05  # a line this close (fraction of the image) to an image edge runs on to it
# A component holding this many lines both across and down is squared paper with the digits on it: its lines go
# even where the digits fill the picture. Realistic numbers of seeds 0-6: 3 more read right, none worse; of 5,174
# benchmark inputs (real digits and not-digits, realistic singles and numbers cut without the model), 3 changed
# their 28x28s (one single, with the same answer).
GRID_LINES = 3
LINE_SHARE = 0.6  # a component with this share of its pixels on lines is a line (with specks), not a digit
# A digit crossed out by stray lines (thin straight strokes at any angle, drawn over it to test a
# recognizer): a component spanning STRAY_SPAN of both image sides, whose thick strokes (what a disk
# of radius 1/STRAY_THINNESS of the mean stroke width fits in, at most STRAY_RADIUS pixels: a line over a
# fat marker's digit is no thicker than over any other, and a large disk is slow) hold STRAY_THICK_SHARE of its ink, loses
# the thin straight runs at least STRAY_LENGTH of the image's longer side long (the digit's strokes
# cut them into pieces, each at least STRAY_PIECE of that side, joined across gaps up to STRAY_GAP)
# that begin and end outside the thick strokes' box: drawn across the digit, not a thin stroke of its
# own, which ends in it.
STRAY_SPAN = 0.85
STRAY_THINNESS = 3
STRAY_RADIUS = 4
STRAY_GAP = 0.15
STRAY_PIECE = 0.05
STRAY_THICK_SHARE = 0.3
STRAY_LENGTH = 0.4
LINE_BEYOND = 2.0  # a line crossing a digit is erased only when it runs this many times the digit's extent, on both sides
# ... the digit being what is left of the component without the line, less its pieces under this share of the largest
# one: stubs of the line the search missed (its ends at the image edge, a thick spot) are no part of the digit's extent.
LINE_STUB = 0.1


@dataclass
class Ink:
    """The ink map and its cleaned binary mask's components, with the threshold used (in ink units)."""

    ink: np.ndarray
    threshold: float
    parts: Components
    keep: np.ndarray  # component numbers that are content (digits), not lines, frames or specks


def _open(mask: np.ndarray, height: int, width: int) -> np.ndarray:
    """Morphological opening of a uint8 mask with a (height, width) rectangle: the pixels that some
    all-ink rectangle of that size covers."""
    return cv2.morphologyEx(mask, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (width, height)))


def _sums(binary: np.ndarray, axis: int) -> np.ndarray:
    """Pixel counts of a uint8 0/1 image's columns (axis=0) or rows (axis=1), in one vectorized OpenCV pass."""
    return cv2.reduce(binary, axis, cv2.REDUCE_SUM, dtype=cv2.CV_32S).ravel()


def _horizontal_lines(mask: np.ndarray) -> tuple[np.ndarray, bool]:
    """Bool mask of the pixels on straight horizontal runs that cross (almost) the whole image, and whether
    any such run was found before thick strokes were taken out of it: when none was, no part of this mask
    holds one either (every step is monotone in the mask), so a subset of it need not be searched."""
    height, width = mask.shape
    tilt = max(1, round(LINE_TILT * width))
    binary = binary_image(mask)
    # Thicken vertically a little so a slightly tilted line (a phone photo) still forms long runs.
    grown = cv2.dilate(binary, np.ones((2 * tilt + 1, 1), np.uint8))
    # Cheap test first: a row of the thickened mask holding a line holds at least half its length of
    # ink (the rest gaps); most images have no such row, and stop here.
    length = round(LINE_SPAN * width)
    rows = np.flatnonzero(_sums(grown, 1) >= 0.5 * length)
    covered = np.zeros(mask.shape, dtype=bool)
    if rows.size == 0:
        return covered, False
    # Bridge the gaps that noise and faint printing leave along a line (each pixel also takes the ink
    # of the `gap` pixels to its left); a line's pixels then lie on horizontal runs at least `length`
    # long (an opening with a 1 x length segment).
    gap = max(1, round(LINE_GAP * width))
    bridged = cv2.dilate(grown[rows], np.ones((1, gap + 1), np.uint8), anchor=(gap, 0))
    covered[rows] = (_open(bridged, 1, length) > 0) & mask[rows]
    if not covered.any():
        return covered, False
    # Only thin pieces are the line itself: where a digit's stroke crosses it, the ink runs on
    # across the line, and that stroke stays.
    thick = _open(binary, max(3, round(LINE_THICKNESS * height)) + 1, 1) > 0
    return covered & ~thick, True


def _vertical_lines(mask: np.ndarray) -> tuple[np.ndarray, bool]:
    """_horizontal_lines turned a quarter: pixels on straight vertical runs across (almost) the whole image."""
    height, width = mask.shape
    # _horizontal_lines' cheap test on the columns, without the transposed copy of the mask that finding
    # the lines themselves takes: the same dilation (across, by the tilt the image's height allows) and
    # the same counts, so an image it turns away would have come back empty there too.
    tilt = max(1, round(LINE_TILT * height))
    grown = cv2.dilate(binary_image(mask), np.ones((1, 2 * tilt + 1), np.uint8))
    if not np.any(_sums(grown, 0) >= 0.5 * round(LINE_SPAN * height)):
        return np.zeros(mask.shape, dtype=bool), False
    # OpenCV's transpose of the uint8 view, read back as bool: a far cheaper copy than numpy's cast.
    found, runs = _horizontal_lines(cv2.transpose(binary_image(mask)).view(bool))
    return found.T, runs


def _slope(mask: np.ndarray, tried: Sequence[int] = (), refine: bool = False) -> tuple[float, int]:
    """The slope (rows per column) of sloping ruled lines in a bool mask, 0 when there are none or they
    are level: the shear under which some row of the sheared mask holds the most ink (a Radon transform
    over a few angles, on a sample of the ink), when that row could hold a line; and the number of the
    search's step it was (``refine``) refined from (0 for -MAX_SLOPE). The steps in ``tried`` are passed over."""
    height, width = mask.shape
    count = np.count_nonzero(mask)
    if count < LINE_SPAN * width:
        return 0.0, SLOPE_STEPS
    step = max(1, count // SLOPE_SAMPLE)
    # Every step-th ink pixel in reading order, as np.nonzero lists them (OpenCV's (x, y) list is faster).
    points = cv2.findNonZero(binary_image(mask)).reshape(-1, 2)[::step]
    rows, cols = points[:, 1].astype(np.float32), points[:, 0].astype(np.float32)
    slopes = np.linspace(-MAX_SLOPE, MAX_SLOPE, 2 * SLOPE_STEPS + 1)
    peaks = _peaks(rows, cols, slopes, height, width)
    if tried:
        candidates = peaks.copy()
        candidates[list(tried)] = -1
        best = int(np.argmax(candidates))
    else:
        best = int(np.argmax(peaks))
    # A thick level stroke fills a row nearly as well at a small slope; a sloping line fills one only
    # at its own slope, and far better than level.
    sloping = best != SLOPE_STEPS and peaks[best] >= SLOPE_GAIN * peaks[SLOPE_STEPS]
    if not (sloping and peaks[best] * step >= 0.5 * LINE_SPAN * width):
        return 0.0, SLOPE_STEPS
    if not refine:
        return float(slopes[best]), best
    # Between two steps a line drifts up to half a step's slope across the image, as much as LINE_TILT
    # allows: the slope is refined around the best step (the step itself stays when nothing fits better).
    fine = slopes[best] + (MAX_SLOPE / SLOPE_STEPS) / (2 * SLOPE_REFINE) * np.arange(-SLOPE_REFINE, SLOPE_REFINE + 1)
    fine_peaks = _peaks(rows, cols, fine, height, width)
    refined = SLOPE_REFINE if fine_peaks[SLOPE_REFINE] == fine_peaks.max() else int(np.argmax(fine_peaks))
    return float(fine[refined]), best


def _peaks(rows: np.ndarray, cols: np.ndarray, slopes: np.ndarray, height: int, width: int) -> np.ndarray:
    """For each slope, the most ink points (float32 rows and columns) that one row of the image sheared
    by that slope holds: every slope's row histogram in one bincount (slope k's rows numbered from k * span)."""
    span = int(height + 2 * MAX_SLOPE * width + 2)
    sheared = np.round(rows[np.newaxis] - slopes[:, np.newaxis].astype(np.float32) * cols[np.newaxis] + MAX_SLOPE * width + 1)
    sheared += (np.arange(slopes.size) * span)[:, np.newaxis]
    return np.bincount(sheared.astype(np.int64).ravel(), minlength=slopes.size * span).reshape(slopes.size, span).max(axis=1)


def _lines_at_slope(mask: np.ndarray, slope: float) -> np.ndarray:
    """Bool mask of the pixels on straight runs across (almost) the whole image at this slope: the mask
    sheared level, searched as _horizontal_lines does, and sheared back (nearest pixels: a mask stays a mask)."""
    height, width = mask.shape
    rise = int(np.ceil(abs(slope) * width))
    shift = rise if slope > 0 else 0
    shear = np.float32([[1, 0, 0], [-slope, 1, shift]])
    sheared = cv2.warpAffine(binary_image(mask), shear, (width, height + rise), flags=cv2.INTER_NEAREST)
    found = _horizontal_lines(sheared > 0)[0].astype(np.uint8)
    back = cv2.warpAffine(found, shear, (width, height), flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP)
    return (back > 0) & mask


def _sloped_lines(mask: np.ndarray) -> tuple[np.ndarray, bool, bool]:
    """_horizontal_lines, and also lines that slope (a photo of ruled paper taken at an angle); and
    whether any sloping line was found."""
    height, width = mask.shape
    # A line at any slope, sheared level, puts ink in at least half its length's columns (the cheap
    # test of _horizontal_lines), and shearing moves no ink to another column: a mask with ink in fewer
    # columns holds no line, level or sloping, and the slope need not be looked for.
    inked_columns = np.count_nonzero(cv2.reduce(binary_image(mask), 0, cv2.REDUCE_MAX))
    if inked_columns < 0.5 * round(LINE_SPAN * width):
        return np.zeros(mask.shape, dtype=bool), False, False
    found, runs = _horizontal_lines(mask)
    sloping_found = False
    # A level frame line must not hide the sloping ruled lines (without a run there is no level line).
    rest = mask & ~found if runs else mask
    # The lines of a photo taken at an angle converge and bow: each slope takes the lines it fits, and
    # the slope of those left is looked for among what is left. Most images stop at the first slope:
    # what it finds there, if anything, is less than one line's length, pieces of the digit's own
    # strokes, and then the page holds no ruled lines.
    tried: list[int] = []
    for _ in range(MAX_LINE_SLOPES):
        # (Refined once the page is known to hold lines: on most pages the first search finds none.)
        slope, step = _slope(rest, tried, refine=sloping_found)
        if slope == 0.0:
            break
        tried.append(step)
        sloping = _lines_at_slope(rest, slope)
        found = found | sloping
        if np.count_nonzero(sloping) < LINE_SPAN * width:
            if sloping_found:
                continue
            break
        rest = rest & ~sloping
        sloping_found = True
    return found, runs, sloping_found


def _lines(mask: np.ndarray, sloped: bool = True, across: bool = True, down: bool = True) -> tuple[np.ndarray, bool, bool, bool]:
    """lines(), whether any level run was found across the image and any down it, and whether any
    sloping line was found. A direction turned off (``across``, ``down``) is not searched: the caller
    knows it holds no run (a mask holding this one held none there)."""
    nothing = np.zeros(mask.shape, dtype=bool), False
    sloping = False
    if not across:
        found, runs_across = nothing
    elif sloped:
        found, runs_across, sloping = _sloped_lines(mask)
    else:
        found, runs_across = _horizontal_lines(mask)
    found_down, runs_down = _vertical_lines(mask) if down else nothing
    return found | found_down, runs_across, runs_down, sloping


def lines(mask: np.ndarray, sloped: bool = True) -> np.ndarray:
    """Bool mask of ruled-line and frame pixels: straight runs across (almost) the whole image, level
    or (``sloped``) at an angle."""
    return _lines(mask, sloped)[0]


def _histogram_median(values: np.ndarray) -> float:
    """Median of float values in [0, 1] to 1/1024 (a histogram, not a sort of the whole image)."""
    # No clip: values in [0, 1] fall in bins 0-1024, and the one for exactly 1 joins the top bin.
    counts = np.bincount((values * 1024.0).astype(np.int32).ravel(), minlength=1025)
    counts[1023] += counts[1024]
    return (int(np.searchsorted(np.cumsum(counts[:1024]), (values.size + 1) / 2)) + 0.5) / 1024.0


def threshold(ink: np.ndarray) -> tuple[Components, float, np.ndarray]:
    """The components of the binary ink mask, its threshold, and the ruled lines and frames found among
    all the ink above the noise (see _threshold); raise NoDigitError on blank images."""
    parts, level, liberal_lines, _, _, _ = _threshold(ink)
    return parts, level, liberal_lines


def _threshold(ink: np.ndarray) -> tuple[Components, float, np.ndarray, bool, bool, bool]:
    """The components of the binary ink mask (Otsu with a noise floor, extended by hysteresis), its
    threshold, the ruled lines and frames found among all the ink above the noise, whether any level
    run was found there across the image and down it (the mask is a subset of that ink, so where none
    was, it holds none either), and whether any sloping line was; raise NoDigitError on blank images."""
    brightest = float(ink.max())
    if brightest < 2 * MIN_CONTRAST and np.count_nonzero(ink >= MIN_CONTRAST) <= 0.001 * ink.size:
        raise NoDigitError("no digit found (blank or near-blank image)")
    # Paper noise (texture, JPEG): median absolute deviation of the mostly-paper ink map, judged on
    # every other pixel of a large one (a median needs no more).
    paper = ink[::2, ::2] if ink.size > NOISE_SAMPLE else ink
    if _histogram_median(paper) >= MIN_CONTRAST:
        # Ink covers most of the picture (a fat digit cropped tightly): the paper's noise is judged on
        # the paper's side of Otsu's split, not on a median that falls inside the strokes.
        paper = paper[paper <= otsu(paper)]
    median = _histogram_median(paper)
    sigma = 1.4826 * _histogram_median(np.abs(paper - median))
    floor = max(median + NOISE_SIGMAS * sigma, MIN_CONTRAST / 2)
    liberal = ink > floor
    # Ruled lines and frames can be darker than the writing; they must not set the threshold. Nor can
    # the table or frame around the paper (regions along the image edge) when a digit lies clear of it.
    liberal_lines, runs_across, runs_down, sloping = _lines(liberal)
    setting = liberal & ~liberal_lines
    on_border = liberal[0].any() or liberal[-1].any() or liberal[:, 0].any() or liberal[:, -1].any()
    regions = components(liberal) if on_border else None
    if regions is not None and inner_components(regions).size:
        surround = np.flatnonzero(regions.touches_border(np.arange(regions.count)) & (regions.edge_counts() >= EDGE_RUN))
        # Unless that takes all the ink: rules the eraser left faint can join the digits to the frame,
        # and then the surround holds the digits too.
        rest = setting & ~regions.mask(surround) if surround.size else setting
        if rest.any():
            setting = rest
    candidates = ink[setting]
    if candidates.size < 4:
        raise NoDigitError("no digit found (blank or near-blank image)")
    # Otsu among the pixels above the noise floor: ink vs paper texture, not balanced by the paper's area.
    level = max(otsu(candidates), floor, MIN_CONTRAST)
    strong = ink > level
    weak = ink > max(WEAK_FRACTION * level, floor)
    faint = weak & ~strong
    if np.count_nonzero(faint) > WEAK_EXCESS * np.count_nonzero(strong):
        # More faint ink than the edges of the strokes explain: a soft shadow's edge or a smudge, which
        # hysteresis would join to the digit it touches. Faint areas wider than a stroke are dropped
        # (an opening: what a square of the stroke's width fits in); faint strokes and grey edges stay.
        window = 2 * int(np.ceil(stroke_width(strong))) + 1
        weak &= ~(_open(faint.astype(np.uint8), window, window) > 0)
    parts = components(weak)
    # Keep the faint pixels only where their component also holds strong ink.
    holding = np.flatnonzero(np.bincount(parts.labels[strong], minlength=parts.count + 1)[1:])
    parts = parts if holding.size == parts.count else parts.subset(holding)
    return parts, level, liberal_lines, runs_across, runs_down, sloping


def _span(mask: np.ndarray, axis: int) -> tuple[float, float]:
    """Where a mask's pixels start and end along columns (axis=1) or rows (axis=0), ignoring stray pixels."""
    coordinates = np.nonzero(mask)[axis]
    if coordinates.size == 0:
        return 0.0, 0.0
    low, high = np.percentile(coordinates, [2, 98])
    return float(low), float(high + 1)


def _runs_beyond(line_part: np.ndarray, rest: np.ndarray) -> bool:
    """True if a line runs well beyond the rest of its component on both sides (or on to the image edge),
    along its own direction: a ruled line across a digit does; a digit's own long stroke (the stem of a
    4 filling a tight crop) ends where the rest of the digit does on at least one side."""
    parts = components(rest)
    if parts.count > 1:
        rest = parts.mask(np.flatnonzero(parts.area >= LINE_STUB * parts.area.max()))
    for axis in (0, 1):
        (line_low, line_high), (rest_low, rest_high) = _span(line_part, axis), _span(rest, axis)
        size, extent = line_part.shape[axis], rest_high - rest_low
        margin = LINE_BEYOND * extent / 4
        before = line_low <= rest_low - margin or (line_low <= EDGE_SLACK * size and line_low < rest_low)
        after = line_high >= rest_high + margin or (line_high >= (1 - EDGE_SLACK) * size and line_high > rest_high)
        if line_high - line_low >= LINE_BEYOND * extent and before and after:
            return True
    return False


def _squared(line_part: np.ndarray) -> bool:
    """True if a component's line pixels hold GRID_LINES parallel lines or more both across it and down it:
    squared paper, however much of the picture the digits on it fill. A digit's own straight strokes found
    as lines in a tight crop (a 7's bar, a 4's stem, a Z-shaped 2's top and base) are at most two each way,
    and a frame drawn on ruled paper has two sides down it."""
    for axis in (1, 0):
        # Rows (columns) that are mostly line, counted as runs of neighbouring ones: one per line.
        full = np.count_nonzero(line_part, axis=axis) >= 0.5 * line_part.shape[axis]
        if np.count_nonzero(np.diff(full.astype(np.int8), prepend=0) == 1) < GRID_LINES:
            return False
    return True


def _without_stray_lines(parts: Components) -> Components:
    """The components with thin straight lines drawn across a thick-stroked digit erased (see STRAY_SPAN)."""
    height, width = parts.shape
    if not np.any((parts.bottom - parts.top >= STRAY_SPAN * height) & (parts.right - parts.left >= STRAY_SPAN * width)):
        return parts  # (most images: nothing spans them)
    binary = binary_image(parts.labels > 0)
    radius = int(np.clip(round(stroke_width(binary) / STRAY_THINNESS), 1, STRAY_RADIUS))
    thick = cv2.morphologyEx(binary, cv2.MORPH_OPEN, disk(radius))
    if cv2.countNonZero(thick) < STRAY_THICK_SHARE * cv2.countNonZero(binary):
        return parts
    thin = cv2.subtract(binary, thick)
    # Only long pieces no wider than the disk can be parts of such lines: not the short bits of a
    # fat digit's ragged edges, nor the wide leftovers of its bends (both slow down the line search).
    count, labels, stats, _ = cv2.connectedComponentsWithStats(thin, connectivity=8)
    piece_width, piece_height, area = stats[1:, cv2.CC_STAT_WIDTH], stats[1:, cv2.CC_STAT_HEIGHT], stats[1:, cv2.CC_STAT_AREA]
    long_pieces = np.flatnonzero(
        (np.maximum(piece_width, piece_height) >= STRAY_PIECE * max(height, width))
        & (area <= np.hypot(piece_width, piece_height) * (2 * radius + 1))
    )
    if long_pieces.size == 0:
        return parts
    searched = thin
    if long_pieces.size < count - 1:
        keep = np.zeros(count, np.uint8)
        keep[long_pieces + 1] = 1
        searched = keep[labels]
    length = round(STRAY_LENGTH * max(height, width))
    gap = round(STRAY_GAP * max(height, width))
    segments = cv2.HoughLinesP(searched, 1, np.pi / 180, threshold=length // 2, minLineLength=length, maxLineGap=gap)
    if segments is None:
        return parts
    left, top, box_width, box_height = cv2.boundingRect(thick)
    right, bottom = left + box_width, top + box_height
    stray = np.zeros_like(binary)
    for x1, y1, x2, y2 in segments.reshape(-1, 4).tolist():
        if all(x < left or x >= right or y < top or y >= bottom for x, y in ((x1, y1), (x2, y2))):
            cv2.line(stray, (x1, y1), (x2, y2), 1, 3)
    if not stray.any():
        return parts
    return components(cv2.subtract(binary, cv2.bitwise_and(stray, thin)) > 0)


def clean(ink: np.ndarray) -> Ink:
    """Threshold the ink map, erase ruled lines and frames, and keep the components that are not specks."""
    parts, level, liberal_lines, runs_across, runs_down, sloping = _threshold(ink)
    mask = parts.labels > 0
    # Faint printed lines break up above the ink threshold; above the noise they are whole (and their
    # slope is found there), so they are looked for among both. The mask is part of the ink above the
    # noise, so only directions where that held a run can hold one here (most images: none). Lines a
    # photo blurred are the other way round: above the noise too fat for a line (LINE_THICKNESS), so
    # found there only in pieces, and thin above the threshold: where sloping lines were found above
    # the noise, they are looked for here too.
    if runs_across or runs_down or sloping:
        found_here = _lines(mask, sloped=sloping, across=runs_across or sloping, down=runs_down)[0]
        on_lines = (found_here | liberal_lines) & mask
    else:
        on_lines = liberal_lines & mask
    if on_lines.any():
        counts = np.bincount(parts.labels[on_lines], minlength=parts.count + 1)
        stripped = mask.copy()
        for label in np.flatnonzero(counts[1:]) + 1:
            top, bottom, left, right = parts.top[label - 1], parts.bottom[label - 1], parts.left[label - 1], parts.right[label - 1]
            component = parts.labels[top:bottom, left:right] == label
            line_part = component & on_lines[top:bottom, left:right]
            rest = component & ~line_part
            view = stripped[top:bottom, left:right]
            if not rest.any():
                view &= ~component  # a line or frame and nothing else
            # Mostly line (ruled paper whose lines all join up through the digit and the margin), or a
            # line running well beyond the digit it crosses on both sides: the line goes, the rest
            # stays. A line within the digit's extent stays (the top bar of a 7 filling a tightly
            # cropped image), and so does one the digit ends with (the long stem of a 4).
            elif counts[label] >= LINE_SHARE * parts.area[label - 1] or _squared(line_part) or _runs_beyond(line_part, rest):
                view &= ~line_part
        if stripped.any():
            parts = components(stripped)
    if parts.count == 0:
        raise NoDigitError("no digit found (only lines or frames)")
    parts = _without_stray_lines(parts)
    largest = int(parts.area.max())
    content = np.flatnonzero(parts.area >= max(SPECK_FRACTION * largest, 2))
    if content.size == 0:
        raise NoDigitError("no digit found (only specks)")
    return Ink(ink, level, parts, content)
