"""Reads of the orders mirror that more than one caller needs (admin, API, dashboard, sync)."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import QuerySet

from customers.models import Customer
from orders.models import Fill, Market, Order, Position


def order_list() -> QuerySet[Order]:
    return Order.objects.select_related("customer", "market")


def fill_list() -> QuerySet[Fill]:
    return Fill.objects.select_related("customer", "market")


def position_list() -> QuerySet[Position]:
    return Position.objects.select_related("customer", "market")


def live_orders(*, customer: Customer, exchange: str) -> QuerySet[Order]:
    """Orders the mirror still holds as not terminal: the ones to poll by id (served by order_live_idx)."""
    return Order.objects.filter(customer=customer, exchange=exchange, status__in=Order.LIVE_STATUSES)


def markets_by_order_market_id(*, exchange: str, market_ids: Iterable[str]) -> dict[str, Market]:
    """Catalogue rows keyed by the id that orders, fills and positions carry."""
    wanted = set(market_ids)
    if not wanted:
        return {}
    markets = Market.objects.filter(exchange=exchange, order_market_id__in=wanted)
    return {market.order_market_id: market for market in markets}
