"""The child process of tests/test_fuzz.py: seeded random calls of the raw native
entry points, each printed before it runs so that a crash names its case.

Entry points: the TensorFlow op library as loaded by ``tf.load_op_library``
(zoo._native's handle: ZooBiasAct, ZooBiasActGrad, ZooDense, ZooDenseGrad,
called directly, with none of zoo.ops' Python checks in front) and the
pybind11 module ``zoo._C``. Each case draws an entry point, a rank, sizes
(0 included), dtypes, matching or mismatched bias / kernel / preact / dy
shapes, NaN and Inf values, odd attributes, and for zoo._C non-contiguous
views. An oracle here decides whether the call is valid (same rules as Keras'
activations and the ops' documented attributes):

- valid: the result must equal a float64 numpy reference (tolerances below);
- invalid: the call must raise a Python exception.

Output, one line per event: ``CASE <i> <description>`` before a case runs,
``DONE <i> <valid|invalid> <detail>`` after it, ``FAIL <i> <message>`` for a
wrong answer or a wrong verdict, and finally ``SUMMARY <json>``.

    python fuzz_child.py SEED START COUNT
"""

from __future__ import annotations

import json
import math
import os
import sys
import traceback

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

ACTS = ("linear", "relu", "elu", "selu", "gelu", "gelu_tanh", "silu", "sigmoid", "tanh",
        "softplus", "mish", "hard_sigmoid", "hard_silu")
BAD_ACT_NAMES = ("", "RELU", "relu6", "swishy", "gelu ", "leaky_relu")
DIMS = (0, 1, 2, 3, 5, 7, 8, 9, 15, 16, 17, 31, 33, 64)
MAX_ELEMENTS = 6000
GRAD_ERR = 1e-6  # absolute error of the kernels' activation derivatives (vmath.h: a few ulp; gelu 4e-7)
SELU_ALPHA, SELU_SCALE = 1.6732632423543772, 1.0507009873554805
UNSET = "unset"  # attribute not passed: the op's own default


# ---------------------------------------------------------------------------
# float64 reference (the Keras formulas)


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _softplus(z):
    return np.maximum(z, 0.0) + np.log1p(np.exp(-np.abs(z)))


def _erfc(z):
    from scipy.special import erfc

    return erfc(z)


def act_ref(name, z, alpha, max_value, threshold):
    with np.errstate(all="ignore"):
        if name == "linear":
            return z
        if name == "relu":
            y = np.where(z < threshold, alpha * (z - threshold) if alpha else 0.0,
                         np.where((z == threshold) & (threshold != 0), 0.0, np.minimum(z, max_value)))
            return np.where(np.isnan(z), np.nan, y)
        if name == "elu":
            return np.where(z > 0, z, alpha * np.expm1(np.minimum(z, 0)))
        if name == "selu":
            return SELU_SCALE * np.where(z > 0, z, SELU_ALPHA * np.expm1(np.minimum(z, 0)))
        if name == "gelu":
            return 0.5 * z * _erfc(-z / math.sqrt(2))
        if name == "gelu_tanh":
            return 0.5 * z * (1 + np.tanh(math.sqrt(2 / math.pi) * (z + 0.044715 * z ** 3)))
        if name == "silu":
            return z * _sigmoid(z)
        if name == "sigmoid":
            return _sigmoid(z)
        if name == "tanh":
            return np.tanh(z)
        if name == "softplus":
            return _softplus(z)
        if name == "mish":
            return z * np.tanh(_softplus(z))
        if name == "hard_sigmoid":
            return np.clip(z / 6 + 0.5, 0, 1)
        if name == "hard_silu":
            return z * np.clip(z / 6 + 0.5, 0, 1)
    raise AssertionError(name)


def grad_ref(name, z, alpha, max_value, threshold):
    with np.errstate(all="ignore"):
        if name == "linear":
            return np.ones_like(z)
        if name == "relu":  # at NaN: 0, as TensorFlow's ReluGrad
            capped = (z >= max_value) & (max_value != np.inf)  # an infinite cap is no cap
            return np.where(z > threshold, np.where(capped, 0.0, 1.0),
                            np.where(z < threshold, alpha, 0.0))
        if name == "elu":
            return np.where(z > 0, 1.0, alpha * np.exp(np.minimum(z, 0)))
        if name == "selu":
            return SELU_SCALE * np.where(z > 0, 1.0, SELU_ALPHA * np.exp(np.minimum(z, 0)))
        if name == "gelu":
            return 0.5 * _erfc(-z / math.sqrt(2)) + z * np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
        if name == "gelu_tanh":
            c = math.sqrt(2 / math.pi)
            t = np.tanh(c * (z + 0.044715 * z ** 3))
            return 0.5 * (1 + t) + 0.5 * z * (1 - t * t) * c * (1 + 3 * 0.044715 * z * z)
        if name == "silu":
            s = _sigmoid(z)
            return s * (1 + z * (1 - s))
        if name == "sigmoid":
            s = _sigmoid(z)
            return s * (1 - s)
        if name == "tanh":
            return 1 - np.tanh(z) ** 2
        if name == "softplus":
            return _sigmoid(z)
        if name == "mish":
            t = np.tanh(_softplus(z))
            return t + z * _sigmoid(z) * (1 - t * t)
        if name == "hard_sigmoid":
            return np.where((z > -3) & (z < 3), 1 / 6, 0.0)
        if name == "hard_silu":
            return np.clip(z / 6 + 0.5, 0, 1) + np.where((z > -3) & (z < 3), z / 6, 0.0)
    raise AssertionError(name)


# ---------------------------------------------------------------------------
# Which calls are valid (the oracle)


class Invalid(Exception):
    """The case is invalid for this reason; the entry point must raise."""


def resolve_params(entry, name, alpha, max_value, threshold):
    """(alpha, max_value, threshold) as the kernel must see them, or Invalid."""
    if name not in ACTS:
        raise Invalid(f"unknown activation {name!r}")
    keras_alpha = 1.0 if name == "elu" else 0.0
    if entry.startswith("tf."):
        # Raw-op attributes: alpha NaN or absent means Keras' default;
        # max_value 0, inf or absent means no cap.
        a = keras_alpha if alpha is UNSET or (isinstance(alpha, float) and math.isnan(alpha)) else alpha
        mv = math.inf if max_value is UNSET or max_value == 0 else max_value
        t = 0.0 if threshold is UNSET else threshold
    else:
        a = keras_alpha if alpha is None else alpha
        mv = math.inf if max_value is None else max_value
        t = threshold
    if name == "relu":
        if math.isnan(mv) or mv <= 0:
            raise Invalid(f"relu max_value {mv}")
        if not (math.isfinite(a) and a >= 0):
            raise Invalid(f"relu negative_slope {a}")
        if not (math.isfinite(t) and t >= 0):
            raise Invalid(f"relu threshold {t}")
    if name == "elu" and not math.isfinite(a):
        raise Invalid(f"elu alpha {a}")
    return float(a), float(mv), float(t)


# ---------------------------------------------------------------------------
# Case generation


def _shape(rng, rank, last=None):
    shape = [int(rng.choice(DIMS)) for _ in range(rank)]
    if last is not None and rank:
        shape[-1] = last
    while int(np.prod(shape)) > MAX_ELEMENTS:
        shape[int(rng.integers(rank))] = int(rng.choice(DIMS[:6]))
    return shape


def _values(rng, shape, dtype, specials):
    x = rng.standard_normal(shape) * rng.choice([0.5, 3.0, 30.0])
    if specials and x.size:
        k = max(1, x.size // 20)
        idx = rng.integers(0, x.size, size=k)
        x.flat[idx] = rng.choice([np.nan, np.inf, -np.inf, 1e30, -1e30, 0.0, -0.0], size=k)
    with np.errstate(invalid="ignore", over="ignore"):
        return np.asarray(x).astype(dtype)  # an ndarray also for rank 0


def _pick(rng, options, p_first=0.6):
    """options[0] with probability p_first, else any of the others."""
    if len(options) == 1 or rng.random() < p_first:
        return options[0]
    return options[int(rng.integers(1, len(options)))]


def make_case(seed, i):
    rng = np.random.default_rng([seed, i])
    entry = str(rng.choice(["tf.bias_act", "tf.bias_act_grad", "tf.dense", "tf.dense_grad",
                            "c.bias_act", "c.bias_act_backward", "c.dense", "c.dense_backward"]))
    is_tf = entry.startswith("tf.")
    name = str(rng.choice(ACTS)) if rng.random() > 0.04 else str(rng.choice(BAD_ACT_NAMES))
    if is_tf:
        alpha = _pick(rng, [UNSET, 0.0, 0.2, 1.0, 0.5, -0.5, math.nan, math.inf, -math.inf, 1e30])
        max_value = _pick(rng, [UNSET, 0.0, 6.0, 3.5, -1.0, math.nan, math.inf, 1e-3])
        threshold = _pick(rng, [UNSET, 0.0, 0.5, -1.0, math.nan, math.inf])
    else:
        alpha = _pick(rng, [None, 0.0, 0.2, 1.0, 0.5, -0.5, math.nan, math.inf, 1e30])
        max_value = _pick(rng, [None, 6.0, 3.5, 0.0, -1.0, math.nan, math.inf, 1e-3])
        threshold = _pick(rng, [0.0, 0.5, -1.0, math.nan, math.inf])
    dense = "dense" in entry
    dtype = "float32"
    if not dense or rng.random() < 0.1:
        dtype = _pick(rng, ["float32", "float16", "bfloat16", "float64", "int32"], 0.5)
    specials = rng.random() < 0.25
    rank = int(rng.integers(1 if dense else 0, 5)) if rng.random() > 0.05 else 0
    x_shape = _shape(rng, rank)
    last = x_shape[-1] if rank else 1
    case = dict(i=i, entry=entry, act=name, alpha=alpha, max_value=max_value, threshold=threshold,
                dtype=dtype, x_shape=x_shape, specials=bool(specials))
    mismatch = rng.random() < 0.2
    if dense:
        units = int(rng.choice(DIMS[:12]))
        k_shape = [last, units]
        if mismatch:
            k_shape = _pick(rng, [[last + 1, units], [max(last - 1, 0), units], [units], [last, units, 2],
                                  [last, units]], 0.0)
        case["kernel_shape"] = k_shape
        units_b = k_shape[-1] if len(k_shape) == 2 else units
        case["use_bias"] = bool(rng.random() < 0.8)
        case["bias_shape"] = [units_b] if rng.random() > 0.1 else _pick(rng, [[units_b + 1], [], [units_b, 1]], 0.0)
        case["save_preact"] = bool(rng.random() < 0.7)
        out = x_shape[:-1] + [units_b]
        case["dy_shape"] = out if rng.random() > 0.1 else _pick(rng, [out[:-1] + [units_b + 1], out + [1], [0]], 0.0)
        case["preact"] = _pick(rng, ["forward", "empty", "none", "wrong"], 0.5)
        # An empty x whose leading axes multiply past int64 once the units replace K.
        if rng.random() < 0.01:
            case.update(x_shape=[2 ** 30, 2 ** 30, 0], kernel_shape=[0, 1024], bias_shape=[1024],
                        dy_shape=[2 ** 30, 2 ** 30, 1024], huge=True)
    else:
        case["use_bias"] = bool(rng.random() < 0.8)
        bl = last
        case["bias_shape"] = [bl] if not mismatch else _pick(rng, [[bl + 1], [max(bl - 1, 0)], [], [bl, 1], [bl]], 0.0)
        case["bias_dtype"] = dtype if rng.random() > 0.05 else _pick(rng, ["float32", "float16", "float64"], 0.0)
        case["dy_shape"] = x_shape if rng.random() > 0.1 else _pick(rng, [x_shape + [1], x_shape[:-1], [3]], 0.0)
        case["dy_dtype"] = dtype if rng.random() > 0.05 else "float64"
    if not is_tf:
        case["layout"] = _pick(rng, ["c", "fortran", "strided", "reversed"], 0.6)
    case["seed"] = [seed, i]
    return case


def describe(case):
    return json.dumps({k: (str(v) if isinstance(v, float) and not math.isfinite(v) else v)
                       for k, v in case.items()})


# ---------------------------------------------------------------------------
# Running one case


def _np_dtype(name):
    if name == "bfloat16":
        import ml_dtypes

        return ml_dtypes.bfloat16
    return np.dtype(name)


def _layout(a, layout):
    """The same values as a view with another memory layout (zoo._C must read it right)."""
    if a.ndim == 0 or layout == "c":
        return a
    if layout == "fortran":
        return np.asfortranarray(a)
    if layout == "reversed":  # negative strides on the first axis
        return np.flip(np.flip(a, 0).copy(), 0)
    # strided: every other element of a buffer twice as long on the last axis
    big = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), a.dtype)
    big[..., ::2] = a
    return big[..., ::2]


def _tol(dtype):
    if dtype == "float16":
        return 3e-3, 3e-3
    if dtype == "bfloat16":
        return 2e-2, 2e-2
    return 5e-5, 5e-6


def compare(got, want, dtype, what, scale=0.0):
    """got against the float64 want: the same shape, the same infinities, finite
    values within tolerance (scale: an extra absolute bound, array or number).
    Where want is NaN nothing is required (the float64 formula itself gives NaN
    for some non-NaN inputs, e.g. -inf * 0); callers check NaN inputs separately."""
    got = np.asarray(got).astype(np.float64)
    if got.shape != want.shape:
        raise AssertionError(f"{what}: shape {got.shape}, want {want.shape}")
    rtol, atol = _tol(dtype)
    with np.errstate(invalid="ignore"):
        bound = atol + scale + rtol * np.abs(want)
        bad = np.isfinite(want) & ~(np.abs(got - want) <= bound)
        bad |= np.isinf(want) & (got != want)
    if bad.any():
        j = np.flatnonzero(bad)[0]
        raise AssertionError(f"{what}: element {j} is {got.flat[j]!r}, want {want.flat[j]!r} "
                             f"({int(bad.sum())} of {bad.size} differ)")


def expect_nan(got, mask, what):
    got = np.asarray(got).astype(np.float64)
    if mask.any() and not np.isnan(got[mask]).all():
        raise AssertionError(f"{what}: a NaN input gave a number")


def _tensor(tf, a):
    """A TensorFlow tensor with a's values and dtype (half types via float32)."""
    name = np.dtype(a.dtype).name
    if name in ("bfloat16", "float16"):
        return tf.cast(tf.constant(a.astype(np.float32)), name)
    return tf.constant(a)


def _tf_attrs(case):
    kw = {"activation": case["act"], "use_bias": case["use_bias"]}
    for k in ("alpha", "max_value", "threshold"):
        if case[k] is not UNSET:
            kw[k] = case[k]
    return kw


def _c_attrs(case):
    return {"activation": case["act"], "alpha": case["alpha"], "max_value": case["max_value"],
            "threshold": case["threshold"]}


def _tf_call(tf, op, tensors, attrs, graph):
    """op(*tensors, **attrs) eagerly, or in a tf.function whose input shapes are
    unknown (so the ops' shape functions run on partial shapes)."""
    if not graph:
        return op(*tensors, **attrs)
    sig = [tf.TensorSpec([None] * t.shape.rank, t.dtype) for t in tensors]
    return tf.function(lambda *a: op(*a, **attrs), input_signature=sig)(*tensors)


def _np(t):
    return np.asarray(t.numpy() if hasattr(t, "numpy") else t)


# ---------------------------------------------------------------------------
# bias_act


def bias_act_case(case, tf, lib, C, rng):
    entry, dtype = case["entry"], case["dtype"]
    is_tf = entry.startswith("tf.")
    backward = not entry.endswith("bias_act")
    npdt = _np_dtype(dtype)
    x = _values(rng, case["x_shape"], npdt, case["specials"])
    use_bias = case["use_bias"]
    bdt = _np_dtype(case["bias_dtype"])
    b = _values(rng, case["bias_shape"], bdt, False)
    dy = _values(rng, case["dy_shape"], _np_dtype(case["dy_dtype"]), False)

    reason = None
    try:
        if dtype not in ("float32", "float16", "bfloat16"):
            raise Invalid(f"x dtype {dtype}")
        if (use_bias or is_tf) and np.dtype(bdt) != np.dtype(npdt):
            raise Invalid("bias dtype differs from x's")
        if backward and (list(dy.shape) != list(x.shape) or np.dtype(dy.dtype) != np.dtype(npdt)):
            raise Invalid("dy differs from x")
        if use_bias and (b.ndim != 1 or x.ndim < 1 or b.shape[0] != x.shape[-1]):
            raise Invalid(f"bias shape {b.shape} for x {x.shape}")
        a, mv, t = resolve_params(entry, case["act"], case["alpha"], case["max_value"],
                                  case["threshold"])
    except Invalid as e:
        reason = str(e)

    try:
        if is_tf:
            attrs = _tf_attrs(case)
            graph = case.get("graph", False)
            if backward:
                out = _tf_call(tf, lib.zoo_bias_act_grad, [_tensor(tf, dy), _tensor(tf, x), _tensor(tf, b)],
                               attrs, graph)
                got, gdb = _np(out[0]), _np(out[1])
            else:
                got = _np(_tf_call(tf, lib.zoo_bias_act, [_tensor(tf, x), _tensor(tf, b)], attrs, graph))
        else:
            lay = case["layout"]
            xa, ba = _layout(x, lay), (_layout(b, lay) if use_bias else None)
            if backward:
                got, gdb = C.bias_act_backward(_layout(dy, lay), xa, ba, **_c_attrs(case))
            else:
                got = C.bias_act(xa, ba, **_c_attrs(case))
    except Exception as e:  # noqa: BLE001 - any Python exception is a refusal
        if reason is None:
            raise AssertionError(f"valid call raised {type(e).__name__}: {str(e)[:300]}")
        return "invalid", type(e).__name__
    if reason is not None:
        raise AssertionError(f"invalid call ({reason}) returned a result")

    f32 = np.float32
    z = x.astype(f32) + (b.astype(f32) if use_bias else f32(0))
    z = z.astype(np.float64)
    nan_in = np.isnan(z)
    if not backward:
        if np.dtype(got.dtype) != np.dtype(npdt):
            raise AssertionError(f"y dtype {got.dtype}, want {dtype}")
        compare(got, act_ref(case["act"], z, a, mv, t), dtype, "y")
        expect_nan(got, nan_in, "y")
        return "valid", ""
    dy64 = dy.astype(np.float64)
    dx_want = dy64 * grad_ref(case["act"], z, a, mv, t)
    # The kernels' derivatives are accurate to about GRAD_ERR absolute.
    compare(got, dx_want, dtype, "dx", scale=GRAD_ERR * np.abs(dy64))
    if use_bias:
        red = tuple(range(x.ndim - 1))
        db_want = dx_want.sum(axis=red) if x.ndim > 1 else dx_want
        db_abs = np.abs(dx_want).sum(axis=red) if x.ndim > 1 else np.abs(dx_want)
        dy_abs = np.abs(dy64).sum(axis=red) if x.ndim > 1 else np.abs(dy64)
        compare(gdb, db_want, dtype, "dbias",
                scale=2e-6 * np.nan_to_num(db_abs, posinf=0.0) + GRAD_ERR * np.nan_to_num(dy_abs, posinf=0.0))
    elif is_tf:
        if np.asarray(gdb).shape != b.shape or np.any(np.asarray(gdb).astype(np.float64) != 0):
            raise AssertionError("dbias without a bias is not zeros of the bias's shape")
    elif gdb is not None:
        raise AssertionError("dbias without a bias is not None")
    return "valid", ""


# ---------------------------------------------------------------------------
# dense


def _gemm_ref(a, b):
    """a @ b in float64 without BLAS (no zero-skipping that would hide inf * 0),
    and the sum of |terms| for the rounding bound."""
    with np.errstate(all="ignore"):
        return (np.einsum("...k,kn->...n", a, b, optimize=False),
                np.einsum("...k,kn->...n", np.abs(a), np.abs(b), optimize=False))


def dense_case(case, tf, lib, C, rng):
    entry, dtype = case["entry"], case["dtype"]
    is_tf = entry.startswith("tf.")
    backward = entry.endswith(("grad", "backward"))
    huge = case.get("huge", False)
    npdt = _np_dtype(dtype)
    if huge:
        x = np.zeros(case["x_shape"], npdt)
        dy = np.zeros(case["dy_shape"][:1] + [0, case["dy_shape"][-1]], npdt)  # never the real shape
    else:
        x = _values(rng, case["x_shape"], npdt, case["specials"])
        dy = _values(rng, case["dy_shape"], npdt, False)
    w = _values(rng, case["kernel_shape"], npdt, False)
    b = _values(rng, case["bias_shape"], npdt, False)
    use_bias = case["use_bias"]
    kin = w.shape[0] if w.ndim == 2 else -1
    units = w.shape[1] if w.ndim == 2 else -1
    out_shape = list(x.shape[:-1]) + [units] if x.ndim else None

    mode = case["preact"]
    reason = None
    try:
        if dtype != "float32":
            raise Invalid(f"dtype {dtype}")
        if x.ndim < 1 or w.ndim != 2 or kin != x.shape[-1]:
            raise Invalid(f"x {x.shape} with kernel {w.shape}")
        if use_bias and (b.ndim != 1 or b.shape[0] != units):
            raise Invalid(f"bias {b.shape} for {units} units")
        if backward and list(dy.shape) != out_shape:
            raise Invalid(f"dy {dy.shape} for output {out_shape}")
        # A preact of the wrong shape: refused, except that the TF op reads an
        # empty one as "recompute it".
        if backward and mode == "wrong" and (not is_tf or int(np.prod(out_shape)) > 0):
            raise Invalid("preact of the wrong shape")
        a, mv, t = resolve_params(entry, case["act"], case["alpha"], case["max_value"],
                                  case["threshold"])
    except Invalid as e:
        reason = str(e)

    # The pre-activation handed to the backward op.
    z_in = None
    if backward and mode == "forward" and reason is None and not huge:
        if is_tf:
            z_in = lib.zoo_dense(_tensor(tf, x), _tensor(tf, w), _tensor(tf, b), save_preact=True,
                                 **_tf_attrs(case))[1]
        else:
            z_in = C.dense(x, w, b if use_bias else None, return_preact=True, **_c_attrs(case))[1]
    elif mode == "wrong":
        z_in = np.zeros((out_shape + [2]) if out_shape and units >= 0 and not huge else [2], np.float32)
    try:
        if is_tf:
            attrs = _tf_attrs(case)
            graph = case.get("graph", False)
            if backward:
                zt = tf.zeros([0]) if z_in is None else (z_in if hasattr(z_in, "numpy") else tf.constant(z_in))
                out = _tf_call(tf, lib.zoo_dense_grad,
                               [_tensor(tf, dy), _tensor(tf, x), _tensor(tf, w), _tensor(tf, b), zt],
                               attrs, graph)
                res = [_np(o) for o in out]
            else:
                attrs["save_preact"] = case["save_preact"]
                out = _tf_call(tf, lib.zoo_dense, [_tensor(tf, x), _tensor(tf, w), _tensor(tf, b)], attrs, graph)
                res = [_np(o) for o in out]
        else:
            lay = case["layout"]
            xa, wa = _layout(x, lay), _layout(w, lay)
            ba = _layout(b, lay) if use_bias else None
            if backward:
                res = list(C.dense_backward(_layout(dy, lay), xa, wa, ba, z_in, **_c_attrs(case)))
            else:
                y, z = C.dense(xa, wa, ba, return_preact=True, **_c_attrs(case))
                res = [y, z]
    except Exception as e:  # noqa: BLE001
        if reason is None and not huge:
            raise AssertionError(f"valid call raised {type(e).__name__}: {str(e)[:300]}")
        return "invalid", type(e).__name__
    if reason is not None:
        raise AssertionError(f"invalid call ({reason}) returned a result")
    if huge:
        if res[0].shape != (tuple(out_shape) if not backward else x.shape):
            raise AssertionError(f"huge empty case: shape {res[0].shape}")
        return "valid", "huge"

    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    zx, za = _gemm_ref(x64, w64)
    if use_bias:
        zx, za = zx + b.astype(np.float64), za + np.abs(b.astype(np.float64))
    zscale = 1.2e-7 * (x.shape[-1] + 1) * np.nan_to_num(za, posinf=0.0)
    if not backward:
        y, z = res
        if list(y.shape) != out_shape:
            raise AssertionError(f"y shape {y.shape}, want {out_shape}")
        if y.size and z.size == y.size:  # the pre-activation came back: check it, then y on it
            if list(z.shape) != out_shape:
                raise AssertionError(f"preact shape {z.shape}, want {out_shape}")
            compare(z, zx, dtype, "preact", scale=zscale)
            expect_nan(z, np.isnan(zx), "preact")
            compare(y, act_ref(case["act"], z.astype(np.float64), a, mv, t), dtype, "y")
        else:
            # No preact (linear, or save_preact off): y against the exact z,
            # away from relu's jump at its threshold.
            want = act_ref(case["act"], zx, a, mv, t)
            keep = ~(np.abs(zx - t) <= zscale + 1e-6) if case["act"] == "relu" else np.ones(zx.shape, bool)
            compare(np.where(keep, y, want), want, dtype, "y", scale=1.2 * zscale)
        return "valid", ""

    dx, dw, db = res
    zk = None
    if z_in is not None and mode != "wrong" and _np(z_in).size:
        zk = _np(z_in).astype(np.float64)
    if zk is None:
        # Recomputed inside: the kernel's z is the forward GEMM's (same code, same order).
        if is_tf:
            zk = _np(lib.zoo_dense(_tensor(tf, x), _tensor(tf, w), _tensor(tf, b),
                                   **dict(_tf_attrs(case), activation="linear"))[0])
        else:
            zk = C.dense(x, w, b if use_bias else None, activation="linear")
        zk = zk.astype(np.float64)
    dy64 = dy.astype(np.float64)
    with np.errstate(all="ignore"):
        dz = dy64 * grad_ref(case["act"], zk, a, mv, t)
    m = int(np.prod(x.shape[:-1]))

    def bound(terms, inner, derr):
        """float32 sums of `inner` terms, plus the derivative's own error."""
        return 2.4e-7 * (inner + 1) * np.nan_to_num(terms, posinf=0.0) + GRAD_ERR * np.nan_to_num(derr, posinf=0.0)

    dzx, dza = _gemm_ref(dz, w64.T)
    compare(dx, dzx, dtype, "dx", scale=bound(dza, units, _gemm_ref(np.abs(dy64), np.abs(w64.T))[0]))
    xm, dzm, dym = x64.reshape(m, x.shape[-1]), dz.reshape(m, units), dy64.reshape(m, units)
    dwx, dwa = _gemm_ref(xm.T, dzm)
    compare(dw, dwx, dtype, "dkernel", scale=bound(dwa, m, _gemm_ref(np.abs(xm.T), np.abs(dym))[0]))
    if use_bias:
        with np.errstate(all="ignore"):
            dbx, dba = dzm.sum(0), np.abs(dzm).sum(0)
        compare(db, dbx, dtype, "dbias", scale=bound(dba, m, np.abs(dym).sum(0)))
    elif is_tf:
        if db.shape != b.shape or np.any(db != 0):
            raise AssertionError("dbias without a bias is not zeros of the bias's shape")
    elif db is not None:
        raise AssertionError("dbias without a bias is not None")
    return "valid", ""


# ---------------------------------------------------------------------------


def main():
    seed, start, count = (int(v) for v in sys.argv[1:4])
    import tensorflow as tf

    from zoo import _native

    lib = _native.tf_ops()
    C = _native.c_module()
    assert lib is not None, "the TensorFlow op library did not load"
    counts: dict[str, dict[str, int]] = {}
    fails = 0
    for i in range(start, start + count):
        case = make_case(seed, i)
        if case["entry"].startswith("tf.") and np.random.default_rng([seed, i, 2]).random() < 0.03:
            case["graph"] = True
        print("CASE", i, describe(case), flush=True)
        if os.environ.get("ZOO_FUZZ_ABORT_AT") == str(i):  # tests/test_fuzz.py checks crash reporting
            os.abort()
        rng = np.random.default_rng([seed, i, 1])
        try:
            run = dense_case if "dense" in case["entry"] else bias_act_case
            verdict, detail = run(case, tf, lib, C, rng)
        except AssertionError as e:
            fails += 1
            print("FAIL", i, str(e).replace("\n", " ")[:800], flush=True)
            continue
        except Exception:  # a bug in this harness: report it, do not hide it
            fails += 1
            print("FAIL", i, "harness error:", traceback.format_exc().replace("\n", " | ")[-800:], flush=True)
            continue
        c = counts.setdefault(case["entry"], {"valid": 0, "invalid": 0})
        c[verdict] += 1
        print("DONE", i, verdict, detail, flush=True)
    print("SUMMARY", json.dumps({"counts": counts, "fails": fails}), flush=True)


if __name__ == "__main__":
    main()
