"""Orders mirror: constraints hold in the database, status only moves forward."""

from __future__ import annotations

import logging
import uuid
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from customers.models import Customer
from orders.models import Fill, Market, Order, Position

pytestmark = pytest.mark.django_db

S = Order.Status


@pytest.fixture
def customer():
    return Customer.objects.create(parsec_customer_id=uuid.uuid4(), external_id="ext-1")


def order_fields(customer, **overrides) -> dict:
    return {
        "parsec_order_id": f"order_{uuid.uuid4().hex[:10]}", "exchange": "kalshi", "customer": customer,
        "market_native_id": "KXBTC-26FEB18", "outcome": "Yes", "side": "buy", "price": Decimal("0.55"),
        "size": Decimal("100"), "created_at": timezone.now(),
    } | overrides


def refused(**overrides):
    """Assert that the database refuses an order with these fields."""
    customer = Customer.objects.first()
    with pytest.raises(IntegrityError), transaction.atomic():
        Order.objects.create(**order_fields(customer, **overrides))


def test_a_valid_order_is_stored_with_decimal_money(customer):
    order = Order.objects.create(**order_fields(customer, filled=Decimal("25")))
    order.refresh_from_db()
    assert order.price == Decimal("0.55") and isinstance(order.size, Decimal)
    assert order.remaining == Decimal("75")
    assert order.notional == Decimal("55.00")


@pytest.mark.parametrize("overrides", [
    {"filled": Decimal("100.00000001")},
    {"filled": Decimal("-1")},
    {"size": Decimal("0")},
    {"price": Decimal("1.01")},
    {"price": Decimal("-0.01")},
    {"fee_auth_order_id": "order_abc123"},
    {"fee_auth_order_id": "0x" + "g" * 64},
])
def test_database_refuses_an_impossible_order(customer, overrides):
    refused(**overrides)


def test_fee_auth_order_id_must_be_bytes32(customer):
    order = Order.objects.create(**order_fields(customer, fee_auth_order_id="0x" + "ab" * 32))
    assert Order.objects.get(fee_auth_order_id="0x" + "ab" * 32) == order


def test_only_an_operator_order_names_a_staff_user(customer, operator):
    refused(placed_by="api_client", placed_by_user=operator)
    Order.objects.create(**order_fields(customer, placed_by="operator", placed_by_user=operator))


def test_parsec_order_id_is_unique_per_exchange(customer):
    Order.objects.create(**order_fields(customer, parsec_order_id="order_1", exchange="kalshi"))
    Order.objects.create(**order_fields(customer, parsec_order_id="order_1", exchange="polymarket"))
    refused(parsec_order_id="order_1", exchange="kalshi")


@pytest.mark.parametrize(("current", "incoming", "expected"), [
    (None, "open", S.OPEN),
    (S.PENDING, "open", S.OPEN),
    (S.OPEN, "partially_filled", S.PARTIALLY_FILLED),
    (S.PARTIALLY_FILLED, "open", S.PARTIALLY_FILLED),
    (S.OPEN, "pending", S.OPEN),
    (S.OPEN, "cancelled", S.CANCELLED),
    (S.PARTIALLY_FILLED, "filled", S.FILLED),
    (S.FILLED, "open", S.FILLED),
    (S.CANCELLED, "partially_filled", S.CANCELLED),
    (S.REJECTED, "pending", S.REJECTED),
    (S.CANCELLED, "filled", S.CANCELLED),
    (S.UNKNOWN, "open", S.OPEN),
    (None, "expired", S.UNKNOWN),
    (S.OPEN, "expired", S.OPEN),
    (S.FILLED, "expired", S.FILLED),
])
def test_status_only_moves_forward(current, incoming, expected):
    assert Order.next_status(current, incoming) == expected


def test_a_late_open_read_does_not_reopen_a_cancelled_order(customer):
    order = Order.objects.create(**order_fields(customer, status=S.CANCELLED))
    assert order.advance_status("open") is False
    order.save()
    order.refresh_from_db()
    assert order.status == S.CANCELLED and order.is_terminal


def test_an_unknown_status_is_recorded_and_logged_not_raised(customer, caplog):
    order = Order.objects.create(**order_fields(customer, status=S.OPEN))
    with caplog.at_level(logging.WARNING, logger="orders.models"):
        changed = order.advance_status("expired")
    order.save()
    order.refresh_from_db()
    assert changed is False
    assert order.status == S.OPEN and order.parsec_status == "expired"
    assert "expired" in caplog.text and order.parsec_order_id in caplog.text


def test_a_new_order_with_an_unknown_status_is_stored_as_unknown(customer):
    order = Order(**order_fields(customer))
    order.status = ""
    order.advance_status("weird")
    order.save()
    assert Order.objects.get(pk=order.pk).status == S.UNKNOWN


def test_fill_id_is_unique_and_an_unmatched_fill_is_kept(customer):
    fields = {
        "fill_id": "fill_123", "parsec_order_id": "order_not_mirrored_yet", "customer": customer, "exchange": "kalshi",
        "market_native_id": "KXBTC", "outcome": "Yes", "side": "buy", "price": Decimal("0.55"),
        "size": Decimal("10"), "is_taker": True, "fee": Decimal("0.55"), "created_at": timezone.now(),
    }
    fill = Fill.objects.create(**fields)
    assert fill.order is None and fill.notional == Decimal("5.50")
    with pytest.raises(IntegrityError), transaction.atomic():
        Fill.objects.create(**fields)


def test_fill_price_and_size_are_checked(customer):
    base = {
        "parsec_order_id": "o", "customer": customer, "exchange": "kalshi", "market_native_id": "K",
        "outcome": "Yes", "side": "buy", "is_taker": False, "created_at": timezone.now(),
    }
    for index, bad in enumerate([{"price": Decimal("2"), "size": Decimal("1")}, {"price": Decimal("0.5"), "size": Decimal("0")}]):
        with pytest.raises(IntegrityError), transaction.atomic():
            Fill.objects.create(fill_id=f"f{index}", **base, **bad)


def test_position_is_unique_per_outcome_and_a_closed_one_needs_closed_at(customer):
    fields = {
        "customer": customer, "exchange": "kalshi", "market_native_id": "KXBTC", "outcome": "Yes",
        "size": Decimal("10"), "average_price": Decimal("0.4"), "current_price": Decimal("0.5"),
    }
    position = Position.objects.create(**fields)
    assert position.unrealized_pnl == Decimal("1.0")
    with pytest.raises(IntegrityError), transaction.atomic():
        Position.objects.create(**fields)
    with pytest.raises(IntegrityError), transaction.atomic():
        Position.objects.filter(pk=position.pk).update(is_open=False)
    Position.objects.filter(pk=position.pk).update(is_open=False, closed_at=timezone.now(), size=0)
    assert Position.objects.get(pk=position.pk).is_open is False


def test_market_ids_are_unique_per_exchange_and_titles_are_shown(customer):
    market = Market.objects.create(
        parsec_id="kalshi:KXBTC", exchange="kalshi", exchange_market_id="KXBTC", order_market_id="KXBTC",
        question="Will BTC close above $100k?", outcomes=[{"name": "Yes"}, {"name": "No"}], tick_size=Decimal("0.01"),
    )
    assert market.outcome_names == ["Yes", "No"]
    order = Order.objects.create(**order_fields(customer, market=market, market_native_id="KXBTC"))
    assert order.market_title == "Will BTC close above $100k?"
    with pytest.raises(IntegrityError), transaction.atomic():
        Market.objects.create(parsec_id="kalshi:other", exchange="kalshi", exchange_market_id="KXBTC", question="dup")
    with pytest.raises(IntegrityError), transaction.atomic():
        Market.objects.create(parsec_id="kalshi:x", exchange="kalshi", exchange_market_id="X", question="t", tick_size=0)
