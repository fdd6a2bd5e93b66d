"""Order creation at Parsec (``POST /orders``): the one write the back-office must send at most once.

Only the placement service imports this module (a ``lint-imports`` contract), so there is one
path by which an order reaches Parsec. The rate limiter's token is taken first
(``take_send_token``), before the caller claims its intent: the wait for a token has no upper
bound, the send itself has one (``ParsecClient.send_deadline_seconds``), which is what the claim's lease covers.
Never retried: ``parsec.errors.placement_outcome`` says what a failure means.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from .client import ORDER_TYPES, ParsecClient, _wire_number
from .retry import NEVER
from .types import FeeAuthorization, Order, OrderType, Side, to_unix_seconds


@dataclass(frozen=True)
class NewOrder:
    """What is sent: the order, its fee authorisation (if any) and per-request credentials."""

    exchange: str
    market_id: str
    outcome: str
    side: Side
    price: Decimal
    size: Decimal
    order_type: OrderType = "gtc"
    expiration: datetime | None = None
    fee_auth: FeeAuthorization | None = None
    payer_address: str | None = None
    signer_address: str | None = None
    affiliate: str | None = None
    credentials: dict | None = None

    def body(self) -> dict[str, Any]:
        if self.order_type not in ORDER_TYPES:
            raise ValueError(f"order_type must be one of {sorted(ORDER_TYPES)}")
        if self.side not in ("buy", "sell"):
            raise ValueError("side must be 'buy' or 'sell'")
        params = {"order_type": self.order_type}
        if self.expiration is not None:
            params["expiration"] = str(to_unix_seconds(self.expiration))
        body: dict[str, Any] = {
            "market_id": self.market_id, "outcome": self.outcome, "side": self.side,
            "price": _wire_number(self.price, "price"), "size": _wire_number(self.size, "size"), "params": params,
        }
        if self.fee_auth is not None:
            body["fee_auth"] = self.fee_auth.to_wire()
        # Parsec wants the payer beside fee_auth (equal to its payer).
        payer = self.payer_address or (self.fee_auth.payer if self.fee_auth is not None else None)
        for key, value in (("payer_address", payer), ("signer_address", self.signer_address), ("affiliate", self.affiliate)):
            if value is not None:
                body[key] = value
        return body


def take_send_token(client: ParsecClient, *, customer_id: str) -> float:
    """Wait for the rate limiter (pool and customer) before claiming; returns the seconds waited."""
    return client.limiter.acquire(customer_id)


def create_order(client: ParsecClient, request: NewOrder, *, customer_id: str, token_taken: bool = False) -> Order:
    """Send one order for the impersonated customer (``X-Builder-Customer-Id``). ``token_taken``:
    the caller already holds the rate limiter's token (``take_send_token``)."""
    body = request.body()
    _, data = client._request(
        "POST", "/orders", params={"exchange": request.exchange}, body=body, customer_id=customer_id,
        exchange=request.exchange, credentials=request.credentials, retry=NEVER, token_taken=token_taken,
    )
    return Order.from_wire(data, exchange=request.exchange)
