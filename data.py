"""The MNIST dataset: find it, check it, normalize it.

Where the data comes from, in this order: an explicit path (``--data``), the
``MNIST_DATA`` environment variable, the team's shared copy beside the checkout
(``../shared/data/mnist.npz``, where an offline machine keeps it), the Keras cache
(``~/.keras/datasets/mnist.npz``) and, last, Keras's own download. A path may be a ``.npz`` in the Keras layout or a
folder holding LeCun's four original IDX files (gzipped or raw).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

IMAGE_SIZE = 28  # MNIST digits are 28x28 pixels
NUM_CLASSES = 10
ENV_VAR = "MNIST_DATA"
# Where machines without internet keep MNIST, beside the checkout (the benchmarks find the real-image sets there too).
SHARED_COPY = Path(__file__).resolve().parent.parent / "shared" / "data" / "mnist.npz"
KERAS_CACHE = Path("~/.keras/datasets/mnist.npz").expanduser()
NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
# LeCun's file names; each may also carry a .gz suffix.
IDX_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
IDX_UBYTE = 0x08  # the IDX type code for unsigned bytes, the only one MNIST uses


class DataError(Exception):
    """The dataset could not be found or is not valid MNIST; the message is one line for users."""


@dataclass(frozen=True)
class Dataset:
    """Normalized MNIST: images float32 (N, 28, 28, 1) in [0, 1], labels int64 (N,)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str  # where it was read from, for the run's record
    sha256: str  # checksum of the raw arrays, so a run records exactly which data it used


def find_data(path: str | os.PathLike | None = None) -> Path | None:
    """Return the first MNIST location that exists, or None to mean 'download with Keras'.

    An explicit path or ``MNIST_DATA`` that does not exist is an error, not a reason to
    fall back silently to another copy.
    """
    for given, origin in ((path, "--data"), (os.environ.get(ENV_VAR), ENV_VAR)):
        if given:
            candidate = Path(given).expanduser()
            if not candidate.exists():
                raise DataError(f"{origin} points to {candidate}, which does not exist")
            return candidate
    for candidate in (SHARED_COPY, KERAS_CACHE):
        if candidate.exists():
            return candidate
    return None


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [key for key in NPZ_KEYS if key not in archive.files]
            if missing:
                raise DataError(f"{path}: missing arrays {', '.join(missing)} (expected {', '.join(NPZ_KEYS)})")
            return {key: archive[key] for key in NPZ_KEYS}
    except DataError:
        raise
    except Exception as error:  # zipfile, pickle and value errors all mean the same to a user
        raise DataError(f"{path}: not a readable .npz file ({type(error).__name__}: {error})") from None


def read_idx(path: Path) -> np.ndarray:
    """Read one IDX file (raw or gzipped) of unsigned bytes into a uint8 array."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as stream:
            raw = stream.read()
    except (OSError, EOFError) as error:
        raise DataError(f"{path}: cannot read IDX file ({error})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise DataError(f"{path}: not an IDX file (bad magic number)")
    if raw[2] != IDX_UBYTE:
        raise DataError(f"{path}: IDX type 0x{raw[2]:02x} is not unsigned bytes")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: truncated IDX header")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    expected = int(np.prod(shape))
    if len(raw) - header != expected:
        raise DataError(f"{path}: IDX header promises {expected} bytes of data, file has {len(raw) - header}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def _read_idx_folder(folder: Path) -> dict[str, np.ndarray]:
    arrays = {}
    for key, name in IDX_FILES.items():
        for candidate in (folder / name, folder / f"{name}.gz"):
            if candidate.exists():
                arrays[key] = read_idx(candidate)
                break
        else:
            raise DataError(f"{folder}: no {name} or {name}.gz (a folder must hold LeCun's four IDX files)")
    return arrays


def _keras_download() -> dict[str, np.ndarray]:
    from inference import import_tensorflow_quietly

    import_tensorflow_quietly()  # imported late: TensorFlow takes seconds to load and most paths never need it
    import keras

    try:
        (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    except Exception as error:  # no network: urllib, socket and Keras errors all land here
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise DataError(
            f"MNIST not found (looked at --data, ${ENV_VAR}, {SHARED_COPY}, {KERAS_CACHE}) and the download failed ({reason}); "
            f"offline, pass --data PATH/mnist.npz or set {ENV_VAR}"
        ) from None
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}


def validate(arrays: dict[str, np.ndarray], source: str) -> None:
    """Check keys, shapes, dtypes and label range; raise DataError naming what is wrong."""
    for split in ("train", "test"):
        images, labels = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if images.ndim != 3 or images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
            raise DataError(f"{source}: x_{split} has shape {images.shape}, expected (N, {IMAGE_SIZE}, {IMAGE_SIZE})")
        if images.dtype != np.uint8:
            raise DataError(f"{source}: x_{split} has dtype {images.dtype}, expected uint8")
        if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
            raise DataError(f"{source}: y_{split} has shape {labels.shape}, expected ({images.shape[0]},)")
        if not np.issubdtype(labels.dtype, np.integer):
            raise DataError(f"{source}: y_{split} has dtype {labels.dtype}, expected integers")
        if images.shape[0] == 0:
            raise DataError(f"{source}: x_{split} is empty")
        if labels.min() < 0 or labels.max() >= NUM_CLASSES:
            raise DataError(f"{source}: y_{split} has labels outside 0..{NUM_CLASSES - 1}")


def normalize(images: np.ndarray) -> np.ndarray:
    """uint8 (N, 28, 28) -> float32 (N, 28, 28, 1) in [0, 1]."""
    return (images.astype(np.float32) / 255.0)[..., np.newaxis]


def checksum(arrays: dict[str, np.ndarray]) -> str:
    """SHA-256 over the four raw arrays in a fixed order."""
    digest = hashlib.sha256()
    for key in NPZ_KEYS:
        digest.update(np.ascontiguousarray(arrays[key]).tobytes())
    return digest.hexdigest()


def load_mnist(path: str | os.PathLike | None = None) -> Dataset:
    """Find, read, check and normalize MNIST; raise DataError with a one-line message on failure."""
    location = find_data(path)
    if location is None:
        arrays, source = _keras_download(), "keras download"
    elif location.is_dir():
        arrays, source = _read_idx_folder(location), str(location)
    else:
        arrays, source = _read_npz(location), str(location)
    validate(arrays, source)
    return Dataset(
        x_train=normalize(arrays["x_train"]),
        y_train=arrays["y_train"].astype(np.int64),
        x_test=normalize(arrays["x_test"]),
        y_test=arrays["y_test"].astype(np.int64),
        source=source,
        sha256=checksum(arrays),
    )
