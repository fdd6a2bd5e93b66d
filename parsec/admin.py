"""The outbound-call log, read-only: what the back-office asked Parsec, and what came back."""

from __future__ import annotations

from django.contrib import admin
from unfold.admin import ModelAdmin
from unfold.contrib.filters.admin import FieldTextFilter, RangeDateTimeFilter

from core.admin import CappedCountPaginator, ReadOnlyAdminMixin

from .models import OutboundCall


@admin.register(OutboundCall)
class OutboundCallAdmin(ReadOnlyAdminMixin, ModelAdmin):
    list_display = ("created_at", "method", "path", "customer_id", "exchange", "status_code", "error_code", "latency_ms", "attempt", "retry_after")
    list_filter = (
        ("created_at", RangeDateTimeFilter),
        ("status_code", FieldTextFilter),
        ("error_code", FieldTextFilter),
        ("path_template", FieldTextFilter),
        ("customer_id", FieldTextFilter),
        ("exchange", FieldTextFilter),
    )
    list_filter_submit = True
    search_fields = ("=customer_id", "path")
    ordering = ("-created_at", "-id")
    paginator = CappedCountPaginator
    show_full_result_count = False
    list_per_page = 100
    readonly_fields = [f.name for f in OutboundCall._meta.fields]
