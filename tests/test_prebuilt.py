"""The bundled prebuilt model packages (plugins/zoo-*): installed as real pip
packages, discovered through the entry point, loaded pretrained with their sha256
checked, and reproducing the metrics their training scripts recorded, on the
held-out split recomputed here from scikit-learn / statsmodels with the
package's own split code. The recorded baselines are recomputed too, and each
model's claim over its baseline is checked.

Tolerances (CPU kernels and thread counts change the last bits of float32 sums):
accuracy within 0.005 (two of 450 test images), MSE and RMSE within 2% relative.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

import zoo

ROOT = Path(__file__).resolve().parents[1]
ACC_TOL = 0.005
REL_TOL = 0.02
PACKAGES = {  # distribution -> (module, model name)
    "zoo-digits-cnn": ("zoo_digits_cnn", "digits_cnn"),
    "zoo-digits-autoencoder": ("zoo_digits_autoencoder", "digits_autoencoder"),
    "zoo-sunspots-forecaster": ("zoo_sunspots_forecaster", "sunspots_forecaster"),
}


def _package(dist: str):
    try:
        importlib.metadata.distribution(dist)
    except importlib.metadata.PackageNotFoundError:
        pytest.fail(f"{dist} is not installed: `pip install plugins/{dist}` (scripts/test.sh does)")
    importlib.import_module(f"{PACKAGES[dist][0]}.data")  # the split code, as module.data
    return importlib.import_module(PACKAGES[dist][0])


@pytest.mark.parametrize("dist", sorted(PACKAGES))
def test_package_registers_its_model_with_verified_package_data(dist):
    module = _package(dist)
    name = PACKAGES[dist][1]
    meta = module.load_meta()
    assert meta is not None, f"{dist} has no _meta.json: run its training script"
    assert f"{name}.{module.SPECS[0].weights[0].tag}" in zoo.list_models(pretrained=True)
    plugin = next(p for p in zoo.list_plugins() if name in p.models)
    assert plugin.ok and importlib.metadata.distribution(dist).metadata["Name"] == plugin.distribution
    spec = zoo.get_model_spec(name)
    weights = spec.weights[0]
    assert weights.sha256 == meta["sha256"] and weights.metrics == meta["metrics"]
    from zoo.hub.weights import resolve, sha256_file

    path = resolve(weights)  # the package-data file, checked against the sha256
    assert path.name == meta["weights_file"] and sha256_file(path) == meta["sha256"]


def test_digits_cnn_reproduces_recorded_accuracy():
    module = _package("zoo-digits-cnn")
    meta, split = module.load_meta(), module.data.load_split()
    x_test, y_test = split["test"]
    model = zoo.create_model("digits_cnn", pretrained=True)
    accuracy = float(np.mean(model.predict(x_test, verbose=0).argmax(-1) == y_test))
    assert accuracy == pytest.approx(meta["metrics"]["test_accuracy"], abs=ACC_TOL)

    from sklearn.svm import SVC

    x_fit, y_fit = split["fit"]
    svc = SVC(C=meta["baseline"]["svc"]["C"], gamma=meta["baseline"]["svc"]["gamma"])
    svc.fit(x_fit.reshape(len(x_fit), -1), y_fit)
    svc_accuracy = svc.score(x_test.reshape(len(x_test), -1), y_test)
    assert svc_accuracy == pytest.approx(meta["metrics"]["svc_test_accuracy"], abs=1e-9)
    assert accuracy > svc_accuracy


def test_digits_autoencoder_reproduces_recorded_mse_and_beats_pca():
    module = _package("zoo-digits-autoencoder")
    meta, split, data = module.load_meta(), module.data.load_split(), module.data
    x_fit, x_test = split["fit"][0], split["test"][0]
    model = zoo.create_model("digits_autoencoder", pretrained=True)
    mse = data.reconstruction_mse(x_test, model.predict(x_test, verbose=0))
    assert mse == pytest.approx(meta["metrics"]["test_mse"], rel=REL_TOL)
    latent = model.get_layer("encoder").predict(x_test[:2], verbose=0)
    assert latent[0].size == meta["latent_size"]

    from sklearn.decomposition import PCA

    pca = PCA(meta["latent_size"], random_state=0).fit(x_fit.reshape(len(x_fit), -1))
    flat = x_test.reshape(len(x_test), -1)
    pca_mse = data.reconstruction_mse(x_test, pca.inverse_transform(pca.transform(flat)))
    assert pca_mse == pytest.approx(meta["metrics"]["pca_test_mse"], rel=1e-4)
    assert mse < pca_mse


def test_sunspots_forecaster_reproduces_recorded_rmse_and_beats_baselines():
    module = _package("zoo-sunspots-forecaster")
    meta, data = module.load_meta(), module.data
    years, values = data.load_series()
    test = data.split_index(years)["test"]
    assert years[test][0] == 1950 and years[test][-1] == 2008
    model = zoo.create_model("sunspots_forecaster", pretrained=True)
    scaler = data.Scaler.from_preprocessing(zoo.get_model_spec("sunspots_forecaster").weights[0].preprocessing)
    rmse = data.rmse(data.forecast(model, values, test, scaler), values[test])
    assert rmse == pytest.approx(meta["metrics"]["test_rmse"], rel=REL_TOL)

    naive = data.rmse(data.seasonal_naive(values, test), values[test])
    assert naive == pytest.approx(meta["metrics"]["seasonal_naive_test_rmse"], rel=1e-9)
    n_train = int(np.sum(years < data.TEST_START))
    arima = data.rmse(data.arima_forecast(values, n_train, meta["baseline"]["arima_order"], test), values[test])
    assert arima == pytest.approx(meta["metrics"]["arima_test_rmse"], rel=1e-3)
    assert rmse < arima and rmse < naive
    # A forecast for the year after the series ends needs only the last window.
    nxt = data.forecast(model, values, [len(values)], scaler)
    assert nxt.shape == (1,) and np.isfinite(nxt).all() and nxt[0] >= 0


@pytest.mark.slow
@pytest.mark.parametrize("dist", sorted(PACKAGES))
def test_wheel_carries_weights_metadata_and_card(dist, tmp_path):
    """What `pip install plugins/<dist>` installs: the weights and _meta.json as package data."""
    command = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(ROOT / "plugins" / dist)]
    if importlib.util.find_spec("setuptools") is not None:
        command.insert(-1, "--no-build-isolation")  # build with the setuptools already here: no download
    subprocess.run(command, check=True)
    (wheel,) = tmp_path.glob("*.whl")
    module = PACKAGES[dist][0]
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        meta = archive.read(f"{module}/_meta.json")
        entry_points = archive.read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
        card = archive.read(next(n for n in names if n.endswith("/METADATA"))).decode()
    import json

    meta = json.loads(meta)
    assert f"{module}/{meta['weights_file']}" in names
    assert "[zoo.models]" in entry_points and f"{module}:SPECS" in entry_points
    assert "## License" in card and meta["sha256"] in card
