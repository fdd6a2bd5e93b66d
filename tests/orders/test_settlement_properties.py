"""Property: for random sequences of trades, cancels and an end (resolved either way, or voided)
by several customers in one market, after a sync every customer's Σ realised P&L - Σ fees equals
the change of its balance, in the mirror, to the base unit, and equals the sandbox's own
accounting: its settlement rows and its balance (Kalshi's in whole cents)."""

from __future__ import annotations

from decimal import Decimal

import parsec_api
import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from customers.models import BalanceSnapshot, Customer
from orders.models import Settlement
from orders.pnl import customer_pnl, totals
from tests.orders.lifecycle import (
    balance_units,
    best_ask,
    best_bid,
    cancel,
    cash_units,
    fee_units,
    fills,
    new_market,
    new_user,
    place,
    sandbox_settlements,
    sync_all,
)

pytestmark = pytest.mark.django_db(transaction=False)
OPENING = 1000 * 1_000_000
TICK = Decimal("0.01")

actions = st.lists(
    st.tuples(st.integers(0, 2), st.sampled_from(["buy_taker", "buy_rest", "sell_taker", "sell_rest", "cancel"]),
              st.sampled_from(["Yes", "No"]), st.integers(5, 60)),
    min_size=3, max_size=9,
)
ends = st.sampled_from([("resolve", "Yes"), ("resolve", "No"), ("void", None)])


@pytest.fixture
def lifecycle_settings(parsec_settings, sandbox):
    parsec_settings.PARSEC_SANDBOX_ADMIN_KEY = sandbox.admin_key
    return parsec_settings


def _act(sdk, market, customer_id, kind, outcome, size, open_orders):
    try:
        if kind == "cancel":
            if open_orders:
                cancel(sdk, customer_id, market, open_orders.pop(0))
            return
        side = "buy" if kind.startswith("buy") else "sell"
        if kind == "buy_taker":
            price = best_ask(sdk, market, outcome)
        elif kind == "sell_taker":
            price = best_bid(sdk, market, outcome)
        elif kind == "buy_rest":
            price = best_bid(sdk, market, outcome) - TICK
        else:
            price = best_ask(sdk, market, outcome) + TICK
        order = place(sdk, customer_id, market, outcome=outcome, side=side, price=price, size=size)
        if order.get("status") in ("open", "partially_filled"):
            open_orders.append(order["id"])
    except (parsec_api.APIStatusError, IndexError):
        pass  # not enough shares or cash, an order already ended, an empty side: the step does nothing


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(exchange=st.sampled_from(["polymarket", "kalshi"]), steps=actions, end=ends, sync_before_end=st.booleans())
def test_realised_pnl_minus_fees_is_the_balance_change_in_the_mirror_and_the_sandbox(
        lifecycle_settings, sandbox, exchange, steps, end, sync_before_end):
    sdk = sandbox.sdk()
    market = new_market(sandbox, exchange=exchange, price="0.45")
    customer_ids = [new_user(sdk, prefix="prop") for _ in range(3)]
    sync_all(*customer_ids)  # the opening balances
    open_orders: dict[str, list[str]] = {c: [] for c in customer_ids}
    for index, kind, outcome, size in steps:
        _act(sdk, market, customer_ids[index], kind, outcome, size, open_orders[customer_ids[index]])
    if sync_before_end:
        sync_all(*customer_ids)  # the mirror lists the positions before they settle
    action, winner = end
    sandbox.control("POST", f"markets/{market['parsec_id']}/{action}", json={"outcome": winner} if winner else {})
    sync_all(*customer_ids)

    theirs = {row["customer_id"]: row for row in sandbox_settlements(sandbox, parsec_id=market["parsec_id"])}
    for customer_id in customer_ids:
        customer = Customer.objects.get(parsec_customer_id=customer_id)
        their_fills = fills(sdk, customer_id, market)
        settled = [row for row in sandbox_settlements(sandbox, parsec_id=market["parsec_id"]) if row["customer_id"] == customer_id]
        sandbox_net = sum(int(row["amount"]) for row in settled) - sum(fee_units(f) for f in their_fills) + sum(
            cash_units(f["price"], f["size"]) * (1 if f["side"] == "sell" else -1) for f in their_fills)

        figures = totals(customer_pnl(customer=customer, exchange=exchange))
        note(f"{exchange} {end} {customer_id}: fills {their_fills}, settled {settled}, "
             f"mirror fills {list(customer.fills.values_list('side', 'price', 'size', 'fee'))}, "
             f"settlements {list(Settlement.objects.filter(customer=customer).values_list('outcome', 'size', 'amount_base_units'))}")
        assert figures["net_units"] == sandbox_net
        mine = list(Settlement.objects.filter(customer=customer, market__parsec_id=market["parsec_id"]))
        assert sorted((s.outcome, s.size, s.payout_per_share, s.amount_base_units) for s in mine) == sorted(
            (r["outcome"], Decimal(r["size"]), Decimal(r["price"]), int(r["amount"])) for r in settled)
        assert (customer_id in theirs) == bool(mine)

        history = BalanceSnapshot.objects.filter(customer=customer, exchange=exchange).order_by("taken_at", "id")
        opening, closing = history.first().usdc_base_units, history.last().usdc_base_units
        exact = OPENING + figures["net_units"]
        shown = exact if exchange == "polymarket" else exact // 10_000 * 10_000
        assert opening == OPENING and closing == shown == balance_units(sdk, customer_id, exchange)
        if exchange == "polymarket":
            assert closing - opening == figures["realised_units"] - figures["fees_units"]
