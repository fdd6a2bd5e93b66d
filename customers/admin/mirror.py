"""Read-only admin for the customers mirror: end-users, wallets, exchange links, balance history.

Mirrored rows change only through sync and services, so no role may add, change or delete them
here. The end-user actions (create, onboard, qps_limit, deactivate) are pages of
``customers.admin.endusers``; trading, sync and four-eyes buttons open the pages of their apps.
"""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from unfold.decorators import action, display

from core import formatting
from core.admin import (
    MirrorAdmin,
    ReadOnlyInline,
    changelist_link,
    filterset_autocomplete,
    filterset_filter,
    filterset_range,
    number_column,
    status_badge,
    usdc_units_html,
)
from customers import selectors
from customers.admin.endusers import EndUserAdminMixin
from customers.filters import BalanceSnapshotFilterSet, CustomerFilterSet, ExchangeLinkFilterSet, WalletFilterSet
from customers.models import BalanceSnapshot, Customer, ExchangeLink, Wallet


def customer_link(customer_id: int, label: str) -> str:
    """A customer by its external id, linked to its Customer 360 page."""
    return format_html('<a href="{}" class="text-primary-600 whitespace-nowrap">{}</a>', reverse("customer_360", args=[customer_id]),
                       label)


class CustomerColumn:
    """The owning customer as a link to its page (needs ``customer`` in list_select_related)."""

    @display(description="Customer")
    def customer_display(self, obj) -> str:
        return customer_link(obj.customer_id, obj.customer.external_id)



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
        (changelist_link("sync.syncrun", "Sync runs", customer=customer_id),),
    ])


@admin.register(Customer)
class CustomerAdmin(EndUserAdminMixin, MirrorAdmin):
    filterset_class = CustomerFilterSet
    search_filter = "q"
    search_fields = ("external_id",)
    search_help_text = "External id or email (any part of it), or Parsec customer id"
    list_display = (
        "external_id", "email", "status_badge", "tier", "qps_limit", "fee_escrow_enabled", "created_at",
        "last_full_sync_at", "related",
    )
    status_badge = status_badge()
    list_filter = (
        filterset_filter(CustomerFilterSet, "status", "status"),
        filterset_filter(CustomerFilterSet, "exchange", "linked exchange"),
        filterset_filter(CustomerFilterSet, "fee_escrow_enabled", "fee escrow"),
        filterset_range(CustomerFilterSet, "created", "created_at", "created at Parsec"),
    )
    inlines = (WalletInline, ExchangeLinkInline)
    readonly_fields = ("parsec_id_display", "related", "latest_balances", "raw_payload")
    fieldsets = (
        (None, {"fields": (
            "external_id", "parsec_id_display", "email", "status", "tier", "qps_limit", "fee_escrow_enabled",
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

    @display(description="Parsec customer id")
    def parsec_id_display(self, obj: Customer) -> str:
        return format_html('<span class="font-mono text-xs" data-parsec-id>{}</span>', obj.parsec_customer_id)

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
            ((snap.get_exchange_display(), formatting.usdc(snap.usdc), formatting.when(snap.taken_at)) for snap in rows),
        )

    def has_sync_customer_permission(self, request, obj=None) -> bool:
        return request.user.has_perm("customers.sync_customer")

    # Trading (issue 5): the pages live in orders.admin.trading; these buttons open them.
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

    # Sync now (the sync app's page): a confirmation, then the run's live progress.
    @admin.action(description="Sync selected customers now", permissions=["sync_customer"])
    def sync_selected(self, request, queryset):
        query = "&".join(f"customer={pk}" for pk in queryset.values_list("pk", flat=True)[:100])
        return HttpResponseRedirect(reverse("admin:sync_syncrun_start") + f"?{query}")

    @action(description="Sync now", icon="sync", permissions=["sync_customer"])
    def sync_now(self, request, object_id):
        return HttpResponseRedirect(reverse("admin:sync_syncrun_start") + f"?customer={int(object_id)}")


@admin.register(Wallet)
class WalletAdmin(CustomerColumn, MirrorAdmin):
    filterset_class = WalletFilterSet
    search_filter = "address"
    search_fields = ("address",)
    search_help_text = "EOA or Safe address"
    list_display = ("created_at", "customer_display", "address", "wallet_type", "safe_address", "chain_id")
    list_select_related = ("customer",)
    list_filter = (
        filterset_autocomplete(WalletFilterSet, "customer", "customer", "customer"),
        filterset_filter(WalletFilterSet, "wallet_type", "type"),
    )
    readonly_fields = ("raw_payload",)
    exclude = ("raw",)


@admin.register(ExchangeLink)
class ExchangeLinkAdmin(CustomerColumn, MirrorAdmin):
    filterset_class = ExchangeLinkFilterSet
    list_display = ("linked_at", "customer_display", "exchange", "mode", "last_seen_at")
    list_select_related = ("customer",)
    list_filter = (
        filterset_autocomplete(ExchangeLinkFilterSet, "customer", "customer", "customer"),
        filterset_filter(ExchangeLinkFilterSet, "exchange", "exchange"),
        filterset_filter(ExchangeLinkFilterSet, "mode", "mode"),
    )


@admin.register(BalanceSnapshot)
class BalanceSnapshotAdmin(CustomerColumn, MirrorAdmin):
    filterset_class = BalanceSnapshotFilterSet
    list_display = ("taken_at", "customer_display", "exchange", "usdc_shown", "allowance_display")
    list_select_related = ("customer",)
    list_filter = (
        filterset_autocomplete(BalanceSnapshotFilterSet, "customer", "customer", "customer"),
        filterset_filter(BalanceSnapshotFilterSet, "exchange", "exchange"),
        filterset_range(BalanceSnapshotFilterSet, "taken", "taken_at", "taken at"),
    )
    readonly_fields = ("customer_display", "usdc_shown", "allowance_display", "raw_payload")
    exclude = ("raw", "customer", "usdc_base_units", "allowance_base_units", "allowance_unlimited")
    usdc_shown = number_column("usdc_base_units", "usdc_units", "USDC")

    @display(description="Allowance (USDC)")
    def allowance_display(self, obj: BalanceSnapshot) -> str:
        return "unlimited" if obj.allowance_unlimited else usdc_units_html(obj.allowance_base_units)
