"""Round-trip latency of the web app's POST /predict: median over many requests of a canvas-sized drawn digit.

By default starts `python app.py --port 0` (the real server, in its own process) and stops it afterwards;
--url measures an app that is already running. One keep-alive connection, as the page uses. Then times the
server's two stages in this process (decode + preprocess, model) to show where the time goes.
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_REQUESTS = 200
DEFAULT_WARMUP = 10  # requests sent first and not timed (connection set-up, caches)
TARGET_MEDIAN_MS = 50.0  # the target for the median round trip on this machine
CANVAS_SIZE = 280  # pixels, as the page's canvas
STROKE_WIDTH = 20  # pixels, as the page's pen
START_TIMEOUT_SECONDS = 60


def canvas_png() -> bytes:
    """A '7' drawn like the page draws it (dark strokes on a white 280x280 canvas), as PNG bytes."""
    image = Image.new("L", (CANVAS_SIZE, CANVAS_SIZE), "white")
    ImageDraw.Draw(image).line([(70, 56), (210, 56), (126, 238)], fill=(17,), width=STROKE_WIDTH, joint="curve")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def start_app(model: str | None, extra_args: Sequence[str] = ()) -> tuple[subprocess.Popen, str]:
    """Start `python app.py --port 0` (plus ``extra_args``); the process and the URL it printed."""
    command = [sys.executable, str(ROOT / "app.py"), "--port", "0", "--quiet", *extra_args] + (["--model", model] if model else [])
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        match = re.search(r"http://\S+/", line)
        if match:
            return process, match.group(0)
    process.kill()
    raise SystemExit(f"bench_app.py: error: app.py did not start (exit code {process.wait()}); see its error above")


def time_requests(url: str, body: bytes, count: int, warmup: int) -> list[float]:
    """Milliseconds per POST /predict round trip (send, server work, full JSON read), over one keep-alive connection."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    headers = {"Content-Type": "image/png"}
    timings = []
    try:
        for index in range(warmup + count):
            started = time.perf_counter()
            connection.request("POST", "/predict", body=body, headers=headers)
            response = connection.getresponse()
            payload = response.read()
            elapsed = (time.perf_counter() - started) * 1000
            if response.status != 200:
                raise SystemExit(f"bench_app.py: error: POST /predict answered {response.status}: {payload[:200]!r}")
            if index >= warmup:
                timings.append(elapsed)
    finally:
        connection.close()
    return timings


def time_stages(body: bytes, model: str | None, count: int) -> dict[str, float]:
    """Median milliseconds of the server's stages, run in this process: decode + preprocess, then the model."""
    import numpy as np

    import app
    from inference import load_predictor

    predictor = load_predictor(model)
    decode, model_ms = [], []
    for _ in range(count):
        started = time.perf_counter()
        image = app.preprocess(app.open_upload(body))
        middle = time.perf_counter()
        predictor.predict(image[np.newaxis])
        decode.append((middle - started) * 1000)
        model_ms.append((time.perf_counter() - middle) * 1000)
    return {"decode_preprocess_median_ms": statistics.median(decode), "model_median_ms": statistics.median(model_ms)}


def summarize(timings: list[float]) -> dict[str, float]:
    ordered = sorted(timings)
    return {
        "requests": len(timings),
        "median_ms": statistics.median(ordered),
        "mean_ms": statistics.fmean(ordered),
        "p90_ms": ordered[int(0.9 * (len(ordered) - 1))],
        "min_ms": ordered[0],
        "max_ms": ordered[-1],
    }


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--url", help="benchmark the app already running at this URL instead of starting one")
    parser.add_argument("--model", help="model for the started app and the stage timings (default: app.py's default)")
    parser.add_argument("--requests", type=int, default=DEFAULT_REQUESTS, help="timed requests")
    parser.add_argument("--warmup", type=int, default=DEFAULT_WARMUP, help="untimed requests sent first")
    parser.add_argument("--output", type=Path, help="also write the results as JSON here (e.g. benchmarks/out/bench_app.json)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.requests <= 0 or args.warmup < 0:
        raise SystemExit("bench_app.py: error: --requests must be positive and --warmup not negative")
    body = canvas_png()
    process = None
    url = args.url
    if url is None:
        process, url = start_app(args.model)
    try:
        results = summarize(time_requests(url, body, args.requests, args.warmup))
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=10)
    size = f"{CANVAS_SIZE}x{CANVAS_SIZE}"
    print(f"POST /predict round trip, {results['requests']} requests of a {len(body):,}-byte {size} canvas PNG ({url}):")
    print(
        f"  median {results['median_ms']:.1f} ms, mean {results['mean_ms']:.1f} ms, p90 {results['p90_ms']:.1f} ms, "
        f"min {results['min_ms']:.1f} ms, max {results['max_ms']:.1f} ms"
    )
    if args.url is None:
        stages = time_stages(body, args.model, args.requests)
        results.update(stages)
        print(
            f"  in-process stages (median): decode + preprocess {stages['decode_preprocess_median_ms']:.1f} ms, "
            f"model {stages['model_median_ms']:.2f} ms; the rest is HTTP and JSON"
        )
    meets = results["median_ms"] <= TARGET_MEDIAN_MS
    print(f"  target: median <= {TARGET_MEDIAN_MS:.0f} ms -> {'met' if meets else 'MISSED'}")
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        record = {**results, "target_median_ms": TARGET_MEDIAN_MS, "url": url}
        record.update(python=platform.python_version(), machine=platform.machine(), cpus=os.cpu_count())
        args.output.write_text(json.dumps(record, indent=2) + "\n")
        print(f"  wrote {args.output}")
    return 0 if meets else 1


if __name__ == "__main__":
    raise SystemExit(main())
