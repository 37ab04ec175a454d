"""digits_autoencoder: a keras-zoo plugin with a convolutional autoencoder trained
on scikit-learn's 8x8 digits.

    import zoo
    model = zoo.create_model("digits_autoencoder", pretrained=True)
    encoder = model.get_layer("encoder")     # 8x8x1 -> 2x2x4 (16 numbers)

The spec reads ``_meta.json``, which ``scripts/train_digits_autoencoder.py``
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
        tag="sklearn",
        file=f"{__name__}:{meta['weights_file']}",
        sha256=meta["sha256"],
        dataset=meta["dataset"],
        metrics=meta["metrics"],
        preprocessing=meta["preprocessing"],
    )
    return [
        ModelSpec(
            name="digits_autoencoder",
            family="autoencoder",
            task="reconstruction",
            builder="zoo.create:build_architecture",
            default_input_shape=tuple(meta["input_shape"]),
            capabilities=frozenset({"features_only", "exportable"}),
            description=f"{meta['arch']} for 8x8 handwritten digits (scikit-learn load_digits), "
            f"latent size {meta['latent_size']}; held-out reconstruction MSE "
            f"{meta['metrics']['test_mse']:.4f} (PCA, same size: {meta['metrics']['pca_test_mse']:.4f}). "
            "model.get_layer('encoder') is the encoder. See MODEL_CARD.md.",
            license="Apache-2.0",
            default_kwargs={"arch": meta["arch"], **meta["arch_kwargs"]},
            weights=(weights,),
            head=None,
        )
    ]


SPECS = _specs(load_meta())
