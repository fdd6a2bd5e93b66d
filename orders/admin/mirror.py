"""Read-only admin for the orders mirror: market titles instead of ids, links across, capped counts."""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator
from unfold.decorators import action, display

from core.admin import (
    MirrorAdmin,
    changelist_link,
    filterset_autocomplete,
    filterset_filter,
    filterset_range,
    market_title_link,
    number_column,
    short_id,
    status_badge,
)
from customers.admin import customer_link
from orders.admin import markets
from orders.filters import FillFilterSet, MarketFilterSet, OrderFilterSet, PositionFilterSet, SettlementFilterSet
from orders.models import Fill, Market, Order, Position, Settlement


class CustomerMarketColumns:
    """Columns shared by order, fill and position lists (needs customer and market selected)."""

    @display(description="Customer", ordering="customer__external_id")
    def customer_display(self, obj) -> str:
        return customer_link(obj.customer_id, obj.customer.external_id)

    @display(description="Market")
    def market_display(self, obj) -> str:
        return market_title_link(obj)

    @display(description="Side")
    def leg_display(self, obj) -> str:
        return format_html('<span class="whitespace-nowrap">{} {}</span>', obj.get_side_display(), obj.outcome)

    price_shown = number_column("price", "price", "Price")
    size_shown = number_column("size", "size", "Size")


def customer_market_filters(filterset_class):
    """Customer and market chosen by autocomplete, applied through the list's FilterSet."""
    return (
        filterset_autocomplete(filterset_class, "customer", "customer", "customer"),
        filterset_autocomplete(filterset_class, "market", "market", "market"),
    )


@admin.register(Market)
class MarketAdmin(MirrorAdmin):
    filterset_class = MarketFilterSet
    search_filter = "q"
    search_fields = ("question",)
    search_help_text = "Question, parsec_id or native id"
    list_display = (
        "question_display", "exchange", "lifecycle_display", "market_type", "outcomes_display", "tick_shown", "min_size_shown",
        "last_price_shown", "end_date", "last_seen_at",
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

    tick_shown = number_column("tick_size", "size", "Tick")
    min_size_shown = number_column("min_order_size", "size", "Min size")
    last_price_shown = number_column("last_price", "price", "Last price")

    @display(description="Question", ordering="question")
    def question_display(self, obj: Market) -> str:
        return format_html('<span title="{}">{}</span>', obj.question, Truncator(obj.question).chars(90))

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
    search_filter = "q"
    search_fields = ("parsec_order_id",)
    search_help_text = "Customer (external id or email), market title, or Parsec order id — any part of it"
    list_display = (
        "created_at", "customer_display", "market_display", "leg_display", "price_shown", "size_shown", "filled_shown",
        "status_badge", "order_id_short",
    )  # the exchange and who placed it: filters, and on the order's page
    list_display_links = ("created_at",)
    list_select_related = ("customer", "market")
    list_filter = (
        *customer_market_filters(OrderFilterSet),
        filterset_filter(OrderFilterSet, "exchange", "exchange"),
        filterset_filter(OrderFilterSet, "status", "status"),
        filterset_filter(OrderFilterSet, "live", "not yet terminal"),
        filterset_filter(OrderFilterSet, "placed_by", "placed by"),
        filterset_range(OrderFilterSet, "created", "created_at", "created at"),
    )
    readonly_fields = ("customer_display", "market_display", "price_shown", "size_shown", "filled_shown", "remaining",
                       "notional", "related", "raw_payload")
    fieldsets = (
        (None, {"fields": (
            "parsec_order_id", "exchange", "customer_display", "market_display", "market_native_id", "outcome", "side",
            "price_shown", "size_shown", "filled_shown", "remaining", "notional", "status", "parsec_status", "order_type",
            "expiration",
        )}),
        ("Origin", {"fields": ("placed_by", "placed_by_user", "fee_auth_order_id", "related")}),
        ("Times", {"fields": ("created_at", "updated_at", "first_seen_at", "last_seen_at")}),
        ("Raw", {"classes": ("collapse",), "fields": ("raw_payload",)}),
    )

    filled_shown = number_column("filled", "size", "Filled")
    status_badge = status_badge()
    remaining = number_column("remaining", "size", "Remaining", ordering=False)
    notional = number_column("notional", "usdc", "Notional (USDC)", ordering=False)

    @display(description="Parsec order id", ordering="parsec_order_id")
    def order_id_short(self, obj: Order) -> str:
        return short_id(obj.parsec_order_id)

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
    search_filter = "q"
    search_fields = ("parsec_order_id",)
    search_help_text = "Customer (external id or email), market title (any part), or a fill or Parsec order id"
    list_display = (
        "created_at", "customer_display", "market_display", "leg_display", "price_shown", "size_shown", "fee_shown",
        "is_taker", "exchange", "order_display",
    )
    list_display_links = ("created_at",)
    list_select_related = ("customer", "market")
    list_filter = (
        *customer_market_filters(FillFilterSet),
        filterset_filter(FillFilterSet, "exchange", "exchange"),
        filterset_filter(FillFilterSet, "order", "Parsec order id", text=True),
        filterset_filter(FillFilterSet, "is_taker", "taker"),
        filterset_range(FillFilterSet, "created", "created_at", "executed at"),
    )
    readonly_fields = ("customer_display", "market_display", "order_display", "price_shown", "size_shown", "fee_shown",
                       "raw_payload")
    fields = ("fill_id", "exchange", "customer_display", "market_display", "market_native_id", "outcome", "side",
              "price_shown", "size_shown", "fee_shown", "is_taker", "order_display", "parsec_order_id", "created_at",
              "first_seen_at", "last_seen_at", "raw_payload")
    fee_shown = number_column("fee", "usdc6", "Exchange fee (USDC)")

    @display(description="Order")
    def order_display(self, obj: Fill) -> str:
        if obj.order_id:
            return format_html('<a href="{}">{}</a>', reverse("admin:orders_order_change", args=[obj.order_id]),
                               short_id(obj.parsec_order_id))
        return format_html('<span title="not in the mirror yet">{}</span>', short_id(obj.parsec_order_id))


@admin.register(Position)
class PositionAdmin(CustomerMarketColumns, MirrorAdmin):
    filterset_class = PositionFilterSet
    search_filter = "q"
    search_fields = ("outcome",)
    search_help_text = "Customer (external id or email) or market title — any part of it"
    list_display = (
        "last_seen_at", "customer_display", "market_display", "outcome", "size_shown", "average_price_shown",
        "current_price_shown", "unrealized_pnl", "open_badge",
    )
    ordering = ("-last_seen_at", "-id")
    list_display_links = ("last_seen_at",)
    list_select_related = ("customer", "market")
    list_filter = (
        *customer_market_filters(PositionFilterSet),
        filterset_filter(PositionFilterSet, "exchange", "exchange"),
        filterset_filter(PositionFilterSet, "is_open", "open"),
    )
    readonly_fields = ("customer_display", "market_display", "size_shown", "average_price_shown", "current_price_shown",
                       "unrealized_pnl", "raw_payload")
    fields = ("exchange", "customer_display", "market_display", "market_native_id", "outcome", "size_shown",
              "average_price_shown", "current_price_shown", "unrealized_pnl", "is_open", "closed_at", "closed_reason",
              "first_seen_at", "last_seen_at", "raw_payload")
    average_price_shown = number_column("average_price", "price", "Avg price")
    current_price_shown = number_column("current_price", "price", "Mark")
    unrealized_pnl = number_column("unrealized_pnl", "signed_usdc", "Unrealised P&L", ordering=False)

    @display(description="Open", ordering="is_open", label={"Open": "info", "Closed": ""})
    def open_badge(self, obj: Position) -> str:
        return "Open" if obj.is_open else f"Closed ({obj.get_closed_reason_display()})" if obj.closed_reason else "Closed"


@admin.register(Settlement)
class SettlementAdmin(CustomerMarketColumns, MirrorAdmin):
    """What each holding paid when its market was resolved or voided, and how the sync inferred it."""

    list_display = ("settled_at", "customer_display", "market_display", "outcome", "result_badge", "size_shown",
                    "amount_shown", "basis_short")  # the payout per share is on the settlement's page
    list_display_links = ("settled_at",)
    list_select_related = ("customer", "market")
    list_filter = (*customer_market_filters(SettlementFilterSet), "exchange", "result", "kind", "basis")
    filterset_class = SettlementFilterSet
    readonly_fields = ("customer_display", "market_display", "size_shown", "average_price_shown", "payout_shown",
                       "amount_shown")
    fields = ("exchange", "customer_display", "market_display", "market_native_id", "outcome", "kind", "result",
              "void_rule", "size_shown", "average_price_shown", "payout_shown", "amount_shown", "basis", "evidence",
              "settled_at", "inferred_at")
    result_badge = status_badge("result", "Result")
    average_price_shown = number_column("average_price", "price", "Average price")
    payout_shown = number_column("payout_per_share", "price", "Payout per share")
    amount_shown = number_column("amount_base_units", "usdc_units", "Amount (USDC)")

    @display(description="Inferred from", ordering="basis")
    def basis_short(self, obj: Settlement) -> str:
        # The choice's value names it in a word; its sentence is on hover and on the settlement's page.
        return format_html('<span title="{}">{}</span>', obj.get_basis_display(), obj.basis)
