"""Sync against the real sandbox process: the mirror matches it, and re-running writes nothing."""

from __future__ import annotations

import pytest

from customers.models import BalanceSnapshot, Customer
from orders.models import Fill, Market, Order, Position
from parsec.client import get_client
from sync.models import SyncRun
from sync.report import ReadDigests, SyncReport, start_run
from sync.steps import sync_customer, sync_fills, sync_markets, sync_users
from tests.sandbox_client import as_user, new_customer, pick_markets, trade
from tests.sync.mirror_check import assert_mirror_matches, mirror_state

pytestmark = pytest.mark.django_db(transaction=False)


def full_sync(customer: Customer) -> SyncRun:
    return sync_customer(run=start_run(kind=SyncRun.Kind.CUSTOMER_FULL, customer=customer))


def users_and_markets() -> tuple[SyncRun, SyncRun]:
    return sync_users(run=start_run(kind=SyncRun.Kind.USERS)), sync_markets(run=start_run(kind=SyncRun.Kind.MARKETS))


@pytest.fixture
def traded(sync_settings, sdk):
    markets = pick_markets(sdk)
    customer_id = new_customer(sdk)
    placed = trade(sdk, customer_id, markets)
    users_and_markets()
    return Customer.objects.get(parsec_customer_id=customer_id), placed, markets


def test_markets_sync_keeps_titles_and_order_ids(sync_settings, sdk):
    run = sync_markets(run=start_run(kind=SyncRun.Kind.MARKETS))
    listed = sdk.markets.list(exchanges=["polymarket", "kalshi"], limit=100).markets
    assert run.status == SyncRun.Status.SUCCEEDED and run.rows_created + run.rows_unchanged + run.rows_updated == len(listed)
    for market in listed:
        row = Market.objects.get(parsec_id=market.parsec_id)
        assert (row.question, row.exchange, row.exchange_market_id) == (market.question, market.exchange, market.exchange_market_id)
        expected = market.condition_id if market.exchange == "polymarket" else market.exchange_market_id
        assert row.order_market_id == expected
    again = sync_markets(run=start_run(kind=SyncRun.Kind.MARKETS))
    assert (again.rows_created, again.rows_updated) == (0, 0)


def test_customer_sync_mirrors_the_sandbox_field_by_field(traded, sdk):
    customer, placed, _ = traded
    run = full_sync(customer)
    assert run.status == SyncRun.Status.SUCCEEDED, run.errors
    assert run.progress_done == run.progress_total == 8 and run.calls_made >= 8 and run.rows_created > 0
    assert_mirror_matches(sdk, customer)
    statuses = {exchange: [Order.objects.get(exchange=exchange, parsec_order_id=i).status for i in ids] for exchange, ids in placed.items()}
    assert [s[1:] for s in statuses.values()] == [["open", "cancelled"]] * 2, statuses
    for exchange, ids in placed.items():  # bought at the ask: filled as far as the makers' depth went
        taker = Order.objects.get(exchange=exchange, parsec_order_id=ids[0])
        assert taker.filled > 0 and taker.status == ("filled" if taker.filled == taker.size else "partially_filled")
    customer.refresh_from_db()
    assert run.started_at <= customer.last_full_sync_at <= run.finished_at and customer.last_activity_at is not None


def test_second_sync_with_nothing_new_writes_nothing(traded, sdk, django_assert_max_num_queries):
    customer, _, _ = traded
    full_sync(customer)
    before = mirror_state([customer.pk])
    snapshots = BalanceSnapshot.objects.count()
    second = full_sync(customer)
    assert second.status == SyncRun.Status.SUCCEEDED
    assert (second.rows_created, second.rows_updated) == (0, 0) and second.rows_unchanged > 0
    assert mirror_state([customer.pk]) == before and BalanceSnapshot.objects.count() == snapshots


def test_later_trading_and_a_cancel_reach_the_mirror(traded, sdk):
    customer, placed, markets = traded
    full_sync(customer)
    resting = placed["kalshi"][1]
    sdk.orders.cancel(resting, exchange="kalshi", **as_user(str(customer.parsec_customer_id)))
    more = trade(sdk, str(customer.parsec_customer_id), markets)
    run = full_sync(customer)
    assert run.status == SyncRun.Status.SUCCEEDED and run.rows_created > 0 and run.rows_updated > 0
    assert Order.objects.get(exchange="kalshi", parsec_order_id=resting).status == "cancelled"
    assert Order.objects.filter(parsec_order_id__in=more["polymarket"]).count() == 3
    assert_mirror_matches(sdk, customer)


def test_positions_gone_from_parsec_are_closed_not_deleted(traded, sdk):
    customer, _, markets = traded
    full_sync(customer)
    cid = str(customer.parsec_customer_id)
    for exchange, market in markets.items():
        for position in sdk.positions.list(exchange=exchange, **as_user(cid)):
            book = sdk.orderbook.retrieve(parsec_id=market.parsec_id, outcome=position.outcome)
            sdk.orders.create(exchange=exchange, market_id=position.market_id, outcome=position.outcome, side="sell",
                              price=book.bids[0][0], size=position.size, **as_user(cid))
    assert not sdk.positions.list(exchange="kalshi", **as_user(cid))
    run = full_sync(customer)
    assert run.status == SyncRun.Status.SUCCEEDED
    closed = Position.objects.filter(customer=customer)
    assert closed.exists() and not closed.filter(is_open=True).exists()
    assert all(p.closed_at and p.size == 0 for p in closed)


def test_an_unchanged_read_is_not_compared_again_until_its_digest_ages(traded, sdk, settings):
    customer, _, _ = traded
    first = full_sync(customer)
    assert first.status == SyncRun.Status.SUCCEEDED, first.errors
    links = {link.exchange: link.sync_digests for link in customer.exchange_links.all()}
    assert all(set(digests) == {"fills", "positions"} for digests in links.values()), links

    # Parsec answers the same: nothing is written and the stored digests stay as they were.
    second = full_sync(customer)
    assert (second.rows_created, second.rows_updated) == (0, 0) and second.rows_unchanged > 0
    assert {link.exchange: link.sync_digests for link in customer.exchange_links.all()} == links

    # A new trade changes the fills read: it is compared and stored, and the digest moves.
    markets = pick_markets(sdk)
    trade(sdk, str(customer.parsec_customer_id), markets)
    third = full_sync(customer)
    assert third.rows_created > 0
    assert_mirror_matches(sdk, customer)
    moved = {link.exchange: link.sync_digests["fills"]["digest"] for link in customer.exchange_links.all()}
    assert all(moved[exchange] != links[exchange]["fills"]["digest"] for exchange in moved)

    # Out-of-band damage to the mirror: while the digests are fresh the reads are not compared,
    # so it stays; once they are older than SYNC_DIGEST_MAX_AGE_SECONDS a comparison repairs it.
    Fill.objects.filter(customer=customer).update(order=None)
    full_sync(customer)
    assert Fill.objects.filter(customer=customer, order__isnull=True).exists()
    settings.SYNC_DIGEST_MAX_AGE_SECONDS = 0
    full_sync(customer)
    assert not Fill.objects.filter(customer=customer, order__isnull=True).exists()


def test_fills_read_before_their_orders_keep_no_digest_until_linked(traded, sdk):
    customer, _, _ = traded
    link = customer.exchange_links.get(exchange="polymarket")
    digests = ReadDigests(link.pk, {})
    assert sync_fills(client=get_client(), customer=customer, exchange="polymarket", report=SyncReport(), digests=digests)
    assert Fill.objects.filter(customer=customer, exchange="polymarket", order__isnull=True).exists()  # orders not mirrored yet
    link.refresh_from_db()
    assert "fills" not in link.sync_digests  # so the next sync compares, and links them
    full_sync(customer)
    assert not Fill.objects.filter(customer=customer, order__isnull=True).exists()
    link.refresh_from_db()
    assert "fills" in link.sync_digests


def test_a_second_sync_with_nothing_changed_and_nothing_waiting_skips_the_look_at_ended_holdings(traded, sdk, monkeypatch):
    """bench/sync_second.py fell from 3.4x to 2.5x once every sync looked for ended holdings (a
    fills aggregation per exchange). With the fills and positions reads unchanged and the last
    look quiet, there is nothing new to settle (a market that ends later is the markets sync's)."""
    from orders import settlements

    customer, _, _ = traded
    looks: list[str] = []
    real = settlements.needs_market_read
    monkeypatch.setattr(settlements, "needs_market_read", lambda **kw: looks.append(kw["exchange"]) or real(**kw))
    assert full_sync(customer).status == SyncRun.Status.SUCCEEDED
    linked = sorted(link.exchange for link in customer.exchange_links.all())
    assert sorted(looks) == linked  # the first sync looks on each exchange
    assert all(link.sync_digests["positions"]["settled_quiet"] is True for link in customer.exchange_links.all())

    looks.clear()
    second = full_sync(customer)
    assert (second.rows_created, second.rows_updated) == (0, 0)
    assert looks == []  # nothing changed, nothing waited: no look

    # A new trade changes the fills: the next sync looks again.
    trade(sdk, str(customer.parsec_customer_id), pick_markets(sdk))
    full_sync(customer)
    assert sorted(set(looks)) == linked
