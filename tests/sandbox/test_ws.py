"""The sandbox's stream (``/ws``) driven by the official SDK's stream client, against the test session's
sandbox. Every message the client reads is checked against NOTES §10's shapes (tests/sandbox/ws_schema.py).

Each test trades for its own new end-users and cancels what they leave resting.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import datetime
from decimal import Decimal

import parsec_api
import pytest
import requests
import websockets

from tests.sandbox.schema import assert_valid
from tests.sandbox.stream_client import Stream, Wire, decimal, same_as_rest, stream_errors, until
from tests.sandbox.ws_schema import violations


@pytest.fixture
def wire(monkeypatch, sandbox):
    recorder = Wire()
    recorder.install(monkeypatch)
    yield recorder
    assert not recorder.violations, recorder.violations[:5]
    assert stream_errors(sandbox.log_path) == []


@pytest.fixture(scope="module")
def client(sandbox):
    return sandbox.sdk()


@pytest.fixture(scope="module")
def markets(client):
    body = client.markets.with_raw_response.list(exchanges=["polymarket"], limit=100).http_response.json()
    # The plain ones: a 0.01 tick and 5-share minimum, so one order size and price grid fits them all.
    return [m for m in body["markets"] if m["market_type"] == "binary" and m["status"] == "active"
            and m["tick_size"] == 0.01 and m["min_order_size"] == 5]


class Trader:
    """A new end-user, onboarded to Polymarket; cancels its resting orders when done."""

    def __init__(self, client):
        created = client.builder.users.with_raw_response.create(external_id=f"ws-{uuid.uuid4().hex[:10]}", qps_limit=100).http_response.json()
        self.client, self.customer_id, self.api_key = client, created["customer_id"], created["api_key"]
        client.builder.onboard.create(customer_id=self.customer_id, exchange="polymarket", mode="managed")
        self.placed: list[str] = []

    def place(self, market: dict, side: str, price: float, size: float, order_type: str = "gtc", outcome: str = "Yes"):
        order = self.client.orders.create(
            exchange="polymarket", market_id=market["condition_id"], outcome=outcome, side=side, price=price, size=size,
            params={"order_type": order_type}, extra_headers={"X-Builder-Customer-Id": self.customer_id})
        self.placed.append(order.id)
        return order

    def cancel(self, order_id: str):
        return self.client.orders.cancel(order_id, exchange="polymarket", extra_headers={"X-Builder-Customer-Id": self.customer_id})

    def cancel_resting(self) -> None:
        for order in self.client.orders.list(exchange="polymarket", extra_headers={"X-Builder-Customer-Id": self.customer_id}):
            self.cancel(order.id)


@pytest.fixture
def trader(client):
    made = Trader(client)
    yield made
    made.cancel_resting()


def key_client(sandbox, api_key: str):
    """An SDK client with another key than the builder's (an end-user's own)."""
    return parsec_api.ParsecAPI(api_key=api_key, base_url=sandbox.base_url, max_retries=0)


def run(coroutine):
    return asyncio.run(coroutine)


def test_snapshot_names_the_book_and_orders_its_levels(client, markets, wire):
    market = markets[0]

    async def scenario():
        async with Stream(client) as stream:
            stream.ws.subscribe(parsec_id=market["parsec_id"])
            await until(stream.snapshots, "a snapshot")
            return stream.ws.customer_id

    customer_id = run(scenario())
    assert wire.messages[0] == {"type": "auth_ok", "customer_id": customer_id}
    assert customer_id == str(uuid.UUID(customer_id))
    snapshot = wire.of("orderbook")[0]
    rest = client.orderbook.with_raw_response.retrieve(parsec_id=market["parsec_id"]).http_response.json()
    for key in ("parsec_id", "exchange", "outcome", "token_id", "market_id", "tick_size", "min_order_size"):
        assert snapshot[key] == rest[key], key
    assert snapshot["outcome"] == "Yes" and snapshot["title"] == market["question"]
    assert snapshot["kind"] == "snapshot" and snapshot["server_seq"] == 1
    assert (snapshot["book_state"], snapshot["feed_state"], snapshot["stale_after_ms"]) == ("fresh", "healthy", 5000)
    bids, asks = [decimal(p) for p, _ in snapshot["bids"]], [decimal(p) for p, _ in snapshot["asks"]]
    assert bids and asks
    assert bids == sorted(bids, reverse=True) and len(set(bids)) == len(bids)
    assert asks == sorted(asks) and len(set(asks)) == len(asks)
    assert bids[0] < asks[0]
    assert decimal(snapshot["mid_price"]) == (bids[0] + asks[0]) / 2
    assert decimal(snapshot["spread"]) == asks[0] - bids[0]
    assert snapshot["ingest_ts_ms"] >= snapshot["exchange_ts_ms"] > 0


def test_batch_subscription_gives_two_distinct_snapshots(client, markets, wire):
    first, second = markets[0], markets[1]

    async def scenario():
        async with Stream(client) as stream:
            stream.ws.subscribe([streaming_market(first["parsec_id"]), streaming_market(second["parsec_id"], outcome="No", depth=3)])
            await until(lambda: len(stream.snapshots()) == 2, "two snapshots")
            return stream.snapshots()

    books = run(scenario())
    subscribes = [m for m in wire.messages if m.get("type") == "orderbook"]
    assert {(m["parsec_id"], m["outcome"]) for m in subscribes} == {(first["parsec_id"], "Yes"), (second["parsec_id"], "No")}
    assert all(m["server_seq"] == 1 for m in subscribes)
    shallow = next(m for m in subscribes if m["parsec_id"] == second["parsec_id"])
    rest = client.orderbook.with_raw_response.retrieve(parsec_id=second["parsec_id"], outcome="No", limit=3).http_response.json()
    assert len(shallow["bids"]) == len(rest["bids"]) == 3 and len(shallow["asks"]) == 3
    assert {b.parsec_id for b in books} == {first["parsec_id"], second["parsec_id"]}


def streaming_market(parsec_id: str, outcome: str | None = None, depth: int | None = None):
    from parsec_api.streaming import MarketSubscription

    return MarketSubscription(parsec_id=parsec_id, outcome=outcome, depth=depth)


def test_deltas_applied_to_the_snapshot_equal_rest_after_a_burst(client, markets, trader, wire):
    market = markets[2]
    pid = market["parsec_id"]

    async def scenario():
        async with Stream(client) as full, Stream(client) as shallow:
            full.ws.subscribe(parsec_id=pid)
            shallow.ws.subscribe(parsec_id=pid, depth=3)
            await until(lambda: full.snapshots(pid) and shallow.snapshots(pid), "both snapshots")

            def burst():
                resting = [trader.place(market, "buy", price, size) for price, size in
                           ((0.05, 10), (0.06, 12.5), (0.05, 7), (0.07, 20), (0.06, 6))]
                asks = client.orderbook.with_raw_response.retrieve(parsec_id=pid).http_response.json()["asks"]
                trader.place(market, "buy", asks[0][0], asks[0][1] + 5, "ioc")  # takes the best ask level whole
                trader.place(market, "buy", 0.97, 7, "ioc")  # and some of the next
                trader.place(market, "sell", 0.95, 5, "gtc")  # it owns shares now: rests on the ask side
                trader.place(market, "sell", 0.05, 5, "ioc")  # hits the best bid (a maker's)
                trader.cancel(resting[1].id)
                trader.cancel(resting[3].id)

            await asyncio.to_thread(burst)
            await same_as_rest(full.ws, client, pid)
            await same_as_rest(shallow.ws, client, pid, depth=3)
            return [(b.kind, b.server_seq) for b in full.books], [(b.kind, b.server_seq) for b in shallow.books]

    full, shallow = run(scenario())
    # The SDK emits a delta only when its server_seq follows the last one (a gap makes it resync, and a
    # second snapshot would show): one snapshot, then deltas 2, 3, ... on each connection.
    for books in (full, shallow):
        assert books == [("snapshot", 1)] + [("delta", seq) for seq in range(2, len(books) + 1)]
    assert len(full) >= 12  # every one of the burst's eleven changes reached the full book
    assert not any(m.get("type") in ("resync_required", "slow_reader", "error") for m in wire.messages)


def test_trades_are_public_and_fills_go_to_the_key_that_owns_the_order(client, sandbox, markets, trader, wire):
    market = markets[3]
    pid = market["parsec_id"]
    own = key_client(sandbox, trader.api_key)

    async def scenario():
        async with Stream(own) as mine, Stream(client) as builder:
            mine.ws.subscribe(parsec_id=pid)
            builder.ws.subscribe(parsec_id=pid)
            await until(lambda: mine.snapshots() and builder.snapshots(), "both snapshots")
            order = await asyncio.to_thread(trader.place, market, "buy", 0.97, 6, "ioc")
            await until(lambda: [a for a in mine.activity if a.kind == "fill" and a.order_id == order.id], "the fill")
            await until(lambda: [a for a in builder.activity if a.kind == "trade"], "the trade at the builder")
            return order, mine.ws.customer_id

    order, customer_id = run(scenario())
    assert customer_id == trader.customer_id
    fills = [m for m in wire.messages if m["type"] == "activity" and m["kind"] == "fill"]
    rest_fills = {f.fill_id: f for f in client.fills.list(exchange="polymarket", extra_headers={"X-Builder-Customer-Id": trader.customer_id})}
    assert {f["fill_id"] for f in fills} == set(rest_fills)  # only this key's connection got fills, every one of them
    for fill in fills:
        rest = rest_fills[fill["fill_id"]]
        assert (fill["order_id"], fill["side"], fill["liquidity_role"], fill["parsec_id"]) == (order.id, "buy", "taker", pid)
        assert (fill["price"], fill["size"], fill["market_id"]) == (rest.price, rest.size, rest.market_id)
        assert fill["source_channel"] == "polymarket_sandbox_user_fill"
    assert sum(decimal(f["size"]) for f in fills) == Decimal(6)
    trades = [m for m in wire.messages if m["type"] == "activity" and m["kind"] == "trade"]
    tape = client.trades.with_raw_response.list(parsec_id=pid, limit=20).http_response.json()["trades"]
    fill_trades = {f["trade_id"] for f in fills}
    assert {t["trade_id"] for t in trades} == fill_trades  # each trade went to both connections
    assert len(trades) == 2 * len(fill_trades)
    assert fill_trades <= {t["id"] for t in tape}
    assert all(t["aggressor_side"] == "buy" and t["side"] == "buy" for t in trades)


def test_each_side_of_a_match_gets_its_own_fill(client, sandbox, markets, trader, wire):
    market = markets[4]
    pid = market["parsec_id"]
    maker = Trader(client)

    def rest_inside_the_spread():
        setup = maker.place(market, "buy", 0.97, 5, "ioc")  # shares to sell
        book = client.orderbook.with_raw_response.retrieve(parsec_id=pid).http_response.json()
        price = float(decimal(book["bids"][0][0]) + decimal(book["tick_size"]))
        assert price < book["asks"][0][0]  # the makers quote two ticks apart: one price between them
        return setup, maker.place(market, "sell", price, 5)

    async def scenario():
        async with Stream(key_client(sandbox, trader.api_key)) as taking, Stream(key_client(sandbox, maker.api_key)) as making:
            for stream in (taking, making):
                stream.ws.subscribe(parsec_id=pid)
            await until(lambda: taking.snapshots() and making.snapshots(), "both snapshots")
            setup, resting = await asyncio.to_thread(rest_inside_the_spread)
            taker = await asyncio.to_thread(trader.place, market, "buy", resting.price, 5, "ioc")
            await until(lambda: [a for a in taking.activity if a.kind == "fill"], "the taker's fill")
            await until(lambda: [a for a in making.activity if a.kind == "fill" and a.order_id == resting.id], "the maker's fill")
            return setup, resting, taker, taking.activity, making.activity

    try:
        setup, resting, taker, taking, making = run(scenario())
    finally:
        maker.cancel_resting()
    fill = lambda a: (a.order_id, a.side, a.liquidity_role, a.price, a.size)  # noqa: E731
    assert [fill(a) for a in taking if a.kind == "fill"] == [(taker.id, "buy", "taker", resting.price, 5.0)]
    # The maker's key also saw its own setup buy (taker fills), and nothing of the trader's.
    assert {a.order_id for a in making if a.kind == "fill"} == {setup.id, resting.id}
    assert [fill(a) for a in making if a.order_id == resting.id] == [(resting.id, "sell", "maker", resting.price, 5.0)]
    assert {a.liquidity_role for a in making if a.order_id == setup.id} == {"taker"}
    (taker_fill,) = (a for a in taking if a.kind == "fill")
    (maker_fill,) = (a for a in making if a.order_id == resting.id)
    assert taker_fill.trade_id == maker_fill.trade_id and taker_fill.fill_id != maker_fill.fill_id


def test_unsubscribe_stops_updates(client, markets, trader, wire):
    gone, kept = markets[1], markets[0]

    async def scenario():
        async with Stream(client) as stream:
            stream.ws.subscribe(parsec_id=gone["parsec_id"])
            await until(lambda: stream.snapshots(gone["parsec_id"]), "the first snapshot")
            stream.ws.unsubscribe(parsec_id=gone["parsec_id"])
            stream.ws.subscribe(parsec_id=kept["parsec_id"])  # its snapshot shows the unsubscribe was handled
            await until(lambda: stream.snapshots(kept["parsec_id"]), "the second snapshot")
            after = len(wire.messages)
            await asyncio.to_thread(trader.place, gone, "buy", 0.04, 11)
            order = await asyncio.to_thread(trader.place, kept, "buy", 0.04, 11)
            # Messages of one connection arrive in the order the engine committed: once the second
            # book's delta is here, anything about the first would have arrived before it.
            await until(lambda: any(m["type"] == "orderbook_delta" and m["parsec_id"] == kept["parsec_id"]
                                    and {"side": "bid", "price": 0.04, "size": 11.0} in m["changes"] for m in wire.messages[after:]),
                        "the second book's delta")
            return after, order

    after, _ = run(scenario())
    assert [m for m in wire.messages[after:] if m.get("parsec_id") == gone["parsec_id"]] == []
    rest = client.orderbook.with_raw_response.retrieve(parsec_id=gone["parsec_id"]).http_response.json()
    assert [0.04, 11.0] in rest["bids"]  # the order did reach the book that nobody watches now


def test_a_ping_is_answered_with_a_heartbeat_of_the_sandbox_clock(client, sandbox, wire):
    def clock_ms() -> int:
        now = datetime.fromisoformat(sandbox.control("GET", "clock").json()["now"].replace("Z", "+00:00"))
        return int(now.timestamp() * 1000)

    async def scenario():
        async with Stream(client) as stream:
            before = await asyncio.to_thread(clock_ms)
            # The hub's own heartbeat (every 20 s, to every connection) may come at any time, even
            # stamped just before the ping: the answer is the first one stamped after `before`.
            seen = len(stream.heartbeats)
            pong = await stream.ws._ws.ping()  # a WebSocket ping (the SDK's connection pings every 20 s by itself)
            await pong

            def answered() -> list[int]:
                return [ts for ts in stream.heartbeats[seen:] if ts >= before]

            await until(answered, "a heartbeat")
            after = await asyncio.to_thread(clock_ms)
            return before, answered()[0], after

    before, ts_ms, after = run(scenario())
    assert before <= ts_ms <= after
    assert {"type": "heartbeat", "ts_ms": ts_ms} in wire.of("heartbeat")


def test_a_bad_key_raises_on_connect(sandbox, wire):
    stream = Stream(key_client(sandbox, "pk_not_a_key"))
    with pytest.raises(ConnectionError, match="invalid api key"):
        run(stream.ws.connect())
    assert [(e.code, e.message) for e in stream.errors] == [(1002, "invalid api key")]
    assert wire.messages == [{"type": "auth_error", "code": 1002, "message": "invalid api key"}]


def test_control_messages_are_limited_to_three_a_second(client, markets, wire):
    async def scenario():
        async with Stream(client) as stream:
            for market in markets[:3]:
                stream.ws.subscribe(parsec_id=market["parsec_id"])
            stream.ws.unsubscribe(parsec_id=markets[0]["parsec_id"])  # the fourth in the same second
            await until(lambda: stream.errors and len(stream.snapshots()) == 3, "three snapshots and an error")
            return stream.errors

    errors = run(scenario())
    assert [(e.code, e.message) for e in errors] == [(3001, "rate limited: at most 3 subscribe, unsubscribe and resync messages per second")]


def test_a_free_key_has_five_subscriptions_and_ten_levels(client, sandbox, markets, trader, wire):
    own = key_client(sandbox, trader.api_key)
    wanted = [streaming_market(m["parsec_id"], outcome=o) for m in markets[:3] for o in ("Yes", "No")]

    async def scenario():
        async with Stream(own) as stream:
            stream.ws.subscribe(wanted)
            await until(lambda: len(stream.snapshots()) == 5 and stream.errors, "five snapshots and an error")
            usage = await asyncio.to_thread(lambda: requests.get(
                f"{sandbox.base_url}/api/v1/usage", headers={"X-API-Key": trader.api_key}, timeout=10).json())
            return stream.errors, usage

    errors, usage = run(scenario())
    last = wanted[-1]
    assert [(e.code, e.message, e.parsec_id) for e in errors] == [(3002, "max subscriptions reached (limit: 5, tier: free)", last.parsec_id)]
    assert all(len(m["bids"]) <= 10 and len(m["asks"]) <= 10 for m in wire.of("orderbook"))
    assert usage["usage"]["ws_active_connections"] == 1 and usage["usage"]["ws_active_subscriptions"] == 5
    assert_valid(usage, "UsageResponse")


def test_bad_selectors_get_parsec_error_codes(client, markets, wire):
    pid = markets[0]["parsec_id"]

    async def scenario():
        async with Stream(client) as stream:
            stream.ws.subscribe([streaming_market("polymarket:nope"), streaming_market(pid, outcome="Maybe"),
                                 streaming_market(pid, depth=0)])
            await until(lambda: len(stream.errors) == 3, "three errors")
            stream.ws._ws_send({"type": "resync", "parsec_id": pid, "outcome": "No"})
            await until(lambda: len(stream.errors) == 4, "the resync's error")
            return stream.errors

    errors = run(scenario())
    assert [(e.code, e.message, e.parsec_id) for e in errors] == [
        (2002, "market not found: polymarket:nope", "polymarket:nope"),
        (2005, "outcome must be one of: Yes, No", pid),
        (2001, "depth must be a positive integer", pid),
        (2001, f"not subscribed to {pid}", pid),
    ]


def test_malformed_messages_and_auth_order(sandbox, client):
    """What the SDK cannot send, sent raw: every answer in Parsec's shapes, and the socket stays up."""
    categorical = next(m for m in client.markets.with_raw_response.list(exchanges=["polymarket"], limit=100).http_response.json()["markets"]
                       if m["market_type"] == "categorical")

    async def scenario():
        async with websockets.connect(sandbox.base_url.replace("http://", "ws://") + "/ws") as socket:
            answers = []

            async def ask(raw: str):
                await socket.send(raw)
                answer = json.loads(await asyncio.wait_for(socket.recv(), 10))
                while answer.get("type") == "heartbeat":  # the hub's periodic one, not an answer (seen once in 10 runs)
                    answer = json.loads(await asyncio.wait_for(socket.recv(), 10))
                answers.append(answer)

            await ask(json.dumps({"type": "subscribe", "markets": []}))
            await ask("not json")
            await ask(json.dumps({"type": "auth", "api_key": sandbox.builder_key}))
            await ask(json.dumps({"type": "auth", "api_key": sandbox.builder_key}))
            await ask(json.dumps({"type": "hello"}))
            await ask(json.dumps({"type": "subscribe", "markets": "all"}))
            await ask(json.dumps({"type": "subscribe", "markets": [{"outcome": "Yes"}]}))
            await ask(json.dumps({"type": "unsubscribe", "markets": [{"parsec_id": categorical["parsec_id"], "outcome": 3}]}))
            await asyncio.sleep(1.1)  # the control-message window
            await ask(json.dumps({"type": "subscribe", "markets": [{"parsec_id": categorical["parsec_id"]}]}))
            return answers

    answers = run(scenario())
    for answer in answers:
        assert not violations(answer), answer
    assert [(a["type"], a.get("code"), a.get("message")) for a in answers] == [
        ("error", 1001, 'authentication required: send {"type": "auth", "api_key": ...} first'),
        ("error", 2001, "invalid message: expected a JSON object with a type"),
        ("auth_ok", None, None),
        ("error", 1001, "already authenticated"),
        ("error", 2001, "unknown message type: hello"),
        ("error", 2001, "subscribe needs a non-empty markets array"),
        ("error", 2001, "a market needs parsec_id, or exchange and market_id"),
        ("error", 2005, "outcome must be a string"),
        ("error", 2005, "outcome is required for categorical markets"),
    ]


def test_exchange_market_id_selects_a_market_too(client, markets, wire):
    market = markets[1]

    async def scenario():
        async with Stream(client) as stream:
            stream.ws._ws_send({"type": "subscribe", "markets": [{"exchange": "polymarket", "market_id": market["condition_id"], "outcome": "No"}]})
            return await until(stream.snapshots, "a snapshot")

    (snapshot,) = run(scenario())
    assert (snapshot.parsec_id, snapshot.outcome) == (market["parsec_id"], "No")


def test_ws_usage_counts_this_keys_connections_and_follows_the_spec(client, sandbox, markets, trader, wire):
    own = key_client(sandbox, trader.api_key)

    def usage(**params):
        response = requests.get(f"{sandbox.base_url}/api/v1/ws/usage", params=params, headers={"X-API-Key": trader.api_key}, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()

    async def scenario():
        async with Stream(own) as stream:
            stream.ws.subscribe([streaming_market(markets[0]["parsec_id"]), streaming_market(markets[1]["parsec_id"])])
            await until(lambda: len(stream.snapshots()) == 2, "two snapshots")
            stream.ws.unsubscribe(parsec_id=markets[1]["parsec_id"])
            during = await asyncio.to_thread(usage)
            # A ping's heartbeat comes after everything sent before it: the count is settled up to there.
            await (await stream.ws._ws.ping())
            await until(lambda: stream.heartbeats, "the heartbeat")
            received = len(wire.messages)
            settled = await asyncio.to_thread(usage, limit=1)
            return during, received, settled

    during, received, settled = run(scenario())
    after = usage()
    for body in (during, settled, after):
        assert_valid(body, "WsUsageResponse")
        assert body["scope"] == "self" and body["customers"] == [] and body["customer"]["customer_id"] == trader.customer_id
    totals = after["totals"]
    assert {k: totals[k] for k in ("active_connections", "active_subscriptions", "connections_opened_total", "connections_closed_total",
                                   "subscribe_requests_total", "unsubscribe_requests_total", "auth_failures_total")} == {
        "active_connections": 0, "active_subscriptions": 0, "connections_opened_total": 1, "connections_closed_total": 1,
        "subscribe_requests_total": 1, "unsubscribe_requests_total": 1, "auth_failures_total": 0}
    assert after["customer"] == {"customer_id": trader.customer_id, **totals}
    # Only a periodic heartbeat (every 20 s) can have been sent between the settling ping and the read.
    assert received <= settled["totals"]["messages_sent_total"] <= received + 1
    assert settled["top_markets"] == [{"parsec_id": min(markets[0]["parsec_id"], markets[1]["parsec_id"]), "subscriptions_total": 1}]
    assert after["top_markets"] == sorted(({"parsec_id": m["parsec_id"], "subscriptions_total": 1} for m in markets[:2]),
                                          key=lambda row: row["parsec_id"])
    sizes = [len(json.dumps(m, separators=(",", ":"))) for m in wire.messages[:received]]
    assert settled["totals"]["bytes_sent_total"] >= sum(sizes) > 0


def test_ws_usage_global_needs_the_admin_key(sandbox):
    url = f"{sandbox.base_url}/api/v1/ws/usage"
    refused = requests.get(url, params={"scope": "global"}, headers={"X-API-Key": sandbox.builder_key}, timeout=10)
    assert refused.status_code == 403 and refused.json() == {"error": "scope=global needs an admin key", "code": "unauthorized", "retryable": False}
    bad = requests.get(url, params={"scope": "everyone"}, headers={"X-API-Key": sandbox.builder_key}, timeout=10)
    assert bad.status_code == 400 and bad.json()["code"] == "bad_request"
    granted = requests.get(url, params={"scope": "global", "limit": 500},
                           headers={"X-API-Key": sandbox.builder_key, "X-Sandbox-Admin-Key": sandbox.admin_key}, timeout=10)
    assert granted.status_code == 200
    body = granted.json()
    assert_valid(body, "WsUsageResponse")
    assert body["scope"] == "global" and "customer" not in body
    assert body["totals"]["connections_opened_total"] >= body["totals"]["connections_closed_total"]


def test_exchanges_advertise_the_stream_and_approvals(client):
    exchanges = client.exchanges.with_raw_response.list().http_response.json()
    assert_valid(exchanges, "ExchangeCapability", array=True)
    assert {e["id"]: (e["has"]["websocket"], e["has"]["approvals"]) for e in exchanges} == {
        "polymarket": (True, True), "kalshi": (True, False), "limitless": (True, False), "opinion": (True, False),
        "predictfun": (True, False)}


def test_sdk_websocket_usage_method(client):
    body = client.websocket.with_raw_response.usage().http_response.json()
    assert_valid(body, "WsUsageResponse")
    assert body["scope"] == "self"
    with pytest.raises(parsec_api.PermissionDeniedError):
        client.websocket.usage(scope="global")
