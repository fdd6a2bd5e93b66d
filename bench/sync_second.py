"""A second sync with nothing changed: rows written (target 0) and time against the first
(target ≥ 3x faster). Real sandbox process (quotes held still), scratch PostgreSQL database.

    .venv/bin/python bench/sync_second.py [--customers 20]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from sync_common import Timer, sandbox_process, scratch_database


def sync_all(customers) -> tuple[int, int, int]:
    from customers.models import SyncRun
    from customers.sync import start_run, sync_customer

    created = updated = calls = 0
    for customer in customers:
        run = sync_customer(run=start_run(kind=SyncRun.Kind.CUSTOMER_FULL, customer=customer))
        assert run.status == SyncRun.Status.SUCCEEDED, run.errors
        created, updated, calls = created + run.rows_created, updated + run.rows_updated, calls + run.calls_made
    return created, updated, calls


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, sandbox_process(Path(tmp), SANDBOX_MM_STEP_SECONDS=10**9) as sandbox:  # noqa: SIM117 (the database needs the sandbox's URL)
        with scratch_database("bench_sync_second", PARSEC_API_BASE_URL=sandbox.base_url, PARSEC_API_KEY=sandbox.builder_key):
            from customers.models import Customer, SyncRun
            from customers.sync import start_run, sync_users
            from orders.sync import sync_markets
            from tests.sync.conftest import new_customer, pick_markets, trade

            sdk = sandbox.sdk()
            markets = pick_markets(sdk)
            ids = [new_customer(sdk, prefix="bench") for _ in range(args.customers)]
            for customer_id in ids:
                trade(sdk, customer_id, markets)
            sync_users(run=start_run(kind=SyncRun.Kind.USERS))
            sync_markets(run=start_run(kind=SyncRun.Kind.MARKETS))
            customers = list(Customer.objects.filter(parsec_customer_id__in=ids))
            with Timer() as first:
                first_counts = sync_all(customers)
            with Timer() as second:
                second_counts = sync_all(customers)
            print(f"first sync:  {len(customers)} customers, {first_counts[2]} calls, {first_counts[0]} created, {first_counts[1]} updated in {first.seconds:.2f} s")
            print(f"second sync: {len(customers)} customers, {second_counts[2]} calls, {second_counts[0] + second_counts[1]} rows written in {second.seconds:.2f} s")
            print(f"second is {first.seconds / second.seconds:.1f}x faster (target: 0 rows written and >= 3x)")


if __name__ == "__main__":
    main()
