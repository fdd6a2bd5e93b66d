"""Service-account tokens and idempotency records: the API's own tables.

A token is shown once, when it is issued; the database keeps its prefix (to find it) and a
SHA-256 of the whole token (to check it). Tokens are 256-bit random strings, so a plain hash
is as strong as a password hash here and costs microseconds per request.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from core.roles import COMPLIANCE, OPERATIONS


class ApiToken(models.Model):
    """A service account's credential, bound to one role and revocable."""

    class Role(models.TextChoices):
        OPERATIONS = OPERATIONS, "Operations"
        COMPLIANCE = COMPLIANCE, "Compliance"

    name = models.CharField(max_length=100, help_text="Which tool or service uses it.")
    role = models.CharField(max_length=32, choices=Role.choices)
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    token_hash = models.CharField(max_length=64, editable=False)
    # The service account the token acts as: it carries the role's permissions, so the API
    # checks a token exactly as it checks a staff user, and services get a user to record.
    service_user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="api_token", editable=False,
    )
    throttle_rate = models.CharField(
        max_length=16, blank=True, help_text='Requests allowed, e.g. "600/min"; empty = API_TOKEN_THROTTLE_RATE.',
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False,
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False,
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "API token"
        constraints = [
            models.CheckConstraint(condition=Q(role__in=[OPERATIONS, COMPLIANCE]), name="apitoken_role_known"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def identity(self) -> str:
        """How the audit log names this token."""
        return f"api-token:{self.prefix} ({self.name})"

    @property
    def is_usable(self) -> bool:
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > timezone.now()


class IdempotencyRecord(models.Model):
    """One ``Idempotency-Key`` of one caller: claimed before the work, completed with its response.

    The claim is committed on its own before the work starts, so a crash leaves the record
    ``in_flight`` with a lease; once the lease has passed, a retry with the same key and body
    takes it over and resumes from ``resource`` (e.g. the order intent already written).
    """

    class Status(models.TextChoices):
        IN_FLIGHT = "in_flight", "In flight"
        COMPLETED = "completed", "Completed"

    principal = models.CharField(max_length=64, help_text='Whose key: "token:<id>" or "user:<id>".')
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=500)
    request_hash = models.CharField(max_length=64)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.IN_FLIGHT)
    attempts = models.PositiveIntegerField(default=1)
    locked_until = models.DateTimeField()
    resource = models.JSONField(default=dict, blank=True, help_text="What the work created so far, for a resumed retry.")
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["principal", "key"], name="idempotency_key_unique_per_principal"),
            models.CheckConstraint(
                condition=Q(status="in_flight") | Q(response_status__isnull=False), name="idempotency_completed_has_response",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.method} {self.path} [{self.key}] {self.status}"
