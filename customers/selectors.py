"""Reads of the customers mirror that more than one caller needs (admin, API, dashboard, sync)."""

from __future__ import annotations

import uuid

from django.db.models import F, OuterRef, QuerySet, Subquery

from customers.models import BalanceSnapshot, Customer


def customer_list() -> QuerySet[Customer]:
    return Customer.objects.all()


def latest_balances(*, customer: Customer) -> list[BalanceSnapshot]:
    """The newest snapshot per exchange for one customer (one query)."""
    newest = (
        BalanceSnapshot.objects.filter(customer=customer, exchange=OuterRef("exchange"))
        .order_by("-taken_at", "-id").values("pk")[:1]
    )
    return list(
        BalanceSnapshot.objects.filter(customer=customer)
        .annotate(newest_pk=Subquery(newest)).filter(pk=F("newest_pk")).order_by("exchange")
    )


def customer_qps_limit(parsec_customer_id: str) -> int | None:
    """The rate limiter's view of a customer's ``qps_limit`` (None: Parsec's default)."""
    try:
        key = uuid.UUID(str(parsec_customer_id))
    except ValueError:
        return None
    return Customer.objects.filter(parsec_customer_id=key).values_list("qps_limit", flat=True).first()
