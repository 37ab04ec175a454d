"""A minimal keras-zoo plugin. The specs are plain data; the builder module (and
with it Keras) is imported only when a model is created."""

from zoo import ModelSpec

SPECS = [
    ModelSpec(
        name=f"hello_mlp{width}",
        family="mlp",
        task="classification",
        builder="zoo_hello_plugin.build:mlp",
        default_input_shape=(16,),
        default_num_classes=3,
        capabilities=frozenset({"exportable"}),
        description=f"Two hidden layers of {width} units on zoo's fused dense layers.",
        license="Apache-2.0",
        default_kwargs={"width": width},
    )
    for width in (32, 128)
]
