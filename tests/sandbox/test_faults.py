"""Injected faults, each observed by the official SDK against the running sandbox."""

from __future__ import annotations

import random
import time
import uuid

import parsec_api
import pytest


@pytest.fixture(scope="module")
def client(sandbox):
    return sandbox.sdk()


@pytest.fixture(scope="module")
def market(client):
    body = client.markets.with_raw_response.list(exchanges=["polymarket"], limit=100).http_response.json()
    return next(m for m in body["markets"] if m["market_type"] == "binary" and m["exchange"] == "polymarket")


@pytest.fixture
def customer(client):
    body = client.builder.users.with_raw_response.create(external_id=f"fault-{uuid.uuid4().hex[:10]}", qps_limit=100).http_response.json()
    client.builder.onboard.create(customer_id=body["customer_id"], exchange="polymarket", mode="managed")
    return body["customer_id"]


def listed(sandbox, rule: dict) -> dict:
    """The rule as the control plane lists it now, found by its id."""
    return next(r for r in sandbox.control("GET", "faults").json()["faults"] if r["id"] == rule["id"])


def as_user(customer: str) -> dict:
    return {"extra_headers": {"X-Builder-Customer-Id": customer}}


def place(client, customer, market):
    return client.orders.create(exchange="polymarket", market_id=market["condition_id"], outcome="Yes", side="buy",
                                price=0.05, size=10, **as_user(customer))


def orders_of(client, customer) -> list:
    return list(client.orders.list(exchange="polymarket", status="all", **as_user(customer)))


def test_latency_delays_the_answer(sandbox, fault, client, customer):
    fault(kind="latency", endpoint="ping", customer_id=customer, latency_ms=400)
    started = time.monotonic()
    client.account.ping(**as_user(customer))
    assert time.monotonic() - started >= 0.4
    started = time.monotonic()
    client.builder.pool()  # out of scope: not delayed
    assert time.monotonic() - started < 0.4


def test_a_slow_request_does_not_hold_up_the_others(sandbox, fault, client, customer, market):
    """Requests take turns through the server (sandbox/serial.py); a request sleeping out an
    injected latency or timeout gives its turn back, so other customers are served meanwhile."""
    import threading

    fault(kind="latency", endpoint="ping", customer_id=customer, latency_ms=3000)
    fault(kind="timeout", endpoint="orders.create", customer_id=customer, count=1, latency_ms=3000)
    def dropped_placement():
        with pytest.raises(parsec_api.APIConnectionError):  # the connection closes, unanswered, after 3 s
            place(sandbox.sdk(max_retries=0, timeout=10), customer, market)

    slow = [threading.Thread(target=client.account.ping, kwargs=as_user(customer), daemon=True),
            threading.Thread(target=dropped_placement, daemon=True)]
    for thread in slow:
        thread.start()
    time.sleep(0.5)  # both are now inside their 3 s waits
    other = client.builder.users.create(external_id=f"other-{uuid.uuid4().hex[:8]}")
    client.builder.onboard.create(customer_id=other.customer_id, exchange="polymarket", mode="managed")
    placed = place(client, other.customer_id, market)
    assert placed.status == "open" and all(thread.is_alive() for thread in slow)  # served while both still wait
    for thread in slow:
        thread.join(10)


def test_503_share_and_count_then_service_is_back(sandbox, fault, client, customer, market):
    rule = fault(kind="error_503", endpoint="orders.create", customer_id=customer, count=2)
    for _ in range(2):
        with pytest.raises(parsec_api.InternalServerError) as excinfo:
            place(client, customer, market)
        assert excinfo.value.status_code == 503
        assert excinfo.value.body == {"error": "service temporarily unavailable (injected fault)", "code": "service_unavailable", "retryable": True}
    assert orders_of(client, customer) == []  # a 503 does nothing
    assert place(client, customer, market).status == "open"
    spent = listed(sandbox, rule)
    assert (spent["remaining"], spent["fired"]) == (0, 2)


def test_500_internal_error(sandbox, fault, client, customer):
    fault(kind="error_500", endpoint="positions", customer_id=customer, count=1)
    with pytest.raises(parsec_api.InternalServerError) as excinfo:
        client.positions.list(exchange="polymarket", **as_user(customer))
    assert excinfo.value.status_code == 500
    assert excinfo.value.body["code"] == "internal_error"


def test_429_burst_with_retry_after(sandbox, fault, client, customer):
    fault(kind="rate_limit", endpoint="ping", customer_id=customer, count=3, retry_after=2)
    for _ in range(3):
        with pytest.raises(parsec_api.RateLimitError) as excinfo:
            client.account.ping(**as_user(customer))
        assert excinfo.value.response.headers["Retry-After"] == "2"
        assert excinfo.value.body["retryable"] is True
    client.account.ping(**as_user(customer))


def test_sdk_retries_through_a_503_honouring_retry_after(sandbox, fault, customer):
    rule = fault(kind="error_503", endpoint="ping", customer_id=customer, count=1)
    retrying = sandbox.sdk(max_retries=2)
    assert retrying.account.ping(**as_user(customer))  # the first try got a 503, the retry succeeded
    assert listed(sandbox, rule)["fired"] == 1


def test_reset_closes_the_connection_and_does_nothing(sandbox, fault, client, customer, market):
    fault(kind="reset", endpoint="orders.create", customer_id=customer, count=1)
    with pytest.raises(parsec_api.APIConnectionError):
        place(client, customer, market)
    assert orders_of(client, customer) == []


def test_accept_then_drop_creates_the_order_but_the_client_sees_a_closed_connection(sandbox, fault, client, customer, market):
    fault(kind="drop", endpoint="orders.create", customer_id=customer, count=1)
    with pytest.raises(parsec_api.APIConnectionError) as excinfo:
        place(client, customer, market)
    assert not isinstance(excinfo.value, parsec_api.APITimeoutError)
    orders = orders_of(client, customer)
    assert len(orders) == 1 and orders[0].status == "open"  # the work was done and committed


def test_accept_then_timeout_creates_the_order_but_the_client_times_out(sandbox, fault, customer, market):
    fault(kind="timeout", endpoint="orders.create", customer_id=customer, count=1, latency_ms=1500)
    impatient = sandbox.sdk(timeout=0.5)
    with pytest.raises(parsec_api.APITimeoutError):
        place(impatient, customer, market)
    assert len(orders_of(impatient, customer)) == 1


def test_submission_failure_rejects_an_accepted_order(sandbox, fault, client, customer, market):
    fault(kind="submission_failure", endpoint="orders.create", customer_id=customer, count=1)
    placed = place(client, customer, market)
    assert client.orders.retrieve(placed.id, exchange="polymarket", **as_user(customer)).status == "rejected"
    balance = client.account.balance(exchange="polymarket", **as_user(customer))
    assert balance.raw["balance"] == str(1000 * 1_000_000)  # the reservation came back


def test_scope_by_exchange_and_prefix(sandbox, fault, client, customer, market):
    fault(kind="error_503", endpoint="orders.*", exchange="kalshi")
    assert place(client, customer, market).status == "open"  # polymarket is out of scope
    with pytest.raises(parsec_api.InternalServerError):
        client.orders.list(exchange="kalshi", **as_user(customer))


def test_seeded_probability_is_deterministic(sandbox, fault, client, customer):
    fault(kind="error_503", endpoint="ping", customer_id=customer, probability=0.5, seed=42)
    seen = []
    for _ in range(20):
        try:
            client.account.ping(**as_user(customer))
            seen.append(False)
        except parsec_api.InternalServerError:
            seen.append(True)
    rng = random.Random(42)
    assert seen == [rng.random() < 0.5 for _ in range(20)]
    assert 0 < sum(seen) < 20
