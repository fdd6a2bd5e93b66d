"""Usage of the stream (sandbox.stream), counted in memory as Parsec does (NOTES §6.7): ``GET /api/v1/ws/usage``
and the ``ws_*`` figures of ``/usage``.

The event loop counts; request threads read (``report``), under one lock. Counters start at zero
with the process, as Parsec's in-memory aggregates do.
"""

from __future__ import annotations

import threading
from collections import Counter

FIELDS = (
    "active_connections", "active_subscriptions", "connections_opened_total", "connections_closed_total",
    "auth_failures_total", "subscribe_requests_total", "unsubscribe_requests_total", "messages_sent_total",
    "bytes_sent_total",
)

_lock = threading.Lock()
_totals: Counter = Counter()
_customers: dict[str, Counter] = {}
_markets: Counter = Counter()  # parsec_id -> subscriptions made
_customer_markets: dict[str, Counter] = {}


def count(customer_id: str | None, field: str, amount: int = 1) -> None:
    """Add ``amount`` to a counter of the totals and, when known, of the customer."""
    with _lock:
        _totals[field] += amount
        if customer_id is not None:
            _customers.setdefault(customer_id, Counter())[field] += amount


def opened() -> None:
    with _lock:
        _totals["connections_opened_total"] += 1
        _totals["active_connections"] += 1


def closed(customer_id: str | None) -> None:
    with _lock:
        for counter in (_totals, _customers.get(customer_id) if customer_id is not None else None):
            if counter is not None:
                counter["connections_closed_total"] += 1
                counter["active_connections"] -= 1


def sent(customer_id: str | None, size: int) -> None:
    """One message of ``size`` bytes written to a connection."""
    with _lock:
        for counter in (_totals, _customers.get(customer_id) if customer_id is not None else None):
            if counter is not None:
                counter["messages_sent_total"] += 1
                counter["bytes_sent_total"] += size


def authenticated(customer_id: str) -> None:
    """A connection (already counted as opened in the totals) belongs to ``customer_id``."""
    with _lock:
        row = _customers.setdefault(customer_id, Counter())
        row["connections_opened_total"] += 1
        row["active_connections"] += 1


def unsubscribed(customer_id: str) -> None:
    with _lock:
        _totals["active_subscriptions"] -= 1
        _customers[customer_id]["active_subscriptions"] -= 1


def subscribed(customer_id: str, parsec_id: str) -> None:
    with _lock:
        _totals["active_subscriptions"] += 1
        _customers.setdefault(customer_id, Counter())["active_subscriptions"] += 1
        _markets[parsec_id] += 1
        _customer_markets.setdefault(customer_id, Counter())[parsec_id] += 1


def active_subscriptions(customer_id: str) -> int:
    with _lock:
        row = _customers.get(customer_id)
        return row["active_subscriptions"] if row else 0


def active(customer_id: str) -> dict:
    """The customer's live stream usage, as ``/usage`` reports it."""
    with _lock:
        row = _customers.get(customer_id)
        return {"ws_active_connections": int(row["active_connections"]) if row else 0,
                "ws_active_subscriptions": int(row["active_subscriptions"]) if row else 0}


def _row(counter: Counter | None) -> dict:
    return {field: int(counter[field]) if counter else 0 for field in FIELDS}


def _top(counter: Counter | None, limit: int) -> list[dict]:
    if not counter:
        return []
    ranked = sorted(counter.items(), key=lambda item: (-item[1], item[0]))[:limit]
    return [{"parsec_id": parsec_id, "subscriptions_total": total} for parsec_id, total in ranked]


def report(*, customer_id: str | None, limit: int) -> dict:
    """``WsUsageResponse`` without ``scope``/``updated_at_ms``: one customer's (self) or everyone's (None)."""
    with _lock:
        if customer_id is not None:
            own = _customers.get(customer_id)
            return {"totals": _row(own), "customer": {"customer_id": customer_id, **_row(own)}, "customers": [],
                    "top_markets": _top(_customer_markets.get(customer_id), limit)}
        ranked = sorted(_customers.items(), key=lambda item: (-item[1]["messages_sent_total"], item[0]))[:limit]
        return {"totals": _row(_totals), "customers": [{"customer_id": cid, **_row(row)} for cid, row in ranked],
                "top_markets": _top(_markets, limit)}
