"""zoo.ops called directly, as a user's own TensorFlow code calls them."""

import os
import subprocess
import sys

# A file, not `python -c`: AutoGraph converts only functions whose source it
# can read. One child process: AutoGraph warns once per function and process,
# so the child traces each op first inside tf.function (its first call also
# loads the op library), and asks AutoGraph's own log which ops it converted.
_CHILD = r"""
import numpy as np, tensorflow as tf, zoo
tf.autograph.set_verbosity(2, alsologtostdout=True)
x = tf.constant(np.ones((2, 3, 4), np.float32))
w, u = tf.Variable(tf.ones((4, 8))), tf.Variable(tf.ones((2, 8)))
b, h = tf.Variable(tf.zeros((8,))), tf.zeros((2, 2))

def bias_act():
    return zoo.ops.bias_act(x, tf.zeros((4,)), activation="relu")

def dense():
    return zoo.ops.dense(x, w, b, activation="gelu")

def lstm():
    return zoo.ops.lstm(x, h, h, None, w, u, b)[0]

def gru():
    return zoo.ops.gru(x, h, None, tf.ones((4, 6)), tf.ones((2, 6)), tf.zeros((2, 6)))[0]

def sequence_mask():
    return zoo.ops.sequence_mask(x)[0]

for call in (bias_act, dense, lstm, gru, sequence_mask):
    traced = tf.function(call)()  # AutoGraph on, as tf.function's default
    np.testing.assert_allclose(traced.numpy(), call().numpy(), rtol=1e-6, err_msg=call.__name__)
print("CHILD OK")
"""

OPS = ("bias_act", "dense", "lstm", "gru", "sequence_mask")


def test_ops_trace_inside_tf_function_without_autograph_warnings(tmp_path):
    child = tmp_path / "user_code.py"
    child.write_text(_CHILD)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", KERAS_BACKEND="tensorflow")
    # cwd outside the checkout, so the child imports the installed package.
    proc = subprocess.run([sys.executable, str(child)], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "CHILD OK" in proc.stdout, out[-3000:]
    assert "AutoGraph could not transform" not in out, out[-3000:]
    for name in OPS:
        # AutoGraph calls each op as it is, not a rewritten copy of it.
        assert f"Permanently allowed: <function {name} at" in out, name
