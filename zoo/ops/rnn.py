"""Whole-sequence LSTM and GRU: :func:`lstm`, :func:`gru`, their keras.ops
references :func:`lstm_ref`, :func:`gru_ref`, and the dispatch between them.

Both take and return what Keras' ``backend.lstm`` / ``backend.gru`` do
(``(last_output, outputs, states)``, outputs in processing order, so reversed
under ``go_backwards``), with Keras' cell equations, weight layouts and mask
semantics; the references define those semantics in keras.ops.

The native path is the ``ZooRnn`` op (csrc/kernels/rnn.h; inside
``jit_compile=True`` its XLA kernel, one custom call): the input
projection for every step as one GEMM, then per step the recurrent GEMM and
one fused pass; backward (``ZooRnnGrad``) runs BPTT in one call and forms the
weight gradients as large GEMMs. It runs when :func:`native_unavailable`
returns None: native enabled, TensorFlow backend, the op library loaded, a
floating dtype (float16/bfloat16 are computed in float32), and activations the
kernel has loops for. Second derivatives through it are not implemented and
raise; the references (``zoo.native(False)``) have them.

On the JAX backend the same kernels run as XLA FFI custom calls inside the
jitted program (``ZooRnnFwd`` / ``ZooRnnBwd``, zoo/ops/_jax.py), with the same
conditions, float32 compute and results.
"""

from __future__ import annotations

import keras
from keras import ops

from zoo import _native
from zoo.ops._activations import Activation, resolve
from zoo.ops._autograph import call_unconverted
from zoo.ops._once import once

# What the kernel core has fused loops for (rnn_supports in csrc/kernels/rnn.cc).
KERNEL_RNN_ACTIVATIONS = ("linear", "relu", "sigmoid", "tanh", "hard_sigmoid")
NATIVE_DTYPES = ("float32", "float16", "bfloat16")


def _kernel_activation(activation) -> Activation | None:
    """The kernel's form of an activation, or None when it has no loop for it."""
    try:
        act = resolve(activation)
    except ValueError:
        return None
    if act.name not in KERNEL_RNN_ACTIVATIONS or act != Activation(act.name):
        return None
    return act


def native_unavailable(activation, recurrent_activation, dtype) -> str | None:
    """Why :func:`lstm` / :func:`gru` would not run natively (None: they would).

    With ZOO_REQUIRE_NATIVE=1 a missing op library raises instead.
    """
    if not _native.native_enabled():
        return "zoo's native kernels are switched off (ZOO_NATIVE=0 or zoo.native(False))"
    backend = keras.backend.backend()
    if backend == "tensorflow":
        if _native.tf_ops() is None:
            return f"the TensorFlow op library is not loaded ({_native.tf_ops_error()})"
        if _native.tf_in_xla() and not _native.tf_xla_native():
            return ("XLA is compiling this function and the op library has no XLA kernels "
                    "for it here (zoo doctor says why)")
    elif backend == "jax":
        if _native.jax_ops() is None:
            return f"the JAX FFI library is not loaded ({_native.jax_ops_error()})"
        import zoo.ops._jax as _jax

        if not _jax.has_handlers(recurrent=True):
            return (f"JAX's default device is a {_jax.default_platform().upper()}; the fused "
                    "recurrent kernels run on the CPU only")
    else:
        _native.check_backend_has_kernels(backend)
        return f"the Keras backend is {backend}; zoo's native kernels run on TensorFlow and JAX"
    dtype = keras.backend.standardize_dtype(dtype)
    if dtype not in NATIVE_DTYPES:
        return f"dtype {dtype} (the kernel computes float32, float16 and bfloat16)"
    for what, a in (("activation", activation), ("recurrent_activation", recurrent_activation)):
        if _kernel_activation(a) is None:
            return (f"{what} {getattr(a, '__name__', a)!r} has no fused loop (supported: "
                    f"{', '.join(KERNEL_RNN_ACTIVATIONS)})")
    return None


# --------------------------------------------------------------------------
# References (keras.ops)


def _time_major(x):
    return ops.transpose(x, (1, 0, 2))


def _scan_rnn(step, sequences, states, mask, go_backwards, zero_output_for_mask,
              return_sequences):
    """Keras' backend.rnn semantics over ``step(x_t, states) -> (h, states)``."""
    xs = _time_major(sequences)
    batch = ops.shape(sequences)[0]
    if mask is None:
        ms = ops.ones(ops.shape(xs)[:2], dtype="bool")
    else:
        ms = ops.transpose(ops.cast(mask, "bool"), (1, 0))
    if go_backwards:
        xs, ms = ops.flip(xs, 0), ops.flip(ms, 0)
    units = ops.shape(states[0])[-1]
    prev = ops.zeros((batch, units), dtype=states[0].dtype)

    # The mask rides along as one more feature: a single scanned tensor.
    feat = xs.shape[-1]
    packed = ops.concatenate([xs, ops.cast(ms, xs.dtype)[..., None]], axis=-1)

    def body(carry, inp):
        prev_out, st = carry[0], carry[1:]
        x_t, m = inp[:, :feat], inp[:, feat:] > 0.5
        h, new = step(x_t, list(st))
        out = ops.where(m, h, ops.zeros_like(h) if zero_output_for_mask else prev_out)
        new = [ops.where(m, n, s) for n, s in zip(new, st)]
        # ys shaped like the carry: Keras' TensorFlow scan allocates them so.
        return (out, *new), (out, *new)

    carry, ys = ops.scan(body, (prev, *states), packed)
    outputs = ops.transpose(ys[0], (1, 0, 2))
    last = carry[0]
    if not return_sequences:
        outputs = last[:, None, :]
    return last, outputs, list(carry[1:])


def lstm_ref(inputs, initial_state_h, initial_state_c, mask, kernel, recurrent_kernel, bias,
             activation="tanh", recurrent_activation="sigmoid", return_sequences=False,
             go_backwards=False, zero_output_for_mask=False):
    """Reference LSTM (Keras' LSTMCell, gates i, f, c, o) in keras.ops."""
    act, rec = keras.activations.get(activation), keras.activations.get(recurrent_activation)
    xw = ops.matmul(inputs, kernel)
    if bias is not None:
        xw = xw + bias

    def step(z_x, st):
        h, c = st
        z = z_x + ops.matmul(h, recurrent_kernel)
        zi, zf, zc, zo = ops.split(z, 4, axis=-1)
        i, f, o = rec(zi), rec(zf), rec(zo)
        c = f * c + i * act(zc)
        h = o * act(c)
        return h, [h, c]

    return _scan_rnn(step, xw, [initial_state_h, initial_state_c], mask, go_backwards,
                     zero_output_for_mask, return_sequences)


def gru_ref(inputs, initial_state, mask, kernel, recurrent_kernel, bias, activation="tanh",
            recurrent_activation="sigmoid", return_sequences=False, go_backwards=False,
            reset_after=True, zero_output_for_mask=False):
    """Reference GRU (Keras' GRUCell, gates z, r, h; both reset_after forms) in keras.ops."""
    act, rec = keras.activations.get(activation), keras.activations.get(recurrent_activation)
    units = recurrent_kernel.shape[0]
    if bias is not None and reset_after:
        in_bias, rec_bias = bias[0], bias[1]
    else:
        in_bias, rec_bias = bias, None
    xw = ops.matmul(inputs, kernel)
    if in_bias is not None:
        xw = xw + in_bias

    def step(x_t, st):
        (h,) = st
        xz, xr, xh = ops.split(x_t, 3, axis=-1)
        if reset_after:
            inner = ops.matmul(h, recurrent_kernel)
            if rec_bias is not None:
                inner = inner + rec_bias
            iz, ir, ih = ops.split(inner, 3, axis=-1)
            z = rec(xz + iz)
            r = rec(xr + ir)
            hh = act(xh + r * ih)
        else:
            zr = ops.matmul(h, recurrent_kernel[:, : 2 * units])
            iz, ir = ops.split(zr, 2, axis=-1)
            z = rec(xz + iz)
            r = rec(xr + ir)
            hh = act(xh + ops.matmul(r * h, recurrent_kernel[:, 2 * units:]))
        h = z * h + (1.0 - z) * hh
        return h, [h]

    return _scan_rnn(step, xw, [initial_state], mask, go_backwards, zero_output_for_mask,
                     return_sequences)


# --------------------------------------------------------------------------
# Public functions


def _check(inputs, kernel, recurrent_kernel, bias, states, mask, gates, bias_shape):
    if len(inputs.shape) != 3:
        raise ValueError(f"inputs must be 3-D (batch, time, features), got shape {tuple(inputs.shape)}")
    dtype = keras.backend.standardize_dtype(inputs.dtype)
    if not dtype.startswith(("float", "bfloat")):
        raise TypeError(f"recurrent layers need floating-point inputs, got dtype {dtype}")
    units = recurrent_kernel.shape[0]
    if tuple(recurrent_kernel.shape) != (units, gates * units):
        raise ValueError(f"recurrent_kernel must be (units, {gates} * units), got shape "
                         f"{tuple(recurrent_kernel.shape)}")
    feat = inputs.shape[-1]
    if tuple(kernel.shape) != (feat, gates * units) and feat is not None:
        raise ValueError(f"kernel must be ({feat}, {gates * units}) for inputs with {feat} "
                         f"features and {units} units, got shape {tuple(kernel.shape)}")
    if bias is not None and tuple(bias.shape) != bias_shape:
        raise ValueError(f"bias must have shape {bias_shape}, got {tuple(bias.shape)}")
    batch, time = inputs.shape[0], inputs.shape[1]
    for name, s in states:
        shape = tuple(s.shape)
        if len(shape) != 2 or shape[1] != units or (None not in (batch, shape[0]) and shape[0] != batch):
            raise ValueError(f"{name} must be (batch, units) = ({batch}, {units}), got shape {shape}")
    if mask is not None:
        shape = tuple(mask.shape)
        if len(shape) != 2 or any(a is not None and b is not None and a != b
                                  for a, b in zip(shape, (batch, time))):
            raise ValueError(f"mask must be (batch, time) = ({batch}, {time}), got shape {shape}")
    return dtype


@call_unconverted
def lstm(inputs, initial_state_h, initial_state_c, mask, kernel, recurrent_kernel, bias,
         activation="tanh", recurrent_activation="sigmoid", return_sequences=False,
         go_backwards=False, zero_output_for_mask=False, training=None):
    """Whole-sequence LSTM, Keras' ``backend.lstm`` contract.

    Args:
        inputs: (batch, time, features).
        initial_state_h, initial_state_c: (batch, units).
        mask: (batch, time) bool, or None.
        kernel: (features, 4 * units); recurrent_kernel: (units, 4 * units);
            bias: (4 * units,) or None. Gates i, f, c, o.
        activation, recurrent_activation: as for keras.layers.LSTM.
        return_sequences, go_backwards, zero_output_for_mask: as for Keras' RNN.
        training: False when no gradient will be taken (skips saving the
            backward pass's buffers).

    Returns:
        ``(last_output, outputs, [h, c])``; outputs is (batch, time, units)
        with return_sequences, else (batch, 1, units).

    Example:
    >>> last, seq, (h, c) = zoo.ops.lstm(x, h0, c0, None, W, U, b, return_sequences=True)
    """
    units = recurrent_kernel.shape[0]
    dtype = _check(inputs, kernel, recurrent_kernel, bias,
                   [("initial_state_h", initial_state_h), ("initial_state_c", initial_state_c)],
                   mask, 4, (4 * units,))
    kwargs = dict(activation=activation, recurrent_activation=recurrent_activation,
                  return_sequences=return_sequences, go_backwards=go_backwards,
                  zero_output_for_mask=zero_output_for_mask)
    if native_unavailable(activation, recurrent_activation, dtype) is not None:
        return lstm_ref(inputs, initial_state_h, initial_state_c, mask, kernel, recurrent_kernel,
                        bias, **kwargs)
    if keras.backend.backend() == "jax":
        return _jax_rnn("lstm", True, inputs, [initial_state_h, initial_state_c], mask, kernel,
                        recurrent_kernel, bias, **kwargs)
    return _tf_rnn("lstm", True, inputs, [initial_state_h, initial_state_c], mask, kernel,
                   recurrent_kernel, bias, training=training, **kwargs)


@call_unconverted
def gru(inputs, initial_state, mask, kernel, recurrent_kernel, bias, activation="tanh",
        recurrent_activation="sigmoid", return_sequences=False, go_backwards=False,
        reset_after=True, zero_output_for_mask=False, training=None):
    """Whole-sequence GRU, Keras' ``backend.gru`` contract.

    ``bias`` is (2, 3 * units) (input and recurrent rows) with reset_after,
    else (3 * units,); gates z, r, h. Returns ``(last_output, outputs, [h])``.
    Other arguments as for :func:`lstm`.

    Example:
    >>> last, seq, (h,) = zoo.ops.gru(x, h0, None, W, U, b, reset_after=True)
    """
    units = recurrent_kernel.shape[0]
    dtype = _check(inputs, kernel, recurrent_kernel, bias, [("initial_state", initial_state)],
                   mask, 3, (2, 3 * units) if reset_after else (3 * units,))
    kwargs = dict(activation=activation, recurrent_activation=recurrent_activation,
                  return_sequences=return_sequences, go_backwards=go_backwards,
                  zero_output_for_mask=zero_output_for_mask)
    if native_unavailable(activation, recurrent_activation, dtype) is not None:
        return gru_ref(inputs, initial_state, mask, kernel, recurrent_kernel, bias,
                       reset_after=reset_after, **kwargs)
    if keras.backend.backend() == "jax":
        return _jax_rnn("gru", reset_after, inputs, [initial_state], mask, kernel,
                        recurrent_kernel, bias, **kwargs)
    return _tf_rnn("gru", reset_after, inputs, [initial_state], mask, kernel, recurrent_kernel,
                   bias, training=training, **kwargs)


# --------------------------------------------------------------------------
# JAX FFI path

# Measured per layer with benchmarks/bench_jax_rnn.py (benchmarks/RESULTS.md,
# "Recurrent layers on JAX" and "Small batches"): against Keras' own
# `lax.scan` under jit, the kernel's forward + backward wins at every measured
# shape from batch 2 (LSTM 1.1-3.5x, GRU 1.2-4.6x over batch 2-256, 20-500
# steps, 32-256 units; LSTM at batch 256 with 128 units is at parity) and, but
# for the smallest layers, loses at batch 1 (0.8-1.0x), where XLA's loop of a
# few tiny ops beats the kernel's call. The forward alone (inference) wins at
# any batch up to 64 units for LSTM and 128 for GRU (batch 1: 1.0-2.0x); above
# those, a batch under 8 rows runs on one thread in the kernel (its threads
# split the batch, 4 rows at least) while XLA splits each step's product over
# both cores, so the LSTM forward takes the kernel from batch 8 (batch 1-4 at
# 256 units: 0.5-0.9x; batch 8-12 at 128-256 units: 1.2-1.8x) and the GRU
# forward from batch 2.
JAX_KERNEL_MIN_BATCH = 2
JAX_LSTM_INFERENCE_MIN_BATCH = 8
JAX_INFERENCE_ANY_BATCH_UNITS = {"lstm": 64, "gru": 128}


def jax_prefers_kernel(cell: str, batch: int | None, training: bool = True,
                       units: int | None = None) -> bool:
    """The JAX dispatch rule for zoo.layers.LSTM / GRU (see above): whether the
    fused kernel is faster than Keras' loop for this cell ("lstm" or "gru"),
    batch size (None: unknown, taken as large), mode and units (None: taken
    as large). ``ZOO_JAX_PATH=ffi`` always takes the kernel, ``xla`` never."""
    import zoo.ops._jax as _jax

    path = _jax.forced_path()
    if path != "auto":
        return path == "ffi"
    if batch is None:
        return True
    if not training:
        if units is not None and units <= JAX_INFERENCE_ANY_BATCH_UNITS[cell]:
            return True
        if cell == "lstm":
            return batch >= JAX_LSTM_INFERENCE_MIN_BATCH
    return batch >= JAX_KERNEL_MIN_BATCH


def _jax_rnn(cell, reset_after, inputs, states, mask, kernel, recurrent_kernel, bias, *,
             activation, recurrent_activation, **kwargs):
    import zoo.ops._jax as _jax

    # Keras hands over its Variables; the custom call wants arrays.
    def value(t):
        return None if t is None else ops.convert_to_tensor(t)

    return _jax.rnn(cell, reset_after, value(inputs), [value(s) for s in states], value(mask),
                    value(kernel), value(recurrent_kernel), value(bias),
                    activation=_kernel_activation(activation).name,
                    recurrent_activation=_kernel_activation(recurrent_activation).name, **kwargs)


# --------------------------------------------------------------------------
# TensorFlow op library path


def _tf_rnn(cell, reset_after, inputs, states, mask, kernel, recurrent_kernel, bias, *,
            activation, recurrent_activation, return_sequences, go_backwards,
            zero_output_for_mask, training):
    import tensorflow as tf

    lib = _native.tf_ops()
    _register_gradients()
    out_dtype = inputs.dtype

    def f32(t):
        t = tf.convert_to_tensor(t)
        return t if t.dtype == tf.float32 else tf.cast(t, tf.float32)

    empty = tf.zeros([0], tf.float32)
    c0 = f32(states[1]) if cell == "lstm" else empty
    mask_t = tf.zeros([0], tf.bool) if mask is None else tf.cast(mask, tf.bool)
    y, h, c, _ = lib.zoo_rnn(
        f32(inputs), f32(kernel), f32(recurrent_kernel), empty if bias is None else f32(bias),
        f32(states[0]), c0, mask_t, cell=cell, reset_after=reset_after,
        activation=_kernel_activation(activation).name,
        recurrent_activation=_kernel_activation(recurrent_activation).name,
        go_backwards=go_backwards, zero_output_for_mask=zero_output_for_mask,
        return_sequences=return_sequences, training=training is not False)
    if out_dtype != tf.float32:
        y, h, c = (tf.cast(t, out_dtype) for t in (y, h, c))
    if return_sequences:
        last, outputs = y[:, -1], y
    else:
        last, outputs = y, y[:, None, :]
    return last, outputs, ([h, c] if cell == "lstm" else [h])


_ATTRS = ("cell", "reset_after", "activation", "recurrent_activation", "go_backwards",
          "zero_output_for_mask", "return_sequences")
@once
def _register_gradients():
    import tensorflow as tf

    @tf.RegisterGradient("ZooRnn")
    def _zoo_rnn_grad(op, dy, dh, dc, _dreserve):
        lib = _native.tf_ops()
        attrs = {k: op.get_attr(k) for k in _ATTRS}
        x, kernel, recurrent, bias, _h0, _c0, mask = op.inputs
        reserve = op.outputs[3]
        # Inputs the tape does not differentiate (TF's tape passes their
        # indices): the data a first layer reads, Keras' zero initial states.
        # The kernel then skips their gradients, the per-step dx GEMM with
        # them (an LSTM layer's forward + backward 8-11 % shorter, RESULTS.md).
        skip = set(getattr(op, "skip_input_indices", None) or ())
        need_dx = 0 not in skip
        need_dstates = not {4, 5} <= skip
        if not op.get_attr("training"):
            # Run in inference mode (a layer called directly defaults to
            # training=False) yet differentiated: run the forward again and
            # keep what BPTT reads, as Keras' own loop would allow.
            reserve = lib.zoo_rnn(*op.inputs, training=True, **attrs)[3]
        empty = tf.zeros([0], tf.float32)
        dx, dk, du, db, dh0, dc0 = lib.zoo_rnn_grad(
            empty if dy is None else dy, empty if dh is None else dh,
            empty if dc is None else dc, x, kernel, recurrent, bias, mask, reserve,
            need_dx=need_dx, need_dstates=need_dstates, **attrs)
        lstm = attrs["cell"] in (b"lstm", "lstm")
        if not need_dstates:
            dh0 = dc0 = None
        return (dx if need_dx else None), dk, du, db, dh0, (dc0 if lstm else None), None

    @tf.RegisterGradient("ZooRnnGrad")
    def _zoo_rnn_grad_grad(op, *grads):
        raise NotImplementedError(
            "second derivatives through zoo's fused LSTM/GRU are not implemented; build the "
            "model under zoo.native(False) (Keras' own recurrent loop) to take them")
