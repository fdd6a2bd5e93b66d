"""What every trading service shares: the clock, the audit row, the gateway, the broker's hints."""

from __future__ import annotations

import logging
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.money import usdc_from_base_units
from orders.models import Market, OrderIntent

logger = logging.getLogger(__name__)


def now() -> datetime:
    return timezone.now()


def record(**kwargs) -> None:
    """Write the audit row (its own transaction; the audit app owns the chain)."""
    from audit.services import record_action

    record_action(**kwargs)


def client():
    from parsec.client import get_client

    return get_client()


def escrow_reader():
    """Where escrow records are read: the escrow contract's ``feeRecords`` on its chain."""
    from parsec.escrow_chain import escrow_reader as reader

    return reader()


def intent_request(intent: OrderIntent) -> dict:
    """The intent as the audit log records it (never a signature)."""
    return {
        "intent": str(intent.key), "exchange": intent.exchange, "market_id": intent.market_native_id,
        "outcome": intent.outcome, "side": intent.side, "price": str(intent.price), "size": str(intent.size),
        "order_type": intent.order_type,
        "expiration": intent.expiration.isoformat() if intent.expiration else None,
        "fee_auth_order_id": intent.fee_auth_order_id, "fee_base_units": intent.fee_base_units,
    }


def order_market_id(market: Market) -> str:
    """The id Parsec's order endpoints take for this market."""
    return market.order_market_id or market.exchange_market_id


def needs_four_eyes(notional: Decimal) -> bool:
    return notional > Decimal(settings.ORDER_FOUR_EYES_NOTIONAL_USDC)


def fee_usdc(fee_base_units: int | None) -> Decimal:
    return usdc_from_base_units(fee_base_units or 0)


def send_lease_seconds() -> float:
    """How long a claimed send may be in flight before anyone treats it as lost: the gateway's
    hard deadline for one order creation (connect + read timeout + margin), or the configured
    ``ORDER_SENDING_STALE_SECONDS`` when longer. The limiter's wait is before the claim, not in it."""
    return max(float(settings.ORDER_SENDING_STALE_SECONDS), client().send_deadline_seconds)


def safe_delay(task, *args, countdown: float = 0) -> None:
    """Enqueue a hint; if the broker is down the sweeper finds the intent in the database anyway."""
    try:
        task.apply_async(args=args, countdown=countdown)
    except Exception:
        logger.warning("could not enqueue %s%s; the sweeper will pick it up", task.name, args, exc_info=True)


def enqueue_reconcile(intent: OrderIntent, *, countdown: float) -> None:
    from orders import tasks as order_tasks

    key = str(intent.key)
    transaction.on_commit(lambda: safe_delay(order_tasks.reconcile_intent_task, key, countdown=countdown))
