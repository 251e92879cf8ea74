"""Tests for app.py: a real server on a free port, real HTTP requests, digits drawn with Pillow."""

from __future__ import annotations

import base64
import contextlib
import http.client
import io
import json
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

import app
from inference import DEFAULT_TFLITE_PATH, Predictor, load_predictor
from preprocess import preprocess

ROOT = Path(__file__).resolve().parent.parent
CANVAS_SIZE = 280  # the page's canvas, in pixels
STROKE_WIDTH = 20  # the page's pen width on that canvas
CONCURRENT_CLIENTS = 16
FAKE_DIGIT = 3  # what FakePredictor always answers

needs_model = pytest.mark.skipif(not DEFAULT_TFLITE_PATH.exists(), reason=f"no shipped model at {DEFAULT_TFLITE_PATH}; run train.py")


# --- images -------------------------------------------------------------------------------------------------


def draw_digit(digit: int, mode: str = "L") -> Image.Image:
    """A '1' or a '7' drawn like the page draws it: dark strokes on white (or on transparent, for RGBA)."""
    background = (0, 0, 0, 0) if mode == "RGBA" else "white"
    ink = (17, 17, 17, 255) if mode == "RGBA" else "black"
    image = Image.new(mode, (CANVAS_SIZE, CANVAS_SIZE), background)
    pen = ImageDraw.Draw(image)
    strokes = {
        1: [[(150, 40), (140, 240)]],
        7: [[(70, 50), (210, 50), (120, 240)]],
    }[digit]
    for stroke in strokes:
        pen.line(stroke, fill=ink, width=STROKE_WIDTH, joint="curve")
    return image


def encode(image: Image.Image, format: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=format)
    return buffer.getvalue()


def png_declaring_size(width: int, height: int) -> bytes:
    """A small, well-formed PNG header that claims width x height pixels (a decompression bomb's shape)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grayscale
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


# --- servers ------------------------------------------------------------------------------------------------


class FakePredictor(Predictor):
    """Always answers FAKE_DIGIT; fails loudly if two threads ever call it at once (the server must serialize)."""

    backend = "fake"
    path = Path("fake")

    def __init__(self) -> None:
        self.busy = threading.Lock()
        self.calls = 0

    def predict(self, images: np.ndarray) -> np.ndarray:
        if not self.busy.acquire(blocking=False):
            raise RuntimeError("predict() entered by two threads at once")
        try:
            time.sleep(0.002)  # widen the window in which an unlocked server would overlap calls
            self.calls += 1
            probabilities = np.full((len(images), 10), 0.01, np.float32)
            probabilities[:, FAKE_DIGIT] = 0.91
            return probabilities
        finally:
            self.busy.release()


@contextlib.contextmanager
def serving(predictor: Predictor) -> Iterator[app.DigitServer]:
    """An app server on a free loopback port, serving from a background thread until the block ends."""
    server = app.DigitServer(("127.0.0.1", 0), predictor, log_requests=False)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def fake_server() -> Iterator[app.DigitServer]:
    with serving(FakePredictor()) as server:
        yield server


@pytest.fixture(scope="module")
def model_server() -> Iterator[app.DigitServer]:
    if not DEFAULT_TFLITE_PATH.exists():
        pytest.skip(f"no shipped model at {DEFAULT_TFLITE_PATH}; run train.py")
    with serving(load_predictor(DEFAULT_TFLITE_PATH)) as server:
        yield server


def request(
    server: app.DigitServer, method: str, path: str, body: bytes | None = None, headers: dict | None = None
) -> tuple[int, http.client.HTTPMessage, bytes]:
    """One request on a fresh connection; the path is sent exactly as given (no normalization)."""
    host, port = server.server_address[:2]
    connection = http.client.HTTPConnection(host, port, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


def predict(server: app.DigitServer, body: bytes) -> tuple[int, dict]:
    status, headers, content = request(server, "POST", "/predict", body, {"Content-Type": "application/octet-stream"})
    assert headers["Content-Type"] == "application/json"
    return status, json.loads(content)


def assert_still_serving(server: app.DigitServer) -> None:
    status, _, content = request(server, "GET", "/")
    assert status == 200 and b"<canvas" in content


def decode_data_url(url: str) -> np.ndarray:
    prefix = "data:image/png;base64,"
    assert url.startswith(prefix)
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url[len(prefix) :]))))


# --- static files and routing -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "content_type", "marker"),
    [
        ("/", "text/html", b"<canvas"),
        ("/index.html", "text/html", b"<canvas"),
        ("/static/app.js", "text/javascript", b"/predict"),
        ("/static/style.css", "text/css", b"canvas"),
        ("/?from=bookmark", "text/html", b"<canvas"),
    ],
    ids=["root", "index", "script", "style", "query-string"],
)
def test_serves_the_page_and_its_files(fake_server, path, content_type, marker):
    status, headers, content = request(fake_server, "GET", path)
    assert status == 200
    assert headers["Content-Type"].startswith(content_type)
    assert marker in content
    assert "default-src 'self'" in headers["Content-Security-Policy"]


def test_head_sends_headers_only(fake_server):
    status, headers, content = request(fake_server, "HEAD", "/")
    assert status == 200 and int(headers["Content-Length"]) > 0 and content == b""


def test_page_loads_nothing_from_elsewhere():
    """Every src/href in the page is this server's own path (or an inline data: URL): it works offline."""
    html = (ROOT / "static" / "index.html").read_text()
    references = re.findall(r'(?:src|href)="([^"]*)"', html)
    assert references, "expected the page to reference its script and style sheet"
    for reference in references:
        assert reference.startswith("data:") or (reference.startswith("/") and not reference.startswith("//")), reference
    assert "@import" not in (ROOT / "static" / "style.css").read_text()


@pytest.mark.parametrize(
    "path",
    [
        "/nope",
        "/app.py",
        "/inference.py",
        "/static/",
        "/static",
        "/static/index.html.bak",
        "/models/mnist_cnn.tflite",
        "/.git/config",
        "/favicon.ico",
        "/../app.py",
        "/static/../app.py",
        "/static/../../etc/passwd",
        "/static/%2e%2e/app.py",
        "/%2e%2e/app.py",
        "/static/..%2fapp.py",
        "/static/%2e%2e%2fapp.py",
        "/static/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd",
        "/static/..\\app.py",
        "/static/app.js/../../app.py",
        "//etc/passwd",
        "/static//etc/passwd",
        "/static/./app.js",
        "/STATIC/APP.JS",
        "http://127.0.0.1/../app.py",
    ],
)
def test_unknown_paths_and_traversal_get_404(fake_server, path):
    status, headers, content = request(fake_server, "GET", path)
    assert status == 404
    assert headers["Content-Type"] == "application/json"
    assert "error" in json.loads(content)
    assert b"ThreadingHTTPServer" not in content and b"root:" not in content


def test_get_on_predict_says_use_post(fake_server):
    status, headers, content = request(fake_server, "GET", "/predict")
    assert status == 405 and headers["Allow"] == "POST"
    assert "POST" in json.loads(content)["error"]


def test_post_elsewhere_gets_404(fake_server):
    status, _, content = request(fake_server, "POST", "/static/app.js", b"x")
    assert status == 404 and "error" in json.loads(content)
    assert_still_serving(fake_server)


# --- /predict: good input -----------------------------------------------------------------------------------


def test_predict_answers_with_digit_probabilities_and_the_image_the_model_saw(fake_server):
    body = encode(draw_digit(7))
    status, result = predict(fake_server, body)
    assert status == 200
    assert set(result) == {"digit", "confidence", "probabilities", "preprocessed"}
    assert result["digit"] == FAKE_DIGIT
    assert result["confidence"] == pytest.approx(0.91)
    assert len(result["probabilities"]) == 10
    # The preprocessed image is evaluate.py's input, exactly (up to 8-bit rounding).
    expected = preprocess(app.open_upload(body))[..., 0]
    seen = decode_data_url(result["preprocessed"])
    assert seen.shape == (28, 28) and seen.dtype == np.uint8
    np.testing.assert_allclose(seen / 255, expected, atol=0.5 / 255 + 1e-6)


def test_keep_alive_connection_serves_several_predictions(fake_server):
    host, port = fake_server.server_address[:2]
    connection = http.client.HTTPConnection(host, port, timeout=10)
    try:
        for _ in range(3):
            connection.request("POST", "/predict", body=encode(draw_digit(1)))
            response = connection.getresponse()
            assert response.status == 200 and json.loads(response.read())["digit"] == FAKE_DIGIT
    finally:
        connection.close()


# --- /predict: bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected_status"),
    [
        pytest.param(b"", 400, id="empty"),
        pytest.param(b"hello, this is not an image", 400, id="text"),
        pytest.param(b"<svg xmlns='http://www.w3.org/2000/svg'/>", 400, id="svg"),
        pytest.param(encode(draw_digit(7))[:200], 400, id="truncated-png"),
        pytest.param(encode(draw_digit(7), "JPEG")[:-400], 400, id="truncated-jpeg"),
        pytest.param(png_declaring_size(50_000, 50_000), 400, id="huge-dimensions"),
        pytest.param(png_declaring_size(100_000, 1_000), 400, id="huge-width"),
        pytest.param(encode(Image.new("L", (4, 4), "black")), 400, id="too-small"),
        pytest.param(encode(Image.new("L", (CANVAS_SIZE, CANVAS_SIZE), "white")), 422, id="blank-white"),
        pytest.param(encode(Image.new("RGBA", (CANVAS_SIZE, CANVAS_SIZE), (0, 0, 0, 0))), 422, id="blank-transparent"),
    ],
)
def test_bad_images_get_a_json_error_and_the_server_keeps_serving(fake_server, body, expected_status):
    status, result = predict(fake_server, body)
    assert status == expected_status
    assert set(result) == {"error"}
    message = result["error"]
    assert isinstance(message, str) and message and "\n" not in message
    assert "Traceback" not in message and "digits-" not in message  # no stack traces, no server-side file names
    assert_still_serving(fake_server)


def raw_exchange(server: app.DigitServer, head: bytes, body: bytes = b"", finish_sending: bool = False) -> tuple[int, dict]:
    """Send raw bytes (a request head the http.client API won't build) and parse the status and JSON body."""
    with socket.create_connection(server.server_address[:2], timeout=10) as connection:
        connection.sendall(head + body)
        if finish_sending:
            connection.shutdown(socket.SHUT_WR)
        response = http.client.HTTPResponse(connection)
        response.begin()
        return response.status, json.loads(response.read())


def test_too_large_is_refused_from_the_header_without_reading_the_body(fake_server):
    # Only the head is sent: a server that tried to read the declared 10 MB + 1 would hang and time out.
    head = f"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: {app.MAX_UPLOAD_BYTES + 1}\r\n\r\n".encode()
    started = time.perf_counter()
    status, result = raw_exchange(fake_server, head)
    assert status == 413
    assert "limit" in result["error"]
    assert time.perf_counter() - started < 5
    assert_still_serving(fake_server)


def test_too_large_is_refused_before_100_continue(fake_server):
    head = f"POST /predict HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: {app.MAX_UPLOAD_BYTES + 1}\r\n\r\n"
    status, result = raw_exchange(fake_server, head.encode())
    assert status == 413 and "limit" in result["error"]


def test_expect_100_continue_for_a_normal_upload(fake_server):
    body = encode(draw_digit(1))
    head = f"POST /predict HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: {len(body)}\r\n\r\n"
    status, result = raw_exchange(fake_server, head.encode(), body)
    assert status == 200 and result["digit"] == FAKE_DIGIT


def test_upload_of_exactly_the_limit_is_read(fake_server):
    status, result = predict(fake_server, b"\0" * app.MAX_UPLOAD_BYTES)
    assert status == 400 and "not an image" in result["error"]


@pytest.mark.parametrize(
    ("head", "expected_status"),
    [
        (b"POST /predict HTTP/1.1\r\nHost: x\r\n\r\n", 411),
        (b"POST /predict HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 411),
        (b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: ten\r\n\r\n", 400),
        (b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n", 400),
        (b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly a few bytes", 400),
    ],
    ids=["no-length", "chunked", "length-not-a-number", "negative-length", "body-shorter-than-declared"],
)
def test_malformed_uploads_get_a_json_error(fake_server, head, expected_status):
    status, result = raw_exchange(fake_server, head, finish_sending=True)
    assert status == expected_status
    assert result["error"]
    assert_still_serving(fake_server)


def all_at_once(call: Callable[[int], tuple[int, dict]]) -> list[tuple[int, dict]]:
    """Run call(0..CONCURRENT_CLIENTS-1) on that many threads released together; re-raise any client's error."""
    barrier = threading.Barrier(CONCURRENT_CLIENTS)

    def client(index: int) -> tuple[int, dict]:
        barrier.wait(timeout=10)
        return call(index)

    with ThreadPoolExecutor(max_workers=CONCURRENT_CLIENTS) as pool:
        futures = [pool.submit(client, index) for index in range(CONCURRENT_CLIENTS)]
        return [future.result(timeout=60) for future in futures]


def test_concurrent_requests_are_serialized_through_the_model(fake_server):
    """16 clients at once: every one answered, and the (non-thread-safe) predictor never entered twice."""
    body = encode(draw_digit(1))
    results = all_at_once(lambda index: predict(fake_server, body))
    assert [status for status, _ in results] == [200] * CONCURRENT_CLIENTS
    assert all(result["digit"] == FAKE_DIGIT for _, result in results)
    assert_still_serving(fake_server)


class BrokenPredictor(Predictor):
    backend = "broken"
    path = Path("broken")

    def predict(self, images: np.ndarray) -> np.ndarray:
        raise RuntimeError("interpreter exploded")


def test_a_failing_model_gets_a_500_and_the_server_keeps_serving(capsys):
    with serving(BrokenPredictor()) as server:
        status, result = predict(server, encode(draw_digit(1)))
        assert status == 500 and "interpreter exploded" in result["error"]
        assert_still_serving(server)
    assert "interpreter exploded" in capsys.readouterr().err  # logged for the person running app.py


# --- /predict with the shipped model ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("digit", "mode", "format"),
    [(1, "L", "PNG"), (7, "L", "PNG"), (1, "RGBA", "PNG"), (7, "RGBA", "PNG"), (7, "RGB", "JPEG")],
    ids=["1-png", "7-png", "1-transparent-canvas", "7-transparent-canvas", "7-jpeg"],
)
def test_model_reads_drawn_digits(model_server, digit, mode, format):
    status, result = predict(model_server, encode(draw_digit(digit, mode), format))
    assert status == 200, result
    assert result["digit"] == digit
    assert result["confidence"] == pytest.approx(max(result["probabilities"]))
    assert sum(result["probabilities"]) == pytest.approx(1, abs=1e-3)


def test_model_answers_concurrent_clients_correctly(model_server):
    bodies = {digit: encode(draw_digit(digit)) for digit in (1, 7)}
    wanted = [(1, 7)[index % 2] for index in range(CONCURRENT_CLIENTS)]
    results = all_at_once(lambda index: predict(model_server, bodies[wanted[index]]))
    assert [(status, result.get("digit")) for status, result in results] == [(200, digit) for digit in wanted]
    assert_still_serving(model_server)


# --- the command line ---------------------------------------------------------------------------------------


def test_defaults_bind_loopback_on_port_8000():
    args = app.build_parser().parse_args([])
    assert (args.host, args.port, args.model) == ("127.0.0.1", 8000, None)


def test_help_shows_defaults(capsys):
    with pytest.raises(SystemExit):
        app.main(["--help"])
    help_text = capsys.readouterr().out
    assert "default: 127.0.0.1" in help_text and "default: 8000" in help_text


def test_missing_model_is_a_one_line_error_and_exit_2(tmp_path, capsys):
    assert app.main(["--model", str(tmp_path / "missing.tflite"), "--port", "0"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "missing.tflite" in error and error.startswith("app.py: error:")


def test_busy_port_is_a_one_line_error_and_exit_2(fake_server, capsys, monkeypatch):
    monkeypatch.setattr(app, "load_predictor", lambda path: FakePredictor())
    port = fake_server.server_address[1]
    assert app.main(["--port", str(port)]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and str(port) in error


@needs_model
def test_python_app_py_prints_the_url_and_serves_until_interrupted():
    process = subprocess.Popen(
        [sys.executable, "app.py", "--port", "0", "--quiet"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        line = process.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert match, f"no URL in {line!r}; stderr: {process.stderr.read() if process.poll() is not None else ''}"
        connection = http.client.HTTPConnection("127.0.0.1", int(match.group(1)), timeout=10)
        connection.request("POST", "/predict", body=encode(draw_digit(7)))
        response = connection.getresponse()
        assert response.status == 200 and json.loads(response.read())["digit"] == 7
        connection.close()
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
        process.stderr.close()
