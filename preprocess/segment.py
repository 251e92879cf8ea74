"""Segmentation: a number written in a row ("2024", "31 415") -> its digits left to right, each rendered
like a single digit.

    frames   -> a form field's printed boxes (each box holds one digit), and frames drawn around the
                number, whole or in the pieces the ruled-line eraser left: dropped
    row      -> the components in the band of the first digit found
    grouping -> pieces a few stroke widths apart (a pen that skipped), and pieces above one another
                (a detached bar), are one digit; flat fragments join their neighbour
    cutting  -> a blob that may hold touching digits is cut along the top-to-bottom path crossing the
                least ink: where the shape shows a joint, or, given a judge (the model), where the
                model reads the pieces as digits more surely than the whole
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from .clean import SPECK_FRACTION, Ink, clean
from .common import MIN_SIDE, NoDigitError, components, disk, hole_mask, stroke_width, too_small
from .decode import WORK_MAX_SIDE
from .ink import ink_map
from .render import render
from .select import main_digit

# --- frames and boxes
# A form field's printed boxes: components with holes this close to a rectangle (area over the tightest
# rotated rectangle's) that hold other ink; with two such holes or more, each holds one digit, and
# empty boxes within BOX_SIZE_SPREAD of their median size go too.
RECTANGULAR = 0.8
BOX_SIZE_SPREAD = 0.3
# A piece of the boxes' size each side of which is BOX_OUTLINE ink along its outermost OUTLINE_TEST pixels is a box
# joined to the digit written in it.
BOX_OUTLINE = 0.8
OUTLINE_TEST = 2
# A frame's side, or what the ruled-line eraser left of it: a piece with STRAIGHT_SHARE of its pixels on
# straight runs of ink FRAME_HEIGHT times as long as the digits are tall, drifting sideways by at most
# FRAME_TILT of their length (STRAIGHT_DRIFT pixels at least). Where such runs pass through a component
# that holds digits too, they are erased where the ink across them is thinner than RUN_THICKNESS of a
# digit's height. The digits' height is judged on pieces that are not lines or corners themselves:
# pieces with STRAIGHT_SHARE of their ink on runs across OWN_RUN of their own box are.
STRAIGHT_SHARE = 0.5
FRAME_HEIGHT = 1.6
# A narrow piece this many times as tall as the row's digit is a frame's side wherever it lies (no digit
# in a row is three times as tall as its neighbour), not only at the picture's edge.
FRAME_SIDE_HEIGHT = 3.0
# A piece at the picture's edge with twice the digit's ink is the table or a shadow only if it is also this
# many times the digit's height across: a bold digit cut by the edge has the ink but not the size.
EDGE_PIECE_EXTENT = 1.6
FRAME_TILT = 0.06
STRAIGHT_DRIFT = 3
# A frame's corner the line eraser left at either end of the row (_without_frame_ends): seeds 0-6 of the
# realistic numbers, 3 more read right ("?0244", "955247"), none worse.
CORNER_HEIGHT = 0.8
CORNER_SHARED = 0.3
RUN_THICKNESS = 0.25
OWN_RUN = 0.8
FRAME_STRAY = 0.1  # ink off a frame's runs, in squared digit heights: less than a digit's
FRAME_OFF = 0.3  # what is left of a frame joined to the digits without its runs, less than this share of it off them, is frame
SPECK_REACH = 0.5  # a speck beside a frame, this share of the digits' height from them or nearer, may be a digit's piece
PAGE_SPAN = 0.8  # a piece this share of the picture wide and high, the only one to judge the digits by, is lines joined to them
# --- the row and grouping
ROW_REACH = 1.0  # a component joins the row when its middle is this many digit heights from its neighbour's
# A thin pen that skipped leaves a digit in pieces a few stroke widths apart: pieces closer than
# LINK_STROKES stroke widths are one digit, but never pieces farther apart than LINK_HEIGHT of a digit's
# height (a fat marker's "stroke widths" would reach the next digit).
LINK_STROKES = 6.0
LINK_HEIGHT = 0.12
PEN_RATIO = 2.5  # linked pieces whose stroke widths differ by more than this were drawn by different pens
LOCAL_REACH = 0.25  # a speck within this share of a kept piece's height of its box ...
LOCAL_HEIGHT = 0.5  # ... and at most this share of it tall is judged against that piece
MERGE_OVERLAP = 0.5  # groups sharing this fraction of the narrower one's columns are one digit
FRAGMENT_HEIGHT = 0.5  # a group less tall than this fraction of the digits' (median) height is a fragment
FRAGMENT_REACH = 1.0  # a fragment farther than this many digit heights from the groups beside it is dropped
# A group holding less ink than this share of the median group's is dust, not a digit: a column of
# specks (a scanner's dotted trace beside an MNIST digit, crumbs) that the pieces' linking joined.
DUST_INK = 0.15
# --- cutting touching digits, by shape
# A blob wider than TRY_ASPECT times the digits' height (or, beside two or more digits written apart,
# SPLIT_WIDTH times their median width) is cut along the cheapest path, when that path crosses one
# stroke (runs shorter than NICK stroke widths are grazed corners) of at most JOINT_STROKES stroke
# widths, and each side is a digit: PIECE_HEIGHT of the blob's height tall, PIECE_WIDTH of the digits'
# height wide. The cut stays CUT_MARGIN of the blob's width from its ends; SIDE_STEP is the cost, in
# ink pixels, of the path moving one column aside.
TRY_ASPECT = 1.1
SPLIT_WIDTH = 1.6
NICK = 0.3
JOINT_STROKES = 1.6
PIECE_HEIGHT = 0.6
PIECE_WIDTH = 0.2
CUT_MARGIN = 0.2
SIDE_STEP = 0.05
# Digits overlapping so far that they share a stroke (two 0s, one's right side on the other's left): a
# blob SPLIT_ASPECT times as wide as high, cut into pieces about DIGIT_ASPECT heights wide straight down
# columns that cross ink once over SHARED_RUN of its height and SHARED_STROKES stroke widths, when
# every piece is COLUMN_PIECE_HEIGHT of the blob's height.
SPLIT_ASPECT = 1.25
DIGIT_ASPECT = 0.75
SHARED_RUN = 0.5
SHARED_STROKES = 3.0
COLUMN_PIECE_HEIGHT = 0.75
# --- cutting touching digits, with the model as judge
# Blobs wider than JUDGE_ASPECT of the digits' height that the model is less than 1 - JUDGE_MARGIN sure
# of are tried cut along the cheapest path near each of JUDGE_CENTRES (fractions of the width,
# JUDGE_REACH either side), crossing at most JUDGE_CROSSINGS strokes (two where one digit's stroke runs
# into the other: a 4's bar through a 1) and at most JUDGE_JOINT stroke widths of ink, pieces at least
# JUDGE_PIECE_WIDTH of the height wide (a 1). A cut is taken when the model is JUDGE_SURE of every piece
# and JUDGE_MARGIN surer than of the whole. A blob the model is sure of is tried too when it is
# JUDGE_SPLIT_ASPECT of the height wide (a digit and a leaning 1 can read as one 4), and cut only when the
# model is JUDGE_SPLIT_SURE of every piece and its doubt (1 - sureness) is JUDGE_SPLIT_DOUBT of the whole's.
JUDGE_ASPECT = 0.6
JUDGE_NARROW = 0.3  # ... or of this share of the height, where the model hardly reads a digit in it:
NO_DIGIT = 0.2  # sure of it as a digit at most this (0 for "not a digit"; two fat 1s fused at the top read 0.17)
# A joint a quarter of the way in is a 1 beside a wide digit; a seventh of the way in, a thin-stroked 1 beside a
# wide thin digit, as people draw on a canvas (rows of the real drawings pushed together, bench_real_numbers.py
# --touching 0.5: 241 and 235 of 300 read exactly instead of 238 and 232; realistic numbers of seeds 0-6: 5 more
# read right, 1 worse, a 4's stem cut off as a 1).
JUDGE_CENTRES = (0.15, 0.25, 0.35, 0.45, 0.55, 0.65, 0.75, 0.85)
JUDGE_REACH = 0.1
JUDGE_JOINT = 3.0
JUDGE_PIECE_WIDTH = 0.1
JUDGE_CROSSINGS = 2
# Two pieces of a cut touching along FUSED_CONTACT of the blob's height or more are one shape halved, not two
# digits touching, where the model reads the blob as a digit at all: a marker's filled 0 read as two 1s
# ("08733" read "118733"), a bold 6 as a 1 and a 0. (Read as no digit, it is still cut: digits written well into
# each other touch along much of their height too.) Realistic numbers of seeds 0-6: 5 more read right, long rows
# of seeds 101 and 102: 3 more; none worse (at 0.5, 3 worse).
FUSED_CONTACT = 0.6
NEIGHBOURS = np.ones((3, 3), np.uint8)  # a pixel's eight neighbours and itself
# A blob narrower than this share of the digits' height is one digit or none: a cut through one of its
# holes (a bold 0 or 8 halved into "(" and ")", read as a sure 1 and 7) must be as sure as a sure blob's.
LOOP_ASPECT = 0.8
JUDGE_DEPTH = 2  # a piece is cut again at most this many times: three or four digits written into each other
JUDGE_SPLIT_ASPECT = 0.75
JUDGE_SPLIT_SURE = 0.99
JUDGE_SPLIT_DOUBT = 0.05
JUDGE_SURE = 0.8
JUDGE_MARGIN = 0.2
# A blob JOINT_ASPECT of the digits' height wide or wider (a digit's width is about 0.5-0.9 of it) is also
# tried parted at the joint each cut crosses (_joint_pairs): digits written into each other reach past any
# one cut. Narrower blobs are one digit more often than two, and parted at a joint they split into parts
# that each read as a digit (a 6's loop and stem read as "61"). Realistic numbers of seeds 0-6: 5 more read
# right, none worse (with no width limit: 7 more, 3 worse).
JOINT_ASPECT = 1.0
# A blob PAIR_ASPECT of the digits' height wide (two digits' width) that the model reads as "not a digit" is
# cut where it reads every piece PAIR_SURE, not JUDGE_SURE: one more realistic number of seeds 0-6 and two
# more long rows of seed 101 read right, none worse, and the real letters and doodles under --number read all
# "?" as often (75 of 98); with PAIR_ASPECT 1.0, 4 of those 75 were cut into digits.
PAIR_ASPECT = 1.3
PAIR_SURE = 0.5
# In a row of several blobs (a number, not one letter or doodle), a blob ROW_PAIR_ASPECT of the digits' height wide
# that the model reads as "not a digit" takes the cut it reads best whenever it reads every piece JUDGE_MARGIN
# surer than that (ROW_PAIR_SURE: no bar of its own): among digits it is two digits written into each other far more
# often than a symbol, and "?" is wrong for either reading. Realistic numbers of seeds 0-6: 4 more read right, none
# worse; the real letters and doodles under --number (most of them one blob) read all "?" as often as before.
ROW_PAIR_ASPECT = 0.9
ROW_PAIR_SURE = 0.0
# --- reading touching digits whole, with the pair reader (pairs.py)
# A blob at least PAIR_READ_ASPECT of the digits' height wide, that the shape found wide (see segment_number) or
# the judge cut, is read whole by the pair reader too. Where it is PAIR_READ_SURE of one pair, the blob is those
# two digits: two digits sharing a stroke ("58", which no cut parts into two readable digits), one drawn into
# the other (a 6 run into a 7, read as one 9), a pair cut into three ("07" read "617"). A blob the judge left
# whole is one digit more often: the reader must be PAIR_READ_WHOLE_SURE of it (at 0.95, 6 single digits of seeds
# 0-6 read as pairs, "2" as "21", at 0.95-0.985; the whole blobs it mended there it read at 0.998 or surer).
# A blob the shape did not find wide (a thin 1 run into a 6 is hardly wider than the 6) is read too, from
# PAIR_READ_NARROW_ASPECT of the digits' height wide, but must be PAIR_READ_NARROW_SURE: single digits with a
# tail or a long foot read "91", "71", "41" at 0.99-0.999 (at a bar of 0.99, 28 numbers of seeds 0-6 lost for
# 13 mended), the touching "13", "16", "21", "75" it mended at 0.9995 or surer.
# Realistic numbers of seeds 0-6: 4,725 read exactly instead of 4,695 (34 better, 4 worse); reading the wide pieces
# of a blob that is no pair too (three digits written into each other): 4,730 (5 more better, none worse). Rows of
# people's own drawings pushed together (bench_real_numbers.py --touching 0.5): see the README.
PAIR_READ_ASPECT = 0.8
PAIR_READ_SURE = 0.95
PAIR_READ_WHOLE_SURE = 0.99
PAIR_READ_NARROW_ASPECT = 0.4
PAIR_READ_NARROW_SURE = 0.9995
# Those bars guard digits that read surely as one. In a row of several blobs (a number, not one letter), a blob
# or piece the digit model reads as one digit at most PAIR_READ_DOUBT sure (a 1 run into a 0, read as a 0 at 51%;
# "01" read as "not a digit") is two digits where the reader is PAIR_READ_DOUBTED_SURE of them, unless it reads
# "11": one person's 1 with a long flag and a foot, doubted at 11%, read "11" at 99.8% (3 rows of digits apart lost).
# People's own drawings pushed together (bench_real_numbers.py --touching 0.5, seeds 0-4): 1,329 of 1,500 rows read
# exactly instead of 1,316, none worse; apart (seeds 0, 1), realistic numbers of seeds 0-6 and the real letters and
# doodles under --number as before (seeds 0-6: an 8 read whole at 55% now reads "69", and a "79133" is mended); rows
# of 6-11 digits (seeds 101, 102) one better.
# Lone blobs keep the bars above: the real letter "R" reads "12" at 99.8% and "not a digit" whole, as a lone "16"
# does, and a letter read as a number is worse than a number read "?" (3 more rows mended there, one letter lost).
PAIR_READ_DOUBT = 0.6
PAIR_READ_DOUBTED_SURE = 0.95
PAIR_ONES = 11  # the reader's "11"
PAIR_OTHER = 100  # the reader's last output: one digit, three, or no digits ("00".."99" come before it)
# A blob read as a pair that the judge did not cut in two is halved along the cheapest path between these shares
# of its width, to give each digit its columns and a picture.
PAIR_HALVES = (0.3, 0.7)
# --- joining a digit the pen broke apart, with the model as judge
# A thin pen's skips leave a 4's hook a sixth of the digits' height from its stem, together a little over one
# height wide ("54601" read "561601"): MERGE_GAP 0.2 and APART_WIDTH 1.1 instead of 0.15 and 1.0 read 2 more realistic
# numbers of seeds 0-6 right, none worse; long rows of seeds 101 and 102, the composed real rows and the real
# letters and doodles under --number read as before (at 0.25 and 1.2: one "31525" read "3525").
MERGE_GAP = 0.2  # neighbouring groups this share of the digits' height apart (or overlapping) ...
MERGE_WIDTH = 1.3  # ... and together at most this share of it wide may be one digit
APART_HEIGHT = 0.7  # ... and one of them this share of it tall or less, together at most
APART_WIDTH = 1.1  # this share of it wide, is likely one digit even where both read surely apart
# --- small digits
# A number whose first digit comes out under MIN_DIGIT_PIXELS tall at the working resolution (WORK_MAX_SIDE
# along the picture's longest side) is read again where its digits are about NUMBER_DIGIT_PIXELS tall, at
# most NUMBER_ZOOM times that resolution and never above the picture's own. Rows of 6-11 digits
# (benchmarks/bench_realistic.py --number-lengths 6,11): seeds 100 and 101, looked at, 360/420 read exactly
# instead of 343; seed 102, not looked at, 234/280 instead of 225. Of 3,500 numbers of 2-5 digits (seeds
# 0-4), three read better and none worse.
MIN_DIGIT_PIXELS = 32
NUMBER_DIGIT_PIXELS = 48
NUMBER_ZOOM = 3
# --- spaces
SPACE_FRACTION = 0.6  # a gap wider than this fraction of the median digit height may be a space ...
SPACE_CONTRAST = 2.5  # ... when it is also this many times the number's narrowest gap


@dataclass(frozen=True)
class Digit:
    """One digit found by segment_number: its (28, 28, 1) image, its columns in the working image, and
    whether a space precedes it. ``probabilities``: where the pair reader read it as one of two touching
    digits, what it says (11 values, as the digit model's outputs: digits 0-9, then "not a digit")."""

    image: np.ndarray
    left: int
    right: int
    space_before: bool
    probabilities: np.ndarray | None = None


Judge = Callable[[np.ndarray], np.ndarray]
# float32 (N, 28, 48, 1) blobs drawn as two digits -> (N, 101) probabilities: the pairs "00".."99", then "other".
PairReader = Callable[[np.ndarray], np.ndarray]


def segment_number(image: Image.Image, judge: Judge | None = None, pairs: PairReader | None = None) -> list[Digit]:
    """The digits of a number written in a row, left to right, each rendered like preprocess does.

    ``judge``, if given, maps float32 (N, 28, 28, 1) digit images to (N,) floats in [0, 1]: how sure the
    model is that each is one digit (e.g. inference.interpret's confidence, 0 for "not a digit"). With
    it, a blob that may hold two touching digits is cut where the model reads both sides as digits
    more surely than the whole; without it, only where the shape alone shows a joint. ``pairs``, if given
    too (pairs.py's model), reads each blob about two digits wide as a whole: where it is PAIR_READ_SURE of
    two digits, the blob is those two, whatever the cuts made of it.
    """
    if min(image.size) < MIN_SIDE:
        raise too_small(image.width, image.height)
    found, boxes, main = _found_number(image)
    parts, content = found.parts, found.keep
    if boxes and not _outside_boxes(found, boxes):
        return _boxed_digits(found, boxes)
    # Specks are judged against the digit they lie on too: beside a fat marker's digit, a thin or
    # broken one's pieces were specks.
    found = _with_local_pieces(found)
    parts, content = found.parts, found.keep
    # Digits outside the boxes found (boxes the line eraser took, or a number written beside a
    # form's boxes) are read as a row like any other; the boxes found are gone as frames.
    # The row, followed from the first digit found (with its broken-off pieces: the largest single
    # piece of a broken digit may be a short dash) out to both sides.
    band = parts.bottom[main].max() - parts.top[main].min()
    in_row = _row(parts, content, main, band)
    anchor = main[np.argmax(parts.area[main])]
    in_row = _without_frame_sides(parts, in_row, band, anchor)
    # Pieces lying a few stroke widths apart are one digit (a thin pen that skipped); then groups that
    # overlap horizontally (a detached bar above its digit), left to right.
    linked = _linked(parts, in_row, band)
    order = np.argsort([min(parts.left[g] for g in group) for group in linked])
    groups: list[list[int]] = []
    for group in (linked[i] for i in order):
        left, right = min(parts.left[g] for g in group), max(parts.right[g] for g in group)
        if groups:
            g_left = min(parts.left[g] for g in groups[-1])
            g_right = max(parts.right[g] for g in groups[-1])
            overlap = min(right, g_right) - max(left, g_left)
            if overlap >= MERGE_OVERLAP * min(right - left, g_right - g_left):
                groups[-1].extend(group)
                continue
        groups.append(list(group))

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
            # One far from every digit is none's: a stub of a rule the eraser left at the page's edge.
            if min(gaps) <= FRAGMENT_REACH * median_height:
                target = neighbours[int(np.argmin(gaps))]
                groups[target] = groups[target] + group
            del groups[index]
            merged = True
            break
    # Specks linked into a group of their own read as a 1 ("99:" as 991); a digit, even a broken 1
    # or one written small, holds far more ink than they do.
    if len(groups) > 1:
        inks = np.array([parts.area[group].sum() for group in groups])
        groups = [group for group, ink in zip(groups, inks, strict=True) if ink >= DUST_INK * np.median(inks)]
    groups = _without_frame_ends(parts, groups)
    heights = [height(group) for group in groups]
    median_height = float(np.median(heights))
    widths = [span(group)[1] - span(group)[0] for group in groups]
    # Each group as a blob (its mask in its box), cut where the shape shows two digits touching.
    blobs = []
    origins = []  # each blob's components and the top left of its box
    for index, group in enumerate(groups):
        labels = np.array(group)
        left, right = int(parts.left[labels].min()), int(parts.right[labels].max())
        top, bottom = int(parts.top[labels].min()), int(parts.bottom[labels].max())
        blob = np.isin(parts.labels[top:bottom, left:right], labels + 1)
        others = widths[:index] + widths[index + 1 :]
        digit_height = max(bottom - top, median_height)
        # A blob wide for one digit may be two touching; beside digits written apart, only one about
        # twice as wide as they are (a wide 2 or 4 among them is one digit). It is cut where the cut
        # crosses the least ink, if that is a joint, not a stroke.
        if len(others) >= 2:
            wide = right - left > SPLIT_WIDTH * float(np.median(others))
        else:
            wide = right - left > TRY_ASPECT * digit_height
        stroke = stroke_width(blob)

        cuts = _cut_touching(blob, digit_height, stroke) if wide else [blob]
        if wide and len(cuts) == 1:
            # Digits overlapping so far that their strokes run together (two 0s sharing a side): a
            # straight cut down the shared stroke, where every column crosses ink only once.
            cuts = [_columns_piece(blob, a, b) for a, b in _split_shared(blob, digit_height, stroke)]
        drawn: dict[int, np.ndarray] = {}

        def draw(piece: np.ndarray, labels=labels, top=top, left=left, own=tuple(cuts), drawn=drawn) -> np.ndarray:
            # The judge reads most blobs as the shape cut them, and those are mostly what is read in the
            # end: each is drawn once.
            if not any(piece is cut for cut in own):
                return render(found, labels, piece=(top, left, piece))
            if id(piece) not in drawn:
                drawn[id(piece)] = render(found, labels, piece=(top, left, piece))
            return drawn[id(piece)]

        blobs.append((left, cuts, draw, digit_height, stroke))
        origins.append((labels, top, left, wide))
    if judge is not None:
        _judge_blobs(blobs, judge)
    read = _read_pairs(found, blobs, origins, pairs, judge) if judge is not None and pairs is not None else {}
    pieces: list[tuple[np.ndarray, int, int]] = []
    members: list[np.ndarray | None] = []  # each piece's components, where it is a whole group
    known: dict[int, np.ndarray] = {}  # id(image) -> the pair reader's probabilities for that digit
    for index, ((left, cuts, draw, _, _), group) in enumerate(zip(blobs, groups, strict=True)):
        cuts, pictures, rows = read.get(index, (cuts, [draw(piece) for piece in cuts], None))
        for number, (piece, picture) in enumerate(zip(cuts, pictures, strict=True)):
            columns = np.flatnonzero(piece.any(axis=0))
            pieces.append((picture, left + int(columns[0]), left + int(columns[-1]) + 1))
            members.append(np.array(group) if len(cuts) == 1 else None)
            if rows is not None and rows[number] is not None:
                known[id(picture)] = rows[number]
    if judge is not None:
        pieces = _judged_merges(found, pieces, members, median_height, judge)
    gaps = [left - previous[2] for previous, (_, left, _) in zip(pieces, pieces[1:], strict=False)]
    # A space must be wide for the handwriting and stand out from the number's ordinary spacing,
    # so a narrow "1" beside a wide gap, or two digits far apart, read as one number without spaces.
    ordinary = min(gaps, default=0)
    spaces = [False] + [gap > SPACE_FRACTION * median_height and gap > SPACE_CONTRAST * max(ordinary, 1) for gap in gaps]
    return [Digit(image, left, right, space, known.get(id(image))) for (image, left, right), space in zip(pieces, spaces, strict=True)]


def _found_number(image: Image.Image) -> tuple[Ink, list[tuple[int, int, int, int]], np.ndarray]:
    """The cleaned ink of a number's picture without its frames, the form-field boxes found, and the first
    digit (main_digit), at a working resolution where the digits are at least MIN_DIGIT_PIXELS tall if the
    picture has the pixels for it: a long row across a wide picture comes out a few pixels tall at
    WORK_MAX_SIDE, where thin strokes and box walls blur into each other."""

    def at(side: int) -> tuple[Ink, list[tuple[int, int, int, int]], np.ndarray]:
        found, boxes = _without_frames(clean(ink_map(image, side)))
        # A digit is judged against the picture's height, not its width: a row of eleven digits is small
        # beside the width of a strip cropped close around it, and no speck.
        return found, boxes, main_digit(found, extent=min(found.parts.shape))

    found, boxes, main = at(WORK_MAX_SIDE)
    band = int(found.parts.bottom[main].max() - found.parts.top[main].min())
    if band >= MIN_DIGIT_PIXELS or max(image.size) <= WORK_MAX_SIDE:
        return found, boxes, main
    return at(round(WORK_MAX_SIDE * min(NUMBER_DIGIT_PIXELS / max(band, 1), NUMBER_ZOOM, max(image.size) / WORK_MAX_SIDE)))


def _with_local_pieces(found: Ink) -> Ink:
    """found with the specks that lie on a digit kept too: pieces clean judged against the picture's
    largest (a fat marker's digit, beside which a thin or broken digit's pieces are specks) that are
    SPECK_FRACTION of the area of a kept piece whose box, grown by LOCAL_REACH of its height, holds
    their middle, at most LOCAL_HEIGHT of its height tall, and clear of the picture's edge (the stubs
    of a grid's lines the eraser left are long, and run to it)."""
    parts, keep = found.parts, found.keep
    specks = np.setdiff1d(np.flatnonzero(parts.area >= 2), keep)
    if specks.size == 0:
        return found
    middles_y = ((parts.top + parts.bottom) / 2)[specks][:, np.newaxis]
    middles_x = ((parts.left + parts.right) / 2)[specks][:, np.newaxis]
    heights = (parts.bottom - parts.top)[keep][np.newaxis, :]
    reach = LOCAL_REACH * heights
    inside = (
        (middles_y > parts.top[keep] - reach)
        & (middles_y < parts.bottom[keep] + reach)
        & (middles_x > parts.left[keep] - reach)
        & (middles_x < parts.right[keep] + reach)
        & (parts.area[specks][:, np.newaxis] >= SPECK_FRACTION * parts.area[keep][np.newaxis, :])
        & ((parts.bottom - parts.top)[specks][:, np.newaxis] <= LOCAL_HEIGHT * heights)
        & ~parts.touches_border(specks)[:, np.newaxis]
    )
    local = specks[inside.any(axis=1)]
    if local.size == 0:
        return found
    return Ink(found.ink, found.threshold, parts, np.union1d(keep, local))


def _cut_touching(blob: np.ndarray, height: float, stroke: float) -> list[np.ndarray]:
    """A bool blob as the masks of the digits in it, left to right: cut in two along the top-to-bottom
    path that crosses the least ink, when that path crosses only a joint (about a stroke's width of
    ink) and leaves two pieces as tall as digits; the pieces still wide are cut again."""
    width = blob.shape[1]
    if width <= TRY_ASPECT * height:
        return [blob]
    low, high = round(CUT_MARGIN * width), round((1 - CUT_MARGIN) * width)
    cost, path = _cheapest_path(blob, low, high)
    crossed = blob[np.arange(blob.shape[0]), path]
    # One joint: the path crosses ink once, about a stroke wide. Crossing twice is a loop (a 0 cut in half).
    if cost > JOINT_STROKES * max(stroke, 1.0) or _crossings(crossed, stroke) > 1:
        return [blob]
    columns = np.arange(width)[np.newaxis, :]
    left_piece = blob & (columns < path[:, np.newaxis])
    right_piece = blob & ~left_piece
    for piece in (left_piece, right_piece):
        rows, cols = np.flatnonzero(piece.any(axis=1)), np.flatnonzero(piece.any(axis=0))
        # Both sides must be digits: a wide 2's flat tail or a 7's bar cut off is no digit.
        if rows.size == 0 or rows[-1] - rows[0] + 1 < PIECE_HEIGHT * blob.shape[0] or cols[-1] - cols[0] + 1 < PIECE_WIDTH * height:
            return [blob]
    return _cut_touching(left_piece, height, stroke) + _cut_touching(right_piece, height, stroke)


def _columns_piece(blob: np.ndarray, low: int, high: int) -> np.ndarray:
    """The blob's pixels in columns low..high-1, as a mask of the blob's shape."""
    piece = np.zeros_like(blob)
    piece[:, low:high] = blob[:, low:high]
    return piece


def _split_shared(mask: np.ndarray, height: float, stroke: float) -> list[tuple[int, int]]:
    """Column ranges of the digits in a blob much wider than a digit whose neighbours overlap so far
    that they share a stroke (two 0s side by side, one's right side on the other's left): cut straight
    down that stroke, a column that crosses ink once, over SHARED_RUN of the blob's height and
    SHARED_STROKES stroke widths (not across a fat marker's stroke)."""
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
        if runs[best] > 1 or profile[best] < max(SHARED_RUN * mask.shape[0], SHARED_STROKES * stroke):
            # Every column there crosses two strokes or more (the loop of a wide 0, the arc and base
            # of a wide 2), or the stroke it runs down is short: that is one digit, or no shared stroke.
            return [(0, width)]
        cuts.append(best)
    edges = [0, *sorted(set(cuts)), width]
    pieces = [(a, b) for a, b in zip(edges[:-1], edges[1:], strict=True) if b > a]
    # Every piece of a split must be a digit, as tall as most of the blob: a wide 2 cut at its
    # thinnest column leaves a flat tail, and then the blob was one digit all along.
    rows = [np.flatnonzero(mask[:, a:b].any(axis=1)) for a, b in pieces]
    if any(r.size == 0 or r[-1] - r[0] + 1 < COLUMN_PIECE_HEIGHT * mask.shape[0] for r in rows):
        return [(0, width)]
    return pieces


def _judge_blobs(blobs: list, judge: Judge) -> None:
    """Let the model check the cuts (in place): each blob wide enough for two digits is read as the
    model reads it best (_best_reading: cut where it is unsure of the whole as one digit, or, if wider
    still, where it is far surer of the pieces); a cut the shape found stands only where its pieces,
    each read best in turn, are read at least as surely as that. One call to the model reads every
    whole blob and every piece; each candidate cut is one more."""
    checked = [i for i, (_, cuts, _, height, _) in enumerate(blobs) if len(cuts) > 1 or cuts[0].shape[1] >= JUDGE_NARROW * height]
    if not checked:
        return
    images, owners = [], []
    for i in checked:
        left, cuts, draw, _, _ = blobs[i]
        whole = cuts[0] if len(cuts) == 1 else np.logical_or.reduce(cuts)
        images.extend([draw(whole)] + ([draw(piece) for piece in cuts] if len(cuts) > 1 else []))
        owners.append((i, whole, len(images) - (len(cuts) + 1 if len(cuts) > 1 else 1)))
    sure = judge(np.stack(images))
    among_others = len(blobs) > 1
    for i, whole, at in owners:
        left, cuts, draw, height, stroke = blobs[i]
        # The blob as the model reads it best, cut where it chooses; a cut the shape found is kept
        # only where the model reads its pieces (each cut again where it is unsure) at least as surely.
        memo: dict = {}
        best = _best_reading(whole, float(sure[at]), height, stroke, draw, judge, JUDGE_DEPTH, memo, among_others)
        if len(cuts) > 1:
            readings = [
                _best_reading(piece, float(score), height, stroke, draw, judge, JUDGE_DEPTH, memo, among_others)
                for piece, score in zip(cuts, sure[at + 1 : at + 1 + len(cuts)], strict=True)
            ]
            shaped = min(score for score, _ in readings), [piece for _, pieces in readings for piece in pieces]
            best = shaped if shaped[0] >= best[0] else best
        blobs[i] = (left, best[1], draw, height, stroke)


def _read_pairs(
    found: Ink, blobs: list, origins: list, pairs: PairReader, judge: Judge
) -> dict[int, tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray | None]]]:
    """The blobs the pair reader reads as touching digits: blob index -> (its pieces, their pictures, each piece's 11
    probabilities or None where the digit model reads it). Wide blobs (PAIR_READ_ASPECT; PAIR_READ_NARROW_ASPECT
    where the shape did not find them wide) are read whole, drawn as a pair; one it is sure enough of as two digits
    (PAIR_READ_SURE, PAIR_READ_WHOLE_SURE, PAIR_READ_NARROW_SURE) is those two, each digit's probabilities the pair's
    summed over the other digit. Its pieces are the cuts the judge took where they are two,
    else the blob halved along the cheapest path near its middle (PAIR_HALVES): they give each digit its columns and
    the picture shown for it. Where the blob is no pair, each wide piece the judge cut from it is read the same way,
    as a blob the judge left whole: three digits written into each other, cut into a digit and a pair. In a row of
    several blobs, ``judge`` (segment_number's) reads each blob or piece as one digit too: where it doubts that
    (PAIR_READ_DOUBT), the reader needs only PAIR_READ_DOUBTED_SURE."""
    candidates, images, singles = [], [], []
    for index, ((_, cuts, draw, height, _), (labels, top, left, wide)) in enumerate(zip(blobs, origins, strict=True)):
        whole = cuts[0] if len(cuts) == 1 else np.logical_or.reduce(cuts)
        # The blob, and each wide piece the judge cut from it (three digits written into each other, cut in two).
        for part, piece in [(None, whole)] + ([(n, c) for n, c in enumerate(cuts)] if len(cuts) > 1 else []):
            inked = np.flatnonzero(piece.any(axis=0))
            narrow = part is None and len(cuts) == 1 and not wide
            if inked[-1] + 1 - inked[0] < (PAIR_READ_NARROW_ASPECT if narrow else PAIR_READ_ASPECT) * height:
                continue
            bar = PAIR_READ_SURE if part is None and len(cuts) > 1 else PAIR_READ_NARROW_SURE if narrow else PAIR_READ_WHOLE_SURE
            doubted = len(blobs) > 1 and bar > PAIR_READ_DOUBTED_SURE  # where the digit model's doubt may lower the bar
            try:
                image = render(found, labels, piece=(top, left, piece), pair=True)
                single = draw(piece) if doubted else None  # a cut the shape found is drawn once, for the judge
            except NoDigitError:
                continue
            images.append(image)
            if single is not None:
                singles.append(single)
            candidates.append((index, part, piece, int(inked[0]), int(inked[-1]) + 1, bar, single is not None))
    if not candidates:
        return {}
    doubts = iter(judge(np.stack(singles)) if singles else [])
    read: dict = {}
    for (index, part, piece, first, last, bar, doubted), row in zip(candidates, pairs(np.stack(images)), strict=True):
        best = int(np.argmax(row))
        _, cuts, draw, _, _ = blobs[index]
        cut = part is None and len(cuts) > 1
        doubt = next(doubts) if doubted else 1.0
        if doubt <= PAIR_READ_DOUBT and best != PAIR_ONES:
            bar = PAIR_READ_DOUBTED_SURE
        if best == PAIR_OTHER or row[best] < bar or (part is not None and index in read):
            continue
        joint = row[:PAIR_OTHER].reshape(10, 10) / max(float(row[:PAIR_OTHER].sum()), 1e-9)
        other = float(row[PAIR_OTHER])
        rows = np.zeros((2, 11), np.float32)
        rows[0, :10], rows[1, :10] = joint.sum(axis=1) * (1 - other), joint.sum(axis=0) * (1 - other)
        rows[:, 10] = other
        if cut and len(cuts) == 2:
            halves = list(cuts)
        else:
            width = last - first
            _, path = _cheapest_path(piece, first + round(PAIR_HALVES[0] * width), first + round(PAIR_HALVES[1] * width))
            left_piece = piece & (np.arange(piece.shape[1])[np.newaxis, :] < path[:, np.newaxis])
            halves = [left_piece, piece & ~left_piece]
        try:
            pictures = [draw(half) for half in halves]
        except NoDigitError:
            continue  # a half of faint edge pixels only: the blob is read as before
        if part is None:
            read[index] = (halves, pictures, [rows[0], rows[1]])
        else:  # one piece of the judge's cut becomes two digits; the other pieces stay as the digit model reads them
            others = [draw(c) for c in cuts]
            read[index] = (
                list(cuts[:part]) + halves + list(cuts[part + 1 :]),
                others[:part] + pictures + others[part + 1 :],
                [None] * part + [rows[0], rows[1]] + [None] * (len(cuts) - part - 1),
            )
    return read


def _judged_merges(
    found: Ink, pieces: list[tuple[np.ndarray, int, int]], members: list[np.ndarray | None], height: float, judge: Judge
) -> list[tuple[np.ndarray, int, int]]:
    """Neighbouring groups that are one digit the pen broke apart (the two sides of a 0, a 6's stem and
    loop): two whole groups at most MERGE_GAP of the digits' ``height`` apart, together at most
    MERGE_WIDTH of it wide, one of which the model is unsure of as a digit, are one digit where the
    model reads them together JUDGE_SURE and JUDGE_MARGIN surer than the less sure of the two. Where
    one is at most APART_HEIGHT of the digits' height tall and together they are at most APART_WIDTH
    of it wide, they are one digit where the model reads them together JUDGE_SPLIT_SURE, however
    surely it reads each."""
    pairs = [
        i
        for i in range(len(pieces) - 1)
        if members[i] is not None
        and members[i + 1] is not None
        and pieces[i + 1][1] - pieces[i][2] <= MERGE_GAP * height
        and pieces[i + 1][2] - pieces[i][1] <= MERGE_WIDTH * height
    ]
    if not pairs:
        return pieces
    sure = judge(np.stack([image for image, _, _ in pieces]))
    parts = found.parts

    def tall(group: np.ndarray) -> float:
        return float(parts.bottom[group].max() - parts.top[group].min())

    # A piece far shorter than the digits beside its neighbour, together no wider than one digit, is
    # likely a part of it the pen left apart (a 6's loop beside its stem, read as a sure 0 beside a 1).
    apart = {
        i
        for i in pairs
        if pieces[i + 1][2] - pieces[i][1] <= APART_WIDTH * height and min(tall(members[i]), tall(members[i + 1])) <= APART_HEIGHT * height
    }
    pairs = [i for i in pairs if min(sure[i], sure[i + 1]) < JUDGE_SURE or i in apart]
    if not pairs:
        return pieces
    images = [render(found, np.concatenate([members[i], members[i + 1]])) for i in pairs]
    together = judge(np.stack(images))
    merged: list[tuple[np.ndarray, int, int] | None] = list(pieces)
    taken: set[int] = set()
    # Surest first; a piece joins one neighbour at most.
    for i, score, image in sorted(zip(pairs, together, images, strict=True), key=lambda item: -item[1]):
        # Two pieces the model reads surely apart are one digit only where it is as sure of them
        # together as a sure blob's cut must be of its pieces.
        needed = min(sure[i], sure[i + 1]) + JUDGE_MARGIN
        if i in apart:
            needed = min(needed, JUDGE_SPLIT_SURE)
        if i in taken or i + 1 in taken or score < JUDGE_SURE or score < needed:
            continue
        taken |= {i, i + 1}
        merged[i] = (image, pieces[i][1], pieces[i + 1][2])
        merged[i + 1] = None
    return [piece for piece in merged if piece is not None]


def _best_reading(
    blob: np.ndarray,
    whole: float,
    height: float,
    stroke: float,
    draw: Callable[[np.ndarray], np.ndarray],
    judge: Judge,
    depth: int,
    memo: dict | None = None,
    among_others: bool = False,
) -> tuple[float, list[np.ndarray]]:
    """(how sure the model is of its least sure digit, the pieces) for the best reading of a blob: the blob,
    or its pieces when the model reads a cut of it as digits more surely than the whole as one (``whole``:
    how sure it is of the whole); the candidate cuts are the cheapest paths near a few places across the
    blob, and a piece the model is unsure of is tried cut again (``depth`` times: three or four digits
    written into each other).

    ``memo`` keeps what was found for each piece (its reading at each depth, how sure the model is of
    it): the cuts of a blob and of its pieces meet the same pieces again and again. ``among_others``: the blob
    is one of several in its row (see ROW_PAIR_ASPECT); one memo serves blobs of one row only."""
    memo = {} if memo is None else memo
    known = (id(draw), depth, blob.shape, np.packbits(blob).tobytes())
    if known not in memo:
        memo[known] = _read_best(blob, whole, height, stroke, draw, judge, depth, memo, among_others)
    return memo[known]


def _read_best(
    blob: np.ndarray,
    whole: float,
    height: float,
    stroke: float,
    draw: Callable[[np.ndarray], np.ndarray],
    judge: Judge,
    depth: int,
    memo: dict,
    among_others: bool = False,
) -> tuple[float, list[np.ndarray]]:
    """_best_reading without the memo."""
    # A piece cut off an earlier blob keeps that blob's shape: the cuts are placed across its own columns.
    inked = np.flatnonzero(blob.any(axis=0))
    first, width = int(inked[0]), int(inked[-1]) + 1 - int(inked[0])
    # A blob the model reads surely as one digit may still be two (a 1 leaning on a 4 reads as a 4):
    # one as wide as a digit and a 1 is tried too, and cut only where the model is surer still of both pieces.
    sure_whole = whole >= 1 - JUDGE_MARGIN
    # A blob narrower than most pairs is tried only when the model reads no digit in it at all (two 1s
    # written into each other, a V).
    narrow = width < (JUDGE_NARROW if whole <= NO_DIGIT else JUDGE_ASPECT) * height
    if (sure_whole and width < JUDGE_SPLIT_ASPECT * height) or depth == 0 or narrow:
        return whole, [blob]
    candidates: list[tuple[tuple[np.ndarray, np.ndarray], list[tuple], bool]] = []
    images: list[np.ndarray] = []
    queued: list[tuple] = []  # the pieces drawn for the model, in order
    seen: set[bytes] = set()
    columns = np.arange(blob.shape[1])[np.newaxis, :]
    inked_rows = np.flatnonzero(blob.any(axis=1))
    blob_height = int(inked_rows[-1]) + 1 - int(inked_rows[0])
    # Only a blob as found, about one digit wide, is checked for cuts through its holes: a touching pair
    # often encloses a hole at its joint (a 1 run into a 4's triangle), which is where it must be cut.
    holes = hole_mask(blob) if depth == JUDGE_DEPTH and width < LOOP_ASPECT * height else None
    for centre in JUDGE_CENTRES:
        low = first + max(1, round((centre - JUDGE_REACH) * width))
        high = first + min(width - 1, round((centre + JUDGE_REACH) * width))
        if high - low < 1:
            continue
        cost, path = _cheapest_path(blob, low, high)
        crossed = blob[np.arange(blob.shape[0]), path]
        # Crossing two strokes may halve a 0 into two 1s too: the model's reading of the pieces decides.
        if cost > JUDGE_JOINT * max(stroke, 1.0) or _crossings(crossed, stroke) > JUDGE_CROSSINGS or path.tobytes() in seen:
            continue
        loop = holes is not None and bool(holes[np.arange(blob.shape[0]), path].any())
        seen.add(path.tobytes())
        left_piece = blob & (columns < path[:, np.newaxis])
        pairs = [(left_piece, blob & ~left_piece)]
        if width >= JOINT_ASPECT * height:
            pairs += _joint_pairs(blob, path, crossed, stroke, left_piece)
        for pair in pairs:
            if not all(_digit_sized(piece, blob.shape[0], height, JUDGE_PIECE_WIDTH) for piece in pair):
                continue
            if whole > 0 and _contact(*pair) >= FUSED_CONTACT * blob_height:
                continue
            keys = [(id(draw), piece.shape, np.packbits(piece).tobytes()) for piece in pair]
            new = [(piece, key) for piece, key in zip(pair, keys, strict=True) if key not in memo and key not in queued]
            try:
                drawn = [draw(piece) for piece, _ in new]
            except NoDigitError:
                continue  # a piece of faint edge pixels only, which vanish when the digit is drawn: no digit
            images.extend(drawn)
            queued.extend(key for _, key in new)
            candidates.append((pair, keys, loop))
    if not candidates:
        return whole, [blob]
    if images:
        memo.update(zip(queued, (float(score) for score in judge(np.stack(images))), strict=True))
    best: tuple[float, list[np.ndarray]] | None = None
    for pair, keys, loop in candidates:
        readings = [
            _best_reading(piece, memo[key], height, stroke, draw, judge, depth - 1, memo, among_others)
            for piece, key in zip(pair, keys, strict=True)
        ]
        score = min(reading[0] for reading in readings)
        if sure_whole or loop:
            taken = score >= JUDGE_SPLIT_SURE and 1 - score <= JUDGE_SPLIT_DOUBT * (1 - whole)
        else:
            # A blob wide enough for two digits that the model reads as no digit at all is more likely
            # two than none: a cut it reads as two digits half surely is taken.
            bar = PAIR_SURE if whole == 0 and width >= PAIR_ASPECT * height else JUDGE_SURE
            if among_others and whole == 0 and width >= ROW_PAIR_ASPECT * height:
                bar = ROW_PAIR_SURE
            taken = score >= bar and score >= whole + JUDGE_MARGIN
        if taken and (best is None or score > best[0]):
            best = score, [piece for reading in readings for piece in reading[1]]
    return best or (whole, [blob])


def _joint_pairs(
    blob: np.ndarray, path: np.ndarray, crossed: np.ndarray, stroke: float, left_piece: np.ndarray
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The (left, right) pieces a cut leaves when only a joint it crosses is taken out, where they differ from
    the cut's own columns: each stroke the path crosses (and all of them together) is taken out in turn, a
    stroke width across, and where the blob falls apart each part goes whole to the side most of it lies on.
    Digits written into each other reach past any one cut (an 8's lower loop under a 5's tail): cut by
    columns, one loses that part to the other; parted at the joint, each keeps its own strokes."""
    runs = _ink_runs(crossed)
    half = max(1, round(stroke / 2))
    rows = np.arange(blob.shape[0])[:, np.newaxis]
    near_path = np.abs(np.arange(blob.shape[1])[np.newaxis, :] - path[:, np.newaxis]) <= half
    pairs: list[tuple[np.ndarray, np.ndarray]] = []
    for taken in [[run] for run in runs] + ([runs] if len(runs) > 1 else []):
        band = np.zeros_like(blob)
        for start, end in taken:
            band |= near_path & (rows >= start - half) & (rows < end + half)
        rest = blob & ~band
        parts = components(rest)
        if len(parts.area) < 2:
            continue
        on_left = np.bincount(parts.labels[rest & left_piece], minlength=len(parts.area) + 1)[1:]
        goes_left = np.flatnonzero(2 * on_left > parts.area) + 1
        left = np.isin(parts.labels, goes_left) & rest | (band & left_piece)
        if (left != left_piece).any() and left.any() and (blob & ~left).any():
            pairs.append((left, blob & ~left))
    return pairs


def _contact(left: np.ndarray, right: np.ndarray) -> int:
    """How many pixels of one piece of a cut touch the other (8-connected): about the length of their joint."""
    return int(np.count_nonzero(cv2.dilate(left.astype(np.uint8), NEIGHBOURS).astype(bool) & right))


def _digit_sized(piece: np.ndarray, blob_height: int, height: float, min_width: float) -> bool:
    """True if a cut piece is as tall as a digit in its blob and at least ``min_width`` of a digit's height wide."""
    rows, cols = np.flatnonzero(piece.any(axis=1)), np.flatnonzero(piece.any(axis=0))
    return rows.size > 0 and rows[-1] - rows[0] + 1 >= PIECE_HEIGHT * blob_height and cols[-1] - cols[0] + 1 >= min_width * height


def _crossings(crossed: np.ndarray, stroke: float) -> int:
    """How many strokes a cut crosses, given the ink under it row by row: runs of ink, not counting
    nicks shorter than NICK of a stroke width (where the cut grazes a corner beside the joint)."""
    lengths = np.array([end - start for start, end in _ink_runs(crossed)], dtype=np.int64)
    return int(np.count_nonzero(lengths >= max(2.0, NICK * stroke)))


def _ink_runs(crossed: np.ndarray) -> list[tuple[int, int]]:
    """(first, past-last) row of each run of ink under a cut, given the ink under it row by row."""
    edges = np.diff(np.concatenate([[0], crossed.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist(), strict=True))


def _cheapest_path(blob: np.ndarray, low: int, high: int) -> tuple[float, np.ndarray]:
    """The top-to-bottom path through columns low..high-1 of a bool blob, moving at most one column per
    row, that crosses the fewest ink pixels: (ink crossed, the path's column in every row)."""
    ink = blob[:, low:high].astype(np.float32)
    rows, count = ink.shape
    cost = ink[0].copy()
    steps = np.zeros((rows, count), dtype=np.int8)
    edge = np.full(1, np.inf, dtype=np.float32)
    for row in range(1, rows):
        # Straight down, or one column aside (a little dearer, so the cut stays straight where it can).
        options = np.stack([np.concatenate([edge, cost[:-1]]) + SIDE_STEP, cost, np.concatenate([cost[1:], edge]) + SIDE_STEP])
        choice = np.argmin(options, axis=0)
        cost = options[choice, np.arange(count)] + ink[row]
        steps[row] = choice - 1
    column = int(np.argmin(cost))
    path = np.empty(rows, dtype=np.int64)
    for row in range(rows - 1, -1, -1):
        path[row] = column
        column += int(steps[row, column])
    return float(ink[np.arange(rows), path].sum()), path + low


def _row(parts, content: np.ndarray, main: np.ndarray, band: float) -> np.ndarray:
    """The components of the row: each one's vertical middle lies within ROW_REACH of a digit's height
    (``band``) of the nearest one (left or right) already in the row, starting from ``main``; so a
    row written uphill or downhill is followed, one neighbour at a time."""
    middles = (parts.top + parts.bottom) / 2
    centres = (parts.left + parts.right) / 2
    row = np.zeros(parts.count, dtype=bool)
    row[main] = True
    candidates = np.setdiff1d(content, main)
    while candidates.size:
        members = np.flatnonzero(row)
        nearest = members[np.argmin(np.abs(centres[candidates][:, np.newaxis] - centres[members][np.newaxis, :]), axis=1)]
        joining = np.abs(middles[candidates] - middles[nearest]) < ROW_REACH * band
        if not joining.any():
            break
        row[candidates[joining]] = True
        candidates = candidates[~joining]
    return np.flatnonzero(row & np.isin(np.arange(parts.count), content))


def _without_frame_sides(parts, in_row: np.ndarray, band: float, anchor: int) -> np.ndarray:
    """The row's components without the sides of a frame and the table around the page; ``band`` is the
    height of the digit the row was followed from, ``anchor`` that digit's largest component."""
    # A piece at the picture's edge much larger than the digit (in ink and in size), or FRAME_HEIGHT times as
    # tall as the row and no wider than it is tall (a page frame's side, too slanted for its runs to be found),
    # is no digit; nor, wherever it lies, is one FRAME_SIDE_HEIGHT times as tall (a frame drawn around the number).
    tall = np.where(parts.right[in_row] - parts.left[in_row] <= band, (parts.bottom[in_row] - parts.top[in_row]) / band, 0.0)
    extent = np.maximum(parts.bottom[in_row] - parts.top[in_row], parts.right[in_row] - parts.left[in_row]) / band
    larger = (parts.area[in_row] > 2 * parts.area[anchor]) & (extent >= EDGE_PIECE_EXTENT)
    border = parts.touches_border(in_row) & (larger | (tall >= FRAME_HEIGHT))
    keep = ~border & (tall < FRAME_SIDE_HEIGHT)
    # A tall piece at either end of the row reaching past all the others above and below brackets the row:
    # the side of a frame drawn close around the number (a 1 written tall still shares their foot or top).
    kept = in_row[keep]
    if kept.size > 2:
        for end in (kept[np.argmin(parts.left[kept])], kept[np.argmax(parts.left[kept])]):
            others = kept[kept != end]
            at = int(np.flatnonzero(in_row == end)[0])
            if tall[at] >= FRAME_HEIGHT and parts.top[end] < parts.top[others].min() and parts.bottom[end] > parts.bottom[others].max():
                keep[at] = False
    return in_row[keep]


def _without_frame_ends(parts, groups: list[list[int]]) -> list[list[int]]:
    """The row's groups (left to right) without what the line eraser left of a frame drawn around the number on
    ruled paper, at either end of the row. A corner (its top rule and a stub of its side) is as tall as a digit
    (CORNER_HEIGHT of the median group), lies mostly above or below its neighbour (sharing under CORNER_SHARED
    of its height with it), and was drawn by a finer pen (PEN_RATIO) than the digits. A side, cut into pieces
    where the ruled lines crossed it and erased, is FRAME_HEIGHT times as tall as the median group, no wider
    than that group is tall, and reaches past every other group above and below (as _without_frame_sides
    asks of one piece)."""
    if len(groups) < 3:
        return groups

    def span(group: list[int]) -> tuple[int, int]:
        return min(parts.top[g] for g in group), max(parts.bottom[g] for g in group)

    def pen(group: list[int]) -> float:
        return max(_pen_width(parts, g) for g in group)

    tall = float(np.median([bottom - top for top, bottom in map(span, groups)]))
    frame_ends = set()
    for end, beside in ((0, 1), (len(groups) - 1, len(groups) - 2)):
        (top, bottom), (beside_top, beside_bottom) = span(groups[end]), span(groups[beside])
        others = [span(group) for index, group in enumerate(groups) if index != end]
        width = max(parts.right[g] for g in groups[end]) - min(parts.left[g] for g in groups[end])
        if bottom - top >= FRAME_HEIGHT * tall and width <= tall:
            if top < min(other[0] for other in others) and bottom > max(other[1] for other in others):
                frame_ends.add(end)
                continue
        shared = min(bottom, beside_bottom) - max(top, beside_top)
        # The pens are measured last, and only here: most rows have no such end.
        if bottom - top >= CORNER_HEIGHT * tall and shared < CORNER_SHARED * (bottom - top):
            if pen(groups[end]) * PEN_RATIO <= np.median([pen(group) for group in groups]):
                frame_ends.add(end)
    return [group for index, group in enumerate(groups) if index not in frame_ends]


def _linked(parts, labels: np.ndarray, height: float) -> list[list[int]]:
    """The given components grouped by nearness: pieces closer than a few stroke widths (at most
    LINK_HEIGHT of a digit's ``height``) end up in one group, as do chains of them, if one pen drew them."""
    if labels.size < 2:
        return [[int(label)] for label in labels]
    mask = parts.mask(labels)
    reach = min(LINK_STROKES * stroke_width(mask), LINK_HEIGHT * height)
    radius = int(reach // 2)
    if radius < 1:
        return [[int(label)] for label in labels]
    _, near = cv2.connectedComponents(cv2.dilate(mask.astype(np.uint8), disk(radius)), connectivity=8)
    # Each component lies inside one region of the grown mask: read it at the component's pixels.
    regions = int(near.max()) + 1
    pairs = np.unique(parts.labels[mask].astype(np.int64) * regions + near[mask])
    groups: dict[int, list[int]] = {}
    for label, region in zip(pairs // regions, pairs % regions, strict=True):
        groups.setdefault(int(region), []).append(int(label) - 1)
    # Linked pieces are one digit's only if one pen drew them: a thin digit written close beside fat ones
    # is its own however near (its gap is within a fat stroke's reach). Each group is split where its
    # pieces' stroke widths, in order, jump by more than PEN_RATIO.
    split: list[list[int]] = []
    for group in groups.values():
        if len(group) == 1:
            split.append(group)
            continue
        pens = sorted((_pen_width(parts, label), label) for label in group)
        split.append([pens[0][1]])
        for (before, _), (width, label) in zip(pens, pens[1:], strict=False):
            if width > PEN_RATIO * before:
                split.append([])
            split[-1].append(label)
    return split


def _pen_width(parts, label: int) -> float:
    """Stroke width of one component, measured in its own box."""
    box = parts.labels[parts.top[label] : parts.bottom[label], parts.left[label] : parts.right[label]]
    return stroke_width(box == label + 1)


def _without_frames(found: Ink) -> tuple[Ink, list[tuple[int, int, int, int]]]:
    """The ink without frames drawn around the number or a form field's printed boxes, and the boxes
    (top, bottom, left, right) that each hold one digit (none when the number is not written in boxes)."""
    parts, content = found.parts, found.keep
    frames: list[int] = []
    cells: list[tuple[int, int, int, int]] = []
    rings: list[tuple[int, tuple[int, int]]] = []  # empty rectangular boxes: (label, (height, width))
    for label in content:
        top, bottom, left, right = (int(v[label]) for v in (parts.top, parts.bottom, parts.left, parts.right))
        # Cheap test first: a frame's box is larger than the ink it holds.
        inside = content[
            (parts.top[content] > top) & (parts.bottom[content] < bottom) & (parts.left[content] > left) & (parts.right[content] < right)
        ]
        crop = np.ascontiguousarray(parts.labels[top:bottom, left:right] == label + 1, dtype=np.uint8)
        contours, hierarchy = cv2.findContours(crop, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
        if hierarchy is None:
            continue
        holding = []
        for contour, (_, _, _, parent) in zip(contours, hierarchy[0], strict=True):
            if parent < 0 or len(contour) < 4:
                continue
            (_, _), (rect_w, rect_h), _ = cv2.minAreaRect(contour)
            if rect_w * rect_h < 16 or cv2.contourArea(contour) < RECTANGULAR * rect_w * rect_h:
                continue
            x, y, w, h = cv2.boundingRect(contour)
            cell = (top + y, top + y + h, left + x, left + x + w)
            held = inside[
                (parts.top[inside] >= cell[0])
                & (parts.bottom[inside] <= cell[1])
                & (parts.left[inside] >= cell[2])
                & (parts.right[inside] <= cell[3])
            ]
            if held.size:
                holding.append(cell)
            else:
                rings.append((int(label), (h, w)))
        if holding:
            frames.append(int(label))
            cells.extend(holding)
    walled: dict[int, tuple[tuple[int, int, int, int], np.ndarray]] = {}
    if len(cells) < 2:
        # No form field: frames drawn around the number, whole or in pieces, are found by their long
        # straight sides (a form's box is hardly taller than its digit, so a 1 beside its wall would be
        # taken for one).
        cells = []
        # A frame whose box holds the digits but which is joined to one of them (written against it, or
        # by a rule) loses only its runs, like any component joined to the lines.
        pieces, erase, joined = _frame_pieces(found, frames)
        frames = sorted((set(frames) - set(joined)) | set(pieces))
    else:
        erase = np.zeros(parts.shape, dtype=bool)
    if not frames and not erase.any():
        return found, []
    if len(cells) >= 2:
        # A form field: the boxes left empty (rings of the same size holding nothing) go too.
        size = np.median([(bottom - top, right - left) for top, bottom, left, right in cells], axis=0)
        # A box whose digit touches its wall is one piece with it (its holes, cut by the digit, hold nothing).
        walled = _walled_digits(parts, np.setdiff1d(content, frames), cells, size)
        for label, shape in rings:
            if label not in frames and label not in walled and np.all(np.abs(np.array(shape) - size) <= BOX_SIZE_SPREAD * size):
                frames.append(label)
        # A box as wide as two or more of the others is boxes whose shared wall is missing (printed too
        # pale, or taken by the line eraser): each holds its own digit.
        split = []
        for top, bottom, left, right in cells:
            count = round((right - left) / size[1])
            if count >= 2 and abs(right - left - count * size[1]) <= BOX_SIZE_SPREAD * size[1]:
                edges = np.linspace(left, right, count + 1).round().astype(int)
                split.extend((top, bottom, int(a), int(b)) for a, b in zip(edges[:-1], edges[1:], strict=True))
            else:
                split.append((top, bottom, left, right))
        cells = split
    rest = np.setdiff1d(content, frames)
    if rest.size == 0:
        return found, []
    if cells:
        # A form field: every piece stays, specks too, to be judged box by box (_boxed_digits): a faint
        # digit's pieces are specks beside a fat marker's digit in the next box, not beside its own.
        pieces = np.setdiff1d(np.arange(parts.count), frames)
        if walled:
            # Boxes whose digit touches a wall lose their outline, and each holds its digit.
            kept = parts.mask(pieces)
            for (top, bottom, left, right), outline in walled.values():
                kept[top:bottom, left:right] &= ~outline
                cells.append((top, bottom, left, right))
            parts = components(kept)
            held = np.arange(parts.count)
        else:
            parts = parts.subset(pieces)
            held = np.flatnonzero(np.isin(pieces, rest))
        keep = held[parts.area[held] >= max(SPECK_FRACTION * parts.area[held].max(), 2)]
        return Ink(found.ink, found.threshold, parts, keep), sorted(cells, key=lambda cell: cell[2])
    # A digit's detached piece (a 5's bar) was a speck beside the frame that dwarfed it: the pieces that
    # were specks come back where they lie among the digits (within SPECK_REACH of their height of the
    # box around them; a frame's stubs lie beyond), to be judged against the digits below.
    reach = SPECK_REACH * float((parts.bottom - parts.top)[rest].max())
    near = (
        (parts.top > parts.top[rest].min() - reach)
        & (parts.bottom < parts.bottom[rest].max() + reach)
        & (parts.left > parts.left[rest].min() - reach)
        & (parts.right < parts.right[rest].max() + reach)
    )
    unframed = np.union1d(rest, np.setdiff1d(np.flatnonzero(near), np.concatenate([content, frames])))
    if not erase.any():
        parts = parts.subset(unframed)
    else:
        remaining = components(parts.mask(unframed) & ~erase)
        if remaining.count == 0:
            return found, []
        parts = remaining
    # Specks are judged against the digits now, not against the frame that dwarfed them.
    keep = np.flatnonzero(parts.area >= max(SPECK_FRACTION * parts.area.max(), 2))
    return Ink(found.ink, found.threshold, parts, keep), sorted(cells, key=lambda cell: cell[2])


def _walled_digits(
    parts, candidates: np.ndarray, cells: list[tuple[int, int, int, int]], size: np.ndarray
) -> dict[int, tuple[tuple[int, int, int, int], np.ndarray]]:
    """Form-field boxes that are one piece with the digit written in them (it touches a wall), and so hold no piece
    of their own: pieces of about the boxes' ``size``, level with the ``cells`` found, each of whose four sides is
    BOX_OUTLINE ink along its outermost OUTLINE_TEST pixels. By component number: its box (top, bottom, left,
    right), and its outline in that box, a bool band as thick as the walls."""
    level = float(np.median([cell[0] for cell in cells]))
    found = {}
    for label in candidates:
        top, bottom, left, right = (int(v[label]) for v in (parts.top, parts.bottom, parts.left, parts.right))
        shape = np.array([bottom - top, right - left])
        if np.any(np.abs(shape - size) > BOX_SIZE_SPREAD * size) or abs(top - level) > BOX_SIZE_SPREAD * size[0]:
            continue
        piece = parts.labels[top:bottom, left:right] == label + 1
        # Each side straight and whole, as printed; a squarish 0 filling its box is rounded at the corners.
        sides = (piece[:OUTLINE_TEST], piece[-OUTLINE_TEST:], piece[:, :OUTLINE_TEST], piece[:, -OUTLINE_TEST:])
        if min(float(side.mean()) for side in sides) >= BOX_OUTLINE:
            # The walls are as thick as the box is larger than the holes of the others, and a pixel more.
            wall = max(OUTLINE_TEST, int(np.ceil(float(np.max(shape - size)) / 2)) + 1)
            band = np.ones(tuple(shape), dtype=bool)
            band[wall:-wall, wall:-wall] = False
            found[int(label)] = ((top, bottom, left, right), band)
    return found


def _straight(parts, label: int) -> bool:
    """True if most of a component lies on straight runs across most of its own width or height: a
    line, a corner, a U (or a straight 1)."""
    top, bottom, left, right = (int(v[label]) for v in (parts.top, parts.bottom, parts.left, parts.right))
    crop = np.ascontiguousarray(parts.labels[top:bottom, left:right] == label + 1, dtype=np.uint8)
    drift = cv2.dilate(crop, np.ones((STRAIGHT_DRIFT, STRAIGHT_DRIFT), np.uint8))
    runs = cv2.morphologyEx(drift, cv2.MORPH_OPEN, np.ones((1, max(1, round(OWN_RUN * (right - left)))), np.uint8))
    runs |= cv2.morphologyEx(drift, cv2.MORPH_OPEN, np.ones((max(1, round(OWN_RUN * (bottom - top))), 1), np.uint8))
    return cv2.countNonZero(crop & runs) >= STRAIGHT_SHARE * cv2.countNonZero(crop)


def _digit_height(parts, content: np.ndarray, ink: np.ndarray, across: bool = True) -> float:
    """About how tall the digits are, judged on the pieces that are neither straight lines and corners
    (the frame's pieces can outnumber the digits) nor boxes around other pieces (a frame whose sides are
    as straight as a 4 and a 7 inside it), the larger half of them (a broken pen's dashes are many and
    small). When the only such piece spans the picture (PAGE_SPAN; pale rules the eraser missed join the digits to
    a frame around the page), it is judged on what is left of the ink without the lines across the page."""
    curved = np.array([not _straight(parts, label) for label in content], dtype=bool)
    holder = np.array(
        [
            np.any(
                (parts.top[content] > parts.top[label])
                & (parts.bottom[content] < parts.bottom[label])
                & (parts.left[content] > parts.left[label])
                & (parts.right[content] < parts.right[label])
            )
            for label in content
        ],
        dtype=bool,
    )
    pool = next((content[keep] for keep in (curved & ~holder, ~holder, curved) if keep.any()), content)
    spans = pool.size == 1 and (parts.right - parts.left)[pool[0]] >= PAGE_SPAN * parts.shape[1]
    if across and spans and (parts.bottom - parts.top)[pool[0]] >= PAGE_SPAN * parts.shape[0]:
        level = cv2.morphologyEx(ink, cv2.MORPH_OPEN, np.ones((1, round(PAGE_SPAN * ink.shape[1])), np.uint8))
        upright = cv2.morphologyEx(ink, cv2.MORPH_OPEN, np.ones((round(PAGE_SPAN * ink.shape[0]), 1), np.uint8))
        rest = components((ink > 0) & (cv2.dilate(level | upright, np.ones((3, 3), np.uint8)) == 0))
        rest_content = np.flatnonzero(rest.area >= max(SPECK_FRACTION * rest.area.max(initial=0), 2))
        if rest_content.size:
            return _digit_height(rest, rest_content, ink, across=False)
    larger = (parts.bottom - parts.top)[pool][np.argsort(parts.area[pool])[pool.size // 2 :]]
    return float(np.percentile(larger, 75))


def _frame_pieces(found: Ink, boxing: list[int]) -> tuple[list[int], np.ndarray, list[int]]:
    """Components that lie on a frame's straight sides: on runs of ink FRAME_HEIGHT times as long as the
    digits are tall (level or upright), which no digit's stroke makes; the pixels of such runs to
    erase from larger components that also hold other ink (with, for those of ``boxing``, the frames
    found by the box they make, the stubs left along the runs); and those larger components. The
    ruled-line eraser in clean leaves pieces of a frame behind (a side between two rules, a corner);
    the runs are looked for in the ink before erasing, where the frame is whole."""
    parts, content = found.parts, found.keep
    heights = (parts.bottom - parts.top)[content]
    ink = np.ascontiguousarray(found.ink > found.threshold, dtype=np.uint8)
    # Faint rules the eraser missed lie under the threshold, joined to the strokes by hysteresis: where
    # lines are erased from the digits, the components' pixels count as ink too.
    faint = np.ascontiguousarray(ink | parts.mask(content), dtype=np.uint8)
    length = round(FRAME_HEIGHT * _digit_height(parts, content, faint))
    # A drawn frame's side drifts a few pixels over its length (a hand's tilt): let its runs through that.
    drift = max(STRAIGHT_DRIFT, round(FRAME_TILT * length))

    def runs(ink: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        level = cv2.morphologyEx(cv2.dilate(ink, np.ones((drift, 1), np.uint8)), cv2.MORPH_OPEN, np.ones((1, length), np.uint8)) & ink
        upright = cv2.morphologyEx(cv2.dilate(ink, np.ones((1, drift), np.uint8)), cv2.MORPH_OPEN, np.ones((length, 1), np.uint8)) & ink
        return level, upright

    level, upright = runs(ink)
    on_runs = np.bincount(parts.labels[(level | upright) > 0], minlength=parts.count + 1)[1:]
    # A frame's piece lies mostly on the runs, and what lies off them is less ink than a digit holds
    # (a frame joined to the digits by rules the eraser missed is mostly lines too, but not only).
    # Off them means farther than the drift from the runs: a hand-drawn frame's corners and wobble, and
    # the faint pixels hysteresis added along it, are near.
    near = cv2.dilate(level | upright, np.ones((2 * drift + 1, 2 * drift + 1), np.uint8))
    near_runs = np.bincount(parts.labels[near > 0], minlength=parts.count + 1)[1:]
    stray = FRAME_STRAY * (length / FRAME_HEIGHT) ** 2
    pieces = [
        int(label)
        for label in content
        if on_runs[label] >= STRAIGHT_SHARE * parts.area[label] and parts.area[label] - near_runs[label] < stray
    ]
    # A component with the digits in it, joined to the frame or the rules the eraser missed: the thin
    # runs go (where a digit's stroke crosses a run, the ink runs on across it, and stays).
    long_side = np.maximum(heights, (parts.right - parts.left)[content])
    joined = np.setdiff1d(content[(long_side >= length) & (on_runs[content] > 0)], pieces)
    erase = np.zeros(parts.shape, dtype=bool)
    if joined.size:
        level, upright = runs(faint)
        mask = np.ascontiguousarray(parts.mask(joined), dtype=np.uint8)
        across = max(3, round(RUN_THICKNESS * length / FRAME_HEIGHT))
        thick_rows = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((across, 1), np.uint8))
        thick_cols = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((1, across), np.uint8))
        erase = (mask > 0) & (((level > 0) & (thick_rows == 0)) | ((upright > 0) & (thick_cols == 0)))
        # What is left without the thin runs that still lies along them (a stub of a side the runs
        # missed, where a hand's frame wobbles or turns a corner) goes too: a digit lies off them.
        along = cv2.dilate(level | upright, np.ones((2 * drift + 1, 2 * drift + 1), np.uint8))
        left = components((mask > 0) & ~erase)
        off = np.bincount(left.labels[along == 0], minlength=left.count + 1)[1:]
        erase |= left.mask(np.flatnonzero(off < FRAME_OFF * left.area)) & parts.mask(np.array(boxing, dtype=np.int64))
    return pieces, erase, [int(label) for label in joined]


def _box_holding(found: Ink, boxes: list[tuple[int, int, int, int]]) -> np.ndarray:
    """For each component in found.keep, the index of the box its middle lies in, or -1."""
    parts, content = found.parts, found.keep
    middles_y = (parts.top[content] + parts.bottom[content]) / 2
    middles_x = (parts.left[content] + parts.right[content]) / 2
    holding = np.full(content.size, -1)
    for index, (top, bottom, left, right) in enumerate(boxes):
        holding[(middles_y > top) & (middles_y < bottom) & (middles_x > left) & (middles_x < right)] = index
    return holding


def _outside_boxes(found: Ink, boxes: list[tuple[int, int, int, int]]) -> bool:
    """True if a piece outside every box is as tall as FRAGMENT_HEIGHT of the digits in them: a digit
    whose box was not found."""
    parts, content = found.parts, found.keep
    holding = _box_holding(found, boxes)
    heights = (parts.bottom - parts.top)[content]
    if not (holding >= 0).any():
        return True
    return bool(np.any(heights[holding < 0] >= FRAGMENT_HEIGHT * np.median(heights[holding >= 0])))


def _boxed_digits(found: Ink, boxes: list[tuple[int, int, int, int]]) -> list[Digit]:
    """One digit per box that holds ink (a piece no speck beside the digits): every piece inside that
    box that is no speck beside the box's largest is that box's digit."""
    parts = found.parts
    middles_y = (parts.top + parts.bottom) / 2
    middles_x = (parts.left + parts.right) / 2
    digits = []
    for top, bottom, left, right in boxes:
        held = np.flatnonzero((middles_y > top) & (middles_y < bottom) & (middles_x > left) & (middles_x < right))
        if not np.isin(held, found.keep).any():
            continue
        held = held[parts.area[held] >= max(SPECK_FRACTION * parts.area[held].max(), 2)]
        if held.size:
            columns = (int(parts.left[held].min()), int(parts.right[held].max()))
            digits.append(Digit(render(found, held), columns[0], columns[1], False))
    return digits


def segment_digits(image: Image.Image) -> list[np.ndarray]:
    """A number written in a row -> its digits left to right, each float32 (28, 28, 1) like preprocess."""
    return [digit.image for digit in segment_number(image)]


NOT_A_DIGIT_MARK = "?"  # stands for a position that is not a digit


def number_text(spaces: list[bool], labels: list[int | None]) -> str:
    """The number as text, with a space where the writer left a wide gap ("31 415") and ? where a label is None."""
    return "".join(
        (" " if space else "") + (NOT_A_DIGIT_MARK if label is None else str(label)) for space, label in zip(spaces, labels, strict=True)
    )
