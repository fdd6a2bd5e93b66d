"""Market data: no impersonation needed; served from the simulated books, makers and trades."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation

from django.db.models import Prefetch

from sandbox import clock, render
from sandbox.errors import INT32_MAX, ParsecAPIError, bad_request, missing_parameter, whole_number
from sandbox.models import EXCHANGES, EXCHANGES_TRADING, MakerQuote, Market, Order, Outcome, Trade

CAPABILITY_KEYS = (
    "fetch_markets", "create_order", "cancel_order", "fetch_positions", "fetch_balance", "fetch_orderbook",
    "fetch_price_history", "fetch_trades", "fetch_events", "fetch_user_activity", "refresh_balance", "websocket",
    "fetch_orderbook_history", "fetch_fills", "approvals",
)
NAMES = {"polymarket": "Polymarket", "kalshi": "Kalshi", "limitless": "Limitless", "opinion": "Opinion", "predictfun": "Predict.fun"}


def exchanges(ctx):
    result = []
    for exchange in EXCHANGES:
        trading = exchange in EXCHANGES_TRADING
        has = {key: True for key in ("fetch_markets", "fetch_orderbook", "fetch_price_history", "fetch_trades", "fetch_events")}
        has.update({key: trading for key in ("create_order", "cancel_order", "fetch_positions", "fetch_balance", "fetch_fills")})
        # The stream (/ws) serves every book; approvals are Polymarket's token approvals (NOTES §7.1, §11).
        has.update({"fetch_user_activity": exchange != "kalshi", "refresh_balance": exchange == "polymarket",
                    "websocket": True, "fetch_orderbook_history": False, "approvals": exchange == "polymarket"})
        result.append({"id": exchange, "name": NAMES[exchange], "has": {key: has[key] for key in CAPABILITY_KEYS}})
    return 200, result


def _csv(ctx, name: str) -> list[str]:
    return [part.strip() for part in ctx.query.get(name, "").split(",") if part.strip()]


def _int(ctx, name: str, default: int, low: int, high: int) -> int:
    raw = ctx.query.get(name)
    if raw in (None, ""):
        return default
    try:
        return min(max(int(raw), low), high)
    except ValueError:
        raise bad_request(f"{name} must be an integer") from None


def _offset(ctx) -> int:
    raw = ctx.query.get("cursor")
    if raw in (None, ""):
        return 0
    offset = whole_number(raw, high=INT32_MAX)
    if offset is None:
        raise bad_request("cursor must be a value returned as next_cursor")
    return offset


def _number(ctx, name: str) -> Decimal | None:
    raw = ctx.query.get(name)
    if raw in (None, ""):
        return None
    try:
        number = Decimal(raw)
    except InvalidOperation:
        raise bad_request(f"{name} must be a number") from None
    if not number.is_finite():
        raise bad_request(f"{name} must be a finite number")
    return number


def _with_outcomes(queryset):
    return queryset.prefetch_related(Prefetch("outcomes", queryset=Outcome.objects.order_by("index")))


LIST_FILTERS = ("exchanges", "status", "search", "group_id", "event_id", "min_volume", "min_liquidity")


def markets(ctx):
    """``parsec_ids`` (or SDK17's single ``parsec_id``) fetch markets whatever their status, and
    then no filter is allowed (SPEC); otherwise the list filters, ``status`` defaulting to active."""
    queryset = Market.objects.all()
    parsec_ids = _csv(ctx, "parsec_ids") or _csv(ctx, "parsec_id")
    wanted_exchanges = [e.lower() for e in _csv(ctx, "exchanges")]
    if parsec_ids:
        if len(parsec_ids) > 100:
            raise bad_request("at most 100 parsec_ids")
        filters = [name for name in LIST_FILTERS if ctx.query.get(name) not in (None, "")]
        if filters:
            raise bad_request(f"parsec_ids cannot be combined with other filters ({', '.join(filters)})")
        queryset = queryset.filter(parsec_id__in=parsec_ids)
    else:
        unknown = [e for e in wanted_exchanges if e not in EXCHANGES]
        if unknown:
            raise bad_request(f"unknown exchange: {', '.join(unknown)}")
        if wanted_exchanges:
            queryset = queryset.filter(exchange__in=wanted_exchanges)
        queryset = queryset.filter(status=ctx.query.get("status") or "active")
        if ctx.query.get("search"):
            term = ctx.query["search"]
            queryset = queryset.filter(question__icontains=term) | queryset.filter(description__icontains=term)
        for name, column in (("event_id", "event_id"), ("group_id", "exchange_group_id")):
            if ctx.query.get(name):
                value = ctx.query[name]
                if name == "event_id" and not value.startswith("ev:") and queryset.filter(event_id=f"ev:{value}").exists():
                    value = f"ev:{value}"
                queryset = queryset.filter(**{column: value})
    min_volume = _number(ctx, "min_volume")
    rows = list(_with_outcomes(queryset.order_by("pk")))
    if min_volume is not None:
        rows = [m for m in rows if m.volume_seed + m.volume_traded >= min_volume]
    total = len(rows)
    offset, limit = _offset(ctx), _int(ctx, "limit", 100, 1, 100)
    page = rows[offset: offset + limit]
    pagination = {"count": len(page), "total": total, "has_more": offset + limit < total}
    if pagination["has_more"]:
        pagination["next_cursor"] = str(offset + limit)
    return 200, {"markets": render.markets(page), "pagination": pagination}


def _market_and_outcome(ctx) -> tuple[Market, Outcome]:
    parsec_id = ctx.query.get("parsec_id")
    if parsec_id:
        market = Market.objects.filter(parsec_id=parsec_id).first()
    elif ctx.query.get("exchange") and ctx.query.get("market_id"):
        from sandbox.api.trading import find_market

        market = find_market(ctx.query["exchange"].lower(), ctx.query["market_id"])
    else:
        raise missing_parameter("parsec_id parameter is required")
    if market is None:
        raise ParsecAPIError(404, "market_not_found", f"market not found: {parsec_id or ctx.query.get('market_id')}")
    outcomes = list(market.outcomes.order_by("index"))
    wanted = ctx.query.get("outcome")
    if wanted in (None, ""):
        if market.market_type != "binary":
            raise bad_request("outcome is required for categorical markets")
        outcome = outcomes[0]
    else:
        from sandbox.engine import _find_outcome

        outcome = _find_outcome(outcomes, wanted)
        if outcome is None:
            raise bad_request(f"outcome must be one of: {', '.join(o.name for o in outcomes)}")
    outcome.market = market
    return market, outcome


def book_levels(outcome: Outcome) -> tuple[list, list]:
    """Aggregated [price, size] ladders: bids descending, asks ascending."""
    levels = {"buy": defaultdict(Decimal), "sell": defaultdict(Decimal)}
    for side, price, size in MakerQuote.objects.filter(outcome=outcome).values_list("side", "price", "size"):
        levels[side][price] += size
    for order in Order.objects.filter(outcome=outcome, status__in=Order.RESTING).only("side", "price", "size", "filled"):
        levels[order.side][order.price] += order.size - order.filled
    bids = sorted(levels["buy"].items(), key=lambda kv: -kv[0])
    asks = sorted(levels["sell"].items(), key=lambda kv: kv[0])
    return bids, asks


def orderbook(ctx):
    market, outcome = _market_and_outcome(ctx)
    limit = _int(ctx, "limit", 0, 1, 100) or _int(ctx, "depth", 50, 1, 100)
    bids, asks = book_levels(outcome)
    return 200, {
        "parsec_id": market.parsec_id,
        "exchange": market.exchange,
        "outcome": outcome.name,
        # SPEC requires a string; Kalshi has no token ids, so the sandbox sends "" (spec bug, see tests/sandbox/schema.py).
        "token_id": outcome.token_id or "",
        "market_id": market.order_market_id,
        "bids": [[float(p), float(s)] for p, s in bids[:limit]],
        "asks": [[float(p), float(s)] for p, s in asks[:limit]],
        "timestamp": render.iso(clock.now()),
        "tick_size": float(market.tick_size),
        "min_order_size": float(market.min_order_size),
    }


def execution_price(ctx):
    _market, outcome = _market_and_outcome(ctx)
    side = ctx.query.get("side")
    if side is None:
        raise missing_parameter("side parameter is required")
    if side not in ("buy", "sell"):
        raise bad_request("side must be buy or sell")
    amount = _number(ctx, "amount")
    if amount is None:
        raise missing_parameter("amount parameter is required")
    if amount <= 0:
        raise bad_request("amount must be positive")
    bids, asks = book_levels(outcome)
    ladder = asks if side == "buy" else bids
    remaining, cost, levels, worst = amount, Decimal(0), 0, None
    for price, size in ladder:
        if remaining <= 0:
            break
        take = min(size, remaining)
        cost += take * price
        remaining -= take
        levels += 1
        worst = price
    filled = amount - remaining
    avg = (cost / filled) if filled else None
    best = ladder[0][0] if ladder else None
    slippage = abs(avg - best) if avg is not None and best is not None else None
    return 200, {
        "avg_price": render.num(avg.quantize(Decimal("0.000001")) if avg is not None else None),
        "total_cost": float(cost),
        "filled_amount": float(filled),
        "fully_filled": remaining <= 0,
        "slippage": render.num(slippage.quantize(Decimal("0.000001")) if slippage is not None else None),
        "levels_consumed": levels,
        "worst_price": render.num(worst),
        "fee_estimate": None,
        "net_cost": None,
    }


def _window(ctx) -> tuple[datetime | None, datetime | None]:
    result = []
    for name in ("start_ts", "end_ts"):
        raw = ctx.query.get(name)
        if raw in (None, ""):
            result.append(None)
            continue
        try:
            result.append(datetime.fromtimestamp(int(raw), tz=UTC))
        except (ValueError, OverflowError, OSError):
            raise bad_request(f"{name} must be Unix seconds") from None
    return result[0], result[1]


def trades(ctx):
    market, outcome = _market_and_outcome(ctx)
    start, end = _window(ctx)
    rows = Trade.objects.filter(outcome=outcome)
    if start:
        rows = rows.filter(created_at__gte=start)
    if end:
        rows = rows.filter(created_at__lte=end)
    offset, limit = _offset(ctx), _int(ctx, "limit", 200, 1, 500)
    page = list(rows.order_by("-created_at", "-pk")[offset: offset + limit + 1])
    more = len(page) > limit
    page = page[:limit]
    source = f"{market.exchange}_sandbox_trade"
    binary_yes = market.market_type == "binary" and outcome.index == 0
    items = []
    for trade in page:
        item = {"id": f"trade_{trade.pk}", "price": float(trade.price), "size": float(trade.size), "side": trade.aggressor_side,
                "aggressor_side": trade.aggressor_side, "timestamp": render.iso(trade.created_at), "source_channel": source,
                "outcome": outcome.name}
        if market.market_type == "binary":
            item["yes_price" if binary_yes else "no_price"] = float(trade.price)
        items.append(item)
    return 200, {
        "parsec_id": market.parsec_id, "exchange": market.exchange, "outcome": outcome.name,
        "token_id": outcome.token_id, "market_id": market.order_market_id, "trades": items,
        "has_more": more, "next_cursor": str(offset + limit) if more else None,
        "reason": None if items or offset else "no_data_yet",
    }


INTERVALS = {"1m": 60, "1h": 3600, "6h": 6 * 3600, "1d": 86400, "1w": 7 * 86400, "max": 7 * 86400}
DEFAULT_WINDOWS = {"1m": 1, "1h": 7, "6h": 14, "1d": 14, "1w": 30, "max": 30}  # days


def _price_at(market: Market, outcome: Outcome, moment: datetime) -> Decimal:
    """The book's price at ``moment``: its last trade until then; without one, the final price
    once the market has settled, else the makers' fair price."""
    traded = Trade.objects.filter(outcome=outcome, created_at__lte=moment).order_by("-created_at", "-pk").values_list("price", flat=True).first()
    if traded is not None:
        return traded
    if market.resolved_at is not None and moment >= market.resolved_at and outcome.final_price is not None:
        return outcome.final_price
    return outcome.mid


def price(ctx):
    """Candles from the sandbox's trades; a window without trades gets one flat candle at the
    book's price at its end (``_price_at``)."""
    market, outcome = _market_and_outcome(ctx)
    interval = ctx.query.get("interval") or "1h"
    if interval not in INTERVALS:
        raise bad_request(f"interval must be one of {', '.join(INTERVALS)}")
    seconds = INTERVALS[interval]
    now = clock.now()
    at_raw = ctx.query.get("at_ts")
    start, end = _window(ctx)
    if at_raw not in (None, ""):
        if start or end:
            raise bad_request("at_ts cannot be combined with start_ts or end_ts")
        try:
            at = datetime.fromtimestamp(int(at_raw), tz=UTC)
        except (ValueError, OverflowError, OSError):
            raise bad_request("at_ts must be Unix seconds") from None
        start, end = at - timedelta(seconds=seconds), at + timedelta(seconds=seconds)
    end = end or now
    start = start or end - timedelta(days=DEFAULT_WINDOWS[interval])
    if start > end:
        raise bad_request("start_ts must not be after end_ts")
    buckets: dict[int, list] = {}
    for trade_price, size, created in Trade.objects.filter(outcome=outcome, created_at__gte=start, created_at__lte=end).order_by("created_at", "pk").values_list("price", "size", "created_at"):
        key = int(created.timestamp()) // seconds * seconds
        bucket = buckets.get(key)
        if bucket is None:
            buckets[key] = [trade_price, trade_price, trade_price, trade_price, size]
        else:
            bucket[1] = max(bucket[1], trade_price)
            bucket[2] = min(bucket[2], trade_price)
            bucket[3] = trade_price
            bucket[4] += size
    if not buckets:
        current = _price_at(market, outcome, end)
        buckets[int(end.timestamp()) // seconds * seconds] = [current, current, current, current, Decimal(0)]
    candles = [
        {"timestamp": render.iso(datetime.fromtimestamp(key, tz=UTC)), "open": float(o), "high": float(h), "low": float(lo),
         "close": float(c), "volume": float(v)}
        for key, (o, h, lo, c, v) in sorted(buckets.items())
    ]
    if at_raw not in (None, ""):
        target = int(at.timestamp())
        candles = [min(candles, key=lambda c: abs(datetime.fromisoformat(c["timestamp"]).timestamp() - target))]
    return 200, {"parsec_id": market.parsec_id, "exchange": market.exchange, "outcome": outcome.name, "interval": interval, "candles": candles}


def events(ctx):
    queryset = Market.objects.all()
    wanted = [e.lower() for e in _csv(ctx, "exchanges")]
    if wanted:
        queryset = queryset.filter(exchange__in=wanted)
    event_id = ctx.query.get("event_id")
    if event_id:
        queryset = queryset.filter(event_id__in=[event_id, f"ev:{event_id}"])
    include = ctx.query.get("include_markets", "false").lower() == "true"
    grouped: dict[str, list[Market]] = defaultdict(list)
    for market in _with_outcomes(queryset.order_by("pk")):
        grouped[market.event_id].append(market)
    summaries = []
    for key, members in grouped.items():
        statuses = {m.status for m in members}
        status = "active" if "active" in statuses else "closed" if "closed" in statuses else "resolved"
        volume = sum(float(m.volume_seed + m.volume_traded) for m in members)
        summary = {
            "event_id": key, "title": min((m.group_title for m in members), key=len), "market_count": len(members),
            "total_volume": volume, "exchanges": sorted({m.exchange for m in members}), "status": status,
            "close_time": render.iso(min(m.end_date for m in members)),
        }
        if include:
            summary["markets"] = render.markets(members)
        summaries.append(summary)
    search = ctx.query.get("search")
    if search:
        summaries = [s for s in summaries if search.lower() in s["title"].lower()]
    if ctx.query.get("status"):
        summaries = [s for s in summaries if s["status"] == ctx.query["status"]]
    min_volume = _number(ctx, "min_volume")
    if min_volume is not None:
        summaries = [s for s in summaries if s["total_volume"] >= float(min_volume)]
    summaries.sort(key=lambda s: (-s["total_volume"], s["event_id"]))
    offset, limit = _offset(ctx), _int(ctx, "limit", 50, 1, 100)
    page = summaries[offset: offset + limit]
    pagination = {"count": len(page), "total": len(summaries), "has_more": offset + limit < len(summaries)}
    if pagination["has_more"]:
        pagination["next_cursor"] = str(offset + limit)
    return 200, {"events": page, "pagination": pagination}
