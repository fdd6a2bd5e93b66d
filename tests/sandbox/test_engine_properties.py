"""Accounting invariants of the matching engine over random order sequences (hypothesis).

In-process, on the sandbox database alias of the test database: no HTTP, the engine itself.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

import pytest
from django.db.models import Sum
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sandbox import accounts, clock, engine, seed
from sandbox.errors import ParsecAPIError
from sandbox.models import Balance, Builder, Customer, Deposit, Fill, Market, Order, Position

pytestmark = pytest.mark.django_db(databases=["default", "sandbox"], transaction=False)

action = st.one_of(
    st.tuples(st.just("order"), st.integers(0, 2), st.sampled_from(["buy", "sell"]), st.integers(10, 90),
              st.integers(1, 60), st.sampled_from(["gtc", "ioc", "fok"]), st.integers(0, 1)),
    st.tuples(st.just("cancel"), st.integers(0, 50)),
    st.tuples(st.just("move"), st.integers(5, 95)),
    st.tuples(st.just("advance"), st.integers(30, 400)),
)


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
    Market.objects.exclude(pk__in=[m.pk for m in markets]).update(status="closed")  # keep the makers' ticks small
    yield customers, markets
    clock.forget_offset()


def check_invariants():
    # Cash is conserved: every base unit in any account came in as a deposit.
    held = Balance.objects.aggregate(a=Sum("available"), r=Sum("reserved"))
    assert held["a"] + held["r"] == Deposit.objects.aggregate(total=Sum("amount"))["total"]
    for balance in Balance.objects.exclude(customer__kind=Customer.Kind.MARKET_MAKER):
        assert balance.available >= 0 and balance.reserved >= 0
        live = Order.objects.filter(customer_id=balance.customer_id, exchange=balance.exchange, status__in=Order.LIVE)
        assert balance.reserved == (live.aggregate(r=Sum("reserved"))["r"] or 0)
    for order in Order.objects.all():
        assert 0 <= order.filled <= order.size
        assert order.filled == (order.fills.aggregate(s=Sum("size"))["s"] or 0)
        if order.status not in Order.LIVE:
            assert order.reserved == 0 and order.reserved_shares == 0
    fills = defaultdict(Decimal)
    for fill in Fill.objects.all():
        fills[(fill.customer_id, fill.outcome_id)] += fill.size if fill.side == "buy" else -fill.size
    for position in Position.objects.all():
        assert position.size == fills[(position.customer_id, position.outcome_id)]
        assert 0 <= position.reserved <= max(position.size, 0)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(actions=st.lists(action, min_size=1, max_size=25))
def test_random_order_sequences_keep_the_books_balanced(world, actions):
    customers, markets = world
    for step in actions:
        if step[0] == "order":
            _, who, side, cents, size, order_type, which = step
            market = markets[which]
            if order_type == "fok" and market.exchange == "kalshi":
                order_type = "ioc"
            outcome = market.outcomes.order_by("index").first()
            outcome.market = market
            new = engine.NewOrder(customer=customers[who], exchange=market.exchange, market=market, outcome=outcome, side=side,
                                  price=Decimal(cents) / 100, size=Decimal(size) * market.min_order_size, order_type=order_type)
            try:
                engine.place_order(new)
            except ParsecAPIError as error:
                assert error.status == 402
        elif step[0] == "cancel":
            live = list(Order.objects.filter(status__in=Order.LIVE).order_by("pk"))
            if live:
                engine.cancel_order(order=live[step[1] % len(live)])
        elif step[0] == "move":
            engine.move_market(market=markets[0], price=Decimal(step[1]) / 100)
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
    result = engine.resolve_market(market=market, winning_outcome="yes")
    assert result["paid_usdc_base_units"] == 10_000_000
    assert Balance.objects.get(customer=customers[0], exchange="polymarket").available == before + 10_000_000
    held = Balance.objects.aggregate(a=Sum("available"), r=Sum("reserved"))
    assert held["a"] + held["r"] == Deposit.objects.aggregate(total=Sum("amount"))["total"]


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
