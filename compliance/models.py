"""What the compliance team works on: surveillance alerts and their reviews."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class Alert(models.Model):
    """One surveillance hit: which rule, about whom, and the rows that triggered it.

    ``dedup_key`` names the hit (rule + customer + the evidence's identity), so running the
    rules again after every sync never raises the same alert twice. The workflow is
    open → assigned → reviewed → closed, driven only by ``compliance.services``.
    """

    class Rule(models.TextChoices):
        INSIDER = "insider", "Bought the winner shortly before the market ended"
        CONCENTRATION = "concentration", "Concentration in one market or event"
        SELF_CROSSING = "self_crossing", "Self-crossing between customers sharing a wallet"
        LAYERING = "layering", "High cancel-to-fill ratio (layering)"
        SIZE_CHANGE = "size_change", "Sudden change in size vs own history"
        LARGE_NOTIONAL = "large_notional", "Large notional with little history"

    class Severity(models.TextChoices):
        LOW = "low", "Low"
        MEDIUM = "medium", "Medium"
        HIGH = "high", "High"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        ASSIGNED = "assigned", "Assigned"
        REVIEWED = "reviewed", "Reviewed"
        CLOSED = "closed", "Closed"

    OPEN_STATUSES = ("open", "assigned", "reviewed")

    rule = models.CharField(max_length=32, choices=Rule.choices)
    severity = models.CharField(max_length=8, choices=Severity.choices, default=Severity.MEDIUM)
    customer = models.ForeignKey("customers.Customer", on_delete=models.PROTECT, related_name="alerts")
    dedup_key = models.CharField(max_length=255, unique=True)
    title = models.CharField(max_length=255)
    detail = models.TextField(blank=True)
    # [{"type": "order" | "fill" | "position" | "settlement" | "market" | "intent" | "customer", "id": pk, "label": str}]
    evidence = models.JSONField(default=list, blank=True)
    figures = models.JSONField(default=dict, blank=True, help_text="The measured values and the thresholds.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    raised_at = models.DateTimeField(default=timezone.now)
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
    )
    assigned_at = models.DateTimeField(null=True, blank=True)
    # Who asked for the order(s) behind the alert and who approved them (four eyes), when staff did.
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    approved_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["-raised_at", "-id"]
        permissions = [
            ("review_alert", "Can assign, review and close surveillance alerts"),
            ("export_activity", "Can export a customer's activity and statements"),
        ]
        indexes = [
            models.Index(fields=["status", "-raised_at"], name="alert_status_idx"),
            models.Index(fields=["customer", "-raised_at"], name="alert_customer_idx"),
            models.Index(fields=["rule", "-raised_at"], name="alert_rule_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status="open") | models.Q(assigned_to__isnull=False), name="alert_assigned_has_user",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_rule_display()}: {self.title}"

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN_STATUSES


class Review(models.Model):
    """A reviewer's decision on one alert; immutable once closed (a database trigger refuses)."""

    class Disposition(models.TextChoices):
        NO_ISSUE = "no_issue", "No issue (false positive)"
        EXPLAINED = "explained", "Explained by the customer / context"
        ESCALATED = "escalated", "Escalated"
        SAR_FILED = "sar_filed", "Reported to the authority"

    alert = models.OneToOneField(Alert, on_delete=models.PROTECT, related_name="review")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    disposition = models.CharField(max_length=16, choices=Disposition.choices)
    note = models.TextField()
    reviewed_at = models.DateTimeField(default=timezone.now)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
    )
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-reviewed_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=~models.Q(note=""), name="review_note_required"),
            models.CheckConstraint(
                condition=models.Q(closed_at__isnull=True, closed_by__isnull=True)
                | models.Q(closed_at__isnull=False, closed_by__isnull=False),
                name="review_closed_has_closer",
            ),
        ]

    def __str__(self) -> str:
        return f"Review of alert {self.alert_id}: {self.get_disposition_display()}"

    def save(self, *args, **kwargs) -> None:
        if self.pk and Review.objects.filter(pk=self.pk, closed_at__isnull=False).exists():
            raise ValueError("a closed review is immutable")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("reviews are kept; a review is never deleted")

    @property
    def is_closed(self) -> bool:
        return self.closed_at is not None
