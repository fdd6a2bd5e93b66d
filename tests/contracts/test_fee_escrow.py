"""The escrow contract on its own: a fresh py-evm chain (eth-tester), the committed bytecode
deployed through its constructor, every rule checked by what the chain does.

Signatures: wrong signer, expired, reused order id, another chain id, another contract. Money:
the split of full and partial fills to the base unit (and the same numbers as the sandbox's own
accounting, sandbox.escrow.split, for any fee and fill), refunds once only.
"""

from __future__ import annotations

import json
import secrets
from decimal import Decimal
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_tester import EthereumTester, PyEVMBackend
from eth_tester.exceptions import TransactionFailed
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from web3 import EthereumTesterProvider, Web3
from web3.exceptions import ContractLogicError

BUILD = Path(__file__).resolve().parent.parent.parent / "contracts" / "build"
MAX_UINT = 2**256 - 1
BUILDER = 7
AFFILIATE, TREASURY = Web3.to_checksum_address("0x" + "a1" * 20), Web3.to_checksum_address("0x" + "7e" * 20)
SHARE_BPS = 3500


def artifact(name: str) -> dict:
    return json.loads((BUILD / f"{name}.json").read_text())


class Escrow:
    """A fresh chain: USDC, the escrow, an owner-operator, a funded payer who approved the escrow."""

    def __init__(self):
        self.tester = EthereumTester(PyEVMBackend(), auto_mine_transactions=True)
        self.w3 = Web3(EthereumTesterProvider(self.tester))
        self.owner, self.intruder = self.w3.eth.accounts[0], self.w3.eth.accounts[1]
        self.usdc = self._deploy("MockUSDC")
        self.escrow = self._deploy("ParsecFeeEscrow", self.usdc.address, self.owner)
        self.payer = self.wallet(usdc=10_000_000)
        self.transact(self.escrow.functions.setSplit(BUILDER, AFFILIATE, TREASURY, SHARE_BPS))

    def _deploy(self, name: str, *args):
        built = artifact(name)
        factory = self.w3.eth.contract(abi=built["abi"], bytecode=built["bytecode"])
        receipt = self.w3.eth.wait_for_transaction_receipt(factory.constructor(*args).transact({"from": self.owner}))
        return self.w3.eth.contract(address=receipt.contractAddress, abi=built["abi"])

    def wallet(self, *, usdc: int, approve: bool = True):
        account = Account.create()
        self.tester.add_account("0x" + account.key.hex().removeprefix("0x"))
        self.w3.eth.send_transaction({"from": self.owner, "to": account.address, "value": 10**18})
        self.transact(self.usdc.functions.mint(account.address, usdc))
        if approve:
            self.transact(self.usdc.functions.approve(self.escrow.address, MAX_UINT), sender=account.address)
        return account

    def transact(self, call, *, sender: str | None = None):
        """Send and mine; a revert raises ContractLogicError with the contract's reason (eth_call
        first gives the reason; the mined receipt is checked too)."""
        call.call({"from": sender or self.owner})
        receipt = self.w3.eth.wait_for_transaction_receipt(call.transact({"from": sender or self.owner, "gas": 1_000_000}))
        assert receipt.status == 1
        return receipt

    def balance(self, address: str) -> int:
        return self.usdc.functions.balanceOf(Web3.to_checksum_address(address)).call()

    def sign(self, *, order_id: bytes, fee: int, deadline: int, signer=None, payer: str | None = None,
             chain_id: int | None = None, contract: str | None = None) -> bytes:
        message = encode_typed_data(full_message={
            "types": {
                "EIP712Domain": [{"name": "name", "type": "string"}, {"name": "version", "type": "string"},
                                 {"name": "chainId", "type": "uint256"}, {"name": "verifyingContract", "type": "address"}],
                "PullFee": [{"name": "orderId", "type": "bytes32"}, {"name": "payer", "type": "address"},
                            {"name": "feeAmount", "type": "uint256"}, {"name": "deadline", "type": "uint256"}],
            },
            "primaryType": "PullFee",
            "domain": {"name": "ParsecFeeEscrow", "version": "1", "chainId": chain_id or self.w3.eth.chain_id,
                       "verifyingContract": contract or self.escrow.address},
            "message": {"orderId": order_id, "payer": payer or self.payer.address, "feeAmount": fee, "deadline": deadline},
        })
        return (signer or self.payer).sign_message(message).signature

    def now(self) -> int:
        return self.w3.eth.get_block("latest")["timestamp"]

    def pull(self, fee: int, *, order_id: bytes | None = None, deadline: int | None = None, **sign_kwargs):
        order_id = order_id or secrets.token_bytes(32)
        deadline = deadline if deadline is not None else self.now() + 300
        signature = self.sign(order_id=order_id, fee=fee, deadline=deadline, **sign_kwargs)
        self.transact(self.escrow.functions.pullFee(order_id, self.payer.address, fee, deadline, signature, BUILDER))
        return order_id

    def record(self, order_id: bytes) -> dict:
        names = [o["name"] for o in self.escrow.get_function_by_name("feeRecords").abi["outputs"][0]["components"]]
        return dict(zip(names, self.escrow.functions.feeRecords(order_id).call(), strict=True))

    def events(self, name: str, order_id: bytes) -> list[dict]:
        logs = getattr(self.escrow.events, name)().get_logs(from_block=0, argument_filters={"orderId": order_id})
        return [dict(log["args"]) for log in logs]


@pytest.fixture(scope="module")
def chain() -> Escrow:
    return Escrow()


def reverts(call, reason: str):
    with pytest.raises((TransactionFailed, ContractLogicError), match=reason):
        call()


def test_a_pull_moves_the_fee_into_the_escrow_and_records_it(chain):
    before, held = chain.balance(chain.payer.address), chain.balance(chain.escrow.address)
    order_id = chain.pull(137_500)
    record = chain.record(order_id)
    assert (record["status"], record["payer"], record["feeAmount"], record["builderId"]) == (1, chain.payer.address, 137_500, BUILDER)
    assert (record["affiliate"], record["treasury"], record["affiliateBps"]) == (AFFILIATE, TREASURY, SHARE_BPS)
    assert record["pulledAt"] > 0 and record["settledAt"] == 0
    assert chain.balance(chain.payer.address) == before - 137_500
    assert chain.balance(chain.escrow.address) == held + 137_500
    assert chain.events("FeePulled", order_id) == [{"orderId": order_id, "payer": chain.payer.address, "builderId": BUILDER, "amount": 137_500}]


@pytest.mark.parametrize("case", ["wrong_signer", "expired", "other_chain_id", "other_contract", "other_payer", "tampered_fee"])
def test_a_pull_without_the_payers_valid_signature_reverts(chain, case):
    order_id, fee = secrets.token_bytes(32), 100_000
    deadline = chain.now() + 300
    kwargs = {}
    if case == "wrong_signer":
        kwargs = {"signer": Account.create()}
    elif case == "expired":
        deadline = chain.now() - 1
    elif case == "other_chain_id":
        kwargs = {"chain_id": 137 if chain.w3.eth.chain_id != 137 else 80002}
    elif case == "other_contract":
        kwargs = {"contract": Web3.to_checksum_address("0x" + "22" * 20)}
    elif case == "other_payer":
        kwargs = {"payer": Account.create().address}
    signature = chain.sign(order_id=order_id, fee=fee, deadline=deadline, **kwargs)
    signed_fee = fee + 1 if case == "tampered_fee" else fee
    before = chain.balance(chain.payer.address)
    reason = "authorisation expired" if case == "expired" else "not signed by the payer"
    reverts(lambda: chain.transact(chain.escrow.functions.pullFee(order_id, chain.payer.address, signed_fee, deadline, signature, BUILDER)), reason)
    assert chain.record(order_id)["status"] == 0
    assert chain.balance(chain.payer.address) == before


def test_an_order_id_is_pulled_once(chain):
    order_id = chain.pull(100_000)
    reverts(lambda: chain.pull(100_000, order_id=order_id), "order id already used")


def test_only_the_operator_pulls_and_settles_and_only_the_owner_sets_splits(chain):
    order_id, deadline = secrets.token_bytes(32), chain.now() + 300
    signature = chain.sign(order_id=order_id, fee=100_000, deadline=deadline)
    pull = chain.escrow.functions.pullFee(order_id, chain.payer.address, 100_000, deadline, signature, BUILDER)
    reverts(lambda: chain.transact(pull, sender=chain.intruder), "only the operator")
    held = chain.pull(100_000)
    reverts(lambda: chain.transact(chain.escrow.functions.refund(held, 1), sender=chain.intruder), "only the operator")
    reverts(lambda: chain.transact(chain.escrow.functions.setSplit(BUILDER, chain.intruder, chain.intruder, 10_000), sender=chain.intruder),
            "only the owner")


def test_a_payer_without_allowance_or_balance_cannot_be_pulled(chain):
    for payer in (chain.wallet(usdc=10_000_000, approve=False), chain.wallet(usdc=99_999)):
        order_id, deadline = secrets.token_bytes(32), chain.now() + 300
        signature = chain.sign(order_id=order_id, fee=100_000, deadline=deadline, signer=payer, payer=payer.address)
        reverts(lambda payer=payer, order_id=order_id, deadline=deadline, signature=signature: chain.transact(
            chain.escrow.functions.pullFee(order_id, payer.address, 100_000, deadline, signature, BUILDER)), "USDC: ")


def settle_and_measure(chain, fee: int, filled: int, size: int, reason: int = 1) -> dict:
    order_id = chain.pull(fee)
    before = {who: chain.balance(who) for who in (AFFILIATE, TREASURY, chain.payer.address, chain.escrow.address)}
    chain.transact(chain.escrow.functions.settle(order_id, filled, size, reason))
    moved = {who: chain.balance(who) - amount for who, amount in before.items()}
    return {"record": chain.record(order_id), "moved": moved, "order_id": order_id}


def test_a_full_fill_distributes_the_whole_fee_by_the_split(chain):
    result = settle_and_measure(chain, 137_501, 10_000, 10_000)
    affiliate = 137_501 * SHARE_BPS // 10_000  # 48125 (48125.35 rounded down)
    assert (result["record"]["status"], result["record"]["affiliateAmount"], result["record"]["treasuryAmount"],
            result["record"]["refundAmount"]) == (2, 48_125, 137_501 - 48_125, 0) and affiliate == 48_125
    assert result["moved"] == {AFFILIATE: 48_125, TREASURY: 89_376, chain.payer.address: 0, chain.escrow.address: -137_501}
    assert chain.events("FeeDistributed", result["order_id"])[0]["affiliateAmount"] == 48_125
    assert chain.events("FeeRefunded", result["order_id"]) == []


def test_a_partial_fill_splits_the_filled_share_rounded_down_and_refunds_the_rest(chain):
    # 1/3 filled of 300 000: exactly 100 000 distributed (integer arithmetic, not 99 999.99…).
    result = settle_and_measure(chain, 300_000, 100, 300)
    assert (result["record"]["affiliateAmount"], result["record"]["treasuryAmount"], result["record"]["refundAmount"]) == (35_000, 65_000, 200_000)
    # 2/3 of 100 001 = 66 667.33: 66 667 distributed (the payer keeps the rounding), affiliate 23 333.45 → 23 333.
    result = settle_and_measure(chain, 100_001, 200, 300)
    assert result["record"]["status"] == 3
    assert (result["record"]["affiliateAmount"], result["record"]["treasuryAmount"], result["record"]["refundAmount"]) == (23_333, 43_334, 33_334)
    assert result["moved"] == {AFFILIATE: 23_333, TREASURY: 43_334, chain.payer.address: 33_334, chain.escrow.address: -100_001}
    assert (result["record"]["filled"], result["record"]["size"], result["record"]["refundReason"]) == (200, 300, 1)


def test_a_refund_returns_everything_once(chain):
    order_id = chain.pull(150_000)
    before = chain.balance(chain.payer.address)
    chain.transact(chain.escrow.functions.refund(order_id, 4))
    record = chain.record(order_id)
    assert (record["status"], record["refundAmount"], record["refundReason"]) == (4, 150_000, 4)
    assert chain.balance(chain.payer.address) == before + 150_000
    assert chain.events("FeeRefunded", order_id) == [{"orderId": order_id, "payer": chain.payer.address, "amount": 150_000, "reason": 4}]
    reverts(lambda: chain.transact(chain.escrow.functions.refund(order_id, 4)), "not held")
    reverts(lambda: chain.transact(chain.escrow.functions.settle(order_id, 1, 1, 0)), "not held")
    assert chain.balance(chain.payer.address) == before + 150_000


def test_a_refund_needs_a_reason_and_a_fill_within_the_size(chain):
    order_id = chain.pull(100_000)
    reverts(lambda: chain.transact(chain.escrow.functions.refund(order_id, 0)), "a refund needs a reason")
    reverts(lambda: chain.transact(chain.escrow.functions.settle(order_id, 11, 10, 1)), "filled must be within size")
    assert chain.record(order_id)["status"] == 1


def test_without_an_affiliate_the_treasury_gets_the_distributed_share(chain):
    chain.transact(chain.escrow.functions.setSplit(BUILDER + 1, "0x" + "00" * 20, TREASURY, 5000))
    order_id, deadline = secrets.token_bytes(32), chain.now() + 300
    signature = chain.sign(order_id=order_id, fee=100_000, deadline=deadline)
    chain.transact(chain.escrow.functions.pullFee(order_id, chain.payer.address, 100_000, deadline, signature, BUILDER + 1))
    chain.transact(chain.escrow.functions.settle(order_id, 1, 2, 1))
    record = chain.record(order_id)
    assert (record["affiliateAmount"], record["treasuryAmount"], record["refundAmount"]) == (0, 50_000, 50_000)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fee=st.integers(min_value=1, max_value=10**12), size=st.integers(min_value=1, max_value=10**9), data=st.data())
def test_the_contract_and_the_sandboxs_accounting_split_alike(chain, fee, size, data):
    """Every fee and fill: the chain's three amounts equal sandbox.escrow.split's, and add up to the fee."""
    from sandbox.escrow import split

    filled = data.draw(st.integers(min_value=0, max_value=size))
    chain.transact(chain.usdc.functions.mint(chain.payer.address, fee))
    result = settle_and_measure(chain, fee, filled, size)
    record = result["record"]
    expected = split(fee, filled=Decimal(filled) / 100, size=Decimal(size) / 100, share_bps=SHARE_BPS, has_affiliate=True)
    assert (record["affiliateAmount"], record["treasuryAmount"], record["refundAmount"]) == expected
    assert sum(expected) == fee
    assert result["moved"][chain.escrow.address] == -fee
