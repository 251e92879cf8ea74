"""Load and fault figures for app.py: many clients at once, memory over many requests, corrupted uploads.

For each --workers count, starts `python app.py --port 0 --workers N` on loopback (the real server in
its own processes) and measures:
  load     --clients keep-alive clients posting a drawn digit for --duration seconds: requests/s, p50,
           p99, errors (anything but a 200, or a failed connection);
  memory   the resident memory of the server's processes after a warm-up, then after --memory-requests
           more requests (run for the first --workers count only);
  faults   --fuzz-cases corrupted uploads (truncated, bit-flipped, wrong magic bytes, wrong Content-Type,
           broken multipart forms): each must get a 200 or a 4xx with a JSON body, never a 5xx or a
           dropped connection.
Only loopback addresses are used and every loop is bounded by a count or a deadline.
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import random
import statistics
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.bench_app import canvas_png, start_app  # noqa: E402

DEFAULT_WORKERS = (1, 2)
DEFAULT_CLIENTS = 32
DEFAULT_DURATION_SECONDS = 30.0
DEFAULT_MEMORY_REQUESTS = 10_000
WARMUP_REQUESTS = 500  # before the first memory reading: thread pools, allocator arenas and caches fill up
DEFAULT_FUZZ_CASES = 300
DEFAULT_SEED = 0
REQUEST_TIMEOUT_SECONDS = 30
# The targets.
TARGET_ERRORS = 0
TARGET_P99_SECONDS = 1.0  # with 2 workers on 2 cores
TARGET_RSS_GROWTH = 0.10
TARGET_BAD_FAULT_ANSWERS = 0
MULTIPART_BOUNDARY = "digitsboundary7MA4YWxkTrZu0gW"


# --- Uploads ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Upload:
    """One request body to POST /predict, with its headers and a name saying how it was made."""

    name: str
    body: bytes
    content_type: str = "application/octet-stream"


def encode(image: Image.Image, format: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=format, **options)
    return buffer.getvalue()


def sample_images() -> dict[str, bytes]:
    """Well-formed image files of a drawn 7 in the formats people upload, to corrupt."""
    gray = Image.open(io.BytesIO(canvas_png())).convert("L")
    # A photo-like version: warm paper, soft ink.
    photo = Image.merge("RGB", [gray.point(lambda v, base=base: base + v * 0.68) for base in (40, 35, 30)])
    canvas = Image.new("RGBA", gray.size, (0, 0, 0, 0))
    ImageDraw.Draw(canvas).line([(70, 56), (210, 56), (126, 238)], fill=(17, 17, 17, 255), width=20)
    return {
        "png": canvas_png(),
        "png-rgba": encode(canvas, "PNG"),
        "jpeg": encode(photo, "JPEG", quality=90),
        "jpeg-progressive": encode(photo, "JPEG", quality=80, progressive=True),
        "gif": encode(gray.convert("P"), "GIF"),
        "bmp": encode(gray, "BMP"),
        "webp": encode(photo, "WEBP", quality=80),
        "tiff": encode(gray, "TIFF", compression="tiff_deflate"),
    }


def multipart(content: bytes, field: str = "image", boundary: str = MULTIPART_BOUNDARY) -> bytes:
    """A multipart/form-data body holding one file, as `curl -F image=@digit.png` sends it."""
    head = f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="digit.png"\r\nContent-Type: image/png\r\n\r\n'
    return head.encode() + content + f"\r\n--{boundary}--\r\n".encode()


MAGIC_BYTES = [b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"GIF89a", b"BM", b"RIFF\x00\x00\x00\x00WEBP", b"II*\x00", b"%PDF-1.4"]
WRONG_TYPES = ["image/png", "image/jpeg", "text/plain", "application/json", "multipart/form-data", "image/svg+xml", "", "x/\u00ff"]


def corrupted_uploads(count: int, seed: int = DEFAULT_SEED) -> list[Upload]:
    """``count`` broken uploads, the same for the same seed: truncated, bit-flipped, magic bytes swapped,
    declared with the wrong Content-Type, or wrapped in broken multipart forms."""
    rng = random.Random(seed)
    samples = sample_images()
    uploads = []
    for index in range(count):
        kind = ("truncated", "bit-flipped", "wrong-magic", "wrong-type", "multipart", "garbage")[index % 6]
        source, data = rng.choice(sorted(samples.items()))
        name = f"{index}-{kind}-{source}"
        if kind == "truncated":
            cut = rng.choice([1, 8, 16, 33, 64, len(data) // 4, len(data) // 2, len(data) - 1, rng.randrange(1, len(data))])
            uploads.append(Upload(f"{name}-at-{cut}", data[:cut]))
        elif kind == "bit-flipped":
            flipped = bytearray(data)
            flips = rng.choice([1, 4, 32, 256])
            # Half the time only the first 64 bytes: the header, where a flip changes sizes and formats.
            span = 64 if rng.random() < 0.5 else len(flipped)
            for _ in range(flips):
                position = rng.randrange(min(span, len(flipped)))
                flipped[position] ^= 1 << rng.randrange(8)
            uploads.append(Upload(f"{name}-{flips}-bits", bytes(flipped)))
        elif kind == "wrong-magic":
            magic = rng.choice(MAGIC_BYTES)
            uploads.append(Upload(f"{name}-as-{magic[:4]!r}", magic + data[len(magic) :]))
        elif kind == "wrong-type":
            content_type = rng.choice(WRONG_TYPES)
            uploads.append(Upload(f"{name}-declared-{content_type or 'nothing'}", data, content_type))
        elif kind == "multipart":
            form = multipart(data)
            how = rng.choice(["no-boundary", "other-boundary", "truncated", "no-file", "bit-flipped", "other-field"])
            content_type = f"multipart/form-data; boundary={MULTIPART_BOUNDARY}"
            if how == "no-boundary":
                content_type = "multipart/form-data"
            elif how == "other-boundary":
                content_type = "multipart/form-data; boundary=somethingelse"
            elif how == "truncated":
                form = form[: rng.randrange(1, len(form))]
            elif how == "no-file":
                field = 'Content-Disposition: form-data; name="image"\r\n\r\n7'
                form = f"--{MULTIPART_BOUNDARY}\r\n{field}\r\n--{MULTIPART_BOUNDARY}--\r\n".encode()
            elif how == "bit-flipped":
                flipped = bytearray(form)
                for _ in range(8):
                    flipped[rng.randrange(len(flipped))] ^= 1 << rng.randrange(8)
                form = bytes(flipped)
            else:
                form = multipart(data, field="file")
            uploads.append(Upload(f"{name}-{how}", form, content_type))
        else:
            size = rng.choice([1, 7, 100, 5000])
            uploads.append(Upload(f"{name}-{size}-bytes", rng.randbytes(size)))
    return uploads


def check_answer(status: int, content_type: str, body: bytes) -> str | None:
    """Why an answer to a corrupted upload is wrong (a 5xx, or not JSON with the right keys), or None when it is fine."""
    if status >= 500 or not (status == 200 or 400 <= status < 500):
        return f"status {status}"
    if not content_type.startswith("application/json"):
        return f"status {status} with Content-Type {content_type!r}"
    try:
        payload = json.loads(body)
    except ValueError:
        return f"status {status} with a body that is not JSON: {body[:80]!r}"
    expected = "digit" if status == 200 else "error"
    if not isinstance(payload, dict) or expected not in payload:
        return f"status {status} without {expected!r}: {body[:80]!r}"
    return None


def post(connection: http.client.HTTPConnection, upload: Upload) -> tuple[int, str, bytes]:
    connection.request("POST", "/predict", body=upload.body, headers={"Content-Type": upload.content_type})
    response = connection.getresponse()
    return response.status, response.getheader("Content-Type", ""), response.read()


def connect(url: str) -> http.client.HTTPConnection:
    parts = urlsplit(url)
    if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit(f"bench_load.py: error: {url} is not a loopback address; this benchmark only loads this machine")
    return http.client.HTTPConnection(parts.hostname, parts.port, timeout=REQUEST_TIMEOUT_SECONDS)


def send_faults(url: str, uploads: list[Upload]) -> tuple[Counter, list[str]]:
    """Post each upload on a fresh connection; the statuses seen and what went wrong."""
    statuses: Counter = Counter()
    failures = []
    for upload in uploads:
        connection = connect(url)
        try:
            status, content_type, body = post(connection, upload)
        except (OSError, http.client.HTTPException) as error:
            statuses["dropped"] += 1
            failures.append(f"{upload.name}: connection failed ({type(error).__name__}: {error})")
            continue
        finally:
            connection.close()
        statuses[status] += 1
        problem = check_answer(status, content_type, body)
        if problem:
            failures.append(f"{upload.name}: {problem}")
    return statuses, failures


# --- Load -------------------------------------------------------------------------------------------------


def hammer(url: str, body: bytes, clients: int, duration: float | None = None, total: int | None = None) -> dict:
    """``clients`` threads, each on its own keep-alive connection, post ``body`` until the deadline or
    until ``total`` requests have been sent; latencies in seconds and errors."""
    latencies: list[float] = []
    errors: Counter = Counter()
    lock = threading.Lock()
    sent = 0
    start = threading.Barrier(clients + 1)
    deadline = float("inf")
    upload = Upload("load", body, "image/png")

    def take_turn() -> bool:
        nonlocal sent
        with lock:
            if (total is not None and sent >= total) or time.monotonic() >= deadline:
                return False
            sent += 1
            return True

    def client() -> None:
        connection = connect(url)
        start.wait()
        try:
            while take_turn():
                began = time.perf_counter()
                try:
                    status, _, _ = post(connection, upload)
                except (OSError, http.client.HTTPException) as error:
                    with lock:
                        errors[type(error).__name__] += 1
                    connection.close()
                    connection = connect(url)
                    continue
                elapsed = time.perf_counter() - began
                with lock:
                    latencies.append(elapsed)
                    if status != 200:
                        errors[f"status {status}"] += 1
        finally:
            connection.close()

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    if duration is not None:
        deadline = time.monotonic() + duration
    began = time.perf_counter()
    start.wait()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    ordered = sorted(latencies)
    return {
        "clients": clients,
        "requests": len(ordered),
        "wall_s": wall,
        "requests_per_s": len(ordered) / wall,
        "p50_s": statistics.median(ordered) if ordered else None,
        "p99_s": ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] if ordered else None,
        "max_s": ordered[-1] if ordered else None,
        "errors": sum(errors.values()),
        "error_kinds": dict(errors),
    }


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (Linux /proc)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                todo.extend(int(child) for child in (task / "children").read_text().split())
            except OSError:
                pass
    return found


def rss_bytes(pid: int) -> int:
    """Resident memory of a process, from /proc/PID/status; 0 when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def server_rss(pid: int) -> int:
    return sum(rss_bytes(each) for each in process_tree(pid))


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} on {os.cpu_count()} cores"


def wait_until_serving(url: str, workers: int) -> None:
    """Block until /health answers (every worker has loaded its model by then, or soon after)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        connection = connect(url)
        try:
            connection.request("GET", "/health")
            if connection.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.2)
        finally:
            connection.close()
    raise SystemExit(f"bench_load.py: error: the app with {workers} workers did not answer /health")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, nargs="+", default=list(DEFAULT_WORKERS), help="server process counts to measure")
    parser.add_argument("--clients", type=int, default=DEFAULT_CLIENTS, help="concurrent clients in the load run")
    parser.add_argument("--duration", type=float, default=DEFAULT_DURATION_SECONDS, help="seconds of each load run")
    parser.add_argument("--memory-requests", type=int, default=DEFAULT_MEMORY_REQUESTS, help="requests between the two memory readings")
    parser.add_argument("--fuzz-cases", type=int, default=DEFAULT_FUZZ_CASES, help="corrupted uploads to send")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of the corrupted uploads")
    parser.add_argument("--model", help="model for the app (default: app.py's default)")
    parser.add_argument("--output", type=Path, help="also write the results as JSON here (e.g. benchmarks/out/bench_load.json)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if min(args.workers) < 1 or args.clients < 1 or args.duration <= 0 or args.memory_requests < 0 or args.fuzz_cases < 0:
        raise SystemExit("bench_load.py: error: --workers, --clients and --duration must be positive, the counts not negative")
    body = canvas_png()
    results: dict = {"load_before": load_average(), "runs": []}
    print(f"machine: {results['load_before']}", flush=True)
    all_met = True
    for index, workers in enumerate(args.workers):
        process, url = start_app(args.model, ["--workers", str(workers)])
        try:
            wait_until_serving(url, workers)
            run: dict = {"workers": workers}
            run["load"] = load = hammer(url, body, args.clients, duration=args.duration)
            print(
                f"{workers} worker(s), {args.clients} clients for {args.duration:g} s: {load['requests_per_s']:.1f} requests/s, "
                f"p50 {load['p50_s'] * 1000:.0f} ms, p99 {load['p99_s'] * 1000:.0f} ms, max {load['max_s'] * 1000:.0f} ms, "
                f"errors {load['errors']} {load['error_kinds'] or ''} ({load_average()})",
                flush=True,
            )
            all_met &= load["errors"] <= TARGET_ERRORS
            if workers >= 2:
                all_met &= load["p99_s"] <= TARGET_P99_SECONDS
            if index == 0 and args.memory_requests:
                started_rss = server_rss(process.pid)
                hammer(url, body, args.clients, total=WARMUP_REQUESTS)
                before = server_rss(process.pid)
                memory_run = hammer(url, body, args.clients, total=args.memory_requests)
                after = server_rss(process.pid)
                growth = (after - before) / before
                run["memory"] = {
                    "processes": len(process_tree(process.pid)),
                    "rss_after_load_run_bytes": started_rss,
                    "rss_before_bytes": before,
                    "rss_after_bytes": after,
                    "requests": memory_run["requests"],
                    "errors": memory_run["errors"],
                    "growth": growth,
                }
                print(
                    f"  RSS of {run['memory']['processes']} processes: {before / 2**20:.1f} MiB after {WARMUP_REQUESTS} warm-up requests, "
                    f"{after / 2**20:.1f} MiB after {memory_run['requests']:,} more requests ({growth:+.1%}; "
                    f"{started_rss / 2**20:.1f} MiB after the load run; {memory_run['errors']} errors)",
                    flush=True,
                )
                all_met &= growth < TARGET_RSS_GROWTH and memory_run["errors"] == 0
            if index == 0 and args.fuzz_cases:
                statuses, failures = send_faults(url, corrupted_uploads(args.fuzz_cases, args.seed))
                answers = {str(status): number for status, number in sorted(statuses.items(), key=str)}
                run["faults"] = {"cases": args.fuzz_cases, "statuses": answers, "failures": failures}
                print(f"  {args.fuzz_cases} corrupted uploads: answers {answers}; {len(failures)} bad", flush=True)
                for failure in failures[:20]:
                    print(f"    {failure}")
                all_met &= len(failures) <= TARGET_BAD_FAULT_ANSWERS
            results["runs"].append(run)
        finally:
            process.terminate()
            process.wait(timeout=30)
    results["load_after"] = load_average()
    print(f"machine: {results['load_after']}")
    print(
        f"targets: 0 errors at {args.clients} clients, p99 <= {TARGET_P99_SECONDS:g} s with 2 workers, "
        f"RSS growth < {TARGET_RSS_GROWTH:.0%}, 0 bad answers to corrupted uploads -> {'met' if all_met else 'MISSED'}"
    )
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(results, indent=2) + "\n")
        print(f"wrote {args.output}")
    return 0 if all_met else 1


if __name__ == "__main__":
    raise SystemExit(main())
