"""Keras layer over zoo.ops.bias_act."""

from __future__ import annotations

import keras

from zoo.ops import bias_act
from zoo.ops._activations import resolve


def activation_config(activation):
    """Serialisable form of an activation argument (shared by zoo layers)."""
    return resolve(activation).config()


@keras.saving.register_keras_serializable(package="zoo")
class BiasActivation(keras.layers.Layer):
    """Adds a learned bias on the last axis and applies an activation, fused.

    Equivalent to ``keras.layers.Activation(activation)`` applied after a bias
    add, in one pass over the data on the native path.

    Args:
        activation: name (``"gelu"``, ``"relu6"``...), ``keras.activations``
            function or dict ``{"name": "relu", "max_value": 6.0}``.
        use_bias: whether to learn a bias.
        bias_initializer: initializer for the bias.
        bias_regularizer: regularizer for the bias.
        bias_constraint: constraint for the bias.
        **kwargs: base layer arguments (``name``, ``dtype``...).

    Example:
    >>> x = keras.Input((16,))
    >>> y = zoo.layers.BiasActivation("gelu")(keras.layers.Dense(32, use_bias=False)(x))
    """

    def __init__(
        self,
        activation="linear",
        use_bias=True,
        bias_initializer="zeros",
        bias_regularizer=None,
        bias_constraint=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.activation = resolve(activation)
        self.use_bias = use_bias
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.bias_constraint = keras.constraints.get(bias_constraint)
        # Acts on the last axis only, like Dense: a timestep mask passes through.
        self.supports_masking = True

    def build(self, input_shape):
        if self.use_bias:
            channels = input_shape[-1]
            if channels is None:
                raise ValueError("BiasActivation needs a known last axis to create its bias")
            self.bias = self.add_weight(
                name="bias",
                shape=(channels,),
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )
        else:
            self.bias = None

    def call(self, inputs):
        bias = self.bias
        if bias is not None:
            bias = keras.ops.cast(bias, inputs.dtype)
        return bias_act(inputs, bias, self.activation)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "activation": activation_config(self.activation),
                "use_bias": self.use_bias,
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
                "bias_constraint": keras.constraints.serialize(self.bias_constraint),
            }
        )
        return config
