"""A separate process that calls Parsec through the gateway (and so through the shared limiter).

Usage: python tests/parsec/limiter_worker.py run <calls> <customer_id or -> <start at, Unix seconds>
Configuration comes from the environment, as in production (DATABASE_URL, RATE_LIMIT_REDIS_URL,
PARSEC_POOL_QPS, PARSEC_DEFAULT_CUSTOMER_QPS, PARSEC_API_BASE_URL, PARSEC_API_KEY).
"""

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backoffice.settings")

import django

django.setup()

from django.db import DatabaseError, connection  # noqa: E402

from parsec.client import get_client  # noqa: E402
from parsec.models import OutboundCall, RateBucket  # noqa: E402


def setup() -> None:
    """Create just the gateway's tables in a scratch database (a no-op on the test database)."""
    for model in (RateBucket, OutboundCall):
        if model._meta.db_table in connection.introspection.table_names():
            continue
        try:
            with connection.schema_editor() as editor:
                editor.create_model(model)
        except DatabaseError:  # the other worker created it first
            pass


def run(calls: int, customer_id: str | None, start_at: float) -> None:
    setup()
    client = get_client()
    time.sleep(max(0.0, start_at - time.time()))
    for _ in range(calls):
        if customer_id:
            client.list_fills(customer_id=customer_id, exchange="kalshi")
        else:
            client.list_exchanges()


if __name__ == "__main__":
    run(int(sys.argv[2]), None if sys.argv[3] == "-" else sys.argv[3], float(sys.argv[4]))
