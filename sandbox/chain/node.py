"""The sandbox chain: py-evm (through eth-tester) with Polygon's chain id and Parsec's escrow.

Genesis puts the compiled contracts (contracts/build/*.json) where they live on Polygon: the
escrow at the address Parsec documents (so the EIP-712 domain every fee_auth is signed under
verifies on chain as it is) and the mock USDC at USDC.e's address (Polymarket's collateral), with
the storage their constructors would have written (owner, operator, token, minter). Block 1
then sets every builder's split and gives the demo wallets mock USDC and their approval of the
escrow (transactions signed with their own keys).

Blocks take the mempool's operations (sandbox.chain.mempool) in order; each block is sealed by
the same code path whether the producer thread mined it on the cadence or a control-plane call
asked for it, and the key-value changes it made are written to ``ChainState`` together with the
mempool cursor in one database transaction: after a crash the chain restarts at its last block
and the operations past the cursor are mined again, never twice.

Threads: every chain write holds ``lock``; the server's requests and the producer take turns
(sandbox.serial) before taking it, so a placement never waits for a block. Reads of the state at
the head (what a payer can still afford) need no lock: trie nodes are immutable.

Parsec's operator key is derived from the sandbox's seed, lives only in this process and is
never logged or stored.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.db import transaction
from eth.chains.base import MiningChain
from eth.constants import ZERO_ADDRESS
from eth.db.atomic import AtomicDB
from eth.db.backends.memory import MemoryDB
from eth.vm.forks import CancunVM
from eth.vm.spoof import SpoofTransaction
from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_keys import keys
from eth_tester.backends.pyevm.main import PyEVMBackend, get_default_genesis_params
from eth_utils import ValidationError as EVMValidationError
from eth_utils import keccak, to_canonical_address, to_checksum_address

from sandbox import clock, conf

logger = logging.getLogger("sandbox.chain")

DB = "sandbox"
CHAIN_ID = 137
ESCROW_ADDRESS = "0xbd25057b4d3252ca1ec26e1e5efb6480315ba142"  # NOTES §8.1
USDC_ADDRESS = "0x2791bca1f2de4661ed88a30c99a7a9449aa84174"  # USDC.e on Polygon
ARTIFACTS = Path(settings.BASE_DIR) / "contracts" / "build"
HEADER_GAS_LIMIT = 10**12  # the producer sizes blocks itself (SANDBOX_CHAIN_BLOCK_GAS); a drained backlog fits one block
OPERATOR_NATIVE = 10**9 * 10**18
DEMO_NATIVE = 100 * 10**18
MAX_UINT = 2**256 - 1
CURSOR_KEY = "chain.cursor"
# Gas sent with each operator transaction (a limit, not what is charged), and what a block plans on.
GAS = {"pull": 400_000, "settle": 300_000, "split": 200_000, "mint": 100_000, "gas": 21_000, "raw": 300_000}
REASONS = {"cancelled": 1, "expired": 2, "rejected": 3, "stuck_pending": 4, "stale": 5}
TRANSFER_TOPIC = keccak(text="Transfer(address,address,uint256)")
APPROVAL_TOPIC = keccak(text="Approval(address,address,uint256)")


def artifact(name: str) -> dict:
    return json.loads((ARTIFACTS / f"{name}.json").read_text())


def selector(signature: str) -> bytes:
    return keccak(text=signature)[:4]


def call_data(signature: str, types: list[str], values: list) -> bytes:
    return selector(signature) + abi_encode(types, values)


def operator_key(seed: int) -> keys.PrivateKey:
    return keys.PrivateKey(hashlib.sha256(f"{seed}:parsec-escrow-operator".encode()).digest())


class TrackedMemoryDB(MemoryDB):
    """py-evm's in-memory store, remembering what changed since the last block was written."""

    def __init__(self, kv_store: dict | None = None):
        super().__init__(kv_store if kv_store is not None else {})
        self.changed: set[bytes] = set()
        self.deleted: set[bytes] = set()

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self.kv_store[key] = value
        self.changed.add(key)
        self.deleted.discard(key)

    def __delitem__(self, key: bytes) -> None:
        del self.kv_store[key]
        self.deleted.add(key)
        self.changed.discard(key)

    def take_changes(self) -> tuple[dict[bytes, bytes], set[bytes]]:
        changed = {key: self.kv_store[key] for key in self.changed}
        deleted = set(self.deleted)
        self.changed.clear()
        self.deleted.clear()
        return changed, deleted


class SandboxChain(MiningChain):
    chain_id = CHAIN_ID
    vm_configuration = ((0, CancunVM),)

    def create_header_from_parent(self, parent_header, **header_params):
        # Keep the gas limit constant (py-evm would move it towards a target).
        header_params.setdefault("gas_limit", parent_header.gas_limit)
        return super().create_header_from_parent(parent_header, **header_params)


class Backend(PyEVMBackend):
    """eth-tester's py-evm backend over our chain (its own constructor would build a fresh one)."""

    def __init__(self, chain: SandboxChain):
        self.chain = chain
        self.account_keys = ()


@dataclass
class _Block:
    """A block being built: the operations it takes, applied in slices, then sealed."""

    ops: list
    timestamp: int
    vm: object
    header: object
    applied: int = 0
    transactions: list = field(default_factory=list)
    receipts: list = field(default_factory=list)
    results: list = field(default_factory=list)  # (op pk, tx hash hex or "", block-relative, error)
    started: float = field(default_factory=time.monotonic)


class Chain:
    def __init__(self, *, seed: int):
        self.lock = threading.RLock()
        self.operator = operator_key(seed)
        self.operator_address = self.operator.public_key.to_canonical_address()
        self.escrow = to_canonical_address(ESCROW_ADDRESS)
        self.usdc = to_canonical_address(USDC_ADDRESS)
        self.db = TrackedMemoryDB(self._load())
        self._funds: dict[bytes, tuple[int, int]] = {}  # payer -> (balance, allowance) at the head
        self._block: _Block | None = None
        self._nonce = 0
        self.chain: SandboxChain
        if self.db.kv_store:
            self.chain = SandboxChain(AtomicDB(self.db))
            self.cursor = self._stored_cursor()
        else:
            self.chain = self._genesis(seed)
            self.cursor = 0
        self.backend = Backend(self.chain)
        self._head = self.chain.get_canonical_head()
        self._last_tx_block = self._head.block_number
        self._next_due = time.monotonic()
        self.op_seconds = 0.01  # what applying one operation costs here (moving average)

    # --- Start ----------------------------------------------------------------------------

    @staticmethod
    def _load() -> dict[bytes, bytes]:
        from sandbox.models import ChainState

        rows = ChainState.objects.using(DB).values_list("key", "value").iterator(chunk_size=10_000)
        return {bytes.fromhex(key): bytes(value) for key, value in rows}

    @staticmethod
    def _stored_cursor() -> int:
        from sandbox.models import SandboxState

        row = SandboxState.objects.filter(key=CURSOR_KEY).first()
        return int(row.value) if row else 0

    def _genesis(self, seed: int) -> SandboxChain:
        from sandbox.models import Wallet

        escrow, usdc = artifact("ParsecFeeEscrow"), artifact("MockUSDC")
        operator = int.from_bytes(self.operator_address, "big")
        slots = escrow["storage_slots"]
        state = {
            self.escrow: {"balance": 0, "nonce": 1, "code": bytes.fromhex(escrow["bytecode_runtime"][2:]),
                          "storage": {slots["owner"]: operator, slots["operator"]: operator,
                                      slots["token"]: int.from_bytes(self.usdc, "big")}},
            self.usdc: {"balance": 0, "nonce": 1, "code": bytes.fromhex(usdc["bytecode_runtime"][2:]),
                        "storage": {usdc["storage_slots"]["minter"]: operator}},
            self.operator_address: {"balance": OPERATOR_NATIVE, "nonce": 0, "code": b"", "storage": {}},
        }
        demo = list(Wallet.objects.filter(demo_private_key__isnull=False).order_by("pk").values_list("eoa_address", "demo_private_key"))
        for address, _ in demo:
            state[to_canonical_address(address)] = {"balance": DEMO_NATIVE, "nonce": 0, "code": b"", "storage": {}}
        params = get_default_genesis_params({"gas_limit": HEADER_GAS_LIMIT, "timestamp": int(clock.now().timestamp()) - 1})
        chain = SandboxChain.from_genesis(AtomicDB(self.db), params, state)
        self.chain = chain
        # Block 1: the builders' splits and the demo wallets' USDC and approvals, as transactions.
        self._block = None
        transactions = [self._split_tx(builder, nonce) for nonce, builder in enumerate(_builders())]
        nonce = len(transactions)
        for address, key in demo:
            transactions.append(self._operator_tx(nonce, self.usdc, GAS["mint"], call_data(
                "mint(address,uint256)", ["address", "uint256"], [address, conf.SANDBOX_CHAIN_DEMO_USDC * 10**6])))
            nonce += 1
            approve = call_data("approve(address,uint256)", ["address", "uint256"], [ESCROW_ADDRESS, MAX_UINT])
            transactions.append(self._signed_tx(keys.PrivateKey(bytes.fromhex(key[2:])), 0, self.usdc, 100_000, approve))
        block = self._begin(ops=[], timestamp=int(clock.now().timestamp()))
        for tx in transactions:
            self._apply(block, None, tx)
        failed = [error for _, _, error in block.results if error]
        if failed:
            raise RuntimeError(f"sandbox chain genesis failed: {failed}")
        self._seal(block, persist=False)
        self._persist(cursor=0, results=[])
        logger.info("sandbox chain created: chain id %s, escrow %s, %d builders, %d demo wallets",
                    CHAIN_ID, ESCROW_ADDRESS, len(transactions) - 2 * len(demo), len(demo))
        return chain

    # --- Transactions -------------------------------------------------------------------------

    def _fees(self, header) -> tuple[int, int]:
        base = header.base_fee_per_gas
        return 0, base * 2 + 10**9

    def _signed_tx(self, key: keys.PrivateKey, nonce: int, to: bytes, gas: int, data: bytes, value: int = 0):
        priority, max_fee = self._fees(self.chain.header)
        builder = self.chain.get_vm(self.chain.header).get_transaction_builder()
        unsigned = builder.new_unsigned_dynamic_fee_transaction(
            chain_id=CHAIN_ID, nonce=nonce, max_priority_fee_per_gas=priority, max_fee_per_gas=max_fee, gas=gas,
            to=to, value=value, data=data, access_list=[],
        )
        return unsigned.as_signed_transaction(key, chain_id=CHAIN_ID)

    def _operator_tx(self, nonce: int, to: bytes, gas: int, data: bytes, value: int = 0):
        return self._signed_tx(self.operator, nonce, to, gas, data, value)

    def _split_tx(self, builder: dict, nonce: int):
        return self._operator_tx(nonce, self.escrow, GAS["split"], call_data(
            "setSplit(uint256,address,address,uint256)", ["uint256", "address", "address", "uint256"],
            [builder["id"], builder["affiliate"] or "0x" + "00" * 20, builder["treasury"], builder["bps"]]))

    def _op_tx(self, op, nonce: int):
        """The transaction for one mempool operation (the operator's, or a wallet's raw one)."""
        args = op.args
        if op.kind == "raw":
            builder = self.chain.get_vm(self.chain.header).get_transaction_builder()
            return builder.decode(bytes.fromhex(args["raw"][2:])), False
        if op.kind == "pull":
            data = call_data("pullFee(bytes32,address,uint256,uint256,bytes,uint256)",
                             ["bytes32", "address", "uint256", "uint256", "bytes", "uint256"],
                             [bytes.fromhex(args["order_id"][2:]), args["payer"], int(args["fee"]), int(args["deadline"]),
                              bytes.fromhex(args["signature"][2:]), int(args["builder_id"])])
            return self._operator_tx(nonce, self.escrow, GAS["pull"], data), True
        if op.kind == "settle":
            data = call_data("settle(bytes32,uint256,uint256,uint8)", ["bytes32", "uint256", "uint256", "uint8"],
                             [bytes.fromhex(args["order_id"][2:]), int(args["filled"]), int(args["size"]), REASONS.get(args["reason"], 0)])
            return self._operator_tx(nonce, self.escrow, GAS["settle"], data), True
        if op.kind == "split":
            return self._split_tx(args, nonce), True
        if op.kind == "mint":
            data = call_data("mint(address,uint256)", ["address", "uint256"], [args["address"], int(args["amount"])])
            return self._operator_tx(nonce, self.usdc, GAS["mint"], data), True
        if op.kind == "gas":
            return self._operator_tx(nonce, to_canonical_address(args["address"]), GAS["gas"], b"", int(args["amount"])), True
        raise ValueError(f"unknown chain operation {op.kind}")

    # --- Blocks ---------------------------------------------------------------------------------

    def _begin(self, *, ops: list, timestamp: int) -> _Block:
        parent = self.chain.get_canonical_head()
        header = self.chain.header.copy(timestamp=max(timestamp, parent.timestamp + 1))
        vm = self.chain.get_vm(header)
        block = _Block(ops=ops, timestamp=header.timestamp, vm=vm, header=header)
        self._nonce = vm.state.get_nonce(self.operator_address)
        return block

    def _apply(self, block: _Block, op, tx) -> None:
        op_pk = op.pk if op is not None else None
        try:
            header, receipts, computations = block.vm.apply_all_transactions([tx], block.header)
        except EVMValidationError as error:  # a wallet's transaction that cannot be included (nonce, funds)
            block.results.append((op_pk, "", f"dropped: {error}"[:300]))
            return
        block.header = header
        block.transactions.append(tx)
        block.receipts.extend(receipts)
        computation = computations[0]
        error = ""
        if computation.is_error:
            error = "reverted: " + _revert_reason(computation)
            logger.warning("sandbox chain: operation %s reverted (%s)", op_pk, error)
        block.results.append((op_pk, "0x" + tx.hash.hex(), error))

    def _seal(self, block: _Block, *, persist: bool = True) -> None:
        vm = block.vm
        filled = vm.set_block_transactions_and_withdrawals(vm.get_block(), block.header, block.transactions, block.receipts)
        number = filled.header.block_number
        # prevrandao is random, as on a real chain: a block mined again after a revert is another block.
        mined = vm.mine_block(filled, coinbase=ZERO_ADDRESS, mix_hash=os.urandom(32)).block
        self.chain.persist_block(mined)
        self.chain.header = self.chain.create_header_from_parent(mined.header)
        self._head = mined.header
        self._block = None
        if block.transactions:
            self._last_tx_block = number
        self._forget_funds(block.receipts)
        if persist:
            cursor = max([op.pk for op in block.ops], default=self.cursor)
            self._persist(cursor=cursor, results=[(pk, tx_hash, number, error) for pk, tx_hash, error in block.results if pk])
            for hook in _mined_hooks:
                hook(block.ops)

    def _persist(self, *, cursor: int, results: list) -> None:
        from sandbox.models import ChainOp, ChainState, SandboxState

        changed, deleted = self.db.take_changes()
        with transaction.atomic(using=DB):
            if changed:
                ChainState.objects.bulk_create(
                    [ChainState(key=key.hex(), value=value) for key, value in changed.items()],
                    update_conflicts=True, unique_fields=["key"], update_fields=["value"], batch_size=500,
                )
            if deleted:
                ChainState.objects.filter(key__in=[key.hex() for key in deleted]).delete()
            SandboxState.objects.update_or_create(key=CURSOR_KEY, defaults={"value": cursor})
            if results:
                rows = [ChainOp(pk=pk, tx_hash=tx_hash, block_number=number, error=error) for pk, tx_hash, number, error in results]
                ChainOp.objects.bulk_update(rows, ["tx_hash", "block_number", "error"], batch_size=500)
        self.cursor = cursor

    def _pending_ops(self, gas_budget: int | None, max_ops: int | None = None) -> list:
        from sandbox.models import ChainOp

        ops = []
        planned = 0
        queued = ChainOp.objects.filter(pk__gt=self.cursor).order_by("pk")
        for op in (queued[:max_ops] if max_ops else queued).iterator(chunk_size=500):
            if gas_budget is not None and ops and planned + GAS[op.kind] > gas_budget:
                break
            ops.append(op)
            planned += GAS[op.kind]
        return ops

    def _apply_next(self, block: _Block) -> None:
        started = time.perf_counter()
        try:
            self._apply_op(block)
        finally:
            self.op_seconds = 0.9 * self.op_seconds + 0.1 * (time.perf_counter() - started)

    def _apply_op(self, block: _Block) -> None:
        op = block.ops[block.applied]
        block.applied += 1
        try:
            tx, by_operator = self._op_tx(op, self._nonce)
        except Exception as error:  # a raw transaction that no longer decodes: dropped, never retried
            block.results.append((op.pk, "", f"dropped: {error}"[:300]))
            return
        if by_operator:
            self._nonce += 1
        self._apply(block, op, tx)

    def work(self, *, seconds: float, max_ops: int | None = None, now: datetime | None = None) -> str:
        """One slice of the producer's work: start a block when one is due (of at most ``max_ops``
        operations: a busy server gets small blocks, whose sealing holds its turn briefly), apply
        its operations for at most ``seconds``, seal it when done. Returns "idle", "building" or "sealed"."""
        with self.lock:
            if self._block is None:
                if time.monotonic() < self._next_due:
                    return "idle"
                ops = self._pending_ops(conf.SANDBOX_CHAIN_BLOCK_GAS, max_ops)
                if not ops and self._head.block_number - self._last_tx_block >= conf.SANDBOX_CHAIN_IDLE_BLOCKS:
                    self._next_due = time.monotonic() + conf.SANDBOX_CHAIN_BLOCK_SECONDS
                    return "idle"
                self._block = self._begin(ops=ops, timestamp=int((now or clock.now()).timestamp()))
            block = self._block
            until = time.monotonic() + seconds
            while block.applied < len(block.ops) and time.monotonic() < until:
                self._apply_next(block)
            if block.applied < len(block.ops):
                return "building"
            self._seal(block)
            self._next_due = block.started + conf.SANDBOX_CHAIN_BLOCK_SECONDS
            return "sealed"

    def mine(self, *, now: datetime | None = None) -> int:
        """Mine now: finish the block being built, then everything in the mempool in one more
        block (an empty one when there is nothing). Returns the head's number."""
        with self.lock:
            if self._block is not None:
                block = self._block
                while block.applied < len(block.ops):
                    self._apply_next(block)
                self._seal(block)
            ops = self._pending_ops(None)
            if ops or self._block is None:
                block = self._block = self._begin(ops=ops, timestamp=int((now or clock.now()).timestamp()))
                while block.applied < len(block.ops):
                    self._apply_next(block)
                self._seal(block)
            self._next_due = time.monotonic() + conf.SANDBOX_CHAIN_BLOCK_SECONDS
            return self._head.block_number

    def seconds_until_due(self) -> float:
        return self._next_due - time.monotonic() if self._block is None else 0.0

    # --- Snapshots --------------------------------------------------------------------------------

    def snapshot(self) -> dict:
        from sandbox.models import ChainSnapshot

        with self.lock:
            if self._block is not None:
                self.mine()
            head = self.chain.get_canonical_head()
            row = ChainSnapshot.objects.create(block_number=head.block_number, block_hash="0x" + head.hash.hex(),
                                               cursor=self.cursor, created_at=clock.now())
            return {"snapshot_id": row.pk, "block_number": row.block_number, "block_hash": row.block_hash}

    def revert(self, snapshot_id: int) -> dict:
        """Back to a snapshot's block, as a reorg would leave it: the blocks after it are gone and
        their operations wait in the mempool to be mined again (in new blocks)."""
        from sandbox.models import ChainOp, ChainSnapshot

        with self.lock:
            row = ChainSnapshot.objects.filter(pk=snapshot_id).first()
            if row is None:
                raise LookupError(f"no chain snapshot {snapshot_id}")
            if self._block is not None:
                self.mine()
            target = bytes.fromhex(row.block_hash[2:])
            if row.block_number > self._head.block_number or self.chain.chaindb.get_canonical_block_hash(row.block_number) != target:
                raise LookupError(f"snapshot {snapshot_id} (block {row.block_number}) is no longer on the chain")
            dropped = self._head.block_number - row.block_number
            self.backend.revert_to_snapshot(target)
            self.chain = self.backend.chain
            self._head = self.chain.get_canonical_head()
            self._funds.clear()
            with transaction.atomic(using=DB):
                ChainOp.objects.filter(pk__gt=row.cursor).update(tx_hash="", block_number=None, error="")
                ChainSnapshot.objects.filter(block_number__gt=row.block_number).delete()
                self._persist(cursor=row.cursor, results=[])
            for hook in _reset_hooks:
                hook()
            return {"block_number": self._head.block_number, "block_hash": "0x" + self._head.hash.hex(), "blocks_dropped": dropped}

    # --- Reads --------------------------------------------------------------------------------------

    @property
    def head(self):
        return self._head

    def status(self) -> dict:
        from sandbox.models import ChainOp

        head = self._head
        return {
            "chain_id": CHAIN_ID, "block_number": head.block_number, "block_hash": "0x" + head.hash.hex(),
            "block_timestamp": head.timestamp, "escrow": ESCROW_ADDRESS, "usdc": USDC_ADDRESS,
            "operator": to_checksum_address(self.operator_address), "cursor": self.cursor,
            "queued": ChainOp.objects.filter(pk__gt=self.cursor).count(),
            "failed": ChainOp.objects.filter(pk__lte=self.cursor).exclude(error="").count(),
        }

    def call_at_head(self, to: bytes, data: bytes) -> bytes:
        """A read-only call at the head, without the lock (the head's trie nodes never change)."""
        computation = static_call(self.chain.get_vm(self._head), sender=ZERO_ADDRESS, to=to, data=data)
        if computation.is_error:
            raise RuntimeError(f"call reverted: {_revert_reason(computation)}")
        return computation.output

    def head_funds(self, payer: bytes) -> tuple[int, int]:
        """(USDC balance, allowance to the escrow) of a payer at the head block."""
        cached = self._funds.get(payer)
        if cached is not None:
            return cached
        address = to_checksum_address(payer)
        balance = abi_decode(["uint256"], self.call_at_head(self.usdc, call_data("balanceOf(address)", ["address"], [address])))[0]
        allowance = abi_decode(["uint256"], self.call_at_head(self.usdc, call_data(
            "allowance(address,address)", ["address", "address"], [address, ESCROW_ADDRESS])))[0]
        self._funds[payer] = (balance, allowance)
        return balance, allowance

    def _forget_funds(self, receipts) -> None:
        """Keep the cached (balance, allowance) of payers in step with the block's USDC events
        (re-reading them from the state would cost two EVM calls per payer and block)."""
        for receipt in receipts:
            for log in receipt.logs:
                if log.address != self.usdc or len(log.topics) != 3:
                    continue
                first, second = (topic.to_bytes(32, "big")[12:] for topic in log.topics[1:3])
                value = int.from_bytes(log.data, "big")
                if log.topics[0] == TRANSFER_TOPIC_INT:
                    if first in self._funds:
                        balance, allowance = self._funds[first]
                        # A transfer to the escrow from a payer is its pull (transferFrom): it spends allowance.
                        spent = value if second == self.escrow and allowance != MAX_UINT else 0
                        self._funds[first] = (balance - value, allowance - spent)
                    if second in self._funds:
                        balance, allowance = self._funds[second]
                        self._funds[second] = (balance + value, allowance)
                elif log.topics[0] == APPROVAL_TOPIC_INT and first in self._funds and second == self.escrow:
                    self._funds[first] = (self._funds[first][0], value)

    def splits(self) -> dict[int, tuple[str, str, int]]:
        """What the escrow holds for each builder: (affiliate, treasury, affiliate bps)."""
        found = {}
        for builder in _builders():
            output = self.call_at_head(self.escrow, call_data("splits(uint256)", ["uint256"], [builder["id"]]))
            affiliate, treasury, bps = abi_decode(["address", "address", "uint256"], output)
            found[builder["id"]] = (affiliate.lower(), treasury.lower(), bps)
        return found


TRANSFER_TOPIC_INT = int.from_bytes(TRANSFER_TOPIC, "big")


def static_call(vm, *, sender: bytes, to: bytes, data: bytes, gas: int = 50_000_000, value: int = 0):
    """eth_call: run a message on a block's state and throw the changes away. Built from the
    transaction executor's steps without its checks, so the caller needs no balance for gas
    (py-evm has no gas-free call of its own)."""
    builder = vm.get_transaction_builder()
    unsigned = builder.new_unsigned_dynamic_fee_transaction(CHAIN_ID, vm.state.get_nonce(sender), 0, 0, gas, to, value, data, [])
    tx = SpoofTransaction(unsigned, from_=sender)
    state = vm.state
    snapshot = state.snapshot()
    try:
        executor = state.get_transaction_executor()
        return executor.build_computation(executor.build_evm_message(tx), tx)
    finally:
        state.revert(snapshot)
APPROVAL_TOPIC_INT = int.from_bytes(APPROVAL_TOPIC, "big")


def _revert_reason(computation) -> str:
    error = computation.error
    data = error.args[0] if error.args and isinstance(error.args[0], bytes) else b""
    if data[:4] == selector("Error(string)"):
        try:
            return abi_decode(["string"], data[4:])[0]
        except Exception:  # noqa: S110 (a malformed reason: fall back to the error's own text)
            pass
    return str(error)[:200]


def _builders() -> list[dict]:
    from sandbox import fee_split
    from sandbox.models import Builder

    return [{"id": b.pk, "affiliate": (b.affiliate_address or "").lower() or None, "treasury": b.treasury_address.lower(),
             "bps": fee_split.affiliate_share_bps(b)} for b in Builder.objects.order_by("pk")]


_chain: Chain | None = None
_start_lock = threading.Lock()
# Who wants to know (sandbox.chain.mempool's totals): operations mined in a block; the mempool put back by a revert.
_mined_hooks: list = []
_reset_hooks: list = []


def on_mined(hook) -> None:
    _mined_hooks.append(hook)


def on_reset(hook) -> None:
    _reset_hooks.append(hook)


def get() -> Chain:
    """The process's chain, loaded (or created at genesis) on first use."""
    global _chain
    if _chain is None:
        with _start_lock:
            if _chain is None:
                from sandbox.models import SandboxState

                seed = SandboxState.objects.filter(key="seed").first()
                _chain = Chain(seed=int(seed.value) if seed else 0)
    return _chain
