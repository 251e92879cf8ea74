"""How fast is `python evaluate.py`, and does it stay small over huge folders? Three figures:

1. cold start: median wall time of a one-image call next to a bare `python -c "import tensorflow"`,
   run interleaved so both see the same machine load. Python's default is to keep the compiled form of
   each module (bytecode) and read it on later starts; a shell with PYTHONDONTWRITEBYTECODE set (this
   session's is) compiles the project's modules afresh on every call, which no user's call does (the
   installed packages, TensorFlow's too, keep theirs). The call is timed as Python runs by default, with
   its bytecode kept in a temporary folder (PYTHONPYCACHEPREFIX); under such a shell, also as it runs there;
2. throughput: the 676 real images (../shared/data/real-digits, or $REAL_DIGITS) plus 300 realistic
   renderings of MNIST test digits (needs $MNIST_DATA) through one `evaluate.py --json` call, median of
   --repeats runs; skipped cleanly when either is absent;
3. scale: `evaluate.py --jsonl --recursive` over --stream-files image files in nested folders (made under
   a temporary folder): seconds to the first line, peak memory of the whole process tree, and whether
   every file got exactly one valid JSON line.

Targets: one image <= 0.3 s cold and <= 0.3 of the TensorFlow import (issues 3, 7); the 976 files
<= 3.5 s on 2 cores (issue 7); --jsonl over 20,000 files: first line <= 2 s, peak RSS <= 400 MB (issue 8).

    python benchmarks/bench_evaluate.py [--runs 7] [--repeats 3] [--stream-files 20000] [--model PATH]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from inference import DEFAULT_TFLITE_PATH  # noqa: E402

REAL_DIGITS = Path(os.environ.get("REAL_DIGITS", ROOT.parent / "shared" / "data" / "real-digits"))
MNIST = Path(os.environ.get("MNIST_DATA", ROOT.parent / "shared" / "data" / "mnist.npz"))
REALISTIC_COUNT = 300  # realistic renderings added to the real images for the throughput figure
REALISTIC_SEED = 0
ONE_IMAGE_LIMIT_S = 0.3
TF_IMPORT_RATIO_LIMIT = 0.3
THROUGHPUT_LIMIT_S = 3.5
FIRST_LINE_LIMIT_S = 2.0
PEAK_RSS_LIMIT_MB = 400
IMAGE_SIDE = 280  # a typical web-canvas export
SCALE_IMAGE_SIDE = 128  # the scale run measures streaming and memory, not preprocessing: small drawings keep it short
DISTINCT_IMAGES = 200  # the scale run's files are hard links to this many drawings: generating 20,000 would dominate
FILES_PER_FOLDER = 1000
MEMORY_SAMPLE_S = 0.05
PARTS = ("cold", "throughput", "scale")


def draw_digit(path: Path, rng: np.random.Generator, side: int = IMAGE_SIDE) -> None:
    """A random pen scribble shaped like a digit: dark strokes on white paper."""
    image = Image.new("L", (side, side), 255)
    points = [(float(x), float(y)) for x, y in rng.uniform(0.2, 0.8, size=(5, 2)) * side]
    ImageDraw.Draw(image).line(points, fill=0, width=max(2, round(rng.uniform(8, 20) * side / IMAGE_SIDE)), joint="curve")
    image.save(path)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def wall(command: Sequence[str], cpu: list[float] | None = None, env: dict[str, str] | None = None) -> float:
    """Wall seconds of one run of command (in environment ``env``, default this one's); its CPU seconds
    (user + system, every thread and worker process) appended to ``cpu``.

    CPU time changes less with the machine's load than wall time does, so it tells whether a change made
    the work smaller; it is not a wall time (threads and processes overlap; waits are not counted).
    """
    start, start_cpu = time.perf_counter(), _children_cpu()
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - start
    if cpu is not None:
        cpu.append(_children_cpu() - start_cpu)
    if result.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(command[:4])} ... failed ({result.returncode}): {result.stderr.strip()[-500:]}")
    return elapsed


def python_default_env(folder: Path) -> dict[str, str]:
    """This environment as Python's defaults would have it: compiled modules kept (in ``folder``, not the project)."""
    env = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(folder)
    return env


def cold_start(evaluate: list[str], folder: Path, runs: int) -> dict[str, tuple[list[float], list[float]]]:
    """Wall and CPU times of a one-image call and of a bare TensorFlow import, interleaved, by label: "default"
    (Python's defaults, bytecode kept), "here" (this shell's environment, when it keeps no bytecode), "tensorflow"."""
    one = folder / "one.png"
    draw_digit(one, np.random.default_rng(0))
    commands = {"default": (evaluate + [str(one)], python_default_env(folder / "bytecode"))}
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        commands["here"] = (evaluate + [str(one)], None)
    commands["tensorflow"] = ([sys.executable, "-c", "import tensorflow"], None)
    for command, env in commands.values():
        wall(command, env=env)  # warms the file cache and writes the default run's bytecode; not timed
    times: dict[str, tuple[list[float], list[float]]] = {label: ([], []) for label in commands}
    for _ in range(runs):
        for label, (command, env) in commands.items():
            walls, cpu = times[label]
            walls.append(wall(command, cpu, env))
    return times


def throughput(evaluate: list[str], folder: Path, repeats: int) -> tuple[list[float], list[float], int] | str:
    """Wall times of one --json call over the real images and the realistic set, or why it was skipped."""
    images = REAL_DIGITS / "images"
    if not images.is_dir():
        return f"no real-digits set at {REAL_DIGITS} (set REAL_DIGITS)"
    if not MNIST.exists():
        return f"no MNIST at {MNIST} for the realistic renderings (set MNIST_DATA)"
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import realistic

    rendered = folder / "realistic"
    realistic.generate(rendered, REALISTIC_COUNT, REALISTIC_SEED, None, realistic.load_test_digits(MNIST))
    command = evaluate + ["--json", str(images), str(rendered)]
    # As a user's Python runs it, keeping compiled modules: this shell may not (PYTHONDONTWRITEBYTECODE), and
    # recompiling the project in every worker is not what a user's call costs.
    env = python_default_env(folder / "bytecode")
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=env)  # also warms the file cache; not timed
    count = len(json.loads(result.stdout))
    cpu: list[float] = []
    return [wall(command, cpu, env) for _ in range(repeats)], cpu, count


def _tree_memory(pid: int) -> tuple[int, int]:
    """(RSS, PSS) in bytes of a process and its children, from /proc; (0, 0) once it has gone."""
    rss = pss = 0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            for line in Path(f"/proc/{current}/smaps_rollup").read_text().splitlines():
                if line.startswith("Rss:"):
                    rss += int(line.split()[1]) * 1024
                elif line.startswith("Pss:"):
                    pss += int(line.split()[1]) * 1024
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(child) for child in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue  # the process ended between two reads
    return rss, pss


def scale(evaluate: list[str], folder: Path, files: int) -> dict:
    """Run --jsonl --recursive over ``files`` image files; first-line latency, peak memory, and a check of every line."""
    rng = np.random.default_rng(1)
    drawings = folder / "drawings"
    drawings.mkdir()
    for index in range(DISTINCT_IMAGES):
        draw_digit(drawings / f"{index:03d}.png", rng, SCALE_IMAGE_SIDE)
    tree = folder / "tree"
    expected = []
    for index in range(files):
        sub = tree / f"{index // FILES_PER_FOLDER:03d}"
        sub.mkdir(parents=True, exist_ok=True)
        path = sub / f"{index:06d}.png"
        os.link(drawings / f"{index % DISTINCT_IMAGES:03d}.png", path)
        expected.append(str(path))

    peak_rss = peak_pss = 0
    started = time.perf_counter()
    command = evaluate + ["--jsonl", "--recursive", str(tree)]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    first_line_s = None
    lines: list[bytes] = []

    def read() -> None:
        nonlocal first_line_s
        for line in process.stdout:
            if first_line_s is None:
                first_line_s = time.perf_counter() - started
            lines.append(line)

    reader = threading.Thread(target=read)
    reader.start()
    while process.poll() is None:
        rss, pss = _tree_memory(process.pid)
        peak_rss, peak_pss = max(peak_rss, rss), max(peak_pss, pss)
        time.sleep(MEMORY_SAMPLE_S)
    reader.join()
    total_s = time.perf_counter() - started

    records = []
    for line in lines:
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            if isinstance(record, dict):
                records.append(record)
    paths = [record.get("path") for record in records]
    return {
        "files": files,
        "code": process.returncode,
        "first_line_s": first_line_s,
        "total_s": total_s,
        "peak_rss_mb": peak_rss / 2**20,
        "peak_pss_mb": peak_pss / 2**20,
        "lines": len(lines),
        "valid": len(records),
        "answered": sum(record.get("error") is None for record in records),
        "in_order": paths == expected,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7, help="timed runs of each one-image command, median reported (default: 7)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of the 976-file call, median reported (default: 3)")
    parser.add_argument("--stream-files", type=int, default=20_000, help="files for the --jsonl scale run (default: 20000)")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"which figures to measure, comma-separated (default: {','.join(PARTS)})")
    parser.add_argument("--model", type=Path, default=DEFAULT_TFLITE_PATH, help="model evaluate.py uses (default: the shipped .tflite)")
    args = parser.parse_args(argv)
    parts = {part.strip() for part in args.parts.split(",") if part.strip()}
    if not parts or parts - set(PARTS):
        parser.error(f"--parts: choose from {', '.join(PARTS)}")
    if not args.model.exists():
        print(f"error: model {args.model} not found; run `python train.py` first", file=sys.stderr)
        return 2

    evaluate = [sys.executable, "evaluate.py", "--model", str(args.model)]
    checks = []
    print(f"machine: {os.cpu_count()} cores, load average {' '.join(f'{load:.2f}' for load in os.getloadavg())} at the start")
    with tempfile.TemporaryDirectory(prefix="bench-evaluate-") as folder:
        folder = Path(folder)

        if "cold" in parts:
            times = cold_start(evaluate, folder, args.runs)
            one_median, tf_median = statistics.median(times["default"][0]), statistics.median(times["tensorflow"][0])
            labels = {
                "default": "python evaluate.py one.png    ",
                "here": "  ... compiling its modules   ",
                "tensorflow": 'python -c "import tensorflow"',
            }
            for label, (walls, cpu) in times.items():
                spread = f"{args.runs} runs (min {min(walls):.3f}, max {max(walls):.3f})"
                print(f"{labels[label]}  median {statistics.median(walls):.3f} s, {spread}; CPU median {statistics.median(cpu):.3f} s")
            if "here" in times:
                print(f"{'':31}(the second line: every call compiling the project's modules, as PYTHONDONTWRITEBYTECODE here makes it)")
            print(f"ratio                           {one_median / tf_median:.3f}")
            print(f"{'':31}CPU: user + system of the whole call, not a wall time")
            checks += [
                (f"one image <= {ONE_IMAGE_LIMIT_S} s median", one_median <= ONE_IMAGE_LIMIT_S),
                (f"one image <= {TF_IMPORT_RATIO_LIMIT} of the TensorFlow import", one_median / tf_median <= TF_IMPORT_RATIO_LIMIT),
            ]

        measured = throughput(evaluate, folder, args.repeats) if "throughput" in parts else "not asked for (--parts)"
        if isinstance(measured, str):
            print(f"976-file call skipped: {measured}")
        else:
            times, cpu, count = measured
            median = statistics.median(times)
            shown = ", ".join(f"{t:.2f}" for t in times)
            print(f"{count} files in one --json call  median {median:.2f} s over {len(times)} runs ({shown})")
            cpu_median = statistics.median(cpu)
            floor = cpu_median / os.cpu_count()
            print(f"{'':31}CPU median {cpu_median:.2f} s, all processes (on {os.cpu_count()} cores no run can take under {floor:.2f} s)")
            checks.append((f"{count} files <= {THROUGHPUT_LIMIT_S} s", median <= THROUGHPUT_LIMIT_S))

        if "scale" in parts:
            result = scale(evaluate, folder, args.stream_files)
            first, indent = result["first_line_s"], " " * 31
            print(f"--jsonl over {result['files']} files   first line after {'never' if first is None else f'{first:.2f} s'}")
            print(indent + f"all done in {result['total_s']:.1f} s (exit {result['code']})")
            print(indent + f"peak {result['peak_rss_mb']:.0f} MB RSS, {result['peak_pss_mb']:.0f} MB PSS (all processes)")
            print(indent + f"{result['lines']} lines, {result['valid']} valid JSON objects ({result['answered']} answers)")
            print(indent + f"in input order: {result['in_order']}")
            checks += [
                (f"first line <= {FIRST_LINE_LIMIT_S} s", first is not None and first <= FIRST_LINE_LIMIT_S),
                (f"peak RSS <= {PEAK_RSS_LIMIT_MB} MB", result["peak_rss_mb"] <= PEAK_RSS_LIMIT_MB),
                ("one valid JSON line per file, in order", result["valid"] == result["lines"] == result["files"] and result["in_order"]),
            ]
    print(f"machine: load average {' '.join(f'{load:.2f}' for load in os.getloadavg())} at the end")
    for name, passed in checks:
        print(f"{'PASS' if passed else 'FAIL'}  {name}")
    return 0 if all(passed for _, passed in checks) else 1


if __name__ == "__main__":
    raise SystemExit(main())
