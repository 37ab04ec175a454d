"""Former home of the preset functions, kept because installed model packages
name ``zoo.presets:build_architecture`` / ``zoo.presets:build_from_preset`` as
their builders and import ``read_package_meta`` from here. New code imports
from ``zoo.hub.presets`` and ``zoo.create``."""

from zoo.create import build_architecture, build_from_preset, load_preset  # noqa: F401
from zoo.hub.presets import is_preset, read_metadata, read_package_meta, save_preset  # noqa: F401
