"""Keras builders for the CNN family (specs in zoo.models.cnn).

All follow keras.applications conventions: ``input_shape`` (any channel count),
``num_classes``, ``include_top``, ``pooling``, ``classifier_activation`` and
``dropout``; plus ``native`` (zoo layers or stock Keras, see _common) and
``features_only`` (a model returning the feature map of every stage, as a list).
"""

from __future__ import annotations

import keras

from zoo.models._common import Blocks, check_common, global_pool, image_input

_L = keras.layers


def _finish(inputs, x, features, *, name, num_classes, include_top, pooling,
            classifier_activation, dropout, features_only, blocks):
    """The shared tail: the feature list, or global pooling and the head."""
    if features_only:
        return keras.Model(inputs, list(features), name=f"{name}_features")
    if include_top:
        # keras.applications pools by average under a classifier unless told otherwise.
        x = global_pool(x, pooling or "avg")
        x = blocks.head(x, num_classes, classifier_activation, dropout)
    else:
        x = global_pool(x, pooling)
    return keras.Model(inputs, x, name=name)


# --------------------------------------------------------------------------
# LeNet


def lenet(*, input_shape=(32, 32, 1), num_classes=10, include_top=True, pooling=None,
          classifier_activation="softmax", dropout=0.0, native=True, features_only=False,
          activation="relu", filters=(6, 16), hidden=(120, 84)):
    """LeNet-5 style ConvNet: two conv+pool stages and a dense classifier.

    The classifier flattens the last feature map, so with ``include_top`` the
    input size is fixed.
    """
    check_common(num_classes=num_classes, include_top=include_top, pooling=pooling, dropout=dropout)
    blocks = Blocks(native)
    inputs = image_input(input_shape, min_side=4)
    if include_top and None in tuple(input_shape)[:2]:
        raise ValueError("lenet flattens its features: include_top=True needs a fixed input size")
    x, features = inputs, []
    for i, f in enumerate(filters, start=1):
        x = blocks.conv_act(x, _L.Conv2D, f, 5, activation, name=f"conv{i}", padding="same")
        x = _L.MaxPooling2D(2, name=f"pool{i}")(x)
        features.append(x)
    if include_top and not features_only:
        x = _L.Flatten(name="flatten")(x)
        for i, units in enumerate(hidden, start=1):
            x = blocks.dense(units, activation=activation, name=f"fc{i}")(x)
        x = blocks.head(x, num_classes, classifier_activation, dropout)
        return keras.Model(inputs, x, name="lenet")
    return _finish(inputs, x, features, name="lenet", num_classes=num_classes, include_top=False,
                   pooling=pooling, classifier_activation=classifier_activation, dropout=dropout,
                   features_only=features_only, blocks=blocks)


# --------------------------------------------------------------------------
# ResNet

_RESNET_DEPTHS = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
}
_SMALL_STEM_MAX_SIDE = 64


def _pick_stem(stem, input_shape):
    if stem not in ("auto", "imagenet", "small"):
        raise ValueError(f"stem must be 'auto', 'imagenet' or 'small', got {stem!r}")
    if stem != "auto":
        return stem
    sides = [s for s in tuple(input_shape)[:2] if s is not None]
    # 8x8 .. 64x64 images would shrink to nothing under the ImageNet stem's 4x downsampling.
    return "small" if sides and max(sides) <= _SMALL_STEM_MAX_SIDE else "imagenet"


def _basic_block(blocks, x, filters, stride, name, zero_init_last):
    shortcut = x
    if stride != 1 or x.shape[-1] != filters:
        shortcut = blocks.conv_bn_act(x, _L.Conv2D, filters, 1, None, f"{name}_0", strides=stride)
    x = blocks.conv_bn_act(x, _L.Conv2D, filters, 3, "relu", f"{name}_1", strides=stride,
                           padding="same")
    x = blocks.conv_bn_act(x, _L.Conv2D, filters, 3, None, f"{name}_2", padding="same",
                           zero_gamma=zero_init_last)
    x = _L.Add(name=f"{name}_add")([shortcut, x])
    return blocks.act("relu", name=f"{name}_out")(x)


def _bottleneck_block(blocks, x, filters, stride, name, zero_init_last):
    out = 4 * filters
    shortcut = x
    if stride != 1 or x.shape[-1] != out:
        shortcut = blocks.conv_bn_act(x, _L.Conv2D, out, 1, None, f"{name}_0", strides=stride)
    x = blocks.conv_bn_act(x, _L.Conv2D, filters, 1, "relu", f"{name}_1")
    # Stride on the 3x3 convolution (ResNet v1.5), as torchvision and timm do.
    x = blocks.conv_bn_act(x, _L.Conv2D, filters, 3, "relu", f"{name}_2", strides=stride,
                           padding="same")
    x = blocks.conv_bn_act(x, _L.Conv2D, out, 1, None, f"{name}_3", zero_gamma=zero_init_last)
    x = _L.Add(name=f"{name}_add")([shortcut, x])
    return blocks.act("relu", name=f"{name}_out")(x)


def resnet(*, input_shape=(224, 224, 3), num_classes=1000, depth=18, include_top=True,
           pooling=None, classifier_activation="softmax", dropout=0.0, native=True,
           features_only=False, stem="auto", width=64, zero_init_last=True):
    """ResNet 18/34 (basic blocks) or 50 (bottleneck blocks).

    ``stem="small"`` (chosen by ``"auto"`` for inputs up to 64x64) is a 3x3
    stride-1 convolution without max pooling, for 8x8 .. 64x64 images;
    ``"imagenet"`` is the 7x7 stride-2 convolution and max pooling.
    ``width`` is the first stage's filter count (64 in the paper).
    ``zero_init_last`` starts each residual branch's last BatchNorm scale at
    zero (Goyal et al. 2017, timm's default): every block begins as the
    identity, which keeps the deeper variants trainable from the first step.
    """
    check_common(num_classes=num_classes, include_top=include_top, pooling=pooling, dropout=dropout)
    if depth not in _RESNET_DEPTHS:
        raise ValueError(f"resnet depth must be one of {sorted(_RESNET_DEPTHS)}, got {depth!r}")
    if not isinstance(width, int) or width <= 0:
        raise ValueError(f"width must be a positive integer, got {width!r}")
    kind, counts = _RESNET_DEPTHS[depth]
    block_fn = _basic_block if kind == "basic" else _bottleneck_block
    stem = _pick_stem(stem, input_shape)
    blocks = Blocks(native)
    inputs = image_input(input_shape, min_side=8 if stem == "small" else 32)
    if stem == "small":
        x = blocks.conv_bn_act(inputs, _L.Conv2D, width, 3, "relu", "conv1", padding="same")
    else:
        x = blocks.conv_bn_act(inputs, _L.Conv2D, width, 7, "relu", "conv1", strides=2,
                               padding="same")
        x = _L.MaxPooling2D(3, strides=2, padding="same", name="pool1_pool")(x)
    features = [x]
    for stage, count in enumerate(counts):
        filters = width * 2**stage
        for b in range(count):
            stride = 2 if stage > 0 and b == 0 else 1
            x = block_fn(blocks, x, filters, stride, f"conv{stage + 2}_block{b + 1}", zero_init_last)
        features.append(x)
    return _finish(inputs, x, features, name=f"resnet{depth}", num_classes=num_classes,
                   include_top=include_top, pooling=pooling,
                   classifier_activation=classifier_activation, dropout=dropout,
                   features_only=features_only, blocks=blocks)


# --------------------------------------------------------------------------
# MobileNetV2

# (expansion t, output channels c, repeats n, first stride s), from the paper's Table 2.
_MOBILENET_V2 = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                 (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))


def _make_divisible(v, divisor=8):
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:  # never round down by more than 10%
        new_v += divisor
    return new_v


def _inverted_residual(blocks, x, expansion, out, stride, name, zero_init_last):
    in_ch = x.shape[-1]
    h = x
    if expansion != 1:
        h = blocks.conv_bn_act(h, _L.Conv2D, in_ch * expansion, 1, "relu6", f"{name}_expand")
    h = _L.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False,
                           name=f"{name}_depthwise_conv")(h)
    h = _L.BatchNormalization(epsilon=1e-3, name=f"{name}_depthwise_bn")(h)
    h = blocks.act("relu6", name=f"{name}_depthwise_act")(h)
    # Linear bottleneck: no activation after the projection (the paper's point).
    residual = stride == 1 and in_ch == out
    h = blocks.conv_bn_act(h, _L.Conv2D, out, 1, None, f"{name}_project",
                           zero_gamma=residual and zero_init_last)
    if residual:
        h = _L.Add(name=f"{name}_add")([x, h])
    return h


def mobilenet_v2(*, input_shape=(224, 224, 3), num_classes=1000, alpha=1.0, include_top=True,
                 pooling=None, classifier_activation="softmax", dropout=0.0, native=True,
                 features_only=False, stem="auto", zero_init_last=True):
    """MobileNetV2: inverted residuals with linear bottlenecks on depthwise
    separable convolutions; ``alpha`` is the width multiplier.

    ``stem="small"`` (``"auto"`` for inputs up to 64x64) uses a stride-1 stem,
    so the total stride is 16 instead of 32. ``zero_init_last``: as for :func:`resnet`,
    on the projection BatchNorm of blocks with a skip connection.
    """
    check_common(num_classes=num_classes, include_top=include_top, pooling=pooling, dropout=dropout)
    if not alpha > 0:
        raise ValueError(f"alpha (width multiplier) must be positive, got {alpha!r}")
    stem = _pick_stem(stem, input_shape)
    blocks = Blocks(native)
    inputs = image_input(input_shape, min_side=8)
    x = blocks.conv_bn_act(inputs, _L.Conv2D, _make_divisible(32 * alpha), 3, "relu6", "stem",
                           strides=1 if stem == "small" else 2, padding="same")
    features = []
    block_id = 0
    for t, c, n, s in _MOBILENET_V2:
        if s == 2:
            features.append(x)  # the last map at each resolution
        for i in range(n):
            x = _inverted_residual(blocks, x, t, _make_divisible(c * alpha), s if i == 0 else 1,
                                   f"block{block_id}", zero_init_last)
            block_id += 1
    last = _make_divisible(1280 * alpha) if alpha > 1.0 else 1280
    x = blocks.conv_bn_act(x, _L.Conv2D, last, 1, "relu6", "top")
    features.append(x)
    return _finish(inputs, x, features, name="mobilenet_v2", num_classes=num_classes,
                   include_top=include_top, pooling=pooling,
                   classifier_activation=classifier_activation, dropout=dropout,
                   features_only=features_only, blocks=blocks)
