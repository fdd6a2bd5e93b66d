"""Driving the sandbox's stream with the official SDK's stream client (``parsec_api.streaming``).

``Wire`` sees every message the SDK's client reads (it stands in for the module's ``json``, which
the client parses each message with) and checks it against the shapes of NOTES §10
(tests/sandbox/ws_schema.py). A violation is kept and reported at the test's end: inside the
client's receive loop an exception would only make it reconnect.

``Stream`` is one SDK client with what it delivered by kind, and ``until`` waits (with a deadline,
never as a speed check) for a condition on them.
"""

from __future__ import annotations

import asyncio
import json
import types
from collections import defaultdict
from decimal import Decimal

from parsec_api import streaming

from tests.sandbox import ws_schema

DEADLINE_SECONDS = 20


class Wire:
    def __init__(self):
        self.messages: list[dict] = []
        self.violations: list[str] = []

    def loads(self, raw, *args, **kwargs):
        message = json.loads(raw, *args, **kwargs)
        self.violations += ws_schema.violations(message)
        self.messages.append(message)
        return message

    def install(self, monkeypatch) -> None:
        monkeypatch.setattr(streaming, "json", types.SimpleNamespace(
            loads=self.loads, dumps=json.dumps, JSONDecodeError=json.JSONDecodeError))

    def of(self, kind: str, parsec_id: str | None = None) -> list[dict]:
        return [m for m in self.messages if m.get("type") == kind and (parsec_id is None or m.get("parsec_id") == parsec_id)]


class Stream:
    """One ``ParsecAPI(...).ws()`` client and what it delivered."""

    def __init__(self, client):
        self.ws = client.ws()
        self.books: list = []
        self.activity: list = []
        self.errors: list = []
        self.heartbeats: list[int] = []
        self.slow: list = []
        on = self.ws.on

        @on("orderbook")
        async def _book(book):
            self.books.append(book)

        @on("activity")
        async def _activity(activity):
            self.activity.append(activity)

        @on("error")
        async def _error(error):
            self.errors.append(error)

        @on("heartbeat")
        async def _heartbeat(ts_ms):
            self.heartbeats.append(ts_ms)

        @on("slow_reader")
        async def _slow(parsec_id, outcome):
            self.slow.append((parsec_id, outcome))

    async def __aenter__(self) -> Stream:
        await self.ws.connect()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.ws.close()

    def snapshots(self, parsec_id: str | None = None) -> list:
        return [b for b in self.books if b.kind == "snapshot" and (parsec_id is None or b.parsec_id == parsec_id)]


async def until(condition, what, seconds: float = DEADLINE_SECONDS):
    """Wait until ``condition()`` is truthy and return it; fail naming ``what`` (or ``what()``) past the deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        value = condition()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"never happened: {what() if callable(what) else what}")
        await asyncio.sleep(0.02)


def local_levels(ws, parsec_id: str, outcome: str = "yes") -> tuple[list, list]:
    """The SDK's local book as REST's [[price, size], ...] lists."""
    book = ws.get_book(parsec_id, outcome)
    return ([[level["price"], level["size"]] for level in book["bids"]],
            [[level["price"], level["size"]] for level in book["asks"]])


async def same_as_rest(ws, client, parsec_id: str, *, outcome: str = "Yes", depth: int = 50, quiet: float = 3.0) -> tuple:
    """The local book equals REST /orderbook at ``depth``: now, or once the stream has delivered a
    change that REST already showed (a maker move can land between the two reads). A difference that
    no message comes to settle within ``quiet`` seconds, and that a second REST read still shows, fails."""
    loop = asyncio.get_running_loop()

    def rest() -> tuple:
        body = client.orderbook.with_raw_response.retrieve(parsec_id=parsec_id, outcome=outcome, limit=depth).http_response.json()
        return body["bids"], body["asks"]

    deadline = loop.time() + DEADLINE_SECONDS
    while True:
        seq = ws.get_book(parsec_id, outcome.lower())["last_seq"]
        local, remote = local_levels(ws, parsec_id, outcome.lower()), await asyncio.to_thread(rest)
        if local == remote:
            return local, remote
        settle = loop.time() + quiet
        while loop.time() < settle and ws.get_book(parsec_id, outcome.lower())["last_seq"] == seq:
            await asyncio.sleep(0.02)
        if ws.get_book(parsec_id, outcome.lower())["last_seq"] == seq:
            local, remote = local_levels(ws, parsec_id, outcome.lower()), await asyncio.to_thread(rest)
            assert local == remote, f"the stream's book of {parsec_id} differs from REST /orderbook: {local} != {remote}"
            return local, remote
        assert loop.time() < deadline, f"the book of {parsec_id} never settled"


def stream_errors(log_path) -> list[str]:
    """Lines the stream logged at ERROR in a sandbox's log (a ledger that went wrong, a failed connection)."""
    return [line for line in log_path.read_text().splitlines() if " ERROR sandbox.stream " in line]


def decimal(value: float) -> Decimal:
    return Decimal(str(value))


def by_parsec_id(messages: list[dict]) -> dict[str, list[dict]]:
    grouped = defaultdict(list)
    for message in messages:
        grouped[message.get("parsec_id")].append(message)
    return grouped
