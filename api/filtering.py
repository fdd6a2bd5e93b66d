"""Strict query parameters: a bad filter, ordering or page size is a 400, never silently ignored.

django-filter and DRF drop some bad values on the floor (an empty date, "maybe" for a boolean,
an unknown ordering field); a caller would then get every row while believing it filtered.
"""

from __future__ import annotations

from datetime import UTC, datetime

import django_filters
from django.utils.dateparse import parse_datetime
from django_filters.rest_framework import DjangoFilterBackend
from django_filters.utils import translate_validation
from rest_framework.exceptions import ValidationError
from rest_framework.filters import OrderingFilter

BOOLEAN_VALUES = {"true", "false"}


def _param_names(filterset_class) -> dict[str, object]:
    names = {}
    for name, declared in filterset_class.base_filters.items():
        if isinstance(declared, django_filters.filters.RangeFilter | django_filters.filters.DateTimeFromToRangeFilter):
            names[f"{name}_after"] = declared
            names[f"{name}_before"] = declared
        else:
            names[name] = declared
    return names


DATETIME_FILTERS = (django_filters.IsoDateTimeFilter, django_filters.IsoDateTimeFromToRangeFilter)


def utc_iso(value: str) -> str:
    """A date-time in UTC. Offsets are legal up to ±23:59 in ISO 8601 but PostgreSQL refuses
    those past ±15:59, so times are converted here; one past year 1..9999 in UTC is clamped
    (asking for rows after year 0 means all of them). An offset of a day or more is no time at
    all: ValueError."""
    parsed = parse_datetime(value)
    if parsed is None or parsed.tzinfo is None:
        return value
    try:
        return parsed.astimezone(UTC).isoformat()
    except OverflowError:
        edge = datetime.min if parsed.year < 5000 else datetime.max
        return edge.replace(tzinfo=UTC).isoformat()


# Query parameters every list takes besides its filters (paging and ordering).
LIST_PARAMETERS = ("cursor", "page_size", "ordering")


class StrictFilterBackend(DjangoFilterBackend):
    def filter_queryset(self, request, queryset, view):
        filterset_class = self.get_filterset_class(view, queryset)
        params = _param_names(filterset_class) if filterset_class is not None else {}
        allowed = sorted({*params, *LIST_PARAMETERS})
        # A list's query string is its filters, paging and ordering: a misspelt filter would otherwise
        # return every row. (An action on one object reads its own parameters.)
        listing = getattr(view, "action", "list") == "list"
        unknown = [name for name in request.query_params if name not in allowed] if listing else []
        if unknown:
            raise ValidationError({name: [f"Unknown query parameter. Allowed: {', '.join(allowed)}."] for name in unknown})
        if filterset_class is None:
            return queryset
        errors = {}
        data = request.query_params.copy()
        for name, declared in params.items():
            for value in data.getlist(name):
                if value == "":
                    errors.setdefault(name, []).append("This value may not be empty.")
                elif isinstance(declared, django_filters.BooleanFilter) and value.lower() not in BOOLEAN_VALUES:
                    errors.setdefault(name, []).append("Must be true or false.")
            if isinstance(declared, DATETIME_FILTERS):
                try:
                    data.setlist(name, [utc_iso(value) for value in data.getlist(name)])
                except ValueError:
                    errors.setdefault(name, []).append("Not a date-time: a UTC offset is under 24 hours (e.g. +02:00).")
        if errors:
            raise ValidationError(errors)
        filterset = filterset_class(data=data, queryset=queryset, request=request)
        if not filterset.is_valid():
            raise translate_validation(filterset.errors)
        return filterset.qs


class StrictOrderingFilter(OrderingFilter):
    ordering_description = "Sort by one of the listed fields; prefix with - for descending."

    def get_ordering(self, request, queryset, view):
        params = request.query_params.get(self.ordering_param)
        if params is None:
            return self.get_default_ordering(view)
        allowed = {name for name, _ in self.get_valid_fields(queryset, view, {"request": request})}
        fields = [part.strip() for part in params.split(",")]
        bad = [f for f in fields if f.lstrip("-") not in allowed]
        if bad or not fields:
            raise ValidationError({self.ordering_param: [f"Order by one of: {', '.join(sorted(allowed))} (prefix - for descending)."]})
        return fields

    def get_schema_operation_parameters(self, view):
        fields = getattr(view, "ordering_fields", []) or []
        choices = [value for name in fields for value in (name, f"-{name}")]
        return [{
            "name": self.ordering_param, "required": False, "in": "query",
            "description": self.ordering_description,
            "schema": {"type": "string", "enum": choices},
        }]
