"""Type stub for the compiled module zoo._C (csrc/python/module.cc)."""

from typing import Any

import numpy as np

class KernelError(ValueError): ...

def bias_act(
    x: np.ndarray,
    bias: np.ndarray | None = None,
    activation: str = "linear",
    alpha: float | None = None,  # None: Keras default (elu 1.0, else 0.0)
    max_value: float | None = None,
    threshold: float = 0.0,
) -> np.ndarray: ...
def bias_act_backward(
    dy: np.ndarray,
    x: np.ndarray,
    bias: np.ndarray | None = None,
    activation: str = "linear",
    alpha: float | None = None,  # None: Keras default (elu 1.0, else 0.0)
    max_value: float | None = None,
    threshold: float = 0.0,
) -> tuple[np.ndarray, np.ndarray | None]: ...
def build_info() -> dict[str, Any]: ...
def get_isa() -> str: ...
def set_isa(name: str) -> None: ...
def reset_isa() -> None: ...
def activations() -> list[str]: ...
def __getattr__(name: str) -> Any: ...  # dense and cuda entry points, when built
