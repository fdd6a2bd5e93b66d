"""Four eyes for orders: an expired request withdraws its order, a large order is sent only once a
second operator approves, and an approved fee order nothing can sign ends withdrawn (the generic
approval rules are in tests/approvals/test_four_eyes.py)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from approvals import services as approvals
from approvals.models import ApprovalRequest
from orders import services
from orders.models import OrderIntent
from orders.services import OrderRequest
from tests import factories as f

pytestmark = pytest.mark.django_db(transaction=True)


def test_expired_requests_withdraw_their_orders(trading_customer, operator, settings):
    settings.ORDER_FOUR_EYES_NOTIONAL_USDC = Decimal("1")
    market = f.market("polymarket")
    intent = services.create_intent(actor=operator, request=OrderRequest(customer=trading_customer, exchange="polymarket", market=market, outcome="Yes", side="buy", price=Decimal("0.50"), size=Decimal("10"), reason="big"))
    request = services.submit_for_approval(intent=intent, actor=operator)
    ApprovalRequest.objects.filter(pk=request.pk).update(expires_at=timezone.now() - timedelta(seconds=1),
                                                         requested_at=timezone.now() - timedelta(hours=2))
    assert approvals.expire_due_requests() == 1
    assert approvals.expire_due_requests() == 0
    intent.refresh_from_db()
    assert intent.status == OrderIntent.Status.WITHDRAWN and intent.error_code == "approval_expired"


def test_the_approver_reads_the_order_in_plain_numbers(trading_customer, operator, settings):
    """It read "buy 2.5E+3 Yes @ 0.1": the summary goes through the one formatter."""
    settings.ORDER_FOUR_EYES_NOTIONAL_USDC = Decimal("1")
    market = f.market("polymarket", question="Will the walk pass?")
    intent = services.create_intent(actor=operator, request=OrderRequest(
        customer=trading_customer, exchange="polymarket", market=market, outcome="Yes", side="buy", price=Decimal("0.10"),
        size=Decimal("2500"), reason="big"))
    request = services.submit_for_approval(intent=intent, actor=operator)
    assert request.summary == "buy 2,500 Yes @ 0.10 (250.00 USDC) on Will the walk pass?"


def test_a_large_order_is_sent_only_after_a_second_operator_approves(client, sandbox, sandbox_customer, operator, second_operator, settings, capture_enqueues):
    from django.urls import reverse

    from orders.models import Market

    settings.ORDER_FOUR_EYES_NOTIONAL_USDC = Decimal("0.10")
    market = Market.objects.filter(exchange="polymarket", market_type="binary", status="active").order_by("pk").first()
    intent = services.create_intent(actor=operator, request=OrderRequest(customer=sandbox_customer, exchange="polymarket", market=market, outcome="Yes", side="buy", price=Decimal("0.05"), size=Decimal("10"), reason="big client"))
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
    intent = services.create_intent(actor=operator, request=OrderRequest(customer=trading_customer, exchange="polymarket", market=f.market("polymarket"), outcome="Yes", side="buy", price=Decimal("0.50"), size=Decimal("10"), reason="big", fee_base_units=12_500, fee_auth_order_id="0x" + "ab" * 32))
    assert intent.status == OrderIntent.Status.AWAITING_APPROVAL
    request = services.submit_for_approval(intent=intent, actor=operator)
    approved = approvals.approve(request=request, actor=second_operator)
    intent.refresh_from_db()
    assert approved.result["ok"] is False and approved.result["code"] == "no_signer"
    assert intent.status == OrderIntent.Status.WITHDRAWN and intent.error_code == "no_signer" and "no end-user key" in intent.error_message


def test_the_approval_summary_reads_as_the_screens_do(trading_customer, operator, settings):
    """The stored summary said 'buy 2.5E+3 Yes @ 0.5 (1250.00 USDC)' (Decimal.normalize)."""
    settings.ORDER_FOUR_EYES_NOTIONAL_USDC = Decimal("1")
    market = f.market("polymarket")
    intent = services.create_intent(actor=operator, request=OrderRequest(
        customer=trading_customer, exchange="polymarket", market=market, outcome="Yes", side="buy",
        price=Decimal("0.50"), size=Decimal("1500"), reason="big"))
    request = services.submit_for_approval(intent=intent, actor=operator)
    assert request.summary == f"buy 1,500 Yes @ 0.50 (750.00 USDC) on {intent.market_title}"[:255]
