"""Four eyes: a request that a second Operations user must approve before its action runs."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone


class ApprovalRequest(models.Model):
    """A four-eyes request: an action a second Operations user must approve before it runs.

    Generic on purpose: ``action`` names what will run (``order.place``, ``customer.deactivate``)
    and ``payload`` carries its (non-secret) arguments; the apps register what each action does
    once approved (``approvals.services.register``).
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        EXPIRED = "expired", "Expired"
        WITHDRAWN = "withdrawn", "Withdrawn"

    action = models.CharField(max_length=64)
    payload = models.JSONField(default=dict, blank=True)
    summary = models.CharField(max_length=255, blank=True)
    customer = models.ForeignKey("customers.Customer", null=True, blank=True, on_delete=models.PROTECT, related_name="approval_requests")
    reason = models.TextField("why", blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING, db_index=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True)
    result = models.JSONField(default=dict, blank=True, help_text="What running the action returned.")

    class Meta:
        db_table = "orders_approvalrequest"  # created by orders' trading migration, moved here with its rows
        ordering = ["-requested_at", "-id"]
        permissions = [("approve_request", "Can approve another operator's request")]
        constraints = [
            models.CheckConstraint(
                condition=Q(decided_by__isnull=True) | ~Q(decided_by=F("requested_by")), name="approval_not_by_maker",
            ),
            models.CheckConstraint(condition=Q(expires_at__gt=F("requested_at")), name="approval_expires_after_request"),
        ]
        indexes = [models.Index(fields=["status", "expires_at"], name="approval_pending_idx")]

    def __str__(self) -> str:
        return f"{self.action} by {self.requested_by} ({self.get_status_display()})"

    @property
    def is_expired(self) -> bool:
        return self.status == self.Status.PENDING and self.expires_at <= timezone.now()
