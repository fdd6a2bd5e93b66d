"""What goes over the wire (headers, query, body) and what comes back (plain typed values)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from parsec.types import FeeAuthorization
from tests.parsec.sending import send_order
from tests.scripted_parsec import BUILDER_KEY, Reply

USER_KEY = "pk_live_enduser_TOPSECRET_7c21"
USER = {
    "customer_id": "a1b2c3d4-e5f6-7890-abcd-ef1234567890", "external_id": "ext-001", "api_key": USER_KEY, "tier": "free",
    "qps_limit": 10, "created_at": "2026-03-01T12:00:00Z", "linked_exchanges": ["polymarket"],
    "wallet": {"eoa_address": "0x" + "1" * 40, "privy_wallet_id": "wallet_1", "wallet_type": "eoa", "safe_address": None, "chain_id": 137,
               "created_at": "2026-03-01T12:00:01+00:00", "balances": [{"token": "USDC", "balance": "100.50", "raw_balance": "100500000", "decimals": 6, "contract_address": None}]},
    "fee_escrow_enabled": True, "fee_bps": 25, "affiliate_address": None,
}
ORDER = {"id": "ord-1", "market_id": "0xabc", "outcome": "Yes", "side": "buy", "price": 0.123456789, "size": 100, "filled": 25.5,
         "status": "partially_filled", "created_at": "2026-03-01T12:00:00.123456Z", "updated_at": None}
CUSTOMER = USER["customer_id"]


def test_customer_scoped_calls_send_the_impersonation_header(gateway, parsec_server):
    parsec_server.script("GET", "/orders", [ORDER])
    parsec_server.script("GET", "/orders/ord-1", ORDER)
    parsec_server.script("DELETE", "/orders/ord-1", {**ORDER, "status": "cancelled"})
    parsec_server.script("POST", "/orders", ORDER)
    parsec_server.script("GET", "/fills", [])
    parsec_server.script("GET", "/positions", [])
    parsec_server.script("GET", "/balance", {"raw": {"balance": "5000000"}})
    parsec_server.script("GET", "/ping", [{"exchange": "kalshi", "has_credentials": True, "authenticated": True, "message": "authenticated"}])
    gateway.list_orders(customer_id=CUSTOMER, exchange="kalshi")
    gateway.get_order(customer_id=CUSTOMER, exchange="kalshi", order_id="ord-1")
    gateway.cancel_order(customer_id=CUSTOMER, exchange="kalshi", order_id="ord-1")
    send_order(gateway, customer_id=CUSTOMER, exchange="kalshi", market_id="K-1", outcome="Yes", side="buy", price=Decimal("0.5"), size=Decimal(1))
    gateway.list_fills(customer_id=CUSTOMER, exchange="kalshi")
    gateway.list_positions(customer_id=CUSTOMER, exchange="kalshi")
    gateway.get_balance(customer_id=CUSTOMER, exchange="polymarket")
    gateway.ping(customer_id=CUSTOMER, exchange="kalshi")
    seen = parsec_server.seen()
    assert len(seen) == 8
    for request in seen:
        assert request.headers["X-Builder-Customer-Id"] == CUSTOMER, request.path
        assert request.headers["X-API-Key"] == BUILDER_KEY


def test_market_data_and_builder_calls_never_impersonate(gateway, parsec_server):
    parsec_server.script("GET", "/markets", {"markets": [], "pagination": {"count": 0, "has_more": False}})
    parsec_server.script("GET", "/orderbook", {"exchange": "kalshi", "bids": [], "asks": []})
    parsec_server.script("GET", "/execution-price", {"total_cost": 0, "filled_amount": 0, "fully_filled": False, "levels_consumed": 0})
    parsec_server.script("GET", "/exchanges", [])
    parsec_server.script("GET", "/builder/users", {"users": [], "count": 0, "next_cursor": None})
    parsec_server.script("GET", f"/builder/users/{CUSTOMER}", USER)
    parsec_server.script("PATCH", f"/builder/users/{CUSTOMER}", USER)
    parsec_server.script("DELETE", f"/builder/users/{CUSTOMER}", Reply(204, None))
    parsec_server.script("POST", "/builder/users", USER)
    parsec_server.script("POST", "/builder/onboard", {"customer_id": CUSTOMER, "exchange": "kalshi", "mode": "self", "status": "complete", "linked_exchanges": ["kalshi"], "steps_completed": []})
    parsec_server.script("GET", "/builder/pool", {"qps_pool": 500, "end_user_count": 1, "total_allocated_qps": 10})
    parsec_server.script("GET", "/builder/escrow/config", {"fee_escrow_enabled": True, "escrow_contract_address": "0xbd", "min_fee_usdc": "100000", "min_fee_bps": 10, "treasury_address": "0x2", "affiliate_fee_bps": 5000})
    gateway.list_markets(exchanges=["kalshi"])
    gateway.get_orderbook(parsec_id="kalshi:K-1")
    gateway.get_execution_price(parsec_id="kalshi:K-1", side="buy", amount=Decimal(10))
    gateway.list_exchanges()
    gateway.list_users()
    gateway.get_user(customer_id=CUSTOMER)
    gateway.update_user(customer_id=CUSTOMER, qps_limit=20)
    gateway.deactivate_user(customer_id=CUSTOMER)
    gateway.create_user(external_id="ext-001")
    gateway.onboard(customer_id=CUSTOMER, exchange="kalshi", mode="self", credentials={"api_key_id": "kid", "private_key": "-----BEGIN PEM-----"})
    gateway.get_pool()
    gateway.get_escrow_config()
    seen = parsec_server.seen()
    assert len(seen) == 12
    for request in seen:
        assert "X-Builder-Customer-Id" not in request.headers, request.path
        assert request.headers["X-API-Key"] == BUILDER_KEY


def test_per_request_credentials_travel_as_base64_json_header(gateway, parsec_server):
    parsec_server.script("GET", "/positions", [])
    creds = {"api_key_id": "kalshi-key-id", "private_key": "-----BEGIN RSA PRIVATE KEY-----secret"}
    gateway.list_positions(customer_id=CUSTOMER, exchange="kalshi", credentials=creds)
    (request,) = parsec_server.seen()
    assert json.loads(base64.b64decode(request.headers["X-Exchange-Credentials"])) == creds


def test_order_creation_body_and_params(gateway, parsec_server):
    parsec_server.script("POST", "/orders", ORDER)
    expiration = datetime(2030, 1, 1, tzinfo=UTC)
    fee_auth = FeeAuthorization(order_id="0x" + "ab" * 32, payer="0x" + "2" * 40, fee_amount=137500, deadline=1_900_000_000, signature="0x" + "cd" * 65)
    send_order(gateway,
        customer_id=CUSTOMER, exchange="polymarket", market_id="0xabc", outcome="Yes", side="buy", price=Decimal("0.55"), size=Decimal("100"),
        order_type="gtd", expiration=expiration, fee_auth=fee_auth, payer_address=fee_auth.payer, signer_address=fee_auth.payer, affiliate="0x" + "3" * 40,
    )
    (request,) = parsec_server.seen()
    assert request.query == {"exchange": "polymarket"}
    assert request.body == {
        "market_id": "0xabc", "outcome": "Yes", "side": "buy", "price": 0.55, "size": 100,
        "params": {"order_type": "gtd", "expiration": str(int(expiration.timestamp()))},
        "fee_auth": {"order_id": fee_auth.order_id, "payer": fee_auth.payer, "fee_amount": "137500", "deadline": 1_900_000_000, "signature": fee_auth.signature},
        "payer_address": fee_auth.payer, "signer_address": fee_auth.payer, "affiliate": "0x" + "3" * 40,
    }
    assert fee_auth.signature not in repr(fee_auth)


def test_bad_order_input_is_refused_before_sending(gateway, parsec_server):
    common = {"customer_id": CUSTOMER, "exchange": "kalshi", "market_id": "K", "outcome": "Yes", "side": "buy", "size": Decimal(1)}
    with pytest.raises(ValueError, match="precision"):
        send_order(gateway, price=Decimal("0.12345678901234567890"), **common)
    with pytest.raises(ValueError, match="order_type"):
        send_order(gateway, price=Decimal("0.5"), order_type="day", **common)
    with pytest.raises(ValueError, match="aware"):
        send_order(gateway, price=Decimal("0.5"), order_type="gtd", expiration=datetime(2030, 1, 1), **common)
    assert parsec_server.seen() == []


def test_orders_come_back_with_decimals_and_aware_utc_datetimes(gateway, parsec_server):
    parsec_server.script("GET", "/orders", [ORDER])
    start = datetime(2026, 3, 1, 13, 0, tzinfo=timezone(timedelta(hours=1)))
    end = datetime(2026, 3, 2, tzinfo=UTC)
    (order,) = gateway.list_orders(customer_id=CUSTOMER, exchange="kalshi", status="all", start=start, end=end, limit=500)
    assert order.price == Decimal("0.123456789") and isinstance(order.price, Decimal)
    assert order.size == Decimal(100) and order.filled == Decimal("25.5")
    assert order.created_at == datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
    assert order.created_at.tzinfo is UTC
    assert order.updated_at is None
    assert order.exchange == "kalshi"
    assert order.raw["price"] == 0.123456789  # raw stays plain JSON, storable as is
    (request,) = parsec_server.seen()
    assert request.query == {"exchange": "kalshi", "status": "all", "start_ts": str(int(start.timestamp())), "end_ts": str(int(end.timestamp())), "limit": "500"}
    assert request.query["start_ts"] == "1772366400"  # 12:00 UTC


def test_end_user_api_keys_are_never_kept(gateway, parsec_server):
    parsec_server.script("GET", f"/builder/users/{CUSTOMER}", USER)
    parsec_server.script("POST", "/builder/users", Reply(201, USER))
    user = gateway.get_user(customer_id=CUSTOMER)
    created = gateway.create_user(external_id="ext-001", email="a@example.com", qps_limit=10)
    for result in (user, created):
        assert result.api_key_last4 == "7c21"
        assert "api_key" not in result.raw
        assert USER_KEY not in repr(result) and USER_KEY not in json.dumps(result.raw)
    assert created.created is True and user.created is None
    assert user.wallet.balances[0].raw_balance == 100_500_000 and user.wallet.balances[0].balance == Decimal("100.50")
    assert user.created_at == datetime(2026, 3, 1, 12, tzinfo=UTC)


def test_iter_users_follows_the_keyset_cursor_to_the_end(gateway, parsec_server):
    page = lambda ids, cursor: {"users": [{**USER, "customer_id": i, "external_id": i} for i in ids], "count": len(ids), "next_cursor": cursor}  # noqa: E731
    parsec_server.script("GET", "/builder/users", page(["a", "b"], "c1"), page(["c", "d"], "c2"), page(["e"], None))
    assert [u.customer_id for u in gateway.iter_users(page_size=2)] == ["a", "b", "c", "d", "e"]
    assert [r.query.get("cursor") for r in parsec_server.seen()] == [None, "c1", "c2"]


def test_iter_markets_pages_while_has_more(gateway, parsec_server):
    market = {"parsec_id": "kalshi:K-1", "exchange": "kalshi", "exchange_market_id": "K-1", "question": "Q?", "status": "active", "market_type": "binary",
              "outcomes": [{"name": "Yes", "price": 0.41}, {"name": "No", "price": 0.59}], "volume_total": 1234.5, "tick_size": 0.01, "min_order_size": 1}
    parsec_server.script("GET", "/markets", {"markets": [market], "pagination": {"count": 1, "total": 2, "has_more": True, "next_cursor": "1"}},
                         {"markets": [{**market, "parsec_id": "kalshi:K-2"}], "pagination": {"count": 1, "total": 2, "has_more": False}})
    markets = list(gateway.iter_markets(exchanges=["kalshi"]))
    assert [m.parsec_id for m in markets] == ["kalshi:K-1", "kalshi:K-2"]
    assert markets[0].tick_size == Decimal("0.01") and markets[0].outcomes[0].price == Decimal("0.41")
    assert parsec_server.seen()[0].query == {"exchanges": "kalshi", "limit": "100"}


@pytest.mark.parametrize(
    ("exchange", "raw", "units"),
    [("polymarket", {"balance": "14328266", "allowance": "1"}, 14_328_266), ("kalshi", {"balance": 1000}, 10_000_000), ("limitless", {"currentValue": 3}, None)],
)
def test_balances_are_normalised_to_usdc_base_units(gateway, parsec_server, exchange, raw, units):
    parsec_server.script("GET", "/balance", {"raw": raw})
    balance = gateway.get_balance(customer_id=CUSTOMER, exchange=exchange)
    assert balance.usdc_base_units == units
    assert balance.raw == {"raw": raw}
    if units is not None:
        assert balance.usdc == Decimal(units) / 1_000_000


def test_orderbook_levels_are_decimal(gateway, parsec_server):
    parsec_server.script("GET", "/orderbook", {"parsec_id": "kalshi:K-1", "exchange": "kalshi", "outcome": "yes", "market_id": "K-1",
                                               "bids": [[0.41, 100], [0.40, 250.5]], "asks": [[0.43, 80]], "timestamp": "2026-03-01T12:00:00Z", "tick_size": 0.01})
    book = gateway.get_orderbook(exchange="kalshi", market_id="K-1", outcome="yes", depth=10)
    assert book.bids[0].price == Decimal("0.41") and book.bids[1].size == Decimal("250.5")
    assert book.asks[0].price == Decimal("0.43")
    assert parsec_server.seen()[0].query == {"exchange": "kalshi", "market_id": "K-1", "outcome": "yes", "limit": "10"}
