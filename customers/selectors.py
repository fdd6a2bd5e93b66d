"""Reads of the customers mirror that more than one caller needs (admin, API, dashboard, sync)."""

from __future__ import annotations

from datetime import datetime

from django.db.models import F, OuterRef, QuerySet, Subquery

from customers.models import BalanceSnapshot, Customer, SyncRun


def customer_list() -> QuerySet[Customer]:
    return Customer.objects.all()


def balance_history(*, customer: Customer | None = None) -> QuerySet[BalanceSnapshot]:
    snapshots = BalanceSnapshot.objects.select_related("customer")
    return snapshots.filter(customer=customer) if customer is not None else snapshots


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


def sync_run_list() -> QuerySet[SyncRun]:
    return SyncRun.objects.select_related("customer", "requested_by")


def latest_sync_runs() -> list[SyncRun]:
    """The most recent run of each kind, to tell at a glance whether sync is healthy and how far behind."""
    newest = SyncRun.objects.filter(kind=OuterRef("kind")).order_by("-started_at", "-id").values("pk")[:1]
    return list(
        SyncRun.objects.annotate(newest_pk=Subquery(newest)).filter(pk=F("newest_pk"))
        .select_related("customer").order_by("kind")
    )


def customers_active_since(*, since: datetime) -> QuerySet[Customer]:
    """Active customers with trading activity after ``since`` (refreshed more often by the schedule)."""
    return Customer.objects.filter(status=Customer.Status.ACTIVE, last_activity_at__gte=since)
