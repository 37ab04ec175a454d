"""Train the sunspots_forecaster prebuilt model (plugins/zoo-sunspots-forecaster)
and write its weights, _meta.json and MODEL_CARD.md; the seasonal-naive and
ARIMA baselines are computed here on the same split. Seeded; about 1-2 minutes
on two CPU cores.

    python scripts/train_sunspots_forecaster.py
"""

from __future__ import annotations

import time
import warnings

import numpy as np
from _prebuilt import metrics_table, plugin_dir, seed_everything, write_package

PACKAGE = plugin_dir("zoo-sunspots-forecaster") / "zoo_sunspots_forecaster"
from zoo_sunspots_forecaster import data  # noqa: E402  (from the source tree, installed or not)

ARCH = "gru_forecaster"
# masking=False: a year with zero sunspots is data, not padding.
ARCH_KWARGS = {"units": [32], "projection": 32, "masking": False}
BATCH, LR, MAX_EPOCHS, PATIENCE = 16, 1e-3, 400, 40


def arima_baseline(values, n_train, targets) -> dict:
    """ARIMA(p, 0, q), p in 1..9, q in 0..2, chosen by AIC on the training years."""
    from statsmodels.tsa.arima.model import ARIMA

    best = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for p in range(1, 10):
            for q in range(3):
                aic = ARIMA(values[:n_train], order=(p, 0, q)).fit().aic
                if best is None or aic < best[0]:
                    best = (aic, [p, 0, q])
    order = best[1]
    return {"order": order, "aic": float(best[0]),
            "forecast": data.arima_forecast(values, n_train, order, targets)}


def new_model(zoo, keras):
    model = zoo.create_model(ARCH, input_shape=(data.WINDOW, 1), num_classes=1, **ARCH_KWARGS)
    model.compile(keras.optimizers.Adam(LR), "mse")
    return model


def main():
    seed_everything()
    import keras

    import zoo

    years, values = data.load_series()
    idx = data.split_index(years)
    scaler = data.Scaler.fit(values[years < data.VAL_START])
    z = scaler.transform(values)
    xy = {part: (data.windows(z, idx[part]), z[idx[part]].astype("float32")) for part in idx}

    # 1. Fit on the years before 1910, early-stopped on 1910-1949: picks the epoch count.
    model = new_model(zoo, keras)
    stop = keras.callbacks.EarlyStopping(patience=PATIENCE, restore_best_weights=True)
    start = time.time()
    history = model.fit(*xy["fit"], batch_size=BATCH, epochs=MAX_EPOCHS, validation_data=xy["val"],
                        callbacks=[stop], verbose=0)
    epochs = max(1, len(history.history["loss"]) - PATIENCE)
    val_rmse = data.rmse(data.forecast(model, values, idx["val"], scaler), values[idx["val"]])
    # 2. Refit on every training year (before 1950) for that many epochs.
    seed_everything()
    model = new_model(zoo, keras)
    model.fit(*xy["train"], batch_size=BATCH, epochs=epochs, verbose=0)
    seconds = time.time() - start

    test, truth = idx["test"], values[idx["test"]]
    n_train = int(np.sum(years < data.TEST_START))
    test_rmse = data.rmse(data.forecast(model, values, test, scaler), truth)
    naive_rmse = data.rmse(data.seasonal_naive(values, test), truth)
    arima = arima_baseline(values, n_train, test)
    arima_rmse = data.rmse(arima["forecast"], truth)
    print(f"sunspots_forecaster: val RMSE {val_rmse:.2f}, test RMSE {test_rmse:.2f}; seasonal naive "
          f"{naive_rmse:.2f}; ARIMA{tuple(arima['order'])} {arima_rmse:.2f}")

    meta = {
        "arch": ARCH, "arch_kwargs": ARCH_KWARGS, "input_shape": [data.WINDOW, 1],
        "weights_file": "sunspots_forecaster.weights.h5",
        "dataset": "statsmodels sunspots (yearly, 1700-2008); trained on 1700-1949, held out 1950-2008",
        "preprocessing": scaler.to_preprocessing(),
        "split": {"train": "1700-1949", "fit": f"1700-{data.VAL_START - 1}",
                  "val": f"{data.VAL_START}-{data.TEST_START - 1}", "test": f"{data.TEST_START}-2008",
                  "n_test": len(test)},
        "metrics": {"test_rmse": test_rmse, "val_rmse": val_rmse, "seasonal_naive_test_rmse": naive_rmse,
                    "arima_test_rmse": arima_rmse},
        "baseline": {"arima_order": arima["order"], "arima_aic": arima["aic"],
                     "seasonal_period": data.PERIOD},
        "training": {"epochs": epochs, "batch_size": BATCH, "learning_rate": LR, "optimizer": "adam",
                     "loss": "mse", "patience": PATIENCE, "seconds": round(seconds, 1), "seed": 0},
    }
    write_package(PACKAGE, model, meta, CARD.replace("{table}", metrics_table([
        ("sunspots_forecaster (this model)", "RMSE", f"{test_rmse:.2f}"),
        (f"ARIMA{tuple(arima['order'])} (statsmodels, order by AIC)", "RMSE", f"{arima_rmse:.2f}"),
        (f"seasonal naive, y[t-{data.PERIOD}]", "RMSE", f"{naive_rmse:.2f}"),
    ])).replace("{arima_order}", str(tuple(arima["order"]))))


CARD = """# zoo-sunspots-forecaster: `sunspots_forecaster`

A GRU forecaster (keras-zoo's `gru_forecaster` architecture with `{arch_kwargs_text}`) that
predicts next year's mean sunspot number from the last {input_shape[0]} years.

```python
import zoo
from zoo_sunspots_forecaster import data

model = zoo.create_model("sunspots_forecaster", pretrained=True)  # weights checked against their sha256
scaler = data.Scaler.from_preprocessing(zoo.get_model_spec("sunspots_forecaster").weights[0].preprocessing)
years, values = data.load_series()
print(data.forecast(model, values, [len(values)], scaler))  # the year after the series ends
```

## Data set and split

- **Data set**: `statsmodels.api.datasets.sunspots`, yearly mean sunspot numbers 1700-2008
  (309 values), bundled with statsmodels (no download). Public domain.
- **Split by time** (`zoo_sunspots_forecaster/data.py`, shared by the training script and the
  tests): training years {split[train]}, held out {split[test]} ({split[n_test]} forecasts).
  Inside the training part, model selection fits on {split[fit]} and validates on {split[val]};
  the model is then refitted on all training years for the selected number of epochs.
- **Protocol**: one-step-ahead forecasts; each held-out year is predicted from the true values
  before it, without refitting.
- **Preprocessing**: `z = (sqrt(y) - {preprocessing[sqrt_mean]:.4f}) / {preprocessing[sqrt_std]:.4f}` (mean
  and std of sqrt(y) over {split[fit]}); the model's output is mapped back the same way
  (`data.Scaler`). The weights' `preprocessing` records this under its own keys
  (`sqrt_mean`, `sqrt_std`), so `zoo predict` does not apply half of it: prepare the inputs
  with `data.Scaler` or `data.forecast`.

## Held-out metrics ({split[n_test]} one-step forecasts, 1950-2008, in sunspot numbers)

{table}

Validation RMSE ({split[val]}): {metrics[val_rmse]:.2f}. The baselines are computed by the
training script on the same split: seasonal naive repeats the value one solar cycle (11 years)
earlier; the ARIMA order {arima_order} was chosen by AIC over p in 1..9, q in 0..2 on the
training years, fitted there, and run over the held-out years with those parameters.

## Training

`python scripts/train_sunspots_forecaster.py` (seed 0; {training[seconds]} s of training here).
Adam at {training[learning_rate]}, batch {training[batch_size]}, MSE loss on the transformed
scale; early stopping on the validation years (patience {training[patience]}) picked
{training[epochs]} epochs for the final fit. The window length, cell and width were chosen on
the validation years. Environment: {environment_text}.

Weights: `zoo_sunspots_forecaster/{weights_file}`, sha256 `{sha256}` (also in `_meta.json`,
checked on every load). Re-running the script on another machine may give slightly different
weights; the tests check the shipped weights against the recorded metrics.

## License

Code and weights: Apache-2.0. The sunspots series ships with statsmodels and is in the public
domain (source: the US National Geophysical Data Center, NOAA, as statsmodels records it).
"""

if __name__ == "__main__":
    main()
