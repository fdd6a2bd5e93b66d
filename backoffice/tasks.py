from celery import shared_task
from django.utils import timezone

from backoffice.models import SchedulerHeartbeat


@shared_task(ignore_result=True)
def scheduler_heartbeat() -> None:
    """The scheduler is alive: the dashboard turns red when this has not run for a while."""
    SchedulerHeartbeat.objects.update_or_create(name="beat", defaults={"beat_at": timezone.now()})
