"""The operations dashboard: right figures from aggregates, a query count that does not grow
with the data, Parsec calls cached, and every section behind the admin login."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from backoffice import dashboard
from orders.models import OrderIntent
from parsec.models import OutboundCall
from sync.models import SyncRun
from tests import factories as f

pytestmark = pytest.mark.django_db


def populate(n: int):
    """n customers, each with open/filled/cancelled orders and fills today and 10 days ago."""
    for _ in range(n):
        cust = f.customer()
        for exchange in ("polymarket", "kalshi"):
            mkt = f.market(exchange)
            f.order(cust, mkt, price="0.50", size="10", status="open")
            f.order(cust, mkt, price="0.50", size="10", status="partially_filled", filled=Decimal("4"))
            f.order(cust, mkt, status="cancelled")
            f.fill(cust, mkt, price="0.50", size="4", fee="0.01")
            f.fill(cust, mkt, price="0.25", size="4", fee="0.02", at=timezone.now() - timedelta(days=10))
        f.AlertFactory(rule="cancel_ratio", customer=cust, dedup_key=f"k{cust.pk}", title="t", severity="high")


def test_trading_figures_come_out_right():
    populate(3)
    OrderIntent.objects.create(customer=f.customer(), exchange="kalshi", market_native_id="m", outcome="Yes", side="buy",
                               price=Decimal("0.5"), size=Decimal("1"), status=OrderIntent.Status.UNKNOWN)
    figures = dashboard.trading(timezone.now())
    by_exchange = {row["exchange"]: row for row in figures["open_orders"]}
    # per exchange: 3 x (open 10 @ 0.5 = 5) + 3 x (remaining 6 @ 0.5 = 3) = 24 USDC in 6 live orders
    assert by_exchange["polymarket"]["count"] == 6 and by_exchange["polymarket"]["notional"] == Decimal("24.00")
    assert figures["open_total"] == 12 and figures["open_notional"] == Decimal("48.00")
    assert figures["fills_today"] == 6 and figures["fills_30d"] == 12
    assert figures["volume_today"] == Decimal("12.00") and figures["volume_30d"] == Decimal("18.00")
    assert figures["fees_30d"] == Decimal("0.18")
    assert figures["unresolved_count"] == 1


def test_the_page_shows_the_figures_and_open_alerts(operator_client):
    populate(2)
    page = operator_client.get(reverse("admin:index"))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-figure="open-orders">8<' in html and 'data-figure="open-alerts">2<' in html
    assert "Volume per day by exchange" in html and "<svg" in html
    assert 'hx-get="/admin/dashboard/parsec/"' in html  # the Parsec section loads after the page


def test_the_query_count_does_not_grow_with_the_data(operator_client):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    populate(1)
    operator_client.get(reverse("admin:index"))
    with CaptureQueriesContext(connection) as small:
        operator_client.get(reverse("admin:index"))
    populate(6)
    with CaptureQueriesContext(connection) as large:
        operator_client.get(reverse("admin:index"))
    assert len(large.captured_queries) == len(small.captured_queries) <= 23  # 23: the escrow section's one query (issue 6), the chain's health (issue 18), the two-factor banner (issue 16)


def test_sync_health_flags_stale_kinds_and_failing_customers(settings):
    now = timezone.now()
    assert dashboard.sync_health(now)["stale"] is True  # nothing ever synced
    for kind in (SyncRun.Kind.USERS, SyncRun.Kind.CUSTOMER_FULL, SyncRun.Kind.MARKETS):
        SyncRun.objects.create(kind=kind, status=SyncRun.Status.SUCCEEDED, started_at=now - timedelta(seconds=30),
                               finished_at=now - timedelta(seconds=20))
    bad = f.customer()
    SyncRun.objects.create(kind=SyncRun.Kind.CUSTOMER_FULL, customer=bad, status=SyncRun.Status.SUCCEEDED,
                           started_at=now - timedelta(minutes=5), finished_at=now - timedelta(minutes=5))
    SyncRun.objects.create(kind=SyncRun.Kind.CUSTOMER_FULL, customer=bad, status=SyncRun.Status.FAILED,
                           started_at=now - timedelta(minutes=1), finished_at=now - timedelta(minutes=1))
    health = dashboard.sync_health(now)
    assert health["stale"] is False and health["failing_count"] == 1 and health["failing"] == [bad]
    settings.DASHBOARD_SYNC_STALE_SECONDS = 10
    assert dashboard.sync_health(now)["stale"] is True


def test_recent_429s_are_counted_and_listed():
    now = timezone.now()
    for minutes in (5, 30, 300):
        OutboundCall.objects.create(created_at=now - timedelta(minutes=minutes), method="GET", path_template="/orders",
                                    path="/orders", status_code=429, retry_after=1.5)
    OutboundCall.objects.create(created_at=now, method="GET", path_template="/orders", path="/orders", status_code=200)
    figures = dashboard.rate_limits(now)
    assert figures["last_hour"] == 2 and figures["last_day"] == 3 and len(figures["recent"]) == 3


def test_charts_put_each_days_volume_in_its_exchange_colour():
    populate(1)
    charts = dashboard.charts(timezone.now())
    colours = {bar["colour"] for bar in charts["volume"]["bars"]}
    assert colours == {dashboard.EXCHANGE_COLOURS["polymarket"], dashboard.EXCHANGE_COLOURS["kalshi"]}
    assert len(charts["volume"]["bars"]) == 4  # two days x two exchanges
    mix = {part["label"]: part["count"] for part in charts["status_mix"]["parts"]}
    assert mix == {"open": 2, "partially filled": 2, "cancelled": 2}


def test_the_parsec_section_pings_the_sandbox_once_and_then_serves_the_cached_answer(operator_client, parsec_settings):
    cache.clear()
    url = reverse("dashboard_section", args=["parsec"])
    first = operator_client.get(url)
    assert first.status_code == 200 and b"Parsec up" in first.content and b"QPS allocated" in first.content
    calls = OutboundCall.objects.count()
    assert calls == 2  # /ping and /builder/pool
    operator_client.get(url)
    assert OutboundCall.objects.count() == calls


def test_an_unreachable_parsec_shows_as_such_without_breaking_the_page(operator_client, settings):
    cache.clear()
    settings.PARSEC_API_BASE_URL = "http://127.0.0.1:9"
    settings.PARSEC_READ_RETRIES = 0
    page = operator_client.get(reverse("dashboard_section", args=["parsec"]))
    assert page.status_code == 200 and b"Parsec unreachable" in page.content


def test_every_section_needs_a_staff_login(reviewer_client):
    from django.test import Client

    anonymous = Client()
    for section in dashboard.SECTIONS:
        url = reverse("dashboard_section", args=[section])
        assert anonymous.get(url).status_code == 302
    assert reviewer_client.get(reverse("dashboard_section", args=["trading"])).status_code == 200
    assert reviewer_client.get("/admin/dashboard/nope/").status_code == 404


@pytest.mark.parametrize("seconds_ago, state", [(None, "late"), (5, "ok"), (91, "late")])
def test_the_scheduler_turns_red_when_its_heartbeat_is_late(operator_client, settings, seconds_ago, state):
    from backoffice.models import SchedulerHeartbeat

    settings.SCHEDULER_LATE_SECONDS = 90
    if seconds_ago is not None:
        SchedulerHeartbeat.objects.create(name="beat", beat_at=timezone.now() - timedelta(seconds=seconds_ago))
    page = operator_client.get(reverse("admin:index")).content.decode()
    assert f'data-scheduler="{state}"' in page
    assert ("bo-badge bo-bad\">late" in page) is (state == "late")


def test_the_heartbeat_task_records_when_it_ran():
    from backoffice.models import SchedulerHeartbeat
    from backoffice.tasks import scheduler_heartbeat

    scheduler_heartbeat()
    first = SchedulerHeartbeat.objects.get(name="beat").beat_at
    assert timezone.now() - first < timedelta(minutes=1)
    scheduler_heartbeat()
    assert SchedulerHeartbeat.objects.count() == 1
    assert SchedulerHeartbeat.objects.get(name="beat").beat_at >= first
