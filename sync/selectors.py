"""Reads of the sync runs that more than one caller needs (admin, API, dashboard)."""

from __future__ import annotations

from django.db.models import QuerySet

from sync.models import SyncRun


def sync_run_list() -> QuerySet[SyncRun]:
    return SyncRun.objects.select_related("customer", "requested_by")
