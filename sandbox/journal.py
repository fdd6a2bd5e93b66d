"""The engine's side of the stream: what a hold of the engine lock changed, published once committed.

The engine reports, while it writes, how much each book level it touched grew or shrank
(``touch``), whole books it rewrote (``touch_book``: maker requotes, resolution), and the trades and
fills it made. Only books someone subscribes to are ``tracked``; for the others every report
returns at once, so the stream costs placement nothing while nobody listens.

``EngineLock`` is the engine's one lock (sandbox.engine.book_lock). When its outermost hold ends
without an exception, the transaction inside it has committed: its level changes are added to the
ledger (each tracked book's levels, read whole from the database when tracking starts and after
each whole-book rewrite, with the same sums as REST ``/orderbook``) and the new sizes are handed to
the hub on the event loop, still under the lock, so the hub receives book states in commit order.
A hold that ends with an exception (a rollback) publishes nothing. The ledger saves a database
read per change on the placement path (about a tenth of a placement's time, bench/sandbox_ws.py);
tests/sandbox/test_ws*.py compare the stream's books with REST /orderbook after every kind of write.

The hub starts tracking a book with ``init_book`` (under the lock: mark it tracked, read it whole,
hand it over), so every change after that read reaches the hub, after the book, and none before.
The hub attaches itself (``attach``): this module, below the engine, imports nothing of the stream.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from decimal import Decimal

from django.db import transaction

from sandbox import clock
from sandbox.models import Fill, Market, Order, Outcome, Trade

logger = logging.getLogger("sandbox.stream")
DB = "sandbox"

# Outcome ids of the books someone subscribes to. Changed by the hub (on the event loop) and by
# init_book (under the engine lock); read by writers under the engine lock.
tracked: set[int] = set()
# The levels of each tracked book, {(side, price): size}: written under the engine lock only.
_ledger: dict[int, dict[tuple[str, Decimal], Decimal]] = {}
_local = threading.local()


class _Hub:
    post: Callable | None = None  # post(fn, *args) runs fn(*args) on the hub's loop, in order (any thread)
    deliver: Callable | None = None  # deliver(updates, activity, changed_ms): one commit's changes
    ready: Callable | None = None  # ready(outcome_id, token, levels): a book read whole
    read_book: Callable | None = None  # read_book(outcome) -> (bids, asks): REST /orderbook's reading


_hub = _Hub()


def attach(post: Callable | None, *, deliver=None, ready=None, read_book=None) -> None:
    """The hub attaches itself (None detaches: nothing is tracked any more)."""
    _hub.post, _hub.deliver, _hub.ready, _hub.read_book = post, deliver, ready, read_book
    if post is None:
        tracked.clear()
        _ledger.clear()


def untrack(outcome_id: int) -> None:
    """Nobody subscribes to the book any more (the hub, on its loop)."""
    tracked.discard(outcome_id)
    _ledger.pop(outcome_id, None)


class _Journal:
    __slots__ = ("activity", "books", "levels")

    def __init__(self):
        self.levels: dict[int, dict[tuple[str, Decimal], Decimal]] = {}
        self.books: set[int] = set()
        self.activity: list[tuple] = []


def _journal() -> _Journal:
    journal = getattr(_local, "journal", None)
    if journal is None:
        journal = _local.journal = _Journal()
    return journal


def touch(outcome_id: int, side: str, price: Decimal, change: Decimal) -> None:
    """The level at ``price`` on the ``side`` (buy/sell) of a book grew by ``change`` (< 0: shrank)."""
    if outcome_id in tracked and change:
        levels = _journal().levels.setdefault(outcome_id, {})
        levels[(side, price)] = levels.get((side, price), 0) + change


def touch_book(outcome_id: int) -> None:
    """Any level of a book may have changed (it is read back whole)."""
    if outcome_id in tracked:
        _journal().books.add(outcome_id)


def trade(trade_row: Trade, market: Market, outcome: Outcome) -> None:
    if outcome.pk in tracked:
        _journal().activity.append(("trade", outcome.pk, trade_row, market, outcome))


def fill(fill_row: Fill, order: Order, trade_row: Trade, market: Market, outcome: Outcome) -> None:
    if outcome.pk in tracked:
        _journal().activity.append(("fill", outcome.pk, fill_row, order, trade_row, market, outcome))


class EngineLock:
    """The engine's lock (re-entrant); the end of its outermost hold publishes that hold's changes."""

    def __init__(self):
        self._lock = threading.RLock()
        self._depth = threading.local()

    def __enter__(self):
        self._lock.acquire()
        depth = getattr(self._depth, "value", 0)
        self._depth.value = depth + 1
        if depth == 0:
            _local.journal = None
        return self

    def __exit__(self, exc_type, exc, tb):
        try:
            self._depth.value -= 1
            if self._depth.value == 0:
                journal, _local.journal = getattr(_local, "journal", None), None
                if journal is not None and exc_type is None:
                    _publish_when_committed(journal)
        finally:
            self._lock.release()
        return False


lock = EngineLock()


def _publish_when_committed(journal: _Journal) -> None:
    from django.db import connections

    if connections[DB].in_atomic_block:  # an outer transaction is still open: publish after it commits
        transaction.on_commit(lambda: _publish_locked(journal), using=DB)
    else:
        _publish(journal)


def _publish_locked(journal: _Journal) -> None:
    with lock:
        _publish(journal)


def _publish(journal: _Journal) -> None:
    post = _hub.post
    if post is None:
        return
    updates: dict[int, tuple[str, object]] = {}
    for outcome_id in journal.books:
        if outcome_id in tracked:
            updates[outcome_id] = ("book", _reread(outcome_id))
    for outcome_id, changes in journal.levels.items():
        ledger = _ledger.get(outcome_id)
        if ledger is None or outcome_id in updates:
            continue  # not tracked (any more), or read whole after this commit
        sizes = {}
        for level, change in changes.items():
            size = ledger.get(level, 0) + change
            if size < 0:
                logger.error("stream ledger below zero at %s %s: reading the book again", outcome_id, level)
                updates[outcome_id] = ("book", _reread(outcome_id))
                break
            if size:
                ledger[level] = size
            else:
                ledger.pop(level, None)
            sizes[level] = size
        else:
            if sizes:
                updates[outcome_id] = ("levels", sizes)
    activity = [entry for entry in journal.activity if entry[1] in tracked]
    if updates or activity:
        post(_hub.deliver, updates, activity, _ms(clock.now()))


def _reread(outcome_id: int) -> dict:
    levels = read_book(outcome_id)
    _ledger[outcome_id] = dict(levels)
    return levels


def read_book(outcome_id: int) -> dict[tuple[str, Decimal], Decimal]:
    """Every level of a book, read as REST /orderbook reads it."""
    bids, asks = _hub.read_book(Outcome(pk=outcome_id))
    levels = {("buy", price): size for price, size in bids}
    levels.update({("sell", price): size for price, size in asks})
    return levels


def init_book(outcome_id: int, token) -> None:
    """Start tracking a book: from now on its changes are published; the hub gets it whole first
    (``token`` tells the hub which of its book objects asked)."""
    with lock:
        tracked.add(outcome_id)
        levels = _reread(outcome_id)
        post = _hub.post
        if post is not None:
            post(_hub.ready, outcome_id, token, levels)


def _ms(moment) -> int:
    return int(moment.timestamp() * 1000)
