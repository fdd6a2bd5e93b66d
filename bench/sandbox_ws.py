"""REST placements while 50 stream clients watch 10 books, against the same load without clients.

Starts a sandbox (or targets --base-url), sets up end-users and markets as bench/sandbox_load.py
does, then runs the same placement load twice for --seconds: first with no stream client
(the baseline), then with --clients WebSocket clients (one process, asyncio, the ``websockets``
library the SDK uses) subscribed round-robin to --markets books at depth 50.

The clients share the machine's two cores with the sandbox and the load's drivers, so they do
little: each counts its messages by type from the text's start, and only the clients of the
probe's book parse deltas. With --rounds N the two runs alternate N times (the machine's other
load changes from minute to minute; each round compares runs a minute apart).

A probe thread places, during both runs, a resting buy at a price nobody else trades in one of the
watched books, then cancels it, again and again. Each probe placement's answer is matched with
the first ``orderbook_delta`` that shows it at each client watching that book (the k-th delta that
sets the probe's level is the k-th probe). Printed: placements/s of both runs, stream messages
delivered per second (all clients, by type), and the latency from a placement's response to its
delta at the clients (p50/p99; negative when the delta arrived before the HTTP answer), with
the latency from the request's start as well.

    .venv/bin/python bench/sandbox_ws.py [--seconds 20] [--rounds 1] [--clients 50] [--markets 10] [--procs 2] [--threads 8]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import sandbox_load  # noqa: E402 (bench/ is not a package)

PROBE_PRICE = 0.10
PROBE_SIZE = 5.0


def stream_clients(url: str, api_key: str, books: list[str], probe: str, clients: int, ready, stop, results) -> None:
    """The clients' process: connect, subscribe, then record until told to stop."""
    import websockets

    async def one(index: int, counts: Counter, times: list, probe_deltas: list) -> None:
        parsec_id = books[index % len(books)]
        async with websockets.connect(url, max_size=None) as socket:
            await socket.send(json.dumps({"type": "auth", "api_key": api_key}))
            assert json.loads(await socket.recv())["type"] == "auth_ok"
            await socket.send(json.dumps({"type": "subscribe", "markets": [{"parsec_id": parsec_id, "depth": 50}]}))
            snapshot = json.loads(await socket.recv())
            assert snapshot["type"] == "orderbook", snapshot
            ready_count.append(index)
            watching_probe = parsec_id == probe
            async for raw in socket:
                now = time.monotonic()
                kind = raw[9:raw.index('"', 9)]  # the server writes "type" first: {"type":"...
                counts[kind] += 1
                times.append(now)
                if kind == "orderbook_delta" and watching_probe:
                    for change in json.loads(raw)["changes"]:
                        if change["side"] == "bid" and change["price"] == PROBE_PRICE and change["size"] == PROBE_SIZE:
                            probe_deltas.append(now)

    async def main() -> None:
        tasks, per_client = [], []
        for index in range(clients):
            record = (Counter(), [], [])
            per_client.append((books[index % len(books)], *record))
            tasks.append(asyncio.create_task(one(index, *record)))
            await asyncio.sleep(0.01)
        while len(ready_count) < clients:
            await asyncio.sleep(0.05)
            for task in tasks:
                if task.done() and task.exception():
                    raise task.exception()
        ready.set()
        while not stop.is_set():
            await asyncio.sleep(0.1)
        for task in tasks:
            task.cancel()
        results.put([(parsec_id, dict(counts), times, deltas) for parsec_id, counts, times, deltas in per_client])

    ready_count: list[int] = []
    asyncio.run(main())


class Probe(threading.Thread):
    """Place a resting buy at PROBE_PRICE and cancel it, over and over; record each placement."""

    def __init__(self, base_url: str, customer: str, market: dict, until: float):
        super().__init__(daemon=True)
        self.conn = sandbox_load.Conn(base_url, {"X-API-Key": sandbox_load.BUILDER_KEY, "X-Builder-Customer-Id": customer})
        self.market, self.until = market, until
        self.placements: list[tuple[float, float]] = []  # (request start, response) of each placement

    def run(self) -> None:
        path = f"/api/v1/orders?exchange={self.market['exchange']}"
        body = {"market_id": self.market["market_id"], "outcome": "Yes", "side": "buy", "price": PROBE_PRICE, "size": PROBE_SIZE}
        while time.monotonic() < self.until:
            started = time.monotonic()
            status, raw = self.conn.request("POST", path, body)
            answered = time.monotonic()
            assert status == 200, raw
            self.placements.append((started, answered))
            order_id = json.loads(raw)["id"]
            status, raw = self.conn.request("DELETE", f"/api/v1/orders/{order_id}?exchange={self.market['exchange']}")
            assert status == 200, raw
            time.sleep(0.05)


def phase(base_url: str, maker, seconds: float, procs: int, threads: int) -> tuple[dict, float, float]:
    """sandbox_load's run over a window whose start and end this process knows."""
    start_at = time.monotonic() + 3
    deadline = start_at + seconds
    with mp.get_context("spawn").Pool(procs) as pool:
        parts = pool.map(sandbox_load.drive, [(base_url, None, maker, start_at, deadline, threads, seed) for seed in range(procs)])
    statuses: Counter = Counter()
    for part in parts:
        statuses.update(part["statuses"])
    return {"ok": statuses.get(200, 0), "statuses": dict(statuses), "rate": statuses.get(200, 0) / seconds}, start_at, deadline


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run_round(args, label: str, base_url: str, prober: str, probe_market: dict, probe_book: str, maker, books: list[str]) -> None:
    probe = Probe(base_url, prober, probe_market, time.monotonic() + 3 + args.seconds + 1)
    probe.start()
    baseline, _, _ = phase(base_url, maker, args.seconds, args.procs, args.threads)
    probe.join()
    print(f"{label}without stream clients: {baseline['rate']:8.1f} placements/s  statuses {baseline['statuses']}")

    context = mp.get_context("spawn")
    ready, stop, results = context.Event(), context.Event(), context.Queue()
    url = base_url.replace("http://", "ws://") + "/ws"
    watcher = context.Process(target=stream_clients, args=(url, sandbox_load.BUILDER_KEY, books, probe_book, args.clients, ready, stop, results))
    watcher.start()
    if not ready.wait(60):
        raise RuntimeError("the stream clients did not subscribe in time")
    probe = Probe(base_url, prober, probe_market, time.monotonic() + 3 + args.seconds + 1)
    probe.start()
    loaded, start_at, deadline = phase(base_url, maker, args.seconds, args.procs, args.threads)
    probe.join()
    time.sleep(1)  # the last deltas reach the clients
    stop.set()
    per_client = results.get(timeout=60)
    watcher.join(30)

    kinds: Counter = Counter()
    delivered = 0
    for _, counts, times, _ in per_client:
        kinds.update(counts)
        delivered += sum(1 for t in times if start_at <= t <= deadline)
    from_answer, from_request = [], []
    for parsec_id, _, _, deltas in per_client:
        if parsec_id != probe_book:
            continue
        if len(deltas) != len(probe.placements):
            print(f"  a client saw {len(deltas)} probe deltas for {len(probe.placements)} probes")
        for (started, answered), seen in zip(probe.placements, deltas, strict=False):
            from_answer.append((seen - answered) * 1000)
            from_request.append((seen - started) * 1000)
    print(f"{label}with {args.clients} stream clients: {loaded['rate']:8.1f} placements/s  statuses {loaded['statuses']}  "
          f"({loaded['rate'] / baseline['rate'] * 100:.0f} % of the run without clients); target >= 500/s")
    print(f"{label}stream: {delivered / args.seconds:,.0f} messages/s delivered to the clients during the load "
          f"({', '.join(f'{k} {v}' for k, v in sorted(kinds.items()))} in all)")
    if from_answer:
        print(f"{label}placement answer -> its orderbook_delta at the clients: p50 {percentile(from_answer, 0.5):.1f} ms, "
              f"p99 {percentile(from_answer, 0.99):.1f} ms (request start -> delta: p50 {percentile(from_request, 0.5):.1f} ms, "
              f"p99 {percentile(from_request, 0.99):.1f} ms; {len(from_answer)} samples, mean {statistics.fmean(from_answer):.1f} ms)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--markets", type=int, default=10)
    parser.add_argument("--procs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--customers", type=int, default=6)
    parser.add_argument("--base-url")
    parser.add_argument("--admin-key", default="sandbox-admin-test-key")
    args = parser.parse_args()

    sandbox = None
    base_url = args.base_url
    if base_url is None:
        from tests.sandbox_client import start_sandbox

        sandbox = start_sandbox(Path(tempfile.mkdtemp(prefix="sandbox-ws-")), seed=7)
        base_url, args.admin_key = sandbox.base_url, sandbox.admin_key
    try:
        customers, markets = sandbox_load.setup(base_url, args.admin_key, args.customers + 1, "on")
        prober, customers = customers[0], customers[1:]
        api = sandbox_load.Conn(base_url, {"X-API-Key": sandbox_load.BUILDER_KEY})
        by_market_id = {}
        for exchange in ("polymarket", "kalshi"):
            _, raw = api.request("GET", f"/api/v1/markets?exchanges={exchange}&limit=100")
            for market in json.loads(raw)["markets"]:
                by_market_id[market.get("condition_id") or market["exchange_market_id"]] = market
        watched = markets[: args.markets]
        books = [by_market_id[m["market_id"]]["parsec_id"] for m in watched]
        # The probe's book: the highest price, so that PROBE_PRICE stays far below the makers' bids.
        probe_market = max(watched, key=lambda m: by_market_id[m["market_id"]]["last_price"])
        probe_book = by_market_id[probe_market["market_id"]]["parsec_id"]
        maker = sandbox_load.OrderMaker(customers, markets, 0.3)
        print(f"sandbox {base_url}: {len(customers)} customers, {len(markets)} binary markets, {args.procs} driver processes x "
              f"{args.threads} threads; {args.clients} stream clients over {len(books)} books; probe book {probe_book}")

        for round_ in range(1, args.rounds + 1):
            label = f"round {round_}: " if args.rounds > 1 else ""
            run_round(args, label, base_url, prober, probe_market, probe_book, maker, books)
    finally:
        if sandbox is not None:
            from tests.sandbox_client import stop_sandbox

            stop_sandbox(sandbox)


if __name__ == "__main__":
    main()
