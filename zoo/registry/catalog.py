"""The model catalog: entry-point discovery, listing and lookup of model specs.

Every model family, the zoo's own included, arrives through the entry-point group
``zoo.models``. An entry point resolves to an iterable of :class:`ModelSpec` or to
a zero-argument callable returning one. Discovery runs once, on the first query,
and loads plugins in a fixed order (built-ins first, then by distribution name) so
that name conflicts resolve the same way on every machine.

Pure Python, never imports keras or TensorFlow: listing models and showing their
info are meant to answer instantly.
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib
import importlib.metadata
import os
import re
import threading
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from zoo.errors import DuplicateModelError, PluginLoadError, UnknownModelError
from zoo.registry.specs import BUILTIN_DISTRIBUTION, ENTRY_POINT_GROUP, ModelSpec, ZooPluginWarning


# --------------------------------------------------------------------------- plugins


@dataclass
class PluginInfo:
    """One ``zoo.models`` entry point and what became of it."""

    name: str
    value: str
    distribution: str | None
    version: str | None
    builtin: bool
    models: tuple[str, ...] = ()
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def describe(self) -> str:
        dist = f"{self.distribution} {self.version}" if self.distribution else "unknown distribution"
        return f"plugin {self.name!r} ({self.value}) from {dist}"

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "value": self.value,
            "distribution": self.distribution,
            "version": self.version,
            "builtin": self.builtin,
            "models": list(self.models),
            "error": self.error,
        }


def _normalize_dist_name(name: str | None) -> str | None:
    return re.sub(r"[-_.]+", "-", name).lower() if name else None


def _entry_point_distribution(ep) -> tuple[str | None, str | None]:
    dist = getattr(ep, "dist", None)
    if dist is None:
        return None, None
    try:
        return dist.metadata["Name"], dist.version
    except Exception:  # a broken METADATA file: the plugin still gets reported
        return None, None


def _strict_from_env() -> bool:
    return os.environ.get("ZOO_STRICT_PLUGINS", "").strip().lower() in {"1", "true", "yes", "on"}


def _specs_from_entry_point_object(obj: Any) -> list[ModelSpec]:
    """Accept an iterable of specs, one spec, or a zero-arg callable returning either."""
    if callable(obj) and not isinstance(obj, ModelSpec):
        obj = obj()
    if isinstance(obj, ModelSpec):
        return [obj]
    if isinstance(obj, (str, bytes, Mapping)) or not isinstance(obj, Iterable):
        raise TypeError(
            f"resolved to {type(obj).__name__}; a zoo.models entry point must give an iterable "
            "of zoo.ModelSpec or a zero-argument callable returning one"
        )
    specs = list(obj)
    for item in specs:
        if not isinstance(item, ModelSpec):
            raise TypeError(f"gave a {type(item).__name__} where a zoo.ModelSpec was expected")
    return specs


def _natural_key(text: str):
    return [(0, int(part), "") if part.isdigit() else (1, 0, part.lower()) for part in re.split(r"(\d+)", text)]


def _as_patterns(value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return list(value)


def _as_set(value) -> set[str] | None:
    if value is None:
        return None
    return {value} if isinstance(value, str) else set(value)


# --------------------------------------------------------------------------- registry


class Registry:
    """Model specs by name, filled from entry points on first use.

    Args:
        entry_points: a zero-arg callable returning the entry points to load
            (default: the installed ``zoo.models`` group). Tests pass fakes here.
        strict: raise on a broken plugin or a duplicate name instead of warning
            (default: the ``ZOO_STRICT_PLUGINS`` environment variable).
    """

    def __init__(self, entry_points: Callable[[], Iterable] | None = None, strict: bool | None = None):
        self._entry_points = entry_points or (lambda: importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))
        self._strict = strict
        self._lock = threading.RLock()
        self._specs: dict[str, ModelSpec] = {}
        self._sources: dict[str, PluginInfo | None] = {}  # None: registered at runtime
        self._aliases: dict[str, tuple[str, str | None]] = {}  # alias -> (spec name, tag)
        self._plugins: list[PluginInfo] = []
        self._discovered = False
        self._discovering = False

    @property
    def strict(self) -> bool:
        return _strict_from_env() if self._strict is None else self._strict

    # -- discovery

    def discover(self) -> None:
        """Load every plugin once; later calls do nothing (see :meth:`reset`)."""
        with self._lock:
            if self._discovered or self._discovering:
                return
            self._discovering = True
            try:
                for ep, info in self._ordered_plugins():
                    self._load_plugin(ep, info)
            finally:
                self._discovering = False
            self._discovered = True

    def reset(self) -> None:
        """Forget everything, so the next query discovers plugins again."""
        with self._lock:
            self._specs.clear()
            self._sources.clear()
            self._aliases.clear()
            self._plugins.clear()
            self._discovered = False

    def _ordered_plugins(self):
        entries = []
        for ep in self._entry_points():
            dist, version = _entry_point_distribution(ep)
            builtin = _normalize_dist_name(dist) == BUILTIN_DISTRIBUTION
            info = PluginInfo(name=ep.name, value=ep.value, distribution=dist, version=version, builtin=builtin)
            entries.append((ep, info))
        # Built-ins first so they win every conflict; then a stable order.
        entries.sort(key=lambda e: (not e[1].builtin, _normalize_dist_name(e[1].distribution) or "", e[1].name))
        return entries

    def _load_plugin(self, ep, info: PluginInfo) -> None:
        self._plugins.append(info)
        try:
            specs = _specs_from_entry_point_object(ep.load())
        except Exception as exc:
            info.error = f"{type(exc).__name__}: {exc}"
            message = (
                f"keras-zoo skipped {info.describe()}: it failed to load with {info.error}. "
                f"Its models are unavailable; fix or reinstall {info.distribution or 'the plugin'} "
                "(`zoo plugins` lists every plugin and its status)."
            )
            if self.strict:
                raise PluginLoadError(message) from exc
            warnings.warn(message, ZooPluginWarning, stacklevel=2)
            return
        registered = []
        for spec in specs:
            if self._add(spec, info):
                registered.append(spec.name)
        info.models = tuple(registered)

    def _add(self, spec: ModelSpec, source: PluginInfo | None) -> bool:
        existing = self._sources.get(spec.name, False)
        if existing is not False:
            holder = existing.describe() if existing else "register_model()"
            newcomer = source.describe() if source else "register_model()"
            message = (
                f"model name {spec.name!r} is defined by both {holder} and {newcomer}; "
                f"keeping the one from {holder}. Uninstall one of them or rename the model."
            )
            if self.strict:
                raise DuplicateModelError(message)
            warnings.warn(message, ZooPluginWarning, stacklevel=3)
            return False
        self._specs[spec.name] = spec
        self._sources[spec.name] = source
        self._add_aliases(spec, source)
        return True

    def _add_aliases(self, spec: ModelSpec, source: PluginInfo | None) -> None:
        for alias in spec.aliases:
            holder = self._aliases.get(alias)
            if holder is not None and holder[0] != spec.name:
                message = (
                    f"alias {alias!r} of model {spec.name!r} already names {holder[0]!r}; keeping that one. "
                    "Uninstall one of the plugins or drop the alias."
                )
                if self.strict:
                    raise DuplicateModelError(message)
                warnings.warn(message, ZooPluginWarning, stacklevel=4)
                continue
            arch, _, tag = alias.partition(".")
            self._aliases[alias] = (spec.name, tag or None)

    # -- registration at runtime

    def register(self, spec: ModelSpec, *, override: bool = False) -> ModelSpec:
        if not isinstance(spec, ModelSpec):
            raise TypeError(f"register_model expects a zoo.ModelSpec, got {type(spec).__name__}")
        with self._lock:
            self.discover()
            if spec.name in self._specs and not override:
                holder = self._sources[spec.name]
                raise DuplicateModelError(
                    f"model {spec.name!r} is already registered by "
                    f"{holder.describe() if holder else 'register_model()'}; "
                    "pass override=True to replace it, or choose another name"
                )
            self._specs[spec.name] = spec
            self._sources[spec.name] = None
            self._add_aliases(spec, None)
        return spec

    # -- queries

    def plugins(self) -> list[PluginInfo]:
        self.discover()
        return list(self._plugins)

    def failed_plugins(self) -> list[PluginInfo]:
        return [p for p in self.plugins() if not p.ok]

    def source(self, name: str) -> PluginInfo | None:
        self.discover()
        return self._sources.get(name)

    def specs(self) -> list[ModelSpec]:
        self.discover()
        return list(self._specs.values())

    def resolve(self, name: str) -> tuple[ModelSpec, str | None]:
        """``"arch"``, ``"arch.tag"`` or an alias -> (spec, tag or None)."""
        self.discover()
        spec = self._specs.get(name)
        if spec is not None:
            return spec, None
        arch, dot, tag = name.partition(".")
        spec = self._specs.get(arch)
        if spec is not None and dot and tag in spec.tags:
            return spec, tag
        # An alias never shadows a registered architecture or its tags (checked above).
        alias = self._aliases.get(name)
        if alias is not None and alias[0] in self._specs:
            return self._specs[alias[0]], alias[1]
        if spec is not None and dot:
            available = ", ".join(f"{arch}.{t}" for t in spec.tags) or "none"
            raise UnknownModelError(
                f"model {arch!r} has no pretrained weights tagged {tag!r}; available: {available}"
            )
        raise UnknownModelError(self._unknown_message(name))

    def _unknown_message(self, name: str) -> str:
        candidates = (list(self._specs) + [f"{s.name}.{t}" for s in self._specs.values() for t in s.tags]
                      + list(self._aliases))
        close = difflib.get_close_matches(name, candidates, n=3)
        message = f"no model named {name!r}."
        if close:
            message += f" Did you mean {', '.join(map(repr, close))}?"
        message += " Run `zoo list` to see every model"
        failed = [p for p in self._plugins if not p.ok]
        if failed:
            message += f"; {len(failed)} plugin(s) failed to load, see `zoo plugins`"
        return message + "."

    def list(self, pattern="*", exclude=None, family=None, task=None, pretrained=False) -> list[str]:
        self.discover()
        patterns = _as_patterns(pattern) or ["*"]
        excludes = _as_patterns(exclude)
        families, tasks = _as_set(family), _as_set(task)
        names = []
        for spec in self._specs.values():
            if families is not None and spec.family not in families:
                continue
            if tasks is not None and spec.task not in tasks:
                continue
            if pretrained:
                names.extend(f"{spec.name}.{tag}" for tag in spec.tags)
            else:
                names.append(spec.name)

        def selected(n: str) -> bool:
            return any(fnmatch.fnmatchcase(n, p) for p in patterns) and not any(
                fnmatch.fnmatchcase(n, p) for p in excludes
            )

        return sorted(filter(selected, names), key=_natural_key)

    def info(self, name: str) -> dict:
        spec, tag = self.resolve(name)
        info = spec.to_dict()
        info["tag"] = tag
        info["alias"] = name if name in self._aliases and self._aliases[name][0] == spec.name else None
        source = self._sources.get(spec.name)
        info["source"] = source.to_dict() if source else {"name": None, "distribution": None,
                                                          "builtin": False, "registered_at_runtime": True}
        info["source"].pop("models", None)
        return info


_REGISTRY = Registry()


def default_registry() -> Registry:
    return _REGISTRY


# --------------------------------------------------------------------------- public functions


def register_model(spec: ModelSpec | None = None, /, *, override: bool = False, **spec_fields):
    """Register a model at runtime.

    ``register_model(spec)`` registers a :class:`ModelSpec`. Without a spec it is a
    decorator over a builder function, taking the other ModelSpec fields::

        @zoo.register_model(name="tiny", family="cnn", task="image-classification",
                            default_input_shape=(32, 32, 3), default_num_classes=10)
        def tiny(*, input_shape, num_classes): ...

    A name that is already registered raises DuplicateModelError unless ``override=True``.
    Plugins for others to install should use the ``zoo.models`` entry point instead.
    """
    if spec is not None:
        if spec_fields:
            raise TypeError("pass either a ModelSpec or its fields, not both")
        return _REGISTRY.register(spec, override=override)

    def decorator(builder):
        _REGISTRY.register(ModelSpec(builder=builder, **spec_fields), override=override)
        return builder

    return decorator


def list_models(pattern="*", exclude=None, family=None, task=None, pretrained: bool = False) -> list[str]:
    """Registered model names, naturally sorted ("net2" before "net10").

    Args:
        pattern: fnmatch pattern (or list of patterns) the names must match.
        exclude: pattern(s) removing names from the result.
        family, task: keep only these (a string or a collection of strings).
        pretrained: list ``"arch.tag"`` for every pretrained weights entry instead
            of the architectures.
    """
    return _REGISTRY.list(pattern, exclude=exclude, family=family, task=task, pretrained=pretrained)


def model_info(name: str) -> dict:
    """A JSON-ready description of a registered ``"arch"`` or ``"arch.tag"``
    (``zoo.model_info`` also describes preset directories)."""
    return _REGISTRY.info(name)


def get_model_spec(name: str) -> ModelSpec:
    """The :class:`ModelSpec` of ``"arch"`` or ``"arch.tag"``."""
    return _REGISTRY.resolve(name)[0]


def list_plugins() -> list[PluginInfo]:
    """Every ``zoo.models`` entry point found, with the models it gave or why it failed."""
    return _REGISTRY.plugins()


plugins = list_plugins
