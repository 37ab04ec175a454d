"""CNN family specs. Spec-only: no keras import here, the builders live in
zoo.models._cnn_build and load when a model is created."""

from zoo.registry import ModelSpec

_BUILD = "zoo.models._cnn_build"
_ALL = frozenset({"features_only", "variable_input_size", "exportable"})
_APP_KWARGS = ("Keyword arguments (keras.applications conventions): include_top, pooling, "
               "classifier_activation, dropout; native; features_only.")

SPECS = [
    ModelSpec(
        name="lenet",
        family="cnn",
        task="image-classification",
        builder=f"{_BUILD}:lenet",
        default_input_shape=(32, 32, 1),
        default_num_classes=10,
        # Its classifier flattens the last map, so the input size is fixed.
        capabilities=frozenset({"features_only", "exportable"}),
        description="LeNet-5 style ConvNet: two 5x5 conv + max-pool stages, two dense layers. "
        + _APP_KWARGS,
        paper="LeCun et al., Gradient-based learning applied to document recognition (1998)",
        license="Apache-2.0",
    ),
    *[
        ModelSpec(
            name=f"resnet{depth}",
            family="cnn",
            task="image-classification",
            builder=f"{_BUILD}:resnet",
            default_input_shape=(224, 224, 3),
            default_num_classes=1000,
            capabilities=_ALL,
            description=f"ResNet-{depth} ({kind} blocks). stem='auto' picks a 3x3 stride-1 stem "
            "without max pooling for inputs up to 64x64 (8x8 .. 64x64 images), the 7x7 "
            "ImageNet stem otherwise; width sets the first stage's filters (64). " + _APP_KWARGS
            + (" ImageNet weights: resnet50.imagenet, Keras' ResNet50 (keras_resnet50), a different "
               "network (v1, convolutions with bias)." if depth == 50 else ""),
            paper="He et al., Deep Residual Learning for Image Recognition (2015)",
            license="Apache-2.0",
            default_kwargs={"depth": depth},
        )
        for depth, kind in ((18, "basic"), (34, "basic"), (50, "bottleneck"))
    ],
    ModelSpec(
        name="mobilenet_v2",
        family="cnn",
        task="image-classification",
        builder=f"{_BUILD}:mobilenet_v2",
        default_input_shape=(224, 224, 3),
        default_num_classes=1000,
        capabilities=_ALL,
        description="MobileNetV2: inverted residuals and linear bottlenecks on depthwise "
        "separable convolutions; alpha is the width multiplier; stem='auto' uses a stride-1 "
        "stem for inputs up to 64x64. " + _APP_KWARGS + " Keras' MobileNetV2 is keras_mobilenet_v2.",
        paper="Sandler et al., MobileNetV2: Inverted Residuals and Linear Bottlenecks (2018)",
        license="Apache-2.0",
        default_kwargs={"alpha": 1.0},
    ),
]
