"""Engage and release a builder kill switch from the Kill switches page, the banner visible meanwhile."""

from __future__ import annotations

import pytest

from orders.models import KillSwitch
from tests.e2e.conftest import login, shot

pytestmark = [pytest.mark.e2e]


def test_operator_engages_and_releases_a_builder_switch_with_the_banner_visible(page, transactional_db, operator, settings):
    settings.KILL_SWITCH_INLINE_CANCELS = 0
    login(page, operator.username)
    assert page.locator("#kill-switch-banner").count() == 0
    page.goto("/admin/orders/killswitch/")
    page.click("text=Engage a kill switch")
    page.wait_for_url("**/killswitch/engage/")
    assert page.locator(".trading-error").count() == 0  # nothing shown before submitting
    page.check("input[name=scope][value=builder]")
    page.fill("#id_reason", "Exchange incident: Polymarket matching engine degraded")
    page.click("#engage-review")
    page.wait_for_selector("#engage-targets")
    assert "cancels 0 open orders" in page.locator("#engage-targets").inner_text()
    shot(page, "killswitch-01-review")
    page.click("#engage-confirm")
    page.wait_for_url("**/killswitch/*/change/")
    banner = page.locator("#kill-switch-banner")
    assert "whole builder" in banner.inner_text() and "Exchange incident" in banner.inner_text()
    assert operator.username in banner.inner_text()
    shot(page, "killswitch-02-engaged")
    page.reload()  # the summary again, not a blank form
    assert page.locator("#kill-switch-summary").get_attribute("data-engaged") == "true"
    page.goto("/admin/orders/order/")
    assert page.locator("#kill-switch-banner").is_visible()
    shot(page, "killswitch-03-banner-on-orders")
    page.locator("#kill-switch-banner a").first.click()
    page.fill("#id_release_reason", "Polymarket recovered")
    page.click("text=Release the kill switch")
    page.wait_for_selector("text=Released: trading in this scope is allowed")
    assert page.locator("#kill-switch-banner").count() == 0
    assert not KillSwitch.objects.get().is_engaged
    shot(page, "killswitch-04-released")
