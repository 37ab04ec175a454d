"""Keras layers on zoo's fused ops (drop-ins for the stock layers they replace).
May import ``zoo.ops`` and keras; never models, the registry or anything above."""

from zoo.layers.bias_activation import BiasActivation
from zoo.layers.fused_dense import FusedDense
from zoo.layers.masking import Masking
from zoo.layers.recurrent import GRU, LSTM

__all__ = ["BiasActivation", "FusedDense", "GRU", "LSTM", "Masking"]
