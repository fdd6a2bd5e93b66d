"""A sandbox whose market makers never move (so "nothing changed" is true) and helpers that
let end-users trade in it through the official SDK."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from tests.conftest import start_sandbox, stop_sandbox
from tests.scripted_parsec import scripted_parsec

KALSHI_PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAsandbox\n-----END RSA PRIVATE KEY-----"


@pytest.fixture(scope="session")
def still_sandbox(tmp_path_factory):
    """Quotes move once every ~30 years of simulated time: prices hold still between syncs."""
    proc = start_sandbox(tmp_path_factory.mktemp("still-sandbox"), extra_env={"SANDBOX_MM_STEP_SECONDS": str(10**9)})
    yield proc
    stop_sandbox(proc)


@pytest.fixture
def sync_settings(settings, still_sandbox):
    settings.PARSEC_API_BASE_URL = still_sandbox.base_url
    settings.PARSEC_API_KEY = still_sandbox.builder_key
    settings.PARSEC_SANDBOX_ADMIN_KEY = still_sandbox.admin_key
    return settings


@pytest.fixture(scope="session")
def sdk(still_sandbox):
    return still_sandbox.sdk()


def as_user(customer_id: str) -> dict:
    return {"extra_headers": {"X-Builder-Customer-Id": customer_id}}


def order_market_id(market) -> str:
    return market.condition_id or market.exchange_market_id if market.exchange == "polymarket" else market.exchange_market_id


def pick_markets(sdk) -> dict[str, object]:
    page = sdk.markets.list(exchanges=["polymarket", "kalshi"], limit=100)
    chosen = {}
    for market in page.markets:
        if market.market_type == "binary" and market.status == "active":
            chosen.setdefault(market.exchange, market)
    assert set(chosen) == {"polymarket", "kalshi"}, "the seed has an active binary market on each exchange"
    return chosen


def new_customer(sdk, *, prefix: str = "sync") -> str:
    user = sdk.builder.users.create(external_id=f"{prefix}-{uuid.uuid4().hex[:10]}", qps_limit=50)
    sdk.builder.onboard.create(customer_id=user.customer_id, exchange="polymarket", mode="managed")
    sdk.builder.onboard.create(customer_id=user.customer_id, exchange="kalshi", mode="self", api_key_id="kid", private_key=KALSHI_PEM)
    return user.customer_id


def best(sdk, market, side: str) -> Decimal:
    book = sdk.orderbook.retrieve(parsec_id=market.parsec_id, outcome="Yes")
    levels = book.asks if side == "ask" else book.bids
    return Decimal(str(levels[0][0]))


def trade(sdk, customer_id: str, markets: dict) -> dict[str, list[str]]:
    """On each exchange: a buy that fills against the makers, one that rests, one cancelled."""
    placed: dict[str, list[str]] = {}
    for exchange, market in markets.items():
        mid = order_market_id(market)
        tick = Decimal(str(market.tick_size or "0.01"))
        ask, bid = best(sdk, market, "ask"), best(sdk, market, "bid")
        filled = sdk.orders.create(exchange=exchange, market_id=mid, outcome="Yes", side="buy", price=float(ask), size=10, **as_user(customer_id))
        resting = sdk.orders.create(exchange=exchange, market_id=mid, outcome="Yes", side="buy", price=float(max(tick, bid - 5 * tick)), size=7, **as_user(customer_id))
        doomed = sdk.orders.create(exchange=exchange, market_id=mid, outcome="Yes", side="buy", price=float(max(tick, bid - 6 * tick)), size=6, **as_user(customer_id))
        sdk.orders.cancel(doomed.id, exchange=exchange, **as_user(customer_id))
        placed[exchange] = [filled.id, resting.id, doomed.id]
    return placed


@pytest.fixture
def parsec_server():
    """A scripted Parsec (tests/scripted_parsec.py): for payloads the sandbox would never send."""
    with scripted_parsec() as server:
        yield server
