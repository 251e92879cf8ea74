"""atomic.py: a write either lands whole or leaves the old file as it was."""

from __future__ import annotations

import json

import pytest

from atomic import atomic_path, write_json


def test_success_replaces(tmp_path):
    target = tmp_path / "metrics.json"
    target.write_text("old")
    write_json(target, {"accuracy": 0.99})
    assert json.loads(target.read_text()) == {"accuracy": 0.99}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt], ids=["error", "ctrl-c"])
def test_failure_midway_keeps_old_file(tmp_path, error):
    target = tmp_path / "model.keras"
    target.write_bytes(b"old model")
    with pytest.raises(error):
        with atomic_path(target) as temporary:
            temporary.write_bytes(b"half a new mod")
            raise error()
    assert target.read_bytes() == b"old model"
    assert [p.name for p in tmp_path.iterdir()] == ["model.keras"]


def test_temporary_keeps_suffix_and_folder(tmp_path):
    with atomic_path(tmp_path / "sub" / "plot.png") as temporary:
        assert temporary.suffix == ".png" and temporary.parent == tmp_path / "sub"
        temporary.write_bytes(b"png")
    assert (tmp_path / "sub" / "plot.png").read_bytes() == b"png"
