"""Surveillance runs: after every customer sync (``customers.signals.customer_synced``), and on beat.

The sync knows nothing of compliance: it announces that a customer was read, and this app
listens. A sync that failed outright announces nothing, so no alert is raised from stale data.
"""

from __future__ import annotations

import logging

from celery import shared_task

logger = logging.getLogger(__name__)


@shared_task(acks_late=True, ignore_result=True, time_limit=300, soft_time_limit=270)
def run_surveillance(customer_id: int | None = None) -> dict:
    """Run every rule for one customer (after its sync) or for everyone (beat)."""
    from compliance.surveillance import run_surveillance as run

    result = run(customer_ids=None if customer_id is None else [customer_id])
    return {"hits": result.hits, "raised": result.raised, "per_rule": result.per_rule}


def surveil_after_customer_sync(sender=None, customer_id: int | None = None, **kwargs) -> None:
    if customer_id is None:
        return
    try:
        run_surveillance.delay(customer_id)
    except Exception:  # a broker hiccup must not fail the sync that already succeeded
        logger.exception("could not enqueue surveillance for customer %s", customer_id)
