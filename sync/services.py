"""Starting a sync on request: a person's (or an API client's) "Sync now"."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit.services import record_action
from customers.models import Customer
from sync.models import SyncRun
from sync.report import start_run
from sync.steps import STEPS_PER_EXCHANGE, customer_exchanges


def sync_customer_now(
    *, customer: Customer, requested_by=None, trigger: str = SyncRun.Trigger.ON_DEMAND, exchange: str | None = None,
    reason: str = "Sync now",
) -> SyncRun:
    """Record a customer sync and hand it to a worker once this transaction commits.

    When a person (or an API client) asked for it (``requested_by``), the request is audited
    in the same transaction as the run. The returned run is what the admin page polls
    (``progress_done``/``progress_total``). A customer whose sync of the same scope is already
    running gets that run back: a second click joins the first instead of reading Parsec twice.
    """
    with transaction.atomic():
        # The customer's row lock makes two simultaneous clicks agree on one run.
        Customer.objects.select_for_update().filter(pk=customer.pk).values_list("pk").first()
        running = _running(customer_ids=[customer.pk]).filter(exchange=exchange or "").order_by("-started_at").first()
        if running is not None:
            return running
        run = start_run(
            kind=SyncRun.Kind.CUSTOMER_FULL, customer=customer, exchange=exchange or "", trigger=trigger, requested_by=requested_by,
            progress_total=len(customer_exchanges(customer, exchange)) * STEPS_PER_EXCHANGE,
        )
        if requested_by is not None:
            record_action(actor=requested_by, action="customer.sync", customer=customer, reason=reason,
                          request={"sync_run": run.pk, "exchange": exchange}, outcome="ok")
        enqueue_customer(run)
    return run


def enqueue_customer(run: SyncRun) -> None:
    """Hand a recorded customer run to a worker once the current transaction commits."""
    from sync.tasks import sync_customer

    transaction.on_commit(lambda: sync_customer.delay(run.customer_id, exchange=run.exchange or None, run_id=run.pk))


def _running(*, customer_ids):
    stale_before = timezone.now() - timedelta(seconds=settings.SYNC_RUN_STALE_SECONDS)
    return SyncRun.objects.filter(
        kind=SyncRun.Kind.CUSTOMER_FULL, status=SyncRun.Status.RUNNING, customer_id__in=customer_ids, started_at__gte=stale_before,
    )


def running_customer_ids(customers) -> set[int]:
    """Which of ``customers`` have a customer sync running now (a Sync now would join it)."""
    return set(_running(customer_ids=[c.pk for c in customers]).values_list("customer_id", flat=True))
