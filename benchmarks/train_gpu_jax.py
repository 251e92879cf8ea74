"""train.py on a GPU machine that has JAX but not TensorFlow's CUDA build: Keras's JAX backend, the same recipe.

    KERAS_BACKEND is set here; MNIST_DATA=path/to/mnist.npz python benchmarks/train_gpu_jax.py [train.py's flags]

Users and CI train on the CPU with TensorFlow. This is how the default run was measured on a lent H100 whose
image has JAX (with CUDA) and no TensorFlow, and where TensorFlow's CUDA build could not be brought (its wheel
and CUDA 12 libraries are about 1.5 GB; the machine has no network and CUDA 13). It runs train.main with
flags as given and patches only what needs TensorFlow:
- the input pipeline: train.py's batches go to Keras as a keras.utils.PyDataset instead of a tf.data pipeline;
- the training step is compiled with XLA (model.py compiles with jit_compile=False, which under JAX means
  op-by-op execution: 0.3 s a step on the H100);
- the .tflite export is skipped (TensorFlow's converter): `python ensemble.py RUN... --out-dir DIR` on a
  machine with TensorFlow writes it from the .keras, which every backend reads;
- the machine record lists JAX's devices, and metrics.json's command names this script.
Seeds give other weights than under TensorFlow (other kernels, non-deterministic GPU reductions).
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path

os.environ["KERAS_BACKEND"] = "jax"
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import jax  # noqa: E402
import keras  # noqa: E402

import train  # noqa: E402
from atomic import write_json  # noqa: E402


def machine() -> dict:
    return {
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "gpus": [str(device) for device in jax.devices()],
        "backend": f"jax {jax.__version__}",
    }


def make_train_dataset(*args, **kwargs):
    batches = make_tf_dataset(*args, **kwargs)

    class Batches(keras.utils.PyDataset):
        def __len__(self) -> int:
            return len(batches)

        def __getitem__(self, index: int):
            return batches[index]

    wrapped = Batches()
    batches.as_dataset = lambda: wrapped
    return batches


def compile_with_xla(self, *args, **kwargs):
    kwargs["jit_compile"] = True
    return keras_compile(self, *args, **kwargs)


make_tf_dataset, keras_compile = train.make_train_dataset, keras.Model.compile
train.make_train_dataset = make_train_dataset
keras.Model.compile = compile_with_xla
train.import_tensorflow_quietly = lambda: None
train.export_tflite = lambda model, path: None
write_model_and_plots = train.write_model_and_plots


written: list[Path] = []  # the folder the run wrote: --out-dir, or runs/<time>/ where a better model was kept


def write_without_tflite(model, history, destination, *args, **kwargs):
    written.append(destination)
    artifacts, difference = write_model_and_plots(model, history, destination, *args, **kwargs)
    artifacts.pop("tflite model", None)  # not written here
    return artifacts, difference


train.write_model_and_plots = write_without_tflite
train.machine = machine


def main(argv: list[str]) -> int:
    print(f"Keras {keras.__version__} on {keras.backend.backend()}, devices {jax.devices()}", flush=True)
    started = time.perf_counter()
    code = train.main(argv)
    print(f"train_gpu_jax: exit {code} after {time.perf_counter() - started:.1f} s", flush=True)
    if code == 0 and written:  # name the command that really ran, in the record this run wrote
        record_path = written[-1] / "metrics.json"
        record = json.loads(record_path.read_text())
        record["command"] = shlex.join(["KERAS_BACKEND=jax", "python", "benchmarks/train_gpu_jax.py", *argv])
        write_json(record_path, record)
    return code


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
