"""The stream's messages (NOTES §10): error codes, shapes, and their JSON text.

Numbers go out as JSON numbers (a Decimal's float, as REST does). A message that differs between
subscribers only by ``server_seq`` is encoded once and finished per subscriber (``with_seq``).
"""

from __future__ import annotations

import json
from decimal import Decimal

from sandbox import clock, conf

AUTH_REQUIRED = 1001  # also "already authenticated"
AUTH_INVALID = 1002
INVALID_MARKET = 2001  # an invalid message or a malformed market selector
MARKET_NOT_FOUND = 2002
INVALID_OUTCOME = 2005
RATE_LIMITED = 3001
MAX_SUBSCRIPTIONS = 3002

SIDES = {"buy": "bid", "sell": "ask"}


def encode(message: dict) -> str:
    return json.dumps(message, separators=(",", ":"))


def with_seq(encoded: str, seq: int) -> str:
    """``encoded`` (a JSON object without server_seq) with ``"server_seq": seq`` added."""
    return f'{encoded[:-1]},"server_seq":{seq}}}'


def now_ms() -> int:
    return int(clock.now().timestamp() * 1000)


def error(code: int, message: str, parsec_id: str | None = None) -> dict:
    body = {"type": "error", "code": code, "message": message}
    if parsec_id is not None:
        body["parsec_id"] = parsec_id
    return body


def heartbeat() -> str:
    return encode({"type": "heartbeat", "ts_ms": now_ms()})


def identity(market, outcome) -> dict:
    """The fields that name a book in every book and activity message."""
    return {
        "parsec_id": market.parsec_id,
        "exchange": market.exchange,
        "outcome": outcome.name,
        # Kalshi has no token ids: "" as REST /orderbook sends (the SDK types it as a string).
        "token_id": outcome.token_id or "",
        "market_id": market.order_market_id,
    }


def _levels(pairs: list[tuple[Decimal, Decimal]]) -> list[list[float]]:
    return [[float(price), float(size)] for price, size in pairs]


def _state(book) -> dict:
    return {"feed_state": "healthy", "book_state": "fresh", "stale_after_ms": conf.SANDBOX_WS_STALE_AFTER_MS,
            "exchange_ts_ms": book.changed_ms, "ingest_ts_ms": now_ms()}


def snapshot(book, bids: list, asks: list) -> str:
    """An ``orderbook`` snapshot (bids descending, asks ascending), without server_seq."""
    mid = spread = None
    if bids and asks:
        mid = float((bids[0][0] + asks[0][0]) / 2)
        spread = float(asks[0][0] - bids[0][0])
    return encode({
        "type": "orderbook", **book.identity, "title": book.title, "kind": "snapshot",
        "bids": _levels(bids), "asks": _levels(asks), "mid_price": mid, "spread": spread,
        "tick_size": book.tick_size, "min_order_size": book.min_order_size, **_state(book),
    })


def delta(book, changes: list[tuple[str, Decimal, Decimal]]) -> str:
    """An ``orderbook_delta`` (absolute sizes; 0 removes the level), without server_seq."""
    return encode({
        "type": "orderbook_delta", **book.identity,
        "changes": [{"side": SIDES[side], "price": float(price), "size": float(size)} for side, price, size in changes],
        **_state(book),
    })


def _ms(moment) -> int:
    return int(moment.timestamp() * 1000)


def activity(entry: tuple) -> tuple[int | None, dict]:
    """An ``activity`` message (without server_seq) from the engine's record of a trade or a fill
    (sandbox.journal), and the customer it is for (None: every subscriber of the book)."""
    kind = entry[0]
    ingest_ms = now_ms()
    if kind == "trade":
        _, _, trade, market, outcome = entry
        return None, {
            "type": "activity", **identity(market, outcome), "kind": "trade", "price": float(trade.price),
            "size": float(trade.size), "trade_id": f"trade_{trade.pk}", "side": trade.aggressor_side,
            "aggressor_side": trade.aggressor_side, "feed_state": "healthy",
            "exchange_ts_ms": _ms(trade.created_at), "ingest_ts_ms": ingest_ms,
            "source_channel": f"{market.exchange}_sandbox_trade",
        }
    _, _, fill, order, trade, market, outcome = entry
    return fill.customer_id, {
        "type": "activity", **identity(market, outcome), "kind": "fill", "price": float(fill.price),
        "size": float(fill.size), "trade_id": f"trade_{trade.pk}", "fill_id": fill.fill_id,
        "order_id": order.order_id, "side": fill.side, "aggressor_side": trade.aggressor_side,
        "liquidity_role": "taker" if fill.is_taker else "maker", "feed_state": "healthy",
        "exchange_ts_ms": _ms(fill.created_at), "ingest_ts_ms": ingest_ms,
        "source_channel": f"{market.exchange}_sandbox_user_fill",
    }


def book_notice(kind: str, book) -> str:
    """``resync_required`` or ``slow_reader`` for one book."""
    return encode({"type": kind, "parsec_id": book.identity["parsec_id"], "outcome": book.identity["outcome"]})
