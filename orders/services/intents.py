"""Order intents: written (validated, committed) before Parsec hears of the order, bound to the
principal who asked and to the order asked for; withdrawn, queued or sent for approval."""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction

from approvals import services as approvals
from approvals.models import ApprovalRequest
from approvals.services import ApprovalError
from core import formatting
from orders import escrow
from orders.models import OrderIntent
from orders.services.common import intent_request, needs_four_eyes, now, order_market_id, record
from orders.services.errors import OrderValidationError, TradingError
from orders.services.validation import validate_order
from orders.services.values import OrderRequest


def _shown_price(leg) -> str:
    """A leg's price at its market's tick, for the sentences people read."""
    return formatting.price(leg.price, leg.market.tick_size if leg.market_id else None)

def create_intent(*, request: OrderRequest, actor, key: uuid.UUID | str | None = None) -> OrderIntent:
    """Validate an order and write its intent (committed) — before any call to Parsec.

    Idempotent on ``key`` for the same principal and the same order: a resubmitted form or a
    retried API call names the intent already written. The same key with another order, or from
    another principal, is refused (``intent_key_conflict``): it never answers with someone else's
    intent. A ``fee_auth`` is checked here, before anything is written (refusals are audited).
    """
    if key is not None:
        existing = OrderIntent.objects.filter(key=key).select_related("customer", "market").first()
        if existing is not None:
            return _same_intent(existing, request=request, actor=actor)
    if request.fee_auth is not None:
        _check_callers_fee_auth(request=request, actor=actor)
    validate_order(request=request)
    market = request.market
    market_id = order_market_id(market)
    outcome = next((name for name in market.outcome_names if name.lower() == request.outcome.lower()), request.outcome)
    duplicate = OrderIntent.objects.filter(
        customer=request.customer, exchange=request.exchange, market_native_id=market_id, outcome__iexact=outcome,
        side=request.side, price=request.price, size=request.size, status__in=OrderIntent.UNRESOLVED_STATUSES,
    ).first()
    if duplicate is not None:
        raise TradingError(
            f"An identical order for {request.customer} (intent {duplicate.key}) is still being reconciled: we do not yet know "
            "whether Parsec placed it. Wait for it to resolve, or reconcile it now, before sending the same order again.",
            code="duplicate_unresolved_intent",
        )
    initial = OrderIntent.Status.AWAITING_APPROVAL if needs_four_eyes(request.notional) else OrderIntent.Status.NEW
    try:
        with transaction.atomic():
            return OrderIntent.objects.create(
                key=key or uuid.uuid4(), customer=request.customer, exchange=request.exchange, market=market,
                market_native_id=market_id, outcome=outcome, side=request.side, price=request.price, size=request.size,
                order_type=request.order_type, expiration=request.expiration, reason=request.reason, source=request.source,
                status=initial, created_by=actor if getattr(actor, "pk", None) else None,
                fee_base_units=request.fee_base_units, fee_auth_order_id=request.fee_auth_order_id,
            )
    except IntegrityError:
        # Two submissions of the same form raced; the first one's row is the intent.
        existing = OrderIntent.objects.filter(key=key).first() if key else None
        if existing is None:
            raise
        return _same_intent(existing, request=request, actor=actor)


def _same_intent(existing: OrderIntent, *, request: OrderRequest, actor) -> OrderIntent:
    if existing.created_by_id != getattr(actor, "pk", None) or not request.same_order_as(existing):
        raise TradingError(
            "This key already names another order: the same key can only repeat the same order by the same user or "
            "client. Send a new order with a new key.", code="intent_key_conflict",
        )
    return existing


def _check_callers_fee_auth(*, request: OrderRequest, actor) -> None:
    """A fee the caller's end-user signed: checked against the escrow's rules and this customer's
    wallets before anything is written. It cannot wait for four eyes (the back-office keeps no
    signature to send once approved)."""
    if needs_four_eyes(request.notional):
        limit = Decimal(settings.ORDER_FOUR_EYES_NOTIONAL_USDC)
        raise OrderValidationError({"size": [
            f"This order's notional ({formatting.usdc(request.notional)} USDC) is above {formatting.usdc(limit)} USDC, so a "
            "second Operations user "
            "must approve it, and a fee authorisation cannot wait for that: the back-office keeps no end-user signature. "
            f"Send it without a fee_auth, or as orders of at most {formatting.usdc(limit)} USDC each."
        ]}, code="four_eyes_fee_order")
    try:
        escrow.check_fee_auth(fee_auth=request.fee_auth, config=escrow.escrow_config(), customer=request.customer,
                              exchange=request.exchange, price=request.price, size=request.size)
    except escrow.FeeAuthError as exc:
        escrow.refuse_fee_auth(exc=exc, fee_auth=request.fee_auth, customer=request.customer, actor=actor)
        raise


def withdraw_intent(*, intent: OrderIntent, actor, reason: str = "") -> bool:
    """Drop an intent that was never sent. Returns False when it had already gone further."""
    done = OrderIntent.objects.filter(
        pk=intent.pk, status__in=[OrderIntent.Status.NEW, OrderIntent.Status.AWAITING_APPROVAL],
    ).update(status=OrderIntent.Status.WITHDRAWN, resolved_at=now(), reconcile_note=reason[:2000])
    intent.refresh_from_db()
    if done:
        record(actor=actor, action="order.withdraw", customer=intent.customer, reason=reason,
               request=intent_request(intent), outcome="ok", response={"status": intent.status})
    return bool(done)


def submit_for_approval(*, intent: OrderIntent, actor, reason: str = "") -> ApprovalRequest:
    """Four eyes: ask a second Operations user to approve a large order before it is sent."""
    if intent.status != OrderIntent.Status.AWAITING_APPROVAL:
        raise ApprovalError("This order does not need (or no longer awaits) an approval.", code="approval_not_needed")
    if intent.approval_id:
        return intent.approval
    request = approvals.request_approval(
        action="order.place", payload={"intent": str(intent.key)}, actor=actor, customer=intent.customer,
        reason=reason or intent.reason,
        summary=f"{intent.side} {formatting.size(intent.size)} {intent.outcome} @ {_shown_price(intent)} "
                f"({formatting.usdc(intent.notional)} USDC) on {intent.market_title}"[:255],
    )
    OrderIntent.objects.filter(pk=intent.pk, approval__isnull=True).update(approval=request)
    intent.refresh_from_db()
    return intent.approval


def queue_placement(*, intent: OrderIntent) -> None:
    """Send an intent from a worker (bench, integrations that do not wait): marked queued (it then
    holds its money), enqueued after commit; the worker calls the one placement entry."""
    from orders import tasks as order_tasks

    OrderIntent.objects.filter(pk=intent.pk, status=OrderIntent.Status.NEW).update(queued_at=now())
    transaction.on_commit(lambda: order_tasks.place_intent.delay(str(intent.key)))
