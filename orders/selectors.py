"""Reads of the orders mirror that more than one caller needs (admin, API, dashboard, sync)."""

from __future__ import annotations

from django.db.models import QuerySet

from customers.models import Customer
from orders.models import Fill, Order, Position


def order_list() -> QuerySet[Order]:
    return Order.objects.select_related("customer", "market")


def fill_list() -> QuerySet[Fill]:
    return Fill.objects.select_related("customer", "market")


def position_list() -> QuerySet[Position]:
    return Position.objects.select_related("customer", "market")


def live_orders(*, customer: Customer, exchange: str) -> QuerySet[Order]:
    """Orders the mirror still holds as not terminal: the ones to poll by id (served by order_live_idx)."""
    return Order.objects.filter(customer=customer, exchange=exchange, status__in=Order.LIVE_STATUSES)
