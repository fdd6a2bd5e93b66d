"""The operations dashboard (the admin's index page) and its self-refreshing sections.

Every figure is an aggregate query (``aggregate``/``annotate``, ``TruncDate``); Python only
lays the results out. The sections that call Parsec (connectivity, the QPS pool) cache their
answer for DASHBOARD_PING_CACHE_SECONDS and load after the page, so a slow Parsec never slows
the page. Each section is also served alone for htmx to refresh it in place.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import lru_cache

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, DecimalField, ExpressionWrapper, F, Max, OuterRef, Q, Subquery, Sum
from django.db.models.functions import TruncDate
from django.http import Http404
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from approvals.selectors import waiting_count, waiting_for
from audit.models import AuditEvent
from backoffice.models import SchedulerHeartbeat
from compliance.models import Alert
from core.money import usdc_from_base_units
from customers.enums import Exchange
from customers.models import Customer
from orders.models import FeeEscrowRecord, Fill, Order, OrderIntent
from parsec.models import OutboundCall
from sync.models import SyncRun

logger = logging.getLogger(__name__)

DEC = DecimalField(max_digits=32, decimal_places=16)
NOTIONAL = ExpressionWrapper(F("price") * F("size"), output_field=DEC)
OPEN_NOTIONAL = ExpressionWrapper(F("price") * (F("size") - F("filled")), output_field=DEC)
EXCHANGE_COLOURS = {"polymarket": "#7c3aed", "kalshi": "#0ea5e9"}
STATUS_COLOURS = {
    "pending": "#a3a3a3", "open": "#0ea5e9", "partially_filled": "#6366f1", "filled": "#16a34a",
    "cancelled": "#f59e0b", "rejected": "#dc2626", "unknown": "#78716c",
}
ESCROW_COLOURS = {"authorised": "#a3a3a3", "pulled": "#0ea5e9", "distributed": "#16a34a",
                  "partially_distributed": "#6366f1", "refunded": "#f59e0b"}
CENT = Decimal("0.01")


def _money(value) -> Decimal:
    return Decimal(value or 0).quantize(CENT)


def _exchange_label(code: str) -> str:
    return dict(Exchange.choices).get(code, code)


# --- Parsec-facing: connectivity and the pool (cached) -----------------------------------------


def _cached(key: str, compute):
    hit = cache.get(key)
    if hit is not None:
        return hit
    value = compute()
    cache.set(key, value, settings.DASHBOARD_PING_CACHE_SECONDS)
    return value


def connectivity() -> dict:
    def compute():
        from parsec.client import get_client

        started = time.monotonic()
        try:
            results = get_client().ping(customer_id=None)
        except Exception as exc:
            return {"ok": False, "error": str(exc)[:300], "exchanges": [], "checked_at": timezone.now()}
        latency = int((time.monotonic() - started) * 1000)
        return {"ok": True, "latency_ms": latency, "checked_at": timezone.now(),
                "without_builder_credentials": any(not r.has_credentials and not r.authenticated for r in results), "exchanges": [
            {"exchange": r.exchange, "label": _exchange_label(r.exchange), "authenticated": r.authenticated,
             "has_credentials": r.has_credentials, "message": r.message} for r in results
        ]}
    return _cached(f"dashboard:ping:{settings.PARSEC_API_BASE_URL}", compute)


def pool() -> dict:
    def compute():
        from parsec.client import get_client

        try:
            status = get_client().get_pool()
        except Exception as exc:
            return {"ok": False, "error": str(exc)[:300]}
        share = (status.total_allocated_qps / status.qps_pool * 100) if status.qps_pool else 0
        return {"ok": True, "qps_pool": status.qps_pool, "allocated": status.total_allocated_qps,
                "end_users": status.end_user_count, "percent": min(100, round(share)), "over": share > 100}
    return _cached(f"dashboard:pool:{settings.PARSEC_API_BASE_URL}", compute)


def rate_limits(now) -> dict:
    calls = OutboundCall.objects.filter(created_at__gte=now - timedelta(hours=24))
    figures = calls.aggregate(
        last_hour=Count("id", filter=Q(status_code=429, created_at__gte=now - timedelta(hours=1))),
        last_day=Count("id", filter=Q(status_code=429)),
    )
    recent = list(OutboundCall.objects.filter(status_code=429).order_by("-created_at")[:5])
    return {**figures, "recent": recent}


# --- Mirror-facing sections ----------------------------------------------------------------


def sync_health(now) -> dict:
    stale_after = timedelta(seconds=settings.DASHBOARD_SYNC_STALE_SECONDS)
    last_ok = dict(SyncRun.objects.filter(status=SyncRun.Status.SUCCEEDED).values("kind")
                   .annotate(last=Max("finished_at")).values_list("kind", "last"))
    kinds = []
    for kind in (SyncRun.Kind.USERS, SyncRun.Kind.CUSTOMER_FULL, SyncRun.Kind.MARKETS):
        last = last_ok.get(kind)
        lag = (now - last) if last else None
        kinds.append({"kind": kind, "label": SyncRun.Kind(kind).label, "last": last,
                      "lag_seconds": int(lag.total_seconds()) if lag else None,
                      "stale": lag is None or lag > stale_after})
    latest_status = Subquery(SyncRun.objects.filter(customer=OuterRef("pk"), kind=SyncRun.Kind.CUSTOMER_FULL)
                             .exclude(status=SyncRun.Status.RUNNING).order_by("-started_at").values("status")[:1])
    failing = (Customer.objects.filter(status=Customer.Status.ACTIVE, last_synced_at__gte=now - timedelta(days=7))
               .annotate(last_status=latest_status)
               .filter(last_status__in=[SyncRun.Status.FAILED, SyncRun.Status.PARTIAL]))
    running = SyncRun.objects.filter(status=SyncRun.Status.RUNNING).count()
    beat_at = SchedulerHeartbeat.objects.filter(name="beat").values_list("beat_at", flat=True).first()
    scheduler = {"beat_at": beat_at, "late": beat_at is None or (now - beat_at).total_seconds() > settings.SCHEDULER_LATE_SECONDS,
                 "late_after_seconds": settings.SCHEDULER_LATE_SECONDS}
    failing_count = failing.count()
    stale = any(k["stale"] for k in kinds)
    # One word for the card's badge: the worst of what the card shows.
    state = "late" if scheduler["late"] else "stale" if stale else "failing" if failing_count else "fresh"
    return {"scheduler": scheduler, "kinds": kinds, "stale": stale, "failing_count": failing_count, "state": state,
            "failing": list(failing.order_by("external_id")[:5]), "running": running,
            "stale_after_minutes": int(stale_after.total_seconds() // 60)}


@lru_cache(maxsize=8)
def fill_days(now) -> tuple[dict, ...]:
    """Fills, volume and fees per UTC day and exchange over the last 30 days (today included):
    one scan of the fills that both the trading figures and the charts read."""
    start = datetime.combine(now.date() - timedelta(days=29), datetime.min.time(), tzinfo=UTC)
    rows = (Fill.objects.filter(created_at__gte=start).annotate(day=TruncDate("created_at"))
            .values("day", "exchange").annotate(fills=Count("id"), volume=Sum(NOTIONAL), fees=Sum("fee")).order_by("day"))
    return tuple({**row, "volume": row["volume"] or Decimal("0"), "fees": row["fees"] or Decimal("0")} for row in rows)


def trading(now) -> dict:
    open_orders = list(Order.objects.filter(status__in=Order.CANCELLABLE_STATUSES).values("exchange")
                       .annotate(count=Count("id"), notional=Sum(OPEN_NOTIONAL)).order_by("exchange"))
    for row in open_orders:
        row["label"], row["notional"] = _exchange_label(row["exchange"]), _money(row["notional"])
    days = fill_days(now)
    today = now.date()
    fills = {
        "fills_today": sum(r["fills"] for r in days if r["day"] == today), "fills_30d": sum(r["fills"] for r in days),
        "volume_today": _money(sum((r["volume"] for r in days if r["day"] == today), Decimal("0"))),
        "fees_today": _money(sum((r["fees"] for r in days if r["day"] == today), Decimal("0"))),
        "volume_30d": _money(sum((r["volume"] for r in days), Decimal("0"))),
        "fees_30d": _money(sum((r["fees"] for r in days), Decimal("0"))),
    }
    attention = OrderIntent.objects.filter(status__in=[*OrderIntent.UNRESOLVED_STATUSES, OrderIntent.Status.NEEDS_REVIEW])
    unresolved = list(attention.select_related("customer").order_by("created_at")[:5])
    unresolved_count = attention.count()
    return {"open_orders": open_orders, "open_total": sum(r["count"] for r in open_orders),
            "open_notional": sum((r["notional"] for r in open_orders), Decimal("0")), **fills,
            "unresolved": unresolved, "unresolved_count": unresolved_count}


def _escrow_rows(now) -> list[dict]:
    """Escrow records grouped by state and verdict, with their counts and sums: one query."""
    amounts = ("fee_base_units", "affiliate_base_units", "treasury_base_units", "refund_base_units")
    stuck = Q(reconciliation=FeeEscrowRecord.Reconciliation.STUCK) | Q(
        state=FeeEscrowRecord.State.PULLED, order__status=Order.Status.PENDING,
        pulled_at__lt=now - timedelta(seconds=settings.ESCROW_STUCK_SECONDS))
    return list(FeeEscrowRecord.objects.values("state", "reconciliation").annotate(
        count=Count("pk"), stuck=Count("pk", filter=stuck), flagged=Count("pk", filter=~Q(discrepancy="")),
        **{f"sum_{n}": Sum(n) for n in amounts},
    ).order_by("state", "reconciliation"))


def _escrow_by_state(rows: list[dict]) -> list[dict]:
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["state"]] = counts.get(row["state"], 0) + row["count"]
    return [{"state": state, "count": n} for state, n in counts.items()]


def escrow(now) -> dict:
    """Escrow totals by state and what the chain said of them (orders.FeeEscrowRecord), from the
    database only: the chain is read by the follower, whose health is shown (and its last known
    state with its age when it cannot be reached). Stuck = a fee the chain still holds 10 minutes
    on when it should be settled (or, not yet checked, held for an order pending that long);
    flagged = differs from the escrow, by kind. Two queries."""
    from orders.escrow_events import chain_health

    amounts = ("fee_base_units", "affiliate_base_units", "treasury_base_units", "refund_base_units")
    rows = _escrow_rows(now)
    totals = {n: sum(int(r[f"sum_{n}"] or 0) for r in rows) for n in amounts}
    labels = dict(FeeEscrowRecord.Reconciliation.choices)
    flagged: dict[str, int] = {}
    for row in rows:
        if row["flagged"]:
            flagged[row["reconciliation"]] = flagged.get(row["reconciliation"], 0) + row["flagged"]
    return {"available": True, "by_state": _escrow_by_state(rows),
            "totals_usdc": {n: usdc_from_base_units(v) for n, v in totals.items()},
            "stuck": sum(r["stuck"] for r in rows), "flagged": sum(flagged.values()),
            "pending": sum(r["count"] for r in rows if r["reconciliation"] == FeeEscrowRecord.Reconciliation.PENDING),
            "alerts": [{"kind": kind, "label": labels.get(kind, kind), "count": n} for kind, n in sorted(flagged.items())],
            "chain": chain_health(now), "stuck_minutes": settings.ESCROW_STUCK_SECONDS // 60}


def compliance_summary(now) -> dict:
    open_alerts = Alert.objects.filter(status__in=Alert.OPEN_STATUSES)
    by_severity = dict(open_alerts.values("severity").annotate(n=Count("id")).values_list("severity", "n"))
    return {
        "open_alerts": sum(by_severity.values()), "by_severity": by_severity,
        "latest_alerts": list(open_alerts.select_related("customer").order_by("-raised_at")[:5]),
        "actions": list(AuditEvent.objects.order_by("-seq")[:8]),
    }


def approvals_for(request) -> dict:
    if not request.user.has_perm("approvals.approve_request"):
        return {"approver": False}
    count = waiting_count(request)
    waiting = list(waiting_for(request.user).select_related("customer", "requested_by")
                   .prefetch_related("order_intents__market").order_by("requested_at")[:5]) if count else []
    return {"approver": True, "count": count, "waiting": waiting}


# --- Charts (inline SVG laid out here; no script, no CDN) ----------------------------------


def _bar_chart(days, series: dict[str, dict], *, height=140, width=560) -> dict:
    """Stacked bars per day; ``series`` = {exchange: {day: value}}."""
    totals = [sum(values.get(day, 0) for values in series.values()) for day in days]
    peak = max(totals) if totals and max(totals) > 0 else Decimal(1)
    step = width / max(len(days), 1)
    bars = []
    for i, day in enumerate(days):
        y = height
        for exchange, values in series.items():
            value = values.get(day, 0)
            if not value:
                continue
            h = float(value) / float(peak) * (height - 10)
            y -= h
            bars.append({"x": round(i * step + 1, 1), "y": round(y, 1), "w": round(max(step - 2, 1), 1), "h": round(h, 1),
                         "colour": EXCHANGE_COLOURS.get(exchange, "#737373"),
                         "title": f"{day:%d %b} {_exchange_label(exchange)}: {_money(value)}"})
    labels = [{"x": round(i * step + step / 2, 1), "text": f"{day:%d %b}"} for i, day in enumerate(days) if i % 7 == 0]
    return {"bars": bars, "labels": labels, "peak": _money(peak), "height": height, "width": width,
            "legend": [{"label": _exchange_label(e), "colour": EXCHANGE_COLOURS.get(e, "#737373")} for e in series]}


def _share_bar(rows: list[tuple[str, int]], colours: dict[str, str], width=560) -> dict:
    total = sum(n for _, n in rows) or 1
    x, parts = 0.0, []
    for name, n in rows:
        w = n / total * width
        parts.append({"x": round(x, 1), "w": round(w, 1), "colour": colours.get(name, "#737373"),
                      "label": name.replace("_", " "), "count": n, "percent": round(n / total * 100)})
        x += w
    return {"parts": parts, "width": width, "total": sum(n for _, n in rows)}


def charts(now) -> dict:
    start = (now - timedelta(days=29)).date()
    days = [start + timedelta(days=i) for i in range(30)]
    volume, fees = defaultdict(dict), defaultdict(dict)
    for row in fill_days(now):
        volume[row["exchange"]][row["day"]] = row["volume"]
        fees[row["exchange"]][row["day"]] = row["fees"]
    # A week, not a month: the mix reads every order in the window (the month is the slowest figure).
    week = now - timedelta(days=7)
    status_rows = list(Order.objects.filter(created_at__gte=week).values("status").annotate(n=Count("id"))
                       .order_by("-n").values_list("status", "n"))
    escrow_rows = [(r["state"], r["count"]) for r in _escrow_by_state(_escrow_rows(now))]
    return {"volume": _bar_chart(days, dict(volume)), "fees": _bar_chart(days, dict(fees)),
            "status_mix": _share_bar(status_rows, STATUS_COLOURS),
            "escrow_mix": _share_bar(escrow_rows, ESCROW_COLOURS) if escrow_rows else None}


# --- Wiring ----------------------------------------------------------------------------------

SECTIONS = {
    "parsec": ("admin/dashboard/_parsec.html", lambda now: {"connectivity": connectivity(), "pool": pool(),
                                                            "rate_limits": rate_limits(now)}),
    "sync": ("admin/dashboard/_sync.html", lambda now: {"sync": sync_health(now)}),
    "trading": ("admin/dashboard/_trading.html", lambda now: {"trading": trading(now)}),
    "escrow": ("admin/dashboard/_escrow.html", lambda now: {"escrow": escrow(now)}),
    "compliance": ("admin/dashboard/_compliance.html", lambda now: {"compliance": compliance_summary(now)}),
    "charts": ("admin/dashboard/_charts.html", lambda now: {"charts": charts(now)}),
}
# Sections that depend on who is looking (compute(now, request)).
USER_SECTIONS = {
    "approvals": ("admin/dashboard/_approvals.html", lambda now, request: {"approvals": approvals_for(request)}),
}
# Rendered inside the page; "parsec" waits for htmx so the page never waits on the network.
INLINE_SECTIONS = ("sync", "trading", "escrow", "compliance", "charts")


def dashboard_callback(request, context: dict) -> dict:
    now = timezone.now()
    sections = {}
    for name in INLINE_SECTIONS:
        template, compute = SECTIONS[name]
        sections[name] = {"template": template, "url": reverse("dashboard_section", args=[name]), **compute(now)}
    for name, (template, compute) in USER_SECTIONS.items():
        sections[name] = {"template": template, "url": reverse("dashboard_section", args=[name]), **compute(now, request)}
    context.update({
        "dashboard": sections, "dashboard_now": now, "refresh_seconds": settings.DASHBOARD_REFRESH_SECONDS,
        "parsec_section_url": reverse("dashboard_section", args=["parsec"]),
        "customer_search_url": reverse("customer_360_search"),
    })
    return context


def section_view(request, section: str):
    """One section alone, for htmx to swap in (behind the admin's own login and permission).

    Each answer also carries the page's "Figures as of" line out of band, so the time the header
    shows is the time of the figures last swapped in."""
    now = timezone.now()
    if section in SECTIONS:
        template, compute = SECTIONS[section]
        figures = compute(now)
    elif section in USER_SECTIONS:
        template, compute = USER_SECTIONS[section]
        figures = compute(now, request)
    else:
        raise Http404("No such dashboard section.")
    context = {"url": reverse("dashboard_section", args=[section]), "refresh_seconds": settings.DASHBOARD_REFRESH_SECONDS,
               "dashboard_now": now, **figures}
    response = TemplateResponse(request, template, context).render()
    as_of = render_to_string("admin/dashboard/_as_of.html", {"dashboard_now": now, "refresh_seconds": settings.DASHBOARD_REFRESH_SECONDS,
                                                              "out_of_band": True}, request=request)
    response.content += as_of.encode()
    return response
