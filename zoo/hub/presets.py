"""Presets: a model saved as a directory of config, weights and metadata.

A preset directory holds

* ``config.json``: the Keras model config (``keras.saving.serialize_keras_object``),
* ``model.weights.h5``: its weights,
* ``metadata.json``: what keras-zoo knows about it: task, labels, metrics, data set,
  preprocessing, the registry architecture it came from (if any) and the sha256 of
  both files, checked on every load.

This module writes presets and reads their metadata (pure Python, no
TensorFlow); ``zoo.create`` turns one back into a model
(``zoo.create_model("path/to/preset")``, config deserialised with Keras' safe
mode, nothing unpickled) and ``zoo.hub.packaging`` makes one a pip-installable
plugin.
"""

from __future__ import annotations

import datetime
import json
import os
import re
from importlib import resources
from pathlib import Path

from zoo.errors import PresetError
from zoo.hub.weights import parse_resource, sha256_file

PRESET_FORMAT = 1
METADATA_FILE = "metadata.json"
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.weights.h5"


def preset_path(ref: str | os.PathLike) -> Path:
    """A preset directory from a path or a package resource ``"package:relative/dir"``."""
    text = os.fspath(ref)
    resource = parse_resource(text)
    if resource and not Path(text).exists():
        package, rel = resource
        root = resources.files(package).joinpath(*rel.split("/"))
        if not isinstance(root, Path):
            raise PresetError(f"preset {text} is inside a zip archive; install its package unzipped")
        return root
    return Path(text).expanduser()


def is_preset(ref) -> bool:
    """True when ``ref`` is a directory holding a keras-zoo ``metadata.json``."""
    if not isinstance(ref, (str, os.PathLike)):
        return False
    try:
        return (Path(os.fspath(ref)).expanduser() / METADATA_FILE).is_file()
    except OSError:
        return False


def read_metadata(ref) -> dict:
    """The preset's metadata (pure Python: no TensorFlow)."""
    directory = preset_path(ref)
    meta_path = directory / METADATA_FILE
    if not meta_path.is_file():
        raise PresetError(f"{directory} is not a keras-zoo preset: it has no {METADATA_FILE}")
    try:
        metadata = json.loads(meta_path.read_text())
    except json.JSONDecodeError as exc:
        raise PresetError(f"{meta_path} is not valid JSON: {exc}") from exc
    if metadata.get("zoo_preset") != PRESET_FORMAT:
        raise PresetError(
            f"{meta_path} has preset format {metadata.get('zoo_preset')!r}; this keras-zoo reads "
            f"format {PRESET_FORMAT}. Upgrade keras-zoo or re-save the preset."
        )
    metadata["path"] = str(directory)
    return metadata


def save_preset(
    model,
    directory,
    *,
    name: str | None = None,
    family: str | None = None,
    task: str | None = None,
    description: str = "",
    license: str = "",
    labels=None,
    metrics=None,
    dataset: str = "",
    preprocessing=None,
    overwrite: bool = False,
) -> Path:
    """Write ``model`` as a preset directory and return its path.

    Fields left out are taken from how :func:`zoo.create_model` built the model
    (architecture, task, labels and preprocessing of its weights) when it did.

    Args:
        model: a Keras model.
        directory: where to write; must be empty or absent unless ``overwrite``.
        name: model name used when the preset is packaged (default: the directory name).
        labels: class names in output order.
        metrics: evaluation results, e.g. ``{"accuracy": 0.93}``.
        dataset: what it was trained on.
        preprocessing: how inputs are prepared (see README, "Weights and caching").
    """
    import keras

    from zoo import __version__
    from zoo.hub.provenance import model_origin

    directory = Path(directory).expanduser()
    if directory.exists() and any(directory.iterdir()) and not overwrite:
        raise PresetError(f"{directory} is not empty; pass overwrite=True or choose another directory")
    directory.mkdir(parents=True, exist_ok=True)

    origin = model_origin(model) or {}
    trained = origin.get("weights") or {}
    input_shape = [None if d is None else int(d) for d in model.input_shape[1:]] if _single_input(model) else None
    num_classes = origin.get("num_classes")
    labels = list(labels) if labels is not None else list(trained.get("labels") or [])
    if labels and num_classes is not None and len(labels) != num_classes:
        raise PresetError(f"{len(labels)} labels were given for a model with {num_classes} classes")
    if num_classes is None and labels:
        num_classes = len(labels)
    if num_classes is None and "classification" in (task or origin.get("task") or ""):
        num_classes = int(model.output_shape[-1])

    config = keras.saving.serialize_keras_object(model)
    config_path = directory / CONFIG_FILE
    config_path.write_text(json.dumps(config, indent=2, default=_json_default))
    weights_path = directory / WEIGHTS_FILE
    model.save_weights(weights_path)

    arch = None
    if origin.get("arch"):
        arch = {"name": origin["arch"], "kwargs": origin["kwargs"], "head": origin["head"]}
    metadata = {
        "zoo_preset": PRESET_FORMAT,
        "name": name or _default_name(directory),
        "family": family or origin.get("family") or "custom",
        "task": task or origin.get("task") or "custom",
        "description": description,
        "license": license,
        "input_shape": input_shape,
        "num_classes": num_classes,
        "labels": labels,
        "metrics": dict(metrics or {}),
        "dataset": dataset or trained.get("dataset", ""),
        "preprocessing": dict(preprocessing if preprocessing is not None else origin.get("preprocessing") or {}),
        "arch": arch,
        "head": origin.get("head", "head"),
        "files": {
            "config": {"file": CONFIG_FILE, "sha256": sha256_file(config_path)},
            "weights": {"file": WEIGHTS_FILE, "sha256": sha256_file(weights_path)},
        },
        "keras_version": keras.__version__,
        "zoo_version": __version__,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    (directory / METADATA_FILE).write_text(json.dumps(metadata, indent=2, default=_json_default) + "\n")
    return directory


def _single_input(model) -> bool:
    return len(model.inputs) == 1 if getattr(model, "inputs", None) else False


def _default_name(directory: Path) -> str:
    return re.sub(r"[^A-Za-z0-9_\-]+", "-", directory.resolve().name).strip("-") or "preset"


def _json_default(value):
    # numpy scalars and tuples that Keras configs and metrics may contain
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def read_package_meta(package: str, name: str = "_meta.json") -> dict | None:
    """The JSON record a model package keeps beside its weights (what its
    training script wrote: architecture, sha256, metrics), or None while the
    package has none yet. Pure Python, so a plugin's ``SPECS`` can be built
    from it at import time without TensorFlow."""
    record = resources.files(package).joinpath(name)
    return json.loads(record.read_text()) if record.is_file() else None
