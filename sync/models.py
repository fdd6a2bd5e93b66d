"""What each sync did: one row per run, so an operator sees sync health at a glance."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from core import formatting
from customers.enums import Exchange


class SyncRun(models.Model):
    """One sync of one kind and scope: what it did, so an operator sees sync health at a glance."""

    class Kind(models.TextChoices):
        USERS = "users", "End-users"
        ORDERS = "orders", "Orders"
        FILLS = "fills", "Fills"
        POSITIONS = "positions", "Positions"
        BALANCES = "balances", "Balances"
        MARKETS = "markets", "Markets"
        CUSTOMER_FULL = "customer-full", "Customer (full)"
        SCHEDULE = "schedule", "Schedule fan-out"

    class Trigger(models.TextChoices):
        BEAT = "beat", "Schedule"
        ON_DEMAND = "on-demand", "On demand"
        COMMAND = "command", "Management command"

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        PARTIAL = "partial", "Partial"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    customer = models.ForeignKey("customers.Customer", null=True, blank=True, on_delete=models.SET_NULL, related_name="sync_runs")
    exchange = models.CharField(max_length=16, choices=Exchange.choices, blank=True)
    trigger = models.CharField(max_length=16, choices=Trigger.choices, default=Trigger.BEAT)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
    )
    task_id = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    calls_made = models.PositiveIntegerField(default=0)
    rows_created = models.PositiveIntegerField(default=0)
    rows_updated = models.PositiveIntegerField(default=0)
    rows_unchanged = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        db_table = "customers_syncrun"  # created by customers' first migration, moved here with its rows
        ordering = ["-started_at", "-id"]
        get_latest_by = "started_at"
        indexes = [
            models.Index(fields=["kind", "-started_at"], name="syncrun_kind_idx"),
            models.Index(fields=["customer", "-started_at"], name="syncrun_customer_idx"),
            models.Index(fields=["status", "-started_at"], name="syncrun_status_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(progress_total__isnull=True) | Q(progress_done__lte=models.F("progress_total")),
                name="syncrun_progress_within_total",
            ),
            models.CheckConstraint(
                condition=Q(finished_at__isnull=True) | Q(finished_at__gte=models.F("started_at")),
                name="syncrun_finishes_after_start",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {formatting.when(self.started_at)}"

    @property
    def is_finished(self) -> bool:
        return self.status != self.Status.RUNNING

    @property
    def duration(self):
        return (self.finished_at - self.started_at) if self.finished_at else None

    @property
    def progress_percent(self) -> int | None:
        if not self.progress_total:
            return 100 if self.is_finished else None
        return min(100, self.progress_done * 100 // self.progress_total)
