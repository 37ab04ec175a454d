"""sunspots_forecaster: a keras-zoo plugin with a GRU forecasting yearly sunspot
numbers one year ahead (statsmodels' sunspots series).

    import zoo
    from zoo_sunspots_forecaster import data

    model = zoo.create_model("sunspots_forecaster", pretrained=True)
    scaler = data.Scaler.from_preprocessing(zoo.get_model_spec("sunspots_forecaster").weights[0].preprocessing)
    years, values = data.load_series()
    next_year = data.forecast(model, values, [len(values)], scaler)   # needs the last 20 values

The spec reads ``_meta.json``, which ``scripts/train_sunspots_forecaster.py``
writes beside the weights; importing this module is pure Python.
"""

from __future__ import annotations

from zoo import ModelSpec, WeightsSpec
from zoo.hub.presets import read_package_meta


def load_meta() -> dict | None:
    """The training script's record, or None before the model has been trained."""
    return read_package_meta(__name__)


def _specs(meta: dict | None) -> list[ModelSpec]:
    if meta is None:
        return []
    weights = WeightsSpec(
        tag="statsmodels",
        file=f"{__name__}:{meta['weights_file']}",
        sha256=meta["sha256"],
        dataset=meta["dataset"],
        metrics=meta["metrics"],
        num_classes=1,
        preprocessing=meta["preprocessing"],
    )
    return [
        ModelSpec(
            name="sunspots_forecaster",
            family="rnn",
            task="forecasting",
            builder="zoo.create:build_architecture",
            default_input_shape=tuple(meta["input_shape"]),
            default_num_classes=1,
            capabilities=frozenset({"exportable"}),
            description=f"{meta['arch']}: yearly sunspot numbers one year ahead from the last "
            f"{meta['input_shape'][0]} years (statsmodels sunspots); held-out RMSE "
            f"{meta['metrics']['test_rmse']:.1f} (ARIMA {meta['metrics']['arima_test_rmse']:.1f}, "
            f"seasonal naive {meta['metrics']['seasonal_naive_test_rmse']:.1f}). See MODEL_CARD.md.",
            paper="Cho et al. (2014)",
            license="Apache-2.0",
            default_kwargs={"arch": meta["arch"], **meta["arch_kwargs"]},
            weights=(weights,),
        )
    ]


SPECS = _specs(load_meta())
