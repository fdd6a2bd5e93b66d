"""Customer 360: identity without secrets, average-cost P&L from fills, open orders with cancel
buttons for Operations only, and a timeline filterable by date and kind."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.services import record_action
from orders.pnl import PnlLine, apply_fill, customer_pnl
from tests import factories as f


def line() -> PnlLine:
    return PnlLine("polymarket", "m", "Yes")


def test_average_cost_realises_against_the_running_average():
    pl = line()
    apply_fill(pl, side="buy", price=Decimal("0.40"), size=Decimal("10"))
    apply_fill(pl, side="buy", price=Decimal("0.70"), size=Decimal("20"))  # average (4 + 14) / 30 = 0.60
    apply_fill(pl, side="sell", price=Decimal("0.90"), size=Decimal("15"), fee=Decimal("0.05"))
    assert pl.average_cost == Decimal("0.6") and pl.quantity == Decimal("15")
    assert pl.realised == Decimal("4.5")  # (0.90 - 0.60) x 15
    pl.mark = Decimal("0.50")
    assert pl.unrealised == Decimal("-1.5") and pl.fees == Decimal("0.05") and not pl.incomplete


def test_a_sell_beyond_the_known_holding_realises_only_what_the_fills_explain():
    pl = line()
    apply_fill(pl, side="buy", price=Decimal("0.50"), size=Decimal("5"))
    apply_fill(pl, side="sell", price=Decimal("0.60"), size=Decimal("8"))
    assert pl.realised == Decimal("0.5") and pl.quantity == 0 and pl.incomplete


@pytest.mark.django_db
def test_customer_pnl_marks_at_the_positions_current_price():
    cust, mkt = f.customer(), f.market()
    f.fill(cust, mkt, side="buy", price="0.30", size="10", at=timezone.now() - timedelta(hours=2))
    f.fill(cust, mkt, side="sell", price="0.50", size="4", at=timezone.now() - timedelta(hours=1))
    f.position(cust, mkt, size="6", average_price="0.30", current_price="0.45")
    [pl] = customer_pnl(customer=cust)
    assert pl.realised == Decimal("0.8") and pl.unrealised == Decimal("0.9") and pl.market_title == mkt.question


@pytest.fixture
def busy_customer(db):
    cust = f.customer(api_key_last4="wxyz", tier="pro", qps_limit=20, fee_escrow_enabled=True)
    f.ExchangeLinkFactory(customer=cust, exchange="polymarket", mode="managed")
    mkt = f.market()
    live = f.order(cust, mkt, status="open", at=timezone.now() - timedelta(days=3))
    f.order(cust, mkt, status="cancelled", at=timezone.now() - timedelta(days=1))
    f.fill(cust, mkt, side="buy", price="0.40", size="10", at=timezone.now() - timedelta(days=2))
    f.BalanceSnapshotFactory(customer=cust, exchange="polymarket", usdc_base_units=50_000_000,
                                   taken_at=timezone.now() - timedelta(days=2))
    f.BalanceSnapshotFactory(customer=cust, exchange="polymarket", usdc_base_units=46_000_000,
                                   taken_at=timezone.now() - timedelta(days=1))
    record_action(actor="system", action="customer.sync", customer=cust, outcome="ok")
    f.AlertFactory(rule="large_notional", customer=cust, dedup_key=f"x{cust.pk}", title="Large order test")
    return cust, live


def test_the_page_shows_identity_pnl_and_open_orders_with_cancel_buttons(operator_client, busy_customer):
    cust, live = busy_customer
    page = operator_client.get(reverse("customer_360", args=[cust.pk]))
    html = page.content.decode()
    assert page.status_code == 200
    assert str(cust.parsec_customer_id) in html and "••••wxyz" in html and "Managed" in html
    assert f'data-order="{live.parsec_order_id}"' in html
    assert f"{reverse('admin:orders_orderintent_cancel')}?customer={cust.pk}&amp;order={live.pk}" in html
    assert 'id="place-order"' in html
    assert "balance 46" in html  # the latest balance


def test_compliance_sees_the_page_without_trading_buttons(reviewer_client, busy_customer):
    cust, live = busy_customer
    html = reviewer_client.get(reverse("customer_360", args=[cust.pk])).content.decode()
    assert f'data-order="{live.parsec_order_id}"' in html
    assert 'id="place-order"' not in html and ">Cancel</a>" not in html and 'id="export-activity"' in html


def test_the_timeline_merges_every_kind_and_filters_by_kind_and_date(operator_client, busy_customer):
    cust, _ = busy_customer
    url = reverse("customer_360", args=[cust.pk])
    kinds = [e.kind for e in operator_client.get(url).context["timeline"]]
    assert {"order", "cancel", "fill", "balance", "action", "alert"} <= set(kinds)
    timeline = operator_client.get(url, {"kind": ["fill", "balance"]}).context["timeline"]
    assert {e.kind for e in timeline} == {"fill", "balance"}
    assert [e.detail for e in timeline if e.kind == "balance"] == ["-4.00 USDC"]
    yesterday = (timezone.now() - timedelta(days=1)).date()
    recent = operator_client.get(url, {"start": str(yesterday)}).context["timeline"]
    assert all(e.at.date() >= yesterday for e in recent) and "fill" not in {e.kind for e in recent}
    refused = operator_client.get(url, {"start": "2026-03-02", "end": "2026-03-01"})
    assert b"The end date is before the start date." in refused.content


def test_the_timeline_shows_this_customers_operator_actions_newest_first(operator_client, busy_customer):
    cust, _ = busy_customer
    other = f.customer()
    for n in range(3):
        record_action(actor="system", action="customer.qps_limit", customer=cust, reason=f"r{n}", outcome="ok")
    record_action(actor="system", action="customer.qps_limit", customer=other, reason="not theirs", outcome="ok")
    timeline = operator_client.get(reverse("customer_360", args=[cust.pk]), {"kind": ["action"]}).context["timeline"]
    assert [e.detail for e in timeline] == ["r2", "r1", "r0", ""]  # the fixture's customer.sync has no reason


def test_search_opens_the_only_match_and_lists_several(operator_client, db):
    one = f.customer(external_id="zeta-unique")
    f.customer(external_id="alpha-1")
    f.customer(external_id="alpha-2")
    search = reverse("customer_360_search")
    opened = reverse("customer_360", args=[one.pk])
    assert operator_client.get(search, {"q": "zeta"})["Location"] == opened
    assert operator_client.get(search, {"q": str(one.parsec_customer_id)})["Location"] == opened
    assert operator_client.get(search, {"q": "zeta-unique"})["Location"] == opened
    assert operator_client.get(search, {"q": str(one.pk)})["Location"] == opened  # our id, as everywhere (customer_match)
    several = operator_client.get(search, {"q": "alpha"})
    assert several.status_code == 200 and len(several.context["results"]) == 2


def test_the_timeline_pages_fifty_at_a_time_without_gaps_or_repeats(operator_client, db):
    customer = f.customer()
    market = f.market("kalshi")
    start = timezone.now() - timedelta(hours=2)
    orders = [f.order(customer, market, status="filled", at=start + timedelta(minutes=i)) for i in range(60)]
    page = operator_client.get(reverse("customer_360", args=[customer.pk]), {"kind": "order"})
    first = [entry.at for entry in page.context["timeline"]]
    assert len(first) == 50 and first == sorted(first, reverse=True) and first[0] == orders[-1].created_at
    older = page.context["timeline_older"]
    assert older and 'id="timeline-older"' in page.content.decode()
    second_page = operator_client.get(reverse("customer_360", args=[customer.pk]) + older)
    second = [entry.at for entry in second_page.context["timeline"]]
    assert len(second) == 10 and second[0] < first[-1] and second[-1] == orders[0].created_at
    assert second_page.context["timeline_older"] is None and second_page.context["timeline_newest"]
