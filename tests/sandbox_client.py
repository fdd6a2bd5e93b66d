"""The real sandbox as tests and benchmarks use it: a process on a free port with its own SQLite
file (started exactly as an operator starts it), and what an end-user does there through Parsec's
official SDK (create and onboard a user, trade), and the mirror of it written through the sync.
Imports of the product stay inside the functions: the benchmarks import this before Django is set up."""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
SANDBOX_ADMIN_KEY = "sandbox-admin-test-key"
SANDBOX_BUILDER_KEY = "pk_sandbox_demo_builder_key"


# Ports for the servers tests start, below the kernel's ephemeral range (32768-60999 here): a port
# the kernel hands out by bind(0) can be given, before our server binds it, to any outgoing
# connection or to another worker's bind(0) (seen: run_product's "Port ... is taken" once in 8
# suite runs). Each xdist worker draws from its own slice, never handing out one port twice.
_PORT_FLOOR, _PORT_SLICE = 20000, 1500
_ports_handed: set[int] = set()


def free_port() -> int:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    start = _PORT_FLOOR + (int(worker) if worker.isdigit() else 0) % 8 * _PORT_SLICE
    offset = random.randrange(_PORT_SLICE)
    for step in range(_PORT_SLICE):
        port = start + (offset + step) % _PORT_SLICE
        if port in _ports_handed:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue  # someone listens there (or it lingers): the next one
        _ports_handed.add(port)
        return port
    raise RuntimeError(f"no free port in {start}-{start + _PORT_SLICE - 1}")


@dataclass
class SandboxProcess:
    base_url: str
    builder_key: str
    admin_key: str
    process: subprocess.Popen
    log_path: Path
    database: Path | None = None  # its SQLite file

    def control(self, method: str, path: str, **kwargs) -> requests.Response:
        """Call the sandbox control plane (/_sandbox/...)."""
        headers = {"X-Sandbox-Admin-Key": self.admin_key, **kwargs.pop("headers", {})}
        response = requests.request(method, f"{self.base_url}/_sandbox/{path.lstrip('/')}", headers=headers, timeout=30, **kwargs)
        response.raise_for_status()
        return response

    def mine(self) -> dict:
        """Mine the sandbox chain now (what the sandbox queued goes into a block): no waiting for its cadence."""
        return self.control("POST", "chain/mine").json()

    def quotes_hold_for(self, seconds: float) -> None:
        """Return when the makers will not requote for at least ``seconds`` (the sandbox's clock
        says when they next do): a requote between a test's read of the book and its order refills
        the levels the test counted on (seen: a fill-or-kill sized past the depth it read filled,
        once in 9 suite runs)."""
        state = self.control("GET", "clock").json()
        if seconds >= state["maker_step_seconds"]:
            raise ValueError(f"the makers requote every {state['maker_step_seconds']} s: cannot hold {seconds:g} s")
        if state["next_requote_in_seconds"] < seconds:
            time.sleep(state["next_requote_in_seconds"] + 0.1)

    def sdk(self, **kwargs):
        import parsec_api

        kwargs.setdefault("max_retries", 0)
        return parsec_api.ParsecAPI(api_key=self.builder_key, base_url=self.base_url, **kwargs)


def mine_chain(base_url: str, admin_key: str) -> dict:
    """Mine the chain of the sandbox at ``base_url`` now (for tests that only have the settings)."""
    response = requests.post(f"{base_url}/_sandbox/chain/mine", headers={"X-Sandbox-Admin-Key": admin_key}, timeout=60)
    response.raise_for_status()
    return response.json()


def start_sandbox(tmp_dir: Path, *, seed: int = 7, extra_env: dict | None = None, database: Path | None = None,
                  reset: bool = True, demo_activity: bool = False) -> SandboxProcess:
    """A sandbox process on a free port; ``database`` and ``reset=False`` restart one on its old file."""
    port = free_port()
    log_path = tmp_dir / f"sandbox-{port}.log"
    database = database or tmp_dir / f"sandbox-{port}.sqlite3"
    env = {
        **os.environ,
        "SANDBOX_DATABASE_URL": f"sqlite:///{database}",
        "PARSEC_SANDBOX_ADMIN_KEY": SANDBOX_ADMIN_KEY,
        "PYTHONUNBUFFERED": "1",
        # Rate limits off unless a test turns them on (POST /_sandbox/limits); see tests/sandbox/test_ratelimit.py.
        "SANDBOX_RATE_LIMITS_ENABLED": "false",
        **(extra_env or {}),
    }
    log = open(log_path, "w")  # noqa: SIM115 (kept open for the process's life)
    process = subprocess.Popen(
        [sys.executable, "manage.py", "parsec_sandbox", "--port", str(port), "--seed", str(seed), *(["--reset"] if reset else []),
         *(["--demo-activity"] if demo_activity else [])],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"sandbox exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            if requests.get(f"{base_url}/_sandbox/health", timeout=1).ok:
                return SandboxProcess(base_url, SANDBOX_BUILDER_KEY, SANDBOX_ADMIN_KEY, process, log_path, database)
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"sandbox did not become healthy:\n{log_path.read_text()}")


def stop_sandbox(sandbox: SandboxProcess) -> None:
    sandbox.process.terminate()
    try:
        sandbox.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        sandbox.process.kill()


# --- What an end-user does, through the official SDK ------------------------------------

KALSHI_PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAsandbox\n-----END RSA PRIVATE KEY-----"


def as_user(customer_id: str) -> dict:
    return {"extra_headers": {"X-Builder-Customer-Id": customer_id}}


def order_market_id(market) -> str:
    return market.condition_id or market.exchange_market_id if market.exchange == "polymarket" else market.exchange_market_id


def pick_markets(sdk) -> dict[str, object]:
    page = sdk.markets.list(exchanges=["polymarket", "kalshi"], limit=100)
    chosen = {}
    for market in page.markets:
        if market.market_type == "binary" and market.status == "active":
            chosen.setdefault(market.exchange, market)
    assert set(chosen) == {"polymarket", "kalshi"}, "the seed has an active binary market on each exchange"
    return chosen


def new_customer(sdk, *, prefix: str = "sync") -> str:
    user = sdk.builder.users.create(external_id=f"{prefix}-{uuid.uuid4().hex[:10]}", qps_limit=50)
    sdk.builder.onboard.create(customer_id=user.customer_id, exchange="polymarket", mode="managed")
    sdk.builder.onboard.create(customer_id=user.customer_id, exchange="kalshi", mode="self", api_key_id="kid", private_key=KALSHI_PEM)
    return user.customer_id


def best(sdk, market, side: str) -> Decimal:
    book = sdk.orderbook.retrieve(parsec_id=market.parsec_id, outcome="Yes")
    levels = book.asks if side == "ask" else book.bids
    return Decimal(str(levels[0][0]))


def trade(sdk, customer_id: str, markets: dict) -> dict[str, list[str]]:
    """On each exchange: a buy that fills against the makers, one that rests, one cancelled."""
    placed: dict[str, list[str]] = {}
    for exchange, market in markets.items():
        mid = order_market_id(market)
        tick = Decimal(str(market.tick_size or "0.01"))
        ask, bid = best(sdk, market, "ask"), best(sdk, market, "bid")
        filled = sdk.orders.create(exchange=exchange, market_id=mid, outcome="Yes", side="buy", price=float(ask), size=10, **as_user(customer_id))
        resting = sdk.orders.create(exchange=exchange, market_id=mid, outcome="Yes", side="buy", price=float(max(tick, bid - 5 * tick)), size=7, **as_user(customer_id))
        doomed = sdk.orders.create(exchange=exchange, market_id=mid, outcome="Yes", side="buy", price=float(max(tick, bid - 6 * tick)), size=6, **as_user(customer_id))
        sdk.orders.cancel(doomed.id, exchange=exchange, **as_user(customer_id))
        placed[exchange] = [filled.id, resting.id, doomed.id]
    return placed


# --- The mirror of the sandbox, written through the sync ---------------------------------------


def sync_catalogue() -> None:
    """The market catalogue through the sync (the same mapping production uses)."""
    from sync.models import SyncRun
    from sync.report import start_run
    from sync.steps import sync_markets

    sync_markets(run=start_run(kind=SyncRun.Kind.MARKETS), exchanges=["polymarket", "kalshi"])


def sync_one_customer(customer_id: str):
    """Mirror one end-user (row, wallet, links) and its orders/fills/positions/balances through the sync."""
    from django.utils import timezone

    from customers.models import Customer
    from customers.sync import upsert_users
    from parsec.client import get_client
    from sync.models import SyncRun
    from sync.report import start_run
    from sync.steps import sync_customer

    upsert_users([get_client().get_user(customer_id=customer_id)], now=timezone.now())
    customer = Customer.objects.get(parsec_customer_id=customer_id)
    sync_customer(run=start_run(kind=SyncRun.Kind.CUSTOMER_FULL, customer=customer))
    return customer
