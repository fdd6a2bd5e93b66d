"""The set-based upsert on its own: big batches (COPY path on PostgreSQL), change skipping."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from core.upsert import upsert
from customers.models import Customer
from customers.sync import upsert_users
from orders.models import Fill, Order, Position
from orders.sync import POSITION_SPEC, position_row, upsert_fills, upsert_orders
from parsec.types import BuilderUser
from parsec.types import Fill as ParsecFill
from parsec.types import Order as ParsecOrder
from parsec.types import Position as ParsecPosition
from tests import factories as f

pytestmark = pytest.mark.django_db


def fills(count: int) -> list[ParsecFill]:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    return [
        ParsecFill(fill_id=f"f-{i}", order_id="o-1", exchange="kalshi", market_id="KX-1", outcome="Yes", side="buy",
                   price=Decimal("0.41"), size=Decimal(i + 1), is_taker=True, fee=Decimal("0.02"), created_at=start + timedelta(seconds=i),
                   raw={"fill_id": f"f-{i}"})
        for i in range(count)
    ]


def test_a_big_batch_is_inserted_once_and_only_changes_are_written_again():
    customer = f.customer(external_id="upsert")
    batch = fills(1500)
    assert upsert_fills(batch, customer=customer, exchange="kalshi").created == 1500
    again = upsert_fills(batch, customer=customer, exchange="kalshi")
    assert (again.created, again.updated, again.unchanged) == (0, 0, 1500)
    # The only thing about a stored fill that changes is our link to its order, once the order
    # is mirrored: only the fills of that order are written.
    order = Order.objects.create(parsec_order_id="o-1", exchange="kalshi", customer=customer, market_native_id="KX-1", outcome="Yes",
                                 side="buy", price=Decimal("0.41"), size=Decimal(10**6), created_at=datetime(2026, 1, 1, tzinfo=UTC))
    batch[7] = replace(batch[7], order_id="o-2")
    linked = upsert_fills(batch, customer=customer, exchange="kalshi")
    assert (linked.created, linked.updated, linked.unchanged) == (0, 1499, 1)
    assert Fill.objects.filter(order=order).count() == 1499 and Fill.objects.get(fill_id="f-7").order_id is None
    # A fill is a past trade that Parsec never rewrites: a different fee in a later read is not a change.
    batch[8] = replace(batch[8], fee=Decimal("0.03"))
    assert upsert_fills(batch, customer=customer, exchange="kalshi").written == 0
    assert Fill.objects.get(fill_id="f-8").fee == Decimal("0.02")
    assert Fill.objects.count() == 1500 and Fill.objects.filter(first_seen_at__isnull=True).count() == 0


def test_a_page_of_users_keeps_model_defaults_for_columns_parsec_does_not_send():
    users = [
        BuilderUser(customer_id=str(uuid.uuid4()), external_id=f"u-{i:03d}", api_key_last4="abcd", tier="free", qps_limit=10,
                    created_at=None, linked_exchanges=("polymarket",), wallet=None, fee_escrow_enabled=False, fee_bps=None,
                    affiliate_address=None, raw={"external_id": f"u-{i:03d}"})
        for i in range(120)
    ]
    result = upsert_users(users, now=datetime.now(UTC))
    assert result.created == 240  # customers and their exchange links
    assert Customer.objects.filter(email="").count() == 120


# --- A row the database refuses: skipped, reported, the rest written (both engines) ---------


def position(customer: Customer, market: str, size: int | str, *, now: datetime):
    return position_row(
        ParsecPosition(exchange="kalshi", market_id=market, outcome="Yes", size=Decimal(size), average_price=Decimal("0.4"),
                       current_price=None, raw={"market_id": market, "size": size}),
        customer_pk=customer.pk, market_pk=None, now=now,
    )


@pytest.mark.parametrize("count", [3, 60], ids=["one-statement", "copy"])  # 60: the COPY path on PostgreSQL
def test_a_position_of_negative_size_is_refused_with_its_reason_and_the_rest_is_written(count):
    customer = f.customer(external_id="bad-position")
    now = datetime.now(UTC)
    rows = [position(customer, f"KX-{i}", -5 if i == 1 else i + 1, now=now) for i in range(count)]
    result = upsert(POSITION_SPEC, rows)
    assert (result.created, result.updated, result.unchanged) == (count - 1, 0, 0)
    [bad] = result.rejected
    assert (bad.model, bad.id, bad.payload) == ("orders.Position", f"{customer.pk}/kalshi/KX-1/Yes", {"market_id": "KX-1", "size": -5})
    assert "position_size_not_negative" in bad.error
    assert sorted(Position.objects.values_list("market_native_id", flat=True)) == sorted(f"KX-{i}" for i in range(count) if i != 1)
    again = upsert(POSITION_SPEC, rows)
    assert (again.created, again.updated, again.unchanged, [r.id for r in again.rejected]) == (0, 0, count - 1, [bad.id])


def order_read(order_id: str, *, filled: str, size: str = "10", status: str = "partially_filled") -> ParsecOrder:
    at = datetime(2026, 3, 1, 12, tzinfo=UTC)
    return ParsecOrder(id=order_id, exchange="kalshi", market_id="KX-1", outcome="Yes", side="buy", price=Decimal("0.41"),
                       size=Decimal(size), filled=Decimal(filled), status=status, created_at=at, updated_at=at,
                       raw={"id": order_id, "filled": filled, "size": size})


def test_an_order_filled_beyond_its_size_is_refused_when_new_and_when_it_updates_a_stored_one():
    customer = f.customer(external_id="bad-order")
    first = upsert_orders([order_read("o-1", filled="4"), order_read("o-2", filled="4"), order_read("o-3", filled="11")],
                          customer=customer, exchange="kalshi")
    assert (first.created, [(r.id, r.payload) for r in first.rejected]) == (2, [("kalshi/o-3", {"id": "o-3", "filled": "11", "size": "10"})])
    assert "order_filled_within_size" in first.rejected[0].error
    later = upsert_orders([order_read("o-1", filled="11"), order_read("o-2", filled="6")], customer=customer, exchange="kalshi")
    assert (later.created, later.updated, [r.id for r in later.rejected]) == (0, 1, ["kalshi/o-1"])
    assert "order_filled_within_size" in later.rejected[0].error
    assert dict(Order.objects.values_list("parsec_order_id", "filled")) == {"o-1": Decimal(4), "o-2": Decimal(6)}


def test_a_user_with_qps_limit_0_is_refused_and_the_rest_of_the_page_is_mirrored():
    good, bad = (
        BuilderUser(customer_id=str(uuid.uuid4()), external_id=external_id, api_key_last4="abcd", tier="free", qps_limit=qps,
                    created_at=None, linked_exchanges=("kalshi",), wallet=None, fee_escrow_enabled=False, fee_bps=None,
                    affiliate_address=None, raw={"external_id": external_id, "qps_limit": qps})
        for external_id, qps in (("u-good", 10), ("u-zero", 0))
    )
    result = upsert_users([good, bad], now=datetime.now(UTC))
    assert (result.created, [(r.id, r.payload) for r in result.rejected]) == (2, [(bad.customer_id, {"external_id": "u-zero", "qps_limit": 0})])
    assert "customer_qps_limit_positive" in result.rejected[0].error
    assert list(Customer.objects.values_list("external_id", "exchange_links__exchange")) == [("u-good", "kalshi")]
