"""Reads of the customers mirror and the end-user actions, over the same services as the admin."""

from __future__ import annotations

from django.db.models import F, OuterRef, Prefetch, Subquery

from api.viewsets import MirrorReadViewSet
from customers import selectors
from customers.api import serializers
from customers.filters import BalanceSnapshotFilterSet, CustomerFilterSet, SyncRunFilterSet
from customers.models import BalanceSnapshot


def _latest_balances_prefetch() -> Prefetch:
    """The newest snapshot per (customer, exchange), fetched for a whole page in one query."""
    newest = (
        BalanceSnapshot.objects.filter(customer=OuterRef("customer"), exchange=OuterRef("exchange"))
        .order_by("-taken_at", "-id").values("pk")[:1]
    )
    latest = BalanceSnapshot.objects.annotate(newest_pk=Subquery(newest)).filter(pk=F("newest_pk")).order_by("exchange")
    return Prefetch("balance_snapshots", queryset=latest, to_attr="latest_balances")


class CustomerViewSet(MirrorReadViewSet):
    """End-users with their wallets, exchange links and latest balance per exchange."""

    queryset = selectors.customer_list().prefetch_related("wallets", "exchange_links", _latest_balances_prefetch())
    serializer_class = serializers.CustomerSerializer
    filterset_class = CustomerFilterSet
    ordering_fields = ["created_at", "last_synced_at", "id"]
    ordering = ["-id"]


class BalanceSnapshotViewSet(MirrorReadViewSet):
    """Balance history: one row per balance read."""

    queryset = BalanceSnapshot.objects.all()
    serializer_class = serializers.BalanceSnapshotSerializer
    filterset_class = BalanceSnapshotFilterSet
    ordering_fields = ["taken_at"]
    ordering = ["-taken_at"]


class SyncRunViewSet(MirrorReadViewSet):
    queryset = selectors.sync_run_list()
    serializer_class = serializers.SyncRunSerializer
    filterset_class = SyncRunFilterSet
    ordering_fields = ["started_at"]
    ordering = ["-started_at"]
