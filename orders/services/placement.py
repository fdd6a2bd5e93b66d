"""The one placement entry every face calls (the admin, the API, the approval handler, the task):
``submit_intent`` takes an intent from written to Parsec's answer.

validate (again, at the last minute) → four eyes if needed → fee check and escrow record → rate
limiter's token → claim (one conditional UPDATE: ``new`` → ``sending``) → send (the only call
of ``parsec.order_creation``) → outcome → mirror → audit. The claim is taken only once the send
can start, and carries a lease (the gateway's hard deadline) the sweeper respects.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.utils import timezone

from approvals.services import ApprovalError
from core.db import assert_no_transaction
from orders import escrow, messages
from orders.models import FeeEscrowRecord, OrderIntent
from orders.services.common import client, intent_request, now, record, send_lease_seconds
from orders.services.errors import TradingError
from orders.services.intents import submit_for_approval
from orders.services.outcomes import record_failed_send, record_placed
from orders.services.validation import last_minute_refusal
from orders.services.values import PlacementResult
from parsec.errors import placement_outcome
from parsec.order_creation import NewOrder, create_order, take_send_token
from parsec.types import FeeAuthorization

logger = logging.getLogger(__name__)


def submit_intent(*, intent: OrderIntent, actor, fee_auth: FeeAuthorization | None = None,
                  credentials: dict | None = None, approval_reason: str = "") -> PlacementResult:
    """Send an intent to Parsec at most once and record what happened.

    - awaiting four eyes: the request for approval is made (once); nothing is sent;
    - already claimed, resolved or withdrawn: the intent as it stands (``sent`` False);
    - refused by a rule that changed since it was written: withdrawn, audited, nothing sent;
    - with a fee: ``fee_auth`` is the end-user's signature (the API) or, for the admin's
      rehearsal, the sandbox's demo wallet signs; it is checked and its ``FeeEscrowRecord``
      written before the claim, and settled from Parsec's answer (pulled, or refused).
    """
    assert_no_transaction()
    intent = OrderIntent.objects.select_related("customer", "market", "approval").get(pk=intent.pk)
    if intent.status == OrderIntent.Status.AWAITING_APPROVAL:
        if intent.approval_id:
            raise ApprovalError("This order needs a second Operations user's approval before it is sent.",
                                code="approval_required")
        submit_for_approval(intent=intent, actor=actor, reason=approval_reason)
        intent.refresh_from_db()
        return PlacementResult(intent, sent=False, message=messages.intent_status_message(intent))
    if intent.status != OrderIntent.Status.NEW:
        return PlacementResult(intent, sent=False, message=messages.already_handled(intent))

    refusal = last_minute_refusal(intent)
    if refusal:
        return _refuse_before_sending(intent=intent, actor=actor, refusal=refusal)

    fee_record = None
    if intent.fee_auth_order_id or fee_auth is not None:
        if fee_auth is None:
            if not escrow.sandbox_signing_available():
                raise escrow.FeeAuthError(
                    "In production the back-office holds no end-user key: an order with a fee is placed through the API "
                    "with the fee_auth the builder's app had the user sign.", code="no_signer")
            fee_auth = escrow.sandbox_fee_auth(intent=intent)  # the sandbox's demo wallet: rehearsals only
        order_id = str(fee_auth.order_id).lower()
        if intent.fee_auth_order_id and order_id != intent.fee_auth_order_id.lower():
            raise TradingError("The fee authorisation was signed for another order.", code="fee_auth_mismatch")
        fee_record = escrow.authorise(intent=intent, fee_auth=fee_auth, config=escrow.escrow_config(), actor=actor)

    gateway = client()
    customer_id = str(intent.customer.parsec_customer_id)
    take_send_token(gateway, customer_id=customer_id)  # the wait is here, before the claim and its lease
    started = now()
    claim = {"status": OrderIntent.Status.SENDING, "sent_at": started,
             "sent_by": actor if getattr(actor, "pk", None) else None,
             "next_check_at": started + timedelta(seconds=send_lease_seconds())}
    if not OrderIntent.objects.filter(pk=intent.pk, status=OrderIntent.Status.NEW).update(**claim):
        intent.refresh_from_db()
        return PlacementResult(intent, sent=False, message=messages.already_handled(intent))
    for name, value in claim.items():  # what the UPDATE wrote, without reading it back
        setattr(intent, name, value)

    request = NewOrder(
        exchange=intent.exchange, market_id=intent.market_native_id, outcome=intent.outcome, side=intent.side,
        price=intent.price, size=intent.size, order_type=intent.order_type, expiration=intent.expiration,
        fee_auth=fee_auth, credentials=credentials,
    )
    try:
        order = create_order(gateway, request, customer_id=customer_id, token_taken=True)
    except Exception as exc:
        result = record_failed_send(intent=intent, actor=actor, exc=exc, outcome=placement_outcome(exc))
    else:
        result = record_placed(intent=intent, actor=actor, order=order, via="send")
    if fee_record is not None:
        _settle_fee_record(fee_record, result.intent)
    return result


def _refuse_before_sending(*, intent: OrderIntent, actor, refusal: str) -> PlacementResult:
    OrderIntent.objects.filter(pk=intent.pk, status=OrderIntent.Status.NEW).update(
        status=OrderIntent.Status.WITHDRAWN, resolved_at=now(), error_code="refused_before_sending", error_message=refusal,
    )
    intent.refresh_from_db()
    record(actor=actor, action="order.place", customer=intent.customer, reason=intent.reason,
           request=intent_request(intent), outcome="rejected", response={"refused_locally": refusal})
    return PlacementResult(intent, sent=False, message=refusal)


def _settle_fee_record(fee_record: FeeEscrowRecord, intent: OrderIntent) -> None:
    """Parsec pulls the fee in the same step that accepts the order; an order it refused pulls
    nothing, and its record is settled as refused (never left authorised)."""
    if intent.status == OrderIntent.Status.PLACED:
        FeeEscrowRecord.objects.filter(pk=fee_record.pk, state=FeeEscrowRecord.State.AUTHORISED).update(
            state=FeeEscrowRecord.State.PULLED, pulled_at=intent.resolved_at or timezone.now(), order=intent.order,
        )
    elif intent.status in (OrderIntent.Status.REJECTED, OrderIntent.Status.NOT_PLACED):
        FeeEscrowRecord.objects.filter(pk=fee_record.pk, state=FeeEscrowRecord.State.AUTHORISED).update(
            state=FeeEscrowRecord.State.REFUSED, refund_reason=intent.status, settled_at=intent.resolved_at or timezone.now(),
        )
    else:
        return  # unknown: reconciliation decides, and the escrow check follows the order
    try:
        escrow.check_record(record=fee_record)
    except Exception:  # the placement stands; the beat's check catches up
        logger.exception("escrow check of %s after placement failed", fee_record.fee_order_id)
