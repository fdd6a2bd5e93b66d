"""The review workflow of surveillance alerts: alert → assigned → reviewed → closed.

Every step is audited through ``audit.services.record_action``.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import record_action
from core.errors import DomainError


class ReviewError(DomainError):
    """A review step that cannot happen (wrong state, missing note, not allowed)."""

    code_kinds = {"forbidden": "forbidden", "wrong_state": "conflict", "not_assignee": "conflict"}


REVIEW_PERMISSION = "compliance.review_alert"


def _require_reviewer(actor) -> None:
    if not (actor is not None and getattr(actor, "is_authenticated", False) and actor.has_perm(REVIEW_PERMISSION)):
        raise ReviewError("Only Compliance reviewers may work on alerts.", code="forbidden")


def _alert_request(alert) -> dict:
    return {"alert_id": alert.pk, "rule": alert.rule, "title": alert.title, "dedup_key": alert.dedup_key}


def assign_alert(*, alert, actor, assignee=None):
    """Take (or hand) an open or assigned alert; ``assignee`` defaults to the actor."""
    from compliance.models import Alert

    _require_reviewer(actor)
    assignee = assignee or actor
    if not assignee.has_perm(REVIEW_PERMISSION):
        raise ReviewError(f"{assignee.get_username()} is not a Compliance reviewer.", code="not_a_reviewer", field="assignee")
    moved = Alert.objects.filter(pk=alert.pk, status__in=[Alert.Status.OPEN, Alert.Status.ASSIGNED]).update(
        status=Alert.Status.ASSIGNED, assigned_to=assignee, assigned_at=timezone.now(),
    )
    alert.refresh_from_db()
    if not moved:
        raise ReviewError(f"This alert is already {alert.get_status_display().lower()}; it cannot be reassigned.",
                          code="wrong_state")
    record_action(actor=actor, action="alert.assign", customer=alert.customer, request=_alert_request(alert),
                  outcome=AuditEvent.Outcome.OK, response={"assigned_to": assignee.get_username()})
    return alert


def review_alert(*, alert, actor, disposition: str, note: str):
    """Record the assigned reviewer's disposition and note; the alert becomes ``reviewed``."""
    from compliance.models import Alert, Review

    _require_reviewer(actor)
    note = (note or "").strip()
    if disposition not in Review.Disposition.values:
        raise ReviewError("Choose a disposition.", code="invalid_disposition", field="disposition")
    if not note:
        raise ReviewError("Write a note saying what you checked and why you decided so.", code="note_required", field="note")
    with transaction.atomic():
        locked = Alert.objects.select_for_update().get(pk=alert.pk)
        if locked.status != Alert.Status.ASSIGNED:
            raise ReviewError(f"Only an assigned alert can be reviewed; this one is {locked.get_status_display().lower()}.",
                              code="wrong_state")
        if locked.assigned_to_id != actor.pk:
            raise ReviewError("This alert is assigned to someone else; take it first.", code="not_assignee")
        review = Review.objects.create(alert=locked, reviewer=actor, disposition=disposition, note=note)
        Alert.objects.filter(pk=locked.pk).update(status=Alert.Status.REVIEWED)
    alert.refresh_from_db()
    record_action(actor=actor, action="alert.review", customer=alert.customer, reason=note,
                  request={**_alert_request(alert), "disposition": disposition}, outcome=AuditEvent.Outcome.OK,
                  response={"review_id": review.pk})
    return review


def close_alert(*, alert, actor):
    """Close a reviewed alert; from here its review can never change."""
    from compliance.models import Alert, Review

    _require_reviewer(actor)
    now = timezone.now()
    with transaction.atomic():
        locked = Alert.objects.select_for_update().get(pk=alert.pk)
        if locked.status != Alert.Status.REVIEWED:
            raise ReviewError(f"Only a reviewed alert can be closed; this one is {locked.get_status_display().lower()}.",
                              code="wrong_state")
        Review.objects.filter(alert=locked, closed_at__isnull=True).update(closed_at=now, closed_by=actor)
        Alert.objects.filter(pk=locked.pk).update(status=Alert.Status.CLOSED)
    alert.refresh_from_db()
    record_action(actor=actor, action="alert.close", customer=alert.customer, request=_alert_request(alert),
                  outcome=AuditEvent.Outcome.OK, response={"disposition": alert.review.disposition})
    return alert
