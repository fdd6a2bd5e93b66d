from django.db import models


class SchedulerHeartbeat(models.Model):
    """When the beat's heartbeat task last ran: sent by the scheduler every
    SCHEDULER_HEARTBEAT_INTERVAL and run by a worker, so it stops when either does."""

    name = models.CharField(max_length=32, unique=True)
    beat_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} at {self.beat_at:%Y-%m-%d %H:%M:%S}"
