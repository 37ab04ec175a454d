"""Building blocks shared by the model builders: the native/stock layer switch,
heads and the keras.applications argument checks.

Every builder takes ``native``. With ``native=True`` dense layers are
:class:`zoo.layers.FusedDense` and bias+activation epilogues are
:class:`zoo.layers.BiasActivation`, so zoo's fused kernels run on the hot path.
With ``native=False`` the same architecture is built from stock Keras layers
under the same layer names and with the same flat weight list, so
``stock.set_weights(native.get_weights())`` works and both give the same outputs.
The one place where the layouts differ per layer is a convolution with a bias:
natively the bias lives in the ``*_act`` BiasActivation after a bias-free
convolution (so it is added in the fused kernel), in the stock build it lives in
the convolution itself, the way Keras users write it. The flat order (kernel,
then bias) is the same either way.
"""

from __future__ import annotations

import keras

from zoo.layers import BiasActivation, FusedDense
from zoo.ops._activations import resolve

POOLINGS = (None, "avg", "max")


def fusable(activation) -> bool:
    """Whether zoo's fused kernels implement ``activation`` (softmax, for one, is not)."""
    if activation is None:
        return True
    try:
        resolve(activation)
    except ValueError:
        return False
    return True


class Blocks:
    """Layer factory for one build: zoo layers when ``native`` else stock Keras layers.

    Args:
        native: build on zoo's fused layers (True) or on stock Keras layers (False).
    """

    def __init__(self, native: bool = True):
        self.native = bool(native)

    def dense(self, units, activation=None, name=None, **kwargs):
        cls = FusedDense if self.native else keras.layers.Dense
        return cls(units, activation=activation, name=name, **kwargs)

    def act(self, activation, name=None):
        """A bias-free activation inside a conv block (after BatchNorm, whose beta
        already is the bias, or after a residual add).

        Stock Keras on both builds: here TensorFlow's graph optimiser fuses the
        activation into the BatchNorm / convolution before it (oneDNN), which a
        separate zoo op would prevent; measured, the zoo op cost CNN training
        steps 4-11 % (benchmarks/RESULTS.md, "Model families"). zoo's kernels
        stay where they win: the dense layers and standalone bias+activation.
        """
        return keras.layers.Activation(activation, name=name)

    def conv_act(self, x, conv_cls, filters, kernel_size, activation, name, **conv_kwargs):
        """Convolution + bias + activation without BatchNorm: layers ``{name}_conv``, ``{name}_act``."""
        if self.native:
            x = conv_cls(filters, kernel_size, use_bias=False, name=f"{name}_conv", **conv_kwargs)(x)
            return BiasActivation(activation, name=f"{name}_act")(x)
        x = conv_cls(filters, kernel_size, use_bias=True, name=f"{name}_conv", **conv_kwargs)(x)
        return keras.layers.Activation(activation, name=f"{name}_act")(x)

    def conv_bn_act(self, x, conv_cls, filters, kernel_size, activation, name, zero_gamma=False,
                    **conv_kwargs):
        """Convolution + BatchNorm (+ activation when not None): ``{name}_conv``, ``_bn``, ``_act``.

        ``zero_gamma`` starts the BatchNorm scale at zero, for the last BatchNorm of
        a residual branch: each block then starts as the identity.
        """
        x = conv_cls(filters, kernel_size, use_bias=False, name=f"{name}_conv", **conv_kwargs)(x)
        x = keras.layers.BatchNormalization(
            epsilon=1.001e-5, gamma_initializer="zeros" if zero_gamma else "ones", name=f"{name}_bn"
        )(x)
        if activation is not None:
            x = self.act(activation, name=f"{name}_act")(x)
        return x

    def head(self, x, num_classes, classifier_activation, dropout=0.0):
        """Dropout, the ``head`` layer, and a separate ``predictions`` activation
        when the fused kernels do not implement it (softmax)."""
        if dropout:
            x = keras.layers.Dropout(dropout, name="head_dropout")(x)
        if fusable(classifier_activation):
            return self.dense(num_classes, activation=classifier_activation, name="head")(x)
        x = self.dense(num_classes, name="head")(x)
        return keras.layers.Activation(classifier_activation, name="predictions")(x)


def check_common(*, num_classes, include_top, pooling, dropout):
    if include_top and (not isinstance(num_classes, int) or num_classes <= 0):
        raise ValueError(f"include_top=True needs a positive integer num_classes, got {num_classes!r}")
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of None, 'avg', 'max', got {pooling!r}")
    if not 0.0 <= float(dropout) < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")


def global_pool(x, pooling):
    """Global "avg" or "max" pooling over the spatial (or time) axes; None: x unchanged."""
    if pooling is None:
        return x
    two_d = len(x.shape) == 4
    if pooling == "avg":
        cls = keras.layers.GlobalAveragePooling2D if two_d else keras.layers.GlobalAveragePooling1D
    else:
        cls = keras.layers.GlobalMaxPooling2D if two_d else keras.layers.GlobalMaxPooling1D
    return cls(name=f"{pooling}_pool")(x)


def image_input(input_shape, *, min_side=None):
    """An image Input; ``input_shape`` is (height, width, channels), any channel count."""
    shape = tuple(input_shape)
    if len(shape) != 3 or shape[-1] is None:
        raise ValueError(
            f"input_shape must be (height, width, channels) with a known channel count, got {shape}"
        )
    if min_side is not None:
        for side in shape[:2]:
            if side is not None and side < min_side:
                raise ValueError(f"input_shape {shape} is too small: each side must be >= {min_side}")
    return keras.Input(shape, name="image")
