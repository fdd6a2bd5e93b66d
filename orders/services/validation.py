"""Every rule an order must meet before Parsec hears of it, checked when the intent is written and
again (the rules that can change: deactivation, kill switch, expiry, money) when it is sent."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.conf import settings

from core import formatting
from customers.enums import TRADING_EXCHANGES, Exchange
from customers.models import Customer, ExchangeLink
from orders import selectors
from orders.models import Market, OrderIntent, OrderType, Side
from orders.services.common import client, fee_usdc, needs_four_eyes, now, order_market_id
from orders.services.errors import OrderValidationError
from orders.services.values import OrderPreview, OrderRequest
from parsec.errors import explain

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


def validate_order(*, request: OrderRequest, exclude_intent: OrderIntent | None = None) -> None:
    """Every rule checked before Parsec is called; raises ``OrderValidationError`` with all failures."""
    errors: dict[str | None, list[str]] = {}

    def fail(field_name: str | None, message: str) -> None:
        errors.setdefault(field_name, []).append(message)

    customer, exchange, market, outcome = request.customer, request.exchange, request.market, request.outcome
    price, size, order_type, expiration = request.price, request.size, request.order_type, request.expiration
    if not customer.is_active:
        fail(None, f"{customer} is deactivated at Parsec; a deactivated end-user cannot trade.")
    if exchange not in TRADING_EXCHANGES:
        fail("exchange", f"Parsec routes orders only to Polymarket and Kalshi, not {exchange or 'no exchange'}.")
    elif not ExchangeLink.objects.filter(customer=customer, exchange=exchange).exists():
        fail("exchange", f"{customer} is not onboarded to {Exchange(exchange).label}; onboard them first.")

    if market is None:
        fail("market", "Choose a market from the catalogue.")
    else:
        if market.exchange != exchange:
            fail("market", f"This market is on {market.get_exchange_display()}, not on the chosen exchange.")
        if market.status != Market.Status.ACTIVE:
            fail("market", f"This market is {market.get_status_display().lower()}; only active markets take orders.")
        names = market.outcome_names
        if names and outcome.lower() not in {name.lower() for name in names}:
            fail("outcome", f"“{outcome}” is not an outcome of this market (choose one of: {', '.join(names)}).")

    if request.side not in Side.values:
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
        elif expiration < now() + timedelta(seconds=minimum):
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
            fail("price", f"The price must be a multiple of this market's tick size ({formatting.size(tick)}).")

    size_ok = isinstance(size, Decimal) and size.is_finite() and size > 0
    if not size_ok:
        fail("size", "The size must be a positive number of contracts.")
    elif market is not None and market.min_order_size and size < market.min_order_size:
        fail("size", f"This market's minimum order size is {formatting.size(market.min_order_size)} contracts.")

    if market is not None:
        refusal = kill_switch_refusal(customer=customer, exchange=exchange, market_native_id=order_market_id(market))
        if refusal:
            fail(None, refusal)

    if request.fee_base_units and exchange in TRADING_EXCHANGES and exchange != Exchange.POLYMARKET:
        fail("fee_auth", f"The fee escrow is on Polymarket only; an order on {Exchange(exchange).label} carries no fee.")

    if not errors and price_ok and size_ok and market is not None:
        for field_name, message in funds_refusals(request=request, exclude_intent=exclude_intent):
            fail(field_name, message)

    if errors:
        code = "escrow_polymarket_only" if set(errors) == {"fee_auth"} else "invalid_order"
        raise OrderValidationError(errors, code=code)


def kill_switch_refusal(*, customer: Customer, exchange: str, market_native_id: str) -> str | None:
    switch = selectors.engaged_kill_switch(customer=customer, exchange=exchange, market_native_id=market_native_id)
    if switch is None:
        return None
    return (f"Trading is frozen by a kill switch ({switch.get_scope_display().lower()}, engaged by "
            f"{switch.engaged_by} at {switch.engaged_at:%Y-%m-%d %H:%M} UTC: {switch.reason}).")


def funds_refusals(*, request: OrderRequest, exclude_intent: OrderIntent | None = None) -> list[tuple[str | None, str]]:
    """The money (buy) or the shares (sell) the order needs, against what every other sendable
    intent and live order already holds."""
    customer, exchange = request.customer, request.exchange
    if request.side == Side.BUY:
        snapshot = selectors.latest_balance(customer=customer, exchange=exchange)
        if snapshot is None:
            return [(None, f"No balance is known for {customer} on {Exchange(exchange).label}; sync the customer first.")]
        available = snapshot.usdc - selectors.committed_buy_usdc(customer=customer, exchange=exchange, exclude_intent=exclude_intent)
        needed = request.notional + fee_usdc(request.fee_base_units)
        if needed > available:
            return [("size", f"Not enough balance: this buy needs {formatting.usdc(needed)} USDC and "
                             f"{formatting.usdc(max(available, Decimal(0)))} USDC is available (balance "
                             f"{formatting.usdc(snapshot.usdc)} USDC minus open buy orders and orders being sent).")]
        return []
    market_id = order_market_id(request.market)
    held = selectors.position_size(customer=customer, exchange=exchange, market_native_id=market_id, outcome=request.outcome)
    available = held - selectors.committed_sell_size(customer=customer, exchange=exchange, market_native_id=market_id,
                                                     outcome=request.outcome, exclude_intent=exclude_intent)
    if request.size > available:
        return [("size", f"Not enough position to sell: {customer} holds {formatting.size(held)} “{request.outcome}” "
                         f"({formatting.size(max(available, Decimal(0)))} not already offered in open sell orders).")]
    return []


def last_minute_refusal(intent: OrderIntent) -> str | None:
    """The rules that may have changed since the intent was written (deactivation, kill switch,
    expiry, and the money or shares other orders took meanwhile), checked just before sending."""
    customer = intent.customer  # read with the intent, just now
    if not customer.is_active:
        return f"{customer} has been deactivated; the order was not sent."
    switch = selectors.engaged_kill_switch(customer=customer, exchange=intent.exchange, market_native_id=intent.market_native_id)
    if switch is not None:
        return f"Trading is frozen by a kill switch ({switch.get_scope_display().lower()}: {switch.reason}); the order was not sent."
    if intent.order_type == OrderType.GTD and intent.expiration and intent.expiration < now() + timedelta(seconds=settings.ORDER_GTD_MIN_SECONDS):
        return "The good-till-date expiry is now less than a minute away; the order was not sent."
    request = OrderRequest.of_intent(intent)
    refusals = funds_refusals(request=request, exclude_intent=intent)
    if refusals:
        return f"{refusals[0][1]} The order was not sent."
    return None


def preview_order(*, intent: OrderIntent) -> OrderPreview:
    """The figures the confirmation step shows for an intent."""
    notional = intent.notional
    fee = fee_usdc(intent.fee_base_units)
    snapshot = selectors.latest_balance(customer=intent.customer, exchange=intent.exchange)
    committed = selectors.committed_buy_usdc(customer=intent.customer, exchange=intent.exchange, exclude_intent=intent)
    held = selectors.position_size(customer=intent.customer, exchange=intent.exchange,
                                   market_native_id=intent.market_native_id, outcome=intent.outcome)
    balance = snapshot.usdc if snapshot else None
    cash_delta = -(notional + fee) if intent.side == Side.BUY else Decimal(0)
    size_delta = intent.size if intent.side == Side.BUY else -intent.size
    return OrderPreview(
        notional=notional, fee_usdc=fee, balance_usdc=balance, committed_usdc=committed,
        balance_after_usdc=None if balance is None else balance - committed + cash_delta,
        position_size=held, position_after=held + size_delta, needs_approval=needs_four_eyes(notional),
    )


def live_order_book(*, market: Market, outcome: str, depth: int = 10) -> tuple[dict | None, str]:
    """The live book for the form's side panel: ``({"rows": [(bid, ask), ...]}, "")`` or ``(None, message)``."""
    try:
        book = client().get_orderbook(parsec_id=market.parsec_id, outcome=outcome or None, depth=depth)
    except Exception as exc:
        return None, explain(exc).message
    # Decimal("1E+3").normalize() prints as 1E+3: the levels keep plain digits (formatting.plain).
    bids = [(Decimal(formatting.plain(level.price)), Decimal(formatting.plain(level.size))) for level in book.bids[:depth]]
    asks = [(Decimal(formatting.plain(level.price)), Decimal(formatting.plain(level.size))) for level in book.asks[:depth]]
    rows = [(bids[i] if i < len(bids) else None, asks[i] if i < len(asks) else None) for i in range(max(len(bids), len(asks)))]
    return {"rows": rows, "timestamp": book.timestamp}, ""
