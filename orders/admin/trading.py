"""Admin pages for operator trading: place, confirm, reconcile, cancel, kill switch, four eyes.

Thin: each view parses input with a form from ``orders.forms``, calls ``orders.services`` and
renders the result. Each checks its own permission (Compliance gets 403 on all of them).
"""

from __future__ import annotations

import logging

from django.contrib import admin, messages
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.text import Truncator
from unfold.admin import ModelAdmin
from unfold.decorators import action, display

from core.admin import STATUS_COLORS, ReadOnlyAdminMixin, admin_page, require_permission
from core.errors import DomainError
from customers.models import Customer
from orders import escrow, services
from orders.admin.mirror import CustomerMarketColumns
from orders.forms import CancelForm, EscrowOrderForm, KillSwitchForm, ReasonForm
from orders.messages import intent_state_label, intent_status_message
from orders.models import KillSwitch, Market, OrderIntent

logger = logging.getLogger(__name__)


BOOK_REFRESH_MS = 1000
MARKET_CHOICES = 50
BOOK_SHARED_SECONDS = 0.5


def _int_param(request, name: str) -> int:
    value = request.GET.get(name) or ""
    return int(value) if value.isdigit() and len(value) < 19 else 0


def shared_order_book(*, market: Market, outcome: str) -> tuple[dict | None, str]:
    """The live book, read at most once per half second per process and book: every operator
    with the ticket open polls each second, and they share the read instead of multiplying them."""
    key = f"ticket-book:{market.pk}:{outcome}"
    hit = cache.get(key)
    if hit is not None:
        return hit
    answer = services.live_order_book(market=market, outcome=outcome)
    cache.set(key, answer, BOOK_SHARED_SECONDS)
    return answer


class TradingAdminMixin(ReadOnlyAdminMixin):
    """Read-only changelists; rows change only through services."""

    show_full_result_count = False
    list_per_page = 50

    def render_page(self, request, template: str, context: dict, *, title: str):
        return admin_page(self, request, template, context, title=title)


# An intent's status as a badge (awaiting approval and needs review ask for someone's attention).
INTENT_STATE_COLORS = {**STATUS_COLORS, "awaiting_approval": "warning",
                       "needs_review": "danger", "withdrawn": ""}


@admin.register(OrderIntent)
class OrderIntentAdmin(CustomerMarketColumns, TradingAdminMixin, ModelAdmin):
    list_display = ("created_at", "customer_display", "market_display", "leg_display", "price_shown", "size_shown",
                    "state", "created_by")  # the time opens the intent's page
    list_display_links = ("created_at",)
    list_filter = ("status", "exchange", "source")
    list_select_related = ("customer", "market", "created_by")
    search_fields = ("key", "parsec_order_id", "customer__external_id")
    date_hierarchy = None

    @display(description="Status", ordering="status", label=INTENT_STATE_COLORS)
    def state(self, obj: OrderIntent) -> tuple[str, str]:
        return obj.status, intent_state_label(obj)

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("place/", view(self.place_view), name="orders_orderintent_place"),
            path("market-search/", view(self.market_search_view), name="orders_orderintent_market_search"),
            path("book/", view(self.book_view), name="orders_orderintent_book"),
            path("outcomes/", view(self.outcome_options_view), name="orders_orderintent_outcomes"),
            path("cancel/", view(self.cancel_view), name="orders_orderintent_cancel"),
            path("<uuid:key>/", view(self.detail_view), name="orders_orderintent_detail"),
            path("<uuid:key>/confirm/", view(self.confirm_view), name="orders_orderintent_confirm"),
            path("<uuid:key>/reconcile/", view(self.reconcile_view), name="orders_orderintent_reconcile"),
            path("<uuid:key>/state/", view(self.state_view), name="orders_orderintent_state"),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        intent = get_object_or_404(OrderIntent, pk=object_id)
        return redirect("admin:orders_orderintent_detail", key=intent.key)

    # --- Placing ------------------------------------------------------------------------

    def place_view(self, request):
        require_permission(request, "orders.place_order")
        config = escrow.escrow_config_or_none()
        if request.method == "POST":
            form = EscrowOrderForm(request.POST, escrow_config=config, user=request.user)
            if form.is_valid():
                try:
                    intent = services.create_intent(actor=request.user, **form.service_kwargs())
                except services.OrderValidationError as exc:
                    for field_name, errors in exc.errors.items():
                        for error in errors:
                            form.add_error(field_name if field_name in form.fields else None, error)
                except DomainError as exc:
                    form.add_error(None, exc.message)
                else:
                    return redirect("admin:orders_orderintent_confirm", key=intent.key)
        else:
            initial = {}
            customer_id = request.GET.get("customer")
            if customer_id:
                initial["customer"] = get_object_or_404(Customer, pk=customer_id)
            for name in ("exchange", "market", "outcome", "side"):
                if request.GET.get(name):
                    initial[name] = request.GET[name]
            form = EscrowOrderForm(initial=initial, escrow_config=config, user=request.user)
        customer = self._form_customer(form)
        if customer is None:
            messages.error(request, "Open the order form from a customer's page.")
            return redirect("admin:customers_customer_changelist")
        form.limit_to_customer(customer)
        market_value = form["market"].value()
        market = Market.objects.filter(pk=market_value).first() if str(market_value or "").isdigit() else None
        exchange = form["exchange"].value() or next(iter(dict(form.fields["exchange"].choices)), "")
        markets = Market.objects.filter(status=Market.Status.ACTIVE, exchange=exchange).order_by("question")[:MARKET_CHOICES]
        return self.render_page(request, "orders/trading/place.html", {
            "form": form, "customer": customer, "market": market, "markets": markets,
            "outcomes": market.outcome_names if market else [], "outcome": form["outcome"].value() or "",
            "escrow_fields": [form[name] for name in form.escrow_fields],
            "book_refresh_ms": BOOK_REFRESH_MS,
        }, title=f"Place an order for {customer}")

    @staticmethod
    def _form_customer(form) -> Customer | None:
        value = form.data.get("customer") if form.is_bound else form.initial.get("customer")
        if isinstance(value, Customer):
            return value
        return Customer.objects.filter(pk=value).first() if value and str(value).isdigit() else None

    def market_search_view(self, request):
        """htmx: the market choices matching a title search (and the exchange)."""
        require_permission(request, "orders.place_order")
        query = request.GET.get("q", "").strip()
        markets = Market.objects.filter(status=Market.Status.ACTIVE)
        if request.GET.get("exchange"):
            markets = markets.filter(exchange=request.GET["exchange"])
        if query:
            markets = markets.filter(question__icontains=query)
        return TemplateResponse(request, "orders/trading/_market_options.html", {
            "markets": markets.order_by("question")[:MARKET_CHOICES], "selected": request.GET.get("market"),
        })

    def outcome_options_view(self, request):
        """htmx: the chosen market's outcomes as the outcome select's options."""
        require_permission(request, "orders.place_order")
        market = Market.objects.filter(pk=_int_param(request, "market")).first()
        return TemplateResponse(request, "orders/trading/_outcome_options.html", {
            "outcomes": market.outcome_names if market else [], "outcome": request.GET.get("outcome", ""),
        })

    def book_view(self, request):
        """htmx: the live order book beside the form (polled every second while the page is open),
        with the customer's position and balance. Read from Parsec through the gateway by the
        server: the browser holds no key; viewers of one book within a second share one read."""
        require_permission(request, "orders.place_order")
        market = Market.objects.filter(pk=_int_param(request, "market")).first()
        customer = Customer.objects.filter(pk=_int_param(request, "customer")).first()
        outcome = request.GET.get("outcome") or ""
        if market is not None and outcome not in market.outcome_names:
            outcome = market.outcome_names[0] if market.outcome_names else ""
        context = {"market": market, "customer": customer, "outcome": outcome, "refreshed_at": timezone.now()}
        if market is not None:
            context["book"], context["book_error"] = shared_order_book(market=market, outcome=outcome)
            if customer is not None:
                market_id = services.order_market_id(market)
                context["position"] = services.position_size(
                    customer=customer, exchange=market.exchange, market_native_id=market_id, outcome=outcome)
                context["balance"] = services.latest_balance(customer=customer, exchange=market.exchange)
                context["committed"] = services.committed_buy_usdc(customer=customer, exchange=market.exchange)
        return TemplateResponse(request, "orders/trading/_book.html", context)

    def confirm_view(self, request, key):
        intent = get_object_or_404(OrderIntent.objects.select_related("customer", "market", "approval"), key=key)
        require_permission(request, "orders.place_order")
        if request.method == "POST":
            action = request.POST.get("action")
            try:
                if action == "send":
                    result = services.submit_intent(intent=intent, actor=request.user)
                    level = messages.SUCCESS if result.intent.status == OrderIntent.Status.PLACED else (
                        messages.WARNING if result.intent.status in (OrderIntent.Status.UNKNOWN, OrderIntent.Status.SENDING)
                        or not result.sent else messages.ERROR)
                    messages.add_message(request, level, result.message)
                elif action == "submit_approval":
                    services.submit_for_approval(intent=intent, actor=request.user)
                    messages.success(request, "Sent to a second Operations user for approval.")
                elif action == "withdraw":
                    if services.withdraw_intent(intent=intent, actor=request.user, reason="Withdrawn by the operator"):
                        messages.info(request, "The order was withdrawn; nothing was sent.")
                    else:
                        messages.warning(request, "Too late to withdraw: the order was already submitted.")
                else:
                    return HttpResponseNotAllowed(["POST"])
            except DomainError as exc:
                messages.error(request, exc.message)
            return redirect("admin:orders_orderintent_detail", key=intent.key)
        if intent.status not in (OrderIntent.Status.NEW, OrderIntent.Status.AWAITING_APPROVAL) or intent.approval_id:
            return redirect("admin:orders_orderintent_detail", key=intent.key)
        return self.render_page(request, "orders/trading/confirm.html", {
            "intent": intent, "preview": services.preview_order(intent=intent),
        }, title="Confirm the order")

    def _intent_state(self, request, key) -> dict:
        intent = get_object_or_404(OrderIntent.objects.select_related("customer", "market", "order", "approval",
                                                                      "created_by", "sent_by"), key=key)
        if not request.user.has_perm("orders.view_orderintent"):
            raise PermissionDenied
        return {
            "intent": intent, "status_message": intent_status_message(intent), "state_label": intent_state_label(intent),
            "polling": intent.status in OrderIntent.UNRESOLVED_STATUSES,
            "send_failure": (intent.error_message or "").partition(". ")[0].rstrip(".") + ".",
            "can_reconcile": intent.status in OrderIntent.UNRESOLVED_STATUSES and request.user.has_perm("orders.reconcile_intent"),
            "can_send": intent.status == OrderIntent.Status.NEW and request.user.has_perm("orders.place_order"),
            "can_submit": (intent.status == OrderIntent.Status.AWAITING_APPROVAL and not intent.approval_id
                           and request.user.has_perm("orders.place_order")),
        }

    def detail_view(self, request, key):
        context = self._intent_state(request, key)
        return self.render_page(request, "orders/trading/intent_detail.html", context,
                                title=f"Order intent {str(context['intent'].key)[:8]}")

    def state_view(self, request, key):
        """htmx: the intent's state card, polled by its page while the outcome is unknown."""
        return TemplateResponse(request, "orders/trading/_intent_state.html", self._intent_state(request, key))

    def reconcile_view(self, request, key):
        intent = get_object_or_404(OrderIntent, key=key)
        require_permission(request, "orders.reconcile_intent")
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        intent = services.reconcile_intent(intent=intent, actor=request.user)
        messages.info(request, f"Reconciled: {intent_status_message(intent)}")
        return redirect("admin:orders_orderintent_detail", key=intent.key)

    # --- Cancelling ---------------------------------------------------------------------

    CANCEL_RESULTS_KEY = "orders.cancel_results"

    def cancel_view(self, request):
        """List the open orders a cancel touches (GET), cancel them (POST, a reason required),
        then redirect to the result (shown once from the session: a reload never re-posts)."""
        require_permission(request, "orders.cancel_order")
        if request.method == "GET" and request.GET.get("done"):
            results = request.session.pop(self.CANCEL_RESULTS_KEY, None)
            if results is None:
                messages.info(request, "That cancel's result was shown already; the orders list has where each order stands.")
                return redirect("admin:orders_order_changelist")
            return self.render_page(request, "orders/trading/cancel.html", {"results": results}, title="Cancel orders")
        source = request.POST if request.method == "POST" else request.GET
        data = {
            "customer": source.get("customer", ""), "orders": source.get("orders") or ",".join(source.getlist("order")),
            "exchange": source.get("exchange", ""), "market_native_id": source.get("market_native_id", ""),
            "reason": source.get("reason", ""), "confirmed": source.get("confirmed", ""),
        }
        form = CancelForm(data)
        targets = []
        if form.is_valid() or (request.method == "GET" and not form.errors.get("customer")):
            cleaned = form.cleaned_data if form.is_valid() else {**form.cleaned_data, "reason": ""}
            scope = {"customer": cleaned.get("customer"), "order_ids": cleaned.get("orders"),
                     "exchange": cleaned.get("exchange") or "", "market_native_id": cleaned.get("market_native_id") or ""}
            if request.method == "POST" and form.is_valid() and cleaned.get("confirmed"):
                results = services.cancel_orders(actor=request.user, reason=cleaned["reason"], **scope)
                request.session[self.CANCEL_RESULTS_KEY] = [{
                    "order": r.order.parsec_order_id, "customer": r.order.customer.external_id, "customer_pk": r.order.customer_id,
                    "market": r.order.market_title, "result": r.result, "message": r.message,
                } for r in results]
                return redirect(reverse("admin:orders_orderintent_cancel") + "?done=1")
            targets = list(services.orders_to_cancel(**scope))
        return self.render_page(request, "orders/trading/cancel.html", {
            "form": form, "targets": targets, "results": None, "data": data, "show_errors": request.method == "POST",
        }, title="Cancel orders")


ENGAGE_TARGETS_SHOWN = 50


@admin.register(KillSwitch)
class KillSwitchAdmin(TradingAdminMixin, ModelAdmin):
    list_display = ("engaged_at", "state_badge", "scope", "target", "reason_short", "engaged_by", "released_at", "released_by")
    list_display_links = ("engaged_at", "state_badge")
    list_filter = ("scope",)
    list_select_related = ("customer", "engaged_by", "released_by")
    actions_list = ("engage",)

    @display(description="State", label={"Engaged": "danger", "Released": "info"})
    def state_badge(self, obj: KillSwitch) -> str:
        return "Engaged" if obj.is_engaged else "Released"

    @display(description="Why")
    def reason_short(self, obj: KillSwitch) -> str:
        return format_html('<span title="{}">{}</span>', obj.reason, Truncator(obj.reason).chars(60))

    @display(description="Target")
    def target(self, obj: KillSwitch) -> str:
        if obj.customer_id:
            return format_html('<a href="{}">{}</a>', reverse("customer_360", args=[obj.customer_id]), obj.customer.external_id)
        if obj.market_native_id:
            return f"{obj.get_exchange_display()} {obj.market_native_id}"
        return "every customer"

    def has_manage_killswitch_permission(self, request, obj=None) -> bool:
        return request.user.has_perm("orders.manage_killswitch")

    @action(description="Engage a kill switch", icon="block", permissions=["manage_killswitch"])
    def engage(self, request):
        return redirect("admin:orders_killswitch_engage")

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("engage/", view(self.engage_view), name="orders_killswitch_engage"),
            path("<int:pk>/release/", view(self.release_view), name="orders_killswitch_release"),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        switch = get_object_or_404(KillSwitch.objects.select_related("customer", "engaged_by", "released_by"), pk=object_id)
        if not request.user.has_perm("orders.view_killswitch"):
            raise PermissionDenied
        release_event = None
        if not switch.is_engaged:
            from audit.models import AuditEvent

            release_event = (AuditEvent.objects.filter(action="killswitch.release", request__kill_switch=switch.pk)
                             .order_by("-seq").first())
        return self.render_page(request, "orders/trading/killswitch_detail.html", {
            "switch": switch, "form": ReasonForm(), "release_reason": getattr(release_event, "reason", ""),
            "can_release": switch.is_engaged and request.user.has_perm("orders.manage_killswitch"),
        }, title=str(switch))

    @staticmethod
    def _scope_kwargs(data: dict) -> dict:
        market = data.get("market")
        if data["scope"] == KillSwitch.Scope.CUSTOMER:
            return {"customer": data.get("customer")}
        if data["scope"] == KillSwitch.Scope.MARKET and market is not None:
            return {"exchange": market.exchange, "market_native_id": services.order_market_id(market)}
        return {}

    @staticmethod
    def _engaged_for(scope: str, kwargs: dict) -> KillSwitch | None:
        engaged = KillSwitch.objects.filter(scope=scope, released_at__isnull=True)
        if scope == KillSwitch.Scope.CUSTOMER:
            engaged = engaged.filter(customer=kwargs.get("customer"))
        elif scope == KillSwitch.Scope.MARKET:
            engaged = engaged.filter(exchange=kwargs.get("exchange"), market_native_id=kwargs.get("market_native_id"))
        return engaged.first()

    def engage_view(self, request):
        """Choose a scope (GET shows the form, prefilled from the query, without errors), review the
        open orders it will cancel (POST), confirm (POST with ``confirmed``): then the switch's page."""
        require_permission(request, "orders.manage_killswitch")
        if request.method == "POST":
            form = KillSwitchForm(request.POST)
        else:
            initial = {name: request.GET[name] for name in ("scope", "customer", "market") if request.GET.get(name)}
            if initial.get("customer", "").isdigit():
                found = Customer.objects.filter(pk=int(initial["customer"][:18])).first()
                initial["customer"] = found.external_id if found else initial["customer"]
            form = KillSwitchForm(initial={"scope": KillSwitch.Scope.BUILDER, **initial})
        targets, target_count, engaged = [], 0, None
        if form.is_bound and form.is_valid():
            data = form.cleaned_data
            scope = self._scope_kwargs(data)
            engaged = self._engaged_for(data["scope"], scope)
            if engaged is None and data.get("confirmed"):
                try:
                    switch, results = services.engage_kill_switch(scope=data["scope"], actor=request.user,
                                                                  reason=data["reason"], **scope)
                except DomainError as exc:
                    form.add_error(exc.field if exc.field in form.fields else None, exc.message)
                else:
                    queued = (switch.cancel_summary or {}).get("queued")
                    if queued == 0:
                        messages.success(request, "Kill switch engaged; placement is frozen. There were no open orders to cancel.")
                    elif queued is not None:
                        messages.success(request, f"Kill switch engaged; placement is frozen. {queued} open order"
                                                  f"{'s are' if queued != 1 else ' is'} being cancelled in the background.")
                    else:
                        cancelled = sum(r.result == "cancelled" for r in results)
                        messages.success(request, f"Kill switch engaged; placement is frozen. {cancelled} of {len(results)} "
                                                  "open orders cancelled.")
                    return redirect("admin:orders_killswitch_change", object_id=switch.pk)
            pending = services.orders_to_cancel(**scope)
            target_count = pending.count()
            targets = list(pending[:ENGAGE_TARGETS_SHOWN])
        market_value = form["market"].value() if form.is_bound else form.initial.get("market")
        market = Market.objects.filter(pk=int(market_value)).first() if str(market_value or "").isdigit() else None
        return self.render_page(request, "orders/trading/killswitch_engage.html", {
            "form": form, "targets": targets, "target_count": target_count, "engaged": engaged, "market": market,
            "confirming": form.is_bound and form.is_valid() and engaged is None,
        }, title="Engage a kill switch")

    def release_view(self, request, pk):
        require_permission(request, "orders.manage_killswitch")
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        switch = get_object_or_404(KillSwitch, pk=pk)
        form = ReasonForm(request.POST)
        reason = form.cleaned_data["reason"].strip() if form.is_valid() else ""
        if not reason:
            messages.error(request, "Say why the kill switch is released.")
            return redirect("admin:orders_killswitch_change", object_id=pk)
        try:
            services.release_kill_switch(switch=switch, actor=request.user, reason=reason)
            messages.success(request, "Kill switch released; trading in its scope is allowed again.")
        except DomainError as exc:
            messages.error(request, exc.message)
        return redirect("admin:orders_killswitch_change", object_id=pk)
