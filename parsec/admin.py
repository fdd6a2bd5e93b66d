"""The outbound-call log, read-only: what the back-office asked Parsec, and what came back."""

from __future__ import annotations

from django.contrib import admin
from django.core.paginator import Paginator
from django.utils.functional import cached_property
from unfold.admin import ModelAdmin
from unfold.contrib.filters.admin import FieldTextFilter, RangeDateTimeFilter

from .models import OutboundCall


class CappedCountPaginator(Paginator):
    """Counts at most ``count_cap`` rows, so a list over millions of calls stays fast."""

    count_cap = 10_000

    @cached_property
    def count(self) -> int:
        return self.object_list.order_by().values("pk")[: self.count_cap + 1].count()


class ReadOnlyAdminMixin:
    """No add, change or delete in the admin for anyone: such rows are written only by code (services, sync, logs)."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


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
