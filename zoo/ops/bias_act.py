"""Fused bias + activation: ``y = activation(x + bias)``, bias on the last axis.

Three parts, as in keras.ops: the public :func:`bias_act`, a symbolic path for
KerasTensors (:class:`BiasAct`), and the implementation that picks the
TensorFlow op library when it is loaded and the Keras backend is TensorFlow,
and :func:`bias_act_ref` otherwise: on the JAX backend XLA fuses the
reference itself, measured as fast, so the XLA FFI kernel runs there only when
asked (:func:`jax_prefers_kernel`). The
reference defines the semantics; it is also what exports use.
"""

from __future__ import annotations

import keras
from keras import ops

from zoo import _native
import zoo.ops._jax as _jax
from zoo.ops._activations import Activation, apply_reference, resolve
from zoo.ops._autograph import call_unconverted
from zoo.ops._once import once
from zoo.ops._second_order import bias_act_grad_grad

NATIVE_DTYPES = ("float32", "float16", "bfloat16")


def bias_act_ref(x, bias=None, activation="linear"):
    """Reference: ``activation(x + bias)`` written with keras.ops."""
    act = resolve(activation)
    z = x if bias is None else ops.add(x, bias)
    return apply_reference(z, act)


def _check(x, bias):
    dtype = keras.backend.standardize_dtype(x.dtype)
    if not dtype.startswith(("float", "bfloat")):
        raise TypeError(f"bias_act needs a floating-point x, got {dtype}")
    if bias is None:
        return dtype
    bdtype = keras.backend.standardize_dtype(bias.dtype)
    if bdtype != dtype:
        raise TypeError(f"bias dtype {bdtype} differs from x dtype {dtype}; cast one of them")
    if len(bias.shape) != 1:
        raise ValueError(f"bias must be 1-D, got shape {tuple(bias.shape)}")
    if len(x.shape) < 1:
        raise ValueError("x must have at least one axis when a bias is given")
    last, blen = x.shape[-1], bias.shape[0]
    if last is not None and blen is not None and last != blen:
        raise ValueError(f"bias has {blen} values but x's last axis is {last}")
    return dtype


class BiasAct(keras.Operation):
    """Symbolic form of :func:`bias_act` for KerasTensors."""

    def __init__(self, activation: Activation, name=None):
        super().__init__(name=name)
        self.activation = activation

    def call(self, x, bias=None):
        return _bias_act(x, bias, self.activation)

    def compute_output_spec(self, x, bias=None):
        _check(x, bias)
        return keras.KerasTensor(x.shape, dtype=x.dtype)


@call_unconverted
def bias_act(x, bias=None, activation="linear"):
    """``activation(x + bias)`` in one pass, with the bias broadcast on the last axis.

    Args:
        x: float tensor of any rank.
        bias: 1-D tensor as long as x's last axis, same dtype, or None.
        activation: a name (``"gelu"``, ``"relu6"``, ``"leaky_relu"``...), a
            ``keras.activations`` function, a dict such as
            ``{"name": "relu", "max_value": 6.0}``, or an :class:`Activation`.

    Returns:
        A tensor of x's shape and dtype.

    Example:
    >>> y = zoo.ops.bias_act(x, b, activation="gelu")
    """
    act = resolve(activation)
    if keras.backend.is_keras_tensor(x):
        return BiasAct(act).symbolic_call(x, bias)
    return _bias_act(x, bias, act)


def _bias_act(x, bias, act: Activation):
    x = ops.convert_to_tensor(x)
    if bias is not None:
        bias = ops.convert_to_tensor(bias)
    dtype = _check(x, bias)
    if dtype in NATIVE_DTYPES and _native.use_tf_native():
        if bias is not None and _tf_fuses_into_producer(x, act):
            return _tf_stock_bias_act(x, bias, act)
        return _tf_bias_act(x, bias, act)
    # use_jax_native first: under ZOO_REQUIRE_NATIVE a missing library raises
    # on the JAX backend even where the rule would leave the op to XLA.
    if dtype in NATIVE_DTYPES and _native.use_jax_native() and jax_prefers_kernel(act):
        return _jax.bias_act(x, bias, act)
    return bias_act_ref(x, bias, act)


# On the JAX backend XLA fuses x + bias, the activation and its gradient into
# loops of its own, together with the ops around them (the loss, the next
# layer's input), which a custom call would break. Measured inside jit
# (benchmarks/RESULTS.md, "Backends: JAX"), XLA was as fast as the kernel or
# faster for every activation and shape but a few small ones, within noise:
# so by default bias+activation is left to XLA on JAX, as relu after a
# convolution is left to TensorFlow's remapper on TF. On a GPU the same holds
# until measured there (the CUDA handlers run under ZOO_JAX_PATH=ffi).
def jax_prefers_kernel(act: Activation) -> bool:
    """The JAX dispatch rule for bias+activation: XLA, unless ``ZOO_JAX_PATH=ffi``
    and the library has handlers for JAX's default platform."""
    return _jax.forced_path() == "ffi" and _jax.has_handlers()


# TensorFlow's graph optimizer (grappler's remapper, with oneDNN on the CPU)
# folds BiasAdd + Relu into the convolution before them. A native op there
# breaks that fusion: LeNet inference measured 3.71 ms native against 2.88 ms
# stock (benchmarks/RESULTS.md). So in a graph, plain relu or no activation
# straight after a convolution is left to TensorFlow.
_CONV_OPS = frozenset({"Conv2D", "Conv3D", "DepthwiseConv2dNative"})


def _tf_fuses_into_producer(x, act: Activation) -> bool:
    if not act.fused_by_tensorflow:
        return False
    op = getattr(x, "op", None)  # graph tensors only; eager tensors have no producer
    try:
        return op is not None and op.type in _CONV_OPS
    except AttributeError:
        return False


def _tf_stock_bias_act(x, bias, act: Activation):
    import tensorflow as tf

    z = tf.nn.bias_add(x, bias)
    return tf.nn.relu(z) if act.name == "relu" else z


def uses_native(dtype="float32") -> bool:
    """Whether :func:`bias_act` on ``dtype`` would run the native op right now."""
    return keras.backend.standardize_dtype(dtype) in NATIVE_DTYPES and _native.use_tf_native()


# --------------------------------------------------------------------------
# TensorFlow op library path


def _attrs(act: Activation, use_bias: bool) -> dict:
    return {
        "activation": act.name,
        "alpha": float(act.alpha),
        "max_value": 0.0 if act.max_value is None else float(act.max_value),
        "threshold": float(act.threshold),
        "use_bias": use_bias,
    }


def _tf_bias_act(x, bias, act: Activation):
    import tensorflow as tf

    lib = _native.tf_ops()
    _register_gradients()
    use_bias = bias is not None
    if not use_bias:
        bias = tf.zeros([0], dtype=x.dtype)
    return lib.zoo_bias_act(x, bias, **_attrs(act, use_bias))


@once
def _register_gradients():
    import tensorflow as tf

    @tf.RegisterGradient("ZooBiasAct")
    def _zoo_bias_act_grad(op, dy):
        lib = _native.tf_ops()
        attrs = {k: op.get_attr(k) for k in ("activation", "alpha", "max_value", "threshold",
                                              "use_bias")}
        dx, dbias = lib.zoo_bias_act_grad(dy, op.inputs[0], op.inputs[1], **attrs)
        return dx, (dbias if attrs["use_bias"] else None)

    # Second derivatives (gradient penalties, Hessian-vector products).
    tf.RegisterGradient("ZooBiasActGrad")(bias_act_grad_grad)
