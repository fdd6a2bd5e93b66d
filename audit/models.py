"""The append-only audit log: one row per operator action, hash-chained."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class AuditEvent(models.Model):
    """One operator action, written once and never changed.

    A database trigger refuses UPDATE and DELETE (see ``audit.triggers``) and each row
    carries ``hash`` = sha256(canonical content + ``prev_hash``), so that editing a row with the
    trigger disabled still shows up in ``manage.py verify_audit_log``. Rows are written only by
    ``audit.services.record_action``.
    """

    class Outcome(models.TextChoices):
        OK = "ok", "OK"
        REJECTED = "rejected", "Rejected"
        ERROR = "error", "Error"
        UNKNOWN = "unknown", "Unknown"

    seq = models.PositiveBigIntegerField(unique=True, editable=False)
    at = models.DateTimeField(db_index=True, editable=False)
    # The staff user (kept: a user who acted cannot be deleted, only deactivated) and how the
    # actor was named at the time: a username, an API token identity or "system".
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
    )
    actor_name = models.CharField(max_length=255)
    action = models.CharField(max_length=100, db_index=True)
    customer = models.ForeignKey(
        "customers.Customer", null=True, blank=True, on_delete=models.PROTECT, related_name="audit_events",
    )
    # The Parsec customer id as given, kept even when no mirrored customer matches it.
    customer_ref = models.CharField("Parsec customer id", max_length=64, blank=True)
    reason = models.TextField(blank=True)
    request = models.JSONField(default=dict, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, db_index=True)
    response = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64, blank=True, editable=False)
    hash = models.CharField(max_length=64, unique=True, editable=False)

    class Meta:
        ordering = ["-seq"]
        verbose_name = "audit event"
        db_table = "compliance_auditevent"  # created by compliance's first migration, moved here with its rows
        indexes = [
            models.Index(fields=["customer_ref", "-seq"], name="auditevent_customer_seq"),
            models.Index(fields=["action", "-seq"], name="auditevent_action_seq"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(outcome__in=["ok", "rejected", "error", "unknown"]), name="auditevent_outcome_known",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} by {self.actor_name} ({self.outcome})"
