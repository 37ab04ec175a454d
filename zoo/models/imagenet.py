"""ImageNet models: the keras.applications architectures with the weights Keras publishes.

Spec-only and pure Python (reads two JSON files, never imports keras): listing
these models costs no TensorFlow. The facts come from Keras' own source, written
as data by ``scripts/keras_applications_data.py`` into ``imagenet_data/``:
storage URLs and digests of each top and no-top file, default and minimum input
sizes, preprocessing mode; the top-1/top-5 figures are those Keras documents.
The 1000 class names ship as ``imagenet_data/imagenet_classes.json``.

Names are ``keras_<arch>`` with an ``imagenet`` tag: the zoo's own ``resnet50``
and ``mobilenet_v2`` are different networks (ResNet v1.5 with bias-free
convolutions, "same"-padded MobileNetV2 with its own BatchNorm epsilon), so
Keras' weights would not give Keras' outputs in them; the Keras builder is
registered instead. ``resnet50.imagenet`` is an alias of
``keras_resnet50.imagenet``. MobileNet and MobileNetV2 are registered without
weights: Keras downloads theirs with no digest at all, and the zoo serves no
file it cannot check.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources

from zoo.registry import ModelSpec, WeightsFile, WeightsSpec

_DATA = "imagenet_data"
_BUILDER = "zoo.models._imagenet_build:keras_application"
HEAD = "predictions"

# What each Keras preprocessing mode does to RGB inputs in [0, 255], in the keys
# `zoo predict` applies (reverse the channels, then x * rescale, - mean, / std);
# the same arithmetic as keras.applications.imagenet_utils.preprocess_input.
PREPROCESSING = {
    "caffe": {"channel_order": "bgr", "mean": [103.939, 116.779, 123.68]},
    "tf": {"rescale": 1 / 127.5, "mean": [1.0, 1.0, 1.0]},
    "torch": {"rescale": 1 / 255.0, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]},
    "none": {},  # the model normalises inside its graph (EfficientNet, ConvNeXt, MobileNetV3)
}

# Aliases for the architectures the zoo also implements itself; see the docstring.
ALIASES = {"resnet50": ("resnet50.imagenet",)}


def _read(name: str):
    return json.loads(resources.files(__package__).joinpath(_DATA, name).read_text())


@lru_cache(maxsize=1)
def imagenet_classes() -> tuple[tuple[str, str], ...]:
    """The 1000 ImageNet-1k classes as (WordNet id, name), in the index order of Keras' heads."""
    return tuple((wnid, name) for wnid, name in _read("imagenet_classes.json"))


def applications() -> list[dict]:
    """The rows of ``imagenet_data/keras_applications.json``."""
    return _read("keras_applications.json")["applications"]


def _file(entry: dict) -> dict:
    return {"url": entry["url"], "sha256": entry.get("sha256"), "md5": entry.get("md5")}


def _weights(app: dict, labels: tuple[str, ...]) -> tuple[WeightsSpec, ...]:
    top, notop = app["top"], app["notop"]
    if not (top.get("sha256") or top.get("md5")) or not (notop.get("sha256") or notop.get("md5")):
        return ()  # published without a digest: not served (module docstring)
    preprocessing = {"mode": app["preprocessing"], **PREPROCESSING[app["preprocessing"]],
                     "input_size": [app["input_size"], app["input_size"]]}
    return (WeightsSpec(
        tag="imagenet",
        **_file(top),
        dataset="ImageNet-1k (ILSVRC 2012)",
        metrics=app["metrics"],
        labels=labels,
        preprocessing=preprocessing,
        backbone=WeightsFile(**_file(notop)),
    ),)


def _spec(app: dict, labels: tuple[str, ...]) -> ModelSpec:
    size = app["input_size"]
    weights = _weights(app, labels)
    note = ("" if weights else " Keras publishes its ImageNet weights without a digest, so the zoo does not "
            "serve them; pass weights='path/to/file.h5' to load a copy you trust.")
    return ModelSpec(
        name=f"keras_{app['name']}",
        family="cnn",
        task="image-classification",
        builder=_BUILDER,
        default_input_shape=(size, size, 3),
        default_num_classes=1000,
        capabilities=frozenset({"features_only", "variable_input_size", "exportable"}),
        description=(
            f"keras.applications.{app['keras_name']} ({app['module']}), built by Keras. "
            f"Inputs: RGB in [0, 255], {size}x{size} by default (at least {app['min_input_size']}), "
            f"preprocessing mode '{app['preprocessing']}'. With num_classes other than 1000 (or "
            "include_top=False, features_only=True) the head-less ImageNet file is loaded and a new "
            "global-average-pooled 'predictions' layer is added." + note
        ),
        paper=app["paper"],
        license="Apache-2.0 (Keras code; weights as published by the Keras team)",
        weights=weights,
        default_kwargs={"application": app["keras_name"], "min_input_size": app["min_input_size"]},
        head=HEAD,
        aliases=ALIASES.get(app["name"], ()) if weights else (),
    )


def _specs() -> list[ModelSpec]:
    labels = tuple(name for _, name in imagenet_classes())
    return [_spec(app, labels) for app in applications()]


SPECS = _specs()
