"""Exporting models: ``.keras``, TensorFlow SavedModel, TFLite and ONNX.

Every format but ``keras`` is a TensorFlow artifact. On another Keras backend
(JAX) the model goes through a ``.keras`` file to a child process on the
TensorFlow backend (``python -m zoo._export_tf``), which writes it: the same
weights and the same graph as an export made on TensorFlow, without jax2tf.

Every format but ``keras`` is traced with zoo's native kernels switched off
(:func:`zoo.native` ``(False)``), so the fused layers lower to their
``keras.ops`` reference: the artifact holds only standard TensorFlow ops and
runs where keras-zoo is not installed. The SavedModel is checked for leftover
``Zoo*`` ops before it is handed over.

``zoo.export`` is both this module and its :func:`export` function (the module
is callable, as ``zoo.finetune`` is).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import types
import warnings
from pathlib import Path

from zoo.errors import ZooError

FORMATS = ("keras", "savedmodel", "tflite", "onnx")
_SUFFIXES = {"keras": ".keras", "tflite": ".tflite", "onnx": ".onnx"}


class ExportError(ZooError, RuntimeError):
    """An export could not be made (a missing converter, a native op left in the graph)."""


def export(model, path, format="keras", *, batch_size=1, overwrite=True, verbose=False):
    """Write ``model`` to ``path`` in ``format``.

    Args:
        model: a Keras model (zoo's or any other), or the path of a ``.keras`` file.
        path: where to write: a ``.keras`` file, a SavedModel directory, a
            ``.tflite`` file or an ``.onnx`` file.
        format: ``"keras"`` (loading it needs keras-zoo for the zoo layers),
            ``"savedmodel"`` (``tf.saved_model.load(path).serve(x)``),
            ``"tflite"`` (``tf.lite.Interpreter``) or ``"onnx"`` (needs tf2onnx).
        batch_size: the fixed batch size of a TFLite model (TFLite wants static
            shapes for recurrent layers' state); the other formats keep it free.
        overwrite: replace an existing file or directory at ``path``.
        verbose: let the converters print their logs.

    Returns:
        The path written, as a ``Path``.

    Example:
    >>> zoo.export(model, "model.tflite", format="tflite")
    """
    if format not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {format!r}")
    if not isinstance(batch_size, int) or batch_size <= 0:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    path = Path(path)
    suffix = _SUFFIXES.get(format)
    if suffix and path.suffix != suffix:
        raise ValueError(f"a {format} export must be a file ending in {suffix}, got {path.name!r}")
    import keras

    if isinstance(model, (str, os.PathLike)):
        import zoo.models._serializables  # noqa: F401  (zoo layers in the file)

        model = keras.saving.load_model(model, compile=False, safe_mode=True)
    if path.exists():
        if not overwrite:
            raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    path.parent.mkdir(parents=True, exist_ok=True)
    if format == "keras":
        model.save(path)
    elif keras.backend.backend() != "tensorflow":
        _export_in_tensorflow(model, path, format, verbose, batch_size)
    elif format == "savedmodel":
        _savedmodel(model, path, verbose)
    elif format == "tflite":
        _tflite(model, path, verbose, batch_size)
    else:
        _onnx(model, path, verbose)
    return path


def _export_in_tensorflow(model, path, format, verbose, batch_size):
    import json
    import subprocess

    with tempfile.TemporaryDirectory() as tmp:
        saved = Path(tmp) / "model.keras"
        model.save(saved)
        env = dict(os.environ, KERAS_BACKEND="tensorflow")
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        proc = subprocess.run(
            [sys.executable, "-m", "zoo._export_tf", str(saved), str(path.resolve()), format,
             str(batch_size), "1" if verbose else "0"],
            env=env, cwd=tmp, capture_output=True, text=True)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    report = json.loads(lines[-1]) if lines else {}
    for message in report.get("warnings", []):
        warnings.warn(message, stacklevel=3)
    if proc.returncode != 0 or not report.get("ok"):
        detail = report.get("error") or proc.stderr.strip()[-2000:] or f"exit code {proc.returncode}"
        raise ExportError(f"the {format} export on the TensorFlow backend failed: {detail}")


def _savedmodel(model, path, verbose, batch_size=None):
    import keras
    import tensorflow as tf

    from zoo._native import native

    specs = [tf.TensorSpec((batch_size,) + tuple(t.shape[1:]), t.dtype) for t in model.inputs]
    archive = keras.export.ExportArchive()
    archive.track(model)
    # Tracing happens in add_endpoint: with native off the zoo layers emit
    # their keras.ops reference instead of the Zoo* ops of the op library.
    with native(False):
        archive.add_endpoint(
            "serve",
            lambda *xs: model(xs[0] if len(xs) == 1 else list(xs), training=False),
            input_signature=specs,
        )
        archive.write_out(str(path), verbose=verbose)
    leftovers = native_ops_in_savedmodel(path)
    if leftovers:
        shutil.rmtree(path, ignore_errors=True)
        raise ExportError(
            f"the exported graph still holds keras-zoo's native ops {sorted(leftovers)}; a layer "
            "called them without checking zoo.native. Report it with the model's summary."
        )


def native_ops_in_savedmodel(path) -> set[str]:
    """The ``Zoo*`` op types anywhere in a SavedModel's graphs."""
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((Path(path) / "saved_model.pb").read_bytes())
    return {n.op for meta in proto.meta_graphs for n in _all_nodes(meta.graph_def)
            if n.op.startswith("Zoo")}


def _tflite(model, path, verbose, batch_size):
    import tensorflow as tf

    with tempfile.TemporaryDirectory() as tmp:
        # A fixed batch size: Keras' LSTM/GRU keep their states in TensorLists,
        # and TFLite's builtin ops need those lists' element shapes static.
        # Other axes (a sequence's time) may stay free.
        saved = Path(tmp) / "savedmodel"
        _savedmodel(model, saved, verbose, batch_size=batch_size)
        try:
            # Builtin ops only: the pip tf.lite.Interpreter and bare TFLite
            # runtimes lack the Flex delegate that TF ops would need.
            flatbuffer = tf.lite.TFLiteConverter.from_saved_model(str(saved)).convert()
        except Exception as exc:  # the converter raises ConverterError and friends
            # Some graphs need TF ops; such a file runs where the Flex delegate
            # is linked in (e.g. tensorflow-lite-select-tf-ops on Android).
            converter = tf.lite.TFLiteConverter.from_saved_model(str(saved))
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS,
                                                   tf.lite.OpsSet.SELECT_TF_OPS]
            flatbuffer = converter.convert()
            warnings.warn(f"{model.name} needs TensorFlow ops in TFLite ({str(exc)[:300]}); the "
                          ".tflite file runs only with the Flex delegate", stacklevel=3)
    path.write_bytes(flatbuffer)


def _all_nodes(graph_def):
    yield from graph_def.node
    for fn in graph_def.library.function:
        yield from fn.node_def


def _onnx(model, path, verbose):
    try:
        import tf2onnx
    except ImportError:
        raise ExportError(
            "ONNX export needs tf2onnx, which is not installed: pip install tf2onnx onnx "
            "(tf2onnx 1.17 converts these models under TF 2.21 and numpy 2, though its own "
            "test matrix stops at TF 2.15)"
        ) from None
    from zoo._native import native

    import tensorflow as tf

    specs = [tf.TensorSpec((None,) + tuple(t.shape[1:]), t.dtype, name=f"input_{i}")
             for i, t in enumerate(model.inputs)]
    fn = tf.function(lambda *xs: model(xs[0] if len(xs) == 1 else list(xs), training=False))
    try:
        with native(False):
            tf2onnx.convert.from_function(fn, input_signature=specs, output_path=str(path))
    except Exception as exc:
        raise ExportError(
            f"tf2onnx could not convert {model.name!r} ({type(exc).__name__}: {exc}). tf2onnx's "
            "test matrix stops at TensorFlow 2.15 and keras-zoo pins TF 2.21; export "
            "format='savedmodel' instead, or convert that with `python -m tf2onnx.convert`."
        ) from exc


class _CallableModule(types.ModuleType):
    """``zoo.export(...)`` calls :func:`export` even once this module is imported."""

    def __call__(self, *args, **kwargs):
        return export(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
