"""zoo.ops.dense and FusedDense: zoo's native GEMM (+ fused epilogue) against
the keras.ops reference, forward and backward, on every ISA path.

Tolerances (float32, stated against the reference):
- values: |native - ref| <= 1e-5 * (|x| @ |W| + |b|) + 1e-6 elementwise. The
  bound is the dot product's own error scale (float32 rounding grows with it,
  whatever the summation order), so one rule covers K = 1 to 4096; the
  activations used have |f'| <= ~1.13, so they do not widen it.
- gradients (GradientTape vs the reference's gradient): max |diff| <= 1e-4 *
  max |ref| per tensor.
- tf.test.compute_gradient (finite differences in float32, delta 1e-2, smooth
  activations on inputs of size ~1): max |theoretical - numerical| <= 2e-2.
"""

import numpy as np
import pytest
import tensorflow as tf
import keras

import zoo
from zoo import _native
from zoo.ops import dense, dense_ref
from zoo.ops.dense import choose_path, dense_path, set_dense_path

ACTS = ["linear", "relu", "gelu", "silu", "tanh",
        {"name": "relu", "max_value": 3.0, "threshold": 0.5, "negative_slope": 0.1}]
# (x shape, units): 1x1x1, primes, tall/skinny, wide/short, large K, empty
# batch, rank 3, and an empty inner dimension.
SHAPES = [
    ((1, 1), 1),
    ((37, 129), 61),
    ((1500, 9), 5),
    ((3, 200), 1000),
    ((8, 4096), 33),
    ((0, 16), 8),
    ((2, 5, 37), 19),
    ((4, 0), 7),
]


def act_id(a):
    return a if isinstance(a, str) else "relu_custom"


def shape_id(s):
    return "x".join(map(str, s[0])) + f"-{s[1]}"


def sample(shape, seed, scale=1.0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape) * scale).astype("float32")


def make(shape, seed=0):
    xs, units = shape
    k = xs[-1]
    return sample(xs, seed), sample((k, units), seed + 1, 1.0 / max(1, k) ** 0.5), sample((units,), seed + 2)


def value_bound(x, w, b):
    rows = int(np.prod(x.shape[:-1]))
    xb = np.abs(x.astype("float64")).reshape(rows, x.shape[-1]) @ np.abs(w.astype("float64"))
    if b is not None:
        xb = xb + np.abs(b)
    return xb.reshape(x.shape[:-1] + (w.shape[1],))


def assert_values_close(got, want, x, w, b):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape
    tol = 1e-5 * value_bound(x, w, b) + 1e-6
    bad = np.abs(got.astype("float64") - want) > tol
    assert not bad.any(), f"{bad.sum()} of {bad.size} values off; max diff {np.abs(got - want).max()}"


def assert_grads_close(got, want):
    for g, r in zip(got, want):
        g, r = np.asarray(g), np.asarray(r)
        assert g.shape == r.shape
        if r.size == 0:
            continue
        scale = max(np.abs(r).max(), 1e-30)
        assert np.abs(g - r).max() <= 1e-4 * scale, (np.abs(g - r).max(), scale)


def apply_dense(x, w, b, act, path):
    """zoo.ops.dense forced onto `path`, or dense_ref for "reference"."""
    if path == "reference":
        return dense_ref(x, w, b, act)
    with dense_path(path):
        return dense(x, w, b, act)


def run(x, w, b, act, path):
    """Forward value and (dx, dW, db) of sum(y * dy) through zoo.ops.dense on `path`."""
    x, w = tf.constant(x), tf.constant(w)
    b = None if b is None else tf.constant(b)
    dy = tf.constant(sample(tuple(x.shape[:-1]) + (w.shape[1],), 99))
    watched = [x, w] + ([b] if b is not None else [])
    with tf.GradientTape() as tape:
        tape.watch(watched)
        y = apply_dense(x, w, b, act, path)
        loss = tf.reduce_sum(y * dy)
    grads = tape.gradient(loss, watched)
    grads = [np.zeros(v.shape, "float32") if g is None else g.numpy() for g, v in zip(grads, watched)]
    return y.numpy(), grads


@pytest.fixture(autouse=True, scope="module")
def _require_native():
    assert _native.use_tf_native(), "the TensorFlow op library must load in the test environment"


# ---------------------------------------------------------------------------
# values and gradients against the reference


@pytest.mark.parametrize("shape", SHAPES, ids=shape_id)
@pytest.mark.parametrize("act", ACTS, ids=act_id)
def test_gemm_matches_reference(shape, act):
    x, w, b = make(shape)
    for bias in (b, None):
        y, g = run(x, w, bias, act, "gemm")
        y_ref, g_ref = run(x, w, bias, act, "reference")
        assert_values_close(y, y_ref, x, w, bias)
        assert_grads_close(g, g_ref)


@pytest.mark.parametrize("act", ["gelu", "relu"])
def test_matmul_path_matches_reference(act):
    x, w, b = make(((37, 129), 61))
    y, g = run(x, w, b, act, "matmul")
    y_ref, g_ref = run(x, w, b, act, "reference")
    assert_values_close(y, y_ref, x, w, b)
    assert_grads_close(g, g_ref)


@pytest.mark.parametrize("act", ["linear", "gelu", "silu", "tanh"])
def test_compute_gradient_finite_differences(act):
    x, w, b = make(((3, 4, 5), 6), seed=3)

    def f(x, w, b):
        with dense_path("gemm"):
            return dense(x, w, b, act)

    theoretical, numerical = tf.test.compute_gradient(f, [x, w, b], delta=1e-2)
    for t, n in zip(theoretical, numerical):
        assert np.abs(t - n).max() <= 2e-2


def gradient_penalty_grads(x, w, b, act, path):
    """Gradients w.r.t. (x, W, b) of the squared norms of d sum(y * v) / d(x, W, b):
    gradient penalties, which differentiate the backward op itself."""
    x, w, b = map(tf.constant, (x, w, b))
    v = tf.constant(sample(tuple(x.shape[:-1]) + (w.shape[1],), 98))
    with tf.GradientTape() as outer:
        outer.watch([x, w, b])
        with tf.GradientTape() as inner:
            inner.watch([x, w, b])
            loss = tf.reduce_sum(apply_dense(x, w, b, act, path) * v)
        penalty = sum(tf.reduce_sum(g ** 2) for g in inner.gradient(loss, [x, w, b]))
    return [g.numpy() for g in outer.gradient(penalty, [x, w, b])]


@pytest.mark.parametrize("shape", [((12, 9), 7), ((2, 3, 9), 5)], ids=shape_id)
@pytest.mark.parametrize("act", ["gelu", "silu", "tanh", "relu"])
def test_second_derivatives_match_reference(act, shape):
    x, w, b = make(shape, seed=5)
    assert_grads_close(gradient_penalty_grads(x, w, b, act, "gemm"),
                       gradient_penalty_grads(x, w, b, act, "reference"))


def test_backward_recomputes_preact_when_not_saved():
    x, w, b = make(((16, 33), 20), seed=4)
    xt, wt, bt = map(tf.constant, (x, w, b))
    with tf.GradientTape() as tape:
        tape.watch([xt, wt, bt])
        with dense_path("gemm"):
            y = dense(xt, wt, bt, "gelu", training=False)
        loss = tf.reduce_sum(y * y)
    g = tape.gradient(loss, [xt, wt, bt])
    with tf.GradientTape() as tape:
        tape.watch([xt, wt, bt])
        y_ref = dense_ref(xt, wt, bt, "gelu")
        loss = tf.reduce_sum(y_ref * y_ref)
    assert_grads_close(g, tape.gradient(loss, [xt, wt, bt]))


# ---------------------------------------------------------------------------
# ISA paths, the pybind entry, determinism


@pytest.mark.parametrize("isa", ["scalar", "avx2", "avx512"])
def test_each_isa_path(isa):
    order = ["scalar", "avx2", "avx512"]
    detected = zoo._native.c_module().build_info()["isa_detected"]
    if order.index(isa) > order.index(detected):
        pytest.skip(f"this CPU runs at most {detected}")
    try:
        _native.set_isa(isa)
        assert _native.get_isa() == isa
        for shape in (((37, 129), 61), ((2, 5, 37), 19), ((1, 1), 1), ((300, 64), 96)):
            x, w, b = make(shape, seed=5)
            y, g = run(x, w, b, "silu", "gemm")
            y_ref, g_ref = run(x, w, b, "silu", "reference")
            assert_values_close(y, y_ref, x, w, b)
            assert_grads_close(g, g_ref)
            # The numpy entry runs the same core on its own thread pool.
            c = _native.c_module()
            y_c, z_c = c.dense(x, w, b, "silu", return_preact=True)
            np.testing.assert_array_equal(y_c, y)
            dx, dw, db = c.dense_backward(sample(y.shape, 99), x, w, b, z_c, "silu")
            for got, want in zip((dx, dw, db), g):
                np.testing.assert_array_equal(got, want)
    finally:
        _native.set_isa(None)


def test_results_are_bitwise_repeatable():
    x, w, b = make(((256, 512), 384), seed=6)
    first = run(x, w, b, "gelu", "gemm")
    for _ in range(3):
        again = run(x, w, b, "gelu", "gemm")
        np.testing.assert_array_equal(again[0], first[0])
        for a, f in zip(again[1], first[1]):
            np.testing.assert_array_equal(a, f)


def test_pybind_backward_without_preact_recomputes():
    x, w, b = make(((9, 17), 11), seed=7)
    c = _native.c_module()
    y, z = c.dense(x, w, b, "gelu", return_preact=True)
    dy = sample(y.shape, 1)
    with_z = c.dense_backward(dy, x, w, b, z, "gelu")
    without = c.dense_backward(dy, x, w, b, None, "gelu")
    for a, r in zip(with_z, without):
        np.testing.assert_array_equal(a, r)


# ---------------------------------------------------------------------------
# dispatch


def test_half_precision_goes_through_matmul_and_bias_act():
    assert choose_path((8, 16), (16, 4), "float16") == "matmul"
    assert choose_path((8, 16), (16, 4), "bfloat16") == "matmul"
    x, w, b = make(((8, 16), 4))
    y = dense(tf.cast(x, "float16"), tf.cast(w, "float16"), tf.cast(b, "float16"), "gelu")
    assert y.dtype == tf.float16
    np.testing.assert_allclose(y.numpy().astype("float32"), dense_ref(x, w, b, "gelu").numpy(),
                               rtol=1e-2, atol=1e-2)


def test_dispatch_rule():
    from zoo.ops.dense import gemm_preferred

    assert gemm_preferred(32, 4096, 4096)         # small batch, big weights: zoo's GEMM
    assert gemm_preferred(64, 1024, 256)
    assert not gemm_preferred(32, 256, 256)       # few weights: tf.matmul + bias_act
    assert not gemm_preferred(32, 1024, 1024, training=False)  # inference
    assert not gemm_preferred(128, 512, 512)      # more rows
    assert not gemm_preferred(2048, 2048, 2048)
    assert not gemm_preferred(None, 1024, 1024)   # batch unknown while tracing
    with dense_path(None):
        assert choose_path((4, 8, 512), (512, 512), "float32") == "gemm"
        assert choose_path((4, 8, 512), (512, 512), "float32", training=False) == "matmul"
        assert choose_path((2048, 2048), (2048, 2048), "float32", activation="gelu") == "matmul"
        # Training on many rows with relu or no activation: TF's own fused graph.
        assert choose_path((256, 1024), (1024, 1024), "float32", activation="relu") == "reference"
        assert choose_path((256, 1024), (1024, 1024), "float32", activation="linear") == "reference"
        assert choose_path((256, 1024), (1024, 1024), "float32", activation="relu6") == "matmul"
        assert choose_path((256, 1024), (1024, 1024), "float32", training=False,
                           activation="relu") == "matmul"
        # Inference with gelu: Dense's own graph, which TensorFlow fuses into one op.
        for rows in (32, 128, None):
            for gelu in ("gelu", "gelu_tanh"):
                assert choose_path((rows, 512), (512, 512), "float32", training=False,
                                   activation=gelu) == "reference"
            assert choose_path((rows, 512), (512, 512), "float32", training=False,
                               activation="silu") == "matmul"
        # Batch unknown while tracing (fit over a dataset): treated as large.
        assert choose_path((None, 512), (512, 512), "float32", activation="gelu") == "matmul"
        assert choose_path((None, 512), (512, 512), "float32", activation="relu") == "reference"
        assert choose_path((None, 512), (512, 512), "float32", training=False,
                           activation="relu") == "matmul"


def test_forced_paths_and_bad_path_name():
    with dense_path("matmul"):
        assert choose_path((8, 16), (16, 4), "float32") == "matmul"
    with dense_path("gemm"):
        assert choose_path((8, 16), (16, 4), "float32") == "gemm"
    with pytest.raises(ValueError, match="dense path"):
        set_dense_path("fast")


# ---------------------------------------------------------------------------
# bad inputs


def test_bad_inputs_raise_clear_errors():
    x = tf.ones((4, 5))
    with pytest.raises(ValueError, match="last axis is 5 but kernel expects 6"):
        dense(x, tf.ones((6, 3)))
    with pytest.raises(ValueError, match="kernel must be 2-D"):
        dense(x, tf.ones((5, 3, 1)))
    with pytest.raises(ValueError, match="bias has 2 values but kernel has 3"):
        dense(x, tf.ones((5, 3)), tf.ones((2,)))
    with pytest.raises(TypeError, match="differs from kernel dtype"):
        dense(x, tf.ones((5, 3), "float64"))
    with pytest.raises(TypeError, match="floating-point"):
        dense(tf.ones((4, 5), "int32"), tf.ones((5, 3), "int32"))


def test_native_entries_validate_before_running():
    lib = _native.tf_ops()
    with pytest.raises((ValueError, tf.errors.InvalidArgumentError), match="5|6"):
        lib.zoo_dense(tf.ones((4, 5)), tf.ones((6, 3)), tf.ones((3,)), activation="relu")
    with pytest.raises((ValueError, tf.errors.InvalidArgumentError)):
        lib.zoo_dense(tf.ones(()), tf.ones((6, 3)), tf.ones((3,)), activation="relu")
    with pytest.raises((ValueError, tf.errors.InvalidArgumentError)):
        lib.zoo_dense(tf.ones((4, 6)), tf.ones((6, 3)), tf.ones((3,)), activation="nope")
    with pytest.raises((ValueError, tf.errors.InvalidArgumentError)):
        lib.zoo_dense_grad(tf.ones((4, 2)), tf.ones((4, 6)), tf.ones((6, 3)), tf.ones((3,)),
                           tf.ones((0,)), activation="relu")
    c = _native.c_module()
    with pytest.raises(ValueError, match="last axis is 5 but kernel expects 6"):
        c.dense(np.ones((4, 5), "float32"), np.ones((6, 3), "float32"))
    with pytest.raises(ValueError, match="dtype float64"):
        c.dense(np.ones((4, 6)), np.ones((6, 3), "float32"))
    with pytest.raises(ValueError, match="bias has 2 values"):
        c.dense(np.ones((4, 6), "float32"), np.ones((6, 3), "float32"), np.ones(2, "float32"))
    with pytest.raises(ValueError, match="dy has shape"):
        c.dense_backward(np.ones((4, 2), "float32"), np.ones((4, 6), "float32"),
                         np.ones((6, 3), "float32"))


# ---------------------------------------------------------------------------
# FusedDense as a drop-in for keras.layers.Dense


def _twin_models(activation, seed=0):
    def build(layer_cls):
        keras.utils.set_random_seed(seed)
        inp = keras.Input((3, 12))
        h = layer_cls(24, activation=activation, name="d1")(inp)
        out = layer_cls(1, name="d2")(keras.layers.Flatten()(h))
        return keras.Model(inp, out)

    stock = build(keras.layers.Dense)
    fused = build(zoo.layers.FusedDense)
    fused.set_weights(stock.get_weights())
    return stock, fused


@pytest.mark.parametrize("activation", ["gelu", "relu"])
def test_fused_dense_matches_keras_dense_in_fit(activation):
    stock, fused = _twin_models(activation)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 3, 12)).astype("float32")
    y = rng.standard_normal((64, 1)).astype("float32")
    losses = []
    # Forced onto zoo's GEMM: at these sizes the dispatch rule could pick
    # either path depending on whether Keras traces with a known batch size.
    with dense_path("gemm"):
        np.testing.assert_allclose(fused.predict(x, verbose=0), stock.predict(x, verbose=0),
                                   rtol=1e-5, atol=1e-5)
        for model in (stock, fused):
            model.compile(keras.optimizers.SGD(0.05), "mse")
            losses.append(model.fit(x, y, batch_size=16, epochs=3, shuffle=False,
                                    verbose=0).history["loss"])
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-4)
    for a, b in zip(fused.get_weights(), stock.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_fused_dense_keras_save_load_round_trip(tmp_path):
    _, fused = _twin_models("silu")
    x = np.random.default_rng(1).standard_normal((5, 3, 12)).astype("float32")
    path = tmp_path / "m.keras"
    fused.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded.get_layer("d1"), zoo.layers.FusedDense)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), fused.predict(x, verbose=0))
