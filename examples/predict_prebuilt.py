"""Install a prebuilt model package and predict with it.

    python examples/predict_prebuilt.py            # installs plugins/zoo-digits-cnn and
                                                   # plugins/zoo-sunspots-forecaster if missing

A prebuilt model is an ordinary pip package: once installed, keras-zoo finds it
through its entry point, and ``create_model(name, pretrained=True)`` loads its
weights from the package after checking their sha256.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
PLUGINS = Path(__file__).resolve().parents[1] / "plugins"


def ensure_installed(dist: str) -> None:
    try:
        importlib.metadata.distribution(dist)
    except importlib.metadata.PackageNotFoundError:
        print(f"installing {dist}: pip install {PLUGINS / dist}")
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", str(PLUGINS / dist)], check=True)
        importlib.invalidate_caches()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=8, help="how many test digits to classify")
    args = parser.parse_args(argv)
    for dist in ("zoo-digits-cnn", "zoo-sunspots-forecaster"):
        ensure_installed(dist)

    import numpy as np
    from zoo_digits_cnn import data as digits
    from zoo_sunspots_forecaster import data as sunspots

    import zoo

    # Digits: the package's held-out split, preprocessed as the model card says.
    info = zoo.model_info("digits_cnn")
    print(f"digits_cnn from {info['source']['distribution']}: {info['weights'][0]['metrics']}")
    model = zoo.create_model("digits_cnn", pretrained=True)
    x_test, y_test = digits.load_split()["test"]
    probabilities = model.predict(x_test[:args.count], verbose=0)
    labels = zoo.get_model_spec("digits_cnn").weights[0].labels
    for p, truth in zip(probabilities, y_test[:args.count]):
        print(f"  predicted {labels[p.argmax()]} ({p.max():.3f}), true {truth}")

    # Sunspots: next year's number from the last 20 years of the series.
    spec = zoo.get_model_spec("sunspots_forecaster")
    forecaster = zoo.create_model("sunspots_forecaster", pretrained=True)
    scaler = sunspots.Scaler.from_preprocessing(spec.weights[0].preprocessing)
    years, values = sunspots.load_series()
    (forecast,) = sunspots.forecast(forecaster, values, [len(values)], scaler)
    print(f"sunspots_forecaster: {years[-1]} had {values[-1]:.1f}; forecast for {years[-1] + 1}: {forecast:.1f}")
    return {"digits": np.asarray(probabilities).argmax(-1), "sunspots_next": float(forecast)}


if __name__ == "__main__":
    main()
