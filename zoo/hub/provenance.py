"""Provenance: how a model in this process was made (registry architecture, builder
arguments, the labels and preprocessing of its weights).

``zoo.create`` records it when it builds a model; ``zoo.hub.presets`` reads it so
that a saved preset remembers its architecture. Kept apart from both so that
saving a preset never needs model creation. Pure Python.
"""

from __future__ import annotations

import weakref

# model -> how create_model built it; save_preset reads it to record the architecture.
_ORIGINS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def model_origin(model) -> dict | None:
    """How create_model or load_preset made ``model``: architecture, builder arguments,
    and the labels/preprocessing of its weights (None when the head was replaced)."""
    return _ORIGINS.get(model)


def record_origin(model, **origin) -> None:
    _ORIGINS[model] = origin
