"""zoo's fused Adam/AdamW: Keras' update, one op per variable on TensorFlow.

Tolerance: the fused op evaluates Keras' formulas term for term, but forms
the moment coefficients 1 - beta in float32 (Keras forms them in float64 and
rounds once: 1 - 0.9f is 0.100000024, Keras' 0.1f), a relative difference of
about 2e-7 in them that Adam's m / sqrt(v) can magnify where a gradient is
near zero. So weights after six steps at lr 0.01 agree to atol 2e-6 (3e-5
of the distance a weight can travel in them, 0.06); a wrong formula (bias
correction, epsilon placement, decay) moves weights by a fair part of a step,
1e-3 or more.
"""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from zoo.training import optimizers  # noqa: E402

RTOL, ATOL = 1e-5, 2e-6
ON_TF = keras.backend.backend() == "tensorflow"


def _model(seed=0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((12,)), keras.layers.Dense(16, activation="relu"),
                             keras.layers.Dense(3)])


def _data():
    rng = np.random.default_rng(1)
    return rng.standard_normal((64, 12)).astype("float32"), rng.standard_normal((64, 3)).astype("float32")


def _train(optimizer, steps=6, **compile_kwargs):
    model = _model()
    model.compile(optimizer=optimizer, loss="mse", **compile_kwargs)
    x, y = _data()
    for _ in range(steps):
        model.train_on_batch(x, y)
    return model


CASES = [
    ("fused_adam", {}),
    ("fused_adam", {"epsilon": 1e-3, "beta_1": 0.8, "beta_2": 0.95}),
    ("fused_adam", {"amsgrad": True}),               # Keras' own update (fallback)
    ("fused_adam", {"clipnorm": 0.1}),
    ("fused_adam", {"gradient_accumulation_steps": 2}),
    ("fused_adamw", {"weight_decay": 0.05}),
    ("fused_adamw", {"weight_decay": 0.0}),
]


@pytest.mark.parametrize("name,kwargs", CASES, ids=[f"{n}-{k}" for n, k in CASES])
def test_fused_matches_keras(name, kwargs):
    keras_cls = {"fused_adam": keras.optimizers.Adam, "fused_adamw": keras.optimizers.AdamW}[name]
    fused = _train(optimizers.FUSED[name](learning_rate=0.01, **kwargs))
    stock = _train(keras_cls(learning_rate=0.01, **kwargs))
    for a, b in zip(fused.get_weights(), stock.get_weights()):
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL)
    # the optimizer state too: iterations and the moments
    for a, b in zip(fused.optimizer.variables, stock.optimizer.variables):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=RTOL, atol=ATOL)


def test_fused_matches_keras_with_several_steps_per_execution():
    fused = _train(optimizers.FusedAdam(0.01), steps=3, steps_per_execution=4)
    stock = _train(keras.optimizers.Adam(0.01), steps=3, steps_per_execution=4)
    for a, b in zip(fused.get_weights(), stock.get_weights()):
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL)


@pytest.mark.skipif(not ON_TF, reason="the fused op is TensorFlow's")
def test_the_train_step_runs_the_fused_op():
    import tensorflow as tf

    def op_types(optimizer):
        model = _model()
        model.compile(optimizer=optimizer, loss="mse")
        model.build((None, 12))
        x, y = _data()
        model.optimizer.build(model.trainable_variables)

        @tf.function
        def step():
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean((model(x) - y) ** 2)
            grads = tape.gradient(loss, model.trainable_variables)
            model.optimizer.apply_gradients(zip(grads, model.trainable_variables))

        graph = step.get_concrete_function().graph
        names = {op.type for op in graph.get_operations()}
        for f in graph._functions.values():  # the update may sit in a nested function
            names |= {n.op for n in f.definition.node_def}
        return names

    assert "ResourceApplyAdam" in op_types(optimizers.FusedAdam(0.01))
    assert "ResourceApplyAdam" not in op_types(keras.optimizers.Adam(0.01))
    # amsgrad has no fused form: Keras' update runs
    assert "ResourceApplyAdam" not in op_types(optimizers.FusedAdam(0.01, amsgrad=True))


def test_saved_model_with_the_fused_optimizer_loads(tmp_path):
    model = _train(optimizers.FusedAdamW(0.01, weight_decay=0.01), steps=2)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded.optimizer, optimizers.FusedAdamW)
    assert loaded.optimizer.weight_decay == pytest.approx(0.01)
    x, y = _data()
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-6, atol=1e-6)
    # training continues from the saved state exactly as the original does
    model.train_on_batch(x, y)
    loaded.train_on_batch(x, y)
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("name,cls", [("fused_adam", optimizers.FusedAdam),
                                      ("Fused_Adam", optimizers.FusedAdam),
                                      ("fused_adamw", optimizers.FusedAdamW)])
def test_finetune_resolves_the_fused_names(name, cls):
    opt = optimizers.get(name, 0.003)
    assert type(opt) is cls and float(opt.learning_rate) == pytest.approx(0.003)


def test_keras_names_stay_keras():
    # finetune's default "adam" is Keras' own: its results equal compile + fit's
    assert type(optimizers.get("adam", 0.1)) is keras.optimizers.Adam
    assert type(optimizers.get("sgd", 0.1)) is keras.optimizers.SGD
    with pytest.raises(ValueError):
        optimizers.get("no_such_optimizer", 0.1)


def test_finetune_trains_with_the_fused_optimizer():
    import zoo

    model = _model()
    x, y = _data()
    result = zoo.finetune(model, (x, y), head_epochs=0, epochs=2, loss="mse", batch_size=16,
                          verbose=0, learning_rate=0.01, fine_tune_learning_rate=0.01,
                          optimizer="fused_adam")
    assert isinstance(result.model.optimizer, optimizers.FusedAdam)
    assert result.history["loss"][-1] < result.history["loss"][0]
