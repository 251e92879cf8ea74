"""model.py: each architecture builds, compiles and maps (N, 28, 28, 1) images to (N, 10) probabilities."""

from __future__ import annotations

import numpy as np
import pytest

import model


@pytest.mark.parametrize("arch", sorted(model.BUILDERS))
def test_shapes_and_probabilities(arch):
    network = model.build_model(arch)
    assert network.input_shape == (None, 28, 28, 1)
    assert network.output_shape == (None, 10)
    probabilities = np.asarray(network(np.random.default_rng(0).random((3, 28, 28, 1), dtype=np.float32)))
    assert probabilities.shape == (3, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    assert network.optimizer.__class__.__name__ == "Adam"
    assert network.loss == "sparse_categorical_crossentropy"


def test_seed_is_the_reference_layer_for_layer():
    kinds = [layer.__class__.__name__ for layer in model.build_model("seed").layers]
    assert kinds == [
        "Conv2D", "MaxPooling2D", "Dropout", "Conv2D", "MaxPooling2D", "Dropout", "Flatten", "Dense", "Dropout", "Dense",
    ]  # fmt: skip
    seed = model.build_model("seed")
    assert [seed.layers[i].filters for i in (0, 3)] == [64, 32]
    assert [seed.layers[i].kernel_size for i in (0, 3)] == [(2, 2), (2, 2)]
    assert [seed.layers[i].rate for i in (2, 5, 8)] == [0.3, 0.3, 0.5]
    assert seed.layers[7].units == 256


def test_every_architecture_has_a_recipe():
    import train

    assert list(train.RECIPES) == list(model.BUILDERS)
    recipe = train.RECIPES["seed"]
    assert (recipe.epochs, recipe.batch_size, recipe.validation_split, recipe.augment) == (10, 60, 0.3, False)


def test_learning_rate_reaches_the_optimizer():
    network = model.build_model("default", learning_rate=0.0123)
    assert float(network.optimizer.learning_rate) == pytest.approx(0.0123)


def test_unknown_architecture():
    with pytest.raises(ValueError, match="unknown architecture"):
        model.build_model("resnet")
