"""Data for the trading tests: mirror rows built directly, or a real end-user at the sandbox.

Import the fixtures with ``from tests.orders.trading_fixtures import *  # noqa: F403``.
"""

from __future__ import annotations

import itertools
import uuid
from decimal import Decimal

import pytest
from django.utils import timezone

from customers.models import BalanceSnapshot, Customer, ExchangeLink
from orders.models import Market, Position

_counter = itertools.count(1)

__all__ = [
    "capture_enqueues", "fault", "make_balance", "make_customer", "make_market", "make_position", "sandbox_customer",
    "sync_catalogue", "sync_one_customer", "trading_customer",
]


def make_customer(**overrides) -> Customer:
    n = next(_counter)
    fields = {"parsec_customer_id": uuid.uuid4(), "external_id": f"trader-{n}-{uuid.uuid4().hex[:6]}"} | overrides
    return Customer.objects.create(**fields)


def make_market(exchange: str = "polymarket", **overrides) -> Market:
    n = next(_counter)
    native = overrides.pop("exchange_market_id", f"{9000 + n}-{uuid.uuid4().hex[:6]}")
    fields = {
        "parsec_id": f"{exchange}:{native}", "exchange": exchange, "exchange_market_id": native,
        "order_market_id": overrides.pop("order_market_id", native), "question": f"Will test event {n} happen?",
        "outcomes": [{"name": "Yes"}, {"name": "No"}], "market_type": "binary", "status": Market.Status.ACTIVE,
        "tick_size": Decimal("0.01"), "min_order_size": Decimal("5"),
    } | overrides
    return Market.objects.create(**fields)


def make_balance(customer: Customer, exchange: str, usdc: str | Decimal) -> BalanceSnapshot:
    return BalanceSnapshot.objects.create(
        customer=customer, exchange=exchange, usdc_base_units=int(Decimal(usdc) * 1_000_000), taken_at=timezone.now(),
    )


def make_position(customer: Customer, market: Market, outcome: str, size: str | Decimal) -> Position:
    return Position.objects.create(
        customer=customer, exchange=market.exchange, market=market, market_native_id=market.order_market_id,
        outcome=outcome, size=Decimal(size), average_price=Decimal("0.40"),
    )


@pytest.fixture
def trading_customer(db) -> Customer:
    """An active customer linked to both exchanges with 1,000 USDC on each (mirror rows only)."""
    customer = make_customer()
    for exchange in ("polymarket", "kalshi"):
        ExchangeLink.objects.create(customer=customer, exchange=exchange, mode="managed" if exchange == "polymarket" else "self")
        make_balance(customer, exchange, "1000")
    return customer


@pytest.fixture
def capture_enqueues(monkeypatch) -> list[tuple[str, tuple, float]]:
    """Record the hints the services give the broker instead of sending them (tests run the
    reconciliation themselves, at the moment they choose)."""
    from orders import services

    sent: list[tuple[str, tuple, float]] = []
    monkeypatch.setattr(services, "_safe_delay", lambda task, *args, countdown=0: sent.append((task.name, args, countdown)))
    return sent


def sync_catalogue() -> None:
    """The market catalogue through the sync (the same mapping production uses)."""
    from sync.models import SyncRun
    from sync.report import start_run
    from sync.steps import sync_markets

    sync_markets(run=start_run(kind=SyncRun.Kind.MARKETS), exchanges=["polymarket", "kalshi"])


def sync_one_customer(customer_id: str) -> Customer:
    """Mirror one end-user (row, wallet, links) and its orders/fills/positions/balances through the sync."""
    from customers.sync import upsert_users
    from parsec.client import get_client
    from sync.models import SyncRun
    from sync.report import start_run
    from sync.steps import sync_customer

    upsert_users([get_client().get_user(customer_id=customer_id)], now=timezone.now())
    customer = Customer.objects.get(parsec_customer_id=customer_id)
    sync_customer(run=start_run(kind=SyncRun.Kind.CUSTOMER_FULL, customer=customer))
    return customer


@pytest.fixture
def sandbox_customer(parsec_settings, transactional_db):
    """A fresh end-user at the sandbox, onboarded (managed) to Polymarket and (self) to Kalshi,
    mirrored with its balances; plus the sandbox's active binary markets in the catalogue."""
    from parsec.client import get_client

    client = get_client()
    user = client.create_user(external_id=f"trading-test-{uuid.uuid4().hex[:10]}", email="t@example.com")
    client.onboard(customer_id=user.customer_id, exchange="polymarket", mode="managed")
    sync_catalogue()
    customer = sync_one_customer(user.customer_id)
    assert customer.exchange_links.filter(exchange="polymarket").exists()
    assert customer.balance_snapshots.filter(exchange="polymarket").exists()
    return customer


@pytest.fixture
def fault(sandbox, sandbox_customer):
    """Inject one fault on this customer's next order creation (and clear it afterwards)."""
    ids = []

    def inject(kind: str, **extra):
        rule = sandbox.control("POST", "faults", json={
            "kind": kind, "endpoint": "orders.create", "customer_id": str(sandbox_customer.parsec_customer_id),
            "count": 1, **extra,
        }).json()
        ids.append(rule["id"])

    yield inject
    for rule_id in ids:
        sandbox.control("DELETE", f"faults/{rule_id}")
