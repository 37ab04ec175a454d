"""zoo on Keras' JAX backend: the XLA FFI kernels (csrc/jax) against the
keras.ops references, inside and outside jit, the fused LSTM/GRU against
keras.layers with the same weights, the custom calls in a jitted train step's
HLO, and fit/evaluate/predict of one model per family with native required.

The suite itself runs on TensorFlow, so everything JAX runs in ONE child
process (tests/jax_child.py, KERAS_BACKEND=jax) that reports JSON; each test
here asserts one group of its cases. The torch backend, when installed, is
checked to keep working on the reference path.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest

CHILD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "jax_child.py")
GROUPS = ["bias_act", "dense", "errors", "rnn", "fit", "required", "platform"]

pytestmark = pytest.mark.skipif(importlib.util.find_spec("jax") is None,
                                reason="jax is not installed (pip install keras-zoo[jax])")


@pytest.fixture(scope="module")
def child_results(tmp_path_factory):
    env = dict(os.environ, KERAS_BACKEND="jax", ZOO_REQUIRE_NATIVE="1", TF_CPP_MIN_LOG_LEVEL="3",
               JAX_PLATFORMS="cpu")
    # cwd outside the checkout, so the child imports the installed package.
    proc = subprocess.run([sys.executable, CHILD], env=env, cwd=tmp_path_factory.mktemp("jax"),
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.slow  # one child: about 3 CPU-minutes of JAX compiles and fits
@pytest.mark.parametrize("group", GROUPS)
def test_jax_backend(child_results, group):
    cases = child_results.get(group)
    assert cases, f"the child ran no {group} cases"
    failed = [c for c in cases if not c["ok"]]
    assert not failed, "\n".join(f"{c['case']}: {c['detail']}" for c in failed[:20])


def test_torch_backend_runs_the_reference(tmp_path):
    if importlib.util.find_spec("torch") is None:
        pytest.skip("torch is not installed: the torch backend is not checked here")
    code = (
        "import numpy as np, keras, zoo\n"
        "x = np.random.default_rng(0).standard_normal((4, 6)).astype('float32')\n"
        "b = np.ones(6, 'float32')\n"
        "y = zoo.ops.bias_act(x, b, 'gelu')\n"
        "r = keras.ops.convert_to_numpy(zoo.ops.bias_act_ref(x, b, 'gelu'))\n"
        "assert np.allclose(keras.ops.convert_to_numpy(y), r)\n"
        "layer = zoo.layers.LSTM(3)\n"
        "print(tuple(layer(np.ones((2, 5, 4), 'float32')).shape))\n"
    )
    env = dict(os.environ, KERAS_BACKEND="torch")
    env.pop("ZOO_REQUIRE_NATIVE", None)  # torch has no native kernels yet
    proc = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().endswith("(2, 3)")
