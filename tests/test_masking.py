"""zoo.ops.sequence_mask and zoo.layers.Masking against keras.layers.Masking.

Masking only compares and copies, so native and Keras must agree exactly:
values (NaN and the sign of zero included) and masks, for every dtype.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo
from zoo import _native
from zoo.ops import sequence_mask, sequence_mask_ref

SHAPES = [(4, 7, 3), (6, 5), (3, 1, 1), (2, 3, 4, 5), (0, 4, 2), (2, 64, 16)]


@pytest.fixture(autouse=True, scope="module")
def _require_native():
    assert _native.use_tf_native(), "the TensorFlow op library must load in the test environment"


def padded(shape, mask_value, dtype="float32", seed=0):
    """Random rows, some all mask_value (padding), one holding a NaN, one -0.0
    row, one row equal to mask_value but for one feature."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype("float32")
    rows = x.reshape(-1, shape[-1])
    n = len(rows)
    if n:
        rows[rng.random(n) < 0.4] = mask_value
        rows[-1] = mask_value
        rows[0] = -0.0 if mask_value == 0 else mask_value
    if n > 2:
        rows[1, 0] = np.nan
    if n > 3 and shape[-1] > 1:
        rows[2] = mask_value
        rows[2, -1] = mask_value + 1.0
    return x.astype(dtype)


def assert_same(a, b):
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape
    if a.dtype == bool:
        np.testing.assert_array_equal(a, b)
        return
    a32, b32 = a.astype("float32"), b.astype("float32")
    np.testing.assert_array_equal(np.isnan(a32), np.isnan(b32))
    np.testing.assert_array_equal(np.nan_to_num(a32), np.nan_to_num(b32))
    np.testing.assert_array_equal(np.signbit(a32), np.signbit(b32))


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("mask_value", [0.0, 1.5, -2.0])
@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_matches_keras_masking(shape, mask_value, dtype):
    x = tf.constant(padded(shape, mask_value, "float32"), dtype=dtype)
    keras_layer = keras.layers.Masking(mask_value, dtype=dtype)
    outputs, mask = sequence_mask(x, mask_value)
    assert_same(outputs.numpy(), keras_layer(x).numpy())
    assert_same(mask.numpy(), keras_layer.compute_mask(x).numpy())
    ref_out, ref_mask = sequence_mask_ref(x, mask_value)
    assert_same(outputs.numpy(), ref_out.numpy())
    assert_same(mask.numpy(), ref_mask.numpy())


def test_native_op_replaces_kerass_four():
    x = tf.constant(padded((4, 7, 3), 0.0))
    graph = tf.function(lambda x: sequence_mask(x)).get_concrete_function(x).graph
    types = {op.type for op in graph.get_operations()}
    assert "ZooSequenceMask" in types and not types & {"NotEqual", "Any", "SelectV2"}
    with _native.native(False):
        graph = tf.function(lambda x: sequence_mask(x)).get_concrete_function(x).graph
    assert "ZooSequenceMask" not in {op.type for op in graph.get_operations()}


def test_model_masks_once_natively():
    # A functional model reruns the ops that made the Masking layer's mask for
    # the layers that take it: with zoo's layer that is the native op as well.
    model = zoo.create_model("lstm_classifier", input_shape=(10, 3))
    spec = tf.TensorSpec((2, 10, 3))
    graph = tf.function(lambda x: model(x)).get_concrete_function(spec).graph
    types = [op.type for op in graph.get_operations()]
    assert "ZooSequenceMask" in types and not {"NotEqual", "Any"} & set(types)


def test_gradient_passes_the_kept_rows():
    x = tf.constant(padded((3, 6, 4), 0.0))
    x = tf.where(tf.math.is_nan(x), 0.5, x)
    dy = tf.constant(np.random.default_rng(1).standard_normal((3, 6, 4)).astype("float32"))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        outputs, mask = sequence_mask(x)
        loss = tf.reduce_sum(outputs * dy)
        grad = tape.gradient(loss, x)
        second = tf.reduce_sum(grad * grad)
    expected = np.where(mask.numpy()[..., None], dy.numpy(), 0.0)
    np.testing.assert_array_equal(grad.numpy(), expected)
    # The gradient is linear in dy and does not depend on x's values.
    assert tape.gradient(second, x) is None or not np.any(tape.gradient(second, x).numpy())


def test_layer_is_a_drop_in():
    x = padded((4, 9, 3), 0.0)
    x[np.isnan(x)] = 0.3

    def build(masking):
        inputs = keras.Input((None, 3))
        y = masking(0.0)(inputs)
        y = zoo.layers.LSTM(5, return_sequences=True)(y)
        return keras.Model(inputs, zoo.layers.GRU(4)(y))

    keras.utils.set_random_seed(0)
    ours = build(zoo.layers.Masking)
    stock = build(keras.layers.Masking)
    stock.set_weights(ours.get_weights())
    np.testing.assert_allclose(ours.predict(x, verbose=0), stock.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)
    layer = ours.layers[1]
    assert isinstance(layer, zoo.layers.Masking)
    assert type(keras.layers.deserialize(keras.layers.serialize(layer))) is zoo.layers.Masking


def test_keras_save_load_round_trip(tmp_path):
    model = zoo.create_model("gru_forecaster", input_shape=(12, 2))
    assert any(isinstance(layer, zoo.layers.Masking) for layer in model.layers)
    x = padded((3, 12, 2), 0.0)
    x[np.isnan(x)] = 0.0
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-6, atol=1e-6)


def test_stock_build_keeps_kerass_layer():
    model = zoo.create_model("lstm_classifier", input_shape=(10, 3), native=False)
    masking = [layer for layer in model.layers if isinstance(layer, keras.layers.Masking)]
    assert masking and not isinstance(masking[0], zoo.layers.Masking)


def test_inside_xla_takes_the_reference():
    x = tf.constant(padded((2, 5, 3), 1.0))
    jitted = tf.function(lambda x: sequence_mask(x, 1.0), jit_compile=True)
    for got, want in zip(jitted(x), sequence_mask_ref(x, 1.0)):
        assert_same(got.numpy(), want.numpy())


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(TypeError, match="floating-point"):
        sequence_mask(tf.ones((2, 3), tf.int32))
    with pytest.raises(ValueError, match="feature axis"):
        sequence_mask(tf.constant(1.0))


def test_raw_op_refuses_bad_inputs():
    lib = _native.tf_ops()
    with pytest.raises((tf.errors.InvalidArgumentError, ValueError), match="rank"):
        lib.zoo_sequence_mask(tf.constant(1.0))
    with pytest.raises(ValueError, match="dtype"):
        lib.zoo_sequence_mask(tf.ones((2, 3), tf.int32))
    # Zero features: every row is masked (Keras' any over an empty axis).
    y, mask = lib.zoo_sequence_mask(tf.zeros((3, 0)))
    assert y.shape == (3, 0) and mask.numpy().tolist() == [False] * 3
