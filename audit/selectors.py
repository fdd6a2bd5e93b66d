"""Reads of the audit log that more than one page needs."""

from __future__ import annotations

from django.db.models import QuerySet

from audit.models import AuditEvent


def audit_events_for_customer(customer, limit: int = 50) -> QuerySet[AuditEvent]:
    """The newest ``limit`` audit events about ``customer`` (every row names it by its Parsec id)."""
    return (
        AuditEvent.objects.filter(customer_ref=str(customer.parsec_customer_id))
        .select_related("actor")
        .order_by("-seq")[:limit]
    )
