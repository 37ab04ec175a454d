"""zoo.predict: a model over many samples in one graph loop per chunk of
batches, giving exactly what model.predict gives.

Parametrised over the registry (test_models' TINY builds): batches that do not
divide the samples, several chunks, nested inputs and outputs, the float cast
fit and predict make, weights changed between calls, and bad input.
"""

from __future__ import annotations

import numpy as np
import pytest

import zoo

keras = pytest.importorskip("keras")

from test_models import NAMES, kwargs_for, randomize, sample_input  # noqa: E402


def close(a, b):
    for x, y in zip(keras.tree.flatten(a), keras.tree.flatten(b)):
        assert x.shape == y.shape
        np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_predict_matches_keras_predict(name):
    keras.utils.set_random_seed(0)
    model = randomize(zoo.create_model(name, **kwargs_for(name)))
    x = np.concatenate([sample_input(model, seed) for seed in range(3)])[:11]
    # 11 samples in batches of 3 (the last one of 2), two batches a call: three calls.
    got = zoo.predict(model, x, batch_size=3, steps_per_call=2)
    want = model.predict(x, batch_size=3, verbose=0)
    close(got, want)


def two_in_two_out():
    a = keras.Input((4,), name="a")
    b = keras.Input((3, 2), name="b")
    h = keras.layers.Concatenate()([a, keras.layers.Flatten()(b)])
    h = zoo.layers.FusedDense(5, activation="gelu")(h)
    return keras.Model({"a": a, "b": b}, {"score": keras.layers.Dense(1)(h), "code": h})


def test_nested_inputs_and_outputs():
    model = two_in_two_out()
    rng = np.random.default_rng(0)
    x = {"a": rng.random((10, 4), dtype=np.float32), "b": rng.random((10, 3, 2), dtype=np.float32)}
    got = zoo.predict(model, x, batch_size=4)
    assert set(got) == {"score", "code"}
    close(got, model.predict(x, batch_size=4, verbose=0))


def test_float64_is_cast_like_predict():
    model = zoo.create_model("dense_autoencoder", **kwargs_for("dense_autoencoder"))
    x = np.random.default_rng(1).random((7, 12))  # float64
    got = zoo.predict(model, x, batch_size=5)
    assert got.dtype == np.float32
    close(got, model.predict(x, batch_size=5, verbose=0))


def test_new_weights_are_used_without_a_new_model():
    model = zoo.create_model("lstm_classifier", **kwargs_for("lstm_classifier"))
    x = sample_input(model)
    before = zoo.predict(model, x)
    randomize(model, seed=3)
    after = zoo.predict(model, x)
    assert not np.allclose(before, after)
    close(after, model.predict(x, verbose=0))


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="TensorFlow's graph loop")
def test_the_loop_runs_the_native_ops():
    from zoo import _native
    from zoo.inference import _graphs

    model = zoo.create_model("gru_forecaster", **kwargs_for("gru_forecaster"))
    zoo.predict(model, sample_input(model), batch_size=2)
    # The loop body is a function in the traced graph's library.
    text = "".join(str(f.graph.as_graph_def()) for f in _graphs[model]._list_all_concrete_functions())
    assert ("ZooRnn" in text) == _native.use_tf_native()
    assert "While" in text


@pytest.mark.parametrize("kwargs, message", [
    (dict(batch_size=0), "batch_size must be a positive integer"),
    (dict(batch_size=True), "batch_size must be a positive integer"),
    (dict(steps_per_call=-1), "steps_per_call must be a positive integer"),
])
def test_bad_settings(kwargs, message):
    model = zoo.create_model("dense_autoencoder", **kwargs_for("dense_autoencoder"))
    with pytest.raises(ValueError, match=message):
        zoo.predict(model, np.zeros((3, 12), np.float32), **kwargs)


def test_bad_inputs():
    model = two_in_two_out()
    with pytest.raises(ValueError, match=r"differ in their number of samples: \[3, 4\]"):
        zoo.predict(model, {"a": np.zeros((3, 4)), "b": np.zeros((4, 3, 2))})
    with pytest.raises(ValueError, match="no samples"):
        zoo.predict(model, {"a": np.zeros((0, 4)), "b": np.zeros((0, 3, 2))})
    with pytest.raises(ValueError, match="scalar"):
        zoo.predict(model, {"a": np.float32(1), "b": np.zeros((1, 3, 2))})


def test_a_model_is_not_kept_alive_by_its_loop():
    import gc
    import weakref

    model = zoo.create_model("dense_autoencoder", **kwargs_for("dense_autoencoder"))
    zoo.predict(model, np.zeros((5, 12), np.float32), batch_size=2)
    ref = weakref.ref(model)
    del model
    gc.collect()
    assert ref() is None
