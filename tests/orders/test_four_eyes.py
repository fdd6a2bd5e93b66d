"""Four eyes: a second Operations user approves; the maker never can; requests expire; on record."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from approvals import services as approvals
from approvals.models import ApprovalRequest
from orders import services
from orders.models import OrderIntent
from tests.orders.trading_fixtures import *  # noqa: F403
from tests.orders.trading_fixtures import make_market

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


def test_expired_requests_withdraw_their_orders(trading_customer, operator, settings):
    settings.ORDER_FOUR_EYES_NOTIONAL_USDC = Decimal("1")
    market = make_market("polymarket")
    intent = services.create_intent(actor=operator, customer=trading_customer, exchange="polymarket", market=market,
                                    outcome="Yes", side="buy", price=Decimal("0.50"), size=Decimal("10"), reason="big")
    request = services.submit_for_approval(intent=intent, actor=operator)
    ApprovalRequest.objects.filter(pk=request.pk).update(expires_at=timezone.now() - timedelta(seconds=1),
                                                         requested_at=timezone.now() - timedelta(hours=2))
    assert approvals.expire_due_requests() == 1
    assert approvals.expire_due_requests() == 0
    intent.refresh_from_db()
    assert intent.status == OrderIntent.Status.WITHDRAWN and intent.error_code == "approval_expired"


def test_an_unknown_action_cannot_be_requested(operator):
    with pytest.raises(approvals.ApprovalError):
        approvals.request_approval(action="nope", payload={}, actor=operator)


def test_decisions_are_on_record(operator, second_operator):
    from audit.models import AuditEvent

    request = ask(operator)
    approvals.approve(request=request, actor=second_operator, note="ok")
    actions = list(AuditEvent.objects.order_by("pk").values_list("action", flat=True))
    assert actions[-2:] == ["approval.request", "approval.approve"]


def test_a_large_order_is_sent_only_after_a_second_operator_approves(client, sandbox, sandbox_customer, operator, second_operator, settings, capture_enqueues):
    from django.urls import reverse

    from orders.models import Market

    settings.ORDER_FOUR_EYES_NOTIONAL_USDC = Decimal("0.10")
    market = Market.objects.filter(exchange="polymarket", market_type="binary", status="active").order_by("pk").first()
    intent = services.create_intent(actor=operator, customer=sandbox_customer, exchange="polymarket", market=market,
                                    outcome="Yes", side="buy", price=Decimal("0.05"), size=Decimal("10"), reason="big client")
    request = services.submit_for_approval(intent=intent, actor=operator)
    headers = {"X-Builder-Customer-Id": str(sandbox_customer.parsec_customer_id)}
    assert list(sandbox.sdk().orders.list(exchange="polymarket", status="all", extra_headers=headers)) == []

    client.force_login(operator)  # the maker sees no buttons and cannot approve by POST either
    page = client.get(reverse("admin:approvals_approvalrequest_decide", args=[request.pk])).content.decode()
    assert "Approve and run" not in page and "another Operations user must approve" in page
    client.post(reverse("admin:approvals_approvalrequest_decide", args=[request.pk]), {"decision": "approve"})
    intent.refresh_from_db()
    assert intent.status == OrderIntent.Status.AWAITING_APPROVAL

    client.force_login(second_operator)
    response = client.post(reverse("admin:approvals_approvalrequest_decide", args=[request.pk]),
                           {"decision": "approve", "note": "limits checked"}, follow=True)
    assert "Placed at Parsec as order" in response.content.decode()
    intent.refresh_from_db()
    assert intent.status == OrderIntent.Status.PLACED and intent.sent_by == second_operator and intent.created_by == operator
    assert [o.id for o in sandbox.sdk().orders.list(exchange="polymarket", status="all", extra_headers=headers)] == [intent.parsec_order_id]


def test_an_approved_fee_order_with_nothing_to_sign_it_ends_withdrawn(trading_customer, operator, second_operator, settings):
    """Production: no demo wallet signs for the end-user, so an approved order with a fee cannot be
    sent; it ends withdrawn with the reason, instead of waiting as 'new' for ever."""
    settings.PARSEC_SANDBOX_ADMIN_KEY = ""
    settings.ORDER_FOUR_EYES_NOTIONAL_USDC = Decimal("1")
    intent = services.create_intent(actor=operator, customer=trading_customer, exchange="polymarket", market=make_market("polymarket"),
                                    outcome="Yes", side="buy", price=Decimal("0.50"), size=Decimal("10"), reason="big",
                                    fee_base_units=12_500, fee_auth_order_id="0x" + "ab" * 32)
    assert intent.status == OrderIntent.Status.AWAITING_APPROVAL
    request = services.submit_for_approval(intent=intent, actor=operator)
    approved = approvals.approve(request=request, actor=second_operator)
    intent.refresh_from_db()
    assert approved.result["ok"] is False and approved.result["code"] == "no_signer"
    assert intent.status == OrderIntent.Status.WITHDRAWN and intent.error_code == "no_signer" and "no end-user key" in intent.error_message
