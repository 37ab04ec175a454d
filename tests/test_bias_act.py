"""zoo.ops.bias_act: native kernels against the keras.ops reference.

Tolerances (float32): rtol 2e-5, atol 2e-6 on values — the kernels' own math is
within a few ulp of float64 (vmath.h) and the reference's within a few more.
float16/bfloat16: the native error against a float64 reference is at most
twice the framework's error at the same precision (plus one ulp of the output
scale), since the kernels compute in float32 and round once.
"""

import os
import subprocess
import sys
import tempfile
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo
from zoo import _native
from zoo.ops import KERNEL_ACTIVATIONS, bias_act, bias_act_ref

ACTIVATIONS = [
    "linear", "relu", "relu6", "leaky_relu", {"name": "relu", "max_value": 3.0, "threshold": 0.5,
                                              "negative_slope": 0.1},
    "elu", "selu", "gelu", "gelu_tanh", "silu", "sigmoid", "tanh", "softplus", "mish",
    "hard_sigmoid", "hard_silu",
]
SHAPES = [(7,), (3, 5), (2, 3, 17), (2, 2, 3, 33), (1, 1000), (0, 8)]
F32_TOL = dict(rtol=2e-5, atol=2e-6)
# Half-precision outputs computed in float32 and rounded once, against a float32
# reference: within a few half-precision ulp (float16 eps is 9.8e-4).
HALF_TOL = dict(rtol=2e-3, atol=2e-3)


def act_id(a):
    return a if isinstance(a, str) else "relu_custom"


def sample(shape, dtype="float32", scale=3.0, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape) * scale).astype(dtype)


@pytest.fixture(autouse=True, scope="module")
def _require_native():
    assert _native.use_tf_native(), "the TensorFlow op library must load in the test environment"


def run_native(x, b, act):
    return bias_act(tf.constant(x), None if b is None else tf.constant(b), act).numpy()


def run_ref(x, b, act):
    with _native.native(False):
        return bias_act(tf.constant(x), None if b is None else tf.constant(b), act).numpy()


# ---------------------------------------------------------------------------
# values


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("act", ACTIVATIONS, ids=act_id)
def test_float32_matches_reference(act, shape):
    x = sample(shape)
    b = sample(shape[-1:], seed=1)
    np.testing.assert_allclose(run_native(x, b, act), run_ref(x, b, act), **F32_TOL)
    np.testing.assert_allclose(run_native(x, None, act), run_ref(x, None, act), **F32_TOL)


def _float64_truth():
    from scipy.special import erf, expit
    return {
        "gelu": lambda z: 0.5 * z * (1 + erf(z / np.sqrt(2))),
        "gelu_tanh": lambda z: 0.5 * z * (1 + np.tanh(np.sqrt(2 / np.pi) * (z + 0.044715 * z**3))),
        "silu": lambda z: z * expit(z),
        "sigmoid": expit,
        "tanh": np.tanh,
        "softplus": lambda z: np.logaddexp(0, z),
        "elu": lambda z: np.where(z > 0, z, np.expm1(z)),
    }


@pytest.mark.parametrize("act", ["gelu", "gelu_tanh", "silu", "sigmoid", "tanh", "softplus", "elu"])
def test_float32_error_against_float64_is_within_the_documented_bounds(act):
    """vmath.h's accuracy statement: a few ulp wherever |y| > 1e-3, and for exact
    gelu (a rational erf) 1.3e-6 absolute, measured; bounds here leave a margin."""
    z = np.linspace(-12, 12, 400_001).astype(np.float32)
    truth = _float64_truth()[act](z.astype(np.float64))
    got = run_native(z, None, act).astype(np.float64)
    err = np.abs(got - truth)
    ulps = err / np.spacing(np.abs(truth).astype(np.float32)).astype(np.float64)
    if act == "gelu":
        assert err.max() <= 2e-6
        assert ulps[z > 0].max() <= 8
    else:
        # gelu_tanh: the float32 rounding of its cubic argument is amplified by
        # exp in the negative tail (about 13 ulp at z = -4; TF's own: thousands).
        bound = 16 if act == "gelu_tanh" else 8
        assert ulps[np.abs(truth) > 1e-3].max() <= bound
        assert err.max() <= 8 * np.spacing(np.float32(max(1.0, np.abs(truth).max())))


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("act", ACTIVATIONS, ids=act_id)
def test_half_precision_error_at_most_twice_the_frameworks(act, dtype):
    x32 = sample((4, 3, 67), scale=2.0)
    b32 = sample((67,), scale=0.5, seed=1)
    x = tf.cast(x32, dtype)
    b = tf.cast(b32, dtype)
    # The float64 truth from the same (rounded) inputs.
    truth = bias_act_ref(tf.cast(x, "float64"), tf.cast(b, "float64"), act).numpy()
    native = tf.cast(bias_act(x, b, act), "float64").numpy()
    with _native.native(False):
        framework = tf.cast(bias_act(x, b, act), "float64").numpy()
    assert bias_act(x, b, act).dtype == dtype
    import ml_dtypes

    ulp = float(ml_dtypes.finfo(dtype).eps) * max(1.0, np.abs(truth).max())
    err_native = np.abs(native - truth).max()
    err_framework = np.abs(framework - truth).max()
    assert err_native <= 2 * err_framework + ulp, (err_native, err_framework)


def test_large_tensor_crosses_the_threading_threshold():
    x = sample((300, 1001))  # 300K elements: several chunks, several threads
    b = sample((1001,), seed=2)
    for act in ("gelu", "silu", "relu"):
        np.testing.assert_allclose(run_native(x, b, act), run_ref(x, b, act), **F32_TOL)


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_outputs_beyond_the_cache_are_streamed_with_the_same_results(dtype):
    """Outputs larger than half the last-level cache take the streaming-store
    path; an offset view makes its unaligned head and tail run too."""
    cache = _native.c_module().build_info()["last_level_cache_bytes"]
    if cache > 256 * 2**20:
        pytest.skip(f"last-level cache of {cache} bytes: the streamed size would be too large")
    itemsize = np.dtype(dtype).itemsize
    channels = 1031
    rows = cache // 2 // (channels * itemsize) + 2
    base = sample((rows * channels + 1,), dtype, seed=7)
    x = base[1:].reshape(rows, channels)  # starts 1 element past an aligned address
    b = sample((channels,), dtype, seed=8)
    dy = sample((rows, channels), dtype, seed=9)
    c = _native.c_module()
    for act in ("gelu", "relu"):
        want = run_ref(x.astype(np.float32), b.astype(np.float32), act)
        got = c.bias_act(x, b, act).astype(np.float32)
        np.testing.assert_allclose(got, want, **(F32_TOL if dtype == "float32" else HALF_TOL))
        dx, db = c.bias_act_backward(dy, x, b, act)
        rdx, rdb = ref_grads(x.astype(np.float32), b.astype(np.float32),
                             dy.astype(np.float32), act, "float32")
        tol = dict(rtol=5e-5, atol=5e-6) if dtype == "float32" else HALF_TOL
        np.testing.assert_allclose(dx.astype(np.float32), rdx, **tol)
        if dtype == "float32":  # the TF op: its own (aligned) output buffer
            np.testing.assert_allclose(run_native(x, b, act), want, **F32_TOL)


SPECIALS = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e30, -1e30, 88.5, -88.5, 100.0,
                     -100.0, 1e-30, -1e-30, 20.0, -20.0], dtype=np.float32)


@pytest.mark.parametrize("act", ACTIVATIONS, ids=act_id)
def test_special_values_behave_like_the_reference(act):
    got, want = run_native(SPECIALS, None, act), run_ref(SPECIALS, None, act)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7, equal_nan=True)


def test_relu_keeps_negative_zero_and_nan_like_tensorflow():
    got = run_native(np.array([-0.0, np.nan], np.float32), None, "relu")
    assert np.signbit(got[0]) and np.isnan(got[1])


def ref_grads(x, b, dy, act, dtype):
    tx, tb = tf.constant(x, dtype), tf.constant(b, dtype)
    with tf.GradientTape() as tape:
        tape.watch([tx, tb])
        y = bias_act_ref(tx, tb, act)
    return [g.numpy().astype("float64") for g in
            tape.gradient(y, [tx, tb], output_gradients=tf.constant(dy, dtype))]


def assert_at_most_twice_framework_error(native, framework, truth):
    """The GUIDE's rule: native error against float64 at most ~2x Keras' own at
    the same precision (plus one float32 ulp of the scale for exact ties)."""
    scale = max(1.0, float(np.abs(truth).max()))
    err_native = float(np.abs(native - truth).max())
    err_framework = float(np.abs(framework - truth).max())
    assert err_native <= 2 * err_framework + 1.2e-7 * scale, (err_native, err_framework)


@pytest.mark.parametrize("isa", ["scalar", "avx2", "avx512"])
def test_each_isa_path_gives_the_same_results(isa):
    build = _native.c_module().build_info()
    order = ["scalar", "avx2", "avx512"]
    if order.index(isa) > order.index(build["isa_detected"]):
        pytest.skip(f"this CPU runs at most {build['isa_detected']}")
    x = sample((5, 133))
    b = sample((133,), seed=3)
    dy = sample((5, 133), seed=4)
    try:
        _native.set_isa(isa)
        assert _native.get_isa() == isa
        for act in KERNEL_ACTIVATIONS:
            kw = {"name": act, "alpha": 1.0} if act == "elu" else act
            np.testing.assert_allclose(run_native(x, b, kw), run_ref(x, b, kw), **F32_TOL)
            dx, db = _native.c_module().bias_act_backward(
                dy, x, b, activation=act, alpha=1.0 if act == "elu" else 0.0)
            (rdx32, rdb32), (rdx64, rdb64) = (ref_grads(x, b, dy, kw, dt)
                                               for dt in ("float32", "float64"))
            assert_at_most_twice_framework_error(dx, rdx32, rdx64)
            assert_at_most_twice_framework_error(db, rdb32, rdb64)
    finally:
        _native.set_isa(None)


# ---------------------------------------------------------------------------
# gradients


@pytest.mark.parametrize("act", ACTIVATIONS, ids=act_id)
@pytest.mark.parametrize("shape", [(3, 5), (2, 3, 17), (0, 4)], ids=str)
def test_tape_gradients_match_reference(act, shape):
    x = tf.constant(sample(shape))
    b = tf.constant(sample(shape[-1:], seed=1))
    dy = tf.constant(sample(shape, seed=2))

    def grads(native):
        with _native.native(native), tf.GradientTape() as tape:
            tape.watch([x, b])
            y = bias_act(x, b, act)
        return [g.numpy() for g in tape.gradient(y, [x, b], output_gradients=dy)]

    (ndx, ndb), (rdx, rdb) = grads(True), grads(False)
    np.testing.assert_allclose(ndx, rdx, rtol=5e-5, atol=5e-6)
    np.testing.assert_allclose(ndb, rdb, rtol=5e-5, atol=5e-5)


@pytest.mark.parametrize("act", ["gelu", "gelu_tanh", "silu", "elu", "softplus", "mish", "tanh",
                                 "sigmoid", "selu"])
def test_numerical_gradient(act):
    # Inputs kept away from kinks; float32 finite differences need loose tolerances.
    x = tf.constant(sample((3, 4), scale=1.5, seed=7))
    b = tf.constant(sample((4,), scale=0.5, seed=8))
    theoretical, numerical = tf.test.compute_gradient(lambda x, b: bias_act(x, b, act), [x, b],
                                                      delta=1e-2)
    for t, n in zip(theoretical, numerical):
        np.testing.assert_allclose(t, n, rtol=2e-2, atol=2e-3)


def _penalty_grads(x, b, act, native):
    """Gradients w.r.t. (x, b) of ||d sum(y * v) / dx||^2 (a gradient penalty),
    which differentiates the backward op itself."""
    x, b = tf.constant(x), tf.constant(b)
    v = tf.constant(sample(x.shape, seed=11))
    with _native.native(native):
        with tf.GradientTape() as outer:
            outer.watch([x, b])
            with tf.GradientTape() as inner:
                inner.watch([x, b])
                y = bias_act(x, b, act)
            dx, db = inner.gradient(y, [x, b], output_gradients=v)
            penalty = tf.reduce_sum(dx ** 2) + tf.reduce_sum(db ** 2)
        return [g.numpy() for g in outer.gradient(penalty, [x, b])]


@pytest.mark.parametrize("act", ["gelu", "gelu_tanh", "silu", "elu", "softplus", "tanh", "relu"])
def test_second_derivatives_match_reference(act):
    x, b = sample((5, 7), scale=1.5, seed=3), sample((7,), seed=4)
    for got, want in zip(_penalty_grads(x, b, act, True), _penalty_grads(x, b, act, False)):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("act, native_op", [("relu", False), ("linear", False), ("gelu", True),
                                             ("relu6", True)])
def test_relu_after_a_convolution_is_left_to_tensorflows_fusion(act, native_op):
    """TF fuses Conv2D + BiasAdd + Relu; a native op there would break that."""
    x = tf.constant(sample((2, 8, 8, 3)))
    k = tf.constant(sample((3, 3, 3, 4), seed=1))
    b = tf.constant(sample((4,), seed=2))

    def f(x):
        return bias_act(tf.nn.conv2d(x, k, 1, "SAME"), b, act)

    graph = tf.function(f).get_concrete_function(x).graph
    op_types = {op.type for op in graph.get_operations()}
    assert ("ZooBiasAct" in op_types) == native_op
    want = bias_act_ref(tf.nn.conv2d(x, k, 1, "SAME"), b, act)
    np.testing.assert_allclose(tf.function(f)(x).numpy(), want.numpy(), **F32_TOL)


def test_gradient_runs_the_native_grad_op():
    x = tf.constant(sample((4, 6)))
    b = tf.constant(sample((6,)))

    @tf.function
    def step(x, b):
        with tf.GradientTape() as tape:
            tape.watch(b)
            y = bias_act(x, b, "gelu")
        return tape.gradient(y, b)

    graph = step.get_concrete_function(x, b).graph
    op_types = {op.type for op in graph.get_operations()}
    assert {"ZooBiasAct", "ZooBiasActGrad"} <= op_types


# ---------------------------------------------------------------------------
# pybind11 interface


def test_c_module_accepts_non_contiguous_views_and_dtypes():
    c = _native.c_module()
    base = sample((6, 40))
    view = base[::2, ::3]  # not contiguous
    b = sample((view.shape[-1],), seed=5)
    want = run_ref(np.ascontiguousarray(view), b, "silu")
    np.testing.assert_allclose(c.bias_act(view, b, "silu"), want, **F32_TOL)
    for dt in ("float16",):
        got = c.bias_act(view.astype(dt), b.astype(dt), "silu")
        assert got.dtype == dt
    empty = c.bias_act(np.zeros((0, 3), np.float32), np.zeros(3, np.float32), "gelu")
    assert empty.shape == (0, 3)


def test_c_module_activation_parameters_default_like_keras():
    c = _native.c_module()
    x = np.array([-1.0, 2.0], np.float32)
    np.testing.assert_allclose(c.bias_act(x, None, "elu"), [np.expm1(-1.0), 2.0], rtol=1e-6)
    np.testing.assert_allclose(c.bias_act(x, None, "elu", alpha=0.5), [0.5 * np.expm1(-1.0), 2.0],
                               rtol=1e-6)
    np.testing.assert_array_equal(c.bias_act(x, None, "relu"), [0.0, 2.0])


def test_c_module_rejects_bad_input_with_clear_errors():
    c = _native.c_module()
    x = sample((4, 5))
    with pytest.raises(ValueError, match="bias has 4 values but x's last axis is 5"):
        c.bias_act(x, sample((4,)), "relu")
    with pytest.raises(ValueError, match="dtype float64"):
        c.bias_act(x.astype(np.float64), None, "relu")
    with pytest.raises(ValueError, match="unknown activation 'nope'"):
        c.bias_act(x, None, "nope")
    with pytest.raises(ValueError, match="bias must be 1-D"):
        c.bias_act(x, sample((1, 5)), "relu")
    with pytest.raises(ValueError, match="dy's shape differs"):
        c.bias_act_backward(sample((4, 4)), x, None, "relu")


def test_build_info_reports_isa_and_cuda():
    info = _native.c_module().build_info()
    assert info["isa_active"] in info["isa_compiled"].split(",")
    assert isinstance(info["cuda"], bool)
    assert info["version"] == zoo.__version__


# ---------------------------------------------------------------------------
# op-level errors


def test_op_rejects_bad_input():
    x = tf.constant(sample((4, 5)))
    with pytest.raises(ValueError, match="bias has 3 values but x's last axis is 5"):
        bias_act(x, tf.constant(sample((3,))), "relu")
    with pytest.raises(TypeError, match="floating-point"):
        bias_act(tf.constant([[1, 2]]), None, "relu")
    with pytest.raises(TypeError, match="bias dtype float16 differs"):
        bias_act(x, tf.constant(sample((5,), "float16")), "relu")
    with pytest.raises(ValueError, match="unknown activation 'geluu'"):
        bias_act(x, None, "geluu")
    with pytest.raises(ValueError, match="max_value must be positive"):
        bias_act(x, None, {"name": "relu", "max_value": -1.0})


def test_dynamic_shape_mismatch_is_caught_by_the_kernel():
    @tf.function(input_signature=[tf.TensorSpec([None, None]), tf.TensorSpec([None])])
    def f(x, b):
        return bias_act(x, b, "relu")

    with pytest.raises(tf.errors.InvalidArgumentError, match="bias has 3 values"):
        f(tf.ones((2, 5)), tf.ones((3,)))


# ---------------------------------------------------------------------------
# the layer


def _model(native, seed=0):
    keras.utils.set_random_seed(seed)
    with _native.native(native):
        return keras.Sequential([
            keras.Input((12,)),
            keras.layers.Dense(16, use_bias=False),
            zoo.layers.BiasActivation("gelu", bias_initializer="random_normal"),
            keras.layers.Dense(3),
        ])


def test_layer_trains_with_the_same_losses_on_both_paths():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((64, 12)).astype("float32"), rng.standard_normal((64, 3))
    losses = {}
    for native in (True, False):
        model = _model(native)
        with _native.native(native):
            model.compile(keras.optimizers.SGD(0.05), "mse")
            hist = model.fit(x, y, epochs=3, batch_size=16, shuffle=False, verbose=0)
        losses[native] = hist.history["loss"]
    np.testing.assert_allclose(losses[True], losses[False], rtol=1e-4)
    assert losses[True][-1] < losses[True][0]


def test_layer_compiles_with_xla_on_the_reference():
    # Under jit_compile=True the op takes its keras.ops reference (XLA fuses
    # it), so the layer never turns XLA off; outside XLA it runs the native op.
    assert zoo.layers.BiasActivation("relu").supports_jit is True
    x = sample((8, 12))
    layer = zoo.layers.BiasActivation("gelu")
    layer(x)
    layer.bias.assign(sample((12,)))
    jitted = tf.function(lambda x: layer(x), jit_compile=True)
    graph = tf.function(lambda x: layer(x))
    ops_in_graph = {op.type for op in graph.get_concrete_function(x).graph.get_operations()}
    assert "ZooBiasAct" in ops_in_graph
    np.testing.assert_allclose(jitted(x), graph(x), rtol=1e-5, atol=1e-6)


def test_layer_keras_round_trip(tmp_path):
    model = _model(True)
    x = sample((5, 12))
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(loaded(x), model(x), **F32_TOL)
    layer = loaded.layers[1]
    assert isinstance(layer, zoo.layers.BiasActivation) and layer.activation.name == "gelu"


def test_layer_accepts_keras_activation_functions():
    layer = zoo.layers.BiasActivation(keras.activations.silu)
    assert layer.activation.name == "silu"
    with pytest.raises(ValueError, match="has no fused kernel"):
        zoo.layers.BiasActivation(lambda t: t)


# ---------------------------------------------------------------------------
# required native path


def _child(code, **env):
    full_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **env}
    # cwd outside the checkout: `python -c` puts the current folder on sys.path,
    # which from the repository root would import the unbuilt source tree.
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, env=full_env, timeout=300, cwd=tempfile.gettempdir())


BROKEN_LIB = """
    import zoo._native as n
    n._TF_LIB_NAME = "_missing_library.so"  # as if the build had not produced it
    import tensorflow as tf
    from zoo.ops import bias_act
    y = bias_act(tf.ones((2, 3)), None, "relu")
    print("fallback", float(tf.reduce_sum(y)))
"""


def test_missing_native_library_fails_loudly_when_required():
    out = _child(BROKEN_LIB, ZOO_REQUIRE_NATIVE="1")
    assert out.returncode != 0
    assert "NativeUnavailableError" in out.stderr and "_missing_library.so" in out.stderr


def test_missing_native_library_falls_back_when_not_required():
    out = _child(BROKEN_LIB, ZOO_REQUIRE_NATIVE="0")
    assert out.returncode == 0, out.stderr
    assert "fallback 6.0" in out.stdout


def test_zoo_layers_pass_timestep_masks_through():
    inputs = keras.Input((None, 4))
    hidden = keras.layers.Masking(0.0)(inputs)
    hidden = zoo.layers.FusedDense(8, activation="relu")(hidden)
    hidden = zoo.layers.BiasActivation("gelu", bias_initializer="ones")(hidden)
    model = keras.Model(inputs, keras.layers.LSTM(3)(hidden))
    padded = sample((2, 5, 4))
    padded[:, 3:] = 0.0  # two padding steps, which the LSTM must skip
    np.testing.assert_allclose(model(padded), model(padded[:, :3]), **F32_TOL)
