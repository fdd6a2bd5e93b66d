"""Cancelling live orders at Parsec, one call each, every result said and audited."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from core import formatting
from core.db import assert_no_transaction
from customers.models import Customer
from orders.models import Order
from orders.services.common import client, escrow_reader, record
from orders.services.values import CancelResult
from parsec.errors import ParsecRejected, explain

logger = logging.getLogger(__name__)

CLOSED_AT_PARSEC = ("filled", "cancelled", "rejected")


def orders_to_cancel(
    *, customer: Customer | None = None, order_ids: Iterable[int] | None = None, exchange: str = "",
    market_native_id: str = "", seen_before: datetime | None = None,
):
    """The live orders a cancel would touch (the confirmation step lists exactly these)."""
    qs = Order.objects.filter(status__in=Order.CANCELLABLE_STATUSES)
    if seen_before is not None:
        qs = qs.filter(first_seen_at__lte=seen_before)  # known to the mirror by then (our clock)
    if customer is not None:
        qs = qs.filter(customer=customer)
    if order_ids is not None:
        qs = qs.filter(pk__in=list(order_ids))
    if exchange:
        qs = qs.filter(exchange=exchange)
    if market_native_id:
        qs = qs.filter(market_native_id=market_native_id)
    return qs.select_related("customer", "market").order_by("customer_id", "-created_at")


def cancel_orders(
    *, actor, reason: str = "", customer: Customer | None = None, order_ids: Iterable[int] | None = None,
    exchange: str = "", market_native_id: str = "", action: str = "order.cancel", seen_before: datetime | None = None,
) -> list[CancelResult]:
    """Cancel one, some or all live orders (of a customer, optionally one market); one result each."""
    assert_no_transaction()
    results = []
    for order in list(orders_to_cancel(customer=customer, order_ids=order_ids, exchange=exchange,
                                       market_native_id=market_native_id, seen_before=seen_before)):
        results.append(cancel_one(order=order, actor=actor, reason=reason, action=action))
    return results


def cancel_one(*, order: Order, actor, reason: str, action: str) -> CancelResult:
    gateway = client()
    customer_id = str(order.customer.parsec_customer_id)
    request = {"order_id": order.parsec_order_id, "exchange": order.exchange, "market_id": order.market_native_id}
    try:
        returned = gateway.cancel_order(customer_id=customer_id, exchange=order.exchange, order_id=order.parsec_order_id)
    except ParsecRejected as exc:
        explained = explain(exc)
        code, text = explained.code, explained.message
        # Parsec refuses to cancel an order that is no longer live: say what it became.
        try:
            current = gateway.get_order(customer_id=customer_id, exchange=order.exchange, order_id=order.parsec_order_id)
        except Exception:
            current = None
        if current is not None and current.status in CLOSED_AT_PARSEC:
            mirror_existing(order, current)
            result = "already_filled" if current.status == "filled" else "already_closed"
            text = f"Already {current.status} at Parsec (filled {formatting.size(current.filled)} of {formatting.size(order.size)})."
            record(actor=actor, action=action, customer=order.customer, reason=reason, request=request,
                   outcome="rejected", response={"result": result, "status": current.status})
            return CancelResult(order, result, text, filled=Decimal(str(current.filled)))
        record(actor=actor, action=action, customer=order.customer, reason=reason, request=request,
               outcome="rejected", response={"error_code": code, "error": text})
        return CancelResult(order, "failed", text)
    except Exception as exc:
        explained = explain(exc)
        record(actor=actor, action=action, customer=order.customer, reason=reason, request=request,
               outcome="error", response={"error_code": explained.code, "error": explained.message})
        return CancelResult(order, "failed", explained.message)
    mirror_existing(order, returned)
    order.refresh_from_db()
    escrow_status = _escrow_status(order)
    filled = Decimal(str(returned.filled))
    text = f"Cancelled (filled {formatting.size(filled)} of {formatting.size(order.size)} before the cancel)."
    if escrow_status:
        text += f" Fee escrow: {escrow_status}."
    record(actor=actor, action=action, customer=order.customer, reason=reason, request=request, outcome="ok",
           response={"result": "cancelled", "status": returned.status, "filled": str(filled), "escrow": escrow_status})
    return CancelResult(order, "cancelled", text, filled=filled, escrow_status=escrow_status)


def mirror_existing(order: Order, returned) -> None:
    from orders.sync import upsert_placed_order

    try:
        upsert_placed_order(customer=order.customer, exchange=order.exchange, order=returned)
    except Exception:
        logger.exception("mirroring order %s after cancel failed", order.parsec_order_id)


def _escrow_status(order: Order) -> str | None:
    if not order.fee_auth_order_id:
        return None
    try:
        found = escrow_reader().fee_record(order.fee_auth_order_id)
    except Exception:
        return None
    return found.state if found else None
