"""An order whose answer is lost (the sandbox answers 503) shows as unknown on its own page, which
then resolves by itself once reconciliation settles it, with one message that says one thing."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from orders import services
from orders.models import Market, OrderIntent
from tests.e2e.conftest import login, shot

pytestmark = [pytest.mark.e2e]


def test_an_unknown_intent_resolves_on_its_own_page(page, sandbox_customer, operator, fault, capture_enqueues, settings):
    settings.ORDER_RECONCILE_SETTLE_SECONDS = 0
    market = Market.objects.filter(exchange="polymarket", market_type="binary", status="active").order_by("pk").first()
    tick = market.tick_size or Decimal("0.01")
    fault("error_503")  # the next order creation of this customer: 503, nothing placed
    login(page, operator.username)
    page.goto(f"/admin/orders/orderintent/place/?customer={sandbox_customer.pk}")
    page.select_option("#id_market", str(market.pk))
    page.wait_for_selector("#id_outcome option[value=Yes]", state="attached")
    page.select_option("#id_outcome", "Yes")
    page.fill("#id_price", f"{tick.normalize():f}")
    page.fill("#id_size", "20")
    page.fill("#id_reason", "Resting bid for the customer")
    page.click("text=Review the order")
    page.wait_for_url(re.compile(r".*/confirm/$"))
    page.click("button[value=send]")
    page.wait_for_url(re.compile(r".*/orderintent/[0-9a-f-]{36}/$"))
    assert page.get_attribute("#intent-state", "data-status") == "unknown"
    assert "is being reconciled automatically" in page.inner_text("#intent-state [data-message]")
    page.evaluate("window.__same_page = true")
    shot(page, "unknown-01-reconciling")

    intent = OrderIntent.objects.get(customer=sandbox_customer)
    services.reconcile_intent(intent=intent)  # what the worker's reconcile task does
    page.wait_for_selector("#intent-state[data-status=not_placed]", timeout=10_000)
    message = page.inner_text("#intent-state [data-message]")
    assert message.startswith("Not placed:") and "may or may not" not in message and "not known" not in message
    assert page.evaluate("window.__same_page") is True
    assert page.locator("#intent-state[hx-get]").count() == 0  # settled: the page stops asking
    shot(page, "unknown-02-resolved")
