"""Step 1 of the flow: a model name becomes a spec.

Owns the :class:`ModelSpec`/:class:`WeightsSpec` records (``specs``) and the
catalog that discovers them through the ``zoo.models`` entry points and lists
and resolves them (``catalog``). May import only ``zoo.errors``: it is pure
Python, never imports keras or TensorFlow, and knows nothing of weights files,
presets or model building (those are ``zoo.hub`` and ``zoo.create``).
"""

from zoo.registry.catalog import (
    PluginInfo,
    Registry,
    default_registry,
    get_model_spec,
    list_models,
    list_plugins,
    model_info,
    plugins,
    register_model,
)
from zoo.registry.specs import (
    BUILTIN_DISTRIBUTION,
    CAPABILITIES,
    ENTRY_POINT_GROUP,
    ModelSpec,
    WeightsFile,
    WeightsSpec,
    ZooPluginWarning,
)

__all__ = [
    "BUILTIN_DISTRIBUTION", "CAPABILITIES", "ENTRY_POINT_GROUP", "ModelSpec", "PluginInfo", "Registry",
    "WeightsFile", "WeightsSpec", "ZooPluginWarning", "default_registry", "get_model_spec", "list_models", "list_plugins",
    "model_info", "plugins", "register_model",
]
