"""Sync runs over the API, and "Sync now" for one customer through the same service as the admin."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from api.idempotency import idempotent
from api.viewsets import MirrorReadViewSet, validated
from customers.models import Customer
from sync import selectors
from sync.api import serializers
from sync.filters import SyncRunFilterSet
from sync.services import sync_customer_now


class CustomerSyncView(APIView):
    """``POST /api/customers/{id}/sync/``: the admin's Sync now."""

    required_permissions = {"POST": "customers.sync_customer"}

    @extend_schema(
        operation_id="customers_sync", tags=["customers"], request=serializers.SyncRequestSerializer,
        summary="Sync this customer from Parsec now",
        description="Starts the same sync as the admin's Sync now; poll the returned run at /api/sync-runs/{id}/.",
        responses={202: serializers.SyncRunSerializer},
    )
    @idempotent
    def post(self, request, pk=None):
        customer = get_object_or_404(Customer, pk=pk)
        data = validated(serializers.SyncRequestSerializer, request)
        run = sync_customer_now(customer=customer, requested_by=request.user, exchange=data.get("exchange"), reason="Sync now (API)")
        return Response(serializers.SyncRunSerializer(run).data, status=202)


class SyncRunViewSet(MirrorReadViewSet):
    queryset = selectors.sync_run_list()
    serializer_class = serializers.SyncRunSerializer
    filterset_class = SyncRunFilterSet
    ordering_fields = ["started_at"]
    ordering = ["-started_at"]
