"""ensemble.py through main([...]): the averaged model, its record, and one-line errors for unusable sources."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

import ensemble
import train
from tests.test_train import ARTIFACTS


def ten_output_source(folder: Path, like: Path) -> Path:
    """A source whose model answers digits only (10 outputs), as train.py --not-digits 0 writes one."""
    from model import build_model

    folder.mkdir()
    build_model("fast", num_classes=10).save(folder / "mnist_cnn.keras")
    record = json.loads((like / "metrics.json").read_text())
    (folder / "metrics.json").write_text(json.dumps({**record, "outputs": 10, "members": 1}))
    return folder


def test_averages_every_member_of_the_sources(trained, toy_npz, tmp_path, capsys):
    """Two sources of two members each: one model of four, every member counted once, the records joined."""
    import keras

    twin = tmp_path / "twin"  # a second run with its own folder and record (the same weights: the mean is unchanged)
    shutil.copytree(trained, twin)
    record = json.loads((twin / "metrics.json").read_text())
    (twin / "metrics.json").write_text(json.dumps({**record, "command": "python train.py --seed 3", "temperatures": [1.5, 2.5]}))
    out_dir = tmp_path / "merged"
    assert ensemble.main([str(trained), str(twin), "--out-dir", str(out_dir), "--data", str(toy_npz)]) == 0
    for name in ARTIFACTS:
        assert (out_dir / name).stat().st_size > 0, name
    merged = keras.models.load_model(out_dir / "mnist_cnn.keras", compile=False)
    members = [layer for layer in merged.layers if isinstance(layer, keras.Model)]
    source = keras.models.load_model(trained / "mnist_cnn.keras", compile=False)
    images = np.load(toy_npz)["x_test"][:32].astype(np.float32)[..., None] / 255
    np.testing.assert_allclose(np.asarray(merged.predict(images, verbose=0)), np.asarray(source.predict(images, verbose=0)), atol=1e-5)
    # And the output is the mean of the four: none of them counted twice or left out.
    each = [np.asarray(member.predict(images, verbose=0)) for member in members]
    assert len(members) == 4 and not np.allclose(each[0], each[1])
    np.testing.assert_allclose(np.asarray(merged.predict(images, verbose=0)), np.mean(each, axis=0), atol=1e-5)

    record = json.loads((out_dir / "metrics.json").read_text())
    sources = [json.loads((folder / "metrics.json").read_text()) for folder in (trained, twin)]
    assert record["members"] == 4 and record["config"]["members"] == 4
    assert record["temperatures"] == sources[0]["temperatures"] + [1.5, 2.5]
    assert record["member_test_accuracies"] == sources[0]["member_test_accuracies"] * 2
    assert [source["command"] for source in record["sources"]] == [source["command"] for source in sources]
    assert record["command"].startswith("python ensemble.py") and record["outputs"] == 11
    assert np.array(record["confusion_matrix"]).sum() == 200 and record["tflite_max_abs_difference"] < train.TFLITE_TOLERANCE
    assert record["suggested_low_confidence"] is not None and len(record["member_histories"]) == 4
    assert "4 members averaged" in capsys.readouterr().out


def test_unusable_sources_get_one_line_errors(trained, toy_npz, tmp_path, capsys):
    out_dir = tmp_path / "out"
    digits_only = ten_output_source(tmp_path / "digits_only", like=trained)
    assert ensemble.main([str(digits_only), "--out-dir", str(out_dir), "--data", str(toy_npz)]) == 2
    assert "nothing to average" in capsys.readouterr().err  # one member in all
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "metrics.json").write_text((trained / "metrics.json").read_text())
    (broken / "mnist_cnn.keras").write_bytes(b"not a model")
    liar = tmp_path / "liar"
    shutil.copytree(trained, liar)
    (liar / "metrics.json").write_text(json.dumps({**json.loads((trained / "metrics.json").read_text()), "members": 1}))
    stranger = tmp_path / "stranger"
    stranger.mkdir()
    (stranger / "metrics.json").write_text("[1, 2]")
    cases = {
        "nowhere": [str(tmp_path / "nowhere"), str(trained)],
        "not a record that train.py wrote": [str(stranger), str(trained)],
        "different numbers of classes": [str(digits_only), str(trained)],
        "cannot load": [str(broken), str(trained)],
        "the model has 2 members, its metrics.json says 1": [str(liar), str(trained)],
    }
    capsys.readouterr()
    for expected, sources in cases.items():
        assert ensemble.main([*sources, "--out-dir", str(out_dir), "--data", str(toy_npz)]) == 2, expected
        err = capsys.readouterr().err
        assert err.startswith("ensemble.py: error:") and expected in err and len(err.strip().splitlines()) == 1, err
    assert not out_dir.exists()  # nothing written
