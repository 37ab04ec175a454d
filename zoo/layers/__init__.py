"""Keras layers on zoo's fused ops."""

from zoo.layers.bias_activation import BiasActivation

__all__ = ["BiasActivation"]
