"""keras-zoo: a plugin-based model zoo for Keras 3 with fused native kernels.

Importing ``zoo`` is cheap and never imports TensorFlow: submodules and the
heavier public names load on first use.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> "module:attribute", or "module" for a module served as is
# (zoo.ops, zoo.layers, and zoo.finetune / zoo.export, which are callable modules)
_LAZY = {
    "ops": "zoo.ops",
    "layers": "zoo.layers",
    "set_native": "zoo._native:set_native",
    "native": "zoo._native:native",
    "set_isa": "zoo._native:set_isa",
    "get_isa": "zoo._native:get_isa",
    "NativeUnavailableError": "zoo._native:NativeUnavailableError",
    # model registry (pure Python)
    "ModelSpec": "zoo.registry:ModelSpec",
    "WeightsSpec": "zoo.registry:WeightsSpec",
    "WeightsFile": "zoo.registry:WeightsFile",
    "register_model": "zoo.registry:register_model",
    "list_models": "zoo.registry:list_models",
    "get_model_spec": "zoo.registry:get_model_spec",
    "list_plugins": "zoo.registry:list_plugins",
    "plugins": "zoo.registry:plugins",
    # the factory and the hub (pure Python until a model is built)
    "create_model": "zoo.create:create_model",
    "model_info": "zoo.create:model_info",
    "load_preset": "zoo.create:load_preset",
    "save_preset": "zoo.hub.presets:save_preset",
    "ZooError": "zoo.errors:ZooError",
    # training and export
    "recipes": "zoo.training.recipes",
    "finetune": "zoo.training.finetune",
    "reset_head": "zoo.training.finetune:reset_head",
    "freeze": "zoo.training.finetune:freeze",
    "unfreeze": "zoo.training.finetune:unfreeze",
    "export": "zoo.export",
    "predict": "zoo.inference:predict",
}

__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name):
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'zoo' has no attribute {name!r}")
    module, _, attr = target.partition(":")
    mod = importlib.import_module(module)
    value = getattr(mod, attr) if attr else mod
    globals()[name] = value
    return value


def __dir__():
    return __all__
