"""Presets: a model saved as a directory of config, weights and metadata.

A preset directory holds

* ``config.json``: the Keras model config (``keras.saving.serialize_keras_object``),
* ``model.weights.h5``: its weights,
* ``metadata.json``: what keras-zoo knows about it: task, labels, metrics, data set,
  preprocessing, the registry architecture it came from (if any) and the sha256 of
  both files, checked on every load.

``zoo.create_model("path/to/preset")`` loads one; ``zoo package`` turns one into a
pip-installable plugin. The config is deserialised with Keras' safe mode; nothing
is unpickled. Reading metadata is pure Python (no TensorFlow).
"""

from __future__ import annotations

import datetime
import json
import os
import re
from importlib import resources
from pathlib import Path

from zoo.errors import PresetError
from zoo.weights import parse_resource, sha256_file, verify

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
    from zoo._create import model_origin

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


def load_preset(ref, *, num_classes: int | None = None, input_shape=None, verify_files: bool = True, **overrides):
    """Load a preset directory as a Keras model.

    With a different ``num_classes`` or ``input_shape`` the model is rebuilt from the
    registry architecture recorded in the preset (the head newly initialised when
    the class count changes); a preset of a model built outside the registry can
    only be loaded as saved.
    """
    metadata = read_metadata(ref)
    directory = Path(metadata["path"])
    files = metadata["files"]
    if verify_files:
        for key in ("config", "weights"):
            verify(directory / files[key]["file"], files[key]["sha256"], what=f"preset {key} file")
    saved_shape, saved_classes = _saved_shape(metadata), metadata.get("num_classes")
    wanted_shape = tuple(input_shape) if input_shape is not None else saved_shape
    wanted_classes = num_classes if num_classes is not None else saved_classes
    weights_path = directory / files["weights"]["file"]
    from zoo._create import load_weights, record_origin

    arch = metadata.get("arch")
    head = (arch or {}).get("head", metadata.get("head", "head"))
    if (wanted_shape, wanted_classes) == (saved_shape, saved_classes) and not overrides:
        model = _from_config(metadata)
        model.load_weights(weights_path)
    else:
        model = _build_arch(metadata, wanted_shape, wanted_classes, overrides)
        load_weights(model, weights_path, num_classes=wanted_classes, source_classes=saved_classes, head=head,
                     build=lambda classes: _build_arch(metadata, wanted_shape, classes, overrides),
                     label=f"preset {directory}")
    same_head = wanted_classes == saved_classes
    record_origin(
        model,
        arch=arch["name"] if arch else None,
        kwargs={**(arch or {}).get("kwargs", {}), **overrides},
        num_classes=wanted_classes,
        family=metadata.get("family"),
        task=metadata.get("task"),
        head=head,
        weights={k: metadata.get(k) for k in ("labels", "dataset")} if same_head else None,
        preprocessing=metadata.get("preprocessing") or {},
    )
    return model


def _saved_shape(metadata: dict):
    return tuple(metadata["input_shape"]) if metadata.get("input_shape") is not None else None


def _arch_spec(metadata: dict):
    """The registry spec the preset was made from, or None; importing its builder
    also registers the custom layers the config may need."""
    arch = metadata.get("arch")
    if arch is None:
        return None
    from zoo._registry import default_registry

    spec = default_registry().resolve(arch["name"])[0]
    spec.resolve_builder()
    return spec


def _build_arch(metadata: dict, input_shape, num_classes, overrides: dict):
    """A fresh model of the preset's registry architecture with other shapes or arguments."""
    spec = _arch_spec(metadata)
    if spec is None:
        raise PresetError(
            f"preset {metadata['name']!r} ({metadata['path']}) was saved from a model built outside the "
            f"registry, so it can only be created as saved (input_shape={_saved_shape(metadata)}, "
            f"num_classes={metadata.get('num_classes')}, no builder arguments); save it from a model made "
            "by zoo.create_model to rebuild it otherwise"
        )
    kwargs = {**spec.default_kwargs, **metadata["arch"]["kwargs"], **overrides}
    return spec.resolve_builder()(input_shape=tuple(input_shape), num_classes=num_classes, **kwargs)


def _from_config(metadata: dict):
    import keras

    import zoo.layers._registration  # noqa: F401  (zoo layers named in the config)

    _arch_spec(metadata)
    config_path = Path(metadata["path"]) / metadata["files"]["config"]["file"]
    try:
        config = json.loads(config_path.read_text())
        return keras.saving.deserialize_keras_object(config, safe_mode=True)
    except (TypeError, ValueError) as exc:
        raise PresetError(
            f"{config_path} could not be rebuilt ({exc}). If it uses custom layers, import the module "
            "that registers them (keras.saving.register_keras_serializable) first."
        ) from exc


def read_package_meta(package: str, name: str = "_meta.json") -> dict | None:
    """The JSON record a model package keeps beside its weights (what its
    training script wrote: architecture, sha256, metrics), or None while the
    package has none yet. Pure Python, so a plugin's ``SPECS`` can be built
    from it at import time without TensorFlow."""
    record = resources.files(package).joinpath(name)
    return json.loads(record.read_text()) if record.is_file() else None


def build_architecture(*, input_shape, num_classes, arch, **kwargs):
    """Builder for model packages whose weights fit a registered architecture:
    ``create_model(arch, ...)`` untrained, the spec's ``default_kwargs`` naming
    ``arch`` and its fixed arguments; ``create_model`` then loads the package's
    weights (checking their sha256). zoo's layers are registered with Keras on
    the way, so a preset saved from such a model loads in a fresh process."""
    import zoo
    import zoo.layers  # noqa: F401  (registers the layers for deserialisation)

    return zoo.create_model(arch, input_shape=input_shape, num_classes=num_classes, **kwargs)


def build_from_preset(*, input_shape, num_classes, preset, **overrides):
    """Builder for models packaged by ``zoo package``: the preset's architecture, untrained.

    ``create_model`` then loads the packaged weights into it (checking their sha256).
    """
    metadata = read_metadata(preset)
    same = tuple(input_shape) == _saved_shape(metadata) and num_classes == metadata.get("num_classes")
    if same and not overrides:
        return _from_config(metadata)
    return _build_arch(metadata, input_shape, num_classes, overrides)
