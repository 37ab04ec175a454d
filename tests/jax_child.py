"""The child process of tests/test_jax.py: zoo's FFI path on Keras' JAX backend.

Run with KERAS_BACKEND=jax and ZOO_REQUIRE_NATIVE=1; checks many cases in one
process (importing TensorFlow or JAX per case would be too slow) and prints one
JSON object: {group: [{"case": str, "ok": bool, "detail": str}, ...]}.
The parent asserts each group. Tolerances (float32, relative to the reference's
largest magnitude): values 1e-5, gradients 1e-4; float16/bfloat16: 1e-2/2e-2.

    python jax_child.py
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ["ZOO_JAX_PATH"] = "ffi"  # op checks run the kernels, whatever the dispatch rules say

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

import zoo  # noqa: E402
from zoo import _native  # noqa: E402
from zoo.ops import KERNEL_ACTIVATIONS, bias_act, bias_act_ref, dense, dense_ref  # noqa: E402

RESULTS: dict[str, list] = {}
RNG = np.random.default_rng(0)
TOL = {"float32": (1e-5, 1e-4), "float16": (1e-2, 2e-2), "bfloat16": (2e-2, 5e-2)}


def record(group, case, ok, detail=""):
    RESULTS.setdefault(group, []).append({"case": case, "ok": bool(ok), "detail": str(detail)})


def rel_err(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        return float("inf")
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b)) / max(1.0, float(np.max(np.abs(b)))))


def compare(group, case, got, want, tol):
    errs = [rel_err(g, w) for g, w in zip(got, want)]
    record(group, case, all(e <= tol for e in errs), f"errors {errs} tol {tol}")


def hlo(fn, *args):
    return jax.jit(fn).lower(*args).as_text()


def guarded(group):
    def wrap(fn):
        def run():
            start = time.perf_counter()
            try:
                fn()
            except Exception:  # a crash in one group is that group's failure
                record(group, "<exception>", False, traceback.format_exc()[-3000:])
            print(f"{group}: {time.perf_counter() - start:.1f} s", file=sys.stderr)
        return run
    return wrap


def rand(shape, dtype="float32", scale=1.0):
    return jnp.asarray((RNG.standard_normal(shape) * scale).astype(np.float32)).astype(dtype)


# --------------------------------------------------------------------------


@guarded("bias_act")
def check_bias_act():
    acts = list(KERNEL_ACTIVATIONS) + ["relu6", "leaky_relu",
                                       {"name": "relu", "max_value": 2.0, "threshold": 0.5}]
    cases = [((3, 7), "float32"), ((2, 5, 33), "float32"), ((1,), "float32"),
             ((129, 17), "float16"), ((4, 9), "bfloat16")]
    low_precision = ("relu", "gelu", "sigmoid", "hard_sigmoid")  # the half types' loops
    for act in acts:
        for shape, dtype in cases:
            if dtype != "float32" and act not in low_precision:
                continue
            vtol, gtol = TOL[dtype]
            x, b = rand(shape, dtype, 2.0), rand(shape[-1:], dtype)
            up = rand(shape, dtype)
            # Outside jit every call compiles on its own: one shape covers that.
            for jit in ((False, True) if shape == (3, 7) else (True,)):
                f = (lambda x, b: bias_act(x, b, act))
                # The kernels compute in float32: so does the reference, on the
                # same rounded inputs (a float16 reference would round x + 3 at
                # hard_sigmoid's corners, where the slope jumps).
                r = (lambda x, b: bias_act_ref(x.astype("float32"), b.astype("float32"),
                                               act).astype(x.dtype))
                if jit:
                    f, r = jax.jit(f), jax.jit(r)
                name = f"{act} {shape} {dtype} jit={jit}"
                compare("bias_act", name, [f(x, b)], [r(x, b)], vtol)
                loss = lambda fn: (lambda x, b: jnp.sum((fn(x, b) * up).astype("float32")))
                g = jax.grad(loss(f), argnums=(0, 1))(x, b)
                gr = jax.grad(loss(r), argnums=(0, 1))(x, b)
                compare("bias_act", name + " grad", g, gr, gtol)
    x = rand((6, 10))
    compare("bias_act", "no bias", [bias_act(x, None, "gelu")], [bias_act_ref(x, None, "gelu")],
            1e-5)
    # value_and_grad: with grad alone JAX drops the unused forward call.
    text = hlo(jax.value_and_grad(lambda x, b: jnp.sum(bias_act(x, b, "gelu")), argnums=(0, 1)),
               x, rand((10,)))
    record("bias_act", "HLO has the FFI calls",
           "ZooBiasActFwd" in text and "ZooBiasActBwd" in text, "custom_call targets")
    # vmap runs the kernel once per mapped element (vmap_method="sequential").
    xs = rand((3, 6, 10))
    compare("bias_act", "vmap", [jax.vmap(lambda x: bias_act(x, None, "tanh"))(xs)],
            [bias_act_ref(xs, None, "tanh")], 1e-5)


@guarded("dense")
def check_dense():
    shapes = [((1, 5), 3), ((7, 13), 5), ((2, 3, 17), 9), ((64, 300), 70), ((33, 64), 1)]
    for act in ("linear", "relu", "gelu", "sigmoid", "elu", "silu"):
        for xs, units in shapes:
            for use_bias in ((True, False) if act in ("linear", "gelu") else (True,)):
                x, w = rand(xs), rand((xs[-1], units), scale=0.2)
                b = rand((units,)) if use_bias else None
                up = rand(xs[:-1] + (units,))
                for jit in ((False, True) if xs == (7, 13) else (True,)):
                    f = lambda x, w, b: dense(x, w, b, act)
                    r = lambda x, w, b: dense_ref(x, w, b, act)
                    if jit:
                        f, r = jax.jit(f), jax.jit(r)
                    name = f"{act} {xs}x{units} bias={use_bias} jit={jit}"
                    compare("dense", name, [f(x, w, b)], [r(x, w, b)], 1e-5)
                    argn = (0, 1, 2) if use_bias else (0, 1)
                    loss = lambda fn: (lambda x, w, b: jnp.sum(fn(x, w, b) * up))
                    g = jax.grad(loss(f), argnums=argn)(x, w, b)
                    gr = jax.grad(loss(r), argnums=argn)(x, w, b)
                    compare("dense", name + " grad", g, gr, 1e-4)
    x, w, b = rand((8, 16)), rand((16, 4)), rand((4,))
    text = hlo(jax.value_and_grad(lambda x, w, b: jnp.sum(dense(x, w, b, "relu")),
                                  argnums=(0, 1, 2)),
               x, w, b)
    record("dense", "HLO has the FFI calls", "ZooDenseFwd" in text and "ZooDenseBwd" in text,
           "custom_call targets")
    # dx is a custom call of its own: XLA drops it when x is not differentiated
    # (a model's first layer), and keeps it when it is.
    for argnums, calls in (((1, 2), 1), ((0, 1, 2), 2)):
        step = jax.jit(jax.grad(lambda x, w, b: jnp.sum(dense(x, w, b, "relu")), argnums=argnums))
        compiled = step.lower(x, w, b).compile().as_text()
        found = compiled.count('custom_call_target="ZooDenseBwd"')
        record("dense", f"backward calls after XLA's dead-code pass, grad of {argnums}",
               found == calls, f"{found} ZooDenseBwd calls, want {calls}")


@guarded("errors")
def check_errors():
    def raises(case, fn, exc, words):
        try:
            fn()
        except exc as e:
            record("errors", case, all(w in str(e) for w in words), str(e)[:300])
            return
        except Exception as e:
            record("errors", case, False, f"wrong exception {type(e).__name__}: {e}"[:300])
            return
        record("errors", case, False, "no exception")

    raises("dense kernel mismatch under jit",
           lambda: jax.jit(lambda x, w: dense(x, w, None, "relu"))(rand((4, 5)), rand((6, 3))),
           ValueError, ["kernel expects 6"])
    import zoo.ops._jax as zjax
    from zoo.ops._activations import resolve

    def bad_dense_backward(dw_shape):
        x, w, b = rand((4, 5)), rand((5, 3)), rand((3,))
        outs = tuple(zjax._spec(s, "float32") for s in ((0,), dw_shape, (3,)))
        return zjax._call("ZooDenseBwd", outs, rand((4, 3)), x, w, b, zjax._empty(),
                          **zjax._act_attrs(resolve("linear")))

    raises("dense backward output of the wrong size",
           lambda: jax.block_until_ready(bad_dense_backward((4, 3))), Exception,
           ["dkernel must have 15 values or none"])
    B, T, I, H = 2, 5, 4, 3
    rnn_in = (rand((B, T, H)), rand((B, T, I)), rand((I, 4 * H)), rand((H, 4 * H)),
              rand((4 * H,)))

    def rnn_backward(du_shape):
        # A training forward for the reserve, then the backward with the
        # recurrent kernel gradient's buffer of the given shape: full, empty
        # (skipped) or wrong.
        dy, x, w, u, b = rnn_in
        attrs = {"cell": np.int64(0), "reset_after": np.int64(1), "activation": "tanh",
                 "recurrent_activation": "sigmoid", "go_backwards": np.int64(0),
                 "zero_output_for_mask": np.int64(0), "return_sequences": np.int64(1)}
        mask, none = jnp.zeros((0,), bool), zjax._empty()
        outs = tuple(zjax._spec(s, "float32") for s in ((B, T, H), (B, H), (B, H), (B * T * 6 * H,)))
        reserve = zjax._call("ZooRnnFwd", outs, x, w, u, b, none, none, mask, **attrs)[3]
        outs = tuple(zjax._spec(s, "float32")
                     for s in ((B, T, I), (I, 4 * H), du_shape, (4 * H,), (B, H), (B, H)))
        return zjax._call("ZooRnnBwd", outs, dy, none, none, x, w, u, b, mask, reserve, **attrs)

    raises("recurrent backward output of the wrong size",
           lambda: jax.block_until_ready(rnn_backward((2, 12))), Exception,
           ["drecurrent_kernel must have 36 values or none"])
    full, skipped = rnn_backward((3, 12)), rnn_backward((0,))
    record("errors", "recurrent backward skips an empty gradient output",
           skipped[2].shape == (0,) and all(
               np.array_equal(np.asarray(a), np.asarray(b))
               for i, (a, b) in enumerate(zip(full, skipped)) if i != 2), "other outputs equal")
    raises("bias_act bias length under jit",
           lambda: jax.jit(lambda x, b: bias_act(x, b, "relu"))(rand((4, 5)), rand((4,))),
           ValueError, ["bias has 4 values"])
    lstm = zoo.layers.LSTM(3)
    lstm.build((2, 5, 4))
    raises("lstm feature size under jit",
           lambda: jax.jit(lambda x: lstm(x))(rand((2, 5, 6))), ValueError, ["4"])
    raises("lstm mask shape", lambda: zoo.ops.lstm(
        rand((2, 5, 4)), rand((2, 3)), rand((2, 3)), jnp.ones((2, 4), bool), lstm.cell.kernel,
        lstm.cell.recurrent_kernel, lstm.cell.bias), ValueError, ["mask must be"])
    raises("integer inputs", lambda: zoo.ops.lstm(
        jnp.ones((2, 5, 4), "int32"), rand((2, 3)), rand((2, 3)), None, lstm.cell.kernel,
        lstm.cell.recurrent_kernel, lstm.cell.bias), TypeError, ["floating"])


def _rnn_pair(cls, kcls, units, features, **kw):
    ours, theirs = cls(units, **kw), kcls(units, **kw)
    ours.build((None, None, features))
    theirs.build((None, None, features))
    theirs.set_weights([w + 0.05 * RNG.standard_normal(w.shape).astype("float32")
                        for w in ours.get_weights()])
    ours.set_weights(theirs.get_weights())
    return ours, theirs


def _stateless_grad(layer, x, extra, up):
    """Gradients of sum(outputs * up) wrt x and the layer's weights, jitted."""
    variables = [v.value for v in layer.trainable_variables]
    fixed = [v.value for v in layer.non_trainable_variables]

    def loss(ws, x):
        out, _ = layer.stateless_call(ws, fixed, x, **extra)
        outs = out if isinstance(out, (list, tuple)) else [out]
        return sum(jnp.sum(o * u) for o, u in zip(outs, up))

    return jax.jit(jax.grad(loss, argnums=(0, 1)))(variables, x)


@guarded("rnn")
def check_rnn():
    layers = [("lstm", zoo.layers.LSTM, keras.layers.LSTM, {}),
              ("gru", zoo.layers.GRU, keras.layers.GRU, {}),
              ("gru_ra0", zoo.layers.GRU, keras.layers.GRU, {"reset_after": False})]
    configs = [
        ("seq", dict(return_sequences=True), (4, 7, 5), None, False),
        ("last+state", dict(return_state=True), (3, 6, 5), None, False),
        ("backwards", dict(return_sequences=True, go_backwards=True), (4, 7, 5), None, False),
        ("mask", dict(return_sequences=True), (4, 8, 5), "mask", False),
        ("mask zero_output", dict(return_sequences=True, zero_output_for_mask=True), (4, 8, 5),
         "mask", False),
        ("initial state", dict(return_sequences=True), (4, 6, 5), None, True),
        ("T=1 batch=1", dict(), (1, 1, 5), None, False),
        ("odd sizes", dict(return_sequences=True), (5, 11, 3), None, False),
    ]
    for cell, cls, kcls, kw in layers:
        for label, cfg, shape, mask, init in configs:
            if cell == "gru_ra0" and label not in ("seq", "mask", "backwards"):
                continue
            units = 6
            ours, theirs = _rnn_pair(cls, kcls, units, shape[-1], **cfg, **kw)
            x = rand(shape)
            extra = {}
            if mask:
                m = np.ones(shape[:2], bool)
                m[0, -3:] = False      # right padding
                m[1, 2] = False        # a hole
                extra["mask"] = jnp.asarray(m)
            if init:
                states = [rand((shape[0], units)) for _ in range(2 if cell == "lstm" else 1)]
                extra["initial_state"] = states
            name = f"{cell} {label}"
            o = ours(x, **extra)
            t = theirs(x, **extra)
            o = o if isinstance(o, (list, tuple)) else [o]
            t = t if isinstance(t, (list, tuple)) else [t]
            compare("rnn", name, o, t, 1e-5)
            up = [rand(tuple(a.shape)) for a in t]
            g = _stateless_grad(ours, x, extra, up)
            gr = _stateless_grad(theirs, x, extra, up)
            compare("rnn", name + " grad", list(g[0]) + [g[1]], list(gr[0]) + [gr[1]], 1e-4)
    # The native path must be what runs: the custom calls are in the jitted program.
    ours, _ = _rnn_pair(zoo.layers.LSTM, keras.layers.LSTM, 8, 4)
    variables = [v.value for v in ours.trainable_variables]
    fixed = [v.value for v in ours.non_trainable_variables]
    step = jax.value_and_grad(lambda ws, x: jnp.sum(ours.stateless_call(ws, fixed, x)[0]))
    text = jax.jit(step).lower(variables, rand((2, 5, 4))).as_text()
    record("rnn", "LSTM HLO has the FFI calls", "ZooRnnFwd" in text and "ZooRnnBwd" in text,
           "custom_call targets")
    record("rnn", "layers keep jit on", ours.supports_jit, f"supports_jit={ours.supports_jit}")
    # The default rule (ZOO_JAX_PATH=auto): in training Keras' loop at batch 1;
    # in inference the kernel at any batch up to 64 units (LSTM) / 128 (GRU),
    # above that Keras' loop below batch 8 (LSTM) / 2 (GRU).
    os.environ["ZOO_JAX_PATH"] = "auto"
    try:
        cases = ((zoo.layers.GRU, keras.layers.GRU, 1, 8, True, False),
                 (zoo.layers.GRU, keras.layers.GRU, 1, 8, False, True),
                 (zoo.layers.GRU, keras.layers.GRU, 1, 129, False, False),
                 (zoo.layers.GRU, keras.layers.GRU, 2, 8, True, True),
                 (zoo.layers.GRU, keras.layers.GRU, 2, 129, False, True),
                 (zoo.layers.LSTM, keras.layers.LSTM, 1, 8, False, True),
                 (zoo.layers.LSTM, keras.layers.LSTM, 4, 65, False, False),
                 (zoo.layers.LSTM, keras.layers.LSTM, 4, 8, True, True),
                 (zoo.layers.LSTM, keras.layers.LSTM, 8, 65, False, True))
        for cls, kcls, batch, units, training, want in cases:
            layer, _ = _rnn_pair(cls, kcls, units, 3)
            ws = [v.value for v in layer.trainable_variables]
            fixed = [v.value for v in layer.non_trainable_variables]
            text = hlo(lambda ws, x: layer.stateless_call(ws, fixed, x, training=training)[0], ws,
                       rand((batch, 5, 3)))
            record("rnn", f"auto rule: {cls.__name__} batch {batch} units {units} "
                   f"training={training} takes the kernel: {want}",
                   ("ZooRnnFwd" in text) == want, "custom_call targets")
    finally:
        os.environ["ZOO_JAX_PATH"] = "ffi"
    bi = keras.layers.Bidirectional(zoo.layers.GRU(4, return_sequences=True))
    kbi = keras.layers.Bidirectional(keras.layers.GRU(4, return_sequences=True))
    x = rand((3, 6, 5))
    bi.build(x.shape)
    kbi.build(x.shape)
    kbi.set_weights(bi.get_weights())
    compare("rnn", "bidirectional GRU", [bi(x)], [kbi(x)], 1e-5)


FAMILIES = [("dense_autoencoder", {"hidden": (64,), "latent_dim": 16}, (32,)),
            ("lstm_classifier", {"units": (8,)}, (12, 4)),
            ("gru_forecaster", {"units": (8,)}, (12, 1)),
            ("lenet", {}, (28, 28, 1))]


@guarded("fit")
def check_fit():
    for name, kw, shape in FAMILIES:
        x = RNG.standard_normal((64,) + shape).astype("float32")
        if name == "dense_autoencoder":
            x = 1 / (1 + np.exp(-x))
        native = zoo.create_model(name, input_shape=shape, **kw)
        stock = zoo.create_model(name, input_shape=shape, native=False, **kw)
        stock.set_weights(native.get_weights())
        out_shape = tuple(native.output_shape[1:])
        y = x if name == "dense_autoencoder" else RNG.random((64,) + out_shape).astype("float32")
        losses = []
        for model in (native, stock):
            model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse", jit_compile=True)
            h = model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
            ev = model.evaluate(x, y, batch_size=32, verbose=0)
            pred = model.predict(x[:5], verbose=0)
            losses.append((h.history["loss"], ev, pred))
        (ln, en, pn), (ls, es, ps) = losses
        record("fit", f"{name} fit losses match stock", rel_err(ln, ls) < 1e-4, f"{ln} vs {ls}")
        record("fit", f"{name} evaluate matches stock", rel_err([en], [es]) < 1e-4, f"{en} {es}")
        compare("fit", f"{name} predict matches stock", [pn], [ps], 1e-4)
        record("fit", f"{name} jit on", native.jit_compile is not False,
               f"jit_compile={native.jit_compile}")
    record("fit", "doctor reports the JAX library",
           _native.status()["jax_ffi"].startswith("loaded"), _native.status()["jax_ffi"])


@guarded("required")
def check_required():
    # Pretend the library failed to load: under ZOO_REQUIRE_NATIVE=1 the JAX
    # path must raise NativeUnavailableError, not fall back silently.
    saved = dict(_native._state)
    try:
        _native._state["jax"] = None
        _native._state["jax_error"] = "simulated missing library"
        try:
            _native.use_jax_native()
        except _native.NativeUnavailableError as e:
            record("required", "missing library raises", "simulated" in str(e), str(e))
        else:
            record("required", "missing library raises", False, "no exception")
    finally:
        _native._state.clear()
        _native._state.update(saved)


@guarded("platform")
def check_platform():
    # The dispatch on a GPU, simulated: JAX's default platform is made to read
    # "gpu" (the arrays stay on the CPU, so what runs shows which path was taken).
    import importlib

    import zoo.ops._jax as zjax
    from zoo.ops._activations import Activation

    # zoo.ops re-exports the functions under the modules' names
    bias_act_mod, dense_mod, rnn_mod = (importlib.import_module(f"zoo.ops.{m}")
                                        for m in ("bias_act", "dense", "rnn"))

    saved_platform, saved_cuda = zjax.default_platform, _native.jax_ops_cuda
    relu = Activation("relu")
    try:
        zjax.default_platform = lambda: "gpu"
        for cuda in (False, True):
            _native.jax_ops_cuda = lambda cuda=cuda: cuda
            tag = "with" if cuda else "without"
            record("platform", f"gpu {tag} CUDA handlers: bias_act kernel {cuda}",
                   bias_act_mod.jax_prefers_kernel(relu) is cuda)
            got = dense_mod.jax_choose_path((8, 16), (16, 4), "float32", relu)
            record("platform", f"gpu {tag} CUDA handlers: dense path", got == (
                "gemm" if cuda else "matmul"), got)
            reason = rnn_mod.native_unavailable("tanh", "sigmoid", "float32")
            record("platform", f"gpu {tag} CUDA handlers: recurrent layers left to Keras",
                   reason is not None and "CPU only" in reason, reason)
        _native.jax_ops_cuda = lambda: False
        layer = zoo.layers.GRU(8)
        x = rand((4, 5, 3))
        layer(x)
        text = hlo(lambda x: layer(x), x)
        record("platform", "gpu: a GRU lowers to Keras' loop, no zoo custom call",
               "ZooRnn" not in text and "ZooDense" not in text, text[:200])
    finally:
        zjax.default_platform, _native.jax_ops_cuda = saved_platform, saved_cuda
    record("platform", "cpu: the recurrent kernels are available",
           rnn_mod.native_unavailable("tanh", "sigmoid", "float32") is None)
    record("platform", "this build's CUDA handlers as reported",
           _native.jax_ops_cuda() == hasattr(_native.jax_ops(), "ZooBiasActFwdCuda"))


def main():
    if keras.backend.backend() != "jax":
        print(json.dumps({"setup": [{"case": "backend", "ok": False,
                                     "detail": keras.backend.backend()}]}))
        return 1
    _native.jax_ops()  # raises under ZOO_REQUIRE_NATIVE when the library is missing
    for check in (check_bias_act, check_dense, check_errors, check_rnn, check_fit,
                  check_required, check_platform):
        check()
    json.dump(RESULTS, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
