"""The dashboard's sections refresh themselves (htmx) without reloading the page."""

from __future__ import annotations

import pytest

from tests import factories as f
from tests.e2e.conftest import login, shot

pytestmark = [pytest.mark.e2e]


def test_a_new_fill_and_a_new_alert_appear_without_a_reload(page, transactional_db, operator, settings):
    settings.DASHBOARD_REFRESH_SECONDS = 1
    login(page, operator.username)
    page.evaluate("window.__same_page = true")
    loaded_as_of = page.get_attribute("#dashboard-as-of", "data-as-of")
    assert page.locator('[data-figure="fills-today"]').inner_text() == "0"
    cust, mkt = f.customer(), f.market()
    f.fill(cust, mkt, price="0.50", size="10")
    f.order(cust, mkt, size="20000")  # large without history: an alert once surveillance runs
    from compliance.surveillance import run_surveillance

    run_surveillance(customer_ids=[cust.pk])
    page.wait_for_function("document.querySelector('[data-figure=\"fills-today\"]').innerText.trim() === '1'", timeout=15_000)
    page.wait_for_function("document.querySelector('[data-figure=\"open-alerts\"]').innerText.trim() === '1'", timeout=15_000)
    assert page.evaluate("window.__same_page") is True  # swapped in place, never reloaded
    assert page.get_attribute("#dashboard-as-of", "data-as-of") != loaded_as_of  # the "as of" time moved with the figures
    shot(page, "07-dashboard-refreshed-in-place")
