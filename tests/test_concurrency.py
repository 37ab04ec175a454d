"""Several Python threads at once through the native paths give what one thread gives.

zoo._C releases the GIL while its kernels run, so concurrent calls meet in the
module's one thread pool; the TF ops run on TensorFlow's inter/intra-op pools;
predict goes through Keras and the fused layers. Each thread gets its own
inputs and must reproduce, bit for bit, the result computed alone beforehand
(the kernels' chunking depends on sizes only, never on the thread count).
The thread pool's own synchronisation is checked under ThreadSanitizer by
tests/test_sanitizers.py.
"""

import threading

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo
from zoo import _native

THREADS = 6
ROUNDS = 4


def _in_threads(fn, n=THREADS):
    """Runs fn(i) for i < n on n threads released together; returns results or raises."""
    barrier = threading.Barrier(n)
    results, errors = [None] * n, []

    def body(i):
        try:
            barrier.wait()
            results[i] = [fn(i) for _ in range(ROUNDS)]
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    if errors:
        raise errors[0]
    return results


def _inputs(i, shape, seed=0):
    return np.random.default_rng([seed, i]).standard_normal(shape).astype(np.float32)


def _assert_same(got_rounds, want):
    for got in got_rounds:
        for g, w in zip(got, want):
            np.testing.assert_array_equal(np.asarray(g), np.asarray(w))


def test_c_module_from_many_threads():
    c = _native.c_module()
    # Big enough for several pool tasks per call (bias_act chunks are 32K elements).
    xs = [_inputs(i, (300, 512)) for i in range(THREADS)]
    ws = [_inputs(i, (512, 256), 1) for i in range(THREADS)]
    b1, b2 = _inputs(0, (512,), 2), _inputs(0, (256,), 3)

    def work(i):
        y = c.bias_act(xs[i], b1, "gelu")
        dx, db = c.bias_act_backward(y, xs[i], b1, "gelu")
        z = c.dense(xs[i], ws[i], b2, "silu")
        gx, gw, gb = c.dense_backward(z, xs[i], ws[i], b2, None, "silu")
        return [y, dx, db, z, gx, gw, gb]

    alone = [work(i) for i in range(THREADS)]
    for i, rounds in enumerate(_in_threads(work)):
        _assert_same(rounds, alone[i])


def test_tf_ops_from_many_threads():
    lib = _native.tf_ops()
    xs = [tf.constant(_inputs(i, (300, 512))) for i in range(THREADS)]
    ws = [tf.constant(_inputs(i, (512, 256), 1)) for i in range(THREADS)]
    b1, b2 = tf.constant(_inputs(0, (512,), 2)), tf.constant(_inputs(0, (256,), 3))

    def work(i):
        y = lib.zoo_bias_act(xs[i], b1, activation="elu")
        dx, db = lib.zoo_bias_act_grad(y, xs[i], b1, activation="elu")
        z, pre = lib.zoo_dense(xs[i], ws[i], b2, activation="gelu")
        gx, gw, gb = lib.zoo_dense_grad(z, xs[i], ws[i], b2, pre, activation="gelu")
        return [t.numpy() for t in (y, dx, db, z, gx, gw, gb)]

    alone = [work(i) for i in range(THREADS)]
    for i, rounds in enumerate(_in_threads(work)):
        _assert_same(rounds, alone[i])


@pytest.fixture(scope="module")
def model():
    assert _native.use_tf_native()
    keras.utils.set_random_seed(0)
    m = keras.Sequential([
        keras.Input((64,)),
        zoo.layers.FusedDense(128, activation="gelu"),
        zoo.layers.FusedDense(64, activation="relu6"),
        zoo.layers.FusedDense(10),
    ])
    return m


def test_predict_from_many_threads(model):
    xs = [_inputs(i, (48, 64), 5) for i in range(THREADS)]
    alone = [[model.predict(xs[i], batch_size=16, verbose=0)] for i in range(THREADS)]
    for i, rounds in enumerate(_in_threads(lambda i: [model.predict(xs[i], batch_size=16, verbose=0)])):
        _assert_same(rounds, alone[i])


def test_once_runs_setup_exactly_once_across_threads():
    # The ops' TF gradients register through zoo.ops._once.once: TensorFlow
    # refuses a second registration, so threads tracing their first model
    # together must not both run it.
    import time

    from zoo.ops._once import once

    calls = []

    @once
    def setup():
        calls.append(threading.get_ident())
        time.sleep(0.05)  # long enough for every other thread to arrive meanwhile

    _in_threads(lambda i: setup())
    assert len(calls) == 1

    attempts = []

    @once
    def flaky():
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("first attempt fails")

    with pytest.raises(RuntimeError):
        flaky()
    flaky()  # a failed setup runs again
    flaky()
    assert len(attempts) == 2
