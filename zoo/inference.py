"""A model over many samples on TensorFlow, without Keras' work per batch.

``model.predict(x)`` spends, per batch, a gather in its array pipeline (a
tf.data ``map`` on tf.data's threads), one call into TensorFlow and the
Python around it. For a model whose own work is a few milliseconds that is
as much again: lstm_classifier with zoo's fused layers computes a batch of 64
in 2.6-3.1 ms and ``model.predict`` takes 6.1 ms a batch
(benchmarks/RESULTS.md, "Batch inference: zoo.predict").

:func:`predict` hands TensorFlow up to ``steps_per_call`` batches at once and
loops over them inside one graph (a ``tf.while_loop`` writing each batch's
outputs to a ``TensorArray``), and returns what ``model.predict`` returns:
``model(batch, training=False)`` for consecutive batches, concatenated, as
numpy arrays in the model's output structure. On the other Keras backends it
is ``model.predict`` (JAX's jitted step with a numpy iterator is already
lean there).

The graph is TensorFlow's own (XLA is not asked for, whatever the model was
compiled with), so zoo's layers take their native ops, and a model's weights
are read at run time: training it between calls needs no new trace.
"""

from __future__ import annotations

import weakref

import numpy as np

# Inputs moved to TensorFlow at once: at most this many bytes (and at least
# one batch), so a large array is never copied whole.
CHUNK_BYTES = 32 << 20

_graphs: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def predict(model, x, *, batch_size: int = 32, steps_per_call: int = 32):
    """Outputs of ``model`` over every sample of ``x``, in batches.

    Args:
        model: a built Keras model (any model, zoo's or not).
        x: an array, or a list / tuple / dict of arrays as the model takes
            them, all with the same number of samples.
        batch_size: samples per batch (the last batch may be smaller), as in
            ``model.predict``.
        steps_per_call: batches per call into TensorFlow (at most; fewer
            when a chunk of CHUNK_BYTES holds fewer).

    Returns:
        numpy arrays in the structure of the model's outputs, one row per
        sample, equal to ``model.predict(x, batch_size=batch_size)``'s.
    """
    import keras

    for name, value in (("batch_size", batch_size), ("steps_per_call", steps_per_call)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    batch_size, steps_per_call = int(batch_size), int(steps_per_call)
    leaves = [_as_array(a) for a in keras.tree.flatten(x)]
    if not leaves:
        raise ValueError("x holds no arrays")
    lengths = {len(a) for a in leaves}
    if len(lengths) > 1:
        raise ValueError(f"x's arrays differ in their number of samples: {sorted(lengths)}")
    n = lengths.pop()
    if n == 0:
        raise ValueError("x has no samples")
    if keras.backend.backend() != "tensorflow":
        return model.predict(x, batch_size=batch_size, verbose=0)

    import tensorflow as tf

    # Floats in Keras' floatx, as fit and predict cast them.
    floatx = np.dtype(keras.config.floatx())
    leaves = [a.astype(floatx) if a.dtype.kind == "f" and a.dtype != floatx else a
              for a in leaves]
    run = _graph(model)
    row_bytes = sum(a[:1].nbytes for a in leaves)
    per_call = batch_size * max(1, min(steps_per_call, CHUNK_BYTES // max(1, row_bytes * batch_size)))
    pieces = []
    for start in range(0, n, per_call):
        chunk = [tf.convert_to_tensor(a[start:start + per_call]) for a in leaves]
        out = run(keras.tree.pack_sequence_as(x, chunk), tf.constant(batch_size))
        pieces.append([t.numpy() for t in keras.tree.flatten(out)])
    outputs = [np.concatenate(parts) if len(pieces) > 1 else parts[0] for parts in zip(*pieces)]
    return keras.tree.pack_sequence_as(out, outputs)


def _as_array(a):
    a = np.asarray(a)
    if a.ndim == 0:
        raise ValueError("x must hold arrays with a sample axis, got a scalar")
    return a


def _graph(model):
    """The model's batch loop as one tf.function, kept per model (a weak key:
    dropping the model drops it). Shapes are left open (reduce_retracing), so
    the full chunks, the last one and any batch size share a trace or two."""
    run = _graphs.get(model)
    if run is None:
        run = _make_graph(model)
        _graphs[model] = run
    return run


def _make_graph(model):
    import keras
    import tensorflow as tf

    # A weak reference: the function is the model's value in _graphs, and a
    # strong one would keep the model (its key) alive for ever. Tracing needs
    # the model; a traced graph holds only its variables.
    model_ref = weakref.ref(model)

    @tf.function(reduce_retracing=True)
    def run(x, batch_size):
        model = model_ref()
        leaves = keras.tree.flatten(x)
        n = tf.shape(leaves[0])[0]
        batches = (n + batch_size - 1) // batch_size

        def batch(i):
            lo = i * batch_size
            hi = tf.minimum(lo + batch_size, n)
            return keras.tree.pack_sequence_as(x, [t[lo:hi] for t in leaves])

        # The first batch outside the loop: it gives the outputs' structure
        # and dtypes for the TensorArrays.
        first = model(batch(0), training=False)
        flat = [tf.convert_to_tensor(t) for t in keras.tree.flatten(first)]
        arrays = [tf.TensorArray(t.dtype, size=batches, infer_shape=False).write(0, t)
                  for t in flat]

        def body(i, arrays):
            out = keras.tree.flatten(model(batch(i), training=False))
            return i + 1, [ta.write(i, tf.convert_to_tensor(t)) for ta, t in zip(arrays, out)]

        # One batch at a time: zoo's fused layers already use every core, and
        # overlapping iterations would only make them compete for the cores.
        _, arrays = tf.while_loop(lambda i, _: i < batches, body, (tf.constant(1), arrays),
                                  parallel_iterations=1)
        return keras.tree.pack_sequence_as(first, [ta.concat() for ta in arrays])

    return run
