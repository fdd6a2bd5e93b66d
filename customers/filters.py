"""FilterSets for the customers mirror, shared by the admin lists and the API.

A filter means one thing everywhere: the admin's list filters apply these same filters
(see ``customers.admin.FilterSetListFilter``), and the API uses the FilterSets directly.
"""

from __future__ import annotations

import contextlib
import uuid

import django_filters as filters
from django.core.validators import EMPTY_VALUES
from django.db.models import Q

from customers.enums import Exchange
from customers.models import BalanceSnapshot, Customer, ExchangeLink, Wallet

MAX_PK_DIGITS = 18  # a BIGINT has 19 digits; anything longer cannot be one of our ids


def customer_match(value: str) -> Q:
    """A customer named by our id, its Parsec customer id (UUID) or the builder's external_id."""
    value = value.strip()
    match = Q(external_id=value)
    if value.isascii() and value.isdigit() and len(value) <= MAX_PK_DIGITS:
        match |= Q(pk=int(value))
    with contextlib.suppress(ValueError):
        match |= Q(parsec_customer_id=uuid.UUID(value))
    return match


def customer_search(value: str) -> Q:
    """A search box's customers: a substring of the external id or the email (case-insensitive;
    trigram indexes on PostgreSQL), or exactly our id or the Parsec customer id."""
    value = value.strip()
    return customer_match(value) | Q(external_id__icontains=value) | Q(email__icontains=value)


def searched_customer_ids(value: str) -> list[int]:
    """The pks a search box's term names (few queries later read rows by these indexed ids)."""
    return list(Customer.objects.filter(customer_search(value)).values_list("pk", flat=True))


class CustomerRefFilter(filters.CharFilter):
    """Rows of one customer, given as id, Parsec customer id or external_id."""

    def filter(self, qs, value):
        if value in EMPTY_VALUES:
            return qs
        customers = Customer.objects.filter(customer_match(value)).values("pk")
        return qs.filter(**{f"{self.field_name}__in": customers})


class CustomerFilterSet(filters.FilterSet):
    q = filters.CharFilter(method="filter_q", label="External id, email or Parsec customer id")
    customer = CustomerRefFilter(field_name="pk", label="Customer")
    status = filters.ChoiceFilter(choices=Customer.Status.choices)
    tier = filters.CharFilter()
    fee_escrow_enabled = filters.BooleanFilter()
    exchange = filters.ChoiceFilter(choices=Exchange.choices, method="filter_exchange", label="Linked to exchange")
    created = filters.IsoDateTimeFromToRangeFilter(field_name="created_at")
    active_since = filters.IsoDateTimeFilter(field_name="last_activity_at", lookup_expr="gte")
    updated_since = filters.IsoDateTimeFilter(field_name="last_synced_at", lookup_expr="gte")

    class Meta:
        model = Customer
        fields: list[str] = []

    def filter_q(self, qs, name, value):
        value = value.strip()
        return qs.filter(customer_search(value))

    def filter_exchange(self, qs, name, value):
        return qs.filter(pk__in=ExchangeLink.objects.filter(exchange=value).values("customer_id"))


class WalletFilterSet(filters.FilterSet):
    customer = CustomerRefFilter(field_name="customer")
    wallet_type = filters.ChoiceFilter(choices=Wallet.Type.choices)
    address = filters.CharFilter(method="filter_address")

    class Meta:
        model = Wallet
        fields: list[str] = []

    def filter_address(self, qs, name, value):
        return qs.filter(Q(address__iexact=value) | Q(safe_address__iexact=value))


class ExchangeLinkFilterSet(filters.FilterSet):
    customer = CustomerRefFilter(field_name="customer")
    exchange = filters.ChoiceFilter(choices=Exchange.choices)
    mode = filters.ChoiceFilter(choices=ExchangeLink.Mode.choices)

    class Meta:
        model = ExchangeLink
        fields: list[str] = []


class BalanceSnapshotFilterSet(filters.FilterSet):
    customer = CustomerRefFilter(field_name="customer")
    exchange = filters.ChoiceFilter(choices=Exchange.choices)
    taken = filters.IsoDateTimeFromToRangeFilter(field_name="taken_at")
    updated_since = filters.IsoDateTimeFilter(field_name="taken_at", lookup_expr="gte")

    class Meta:
        model = BalanceSnapshot
        fields: list[str] = []
