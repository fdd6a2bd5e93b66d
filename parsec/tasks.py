"""Housekeeping for the gateway's own tables."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from .models import OutboundCall

PRUNE_BATCH = 5_000


@shared_task(acks_late=True, ignore_result=True)
def prune_call_log() -> int:
    """Delete call-log rows older than PARSEC_CALL_LOG_RETENTION_DAYS, in short batches
    (each its own statement, so no long lock on a busy table). Idempotent."""
    cutoff = timezone.now() - timedelta(days=settings.PARSEC_CALL_LOG_RETENTION_DAYS)
    deleted = 0
    while True:
        ids = list(OutboundCall.objects.filter(created_at__lt=cutoff).order_by().values_list("pk", flat=True)[:PRUNE_BATCH])
        if not ids:
            return deleted
        deleted += OutboundCall.objects.filter(pk__in=ids).delete()[0]
