"""What the market-lifecycle tests do in the sandbox (through Parsec's SDK and its control plane)
and in the mirror (through the sync), shared by their modules."""

from __future__ import annotations

import uuid
from decimal import Decimal

from customers.models import Customer
from sync.models import SyncRun
from sync.report import start_run
from sync.steps import sync_customer, sync_markets, sync_users

KALSHI_PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAsandbox\n-----END RSA PRIVATE KEY-----"


def as_user(customer_id: str) -> dict:
    return {"extra_headers": {"X-Builder-Customer-Id": customer_id}}


def new_market(sandbox, **fields) -> dict:
    """A market of the test's own (never a seeded one): makers that hold still around ``price``."""
    body = {"exchange": "kalshi", "question": f"Lifecycle {uuid.uuid4().hex[:8]}?", "price": "0.40", "makers_walk": False, **fields}
    return sandbox.control("POST", "markets", json=body).json()


def market_id(market: dict) -> str:
    return market.get("condition_id") or market["exchange_market_id"] if market["exchange"] == "polymarket" else market["exchange_market_id"]


def new_user(client, *, prefix: str = "life") -> str:
    customer_id = client.builder.users.create(external_id=f"{prefix}-{uuid.uuid4().hex[:10]}", qps_limit=100).customer_id
    client.builder.onboard.create(customer_id=customer_id, exchange="polymarket", mode="managed")
    client.builder.onboard.create(customer_id=customer_id, exchange="kalshi", mode="self", api_key_id="kid", private_key=KALSHI_PEM)
    return customer_id


def book(client, market: dict, outcome: str) -> dict:
    return client.orderbook.with_raw_response.retrieve(parsec_id=market["parsec_id"], outcome=outcome).http_response.json()


def best_ask(client, market: dict, outcome: str) -> Decimal:
    return Decimal(str(book(client, market, outcome)["asks"][0][0]))


def best_bid(client, market: dict, outcome: str) -> Decimal:
    return Decimal(str(book(client, market, outcome)["bids"][0][0]))


def place(client, customer_id: str, market: dict, *, outcome: str, side: str, price, size, **kwargs) -> dict:
    return client.orders.with_raw_response.create(
        exchange=market["exchange"], market_id=market_id(market), outcome=outcome, side=side, price=float(price), size=float(size),
        **as_user(customer_id), **kwargs,
    ).http_response.json()


def cancel(client, customer_id: str, market: dict, order_id: str) -> dict:
    return client.orders.with_raw_response.cancel(order_id, exchange=market["exchange"], **as_user(customer_id)).http_response.json()


def fills(client, customer_id: str, market: dict) -> list[dict]:
    return client.fills.with_raw_response.list(exchange=market["exchange"], market_id=market_id(market), **as_user(customer_id)).http_response.json()


def balance_units(client, customer_id: str, exchange: str) -> int:
    """The balance as Parsec shows it, in USDC base units (Kalshi's whole cents x 10,000)."""
    raw = client.account.with_raw_response.balance(exchange=exchange, **as_user(customer_id)).http_response.json()["raw"]["balance"]
    return int(raw) if exchange == "polymarket" else int(raw) * 10_000


def sandbox_settlements(sandbox, **query) -> list[dict]:
    return sandbox.control("GET", "settlements", params=query).json()["settlements"]


def sync_all(*customer_ids: str) -> list[SyncRun]:
    """Users, markets, then these customers: what the beat does, in this process."""
    runs = [sync_users(run=start_run(kind=SyncRun.Kind.USERS)), sync_markets(run=start_run(kind=SyncRun.Kind.MARKETS))]
    for customer_id in customer_ids:
        customer = Customer.objects.get(parsec_customer_id=customer_id)
        runs.append(sync_customer(run=start_run(kind=SyncRun.Kind.CUSTOMER_FULL, customer=customer)))
    assert all(run.status == SyncRun.Status.SUCCEEDED for run in runs), [(run.kind, run.errors) for run in runs]
    return runs


def cash_units(price, size) -> int:
    """A fill's notional in base units, cut toward zero: what the balance moves by."""
    return int((Decimal(str(price)) * Decimal(str(size)) * 1_000_000).to_integral_value(rounding="ROUND_DOWN"))


def fee_units(fill: dict) -> int:
    return int((Decimal(str(fill["fee"])) * 1_000_000).to_integral_value())
