"""Read-only admin for the orders mirror: market titles instead of ids, links across, capped counts."""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator
from unfold.decorators import action, display

from core.admin import MirrorAdmin, changelist_link, filterset_filter, filterset_range
from customers.admin import customer_link
from orders.admin import markets
from orders.filters import FillFilterSet, MarketFilterSet, OrderFilterSet, PositionFilterSet
from orders.models import Fill, Market, Order, Position, Settlement


def market_label(obj) -> str:
    """The market's question when the catalogue knows it, else its native id."""
    if obj.market_id:
        title = Truncator(obj.market.question).chars(70)
        return format_html('<a href="{}" title="{}">{}</a>', reverse("admin:orders_market_change", args=[obj.market_id]),
                           obj.market_native_id, title)
    return format_html('<span class="font-mono text-xs">{}</span>', obj.market_native_id)


class CustomerMarketColumns:
    """Columns shared by order, fill and position lists (needs customer and market selected)."""

    @display(description="Customer", ordering="customer__external_id")
    def customer_display(self, obj) -> str:
        return customer_link(obj.customer_id, obj.customer.external_id)

    @display(description="Market")
    def market_display(self, obj) -> str:
        return market_label(obj)


@admin.register(Market)
class MarketAdmin(MirrorAdmin):
    filterset_class = MarketFilterSet
    search_filter = "q"
    search_fields = ("question",)
    search_help_text = "Question, parsec_id or native id"
    list_display = (
        "question_display", "exchange", "lifecycle_display", "market_type", "outcomes_display", "tick_size", "min_order_size",
        "last_price", "end_date", "last_seen_at",
    )
    list_filter = (
        filterset_filter(MarketFilterSet, "exchange", "exchange"),
        filterset_filter(MarketFilterSet, "status", "status"),
        filterset_filter(MarketFilterSet, "past_end_date", "active past its end date"),
    )

    @display(description="Status", ordering="status", label={"Active": "success", "Active, past its end date": "warning"})
    def lifecycle_display(self, obj: Market) -> str:
        return obj.lifecycle_label

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("resolving-soon/", view(self.resolving_soon_view), name="orders_market_resolving_soon"),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if request.method != "GET":
            raise PermissionDenied  # a read-only page: the catalogue is Parsec's
        return markets.market_page(self, request, object_id)

    def resolving_soon_view(self, request):
        return markets.resolving_soon_page(self, request)
    readonly_fields = ("related", "raw_payload")
    exclude = ("raw",)

    @display(description="Question", ordering="question")
    def question_display(self, obj: Market) -> str:
        return Truncator(obj.question).chars(90)

    @display(description="Outcomes")
    def outcomes_display(self, obj: Market) -> str:
        return ", ".join(obj.outcome_names)

    @display(description="See")
    def related(self, obj: Market) -> str:
        return format_html_join(" · ", "{}", [
            (changelist_link("orders.order", "Orders", market=obj.pk),),
            (changelist_link("orders.fill", "Fills", market=obj.pk),),
            (changelist_link("orders.position", "Positions", market=obj.pk),),
        ])


@admin.register(Order)
class OrderAdmin(CustomerMarketColumns, MirrorAdmin):
    filterset_class = OrderFilterSet
    search_filter = "parsec_order_id"
    search_fields = ("parsec_order_id",)
    search_help_text = "Parsec order id"
    list_display = (
        "parsec_order_id", "customer_display", "exchange", "market_display", "outcome", "side", "price", "size",
        "filled", "status", "placed_by", "created_at",
    )
    list_select_related = ("customer", "market")
    list_filter = (
        filterset_filter(OrderFilterSet, "customer", "customer", text=True),
        filterset_filter(OrderFilterSet, "exchange", "exchange"),
        filterset_filter(OrderFilterSet, "status", "status"),
        filterset_filter(OrderFilterSet, "live", "not yet terminal"),
        filterset_filter(OrderFilterSet, "market", "market", text=True),
        filterset_filter(OrderFilterSet, "placed_by", "placed by"),
        filterset_range(OrderFilterSet, "created", "created_at", "created at"),
    )
    readonly_fields = ("customer_display", "market_display", "remaining", "notional", "related", "raw_payload")
    fieldsets = (
        (None, {"fields": (
            "parsec_order_id", "exchange", "customer_display", "market_display", "market_native_id", "outcome", "side",
            "price", "size", "filled", "remaining", "notional", "status", "parsec_status", "order_type", "expiration",
        )}),
        ("Origin", {"fields": ("placed_by", "placed_by_user", "fee_auth_order_id", "related")}),
        ("Times", {"fields": ("created_at", "updated_at", "first_seen_at", "last_seen_at")}),
        ("Raw", {"classes": ("collapse",), "fields": ("raw_payload",)}),
    )

    @display(description="Remaining")
    def remaining(self, obj: Order):
        return obj.remaining

    @display(description="Notional (USDC)")
    def notional(self, obj: Order):
        return obj.notional

    @display(description="See")
    def related(self, obj: Order) -> str:
        return changelist_link("orders.fill", "Fills of this order", order=obj.parsec_order_id, exchange=obj.exchange)

    # Trading (issue 5): cancelling goes through the confirmation page in orders.admin.trading.
    actions = ("cancel_selected",)
    actions_detail = ("cancel_this_order",)

    def has_cancel_order_permission(self, request, obj=None) -> bool:
        return request.user.has_perm("orders.cancel_order")

    @admin.action(description="Cancel selected orders…", permissions=["cancel_order"])
    def cancel_selected(self, request, queryset):
        ids = ",".join(str(pk) for pk in queryset.values_list("pk", flat=True)[:500])
        return HttpResponseRedirect(reverse("admin:orders_orderintent_cancel") + f"?orders={ids}")

    @action(description="Cancel this order", icon="cancel", permissions=["cancel_order"])
    def cancel_this_order(self, request, object_id):
        return HttpResponseRedirect(reverse("admin:orders_orderintent_cancel") + f"?orders={int(object_id)}")


@admin.register(Fill)
class FillAdmin(CustomerMarketColumns, MirrorAdmin):
    filterset_class = FillFilterSet
    search_filter = "order"
    search_fields = ("parsec_order_id",)
    search_help_text = "Parsec order id"
    list_display = (
        "fill_id", "customer_display", "exchange", "market_display", "outcome", "side", "price", "size", "fee",
        "is_taker", "order_display", "created_at",
    )
    list_select_related = ("customer", "market")
    list_filter = (
        filterset_filter(FillFilterSet, "customer", "customer", text=True),
        filterset_filter(FillFilterSet, "exchange", "exchange"),
        filterset_filter(FillFilterSet, "market", "market", text=True),
        filterset_filter(FillFilterSet, "order", "Parsec order id", text=True),
        filterset_filter(FillFilterSet, "is_taker", "taker"),
        filterset_range(FillFilterSet, "created", "created_at", "executed at"),
    )
    readonly_fields = ("customer_display", "market_display", "order_display", "raw_payload")
    exclude = ("raw", "customer", "market", "order")

    @display(description="Order")
    def order_display(self, obj: Fill) -> str:
        if obj.order_id:
            return format_html('<a href="{}">{}</a>', reverse("admin:orders_order_change", args=[obj.order_id]),
                               obj.parsec_order_id)
        return format_html('<span title="not in the mirror yet">{}</span>', obj.parsec_order_id)


@admin.register(Position)
class PositionAdmin(CustomerMarketColumns, MirrorAdmin):
    filterset_class = PositionFilterSet
    list_display = (
        "customer_display", "exchange", "market_display", "outcome", "size", "average_price", "current_price",
        "unrealized_pnl", "is_open", "closed_at", "last_seen_at",
    )
    list_select_related = ("customer", "market")
    list_filter = (
        filterset_filter(PositionFilterSet, "customer", "customer", text=True),
        filterset_filter(PositionFilterSet, "exchange", "exchange"),
        filterset_filter(PositionFilterSet, "market", "market", text=True),
        filterset_filter(PositionFilterSet, "is_open", "open"),
    )
    readonly_fields = ("customer_display", "market_display", "unrealized_pnl", "raw_payload")
    exclude = ("raw", "customer", "market")

    @display(description="Unrealized P&L")
    def unrealized_pnl(self, obj: Position):
        return obj.unrealized_pnl


@admin.register(Settlement)
class SettlementAdmin(CustomerMarketColumns, MirrorAdmin):
    """What each holding paid when its market was resolved or voided, and how the sync inferred it."""

    list_display = ("customer_display", "exchange", "market_display", "outcome", "result", "size", "payout_per_share",
                    "amount_base_units", "basis", "settled_at")
    list_select_related = ("customer", "market")
    list_filter = ("exchange", "result", "kind", "basis")
    readonly_fields = ("customer_display", "market_display")
    exclude = ("customer", "market", "position")
