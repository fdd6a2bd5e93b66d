"""How many SQL statements one placement costs (the one entry, from ``new`` to ``placed`` and
mirrored, audit row included), pinned so a change that adds round trips is seen."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from orders import services
from orders.models import Market, OrderIntent
from orders.services import OrderRequest

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_placement_costs_a_pinned_number_of_statements(sandbox, sandbox_customer, operator, capture_enqueues, settings):
    settings.PARSEC_RATE_LIMIT_ENABLED = False  # the limiter's own statements depend on the shape (Redis or the database)
    market = Market.objects.filter(exchange="polymarket", market_type="binary", status="active").order_by("pk").first()
    intents = [services.create_intent(actor=operator, request=OrderRequest(
        customer=sandbox_customer, exchange="polymarket", market=market, outcome="Yes", side="buy",
        price=Decimal("0.05") + Decimal("0.01") * i, size=Decimal(10), reason="queries")) for i in range(2)]
    services.submit_intent(intent=intents[0], actor=operator)  # warm: first audit row, caches
    with CaptureQueriesContext(connection) as ctx:
        result = services.submit_intent(intent=intents[1], actor=operator)
    assert result.intent.status == OrderIntent.Status.PLACED
    statements = [q["sql"] for q in ctx.captured_queries if q["sql"].split()[0].upper() not in ("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE")]
    # 17 on SQLite: intent, kill switch, balance, committed orders and intents, the claim, the call
    # log, the outcome, the mirror's upsert (6, orders.sync), the order link, the audit row (2), the
    # kill-switch check after placing. PostgreSQL adds two: the outcome's SET LOCAL
    # synchronous_commit and the audit chain's advisory lock (SQLite's writes are serialised anyway).
    pinned = 19 if connection.vendor == "postgresql" else 17
    assert len(statements) <= pinned, "\n".join(s[:160] for s in statements)
