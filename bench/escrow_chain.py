"""Reading the fee escrow from the sandbox chain through the gateway's reader (parsec.escrow_chain).

Starts a sandbox that mines only when asked (its own SQLite file under --data-dir), fills it with
--records fee orders through the API (payers of the bench's own, funded by the chain's faucet;
--cancel-share of them cancelled, so a refund follows the pull; a block is mined every --per-block
orders), then measures, beside a baseline taken in the same run:

- baseline: a bare ``eth_blockNumber`` loop (the HTTP + JSON-RPC round trip with no work behind it);
- ingest: every escrow event of the chain read with ``events_between`` (``eth_getLogs`` in ranges of
  --log-range blocks, decoded and mapped), in events/s;
- reconciliation, reader side: the state of all --records records read with ``fee_records``
  (JSON-RPC batches of --batch ``eth_call``s at one head), each compared to the base unit with the
  sandbox's own accounting (its database file), in seconds.

A second run with the same --data-dir restarts the sandbox on the filled chain (no refill).

    .venv/bin/python bench/escrow_chain.py [--records 10000] [--cancel-share 0.3] [--log-range 2000]
                                           [--batch 100] [--repeat 3] [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backoffice.settings")

from bench.sandbox_load import BUILDER_KEY, Conn, OrderMaker, fund_payers  # noqa: E402


def fill(sandbox, records: int, cancel_share: float, per_block: int, threads: int = 6) -> None:
    import random

    api = Conn(sandbox.base_url, {"X-API-Key": BUILDER_KEY})
    admin = Conn(sandbox.base_url, {"X-Sandbox-Admin-Key": sandbox.admin_key})
    _, body = api.request("POST", "/api/v1/builder/users", {"external_id": f"escrow-bench-{time.time_ns()}", "qps_limit": 100_000})
    customer = json.loads(body)["customer_id"]
    assert api.request("POST", "/api/v1/builder/onboard", {"customer_id": customer, "exchange": "polymarket", "mode": "managed"})[0] == 200
    assert admin.request("POST", "/_sandbox/credit", {"customer_id": customer, "exchange": "polymarket", "amount_usdc": 10**9})[0] == 200
    markets = [{"exchange": "polymarket", "market_id": m.get("condition_id"), "tick": m["tick_size"], "min_size": m["min_order_size"]}
               for m in json.loads(api.request("GET", "/api/v1/markets?exchanges=polymarket&limit=100")[1])["markets"]
               if m["market_type"] == "binary"]
    maker = OrderMaker([customer], markets, cross_share=0.0, fee_share=1.0, payer_keys=fund_payers(sandbox.base_url, sandbox.admin_key, 4))
    placed, lock, started = [0], threading.Lock(), time.monotonic()

    def worker(index: int) -> None:
        rng = random.Random(index)
        conn = Conn(sandbox.base_url, {"X-API-Key": BUILDER_KEY})
        while True:
            with lock:
                if placed[0] >= records:
                    return
                placed[0] += 1
                number = placed[0]
            path, body, headers = maker(rng)
            status, answer = conn.request("POST", path, body, headers)
            assert status == 200, answer
            if rng.random() < cancel_share:
                order = json.loads(answer)
                status, _ = conn.request("DELETE", f"/api/v1/orders/{order['id']}?exchange=polymarket", None, headers)
                assert status == 200
            if number % per_block == 0:
                Conn(sandbox.base_url, {"X-Sandbox-Admin-Key": sandbox.admin_key}).request("POST", "/_sandbox/chain/mine")
            if number % 1000 == 0:
                print(f"  {number} fee orders placed in {time.monotonic() - started:.0f} s", flush=True)

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    mine = Conn(sandbox.base_url, {"X-Sandbox-Admin-Key": sandbox.admin_key})
    mine.conn.timeout = 600
    mine.request("POST", "/_sandbox/chain/mine")
    state = json.loads(admin.request("GET", "/_sandbox/chain")[1])
    assert state["queued"] == 0 and state["failed"] == 0, state
    print(f"filled: {records} fee orders in {time.monotonic() - started:.0f} s (placing and mining), chain at block {state['block_number']}")


def sandbox_records(database: Path) -> dict[str, tuple]:
    with sqlite3.connect(database) as db:
        rows = db.execute("SELECT fee_order_id, status, fee_amount, affiliate_amount, treasury_amount, refund_amount FROM sandbox_escrowrecord")
        return {row[0]: row[1:] for row in rows}


def baseline(reader, seconds: float) -> float:
    calls, deadline = 0, time.perf_counter() + seconds
    started = time.perf_counter()
    while time.perf_counter() < deadline:
        assert reader.w3.eth.block_number >= 0
        calls += 1
    return calls / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--cancel-share", type=float, default=0.3)
    parser.add_argument("--per-block", type=int, default=100, help="fee orders per mined block while filling")
    parser.add_argument("--log-range", type=int, default=2000, help="blocks per eth_getLogs (ESCROW_LOG_BLOCK_RANGE)")
    parser.add_argument("--batch", type=int, default=100, help="eth_calls per JSON-RPC batch")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--baseline-seconds", type=float, default=5)
    parser.add_argument("--data-dir", type=Path, default=None)
    args = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings

    from parsec.escrow_chain import ChainEscrowReader
    from tests.sandbox_client import start_sandbox, stop_sandbox

    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="escrow-chain-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    database = data_dir / "sandbox.sqlite3"
    reuse = database.exists()
    sandbox = start_sandbox(data_dir, extra_env={"SANDBOX_CHAIN_BLOCK_SECONDS": "0"}, database=database, reset=not reuse)
    try:
        if reuse and len(sandbox_records(database)) >= args.records:
            print(f"reusing {database} (restarted on its chain)")
        else:
            fill(sandbox, args.records, args.cancel_share, args.per_block)
        ours = sandbox_records(database)
        ids = sorted(ours)[: args.records]
        reader = ChainEscrowReader(rpc_url=f"{sandbox.base_url}/_chain", contract_address=settings.ESCROW_CONTRACT_ADDRESS,
                                   abi_path=settings.ESCROW_ABI_PATH, chain_id=137, confirmations=0, log_block_range=args.log_range,
                                   timeout=120)
        reader.verify()
        head = reader.head()
        print(f"chain: head {head.number}, {len(ours)} fee records in the sandbox's accounting; reading {len(ids)}")
        rows = []
        for run in range(1, args.repeat + 1):
            base = baseline(reader, args.baseline_seconds)
            started = time.perf_counter()
            events = reader.events_between(0, head.number, head=head)
            ingest = time.perf_counter() - started
            started = time.perf_counter()
            records = reader.fee_records(ids, batch_size=args.batch)
            read = time.perf_counter() - started
            wrong = [i for i in ids if records[i] is None or (records[i].state, records[i].fee_amount, records[i].affiliate_amount,
                                                              records[i].treasury_amount, records[i].refund_amount) != ours[i]]
            rows.append((base, len(events) / ingest, ingest, read))
            print(f"run {run}: baseline eth_blockNumber {base:7.1f} calls/s | ingest {len(events)} events in {ingest:6.2f} s = "
                  f"{len(events) / ingest:7.1f} events/s (eth_getLogs over at most {args.log_range} blocks, halved when refused) | "
                  f"{len(ids)} records read in {read:6.2f} s = {len(ids) / read:6.1f}/s, {len(wrong)} differing from the sandbox", flush=True)
            assert not wrong, wrong[:5]
        print(f"median: baseline {statistics.median(r[0] for r in rows):.1f} calls/s; ingest {statistics.median(r[1] for r in rows):.1f} events/s; "
              f"{len(ids)} records in {statistics.median(r[3] for r in rows):.2f} s")
    finally:
        stop_sandbox(sandbox)


if __name__ == "__main__":
    main()
