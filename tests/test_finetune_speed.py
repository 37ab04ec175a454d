"""zoo.finetune's speed settings change nothing but speed: steps_per_execution
(chosen from the data and the callbacks), mixed precision (head and loss in
float32, the global policy untouched), and crash recovery with several steps
per execution.

Tolerances: runs differing only in steps_per_execution do the same arithmetic
in the same order, so their losses agree to float32 rounding of the thread
pools' reductions (rtol 1e-4). bfloat16 keeps 8 bits of mantissa: its losses
are within 5% relative of float32's on the short runs here (the noise of one
bf16 rounding per layer), and its accuracy on the prebuilt digits fine-tune
within 0.03 of float32's (14 of 450 test images).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import zoo

keras = pytest.importorskip("keras")

from zoo.training import precision as precision_lib  # noqa: E402
from zoo.training import speed  # noqa: E402

SPE_RTOL = 1e-4
BF16_LOSS_RTOL = 0.05
BF16_ACC_TOL = 0.03


# --------------------------------------------------------------------------- choosing N


class PerBatch(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        pass


def test_steps_per_execution_from_batches():
    assert speed.choose_steps_per_execution("auto", batches=200) == speed.MAX_STEPS_PER_EXECUTION
    assert speed.choose_steps_per_execution("auto", batches=5) == 5  # never more than an epoch
    assert speed.choose_steps_per_execution("auto", batches=None) == speed.MAX_STEPS_PER_EXECUTION
    assert speed.choose_steps_per_execution(7, batches=200, callbacks=[PerBatch()]) == 7
    assert speed.batches_per_epoch(np.zeros((65, 2)), 32) == 3


@pytest.mark.parametrize("callback, per_batch", [
    (PerBatch(), True),
    (keras.callbacks.LambdaCallback(on_train_batch_end=lambda b, l: None), True),
    (keras.callbacks.LambdaCallback(on_epoch_end=lambda e, l: None), False),
    (keras.callbacks.EarlyStopping(patience=1), False),
    (keras.callbacks.ModelCheckpoint("/tmp/x.keras"), False),
    (keras.callbacks.ModelCheckpoint("/tmp/x.keras", save_freq=2), True),
    (keras.callbacks.BackupAndRestore("/tmp/b"), False),
    (keras.callbacks.BackupAndRestore("/tmp/b", save_freq=3), True),
    (keras.callbacks.TerminateOnNaN(), False),
    (keras.callbacks.ReduceLROnPlateau(), False),
    (keras.callbacks.CSVLogger("/tmp/log.csv"), False),
])
def test_per_batch_callbacks_force_one_step(callback, per_batch):
    assert bool(speed.needs_batch_hooks([callback])) is per_batch
    expected = 1 if per_batch else speed.MAX_STEPS_PER_EXECUTION
    assert speed.choose_steps_per_execution("auto", batches=100, callbacks=[callback]) == expected


def test_zoo_backup_callback_allows_several_steps(tmp_path):
    from zoo.training.distribute import backup_callback

    assert not speed.needs_batch_hooks([backup_callback(tmp_path / "b")])


def test_distribution_strategy_gets_one_step():
    import tensorflow as tf

    mirrored = tf.distribute.MirroredStrategy(["/cpu:0"])
    assert speed.choose_steps_per_execution("auto", batches=100, strategy=mirrored) == 1
    assert speed.choose_steps_per_execution(
        "auto", batches=100, strategy=tf.distribute.get_strategy()) == 32


@pytest.mark.parametrize("bad", [0, -1, 2.5, "fast", True])
def test_bad_steps_per_execution(bad):
    with pytest.raises(ValueError, match="steps_per_execution must be a positive integer"):
        speed.choose_steps_per_execution(bad, batches=10)


# --------------------------------------------------------------------------- precision


@pytest.mark.parametrize("precision, family, flags, expected", [
    ("auto", "cnn", {"avx512_bf16"}, "bfloat16"),
    ("auto", "cnn", {"amx_bf16", "amx_tile"}, "bfloat16"),
    ("auto", "cnn", {"avx2", "avx512f"}, "float32"),
    ("auto", "rnn", {"avx512_bf16"}, "float32"),  # not measured faster: stays float32
    ("auto", None, {"avx512_bf16"}, "float32"),
    ("float32", "cnn", {"avx512_bf16"}, "float32"),
    ("bfloat16", "rnn", set(), "bfloat16"),
    ("float16", "cnn", {"avx512_fp16"}, "float16"),
])
def test_resolve_precision(precision, family, flags, expected):
    assert precision_lib.resolve_precision(precision, family, flags=frozenset(flags)) == expected


def test_bad_precision():
    with pytest.raises(ValueError, match="precision must be one of"):
        precision_lib.resolve_precision("int8")
    import tensorflow as tf

    if not tf.config.list_physical_devices("GPU"):
        with pytest.raises(ValueError, match="float16.*needs a GPU"):
            precision_lib.resolve_precision("float16", flags=frozenset())


def test_model_family():
    assert precision_lib.model_family(zoo.create_model("lenet", input_shape=(28, 28, 1))) == "cnn"
    plain = keras.Sequential([keras.Input((5, 4)), keras.layers.LSTM(3)])
    assert precision_lib.model_family(plain) == "rnn"


def test_mixed_copy_keeps_head_float32_and_the_global_policy():
    keras.utils.set_random_seed(0)
    model = zoo.create_model("lenet", input_shape=(28, 28, 1), num_classes=4)
    copy = precision_lib.mixed_copy(model, "bfloat16")
    assert keras.config.dtype_policy().name == "float32"
    assert copy is not model and len(copy.layers) == len(model.layers)
    names = [l.name for l in copy.layers]
    after_head = names[names.index("head"):]
    for layer in copy.layers[1:]:
        expected = "float32" if layer.name in after_head else "mixed_bfloat16"
        assert layer.dtype_policy.name == expected, layer.name
    for a, b in zip(copy.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    x = np.random.default_rng(0).random((2, 28, 28, 1), dtype=np.float32)
    out = copy(x)
    assert keras.backend.standardize_dtype(out.dtype) == "float32"
    np.testing.assert_allclose(np.asarray(out), np.asarray(model(x)), atol=0.03)
    assert precision_lib.mixed_copy(model, "float32") is model


# --------------------------------------------------------------------------- same losses


def _mlp(num_classes=3):
    return keras.Sequential([
        keras.Input((20,)),
        zoo.layers.FusedDense(64, activation="gelu"),
        zoo.layers.FusedDense(32, activation="relu"),
        zoo.layers.FusedDense(num_classes, name="head"),
    ], name="mlp")


FAMILIES = {  # name -> (model factory, x shape, integer labels)
    "dense": (_mlp, (20,), True),
    "autoencoder": (lambda: zoo.create_model("dense_autoencoder", input_shape=(20,),
                                             hidden=(16, 8)), (20,), None),
    "rnn": (lambda: zoo.create_model("lstm_classifier", input_shape=(12, 5), num_classes=3,
                                     units=(8,)), (12, 5), True),
    "cnn": (lambda: zoo.create_model("lenet", input_shape=(16, 16, 1), num_classes=3),
            (16, 16, 1), True),
}


def _data(family, n=128):
    _, shape, labels = FAMILIES[family]
    rng = np.random.default_rng(1)
    x = rng.standard_normal((n, *shape)).astype("float32")
    if labels is None:
        return x, x.copy()
    return x, (x.reshape(n, -1)[:, :3].argmax(-1)).astype("int64")


def _run(family, **settings):
    keras.utils.set_random_seed(0)
    model = FAMILIES[family][0]()
    # shuffle=False: Keras' per-epoch shuffle draws its order from op seeds that
    # differ between runs in one process; the comparison is of the steps only.
    head_epochs = 0 if family == "autoencoder" else 1  # no head to train alone
    result = zoo.finetune(model, _data(family), head_epochs=head_epochs, epochs=2 - head_epochs,
                          learning_rate=3e-3,
                          fine_tune_learning_rate=3e-3, batch_size=16, shuffle=False,
                          verbose=0, validation_data=_data(family, 32), **settings)
    return result


def test_array_pipeline_trains_on_the_batches_fit_would(monkeypatch):
    # zoo's array pipeline (training/batches.py) against plain compile + fit:
    # unshuffled, the same batches (a partial one included) give the same
    # losses, epoch by epoch; and finetune really went through the pipeline.
    from zoo.training import batches

    made = []
    original = batches.epoch_batches
    monkeypatch.setattr(batches, "epoch_batches",
                        lambda *a, **k: made.append(k) or original(*a, **k))
    x, y = _data("dense", n=100)  # batches of 16: six full and one of 4

    def model():
        keras.utils.set_random_seed(0)
        return FAMILIES["dense"][0]()

    result = zoo.finetune(model(), (x, y), head_epochs=0, epochs=3, learning_rate=3e-3,
                          fine_tune_learning_rate=3e-3, batch_size=16, shuffle=False, verbose=0,
                          steps_per_execution=1, precision="float32")
    plain = model()
    plain.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(
        from_logits=not zoo.finetune._gives_probabilities(plain)), metrics=["accuracy"])
    plain.optimizer.learning_rate = 3e-3
    history = plain.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0).history
    assert made and made[0]["shuffle"] is False
    np.testing.assert_allclose(result.history["loss"], history["loss"], rtol=SPE_RTOL)


@pytest.mark.parametrize("n,batch,requested,expected_spe", [
    (16 * 10, 16, 4, 4),         # 10 batches, 4 per execution asked: Keras' pipeline
    (16 * 10, 16, 5, 5),         # 5 divides 10: zoo's pipeline
    (16 * 37, 16, "auto", 32),   # 37 batches, no divisor >= 8 below 32: Keras' pipeline
    (16 * 40 - 3, 16, "auto", 20),  # 40 batches (the last partial): 20 per execution
])
def test_every_epoch_trains_its_batches_once(n, batch, requested, expected_spe):
    # An endless dataset makes Keras run each execution in full, past the
    # epoch's end; finetune must pick executions that tile the epoch or leave
    # the arrays to Keras. The optimizer's step count says how many batches ran.
    x, y = _data("dense", n=n)
    keras.utils.set_random_seed(0)
    result = zoo.finetune(FAMILIES["dense"][0](), (x, y), head_epochs=0, epochs=2,
                          batch_size=batch, verbose=0, steps_per_execution=requested,
                          precision="float32")
    assert result.settings["steps_per_execution"] == expected_spe
    assert int(result.model.optimizer.iterations.numpy()) == 2 * -(-n // batch)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_steps_per_execution_gives_the_same_losses(family):
    plain = _run(family, steps_per_execution=1, precision="float32")
    fast = _run(family, precision="float32")  # auto: 8 batches -> 8 steps per execution
    assert plain.settings["steps_per_execution"] == 1
    assert fast.settings["steps_per_execution"] == 8
    for key in ("loss", "val_loss"):
        np.testing.assert_allclose(fast.history[key], plain.history[key], rtol=SPE_RTOL,
                                   err_msg=key)
    for key, value in plain.metrics.items():
        assert fast.metrics[key] == pytest.approx(value, rel=SPE_RTOL, abs=1e-6), key


@pytest.mark.parametrize("family", ["rnn", "dense"])
def test_jit_compile_gives_the_same_losses(family):
    # With XLA the LSTM keeps its fused kernel (a custom call) and the dense
    # layers are XLA's own: the same steps, so the same losses.
    plain = _run(family, precision="float32")
    jitted = _run(family, precision="float32", jit_compile=True)
    assert plain.settings["jit_compile"] is False  # "auto": Keras' graph mode on a CPU
    assert jitted.settings["jit_compile"] is True
    np.testing.assert_allclose(jitted.history["loss"], plain.history["loss"], rtol=SPE_RTOL)


def test_bad_jit_compile():
    with pytest.raises(ValueError, match="jit_compile must be True, False or 'auto'"):
        speed.check_jit_compile("yes")


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_bfloat16_losses_close_to_float32_and_model_returned_float32(family):
    plain = _run(family, precision="float32")
    mixed = _run(family, precision="bfloat16")
    assert mixed.settings["precision"] == "bfloat16"
    np.testing.assert_allclose(mixed.history["loss"], plain.history["loss"], rtol=BF16_LOSS_RTOL)
    assert mixed.metrics["loss"] == pytest.approx(plain.metrics["loss"], rel=BF16_LOSS_RTOL)
    # the caller's model comes back float32 (trained), under the global policy untouched
    assert all(l.dtype_policy.name == "float32" for l in mixed.model.layers)
    assert keras.config.dtype_policy().name == "float32"


def test_auto_precision_is_float32_without_bf16_hardware(monkeypatch):
    monkeypatch.setattr(precision_lib, "cpu_flags", lambda: frozenset({"avx2"}))
    assert _run("cnn").settings["precision"] == "float32"


def test_per_batch_callback_sees_every_batch():
    seen = []
    cb = keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: seen.append(batch))
    result = _run("dense", callbacks=[cb], precision="float32")
    assert result.settings["steps_per_execution"] == 1
    assert seen == list(range(8)) * 2


# --------------------------------------------------------------------------- prebuilt digits, bf16


def test_bfloat16_fine_tune_of_prebuilt_digits_matches_float32():
    module = pytest.importorskip("zoo_digits_cnn")
    import importlib

    split = importlib.import_module("zoo_digits_cnn.data").load_split()
    (x_fit, y_fit), (x_test, y_test) = split["fit"], split["test"]
    accuracy = {}
    for precision in ("float32", "bfloat16"):
        keras.utils.set_random_seed(0)
        model = zoo.create_model("digits_cnn", pretrained=True)
        result = zoo.finetune(model, (x_fit, y_fit), head_epochs=1, epochs=1, batch_size=32,
                              learning_rate=1e-3, precision=precision, verbose=0)
        assert result.settings["precision"] == precision
        accuracy[precision] = float(np.mean(
            result.model.predict(x_test, verbose=0).argmax(-1) == y_test))
    assert module is not None
    assert accuracy["float32"] > 0.9
    assert accuracy["bfloat16"] == pytest.approx(accuracy["float32"], abs=BF16_ACC_TOL)


# --------------------------------------------------------------------------- crash recovery


WORKER = str(Path(__file__).with_name("dist_worker.py"))
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}


def _worker(tmp_path, name, *args):
    out = tmp_path / f"{name}.npz"
    proc = subprocess.run([sys.executable, WORKER, "--out", str(out), *args], capture_output=True,
                          text=True, env=ENV, timeout=300, cwd=tmp_path)
    return proc, out


def _load(out):
    with np.load(out) as f:
        weights = [f[k] for k in sorted(f.files, key=lambda k: int(k.split("_")[1]))]
    return weights, json.loads(Path(str(out) + ".json").read_text())


def test_killed_fine_tune_with_several_steps_per_execution_resumes_the_right_epoch(tmp_path):
    # 256 examples in batches of 32: 8 batches, run 4 per execution.
    whole, whole_out = _worker(tmp_path, "whole", "--epochs", "4", "--steps-per-execution", "4")
    assert whole.returncode == 0, whole.stderr[-3000:]
    backup = tmp_path / "backup"
    first, out = _worker(tmp_path, "resumed", "--epochs", "4", "--steps-per-execution", "4",
                         "--backup-dir", str(backup), "--kill-after-epoch", "3")
    assert first.returncode == -9, first.stderr[-3000:]
    assert first.stdout.split()[-3:] == ["finished", "epoch", "3"]
    second, out = _worker(tmp_path, "resumed", "--epochs", "4", "--steps-per-execution", "4",
                          "--backup-dir", str(backup))
    assert second.returncode == 0, second.stderr[-3000:]
    assert second.stdout.split() == ["finished", "epoch", "4"], second.stdout  # epoch 4 only
    weights, meta = _load(out)
    reference, whole_meta = _load(whole_out)
    assert meta["settings"]["steps_per_execution"] == 4
    # the resumed run reports the restored head phase and the epoch it ran
    assert (meta["epochs_in_history"], whole_meta["epochs_in_history"]) == (2, 4)
    for a, b in zip(weights, reference):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert not backup.exists()


# --------------------------------------------------------------------------- command line


def test_cli_speed_options(tmp_path):
    from click.testing import CliRunner

    from zoo.cli import main

    x, y = _data("dense", 64)
    np.savez(tmp_path / "data.npz", x=x, y=y)
    keras.utils.set_random_seed(0)
    _mlp().save(tmp_path / "mlp.keras")
    base = ["finetune", str(tmp_path / "mlp.keras"), str(tmp_path / "data.npz"),
            "--batch-size", "16", "--epochs", "0", "--json"]
    result = CliRunner().invoke(main, base + ["--precision", "float32",
                                              "--steps-per-execution", "2"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output[result.output.index("{"):])
    assert report["settings"] == {"precision": "float32", "steps_per_execution": 2,
                                  "jit_compile": False}
    bad = CliRunner().invoke(main, base + ["--steps-per-execution", "many"])
    assert bad.exit_code == 2 and "positive integer or 'auto'" in bad.output
    bad = CliRunner().invoke(main, base + ["--precision", "int8"])
    assert bad.exit_code == 2
