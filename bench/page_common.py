"""Shared by the bench scripts that time admin pages (admin_lists.py, dashboard.py).

The command line (--rows, --repeat), the 1,000 bench customers, the logged-in Operations user
and the timing of one page through Django's test client. Django must be set up first (inside
sync_common.scratch_database) before calling anything but ``parse_args``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

# The first statement of each script's LOAD_SQL: customers bench-0 .. bench-999.
CUSTOMERS_SQL = """
INSERT INTO customers_customer (parsec_customer_id, external_id, email, tier, qps_limit, status, fee_escrow_enabled,
    api_key_last4, raw, first_seen_at, last_synced_at)
SELECT md5('c' || i)::uuid, 'bench-' || i, '', 'free', 10, 'active', false, '', '{}', now(), now()
FROM generate_series(0, 999) i;
"""


def parse_args(doc: str) -> argparse.Namespace:
    """--rows (default a million) and --repeat (default 5); DEBUG off unless set."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    os.environ.setdefault("DEBUG", "false")
    return args


def operations_client():
    """A test client logged in as a new staff user of the Operations group."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.test import Client

    user = get_user_model().objects.create_user(username="bench.operator", is_staff=True)
    user.groups.add(Group.objects.get(name="Operations"))
    client = Client()
    client.force_login(user)
    return client


def measure(client, url: str, repeat: int) -> tuple[float, float, int]:
    """Median total ms, median database ms and the most queries over ``repeat`` GETs (after one warm-up)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.get(url)  # warm
    totals, db_times, counts = [], [], []
    for _ in range(repeat):
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            response = client.get(url)
            totals.append(time.perf_counter() - started)
        assert response.status_code == 200, (url, response.status_code)
        db_times.append(sum(float(q["time"]) for q in queries.captured_queries))
        counts.append(len(queries.captured_queries))
    return statistics.median(totals) * 1000, statistics.median(db_times) * 1000, max(counts)
