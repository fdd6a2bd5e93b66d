"""Rate limits of the running sandbox, seen by the official SDK: per-key tiers, per end-user
``qps_limit``, the builder's QPS pool, 429 with Retry-After and the x-ratelimit-* headers.

The test sandbox starts with limits off; these tests switch them on through the control plane.
"""

from __future__ import annotations

import uuid

import parsec_api
import pytest

from tests.sandbox.schema import assert_valid


@pytest.fixture
def limits_on(sandbox):
    sandbox.control("POST", "limits", json={"enabled": True})
    yield
    sandbox.control("POST", "limits", json={"enabled": False})
    sandbox.control("POST", f"builders/{sandbox.builder_key}/pool", json={"qps_pool": 500})


def new_user(client, qps_limit: int) -> dict:
    response = client.builder.users.with_raw_response.create(external_id=f"rl-{uuid.uuid4().hex[:10]}", qps_limit=qps_limit)
    return response.http_response.json()


def burst(call, n: int) -> tuple[list, list[parsec_api.RateLimitError]]:
    ok, refused = [], []
    for _ in range(n):
        try:
            ok.append(call())
        except parsec_api.RateLimitError as error:
            refused.append(error)
    return ok, refused


def check_429(error: parsec_api.RateLimitError, *, limit_qps: int, tier: str) -> None:
    assert error.status_code == 429
    assert_valid(error.body, "ErrorResponse")
    assert error.body["code"] == "rate_limit_exceeded"
    assert error.body["retryable"] is True
    assert (error.body["tier"], error.body["limit_qps"]) == (tier, limit_qps)
    assert int(error.response.headers["Retry-After"]) >= 1


def test_end_user_qps_limit_gives_429_with_retry_after_and_user_and_pool_headers(sandbox, limits_on):
    client = sandbox.sdk()
    user = new_user(client, qps_limit=3)
    as_user = {"extra_headers": {"X-Builder-Customer-Id": user["customer_id"]}}
    ok, refused = burst(lambda: client.account.with_raw_response.ping(**as_user), 12)
    assert 3 <= len(ok) <= 5  # a burst of 3, plus what refills during the loop
    assert refused
    check_429(refused[0], limit_qps=3, tier="free")
    headers = ok[0].http_response.headers
    assert headers["x-ratelimit-user-limit"] == "3"
    assert headers["x-ratelimit-pool-limit"] == "500"
    assert int(headers["x-ratelimit-user-remaining"]) == 2
    assert int(headers["x-ratelimit-pool-remaining"]) >= 400
    assert headers["x-ratelimit-monthly-limit"] == "0"  # the builder key's tier (scale) is unlimited
    assert int(headers["x-ratelimit-monthly-reset"]) > 0


def test_builder_pool_exhaustion_limits_all_end_users_together(sandbox, limits_on):
    client = sandbox.sdk()
    first, second = new_user(client, qps_limit=100), new_user(client, qps_limit=100)
    sandbox.control("POST", f"builders/{sandbox.builder_key}/pool", json={"qps_pool": 4})
    pool = client.builder.pool()
    assert pool.qps_pool == 4

    calls = []
    for i in range(12):
        who = (first, second)[i % 2]["customer_id"]
        calls.append(lambda who=who: client.account.with_raw_response.ping(extra_headers={"X-Builder-Customer-Id": who}))
    ok, refused = [], []
    for call in calls:
        try:
            ok.append(call())
        except parsec_api.RateLimitError as error:
            refused.append(error)
    assert 4 <= len(ok) <= 6
    check_429(refused[0], limit_qps=4, tier="iron")
    assert "pool" in refused[0].body["error"]
    assert ok[0].http_response.headers["x-ratelimit-pool-limit"] == "4"


def test_own_key_is_limited_by_its_tier_and_counts_monthly_requests(sandbox, limits_on):
    builder_client = sandbox.sdk()
    user = new_user(builder_client, qps_limit=10)
    own = parsec_api.ParsecAPI(api_key=user["api_key"], base_url=sandbox.base_url, max_retries=0)
    first = own.account.with_raw_response.usage()
    used_before = first.http_response.json()["usage"]["monthly_requests"]
    ok, refused = burst(lambda: own.account.with_raw_response.ping(), 20)
    assert refused
    check_429(refused[0], limit_qps=10, tier="free")
    headers = ok[-1].http_response.headers
    assert headers["x-ratelimit-monthly-limit"] == "50000"
    assert headers["x-parsec-tier"] == "free"
    remaining = [int(r.http_response.headers["x-ratelimit-monthly-remaining"]) for r in ok]
    assert remaining == sorted(remaining, reverse=True) and len(set(remaining)) == len(remaining)
    assert "x-ratelimit-user-limit" not in headers  # only impersonated calls carry user/pool headers
    sandbox.control("POST", "limits", json={"enabled": False})
    usage = own.account.usage()
    # Every request counts, refused ones included: usage, 20 pings, this usage.
    assert usage.usage.monthly_requests == used_before + 1 + 20


def test_limits_off_lets_a_burst_through(sandbox):
    client = sandbox.sdk()
    user = new_user(client, qps_limit=1)
    ok, refused = burst(lambda: client.account.ping(extra_headers={"X-Builder-Customer-Id": user["customer_id"]}), 10)
    assert (len(ok), refused) == (10, [])
