"""LSTM and GRU: drop-ins for keras.layers.LSTM / GRU whose whole sequence
runs in zoo's fused recurrent kernel (zoo.ops.lstm / zoo.ops.gru) where it
applies, and in Keras' own loop otherwise.

They subclass Keras' layers and replace only ``inner_loop``, the hook Keras
itself uses to try cuDNN and fall back: arguments, weights (and their order),
masking, states, ``Bidirectional``, serialisation and every other behaviour
are Keras'. The native op runs when :func:`zoo.ops.rnn.native_unavailable`
finds nothing against it and, in addition, the layer is not unrolled and has
no recurrent dropout in training (input dropout is applied before the op, as
Keras does for cuDNN). Otherwise the reason is logged once per layer on the
``zoo`` logger.

On TensorFlow the native op also has XLA kernels (one custom call each way,
csrc/tensorflow/xla_rnn.cc), so ``compile(jit_compile=True)`` compiles the
model with XLA and keeps the fused kernel; only where those kernels are
missing (a build without TF's XLA headers) or TensorFlow sees a GPU does the
layer set ``supports_jit = False``. On JAX it is an XLA FFI custom call
inside the jitted program, and jit stays on. On JAX the kernel runs where it measured
faster than Keras' own loop (:func:`zoo.ops.rnn.jax_prefers_kernel`: in
training from batch 2; in inference at any batch up to 64 units (LSTM) or 128
(GRU), above that from batch 8 (LSTM) or 2 (GRU)); ``ZOO_JAX_PATH=ffi`` asks
for it always.
"""

from __future__ import annotations

import logging

import keras
from keras import ops

from zoo import _native
from zoo.ops import rnn as rnn_ops

_log = logging.getLogger("zoo")


class _FusedRecurrent:
    """The dispatch both layers share; mixed in before the Keras class."""

    def _init_native(self):
        self._fallback_logged = False
        # Without the op library's XLA kernels (or with a GPU, where XLA would
        # compile for it) Keras must not jit a model whose recurrent layers run
        # the TF op (decided again at each call). JAX's FFI kernels are custom
        # calls inside the jitted program.
        if self._static_reason() is None:
            self._disable_jit_for_native()

    def _disable_jit_for_native(self):
        if keras.backend.backend() == "tensorflow" and not _native.tf_xla_native():
            self.supports_jit = False

    def _static_reason(self):
        if self.unroll:
            return "unroll=True"
        return rnn_ops.native_unavailable(self.cell.activation, self.cell.recurrent_activation,
                                          self.compute_dtype)

    def _native_reason(self, training):
        reason = self._static_reason()
        if reason is None and training and self.recurrent_dropout:
            reason = "recurrent_dropout in training"
        return reason

    def _call_reason(self, sequences, training):
        reason = self._native_reason(training)
        if reason is None and keras.backend.backend() == "jax":
            cell = "lstm" if isinstance(self, keras.layers.LSTM) else "gru"
            batch = sequences.shape[0]
            if not rnn_ops.jax_prefers_kernel(cell, batch, bool(training), self.units):
                reason = (f"on JAX, Keras' loop is faster at batch {batch}"
                          f"{' in training' if training else f' in inference with {self.units} units'}"
                          " (zoo.ops.rnn.jax_prefers_kernel; ZOO_JAX_PATH=ffi forces the kernel)")
        return reason

    def inner_loop(self, sequences, initial_state, mask, training=False):
        reason = self._call_reason(sequences, training)
        if reason is not None:
            self._log_fallback(reason)
            return super().inner_loop(sequences, initial_state, mask, training=training)
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        self._disable_jit_for_native()
        return self._native_loop(self._dropped(sequences, training), initial_state, mask, training)

    def _log_fallback(self, reason):
        if not self._fallback_logged:
            _log.info("%s %r runs Keras' recurrent loop: %s", type(self).__name__, self.name,
                      reason)
            self._fallback_logged = True

    def _dropped(self, sequences, training):
        # As Keras' own inner_loop does before its fused (cuDNN) call: one
        # dropout mask per sequence, the same at every step.
        if not (training and self.dropout):
            return sequences
        dp_mask = self.cell.get_dropout_mask(sequences[:, 0, :])
        return sequences * ops.broadcast_to(ops.expand_dims(dp_mask, axis=1), ops.shape(sequences))


@keras.saving.register_keras_serializable(package="zoo")
class LSTM(_FusedRecurrent, keras.layers.LSTM):
    """Long short-term memory layer on zoo's fused whole-sequence kernel.

    Same arguments, weights and results as ``keras.layers.LSTM`` (a Keras
    LSTM's weights load unchanged); see the module docstring for when the
    native kernel runs.

    Args:
        units: width of the state.
        **kwargs: every other argument of ``keras.layers.LSTM``
            (activation, recurrent_activation, use_bias, initializers,
            regularizers, constraints, dropout, recurrent_dropout, seed,
            return_sequences, return_state, go_backwards, stateful, unroll, ...).

    Example:
    >>> y = zoo.layers.LSTM(64, return_sequences=True)(keras.ops.ones((8, 20, 16)))
    """

    def __init__(self, units, **kwargs):
        super().__init__(units, **kwargs)
        self._init_native()

    def _native_loop(self, sequences, initial_state, mask, training):
        return rnn_ops.lstm(
            sequences, initial_state[0], initial_state[1], mask,
            self.cell.kernel, self.cell.recurrent_kernel, self.cell.bias,
            activation=self.cell.activation, recurrent_activation=self.cell.recurrent_activation,
            return_sequences=self.return_sequences, go_backwards=self.go_backwards,
            zero_output_for_mask=self.zero_output_for_mask, training=training)


@keras.saving.register_keras_serializable(package="zoo")
class GRU(_FusedRecurrent, keras.layers.GRU):
    """Gated recurrent unit layer on zoo's fused whole-sequence kernel.

    Same arguments, weights and results as ``keras.layers.GRU``, with
    ``reset_after`` True (Keras' default, bias (2, 3 * units)) or False.

    Args:
        units: width of the state.
        **kwargs: every other argument of ``keras.layers.GRU``.

    Example:
    >>> y = zoo.layers.GRU(64)(keras.ops.ones((8, 20, 16)))
    """

    def __init__(self, units, **kwargs):
        super().__init__(units, **kwargs)
        self._init_native()

    def _native_loop(self, sequences, initial_state, mask, training):
        if isinstance(initial_state, (list, tuple)):
            initial_state = initial_state[0]
        return rnn_ops.gru(
            sequences, initial_state, mask, self.cell.kernel,
            self.cell.recurrent_kernel, self.cell.bias, activation=self.cell.activation,
            recurrent_activation=self.cell.recurrent_activation,
            return_sequences=self.return_sequences, go_backwards=self.go_backwards,
            reset_after=self.cell.reset_after, zero_output_for_mask=self.zero_output_for_mask,
            training=training)
