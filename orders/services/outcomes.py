"""What Parsec's answer (or reconciliation's finding) makes of an intent: placed and mirrored,
rejected, not placed, unknown (reconciled later) or needs review; audited either way.

Two facts are never lost: an order Parsec placed is recorded whenever its answer arrives (a late
success after the intent was declared not placed goes to needs review with both facts), and an
order placed into a frozen scope is cancelled at once and counted on its kill switch.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction

from orders import messages, selectors
from orders.models import Order, OrderIntent
from orders.services import killswitch
from orders.services.common import enqueue_reconcile, intent_request, now, record
from orders.services.values import PlacementResult
from parsec.errors import explain

logger = logging.getLogger(__name__)

# Statuses a late success may still find: the intent was decided without Parsec's answer.
DECIDED_WITHOUT_ANSWER = frozenset({OrderIntent.Status.NOT_PLACED, OrderIntent.Status.NEEDS_REVIEW})


def mark_needs_review(intent: OrderIntent, note: str) -> None:
    OrderIntent.objects.filter(pk=intent.pk, status__in=OrderIntent.UNRESOLVED_STATUSES).update(
        status=OrderIntent.Status.NEEDS_REVIEW, resolved_at=now(), next_check_at=None, reconcile_note=note[:4000],
    )


def mirror_order(*, intent: OrderIntent, order, user) -> Order | None:
    """Upsert the Parsec order into the mirror through the sync mapping (one copy of the mapping)."""
    from orders.sync import upsert_placed_order

    return upsert_placed_order(
        customer=intent.customer, exchange=intent.exchange, order=order,
        placed_by=Order.PlacedBy.API_CLIENT if intent.source == OrderIntent.Source.API else Order.PlacedBy.OPERATOR,
        placed_by_user=user if intent.source == OrderIntent.Source.ADMIN else None,
        order_type=intent.order_type, expiration=intent.expiration, fee_auth_order_id=intent.fee_auth_order_id,
    )


def record_placed(*, intent: OrderIntent, actor, order, via: str) -> PlacementResult:
    """Parsec has the order: link it, mirror it, audit it — and cancel it at once if a kill switch
    now covers its scope.

    The outcome, the mirror's row and the link are one transaction, committed without waiting for
    the WAL flush on PostgreSQL: if a crash lost it, the intent would still be ``sending`` (the
    claim was flushed before the send) and reconciliation would find the order after the lease.
    The audit row is written as every audit row is (flushed)."""
    resolved = now()
    late_over = None
    mirrored = None
    try:
        with transaction.atomic():
            unflushed_commit()
            # A reconciled intent keeps the error that made it unknown: it is part of its story.
            cleared = {"error_code": "", "error_message": ""} if via == "send" else {}
            updated = OrderIntent.objects.filter(pk=intent.pk, status__in=OrderIntent.UNRESOLVED_STATUSES).update(
                status=OrderIntent.Status.PLACED, parsec_order_id=order.id, resolved_at=resolved, next_check_at=None,
                **cleared,
            )
            if updated:  # what the UPDATE wrote, without reading it back
                intent.status, intent.parsec_order_id, intent.resolved_at, intent.next_check_at = (
                    OrderIntent.Status.PLACED, order.id, resolved, None)
                for name, value in cleared.items():
                    setattr(intent, name, value)
            else:
                late_over = _record_late_success(intent=intent, order=order)
                intent.refresh_from_db()
            if updated or late_over:
                mirrored = _mirror_and_link(intent=intent, order=order,
                                            user=actor if via == "send" and getattr(actor, "pk", None) else (intent.sent_by or intent.created_by))
    except IntegrityError:
        # Another intent already claims that Parsec order: a human must look.
        mark_needs_review(intent, f"Parsec order {order.id} is already linked to another intent.")
        intent.refresh_from_db()
        return PlacementResult(intent, sent=True, message=messages.intent_status_message(intent))
    if updated or late_over:
        response = {"order_id": order.id, "status": getattr(order, "status", ""), "via": via}
        if late_over:
            response |= {"late": True, "declared_before": late_over}
        record(actor=actor, action="order.place" if via == "send" else "order.reconcile", customer=intent.customer,
               reason=intent.reason, request=intent_request(intent), outcome="ok", response=response)
        _cancel_if_frozen(intent=intent, order=order, mirrored=mirrored, actor=actor)
    return PlacementResult(intent, sent=True, message=messages.intent_status_message(intent))


def _mirror_and_link(*, intent: OrderIntent, order, user) -> Order | None:
    """The order in the mirror and linked to its intent; a failure here (a savepoint) leaves the
    outcome standing: the order is placed whatever the mirror says, and the next sync catches up."""
    try:
        with transaction.atomic():
            mirrored = mirror_order(intent=intent, order=order, user=user)
    except Exception:
        logger.exception("intent %s placed as %s but mirroring the order failed", intent.key, order.id)
        return None
    if mirrored is not None:
        OrderIntent.objects.filter(pk=intent.pk).update(order=mirrored)
        intent.order = mirrored
    return mirrored


def unflushed_commit() -> None:
    """This transaction's commit does not wait for the WAL flush (PostgreSQL; nothing elsewhere)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


def _record_late_success(*, intent: OrderIntent, order) -> str | None:
    """Parsec's success arrived after the intent was decided without it (the lease ran out, a
    reconciliation looked too early): keep both facts and ask a person. Returns what had been
    decided, or None when the intent already knew this order (a second report of the same fact)."""
    current = OrderIntent.objects.select_for_update().filter(pk=intent.pk).first()
    if current is None or current.status not in DECIDED_WITHOUT_ANSWER or current.parsec_order_id:
        return None
    earlier = f"{current.get_status_display()} at {current.resolved_at:%Y-%m-%d %H:%M:%S} UTC" if current.resolved_at else current.status
    note = (f"Declared {earlier} ({current.reconcile_note or current.error_message or 'no answer from Parsec'}), but "
            f"Parsec's answer arrived later: it placed order {order.id}. Check the order and the customer's position, "
            "and do not re-enter it.")
    OrderIntent.objects.filter(pk=current.pk).update(
        status=OrderIntent.Status.NEEDS_REVIEW, parsec_order_id=order.id, next_check_at=None, reconcile_note=note[:4000],
    )
    return current.status


def _cancel_if_frozen(*, intent: OrderIntent, order, mirrored: Order | None, actor) -> None:
    """A kill switch engaged while this order was on its way (still engaged, or released since:
    the order may have landed at Parsec while its scope was frozen): cancel it now, count it on
    the switch."""
    if str(getattr(order, "status", "")) in ("filled", "cancelled", "rejected", "expired"):
        return
    switch = selectors.kill_switch_over(customer=intent.customer, exchange=intent.exchange,
                                        market_native_id=intent.market_native_id, since=intent.sent_at or intent.created_at)
    if switch is None:
        return
    killswitch.cancel_in_flight(switch=switch, intent=intent, order=mirrored, parsec_order_id=order.id, actor=actor)


def record_failed_send(*, intent: OrderIntent, actor, exc: Exception, outcome: str) -> PlacementResult:
    explained = explain(exc)
    code, text = explained.code, explained.message
    resolved = now()
    if outcome == "rejected":
        values = {"status": OrderIntent.Status.REJECTED, "resolved_at": resolved, "next_check_at": None}
        audit_outcome = "rejected"
    elif outcome == "not_placed":
        values = {"status": OrderIntent.Status.NOT_PLACED, "resolved_at": resolved, "next_check_at": None}
        audit_outcome = "rejected"
    else:
        values = {"status": OrderIntent.Status.UNKNOWN,
                  "next_check_at": resolved + timedelta(seconds=settings.ORDER_RECONCILE_FIRST_CHECK_SECONDS)}
        audit_outcome = "unknown"
    OrderIntent.objects.filter(pk=intent.pk, status=OrderIntent.Status.SENDING).update(
        error_code=code, error_message=text[:4000], **values,
    )
    intent.refresh_from_db()
    if intent.status == OrderIntent.Status.UNKNOWN:
        enqueue_reconcile(intent, countdown=settings.ORDER_RECONCILE_FIRST_CHECK_SECONDS)
    record(actor=actor, action="order.place", customer=intent.customer, reason=intent.reason,
           request=intent_request(intent), outcome=audit_outcome,
           response={"error_code": code, "error": text, "status": getattr(exc, "status", None), "classification": outcome})
    return PlacementResult(intent, sent=True, message=messages.intent_status_message(intent))

