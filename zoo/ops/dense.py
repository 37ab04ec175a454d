"""Fused dense: ``y = activation(x @ kernel + bias)`` for x of any rank
(the last axis is contracted, leading axes are batch).

Public :func:`dense`, reference :func:`dense_ref` in keras.ops, and the
implementation, which picks one of three paths:

``"gemm"``
    zoo's own packed GEMM (``ZooDense`` op, csrc/kernels/gemm.h) with the bias
    and activation applied to each output tile while it is in cache. float32.
    Backward (``ZooDenseGrad``) forms ``dz = dy * act'(z)`` and ``db`` in one
    pass, then ``dx = dz @ W^T`` and ``dW = x^T @ dz`` on the same GEMM core.
    For non-linear activations the forward also writes the pre-activation
    ``z`` for the backward pass (in training; with ``training=False`` it does
    not, and a gradient, if one is taken anyway, recomputes ``z``).
``"matmul"``
    ``tf.matmul`` followed by the fused native ``bias_act`` kernel. Used for
    float16/bfloat16, and for float32 shapes where the benchmark
    (benchmarks/RESULTS.md, "Fused dense") shows TensorFlow's matmul ahead.
``"reference"``
    :func:`dense_ref` (no native library, another Keras backend, float64...),
    and training steps on more than 64 rows with relu or no activation, where
    TensorFlow fuses MatMul + BiasAdd + Relu and their gradients itself and
    measured faster than either native path.

On the JAX backend :func:`jax_choose_path` picks ``"matmul"`` (XLA's dot,
then :func:`zoo.ops.bias_act`, which follows its own JAX rule), measured
faster for a whole training step, unless ``ZOO_JAX_PATH=ffi`` asks for
``"gemm"``: the XLA FFI custom calls ``ZooDenseFwd``/``ZooDenseBwd`` on zoo's
GEMM.

The automatic choice can be overridden with ``ZOO_DENSE_PATH=gemm|matmul|auto``
or :func:`set_dense_path` / :func:`dense_path` (for tests and benchmarks).
"""

from __future__ import annotations

import contextlib
import os

import keras
from keras import ops

from zoo import _native
import zoo.ops._jax as _jax
from zoo.ops._activations import Activation, resolve
from zoo.ops._autograph import call_unconverted
from zoo.ops._once import once
from zoo.ops._second_order import dense_grad_grad
from zoo.ops.bias_act import _attrs, _bias_act, bias_act_ref, uses_native

_PATHS = ("auto", "gemm", "matmul")
_path_override: str | None = None


def dense_ref(x, kernel, bias=None, activation="linear"):
    """Reference: ``activation(matmul(x, kernel) + bias)`` in keras.ops."""
    return bias_act_ref(ops.matmul(x, kernel), bias, activation)


def set_dense_path(path: str | None) -> None:
    """Force the float32 native path: ``"gemm"``, ``"matmul"``, or ``"auto"``/None
    (the benchmark-backed rule of :func:`gemm_preferred`)."""
    global _path_override
    if path is not None and path not in _PATHS:
        raise ValueError(f"dense path must be one of {', '.join(_PATHS)}, got {path!r}")
    _path_override = path


@contextlib.contextmanager
def dense_path(path: str | None):
    """Context manager form of :func:`set_dense_path`."""
    previous = _path_override
    set_dense_path(path)
    try:
        yield
    finally:
        set_dense_path(previous)


def _forced_path() -> str:
    path = _path_override or os.environ.get("ZOO_DENSE_PATH", "auto").strip().lower() or "auto"
    if path not in _PATHS:
        raise ValueError(f"ZOO_DENSE_PATH must be one of {', '.join(_PATHS)}, got {path!r}")
    return path


# zoo's GEMM is used for training steps on at most GEMM_MAX_ROWS rows (after
# flattening) with a weight matrix of at least GEMM_MIN_WEIGHTS entries; every
# other case runs tf.matmul (oneDNN) + the fused bias_act kernel
# (benchmarks/RESULTS.md, "Fused dense", idle-machine rerun).
GEMM_MAX_ROWS = 64
GEMM_MIN_WEIGHTS = 1 << 18


def gemm_preferred(m, k, n, training=None) -> bool:
    """The dispatch rule for float32, from the idle-machine benchmarks: at
    <= 64 rows and K*N >= 2^18, zoo's GEMM (weights read in place, fused
    epilogue, dz and db in one pass) made forward+backward 1.06-1.79x faster
    than stock Keras; with fewer weights (32x256x256) it lost to tf.matmul +
    bias_act, and forward alone it measured 0.75-1.04x of that path, so
    inference (``training=False``) and larger batches take the matmul path.
    ``m`` is None when the batch size is unknown while tracing (``fit`` over
    a dataset): no GEMM. Choosing at run time with a ``tf.cond`` on the row
    count was tried: in ``fit`` (batch 32, 784-1024-1024-10, gelu) the cond
    cost more per step (+0.6 ms of 7.7) than the GEMM saved there (0.1-0.3 ms).
    """
    if training is False or m is None or k is None or n is None:
        return False
    return m <= GEMM_MAX_ROWS and k * n >= GEMM_MIN_WEIGHTS


# Inference with gelu: TensorFlow's remapper folds MatMul + BiasAdd + Gelu,
# written as keras.activations writes it (as dense_ref does), into one oneDNN
# _FusedMatMul, which tf.matmul + bias_act (two ops, one more pass over the
# output) does not beat: FusedDense forward at 128x512x512 with gelu measured
# 0.72-0.86x of keras.layers.Dense on the matmul path (issue 14). There the
# reference runs, so the layer's inference graph is Dense's own. relu and
# linear inference stay on the matmul path, measured ahead of the stock graph
# (RESULTS.md, "Fused dense"); other activations are not fused by TensorFlow.
_INFERENCE_LEFT_TO_TF = frozenset({"gelu", "gelu_tanh"})


def _inference_left_to_tensorflow(act: Activation | None, training) -> bool:
    return training is False and act is not None and act.name in _INFERENCE_LEFT_TO_TF


def _large_batch_path(act: Activation | None, training) -> str:
    # TensorFlow's own MatMul + BiasAdd (+ Relu) graph, which grappler/oneDNN
    # fuse forward and backward, trained faster than tf.matmul + bias_act on
    # more than GEMM_MAX_ROWS rows (RESULTS.md, "Fused dense").
    if training is not False and act is not None and act.fused_by_tensorflow:
        return "reference"
    return "matmul"


def _check(x, kernel, bias):
    if len(kernel.shape) != 2:
        raise ValueError(f"kernel must be 2-D (in, units), got shape {tuple(kernel.shape)}")
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
    if not xd.startswith(("float", "bfloat")):
        raise TypeError(f"dense needs floating-point inputs, got x dtype {xd}")
    if xd != kd:
        raise TypeError(f"x dtype {xd} differs from kernel dtype {kd}; cast one of them")
    if bias is not None:
        bd = keras.backend.standardize_dtype(bias.dtype)
        if bd != xd:
            raise TypeError(f"bias dtype {bd} differs from x dtype {xd}; cast one of them")
    return xd


class Dense(keras.Operation):
    """Symbolic form of :func:`dense` for KerasTensors."""

    def __init__(self, activation: Activation, training=None, name=None):
        super().__init__(name=name)
        self.activation = activation
        self.training = training

    def call(self, x, kernel, bias=None):
        return _dense(x, kernel, bias, self.activation, self.training)

    def compute_output_spec(self, x, kernel, bias=None):
        _check(x, kernel, bias)
        return keras.KerasTensor(tuple(x.shape[:-1]) + (kernel.shape[1],), dtype=x.dtype)


@call_unconverted
def dense(x, kernel, bias=None, activation="linear", training=None):
    """``activation(x @ kernel + bias)`` with the bias and activation fused into
    the matrix product.

    Args:
        x: float tensor (..., in).
        kernel: (in, units), x's dtype.
        bias: (units,) or None.
        activation: as for :func:`zoo.ops.bias_act`.
        training: False when no gradient will be taken (inference): the
            native path then skips saving the pre-activation.

    Returns:
        (..., units), x's dtype.

    Example:
    >>> y = zoo.ops.dense(x, kernel, bias, activation="gelu")
    """
    act = resolve(activation)
    if keras.backend.is_keras_tensor(x):
        return Dense(act, training).symbolic_call(x, kernel, bias)
    return _dense(x, kernel, bias, act, training)


def choose_path(x_shape, kernel_shape, dtype, training=None, activation=None) -> str:
    """Which path :func:`dense` takes for these static shapes and dtype:
    ``"gemm"``, ``"matmul"`` or ``"reference"``."""
    dtype = keras.backend.standardize_dtype(dtype)
    if not uses_native(dtype):
        return "reference"
    if dtype != "float32":
        return "matmul"
    forced = _forced_path()
    if forced != "auto":
        return forced
    act = None if activation is None else resolve(activation)
    k, n = kernel_shape
    m = 1
    for d in x_shape[:-1]:
        m = None if (m is None or d is None) else m * d
    if _inference_left_to_tensorflow(act, training):
        return "reference"
    if gemm_preferred(m, k, n, training):
        return "gemm"
    # An unknown batch size is treated as a large one.
    return _large_batch_path(act, training) if m is None or m > GEMM_MAX_ROWS else "matmul"


def _dense(x, kernel, bias, act: Activation, training=None):
    x = ops.convert_to_tensor(x)
    kernel = ops.convert_to_tensor(kernel)
    if bias is not None:
        bias = ops.convert_to_tensor(bias)
    dtype = _check(x, kernel, bias)
    if dtype in ("float32", "float16", "bfloat16") and _native.use_jax_native():
        if jax_choose_path(tuple(x.shape), tuple(kernel.shape), dtype, act) == "gemm":
            return _jax.dense(x, kernel, bias, act)
        return _bias_act(ops.matmul(x, kernel), bias, act)
    path = choose_path(tuple(x.shape), tuple(kernel.shape), dtype, training, act)
    if path == "gemm":
        return _tf_dense(x, kernel, bias, act, save_preact=training is not False)
    if path == "matmul":
        return _bias_act(ops.matmul(x, kernel), bias, act)
    return dense_ref(x, kernel, bias, act)


# The JAX rule, from benchmarks/RESULTS.md ("Backends: JAX" and "Dense on JAX:
# per op against per step", 2026-12-06): op by op inside jit the FFI dense
# (zoo's GEMM, bias and activation on each tile; dx a call of its own that
# XLA drops when unused) measured 1.2-2.5x faster than XLA's dot and fusion at
# the dense and autoencoder shapes on an AVX-512 host, yet a whole Keras
# training step of dense_autoencoder with it was 10-25 % slower than XLA's own
# program, on zoo's thread pool and on XLA's alike. So dense is XLA's on JAX
# unless ZOO_JAX_PATH=ffi asks for the kernel (on a GPU: cuBLASLt with its
# fused epilogues, csrc/cuda/dense.h, when the library was built with CUDA).
def jax_choose_path(x_shape, kernel_shape, dtype, activation=None) -> str:
    """``"gemm"`` (the FFI kernel) or ``"matmul"`` (XLA) for :func:`dense` on JAX."""
    if keras.backend.standardize_dtype(dtype) != "float32":
        return "matmul"
    return "gemm" if _jax.forced_path() == "ffi" and _jax.has_handlers() else "matmul"


def uses_gemm(x_shape, kernel_shape, dtype="float32") -> bool:
    """Whether :func:`dense` would run zoo's own GEMM for these shapes right now."""
    return choose_path(tuple(x_shape), tuple(kernel_shape), dtype) == "gemm"


# --------------------------------------------------------------------------
# TensorFlow op library path


def _tf_dense(x, kernel, bias, act: Activation, save_preact=True):
    import tensorflow as tf

    lib = _native.tf_ops()
    _register_gradients()
    use_bias = bias is not None
    if not use_bias:
        bias = tf.zeros([0], dtype=x.dtype)
    y, _ = lib.zoo_dense(x, kernel, bias, save_preact=save_preact, **_attrs(act, use_bias))
    return y


@once
def _register_gradients():
    import tensorflow as tf

    @tf.RegisterGradient("ZooDense")
    def _zoo_dense_grad(op, dy, _dpreact):
        # The pre-activation output is internal (never returned by dense), so
        # no gradient flows into it.
        lib = _native.tf_ops()
        attrs = {k: op.get_attr(k) for k in ("activation", "alpha", "max_value", "threshold",
                                              "use_bias")}
        x, kernel, bias = op.inputs
        dx, dkernel, dbias = lib.zoo_dense_grad(dy, x, kernel, bias, op.outputs[1], **attrs)
        return dx, dkernel, (dbias if attrs["use_bias"] else None)

    # Second derivatives (gradient penalties, Hessian-vector products).
    tf.RegisterGradient("ZooDenseGrad")(dense_grad_grad)
