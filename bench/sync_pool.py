"""Pool utilisation during a full sync of many customers with the sandbox's pool set low:
Parsec calls per second achieved ÷ pool QPS (target ≥ 0.9) and the 429s received (target 0).

    .venv/bin/python bench/sync_pool.py [--customers 1000] [--pool 100] [--threads 24]

Each worker thread runs customer syncs through the production path; every call waits on
the shared limiter (Redis when RATE_LIMIT_REDIS_URL is set, else the database buckets).
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import uuid
from pathlib import Path

from sync_common import Timer, sandbox_process, scratch_database


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--pool", type=int, default=100)
    parser.add_argument("--threads", type=int, default=24)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, sandbox_process(Path(tmp), SANDBOX_MM_STEP_SECONDS=10**9) as sandbox:
        sandbox.control("POST", f"builders/{sandbox.builder_key}/pool", json={"qps_pool": args.pool})
        env = {"PARSEC_API_BASE_URL": sandbox.base_url, "PARSEC_API_KEY": sandbox.builder_key, "PARSEC_POOL_QPS": str(args.pool)}
        with scratch_database("bench_sync_pool", **env):
            from django.db import connections

            from customers.models import Customer
            from parsec.models import OutboundCall
            from sync.models import SyncRun
            from sync.report import start_run
            from sync.steps import sync_customer, sync_users

            sdk = sandbox.sdk(max_retries=5)
            for i in range(args.customers):
                user = sdk.builder.users.create(external_id=f"pool-{i:05d}-{uuid.uuid4().hex[:4]}")
                sdk.builder.onboard.create(customer_id=user.customer_id, exchange="polymarket", mode="managed")
            sync_users(run=start_run(kind=SyncRun.Kind.USERS))
            pending = list(Customer.objects.filter(external_id__startswith="pool-"))
            lock = threading.Lock()
            OutboundCall.objects.all().delete()

            def worker():
                try:
                    while True:
                        with lock:
                            if not pending:
                                return
                            customer = pending.pop()
                        sync_customer(run=start_run(kind=SyncRun.Kind.CUSTOMER_FULL, customer=customer))
                finally:
                    connections.close_all()

            threads = [threading.Thread(target=worker) for _ in range(args.threads)]
            with Timer() as elapsed:
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join()
            calls = OutboundCall.objects.count()
            throttled = OutboundCall.objects.filter(status_code=429).count()
            failed = SyncRun.objects.filter(kind=SyncRun.Kind.CUSTOMER_FULL).exclude(status=SyncRun.Status.SUCCEEDED).count()
            rate = calls / elapsed.seconds
            print(f"{args.customers} customers, {calls} calls in {elapsed.seconds:.1f} s = {rate:.1f} calls/s; pool {args.pool} QPS")
            print(f"utilisation {rate / args.pool:.2f} (target >= 0.9), 429s: {throttled} (target 0), failed runs: {failed}")


if __name__ == "__main__":
    main()
