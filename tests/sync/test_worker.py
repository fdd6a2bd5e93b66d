"""A real worker on Redis killed mid-task (SIGKILL): the task is redelivered and the mirror
ends complete, with no duplicate. Production-shape pass only (PostgreSQL + Redis)."""

from __future__ import annotations

import time

import pytest

from customers.models import Customer
from orders.models import Fill, Order
from sync.models import SyncRun
from sync.report import start_run
from sync.steps import sync_markets, sync_users
from sync.tasks import sync_customer
from tests.sandbox_client import new_customer, pick_markets, trade
from tests.sync.mirror_check import assert_mirror_matches

pytestmark = pytest.mark.worker


def wait_for(predicate, timeout: float, what: str, logs=lambda: ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}\n{logs()}")


def test_worker_killed_mid_task_is_redelivered_and_the_mirror_converges(sync_settings, sdk, still_sandbox, celery_worker_process):
    markets = pick_markets(sdk)
    customer_id = new_customer(sdk, prefix="worker")
    trade(sdk, customer_id, markets)
    sync_users(run=start_run(kind=SyncRun.Kind.USERS))
    sync_markets(run=start_run(kind=SyncRun.Kind.MARKETS))
    customer = Customer.objects.get(parsec_customer_id=customer_id)
    run = start_run(kind=SyncRun.Kind.CUSTOMER_FULL, customer=customer, trigger=SyncRun.Trigger.ON_DEMAND)  # step-by-step progress: how far it got

    # Positions answer slowly, so the worker is caught after writing orders and fills.
    still_sandbox.control("POST", "faults", json={"kind": "latency", "endpoint": "positions", "latency_ms": 8000, "customer_id": customer_id})
    try:
        first = celery_worker_process.start(CELERY_VISIBILITY_TIMEOUT=6)
        sync_customer.delay(customer.pk, run_id=run.pk)
        wait_for(lambda: SyncRun.objects.get(pk=run.pk).progress_done >= 2, 60, "the first worker to get halfway", celery_worker_process.logs)
        celery_worker_process.kill(first)
    finally:
        still_sandbox.control("DELETE", "faults")
    run.refresh_from_db()
    assert run.status == SyncRun.Status.RUNNING and Order.objects.filter(customer=customer).exists()

    celery_worker_process.start(CELERY_VISIBILITY_TIMEOUT=6)
    wait_for(lambda: SyncRun.objects.get(pk=run.pk).is_finished, 90, "the redelivered task to finish", celery_worker_process.logs)
    run.refresh_from_db()
    assert run.status == SyncRun.Status.SUCCEEDED, run.errors
    assert SyncRun.objects.filter(customer=customer).count() == 1
    assert_mirror_matches(sdk, customer)
    ids = list(Fill.objects.filter(customer=customer).values_list("fill_id", flat=True))
    assert len(ids) == len(set(ids))
