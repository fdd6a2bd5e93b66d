"""Integers too big for the sandbox's columns, and numbers that are not numbers, get a 400 in
Parsec's error shape, never a 500, and change nothing.

The spec gives ``qps_limit`` (and ``chain_id``) as plain ``integer`` with no bound; the docs say
``qps_limit`` must be at least 1. The sandbox stores both in 32-bit columns (PostgreSQL
``integer``), so it accepts 1..2,147,483,647: outside that a write used to fail in the database.
"""

from __future__ import annotations

import uuid

import parsec_api
import pytest
import requests

from tests.sandbox.schema import assert_valid

INT32_MAX = 2**31 - 1
TOO_BIG = [2**31, 2**63, 10**30]


@pytest.fixture(scope="module")
def client(sandbox):
    return sandbox.sdk()


@pytest.fixture
def user(client) -> dict:
    return client.builder.users.with_raw_response.create(external_id=f"bounds-{uuid.uuid4().hex[:10]}", qps_limit=7).http_response.json()


def refused(call) -> dict:
    """The error body of an SDK call that must answer 400."""
    with pytest.raises(parsec_api.BadRequestError) as excinfo:
        call()
    assert excinfo.value.status_code == 400
    assert_valid(excinfo.value.body, "ErrorResponse")
    assert excinfo.value.body["code"] == "bad_request"
    return excinfo.value.body


@pytest.mark.parametrize("value", [*TOO_BIG, 0, -1, -(2**31) - 1, True, "5", 2.5])
def test_qps_limit_out_of_range_on_update_is_400_and_changes_nothing(client, user, value):
    body = refused(lambda: client.builder.users.update(user["customer_id"], extra_body={"qps_limit": value}))
    assert "qps_limit" in body["error"]
    assert client.builder.users.retrieve(user["customer_id"]).qps_limit == 7


def test_qps_limit_at_the_bounds_is_accepted(client, user):
    assert client.builder.users.update(user["customer_id"], qps_limit=INT32_MAX).qps_limit == INT32_MAX
    assert client.builder.users.update(user["customer_id"], qps_limit=1).qps_limit == 1


@pytest.mark.parametrize("value", [*TOO_BIG, 0, -5])
def test_qps_limit_out_of_range_on_create_is_400_and_creates_nobody(client, value):
    external_id = f"bounds-new-{uuid.uuid4().hex[:10]}"
    refused(lambda: client.builder.users.create(external_id=external_id, extra_body={"qps_limit": value}))
    listed = client.builder.users.list(limit=100)
    assert external_id not in [u.external_id for u in listed.users]


@pytest.mark.parametrize("value", [*TOO_BIG, 0, -1])
def test_chain_id_out_of_range_on_onboard_is_400_and_links_nothing(client, user, value):
    refused(lambda: client.builder.onboard.create(customer_id=user["customer_id"], exchange="polymarket", mode="managed",
                                                  extra_body={"chain_id": value}))
    assert client.builder.users.retrieve(user["customer_id"]).linked_exchanges == []


def control(sandbox, method: str, path: str, **kwargs) -> requests.Response:
    return requests.request(method, f"{sandbox.base_url}/_sandbox/{path}", headers={"X-Sandbox-Admin-Key": sandbox.admin_key},
                            timeout=30, **kwargs)


def assert_400(response: requests.Response) -> None:
    assert response.status_code == 400, response.text
    assert_valid(response.json(), "ErrorResponse")


@pytest.mark.parametrize("body", [{"qps_pool": 2**31}, {"qps_pool": 10**30}])
def test_pool_out_of_range_is_400(sandbox, client, body):
    assert_400(control(sandbox, "POST", f"builders/{sandbox.builder_key}/pool", json=body))
    assert client.builder.pool().qps_pool == 500


@pytest.mark.parametrize("body", [
    {"kind": "error_503", "endpoint": "nothing-real", "count": 2**31},
    {"kind": "error_503", "endpoint": "nothing-real", "retry_after": 2**31},
    {"kind": "error_503", "endpoint": "nothing-real", "seed": 2**63},
    {"kind": "error_503", "endpoint": "nothing-real", "seed": -(2**63) - 1},
])
def test_fault_integers_out_of_range_are_400_and_add_no_rule(sandbox, body):
    before = control(sandbox, "GET", "faults").json()
    assert_400(control(sandbox, "POST", "faults", json=body))
    assert control(sandbox, "GET", "faults").json() == before


def test_a_builder_id_too_big_for_the_database_is_404(sandbox):
    response = control(sandbox, "POST", f"builders/{10**30}/pool", json={"qps_pool": 5})
    assert response.status_code == 404
    assert_valid(response.json(), "ErrorResponse")


@pytest.mark.parametrize("body", [{"fee_amount": "²"}, {"fee_amount": "9" * 5000}, {"fee_amount": str(2**256)},
                                  {"fee_amount": "100000", "deadline": 2**63}])
def test_sign_fee_auth_rejects_numbers_outside_their_range(sandbox, client, body):
    alice = next(u for u in client.builder.users.list(limit=100).users if u.external_id == "demo-alice")
    assert_400(control(sandbox, "POST", f"wallets/{alice.wallet.eoa_address}/sign-fee-auth", json=body))


@pytest.mark.parametrize("params", [
    {"outcome": "9" * 5000}, {"outcome": "²"},
])
def test_orderbook_outcome_that_is_no_index_is_400(sandbox, client, params):
    market = client.markets.list(exchanges=["polymarket"], limit=1).markets[0]
    response = requests.get(f"{sandbox.base_url}/api/v1/orderbook", params={"parsec_id": market.parsec_id, **params},
                            headers={"X-API-Key": sandbox.builder_key}, timeout=30)
    assert_400(response)


@pytest.mark.parametrize(("path", "params"), [
    ("markets", {"exchanges": "polymarket", "cursor": "9" * 30}),
    ("markets", {"exchanges": "polymarket", "cursor": "²"}),
    ("markets", {"exchanges": "polymarket", "min_volume": "NaN"}),
    ("events", {"min_volume": "sNaN"}),
    ("events", {"cursor": "9" * 5000}),
    ("trades", {"cursor": "9" * 30}),
    ("execution-price", {"side": "buy", "amount": "NaN"}),
])
def test_query_numbers_out_of_range_are_400(sandbox, client, path, params):
    market = client.markets.list(exchanges=["polymarket"], limit=1).markets[0]
    if path in ("trades", "execution-price"):
        params = {"parsec_id": market.parsec_id, **params}
    response = requests.get(f"{sandbox.base_url}/api/v1/{path}", params=params, headers={"X-API-Key": sandbox.builder_key}, timeout=30)
    assert_400(response)
