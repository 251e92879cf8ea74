"""Segmentation: a number written in a row ("2024", "31 415") -> its digits left to right, each rendered
like a single digit."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from .clean import clean
from .common import MIN_SIDE, too_small
from .ink import ink_map
from .render import render
from .select import main_digit

MERGE_OVERLAP = 0.5  # components sharing this fraction of the narrower one's width are one digit
DIGIT_ASPECT = 0.75  # a typical digit's width / height; a blob wider than ~1.6 heights holds 2+ digits
SPLIT_ASPECT = 1.25
SPLIT_WIDTH = 1.6  # ... and, beside two or more separate digits, wider than this many times their median width
FRAGMENT_HEIGHT = 0.5  # a piece less tall than this fraction of the digits' (median) height is a fragment
SPACE_FRACTION = 0.6  # a gap wider than this fraction of the median digit height may be a space ...
SPACE_CONTRAST = 2.5  # ... when it is also this many times the number's narrowest gap


@dataclass(frozen=True)
class Digit:
    """One digit found by segment_number: its (28, 28, 1) image, its columns in the working image, and
    whether a space precedes it."""

    image: np.ndarray
    left: int
    right: int
    space_before: bool


def segment_number(image: Image.Image) -> list[Digit]:
    """The digits of a number written in a row, left to right, each rendered like preprocess does."""
    if min(image.size) < MIN_SIDE:
        raise too_small(image.width, image.height)
    found = clean(ink_map(image))
    parts, content = found.parts, found.keep
    main = main_digit(found)  # validates that something digit-sized exists
    # The row: components whose vertical middle lies within the band of the largest digit.
    anchor = main[np.argmax(parts.area[main])]
    band_top, band_bottom = parts.top[anchor], parts.bottom[anchor]
    band = band_bottom - band_top
    middles = (parts.top[content] + parts.bottom[content]) / 2
    in_row = content[(middles > band_top - 0.5 * band) & (middles < band_bottom + 0.5 * band)]
    border = parts.touches_border(in_row) & (parts.area[in_row] > 2 * parts.area[anchor])
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
            pieces.append((render(found, labels, columns), columns[0], columns[1]))
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


NOT_A_DIGIT_MARK = "?"  # stands for a position that is not a digit


def number_text(spaces: list[bool], labels: list[int | None]) -> str:
    """The number as text, with a space where the writer left a wide gap ("31 415") and ? where a label is None."""
    return "".join(
        (" " if space else "") + (NOT_A_DIGIT_MARK if label is None else str(label)) for space, label in zip(spaces, labels, strict=True)
    )
