"""Average the members of models that train.py wrote into one model, with its own test figures, plots and exports.

Members can then be trained apart (in separate runs, sessions or machines) and shipped as one: the shipped model
is eight members of the default recipe, trained four at a time. Each source is a folder train.py wrote
(``mnist_cnn.keras`` and ``metrics.json``); a source that is itself an ensemble gives all of its members.

    python ensemble.py runs/a runs/b --out-dir models --force

The output folder gets what train.py writes, from the same functions: the .keras, the 8-bit .tflite,
metrics.json and the plots. The test set is read once, for the report, as in train.py.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

import data
import metrics
import train
from atomic import write_json
from cli import HelpFormatter, fail
from inference import MODEL_NAME, NOT_A_DIGIT, import_tensorflow_quietly, predicted_labels

SOURCE_KEYS = ("command", "test_accuracy", "members", "fit_seconds", "train_seconds", "machine", "versions")  # kept per source


class SourceError(Exception):
    """A source folder cannot be used; the message is one line for users."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ensemble.py",
        description="Average the members of models that train.py wrote into one model (.keras, .tflite, metrics.json, plots).",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("sources", nargs="+", type=Path, help="folders train.py wrote (each with mnist_cnn.keras and metrics.json)")
    parser.add_argument("--out-dir", type=Path, required=True, help="where the averaged model and its figures are written")
    parser.add_argument("--force", action="store_true", help="replace a model in --out-dir even if it scored better")
    parser.add_argument("--data", default=None, help="MNIST .npz or IDX folder (default: as train.py looks for it)")
    return parser


def read_source(folder: Path) -> tuple[dict, list]:
    """The run's metrics.json and its member models (a single model is one member)."""
    import keras

    try:
        record = json.loads((folder / "metrics.json").read_text())
        if not isinstance(record.get("config"), dict) or "outputs" not in record:
            raise ValueError("not a train.py record")
    except OSError as error:
        raise SourceError(f"{folder}: cannot read its metrics.json ({error.strerror or error})") from None
    except (ValueError, AttributeError):  # not JSON, or not an object with a config and outputs
        raise SourceError(f"{folder}: its metrics.json is not a record that train.py wrote") from None
    try:
        model = keras.models.load_model(folder / f"{MODEL_NAME}.keras", compile=False)
    except Exception as error:  # Keras raises ValueError, OSError, zipfile errors... for a missing or damaged file
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise SourceError(f"{folder / f'{MODEL_NAME}.keras'}: cannot load ({reason})") from None
    members = [layer for layer in model.layers if isinstance(layer, keras.Model)] or [model]
    if len(members) != record.get("members", 1):
        raise SourceError(f"{folder}: the model has {len(members)} members, its metrics.json says {record.get('members')}")
    return record, members


def _error(message: str) -> int:
    return fail("ensemble.py", message)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    started = time.perf_counter()
    out_dir = args.out_dir.expanduser()
    if out_dir.exists() and not out_dir.is_dir():
        return _error(f"--out-dir {out_dir} exists and is not a folder")

    import_tensorflow_quietly()
    records, members = [], []
    try:
        for folder in args.sources:
            record, found = read_source(folder)
            records.append(record)
            members += found
    except SourceError as error:
        return _error(str(error))
    outputs = {record["outputs"] for record in records}
    if len(outputs) > 1:
        return _error(f"the sources' models answer different numbers of classes ({', '.join(map(str, sorted(outputs)))})")
    if len(members) < 2:
        return _error("the sources hold one member in all: nothing to average")
    try:
        dataset = data.load_mnist(args.data)
    except data.DataError as error:
        return _error(str(error))
    model = train.average_members(members)

    # The first source's validation images, as its calibration saw them: the suggested low-confidence threshold.
    config, seed = records[0]["config"], records[0]["config"]["seed"]
    x_all, y_all = train.as_uint8(dataset.x_train), dataset.y_train
    if config.get("limit"):
        x_all, y_all = x_all[: config["limit"]], y_all[: config["limit"]]
    _, _, x_val, y_val = train.split_validation(x_all, y_all, config["validation_split"])
    x_val, y_val = train.add_not_digits(x_val, y_val, config["not_digits"], seed + 1)
    low_confidence = None
    if len(x_val):
        hard_val = train.calibration_images(x_val, y_val, config["augment"])
        low_confidence = train.suggest_low_confidence(np.asarray(model.predict(hard_val, batch_size=1024, verbose=0)), y_val)

    probabilities = np.asarray(model.predict(dataset.x_test, batch_size=1024, verbose=0))
    summary = metrics.summarize(dataset.y_test, probabilities)
    turned_away = float((predicted_labels(probabilities) == NOT_A_DIGIT).mean())
    member_histories = [history for record in records for history in record.get("member_histories") or [record["history"]]]
    history = {key: np.mean([h[key] for h in member_histories], axis=0).tolist() for key in member_histories[0]}

    destination = train.destination_for(out_dir, train.portable_path(out_dir), summary["accuracy"], args.force)
    try:
        artifacts, difference = train.write_model_and_plots(model, history, destination, dataset, probabilities, summary, seed)
        record = {
            "command": shlex.join(["python", "ensemble.py", *argv]),
            "test_accuracy": summary["accuracy"],
            "test_loss": summary["loss"],
            "test_turned_away": turned_away,
            "per_class": summary["per_class"],
            "confusion_matrix": summary["confusion_matrix"],
            "config": {**config, "members": len(members), "out_dir": train.portable_path(destination)},
            "sources": [{key: record.get(key) for key in SOURCE_KEYS} for record in records],
            "epochs_run": records[0]["epochs_run"],
            "epoch_seconds": [seconds for record in records for seconds in record["epoch_seconds"]],
            "fit_seconds": round(sum(record["fit_seconds"] for record in records), 1),  # the sources' training, added up
            "train_seconds": round(sum(record["train_seconds"] for record in records), 1),
            "wall_seconds": round(time.perf_counter() - started, 1),  # this averaging run
            "members": len(members),
            "temperatures": [t for record in records for t in record["temperatures"]],
            "member_test_accuracies": [a for record in records for a in record["member_test_accuracies"]],
            "suggested_low_confidence": low_confidence,
            "outputs": outputs.pop(),
            "tflite_max_abs_difference": difference,
            "history": history,
            "member_histories": member_histories,
            "data": {
                "source": dataset.source if dataset.source == "keras download" else train.portable_path(dataset.source),
                "sha256": dataset.sha256,
                "test_images": len(dataset.y_test),
            },
            "parameters": model.count_params(),
            "versions": train.library_versions(),
            "machine": train.machine(),
        }
        artifacts["metrics"] = write_json(destination / "metrics.json", record)
    except KeyboardInterrupt:
        print("\nensemble.py: interrupted while saving; files already renamed into place are complete", file=sys.stderr)
        return 130
    except OSError as error:
        return _error(f"cannot write to {destination}: {error}")

    member_figures = ", ".join(f"{a:.2%}" for a in record["member_test_accuracies"])
    print(
        f"\n{len(members)} members averaged: test accuracy {summary['accuracy']:.2%} ({turned_away:.2%} of test digits turned away "
        f"as not a digit), test loss {summary['loss']:.4f}; the members alone: {member_figures}"
    )
    for name, path in artifacts.items():
        print(f"  {name:<19} {train.portable_path(path)}")
    return 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except KeyboardInterrupt:
        print("\nensemble.py: interrupted; nothing was written", file=sys.stderr)
        raise SystemExit(130) from None
