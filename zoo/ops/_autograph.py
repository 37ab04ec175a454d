"""zoo's public ops as TensorFlow's AutoGraph should see them: functions to
call as they are.

AutoGraph (on in every ``tf.function`` unless turned off) rewrites each Python
function a traced function calls, down into the standard library; the ops'
dispatch reads zoo's switches from the environment, and AutoGraph then warns
that it cannot transform ``os.fsencode``. The ops hold no Python control flow
on tensors (Keras calls them from layers with AutoGraph off), so they are
marked the way ``tf.autograph.experimental.do_not_convert`` marks its wrappers:
AutoGraph calls anything carrying ``autograph_info__`` unconverted. Setting the
attribute needs no TensorFlow import, so this works before, or without, it.
"""


def call_unconverted(fn):
    """Marks ``fn`` for AutoGraph as a function to call unconverted."""
    fn.autograph_info__ = frozenset()
    return fn
