"""The sync runs' FilterSet, shared by the admin list and the API."""

from __future__ import annotations

import django_filters as filters

from customers.enums import Exchange
from customers.filters import CustomerRefFilter
from sync.models import SyncRun


class SyncRunFilterSet(filters.FilterSet):
    kind = filters.ChoiceFilter(choices=SyncRun.Kind.choices)
    status = filters.MultipleChoiceFilter(choices=SyncRun.Status.choices)
    trigger = filters.ChoiceFilter(choices=SyncRun.Trigger.choices)
    customer = CustomerRefFilter(field_name="customer")
    exchange = filters.ChoiceFilter(choices=Exchange.choices)
    started = filters.IsoDateTimeFromToRangeFilter(field_name="started_at")

    class Meta:
        model = SyncRun
        fields: list[str] = []
