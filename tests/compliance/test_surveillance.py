"""Each surveillance rule raises an alert linked to its evidence, once, and only past its threshold."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from compliance.models import Alert
from compliance.surveillance import run_surveillance
from orders.models import Order
from sync.models import SyncRun
from tests import factories as f

pytestmark = pytest.mark.django_db


def alerts(rule: str):
    return list(Alert.objects.filter(rule=rule).order_by("id"))


def test_large_order_against_the_customers_history_raises_one_alert_with_the_order_as_evidence(settings):
    settings.SURV_LARGE_NOTIONAL_MULTIPLE = 5
    settings.SURV_LARGE_NOTIONAL_MIN_USDC = Decimal("100")
    cust, mkt = f.customer(), f.market()
    for days in range(2, 8):  # history: six orders of 5 USDC
        f.order(cust, mkt, price="0.50", size="10", at=f.ago(days=days))
    f.order(cust, mkt, price="0.50", size="20", at=f.ago(hours=1))  # 10 USDC: 2x, not flagged
    big = f.order(cust, mkt, price="0.50", size="400", at=f.ago(hours=1))  # 200 USDC: 40x the average
    run_surveillance(rules=["large_notional"])
    [alert] = alerts("large_notional")
    assert alert.customer == cust and alert.status == Alert.Status.OPEN
    assert alert.evidence[0] == {"type": "order", "id": big.pk, "label": alert.evidence[0]["label"]}
    assert alert.figures["notional_usdc"] == "200.00" and alert.figures["baseline_usdc"] == "5.00"


def test_running_the_rules_again_after_another_sync_raises_nothing_twice():
    cust, mkt = f.customer(), f.market()
    f.order(cust, mkt, price="0.50", size="20000", at=f.ago(minutes=5))  # 10,000 USDC without history
    first = run_surveillance()
    second = run_surveillance()
    assert first.raised == Alert.objects.count() > 0 and second.raised == 0
    assert Alert.objects.filter(rule="large_notional").count() == 1


def test_order_shortly_before_the_market_resolves_is_flagged_but_not_one_placed_days_before(settings):
    settings.SURV_PRE_RESOLUTION_HOURS = 2
    settings.SURV_PRE_RESOLUTION_MIN_USDC = Decimal("50")
    cust = f.customer()
    soon = f.market(end_date=timezone.now() + timedelta(minutes=30))
    late = f.order(cust, soon, price="0.90", size="100", at=f.ago(minutes=10))
    f.order(cust, soon, price="0.90", size="10", at=f.ago(minutes=10))  # 9 USDC: under the floor
    far = f.market(end_date=timezone.now() + timedelta(days=3))
    f.order(cust, far, price="0.90", size="100", at=f.ago(minutes=10))
    run_surveillance(rules=["pre_resolution"])
    [alert] = alerts("pre_resolution")
    assert alert.evidence[0]["id"] == late.pk and alert.severity == "high"
    late.refresh_from_db()
    assert alert.figures["minutes_before_end"] == int((soon.end_date - late.created_at).total_seconds() // 60) == 39  # 10 min ago, ends in 30


def test_high_order_to_cancel_ratio_needs_both_the_ratio_and_enough_orders(settings):
    settings.SURV_CANCEL_RATIO = 0.8
    settings.SURV_CANCEL_MIN_ORDERS = 10
    spoofer, normal, few = f.customer(), f.customer(), f.customer()
    mkt = f.market()
    for i in range(12):
        f.order(spoofer, mkt, status="cancelled" if i < 11 else "filled", at=f.ago(minutes=i + 1))
        f.order(normal, mkt, status="cancelled" if i < 6 else "filled", at=f.ago(minutes=i + 1))
    for i in range(5):
        f.order(few, mkt, status="cancelled", at=f.ago(minutes=i + 1))
    run_surveillance(rules=["cancel_ratio"])
    [alert] = alerts("cancel_ratio")
    assert alert.customer == spoofer
    assert alert.figures["orders"] == 12 and alert.figures["cancelled"] == 11
    assert len(alert.evidence) == 10 and all(e["type"] == "order" for e in alert.evidence)


def test_two_customers_crossing_at_the_same_price_raise_one_alert_high_when_they_share_a_wallet():
    mkt = f.market()
    a, b, c = f.customer(), f.customer(), f.customer()
    f.WalletFactory(customer=a, address="0xAbC0000000000000000000000000000000000001")
    f.WalletFactory(customer=b, address="0xabc0000000000000000000000000000000000001")  # the same wallet
    buy = f.fill(a, mkt, side="buy", price="0.42", at=f.ago(seconds=30))
    sell = f.fill(b, mkt, side="sell", price="0.42", at=f.ago(seconds=10))
    f.fill(c, mkt, side="sell", price="0.43", at=f.ago(seconds=10))  # another price: not a cross
    f.fill(c, mkt, side="sell", price="0.42", at=f.ago(minutes=20))  # same price but far apart in time
    run_surveillance(rules=["self_crossing"])
    [alert] = alerts("self_crossing")
    assert alert.customer == b and alert.severity == "high"
    assert {e["id"] for e in alert.evidence if e["type"] == "fill"} == {buy.pk, sell.pk}
    assert alert.figures["shared_wallets"] == ["0xabc0000000000000000000000000000000000001"]


def test_concentration_in_one_market_above_the_share_and_the_floor(settings):
    settings.SURV_CONCENTRATION_SHARE = 0.6
    settings.SURV_CONCENTRATION_MIN_USDC = Decimal("500")
    heavy, spread, small = f.customer(), f.customer(), f.customer()
    m1, m2 = f.market(), f.market()
    f.position(heavy, m1, size="1800", average_price="0.50")  # 900 of 1,000
    f.position(heavy, m2, size="200", average_price="0.50")
    f.position(spread, m1, size="1000", average_price="0.50")
    f.position(spread, m2, size="1000", average_price="0.50")
    f.position(small, m1, size="100", average_price="0.50")  # 100% but only 50 USDC
    run_surveillance(rules=["concentration"])
    [alert] = alerts("concentration")
    assert alert.customer == heavy and alert.figures["share"] == 0.9


def test_every_order_an_operator_placed_for_a_customer_raises_a_low_alert_naming_the_operator(operator):
    cust, mkt = f.customer(), f.market()
    placed = f.order(cust, mkt, placed_by=Order.PlacedBy.OPERATOR, placed_by_user=operator)
    f.order(cust, mkt)  # placed outside the back-office
    run_surveillance(rules=["operator_placed"])
    [alert] = alerts("operator_placed")
    assert alert.severity == "low" and operator.username in alert.title
    assert alert.evidence[0]["id"] == placed.pk


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
