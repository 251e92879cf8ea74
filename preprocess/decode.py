"""Decode: a file or upload -> an EXIF-rotated PIL image (Pillow: every format, mode and bad-file check),
then -> float arrays at the working resolution."""

from __future__ import annotations

import functools
import io
import os
import warnings

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .common import MIN_SIDE, ImageError, too_small

MAX_PIXELS = 50_000_000  # refuse larger declared sizes before decoding (a 50 MP photo is ~8700x5800)
# Photos are shrunk to this longest side first: enough for a digit, fast to process. Large JPEGs are
# decoded straight at a reduced scale (DCT scaling, 1/2 to 1/8) no smaller than this.
WORK_MAX_SIDE = 400
# A two-tone (1-bit) image with at least this fraction of isolated dots is dithered; it is blurred by
# this radius in its own pixels, looked at in a central crop of this side.
DITHER_DOTS = 0.005
DITHER_BLUR = 1.5
DITHER_SAMPLE_SIDE = 512
IMAGE_EXTENSIONS = (
    ".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm", ".heic", ".heif", ".avif",
)  # fmt: skip
# Phones save photos as HEIC (iPhones by default). Pillow reads them through pillow-heif's plugin, which is imported
# only when Pillow cannot tell a file and its header says HEIF (its ISO box "ftyp" and one of these brands), so
# other images start and open no slower.
# AVIF, the same container with another codec, Pillow reads itself (Pillow 11.3 and later).
HEIF_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"})

# Pillow warns on images between its own limit and twice that; MAX_PIXELS, lower, already refuses them
# with a clear error, so the warning would only be noise. (A module-level filter, unlike
# warnings.catch_warnings, is safe with the web app's threads.)
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)


def is_image_path(path: str | os.PathLike) -> bool:
    """True if the file name has an image extension we read (used to list folders)."""
    return os.fspath(path).lower().endswith(IMAGE_EXTENSIONS)


def open_image(path: str | os.PathLike) -> Image.Image:
    """Open and fully decode an image file, EXIF-rotated; raise ImageError with a one-line reason.

    Animated images give their first frame. JPEGs are decoded in grey, and large ones at a reduced scale
    (no smaller than WORK_MAX_SIDE), which preprocessing would do anyway.
    """
    name = os.fspath(path)
    if not os.path.exists(name):
        raise ImageError(f"{name}: no such file")
    if os.path.isdir(name):
        raise ImageError(f"{name}: is a folder, not an image")
    if os.path.getsize(name) == 0:
        raise ImageError(f"{name}: empty file")
    return _decode(name, name)


def open_image_bytes(content: bytes, name: str = "upload") -> Image.Image:
    """open_image for an image file's bytes (an upload); ``name`` is how error messages call it."""
    if not content:
        raise ImageError(f"{name}: empty file")
    return _decode(io.BytesIO(content), name)


@functools.cache
def _heif_plugin() -> bool:
    """Register pillow-heif's HEIC/HEIF opener with Pillow, once; False where pillow-heif is not installed."""
    try:
        import pillow_heif
    except ImportError:
        return False
    pillow_heif.register_heif_opener()
    return True


def _is_heif(source: str | io.BytesIO) -> bool:
    if isinstance(source, io.BytesIO):
        header = source.getvalue()[:12]
    else:
        with open(source, "rb") as file:
            header = file.read(12)
    return header[4:8] == b"ftyp" and header[8:12] in HEIF_BRANDS


def _open(source: str | io.BytesIO, name: str) -> Image.Image:
    """Image.open, with pillow-heif's plugin registered the first time a HEIC/HEIF file comes."""
    try:
        return Image.open(source)
    except UnidentifiedImageError:
        if not _is_heif(source):
            raise
        if not _heif_plugin():
            reason = "a HEIC/HEIF photo, and pillow-heif, which reads them, is not installed (pip install pillow-heif)"
            raise ImageError(f"{name}: {reason}") from None
        if isinstance(source, io.BytesIO):
            source.seek(0)
        return Image.open(source)


def _decode(source: str | io.BytesIO, name: str) -> Image.Image:
    try:
        with _open(source, name) as image:
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise ImageError(f"{name}: {width}x{height} pixels is too large (limit {MAX_PIXELS:,}); possible decompression bomb")
            if image.format == "JPEG" and image.mode in ("RGB", "YCbCr", "L"):
                # Decoding a 12 MP photo in full costs more than everything after it put together:
                # JPEGs are decoded in grey (all that preprocessing uses) and, when large, at a
                # reduced scale (DCT scaling).
                target = min(WORK_MAX_SIDE, width, height) if max(width, height) >= 2 * WORK_MAX_SIDE else max(width, height)
                image.draft("L", (target, target))
            image.seek(0)  # first frame of an animation
            image.load()
            # load() read every pixel, so the image stays usable once the file is closed. Turned in
            # place: exif_transpose would otherwise return a full copy of every upright image.
            ImageOps.exif_transpose(image, in_place=True)
    except ImageError:
        raise
    except UnidentifiedImageError:
        raise ImageError(f"{name}: not an image file (or a format Pillow cannot read)") from None
    except Image.DecompressionBombError:
        raise ImageError(f"{name}: declared size is too large; possible decompression bomb") from None
    except (OSError, SyntaxError, ValueError, EOFError) as error:  # Pillow's ways of saying "broken file"
        reason = str(error) or type(error).__name__
        if "truncated" in reason or isinstance(error, EOFError):
            reason = f"truncated or corrupt image data ({reason})"
        raise ImageError(f"{name}: cannot decode image: {reason}") from None
    if min(image.size) < MIN_SIDE:
        raise too_small(image.width, image.height, name)
    return image


def to_arrays(image: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    """Gray float32 (H, W) in [0, 1] and alpha float32 (H, W) in [0, 1] (None when opaque), for any mode."""
    gray, alpha = raw_arrays(image)
    return unit(gray), None if alpha is None else unit(alpha)


def unit(values: np.ndarray) -> np.ndarray:
    """Float32 in [0, 1] from raw_arrays' uint8 (0-255) or float32 (already in [0, 1]) values."""
    if values.dtype == np.uint8:
        return np.multiply(values, np.float32(1 / 255), dtype=np.float32)  # one pass, the same floats as a cast then a multiply
    return values


def raw_arrays(image: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    """Gray and alpha (None when opaque) as (H, W) arrays: uint8 for 8-bit images, which are cheapest to
    shrink as they are, float32 in [0, 1] for 16-bit and float ones. ``unit`` makes either float."""
    mode = image.mode
    if mode == "P" or mode == "PA":
        image = image.convert("RGBA" if ("transparency" in image.info or mode == "PA") else "RGB")
        mode = image.mode
    if mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        values = np.asarray(image, dtype=np.float64)
        # 16-bit and float images have no fixed white level; scale by the type's range when the
        # values fit it, otherwise by the image's own maximum.
        top = float(values.max()) if values.size else 1.0
        if mode == "F" and top <= 1.0:
            scale = 1.0
        elif top <= 255:
            scale = 255.0
        elif top <= 65535:
            scale = 65535.0
        else:
            scale = top
        low = min(float(values.min()), 0.0)
        return np.clip((values - low) / (scale - low), 0, 1).astype(np.float32), None
    alpha = None
    if mode in ("RGBA", "LA", "RGBa", "La"):
        alpha = np.asarray(image.getchannel("A"))
        if alpha.min() == 255:
            alpha = None
    if mode == "CMYK":
        # Pillow's CMYK -> RGB ignores ICC profiles but keeps dark ink dark, which is all we need.
        image = image.convert("RGB")
    # convert() copies an image that is already grey (every JPEG here: they are decoded in grey).
    return np.asarray(image if image.mode == "L" else image.convert("L")), alpha


def shrink(values: np.ndarray, side: int = WORK_MAX_SIDE, keep_bright: bool | None = None) -> np.ndarray:
    """Downscale a uint8 or float32 (H, W) array so its longest side is at most ``side``, by area averaging.

    With ``keep_bright`` True (False), strokes brighter (darker) than their surround keep their full
    contrast however thin: a 1-pixel pen line in a large canvas would otherwise fade into the paper.
    """
    height, width = values.shape
    longest = max(height, width)
    if longest <= side:
        return values
    scale = side / longest
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    pool = int(1 / scale)
    if keep_bright is not None and pool >= 2:
        # Each pixel first takes the extreme of its neighbourhood about one working pixel wide: the
        # stroke grows by that much, and the average then keeps it at full strength.
        kernel = np.ones((pool, pool), np.uint8)
        values = cv2.dilate(values, kernel) if keep_bright else cv2.erode(values, kernel)
    if pool >= 2:
        # OpenCV averages whole blocks much faster than fractional ones: a whole factor first, then the
        # rest of the way. The last blocks are filled out with the pixels just inside the edge, mirrored:
        # repeating the edge itself would turn a photo's 1-pixel dark border into a dark working pixel
        # (a 7 on ruled paper, 2048 pixels tall, then read as light ink on dark paper: "not a digit").
        below, right = -height % pool, -width % pool
        if below or right:
            border = cv2.BORDER_REFLECT_101 if min(height, width) > pool else cv2.BORDER_REPLICATE
            values = cv2.copyMakeBorder(values, 0, below, 0, right, border)
        values = cv2.resize(values, ((width + right) // pool, (height + below) // pool), interpolation=cv2.INTER_AREA)
    # Averaging by a fraction is OpenCV's slowest resize (about 30 instructions per source pixel, five
    # times bilinear sampling) and the largest single cost of a mid-sized photo; bilinear sampling was
    # tried and changed answers (a thin line can fall between samples), so it stays.
    return cv2.resize(values, size, interpolation=cv2.INTER_AREA)


def dithered(image: Image.Image, gray: np.ndarray | None = None) -> bool:
    """True for a two-tone picture whose grey areas are dithered: a pattern of isolated dots, not strokes.

    ``gray``, the image's raw_arrays grey values when the caller has them, saves converting it again.
    """
    if image.mode not in ("1", "L", "P") or "transparency" in image.info:
        return False
    # A central crop is enough to see the pattern, and cheap on a huge fax.
    width, height = image.size
    side = DITHER_SAMPLE_SIDE
    left, top = max(0, (width - side) // 2), max(0, (height - side) // 2)
    box = (left, top, left + min(side, width), top + min(side, height))
    if gray is not None and gray.dtype == np.uint8 and gray.shape == (height, width):
        values = gray[box[1] : box[3], box[0] : box[2]]
    else:
        values = np.asarray(image.crop(box).convert("L"))
    # Two tones only (a sparse sample rules most pictures out cheaply).
    if np.count_nonzero(np.bincount(values[::7, ::7].ravel(), minlength=256)) > 2:
        return False
    if np.count_nonzero(np.bincount(values.ravel(), minlength=256)) > 2:
        return False
    dark = (values < (int(values.min()) + int(values.max())) / 2).astype(np.uint8)
    # A dot differs from all eight of its neighbours; a stroke, however thin (a 1-pixel pencil's
    # diagonal), continues along itself: a dark dot is a pixel whose 3x3 neighbourhood's maximum,
    # without itself, is light, and a light dot the reverse.
    ring = np.ones((3, 3), np.uint8)
    ring[1, 1] = 0
    lonely_dark = dark & (cv2.dilate(dark, ring) == 0)
    lonely_light = (1 - dark) & (cv2.erode(dark, ring) == 1)
    core = (lonely_dark | lonely_light)[1:-1, 1:-1]
    return float(core.mean()) >= DITHER_DOTS
