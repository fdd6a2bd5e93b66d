"""API latency at a million orders in PostgreSQL: p50/p99 of the orders list and a customer's fills.

Fills a scratch PostgreSQL database with the admin benchmark's data set (bench/admin_lists.py:
1,000 customers, 500 markets, --rows orders and as many fills, generate_series in SQL), ANALYZEs
it, issues an Operations token, starts gunicorn (--workers processes, DEBUG off) on a free port,
then runs the load generator in a second process: for each URL, --warmup requests, then
--requests requests one after the other over a keep-alive session, timed at the client.

Baseline, measured in the same run against the same server: ``/api/whoami/``, the cheapest
authenticated endpoint (token lookup, role and permission checks, JSON rendering, no table).
Target: p50 below 50 ms for the orders list and a customer's fills.

    .venv/bin/python bench/api_latency.py [--rows 1000000] [--requests 300] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


# --- the load generator (the second process) --------------------------------------------------

def run_client(base: str, token: str, urls: list[str], requests_per_url: int, warmup: int) -> None:
    import requests

    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    results = {}
    for url in urls:
        for _ in range(warmup):
            session.get(base + url, timeout=30).raise_for_status()
        timings = []
        for _ in range(requests_per_url):
            started = time.perf_counter()
            response = session.get(base + url, timeout=30)
            elapsed = time.perf_counter() - started
            response.raise_for_status()
            timings.append(elapsed * 1000)
        results[url] = timings
    print(json.dumps(results))


# --- the harness ------------------------------------------------------------------------------

def deep_page(base: str, token: str, url: str, pages: int) -> str:
    """The URL of page ``pages`` of a list (or its last page), reached by following the cursor links."""
    import urllib.request

    for _ in range(pages - 1):
        request = urllib.request.Request(base + url, headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            following = json.load(response)["next"]
        if following is None:  # a small data set: the last page is as deep as it goes
            break
        url = following.removeprefix(base)
    return url


def wait_for(base: str, token: str, process: subprocess.Popen) -> None:
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("gunicorn exited during start-up")
        try:
            request = urllib.request.Request(f"{base}/api/whoami/", headers={"Authorization": f"Bearer {token}"})
            with urllib.request.urlopen(request, timeout=2):
                return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.3)
    raise RuntimeError("gunicorn did not answer within 60 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--client", nargs=2, metavar=("BASE", "TOKEN"), help=argparse.SUPPRESS)
    parser.add_argument("--urls", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.client:
        run_client(args.client[0], args.client[1], json.loads(args.urls), args.requests, args.warmup)
        return

    os.environ["DEBUG"] = "false"
    sys.path.insert(0, str(HERE))
    from admin_lists import LOAD_SQL
    from sync_common import scratch_database

    with scratch_database("bench_api_latency") as db:
        from django.db import connection

        from api.tokens import issue_token
        from orders.models import Fill, Order

        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(LOAD_SQL, {"rows": args.rows})
            cursor.execute("ANALYZE")
        print(f"loaded {Order.objects.count():,} orders and {Fill.objects.count():,} fills "
              f"in {time.perf_counter() - started:.0f} s")
        _, token = issue_token(name="bench", role="Operations", throttle_rate="10000000/min")
        connection.close()

        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = {**os.environ, "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{db}", "DEBUG": "false",
               "LOG_LEVEL": "WARNING"}
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "backoffice.wsgi", "--bind", f"127.0.0.1:{port}",
             "--workers", str(args.workers), "--log-level", "warning"],
            cwd=ROOT, env=env,
        )
        try:
            wait_for(base, token, server)
            urls = {
                "baseline: GET /api/whoami/": "/api/whoami/",
                "orders, first page": "/api/orders/?page_size=50",
                "orders, page 20 by cursor": deep_page(base, token, "/api/orders/?page_size=50", 20),
                "orders of one customer": "/api/orders/?customer=bench-7&page_size=50",
                "orders, open on kalshi": "/api/orders/?status=open&exchange=kalshi&page_size=50",
                "fills of one customer": "/api/fills/?customer=bench-42&page_size=50",
                "fills of one customer, page 10": deep_page(base, token, "/api/fills/?customer=bench-42&page_size=50", 10),
            }
            client = subprocess.run(
                [sys.executable, __file__, "--client", base, token, "--urls", json.dumps(list(urls.values())),
                 "--requests", str(args.requests), "--warmup", str(args.warmup)],
                cwd=ROOT, capture_output=True, text=True, check=True,
            )
            timings = json.loads(client.stdout)
        finally:
            server.terminate()
            server.wait(timeout=30)

    print(f"{args.requests} sequential requests per URL after {args.warmup} warm-up, gunicorn --workers {args.workers}, "
          f"{args.rows:,} orders; client-side latency in ms")
    print(f"{'':34s} {'p50':>8s} {'p99':>8s} {'mean':>8s}")
    for label, url in urls.items():
        values = timings[url]
        print(f"{label:34s} {percentile(values, 0.5):8.1f} {percentile(values, 0.99):8.1f} {statistics.mean(values):8.1f}")


if __name__ == "__main__":
    main()
