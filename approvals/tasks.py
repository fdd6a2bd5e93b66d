"""The beat's expiry of four-eyes requests nobody decided in time."""

from celery import shared_task


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True, time_limit=120, soft_time_limit=100)
def expire_approval_requests() -> int:
    from approvals.services import expire_due_requests

    return expire_due_requests()
