"""Surveillance rules for prediction-market trading, run after each customer sync and on a schedule.

Each rule is one named setting with its thresholds (``SURV_INSIDER``, ``SURV_CONCENTRATION``,
``SURV_SELF_CROSSING``, ``SURV_LAYERING``, ``SURV_SIZE_CHANGE``, ``SURV_LARGE_NOTIONAL``), reads
the mirror with aggregate queries and returns hits; a hit becomes an ``Alert`` that links its
evidence rows (orders, fills, positions, settlements, the market, the customers) and names who
asked for the orders behind it and who approved them, when staff did. ``dedup_key`` names what was
seen, so running the rules again after every sync raises nothing twice.

Operator activity is not an alert: it is in the audit log and on the customer's timeline.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import Count, DecimalField, ExpressionWrapper, F, Q, Sum
from django.utils import timezone

from compliance.models import Alert
from core import formatting
from customers.models import Wallet
from orders.models import Fill, Market, Order, OrderIntent, Position, Settlement

NOTIONAL = ExpressionWrapper(F("price") * F("size"), output_field=DecimalField(max_digits=32, decimal_places=16))
EXPOSURE = ExpressionWrapper(F("size") * F("average_price"), output_field=DecimalField(max_digits=32, decimal_places=16))


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
    order_ids: list[int] = field(default_factory=list)  # whose requester/approver the alert names


@dataclass
class SurveillanceResult:
    hits: int = 0
    raised: int = 0
    per_rule: dict[str, int] = field(default_factory=dict)


def _usdc(value) -> str:
    return formatting.usdc(value or 0)


def _fig(value) -> str:
    return formatting.plain(value)


def _order_ref(order: Order) -> dict:
    return {"type": "order", "id": order.pk, "label": f"{order.side} {formatting.size(order.size)} {order.outcome} @ "
            f"{formatting.plain(order.price)}, {order.get_status_display().lower()} ({order.parsec_order_id})"}


def _fill_ref(fill: Fill, *, who: bool = False) -> dict:
    by = f" by customer {fill.customer_id}" if who else ""
    return {"type": "fill", "id": fill.pk, "label": f"{fill.side} {formatting.size(fill.size)} {fill.outcome} @ "
            f"{formatting.plain(fill.price)}{by} at {formatting.when(fill.created_at)} ({fill.fill_id})"}


def _market_ref(market: Market) -> dict:
    return {"type": "market", "id": market.pk, "label": f"{market.question[:160]} ({market.lifecycle_label})"}


def _scope(qs, customer_ids: Iterable[int] | None):
    return qs if customer_ids is None else qs.filter(customer_id__in=list(customer_ids))


def _enabled(name: str) -> dict | None:
    rule = getattr(settings, name)
    return rule if rule.get("enabled", True) else None


# --- 1. Insider pattern -------------------------------------------------------------------------


def insider(*, now: datetime, customer_ids=None) -> list[Hit]:
    """Bought the outcome that then won within ``hours_before_end`` of the market's end of
    trading, for at least ``min_notional_usdc`` (per customer and market)."""
    rule = _enabled("SURV_INSIDER")
    if rule is None:
        return []
    window = timedelta(hours=rule["hours_before_end"])
    markets = Market.objects.filter(status=Market.Status.RESOLVED, resolved_at__gte=now - timedelta(days=30)).exclude(winning_outcome="")
    hits = []
    for market in markets:
        end = min(t for t in (market.closed_at, market.resolved_at) if t is not None)
        fills = list(_scope(Fill.objects.filter(market=market, side="buy", outcome=market.winning_outcome,
                                                created_at__gte=end - window, created_at__lte=end), customer_ids)
                     .order_by("customer_id", "created_at"))
        per_customer: dict[int, list[Fill]] = defaultdict(list)
        for fill in fills:
            per_customer[fill.customer_id].append(fill)
        for customer_id, bought in per_customer.items():
            notional = sum((f.price * f.size for f in bought), Decimal(0))
            if notional < rule["min_notional_usdc"]:
                continue
            first = min(f.created_at for f in bought)
            hours = (end - first).total_seconds() / 3600
            settlement = Settlement.objects.filter(customer_id=customer_id, market=market, outcome=market.winning_outcome).first()
            evidence = [_market_ref(market), *(_fill_ref(f) for f in bought[:20])]
            if settlement is not None:
                evidence.append({"type": "settlement", "id": settlement.pk,
                                 "label": f"paid {formatting.usdc(settlement.amount_usdc)} USDC for {formatting.size(settlement.size)} {settlement.outcome}"})
            hits.append(Hit(
                rule=Alert.Rule.INSIDER, customer_id=customer_id, dedup_key=f"insider:{customer_id}:{market.pk}",
                title=(f"Bought {_usdc(notional)} USDC of “{market.winning_outcome}” {formatting.plain(round(Decimal(hours), 1))} h "
                       f"before “{market.question[:100]}” ended, and it won"),
                severity=Alert.Severity.HIGH, evidence=evidence,
                figures={"notional_usdc": _fig(notional), "hours_before_end": _fig(round(Decimal(hours), 2)),
                         "threshold_hours": rule["hours_before_end"], "min_notional_usdc": _fig(rule["min_notional_usdc"]),
                         "fills": len(bought), "ended_at": end.isoformat()},
                order_ids=[f.order_id for f in bought if f.order_id],
            ))
    return hits


# --- 2. Concentration ---------------------------------------------------------------------------


def concentration(*, now: datetime, customer_ids=None) -> list[Hit]:
    """One market, or one event, holding at least ``share`` of a customer's open cost basis."""
    rule = _enabled("SURV_CONCENTRATION")
    if rule is None:
        return []
    open_positions = _scope(Position.objects.filter(is_open=True, size__gt=0), customer_ids)
    totals = {row["customer_id"]: row["total"] for row in open_positions.values("customer_id").annotate(total=Sum(EXPOSURE))
              .filter(total__gte=rule["min_exposure_usdc"])}
    if not totals:
        return []
    week = now.strftime("%G-W%V")
    hits = []
    positions = list(open_positions.filter(customer_id__in=list(totals)).select_related("market"))
    groups: dict[tuple, list[Position]] = defaultdict(list)
    for position in positions:
        groups[(position.customer_id, "market", position.exchange, position.market_native_id)].append(position)
        if position.market_id and position.market.event_id:
            groups[(position.customer_id, "event", position.exchange, position.market.event_id)].append(position)
    seen_markets = set()
    for (customer_id, kind, exchange, key), members in sorted(groups.items(), key=lambda item: (item[0][1] != "market", item[0])):
        exposure = sum((p.size * p.average_price for p in members), Decimal(0))
        total = totals[customer_id]
        share = exposure / total
        if share < rule["share"]:
            continue
        market_keys = {p.market_native_id for p in members}
        if kind == "event" and len(market_keys) == 1 and (customer_id, exchange, next(iter(market_keys))) in seen_markets:
            continue  # the event is that one market: one alert is enough
        if kind == "market":
            seen_markets.add((customer_id, exchange, key))
        name = members[0].market.question if kind == "market" and members[0].market_id else (
            members[0].market.group_title if members[0].market_id else key)
        hits.append(Hit(
            rule=Alert.Rule.CONCENTRATION, customer_id=customer_id,
            # At most once a week per market or event while the concentration lasts.
            dedup_key=f"concentration:{customer_id}:{kind}:{exchange}:{key}:{week}",
            title=f"{formatting.plain(round(share * 100))}% of {_usdc(total)} USDC open exposure in one {kind}: “{name[:100]}”",
            severity=Alert.Severity.HIGH if share >= Decimal("0.9") else Alert.Severity.MEDIUM,
            evidence=[{"type": "position", "id": p.pk, "label": f"{formatting.size(p.size)} {p.outcome} @ {formatting.plain(p.average_price)}"
                       f" in {p.market.question[:80] if p.market_id else p.market_native_id}"} for p in members]
            + ([_market_ref(members[0].market)] if kind == "market" and members[0].market_id else []),
            figures={"kind": kind, "share": _fig(round(share, 4)), f"{kind}_exposure_usdc": _fig(round(exposure, 6)),
                     "total_exposure_usdc": _fig(round(total, 6)), "threshold": _fig(rule["share"]),
                     "min_exposure_usdc": _fig(rule["min_exposure_usdc"])},
        ))
    return hits


# --- 3. Self-crossing between customers who share a wallet -----------------------------------


def _addresses() -> dict[int, set[str]]:
    found: dict[int, set[str]] = defaultdict(set)
    for customer_id, address, safe in Wallet.objects.values_list("customer_id", "address", "safe_address"):
        for value in (address, safe):
            if value:
                found[customer_id].add(value.lower())
    return found


def self_crossing(*, now: datetime, customer_ids=None) -> list[Hit]:
    """Two customers who share a wallet address (the same EOA or Safe: onboarded from one wallet)
    on opposite sides of one trade: opposite fills of one outcome at one price and size, one taker
    and one maker, within ``seconds``."""
    rule = _enabled("SURV_SELF_CROSSING")
    if rule is None:
        return []
    addresses = _addresses()
    by_address: dict[str, set[int]] = defaultdict(set)
    for customer_id, owned in addresses.items():
        for address in owned:
            by_address[address].add(customer_id)
    linked = {c for members in by_address.values() if len(members) > 1 for c in members}
    if not linked:
        return []
    mine = set(linked) if customer_ids is None else linked & set(customer_ids)
    since = now - timedelta(hours=rule["window_hours"])
    gap = timedelta(seconds=rule["seconds"])
    fills = list(Fill.objects.filter(customer_id__in=list(linked), created_at__gte=since - gap, created_at__lte=now).order_by("created_at", "id"))
    hits, seen = [], set()
    for fill in fills:
        if fill.customer_id not in mine:
            continue
        for other in fills:
            if other.customer_id == fill.customer_id or other.side == fill.side or abs(other.created_at - fill.created_at) > gap:
                continue
            if (other.exchange, other.market_native_id, other.outcome, other.price, other.size) != (
                    fill.exchange, fill.market_native_id, fill.outcome, fill.price, fill.size) or other.is_taker == fill.is_taker:
                continue
            shared = addresses[fill.customer_id] & addresses[other.customer_id]
            if not shared:
                continue
            pair = tuple(sorted((fill.pk, other.pk)))
            if pair in seen:
                continue
            seen.add(pair)
            taker = fill if fill.is_taker else other
            maker = other if taker is fill else fill
            hits.append(Hit(
                rule=Alert.Rule.SELF_CROSSING, customer_id=taker.customer_id, dedup_key=f"self_crossing:fills:{pair[0]}:{pair[1]}",
                title=(f"Customer {taker.customer_id} took customer {maker.customer_id}'s {maker.side} of {formatting.size(fill.size)} "
                       f"{fill.outcome} @ {formatting.plain(fill.price)}: they share wallet {sorted(shared)[0][:10]}…"),
                severity=Alert.Severity.HIGH,
                evidence=[_fill_ref(taker, who=True), _fill_ref(maker, who=True)]
                + [{"type": "customer", "id": c, "label": f"customer {c}"} for c in sorted({fill.customer_id, other.customer_id})],
                figures={"seconds_apart": abs((fill.created_at - other.created_at).total_seconds()), "shared_wallets": sorted(shared),
                         "window_seconds": rule["seconds"], "notional_usdc": _fig(fill.price * fill.size)},
                order_ids=[f.order_id for f in (taker, maker) if f.order_id],
            ))
    return hits


# --- 4. Layering: many cancels per fill ---------------------------------------------------------


def layering(*, now: datetime, customer_ids=None) -> list[Hit]:
    """At least ``min_cancels`` cancelled orders in ``window_hours`` and cancels / orders that
    filled at least ``ratio`` (an order book padded with orders never meant to trade)."""
    rule = _enabled("SURV_LAYERING")
    if rule is None:
        return []
    since = now - timedelta(hours=rule["window_hours"])
    rows = (_scope(Order.objects.filter(created_at__gte=since, created_at__lte=now), customer_ids).values("customer_id")
            .annotate(total=Count("id"), cancelled=Count("id", filter=Q(status=Order.Status.CANCELLED)),
                      filled=Count("id", filter=Q(filled__gt=0)))
            .filter(cancelled__gte=rule["min_cancels"]))
    hits = []
    for row in rows:
        ratio = Decimal(row["cancelled"]) / max(1, row["filled"])
        if ratio < rule["ratio"]:
            continue
        sample = list(Order.objects.filter(customer_id=row["customer_id"], created_at__gte=since, created_at__lte=now,
                                           status=Order.Status.CANCELLED).order_by("-created_at")[:20])
        hits.append(Hit(
            rule=Alert.Rule.LAYERING, customer_id=row["customer_id"],
            dedup_key=f"layering:{row['customer_id']}:{now:%Y-%m-%d}",
            title=(f"{row['cancelled']} orders cancelled for {row['filled']} that filled in {rule['window_hours']} h "
                   f"({formatting.plain(round(ratio, 1))} cancels per fill)"),
            evidence=[_order_ref(o) for o in sample],
            figures={"orders": row["total"], "cancelled": row["cancelled"], "filled": row["filled"], "ratio": _fig(round(ratio, 4)),
                     "threshold": _fig(rule["ratio"]), "min_cancels": rule["min_cancels"]},
            order_ids=[o.pk for o in sample],
        ))
    return hits


# --- 5. and 6. Size against the customer's own history --------------------------------------


def _history(customer_id: int, before: datetime, *, days: int, limit: int):
    return (Order.objects.filter(customer_id=customer_id, created_at__lt=before, created_at__gte=before - timedelta(days=days))
            .order_by("-created_at")[:limit])


def size_change(*, now: datetime, customer_ids=None) -> list[Hit]:
    """An order ``multiple`` times the customer's average order size over their previous orders
    (at least ``min_history`` of them, the last ``history_orders`` in ``history_days``)."""
    rule = _enabled("SURV_SIZE_CHANGE")
    if rule is None:
        return []
    recent = _scope(Order.objects.filter(created_at__gte=now - timedelta(hours=rule["window_hours"]), created_at__lte=now), customer_ids)
    hits = []
    for order in recent.order_by("created_at", "id"):
        past = list(_history(order.customer_id, order.created_at, days=rule["history_days"], limit=rule["history_orders"]).values_list("size", flat=True))
        if len(past) < rule["min_history"]:
            continue
        average = sum(past, Decimal(0)) / len(past)
        if not average or order.size < average * rule["multiple"]:
            continue
        multiple = order.size / average
        hits.append(Hit(
            rule=Alert.Rule.SIZE_CHANGE, customer_id=order.customer_id, dedup_key=f"size_change:order:{order.pk}",
            title=(f"Order of {formatting.size(order.size)} is {formatting.plain(round(multiple, 1))}× the customer's average "
                   f"of {formatting.size(round(average, 2))} over {len(past)} orders"),
            evidence=[_order_ref(order)], order_ids=[order.pk],
            figures={"size": _fig(order.size), "average_size": _fig(round(average, 6)), "history_orders": len(past),
                     "multiple": _fig(round(multiple, 2)), "threshold": _fig(rule["multiple"]), "min_history": rule["min_history"]},
        ))
    return hits


def large_notional(*, now: datetime, customer_ids=None) -> list[Hit]:
    """An order of at least ``min_notional_usdc`` from a customer with fewer than ``max_history``
    earlier orders in ``history_days``: too little history to judge it by."""
    rule = _enabled("SURV_LARGE_NOTIONAL")
    if rule is None:
        return []
    recent = (_scope(Order.objects.filter(created_at__gte=now - timedelta(hours=rule["window_hours"]), created_at__lte=now), customer_ids)
              .annotate(value_usdc=NOTIONAL).filter(value_usdc__gte=rule["min_notional_usdc"]))
    hits = []
    for order in recent.order_by("created_at", "id"):
        earlier = _history(order.customer_id, order.created_at, days=rule["history_days"], limit=rule["max_history"]).count()
        if earlier >= rule["max_history"]:
            continue
        hits.append(Hit(
            rule=Alert.Rule.LARGE_NOTIONAL, customer_id=order.customer_id, dedup_key=f"large_notional:order:{order.pk}",
            title=f"Order of {_usdc(order.value_usdc)} USDC with only {earlier} earlier order{'s' if earlier != 1 else ''} to compare with",
            severity=Alert.Severity.HIGH, evidence=[_order_ref(order)], order_ids=[order.pk],
            figures={"notional_usdc": _fig(order.value_usdc), "earlier_orders": earlier, "max_history": rule["max_history"],
                     "min_notional_usdc": _fig(rule["min_notional_usdc"])},
        ))
    return hits


RULES: dict[str, Callable[..., list[Hit]]] = {
    Alert.Rule.INSIDER: insider,
    Alert.Rule.CONCENTRATION: concentration,
    Alert.Rule.SELF_CROSSING: self_crossing,
    Alert.Rule.LAYERING: layering,
    Alert.Rule.SIZE_CHANGE: size_change,
    Alert.Rule.LARGE_NOTIONAL: large_notional,
}


def _people(order_ids: list[int]) -> tuple[int | None, int | None, list[dict]]:
    """(requester, approver, evidence) of the staff behind these orders: the intent's author and
    the second operator who approved it (four eyes), else the operator who placed the order."""
    if not order_ids:
        return None, None, []
    intents = list(OrderIntent.objects.filter(order_id__in=order_ids).select_related("created_by", "approval__decided_by", "approval")
                   .order_by("created_at"))
    requester = approver = None
    evidence = []
    for intent in intents:
        if intent.created_by_id and requester is None:
            requester = intent.created_by_id
        if intent.approval_id and intent.approval.decided_by_id and intent.approval.status == "approved" and approver is None:
            approver = intent.approval.decided_by_id
        evidence.append({"type": "intent", "id": str(intent.key), "label": (
            f"asked by {intent.created_by.get_username() if intent.created_by_id else intent.get_source_display()}"
            + (f", approved by {intent.approval.decided_by.get_username()}" if intent.approval_id and intent.approval.decided_by_id else "")
            + (f": {intent.reason[:100]}" if intent.reason else ""))})
    if requester is None:
        requester = Order.objects.filter(pk__in=order_ids, placed_by_user__isnull=False).values_list("placed_by_user", flat=True).first()
    return requester, approver, evidence[:5]


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
        existing = set(Alert.objects.filter(dedup_key__in=[h.dedup_key[:255] for h in hits]).values_list("dedup_key", flat=True))
        alerts = []
        for h in hits:
            if h.dedup_key[:255] in existing:
                continue
            requester, approver, people = _people(h.order_ids)
            alerts.append(Alert(rule=h.rule, customer_id=h.customer_id, dedup_key=h.dedup_key[:255], title=h.title[:255],
                                severity=h.severity, detail=h.detail, evidence=h.evidence + people, figures=h.figures, raised_at=now,
                                requested_by_id=requester, approved_by_id=approver))
        # ignore_conflicts: a concurrent run that raised the same alert first wins, silently.
        Alert.objects.bulk_create(alerts, ignore_conflicts=True)
        result.raised += len(alerts)
        result.per_rule[name] = len(alerts)
    return result
