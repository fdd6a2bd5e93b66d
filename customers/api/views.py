"""Reads of the customers mirror and the end-user actions, over the same services as the admin."""

from __future__ import annotations

from django.db.models import F, OuterRef, Prefetch, Subquery
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.decorators import action
from rest_framework.response import Response

from api.idempotency import idempotent, remember
from api.schema import ErrorSerializer
from api.viewsets import MirrorReadViewSet, validated
from customers import selectors, services
from customers.api import serializers
from customers.filters import BalanceSnapshotFilterSet, CustomerFilterSet
from customers.models import BalanceSnapshot, Customer

ENDUSER_REFUSALS = {
    409: OpenApiResponse(ErrorSerializer, description=(
        "The state is in the way: `exists` (external id taken), `deactivated`, `already_requested`, `over_pool` (a "
        "qps_limit above the builder's pool; the message gives the numbers); or the "
        "Idempotency-Key is in flight.")),
    422: OpenApiResponse(ErrorSerializer, description=(
        "Refused by a business rule (the admin's code: e.g. `bad_email`, `managed_kalshi`, `missing_credentials`, "
        "`bad_qps_limit`, `reason_required`, `confirmation_mismatch`), by Parsec (`parsec_refused`), or the Idempotency-Key was used "
        "for a different request.")),
}


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

    required_permissions = {
        "create": "customers.manage_enduser", "onboard": "customers.manage_enduser",
        "qps_limit": "customers.manage_enduser", "deactivate": "customers.manage_enduser",
    }
    parsec_error_statuses = [502, 503]

    queryset = selectors.customer_list().prefetch_related("wallets", "exchange_links", _latest_balances_prefetch())
    serializer_class = serializers.CustomerSerializer
    filterset_class = CustomerFilterSet
    ordering_fields = ["created_at", "last_synced_at", "id"]
    ordering = ["-id"]

    # --- End-user management: customers.services, exactly as the admin calls them -------

    def _customer(self, pk) -> Customer:
        return get_object_or_404(self.get_queryset(), pk=pk)

    @extend_schema(
        operation_id="customers_create", tags=["customers"], request=serializers.CreateEndUserSerializer,
        summary="Create an end-user at Parsec and mirror it",
        responses={201: serializers.CustomerSerializer, **ENDUSER_REFUSALS},
    )
    @idempotent
    def create(self, request):
        data = validated(serializers.CreateEndUserSerializer, request)
        customer = services.create_end_user(
            actor=request.user, external_id=data["external_id"], email=data["email"], eoa_address=data["eoa_address"],
        )
        remember(request.idempotency_record, customer=customer.pk)
        return Response(serializers.CustomerSerializer(self._customer(customer.pk)).data, status=201)

    @extend_schema(
        operation_id="customers_onboard", tags=["customers"], request=serializers.OnboardSerializer,
        summary="Onboard the end-user to an exchange (managed Polymarket, or self mode with credentials)",
        description=(
            "Self mode passes the exchange credentials to Parsec once: the back-office does not store, log or audit "
            "them, and the stored idempotent response never contains them (the request is kept only as a keyed hash)."
        ),
        responses={200: serializers.OnboardResultSerializer, **ENDUSER_REFUSALS},
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def onboard(self, request, pk=None):
        customer = self._customer(pk)
        data = validated(serializers.OnboardSerializer, request)
        result = services.onboard_end_user(
            actor=request.user, customer=customer, exchange=data["exchange"], mode=data["mode"],
            credentials=dict(data["credentials"] or {}), wallet_type=data["wallet_type"], eoa_address=data["eoa_address"],
        )
        body = {
            "exchange": result.exchange, "mode": result.mode, "status": result.status,
            "steps_completed": list(result.steps_completed), "linked_exchanges": list(result.linked_exchanges),
            "eoa_address": result.eoa_address, "safe_address": result.safe_address, "customer": self._customer(pk),
        }
        return Response(serializers.OnboardResultSerializer(body).data)

    @extend_schema(
        operation_id="customers_qps_limit", tags=["customers"], request=serializers.QpsLimitSerializer,
        summary="Change the end-user's qps_limit (the builder pool is read before and after)",
        responses={200: serializers.QpsChangeSerializer, **ENDUSER_REFUSALS},
    )
    @action(detail=True, methods=["post"], url_path="qps-limit")
    @idempotent
    def qps_limit(self, request, pk=None):
        customer = self._customer(pk)
        data = validated(serializers.QpsLimitSerializer, request)
        change = services.update_qps_limit(
            actor=request.user, customer=customer, qps_limit=data["qps_limit"], reason=data["reason"],
        )
        body = {"old_limit": change.old_limit, "new_limit": change.new_limit, "before": change.before,
                "after": change.after, "customer": self._customer(pk)}
        return Response(serializers.QpsChangeSerializer(body).data)

    @extend_schema(
        operation_id="customers_deactivate", tags=["customers"], request=serializers.DeactivateSerializer,
        summary="Ask for the end-user's deactivation (four eyes)",
        description=(
            "Deactivation is irreversible, so it goes through the admin's four-eyes approval: 202 with the approval "
            "request; it reaches Parsec only when a second Operations user approves it in the admin."
        ),
        responses={202: serializers.ApprovalRequestSerializer, **ENDUSER_REFUSALS},
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def deactivate(self, request, pk=None):
        customer = self._customer(pk)
        data = validated(serializers.DeactivateSerializer, request)
        approval = services.request_deactivation(
            actor=request.user, customer=customer, confirm_external_id=data["confirm_external_id"], reason=data["reason"],
        )
        remember(request.idempotency_record, approval=approval.pk)
        return Response(serializers.ApprovalRequestSerializer(approval).data, status=202)


class BalanceSnapshotViewSet(MirrorReadViewSet):
    """Balance history: one row per balance read."""

    queryset = BalanceSnapshot.objects.all()
    serializer_class = serializers.BalanceSnapshotSerializer
    filterset_class = BalanceSnapshotFilterSet
    ordering_fields = ["taken_at"]
    ordering = ["-taken_at"]
