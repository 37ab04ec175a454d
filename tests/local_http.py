"""A test HTTP server on 127.0.0.1, run on a background thread for the length of a with block."""

from __future__ import annotations

import contextlib
import threading


@contextlib.contextmanager
def serving(server):
    """Serves ``server`` (an http.server.HTTPServer) until the block ends, then shuts it down."""
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
