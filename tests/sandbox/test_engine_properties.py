"""Accounting invariants of the matching engine over random sequences of orders, cancels, market
moves, time, closes, resolutions and voids (hypothesis).

In-process, on the sandbox database alias of the test database: no HTTP, the engine itself. For
each customer and exchange, Σ deposits + Σ settlements + Σ fill cash flows - Σ fees = its balance,
to the base unit; every base unit anywhere came in as a deposit.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from decimal import ROUND_DOWN, Decimal

import pytest
from django.db.models import Sum
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sandbox import accounts, clock, engine, lifecycle, seed
from sandbox.conf import VOID_RULES
from sandbox.errors import ParsecAPIError
from sandbox.models import Balance, Builder, Customer, Deposit, Fill, MakerQuote, Market, Order, Position, Settlement

MICRO = Decimal(1_000_000)

pytestmark = pytest.mark.django_db(databases=["default", "sandbox"], transaction=False)

# Limit prices in cents, the most useful first (hypothesis shrinks towards the first):
# the makers quote a fresh market around 0.50, so 55 and 45 cross a side and the others may rest.
CENTS = [55, 45, 60, 40, 52, 48, 75, 25, 90, 10, 50]
order = st.tuples(st.just("order"), st.integers(0, 2), st.sampled_from(["buy", "sell"]), st.sampled_from(CENTS),
                  st.integers(1, 6000), st.sampled_from(["gtc", "ioc", "fok"]), st.integers(0, 1), st.integers(0, 2))
settle = st.one_of(
    st.tuples(st.just("resolve"), st.integers(0, 1), st.integers(0, 2)),
    st.tuples(st.just("void"), st.integers(0, 1), st.sampled_from(VOID_RULES)),
)
STEPS = {
    "order": order,
    "cancel": st.tuples(st.just("cancel"), st.integers(0, 50)),
    "move": st.tuples(st.just("move"), st.integers(5, 95)),
    "advance": st.tuples(st.just("advance"), st.integers(30, 400)),
    "close": st.tuples(st.just("close"), st.integers(0, 1)),
    "settle": settle,
}
# Mostly orders (they make the positions that the rest moves, ends and settles); sampled_from
# keeps the repeats that one_of would merge.
action = st.sampled_from(["order"] * 8 + ["cancel", "move", "advance", "close", "settle"]).flatmap(STEPS.__getitem__)


@pytest.fixture
def world():
    clock.forget_offset()
    seed.seed(3)
    builder = Builder.objects.get()
    now = clock.now()
    customers = [
        accounts.open_account(builder=builder, kind=Customer.Kind.END_USER, external_id=f"prop-{i}", api_key=f"pk_prop_{i}", now=now)
        for i in range(3)
    ]
    markets = [Market.objects.filter(exchange="polymarket", market_type="binary").first(),
               Market.objects.filter(exchange="kalshi", market_type="binary").first()]
    for market in Market.objects.exclude(pk__in=[m.pk for m in markets]):
        lifecycle.close_market(market=market)  # keep the makers' ticks small
    yield customers, markets
    clock.forget_offset()


def fresh_markets(ends_in: list[int]) -> list[Market]:
    """The markets of one example: a Polymarket binary and a Kalshi market of three outcomes (a
    void's 1/3 share is not a whole number of base units); the previous example's close."""
    for market in Market.objects.filter(status="active"):
        lifecycle.close_market(market=market)
    now = clock.now()
    return [seed.add_market(exchange=exchange, question=f"Property {exchange}?", outcomes=outcomes, price=Decimal("0.5"),
                            tick_size=Decimal("0.01"), min_order_size=Decimal("0.01"), end_date=now + timedelta(seconds=seconds))
            for exchange, outcomes, seconds in zip(("polymarket", "kalshi"), (["Yes", "No"], ["Low", "Mid", "High"]), ends_in, strict=True)]


def base_units(amount: Decimal) -> int:
    units = amount * MICRO
    assert units == units.to_integral_value()  # prices on tick, sizes of 2 decimals: exact
    return int(units)


def check_invariants():
    # Cash is conserved: every base unit in any account came in as a deposit.
    held = Balance.objects.aggregate(a=Sum("available"), r=Sum("reserved"))
    assert held["a"] + held["r"] == Deposit.objects.aggregate(total=Sum("amount"))["total"]
    # Each customer's balance is its deposits, its fills' cash and fees, and its settlements, to the base unit.
    expected = defaultdict(int)
    for deposit in Deposit.objects.all():
        expected[(deposit.customer_id, deposit.exchange)] += deposit.amount
    for fill in Fill.objects.all():
        notional = base_units(fill.price * fill.size)
        expected[(fill.customer_id, fill.exchange)] += (notional if fill.side == "sell" else -notional) - fill.fee
    for settlement in Settlement.objects.all():
        expected[(settlement.customer_id, settlement.exchange)] += settlement.amount
    for balance in Balance.objects.exclude(customer__kind__in=[Customer.Kind.MARKET_MAKER, Customer.Kind.HOUSE]):
        assert balance.available + balance.reserved == expected[(balance.customer_id, balance.exchange)]
    for balance in Balance.objects.exclude(customer__kind=Customer.Kind.MARKET_MAKER):
        assert balance.available >= 0 and balance.reserved >= 0
        live = Order.objects.filter(customer_id=balance.customer_id, exchange=balance.exchange, status__in=Order.LIVE)
        assert balance.reserved == (live.aggregate(r=Sum("reserved"))["r"] or 0)
    for order in Order.objects.all():
        assert 0 <= order.filled <= order.size
        assert order.filled == (order.fills.aggregate(s=Sum("size"))["s"] or 0)
        if order.status not in Order.LIVE:
            assert order.reserved == 0 and order.reserved_shares == 0
    # Positions are their fills, less what a resolution or void settled.
    shares = defaultdict(Decimal)
    for fill in Fill.objects.all():
        shares[(fill.customer_id, fill.outcome_id)] += fill.size if fill.side == "buy" else -fill.size
    for settlement in Settlement.objects.all():
        shares[(settlement.customer_id, settlement.outcome_id)] -= settlement.size
    for position in Position.objects.all():
        assert position.size == shares[(position.customer_id, position.outcome_id)]
        assert 0 <= position.reserved <= max(position.size, 0)
    # A market that stopped trading has no live order and no maker quote; a settled one no open position.
    stopped = Market.objects.exclude(status="active")
    assert not Order.objects.filter(market__in=stopped, status__in=Order.LIVE).exists()
    assert not MakerQuote.objects.filter(outcome__market__in=stopped).exists()
    assert not Position.objects.filter(market__resolved_at__isnull=False).exclude(size=0).exists()
    # Each settlement paid its size at its market's price per share, rounded toward zero.
    for settlement in Settlement.objects.select_related("market", "outcome"):
        market = settlement.market
        if market.void_rule == "cost":
            price = settlement.average_price
        elif market.void_rule == "even":
            price = (Decimal(1) / market.outcomes.count()).quantize(Decimal("0.000001"), rounding=ROUND_DOWN)
        else:
            price = Decimal(settlement.outcome.name == market.resolved_outcome)
        assert settlement.price == price
        assert settlement.amount == int((settlement.size * price * MICRO).to_integral_value(rounding=ROUND_DOWN))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(actions=st.lists(action, min_size=5, max_size=30), ends_in=st.lists(st.integers(120, 4000), min_size=2, max_size=2),
       finals=st.lists(settle, min_size=2, max_size=2))
def test_random_sequences_with_resolutions_keep_every_account_exact(world, actions, ends_in, finals):
    """Every example ends by resolving or voiding both of its markets (``finals``, each on the
    market its index names), so each one settles whatever positions the sequence built."""
    customers, _seeded = world
    markets = fresh_markets(ends_in)
    finals = [(kind, index, *rest) for index, (kind, _which, *rest) in enumerate(finals)]
    for step in [*actions, *finals]:
        kind = step[0]
        if kind in ("close", "resolve", "void"):
            market = Market.objects.get(pk=markets[step[1]].pk)
            try:
                if kind == "close":
                    lifecycle.close_market(market=market)
                elif kind == "resolve":
                    names = [outcome.name for outcome in market.outcomes.order_by("index")]
                    lifecycle.resolve_market(market=market, winning_outcome=names[step[2] % len(names)])
                else:
                    lifecycle.void_market(market=market, rule=step[2])
            except ParsecAPIError as error:
                assert error.status == 400
                assert market.status not in (lifecycle.OPEN if kind != "close" else ("active",))
            else:
                assert market.status in (lifecycle.OPEN if kind != "close" else ("active",))
        elif kind == "order":
            _, who, side, cents, size, order_type, which, outcome_index = step
            market = Market.objects.get(pk=markets[which].pk)
            if order_type == "fok" and market.exchange == "kalshi":
                order_type = "ioc"
            outcome = market.outcomes.get(index=outcome_index % market.outcomes.count())
            outcome.market = market
            new = engine.NewOrder(customer=customers[who], exchange=market.exchange, market=market, outcome=outcome, side=side,
                                  price=Decimal(cents) / 100, size=Decimal(size) / 100, order_type=order_type)
            try:
                engine.place_order(new)
            except ParsecAPIError as error:
                assert error.status == (402 if market.status == "active" else 400)
        elif kind == "cancel":
            live = list(Order.objects.filter(status__in=Order.LIVE).order_by("pk"))
            if live:
                engine.cancel_order(order=live[step[1] % len(live)])
        elif kind == "move":
            market = Market.objects.get(pk=markets[0].pk)
            try:
                engine.move_market(market=market, price=Decimal(step[1]) / 100)
            except ParsecAPIError as error:
                assert error.status == 400 and market.status != "active"
        else:
            clock.advance(step[1])
        check_invariants()


def test_resolution_pays_winners_and_conserves_cash(world):
    customers, markets = world
    market = markets[0]
    yes = market.outcomes.get(index=0)
    yes.market = market
    order = engine.place_order(engine.NewOrder(customer=customers[0], exchange="polymarket", market=market, outcome=yes,
                                               side="buy", price=Decimal("0.95"), size=Decimal(10), order_type="ioc"))
    assert order.filled == 10
    before = Balance.objects.get(customer=customers[0], exchange="polymarket").available
    result = lifecycle.resolve_market(market=market, winning_outcome="yes")
    assert [(s["size"], s["amount"]) for s in result["settlements"]] == [("10", "10000000")]
    assert Balance.objects.get(customer=customers[0], exchange="polymarket").available == before + 10_000_000
    check_invariants()


def test_maker_fill_after_a_market_move(world):
    customers, markets = world
    market = markets[0]
    yes = market.outcomes.get(index=0)
    yes.market = market
    resting = engine.place_order(engine.NewOrder(customer=customers[1], exchange="polymarket", market=market, outcome=yes,
                                                 side="buy", price=Decimal("0.10"), size=Decimal(20), order_type="gtc"))
    assert resting.status == "open"
    engine.move_market(market=market, price=Decimal("0.05"))
    resting.refresh_from_db()
    fill = Fill.objects.get(order=resting)
    assert resting.status == "filled" and fill.is_taker is False and fill.price == Decimal("0.10")


def test_market_makers_are_deterministic_for_a_seed(world):
    _, markets = world
    outcome = markets[0].outcomes.get(index=0)
    assert engine.fair_price(3, outcome, 1000) == engine.fair_price(3, outcome, 1000)
    assert [engine.fair_price(3, outcome, k) for k in range(5)] != [engine.fair_price(4, outcome, k) for k in range(5)]
