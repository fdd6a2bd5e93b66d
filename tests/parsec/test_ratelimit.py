"""The QPS budget is shared by processes: counted at the server, two workers stay within it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import connection

from parsec import errors
from parsec.ratelimit import DatabaseRateLimiter, RedisRateLimiter, set_customer_qps_source
from tests.parsec.sending import send_order
from tests.scripted_parsec import error, make_client

WORKER = Path(__file__).with_name("limiter_worker.py")
ROOT = Path(__file__).resolve().parents[2]


def _redis_url() -> str | None:
    url = os.environ.get("RATE_LIMIT_REDIS_URL") or "redis://127.0.0.1:6379/15"
    try:
        import redis

        redis.Redis.from_url(url, socket_connect_timeout=0.5).ping()
    except Exception:
        if os.environ.get("RATE_LIMIT_REDIS_URL"):
            raise  # configured but down: fail loudly
        return None
    return url


def _database_url(tmp_path) -> str:
    if connection.vendor == "postgresql":
        s = connection.settings_dict
        return f"postgres://{s['USER']}:{s['PASSWORD']}@{s['HOST'] or 'localhost'}:{s['PORT'] or 5432}/{s['NAME']}"
    return f"sqlite:///{tmp_path / 'limiter.sqlite3'}"


def _run_workers(server_url: str, env_extra: dict, *, processes: int, calls: int, customer_id: str | None) -> None:
    env = {**os.environ, "PARSEC_API_BASE_URL": server_url, "PARSEC_API_KEY": f"pk_test_{uuid.uuid4().hex}", "PARSEC_READ_RETRIES": "0", **env_extra}
    start_at = time.time() + 2.0  # after every worker has imported Django
    workers = [
        subprocess.Popen([sys.executable, str(WORKER), "run", str(calls), customer_id or "-", str(start_at)], env=env, cwd=ROOT)
        for _ in range(processes)
    ]
    for worker in workers:
        assert worker.wait(timeout=120) == 0


def _max_in_any_window(times: list[float], window: float = 1.0) -> int:
    times = sorted(times)
    best, j = 0, 0
    for i, t in enumerate(times):
        while times[j] <= t - window:
            j += 1
        best = max(best, i - j + 1)
    return best


def _assert_within(times: list[float], rate: float, burst: float) -> None:
    assert len(times) >= 2
    # Tolerance: the burst, plus a few calls: a token is taken in the worker, the timestamp is
    # taken at the server, and a loaded machine can delay one request and bunch it with the next.
    assert _max_in_any_window(times) <= rate + burst + 3
    span = max(times) - min(times)
    # The token-bucket law over the whole run: calls <= rate x time + bucket size (+1 tolerance).
    assert len(times) <= rate * span + burst + 3
    assert (len(times) - 1) / span >= rate * 0.25  # and it does not throttle far below the budget


BACKENDS = ["database", "redis"]


def _backend_env(backend: str, tmp_path) -> dict:
    if backend == "redis":
        url = _redis_url()
        if url is None:
            pytest.skip("no Redis on this machine (set RATE_LIMIT_REDIS_URL to test it)")
        return {"RATE_LIMIT_REDIS_URL": url, "DATABASE_URL": _database_url(tmp_path)}
    return {"RATE_LIMIT_REDIS_URL": "", "DATABASE_URL": _database_url(tmp_path)}


@pytest.mark.parametrize("backend", BACKENDS)
def test_two_processes_share_the_pool_budget(transactional_db, parsec_server, tmp_path, backend):
    parsec_server.script("GET", "/exchanges", [])
    env = {**_backend_env(backend, tmp_path), "PARSEC_POOL_QPS": "20", "PARSEC_POOL_HEADROOM": "1.0", "PARSEC_RATE_BURST_SECONDS": "0.2"}
    _run_workers(parsec_server.url, env, processes=2, calls=15, customer_id=None)
    times = [r.at for r in parsec_server.seen("GET", "/api/v1/exchanges")]
    assert len(times) == 30
    _assert_within(times, rate=20, burst=4)


@pytest.mark.parametrize("backend", BACKENDS)
def test_two_processes_share_one_customers_budget(transactional_db, parsec_server, tmp_path, backend):
    parsec_server.script("GET", "/fills", [])
    env = {**_backend_env(backend, tmp_path), "PARSEC_POOL_QPS": "500", "PARSEC_POOL_HEADROOM": "1.0", "PARSEC_DEFAULT_CUSTOMER_QPS": "8", "PARSEC_RATE_BURST_SECONDS": "0.25"}
    _run_workers(parsec_server.url, env, processes=2, calls=6, customer_id="cust-shared")
    times = [r.at for r in parsec_server.seen("GET", "/api/v1/fills")]
    assert len(times) == 12
    assert all(r.headers["X-Builder-Customer-Id"] == "cust-shared" for r in parsec_server.seen("GET", "/api/v1/fills"))
    _assert_within(times, rate=8, burst=2)


def _limiters(backend: str, tmp_path):
    common = {"namespace": f"test:{uuid.uuid4().hex}", "pool_qps": 1000, "headroom": 1.0, "burst_seconds": 1.0}
    if backend == "redis":
        url = _redis_url()
        if url is None:
            pytest.skip("no Redis on this machine")
        return RedisRateLimiter(url=url, **common), RedisRateLimiter(url=url, **common)
    return DatabaseRateLimiter(**common), DatabaseRateLimiter(**common)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_429_makes_every_client_wait_its_retry_after(db, parsec_server, tmp_path, backend):
    first_limiter, second_limiter = _limiters(backend, tmp_path)
    first = make_client(parsec_server.url, limiter=first_limiter)
    second = make_client(parsec_server.url, limiter=second_limiter)
    parsec_server.script("POST", "/orders", error(429, "rate_limit_exceeded", "rate limit exceeded", **{"Retry-After": "1"}))
    parsec_server.script("GET", "/exchanges", [])
    with pytest.raises(errors.RateLimited):
        send_order(first, customer_id="c", exchange="kalshi", market_id="K", outcome="Yes", side="buy", price=Decimal("0.5"), size=Decimal(1))
    second.list_exchanges()  # another client, sharing only the limiter's state
    refused, = parsec_server.seen("POST")
    later, = parsec_server.seen("GET")
    assert later.at - refused.at >= 0.9


def test_customer_limits_come_from_the_registered_source(db, parsec_server):
    limiter = DatabaseRateLimiter(namespace=f"test:{uuid.uuid4().hex}", pool_qps=1000, headroom=1.0, burst_seconds=1.0)
    set_customer_qps_source(lambda customer_id: {"slow": 2}.get(customer_id))
    try:
        assert limiter.customer_rate("slow") == 2
        assert limiter.customer_rate("other") == 10  # PARSEC_DEFAULT_CUSTOMER_QPS
        waits = [limiter.acquire("slow") for _ in range(4)]
    finally:
        set_customer_qps_source(None)
    assert waits[0] == 0 and waits[1] == 0  # the burst (2 tokens)
    assert waits[2] > 0.3 and waits[3] > 0.3  # then one call every 0.5 s


def test_the_database_limiter_debits_its_buckets_without_relaxing_the_product_writes(transactional_db):
    """Its take commits without waiting for the WAL flush (PostgreSQL): a statement-local setting,
    so the writes after it on the same connection stay durable."""
    from parsec.models import RateBucket

    limiter = DatabaseRateLimiter(namespace=f"test:{uuid.uuid4().hex}", pool_qps=1, headroom=1.0, burst_seconds=10.0)
    assert (limiter.acquire("cust-durable"), limiter.acquire("cust-durable")) == (0, 0)
    tokens = dict(RateBucket.objects.filter(key__startswith=limiter.namespace).values_list("key", "tokens"))
    assert sorted(tokens) == sorted([limiter.customer_key("cust-durable"), limiter.pool_key()])
    assert tokens[limiter.pool_key()] == pytest.approx(10 - 2, abs=0.5)  # two calls debited (1 token/s refills the rest)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            assert cursor.fetchone() == ("on",)
