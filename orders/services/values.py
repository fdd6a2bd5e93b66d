"""The values trading passes around: what is asked (``OrderRequest``) and what came of it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from customers.models import Customer
from orders.models import Market, Order, OrderIntent, OrderType
from parsec.types import FeeAuthorization


@dataclass(frozen=True)
class OrderRequest:
    """One order as a face hands it to the services (the admin form, the API, a bench).

    ``fee_auth``: a fee authorisation the end-user signed in the builder's app (the API). It is
    checked before anything is written, sent to Parsec with the order and kept nowhere; such an
    order cannot wait for a four-eyes approval. ``fee_base_units`` / ``fee_auth_order_id``
    without it: a fee the sandbox's demo wallet signs when the order is sent (the admin).
    """

    customer: Customer
    exchange: str
    market: Market | None
    outcome: str
    side: str
    price: Decimal
    size: Decimal
    order_type: str = OrderType.GTC
    expiration: datetime | None = None
    reason: str = ""
    source: str = OrderIntent.Source.ADMIN
    fee_base_units: int | None = None
    fee_auth_order_id: str | None = None
    fee_auth: FeeAuthorization | None = field(default=None, repr=False)

    def __post_init__(self):
        if self.fee_auth is not None:
            object.__setattr__(self, "fee_base_units", int(self.fee_auth.fee_amount))
            object.__setattr__(self, "fee_auth_order_id", str(self.fee_auth.order_id).lower())

    @property
    def notional(self) -> Decimal:
        return self.price * self.size

    def same_order_as(self, intent: OrderIntent) -> bool:
        """Whether ``intent`` is this very order (a resubmission), not another one under its key.
        The fee's escrow id is not compared: the admin form mints a new one per submission."""
        from orders.services.common import order_market_id

        market_id = order_market_id(self.market) if self.market is not None else ""
        return (
            intent.customer_id == self.customer.pk and intent.exchange == self.exchange
            and intent.market_native_id == market_id and intent.outcome.lower() == self.outcome.lower()
            and intent.side == self.side and intent.price == self.price and intent.size == self.size
            and intent.order_type == self.order_type and intent.expiration == self.expiration
            and intent.source == self.source and (intent.fee_base_units or None) == (self.fee_base_units or None)
        )

    @classmethod
    def of_intent(cls, intent: OrderIntent) -> OrderRequest:
        return cls(
            customer=intent.customer, exchange=intent.exchange, market=intent.market, outcome=intent.outcome,
            side=intent.side, price=intent.price, size=intent.size, order_type=intent.order_type,
            expiration=intent.expiration, reason=intent.reason, source=intent.source,
            fee_base_units=intent.fee_base_units, fee_auth_order_id=intent.fee_auth_order_id,
        )


@dataclass(frozen=True)
class PlacementResult:
    intent: OrderIntent
    sent: bool  # False when another caller had already claimed the intent, or it was refused before sending
    message: str

    @property
    def status(self) -> str:
        return self.intent.status


@dataclass(frozen=True)
class CancelResult:
    order: Order
    result: str  # "cancelled" | "already_filled" | "already_closed" | "failed"
    message: str
    filled: Decimal | None = None
    escrow_status: str | None = None


@dataclass
class OrderPreview:
    """What the confirmation step shows: notional, fee and the resulting exposure."""

    notional: Decimal
    fee_usdc: Decimal
    balance_usdc: Decimal | None
    committed_usdc: Decimal
    balance_after_usdc: Decimal | None
    position_size: Decimal
    position_after: Decimal
    needs_approval: bool
    warnings: list[str] = field(default_factory=list)
