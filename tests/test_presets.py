"""Presets: save -> load round trips, re-heading, tamper checks, and `zoo package` to pip install."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import zoo
from zoo.hub import packaging, presets
from zoo.registry import ModelSpec
from zoo.errors import ChecksumError, PresetError


def build_mlp(*, input_shape, num_classes, hidden=6):
    import keras

    from zoo.layers import BiasActivation

    inputs = keras.Input(input_shape)
    x = BiasActivation("gelu")(keras.layers.Dense(hidden, use_bias=False)(inputs))
    return keras.Model(inputs, keras.layers.Dense(num_classes, activation="softmax", name="head")(x))


@pytest.fixture
def registry(isolated_registry):
    zoo.register_model(ModelSpec(name="mlp", family="mlp", task="tabular-classification", builder=build_mlp,
                                 default_input_shape=(5,), default_num_classes=3))
    return isolated_registry


X = np.linspace(-1, 1, 20, dtype="float32").reshape(4, 5)


@pytest.fixture
def preset(registry, tmp_path):
    import keras

    keras.utils.set_random_seed(3)
    model = zoo.create_model("mlp", hidden=7)
    path = zoo.save_preset(model, tmp_path / "fine-tuned", labels=["cat", "dog", "eel"],
                           metrics={"accuracy": 0.75}, dataset="pets", description="A test preset",
                           preprocessing={"rescale": 0.5})
    return model, path


def test_round_trip_keeps_predictions_and_metadata(preset):
    model, path = preset
    assert sorted(p.name for p in path.iterdir()) == ["config.json", "metadata.json", "model.weights.h5"]
    meta = presets.read_metadata(path)
    assert meta["name"] == "fine-tuned" and meta["labels"] == ["cat", "dog", "eel"]
    assert meta["metrics"] == {"accuracy": 0.75} and meta["num_classes"] == 3 and meta["input_shape"] == [5]
    assert meta["arch"] == {"name": "mlp", "kwargs": {"hidden": 7}, "head": "head"}
    assert len(meta["files"]["weights"]["sha256"]) == 64
    for loaded in (zoo.load_preset(path), zoo.create_model(str(path))):
        np.testing.assert_array_equal(loaded.predict(X, verbose=0), model.predict(X, verbose=0))
    assert zoo.model_info(str(path))["dataset"] == "pets"


def test_preset_with_other_num_classes_keeps_the_body(preset, caplog):
    model, path = preset
    loaded = zoo.create_model(str(path), num_classes=2)
    assert loaded.output_shape == (None, 2)
    np.testing.assert_array_equal(loaded.layers[1].get_weights()[0], model.layers[1].get_weights()[0])
    assert "newly initialised" in caplog.text


def test_resaving_a_loaded_preset_keeps_its_architecture(preset, tmp_path):
    _, path = preset
    again = zoo.save_preset(zoo.load_preset(path), tmp_path / "again")
    meta = presets.read_metadata(again)
    assert meta["arch"]["name"] == "mlp" and meta["labels"] == ["cat", "dog", "eel"]
    assert meta["preprocessing"] == {"rescale": 0.5}


def test_tampered_preset_is_refused(preset):
    _, path = preset
    weights = path / "model.weights.h5"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ChecksumError, match="preset weights file"):
        zoo.create_model(str(path))


def test_preset_of_a_custom_model_loads_only_as_saved(registry, tmp_path):
    import keras

    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    path = zoo.save_preset(model, tmp_path / "custom", task="regression")
    meta = presets.read_metadata(path)
    assert meta["arch"] is None and meta["family"] == "custom"
    np.testing.assert_allclose(zoo.load_preset(path).predict(X[:, :3], verbose=0), model.predict(X[:, :3], verbose=0))
    with pytest.raises(PresetError, match="built outside the registry"):
        zoo.load_preset(path, num_classes=4)


def test_save_refuses_a_non_empty_directory(preset):
    model, path = preset
    with pytest.raises(PresetError, match="not empty; pass overwrite=True"):
        zoo.save_preset(model, path)


def test_read_metadata_needs_no_tensorflow(preset):
    _, path = preset
    code = ("import json, sys, zoo; info = zoo.model_info(sys.argv[1]); "
            "print(json.dumps([info['name'], 'tensorflow' in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=120,
                         cwd=path.parent)  # not the checkout: `-c` puts the cwd on sys.path
    assert json.loads(out.stdout) == ["fine-tuned", False], out.stderr


def test_package_writes_a_plugin_project(preset, tmp_path):
    _, path = preset
    root = packaging.package_preset(path, tmp_path / "out", name="zoo-pets", model_name="pets")
    pyproject = (root / "pyproject.toml").read_text()
    assert '[project.entry-points."zoo.models"]' in pyproject and 'zoo_pets = "zoo_pets:SPECS"' in pyproject
    assert sorted(p.name for p in (root / "zoo_pets" / "preset").iterdir()) == [
        "config.json", "metadata.json", "model.weights.h5"]
    namespace: dict = {}
    exec(compile((root / "zoo_pets" / "__init__.py").read_text(), "zoo_pets/__init__.py", "exec"), namespace)
    (spec,) = namespace["SPECS"]
    assert spec.name == "pets" and spec.weights[0].file == "zoo_pets:preset/model.weights.h5"
    assert spec.weights[0].labels == ("cat", "dog", "eel") and spec.weights[0].metrics == {"accuracy": 0.75}
    with pytest.raises(PresetError, match="already exists; pass --force"):
        packaging.package_preset(path, tmp_path / "out", name="zoo-pets")


def test_package_builds_a_wheel_holding_the_entry_point_and_the_weights(preset, tmp_path):
    import zipfile

    _, path = preset
    root = packaging.package_preset(path, tmp_path / "out", name="zoo-pets", model_name="pets")
    wheel = packaging.build_wheel(root, tmp_path / "dist")
    assert wheel.parent == tmp_path / "dist" and wheel.name.startswith("zoo_pets-0.1.0-")
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        assert "zoo_pets/preset/model.weights.h5" in names
        entry_points = zf.read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "[zoo.models]" in entry_points and "zoo_pets = zoo_pets:SPECS" in entry_points
    with pytest.raises(PresetError, match="no pyproject.toml"):
        packaging.build_wheel(tmp_path)


def test_packaged_preset_pip_installs_and_loads_pretrained(tmp_path):
    """The spaCy-style workflow: fine-tune, save a preset, `zoo package --wheel`, pip install
    the wheel, create_model.

    In a venv of its own, so the packaged model does not show up in other tests' listings.
    """
    from plugin_env import EXAMPLE_PLUGIN, PluginVenv

    plugin_venv = PluginVenv(tmp_path / "venv", zoo_home=tmp_path / "zoo-home")
    plugin_venv.install(EXAMPLE_PLUGIN)
    workdir = tmp_path / "work"
    workdir.mkdir()
    train = (
        "import json, keras, numpy as np, zoo\n"
        "keras.utils.set_random_seed(0)\n"
        "model = zoo.create_model('example_mlp.iris', pretrained=True, num_classes=2)\n"
        "x = np.linspace(-2, 2, 40, dtype='float32').reshape(10, 4)\n"
        "model.compile('adam', 'sparse_categorical_crossentropy')\n"
        "model.fit(x, (x[:, 0] > 0).astype('int32'), epochs=2, verbose=0)\n"
        "zoo.save_preset(model, 'preset', name='iris_binary', labels=['small', 'large'],\n"
        "                metrics={'accuracy': 0.9}, dataset='toy')\n"
        "np.save('expected.npy', model.predict(x, verbose=0)); np.save('x.npy', x)\n"
        "print(json.dumps('ok'))\n"
    )
    trained = plugin_venv.run(["-c", train], cwd=workdir)
    assert trained.returncode == 0, trained.stderr
    packaged = plugin_venv.zoo("package", str(workdir / "preset"), "--name", "zoo-iris-binary",
                               "--output", str(workdir / "dist"), "--wheel")
    assert packaged.returncode == 0, packaged.stderr
    (wheel,) = (workdir / "dist" / "dist").glob("zoo_iris_binary-0.1.0-*.whl")
    plugin_venv.install(wheel)  # the wheel, as a user it was shared with would
    report = plugin_venv.python_json(
        "import json, sys, numpy as np, zoo\n"
        "model = zoo.create_model('iris_binary.default', pretrained=True)\n"
        "same = bool(np.allclose(model.predict(np.load('x.npy'), verbose=0), np.load('expected.npy'), atol=1e-6))\n"
        "info = zoo.model_info('iris_binary')\n"
        "print(json.dumps({'same': same, 'dist': info['source']['distribution'],\n"
        "                  'labels': info['weights'][0]['labels'], 'file': info['weights'][0]['file']}))\n",
        cwd=workdir,
    )
    assert report == {"same": True, "dist": "zoo-iris-binary", "labels": ["small", "large"],
                      "file": "zoo_iris_binary:preset/model.weights.h5"}
