"""The escrow sections elsewhere read the real model: dashboard totals, Customer 360 timeline, CSV export."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from backoffice import dashboard
from compliance.exports import activity_rows
from orders.escrow import new_fee_order_id
from orders.models import FeeEscrowRecord, Order
from tests import factories as f

pytestmark = pytest.mark.django_db


def record(customer, **fields) -> FeeEscrowRecord:
    values = {"fee_order_id": new_fee_order_id(), "customer": customer, "payer": "0x" + "1" * 40, "fee_base_units": 137_500,
              "deadline": 2_000_000_000, "affiliate_fee_bps": 5000} | fields
    return FeeEscrowRecord.objects.create(**values)


def test_dashboard_totals_stuck_and_flagged():
    customer = f.customer()
    now = timezone.now()
    pending = Order.objects.create(parsec_order_id="o-1", exchange="polymarket", customer=customer, market_native_id="m",
                                   outcome="Yes", side="buy", price="0.55", size="100", status=Order.Status.PENDING,
                                   created_at=now)
    record(customer, state="pulled", order=pending, pulled_at=now - timedelta(minutes=11))
    record(customer, state="distributed", affiliate_base_units=68_750, treasury_base_units=68_750, discrepancy="fee: ours 1, escrow 2",
           reconciliation="amounts_differ")
    record(customer, state="refunded", refund_base_units=137_500, chain_state="pulled", reconciliation="stuck",
           discrepancy="stuck in escrow: pulled 12 min ago and not settled (the order is cancelled)")
    record(customer, state="refunded", refund_base_units=137_500, chain_state="pulled", reconciliation="pending_on_chain")
    figures = dashboard.escrow(now)
    assert figures["stuck"] == 2 and figures["flagged"] == 2 and figures["pending"] == 1
    assert figures["alerts"] == [{"kind": "amounts_differ", "label": "Amounts differ", "count": 1},
                                 {"kind": "stuck", "label": "Stuck in escrow", "count": 1}]
    assert figures["chain"] == {"known": False}
    assert str(figures["totals_usdc"]["fee_base_units"]) == "0.550000"
    assert str(figures["totals_usdc"]["refund_base_units"]) == "0.275000"
    assert {r["state"]: r["count"] for r in figures["by_state"]} == {"pulled": 1, "distributed": 1, "refunded": 2}


def test_customer_360_and_the_export_show_the_fees(operator_client):
    customer = f.customer()
    record(customer, state="partially_distributed", affiliate_base_units=41_250, treasury_base_units=41_250,
           refund_base_units=55_000)
    page = operator_client.get(reverse("customer_360", args=[customer.pk]) + "?kinds=escrow").content.decode()
    assert "Fee escrow partially distributed + refunded" in page and "refunded 0.055" in page
    now = timezone.now()
    rows = [r for r in activity_rows(customer=customer, since=now - timedelta(days=1), until=now + timedelta(days=1))
            if r[0] == "escrow"]
    assert len(rows) == 1 and rows[0][10] == "partially_distributed" and rows[0][12] == "0.137500"


def test_the_escrow_card_says_when_the_chain_follower_is_late(operator_client):
    from orders.models import EscrowFollower

    now = timezone.now()
    EscrowFollower.objects.create(name="escrow", last_attempt_at=now - timedelta(minutes=10),
                                  last_success_at=now - timedelta(minutes=10), head_block=1234, final_block=1106)
    card = operator_client.get(reverse("dashboard_section", args=["escrow"])).content.decode()
    assert "The escrow chain's follower is late (is the scheduler running?). Last known state from block 1234, 10 min ago." in card
    EscrowFollower.objects.filter(name="escrow").update(last_success_at=now)
    card = operator_client.get(reverse("dashboard_section", args=["escrow"])).content.decode()
    assert "Chain read through block 1234, " in card and "late" not in card
