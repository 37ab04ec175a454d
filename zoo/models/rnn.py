"""RNN family specs (sequence classification and forecasting). Spec-only: the
builders live in zoo.models._rnn_build and load when a model is created."""

from zoo.registry import ModelSpec

_BUILD = "zoo.models._rnn_build"
_SEQ = ("Inputs are (time, features); time may be None. Padded steps equal to mask_value "
        "(0.0) are masked. Keyword arguments: units (one per stacked layer), bidirectional, "
        "masking, projection, dropout, native.")


def _classifier(name, cell, bidirectional=False):
    return ModelSpec(
        name=name,
        family="rnn",
        task="sequence-classification",
        builder=f"{_BUILD}:sequence_classifier",
        default_input_shape=(None, 8),
        default_num_classes=2,
        capabilities=frozenset({"variable_input_size", "exportable"}),
        description=f"{'Bidirectional ' if bidirectional else ''}{cell.upper()} sequence "
        f"classifier. {_SEQ}",
        paper="Hochreiter & Schmidhuber (1997)" if cell == "lstm" else "Cho et al. (2014)",
        license="Apache-2.0",
        default_kwargs={"cell": cell, "bidirectional": bidirectional},
    )


def _forecaster(name, cell):
    return ModelSpec(
        name=name,
        family="rnn",
        task="forecasting",
        builder=f"{_BUILD}:forecaster",
        default_input_shape=(None, 1),
        default_num_classes=1,
        capabilities=frozenset({"variable_input_size", "exportable"}),
        description=f"{cell.upper()} forecaster: a window in, the next num_classes values "
        f"(the horizon) out, linear head. {_SEQ}",
        paper="Hochreiter & Schmidhuber (1997)" if cell == "lstm" else "Cho et al. (2014)",
        license="Apache-2.0",
        default_kwargs={"cell": cell},
    )


SPECS = [
    _classifier("lstm_classifier", "lstm"),
    _classifier("gru_classifier", "gru"),
    _classifier("bilstm_classifier", "lstm", bidirectional=True),
    _forecaster("lstm_forecaster", "lstm"),
    _forecaster("gru_forecaster", "gru"),
    ModelSpec(
        name="conv_lstm_classifier",
        family="rnn",
        task="sequence-classification",
        builder=f"{_BUILD}:conv_rnn_classifier",
        default_input_shape=(None, 8),
        default_num_classes=2,
        capabilities=frozenset({"variable_input_size", "exportable"}),
        description="1-D convolution + max pooling, then an LSTM (cell='gru' for a GRU). "
        "No masking: pooling changes the time axis. Keyword arguments: filters, kernel_size, "
        "pool_size, units, bidirectional, projection, dropout, native.",
        license="Apache-2.0",
        default_kwargs={"cell": "lstm"},
    ),
]
