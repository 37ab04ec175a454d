"""The raw native entry points mean what Keras means.

Called without the optional attributes, the TF ops (through the op library,
not zoo.ops) and zoo._C compute keras.activations' defaults: elu with
alpha 1.0, relu with no slope, cap or threshold. Attribute values the kernels
cannot take are refused when the op is built; outputs for an unused bias are
zeros, never uninitialised memory.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from zoo import _native
from zoo.ops import KERNEL_ACTIVATIONS



def _keras(name, z):
    a = keras.activations
    if name == "gelu":
        return a.gelu(z, approximate=False)
    if name == "gelu_tanh":
        return a.gelu(z, approximate=True)
    return getattr(a, name)(z)


@pytest.fixture(scope="module")
def lib():
    lib = _native.tf_ops()
    assert lib is not None
    return lib


X = np.linspace(-5, 5, 64, dtype=np.float32).reshape(4, 16)
B = np.linspace(-1, 1, 16, dtype=np.float32)


@pytest.mark.parametrize("name", KERNEL_ACTIVATIONS)
def test_defaults_equal_keras(lib, name):
    want = np.asarray(_keras(name, tf.constant(X + B)))
    got_tf = lib.zoo_bias_act(tf.constant(X), tf.constant(B), activation=name).numpy()
    got_c = _native.c_module().bias_act(X, B, name)
    got_dense, _ = lib.zoo_dense(tf.constant(X), tf.constant(np.eye(16, dtype=np.float32)),
                                 tf.constant(B), activation=name)
    for got in (got_tf, got_c, got_dense.numpy()):
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-6)


def test_raw_elu_default_alpha_is_one(lib):
    # The case that used to compute elu with alpha 0.
    y = lib.zoo_bias_act(tf.constant([-1.0]), tf.zeros([0]), activation="elu", use_bias=False)
    np.testing.assert_allclose(y.numpy(), [np.expm1(-1.0)], rtol=1e-6)
    dx, _, _ = lib.zoo_dense_grad(tf.ones([1, 1]), tf.constant([[-1.0]]), tf.ones([1, 1]), tf.zeros([1]),
                               tf.zeros([0]), activation="elu")
    np.testing.assert_allclose(dx.numpy(), [[np.exp(-1.0)]], rtol=1e-6)
    # NaN is how "not given" is spelled in a TF attribute.
    y = lib.zoo_bias_act(tf.constant([-1.0]), tf.zeros([0]), activation="elu", alpha=float("nan"),
                         use_bias=False)
    np.testing.assert_allclose(y.numpy(), [np.expm1(-1.0)], rtol=1e-6)


@pytest.mark.parametrize("attrs", [
    dict(activation="relu", max_value=float("nan")),
    dict(activation="relu", max_value=-1.0),
    dict(activation="relu", alpha=-0.5),
    dict(activation="relu", alpha=float("inf")),
    dict(activation="relu", threshold=float("nan")),
    dict(activation="relu", threshold=float("inf")),
    dict(activation="elu", alpha=float("inf")),
    dict(activation="no_such"),
], ids=str)
def test_odd_attributes_are_refused(lib, attrs):
    with pytest.raises(tf.errors.InvalidArgumentError):
        lib.zoo_bias_act(tf.constant(X), tf.constant(B), **attrs)
    with pytest.raises(tf.errors.InvalidArgumentError):
        lib.zoo_dense(tf.constant(X), tf.eye(16), tf.constant(B), **attrs)
    c_attrs = dict(attrs)
    with pytest.raises(ValueError):
        _native.c_module().bias_act(X, B, **c_attrs)


def test_relu_without_cap_passes_gradient_at_infinity(lib):
    # The plain and the general relu paths agree: an infinite cap is no cap.
    x = tf.constant([np.inf, -np.inf, 2.0])
    for attrs in (dict(), dict(alpha=0.1), dict(max_value=float("inf"), threshold=0.5)):
        dx, _ = lib.zoo_bias_act_grad(tf.ones([3]), x, tf.zeros([0]), activation="relu", use_bias=False,
                                      **attrs)
        assert dx.numpy()[0] == 1.0 and dx.numpy()[2] == 1.0, attrs


def test_unused_bias_gradient_is_zeros(lib):
    bias = tf.constant(np.full(16, 7.0, np.float32))
    _, db = lib.zoo_bias_act_grad(tf.constant(X), tf.constant(X), bias, activation="gelu", use_bias=False)
    _, _, db2 = lib.zoo_dense_grad(tf.constant(X), tf.constant(X), tf.eye(16), bias, tf.zeros([0]),
                                   activation="gelu", use_bias=False)
    for d in (db, db2):
        assert d.shape == (16,) and not np.any(d.numpy())


def test_empty_input_with_huge_leading_axes_is_refused_not_a_crash(lib):
    # x.shape[:-1] + [units] overflows int64 once K = 0 is replaced by 1024
    # units; TensorShape::set_dim used to abort the process here.
    x = tf.zeros([2**30, 2**30, 0])
    with pytest.raises(tf.errors.InvalidArgumentError):
        lib.zoo_dense(x, tf.zeros([0, 1024]), tf.zeros([1024]), activation="linear")
