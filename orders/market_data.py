"""What an operator reads about one market: our exposure to it (the mirror) and Parsec's live data
(book, trades, price history, its event), shared by the market page, "resolving soon" and the API.

Exposure reads are aggregate queries. The live reads call the gateway, never inside a transaction
(``core.db.assert_no_transaction``), and a failure becomes a sentence on the page, not an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import Count, DecimalField, ExpressionWrapper, F, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from core.db import assert_no_transaction
from orders.models import Fill, Market, Order, Position, Settlement

DEC = DecimalField(max_digits=32, decimal_places=16)
COST = ExpressionWrapper(F("size") * F("average_price"), output_field=DEC)
OPEN_NOTIONAL = ExpressionWrapper(F("price") * (F("size") - F("filled")), output_field=DEC)
NOTIONAL = ExpressionWrapper(F("price") * F("size"), output_field=DEC)
ZERO = Decimal("0")


def _client():
    from parsec.client import get_client

    return get_client()


def _failure(exc: BaseException) -> str:
    from parsec.errors import explain

    return explain(exc).message


# --- Our exposure (the mirror) -----------------------------------------------------------------


@dataclass
class Exposure:
    holders: list[dict] = field(default_factory=list)
    open_orders: list[Order] = field(default_factory=list)
    open_order_count: int = 0
    open_order_notional: Decimal = ZERO
    held_cost: Decimal = ZERO
    held_value: Decimal = ZERO
    customers: int = 0
    traded_notional: Decimal = ZERO
    fees: Decimal = ZERO
    fills: int = 0
    settlements: list[Settlement] = field(default_factory=list)

    @property
    def total(self) -> Decimal:
        """Cost of what our customers hold + what their open orders could still buy or sell."""
        return self.held_cost + self.open_order_notional


def exposure(market: Market, *, limit: int = 100) -> Exposure:
    result = Exposure()
    positions = (Position.objects.filter(market=market, is_open=True).values("customer_id", "customer__external_id", "outcome")
                 .annotate(held=Sum("size"), cost=Sum(COST), mark=Sum(ExpressionWrapper(F("size") * Coalesce(F("current_price"), F("average_price")), output_field=DEC)))
                 .order_by("-cost")[:limit])
    result.holders = [{"customer_id": row["customer_id"], "external_id": row["customer__external_id"], "outcome": row["outcome"],
                       "size": row["held"], "cost": row["cost"] or ZERO, "value": row["mark"] or ZERO} for row in positions]
    held = Position.objects.filter(market=market, is_open=True).aggregate(
        cost=Sum(COST), value=Sum(ExpressionWrapper(F("size") * Coalesce(F("current_price"), F("average_price")), output_field=DEC)),
        customers=Count("customer", distinct=True))
    result.held_cost, result.held_value, result.customers = held["cost"] or ZERO, held["value"] or ZERO, held["customers"]
    live = Order.objects.filter(market=market, status__in=list(Order.LIVE_STATUSES))
    figures = live.aggregate(n=Count("id"), notional=Sum(OPEN_NOTIONAL))
    result.open_order_count, result.open_order_notional = figures["n"], figures["notional"] or ZERO
    result.open_orders = list(live.select_related("customer").order_by("-created_at")[:limit])
    traded = Fill.objects.filter(market=market).aggregate(n=Count("id"), notional=Sum(NOTIONAL), fees=Sum("fee"))
    result.fills, result.traded_notional, result.fees = traded["n"], traded["notional"] or ZERO, traded["fees"] or ZERO
    result.settlements = list(Settlement.objects.filter(market=market).select_related("customer").order_by("-amount_base_units")[:limit])
    return result


def resolving_soon(*, days: int, now: datetime | None = None, limit: int = 200) -> list[Market]:
    """Markets still trading whose end date falls within ``days``, with our customers' exposure
    (``exposure_cost`` held + ``exposure_orders`` open notional), largest exposure first."""
    now = now or timezone.now()
    held = (Position.objects.filter(market=OuterRef("pk"), is_open=True).values("market")
            .annotate(total=Sum(COST)).values("total"))
    ordered = (Order.objects.filter(market=OuterRef("pk"), status__in=list(Order.LIVE_STATUSES)).values("market")
               .annotate(total=Sum(OPEN_NOTIONAL)).values("total"))
    holders = (Position.objects.filter(market=OuterRef("pk"), is_open=True).values("market")
               .annotate(n=Count("customer", distinct=True)).values("n"))
    markets = (Market.objects.filter(status__in=[Market.Status.ACTIVE, Market.Status.CLOSED], end_date__gte=now - timedelta(days=days),
                                     end_date__lte=now + timedelta(days=days))
               .filter(Q(end_date__gte=now) | Q(status=Market.Status.ACTIVE))
               .annotate(exposure_cost=Coalesce(Subquery(held, output_field=DEC), Value(ZERO, output_field=DEC)),
                         exposure_orders=Coalesce(Subquery(ordered, output_field=DEC), Value(ZERO, output_field=DEC)),
                         holders=Coalesce(Subquery(holders), Value(0)))
               .annotate(exposure=F("exposure_cost") + F("exposure_orders"))
               .order_by("-exposure", "end_date", "pk"))
    return list(markets[:limit])


def siblings(market: Market) -> list[Market]:
    """The other markets of its event: the same exchange's event id, or Parsec's cross-exchange one."""
    scope = Q()
    if market.event_id:
        scope |= Q(exchange=market.exchange, event_id=market.event_id)
    if market.canonical_event_id:
        scope |= Q(raw__xref__event_id=market.canonical_event_id)
    if not scope:
        return []
    return list(Market.objects.filter(scope).exclude(pk=market.pk).order_by("exchange", "end_date", "question")[:50])


# --- Parsec's live data (the gateway) ----------------------------------------------------------


def order_book(market: Market, *, outcome: str, depth: int = 10) -> tuple[dict | None, str]:
    """``({"bids": [...], "asks": [...], "rows": [(bid, ask), ...]}, "")`` or ``(None, why)``."""
    assert_no_transaction("reading the order book")
    try:
        book = _client().get_orderbook(parsec_id=market.parsec_id, outcome=outcome or None, depth=depth)
    except Exception as exc:
        return None, _failure(exc)
    bids, asks = list(book.bids[:depth]), list(book.asks[:depth])
    rows = [(bids[i] if i < len(bids) else None, asks[i] if i < len(asks) else None) for i in range(max(len(bids), len(asks)))]
    return {"bids": bids, "asks": asks, "rows": rows, "timestamp": book.timestamp}, ""


def recent_trades(market: Market, *, outcome: str, limit: int = 20):
    assert_no_transaction("reading trades")
    try:
        return _client().list_trades(parsec_id=market.parsec_id, outcome=outcome or None, limit=limit), ""
    except Exception as exc:
        return None, _failure(exc)


def price_history(market: Market, *, outcome: str, interval: str = "1h", start: datetime | None = None):
    assert_no_transaction("reading price history")
    try:
        return _client().get_price_history(parsec_id=market.parsec_id, outcome=outcome or None, interval=interval, start=start), ""
    except Exception as exc:
        return None, _failure(exc)


def parsec_event(market: Market):
    if not market.canonical_event_id:
        return None, ""
    assert_no_transaction("reading the event")
    try:
        return _client().get_event(event_id=market.canonical_event_id), ""
    except Exception as exc:
        return None, _failure(exc)


def price_chart(history, *, width: int = 560, height: int = 160) -> dict | None:
    """A close-price line (0 to 1) with the candles' range, laid out for inline SVG like the
    dashboard's charts: no script, no CDN."""
    if history is None or not history.candles:
        return None
    candles = history.candles
    step = width / max(len(candles), 1)

    def y(price: Decimal) -> float:
        return round(height - float(price) * (height - 10) - 5, 1)

    points, ranges = [], []
    for i, candle in enumerate(candles):
        x = round(i * step + step / 2, 1)
        points.append(f"{x},{y(candle.close)}")
        ranges.append({"x": x, "y1": y(candle.high), "y2": y(candle.low),
                       "title": f"{candle.timestamp:%Y-%m-%d %H:%M} UTC: open {candle.open} high {candle.high} low {candle.low} close {candle.close}"})
    if len(points) == 1:  # one candle: a flat line across the window at its close
        points = [f"0,{y(candles[0].close)}", f"{width},{y(candles[0].close)}"]
    labels = [{"x": round(i * step + step / 2, 1), "text": f"{c.timestamp:%d %b %H:%M}"}
              for i, c in enumerate(candles) if c.timestamp and i % max(1, len(candles) // 6) == 0]
    return {"points": " ".join(points), "ranges": ranges, "labels": labels, "width": width, "height": height,
            "gridlines": [{"y": y(Decimal(p)), "label": p} for p in ("0.25", "0.5", "0.75")],
            "first": candles[0], "last": candles[-1], "interval": history.interval}
