"""The sandbox clock: real UTC time plus an offset kept in the database.

``advance(seconds)`` moves simulated time forward (the control plane calls it) and runs
the time-driven work at once; ``tick(now)`` is that work: markets past their end date
close (sandbox.lifecycle), pending orders become live, GTD orders expire, market makers
move their quotes, then the escrow monitor runs.
A background thread of the server calls ``maybe_tick()`` every SANDBOX_TICK_SECONDS,
and each request calls it too, so time-driven work never waits on the thread.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime, timedelta

from sandbox import conf

logger = logging.getLogger(__name__)

OFFSET_KEY = "clock_offset_seconds"
_offset: float | None = None
_tick_lock = threading.Lock()
_last_tick = 0.0


def _load_offset() -> float:
    from sandbox.models import SandboxState

    row = SandboxState.objects.filter(key=OFFSET_KEY).first()
    return float(row.value) if row else 0.0


def offset() -> float:
    global _offset
    if _offset is None:
        _offset = _load_offset()
    return _offset


def forget_offset() -> None:
    """Drop the cached offset (tests that reset the database call this)."""
    global _offset
    _offset = None


def now() -> datetime:
    return datetime.now(UTC) + timedelta(seconds=offset())


def advance(seconds: float) -> datetime:
    """Move simulated time forward by ``seconds`` (≥ 0) and run the time-driven work."""
    from sandbox.models import SandboxState

    global _offset
    if seconds < 0:
        raise ValueError("the sandbox clock only moves forward")
    new_offset = offset() + float(seconds)
    SandboxState.objects.update_or_create(key=OFFSET_KEY, defaults={"value": new_offset})
    _offset = new_offset
    current = now()
    with _tick_lock:
        tick(current)
    return current


def tick(current: datetime) -> None:
    from sandbox import engine, escrow, lifecycle

    lifecycle.close_due_markets(now=current)  # first: nothing trades on a market past its end
    engine.activate_pending(now=current)
    engine.expire_orders(now=current)
    engine.move_makers(now=current)
    escrow.monitor(current)


def maybe_tick() -> None:
    """Run ``tick`` if it is due and nobody else is running it."""
    global _last_tick
    if time.monotonic() - _last_tick < conf.SANDBOX_TICK_SECONDS:
        return
    if not _tick_lock.acquire(blocking=False):
        return
    try:
        _last_tick = time.monotonic()
        tick(now())
    except Exception:
        logger.exception("sandbox tick failed")
    finally:
        _tick_lock.release()


def run_ticker(stop: threading.Event) -> None:
    """Body of the server's background thread."""
    from django.db import connections

    while not stop.wait(conf.SANDBOX_TICK_SECONDS):
        maybe_tick()
    connections.close_all()
