"""Matching engine and accounting.

One book per (market, outcome): a binary market has a Yes book and a No book, each with
its own makers; there is no Yes/No cross-matching (kept simple on purpose). A book holds
customers' resting orders and the synthetic market makers' quotes; price-time priority,
and at an equal price resting customer orders come before maker quotes (the makers'
quotes are refreshed every step, so they are always the newest).

Money: USDC base units (int). A buy reserves price x size plus the worst-case taker fee
when accepted; each fill spends from that reservation; the rest is released when the order
ends. A sell reserves the shares. Every fill moves cash between exactly two accounts plus
the exchange fee to the house account, so the sum of all balances always equals the sum
of deposits (checked by tests/sandbox/test_engine_properties.py).

One in-process lock serialises every write of the engine (``book_lock`` is the same lock for
every book): SQLite admits one writer at a time anyway, and queueing writers on a Python lock is
far cheaper than SQLite's busy handler (which sleeps in steps of milliseconds); on PostgreSQL it
also rules out deadlocks between books that share accounts. The sandbox is one process.

The stream (sandbox.stream, through sandbox.journal) hears of every book change from here: each write reports by how much
each level it touched changed, whole books it rewrote, and its trades and fills (``stream.touch``,
``touch_book``, ``trade``, ``fill``); the lock publishes them when its outermost hold ends, after
the commit. A new write to a book must go through ``book_lock`` and report what it changed.

The order-placement path (``place_order``, matching, fills, finishing an order) writes through
hand-written SQL (sandbox.sql): the ORM's query construction cost more than SQLite's work. The
database stays the only state; nothing about orders, balances or positions is cached.
"""

# Statements are built from model metadata (table and column names) only; every value is a parameter.
# ruff: noqa: S608

from __future__ import annotations

import decimal
import math
import random
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, ROUND_DOWN, Decimal

from django.db import transaction
from django.db.models import F

from sandbox import clock, conf, escrow, sql
from sandbox import journal as stream
from sandbox.errors import ParsecAPIError, bad_request, whole_number
from sandbox.models import Balance, Customer, Deposit, MakerQuote, Market, Order, Outcome, Position, Trade
from sandbox.models import Fill as FillRow

DB = "sandbox"
MICRO = Decimal(1_000_000)
ONE = Decimal(1)
MIN_PRICE = Decimal("0.01")
MAX_PRICE = Decimal("0.99")
MAKER_SIZES = (Decimal(50), Decimal(100), Decimal(150), Decimal(200), Decimal(300))

_engine_lock = stream.lock  # re-entrant; publishes to the stream when released


def book_lock(outcome_id: int) -> stream.EngineLock:
    """The lock that serialises writes to a book: one for all books (see the module docstring)."""
    return _engine_lock


# Prebuilt statements of the hot path (sandbox.sql); table names from the models.
_BALANCE, _CUSTOMER, _ORDER = Balance._meta.db_table, Customer._meta.db_table, Order._meta.db_table
_POSITION_T, _QUOTE_T = Position._meta.db_table, MakerQuote._meta.db_table
_OUTCOME_T, _MARKET_T = Outcome._meta.db_table, Market._meta.db_table
RESERVE_SQL = (f"UPDATE {_BALANCE} SET available = available - %s, reserved = reserved + %s "
               "WHERE customer_id = %s AND exchange = %s AND available >= %s")
SPEND_RESERVED_SQL = f"UPDATE {_BALANCE} SET reserved = reserved - %s WHERE customer_id = %s AND exchange = %s"
CREDIT_SQL = f"UPDATE {_BALANCE} SET available = available + %s WHERE customer_id = %s AND exchange = %s"
RELEASE_SQL = f"UPDATE {_BALANCE} SET available = available + %s, reserved = reserved - %s WHERE customer_id = %s AND exchange = %s"
SYSTEM_CREDIT_SQL = (f"UPDATE {_BALANCE} SET available = available + %s WHERE exchange = %s "
                     f"AND customer_id IN (SELECT id FROM {_CUSTOMER} WHERE kind = %s)")
SAVE_ORDER_SQL = f"UPDATE {_ORDER} SET status = %s, filled = %s, reserved = %s, reserved_shares = %s, updated_at = %s WHERE id = %s"
SAVE_POSITION_SQL = f"UPDATE {_POSITION_T} SET size = %s, reserved = %s, average_price = %s WHERE id = %s"
POSITION_RESERVED_SQL = f"UPDATE {_POSITION_T} SET reserved = %s WHERE id = %s"
RELEASE_SHARES_SQL = f"UPDATE {_POSITION_T} SET reserved = reserved - %s WHERE customer_id = %s AND outcome_id = %s"
QUOTE_SIZE_SQL = f"UPDATE {_QUOTE_T} SET size = %s WHERE id = %s"
QUOTE_DELETE_SQL = f"DELETE FROM {_QUOTE_T} WHERE id = %s"
LAST_PRICE_SQL = f"UPDATE {_OUTCOME_T} SET last_price = %s WHERE id = %s"
VOLUME_SQL = f"UPDATE {_MARKET_T} SET volume_traded = volume_traded + %s WHERE id = %s"
MARKET_STATUS_SQL = f"SELECT status FROM {_MARKET_T} WHERE id = %s"
_ORDERS = sql.Loader(Order)
_POSITIONS = sql.Loader(Position)


def _save_order(order: Order) -> None:
    sql.execute(SAVE_ORDER_SQL, [
        order.status, sql.prep(Order, "filled", order.filled), order.reserved,
        sql.prep(Order, "reserved_shares", order.reserved_shares), sql.prep(Order, "updated_at", order.updated_at), order.pk,
    ])


def usdc(amount: Decimal) -> int:
    """USDC base units of a USDC amount, rounded down (prices on tick make notionals exact)."""
    return int((amount * MICRO).to_integral_value(rounding=ROUND_DOWN))


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def fee_rate(exchange: str) -> Decimal:
    return conf.SANDBOX_FILL_FEE_RATE.get(exchange, Decimal(0))


def buy_reservation(exchange: str, price: Decimal, size: Decimal) -> int:
    notional = price * size * MICRO
    fee = (notional * fee_rate(exchange)).to_integral_value(rounding=ROUND_CEILING)
    return int(notional.to_integral_value(rounding=ROUND_CEILING) + fee)


def system_account(kind: str) -> Customer:
    return Customer.objects.get(kind=kind)


# --- Order acceptance -------------------------------------------------------------

@dataclass(frozen=True)
class NewOrder:
    customer: Customer
    exchange: str
    market: Market
    outcome: Outcome
    side: str
    price: Decimal
    size: Decimal
    order_type: str
    expiration: datetime | None = None
    impersonated: bool = False
    fee_auth: dict | None = None
    payer_address: str | None = None
    signer_address: str | None = None
    builder: object = None


def place_order(new: NewOrder, *, now: datetime | None = None) -> Order:
    """Accept a validated order: reserve funds or shares, pull the escrow fee, match."""
    now = now or clock.now()
    with book_lock(new.outcome.id), transaction.atomic(using=DB):
        _require_active(new.market.pk)
        reserved = 0
        reserved_shares = Decimal(0)
        if new.side == "buy":
            reserved = buy_reservation(new.exchange, new.price, new.size)
            took = sql.execute(RESERVE_SQL, [reserved, reserved, new.customer.pk, new.exchange, reserved])
            if not took:
                raise ParsecAPIError(402, "insufficient_funds", "insufficient balance for this order")
        elif not conf.SANDBOX_ALLOW_NAKED_SELLS:
            position = _POSITIONS.first("t.customer_id = %s AND t.outcome_id = %s", [new.customer.pk, new.outcome.pk])
            if position is None or position.size - position.reserved < new.size:
                raise ParsecAPIError(402, "insufficient_funds", "insufficient shares to sell")
            position.reserved += new.size
            sql.execute(POSITION_RESERVED_SQL, [sql.prep(Position, "reserved", position.reserved), position.pk])
            reserved_shares = new.size
        pending = conf.SANDBOX_PENDING_DELAY_SECONDS > 0
        order = Order(
            order_id=new_id("order"), customer=new.customer, exchange=new.exchange, market=new.market,
            outcome=new.outcome, side=new.side, order_type=new.order_type, price=new.price, size=new.size,
            status=Order.Status.PENDING if pending else Order.Status.OPEN, expiration=new.expiration,
            reserved=reserved, reserved_shares=reserved_shares, impersonated=new.impersonated, created_at=now,
        )
        sql.insert(order)
        if new.fee_auth is not None:
            escrow.check_and_pull(
                order=order, fee_auth=new.fee_auth, payer_address=new.payer_address,
                signer_address=new.signer_address, builder=new.builder, now=now,
            )
        if not pending:
            _execute(order, now, stored=Order.Status.OPEN)
    return order


def _require_active(market_pk: int) -> None:
    """Read under the book lock: a market closed by sandbox.lifecycle takes no more orders."""
    status = sql.fetch(MARKET_STATUS_SQL, [market_pk])[0][0]
    if status != "active":
        raise bad_request(f"market is {status}, not active: trading has ended")


def _execute(order: Order, now: datetime, *, stored: str | None = None) -> None:
    """``stored``: the status the order's row already has (its row is not rewritten when nothing changed)."""
    """Match a live taker order, then settle it by its type (inside the book lock and a transaction)."""
    levels = _opposite_levels(order)
    if order.order_type == "fok" and sum(level.available for level in levels) < order.remaining:
        _finish(order, conf.SANDBOX_FOK_FAILURE_STATUS, now, rested=False)
        return
    for level in levels:
        if order.remaining <= 0:
            break
        quantity = min(order.remaining, level.available)
        _fill(taker=order, level=level, price=level.price, quantity=quantity, now=now)
    if order.remaining <= 0:
        _finish(order, Order.Status.FILLED, now, rested=False)
    elif order.order_type in ("ioc", "fok"):
        _finish(order, Order.Status.CANCELLED, now, rested=False)
    else:
        order.status = Order.Status.PARTIALLY_FILLED if order.filled > 0 else Order.Status.OPEN
        if order.status != stored or order.filled > 0:
            _save_order(order)
        stream.touch(order.outcome_id, order.side, order.price, order.remaining)  # it now rests in the book


class _Quote:
    """A maker quote as matching needs it (id, price, size), read without building a model instance."""

    __slots__ = ("pk", "price", "size")

    def __init__(self, pk: int, price, size):
        self.pk, self.price, self.size = pk, _decimal(price, PRICE_PLACES), _decimal(size, SIZE_PLACES)


PRICE_PLACES, SIZE_PLACES = Decimal("0.0001"), Decimal("0.01")
_FLOAT_CONTEXT = decimal.Context(prec=15)


def _decimal(value, places: Decimal) -> Decimal:
    """A NUMERIC column's value as the ORM returns it (SQLite hands back int or float; PostgreSQL Decimal)."""
    if isinstance(value, float):
        value = _FLOAT_CONTEXT.create_decimal_from_float(value)
    return Decimal(value).quantize(places)


@dataclass
class _Level:
    price: Decimal
    available: Decimal
    order: Order | None = None
    quote: _Quote | None = None


def _opposite_levels(order: Order) -> list[_Level]:
    price = sql.prep(Order, "price", order.price)
    if order.side == "buy":
        other, better = "sell", "<="
        sort_key = lambda level: level.price  # noqa: E731
    else:
        other, better = "buy", ">="
        sort_key = lambda level: -level.price  # noqa: E731
    orders = _ORDERS.select(
        f"t.outcome_id = %s AND t.side = %s AND t.status IN (%s, %s) AND t.price {better} %s AND t.id <> %s",
        [order.outcome_id, other, *Order.RESTING, price, order.pk], order_by="t.id",
    )
    quotes = [_Quote(*row) for row in sql.fetch(
        f"SELECT id, price, size FROM {_QUOTE_T} WHERE outcome_id = %s AND side = %s AND price {better} %s ORDER BY id",
        [order.outcome_id, other, price],
    )]
    for resting in orders:  # the same book: share the taker's market and outcome
        resting.market, resting.outcome = order.market, order.outcome
    levels = [_Level(o.price, o.remaining, order=o) for o in orders]
    levels += [_Level(q.price, q.size, quote=q) for q in quotes]
    levels.sort(key=sort_key)  # stable: customers (by time) before makers at an equal price
    return levels


def _fill(*, taker: Order | None, level: _Level, price: Decimal, quantity: Decimal, now: datetime,
          maker_side_taker: str | None = None) -> None:
    """One match. ``taker`` is None when a market maker takes a resting customer order."""
    maker_order = level.order
    outcome = (taker or maker_order).outcome
    market = (taker or maker_order).market
    exchange = market.exchange
    notional = usdc(price * quantity)
    aggressor = taker.side if taker else maker_side_taker
    trade = Trade(market=market, outcome=outcome, price=price, size=quantity, aggressor_side=aggressor, created_at=now)
    sql.insert(trade)
    stream.trade(trade, market, outcome)
    # The level this match takes from: the resting order's, or the quote's (opposite the taker).
    stream.touch(outcome.pk, maker_order.side if maker_order is not None else ("sell" if taker.side == "buy" else "buy"), level.price, -quantity)
    taker_fee = (Decimal(notional) * fee_rate(exchange)).to_integral_value(rounding=ROUND_DOWN) if taker else 0
    taker_fee = int(taker_fee)
    if taker is not None:
        _settle_customer(taker, trade, price, quantity, notional, taker_fee, is_taker=True, now=now)
    if maker_order is not None:
        _settle_customer(maker_order, trade, price, quantity, notional, 0, is_taker=False, now=now)
        if maker_order.remaining <= 0:
            _finish(maker_order, Order.Status.FILLED, now)
        else:
            maker_order.status = Order.Status.PARTIALLY_FILLED
            _save_order(maker_order)
        level.available = maker_order.remaining
    if level.quote is not None or taker is None:
        # A market maker is the other side: it pays or receives the notional.
        maker_buys = (taker.side == "sell") if taker else (maker_side_taker == "buy")
        delta = -notional if maker_buys else notional
        sql.execute(SYSTEM_CREDIT_SQL, [delta, exchange, Customer.Kind.MARKET_MAKER.value])
    if level.quote is not None:
        level.quote.size -= quantity
        level.available = level.quote.size
        if level.quote.size <= 0:
            sql.execute(QUOTE_DELETE_SQL, [level.quote.pk])
        else:
            sql.execute(QUOTE_SIZE_SQL, [sql.prep(MakerQuote, "size", level.quote.size), level.quote.pk])
    if taker_fee:
        sql.execute(SYSTEM_CREDIT_SQL, [taker_fee, exchange, Customer.Kind.HOUSE.value])
    sql.execute(LAST_PRICE_SQL, [sql.prep(Outcome, "last_price", price), outcome.pk])
    outcome.last_price = price
    sql.execute(VOLUME_SQL, [sql.prep(Market, "volume_traded", Decimal(notional) / MICRO), market.pk])


def _settle_customer(order: Order, trade: Trade, price: Decimal, quantity: Decimal, notional: int, fee: int,
                     *, is_taker: bool, now: datetime) -> None:
    fill = FillRow(
        fill_id=new_id("fill"), order=order, customer_id=order.customer_id, exchange=order.exchange,
        market_id=order.market_id, outcome_id=order.outcome_id, trade=trade, side=order.side, price=price,
        size=quantity, is_taker=is_taker, fee=fee, created_at=now,
    )
    sql.insert(fill)
    stream.fill(fill, order, trade, trade.market, trade.outcome)
    order.filled += quantity
    order.updated_at = now
    position = _POSITIONS.first("t.customer_id = %s AND t.outcome_id = %s", [order.customer_id, order.outcome_id])
    if position is None:
        position = Position(customer_id=order.customer_id, outcome_id=order.outcome_id, market_id=order.market_id)
    if order.side == "buy":
        cost = notional + fee
        order.reserved -= cost
        sql.execute(SPEND_RESERVED_SQL, [cost, order.customer_id, order.exchange])
        if position.size >= 0:
            total = position.size + quantity
            position.average_price = ((position.size * position.average_price + quantity * price) / total).quantize(Decimal("0.00000001"))
        position.size += quantity
    else:
        proceeds = notional - fee
        sql.execute(CREDIT_SQL, [proceeds, order.customer_id, order.exchange])
        position.size -= quantity
        if order.reserved_shares:
            used = min(order.reserved_shares, quantity)
            order.reserved_shares -= used
            position.reserved -= used
        if position.size == 0:
            position.average_price = Decimal(0)
    if position.pk is None:
        sql.insert(position)
    else:
        sql.execute(SAVE_POSITION_SQL, [
            sql.prep(Position, "size", position.size), sql.prep(Position, "reserved", position.reserved),
            sql.prep(Position, "average_price", position.average_price), position.pk,
        ])
    escrow.on_order_update(order, now)


def _finish(order: Order, status: str, now: datetime, *, rested: bool = True) -> None:
    """Move an order to a terminal state and give back what it still holds (``rested=False``: a
    taker ending in its own placement, never in the book; a pending order is not in it either)."""
    if rested and order.status in Order.RESTING:
        stream.touch(order.outcome_id, order.side, order.price, -order.remaining)
    _release(order)
    order.status = status
    order.updated_at = now
    _save_order(order)
    escrow.on_order_update(order, now)


def _release(order: Order) -> None:
    if order.reserved:
        sql.execute(RELEASE_SQL, [order.reserved, order.reserved, order.customer_id, order.exchange])
        order.reserved = 0
    if order.reserved_shares:
        sql.execute(RELEASE_SHARES_SQL, [sql.prep(Position, "reserved", order.reserved_shares), order.customer_id, order.outcome_id])
        order.reserved_shares = Decimal(0)


# --- Cancels and time-driven work -------------------------------------------------

def cancel_order(*, order: Order, now: datetime | None = None) -> Order:
    now = now or clock.now()
    with book_lock(order.outcome_id), transaction.atomic(using=DB):
        order = Order.objects.select_related("market", "outcome").get(pk=order.pk)
        if order.status not in Order.LIVE:
            raise ParsecAPIError(conf.SANDBOX_CANCEL_TERMINAL_STATUS, "bad_request", f"order is already {order.status} and cannot be cancelled")
        _finish(order, Order.Status.CANCELLED, now)
    return order


def cancel_open_orders(*, customer: Customer, now: datetime | None = None) -> int:
    now = now or clock.now()
    count = 0
    for order in Order.objects.filter(customer=customer, status__in=Order.LIVE).only("pk", "outcome_id"):
        try:
            cancel_order(order=order, now=now)
            count += 1
        except ParsecAPIError:
            pass  # it ended meanwhile
    return count


def activate_pending(*, now: datetime) -> int:
    """Pending orders older than SANDBOX_PENDING_DELAY_SECONDS reach the book."""
    cutoff = now - timedelta(seconds=conf.SANDBOX_PENDING_DELAY_SECONDS)
    done = 0
    for pk, outcome_id in Order.objects.filter(status=Order.Status.PENDING, created_at__lte=cutoff).values_list("pk", "outcome_id"):
        with book_lock(outcome_id), transaction.atomic(using=DB):
            order = Order.objects.select_related("market", "outcome").get(pk=pk)
            if order.status == Order.Status.PENDING:
                order.status = Order.Status.OPEN
                _execute(order, now)
                done += 1
    return done


def expire_orders(*, now: datetime) -> int:
    """GTD orders past their expiration are cancelled."""
    done = 0
    expired = Order.objects.filter(status__in=Order.LIVE, order_type="gtd", expiration__lte=now).values_list("pk", "outcome_id")
    for pk, outcome_id in expired:
        with book_lock(outcome_id), transaction.atomic(using=DB):
            order = Order.objects.select_related("market", "outcome").get(pk=pk)
            if order.status in Order.LIVE:
                _finish(order, Order.Status.CANCELLED, now)
                done += 1
    return done


# --- Market makers ----------------------------------------------------------------

def seed_value() -> int:
    from sandbox.models import SandboxState

    row = SandboxState.objects.filter(key="seed").first()
    return int(row.value) if row else 0


def maker_step(now: datetime) -> int:
    return int(now.timestamp()) // conf.SANDBOX_MM_STEP_SECONDS


def seconds_to_next_requote(now: datetime) -> float:
    """How long the makers' quotes hold: they requote when ``maker_step`` changes."""
    return (maker_step(now) + 1) * conf.SANDBOX_MM_STEP_SECONDS - now.timestamp()


def _on_tick(price: Decimal, tick: Decimal) -> Decimal:
    return (price / tick).to_integral_value(rounding=ROUND_DOWN) * tick


def _clamp(price: Decimal, tick: Decimal) -> Decimal:
    return min(max(_on_tick(price, tick), Decimal("0.02")), Decimal("0.98"))


def _wave(seed: int, outcome: Outcome, step: int) -> float:
    """A bounded, pure function of (seed, book, step): the makers' fair price drifts with it."""
    phases = random.Random(f"{seed}:{outcome.market.parsec_id}:{outcome.index}")
    a, b = phases.uniform(0, 2 * math.pi), phases.uniform(0, 2 * math.pi)
    noise = random.Random(f"{seed}:{outcome.market.parsec_id}:{outcome.index}:{step}").uniform(-1, 1)
    return 0.04 * math.sin(2 * math.pi * step / 97 + a) + 0.02 * math.sin(2 * math.pi * step / 23 + b) + 0.005 * noise


def fair_price(seed: int, outcome: Outcome, step: int) -> Decimal:
    """The anchor (seed price or last move) plus how far the wave has travelled since the anchor step."""
    if not outcome.market.makers_walk:
        return _clamp(outcome.anchor_mid, outcome.market.tick_size)
    drift = _wave(seed, outcome, step) - _wave(seed, outcome, outcome.anchor_step)
    if outcome.market.market_type == "binary" and outcome.index == 1:
        # The No book mirrors the Yes book: its fair price is 1 - Yes.
        yes = Outcome(market=outcome.market, index=0)
        drift = -(_wave(seed, yes, step) - _wave(seed, yes, outcome.anchor_step))
    return _clamp(outcome.anchor_mid + Decimal(str(round(drift, 6))), outcome.market.tick_size)


def move_makers(*, now: datetime) -> int:
    """Advance every active book's maker walk to the current step and requote; crossed orders fill."""
    step = maker_step(now)
    seed = seed_value()
    moved = 0
    outcomes = Outcome.objects.filter(market__status="active", quote_step__lt=step).select_related("market")
    for outcome in outcomes:
        with book_lock(outcome.id), transaction.atomic(using=DB):
            outcome.refresh_from_db(fields=["mid", "quote_step", "anchor_step", "anchor_mid"])
            if outcome.quote_step >= step or not Market.objects.filter(pk=outcome.market_id, status="active").exists():
                continue  # requoted meanwhile, or its market closed: the makers have left it
            mid = fair_price(seed, outcome, step)
            outcome.mid = mid
            _requote(outcome, step, now)
            moved += 1
    return moved


def _requote(outcome: Outcome, step: int, now: datetime) -> None:
    market = outcome.market
    tick = market.tick_size
    half_spread = max(tick, Decimal("0.01"))
    rng = random.Random(f"{seed_value()}:{market.parsec_id}:{outcome.index}:{step}:sizes")
    MakerQuote.objects.filter(outcome=outcome).delete()
    stream.touch_book(outcome.pk)
    quotes = []
    for i in range(conf.SANDBOX_MM_LEVELS):
        gap = half_spread + i * max(tick, Decimal("0.01"))
        bid = _on_tick(outcome.mid - gap, tick)
        ask = _on_tick(outcome.mid + gap, tick)
        if bid >= MIN_PRICE:
            quotes.append(MakerQuote(outcome=outcome, side="buy", price=bid, size=rng.choice(MAKER_SIZES)))
        if ask <= MAX_PRICE:
            quotes.append(MakerQuote(outcome=outcome, side="sell", price=ask, size=rng.choice(MAKER_SIZES)))
    MakerQuote.objects.bulk_create(quotes)
    outcome.quote_step = step
    outcome.save(update_fields=["mid", "quote_step", "anchor_step", "anchor_mid"])
    _cross_makers(outcome, now)


def _cross_makers(outcome: Outcome, now: datetime) -> None:
    """Resting customer orders that the new quotes cross fill against the makers, at the order's price."""
    for side, maker_side, better in (("buy", "sell", "price__gte"), ("sell", "buy", "price__lte")):
        quotes = list(MakerQuote.objects.filter(outcome=outcome, side=maker_side).order_by("price" if maker_side == "sell" else "-price", "pk"))
        if not quotes:
            continue
        best = quotes[0].price
        resting = Order.objects.filter(outcome=outcome, side=side, status__in=Order.RESTING, **{better: best}).select_related("market", "outcome")
        resting = resting.order_by("-price" if side == "buy" else "price", "pk")
        for order in resting:
            for quote in quotes:
                if order.remaining <= 0:
                    break
                crosses = quote.price <= order.price if side == "buy" else quote.price >= order.price
                if quote.size <= 0 or not crosses:
                    continue
                quantity = min(order.remaining, quote.size)
                level = _Level(order.price, order.remaining, order=order)
                _fill(taker=None, level=level, price=order.price, quantity=quantity, now=now, maker_side_taker=maker_side)
                quote.size -= quantity
                if quote.size <= 0:
                    quote.delete()
                else:
                    quote.save(update_fields=["size"])
            quotes = [q for q in quotes if q.size > 0]


def move_market(*, market: Market, price: Decimal, outcome: str | None = None, now: datetime | None = None) -> dict:
    """Set a book's fair price (binary: the other side moves to 1 - price); makers requote at once,
    and resting orders that the new quotes cross fill as maker fills."""
    now = now or clock.now()
    if market.status != "active":
        raise bad_request(f"market is {market.status}")
    outcomes = list(market.outcomes.all())
    target = _find_outcome(outcomes, outcome or outcomes[0].name)
    if target is None:
        raise bad_request(f"unknown outcome {outcome!r}")
    price = _clamp(Decimal(price), market.tick_size)
    step = maker_step(now)
    targets = {target.pk: price}
    if market.market_type == "binary":
        for other in outcomes:
            if other.pk != target.pk:
                targets[other.pk] = _clamp(ONE - price, market.tick_size)
    for candidate in outcomes:
        if candidate.pk not in targets:
            continue
        with book_lock(candidate.id), transaction.atomic(using=DB):
            candidate.market = market
            candidate.mid = candidate.anchor_mid = targets[candidate.pk]
            candidate.anchor_step = step
            _requote(candidate, step, now)
    return {"market_id": market.order_market_id, "mids": {o.name: str(targets[o.pk]) for o in outcomes if o.pk in targets}}


def credit(*, customer: Customer, exchange: str, amount: int, reason: str = "credit", now: datetime | None = None) -> Balance:
    """Add USDC base units to a customer's balance on an exchange (recorded as a deposit)."""
    if amount <= 0:
        raise bad_request("amount must be a positive number of USDC base units")
    now = now or clock.now()
    with transaction.atomic(using=DB):
        Deposit.objects.create(customer=customer, exchange=exchange, amount=amount, reason=reason, created_at=now)
        balance, _ = Balance.objects.get_or_create(customer=customer, exchange=exchange)
        Balance.objects.filter(pk=balance.pk).update(available=F("available") + amount)
        balance.refresh_from_db()
    return balance


def _find_outcome(outcomes: list[Outcome], name: str) -> Outcome | None:
    wanted = str(name).strip().lower()
    for outcome in outcomes:
        if outcome.name.lower() == wanted:
            return outcome
    index = whole_number(wanted, high=len(outcomes) - 1) if outcomes else None
    if index is not None:
        return outcomes[index]
    return None


def find_outcome(market: Market, name: str) -> Outcome | None:
    return _find_outcome(list(market.outcomes.all()), name)
