"""Sustained order placements against the Parsec sandbox, from a second process on loopback.

Starts a sandbox process (its own SQLite file, or the database in SANDBOX_DATABASE_URL when
--keep-env is given) or targets one with --base-url, creates a handful of end-users with a large
balance, then drives ``POST /api/v1/orders`` by impersonation from --procs driver processes with
--threads threads each (one keep-alive HTTP connection per thread) for --seconds.

Orders: a mix over every Polymarket and Kalshi binary market: --cross-share of them cross the
makers' quotes (they fill, IOC on both exchanges), the rest are GTC buys that rest below the book.
--fee-share of them (Polymarket orders, so about twice that share of the Polymarket ones) carry a
fee_auth signed in the driver by a payer wallet of the bench's own: funded with mock USDC by the
sandbox chain's faucet and approved to the escrow with its own transaction during setup (on a
sandbox without a chain, as before issue 18, the fee comes from the exchange balance instead).
The fee is the demo builder's floor, 100000 base units. After the load, the chain's backlog is
printed and, with --drain, how long the chain took to mine it (placements never wait for it).
Printed: placements/s, p50/p90/p99 latency, statuses, and a baseline measured in the same run
with the same concurrency: ``GET /_sandbox/health`` round trips per second (the HTTP server and
client stack with no work behind it).

    .venv/bin/python bench/sandbox_load.py [--seconds 20] [--procs 2] [--threads 8] [--customers 6]
                                           [--fee-share 0.2] [--drain] [--limits on|off] [--base-url URL --admin-key KEY]

--limits on keeps rate limits enabled with the builder pool and every user's qps_limit raised
high enough not to refuse (the bucket code still runs on every call); off switches them off.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import random
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BUILDER_KEY = "pk_sandbox_demo_builder_key"
ESCROW = "0xbd25057b4d3252ca1ec26e1e5efb6480315ba142"
USDC = "0x2791bca1f2de4661ed88a30c99a7a9449aa84174"
FEE = 100_000  # the demo builder's minimum fee: every bench order's notional is small


class Conn:
    """One keep-alive HTTP/1.1 connection (stdlib, so the driver's own cost stays small)."""

    def __init__(self, base_url: str, headers: dict):
        url = urlparse(base_url)
        self.host, self.port, self.headers = url.hostname, url.port, headers
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)

    def request(self, method: str, path: str, body: dict | None = None, headers: dict | None = None) -> tuple[int, bytes]:
        data = json.dumps(body).encode() if body is not None else None
        all_headers = {**self.headers, **(headers or {})}
        if data is not None:
            all_headers["Content-Type"] = "application/json"
        for attempt in (1, 2):
            try:
                self.conn.request(method, path, body=data, headers=all_headers)
                response = self.conn.getresponse()
                return response.status, response.read()
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


def setup(base_url: str, admin_key: str, customers: int, limits: str) -> tuple[list[str], list[dict]]:
    api = Conn(base_url, {"X-API-Key": BUILDER_KEY})
    admin = Conn(base_url, {"X-Sandbox-Admin-Key": admin_key})
    qps = 100_000 if limits == "on" else 10
    ids = []
    for _ in range(customers):
        status, body = api.request("POST", "/api/v1/builder/users", {"external_id": f"load-{uuid.uuid4().hex[:10]}", "qps_limit": qps})
        assert status == 201, body
        customer_id = json.loads(body)["customer_id"]
        status, body = api.request("POST", "/api/v1/builder/onboard", {"customer_id": customer_id, "exchange": "polymarket", "mode": "managed"})
        assert status == 200, body
        status, body = api.request("POST", "/api/v1/builder/onboard", {
            "customer_id": customer_id, "exchange": "kalshi", "mode": "self", "api_key_id": "bench",
            "private_key": "-----BEGIN RSA PRIVATE KEY-----\nbench\n-----END RSA PRIVATE KEY-----"})
        assert status == 200, body
        for exchange in ("polymarket", "kalshi"):
            status, body = admin.request("POST", "/_sandbox/credit", {"customer_id": customer_id, "exchange": exchange, "amount_usdc": 1_000_000})
            assert status == 200, body
        ids.append(customer_id)
    status, body = admin.request("POST", "/_sandbox/limits", {"enabled": limits == "on"})
    assert status == 200, body
    if limits == "on":
        status, body = admin.request("POST", f"/_sandbox/builders/{BUILDER_KEY}/pool", {"qps_pool": 1_000_000})
        assert status == 200, body
    markets = []
    for exchange in ("polymarket", "kalshi"):
        status, body = api.request("GET", f"/api/v1/markets?exchanges={exchange}&limit=100")
        assert status == 200, body
        for market in json.loads(body)["markets"]:
            if market["exchange"] == exchange and market["market_type"] == "binary":
                markets.append({"exchange": exchange, "market_id": market.get("condition_id") or market["exchange_market_id"],
                                "tick": market["tick_size"], "min_size": market["min_order_size"]})
    return ids, markets


def drive(args: tuple) -> dict:
    """One driver process: --threads threads, each its own connection, until the deadline."""
    import threading

    base_url, path, payloads, start_at, deadline, threads, seed = args
    latencies: list[float] = []
    statuses: Counter = Counter()
    lock = threading.Lock()

    def worker(index: int) -> None:
        rng = random.Random(seed * 1000 + index)
        conn = Conn(base_url, {"X-API-Key": BUILDER_KEY})
        mine, counts = [], Counter()
        conn.request("GET", "/_sandbox/health")  # connect before the clock starts
        time.sleep(max(0.0, start_at - time.monotonic()))
        while time.monotonic() < deadline:
            payload = payloads(rng) if callable(payloads) else None
            started = time.perf_counter()
            if payload is None:
                status, _ = conn.request("GET", path)
            else:
                status, _ = conn.request("POST", payload[0], payload[1], payload[2])
            mine.append(time.perf_counter() - started)
            counts[status] += 1
        with lock:
            latencies.extend(mine)
            statuses.update(counts)

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return {"latencies": latencies, "statuses": dict(statuses)}


def rpc(conn: Conn, method: str, params: list):
    status, body = conn.request("POST", "/_chain", {"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
    answer = json.loads(body)
    assert status == 200 and "result" in answer, answer
    return answer["result"]


def fund_payers(base_url: str, admin_key: str, count: int) -> list[str]:
    """Payer wallets (keys of the bench's own) with mock USDC and their approval of the escrow, mined
    before the load (a sandbox without a chain takes the fee from the exchange balance: nothing to fund)."""
    from eth_account import Account
    from eth_utils import keccak, to_checksum_address

    admin = Conn(base_url, {"X-Sandbox-Admin-Key": admin_key})
    keys = ["0x" + Account.create().key.hex().removeprefix("0x") for _ in range(count)]
    status, _ = admin.request("GET", "/_sandbox/chain")
    if status == 404:
        return keys
    chain = Conn(base_url, {})
    for key in keys:
        address = Account.from_key(key).address
        status, body = admin.request("POST", "/_sandbox/chain/faucet", {"address": address, "usdc": str(10**12), "native_wei": str(10**17)})
        assert status == 202, body
    admin.request("POST", "/_sandbox/chain/mine")
    approve = keccak(text="approve(address,uint256)")[:4].hex() + ESCROW[2:].rjust(64, "0") + "f" * 64
    gas_price = int(rpc(chain, "eth_gasPrice", []), 16)
    for key in keys:
        tx = {"chainId": 137, "nonce": 0, "to": to_checksum_address(USDC), "data": "0x" + approve, "gas": 120_000, "maxFeePerGas": gas_price * 10,
              "maxPriorityFeePerGas": 0, "value": 0, "type": 2}
        raw = Account.sign_transaction(tx, key).raw_transaction
        rpc(chain, "eth_sendRawTransaction", ["0x" + bytes(raw).hex()])
    admin.request("POST", "/_sandbox/chain/mine")
    return keys


class OrderMaker:
    """Picklable payload factory: (path, body, headers) for one order."""

    def __init__(self, customers: list[str], markets: list[dict], cross_share: float, fee_share: float = 0.0,
                 payer_keys: list[str] | None = None):
        self.customers, self.markets, self.cross_share = customers, markets, cross_share
        self.fee_share, self.payer_keys = fee_share, payer_keys or []
        self.polymarket = [m for m in markets if m["exchange"] == "polymarket"]

    def __call__(self, rng: random.Random):
        fee = self.fee_share and rng.random() < self.fee_share
        market = rng.choice(self.polymarket if fee else self.markets)
        customer = rng.choice(self.customers)
        size = max(float(market["min_size"]), 5.0)
        if rng.random() < self.cross_share:
            body = {"market_id": market["market_id"], "outcome": "Yes", "side": "buy", "price": 0.97, "size": size,
                    "params": {"order_type": "ioc"}}
        else:
            price = round(rng.randint(1, 8) / 100, 2)  # well below the makers' bids: rests
            body = {"market_id": market["market_id"], "outcome": "Yes", "side": "buy", "price": price, "size": size}
        if fee:
            body.update(self.fee_auth(rng))
        return f"/api/v1/orders?exchange={market['exchange']}", body, {"X-Builder-Customer-Id": customer}

    def fee_auth(self, rng: random.Random) -> dict:
        """A PullFee signature as a wallet makes it, from the EIP-712 digest computed directly (the
        driver's own cost must stay small: eth-account's typed-data encoder takes a few ms)."""
        from eth_abi import encode
        from eth_keys import keys
        from eth_utils import keccak

        key = rng.choice(self.payer_keys)
        if key not in _signers:  # per driver process: deriving the address costs more than signing
            private = keys.PrivateKey(bytes.fromhex(key[2:]))
            _signers[key] = (private, private.public_key.to_checksum_address())
        private, payer = _signers[key]
        order_id = secrets.token_bytes(32)  # never the same twice, whatever the seed
        deadline = int(time.time()) + 3600
        struct = keccak(encode(["bytes32", "bytes32", "address", "uint256", "uint256"], [PULL_FEE_TYPEHASH, order_id, payer, FEE, deadline]))
        signature = private.sign_msg_hash(keccak(b"\x19\x01" + DOMAIN_SEPARATOR + struct))
        v, r, s = signature.vrs
        raw = r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([v + 27])
        return {"fee_auth": {"order_id": "0x" + order_id.hex(), "payer": payer, "fee_amount": str(FEE), "deadline": deadline,
                             "signature": "0x" + raw.hex()}, "payer_address": payer}


def _domain_separator() -> tuple[bytes, bytes]:
    from eth_abi import encode
    from eth_utils import keccak

    domain = keccak(text="EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)")
    separator = keccak(encode(["bytes32", "bytes32", "bytes32", "uint256", "address"],
                              [domain, keccak(text="ParsecFeeEscrow"), keccak(text="1"), 137, ESCROW]))
    return separator, keccak(text="PullFee(bytes32 orderId,address payer,uint256 feeAmount,uint256 deadline)")


DOMAIN_SEPARATOR, PULL_FEE_TYPEHASH = _domain_separator()
_signers: dict = {}


def run_phase(base_url: str, path: str | None, payloads, seconds: float, procs: int, threads: int) -> dict:
    # Spawned processes share the machine's monotonic clock: every thread starts at start_at (after
    # the processes have started and connected) and stops at the deadline; rates are over that window.
    start_at = time.monotonic() + 3
    deadline = start_at + seconds
    with mp.get_context("spawn").Pool(procs) as pool:
        parts = pool.map(drive, [(base_url, path, payloads, start_at, deadline, threads, seed) for seed in range(procs)])
    wall = seconds
    latencies = sorted(x for part in parts for x in part["latencies"])
    statuses: Counter = Counter()
    for part in parts:
        statuses.update(part["statuses"])
    n = len(latencies)
    pick = lambda q: latencies[min(n - 1, int(q * n))] * 1000  # noqa: E731
    return {"count": n, "rate": n / wall, "wall": wall, "p50": pick(0.50), "p90": pick(0.90), "p99": pick(0.99),
            "mean": statistics.fmean(latencies) * 1000 if n else 0, "statuses": dict(statuses)}


def show(label: str, r: dict) -> None:
    print(f"{label:28} {r['rate']:8.1f} req/s  n={r['count']:6d}  p50 {r['p50']:6.1f} ms  p90 {r['p90']:6.1f} ms  "
          f"p99 {r['p99']:6.1f} ms  statuses {r['statuses']}")


def report_chain(base_url: str, admin_key: str, *, drain: bool) -> None:
    admin = Conn(base_url, {"X-Sandbox-Admin-Key": admin_key})
    status, body = admin.request("GET", "/_sandbox/chain")
    if status != 200:
        print("no sandbox chain (fees taken from the exchange balance)")
        return
    state = json.loads(body)
    print(f"chain right after the load: block {state['block_number']}, {state['queued']} escrow operations queued, {state['failed']} failed")
    if not drain:
        return
    started = time.monotonic()
    while state["queued"] and time.monotonic() - started < 600:
        time.sleep(1)
        state = json.loads(admin.request("GET", "/_sandbox/chain")[1])
    print(f"chain drained in {time.monotonic() - started:.1f} s: block {state['block_number']}, "
          f"{state['queued']} queued, {state['failed']} failed")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--baseline-seconds", type=float, default=5)
    parser.add_argument("--procs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--customers", type=int, default=6)
    parser.add_argument("--cross-share", type=float, default=0.3)
    parser.add_argument("--fee-share", type=float, default=0.0, help="share of orders with a fee_auth (Polymarket)")
    parser.add_argument("--drain", action="store_true", help="after the load, wait (up to 10 min) for the chain to mine its backlog")
    parser.add_argument("--limits", choices=("on", "off"), default="on")
    parser.add_argument("--base-url")
    parser.add_argument("--admin-key", default="sandbox-admin-test-key")
    parser.add_argument("--sandbox-threads", type=int, default=None, help="SANDBOX_THREADS of the started sandbox")
    args = parser.parse_args()

    sandbox = None
    base_url = args.base_url
    if base_url is None:
        from tests.sandbox_client import start_sandbox

        extra = {"SANDBOX_THREADS": str(args.sandbox_threads)} if args.sandbox_threads else {}
        sandbox = start_sandbox(Path(tempfile.mkdtemp(prefix="sandbox-load-")), seed=7, extra_env=extra)
        base_url, args.admin_key = sandbox.base_url, sandbox.admin_key
    try:
        customers, markets = setup(base_url, args.admin_key, args.customers, args.limits)
        payer_keys = fund_payers(base_url, args.admin_key, args.customers) if args.fee_share else None
        print(f"sandbox {base_url}: {len(customers)} customers, {len(markets)} binary markets, limits {args.limits}, "
              f"{args.procs} driver processes x {args.threads} threads, fee share {args.fee_share:g}")
        baseline = run_phase(base_url, "/_sandbox/health", None, args.baseline_seconds, args.procs, args.threads)
        show("baseline GET /_sandbox/health", baseline)
        maker = OrderMaker(customers, markets, args.cross_share, args.fee_share, payer_keys)
        load = run_phase(base_url, None, maker, args.seconds, args.procs, args.threads)
        show("POST /api/v1/orders", load)
        ok = load["statuses"].get(200, 0)
        print(f"placements accepted: {ok} in {load['wall']:.1f} s = {ok / load['wall']:.1f} placements/s "
              f"({ok / load['wall'] / baseline['rate'] * 100:.0f} % of the health baseline); target >= 500/s")
        if args.fee_share:
            report_chain(base_url, args.admin_key, drain=args.drain)
    finally:
        if sandbox is not None:
            from tests.sandbox_client import stop_sandbox

            stop_sandbox(sandbox)


if __name__ == "__main__":
    main()
