"""Reads of the orders mirror and the trading actions, over the same services as the admin."""

from __future__ import annotations

import django_filters as filters

from api.viewsets import MirrorReadViewSet
from customers.enums import Exchange
from customers.filters import CustomerRefFilter
from orders import selectors
from orders.api import serializers
from orders.filters import FillFilterSet, MarketFilterSet, OrderFilterSet, PositionFilterSet
from orders.models import Market, OrderIntent


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


class MarketViewSet(MirrorReadViewSet):
    queryset = Market.objects.all()
    serializer_class = serializers.MarketSerializer
    filterset_class = MarketFilterSet
    ordering_fields = ["first_seen_at", "last_seen_at"]
    ordering = ["-first_seen_at"]


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
