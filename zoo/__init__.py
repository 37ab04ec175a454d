"""keras-zoo: a plugin-based model zoo for Keras 3 with fused native kernels.

Importing ``zoo`` is cheap and never imports TensorFlow: submodules and the
heavier public names load on first use.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> module that defines it
_LAZY = {
    "ops": "zoo.ops",
    "layers": "zoo.layers",
    "set_native": "zoo._native",
    "native": "zoo._native",
    "set_isa": "zoo._native",
    "get_isa": "zoo._native",
    "NativeUnavailableError": "zoo._native",
    # model registry, weights and presets (pure Python until a model is created)
    "ModelSpec": "zoo._registry",
    "WeightsSpec": "zoo._registry",
    "register_model": "zoo._registry",
    "list_models": "zoo._registry",
    "model_info": "zoo._registry",
    "get_model_spec": "zoo._registry",
    "list_plugins": "zoo._registry",
    "plugins": "zoo._registry",
    "create_model": "zoo._create",
    "save_preset": "zoo.presets",
    "load_preset": "zoo.presets",
    "ZooError": "zoo.errors",
    "recipes": "zoo.recipes",
    # fine-tuning and export; zoo.finetune and zoo.export are callable modules
    "finetune": "zoo.finetune",
    "reset_head": "zoo.finetune",
    "freeze": "zoo.finetune",
    "unfreeze": "zoo.finetune",
    "export": "zoo.export",
}

__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'zoo' has no attribute {name!r}")
    mod = importlib.import_module(module)
    value = mod if module == f"zoo.{name}" else getattr(mod, name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
