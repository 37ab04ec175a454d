"""Keras' Masking in one op: :func:`sequence_mask` and its keras.ops reference
:func:`sequence_mask_ref`.

A row (all axes but the last; for a (batch, time, features) sequence, one time
step) is masked when every feature equals ``mask_value``. Returned: x with the
masked rows zeroed, and the (batch, time) boolean mask, exactly what
``keras.layers.Masking`` computes (its output and its ``compute_mask``; NaN
differs from every value, so a row holding one is kept).

On TensorFlow the native op (``ZooSequenceMask``, csrc/kernels/sequence_mask.h)
makes both in one pass; Keras' four ops for it (not_equal, any, where, squeeze)
cost more than a whole fused LSTM layer's input projection on a small batch,
mostly in TensorFlow's boolean reduction (benchmarks/RESULTS.md, "Masking in
one op"). Elsewhere (JAX, where XLA fuses the reference into one loop; inside
TF's XLA; float16/bfloat16; native off) the reference runs.
"""

from __future__ import annotations

import keras
from keras import ops

from zoo import _native
from zoo.ops._autograph import call_unconverted
from zoo.ops._once import once


def sequence_mask_ref(x, mask_value=0.0):
    """Reference: ``(where(mask, x, 0), mask)`` with ``mask = any(x != mask_value, -1)``."""
    keep = ops.any(ops.not_equal(x, mask_value), axis=-1, keepdims=True)
    return ops.where(keep, x, ops.zeros_like(x)), ops.squeeze(keep, axis=-1)


def _check(x):
    dtype = keras.backend.standardize_dtype(x.dtype)
    if not dtype.startswith(("float", "bfloat")):
        raise TypeError(f"masking needs floating-point inputs, got dtype {dtype}")
    if len(x.shape) < 1:
        raise ValueError("masking needs inputs with a feature axis (rank >= 1), got a scalar")
    return dtype


@keras.saving.register_keras_serializable(package="zoo")
class SequenceMask(keras.Operation):
    """Symbolic form of :func:`sequence_mask` for KerasTensors. A functional
    model records the mask that a Masking layer attaches to its output as the
    ops that made it, and runs those ops again for the layers that take the
    mask; recorded as this one operation, the mask is the native op's too. It
    is saved with the model (a .keras file names it ``zoo>SequenceMask``)."""

    def __init__(self, mask_value=0.0, name=None):
        super().__init__(name=name)
        self.mask_value = mask_value

    def get_config(self):
        return {**super().get_config(), "mask_value": self.mask_value}

    def call(self, x):
        return _sequence_mask(x, self.mask_value)

    def compute_output_spec(self, x):
        _check(x)
        return (keras.KerasTensor(x.shape, dtype=x.dtype),
                keras.KerasTensor(x.shape[:-1], dtype="bool"))


@call_unconverted
def sequence_mask(x, mask_value=0.0):
    """Zero the rows of ``x`` whose features all equal ``mask_value``; return
    ``(outputs, mask)``, mask being True for the rows kept.

    Args:
        x: float tensor of rank >= 1, features on the last axis.
        mask_value: the padding value (a Python number).

    Returns:
        ``outputs`` (x's shape and dtype) and ``mask`` (bool, x's shape
        without the last axis).

    Example:
    >>> seq, mask = zoo.ops.sequence_mask(padded_batch, 0.0)
    """
    if keras.backend.is_keras_tensor(x):
        return SequenceMask(mask_value).symbolic_call(x)
    return _sequence_mask(x, mask_value)


def _sequence_mask(x, mask_value):
    x = ops.convert_to_tensor(x)
    dtype = _check(x)
    if dtype == "float32" and _native.use_tf_native():
        return _tf_sequence_mask(x, float(mask_value))
    return sequence_mask_ref(x, mask_value)


# --------------------------------------------------------------------------
# TensorFlow op library path


def _tf_sequence_mask(x, mask_value):
    lib = _native.tf_ops()
    _register_gradients()
    return tuple(lib.zoo_sequence_mask(x, mask_value=mask_value))


@once
def _register_gradients():
    import tensorflow as tf

    @tf.RegisterGradient("ZooSequenceMask")
    def _zoo_sequence_mask_grad(op, dy, _dmask):
        # y = where(mask, x, 0): the gradient passes where the row is kept.
        # Plain TF ops, so second derivatives work too.
        if dy is None:
            return None
        return tf.where(op.outputs[1][..., None], dy, tf.zeros_like(dy))
