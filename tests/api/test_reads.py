"""Reads: the admin's filters, ordering, cursor pages, and a query count that ignores page size."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from customers.models import BalanceSnapshot
from tests.factories import mirror_rows

pytestmark = pytest.mark.django_db

LISTS = ["/api/customers/", "/api/balances/", "/api/sync-runs/", "/api/markets/", "/api/orders/", "/api/fills/",
         "/api/positions/", "/api/order-intents/"]

# Queries per list page, whatever its size (NetBox keeps such pins beside its tests): token
# lookup, roles, permissions (2), the page itself, plus one per prefetched relation.
PINNED_QUERIES = {
    "/api/customers/": 8, "/api/balances/": 5, "/api/sync-runs/": 5, "/api/markets/": 5, "/api/orders/": 5,
    "/api/fills/": 5, "/api/positions/": 5, "/api/order-intents/": 5,
}


@pytest.fixture
def mirror(db):
    return mirror_rows(60)


def _queries(client, url: str) -> tuple[int, dict]:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, response.content
    return len(ctx.captured_queries), response.json()


@pytest.mark.parametrize("url", LISTS)
def test_list_query_count_does_not_grow_with_the_page(ops_api, mirror, url):
    ops_api.get("/api/whoami/")  # last_used_at is written once a minute: keep it out of the count
    small, small_body = _queries(ops_api, f"{url}?page_size=5")
    large, large_body = _queries(ops_api, f"{url}?page_size=50")
    assert small == large == PINNED_QUERIES[url], (small, large)
    if url != "/api/order-intents/":
        assert len(small_body["results"]) == 5 and len(large_body["results"]) == 50


@pytest.mark.parametrize("url", LISTS)
def test_compliance_tokens_read_every_list(compliance_api, url):
    assert compliance_api.get(url).status_code == 200


def test_cursor_pages_walk_every_row_once(ops_api, mirror):
    seen, url = [], "/api/orders/?page_size=7"
    while url:
        body = ops_api.get(url).json()
        seen += [row["id"] for row in body["results"]]
        url = body["next"]
    assert sorted(seen) == sorted(o.pk for o in mirror["orders"])
    assert len(seen) == len(set(seen))


def test_orders_filter_like_the_admin(ops_api, mirror):
    customer = mirror["customers"][3]
    by_external = ops_api.get(f"/api/orders/?customer={customer.external_id}").json()["results"]
    by_uuid = ops_api.get(f"/api/orders/?customer={customer.parsec_customer_id}").json()["results"]
    assert [o["customer"] for o in by_external] == [o["customer"] for o in by_uuid] == [customer.pk]
    market = mirror["markets"][5]
    assert [o["market"] for o in ops_api.get(f"/api/orders/?market={market.parsec_id}").json()["results"]] == [market.pk]
    assert ops_api.get("/api/orders/?status=filled").json()["results"] == []
    assert len(ops_api.get("/api/orders/?status=partially_filled&page_size=100").json()["results"]) == 60
    since = (timezone.now() - timedelta(minutes=9, seconds=30)).isoformat()
    recent = ops_api.get("/api/orders/", {"created_after": since, "page_size": 100}).json()["results"]
    assert len(recent) == 10


def test_ordering_is_applied_and_limited_to_indexed_columns(ops_api, mirror):
    newest_first = [o["id"] for o in ops_api.get("/api/orders/?page_size=100").json()["results"]]
    oldest_first = [o["id"] for o in ops_api.get("/api/orders/?ordering=created_at&page_size=100").json()["results"]]
    assert oldest_first == list(reversed(newest_first))
    # Only indexed columns: anything else is a 400 naming the choices, never a silent full sort.
    response = ops_api.get("/api/orders/?ordering=raw")
    assert response.status_code == 400
    assert "created_at" in response.json()["error"]["fields"]["ordering"][0]


@pytest.mark.parametrize("query", ["page_size=0", "page_size=-3", "page_size=501", "page_size=null", "updated_since=",
                                   "live=maybe", "customer="])
def test_a_bad_query_parameter_is_refused_not_ignored(ops_api, query):
    response = ops_api.get(f"/api/orders/?{query}")
    assert response.status_code == 400, query
    assert response.json()["error"]["fields"]


def test_an_unknown_api_path_is_a_json_404_after_authentication(ops_api, anon_api):
    assert anon_api.get("/api/orders/0.5/").status_code == 401
    response = ops_api.get("/api/orders/0.5/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_a_bad_filter_value_is_a_400_naming_the_field(ops_api):
    response = ops_api.get("/api/orders/?status=nonsense&created_after=yesterday")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert set(error["fields"]) == {"status", "created"}


def test_a_bad_cursor_is_a_404_in_the_error_shape(ops_api):
    response = ops_api.get("/api/orders/?cursor=garbage")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_customer_shows_wallets_links_and_latest_balance_but_never_the_key(ops_api, mirror):
    customer = mirror["customers"][0]
    BalanceSnapshot.objects.create(customer=customer, exchange="polymarket", usdc_base_units=42_500_000)
    body = ops_api.get(f"/api/customers/{customer.pk}/").json()
    assert body["wallets"][0]["address"] == f"0x{0:040x}"
    assert body["exchange_links"] == [{"exchange": "polymarket", "mode": "managed", "linked_at": body["exchange_links"][0]["linked_at"]}]
    assert [(b["exchange"], b["usdc_base_units"], b["usdc"]) for b in body["latest_balances"]] == [("polymarket", 42_500_000, "42.500000")]
    assert "api_key" not in body and body["api_key_last4"] == "0000"


def test_balance_history_of_one_customer(ops_api, mirror):
    customer = mirror["customers"][1]
    BalanceSnapshot.objects.create(customer=customer, exchange="polymarket", usdc_base_units=7)
    rows = ops_api.get(f"/api/balances/?customer={customer.pk}").json()["results"]
    assert [r["usdc_base_units"] for r in rows] == [7, 2_000_000]


def test_unknown_object_is_a_404(ops_api):
    response = ops_api.get("/api/orders/999999/")
    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": response.json()["error"]["message"], "fields": {}}}


def test_prices_and_sizes_are_decimal_strings(ops_api, mirror):
    order = ops_api.get(f"/api/orders/{mirror['orders'][0].pk}/").json()
    assert order["price"] == "0.55000000" and order["size"] == "10.00000000" and order["remaining"] == "6.00000000"


@pytest.mark.parametrize("value", ["³", "٣", "0.5", "\u00b9\u00b2"])
def test_customer_and_market_references_that_look_numeric_but_are_not_are_just_no_match(ops_api, mirror, value):
    for url in ("/api/orders/", "/api/fills/"):
        response = ops_api.get(url, {"customer": value, "market": value})
        assert response.status_code == 200 and response.json()["results"] == []


def test_audit_events_read_with_filters_and_a_flat_query_count(compliance_api, mirror):
    from audit.services import record_action

    customer = mirror["customers"][0]
    for i in range(55):
        record_action(actor="api-token:feedbeef (bench)", action="order.place" if i % 2 else "order.cancel",
                      customer=customer if i < 5 else None, outcome="ok", request={"i": i})
    compliance_api.get("/api/whoami/")
    small, _ = _queries(compliance_api, "/api/audit-events/?page_size=5")
    large, large_body = _queries(compliance_api, "/api/audit-events/?page_size=50")
    assert small == large == 5
    assert [e["seq"] for e in large_body["results"]] == sorted((e["seq"] for e in large_body["results"]), reverse=True)
    assert len(compliance_api.get("/api/audit-events/?action=order.place&page_size=100").json()["results"]) == 27
    assert len(compliance_api.get("/api/audit-events/?action=order.*&page_size=100").json()["results"]) == 55
    assert len(compliance_api.get(f"/api/audit-events/?customer={customer.external_id}").json()["results"]) == 5
    assert len(compliance_api.get("/api/audit-events/?actor=api-token:feedbeef (bench)&page_size=100").json()["results"]) == 55
    one = large_body["results"][0]
    assert compliance_api.get(f"/api/audit-events/{one['seq']}/").json()["hash"] == one["hash"]


@pytest.mark.parametrize("when", ["2000-01-01T00:00:00+19:48", "0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-10:00",
                                  "1789-07-07T21:54:26.49Z"])
def test_any_iso_date_time_filters_on_every_database(ops_api, mirror, when):
    """Offsets past ±15:59 are legal ISO 8601 that PostgreSQL refuses; years at the edges overflow in UTC."""
    lists = {"/api/orders/": ("created_after", "updated_since"), "/api/sync-runs/": ("started_before",),
             "/api/balances/": ("taken_after",)}
    for url, names in lists.items():
        for name in names:
            response = ops_api.get(url, {name: when})
            assert response.status_code == 200, (url, name, when, response.content)
