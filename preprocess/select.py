"""Digit selection: which of the cleaned components are the digit (the largest, preferring one clear of the
image edge, and the broken-off pieces near it)."""

from __future__ import annotations

import cv2
import numpy as np

from .clean import EDGE_RUN, SPECK_FRACTION, Ink
from .common import NoDigitError, disk
from .ink import INNER_DIGIT_FRACTION, MIN_CONTRAST, SMALL_DRAWING

MIN_DIGIT_FRACTION = 0.04  # the digit's longer side must be at least this fraction of the image's
NEARBY_FRACTION = 0.25  # pieces within this fraction of the digit's size belong to it (a broken stroke)
# Components touching the image edge (shadows, the table around the paper, frames) are passed over
# for one that does not, when that one is at least this fraction of their size, or when they run
# along an image edge for EDGE_RUN of its length (a digit cropped tightly only touches the edge where
# its strokes cross it) and the one clear of the edge is digit-sized.
BORDER_PREFERENCE = 0.1
# When the largest piece holds less than this share of the ink clear of the edge, pieces closer than
# GROUP_REACH of the image's longer side are grouped, and a group with GROUP_GAIN times the ink of the
# largest piece's group is the digit.
FRAGMENTED = 0.5
GROUP_REACH = 0.03
GROUP_GAIN = 1.25
# In a small drawing, a piece too small to be more than a speck is a piece of stroke when ink above this
# level (a fraction of full scale, half the least contrast of any digit) joins it to the digit.
FAINT_INK = MIN_CONTRAST / 2


def main_digit(found: Ink, extent: int | None = None) -> np.ndarray:
    """Component numbers of the digit: the largest content component (preferring one clear of the image
    edge) and the pieces near it, such as the detached bar of a 5. Raise NoDigitError where that is a speck
    beside ``extent`` (default: the image's longer side), under MIN_DIGIT_FRACTION of it."""
    parts, content = found.parts, found.keep
    border = parts.touches_border(content)
    inner = content[~border]
    main = int(content[np.argmax(parts.area[content])])
    height, width = parts.shape
    if inner.size:
        best = int(inner[np.argmax(parts.area[inner])])
        best_side = max(parts.bottom[best] - parts.top[best], parts.right[best] - parts.left[best])
        if (
            not border.any()
            or parts.area[best] >= BORDER_PREFERENCE * parts.area[main]
            # The paper's digit, not the table or frame around the paper that dwarfs it.
            or (parts.edge_counts()[main] >= EDGE_RUN and best_side >= INNER_DIGIT_FRACTION * max(height, width))
        ):
            main = best
    side = max(parts.bottom[main] - parts.top[main], parts.right[main] - parts.left[main])
    if side < MIN_DIGIT_FRACTION * (extent or max(height, width)):
        raise NoDigitError("no digit found (only specks)")
    # A drawing this small holds one digit and nothing else: all its pieces are the digit (a 28-px
    # photo's thresholded strokes fall apart into dots).
    small = max(height, width) <= SMALL_DRAWING
    # Specks are judged against the digit itself: against a table that dwarfs it, its broken strokes
    # would all look like specks.
    content = np.flatnonzero(parts.area >= max(SPECK_FRACTION * parts.area[main], 2))
    if small:
        content = _joined_by_faint_ink(found, content)
    chosen = _dotted_group(parts, content[~parts.touches_border(content)], main)
    top, bottom = parts.top[chosen].min(), parts.bottom[chosen].max()
    left, right = parts.left[chosen].min(), parts.right[chosen].max()
    at_edge = parts.touches_border(content)
    for _ in range(2):  # twice, so a chain of pieces (a dashed stroke) is followed
        margin = max(height, width) if small else NEARBY_FRACTION * max(bottom - top, right - left)
        near = (
            (parts.left[content] < right + margin)
            & (parts.right[content] > left - margin)
            & (parts.top[content] < bottom + margin)
            & (parts.bottom[content] > top - margin)
            # Regions at the edge that reach beyond the digit (shadows, the table, a frame) are not pieces of it.
            & ~(
                at_edge
                & (
                    (parts.left[content] < left - margin)
                    | (parts.right[content] > right + margin)
                    | (parts.top[content] < top - margin)
                    | (parts.bottom[content] > bottom + margin)
                )
            )
        )
        # Sorted and unique, as np.unique gives them, without np.unique's import of numpy.ma (10 ms of every start).
        chosen = np.flatnonzero(np.bincount(np.concatenate([chosen, content[near]])))
        top, bottom = parts.top[chosen].min(), parts.bottom[chosen].max()
        left, right = parts.left[chosen].min(), parts.right[chosen].max()
    return chosen


def _joined_by_faint_ink(found: Ink, content: np.ndarray) -> np.ndarray:
    """``content`` and the pieces too small for it that faint ink joins to a piece of it: in a 28-px
    photo one pixel can be what is left of a stroke (where a thin pen's stem met a 5's bowl, the rest
    of the stem too faint for the threshold), while a speck stands alone on the paper."""
    parts = found.parts
    if content.size == parts.count:
        return content  # (most drawings: no piece too small)
    small_pieces = np.setdiff1d(np.arange(parts.count), content)
    _, groups = cv2.connectedComponents((found.ink > FAINT_INK).astype(np.uint8), connectivity=8)
    # Every piece lies above the ink threshold, so inside one group of the faint ink.
    group_of = np.zeros(parts.count + 1, dtype=np.int64)
    group_of[parts.labels.ravel()] = groups.ravel()
    joined = small_pieces[np.isin(group_of[small_pieces + 1], group_of[content + 1])]
    return np.union1d(content, joined)


def _dotted_group(parts, inner: np.ndarray, main: int) -> np.ndarray:
    """The pieces to start the digit from: ``main`` alone, unless the ink clear of the image edge is
    fragmented (a dotted brush, a broken pencil line) and a group of pieces lying close together holds
    clearly more ink than main's group (a watermark badge, solid, beside a digit drawn in dots)."""
    if inner.size < 2 or parts.area[main] >= FRAGMENTED * parts.area[inner].sum():
        return np.array([main])
    mask = parts.mask(inner)
    reach = max(1, round(GROUP_REACH * max(parts.shape)))
    _, groups = cv2.connectedComponents(cv2.dilate(mask.astype(np.uint8), disk(reach)), connectivity=8)
    ink = np.bincount(groups[mask], minlength=int(groups.max()) + 1)
    best = int(np.argmax(ink))
    own = int(np.bincount(groups[parts.labels == main + 1]).argmax())
    if best == own or ink[best] < GROUP_GAIN * ink[own]:
        return np.array([main])
    members = np.flatnonzero(np.bincount(parts.labels[(groups == best) & mask])) - 1
    return members[members >= 0]
