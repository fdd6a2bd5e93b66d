"""Four eyes: a second operator sees on the dashboard and in the sidebar that an approval waits for
them, opens it, approves it, and the order is placed."""

from __future__ import annotations

from decimal import Decimal

import pytest

from orders import services
from orders.models import Market, OrderIntent
from orders.services import OrderRequest
from tests.e2e.conftest import login, shot

pytestmark = [pytest.mark.e2e]


def test_an_approver_sees_and_decides_a_waiting_approval(page, sandbox_customer, operator, second_operator, settings, capture_enqueues):
    settings.ORDER_FOUR_EYES_NOTIONAL_USDC = 0.1
    market = Market.objects.filter(exchange="polymarket", market_type="binary", status="active").order_by("pk").first()
    tick = market.tick_size or Decimal("0.01")
    intent = services.create_intent(actor=operator, request=OrderRequest(customer=sandbox_customer, exchange="polymarket", market=market,
                                    outcome="Yes", side="buy", price=tick, size=Decimal("20"), reason="Large resting bid"))
    services.submit_for_approval(intent=intent, actor=operator)

    login(page, second_operator.username)
    card = page.locator("#dash-approvals")
    assert "1 to decide" in card.inner_text().lower() and sandbox_customer.external_id in card.inner_text()
    badge = page.locator("#nav-sidebar a:has-text('Approval requests')")
    assert "1" in badge.inner_text()
    shot(page, "approval-01-waiting")
    card.locator("a.bo-btn:has-text('Decide')").click()
    page.wait_for_url("**/decide/")
    page.fill("textarea[name=note]", "Checked with the customer")
    page.click("button[value=approve]")
    page.wait_for_selector("text=Placed at Parsec as order")
    intent.refresh_from_db()
    assert intent.status == OrderIntent.Status.PLACED
    shot(page, "approval-02-decided")
    page.goto("/admin/")
    assert "0" in page.locator("[data-figure=approvals-waiting]").inner_text()
