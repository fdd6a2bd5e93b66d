"""Compare the mirror with what the sandbox reports through the official SDK, field by field."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from customers.models import BalanceSnapshot, Customer
from orders.models import Fill, Order, Position
from tests.sandbox_client import as_user


def dec(value) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def when(value) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def assert_mirror_matches(sdk, customer: Customer, exchanges=("polymarket", "kalshi")) -> None:
    cid = str(customer.parsec_customer_id)
    for exchange in exchanges:
        orders = sdk.orders.list(exchange=exchange, status="all", limit=500, **as_user(cid))
        mirrored = {o.parsec_order_id: o for o in Order.objects.filter(customer=customer, exchange=exchange)}
        assert set(mirrored) == {o.id for o in orders}, exchange
        for o in orders:
            row = mirrored[o.id]
            assert (row.market_native_id, row.outcome, row.side, row.status, row.parsec_status) == (o.market_id, o.outcome, o.side, o.status, o.status)
            assert (row.price, row.size, row.filled) == (dec(o.price), dec(o.size), dec(o.filled)), o.id
            assert (row.created_at, row.updated_at) == (when(o.created_at), when(o.updated_at))
            assert row.market_id is not None and row.market.order_market_id == o.market_id

        fills = sdk.fills.list(exchange=exchange, limit=1000, **as_user(cid))
        stored = {f.fill_id: f for f in Fill.objects.filter(customer=customer, exchange=exchange)}
        assert set(stored) == {f.fill_id for f in fills} and fills, exchange
        for f in fills:
            row = stored[f.fill_id]
            assert (row.parsec_order_id, row.market_native_id, row.outcome, row.side, row.is_taker) == (f.order_id, f.market_id, f.outcome, f.side, f.is_taker)
            assert (row.price, row.size, row.fee, row.created_at) == (dec(f.price), dec(f.size), dec(f.fee), when(f.created_at))
            assert row.order.parsec_order_id == f.order_id

        positions = sdk.positions.list(exchange=exchange, **as_user(cid))
        open_rows = {(p.market_native_id, p.outcome): p for p in Position.objects.filter(customer=customer, exchange=exchange, is_open=True)}
        assert set(open_rows) == {(p.market_id, p.outcome) for p in positions} and positions, exchange
        for p in positions:
            row = open_rows[(p.market_id, p.outcome)]
            assert (row.size, row.average_price, row.current_price) == (dec(p.size), dec(p.average_price), dec(p.current_price))

        raw = sdk.account.with_raw_response.balance(exchange=exchange, **as_user(cid)).http_response.json()["raw"]
        latest = BalanceSnapshot.objects.filter(customer=customer, exchange=exchange).latest()
        expected = int(raw["balance"]) if exchange == "polymarket" else int(raw["balance"]) * 10_000
        assert latest.usdc_base_units == expected, exchange


def mirror_state(customer_ids=None) -> dict:
    """Every mirrored row's identifying and typed values (for 'same rows' comparisons)."""
    def rows(queryset, *fields):
        return sorted(tuple(str(v) for v in r) for r in queryset.values_list(*fields))

    customers = Customer.objects.all() if customer_ids is None else Customer.objects.filter(pk__in=customer_ids)
    return {
        "orders": rows(Order.objects.filter(customer__in=customers), "exchange", "parsec_order_id", "status", "filled", "updated_at", "market_id"),
        "fills": rows(Fill.objects.filter(customer__in=customers), "fill_id", "order_id", "price", "size"),
        "positions": rows(Position.objects.filter(customer__in=customers), "exchange", "market_native_id", "outcome", "size", "is_open"),
        "balances": rows(BalanceSnapshot.objects.filter(customer__in=customers), "exchange", "usdc_base_units"),
    }
