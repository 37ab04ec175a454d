"""Gradients of the native gradient ops, so that second derivatives work.

The native backward ops (``ZooBiasActGrad``, ``ZooDenseGrad``) are themselves
differentiated by recomputing what they compute with TensorFlow ops (the
activation's derivative from the keras.ops reference, under a tape) and taking
the gradient of that. Only gradient penalties, Hessian-vector products and the
like reach this code, so it favours being obviously right over speed.
"""

from __future__ import annotations

import math

from zoo.ops._activations import Activation, apply_reference, resolve


def activation_from_op(op) -> Activation:
    """The activation a native op was built with, from its attributes."""
    name = op.get_attr("activation")
    name = name.decode() if isinstance(name, bytes) else name
    alpha = op.get_attr("alpha")
    if math.isnan(alpha):  # not given: the activation's Keras default, as the kernel reads it
        alpha = resolve(name).alpha
    max_value = op.get_attr("max_value")  # 0 or inf: no cap
    return Activation(name, alpha=alpha,
                      max_value=None if max_value == 0 or math.isinf(max_value) else max_value,
                      threshold=op.get_attr("threshold"))


def _dy_times_derivative(z, dy, act: Activation):
    """dy * act'(z), written so that a surrounding tape can differentiate it."""
    import tensorflow as tf

    with tf.GradientTape() as tape:
        tape.watch(z)
        y = apply_reference(z, act)
    return tape.gradient(y, z, output_gradients=dy)


def bias_act_grad_grad(op, g_dx, g_dbias):
    """Gradient of ``(dx, dbias) = ZooBiasActGrad(dy, x, bias)``.

    dx = dy * f'(x + b) and dbias sums dx over every axis but the last, so an
    upstream gradient on dbias reaches dx broadcast over those axes.
    """
    import tensorflow as tf

    dy, x, bias = op.inputs
    use_bias = op.get_attr("use_bias")
    act = activation_from_op(op)
    upstream = tf.zeros_like(dy) if g_dx is None else g_dx
    if use_bias and g_dbias is not None:
        upstream = upstream + g_dbias
    sources = [dy, x] + ([bias] if use_bias else [])
    with tf.GradientTape() as tape:
        tape.watch(sources)
        z = x + bias if use_bias else x
        total = tf.reduce_sum(_dy_times_derivative(z, dy, act) * upstream)
    grads = tape.gradient(total, sources, unconnected_gradients=tf.UnconnectedGradients.ZERO)
    return grads[0], grads[1], (grads[2] if use_bias else None)


def dense_grad_grad(op, g_dx, g_dkernel, g_dbias):
    """Gradient of ``(dx, dkernel, dbias) = ZooDenseGrad(dy, x, kernel, bias, preact)``.

    The pre-activation is recomputed from x, kernel and bias rather than taken
    from the op's input, so the second-order terms through it reach x, kernel
    and bias directly; the preact input gets no gradient.
    """
    import tensorflow as tf

    dy, x, kernel, bias, _preact = op.inputs
    use_bias = op.get_attr("use_bias")
    act = activation_from_op(op)
    k_in, units = tf.shape(kernel)[0], tf.shape(kernel)[1]
    sources = [dy, x, kernel] + ([bias] if use_bias else [])
    with tf.GradientTape() as tape:
        tape.watch(sources)
        x2 = tf.reshape(x, [-1, k_in])
        z = tf.matmul(x2, kernel)
        if use_bias:
            z = z + bias
        dz = _dy_times_derivative(z, tf.reshape(dy, [-1, units]), act)
        total = tf.zeros([], dy.dtype)
        if g_dx is not None:
            total += tf.reduce_sum(tf.reshape(g_dx, [-1, k_in]) * tf.matmul(dz, kernel,
                                                                           transpose_b=True))
        if g_dkernel is not None:
            total += tf.reduce_sum(g_dkernel * tf.matmul(x2, dz, transpose_a=True))
        if use_bias and g_dbias is not None:
            total += tf.reduce_sum(g_dbias * tf.reduce_sum(dz, axis=0))
    grads = tape.gradient(total, sources, unconnected_gradients=tf.UnconnectedGradients.ZERO)
    return (grads[0], grads[1], grads[2], (grads[3] if use_bias else None), None)
