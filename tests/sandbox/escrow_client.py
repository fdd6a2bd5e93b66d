"""Fee-escrow helpers shared by the sandbox's escrow, chain, monitor and lifecycle tests: a payer
wallet that signs fee_auth on the sandbox chain, order placement through the SDK, the demo builder's
fee floor and ceiling."""

from __future__ import annotations

import secrets
import time
import uuid
from decimal import ROUND_CEILING, Decimal

import parsec_api
from eth_account import Account
from eth_account.messages import encode_typed_data

from tests.sandbox import chain
from tests.sandbox.schema import assert_valid

CONTRACT = "0xbd25057b4d3252ca1ec26e1e5efb6480315ba142"


def typed(order_id: str, payer: str, fee: int, deadline: int, contract: str = CONTRACT) -> dict:
    return {
        "types": {
            "EIP712Domain": [{"name": "name", "type": "string"}, {"name": "version", "type": "string"},
                             {"name": "chainId", "type": "uint256"}, {"name": "verifyingContract", "type": "address"}],
            "PullFee": [{"name": "orderId", "type": "bytes32"}, {"name": "payer", "type": "address"},
                        {"name": "feeAmount", "type": "uint256"}, {"name": "deadline", "type": "uint256"}],
        },
        "primaryType": "PullFee",
        "domain": {"name": "ParsecFeeEscrow", "version": "1", "chainId": 137,
                   "verifyingContract": _checksum(contract)},
        "message": {"orderId": bytes.fromhex(order_id[2:]), "payer": payer, "feeAmount": fee, "deadline": deadline},
    }


def _checksum(address: str) -> str:
    from eth_utils import to_checksum_address

    return to_checksum_address(address)


FUNDED = 10_000_000  # 10 USDC of mock USDC on chain


class Wallet:
    """An end-user's own wallet: the key stays in the test. With a sandbox, it gets ``usdc`` mock
    USDC and approves the escrow (unless ``approve`` is false) before the test starts."""

    def __init__(self, sandbox=None, *, usdc: int = FUNDED, approve: bool = True):
        self.account = Account.create()
        self.address = self.account.address
        if sandbox is not None:
            chain.fund(sandbox, self.account, usdc_amount=usdc, approve=approve)

    def fee_auth(self, fee: int, *, deadline: int | None = None, order_id: str | None = None, signer=None, contract=CONTRACT) -> dict:
        order_id = order_id or "0x" + secrets.token_hex(32)
        deadline = deadline if deadline is not None else int(time.time()) + 300
        message = encode_typed_data(full_message=typed(order_id, self.address, fee, deadline, contract))
        signature = (signer or self.account).sign_message(message).signature.hex()
        return {"order_id": order_id, "payer": self.address, "fee_amount": str(fee), "deadline": deadline,
                "signature": signature if signature.startswith("0x") else "0x" + signature}


def raw(method, *args, **kwargs):
    http = method(*args, **kwargs).http_response
    return http.status_code, (http.json() if http.content else None)


def new_user(client) -> str:
    status, body = raw(client.builder.users.with_raw_response.create, external_id=f"escrow-{uuid.uuid4().hex[:10]}", qps_limit=50)
    assert status == 201
    customer_id = body["customer_id"]
    for exchange, extra in (("polymarket", {"mode": "managed"}),
                            ("kalshi", {"mode": "self", "api_key_id": "k1", "private_key": "-----BEGIN RSA PRIVATE KEY-----\nx\n-----END RSA PRIVATE KEY-----"})):
        status, _ = raw(client.builder.onboard.with_raw_response.create, customer_id=customer_id, exchange=exchange, **extra)
        assert status == 200
    return customer_id


def balance(client, customer_id: str) -> int:
    status, body = raw(client.account.with_raw_response.balance, exchange="polymarket",
                       extra_headers={"X-Builder-Customer-Id": customer_id})
    assert status == 200
    return int(body["raw"]["balance"])


def market_id(market: dict) -> str:
    return market.get("condition_id") or market["exchange_market_id"]


def best(client, market: dict, side: str) -> dict:
    status, body = raw(client.orderbook.with_raw_response.retrieve, parsec_id=market["parsec_id"], outcome="Yes")
    assert status == 200
    price, size = body["asks" if side == "buy" else "bids"][0]
    return {"price": price, "size": size}


def place(client, customer_id, market, *, price, size, fee_auth=None, payer=None, side="buy", exchange="polymarket",
          order_type="gtc", signer_address=None):
    kwargs = {}
    if fee_auth is not None:
        kwargs = {"fee_auth": fee_auth, "payer_address": payer or fee_auth["payer"]}
    if signer_address:
        kwargs["signer_address"] = signer_address
    try:
        status, body = raw(
            client.orders.with_raw_response.create, exchange=exchange, market_id=market_id(market), outcome="Yes",
            side=side, price=price, size=size, params={"order_type": order_type},
            extra_headers={"X-Builder-Customer-Id": customer_id}, **kwargs,
        )
    except parsec_api.APIStatusError as error:
        assert_valid(error.body, "ErrorResponse")
        return error.status_code, error.body
    assert_valid(body, "Order")
    return status, body


def record(sandbox, fee_order_id: str) -> dict:
    """The escrow's record on chain, once what the sandbox queued is mined."""
    return chain.record(sandbox, fee_order_id)


def bps_of(price: float, size: float, bps: int) -> int:
    notional = Decimal(str(price)) * Decimal(str(size))
    return int((notional * bps / 10_000 * 1_000_000).to_integral_value(rounding=ROUND_CEILING))


def min_fee(price: float, size: float) -> int:
    """The demo builder's floor: max(min_fee_usdc 100000, min_fee_bps 10 of the notional)."""
    return max(100_000, bps_of(price, size, 10))


def max_fee(price: float, size: float) -> int:
    """The Iron tier's ceiling of 50 bps (never below the floor)."""
    return max(min_fee(price, size), bps_of(price, size, 50))
