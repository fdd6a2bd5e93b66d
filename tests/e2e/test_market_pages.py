"""An operator in a real browser: the markets resolving soon, then one market's page (status,
book, price history, trades, event, our exposure), and a resolved market with its settlements."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from orders.models import Market
from tests.e2e.conftest import login, shot
from tests.orders.lifecycle import best_ask, new_market, new_user, place, sync_all

pytestmark = [pytest.mark.e2e]


@pytest.fixture
def markets(transactional_db, parsec_settings, sandbox):
    parsec_settings.PARSEC_SANDBOX_ADMIN_KEY = sandbox.admin_key
    sdk = sandbox.sdk()
    ends = (timezone.now() + timedelta(days=3)).replace(microsecond=0)
    event = f"e2e-{ends:%H%M%S}"
    soon = new_market(sandbox, exchange="polymarket", question="E2E: will the bill pass this week?", price="0.35",
                      end_date=ends.isoformat(), event_id=event)
    new_market(sandbox, exchange="polymarket", question="E2E: will the bill pass this year?", price="0.70", event_id=event,
               end_date=(ends + timedelta(days=60)).isoformat())
    resolved = new_market(sandbox, exchange="kalshi", question="E2E: resolved market", price="0.50")
    holder = new_user(sdk, prefix="e2e-market")
    for size in (40, 25, 60):
        place(sdk, holder, soon, outcome="Yes", side="buy", price=best_ask(sdk, soon, "Yes"), size=size)
    place(sdk, holder, soon, outcome="No", side="buy", price="0.05", size=30)  # rests
    place(sdk, holder, resolved, outcome="Yes", side="buy", price=best_ask(sdk, resolved, "Yes"), size=20)
    sync_all(holder)
    sandbox.control("POST", f"markets/{resolved['parsec_id']}/resolve", json={"outcome": "Yes"})
    sync_all(holder)
    return Market.objects.get(parsec_id=soon["parsec_id"]), Market.objects.get(parsec_id=resolved["parsec_id"])


def test_operator_finds_a_market_resolving_soon_and_reads_its_page(page, markets, operator):
    soon, resolved = markets
    login(page, operator.username)
    page.click("text=Resolving soon")
    page.wait_for_selector("#resolving-soon")
    row = page.locator(f'tr[data-market="{soon.parsec_id}"]')
    assert row.count() == 1 and "E2E: will the bill pass this week?" in row.inner_text()
    shot(page, "20-resolving-soon")

    row.locator("a").click()
    page.wait_for_selector("#market-page")
    assert page.locator('[data-status]').first.get_attribute("data-status") == "active"
    assert page.locator('[data-section="order-book"] tbody tr').count() >= 2
    assert page.locator('[data-section="price-history"] svg polyline').count() == 1
    assert page.locator('[data-section="trades"] tbody tr').count() >= 3
    assert "E2E: will the bill pass this year?" in page.locator('[data-section="event"]').inner_text()
    assert page.locator('[data-figure="holders"]').inner_text() == "1"
    shot(page, "21-market-page")

    page.goto(f"/admin/orders/market/{resolved.pk}/")
    assert page.locator('[data-status]').first.get_attribute("data-status") == "resolved"
    assert "Resolved: Yes" in page.locator('[data-section="lifecycle"]').text_content()
    assert "Won" in page.locator('[data-section="exposure"]').inner_text()
    shot(page, "22-resolved-market-page")
