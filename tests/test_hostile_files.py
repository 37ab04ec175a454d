"""Hostile files: each is refused with a clear error before any code from it runs,
and nothing is left half-written in the cache.

A .keras archive with a Lambda layer or with a class from a module it names, an
.h5 of other shapes, truncated weights, a preset whose metadata lies about its
files' sha256, a download that does not match its digest, and a plugin wheel
whose weights were swapped after packaging (pip-installed into a venv of its
own). Code that would run is made visible: the Lambda and the named module
write a marker file when called or imported.
"""

from __future__ import annotations

import json
import shutil
import sys
import zipfile

import numpy as np
import pytest

import zoo
from zoo.errors import ChecksumError, PresetError, WeightsError
from zoo.hub import packaging
from zoo.registry import ModelSpec


def build_mlp(*, input_shape, num_classes, hidden=6):
    import keras

    inputs = keras.Input(input_shape)
    x = keras.layers.Dense(hidden, activation="relu")(inputs)
    return keras.Model(inputs, keras.layers.Dense(num_classes, name="head")(x))


@pytest.fixture
def registry(isolated_registry):
    zoo.register_model(ModelSpec(name="mlp", family="mlp", task="tabular-classification", builder=build_mlp,
                                 default_input_shape=(5,), default_num_classes=3))
    return isolated_registry


@pytest.fixture
def zoo_home(tmp_path, monkeypatch):
    home = tmp_path / "zoo-home"
    monkeypatch.setenv("ZOO_HOME", str(home))
    return home


def _files_under(path):
    return sorted(p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file()) if path.exists() else []


def _lambda_model(marker):
    import keras

    # An anonymous function: Keras stores its bytecode, which only an unsafe load would run.
    side_effect = lambda x, m=str(marker): (open(m, "a").write("ran\n"), x)[1]  # noqa: E731

    inputs = keras.Input((5,))
    x = keras.layers.Dense(6, activation="relu")(inputs)
    x = keras.layers.Lambda(side_effect, output_shape=(6,))(x)
    return keras.Model(inputs, keras.layers.Dense(3, name="head")(x))


def test_keras_file_with_a_lambda_is_refused_before_its_code_runs(registry, tmp_path):
    marker = tmp_path / "lambda-ran"
    path = tmp_path / "evil.keras"
    _lambda_model(marker).save(path)
    marker.unlink(missing_ok=True)  # building the model called it; loading must not
    with pytest.raises(WeightsError, match="refused.*(Lambda|safe_mode)"):
        zoo.create_model("mlp", weights=str(path))
    assert not marker.exists()


def test_keras_file_naming_an_unknown_class_is_refused_without_importing_it(registry, tmp_path,
                                                                            monkeypatch):
    # A module on sys.path that would leave a marker if the loader imported it.
    marker = tmp_path / "module-imported"
    evil_dir = tmp_path / "site"
    evil_dir.mkdir()
    (evil_dir / "zoo_evil_layers.py").write_text(
        f"open({str(marker)!r}, 'w').write('imported')\n"
        "import keras\n"
        "class Evil(keras.layers.Layer):\n"
        "    def call(self, x):\n"
        "        return x\n"
    )
    monkeypatch.syspath_prepend(str(evil_dir))
    good = tmp_path / "good.keras"
    build_mlp(input_shape=(5,), num_classes=3).save(good)
    path = tmp_path / "unknown-class.keras"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(path, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "config.json":
                config = json.loads(data)
                layer = config["config"]["layers"][1]
                layer.update(module="zoo_evil_layers", class_name="Evil", registered_name="Evil")
                data = json.dumps(config).encode()
            dst.writestr(item, data)
    with pytest.raises(WeightsError, match="refused"):
        zoo.create_model("mlp", weights=str(path))
    assert not marker.exists() and "zoo_evil_layers" not in sys.modules


def test_h5_of_other_shapes_is_refused(registry, tmp_path):
    path = tmp_path / "other.weights.h5"
    build_mlp(input_shape=(5,), num_classes=3, hidden=9).save_weights(path)
    with pytest.raises(WeightsError, match="does not fit"):
        zoo.create_model("mlp", weights=str(path))


@pytest.mark.parametrize("suffix", [".weights.h5", ".keras"])
def test_truncated_weights_file_is_refused(registry, tmp_path, suffix):
    full = tmp_path / f"full{suffix}"
    model = build_mlp(input_shape=(5,), num_classes=3)
    model.save_weights(full) if suffix == ".weights.h5" else model.save(full)
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    with pytest.raises(WeightsError, match="not a readable weights file|refused"):
        zoo.create_model("mlp", weights=str(cut))


def test_preset_whose_metadata_lies_about_sha256_is_refused_before_its_config_is_read(
        registry, tmp_path):
    preset = zoo.save_preset(zoo.create_model("mlp"), tmp_path / "preset", labels=["a", "b", "c"])
    # Swap in a config with a Lambda layer (code, were it deserialised) and keep the metadata.
    marker = tmp_path / "lambda-ran"
    evil = zoo.save_preset(_lambda_model(marker), tmp_path / "evil")
    marker.unlink(missing_ok=True)
    shutil.copy(evil / "config.json", preset / "config.json")
    with pytest.raises(ChecksumError, match="preset config file"):
        zoo.create_model(str(preset))
    assert not marker.exists()
    # And with the digest "fixed" to match, safe mode still refuses the Lambda.
    meta = json.loads((preset / "metadata.json").read_text())
    from zoo.hub.weights import sha256_file

    meta["files"]["config"]["sha256"] = sha256_file(preset / "config.json")
    (preset / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(PresetError, match="could not be rebuilt"):
        zoo.create_model(str(preset))
    assert not marker.exists()


def test_download_not_matching_its_digest_leaves_nothing_in_the_cache(registry, tmp_path, zoo_home):
    from zoo.hub import weights

    path = tmp_path / "model.weights.h5"
    build_mlp(input_shape=(5,), num_classes=3).save_weights(path)
    url = path.as_uri() + "#sha256=" + "0" * 64
    with pytest.raises(ChecksumError):
        zoo.create_model("mlp", weights=url)
    assert _files_under(weights.cache_dir()) == []


@pytest.mark.slow
def test_plugin_wheel_with_swapped_weights_is_refused(registry, tmp_path):
    """`zoo package --wheel`, then the weights inside the wheel replaced by others of
    the same shapes (the RECORD left as it was: pip does not check it), pip install
    into a venv of its own, create_model: refused by the sha256 the package records."""
    from plugin_env import PluginVenv

    import keras

    keras.utils.set_random_seed(1)
    # Built outside the registry, so the venv needs no registry entry to rebuild it.
    preset = zoo.save_preset(build_mlp(input_shape=(5,), num_classes=3), tmp_path / "preset",
                             labels=["a", "b", "c"])
    root = packaging.package_preset(preset, tmp_path / "pkg", name="zoo-swapped", model_name="swapped")
    wheel = packaging.build_wheel(root, tmp_path / "dist")
    other = tmp_path / "other.weights.h5"
    keras.utils.set_random_seed(2)
    build_mlp(input_shape=(5,), num_classes=3).save_weights(other)
    tampered = tmp_path / "tampered" / wheel.name
    tampered.parent.mkdir()
    with zipfile.ZipFile(wheel) as src, zipfile.ZipFile(tampered, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            data = other.read_bytes() if item.filename.endswith("preset/model.weights.h5") else src.read(item)
            dst.writestr(item, data)

    venv = PluginVenv(tmp_path / "venv", zoo_home=tmp_path / "zoo-home")
    venv.install(tampered)
    out = venv.run(["-c", (
        "import zoo\n"
        "from zoo.errors import ChecksumError\n"
        "try:\n"
        "    zoo.create_model('swapped', pretrained=True)\n"
        "except ChecksumError as e:\n"
        "    print('REFUSED', e)\n"
    )])
    assert out.returncode == 0, out.stderr[-3000:]
    assert "REFUSED" in out.stdout and "sha256" in out.stdout, out.stdout + out.stderr[-2000:]
    assert not [f for f in _files_under(tmp_path / "zoo-home") if f.endswith(".partial")]
