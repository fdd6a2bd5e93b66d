"""An operator's day in a real browser: log in, find a customer, place an order, see it fill
after the market moves, cancel another, and see the dashboard change."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from compliance.surveillance import run_surveillance
from orders.models import Fill, Market, Order
from sync.models import SyncRun
from sync.report import start_run
from sync.steps import sync_customer
from tests.e2e.conftest import login, shot

pytestmark = [pytest.mark.e2e]


def worker_syncs(customer) -> None:
    """What the Celery worker does after the schedule fires: a full sync of the customer."""
    run = start_run(kind=SyncRun.Kind.CUSTOMER_FULL, customer=customer, trigger=SyncRun.Trigger.ON_DEMAND)
    sync_customer(run=run)
    run.refresh_from_db()
    assert run.status == SyncRun.Status.SUCCEEDED, run.errors
    run_surveillance(customer_ids=[customer.pk])  # what the task_success hook enqueues after the sync task


def place_through_the_form(page, customer, market: Market, *, price: Decimal, size: int, reason: str) -> str:
    page.goto(f"/admin/customers/360/{customer.pk}/")
    page.click("#place-order")
    page.select_option("#id_exchange", market.exchange)
    page.select_option("#id_market", str(market.pk))
    page.wait_for_selector("#id_outcome option[value=Yes]", state="attached")  # the market's own outcomes
    page.select_option("#id_outcome", "Yes")
    page.select_option("#id_side", "buy")
    page.fill("#id_price", f"{price.normalize():f}")
    page.fill("#id_size", str(size))
    page.fill("#id_reason", reason)
    page.click("text=Review the order")
    page.wait_for_load_state()
    if not re.search(r"/confirm/$", page.url):
        shot(page, "failed-order-form")
        pytest.fail("the order form was refused: " + " | ".join(page.locator(".trading-error").all_inner_texts()))
    page.click("button[value=send]")
    page.wait_for_url(re.compile(r".*/orderintent/[0-9a-f-]{36}/$"))
    assert page.locator(".status-placed").inner_text().strip() == "Placed"
    return page.locator("text=Parsec order id").locator("xpath=..").locator("td").inner_text().strip()


def test_operator_places_sees_the_fill_cancels_and_sees_the_dashboard_change(page, sandbox, sandbox_customer, operator):
    customer = sandbox_customer
    sdk = sandbox.sdk()
    market = Market.objects.filter(exchange="polymarket", market_type="binary", status="active").order_by("pk").first()
    book = sdk.orderbook.retrieve(parsec_id=market.parsec_id, outcome="Yes")
    tick = market.tick_size or Decimal("0.01")
    bid = Decimal(str(book.bids[0][0]))
    resting_price = max(tick * 5, bid - 3 * tick)

    login(page, operator.username)
    assert page.locator('[data-figure="fills-today"]').inner_text() == "0"
    shot(page, "01-dashboard-before")

    # Find the customer from the dashboard's search box.
    page.fill("#customer-search", customer.external_id)
    page.press("#customer-search", "Enter")
    page.wait_for_url(f"**/admin/customers/360/{customer.pk}/")
    assert customer.external_id in page.locator("#customer-360 h1").inner_text()
    shot(page, "02-customer-360-before")

    # A buy below the market rests; moving the market down through it fills it (maker fill).
    to_fill = place_through_the_form(page, customer, market, price=resting_price, size=10,
                                     reason="Customer asked by phone (ticket 1042)")
    shot(page, "03-order-placed")
    sandbox.control("POST", f"markets/{market.parsec_id}/move",
                    json={"price": str(max(tick, resting_price - Decimal("0.15"))), "outcome": "Yes"})
    # A second buy far below the market stays open, to be cancelled.
    to_cancel = place_through_the_form(page, customer, market, price=tick, size=20, reason="Resting bid for the customer")
    worker_syncs(customer)
    assert Order.objects.get(parsec_order_id=to_fill).status == Order.Status.FILLED
    assert Fill.objects.filter(parsec_order_id=to_fill).exists()

    page.goto(f"/admin/customers/360/{customer.pk}/")
    assert page.locator(f'[data-order="{to_fill}"]').count() == 0  # no longer open
    assert page.locator(f'[data-order="{to_cancel}"]').count() == 1
    assert page.locator('[data-kind="fill"]').count() >= 1
    shot(page, "04-customer-360-after-fill")

    # Cancel the resting order from its row.
    page.locator(f'[data-order="{to_cancel}"] >> text=Cancel').click()
    page.fill("textarea[name=reason]", "Customer changed their mind")
    page.click("button:has-text('Cancel 1 order')")
    page.wait_for_selector("text=cancelled")
    shot(page, "05-cancelled")
    assert Order.objects.get(parsec_order_id=to_cancel).status == Order.Status.CANCELLED

    page.goto("/admin/")
    page.wait_for_selector("#dash-parsec[data-section], #dash-parsec .bo-card[data-section]", state="attached")
    assert int(page.locator('[data-figure="fills-today"]').inner_text()) >= 1
    assert page.locator('[data-figure="open-orders"]').inner_text() == "0"
    assert int(page.locator('[data-figure="open-alerts"]').inner_text()) == 0  # operator orders are audited, not alerts
    page.wait_for_selector("text=Parsec up")
    shot(page, "06-dashboard-after")
