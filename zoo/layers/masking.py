"""Masking: a drop-in for keras.layers.Masking on :func:`zoo.ops.sequence_mask`
(one native op on TensorFlow instead of Keras' four)."""

from __future__ import annotations

import keras
# Keras' own Masking attaches the mask to its output this way (no public name).
from keras.src.backend import set_keras_mask

from zoo.ops.sequence_mask import sequence_mask


@keras.saving.register_keras_serializable(package="zoo")
class Masking(keras.layers.Masking):
    """Masks the time steps whose features all equal ``mask_value``.

    Same argument, outputs and mask as ``keras.layers.Masking``: the output is
    the input with masked steps zeroed, and downstream layers that support
    masking (zoo.layers.LSTM / GRU among them) skip those steps. On TensorFlow
    the output and the mask come from one native op.

    Args:
        mask_value: the padding value.
        **kwargs: base layer arguments (name, dtype, ...).

    Example:
    >>> x = zoo.layers.Masking(0.0)(keras.Input((None, 8)))
    """

    def compute_mask(self, inputs, mask=None):
        return sequence_mask(inputs, self.mask_value)[1]

    def call(self, inputs):
        outputs, mask = sequence_mask(inputs, self.mask_value)
        # As Keras' Masking does: the output carries its mask, computed with it.
        set_keras_mask(outputs, mask=mask)
        return outputs
