"""The FilterSets the admin lists and the API share: each filter means one thing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from customers import selectors as customer_selectors
from customers.filters import BalanceSnapshotFilterSet, CustomerFilterSet
from customers.models import BalanceSnapshot
from orders import selectors as order_selectors
from orders.filters import FillFilterSet, MarketFilterSet, OrderFilterSet, PositionFilterSet
from orders.models import Fill, Market, Order, Position
from sync.filters import SyncRunFilterSet
from sync.models import SyncRun
from tests import factories as f
from tests.factories import mirror_rows

pytestmark = pytest.mark.django_db


def pks(filterset_class, queryset, **data) -> set[int]:
    filterset = filterset_class(data=data, queryset=queryset)
    assert filterset.is_valid(), filterset.errors
    return set(filterset.qs.values_list("pk", flat=True))


@pytest.fixture
def mirror():
    return mirror_rows(3)


def test_customer_is_named_by_id_parsec_id_or_external_id(mirror):
    customer = mirror["customers"][1]
    order = mirror["orders"][1]
    for ref in (str(customer.pk), str(customer.parsec_customer_id), customer.external_id):
        assert pks(OrderFilterSet, Order.objects.all(), customer=ref) == {order.pk}, ref
        assert pks(CustomerFilterSet, customer_selectors.customer_list(), customer=ref) == {customer.pk}, ref
    assert pks(OrderFilterSet, Order.objects.all(), customer="nobody") == set()
    assert pks(OrderFilterSet, Order.objects.all(), customer="9" * 40) == set()  # not a crash on a huge number


def test_market_is_named_by_id_parsec_id_or_native_id_even_outside_the_catalogue(mirror):
    order = mirror["orders"][0]
    market = order.market
    for ref in (str(market.pk), market.parsec_id, market.order_market_id):
        assert pks(OrderFilterSet, Order.objects.all(), market=ref) == {order.pk}, ref
        assert len(pks(FillFilterSet, Fill.objects.all(), market=ref)) == 1
        assert len(pks(PositionFilterSet, Position.objects.all(), market=ref)) == 1
    Order.objects.filter(pk=order.pk).update(market=None, market_native_id="KX-NOT-IN-CATALOGUE")
    assert pks(OrderFilterSet, Order.objects.all(), market="KX-NOT-IN-CATALOGUE") == {order.pk}


def test_status_takes_several_values_and_live_means_not_terminal(mirror):
    first, second, third = mirror["orders"]
    Order.objects.filter(pk=second.pk).update(status=Order.Status.CANCELLED)
    Order.objects.filter(pk=third.pk).update(status=Order.Status.FILLED, filled=third.size)
    assert pks(OrderFilterSet, Order.objects.all(), status=["filled", "cancelled"]) == {second.pk, third.pk}
    assert pks(OrderFilterSet, Order.objects.all(), live="true") == {first.pk}
    assert pks(OrderFilterSet, Order.objects.all(), live="false") == {second.pk, third.pk}
    assert not OrderFilterSet(data={"status": "exploded"}, queryset=Order.objects.all()).is_valid()


def test_created_range_and_updated_since(mirror):
    first, second, third = mirror["orders"]  # created now, -1 min, -2 min
    after = (second.created_at - timedelta(seconds=1)).isoformat()
    before = (second.created_at + timedelta(seconds=1)).isoformat()
    assert pks(OrderFilterSet, Order.objects.all(), created_after=after, created_before=before) == {second.pk}
    assert pks(OrderFilterSet, Order.objects.all(), created_after=after) == {first.pk, second.pk}
    later = timezone.now() + timedelta(hours=1)
    Order.objects.filter(pk=third.pk).update(last_seen_at=later)
    assert pks(OrderFilterSet, Order.objects.all(), updated_since=(later - timedelta(minutes=1)).isoformat()) == {third.pk}
    assert not OrderFilterSet(data={"created_after": "yesterday"}, queryset=Order.objects.all()).is_valid()


def test_fill_filters_by_parsec_order_id_and_position_by_open(mirror):
    order = mirror["orders"][2]
    assert pks(FillFilterSet, Fill.objects.all(), order=order.parsec_order_id) == set(order.fills.values_list("pk", flat=True))
    position = Position.objects.get(customer=order.customer)
    Position.objects.filter(pk=position.pk).update(is_open=False, closed_at=timezone.now(), size=0)
    assert position.pk in pks(PositionFilterSet, Position.objects.all(), is_open="false")
    assert position.pk not in pks(PositionFilterSet, Position.objects.all(), is_open="true")


def test_customer_filters_search_exchange_and_market_search(mirror):
    customer = mirror["customers"][0]
    f.ExchangeLinkFactory(customer=customer, exchange="kalshi", mode="self")
    assert pks(CustomerFilterSet, customer_selectors.customer_list(), exchange="kalshi") == {customer.pk}
    assert pks(CustomerFilterSet, customer_selectors.customer_list(), q=customer.email.upper()) == {customer.pk}
    market = mirror["markets"][2]
    assert pks(MarketFilterSet, Market.objects.all(), q=market.question[5:30]) >= {market.pk}
    assert pks(MarketFilterSet, Market.objects.all(), q=market.parsec_id) == {market.pk}


def test_balance_and_sync_run_filters(mirror):
    customer = mirror["customers"][0]
    assert pks(BalanceSnapshotFilterSet, BalanceSnapshot.objects.all(), customer=customer.external_id) == set(
        customer.balance_snapshots.values_list("pk", flat=True)
    )
    failed = SyncRun.objects.create(kind="users", status="failed", errors=[{"error": "boom"}])
    assert pks(SyncRunFilterSet, SyncRun.objects.all(), status=["failed"]) == {failed.pk}


def test_latest_balances_gives_the_newest_snapshot_per_exchange(mirror, django_assert_num_queries):
    customer = mirror["customers"][0]
    now = timezone.now()
    newest_poly = f.BalanceSnapshotFactory(customer=customer, exchange="polymarket", usdc_base_units=7, taken_at=now)
    f.BalanceSnapshotFactory(customer=customer, exchange="kalshi", usdc_base_units=1, taken_at=now - timedelta(days=1))
    newest_kalshi = f.BalanceSnapshotFactory(customer=customer, exchange="kalshi", usdc_base_units=2, taken_at=now)
    with django_assert_num_queries(1):
        latest = customer_selectors.latest_balances(customer=customer)
    assert {snap.pk for snap in latest} == {newest_poly.pk, newest_kalshi.pk}


def test_live_orders_are_the_not_terminal_ones(mirror):
    first, second, _ = mirror["orders"]
    Order.objects.filter(pk=second.pk).update(status=Order.Status.CANCELLED)
    assert list(order_selectors.live_orders(customer=first.customer, exchange="kalshi")) == [first]
    assert not order_selectors.live_orders(customer=second.customer, exchange="kalshi").exists()
