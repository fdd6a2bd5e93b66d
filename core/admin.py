"""The admin base every app's admin builds on: read-only lists built for big tables, filters that
are FilterSet filters (so the admin and the API agree on what a filter means), and the base of the
custom pages that call a service.

Registered one way everywhere: each app's ``admin`` module (or ``admin/`` package, whose
``__init__`` imports its modules) registers its models with ``@admin.register``.
"""

from __future__ import annotations

import json
from datetime import time
from decimal import Decimal

from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.core.validators import EMPTY_VALUES
from django.db import connections, models
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.datastructures import MultiValueDict
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.text import Truncator
from unfold.admin import ModelAdmin, TabularInline
from unfold.contrib.filters.admin import AutocompleteSelectFilter, DropdownFilter, RangeDateTimeFilter, TextFilter
from unfold.decorators import display
from unfold.utils import parse_datetime_str

from core import formatting


def headers_once_per_list() -> None:
    """Unfold's list rows each recompute every column header (to label the cells for small
    screens): 50 rows x 12 columns of ``label_for_field`` per page, a quarter of a list's render
    time (bench/admin_lists.py). The headers do not change between rows, so each list computes
    them once."""
    from unfold.templatetags import unfold_list

    original = unfold_list.result_headers
    if getattr(original, "once_per_list", False):
        return

    def result_headers(cl):
        cached = getattr(cl, "_result_headers", None)
        if cached is None:
            cached = cl._result_headers = list(original(cl))
        return iter(cached)

    result_headers.once_per_list = True
    unfold_list.result_headers = result_headers


def decimals_through_the_formatter() -> None:
    """A Decimal the admin renders by itself (a DecimalField in a list or on a read-only page that no
    column formats, a callable returning a Decimal) goes through ``core.formatting.size``: never
    the column's 8 stored places (``0.62000000``), a 16-place quotient or ``1E+1``. Columns that
    know better (a price at its tick, USDC) use ``number_column``."""
    from unfold import fields, utils
    from unfold.templatetags import unfold_list

    if getattr(utils.display_for_field, "through_formatter", False):
        return
    field_original, value_original = utils.display_for_field, utils.display_for_value

    def display_for_field(value, field, empty_value_display):
        if isinstance(field, models.DecimalField) and not getattr(field, "flatchoices", None) and value not in (None, ""):
            return formatting.size(value)
        return field_original(value, field, empty_value_display)

    def display_for_value(value, empty_value_display, boolean=False):
        if not boolean and isinstance(value, Decimal | float) and not isinstance(value, bool):
            return formatting.size(value)
        return value_original(value, empty_value_display, boolean)

    display_for_field.through_formatter = True
    for module in (utils, fields, unfold_list):
        if hasattr(module, "display_for_field"):
            module.display_for_field = display_for_field
        if hasattr(module, "display_for_value"):
            module.display_for_value = display_for_value


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


class FilterSetAutocompleteFilter(AutocompleteSelectFilter):
    """Unfold's autocomplete over a foreign key (customer, market), whose chosen value is applied
    through the FilterSet filter of the same name: ``?customer=<pk>`` keeps meaning what the API
    and the cross links mean by it (a pk, a Parsec id or an external id)."""

    filterset_class = None
    parameter_name = None

    @property
    def lookup_kwarg(self) -> str:
        return self.parameter_name

    @lookup_kwarg.setter
    def lookup_kwarg(self, value) -> None:  # RelatedFieldListFilter sets "<field>__id__exact"
        pass

    def value(self):
        value = self.used_parameters.get(self.parameter_name)
        return value[-1] if isinstance(value, list | tuple) else value

    def selected_pk(self):
        """The chosen row's pk for the widget (a link may name it by another id, e.g. an external id)."""
        value = self.value()
        if value in EMPTY_VALUES or (str(value).isascii() and str(value).isdigit()):
            return value
        related = self.field.related_model
        related_admin = self.model_admin.admin_site._registry.get(related)
        if related_admin is None:
            return None
        found, _ = related_admin.get_search_results(self.request, related.objects.all(), str(value))
        pks = list(found.values_list("pk", flat=True)[:2])
        return pks[0] if len(pks) == 1 else None

    def choices(self, changelist):
        yield {"form": self.form_class(
            request=self.request, label=f" By {self.title} ", name=self.parameter_name, choices=(), field=self.field,
            model_admin=self.model_admin, data={self.parameter_name: self.selected_pk()}, multiple=False,
        )}

    def queryset(self, request, queryset):
        value = self.value()
        if value in EMPTY_VALUES:
            return queryset
        return apply_filterset(self.filterset_class, {self.parameter_name: [value]}, queryset)


def filterset_autocomplete(filterset_class, name: str, field: str, title: str):
    """A list filter entry ``(field, filter)`` choosing a related row by autocomplete."""
    return field, type(f"{name.title()}AutocompleteFilter", (FilterSetAutocompleteFilter,), {
        "filterset_class": filterset_class, "parameter_name": name, "title": title,
    })


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


NUMBER_KINDS = {
    "size": lambda value, obj: formatting.size(value),
    "price": lambda value, obj: formatting.price(value, tick_of(obj)),
    "usdc": lambda value, obj: formatting.usdc(value),
    "usdc6": lambda value, obj: formatting.usdc(value, places=6),
    "signed_usdc": lambda value, obj: formatting.signed_usdc(value),
    "count": lambda value, obj: formatting.size(value),
}


def tick_of(obj):
    """The tick of the market a row is about (the market itself, or ``obj.market``), if known."""
    if hasattr(obj, "tick_size"):
        return obj.tick_size
    market = getattr(obj, "market", None) if getattr(obj, "market_id", None) else None
    return getattr(market, "tick_size", None)


def usdc_units_html(base_units, *, places: int = 2) -> str:
    """USDC base units as dollars, the exact base units on hover."""
    if base_units is None or base_units == "":
        return formatting.EMPTY
    return format_html('<span class="tabular-nums" title="{} base units">{}</span>',
                       formatting.size(base_units), formatting.usdc_base_units(base_units, places=places))


def number_column(field: str, kind: str, description: str, *, ordering: bool = True):
    """A list column or read-only field showing ``obj.<field>`` through ``core.formatting``:
    ``kind`` is size, price (at the row's market tick), usdc, signed_usdc, count,
    usdc_units or usdc_units6 (base units, shown as dollars with the units on hover)."""

    def column(self, obj):
        value = getattr(obj, field)
        if kind.startswith("usdc_units"):
            return usdc_units_html(value, places=6 if kind.endswith("6") else 2)
        return format_html('<span class="tabular-nums">{}</span>', NUMBER_KINDS[kind](value, obj))

    column.__name__ = f"{field}_shown"
    return display(description=description, ordering=field if ordering else None)(column)


def market_title_link(obj, *, chars: int = 40) -> str:
    """The market a row is about: its title, truncated (whole on hover), linked to the market page;
    the exchange-native id when the catalogue does not know it."""
    if getattr(obj, "market_id", None):
        question = obj.market.question
        return format_html('<a href="{}" title="{}" class="text-primary-600 bo-market">{}</a>',
                           reverse("admin:orders_market_change", args=[obj.market_id]), question,
                           Truncator(question).chars(chars))
    return format_html('<span class="font-mono text-xs" title="not in the market catalogue">{}</span>',
                       Truncator(obj.market_native_id).chars(24))


def short_id(value: str, *, chars: int = 12) -> str:
    """A long id (Parsec order id, fee order id, hash) cut short, whole on hover."""
    if not value:
        return formatting.EMPTY
    text = value if len(value) <= chars + 1 else value[:chars] + "…"
    return format_html('<span class="font-mono text-xs" title="{}">{}</span>', value, text)


STATUS_COLORS = {
    "open": "info", "assigned": "info", "reviewed": "success", "pending": "info", "partially_filled": "info", "running": "info", "new": "info", "sending": "info",
    "filled": "success", "succeeded": "success", "placed": "success", "ok": "success", "active": "success",
    "resolved": "success", "won": "success", "settled": "success", "released": "success",
    "cancelled": "", "closed": "", "expired": "", "skipped": "", "voided": "", "void": "", "lost": "",
    "rejected": "warning", "partial": "warning", "not_placed": "warning", "unknown": "warning", "deactivated": "warning",
    "failed": "danger", "error": "danger", "frozen": "danger", "engaged": "danger",
    # fee escrow records
    "authorised": "info", "pulled": "info", "distributed": "success", "partially_distributed": "success",
    "refunded": "", "refused": "warning",
}


def status_badge(field: str = "status", description: str = "Status"):
    """A choices column as a coloured badge (unfold's label), showing the choice's label."""

    def column(self, obj):
        value = getattr(obj, field)
        label = getattr(obj, f"get_{field}_display", lambda: value)()
        return (value, label) if value in STATUS_COLORS else label

    column.__name__ = f"{field}_badge"
    return display(description=description, ordering=field, label=STATUS_COLORS)(column)


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
