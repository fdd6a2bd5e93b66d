"""Read-only admin for the customers mirror, and the pieces every mirror admin shares.

Mirrored rows change only through sync and services, so no role may add, change or delete
them here. Lists are built for big tables: a capped count instead of COUNT(*), every foreign
key the row shows in ``list_select_related``, and the filters of the app's FilterSet.
"""

from __future__ import annotations

import json
from datetime import time

from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.core.validators import EMPTY_VALUES
from django.db import connections
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.datastructures import MultiValueDict
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join
from unfold.admin import ModelAdmin, TabularInline
from unfold.contrib.filters.admin import DropdownFilter, RangeDateTimeFilter, TextFilter
from unfold.decorators import action, display
from unfold.utils import parse_datetime_str

from customers import selectors
from customers.admin_endusers import EndUserAdminMixin
from customers.filters import (
    BalanceSnapshotFilterSet,
    CustomerFilterSet,
    ExchangeLinkFilterSet,
    SyncRunFilterSet,
    WalletFilterSet,
)
from customers.models import BalanceSnapshot, Customer, ExchangeLink, SyncRun, Wallet
from customers.services import sync_customer_now
from parsec.admin import ReadOnlyAdminMixin

# --- Shared by every mirror admin ---------------------------------------------------------------


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


def customer_link(customer_id: int, label: str) -> str:
    return format_html('<a href="{}">{}</a>', reverse("admin:customers_customer_change", args=[customer_id]), label)


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


class CustomerColumn:
    """The owning customer as a link to its page (needs ``customer`` in list_select_related)."""

    @display(description="Customer")
    def customer_display(self, obj) -> str:
        return customer_link(obj.customer_id, obj.customer.external_id)


class ReadOnlyInline(ReadOnlyAdminMixin, TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False


# --- Customers ---------------------------------------------------------------------------------


class WalletInline(ReadOnlyInline):
    model = Wallet
    fields = ("wallet_type", "address", "safe_address", "chain_id", "privy_wallet_id", "created_at")


class ExchangeLinkInline(ReadOnlyInline):
    model = ExchangeLink
    fields = ("exchange", "mode", "linked_at", "last_seen_at")


def customer_cross_links(customer_id: int) -> str:
    return format_html_join(" · ", "{}", [
        (changelist_link("orders.order", "Orders", customer=customer_id),),
        (changelist_link("orders.fill", "Fills", customer=customer_id),),
        (changelist_link("orders.position", "Positions", customer=customer_id),),
        (changelist_link("customers.balancesnapshot", "Balance history", customer=customer_id),),
        (changelist_link("customers.syncrun", "Sync runs", customer=customer_id),),
    ])


@admin.register(Customer)
class CustomerAdmin(EndUserAdminMixin, MirrorAdmin):
    filterset_class = CustomerFilterSet
    search_filter = "q"
    search_fields = ("external_id",)
    search_help_text = "External id, email or Parsec customer id"
    list_display = (
        "external_id", "email", "status", "tier", "qps_limit", "fee_escrow_enabled", "api_key_last4",
        "created_at", "last_synced_at", "related",
    )
    list_filter = (
        filterset_filter(CustomerFilterSet, "status", "status"),
        filterset_filter(CustomerFilterSet, "exchange", "linked exchange"),
        filterset_filter(CustomerFilterSet, "fee_escrow_enabled", "fee escrow"),
        filterset_range(CustomerFilterSet, "created", "created_at", "created at Parsec"),
    )
    inlines = (WalletInline, ExchangeLinkInline)
    readonly_fields = ("related", "latest_balances", "raw_payload")
    fieldsets = (
        (None, {"fields": (
            "external_id", "parsec_customer_id", "email", "status", "tier", "qps_limit", "fee_escrow_enabled",
            "fee_bps", "api_key_last4", "related",
        )}),
        ("Balances", {"fields": ("latest_balances",)}),
        ("Sync", {"fields": (
            "created_at", "deactivated_at", "first_seen_at", "last_synced_at", "last_activity_at", "last_full_sync_at",
        )}),
        ("Raw", {"classes": ("collapse",), "fields": ("raw_payload",)}),
    )
    actions = ("sync_selected",)
    actions_detail = ("sync_now", "place_order", "cancel_open_orders", "freeze_trading", "onboard_end_user",
                      "change_qps_limit", "deactivate_end_user")
    actions_list = ("create_end_user",)

    # End-user management (issue 6): the pages live in customers.admin_endusers.
    @action(description="New end-user", icon="person_add", permissions=["manage_enduser"])
    def create_end_user(self, request):
        return HttpResponseRedirect(reverse("admin:customers_customer_new_end_user"))

    @action(description="Onboard to an exchange", icon="link", permissions=["manage_enduser"])
    def onboard_end_user(self, request, object_id):
        return HttpResponseRedirect(reverse("admin:customers_customer_onboard", args=[int(object_id)]))

    @action(description="Change qps_limit", icon="speed", permissions=["manage_enduser"])
    def change_qps_limit(self, request, object_id):
        return HttpResponseRedirect(reverse("admin:customers_customer_qps_limit", args=[int(object_id)]))

    @action(description="Deactivate", icon="person_off", permissions=["manage_enduser"])
    def deactivate_end_user(self, request, object_id):
        return HttpResponseRedirect(reverse("admin:customers_customer_deactivate", args=[int(object_id)]))

    @display(description="See")
    def related(self, obj: Customer) -> str:
        return customer_cross_links(obj.pk)

    @display(description="Latest balance per exchange")
    def latest_balances(self, obj: Customer) -> str:
        rows = selectors.latest_balances(customer=obj)
        if not rows:
            return "No balance read yet."
        return format_html_join(
            "", "<div>{}: {} USDC <span class='text-gray-500'>({})</span></div>",
            ((snap.get_exchange_display(), snap.usdc, snap.taken_at.strftime("%Y-%m-%d %H:%M:%S UTC")) for snap in rows),
        )

    def has_sync_customer_permission(self, request, obj=None) -> bool:
        return request.user.has_perm("customers.sync_customer")

    # Trading (issue 5): the pages live in orders.admin_trading; these buttons open them.
    def has_place_order_permission(self, request, obj=None) -> bool:
        return request.user.has_perm("orders.place_order")

    def has_cancel_order_permission(self, request, obj=None) -> bool:
        return request.user.has_perm("orders.cancel_order")

    def has_manage_killswitch_permission(self, request, obj=None) -> bool:
        return request.user.has_perm("orders.manage_killswitch")

    @action(description="Place an order", icon="add_shopping_cart", permissions=["place_order"])
    def place_order(self, request, object_id):
        return HttpResponseRedirect(reverse("admin:orders_orderintent_place") + f"?customer={int(object_id)}")

    @action(description="Cancel open orders", icon="cancel", permissions=["cancel_order"])
    def cancel_open_orders(self, request, object_id):
        return HttpResponseRedirect(reverse("admin:orders_orderintent_cancel") + f"?customer={int(object_id)}")

    @action(description="Freeze trading", icon="block", permissions=["manage_killswitch"])
    def freeze_trading(self, request, object_id):
        return HttpResponseRedirect(reverse("admin:orders_killswitch_engage") + f"?scope=customer&customer={int(object_id)}")

    def _start_sync(self, request, customer: Customer) -> SyncRun:
        return sync_customer_now(customer=customer, requested_by=request.user, reason="Sync now (admin)")

    @admin.action(description="Sync selected customers now", permissions=["sync_customer"])
    def sync_selected(self, request, queryset):
        customers = list(queryset[:100])
        for customer in customers:
            self._start_sync(request, customer)
        self.message_user(request, f"Sync started for {len(customers)} customer(s).", messages.SUCCESS)

    @action(
        description="Sync now", icon="sync", permissions=["sync_customer"],
        dialog={
            "title": "Sync this customer now?",
            "description": "Reads the customer's orders, fills, positions and balances from Parsec.",
            "form_class": None, "form_submit_text": "Sync now",
        },
    )
    def sync_now(self, request, form, object_id):
        customer = get_object_or_404(Customer, pk=object_id)
        run = self._start_sync(request, customer)
        return HttpResponseRedirect(reverse("admin:customers_syncrun_change", args=[run.pk]))


@admin.register(Wallet)
class WalletAdmin(CustomerColumn, MirrorAdmin):
    filterset_class = WalletFilterSet
    search_filter = "address"
    search_fields = ("address",)
    search_help_text = "EOA or Safe address"
    list_display = ("address", "wallet_type", "safe_address", "customer_display", "chain_id", "created_at")
    list_select_related = ("customer",)
    list_filter = (
        filterset_filter(WalletFilterSet, "customer", "customer", text=True),
        filterset_filter(WalletFilterSet, "wallet_type", "type"),
    )
    readonly_fields = ("raw_payload",)
    exclude = ("raw",)


@admin.register(ExchangeLink)
class ExchangeLinkAdmin(CustomerColumn, MirrorAdmin):
    filterset_class = ExchangeLinkFilterSet
    list_display = ("customer_display", "exchange", "mode", "linked_at", "last_seen_at")
    list_select_related = ("customer",)
    list_filter = (
        filterset_filter(ExchangeLinkFilterSet, "customer", "customer", text=True),
        filterset_filter(ExchangeLinkFilterSet, "exchange", "exchange"),
        filterset_filter(ExchangeLinkFilterSet, "mode", "mode"),
    )


@admin.register(BalanceSnapshot)
class BalanceSnapshotAdmin(CustomerColumn, MirrorAdmin):
    filterset_class = BalanceSnapshotFilterSet
    list_display = ("taken_at", "customer_display", "exchange", "usdc", "allowance_display")
    list_select_related = ("customer",)
    list_filter = (
        filterset_filter(BalanceSnapshotFilterSet, "customer", "customer", text=True),
        filterset_filter(BalanceSnapshotFilterSet, "exchange", "exchange"),
        filterset_range(BalanceSnapshotFilterSet, "taken", "taken_at", "taken at"),
    )
    readonly_fields = ("usdc", "raw_payload")
    exclude = ("raw",)

    @display(description="USDC")
    def usdc(self, obj: BalanceSnapshot):
        return obj.usdc

    @display(description="Allowance (base units)")
    def allowance_display(self, obj: BalanceSnapshot) -> str:
        return "unlimited" if obj.allowance_unlimited else ("—" if obj.allowance_base_units is None else str(obj.allowance_base_units))


@admin.register(SyncRun)
class SyncRunAdmin(MirrorAdmin):
    filterset_class = SyncRunFilterSet
    list_display = (
        "started_at", "kind", "scope", "trigger", "status", "duration", "calls_made", "rows_created",
        "rows_updated", "rows_unchanged", "error_count", "progress",
    )
    list_select_related = ("customer",)
    list_filter = (
        filterset_filter(SyncRunFilterSet, "kind", "kind"),
        filterset_filter(SyncRunFilterSet, "status", "status"),
        filterset_filter(SyncRunFilterSet, "trigger", "trigger"),
        filterset_filter(SyncRunFilterSet, "customer", "customer", text=True),
        filterset_range(SyncRunFilterSet, "started", "started_at", "started at"),
    )
    readonly_fields = ("scope", "duration", "progress", "errors_display")
    exclude = ("errors",)
    change_form_before_template = "customers/syncrun_progress.html"

    @display(description="Scope")
    def scope(self, obj: SyncRun) -> str:
        parts = [customer_link(obj.customer_id, obj.customer.external_id)] if obj.customer_id else ["all customers"]
        if obj.exchange:
            parts.append(obj.get_exchange_display())
        return format_html_join(" · ", "{}", ((part,) for part in parts))

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
        progress = self.admin_site.admin_view(self.progress_view)
        return [path("<int:object_id>/progress/", progress, name="customers_syncrun_progress"), *super().get_urls()]

    def progress_view(self, request, object_id: int):
        """The progress fragment the run's page polls while the run is going."""
        run = get_object_or_404(SyncRun, pk=object_id)
        if not self.has_view_permission(request, run):
            raise PermissionDenied
        return TemplateResponse(request, "customers/syncrun_progress_fragment.html", {"run": run})

    def change_view(self, request, object_id, form_url="", extra_context=None):
        run = self.get_object(request, object_id)
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), "run": run})
