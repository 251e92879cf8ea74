"""Accuracy of evaluate.py on real digit images that people made for their own recognizers.

Runs the real CLI once, as a user would (`python evaluate.py --json --save-preprocessed DIR` over the
images folder of ../shared/data/real-digits, or $REAL_DIGITS), and prints: accuracy overall, per style
group and per digit; how many were answered "no digit found" or "not a digit" (both count as wrong);
the calibration error (ECE) of the answered digits; how the low-confidence flag splits right and wrong
answers, with a sweep over its threshold; and the wall time of the call. A contact sheet of the misses
(the picture, the 28x28 the model saw, label and answer) and a JSON of the figures go to benchmarks/out/.

  python benchmarks/bench_real.py [--model models/mnist_cnn.tflite] [--out benchmarks/out]

Targets (issues 7 and 10): >= 99.0% overall and >= 98% in every group; >= 2/3 of the wrong answers
flagged while <= 3% of the right ones are. The set is for measuring only: never train on it.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import atomic  # noqa: E402  (needs the project root on sys.path first)
import inference  # noqa: E402
from benchmarks.bench_realistic import Tile, contact_sheet  # noqa: E402
from cli import HelpFormatter  # noqa: E402

REAL_DIGITS = Path(os.environ.get("REAL_DIGITS", ROOT.parent / "shared" / "data" / "real-digits"))
OUT_DIR = ROOT / "benchmarks" / "out"
MANIFEST = "manifest.tsv"
IMAGES = "images"
# Style groups of the issues. The manifest's style tag starts with how the picture was made; paint and
# canvas drawings split by size, because the small ones (28-32 px, drawn at MNIST's own size) fail differently.
PHOTO, LARGE_PAINT, SMALL_PAINT = "photos/scans", "larger paint/canvas", "small 28-32 px paint"
GROUPS = (PHOTO, LARGE_PAINT, SMALL_PAINT)
PHOTO_TAGS = ("photo", "scan", "chalk")  # a camera or a scanner made it
SMALL_SIDE = 32  # pixels: a drawing no larger than this on its longer side is a "small paint" one
ECE_BINS = 10
TARGET_ACCURACY, TARGET_GROUP_ACCURACY = 0.99, 0.98
TARGET_WRONG_FLAGGED, TARGET_RIGHT_FLAGGED = 2 / 3, 0.03
SWEEP_REPORTED = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999)  # thresholds printed in the sweep table
NOT_A_DIGIT, NO_DIGIT, UNREADABLE = "not a digit", "no digit found", "error"


@dataclass(frozen=True)
class Result:
    """One real image: its label and group, and what evaluate.py answered."""

    file: str
    label: int
    style: str
    group: str
    answer: int | str  # the digit, or NOT_A_DIGIT / NO_DIGIT / UNREADABLE
    confidence: float | None  # of the answer; None for errors
    low_confidence: bool

    @property
    def correct(self) -> bool:
        return self.answer == self.label

    @property
    def answered_digit(self) -> bool:
        return isinstance(self.answer, int)


def style_group(style: str, size: tuple[int, int]) -> str:
    """The issue's style group for a manifest style tag and the image's (width, height)."""
    if style.split("-", 1)[0] in PHOTO_TAGS:
        return PHOTO
    return SMALL_PAINT if max(size) <= SMALL_SIDE else LARGE_PAINT


def read_manifest(folder: Path) -> list[dict]:
    """Rows of manifest.tsv with the label as int, the image path and its style group."""
    rows = []
    with open(folder / MANIFEST, newline="") as stream:
        for row in csv.DictReader(stream, delimiter="\t"):
            path = folder / IMAGES / row["file"]
            with Image.open(path) as image:  # opening reads only the header
                size = image.size
            rows.append({**row, "label": int(row["label"]), "path": path, "group": style_group(row["style"], size)})
    return rows


def answer_of(record: dict) -> int | str:
    """What one evaluate.py --json record says: a digit, or why there is none."""
    if record.get("error") is not None:
        return NO_DIGIT if record["error"].startswith(NO_DIGIT) else UNREADABLE
    if record.get("not_a_digit") or record.get("digit") is None:
        return NOT_A_DIGIT
    return int(record["digit"])


def score(rows: Sequence[dict], records: Sequence[dict]) -> list[Result]:
    """One Result per manifest row; an image missing from the output counts as an error."""
    by_name = {Path(record["path"]).name: record for record in records}
    results = []
    for row in rows:
        record = by_name.get(row["file"], {"error": "missing from evaluate.py's output"})
        confidence = record.get("confidence")
        results.append(
            Result(
                row["file"],
                row["label"],
                row["style"],
                row["group"],
                answer_of(record),
                None if confidence is None else float(confidence),
                bool(record.get("low_confidence", False)),
            )
        )
    return results


def accuracy_by(results: Sequence[Result], key) -> dict:
    """{key value: {"total", "correct", "accuracy"}} over results, sorted by key."""
    tallies: dict = {}
    for result in results:
        tally = tallies.setdefault(key(result), {"total": 0, "correct": 0})
        tally["total"] += 1
        tally["correct"] += result.correct
    return {name: {**tally, "accuracy": tally["correct"] / tally["total"]} for name, tally in sorted(tallies.items())}


def expected_calibration_error(confidences: np.ndarray, correct: np.ndarray, bins: int = ECE_BINS) -> float:
    """ECE: the mean |accuracy - confidence| over equal-width confidence bins, weighted by the bins' sizes."""
    confidences = np.asarray(confidences, dtype=np.float64)
    correct = np.asarray(correct, dtype=np.float64)
    if confidences.size == 0:
        return 0.0
    # Bin b holds confidences in (b/bins, (b+1)/bins]; a confidence of exactly 0 joins the first bin.
    index = np.clip(np.ceil(confidences * bins).astype(int) - 1, 0, bins - 1)
    error = 0.0
    for b in range(bins):
        members = index == b
        if members.any():
            error += members.sum() * abs(correct[members].mean() - confidences[members].mean())
    return float(error / confidences.size)


def flag_split(confidences: np.ndarray, correct: np.ndarray, threshold: float) -> dict:
    """How a flag for confidence < threshold splits the answers: the share of wrong ones and of right ones flagged."""
    confidences = np.asarray(confidences, dtype=np.float64)
    correct = np.asarray(correct, dtype=bool)
    flagged = confidences < threshold
    wrong, right = int((~correct).sum()), int(correct.sum())
    return {
        "threshold": float(threshold),
        "wrong": wrong,
        "wrong_flagged": int((flagged & ~correct).sum()),
        "wrong_flagged_share": float((flagged & ~correct).sum() / wrong) if wrong else 0.0,
        "right": right,
        "right_flagged": int((flagged & correct).sum()),
        "right_flagged_share": float((flagged & correct).sum() / right) if right else 0.0,
    }


def threshold_sweep(confidences: np.ndarray, correct: np.ndarray) -> dict:
    """Where the low-confidence threshold could go: the boundaries of the targets, and whether both can hold at once.

    ``highest_within_right_target``: the largest threshold that flags <= 3% of the right answers (and what it
    catches of the wrong ones); ``lowest_reaching_wrong_target``: the smallest that flags >= 2/3 of the wrong
    ones (and its cost in right ones). Both targets hold for thresholds between the two, when the first is
    at least the second.
    """
    confidences = np.asarray(confidences, dtype=np.float64)
    correct = np.asarray(correct, dtype=bool)
    # The flag changes only just above an observed confidence, so those are the thresholds worth trying.
    candidates = np.unique(np.concatenate([[0.0, 1.0 + 1e-9], np.nextafter(confidences, np.inf)]))
    splits = [flag_split(confidences, correct, threshold) for threshold in candidates]
    within = [split for split in splits if split["right_flagged_share"] <= TARGET_RIGHT_FLAGGED]
    reaching = [split for split in splits if split["wrong_flagged_share"] >= TARGET_WRONG_FLAGGED]
    highest = within[-1] if within else None
    lowest = reaching[0] if reaching else None
    return {
        "highest_within_right_target": highest,
        "lowest_reaching_wrong_target": lowest,
        "both_targets_possible": bool(highest and lowest and highest["threshold"] >= lowest["threshold"]),
        "table": [flag_split(confidences, correct, threshold) for threshold in SWEEP_REPORTED],
    }


def preprocessed_names(records: Sequence[dict]) -> dict[str, str]:
    """The file name evaluate.py --save-preprocessed gave each answered record's 28x28 (same order, same rule)."""
    names, used = {}, set()
    for record in records:
        if record.get("error") is not None:
            continue  # nothing was preprocessed
        base = Path(record["path"]).stem or "image"
        name, copy = f"{base}.png", 2
        while name in used:
            name, copy = f"{base}-{copy}.png", copy + 1
        used.add(name)
        names[record["path"]] = name
    return names


def run_evaluate(images: Path, preprocessed: Path | None, model: Path | None) -> tuple[list[dict], float]:
    """Run ``python evaluate.py --json`` over a folder as a subprocess; return its records and the call's wall time."""
    command = [sys.executable, str(ROOT / "evaluate.py"), "--json", str(images)]
    if preprocessed is not None:
        command += ["--save-preprocessed", str(preprocessed)]
    if model is not None:
        command += ["--model", str(model)]
    started = time.perf_counter()
    process = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if process.returncode not in (0, 1):
        raise RuntimeError(f"evaluate.py failed (exit {process.returncode}): {process.stderr.strip()[-500:]}")
    return json.loads(process.stdout), seconds


def _answer_text(result: Result) -> str:
    if result.answered_digit or result.answer == NOT_A_DIGIT:
        return f"{result.answer} {result.confidence:.0%}" + (" low" if result.low_confidence else "")
    return str(result.answer)


def report(results: Sequence[Result], seconds: float) -> dict:
    """Print every figure and return them as a dict for the JSON."""
    total = len(results)
    correct = sum(result.correct for result in results)
    groups = accuracy_by(results, lambda result: result.group)
    digits = accuracy_by(results, lambda result: result.label)
    counts = {kind: sum(result.answer == kind for result in results) for kind in (NO_DIGIT, NOT_A_DIGIT, UNREADABLE)}
    answered = [result for result in results if result.answered_digit]
    confidences = np.array([result.confidence for result in answered], dtype=np.float64)
    right = np.array([result.correct for result in answered], dtype=bool)
    ece = expected_calibration_error(confidences, right)
    flags = {
        "wrong": int((~right).sum()),
        "wrong_flagged": sum(result.low_confidence and not result.correct for result in answered),
        "right": int(right.sum()),
        "right_flagged": sum(result.low_confidence and result.correct for result in answered),
    }
    sweep = threshold_sweep(confidences, right)

    print(f"{total} real images; evaluate.py answered them in {seconds:.1f} s ({1000 * seconds / max(1, total):.0f} ms per image)")
    print(f"accuracy {correct}/{total} = {correct / total:.2%} (target {TARGET_ACCURACY:.0%}; a digit turned away counts as wrong)")
    print(f"\n{'group':<22} {'images':>6} {'correct':>7} {'accuracy':>9}")
    for name in GROUPS:
        if name in groups:
            tally = groups[name]
            print(f"{name:<22} {tally['total']:>6} {tally['correct']:>7} {tally['accuracy']:>9.2%}")
    print("\nper digit: " + "  ".join(f"{digit}: {tally['accuracy']:.1%} ({tally['total']})" for digit, tally in digits.items()))
    print(f"no digit found: {counts[NO_DIGIT]}; not a digit: {counts[NOT_A_DIGIT]}; other errors: {counts[UNREADABLE]}")
    print(f"\ncalibration on the {len(answered)} answered digits: ECE {ece:.4f} ({ECE_BINS} bins)")
    print(
        f"low-confidence flag (evaluate.py's, < {inference.LOW_CONFIDENCE:.0%}): "
        f"{flags['wrong_flagged']}/{flags['wrong']} wrong answers flagged "
        f"({flags['wrong_flagged'] / max(1, flags['wrong']):.0%}), {flags['right_flagged']}/{flags['right']} right ones "
        f"({flags['right_flagged'] / max(1, flags['right']):.1%}); targets >= {TARGET_WRONG_FLAGGED:.0%} and <= {TARGET_RIGHT_FLAGGED:.0%}"
    )
    print(f"\n{'threshold':>9} {'wrong flagged':>14} {'right flagged':>14}")
    for split in sweep["table"]:
        print(
            f"{split['threshold']:>9.3f} {split['wrong_flagged']:>5}/{split['wrong']:<3} {split['wrong_flagged_share']:>4.0%} "
            f"{split['right_flagged']:>5}/{split['right']:<3} {split['right_flagged_share']:>4.1%}"
        )
    highest, lowest = sweep["highest_within_right_target"], sweep["lowest_reaching_wrong_target"]
    if highest:
        print(
            f"highest threshold flagging <= {TARGET_RIGHT_FLAGGED:.0%} of right answers: {highest['threshold']:.4f} "
            f"(flags {highest['wrong_flagged_share']:.0%} of wrong, {highest['right_flagged_share']:.1%} of right)"
        )
    if lowest:
        print(
            f"lowest threshold flagging >= 2/3 of wrong answers: {lowest['threshold']:.4f} "
            f"(flags {lowest['wrong_flagged_share']:.0%} of wrong, {lowest['right_flagged_share']:.1%} of right)"
        )
    verdict = "possible: any threshold between the two" if sweep["both_targets_possible"] else "NOT possible with this model"
    print(f"both flag targets at once: {verdict}")
    return {
        "images": total,
        "correct": correct,
        "accuracy": correct / total,
        "groups": groups,
        "digits": {str(digit): tally for digit, tally in digits.items()},
        "turned_away": counts,
        "ece": ece,
        "answered": len(answered),
        "low_confidence_threshold": inference.LOW_CONFIDENCE,
        "flag": flags,
        "sweep": sweep,
        "seconds": seconds,
    }


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    parser.add_argument("--model", type=Path, help="model passed to evaluate.py --model (default: evaluate.py's own)")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="folder for the contact sheet and the figures' JSON")
    parser.add_argument("--data", type=Path, default=REAL_DIGITS, help="the real-digits folder (manifest.tsv, images/); env REAL_DIGITS")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not (args.data / MANIFEST).exists():
        print(f"skipped: no real-digits set at {args.data} (set REAL_DIGITS to its folder)")
        return 0
    rows = read_manifest(args.data)
    with tempfile.TemporaryDirectory(prefix="real-digits-") as work:
        preprocessed = Path(work)
        try:
            records, seconds = run_evaluate(args.data / IMAGES, preprocessed, args.model)
        except RuntimeError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        results = score(rows, records)
        figures = report(results, seconds)

        seen = {Path(path).name: preprocessed / name for path, name in preprocessed_names(records).items()}
        misses = [result for result in results if not result.correct]
        captions = [(f"label {miss.label} -> {_answer_text(miss)}", miss.group, miss.file[:34]) for miss in misses]
        tiles = [Tile(args.data / IMAGES / miss.file, seen.get(miss.file), caption) for miss, caption in zip(misses, captions, strict=True)]
        sheet = contact_sheet(tiles, args.out / "real_digits_misses.png")
    figures["model"] = str(args.model or inference.DEFAULT_TFLITE_PATH)
    figures["misses"] = [{"file": miss.file, "label": miss.label, "answer": miss.answer, "confidence": miss.confidence} for miss in misses]
    results_path = atomic.write_json(args.out / "real_digits.json", figures)
    if sheet:
        print(f"\ncontact sheet of the {len(misses)} misses: {sheet}")
    print(f"figures: {results_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
