"""Fine-tuning helpers: head reset, freeze/unfreeze with BatchNorm kept in
inference mode, the two-phase schedule and zoo.finetune's data inputs."""

from __future__ import annotations

import numpy as np
import pytest

import zoo

keras = pytest.importorskip("keras")

RESNET = dict(input_shape=(16, 16, 3), num_classes=3, width=4)
# Example counts are multiples of the batch size throughout: TF 2.21's oneDNN
# convolution backprop corrupts the heap now and then on a partial last batch
# (seen with stock layers too; TF_ENABLE_ONEDNN_OPTS=0 avoids it).


def resnet(**kwargs):
    keras.utils.set_random_seed(0)
    return zoo.create_model("resnet18", **{**RESNET, **kwargs})


def images(n=8, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, 16, 16, 3), dtype=np.float32), np.arange(n) % classes


def batchnorms(model):
    return [l for l in zoo.finetune._walk(model) if isinstance(l, keras.layers.BatchNormalization)]


def test_public_names():
    assert callable(zoo.finetune)  # the module is callable: zoo.finetune(model, data)
    assert zoo.reset_head is zoo.finetune.reset_head
    assert zoo.freeze is zoo.finetune.freeze and zoo.unfreeze is zoo.finetune.unfreeze


def test_reset_head_changes_output_size_and_shares_the_rest():
    model = resnet()
    new = zoo.reset_head(model, 7)
    x, _ = images(2)
    assert new(x).shape == (2, 7)
    assert model(x).shape == (2, 3)
    assert new.get_layer("conv1_conv") is model.get_layer("conv1_conv")
    assert new.get_layer("head") is not model.get_layer("head")
    assert new.layers[-1].name == "predictions"  # softmax kept after the new head
    np.testing.assert_allclose(keras.ops.convert_to_numpy(new(x)).sum(-1), 1.0, rtol=1e-5)


def test_reset_head_errors():
    with pytest.raises(ValueError, match="no layer named 'head'"):
        zoo.reset_head(zoo.create_model("dense_autoencoder", input_shape=(6,), hidden=(4,)), 3)
    with pytest.raises(ValueError, match="positive integer"):
        zoo.reset_head(resnet(), 0)


def test_frozen_weights_do_not_move_and_batchnorm_stats_stay():
    model = zoo.freeze(resnet())
    head = model.get_layer("head")
    assert not model.get_layer("conv1_conv").trainable and head.trainable
    frozen = {w.path: keras.ops.convert_to_numpy(w) for l in model.layers if l is not head for w in l.weights}
    head_before = keras.ops.convert_to_numpy(head.kernel)
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    x, y = images()
    model.fit(x * 5 + 3, y, epochs=2, batch_size=4, verbose=0)  # far from the BN statistics
    for l in model.layers:
        for w in l.weights:
            if w.path in frozen:
                np.testing.assert_array_equal(keras.ops.convert_to_numpy(w), frozen[w.path], err_msg=w.path)
    assert not np.allclose(keras.ops.convert_to_numpy(head.kernel), head_before)


def test_freeze_up_to_and_unfreeze_keeps_batchnorm_in_inference_mode():
    model = resnet()
    zoo.freeze(model, up_to="conv2_block2_out")
    names = [l.name for l in model.layers]
    cut = names.index("conv2_block2_out")
    assert all(not l.trainable for l in model.layers[:cut + 1])
    assert all(l.trainable for l in model.layers[cut + 1:])
    zoo.freeze(model, up_to=2)
    assert [l.trainable for l in model.layers[:4]] == [False, False, False, True]

    zoo.unfreeze(model)
    bns = batchnorms(model)
    assert bns and all(not bn.trainable for bn in bns)
    assert model.get_layer("conv1_conv").trainable
    before = [keras.ops.convert_to_numpy(bn.moving_mean) for bn in bns]
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    x, y = images()
    model.fit(x * 5 + 3, y, epochs=1, batch_size=4, verbose=0)
    for bn, b in zip(bns, before):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(bn.moving_mean), b)
    zoo.unfreeze(model, train_batchnorm=True)
    assert all(bn.trainable for bn in bns)


def test_freeze_errors():
    model = resnet()
    with pytest.raises(ValueError, match="out of range"):
        zoo.freeze(model, up_to=10_000)
    with pytest.raises(TypeError, match="layer name, an index or None"):
        zoo.freeze(model, up_to=1.5)


# bfloat16 trains a mixed-precision copy whose weights and frozen layers go
# back into the float32 model ("auto" picks it for CNNs on bf16 hardware).
@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_finetune_two_phases_on_arrays(precision):
    model = resnet()
    x, y = images(16, classes=5)
    result = zoo.finetune(model, (x, y), head_epochs=1, epochs=2, learning_rate=1e-2,
                          batch_size=4, validation_split=0.25, verbose=0, precision=precision)
    assert result.settings["precision"] == precision
    assert result.model.output_shape == (None, 5)  # labels 0..4 need a wider head
    assert [p[0] for p in result.phases] == ["head", "full"]
    assert result.phases[1][2] == pytest.approx(1e-3)  # lower rate for the whole network
    assert result.history["phase"] == ["head", "full", "full"]
    assert len(result.history["loss"]) == 3 and "val_loss" in result.history
    assert set(result.metrics) >= {"loss", "accuracy"}
    assert "head" in result.summary() and "accuracy" in result.summary()
    # After both phases the BatchNorms are still in inference mode.
    assert all(not bn.trainable for bn in batchnorms(result.model))


def test_finetune_keeps_a_wide_enough_head_and_takes_callbacks():
    model = resnet(num_classes=4)
    x, y = images(8, classes=2)
    seen = []
    callback = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(epoch))
    result = zoo.finetune(model, (x, y), head_epochs=1, epochs=1, batch_size=4, verbose=0,
                          callbacks=[callback])
    assert result.model is model and model.output_shape == (None, 4)
    assert seen == [0, 1]


def test_finetune_tf_data():
    import tensorflow as tf

    x, y = images(8)
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(4)
    result = zoo.finetune(resnet(), ds, head_epochs=1, epochs=0, verbose=0)
    assert [p[0] for p in result.phases] == ["head"]
    assert "accuracy" in result.metrics


def test_finetune_image_folder(tmp_path):
    import tensorflow as tf  # encodes the PNGs without needing PIL

    rng = np.random.default_rng(0)
    for label in ("cats", "dogs"):
        (tmp_path / label).mkdir()
        for i in range(4):
            pixels = rng.integers(0, 255, (20, 20, 3), dtype=np.uint8)
            (tmp_path / label / f"{i}.png").write_bytes(tf.io.encode_png(pixels).numpy())
    result = zoo.finetune(resnet(), tmp_path, head_epochs=1, epochs=0, batch_size=4, verbose=0)
    assert result.model.output_shape == (None, 2)
    assert result.data_info["class_names"] == ["cats", "dogs"]


def test_finetune_csv_series(tmp_path):
    t = np.arange(80, dtype=np.float32)
    path = tmp_path / "series.csv"
    np.savetxt(path, np.stack([t, 10 + np.sin(t / 4)], axis=1), delimiter=",",
               header="step,value", comments="")
    model = zoo.create_model("gru_forecaster", input_shape=(12, 1), num_classes=3, units=(4,),
                             projection=4)
    result = zoo.finetune(model, path, head_epochs=0, epochs=2, learning_rate=1e-2, verbose=0)
    assert result.data_info["target"] == "value"
    # Normalised with the statistics of the training part (the first 80%) only.
    assert result.data_info["mean"][0] == pytest.approx(np.mean(10 + np.sin(t[:64] / 4)), rel=1e-5)
    assert set(result.metrics) >= {"loss", "mae"}
    assert result.history["loss"][-1] < result.history["loss"][0]


def test_finetune_bad_data():
    with pytest.raises(FileNotFoundError):
        zoo.finetune(resnet(), "/nonexistent/folder.npz", verbose=0)
    with pytest.raises(TypeError, match="cannot train on a list"):
        zoo.finetune(resnet(), [1, 2, 3], verbose=0)
    with pytest.raises(ValueError, match="both 0"):
        zoo.finetune(resnet(), images(4), head_epochs=0, epochs=0, verbose=0)


def test_cli_finetune(tmp_path):
    import json

    from click.testing import CliRunner

    from zoo.cli import main

    x, y = images(8, classes=2)
    np.savez(tmp_path / "data.npz", x=x, y=y)
    out = tmp_path / "tuned.keras"
    result = CliRunner().invoke(main, ["finetune", "resnet18", str(tmp_path / "data.npz"),
                                       "--input-shape", "16,16,3", "--num-classes", "2",
                                       "--batch-size", "4", "-o", str(out), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output[result.output.index("{"):])
    assert report["phases"][0][0] == "head" and "accuracy" in report["metrics"]
    assert out.exists()
