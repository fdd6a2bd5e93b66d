"""Customer 360: one page with everything about one end-user, and the search that finds them.

Read-only: the buttons on it (place an order, cancel one) lead to the trading pages, which
check their own permissions. The end-user's Parsec API key is never here: only its last four.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from compliance.exports import day_range, escrow_rows
from compliance.models import Alert, Review
from core import formatting
from core.money import usdc_from_base_units
from customers import filters as customer_filters
from customers.models import BalanceSnapshot, Customer
from customers.selectors import latest_balances
from orders.models import Fill, KillSwitch, Order, Position, Settlement
from orders.pnl import customer_pnl, totals


def _size(value: Decimal) -> str:
    return formatting.size(value)


def _price(leg) -> str:
    """A leg's price at its market's tick (when the catalogue knows the market)."""
    market = leg.market if leg.market_id else None
    return formatting.price(leg.price, market.tick_size if market else None)


TIMELINE_KINDS = {
    "order": "Orders", "fill": "Fills", "cancel": "Cancels", "settlement": "Settlements", "escrow": "Escrow", "balance": "Balance changes",
    "action": "Operator actions", "alert": "Alerts", "review": "Review notes",
}
PER_SOURCE = 100
TIMELINE_PAGE = 50


class TimelineFilter(forms.Form):
    start = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    kind = forms.MultipleChoiceField(choices=list(TIMELINE_KINDS.items()), required=False)
    before = forms.DateTimeField(required=False, widget=forms.HiddenInput)  # the page: entries older than this

    def clean(self):
        data = super().clean()
        if data.get("start") and data.get("end") and data["end"] < data["start"]:
            raise forms.ValidationError("The end date is before the start date.")
        return data


@dataclass
class TimelineEntry:
    at: datetime
    kind: str
    title: str
    detail: str = ""
    link: str = ""

    @property
    def kind_label(self) -> str:
        return TIMELINE_KINDS[self.kind]


def _require_view(request) -> None:
    if not request.user.has_perm("customers.view_customer"):
        raise PermissionDenied


def timeline(*, customer: Customer, start: date | None, end: date | None, kinds: list[str] | None,
             before: datetime | None = None, limit: int = PER_SOURCE * 2) -> list[TimelineEntry]:
    """One page of the timeline: the ``limit`` newest entries of every source in the range (and
    before ``before``, the previous page's oldest entry), merged newest first. Each source reads at
    most ``limit`` rows, so a page costs the same however long the history."""
    today = timezone.now().date()
    since, until = day_range(start or date(2000, 1, 1), end or today + timedelta(days=1))
    if before is not None:
        until = min(until, before)
    wanted = set(kinds or TIMELINE_KINDS)
    entries: list[TimelineEntry] = []

    def newest(qs, field):
        return qs.filter(**{f"{field}__gte": since, f"{field}__lt": until}).order_by(f"-{field}")[:limit]

    if "order" in wanted:
        for o in newest(Order.objects.filter(customer=customer).select_related("placed_by_user", "market"), "created_at"):
            who = f" by {o.placed_by_user.get_username()}" if o.placed_by_user_id else ""
            entries.append(TimelineEntry(o.created_at, "order", f"{o.side} {_size(o.size)} {o.outcome} @ {_price(o)}",
                                         f"{o.market_title[:90]} · {o.get_exchange_display()} · now {o.get_status_display()}{who}"))
    if "cancel" in wanted:
        cancelled = Order.objects.filter(customer=customer, status=Order.Status.CANCELLED).exclude(updated_at=None)
        for o in newest(cancelled.select_related("market"), "updated_at"):
            entries.append(TimelineEntry(o.updated_at, "cancel", f"Cancelled {o.side} {_size(o.size)} {o.outcome} @ {_price(o)}",
                                         f"{_size(o.filled)} of {_size(o.size)} filled · {o.parsec_order_id}"))
    if "fill" in wanted:
        for f in newest(Fill.objects.filter(customer=customer).select_related("market"), "created_at"):
            entries.append(TimelineEntry(f.created_at, "fill", f"Filled {f.side} {_size(f.size)} {f.outcome} @ {_price(f)}",
                                         f"{'taker' if f.is_taker else 'maker'} · fee {formatting.usdc(f.fee, places=6)} USDC"
                                         f" · order {f.parsec_order_id}"))
    if "settlement" in wanted:
        for st in newest(Settlement.objects.filter(customer=customer).select_related("market"), "settled_at"):
            entries.append(TimelineEntry(
                st.settled_at, "settlement",
                f"{st.get_result_display()}: {formatting.size(st.size)} {st.outcome} settled at {formatting.price(st.payout_per_share, '0.000001')}, "
                f"paid {formatting.usdc(st.amount_usdc)} USDC",
                f"{st.market.question[:90]} · {st.get_exchange_display()} · market {st.get_kind_display().lower()}"
                + (f" ({st.void_rule} rule)" if st.void_rule else "") + f" · inferred from {st.get_basis_display().lower()}",
                link=reverse("admin:orders_market_change", args=[st.market_id])))
    if "balance" in wanted:
        snapshots = list(BalanceSnapshot.objects.filter(customer=customer, taken_at__lt=until).order_by("-taken_at", "-id")[:limit * 3])
        snapshots.reverse()
        previous: dict[str, int] = {}
        for snap in snapshots:
            before = previous.get(snap.exchange)
            previous[snap.exchange] = snap.usdc_base_units
            if before is not None and before != snap.usdc_base_units and snap.taken_at >= since:
                delta = usdc_from_base_units(snap.usdc_base_units - before)
                entries.append(TimelineEntry(snap.taken_at, "balance",
                                             f"{snap.get_exchange_display()} balance {formatting.usdc(snap.usdc)} USDC",
                                             f"{formatting.signed_usdc(delta)} USDC"))
    if "escrow" in wanted:
        records, stamp = escrow_rows(customer, since, until)
        if records is not None and stamp:
            for record in records.filter(**{f"{stamp}__lt": until}).order_by(f"-{stamp}")[:limit]:
                usdc = {name: formatting.usdc_base_units(getattr(record, f"{name}_base_units"), places=6)
                        for name in ("fee", "affiliate", "treasury", "refund")}
                detail = (f"fee {usdc['fee']} USDC · affiliate {usdc['affiliate']} · treasury {usdc['treasury']} · "
                          f"refunded {usdc['refund']}" + (" · differs from the escrow" if record.discrepancy else ""))
                entries.append(TimelineEntry(getattr(record, stamp), "escrow",
                                             f"Fee escrow {record.get_state_display().lower()}", detail,
                                             link=f"/admin/orders/feeescrowrecord/{record.pk}/change/"))
    if "action" in wanted:
        events = AuditEvent.objects.filter(customer_ref=str(customer.parsec_customer_id))
        for e in newest(events, "at"):
            entries.append(TimelineEntry(e.at, "action", f"{e.action} by {e.actor_name} ({e.outcome})", e.reason[:200]))
    if "alert" in wanted:
        for a in newest(Alert.objects.filter(customer=customer), "raised_at"):
            entries.append(TimelineEntry(a.raised_at, "alert", a.title, f"{a.get_rule_display()} · {a.get_status_display()}",
                                         link=f"/admin/compliance/alert/{a.pk}/change/"))
    if "review" in wanted:
        for r in newest(Review.objects.filter(alert__customer=customer).select_related("reviewer"), "reviewed_at"):
            entries.append(TimelineEntry(r.reviewed_at, "review", f"{r.get_disposition_display()} by {r.reviewer.get_username()}",
                                         r.note[:300], link=f"/admin/compliance/alert/{r.alert_id}/change/"))
    entries.sort(key=lambda entry: entry.at, reverse=True)
    return entries[:limit]


def customer_360(request, pk: int):
    _require_view(request)
    customer = get_object_or_404(Customer.objects.prefetch_related("wallets", "exchange_links"), pk=pk)
    filters = TimelineFilter(request.GET or None)
    start = end = kinds = before = None
    if filters.is_bound and filters.is_valid():
        start, end, kinds = filters.cleaned_data["start"], filters.cleaned_data["end"], filters.cleaned_data["kind"]
        before = filters.cleaned_data["before"]
    entries = timeline(customer=customer, start=start, end=end, kinds=kinds, before=before, limit=TIMELINE_PAGE + 1)
    older = None
    if len(entries) > TIMELINE_PAGE:
        entries = entries[:TIMELINE_PAGE]
        query = request.GET.copy()
        query["before"] = entries[-1].at.isoformat()
        older = "?" + query.urlencode() + "#timeline"
    pnl = customer_pnl(customer=customer)
    exchanges = sorted({link.exchange for link in customer.exchange_links.all()} | {line.exchange for line in pnl})
    balances = {snap.exchange: snap for snap in latest_balances(customer=customer)}
    positions = Position.objects.filter(customer=customer, is_open=True).select_related("market")
    settled = list(Settlement.objects.filter(customer=customer).select_related("market").order_by("-settled_at", "-id")[:100])
    realised_by_holding = {(line.exchange, line.market_native_id, line.outcome): line.realised for line in pnl}
    for settlement in settled:
        settlement.line_realised = realised_by_holding.get((settlement.exchange, settlement.market_native_id, settlement.outcome))
    per_exchange = []
    for exchange in sorted(set(exchanges) | set(balances)):
        lines = [line for line in pnl if line.exchange == exchange]
        figures = totals(lines)
        per_exchange.append({
            "exchange": exchange, "balance": balances.get(exchange),
            "positions": [p for p in positions if p.exchange == exchange], "pnl": lines,
            "settlements": [s for s in settled if s.exchange == exchange],
            "realised": usdc_from_base_units(figures["realised_units"]), "fees": usdc_from_base_units(figures["fees_units"]),
            "net": usdc_from_base_units(figures["net_units"]),
            "unrealised": sum((line.unrealised or Decimal("0") for line in lines), Decimal("0")),
        })
    context = {
        **admin.site.each_context(request), "title": f"Customer 360 · {customer.external_id}", "customer": customer,
        "per_exchange": per_exchange, "filters": filters,
        "open_orders": Order.objects.filter(customer=customer, status__in=Order.CANCELLABLE_STATUSES).select_related("market").order_by("-created_at")[:100],
        "timeline": entries, "timeline_older": older, "timeline_newest": bool(before),
        "open_alerts": Alert.objects.filter(customer=customer, status__in=Alert.OPEN_STATUSES).count(),
        "freeze": KillSwitch.objects.filter(Q(scope=KillSwitch.Scope.BUILDER) | Q(scope=KillSwitch.Scope.CUSTOMER, customer=customer),
                                            released_at__isnull=True).order_by("scope").first(),
        "can_trade": request.user.has_perm("orders.place_order"),
        "can_cancel": request.user.has_perm("orders.cancel_order"),
        "can_sync": request.user.has_perm("customers.sync_customer"),
        "can_export": request.user.has_perm("compliance.export_activity"),
        "kinds": TIMELINE_KINDS, "selected_kinds": set(kinds or ()),
    }
    return TemplateResponse(request, "backoffice/customer_360.html", context)


def customer_search(request):
    """Find a customer by id, Parsec id or external id (``customer_match``, which opens it even when
    the digits also occur in other ids), else by any part of an external id or email
    (``customer_search``); one match opens its page."""
    _require_view(request)
    query = request.GET.get("q", "").strip()
    results = []
    if query:
        exact = list(Customer.objects.filter(customer_filters.customer_match(query))[:2])
        results = exact if len(exact) == 1 else list(
            Customer.objects.filter(customer_filters.customer_search(query)).order_by("external_id")[:50])
        if len(results) == 1:
            return redirect("customer_360", pk=results[0].pk)
    return TemplateResponse(request, "backoffice/customer_search.html", {
        **admin.site.each_context(request), "title": "Find a customer", "query": query, "results": results,
    })
