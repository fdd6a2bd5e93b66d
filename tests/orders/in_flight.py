"""Helpers for tests of orders on their way to Parsec: a resting buy, a send in a background
thread (so the test can act while Parsec holds the request), and waiting for an intent's status."""

from __future__ import annotations

import threading
import time
from decimal import Decimal

from django.db import connection

from orders import services
from orders.models import Market, OrderIntent
from orders.services import OrderRequest


def resting_buy(customer, operator, *, reason: str = "in flight") -> OrderIntent:
    market = Market.objects.filter(exchange="polymarket", market_type="binary", status="active").order_by("pk").first()
    return services.create_intent(actor=operator, request=OrderRequest(
        customer=customer, exchange="polymarket", market=market, outcome="Yes", side="buy", price=Decimal("0.05"),
        size=max(market.min_order_size or Decimal(1), Decimal(10)), reason=reason))


def send_in_background(intent: OrderIntent, actor) -> tuple[threading.Thread, dict]:
    """Start ``submit_intent`` in a thread; the dict gets ``result`` or ``error`` when it ends."""
    outcome: dict = {}

    def send():
        try:
            outcome["result"] = services.submit_intent(intent=intent, actor=actor)
        except Exception as exc:  # surfaced by the caller
            outcome["error"] = exc
        finally:
            connection.close()

    thread = threading.Thread(target=send)
    thread.start()
    return thread, outcome


def wait_for(intent: OrderIntent, status: str, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while OrderIntent.objects.get(pk=intent.pk).status != status:
        assert time.monotonic() < deadline, f"intent never reached {status}"
        time.sleep(0.05)
