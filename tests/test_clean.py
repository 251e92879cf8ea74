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


def full_slope(mask: np.ndarray) -> float:
    height, width = mask.shape
    rows, cols = np.nonzero(mask)
    if rows.size < clean.LINE_SPAN * width:
        return 0.0
    step = max(1, rows.size // clean.SLOPE_SAMPLE)
    rows, cols = rows[::step].astype(np.float32), cols[::step].astype(np.float32)
    slopes = np.linspace(-clean.MAX_SLOPE, clean.MAX_SLOPE, 2 * clean.SLOPE_STEPS + 1)
    span = int(height + 2 * clean.MAX_SLOPE * width + 2)
    sheared = np.round(rows[np.newaxis] - slopes[:, np.newaxis].astype(np.float32) * cols[np.newaxis] + clean.MAX_SLOPE * width + 1)
    sheared += (np.arange(slopes.size) * span)[:, np.newaxis]
    peaks = np.bincount(sheared.astype(np.int64).ravel(), minlength=slopes.size * span).reshape(slopes.size, span).max(axis=1)
    best = int(np.argmax(peaks))
    sloping = best != clean.SLOPE_STEPS and peaks[best] >= clean.SLOPE_GAIN * peaks[clean.SLOPE_STEPS]
    return float(slopes[best]) if sloping and peaks[best] * step >= 0.5 * clean.LINE_SPAN * width else 0.0


def full_lines(mask: np.ndarray, sloped: bool = True) -> np.ndarray:
    across = full_horizontal_lines(mask)
    if sloped:
        slope = full_slope(mask & ~across)
        if slope != 0.0:
            height, width = mask.shape
            rise = int(np.ceil(abs(slope) * width))
            shear = np.float32([[1, 0, 0], [-slope, 1, rise if slope > 0 else 0]])
            sheared = cv2.warpAffine(mask.astype(np.uint8), shear, (width, height + rise), flags=cv2.INTER_NEAREST)
            found = full_horizontal_lines(sheared > 0).astype(np.uint8)
            back = cv2.warpAffine(found, shear, (width, height), flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP)
            across = across | ((back > 0) & mask)
    return across | full_horizontal_lines(mask.T).T


# --- synthetic pages


def digit(mask: np.ndarray, left: int = 110, width: int = 80) -> np.ndarray:
    """A thick-penned 4-like digit (a stem, a slanted arm, a bar) drawn into a uint8 page."""
    top, bottom = 60, 190
    cv2.line(mask, (left + width, top), (left + width, bottom), 1, 9)
    cv2.line(mask, (left + width, top), (left, top + 80), 1, 9)
    cv2.line(mask, (left, top + 80), (left + width + 20, top + 80), 1, 9)
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
    "ruled", "sloping", "sloping-down", "frame", "short-rules", "edge-rules", "tilted-rule",
    "noise", "wide-digit", "narrow-digit", "blank",
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
    found, runs_across, runs_down = clean._lines(page(kind))
    assert found.any() == expect_lines
    assert (runs_across, runs_down) == expect_runs


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("keep", [1.0, 0.8, 0.5])
def test_a_subset_searched_only_where_the_whole_held_runs_finds_the_same(kind: str, keep: float):
    # clean() searches the strict mask only in the directions where the liberal mask (a superset)
    # held a level run; elsewhere the full search of the subset must come back empty.
    whole = page(kind)
    subset = whole & (np.random.default_rng(3).random(whole.shape) < keep)
    _, runs_across, runs_down = clean._lines(whole)
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
    _, runs_across, runs_down = clean._lines(whole)
    reused = clean._lines(subset, sloped=False, across=runs_across, down=runs_down)[0]
    assert reused[104:106].any()
    assert np.array_equal(reused, full_lines(subset, sloped=False))


def test_slope_matches_the_full_computation_on_sloping_lines():
    for kind in ("sloping", "sloping-down", "noise", "ruled"):
        mask = page(kind)
        assert clean._slope(mask) == full_slope(mask), kind
    assert clean._slope(page("sloping")) > 0 > clean._slope(page("sloping-down"))


def test_clean_erases_sloping_ruled_lines_and_keeps_the_digit():
    # End to end on an ink map: the ruled lines go, the digit (one component) stays.
    ink = page("sloping").astype(np.float32) * 0.8
    found = clean.clean(ink)
    kept = np.isin(found.parts.labels, found.keep + 1)
    assert found.keep.size == 1
    assert np.count_nonzero(kept & ~digit(np.zeros((HEIGHT, WIDTH), np.uint8)).astype(bool)) < 0.02 * np.count_nonzero(kept)
