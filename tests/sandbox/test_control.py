"""The /_sandbox/ control plane: admin key, clock, market moves, credit, pool, limits, fault rules,
and clear 400/404s for bad input (market lifecycle actions: tests/sandbox/test_market_lifecycle.py)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

import pytest
import requests

from tests.sandbox.schema import assert_valid


def call(sandbox, method, path, *, key: str | None = "default", **kwargs) -> requests.Response:
    headers = {} if key is None else {"X-Sandbox-Admin-Key": sandbox.admin_key if key == "default" else key}
    return requests.request(method, f"{sandbox.base_url}/_sandbox/{path}", headers=headers, timeout=30, **kwargs)


@pytest.fixture(scope="module")
def client(sandbox):
    return sandbox.sdk()


def new_user(client) -> str:
    body = client.builder.users.with_raw_response.create(external_id=f"ctl-{uuid.uuid4().hex[:10]}", qps_limit=50).http_response.json()
    client.builder.onboard.create(customer_id=body["customer_id"], exchange="polymarket", mode="managed")
    return body["customer_id"]


def poly_market(client, index: int, kind: str = "binary") -> dict:
    body = client.markets.with_raw_response.list(exchanges=["polymarket"], limit=100).http_response.json()
    return [m for m in body["markets"] if m["exchange"] == "polymarket" and m["market_type"] == kind][index]


@pytest.mark.parametrize("path", ["clock", "faults", "limits", "chain"])
def test_every_endpoint_needs_the_admin_key(sandbox, path):
    for key in (None, "wrong-key"):
        response = call(sandbox, "GET", path, key=key)
        assert response.status_code == 401
        assert response.json() == {"error": "missing or invalid X-Sandbox-Admin-Key header", "code": "unauthorized", "retryable": False}
    assert call(sandbox, "GET", path).status_code == 200


def test_clock_advances_and_never_goes_back(own_sandbox):
    before = call(own_sandbox, "GET", "clock").json()
    after = call(own_sandbox, "POST", "clock/advance", json={"seconds": 90}).json()
    assert after["offset_seconds"] == before["offset_seconds"] + 90
    assert after["unix"] >= before["unix"] + 90
    # When the makers requote next, on the moved clock: at the next multiple of their step.
    assert after["maker_step_seconds"] == 60
    assert after["next_requote_in_seconds"] == pytest.approx(60 - datetime.fromisoformat(after["now"]).timestamp() % 60, abs=0.002)
    for body in ({"seconds": -1}, {}, {"seconds": "soon"}, {"seconds": True}):
        response = call(own_sandbox, "POST", "clock/advance", json=body)
        assert response.status_code == 400, body
        assert response.json()["code"] in ("bad_request", "missing_parameter")
    assert call(own_sandbox, "POST", "clock/advance", data="{not json").status_code == 400
    assert call(own_sandbox, "GET", "clock").json()["offset_seconds"] == after["offset_seconds"]


def test_move_market_fills_a_resting_order_as_a_maker_fill(sandbox, client):
    customer = new_user(client)
    market = poly_market(client, 6)
    as_user = {"extra_headers": {"X-Builder-Customer-Id": customer}}
    order = client.orders.create(exchange="polymarket", market_id=market["condition_id"], outcome="Yes", side="buy",
                                 price=0.10, size=20, **as_user)
    assert order.status == "open"
    moved = call(sandbox, "POST", f"markets/{market['parsec_id']}/move", json={"outcome": "Yes", "price": "0.08"})
    assert moved.status_code == 200, moved.text
    assert Decimal(moved.json()["mids"]["Yes"]) == Decimal("0.08")
    fetched = client.orders.retrieve(order.id, exchange="polymarket", **as_user)
    assert fetched.status == "filled"
    fills = client.fills.with_raw_response.list(exchange="polymarket", **as_user).http_response.json()
    assert_valid(fills, "Fill", array=True)
    assert [(f["order_id"], f["size"]) for f in fills] == [(order.id, 20.0)]
    assert call(sandbox, "POST", "markets/polymarket:nope/move", json={"price": 0.5}).status_code == 404
    assert call(sandbox, "POST", f"markets/{market['parsec_id']}/move", json={"price": 1.5}).status_code == 400
    assert call(sandbox, "POST", f"markets/{market['parsec_id']}/move", json={"price": 0.5, "outcome": "Maybe"}).status_code == 400


def test_credit_adds_usdc_exactly(sandbox, client):
    customer = new_user(client)
    as_user = {"extra_headers": {"X-Builder-Customer-Id": customer}}
    before = int(client.account.balance(exchange="polymarket", **as_user).raw["balance"])
    credited = call(sandbox, "POST", "credit", json={"customer_id": customer, "exchange": "polymarket", "amount_usdc": "12.345678"})
    assert credited.status_code == 200
    assert credited.json()["credited"] == "12345678"
    assert int(client.account.balance(exchange="polymarket", **as_user).raw["balance"]) == before + 12_345_678
    for body in ({"customer_id": customer, "exchange": "polymarket", "amount_usdc": "0.0000001"},
                 {"customer_id": customer, "exchange": "polymarket", "amount_usdc": -5},
                 {"customer_id": customer, "exchange": "opinion", "amount_usdc": 5},
                 {"customer_id": customer, "exchange": "polymarket"}):
        assert call(sandbox, "POST", "credit", json=body).status_code == 400, body
    assert call(sandbox, "POST", "credit", json={"customer_id": str(uuid.uuid4()), "exchange": "kalshi", "amount_usdc": 1}).status_code == 404


def test_pool_limits_and_escrow_config_are_settable(sandbox, client):
    assert call(sandbox, "POST", f"builders/{sandbox.builder_key}/pool", json={"qps_pool": 100}).json()["qps_pool"] == 100
    try:
        assert client.builder.pool().qps_pool == 100
        assert call(sandbox, "POST", f"builders/{sandbox.builder_key}/pool", json={"qps_pool": 0}).status_code == 400
        assert call(sandbox, "POST", "builders/pk_nobody/pool", json={"qps_pool": 5}).status_code == 404
    finally:
        call(sandbox, "POST", f"builders/{sandbox.builder_key}/pool", json={"qps_pool": 500})
    assert call(sandbox, "GET", "limits").json() == {"enabled": False}
    assert call(sandbox, "POST", "limits", json={"enabled": "yes"}).status_code == 400
    assert call(sandbox, "POST", f"builders/{sandbox.builder_key}/escrow", json={"affiliate_fee_bps": 20_000}).status_code == 400


def test_fault_rules_are_listed_validated_and_deleted(sandbox):
    created = call(sandbox, "POST", "faults", json={"kind": "latency", "latency_ms": 5, "endpoint": "ping", "probability": 0.25, "seed": 3})
    assert created.status_code == 201
    rule = created.json()
    assert (rule["kind"], rule["probability"], rule["remaining"], rule["seed"]) == ("latency", "0.25", None, 3)
    assert [r for r in call(sandbox, "GET", "faults").json()["faults"] if r["id"] == rule["id"]] == [rule]
    for body, status in (({"kind": "meteor"}, 400), ({"kind": "latency"}, 400), ({"kind": "error_503", "probability": 2}, 400),
                         ({"kind": "error_503", "count": 0}, 400), ({"kind": "error_503", "customer_id": str(uuid.uuid4())}, 404)):
        refused = call(sandbox, "POST", "faults", json=body)
        assert refused.status_code == status, body
        assert_valid(refused.json(), "ErrorResponse")
    assert call(sandbox, "DELETE", f"faults/{rule['id']}").status_code == 204
    assert call(sandbox, "DELETE", f"faults/{rule['id']}").status_code == 404
    assert rule["id"] not in [r["id"] for r in call(sandbox, "GET", "faults").json()["faults"]]


def test_reset_clears_faults_and_restores_the_limit_switch(sandbox):
    call(sandbox, "POST", "faults", json={"kind": "error_503", "endpoint": "nothing-real"})
    call(sandbox, "POST", "limits", json={"enabled": True})
    body = call(sandbox, "POST", "reset").json()
    assert body == {"faults_deleted": 1, "rate_limits_enabled": False}  # the process's default (env)
    assert call(sandbox, "GET", "faults").json() == {"faults": []}
