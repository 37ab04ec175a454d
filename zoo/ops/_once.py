"""Run-once setup for the ops' TensorFlow side.

Each op registers its TensorFlow gradient functions on first use rather than
at import (importing zoo.ops must not import TensorFlow), and
``tf.RegisterGradient`` refuses a second registration of one op type: two
threads tracing their first model at once must not both register. ``once``
makes a setup function run exactly one time, whoever calls it first.
"""

from __future__ import annotations

import functools
import threading


def once(setup):
    """Decorator: the first call runs ``setup``; later and concurrent calls wait
    for it and return. A call that raises leaves it to run again next time."""
    lock = threading.Lock()
    done = False

    @functools.wraps(setup)
    def run_once():
        nonlocal done
        if done:
            return
        with lock:
            if not done:
                setup()
                done = True

    return run_once
