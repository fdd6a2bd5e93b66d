"""The beat's fan-out: which customers are due a sync, within the pool's share for sync.

Active customers (activity in the last ``SYNC_ACTIVE_WINDOW``) are refreshed every
``SYNC_ACTIVE_INTERVAL``, dormant ones every ``SYNC_DORMANT_INTERVAL``; one fan-out enqueues at
most what fits in the pool until the next one (README: "How sync scales").
"""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from customers.models import Customer
from sync.models import SyncRun
from sync.report import start_run
from sync.services import enqueue_customer
from sync.steps import STEPS_PER_EXCHANGE


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
            enqueue_customer(run)
    finished = max(timezone.now(), fan_out.started_at)
    SyncRun.objects.filter(pk=fan_out.pk).update(
        status=SyncRun.Status.SUCCEEDED, finished_at=finished, progress_done=len(runs), progress_total=len(runs),
    )
    fan_out.refresh_from_db()
    return fan_out
