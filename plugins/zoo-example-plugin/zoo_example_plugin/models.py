"""Builders of the example plugin's models (imported when a model is created)."""

import keras

from zoo.layers import BiasActivation


def build_mlp(*, input_shape, num_classes, hidden=16):
    inputs = keras.Input(input_shape)
    x = keras.layers.Dense(hidden, use_bias=False)(inputs)
    x = BiasActivation("gelu")(x)
    # keras-zoo replaces the layer named "head" when num_classes changes.
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="head")(x)
    return keras.Model(inputs, outputs, name="example_mlp")


def build_cnn(*, input_shape, num_classes, width=8):
    inputs = keras.Input(input_shape)
    x = inputs
    for filters in (width, 2 * width):
        x = keras.layers.Conv2D(filters, 3, strides=2, padding="same", use_bias=False)(x)
        x = BiasActivation("relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(num_classes, name="head")(x)
    return keras.Model(inputs, outputs, name="example_cnn")
