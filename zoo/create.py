"""The factory: the one place that turns a registry name or a preset into a Keras model.

Uses the registry (name -> spec -> builder) and the hub (verified weights files,
preset metadata); nothing below imports it. Importing it is pure Python: keras
is first imported when a model is built, so ``zoo info`` stays instant.
When the requested ``num_classes`` differs from the pretrained head, the model is
built as asked, a second model is built with the weights' head and loaded, and
every layer but the head is copied across by position (Keras auto-names layers
per process, so names differ between two builds of the same architecture; the
order does not). The head is found by its name, ``spec.head``.
Weights that come with a head-less file (``WeightsSpec.backbone``, Keras'
``*_notop.h5``) skip that second build: when the pretrained head is not kept
(another ``num_classes``, ``include_top=False``, ``features_only=True``) the
verified head-less file goes to the builder as ``backbone_weights``, which loads
it before adding the new head.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from zoo.errors import PresetError, UnknownModelError, WeightsError
from zoo.hub import weights as weights_lib
from zoo.hub.presets import is_preset, read_metadata
from zoo.hub.provenance import record_origin
from zoo.hub.weights import verify
from zoo.registry import ModelSpec, WeightsSpec, default_registry
from zoo.registry import model_info as registry_model_info

logger = logging.getLogger("zoo")

def model_info(name: str) -> dict:
    """A JSON-ready description of ``"arch"``, ``"arch.tag"``, or a preset directory.
    Pure Python (no TensorFlow)."""
    if is_preset(name):
        return read_metadata(name)
    return registry_model_info(name)


def create_model(
    name: str,
    pretrained=False,
    *,
    num_classes: int | None = None,
    input_shape=None,
    weights=None,
    progress: bool = True,
    **overrides,
):
    """Build a registered model (or load a preset directory) as a ``keras.Model``.

    Args:
        name: ``"arch"``, ``"arch.tag"``, or the path of a directory written by
            :func:`zoo.save_preset`.
        pretrained: False (random init), True (the tag in ``name`` or the default
            weights), a tag, a local file, or an http(s)/file URL (optionally with
            ``#sha256=<hex>``).
        num_classes: size of the head; when it differs from the pretrained head the
            head is newly initialised and every other layer loaded.
        input_shape: input shape without the batch axis (default: the spec's).
        weights: a local weights file (same as ``pretrained=path``).
        progress: show download progress.
        **overrides: builder arguments, over the spec's ``default_kwargs``.
    """
    if is_preset(name):
        if pretrained not in (False, True) or weights is not None:
            raise ValueError("a preset carries its own weights: do not pass pretrained= or weights= with it")
        return load_preset(name, num_classes=num_classes, input_shape=input_shape, **overrides)

    spec, tag = default_registry().resolve(name)
    source = _weights_source(spec, tag, pretrained, weights)
    trained = source if isinstance(source, WeightsSpec) else (spec.get_weights(tag) if tag else None)
    source_classes = trained.num_classes if trained is not None else None
    if num_classes is None:
        num_classes = source_classes if source_classes is not None else spec.default_num_classes
    input_shape = tuple(input_shape) if input_shape is not None else spec.default_input_shape
    kwargs = {**spec.default_kwargs, **overrides}

    def build(classes, **extra):
        return spec.resolve_builder()(input_shape=input_shape, num_classes=classes, **kwargs, **extra)

    use_backbone = _needs_backbone(source, num_classes, source_classes, kwargs)
    if use_backbone:
        path = weights_lib.resolve(source, progress=progress, backbone=True)
        model = build(num_classes, backbone_weights=path)
        if num_classes != source_classes and kwargs.get("include_top", True) and not kwargs.get("features_only"):
            logger.warning(
                "%s.%s: num_classes=%d differs from the pretrained head's %d; layer %r is newly initialised, "
                "the rest loaded from the head-less file %s. Train the head before using its outputs.",
                spec.name, source.tag, num_classes, source_classes, spec.head, path,
            )
    else:
        model = build(num_classes)
    if source is not None and not use_backbone:
        path = weights_lib.resolve(source, progress=progress)
        label = f"{spec.name}.{source.tag}" if isinstance(source, WeightsSpec) else str(source)
        load_weights(model, path, build=build, num_classes=num_classes, source_classes=source_classes,
                     head=spec.head, label=label)
    record_origin(
        model,
        arch=spec.name,
        kwargs=dict(overrides),
        num_classes=num_classes,
        family=spec.family,
        task=spec.task,
        head=spec.head,
        weights=(trained.to_dict() if trained is not None and num_classes == source_classes and not use_backbone
                 else None),
        # inputs are prepared as for the pretrained weights even when the head was replaced
        preprocessing=dict(trained.preprocessing) if trained is not None else {},
    )
    return model


def _needs_backbone(source, num_classes, source_classes, kwargs) -> bool:
    """Whether the head-less file is the one to load: the weights have one and the
    model does not keep the pretrained head."""
    if not isinstance(source, WeightsSpec) or source.backbone is None:
        return False
    return (num_classes != source_classes or not kwargs.get("include_top", True)
            or bool(kwargs.get("features_only")))


def _weights_source(spec: ModelSpec, tag: str | None, pretrained, weights):
    """What to load: a WeightsSpec, a path/URL string, or None."""
    if weights is not None:
        if pretrained not in (False, None):
            raise ValueError("pass either pretrained= or weights=, not both")
        return os.fspath(weights)
    if pretrained is None or pretrained is False:
        return None
    if pretrained is True:
        if not spec.weights:
            raise UnknownModelError(
                f"model {spec.name!r} has no pretrained weights; create it with pretrained=False "
                "or pass weights='path/to/file.weights.h5'"
            )
        return spec.get_weights(tag)
    text = os.fspath(pretrained)
    if text in spec.tags:
        return spec.get_weights(text)
    if weights_lib.is_url(text) or Path(text).expanduser().is_file():
        return text
    raise UnknownModelError(
        f"pretrained={text!r} is neither a weights tag of {spec.name!r} "
        f"({', '.join(spec.tags) or 'it has none'}), an existing file, nor an http(s)/file URL"
    )


def load_weights(model, path, *, build, num_classes, source_classes, head: str, label: str) -> None:
    """Load ``path`` into ``model``, re-initialising the head when the class counts differ.

    ``build(classes)`` makes another model of the same architecture; it is used to
    hold the pretrained head while the other layers are copied across.
    """
    import keras

    path = Path(path)
    weights_lib.check_suffix(path)
    rehead = source_classes is not None and num_classes != source_classes
    if path.name.lower().endswith(".keras"):
        import zoo.models._serializables  # noqa: F401  (zoo layers in the file)

        source = load_keras_file(path, label)
        transfer_weights(source, model, skip=head if rehead else None)
    elif rehead:
        source = build(source_classes)
        _load_weights_file(source, path, label)
        transfer_weights(source, model, skip=head)
    else:
        _load_weights_file(model, path, label)
    if rehead:
        logger.warning(
            "%s: the pretrained head has %d classes but num_classes=%d was asked for; layer %r is newly "
            "initialised, every other layer is loaded from %s. Train the head before using its outputs.",
            label, source_classes, num_classes, head, path,
        )


def load_keras_file(path, label: str):
    """A ``.keras`` archive as a model, in Keras' safe mode: a Lambda layer (whose
    code would be unmarshalled) or a class that is not registered is refused
    before anything from the file runs, as is a file that is not a whole archive."""
    import zipfile

    import keras

    try:
        return keras.saving.load_model(path, compile=False, safe_mode=True)
    except (ValueError, TypeError, KeyError, OSError, zipfile.BadZipFile) as exc:
        raise WeightsError(
            f"{label}: {path} was refused: {exc}. Only .keras files of registered layers load "
            "(safe mode: no Lambda layers, no code from the file); a damaged file must be fetched again."
        ) from exc


def _load_weights_file(model, path: Path, label: str) -> None:
    try:
        model.load_weights(path)
    except (ValueError, KeyError) as exc:
        raise WeightsError(
            f"{label}: {path} does not fit this model ({exc}). It was probably saved from another "
            "architecture or configuration; check num_classes, input_shape and builder arguments."
        ) from exc
    except OSError as exc:  # h5py: truncated or not an HDF5 file at all
        raise WeightsError(f"{label}: {path} is not a readable weights file ({exc}); fetch it again") from exc


def transfer_weights(source, target, *, skip: str | None = None) -> None:
    """Copy layer weights from ``source`` to ``target``, pairing layers by position.

    ``skip`` names a layer (the head) that must exist in both and is left as
    initialised in ``target``.
    """
    src_layers, dst_layers = source.layers, target.layers
    if skip is not None and skip not in {layer.name for layer in dst_layers}:
        raise WeightsError(
            f"cannot replace the head: the model has no top-level layer named {skip!r}. The builder "
            "must name its classifier layer as the spec's `head` field says."
        )
    if len(src_layers) != len(dst_layers):
        raise WeightsError(
            f"the pretrained model has {len(src_layers)} layers but the new one has {len(dst_layers)}: "
            "builder arguments other than num_classes must match those the weights were trained with"
        )
    for src, dst in zip(src_layers, dst_layers):
        if type(src) is not type(dst):
            raise WeightsError(
                f"layer {dst.name!r} is a {type(dst).__name__} but the pretrained model has a "
                f"{type(src).__name__} there; the architectures differ"
            )
        if skip is not None and dst.name == skip:
            continue
        values = src.get_weights()
        shapes = [tuple(v.shape) for v in dst.weights]
        if [tuple(v.shape) for v in values] != shapes:
            raise WeightsError(
                f"layer {dst.name!r} has weights of shapes {shapes} but the pretrained layer has "
                f"{[tuple(v.shape) for v in values]}"
            )
        dst.set_weights(values)


# --------------------------------------------------------------------------- presets


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
    arch = metadata.get("arch")
    head = (arch or {}).get("head", metadata.get("head", "head"))
    if (wanted_shape, wanted_classes) == (saved_shape, saved_classes) and not overrides:
        model = _from_config(metadata)
        _load_weights_file(model, weights_path, f"preset {directory}")
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

    import zoo.models._serializables  # noqa: F401  (zoo layers named in the config)

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


def build_architecture(*, input_shape, num_classes, arch, **kwargs):
    """Builder for model packages whose weights fit a registered architecture:
    ``create_model(arch, ...)`` untrained, the spec's ``default_kwargs`` naming
    ``arch`` and its fixed arguments; ``create_model`` then loads the package's
    weights (checking their sha256). zoo's layers are registered with Keras on
    the way, so a preset saved from such a model loads in a fresh process."""
    import zoo.models._serializables  # noqa: F401  (registers the layers for deserialisation)

    return create_model(arch, input_shape=input_shape, num_classes=num_classes, **kwargs)


def build_from_preset(*, input_shape, num_classes, preset, **overrides):
    """Builder for models packaged by ``zoo package``: the preset's architecture, untrained.

    ``create_model`` then loads the packaged weights into it (checking their sha256).
    """
    metadata = read_metadata(preset)
    same = tuple(input_shape) == _saved_shape(metadata) and num_classes == metadata.get("num_classes")
    if same and not overrides:
        return _from_config(metadata)
    return _build_arch(metadata, input_shape, num_classes, overrides)
