"""Thin Celery tasks for the orders mirror (ids in, call a sync, idempotent)."""

from __future__ import annotations

from celery import shared_task

from customers.models import SyncRun
from customers.tasks import SYNC_TASK_OPTIONS, claim_run
from orders import sync


@shared_task(**SYNC_TASK_OPTIONS)
def sync_markets(run_id: int | None = None) -> int | None:
    """The market catalogue of the trading exchanges."""
    run = claim_run(run_id, kind=SyncRun.Kind.MARKETS)
    if run is None:
        return None
    sync.sync_markets(run=run)
    return run.pk


@shared_task(ignore_result=True, acks_late=True, time_limit=300, soft_time_limit=240)
def check_fee_escrow() -> dict:
    """The beat job of issue 6: re-derive open or flagged escrow records and compare them with the escrow."""
    from orders.escrow import check_open_records

    return check_open_records()
