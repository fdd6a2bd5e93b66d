"""Requests take turns: the sandbox's answer to the GIL.

Everything the sandbox does for a request is Python under one GIL, or SQLite calls that hand
the GIL back and forth. With several server threads serving requests at once, the thread that
holds the engine's write lock gives the GIL away at every SQLite call and waits to get it back
from threads busy with other requests, so the write lock is held about twice as long and
placements per second fall (bench/sandbox_load.py, 2 cores: about 500/s with eight threads
interleaving, 750/s with one). So the server's request threads (sandbox.server.RequestPool) take
turns through a whole request, from the application to the finished response, while the server's
event loop keeps reading and parsing the next requests and writing answers; two threads are
enough (``SANDBOX_THREADS``), and fewer threads queueing for the turn also means a shorter wait for
each. Deliberate waits (an injected latency or timeout fault) give the turn back and add a thread
to the pool while they sleep (``waiting``), so slow requests do not hold up the others.

``SANDBOX_SERIAL_REQUESTS`` (default on) switches the turns off.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

_turn = threading.Lock()
_holder = threading.local()

# The server's thread pool (sandbox.server.RequestPool) and its size: a request that sleeps with its
# turn given back lends its thread to the sleep and gets the pool one more thread meanwhile, so
# a handful of threads suffices for the work and sleeping requests never starve the others.
_pool = None
_pool_size = 0
_sleepers = 0
_pool_lock = threading.Lock()


def attach(pool, threads: int) -> None:
    """Let ``waiting`` grow and shrink the server's pool (``pool.set_thread_count``)."""
    global _pool, _pool_size
    _pool, _pool_size = pool, threads


def _lend(delta: int) -> None:
    global _sleepers
    if _pool is None:
        return
    with _pool_lock:
        _sleepers += delta
        _pool.set_thread_count(_pool_size + _sleepers)


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
    _lend(+1)
    _turn.release()
    try:
        yield
    finally:
        _turn.acquire()
        _lend(-1)
        _holder.turn = True


def busy() -> bool:
    """Whether a request holds the turn now (the chain's block producer yields to requests)."""
    return _turn.locked()
