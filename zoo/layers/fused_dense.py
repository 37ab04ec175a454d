"""FusedDense: a drop-in for keras.layers.Dense on zoo.ops.dense (zoo's own
GEMM with the bias and activation fused into it, float32; tf.matmul plus the
fused bias_act kernel where that is faster, and for float16/bfloat16)."""

from __future__ import annotations

import keras

from zoo.layers.bias_activation import activation_config
from zoo.ops.dense import dense
from zoo.ops._activations import resolve


@keras.saving.register_keras_serializable(package="zoo")
class FusedDense(keras.layers.Layer):
    """Densely connected layer whose bias and activation run fused with the product.

    Same arguments, weights (``kernel`` of shape (in, units), then ``bias``) and
    results as ``keras.layers.Dense``, so a Dense layer's weights load into it
    unchanged.

    Args:
        units: output width.
        activation: name, ``keras.activations`` function or dict (see
            :func:`zoo.ops.bias_act`); None means linear.
        use_bias: whether to learn a bias.
        kernel_initializer: initializer for the kernel.
        bias_initializer: initializer for the bias.
        kernel_regularizer: regularizer for the kernel.
        bias_regularizer: regularizer for the bias.
        activity_regularizer: regularizer for the output.
        kernel_constraint: constraint for the kernel.
        bias_constraint: constraint for the bias.
        **kwargs: base layer arguments (``name``, ``dtype``...).

    Example:
    >>> layer = zoo.layers.FusedDense(64, activation="gelu")
    >>> y = layer(keras.ops.ones((8, 32)))
    """

    def __init__(
        self,
        units,
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        **kwargs,
    ):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        if not isinstance(units, int) or units <= 0:
            raise ValueError(f"units must be a positive integer, got {units!r}")
        self.units = units
        self.activation = resolve(activation)
        self.use_bias = use_bias
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)
        self.bias_constraint = keras.constraints.get(bias_constraint)
        self.input_spec = keras.InputSpec(min_ndim=2)
        # Acts on the last axis only, like Dense: a timestep mask passes through.
        self.supports_masking = True

    def build(self, input_shape):
        in_dim = input_shape[-1]
        if in_dim is None:
            raise ValueError("FusedDense needs a known last input axis")
        self.kernel = self.add_weight(
            name="kernel",
            shape=(in_dim, self.units),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias",
                shape=(self.units,),
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )
        self.input_spec = keras.InputSpec(min_ndim=2, axes={-1: in_dim})

    def call(self, inputs, training=None):
        kernel = keras.ops.cast(self.kernel, inputs.dtype)
        bias = None if self.bias is None else keras.ops.cast(self.bias, inputs.dtype)
        # training=False (predict, evaluate) lets the native op skip saving the
        # pre-activation that only the backward pass reads.
        return dense(inputs, kernel, bias, self.activation, training=training)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "activation": activation_config(self.activation),
                "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
                "kernel_constraint": keras.constraints.serialize(self.kernel_constraint),
                "bias_constraint": keras.constraints.serialize(self.bias_constraint),
            }
        )
        return config
