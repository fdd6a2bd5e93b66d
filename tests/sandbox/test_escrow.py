"""Fee escrow through the running sandbox: the official SDK places orders with ``fee_auth``, and
the escrow contract on the sandbox chain is read over JSON-RPC (feeRecords + events) to the base unit.

Each test uses a fresh end-user and a fresh local wallet key (signing happens here, in the
test, as an end-user's wallet would); the wallet gets mock USDC from the faucet and approves the
escrow itself. The seeded demo wallets are funded at genesis and signed for by the control plane.
"""

from __future__ import annotations

import math
import time
from decimal import Decimal

import pytest
from eth_account import Account

from tests.sandbox import chain
from tests.sandbox.escrow_client import (
    FUNDED,
    Wallet,
    balance,
    best,
    max_fee,
    min_fee,
    new_user,
    place,
    raw,
    record,
)


@pytest.fixture(scope="module")
def client(sandbox):
    return sandbox.sdk()


@pytest.fixture(scope="module")
def poly_markets(client):
    status, body = raw(client.markets.with_raw_response.list, exchanges=["polymarket"], limit=100)
    assert status == 200
    return [m for m in body["markets"] if m["exchange"] == "polymarket" and m["market_type"] == "binary"]


@pytest.fixture(scope="module")
def kalshi_market(client):
    _status, body = raw(client.markets.with_raw_response.list, exchanges=["kalshi"], limit=100)
    return next(m for m in body["markets"] if m["exchange"] == "kalshi" and m["market_type"] == "binary")


def test_filled_order_pulls_the_fee_then_distributes_it_by_the_affiliate_share(sandbox, client, poly_markets):
    customer, wallet = new_user(client), Wallet(sandbox)
    market = poly_markets[0]
    ask = best(client, market, "buy")
    size = ask["size"]  # exactly the best level: fills at one price
    fee = max_fee(ask["price"], size)
    before = balance(client, customer)
    auth = wallet.fee_auth(fee)
    status, order = place(client, customer, market, price=ask["price"], size=size, fee_auth=auth)
    assert status == 200 and order["status"] == "filled"
    notional = int(Decimal(str(ask["price"])) * Decimal(str(size)) * 1_000_000)
    assert before - balance(client, customer) == notional  # the fee comes from the payer's wallet, not the exchange balance

    config = client.builder.escrow.with_raw_response.config().http_response.json()
    data = record(sandbox, auth["order_id"])
    affiliate = fee * config["affiliate_fee_bps"] // 10_000
    assert data["status"] == "distributed"
    assert (data["fee_amount"], data["affiliate_amount"], data["treasury_amount"], data["refund_amount"], data["held_amount"]) == (
        fee, affiliate, fee - affiliate, 0, 0)
    assert data["payer"] == wallet.address.lower()
    assert data["affiliate"] == config["affiliate_address"].lower()
    assert data["treasury"] == config["treasury_address"].lower()
    assert data["events"] == ["FeePulled", "FeeDistributed"]
    assert data["event_args"][0]["amount"] == fee
    assert (data["event_args"][1]["affiliateAmount"], data["event_args"][1]["treasuryAmount"]) == (affiliate, fee - affiliate)
    assert chain.usdc_balance(sandbox, wallet.address) == FUNDED - fee


def test_partial_fill_then_cancel_splits_the_filled_share_and_refunds_the_rest(sandbox, client, poly_markets):
    customer, wallet = new_user(client), Wallet(sandbox)
    market = poly_markets[1]
    ask = best(client, market, "buy")
    level = Decimal(str(ask["size"]))
    size = float(level * 2)  # the best level fills half; the rest rests at the best ask's price
    fee = (min_fee(ask["price"], size) + max_fee(ask["price"], size)) // 2 | 1  # odd, so the rounding shows
    auth = wallet.fee_auth(fee)
    status, order = place(client, customer, market, price=ask["price"], size=size, fee_auth=auth)
    assert status == 200 and order["status"] == "partially_filled", order
    assert record(sandbox, auth["order_id"])["status"] == "pulled"
    assert chain.usdc_balance(sandbox, wallet.address) == FUNDED - fee
    before_cancel = balance(client, customer)

    cancelled = client.orders.cancel(order["id"], exchange="polymarket", extra_headers={"X-Builder-Customer-Id": customer})
    assert cancelled.status == "cancelled"
    data = record(sandbox, auth["order_id"])
    filled = Decimal(str(cancelled.filled))
    distributed = math.floor(Decimal(fee) * filled / Decimal(str(size)))
    affiliate = distributed * 5000 // 10_000
    assert data["status"] == "partially_distributed"
    assert (data["filled"], data["size"]) == (int(filled * 100), int(Decimal(str(size)) * 100))
    assert (data["affiliate_amount"], data["treasury_amount"], data["refund_amount"]) == (affiliate, distributed - affiliate, fee - distributed)
    assert data["refund_reason"] == "cancelled"
    assert data["events"] == ["FeePulled", "FeeDistributed", "FeeRefunded"]
    # The payer's wallet got the unfilled share back; the exchange balance got the order's released reservation.
    assert chain.usdc_balance(sandbox, wallet.address) == FUNDED - distributed
    assert balance(client, customer) > before_cancel


def test_cancel_of_a_resting_order_refunds_the_whole_fee(sandbox, client, poly_markets):
    customer, wallet = new_user(client), Wallet(sandbox)
    market = poly_markets[2]
    auth = wallet.fee_auth(150_000)
    before = balance(client, customer)
    status, order = place(client, customer, market, price=0.05, size=2000, fee_auth=auth)
    assert status == 200 and order["status"] == "open", order
    client.orders.cancel(order["id"], exchange="polymarket", extra_headers={"X-Builder-Customer-Id": customer})
    data = record(sandbox, auth["order_id"])
    assert (data["status"], data["refund_amount"], data["refund_reason"]) == ("refunded", 150_000, "cancelled")
    assert data["events"] == ["FeePulled", "FeeRefunded"]
    assert balance(client, customer) == before  # reservation released
    assert chain.usdc_balance(sandbox, wallet.address) == FUNDED  # fee refunded


def test_rejected_submission_refunds_the_fee(sandbox, client, poly_markets, fault):
    customer, wallet = new_user(client), Wallet(sandbox)
    market = poly_markets[3]
    fault(kind="submission_failure", endpoint="orders.create", customer_id=customer, count=1)
    before = balance(client, customer)
    auth = wallet.fee_auth(120_000)
    status, order = place(client, customer, market, price=0.05, size=2000, fee_auth=auth)
    assert status == 200, order
    fetched = client.orders.retrieve(order["id"], exchange="polymarket", extra_headers={"X-Builder-Customer-Id": customer})
    assert fetched.status == "rejected"
    data = record(sandbox, auth["order_id"])
    assert (data["status"], data["refund_amount"], data["refund_reason"]) == ("refunded", 120_000, "rejected")
    assert balance(client, customer) == before
    assert chain.usdc_balance(sandbox, wallet.address) == FUNDED


@pytest.mark.parametrize("case", ["wrong_signer", "expired", "too_close", "below_minimum", "above_tier_max", "payer_mismatch",
                                  "signer_not_payer", "bad_signature", "missing_field", "other_contract"])
def test_invalid_fee_auth_is_refused_and_nothing_is_pulled(sandbox, client, poly_markets, case):
    customer, wallet = new_user(client), Wallet(sandbox)
    market = poly_markets[4]
    price, size = 0.05, 100
    fee = max(min_fee(price, size), 100_000)
    payer = signer = None
    if case == "wrong_signer":
        auth = wallet.fee_auth(fee, signer=Account.create())
    elif case == "expired":
        auth = wallet.fee_auth(fee, deadline=int(time.time()) - 5)
    elif case == "too_close":  # it would expire before the pull is mined
        auth = wallet.fee_auth(fee, deadline=int(time.time()) + 1)
    elif case == "signer_not_payer":  # the contract recovers the payer itself
        auth, signer = wallet.fee_auth(fee), Account.create().address
    elif case == "below_minimum":
        auth = wallet.fee_auth(99_999)
    elif case == "above_tier_max":
        auth = wallet.fee_auth(10_000_000)  # 10 USDC on a 5 USDC order: far above Iron's 50 bps
    elif case == "payer_mismatch":
        auth, payer = wallet.fee_auth(fee), Account.create().address
    elif case == "bad_signature":
        auth = {**wallet.fee_auth(fee), "signature": "0x" + "00" * 65}
    elif case == "missing_field":
        auth = {k: v for k, v in wallet.fee_auth(fee).items() if k != "deadline"}
    else:
        auth = wallet.fee_auth(fee, contract="0x" + "22" * 20)
    before = balance(client, customer)
    status, body = place(client, customer, market, price=price, size=size, fee_auth=auth, payer=payer, signer_address=signer)
    assert status == 400, body
    assert body["code"] == "bad_request"
    assert body["retryable"] is False
    assert balance(client, customer) == before
    orders = client.orders.list(exchange="polymarket", status="all", extra_headers={"X-Builder-Customer-Id": customer})
    assert list(orders) == []
    sandbox.mine()
    assert chain.usdc_balance(sandbox, wallet.address) == FUNDED


def test_a_fee_order_id_is_used_once(sandbox, client, poly_markets):
    customer, wallet = new_user(client), Wallet(sandbox)
    auth = wallet.fee_auth(100_000)
    assert place(client, customer, poly_markets[5], price=0.05, size=20, fee_auth=auth)[0] == 200
    status, body = place(client, customer, poly_markets[5], price=0.05, size=20, fee_auth=auth)
    assert (status, body["code"]) == (400, "bad_request")
    assert "already used" in body["error"]


@pytest.mark.parametrize("short", ["balance", "allowance"])
def test_a_payer_who_cannot_pay_the_fee_on_chain_is_402_and_the_order_is_not_kept(sandbox, client, poly_markets, short):
    customer = new_user(client)
    wallet = Wallet(sandbox, usdc=99_999) if short == "balance" else Wallet(sandbox, approve=False)
    available = balance(client, customer)
    status, body = place(client, customer, poly_markets[0], price=0.05, size=20, fee_auth=wallet.fee_auth(100_000))
    assert (status, body["code"]) == (402, "insufficient_funds"), body
    assert ("balance 99999" if short == "balance" else "allowance to the escrow 0") in body["error"]
    assert balance(client, customer) == available
    orders = client.orders.list(exchange="polymarket", status="all", extra_headers={"X-Builder-Customer-Id": customer})
    assert list(orders) == []


def test_queued_pulls_count_against_what_the_payer_can_pay(sandbox, client, poly_markets):
    """Two fees of 100000 from a wallet holding 150000: the second is refused before the first is even mined."""
    customer, wallet = new_user(client), Wallet(sandbox, usdc=150_000)
    first = wallet.fee_auth(100_000)
    assert place(client, customer, poly_markets[5], price=0.05, size=20, fee_auth=first)[0] == 200
    status, body = place(client, customer, poly_markets[5], price=0.05, size=20, fee_auth=wallet.fee_auth(100_000))
    assert (status, body["code"]) == (402, "insufficient_funds"), body
    # Pulled, and distributed if a resting sell of another test on this session's market filled
    # the order meanwhile (CI's PostgreSQL pass saw that): either way the fee left the wallet.
    assert record(sandbox, first["order_id"])["status"] in ("pulled", "distributed")
    assert chain.usdc_balance(sandbox, wallet.address) == 50_000


def test_kalshi_fee_auth_and_escrow_disabled_are_refused(sandbox, client, poly_markets, kalshi_market):
    customer, wallet = new_user(client), Wallet()
    status, body = place(client, customer, kalshi_market, price=0.05, size=5, exchange="kalshi", fee_auth=wallet.fee_auth(100_000))
    assert (status, body["code"]) == (400, "bad_request")
    assert "polymarket only" in body["error"]
    sandbox.control("POST", f"builders/{sandbox.builder_key}/escrow", json={"fee_escrow_enabled": False})
    try:
        status, body = place(client, customer, poly_markets[0], price=0.05, size=20, fee_auth=wallet.fee_auth(100_000))
        assert (status, body["code"]) == (400, "bad_request")
        assert "not enabled" in body["error"]
    finally:
        sandbox.control("POST", f"builders/{sandbox.builder_key}/escrow", json={"fee_escrow_enabled": True})


def test_control_plane_signs_for_demo_wallets_only(sandbox, client, poly_markets):
    users = client.builder.users.list(limit=100).users
    alice = next(u for u in users if u.external_id == "demo-alice")
    address = alice.wallet.eoa_address
    signed = sandbox.control("POST", f"wallets/{address}/sign-fee-auth", json={"fee_amount": "100000"}).json()
    assert signed["customer_id"] == alice.customer_id
    auth = signed["fee_auth"]
    assert chain.usdc(sandbox).functions.allowance(address, chain.web3(sandbox).to_checksum_address(chain.ESCROW)).call() == chain.MAX_UINT
    status, order = place(client, alice.customer_id, poly_markets[6], price=0.05, size=20, fee_auth=auth)
    assert status == 200, order
    assert record(sandbox, auth["order_id"])["status"] == "pulled"
    client.orders.cancel(order["id"], exchange="polymarket", extra_headers={"X-Builder-Customer-Id": alice.customer_id})
    assert record(sandbox, auth["order_id"])["status"] == "refunded"
    other = Account.create().address
    import requests

    response = requests.post(f"{sandbox.base_url}/_sandbox/wallets/{other}/sign-fee-auth", json={"fee_amount": "1"},
                             headers={"X-Sandbox-Admin-Key": sandbox.admin_key}, timeout=10)
    assert response.status_code == 404
    gone = requests.get(f"{sandbox.base_url}/_sandbox/escrow/records/0x{'ab' * 32}", headers={"X-Sandbox-Admin-Key": sandbox.admin_key}, timeout=10)
    assert (gone.status_code, gone.json()["code"]) == (404, "not_found")  # the chain is where escrow state is read now
