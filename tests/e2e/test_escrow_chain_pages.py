"""An operator in a real browser reads a fee's escrow from the chain: the record's page with its
pull and refund transactions and their blocks, then the list and the dashboard's card saying the
chain cannot be reached while showing the last known state with its age."""

from __future__ import annotations

import pytest
from django.urls import reverse

from orders import escrow_events, services
from tests.e2e.conftest import login, shot
from tests.fee_escrow import fee_intent, mine, place

pytestmark = [pytest.mark.e2e]


def test_operator_reads_a_refunded_fee_on_chain_then_the_chain_goes_away(page, alice, operator, capture_enqueues, settings):
    record = place(fee_intent(alice, operator, price="0.05", size="10"), operator)
    services.cancel_orders(actor=operator, reason="e2e escrow", order_ids=[record.order_id])
    mine()
    escrow_events.follow_up_record(record.pk, 0)
    escrow_events.follow_chain()
    events = list(record.chain_events.order_by("block_number", "log_index"))
    assert [e.kind for e in events] == ["FeePulled", "FeeRefunded"]

    login(page, operator.username)
    page.goto(reverse("admin:orders_feeescrowrecord_change", args=[record.pk]))
    section = page.locator("[data-section=escrow-record-chain]")
    assert "Matches the chain" in section.inner_text()
    for event in events:
        assert event.tx_hash in section.inner_text()
    assert "Escrow chain read through block" in page.locator("[data-section=escrow-chain]").first.inner_text()
    shot(page, "30-escrow-record-on-chain")

    settings.ESCROW_RPC_URL, settings.ESCROW_RPC_RETRIES = "http://127.0.0.1:9/rpc", 1
    assert "error" in escrow_events.follow_chain()
    page.goto(reverse("admin:orders_feeescrowrecord_changelist"))
    banner = page.locator("[data-section=escrow-chain]").inner_text()
    assert "The escrow chain cannot be reached: Could not reach the RPC provider" in banner
    assert "Showing the last known state, read" in banner
    assert events[-1].tx_hash in page.locator("#result_list").inner_html()
    shot(page, "31-escrow-records-chain-unreachable")

    page.goto("/admin/")
    card = page.locator("[data-section=escrow]").inner_text()
    assert "The escrow chain cannot be reached" in card and "Last known state from block" in card
    shot(page, "32-dashboard-escrow-chain-unreachable")
