"""Writes one OutboundCall row per HTTP attempt, so that no rollback can lose it.

The gateway is called outside transactions (project rule: no network call inside a
database transaction), so the normal path is one INSERT in autocommit right after the
call. A batch job (a sync run) may wrap its calls in ``batched()``: their rows are then
kept in memory and written by one multi-row INSERT every ``BATCH_ROWS`` rows or
``BATCH_SECONDS`` seconds and when the block ends, even by an exception (a worker killed
outright loses at most that unwritten tail; its SyncRun then stays unfinished too).

If a caller breaks the no-transaction rule, a row written on its connection would vanish with a
rollback; such rows are written by a short-lived thread on its own connection instead
(which also avoids waiting on the caller's locks), and a warning names the path.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from django.db import OperationalError, connections

from core.db import in_caller_transaction

from .models import OutboundCall

logger = logging.getLogger(__name__)

_pending: list[threading.Thread] = []
_pending_lock = threading.Lock()


@dataclass
class CallCount:
    calls: int = 0
    rate_limited: int = 0


_counter: ContextVar[CallCount | None] = ContextVar("parsec_call_count", default=None)

BATCH_ROWS = 200
BATCH_SECONDS = 5.0


@dataclass
class _Batch:
    rows: list
    started: float


_batch: ContextVar[_Batch | None] = ContextVar("parsec_call_batch", default=None)


@contextmanager
def batched() -> Iterator[None]:
    """Write the rows of the calls made in this block in batches (see the module docstring)."""
    if _batch.get() is not None:  # already batching: the outer block writes
        yield
        return
    batch = _Batch(rows=[], started=time.monotonic())
    token = _batch.set(batch)
    try:
        yield
    finally:
        _batch.reset(token)
        _write_batch(batch)


def _write_batch(batch: _Batch) -> None:
    rows, batch.rows, batch.started = batch.rows, [], time.monotonic()
    if not rows:
        return
    try:
        if in_caller_transaction():
            for row in rows:
                _write_in_background(row)
        else:
            OutboundCall.objects.bulk_create(rows)
    except Exception:
        logger.exception("could not record %d Parsec calls", len(rows))


@contextmanager
def counting_calls() -> Iterator[CallCount]:
    """Count the HTTP attempts made in this context (a sync run reports its calls with it)."""
    count = CallCount()
    token = _counter.set(count)
    try:
        yield count
    finally:
        _counter.reset(token)


def record(row: OutboundCall) -> None:
    """Store ``row``; never raises (a failing log must not hide Parsec's answer)."""
    count = _counter.get()
    if count is not None:
        count.calls += 1
        count.rate_limited += row.status_code == 429
    batch = _batch.get()
    if batch is not None and not in_caller_transaction():
        batch.rows.append(row)
        if len(batch.rows) >= BATCH_ROWS or time.monotonic() - batch.started >= BATCH_SECONDS:
            _write_batch(batch)
        return
    try:
        if in_caller_transaction():
            logger.warning("Parsec call %s %s made inside a database transaction; logging it on a separate connection", row.method, row.path_template)
            _write_in_background(row)
        else:
            row.save(force_insert=True)
    except Exception:
        logger.exception("could not record Parsec call %s %s", row.method, row.path_template)


def _write_in_background(row: OutboundCall) -> None:
    def write() -> None:
        try:
            for delay in (0.05, 0.1, 0.2, 0.5, 1, 2, 4, 8, 15, 30):
                try:
                    row.save(force_insert=True)
                    return
                except OperationalError:  # the caller still holds a lock (SQLite); wait for it
                    time.sleep(delay)
            logger.error("gave up recording Parsec call %s %s", row.method, row.path_template)
        finally:
            connections.close_all()

    thread = threading.Thread(target=write, name="parsec-call-log", daemon=True)
    with _pending_lock:
        _pending[:] = [t for t in _pending if t.is_alive()]
        _pending.append(thread)
    thread.start()


def flush(timeout: float = 60) -> None:
    """Wait for rows being written in the background (tests, shutdown)."""
    with _pending_lock:
        threads = list(_pending)
    for thread in threads:
        thread.join(timeout)
