"""The Kill switches pages: engage any scope from the list, review the orders it cancels, a red
banner on every page while engaged, an engaged switch's page that shows its summary, release with a reason."""

from __future__ import annotations

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from orders.models import KillSwitch
from tests import factories as f

pytestmark = pytest.mark.django_db
ENGAGE = "admin:orders_killswitch_engage"


def test_the_list_offers_engage_and_the_form_shows_no_error_before_submit(operator_client):
    listing = operator_client.get(reverse("admin:orders_killswitch_changelist")).content.decode()
    assert reverse(ENGAGE) in listing
    page = operator_client.get(reverse(ENGAGE) + "?scope=customer&customer=1").content.decode()
    assert "This field is required" not in page and 'class="trading-error"' not in page


def test_engaging_a_customer_switch_lists_its_open_orders_then_redirects_to_its_summary(operator_client, operator, settings):
    settings.KILL_SWITCH_INLINE_CANCELS = 0  # the cancels are queued: no Parsec call in this test
    cust, mkt = f.customer(), f.market()
    f.order(cust, mkt, status="open")
    f.order(f.customer(), mkt, status="open")  # another customer's order is not in the scope
    review = operator_client.post(reverse(ENGAGE), {"scope": "customer", "customer": cust.external_id, "reason": "fraud check"})
    assert review.status_code == 200
    assert review.context["target_count"] == 1 and [o.customer for o in review.context["targets"]] == [cust]
    assert not KillSwitch.objects.exists()  # nothing engaged by the review
    engaged = operator_client.post(reverse(ENGAGE), {"scope": "customer", "customer": cust.external_id,
                                                     "reason": "fraud check", "confirmed": "1"})
    switch = KillSwitch.objects.get()
    assert engaged.status_code == 302 and engaged["Location"] == reverse("admin:orders_killswitch_change", args=[switch.pk])
    assert switch.customer == cust and switch.engaged_by == operator
    summary = operator_client.get(engaged["Location"]).content.decode()  # a reload shows the summary, no form to refill
    assert "Engaged: trading is frozen" in summary and "fraud check" in summary and 'name="scope"' not in summary
    again = operator_client.post(reverse(ENGAGE), {"scope": "customer", "customer": cust.external_id,
                                                   "reason": "twice", "confirmed": "1"})
    assert again.status_code == 200 and again.context["engaged"] == switch and KillSwitch.objects.count() == 1


def test_a_reason_is_required_to_engage(operator_client):
    response = operator_client.post(reverse(ENGAGE), {"scope": "builder", "reason": "", "confirmed": "1"})
    assert response.status_code == 200 and "This field is required" in response.content.decode()
    assert not KillSwitch.objects.exists()


def test_the_banner_shows_on_every_page_while_engaged_and_goes_on_release(operator_client, operator, settings):
    settings.KILL_SWITCH_INLINE_CANCELS = 0
    operator_client.post(reverse(ENGAGE), {"scope": "builder", "reason": "exchange incident", "confirmed": "1"})
    switch = KillSwitch.objects.get()
    for url in (reverse("admin:index"), reverse("admin:orders_order_changelist"), reverse("admin:customers_customer_changelist")):
        page = operator_client.get(url).content.decode()
        assert 'id="kill-switch-banner"' in page and "exchange incident" in page and operator.username in page, url
    cust = f.customer()
    assert 'id="frozen-badge"' in operator_client.get(reverse("customer_360", args=[cust.pk])).content.decode()
    refused = operator_client.post(reverse("admin:orders_killswitch_release", args=[switch.pk]), {"reason": " "})
    assert refused.status_code == 302 and KillSwitch.objects.get().is_engaged
    operator_client.post(reverse("admin:orders_killswitch_release", args=[switch.pk]), {"reason": "incident over"})
    assert not KillSwitch.objects.get().is_engaged
    assert AuditEvent.objects.get(action="killswitch.release").reason == "incident over"
    page = operator_client.get(reverse("admin:index")).content.decode()
    assert 'id="kill-switch-banner"' not in page
    released = operator_client.get(reverse("admin:orders_killswitch_change", args=[switch.pk])).content.decode()
    assert "Released" in released and "incident over" in released


def test_a_market_switch_is_chosen_from_the_search(operator_client, settings):
    settings.KILL_SWITCH_INLINE_CANCELS = 0
    mkt = f.market()
    operator_client.post(reverse(ENGAGE), {"scope": "market", "market": str(mkt.pk), "reason": "bad feed", "confirmed": "1"})
    switch = KillSwitch.objects.get()
    assert switch.scope == "market" and switch.exchange == mkt.exchange and switch.market_native_id


def test_compliance_cannot_engage(reviewer_client):
    assert reviewer_client.get(reverse(ENGAGE)).status_code == 403


def test_a_frozen_customer_carries_a_badge_in_the_customers_list(operator_client, operator):
    from orders import services

    frozen, other = f.customer(), f.customer()
    services.engage_kill_switch(scope="customer", customer=frozen, actor=operator, reason="fraud check")
    response = operator_client.get(reverse("admin:customers_customer_changelist"))
    rows = {c.pk: c.frozen for c in response.context["cl"].result_list}
    assert rows[frozen.pk] is True and rows[other.pk] is False
    assert ">frozen<" in response.content.decode().replace(" ", "").replace("\n", "")
