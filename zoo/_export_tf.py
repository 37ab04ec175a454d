"""``python -m zoo._export_tf MODEL.keras PATH FORMAT BATCH_SIZE VERBOSE``: the
TensorFlow side of :func:`zoo.export` for a model built on another Keras
backend. Run with KERAS_BACKEND=tensorflow; prints one JSON line
(``{"ok": ..., "warnings": [...], "error": ...}``) for the parent to relay."""

import json
import sys
import warnings


def main(argv):
    model_path, out_path, fmt, batch_size, verbose = argv
    import keras

    if keras.backend.backend() != "tensorflow":
        print(json.dumps({"ok": False, "error": "run this with KERAS_BACKEND=tensorflow"}))
        return 2
    import zoo

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            zoo.export(model_path, out_path, format=fmt, batch_size=int(batch_size),
                       verbose=verbose == "1")
        except Exception as exc:  # relayed to the parent as ExportError
            print(json.dumps({"ok": False, "error": f"{type(exc).__name__}: {exc}"}))
            return 1
    zoo_warnings = [str(w.message) for w in caught if w.filename and "zoo" in w.filename]
    print(json.dumps({"ok": True, "warnings": zoo_warnings}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
