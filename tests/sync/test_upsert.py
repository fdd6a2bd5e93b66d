"""The set-based upsert on its own: big batches (COPY path on PostgreSQL), change skipping."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from customers.models import Customer
from customers.sync import upsert_users
from orders.models import Fill, Order
from orders.sync import upsert_fills
from parsec.types import BuilderUser
from parsec.types import Fill as ParsecFill

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
    customer = Customer.objects.create(parsec_customer_id=uuid.uuid4(), external_id="upsert")
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
