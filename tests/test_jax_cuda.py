"""The JAX FFI binding's CUDA handlers (csrc/jax/cuda_ffi.cc) on a GPU.

Needs jax with a CUDA backend and keras-zoo built with ZOO_WITH_CUDA=ON; skips
otherwise (the handlers' compilation is checked without a GPU in
test_cuda_build.py). The reference is the same op on JAX's CPU device, whose
handlers tests/jax_child.py checks against the keras.ops references: bias_act
evaluates the same float32 formulas on both, so they agree to rounding; the
dense sums run in different orders (cuBLASLt against zoo's GEMM), so they agree
within a few float32 units of the largest magnitude.
"""

import numpy as np
import pytest

pytestmark = pytest.mark.cuda

jax = pytest.importorskip("jax")
jnp = jax.numpy

from zoo import _native  # noqa: E402

try:
    GPU = jax.devices("gpu")[0]
except RuntimeError:
    pytest.skip("jax has no GPU backend (pip install 'jax[cuda13]')", allow_module_level=True)
if not _native.jax_ops_cuda():
    pytest.skip("keras-zoo was built without ZOO_WITH_CUDA: the JAX library has no CUDA "
                "handlers", allow_module_level=True)

import zoo.ops._jax as zjax  # noqa: E402
from zoo.ops import KERNEL_ACTIVATIONS  # noqa: E402
from zoo.ops._activations import Activation  # noqa: E402

CPU = jax.devices("cpu")[0]
RNG = np.random.default_rng(0)
TOL = {"float32": 1e-5, "float16": 2e-3, "bfloat16": 1.6e-2}


def rand(shape, dtype="float32", scale=1.0):
    return (RNG.standard_normal(shape) * scale).astype(jnp.dtype(dtype))


def on(device, *arrays):
    return [jax.device_put(a, device) for a in arrays]


def rel_err(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert a.shape == b.shape
    return 0.0 if a.size == 0 else float(np.max(np.abs(a - b)) / max(1.0, np.max(np.abs(b))))


def both(fn, *arrays):
    """fn jitted on the GPU and on the CPU, results as numpy."""
    f = jax.jit(fn)
    gpu = jax.tree.map(np.asarray, f(*on(GPU, *arrays)))
    cpu = jax.tree.map(np.asarray, f(*on(CPU, *arrays)))
    return gpu, cpu


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
@pytest.mark.parametrize("shape", [(3, 7), (64, 33), (2, 5, 128), (0, 4)])
@pytest.mark.parametrize("act", list(KERNEL_ACTIVATIONS))
def test_bias_act_matches_the_cpu_handler(act, shape, dtype):
    a = Activation(act)
    x, b, up = rand(shape, dtype, 2.0), rand(shape[-1:], dtype), rand(shape, dtype)

    def value_and_grads(x, b):
        loss = lambda x, b: jnp.sum((zjax.bias_act(x, b, a) * up).astype(jnp.float32))
        return zjax.bias_act(x, b, a), jax.grad(loss, argnums=(0, 1))(x, b)

    (y, (dx, db)), (yc, (dxc, dbc)) = both(value_and_grads, x, b)
    tol = TOL[dtype]
    assert rel_err(y, yc) <= tol
    assert rel_err(dx, dxc) <= tol
    assert rel_err(db, dbc) <= tol * max(1, shape[0]) ** 0.5  # sums of rounded terms


@pytest.mark.parametrize("act", ["linear", "relu", "gelu", "gelu_tanh", "sigmoid"])
@pytest.mark.parametrize("shape,units", [((1, 5), 3), ((64, 300), 70), ((2, 3, 17), 9)])
def test_dense_matches_the_cpu_handler(act, shape, units):
    a = Activation(act)
    x, w, b = rand(shape), rand((shape[-1], units), scale=0.1), rand((units,))
    up = rand(shape[:-1] + (units,))

    def value_and_grads(x, w, b):
        loss = lambda x, w, b: jnp.sum(zjax.dense(x, w, b, a) * up)
        return zjax.dense(x, w, b, a), jax.grad(loss, argnums=(0, 1, 2))(x, w, b)

    (y, grads), (yc, grads_c) = both(value_and_grads, x, w, b)
    assert rel_err(y, yc) <= 1e-5
    for g, gc in zip(grads, grads_c):
        assert rel_err(g, gc) <= 1e-5 * max(1, shape[0]) ** 0.5


def test_the_gpu_program_holds_the_custom_calls():
    x, b = on(GPU, rand((8, 16)), rand((16,)))
    fn = jax.value_and_grad(lambda x, b: jnp.sum(zjax.bias_act(x, b, Activation("gelu"))),
                            argnums=(0, 1))
    text = jax.jit(fn).lower(x, b).compile().as_text()
    assert "ZooBiasActFwd" in text and "ZooBiasActBwd" in text


def test_bad_input_raises_on_the_gpu():
    x, b = on(GPU, rand((4, 6)), rand((5,)))
    with pytest.raises(Exception, match="bias has 5 values but x's last axis is 6"):
        jax.block_until_ready(zjax.bias_act(x, b, Activation("relu")))
