"""Writes that mean something for customers. Sync-related: start a sync and enqueue it."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from customers.models import Customer, SyncRun
from customers.sync import STEPS_PER_EXCHANGE, customer_exchanges, start_run


def sync_customer_now(
    *, customer: Customer, requested_by=None, trigger: str = SyncRun.Trigger.ON_DEMAND, exchange: str | None = None,
    reason: str = "Sync now",
) -> SyncRun:
    """Record a customer sync and hand it to a worker once this transaction commits.

    When a person (or an API client) asked for it (``requested_by``), the request is audited
    in the same transaction as the run. The returned run is what the admin page polls
    (``progress_done``/``progress_total``).
    """
    from compliance.services import record_action

    with transaction.atomic():
        run = start_run(
            kind=SyncRun.Kind.CUSTOMER_FULL, customer=customer, exchange=exchange or "", trigger=trigger, requested_by=requested_by,
            progress_total=len(customer_exchanges(customer, exchange)) * STEPS_PER_EXCHANGE,
        )
        if requested_by is not None:
            record_action(actor=requested_by, action="customer.sync", customer=customer, reason=reason,
                          request={"sync_run": run.pk, "exchange": exchange}, outcome="ok")
        _enqueue_customer(run)
    return run


def _enqueue_customer(run: SyncRun) -> None:
    from customers.tasks import sync_customer

    transaction.on_commit(lambda: sync_customer.delay(run.customer_id, exchange=run.exchange or None, run_id=run.pk))


def estimated_calls_per_customer() -> int:
    """Calls one full customer sync makes on each linked trading exchange (orders list,
    fills, positions, balance) plus one poll for a live order on average."""
    return STEPS_PER_EXCHANGE + 1


def fan_out_budget() -> int:
    """How many customer syncs one fan-out may enqueue so that they fit in the pool's share
    for sync until the next fan-out (two exchanges per customer at most)."""
    pool = float(settings.PARSEC_POOL_QPS) * float(settings.PARSEC_POOL_HEADROOM) * float(settings.SYNC_POOL_SHARE)
    calls = estimated_calls_per_customer() * 2
    return max(1, int(pool * settings.SYNC_SCHEDULE_INTERVAL / calls))


def due_customers(*, now=None, limit: int | None = None) -> list[int]:
    """Active customers first, then dormant ones, each once its tier's interval has passed;
    customers with a run in progress are skipped (a dead worker's run goes stale)."""
    now = now or timezone.now()
    limit = fan_out_budget() if limit is None else limit
    active_since = now - timezone.timedelta(seconds=settings.SYNC_ACTIVE_WINDOW)
    busy = SyncRun.objects.filter(
        kind=SyncRun.Kind.CUSTOMER_FULL, status=SyncRun.Status.RUNNING,
        started_at__gte=now - timezone.timedelta(seconds=settings.SYNC_RUN_STALE_SECONDS), customer__isnull=False,
    ).values("customer_id")
    base = Customer.objects.filter(status=Customer.Status.ACTIVE).exclude(pk__in=busy)

    def due(interval: int) -> Q:
        return Q(last_full_sync_at__isnull=True) | Q(last_full_sync_at__lt=now - timezone.timedelta(seconds=interval))

    active = base.filter(Q(last_activity_at__gte=active_since) & due(settings.SYNC_ACTIVE_INTERVAL))
    dormant = base.filter((Q(last_activity_at__isnull=True) | Q(last_activity_at__lt=active_since)) & due(settings.SYNC_DORMANT_INTERVAL))
    order = ("last_full_sync_at", "pk")
    picked = list(active.order_by(*order).values_list("pk", flat=True)[:limit])
    if len(picked) < limit:
        picked += list(dormant.order_by(*order).values_list("pk", flat=True)[: limit - len(picked)])
    return picked


def schedule_customer_syncs(*, now=None) -> SyncRun:
    """The beat's fan-out: one run per due customer, enqueued after commit; a run of its own."""
    now = now or timezone.now()
    fan_out = start_run(kind=SyncRun.Kind.SCHEDULE)
    with transaction.atomic():
        ids = due_customers(now=now)
        runs = SyncRun.objects.bulk_create(
            [SyncRun(kind=SyncRun.Kind.CUSTOMER_FULL, customer_id=pk, trigger=SyncRun.Trigger.BEAT) for pk in ids]
        )
        if any(run.pk is None for run in runs):  # backends without RETURNING: read them back
            runs = list(SyncRun.objects.filter(kind=SyncRun.Kind.CUSTOMER_FULL, customer_id__in=ids, started_at__gte=now, status=SyncRun.Status.RUNNING))
        for run in runs:
            _enqueue_customer(run)
    finished = max(timezone.now(), fan_out.started_at)
    SyncRun.objects.filter(pk=fan_out.pk).update(
        status=SyncRun.Status.SUCCEEDED, finished_at=finished, progress_done=len(runs), progress_total=len(runs),
    )
    fan_out.refresh_from_db()
    return fan_out
