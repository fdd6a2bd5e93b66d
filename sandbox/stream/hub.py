"""The stream's state on the event loop: the tracked books, who subscribes to them, and fan-out.

Everything here runs on the server's event loop (one thread), so it needs no lock. The engine's
side (sandbox.journal) hands over book states and activity in commit order; ``apply``
updates each book's levels, and for each depth its subscribers asked for, compares the top levels
with what they were told last and sends one ``orderbook_delta`` with the difference. A client that
applies the deltas to its snapshot therefore holds what REST ``/orderbook`` answers at that depth.

Messages go into each connection's queue (sandbox.stream.connection), never onto the socket from
here: a slow client makes its own queue grow, and past its bound its books stop (``slow_reader``,
``resync_required``) while everyone else, and the engine, go on.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal

from sandbox import conf, journal
from sandbox import usage as meter
from sandbox.stream import messages

logger = logging.getLogger("sandbox.stream")

_loop: asyncio.AbstractEventLoop | None = None
# Database work of the stream (key and market look-ups, reading a book to start tracking it).
_executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="sandbox-stream")
_heartbeat_task: asyncio.Task | None = None
books: dict[int, Book] = {}
connections: set = set()


@dataclass(frozen=True)
class BookInfo:
    """What names one book (a market's outcome) in messages, looked up when someone subscribes."""

    outcome_id: int
    identity: dict
    title: str
    tick_size: float
    min_order_size: float


@dataclass(eq=False)
class Subscription:
    connection: object
    book: Book
    depth: int
    seq: int = 0  # server_seq of the book's messages (snapshot, deltas)
    activity_seq: int = 0  # server_seq of its activity messages: a sequence of their own, see connection
    live: bool = False  # its snapshot went out and no message of it has been dropped since


@dataclass(eq=False)
class _Group:
    """The subscribers of a book at one depth and the top levels they were told last."""

    depth: int
    subscriptions: set = field(default_factory=set)
    bids: list = field(default_factory=list)
    asks: list = field(default_factory=list)


class Book:
    def __init__(self, info: BookInfo):
        self.outcome_id = info.outcome_id
        self.identity, self.title = info.identity, info.title
        self.tick_size, self.min_order_size = info.tick_size, info.min_order_size
        self.levels: dict[str, dict[Decimal, Decimal]] = {"buy": {}, "sell": {}}
        self.ready = False
        self.changed_ms: int | None = None
        self.groups: dict[int, _Group] = {}

    def subscriptions(self):
        for group in self.groups.values():
            yield from group.subscriptions

    def _sorted(self) -> tuple[list, list]:
        bids = sorted(self.levels["buy"].items(), key=lambda level: -level[0])
        asks = sorted(self.levels["sell"].items(), key=lambda level: level[0])
        return bids, asks

    def set_levels(self, levels: dict[tuple[str, Decimal], Decimal], *, whole: bool) -> None:
        if whole:
            self.levels = {"buy": {}, "sell": {}}
        for (side, price), size in levels.items():
            if size > 0:
                self.levels[side][price] = size
            else:
                self.levels[side].pop(price, None)

    def refresh_views(self) -> None:
        bids, asks = self._sorted()
        for group in self.groups.values():
            group.bids, group.asks = bids[:group.depth], asks[:group.depth]

    def publish(self) -> None:
        """Tell each depth's subscribers how their top levels changed."""
        bids, asks = self._sorted()
        for group in self.groups.values():
            new_bids, new_asks = bids[:group.depth], asks[:group.depth]
            changes = _diff("buy", group.bids, new_bids) + _diff("sell", group.asks, new_asks)
            group.bids, group.asks = new_bids, new_asks
            if not changes:
                continue
            encoded = messages.delta(self, changes)
            for subscription in group.subscriptions:
                if subscription.live:
                    subscription.seq += 1
                    subscription.connection.send(messages.with_seq(encoded, subscription.seq), subscription=subscription)


def _diff(side: str, old: list, new: list) -> list[tuple[str, Decimal, Decimal]]:
    before, after = dict(old), dict(new)
    changes = [(side, price, size) for price, size in new if before.get(price) != size]
    changes += [(side, price, Decimal(0)) for price, _ in old if price not in after]
    return changes


# --- Lifecycle ------------------------------------------------------------------------

_handed: deque = deque()  # calls from other threads, run on the loop in the order they came
_wake_pending = False


def post(fn, *args) -> None:
    """Run ``fn(*args)`` on the loop, after every call posted before it (any thread). The loop is
    woken (a system call) only when it has not been already: under load, one wake-up runs many."""
    global _wake_pending
    _handed.append((fn, args))
    if not _wake_pending:
        _wake_pending = True
        _loop.call_soon_threadsafe(_run_handed)


def _run_handed() -> None:
    global _wake_pending
    _wake_pending = False  # before draining: a call appended from now on either is drained below or wakes us again
    while _handed:
        fn, args = _handed.popleft()
        try:
            fn(*args)
        except Exception:
            logger.exception("stream update failed")


def start(loop: asyncio.AbstractEventLoop) -> None:
    global _loop, _heartbeat_task
    _loop = loop
    from sandbox.api.market_data import book_levels

    journal.attach(post, deliver=apply, ready=book_ready, read_book=book_levels)
    _heartbeat_task = loop.create_task(_heartbeats())


def stop() -> None:
    journal.attach(None)
    if _heartbeat_task is not None:
        _heartbeat_task.cancel()
    books.clear()


async def blocking(fn, *args):
    """Run database work off the loop."""
    return await asyncio.get_running_loop().run_in_executor(_executor, fn, *args)


async def _heartbeats() -> None:
    while True:
        await asyncio.sleep(conf.SANDBOX_WS_HEARTBEAT_SECONDS)
        text = messages.heartbeat()
        for connection in list(connections):
            if connection.customer_id is not None:
                connection.send(text)


# --- Subscriptions ----------------------------------------------------------------------

def subscribe(connection, info: BookInfo, depth: int) -> Subscription:
    book = books.get(info.outcome_id)
    if book is None:
        book = books[info.outcome_id] = Book(info)
        _loop.run_in_executor(_executor, journal.init_book, info.outcome_id, book).add_done_callback(_report_failure)
    subscription = Subscription(connection, book, depth)
    _join(subscription)
    meter.subscribed(connection.customer_id, info.identity["parsec_id"])
    if book.ready:
        send_snapshot(subscription)
    return subscription  # a book still being read sends its snapshot from book_ready


def _join(subscription: Subscription) -> None:
    book = subscription.book
    group = book.groups.get(subscription.depth)
    if group is None:
        group = book.groups[subscription.depth] = _Group(subscription.depth)
        if book.ready:
            bids, asks = book._sorted()
            group.bids, group.asks = bids[:group.depth], asks[:group.depth]
    group.subscriptions.add(subscription)


def _leave(subscription: Subscription) -> None:
    book = subscription.book
    group = book.groups[subscription.depth]
    group.subscriptions.discard(subscription)
    if not group.subscriptions:
        del book.groups[subscription.depth]


def change_depth(subscription: Subscription, depth: int) -> None:
    _leave(subscription)
    subscription.depth = depth
    _join(subscription)


def unsubscribe(subscription: Subscription) -> None:
    book = subscription.book
    _leave(subscription)
    subscription.live = False
    meter.unsubscribed(subscription.connection.customer_id)
    if not book.groups and books.get(book.outcome_id) is book:
        del books[book.outcome_id]
        journal.untrack(book.outcome_id)


def send_snapshot(subscription: Subscription) -> None:
    """A fresh snapshot (on subscribing, and on resync); the subscription's deltas follow it."""
    book = subscription.book
    if not book.ready:
        return
    group = book.groups[subscription.depth]
    subscription.seq += 1
    subscription.live = True
    text = messages.with_seq(messages.snapshot(book, group.bids, group.asks), subscription.seq)
    subscription.connection.send(text, answer=True)


def _report_failure(future) -> None:
    if future.exception() is not None:
        logger.error("reading a book for the stream failed", exc_info=future.exception())


# --- From the engine (journal) -------------------------------------------------------------

def book_ready(outcome_id: int, token: Book, levels: dict) -> None:
    """The book ``token`` was read whole (under the engine lock); its subscribers get snapshots."""
    book = books.get(outcome_id)
    if book is not token:  # everyone left meanwhile (and maybe came back: that book reads its own)
        if book is None:
            journal.untrack(outcome_id)
        return
    book.set_levels(levels, whole=True)
    book.ready = True
    book.changed_ms = messages.now_ms()
    book.refresh_views()
    for subscription in list(book.subscriptions()):
        send_snapshot(subscription)


def apply(updates: dict, events: list, changed_ms: int) -> None:
    """Book states and activity of one committed engine transaction."""
    for outcome_id, (kind, levels) in updates.items():
        book = books.get(outcome_id)
        if book is None or not book.ready:
            continue  # not tracked any more, or its whole read (which includes this change) is on its way
        book.set_levels(levels, whole=kind == "book")
        book.changed_ms = changed_ms
        book.publish()
    for entry in events:
        book = books.get(entry[1])
        if book is None or not book.ready:
            continue
        customer_pk, body = messages.activity(entry)
        encoded = messages.encode(body)
        for subscription in list(book.subscriptions()):
            if subscription.live and (customer_pk is None or subscription.connection.customer_pk == customer_pk):
                subscription.activity_seq += 1
                subscription.connection.send(messages.with_seq(encoded, subscription.activity_seq), subscription=subscription)
