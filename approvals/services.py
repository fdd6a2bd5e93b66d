"""Four eyes: ask a second Operations user to approve an action before it runs.

The apps say what each action does (``register``): what runs once a request is approved, what
happens when a request ends without approval (rejected, expired), and what the decide page shows
of it. Deciding is audited; the maker can neither approve nor reject their own request.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from approvals.models import ApprovalRequest
from audit.services import record_action
from core.db import assert_no_transaction
from core.errors import DomainError

logger = logging.getLogger(__name__)


class ApprovalError(DomainError):
    code_kinds = {
        "maker_cannot_approve": "forbidden", "maker_cannot_reject": "forbidden",
        "approval_not_pending": "conflict", "approval_required": "conflict", "approval_not_needed": "conflict",
    }


@dataclass(frozen=True)
class ApprovalAction:
    """What an action does: ``approved(request, actor) -> result dict`` runs once approved (outside any
    transaction); ``closed(request)`` when it ends unapproved; ``details(request) -> context`` and
    ``details_template`` show the action's subject on the decide page."""

    name: str
    approved: Callable[[ApprovalRequest, object], dict]
    closed: Callable[[ApprovalRequest], None] | None = None
    details: Callable[[ApprovalRequest], dict] | None = None
    details_template: str = ""


ACTIONS: dict[str, ApprovalAction] = {}


def register(action: str, *, approved, closed=None, details=None, details_template: str = "") -> None:
    """Say what runs when a request of ``action`` is approved (each app registers in ``ready()``)."""
    ACTIONS[action] = ApprovalAction(action, approved, closed, details, details_template)


def action_for(request: ApprovalRequest) -> ApprovalAction | None:
    return ACTIONS.get(request.action)


def _now() -> datetime:
    return timezone.now()


def request_approval(
    *, action: str, payload: dict, actor, customer=None, reason: str = "", summary: str = "",
) -> ApprovalRequest:
    if action not in ACTIONS:
        raise ApprovalError(f"No approval workflow for {action!r}.", code="unknown_action")
    now = _now()
    request = ApprovalRequest.objects.create(
        action=action, payload=payload, customer=customer, reason=reason, summary=summary,
        requested_by=actor, requested_at=now, expires_at=now + timedelta(seconds=settings.APPROVAL_REQUEST_TTL_SECONDS),
    )
    record_action(actor=actor, action="approval.request", customer=customer, reason=reason,
                  request={"approval": request.pk, "action": action, "payload": payload}, outcome="ok", response={})
    return request


def approve(*, request: ApprovalRequest, actor, note: str = "") -> ApprovalRequest:
    """A second Operations user approves; the action then runs (outside any transaction)."""
    assert_no_transaction("an approved action")
    if request.requested_by_id == getattr(actor, "pk", None):
        record_action(actor=actor, action="approval.approve", customer=request.customer, reason=note,
                      request={"approval": request.pk, "action": request.action}, outcome="rejected",
                      response={"error": "maker cannot approve"})
        raise ApprovalError("You made this request; another Operations user must approve it.", code="maker_cannot_approve")
    now = _now()
    approved = ApprovalRequest.objects.filter(
        pk=request.pk, status=ApprovalRequest.Status.PENDING, expires_at__gt=now,
    ).exclude(requested_by=actor).update(
        status=ApprovalRequest.Status.APPROVED, decided_by=actor, decided_at=now, decision_note=note,
    )
    request.refresh_from_db()
    if not approved:
        if request.status == ApprovalRequest.Status.PENDING and request.expires_at <= now:
            expire_request(request=request)
            request.refresh_from_db()
        raise ApprovalError(f"This request is {request.get_status_display().lower()}; it can no longer be approved.",
                            code="approval_not_pending")
    record_action(actor=actor, action="approval.approve", customer=request.customer, reason=note,
                  request={"approval": request.pk, "action": request.action, "payload": request.payload,
                           "maker": request.requested_by.get_username()}, outcome="ok", response={})
    try:
        result = ACTIONS[request.action].approved(request, actor)
    except DomainError as exc:
        result = {"ok": False, "error": exc.message, "code": exc.code}
    except Exception as exc:
        logger.exception("approved action %s #%s failed", request.action, request.pk)
        result = {"ok": False, "error": str(exc)[:500]}
    ApprovalRequest.objects.filter(pk=request.pk).update(result=result)
    request.refresh_from_db()
    return request


def reject(*, request: ApprovalRequest, actor, note: str = "") -> ApprovalRequest:
    if request.requested_by_id == getattr(actor, "pk", None):
        raise ApprovalError("You made this request; withdraw it instead.", code="maker_cannot_reject")
    now = _now()
    done = ApprovalRequest.objects.filter(pk=request.pk, status=ApprovalRequest.Status.PENDING).exclude(
        requested_by=actor,
    ).update(status=ApprovalRequest.Status.REJECTED, decided_by=actor, decided_at=now, decision_note=note)
    request.refresh_from_db()
    if not done:
        raise ApprovalError("This request is no longer pending.", code="approval_not_pending")
    _on_closed(request)
    record_action(actor=actor, action="approval.reject", customer=request.customer, reason=note,
                  request={"approval": request.pk, "action": request.action, "payload": request.payload}, outcome="ok",
                  response={})
    return request


def expire_request(*, request: ApprovalRequest) -> bool:
    done = ApprovalRequest.objects.filter(
        pk=request.pk, status=ApprovalRequest.Status.PENDING, expires_at__lte=_now(),
    ).update(status=ApprovalRequest.Status.EXPIRED)
    if done:
        request.refresh_from_db()
        _on_closed(request)
        record_action(actor=None, action="approval.expire", customer=request.customer, reason="expired",
                      request={"approval": request.pk, "action": request.action, "payload": request.payload},
                      outcome="ok", response={})
    return bool(done)


def expire_due_requests(*, now: datetime | None = None) -> int:
    """Pending requests past their expiry → expired (their actions' ``closed`` runs). The beat's job."""
    now = now or _now()
    expired = 0
    for request in ApprovalRequest.objects.filter(status=ApprovalRequest.Status.PENDING, expires_at__lte=now):
        expired += expire_request(request=request)
    return expired


def _on_closed(request: ApprovalRequest) -> None:
    action = ACTIONS.get(request.action)
    if action is not None and action.closed is not None:
        action.closed(request)
