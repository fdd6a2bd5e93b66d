"""Resolving intents whose answer was lost, and the beat's sweeper that redoes whatever a lost
broker message should have done. A send in flight is never judged before its lease (the
gateway's hard deadline for one order creation) has run out."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import F, Q

from core.db import assert_no_transaction
from orders.models import OrderIntent
from orders.services import common
from orders.services.common import (
    client,
    enqueue_reconcile,
    escrow_reader,
    intent_request,
    now,
    record,
    send_lease_seconds,
)
from orders.services.outcomes import mark_needs_review, record_placed
from parsec.errors import explain

logger = logging.getLogger(__name__)

WORKER_LOST = {"error_code": "worker_lost", "error_message": "The send's lease ran out before Parsec's answer was recorded."}


def _matches(intent: OrderIntent, order) -> bool:
    return (
        str(order.market_id) == intent.market_native_id
        and str(order.outcome).lower() == intent.outcome.lower()
        and str(order.side) == intent.side
        and Decimal(str(order.price)) == intent.price
        and Decimal(str(order.size)) == intent.size
    )


def _escrow_match(intent: OrderIntent) -> str | None:
    """With escrow, the chain's record names the Parsec order for our fee order id."""
    if not intent.fee_auth_order_id:
        return None
    try:
        found = escrow_reader().fee_record(intent.fee_auth_order_id)
    except Exception:
        logger.info("escrow record for %s not readable", intent.fee_auth_order_id, exc_info=True)
        return None
    return getattr(found, "parsec_order_id", None) if found else None


def expire_lapsed_sends(*, at: datetime, pk: int | None = None) -> int:
    """Sends whose lease ran out (the worker died, or hangs past every timeout) become unknown."""
    lapsed = OrderIntent.objects.filter(status=OrderIntent.Status.SENDING,
                                        sent_at__lt=at - timedelta(seconds=send_lease_seconds()))
    if pk is not None:
        lapsed = lapsed.filter(pk=pk)
    return lapsed.update(status=OrderIntent.Status.UNKNOWN, next_check_at=at, **WORKER_LOST)


def reconcile_intent(*, intent: OrderIntent, actor=None) -> OrderIntent:
    """Look for an ``unknown`` intent's order at Parsec and resolve it.

    The customer's orders in a window around the send (status=all, filtered by market) are
    matched on outcome, side, price and size, skipping orders already linked to other intents.
    One match → placed; several → needs review; none → not placed once the order has had time
    to land (``ORDER_RECONCILE_SETTLE_SECONDS``), else look again later. Past the deadline or
    the attempts the intent goes to a human rather than staying unknown.
    """
    assert_no_transaction()
    at = now()
    expire_lapsed_sends(at=at, pk=intent.pk)
    intent = OrderIntent.objects.select_related("customer", "market").get(pk=intent.pk)
    if intent.status != OrderIntent.Status.UNKNOWN:
        return intent
    OrderIntent.objects.filter(pk=intent.pk).update(reconcile_attempts=F("reconcile_attempts") + 1)
    intent.reconcile_attempts += 1
    sent_at = intent.sent_at or intent.created_at
    deadline = sent_at + timedelta(seconds=settings.ORDER_RECONCILE_DEADLINE_SECONDS)
    window = timedelta(seconds=settings.ORDER_RECONCILE_WINDOW_SECONDS)

    candidates = None
    error_text = ""
    try:
        orders = client().list_orders(
            customer_id=str(intent.customer.parsec_customer_id), exchange=intent.exchange, status="all",
            market_id=intent.market_native_id, start=sent_at - window, end=at + window, limit=500,
        )
        candidates = [o for o in orders if _matches(intent, o)]
        taken = set(
            OrderIntent.objects.filter(exchange=intent.exchange, parsec_order_id__in=[o.id for o in candidates])
            .exclude(pk=intent.pk).values_list("parsec_order_id", flat=True)
        )
        candidates = [o for o in candidates if o.id not in taken]
        escrow_order_id = _escrow_match(intent)
        if escrow_order_id:
            by_escrow = [o for o in candidates if o.id == escrow_order_id]
            if by_escrow:
                candidates = by_escrow
    except Exception as exc:
        error_text = explain(exc).message
        logger.info("reconcile %s: listing orders failed: %s", intent.key, error_text)

    if candidates is not None and len(candidates) == 1:
        return record_placed(intent=intent, actor=actor, order=candidates[0], via="reconcile").intent

    if candidates is not None and len(candidates) > 1:
        mark_needs_review(intent, "Several orders at Parsec match this intent: " + ", ".join(o.id for o in candidates))
        outcome = "needs_review"
    elif candidates is not None and at >= sent_at + timedelta(seconds=settings.ORDER_RECONCILE_SETTLE_SECONDS):
        OrderIntent.objects.filter(pk=intent.pk, status=OrderIntent.Status.UNKNOWN).update(
            status=OrderIntent.Status.NOT_PLACED, resolved_at=at, next_check_at=None,
            reconcile_note="No matching order at Parsec after the settling time.",
        )
        outcome = "not_placed"
    elif at >= deadline or intent.reconcile_attempts >= settings.ORDER_RECONCILE_MAX_ATTEMPTS:
        mark_needs_review(intent, f"Unresolved after {intent.reconcile_attempts} checks: {error_text or 'no answer'}")
        outcome = "needs_review"
    else:
        delay = settings.ORDER_RECONCILE_RETRY_SECONDS
        if candidates is not None:  # nothing yet, but too early to call it absent
            settle_at = sent_at + timedelta(seconds=settings.ORDER_RECONCILE_SETTLE_SECONDS)
            delay = min(delay, max((settle_at - at).total_seconds(), 0.5))
        OrderIntent.objects.filter(pk=intent.pk, status=OrderIntent.Status.UNKNOWN).update(
            next_check_at=at + timedelta(seconds=delay), reconcile_note=error_text[:4000],
        )
        intent.refresh_from_db()
        enqueue_reconcile(intent, countdown=delay)
        return intent

    intent.refresh_from_db()
    record(actor=actor, action="order.reconcile", customer=intent.customer, reason=intent.reason,
           request=intent_request(intent), outcome="ok" if outcome == "not_placed" else "unknown",
           response={"status": intent.status, "note": intent.reconcile_note})
    return intent


def sweep_order_intents(*, now_at: datetime | None = None) -> dict[str, int]:
    """The beat job: the database says what must happen, whatever the broker lost.

    - ``sending`` intents whose lease ran out → ``unknown`` (never earlier: a slow send is not a lost one);
    - ``unknown`` intents due a check → reconciled here (not only enqueued: the broker may
      have lost the hint);
    - queued ``new`` intents no worker took → re-enqueued, or withdrawn when too old.
    (Four-eyes requests past their expiry are expired by the approvals app's own beat job.)
    """
    at = now_at or now()
    counts = {"stale_sends": expire_lapsed_sends(at=at), "reconciled": 0, "requeued": 0, "withdrawn": 0}
    due = OrderIntent.objects.filter(status=OrderIntent.Status.UNKNOWN).filter(
        Q(next_check_at__lte=at) | Q(next_check_at__isnull=True),
    ).order_by("next_check_at")[:500]
    for intent in due:
        try:
            reconcile_intent(intent=intent)
            counts["reconciled"] += 1
        except Exception:
            logger.exception("sweeper: reconciling %s failed", intent.key)

    from orders import tasks as order_tasks

    queued = OrderIntent.objects.filter(status=OrderIntent.Status.NEW, queued_at__isnull=False)
    too_old = at - timedelta(seconds=settings.ORDER_QUEUED_MAX_DELAY_SECONDS)
    counts["withdrawn"] = queued.filter(queued_at__lt=too_old).update(
        status=OrderIntent.Status.WITHDRAWN, resolved_at=at, error_code="not_sent_in_time",
        error_message="No worker sent this order in time; it was withdrawn rather than sent late.",
    )
    for key in queued.filter(queued_at__lt=at - timedelta(seconds=10)).values_list("key", flat=True)[:500]:
        common.safe_delay(order_tasks.place_intent, str(key))
        counts["requeued"] += 1
    return counts
