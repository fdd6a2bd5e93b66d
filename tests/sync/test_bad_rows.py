"""A row Parsec sends that the mirror's constraints refuse (a position of size -5, an order filled
beyond its size, a user with qps_limit 0) is an error of the run, with its id and Parsec's payload;
the rest is written, and the next run says the same. Parsec here is a scripted HTTP server."""

from __future__ import annotations

import uuid

import pytest

from customers.models import BalanceSnapshot, Customer
from orders.models import Order, Position
from sync.models import SyncRun
from sync.report import start_run
from sync.steps import sync_customer, sync_users
from tests import factories as f
from tests.scripted_parsec import make_client

pytestmark = pytest.mark.django_db

AT = "2026-03-01T12:00:00Z"


def order(order_id: str, filled: int) -> dict:
    return {"id": order_id, "market_id": "KX-1", "outcome": "Yes", "side": "buy", "price": 0.41, "size": 10, "filled": filled,
            "status": "partially_filled", "created_at": AT, "updated_at": AT}


def position(market: str, size: int) -> dict:
    return {"market_id": market, "outcome": "Yes", "size": size, "average_price": 0.4, "current_price": 0.45}


def user(external_id: str, qps_limit: int) -> dict:
    return {"customer_id": str(uuid.uuid4()), "external_id": external_id, "api_key": "pk_live_enduser_SECRET_0001", "tier": "free",
            "qps_limit": qps_limit, "created_at": AT, "linked_exchanges": ["kalshi"], "fee_escrow_enabled": False}


def test_a_customer_run_records_each_bad_row_with_its_id_and_payload_and_writes_the_rest(parsec_server):
    customer = f.customer(external_id="sends-bad-rows")
    f.ExchangeLinkFactory(customer=customer, exchange="kalshi")
    parsec_server.script("GET", "/orders", [order("o-ok", 4), order("o-bad", 11)])
    parsec_server.script("GET", "/fills", [])
    parsec_server.script("GET", "/positions", [position("KX-1", 4), position("KX-2", -5)])
    parsec_server.script("GET", "/balance", {"raw": {"balance": 1000}})
    client = make_client(parsec_server.url)
    expected = [
        ("orders.Order", "bad_row", "kalshi/o-bad", order("o-bad", 11)),
        ("orders.Position", "bad_row", f"{customer.pk}/kalshi/KX-2/Yes", position("KX-2", -5)),
    ]

    first = sync_customer(run=start_run(kind=SyncRun.Kind.CUSTOMER_FULL, customer=customer), client=client)
    assert first.status == SyncRun.Status.PARTIAL
    assert [(e["step"], e["code"], e["id"], e["payload"]) for e in first.errors] == expected
    assert "order_filled_within_size" in first.errors[0]["error"] and "position_size_not_negative" in first.errors[1]["error"]
    assert list(Order.objects.values_list("parsec_order_id", flat=True)) == ["o-ok"]
    assert list(Position.objects.values_list("market_native_id", "size")) == [("KX-1", 4)]
    assert list(BalanceSnapshot.objects.values_list("usdc_base_units", flat=True)) == [10_000_000]

    second = sync_customer(run=start_run(kind=SyncRun.Kind.CUSTOMER_FULL, customer=customer), client=client)
    assert second.status == SyncRun.Status.PARTIAL and (second.rows_created, second.rows_updated) == (0, 0)
    assert [(e["step"], e["code"], e["id"], e["payload"]) for e in second.errors] == expected


def test_a_users_page_with_a_qps_limit_0_user_mirrors_the_others_and_names_the_refused_one(parsec_server):
    good, zero = user("u-good", 10), user("u-zero", 0)
    parsec_server.script("GET", "/builder/users", {"users": [good, zero], "count": 2, "next_cursor": None})
    run = sync_users(run=start_run(kind=SyncRun.Kind.USERS), client=make_client(parsec_server.url))
    assert run.status == SyncRun.Status.PARTIAL
    payload = {k: v for k, v in zero.items() if k != "api_key"}
    assert [(e["step"], e["code"], e["id"], e["payload"]) for e in run.errors] == [("customers.Customer", "bad_row", zero["customer_id"], payload)]
    assert list(Customer.objects.values_list("external_id", "status", "exchange_links__exchange")) == [("u-good", "active", "kalshi")]
