"""Surveillance runs: after every customer sync (a Celery signal on the sync task), and on beat.

The hook listens to ``task_success`` of ``customers.tasks.sync_customer`` rather than editing
the sync: the sync knows nothing of compliance, and a failed sync raises no alert from stale data.
"""

from __future__ import annotations

import logging

from celery import shared_task
from celery.signals import task_success

logger = logging.getLogger(__name__)

SYNC_TASK_NAME = "customers.tasks.sync_customer"


@shared_task(acks_late=True, ignore_result=True, time_limit=300, soft_time_limit=270)
def run_surveillance(customer_id: int | None = None) -> dict:
    """Run every rule for one customer (after its sync) or for everyone (beat)."""
    from compliance.surveillance import run_surveillance as run

    result = run(customer_ids=None if customer_id is None else [customer_id])
    return {"hits": result.hits, "raised": result.raised, "per_rule": result.per_rule}


@task_success.connect
def surveil_after_customer_sync(sender=None, result=None, **kwargs) -> None:
    if getattr(sender, "name", None) != SYNC_TASK_NAME or not result:
        return
    from customers.models import SyncRun

    customer_id = SyncRun.objects.filter(pk=result).values_list("customer_id", flat=True).first()
    if customer_id is None:
        return
    try:
        run_surveillance.delay(customer_id)
    except Exception:  # a broker hiccup must not fail the sync that already succeeded
        logger.exception("could not enqueue surveillance for customer %s", customer_id)
