"""Mirror rows built in bulk (bulk_create), for list pages measured at several sizes."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from customers.models import BalanceSnapshot, Customer, ExchangeLink, Wallet
from orders.models import Fill, Market, Order, Position
from sync.models import SyncRun


def build_mirror(rows: int, *, tag: str = "") -> dict:
    """``rows`` of every mirrored model, each customer with its own market, order, fill..."""
    tag = tag or uuid.uuid4().hex[:6]
    now = timezone.now()
    customers = Customer.objects.bulk_create([
        Customer(
            parsec_customer_id=uuid.uuid4(), external_id=f"ext-{tag}-{i:04d}", email=f"user{i}-{tag}@example.com",
            tier="free", qps_limit=10, api_key_last4=f"{i:04d}", created_at=now - timedelta(days=i), raw={"tier": "free"},
        )
        for i in range(rows)
    ])
    Wallet.objects.bulk_create([
        Wallet(customer=c, address=f"0x{i:040x}", wallet_type="eoa", chain_id=137) for i, c in enumerate(customers)
    ])
    ExchangeLink.objects.bulk_create([ExchangeLink(customer=c, exchange="polymarket", mode="managed") for c in customers])
    BalanceSnapshot.objects.bulk_create([
        BalanceSnapshot(customer=c, exchange="polymarket", usdc_base_units=1_000_000 * (i + 1), taken_at=now - timedelta(hours=i))
        for i, c in enumerate(customers)
    ])
    markets = Market.objects.bulk_create([
        Market(
            parsec_id=f"kalshi:KX{tag}{i}", exchange="kalshi", exchange_market_id=f"KX{tag}{i}", order_market_id=f"KX{tag}{i}",
            question=f"Will market {tag} number {i} resolve Yes?", outcomes=[{"name": "Yes"}, {"name": "No"}],
            market_type="binary", tick_size=Decimal("0.01"), min_order_size=Decimal("1"),
        )
        for i in range(rows)
    ])
    orders = Order.objects.bulk_create([
        Order(
            parsec_order_id=f"order_{tag}_{i}", exchange="kalshi", customer=c, market=m, market_native_id=m.order_market_id,
            outcome="Yes", side="buy", price=Decimal("0.55"), size=Decimal("10"), filled=Decimal("4"),
            status=Order.Status.PARTIALLY_FILLED, created_at=now - timedelta(minutes=i),
        )
        for i, (c, m) in enumerate(zip(customers, markets, strict=True))
    ])
    Fill.objects.bulk_create([
        Fill(
            fill_id=f"fill_{tag}_{i}", order=o, parsec_order_id=o.parsec_order_id, customer=o.customer, exchange="kalshi",
            market=o.market, market_native_id=o.market_native_id, outcome="Yes", side="buy", price=Decimal("0.55"),
            size=Decimal("4"), is_taker=True, fee=Decimal("0.01"), created_at=o.created_at,
        )
        for i, o in enumerate(orders)
    ])
    Position.objects.bulk_create([
        Position(
            customer=o.customer, exchange="kalshi", market=o.market, market_native_id=o.market_native_id, outcome="Yes",
            size=Decimal("4"), average_price=Decimal("0.55"), current_price=Decimal("0.6"),
        )
        for o in orders
    ])
    SyncRun.objects.bulk_create([
        SyncRun(
            kind="customer-full", customer=c, exchange="kalshi", status="succeeded", started_at=now - timedelta(minutes=1),
            finished_at=now, calls_made=4,
        )
        for c in customers
    ])
    return {"customers": customers, "markets": markets, "orders": orders}
