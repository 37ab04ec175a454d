"""CUDA kernels (zoo._C.cuda) against the CPU core (zoo._C), values and gradients.

Needs a CUDA GPU, a build with ZOO_WITH_CUDA=ON and PyTorch with CUDA (its tensors
reach the kernels through DLPack). The CPU core is the reference: for bias_act
both back ends evaluate the same float32 formulas, so they agree to rounding; for
the dense layer, whose sums run in different orders, the rule is the one for
reduced precision everywhere in this suite: our error against the float32 CPU
result at most twice that of PyTorch's own kernels in the same dtype, plus a
floor of a few units in the last place.
"""

import math

import numpy as np
import pytest

pytestmark = pytest.mark.cuda

torch = pytest.importorskip("torch")
ml_dtypes = pytest.importorskip("ml_dtypes")
from zoo import _C  # noqa: E402

if not hasattr(_C, "cuda"):
    pytest.skip("zoo._C was built without ZOO_WITH_CUDA", allow_module_level=True)
if not torch.cuda.is_available():
    pytest.skip("PyTorch sees no CUDA device", allow_module_level=True)

torch.backends.cuda.matmul.allow_tf32 = False  # the peer must be true float32

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
EPS = {"float32": 2.0**-23, "float16": 2.0**-10, "bfloat16": 2.0**-7}
ACTS = [(a, {}) for a in _C.activations()] + [
    ("relu", dict(alpha=0.1, max_value=6.0, threshold=0.5)),
    ("elu", dict(alpha=0.7)),
]
ACT_IDS = [a + ("-" + "-".join(f"{k}{v}" for k, v in p.items()) if p else "") for a, p in ACTS]


def to_np(t):
    t = t.detach()
    if t.dtype == torch.bfloat16:
        return t.float().cpu().numpy().astype(ml_dtypes.bfloat16)
    return t.cpu().numpy()


def f32(a):
    if isinstance(a, torch.Tensor):
        return a.detach().float().cpu().numpy()
    return np.asarray(a, dtype=np.float32)


def randn(shape, dtype, scale=3.0, seed=0):
    g = torch.Generator(device="cuda").manual_seed(seed)
    return (torch.randn(shape, generator=g, device="cuda") * scale).to(DTYPES[dtype])


def close_to_cpu(gpu, cpu, dtype, ulps=2):
    """Same formulas in float32; only rounding may differ (fused multiply-adds)."""
    g, c = f32(gpu), f32(cpu)
    # float32: a few ulps more, for polynomial steps contracted to FMA on one side only.
    tol = ulps * max(EPS[dtype], 2.0**-20)
    np.testing.assert_allclose(g, c, rtol=tol, atol=tol)


def within_peer(ours, ref, peer, dtype, what):
    ours, ref, peer = f32(ours), f32(ref), f32(peer)
    if ref.size == 0:
        return
    err = float(np.max(np.abs(ours - ref)))
    peer_err = float(np.max(np.abs(peer - ref)))
    floor = 4 * EPS[dtype] * max(1.0, float(np.max(np.abs(ref))))
    assert err <= 2 * peer_err + floor, f"{what}: error {err:g} vs PyTorch's {peer_err:g}"


# ---------------------------------------------------------------------------
# bias_act

BA_SHAPES = [(7,), (3, 5), (4, 33), (2, 3, 129), (257, 96), (1024, 1000), (5, 0), (0, 8)]


@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("shape", BA_SHAPES, ids=str)
@pytest.mark.parametrize("act,params", ACTS, ids=ACT_IDS)
def test_bias_act_forward_matches_cpu(dtype, shape, act, params):
    x = randn(shape, dtype)
    b = randn(shape[-1:], dtype, seed=1)
    out = torch.empty_like(x)
    _C.cuda.bias_act(x, b, out, activation=act, **params)
    torch.cuda.synchronize()
    ref = _C.bias_act(to_np(x), to_np(b), act, **params)
    close_to_cpu(out, ref, dtype)


@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("shape", BA_SHAPES, ids=str)
@pytest.mark.parametrize("act,params", ACTS, ids=ACT_IDS)
def test_bias_act_backward_matches_cpu(dtype, shape, act, params):
    x = randn(shape, dtype)
    b = randn(shape[-1:], dtype, seed=1)
    dy = randn(shape, dtype, scale=1.0, seed=2)
    dx, db = torch.empty_like(x), torch.empty_like(b)
    _C.cuda.bias_act_backward(dy, x, b, dx, db, activation=act, **params)
    torch.cuda.synchronize()
    ref_dx, ref_db = _C.bias_act_backward(to_np(dy), to_np(x), to_np(b), act, **params)
    close_to_cpu(dx, ref_dx, dtype)
    # Sums of many rows: float32 partials added in different orders.
    rows = max(1, x.numel() // max(1, shape[-1]))
    tol = max(EPS[dtype], 2.0**-20) * 2 + 2.0**-22 * rows
    scale = max(1.0, float(np.max(np.abs(f32(ref_dx))))) if ref_dx.size else 1.0
    np.testing.assert_allclose(f32(db), f32(ref_db), rtol=tol, atol=tol * scale)


def test_bias_act_without_bias_and_in_place():
    x = randn((33, 17), "float32")
    ref = _C.bias_act(to_np(x), None, "silu")
    _C.cuda.bias_act(x, None, x, activation="silu")  # out aliases x
    torch.cuda.synchronize()
    close_to_cpu(x, ref, "float32")


@pytest.mark.parametrize("dtype", list(DTYPES))
def test_bias_act_misaligned_views(dtype):
    # One element in: the 16-byte packs do not line up, the scalar variant runs.
    base = randn((1 + 31 * 9,), dtype)
    x = base[1:].view(31, 9)
    b = randn((9,), dtype, seed=1)
    out = torch.empty(1 + 31 * 9, dtype=x.dtype, device="cuda")[1:].view(31, 9)
    _C.cuda.bias_act(x, b, out, activation="gelu")
    dy = randn((31, 9), dtype, seed=2)
    dx, db = torch.empty_like(dy), torch.empty_like(b)
    _C.cuda.bias_act_backward(dy, x, b, dx, db, activation="gelu")
    torch.cuda.synchronize()
    close_to_cpu(out, _C.bias_act(to_np(x), to_np(b), "gelu"), dtype)
    ref_dx, ref_db = _C.bias_act_backward(to_np(dy), to_np(x), to_np(b), "gelu")
    close_to_cpu(dx, ref_dx, dtype)
    np.testing.assert_allclose(f32(db), f32(ref_db), rtol=1e-2, atol=1e-2)


@pytest.mark.parametrize("dtype", list(DTYPES))
def test_dbias_is_deterministic(dtype):
    x = randn((4099, 257), dtype)
    b = randn((257,), dtype, seed=1)
    dy = randn((4099, 257), dtype, seed=2)
    results = []
    for _ in range(3):
        dx, db = torch.empty_like(x), torch.empty_like(b)
        _C.cuda.bias_act_backward(dy, x, b, dx, db, activation="mish")
        results.append(db.clone())
    torch.cuda.synchronize()
    assert all(torch.equal(results[0], r) for r in results[1:])


def test_dbias_without_bias_is_the_column_sum():
    dy = randn((300, 40), "float32", scale=1.0)
    x = randn((300, 40), "float32", seed=1)
    dx, db = torch.empty_like(x), torch.empty(40, device="cuda")
    _C.cuda.bias_act_backward(dy, x, None, dx, db, activation="tanh")
    torch.cuda.synchronize()
    np.testing.assert_allclose(f32(db), f32(dx).sum(axis=0), rtol=1e-5, atol=1e-5)


def test_bad_arguments_raise_value_error():
    x = torch.zeros(4, 6, device="cuda")
    b = torch.zeros(6, device="cuda")
    with pytest.raises(ValueError, match="CUDA device tensor"):
        _C.cuda.bias_act(x.cpu(), None, x)
    with pytest.raises(ValueError, match="not contiguous"):
        _C.cuda.bias_act(x.t(), None, torch.empty(6, 4, device="cuda"))
    with pytest.raises(ValueError, match="expected float32, float16 or bfloat16"):
        _C.cuda.bias_act(x.double(), None, x.double())
    with pytest.raises(ValueError, match="bias has shape"):
        _C.cuda.bias_act(x, torch.zeros(5, device="cuda"), x)
    with pytest.raises(ValueError, match="out has shape"):
        _C.cuda.bias_act(x, b, torch.zeros(4, 5, device="cuda"))
    with pytest.raises(ValueError, match="out is float16"):
        _C.cuda.bias_act(x, b, x.half())
    with pytest.raises(ValueError, match="unknown activation"):
        _C.cuda.bias_act(x, b, x, activation="swoosh")
    with pytest.raises(ValueError, match="input rows"):
        _C.cuda.dense(x, torch.zeros(5, 3, device="cuda"), None, torch.zeros(4, 3, device="cuda"))


# ---------------------------------------------------------------------------
# dense

DENSE_SHAPES = [(1, 1, 1), (3, 5, 7), (17, 33, 65), (64, 128, 96), (129, 257, 31),
                (256, 512, 1024)]
DENSE_ACTS = ["linear", "relu", "gelu_tanh", "gelu", "silu", "sigmoid"]


def _inputs(m, k, n, dtype):
    x = randn((m, k), dtype, scale=1.0)
    w = randn((k, n), dtype, scale=1.0 / math.sqrt(max(k, 1)), seed=1)
    b = randn((n,), dtype, scale=0.5, seed=2)
    return x, w, b


def _peer_forward(x, w, b, act):
    """PyTorch's matmul in the same dtype, then the activation on its rounded z."""
    z = torch.nn.functional.linear(x, w.t(), b)
    y = _C.bias_act(f32(z), None, act)
    return z, torch.from_numpy(y).to(z.dtype)


@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("mkn", DENSE_SHAPES, ids=str)
@pytest.mark.parametrize("act", DENSE_ACTS)
@pytest.mark.parametrize("with_preact", [False, True], ids=["y", "y+z"])
def test_dense_forward_matches_cpu(dtype, mkn, act, with_preact):
    m, k, n = mkn
    x, w, b = _inputs(m, k, n, dtype)
    out = torch.empty(m, n, dtype=x.dtype, device="cuda")
    z = torch.empty_like(out) if with_preact else None
    path = _C.cuda.dense(x, w, b, out, z, activation=act)
    torch.cuda.synchronize()
    ref_y, ref_z = _C.dense(f32(x), f32(w), f32(b), act, return_preact=True)
    peer_z, peer_y = _peer_forward(x, w, b, act)
    within_peer(out, ref_y, peer_y, dtype, f"y ({path})")
    if with_preact:
        within_peer(z, ref_z, peer_z, dtype, f"z ({path})")
    if act not in ("linear", "relu", "gelu_tanh"):
        assert "bias_act" in path  # no cuBLASLt epilogue computes these
    if act == "gelu":
        assert "GELU" not in path  # cuBLASLt's GELU is the tanh form


@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("mkn", DENSE_SHAPES, ids=str)
@pytest.mark.parametrize("act", DENSE_ACTS)
def test_dense_backward_matches_cpu(dtype, mkn, act):
    m, k, n = mkn
    x, w, b = _inputs(m, k, n, dtype)
    out = torch.empty(m, n, dtype=x.dtype, device="cuda")
    z = torch.empty_like(out)
    _C.cuda.dense(x, w, b, out, z, activation=act)
    dy = randn((m, n), dtype, scale=1.0, seed=3)
    dx, dw, db = torch.empty_like(x), torch.empty_like(w), torch.empty_like(b)
    path = _C.cuda.dense_backward(dy, x, w, z, dx, dw, db, activation=act)
    torch.cuda.synchronize()
    ref_dx, ref_dw, ref_db = _C.dense_backward(f32(dy), f32(x), f32(w), f32(b), None, act)
    # Peer: dz from the CPU core rounded to dtype, then PyTorch's matmuls.
    dz, _ = _C.bias_act_backward(f32(dy), f32(z), None, act)
    dz = torch.from_numpy(dz).cuda().to(x.dtype)
    within_peer(dx, ref_dx, dz @ w.t(), dtype, f"dx ({path})")
    within_peer(dw, ref_dw, x.t() @ dz, dtype, f"dw ({path})")
    within_peer(db, ref_db, dz.float().sum(0).to(x.dtype), dtype, f"db ({path})")


@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("x_act", ["gelu_tanh", "silu", "linear"])
def test_dense_backward_through_the_input_activation(dtype, x_act):
    # Two layers: x = x_act(x_preact) feeds this one; dx comes back as the
    # gradient at x_preact, with its bias gradient x_db.
    m, k, n = 48, 64, 40
    x_preact = randn((m, k), dtype, scale=1.5, seed=5)
    x = torch.from_numpy(_C.bias_act(f32(x_preact), None, x_act)).cuda().to(x_preact.dtype)
    _, w, b = _inputs(m, k, n, dtype)
    out = torch.empty(m, n, dtype=x.dtype, device="cuda")
    z = torch.empty_like(out)
    _C.cuda.dense(x, w, b, out, z, activation="relu")
    dy = randn((m, n), dtype, scale=1.0, seed=3)
    dx, x_db = torch.empty_like(x), torch.empty(k, dtype=x.dtype, device="cuda")
    path = _C.cuda.dense_backward(dy, x, w, z, dx, None, None, activation="relu",
                                  x_preact=x_preact, x_activation=x_act, x_db=x_db)
    torch.cuda.synchronize()
    ref_dx, _, _ = _C.dense_backward(f32(dy), f32(x), f32(w), f32(b), f32(z), "relu")
    zero_bias = np.zeros(k, np.float32)
    ref_dpre, ref_xdb = _C.bias_act_backward(ref_dx, f32(x_preact), zero_bias, x_act)
    dz, _ = _C.bias_act_backward(f32(dy), f32(z), None, "relu")
    peer_dx = torch.from_numpy(dz).cuda().to(x.dtype) @ w.t()
    peer_dpre, peer_xdb = _C.bias_act_backward(f32(peer_dx), f32(x_preact), zero_bias, x_act)
    within_peer(dx, ref_dpre, peer_dpre.astype(np.float32), dtype, f"dx ({path})")
    within_peer(x_db, ref_xdb, peer_xdb, dtype, f"x_db ({path})")


@pytest.mark.parametrize("mkn", [(0, 4, 5), (3, 0, 5), (3, 4, 0)], ids=str)
def test_dense_empty_sizes(mkn):
    m, k, n = mkn
    x, w, b = _inputs(m, k, n, "float32")
    out = torch.full((m, n), float("nan"), device="cuda")
    _C.cuda.dense(x, w, b, out, activation="silu")
    dy = torch.ones(m, n, device="cuda")
    dx, dw, db = (torch.full_like(t, float("nan")) for t in (x, w, b))
    _C.cuda.dense_backward(dy, x, w, out, dx, dw, db, activation="linear")
    torch.cuda.synchronize()
    ref_y = _C.dense(f32(x), f32(w), f32(b), "silu")
    ref_dx, ref_dw, ref_db = _C.dense_backward(f32(dy), f32(x), f32(w), f32(b), None, "linear")
    for got, ref in ((out, ref_y), (dx, ref_dx), (dw, ref_dw), (db, ref_db)):
        np.testing.assert_allclose(f32(got), f32(ref), rtol=1e-6, atol=1e-6)


# ---------------------------------------------------------------------------
# build and device facts


def test_device_and_build_info():
    info = _C.cuda.device_info()
    assert info["device_count"] == torch.cuda.device_count() >= 1
    assert info["devices"][0]["name"]
    assert any(d["supported"] for d in info["devices"])
    b = _C.cuda.build_info()
    assert b["archs"].startswith("sm_")
    top = _C.build_info()
    assert top["cuda"] is True and top["cuda_devices"] >= 1 and top["cuda_archs"] == b["archs"]
