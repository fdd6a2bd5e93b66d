"""The audit log in the admin: searchable, filterable, and read-only for everyone."""

from __future__ import annotations

import json

from django.contrib import admin
from django.utils.html import format_html
from unfold.admin import ModelAdmin
from unfold.contrib.filters.admin import RangeDateTimeFilter
from unfold.decorators import display

from audit.models import AuditEvent
from core.admin import CappedCountPaginator, ReadOnlyAdminMixin


def _pretty(value) -> str:
    return format_html('<pre class="text-xs whitespace-pre-wrap">{}</pre>', json.dumps(value, indent=2, sort_keys=True))


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdminMixin, ModelAdmin):
    list_display = ["seq", "at", "actor_name", "action", "customer_ref", "outcome_display", "reason_short"]
    list_filter = ["action", "outcome", ("at", RangeDateTimeFilter)]
    list_filter_submit = True
    # Prefix/exact lookups so that a search stays on the indexes of a long log.
    search_fields = ["^actor_name", "^action", "=customer_ref", "=customer__external_id"]
    search_help_text = "Actor (starts with), action (starts with), Parsec customer id or external id (exact)."
    ordering = ["-seq"]
    paginator = CappedCountPaginator
    show_full_result_count = False
    list_per_page = 100
    fields = ["seq", "at", "actor_name", "actor", "action", "customer", "customer_ref", "reason", "outcome",
              "request_display", "response_display", "prev_hash", "hash"]
    readonly_fields = fields
    actions = None

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor", "customer")

    @display(description="Outcome", label={"ok": "success", "rejected": "warning", "error": "danger", "unknown": "info"})
    def outcome_display(self, obj):
        return obj.outcome

    @display(description="Why")
    def reason_short(self, obj) -> str:
        return obj.reason[:80]

    @display(description="What was asked")
    def request_display(self, obj) -> str:
        return _pretty(obj.request)

    @display(description="What came back")
    def response_display(self, obj) -> str:
        return _pretty(obj.response)
