"""Builder for the ImageNet models (specs in zoo.models.imagenet): Keras' own
keras.applications builders, always with ``weights=None``; the zoo loads and
checks the weights files itself (zoo.create, zoo.hub.weights).

The architecture depends only on the arguments, never on whether weights are
loaded, so a model saved as a preset rebuilds the same way:

- ``num_classes=1000`` with ``include_top``: Keras' model with its ImageNet head
  (the layout of Keras' top weights file);
- any other ``num_classes``: Keras' head-less network, global average pooling,
  optional dropout and a new ``predictions`` Dense layer (``head``);
- ``include_top=False``: the head-less network, optionally pooled;
- ``features_only=True``: the last feature map at each resolution, as a list.
"""

from __future__ import annotations

import keras

from zoo.errors import WeightsError
from zoo.models._common import check_common, global_pool
from zoo.models.imagenet import HEAD

IMAGENET_CLASSES = 1000


def _application(name: str):
    fn = getattr(keras.applications, name, None)
    if fn is None:
        raise ValueError(f"keras.applications has no {name!r} (Keras {keras.__version__})")
    return fn


def _check_input(input_shape, min_input_size: int):
    shape = tuple(input_shape)
    if len(shape) != 3 or shape[-1] != 3:
        raise ValueError(f"input_shape must be (height, width, 3) RGB for an ImageNet model, got {shape}")
    for side in shape[:2]:
        if side is not None and side < min_input_size:
            raise ValueError(f"input_shape {shape} is too small: this architecture needs sides >= {min_input_size}")
    return shape


_SKIPPED = (keras.layers.InputLayer, keras.layers.ZeroPadding2D, keras.layers.GlobalAveragePooling2D,
            keras.layers.GlobalMaxPooling2D)


def _side(tensor):
    shape = getattr(tensor, "shape", None)
    return shape[1] if shape is not None and len(shape) == 4 else None


def stage_outputs(model) -> list:
    """The last layer output at each resolution the network downsamples to, largest
    first: the feature pyramid of any of these networks, found from the graph.

    A resolution counts when some layer downsamples to it (a strided convolution
    or pooling, at least 1.5x); padding layers (larger copies) and global pooling
    (squeeze-and-excitation branches, whose 1x1 maps are no stage) are skipped.
    """
    levels, last_at = set(), {}
    for layer in model.layers:
        if isinstance(layer, _SKIPPED):
            continue
        side = _side(layer.output)
        if side is None:
            continue
        inputs = layer.input if isinstance(layer.input, (list, tuple)) else [layer.input]
        # a stride (about halving), not the 2-pixel loss of an unpadded 3x3 convolution
        if any((_side(t) or 0) >= 1.5 * side for t in inputs):
            levels.add(side)
        last_at[side] = layer.output
    return [last_at[side] for side in sorted(levels, reverse=True)]


def keras_application(*, input_shape, num_classes=IMAGENET_CLASSES, application, min_input_size=32,
                      include_top=True, pooling=None, classifier_activation="softmax", dropout=0.0,
                      features_only=False, backbone_weights=None, **application_kwargs):
    """A keras.applications network (``application`` names its function) built for the zoo.

    Args:
        backbone_weights: a verified head-less weights file (Keras' ``*_notop.h5``),
            loaded into the network before a new head is added; passed by
            ``zoo.create_model`` when the pretrained head is not kept.
        **application_kwargs: passed to the Keras function (e.g. ``alpha``).
    """
    check_common(num_classes=num_classes, include_top=include_top, pooling=pooling, dropout=dropout)
    fn = _application(application)
    shape = _check_input(input_shape, min_input_size)
    keras_head = include_top and not features_only and num_classes == IMAGENET_CLASSES
    if keras_head:
        if backbone_weights is not None:
            raise ValueError("backbone_weights go with a new head: num_classes must differ from 1000")
        return fn(weights=None, include_top=True, input_shape=shape, classes=IMAGENET_CLASSES,
                  classifier_activation=classifier_activation, **application_kwargs)
    base = fn(weights=None, include_top=False, input_shape=shape, pooling=None, **application_kwargs)
    if backbone_weights is not None:
        try:
            base.load_weights(backbone_weights)
        except (ValueError, KeyError, OSError) as exc:
            raise WeightsError(
                f"{application}: the head-less weights file {backbone_weights} does not fit this network "
                f"({exc}); builder arguments other than num_classes and input_shape must match Keras' defaults"
            ) from exc
    if features_only:
        return keras.Model(base.input, stage_outputs(base), name=f"{base.name}_features")
    if not include_top:
        return keras.Model(base.input, global_pool(base.output, pooling), name=base.name)
    x = global_pool(base.output, pooling or "avg")
    if dropout:
        x = keras.layers.Dropout(dropout, name="head_dropout")(x)
    x = keras.layers.Dense(num_classes, activation=classifier_activation, name=HEAD)(x)
    return keras.Model(base.input, x, name=base.name)
