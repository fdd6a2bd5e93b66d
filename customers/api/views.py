"""Reads of the customers mirror and the end-user actions, over the same services as the admin."""

from __future__ import annotations

from django.db.models import F, OuterRef, Prefetch, Subquery
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework.decorators import action
from rest_framework.response import Response

from api.idempotency import idempotent
from api.viewsets import MirrorReadViewSet, validated
from compliance.services import record_action
from customers import selectors
from customers.api import serializers
from customers.filters import BalanceSnapshotFilterSet, CustomerFilterSet, SyncRunFilterSet
from customers.models import BalanceSnapshot, Customer
from customers.services import sync_customer_now


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

    required_permissions = {"sync": "customers.sync_customer"}

    queryset = selectors.customer_list().prefetch_related("wallets", "exchange_links", _latest_balances_prefetch())
    serializer_class = serializers.CustomerSerializer
    filterset_class = CustomerFilterSet
    ordering_fields = ["created_at", "last_synced_at", "id"]
    ordering = ["-id"]

    @extend_schema(
        operation_id="customers_sync", tags=["customers"], request=serializers.SyncRequestSerializer,
        summary="Sync this customer from Parsec now",
        description="Starts the same sync as the admin's Sync now; poll the returned run at /api/sync-runs/{id}/.",
        responses={202: serializers.SyncRunSerializer},
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def sync(self, request, pk=None):
        customer = get_object_or_404(Customer, pk=pk)
        data = validated(serializers.SyncRequestSerializer, request)
        run = sync_customer_now(customer=customer, requested_by=request.user, exchange=data.get("exchange"))
        record_action(
            actor=request.user, action="customer.sync", customer=customer, reason="Sync now (API)",
            request={"sync_run": run.pk, "exchange": data.get("exchange")}, outcome="ok",
        )
        return Response(serializers.SyncRunSerializer(run).data, status=202)


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
