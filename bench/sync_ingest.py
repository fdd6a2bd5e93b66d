"""Fill ingest rate into PostgreSQL: the production path (orders.sync.upsert_fills: one
SELECT per 1,000-row batch, bulk INSERT, change skipping) against a naive per-row save().

    .venv/bin/python bench/sync_ingest.py [--fills 100000] [--baseline 3000]

Targets (issue 4): ≥ 20x the baseline and ≥ 20,000 fills/s.
"""

from __future__ import annotations

import argparse
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sync_common import Timer, scratch_database


def make_fills(count: int, *, prefix: str, order_id: str):
    from parsec.types import Fill

    start = datetime(2026, 1, 1, tzinfo=UTC)
    return [
        Fill(
            fill_id=f"{prefix}-{i}", order_id=order_id, exchange="polymarket", market_id="0xbench", outcome="Yes",
            side="buy" if i % 2 else "sell", price=Decimal("0.55") + Decimal(i % 40) / 1000, size=Decimal(10 + i % 7),
            is_taker=bool(i % 3), fee=Decimal("0.01"), created_at=start + timedelta(milliseconds=i),
            raw={"fill_id": f"{prefix}-{i}", "order_id": order_id, "market_id": "0xbench", "outcome": "Yes", "price": 0.55, "size": 10},
        )
        for i in range(count)
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fills", type=int, default=100_000)
    parser.add_argument("--baseline", type=int, default=3_000)
    args = parser.parse_args()
    with scratch_database("bench_sync_ingest", PARSEC_RATE_LIMIT_ENABLED="false"):
        from django.utils import timezone

        from customers.models import Customer
        from orders.models import Fill, Market, Order
        from orders.sync import fill_row, upsert_fills

        customer = Customer.objects.create(parsec_customer_id=uuid.uuid4(), external_id="bench")
        market = Market.objects.create(parsec_id="polymarket:bench", exchange="polymarket", exchange_market_id="1", order_market_id="0xbench", question="Bench?")
        order = Order.objects.create(parsec_order_id="order-bench", exchange="polymarket", customer=customer, market=market, market_native_id="0xbench",
                                     outcome="Yes", side="buy", price=Decimal("0.5"), size=Decimal(10**6), created_at=timezone.now())

        naive = make_fills(args.baseline, prefix="naive", order_id=order.parsec_order_id)
        with Timer() as baseline:
            now = timezone.now()
            for fill in naive:  # what a dj-stripe-style sync does: look up, then save one row
                row = fill_row(fill, customer_pk=customer.pk, order_pk=order.pk, market_pk=market.pk, now=now)
                existing = Fill.objects.filter(fill_id=fill.fill_id).first()
                obj = existing or Fill()
                for name, value in row.items():
                    setattr(obj, name, value)
                obj.save()
        baseline_rate = args.baseline / baseline.seconds

        fills = make_fills(args.fills, prefix="prod", order_id=order.parsec_order_id)
        with Timer() as production:
            result = upsert_fills(fills, customer=customer, exchange="polymarket")
        assert result.created == args.fills, result
        production_rate = args.fills / production.seconds

        with Timer() as again:
            repeat = upsert_fills(fills, customer=customer, exchange="polymarket")
        assert repeat.written == 0 and Fill.objects.count() == args.fills + args.baseline

        print(f"naive per-row save():   {args.baseline:>7} fills in {baseline.seconds:6.2f} s = {baseline_rate:>9,.0f} fills/s")
        print(f"production upsert:      {args.fills:>7} fills in {production.seconds:6.2f} s = {production_rate:>9,.0f} fills/s")
        print(f"same fills again:       {args.fills:>7} fills in {again.seconds:6.2f} s = {args.fills / again.seconds:>9,.0f} fills/s, 0 written")
        print(f"speed-up vs baseline:   {production_rate / baseline_rate:.1f}x  (target >= 20x and >= 20,000 fills/s)")


if __name__ == "__main__":
    main()
