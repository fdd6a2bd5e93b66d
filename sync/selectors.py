"""Reads of the sync runs that more than one caller needs (admin, API, dashboard)."""

from __future__ import annotations

from django.db.models import F, OuterRef, QuerySet, Subquery

from sync.models import SyncRun


def sync_run_list() -> QuerySet[SyncRun]:
    return SyncRun.objects.select_related("customer", "requested_by")


def latest_sync_runs() -> list[SyncRun]:
    """The most recent run of each kind, to tell at a glance whether sync is healthy and how far behind."""
    newest = SyncRun.objects.filter(kind=OuterRef("kind")).order_by("-started_at", "-id").values("pk")[:1]
    return list(
        SyncRun.objects.annotate(newest_pk=Subquery(newest)).filter(pk=F("newest_pk"))
        .select_related("customer").order_by("kind")
    )
