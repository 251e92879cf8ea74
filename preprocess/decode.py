"""Decode: a file or upload -> an EXIF-rotated PIL image (Pillow: every format, mode and bad-file check; with
pyspng installed, libspng for plain 8-bit PNGs, the same image with less CPU), then -> float arrays at the
working resolution."""

from __future__ import annotations

import io
import os
import struct
import warnings
import zlib

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .common import MIN_SIDE, ImageError, too_small

try:  # optional (pip install pyspng): libspng decodes a PNG with about a quarter less CPU than Pillow, same pixels
    import pyspng
except ImportError:
    pyspng = None

MAX_PIXELS = 50_000_000  # refuse larger declared sizes before decoding (a 50 MP photo is ~8700x5800)
# Photos are shrunk to this longest side first: enough for a digit, fast to process. Large JPEGs are
# decoded straight at a reduced scale (DCT scaling, 1/2 to 1/8) no smaller than this.
WORK_MAX_SIDE = 400
# A two-tone (1-bit) image with at least this fraction of isolated dots is dithered; it is blurred by
# this radius in its own pixels, looked at in a central crop of this side.
DITHER_DOTS = 0.005
DITHER_BLUR = 1.5
DITHER_SAMPLE_SIDE = 512
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# The chunks of a PNG that libspng may decode instead of Pillow: pixel data and what neither applies to it
# (gamma, colour profiles, resolution, text). Any other chunk (a palette, a transparent colour, a
# background colour, EXIF orientation, animation, ...) leaves the file to Pillow.
PLAIN_PNG_CHUNKS = frozenset({b"IHDR", b"IDAT", b"IEND", b"gAMA", b"cHRM", b"sRGB", b"iCCP", b"sBIT", b"pHYs", b"tEXt", b"zTXt", b"tIME"})
# Text whose key names XMP or EXIF (Pillow reads the orientation from "XML:com.adobe.xmp", "xmp" and "Raw
# profile type exif") leaves the file to Pillow too.
PNG_TEXT_CHUNKS = (b"tEXt", b"zTXt")
PNG_ORIENTATION_KEYS = (b"xmp", b"exif")
PLAIN_PNG_MODES = {0: "L", 2: "RGB", 6: "RGBA"}  # 8-bit PNG colour types and the Pillow mode each decodes to

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
    if pyspng is not None and name.lower().endswith(".png"):
        with open(name, "rb") as stream:
            image = _plain_png(stream.read())
        if image is not None:
            return image
    return _decode(name, name)


def open_image_bytes(content: bytes, name: str = "upload") -> Image.Image:
    """open_image for an image file's bytes (an upload); ``name`` is how error messages call it."""
    if not content:
        raise ImageError(f"{name}: empty file")
    image = _plain_png(content) if pyspng is not None else None
    return image if image is not None else _decode(io.BytesIO(content), name)


def _plain_png(content: bytes) -> Image.Image | None:
    """An 8-bit grey, RGB or RGBA PNG of nothing but PLAIN_PNG_CHUNKS, decoded by libspng into the image Pillow
    would give; None for any other file, or one libspng cannot decode (Pillow then decodes it, or says what is wrong)."""
    if not content.startswith(PNG_SIGNATURE):
        return None
    header, position = None, len(PNG_SIGNATURE)
    while True:  # the chunks' names and lengths only: a few steps, even for a large file
        if position + 12 > len(content):
            return None  # cut short: Pillow says how
        length, kind = struct.unpack_from(">I4s", content, position)
        end = position + 8 + length
        if kind not in PLAIN_PNG_CHUNKS or end + 4 > len(content):
            return None
        data = content[position + 8 : end] if kind != b"IDAT" else b""
        # Pillow checks the checksum of every chunk but the pixel data's (which libspng checks too).
        if kind != b"IDAT" and zlib.crc32(data, zlib.crc32(kind)) != struct.unpack_from(">I", content, end)[0]:
            return None
        if kind in PNG_TEXT_CHUNKS and any(word in data.split(b"\0", 1)[0].lower() for word in PNG_ORIENTATION_KEYS):
            return None
        if kind == b"IHDR" and length == 13:
            header = struct.unpack(">IIBB", data[:10])
        position = end + 4  # past the checksum
        if kind == b"IEND":
            break
    if header is None:
        return None
    width, height, depth, colour = header
    mode = PLAIN_PNG_MODES.get(colour)
    if depth != 8 or mode is None or width * height > MAX_PIXELS or min(width, height) < MIN_SIDE:
        return None
    try:
        pixels = pyspng.load(content)
    except (RuntimeError, ValueError, MemoryError):
        return None
    if pixels.shape[:2] != (height, width):
        return None
    # Pillow reads the array in place for L and RGBA; RGB it stores four bytes a pixel, so that one is copied.
    return Image.frombuffer(mode, (width, height), np.ascontiguousarray(pixels), "raw", mode, 0, 1)


def _decode(source: str | io.BytesIO, name: str) -> Image.Image:
    try:
        with Image.open(source) as image:
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
        return values.astype(np.float32) * np.float32(1 / 255)
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
        # OpenCV averages whole blocks much faster than fractional ones: a whole factor first (the
        # last block rows and columns filled out by repeating the edge), then the rest of the way.
        below, right = -height % pool, -width % pool
        if below or right:
            values = cv2.copyMakeBorder(values, 0, below, 0, right, cv2.BORDER_REPLICATE)
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
