"""The market lifecycle: close, resolve, void, and the settlement of positions.

Parsec lists a market's status (active, closed, resolved, archived; NOTES §7.2) but its sources
do not describe resolution or settlement (NOTES §12.6), so every choice here is a setting
(sandbox.conf) or stated below:

- **close** (control plane; or the clock's tick once ``end_date`` has passed, with
  SANDBOX_CLOSE_AT_END_DATE): status ``closed``. Every live order on the market is cancelled as
  a customer's own cancel would be (status ``cancelled``, ``filled`` kept, reservations released,
  the unfilled share of an escrowed fee refunded), as the exchanges cancel resting orders when
  trading ends; the market makers leave its books. Positions stay listed at their last price.
- **resolve** (an active or closed market): closes it as above, then settles every position:
  1 USDC per winning share, nothing per losing share, paid into the holder's balance. The
  outcomes show their final prices (1 and 0), the status is ``resolved`` and the settled
  positions are no longer listed. A settlement is neither an order nor a fill.
- **void** (a cancelled market): as resolve, but each share pays per SANDBOX_VOID_RULE
  (``even``: 1/N USDC, rounded down to the base unit; ``cost``: the holder's average price) and
  the status is SANDBOX_VOID_STATUS. No outcome is priced 1, which tells a void from a resolution.

Every step is one transaction under the engine's lock: an order can never be placed on a market
that is closing, and a failure leaves nothing half done. The market makers are the counterparty
of every net position, so they pay every settlement; cash stays conserved and, for each
customer, Σ settlements + Σ fill cash flows - Σ fees = the change of its balance
(tests/sandbox/test_engine_properties.py). Each settlement is a ``Settlement`` row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime
from decimal import ROUND_DOWN, Decimal

from django.db import transaction

from sandbox import clock, conf, engine, journal, render, sql
from sandbox.errors import ParsecAPIError, bad_request
from sandbox.models import Customer, MakerQuote, Market, Order, Outcome, Position, Settlement

DB = "sandbox"
OPEN = ("active", "closed")
ZERO, ONE = Decimal(0), Decimal(1)
BASE_UNIT = Decimal("0.000001")


@contextmanager
def _market_locked(market: Market) -> Iterator[tuple[Market, list[Outcome]]]:
    """The market and its outcomes read afresh, with its books locked, inside one transaction."""
    outcomes = list(Outcome.objects.filter(market_id=market.pk).order_by("index"))
    with ExitStack() as stack:
        for outcome in outcomes:
            stack.enter_context(engine.book_lock(outcome.pk))
        stack.enter_context(transaction.atomic(using=DB))
        market = Market.objects.get(pk=market.pk)
        outcomes = list(Outcome.objects.filter(market=market).order_by("index"))
        for outcome in outcomes:
            outcome.market = market
        yield market, outcomes


def _still_open(market: Market) -> None:
    if market.status not in OPEN:
        raise bad_request(f"market is already {market.status}")


def _halt(market: Market, now: datetime) -> int:
    """Stop trading: cancel the market's live orders, take the makers' quotes off its books."""
    cancelled = 0
    for order in Order.objects.filter(market=market, status__in=Order.LIVE).select_related("market", "outcome").order_by("pk"):
        engine._finish(order, Order.Status.CANCELLED, now)  # the engine's one way to end an order
        cancelled += 1
    MakerQuote.objects.filter(outcome__market=market).delete()
    for outcome_id in Outcome.objects.filter(market=market).values_list("pk", flat=True):
        journal.touch_book(outcome_id)  # the stream reads these books again once this commits
    if market.closed_at is None:
        market.closed_at = now
    return cancelled


def _settle(market: Market, price_of: Callable[[Position], Decimal], reason: str, now: datetime) -> list[Settlement]:
    """Pay every open position of the market ``size x price_of(position)`` and close it."""
    settlements = []
    for position in Position.objects.filter(market=market).exclude(size=0).order_by("pk"):
        price = price_of(position)
        amount = engine.usdc(position.size * price)  # rounded toward zero
        if amount:
            sql.execute(engine.CREDIT_SQL, [amount, position.customer_id, market.exchange])
            sql.execute(engine.SYSTEM_CREDIT_SQL, [-amount, market.exchange, Customer.Kind.MARKET_MAKER.value])
        settlements.append(Settlement(
            customer_id=position.customer_id, exchange=market.exchange, market=market, outcome_id=position.outcome_id,
            size=position.size, average_price=position.average_price, price=price, amount=amount, reason=reason, created_at=now,
        ))
        Position.objects.filter(pk=position.pk).update(size=ZERO, reserved=ZERO, average_price=ZERO)
    Settlement.objects.bulk_create(settlements)
    return settlements


def _finish_market(market: Market, status: str, now: datetime, **fields) -> None:
    market.status = status
    market.resolved_at = market.updated_at = now
    for name, value in fields.items():
        setattr(market, name, value)
    market.save(update_fields=["status", "closed_at", "resolved_at", "updated_at", *fields])


def close_market(*, market: Market, now: datetime | None = None) -> dict:
    """Halt trading on an active market; its positions stay open until it resolves or is voided."""
    now = now or clock.now()
    with _market_locked(market) as (market, _outcomes):
        if market.status != "active":
            raise bad_request(f"market is {market.status}: only an active market can be closed")
        cancelled = _halt(market, now)
        market.status = "closed"
        market.updated_at = now
        market.save(update_fields=["status", "closed_at", "updated_at"])
    return {"market": state(market), "orders_cancelled": cancelled}


def resolve_market(*, market: Market, winning_outcome: str, now: datetime | None = None) -> dict:
    """Close the market if needed, pay 1 USDC per winning share and close every position."""
    now = now or clock.now()
    with _market_locked(market) as (market, outcomes):
        _still_open(market)
        winner = engine._find_outcome(outcomes, winning_outcome)
        if winner is None:
            raise bad_request(f"outcome must be one of: {', '.join(o.name for o in outcomes)}")
        cancelled = _halt(market, now)
        settlements = _settle(market, lambda p: ONE if p.outcome_id == winner.pk else ZERO, Settlement.Reason.RESOLVED, now)
        for outcome in outcomes:
            outcome.final_price = ONE if outcome.pk == winner.pk else ZERO
        Outcome.objects.bulk_update(outcomes, ["final_price"])
        _finish_market(market, "resolved", now, resolved_outcome=winner.name)
    return {"market": state(market), "orders_cancelled": cancelled, "settlements": [render_settlement(s) for s in settlements]}


def void_market(*, market: Market, rule: str | None = None, now: datetime | None = None) -> dict:
    """Cancel the market: close it if needed and pay each position back per the void rule."""
    now = now or clock.now()
    rule = rule or conf.SANDBOX_VOID_RULE.get(market.exchange, "cost")
    if rule not in conf.VOID_RULES:
        raise bad_request(f"rule must be one of {', '.join(conf.VOID_RULES)}")
    with _market_locked(market) as (market, outcomes):
        _still_open(market)
        cancelled = _halt(market, now)
        if rule == "even":
            share = (ONE / len(outcomes)).quantize(BASE_UNIT, rounding=ROUND_DOWN)
            settlements = _settle(market, lambda p: share, Settlement.Reason.VOIDED, now)
            for outcome in outcomes:
                outcome.final_price = share
            Outcome.objects.bulk_update(outcomes, ["final_price"])
        else:
            settlements = _settle(market, lambda p: p.average_price, Settlement.Reason.VOIDED, now)
        _finish_market(market, conf.SANDBOX_VOID_STATUS, now, resolved_outcome=None, void_rule=rule)
    return {"market": state(market), "orders_cancelled": cancelled, "settlements": [render_settlement(s) for s in settlements]}


def close_due_markets(*, now: datetime) -> int:
    """Close the active markets whose end date has passed (the clock's tick; SANDBOX_CLOSE_AT_END_DATE)."""
    if not conf.SANDBOX_CLOSE_AT_END_DATE:
        return 0
    closed = 0
    for market in list(Market.objects.filter(status="active", end_date__lte=now).order_by("pk")):
        try:
            close_market(market=market, now=now)
            closed += 1
        except ParsecAPIError:
            pass  # closed meanwhile through the control plane
    return closed


# --- What the control plane shows ------------------------------------------------------

def plain(value: Decimal) -> str:
    """A decimal as plain digits, without trailing zeros or an exponent ("0.5", "100", "0")."""
    return f"{value.normalize():f}"


def render_settlement(row: Settlement) -> dict:
    """Amounts in USDC base units and prices as exact decimal strings."""
    return {
        "customer_id": str(row.customer.customer_id), "exchange": row.exchange, "parsec_id": row.market.parsec_id,
        "market_id": row.market.order_market_id, "outcome": row.outcome.name, "size": plain(row.size),
        "average_price": plain(row.average_price), "price": plain(row.price),
        "amount": str(row.amount), "reason": row.reason, "created_at": render.iso(row.created_at),
    }


def state(market: Market) -> dict:
    outcomes = Outcome.objects.filter(market=market).order_by("index")
    return {
        "parsec_id": market.parsec_id, "exchange": market.exchange, "market_id": market.order_market_id,
        "status": market.status, "end_date": render.iso(market.end_date), "closed_at": render.iso(market.closed_at),
        "resolved_at": render.iso(market.resolved_at), "winning_outcome": market.resolved_outcome,
        "void_rule": market.void_rule or None,
        "outcomes": [{"name": o.name, "final_price": None if o.final_price is None else plain(o.final_price)}
                     for o in outcomes],
    }


def settlements(**filters) -> list[dict]:
    rows = Settlement.objects.filter(**filters).select_related("customer", "market", "outcome").order_by("pk")
    return [render_settlement(row) for row in rows]
