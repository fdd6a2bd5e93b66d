"""The operations dashboard at a million orders: server time of the page and of each section.

Fills a scratch PostgreSQL database (bench/sync_common.py) with --rows orders spread evenly over
the last 60 days on both exchanges (2 % open, 1 % partially filled, 15 % cancelled, 2 % rejected,
80 % filled: 30,000 live orders at a million), one fill per two orders, 1,000 customers with
sync runs, a few thousand 429s in the call log, alerts and audit events; ANALYZEs it; then
renders the admin index (the dashboard) and each htmx section --repeat times through Django's
test client as an Operations user and prints the median total and database time.

Baseline, in the same run and the same process: an admin page with the same chrome and no
figures (the password-change form), so the difference is what the dashboard's queries cost.
The Parsec section (ping and pool, cached 30 s, loaded by htmx after the page) is not part of
the page render and is not measured here.

    .venv/bin/python bench/dashboard.py [--rows 1000000] [--repeat 5]
"""

from __future__ import annotations

import time

from page_common import CUSTOMERS_SQL, measure, operations_client, parse_args
from sync_common import scratch_database

LOAD_SQL = CUSTOMERS_SQL + """
INSERT INTO orders_market (parsec_id, exchange, exchange_market_id, order_market_id, condition_id, event_id, question,
    group_title, outcomes, market_type, status, winning_outcome, raw, first_seen_at, last_seen_at)
SELECT CASE WHEN i %% 2 = 0 THEN 'kalshi:' ELSE 'polymarket:' END || 'BENCH-' || i,
    CASE WHEN i %% 2 = 0 THEN 'kalshi' ELSE 'polymarket' END, 'BENCH-' || i, 'BENCH-' || i, '', '',
    'Will bench market ' || i || ' resolve Yes?', '', '[{"name": "Yes"}, {"name": "No"}]', 'binary', 'active', '', '{}',
    now(), now()
FROM generate_series(0, 499) i;
INSERT INTO orders_order (parsec_order_id, exchange, customer_id, market_id, market_native_id, outcome, side, price, size,
    filled, status, parsec_status, order_type, placed_by, created_at, updated_at, raw, first_seen_at, last_seen_at)
SELECT 'order-' || i, CASE WHEN i %% 2 = 0 THEN 'kalshi' ELSE 'polymarket' END, c.min_id + i %% 1000,
    m.min_id + i %% 500, 'BENCH-' || (i %% 500), 'Yes', CASE WHEN i %% 3 = 0 THEN 'sell' ELSE 'buy' END,
    0.05 + (i %% 90) / 100.0, 10 + i %% 50,
    CASE WHEN (i / 7) %% 100 < 2 THEN 0 WHEN (i / 7) %% 100 < 3 THEN 3 WHEN (i / 7) %% 100 < 20 THEN 0 ELSE 10 + i %% 50 END,
    CASE WHEN (i / 7) %% 100 < 2 THEN 'open' WHEN (i / 7) %% 100 < 3 THEN 'partially_filled'
         WHEN (i / 7) %% 100 < 18 THEN 'cancelled' WHEN (i / 7) %% 100 < 20 THEN 'rejected' ELSE 'filled' END,
    '', 'gtc', 'outside', now() - (i::bigint * 5184000 / %(rows)s) * interval '1 second', now(), '{}', now(), now()
FROM generate_series(0, %(rows)s - 1) i,
     (SELECT min(id) AS min_id FROM customers_customer) c, (SELECT min(id) AS min_id FROM orders_market) m;
INSERT INTO orders_fill (fill_id, order_id, parsec_order_id, customer_id, exchange, market_id, market_native_id, outcome,
    side, price, size, is_taker, fee, created_at, raw, first_seen_at, last_seen_at)
SELECT 'fill-' || o.id, o.id, o.parsec_order_id, o.customer_id, o.exchange, o.market_id, o.market_native_id, o.outcome,
    o.side, o.price, greatest(o.filled, 1), true, 0.01, o.created_at, '{}', now(), now()
FROM orders_order o WHERE o.id %% 2 = 0;
INSERT INTO customers_syncrun (kind, customer_id, exchange, trigger, task_id, status, started_at, finished_at, calls_made,
    rows_created, rows_updated, rows_unchanged, errors, progress_done, progress_total)
SELECT 'customer-full', c.id, '', 'beat', '', CASE WHEN c.id %% 97 = 0 THEN 'failed' ELSE 'succeeded' END,
    now() - interval '2 minutes' - g * interval '15 minutes', now() - interval '1 minute' - g * interval '15 minutes',
    8, 0, 0, 0, '[]', 8, 8
FROM customers_customer c, generate_series(0, 9) g;
INSERT INTO customers_syncrun (kind, exchange, trigger, task_id, status, started_at, finished_at, calls_made,
    rows_created, rows_updated, rows_unchanged, errors, progress_done)
VALUES ('users', '', 'beat', '', 'succeeded', now() - interval '5 minutes', now() - interval '4 minutes', 10, 0, 0, 0, '[]', 0),
       ('markets', '', 'beat', '', 'succeeded', now() - interval '6 minutes', now() - interval '5 minutes', 5, 0, 0, 0, '[]', 0);
INSERT INTO parsec_outboundcall (created_at, method, path_template, path, customer_id, exchange, status_code, error_code,
    error_class, latency_ms, attempt, retry_after, rate_limit)
SELECT now() - i * interval '3 seconds', 'GET', '/orders', '/orders', '', 'kalshi',
    CASE WHEN i %% 20 = 0 THEN 429 ELSE 200 END, '', '', 20, 1, CASE WHEN i %% 20 = 0 THEN 1 END, '{}'
FROM generate_series(0, 99999) i;
"""


def main() -> None:
    args = parse_args(__doc__)

    with scratch_database("bench_dashboard"):
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        from audit.services import record_action
        from compliance.surveillance import run_surveillance
        from orders.models import Fill, Order

        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(LOAD_SQL, {"rows": args.rows})
            cursor.execute("ANALYZE")
        print(f"loaded {Order.objects.count():,} orders and {Fill.objects.count():,} fills in "
              f"{time.perf_counter() - started:.1f} s")
        for i in range(200):
            record_action(actor="bench", action="order.cancel", reason=f"bench {i}", outcome="ok")
        started = time.perf_counter()
        result = run_surveillance(rules=["cancel_ratio", "concentration", "operator_placed"])
        print(f"surveillance over everyone (cancel ratio, concentration, operator-placed): {result.raised} alerts in "
              f"{time.perf_counter() - started:.1f} s")

        client = operations_client()

        print(f"{'page':40s} {'median ms':>10s} {'db ms':>8s} {'queries':>8s}")
        for label, url in [("baseline: admin page without figures", "/admin/password_change/"),
                           ("dashboard page (admin index)", "/admin/"),
                           *[(f"  section {name}", f"/admin/dashboard/{name}/")
                             for name in ("sync", "trading", "escrow", "compliance", "charts")]]:
            total, db, queries = measure(client, url, args.repeat)
            print(f"{label:40s} {total:10.1f} {db:8.1f} {queries:8d}")
        with CaptureQueriesContext(connection) as captured:
            client.get("/admin/")
        print("slowest queries of the dashboard page (ms):")
        for query in sorted(captured.captured_queries, key=lambda q: -float(q["time"]))[:4]:
            print(f"  {float(query['time']) * 1000:7.1f}  {query['sql'][:150]}")


if __name__ == "__main__":
    main()
