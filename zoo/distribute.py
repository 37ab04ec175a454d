"""Former path of ``zoo.training.distribute``: ``from zoo.distribute import
resolve_strategy`` keeps working."""

from zoo.training.distribute import DistributionError, backup_callback, resolve_strategy  # noqa: F401
