"""Four eyes, whatever the action: a second operator decides, the maker never can (nor can the
database be told otherwise), an approved action runs once, a rejected or expired one never, and
every decision is on record. The order-specific cases are in tests/orders/test_four_eyes.py."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from approvals import services as approvals
from approvals.models import ApprovalRequest

pytestmark = pytest.mark.django_db(transaction=True)


ran: list[tuple[int, str]] = []


@pytest.fixture(autouse=True)
def _test_action():
    """A generic action, as issue 6 registers ``customer.deactivate``."""
    ran.clear()
    approvals.register("test.touch", approved=lambda request, actor: ran.append((request.pk, actor.username)) or {"ok": True})
    yield
    approvals.ACTIONS.pop("test.touch", None)


def ask(operator, **kwargs) -> ApprovalRequest:
    return approvals.request_approval(action="test.touch", payload={"thing": 1}, actor=operator, reason="because", **kwargs)


def test_a_second_operator_approves_and_the_action_runs(operator, second_operator):
    request = ask(operator)
    assert request.status == ApprovalRequest.Status.PENDING and not ran
    request = approvals.approve(request=request, actor=second_operator, note="checked")
    assert request.status == ApprovalRequest.Status.APPROVED and request.decided_by == second_operator
    assert ran == [(request.pk, "oscar.operator")]
    assert request.result == {"ok": True}


def test_the_maker_can_never_approve_their_own_request(operator):
    request = ask(operator)
    with pytest.raises(approvals.ApprovalError) as caught:
        approvals.approve(request=request, actor=operator)
    assert caught.value.code == "maker_cannot_approve"
    request.refresh_from_db()
    assert request.status == ApprovalRequest.Status.PENDING and not ran


def test_the_database_refuses_a_self_approval_too(operator):
    request = ask(operator)
    with pytest.raises(IntegrityError), transaction.atomic():
        ApprovalRequest.objects.filter(pk=request.pk).update(decided_by=operator, status="approved")


def test_an_approval_runs_the_action_once(operator, second_operator, administrator):
    request = ask(operator)
    approvals.approve(request=request, actor=second_operator)
    with pytest.raises(approvals.ApprovalError):
        approvals.approve(request=request, actor=administrator)
    assert len(ran) == 1


def test_a_rejected_request_never_runs(operator, second_operator):
    request = ask(operator)
    approvals.reject(request=request, actor=second_operator, note="no")
    with pytest.raises(approvals.ApprovalError):
        approvals.approve(request=request, actor=second_operator)
    assert not ran


def test_a_pending_request_expires(operator, second_operator, settings):
    request = ask(operator)
    ApprovalRequest.objects.filter(pk=request.pk).update(expires_at=timezone.now() - timedelta(seconds=1),
                                                         requested_at=timezone.now() - timedelta(hours=2))
    with pytest.raises(approvals.ApprovalError) as caught:
        approvals.approve(request=request, actor=second_operator)
    assert "expired" in caught.value.message
    request.refresh_from_db()
    assert request.status == ApprovalRequest.Status.EXPIRED and not ran


def test_an_unknown_action_cannot_be_requested(operator):
    with pytest.raises(approvals.ApprovalError):
        approvals.request_approval(action="nope", payload={}, actor=operator)


def test_decisions_are_on_record(operator, second_operator):
    from audit.models import AuditEvent

    request = ask(operator)
    approvals.approve(request=request, actor=second_operator, note="ok")
    actions = list(AuditEvent.objects.order_by("pk").values_list("action", flat=True))
    assert actions[-2:] == ["approval.request", "approval.approve"]
