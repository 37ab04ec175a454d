"""digits_cnn: a keras-zoo plugin with a CNN trained on scikit-learn's 8x8 digits.

    import zoo
    model = zoo.create_model("digits_cnn", pretrained=True)

The spec reads ``_meta.json``, which ``scripts/train_digits_cnn.py`` writes beside
the weights (architecture, sha256, metrics); importing this module is pure Python.
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
        labels=tuple(meta["labels"]),
        preprocessing=meta["preprocessing"],
    )
    return [
        ModelSpec(
            name="digits_cnn",
            family="cnn",
            task="image-classification",
            builder="zoo.create:build_architecture",
            default_input_shape=tuple(meta["input_shape"]),
            default_num_classes=len(meta["labels"]),
            capabilities=frozenset({"features_only", "exportable"}),
            description=f"{meta['arch']} CNN for 8x8 handwritten digits (scikit-learn load_digits); "
            f"held-out accuracy {meta['metrics']['test_accuracy']:.4f}. See MODEL_CARD.md.",
            paper="LeCun et al., Gradient-based learning applied to document recognition (1998)",
            license="Apache-2.0",
            default_kwargs={"arch": meta["arch"], **meta["arch_kwargs"]},
            weights=(weights,),
        )
    ]


SPECS = _specs(load_meta())
