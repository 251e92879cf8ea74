"""End-to-end test of the draw-a-digit page in a real headless Chromium (Debian's package), driven by Playwright.

Skips when Playwright, /usr/bin/chromium or the shipped model is missing. Screenshots go to tests/artifacts/.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image, ImageDraw
from test_app import serving  # the endpoint tests' server fixture helper (tests/ is on sys.path under pytest)

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

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)"),
    pytest.mark.skipif(not DEFAULT_TFLITE_PATH.exists(), reason=f"no shipped model at {DEFAULT_TFLITE_PATH}; run train.py"),
]


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with serving(load_predictor(DEFAULT_TFLITE_PATH)) as server:
        yield server.url.rstrip("/")


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
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


@pytest.fixture
def desktop(browser, base_url) -> Iterator[PageWatch]:
    watch = PageWatch(browser, base_url, DESKTOP)
    yield watch
    watch.close()


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
    watch = PageWatch(browser, base_url, PHONE)
    try:
        page = watch.page
        # Nothing sticks out sideways: the page fits the phone's width without horizontal scrolling.
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        watch.draw(7)
        assert watch.settled_digit() == "7"
        watch.screenshot("app_phone_7.png")
        watch.check_clean()
    finally:
        watch.close()
