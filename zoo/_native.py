"""Loading the native libraries, and the switch between native and reference paths.

Three libraries sit beside this file after a build: ``_C`` (pybind11, numpy in
and out), ``_zoo_tf_ops.so`` (TensorFlow ops) and, when jax was present at build
time, ``_zoo_jax_ffi.so`` (XLA FFI handlers, registered with jax on first use). Loading is lazy and remembered,
and a failure is kept with its reason so ``zoo doctor`` can show it.

``ZOO_REQUIRE_NATIVE=1`` turns any failure to load into an ImportError at the
point of use, so CI and users can insist on the native path and never pass on
a silent fallback; so is a Keras backend zoo has no kernels for (torch).
``ZOO_NATIVE=0`` (or :func:`set_native`) selects the ``keras.ops`` reference
everywhere.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import threading
from pathlib import Path

from zoo import _malloc

_PKG_DIR = Path(__file__).resolve().parent
_TF_LIB_NAME = "_zoo_tf_ops.so"
_JAX_LIB_NAME = "_zoo_jax_ffi.so"
# The XLA FFI handlers the JAX library exports; registered as custom-call
# targets of the same names (what a jitted program's HLO shows).
JAX_TARGETS = ("ZooBiasActFwd", "ZooBiasActBwd", "ZooDenseFwd", "ZooDenseBwd",
               "ZooRnnFwd", "ZooRnnBwd")
# The targets a CUDA build also implements for the GPU (csrc/jax/cuda_ffi.cc,
# exported with a "Cuda" suffix); the recurrent kernels are CPU-only.
JAX_CUDA_TARGETS = ("ZooBiasActFwd", "ZooBiasActBwd", "ZooDenseFwd", "ZooDenseBwd")

_lock = threading.Lock()
_state: dict[str, object] = {}
_use_native: bool | None = None  # None: decided by ZOO_NATIVE


class NativeUnavailableError(ImportError):
    """The native library was required (ZOO_REQUIRE_NATIVE=1) but could not be loaded."""


def native_required() -> bool:
    return os.environ.get("ZOO_REQUIRE_NATIVE", "").strip().lower() in {"1", "true", "yes", "on"}


# The Keras backends zoo has native kernels for; others (torch) run the
# keras.ops references.
NATIVE_BACKENDS = ("tensorflow", "jax")


def check_backend_has_kernels(backend: str) -> None:
    """Under ZOO_REQUIRE_NATIVE, a Keras backend zoo has no kernels for is an
    error at the first op, not a quiet run on the references."""
    if backend not in NATIVE_BACKENDS and native_required():
        raise NativeUnavailableError(
            f"ZOO_REQUIRE_NATIVE is set but zoo has no native kernels for the Keras backend "
            f"{backend!r} (they run on {' and '.join(NATIVE_BACKENDS)}); unset "
            "ZOO_REQUIRE_NATIVE to run zoo's keras.ops references on it")


def _library_dirs() -> list[Path]:
    """Where the compiled libraries may be: beside this file, or beside zoo._C
    (scikit-build-core's editable installs keep compiled files elsewhere)."""
    dirs = [_PKG_DIR]
    c = _load_c_module()
    if c is not None and getattr(c, "__file__", None):
        d = Path(c.__file__).resolve().parent
        if d not in dirs:
            dirs.append(d)
    return dirs


def _load_c_module():
    if "c" in _state:
        return _state["c"]
    try:
        from zoo import _C  # type: ignore[attr-defined]
    except ImportError as exc:  # not built, or built for another Python
        _state["c"] = None
        _state["c_error"] = f"{type(exc).__name__}: {exc}"
        return None
    _state["c"] = _C
    return _C


def c_module():
    """The pybind11 module ``zoo._C``; raises NativeUnavailableError if it cannot load."""
    with _lock:
        mod = _load_c_module()
    if mod is None:
        raise NativeUnavailableError(
            f"keras-zoo's native module zoo._C could not be loaded ({_state.get('c_error')}); "
            "reinstall keras-zoo so that its C++ extension is built"
        )
    return mod


def _load_tf_ops():
    if "tf" in _state:
        return _state["tf"]
    lib = None
    errors = []
    for d in _library_dirs():
        path = d / _TF_LIB_NAME
        if not path.exists():
            errors.append(f"{path} not found")
            continue
        try:
            import tensorflow as tf

            lib = tf.load_op_library(str(path))
            _state["tf_path"] = str(path)
            _malloc.apply()
            break
        except Exception as exc:  # TF raises NotFoundError for ABI/symbol problems
            errors.append(f"{path}: {type(exc).__name__}: {exc}")
    _state["tf"] = lib
    if lib is None:
        _state["tf_error"] = "; ".join(errors) or "no candidate location"
    return lib


def tf_ops():
    """The loaded TensorFlow op library, or None when unavailable.

    With ZOO_REQUIRE_NATIVE=1 an unavailable library raises NativeUnavailableError.
    """
    with _lock:
        lib = _load_tf_ops()
    if lib is None and native_required():
        raise NativeUnavailableError(
            "ZOO_REQUIRE_NATIVE is set but the TensorFlow op library could not be loaded: "
            f"{_state.get('tf_error')}"
        )
    return lib


def tf_ops_error() -> str | None:
    with _lock:
        _load_tf_ops()
    return _state.get("tf_error")  # type: ignore[return-value]


def tf_ops_path() -> str | None:
    return _state.get("tf_path")  # type: ignore[return-value]


def _load_jax_ops():
    if "jax" in _state:
        return _state["jax"]
    lib = None
    errors = []
    for d in _library_dirs():
        path = d / _JAX_LIB_NAME
        if not path.exists():
            errors.append(f"{path} not found (keras-zoo was built without jax)")
            continue
        try:
            import jax

            lib = ctypes.CDLL(str(path))
            for name in JAX_TARGETS:
                jax.ffi.register_ffi_target(name, jax.ffi.pycapsule(getattr(lib, name)),
                                            platform="cpu")
            # A build with ZOO_WITH_CUDA also holds the CUDA handlers, registered
            # under the same target names: XLA picks the one for the device.
            cuda = hasattr(lib, JAX_CUDA_TARGETS[0] + "Cuda")
            for name in JAX_CUDA_TARGETS if cuda else ():
                jax.ffi.register_ffi_target(name, jax.ffi.pycapsule(getattr(lib, name + "Cuda")),
                                            platform="CUDA")
            _state["jax_cuda"] = cuda
            _state["jax_path"] = str(path)
            _malloc.apply()
            break
        except Exception as exc:  # missing symbol, jax without jax.ffi, ...
            lib = None
            errors.append(f"{path}: {type(exc).__name__}: {exc}")
    _state["jax"] = lib
    if lib is None:
        _state["jax_error"] = "; ".join(errors) or "no candidate location"
    return lib


def jax_ops():
    """The JAX FFI library (a ctypes handle) with its targets registered, or None.

    With ZOO_REQUIRE_NATIVE=1 an unavailable library raises NativeUnavailableError.
    """
    with _lock:
        lib = _load_jax_ops()
    if lib is None and native_required():
        raise NativeUnavailableError(
            "ZOO_REQUIRE_NATIVE is set but the JAX FFI library could not be loaded: "
            f"{_state.get('jax_error')}"
        )
    return lib


def jax_ops_error() -> str | None:
    with _lock:
        _load_jax_ops()
    return _state.get("jax_error")  # type: ignore[return-value]


def jax_ops_path() -> str | None:
    return _state.get("jax_path")  # type: ignore[return-value]


def jax_ops_cuda() -> bool:
    """Whether the loaded JAX library holds the CUDA handlers (a ZOO_WITH_CUDA build)."""
    with _lock:
        _load_jax_ops()
    return bool(_state.get("jax_cuda", False))


def use_jax_native() -> bool:
    """True when ops should run through the JAX FFI library: native enabled, the
    Keras backend is JAX, and the library loads (else, with ZOO_REQUIRE_NATIVE,
    an error)."""
    if not native_enabled():
        return False
    import keras

    backend = keras.backend.backend()
    if backend != "jax":
        check_backend_has_kernels(backend)
        return False
    return jax_ops() is not None


def set_native(enabled: bool | None) -> None:
    """Use the native kernels (True), the keras.ops reference (False), or decide
    from ZOO_NATIVE (None, the default). Affects ops built after the call."""
    global _use_native
    _use_native = enabled


def native_enabled() -> bool:
    if _use_native is not None:
        return _use_native
    return os.environ.get("ZOO_NATIVE", "1").strip().lower() not in {"0", "false", "no", "off"}


@contextlib.contextmanager
def native(enabled: bool):
    """Context manager form of :func:`set_native`."""
    global _use_native
    previous = _use_native
    _use_native = enabled
    try:
        yield
    finally:
        _use_native = previous


def use_tf_native() -> bool:
    """True when bias_act and dense should run through the TF op library:
    native enabled, the Keras backend is TensorFlow, the library loads (else,
    with ZOO_REQUIRE_NATIVE, an error), and the graph being traced is not one
    that XLA compiles (there XLA fuses them itself: see :func:`tf_in_xla`)."""
    if not native_enabled():
        return False
    import keras

    backend = keras.backend.backend()
    if backend != "tensorflow":
        check_backend_has_kernels(backend)
        return False
    return tf_ops() is not None and not tf_in_xla()


def tf_xla_kernels() -> bool:
    """Whether the loaded TF op library has the XLA kernels of the recurrent
    ops (built when TF's XLA headers could be compiled; see CMakeLists.txt)."""
    if tf_ops() is None:
        return False
    if "tf_xla" not in _state:
        _state["tf_xla"] = hasattr(ctypes.CDLL(tf_ops_path()), "zoo_tf_has_xla_kernels")
    return bool(_state["tf_xla"])


def tf_xla_native() -> bool:
    """Whether zoo's recurrent ops can run inside TensorFlow's XLA here: the op
    library has their XLA kernels (CPU ones), and TensorFlow sees no GPU, where
    XLA would compile for the GPU instead."""
    if not tf_xla_kernels():
        return False
    if "tf_gpu" not in _state:  # asked at every eager call of a layer: once is enough
        import tensorflow as tf

        _state["tf_gpu"] = bool(tf.config.list_physical_devices("GPU"))
    return not _state["tf_gpu"]


def tf_in_xla() -> bool:
    """Whether TensorFlow is tracing a function that XLA will compile
    (``tf.function(jit_compile=True)``, Keras' ``jit_compile=True``).

    There the bias_act and dense ops take their keras.ops reference, which
    XLA fuses with its neighbours (the rule on JAX too), and the recurrent ops
    lower to their XLA kernels (custom calls, csrc/tensorflow/xla_rnn.cc)."""
    import tensorflow as tf

    if tf.executing_eagerly():  # every eager op call asks: answer it first
        return False
    try:
        from tensorflow.python.ops import control_flow_util
    except ImportError:  # pragma: no cover - a TF without it has no such tracing to detect
        return False
    return bool(control_flow_util.GraphOrParentsInXlaContext(tf.compat.v1.get_default_graph()))


def set_isa(name: str | None) -> None:
    """Cap the CPU kernels at an ISA ("scalar", "avx2", "avx512"); None resets to the
    best the CPU supports. Applies to both native libraries."""
    c = c_module()
    if name is None:
        c.reset_isa()
    else:
        c.set_isa(name)
    import keras

    if keras.backend.backend() == "jax" and jax_ops() is not None:
        lib = jax_ops()
        lib.zoo_jax_set_isa.argtypes = [ctypes.c_char_p]
        if lib.zoo_jax_set_isa(None if name is None else name.encode()) != 0:
            raise ValueError(f"the JAX FFI library cannot run the {name!r} kernels")
    if keras.backend.backend() != "jax" and tf_ops() is not None:
        lib = ctypes.CDLL(tf_ops_path())
        lib.zoo_tf_set_isa.argtypes = [ctypes.c_char_p]
        if lib.zoo_tf_set_isa(None if name is None else name.encode()) != 0:
            raise ValueError(f"the TensorFlow op library cannot run the {name!r} kernels")


def get_isa() -> str:
    return c_module().get_isa()


def status() -> dict:
    """What ``zoo doctor`` reports about the native libraries."""
    info: dict[str, object] = {"native_enabled": native_enabled(), "required": native_required()}
    with _lock:
        c = _load_c_module()
    info["c_module"] = "loaded" if c is not None else f"not loaded: {_state.get('c_error')}"
    if c is not None:
        info["build"] = dict(c.build_info())
    err = tf_ops_error()
    info["tf_ops"] = f"loaded from {tf_ops_path()}" if err is None else f"not loaded: {err}"
    if err is None:
        info["tf_xla"] = ("XLA kernels for LSTM/GRU (jit_compile=True keeps them native)"
                          if tf_xla_kernels() else
                          "no XLA kernels (built without TF's XLA headers): jit_compile=True "
                          "runs LSTM/GRU in Keras' loop")
    info["jax_ffi"] = _jax_status()
    info["malloc"] = _malloc.describe()
    return info


def _jax_status() -> str:
    """The JAX library's state without importing jax when it is not installed."""
    import importlib.util

    if importlib.util.find_spec("jax") is None:
        return "jax not installed"
    err = jax_ops_error()
    if err is not None:
        return f"not loaded: {err}"
    cuda = "CPU and CUDA handlers" if jax_ops_cuda() else "CPU handlers"
    return f"loaded from {jax_ops_path()} ({cuda})"
