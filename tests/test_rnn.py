"""zoo.layers.LSTM / GRU and zoo.ops.lstm / gru: the fused whole-sequence
kernel (csrc/kernels/rnn.h) against keras.layers.LSTM / GRU with identical
weights, forward and backward, and the dispatch around it.

Tolerance (float32): for every output, state and gradient tensor,
max |native - keras| <= 1e-5 * max |keras| + 1e-7. Both run the same float32
equations; they differ in summation order (GEMM blocking against oneDNN) and
in sigmoid/tanh (the kernel's tanh is a rational function within 3.3e-7
relative of tanh), which the recurrence carries along without growing past
this bound (checked up to T = 500).
"""

import json
import logging
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
import keras

import zoo
from zoo import _native

RTOL = 1e-5
CELLS = ["lstm", "gru", "gru_before"]  # gru: reset_after=True (Keras' default)


def layer_pair(cell, units, **kwargs):
    if cell == "gru_before":
        kwargs["reset_after"] = False
    name = "LSTM" if cell == "lstm" else "GRU"
    return getattr(keras.layers, name)(units, **kwargs), getattr(zoo.layers, name)(units, **kwargs)


def make_mask(kind, batch, time, rng):
    if kind == "none":
        return None
    if kind == "right":  # right padding, lengths 1..time
        lengths = rng.integers(1, time + 1, batch)
        return np.arange(time)[None, :] < lengths[:, None]
    return rng.random((batch, time)) > 0.4  # holes anywhere, some rows start masked


def run_pair(cell, batch, time, features, units, mask_kind="none", initial_state=True,
             seed=0, graph=False, **kwargs):
    """Outputs, states and gradients (inputs, initial states, weights) of the
    Keras layer and zoo's with the same weights; returns (keras, zoo) lists."""
    rng = np.random.default_rng(seed)
    stock, native = layer_pair(cell, units, **kwargs)
    x = tf.constant(rng.standard_normal((batch, time, features)).astype("float32"))
    stock(x[:, :1])
    native(x[:, :1])
    for v in stock.weights:
        v.assign(rng.standard_normal(v.shape).astype("float32") * 0.4)
    native.set_weights(stock.get_weights())
    n_states = 2 if cell == "lstm" else 1
    states = [tf.constant(rng.standard_normal((batch, units)).astype("float32"))
              for _ in range(n_states)] if initial_state else []
    mask = make_mask(mask_kind, batch, time, rng)
    mask = None if mask is None else tf.constant(mask)
    results = []
    for layer in (stock, native):
        def step(x, states, layer=layer):
            with tf.GradientTape() as tape:
                tape.watch([x] + states)
                out = layer(x, initial_state=states or None, mask=mask, training=True)
                outs = list(out) if isinstance(out, (list, tuple)) else [out]
                # Weighted sum so that every output element gets its own gradient.
                loss = sum(tf.reduce_sum(o * tf.reshape(
                    tf.cos(tf.range(tf.size(o), dtype=tf.float32) * 0.37 + k), tf.shape(o)))
                    for k, o in enumerate(outs))
            grads = tape.gradient(loss, [x] + states + layer.trainable_weights)
            return outs, grads
        if graph == "xla" and layer is native:  # zoo's layer compiled by XLA, Keras' as reference
            fn = tf.function(step, jit_compile=True)
        else:
            fn = tf.function(step) if graph else step
        outs, grads = fn(x, states)
        results.append([o.numpy() for o in outs] + [g.numpy() for g in grads])
    return results


def assert_close(stock, native, rtol=RTOL):
    assert len(stock) == len(native)
    for i, (a, b) in enumerate(zip(stock, native)):
        assert a.shape == b.shape, (i, a.shape, b.shape)
        err = np.abs(a - b).max() if a.size else 0.0
        scale = np.abs(a).max() if a.size else 0.0
        assert err <= rtol * scale + 1e-7, f"tensor {i}: max error {err}, max {scale}"


# ----------------------------------------------------------------------------
# Semantics against Keras

# (return_sequences, return_state, go_backwards, zero_output_for_mask): a
# covering subset of the 16 combinations, each flag on and off in each pairing.
FLAGS = [(False, False, False, False), (True, True, False, True), (True, False, True, False),
         (False, True, True, True), (True, True, True, False)]


@pytest.mark.parametrize("mask_kind", ["none", "right", "holes"])
@pytest.mark.parametrize("cell", CELLS)
def test_matches_keras(cell, mask_kind):
    for i, (rs, st, gb, zero) in enumerate(FLAGS):
        stock, native = run_pair(cell, 5, 7, 3, 6, mask_kind, initial_state=i % 2 == 0, seed=i,
                                 return_sequences=rs, return_state=st, go_backwards=gb,
                                 zero_output_for_mask=zero)
        assert_close(stock, native)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("shape", [(1, 1, 1, 1), (1, 9, 4, 5), (3, 11, 7, 13), (64, 20, 16, 64),
                                   (33, 6, 2, 8), (3, 4, 150, 150)],
                         ids=lambda s: "x".join(map(str, s)))
def test_shapes(cell, shape):
    # T = 1, batch 1, odd sizes, batches split across threads (64 rows; 33 unevenly),
    # and weights large enough for the backward's transposes of W and U to be
    # split across threads, in tiles that do not divide them.
    b, t, f, u = shape
    stock, native = run_pair(cell, b, t, f, u, "holes" if b > 1 else "none", graph=True,
                             return_sequences=True, return_state=True)
    assert_close(stock, native)


@pytest.mark.parametrize("cell", CELLS)
def test_empty_batch_has_zero_weight_gradients(cell):
    g = 4 if cell == "lstm" else 3
    x, h = tf.zeros((0, 5, 3)), tf.zeros((0, 4))
    w, r = tf.ones((3, g * 4)), tf.ones((4, g * 4))
    b = tf.ones((2, 12)) if cell == "gru" else tf.ones((g * 4,))
    with tf.GradientTape() as tape:
        tape.watch([w, r, b])
        if cell == "lstm":
            out = zoo.ops.lstm(x, h, h, None, w, r, b, return_sequences=True)
        else:
            out = zoo.ops.gru(x, h, None, w, r, b, return_sequences=True,
                              reset_after=cell == "gru")
        loss = tf.reduce_sum(out[1])
    for grad, var in zip(tape.gradient(loss, [w, r, b]), (w, r, b)):
        assert grad.shape == var.shape
        np.testing.assert_array_equal(grad.numpy(), np.zeros(var.shape, "float32"))


@pytest.mark.parametrize("cell", CELLS)
def test_long_sequence(cell):
    stock, native = run_pair(cell, 4, 500, 3, 8, "right", graph=True, return_state=True)
    assert_close(stock, native)


def test_other_activations_and_no_bias():
    for cell in CELLS:
        stock, native = run_pair(cell, 4, 6, 3, 5, "holes", graph=True, return_sequences=True,
                                 activation="relu", recurrent_activation="hard_sigmoid",
                                 use_bias=False)
        assert_close(stock, native)


def model_pair(build):
    stock, native = build(keras.layers), build(zoo.layers)
    native.set_weights(stock.get_weights())
    return stock, native


def test_bidirectional_stacked_masked_model():
    def build(mod):
        x = keras.Input((9, 4))
        y = keras.layers.Masking()(x)
        y = keras.layers.Bidirectional(mod.LSTM(6, return_sequences=True))(y)
        y = keras.layers.Bidirectional(mod.GRU(5, return_sequences=True), merge_mode="sum")(y)
        y = mod.GRU(4, reset_after=False)(y)
        return keras.Model(x, y)

    keras.utils.set_random_seed(1)
    stock, native = model_pair(build)
    assert isinstance(native.layers[2].backward_layer, zoo.layers.LSTM)
    x = np.random.default_rng(2).standard_normal((6, 9, 4)).astype("float32")
    x[1, 5:] = 0.0
    x[4, :3] = 0.0
    results = []
    for m in (stock, native):
        with tf.GradientTape() as tape:
            y = m(x, training=True)
            loss = tf.reduce_sum(y * tf.range(1.0, 5.0))
        results.append([y.numpy()] + [g.numpy() for g in tape.gradient(loss, m.trainable_weights)])
    assert_close(*results)


# ----------------------------------------------------------------------------
# Inside TensorFlow's XLA (jit_compile=True): the ops' XLA kernels, one custom
# call each way (csrc/tensorflow/xla_rnn.cc)

needs_tf_xla = pytest.mark.skipif(
    not _native.tf_xla_kernels() and os.environ.get("ZOO_REQUIRE_TF_XLA_BUILD") != "1",
    reason="op library built without its XLA kernels (TF's XLA headers missing)")


@needs_tf_xla
@pytest.mark.parametrize("cell", CELLS)
def test_xla_matches_keras(cell):
    assert _native.tf_xla_kernels()
    for i, (rs, st, gb, zero) in enumerate(FLAGS):
        stock, native = run_pair(cell, 5, 7, 3, 6, ["none", "right", "holes"][i % 3],
                                 initial_state=i % 2 == 0, seed=i, graph="xla",
                                 return_sequences=rs, return_state=st, go_backwards=gb,
                                 zero_output_for_mask=zero)
        assert_close(stock, native)


@needs_tf_xla
@pytest.mark.parametrize("shape", [(1, 1, 1, 1), (33, 6, 2, 8), (64, 20, 16, 64)],
                         ids=lambda s: "x".join(map(str, s)))
def test_xla_shapes(shape):
    b, t, f, u = shape
    for cell in CELLS:
        stock, native = run_pair(cell, b, t, f, u, "holes" if b > 1 else "none", graph="xla",
                                 return_sequences=True, return_state=True)
        assert_close(stock, native)


@needs_tf_xla
def test_xla_other_activations_and_no_bias():
    for cell in CELLS:
        stock, native = run_pair(cell, 4, 6, 3, 5, "holes", graph="xla", return_sequences=True,
                                 activation="relu", recurrent_activation="hard_sigmoid",
                                 use_bias=False)
        assert_close(stock, native)


@needs_tf_xla
def test_xla_step_runs_the_custom_calls():
    layer = zoo.layers.GRU(6, return_sequences=True)
    x = tf.constant(np.random.default_rng(0).standard_normal((4, 5, 3)).astype("float32"))
    layer(x)

    @tf.function(jit_compile=True)
    def step(x):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(layer(x, training=True) ** 2)
        return tape.gradient(loss, layer.trainable_weights)

    hlo = step.experimental_get_compiler_ir(x)(stage="hlo")
    assert 'custom_call_target="zoo_rnn_forward"' in hlo
    assert 'custom_call_target="zoo_rnn_backward"' in hlo
    assert "while" not in hlo  # no recurrent loop of XLA's own
    # Inference keeps no reserve for the backward pass: forward only.
    infer = tf.function(lambda x: layer(x, training=False), jit_compile=True)
    hlo = infer.experimental_get_compiler_ir(x)(stage="hlo")
    assert 'custom_call_target="zoo_rnn_forward"' in hlo and "zoo_rnn_backward" not in hlo


@needs_tf_xla
def test_xla_custom_call_reports_errors():
    # The targets check their configuration again and report a failure through
    # XLA's status (written without XlaCustomCallStatusSetFailure, which TF does
    # not export): a malformed configuration must raise, naming the problem.
    from tensorflow.compiler.tf2xla.ops import gen_xla_ops

    @tf.function(jit_compile=True)
    def bad(x):
        return gen_xla_ops.xla_custom_call_v2(
            operands=[x], call_target_name="zoo_rnn_forward", backend_config="garbage",
            has_side_effect=False, result_dtypes=[tf.float32, tf.float32],
            result_shapes=[tf.TensorShape([2]), tf.TensorShape([2])])

    with pytest.raises(tf.errors.OpError, match="malformed configuration"):
        bad(tf.ones((2,)))


@needs_tf_xla
def test_xla_model_fit_matches_graph_mode():
    # A zoo RNN model keeps jit_compile=True (Keras would turn it off if a layer
    # had supports_jit False) and trains like the same model in graph mode.
    rng = np.random.default_rng(4)
    x = rng.standard_normal((32, 10, 3)).astype("float32")
    y = rng.standard_normal((32, 2)).astype("float32")
    losses = {}
    for jit in (False, True):
        keras.utils.set_random_seed(7)
        inp = keras.Input((10, 3))
        h = zoo.layers.LSTM(8, return_sequences=True)(inp)
        h = zoo.layers.GRU(6)(h)
        model = keras.Model(inp, zoo.layers.FusedDense(2)(h))
        model.compile(keras.optimizers.SGD(0.05), "mse", jit_compile=jit)
        assert model.jit_compile is jit
        hist = model.fit(x, y, epochs=3, batch_size=8, shuffle=False, verbose=0)
        losses[jit] = hist.history["loss"]
    np.testing.assert_allclose(losses[True], losses[False], rtol=1e-5)
    assert losses[True][-1] < losses[True][0]


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_backward_skips_gradients_nobody_asks_for(cell):
    # The first layer's input is the data and Keras' initial states are zeros:
    # no gradient reaches them, and the kernel skips computing one.
    layer = getattr(zoo.layers, cell.upper())(6, return_sequences=True)
    x = tf.constant(np.random.default_rng(5).standard_normal((4, 7, 9)).astype("float32"))
    layer(x)

    def step(x, watch):
        with tf.GradientTape() as tape:
            if watch:
                tape.watch(x)
            y = tf.reduce_sum(tf.sin(layer(x, training=True)))
        return tape.gradient(y, layer.trainable_weights + ([x] if watch else []))

    results = {}
    for watch in (False, True):
        fn = tf.function(lambda x, watch=watch: step(x, watch))
        graph = fn.get_concrete_function(x).graph
        (grad,) = [op for op in graph.get_operations() if op.type == "ZooRnnGrad"]
        assert grad.get_attr("need_dx") is watch
        assert grad.get_attr("need_dstates") is False
        results[watch] = [g.numpy() for g in fn(x)]
    for a, b in zip(results[False], results[True]):
        np.testing.assert_array_equal(a, b)
    assert results[True][-1].shape == x.shape and np.abs(results[True][-1]).max() > 0
    if _native.tf_xla_kernels():  # and inside XLA, where the custom call skips them too
        jitted = tf.function(lambda x: step(x, False), jit_compile=True)
        for a, b in zip(jitted(x), results[False]):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_without_xla_kernels_layers_leave_xla_to_keras(monkeypatch, caplog):
    # A build without the XLA kernels (or a TF that sees a GPU): the layer
    # turns jit off for Keras, and inside an XLA function anyway it runs
    # Keras' loop and says why, instead of failing to compile.
    monkeypatch.setattr(_native, "tf_xla_native", lambda: False)
    layer = zoo.layers.LSTM(4)
    assert layer.supports_jit is False
    x = tf.ones((2, 3, 5))
    with caplog.at_level(logging.INFO, logger="zoo"):
        y = tf.function(lambda x: layer(x), jit_compile=True)(x)
    assert y.shape == (2, 4)
    assert any("no XLA kernels" in r.getMessage() for r in caplog.records)
    np.testing.assert_allclose(y, tf.function(lambda x: layer(x))(x), rtol=1e-5, atol=1e-6)


def test_numerical_gradient():
    rng = np.random.default_rng(3)
    b, t, f, u = 3, 5, 2, 3
    x = rng.standard_normal((b, t, f)).astype("float32")
    mask = tf.constant(make_mask("holes", b, t, rng))
    w = (rng.standard_normal((f, 4 * u)) * 0.5).astype("float32")
    r = (rng.standard_normal((u, 4 * u)) * 0.5).astype("float32")
    bias = (rng.standard_normal((4 * u,)) * 0.5).astype("float32")
    h0 = rng.standard_normal((b, u)).astype("float32")
    c0 = rng.standard_normal((b, u)).astype("float32")

    def f_lstm(x, w, r, bias, h0, c0):
        last, seq, (h, c) = zoo.ops.lstm(x, h0, c0, mask, w, r, bias, return_sequences=True,
                                         go_backwards=True)
        return tf.reduce_sum(seq * 0.3) + tf.reduce_sum(c * h)

    theoretical, numerical = tf.test.compute_gradient(f_lstm, [x, w, r, bias, h0, c0], delta=1e-2)
    for th, nu in zip(theoretical, numerical):
        assert np.abs(th - nu).max() <= 2e-2

    wg = (rng.standard_normal((f, 3 * u)) * 0.5).astype("float32")
    rg = (rng.standard_normal((u, 3 * u)) * 0.5).astype("float32")
    for reset_after, bg in ((True, rng.standard_normal((2, 3 * u))),
                            (False, rng.standard_normal((3 * u,)))):
        bg = (bg * 0.5).astype("float32")

        def f_gru(x, w, r, bias, h0, reset_after=reset_after):
            last, _, (h,) = zoo.ops.gru(x, h0, mask, w, r, bias, reset_after=reset_after)
            return tf.reduce_sum(last * h)

        theoretical, numerical = tf.test.compute_gradient(f_gru, [x, wg, rg, bg, h0], delta=1e-2)
        for th, nu in zip(theoretical, numerical):
            assert np.abs(th - nu).max() <= 2e-2


def test_reference_matches_keras():
    # The keras.ops references define the semantics the kernel implements.
    rng = np.random.default_rng(4)
    b, t, f, u = 4, 6, 3, 5
    x = rng.standard_normal((b, t, f)).astype("float32")
    mask = make_mask("holes", b, t, rng)
    for cell in CELLS:
        stock, _ = layer_pair(cell, u, return_sequences=True, return_state=True,
                              go_backwards=True, zero_output_for_mask=True)
        out = stock(x, mask=mask)
        k, r, bias = stock.cell.kernel, stock.cell.recurrent_kernel, stock.cell.bias
        h0 = np.zeros((b, u), "float32")
        with _native.native(False):
            if cell == "lstm":
                _, seq, states = zoo.ops.lstm_ref(x, h0, h0, mask, k, r, bias,
                                                  return_sequences=True, go_backwards=True,
                                                  zero_output_for_mask=True)
            else:
                _, seq, states = zoo.ops.gru_ref(x, h0, mask, k, r, bias, return_sequences=True,
                                                 go_backwards=True, reset_after=cell == "gru",
                                                 zero_output_for_mask=True)
        assert_close([o.numpy() for o in out], [np.asarray(seq)] + [np.asarray(s) for s in states])


# ----------------------------------------------------------------------------
# ISA paths and threads


@pytest.mark.parametrize("isa", ["scalar", "avx2", "avx512"])
def test_each_isa_path(isa):
    order = ["scalar", "avx2", "avx512"]
    detected = _native.c_module().build_info()["isa_detected"]
    if order.index(isa) > order.index(detected):
        pytest.skip(f"this CPU runs at most {detected}")
    try:
        _native.set_isa(isa)
        for cell in CELLS:
            stock, native = run_pair(cell, 17, 8, 5, 19, "holes", graph=True,
                                     return_sequences=True, return_state=True)
            assert_close(stock, native)
    finally:
        _native.set_isa(None)


_THREADS_CHILD = r"""
import json, sys
import numpy as np, tensorflow as tf
child = __name__ == "__main__"
if child:
    tf.config.threading.set_intra_op_parallelism_threads(int(sys.argv[1]))
import zoo
rng = np.random.default_rng(0)
out = {}
for cell, g, kw in (("lstm", 4, {}), ("gru", 3, {"reset_after": True}), ("gru", 3, {"reset_after": False})):
    # 48 units: the weight gradients' columns split across two tasks (GRU
    # reset_after=False across its z/r and candidate parts); 360 rows: more
    # than one of their row blocks.
    b, t, f, u = 40, 9, 6, 48
    x = rng.standard_normal((b, t, f)).astype("float32")
    w = (rng.standard_normal((f, g * u)) * 0.3).astype("float32")
    r = (rng.standard_normal((u, g * u)) * 0.3).astype("float32")
    bias = rng.standard_normal((2, g * u) if kw.get("reset_after") else (g * u,)).astype("float32")
    mask = rng.random((b, t)) > 0.3
    h0 = rng.standard_normal((b, u)).astype("float32")
    xs = [tf.constant(v) for v in (x, w, r, bias, h0)]
    with tf.GradientTape() as tape:
        tape.watch(xs)
        if cell == "lstm":
            last, seq, st = zoo.ops.lstm(xs[0], xs[4], xs[4], mask, xs[1], xs[2], xs[3], return_sequences=True)
        else:
            last, seq, st = zoo.ops.gru(xs[0], xs[4], mask, xs[1], xs[2], xs[3], return_sequences=True, **kw)
        loss = tf.reduce_sum(seq * seq) + tf.reduce_sum(st[0])
    grads = tape.gradient(loss, xs)
    key = cell + str(kw.get("reset_after", ""))
    out[key] = [seq.numpy().tolist()] + [g.numpy().tolist() for g in grads]
if child:
    json.dump(out, sys.stdout)
"""


def test_results_do_not_depend_on_thread_count(tmp_path):
    # TF fixes its intra-op thread count at start-up: a child runs on one
    # thread, this process on its default (one per core, 2 in CI).
    if tf.config.threading.get_intra_op_parallelism_threads() == 1 or os.cpu_count() < 2:
        pytest.skip("this process runs one intra-op thread too")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    # cwd outside the checkout: `python -c` puts the current folder on sys.path,
    # which from the repository root would import the unbuilt source tree.
    proc = subprocess.run([sys.executable, "-c", _THREADS_CHILD, "1"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    here = {"__name__": "threads"}
    exec(compile(_THREADS_CHILD, "<threads>", "exec"), here)
    runs = [json.loads(proc.stdout), json.loads(json.dumps(here["out"]))]
    for key in runs[0]:
        for a, b in zip(runs[0][key], runs[1][key]):
            np.testing.assert_array_equal(np.array(a), np.array(b))


# ----------------------------------------------------------------------------
# Dispatch, training, serialisation


def test_native_op_runs_and_fallbacks_are_logged(caplog):
    x = tf.ones((2, 4, 3))

    def op_types(layer, training=True):
        graph = tf.function(lambda x: layer(x, training=training)).get_concrete_function(x).graph
        return {op.type for op in graph.get_operations()}

    layer = zoo.layers.LSTM(5)
    assert "ZooRnn" in op_types(layer)
    # The op has XLA kernels (this build must have them: ZOO_REQUIRE_TF_XLA_BUILD in CI).
    assert layer.supports_jit is _native.tf_xla_native()
    cases = [(zoo.layers.GRU(5, recurrent_dropout=0.5), "recurrent_dropout"),
             (zoo.layers.LSTM(5, unroll=True), "unroll"),
             (zoo.layers.GRU(5, activation="gelu"), "activation")]
    for layer, why in cases:
        with caplog.at_level(logging.INFO, logger="zoo"):
            caplog.clear()
            assert "ZooRnn" not in op_types(layer)
        assert any(why in r.getMessage() for r in caplog.records), why
    # Input dropout is applied before the fused op, as Keras does for cuDNN.
    assert "ZooRnn" in op_types(zoo.layers.GRU(5, dropout=0.3))
    # recurrent dropout only matters in training.
    assert "ZooRnn" in op_types(zoo.layers.GRU(5, recurrent_dropout=0.5), training=False)
    with _native.native(False):
        assert "ZooRnn" not in op_types(zoo.layers.LSTM(5))


def test_fit_gives_the_same_losses_as_stock_keras():
    def build(mod):
        x = keras.Input((12, 3))
        y = keras.layers.Masking()(x)
        y = mod.LSTM(8, return_sequences=True)(y)
        y = mod.GRU(6)(y)
        return keras.Model(x, keras.layers.Dense(1)(y))

    keras.utils.set_random_seed(5)
    stock, native = model_pair(build)
    rng = np.random.default_rng(5)
    x = rng.standard_normal((48, 12, 3)).astype("float32")
    x[::3, 8:] = 0.0
    y = rng.standard_normal((48, 1)).astype("float32")
    losses = []
    for m in (stock, native):
        m.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
        losses.append(m.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0).history["loss"])
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-4)


def test_keras_save_load_round_trip(tmp_path):
    x = keras.Input((7, 3))
    y = keras.layers.Bidirectional(zoo.layers.LSTM(4, return_sequences=True))(x)
    y = zoo.layers.GRU(3, reset_after=False, go_backwards=True)(y)
    model = keras.Model(x, y)
    data = np.random.default_rng(6).standard_normal((2, 7, 3)).astype("float32")
    path = tmp_path / "rnn.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded.layers[-1], zoo.layers.GRU)
    assert loaded.layers[-1].reset_after is False
    np.testing.assert_array_equal(loaded(data).numpy(), model(data).numpy())


def test_half_precision_computes_in_float32():
    x = np.random.default_rng(7).standard_normal((3, 5, 4)).astype("float32")
    stock = keras.layers.LSTM(6, return_sequences=True, dtype="mixed_float16")
    native = zoo.layers.LSTM(6, return_sequences=True, dtype="mixed_float16")
    stock(x)
    native(x)
    native.set_weights(stock.get_weights())
    a, b = stock(x).numpy().astype("float32"), native(x).numpy().astype("float32")
    assert native(x).dtype == "float16"
    assert np.abs(a - b).max() <= 4e-3


@pytest.mark.parametrize("cell", CELLS)
def test_gradients_of_a_call_without_training_flag(cell):
    # A layer called directly defaults to training=False (the op then keeps no
    # reserve); differentiating it must still work, as it does for Keras' loop.
    rng = np.random.default_rng(3)
    x = tf.constant(rng.standard_normal((3, 5, 4)).astype("float32"))
    stock, native = layer_pair(cell, 6, return_sequences=True)
    stock(x)
    native(x)
    native.set_weights(stock.get_weights())
    grads = []
    for layer in (stock, native):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.reduce_sum(tf.square(layer(x)))
        grads.append(tape.gradient(y, [x] + layer.trainable_variables))
    for g_stock, g_native in zip(*grads):
        np.testing.assert_allclose(g_native.numpy(), g_stock.numpy(), rtol=RTOL, atol=1e-5)


def test_second_derivative_raises_clearly():
    x = tf.ones((2, 3, 2))
    layer = zoo.layers.GRU(3)
    layer(x)
    with pytest.raises(Exception, match="second derivatives"):
        with tf.GradientTape() as outer:
            outer.watch(x)
            with tf.GradientTape() as inner:
                inner.watch(x)
                y = tf.reduce_sum(layer(x, training=True))
            g = inner.gradient(y, x)
            z = tf.reduce_sum(g * g)
        outer.gradient(z, x)


# ----------------------------------------------------------------------------
# Bad input


def test_bad_inputs_raise_clear_errors():
    x = tf.ones((2, 4, 3))
    w, r, b = tf.ones((3, 8)), tf.ones((2, 8)), tf.ones((8,))
    h = tf.zeros((2, 2))
    with pytest.raises(ValueError, match="kernel must be"):
        zoo.ops.lstm(x, h, h, None, tf.ones((5, 8)), r, b)
    with pytest.raises(ValueError, match="initial_state_c must be"):
        zoo.ops.lstm(x, h, tf.zeros((2, 3)), None, w, r, b)
    with pytest.raises(ValueError, match="mask must be"):
        zoo.ops.lstm(x, h, h, tf.ones((2, 5), tf.bool), w, r, b)
    with pytest.raises(TypeError, match="floating-point"):
        zoo.ops.lstm(tf.ones((2, 4, 3), tf.int32), h, h, None, w, r, b)
    with pytest.raises(ValueError, match="bias must have shape"):
        zoo.ops.gru(x, h, None, tf.ones((3, 6)), tf.ones((2, 6)), tf.ones((6,)), reset_after=True)


@pytest.mark.parametrize("where", ["op", "xla"])
def test_op_validates_before_touching_memory(where):
    # Straight to the op library, past the Python checks: the kernel's own
    # validation must catch each of these, and so must the XLA kernels at
    # compile time (the custom call itself sees no shapes).
    if where == "xla" and not _native.tf_xla_kernels():
        pytest.skip("op library built without its XLA kernels")
    ops = _native.tf_ops()

    class lib:  # the two ops, called eagerly or compiled by XLA
        @staticmethod
        def zoo_rnn(*args, **attrs):
            return run(ops.zoo_rnn, args, attrs)

        @staticmethod
        def zoo_rnn_grad(*args, **attrs):
            return run(ops.zoo_rnn_grad, args, attrs)

    def run(op, args, attrs):
        if where == "op":
            return op(*args, **attrs)
        return tf.function(lambda *a: op(*a, **attrs), jit_compile=True)(*args)

    e, nomask = tf.zeros([0]), tf.zeros([0], tf.bool)
    x, w, r, b, h = tf.ones((2, 4, 3)), tf.ones((3, 8)), tf.ones((2, 8)), tf.ones((8,)), tf.zeros((2, 2))
    bad = [
        ((x, tf.ones((4, 8)), r, b, h, h, nomask), "kernel must be"),
        ((x, w, tf.ones((2, 6)), b, h, h, nomask), "recurrent_kernel"),
        ((x, w, r, tf.ones((7,)), h, h, nomask), "bias must have shape"),
        ((x, w, r, b, tf.zeros((3, 2)), h, nomask), "initial h"),
        ((x, w, r, b, h, tf.zeros((2, 5)), nomask), "initial c"),
        ((x, w, r, b, h, h, tf.ones((2, 3), tf.bool)), "mask must be"),
        ((tf.ones((2, 0, 3)), w, r, b, h, h, nomask), "no time steps"),
    ]
    for args, match in bad:
        with pytest.raises(tf.errors.InvalidArgumentError, match=match):
            lib.zoo_rnn(*args, cell="lstm")
    y, hh, c, reserve = lib.zoo_rnn(x, w, r, b, h, h, nomask, cell="lstm", training=False)
    with pytest.raises(tf.errors.InvalidArgumentError, match="training=True"):
        lib.zoo_rnn_grad(e, e, e, x, w, r, b, nomask, reserve, cell="lstm")
    with pytest.raises(tf.errors.InvalidArgumentError, match="activation"):
        lib.zoo_rnn(x, w, r, b, h, h, nomask, cell="lstm", activation="gelu")


def test_row_passes_have_no_masked_vector_accesses():
    """The recurrent row passes must not read or write through a pointer that
    may be null under a select: the AVX2 build turns that into vmaskmovps,
    which takes a microcode assist on every vector when the address is null
    (a last-output layer's backward ran 1.6-1.8x slower; RESULTS.md). No code
    in the op library needs vmaskmov (AVX2 loop tails run scalar), so the
    whole library is checked: installed builds are stripped of the symbols
    that would name the recurrent loops. A kernel that ever needs a masked
    access on valid memory must change this check with it."""
    objdump = shutil.which("objdump")
    _native.tf_ops()  # loads it (ZOO_REQUIRE_NATIVE decides whether its absence fails)
    path = _native.tf_ops_path()
    if objdump is None or path is None:
        pytest.skip("needs objdump and the built op library")
    out = subprocess.run([objdump, "-d", "--no-show-raw-insn", path], capture_output=True,
                         text=True, check=True).stdout
    assert "vfmadd" in out, "no AVX2 code found in " + path
    masked = [line.strip() for line in out.splitlines() if "vmaskmov" in line]
    assert not masked, f"{len(masked)} masked vector accesses, e.g. {masked[:3]}"
