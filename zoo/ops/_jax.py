"""The JAX path of the fused ops: XLA FFI custom calls into zoo's kernel core
(``_zoo_jax_ffi.so``, csrc/jax), with ``jax.custom_vjp`` for gradients.

Each op is a custom call XLA places inside the jitted program, so it runs
under ``jax.jit``, ``jax.grad`` and Keras' JAX trainer (``jit_compile=True``).
The primal function (no gradient taken: ``predict``, ``evaluate``) runs the
forward kernel without saving anything; the custom_vjp forward rule (inside
``jax.grad`` / ``fit``) also writes what the backward kernel reads back (the
dense pre-activation, the recurrent kernels' reserve), kept as the residual.

Shapes are static under jit: the public ops in zoo.ops check them at trace
time with Python exceptions before anything here runs; the handlers check them
again before touching memory.

``jax.vmap`` over these ops runs the kernel once per mapped element
(``vmap_method="sequential"``): correct, not fast. Second derivatives through
them are not implemented (the backward calls have no VJP of their own);
``zoo.native(False)`` gives the keras.ops references, which have them.
"""

from __future__ import annotations

import functools

import numpy as np

from zoo import _native
from zoo.ops._activations import Activation

_VMAP = "sequential"
_PATHS = ("auto", "ffi", "xla")


def forced_path() -> str:
    """``ZOO_JAX_PATH``: ``ffi`` runs every op the kernels cover through the FFI,
    ``xla`` leaves bias_act, dense and zoo.layers.LSTM/GRU to XLA (the keras.ops
    reference, Keras' own loop), ``auto`` (the default) follows the measured
    rules in bias_act.py, dense.py and rnn.py (:func:`zoo.ops.rnn.jax_prefers_kernel`)."""
    import os

    path = os.environ.get("ZOO_JAX_PATH", "auto").strip().lower() or "auto"
    if path not in _PATHS:
        raise ValueError(f"ZOO_JAX_PATH must be one of {', '.join(_PATHS)}, got {path!r}")
    return path


def _jax():
    import jax  # only imported on the JAX backend

    return jax


def default_platform() -> str:
    """JAX's default backend ("cpu", "gpu", "tpu"): where Keras puts the arrays
    and so which platform's handlers an ffi_call in a jitted step lowers to."""
    return _jax().default_backend()


def has_handlers(recurrent: bool = False) -> bool:
    """Whether the FFI library implements the op for JAX's default platform:
    the CPU always; a GPU for bias_act and dense when the library was built
    with CUDA (csrc/jax/cuda_ffi.cc); the recurrent kernels on the CPU only."""
    platform = default_platform()
    if platform == "cpu":
        return True
    return platform == "gpu" and not recurrent and _native.jax_ops_cuda()


def _act_attrs(act: Activation) -> dict:
    return {
        "activation": act.name,
        "alpha": np.float32(act.alpha),
        "max_value": np.float32(0.0 if act.max_value is None else act.max_value),
        "threshold": np.float32(act.threshold),
    }


def _call(target, out, *args, **attrs):
    jax = _jax()
    _native.jax_ops()  # registers the targets (once), or raises under ZOO_REQUIRE_NATIVE
    return jax.ffi.ffi_call(target, out, vmap_method=_VMAP)(*args, **attrs)


def _empty(dtype="float32"):
    return _jax().numpy.zeros((0,), dtype)


def _spec(shape, dtype):
    return _jax().ShapeDtypeStruct(tuple(shape), dtype)


# --------------------------------------------------------------------------
# bias + activation (float32, float16, bfloat16)


@functools.lru_cache(maxsize=None)
def _bias_act_fn(act: Activation):
    jax = _jax()
    attrs = _act_attrs(act)

    def fwd_call(x, bias):
        return _call("ZooBiasActFwd", _spec(x.shape, x.dtype), x, bias, **attrs)

    @jax.custom_vjp
    def f(x, bias):
        return fwd_call(x, bias)

    def f_fwd(x, bias):
        return fwd_call(x, bias), (x, bias)

    def f_bwd(res, dy):
        x, bias = res
        dx, db = _call("ZooBiasActBwd", (_spec(x.shape, x.dtype), _spec(bias.shape, bias.dtype)),
                       dy, x, bias, **attrs)
        return dx, db

    f.defvjp(f_fwd, f_bwd)
    return f


def bias_act(x, bias, act: Activation):
    """``act(x + bias)`` in the FFI kernel; bias None for none."""
    return _bias_act_fn(act)(x, _empty(x.dtype) if bias is None else bias)


# --------------------------------------------------------------------------
# fused dense (float32)


@functools.lru_cache(maxsize=None)
def _dense_fn(act: Activation):
    jax = _jax()
    attrs = _act_attrs(act)
    save = act.name != "linear"  # linear needs no pre-activation backward

    def fwd_call(x, w, b, keep):
        out = _spec(tuple(x.shape[:-1]) + (w.shape[1],), "float32")
        zshape = out.shape if keep else (0,)
        return _call("ZooDenseFwd", (out, _spec(zshape, "float32")), x, w, b, **attrs)

    @jax.custom_vjp
    def f(x, w, b):
        return fwd_call(x, w, b, False)[0]

    def f_fwd(x, w, b):
        y, z = fwd_call(x, w, b, save)
        return y, (x, w, b, z)

    def bwd_call(dy, x, w, b, z, dx_shape, dw_shape, db_shape):
        outs = tuple(_spec(s, "float32") for s in (dx_shape, dw_shape, db_shape))
        return _call("ZooDenseBwd", outs, dy, x, w, b, z, **attrs)

    def f_bwd(res, dy):
        # Two custom calls: the parameter gradients, and dx = dz @ W^T on its
        # own (an empty output is skipped), so that XLA drops the dx call when
        # nothing reads it, as it drops its own dot: a model's first layer
        # (its input is data) then pays no input-gradient GEMM. For a
        # non-linear activation both calls form dz = dy * act'(z), a pass over
        # M x N values, against a GEMM of M x N x K saved.
        x, w, b, z = res
        _, dw, db = bwd_call(dy, x, w, b, z, (0,), w.shape, b.shape)
        dx, _, _ = bwd_call(dy, x, w, b, z, x.shape, (0,), (0,))
        return dx, dw, db

    f.defvjp(f_fwd, f_bwd)
    return f


def dense(x, kernel, bias, act: Activation):
    """``act(x @ kernel + bias)`` on zoo's GEMM; float32 only."""
    return _dense_fn(act)(x, kernel, _empty() if bias is None else bias)


# --------------------------------------------------------------------------
# whole-sequence LSTM / GRU (float32)


def _gates(cell):
    return 4 if cell == "lstm" else 3


@functools.lru_cache(maxsize=None)
def _rnn_fn(cell, reset_after, activation, recurrent_activation, go_backwards,
            zero_output_for_mask, return_sequences):
    jax = _jax()
    lstm = cell == "lstm"
    attrs = {
        "cell": np.int64(0 if lstm else 1), "reset_after": np.int64(bool(reset_after)),
        "activation": activation, "recurrent_activation": recurrent_activation,
        "go_backwards": np.int64(bool(go_backwards)),
        "zero_output_for_mask": np.int64(bool(zero_output_for_mask)),
        "return_sequences": np.int64(bool(return_sequences)),
    }

    def fwd_call(x, w, u, b, h0, c0, mask, training):
        batch, time, _ = x.shape
        units = u.shape[0]
        y = (batch, time, units) if return_sequences else (batch, units)
        reserve = batch * time * (_gates(cell) + 2) * units if training else 0
        outs = (_spec(y, "float32"), _spec((batch, units), "float32"),
                _spec((batch, units) if lstm else (0,), "float32"), _spec((reserve,), "float32"))
        return _call("ZooRnnFwd", outs, x, w, u, b, h0, c0, mask, **attrs)

    @jax.custom_vjp
    def f(x, w, u, b, h0, c0, mask):
        y, h, c, _ = fwd_call(x, w, u, b, h0, c0, mask, False)
        return y, h, c

    def f_fwd(x, w, u, b, h0, c0, mask):
        y, h, c, reserve = fwd_call(x, w, u, b, h0, c0, mask, True)
        return (y, h, c), (x, w, u, b, h0, c0, mask, reserve)

    def f_bwd(res, cts):
        x, w, u, b, h0, c0, mask, reserve = res
        dy, dh, dc = cts
        outs = tuple(_spec(t.shape, "float32") for t in (x, w, u, b, h0, c0))
        dx, dw, du, db, dh0, dc0 = _call("ZooRnnBwd", outs, dy, dh, dc, x, w, u, b, mask, reserve,
                                         **attrs)
        return dx, dw, du, db, dh0, dc0, None  # no cotangent for the boolean mask

    f.defvjp(f_fwd, f_bwd)
    return f


def rnn(cell, reset_after, inputs, states, mask, kernel, recurrent_kernel, bias, *, activation,
        recurrent_activation, return_sequences, go_backwards, zero_output_for_mask):
    """The Keras ``backend.lstm``/``gru`` contract on the FFI kernels: returns
    ``(last_output, outputs, states)``. Activations are kernel names.
    float16/bfloat16 are computed in float32 and cast back."""
    jnp = _jax().numpy
    out_dtype = inputs.dtype

    def f32(t):
        t = jnp.asarray(t)
        return t if t.dtype == jnp.float32 else t.astype(jnp.float32)

    lstm = cell == "lstm"
    fn = _rnn_fn(cell, bool(reset_after), activation, recurrent_activation, bool(go_backwards),
                 bool(zero_output_for_mask), bool(return_sequences))
    mask_a = jnp.zeros((0,), bool) if mask is None else jnp.asarray(mask).astype(bool)
    y, h, c = fn(f32(inputs), f32(kernel), f32(recurrent_kernel),
                 _empty() if bias is None else f32(bias), f32(states[0]),
                 f32(states[1]) if lstm else _empty(), mask_a)
    if out_dtype != jnp.float32:
        y, h, c = (t.astype(out_dtype) for t in (y, h, c))
    if return_sequences:
        last, outputs = y[:, -1], y
    else:
        last, outputs = y, y[:, None, :]
    return last, outputs, ([h, c] if lstm else [h])
