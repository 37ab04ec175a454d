"""Model families: every registered model builds, runs, trains, round-trips
through .keras, and its native (zoo layers) and stock Keras builds agree.

Parametrised over zoo.list_models() (the keras.applications models aside, see
IMAGENET), the registry being the source of truth. A
model listed in TINY is shrunk for speed; any other (a plugin's) runs at its
spec's defaults.
"""

from __future__ import annotations

import functools
import inspect

import numpy as np
import pytest

import zoo

keras = pytest.importorskip("keras")

from zoo.layers import BiasActivation, FusedDense  # noqa: E402

# Builder overrides that keep each built-in model tiny (16x16 images, 6-step sequences).
TINY = {
    "lenet": dict(input_shape=(16, 16, 3), num_classes=3),
    "resnet18": dict(input_shape=(16, 16, 3), num_classes=3, width=4),
    "resnet34": dict(input_shape=(16, 16, 3), num_classes=3, width=4),
    "resnet50": dict(input_shape=(16, 16, 3), num_classes=3, width=4),
    "mobilenet_v2": dict(input_shape=(16, 16, 3), num_classes=3, alpha=0.35),
    "lstm_classifier": dict(input_shape=(6, 3), num_classes=3, units=(4,), projection=4),
    "gru_classifier": dict(input_shape=(6, 3), num_classes=3, units=(4,), projection=4),
    "bilstm_classifier": dict(input_shape=(6, 3), num_classes=3, units=(4, 4), projection=4),
    "lstm_forecaster": dict(input_shape=(6, 2), num_classes=2, units=(4,), projection=4),
    "gru_forecaster": dict(input_shape=(6, 2), num_classes=2, units=(4,), projection=4),
    "conv_lstm_classifier": dict(input_shape=(6, 3), num_classes=3, units=(4,), filters=4,
                                 projection=4),
    "dense_autoencoder": dict(input_shape=(12,), hidden=(8,), latent_dim=3),
    "conv_autoencoder": dict(input_shape=(8, 8, 1), filters=(4, 8), latent_channels=2),
    "denoising_autoencoder": dict(input_shape=(8, 8, 1), filters=(4, 8), latent_channels=2),
    "vae": dict(input_shape=(12,), hidden=(8,), latent_dim=2, seed=1),
}
BATCH = 4
# The keras.applications models (zoo.models.imagenet) are Keras' own builders at ImageNet
# sizes; tests/test_imagenet.py builds, trains and loads them, batched, so they stay out of here.
IMAGENET = "keras_*"
NAMES = zoo.list_models(exclude=IMAGENET)
FAMILIES = ("cnn", "rnn", "autoencoder")


def spec(name):
    return zoo.get_model_spec(name)


def kwargs_for(name, **extra):
    return {**TINY.get(name, {}), **extra}


def accepts(name, arg):
    params = inspect.signature(spec(name).resolve_builder()).parameters
    return arg in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def sample_input(model, seed=0):
    shape = tuple(8 if s is None else s for s in model.input_shape[1:])
    return np.random.default_rng(seed).random((BATCH,) + shape, dtype=np.float32)


def randomize(model, seed=0):
    """Noise on every weight, so zero-initialised parts (biases, zero-gamma
    BatchNorms) take part in comparisons; variances stay positive."""
    rng = np.random.default_rng(seed)
    model.set_weights([
        np.abs(v) + 0.5 if "variance" in w.path else v + rng.normal(0.0, 0.1, v.shape).astype(v.dtype)
        for w, v in zip(model.weights, model.get_weights())
    ])
    return model


@functools.lru_cache(maxsize=None)
def built(name):
    """One native build per model with randomised weights, shared by the read-only tests."""
    keras.utils.set_random_seed(0)
    model = randomize(zoo.create_model(name, **kwargs_for(name)))
    return model, sample_input(model)


def predict(model, x):
    out = model(x, training=False)
    return [keras.ops.convert_to_numpy(o) for o in out] if isinstance(out, (list, tuple)) else keras.ops.convert_to_numpy(out)


def all_layers(model):
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from all_layers(layer)


def test_registry_has_the_families():
    families = {spec(n).family for n in NAMES}
    assert set(FAMILIES) <= families
    for name in ("lenet", "resnet18", "resnet34", "resnet50", "mobilenet_v2", "lstm_classifier",
                 "gru_forecaster", "conv_lstm_classifier", "vae", "denoising_autoencoder"):
        assert name in NAMES


@pytest.mark.parametrize("name", NAMES)
def test_forward_shape(name):
    model, x = built(name)
    s = spec(name)
    out = predict(model, x)
    if s.family == "autoencoder":
        assert out.shape == x.shape
    elif s.default_num_classes is not None:
        classes = kwargs_for(name).get("num_classes", s.default_num_classes)
        assert out.shape == (BATCH, classes)
        assert model.get_layer(s.head).units == classes
    assert np.all(np.isfinite(out))


def _loss_and_targets(name, model, x):
    task = spec(name).task
    if task.endswith("classification"):
        classes = model.output_shape[-1]
        y = np.arange(BATCH) % classes
        probs = keras.ops.convert_to_numpy(model(x))
        softmax = bool((probs >= 0).all() and np.allclose(probs.sum(-1), 1.0, atol=1e-4))
        return keras.losses.SparseCategoricalCrossentropy(from_logits=not softmax), y
    if task == "forecasting":
        return "mse", np.random.default_rng(1).random((BATCH, model.output_shape[-1]), np.float32)
    if spec(name).family == "autoencoder":
        return "mse", x
    pytest.skip(f"no generic training target for task {task!r}")


@pytest.mark.parametrize("name", NAMES)
def test_training_lowers_the_loss(name):
    keras.utils.set_random_seed(0)
    model = zoo.create_model(name, **kwargs_for(name))
    x = sample_input(model)
    loss, y = _loss_and_targets(name, model, x)
    # Adam's per-variable update ops make tracing a deep CNN's train step several
    # times slower than SGD's; the small models need Adam's speed to beat sampling noise.
    deep = len(model.trainable_weights) > 60
    if deep and name != "resnet18" and keras.backend.backend() == "jax":
        # CI time: each deep CNN compiles its own XLA program for a minute of CPU;
        # resnet18 covers the deep builders on JAX, the TensorFlow run trains them all.
        pytest.skip("deep CNNs other than resnet18 train on the TensorFlow run only")
    optimizer = keras.optimizers.SGD(0.01) if deep else keras.optimizers.Adam(1e-2)
    # On JAX a jitted step is what users run (its default) and far cheaper than op by op.
    model.compile(optimizer=optimizer, loss=loss, jit_compile=keras.backend.backend() == "jax")
    # train_on_batch reports the loss of the forward pass before its update. A VAE's
    # loss is a sample (its reparameterised code): more steps, and means at both ends.
    steps, tail = (24, 4) if name == "vae" else (8, 2)
    losses = [float(model.train_on_batch(x, y)) for _ in range(steps)]
    assert np.isfinite(losses).all()
    start = np.mean(losses[:tail]) if name == "vae" else losses[0]
    assert np.mean(losses[-tail:]) < start, losses


@pytest.mark.parametrize("name", NAMES)
def test_keras_round_trip(name, tmp_path):
    model, x = built(name)
    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(predict(loaded, x), predict(model, x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", [n for n in NAMES if accepts(n, "native")])
def test_native_and_stock_builds_agree(name):
    model, x = built(name)
    stock = zoo.create_model(name, **kwargs_for(name, native=False))
    assert [l.name for l in all_layers(stock)] == [l.name for l in all_layers(model)]
    zoo_layers = (FusedDense, BiasActivation)
    if spec(name).family in FAMILIES:
        # The native build runs zoo's kernels; the stock build has none of them.
        assert any(isinstance(l, zoo_layers) for l in all_layers(model))
    assert not any(isinstance(l, zoo_layers) for l in all_layers(stock))
    stock.set_weights(model.get_weights())
    np.testing.assert_allclose(predict(stock, x), predict(model, x), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", [n for n in NAMES if spec(n).family in FAMILIES])
def test_global_reference_switch_agrees(name):
    """zoo.native(False) makes the zoo layers themselves take the keras.ops path."""
    model, x = built(name)
    expected = predict(model, x)
    with zoo.native(False):
        np.testing.assert_allclose(predict(model, x), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", [n for n in NAMES if "features_only" in spec(n).capabilities])
def test_features_only(name):
    s = spec(name)
    features = zoo.create_model(name, **kwargs_for(name, features_only=True))
    x = sample_input(features)
    out = features(x, training=False)
    if s.family == "cnn":
        assert isinstance(out, (list, tuple)) and len(out) >= 2
        assert all(len(o.shape) == 4 and o.shape[0] == BATCH for o in out)
        sides = [o.shape[1] for o in out]
        assert sides == sorted(sides, reverse=True), "feature maps should go coarse to fine"
    elif s.family == "autoencoder":
        assert features.name == "encoder"
        full, _ = built(name)
        assert full.get_layer("encoder").output_shape == features.output_shape


@pytest.mark.parametrize("name", [n for n in NAMES if "variable_input_size" in spec(n).capabilities
                                  and spec(n).family in FAMILIES])
def test_variable_input_size(name):
    free = tuple(None if i < len(spec(name).default_input_shape) - 1 else s
                 for i, s in enumerate(kwargs_for(name).get("input_shape", spec(name).default_input_shape)))
    model = zoo.create_model(name, **kwargs_for(name, input_shape=free))
    for side in (8, 16):
        shape = tuple(side if s is None else s for s in free)
        x = np.zeros((2,) + shape, np.float32)
        out = predict(model, x)
        assert out.shape[0] == 2


# --------------------------------------------------------------------------- family specifics


def test_resnet_stems():
    small = zoo.create_model("resnet18", input_shape=(32, 32, 3), num_classes=2, width=4)
    large = zoo.create_model("resnet18", input_shape=(96, 96, 3), num_classes=2, width=4)
    assert small.get_layer("conv1_conv").kernel.shape[:2] == (3, 3)
    assert "pool1_pool" not in [l.name for l in small.layers]
    assert large.get_layer("conv1_conv").kernel.shape[:2] == (7, 7)
    assert large.get_layer("pool1_pool") is not None


def test_resnet50_uses_bottlenecks():
    model, _ = built("resnet50")
    assert model.get_layer("conv2_block1_3_conv").filters == 4 * 4
    resnet18, _ = built("resnet18")
    assert "conv2_block1_3_conv" not in [l.name for l in resnet18.layers]


def test_mobilenet_width_multiplier():
    thin = zoo.create_model("mobilenet_v2", input_shape=(16, 16, 3), num_classes=2, alpha=0.35)
    wide = zoo.create_model("mobilenet_v2", input_shape=(16, 16, 3), num_classes=2, alpha=0.5)
    assert thin.get_layer("block16_project_conv").filters == 112  # 320 * 0.35, rounded to 8
    assert wide.get_layer("block16_project_conv").filters == 160
    assert thin.count_params() < wide.count_params()


def test_include_top_false_and_pooling():
    kw = kwargs_for("resnet18")
    maps = zoo.create_model("resnet18", **{**kw, "include_top": False})
    pooled = zoo.create_model("resnet18", **{**kw, "include_top": False, "pooling": "max"})
    assert len(maps.output_shape) == 4
    assert pooled.output_shape == (None, 4 * 8)
    assert "head" not in [l.name for l in pooled.layers]


def test_classifier_activation_in_head_when_fusable():
    kw = kwargs_for("lenet")
    sig = zoo.create_model("lenet", **{**kw, "classifier_activation": "sigmoid"})
    assert sig.layers[-1].name == "head" and isinstance(sig.layers[-1], FusedDense)
    soft = zoo.create_model("lenet", **kw)
    assert soft.layers[-1].name == "predictions"
    np.testing.assert_allclose(predict(soft, sample_input(soft)).sum(-1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("name", ["lstm_classifier", "bilstm_classifier", "lstm_forecaster"])
def test_masked_padding_is_ignored(name):
    model = zoo.create_model(name, **kwargs_for(name, input_shape=(None, 3)))
    rng = np.random.default_rng(0)
    short = rng.random((1, 4, 3), np.float32) + 0.1
    padded = np.concatenate([short, np.zeros((1, 3, 3), np.float32)], axis=1)
    np.testing.assert_allclose(predict(model, padded), predict(model, short), rtol=1e-5, atol=1e-6)


def test_vae_adds_kl_and_samples_only_in_training():
    model, x = built("vae")
    sampling = model.get_layer("sampling")
    model(x, training=True)
    assert len(model.losses) == 1 and float(model.losses[0]) >= 0
    np.testing.assert_allclose(predict(model, x), predict(model, x))  # deterministic at inference
    a, b = (keras.ops.convert_to_numpy(model(x, training=True)) for _ in range(2))
    assert not np.allclose(a, b)
    z_mean, z_log_var = model.get_layer("encoder")(x)
    assert z_mean.shape == z_log_var.shape == (BATCH, 2)
    assert sampling.kl_weight == pytest.approx(1 / 12)


def test_autoencoder_halves_are_models():
    model, x = built("conv_autoencoder")
    encoder, decoder = model.get_layer("encoder"), model.get_layer("decoder")
    assert isinstance(encoder, keras.Model) and isinstance(decoder, keras.Model)
    np.testing.assert_allclose(predict(decoder, predict(encoder, x)), predict(model, x), rtol=1e-5,
                               atol=1e-6)


def test_denoising_autoencoder_adds_noise_while_training_only():
    model, x = built("denoising_autoencoder")
    assert model.get_layer("noise").stddev == pytest.approx(0.1)
    np.testing.assert_allclose(predict(model, x), predict(model, x))


@pytest.mark.parametrize(
    "name, kwargs, message",
    [
        ("resnet18", dict(depth=20), "depth must be one of"),
        ("resnet18", dict(stem="tiny"), "stem must be"),
        ("resnet18", dict(pooling="mean"), "pooling must be one of"),
        ("lenet", dict(input_shape=(None, None, 1)), "fixed input size"),
        ("lenet", dict(input_shape=(16, 16)), "height, width, channels"),
        ("lstm_classifier", dict(input_shape=(6,)), "time, features"),
        ("lstm_classifier", dict(cell="rnn"), "cell must be one of"),
        ("conv_autoencoder", dict(input_shape=(10, 10, 1)), "divisible by 4"),
        ("vae", dict(input_shape=(None, 3)), "fully known input_shape"),
    ],
)
def test_bad_arguments_name_the_problem(name, kwargs, message):
    with pytest.raises(ValueError, match=message):
        zoo.create_model(name, **kwargs)


def test_native_path_puts_zoo_ops_in_the_graph():
    from zoo import _native

    if keras.backend.backend() != "tensorflow":
        pytest.skip("a TensorFlow graph check; on JAX, test_jax.py finds the custom calls in the HLO")
    if not _native.use_tf_native():
        pytest.skip("the native TensorFlow op library is not loaded")
    import tensorflow as tf

    model, x = built("lenet")
    graph = tf.function(lambda t: model(t, training=False)).get_concrete_function(
        tf.TensorSpec((None,) + x.shape[1:], tf.float32)).graph
    ops = {op.type for op in graph.get_operations()}
    assert "ZooBiasAct" in ops
