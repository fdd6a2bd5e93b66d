from celery import shared_task

from api import idempotency


@shared_task(ignore_result=True)
def prune_idempotency_records() -> int:
    """Delete Idempotency-Key records past their expiry (kept at least 24 hours)."""
    return idempotency.prune()
