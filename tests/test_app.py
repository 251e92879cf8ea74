"""Tests for app.py: the FastAPI app through TestClient, and a real uvicorn server on a free port for what only
real sockets show (exact paths, Content-Length handling, 100-continue, concurrency). Digits drawn with Pillow."""

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
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import uvicorn
from fastapi.testclient import TestClient
from PIL import Image, ImageDraw
from test_segment import READ_WHOLE, generated, touching

import app
from benchmarks.bench_load import check_answer, corrupted_uploads, multipart
from inference import DEFAULT_TFLITE_PATH, LOW_CONFIDENCE, NOT_A_DIGIT, Predictor, load_predictor
from preprocess import preprocess

ROOT = Path(__file__).resolve().parent.parent
CANVAS_SIZE = 280  # the page's canvas, in pixels
STROKE_WIDTH = 20  # the page's pen width on that canvas
CONCURRENT_CLIENTS = 16
FAKE_DIGIT = 3  # what FakePredictor answers
FUZZ_CASES = 48
NAGLE_PROBES = 20
NAGLE_LIMIT_SECONDS = 0.025  # the median answer must beat the ~40 ms a delayed ACK costs
PREDICTION_KEYS = {"digit", "not_a_digit", "confidence", "low_confidence", "probabilities", "not_digit_probability", "preprocessed"}

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


def draw_number() -> Image.Image:
    """'171' written in a row, digits well apart."""
    image = Image.new("L", (600, 200), "white")
    pen = ImageDraw.Draw(image)
    pen.line([(60, 40), (60, 160)], fill=0, width=14)
    pen.line([(200, 40), (300, 40), (230, 160)], fill=0, width=14, joint="curve")
    pen.line([(420, 40), (420, 160)], fill=0, width=14)
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


def decode_data_url(url: str) -> np.ndarray:
    prefix = "data:image/png;base64,"
    assert url.startswith(prefix)
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url[len(prefix) :]))))


# --- predictors ---------------------------------------------------------------------------------------------


class FakePredictor(Predictor):
    """Answers FAKE_DIGIT (or "not a digit" for the images listed); fails loudly if two threads ever call it at once."""

    backend = "fake"
    path = Path("fake.tflite")

    def __init__(self, not_digit_images: tuple[int, ...] = ()) -> None:
        self.busy = threading.Lock()
        self.not_digit_images = not_digit_images

    def predict(self, images: np.ndarray) -> np.ndarray:
        if not self.busy.acquire(blocking=False):
            raise RuntimeError("predict() entered by two threads at once")
        try:
            time.sleep(0.002)  # widen the window in which an unlocked server would overlap calls
            if not self.not_digit_images:
                probabilities = np.full((len(images), 10), 0.01, np.float32)
                probabilities[:, FAKE_DIGIT] = 0.91
                return probabilities
            # An 11-output model: the last column is "not a digit".
            probabilities = np.full((len(images), 11), 0.005, np.float32)
            probabilities[:, FAKE_DIGIT] = 0.905
            # Only in calls long enough to hold that image: ?number=true also asks the model about single
            # pieces, to judge where touching digits are cut.
            for index in (index for index in self.not_digit_images if index < len(images)):
                probabilities[index] = 0.007
                probabilities[index, NOT_A_DIGIT] = 0.93
            return probabilities
        finally:
            self.busy.release()


class BrokenPredictor(Predictor):
    backend = "broken"
    path = Path("broken")

    def predict(self, images: np.ndarray) -> np.ndarray:
        raise RuntimeError("interpreter exploded")


# --- clients and servers ------------------------------------------------------------------------------------


@contextlib.contextmanager
def app_client(predictor: Predictor) -> Iterator[TestClient]:
    with TestClient(app.create_app(predictor), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with app_client(FakePredictor()) as client:
        yield client


@pytest.fixture(scope="module")
def model_client() -> Iterator[TestClient]:
    if not DEFAULT_TFLITE_PATH.exists():
        pytest.skip(f"no shipped model at {DEFAULT_TFLITE_PATH}; run train.py")
    with app_client(load_predictor(DEFAULT_TFLITE_PATH)) as client:
        yield client


@dataclass
class Served:
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"


@contextlib.contextmanager
def serving(predictor: Predictor) -> Iterator[Served]:
    """The app on uvicorn, as app.py runs it, on a free loopback port, from a background thread until the block ends."""
    sock = app.listen("127.0.0.1", 0)
    config = uvicorn.Config(app.create_app(predictor), http=app.JsonErrorH11Protocol, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert server.started, "uvicorn did not start"
        yield Served(*sock.getsockname()[:2])
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture(scope="module")
def fake_server() -> Iterator[Served]:
    with serving(FakePredictor()) as server:
        yield server


def request(server: Served, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
    """One request on a fresh connection; the path is sent exactly as given (no normalization)."""
    connection = http.client.HTTPConnection(server.host, server.port, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


def predict(server: Served, body: bytes, content_type: str = "application/octet-stream") -> tuple[int, dict]:
    status, headers, content = request(server, "POST", "/predict", body, {"Content-Type": content_type})
    assert headers["Content-Type"] == "application/json"
    return status, json.loads(content)


def assert_still_serving(server: Served) -> None:
    status, _, content = request(server, "GET", "/")
    assert status == 200 and b"<canvas" in content


def raw_exchange(server: Served, head: bytes, body: bytes = b"", finish_sending: bool = False) -> tuple[bytes, int, dict]:
    """Send raw bytes (a request head http.client won't build); the answer's first line, status and JSON body."""
    with socket.create_connection((server.host, server.port), timeout=10) as connection:
        connection.sendall(head + body)
        if finish_sending:
            connection.shutdown(socket.SHUT_WR)
        first_line = connection.recv(12, socket.MSG_PEEK)
        response = http.client.HTTPResponse(connection)
        response.begin()
        return first_line, response.status, json.loads(response.read())


# --- static files and routing -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "content_type", "marker"),
    [
        ("/", "text/html", b"<canvas"),
        ("/index.html", "text/html", b"<canvas"),
        ("/static/app.js", "text/javascript", b"/predict"),
        ("/static/style.css", "text/css", b"canvas"),
        ("/?from=bookmark", "text/html", b"<canvas"),
        ("/docs", "text/html", b"swagger-ui"),
        ("/static/docs.js", "text/javascript", b"/openapi.json"),
        ("/docs/swagger-ui-bundle.js", "text/javascript", b"swagger"),
        ("/docs/swagger-ui.css", "text/css", b"swagger"),
    ],
    ids=["root", "index", "script", "style", "query-string", "docs", "docs-script", "swagger-script", "swagger-style"],
)
def test_serves_the_page_and_its_files(fake_server, path, content_type, marker):
    status, headers, content = request(fake_server, "GET", path)
    assert status == 200
    assert headers["Content-Type"].startswith(content_type)
    assert marker in content.lower()
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"


def test_head_sends_headers_only(fake_server):
    status, headers, content = request(fake_server, "HEAD", "/")
    assert status == 200 and int(headers["Content-Length"]) > 0 and content == b""


@pytest.mark.parametrize("page", ["index.html", "docs.html"])
def test_pages_load_nothing_from_elsewhere(page):
    """Every src/href in the pages is this server's own path (or an inline data: URL): they work offline."""
    html = (ROOT / "static" / page).read_text()
    references = re.findall(r'(?:src|href)="([^"]*)"', html)
    assert references, "expected the page to reference its script and style sheet"
    for reference in references:
        assert reference.startswith("data:") or (reference.startswith("/") and not reference.startswith("//")), reference
    assert "@import" not in (ROOT / "static" / "style.css").read_text()
    assert "<script>" not in html  # inline scripts would need the CSP relaxed


def test_swagger_ui_is_served_from_this_machine(client):
    pytest.importorskip("fastapi_offline", reason="fastapi-offline (Swagger UI's files) is not installed")
    script = client.get("/docs/swagger-ui-bundle.js")
    assert script.status_code == 200 and len(script.content) > 100_000 and b"SwaggerUIBundle" in script.content
    assert b"cdn.jsdelivr" not in client.get("/docs").content


def test_docs_without_swagger_ui_installed_say_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "fastapi_offline", None)  # makes `import fastapi_offline` fail
    files = app.swagger_files()
    assert set(files) == set(app.SWAGGER_FILES)
    script, kind = files["/docs/swagger-ui-bundle.js"]
    assert kind.startswith("text/javascript") and b"pip install fastapi-offline" in script


@pytest.mark.parametrize(
    "path",
    [
        "/nope",
        "/app.py",
        "/inference.py",
        "/static/",
        "/static",
        "/static/index.html",
        "/static/docs.html",
        "/static/index.html.bak",
        "/models/mnist_cnn.tflite",
        "/.git/config",
        "/favicon.ico",
        "/redoc",
        "/docs/",
        "/docs/index.html",
        "/docs/../app.py",
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
    assert b"root:" not in content and b"import" not in content
    assert "default-src 'self'" in headers["Content-Security-Policy"]


def test_get_on_predict_says_use_post(fake_server):
    status, headers, content = request(fake_server, "GET", "/predict")
    assert status == 405 and headers["Allow"] == "POST"
    assert "POST" in json.loads(content)["error"]


@pytest.mark.parametrize(("path", "expected_status"), [("/nope", 404), ("/static/app.js", 405), ("/health", 405)])
def test_post_elsewhere_is_refused_in_json(fake_server, path, expected_status):
    status, _, content = request(fake_server, "POST", path, b"x")
    assert status == expected_status and "error" in json.loads(content)
    assert_still_serving(fake_server)


def test_health_names_the_model(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok" and response.json()["model"] == "fake.tflite"


def test_openapi_documents_requests_responses_and_errors(client):
    schema = client.get("/openapi.json").json()
    operation = schema["paths"]["/predict"]["post"]
    body_types = operation["requestBody"]["content"]
    assert "multipart/form-data" in body_types and "image/png" in body_types and "application/octet-stream" in body_types
    assert body_types["multipart/form-data"]["schema"]["required"] == ["image"]
    assert [parameter["name"] for parameter in operation["parameters"]] == ["number"]
    answer = json.dumps(operation["responses"]["200"])
    assert "Prediction" in answer and "NumberPrediction" in answer
    for status in ("400", "408", "411", "413", "422"):
        assert operation["responses"][status]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorReply")
    assert set(schema["components"]["schemas"]["Prediction"]["properties"]) == PREDICTION_KEYS
    assert "/health" in schema["paths"]
    assert not any(path.startswith("/static") or path == "/" for path in schema["paths"])


# --- /predict: good input -----------------------------------------------------------------------------------


def test_predict_answers_with_digit_probabilities_and_the_image_the_model_saw(client):
    body = encode(draw_digit(7))
    response = client.post("/predict", content=body, headers={"Content-Type": "image/png"})
    assert response.status_code == 200
    result = response.json()
    assert set(result) == PREDICTION_KEYS
    assert result["digit"] == FAKE_DIGIT and result["not_a_digit"] is False
    assert result["confidence"] == pytest.approx(0.91 / 1.0, abs=1e-6)
    assert result["not_digit_probability"] == 0 and result["low_confidence"] is (0.91 < LOW_CONFIDENCE)
    assert len(result["probabilities"]) == 10
    # The preprocessed image is evaluate.py's input, exactly (up to 8-bit rounding).
    expected = preprocess(app.open_upload(body))[..., 0]
    seen = decode_data_url(result["preprocessed"])
    assert seen.shape == (28, 28) and seen.dtype == np.uint8
    np.testing.assert_allclose(seen / 255, expected, atol=0.5 / 255 + 1e-6)


@pytest.mark.parametrize("field", ["image", "file"])
def test_multipart_upload_like_curl_dash_f(client, field):
    body = encode(draw_digit(7))
    raw = client.post("/predict", content=body).json()
    response = client.post("/predict", files={field: ("seven.png", body, "image/png")})
    assert response.status_code == 200
    assert response.json() == raw


def test_a_phone_photo_in_heic_is_read_like_its_png(client):
    from test_decode import save_heic

    photo = draw_digit(7).convert("RGB")
    buffer = io.BytesIO()
    save_heic(photo, buffer)
    response = client.post("/predict", files={"image": ("IMG_0001.HEIC", buffer.getvalue(), "image/heic")})
    assert response.status_code == 200
    from_png = client.post("/predict", content=encode(photo)).json()
    assert response.json()["digit"] == from_png["digit"] == FAKE_DIGIT
    seen, expected = decode_data_url(response.json()["preprocessed"]), decode_data_url(from_png["preprocessed"])
    assert np.abs(seen.astype(float) - expected).mean() < 0.02 * 255


def test_multipart_without_a_file_is_a_400(client):
    response = client.post("/predict", data={"image": "7"})
    assert response.status_code == 400 and "image" in response.json()["error"]


def test_not_a_digit_is_an_answer_not_an_error():
    with app_client(FakePredictor(not_digit_images=(0,))) as client:
        response = client.post("/predict", content=encode(draw_digit(7)))
    assert response.status_code == 200
    result = response.json()
    assert result["digit"] is None and result["not_a_digit"] is True
    assert result["confidence"] == pytest.approx(0.93) and result["not_digit_probability"] == pytest.approx(0.93)
    assert len(result["probabilities"]) == 10 and sum(result["probabilities"]) == pytest.approx(1, abs=1e-5)
    assert result["preprocessed"].startswith("data:image/png;base64,")


def test_number_marks_pieces_that_are_not_digits():
    with app_client(FakePredictor(not_digit_images=(1,))) as client:
        response = client.post("/predict?number=true", content=encode(draw_number()))
    assert response.status_code == 200
    result = response.json()
    assert result["number"] == f"{FAKE_DIGIT}?{FAKE_DIGIT}"
    assert result["not_digit_positions"] == [1]
    assert [digit["not_a_digit"] for digit in result["digits"]] == [False, True, False]
    assert result["confidence"] == pytest.approx(min(digit["confidence"] for digit in result["digits"]))


def test_keep_alive_connection_serves_several_predictions(fake_server):
    connection = http.client.HTTPConnection(fake_server.host, fake_server.port, timeout=10)
    try:
        for _ in range(3):
            connection.request("POST", "/predict", body=encode(draw_digit(1)))
            response = connection.getresponse()
            assert response.status == 200 and json.loads(response.read())["digit"] == FAKE_DIGIT
    finally:
        connection.close()


def test_answers_are_not_held_back_by_nagles_algorithm(fake_server):
    """A keep-alive GET /health takes well under a millisecond; with Nagle's algorithm on the server's
    sockets every answer would wait ~40 ms for the client's delayed ACK."""
    connection = http.client.HTTPConnection(fake_server.host, fake_server.port, timeout=10)
    timings = []
    try:
        for _ in range(NAGLE_PROBES):
            started = time.perf_counter()
            connection.request("GET", "/health")
            connection.getresponse().read()
            timings.append(time.perf_counter() - started)
    finally:
        connection.close()
    assert sorted(timings)[len(timings) // 2] < NAGLE_LIMIT_SECONDS


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
def test_bad_images_get_a_json_error(client, body, expected_status):
    response = client.post("/predict", content=body)
    assert response.status_code == expected_status
    assert response.headers["Content-Type"] == "application/json"
    result = response.json()
    assert set(result) == {"error"}
    message = result["error"]
    assert isinstance(message, str) and message and "\n" not in message
    assert "Traceback" not in message and "digits-" not in message  # no stack traces, no server-side file names


@pytest.mark.parametrize("query", ["number=maybe", "number="])
def test_bad_query_is_a_400_in_json(client, query):
    response = client.post(f"/predict?{query}", content=encode(draw_digit(7)))
    assert response.status_code == 400 and "number" in response.json()["error"]


def test_corrupted_uploads_get_200_or_a_4xx_in_json(fake_server):
    """Truncated, bit-flipped, mislabelled and badly wrapped files: never a 5xx, never a dropped connection."""
    failures = []
    for upload in corrupted_uploads(FUZZ_CASES, seed=1):
        status, headers, content = request(fake_server, "POST", "/predict", upload.body, {"Content-Type": upload.content_type})
        problem = check_answer(status, headers.get("Content-Type", ""), content)
        if problem:
            failures.append(f"{upload.name}: {problem}")
    assert failures == []
    assert_still_serving(fake_server)


def test_check_answer_catches_what_it_must():
    assert check_answer(200, "application/json", b'{"digit": 7}') is None
    assert check_answer(400, "application/json", b'{"error": "x"}') is None
    assert check_answer(500, "application/json", b'{"error": "x"}')
    assert check_answer(400, "text/plain", b"Bad Request")
    assert check_answer(422, "application/json", b"not json")


def test_too_large_is_refused_from_the_header_without_reading_the_body(fake_server):
    # Only the head is sent: a server that tried to read the declared 10 MB + 1 would hang and time out.
    head = f"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: {app.MAX_UPLOAD_BYTES + 1}\r\n\r\n".encode()
    started = time.perf_counter()
    _, status, result = raw_exchange(fake_server, head)
    assert status == 413
    assert "limit" in result["error"]
    assert time.perf_counter() - started < 5
    assert_still_serving(fake_server)


def test_too_large_is_refused_before_100_continue(fake_server):
    head = f"POST /predict HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: {app.MAX_UPLOAD_BYTES + 1}\r\n\r\n"
    first_line, status, result = raw_exchange(fake_server, head.encode())
    assert first_line == b"HTTP/1.1 413"  # no "100 Continue" first: the client never sends the body
    assert status == 413 and "limit" in result["error"]


def test_too_large_multipart_is_refused_too(client):
    body = multipart(b"\0" * (app.MAX_UPLOAD_BYTES + 1))
    response = client.post("/predict", content=body, headers={"Content-Type": "multipart/form-data; boundary=x"})
    assert response.status_code == 413 and "limit" in response.json()["error"]


def test_expect_100_continue_for_a_normal_upload(fake_server):
    body = encode(draw_digit(1))
    head = f"POST /predict HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: {len(body)}\r\n\r\n"
    _, status, result = raw_exchange(fake_server, head.encode(), body)
    assert status == 200 and result["digit"] == FAKE_DIGIT


def test_upload_of_exactly_the_limit_is_read(client):
    response = client.post("/predict", content=b"\0" * app.MAX_UPLOAD_BYTES)
    assert response.status_code == 400 and "not an image" in response.json()["error"]


@pytest.mark.parametrize(
    ("head", "expected_status"),
    [
        (b"POST /predict HTTP/1.1\r\nHost: x\r\n\r\n", 411),
        (b"POST /predict HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 411),
        (b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: ten\r\n\r\n", 400),
        (b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n", 400),
        (b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello", 400),
        (b"POST /predict HTTP/1.1\r\nHost x\r\n\r\n", 400),
    ],
    ids=["no-length", "chunked", "length-not-a-number", "negative-length", "two-lengths", "broken-header"],
)
def test_malformed_uploads_get_a_json_error(fake_server, head, expected_status):
    _, status, result = raw_exchange(fake_server, head, finish_sending=True)
    assert status == expected_status
    assert result["error"]
    assert_still_serving(fake_server)


def test_a_body_that_stops_arriving_gets_408(fake_server, monkeypatch):
    monkeypatch.setattr(app, "BODY_TIMEOUT_SECONDS", 0.5)
    head = b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"
    _, status, result = raw_exchange(fake_server, head, b"only a few bytes")
    assert status == 408 and "did not arrive" in result["error"]
    assert_still_serving(fake_server)


def test_a_client_that_hangs_up_mid_body_does_not_hurt_the_server(fake_server):
    with socket.create_connection((fake_server.host, fake_server.port), timeout=10) as connection:
        connection.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly a few bytes")
        connection.shutdown(socket.SHUT_WR)
        connection.recv(1024)  # the server closes: there is nobody left to answer
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


def test_a_failing_model_gets_a_500_and_the_server_keeps_serving(caplog):
    # uvicorn's loggers don't propagate to the root logger caplog listens on, so listen on app.py's directly.
    app.logger.addHandler(caplog.handler)
    try:
        with app_client(BrokenPredictor()) as client:
            response = client.post("/predict", content=encode(draw_digit(1)))
            assert response.status_code == 500 and "interpreter exploded" in response.json()["error"]
            assert client.get("/").status_code == 200
    finally:
        app.logger.removeHandler(caplog.handler)
    assert "interpreter exploded" in caplog.text  # logged, with the traceback, for the person running app.py


# --- /predict with the shipped model ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("digit", "mode", "format"),
    [(1, "L", "PNG"), (7, "L", "PNG"), (1, "RGBA", "PNG"), (7, "RGBA", "PNG"), (7, "RGB", "JPEG")],
    ids=["1-png", "7-png", "1-transparent-canvas", "7-transparent-canvas", "7-jpeg"],
)
def test_model_reads_drawn_digits(model_client, digit, mode, format):
    response = model_client.post("/predict", content=encode(draw_digit(digit, mode), format))
    result = response.json()
    assert response.status_code == 200, result
    assert result["digit"] == digit
    assert result["confidence"] == pytest.approx(max(result["probabilities"]))
    assert sum(result["probabilities"]) == pytest.approx(1, abs=1e-3)


def test_model_reads_a_number(model_client):
    response = model_client.post("/predict?number=true", files={"image": ("number.png", encode(draw_number()), "image/png")})
    assert response.status_code == 200, response.json()
    result = response.json()
    assert result["number"] == "171" and result["not_digit_positions"] == []
    assert [digit["digit"] for digit in result["digits"]] == [1, 7, 1]


@pytest.mark.parametrize(("pair", "overlap"), [("14", 6), ("17", 12)], ids=["1-4", "1-7"])
def test_model_cuts_touching_digits_of_a_number(model_client, pair, overlap):
    # One blob that the shape alone leaves whole; the model, judging the cuts, reads both digits.
    response = model_client.post("/predict?number=true", content=encode(touching(*pair, overlap=overlap)))
    assert response.status_code == 200, response.json()
    result = response.json()
    assert result["number"] == pair and [digit["digit"] for digit in result["digits"]] == [int(name) for name in pair]


def test_model_reads_touching_digits_whole_with_the_pair_reader(model_client, mnist_path, tmp_path):
    # The generator's 6 run into a 7, which the digit model reads as one 9: the pair reader reads both.
    image = generated("touching_pair", 0, *READ_WHOLE["67717"], mnist_path, tmp_path)
    response = model_client.post("/predict?number=true", content=encode(image.convert("RGB"), "PNG"))
    assert response.status_code == 200, response.json()
    result = response.json()
    assert result["number"] == "67717" and [digit["digit"] for digit in result["digits"]] == [6, 7, 7, 1, 7]


@needs_model
def test_model_answers_concurrent_clients_correctly():
    bodies = {digit: encode(draw_digit(digit)) for digit in (1, 7)}
    wanted = [(1, 7)[index % 2] for index in range(CONCURRENT_CLIENTS)]
    with serving(load_predictor(DEFAULT_TFLITE_PATH)) as server:
        results = all_at_once(lambda index: predict(server, bodies[wanted[index]]))
        assert [(status, result.get("digit")) for status, result in results] == [(200, digit) for digit in wanted]
        assert_still_serving(server)


@needs_model
def test_the_importable_app_loads_the_model_named_in_the_environment(monkeypatch):
    """What each --workers process runs: `app:app`, with the model path handed over in $DIGITS_APP_MODEL."""
    monkeypatch.setenv(app.MODEL_ENV, str(DEFAULT_TFLITE_PATH))
    with TestClient(app.app) as client:
        assert client.get("/health").json()["model"] == DEFAULT_TFLITE_PATH.name
        assert client.post("/predict", content=encode(draw_digit(7))).json()["digit"] == 7


# --- the command line ---------------------------------------------------------------------------------------


def test_defaults_bind_loopback_on_port_8000_with_one_worker():
    args = app.build_parser().parse_args([])
    assert (args.host, args.port, args.model, args.workers) == ("127.0.0.1", 8000, None, 1)


def test_help_shows_defaults(capsys):
    with pytest.raises(SystemExit):
        app.main(["--help"])
    help_text = capsys.readouterr().out
    assert "default: 127.0.0.1" in help_text and "default: 8000" in help_text and "--workers" in help_text


def test_missing_model_is_a_one_line_error_and_exit_2(tmp_path, capsys):
    assert app.main(["--model", str(tmp_path / "missing.tflite"), "--port", "0"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "missing.tflite" in error and error.startswith("app.py: error:")


def test_zero_workers_is_a_one_line_error(capsys):
    assert app.main(["--workers", "0"]) == 2
    assert "--workers" in capsys.readouterr().err


def test_busy_port_is_a_one_line_error_and_exit_2(fake_server, capsys, monkeypatch):
    monkeypatch.setattr(app, "load_predictor", lambda path: FakePredictor())
    assert app.main(["--port", str(fake_server.port)]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and str(fake_server.port) in error


@contextlib.contextmanager
def app_process(*args: str) -> Iterator[tuple[subprocess.Popen, int]]:
    """`python app.py --port 0 --quiet ARGS` in its own process; the process and the port it printed."""
    process = subprocess.Popen(
        [sys.executable, "app.py", "--port", "0", "--quiet", *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        line = process.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert match, f"no URL in {line!r}; stderr: {process.stderr.read() if process.poll() is not None else ''}"
        yield process, int(match.group(1))
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
        process.stderr.close()


def get_when_ready(port: int, path: str, attempts: int = 100) -> tuple[int, bytes]:
    """GET path, retrying while the workers are still starting (the socket accepts before they answer)."""
    for _ in range(attempts):
        try:
            status, _, content = request(Served("127.0.0.1", port), "GET", path)
            return status, content
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"nothing answered GET {path} on port {port}")


@needs_model
def test_python_app_py_prints_the_url_and_serves_until_interrupted():
    with app_process() as (process, port):
        status, result = predict(Served("127.0.0.1", port), encode(draw_digit(7)))
        assert status == 200 and result["digit"] == 7
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0


@needs_model
def test_workers_are_separate_processes_that_each_answer():
    with app_process("--workers", "2") as (process, port):
        assert get_when_ready(port, "/health")[0] == 200
        server = Served("127.0.0.1", port)
        pids = {json.loads(request(server, "GET", "/health")[2])["pid"] for _ in range(40)}
        assert process.pid not in pids  # the parent only supervises
        assert 1 <= len(pids) <= 2
        status, result = predict(server, encode(draw_digit(7)))
        assert status == 200 and result["digit"] == 7
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=20) == 0
