"""Strict query parameters: a bad filter, ordering or page size is a 400, never silently ignored.

django-filter and DRF drop some bad values on the floor (an empty date, "maybe" for a boolean,
an unknown ordering field); a caller would then get every row while believing it filtered.
"""

from __future__ import annotations

import django_filters
from django_filters.rest_framework import DjangoFilterBackend
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


class StrictFilterBackend(DjangoFilterBackend):
    def filter_queryset(self, request, queryset, view):
        filterset_class = self.get_filterset_class(view, queryset)
        if filterset_class is not None:
            errors = {}
            for name, declared in _param_names(filterset_class).items():
                for value in request.query_params.getlist(name):
                    if value == "":
                        errors.setdefault(name, []).append("This value may not be empty.")
                    elif isinstance(declared, django_filters.BooleanFilter) and value.lower() not in BOOLEAN_VALUES:
                        errors.setdefault(name, []).append("Must be true or false.")
            if errors:
                raise ValidationError(errors)
        return super().filter_queryset(request, queryset, view)


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
