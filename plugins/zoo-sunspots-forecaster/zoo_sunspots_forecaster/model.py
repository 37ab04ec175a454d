"""The builder: a keras-zoo architecture, by registry name, with fixed arguments."""

from __future__ import annotations


def build(*, input_shape, num_classes, arch, **kwargs):
    """``zoo.create_model(arch, ...)`` untrained; the spec's ``default_kwargs`` name the
    architecture and its arguments, and ``create_model`` loads this package's weights."""
    import zoo

    return zoo.create_model(arch, input_shape=input_shape, num_classes=num_classes, **kwargs)
