"""Model and weights specs: what the registry knows about a model before anything is built.

A :class:`ModelSpec` names an architecture, its family and task, its builder (a
callable or a ``"module:function"`` string imported only when a model is
created) and its pretrained :class:`WeightsSpec` variants. Specs validate
themselves on construction, so a malformed plugin fails at discovery with a
message naming the field. Pure Python: never imports keras or TensorFlow.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from zoo.errors import UnknownModelError

ENTRY_POINT_GROUP = "zoo.models"
BUILTIN_DISTRIBUTION = "keras-zoo"
CAPABILITIES = frozenset({"features_only", "variable_input_size", "exportable"})

# Architecture names cannot hold a dot: "arch.tag" names a pretrained variant.
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]*$")
# Digest algorithms a weights file may be checked with, and their hex lengths. sha256
# is the one to publish; md5 is accepted because Keras publishes only md5 for most
# of its applications' files (README, "ImageNet models").
DIGEST_ALGORITHMS = {"sha256": 64, "md5": 32}
_BUILDER_RE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


class ZooPluginWarning(UserWarning):
    """A plugin failed to load or defined a model name that another source already has."""


def _frozen_mapping(value: Mapping | None) -> Mapping:
    return MappingProxyType(dict(value or {}))


# --------------------------------------------------------------------------- specs


def _check_digests(owner: str, sha256, md5) -> tuple[str | None, str | None]:
    """Normalised (sha256, md5); at least one is needed, each of the right length."""
    out = []
    for algorithm, value in (("sha256", sha256), ("md5", md5)):
        if value is None:
            out.append(None)
            continue
        digest = str(value).strip().lower()
        if not re.fullmatch(rf"[0-9a-f]{{{DIGEST_ALGORITHMS[algorithm]}}}", digest):
            raise ValueError(
                f"{owner} need a {algorithm} of {DIGEST_ALGORITHMS[algorithm]} hex digits, got {value!r}; "
                f"compute it with `{algorithm}sum FILE`"
            )
        out.append(digest)
    if out == [None, None]:
        raise ValueError(f"{owner} need a sha256 of 64 hex digits; compute it with `sha256sum FILE`")
    return out[0], out[1]


@dataclass(frozen=True)
class WeightsFile:
    """A second file of a :class:`WeightsSpec`: the same weights without the classifier
    (Keras' ``*_notop.h5``), loaded when the model is built with a new head, without
    its top, or as a feature extractor.

    Args:
        url: an ``http(s)://`` or ``file://`` URL, downloaded into the cache.
        file: a package resource or a local path, tried before ``url``.
        sha256, md5: hex digest of the file (at least one; sha256 is checked when both
            are given). md5 exists for files whose publisher gives no sha256.
    """

    url: str | None = None
    file: str | None = None
    sha256: str | None = None
    md5: str | None = None

    def __post_init__(self):
        if not self.file and not self.url:
            raise ValueError("a weights file needs a file (package resource or path) or a url")
        sha256, md5 = _check_digests(f"weights file {self.url or self.file}", self.sha256, self.md5)
        object.__setattr__(self, "sha256", sha256)
        object.__setattr__(self, "md5", md5)

    @property
    def digest(self) -> tuple[str, str]:
        """(algorithm, hex digest) the file is checked with: sha256 when known, else md5."""
        return ("sha256", self.sha256) if self.sha256 else ("md5", self.md5)

    def to_dict(self) -> dict:
        return {"url": self.url, "file": self.file, "sha256": self.sha256, "md5": self.md5}


@dataclass(frozen=True)
class WeightsSpec:
    """One set of pretrained weights for a model.

    Args:
        tag: short name of the variant; the model is then ``"arch.tag"``.
        file: a package resource ``"package.module:relative/path"`` (weights shipped as
            package data) or a local file path. Tried before ``url``.
        url: an ``http(s)://`` or ``file://`` URL, downloaded into the cache.
        sha256: hex digest of the file; every file is checked against it.
        md5: for files whose publisher gives only an md5 (Keras' applications); checked
            instead when there is no sha256.
        dataset: what the weights were trained on.
        metrics: evaluation results, e.g. ``{"top1": 0.91}``.
        num_classes: size of the trained head (defaults to ``len(labels)``).
        labels: class names, index order.
        preprocessing: how inputs are prepared, e.g. ``{"rescale": 1/255, "mean": [...],
            "std": [...]}``; ``zoo predict`` applies it.
        backbone: the same weights without the head (a :class:`WeightsFile`), used
            instead of the file above when the model gets a new head or none.
    """

    tag: str
    file: str | None = None
    url: str | None = None
    sha256: str | None = None
    dataset: str = ""
    metrics: Mapping[str, Any] = field(default_factory=dict)
    num_classes: int | None = None
    labels: tuple[str, ...] = ()
    preprocessing: Mapping[str, Any] = field(default_factory=dict)
    md5: str | None = None
    backbone: WeightsFile | None = None

    def __post_init__(self):
        if not isinstance(self.tag, str) or not _NAME_RE.match(self.tag):
            raise ValueError(
                f"weights tag {self.tag!r} is not valid: use letters, digits, '_' and '-' (no dots)"
            )
        if not self.file and not self.url:
            raise ValueError(f"weights {self.tag!r} need a file (package resource or path) or a url")
        sha256, md5 = _check_digests(f"weights {self.tag!r}", self.sha256, self.md5)
        object.__setattr__(self, "sha256", sha256)
        object.__setattr__(self, "md5", md5)
        if self.backbone is not None and not isinstance(self.backbone, WeightsFile):
            raise TypeError(f"weights {self.tag!r}: backbone must be a WeightsFile, got {type(self.backbone).__name__}")
        labels = tuple(str(label) for label in self.labels)
        object.__setattr__(self, "labels", labels)
        if labels and self.num_classes is None:
            object.__setattr__(self, "num_classes", len(labels))
        if labels and self.num_classes != len(labels):
            raise ValueError(
                f"weights {self.tag!r} have {len(labels)} labels but num_classes={self.num_classes}"
            )
        object.__setattr__(self, "metrics", _frozen_mapping(self.metrics))
        object.__setattr__(self, "preprocessing", _frozen_mapping(self.preprocessing))

    @property
    def digest(self) -> tuple[str, str]:
        """(algorithm, hex digest) the file is checked with: sha256 when known, else md5."""
        return ("sha256", self.sha256) if self.sha256 else ("md5", self.md5)

    def to_dict(self) -> dict:
        return {
            "tag": self.tag,
            "file": self.file,
            "url": self.url,
            "sha256": self.sha256,
            "md5": self.md5,
            "dataset": self.dataset,
            "metrics": dict(self.metrics),
            "num_classes": self.num_classes,
            "labels": list(self.labels),
            "preprocessing": dict(self.preprocessing),
            "backbone": self.backbone.to_dict() if self.backbone is not None else None,
        }


@dataclass(frozen=True)
class ModelSpec:
    """Everything the registry knows about one architecture.

    Args:
        name: unique architecture name (no dots).
        family: "cnn", "rnn", "autoencoder", ...
        task: "image-classification", "sequence-classification", "forecasting",
            "reconstruction", ...
        builder: ``builder(*, input_shape, num_classes, **kwargs) -> keras.Model``, or the
            string ``"module.path:function"`` naming it (imported only at create time).
        default_input_shape: input shape without the batch axis.
        default_num_classes: classes of the default head (None for tasks without one).
        capabilities: subset of ``{"features_only", "variable_input_size", "exportable"}``.
        description, paper, license: shown by ``zoo info``.
        weights: pretrained :class:`WeightsSpec` entries; the first is the default.
        default_kwargs: extra builder arguments; ``create_model(**overrides)`` wins.
        head: name of the classifier layer, replaced when ``num_classes`` changes.
        aliases: other names that resolve to this spec, ``"name"`` or ``"name.tag"``
            (the tag one of this spec's): e.g. ``"resnet50.imagenet"`` for the Keras
            ResNet50 weights, whose architecture is not the zoo's own ``resnet50``.
            A registered architecture name always wins over an alias.
    """

    name: str
    family: str
    task: str
    builder: Callable[..., Any] | str
    default_input_shape: tuple
    default_num_classes: int | None = None
    capabilities: frozenset[str] = frozenset()
    description: str = ""
    paper: str = ""
    license: str = ""
    weights: tuple[WeightsSpec, ...] = ()
    default_kwargs: Mapping[str, Any] = field(default_factory=dict)
    head: str = "head"
    aliases: tuple[str, ...] = ()

    def __post_init__(self):
        if not isinstance(self.name, str) or not _NAME_RE.match(self.name):
            raise ValueError(
                f"model name {self.name!r} is not valid: use letters, digits, '_' and '-' "
                "(a dot separates the architecture from a pretrained tag)"
            )
        if isinstance(self.builder, str):
            if not _BUILDER_RE.match(self.builder):
                raise ValueError(
                    f"{self.name}: builder {self.builder!r} must be a callable or 'module.path:function'"
                )
        elif not callable(self.builder):
            raise TypeError(f"{self.name}: builder must be a callable or 'module.path:function'")
        capabilities = frozenset(self.capabilities)
        unknown = capabilities - CAPABILITIES
        if unknown:
            raise ValueError(
                f"{self.name}: unknown capabilities {sorted(unknown)}; known: {sorted(CAPABILITIES)}"
            )
        object.__setattr__(self, "capabilities", capabilities)
        object.__setattr__(self, "default_input_shape", tuple(self.default_input_shape))
        weights = tuple(self.weights)
        for w in weights:
            if not isinstance(w, WeightsSpec):
                raise TypeError(f"{self.name}: weights must be WeightsSpec objects, got {type(w).__name__}")
        tags = [w.tag for w in weights]
        if len(set(tags)) != len(tags):
            raise ValueError(f"{self.name}: weights tags must be unique, got {tags}")
        object.__setattr__(self, "weights", weights)
        object.__setattr__(self, "default_kwargs", _frozen_mapping(self.default_kwargs))
        aliases = (self.aliases,) if isinstance(self.aliases, str) else tuple(self.aliases)
        for alias in aliases:
            arch, dot, tag = str(alias).partition(".")
            if not _NAME_RE.match(arch) or (dot and tag not in tags):
                raise ValueError(
                    f"{self.name}: alias {alias!r} must be 'name' or 'name.tag' with a tag of this "
                    f"model ({', '.join(tags) or 'it has none'})"
                )
        object.__setattr__(self, "aliases", aliases)

    @property
    def builder_path(self) -> str:
        """The builder as ``"module:qualname"`` (what ``zoo info`` shows)."""
        if isinstance(self.builder, str):
            return self.builder
        return f"{getattr(self.builder, '__module__', '?')}:{getattr(self.builder, '__qualname__', repr(self.builder))}"

    def resolve_builder(self) -> Callable[..., Any]:
        """The builder callable, importing its module if the spec names it by string."""
        if callable(self.builder):
            return self.builder
        module_name, _, attr = self.builder.partition(":")
        obj: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
        return obj

    @property
    def tags(self) -> tuple[str, ...]:
        return tuple(w.tag for w in self.weights)

    def get_weights(self, tag: str | None = None) -> WeightsSpec:
        """The weights entry ``tag`` (the first one when None)."""
        if not self.weights:
            raise UnknownModelError(f"model {self.name!r} has no pretrained weights")
        if tag is None:
            return self.weights[0]
        for w in self.weights:
            if w.tag == tag:
                return w
        raise UnknownModelError(
            f"model {self.name!r} has no pretrained weights tagged {tag!r}; available: {', '.join(self.tags)}"
        )

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "family": self.family,
            "task": self.task,
            "builder": self.builder_path,
            "default_input_shape": list(self.default_input_shape),
            "default_num_classes": self.default_num_classes,
            "capabilities": sorted(self.capabilities),
            "description": self.description,
            "paper": self.paper,
            "license": self.license,
            "head": self.head,
            "aliases": list(self.aliases),
            "default_kwargs": dict(self.default_kwargs),
            "weights": [w.to_dict() for w in self.weights],
        }
