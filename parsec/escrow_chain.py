"""Reading fee-escrow state, keyed by the builder's bytes32 ``fee_auth.order_id``.

Parsec's REST API has no escrow endpoint: on the real network the truth is the escrow
contract on Polygon (``feeRecords(orderId)`` and its FeePulled / FeeDistributed /
FeeRefunded events). ``EscrowChainReader`` is what the back-office needs from it;
``SandboxEscrowReader`` implements it over the sandbox's control plane, and a Polygon RPC
reader can implement the same protocol later without touching its callers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from django.conf import settings

from .errors import NotFound
from .types import raw_payload, to_datetime, to_decimal


def _int(value) -> int:
    return int(value) if value not in (None, "") else 0


@dataclass(frozen=True)
class FeeRecord:
    """The escrow contract's ``feeRecords(orderId)``; amounts in USDC base units."""

    order_id: str  # bytes32 fee_auth.order_id
    parsec_order_id: str | None
    customer_id: str | None
    state: str  # pulled / distributed / partially_distributed / refunded
    payer: str
    signer: str | None
    fee_amount: int
    deadline: int | None
    affiliate: str | None
    treasury: str | None
    fill_ratio: Decimal | None
    affiliate_amount: int
    treasury_amount: int
    refund_amount: int
    refund_reason: str | None
    held_amount: int
    pulled_at: datetime | None
    settled_at: datetime | None
    raw: dict = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_wire(cls, data: dict) -> FeeRecord:
        return cls(
            order_id=data.get("order_id", ""),
            parsec_order_id=data.get("parsec_order_id"),
            customer_id=data.get("customer_id"),
            state=data.get("status") or data.get("state") or "",
            payer=data.get("payer", ""),
            signer=data.get("signer"),
            fee_amount=_int(data.get("fee_amount")),
            deadline=_int(data.get("deadline")) or None,
            affiliate=data.get("affiliate"),
            treasury=data.get("treasury"),
            fill_ratio=to_decimal(data.get("fill_ratio")),
            affiliate_amount=_int(data.get("affiliate_amount")),
            treasury_amount=_int(data.get("treasury_amount")),
            refund_amount=_int(data.get("refund_amount")),
            refund_reason=data.get("refund_reason"),
            held_amount=_int(data.get("held_amount")),
            pulled_at=to_datetime(data.get("pulled_at")),
            settled_at=to_datetime(data.get("settled_at")),
            raw=raw_payload({k: v for k, v in data.items() if k != "events"}),
        )


@dataclass(frozen=True)
class FeeEvent:
    """A contract event: FeePulled (amount = pulled), FeeDistributed (affiliate + treasury),
    FeeRefunded (amount = refunded)."""

    name: str
    order_id: str
    amount: int
    affiliate_amount: int
    treasury_amount: int
    at: datetime | None
    args: dict = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_wire(cls, data: dict, *, order_id: str) -> FeeEvent:
        args = data.get("args") or {}
        affiliate, treasury = _int(args.get("affiliate_amount")), _int(args.get("treasury_amount"))
        return cls(
            name=data.get("event") or data.get("name") or "",
            order_id=args.get("orderId") or order_id,
            amount=_int(args.get("amount")) if "amount" in args else affiliate + treasury,
            affiliate_amount=affiliate,
            treasury_amount=treasury,
            at=to_datetime(data.get("timestamp")),
            args=raw_payload(args),
        )


class EscrowChainReader(Protocol):
    def fee_record(self, order_id: str) -> FeeRecord | None: ...

    def events(self, order_id: str) -> list[FeeEvent]: ...


class SandboxEscrowReader:
    """SANDBOX ONLY: reads ``/_sandbox/escrow/records/<order_id>`` with the sandbox admin key."""

    def __init__(self, client=None):
        self._client = client

    @property
    def client(self):
        if self._client is not None:
            return self._client
        from .client import get_client

        return get_client()

    def _read(self, order_id: str) -> dict | None:
        if not getattr(settings, "PARSEC_SANDBOX_ADMIN_KEY", "") and self._client is None:
            raise RuntimeError("PARSEC_SANDBOX_ADMIN_KEY is not set: the sandbox escrow reader needs it")
        try:
            return self.client.sandbox_get(f"/_sandbox/escrow/records/{order_id}")
        except NotFound:
            return None

    def fee_record(self, order_id: str) -> FeeRecord | None:
        data = self._read(order_id)
        if not data:
            return None
        record = data.get("record", data)
        return FeeRecord.from_wire(record)

    def events(self, order_id: str) -> list[FeeEvent]:
        data = self._read(order_id)
        if not data:
            return []
        return [FeeEvent.from_wire(e, order_id=order_id) for e in data.get("events") or ()]
