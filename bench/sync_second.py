"""A second sync with nothing changed: rows written (target 0) and time against the first
(target ≥ 3x faster). Real sandbox process (quotes held still), scratch PostgreSQL database.

    .venv/bin/python bench/sync_second.py [--customers 10] [--history 300]

Each customer gets a trading history on both exchanges first, placed through the official
SDK: ``--history`` orders per exchange, most of them immediate-or-cancel orders that end
cancelled, one in five filled (a fill), plus one order left resting (a live order). The
history is older than the sync's order-window overlap (``SYNC_ORDER_OVERLAP_SECONDS``, set
to ``--overlap`` seconds here; the bench waits that long before the first sync), as it is in
production where history is days old and the overlap is minutes: so the first sync reads and
writes the whole window, the second lists only the overlap, re-reads fills, positions and
balances (Parsec has no "since" for those) and finds nothing to write.

The shape is production's: a scratch PostgreSQL database and the rate limiter in Redis
(``--limiter-redis``, default redis://127.0.0.1:6379/11; ``--limiter-redis ''`` for the
database limiter of the embedded default).
"""

from __future__ import annotations

import argparse
import cProfile
import logging
import pstats
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

from sync_common import Timer, sandbox_process, scratch_database


def sync_all(customers) -> tuple[int, int, int]:
    from sync.models import SyncRun
    from sync.report import start_run
    from sync.steps import sync_customer

    created = updated = calls = 0
    for customer in customers:
        run = sync_customer(run=start_run(kind=SyncRun.Kind.CUSTOMER_FULL, customer=customer))
        assert run.status == SyncRun.Status.SUCCEEDED, run.errors
        created, updated, calls = created + run.rows_created, updated + run.rows_updated, calls + run.calls_made
    return created, updated, calls


def place_history(sdk, customer_id: str, markets: dict, count: int) -> int:
    """``count`` orders per exchange: IOC buys under the bid (cancelled, nothing filled), and
    every fifth one an IOC buy of the minimum size at the ask (filled while the makers' depth lasts); then one resting order."""
    from tests.sandbox_client import as_user, best, order_market_id

    placed = 0
    for exchange, market in markets.items():
        mid = order_market_id(market)
        tick = Decimal(str(market.tick_size or "0.01"))
        ask, bid = best(sdk, market, "ask"), best(sdk, market, "bid")
        size = max(Decimal(1), Decimal(str(market.min_order_size or 1)))
        for i in range(count):
            price = ask if i % 5 == 0 else max(tick, bid - (1 + i % 4) * tick)
            sdk.orders.create(
                exchange=exchange, market_id=mid, outcome="Yes", side="buy", price=float(price), size=float(size),
                params={"order_type": "ioc"}, **as_user(customer_id),
            )
            placed += 1
        sdk.orders.create(exchange=exchange, market_id=mid, outcome="Yes", side="buy", price=float(max(tick, bid - 5 * tick)), size=float(size), **as_user(customer_id))
        placed += 1
    return placed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=10)
    parser.add_argument("--history", type=int, default=300, help="orders per customer and exchange before the first sync")
    parser.add_argument("--overlap", type=int, default=5, help="SYNC_ORDER_OVERLAP_SECONDS for this run")
    parser.add_argument("--limiter-redis", default="redis://127.0.0.1:6379/11", help="RATE_LIMIT_REDIS_URL ('' = the database limiter)")
    parser.add_argument("--profile", type=int, default=0, metavar="N", help="print the N costliest functions of the second sync (cProfile)")
    args = parser.parse_args()
    logging.getLogger("httpx").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp, sandbox_process(Path(tmp), SANDBOX_MM_STEP_SECONDS=10**9) as sandbox:
        env = {"PARSEC_API_BASE_URL": sandbox.base_url, "PARSEC_API_KEY": sandbox.builder_key, "SYNC_ORDER_OVERLAP_SECONDS": str(args.overlap),
               "RATE_LIMIT_REDIS_URL": args.limiter_redis}
        with scratch_database("bench_sync_second", **env):
            from django.db.models import Sum
            from django.utils import timezone

            from customers.models import Customer
            from parsec.models import OutboundCall
            from sync.models import SyncRun
            from sync.report import start_run
            from sync.steps import sync_markets, sync_users
            from tests.sandbox_client import new_customer, pick_markets

            sdk = sandbox.sdk(max_retries=5)
            markets = pick_markets(sdk)
            ids = [new_customer(sdk, prefix="bench") for _ in range(args.customers)]
            with Timer() as setup, ThreadPoolExecutor(max_workers=min(8, len(ids))) as pool:
                placed = sum(pool.map(lambda cid: place_history(sdk, cid, markets, args.history), ids))
            print(f"history: {placed} orders placed in the sandbox in {setup.seconds:.1f} s")
            sync_users(run=start_run(kind=SyncRun.Kind.USERS))
            sync_markets(run=start_run(kind=SyncRun.Kind.MARKETS))
            time.sleep(args.overlap + 1)  # the history is now older than the overlap
            customers = list(Customer.objects.filter(parsec_customer_id__in=ids))
            with Timer() as first:
                first_counts = sync_all(customers)
            profiler = cProfile.Profile() if args.profile else None
            second_started = timezone.now()
            with Timer() as second:
                if profiler:
                    profiler.enable()
                second_counts = sync_all(customers)
                if profiler:
                    profiler.disable()
            print(f"first sync:  {len(customers)} customers, {first_counts[2]} calls, {first_counts[0]} created, {first_counts[1]} updated in {first.seconds:.2f} s")
            print(f"second sync: {len(customers)} customers, {second_counts[2]} calls, {second_counts[0] + second_counts[1]} rows written in {second.seconds:.2f} s")
            if profiler:
                pstats.Stats(profiler).sort_stats("cumulative").print_stats(args.profile)
            waited = OutboundCall.objects.filter(created_at__gte=second_started).aggregate(ms=Sum("latency_ms"))["ms"] or 0
            print(f"second sync: {waited / 1000:.2f} s of it waiting on Parsec (the call log's latencies)")
            print(f"second is {first.seconds / second.seconds:.1f}x faster (target: 0 rows written and >= 3x); order-window overlap {args.overlap} s")


if __name__ == "__main__":
    main()
