"""The outbound-call log, read-only: what the back-office asked Parsec, and what came back."""

from __future__ import annotations

import uuid

from django.apps import apps
from django.contrib import admin
from django.db.models import Q
from django.urls import reverse
from django.utils.html import format_html
from django.utils.text import Truncator
from unfold.admin import ModelAdmin
from unfold.contrib.filters.admin import FieldTextFilter, RangeDateTimeFilter
from unfold.decorators import display

from core import formatting
from core.admin import CappedCountPaginator, ReadOnlyAdminMixin

from .models import OutboundCall


def _customers():
    # By name, not by import: the gateway sits below the customers app (lint-imports).
    return apps.get_model("customers", "Customer").objects


def name_customers(calls) -> None:
    """Give each call its customer's pk and external id (``call.customer_named``), one query a page."""
    refs = {}
    for call in calls:
        try:
            refs[call.customer_id] = uuid.UUID(call.customer_id)
        except ValueError:
            continue
    found = {row["parsec_customer_id"]: (row["pk"], row["external_id"]) for row in
             _customers().filter(parsec_customer_id__in=set(refs.values())).values("pk", "parsec_customer_id", "external_id")}
    for call in calls:
        call.customer_named = found.get(refs.get(call.customer_id))


@admin.register(OutboundCall)
class OutboundCallAdmin(ReadOnlyAdminMixin, ModelAdmin):
    list_display = ("created_at", "method", "path_display", "customer_display", "exchange", "status_display",
                    "error_code", "latency_display", "attempt_display")
    list_filter = (
        ("created_at", RangeDateTimeFilter),
        ("status_code", FieldTextFilter),
        ("error_code", FieldTextFilter),
        ("path_template", FieldTextFilter),
        ("customer_id", FieldTextFilter),
        ("exchange", FieldTextFilter),
    )
    list_filter_submit = True
    search_fields = ("path",)  # the search itself is get_search_results below
    search_help_text = "A customer (any part of the external id or email, or the Parsec customer id) or a path (its start)"
    ordering = ("-created_at", "-id")
    paginator = CappedCountPaginator
    show_full_result_count = False
    list_per_page = 100
    readonly_fields = [f.name if f.name != "customer_id" else "customer_display" for f in OutboundCall._meta.fields]

    def get_changelist(self, request, **kwargs):
        base = super().get_changelist(request, **kwargs)

        class NamedCustomers(base):
            def get_results(self, request):
                super().get_results(request)
                name_customers(self.result_list)

        return NamedCustomers

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        refs = [str(ref) for ref in _customers().filter(Q(external_id__icontains=term) | Q(email__icontains=term))
                .values_list("parsec_customer_id", flat=True)[:1000]]
        return queryset.filter(Q(customer_id__in=[*refs, term]) | Q(path__startswith=term)), False

    @display(description="Path", ordering="path")
    def path_display(self, obj: OutboundCall) -> str:
        return format_html('<span class="font-mono text-xs" title="{}">{}</span>', obj.path, Truncator(obj.path).chars(44))

    @display(description="Customer", ordering="customer_id")
    def customer_display(self, obj: OutboundCall) -> str:
        if not hasattr(obj, "customer_named"):
            name_customers([obj])
        if obj.customer_named:
            pk, external_id = obj.customer_named
            return format_html('<a href="{}" class="whitespace-nowrap" title="Parsec customer id {}">{}</a>',
                               reverse("customer_360", args=[pk]), obj.customer_id, external_id)
        if obj.customer_id:
            return format_html('<span class="font-mono text-xs" title="{}">{}…</span>', obj.customer_id, obj.customer_id[:8])
        return "—"

    @display(description="Status", ordering="status_code", label={"2xx": "success", "4xx": "warning", "5xx": "danger",
                                                                    "none": "danger"})
    def status_display(self, obj: OutboundCall):
        if obj.status_code is None:
            return "none", "no answer"
        return f"{str(obj.status_code)[0]}xx", str(obj.status_code)

    @display(description="Attempt", ordering="attempt")
    def attempt_display(self, obj: OutboundCall) -> str:
        retry = f", retry after {formatting.size(obj.retry_after)} s" if obj.retry_after is not None else ""
        return f"{obj.attempt}{retry}"

    @display(description="Latency", ordering="latency_ms")
    def latency_display(self, obj: OutboundCall) -> str:
        return f"{obj.latency_ms:,} ms"
