"""The mirror's admin: read-only, role-gated, and list pages whose query count does not grow."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from core.admin import CappedCountPaginator
from customers.models import Customer
from orders.models import Order
from sync.models import SyncRun
from tests.factories import mirror_rows

pytestmark = pytest.mark.django_db

# Queries per changelist page (NetBox-style pinned counts): session, user, two permission
# reads, the capped count, the page, the kill-switch banner, the sidebar's count of approvals
# waiting (an approver's page) and whether the member has a second factor (its banner); nothing per row.
CHANGELISTS = {
    "customers.customer": 9,
    "customers.wallet": 9,
    "customers.exchangelink": 9,
    "customers.balancesnapshot": 9,
    "sync.syncrun": 9,
    "orders.market": 9,
    "orders.order": 9,
    "orders.fill": 9,
    "orders.position": 9,
}


def changelist(label: str) -> str:
    return reverse(f"admin:{label.replace('.', '_')}_changelist")


def count_queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return len(queries)


@pytest.mark.parametrize("label", sorted(CHANGELISTS))
def test_changelist_query_count_does_not_grow_with_rows(operator_client, label):
    mirror_rows(3)
    url = changelist(label)
    small = count_queries(operator_client, url)
    mirror_rows(40)
    large = count_queries(operator_client, url)
    assert large == small, f"{label}: {small} queries with 3 rows, {large} with 43"
    assert large == CHANGELISTS[label], f"{label}: {large} queries, pinned at {CHANGELISTS[label]}"


@pytest.mark.parametrize("label", sorted(CHANGELISTS))
def test_compliance_reads_every_mirror_list(reviewer_client, label):
    mirror_rows(2)
    assert reviewer_client.get(changelist(label)).status_code == 200


@pytest.mark.parametrize("label", sorted(CHANGELISTS))
def test_staff_without_a_role_is_refused(client, django_user_model, label):
    user = django_user_model.objects.create_user(username="no.role", password="x-horse-battery", is_staff=True)
    client.force_login(user)
    assert client.get(changelist(label)).status_code == 403


def test_detail_pages_render_read_only_for_every_mirrored_model(operator_client):
    data = mirror_rows(1)
    order = data["orders"][0]
    objects = {
        "customers.customer": order.customer, "customers.wallet": order.customer.wallets.get(),
        "customers.exchangelink": order.customer.exchange_links.get(),
        "customers.balancesnapshot": order.customer.balance_snapshots.get(),
        "sync.syncrun": order.customer.sync_runs.get(), "orders.market": order.market, "orders.order": order,
        "orders.fill": order.fills.get(), "orders.position": order.customer.positions.get(),
    }
    for label, obj in objects.items():
        url = reverse(f"admin:{label.replace('.', '_')}_change", args=[obj.pk])
        response = operator_client.get(url)
        assert response.status_code == 200, label
        assert b'name="_save"' not in response.content, f"{label} offers a save button"
        assert operator_client.post(url, {}).status_code == 403, label
        delete = reverse(f"admin:{label.replace('.', '_')}_delete", args=[obj.pk])
        assert operator_client.post(delete, {"post": "yes"}).status_code == 403, label
        assert operator_client.get(reverse(f"admin:{label.replace('.', '_')}_add")).status_code == 403, label
    assert Order.objects.filter(pk=order.pk).exists()


def test_order_list_shows_market_titles_and_links_to_the_customer(operator_client):
    order = mirror_rows(1)["orders"][0]
    content = operator_client.get(changelist("orders.order")).content.decode()
    assert order.market.question in content
    assert reverse("admin:orders_market_change", args=[order.market_id]) in content
    assert f'href="{reverse("customer_360", args=[order.customer_id])}"' in content
    assert f">{order.customer.external_id}</a>" in content


def test_customer_page_links_across_to_orders_fills_positions_and_balances(operator_client):
    customer = mirror_rows(1)["customers"][0]
    content = operator_client.get(reverse("admin:customers_customer_change", args=[customer.pk])).content.decode()
    for label in ("orders.order", "orders.fill", "orders.position", "customers.balancesnapshot"):
        assert f"{changelist(label)}?customer={customer.pk}" in content, label
    assert "1.00 USDC" in content and "1.000000" not in content  # latest balance per exchange, two places


def test_the_customer_filter_keeps_only_that_customers_rows(operator_client):
    data = mirror_rows(3)
    wanted = data["customers"][1]
    for label in ("orders.order", "orders.fill", "orders.position", "customers.balancesnapshot"):
        response = operator_client.get(changelist(label), {"customer": wanted.external_id})
        assert response.status_code == 200
        rows = list(response.context["cl"].result_list)
        assert rows and {row.customer_id for row in rows} == {wanted.pk}, label


def test_status_market_and_date_range_filters_narrow_the_order_list(operator_client):
    data = mirror_rows(3)
    first, second, third = data["orders"]
    Order.objects.filter(pk=third.pk).update(status=Order.Status.FILLED, filled=third.size)

    def ids(**params):
        response = operator_client.get(changelist("orders.order"), params)
        assert response.status_code == 200, response.get("Location")
        return {row.pk for row in response.context["cl"].result_list}

    assert ids(status="filled") == {third.pk}
    assert ids(live="true") == {first.pk, second.pk}
    assert ids(market=second.market.parsec_id) == {second.pk}
    start, end = second.created_at - timedelta(seconds=20), second.created_at + timedelta(seconds=20)
    window = {
        "created_at_from_0": start.strftime("%Y-%m-%d"), "created_at_from_1": start.strftime("%H:%M:%S"),
        "created_at_to_0": end.strftime("%Y-%m-%d"), "created_at_to_1": end.strftime("%H:%M:%S"),
    }
    assert ids(**window) == {second.pk}
    assert ids(created_at_from_0=second.created_at.strftime("%Y-%m-%d")) >= {first.pk}


def test_an_invalid_filter_value_is_reported_not_a_crash(operator_client):
    response = operator_client.get(changelist("orders.order"), {"status": "exploded"})
    assert response.status_code == 302 and "e=1" in response["Location"]


def test_search_finds_a_customer_by_parsec_id_and_an_order_by_its_id(operator_client):
    data = mirror_rows(3)
    customer, order = data["customers"][2], data["orders"][0]
    response = operator_client.get(changelist("customers.customer"), {"q": str(customer.parsec_customer_id)})
    assert [c.pk for c in response.context["cl"].result_list] == [customer.pk]
    response = operator_client.get(changelist("orders.order"), {"q": order.parsec_order_id})
    assert [o.pk for o in response.context["cl"].result_list] == [order.pk]


def test_list_count_is_capped_not_a_full_count(operator_client, monkeypatch):
    monkeypatch.setattr(CappedCountPaginator, "count_cap", 5)
    mirror_rows(12)
    with CaptureQueriesContext(connection) as queries:
        response = operator_client.get(changelist("orders.order"), {"exchange": "kalshi"})
    counts = [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"].upper() and "orders_order" in q["sql"]]
    assert len(counts) == 1 and "LIMIT 6" in counts[0]
    assert response.context["cl"].result_count == 6


@pytest.mark.skipif(connection.vendor != "postgresql", reason="pg_class estimate is PostgreSQL's")
def test_unfiltered_count_above_the_cap_uses_the_planner_estimate(operator_client, monkeypatch):
    monkeypatch.setattr(CappedCountPaginator, "count_cap", 5)
    mirror_rows(30)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE orders_order")
    response = operator_client.get(changelist("orders.order"))
    assert response.context["cl"].result_count >= 6


def test_sync_run_page_polls_its_progress_until_finished(operator_client):
    run = SyncRun.objects.create(kind="customer-full", trigger="on-demand", progress_done=3, progress_total=12)
    page = operator_client.get(reverse("admin:sync_syncrun_change", args=[run.pk])).content.decode()
    fragment_url = reverse("admin:sync_syncrun_progress", args=[run.pk])
    assert f'hx-get="{fragment_url}"' in page and "3 / 12" in page and "(25%)" in page
    run.status, run.progress_done = SyncRun.Status.SUCCEEDED, 12
    run.save()
    fragment = operator_client.get(fragment_url).content.decode()
    assert "hx-get" not in fragment and "(100%)" in fragment


def test_sync_progress_fragment_needs_a_role(client, django_user_model):
    run = SyncRun.objects.create(kind="users")
    user = django_user_model.objects.create_user(username="no.role", password="x-horse-battery", is_staff=True)
    client.force_login(user)
    assert client.get(reverse("admin:sync_syncrun_progress", args=[run.pk])).status_code == 403


def test_compliance_cannot_trigger_a_sync(reviewer_client):
    customer = mirror_rows(1)["customers"][0]
    start = reverse("admin:sync_syncrun_start")
    assert reviewer_client.get(reverse("admin:customers_customer_sync_now", args=[customer.pk])).status_code == 403
    assert reviewer_client.get(start, {"customer": customer.pk}).status_code == 403
    assert reviewer_client.post(start, {"customer": customer.pk}).status_code == 403
    assert not SyncRun.objects.filter(customer=customer, trigger="on-demand").exists()
    assert not Customer.objects.filter(pk=customer.pk, last_full_sync_at__isnull=False).exists()


def test_sync_now_records_an_on_demand_run_audits_it_and_opens_its_progress(operator_client, operator):
    from audit.models import AuditEvent

    customer = mirror_rows(1)["customers"][0]
    button = operator_client.get(reverse("admin:customers_customer_sync_now", args=[customer.pk]))
    start = reverse("admin:sync_syncrun_start")
    assert button.status_code == 302 and button["Location"] == f"{start}?customer={customer.pk}"
    confirmation = operator_client.get(button["Location"])
    assert confirmation.status_code == 200 and customer.external_id in confirmation.content.decode()
    assert not SyncRun.objects.filter(customer=customer, trigger="on-demand").exists()  # nothing starts before the confirmation
    response = operator_client.post(start, {"customer": customer.pk})
    run = SyncRun.objects.get(customer=customer, trigger="on-demand")
    assert response.status_code == 302 and response["Location"] == reverse("admin:sync_syncrun_change", args=[run.pk])
    assert run.requested_by == operator and run.kind == SyncRun.Kind.CUSTOMER_FULL
    event = AuditEvent.objects.get(action="customer.sync")
    assert event.actor == operator and event.customer == customer
    again = operator_client.post(start, {"customer": customer.pk})  # a second click joins the running sync
    assert again["Location"] == reverse("admin:sync_syncrun_change", args=[run.pk])
    assert SyncRun.objects.filter(customer=customer, trigger="on-demand").count() == 1
    assert AuditEvent.objects.filter(action="customer.sync").count() == 1


def test_bulk_sync_action_starts_one_run_per_selected_customer(operator_client):
    customers = mirror_rows(2)["customers"]
    response = operator_client.post(
        changelist("customers.customer"), {"action": "sync_selected", "_selected_action": [c.pk for c in customers]},
    )
    start = reverse("admin:sync_syncrun_start")
    assert response.status_code == 302 and response["Location"].startswith(start + "?")
    assert not SyncRun.objects.filter(trigger="on-demand").exists()
    started = operator_client.post(start, {"customer": [c.pk for c in customers]})
    assert started.status_code == 302
    assert SyncRun.objects.filter(trigger="on-demand", customer__in=customers).count() == 2
