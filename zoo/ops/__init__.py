"""Fused ops, the step below the layers. Each has a public function, a ``*_ref``
in keras.ops that defines its semantics (and is the fallback and export path),
and a native kernel used when the op library loads. May import ``zoo._native``
and keras; never layers, models or anything above."""

from zoo.ops._activations import KERNEL_ACTIVATIONS, Activation, resolve as resolve_activation
from zoo.ops.bias_act import bias_act, bias_act_ref
from zoo.ops.dense import dense, dense_ref
from zoo.ops.rnn import gru, gru_ref, lstm, lstm_ref
from zoo.ops.sequence_mask import sequence_mask, sequence_mask_ref

__all__ = [
    "Activation", "KERNEL_ACTIVATIONS", "bias_act", "bias_act_ref", "dense", "dense_ref",
    "gru", "gru_ref", "lstm", "lstm_ref", "resolve_activation", "sequence_mask",
    "sequence_mask_ref",
]
