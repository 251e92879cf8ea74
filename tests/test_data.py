"""data.py: finding, reading and checking MNIST in .npz and IDX form, on small synthetic files."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

import data

TRAIN, TEST = 12, 5


def synthetic_arrays(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "x_train": rng.integers(0, 256, (TRAIN, 28, 28), dtype=np.uint8),
        "y_train": rng.integers(0, 10, TRAIN).astype(np.uint8),
        "x_test": rng.integers(0, 256, (TEST, 28, 28), dtype=np.uint8),
        "y_test": rng.integers(0, 10, TEST).astype(np.uint8),
    }


def write_npz(path: Path, **overrides) -> Path:
    arrays = {**synthetic_arrays(), **overrides}
    np.savez(path, **{key: value for key, value in arrays.items() if value is not None})
    return path


def idx_bytes(array: np.ndarray) -> bytes:
    return bytes([0, 0, data.IDX_UBYTE, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def write_idx_folder(folder: Path, compress: bool) -> Path:
    folder.mkdir()
    for key, array in synthetic_arrays().items():
        name = data.IDX_FILES[key]
        if compress:
            (folder / f"{name}.gz").write_bytes(gzip.compress(idx_bytes(array)))
        else:
            (folder / name).write_bytes(idx_bytes(array))
    return folder


@pytest.fixture(autouse=True)
def no_environment(monkeypatch, tmp_path):
    """Tests see neither the developer's MNIST_DATA nor the shared copy beside the checkout nor their Keras cache."""
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    monkeypatch.setattr(data, "SHARED_COPY", tmp_path / "no-shared" / "mnist.npz")
    monkeypatch.setattr(data, "KERAS_CACHE", tmp_path / "no-cache" / "mnist.npz")


def test_npz_loads_normalized(tmp_path):
    dataset = data.load_mnist(write_npz(tmp_path / "mnist.npz"))
    raw = synthetic_arrays()
    assert dataset.x_train.shape == (TRAIN, 28, 28, 1) and dataset.x_train.dtype == np.float32
    assert dataset.x_test.shape == (TEST, 28, 28, 1)
    assert 0.0 <= dataset.x_train.min() and dataset.x_train.max() <= 1.0
    np.testing.assert_allclose(dataset.x_train[..., 0] * 255, raw["x_train"], atol=1e-3)
    np.testing.assert_array_equal(dataset.y_test, raw["y_test"])
    assert len(dataset.sha256) == 64


@pytest.mark.parametrize("compress", [True, False], ids=["gz", "raw"])
def test_idx_folder_matches_npz(tmp_path, compress):
    from_idx = data.load_mnist(write_idx_folder(tmp_path / "idx", compress))
    from_npz = data.load_mnist(write_npz(tmp_path / "mnist.npz"))
    np.testing.assert_array_equal(from_idx.x_train, from_npz.x_train)
    np.testing.assert_array_equal(from_idx.y_train, from_npz.y_train)
    assert from_idx.sha256 == from_npz.sha256


def test_environment_variable_is_used(tmp_path, monkeypatch):
    path = write_npz(tmp_path / "env.npz")
    monkeypatch.setenv(data.ENV_VAR, str(path))
    assert data.load_mnist().source == str(path)


def test_explicit_path_beats_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(data.ENV_VAR, str(write_npz(tmp_path / "env.npz")))
    explicit = write_npz(tmp_path / "explicit.npz")
    assert data.load_mnist(explicit).source == str(explicit)


def test_keras_cache_is_used(tmp_path, monkeypatch):
    cache = tmp_path / "cache" / "mnist.npz"
    cache.parent.mkdir()
    write_npz(cache)
    monkeypatch.setattr(data, "KERAS_CACHE", cache)
    assert data.load_mnist().source == str(cache)


def test_shared_copy_beside_the_checkout_is_used_before_the_keras_cache(tmp_path, monkeypatch):
    shared, cache = tmp_path / "shared" / "mnist.npz", tmp_path / "cache" / "mnist.npz"
    for path in (shared, cache):
        path.parent.mkdir()
        write_npz(path)
    monkeypatch.setattr(data, "SHARED_COPY", shared)
    monkeypatch.setattr(data, "KERAS_CACHE", cache)
    assert data.load_mnist().source == str(shared)


def test_missing_explicit_path(tmp_path):
    with pytest.raises(data.DataError, match="does not exist"):
        data.load_mnist(tmp_path / "nope.npz")


def test_offline_without_file_explains(monkeypatch):
    def offline():
        raise OSError("network unreachable")

    monkeypatch.setattr("keras.datasets.mnist.load_data", offline)
    with pytest.raises(data.DataError, match="MNIST_DATA") as caught:
        data.load_mnist()
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"x_train": np.zeros((TRAIN, 28, 27), np.uint8)}, "x_train has shape"),
        ({"x_test": np.zeros((TEST, 28, 28), np.float64)}, "dtype float64"),
        ({"y_train": np.full(TRAIN, 10, np.uint8)}, "labels outside"),
        ({"y_test": np.zeros(TEST + 1, np.uint8)}, "y_test has shape"),
        ({"y_test": np.zeros(TEST, np.float32)}, "expected integers"),
        ({"x_test": None}, "missing arrays x_test"),
    ],
    ids=["shape", "dtype", "label-range", "label-count", "label-dtype", "missing-key"],
)
def test_bad_npz_is_named(tmp_path, overrides, message):
    path = write_npz(tmp_path / "bad.npz", **overrides)
    with pytest.raises(data.DataError, match=message) as caught:
        data.load_mnist(path)
    assert str(path) in str(caught.value)


@pytest.mark.parametrize("content", [b"", b"not a zip file at all", b"PK\x03\x04truncated"], ids=["empty", "text", "truncated-zip"])
def test_corrupt_npz(tmp_path, content):
    path = tmp_path / "corrupt.npz"
    path.write_bytes(content)
    with pytest.raises(data.DataError, match="not a readable .npz"):
        data.load_mnist(path)


def test_bad_idx_files(tmp_path):
    folder = write_idx_folder(tmp_path / "idx", compress=False)
    images = folder / data.IDX_FILES["x_test"]
    images.write_bytes(images.read_bytes()[:-10])
    with pytest.raises(data.DataError, match="promises"):
        data.load_mnist(folder)
    images.write_bytes(b"\x12\x34\x08\x03")
    with pytest.raises(data.DataError, match="magic"):
        data.load_mnist(folder)
    images.unlink()
    with pytest.raises(data.DataError, match="t10k-images-idx3-ubyte"):
        data.load_mnist(folder)


def test_real_mnist(mnist_path):
    dataset = data.load_mnist(mnist_path)
    assert dataset.x_train.shape == (60000, 28, 28, 1)
    assert dataset.x_test.shape == (10000, 28, 28, 1)
    assert set(np.unique(dataset.y_test)) == set(range(10))
