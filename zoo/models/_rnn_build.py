"""Keras builders for the RNN family (specs in zoo.models.rnn).

Inputs are (time, features); time may be None for variable-length sequences.
With ``masking=True`` padded steps (every feature equal to ``mask_value``) are
skipped by the recurrent layers. With ``native=True`` the recurrent layers are
zoo.layers.LSTM / GRU (the whole sequence in zoo's fused kernel on CPU) and the
masking layer zoo.layers.Masking (one native op); with ``native=False`` Keras'
own, with the same weights. The projection and the
head are zoo layers. They come after the last recurrent layer, on its final state, because
FusedDense does not propagate Keras masks: a projection before the RNN would
silently drop the mask.
"""

from __future__ import annotations

import keras

from zoo import layers as zoo_layers
from zoo.models._common import Blocks, check_common

_L = keras.layers
_CELLS = {"lstm": _L.LSTM, "gru": _L.GRU}
_NATIVE_CELLS = {"lstm": zoo_layers.LSTM, "gru": zoo_layers.GRU}


def _cell_class(cell, native):
    return (_NATIVE_CELLS if native else _CELLS)[cell]


def _sequence_input(input_shape):
    shape = tuple(input_shape)
    if len(shape) != 2 or shape[-1] is None:
        raise ValueError(
            f"input_shape must be (time, features) with a known feature count, got {shape}; "
            "use None for the time axis of variable-length sequences"
        )
    return keras.Input(shape, name="sequence")


def _recurrent_stack(x, *, cell, units, bidirectional, native):
    if cell not in _CELLS:
        raise ValueError(f"cell must be one of {sorted(_CELLS)}, got {cell!r}")
    units = (units,) if isinstance(units, int) else tuple(units)
    if not units or any(not isinstance(u, int) or u <= 0 for u in units):
        raise ValueError(f"units must be a positive integer or a non-empty list of them, got {units!r}")
    for i, u in enumerate(units):
        last = i == len(units) - 1
        layer = _cell_class(cell, native)(u, return_sequences=not last, name=f"{cell}{i + 1}")
        if bidirectional:
            layer = _L.Bidirectional(layer, name=f"bi{cell}{i + 1}")
        x = layer(x)
    return x


def _rnn_model(*, input_shape, outputs, name, cell, units, bidirectional, masking, mask_value,
               projection, activation, dropout, native, classifier_activation, conv=None):
    blocks = Blocks(native)
    inputs = _sequence_input(input_shape)
    x = inputs
    if masking:
        masking_layer = zoo_layers.Masking if native else _L.Masking
        x = masking_layer(mask_value=mask_value, name="mask")(x)
    if conv is not None:
        filters, kernel_size, pool = conv
        x = blocks.conv_act(x, _L.Conv1D, filters, kernel_size, activation, name="conv1",
                            padding="same")
        if pool > 1:
            x = _L.MaxPooling1D(pool, name="pool1")(x)
    x = _recurrent_stack(x, cell=cell, units=units, bidirectional=bidirectional, native=native)
    if projection:
        x = blocks.dense(projection, activation=activation, name="projection")(x)
    x = blocks.head(x, outputs, classifier_activation, dropout)
    return keras.Model(inputs, x, name=name)


def sequence_classifier(*, input_shape=(None, 8), num_classes=2, cell="lstm", units=(64,),
                        bidirectional=False, masking=True, mask_value=0.0, projection=64,
                        activation="relu", classifier_activation="softmax", dropout=0.0,
                        native=True):
    """Stacked (optionally bidirectional) LSTM/GRU classifier of whole sequences.

    ``units`` is one width per recurrent layer; ``projection`` the width of the
    dense layer between the last state and the head (0 for none).
    """
    check_common(num_classes=num_classes, include_top=True, pooling=None, dropout=dropout)
    return _rnn_model(input_shape=input_shape, outputs=num_classes, name=f"{cell}_classifier",
                      cell=cell, units=units, bidirectional=bidirectional, masking=masking,
                      mask_value=mask_value, projection=projection, activation=activation,
                      dropout=dropout, native=native, classifier_activation=classifier_activation)


def forecaster(*, input_shape=(None, 1), num_classes=1, cell="lstm", units=(64,),
               bidirectional=False, masking=True, mask_value=0.0, projection=64,
               activation="relu", dropout=0.0, native=True):
    """Stacked LSTM/GRU forecaster: a window of (time, features) in, the next
    ``num_classes`` values of the target out (the horizon), linear head."""
    if not isinstance(num_classes, int) or num_classes <= 0:
        raise ValueError(f"num_classes is the forecast horizon, a positive integer; got {num_classes!r}")
    check_common(num_classes=num_classes, include_top=True, pooling=None, dropout=dropout)
    return _rnn_model(input_shape=input_shape, outputs=num_classes, name=f"{cell}_forecaster",
                      cell=cell, units=units, bidirectional=bidirectional, masking=masking,
                      mask_value=mask_value, projection=projection, activation=activation,
                      dropout=dropout, native=native, classifier_activation=None)


def conv_rnn_classifier(*, input_shape=(None, 8), num_classes=2, cell="lstm", units=(64,),
                        filters=64, kernel_size=5, pool_size=2, bidirectional=False,
                        projection=64, activation="relu", classifier_activation="softmax",
                        dropout=0.0, native=True):
    """1-D convolution (local patterns, shorter sequence) then LSTM/GRU.

    No masking: pooling changes the time axis, so a padding mask would no
    longer line up; pad with values the convolution can learn to ignore.
    """
    check_common(num_classes=num_classes, include_top=True, pooling=None, dropout=dropout)
    return _rnn_model(input_shape=input_shape, outputs=num_classes, name=f"conv_{cell}_classifier",
                      cell=cell, units=units, bidirectional=bidirectional, masking=False,
                      mask_value=0.0, projection=projection, activation=activation,
                      dropout=dropout, native=native, classifier_activation=classifier_activation,
                      conv=(filters, kernel_size, pool_size))
