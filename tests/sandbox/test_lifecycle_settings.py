"""The lifecycle's non-default settings, in-process (the HTTP tests run the defaults): a market past
its end date may stay active, and a voided market may be listed with a status of its own."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from sandbox import clock, conf, engine, lifecycle, seed
from sandbox.models import Customer, Market

pytestmark = pytest.mark.django_db(databases=["default", "sandbox"])


def market(**fields) -> Market:
    values = {"exchange": "polymarket", "question": "Settings?", "outcomes": ["Yes", "No"], "price": Decimal("0.5"),
              "tick_size": Decimal("0.01"), "min_order_size": Decimal(1), "end_date": clock.now() + timedelta(days=1)}
    return seed.add_market(**{**values, **fields})


@pytest.fixture
def world():
    clock.forget_offset()
    seed.seed(5)
    yield
    clock.forget_offset()


@pytest.mark.parametrize(("close_at_end", "status"), [(True, "closed"), (False, "active")])
def test_a_market_past_its_end_date_closes_only_when_the_setting_says_so(world, monkeypatch, close_at_end, status):
    monkeypatch.setattr(conf, "SANDBOX_CLOSE_AT_END_DATE", close_at_end)
    ended = market(end_date=clock.now() - timedelta(minutes=1))
    running = market()
    lifecycle.close_due_markets(now=clock.now())
    ended.refresh_from_db()
    running.refresh_from_db()
    assert (ended.status, running.status) == (status, "active")


def test_a_voided_market_takes_the_configured_status_and_the_exchanges_rule(world, monkeypatch):
    monkeypatch.setattr(conf, "SANDBOX_VOID_STATUS", "voided")
    buyer = Customer.objects.get(external_id="demo-alice")
    kalshi = market(exchange="kalshi")
    yes = kalshi.outcomes.get(index=0)
    yes.market = kalshi
    engine.place_order(engine.NewOrder(customer=buyer, exchange="kalshi", market=kalshi, outcome=yes, side="buy",
                                       price=Decimal("0.60"), size=Decimal(3), order_type="ioc"))
    result = lifecycle.void_market(market=kalshi)
    kalshi.refresh_from_db()
    assert (kalshi.status, kalshi.void_rule, result["market"]["status"]) == ("voided", "cost", "voided")
    [settled] = result["settlements"]
    assert (settled["price"], settled["amount"]) == (settled["average_price"], str(int(Decimal(settled["average_price"]) * 3 * 1_000_000)))
    assert Market.objects.filter(status="voided").count() == 1
