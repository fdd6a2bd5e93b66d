"""The stream's time limits, its bounded queue, and whole-book changes, on a sandbox of this module's own.

Its settings make the limits reachable in a test: auth within 1 s, a heartbeat every 1 s, and a
queue of one message per connection (so one engine transaction that sends a client two messages
finds it a slow reader). Markets are moved and resolved here, which the session's sandbox must
not see.
"""

from __future__ import annotations

import asyncio
import json
import uuid

import parsec_api
import pytest
import websockets

from tests.sandbox.stream_client import Stream, Wire, same_as_rest, stream_errors, until
from tests.sandbox.ws_schema import violations
from tests.sandbox_client import start_sandbox, stop_sandbox


@pytest.fixture(scope="module")
def tight(tmp_path_factory):
    proc = start_sandbox(tmp_path_factory.mktemp("sandbox-ws"), extra_env={
        "SANDBOX_WS_AUTH_TIMEOUT_SECONDS": "1", "SANDBOX_WS_HEARTBEAT_SECONDS": "1", "SANDBOX_WS_QUEUE_LIMIT": "1"})
    yield proc
    stop_sandbox(proc)


@pytest.fixture
def wire(monkeypatch, tight):
    recorder = Wire()
    recorder.install(monkeypatch)
    yield recorder
    assert not recorder.violations, recorder.violations[:5]
    assert stream_errors(tight.log_path) == []


@pytest.fixture(scope="module")
def client(tight):
    return tight.sdk()


@pytest.fixture(scope="module")
def markets(client):
    body = client.markets.with_raw_response.list(exchanges=["polymarket"], limit=100).http_response.json()
    return [m for m in body["markets"] if m["market_type"] == "binary" and m["tick_size"] == 0.01 and m["min_order_size"] == 5]


def run(coroutine):
    return asyncio.run(coroutine)


def test_no_auth_within_the_window_closes_the_socket(tight):
    async def scenario():
        async with websockets.connect(tight.base_url.replace("http://", "ws://") + "/ws") as socket:
            first = json.loads(await asyncio.wait_for(socket.recv(), 10))
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(socket.recv(), 10)
            return first, closed.value.rcvd.code

    first, code = run(scenario())
    assert not violations(first)
    assert first == {"type": "error", "code": 1001, "message": "authentication timed out: no auth message within 1 s"}
    assert code == 1008


def test_heartbeats_come_by_themselves(client, wire):
    async def scenario():
        async with Stream(client) as stream:
            return await until(lambda: stream.heartbeats if len(stream.heartbeats) >= 2 else None, "two heartbeats")

    first, second = run(scenario())[:2]
    assert second > first
    assert [m["type"] for m in wire.messages[:3]] == ["auth_ok", "heartbeat", "heartbeat"]


def test_a_slow_reader_loses_its_book_and_the_sdk_resyncs_it(tight, client, markets, wire):
    market = markets[0]
    pid = market["parsec_id"]
    created = client.builder.users.with_raw_response.create(external_id=f"slow-{uuid.uuid4().hex[:8]}").http_response.json()
    client.builder.onboard.create(customer_id=created["customer_id"], exchange="polymarket", mode="managed")
    own = parsec_api.ParsecAPI(api_key=created["api_key"], base_url=tight.base_url, max_retries=0)

    async def scenario():
        async with Stream(own) as stream:
            stream.ws.subscribe(parsec_id=pid)
            await until(stream.snapshots, "the snapshot")
            # One transaction, three messages for this key: the delta, the trade and the fill.
            await asyncio.to_thread(own.orders.create, exchange="polymarket", market_id=market["condition_id"], outcome="Yes",
                                    side="buy", price=0.97, size=5, params={"order_type": "ioc"})
            await until(lambda: len(stream.snapshots()) == 2, "the snapshot after the resync")
            await same_as_rest(stream.ws, own, pid)
            return stream.slow, [(b.kind, b.server_seq) for b in stream.books]

    slow, books = run(scenario())
    assert slow == [(pid, "Yes")]
    notices = [m for m in wire.messages if m["type"] in ("slow_reader", "resync_required")]
    assert notices == [{"type": "slow_reader", "parsec_id": pid, "outcome": "Yes"},
                       {"type": "resync_required", "parsec_id": pid, "outcome": "Yes"}]
    snapshots = [seq for kind, seq in books if kind == "snapshot"]
    assert snapshots[0] == 1 and snapshots[1] > 1  # the fresh snapshot goes on with the book's sequence


def test_moving_makers_reach_the_stream(tight, client, markets, wire):
    market = markets[1]
    pid = market["parsec_id"]

    async def scenario():
        async with Stream(client) as stream:
            stream.ws.subscribe(parsec_id=pid)
            await until(stream.snapshots, "the snapshot")
            before = stream.ws.get_book(pid, "yes")
            await asyncio.to_thread(tight.control, "POST", f"markets/{pid}/move", json={"outcome": "Yes", "price": "0.80"})
            await same_as_rest(stream.ws, client, pid)
            moved = stream.ws.get_book(pid, "yes")
            await asyncio.to_thread(tight.control, "POST", f"markets/{pid}/resolve", json={"outcome": "Yes"})
            await same_as_rest(stream.ws, client, pid)
            return before, moved, stream.ws.get_book(pid, "yes")

    before, moved, resolved = run(scenario())
    assert before["bids"][0]["price"] < 0.79 and moved["bids"][0]["price"] == 0.79 and moved["asks"][0]["price"] == 0.81
    assert (resolved["bids"], resolved["asks"]) == ([], [])  # resolution removed the makers
