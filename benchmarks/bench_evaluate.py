"""How fast is `python evaluate.py`? Median wall time of a one-image call next to a bare
`python -c "import tensorflow"` (run interleaved, so both see the same machine load), and the wall
time of one call over many image files.

Targets (issue 3): one image <= 1.0 s median and <= 0.3 of the TensorFlow import; 1,000 files <= 10 s.

    python benchmarks/bench_evaluate.py [--runs 7] [--files 1000] [--model PATH]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from inference import DEFAULT_TFLITE_PATH  # noqa: E402

ONE_IMAGE_LIMIT_S = 1.0
TF_IMPORT_RATIO_LIMIT = 0.3
MANY_FILES_LIMIT_S = 10.0
IMAGE_SIDE = 280  # a typical web-canvas export


def draw_digit(path: Path, rng: np.random.Generator) -> None:
    """A random pen scribble shaped like a digit: dark strokes on white paper."""
    image = Image.new("L", (IMAGE_SIDE, IMAGE_SIDE), 255)
    points = [(float(x), float(y)) for x, y in rng.uniform(0.2, 0.8, size=(5, 2)) * IMAGE_SIDE]
    ImageDraw.Draw(image).line(points, fill=0, width=int(rng.integers(8, 20)), joint="curve")
    image.save(path)


def wall(command: Sequence[str]) -> float:
    start = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(command)} failed ({result.returncode}): {result.stderr.strip()[-500:]}")
    return elapsed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--runs", type=int, default=7, help="timed runs of each one-image command (median reported)")
    parser.add_argument("--files", type=int, default=1000, help="image files for the many-files call")
    parser.add_argument("--model", type=Path, default=DEFAULT_TFLITE_PATH, help="model evaluate.py uses")
    args = parser.parse_args(argv)
    if not args.model.exists():
        print(f"error: model {args.model} not found; run `python train.py` first", file=sys.stderr)
        return 2

    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        one = folder / "one.png"
        draw_digit(one, rng)
        many = folder / "many"
        many.mkdir()
        for index in range(args.files):
            draw_digit(many / f"{index:05d}.png", rng)

        evaluate = [sys.executable, "evaluate.py", "--model", str(args.model)]
        wall(evaluate + [str(one)])  # warm the file cache once; not timed
        one_times, tf_times = [], []
        for _ in range(args.runs):
            one_times.append(wall(evaluate + [str(one)]))
            tf_times.append(wall([sys.executable, "-c", "import tensorflow"]))
        many_time = wall(evaluate + [str(many)])

    one_median, tf_median = statistics.median(one_times), statistics.median(tf_times)
    ratio = one_median / tf_median
    for label, times in (("python evaluate.py one.png    ", one_times), ('python -c "import tensorflow"', tf_times)):
        print(f"{label}  median {statistics.median(times):.3f} s over {args.runs} runs (min {min(times):.3f}, max {max(times):.3f})")
    print(f"ratio                           {ratio:.2f}")
    print(f"{args.files} files in one call      {many_time:.2f} s ({1000 * many_time / args.files:.1f} ms per file)")
    checks = [
        ("one image <= 1.0 s median", one_median <= ONE_IMAGE_LIMIT_S),
        ("one image <= 0.3 of the TensorFlow import", ratio <= TF_IMPORT_RATIO_LIMIT),
        (f"{args.files} files <= {MANY_FILES_LIMIT_S * args.files / 1000:.1f} s", many_time <= MANY_FILES_LIMIT_S * args.files / 1000),
    ]
    for name, passed in checks:
        print(f"{'PASS' if passed else 'FAIL'}  {name}")
    return 0 if all(passed for _, passed in checks) else 1


if __name__ == "__main__":
    raise SystemExit(main())
