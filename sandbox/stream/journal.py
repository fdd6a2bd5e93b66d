"""The engine's side of the stream: what a hold of the engine lock changed, published once committed.

The engine reports, while it writes, the book levels it touched (``touch``), whole books it
rewrote (``touch_book``: maker requotes, resolution), and the trades and fills it made. Only books
someone subscribes to are ``tracked``; for the others every report returns at once, so the stream
costs placement nothing while nobody listens.

``EngineLock`` is the engine's one lock (sandbox.engine.book_lock). When its outermost hold ends
without an exception, the transaction inside it has committed: the touched levels are read back
from the database (their absolute sizes, the same sums as REST ``/orderbook``) and handed to the
hub on the event loop, still under the lock, so the hub receives book states in commit order. A
hold that ends with an exception (a rollback) publishes nothing. Reading sizes back rather than
adding up relative changes means a report can only be missing, never wrong: touching a level that
did not change costs one small read and sends nothing.

The hub starts tracking a book with ``init_book`` (under the lock: mark it tracked, read it whole,
hand it over), so every change after that read reaches the hub, after the book, and none before.
"""

# Statements are built from model metadata (table and column names) only; every value is a parameter.
# ruff: noqa: S608

from __future__ import annotations

import threading
from collections.abc import Callable
from decimal import Decimal

from django.db import transaction

from sandbox import clock, sql
from sandbox.models import Fill, MakerQuote, Market, Order, Outcome, Trade

DB = "sandbox"
SIZE_PLACES = Decimal("0.01")

# Outcome ids of the books someone subscribes to. Changed by the hub (on the event loop) and by
# init_book (under the engine lock); read by writers under the engine lock.
tracked: set[int] = set()
_post: Callable | None = None  # hands a call to the hub's event loop (thread-safe); None = no stream
_local = threading.local()

_LEVEL_SQL = (
    f"SELECT COALESCE(SUM(size - filled), 0) FROM {Order._meta.db_table} "
    "WHERE outcome_id = %s AND status IN (%s, %s) AND side = %s AND price = %s "
    f"UNION ALL SELECT COALESCE(SUM(size), 0) FROM {MakerQuote._meta.db_table} WHERE outcome_id = %s AND side = %s AND price = %s"
)


def attach(post: Callable | None) -> None:
    """The hub gives ``post(fn, *args)``, which runs ``fn(*args)`` on its loop; None detaches."""
    global _post
    _post = post
    if post is None:
        tracked.clear()


class _Journal:
    __slots__ = ("activity", "books", "levels")

    def __init__(self):
        self.levels: dict[int, set[tuple[str, Decimal]]] = {}
        self.books: set[int] = set()
        self.activity: list[tuple] = []


def _journal() -> _Journal:
    journal = getattr(_local, "journal", None)
    if journal is None:
        journal = _local.journal = _Journal()
    return journal


def touch(outcome_id: int, side: str, price: Decimal) -> None:
    """The level at ``price`` on the ``side`` (buy/sell) of a book may have changed."""
    if outcome_id in tracked:
        _journal().levels.setdefault(outcome_id, set()).add((side, price))


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
    post = _post
    if post is None:
        return
    updates: dict[int, tuple[str, object]] = {}
    for outcome_id in journal.books:
        if outcome_id in tracked:
            updates[outcome_id] = ("book", read_book(outcome_id))
    for outcome_id, levels in journal.levels.items():
        if outcome_id in tracked and outcome_id not in updates:
            updates[outcome_id] = ("levels", {(side, price): read_level(outcome_id, side, price) for side, price in levels})
    events = [_event(entry) for entry in journal.activity if entry[1] in tracked]
    if updates or events:
        post(_deliver, updates, events, _ms(clock.now()))


def _deliver(updates, events, changed_ms) -> None:
    from sandbox.stream import hub

    hub.apply(updates, events, changed_ms)


def read_level(outcome_id: int, side: str, price: Decimal) -> Decimal:
    """The size resting at one price of a book: customers' remaining size plus the makers' quotes."""
    price_param = sql.prep(Order, "price", price)
    rows = sql.fetch(_LEVEL_SQL, [outcome_id, *Order.RESTING, side, price_param, outcome_id, side, price_param])
    return sum((_size(row[0]) for row in rows), Decimal(0))


def _size(value) -> Decimal:
    from sandbox.engine import SIZE_PLACES as places
    from sandbox.engine import _decimal

    return _decimal(value, places)


def read_book(outcome_id: int) -> dict[tuple[str, Decimal], Decimal]:
    """Every level of a book, read as REST /orderbook reads it."""
    from sandbox.api.market_data import book_levels

    bids, asks = book_levels(Outcome(pk=outcome_id))
    levels = {("buy", price): size for price, size in bids}
    levels.update({("sell", price): size for price, size in asks})
    return levels


def init_book(outcome_id: int, token) -> None:
    """Start tracking a book: from now on its changes are published; the hub gets it whole first
    (``token`` tells the hub which of its book objects asked)."""
    with lock:
        tracked.add(outcome_id)
        levels = read_book(outcome_id)
        post = _post
        if post is not None:
            post(_ready, outcome_id, token, levels)


def _ready(outcome_id, token, levels) -> None:
    from sandbox.stream import hub

    hub.book_ready(outcome_id, token, levels)


def _ms(moment) -> int:
    return int(moment.timestamp() * 1000)


def _event(entry: tuple) -> tuple:
    """(kind, outcome id, customer pk or None, message without server_seq)."""
    from sandbox.stream import messages

    kind, outcome_id = entry[0], entry[1]
    now_ms = _ms(clock.now())
    if kind == "trade":
        _, _, trade_row, market, outcome = entry
        body = {
            "type": "activity", **messages.identity(market, outcome), "kind": "trade", "price": float(trade_row.price),
            "size": float(trade_row.size), "trade_id": f"trade_{trade_row.pk}", "side": trade_row.aggressor_side,
            "aggressor_side": trade_row.aggressor_side, "feed_state": "healthy",
            "exchange_ts_ms": _ms(trade_row.created_at), "ingest_ts_ms": now_ms,
            "source_channel": f"{market.exchange}_sandbox_trade",
        }
        return kind, outcome_id, None, body
    _, _, fill_row, order, trade_row, market, outcome = entry
    body = {
        "type": "activity", **messages.identity(market, outcome), "kind": "fill", "price": float(fill_row.price),
        "size": float(fill_row.size), "trade_id": f"trade_{trade_row.pk}", "fill_id": fill_row.fill_id,
        "order_id": order.order_id, "side": fill_row.side, "aggressor_side": trade_row.aggressor_side,
        "liquidity_role": "taker" if fill_row.is_taker else "maker", "feed_state": "healthy",
        "exchange_ts_ms": _ms(fill_row.created_at), "ingest_ts_ms": now_ms,
        "source_channel": f"{market.exchange}_sandbox_user_fill",
    }
    return kind, outcome_id, fill_row.customer_id, body
