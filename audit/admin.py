"""The audit log in the admin: searchable, filterable, and read-only for everyone."""

from __future__ import annotations

import json

from django.contrib import admin
from django.db.models import Q
from django.urls import reverse
from django.utils.html import format_html
from django.utils.text import Truncator
from unfold.admin import ModelAdmin
from unfold.contrib.filters.admin import AutocompleteSelectFilter, RangeDateTimeFilter
from unfold.decorators import display

from audit.models import AuditEvent
from core.admin import CappedCountPaginator, ReadOnlyAdminMixin


def _pretty(value) -> str:
    return format_html('<pre class="text-xs whitespace-pre-wrap">{}</pre>', json.dumps(value, indent=2, sort_keys=True))


def searched_customers(term: str) -> list[int]:
    """The customers a search term names (a part of the external id or email), read in the customers'
    small table; the log is then read through its customer index. The model is reached through the
    log's relation: the audit app sits below customers."""
    customer_model = AuditEvent._meta.get_field("customer").related_model
    match = Q(external_id__icontains=term) | Q(email__icontains=term)
    return list(customer_model.objects.filter(match).values_list("pk", flat=True)[:1000])


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdminMixin, ModelAdmin):
    list_display = ["at", "actor_name", "action", "customer_display", "outcome_display", "reason_short", "seq"]
    list_display_links = ["at"]
    list_filter = ["action", "outcome", ("customer", AutocompleteSelectFilter), ("at", RangeDateTimeFilter)]
    list_filter_submit = True
    search_fields = ["action"]  # the search itself is get_search_results below
    search_help_text = ("A customer (any part of the external id or email), an actor or an action (the start of it), "
                        "or a Parsec customer id")
    ordering = ["-seq"]
    paginator = CappedCountPaginator
    show_full_result_count = False
    list_per_page = 100
    fields = ["seq", "at", "actor_name", "actor", "action", "customer_display", "customer_ref_display", "reason", "outcome",
              "request_display", "response_display", "prev_hash", "hash"]
    readonly_fields = fields
    actions = None

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor", "customer")

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        match = (Q(customer_id__in=searched_customers(term)) | Q(customer_ref=term)
                 | Q(actor_name__istartswith=term) | Q(action__istartswith=term))
        return queryset.filter(match), False

    @display(description="Customer", ordering="customer__external_id")
    def customer_display(self, obj) -> str:
        if obj.customer_id:
            return format_html('<a href="{}" class="whitespace-nowrap" title="Parsec customer id {}">{}</a>',
                               reverse("customer_360", args=[obj.customer_id]), obj.customer_ref or "—",
                               obj.customer.external_id)
        if obj.customer_ref:
            return format_html('<span class="font-mono text-xs" title="{}">not mirrored ({}…)</span>',
                               obj.customer_ref, obj.customer_ref[:8])
        return "—"

    @display(description="Parsec customer id")
    def customer_ref_display(self, obj) -> str:
        return format_html('<span class="font-mono text-xs" data-parsec-id>{}</span>', obj.customer_ref) if obj.customer_ref else "—"

    @display(description="Outcome", label={"ok": "success", "rejected": "warning", "error": "danger", "unknown": "info"})
    def outcome_display(self, obj):
        return obj.outcome

    @display(description="Why")
    def reason_short(self, obj) -> str:
        return format_html('<span title="{}">{}</span>', obj.reason, Truncator(obj.reason).chars(80))

    @display(description="What was asked")
    def request_display(self, obj) -> str:
        return _pretty(obj.request)

    @display(description="What came back")
    def response_display(self, obj) -> str:
        return _pretty(obj.response)
