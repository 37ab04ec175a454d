"""The builder: keyword-only input_shape and num_classes, returns a keras.Model
whose classifier layer is named "head" (so create_model can replace it)."""

import keras

from zoo.layers import FusedDense


def mlp(*, input_shape, num_classes, width=32, activation="gelu"):
    inputs = keras.Input(input_shape, name="features")
    x = FusedDense(width, activation=activation, name="fc1")(inputs)
    x = FusedDense(width, activation=activation, name="fc2")(x)
    x = FusedDense(num_classes, name="head")(x)
    return keras.Model(inputs, keras.layers.Activation("softmax", name="predictions")(x), name="hello_mlp")
