"""Serve the draw-a-digit page and a JSON prediction API (POST /predict) with FastAPI on uvicorn.

The page (static/) posts the canvas, an uploaded file or the camera's guide box as an image; every image
goes through the same open_image/preprocess path as evaluate.py, then through the model loaded once at
start-up. POST /predict?number=true reads a number written in a row. GET /health says the model is
loaded; /docs documents the API (offline) and /openapi.json is its schema.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import logging
import os
import socket
import threading
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated

import anyio
import h11
import numpy as np
import uvicorn
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from PIL import Image
from pydantic import BaseModel, Field
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.supervisors import Multiprocess

from cli import HelpFormatter, fail
from data import IMAGE_SIZE
from inference import (
    Answer,
    ModelError,
    Predictor,
    digit_judge,
    interpret,
    interpret_number,
    load_pair_reader,
    load_predictor,
    with_pair_readings,
)
from preprocess import ImageError, NoDigitError, number_text, open_image_bytes, preprocess, segment_number

DEFAULT_HOST = "127.0.0.1"  # loopback only: the page is for the person at this machine
DEFAULT_PORT = 8000
DEFAULT_WORKERS = 1
MAX_UPLOAD_BYTES = 10 * 1024 * 1024  # request bodies above this get 413 before a byte of them is read
KEEP_ALIVE_SECONDS = 30  # the page posts a drawing every 150 ms; an idle connection is closed after this
# A body that has not fully arrived after this long gets 408, so a stalled client cannot hold a connection.
BODY_TIMEOUT_SECONDS = 30.0
# With --workers N each worker process imports this module and loads the model named here itself.
MODEL_ENV = "DIGITS_APP_MODEL"
STATIC_DIR = Path(__file__).resolve().parent / "static"
# The only files ever served: URL path -> (file in STATIC_DIR, content type). Routes are matched exactly,
# so "..", "%2e%2e" and friends can never reach the filesystem.
STATIC_ROUTES = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/index.html": ("index.html", "text/html; charset=utf-8"),
    "/static/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/static/style.css": ("style.css", "text/css; charset=utf-8"),
    "/docs": ("docs.html", "text/html; charset=utf-8"),
    "/static/docs.js": ("docs.js", "text/javascript; charset=utf-8"),
}
# Swagger UI for /docs, from the fastapi-offline package when it is installed (FastAPI's own /docs
# fetches these from a CDN, which does not work offline).
SWAGGER_FILES = {
    "/docs/swagger-ui-bundle.js": ("swagger-ui-bundle.js", "text/javascript; charset=utf-8"),
    "/docs/swagger-ui.css": ("swagger-ui.css", "text/css; charset=utf-8"),
}
PREDICT_PATH = "/predict"
UPLOAD_NAME = "upload"  # how error messages name the posted image
FORM_FIELD = "image"  # the multipart field of `curl -F image=@digit.png`
MAX_FORM_PARTS = 8  # a multipart upload holds one image; anything much larger is not ours
# Images are preprocessed on at most this many threads per process. The work is CPU-bound: more threads
# than cores only interleave requests, so each waits longer (measured: p99 957-2458 ms vs 1783-2820 ms
# with the default 40 threads, 32 clients, one worker, on the busy 2-core machine).
PREDICT_THREADS = os.cpu_count() or 1
# Everything the page needs comes from this server; the browser refuses anything else.
CONTENT_SECURITY_POLICY = "default-src 'self'; img-src 'self' data: blob:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
SECURITY_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"cache-control", b"no-store"),
]
IMAGE_BODY_TYPES = (
    "image/png", "image/jpeg", "image/webp", "image/gif", "image/bmp", "image/tiff", "image/heic", "image/heif", "image/avif",
    "application/octet-stream",
)  # fmt: skip
JSON_400_BODY = json.dumps({"error": "malformed HTTP request"}).encode()

logger = logging.getLogger("uvicorn.error")


# --- The JSON the API answers with ------------------------------------------------------------------------


class Prediction(BaseModel):
    """The model's reading of one digit."""

    digit: int | None = Field(description="0-9, or null when the image is judged not to be a digit", examples=[7])
    not_a_digit: bool = Field(description="true when the model says this is no digit at all (a letter, a symbol)")
    confidence: float = Field(description="probability of `digit`, or of 'not a digit' when digit is null", examples=[0.998])
    low_confidence: bool = Field(description="a digit answer below the confidence the project trusts")
    probabilities: list[float] = Field(description="the ten digits' probabilities, summing to 1", min_length=10, max_length=10)
    not_digit_probability: float = Field(description="the model's probability that this is not a digit (0 for 10-output models)")
    preprocessed: str = Field(description="the 28x28 image the model saw, white on black, as a PNG data: URL")


class NumberPrediction(BaseModel):
    """A number written in a row (POST /predict?number=true)."""

    number: str = Field(description="the digits left to right, a space where the writer left one, ? for 'not a digit'", examples=["2024"])
    confidence: float = Field(description="the least sure digit's confidence")
    digits: list[Prediction]
    not_digit_positions: list[int] = Field(description="indices into `digits` of the pieces that are not digits")


class Health(BaseModel):
    status: str = Field(examples=["ok"])
    model: str = Field(description="the model file's name", examples=["mnist_cnn.tflite"])
    backend: str = Field(examples=["litert"])
    pid: int = Field(description="the worker process that answered")


class ErrorReply(BaseModel):
    error: str = Field(description="one line saying what is wrong")


ERROR_RESPONSES = {
    status: {"model": ErrorReply, "description": description, "content": {"application/json": {"example": {"error": example}}}}
    for status, description, example in [
        (400, "unreadable image, too many pixels, or a malformed request", "upload: not an image file (or a format Pillow cannot read)"),
        (408, f"the body did not arrive within {BODY_TIMEOUT_SECONDS:g} s", f"the body did not arrive within {BODY_TIMEOUT_SECONDS:g} s"),
        (411, "no Content-Length (chunked uploads are refused)", "send the image with a Content-Length header"),
        (413, f"body over {MAX_UPLOAD_BYTES // 2**20} MB; refused before it is read", "image is 12,000,000 bytes; the limit is ..."),
        (422, "a readable image with no digit in it", "no digit found"),
        (500, "the model failed", "prediction failed (RuntimeError: ...)"),
    ]
}
# The body is read by the route itself (to refuse oversized uploads before reading them), so its
# schema is declared here rather than inferred from parameters.
PREDICT_REQUEST_BODY = {
    "required": True,
    "description": f"The image file itself as the body, or a multipart form with the file in the field `{FORM_FIELD}`.",
    "content": {
        **{kind: {"schema": {"type": "string", "format": "binary"}} for kind in IMAGE_BODY_TYPES},
        "multipart/form-data": {
            "schema": {"type": "object", "properties": {FORM_FIELD: {"type": "string", "format": "binary"}}, "required": [FORM_FIELD]}
        },
    },
}


# --- The model --------------------------------------------------------------------------------------------


class SharedModel:
    """The predictor loaded at start-up, shared by every request of this process.

    LiteRT interpreters are not thread-safe and requests run on a thread pool, so calls are serialized;
    preprocessing, the expensive part, runs outside the lock.
    """

    def __init__(self, predictor: Predictor) -> None:
        self.predictor = predictor
        self.lock = threading.Lock()
        # How sure the model is that each piece is one digit: where touching digits of a number are cut.
        self.judge = digit_judge(self.predict)
        # Touching digits read whole (pairs.py's model), where it is there.
        pair_reader = load_pair_reader()
        self.pairs = None if pair_reader is None else self._locked(pair_reader)

    def _locked(self, predict):
        def call(images: np.ndarray) -> np.ndarray:
            with self.lock:
                return predict(images)

        return call

    def predict(self, images: np.ndarray) -> np.ndarray:
        """float32 (N, 28, 28, 1) in [0, 1] -> the model's (N, 10 or 11) probabilities, one request at a time."""
        with self.lock:
            return self.predictor.predict(images)

    def answer(self, images: np.ndarray) -> list[Answer]:
        """float32 (N, 28, 28, 1) in [0, 1] -> one Answer per image."""
        return [interpret(row) for row in self.predict(images)]

    def predict_bytes(self, data: bytes, number: bool) -> Prediction | NumberPrediction:
        """Image file bytes -> the /predict reply; raises ImageError (NoDigitError for a blank image)."""
        image = open_upload(data)
        if not number:
            pixels = preprocess(image)  # float32 (28, 28, 1)
            return prediction(self.answer(pixels[np.newaxis])[0], pixels)
        digits = segment_number(image, judge=self.judge, pairs=self.pairs)  # as evaluate.py --number reads it
        if not digits:
            raise NoDigitError(f"{UPLOAD_NAME}: no digit found")
        rows = self.predict(np.stack([digit.image for digit in digits]))
        answers = interpret_number(with_pair_readings(rows, [digit.probabilities for digit in digits]))
        readings = [prediction(answer, digit.image) for answer, digit in zip(answers, digits, strict=True)]
        return NumberPrediction(
            number=number_text([digit.space_before for digit in digits], [answer.digit for answer in answers]),
            # A number is only as sure as its least sure digit.
            confidence=min(reading.confidence for reading in readings),
            digits=readings,
            not_digit_positions=[index for index, answer in enumerate(answers) if answer.digit is None],
        )


def prediction(answer: Answer, pixels: np.ndarray) -> Prediction:
    return Prediction(
        digit=answer.digit,
        not_a_digit=answer.digit is None,
        confidence=answer.confidence,
        low_confidence=answer.low_confidence,
        probabilities=[float(p) for p in answer.probabilities],
        not_digit_probability=answer.not_digit,
        preprocessed=png_data_url(pixels),
    )


def open_upload(data: bytes) -> Image.Image:
    """Image file bytes -> a decoded, EXIF-rotated PIL image, with every check evaluate.py makes; raises ImageError."""
    return open_image_bytes(data, UPLOAD_NAME)


def png_data_url(image: np.ndarray) -> str:
    """float32 (28, 28, 1) in [0, 1] -> a data: URL of the 8-bit grayscale PNG (white digit on black, as the model sees it)."""
    pixels = np.clip(np.rint(image[..., 0] * 255), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


# --- HTTP -------------------------------------------------------------------------------------------------


def error_response(status: int, message: str, headers: dict[str, str] | None = None, close: bool = False) -> JSONResponse:
    headers = dict(headers or {})
    if close:
        # The body stays unread, so this connection cannot carry another request.
        headers["Connection"] = "close"
    return JSONResponse({"error": message}, status_code=status, headers=headers)


class SecurityHeaders:
    """ASGI middleware: every response, errors included, carries the CSP and no-cache headers."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)


class JsonErrorH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, answering requests it cannot parse (a Content-Length of "ten") in JSON too."""

    def send_400_response(self, msg: str) -> None:
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(JSON_400_BODY)).encode()), (b"connection", b"close")]
        response = h11.Response(status_code=400, headers=[*headers, *SECURITY_HEADERS], reason=b"Bad Request")
        for event in (response, h11.Data(data=JSON_400_BODY), h11.EndOfMessage()):
            self.transport.write(self.conn.send(event))
        self.transport.close()


async def read_upload(request: Request) -> bytes | JSONResponse:
    """The posted image's bytes (raw body or the multipart field), or the 4xx reply that refuses it."""
    if request.headers.get("transfer-encoding") is not None or request.headers.get("content-length") is None:
        # Chunked bodies have no size up front, so the limit could only be enforced mid-read.
        return error_response(411, "send the image with a Content-Length header", close=True)
    length = int(request.headers["content-length"])  # uvicorn already refused one that is not a number
    if length > MAX_UPLOAD_BYTES:
        # Nothing has been read, so uvicorn never sends "100 Continue" and a polite client sends nothing.
        limit = f"{MAX_UPLOAD_BYTES:,} bytes ({MAX_UPLOAD_BYTES // 2**20} MB)"
        return error_response(413, f"image is {length:,} bytes; the limit is {limit}", close=True)
    try:
        body = await asyncio.wait_for(request.body(), BODY_TIMEOUT_SECONDS)
    except TimeoutError:
        return error_response(408, f"the body did not arrive within {BODY_TIMEOUT_SECONDS:g} s", close=True)
    except ClientDisconnect:  # the client is gone: nobody reads this, but the request ends cleanly
        return error_response(400, f"body ended before its {length:,} bytes arrived", close=True)
    if not body:
        return error_response(400, "empty request: send the image file bytes as the body")
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        # Parsed from the body already in memory; Starlette answers a malformed form with a 400.
        form = await request.form(max_files=MAX_FORM_PARTS, max_fields=MAX_FORM_PARTS)
        files = [value for value in form.values() if isinstance(value, UploadFile)]
        chosen = form.get(FORM_FIELD) if isinstance(form.get(FORM_FIELD), UploadFile) else (files[0] if files else None)
        if chosen is None:
            return error_response(400, f"the multipart form has no file; send it as the field {FORM_FIELD!r} (-F {FORM_FIELD}=@digit.png)")
        body = await chosen.read()
        await form.close()
    return body


def create_app(predictor: Predictor | None = None) -> FastAPI:
    """The FastAPI app; ``predictor`` is used as is, otherwise the model is loaded at start-up from $DIGITS_APP_MODEL."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Loaded once per process (each --workers process loads its own copy).
        app.state.threads = anyio.CapacityLimiter(PREDICT_THREADS)
        if predictor is not None:
            app.state.model = SharedModel(predictor)
        else:
            loaded = load_predictor(os.environ.get(MODEL_ENV) or None)
            loaded.predict(np.zeros((1, IMAGE_SIZE, IMAGE_SIZE, 1), np.float32))  # warm up before the first visitor
            app.state.model = SharedModel(loaded)
        yield

    app = FastAPI(
        title="digits",
        summary="Read a handwritten digit, or a number written in a row, from an image.",
        version="1",
        lifespan=lifespan,
        docs_url=None,  # FastAPI's /docs loads Swagger UI from a CDN; ours serves it from here
        redoc_url=None,
        redirect_slashes=False,  # "/docs/" is not found, rather than redirected to a page it is not
    )
    app.add_middleware(SecurityHeaders)
    # Read once at start: the page is answered from memory and never touches the filesystem per request.
    static = {route: ((STATIC_DIR / name).read_bytes(), kind) for route, (name, kind) in STATIC_ROUTES.items()}
    static.update(swagger_files())

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> JSONResponse:
        message = f"not found: {request.url.path}" if error.status_code == 404 else str(error.detail)
        if error.status_code == 405:
            message = f"use POST {PREDICT_PATH} with the image bytes" if request.url.path == PREDICT_PATH else "method not allowed"
        return error_response(error.status_code, message, headers=error.headers)

    @app.exception_handler(RequestValidationError)
    async def bad_parameter(request: Request, error: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(str(part) for part in problem['loc'])}: {problem['msg']}" for problem in error.errors())
        return error_response(400, problems)

    @app.post(
        PREDICT_PATH,
        response_model=Prediction | NumberPrediction,
        responses=ERROR_RESPONSES,
        openapi_extra={"requestBody": PREDICT_REQUEST_BODY},
        summary="Read the digit (or, with number=true, the number) in an image",
    )
    async def predict(
        request: Request,
        number: Annotated[bool, Query(description="the image holds a number written in a row: read every digit")] = False,
    ) -> Prediction | NumberPrediction | JSONResponse:
        body = await read_upload(request)
        if isinstance(body, JSONResponse):
            return body
        model: SharedModel = request.app.state.model
        try:
            return await anyio.to_thread.run_sync(model.predict_bytes, body, number, limiter=request.app.state.threads)
        except NoDigitError as error:
            # A well-formed image with nothing drawn: the request is understood but there is nothing to predict.
            return error_response(422, str(error))
        except ImageError as error:
            return error_response(400, str(error))
        except Exception as error:  # a bug or a model failure: say so in JSON and keep serving
            logger.exception("prediction failed")
            return error_response(500, f"prediction failed ({type(error).__name__}: {error})")

    @app.get("/health", response_model=Health, summary="The model is loaded and this process answers")
    async def health(request: Request) -> Health:
        model: SharedModel = request.app.state.model
        return Health(status="ok", model=Path(model.predictor.path).name, backend=model.predictor.backend, pid=os.getpid())

    def serve_static(request: Request) -> Response:
        content, kind = static[request.url.path]
        return Response(content if request.method != "HEAD" else b"", media_type=kind, headers={"Content-Length": str(len(content))})

    for route in static:
        app.add_api_route(route, serve_static, methods=["GET", "HEAD"], include_in_schema=False)
    return app


def swagger_files() -> dict[str, tuple[bytes, str]]:
    """Swagger UI's script and style sheet from the fastapi-offline package, or a stand-in that says to install it."""
    try:
        import fastapi_offline
    except ImportError:
        missing = b"/* Swagger UI is not installed here: pip install fastapi-offline. The schema is at /openapi.json. */\n"
        note = b'document.getElementById("swagger-ui").textContent = "pip install fastapi-offline for these docs; see /openapi.json.";'
        return {route: (note if name.endswith(".js") else missing, kind) for route, (name, kind) in SWAGGER_FILES.items()}
    folder = Path(fastapi_offline.__file__).parent / "static"
    return {route: ((folder / name).read_bytes(), kind) for route, (name, kind) in SWAGGER_FILES.items()}


# The app for `uvicorn app:app` and for --workers, which imports it by name in each worker process.
app = create_app()


# --- The command line ---------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    parser.add_argument("--host", default=DEFAULT_HOST, help="address to listen on; 0.0.0.0 makes the page reachable from other machines")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port to listen on (0 picks a free one)")
    parser.add_argument(
        "--model", type=Path, help="model file, .tflite or .keras (default: models/mnist_cnn.tflite, else models/mnist_cnn.keras)"
    )
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS, help="processes, each with its own model (one per core at most)")
    parser.add_argument("--quiet", action="store_true", help="don't log each request to stderr")
    return parser


def _error(message: str) -> int:
    return fail("app.py", message)


def listen(host: str, port: int) -> socket.socket:
    """A listening socket on host:port (port 0: a free one); OSError when the address is taken or invalid."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named explicitly: asyncio turns off Nagle's algorithm (TCP_NODELAY) only on sockets that
    # say so, and uvicorn writes a response's head and body separately; with Nagle on, each answer waited
    # ~40 ms for the client's delayed ACK of the head.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
        sock.set_inheritable(True)  # worker processes accept on it
    except OSError:
        sock.close()
        raise
    return sock


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.workers < 1:
        return _error(f"--workers must be at least 1, not {args.workers}")
    try:
        predictor = load_predictor(args.model)
        # One prediction before serving: a broken model fails here, and the first visitor doesn't wait for warm-up.
        predictor.predict(np.zeros((1, IMAGE_SIZE, IMAGE_SIZE, 1), np.float32))
    except ModelError as error:
        return _error(str(error))
    try:
        sock = listen(args.host, args.port)
    except OSError as error:
        return _error(f"cannot listen on {args.host}:{args.port} ({error.strerror or error}); try another --port")
    host, port = sock.getsockname()[:2]
    url = f"http://{f'[{host}]' if ':' in host else host}:{port}/"
    workers = f", {args.workers} workers" if args.workers > 1 else ""
    print(f"Serving the digit page at {url} (model {predictor.path}, {predictor.backend}{workers}); Ctrl+C to stop", flush=True)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"Note: listening on {args.host}, so other machines on the network can reach this page", flush=True)
    settings = dict(
        http=JsonErrorH11Protocol,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        access_log=not args.quiet,
        log_level="warning" if args.quiet else "info",
        server_header=False,
    )
    try:
        if args.workers == 1:
            config = uvicorn.Config(create_app(predictor), **settings)
            uvicorn.Server(config).run(sockets=[sock])
        else:
            # Each worker is a fresh process that imports this module and loads the model itself.
            os.environ[MODEL_ENV] = str(Path(predictor.path).resolve())
            config = uvicorn.Config("app:app", workers=args.workers, **settings)
            Multiprocess(config, sockets=[sock]).run()
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
