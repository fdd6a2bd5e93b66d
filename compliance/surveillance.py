"""Surveillance rules for prediction-market trading, run after each sync (and on a schedule).

Each rule reads the mirror with aggregate queries over a recent window and returns hits; a
hit becomes an ``Alert`` whose ``dedup_key`` names what was seen (rule + customer + the
evidence's identity, or a time bucket for rules measured over a window), so running the rules
again after every sync raises nothing twice. Thresholds are settings (``SURV_*``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import Avg, Count, DecimalField, Exists, ExpressionWrapper, F, OuterRef, Q, Sum
from django.utils import timezone

from compliance.models import Alert
from customers.models import Wallet
from orders.models import Fill, Order, Position

NOTIONAL = ExpressionWrapper(F("price") * F("size"), output_field=DecimalField(max_digits=32, decimal_places=16))
EXPOSURE = ExpressionWrapper(F("size") * F("average_price"), output_field=DecimalField(max_digits=32, decimal_places=16))
CENT = Decimal("0.01")


def _n(value: Decimal) -> str:
    """A quantity or price without trailing zeros or exponent: 10, 0.31, 2.5."""
    return format(value.normalize(), "f")


@dataclass
class Hit:
    rule: str
    customer_id: int
    dedup_key: str
    title: str
    severity: str = Alert.Severity.MEDIUM
    detail: str = ""
    evidence: list[dict] = field(default_factory=list)
    figures: dict = field(default_factory=dict)


@dataclass
class SurveillanceResult:
    hits: int = 0
    raised: int = 0
    per_rule: dict[str, int] = field(default_factory=dict)


def _usdc(value) -> str:
    return str(Decimal(value or 0).quantize(CENT))


def _order_ref(order: Order) -> dict:
    return {"type": "order", "id": order.pk, "label": f"{order.side} {_n(order.size)} {order.outcome} @ "
            f"{_n(order.price)} ({order.parsec_order_id})"}


def _scope(qs, customer_ids: Iterable[int] | None):
    return qs if customer_ids is None else qs.filter(customer_id__in=list(customer_ids))


# --- The rules ------------------------------------------------------------------------------


def large_notional(*, now: datetime, customer_ids=None) -> list[Hit]:
    """An order whose notional is a multiple of the customer's average over their history."""
    since = now - timedelta(hours=settings.SURV_WINDOW_HOURS)
    history_start = now - timedelta(days=settings.SURV_LARGE_NOTIONAL_HISTORY_DAYS)
    history = {
        row["customer_id"]: row
        for row in _scope(Order.objects.filter(created_at__gte=history_start, created_at__lt=since), customer_ids)
        .values("customer_id").annotate(avg=Avg(NOTIONAL), n=Count("id"))
    }
    recent = (_scope(Order.objects.filter(created_at__gte=since, created_at__lte=now), customer_ids)
              .annotate(value_usdc=NOTIONAL).filter(value_usdc__gte=settings.SURV_LARGE_NOTIONAL_MIN_USDC))
    hits = []
    multiple = Decimal(str(settings.SURV_LARGE_NOTIONAL_MULTIPLE))
    for order in recent.only("id", "customer_id", "side", "size", "outcome", "price", "parsec_order_id"):
        past = history.get(order.customer_id)
        enough = past is not None and past["n"] >= settings.SURV_LARGE_NOTIONAL_MIN_HISTORY
        if enough:
            baseline = Decimal(past["avg"])
            if order.value_usdc < baseline * multiple:
                continue
            why = f"{_usdc(order.value_usdc)} USDC is {(order.value_usdc / baseline).quantize(Decimal('0.1'))}× the average of {past['n']} orders"
        else:
            if order.value_usdc < settings.SURV_LARGE_NOTIONAL_NO_HISTORY_USDC:
                continue
            baseline = None
            why = f"{_usdc(order.value_usdc)} USDC with too little history for a baseline"
        hits.append(Hit(
            rule=Alert.Rule.LARGE_NOTIONAL, customer_id=order.customer_id, dedup_key=f"large_notional:order:{order.pk}",
            title=f"Large order: {why}", severity=Alert.Severity.HIGH if not enough else Alert.Severity.MEDIUM,
            evidence=[_order_ref(order)],
            figures={"notional_usdc": _usdc(order.value_usdc), "baseline_usdc": _usdc(baseline) if baseline else None,
                     "history_orders": past["n"] if past else 0, "multiple": str(multiple),
                     "min_usdc": str(settings.SURV_LARGE_NOTIONAL_MIN_USDC)},
        ))
    return hits


def pre_resolution(*, now: datetime, customer_ids=None) -> list[Hit]:
    """An order placed within SURV_PRE_RESOLUTION_HOURS before its market's end date."""
    since = now - timedelta(hours=settings.SURV_WINDOW_HOURS)
    window = timedelta(hours=settings.SURV_PRE_RESOLUTION_HOURS)
    orders = (
        _scope(Order.objects.filter(created_at__gte=since, market__end_date__isnull=False), customer_ids)
        .filter(created_at__gte=F("market__end_date") - window, created_at__lte=F("market__end_date"))
        .annotate(value_usdc=NOTIONAL).filter(value_usdc__gte=settings.SURV_PRE_RESOLUTION_MIN_USDC)
        .select_related("market")
    )
    hits = []
    for order in orders:
        minutes = int((order.market.end_date - order.created_at).total_seconds() // 60)
        hits.append(Hit(
            rule=Alert.Rule.PRE_RESOLUTION, customer_id=order.customer_id, dedup_key=f"pre_resolution:order:{order.pk}",
            title=f"{_usdc(order.value_usdc)} USDC placed {minutes} min before “{order.market.question[:120]}” resolves",
            severity=Alert.Severity.HIGH,
            evidence=[_order_ref(order), {"type": "market", "id": order.market_id, "label": order.market.question[:200]}],
            figures={"minutes_before_end": minutes, "notional_usdc": _usdc(order.value_usdc),
                     "window_hours": settings.SURV_PRE_RESOLUTION_HOURS},
        ))
    return hits


def cancel_ratio(*, now: datetime, customer_ids=None) -> list[Hit]:
    """Many orders, most of them cancelled, within the window (layering / spoofing)."""
    since = now - timedelta(hours=settings.SURV_WINDOW_HOURS)
    rows = (
        _scope(Order.objects.filter(created_at__gte=since, created_at__lte=now), customer_ids)
        .values("customer_id")
        .annotate(total=Count("id"), cancelled=Count("id", filter=Q(status=Order.Status.CANCELLED)))
        .filter(total__gte=settings.SURV_CANCEL_MIN_ORDERS)
    )
    hits = []
    for row in rows:
        ratio = row["cancelled"] / row["total"]
        if ratio < settings.SURV_CANCEL_RATIO:
            continue
        sample = Order.objects.filter(customer_id=row["customer_id"], created_at__gte=since,
                                      status=Order.Status.CANCELLED).order_by("-created_at")[:10]
        hits.append(Hit(
            rule=Alert.Rule.CANCEL_RATIO, customer_id=row["customer_id"],
            dedup_key=f"cancel_ratio:{row['customer_id']}:{now:%Y-%m-%d}",
            title=f"{row['cancelled']} of {row['total']} orders cancelled in {settings.SURV_WINDOW_HOURS} h ({ratio:.0%})",
            evidence=[_order_ref(order) for order in sample],
            figures={"orders": row["total"], "cancelled": row["cancelled"], "ratio": round(ratio, 4),
                     "threshold": settings.SURV_CANCEL_RATIO, "min_orders": settings.SURV_CANCEL_MIN_ORDERS},
        ))
    return hits


def self_crossing(*, now: datetime, customer_ids=None) -> list[Hit]:
    """Two of the builder's customers on opposite sides of the same outcome at the same price
    within SURV_SELF_CROSS_SECONDS; high severity when they share a wallet address."""
    since = now - timedelta(hours=settings.SURV_WINDOW_HOURS)
    gap = timedelta(seconds=settings.SURV_SELF_CROSS_SECONDS)
    counterpart = Fill.objects.filter(
        exchange=OuterRef("exchange"), market_native_id=OuterRef("market_native_id"), outcome=OuterRef("outcome"),
        price=OuterRef("price"), created_at__gte=OuterRef("created_at") - gap, created_at__lte=OuterRef("created_at") + gap,
    ).exclude(side=OuterRef("side")).exclude(customer_id=OuterRef("customer_id"))
    crossed = list(
        _scope(Fill.objects.filter(created_at__gte=since, created_at__lte=now), customer_ids)
        .filter(Exists(counterpart)).order_by("created_at")[:500]
    )
    hits, seen = [], set()
    for fill in crossed:
        others = Fill.objects.filter(
            exchange=fill.exchange, market_native_id=fill.market_native_id, outcome=fill.outcome, price=fill.price,
            created_at__gte=fill.created_at - gap, created_at__lte=fill.created_at + gap,
        ).exclude(side=fill.side).exclude(customer_id=fill.customer_id)
        for other in others[:20]:
            pair = tuple(sorted((fill.pk, other.pk)))
            if pair in seen:
                continue
            seen.add(pair)
            later = fill if fill.created_at >= other.created_at else other
            shared = _shared_wallets(fill.customer_id, other.customer_id)
            hits.append(Hit(
                rule=Alert.Rule.SELF_CROSSING, customer_id=later.customer_id,
                dedup_key=f"self_crossing:fills:{pair[0]}:{pair[1]}",
                title=(f"Crossed {other.customer_id if later is fill else fill.customer_id}'s fill at {_n(fill.price)} "
                       f"on {fill.outcome}" + (" (shared wallet)" if shared else "")),
                severity=Alert.Severity.HIGH if shared else Alert.Severity.MEDIUM,
                evidence=[
                    {"type": "fill", "id": f.pk, "label": f"{f.side} {_n(f.size)} {f.outcome} @ {_n(f.price)} "
                     f"by customer {f.customer_id} ({f.fill_id})"} for f in (fill, other)
                ] + [{"type": "customer", "id": c, "label": f"customer {c}"} for c in sorted({fill.customer_id, other.customer_id})],
                figures={"seconds_apart": abs((fill.created_at - other.created_at).total_seconds()),
                         "shared_wallets": sorted(shared), "window_seconds": settings.SURV_SELF_CROSS_SECONDS},
            ))
    return hits


def _shared_wallets(customer_a: int, customer_b: int) -> set[str]:
    """Addresses (EOA or Safe) both customers hold: the "same or linked wallets" case."""
    def addresses(customer_id: int) -> set[str]:
        found = set()
        for address, safe in Wallet.objects.filter(customer_id=customer_id).values_list("address", "safe_address"):
            found.update(a.lower() for a in (address, safe) if a)
        return found
    return addresses(customer_a) & addresses(customer_b)


def concentration(*, now: datetime, customer_ids=None) -> list[Hit]:
    """One market holding most of a customer's open exposure (cost basis)."""
    open_positions = _scope(Position.objects.filter(is_open=True), customer_ids)
    totals = {
        row["customer_id"]: row["total"]
        for row in open_positions.values("customer_id").annotate(total=Sum(EXPOSURE))
        .filter(total__gte=settings.SURV_CONCENTRATION_MIN_USDC)
    }
    if not totals:
        return []
    per_market = (open_positions.filter(customer_id__in=list(totals))
                  .values("customer_id", "exchange", "market_native_id").annotate(exposure=Sum(EXPOSURE)))
    week = now.strftime("%G-W%V")
    hits = []
    for row in per_market:
        total = totals[row["customer_id"]]
        share = row["exposure"] / total
        if share < Decimal(str(settings.SURV_CONCENTRATION_SHARE)):
            continue
        positions = list(open_positions.filter(customer_id=row["customer_id"], exchange=row["exchange"],
                                               market_native_id=row["market_native_id"]))
        hits.append(Hit(
            rule=Alert.Rule.CONCENTRATION, customer_id=row["customer_id"],
            # At most once a week per market while the concentration lasts.
            dedup_key=f"concentration:{row['customer_id']}:{row['exchange']}:{row['market_native_id']}:{week}",
            title=f"{share:.0%} of {_usdc(total)} USDC open exposure in one market ({row['market_native_id'][:40]})",
            severity=Alert.Severity.MEDIUM if share < 0.9 else Alert.Severity.HIGH,
            evidence=[{"type": "position", "id": p.pk, "label": f"{_n(p.size)} {p.outcome} @ {_n(p.average_price)}"}
                      for p in positions],
            figures={"share": round(float(share), 4), "market_exposure_usdc": _usdc(row["exposure"]),
                     "total_exposure_usdc": _usdc(total), "threshold": settings.SURV_CONCENTRATION_SHARE},
        ))
    return hits


def operator_placed(*, now: datetime, customer_ids=None) -> list[Hit]:
    """Every order an operator placed on a customer's behalf gets a (low) alert to look at."""
    if not settings.SURV_OPERATOR_PLACED:
        return []
    since = now - timedelta(hours=settings.SURV_WINDOW_HOURS)
    orders = (_scope(Order.objects.filter(placed_by=Order.PlacedBy.OPERATOR, first_seen_at__gte=since), customer_ids)
              .select_related("placed_by_user").prefetch_related("intents"))
    hits = []
    for order in orders:
        who = order.placed_by_user.get_username() if order.placed_by_user_id else "an operator"
        evidence = [_order_ref(order)] + [
            {"type": "intent", "id": str(intent.key), "label": f"intent {str(intent.key)[:8]}: {intent.reason[:120]}"}
            for intent in order.intents.all()
        ]
        hits.append(Hit(
            rule=Alert.Rule.OPERATOR_PLACED, customer_id=order.customer_id, dedup_key=f"operator_placed:order:{order.pk}",
            title=f"{who} placed {order.side} {_n(order.size)} {order.outcome} @ {_n(order.price)}",
            severity=Alert.Severity.LOW, evidence=evidence, figures={"placed_by": who},
        ))
    return hits


RULES: dict[str, Callable[..., list[Hit]]] = {
    Alert.Rule.LARGE_NOTIONAL: large_notional,
    Alert.Rule.PRE_RESOLUTION: pre_resolution,
    Alert.Rule.CANCEL_RATIO: cancel_ratio,
    Alert.Rule.SELF_CROSSING: self_crossing,
    Alert.Rule.CONCENTRATION: concentration,
    Alert.Rule.OPERATOR_PLACED: operator_placed,
}


def run_surveillance(*, customer_ids: Iterable[int] | None = None, now: datetime | None = None,
                     rules: Iterable[str] | None = None) -> SurveillanceResult:
    """Run the rules (for some customers, or everyone) and raise an alert per new hit."""
    now = now or timezone.now()
    ids = None if customer_ids is None else list(customer_ids)
    result = SurveillanceResult()
    for name in rules or RULES:
        hits = RULES[name](now=now, customer_ids=ids)
        result.hits += len(hits)
        if not hits:
            continue
        alerts = [Alert(rule=h.rule, customer_id=h.customer_id, dedup_key=h.dedup_key[:255], title=h.title[:255],
                        severity=h.severity, detail=h.detail, evidence=h.evidence, figures=h.figures, raised_at=now)
                  for h in hits]
        existing = set(Alert.objects.filter(dedup_key__in=[a.dedup_key for a in alerts]).values_list("dedup_key", flat=True))
        new = [a for a in alerts if a.dedup_key not in existing]
        # ignore_conflicts: a concurrent run that raised the same alert first wins, silently.
        Alert.objects.bulk_create(new, ignore_conflicts=True)
        result.raised += len(new)
        result.per_rule[name] = len(new)
    return result
