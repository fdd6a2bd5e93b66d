"""EIP-712 ``PullFee`` of the Parsec fee escrow (NOTES §8.3): build, sign, recover.

domain = ParsecFeeEscrow v1, chain 137, verifyingContract = the builder's escrow contract;
type PullFee(bytes32 orderId,address payer,uint256 feeAmount,uint256 deadline).
Signing is used only by the control plane, with the seeded demo wallets' keys that exist only
in the sandbox; the order path only recovers signers.
"""

from __future__ import annotations

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import to_checksum_address

DOMAIN_NAME = "ParsecFeeEscrow"
DOMAIN_VERSION = "1"
CHAIN_ID = 137
PULL_FEE_TYPES = {
    "PullFee": [
        {"name": "orderId", "type": "bytes32"},
        {"name": "payer", "type": "address"},
        {"name": "feeAmount", "type": "uint256"},
        {"name": "deadline", "type": "uint256"},
    ],
}


def typed_data(*, contract: str, order_id: str, payer: str, fee_amount: int, deadline: int) -> dict:
    """The full EIP-712 document, as a wallet's ``eth_signTypedData_v4`` would receive it."""
    return {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            **PULL_FEE_TYPES,
        },
        "primaryType": "PullFee",
        "domain": {
            "name": DOMAIN_NAME, "version": DOMAIN_VERSION, "chainId": CHAIN_ID,
            "verifyingContract": to_checksum_address(contract),
        },
        "message": {
            "orderId": bytes.fromhex(order_id.removeprefix("0x")),
            "payer": to_checksum_address(payer),
            "feeAmount": int(fee_amount),
            "deadline": int(deadline),
        },
    }


def sign_pull_fee(*, private_key: str, contract: str, order_id: str, payer: str, fee_amount: int, deadline: int) -> str:
    message = encode_typed_data(full_message=typed_data(
        contract=contract, order_id=order_id, payer=payer, fee_amount=fee_amount, deadline=deadline,
    ))
    return "0x" + Account.sign_message(message, private_key=private_key).signature.hex().removeprefix("0x")


def recover_signer(*, signature: str, contract: str, order_id: str, payer: str, fee_amount: int, deadline: int) -> str:
    """The checksummed address that signed this PullFee; raises ValueError on a malformed signature."""
    message = encode_typed_data(full_message=typed_data(
        contract=contract, order_id=order_id, payer=payer, fee_amount=fee_amount, deadline=deadline,
    ))
    try:
        return Account.recover_message(message, signature=signature)
    except Exception as error:  # eth-keys raises several types for bad bytes
        raise ValueError(f"signature cannot be recovered: {error}") from error
