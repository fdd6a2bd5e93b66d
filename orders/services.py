"""Operator trading: place and cancel orders for a customer, exactly once, on record.

Every write here is a short transaction; every call to Parsec happens outside any transaction
(``core.db.assert_no_transaction``). The database holds what must not be lost: an ``OrderIntent`` is
committed before Parsec hears of the order, and the broker only carries hints (which intent to
look at next); the sweeper rebuilds them from the database.

Public functions (keyword-only) used by the admin, the API and the tasks:

- ``create_intent(...)`` validates and writes an intent (idempotent on ``key``).
- ``place_order(*, intent, actor, fee_auth=None)`` claims the intent and sends it once.
- ``submit_for_approval(*, intent, actor)`` four-eyes for large orders.
- ``reconcile_intent(*, intent, actor=None)`` resolves an ``unknown`` intent.
- ``sweep_order_intents()`` the beat job: stale sends, due reconciliations, expiries.
- ``cancel_orders(*, customer, actor, ...)`` and ``orders_to_cancel(...)``.
- ``engage_kill_switch(...)`` / ``release_kill_switch(...)`` / ``engaged_kill_switch(...)``; a builder-wide
  switch (or one over more than ``KILL_SWITCH_INLINE_CANCELS`` orders) cancels in a task.
- four eyes: ``approvals.services`` runs the requests; this module registers what an approved
  order request does (``register_approval_actions``).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q, Sum
from django.utils import timezone

from approvals import services as approvals
from approvals.models import ApprovalRequest
from approvals.services import ApprovalError
from core.db import assert_no_transaction
from core.errors import DomainError
from core.money import usdc_from_base_units
from customers.enums import TRADING_EXCHANGES, Exchange
from customers.models import BalanceSnapshot, Customer, ExchangeLink
from orders import messages
from orders.models import KillSwitch, Market, Order, OrderIntent, OrderType, Position, Side
from parsec.errors import explain

logger = logging.getLogger(__name__)

MIN_PRICE = Decimal("0.01")
MAX_PRICE = Decimal("0.99")
DEFAULT_TICK = Decimal("0.01")

# The order-type matrix Parsec enforces with a 501 (NOTES §5.1).
ORDER_TYPE_EXCHANGES: dict[str, frozenset[str]] = {
    OrderType.GTC: frozenset({Exchange.POLYMARKET, Exchange.KALSHI}),
    OrderType.IOC: frozenset({Exchange.POLYMARKET, Exchange.KALSHI}),
    OrderType.FOK: frozenset({Exchange.POLYMARKET}),
    OrderType.GTD: frozenset({Exchange.POLYMARKET}),
}

# --- Errors ---------------------------------------------------------------------------------


class TradingError(DomainError):
    """A refusal the operator can act on. ``code`` is stable (the API reuses it)."""

    code_kinds = {
        "duplicate_unresolved_intent": "conflict", "intent_key_conflict": "conflict",
        "approval_required": "conflict", "approval_not_needed": "conflict",
        "already_engaged": "conflict", "already_released": "conflict",
    }


class OrderValidationError(TradingError):
    """The order breaks a rule checked before any call to Parsec; ``errors`` maps field → messages."""

    def __init__(self, errors: dict[str | None, list[str]], *, code: str = "invalid_order"):
        self.errors = errors
        first = next(iter(errors.values()))[0]
        super().__init__(first, code=code, fields=errors)


# --- Results --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlacementResult:
    intent: OrderIntent
    sent: bool  # False when another caller had already claimed the intent
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


# --- Small helpers --------------------------------------------------------------------------


def _explained(exc: BaseException) -> tuple[str, str]:
    explained = explain(exc)
    return explained.code, explained.message


def _now() -> datetime:
    return timezone.now()


def _record(**kwargs) -> None:
    """Write the audit row (its own transaction; compliance.services owns the chain)."""
    from audit.services import record_action

    record_action(**kwargs)


def _client():
    from parsec.client import get_client

    return get_client()


def _escrow_reader():
    """Where escrow records are read: the escrow contract's ``feeRecords`` on its chain."""
    from parsec.escrow_chain import escrow_reader

    return escrow_reader()


def _intent_request(intent: OrderIntent) -> dict:
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


# --- Reads the rules need -------------------------------------------------------------------


def engaged_kill_switch(*, customer: Customer | None = None, exchange: str = "", market_native_id: str = "") -> KillSwitch | None:
    """The kill switch (if any) that freezes trading for this customer and market."""
    scope = Q(scope=KillSwitch.Scope.BUILDER)
    if customer is not None:
        scope |= Q(scope=KillSwitch.Scope.CUSTOMER, customer=customer)
    if exchange and market_native_id:
        scope |= Q(scope=KillSwitch.Scope.MARKET, exchange=exchange, market_native_id=market_native_id)
    return KillSwitch.objects.filter(scope, released_at__isnull=True).order_by("engaged_at").first()


def latest_balance(*, customer: Customer, exchange: str) -> BalanceSnapshot | None:
    return BalanceSnapshot.objects.filter(customer=customer, exchange=exchange).order_by("-taken_at", "-id").first()


def committed_buy_usdc(*, customer: Customer, exchange: str, exclude_intent: OrderIntent | None = None) -> Decimal:
    """USDC already promised: open buy orders' unfilled notional plus buy intents not yet resolved."""
    live = Order.objects.filter(customer=customer, exchange=exchange, side=Side.BUY, status__in=Order.LIVE_STATUSES)
    orders_total = sum((o.price * (o.size - o.filled) for o in live.only("price", "size", "filled")), Decimal(0))
    pending = OrderIntent.objects.filter(
        customer=customer, exchange=exchange, side=Side.BUY,
        status__in=[OrderIntent.Status.NEW, OrderIntent.Status.AWAITING_APPROVAL, *OrderIntent.UNRESOLVED_STATUSES],
        parsec_order_id__isnull=True,
    )
    if exclude_intent is not None and exclude_intent.pk:
        pending = pending.exclude(pk=exclude_intent.pk)
    # Drafts the operator never confirmed do not hold money; queued/approved/sending ones do.
    pending = pending.filter(Q(status__in=OrderIntent.UNRESOLVED_STATUSES) | Q(queued_at__isnull=False) | Q(approval__isnull=False))
    intents_total = sum(
        (i.price * i.size + fee_usdc(i.fee_base_units) for i in pending.only("price", "size", "fee_base_units")),
        Decimal(0),
    )
    return orders_total + intents_total


def live_order_book(*, market: Market, outcome: str, depth: int = 10) -> tuple[dict | None, str]:
    """The live book for the form's side panel: ``({"rows": [(bid, ask), ...]}, "")`` or ``(None, message)``."""
    try:
        book = _client().get_orderbook(parsec_id=market.parsec_id, outcome=outcome or None, depth=depth)
    except Exception as exc:
        return None, explain(exc).message
    bids = [(level.price.normalize(), level.size.normalize()) for level in book.bids[:depth]]
    asks = [(level.price.normalize(), level.size.normalize()) for level in book.asks[:depth]]
    rows = [(bids[i] if i < len(bids) else None, asks[i] if i < len(asks) else None) for i in range(max(len(bids), len(asks)))]
    return {"rows": rows, "timestamp": book.timestamp}, ""


def position_size(*, customer: Customer, exchange: str, market_native_id: str, outcome: str) -> Decimal:
    total = Position.objects.filter(
        customer=customer, exchange=exchange, market_native_id=market_native_id, outcome__iexact=outcome, is_open=True,
    ).aggregate(total=Sum("size"))["total"]
    return total or Decimal(0)


def committed_sell_size(*, customer: Customer, exchange: str, market_native_id: str, outcome: str) -> Decimal:
    live = Order.objects.filter(
        customer=customer, exchange=exchange, market_native_id=market_native_id, outcome__iexact=outcome,
        side=Side.SELL, status__in=Order.LIVE_STATUSES,
    )
    orders_total = sum((o.size - o.filled for o in live.only("size", "filled")), Decimal(0))
    intents_total = OrderIntent.objects.filter(
        customer=customer, exchange=exchange, market_native_id=market_native_id, outcome__iexact=outcome,
        side=Side.SELL, status__in=OrderIntent.UNRESOLVED_STATUSES, parsec_order_id__isnull=True,
    ).aggregate(total=Sum("size"))["total"] or Decimal(0)
    return orders_total + intents_total


# --- Validation -----------------------------------------------------------------------------


def validate_order(
    *, customer: Customer, exchange: str, market: Market | None, outcome: str, side: str, price: Decimal,
    size: Decimal, order_type: str = OrderType.GTC, expiration: datetime | None = None,
    fee_base_units: int | None = None, exclude_intent: OrderIntent | None = None,
) -> None:
    """Every rule checked before Parsec is called; raises ``OrderValidationError`` with all failures."""
    errors: dict[str | None, list[str]] = {}

    def fail(field_name: str | None, message: str) -> None:
        errors.setdefault(field_name, []).append(message)

    now = _now()
    if not customer.is_active:
        fail(None, f"{customer} is deactivated at Parsec; a deactivated end-user cannot trade.")
    if exchange not in TRADING_EXCHANGES:
        fail("exchange", f"Parsec routes orders only to Polymarket and Kalshi, not {exchange or 'no exchange'}.")
    elif not ExchangeLink.objects.filter(customer=customer, exchange=exchange).exists():
        fail("exchange", f"{customer} is not onboarded to {Exchange(exchange).label}; onboard them first.")

    market_id = ""
    if market is None:
        fail("market", "Choose a market from the catalogue.")
    else:
        market_id = order_market_id(market)
        if market.exchange != exchange:
            fail("market", f"This market is on {market.get_exchange_display()}, not on the chosen exchange.")
        if market.status != Market.Status.ACTIVE:
            fail("market", f"This market is {market.get_status_display().lower()}; only active markets take orders.")
        names = market.outcome_names
        if names and outcome.lower() not in {name.lower() for name in names}:
            fail("outcome", f"“{outcome}” is not an outcome of this market (choose one of: {', '.join(names)}).")

    if side not in Side.values:
        fail("side", "Side must be buy or sell.")

    if order_type not in OrderType.values:
        fail("order_type", f"Unknown order type {order_type!r}.")
    elif exchange in TRADING_EXCHANGES and exchange not in ORDER_TYPE_EXCHANGES[order_type]:
        allowed = ", ".join(Exchange(e).label for e in sorted(ORDER_TYPE_EXCHANGES[order_type]))
        fail("order_type", f"{OrderType(order_type).label} orders are supported on {allowed} only, not on {Exchange(exchange).label}.")
    if order_type == OrderType.GTD:
        minimum = settings.ORDER_GTD_MIN_SECONDS
        if expiration is None:
            fail("expiration", "A good-till-date order needs an expiry.")
        elif expiration < now + timedelta(seconds=minimum):
            fail("expiration", f"The expiry must be at least {minimum} seconds from now.")
    elif expiration is not None:
        fail("expiration", "Only good-till-date orders take an expiry.")

    price_ok = isinstance(price, Decimal) and price.is_finite()
    if not price_ok or not (MIN_PRICE <= price <= MAX_PRICE):
        fail("price", "The limit price must be between 0.01 and 0.99.")
        price_ok = False
    elif market is not None:
        tick = market.tick_size or DEFAULT_TICK
        if price % tick != 0:
            fail("price", f"The price must be a multiple of this market's tick size ({tick.normalize()}).")

    size_ok = isinstance(size, Decimal) and size.is_finite() and size > 0
    if not size_ok:
        fail("size", "The size must be a positive number of contracts.")
    elif market is not None and market.min_order_size and size < market.min_order_size:
        fail("size", f"This market's minimum order size is {market.min_order_size.normalize()} contracts.")

    if market is not None:
        switch = engaged_kill_switch(customer=customer, exchange=exchange, market_native_id=market_id)
        if switch is not None:
            fail(None, f"Trading is frozen by a kill switch ({switch.get_scope_display().lower()}, engaged by "
                       f"{switch.engaged_by} at {switch.engaged_at:%Y-%m-%d %H:%M} UTC: {switch.reason}).")

    if not errors and price_ok and size_ok and market is not None:
        if side == Side.BUY:
            snapshot = latest_balance(customer=customer, exchange=exchange)
            if snapshot is None:
                fail(None, f"No balance is known for {customer} on {Exchange(exchange).label}; sync the customer first.")
            else:
                available = snapshot.usdc - committed_buy_usdc(customer=customer, exchange=exchange, exclude_intent=exclude_intent)
                needed = price * size + fee_usdc(fee_base_units)
                if needed > available:
                    fail("size", f"Not enough balance: this buy needs {needed:.2f} USDC and {max(available, Decimal(0)):.2f} USDC "
                                 f"is available (balance {snapshot.usdc:.2f} USDC minus open buy orders).")
        else:
            held = position_size(customer=customer, exchange=exchange, market_native_id=market_id, outcome=outcome)
            available = held - committed_sell_size(customer=customer, exchange=exchange, market_native_id=market_id, outcome=outcome)
            if size > available:
                fail("size", f"Not enough position to sell: {customer} holds {held.normalize()} “{outcome}” "
                             f"({max(available, Decimal(0)).normalize()} not already offered in open sell orders).")

    if errors:
        raise OrderValidationError(errors)


def _duplicate_unresolved(*, customer, exchange, market_id, outcome, side, price, size) -> OrderIntent | None:
    return OrderIntent.objects.filter(
        customer=customer, exchange=exchange, market_native_id=market_id, outcome__iexact=outcome, side=side,
        price=price, size=size, status__in=OrderIntent.UNRESOLVED_STATUSES,
    ).first()


def preview_order(*, intent: OrderIntent) -> OrderPreview:
    """The figures the confirmation step shows for an intent."""
    notional = intent.notional
    fee = fee_usdc(intent.fee_base_units)
    snapshot = latest_balance(customer=intent.customer, exchange=intent.exchange)
    committed = committed_buy_usdc(customer=intent.customer, exchange=intent.exchange, exclude_intent=intent)
    held = position_size(customer=intent.customer, exchange=intent.exchange, market_native_id=intent.market_native_id,
                         outcome=intent.outcome)
    balance = snapshot.usdc if snapshot else None
    cash_delta = -(notional + fee) if intent.side == Side.BUY else Decimal(0)
    size_delta = intent.size if intent.side == Side.BUY else -intent.size
    return OrderPreview(
        notional=notional, fee_usdc=fee, balance_usdc=balance, committed_usdc=committed,
        balance_after_usdc=None if balance is None else balance - committed + cash_delta,
        position_size=held, position_after=held + size_delta, needs_approval=needs_four_eyes(notional),
    )


# --- Intents --------------------------------------------------------------------------------


def create_intent(
    *, customer: Customer, exchange: str, market: Market | None, outcome: str, side: str, price: Decimal,
    size: Decimal, actor, order_type: str = OrderType.GTC, expiration: datetime | None = None, reason: str = "",
    key: uuid.UUID | str | None = None, source: str = OrderIntent.Source.ADMIN, fee_base_units: int | None = None,
    fee_auth_order_id: str | None = None, fee_auth_from_caller: bool = False,
) -> OrderIntent:
    """Validate an order and write its intent (committed) — before any call to Parsec.

    ``fee_auth_from_caller``: the order carries a fee authorisation the caller's end-user signed
    (the API). Such an order cannot wait for a four-eyes approval: the signature is sent to
    Parsec with the order and kept nowhere, so there would be nothing to send on approval.

    Idempotent on ``key``: the form carries the key from its first display, so a resubmitted
    form returns the intent already written instead of a second one.
    """
    if key is not None:
        existing = OrderIntent.objects.filter(key=key).select_related("customer", "market").first()
        if existing is not None:
            if existing.customer_id != customer.pk:
                raise TradingError("This intent key belongs to another customer.", code="intent_key_conflict")
            return existing
    validate_order(customer=customer, exchange=exchange, market=market, outcome=outcome, side=side, price=price,
                   size=size, order_type=order_type, expiration=expiration, fee_base_units=fee_base_units)
    if fee_auth_from_caller and needs_four_eyes(price * size):
        limit = Decimal(settings.ORDER_FOUR_EYES_NOTIONAL_USDC)
        raise OrderValidationError({"size": [
            f"This order's notional ({(price * size):.2f} USDC) is above {limit:.2f} USDC, so a second Operations user must "
            "approve it, and a fee authorisation cannot wait for that: the back-office keeps no end-user signature. "
            f"Send it without a fee_auth, or as orders of at most {limit:.2f} USDC each."
        ]}, code="four_eyes_fee_order")
    market_id = order_market_id(market)
    outcome = next((name for name in market.outcome_names if name.lower() == outcome.lower()), outcome)
    duplicate = _duplicate_unresolved(customer=customer, exchange=exchange, market_id=market_id, outcome=outcome,
                                      side=side, price=price, size=size)
    if duplicate is not None:
        raise TradingError(
            f"An identical order for {customer} (intent {duplicate.key}) is still being reconciled: we do not yet know "
            "whether Parsec placed it. Wait for it to resolve, or reconcile it now, before sending the same order again.",
            code="duplicate_unresolved_intent",
        )
    initial = OrderIntent.Status.AWAITING_APPROVAL if needs_four_eyes(price * size) else OrderIntent.Status.NEW
    try:
        with transaction.atomic():
            intent = OrderIntent.objects.create(
                key=key or uuid.uuid4(), customer=customer, exchange=exchange, market=market,
                market_native_id=market_id, outcome=outcome, side=side, price=price, size=size, order_type=order_type,
                expiration=expiration, reason=reason, source=source, status=initial,
                created_by=actor if getattr(actor, "pk", None) else None, fee_base_units=fee_base_units,
                fee_auth_order_id=fee_auth_order_id,
            )
    except IntegrityError:
        # Two submissions of the same form raced; the first one's row is the intent.
        existing = OrderIntent.objects.filter(key=key).first() if key else None
        if existing is None:
            raise
        return existing
    return intent


def withdraw_intent(*, intent: OrderIntent, actor, reason: str = "") -> bool:
    """Drop an intent that was never sent. Returns False when it had already gone further."""
    done = OrderIntent.objects.filter(
        pk=intent.pk, status__in=[OrderIntent.Status.NEW, OrderIntent.Status.AWAITING_APPROVAL],
    ).update(status=OrderIntent.Status.WITHDRAWN, resolved_at=_now(), reconcile_note=reason[:2000])
    intent.refresh_from_db()
    if done:
        _record(actor=actor, action="order.withdraw", customer=intent.customer, reason=reason,
                request=_intent_request(intent), outcome="ok", response={"status": intent.status})
    return bool(done)


def submit_for_approval(*, intent: OrderIntent, actor, reason: str = "") -> ApprovalRequest:
    """Four eyes: ask a second Operations user to approve a large order before it is sent."""
    if intent.status != OrderIntent.Status.AWAITING_APPROVAL:
        raise ApprovalError("This order does not need (or no longer awaits) an approval.", code="approval_not_needed")
    if intent.approval_id:
        return intent.approval
    request = approvals.request_approval(
        action="order.place", payload={"intent": str(intent.key)}, actor=actor, customer=intent.customer,
        reason=reason or intent.reason,
        summary=f"{intent.side} {intent.size.normalize()} {intent.outcome} @ {intent.price.normalize()} "
                f"({intent.notional:.2f} USDC) on {intent.market_title}"[:255],
    )
    OrderIntent.objects.filter(pk=intent.pk, approval__isnull=True).update(approval=request)
    intent.refresh_from_db()
    return intent.approval


def queue_placement(*, intent: OrderIntent) -> None:
    """Send an intent from a worker (API path, bench): marks it queued, enqueues after commit."""
    from orders import tasks as order_tasks

    OrderIntent.objects.filter(pk=intent.pk, status=OrderIntent.Status.NEW).update(queued_at=_now())
    transaction.on_commit(lambda: order_tasks.place_intent.delay(str(intent.key)))


# --- Placement ------------------------------------------------------------------------------


def place_order(*, intent: OrderIntent, actor, fee_auth=None, credentials: dict | None = None) -> PlacementResult:
    """Send an intent to Parsec at most once and record what happened.

    The claim (``new`` → ``sending``) is one conditional UPDATE, so a double click, a resubmitted
    page, a redelivered task or two operators on the same intent send it once; the losers get
    the intent as it stands. ``fee_auth`` (issue 6) is passed through to the gateway as is.
    """
    assert_no_transaction()
    intent = OrderIntent.objects.select_related("customer", "market").get(pk=intent.pk)
    if intent.status == OrderIntent.Status.AWAITING_APPROVAL:
        raise ApprovalError("This order needs a second Operations user's approval before it is sent.",
                            code="approval_required")
    if intent.status == OrderIntent.Status.NEW:
        refusal = _last_minute_refusal(intent)
        if refusal:
            OrderIntent.objects.filter(pk=intent.pk, status=OrderIntent.Status.NEW).update(
                status=OrderIntent.Status.WITHDRAWN, resolved_at=_now(), error_code="refused_before_sending",
                error_message=refusal,
            )
            intent.refresh_from_db()
            _record(actor=actor, action="order.place", customer=intent.customer, reason=intent.reason,
                    request=_intent_request(intent), outcome="rejected", response={"refused_locally": refusal})
            return PlacementResult(intent, sent=False, message=refusal)
    if fee_auth is not None:
        fee_order_id = getattr(fee_auth, "order_id", None) or (fee_auth.get("order_id") if isinstance(fee_auth, dict) else None)
        if intent.fee_auth_order_id and fee_order_id and fee_order_id.lower() != intent.fee_auth_order_id.lower():
            raise TradingError("The fee authorisation was signed for another order.", code="fee_auth_mismatch")
        if fee_order_id and not intent.fee_auth_order_id:
            OrderIntent.objects.filter(pk=intent.pk, status=OrderIntent.Status.NEW).update(fee_auth_order_id=fee_order_id)

    now = _now()
    claimed = OrderIntent.objects.filter(pk=intent.pk, status=OrderIntent.Status.NEW).update(
        status=OrderIntent.Status.SENDING, sent_at=now, sent_by=actor if getattr(actor, "pk", None) else None,
        next_check_at=now + timedelta(seconds=settings.ORDER_SENDING_STALE_SECONDS),
    )
    intent.refresh_from_db()
    if not claimed:
        return PlacementResult(intent, sent=False, message=messages.already_handled(intent))

    from parsec.errors import placement_outcome

    try:
        order = _client().create_order(
            customer_id=str(intent.customer.parsec_customer_id), exchange=intent.exchange,
            market_id=intent.market_native_id, outcome=intent.outcome, side=intent.side, price=intent.price,
            size=intent.size, order_type=intent.order_type,
            expiration=intent.expiration, fee_auth=fee_auth, credentials=credentials,
            payer_address=getattr(fee_auth, "payer", None),  # Parsec wants it beside fee_auth (equal to its payer)
        )
    except Exception as exc:
        outcome = placement_outcome(exc)
        return _record_failed_send(intent=intent, actor=actor, exc=exc, outcome=outcome)
    return _record_placed(intent=intent, actor=actor, order=order, via="send")


def _last_minute_refusal(intent: OrderIntent) -> str | None:
    """Local rules that may have changed since the intent was written (kill switch, deactivation)."""
    customer = Customer.objects.get(pk=intent.customer_id)
    if not customer.is_active:
        return f"{customer} has been deactivated; the order was not sent."
    switch = engaged_kill_switch(customer=customer, exchange=intent.exchange, market_native_id=intent.market_native_id)
    if switch is not None:
        return f"Trading is frozen by a kill switch ({switch.get_scope_display().lower()}: {switch.reason}); the order was not sent."
    if intent.order_type == OrderType.GTD and intent.expiration and intent.expiration < _now() + timedelta(seconds=settings.ORDER_GTD_MIN_SECONDS):
        return "The good-till-date expiry is now less than a minute away; the order was not sent."
    return None


def _mirror_order(*, intent: OrderIntent, order, user) -> Order | None:
    """Upsert the Parsec order into the mirror through the sync mapping (one copy of the mapping)."""
    from orders.sync import upsert_placed_order

    return upsert_placed_order(
        customer=intent.customer, exchange=intent.exchange, order=order,
        placed_by=Order.PlacedBy.API_CLIENT if intent.source == OrderIntent.Source.API else Order.PlacedBy.OPERATOR,
        placed_by_user=user if intent.source == OrderIntent.Source.ADMIN else None,
        order_type=intent.order_type, expiration=intent.expiration, fee_auth_order_id=intent.fee_auth_order_id,
    )


def _record_placed(*, intent: OrderIntent, actor, order, via: str) -> PlacementResult:
    now = _now()
    from_statuses = [OrderIntent.Status.SENDING, OrderIntent.Status.UNKNOWN]
    try:
        with transaction.atomic():
            # A reconciled intent keeps the error that made it unknown: it is part of its story.
            cleared = {"error_code": "", "error_message": ""} if via == "send" else {}
            updated = OrderIntent.objects.filter(pk=intent.pk, status__in=from_statuses).update(
                status=OrderIntent.Status.PLACED, parsec_order_id=order.id, resolved_at=now, next_check_at=None,
                **cleared,
            )
    except IntegrityError:
        # Another intent already claims that Parsec order: a human must look.
        _mark_needs_review(intent, f"Parsec order {order.id} is already linked to another intent.")
        intent.refresh_from_db()
        return PlacementResult(intent, sent=True, message=messages.intent_status_message(intent))
    mirrored = None
    user = intent.sent_by or intent.created_by
    try:
        mirrored = _mirror_order(intent=intent, order=order, user=user)
    except Exception:  # the order is placed whatever the mirror says; the next sync catches up
        logger.exception("intent %s placed as %s but mirroring the order failed", intent.key, order.id)
    if mirrored is not None:
        OrderIntent.objects.filter(pk=intent.pk).update(order=mirrored)
    intent.refresh_from_db()
    if updated:
        _record(actor=actor, action="order.place" if via == "send" else "order.reconcile", customer=intent.customer,
                reason=intent.reason, request=_intent_request(intent), outcome="ok",
                response={"order_id": order.id, "status": getattr(order, "status", ""), "via": via})
    return PlacementResult(intent, sent=True, message=messages.intent_status_message(intent))


def _record_failed_send(*, intent: OrderIntent, actor, exc: Exception, outcome: str) -> PlacementResult:
    code, text = _explained(exc)
    now = _now()
    if outcome == "rejected":
        values = {"status": OrderIntent.Status.REJECTED, "resolved_at": now, "next_check_at": None}
        audit_outcome = "rejected"
    elif outcome == "not_placed":
        values = {"status": OrderIntent.Status.NOT_PLACED, "resolved_at": now, "next_check_at": None}
        audit_outcome = "rejected"
    else:
        values = {"status": OrderIntent.Status.UNKNOWN,
                  "next_check_at": now + timedelta(seconds=settings.ORDER_RECONCILE_FIRST_CHECK_SECONDS)}
        audit_outcome = "unknown"
    OrderIntent.objects.filter(pk=intent.pk, status=OrderIntent.Status.SENDING).update(
        error_code=code, error_message=text[:4000], **values,
    )
    intent.refresh_from_db()
    if intent.status == OrderIntent.Status.UNKNOWN:
        _enqueue_reconcile(intent, countdown=settings.ORDER_RECONCILE_FIRST_CHECK_SECONDS)
    _record(actor=actor, action="order.place", customer=intent.customer, reason=intent.reason,
            request=_intent_request(intent), outcome=audit_outcome,
            response={"error_code": code, "error": text, "status": getattr(exc, "status", None),
                      "classification": outcome})
    return PlacementResult(intent, sent=True, message=messages.intent_status_message(intent))


def _enqueue_reconcile(intent: OrderIntent, *, countdown: float) -> None:
    from orders import tasks as order_tasks

    key = str(intent.key)
    transaction.on_commit(lambda: _safe_delay(order_tasks.reconcile_intent_task, key, countdown=countdown))


def _safe_delay(task, *args, countdown: float = 0) -> None:
    """Enqueue a hint; if the broker is down the sweeper finds the intent in the database anyway."""
    try:
        task.apply_async(args=args, countdown=countdown)
    except Exception:
        logger.warning("could not enqueue %s%s; the sweeper will pick it up", task.name, args, exc_info=True)


# --- Reconciliation -------------------------------------------------------------------------


def _mark_needs_review(intent: OrderIntent, note: str) -> None:
    OrderIntent.objects.filter(pk=intent.pk, status__in=OrderIntent.UNRESOLVED_STATUSES).update(
        status=OrderIntent.Status.NEEDS_REVIEW, resolved_at=_now(), next_check_at=None, reconcile_note=note[:4000],
    )


def _matches(intent: OrderIntent, order) -> bool:
    return (
        str(order.market_id) == intent.market_native_id
        and str(order.outcome).lower() == intent.outcome.lower()
        and str(order.side) == intent.side
        and Decimal(str(order.price)) == intent.price
        and Decimal(str(order.size)) == intent.size
    )


def _escrow_match(intent: OrderIntent) -> str | None:
    """With escrow, the sandbox (or chain) record names the Parsec order for our fee order id."""
    if not intent.fee_auth_order_id:
        return None
    try:
        record = _escrow_reader().fee_record(intent.fee_auth_order_id)
    except Exception:
        logger.info("escrow record for %s not readable", intent.fee_auth_order_id, exc_info=True)
        return None
    return getattr(record, "parsec_order_id", None) if record else None


def reconcile_intent(*, intent: OrderIntent, actor=None) -> OrderIntent:
    """Look for an ``unknown`` intent's order at Parsec and resolve it.

    The customer's orders in a window around the send (status=all, filtered by market) are
    matched on outcome, side, price and size, skipping orders already linked to other intents.
    One match → placed; several → needs review; none → not placed once the order has had time
    to land (``ORDER_RECONCILE_SETTLE_SECONDS``), else look again later. Past the deadline or
    the attempts the intent goes to a human rather than staying unknown.
    """
    assert_no_transaction()
    now = _now()
    stale_before = now - timedelta(seconds=settings.ORDER_SENDING_STALE_SECONDS)
    # A send whose worker died mid-call is as unknown as a dropped answer.
    OrderIntent.objects.filter(pk=intent.pk, status=OrderIntent.Status.SENDING, sent_at__lt=stale_before).update(
        status=OrderIntent.Status.UNKNOWN, error_code="worker_lost",
        error_message="The worker stopped before Parsec's answer was recorded.",
    )
    intent = OrderIntent.objects.select_related("customer", "market").get(pk=intent.pk)
    if intent.status != OrderIntent.Status.UNKNOWN:
        return intent
    OrderIntent.objects.filter(pk=intent.pk).update(reconcile_attempts=F("reconcile_attempts") + 1)
    intent.reconcile_attempts += 1
    sent_at = intent.sent_at or intent.created_at
    deadline = sent_at + timedelta(seconds=settings.ORDER_RECONCILE_DEADLINE_SECONDS)
    window = timedelta(seconds=settings.ORDER_RECONCILE_WINDOW_SECONDS)

    candidates = None
    error_text = ""
    try:
        orders = _client().list_orders(
            customer_id=str(intent.customer.parsec_customer_id), exchange=intent.exchange, status="all",
            market_id=intent.market_native_id, start=sent_at - window, end=now + window, limit=500,
        )
        candidates = [o for o in orders if _matches(intent, o)]
        taken = set(
            OrderIntent.objects.filter(exchange=intent.exchange, parsec_order_id__in=[o.id for o in candidates])
            .exclude(pk=intent.pk).values_list("parsec_order_id", flat=True)
        )
        candidates = [o for o in candidates if o.id not in taken]
        escrow_order_id = _escrow_match(intent)
        if escrow_order_id:
            by_escrow = [o for o in candidates if o.id == escrow_order_id]
            if by_escrow:
                candidates = by_escrow
    except Exception as exc:
        error_text = explain(exc).message
        logger.info("reconcile %s: listing orders failed: %s", intent.key, error_text)

    if candidates is not None and len(candidates) == 1:
        return _record_placed(intent=intent, actor=actor, order=candidates[0], via="reconcile").intent

    if candidates is not None and len(candidates) > 1:
        note = "Several orders at Parsec match this intent: " + ", ".join(o.id for o in candidates)
        _mark_needs_review(intent, note)
        outcome = "needs_review"
    elif candidates is not None and now >= sent_at + timedelta(seconds=settings.ORDER_RECONCILE_SETTLE_SECONDS):
        OrderIntent.objects.filter(pk=intent.pk, status=OrderIntent.Status.UNKNOWN).update(
            status=OrderIntent.Status.NOT_PLACED, resolved_at=now, next_check_at=None,
            reconcile_note="No matching order at Parsec after the settling time.",
        )
        outcome = "not_placed"
    elif now >= deadline or intent.reconcile_attempts >= settings.ORDER_RECONCILE_MAX_ATTEMPTS:
        _mark_needs_review(intent, f"Unresolved after {intent.reconcile_attempts} checks: {error_text or 'no answer'}")
        outcome = "needs_review"
    else:
        delay = settings.ORDER_RECONCILE_RETRY_SECONDS
        if candidates is not None:  # nothing yet, but too early to call it absent
            settle_at = sent_at + timedelta(seconds=settings.ORDER_RECONCILE_SETTLE_SECONDS)
            delay = min(delay, max((settle_at - now).total_seconds(), 0.5))
        OrderIntent.objects.filter(pk=intent.pk, status=OrderIntent.Status.UNKNOWN).update(
            next_check_at=now + timedelta(seconds=delay), reconcile_note=error_text[:4000],
        )
        intent.refresh_from_db()
        _enqueue_reconcile(intent, countdown=delay)
        return intent

    intent.refresh_from_db()
    _record(actor=actor, action="order.reconcile", customer=intent.customer, reason=intent.reason,
            request=_intent_request(intent), outcome="ok" if outcome == "not_placed" else "unknown",
            response={"status": intent.status, "note": intent.reconcile_note})
    return intent


def sweep_order_intents(*, now: datetime | None = None) -> dict[str, int]:
    """The beat job: the database says what must happen, whatever the broker lost.

    - ``sending`` intents whose worker died → ``unknown``;
    - ``unknown`` intents due a check → reconciled here (not only enqueued: the broker may
      have lost the hint);
    - queued ``new`` intents no worker took → re-enqueued, or withdrawn when too old.
    (Four-eyes requests past their expiry are expired by the approvals app's own beat job.)
    """
    now = now or _now()
    counts = {"stale_sends": 0, "reconciled": 0, "requeued": 0, "withdrawn": 0}
    stale_before = now - timedelta(seconds=settings.ORDER_SENDING_STALE_SECONDS)
    counts["stale_sends"] = OrderIntent.objects.filter(
        status=OrderIntent.Status.SENDING, sent_at__lt=stale_before,
    ).update(status=OrderIntent.Status.UNKNOWN, next_check_at=now, error_code="worker_lost",
             error_message="The worker stopped before Parsec's answer was recorded.")
    due = OrderIntent.objects.filter(status=OrderIntent.Status.UNKNOWN).filter(
        Q(next_check_at__lte=now) | Q(next_check_at__isnull=True),
    ).order_by("next_check_at")[:500]
    for intent in due:
        try:
            reconcile_intent(intent=intent)
            counts["reconciled"] += 1
        except Exception:
            logger.exception("sweeper: reconciling %s failed", intent.key)

    from orders import tasks as order_tasks

    queued = OrderIntent.objects.filter(status=OrderIntent.Status.NEW, queued_at__isnull=False)
    too_old = now - timedelta(seconds=settings.ORDER_QUEUED_MAX_DELAY_SECONDS)
    counts["withdrawn"] = queued.filter(queued_at__lt=too_old).update(
        status=OrderIntent.Status.WITHDRAWN, resolved_at=now, error_code="not_sent_in_time",
        error_message="No worker sent this order in time; it was withdrawn rather than sent late.",
    )
    for key in queued.filter(queued_at__lt=now - timedelta(seconds=10)).values_list("key", flat=True)[:500]:
        _safe_delay(order_tasks.place_intent, str(key))
        counts["requeued"] += 1

    return counts


# --- Cancelling -----------------------------------------------------------------------------


def orders_to_cancel(
    *, customer: Customer | None = None, order_ids: Iterable[int] | None = None, exchange: str = "",
    market_native_id: str = "",
):
    """The live orders a cancel would touch (the confirmation step lists exactly these)."""
    qs = Order.objects.filter(status__in=Order.CANCELLABLE_STATUSES)
    if customer is not None:
        qs = qs.filter(customer=customer)
    if order_ids is not None:
        qs = qs.filter(pk__in=list(order_ids))
    if exchange:
        qs = qs.filter(exchange=exchange)
    if market_native_id:
        qs = qs.filter(market_native_id=market_native_id)
    return qs.select_related("customer", "market").order_by("customer_id", "-created_at")


def cancel_orders(
    *, actor, reason: str = "", customer: Customer | None = None, order_ids: Iterable[int] | None = None,
    exchange: str = "", market_native_id: str = "", action: str = "order.cancel",
) -> list[CancelResult]:
    """Cancel one, some or all live orders (of a customer, optionally one market); one result each."""
    assert_no_transaction()
    results = []
    for order in list(orders_to_cancel(customer=customer, order_ids=order_ids, exchange=exchange,
                                       market_native_id=market_native_id)):
        results.append(_cancel_one(order=order, actor=actor, reason=reason, action=action))
    return results


def _cancel_one(*, order: Order, actor, reason: str, action: str) -> CancelResult:
    from parsec.errors import ParsecRejected

    client = _client()
    customer_id = str(order.customer.parsec_customer_id)
    request = {"order_id": order.parsec_order_id, "exchange": order.exchange, "market_id": order.market_native_id}
    try:
        returned = client.cancel_order(customer_id=customer_id, exchange=order.exchange, order_id=order.parsec_order_id)
    except ParsecRejected as exc:
        code, text = _explained(exc)
        # Parsec refuses to cancel an order that is no longer live: say what it became.
        try:
            current = client.get_order(customer_id=customer_id, exchange=order.exchange, order_id=order.parsec_order_id)
        except Exception:
            current = None
        if current is not None and current.status in ("filled", "cancelled", "rejected"):
            _mirror_existing(order, current)
            result = "already_filled" if current.status == "filled" else "already_closed"
            text = f"Already {current.status} at Parsec (filled {Decimal(str(current.filled)).normalize()} of {order.size.normalize()})."
            _record(actor=actor, action=action, customer=order.customer, reason=reason, request=request,
                    outcome="rejected", response={"result": result, "status": current.status})
            return CancelResult(order, result, text, filled=Decimal(str(current.filled)))
        _record(actor=actor, action=action, customer=order.customer, reason=reason, request=request,
                outcome="rejected", response={"error_code": code, "error": text})
        return CancelResult(order, "failed", text)
    except Exception as exc:
        code, text = _explained(exc)
        _record(actor=actor, action=action, customer=order.customer, reason=reason, request=request,
                outcome="error", response={"error_code": code, "error": text})
        return CancelResult(order, "failed", text)
    _mirror_existing(order, returned)
    order.refresh_from_db()
    escrow_status = _escrow_status(order)
    filled = Decimal(str(returned.filled))
    text = f"Cancelled (filled {filled.normalize()} of {order.size.normalize()} before the cancel)."
    if escrow_status:
        text += f" Fee escrow: {escrow_status}."
    _record(actor=actor, action=action, customer=order.customer, reason=reason, request=request, outcome="ok",
            response={"result": "cancelled", "status": returned.status, "filled": str(filled), "escrow": escrow_status})
    return CancelResult(order, "cancelled", text, filled=filled, escrow_status=escrow_status)


def _mirror_existing(order: Order, returned) -> None:
    from orders.sync import upsert_placed_order

    try:
        upsert_placed_order(customer=order.customer, exchange=order.exchange, order=returned)
    except Exception:
        logger.exception("mirroring order %s after cancel failed", order.parsec_order_id)


def _escrow_status(order: Order) -> str | None:
    if not order.fee_auth_order_id:
        return None
    try:
        record = _escrow_reader().fee_record(order.fee_auth_order_id)
    except Exception:
        return None
    return record.state if record else None


# --- Kill switch ----------------------------------------------------------------------------


def engage_kill_switch(
    *, scope: str, actor, reason: str, customer: Customer | None = None, exchange: str = "", market_native_id: str = "",
) -> tuple[KillSwitch, list[CancelResult]]:
    """Freeze placement in a scope (committed first: new placements stop at once), then cancel its open orders."""
    if not reason.strip():
        raise TradingError("Say why the kill switch is engaged.", code="reason_required", field="reason")
    if scope == KillSwitch.Scope.CUSTOMER and customer is None:
        raise TradingError("Choose the customer to freeze.", code="invalid", field="customer")
    if scope == KillSwitch.Scope.MARKET and not (exchange and market_native_id):
        raise TradingError("Choose the market to freeze.", code="invalid", field="market")
    try:
        with transaction.atomic():
            switch = KillSwitch.objects.create(
                scope=scope, reason=reason, engaged_by=actor,
                customer=customer if scope == KillSwitch.Scope.CUSTOMER else None,
                exchange=exchange if scope == KillSwitch.Scope.MARKET else "",
                market_native_id=market_native_id if scope == KillSwitch.Scope.MARKET else "",
            )
    except IntegrityError:
        raise TradingError("A kill switch is already engaged for this scope.", code="already_engaged") from None
    request = {"scope": scope, "customer": str(customer.parsec_customer_id) if customer else None,
               "exchange": exchange, "market_id": market_native_id}
    _record(actor=actor, action="killswitch.engage", customer=customer, reason=reason, request=request,
            outcome="ok", response={"kill_switch": switch.pk})
    live = orders_to_cancel(**_switch_scope(switch)).count()
    if scope == KillSwitch.Scope.BUILDER or live > settings.KILL_SWITCH_INLINE_CANCELS:
        # One Parsec call per order: a whole builder's book is cancelled by a worker, and the
        # switch's summary says how far it got (placement is frozen already).
        from orders.tasks import cancel_for_kill_switch

        KillSwitch.objects.filter(pk=switch.pk).update(cancel_summary={"queued": live})
        try:
            cancel_for_kill_switch.apply_async(args=(switch.pk, getattr(actor, "pk", None)))
        except Exception:  # no broker: nothing else would cancel them, so cancel them here
            logger.warning("could not enqueue the cancels of kill switch #%s; cancelling inline", switch.pk, exc_info=True)
        else:
            switch.refresh_from_db()
            return switch, []
    results = cancel_for_switch(switch=switch, actor=actor)
    switch.refresh_from_db()
    return switch, results


def _switch_scope(switch: KillSwitch) -> dict:
    """The orders a switch covers, as orders_to_cancel/cancel_orders take them (the switch row
    holds a customer only for the customer scope and a market only for the market scope)."""
    return {"customer": switch.customer, "exchange": switch.exchange, "market_native_id": switch.market_native_id}


def cancel_for_switch(*, switch: KillSwitch, actor) -> list[CancelResult]:
    """Cancel the open orders in a switch's scope and store the summary on it (a redelivered
    run finds the orders already cancelled and only counts them)."""
    results = cancel_orders(
        actor=actor, reason=f"Kill switch #{switch.pk}: {switch.reason}", action="order.cancel.killswitch", **_switch_scope(switch),
    )
    summary = {
        "cancelled": sum(r.result == "cancelled" for r in results),
        "already_closed": sum(r.result in ("already_filled", "already_closed") for r in results),
        "failed": [{"order": r.order.parsec_order_id, "reason": r.message} for r in results if r.result == "failed"],
    }
    KillSwitch.objects.filter(pk=switch.pk).update(cancel_summary=summary)
    return results


def release_kill_switch(*, switch: KillSwitch, actor, reason: str = "") -> KillSwitch:
    released = KillSwitch.objects.filter(pk=switch.pk, released_at__isnull=True).update(
        released_at=_now(), released_by=actor,
    )
    switch.refresh_from_db()
    if not released:
        raise TradingError("This kill switch is already released.", code="already_released")
    _record(actor=actor, action="killswitch.release", customer=switch.customer, reason=reason,
            request={"kill_switch": switch.pk, "scope": switch.scope}, outcome="ok", response={})
    return switch


# --- Four eyes (approvals): what an approved, refused or expired order request does ---------


def _order_request_closed(request: ApprovalRequest) -> None:
    OrderIntent.objects.filter(approval=request, status=OrderIntent.Status.AWAITING_APPROVAL).update(
        status=OrderIntent.Status.WITHDRAWN, resolved_at=_now(),
        error_code=f"approval_{request.status}", error_message=f"The four-eyes request was {request.status}.",
    )


def _order_request_details(request: ApprovalRequest) -> dict:
    return {"intents": list(request.order_intents.select_related("market"))}


def _approved_order_placement(request: ApprovalRequest, actor) -> dict:
    intent = OrderIntent.objects.get(key=request.payload["intent"])
    OrderIntent.objects.filter(pk=intent.pk, status=OrderIntent.Status.AWAITING_APPROVAL).update(
        status=OrderIntent.Status.NEW,
    )
    if intent.fee_auth_order_id:  # with a fee: signed and checked by the escrow module, then placed
        from orders.escrow import FeeAuthError, send_intent

        try:
            result = send_intent(intent=intent, actor=actor)
        except FeeAuthError as exc:
            # Nothing was sent and nothing can be (no signature to send): the intent ends here.
            OrderIntent.objects.filter(pk=intent.pk, status=OrderIntent.Status.NEW).update(
                status=OrderIntent.Status.WITHDRAWN, resolved_at=_now(), error_code=exc.code[:64], error_message=exc.message[:4000],
            )
            return {"ok": False, "intent": str(intent.key), "error": exc.message, "code": exc.code}
    else:
        result = place_order(intent=intent, actor=actor)
    return {"ok": result.intent.status == OrderIntent.Status.PLACED, "intent": str(intent.key),
            "status": result.intent.status, "message": result.message}


def register_approval_actions() -> None:
    """What four eyes does with an order (called from ``OrdersConfig.ready``)."""
    approvals.register("order.place", approved=_approved_order_placement, closed=_order_request_closed,
                       details=_order_request_details, details_template="orders/trading/_approval_intents.html")
