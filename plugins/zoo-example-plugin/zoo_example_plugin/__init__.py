"""Model specs of the example plugin.

Only specs live here: keras-zoo imports this module to list models, so it must
not import keras. The builders are named by string and imported on create.
"""

from zoo import ModelSpec, WeightsSpec

IRIS_LABELS = ("setosa", "versicolor", "virginica")

SPECS = [
    ModelSpec(
        name="example_mlp",
        family="mlp",
        task="tabular-classification",
        builder="zoo_example_plugin.models:build_mlp",
        default_input_shape=(4,),
        default_num_classes=3,
        capabilities=frozenset({"exportable"}),
        description="A one-hidden-layer perceptron with a fused bias+GELU.",
        license="Apache-2.0",
        weights=(
            WeightsSpec(
                tag="iris",
                file="zoo_example_plugin:weights/example_mlp_iris.weights.h5",
                sha256="cfbeb9b607e7571ec3343ce394c6a8e0b980bd4899e4f8291f25bb2b069e6a92",
                dataset="iris (scikit-learn): 120 training, 30 test samples",
                metrics={"test_accuracy": 1.0},
                labels=IRIS_LABELS,
                preprocessing={"mean": [5.8575, 3.0492, 3.7592, 1.2075], "std": [0.8514, 0.4452, 1.7808, 0.7637]},
            ),
        ),
    ),
    ModelSpec(
        name="example_cnn",
        family="cnn",
        task="image-classification",
        builder="zoo_example_plugin.models:build_cnn",
        default_input_shape=(32, 32, 3),
        default_num_classes=10,
        capabilities=frozenset({"variable_input_size", "exportable"}),
        description="Two convolutions with fused bias+ReLU, global pooling and a dense head.",
        license="Apache-2.0",
        default_kwargs={"width": 8},
    ),
]
