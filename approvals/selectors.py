"""Reads of four-eyes requests shared by the dashboard and the sidebar."""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils import timezone

from approvals.models import ApprovalRequest


def waiting_for(user) -> QuerySet:
    """Pending, unexpired requests ``user`` may decide: anyone's but their own."""
    return (ApprovalRequest.objects.filter(status=ApprovalRequest.Status.PENDING, expires_at__gt=timezone.now())
            .exclude(requested_by=user))


def waiting_count(request) -> int:
    """How many requests wait for this request's user (counted once per request: the sidebar and
    the dashboard both show it)."""
    if not hasattr(request, "_approvals_waiting"):
        request._approvals_waiting = waiting_for(request.user).count()
    return request._approvals_waiting
