"""Sync runs in the admin: the list, each run's page with its live progress, and "Sync now"."""

from __future__ import annotations

import json

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from unfold.decorators import display

from core import formatting
from core.admin import (
    MirrorAdmin,
    admin_page,
    filterset_autocomplete,
    filterset_filter,
    filterset_range,
    require_permission,
    status_badge,
)
from customers.admin import customer_link
from customers.models import Customer
from sync.filters import SyncRunFilterSet
from sync.models import SyncRun
from sync.services import running_customer_ids, sync_customer_now


class IdleFanOutFilter(admin.SimpleListFilter):
    """The beat's fan-out runs every few seconds; one that scheduled nobody says nothing, so those
    rows are hidden unless asked for."""

    title = "fan-out runs that scheduled nothing"
    parameter_name = "idle_fan_out"

    def lookups(self, request, model_admin):
        return [("show", "Show them")]

    def choices(self, changelist):
        yield {"selected": self.value() is None, "query_string": changelist.get_query_string(remove=[self.parameter_name]),
               "display": "Hidden"}
        yield {"selected": self.value() == "show",
               "query_string": changelist.get_query_string({self.parameter_name: "show"}), "display": "Shown"}

    def queryset(self, request, queryset):
        if self.value() == "show":
            return queryset
        return queryset.exclude(kind=SyncRun.Kind.SCHEDULE, status=SyncRun.Status.SUCCEEDED, progress_total=0)


@admin.register(SyncRun)
class SyncRunAdmin(MirrorAdmin):
    filterset_class = SyncRunFilterSet
    list_display = (
        "started_at", "kind", "scope", "trigger", "status_badge", "duration", "calls_made", "rows", "error_count",
        "progress",
    )
    list_select_related = ("customer",)
    list_filter = (
        IdleFanOutFilter,
        filterset_filter(SyncRunFilterSet, "kind", "kind"),
        filterset_filter(SyncRunFilterSet, "status", "status"),
        filterset_filter(SyncRunFilterSet, "trigger", "trigger"),
        filterset_autocomplete(SyncRunFilterSet, "customer", "customer", "customer"),
        filterset_range(SyncRunFilterSet, "started", "started_at", "started at"),
    )
    status_badge = status_badge()
    readonly_fields = ("scope", "duration", "progress", "errors_display")
    exclude = ("errors",)
    change_form_before_template = "sync/syncrun_progress.html"
    # While a run goes, its counters live in the progress card above the form (refreshed every
    # second); the form would show them frozen at the page's load ("Running", 0 calls) beside it.
    LIVE_FIELDS = ("status", "finished_at", "calls_made", "rows_created", "rows_updated", "rows_unchanged",
                   "progress_done", "progress_total", "progress", "duration", "errors_display")

    def get_exclude(self, request, obj=None):
        excluded = tuple(super().get_exclude(request, obj) or ())
        return excluded + self.LIVE_FIELDS if obj is not None and not obj.is_finished else excluded

    def get_readonly_fields(self, request, obj=None):
        fields = super().get_readonly_fields(request, obj)
        return [f for f in fields if f not in self.LIVE_FIELDS] if obj is not None and not obj.is_finished else fields

    @display(description="Scope")
    def scope(self, obj: SyncRun) -> str:
        parts = [customer_link(obj.customer_id, obj.customer.external_id)] if obj.customer_id else ["all customers"]
        if obj.exchange:
            parts.append(obj.get_exchange_display())
        return format_html_join(" · ", "{}", ((part,) for part in parts))

    @display(description="Duration")
    def duration(self, obj: SyncRun) -> str:
        return formatting.duration(obj.duration)

    @display(description="Rows: new · changed · same")
    def rows(self, obj: SyncRun) -> str:
        return " · ".join(formatting.size(n) for n in (obj.rows_created, obj.rows_updated, obj.rows_unchanged))

    @display(description="Errors")
    def error_count(self, obj: SyncRun) -> int:
        return len(obj.errors or [])

    @display(description="Progress")
    def progress(self, obj: SyncRun) -> str:
        percent = obj.progress_percent
        total = "?" if obj.progress_total is None else obj.progress_total
        return f"{obj.progress_done}/{total}" + ("" if percent is None else f" ({percent}%)")

    @display(description="Errors")
    def errors_display(self, obj: SyncRun) -> str:
        return format_html('<pre class="text-xs whitespace-pre-wrap">{}</pre>', json.dumps(obj.errors, indent=2))

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:object_id>/progress/", view(self.progress_view), name="sync_syncrun_progress"),
            path("start/", view(self.start_view), name="sync_syncrun_start"),
            *super().get_urls(),
        ]

    def start_view(self, request):
        """Sync now for one or more customers (``?customer=<pk>``, repeatable): confirm, start, show the run(s)."""
        require_permission(request, "customers.sync_customer")
        source = request.POST if request.method == "POST" else request.GET
        pks = [int(pk) for pk in source.getlist("customer") if pk.isdigit()][:100]
        customers = list(Customer.objects.filter(pk__in=pks).order_by("external_id"))
        if not customers:
            messages.error(request, "Choose at least one customer to sync.")
            return redirect("admin:customers_customer_changelist")
        if request.method == "POST":
            runs = [sync_customer_now(customer=c, requested_by=request.user, reason="Sync now (admin)") for c in customers]
            if len(runs) == 1:
                return redirect("admin:sync_syncrun_change", runs[0].pk)
            messages.success(request, f"Sync started for {len(runs)} customers.")
            return redirect(reverse("admin:sync_syncrun_changelist") + "?trigger=on-demand")
        back = reverse("admin:customers_customer_change", args=[customers[0].pk]) if len(customers) == 1 else reverse(
            "admin:customers_customer_changelist")
        return admin_page(self, request, "sync/start.html", {
            "customers": customers, "running": running_customer_ids(customers), "back_url": back,
        }, title="Sync now", opts=Customer._meta)

    def progress_view(self, request, object_id: int):
        """The progress fragment the run's page polls while the run is going."""
        run = get_object_or_404(SyncRun.objects.select_related("customer"), pk=object_id)
        if not self.has_view_permission(request, run):
            raise PermissionDenied
        return TemplateResponse(request, "sync/syncrun_progress_fragment.html", {"run": run})

    def change_view(self, request, object_id, form_url="", extra_context=None):
        run = self.get_object(request, object_id)
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), "run": run})
