"""The lists people use all day: substring search, the customer named by its external id, the
sync runs without their idle fan-out rows, the staff list's role, second factor and lock state."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from axes.models import AccessAttempt
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.services import record_action
from parsec.models import OutboundCall
from sync.models import SyncRun
from tests import factories as f

pytestmark = pytest.mark.django_db


def listed(client, label: str, **params) -> list:
    response = client.get(reverse(f"admin:{label.replace('.', '_')}_changelist"), params)
    assert response.status_code == 200, response.status_code
    return list(response.context["cl"].result_list)


def test_order_search_finds_any_part_of_external_id_email_market_title_or_order_id(operator_client):
    alice = f.customer(external_id="demo-alice", email="alice.w@example.com")
    bob = f.customer(external_id="demo-bob", email="bob@example.com")
    fed = f.market("kalshi", question="Will the Fed cut rates in December?")
    other = f.market("kalshi", question="Will it snow in Paris?")
    by_alice = f.order(alice, other)
    by_bob_on_fed = f.order(bob, fed)
    by_bob = f.order(bob, other)
    by_bob.parsec_order_id = "ord-7f3a9c"
    by_bob.save(update_fields=["parsec_order_id"])

    def found(term):
        return {order.pk for order in listed(operator_client, "orders.order", q=term)}

    assert found("alice") == {by_alice.pk}  # it found nothing: the search was the start of the external id
    assert found("ALICE.W@") == {by_alice.pk}
    assert found("fed cut") == {by_bob_on_fed.pk}
    assert found("3a9") == {by_bob.pk}
    assert found("demo") == {by_alice.pk, by_bob_on_fed.pk, by_bob.pk}
    assert found("nobody") == set()


def test_customer_search_is_a_substring_of_external_id_or_email(operator_client):
    alice = f.customer(external_id="demo-alice", email="alice.w@example.com")
    f.customer(external_id="demo-bob", email="bob@example.com")
    assert [c.pk for c in listed(operator_client, "customers.customer", q="alice")] == [alice.pk]
    assert [c.pk for c in listed(operator_client, "customers.customer", q="w@exa")] == [alice.pk]


def test_the_customer_filter_accepts_what_the_autocomplete_sends_and_what_links_send(operator_client):
    alice, bob = f.customer(external_id="demo-alice"), f.customer(external_id="demo-bob")
    market = f.market("kalshi")
    mine, theirs = f.order(alice, market), f.order(bob, market)
    assert [o.pk for o in listed(operator_client, "orders.order", customer=str(alice.pk))] == [mine.pk]
    assert [o.pk for o in listed(operator_client, "orders.order", customer="demo-bob")] == [theirs.pk]
    page = operator_client.get(reverse("admin:orders_order_changelist"), {"customer": "demo-bob"}).content.decode()
    assert f'<option value="{bob.pk}" selected>demo-bob</option>' in page  # the autocomplete shows the chosen one


def test_the_list_shows_prices_at_the_tick_and_sizes_without_trailing_zeros(operator_client):
    customer = f.customer()
    market = f.market("kalshi", tick_size=Decimal("0.001"))
    f.order(customer, market, price="0.615", size="2500")
    page = operator_client.get(reverse("admin:orders_order_changelist")).content.decode()
    assert ">0.615<" in page and ">2,500<" in page
    assert "0.61500000" not in page and "2500.00000000" not in page and "E+" not in page


def test_sync_runs_hide_fan_out_runs_that_scheduled_nobody_unless_asked(operator_client):
    now = timezone.now()
    idle = SyncRun.objects.create(kind=SyncRun.Kind.SCHEDULE, status=SyncRun.Status.SUCCEEDED, started_at=now,
                                  finished_at=now + timedelta(milliseconds=3), progress_total=0)
    busy = SyncRun.objects.create(kind=SyncRun.Kind.SCHEDULE, status=SyncRun.Status.SUCCEEDED, started_at=now,
                                  finished_at=now + timedelta(seconds=3, milliseconds=240), progress_total=2, progress_done=2)
    full = f.SyncRunFactory()
    assert {run.pk for run in listed(operator_client, "sync.syncrun")} == {busy.pk, full.pk}
    assert idle.pk in {run.pk for run in listed(operator_client, "sync.syncrun", idle_fan_out="show")}
    page = operator_client.get(reverse("admin:sync_syncrun_changelist")).content.decode()
    assert ">3.2 s<" in page and "0:00:03" not in page


def test_the_end_user_list_shows_each_customers_own_last_full_sync(operator_client):
    synced = timezone.now() - timedelta(hours=5)
    customer = f.customer()
    type(customer).objects.filter(pk=customer.pk).update(last_full_sync_at=synced, last_synced_at=timezone.now())
    page = operator_client.get(reverse("admin:customers_customer_changelist")).content.decode()
    assert "Last full sync" in page
    assert synced.strftime("%Y-%m-%d %H:%M:%S UTC") in page


def test_audit_and_call_logs_name_the_customer_by_external_id(operator_client, operator):
    customer = f.customer(external_id="demo-carol")
    record_action(actor=operator, action="order.place", customer=customer, reason="test", outcome="ok")
    OutboundCall.objects.create(created_at=timezone.now(), method="GET", path_template="/orders", path="/orders",
                                customer_id=str(customer.parsec_customer_id), status_code=200, latency_ms=12)
    for label in ("audit.auditevent", "parsec.outboundcall"):
        page = operator_client.get(reverse(f"admin:{label.replace('.', '_')}_changelist")).content.decode()
        assert f'href="{reverse("customer_360", args=[customer.pk])}"' in page, label
        assert ">demo-carol</a>" in page, label
        assert listed(operator_client, label, q="caro"), label  # found by a part of the external id


def test_staff_list_shows_role_second_factor_and_lock_state(client, administrator, operator, reviewer, settings):
    TOTPDevice.objects.create(user=operator, name="phone", confirmed=True)
    AccessAttempt.objects.create(username=reviewer.username, ip_address="10.0.0.9", user_agent="t", get_data="",
                                 post_data="", http_accept="*/*", path_info="/admin/login/",
                                 failures_since_start=settings.AXES_FAILURE_LIMIT)
    client.force_login(administrator)
    rows = {user.username: user for user in listed(client, "auth.user")}
    assert rows[operator.username].has_two_factor and not rows[reviewer.username].has_two_factor
    assert rows[reviewer.username].is_locked and not rows[operator.username].is_locked
    page = client.get(reverse("admin:auth_user_changelist")).content.decode()
    for text in ("Operations", "Compliance", "Administrators", "set up", "not set up", "locked"):
        assert text in page, text


def test_the_find_a_customer_box_takes_any_part_of_the_external_id(operator_client):
    alice = f.customer(external_id="demo-alice")
    f.customer(external_id="demo-bob")
    response = operator_client.get(reverse("customer_360_search"), {"q": "lic"})
    assert response.status_code == 302 and response["Location"] == reverse("customer_360", args=[alice.pk])
    assert len(operator_client.get(reverse("customer_360_search"), {"q": "demo"}).context["results"]) == 2


def test_the_customer_and_market_filters_autocomplete_from_any_part(operator_client):
    alice = f.customer(external_id="demo-alice")
    f.customer(external_id="demo-bob")
    fed = f.market("kalshi", question="Will the Fed cut rates in December?")
    f.market("kalshi", question="Will it snow in Paris?")
    url = reverse("admin:autocomplete")
    found = operator_client.get(url, {"term": "lic", "app_label": "orders", "model_name": "order", "field_name": "customer"})
    assert found.status_code == 200 and [r["id"] for r in found.json()["results"]] == [str(alice.pk)]
    found = operator_client.get(url, {"term": "fed cut", "app_label": "orders", "model_name": "order", "field_name": "market"})
    assert found.status_code == 200 and [r["id"] for r in found.json()["results"]] == [str(fed.pk)]
