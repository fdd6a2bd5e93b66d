"""Each surveillance rule raises an alert linked to its evidence, once, past its threshold; and
each has a near miss, just short of it, that raises nothing."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from approvals.models import ApprovalRequest
from compliance.models import Alert
from compliance.surveillance import run_surveillance
from customers.models import Wallet
from orders.models import Market, OrderIntent, Settlement
from sync.models import SyncRun
from tests import factories as f

pytestmark = pytest.mark.django_db


def alerts(rule: str):
    return list(Alert.objects.filter(rule=rule).order_by("id"))


def resolved_market(*, winner="Yes", ended_minutes_ago=10) -> Market:
    ended = f.ago(minutes=ended_minutes_ago)
    return f.market(status=Market.Status.RESOLVED, winning_outcome=winner, closed_at=ended, resolved_at=ended,
                    outcomes=[{"name": "Yes", "price": "1" if winner == "Yes" else "0"}, {"name": "No", "price": "0" if winner == "Yes" else "1"}])


# --- 1. Insider pattern -------------------------------------------------------------------------


def test_buying_the_winner_hours_before_the_end_is_flagged_with_fills_market_and_settlement(settings):
    settings.SURV_INSIDER = {"enabled": True, "hours_before_end": 6, "min_notional_usdc": Decimal("100")}
    insider, market = f.customer(), resolved_market(winner="Yes")
    late = f.fill(insider, market, side="buy", price="0.30", size="400", at=f.ago(hours=2))  # 120 USDC, 2 h before
    settlement = Settlement.objects.create(
        customer=insider, exchange=market.exchange, market=market, market_native_id=market.order_market_id, outcome="Yes",
        kind="resolved", result="won", size=Decimal(400), average_price=Decimal("0.30"), payout_per_share=Decimal(1),
        amount_base_units=400_000_000, basis="fills", settled_at=market.resolved_at)
    run_surveillance(rules=["insider"])
    [alert] = alerts("insider")
    assert alert.customer == insider and alert.severity == "high"
    kinds = {(e["type"], e["id"]) for e in alert.evidence}
    assert {("fill", late.pk), ("market", market.pk), ("settlement", settlement.pk)} <= kinds
    assert alert.figures["notional_usdc"] == "120" and alert.figures["hours_before_end"] == "1.83"


def test_insider_near_misses_the_loser_too_early_or_too_small_raise_nothing(settings):
    settings.SURV_INSIDER = {"enabled": True, "hours_before_end": 6, "min_notional_usdc": Decimal("100")}
    market = resolved_market(winner="Yes")
    f.fill(f.customer(), market, side="buy", outcome="No", price="0.70", size="400", at=f.ago(hours=1))  # bought the loser
    f.fill(f.customer(), market, side="buy", price="0.30", size="400", at=f.ago(hours=7))  # outside the 6 h
    f.fill(f.customer(), market, side="buy", price="0.30", size="333", at=f.ago(hours=1))  # 99.90 USDC: under the floor
    f.fill(f.customer(), market, side="sell", price="0.30", size="400", at=f.ago(hours=1))  # sold the winner
    f.fill(f.customer(), f.market(), side="buy", price="0.30", size="400", at=f.ago(hours=1))  # a market still trading
    run_surveillance(rules=["insider"])
    assert alerts("insider") == []


# --- 2. Concentration ---------------------------------------------------------------------------


def test_concentration_in_one_market_above_the_share_and_the_floor(settings):
    settings.SURV_CONCENTRATION = {"enabled": True, "share": Decimal("0.6"), "min_exposure_usdc": Decimal("500")}
    heavy, spread, small = f.customer(), f.customer(), f.customer()
    m1, m2 = f.market(event_id="ev-a"), f.market(event_id="ev-b")
    f.position(heavy, m1, size="1800", average_price="0.50")  # 900 of 1,000
    f.position(heavy, m2, size="200", average_price="0.50")
    f.position(spread, m1, size="1190", average_price="0.50")  # 595 of 1,000: a near miss
    f.position(spread, m2, size="810", average_price="0.50")
    f.position(small, m1, size="100", average_price="0.50")  # 100% but only 50 USDC
    run_surveillance(rules=["concentration"])
    [alert] = alerts("concentration")
    assert alert.customer == heavy and alert.figures["share"] == "0.9" and alert.figures["kind"] == "market"
    assert {e["type"] for e in alert.evidence} == {"position", "market"}


def test_concentration_in_one_event_across_its_markets(settings):
    settings.SURV_CONCENTRATION = {"enabled": True, "share": Decimal("0.6"), "min_exposure_usdc": Decimal("500")}
    cust = f.customer()
    a, b, other = f.market(event_id="ev-fed"), f.market(event_id="ev-fed"), f.market(event_id="ev-x")
    for market in (a, b):
        f.position(cust, market, size="700", average_price="0.50")  # 350 each: 35% per market, 70% of the event
    f.position(cust, other, size="600", average_price="0.50")
    run_surveillance(rules=["concentration"])
    [alert] = alerts("concentration")
    assert alert.figures["kind"] == "event" and alert.figures["share"] == "0.7"
    assert len([e for e in alert.evidence if e["type"] == "position"]) == 2


# --- 3. Self-crossing ---------------------------------------------------------------------------


def test_customers_sharing_a_wallet_on_both_sides_of_one_trade_raise_a_high_alert(settings):
    settings.SURV_SELF_CROSSING = {"enabled": True, "seconds": 5, "window_hours": 24}
    mkt = f.market()
    a, b = f.customer(), f.customer()
    Wallet.objects.create(customer=a, address="0xAbC0000000000000000000000000000000000001")
    Wallet.objects.create(customer=b, address="0xabc0000000000000000000000000000000000001")  # onboarded from the same wallet
    at = f.ago(seconds=30)
    maker = f.fill(a, mkt, side="buy", price="0.42", size="50", at=at, is_taker=False)
    taker = f.fill(b, mkt, side="sell", price="0.42", size="50", at=at + timedelta(milliseconds=3))
    run_surveillance(rules=["self_crossing"])
    [alert] = alerts("self_crossing")
    assert alert.customer == b and alert.severity == "high"
    assert {e["id"] for e in alert.evidence if e["type"] == "fill"} == {maker.pk, taker.pk}
    assert alert.figures["shared_wallets"] == ["0xabc0000000000000000000000000000000000001"]


def test_self_crossing_near_misses_unrelated_customers_or_another_price_raise_nothing(settings):
    settings.SURV_SELF_CROSSING = {"enabled": True, "seconds": 5, "window_hours": 24}
    mkt = f.market()
    a, b, stranger = f.customer(), f.customer(), f.customer()
    Wallet.objects.create(customer=a, address="0x1110000000000000000000000000000000000001")
    Wallet.objects.create(customer=b, address="0x1110000000000000000000000000000000000001")
    Wallet.objects.create(customer=stranger, address="0x2220000000000000000000000000000000000002")
    at = f.ago(seconds=30)
    f.fill(a, mkt, side="buy", price="0.42", size="50", at=at, is_taker=False)
    f.fill(stranger, mkt, side="sell", price="0.42", size="50", at=at)  # the same trade, but no shared wallet
    f.fill(b, mkt, side="sell", price="0.43", size="50", at=at)  # linked, but another price
    f.fill(b, mkt, side="sell", price="0.42", size="50", at=at + timedelta(seconds=20))  # linked, but 20 s apart
    run_surveillance(rules=["self_crossing"])
    assert alerts("self_crossing") == []


# --- 4. Layering --------------------------------------------------------------------------------


def test_many_cancels_per_fill_over_the_window_is_layering_and_a_near_miss_is_not(settings):
    settings.SURV_LAYERING = {"enabled": True, "window_hours": 24, "min_cancels": 10, "ratio": Decimal("5")}
    layerer, near, few = f.customer(), f.customer(), f.customer()
    mkt = f.market()
    for i in range(10):
        f.order(layerer, mkt, status="cancelled", at=f.ago(minutes=i + 1))
    f.order(layerer, mkt, status="filled", filled="10", at=f.ago(minutes=20))  # 10 cancels per fill
    for i in range(10):
        f.order(near, mkt, status="cancelled", at=f.ago(minutes=i + 1))
    for i in range(3):
        f.order(near, mkt, status="filled", filled="10", at=f.ago(minutes=30 + i))  # 3.3 per fill: under 5
    for i in range(9):
        f.order(few, mkt, status="cancelled", at=f.ago(minutes=i + 1))  # no fill, but 9 cancels: under 10
    run_surveillance(rules=["layering"])
    [alert] = alerts("layering")
    assert alert.customer == layerer
    assert (alert.figures["cancelled"], alert.figures["filled"], alert.figures["ratio"]) == (10, 1, "10")
    assert len(alert.evidence) == 10 and all(e["type"] == "order" for e in alert.evidence)


# --- 5. Size change -----------------------------------------------------------------------------


def test_an_order_far_larger_than_the_customers_own_history_is_flagged(settings):
    settings.SURV_SIZE_CHANGE = {"enabled": True, "window_hours": 24, "history_days": 30, "min_history": 5,
                                 "history_orders": 50, "multiple": Decimal("5")}
    cust, mkt = f.customer(), f.market()
    for days in range(2, 8):
        f.order(cust, mkt, size="10", at=f.ago(days=days))  # six orders of 10
    f.order(cust, mkt, size="49", at=f.ago(hours=2))  # 4.9x: a near miss (the history is now 7 orders, average 15.57)
    big = f.order(cust, mkt, size="400", at=f.ago(hours=1))
    run_surveillance(rules=["size_change"])
    [alert] = alerts("size_change")
    assert alert.evidence[0]["id"] == big.pk
    assert alert.figures["history_orders"] == 7 and alert.figures["threshold"] == "5"


def test_size_change_needs_enough_history(settings):
    settings.SURV_SIZE_CHANGE = {"enabled": True, "window_hours": 24, "history_days": 30, "min_history": 5,
                                 "history_orders": 50, "multiple": Decimal("5")}
    cust, mkt = f.customer(), f.market()
    for days in range(2, 6):
        f.order(cust, mkt, size="10", at=f.ago(days=days))  # only four earlier orders
    f.order(cust, mkt, size="1000", at=f.ago(hours=1))
    run_surveillance(rules=["size_change"])
    assert alerts("size_change") == []


# --- 6. Large notional with little history ----------------------------------------------------


def test_a_large_order_from_a_customer_with_little_history_is_flagged_once(settings):
    settings.SURV_LARGE_NOTIONAL = {"enabled": True, "window_hours": 24, "history_days": 30, "max_history": 3,
                                    "min_notional_usdc": Decimal("500")}
    new, seasoned, small = f.customer(), f.customer(), f.customer()
    mkt = f.market()
    big = f.order(new, mkt, price="0.50", size="1000", at=f.ago(hours=1))  # 500 USDC, first order
    for days in range(2, 5):
        f.order(seasoned, mkt, at=f.ago(days=days))
    f.order(seasoned, mkt, price="0.50", size="1000", at=f.ago(hours=1))  # three earlier orders: enough history
    f.order(small, mkt, price="0.50", size="998", at=f.ago(hours=1))  # 499 USDC: under the floor
    first, second = run_surveillance(rules=["large_notional"]), run_surveillance(rules=["large_notional"])
    [alert] = alerts("large_notional")
    assert alert.customer == new and alert.evidence[0]["id"] == big.pk and alert.severity == "high"
    assert (first.raised, second.raised) == (1, 0)


# --- Who asked, who approved --------------------------------------------------------------------


def test_an_alert_names_the_operator_who_asked_for_the_order_and_the_one_who_approved_it(settings, operator, second_operator):
    settings.SURV_LARGE_NOTIONAL = {"enabled": True, "window_hours": 24, "history_days": 30, "max_history": 3,
                                    "min_notional_usdc": Decimal("500")}
    cust, mkt = f.customer(), f.market()
    order = f.order(cust, mkt, price="0.50", size="2000", at=f.ago(minutes=5))
    approval = ApprovalRequest.objects.create(action="order.place", requested_by=operator, decided_by=second_operator,
                                              status="approved", expires_at=timezone.now() + timedelta(hours=1), decided_at=timezone.now())
    OrderIntent.objects.create(customer=cust, exchange=mkt.exchange, market=mkt, market_native_id=mkt.order_market_id, outcome="Yes",
                               side="buy", price=Decimal("0.50"), size=Decimal(2000), status="placed", parsec_order_id=order.parsec_order_id,
                               order=order, created_by=operator, approval=approval, reason="client asked by phone")
    run_surveillance(rules=["large_notional"])
    [alert] = alerts("large_notional")
    assert (alert.requested_by, alert.approved_by) == (operator, second_operator)
    assert any(e["type"] == "intent" and "approved by oscar.operator" in e["label"] for e in alert.evidence)


def test_orders_placed_by_operators_raise_no_alert_of_their_own(operator):
    cust, mkt = f.customer(), f.market()
    f.order(cust, mkt, placed_by="operator", placed_by_user=operator)
    assert run_surveillance().raised == 0


def test_a_run_for_one_customer_looks_only_at_that_customer():
    mkt = f.market()
    a, b = f.customer(), f.customer()
    f.order(a, mkt, size="20000")
    f.order(b, mkt, size="20000")
    run_surveillance(customer_ids=[a.pk])
    assert list(Alert.objects.values_list("customer_id", flat=True)) == [a.pk]


def test_a_customer_sync_announced_by_the_sync_app_runs_surveillance_for_that_customer(settings):
    from backoffice.celery import app
    from customers.signals import customer_synced

    cust, mkt = f.customer(), f.market()
    other = f.customer()
    f.order(cust, mkt, size="20000")
    f.order(other, mkt, size="20000")
    run = SyncRun.objects.create(kind=SyncRun.Kind.CUSTOMER_FULL, customer=cust, status=SyncRun.Status.SUCCEEDED)
    app.conf.task_always_eager = True
    try:
        customer_synced.send(sender=SyncRun, customer_id=cust.pk, run_id=run.pk)
    finally:
        app.conf.task_always_eager = False
    assert Alert.objects.filter(customer=cust, rule="large_notional").count() == 1
    assert not Alert.objects.filter(customer=other).exists()  # only the synced customer was surveilled
