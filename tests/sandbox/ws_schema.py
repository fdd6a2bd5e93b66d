"""The stream's server messages as JSON schemas (NOTES §10; Parsec's WebSocket docs' field lists).

Parsec publishes no machine-readable schema of the stream, so these are written from the notes:
every field the notes and docs name, with its type, required where the docs show it always; no
other field allowed, so a misspelt or invented field fails. ``assert_valid`` picks the schema by
``type``.
"""

from __future__ import annotations

from jsonschema import Draft202012Validator

NUMBER = {"type": "number"}
INT = {"type": "integer"}
STRING = {"type": "string"}
NULLABLE_STRING = {"type": ["string", "null"]}
MS = {"type": ["integer", "null"], "minimum": 0}
LEVEL = {"type": "array", "prefixItems": [{"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
                                          {"type": "number", "exclusiveMinimum": 0}], "minItems": 2, "maxItems": 2}
BOOK_IDENTITY = {"parsec_id": STRING, "exchange": STRING, "outcome": STRING, "token_id": STRING, "market_id": STRING}
FEED = {"feed_state": {"enum": ["healthy", "degraded", "disconnected"]}}
BOOK_STATE = {"book_state": {"enum": ["fresh", "stale", "needs_refresh"]}, "stale_after_ms": {"type": "integer", "minimum": 0},
              "exchange_ts_ms": MS, "ingest_ts_ms": MS}
SEQ = {"server_seq": {"type": "integer", "minimum": 1}}


def _object(kind: str, properties: dict, required: list[str]) -> dict:
    return {"type": "object", "properties": {"type": {"const": kind}, **properties}, "required": ["type", *required],
            "additionalProperties": False}


SCHEMAS = {
    "auth_ok": _object("auth_ok", {"customer_id": STRING}, ["customer_id"]),
    "auth_error": _object("auth_error", {"code": {"const": 1002}, "message": STRING}, ["code", "message"]),
    "orderbook": _object("orderbook", {
        **BOOK_IDENTITY, "title": NULLABLE_STRING, "kind": {"const": "snapshot"},
        "bids": {"type": "array", "items": LEVEL}, "asks": {"type": "array", "items": LEVEL},
        "mid_price": {"type": ["number", "null"]}, "spread": {"type": ["number", "null"], "minimum": 0},
        "tick_size": NUMBER, "min_order_size": {"type": ["number", "null"]}, **FEED, **BOOK_STATE, **SEQ,
    }, [*BOOK_IDENTITY, "kind", "bids", "asks", "mid_price", "spread", "tick_size", "min_order_size", "book_state",
        "feed_state", "server_seq", "stale_after_ms", "exchange_ts_ms", "ingest_ts_ms"]),
    "orderbook_delta": _object("orderbook_delta", {
        **BOOK_IDENTITY,
        "changes": {"type": "array", "minItems": 1, "items": {
            "type": "object", "additionalProperties": False, "required": ["side", "price", "size"],
            "properties": {"side": {"enum": ["bid", "ask"]}, "price": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
                           "size": {"type": "number", "minimum": 0}}}},
        **FEED, **BOOK_STATE, **SEQ,
    }, [*BOOK_IDENTITY, "changes", "server_seq", "feed_state", "book_state", "stale_after_ms"]),
    "activity": {"oneOf": [
        _object("activity", {
            **BOOK_IDENTITY, "kind": {"const": "trade"}, "price": NUMBER, "size": {"type": "number", "exclusiveMinimum": 0},
            "trade_id": STRING, "side": {"enum": ["buy", "sell"]}, "aggressor_side": {"enum": ["buy", "sell"]},
            **SEQ, **FEED, "exchange_ts_ms": MS, "ingest_ts_ms": MS, "source_channel": STRING,
        }, [*BOOK_IDENTITY, "kind", "price", "size", "trade_id", "server_seq", "feed_state", "source_channel"]),
        _object("activity", {
            **BOOK_IDENTITY, "kind": {"const": "fill"}, "price": NUMBER, "size": {"type": "number", "exclusiveMinimum": 0},
            "trade_id": STRING, "fill_id": STRING, "order_id": STRING, "side": {"enum": ["buy", "sell"]},
            "aggressor_side": {"enum": ["buy", "sell"]}, "liquidity_role": {"enum": ["maker", "taker"]},
            **SEQ, **FEED, "exchange_ts_ms": MS, "ingest_ts_ms": MS, "source_channel": STRING,
        }, [*BOOK_IDENTITY, "kind", "price", "size", "fill_id", "order_id", "side", "liquidity_role", "server_seq",
            "feed_state", "source_channel"]),
    ]},
    "heartbeat": _object("heartbeat", {"ts_ms": {"type": "integer", "minimum": 0}}, ["ts_ms"]),
    "resync_required": _object("resync_required", {"parsec_id": STRING, "outcome": STRING}, ["parsec_id", "outcome"]),
    "slow_reader": _object("slow_reader", {"parsec_id": STRING, "outcome": STRING}, ["parsec_id", "outcome"]),
    "error": _object("error", {"code": {"enum": [1001, 1002, 2001, 2002, 2003, 2005, 3001, 3002]}, "message": STRING,
                               "parsec_id": STRING}, ["code", "message"]),
}
_VALIDATORS = {kind: Draft202012Validator(schema) for kind, schema in SCHEMAS.items()}


def violations(message) -> list[str]:
    """Every way ``message`` departs from its type's schema (empty when it conforms)."""
    if not isinstance(message, dict) or message.get("type") not in _VALIDATORS:
        return [f"unknown message: {message!r}"]
    errors = sorted(_VALIDATORS[message["type"]].iter_errors(message), key=lambda e: list(e.path))
    return [f"{message['type']} {list(e.path)}: {e.message}" for e in errors]


def assert_valid(message) -> None:
    problems = violations(message)
    assert not problems, "; ".join(problems[:5])
