"""Mirror rows for the surveillance, review and export tests (built directly, as a sync would)."""

from __future__ import annotations

import itertools
import uuid
from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from customers.models import Customer
from orders.models import Fill, Market, Order, Position

_n = itertools.count(1)


def customer(**overrides) -> Customer:
    n = next(_n)
    return Customer.objects.create(**{"parsec_customer_id": uuid.uuid4(), "external_id": f"cust-{n}-{uuid.uuid4().hex[:6]}",
                                      "email": f"c{n}@example.com"} | overrides)


def market(exchange: str = "polymarket", **overrides) -> Market:
    n = next(_n)
    native = f"0x{uuid.uuid4().hex}"
    return Market.objects.create(**{
        "parsec_id": f"{exchange}:{native}", "exchange": exchange, "exchange_market_id": native, "order_market_id": native,
        "question": f"Will event {n} happen?", "outcomes": [{"name": "Yes"}, {"name": "No"}], "status": "active",
    } | overrides)


def order(cust: Customer, mkt: Market, *, side="buy", price="0.50", size="10", status="open", at=None, **overrides) -> Order:
    at = at or timezone.now()
    return Order.objects.create(**{
        "parsec_order_id": f"ord-{uuid.uuid4().hex[:12]}", "exchange": mkt.exchange, "customer": cust, "market": mkt,
        "market_native_id": mkt.order_market_id, "outcome": "Yes", "side": side, "price": Decimal(price),
        "size": Decimal(size), "status": status, "created_at": at, "updated_at": at,
    } | overrides)


def fill(cust: Customer, mkt: Market, *, side="buy", price="0.50", size="10", at=None, fee="0", outcome="Yes", order_row=None) -> Fill:
    return Fill.objects.create(
        fill_id=f"fill-{uuid.uuid4().hex[:12]}", order=order_row, parsec_order_id=order_row.parsec_order_id if order_row else "x",
        customer=cust, exchange=mkt.exchange, market=mkt, market_native_id=mkt.order_market_id, outcome=outcome, side=side,
        price=Decimal(price), size=Decimal(size), is_taker=True, fee=Decimal(fee), created_at=at or timezone.now(),
    )


def position(cust: Customer, mkt: Market, *, size="100", average_price="0.50", outcome="Yes", current_price=None) -> Position:
    return Position.objects.create(customer=cust, exchange=mkt.exchange, market=mkt, market_native_id=mkt.order_market_id,
                                   outcome=outcome, size=Decimal(size), average_price=Decimal(average_price),
                                   current_price=Decimal(current_price) if current_price else None)


def large_notional_alert():
    """An open alert raised by the surveillance itself (one 20,000-contract order)."""
    from compliance.models import Alert
    from compliance.surveillance import run_surveillance

    cust = customer()
    order(cust, market(), size="20000")
    run_surveillance(rules=["large_notional"])
    return Alert.objects.get(customer=cust)


def ago(**kwargs):
    return timezone.now() - timedelta(**kwargs)
