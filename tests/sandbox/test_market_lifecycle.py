"""Markets close, resolve and are voided in the running sandbox as Parsec shows them, seen through
the official SDK; every body is validated against the spec.

Each test makes its own market through the control plane (``POST /_sandbox/markets``), so a
resolution touches nothing another test uses. Money is checked to the USDC base unit: Polymarket's
``/balance`` is in base units; Kalshi's is in cents, so there the control plane's settlement rows
(base units) carry the exact figure.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal

import parsec_api
import pytest
import requests

from tests.sandbox import chain
from tests.sandbox.escrow_client import FUNDED, Wallet, record
from tests.sandbox.schema import assert_valid

PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAsandbox\n-----END RSA PRIVATE KEY-----"
MICRO = Decimal(1_000_000)
OPENING = 1000 * 1_000_000


def control(sandbox, method: str, path: str, **kwargs) -> requests.Response:
    return requests.request(method, f"{sandbox.base_url}/_sandbox/{path}", headers={"X-Sandbox-Admin-Key": sandbox.admin_key},
                            timeout=30, **kwargs)


def ok(response: requests.Response, status: int = 200) -> dict:
    assert response.status_code == status, response.text
    return response.json()


def refused(response: requests.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert_valid(body, "ErrorResponse")
    assert body["code"] == code
    return body


@pytest.fixture(scope="module")
def client(sandbox):
    return sandbox.sdk()


def new_market(sandbox, **fields) -> dict:
    body = {"exchange": "polymarket", "question": f"Lifecycle test {uuid.uuid4().hex[:8]}?", "price": "0.40", **fields}
    market = ok(control(sandbox, "POST", "markets", json=body), 201)
    assert_valid(market, "Market")
    return market


def new_user(client) -> str:
    customer_id = client.builder.users.create(external_id=f"life-{uuid.uuid4().hex[:10]}", qps_limit=100).customer_id
    client.builder.onboard.create(customer_id=customer_id, exchange="polymarket", mode="managed")
    client.builder.onboard.create(customer_id=customer_id, exchange="kalshi", mode="self", api_key_id="kid", private_key=PEM)
    return customer_id


def as_user(customer_id: str) -> dict:
    return {"extra_headers": {"X-Builder-Customer-Id": customer_id}}


def market_id(market: dict) -> str:
    return market.get("condition_id") or market["exchange_market_id"]


def place(client, customer_id, market, *, outcome, side, price, size, **kwargs) -> dict:
    body = client.orders.with_raw_response.create(
        exchange=market["exchange"], market_id=market_id(market), outcome=outcome, side=side, price=price, size=size,
        **as_user(customer_id), **kwargs,
    ).http_response.json()
    assert_valid(body, "Order")
    return body


def book(client, market, outcome: str) -> dict:
    body = client.orderbook.with_raw_response.retrieve(parsec_id=market["parsec_id"], outcome=outcome).http_response.json()
    assert_valid(body, "OrderbookResponse")
    return body


def fills_of(client, customer_id, market) -> list[dict]:
    body = client.fills.with_raw_response.list(exchange=market["exchange"], market_id=market_id(market), **as_user(customer_id)).http_response.json()
    assert_valid(body, "Fill", array=True)
    return body


def positions_of(client, customer_id, market) -> list[dict]:
    body = client.positions.with_raw_response.list(exchange=market["exchange"], market_id=market_id(market), **as_user(customer_id)).http_response.json()
    assert_valid(body, "Position", array=True)
    return body


def balance_raw(client, customer_id, exchange: str) -> int:
    body = client.account.with_raw_response.balance(exchange=exchange, **as_user(customer_id)).http_response.json()
    return int(body["raw"]["balance"])


def fetched(client, *parsec_ids: str) -> dict[str, dict]:
    body = client.markets.with_raw_response.list(parsec_ids=list(parsec_ids)).http_response.json()
    assert_valid(body, "MarketsResponse")
    return {m["parsec_id"]: m for m in body["markets"]}


def listed_ids(client, exchange: str, status: str | None = None) -> set[str]:
    ids, cursor = set(), None
    while True:
        kwargs = {"status": status} if status else {}
        if cursor:
            kwargs["cursor"] = cursor
        body = client.markets.with_raw_response.list(exchanges=[exchange], limit=100, **kwargs).http_response.json()
        assert_valid(body, "MarketsResponse")
        ids |= {m["parsec_id"] for m in body["markets"]}
        cursor = body["pagination"].get("next_cursor")
        if not cursor:
            return ids


def cash_flow(fills: list[dict]) -> int:
    """What the fills moved in the balance, in base units: sells in, buys out, exchange fees out."""
    total = 0
    for fill in fills:
        notional = Decimal(str(fill["price"])) * Decimal(str(fill["size"])) * MICRO
        assert notional == notional.to_integral_value()
        total += int(notional) if fill["side"] == "sell" else -int(notional)
        total -= int(Decimal(str(fill["fee"])) * MICRO)
    return total


def held(fills: list[dict], outcome: str) -> Decimal:
    return sum((Decimal(str(f["size"])) * (1 if f["side"] == "buy" else -1) for f in fills if f["outcome"] == outcome), Decimal(0))


# --- Resolution with holders on both sides --------------------------------------------------

@pytest.mark.parametrize("exchange", ["polymarket", "kalshi"])
def test_resolving_yes_pays_the_winners_cancels_open_orders_and_closes_positions(sandbox, client, exchange):
    # Makers fixed around Yes 0.40 (bids 0.39, 0.38..., asks 0.41, 0.42...; No around 0.60):
    # orders resting at 0.40, inside their spread, are never crossed by a requote.
    market = new_market(sandbox, exchange=exchange, price="0.40", min_order_size="1", makers_walk=False)
    winner, loser, trader, bidder = (new_user(client) for _ in range(4))
    people = {"winner": winner, "loser": loser, "trader": trader, "bidder": bidder}
    assert place(client, trader, market, outcome="Yes", side="buy", price=0.41, size=12)["status"] == "filled"
    assert place(client, trader, market, outcome="Yes", side="sell", price=0.39, size=4)["status"] == "filled"
    assert place(client, trader, market, outcome="Yes", side="sell", price=0.40, size=5)["status"] == "open"
    resting_sell = place(client, trader, market, outcome="Yes", side="sell", price=0.95, size=3)
    # winner takes the trader's 5 at 0.40 (customer against customer) and rests the other 7 there.
    partial = place(client, winner, market, outcome="Yes", side="buy", price=0.40, size=12)
    assert (partial["status"], partial["filled"]) == ("partially_filled", 5)
    assert place(client, loser, market, outcome="No", side="buy", price=0.61, size=7)["status"] == "filled"
    resting_bid = place(client, bidder, market, outcome="Yes", side="buy", price=0.05, size=20)
    fills_before = {name: fills_of(client, cid, market) for name, cid in people.items()}
    fee_rate = Decimal("0.01") if exchange == "kalshi" else Decimal(0)  # SANDBOX_FILL_FEE_RATE_*: the taker pays
    taker_fees = {"trader": (Decimal("4.92") + Decimal("1.56")) * fee_rate, "winner": Decimal("2.00") * fee_rate,
                  "loser": Decimal("4.27") * fee_rate, "bidder": Decimal(0)}
    for name, fills in fills_before.items():
        assert sum(Decimal(str(f["fee"])) for f in fills) == taker_fees[name]
    trades_before = client.trades.with_raw_response.list(parsec_id=market["parsec_id"], outcome="Yes").http_response.json()
    assert_valid(trades_before, "TradesResponse")
    assert len(trades_before["trades"]) == 3

    resolved = ok(control(sandbox, "POST", f"markets/{market['parsec_id']}/resolve", json={"outcome": "yes"}))

    # The market: resolved, final prices 1 and 0, listed under parsec_ids and status=resolved only.
    shown = fetched(client, market["parsec_id"])[market["parsec_id"]]
    assert shown["status"] == "resolved"
    assert [(o["name"], o["price"]) for o in shown["outcomes"]] == [("Yes", 1.0), ("No", 0.0)]
    assert shown["last_price"] == 0.40 and "best_bid" not in shown and "best_ask" not in shown
    assert market["parsec_id"] in listed_ids(client, exchange, "resolved")
    assert market["parsec_id"] not in listed_ids(client, exchange) | listed_ids(client, exchange, "closed")
    assert resolved["market"]["winning_outcome"] == "Yes" and resolved["orders_cancelled"] == 3

    # Settlements: 1 USDC per Yes share held, nothing per No share; the bidder held nothing.
    assert [(s["customer_id"], s["outcome"], s["size"], s["average_price"], s["price"], s["amount"], s["reason"])
            for s in resolved["settlements"]] == [
        (trader, "Yes", "3", "0.41", "1", "3000000", "resolved"),
        (winner, "Yes", "5", "0.4", "1", "5000000", "resolved"),
        (loser, "No", "7", "0.61", "0", "0", "resolved"),
    ]
    payout = {"trader": 3_000_000, "winner": 5_000_000, "loser": 0, "bidder": 0}
    for name, customer_id in people.items():
        # Nothing rewrote the fills; the positions are gone; every balance adds up to the base unit.
        assert fills_of(client, customer_id, market) == fills_before[name]
        assert positions_of(client, customer_id, market) == []
        exact = OPENING + cash_flow(fills_before[name]) + payout[name]
        if exchange == "polymarket":
            assert balance_raw(client, customer_id, exchange) == exact
        else:
            assert balance_raw(client, customer_id, exchange) == exact // 10_000  # Kalshi shows cents
    assert OPENING + cash_flow(fills_before["winner"]) + payout["winner"] == OPENING - 2_000_000 - int(taker_fees["winner"] * MICRO) + 5_000_000

    # The orders still open at the resolution ended cancelled then, keeping what they filled.
    for customer_id, order, filled in ((winner, partial, 5), (trader, resting_sell, 0), (bidder, resting_bid, 0)):
        ended = client.orders.with_raw_response.retrieve(order["id"], exchange=exchange, **as_user(customer_id)).http_response.json()
        assert_valid(ended, "Order")
        assert (ended["status"], ended["filled"], ended["updated_at"]) == ("cancelled", filled, resolved["market"]["resolved_at"])

    # Trading has stopped: an order is refused in Parsec's shape and changes nothing.
    with pytest.raises(parsec_api.BadRequestError) as excinfo:
        place(client, bidder, market, outcome="Yes", side="buy", price=0.5, size=5)
    assert_valid(excinfo.value.body, "ErrorResponse")
    assert excinfo.value.body == {"error": "market is resolved, not active: trading has ended", "code": "bad_request", "retryable": False}
    assert balance_raw(client, bidder, exchange) == (OPENING if exchange == "polymarket" else OPENING // 10_000)

    # The tape keeps the market's trades; the control plane's record agrees with the response.
    assert client.trades.with_raw_response.list(parsec_id=market["parsec_id"], outcome="Yes").http_response.json()["trades"] == trades_before["trades"]
    state = ok(control(sandbox, "GET", f"markets/{market['parsec_id']}"))
    assert state["status"] == "resolved" and state["settlements"] == resolved["settlements"]
    assert state["outcomes"] == [{"name": "Yes", "final_price": "1"}, {"name": "No", "final_price": "0"}]


def test_resolving_a_categorical_market_pays_its_winning_outcome(sandbox, client):
    market = new_market(sandbox, outcomes=["Brazil", "France", "Other"], price="0.30", makers_walk=False)
    holder = new_user(client)
    france = book(client, market, "France")["asks"][0]
    brazil = book(client, market, "Brazil")["asks"][0]
    place(client, holder, market, outcome="France", side="buy", price=france[0], size=6)
    place(client, holder, market, outcome="Brazil", side="buy", price=brazil[0], size=5)
    before = balance_raw(client, holder, "polymarket")
    resolved = ok(control(sandbox, "POST", f"markets/{market['parsec_id']}/resolve", json={"outcome": "france"}))
    assert [(s["outcome"], s["amount"]) for s in resolved["settlements"]] == [("France", "6000000"), ("Brazil", "0")]
    assert balance_raw(client, holder, "polymarket") == before + 6_000_000
    shown = fetched(client, market["parsec_id"])[market["parsec_id"]]
    assert [(o["name"], o["price"]) for o in shown["outcomes"]] == [("Brazil", 0.0), ("France", 1.0), ("Other", 0.0)]


def test_close_halts_trading_then_resolution_settles(sandbox, client):
    market = new_market(sandbox, price="0.30", makers_walk=False)
    holder, payer = new_user(client), Wallet(sandbox)  # mock USDC and its approval of the escrow, on the sandbox chain
    ask = book(client, market, "Yes")["asks"][0]
    bought = place(client, holder, market, outcome="Yes", side="buy", price=ask[0], size=10)
    assert bought["status"] == "filled"
    after_buy = balance_raw(client, holder, "polymarket")
    fee = 150_000
    auth = payer.fee_auth(fee)
    resting = place(client, holder, market, outcome="Yes", side="buy", price=0.05, size=2000,
                    fee_auth=auth, payer_address=payer.address)
    assert resting["status"] == "open"
    assert balance_raw(client, holder, "polymarket") == after_buy - 100_000_000  # reserved (the fee comes from the payer's wallet)
    assert record(sandbox, auth["order_id"])["status"] == "pulled"
    assert chain.usdc_balance(sandbox, payer.address) == FUNDED - fee

    closed = ok(control(sandbox, "POST", f"markets/{market['parsec_id']}/close"))
    assert (closed["market"]["status"], closed["orders_cancelled"]) == ("closed", 1)
    shown = fetched(client, market["parsec_id"])[market["parsec_id"]]
    assert (shown["status"], shown["outcomes"][0]["price"]) == ("closed", ask[0])  # its last trade, not a final price
    assert market["parsec_id"] in listed_ids(client, "polymarket", "closed")
    assert market["parsec_id"] not in listed_ids(client, "polymarket")
    # The resting bid is cancelled, its reservation back and its escrowed fee refunded.
    ended = client.orders.retrieve(resting["id"], exchange="polymarket", **as_user(holder))
    assert (ended.status, ended.filled) == ("cancelled", 0)
    assert balance_raw(client, holder, "polymarket") == after_buy
    escrowed = record(sandbox, auth["order_id"])
    assert (escrowed["status"], escrowed["refund_amount"], escrowed["refund_reason"]) == ("refunded", fee, "cancelled")
    assert chain.usdc_balance(sandbox, payer.address) == FUNDED
    # The books are empty, orders are refused, the position is still there.
    assert book(client, market, "Yes")["bids"] == [] and book(client, market, "Yes")["asks"] == []
    with pytest.raises(parsec_api.BadRequestError) as excinfo:
        place(client, holder, market, outcome="Yes", side="sell", price=0.5, size=5)
    assert excinfo.value.body["error"] == "market is closed, not active: trading has ended"
    position = positions_of(client, holder, market)
    assert [(p["outcome"], p["size"]) for p in position] == [("Yes", 10.0)]
    refused(control(sandbox, "POST", f"markets/{market['parsec_id']}/close"), 400, "bad_request")  # already closed

    resolved = ok(control(sandbox, "POST", f"markets/{market['parsec_id']}/resolve", json={"outcome": "No"}))
    assert resolved["orders_cancelled"] == 0
    assert resolved["market"]["closed_at"] == closed["market"]["closed_at"]  # trading ended at the close
    assert [(s["outcome"], s["size"], s["price"], s["amount"]) for s in resolved["settlements"]] == [("Yes", "10", "0", "0")]
    assert positions_of(client, holder, market) == []
    assert balance_raw(client, holder, "polymarket") == after_buy  # a losing position pays nothing
    assert [(o["name"], o["price"]) for o in fetched(client, market["parsec_id"])[market["parsec_id"]]["outcomes"]] == [("Yes", 0.0), ("No", 1.0)]


# --- Voiding ----------------------------------------------------------------------------------

def test_void_even_pays_one_nth_per_share(sandbox, client):
    market = new_market(sandbox, outcomes=["Red", "Green", "Blue"], price="0.50", min_order_size="0.5", makers_walk=False)
    holder = new_user(client)
    ask = book(client, market, "Red")["asks"][0]
    place(client, holder, market, outcome="Red", side="buy", price=ask[0], size=7)
    green = book(client, market, "Green")["asks"][0]
    place(client, holder, market, outcome="Green", side="buy", price=green[0], size=3.5)
    before = balance_raw(client, holder, "polymarket")

    voided = ok(control(sandbox, "POST", f"markets/{market['parsec_id']}/void", json={"rule": "even"}))
    third = Decimal("0.333333")  # 1/3 rounded down to the base unit
    paid = [(s["outcome"], Decimal(s["price"]), int(s["amount"])) for s in voided["settlements"]]
    assert paid == [("Red", third, int(7 * third * MICRO)), ("Green", third, int(Decimal("3.5") * third * MICRO))]
    assert paid[1][2] == 1_166_665  # 3.5 x 0.333333 = 1.1666655 USDC, rounded down
    assert balance_raw(client, holder, "polymarket") == before + 2_333_331 + 1_166_665
    shown = fetched(client, market["parsec_id"])[market["parsec_id"]]
    assert shown["status"] == "resolved"  # SANDBOX_VOID_STATUS
    assert [o["price"] for o in shown["outcomes"]] == [0.333333, 0.333333, 0.333333]  # no outcome at 1: a void
    assert voided["market"]["winning_outcome"] is None and voided["market"]["void_rule"] == "even"
    assert positions_of(client, holder, market) == []


def test_void_cost_returns_the_average_price_per_share(sandbox, client):
    market = new_market(sandbox, exchange="kalshi", price="0.44", makers_walk=False)
    holder = new_user(client)
    first, second = book(client, market, "Yes")["asks"][:2]
    # The whole first level and one share of the second: an average price of many decimals.
    place(client, holder, market, outcome="Yes", side="buy", price=second[0], size=first[1] + 1)
    [position] = positions_of(client, holder, market)
    average, size = Decimal(str(position["average_price"])), Decimal(str(position["size"]))

    voided = ok(control(sandbox, "POST", f"markets/{market['parsec_id']}/void"))  # Kalshi's default rule: cost
    [row] = voided["settlements"]
    amount = (size * average * MICRO).to_integral_value(rounding=ROUND_DOWN)
    assert (row["reason"], Decimal(row["average_price"]), Decimal(row["price"]), int(row["amount"])) == ("voided", average, average, amount)
    assert voided["market"]["void_rule"] == "cost"
    settled = ok(control(sandbox, "GET", "settlements", params={"customer_id": holder, "exchange": "kalshi"}))["settlements"]
    assert settled == voided["settlements"]
    shown = fetched(client, market["parsec_id"])[market["parsec_id"]]
    assert shown["status"] == "resolved" and all(o["price"] < 1 for o in shown["outcomes"])


# --- Listing ------------------------------------------------------------------------------------

def test_parsec_ids_return_markets_in_any_status_and_allow_no_filter(sandbox, client):
    active, closed, resolved = new_market(sandbox), new_market(sandbox), new_market(sandbox, exchange="kalshi")
    ok(control(sandbox, "POST", f"markets/{closed['parsec_id']}/close"))
    ok(control(sandbox, "POST", f"markets/{resolved['parsec_id']}/resolve", json={"outcome": "No"}))
    shown = fetched(client, active["parsec_id"], closed["parsec_id"], resolved["parsec_id"], "polymarket:nope")
    assert {pid: m["status"] for pid, m in shown.items()} == {
        active["parsec_id"]: "active", closed["parsec_id"]: "closed", resolved["parsec_id"]: "resolved"}
    single = client.markets.with_raw_response.list(parsec_id=closed["parsec_id"]).http_response.json()
    assert [m["status"] for m in single["markets"]] == ["closed"]
    for extra in ({"status": "active"}, {"exchanges": "polymarket"}, {"search": "x"}, {"min_volume": "1"}):
        response = requests.get(f"{sandbox.base_url}/api/v1/markets", params={"parsec_ids": active["parsec_id"], **extra},
                                headers={"X-API-Key": sandbox.builder_key}, timeout=30)
        refused(response, 400, "bad_request")
    too_many = ",".join(f"polymarket:{n}" for n in range(101))
    refused(requests.get(f"{sandbox.base_url}/api/v1/markets", params={"parsec_ids": too_many},
                         headers={"X-API-Key": sandbox.builder_key}, timeout=30), 400, "bad_request")
    assert closed["parsec_id"] in listed_ids(client, "polymarket", "closed")
    assert resolved["parsec_id"] in listed_ids(client, "kalshi", "resolved")
    assert active["parsec_id"] in listed_ids(client, "polymarket") - listed_ids(client, "polymarket", "closed")


def test_market_data_stays_right_through_close_and_resolution(sandbox, client):
    event = f"life-event-{uuid.uuid4().hex[:6]}"
    market = new_market(sandbox, event_id=event, min_order_size="1", makers_walk=False)
    sibling = new_market(sandbox, exchange="kalshi", event_id=event)
    trader = new_user(client)
    ask = book(client, market, "Yes")["asks"][0]
    place(client, trader, market, outcome="Yes", side="buy", price=ask[0], size=5)
    bid = book(client, market, "Yes")["bids"][0]
    place(client, trader, market, outcome="Yes", side="sell", price=bid[0], size=2)

    def history() -> tuple[list, list]:
        trades = client.trades.with_raw_response.list(parsec_id=market["parsec_id"], outcome="Yes").http_response.json()
        assert_valid(trades, "TradesResponse")
        candles = client.price.with_raw_response.retrieve(parsec_id=market["parsec_id"], outcome="Yes", interval="1m").http_response.json()
        assert_valid(candles, "PriceResponse")
        return trades["trades"], candles["candles"]

    trades, candles = history()
    assert [(t["side"], t["price"], t["size"]) for t in trades] == [("sell", bid[0], 2.0), ("buy", ask[0], 5.0)]  # newest first
    assert sum(Decimal(str(c["volume"])) for c in candles) == 7
    assert {candles[0]["open"], candles[-1]["close"]} <= {ask[0], bid[0]}

    def event_view() -> dict:
        body = client.events.with_raw_response.list(event_id=event, include_markets=True).http_response.json()
        assert_valid(body, "EventsResponse")
        [summary] = body["events"]
        return summary

    assert {m["parsec_id"] for m in event_view()["markets"]} == {market["parsec_id"], sibling["parsec_id"]}
    ok(control(sandbox, "POST", f"markets/{market['parsec_id']}/close"))
    assert history() == (trades, candles)
    ok(control(sandbox, "POST", f"markets/{market['parsec_id']}/resolve", json={"outcome": "Yes"}))
    assert history() == (trades, candles)
    summary = event_view()
    assert summary["status"] == "active"  # the sibling still trades
    assert {m["parsec_id"]: m["status"] for m in summary["markets"]} == {market["parsec_id"]: "resolved", sibling["parsec_id"]: "active"}
    ok(control(sandbox, "POST", f"markets/{sibling['parsec_id']}/void"))
    assert event_view()["status"] == "resolved"


# --- End dates --------------------------------------------------------------------------------

def test_seeded_markets_end_relative_to_the_clock_some_within_days(sandbox, client):
    now = datetime.fromisoformat(ok(control(sandbox, "GET", "clock"))["now"].replace("Z", "+00:00"))
    ends = {}
    for exchange in ("polymarket", "kalshi"):
        body = client.markets.with_raw_response.list(exchanges=[exchange], limit=100).http_response.json()
        ends |= {m["parsec_id"]: datetime.fromisoformat(m["end_date"].replace("Z", "+00:00"))
                 for m in body["markets"] if not m["question"].startswith("Lifecycle test")}
    assert all(end > now for end in ends.values())
    soon = [pid for pid, end in ends.items() if end <= now + timedelta(days=7)]
    assert len(soon) >= 3 and len(soon) < len(ends)


def test_a_market_closes_when_the_clock_passes_its_end_date(own_sandbox):
    client = own_sandbox.sdk()
    now = datetime.fromisoformat(ok(control(own_sandbox, "GET", "clock"))["now"].replace("Z", "+00:00"))
    market = new_market(own_sandbox, end_date=(now + timedelta(minutes=10)).isoformat())
    holder = new_user(client)
    resting = place(client, holder, market, outcome="Yes", side="buy", price=0.05, size=10)
    ok(control(own_sandbox, "POST", "clock/advance", json={"seconds": 9 * 60}))
    assert fetched(client, market["parsec_id"])[market["parsec_id"]]["status"] == "active"
    ok(control(own_sandbox, "POST", "clock/advance", json={"seconds": 2 * 60}))
    assert fetched(client, market["parsec_id"])[market["parsec_id"]]["status"] == "closed"
    assert client.orders.retrieve(resting["id"], exchange="polymarket", **as_user(holder)).status == "cancelled"
    assert balance_raw(client, holder, "polymarket") == OPENING
    # A market made with its end date already past is closed at once.
    past = new_market(own_sandbox, end_date=(now - timedelta(days=1)).isoformat().replace("+00:00", "Z"))
    assert past["status"] == "closed"


# --- Control-plane validation -------------------------------------------------------------------

def test_lifecycle_actions_refuse_bad_input_in_parsecs_error_shape(sandbox):
    market = new_market(sandbox)
    pid = market["parsec_id"]
    refused(control(sandbox, "POST", "markets/polymarket:nope/resolve", json={"outcome": "Yes"}), 404, "market_not_found")
    refused(control(sandbox, "POST", "markets/polymarket:nope/close"), 404, "market_not_found")
    refused(control(sandbox, "POST", "markets/polymarket:nope/void"), 404, "market_not_found")
    refused(control(sandbox, "GET", "markets/polymarket:nope"), 404, "market_not_found")
    refused(control(sandbox, "POST", f"markets/{pid}/resolve", json={}), 400, "missing_parameter")
    refused(control(sandbox, "POST", f"markets/{pid}/resolve", json={"outcome": 1}), 400, "bad_request")
    refused(control(sandbox, "POST", f"markets/{pid}/resolve", json={"outcome": "Maybe"}), 400, "bad_request")
    refused(control(sandbox, "POST", f"markets/{pid}/resolve", data="{not json"), 400, "bad_request")
    refused(control(sandbox, "POST", f"markets/{pid}/void", json={"rule": "half"}), 400, "bad_request")
    refused(requests.post(f"{sandbox.base_url}/_sandbox/markets/{pid}/resolve", json={"outcome": "Yes"}, timeout=30), 401, "unauthorized")
    assert ok(control(sandbox, "GET", f"markets/{pid}"))["status"] == "active"  # none of that changed it
    ok(control(sandbox, "POST", f"markets/{pid}/resolve", json={"outcome": "1"}))  # an outcome by its index
    assert ok(control(sandbox, "GET", f"markets/{pid}"))["winning_outcome"] == "No"
    for action, body in (("resolve", {"outcome": "Yes"}), ("void", {}), ("close", {})):
        refusal = refused(control(sandbox, "POST", f"markets/{pid}/{action}", json=body), 400, "bad_request")
        assert "market is" in refusal["error"] and "resolved" in refusal["error"]


@pytest.mark.parametrize("body", [
    {"exchange": "opinion", "question": "q?"},
    {"exchange": "polymarket"},
    {"exchange": "polymarket", "question": ""},
    {"exchange": "polymarket", "question": "q?", "outcomes": ["Yes"]},
    {"exchange": "polymarket", "question": "q?", "outcomes": ["Yes", "yes"]},
    {"exchange": "polymarket", "question": "q?", "outcomes": ["2026", "2027"]},
    {"exchange": "polymarket", "question": "q?", "price": "1.2"},
    {"exchange": "polymarket", "question": "q?", "price": "0.405"},
    {"exchange": "polymarket", "question": "q?", "tick_size": "0.05"},
    {"exchange": "polymarket", "question": "q?", "min_order_size": "0"},
    {"exchange": "polymarket", "question": "q?", "end_date": "next week"},
    {"exchange": "polymarket", "question": "q?", "end_date": "2026-12-01T00:00:00"},
    {"exchange": "polymarket", "question": "q?", "event_id": "no spaces please"},
])
def test_creating_a_market_refuses_bad_input_and_creates_nothing(sandbox, client, body):
    before = listed_ids(client, "polymarket")
    response = control(sandbox, "POST", "markets", json=body)
    assert response.status_code == 400, response.text
    assert_valid(response.json(), "ErrorResponse")
    assert listed_ids(client, "polymarket") == before
