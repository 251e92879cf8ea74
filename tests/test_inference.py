"""inference.interpret / predicted_labels: one reading of 10- and 11-output models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import inference


def test_ten_outputs_always_answer_a_digit():
    answer = inference.interpret(np.array([0.05] * 9 + [0.55]))
    assert answer.digit == 9 and answer.not_digit == 0.0 and answer.confidence == pytest.approx(0.55)
    assert answer.low_confidence


def test_not_a_digit_above_the_threshold():
    row = np.array([0.02] * 10 + [0.8])
    answer = inference.interpret(row)
    assert answer.digit is None and answer.confidence == pytest.approx(0.8) and not answer.low_confidence
    assert inference.predicted_labels(row[None]).tolist() == [inference.NOT_A_DIGIT]


def test_digit_probabilities_are_renormalized_without_the_11th():
    row = np.array([0.0, 0.3, 0.0, 0.0, 0.0, 0.0, 0.0, 0.3, 0.0, 0.0, 0.4])  # 0.4 < threshold: a digit answer
    answer = inference.interpret(row)
    assert answer.digit in (1, 7) and answer.probabilities.sum() == pytest.approx(1.0)
    assert answer.confidence == pytest.approx(0.5) and answer.not_digit == pytest.approx(0.4)


def _digit_or_not(digit: int | None, probability: float) -> np.ndarray:
    row = np.full(11, (1 - probability) / 10)
    row[inference.NOT_A_DIGIT if digit is None else digit] = probability
    return row


def test_a_number_with_a_digit_reads_its_odd_pieces_as_digits():
    odd = _digit_or_not(None, 0.8)
    odd[4] += 0.01  # the likeliest digit of the odd piece
    sure = _digit_or_not(None, (1 + inference.NUMBER_NOT_DIGIT_THRESHOLD) / 2)
    assert inference.NOT_DIGIT_THRESHOLD <= 0.8 < inference.NUMBER_NOT_DIGIT_THRESHOLD
    answers = inference.interpret_number(np.stack([_digit_or_not(1, 0.99), odd, sure]))
    assert [answer.digit for answer in answers] == [1, 4, None]
    assert answers[1].not_digit == pytest.approx(0.8) and answers[1].confidence == pytest.approx(0.03 / 0.21)
    # No piece is a digit: no number, and every piece keeps interpret's answer.
    alone = inference.interpret_number(np.stack([odd, _digit_or_not(None, 0.6)]))
    assert [answer.digit for answer in alone] == [None, None]
    assert [answer.digit for answer in inference.interpret_number(odd[None])] == [None]


def test_vectorized_rule_matches_interpret():
    rows = np.random.default_rng(0).dirichlet(np.ones(11) * 0.3, size=500)
    expected = [inference.NOT_A_DIGIT if (answer := inference.interpret(row)).digit is None else answer.digit for row in rows]
    assert inference.predicted_labels(rows).tolist() == expected


@pytest.mark.skipif(not inference.DEFAULT_TFLITE_PATH.exists(), reason="no shipped .tflite model")
def test_one_thread_and_any_batch_give_the_same_rows():
    """evaluate.py beside its workers runs the interpreter on one thread, MODEL_BATCH images a call: the rows must
    be exactly those of the default (a thread per core, all images in one call), or answers would depend on them."""
    pytest.importorskip("ai_edge_litert")
    images = np.random.default_rng(0).random((24, 28, 28, 1), dtype=np.float32)
    default = inference.load_predictor(inference.DEFAULT_TFLITE_PATH)
    single = inference.load_predictor(inference.DEFAULT_TFLITE_PATH, threads=1)
    expected = default.predict(images)
    for batch in (1, 8, 24):
        rows = np.concatenate([single.predict(images[start : start + batch]) for start in range(0, len(images), batch)])
        np.testing.assert_array_equal(rows, expected)


@pytest.mark.parametrize(("setting", "pooled"), [(None, True), ("false", False)], ids=["default", "user-choice"])
def test_tensorflow_keeps_the_memory_it_frees_unless_the_user_says_otherwise(setting, pooled):
    # TensorFlow reports a CPU allocator's statistics only for its BFC allocator, the one that keeps freed memory
    # for the next tensors; a fresh process, because the allocator is chosen when TensorFlow starts.
    import os
    import subprocess
    import sys

    env = {key: value for key, value in os.environ.items() if key != "TF_CPU_ALLOCATOR_USE_BFC"}
    if setting is not None:
        env["TF_CPU_ALLOCATOR_USE_BFC"] = setting
    code = (
        "import inference; inference.import_tensorflow_quietly(); import tensorflow as tf\n"
        "x = tf.ones((256, 256)) * 2\n"
        "try:\n    print(tf.config.experimental.get_memory_info('CPU:0')['peak'] > 0)\n"
        "except ValueError:\n    print('no statistics')\n"
    )
    root = Path(inference.__file__).parent
    result = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert result.stdout.strip().splitlines()[-1] == ("True" if pooled else "no statistics")
