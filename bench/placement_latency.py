"""The operator's placement path against a raw SDK call, to the same sandbox, in the same run.

Our path: ``orders.services.submit_intent`` for an intent already written (the operator's *Send*:
the last-minute rules, the rate limiter's token, the claim, ``POST /orders`` through the
gateway, the outcome, the mirror's upsert, the audit row), timed from the service entry to the
intent being ``placed``. The baseline: Parsec's official SDK (``parsec_api``) calling
``orders.create`` for the same kind of order, nothing else. The two alternate (A B, B A, ...) so
load on the machine falls on both alike. Printed: p50 and p99 of each, and their ratios.
Target: our path at most 1.5 times the raw call at p50.

A scratch PostgreSQL database (or SQLite with --sqlite, or when PostgreSQL is not up) and, when
Redis answers, the Redis rate limiter: the production shape.

    .venv/bin/python bench/placement_latency.py [--count 300] [--warmup 20] [--customers 5] [--sqlite]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.placement_common import binary_polymarket_market, trading_customers  # noqa: E402

BENCH_DB = "bench_placement_latency"


def up(command: list[str], expect: str = "") -> bool:
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and expect in out.stdout


def psql(sql: str) -> None:
    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-q", "-c", sql], check=True)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def configure(args, tmp: Path):
    from tests.sandbox_client import start_sandbox

    sandbox = start_sandbox(tmp, seed=11)
    use_pg = not args.sqlite and up(["pg_isready", "-h", "127.0.0.1", "-p", "5432"])
    if use_pg:
        psql(f"DROP DATABASE IF EXISTS {BENCH_DB}")
        psql(f"CREATE DATABASE {BENCH_DB}")
        database_url = f"postgres://postgres@127.0.0.1:5432/{BENCH_DB}"
    else:
        database_url = f"sqlite:///{tmp / 'backoffice.sqlite3'}"
    redis = "redis://127.0.0.1:6379/12"
    limiter = redis if up(["redis-cli", "-u", redis, "ping"], "PONG") else ""
    os.environ.update({
        "DATABASE_URL": database_url, "BACKOFFICE_VAR_DIR": str(tmp / "var"), "CELERY_BROKER_URL": "memory://",
        "RATE_LIMIT_REDIS_URL": limiter, "PARSEC_API_BASE_URL": sandbox.base_url, "PARSEC_API_KEY": sandbox.builder_key,
        "PARSEC_SANDBOX_ADMIN_KEY": sandbox.admin_key, "PARSEC_POOL_QPS": "100000", "PARSEC_DEFAULT_CUSTOMER_QPS": "100000",
        "ORDER_FOUR_EYES_NOTIONAL_USDC": "1000000", "DJANGO_SETTINGS_MODULE": "backoffice.settings",
    })
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, check=True, env=os.environ)
    import django

    django.setup()
    sandbox.control("POST", "limits", json={"enabled": False})
    print(f"back-office DB: {'PostgreSQL' if use_pg else 'SQLite'}; rate limiter: {'Redis' if limiter else 'database'}; "
          f"sandbox {sandbox.base_url}")
    return sandbox


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=300, help="timed placements of each kind")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--customers", type=int, default=5)
    parser.add_argument("--sqlite", action="store_true")
    parser.add_argument("--profile", action="store_true", help="profile our path (cProfile) and print where its time goes")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-placement-latency-"))
    sandbox = configure(args, tmp)
    try:
        from django.contrib.auth import get_user_model

        from orders import services
        from orders.models import OrderIntent

        operator, _ = get_user_model().objects.get_or_create(username="bench-operator", defaults={"is_staff": True})
        people = trading_customers(sandbox, prefix=f"latency-{int(time.time())}", count=args.customers, usdc="100000")
        where = binary_polymarket_market()
        size = Decimal(int(where.min_order_size or 1))
        sdk = sandbox.sdk()
        profiler = None
        if args.profile:
            import cProfile

            profiler = cProfile.Profile()
        ours: list[float] = []
        raw: list[float] = []

        def our_placement(i: int) -> float:
            customer = people[i % len(people)]
            intent = services.create_intent(actor=operator, request=services.OrderRequest(
                customer=customer, exchange="polymarket", market=where, outcome="Yes", side="buy",
                price=Decimal("0.01") * (1 + i % 5), size=size, reason="latency bench"))
            started = time.perf_counter()
            if profiler is not None:
                profiler.enable()
            result = services.submit_intent(intent=intent, actor=operator)
            if profiler is not None:
                profiler.disable()
            elapsed = time.perf_counter() - started
            if result.intent.status != OrderIntent.Status.PLACED:
                raise SystemExit(f"not placed: {result.message}")
            return elapsed

        def raw_placement(i: int) -> float:
            customer = people[i % len(people)]
            started = time.perf_counter()
            sdk.orders.create(exchange="polymarket", market_id=where.order_market_id, outcome="Yes", side="buy",
                              price=float(Decimal("0.01") * (1 + i % 5)), size=float(size),
                              extra_headers={"X-Builder-Customer-Id": str(customer.parsec_customer_id)})
            return time.perf_counter() - started

        for i in range(args.warmup + args.count):
            pair = (our_placement, raw_placement) if i % 2 == 0 else (raw_placement, our_placement)
            for run in pair:
                elapsed = run(i)
                if i >= args.warmup:
                    (ours if run is our_placement else raw).append(elapsed)
    finally:
        from tests.sandbox_client import stop_sandbox

        stop_sandbox(sandbox)
    if profiler is not None:
        import pstats

        pstats.Stats(profiler).sort_stats("cumulative").print_stats(45)
    p50_ours, p50_raw = statistics.median(ours), statistics.median(raw)
    p99_ours, p99_raw = percentile(ours, 0.99), percentile(raw, 0.99)
    print(f"\n{args.count} placements of each, alternating ({args.warmup} warm-up each not counted)")
    print(f"  our path (submit_intent → placed): p50 {p50_ours * 1000:.1f} ms, p99 {p99_ours * 1000:.1f} ms")
    print(f"  raw SDK orders.create:              p50 {p50_raw * 1000:.1f} ms, p99 {p99_raw * 1000:.1f} ms")
    ratio = p50_ours / p50_raw
    print(f"  ratio: p50 {ratio:.2f}×, p99 {p99_ours / p99_raw:.2f}×   (target ≤ 1.5× at p50: {'met' if ratio <= 1.5 else 'NOT met'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
