"""Exceptions raised by the registry, weights, presets and packaging.

They share the base :class:`ZooError` so that the CLI can print them as one-line
messages instead of tracebacks, and each also derives from the builtin a caller
would naturally catch (LookupError for an unknown name, ValueError for a bad
argument...). Pure Python: importing this never imports TensorFlow.
"""

from __future__ import annotations


class ZooError(Exception):
    """Base class of keras-zoo's own errors; the message says what went wrong and how to fix it."""


class UnknownModelError(ZooError, LookupError):
    """No registered model (or pretrained tag) has this name."""

    def __str__(self):  # LookupError would otherwise show the message in quotes
        return str(self.args[0]) if self.args else ""


class DuplicateModelError(ZooError, ValueError):
    """Two sources define the same model name and the registry is strict (or the caller asked for no override)."""


class PluginLoadError(ZooError, ImportError):
    """A ``zoo.models`` entry point failed to load while the registry is strict."""


class WeightsError(ZooError, RuntimeError):
    """Pretrained weights could not be found, fetched, verified or loaded."""


class DownloadError(WeightsError):
    """A weights download failed: offline, refused, HTTP error."""


class TruncatedDownloadError(DownloadError):
    """The server closed the connection before sending the whole file."""


class ChecksumError(WeightsError):
    """A weights file's sha256 does not match the digest its spec or preset records."""


class PresetError(ZooError, ValueError):
    """A preset directory is missing, incomplete, or cannot give what was asked of it."""
