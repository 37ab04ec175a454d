"""Export: every exportable registered model goes to SavedModel and TFLite with
the native kernels replaced by the reference, and runs in a fresh Python that
cannot import zoo, with the same outputs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import zoo

keras = pytest.importorskip("keras")

from test_models import NAMES, TINY, kwargs_for, spec  # noqa: E402  (tests/ is on sys.path)

EXPORTABLE = [n for n in NAMES if "exportable" in zoo.get_model_spec(n).capabilities]
# TFLite conversion is the slow part: one model per family and task covers the
# op sets (convolutions, recurrent loops, the VAE's sampling layer).
TFLITE = {n for n in EXPORTABLE if n in ("lenet", "mobilenet_v2", "bilstm_classifier",
                                         "gru_forecaster", "conv_lstm_classifier",
                                         "denoising_autoencoder", "vae")}

if keras.backend.backend() != "tensorflow":
    # On another backend each export is a child process on TensorFlow (zoo.export
    # hands it over) running the same code for every model, and the TensorFlow run
    # exports them all: here one model per family, one per zoo layer kind (fused
    # dense and conv stack, LSTM under Bidirectional, GRU, the VAE's sampling).
    EXPORTABLE = [n for n in EXPORTABLE if n in ("lenet", "bilstm_classifier", "gru_forecaster",
                                                 "vae")]

# Runs in a fresh interpreter: zoo is made unimportable before anything else.
LOADER = textwrap.dedent("""
    import json, os, sys
    sys.modules["zoo"] = None  # `import zoo` now raises ImportError
    import numpy as np
    import tensorflow as tf

    results = {}
    for name, d in json.loads(sys.argv[1]).items():
        x, expected = np.load(d + "/x.npy"), np.load(d + "/y.npy")
        saved = tf.saved_model.load(d + "/savedmodel")
        sm = np.asarray(saved.serve(tf.constant(x)))
        results[name] = {"savedmodel": float(np.abs(sm - expected).max())}
        if not os.path.exists(d + "/model.tflite"):
            continue
        interpreter = tf.lite.Interpreter(model_path=d + "/model.tflite")
        interpreter.allocate_tensors()
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x[:1])
        interpreter.invoke()
        lite = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
        results[name]["tflite"] = float(np.abs(lite - expected[:1]).max())
    print("RESULTS" + json.dumps(results))
""")


def sample(model, batch=2):
    shape = tuple(8 if s is None else s for s in model.input_shape[1:])
    return np.random.default_rng(0).random((batch,) + shape, dtype=np.float32)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Exports every model once, then loads them all in one subprocess without zoo."""
    root = tmp_path_factory.mktemp("exports")
    dirs = {}
    for name in EXPORTABLE:
        keras.utils.set_random_seed(0)
        model = zoo.create_model(name, **kwargs_for(name))
        x = sample(model)
        d = root / name
        d.mkdir()
        np.save(d / "x.npy", x)
        np.save(d / "y.npy", keras.ops.convert_to_numpy(model(x, training=False)))  # native path, if built
        zoo.export(model, d / "savedmodel", format="savedmodel")
        if name in TFLITE:
            zoo.export(model, d / "model.tflite", format="tflite")
        dirs[name] = str(d)
    proc = subprocess.run([sys.executable, "-c", LOADER, json.dumps(dirs)], capture_output=True,
                          text=True, timeout=600, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    line = [l for l in proc.stdout.splitlines() if l.startswith("RESULTS")]
    assert proc.returncode == 0 and line, proc.stderr[-3000:]
    return json.loads(line[0][len("RESULTS"):])


@pytest.mark.parametrize("name", EXPORTABLE)
def test_exports_run_without_zoo(exported, name):
    assert exported[name]["savedmodel"] < 1e-4
    if name in TFLITE:
        assert exported[name]["tflite"] < 1e-4


def test_every_family_is_exportable():
    families = {spec(n).family for n in EXPORTABLE}
    assert {"cnn", "rnn", "autoencoder"} <= families


def test_savedmodel_holds_no_native_ops_and_the_check_can_see_them(tmp_path):
    from zoo import _native
    from zoo.export import native_ops_in_savedmodel

    model = zoo.create_model("lenet", **TINY["lenet"])
    zoo.export(model, tmp_path / "clean", format="savedmodel")
    assert native_ops_in_savedmodel(tmp_path / "clean") == set()
    if not _native.use_tf_native():
        pytest.skip("the native op library is not loaded: nothing to detect")
    # A gelu layer keeps its native op in any graph (relu after a convolution
    # is left to TensorFlow's own fusion, see zoo/ops/bias_act.py).
    import keras

    inputs = keras.Input((8,))
    raw = keras.Model(inputs, zoo.layers.FusedDense(4, activation="gelu")(inputs))
    raw.export(str(tmp_path / "raw"), format="tf_saved_model", verbose=False)  # native traced
    assert "ZooBiasAct" in native_ops_in_savedmodel(tmp_path / "raw")


def test_keras_format_round_trip(tmp_path):
    model = zoo.create_model("vae", **TINY["vae"])
    path = zoo.export(model, tmp_path / "vae.keras")
    loaded = keras.saving.load_model(path)
    x = sample(model)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(x)), keras.ops.convert_to_numpy(model(x)), rtol=1e-6)
    # A saved file can be exported again by path.
    zoo.export(path, tmp_path / "vae_sm", format="savedmodel")
    assert (tmp_path / "vae_sm" / "saved_model.pb").exists()


def test_export_arguments_are_checked(tmp_path):
    model = zoo.create_model("lenet", **TINY["lenet"])
    with pytest.raises(ValueError, match="format must be one of"):
        zoo.export(model, tmp_path / "m.pt", format="torchscript")
    with pytest.raises(ValueError, match="ending in .tflite"):
        zoo.export(model, tmp_path / "m.bin", format="tflite")
    (tmp_path / "m.keras").write_text("old")
    with pytest.raises(FileExistsError):
        zoo.export(model, tmp_path / "m.keras", overwrite=False)


def test_onnx_without_tf2onnx_says_how_to_get_it(tmp_path, monkeypatch):
    from zoo.export import ExportError

    if keras.backend.backend() != "tensorflow":
        pytest.skip("on this backend the converter is imported in the TensorFlow child, "
                    "which this monkeypatch cannot reach; checked on the TensorFlow run")

    monkeypatch.setitem(sys.modules, "tf2onnx", None)
    model = zoo.create_model("lenet", **TINY["lenet"])
    with pytest.raises(ExportError, match="pip install tf2onnx onnx"):
        zoo.export(model, tmp_path / "m.onnx", format="onnx")


def test_onnx_round_trip(tmp_path):
    pytest.importorskip("tf2onnx")
    ort = pytest.importorskip("onnxruntime")
    model = zoo.create_model("lstm_classifier", **TINY["lstm_classifier"])
    x = sample(model)
    zoo.export(model, tmp_path / "m.onnx", format="onnx")
    session = ort.InferenceSession(str(tmp_path / "m.onnx"))
    out = session.run(None, {session.get_inputs()[0].name: x})[0]
    np.testing.assert_allclose(out, keras.ops.convert_to_numpy(model(x)), rtol=1e-4, atol=1e-5)


def test_cli_export(tmp_path):
    from click.testing import CliRunner

    from zoo.cli import main

    runner = CliRunner()
    out = tmp_path / "lenet.tflite"
    result = runner.invoke(main, ["export", "lenet", str(out), "--input-shape", "16,16,1",
                                  "--num-classes", "2"])
    assert result.exit_code == 0, result.output
    assert "tflite export written" in result.output and out.stat().st_size > 0
    bad = runner.invoke(main, ["export", "lenet", str(tmp_path / "m.onnx"), "--format", "tflite"])
    assert bad.exit_code != 0 and "ending in .tflite" in str(bad.exception)
