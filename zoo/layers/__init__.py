"""Keras layers on zoo's fused ops."""

from zoo.layers.bias_activation import BiasActivation
from zoo.layers.fused_dense import FusedDense

__all__ = ["BiasActivation", "FusedDense"]
