"""Settlements: what a holding paid when its market was resolved or voided, inferred from the mirror.

Parsec reports no settlement (NOTES §12.6): a settled position stops being listed by
``/positions`` and the balance goes up; no order or fill is written. So when the mirror holds a
market as resolved or voided (``orders.sync.market_lifecycle``) and a holding in it is no longer
listed, this module writes the ``Settlement`` that explains the balance change:

- the size: the position Parsec last listed, moved by any fill mirrored after that listing; a
  holding Parsec never listed (the market settled before the mirror's first read) is the net of
  the mirrored fills, when they explain it completely;
- the payout per share: the outcome's final price (1 for the winner, 0 for the others); for a
  voided market, the exchange's rule in ``SETTLEMENT_VOID_RULE`` ("even": 1/N cut to the base
  unit; "cost": the holding's average price as Parsec lists it);
- the amount: size x payout, cut toward zero to the USDC base unit.

A holding whose fills show it sold before the end is marked ``sold`` instead. Idempotent: one
settlement per (customer, exchange, market, outcome); running it again writes nothing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_DOWN, Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Case, DecimalField, F, Q, Sum, When
from django.utils import timezone

from core.money import BASE_UNITS_PER_USDC
from orders.models import ClosedReason, Fill, Market, Position, Settlement
from orders.pnl import FILL_COLUMNS, ledger, settlement_units

ZERO = Decimal("0")
ONE = Decimal("1")
BASE_UNIT = ONE / BASE_UNITS_PER_USDC


@dataclass
class InferenceResult:
    settled: int = 0
    sold: int = 0
    unexplained: int = 0
    settlements: list[Settlement] = field(default_factory=list, repr=False)


def void_payout(market: Market, *, average_price: Decimal) -> tuple[str, Decimal]:
    """(rule, USDC per share) of a voided market, per the exchange's SETTLEMENT_VOID_RULE."""
    rule = settings.SETTLEMENT_VOID_RULE.get(market.exchange, "cost")
    if rule == "even":
        outcomes = max(1, len(market.outcome_names))
        return rule, (ONE / outcomes).quantize(BASE_UNIT, rounding=ROUND_DOWN)
    return rule, average_price


def resolved_payout(market: Market, outcome: str) -> Decimal:
    """What a share of ``outcome`` pays at a resolved market: its final price, else 1 or 0."""
    price = market.outcome_price(outcome)
    if price is not None and ZERO <= price <= ONE:
        return price
    return ONE if outcome == market.winning_outcome else ZERO


def needs_market_read(*, customer_ids: Iterable[int] | None = None, exchange: str | None = None) -> set[int]:
    """Market pks whose status the inference waits on, where the mirror does not yet hold them as
    settled: holdings no longer listed, and holdings the fills show that Parsec does not list
    (a market that settled before the mirror ever read the position)."""
    final = [*Market.SETTLED_STATUSES, Market.Status.ARCHIVED]
    closed = Position.objects.filter(is_open=False, closed_reason=ClosedReason.GONE, market__isnull=False, settlement__isnull=True)
    fills = Fill.objects.filter(market__isnull=False).exclude(market__status__in=final)
    listed = Position.objects.filter(is_open=True)
    if customer_ids is not None:
        ids = list(customer_ids)
        closed, fills, listed = closed.filter(customer_id__in=ids), fills.filter(customer_id__in=ids), listed.filter(customer_id__in=ids)
    if exchange:
        closed, fills, listed = closed.filter(exchange=exchange), fills.filter(exchange=exchange), listed.filter(exchange=exchange)
    waiting = set(closed.exclude(market__status__in=list(Market.SETTLED_STATUSES)).values_list("market_id", flat=True).distinct())
    signed = Case(When(side="buy", then=F("size")), default=-F("size"), output_field=DecimalField(max_digits=24, decimal_places=8))
    held = {(row["customer_id"], row["market_id"], row["outcome"])
            for row in fills.values("customer_id", "market_id", "outcome").annotate(net=Sum(signed)).filter(net__gt=0)}
    if held:
        shown = set(listed.filter(market_id__in={m for _, m, _ in held}).values_list("customer_id", "market_id", "outcome"))
        waiting |= {market_id for customer_id, market_id, outcome in held - shown}
    return waiting


def unlisted_holdings_at_unknown_markets(*, customer, exchange: str) -> set[str]:
    """Market ids the catalogue does not know where the fills show the customer holding shares
    that Parsec does not list: a market that may have settled before the mirror ever saw it."""
    signed = Case(When(side="buy", then=F("size")), default=-F("size"), output_field=DecimalField(max_digits=24, decimal_places=8))
    held = set(Fill.objects.filter(customer=customer, exchange=exchange, market__isnull=True)
               .values("market_native_id", "outcome").annotate(net=Sum(signed)).filter(net__gt=0)
               .values_list("market_native_id", "outcome"))
    if not held:
        return set()
    listed = set(Position.objects.filter(customer=customer, exchange=exchange, is_open=True)
                 .values_list("market_native_id", "outcome"))
    return {native for native, outcome in held - listed}


def infer_settlements(*, customer_ids: Iterable[int] | None = None, market_ids: Iterable[int] | None = None,
                      exchange: str | None = None, now: datetime | None = None) -> InferenceResult:
    """Write the settlements the mirror can now explain (see the module docstring)."""
    now = now or timezone.now()
    result = InferenceResult()
    markets = Market.objects.filter(status__in=list(Market.SETTLED_STATUSES))
    if market_ids is not None:
        markets = markets.filter(pk__in=list(market_ids))
    if exchange:
        markets = markets.filter(exchange=exchange)
    scope = Q(market__in=markets)
    if customer_ids is not None:
        scope &= Q(customer_id__in=list(customer_ids))
    # Holdings at settled markets: positions no longer open (or never listed) without a settlement.
    positions = {
        (p.customer_id, p.exchange, p.market_native_id, p.outcome): p
        for p in Position.objects.filter(scope).select_related("market")
    }
    fill_keys = set(Fill.objects.filter(scope).values_list("customer_id", "exchange", "market_native_id", "outcome").distinct())
    done = set(Settlement.objects.filter(scope).values_list("customer_id", "exchange", "market_native_id", "outcome"))
    candidates = (set(positions) | fill_keys) - done
    if not candidates:
        return result
    by_customer: dict[int, set[tuple]] = defaultdict(set)
    for key in candidates:
        by_customer[key[0]].add(key)
    market_of = {(m.exchange, m.order_market_id): m for m in markets}
    for customer_id, keys in by_customer.items():
        _infer_for_customer(customer_id, keys, positions, market_of, now, result)
    return result


def _infer_for_customer(customer_id: int, keys: set[tuple], positions: dict, market_of: dict, now: datetime,
                        result: InferenceResult) -> None:
    natives = {(k[1], k[2]) for k in keys}
    fills = (Fill.objects.filter(customer_id=customer_id, market_native_id__in={n for _, n in natives})
             .order_by("created_at", "id").values_list(*FILL_COLUMNS))
    lines = ledger(f for f in fills if (f[0], f[1]) in natives)
    new: list[Settlement] = []
    sold: list[int] = []
    for key in sorted(keys):
        _, exchange, native, outcome = key
        position = positions.get(key)
        market = position.market if position is not None and position.market_id else market_of.get((exchange, native))
        if market is None:
            continue
        if position is not None and position.is_open:
            continue  # still listed: Parsec has not settled it (or the positions read is yet to come)
        line = lines.get((exchange, native, outcome))
        decided = _holding(position, line)
        if decided is None:
            result.unexplained += 1
            continue
        size, average, basis, evidence = decided
        if size <= 0:
            if position is not None:
                sold.append(position.pk)
            result.sold += 1
            continue
        if market.status == Market.Status.VOIDED:
            rule, payout = void_payout(market, average_price=average)
            kind, outcome_result = Settlement.Kind.VOIDED, Settlement.Result.VOID
        else:
            rule, payout = "", resolved_payout(market, outcome)
            kind = Settlement.Kind.RESOLVED
            outcome_result = Settlement.Result.WON if outcome == market.winning_outcome else Settlement.Result.LOST
        evidence.update({
            "market_status": market.status, "winning_outcome": market.winning_outcome or None,
            "outcome_prices": {o.get("name"): o.get("price") for o in market.outcomes if isinstance(o, dict)},
            "void_rule": rule or None,
        })
        new.append(Settlement(
            customer_id=customer_id, exchange=exchange, market=market, market_native_id=native, outcome=outcome,
            position=position, kind=kind, result=outcome_result, void_rule=rule, size=size, average_price=average,
            payout_per_share=payout, amount_base_units=settlement_units(size, payout), basis=basis, evidence=evidence,
            settled_at=market.resolved_at or now, inferred_at=now,
        ))
    with transaction.atomic():
        Settlement.objects.bulk_create(new, ignore_conflicts=True)
        settled_positions = [s.position_id for s in new if s.position_id]
        if settled_positions:
            Position.objects.filter(pk__in=settled_positions).update(closed_reason=ClosedReason.SETTLED)
        if sold:
            Position.objects.filter(pk__in=sold).update(closed_reason=ClosedReason.SOLD)
    result.settled += len(new)
    result.settlements.extend(new)


def _holding(position: Position | None, line) -> tuple[Decimal, Decimal, str, dict] | None:
    """(size, average price, basis, evidence) of the holding Parsec settled, or None when the
    mirror cannot tell."""
    fills_quantity = line.quantity if line is not None else ZERO
    if position is not None and _listed_size(position) > 0:
        listed, listed_average = _listed_size(position), _listed_average(position)
        evidence = {"listed_size": str(listed), "listed_average_price": str(listed_average),
                    "listed_at": position.last_seen_at.isoformat(), "position_closed_at": position.closed_at.isoformat() if position.closed_at else None,
                    "fills_quantity": str(fills_quantity)}
        later = _fills_after(position, line)
        if not later:
            complete = line is not None and not line.incomplete and fills_quantity == listed
            return listed, listed_average, Settlement.Basis.BOTH if complete else Settlement.Basis.POSITION, evidence
        size, average = listed, listed_average
        for side, price, quantity in later:
            if side == "buy":
                average = ((size * average + quantity * price) / (size + quantity)).quantize(Decimal("0.00000001"))
                size += quantity
            else:
                size -= quantity
        evidence["fills_after_listing"] = len(later)
        return size, (average if size > 0 else ZERO), Settlement.Basis.FILLS, evidence
    if line is None or line.incomplete:
        return None
    evidence = {"listed_size": None, "fills_quantity": str(fills_quantity)}
    return fills_quantity, line.listed_average, Settlement.Basis.FILLS, evidence


def _listed_size(position: Position) -> Decimal:
    raw = position.raw if isinstance(position.raw, dict) else {}
    value = raw.get("size")
    return Decimal(str(value)) if value is not None else position.size


def _listed_average(position: Position) -> Decimal:
    raw = position.raw if isinstance(position.raw, dict) else {}
    value = raw.get("average_price")
    return Decimal(str(value)) if value is not None else position.average_price


def _fills_after(position: Position, line) -> list[tuple[str, Decimal, Decimal]]:
    """Fills of this holding executed after the listing the mirror last stored."""
    return list(
        Fill.objects.filter(customer_id=position.customer_id, exchange=position.exchange, market_native_id=position.market_native_id,
                            outcome=position.outcome, created_at__gt=position.last_seen_at)
        .order_by("created_at", "id").values_list("side", "price", "size")
    )
