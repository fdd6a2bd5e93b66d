"""Requests take turns: the sandbox's answer to the GIL.

Everything the sandbox does for a request is Python under one GIL, or SQLite calls that hand
the GIL back and forth. With several server threads serving requests at once, the thread that
holds the engine's write lock gives the GIL away at every SQLite call and waits to get it back
from threads busy with other requests, so the write lock is held about twice as long and
placements per second fall (bench/sandbox_load.py, 2 cores: about 500/s with eight threads
interleaving, 750/s with one). So the server's threads take turns through a whole request,
from the application to the response written to the socket, while waitress's own thread
keeps reading and parsing the next requests. Deliberate waits (an injected latency or timeout
fault) give the turn back (``waiting``), so one slow request does not hold up the others.

``SANDBOX_SERIAL_REQUESTS`` (default on) switches the turns off.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from waitress.channel import HTTPChannel

_turn = threading.Lock()
_holder = threading.local()


@contextmanager
def turn() -> Iterator[None]:
    with _turn:
        _holder.turn = True
        try:
            yield
        finally:
            _holder.turn = False


@contextmanager
def waiting() -> Iterator[None]:
    """Give the turn back for a deliberate wait (a no-op outside a turn)."""
    if not getattr(_holder, "turn", False):
        yield
        return
    _holder.turn = False
    _turn.release()
    try:
        yield
    finally:
        _turn.acquire()
        _holder.turn = True


class SerialChannel(HTTPChannel):
    """waitress's connection: each request is served (app and response) in its turn."""

    def service(self):
        with turn():
            super().service()
