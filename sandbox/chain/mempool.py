"""What the sandbox has decided and the chain has yet to mine.

Every chain-bound decision is a ``ChainOp`` row written in the decision's own database
transaction: the pull of a fee in the order's acceptance, its settlement when the order ends, a
builder's new split, the faucet, a wallet's signed transaction. Blocks mine them in ``pk`` order
(sandbox.chain.node). The placement path only inserts a row: the EVM work happens later, off it.

A fee can be accepted only if the payer can pay it when its pull is mined: its USDC balance and
its allowance to the escrow at the head, less the pulls already queued for it (``affordable``).
"""

from __future__ import annotations

import threading
from collections import defaultdict
from datetime import datetime
from decimal import Decimal

from django.db import transaction

from sandbox.chain import node
from sandbox.models import ChainOp

DB = "sandbox"
HUNDREDTHS = Decimal(100)  # order sizes have two decimals: the contract gets filled and size in hundredths

_queued: dict[str, int] | None = None  # payer (lower case) -> fees of pulls not mined yet
_guard = threading.Lock()


def _queued_pulls() -> dict[str, int]:
    global _queued
    if _queued is None:
        with _guard:
            if _queued is None:
                cursor = node.get().cursor
                queued: dict[str, int] = defaultdict(int)
                for args in ChainOp.objects.filter(pk__gt=cursor, kind=ChainOp.Kind.PULL).values_list("args", flat=True):
                    queued[args["payer"]] += int(args["fee"])
                _queued = queued
    return _queued


def reload() -> None:
    """Forget the in-memory totals (after a revert, or a database reset)."""
    global _queued
    _queued = None


def mined(ops: list) -> None:
    queued = _queued_pulls()
    for op in ops:
        if op.kind == ChainOp.Kind.PULL:
            payer = op.args["payer"]
            queued[payer] = max(queued.get(payer, 0) - int(op.args["fee"]), 0)


def affordable(payer: str) -> tuple[int, int]:
    """(balance, allowance) the payer will have left once its queued pulls are mined."""
    from eth_utils import to_canonical_address

    balance, allowance = node.get().head_funds(to_canonical_address(payer))
    queued = _queued_pulls().get(payer.lower(), 0)
    if allowance != node.MAX_UINT:
        allowance -= queued
    return balance - queued, allowance


node.on_mined(mined)
node.on_reset(reload)


def _enqueue(kind: str, args: dict, now: datetime) -> ChainOp:
    return ChainOp.objects.create(kind=kind, args=args, created_at=now)


def pull(*, record, signature: str, now: datetime) -> None:
    """Parsec's operator pulls the fee with the payer's signature (in the acceptance's transaction)."""
    payer, fee = record.payer.lower(), int(record.fee_amount)
    _enqueue(ChainOp.Kind.PULL, {"order_id": record.fee_order_id, "payer": payer, "fee": str(fee), "deadline": record.deadline,
                                 "signature": signature, "builder_id": record.builder_id}, now)

    def count() -> None:
        queued = _queued_pulls()
        queued[payer] = queued.get(payer, 0) + fee

    transaction.on_commit(count, using=DB)


def settle(*, record, filled: Decimal, size: Decimal, reason: str, now: datetime) -> None:
    _enqueue(ChainOp.Kind.SETTLE, {"order_id": record.fee_order_id, "filled": str(int(filled * HUNDREDTHS)),
                                   "size": str(int(size * HUNDREDTHS)), "reason": reason}, now)


def split(*, builder, share_bps: int, now: datetime) -> None:
    _enqueue(ChainOp.Kind.SPLIT, {"id": builder.pk, "affiliate": (builder.affiliate_address or "").lower() or None,
                                  "treasury": builder.treasury_address.lower(), "bps": share_bps}, now)


def faucet(*, address: str, usdc: int, native: int, now: datetime) -> list[ChainOp]:
    with transaction.atomic(using=DB):
        ops = []
        if usdc:
            ops.append(_enqueue(ChainOp.Kind.MINT, {"address": address.lower(), "amount": str(usdc)}, now))
        if native:
            ops.append(_enqueue(ChainOp.Kind.GAS, {"address": address.lower(), "amount": str(native)}, now))
    return ops


def raw(*, raw_hex: str, tx_hash: str, now: datetime) -> ChainOp:
    return _enqueue(ChainOp.Kind.RAW, {"raw": raw_hex, "hash": tx_hash}, now)


def sync_splits(*, now: datetime) -> int:
    """At start: queue a ``setSplit`` for every builder whose split on chain is not the sandbox's
    (SANDBOX_ESCROW_SPLIT may have changed between runs). Returns how many were queued."""
    from sandbox import fee_split
    from sandbox.models import Builder

    chain = node.get()
    on_chain = chain.splits()
    waiting = {op.args["id"] for op in ChainOp.objects.filter(pk__gt=chain.cursor, kind=ChainOp.Kind.SPLIT)}
    queued = 0
    for builder in Builder.objects.order_by("pk"):
        share = fee_split.affiliate_share_bps(builder)
        wanted = ((builder.affiliate_address or "0x" + "00" * 20).lower(), builder.treasury_address.lower(), share)
        if on_chain.get(builder.pk) != wanted and builder.pk not in waiting:
            split(builder=builder, share_bps=share, now=now)
            queued += 1
    return queued
