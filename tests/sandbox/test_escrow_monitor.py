"""The escrow monitor: refunds after 10 minutes stuck pending and settles after 24 hours.

A second sandbox process keeps orders ``pending`` for a long time
(SANDBOX_PENDING_DELAY_SECONDS), so the monitor's rules can be reached by advancing the clock
through the control plane.
"""

from __future__ import annotations

import pytest

from tests.sandbox import chain
from tests.sandbox.escrow_client import FUNDED, Wallet, balance, new_user, place, record
from tests.sandbox_client import start_sandbox, stop_sandbox

PENDING_DELAY = 100_000  # longer than a day: an order stays pending until the clock passes it


@pytest.fixture(scope="module")
def slow_sandbox(tmp_path_factory):
    proc = start_sandbox(tmp_path_factory.mktemp("slow-sandbox"), extra_env={"SANDBOX_PENDING_DELAY_SECONDS": str(PENDING_DELAY)})
    yield proc
    stop_sandbox(proc)


@pytest.fixture(scope="module")
def client(slow_sandbox):
    return slow_sandbox.sdk()


@pytest.fixture(scope="module")
def market(client):
    body = client.markets.with_raw_response.list(exchanges=["polymarket"], limit=100).http_response.json()
    return next(m for m in body["markets"] if m["market_type"] == "binary")


def unix_now(sandbox) -> int:
    return sandbox.control("GET", "clock").json()["unix"]


def test_stuck_pending_is_refunded_after_ten_minutes_then_stale_after_a_day(slow_sandbox, client, market):
    customer, wallet = new_user(client), Wallet(slow_sandbox)
    before = balance(client, customer)
    stuck = wallet.fee_auth(200_000, deadline=unix_now(slow_sandbox) + 300)
    status, order = place(client, customer, market, price=0.05, size=2000, fee_auth=stuck)
    assert (status, order["status"]) == (200, "pending")
    slow_sandbox.control("POST", "clock/advance", json={"seconds": 540})  # 9 minutes: not yet
    assert record(slow_sandbox, stuck["order_id"])["status"] == "pulled"
    slow_sandbox.control("POST", "clock/advance", json={"seconds": 120})  # 11 minutes
    data = record(slow_sandbox, stuck["order_id"])
    assert (data["status"], data["refund_amount"], data["refund_reason"]) == ("refunded", 200_000, "stuck_pending")
    assert data["events"] == ["FeePulled", "FeeRefunded"]
    assert data["settled_at"] - data["pulled_at"] >= 600  # on the chain's clock too
    # The fee is back in the wallet; the order's own reservation is still held while it is pending.
    assert chain.usdc_balance(slow_sandbox, wallet.address) == FUNDED
    assert balance(client, customer) == before - 100_000_000

    # A second order: when the pending delay passes it rests unfilled; a day after the pull the
    # monitor settles it as stale (nothing filled: full refund). The first order is not refunded twice.
    stale = wallet.fee_auth(300_000, deadline=unix_now(slow_sandbox) + 300)
    assert place(client, customer, market, price=0.05, size=2000, fee_auth=stale)[0] == 200
    slow_sandbox.control("POST", "clock/advance", json={"seconds": PENDING_DELAY + 60})
    data = record(slow_sandbox, stale["order_id"])
    assert (data["status"], data["refund_amount"], data["refund_reason"]) == ("refunded", 300_000, "stale")
    assert record(slow_sandbox, stuck["order_id"])["events"] == ["FeePulled", "FeeRefunded"]
    assert chain.usdc_balance(slow_sandbox, wallet.address) == FUNDED
