"""Admin list pages at a million rows: server time per page, capped count vs Django's stock count.

Fills a scratch PostgreSQL database (bench/sync_common.py) with --rows orders and as many fills
(generate_series in SQL; about 5 minutes for 1M with every index in place), 1,000 customers and
500 markets, ANALYZEs it, then renders each changelist --repeat times through Django's test
client as an Operations user and prints the median total time and the median database time.

Baseline, measured in the same run on the same pages: the stock Django admin behaviour, i.e.
``django.core.paginator.Paginator`` (an unbounded COUNT(*) of the filtered list) and
``show_full_result_count = True`` (a second COUNT(*) of the whole table).

Substring search (``?q=``, target p50 <= 200 ms at 1M orders): ours looks the customers (external
id, email) and markets (title) up first in their small tables, then reads the orders by their
indexed foreign keys or the trigram index on the order id. Its baseline, in the same run, is the
stock admin search over the same columns (``search_fields`` with ``icontains`` across the joins,
and the stock counts).

    .venv/bin/python bench/admin_lists.py [--rows 1000000] [--repeat 5]
"""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

from page_common import CUSTOMERS_SQL, measure, operations_client, parse_args
from sync_common import scratch_database

PAGES = [
    "/admin/orders/order/",
    "/admin/orders/order/?p=100",
    "/admin/orders/order/?customer=bench-7",
    "/admin/orders/order/?status=open&exchange=kalshi",
    "/admin/orders/order/?market=kalshi:BENCH-3",
    "/admin/orders/order/?created_at_from_0=2026-01-01&created_at_to_0=2026-01-02",
    "/admin/orders/order/?q=order-123456",
    "/admin/orders/fill/",
    "/admin/orders/fill/?customer=bench-42",
    "/admin/orders/fill/?market=kalshi:BENCH-3",
]

# Substring searches: a customer (bench-7 names 111 customers, a tenth of the orders), a market
# title (11 markets), a part of an order id (trigram index), and a term that matches nothing.
SEARCHES = [
    "/admin/orders/order/?q=bench-7",
    "/admin/orders/order/?q=bench-987",
    "/admin/orders/order/?q=market+42",
    "/admin/orders/order/?q=23456",
    "/admin/orders/order/?q=no-such-thing",
]
STOCK_SEARCH_FIELDS = ("customer__external_id", "customer__email", "market__question", "parsec_order_id")

LOAD_SQL = CUSTOMERS_SQL + """
INSERT INTO orders_market (parsec_id, exchange, exchange_market_id, order_market_id, condition_id, event_id, question,
    group_title, outcomes, market_type, status, winning_outcome, raw, first_seen_at, last_seen_at)
SELECT 'kalshi:BENCH-' || i, 'kalshi', 'BENCH-' || i, 'BENCH-' || i, '', '', 'Will bench market ' || i || ' resolve Yes?',
    '', '[{"name": "Yes"}, {"name": "No"}]', 'binary', 'active', '', '{}', now(), now()
FROM generate_series(0, 499) i;
INSERT INTO orders_order (parsec_order_id, exchange, customer_id, market_id, market_native_id, outcome, side, price, size,
    filled, status, parsec_status, order_type, placed_by, created_at, raw, first_seen_at, last_seen_at)
SELECT 'order-' || i, 'kalshi', c.min_id + i %% 1000, m.min_id + i %% 500, 'BENCH-' || (i %% 500), 'Yes', 'buy', 0.5, 10,
    CASE WHEN i %% 10 = 0 THEN 0 ELSE 10 END, CASE WHEN i %% 10 = 0 THEN 'open' ELSE 'filled' END, '', 'gtc', 'outside',
    timestamptz '2026-03-01' - i * interval '7 seconds', '{}', now(), now()
FROM generate_series(0, %(rows)s - 1) i,
     (SELECT min(id) AS min_id FROM customers_customer) c, (SELECT min(id) AS min_id FROM orders_market) m;
INSERT INTO orders_fill (fill_id, order_id, parsec_order_id, customer_id, exchange, market_id, market_native_id, outcome,
    side, price, size, is_taker, fee, created_at, raw, first_seen_at, last_seen_at)
SELECT 'fill-' || o.id, o.id, o.parsec_order_id, o.customer_id, o.exchange, o.market_id, o.market_native_id, o.outcome,
    o.side, o.price, o.size, true, 0, o.created_at, '{}', now(), now()
FROM orders_order o;
"""


def main() -> None:
    args = parse_args(__doc__)

    with scratch_database("bench_admin_lists"):
        from django.contrib.admin import site
        from django.core.paginator import Paginator
        from django.db import connection

        from orders.filters import OrderFilterSet
        from orders.models import Fill, Order

        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(LOAD_SQL, {"rows": args.rows})
            cursor.execute("ANALYZE")
        print(f"loaded {Order.objects.count():,} orders and {Fill.objects.count():,} fills in {time.perf_counter() - started:.1f} s")

        client = operations_client()

        admins = [site._registry[Order], site._registry[Fill]]
        print(f"{'page':62s} {'capped ms':>10s} {'(db)':>7s} {'stock ms':>10s} {'(db)':>7s}")
        for url in PAGES:
            ours = measure(client, url, args.repeat)
            saved = [(admin.paginator, admin.show_full_result_count) for admin in admins]
            for admin in admins:
                admin.paginator, admin.show_full_result_count = Paginator, True
            try:
                stock = measure(client, url, args.repeat)
            finally:
                for admin, (paginator, full) in zip(admins, saved, strict=True):
                    admin.paginator, admin.show_full_result_count = paginator, full
            print(f"{url:62s} {ours[0]:10.1f} {ours[1]:7.1f} {stock[0]:10.1f} {stock[1]:7.1f}")

        order_admin = site._registry[Order]
        print(f"\n{'substring search':62s} {'ours ms':>10s} {'(db)':>7s} {'stock ms':>10s} {'(db)':>7s}   rows")
        for url in SEARCHES:
            ours = measure(client, url, args.repeat)
            term = parse_qs(urlsplit(url).query)["q"][0]
            rows = OrderFilterSet(data={"q": term}, queryset=Order.objects.all()).qs.count()
            saved = (order_admin.search_filter, order_admin.search_fields, order_admin.paginator,
                     order_admin.show_full_result_count)
            order_admin.search_filter, order_admin.search_fields = None, STOCK_SEARCH_FIELDS
            order_admin.paginator, order_admin.show_full_result_count = Paginator, True
            try:
                stock = measure(client, url, args.repeat)
            finally:
                (order_admin.search_filter, order_admin.search_fields, order_admin.paginator,
                 order_admin.show_full_result_count) = saved
            print(f"{url:62s} {ours[0]:10.1f} {ours[1]:7.1f} {stock[0]:10.1f} {stock[1]:7.1f}   {rows:,}")


if __name__ == "__main__":
    main()
