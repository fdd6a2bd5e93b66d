"""Test data, built one way: factory-boy factories for the mirrored models, the alerts and the sync
runs, and short functions over them for the shapes tests ask for most (``customer()``,
``market("kalshi")``, ``order(customer, market, status="open")``, ``balance(customer, "kalshi",
"1000")``...). Rows are what a sync would have written, built directly; ``mirror_rows`` builds
many at once (``bulk_create``) for the list pages measured at several sizes.

    from tests import factories as f

    cust = f.customer(tier="pro")
    f.order(cust, f.market(), size="20000")
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from decimal import Decimal

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from compliance.models import Alert
from core.money import base_units_from_usdc
from customers.models import BalanceSnapshot, Customer, ExchangeLink, Wallet
from orders.models import Fill, Market, Order, Position
from sync.models import SyncRun


def _hex(length: int = 6) -> str:
    return uuid.uuid4().hex[:length]


class CustomerFactory(DjangoModelFactory):
    class Meta:
        model = Customer

    parsec_customer_id = factory.LazyFunction(uuid.uuid4)
    external_id = factory.Sequence(lambda n: f"cust-{n}-{_hex()}")
    email = factory.Sequence(lambda n: f"c{n}@example.com")


class WalletFactory(DjangoModelFactory):
    class Meta:
        model = Wallet

    customer = factory.SubFactory(CustomerFactory)
    address = factory.Sequence(lambda n: f"0x{n:040x}")
    wallet_type = Wallet.Type.EOA
    chain_id = 137


class ExchangeLinkFactory(DjangoModelFactory):
    class Meta:
        model = ExchangeLink

    customer = factory.SubFactory(CustomerFactory)
    exchange = "polymarket"
    mode = factory.LazyAttribute(lambda o: ExchangeLink.Mode.MANAGED if o.exchange == "polymarket" else ExchangeLink.Mode.SELF)


class BalanceSnapshotFactory(DjangoModelFactory):
    """``usdc="1000"`` (dollars) or ``usdc_base_units=...``."""

    class Meta:
        model = BalanceSnapshot
        exclude = ("usdc",)

    customer = factory.SubFactory(CustomerFactory)
    exchange = "polymarket"
    usdc = "1000"
    usdc_base_units = factory.LazyAttribute(lambda o: base_units_from_usdc(Decimal(o.usdc)))
    taken_at = factory.LazyFunction(timezone.now)


class MarketFactory(DjangoModelFactory):
    """An active binary market; orders, fills and positions name it by ``order_market_id``."""

    class Meta:
        model = Market

    exchange = "polymarket"
    exchange_market_id = factory.Sequence(lambda n: f"{9000 + n}-{_hex()}")
    parsec_id = factory.LazyAttribute(lambda o: f"{o.exchange}:{o.exchange_market_id}")
    order_market_id = factory.LazyAttribute(lambda o: o.exchange_market_id)
    question = factory.Sequence(lambda n: f"Will test event {n} happen?")
    outcomes = factory.LazyFunction(lambda: [{"name": "Yes"}, {"name": "No"}])
    market_type = "binary"
    status = Market.Status.ACTIVE
    tick_size = Decimal("0.01")
    min_order_size = Decimal("5")


class OrderFactory(DjangoModelFactory):
    class Meta:
        model = Order

    parsec_order_id = factory.LazyFunction(lambda: f"ord-{_hex(12)}")
    customer = factory.SubFactory(CustomerFactory)
    market = factory.SubFactory(MarketFactory)
    exchange = factory.LazyAttribute(lambda o: o.market.exchange)
    market_native_id = factory.LazyAttribute(lambda o: o.market.order_market_id)
    outcome = "Yes"
    side = "buy"
    price = Decimal("0.50")
    size = Decimal("10")
    status = Order.Status.OPEN
    created_at = factory.LazyFunction(timezone.now)
    updated_at = factory.LazyAttribute(lambda o: o.created_at)


class FillFactory(DjangoModelFactory):
    class Meta:
        model = Fill

    fill_id = factory.LazyFunction(lambda: f"fill-{_hex(12)}")
    order = None
    parsec_order_id = factory.LazyAttribute(lambda o: o.order.parsec_order_id if o.order else "x")
    customer = factory.SubFactory(CustomerFactory)
    market = factory.SubFactory(MarketFactory)
    exchange = factory.LazyAttribute(lambda o: o.market.exchange)
    market_native_id = factory.LazyAttribute(lambda o: o.market.order_market_id)
    outcome = "Yes"
    side = "buy"
    price = Decimal("0.50")
    size = Decimal("10")
    is_taker = True
    fee = Decimal("0")
    created_at = factory.LazyFunction(timezone.now)


class PositionFactory(DjangoModelFactory):
    class Meta:
        model = Position

    customer = factory.SubFactory(CustomerFactory)
    market = factory.SubFactory(MarketFactory)
    exchange = factory.LazyAttribute(lambda o: o.market.exchange)
    market_native_id = factory.LazyAttribute(lambda o: o.market.order_market_id)
    outcome = "Yes"
    size = Decimal("100")
    average_price = Decimal("0.50")
    current_price = None


class SyncRunFactory(DjangoModelFactory):
    """A finished customer run."""

    class Meta:
        model = SyncRun

    kind = SyncRun.Kind.CUSTOMER_FULL
    customer = factory.SubFactory(CustomerFactory)
    status = SyncRun.Status.SUCCEEDED
    started_at = factory.LazyFunction(lambda: timezone.now() - timedelta(minutes=1))
    finished_at = factory.LazyFunction(timezone.now)
    calls_made = 4


class AlertFactory(DjangoModelFactory):
    class Meta:
        model = Alert

    rule = Alert.Rule.LARGE_NOTIONAL
    customer = factory.SubFactory(CustomerFactory)
    dedup_key = factory.LazyFunction(lambda: f"test-{_hex(12)}")
    title = factory.Sequence(lambda n: f"Test alert {n}")


# --- The shapes tests ask for most ---------------------------------------------------------


def customer(**overrides) -> Customer:
    return CustomerFactory(**overrides)


def market(exchange: str = "polymarket", **overrides) -> Market:
    return MarketFactory(exchange=exchange, **overrides)


def balance(cust: Customer, exchange: str, usdc: str | Decimal, **overrides) -> BalanceSnapshot:
    return BalanceSnapshotFactory(customer=cust, exchange=exchange, usdc=usdc, **overrides)


def order(cust: Customer, mkt: Market, *, side="buy", price="0.50", size="10", status="open", at: datetime | None = None,
          **overrides) -> Order:
    at = at or timezone.now()
    return OrderFactory(customer=cust, market=mkt, side=side, price=Decimal(price), size=Decimal(size), status=status,
                        created_at=at, updated_at=at, **overrides)


def fill(cust: Customer, mkt: Market, *, side="buy", price="0.50", size="10", at: datetime | None = None, fee="0",
         outcome="Yes", order_row: Order | None = None, is_taker: bool = True) -> Fill:
    return FillFactory(customer=cust, market=mkt, side=side, price=Decimal(price), size=Decimal(size),
                       created_at=at or timezone.now(), fee=Decimal(fee), outcome=outcome, order=order_row, is_taker=is_taker)


def position(cust: Customer, mkt: Market, outcome: str = "Yes", size: str | Decimal = "100", *, average_price="0.50",
             current_price=None) -> Position:
    return PositionFactory(customer=cust, market=mkt, outcome=outcome, size=Decimal(size), average_price=Decimal(average_price),
                           current_price=Decimal(current_price) if current_price is not None else None)


def large_notional_alert() -> Alert:
    """An open alert raised by the surveillance itself (one 20,000-contract order)."""
    from compliance.surveillance import run_surveillance

    cust = customer()
    order(cust, market(), size="20000")
    run_surveillance(rules=["large_notional"])
    return Alert.objects.get(customer=cust)


def ago(**kwargs) -> datetime:
    return timezone.now() - timedelta(**kwargs)


def mirror_rows(rows: int, *, tag: str = "") -> dict:
    """``rows`` of every mirrored model (bulk_create): each customer with its wallet, Polymarket
    link, balance, own Kalshi market, a partially filled order, its fill, a position and a run."""
    tag = tag or _hex()
    now = timezone.now()
    customers = Customer.objects.bulk_create([
        CustomerFactory.build(external_id=f"ext-{tag}-{i:04d}", email=f"user{i}-{tag}@example.com", tier="free", qps_limit=10,
                              api_key_last4=f"{i:04d}", created_at=now - timedelta(days=i), raw={"tier": "free"})
        for i in range(rows)
    ])
    Wallet.objects.bulk_create([WalletFactory.build(customer=c, address=f"0x{i:040x}") for i, c in enumerate(customers)])
    ExchangeLink.objects.bulk_create([ExchangeLinkFactory.build(customer=c) for c in customers])
    BalanceSnapshot.objects.bulk_create([
        BalanceSnapshotFactory.build(customer=c, usdc=i + 1, taken_at=now - timedelta(hours=i)) for i, c in enumerate(customers)
    ])
    markets = Market.objects.bulk_create([
        MarketFactory.build(exchange="kalshi", exchange_market_id=f"KX{tag}{i}", question=f"Will market {tag} number {i} resolve Yes?",
                            min_order_size=Decimal("1"))
        for i in range(rows)
    ])
    orders = Order.objects.bulk_create([
        OrderFactory.build(parsec_order_id=f"order_{tag}_{i}", customer=c, market=m, price=Decimal("0.55"), filled=Decimal("4"),
                           status=Order.Status.PARTIALLY_FILLED, created_at=now - timedelta(minutes=i), updated_at=None)
        for i, (c, m) in enumerate(zip(customers, markets, strict=True))
    ])
    Fill.objects.bulk_create([
        FillFactory.build(fill_id=f"fill_{tag}_{i}", order=o, customer=o.customer, market=o.market, price=Decimal("0.55"),
                          size=Decimal("4"), fee=Decimal("0.01"), created_at=o.created_at)
        for i, o in enumerate(orders)
    ])
    Position.objects.bulk_create([
        PositionFactory.build(customer=o.customer, market=o.market, size=Decimal("4"), average_price=Decimal("0.55"),
                              current_price=Decimal("0.6"))
        for o in orders
    ])
    SyncRun.objects.bulk_create([SyncRunFactory.build(customer=c, exchange="kalshi", started_at=now - timedelta(minutes=1), finished_at=now)
                                 for c in customers])
    return {"customers": customers, "markets": markets, "orders": orders}
