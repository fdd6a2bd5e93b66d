"""A market resolves in the sandbox with customers on both sides; the mirror follows it to the base
unit: the market's status and winner, the settlement rows (equal to the sandbox's own), realised
P&L in the Customer 360 and the API, the timeline, and a statement whose reconciliation is zero."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from compliance.exports import monthly_statement
from customers.models import BalanceSnapshot, Customer
from orders.models import ClosedReason, Market, Position, Settlement
from orders.pnl import customer_pnl, totals
from tests.orders.lifecycle import (
    balance_units,
    best_ask,
    best_bid,
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


@pytest.fixture
def lifecycle_settings(parsec_settings, sandbox):
    parsec_settings.PARSEC_SANDBOX_ADMIN_KEY = sandbox.admin_key
    return parsec_settings


def expected_net(customer_fills: list[dict], settled: int) -> tuple[int, int]:
    """(Σ realised, Σ fees) in base units from the sandbox's own fills and settlement amount."""
    realised = settled
    for fill in customer_fills:
        cash = cash_units(fill["price"], fill["size"])
        realised += cash if fill["side"] == "sell" else -cash
    return realised, sum(fee_units(f) for f in customer_fills)


def test_a_resolved_market_settles_both_sides_in_the_mirror_to_the_base_unit(lifecycle_settings, sandbox, client, reviewer):
    sdk = sandbox.sdk()
    market = new_market(sandbox, exchange="kalshi", price="0.40")
    winner_id, loser_id = new_user(sdk, prefix="winner"), new_user(sdk, prefix="loser")
    sync_all(winner_id, loser_id)  # the mirror knows the market and the opening balances

    # The winner takes the Yes makers' best level and more: a partial fill that rests, then ends at the close.
    ask = best_ask(sdk, market, "Yes")
    big = place(sdk, winner_id, market, outcome="Yes", side="buy", price=ask, size=2000)
    assert big["status"] == "partially_filled", big
    # The loser buys No at the market, then sells part of it back.
    no_ask = best_ask(sdk, market, "No")
    place(sdk, loser_id, market, outcome="No", side="buy", price=no_ask, size=40)
    place(sdk, loser_id, market, outcome="No", side="sell", price=best_bid(sdk, market, "No"), size=15)
    sync_all(winner_id, loser_id)
    winner, loser = (Customer.objects.get(parsec_customer_id=c) for c in (winner_id, loser_id))
    assert Position.objects.filter(customer__in=[winner, loser], is_open=True, market__parsec_id=market["parsec_id"]).count() == 2

    sandbox.control("POST", f"markets/{market['parsec_id']}/resolve", json={"outcome": "Yes"})
    sync_all(winner_id, loser_id)

    mirrored = Market.objects.get(parsec_id=market["parsec_id"])
    assert (mirrored.status, mirrored.winning_outcome, mirrored.lifecycle_label) == ("resolved", "Yes", "Resolved: Yes")
    assert mirrored.closed_at is not None and mirrored.resolved_at is not None

    # Settlement rows: one per holding, equal to the sandbox's own accounting.
    theirs = {row["customer_id"]: row for row in sandbox_settlements(sandbox, parsec_id=market["parsec_id"])}
    ours = {str(s.customer.parsec_customer_id): s for s in Settlement.objects.filter(market=mirrored).select_related("customer")}
    assert set(ours) == set(theirs) == {winner_id, loser_id}
    for customer_id, row in theirs.items():
        mine = ours[customer_id]
        assert (mine.outcome, mine.size, mine.payout_per_share, mine.amount_base_units) == (
            row["outcome"], Decimal(row["size"]), Decimal(row["price"]), int(row["amount"]))
        assert mine.kind == Settlement.Kind.RESOLVED and mine.basis == Settlement.Basis.BOTH
        assert mine.position.closed_reason == ClosedReason.SETTLED and not mine.position.is_open
    assert ours[winner_id].result == Settlement.Result.WON and ours[loser_id].result == Settlement.Result.LOST
    assert ours[loser_id].amount_base_units == 0 and ours[loser_id].size == Decimal(25)

    # Realised P&L by average cost: Σ realised - Σ fees = the change of the balance, to the base unit.
    for customer, customer_id in ((winner, winner_id), (loser, loser_id)):
        their_fills = fills(sdk, customer_id, market)
        realised, fees = expected_net(their_fills, int(theirs[customer_id]["amount"]))
        lines = [line for line in customer_pnl(customer=customer) if line.market_native_id == market["exchange_market_id"]]
        figures = totals(lines)
        assert (figures["realised_units"], figures["fees_units"]) == (realised, fees)
        assert all(line.quantity == 0 and line.is_settled for line in lines)
        exact_balance = OPENING + realised - fees
        # Kalshi shows whole cents: the mirror's balance is the exact one cut to the cent.
        assert balance_units(sdk, customer_id, "kalshi") == exact_balance // 10_000 * 10_000
        latest = BalanceSnapshot.objects.filter(customer=customer, exchange="kalshi").order_by("-taken_at", "-id").first()
        assert latest.usdc_base_units == exact_balance // 10_000 * 10_000

        # The statement of this month adds up: opening + movements - closing = 0.
        statement = monthly_statement(customer=customer, month=timezone.now().date())
        kalshi = statement.exchange("kalshi")
        assert kalshi.opening_units == OPENING and kalshi.closing_units == latest.usdc_base_units
        assert kalshi.settlements_units == int(theirs[customer_id]["amount"])
        assert kalshi.fees_units == fees and kalshi.realised_units == realised
        assert kalshi.rounding_units == exact_balance - latest.usdc_base_units
        assert kalshi.reconciliation_units == 0
        assert market["question"] in {row.market_title for row in kalshi.fills}

    # The Customer 360: realised P&L, the closed position with its result, the settlement on the timeline.
    client.force_login(reviewer)
    page = client.get(reverse("customer_360", args=[winner.pk])).content.decode()
    winner_realised, _ = expected_net(fills(sdk, winner_id, market), int(theirs[winner_id]["amount"]))
    from core.formatting import signed_usdc, usdc

    assert f"realised {signed_usdc(Decimal(winner_realised).scaleb(-6))}" in page
    assert "Won" in page and f"paid {usdc(ours[winner_id].amount_usdc)} USDC" in page
    assert 'data-kind="settlement"' in page

    # The API: the market's lifecycle, the settlements, realised P&L to the base unit.
    detail = client.get(f"/api/markets/{mirrored.pk}/").json()
    assert (detail["status"], detail["winning_outcome"]) == ("resolved", "Yes")
    rows = client.get("/api/settlements/", {"customer": winner_id}).json()["results"]
    assert [(r["outcome"], r["amount_base_units"], r["result"]) for r in rows] == [("Yes", int(theirs[winner_id]["amount"]), "won")]
    pnl = client.get("/api/pnl/", {"customer": winner_id}).json()
    assert pnl["realised_base_units"] == winner_realised
