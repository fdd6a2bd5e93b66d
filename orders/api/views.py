"""Reads of the orders mirror and the trading actions, over the same services as the admin."""

from __future__ import annotations

import uuid
from contextlib import contextmanager

import django_filters as filters
from django.conf import settings
from django.db.models import Q
from django.shortcuts import get_object_or_404
from django.utils.crypto import salted_hmac
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from api.errors import ApiError, error_body, parsec_error
from api.idempotency import HEADER, idempotent, principal_of, remember
from api.schema import ErrorSerializer
from api.viewsets import MirrorReadViewSet, validated
from audit.services import record_action
from customers.enums import Exchange
from customers.filters import MAX_PK_DIGITS, CustomerRefFilter, customer_match
from customers.models import Customer
from orders import escrow, market_data, messages, selectors, services
from orders.api import serializers
from orders.filters import FillFilterSet, MarketFilterSet, MarketRefFilter, OrderFilterSet, PositionFilterSet
from orders.models import FeeEscrowRecord, Fill, Market, Order, OrderIntent, Settlement
from orders.pnl import customer_pnl, totals
from parsec import errors as parsec_errors
from parsec.client import PRICE_INTERVALS
from parsec.errors import RATE_LIMIT_CODES
from parsec.types import FeeAuthorization


class OrderIntentFilterSet(filters.FilterSet):
    """Intents have no admin-wide FilterSet yet; the customer filter is the shared one."""

    customer = CustomerRefFilter(field_name="customer")
    status = filters.MultipleChoiceFilter(choices=OrderIntent.Status.choices)
    exchange = filters.ChoiceFilter(choices=Exchange.choices)
    source = filters.ChoiceFilter(choices=OrderIntent.Source.choices)
    created = filters.IsoDateTimeFromToRangeFilter(field_name="created_at")

    class Meta:
        model = OrderIntent
        fields: list[str] = []


NO_SUCH_OUTCOME = OpenApiResponse(ErrorSerializer, description="The market has no such outcome; `error.fields.outcome` lists its outcomes.")


class MarketViewSet(MirrorReadViewSet):
    """The market catalogue: lifecycle (status, winner, past its end date), our exposure, and
    Parsec's trades and price history read live through the gateway."""

    queryset = Market.objects.all()
    serializer_class = serializers.MarketSerializer
    filterset_class = MarketFilterSet
    ordering_fields = ["first_seen_at", "last_seen_at", "end_date"]
    ordering = ["-first_seen_at"]
    parsec_read_error_statuses = [502, 503]

    def get_serializer_class(self):
        return serializers.MarketDetailSerializer if self.action == "retrieve" else super().get_serializer_class()

    def _outcome(self, market: Market) -> str:
        outcome = self.request.query_params.get("outcome") or (market.outcome_names[0] if market.outcome_names else "")
        if market.outcome_names and outcome not in market.outcome_names:
            raise ApiError(status_code=422, code="invalid", message=f"outcome must be one of: {', '.join(market.outcome_names)}", fields={"outcome": [f"outcome must be one of: {', '.join(market.outcome_names)}"]})
        return outcome

    @extend_schema(summary="Our exposure to a market: holders, open orders, notional, fees, settlements",
                   responses={200: serializers.ExposureSerializer})
    @action(detail=True, methods=["get"])
    def exposure(self, request, pk=None):
        return Response(serializers.ExposureSerializer(market_data.exposure(self.get_object())).data)

    @extend_schema(summary="Recent public trades of one outcome (Parsec /trades, live)",
                   parameters=[OpenApiParameter("outcome", str),
                               OpenApiParameter("limit", {"type": "integer", "minimum": 1, "maximum": 500})],
                   responses={200: serializers.TradeSerializer(many=True), 422: NO_SUCH_OUTCOME})
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=None)
    def trades(self, request, pk=None):
        _only_params(request, "outcome", "limit")
        market = self.get_object()
        limit = _bounded_int(request.query_params.get("limit"), default=50, low=1, high=500, name="limit")
        with _live_read():
            page = _client().list_trades(parsec_id=market.parsec_id, outcome=self._outcome(market) or None, limit=limit)
        return Response(serializers.TradeSerializer(page.trades, many=True).data)

    @extend_schema(summary="Price history of one outcome (Parsec /price candles, live)",
                   parameters=[OpenApiParameter("outcome", str), OpenApiParameter("interval", str, enum=sorted(PRICE_INTERVALS))],
                   responses={200: serializers.CandleSerializer(many=True), 422: NO_SUCH_OUTCOME})
    @action(detail=True, methods=["get"], url_path="price-history", filter_backends=[], pagination_class=None)
    def price_history(self, request, pk=None):
        _only_params(request, "outcome", "interval")
        market = self.get_object()
        interval = request.query_params.get("interval") or "1h"
        if interval not in PRICE_INTERVALS:
            raise ApiError(status_code=400, code="invalid", message=f"interval must be one of: {', '.join(sorted(PRICE_INTERVALS))}", fields={"interval": [f"interval must be one of: {', '.join(sorted(PRICE_INTERVALS))}"]})
        with _live_read():
            history = _client().get_price_history(parsec_id=market.parsec_id, outcome=self._outcome(market) or None, interval=interval)
        return Response(serializers.CandleSerializer(history.candles, many=True).data)

    @extend_schema(summary="Markets ending within `days`, with our customers' exposure, largest first",
                   parameters=[OpenApiParameter("days", {"type": "integer", "minimum": 1, "maximum": 365})], responses={200: serializers.ResolvingSoonSerializer(many=True)})
    @action(detail=False, methods=["get"], url_path="resolving-soon", filter_backends=[], pagination_class=None)
    def resolving_soon(self, request):
        _only_params(request, "days")
        days = _bounded_int(request.query_params.get("days"), default=settings.MARKETS_RESOLVING_SOON_DAYS, low=1, high=365, name="days")
        return Response(serializers.ResolvingSoonSerializer(market_data.resolving_soon(days=days), many=True).data)


@contextmanager
def _live_read():
    """A live read of something Parsec does not know is a 404 (for a write, the same refusal is a
    422: the request was valid but cannot be carried out); code and sentence stay Parsec's."""
    try:
        yield
    except parsec_errors.NotFound as exc:
        refusal = parsec_error(exc)
        raise ApiError(status_code=404, code=refusal.code, message=refusal.message) from exc


def _only_params(request, *allowed: str) -> None:
    """An action that is not a list reads its own parameters; anything else is a 400, as on lists."""
    unknown = [name for name in request.query_params if name not in allowed]
    if unknown:
        message = f"Unknown query parameter. Allowed: {', '.join(sorted(allowed))}."
        raise ApiError(status_code=400, code="invalid", message=message, fields={name: [message] for name in unknown})


def _bounded_int(raw, *, default: int, low: int, high: int, name: str) -> int:
    if raw in (None, ""):
        return default
    if not str(raw).isdigit() or not low <= int(raw) <= high:
        message = f"{name} must be a whole number from {low} to {high}"
        raise ApiError(status_code=400, code="invalid", message=message, fields={name: [message]})
    return int(raw)


def _client():
    from parsec.client import get_client

    return get_client()


class SettlementFilterSet(filters.FilterSet):
    customer = CustomerRefFilter(field_name="customer")
    exchange = filters.ChoiceFilter(choices=Exchange.choices)
    market = MarketRefFilter(label="Market")
    result = filters.ChoiceFilter(choices=Settlement.Result.choices)
    settled = filters.IsoDateTimeFromToRangeFilter(field_name="settled_at")

    class Meta:
        model = Settlement
        fields: list[str] = []


class SettlementViewSet(MirrorReadViewSet):
    """What each holding paid when its market was resolved or voided (inferred by the sync)."""

    queryset = Settlement.objects.select_related("customer", "market")
    serializer_class = serializers.SettlementSerializer
    filterset_class = SettlementFilterSet
    ordering_fields = ["settled_at"]
    ordering = ["-settled_at"]


class PnlView(viewsets.ViewSet):
    """A customer's P&L by average cost over fills and settlements, in USDC base units."""

    required_permissions = {"GET": "orders.view_fill"}
    queryset = Fill.objects.none()

    @extend_schema(operation_id="pnl_retrieve", tags=["pnl"], summary="A customer's realised P&L, fees and payouts",
                   parameters=[OpenApiParameter("customer", str, required=True), OpenApiParameter("exchange", str)],
                   responses={200: serializers.PnlSerializer})
    def retrieve(self, request):
        ref = request.query_params.get("customer", "").strip()
        customer = Customer.objects.filter(customer_match(ref)).first() if ref else None
        if customer is None:
            raise ApiError(status_code=404, code="not_found", message="No such customer.", fields={"customer": ["No such customer."]})
        exchange = request.query_params.get("exchange") or None
        if exchange is not None and exchange not in Exchange.values:
            raise ApiError(status_code=400, code="invalid", message="Unknown exchange.", fields={"exchange": ["Unknown exchange."]})
        lines = customer_pnl(customer=customer, exchange=exchange)
        figures = totals(lines)
        return Response(serializers.PnlSerializer({
            "customer": customer.pk, "realised_base_units": figures["realised_units"], "fees_base_units": figures["fees_units"],
            "payout_base_units": figures["payout_units"], "net_base_units": figures["net_units"], "lines": lines,
        }).data)


class OrderViewSet(MirrorReadViewSet):
    queryset = selectors.order_list()
    serializer_class = serializers.OrderSerializer
    filterset_class = OrderFilterSet
    ordering_fields = ["created_at", "last_seen_at"]


class FillViewSet(MirrorReadViewSet):
    queryset = selectors.fill_list()
    serializer_class = serializers.FillSerializer
    filterset_class = FillFilterSet


class PositionViewSet(MirrorReadViewSet):
    queryset = selectors.position_list()
    serializer_class = serializers.PositionSerializer
    filterset_class = PositionFilterSet
    ordering_fields = ["first_seen_at", "last_seen_at"]
    ordering = ["-last_seen_at"]


class OrderIntentViewSet(MirrorReadViewSet):
    """Order intents: every placement asked of the back-office, and where it stands."""

    queryset = OrderIntent.objects.select_related("customer", "market")
    serializer_class = serializers.OrderIntentSerializer
    filterset_class = OrderIntentFilterSet


class FeeEscrowRecordFilterSet(filters.FilterSet):
    customer = CustomerRefFilter(field_name="customer")
    state = filters.MultipleChoiceFilter(choices=FeeEscrowRecord.State.choices)
    reconciliation = filters.MultipleChoiceFilter(choices=FeeEscrowRecord.Reconciliation.choices,
                                                  label="The verdict of the last reading of the chain")
    flagged = filters.BooleanFilter(method="filter_flagged", label="Differs from the escrow's record")
    fee_order_id = filters.CharFilter(lookup_expr="iexact")
    created = filters.IsoDateTimeFromToRangeFilter(field_name="created_at")
    updated_since = filters.IsoDateTimeFilter(method="filter_updated_since",
                                              label="Authorised, pulled, settled or checked at or after this time")

    class Meta:
        model = FeeEscrowRecord
        fields: list[str] = []

    def filter_flagged(self, qs, name, value):
        return qs.exclude(discrepancy="") if value else qs.filter(discrepancy="")

    def filter_updated_since(self, qs, name, value):
        # The record has no updated_at: any of its lifecycle times moving counts as an update.
        return qs.filter(Q(created_at__gte=value) | Q(pulled_at__gte=value) | Q(settled_at__gte=value) | Q(checked_at__gte=value))


class FeeEscrowRecordViewSet(MirrorReadViewSet):
    """The builder's fee escrow records: one per fee_auth, its lifecycle and the split, as checked
    against the escrow's own record (``discrepancy`` non-empty = flagged)."""

    queryset = FeeEscrowRecord.objects.select_related("customer", "intent").prefetch_related("chain_events")
    serializer_class = serializers.FeeEscrowRecordSerializer
    filterset_class = FeeEscrowRecordFilterSet
    ordering_fields = ["created_at"]
    ordering = ["-created_at"]


class EscrowConfigView(viewsets.ViewSet):
    """The builder's fee escrow configuration, read from Parsec (GET /builder/escrow-config)."""

    required_permissions = {"GET": "orders.view_feeescrowrecord"}
    parsec_read_error_statuses = [502, 503]
    queryset = FeeEscrowRecord.objects.none()

    @extend_schema(
        operation_id="escrow_config_retrieve", tags=["escrow"], summary="The builder's escrow configuration",
        responses={200: serializers.EscrowConfigSerializer},
    )
    def retrieve(self, request):
        return Response(serializers.EscrowConfigSerializer(escrow.escrow_config()).data)


# --- Trading writes: the admin's services, exactly once per Idempotency-Key -------------------

PLACEMENT_STATUS = {
    OrderIntent.Status.PLACED: 201,
    OrderIntent.Status.UNKNOWN: 202,
    OrderIntent.Status.SENDING: 202,
    OrderIntent.Status.AWAITING_APPROVAL: 202,
    OrderIntent.Status.NEW: 202,
}


def _intent_key(request, idempotency_key: str) -> uuid.UUID:
    """The intent's key: the caller's Idempotency-Key under a secret of ours (derived from
    SECRET_KEY) and the principal, so a retry after a crash finds the intent the first attempt
    wrote, and nobody can predict (and plant) the key another principal's request will use."""
    digest = salted_hmac("orders.api.intent-key", f"{principal_of(request)}\x00{idempotency_key}", algorithm="sha256").digest()
    return uuid.UUID(bytes=digest[:16], version=4)


def resolve_customer(value: str, *, field: str = "customer") -> Customer:
    customer = Customer.objects.filter(customer_match(value)).first()
    if customer is None:
        raise ApiError(status_code=422, code="unknown_reference", message="No such customer in the mirror.",
                       fields={field: ["No customer has this id, Parsec customer id or external id."]})
    return customer


def resolve_market(value: str, *, field: str = "market") -> Market:
    value = value.strip()
    match = Q(parsec_id=value) | Q(exchange_market_id=value) | Q(order_market_id=value)
    if value.isascii() and value.isdigit() and len(value) <= MAX_PK_DIGITS:
        match |= Q(pk=int(value))
    market = Market.objects.filter(match).order_by("pk").first()
    if market is None:
        raise ApiError(status_code=422, code="unknown_reference", message="No such market in the catalogue.",
                       fields={field: ["No market has this id, parsec_id or native id."]})
    return market


def placement_response(intent: OrderIntent) -> Response:
    body = serializers.OrderIntentSerializer(intent).data
    if intent.status in PLACEMENT_STATUS:
        return Response(body, status=PLACEMENT_STATUS[intent.status])
    if intent.status == OrderIntent.Status.NOT_PLACED and intent.error_code in RATE_LIMIT_CODES:
        status, headers = 429, {"Retry-After": "1"}
    elif intent.status == OrderIntent.Status.NEEDS_REVIEW:
        return Response(body, status=200)
    else:
        status, headers = 422, {}
    error = error_body(intent.error_code or intent.status, messages.intent_status_message(intent))["error"]
    return Response({"error": error, "intent": body}, status=status, headers=headers)


class PlaceOrderView(viewsets.ViewSet):
    required_permissions = {"create": "orders.place_order", "reconcile": "orders.reconcile_intent"}
    parsec_error_statuses = [502, 503]
    queryset = OrderIntent.objects.all()

    @extend_schema(
        operation_id="order_intents_place", tags=["order-intents"], request=serializers.PlaceOrderSerializer,
        summary="Place an order for a customer",
        description=(
            "Validates the order exactly as the admin's form does, writes an order intent, then sends it to Parsec "
            "once. 201: placed. 202: Parsec's answer was lost (status `unknown`, reconciled automatically) or a "
            "second Operations user must approve it (`awaiting_approval`). 422/429: refused, with the intent. "
            "A `fee_auth` (signed in the builder's app) is checked first, exactly as the admin checks it: 422 with "
            "`escrow_polymarket_only`, `escrow_disabled`, `bad_signature`, `wrong_signer`, `payer_not_customer` (the "
            "payer must be one of the customer's wallets), `expired`, `below_minimum`, `above_maximum` (the builder "
            "tier's maximum bps of notional), `reused_order_id` or `fee_mismatch`, and nothing written; an accepted "
            "one gets a fee escrow record, settled as `refused` if Parsec refuses the order. The intent's key is the "
            "Idempotency-Key under a secret of the server's and the caller's identity: no other caller can predict it."
        ),
        responses={
            201: serializers.OrderIntentSerializer, 202: serializers.OrderIntentSerializer,
            200: OpenApiResponse(serializers.OrderIntentSerializer, description="Resolved as needing review."),
            422: OpenApiResponse(serializers.PlacementRefusalSerializer, description="Refused: by a business rule, by Parsec (with the intent), or the Idempotency-Key was used for another request."),
            429: serializers.PlacementRefusalSerializer,
        },
    )
    @idempotent
    def create(self, request):
        data = validated(serializers.PlaceOrderSerializer, request)
        fee_auth = FeeAuthorization(**data["fee_auth"]) if data.get("fee_auth") else None
        customer, market = resolve_customer(data["customer"]), resolve_market(data["market"])
        order = services.OrderRequest(
            customer=customer, exchange=market.exchange, market=market, outcome=data["outcome"], side=data["side"],
            price=data["price"], size=data["size"], order_type=data["order_type"], expiration=data.get("expiration"),
            reason=data["reason"], source=OrderIntent.Source.API, fee_auth=fee_auth,
        )
        intent = services.create_intent(request=order, actor=request.user, key=_intent_key(request, request.headers[HEADER]))
        remember(request.idempotency_record, intent=str(intent.key))
        services.submit_intent(intent=intent, actor=request.user, fee_auth=fee_auth, approval_reason=data["reason"])
        intent.refresh_from_db()
        return placement_response(intent)

    @extend_schema(
        operation_id="order_intents_reconcile", tags=["order-intents"], request=serializers.ReasonSerializer,
        summary="Reconcile an intent whose answer was lost",
        responses={200: serializers.OrderIntentSerializer},
    )
    @idempotent
    def reconcile(self, request, pk=None):
        intent = get_object_or_404(OrderIntent, pk=pk)
        data = validated(serializers.ReasonSerializer, request)
        record_action(actor=request.user, action="order.reconcile_requested", customer=intent.customer,
                      reason=data["reason"], request={"intent": str(intent.key)}, outcome="ok")
        intent = services.reconcile_intent(intent=intent, actor=request.user)
        return Response(serializers.OrderIntentSerializer(intent).data)


class CancelOrdersView(viewsets.ViewSet):
    required_permissions = {"cancel_one": "orders.cancel_order", "cancel_all": "orders.cancel_order"}
    parsec_error_statuses = [502, 503]
    queryset = Order.objects.all()

    @extend_schema(
        operation_id="orders_cancel", tags=["orders"], request=serializers.ReasonSerializer,
        summary="Cancel one order", responses={200: serializers.CancelResponseSerializer},
    )
    @idempotent
    def cancel_one(self, request, pk=None):
        order = get_object_or_404(Order, pk=pk)
        data = validated(serializers.ReasonSerializer, request)
        if order.is_terminal:
            raise ApiError(status_code=409, code="order_not_live", message=f"This order is already {order.status}; nothing to cancel.")
        results = services.cancel_orders(actor=request.user, reason=data["reason"], order_ids=[order.pk])
        return Response(serializers.CancelResponseSerializer({"results": results}).data)

    @extend_schema(
        operation_id="orders_cancel_all", tags=["orders"], request=serializers.CancelAllSerializer,
        summary="Cancel all of a customer's open orders (optionally one exchange or market)",
        responses={200: serializers.CancelResponseSerializer},
    )
    @idempotent
    def cancel_all(self, request):
        data = validated(serializers.CancelAllSerializer, request)
        results = services.cancel_orders(
            actor=request.user, reason=data["reason"], customer=resolve_customer(data["customer"]), exchange=data.get("exchange", ""),
            market_native_id=data.get("market", ""),
        )
        return Response(serializers.CancelResponseSerializer({"results": results}).data)
