"""The builder: a keras-zoo architecture, by registry name, with fixed arguments.

Imported only when a model is created. Importing zoo.layers here registers zoo's
Keras layers, so a preset saved from this model (zoo.save_preset) deserialises
from its config in a fresh process.
"""

from __future__ import annotations

import zoo
import zoo.layers  # noqa: F401


def build(*, input_shape, num_classes, arch, **kwargs):
    """``zoo.create_model(arch, ...)`` untrained; the spec's ``default_kwargs`` name the
    architecture and its arguments, and ``create_model`` loads this package's weights."""
    return zoo.create_model(arch, input_shape=input_shape, num_classes=num_classes, **kwargs)
