"""Serve a local draw-a-digit page and a JSON prediction endpoint (POST /predict) on the stdlib HTTP server.

The page (static/) posts the canvas as a PNG; uploaded files are posted as they are. Both go through
the same open_image/preprocess path as evaluate.py, then through the model loaded once at start.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import sys
import threading
import traceback
from collections.abc import Sequence
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
from PIL import Image

from cli import HelpFormatter
from data import IMAGE_SIZE
from inference import ModelError, Predictor, load_predictor
from preprocess import ImageError, NoDigitError, open_image_bytes, preprocess

DEFAULT_HOST = "127.0.0.1"  # loopback only: the page is for the person at this machine
DEFAULT_PORT = 8000
MAX_UPLOAD_BYTES = 10 * 1024 * 1024  # request bodies above this get 413 before a byte of them is read
REQUEST_TIMEOUT_SECONDS = 30  # a connection idle this long is closed, so a stalled client can't hold a thread
STATIC_DIR = Path(__file__).resolve().parent / "static"
# The only files ever served: URL path -> (file in STATIC_DIR, content type). Paths are matched exactly,
# before any decoding, so "..", "%2e%2e" and friends can never reach the filesystem.
STATIC_ROUTES = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/index.html": ("index.html", "text/html; charset=utf-8"),
    "/static/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/static/style.css": ("style.css", "text/css; charset=utf-8"),
}
PREDICT_PATH = "/predict"
UPLOAD_NAME = "upload"  # how error messages name the posted image
# Everything the page needs comes from this server; the browser refuses anything else.
CONTENT_SECURITY_POLICY = "default-src 'self'; img-src 'self' data: blob:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"


class DigitServer(ThreadingHTTPServer):
    """A threaded HTTP server holding the static files, the model and the lock that serializes it."""

    request_queue_size = 64  # listen backlog: the stdlib default of 5 resets bursts of simultaneous clients
    daemon_threads = True  # open keep-alive connections must not keep the process alive after shutdown

    def __init__(self, address: tuple[str, int], predictor: Predictor, log_requests: bool = True) -> None:
        # Read once at start: requests are answered from memory and never touch the filesystem.
        self.static_files = {route: ((STATIC_DIR / name).read_bytes(), kind) for route, (name, kind) in STATIC_ROUTES.items()}
        self.predictor = predictor
        self.predict_lock = threading.Lock()  # LiteRT interpreters are not thread-safe
        self.log_requests = log_requests
        super().__init__(address, DigitRequestHandler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{f'[{host}]' if ':' in host else host}:{port}/"

    def predict_bytes(self, data: bytes) -> dict:
        """Image file bytes -> the /predict JSON body; raises ImageError (NoDigitError for a blank image)."""
        image = preprocess(open_upload(data))  # float32 (28, 28, 1) in [0, 1]
        with self.predict_lock:
            probabilities = self.predictor.predict(image[np.newaxis])[0]
        digit = int(np.argmax(probabilities))
        return {
            "digit": digit,
            "confidence": float(probabilities[digit]),
            "probabilities": [float(p) for p in probabilities],
            "preprocessed": png_data_url(image),
        }


class DigitRequestHandler(BaseHTTPRequestHandler):
    server: DigitServer
    server_version = "digits"
    protocol_version = "HTTP/1.1"  # keep-alive: the page posts many small requests while you draw
    timeout = REQUEST_TIMEOUT_SECONDS
    # Headers and body go out in two writes; with Nagle's algorithm the body would wait ~40 ms for the
    # client's delayed ACK of the headers, on every response.
    disable_nagle_algorithm = True

    def handle_expect_100(self) -> bool:
        # Clients such as curl ask before sending a large body: refuse an oversized one before it is sent.
        declared = self.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > MAX_UPLOAD_BYTES:
            self._refuse_too_large(int(declared))
            return False
        return super().handle_expect_100()

    def do_GET(self) -> None:
        self._serve_static(include_body=True)

    def do_HEAD(self) -> None:
        self._serve_static(include_body=False)

    def do_POST(self) -> None:
        if urlsplit(self.path).path != PREDICT_PATH:
            self._send_json(HTTPStatus.NOT_FOUND, {"error": f"no such endpoint: POST {self.path}"}, close=True)
            return
        body = self._read_body()
        if body is None:
            return
        try:
            result = self.server.predict_bytes(body)
        except NoDigitError as error:
            # A well-formed image with nothing drawn: the request is understood but there is nothing to predict.
            self._send_json(HTTPStatus.UNPROCESSABLE_ENTITY, {"error": str(error)})
        except ImageError as error:
            self._send_json(HTTPStatus.BAD_REQUEST, {"error": str(error)})
        except Exception as error:  # a bug or a model failure: say so in JSON and keep serving
            self.log_error("prediction failed: %s", traceback.format_exc())
            self._send_json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"prediction failed ({type(error).__name__}: {error})"})
        else:
            self._send_json(HTTPStatus.OK, result)

    def _serve_static(self, include_body: bool) -> None:
        path = urlsplit(self.path).path
        if path == PREDICT_PATH:
            message = f"use POST {PREDICT_PATH} with the image bytes"
            self._send_json(HTTPStatus.METHOD_NOT_ALLOWED, {"error": message}, include_body=include_body, allow="POST")
            return
        if path not in self.server.static_files:
            self._send_json(HTTPStatus.NOT_FOUND, {"error": f"not found: {path}"}, include_body=include_body)
            return
        content, content_type = self.server.static_files[path]
        self._send(HTTPStatus.OK, content, content_type, include_body=include_body)

    def _read_body(self) -> bytes | None:
        """The request body, or None after answering with a 4xx when it is missing, malformed or too large."""
        if self.headers.get("Transfer-Encoding") is not None:
            # Chunked bodies have no size up front, so the limit could only be enforced mid-read.
            self._send_json(HTTPStatus.LENGTH_REQUIRED, {"error": "send the image with a Content-Length header"}, close=True)
            return None
        declared = self.headers.get("Content-Length")
        if declared is None:
            self._send_json(HTTPStatus.LENGTH_REQUIRED, {"error": "send the image with a Content-Length header"}, close=True)
            return None
        if not declared.isdigit():
            self._send_json(HTTPStatus.BAD_REQUEST, {"error": f"bad Content-Length: {declared!r}"}, close=True)
            return None
        length = int(declared)
        if length == 0:
            self._send_json(HTTPStatus.BAD_REQUEST, {"error": "empty request: send the image file bytes as the body"})
            return None
        if length > MAX_UPLOAD_BYTES:
            self._refuse_too_large(length)
            return None
        body = self.rfile.read(length)
        if len(body) != length:
            self._send_json(HTTPStatus.BAD_REQUEST, {"error": f"body ended after {len(body)} of {length} bytes"}, close=True)
            return None
        return body

    def _refuse_too_large(self, length: int) -> None:
        # The body stays unread, so this connection cannot carry another request: close it.
        message = f"image is {length:,} bytes; the limit is {MAX_UPLOAD_BYTES:,} bytes ({MAX_UPLOAD_BYTES // 2**20} MB)"
        self._send_json(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": message}, close=True)

    def _send_json(self, status: HTTPStatus, payload: dict, include_body: bool = True, close: bool = False, allow: str = "") -> None:
        content = json.dumps(payload).encode()
        self._send(status, content, "application/json", include_body=include_body, close=close, allow=allow)

    def _send(
        self, status: HTTPStatus, content: bytes, content_type: str, include_body: bool = True, close: bool = False, allow: str = ""
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(content)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        if allow:
            self.send_header("Allow", allow)
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if include_body:
            self.wfile.write(content)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # --quiet silences the access log only; errors (log_error) still reach stderr.
        if self.server.log_requests:
            super().log_request(code, size)


def open_upload(data: bytes) -> Image.Image:
    """Image file bytes -> a decoded, EXIF-rotated PIL image, with every check evaluate.py makes; raises ImageError."""
    return open_image_bytes(data, UPLOAD_NAME)


def png_data_url(image: np.ndarray) -> str:
    """float32 (28, 28, 1) in [0, 1] -> a data: URL of the 8-bit grayscale PNG (white digit on black, as the model sees it)."""
    pixels = np.clip(np.rint(image[..., 0] * 255), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    parser.add_argument("--host", default=DEFAULT_HOST, help="address to listen on; 0.0.0.0 makes the page reachable from other machines")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port to listen on (0 picks a free one)")
    parser.add_argument(
        "--model", type=Path, help="model file, .tflite or .keras (default: models/mnist_cnn.tflite, else models/mnist_cnn.keras)"
    )
    parser.add_argument("--quiet", action="store_true", help="don't log each request to stderr")
    return parser


def _error(message: str) -> int:
    print(f"app.py: error: {message}", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        predictor = load_predictor(args.model)
        # One prediction before serving: a broken model fails here, and the first visitor doesn't wait for warm-up.
        predictor.predict(np.zeros((1, IMAGE_SIZE, IMAGE_SIZE, 1), np.float32))
    except ModelError as error:
        return _error(str(error))
    try:
        server = DigitServer((args.host, args.port), predictor, log_requests=not args.quiet)
    except OSError as error:
        return _error(f"cannot listen on {args.host}:{args.port} ({error.strerror or error}); try another --port")
    print(f"Serving the digit page at {server.url} (model {predictor.path}, {predictor.backend}); Ctrl+C to stop", flush=True)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"Note: listening on {args.host}, so other machines on the network can reach this page", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
