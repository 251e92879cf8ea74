"""Builders that return compiled Keras CNNs for 28x28x1 MNIST digits, one per named architecture."""

from __future__ import annotations

from collections.abc import Callable

import keras
from keras import layers

from data import IMAGE_SIZE, NUM_CLASSES

INPUT_SHAPE = (IMAGE_SIZE, IMAGE_SIZE, 1)
DEFAULT_LEARNING_RATE = 1e-3  # Adam's own default; train.py passes each recipe's rate
# Faster-moving BatchNorm statistics than Keras's 0.99, so short smoke runs evaluate sensibly too.
BATCHNORM_MOMENTUM = 0.9


def compile_model(model: keras.Model, learning_rate: float | keras.optimizers.schedules.LearningRateSchedule) -> keras.Model:
    """Attach Adam, sparse categorical crossentropy and accuracy."""
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        # XLA on this CPU build trains several times slower than the plain TensorFlow kernels.
        jit_compile=False,
    )
    return model


def build_seed(learning_rate: float = DEFAULT_LEARNING_RATE, num_classes: int = NUM_CLASSES) -> keras.Model:
    """The classic reference CNN, layer for layer."""
    model = keras.Sequential(
        [
            keras.Input(shape=INPUT_SHAPE),
            layers.Conv2D(64, kernel_size=2, activation="relu"),
            layers.MaxPooling2D(pool_size=2),
            layers.Dropout(0.3),
            layers.Conv2D(32, kernel_size=2, activation="relu"),
            layers.MaxPooling2D(pool_size=2),
            layers.Dropout(0.3),
            layers.Flatten(),
            layers.Dense(256, activation="relu"),
            layers.Dropout(0.5),
            layers.Dense(num_classes, activation="softmax"),
        ],
        name="seed",
    )
    return compile_model(model, learning_rate)


def _conv_block(x, filters: int, kernel_size: int = 3, strides: int = 1, padding: str = "same"):
    # Conv without bias: the BatchNorm right after it has its own shift.
    x = layers.Conv2D(filters, kernel_size, strides=strides, padding=padding, use_bias=False)(x)
    x = layers.BatchNormalization(momentum=BATCHNORM_MOMENTUM)(x)
    return layers.ReLU()(x)


def _conv_relu(x, filters: int, kernel_size: int = 3):
    # No BatchNorm at 28x28 and 14x14: there it costs more than the convolutions on a CPU (a step is 1.7x faster without).
    return layers.Conv2D(filters, kernel_size, padding="same", activation="relu")(x)


def build_default(
    learning_rate: float = DEFAULT_LEARNING_RATE, num_classes: int = NUM_CLASSES, filters: tuple[int, int, int] = (32, 48, 96)
) -> keras.Model:
    """A stronger CNN of the same family: three conv stages, two pooling stages, BatchNorm where it is cheap, dropout.

    Sized for a 2-core CPU: one wide 5x5 conv at full resolution (cheap on a single input
    channel), the stacked 3x3 convs only after the first pooling, where they cost a quarter.
    BatchNorm only at 7x7 and in the dense layer, where it is cheap and still steadies a high learning rate.
    """
    return compile_model(_default_layout(INPUT_SHAPE, filters, 128, num_classes, "default"), learning_rate)


def _default_layout(
    input_shape: tuple[int, int, int], filters: tuple[int, int, int], dense: int, num_classes: int, name: str
) -> keras.Model:
    inputs = keras.Input(shape=input_shape)
    x = _conv_relu(inputs, filters[0], kernel_size=5)
    x = layers.MaxPooling2D(2)(x)  # 28 -> 14
    x = _conv_relu(x, filters[1])
    x = _conv_relu(x, filters[1])
    x = layers.MaxPooling2D(2)(x)  # 14 -> 7
    x = layers.Dropout(0.1)(x)
    x = _conv_block(x, filters[2], padding="valid")  # 7 -> 5
    x = layers.Flatten()(x)
    x = layers.Dense(dense, use_bias=False)(x)
    x = layers.BatchNormalization(momentum=BATCHNORM_MOMENTUM)(x)
    x = layers.ReLU()(x)
    x = layers.Dropout(0.4)(x)
    outputs = layers.Dense(num_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs, name=name)


def build_fast(
    learning_rate: float = DEFAULT_LEARNING_RATE, num_classes: int = NUM_CLASSES, filters: tuple[int, int, int] = (16, 32, 64)
) -> keras.Model:
    """A small CNN for the fast preset: a quarter of the default's work per image, BatchNorm at 7x7 for a high learning rate.

    Three conv stages at 28, 14 and 7 pixels; global pooling instead of a wide dense layer keeps it cheap.
    """
    inputs = keras.Input(shape=INPUT_SHAPE)
    x = _conv_relu(inputs, filters[0])
    x = layers.MaxPooling2D(2)(x)  # 28 -> 14
    x = _conv_relu(x, filters[1])
    x = layers.MaxPooling2D(2)(x)  # 14 -> 7
    x = _conv_block(x, filters[2])
    x = _conv_block(x, filters[2])
    x = layers.GlobalMaxPooling2D()(x)
    outputs = layers.Dense(num_classes, activation="softmax")(x)
    return compile_model(keras.Model(inputs, outputs, name="fast"), learning_rate)


BUILDERS: dict[str, Callable[..., keras.Model]] = {"default": build_default, "fast": build_fast, "seed": build_seed}


def build_model(
    arch: str,
    learning_rate: float | keras.optimizers.schedules.LearningRateSchedule = DEFAULT_LEARNING_RATE,
    num_classes: int = NUM_CLASSES,
) -> keras.Model:
    """Return the compiled model named ``arch`` ('default' or 'seed') with ``num_classes`` outputs (11: "not a digit" too)."""
    if arch not in BUILDERS:
        raise ValueError(f"unknown architecture {arch!r}; choose from {', '.join(BUILDERS)}")
    return BUILDERS[arch](learning_rate=learning_rate, num_classes=num_classes)


def build_pair_model(
    learning_rate: float | keras.optimizers.schedules.LearningRateSchedule = DEFAULT_LEARNING_RATE, num_classes: int = 101
) -> keras.Model:
    """The pair reader (pairs.py): two touching digits in 28x48 -> one of the 100 pairs, or "other" (class 100).

    The default CNN's layout on a field two digits wide, with more filters and a wider dense layer for a hundred classes.
    """
    return compile_model(_default_layout((IMAGE_SIZE, 48, 1), (32, 64, 128), 256, num_classes, "pairs"), learning_rate)
