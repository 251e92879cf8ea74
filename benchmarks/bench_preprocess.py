"""How long does preprocessing take per image? Decoding (open_image) plus preprocess, in this process, for
every image of the real set (../shared/data/real-digits, or $REAL_DIGITS) and of a realistic set rendered
from MNIST test digits (benchmarks/realistic.py; needs $MNIST_DATA), printed as median and mean
milliseconds per image for each style group, with the slowest files, and the cold import time of the
package (a one-image `evaluate.py` call pays it). Times are this process's CPU time by default: on a
machine shared with other jobs it hardly moves with their load, unlike wall time (--clock wall).

The target behind it (issue 7): 976 files (the real set plus 300 realistic images) through one
`evaluate.py --json` call in <= 3.5 s on 2 cores, so preprocessing must average a few milliseconds.

    python benchmarks/bench_preprocess.py [--realistic 300] [--repeats 3] [--slowest 5] [--clock cpu|wall]
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cli import HelpFormatter  # noqa: E402

REAL_DIGITS = Path(os.environ.get("REAL_DIGITS", ROOT.parent / "shared" / "data" / "real-digits"))
REALISTIC_COUNT = 300  # realistic renderings timed beside the real images (the throughput target's mix)
REALISTIC_SEED = 0
REPEATS = 3  # times each file is preprocessed; its time is the median of these
IMPORT_RUNS = 5  # cold `import preprocess` runs; the median is printed
SLOWEST = 5  # slowest files listed per set
CLOCKS = {"cpu": time.process_time, "wall": time.perf_counter}  # what a file's time is measured with


def real_group(style: str) -> str:
    """The real set's three style groups (its README): photos and scans, small 28-32 px paint, larger drawings."""
    if style.startswith(("photo", "scan", "chalk", "marker")):
        return "photos/scans"
    if any(size in style for size in ("28px", "30px", "32px")):
        return "small 28-32 px"
    return "larger paint/canvas"


def real_items() -> list[tuple[Path, str]]:
    """(path, style group) for every image of the real set; none if it is absent."""
    manifest = REAL_DIGITS / "manifest.tsv"
    if not manifest.is_file():
        return []
    with open(manifest, newline="") as stream:
        rows = list(csv.DictReader(stream, delimiter="\t"))
    return [(REAL_DIGITS / "images" / row["file"], real_group(row["style"])) for row in rows]


def realistic_items(folder: Path, count: int) -> list[tuple[Path, str]]:
    """(path, style) for ``count`` realistic renderings written to ``folder``; none without MNIST."""
    from benchmarks import realistic
    from data import DataError

    try:
        written = realistic.generate(folder, count, seed=REALISTIC_SEED)
    except (DataError, OSError) as error:
        print(f"realistic set skipped: {error}", file=sys.stderr)
        return []
    return [(path, path.stem.split("_", 1)[1]) for path, _ in written]


def time_items(items: Sequence[tuple[Path, str]], repeats: int, clock=time.process_time) -> list[tuple[float, Path, str]]:
    """(milliseconds, path, group) per item: median over ``repeats`` of open_image + preprocess, timed by ``clock``."""
    import preprocess

    timings = []
    for path, group in items:
        runs = []
        for _ in range(repeats):
            start = clock()
            try:
                preprocess.preprocess(preprocess.open_image(path))
            except preprocess.ImageError:
                pass  # a blank or unreadable file costs time too; evaluate.py reports it
            runs.append(1000 * (clock() - start))
        timings.append((statistics.median(runs), path, group))
    return timings


def report(name: str, timings: list[tuple[float, Path, str]], slowest: int) -> None:
    groups: dict[str, list[float]] = {}
    for milliseconds, _, group in timings:
        groups.setdefault(group, []).append(milliseconds)
    every = [milliseconds for milliseconds, _, _ in timings]
    print(f"\n{name}: {len(timings)} images, {sum(every) / 1000:.2f} s in all")
    print(f"{'group':24} {'images':>6} {'median ms':>10} {'mean ms':>8} {'max ms':>8}")
    for group, values in sorted(groups.items()) + [("all", every)]:
        print(f"{group:24} {len(values):6d} {statistics.median(values):10.1f} {statistics.mean(values):8.1f} {max(values):8.1f}")
    for milliseconds, path, _ in sorted(timings, reverse=True)[:slowest]:
        print(f"  slow: {milliseconds:6.1f} ms  {path.name}")


def import_seconds(runs: int) -> tuple[float, float]:
    """Median wall seconds of a fresh `import preprocess`, and of importing only numpy and Pillow."""

    def median_wall(code: str) -> float:
        walls = []
        for _ in range(runs):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
            walls.append(time.perf_counter() - start)
        return statistics.median(walls)

    return median_wall("import preprocess"), median_wall("import numpy, PIL.Image")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    parser.add_argument("--realistic", type=int, default=REALISTIC_COUNT, metavar="N", help="realistic renderings to time (0: skip)")
    parser.add_argument("--repeats", type=int, default=REPEATS, help="times each file is preprocessed (median taken)")
    parser.add_argument("--slowest", type=int, default=SLOWEST, help="slowest files listed per set")
    parser.add_argument("--import-runs", type=int, default=IMPORT_RUNS, help="cold `import preprocess` runs (0: skip)")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="cpu", help="time each file by this process's CPU time or by wall time")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.repeats < 1:
        build_parser().error("--repeats must be at least 1")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; {args.clock} time per file")
    if args.import_runs > 0:
        package, baseline = import_seconds(args.import_runs)
        print(f"cold `import preprocess`: {package:.3f} s (numpy + Pillow alone: {baseline:.3f} s)")
    items = real_items()
    if items:
        report(f"real set ({REAL_DIGITS})", time_items(items, args.repeats, CLOCKS[args.clock]), args.slowest)
    else:
        print(f"\nreal set skipped: no {REAL_DIGITS / 'manifest.tsv'}")
    if args.realistic > 0:
        with tempfile.TemporaryDirectory() as folder:
            rendered = realistic_items(Path(folder), args.realistic)
            if rendered:
                report(f"realistic set (seed {REALISTIC_SEED})", time_items(rendered, args.repeats, CLOCKS[args.clock]), args.slowest)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
