"""Fused dense: ``y = activation(x @ kernel + bias)`` for x of any rank
(the last axis is contracted, leading axes are batch).

Public :func:`dense`, reference :func:`dense_ref` in keras.ops, and the
implementation: on the native path the matrix product runs in TensorFlow and
the bias and activation in the fused ``bias_act`` kernel (one pass instead of
two or three, forward and backward).
"""

from __future__ import annotations

import keras
from keras import ops

from zoo.ops._activations import Activation, resolve
from zoo.ops.bias_act import _bias_act, bias_act_ref, uses_native


def dense_ref(x, kernel, bias=None, activation="linear"):
    """Reference: ``activation(matmul(x, kernel) + bias)`` in keras.ops."""
    return bias_act_ref(ops.matmul(x, kernel), bias, activation)


def _check(x, kernel, bias):
    if len(kernel.shape) != 2:
        raise ValueError(f"kernel must be 2-D (in, out), got shape {tuple(kernel.shape)}")
    if len(x.shape) < 1:
        raise ValueError("x must have at least one axis")
    k_in, units = kernel.shape
    if x.shape[-1] is not None and k_in is not None and x.shape[-1] != k_in:
        raise ValueError(
            f"x's last axis is {x.shape[-1]} but kernel expects {k_in} inputs "
            f"(kernel shape {tuple(kernel.shape)})"
        )
    if bias is not None:
        if len(bias.shape) != 1:
            raise ValueError(f"bias must be 1-D, got shape {tuple(bias.shape)}")
        if bias.shape[0] is not None and units is not None and bias.shape[0] != units:
            raise ValueError(f"bias has {bias.shape[0]} values but kernel has {units} units")
    xd = keras.backend.standardize_dtype(x.dtype)
    kd = keras.backend.standardize_dtype(kernel.dtype)
    if xd != kd:
        raise TypeError(f"x dtype {xd} differs from kernel dtype {kd}; cast one of them")


class Dense(keras.Operation):
    """Symbolic form of :func:`dense` for KerasTensors."""

    def __init__(self, activation: Activation, name=None):
        super().__init__(name=name)
        self.activation = activation

    def call(self, x, kernel, bias=None):
        return _dense(x, kernel, bias, self.activation)

    def compute_output_spec(self, x, kernel, bias=None):
        _check(x, kernel, bias)
        return keras.KerasTensor(tuple(x.shape[:-1]) + (kernel.shape[1],), dtype=x.dtype)


def dense(x, kernel, bias=None, activation="linear"):
    """``activation(x @ kernel + bias)`` with a fused bias+activation epilogue.

    Args:
        x: float tensor (..., in).
        kernel: (in, units), x's dtype.
        bias: (units,) or None.
        activation: as for :func:`zoo.ops.bias_act`.

    Returns:
        (..., units), x's dtype.
    """
    act = resolve(activation)
    if keras.backend.is_keras_tensor(x):
        return Dense(act).symbolic_call(x, kernel, bias)
    return _dense(x, kernel, bias, act)


def _dense(x, kernel, bias, act: Activation):
    x = ops.convert_to_tensor(x)
    kernel = ops.convert_to_tensor(kernel)
    if bias is not None:
        bias = ops.convert_to_tensor(bias)
    _check(x, kernel, bias)
    if not uses_native(x.dtype):
        return dense_ref(x, kernel, bias, act)
    return _bias_act(ops.matmul(x, kernel), bias, act)
