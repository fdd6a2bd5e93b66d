"""Thin Celery tasks: ids in (JSON), call a sync step, idempotent, enqueued after commit.

``acks_late`` + ``reject_on_worker_lost``: a worker killed mid-task leaves the message to be
redelivered; the sync converges on the same rows when it runs again (``core.upsert``). A run that
already finished is not redone when its message comes back.
"""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from customers.models import Customer
from customers.signals import customer_synced
from sync import schedule, steps
from sync.models import SyncRun
from sync.report import start_run

SYNC_TASK_OPTIONS = {
    "acks_late": True,
    "reject_on_worker_lost": True,
    "ignore_result": True,
    "time_limit": settings.SYNC_TASK_TIME_LIMIT,
    "soft_time_limit": max(1, settings.SYNC_TASK_TIME_LIMIT - 30),
}


def claim_run(run_id: int | None, **new_run) -> SyncRun | None:
    """The run to (re)do: a finished run is not redone when its message comes back."""
    if run_id is None:
        return start_run(**new_run)
    run = SyncRun.objects.filter(pk=run_id).first()
    if run is None or run.is_finished:
        return None
    return run


@shared_task(**SYNC_TASK_OPTIONS)
def sync_customer(customer_id: int, exchange: str | None = None, run_id: int | None = None) -> int | None:
    """One customer's orders, fills, positions and balance (every linked exchange, or one)."""
    if not Customer.objects.filter(pk=customer_id).exists():
        return None
    run = claim_run(run_id, kind=SyncRun.Kind.CUSTOMER_FULL, customer=Customer(pk=customer_id), exchange=exchange or "")
    if run is None:
        return None
    steps.sync_customer(run=run, exchange=exchange)
    if run.status != SyncRun.Status.FAILED:
        customer_synced.send(sender=SyncRun, customer_id=customer_id, run_id=run.pk)
    return run.pk


@shared_task(**SYNC_TASK_OPTIONS)
def sync_users(run_id: int | None = None) -> int | None:
    """Every end-user (with wallet and exchange links) through the builder users list."""
    run = claim_run(run_id, kind=SyncRun.Kind.USERS)
    if run is None:
        return None
    steps.sync_users(run=run)
    return run.pk


@shared_task(**SYNC_TASK_OPTIONS)
def sync_markets(run_id: int | None = None) -> int | None:
    """The market catalogue of the trading exchanges."""
    run = claim_run(run_id, kind=SyncRun.Kind.MARKETS)
    if run is None:
        return None
    steps.sync_markets(run=run)
    return run.pk


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True, time_limit=120, soft_time_limit=100)
def schedule_customer_syncs() -> int:
    """Beat's fan-out: a sync for each customer whose tier interval has passed."""
    return schedule.schedule_customer_syncs().progress_done
