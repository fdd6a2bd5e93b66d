"""Parsec's markets, orders, fills and positions → the orders mirror.

One ``*_row`` function per Parsec value; ``core.upsert`` writes sets of rows and skips unchanged
ones. Orders merge through ``merge_order`` so a status only moves forward and an older read
arriving late changes nothing. The steps that read Parsec live in the ``sync`` app.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db.models.signals import post_delete
from django.utils import timezone

from core.upsert import UpsertResult, UpsertSpec, upsert
from customers.models import Customer
from orders.models import ClosedReason, Fill, Market, Order, Position
from parsec import types

logger = logging.getLogger(__name__)


# (exchange, order_market_id) → Market pk, for ids already found: a catalogue row is never
# deleted or re-keyed (the market sync upserts on parsec_id), so a found pk stays right.
_MARKET_PKS: dict[tuple[str, str], int] = {}
_MARKET_PKS_MAX = 200_000


def forget_market_pks(**_kwargs) -> None:
    """Drop the cache (a Market row was deleted; tests call it between tests)."""
    _MARKET_PKS.clear()


post_delete.connect(forget_market_pks, sender=Market, dispatch_uid="orders.sync.forget_market_pks")


def market_ids(exchange: str, native_ids: Iterable[str]) -> dict[str, int]:
    """``market_id`` as orders/fills/positions carry it → Market pk (None-free)."""
    ids = {i for i in native_ids if i}
    found = {i: _MARKET_PKS[(exchange, i)] for i in ids if (exchange, i) in _MARKET_PKS}
    missing = ids - found.keys()
    if missing:
        rows = dict(Market.objects.filter(exchange=exchange, order_market_id__in=missing).values_list("order_market_id", "pk"))
        if len(_MARKET_PKS) + len(rows) > _MARKET_PKS_MAX:
            _MARKET_PKS.clear()
        _MARKET_PKS.update({(exchange, native): pk for native, pk in rows.items()})
        found.update(rows)
    return found


# --- markets -----------------------------------------------------------------------------

VOID_STATUSES = frozenset({"voided", "void", "cancelled", "canceled"})


def market_lifecycle(market: types.Market) -> tuple[str, str]:
    """(the mirror's status, the winning outcome) from what Parsec lists.

    Parsec's statuses are active, closed, resolved and archived (NOTES §7.2); a cancelled market
    is listed under one of them with no outcome priced 1 (the sandbox: SANDBOX_VOID_STATUS), so a
    "resolved" market without a winner is the mirror's ``voided``.
    """
    status = (market.status or "").lower()
    winners = [o.name for o in market.outcomes if o.price is not None and o.price == 1]
    winner = winners[0] if len(winners) == 1 else ""
    if status in VOID_STATUSES:
        return Market.Status.VOIDED, ""
    if status == Market.Status.RESOLVED:
        return (Market.Status.RESOLVED, winner) if winner else (Market.Status.VOIDED, "")
    if status in Market.Status.values:
        return status, winner if status == Market.Status.ARCHIVED else ""
    return Market.Status.UNKNOWN, ""


def merge_market(current: dict[str, Any] | None, incoming: dict[str, Any]) -> dict[str, Any]:
    """When trading ended and when the market settled are first-seen facts: a later read (an
    archived market's new updated_at) does not move them."""
    merged = dict(incoming)
    if current is not None:
        for name in ("closed_at", "resolved_at"):
            if merged[name] is not None and current.get(name) is not None:
                merged[name] = current[name]
    return merged


MARKET_SPEC = UpsertSpec(
    model=Market,
    key=("parsec_id",),
    fields=(
        "exchange", "exchange_market_id", "order_market_id", "condition_id", "event_id", "question", "group_title",
        "outcomes", "market_type", "status", "tick_size", "min_order_size", "end_date", "last_price", "winning_outcome",
        "closed_at", "resolved_at", "raw",
    ),
    touch=("last_seen_at",),
    create_only=("first_seen_at",),
    merge=merge_market,
)


def market_row(market: types.Market, *, now: datetime) -> dict[str, Any]:
    status, winner = market_lifecycle(market)
    changed_at = types.to_datetime(market.raw.get("updated_at")) if isinstance(market.raw, dict) else None
    ended_at = min(changed_at or now, now)
    # Orders name a Polymarket market by its condition id, a Kalshi one by its ticker.
    order_market_id = market.condition_id if market.exchange == "polymarket" and market.condition_id else market.exchange_market_id
    outcomes = [
        {k: v for k, v in {"name": o.name, "token_id": o.token_id, "price": str(o.price) if o.price is not None else None}.items() if v is not None}
        for o in market.outcomes
    ]
    return {
        "parsec_id": market.parsec_id,
        "exchange": market.exchange,
        "exchange_market_id": market.exchange_market_id,
        "order_market_id": order_market_id or None,
        "condition_id": market.condition_id or "",
        "event_id": market.exchange_group_id or market.parsec_group_id or "",
        "question": market.question,
        "group_title": market.group_title or "",
        "outcomes": outcomes,
        "market_type": market.market_type or "",
        "status": status,
        "tick_size": market.tick_size,
        "min_order_size": market.min_order_size,
        "end_date": market.end_date,
        "last_price": market.last_price,
        "winning_outcome": winner,
        "closed_at": ended_at if status in Market.ENDED_STATUSES else None,
        "resolved_at": ended_at if status in Market.SETTLED_STATUSES else None,
        "raw": market.raw,
        "last_seen_at": now,
        "first_seen_at": now,
    }


def upsert_markets(markets: Iterable[types.Market], *, now: datetime | None = None) -> UpsertResult:
    """Catalogue rows for these markets, then the links of mirrored rows that named them before
    the catalogue knew them (orders, fills and positions carry the exchange-native id)."""
    now = now or timezone.now()
    rows = [market_row(m, now=now) for m in markets]
    result = upsert(MARKET_SPEC, rows)
    if result.created:
        link_unlinked_rows({(r["exchange"], r["order_market_id"]) for r in rows if r["order_market_id"]})
    return result


def link_unlinked_rows(keys: set[tuple[str, str]]) -> int:
    """Point orders, fills and positions at catalogue rows that appeared after them."""
    linked = 0
    by_exchange: dict[str, set[str]] = {}
    for exchange, native in keys:
        by_exchange.setdefault(exchange, set()).add(native)
    for exchange, natives in by_exchange.items():
        pks = market_ids(exchange, natives)
        for model in (Order, Fill, Position):
            for native, pk in pks.items():
                linked += model.objects.filter(exchange=exchange, market_native_id=native, market__isnull=True).update(market_id=pk)
    return linked


# --- orders ------------------------------------------------------------------------------

ORDER_SPEC_FIELDS = (
    "customer_id", "market_id", "market_native_id", "outcome", "side", "price", "size", "filled", "status",
    "parsec_status", "created_at", "updated_at", "raw",
)


def merge_order(current: dict[str, Any] | None, incoming: dict[str, Any]) -> dict[str, Any]:
    """What to store when Parsec says ``incoming`` and the mirror holds ``current``.

    A read is stale when it would move the status backwards (or out of a terminal status),
    or when it carries the same status with an older ``updated_at``: then the stored values
    stand. ``filled`` never shrinks. An unknown status keeps the stored one; its text is
    recorded in ``parsec_status``.
    """
    parsec_status = incoming["parsec_status"]
    if current is None:
        return {**incoming, "status": Order.next_status(None, parsec_status)}
    status = Order.next_status(current["status"], parsec_status)
    known = parsec_status in Order.STATUS_RANK and parsec_status != Order.Status.UNKNOWN
    stale = known and status != parsec_status
    if not stale and status == current["status"] and current["updated_at"] and incoming["updated_at"]:
        stale = incoming["updated_at"] < current["updated_at"]
    if stale:
        return dict(current)
    merged = {**incoming, "status": status}
    merged["filled"] = max(current["filled"], incoming["filled"])
    return merged


ORDER_SPEC = UpsertSpec(
    model=Order,
    key=("exchange", "parsec_order_id"),
    fields=ORDER_SPEC_FIELDS,
    touch=("last_seen_at",),
    create_only=("first_seen_at",),
    merge=merge_order,
)


def order_row(order: types.Order, *, customer_pk: int, market_pk: int | None, now: datetime) -> dict[str, Any]:
    if order.status not in Order.STATUS_RANK:
        logger.warning("order %s on %s: unknown Parsec status %r (recorded, status kept)", order.id, order.exchange, order.status)
    return {
        "exchange": order.exchange,
        "parsec_order_id": order.id,
        "customer_id": customer_pk,
        "market_id": market_pk,
        "market_native_id": order.market_id,
        "outcome": order.outcome,
        "side": order.side,
        "price": order.price,
        "size": order.size,
        "filled": order.filled,
        "status": order.status,
        "parsec_status": str(order.status)[:64],
        "created_at": order.created_at or now,
        "updated_at": order.updated_at,
        "raw": order.raw,
        "last_seen_at": now,
        "first_seen_at": now,
    }


def upsert_orders(orders: list[types.Order], *, customer: Customer, exchange: str, now: datetime | None = None) -> UpsertResult:
    now = now or timezone.now()
    markets = market_ids(exchange, (o.market_id for o in orders))
    rows = [order_row(o, customer_pk=customer.pk, market_pk=markets.get(o.market_id), now=now) for o in orders]
    return upsert(ORDER_SPEC, rows)


def upsert_placed_order(
    *, customer: Customer, exchange: str, order: types.Order, placed_by: str | None = None, placed_by_user=None,
    order_type: str | None = None, expiration: datetime | None = None, fee_auth_order_id: str | None = None,
) -> Order:
    """Mirror an order the back-office just placed or cancelled (same mapping as the sync),
    then record what only we know: who placed it, its type, expiry and fee_auth id."""
    upsert_orders([order], customer=customer, exchange=exchange)
    attribution = {
        name: value for name, value in (
            ("placed_by", placed_by), ("placed_by_user", placed_by_user), ("order_type", order_type),
            ("expiration", expiration), ("fee_auth_order_id", fee_auth_order_id),
        ) if value is not None
    }
    if attribution:
        Order.objects.filter(exchange=exchange, parsec_order_id=order.id).update(**attribution)
    return Order.objects.select_related("market").get(exchange=exchange, parsec_order_id=order.id)


# --- fills -------------------------------------------------------------------------------

FILL_SPEC = UpsertSpec(
    model=Fill,
    key=("fill_id",),
    fields=(
        "order_id", "parsec_order_id", "customer_id", "exchange", "market_id", "market_native_id", "outcome", "side",
        "price", "size", "is_taker", "fee", "created_at", "raw",
    ),
    touch=("last_seen_at",),
    create_only=("first_seen_at",),
    # A fill is a past trade: Parsec never changes one. Only our links to the order and the
    # market can change (an order or market mirrored after its fill).
    compare=("order_id", "market_id"),
)


def fill_row(fill: types.Fill, *, customer_pk: int, order_pk: int | None, market_pk: int | None, now: datetime) -> dict[str, Any]:
    return {
        "fill_id": fill.fill_id,
        "order_id": order_pk,
        "parsec_order_id": fill.order_id,
        "customer_id": customer_pk,
        "exchange": fill.exchange,
        "market_id": market_pk,
        "market_native_id": fill.market_id,
        "outcome": fill.outcome,
        "side": fill.side,
        "price": fill.price,
        "size": fill.size,
        "is_taker": fill.is_taker,
        "fee": fill.fee,
        "created_at": fill.created_at or now,
        "raw": fill.raw,
        "last_seen_at": now,
        "first_seen_at": now,
    }


def fill_rows(fills: list[types.Fill], *, customer: Customer, exchange: str, now: datetime) -> list[dict[str, Any]]:
    order_ids = {f.order_id for f in fills if f.order_id}
    orders = dict(Order.objects.filter(exchange=exchange, parsec_order_id__in=order_ids).values_list("parsec_order_id", "pk")) if order_ids else {}
    markets = market_ids(exchange, (f.market_id for f in fills))
    return [
        fill_row(f, customer_pk=customer.pk, order_pk=orders.get(f.order_id), market_pk=markets.get(f.market_id), now=now)
        for f in fills
    ]


def upsert_fills(fills: list[types.Fill], *, customer: Customer, exchange: str, now: datetime | None = None) -> UpsertResult:
    """Fills deduplicated by ``fill_id``, linked to their order when the mirror has it."""
    return upsert(FILL_SPEC, fill_rows(fills, customer=customer, exchange=exchange, now=now or timezone.now()))


# --- positions ---------------------------------------------------------------------------

POSITION_SPEC = UpsertSpec(
    model=Position,
    key=("customer_id", "exchange", "market_native_id", "outcome"),
    fields=("market_id", "size", "average_price", "current_price", "is_open", "closed_at", "closed_reason", "raw"),
    touch=("last_seen_at",),
    create_only=("first_seen_at",),
)


def position_row(position: types.Position, *, customer_pk: int, market_pk: int | None, now: datetime) -> dict[str, Any]:
    return {
        "customer_id": customer_pk,
        "exchange": position.exchange,
        "market_native_id": position.market_id,
        "outcome": position.outcome,
        "market_id": market_pk,
        "size": position.size,
        "average_price": position.average_price,
        "current_price": position.current_price,
        "is_open": True,
        "closed_at": None,
        "closed_reason": "",
        "raw": position.raw,
        "last_seen_at": now,
        "first_seen_at": now,
    }


def position_rows(positions: list[types.Position], *, customer: Customer, exchange: str, now: datetime) -> list[dict[str, Any]]:
    markets = market_ids(exchange, (p.market_id for p in positions))
    return [position_row(p, customer_pk=customer.pk, market_pk=markets.get(p.market_id), now=now) for p in positions]


def replace_positions(rows: list[dict[str, Any]], *, customer: Customer, exchange: str, now: datetime) -> UpsertResult:
    """Parsec's list is a snapshot of open positions: upsert it, and close (never delete) the
    open rows it no longer shows: size 0, reason ``gone`` until ``orders.settlements`` explains
    it (sold, or settled at its market's end). The raw payload and ``last_seen_at`` keep the last
    listing, which the settlement reads."""
    result = upsert(POSITION_SPEC, rows)
    listed = {(r["market_native_id"], r["outcome"]) for r in rows}
    open_rows = Position.objects.filter(customer=customer, exchange=exchange, is_open=True).values_list("pk", "market_native_id", "outcome")
    closed = [pk for pk, market, outcome in open_rows if (market, outcome) not in listed]
    if closed:
        result.updated += Position.objects.filter(pk__in=closed, is_open=True).update(
            is_open=False, closed_at=now, size=0, closed_reason=ClosedReason.GONE)
    return result


