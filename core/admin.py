"""The admin base every app's admin builds on: read-only lists built for big tables, filters that
are FilterSet filters (so the admin and the API agree on what a filter means), and the base of the
custom pages that call a service.

Registered one way everywhere: each app's ``admin`` module (or ``admin/`` package, whose
``__init__`` imports its modules) registers its models with ``@admin.register``.
"""

from __future__ import annotations

import json
from datetime import time

from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.core.validators import EMPTY_VALUES
from django.db import connections
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.datastructures import MultiValueDict
from django.utils.functional import cached_property
from django.utils.html import format_html
from unfold.admin import ModelAdmin, TabularInline
from unfold.contrib.filters.admin import DropdownFilter, RangeDateTimeFilter, TextFilter
from unfold.decorators import display
from unfold.utils import parse_datetime_str


class CappedCountPaginator(Paginator):
    """Never runs an unbounded COUNT(*): counts at most ``count_cap`` rows.

    Above the cap, an unfiltered list on PostgreSQL shows the planner's estimate
    (``pg_class.reltuples``); otherwise the list says "cap + 1" and pages stop there.
    """

    count_cap = 10_000

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        capped = queryset.order_by().values("pk")[: self.count_cap + 1].count()
        if capped <= self.count_cap:
            return capped
        return max(capped, self._estimate(queryset) or 0)

    @staticmethod
    def _estimate(queryset) -> int | None:
        connection = connections[queryset.db]
        if connection.vendor != "postgresql" or queryset.query.where:
            return None
        with connection.cursor() as cursor:
            cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass", [queryset.model._meta.db_table])
            row = cursor.fetchone()
        return int(row[0]) if row and row[0] > 0 else None


class ReadOnlyAdminMixin:
    """No add, change or delete in the admin for anyone: such rows are written only by code (services, sync, logs)."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


def apply_filterset(filterset_class, data: dict[str, list[str]], queryset):
    """Filter ``queryset`` through the app's FilterSet, so the admin and the API agree."""
    filterset = filterset_class(data=MultiValueDict(data), queryset=queryset)
    if not filterset.is_valid():
        raise IncorrectLookupParameters(filterset.errors.as_text())
    return filterset.qs


class FilterSetListFilter(DropdownFilter):
    """An admin list filter that is one filter of a FilterSet (the parameter keeps its API name)."""

    filterset_class = None

    def lookups(self, request, model_admin):
        return self.filterset_class.base_filters[self.parameter_name].extra.get("choices") or (
            ("true", "Yes"), ("false", "No"),
        )

    def queryset(self, request, queryset):
        value = self.value()
        if value in EMPTY_VALUES:
            return queryset
        return apply_filterset(self.filterset_class, {self.parameter_name: [value]}, queryset)


class FilterSetTextFilter(TextFilter):
    """A free-text admin filter backed by a FilterSet filter (customer, market, order ids)."""

    filterset_class = None

    def queryset(self, request, queryset):
        value = self.value()
        if value in EMPTY_VALUES:
            return queryset
        return apply_filterset(self.filterset_class, {self.parameter_name: [value]}, queryset)


class FilterSetDateRangeFilter(RangeDateTimeFilter):
    """Unfold's date-time range widget, applied through a FilterSet range filter (``<name>_after/_before``)."""

    filterset_class = None
    filter_name = None

    def queryset(self, request, queryset):
        data = {}
        for edge, suffix, default_time in (("from", "after", time.min), ("to", "before", time.max)):
            day = self.used_parameters.get(f"{self.parameter_name}_{edge}_0")
            if day in EMPTY_VALUES:
                continue
            clock = self.used_parameters.get(f"{self.parameter_name}_{edge}_1") or default_time.strftime("%H:%M:%S")
            moment = parse_datetime_str(f"{day} {clock}")
            if moment is None:
                raise IncorrectLookupParameters(f"not a date and time: {day} {clock}")
            data[f"{self.filter_name}_{suffix}"] = [timezone.make_aware(moment).isoformat()]
        return apply_filterset(self.filterset_class, data, queryset) if data else queryset


def filterset_filter(filterset_class, name: str, title: str, *, text: bool = False):
    base = FilterSetTextFilter if text else FilterSetListFilter
    return type(f"{name.title()}Filter", (base,), {
        "filterset_class": filterset_class, "parameter_name": name, "title": title,
    })


def filterset_range(filterset_class, filter_name: str, model_field: str, title: str):
    return model_field, type(f"{filter_name.title()}RangeFilter", (FilterSetDateRangeFilter,), {
        "filterset_class": filterset_class, "filter_name": filter_name, "title": title,
    })


def changelist_link(app_model: str, label: str, **query) -> str:
    url = reverse(f"admin:{app_model.replace('.', '_')}_changelist")
    params = "&".join(f"{key}={value}" for key, value in query.items())
    return format_html('<a class="text-primary-600 underline" href="{}?{}">{}</a>', url, params, label)


class MirrorAdmin(ReadOnlyAdminMixin, ModelAdmin):
    """A read-only list and detail page over a mirrored model."""

    paginator = CappedCountPaginator
    show_full_result_count = False
    list_per_page = 50
    list_filter_submit = True
    filterset_class = None
    search_filter = None  # the FilterSet filter that the search box applies

    def get_search_results(self, request, queryset, search_term):
        if self.search_filter and search_term.strip():
            return apply_filterset(self.filterset_class, {self.search_filter: [search_term.strip()]}, queryset), False
        return super().get_search_results(request, queryset, search_term)

    @display(description="Raw payload from Parsec")
    def raw_payload(self, obj) -> str:
        return format_html('<pre class="text-xs whitespace-pre-wrap">{}</pre>', json.dumps(obj.raw, indent=2, sort_keys=True))


class ReadOnlyInline(ReadOnlyAdminMixin, TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False


def require_permission(request, perm: str) -> None:
    """A custom admin page's permission check (the admin site's login and role check come first)."""
    if not request.user.has_perm(perm):
        raise PermissionDenied


def admin_page(model_admin, request, template: str, context: dict, *, title: str, opts=None):
    """Render a service page inside the admin's frame (sidebar, breadcrumbs, the model's opts)."""
    return TemplateResponse(request, template, {
        **model_admin.admin_site.each_context(request), "opts": opts or model_admin.model._meta, "title": title, **context,
    })
