"""Atomic file writes: write beside the target, then rename, so a reader never sees half a file."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; on success rename it over the target, on failure delete it.

    The temporary name keeps the target's suffix, because some writers (Keras, Matplotlib) choose
    the format from it. The rename is atomic on one filesystem, so an interrupted run (Ctrl-C included)
    leaves either the old file or the new one, never a truncated one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(handle)
    os.unlink(temporary)  # writers that refuse to overwrite (Keras) get a fresh name
    temporary = Path(temporary)
    try:
        yield temporary
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_bytes(path: str | os.PathLike, content: bytes) -> Path:
    """Write bytes to path atomically."""
    with atomic_path(path) as temporary:
        temporary.write_bytes(content)
    return Path(path)


def write_json(path: str | os.PathLike, content: dict) -> Path:
    """Write a dict as indented JSON to path atomically."""
    return write_bytes(path, (json.dumps(content, indent=2) + "\n").encode())
