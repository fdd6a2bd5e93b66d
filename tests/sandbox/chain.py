"""Test helpers for the sandbox chain, read over its JSON-RPC (``/_chain``) with web3 as any client would.

A test's own wallet gets mock USDC and gas from the faucet and approves the escrow with a
transaction it signs itself (``eth_sendRawTransaction``), as an end-user's wallet would.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from eth_account import Account
from web3 import HTTPProvider, Web3

ROOT = Path(__file__).resolve().parent.parent.parent
ESCROW = "0xbd25057b4d3252ca1ec26e1e5efb6480315ba142"
USDC = "0x2791bca1f2de4661ed88a30c99a7a9449aa84174"
MAX_UINT = 2**256 - 1
STATES = {1: "pulled", 2: "distributed", 3: "partially_distributed", 4: "refunded"}
REASONS = {0: None, 1: "cancelled", 2: "expired", 3: "rejected", 4: "stuck_pending", 5: "stale"}


@cache
def abi(name: str) -> list:
    return json.loads((ROOT / "contracts" / "build" / f"{name}.abi.json").read_text())


def web3(sandbox) -> Web3:
    return Web3(HTTPProvider(f"{sandbox.base_url}/_chain", request_kwargs={"timeout": 60}))


def escrow(sandbox):
    return web3(sandbox).eth.contract(address=Web3.to_checksum_address(ESCROW), abi=abi("ParsecFeeEscrow"))


def usdc(sandbox):
    return web3(sandbox).eth.contract(address=Web3.to_checksum_address(USDC), abi=abi("MockUSDC"))


def usdc_balance(sandbox, address: str) -> int:
    return usdc(sandbox).functions.balanceOf(Web3.to_checksum_address(address)).call()


def fund(sandbox, account, *, usdc_amount: int, approve: bool = True) -> None:
    """Mock USDC and gas from the faucet, then (optionally) the wallet's own approval of the escrow."""
    sandbox.control("POST", "chain/faucet", json={"address": account.address, "usdc": str(usdc_amount), "native_wei": str(10**17)})
    sandbox.mine()
    if approve:
        send(sandbox, account, USDC, usdc(sandbox).functions.approve(Web3.to_checksum_address(ESCROW), MAX_UINT)._encode_transaction_data())
        sandbox.mine()


def sign(sandbox, account, to: str, data: str, *, gas: int = 120_000) -> str:
    """A transaction signed by the test's wallet (0x hex), with the chain's nonce and gas price."""
    w3 = web3(sandbox)
    tx = {"chainId": 137, "nonce": w3.eth.get_transaction_count(account.address), "to": Web3.to_checksum_address(to),
          "data": data, "gas": gas, "maxFeePerGas": w3.eth.gas_price, "maxPriorityFeePerGas": 0, "value": 0, "type": 2}
    return "0x" + bytes(Account.sign_transaction(tx, account.key).raw_transaction).hex()


def send(sandbox, account, to: str, data: str, *, gas: int = 120_000) -> str:
    """Sign and send with eth_sendRawTransaction (queued for the next block); the transaction hash."""
    return web3(sandbox).eth.send_raw_transaction(sign(sandbox, account, to, data, gas=gas)).hex()


def record(sandbox, fee_order_id: str, *, mine: bool = True) -> dict | None:
    """The escrow's feeRecords(orderId) and the order's events, after mining what is queued."""
    if mine:
        sandbox.mine()
    contract = escrow(sandbox)
    order_id = bytes.fromhex(fee_order_id.removeprefix("0x"))
    values = contract.functions.feeRecords(order_id).call()
    names = [o["name"] for o in contract.get_function_by_name("feeRecords").abi["outputs"][0]["components"]]
    raw = dict(zip(names, values, strict=True))
    if raw["status"] == 0:
        return None
    events = []
    for name in ("FeePulled", "FeeDistributed", "FeeRefunded"):
        for log in getattr(contract.events, name)().get_logs(from_block=0, argument_filters={"orderId": order_id}):
            events.append((log["blockNumber"], log["logIndex"], name, dict(log["args"])))
    events.sort()
    return {
        "status": STATES[raw["status"]], "payer": raw["payer"].lower(), "fee_amount": raw["feeAmount"],
        "affiliate": raw["affiliate"].lower(), "treasury": raw["treasury"].lower(), "affiliate_bps": raw["affiliateBps"],
        "filled": raw["filled"], "size": raw["size"], "affiliate_amount": raw["affiliateAmount"],
        "treasury_amount": raw["treasuryAmount"], "refund_amount": raw["refundAmount"], "refund_reason": REASONS[raw["refundReason"]],
        "held_amount": raw["feeAmount"] if raw["status"] == 1 else 0, "deadline": raw["deadline"],
        "pulled_at": raw["pulledAt"], "settled_at": raw["settledAt"],
        "events": [name for *_, name, _ in events], "event_args": [args for *_, args in events],
    }


ESCROW_CHECKSUM = Web3.to_checksum_address(ESCROW)
