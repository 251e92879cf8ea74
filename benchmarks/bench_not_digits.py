"""How well the model turns away what is not a digit, and how rarely it turns away real digits.

Three sets: letters, symbols and doodles people drew (../shared/data/not-digits, or $NOT_DIGITS) and
real digits (../shared/data/real-digits, or $REAL_DIGITS), both through the real CLI
(`python evaluate.py --json`), and the MNIST test set ($MNIST_DATA), fed straight to the predictor since it
is already 28x28. Prints the share of not-digits answered "not a digit" (and "no digit found" apart), the
share of real and MNIST digits wrongly turned away, at ``inference.NOT_DIGIT_THRESHOLD`` and over a sweep
of thresholds, with a PNG of the curves in benchmarks/out/.

A 10-output model has no "not a digit" output: then the curves use 1 - the largest digit probability as
the score (the classic max-softmax out-of-distribution baseline), for comparison.

  python benchmarks/bench_not_digits.py [--model models/mnist_cnn.tflite] [--out benchmarks/out]

Targets (issue 10): >= 90% of not-digits turned away, while <= 1% of real digits and <= 0.2% of MNIST test
digits are; MNIST test accuracy >= 99.6% counting a digit turned away as wrong.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import atomic  # noqa: E402  (needs the project root on sys.path first)
import inference  # noqa: E402
from benchmarks import bench_real  # noqa: E402
from cli import HelpFormatter  # noqa: E402

NOT_DIGITS = Path(os.environ.get("NOT_DIGITS", ROOT.parent / "shared" / "data" / "not-digits"))
MNIST = Path(os.environ.get("MNIST_DATA", ROOT.parent / "shared" / "data" / "mnist.npz"))
TARGET_TURNED_AWAY = 0.90  # of not-digits
TARGET_REAL_LOST, TARGET_MNIST_LOST = 0.01, 0.002  # of real digits, of MNIST test digits
TARGET_MNIST_ACCURACY = 0.996
# Thresholds on the curve: every 0.005, and finer near 1, where a confident model's useful thresholds lie.
SWEEP = np.unique(np.round(np.concatenate([np.linspace(0.0, 1.0, 201), 1 - np.logspace(-4, -2.4, 17)]), 6))
SWEEP_REPORTED = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 0.999)  # thresholds printed in the table


def not_digit_scores(probabilities: np.ndarray) -> np.ndarray:
    """(N,) "not a digit" score from (N, 10) or (N, 11) model output: column 10, or 1 - max softmax for 10 outputs."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if probabilities.shape[1] > inference.NUM_DIGITS:
        return probabilities[:, inference.NOT_A_DIGIT]
    return 1.0 - probabilities.max(axis=1)


def record_score(record: dict, has_not_digit_output: bool) -> float | None:
    """The same score from one evaluate.py --json record; None where no digit was found (or the file failed)."""
    if record.get("error") is not None:
        return None
    if has_not_digit_output:
        if "not_digit_probability" not in record:
            raise ValueError("evaluate.py --json does not report not_digit_probability for this 11-output model")
        return float(record["not_digit_probability"])
    return 1.0 - float(record["confidence"])


def turned_away_rate(scores: np.ndarray, total: int, thresholds: Sequence[float]) -> np.ndarray:
    """For each threshold, the share of ``total`` inputs whose score reaches it (inputs without a score never do)."""
    scores = np.asarray(scores, dtype=np.float64)
    return np.array([(scores >= threshold).sum() / total if total else 0.0 for threshold in thresholds])


def best_threshold(not_digits: np.ndarray, real: np.ndarray, mnist: np.ndarray, thresholds: Sequence[float] = SWEEP) -> dict | None:
    """The threshold that turns away the most not-digits while keeping real and MNIST digits within their targets.

    Each argument is the turned-away rate per threshold (as from turned_away_rate); None if no threshold keeps both.
    """
    allowed = (np.asarray(real) <= TARGET_REAL_LOST) & (np.asarray(mnist) <= TARGET_MNIST_LOST)
    if not allowed.any():
        return None
    candidates = np.flatnonzero(allowed)
    best = candidates[np.argmax(np.asarray(not_digits)[candidates])]  # the lowest such threshold on ties
    rates = {"not_digits": not_digits[best], "real": real[best], "mnist": mnist[best]}
    return {"threshold": float(thresholds[best]), **{name: float(rate) for name, rate in rates.items()}}


def read_kinds(folder: Path) -> dict[str, str]:
    """File name -> kind (letter, symbol, doodle) from the not-digits manifest."""
    with open(folder / bench_real.MANIFEST, newline="") as stream:
        return {row["file"]: row["kind"] for row in csv.DictReader(stream, delimiter="\t")}


def image_set(folder: Path, model: Path | None, has_not_digit_output: bool) -> dict:
    """Run evaluate.py over a set's images; its scores, how many were answered "not a digit" / "no digit found"."""
    records, seconds = bench_real.run_evaluate(folder / bench_real.IMAGES, None, model)
    answers = [bench_real.answer_of(record) for record in records]
    scores = [record_score(record, has_not_digit_output) for record in records]
    return {
        "files": [Path(record["path"]).name for record in records],
        "total": len(records),
        "scores": np.array([score for score in scores if score is not None]),
        "answers": answers,
        "not_a_digit": sum(answer == bench_real.NOT_A_DIGIT for answer in answers),
        "no_digit": sum(answer == bench_real.NO_DIGIT for answer in answers),
        "seconds": seconds,
    }


def mnist_set(path: Path, predictor: inference.Predictor) -> dict:
    """The MNIST test set through the predictor: scores, answers through inference.interpret, accuracy."""
    from data import load_mnist

    dataset = load_mnist(path)
    probabilities = predictor.predict(dataset.x_test)
    answers = [inference.interpret(row) for row in probabilities]
    turned_away = sum(answer.digit is None for answer in answers)
    correct = sum(answer.digit == label for answer, label in zip(answers, dataset.y_test, strict=True))
    return {
        "outputs": probabilities.shape[1],
        "total": len(answers),
        "scores": not_digit_scores(probabilities),
        "not_a_digit": turned_away,
        "accuracy": correct / len(answers),
    }


def plot_curves(curves: dict[str, np.ndarray], thresholds: Sequence[float], chosen: float | None, score_name: str, path: Path) -> Path:
    """Turned-away share per threshold for each set (left) and the not-digits / digits trade-off (right), one PNG.

    ``chosen`` marks the threshold in use (None when the score is not the one the answers are made from).
    """
    import matplotlib

    matplotlib.use("Agg")  # files only
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    for name, rates in curves.items():
        left.plot(thresholds, 100 * rates, label=name)
    if chosen is not None:
        left.axvline(chosen, color="grey", linestyle="--", label=f"NOT_DIGIT_THRESHOLD {chosen:g}")
    left.axhline(100 * TARGET_TURNED_AWAY, color="green", linestyle=":", linewidth=1)
    left.axhline(100 * TARGET_REAL_LOST, color="red", linestyle=":", linewidth=1)
    left.set_xlabel(f"threshold on {score_name}")
    left.set_ylabel("% turned away as not a digit")
    left.set_yscale("symlog", linthresh=1)
    left.set_ylim(0, 105)
    left.grid(alpha=0.3)
    left.legend(fontsize=8)
    if "real digits" in curves and "not-digits" in curves:
        right.plot(100 * curves["real digits"], 100 * curves["not-digits"], label="real digits")
    if "MNIST test" in curves and "not-digits" in curves:
        right.plot(100 * curves["MNIST test"], 100 * curves["not-digits"], label="MNIST test")
    right.axvline(100 * TARGET_REAL_LOST, color="red", linestyle=":", linewidth=1)
    right.axvline(100 * TARGET_MNIST_LOST, color="orange", linestyle=":", linewidth=1)
    right.axhline(100 * TARGET_TURNED_AWAY, color="green", linestyle=":", linewidth=1)
    right.set_xscale("symlog", linthresh=0.1)
    right.set_xlim(0, 105)
    right.set_xlabel("% of digits wrongly turned away")
    right.set_ylabel("% of not-digits turned away")
    right.grid(alpha=0.3)
    right.legend(fontsize=8)
    fig.suptitle(f"Turning away what is not a digit ({score_name})")
    with atomic.atomic_path(path) as temporary:
        fig.savefig(temporary, dpi=110, bbox_inches="tight", format="png")
    plt.close(fig)
    return path


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    parser.add_argument("--model", type=Path, help="model to measure (default: the shipped .tflite)")
    parser.add_argument("--out", type=Path, default=bench_real.OUT_DIR, help="folder for the plot and the figures' JSON")
    parser.add_argument("--not-digits", type=Path, default=NOT_DIGITS, help="the not-digits folder; env NOT_DIGITS")
    parser.add_argument("--real-digits", type=Path, default=bench_real.REAL_DIGITS, help="the real-digits folder; env REAL_DIGITS")
    parser.add_argument("--mnist", type=Path, default=MNIST, help="MNIST .npz for the test set; env MNIST_DATA")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not (args.not_digits / bench_real.MANIFEST).exists():
        print(f"skipped: no not-digits set at {args.not_digits} (set NOT_DIGITS to its folder)")
        return 0
    try:
        predictor = inference.load_predictor(args.model)
    except inference.ModelError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    outputs = predictor.predict(np.zeros((1, 28, 28, 1), np.float32)).shape[1]
    has_output = outputs > inference.NUM_DIGITS
    score_name = "P(not a digit)" if has_output else "1 - max digit probability"
    print(f"model {predictor.path}: {outputs} outputs", end="")
    print("" if has_output else "; it has no not-a-digit output, so every input is answered a digit and the curves use max-softmax")

    sets: dict[str, dict] = {}
    try:
        sets["not-digits"] = image_set(args.not_digits, args.model, has_output)
        if (args.real_digits / bench_real.MANIFEST).exists():
            sets["real digits"] = image_set(args.real_digits, args.model, has_output)
        else:
            print(f"real digits skipped: none at {args.real_digits}")
    except (RuntimeError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.mnist.exists():
        sets["MNIST test"] = mnist_set(args.mnist, predictor)
    else:
        print(f"MNIST skipped: no {args.mnist} (set MNIST_DATA)")

    chosen = inference.NOT_DIGIT_THRESHOLD
    print(f"\nat NOT_DIGIT_THRESHOLD = {chosen:g} (the answer evaluate.py and interpret give):")
    for name, figures in sets.items():
        share = figures["not_a_digit"] / figures["total"]
        line = f"  {name:<12} {figures['total']:>6} inputs: 'not a digit' {figures['not_a_digit']:>5} ({share:.2%})"
        if "no_digit" in figures:
            line += f", 'no digit found' {figures['no_digit']}"
        if "accuracy" in figures:
            line += f"; accuracy {figures['accuracy']:.2%} (target {TARGET_MNIST_ACCURACY:.1%}, turned away counts as wrong)"
        print(line)
    if "not-digits" in sets:
        kinds = read_kinds(args.not_digits)
        not_digits = sets["not-digits"]
        for kind in sorted(set(kinds.values())):
            members = [answer for file, answer in zip(not_digits["files"], not_digits["answers"], strict=True) if kinds.get(file) == kind]
            away = sum(answer in (bench_real.NOT_A_DIGIT, bench_real.NO_DIGIT) for answer in members)
            print(f"    {kind:<8} {away}/{len(members)} turned away ('not a digit' or 'no digit found')")
    print(f"targets: not-digits >= {TARGET_TURNED_AWAY:.0%}, real digits <= {TARGET_REAL_LOST:.0%}, MNIST <= {TARGET_MNIST_LOST:.1%}")

    curves = {name: turned_away_rate(figures["scores"], figures["total"], SWEEP) for name, figures in sets.items()}
    print(f"\nover the threshold on {score_name} (share turned away):")
    print(f"{'threshold':>9} " + " ".join(f"{name:>12}" for name in curves))
    for threshold in SWEEP_REPORTED:
        index = int(np.argmin(np.abs(SWEEP - threshold)))
        print(f"{threshold:>9g} " + " ".join(f"{rates[index]:>12.2%}" for rates in curves.values()))
    best = None
    if {"not-digits", "real digits", "MNIST test"} <= set(curves):
        best = best_threshold(curves["not-digits"], curves["real digits"], curves["MNIST test"])
        if best is None:
            print("no threshold keeps both real and MNIST digits within their targets")
        else:
            verdict = "met" if best["not_digits"] >= TARGET_TURNED_AWAY else "NOT met"
            print(
                f"best threshold within the digit targets: {best['threshold']:g}: not-digits {best['not_digits']:.1%} "
                f"(target {verdict}), real digits {best['real']:.2%}, MNIST {best['mnist']:.2%}"
            )
    plot = plot_curves(curves, SWEEP, chosen if has_output else None, score_name, args.out / "not_digits_curve.png")
    figures = {
        "model": str(predictor.path),
        "outputs": outputs,
        "score": score_name,
        "threshold": chosen,
        "at_threshold": {
            name: {key: value for key, value in figures.items() if key in ("total", "not_a_digit", "no_digit", "accuracy")}
            for name, figures in sets.items()
        },
        "best": best,
        "curve": {"thresholds": SWEEP.tolist(), **{name: rates.tolist() for name, rates in curves.items()}},
    }
    results = atomic.write_json(args.out / "not_digits.json", figures)
    print(f"\nplot: {plot}\nfigures: {results}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
