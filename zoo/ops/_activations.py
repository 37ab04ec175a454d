"""Activation specs shared by every fused op: parsing what users pass (names,
keras.activations functions, dicts) into one canonical form, and the
``keras.ops`` reference that defines each activation's semantics.

Parsing is pure Python (no Keras, no TensorFlow): the registry and the CLI use it too.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

# Canonical kernel names, in the order of csrc/kernels/activation.h.
KERNEL_ACTIVATIONS = (
    "linear", "relu", "elu", "selu", "gelu", "gelu_tanh", "silu", "sigmoid", "tanh",
    "softplus", "mish", "hard_sigmoid", "hard_silu",
)

# Spellings users may write, mapped to (kernel name, keyword defaults) with
# Keras' own defaults (keras.activations.leaky_relu's negative_slope is 0.2).
_ALIASES: dict[str, tuple[str, dict]] = {
    "linear": ("linear", {}),
    "relu": ("relu", {}),
    "relu6": ("relu", {"max_value": 6.0}),
    "leaky_relu": ("relu", {"negative_slope": 0.2}),
    "elu": ("elu", {"alpha": 1.0}),
    "selu": ("selu", {}),
    "gelu": ("gelu", {}),
    "gelu_tanh": ("gelu_tanh", {}),
    "gelu_approximate": ("gelu_tanh", {}),
    "silu": ("silu", {}),
    "swish": ("silu", {}),
    "sigmoid": ("sigmoid", {}),
    "tanh": ("tanh", {}),
    "softplus": ("softplus", {}),
    "mish": ("mish", {}),
    "hard_sigmoid": ("hard_sigmoid", {}),
    "hard_silu": ("hard_silu", {}),
    "hard_swish": ("hard_silu", {}),
}


@dataclass(frozen=True)
class Activation:
    """A resolved activation: kernel name plus its parameters.

    ``alpha`` is relu's negative_slope or elu's alpha; ``max_value`` None means no cap.
    """

    name: str = "linear"
    alpha: float = 0.0
    max_value: float | None = None
    threshold: float = 0.0

    def __post_init__(self):
        if self.name not in KERNEL_ACTIVATIONS:
            raise ValueError(f"unknown activation {self.name!r}")
        if self.name == "relu":
            if self.max_value is not None and not (self.max_value > 0):
                raise ValueError(f"relu max_value must be positive or None, got {self.max_value}")
            if not self.alpha >= 0:
                raise ValueError(f"relu negative_slope must be >= 0, got {self.alpha}")
            if not self.threshold >= 0:
                raise ValueError(
                    f"relu threshold must be >= 0 for the fused kernels, got {self.threshold}"
                )

    @property
    def fused_by_tensorflow(self) -> bool:
        """No activation, or relu without slope, cap or threshold: what
        TensorFlow's graph optimizer folds into a MatMul or Conv2D before it
        (with the BiasAdd), so the dispatch can leave such cases to it."""
        return self.name == "linear" or (self.name == "relu" and self.alpha == 0.0
                                         and self.max_value is None and self.threshold == 0.0)

    def config(self):
        """A JSON-friendly form that :func:`resolve` reads back."""
        if self == resolve(self.name):
            return self.name
        return {k: v for k, v in asdict(self).items()}

    def kernel_kwargs(self) -> dict:
        return {
            "activation": self.name,
            "alpha": float(self.alpha),
            "max_value": None if self.max_value is None else float(self.max_value),
            "threshold": float(self.threshold),
        }


def _from_name(name: str, **overrides) -> Activation:
    key = name.lower()
    if key not in _ALIASES:
        raise ValueError(
            f"unknown activation {name!r}; expected one of {', '.join(sorted(_ALIASES))}"
        )
    kernel, defaults = _ALIASES[key]
    params = {**defaults, **{k: v for k, v in overrides.items() if v is not None}}
    if kernel == "relu":
        slope = float(params.get("negative_slope", 0.0))
        mv = params.get("max_value")
        return Activation(
            "relu",
            alpha=slope,
            max_value=None if mv is None or math.isinf(float(mv)) else float(mv),
            threshold=float(params.get("threshold", 0.0)),
        )
    if kernel == "elu":
        return Activation("elu", alpha=float(params.get("alpha", 1.0)))
    if kernel in ("gelu", "gelu_tanh") and params.get("approximate"):
        return Activation("gelu_tanh")
    return Activation(kernel)


def resolve(activation) -> Activation:
    """Turn None, a name, a dict, an Activation or a keras.activations function
    into an :class:`Activation`; raise ValueError naming what was not understood."""
    if activation is None:
        return Activation("linear")
    if isinstance(activation, Activation):
        return activation
    if isinstance(activation, str):
        return _from_name(activation)
    if isinstance(activation, dict):
        d = dict(activation)
        name = d.pop("name", None)
        if name is None:
            raise ValueError(f"activation dict needs a 'name' key: {activation!r}")
        if name in KERNEL_ACTIVATIONS and set(d) <= {"alpha", "max_value", "threshold"}:
            return Activation(name, **d)
        return _from_name(name, **d)
    if callable(activation):
        fn_name = getattr(activation, "__name__", None)
        module = getattr(activation, "__module__", "") or ""
        if fn_name in _ALIASES and module.startswith("keras"):
            return _from_name(fn_name)
        raise ValueError(
            f"activation {activation!r} has no fused kernel; use one of "
            f"{', '.join(sorted(_ALIASES))} or keras.layers.Activation"
        )
    raise ValueError(f"cannot interpret {activation!r} as an activation")


def apply_reference(z, act: Activation):
    """The semantics of every fused activation, in keras.ops / keras.activations."""
    import keras

    a = keras.activations
    name = act.name
    if name == "linear":
        return z
    if name == "relu":
        return a.relu(z, negative_slope=act.alpha, max_value=act.max_value, threshold=act.threshold)
    if name == "elu":
        return a.elu(z, alpha=act.alpha)
    if name == "gelu":
        return a.gelu(z, approximate=False)
    if name == "gelu_tanh":
        return a.gelu(z, approximate=True)
    return getattr(a, name)(z)
