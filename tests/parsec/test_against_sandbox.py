"""The gateway against the real sandbox process (over HTTP, as against Parsec)."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from parsec import errors
from parsec.client import get_client
from parsec.errors import placement_outcome
from parsec.models import OutboundCall
from tests.parsec.sending import send_order


@pytest.fixture
def gateway(parsec_settings, db):
    return get_client()


@pytest.fixture
def onboarded(gateway):
    user = gateway.create_user(external_id=f"gw-{uuid.uuid4().hex[:10]}", email="gw@example.com", qps_limit=20)
    gateway.onboard(customer_id=user.customer_id, exchange="polymarket", mode="managed")
    return user


def test_get_client_follows_the_settings(parsec_settings, sandbox):
    assert get_client().base_url == sandbox.base_url


def test_users_round_trip_without_keeping_their_api_key(gateway):
    external_id = f"gw-{uuid.uuid4().hex[:10]}"
    created = gateway.create_user(external_id=external_id, qps_limit=15)
    again = gateway.create_user(external_id=external_id)
    assert created.created is True and again.created is False
    assert again.customer_id == created.customer_id
    fetched = gateway.get_user(customer_id=created.customer_id)
    assert fetched.qps_limit == 15 and fetched.created_at.tzinfo is not None
    assert len(fetched.api_key_last4) == 4 and "api_key" not in fetched.raw
    updated = gateway.update_user(customer_id=created.customer_id, qps_limit=25)
    assert updated.qps_limit == 25
    assert created.customer_id in {u.customer_id for u in gateway.iter_users(page_size=2)}


def test_onboarded_customer_trades_through_the_gateway(gateway, onboarded):
    customer = onboarded.customer_id
    balance = gateway.get_balance(customer_id=customer, exchange="polymarket")
    assert isinstance(balance.usdc_base_units, int)
    market = next(m for m in gateway.iter_markets(exchanges=["polymarket"], status="active") if m.market_type == "binary")
    assert isinstance(market.tick_size, Decimal)
    book = gateway.get_orderbook(parsec_id=market.parsec_id, outcome="yes")
    assert all(isinstance(level.price, Decimal) for level in book.bids + book.asks)
    price = (book.bids[0].price if book.bids else Decimal("0.10")) - (market.tick_size or Decimal("0.01"))
    size = max(market.min_order_size or Decimal(1), Decimal(5))
    order = send_order(gateway,
        customer_id=customer, exchange="polymarket", market_id=market.exchange_market_id, outcome="Yes", side="buy", price=price, size=size
    )
    assert (order.price, order.size, order.status) == (price, size, "open")  # below the bid; no pending delay (SANDBOX_PENDING_DELAY_SECONDS 0)
    assert gateway.get_order(customer_id=customer, exchange="polymarket", order_id=order.id).id == order.id
    assert order.id in {o.id for o in gateway.list_orders(customer_id=customer, exchange="polymarket", status="all")}
    cancelled = gateway.cancel_order(customer_id=customer, exchange="polymarket", order_id=order.id)
    assert cancelled.status == "cancelled"
    assert isinstance(gateway.list_fills(customer_id=customer, exchange="polymarket"), list)
    assert isinstance(gateway.list_positions(customer_id=customer, exchange="polymarket"), list)
    rows = OutboundCall.objects.filter(customer_id=customer)
    assert rows.filter(path_template="/orders", method="POST", status_code=200).count() == 1


def test_sandbox_refusals_map_to_the_gateway_errors(gateway, onboarded):
    with pytest.raises(errors.NotFound):
        gateway.get_user(customer_id=str(uuid.uuid4()))
    stranger = gateway.create_user(external_id=f"gw-{uuid.uuid4().hex[:10]}")
    with pytest.raises(errors.CredentialsRequired) as caught:
        send_order(gateway, customer_id=stranger.customer_id, exchange="kalshi", market_id="X", outcome="Yes", side="buy", price=Decimal("0.5"), size=Decimal(1))
    assert placement_outcome(caught.value) == "rejected"
    with pytest.raises(errors.PermissionDenied):
        gateway.list_orders(customer_id=str(uuid.uuid4()), exchange="polymarket")
    with pytest.raises(errors.NotFound):
        gateway.get_order(customer_id=onboarded.customer_id, exchange="polymarket", order_id="no-such-order")


def test_builder_pool_and_escrow_config(gateway):
    pool = gateway.get_pool()
    assert pool.qps_pool > 0 and pool.end_user_count >= 0
    config = gateway.get_escrow_config()
    assert isinstance(config.min_fee_usdc, int) and config.escrow_contract_address.startswith("0x")
    assert [e.id for e in gateway.list_exchanges()]
