"""The sandbox chain as a client sees it: standard JSON-RPC on ``/_chain`` (web3's HTTPProvider,
and raw requests for the error shapes), the demo wallets' funds, the control plane's mining,
snapshot and revert; and, on sandboxes of their own that mine only when asked, that every escrow
record of the sandbox's own accounting is what the chain holds, before and after a restart."""

from __future__ import annotations

import json
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest
import requests
from eth_account import Account
from web3 import Web3

from tests.sandbox import chain
from tests.sandbox.escrow_client import FUNDED, Wallet, best, max_fee, min_fee, new_user, place
from tests.sandbox_client import start_sandbox, stop_sandbox

ROOT = Path(__file__).resolve().parent.parent.parent


def rpc(sandbox, method: str, params=None, *, raw_body=None):
    body = raw_body if raw_body is not None else json.dumps({"jsonrpc": "2.0", "id": 7, "method": method, "params": params or []})
    response = requests.post(f"{sandbox.base_url}/_chain", data=body, headers={"Content-Type": "application/json"}, timeout=30)
    return response.status_code, response.json()


def test_web3_reads_the_chain_like_a_polygon_node(sandbox):
    w3 = chain.web3(sandbox)
    assert w3.eth.chain_id == 137
    head = w3.eth.get_block("latest")
    assert head["number"] == w3.eth.block_number and head["parentHash"] == w3.eth.get_block(head["number"] - 1)["hash"]
    runtime = json.loads((ROOT / "contracts" / "build" / "ParsecFeeEscrow.json").read_text())["bytecode_runtime"]
    assert w3.eth.get_code(Web3.to_checksum_address(chain.ESCROW)).hex().removeprefix("0x") == runtime.removeprefix("0x")
    assert (chain.usdc(sandbox).functions.decimals().call(), chain.usdc(sandbox).functions.symbol().call()) == (6, "USDC")
    assert chain.escrow(sandbox).functions.token().call() == Web3.to_checksum_address(chain.USDC)
    # The split of the demo builder is on chain (set in block 1).
    splits = chain.escrow(sandbox).functions.splits(1).call()
    assert splits[2] == 5000 and splits[1] != "0x" + "00" * 20


def test_demo_wallets_hold_mock_usdc_and_have_approved_the_escrow(sandbox):
    users = sandbox.sdk().builder.users.list(limit=100).users
    for user in (u for u in users if (u.external_id or "").startswith("demo-")):
        address = Web3.to_checksum_address(user.wallet.eoa_address)
        assert chain.usdc_balance(sandbox, address) > 0
        assert chain.usdc(sandbox).functions.allowance(address, Web3.to_checksum_address(chain.ESCROW)).call() == chain.MAX_UINT


@pytest.mark.parametrize(("body", "code"), [
    ("{not json", -32700),
    (json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_mine_everything", "params": []}), -32601),
    (json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_getBlockByNumber", "params": ["yesterday", False]}), -32602),
    (json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_getLogs", "params": [{"fromBlock": "0x0", "toBlock": "0x186a0"}]}), -32000),
    (json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_getLogs", "params": [{"topics": [["0x1234"]]}]}), -32602),
    (json.dumps({"id": 1, "method": "eth_blockNumber"}), -32600),
    (json.dumps([]), -32600),
])
def test_bad_json_rpc_gets_an_error_in_json_rpc_shape(sandbox, body, code):
    status, answer = rpc(sandbox, "", raw_body=body)
    assert status == 200
    assert answer["jsonrpc"] == "2.0" and answer["error"]["code"] == code and answer["error"]["message"]


def test_a_get_or_a_batch_is_answered_in_json_rpc_shape(sandbox):
    response = requests.get(f"{sandbox.base_url}/_chain", timeout=10)
    assert response.status_code == 405 and response.json()["error"]["code"] == -32600
    batch = [{"jsonrpc": "2.0", "id": i, "method": m, "params": []} for i, m in enumerate(["eth_chainId", "net_version", "nope"])]
    answers = requests.post(f"{sandbox.base_url}/_chain", json=batch, timeout=10).json()
    assert [a["id"] for a in answers] == [0, 1, 2]
    assert (answers[0]["result"], answers[1]["result"], answers[2]["error"]["code"]) == ("0x89", "137", -32601)


def test_a_reverting_call_says_why(sandbox):
    data = chain.escrow(sandbox).functions.setSplit(1, chain.ESCROW_CHECKSUM, chain.ESCROW_CHECKSUM, 1)._encode_transaction_data()
    _, answer = rpc(sandbox, "eth_call", [{"to": chain.ESCROW, "data": data}, "latest"])
    assert answer["error"]["code"] == 3 and "only the owner" in answer["error"]["message"]


def test_a_wallet_funds_itself_approves_and_its_transactions_get_receipts(sandbox):
    account = Account.create()
    sandbox.control("POST", "chain/faucet", json={"address": account.address, "usdc": "2500000", "native_wei": str(10**17)})
    assert chain.usdc_balance(sandbox, account.address) == 0  # queued, not mined
    sandbox.mine()
    assert chain.usdc_balance(sandbox, account.address) == 2_500_000
    raw = chain.sign(sandbox, account, chain.USDC, chain.usdc(sandbox).functions.approve(chain.ESCROW_CHECKSUM, 123)._encode_transaction_data())
    tx_hash = rpc(sandbox, "eth_sendRawTransaction", [raw])[1]["result"]
    w3 = chain.web3(sandbox)
    assert w3.eth.get_transaction_count(account.address) == 0
    sandbox.mine()
    receipt = w3.eth.get_transaction_receipt(tx_hash)
    assert receipt["status"] == 1 and receipt["from"] == account.address and receipt["blockNumber"] == w3.eth.block_number
    assert chain.usdc(sandbox).functions.allowance(account.address, chain.ESCROW_CHECKSUM).call() == 123
    assert w3.eth.get_transaction(tx_hash)["nonce"] == 0
    replay = rpc(sandbox, "eth_sendRawTransaction", [raw])[1]
    assert replay["error"]["message"] == "nonce too low"


@pytest.mark.parametrize(("body", "status"), [({"address": "0x12"}, 400), ({"address": "0x" + "12" * 20}, 400),
                                              ({"address": "0x" + "12" * 20, "usdc": "-1"}, 400), ({"snapshot_id": 999_999}, 404)])
def test_bad_chain_control_input_is_a_4xx_in_parsecs_shape(sandbox, body, status):
    path = "chain/revert" if "snapshot_id" in body else "chain/faucet"
    response = requests.post(f"{sandbox.base_url}/_sandbox/{path}", json=body, headers={"X-Sandbox-Admin-Key": sandbox.admin_key}, timeout=10)
    assert response.status_code == status
    assert set(response.json()) == {"error", "code", "retryable"}


# --- Sandboxes of their own: mining only when asked -------------------------------------------------

MANUAL = {"SANDBOX_CHAIN_BLOCK_SECONDS": "0"}


def sandbox_records(path: Path) -> list[dict]:
    """The sandbox's own escrow accounting, read from its database file."""
    with sqlite3.connect(path) as db:
        db.row_factory = sqlite3.Row
        return [dict(row) for row in db.execute("SELECT * FROM sandbox_escrowrecord ORDER BY id")]


def assert_every_record_agrees(sandbox) -> int:
    records = sandbox_records(sandbox.database)
    held = 0
    for ours in records:
        theirs = chain.record(sandbox, ours["fee_order_id"], mine=False)
        assert theirs is not None, ours["fee_order_id"]
        assert (theirs["status"], theirs["payer"], theirs["fee_amount"], theirs["deadline"], theirs["affiliate"], theirs["treasury"],
                theirs["affiliate_bps"], theirs["affiliate_amount"], theirs["treasury_amount"], theirs["refund_amount"],
                theirs["refund_reason"]) == (
            ours["status"], ours["payer"], ours["fee_amount"], ours["deadline"], ours["affiliate_address"], ours["treasury_address"],
            ours["affiliate_share_bps"], ours["affiliate_amount"], ours["treasury_amount"], ours["refund_amount"],
            ours["refund_reason"] or None), ours["fee_order_id"]
        if ours["status"] != "pulled":  # the sandbox keeps the fill ratio to 10 places; the chain keeps filled and size
            assert abs(Decimal(theirs["filled"]) / Decimal(theirs["size"]) - Decimal(str(ours["fill_ratio"]))) < Decimal("1e-9")
        held += theirs["held_amount"]
    # On chain the escrow holds exactly the fees not settled yet.
    assert chain.usdc_balance(sandbox, chain.ESCROW) == held
    return len(records)


@pytest.fixture
def manual_sandbox(tmp_path):
    proc = start_sandbox(tmp_path, extra_env=MANUAL)
    yield proc
    stop_sandbox(proc)


def a_day_of_fees(sandbox, client, *, wallet) -> list[str]:
    """Fee orders down every path: filled, partly filled then cancelled, resting then cancelled,
    a failed submission, an IOC that fills in part; odd fees so rounding shows."""
    markets = [m for m in client.markets.with_raw_response.list(exchanges=["polymarket"], limit=100).http_response.json()["markets"]
               if m["market_type"] == "binary"]
    customer = new_user(client)
    headers = {"X-Builder-Customer-Id": customer}
    ids = []
    ask = best(client, markets[0], "buy")
    auth = wallet.fee_auth(max_fee(ask["price"], ask["size"]))
    assert place(client, customer, markets[0], price=ask["price"], size=ask["size"], fee_auth=auth)[0] == 200
    ids.append(auth["order_id"])
    ask = best(client, markets[1], "buy")
    size = float(Decimal(str(ask["size"])) * 3)
    auth = wallet.fee_auth(max_fee(ask["price"], size))
    status, order = place(client, customer, markets[1], price=ask["price"], size=size, fee_auth=auth)
    assert status == 200 and order["status"] == "partially_filled", order
    client.orders.cancel(order["id"], exchange="polymarket", extra_headers=headers)
    ids.append(auth["order_id"])
    auth = wallet.fee_auth(100_003)
    status, order = place(client, customer, markets[2], price=0.05, size=2000, fee_auth=auth)
    client.orders.cancel(order["id"], exchange="polymarket", extra_headers=headers)
    ids.append(auth["order_id"])
    sandbox.control("POST", "faults", json={"kind": "submission_failure", "endpoint": "orders.create", "customer_id": customer, "count": 1})
    auth = wallet.fee_auth(100_007)
    assert place(client, customer, markets[3], price=0.05, size=2000, fee_auth=auth)[0] == 200
    ids.append(auth["order_id"])
    ask = best(client, markets[4], "buy")
    size = float(Decimal(str(ask["size"])) + 7)
    auth = wallet.fee_auth(min_fee(ask["price"], size) + 9)  # odd, and above the floor whatever the book holds
    status, order = place(client, customer, markets[4], price=ask["price"], size=size, fee_auth=auth,
                          order_type="ioc")
    assert status == 200 and order["status"] == "cancelled" and float(order["filled"]) > 0, order
    ids.append(auth["order_id"])
    auth = wallet.fee_auth(100_011)  # stays pulled
    assert place(client, customer, markets[5], price=0.05, size=2000, fee_auth=auth)[0] == 200
    ids.append(auth["order_id"])
    return ids


def test_every_escrow_record_of_the_sandbox_is_what_the_chain_holds(manual_sandbox):
    client = manual_sandbox.sdk()
    wallet = Wallet(manual_sandbox, usdc=FUNDED)
    ids = a_day_of_fees(manual_sandbox, client, wallet=wallet)
    assert all(chain.record(manual_sandbox, i, mine=False) is None for i in ids)  # nothing mined yet: only queued
    manual_sandbox.mine()
    assert assert_every_record_agrees(manual_sandbox) == len(ids) == 6
    assert manual_sandbox.control("GET", "chain").json()["failed"] == 0
    states = [chain.record(manual_sandbox, i, mine=False)["status"] for i in ids]
    assert states == ["distributed", "partially_distributed", "refunded", "refunded", "partially_distributed", "pulled"]


def test_the_chain_survives_a_restart_and_mines_what_was_queued(tmp_path):
    database = tmp_path / "restarted.sqlite3"
    first = start_sandbox(tmp_path, extra_env=MANUAL, database=database)
    try:
        client = first.sdk()
        wallet = Wallet(first, usdc=FUNDED)
        customer = new_user(client)
        market = next(m for m in client.markets.with_raw_response.list(exchanges=["polymarket"], limit=100).http_response.json()["markets"]
                      if m["market_type"] == "binary")
        mined = wallet.fee_auth(100_000)
        status, order = place(client, customer, market, price=0.05, size=2000, fee_auth=mined)
        head = first.mine()
        client.orders.cancel(order["id"], exchange="polymarket", extra_headers={"X-Builder-Customer-Id": customer})  # queued only
    finally:
        stop_sandbox(first)
    second = start_sandbox(tmp_path, extra_env=MANUAL, database=database, reset=False)
    try:
        status = second.control("GET", "chain").json()
        assert (status["block_number"], status["block_hash"], status["queued"]) == (head["block_number"], head["block_hash"], 1)
        assert chain.record(second, mined["order_id"], mine=False)["status"] == "pulled"
        assert chain.usdc_balance(second, wallet.address) == FUNDED - 100_000
        second.mine()
        assert chain.record(second, mined["order_id"], mine=False)["status"] == "refunded"
        assert chain.usdc_balance(second, wallet.address) == FUNDED
        assert assert_every_record_agrees(second) == 1
    finally:
        stop_sandbox(second)
