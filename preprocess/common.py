"""What every stage shares: the errors, LeCun's sizes, OpenCV's connected components, stroke width and holes."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from data import IMAGE_SIZE

# OpenCV's own thread pool only adds overhead on images this small, and evaluate.py already runs one
# worker process per core: threads inside each would fight over the same cores.
cv2.setNumThreads(1)

DIGIT_BOX = 20  # MNIST digits are fitted into a 20x20 box ...
CANVAS = IMAGE_SIZE  # ... inside a 28x28 field, centred by centre of mass.
MIN_SIDE = 8  # pixels; smaller images cannot hold a recognisable digit


class ImageError(Exception):
    """An image cannot be used; the message is one line naming the problem."""


class NoDigitError(ImageError):
    """The image is blank or holds nothing digit-like."""


def too_small(width: int, height: int, name: str | None = None) -> ImageError:
    prefix = f"{name}: " if name else ""
    return ImageError(f"{prefix}{width}x{height} pixels is too small to hold a digit (need at least {MIN_SIDE})")


@dataclass
class Components:
    """8-connected components of a binary mask (cv2.connectedComponentsWithStats), numbered from 0, with
    per-component area and bounding box (exclusive ends)."""

    labels: np.ndarray  # int32 (H, W): component number + 1, 0 for background (OpenCV's numbering)
    area: np.ndarray
    top: np.ndarray
    bottom: np.ndarray
    left: np.ndarray
    right: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        return self.labels.shape

    @property
    def count(self) -> int:
        return int(self.area.size)

    def subset(self, chosen: np.ndarray) -> Components:
        """The chosen components alone, renumbered in order (the others become background)."""
        chosen = np.asarray(chosen, dtype=np.int64)
        table = np.zeros(self.count + 1, dtype=np.int32)
        table[chosen + 1] = np.arange(1, chosen.size + 1)
        boxes = self.top[chosen], self.bottom[chosen], self.left[chosen], self.right[chosen]
        return Components(np.take(table, self.labels), self.area[chosen], *boxes)

    def mask(self, chosen: np.ndarray, box: tuple[int, int, int, int] | None = None) -> np.ndarray:
        """Bool (H, W) of the pixels in the given components; with ``box`` (top, bottom, left, right, exclusive
        ends), only that part of the image."""
        table = np.zeros(self.count + 1, dtype=bool)
        table[np.asarray(chosen, dtype=np.int64) + 1] = True
        labels = self.labels if box is None else self.labels[box[0] : box[1], box[2] : box[3]]
        return np.take(table, labels)  # the same as table[labels], in fewer instructions

    def touches_border(self, chosen: np.ndarray) -> np.ndarray:
        """Bool per component: it reaches an image edge."""
        height, width = self.shape
        return (self.top[chosen] == 0) | (self.left[chosen] == 0) | (self.bottom[chosen] == height) | (self.right[chosen] == width)

    def edge_counts(self) -> np.ndarray:
        """Float (count,): the largest fraction of one image side that each component covers."""
        height, width = self.shape
        minlength = self.count + 1
        rows = [np.bincount(self.labels[0], minlength=minlength), np.bincount(self.labels[-1], minlength=minlength)]
        cols = [np.bincount(self.labels[:, 0], minlength=minlength), np.bincount(self.labels[:, -1], minlength=minlength)]
        return np.maximum(np.maximum(*rows) / width, np.maximum(*cols) / height)[1:]


def binary_image(mask: np.ndarray) -> np.ndarray:
    """A bool mask as the uint8 0/1 image OpenCV takes: a view of it when it is contiguous (no copy)."""
    if mask.dtype == np.bool_ and mask.flags.c_contiguous:
        return mask.view(np.uint8)
    return np.ascontiguousarray(mask, dtype=np.uint8)


def components(mask: np.ndarray) -> Components:
    """Label the 8-connected components of a bool (H, W) mask."""
    # Grana's block-based algorithm: on these masks, with statistics, about twice as fast as the default.
    binary = binary_image(mask)
    count, labels, stats, _ = cv2.connectedComponentsWithStatsWithAlgorithm(binary, 8, cv2.CV_32S, cv2.CCL_GRANA)
    stats = stats[1:].astype(np.int64)
    left, top, width, height, area = stats.T
    return Components(labels, area, top, top + height, left, left + width)


def disk(radius: int) -> np.ndarray:
    """A (2r+1, 2r+1) disk-shaped structuring element: growing or shrinking a stroke equally in every direction."""
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


CROSS = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))


def stroke_width(mask: np.ndarray) -> float:
    """Mean stroke width in pixels of a bool mask: twice the area over the boundary length."""
    binary = binary_image(mask)
    area = int(cv2.countNonZero(binary))
    if area == 0:
        return 0.0
    # Outside the image counts as background, so pixels on the image edge are boundary.
    interior = cv2.erode(binary, CROSS, borderType=cv2.BORDER_CONSTANT, borderValue=0)
    boundary = area - int(cv2.countNonZero(interior))
    # A stroke of width w and length L has area w*L and two edges of length L; boundary pixels sit
    # half a pixel inside the edge, hence the +1.
    return 2.0 * area / max(boundary, 1) + 1.0


def holes(mask: np.ndarray, min_area: float = 0.0) -> int:
    """How many holes (loops: the inside of a 0, the two of an 8) a bool mask has, not counting those
    smaller than ``min_area`` pixels."""
    contours, hierarchy = cv2.findContours(binary_image(mask), cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    if hierarchy is None:
        return 0
    # RETR_CCOMP: outer boundaries at the top level, the holes in them as their children.
    inner = [index for index, (_, _, _, parent) in enumerate(hierarchy[0]) if parent >= 0]
    return sum(1 for index in inner if cv2.contourArea(contours[index]) >= min_area)


def hole_mask(mask: np.ndarray) -> np.ndarray:
    """Bool mask of a bool mask's holes: the background no path from outside the shape reaches (4-connected,
    so a loop closed only at a diagonal still holds its hole, as an 8-connected stroke does)."""
    outside = np.pad(~mask, 1).astype(np.uint8)
    cv2.floodFill(outside, None, (0, 0), 2)
    return (outside == 1)[1:-1, 1:-1]
