"""preprocess.clean's ruled-line finder: its shortcuts (tests it skips the search on, the strict mask's search
reusing what the liberal mask's found, columns tested without a transposed copy) find exactly the lines the
full computation finds, on ruled paper, sloping lines, frames, noise and images with no line at all."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from preprocess import clean

HEIGHT, WIDTH = 240, 300


# --- the full computation, step by step, with no shortcut (the line finder as it was first written)


def full_horizontal_lines(mask: np.ndarray) -> np.ndarray:
    height, width = mask.shape
    tilt = max(1, round(clean.LINE_TILT * width))
    binary = np.ascontiguousarray(mask, dtype=np.uint8)
    grown = cv2.dilate(binary, np.ones((2 * tilt + 1, 1), np.uint8))
    length = round(clean.LINE_SPAN * width)
    rows = np.flatnonzero(np.count_nonzero(grown, axis=1) >= 0.5 * length)
    covered = np.zeros(mask.shape, dtype=bool)
    if rows.size == 0:
        return covered
    gap = max(1, round(clean.LINE_GAP * width))
    bridged = cv2.dilate(grown[rows], np.ones((1, gap + 1), np.uint8), anchor=(gap, 0))
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (length, 1))
    covered[rows] = (cv2.morphologyEx(bridged, cv2.MORPH_OPEN, kernel) > 0) & mask[rows]
    thickness = max(3, round(clean.LINE_THICKNESS * height)) + 1
    thick = cv2.morphologyEx(binary, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (1, thickness))) > 0
    return covered & ~thick


def full_peaks(rows: np.ndarray, cols: np.ndarray, slopes: np.ndarray, height: int, width: int) -> np.ndarray:
    """For each slope, the most sampled ink points one row of the sheared image holds (one histogram per slope)."""
    peaks = []
    for slope in slopes:
        sheared = np.round(rows - np.float32(slope) * cols + clean.MAX_SLOPE * width + 1).astype(np.int64)
        peaks.append(np.bincount(sheared).max())
    return np.array(peaks)


def full_slope(mask: np.ndarray, tried: tuple[int, ...] = (), refine: bool = False) -> tuple[float, int]:
    height, width = mask.shape
    rows, cols = np.nonzero(mask)
    if rows.size < clean.LINE_SPAN * width:
        return 0.0, clean.SLOPE_STEPS
    step = max(1, rows.size // clean.SLOPE_SAMPLE)
    rows, cols = rows[::step].astype(np.float32), cols[::step].astype(np.float32)
    slopes = np.linspace(-clean.MAX_SLOPE, clean.MAX_SLOPE, 2 * clean.SLOPE_STEPS + 1)
    peaks = full_peaks(rows, cols, slopes, height, width)
    best = max((index for index in range(slopes.size) if index not in tried), key=lambda index: (peaks[index], -index))
    sloping = best != clean.SLOPE_STEPS and peaks[best] >= clean.SLOPE_GAIN * peaks[clean.SLOPE_STEPS]
    if not (sloping and peaks[best] * step >= 0.5 * clean.LINE_SPAN * width):
        return 0.0, clean.SLOPE_STEPS
    if not refine:
        return float(slopes[best]), best
    # Refined to a sixth of a step around the best step, which stays unless another fits better.
    fine = [
        slopes[best] + clean.MAX_SLOPE / clean.SLOPE_STEPS / (2 * clean.SLOPE_REFINE) * k
        for k in range(-clean.SLOPE_REFINE, clean.SLOPE_REFINE + 1)
    ]
    fine_peaks = full_peaks(rows, cols, np.array(fine), height, width)
    refined = clean.SLOPE_REFINE if fine_peaks[clean.SLOPE_REFINE] == fine_peaks.max() else int(np.argmax(fine_peaks))
    return float(fine[refined]), best


def full_lines_at_slope(mask: np.ndarray, slope: float) -> np.ndarray:
    height, width = mask.shape
    rise = int(np.ceil(abs(slope) * width))
    shear = np.float32([[1, 0, 0], [-slope, 1, rise if slope > 0 else 0]])
    sheared = cv2.warpAffine(mask.astype(np.uint8), shear, (width, height + rise), flags=cv2.INTER_NEAREST)
    found = full_horizontal_lines(sheared > 0).astype(np.uint8)
    back = cv2.warpAffine(found, shear, (width, height), flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP)
    return (back > 0) & mask


def full_lines(mask: np.ndarray, sloped: bool = True) -> np.ndarray:
    across = full_horizontal_lines(mask)
    if sloped:
        # Slope after slope, each searched among the ink the earlier ones left, until the first finds
        # less than a line's length (then there are no lines) or no slope is left that could hold one.
        rest, tried, found_any = mask & ~across, [], False
        for _ in range(clean.MAX_LINE_SLOPES):
            slope, step = full_slope(rest, tuple(tried), refine=found_any)
            if slope == 0.0:
                break
            tried.append(step)
            found = full_lines_at_slope(rest, slope)
            across = across | found
            if np.count_nonzero(found) < clean.LINE_SPAN * mask.shape[1]:
                if found_any:
                    continue
                break
            rest, found_any = rest & ~found, True
    return across | full_horizontal_lines(mask.T).T


# --- synthetic pages


def digit(mask: np.ndarray, left: int = 110, width: int = 80) -> np.ndarray:
    """A thick-penned 4-like digit (a stem, a slanted arm, a bar) drawn into a uint8 page."""
    top, bottom = 60, 190
    cv2.line(mask, (left + width, top), (left + width, bottom), 1, 9)
    cv2.line(mask, (left + width, top), (left, top + 80), 1, 9)
    cv2.line(mask, (left, top + 80), (left + width + 20, top + 80), 1, 9)
    return mask


def fanned_lines(mask: np.ndarray) -> np.ndarray:
    """Ruled lines photographed at an angle, drawn into a uint8 page: they converge (perspective: slopes
    from 0.03 at the top to 0.11 at the bottom, no one slope within LINE_TILT of them all) and bow (the
    lens: each line's slope grows by 0.03 across the page)."""
    columns = np.arange(WIDTH)
    for index, start in enumerate(range(6, HEIGHT - 40, 30)):
        slope = 0.03 + 0.013 * index
        rows = start + slope * columns + 0.015 * columns**2 / WIDTH
        cv2.polylines(mask, [np.stack([columns, rows], axis=1).round().astype(np.int32)], False, 1, 2)
    return mask


def page(kind: str) -> np.ndarray:
    """A bool ink mask (HEIGHT x WIDTH) of one kind of page."""
    mask = np.zeros((HEIGHT, WIDTH), np.uint8)
    rng = np.random.default_rng(7)
    if kind == "ruled":  # ruled paper with a margin line, the digit written across the rules
        for y in range(20, HEIGHT, 30):
            cv2.line(mask, (0, y), (WIDTH - 1, y), 1, 2)
        cv2.line(mask, (40, 0), (40, HEIGHT - 1), 1, 2)
        digit(mask)
    elif kind == "sloping":  # ruled paper photographed at an angle
        for y in range(-40, HEIGHT + 40, 28):
            cv2.line(mask, (0, y), (WIDTH - 1, y + round(0.08 * WIDTH)), 1, 2)
        digit(mask)
    elif kind == "sloping-down":
        for y in range(0, HEIGHT + 60, 28):
            cv2.line(mask, (0, y), (WIDTH - 1, y - round(0.12 * WIDTH)), 1, 2)
        digit(mask)
    elif kind == "fanned":
        digit(fanned_lines(mask))
    elif kind == "frame":  # a frame drawn around the digit, with gaps in its sides
        cv2.rectangle(mask, (4, 4), (WIDTH - 5, HEIGHT - 5), 1, 3)
        mask[4:10, 150:152] = 0
        digit(mask)
    elif kind == "short-rules":  # rules just long enough: one through the middle, ones that run off the edges
        cv2.line(mask, (round(0.07 * WIDTH), 30), (round(0.93 * WIDTH), 30), 1, 2)
        cv2.line(mask, (0, 215), (round(0.45 * WIDTH), 215), 1, 2)
        cv2.line(mask, (WIDTH - 1, 225), (round(0.6 * WIDTH), 225), 1, 2)
        cv2.line(mask, (20, 0), (20, round(0.45 * HEIGHT)), 1, 2)
        digit(mask)
    elif kind == "edge-rules":  # only rules that run off an edge, half across: few columns inked
        cv2.line(mask, (0, 20), (round(0.45 * WIDTH), 20 + round(0.05 * WIDTH)), 1, 2)
        cv2.line(mask, (0, 215), (round(0.45 * WIDTH), 215 - round(0.1 * WIDTH)), 1, 2)
        digit(mask, left=130, width=30)
    elif kind == "tilted-rule":  # a one-pixel vertical rule drifting three columns: no column holds half of it
        cv2.line(mask, (60, 0), (63, HEIGHT - 1), 1, 1)  # (and no digit, whose stem would fill a column)
    elif kind == "noise":  # specks all over (every column inked), no line
        digit(mask)
        mask |= (rng.random(mask.shape) < 0.02).astype(np.uint8)
    elif kind == "wide-digit":  # a digit filling the width, no line
        digit(mask, left=10, width=WIDTH - 40)
    elif kind == "narrow-digit":  # too few inked columns for any line
        digit(mask, left=130, width=30)
    elif kind == "blank":
        pass
    else:
        raise ValueError(kind)
    return mask > 0


KINDS = [
    "ruled",
    "sloping",
    "sloping-down",
    "fanned",
    "frame",
    "short-rules",
    "edge-rules",
    "tilted-rule",
    "noise",
    "wide-digit",
    "narrow-digit",
    "blank",
]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("sloped", [True, False], ids=["sloped", "level"])
def test_lines_match_the_full_computation(kind: str, sloped: bool):
    mask = page(kind)
    assert np.array_equal(clean.lines(mask, sloped=sloped), full_lines(mask, sloped=sloped))
    # A transposed (non-contiguous) mask takes the copying path to OpenCV and finds the same.
    assert np.array_equal(clean.lines(mask.T, sloped=sloped), full_lines(mask.T, sloped=sloped))


@pytest.mark.parametrize(
    "kind, expect_lines, expect_runs",
    [
        ("ruled", True, (True, True)),
        ("sloping", True, (False, False)),  # no level run: the sloping lines are found by their slope
        ("frame", True, (True, True)),
        ("noise", False, (False, False)),
        ("narrow-digit", False, (False, False)),
        ("blank", False, (False, False)),
    ],
)
def test_runs_are_reported_where_they_are(kind: str, expect_lines: bool, expect_runs: tuple[bool, bool]):
    found, runs_across, runs_down, _ = clean._lines(page(kind))
    assert found.any() == expect_lines
    assert (runs_across, runs_down) == expect_runs


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("keep", [1.0, 0.8, 0.5])
def test_a_subset_searched_only_where_the_whole_held_runs_finds_the_same(kind: str, keep: float):
    # clean() searches the strict mask only in the directions where the liberal mask (a superset)
    # held a level run; elsewhere the full search of the subset must come back empty.
    whole = page(kind)
    subset = whole & (np.random.default_rng(3).random(whole.shape) < keep)
    _, runs_across, runs_down, _ = clean._lines(whole)
    reused = clean._lines(subset, sloped=False, across=runs_across, down=runs_down)[0]
    assert np.array_equal(reused, full_lines(subset, sloped=False))


def test_a_thick_bar_in_the_whole_that_is_thin_in_the_subset_is_still_searched():
    # Above the noise a printed rule can be thick enough to pass for a stroke (not a line there), and
    # thin above the ink threshold (a line there): the strict mask must still be searched across.
    whole = page("blank")
    whole[100:110] = True
    digit_mask = digit(np.zeros((HEIGHT, WIDTH), np.uint8)) > 0
    whole |= digit_mask
    subset = digit_mask.copy()
    subset[104:106] = True
    assert not clean.lines(whole, sloped=False)[102:110].any()  # (only the bar's top row passes for thin)
    _, runs_across, runs_down, _ = clean._lines(whole)
    reused = clean._lines(subset, sloped=False, across=runs_across, down=runs_down)[0]
    assert reused[104:106].any()
    assert np.array_equal(reused, full_lines(subset, sloped=False))


def test_slope_matches_the_full_computation_on_sloping_lines():
    for kind in ("sloping", "sloping-down", "noise", "ruled"):
        mask = page(kind)
        for refine in (False, True):
            assert clean._slope(mask, refine=refine) == full_slope(mask, refine=refine), kind
            for step in range(2 * clean.SLOPE_STEPS + 1):  # and with any step already tried
                assert clean._slope(mask, [step], refine) == full_slope(mask, (step,), refine), (kind, step)
    assert clean._slope(page("sloping"))[0] > 0 > clean._slope(page("sloping-down"))[0]


def test_lines_that_fan_out_and_bow_are_each_found_at_their_own_slope():
    # A photo of ruled paper taken at an angle: one slope fits some of the lines, the others are
    # found at theirs, among what the first left.
    lines_only = fanned_lines(np.zeros((HEIGHT, WIDTH), np.uint8)) > 0
    digit_mask = digit(np.zeros((HEIGHT, WIDTH), np.uint8)) > 0
    found = clean.lines(page("fanned"))
    # (Where the digit's strokes cross a line, the stroke keeps the line's pixels next to it.)
    expected = lines_only & ~cv2.dilate(digit_mask.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    assert np.count_nonzero(found & expected) >= 0.95 * np.count_nonzero(expected)
    assert np.count_nonzero(found & digit_mask & ~lines_only) <= 0.02 * np.count_nonzero(digit_mask)


def test_clean_erases_sloping_ruled_lines_and_keeps_the_digit():
    # End to end on an ink map: the ruled lines go, the digit (one component) stays.
    ink = page("sloping").astype(np.float32) * 0.8
    found = clean.clean(ink)
    kept = np.isin(found.parts.labels, found.keep + 1)
    assert found.keep.size == 1
    assert np.count_nonzero(kept & ~digit(np.zeros((HEIGHT, WIDTH), np.uint8)).astype(bool)) < 0.02 * np.count_nonzero(kept)


def test_ruled_lines_across_a_digit_go_though_their_ends_were_missed():
    # A photo of ruled paper: two lines cross the digit from edge to edge and join it into one shape, and
    # the line search misses their ends (a thick smudge where each meets the image edge). Those stubs are
    # pieces of the shape left once the lines are out, but no part of the digit: the lines run well beyond
    # the digit itself and go. (A real photographed 3 rendered as a blob from the whole page before.)
    mask = digit(np.zeros((HEIGHT, WIDTH), np.uint8))
    for y in (100, 160):
        cv2.line(mask, (0, y), (WIDTH - 1, y), 1, 2)
        for x in (0, WIDTH - 12):
            mask[y - 6 : y + 6, x : x + 12] = 1
    parts = clean.clean(mask.astype(np.float32) * 0.8).parts
    largest = int(np.argmax(parts.area))  # the digit, alone: 110-200 wide (its bar to 210), 60-190 high
    box = (parts.left[largest], parts.right[largest], parts.top[largest], parts.bottom[largest])
    assert box == pytest.approx((106, 215, 56, 195), abs=2)


def test_squared_paper_goes_though_the_digit_fills_the_page():
    # A digit written large on squared paper, filling most of the picture: the grid lines cross it and join
    # it into one shape with them, and no line runs twice the digit's extent beyond it. The grid, with
    # lines both across and down, is no digit's strokes, and goes. (The grid stayed, and the whole page
    # was read as one shape: a "19" read "no digit found".)
    mask = np.zeros((HEIGHT, WIDTH), np.uint8)
    for at in range(15, WIDTH, 40):
        cv2.line(mask, (at, 0), (at, HEIGHT - 1), 1, 2)
    for at in range(15, HEIGHT, 40):
        cv2.line(mask, (0, at), (WIDTH - 1, at), 1, 2)
    drawn = digit(np.zeros((HEIGHT, WIDTH), np.uint8), left=30, width=230).astype(bool)
    found = clean.clean(np.where(drawn, 0.8, mask * 0.6).astype(np.float32))
    kept = np.isin(found.parts.labels, found.keep + 1)
    assert np.count_nonzero(kept & ~drawn) < 0.05 * np.count_nonzero(kept)
    assert np.count_nonzero(kept & drawn) > 0.9 * np.count_nonzero(drawn)
