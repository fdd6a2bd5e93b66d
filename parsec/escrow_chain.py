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
from typing import Protocol

from django.conf import settings

from .errors import NotFound
from .types import raw_payload, to_datetime


def _int(value) -> int:
    return int(value) if value not in (None, "") else 0


@dataclass(frozen=True)
class FeeRecord:
    order_id: str  # bytes32 fee_auth.order_id
    parsec_order_id: str | None
    payer: str
    fee_amount: int  # USDC base units
    state: str  # pulled / distributed / partially_distributed / refunded
    distributed_amount: int
    refunded_amount: int
    affiliate_amount: int
    treasury_amount: int
    created_at: datetime | None
    updated_at: datetime | None
    raw: dict = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_wire(cls, data: dict) -> FeeRecord:
        return cls(
            order_id=data.get("order_id") or data.get("fee_order_id") or "",
            parsec_order_id=data.get("parsec_order_id"),
            payer=data.get("payer", ""),
            fee_amount=_int(data.get("fee_amount")),
            state=data.get("state") or data.get("status") or "",
            distributed_amount=_int(data.get("distributed_amount")),
            refunded_amount=_int(data.get("refunded_amount")),
            affiliate_amount=_int(data.get("affiliate_amount")),
            treasury_amount=_int(data.get("treasury_amount")),
            created_at=to_datetime(data.get("created_at") or data.get("pulled_at")),
            updated_at=to_datetime(data.get("updated_at")),
            raw=raw_payload(data),
        )


@dataclass(frozen=True)
class FeeEvent:
    name: str  # FeePulled / FeeDistributed / FeeRefunded
    order_id: str
    amount: int
    affiliate_amount: int
    treasury_amount: int
    at: datetime | None
    tx_hash: str | None
    raw: dict = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_wire(cls, data: dict, *, order_id: str) -> FeeEvent:
        return cls(
            name=data.get("name") or data.get("event") or data.get("kind") or "",
            order_id=data.get("order_id") or order_id,
            amount=_int(data.get("amount")),
            affiliate_amount=_int(data.get("affiliate_amount")),
            treasury_amount=_int(data.get("treasury_amount")),
            at=to_datetime(data.get("at") or data.get("created_at") or data.get("timestamp")),
            tx_hash=data.get("tx_hash"),
            raw=raw_payload(data),
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
