"""Reads of the orders mirror that more than one caller needs (admin, API, dashboard, sync, the trading rules)."""

from __future__ import annotations

from decimal import Decimal

from django.db.models import Q, QuerySet, Sum

from core.money import usdc_from_base_units
from customers.models import BalanceSnapshot, Customer
from orders.models import Fill, KillSwitch, Order, OrderIntent, Position, Side


def order_list() -> QuerySet[Order]:
    return Order.objects.select_related("customer", "market")


def fill_list() -> QuerySet[Fill]:
    return Fill.objects.select_related("customer", "market")


def position_list() -> QuerySet[Position]:
    return Position.objects.select_related("customer", "market")


def live_orders(*, customer: Customer, exchange: str) -> QuerySet[Order]:
    """Orders the mirror still holds as not terminal: the ones to poll by id (served by order_live_idx)."""
    return Order.objects.filter(customer=customer, exchange=exchange, status__in=Order.LIVE_STATUSES)


# --- What the trading rules read --------------------------------------------------------------


def kill_switch_over(*, customer: Customer, exchange: str, market_native_id: str, since) -> KillSwitch | None:
    """The kill switch (if any) covering this customer and market at some moment from ``since``
    until now: engaged now, or released after ``since``."""
    scope = (Q(scope=KillSwitch.Scope.BUILDER) | Q(scope=KillSwitch.Scope.CUSTOMER, customer=customer)
             | Q(scope=KillSwitch.Scope.MARKET, exchange=exchange, market_native_id=market_native_id))
    return KillSwitch.objects.filter(scope).filter(Q(released_at__isnull=True) | Q(released_at__gte=since)).order_by(
        "engaged_at").first()


def engaged_kill_switch(*, customer: Customer | None = None, exchange: str = "", market_native_id: str = "") -> KillSwitch | None:
    """The kill switch (if any) that freezes trading for this customer and market."""
    scope = Q(scope=KillSwitch.Scope.BUILDER)
    if customer is not None:
        scope |= Q(scope=KillSwitch.Scope.CUSTOMER, customer=customer)
    if exchange and market_native_id:
        scope |= Q(scope=KillSwitch.Scope.MARKET, exchange=exchange, market_native_id=market_native_id)
    return KillSwitch.objects.filter(scope, released_at__isnull=True).order_by("engaged_at").first()


def latest_balance(*, customer: Customer, exchange: str) -> BalanceSnapshot | None:
    return BalanceSnapshot.objects.filter(customer=customer, exchange=exchange).order_by("-taken_at", "-id").first()


def sendable_intents(*, customer: Customer, exchange: str, side: str, exclude_intent: OrderIntent | None = None) -> QuerySet[OrderIntent]:
    """Intents that hold money or shares: every one that can still reach Parsec without a new
    decision (queued for a worker, approved, being sent, unknown). A draft the operator never
    confirmed and a request still awaiting its approval hold nothing: the rules are checked
    again when they are sent, against what the others took meanwhile."""
    pending = OrderIntent.objects.filter(
        customer=customer, exchange=exchange, side=side, parsec_order_id__isnull=True,
        status__in=[OrderIntent.Status.NEW, *OrderIntent.UNRESOLVED_STATUSES],
    ).filter(Q(status__in=OrderIntent.UNRESOLVED_STATUSES) | Q(queued_at__isnull=False) | Q(approval__isnull=False))
    if exclude_intent is not None and exclude_intent.pk:
        pending = pending.exclude(pk=exclude_intent.pk)
    return pending


def committed_buy_usdc(*, customer: Customer, exchange: str, exclude_intent: OrderIntent | None = None) -> Decimal:
    """USDC already promised: open buy orders' unfilled notional plus sendable buy intents and their fees."""
    live = Order.objects.filter(customer=customer, exchange=exchange, side=Side.BUY, status__in=Order.LIVE_STATUSES)
    orders_total = sum((price * (size - filled) for price, size, filled in live.values_list("price", "size", "filled")), Decimal(0))
    pending = sendable_intents(customer=customer, exchange=exchange, side=Side.BUY, exclude_intent=exclude_intent)
    intents_total = sum(
        (price * size + usdc_from_base_units(fee or 0) for price, size, fee in pending.values_list("price", "size", "fee_base_units")),
        Decimal(0),
    )
    return orders_total + intents_total


def position_size(*, customer: Customer, exchange: str, market_native_id: str, outcome: str) -> Decimal:
    total = Position.objects.filter(
        customer=customer, exchange=exchange, market_native_id=market_native_id, outcome__iexact=outcome, is_open=True,
    ).aggregate(total=Sum("size"))["total"]
    return total or Decimal(0)


def committed_sell_size(*, customer: Customer, exchange: str, market_native_id: str, outcome: str,
                        exclude_intent: OrderIntent | None = None) -> Decimal:
    """Shares already offered: open sell orders' unfilled size plus sendable sell intents."""
    live = Order.objects.filter(
        customer=customer, exchange=exchange, market_native_id=market_native_id, outcome__iexact=outcome,
        side=Side.SELL, status__in=Order.LIVE_STATUSES,
    )
    orders_total = sum((size - filled for size, filled in live.values_list("size", "filled")), Decimal(0))
    intents_total = sendable_intents(customer=customer, exchange=exchange, side=Side.SELL, exclude_intent=exclude_intent).filter(
        market_native_id=market_native_id, outcome__iexact=outcome,
    ).aggregate(total=Sum("size"))["total"] or Decimal(0)
    return orders_total + intents_total


def unresolved_in_scope(switch: KillSwitch) -> QuerySet[OrderIntent]:
    """Intents being sent or unknown in a kill switch's scope: orders that may be live at Parsec
    though the mirror has no row for them yet."""
    intents = OrderIntent.objects.filter(status__in=OrderIntent.UNRESOLVED_STATUSES)
    if switch.scope == KillSwitch.Scope.CUSTOMER:
        intents = intents.filter(customer_id=switch.customer_id)
    elif switch.scope == KillSwitch.Scope.MARKET:
        intents = intents.filter(exchange=switch.exchange, market_native_id=switch.market_native_id)
    return intents
