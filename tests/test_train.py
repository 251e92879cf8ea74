"""train.py through main([...]): flags, errors, artifacts, round trips, interruption, and a real-MNIST run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import train
from tests.conftest import ROOT, draw_bars

ARTIFACTS = [
    "mnist_cnn.keras",
    "mnist_cnn.tflite",
    "metrics.json",
    "history.png",
    "confusion_matrix.png",
    "worst_mistakes.png",
    "sample_predictions.png",
]


def test_help_shows_defaults(capsys):
    with pytest.raises(SystemExit) as exit_info:
        train.main(["--help"])
    assert exit_info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines at the terminal width
    for flag in (
        "--arch",
        "--epochs",
        "--batch-size",
        "--learning-rate",
        "--validation-split",
        "--seed",
        "--data",
        "--out-dir",
        "--limit",
        "--deterministic",
    ):
        assert flag in text
    assert "(default: default)" in text
    for arch, recipe in train.RECIPES.items():
        assert f"{recipe.epochs} for {arch}" in text


@pytest.mark.parametrize(
    "argv",
    [["--epochs", "0"], ["--arch", "vgg"], ["--validation-split", "1.5"], ["--batch-size", "x"], ["--learning-rate", "-1"], ["--bogus"]],
    ids=["zero-epochs", "unknown-arch", "split-range", "not-a-number", "negative-rate", "unknown-flag"],
)
def test_bad_flags_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        train.main(argv)
    assert exit_info.value.code == 2
    assert "error" in capsys.readouterr().err


def test_missing_data_one_line(tmp_path, capsys):
    assert train.main(["--data", str(tmp_path / "absent.npz"), "--out-dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "absent.npz" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_corrupt_data_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.npz"
    bad.write_text("hello")
    assert train.main(["--data", str(bad), "--out-dir", str(tmp_path / "out")]) == 2
    assert "bad.npz" in capsys.readouterr().err


def test_artifacts_and_metrics(trained, toy_npz):
    for name in ARTIFACTS:
        assert (trained / name).stat().st_size > 0, name
    assert not [p for p in trained.iterdir() if ".tmp" in p.name]
    record = json.loads((trained / "metrics.json").read_text())
    assert record["command"].startswith("python train.py --data")
    assert record["epochs_run"] == 3 and len(record["history"]["val_accuracy"]) == 3
    assert record["config"]["arch"] == "default" and record["config"]["batch_size"] == 32
    # Ten digits and the "not a digit" class the default recipe adds.
    assert set(record["per_class"]) == {str(d) for d in range(11)} and record["outputs"] == 11
    assert record["data"]["not_digit_images"] > 0
    assert np.array(record["confusion_matrix"]).sum() == 200
    assert record["data"]["source"] == os.path.relpath(toy_npz, ROOT) and len(record["data"]["sha256"]) == 64
    assert not os.path.isabs(record["config"]["out_dir"])  # a record is portable: no machine's absolute paths
    assert len(record["epoch_seconds"]) == 2 * 3 and record["machine"]["cpus"] >= 1 and "cpu" in record["machine"]
    assert record["members"] == 2 and len(record["temperatures"]) == 2 and len(record["member_histories"]) == 2
    assert all(0.5 <= temperature <= 5.0 for temperature in record["temperatures"])
    assert record["versions"]["tensorflow"].startswith("2.")
    assert record["test_accuracy"] > 0.5  # the toy task is easy: far above the 10% of guessing


def test_keras_round_trip_and_tflite_equality(trained, toy_npz):
    import keras

    from inference import load_predictor

    images = np.load(toy_npz)["x_test"][:64].astype(np.float32)[..., None] / 255
    model = keras.models.load_model(trained / "mnist_cnn.keras", compile=False)
    assert not model.compiled and getattr(model, "optimizer", None) is None  # shipped lean: no optimizer state
    keras_probabilities = np.asarray(model.predict(images, verbose=0))
    lite = load_predictor(trained / "mnist_cnn.tflite")
    assert lite.backend == "litert"
    # 8-bit weights: close to the float model, not equal to it (train.TFLITE_TOLERANCE).
    lite_probabilities = lite.predict(images)
    np.testing.assert_allclose(lite_probabilities, keras_probabilities, atol=train.TFLITE_TOLERANCE)
    assert np.abs(lite_probabilities - keras_probabilities).max() > 0  # the weights really were quantized
    assert (trained / "mnist_cnn.tflite").stat().st_size < 0.5 * (trained / "mnist_cnn.keras").stat().st_size
    record = json.loads((trained / "metrics.json").read_text())
    assert keras_probabilities.argmax(1).tolist() == load_predictor(trained / "mnist_cnn.keras").predict(images).argmax(1).tolist()
    assert record["tflite_max_abs_difference"] < train.TFLITE_TOLERANCE


def test_seed_arch_with_limit(tmp_path, toy_npz):
    code = train.main(["--arch", "seed", "--data", str(toy_npz), "--out-dir", str(tmp_path), "--epochs", "1", "--limit", "300"])
    assert code == 0
    record = json.loads((tmp_path / "metrics.json").read_text())
    assert record["data"]["train_images"] + record["data"]["validation_images"] == 300
    assert record["config"]["validation_split"] == 0.3 and record["config"]["augment"] is False
    assert record["outputs"] == 10 and set(record["per_class"]) == {str(d) for d in range(10)}  # the reference has no 11th class


@pytest.mark.parametrize(
    "argv, expected",
    [([], "models"), (["--limit", "2000"], "runs/quick"), (["--epochs", "1"], "runs/quick"), (["--epochs", "20"], "models")],
    ids=["full", "limit", "fewer-epochs", "more-epochs"],
)
def test_short_runs_never_default_to_the_shipped_model(argv, expected):
    config = train.resolve_config(train.build_parser().parse_args(argv))
    assert config["out_dir"] == expected


def test_a_better_model_in_out_dir_is_kept(tmp_path, toy_npz, monkeypatch, capsys):
    """A run that scores below the model already in --out-dir goes to runs/ instead, unless --force."""
    monkeypatch.setattr(train, "RUNS_DIR", tmp_path / "runs")
    out_dir = tmp_path / "models"
    out_dir.mkdir()
    (out_dir / "metrics.json").write_text(json.dumps({"test_accuracy": 1.01}))  # unbeatable
    flags = ["--data", str(toy_npz), "--out-dir", str(out_dir), "--epochs", "1", "--limit", "200", "--not-digits", "0", "--members", "1"]
    assert train.main(flags) == 0
    assert sorted(p.name for p in out_dir.iterdir()) == ["metrics.json"]
    (diverted,) = (tmp_path / "runs").iterdir()
    assert (diverted / "mnist_cnn.tflite").exists() and "holds a better model" in capsys.readouterr().out
    assert train.main([*flags, "--force"]) == 0
    assert (out_dir / "mnist_cnn.tflite").exists()


def test_temperature_softens_an_overconfident_model():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 2000)
    # Right 80% of the time, but always 99.9% sure: the fitted temperature must soften it (T > 1).
    predicted = np.where(rng.random(2000) < 0.8, labels, (labels + 1) % 10)
    probabilities = np.full((2000, 10), 0.001 / 9)
    probabilities[np.arange(2000), predicted] = 0.999
    temperature = train.fit_temperature(probabilities, labels)
    assert temperature > 1.5
    # And a calibrated one is left about as it is.
    calibrated = np.full((2000, 10), 0.2 / 9)
    calibrated[np.arange(2000), predicted] = 0.8
    assert 0.8 < train.fit_temperature(calibrated, labels) < 1.25


def test_apply_temperature_equals_scaled_softmax():
    import keras

    from model import build_model

    model = build_model("seed", num_classes=11)
    images = np.random.default_rng(1).random((8, 28, 28, 1)).astype(np.float32)
    before = np.asarray(model(images))
    train.apply_temperature(model, 2.0)
    after = np.asarray(model(images))
    expected = keras.ops.convert_to_numpy(keras.ops.softmax(np.log(before) / 2.0))
    np.testing.assert_allclose(after, expected, atol=1e-5)


def test_interrupt_keeps_previous_model(tmp_path, toy_npz, trained):
    """Ctrl-C in the middle of training: exit 130, the earlier model still loads, no partial files.

    Before Ctrl-C waited for the end of the step, about 1 run in 8 died in glibc (free(): invalid next size)
    and some went on training as if nothing had happened."""
    out_dir = tmp_path / "models"
    out_dir.mkdir()
    for name in ARTIFACTS:
        (out_dir / name).write_bytes((trained / name).read_bytes())
    before = {name: (out_dir / name).read_bytes() for name in ARTIFACTS}
    command = [sys.executable, "train.py", "--data", str(toy_npz), "--out-dir", str(out_dir), "--epochs", "500", "--batch-size", "8"]
    process = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"}
    )
    lines = []
    deadline = time.monotonic() + 120
    for line in process.stdout:
        lines.append(line)
        if line.startswith("Epoch 2/") or time.monotonic() > deadline:
            break
    process.send_signal(signal.SIGINT)
    try:
        output = "".join(lines) + process.communicate(timeout=60)[0]
    except subprocess.TimeoutExpired:
        process.kill()  # else it trains its 500 epochs after the test
        pytest.fail("train.py went on after Ctrl-C:\n" + "".join(lines) + process.communicate()[0])
    assert process.returncode == 130, output
    assert "train.py: interrupted; nothing was written and the previous model is untouched" in output
    assert "Traceback" not in output
    assert {name: (out_dir / name).read_bytes() for name in ARTIFACTS} == before
    assert sorted(p.name for p in out_dir.iterdir()) == sorted(ARTIFACTS)


def test_ctrl_c_stops_at_step_end_and_twice_at_once():
    """The first Ctrl-C only takes note and fit stops at the step's end; a second one raises at once."""
    previous = signal.getsignal(signal.SIGINT)
    with train.make_interrupt_at_step_end() as stop_on_interrupt:
        assert signal.getsignal(signal.SIGINT) is not previous  # else the SIGINT below would stop pytest itself
        stop_on_interrupt.on_train_batch_end(0)  # no Ctrl-C yet: training goes on
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.1)  # the handler runs here, and must not raise
        with pytest.raises(KeyboardInterrupt):
            stop_on_interrupt.on_train_batch_end(1)
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)
    assert signal.getsignal(signal.SIGINT) is previous


@pytest.mark.slow
def test_real_mnist_smoke_run(tmp_path, mnist_path):
    """The smoke run users try first (2,000 digits, one epoch: 17 steps) reports a sensible accuracy.

    Before BatchNorm's statistics were recomputed after training, this reported about 11%."""
    code = train.main(["--data", str(mnist_path), "--out-dir", str(tmp_path), "--limit", "2000", "--epochs", "1", "--seed", "3"])
    assert code == 0
    record = json.loads((tmp_path / "metrics.json").read_text())
    assert record["data"]["test_images"] == 10000
    assert record["test_accuracy"] >= 0.80, record["test_accuracy"]


def test_deterministic_runs_are_identical(tmp_path, toy_npz):
    """--deterministic: the same seed gives bit-identical weights, augmentation and shuffling included."""
    import keras

    weights = []
    for run in ("a", "b"):
        flags = ["--data", str(toy_npz), "--out-dir", str(tmp_path / run), "--epochs", "1", "--limit", "256", "--members", "1"]
        flags.append("--deterministic")
        assert train.main(flags) == 0
        weights.append(keras.models.load_model(tmp_path / run / "mnist_cnn.keras", compile=False).get_weights())
    for first, second in zip(*weights, strict=True):
        np.testing.assert_array_equal(first, second)


def test_members_average_into_one_model():
    """The exported ensemble's output is exactly the mean of its members' probabilities."""
    from model import build_model

    members = [build_model("fast", num_classes=11) for _ in range(2)]
    images = np.random.default_rng(2).random((6, 28, 28, 1)).astype(np.float32)
    expected = np.mean([np.asarray(member(images)) for member in members], axis=0)
    ensemble = train.average_members(members)
    np.testing.assert_allclose(np.asarray(ensemble(images)), expected, atol=1e-6)
    assert train.average_members(members[:1]) is members[0]


def test_recompute_batchnorm_keeps_the_statistics_of_all_images():
    """Chunked, the statistics are those of every image (not the last chunk's), and the momentum is restored."""
    import keras

    from model import BATCHNORM_MOMENTUM, build_model

    model = build_model("fast", num_classes=11)
    layer = next(layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization))
    feeding = keras.Model(model.input, layer.input)  # everything before the first BatchNorm: no BatchNorm in it
    images = np.random.default_rng(0).random((3 * train.BATCHNORM_CHUNK, 28, 28, 1), dtype=np.float32)
    images[: train.BATCHNORM_CHUNK] *= 0.2  # the chunks differ: the last chunk alone would give other statistics
    train.recompute_batchnorm(model, images)
    features = np.asarray(feeding(images)).reshape(-1, layer.input.shape[-1])
    np.testing.assert_allclose(np.asarray(layer.moving_mean), features.mean(axis=0), rtol=1e-4, atol=1e-5)
    assert layer.momentum == pytest.approx(BATCHNORM_MOMENTUM)


def test_train_dataset_turns_tf_data_autotuning_off():
    """tf.data's autotuner thread sleeps for doubling periods, and deleting each epoch's iterator waited for its
    sleep to end: 30-s epochs took 41 s. The pipeline fit gets has autotuning off and knows its length."""
    x, y = draw_bars(64, seed=1)
    batches = train.make_train_dataset(x, y, 32, augment=False, seed=0, epochs=1)
    dataset = batches.as_dataset()
    assert dataset.options().autotune.enabled is False
    assert int(dataset.cardinality()) == len(batches) == 2
    images, labels = next(iter(dataset))
    assert images.shape == (32, 28, 28, 1) and labels.dtype == y.dtype
    batches.pool.shutdown()


def test_each_epoch_trains_on_its_own_shuffle():
    """Epoch e's batches are all, in order, from the (seed, e) shuffle: tf.data prefetches ahead of Keras's
    callbacks, so the data must not switch at them (it used to: epoch 0's shuffle was never trained on, and the
    last one twice)."""
    import keras

    x, y = draw_bars(96, seed=3)
    epochs, batch_size = 3, 32
    dataset = train.make_train_dataset(x, y, batch_size, augment=False, seed=5, epochs=epochs)
    served = []
    serve = type(dataset).__getitem__

    def recording(self, index):
        images, labels = serve(self, index)
        served.append((index, labels.copy()))
        return images, labels

    type(dataset).__getitem__ = recording
    model = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    model.fit(dataset.as_dataset(), epochs=epochs, shuffle=False, verbose=0)  # as train.py fits
    dataset.pool.shutdown()
    steps = len(dataset)
    assert len(served) == epochs * steps  # one pass an epoch, nothing read ahead into a pass Keras does not train on
    trained = served
    for epoch in range(epochs):
        labels = dataset._make(epoch)[1]
        for step in range(steps):
            index, got = trained[epoch * steps + step]
            assert index == step
            np.testing.assert_array_equal(got, labels[step * batch_size : (step + 1) * batch_size], err_msg=f"epoch {epoch}")
