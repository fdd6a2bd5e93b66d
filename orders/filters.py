"""FilterSets for markets, orders, fills and positions, shared by the admin lists and the API."""

from __future__ import annotations

import django_filters as filters
from django.core.validators import EMPTY_VALUES
from django.db.models import Q
from django.utils import timezone

from customers.enums import Exchange
from customers.filters import MAX_PK_DIGITS, CustomerRefFilter, searched_customer_ids
from orders.models import Fill, Market, Order, Position, Settlement, Side


class MarketRefFilter(filters.CharFilter):
    """Rows about one market, given as our id, its ``parsec_id`` or the exchange-native id.

    A market the catalogue knows is matched through the indexed foreign key; an id the
    catalogue does not know (yet) is matched on the rows' own native id.
    """

    def filter(self, qs, value):
        if value in EMPTY_VALUES:
            return qs
        value = value.strip()
        market = Q(parsec_id=value) | Q(exchange_market_id=value) | Q(order_market_id=value)
        if value.isascii() and value.isdigit() and len(value) <= MAX_PK_DIGITS:
            market |= Q(pk=int(value))
        market_ids = list(Market.objects.filter(market).values_list("pk", flat=True)[:10])
        if market_ids:
            return qs.filter(market_id__in=market_ids)
        return qs.filter(market_native_id=value)


def market_search(value: str) -> Q:
    """A search box's markets: a substring of the question (trigram index on PostgreSQL), or exactly
    one of its ids."""
    value = value.strip()
    return Q(parsec_id=value) | Q(exchange_market_id=value) | Q(order_market_id=value) | Q(question__icontains=value)


def leg_search(qs, value: str, *, ids: tuple[str, ...] = (), exact_ids: tuple[str, ...] = ()):
    """Orders, fills or positions a search box names: by customer (external id or email, a
    substring), market (title, a substring, or an id) or one of the row's own ids (a substring).

    The customers and markets are looked up first, in their small tables, so the big table is read
    through its indexed foreign keys (and the ids' trigram indexes) rather than joined and scanned.
    """
    value = value.strip()
    if not value:
        return qs
    match = Q(customer_id__in=searched_customer_ids(value))
    match |= Q(market_id__in=list(Market.objects.filter(market_search(value)).values_list("pk", flat=True)))
    for field in ids:
        match |= Q(**{f"{field}__icontains": value})
    for field in exact_ids:
        match |= Q(**{field: value})
    return qs.filter(match)


class MarketFilterSet(filters.FilterSet):
    q = filters.CharFilter(method="filter_q", label="Question, parsec_id or native id")
    exchange = filters.ChoiceFilter(choices=Exchange.choices)
    status = filters.MultipleChoiceFilter(choices=Market.Status.choices)
    market_type = filters.CharFilter()
    created = filters.IsoDateTimeFromToRangeFilter(field_name="first_seen_at")
    updated_since = filters.IsoDateTimeFilter(field_name="last_seen_at", lookup_expr="gte")
    past_end_date = filters.BooleanFilter(method="filter_past_end_date", label="Listed active past its end date")

    class Meta:
        model = Market
        fields: list[str] = []

    def filter_past_end_date(self, qs, name, value):
        overdue = Q(status=Market.Status.ACTIVE, end_date__lte=timezone.now())
        return qs.filter(overdue) if value else qs.exclude(overdue)

    def filter_q(self, qs, name, value):
        return qs.filter(market_search(value))


class OrderFilterSet(filters.FilterSet):
    q = filters.CharFilter(method="filter_q", label="Customer (external id, email), market title or Parsec order id")
    customer = CustomerRefFilter(field_name="customer")
    exchange = filters.ChoiceFilter(choices=Exchange.choices)
    status = filters.MultipleChoiceFilter(choices=Order.Status.choices)
    live = filters.BooleanFilter(method="filter_live", label="Not yet terminal")
    market = MarketRefFilter(label="Market")
    side = filters.ChoiceFilter(choices=Side.choices)
    placed_by = filters.ChoiceFilter(choices=Order.PlacedBy.choices)
    parsec_order_id = filters.CharFilter()
    fee_auth_order_id = filters.CharFilter(lookup_expr="iexact")
    created = filters.IsoDateTimeFromToRangeFilter(field_name="created_at")
    updated_since = filters.IsoDateTimeFilter(field_name="last_seen_at", lookup_expr="gte")

    class Meta:
        model = Order
        fields: list[str] = []

    def filter_live(self, qs, name, value):
        lookup = Q(status__in=Order.LIVE_STATUSES)
        return qs.filter(lookup if value else ~lookup)

    def filter_q(self, qs, name, value):
        return leg_search(qs, value, ids=("parsec_order_id",))


class FillFilterSet(filters.FilterSet):
    q = filters.CharFilter(method="filter_q", label="Customer (external id, email), market title, fill or order id")
    customer = CustomerRefFilter(field_name="customer")
    exchange = filters.ChoiceFilter(choices=Exchange.choices)
    market = MarketRefFilter(label="Market")
    order = filters.CharFilter(field_name="parsec_order_id", label="Parsec order id")
    side = filters.ChoiceFilter(choices=Side.choices)
    is_taker = filters.BooleanFilter()
    created = filters.IsoDateTimeFromToRangeFilter(field_name="created_at")
    updated_since = filters.IsoDateTimeFilter(field_name="last_seen_at", lookup_expr="gte")

    class Meta:
        model = Fill
        fields: list[str] = []

    def filter_q(self, qs, name, value):
        # Fills' ids match exactly: a trigram index would be paid on every fill a sync inserts.
        return leg_search(qs, value, exact_ids=("fill_id", "parsec_order_id"))


class PositionFilterSet(filters.FilterSet):
    q = filters.CharFilter(method="filter_q", label="Customer (external id, email) or market title")
    customer = CustomerRefFilter(field_name="customer")
    exchange = filters.ChoiceFilter(choices=Exchange.choices)
    market = MarketRefFilter(label="Market")
    is_open = filters.BooleanFilter()
    created = filters.IsoDateTimeFromToRangeFilter(field_name="first_seen_at")
    updated_since = filters.IsoDateTimeFilter(field_name="last_seen_at", lookup_expr="gte")

    class Meta:
        model = Position
        fields: list[str] = []

    def filter_q(self, qs, name, value):
        return leg_search(qs, value)


class SettlementFilterSet(filters.FilterSet):
    customer = CustomerRefFilter(field_name="customer")
    market = MarketRefFilter(label="Market")

    class Meta:
        model = Settlement
        fields: list[str] = []
