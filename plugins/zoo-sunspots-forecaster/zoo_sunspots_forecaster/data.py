"""The series, its fixed split and the evaluation protocol, shared by the training
script and the tests.

``statsmodels.api.datasets.sunspots``: yearly mean sunspot numbers, 1700-2008
(309 values; public domain, bundled with statsmodels, no download).

Split by time: the model and the baselines are fitted on 1700-1949; 1950-2008 is
held out. For model selection the training part is split again: fit on targets
before 1910, validate on 1910-1949.

Protocol: one-step-ahead forecasts. For every held-out year t each method predicts
y[t] from the true values up to t-1 (no refitting; the forecaster sees the last
``WINDOW`` years). Errors are RMSE in sunspot numbers.

The model works on a transformed scale: ``z = (sqrt(y) - mean) / std`` (the square
root evens out the cycle's very different peak heights), with mean and std of the
fitting years; :class:`Scaler` holds them (they are in the weights' preprocessing).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TEST_START = 1950
VAL_START = 1910
WINDOW = 20
PERIOD = 11  # the solar cycle, in years: the seasonal-naive baseline repeats y[t - 11]


def load_series() -> tuple[np.ndarray, np.ndarray]:
    """(years int64, sunspot numbers float64), 1700-2008."""
    import statsmodels.api as sm

    frame = sm.datasets.sunspots.load_pandas().data
    return frame["YEAR"].to_numpy().astype("int64"), frame["SUNACTIVITY"].to_numpy().astype("float64")


def split_index(years: np.ndarray) -> dict[str, np.ndarray]:
    """Indices of the forecast targets: ``fit`` (< 1910, from WINDOW on), ``val``
    (1910-1949), ``train`` (fit + val) and ``test`` (1950-2008)."""
    idx = np.arange(len(years))
    return {"fit": idx[(idx >= WINDOW) & (years < VAL_START)],
            "val": idx[(years >= VAL_START) & (years < TEST_START)],
            "train": idx[(idx >= WINDOW) & (years < TEST_START)],
            "test": idx[years >= TEST_START]}


@dataclass(frozen=True)
class Scaler:
    """``z = (sqrt(y) - mean) / std`` and back."""

    mean: float
    std: float

    @classmethod
    def fit(cls, values: np.ndarray) -> "Scaler":
        root = np.sqrt(np.asarray(values, dtype="float64"))
        return cls(float(root.mean()), float(root.std()))

    # Stored under their own keys: `zoo predict` applies a plain "mean"/"std" to the raw
    # input, which would skip the square root and give wrong forecasts.
    @classmethod
    def from_preprocessing(cls, preprocessing) -> "Scaler":
        return cls(float(preprocessing["sqrt_mean"]), float(preprocessing["sqrt_std"]))

    def to_preprocessing(self) -> dict:
        return {"transform": "(sqrt(y) - sqrt_mean) / sqrt_std", "sqrt_mean": self.mean, "sqrt_std": self.std,
                "window": WINDOW}

    def transform(self, values):
        return (np.sqrt(np.maximum(np.asarray(values, dtype="float64"), 0.0)) - self.mean) / self.std

    def inverse(self, z):
        return np.square(np.maximum(np.asarray(z, dtype="float64") * self.std + self.mean, 0.0))


def windows(z: np.ndarray, targets, window: int = WINDOW) -> np.ndarray:
    """Model inputs, (n, window, 1) float32: the ``window`` values before each target index
    (a target may be ``len(z)``, the year after the series ends)."""
    return np.stack([z[t - window:t] for t in targets])[..., None].astype("float32")


def forecast(model, values: np.ndarray, targets: np.ndarray, scaler: Scaler) -> np.ndarray:
    """One-step-ahead forecasts of ``values[targets]`` in sunspot numbers."""
    x = windows(scaler.transform(values), targets)
    return scaler.inverse(model.predict(x, verbose=0)[:, 0])


def seasonal_naive(values: np.ndarray, targets: np.ndarray, period: int = PERIOD) -> np.ndarray:
    return np.asarray(values)[np.asarray(targets) - period]


def arima_forecast(values: np.ndarray, n_train: int, order, targets: np.ndarray) -> np.ndarray:
    """statsmodels ARIMA(order) fitted on values[:n_train], then run over the whole
    series with those parameters: one-step-ahead predictions at ``targets``."""
    import warnings

    from statsmodels.tsa.arima.model import ARIMA

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter from the optimiser
        fitted = ARIMA(values[:n_train], order=tuple(order)).fit()
        return fitted.apply(values).predict()[targets]


def rmse(forecast_values, truth) -> float:
    diff = np.asarray(forecast_values, dtype="float64") - np.asarray(truth, dtype="float64")
    return float(np.sqrt(np.mean(diff**2)))
