"""The audit log, read-only (it is append-only everywhere)."""

from __future__ import annotations

import django_filters as filters

from api.viewsets import MirrorReadViewSet
from compliance.api import serializers
from compliance.models import AuditEvent
from customers.filters import CustomerRefFilter


class AuditEventFilterSet(filters.FilterSet):
    """The admin's audit filters (action, outcome, time) plus who and which customer."""

    action = filters.CharFilter(help_text="Exact action, e.g. order.place; end with * for a prefix (order.*).", method="filter_action")
    outcome = filters.MultipleChoiceFilter(choices=AuditEvent.Outcome.choices)
    actor = filters.CharFilter(field_name="actor_name", help_text="Username or API token identity.")
    customer = CustomerRefFilter(field_name="customer")
    at = filters.IsoDateTimeFromToRangeFilter(field_name="at")

    class Meta:
        model = AuditEvent
        fields: list[str] = []

    def filter_action(self, qs, name, value):
        if value.endswith("*"):
            return qs.filter(action__startswith=value[:-1])
        return qs.filter(action=value)


class AuditEventViewSet(MirrorReadViewSet):
    queryset = AuditEvent.objects.all()
    serializer_class = serializers.AuditEventSerializer
    filterset_class = AuditEventFilterSet
    lookup_field = "seq"
    ordering_fields = ["seq"]
    ordering = ["-seq"]
