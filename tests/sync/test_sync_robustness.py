"""Sync under the conditions that break naive mirrors: late reads, two workers at once, a
worker dying halfway, a customer Parsec refuses, a 429 burst."""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest
from django.db import connections
from django.urls import reverse

from customers.models import Customer
from orders.models import Fill, Order
from orders.sync import upsert_orders
from parsec.client import ParsecClient, get_client
from sync.models import SyncRun
from sync.report import start_run
from sync.schedule import schedule_customer_syncs
from sync.services import sync_customer_now
from sync.steps import sync_customer, sync_markets, sync_users
from sync.tasks import sync_customer as sync_customer_task
from tests import factories as f
from tests.parsec.sending import send_order
from tests.sandbox_client import as_user, new_customer, pick_markets, trade
from tests.sync.mirror_check import assert_mirror_matches, mirror_state


def prepare(sdk, count: int = 1) -> list[Customer]:
    markets = pick_markets(sdk)
    ids = [new_customer(sdk, prefix="robust") for _ in range(count)]
    for customer_id in ids:
        trade(sdk, customer_id, markets)
    sync_users(run=start_run(kind=SyncRun.Kind.USERS))
    sync_markets(run=start_run(kind=SyncRun.Kind.MARKETS))
    return list(Customer.objects.filter(parsec_customer_id__in=ids))


def full_sync(customer: Customer, **kwargs) -> SyncRun:
    return sync_customer(run=start_run(kind=SyncRun.Kind.CUSTOMER_FULL, customer=customer), **kwargs)



@pytest.mark.django_db
def test_status_never_goes_backward_when_an_older_read_arrives_late(sync_settings, sdk):
    (customer,) = prepare(sdk)
    cid = str(customer.parsec_customer_id)
    market = pick_markets(sdk)["kalshi"]
    book = sdk.orderbook.retrieve(parsec_id=market.parsec_id, outcome="Yes")
    client = get_client()
    placed = send_order(client, customer_id=cid, exchange="kalshi", market_id=market.exchange_market_id, outcome="Yes",
                                 side="buy", price=str(book.bids[0][0] - 0.05), size=3)
    cancelled = client.cancel_order(customer_id=cid, exchange="kalshi", order_id=placed.id)
    upsert_orders([cancelled], customer=customer, exchange="kalshi")
    late = upsert_orders([placed], customer=customer, exchange="kalshi")  # the "open" read, fetched earlier
    row = Order.objects.get(exchange="kalshi", parsec_order_id=placed.id)
    assert (late.written, row.status, row.updated_at) == (0, "cancelled", cancelled.updated_at)

    weird = replace(cancelled, status="expired_by_exchange")
    upsert_orders([weird], customer=customer, exchange="kalshi")
    row.refresh_from_db()
    assert (row.status, row.parsec_status) == ("cancelled", "expired_by_exchange")
    fresh = replace(placed, id=placed.id + "-new", status="mystery")
    upsert_orders([fresh], customer=customer, exchange="kalshi")
    assert Order.objects.get(parsec_order_id=fresh.id).status == Order.Status.UNKNOWN


@pytest.mark.django_db(transaction=True)
def test_two_syncs_at_once_leave_the_same_rows_as_one(sync_settings, sdk):
    customers = prepare(sdk, count=2)
    reference_customer = customers[0]
    errors = []

    def worker(customer):
        try:
            full_sync(customer)
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(c,)) for c in (*customers, *customers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors
    runs = SyncRun.objects.filter(kind=SyncRun.Kind.CUSTOMER_FULL)
    assert runs.count() == 4 and not runs.exclude(status=SyncRun.Status.SUCCEEDED).exists(), list(runs.values("status", "errors"))
    together = mirror_state([c.pk for c in customers])
    for customer in customers:
        assert_mirror_matches(sdk, customer)
    assert len(together["fills"]) == len({f[0] for f in together["fills"]})  # no duplicate fill
    assert full_sync(reference_customer).rows_created == 0 and mirror_state([c.pk for c in customers]) == together


class WorkerKilled(BaseException):
    """Stands for SIGKILL: not an Exception, so nothing in the sync catches it."""


class DyingClient(ParsecClient):
    """A real client (real HTTP to the sandbox) whose process 'dies' at its first positions read."""

    def list_positions(self, **kwargs):
        raise WorkerKilled


@pytest.mark.django_db
def test_a_sync_killed_halfway_and_redelivered_converges(sync_settings, sdk, eager_celery):
    (customer,) = prepare(sdk)
    run = start_run(kind=SyncRun.Kind.CUSTOMER_FULL, customer=customer, trigger=SyncRun.Trigger.ON_DEMAND)  # step-by-step progress: how far it got
    dying = DyingClient(base_url=sync_settings.PARSEC_API_BASE_URL, api_key=sync_settings.PARSEC_API_KEY)
    with pytest.raises(WorkerKilled):
        sync_customer(run=run, client=dying)
    run.refresh_from_db()
    assert run.status == SyncRun.Status.RUNNING and run.progress_done == 2  # orders and fills were written
    half = set(Order.objects.filter(customer=customer).values_list("pk", "parsec_order_id"))
    assert half and Fill.objects.filter(customer=customer).exists()

    sync_customer_task.delay(customer.pk, run_id=run.pk)  # the broker redelivers the same message
    run.refresh_from_db()
    assert run.status == SyncRun.Status.SUCCEEDED and run.rows_created > 0
    assert half < set(Order.objects.filter(customer=customer).values_list("pk", "parsec_order_id"))  # kept, not redone
    assert_mirror_matches(sdk, customer)
    sync_customer_task.delay(customer.pk, run_id=run.pk)  # a late duplicate of a finished run is a no-op
    assert SyncRun.objects.filter(customer=customer).count() == 1


@pytest.mark.django_db
def test_one_customer_failing_does_not_stop_the_others(sync_settings, sdk, eager_celery, django_capture_on_commit_callbacks):
    good = prepare(sdk, count=2)
    unknown = f.customer(parsec_customer_id="00000000-0000-4000-8000-000000000001", external_id="not-at-parsec")
    unknown.exchange_links.create(exchange="polymarket")
    Customer.objects.filter(pk__in=[c.pk for c in good]).update(last_full_sync_at=None)
    with django_capture_on_commit_callbacks(execute=True):
        fan_out = schedule_customer_syncs()
    assert fan_out.status == SyncRun.Status.SUCCEEDED and fan_out.progress_done >= 3
    failed = SyncRun.objects.get(customer=unknown, kind=SyncRun.Kind.CUSTOMER_FULL)
    assert failed.status == SyncRun.Status.FAILED and failed.errors[0]["code"] == "unauthorized"
    for customer in good:
        run = SyncRun.objects.get(customer=customer, kind=SyncRun.Kind.CUSTOMER_FULL)
        assert run.status == SyncRun.Status.SUCCEEDED, run.errors
        assert_mirror_matches(sdk, customer)
    with django_capture_on_commit_callbacks(execute=True):
        again = schedule_customer_syncs()
    assert not SyncRun.objects.filter(pk__gt=again.pk, customer__in=good).exists()  # synced just now: not due


@pytest.mark.django_db
def test_a_429_burst_is_waited_out_without_failing_the_run(sync_settings, sdk, still_sandbox):
    (customer,) = prepare(sdk)
    sync_settings.PARSEC_READ_RETRIES = 0  # the sync itself, not the gateway's retry, must wait it out
    still_sandbox.control("POST", "faults", json={"kind": "rate_limit", "endpoint": "fills", "count": 2, "retry_after": 1})
    try:
        run = full_sync(customer)
    finally:
        still_sandbox.control("DELETE", "faults")
    assert run.status == SyncRun.Status.SUCCEEDED, run.errors
    assert run.calls_made >= 10  # 8 reads + the two refused ones
    assert_mirror_matches(sdk, customer)


@pytest.mark.django_db
def test_sync_now_from_the_customer_page_shows_progress_until_done(sync_settings, sdk, operator_client, eager_celery, django_capture_on_commit_callbacks):
    (customer,) = prepare(sdk)
    with django_capture_on_commit_callbacks(execute=True):
        response = operator_client.post(reverse("admin:sync_syncrun_start"), {"customer": customer.pk})
    run = SyncRun.objects.get(customer=customer, kind=SyncRun.Kind.CUSTOMER_FULL)
    assert response.status_code == 302 and response["Location"] == reverse("admin:sync_syncrun_change", args=[run.pk])
    assert run.trigger == SyncRun.Trigger.ON_DEMAND and run.requested_by.username == "olivia.operator"
    assert run.status == SyncRun.Status.SUCCEEDED and run.progress_done == run.progress_total == 8
    fragment = operator_client.get(reverse("admin:sync_syncrun_progress", args=[run.pk])).content.decode()
    assert "8 / 8" in fragment and "hx-get" not in fragment  # finished: polling stops

    pending = sync_customer_now(customer=customer)  # enqueued after commit: nothing ran yet
    page = operator_client.get(reverse("admin:sync_syncrun_progress", args=[pending.pk])).content.decode()
    assert "hx-get" in page and 'hx-trigger="every 1s"' in page


@pytest.mark.django_db
def test_sync_parsec_command_runs_and_reports(sync_settings, sdk, capsys):
    from django.core.management import call_command
    from django.core.management.base import CommandError

    (customer,) = prepare(sdk)
    call_command("sync_parsec", "--customer", customer.external_id)
    out = capsys.readouterr().out
    assert f"Customer (full) {customer.external_id}: succeeded" in out
    with pytest.raises(CommandError, match="no customer"):
        call_command("sync_parsec", "--customer", "nobody-here")
    with pytest.raises(CommandError, match="say what to sync"):
        call_command("sync_parsec")
    assert_mirror_matches(sdk, customer)
    assert as_user  # helper shared with the other modules
