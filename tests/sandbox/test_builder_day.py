"""A builder's day against the real sandbox process, through the official SDK.

Every body the tests receive is validated against openapi.yaml (tests/sandbox/schema.py).
"""

from __future__ import annotations

import uuid

import parsec_api
import pytest

from tests.sandbox.schema import assert_valid

PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAsandbox\n-----END RSA PRIVATE KEY-----"


def raw(method, *args, **kwargs):
    """Call an SDK method through with_raw_response; return (status, json)."""
    response = method(*args, **kwargs)
    http = response.http_response
    return http.status_code, (http.json() if http.content else None)


def as_user(customer_id: str) -> dict:
    return {"extra_headers": {"X-Builder-Customer-Id": customer_id}}


def error_of(excinfo) -> dict:
    body = excinfo.value.body
    assert_valid(body, "ErrorResponse")
    return body


@pytest.fixture(scope="module")
def client(sandbox):
    return sandbox.sdk()


@pytest.fixture(scope="module")
def markets(client):
    status, body = raw(client.markets.with_raw_response.list, exchanges=["polymarket", "kalshi"], limit=100)
    assert status == 200
    assert_valid(body, "MarketsResponse")
    by_key = {}
    for market in body["markets"]:
        by_key.setdefault((market["exchange"], market["market_type"]), []).append(market)
    return by_key


@pytest.fixture
def quotes_hold(sandbox):
    """For a test that reads the book and then trades on what it read: no requote in between."""
    sandbox.quotes_hold_for(15)


def order_market_id(market: dict) -> str:
    return market.get("condition_id") or market["exchange_market_id"]


def book(client, market, outcome="Yes"):
    status, body = raw(client.orderbook.with_raw_response.retrieve, parsec_id=market["parsec_id"], outcome=outcome)
    assert status == 200
    assert_valid(body, "OrderbookResponse")
    return body


def new_user(client) -> str:
    status, body = raw(client.builder.users.with_raw_response.create, external_id=f"day-{uuid.uuid4().hex[:10]}", qps_limit=5)
    assert status == 201
    assert_valid(body, "BuilderCreateUserResponse")
    return body["customer_id"]


def place(client, customer_id, exchange, market, side, price, size, outcome="Yes", **params):
    status, body = raw(
        client.orders.with_raw_response.create, exchange=exchange, market_id=order_market_id(market), outcome=outcome,
        side=side, price=price, size=size, params=params or parsec_api.omit, **as_user(customer_id),
    )
    assert status == 200
    assert_valid(body, "Order")
    return body


def onboard_both(client, customer_id):
    status, body = raw(client.builder.onboard.with_raw_response.create, customer_id=customer_id, exchange="polymarket", mode="managed")
    assert status == 200
    assert_valid(body, "BuilderOnboardResponse")
    status, body = raw(client.builder.onboard.with_raw_response.create, customer_id=customer_id, exchange="kalshi", mode="self",
                       api_key_id="kalshi-key-id", private_key=PEM)
    assert status == 200


def test_create_user_is_idempotent_on_external_id(client):
    external_id = f"idem-{uuid.uuid4().hex[:8]}"
    first_status, first = raw(client.builder.users.with_raw_response.create, external_id=external_id, email="a@example.com")
    again_status, again = raw(client.builder.users.with_raw_response.create, external_id=external_id, qps_limit=99)
    assert (first_status, again_status) == (201, 200)
    assert_valid(again, "BuilderCreateUserResponse")
    assert (again["customer_id"], again["api_key"]) == (first["customer_id"], first["api_key"])
    assert first["status"] == "complete" and first["linked_exchanges"] == []
    status, read = raw(client.builder.users.with_raw_response.retrieve, first["customer_id"])
    assert status == 200 and read["qps_limit"] == 10  # the repeat call's qps_limit is ignored
    assert_valid(read, "BuilderUserResponse")


def test_bad_user_input_gets_400(client):
    for kwargs in ({"external_id": "x-bad-qps", "qps_limit": 0}, {"external_id": "x-bad-eoa", "eoa_address": "0x12"}):
        with pytest.raises(parsec_api.BadRequestError) as excinfo:
            client.builder.users.create(**kwargs)
        assert error_of(excinfo)["code"] == "bad_request"


def test_users_list_pages_with_a_keyset_cursor(client):
    for _ in range(3):
        new_user(client)
    seen, cursor = [], None
    while True:
        status, page = raw(client.builder.users.with_raw_response.list, limit=2, **({"cursor": cursor} if cursor else {}))
        assert status == 200
        assert_valid(page, "BuilderUsersListResponse")
        assert page["count"] == len(page["users"]) <= 2
        seen += [user["external_id"] for user in page["users"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(seen) and len(seen) == len(set(seen)) >= 7  # 4 demo customers + 3 new


def test_update_qps_and_pool(client):
    customer_id = new_user(client)
    status, body = raw(client.builder.users.with_raw_response.update, customer_id, qps_limit=7)
    assert status == 200 and body["qps_limit"] == 7
    with pytest.raises(parsec_api.BadRequestError):
        client.builder.users.update(customer_id, qps_limit=0)
    _, pool = raw(client.builder.with_raw_response.pool)
    assert_valid(pool, "BuilderPoolResponse")
    assert pool["qps_pool"] == 500 and pool["total_allocated_qps"] >= 7
    _, config = raw(client.builder.escrow.with_raw_response.config)
    assert_valid(config, "EscrowConfigResponse")
    assert config["escrow_contract_address"] == "0xbd25057b4d3252ca1ec26e1e5efb6480315ba142" and config["min_fee_usdc"] == "100000"


def test_onboarding_steps_and_idempotent_rerun(client):
    customer_id = new_user(client)
    _, managed = raw(client.builder.onboard.with_raw_response.create, customer_id=customer_id, exchange="polymarket", mode="managed")
    assert managed["steps_completed"] == ["wallet_eoa_created", "exchange_linked"]
    assert managed["wallet"]["privy_wallet_id"].startswith("wallet_") and managed["linked_exchanges"] == ["polymarket"]
    _, rerun = raw(client.builder.onboard.with_raw_response.create, customer_id=customer_id, exchange="polymarket", mode="managed")
    assert rerun["steps_completed"] == [] and rerun["eoa_address"] == managed["eoa_address"] and rerun["status"] == "complete"
    _, kalshi = raw(client.builder.onboard.with_raw_response.create, customer_id=customer_id, exchange="kalshi", mode="self",
                    api_key_id="kid", private_key=PEM)
    assert kalshi["steps_completed"] == ["credentials_validated", "credentials_stored"]
    assert kalshi["linked_exchanges"] == ["kalshi", "polymarket"]
    safe_user = new_user(client)
    owner = "0x" + "ab" * 20
    _, safe = raw(client.builder.onboard.with_raw_response.create, customer_id=safe_user, exchange="polymarket", mode="managed",
                  wallet_type="safe", eoa_address=owner)
    assert safe["steps_completed"] == ["external_eoa_provided", "wallet_safe_created", "exchange_linked"]
    assert safe["eoa_address"] == owner and safe["safe_address"] and safe["wallet"]["privy_wallet_id"] == ""
    _, self_poly = raw(client.builder.onboard.with_raw_response.create, customer_id=safe_user, exchange="polymarket", mode="self",
                       clob_api_key="k", clob_api_secret="s", clob_api_passphrase="p")
    assert self_poly["steps_completed"] == ["credentials_stored"]


@pytest.mark.parametrize("kwargs", [
    {"exchange": "kalshi", "mode": "managed"},
    {"exchange": "kalshi", "mode": "self", "api_key_id": "kid", "private_key": "not a pem"},
    {"exchange": "polymarket", "mode": "self", "clob_api_key": "k"},
    {"exchange": "polymarket", "mode": "managed", "wallet_type": "safe"},
    {"exchange": "polymarket", "mode": "managed", "wallet_type": "eoa", "eoa_address": "0x" + "cd" * 20},
])
def test_onboarding_rules_answer_400(client, kwargs):
    customer_id = new_user(client)
    with pytest.raises(parsec_api.BadRequestError) as excinfo:
        client.builder.onboard.create(customer_id=customer_id, **kwargs)
    assert error_of(excinfo)["code"] == "bad_request"


def test_onboarding_a_foreign_customer_is_403(client):
    with pytest.raises(parsec_api.PermissionDeniedError) as excinfo:
        client.builder.onboard.create(customer_id=str(uuid.uuid4()), exchange="polymarket", mode="managed")
    assert error_of(excinfo)["error"] == "end-user not found or not owned by this builder"


def test_auth_and_impersonation_errors(client, sandbox):
    anonymous = parsec_api.ParsecAPI(api_key="pk_wrong", base_url=sandbox.base_url, max_retries=0)
    with pytest.raises(parsec_api.AuthenticationError) as excinfo:
        anonymous.exchanges.list()
    assert error_of(excinfo) == {"error": "invalid API key", "code": "unauthorized", "retryable": False}
    with pytest.raises(parsec_api.PermissionDeniedError) as excinfo:
        client.orders.list(exchange="polymarket", **as_user(str(uuid.uuid4())))
    assert error_of(excinfo)["error"] == "end-user not found or not owned by this builder"
    _, created = raw(client.builder.users.with_raw_response.create, external_id=f"own-key-{uuid.uuid4().hex[:6]}")
    end_user = parsec_api.ParsecAPI(api_key=created["api_key"], base_url=sandbox.base_url, max_retries=0)
    with pytest.raises(parsec_api.PermissionDeniedError) as excinfo:
        end_user.orders.list(exchange="polymarket", **as_user(created["customer_id"]))
    assert error_of(excinfo)["error"] == "X-Builder-Customer-Id requires a builder account"
    with pytest.raises(parsec_api.PermissionDeniedError) as excinfo:  # not onboarded
        end_user.orders.list(exchange="polymarket")
    assert error_of(excinfo)["code"] == "credentials_required"


def test_order_validation_order_and_codes(client, markets):
    customer_id = new_user(client)
    onboard_both(client, customer_id)
    poly = markets[("polymarket", "binary")][0]
    kalshi = markets[("kalshi", "binary")][0]
    cases = [
        ({"exchange": "nowhere", "market_id": "m"}, parsec_api.NotFoundError, "exchange_not_found"),
        ({"exchange": "opinion", "market_id": "m"}, parsec_api.InternalServerError, "not_supported"),
        ({"exchange": "kalshi", "market_id": order_market_id(kalshi), "params": {"order_type": "fok"}}, parsec_api.InternalServerError, "not_supported"),
        ({"exchange": "kalshi", "market_id": order_market_id(kalshi), "params": {"order_type": "gtd", "expiration": "99999999999"}}, parsec_api.InternalServerError, "not_supported"),
        ({"exchange": "polymarket", "market_id": order_market_id(poly), "params": {"order_type": "gtd", "expiration": "1"}}, parsec_api.BadRequestError, "bad_request"),
        ({"exchange": "polymarket", "market_id": order_market_id(poly), "params": {"order_type": "day"}}, parsec_api.BadRequestError, "bad_request"),
        ({"exchange": "polymarket", "market_id": "0xdoesnotexist"}, parsec_api.NotFoundError, "market_not_found"),
        ({"exchange": "polymarket", "market_id": order_market_id(poly), "outcome": "Maybe"}, parsec_api.BadRequestError, "bad_request"),
        ({"exchange": "polymarket", "market_id": order_market_id(poly), "price": 0.995}, parsec_api.BadRequestError, "bad_request"),
        ({"exchange": "polymarket", "market_id": order_market_id(poly), "price": 0.105}, parsec_api.BadRequestError, "bad_request"),
        ({"exchange": "polymarket", "market_id": order_market_id(poly), "size": 1}, parsec_api.BadRequestError, "bad_request"),
        ({"exchange": "polymarket", "market_id": order_market_id(poly), "side": "sell"}, parsec_api.APIStatusError, "insufficient_funds"),
        ({"exchange": "polymarket", "market_id": order_market_id(poly), "size": 5000, "price": 0.5}, parsec_api.APIStatusError, "insufficient_funds"),
    ]
    for overrides, error_class, code in cases:
        kwargs = {"outcome": "Yes", "side": "buy", "price": 0.2, "size": 10, **overrides}
        with pytest.raises(error_class) as excinfo:
            client.orders.create(**kwargs, **as_user(customer_id))
        assert error_of(excinfo)["code"] == code, overrides
    with pytest.raises(parsec_api.BadRequestError) as excinfo:
        client.orders.list(exchange="", **as_user(customer_id))
    assert error_of(excinfo)["code"] == "missing_parameter"


def test_every_order_type_on_both_exchanges(client, markets, quotes_hold):
    customer_id = new_user(client)
    onboard_both(client, customer_id)
    poly = markets[("polymarket", "binary")][1]
    kalshi = markets[("kalshi", "binary")][1]

    top = book(client, poly)
    best_ask, best_ask_size = top["asks"][0]
    resting = place(client, customer_id, "polymarket", poly, "buy", round(top["bids"][-1][0] - 0.01, 2), 10)
    assert resting["status"] == "open" and resting["filled"] == 0 and resting["updated_at"] is None

    ioc = place(client, customer_id, "polymarket", poly, "buy", best_ask, best_ask_size + 5, order_type="ioc")
    assert ioc["status"] == "cancelled" and ioc["filled"] == best_ask_size  # partial: the rest is cancelled

    second_ask, second_size = book(client, poly)["asks"][0]
    fok_kill = place(client, customer_id, "polymarket", poly, "buy", second_ask, second_size + 50, order_type="fok")
    assert fok_kill["status"] == "cancelled" and fok_kill["filled"] == 0
    fok = place(client, customer_id, "polymarket", poly, "buy", second_ask, 5, order_type="fok")
    assert fok["status"] == "filled" and fok["filled"] == 5

    import time

    gtd = place(client, customer_id, "polymarket", poly, "buy", 0.02, 5, order_type="gtd", expiration=str(int(time.time()) + 3600))
    assert gtd["status"] == "open"

    kalshi_top = book(client, kalshi)
    kalshi_fill = place(client, customer_id, "kalshi", kalshi, "buy", kalshi_top["asks"][0][0], 3)
    assert kalshi_fill["status"] == "filled"
    kalshi_ioc = place(client, customer_id, "kalshi", kalshi, "buy", 0.02, 3, order_type="ioc")
    assert kalshi_ioc["status"] == "cancelled" and kalshi_ioc["filled"] == 0

    _, fills = raw(client.fills.with_raw_response.list, exchange="kalshi", **as_user(customer_id))
    assert_valid(fills, "Fill", array=True)
    assert len(fills) == 1 and fills[0]["is_taker"] is True and fills[0]["fee"] > 0  # Kalshi's taker fee

    _, positions = raw(client.positions.with_raw_response.list, exchange="polymarket", **as_user(customer_id))
    assert_valid(positions, "Position", array=True)
    assert positions[0]["size"] == best_ask_size + 5
    expected_avg = (best_ask_size * best_ask + 5 * second_ask) / (best_ask_size + 5)
    assert abs(positions[0]["average_price"] - expected_avg) < 1e-6

    _, open_orders = raw(client.orders.with_raw_response.list, exchange="polymarket", **as_user(customer_id))
    assert_valid(open_orders, "Order", array=True)
    assert {o["id"] for o in open_orders} == {resting["id"], gtd["id"]}
    _status, closed = raw(client.orders.with_raw_response.list, exchange="polymarket", status="closed", limit=2, **as_user(customer_id))
    assert len(closed) == 2 and all(o["status"] in ("filled", "cancelled") for o in closed)

    cancelled = raw(client.orders.with_raw_response.cancel, resting["id"], exchange="polymarket", **as_user(customer_id))[1]
    assert_valid(cancelled, "Order")
    assert cancelled["status"] == "cancelled" and cancelled["updated_at"] is not None
    with pytest.raises(parsec_api.BadRequestError):
        client.orders.cancel(resting["id"], exchange="polymarket", **as_user(customer_id))
    with pytest.raises(parsec_api.NotFoundError) as excinfo:
        client.orders.retrieve("order_missing", exchange="polymarket", **as_user(customer_id))
    assert error_of(excinfo)["code"] == "order_not_found"


def test_list_filters_market_status_and_time_window(client, markets, quotes_hold):
    """The list endpoints a sync reads: market_id, status and start_ts/end_ts narrow them, newest first."""
    customer_id = new_user(client)
    onboard_both(client, customer_id)
    first, second = markets[("polymarket", "binary")][3:5]
    ask = book(client, first)["asks"][0][0]
    bought = place(client, customer_id, "polymarket", first, "buy", ask, 5)
    resting = place(client, customer_id, "polymarket", second, "buy", 0.02, 5)
    me = as_user(customer_id)

    def listed(method, **query):
        status, body = raw(method, exchange="polymarket", **query, **me)
        assert status == 200
        return body

    everything = listed(client.orders.with_raw_response.list, status="all")
    assert [o["id"] for o in everything] == [resting["id"], bought["id"]]  # newest first
    assert [o["id"] for o in listed(client.orders.with_raw_response.list, status="open")] == [resting["id"]]
    assert [o["id"] for o in listed(client.orders.with_raw_response.list, status="closed")] == [bought["id"]]
    assert [o["id"] for o in listed(client.orders.with_raw_response.list, status="all", market_id=order_market_id(first))] == [bought["id"]]
    assert listed(client.orders.with_raw_response.list, status="all", market_id="0xnosuchmarket") == []
    assert listed(client.orders.with_raw_response.list, status="all", end_ts=1) == []
    assert len(listed(client.orders.with_raw_response.list, status="all", start_ts=1, end_ts=4_000_000_000)) == 2

    fills = listed(client.fills.with_raw_response.list, market_id=order_market_id(first))
    assert_valid(fills, "Fill", array=True)
    assert {f["order_id"] for f in fills} == {bought["id"]} and sum(f["size"] for f in fills) == 5
    assert listed(client.fills.with_raw_response.list, market_id=order_market_id(second)) == []
    positions = listed(client.positions.with_raw_response.list)
    assert_valid(positions, "Position", array=True)
    assert [(p["market_id"], p["outcome"], p["size"]) for p in positions] == [(order_market_id(first), "Yes", 5)]
    assert listed(client.positions.with_raw_response.list, market_id=order_market_id(second)) == []


def test_customers_cross_each_other_and_the_resting_side_is_maker(client, markets, quotes_hold):
    buyer, seller = new_user(client), new_user(client)
    onboard_both(client, buyer)
    onboard_both(client, seller)
    market = markets[("polymarket", "binary")][2]
    top = book(client, market)
    bid_price = round(top["bids"][0][0] + 0.01, 2)  # inside the spread: best bid now
    assert bid_price < top["asks"][0][0]
    place(client, seller, "polymarket", market, "buy", top["asks"][0][0], 20)  # the seller gets shares from a maker
    resting = place(client, buyer, "polymarket", market, "buy", bid_price, 30)
    sell = place(client, seller, "polymarket", market, "sell", bid_price, 20)
    assert sell["status"] == "filled"
    _, order = raw(client.orders.with_raw_response.retrieve, resting["id"], exchange="polymarket", **as_user(buyer))
    assert order["status"] == "partially_filled" and order["filled"] == 20
    _, fills = raw(client.fills.with_raw_response.list, exchange="polymarket", **as_user(buyer))
    assert fills[0]["is_taker"] is False and fills[0]["price"] == bid_price
    _, trades = raw(client.trades.with_raw_response.list, parsec_id=market["parsec_id"], outcome="Yes")
    assert_valid(trades, "TradesResponse")
    assert trades["trades"][0]["price"] == bid_price and trades["trades"][0]["aggressor_side"] == "sell"


def test_balance_raw_shapes_and_reservation(client, markets):
    customer_id = new_user(client)
    onboard_both(client, customer_id)
    _, poly = raw(client.account.with_raw_response.balance, exchange="polymarket", **as_user(customer_id))
    _, kalshi = raw(client.account.with_raw_response.balance, exchange="kalshi", **as_user(customer_id))
    assert_valid(poly, "BalanceResponse")
    assert poly["raw"]["balance"] == "1000000000" and kalshi["raw"]["balance"] == 100000
    market = markets[("polymarket", "binary")][0]
    place(client, customer_id, "polymarket", market, "buy", 0.05, 100)
    _, after = raw(client.account.with_raw_response.balance, exchange="polymarket", **as_user(customer_id))
    assert after["raw"]["balance"] == str(1_000_000_000 - 5_000_000)


def test_deactivation_cancels_open_orders_and_revokes_access(client, markets):
    customer_id = new_user(client)
    onboard_both(client, customer_id)
    order = place(client, customer_id, "polymarket", markets[("polymarket", "binary")][0], "buy", 0.05, 10)
    status, _ = raw(client.builder.users.with_raw_response.deactivate, customer_id)
    assert status == 204
    with pytest.raises(parsec_api.NotFoundError):
        client.builder.users.retrieve(customer_id)
    with pytest.raises(parsec_api.PermissionDeniedError):
        client.orders.retrieve(order["id"], exchange="polymarket", **as_user(customer_id))


def test_unneeded_endpoints_are_501_and_unknown_paths_404(client, sandbox):
    for call in (lambda: client.wallet.export_key(), lambda: client.ctf.split(condition_id="0x" + "00" * 32, amount="1")):
        with pytest.raises(parsec_api.InternalServerError) as excinfo:
            call()
        assert excinfo.value.status_code == 501 and error_of(excinfo)["code"] == "not_supported"
    with pytest.raises(parsec_api.NotFoundError) as excinfo:
        client.get("/api/v1/no-such-thing", cast_to=object)
    assert error_of(excinfo)["code"] == "not_found"


def test_market_data_shapes(client, markets):
    _, exchanges = raw(client.exchanges.with_raw_response.list)
    assert_valid(exchanges, "ExchangeCapability", array=True)
    categorical = markets[("polymarket", "categorical")][0]
    with pytest.raises(parsec_api.BadRequestError):
        client.orderbook.retrieve(parsec_id=categorical["parsec_id"])
    assert book(client, categorical, outcome=categorical["outcomes"][1]["name"])["bids"]
    _, page = raw(client.markets.with_raw_response.list, exchanges=["polymarket"], limit=3)
    assert page["pagination"]["has_more"] and page["pagination"]["next_cursor"] == "3"
    _, estimate = raw(client.execution_price.with_raw_response.retrieve, parsec_id=categorical["parsec_id"],
                      outcome=categorical["outcomes"][0]["name"], side="buy", amount=400)
    assert_valid(estimate, "ExecutionEstimateResponse")
    assert estimate["levels_consumed"] >= 2 and estimate["slippage"] > 0
    _, candles = raw(client.price.with_raw_response.retrieve, parsec_id=categorical["parsec_id"], outcome=categorical["outcomes"][0]["name"])
    assert_valid(candles, "PriceResponse")
    _, events = raw(client.events.with_raw_response.list, include_markets=True)
    assert_valid(events, "EventsResponse")
    assert any(len(e["exchanges"]) == 2 for e in events["events"])
    with pytest.raises(parsec_api.NotFoundError):
        client.orderbook.retrieve(parsec_id="polymarket:nope")
