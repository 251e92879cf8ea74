"""End-to-end test of the draw-a-digit page in a real headless Chromium (Debian's package), driven by Playwright:
drawing, uploading, and the camera mode on Chromium's fake camera fed from a video of a written digit.

Skips when Playwright, /usr/bin/chromium or the shipped model is missing. Screenshots go to tests/artifacts/.
"""

from __future__ import annotations

import contextlib
import io
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw
from test_app import FakePredictor, serving  # the endpoint tests' helpers (tests/ is on sys.path under pytest)

from inference import DEFAULT_TFLITE_PATH, load_predictor

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install playwright)")

CHROMIUM = Path("/usr/bin/chromium")
# No sandbox (tests may run as root in a container), no GPU, and no calls home: the test runs offline.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
TIMEOUT_MS = 15_000
DESKTOP = {"width": 1000, "height": 760}
PHONE = {"width": 390, "height": 844}
# Strokes as polylines in fractions of the canvas side, drawn the way a person would with the mouse.
STROKES = {
    1: [[(0.55, 0.15), (0.5, 0.85)]],
    7: [[(0.25, 0.2), (0.75, 0.2), (0.45, 0.85)]],
}

# The fake camera's picture: a 4 written on grey paper in the middle (inside the page's guide box, the
# central half of the shorter side), and a 1 near the left edge that the box must leave out.
CAMERA_WIDTH, CAMERA_HEIGHT = 640, 480
CAMERA_FRAMES = 4  # Chromium loops the file; the frames differ only in their paper noise
CAMERA_DIGIT = 4
CAMERA_STROKES = [
    [(350, 150), (270, 275), (390, 275)],  # the open 4's slanted stroke and bar
    [(360, 190), (360, 335)],  # its upright
    [(60, 160), (62, 330)],  # the 1 outside the guide box
]
ANSWERS_WAIT_SECONDS = 3.0

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)"),
    pytest.mark.skipif(not DEFAULT_TFLITE_PATH.exists(), reason=f"no shipped model at {DEFAULT_TFLITE_PATH}; run train.py"),
]


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with serving(load_predictor(DEFAULT_TFLITE_PATH)) as server:
        yield server.url.rstrip("/")


@pytest.fixture(scope="module")
def playwright():
    # One Playwright per module: a second sync_playwright() cannot start while the first runs.
    with sync_api.sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="module")
def browser(playwright):
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    try:
        yield browser
    finally:
        browser.close()


class PageWatch:
    """A fresh page on the app that records console errors and every URL the page requests."""

    def __init__(self, browser, base_url: str, viewport: dict) -> None:
        self.base_url = base_url
        self.context = browser.new_context(viewport=viewport)
        self.page = self.context.new_page()
        self.page.set_default_timeout(TIMEOUT_MS)
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", lambda message: self.errors.append(message.text) if message.type == "error" else None)
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on("request", lambda request: self.requests.append(request.url))
        self.page.goto(base_url + "/")

    def draw(self, digit: int) -> None:
        box = self.page.locator("#canvas").bounding_box()
        mouse = self.page.mouse
        for stroke in STROKES[digit]:
            points = [(box["x"] + x * box["width"], box["y"] + y * box["height"]) for x, y in stroke]
            mouse.move(*points[0])
            mouse.down()
            for point in points[1:]:
                mouse.move(*point, steps=12)
            mouse.up()

    def settled_digit(self) -> str:
        """The digit shown once every prediction the page asked for has been answered."""
        self.page.wait_for_selector('body[data-busy="false"]', state="attached")
        return self.page.locator("#digit").inner_text()

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / name
        self.page.screenshot(path=str(path), full_page=True)
        print(f"screenshot: {path}")
        return path

    def check_clean(self) -> None:
        assert self.errors == [], self.errors
        foreign = [url for url in self.requests if not (url.startswith(self.base_url + "/") or url.startswith("data:"))]
        assert foreign == [], f"the page requested files from elsewhere: {foreign}"

    def close(self) -> None:
        self.context.close()


@contextlib.contextmanager
def watching(browser, base_url: str, viewport: dict = DESKTOP) -> Iterator[PageWatch]:
    watch = PageWatch(browser, base_url, viewport)
    try:
        yield watch
    finally:
        watch.close()


@pytest.fixture
def desktop(browser, base_url) -> Iterator[PageWatch]:
    with watching(browser, base_url) as watch:
        yield watch


def test_drawing_a_1_and_a_7_shows_them(desktop):
    page = desktop.page
    assert desktop.settled_digit() == "?"
    desktop.draw(1)
    assert desktop.settled_digit() == "1"
    assert page.locator("#preprocessed").get_attribute("src").startswith("data:image/png;base64,")
    assert page.locator("#bars li.top .label").inner_text() == "1"
    assert "% sure" in page.locator("#confidence").inner_text()

    page.click("#clear")
    assert desktop.settled_digit() == "?"
    assert page.locator("#clear").is_disabled() and page.locator("#undo").is_disabled()

    desktop.draw(7)
    assert desktop.settled_digit() == "7"
    assert page.locator("#bars li.top .label").inner_text() == "7"
    desktop.screenshot("app_desktop_7.png")
    desktop.check_clean()


def test_undo_removes_the_last_stroke(desktop):
    page = desktop.page
    desktop.draw(1)
    assert desktop.settled_digit() == "1"
    # A bar across the top turns the 1 into a 7-ish shape; undoing it must bring the 1 back.
    box = page.locator("#canvas").bounding_box()
    page.mouse.move(box["x"] + 0.2 * box["width"], box["y"] + 0.15 * box["height"])
    page.mouse.down()
    page.mouse.move(box["x"] + 0.8 * box["width"], box["y"] + 0.15 * box["height"], steps=10)
    page.mouse.up()
    desktop.settled_digit()
    page.click("#undo")
    assert desktop.settled_digit() == "1"
    page.click("#undo")
    assert desktop.settled_digit() == "?"
    desktop.check_clean()


def test_uploaded_image_goes_through_the_same_endpoint(desktop):
    page = desktop.page
    image = Image.new("L", (200, 200), "white")
    ImageDraw.Draw(image).line([(40, 40), (160, 40), (90, 170)], fill="black", width=14, joint="curve")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    page.set_input_files("#upload", files=[{"name": "seven.png", "mimeType": "image/png", "buffer": buffer.getvalue()}])
    assert desktop.settled_digit() == "7"

    page.set_input_files("#upload", files=[{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"not an image"}])
    assert desktop.settled_digit() == "?"
    assert "not an image" in page.locator("#status").inner_text()
    desktop.screenshot("app_upload_error.png")
    # The 400 for the text file shows up as a console error in Chromium; that one is expected.
    desktop.errors = [error for error in desktop.errors if "400" not in error]
    desktop.check_clean()


def test_phone_sized_screen(browser, base_url):
    with watching(browser, base_url, PHONE) as watch:
        # Nothing sticks out sideways: the page fits the phone's width without horizontal scrolling.
        assert watch.page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        watch.draw(7)
        assert watch.settled_digit() == "7"
        watch.screenshot("app_phone_7.png")
        watch.check_clean()


# --- camera mode --------------------------------------------------------------------------------------------


def write_y4m(path: Path) -> Path:
    """A short 4:2:0 Y4M video (the format Chromium's fake camera reads) of CAMERA_STROKES on noisy grey paper."""
    rng = np.random.default_rng(0)
    paper = Image.new("L", (CAMERA_WIDTH, CAMERA_HEIGHT), 190)
    pen = ImageDraw.Draw(paper)
    for stroke in CAMERA_STROKES:
        pen.line(stroke, fill=45, width=16, joint="curve")
    # Lighting that falls off towards one corner, as under a desk lamp.
    gradient = np.linspace(0, -30, CAMERA_WIDTH)[np.newaxis, :] + np.linspace(0, -20, CAMERA_HEIGHT)[:, np.newaxis]
    base = np.asarray(paper, np.float64) + gradient
    chroma = np.full((CAMERA_HEIGHT // 2) * (CAMERA_WIDTH // 2), 128, np.uint8).tobytes()  # grey: no colour
    with path.open("wb") as video:
        video.write(f"YUV4MPEG2 W{CAMERA_WIDTH} H{CAMERA_HEIGHT} F10:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(CAMERA_FRAMES):
            luma = np.clip(base + rng.normal(0, 4, base.shape), 0, 255).astype(np.uint8)
            video.write(b"FRAME\n" + luma.tobytes() + chroma + chroma)
    return path


@pytest.fixture(scope="module")
def camera_browser(playwright, tmp_path_factory):
    """Chromium whose camera is the Y4M video above; camera permission is granted without asking."""
    video = write_y4m(tmp_path_factory.mktemp("camera") / "digit.y4m")
    args = CHROMIUM_ARGS + [
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-video-capture={video}",
    ]
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=args)
    try:
        yield browser
    finally:
        browser.close()


def wait_until(page, expression: str, timeout: float = TIMEOUT_MS / 1000) -> None:
    """Poll a JavaScript expression until it is true. (page.wait_for_function compiles its predicate with
    eval once it has to poll, which the page's Content-Security-Policy rightly forbids.)"""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout:g} s: {expression}")
        time.sleep(0.05)


def camera_answers(page) -> int:
    return int(page.evaluate("document.body.dataset.cameraAnswers || '0'"))


def toggle_camera(page, expected_state: str) -> None:
    page.click("#camera-toggle")
    page.wait_for_selector(f'body[data-camera="{expected_state}"]', state="attached")


def test_camera_reads_the_digit_in_the_guide_box_and_freezes(camera_browser, base_url):
    with watching(camera_browser, base_url) as watch:
        page = watch.page
        toggle_camera(page, "live")
        assert page.locator("#video").is_visible() and not page.locator("#canvas").is_visible()
        wait_until(page, f"document.querySelector('#digit').dataset.digit === '{CAMERA_DIGIT}'")
        assert page.locator("#preprocessed").get_attribute("src").startswith("data:image/png;base64,")
        assert page.locator("#bars li.top .label").inner_text() == str(CAMERA_DIGIT)

        # A few predictions a second while live (at most one in flight, so a slow server sets the pace).
        before = camera_answers(page)
        time.sleep(ANSWERS_WAIT_SECONDS)
        live_rate = (camera_answers(page) - before) / ANSWERS_WAIT_SECONDS
        assert live_rate >= 1, f"only {live_rate:.1f} predictions a second"
        assert page.locator("#digit").inner_text() == str(CAMERA_DIGIT)

        # Freeze: the picture stops and no more predictions are asked for; the answer stays on screen.
        page.click("#freeze")
        page.wait_for_selector('body[data-camera="frozen"]', state="attached")
        page.wait_for_selector('body[data-busy="false"]', state="attached")
        frozen_at = camera_answers(page)
        time.sleep(1.0)
        assert camera_answers(page) == frozen_at
        assert page.evaluate("document.querySelector('#video').paused")
        assert page.locator("#freeze").inner_text() == "Resume"
        assert page.locator("#digit").inner_text() == str(CAMERA_DIGIT)
        watch.screenshot("app_camera_frozen.png")

        page.click("#freeze")
        page.wait_for_selector('body[data-camera="live"]', state="attached")
        wait_until(page, f"Number(document.body.dataset.cameraAnswers) > {frozen_at}")

        # Stopping the camera brings the (empty) canvas back.
        toggle_camera(page, "off")
        assert page.locator("#canvas").is_visible() and not page.locator("#video").is_visible()
        assert watch.settled_digit() == "?"
        watch.check_clean()


def test_camera_without_a_camera_says_so(browser, base_url):
    """The plain browser has no fake camera and headless Chromium has no real one: a message, not a crash."""
    with watching(browser, base_url) as watch:
        toggle_camera(watch.page, "off")
        wait_until(watch.page, "document.querySelector('#status').textContent.includes('camera')")
        assert watch.page.locator("#canvas").is_visible()
        watch.check_clean()


def test_not_a_digit_answer_is_shown_as_such(browser):
    with serving(FakePredictor(not_digit_images=(0,))) as server, watching(browser, server.url.rstrip("/")) as watch:
        watch.draw(7)
        watch.settled_digit()
        assert watch.page.locator("#digit").get_attribute("data-digit") == "none"
        assert "Not a digit" in watch.page.locator("#confidence").inner_text()
        assert watch.page.locator("#bars li.top").count() == 0
        watch.check_clean()


def test_api_docs_render_offline(browser, base_url):
    """Swagger UI at /docs, from this server's own files, under the page's Content-Security-Policy."""
    pytest.importorskip("fastapi_offline", reason="fastapi-offline (Swagger UI's files) is not installed")
    with watching(browser, base_url) as watch:
        page = watch.page
        page.goto(base_url + "/docs")
        page.wait_for_selector("#operations-default-predict_predict_post")
        assert page.locator(".opblock-summary-path", has_text="/health").count() == 1
        page.click("#operations-default-predict_predict_post .opblock-summary")
        page.wait_for_selector("text=multipart/form-data", state="attached")
        watch.screenshot("app_docs.png")
        watch.check_clean()
