"""The kill switch: freeze placement in a scope (a customer, a market, the whole builder), cancel
what is open there, and catch what was on its way: an intent being sent or unknown when the
switch was engaged is cancelled the moment its order is known to be placed (``cancel_in_flight``,
called by the outcomes), and counted on the switch's summary."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import IntegrityError, transaction

from customers.models import Customer
from orders import selectors
from orders.models import KillSwitch, Order, OrderIntent
from orders.services.cancel import cancel_one, cancel_orders, orders_to_cancel
from orders.services.common import client, now, record
from orders.services.errors import TradingError
from orders.services.values import CancelResult
from parsec.errors import explain

logger = logging.getLogger(__name__)

ACTION = "order.cancel.killswitch"


def engage_kill_switch(
    *, scope: str, actor, reason: str, customer: Customer | None = None, exchange: str = "", market_native_id: str = "",
) -> tuple[KillSwitch, list[CancelResult]]:
    """Freeze placement in a scope (committed first: new placements stop at once), then cancel its open orders."""
    if not reason.strip():
        raise TradingError("Say why the kill switch is engaged.", code="reason_required", field="reason")
    if scope == KillSwitch.Scope.CUSTOMER and customer is None:
        raise TradingError("Choose the customer to freeze.", code="invalid", field="customer")
    if scope == KillSwitch.Scope.MARKET and not (exchange and market_native_id):
        raise TradingError("Choose the market to freeze.", code="invalid", field="market")
    try:
        with transaction.atomic():
            switch = KillSwitch.objects.create(
                scope=scope, reason=reason, engaged_by=actor,
                customer=customer if scope == KillSwitch.Scope.CUSTOMER else None,
                exchange=exchange if scope == KillSwitch.Scope.MARKET else "",
                market_native_id=market_native_id if scope == KillSwitch.Scope.MARKET else "",
            )
    except IntegrityError:
        raise TradingError("A kill switch is already engaged for this scope.", code="already_engaged") from None
    in_flight = selectors.unresolved_in_scope(switch).count()
    request = {"scope": scope, "customer": str(customer.parsec_customer_id) if customer else None,
               "exchange": exchange, "market_id": market_native_id}
    record(actor=actor, action="killswitch.engage", customer=customer, reason=reason, request=request,
           outcome="ok", response={"kill_switch": switch.pk, "in_flight": in_flight})
    _add_to_summary(switch.pk, in_flight=in_flight)
    live = orders_to_cancel(**switch_scope(switch)).count()
    if scope == KillSwitch.Scope.BUILDER or live > settings.KILL_SWITCH_INLINE_CANCELS:
        # One Parsec call per order: a whole builder's book is cancelled by a worker, and the
        # switch's summary says how far it got (placement is frozen already).
        from orders.tasks import cancel_for_kill_switch

        _add_to_summary(switch.pk, queued=live)
        try:
            cancel_for_kill_switch.apply_async(args=(switch.pk, getattr(actor, "pk", None)))
        except Exception:  # no broker: nothing else would cancel them, so cancel them here
            logger.warning("could not enqueue the cancels of kill switch #%s; cancelling inline", switch.pk, exc_info=True)
        else:
            switch.refresh_from_db()
            return switch, []
    results = cancel_for_switch(switch=switch, actor=actor)
    switch.refresh_from_db()
    return switch, results


def switch_scope(switch: KillSwitch) -> dict:
    """The orders a switch covers, as orders_to_cancel/cancel_orders take them (the switch row
    holds a customer only for the customer scope and a market only for the market scope)."""
    return {"customer": switch.customer, "exchange": switch.exchange, "market_native_id": switch.market_native_id}


def cancel_for_switch(*, switch: KillSwitch, actor) -> list[CancelResult]:
    """Cancel the open orders in a switch's scope and add them to its summary (a redelivered
    run finds the orders already cancelled and adds nothing). A run that starts after the switch
    was released (a worker died, the task came back late) cancels only orders placed before the
    release: the ones placed since are allowed."""
    switch.refresh_from_db()
    results = cancel_orders(actor=actor, reason=f"Kill switch #{switch.pk}: {switch.reason}", action=ACTION,
                            seen_before=switch.released_at, **switch_scope(switch))
    _add_to_summary(switch.pk, results=results, finished=True)
    return results


def cancel_in_flight(*, switch: KillSwitch, intent: OrderIntent, order: Order | None, parsec_order_id: str, actor) -> CancelResult | None:
    """An order placed into a frozen scope (it was being sent, or unknown, when the switch was
    engaged, or Parsec's answer came late): cancel it now and count it on the switch."""
    reason = f"Kill switch #{switch.pk}: {switch.reason} (the order was on its way when trading was frozen)"
    if order is not None:
        result = cancel_one(order=order, actor=actor, reason=reason, action=ACTION)
    else:  # the mirror failed to take the order: cancel it by its Parsec id
        request = {"order_id": parsec_order_id, "exchange": intent.exchange, "market_id": intent.market_native_id}
        try:
            client().cancel_order(customer_id=str(intent.customer.parsec_customer_id), exchange=intent.exchange,
                                  order_id=parsec_order_id)
        except Exception as exc:
            explained = explain(exc)
            record(actor=actor, action=ACTION, customer=intent.customer, reason=reason, request=request, outcome="error",
                   response={"error_code": explained.code, "error": explained.message})
            _add_to_summary(switch.pk, failed=[{"order": parsec_order_id, "reason": explained.message}])
            return None
        record(actor=actor, action=ACTION, customer=intent.customer, reason=reason, request=request, outcome="ok",
               response={"result": "cancelled"})
        _add_to_summary(switch.pk, cancelled=1, caught_in_flight=1)
        return None
    _add_to_summary(switch.pk, results=[result], caught_in_flight=1)
    return result


def _add_to_summary(switch_pk: int, *, results: list[CancelResult] = (), failed: list[dict] = (), finished: bool = False,
                    **counts: int) -> None:
    """Add to the switch's summary (several workers may report at once: one row lock each).
    ``finished``: the cancels of the open orders are done (no longer ``queued``)."""
    counts = dict(counts)
    counts["cancelled"] = counts.get("cancelled", 0) + sum(r.result == "cancelled" for r in results)
    counts["already_closed"] = counts.get("already_closed", 0) + sum(r.result in ("already_filled", "already_closed") for r in results)
    failed = [*failed, *({"order": r.order.parsec_order_id, "reason": r.message} for r in results if r.result == "failed")]
    with transaction.atomic():
        switch = KillSwitch.objects.select_for_update().get(pk=switch_pk)
        summary = dict(switch.cancel_summary or {})
        for name, value in counts.items():
            summary[name] = summary.get(name, 0) + value
        summary["failed"] = [*summary.get("failed", []), *failed]
        if finished:
            summary.pop("queued", None)
        KillSwitch.objects.filter(pk=switch_pk).update(cancel_summary=summary)


def release_kill_switch(*, switch: KillSwitch, actor, reason: str = "") -> KillSwitch:
    released = KillSwitch.objects.filter(pk=switch.pk, released_at__isnull=True).update(released_at=now(), released_by=actor)
    switch.refresh_from_db()
    if not released:
        raise TradingError("This kill switch is already released.", code="already_released")
    record(actor=actor, action="killswitch.release", customer=switch.customer, reason=reason,
           request={"kill_switch": switch.pk, "scope": switch.scope}, outcome="ok", response={})
    return switch
