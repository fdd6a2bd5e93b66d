"""The back-office's side of the escrow chain: the follower ingesting every escrow event into the
database and re-checking each record they touch (orders.escrow_events.follow_chain), end to end,
beside the reader alone doing the same reads in the same run.

Fills a sandbox that mines only when asked with --records fee orders (bench/escrow_chain.py's
``fill``: --cancel-share of them cancelled, so a refund follows the pull), mirrors them into a
scratch back-office database (one customer, the sandbox's orders as our mirror would hold them,
one FeeEscrowRecord per fee), then, --repeat times:

- baseline: the reader alone: ``events_between`` over the whole chain and ``fee_records`` of every
  id (what the follower must read at least);
- follower: ``follow_chain()`` from an empty cursor and no event kept: the same reads, the events
  written (``FeeEscrowEvent``), every touched record reconciled and stored; then it checks that
  every record matches the chain to the base unit.

    .venv/bin/python bench/escrow_backoffice.py [--records 2000] [--cancel-share 0.3] [--repeat 3] [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backoffice.settings")


def sandbox_fees(database: Path) -> list[dict]:
    with sqlite3.connect(database) as db:
        db.row_factory = sqlite3.Row
        return [dict(row) for row in db.execute(
            "SELECT e.fee_order_id, e.payer, e.fee_amount, e.deadline, e.affiliate_share_bps, e.affiliate_address, "
            "e.pulled_at, o.order_id, o.side, o.price, o.size, o.filled, o.status, o.created_at, m.condition_id "
            "FROM sandbox_escrowrecord e JOIN sandbox_order o ON o.id = e.order_id JOIN sandbox_market m ON m.id = o.market_id")]


def mirror(fees: list[dict]) -> None:
    """Our mirror of those orders and one fee record each, as placement and the sync leave them."""
    from datetime import UTC, datetime

    from orders.models import FeeEscrowRecord, Order
    from tests import factories as f

    customer = f.customer()

    def when(text: str) -> datetime:  # Django keeps UTC in SQLite, without the offset
        moment = datetime.fromisoformat(text)
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

    orders = Order.objects.bulk_create([Order(
        parsec_order_id=row["order_id"], exchange="polymarket", customer=customer, market_native_id=row["condition_id"] or "m",
        outcome="Yes", side=row["side"], price=row["price"], size=row["size"], filled=row["filled"], status=row["status"],
        fee_auth_order_id=row["fee_order_id"], created_at=when(row["created_at"]),
    ) for row in fees], batch_size=500)
    FeeEscrowRecord.objects.bulk_create([FeeEscrowRecord(
        fee_order_id=row["fee_order_id"], customer=customer, order=order, payer=row["payer"].lower(),
        fee_base_units=row["fee_amount"], deadline=row["deadline"], affiliate_fee_bps=row["affiliate_share_bps"],
        has_affiliate=bool(row["affiliate_address"]), state="pulled", pulled_at=when(row["pulled_at"]),
    ) for row, order in zip(fees, orders, strict=True)], batch_size=500)


def forget() -> None:
    from orders.models import EscrowFollower, FeeEscrowEvent, FeeEscrowRecord
    from parsec.models import EscrowChainCursor

    EscrowChainCursor.objects.all().delete()
    EscrowFollower.objects.all().delete()
    FeeEscrowEvent.objects.all().delete()
    FeeEscrowRecord.objects.update(reconciliation="unchecked", chain_state="", discrepancy="", checked_at=None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--cancel-share", type=float, default=0.3)
    parser.add_argument("--per-block", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--data-dir", type=Path, default=None)
    args = parser.parse_args()

    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="escrow-backoffice-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    backoffice_db = data_dir / "backoffice.sqlite3"
    backoffice_db.unlink(missing_ok=True)
    os.environ["DATABASE_URL"] = f"sqlite:///{backoffice_db}"
    os.environ["BACKOFFICE_VAR_DIR"] = str(data_dir / "var")

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from bench.escrow_chain import fill
    from orders.escrow_events import follow_chain
    from orders.models import FeeEscrowEvent, FeeEscrowRecord
    from parsec.escrow_chain import ChainEscrowReader
    from tests.sandbox_client import start_sandbox, stop_sandbox

    call_command("migrate", verbosity=0)
    database = data_dir / "sandbox.sqlite3"
    reuse = database.exists()
    sandbox = start_sandbox(data_dir, extra_env={"SANDBOX_CHAIN_BLOCK_SECONDS": "0"}, database=database, reset=not reuse)
    try:
        if not reuse or len(sandbox_fees(database)) < args.records:
            fill(sandbox, args.records, args.cancel_share, args.per_block)
        sandbox.mine()  # what the sandbox settled since (a restart, a late fill) is on chain before the mirror is taken
        fees = sandbox_fees(database)
        mirror(fees)
        settings.ESCROW_RPC_URL, settings.ESCROW_CONFIRMATIONS = f"{sandbox.base_url}/_chain", 0
        settings.ESCROW_RPC_TIMEOUT_SECONDS, settings.ESCROW_FOLLOW_UP_DELAYS = 120, []
        reader = ChainEscrowReader(rpc_url=settings.ESCROW_RPC_URL, contract_address=settings.ESCROW_CONTRACT_ADDRESS,
                                   abi_path=settings.ESCROW_ABI_PATH, chain_id=137, confirmations=0, timeout=120)
        reader.verify()
        head = reader.head()
        ids = [row["fee_order_id"] for row in fees]
        print(f"chain: head {head.number}; {len(ids)} fee records mirrored", flush=True)
        rows = []
        for run in range(1, args.repeat + 1):
            started = time.perf_counter()
            events = reader.events_between(0, head.number, head=head)
            reader.fee_records(ids)
            base = time.perf_counter() - started
            forget()
            started = time.perf_counter()
            result = follow_chain(reader=reader)
            follower = time.perf_counter() - started
            kept = FeeEscrowEvent.objects.count()
            wrong = FeeEscrowRecord.objects.exclude(reconciliation="matches").count()
            rows.append((base, follower))
            print(f"run {run}: reader alone {len(events)} events + {len(ids)} records in {base:6.2f} s | follower "
                  f"{result.get('new')} events kept, {result.get('records')} records reconciled in {follower:6.2f} s "
                  f"({len(events) / follower:7.1f} events/s, {follower / base:4.2f}× the reads alone) | "
                  f"{kept} events in the database, {wrong} records not matching the chain", flush=True)
            assert kept == len(events) and wrong == 0, (kept, wrong)
        base, follower = statistics.median(r[0] for r in rows), statistics.median(r[1] for r in rows)
        print(f"median: reader alone {base:.2f} s; follower end to end {follower:.2f} s ({follower / base:.2f}×)")
    finally:
        stop_sandbox(sandbox)


if __name__ == "__main__":
    main()
