"""Specs that clash with other sources, given through a zero-argument callable."""

from zoo import ModelSpec

BUILTIN_CLASH = "resnet18"  # a built-in model (zoo.models.cnn)
EXAMPLE_CLASH = "example_cnn"  # defined by zoo-example-plugin
UNIQUE = "shadow_plugin_unique"


def make_specs():
    common = dict(family="cnn", task="image-classification", default_input_shape=(8, 8, 3),
                  default_num_classes=2, builder="zoo_shadow_plugin.build:build",
                  description="from zoo-shadow-plugin")
    return [ModelSpec(name=name, **common) for name in (BUILTIN_CLASH, EXAMPLE_CLASH, UNIQUE)]
