"""Fee escrow in the admin: the records (read-only, flagged ones first to find) with what the chain
said (state, reconciliation, the pull / distribute / refund transactions and their blocks), a
re-check button, and the builder's escrow configuration read from Parsec.

The pages read the database only: the chain is read by the follower and the follow-ups
(orders.escrow_events); when it cannot be reached, the pages say so and show the last known state
with its age."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from unfold.admin import ModelAdmin
from unfold.decorators import action, display

from core.admin import ReadOnlyAdminMixin, number_column, status_badge
from core.formatting import plain
from core.money import usdc_from_base_units
from customers.admin import customer_link
from orders import escrow, escrow_events, fees
from orders.models import FeeEscrowRecord


def _usdc(base_units: int | None) -> str:
    return plain(usdc_from_base_units(base_units or 0))


class FlaggedFilter(admin.SimpleListFilter):
    title = "differs from the escrow"
    parameter_name = "flagged"

    def lookups(self, request, model_admin):
        return [("yes", "Flagged"), ("no", "Matches")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.exclude(discrepancy="")
        if self.value() == "no":
            return queryset.filter(discrepancy="")
        return queryset


@admin.register(FeeEscrowRecord)
class FeeEscrowRecordAdmin(ReadOnlyAdminMixin, ModelAdmin):
    list_display = ("created_at", "customer_display", "fee_order_short", "state_badge", "fee", "affiliate", "treasury",
                    "refund", "flag", "on_chain")
    list_display_links = ("created_at",)
    list_filter = ("state", "reconciliation", FlaggedFilter)
    list_select_related = ("customer",)
    search_fields = ("fee_order_id", "payer", "customer__external_id", "order__parsec_order_id", "chain_events__tx_hash")
    show_full_result_count = False
    list_per_page = 50
    fields = ("fee_order_id", "customer", "intent", "order", "payer", "fee_base_units", "deadline", "affiliate_fee_bps",
              "has_affiliate", "state", "affiliate_base_units", "treasury_base_units", "refund_base_units", "refund_reason",
              "created_at", "pulled_at", "settled_at", "reconciliation", "discrepancy", "chain_state", "chain_block",
              "chain_read_at", "chain_error", "checked_at", "chain_record")
    readonly_fields = fields
    list_before_template = "orders/escrow/_chain_health.html"
    change_form_before_template = "orders/escrow/_record_chain.html"
    actions_list = ("escrow_configuration",)
    actions_detail = ("check_now",)

    def has_check_escrow_permission(self, request, obj=None) -> bool:
        return request.user.has_perm("orders.check_escrow")

    def has_view_escrow_permission(self, request, obj=None) -> bool:
        return request.user.has_perm("orders.view_feeescrowrecord")

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("chain_events")

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, {**(extra_context or {}), "chain": escrow_events.chain_health()})

    def change_view(self, request, object_id, form_url="", extra_context=None):
        record = self.get_object(request, object_id)
        context = {"chain": escrow_events.chain_health()}
        if record is not None:
            context.update(chain_events=list(record.chain_events.all()), chain_age=escrow_events.record_chain_age(record))
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), **context})

    @display(description="Fee order id")
    def fee_order_short(self, obj: FeeEscrowRecord) -> str:
        return format_html('<span class="font-mono text-xs" title="{}">{}…</span>', obj.fee_order_id, obj.fee_order_id[:12])

    # USDC to 6 decimals (fees are small), the exact base units on hover.
    fee = number_column("fee_base_units", "usdc_units6", "Fee (USDC)")
    affiliate = number_column("affiliate_base_units", "usdc_units6", "Affiliate")
    treasury = number_column("treasury_base_units", "usdc_units6", "Treasury")
    refund = number_column("refund_base_units", "usdc_units6", "Refunded")
    state_badge = status_badge("state", "State")

    @display(description="Customer", ordering="customer__external_id")
    def customer_display(self, obj) -> str:
        return customer_link(obj.customer_id, obj.customer.external_id)

    @display(description="Check", label={
        "matches the chain": "success", "pending on chain": "info", "not checked": "info", "chain unreachable": "warning",
        **{label.lower(): "danger" for value, label in FeeEscrowRecord.Reconciliation.choices
           if value in FeeEscrowRecord.ALERTS}})
    def flag(self, obj):
        if obj.chain_error and obj.reconciliation == FeeEscrowRecord.Reconciliation.UNCHECKED:
            return "chain unreachable"
        if obj.reconciliation == FeeEscrowRecord.Reconciliation.UNCHECKED:
            return "not checked"
        return obj.get_reconciliation_display().lower()

    @display(description="On chain (block · tx)")
    def on_chain(self, obj):
        events = [event for event in obj.chain_events.all() if event.dropped_at is None]
        if not events:
            return "—"
        return format_html_join(" ", '<span class="font-mono text-xs" title="{}">{} #{}</span>',
                                ((event.tx_hash, event.get_kind_display().lower(), event.block_number) for event in events))

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("configuration/", view(self.configuration_view), name="orders_feeescrowrecord_configuration"),
            path("<int:pk>/check/", view(self.check_view), name="orders_feeescrowrecord_check"),
            *super().get_urls(),
        ]

    @action(description="Escrow configuration", icon="settings", permissions=["view_escrow"])
    def escrow_configuration(self, request):
        return redirect("admin:orders_feeescrowrecord_configuration")

    @action(description="Check against the escrow now", icon="fact_check", permissions=["check_escrow"])
    def check_now(self, request, object_id):
        return redirect(reverse("admin:orders_feeescrowrecord_check", args=[int(object_id)]))

    def check_view(self, request, pk):
        if not request.user.has_perm("orders.check_escrow"):
            raise PermissionDenied
        record = get_object_or_404(FeeEscrowRecord, pk=pk)
        if request.method == "GET":
            return TemplateResponse(request, "orders/escrow/check.html", {
                **self.admin_site.each_context(request), "opts": FeeEscrowRecord._meta, "record": record,
                "title": "Check this fee against the escrow"})
        if request.method != "POST":
            return HttpResponseNotAllowed(["GET", "POST"])
        record = escrow.recheck(record=record, actor=request.user)
        if record.chain_error:
            messages.warning(request, f"The escrow chain could not be read: {record.chain_error}. Showing the last known "
                                      f"chain state (read {escrow_events.record_chain_age(record)} ago).")
        elif record.reconciliation == FeeEscrowRecord.Reconciliation.PENDING:
            escrow_events.follow_up([record.pk])
            messages.info(request, "Pending on chain: the escrow's transaction is not mined yet; it is read again in a few blocks.")
        elif record.discrepancy:
            messages.warning(request, f"Differs from the escrow: {record.discrepancy}")
        else:
            messages.success(request, f"Matches the escrow ({record.get_state_display()}).")
        return redirect("admin:orders_feeescrowrecord_change", record.pk)

    def configuration_view(self, request):
        if not request.user.has_perm("orders.view_feeescrowrecord"):
            raise PermissionDenied
        config, error = None, ""
        try:
            config = escrow.escrow_config()
        except Exception as exc:
            from parsec.errors import explain

            error = explain(exc).message
        example = None
        if config is not None and config.fee_bps is not None:
            from decimal import Decimal

            example = fees.fee_for_config(config=config, price=Decimal("0.55"), size=Decimal("100"))
        return TemplateResponse(request, "orders/escrow/configuration.html", {
            **self.admin_site.each_context(request), "opts": FeeEscrowRecord._meta, "config": config, "error": error,
            "example_fee": _usdc(example) if example is not None else None,
            "min_fee": _usdc(config.min_fee_usdc) if config else None,
            "title": "Fee escrow configuration (from Parsec)",
        })
