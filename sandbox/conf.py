"""The sandbox's knobs: every choice the Parsec sources leave open (NOTES §12, [CHOOSE]).

Each is read once from the environment with the suggested default, so a test or an operator
changes behaviour by starting the process with another value, never by editing code.
"""

from __future__ import annotations

from decimal import Decimal

import environ
from django.core.exceptions import ImproperlyConfigured

env = environ.Env()

# Accounts
SANDBOX_DEMO_BALANCE_USDC = env.int("SANDBOX_DEMO_BALANCE_USDC", default=1000)  # per exchange, every new end-user
SANDBOX_DEFAULT_QPS_LIMIT = env.int("SANDBOX_DEFAULT_QPS_LIMIT", default=10)
SANDBOX_BUILDER_QPS_POOL = env.int("SANDBOX_BUILDER_QPS_POOL", default=500)
SANDBOX_END_USER_TIER = env.str("SANDBOX_END_USER_TIER", default="free")
SANDBOX_USER_STATUS = env.str("SANDBOX_USER_STATUS", default="complete")  # DOCS/SDK "complete" vs SPEC "active"
SANDBOX_ONBOARD_RERUN_STATUS = env.str("SANDBOX_ONBOARD_RERUN_STATUS", default="complete")  # or "already_linked"

# Orders
SANDBOX_FOK_FAILURE_STATUS = env.str("SANDBOX_FOK_FAILURE_STATUS", default="cancelled")  # or "rejected"
SANDBOX_ALLOW_NAKED_SELLS = env.bool("SANDBOX_ALLOW_NAKED_SELLS", default=False)
SANDBOX_PENDING_DELAY_SECONDS = env.int("SANDBOX_PENDING_DELAY_SECONDS", default=0)
SANDBOX_GTD_MIN_SECONDS = env.int("SANDBOX_GTD_MIN_SECONDS", default=60)
SANDBOX_CANCEL_TERMINAL_STATUS = env.int("SANDBOX_CANCEL_TERMINAL_STATUS", default=400)
SANDBOX_CATEGORICAL_PRICE_BAND = env.bool("SANDBOX_CATEGORICAL_PRICE_BAND", default=True)  # 0.01-0.99 for categorical too
SANDBOX_OPEN_ORDERS_INCLUDE_PENDING = env.bool("SANDBOX_OPEN_ORDERS_INCLUDE_PENDING", default=True)
# Exchange fee charged to the taker of each fill, as a fraction of notional (0 is acceptable, §12.5).
SANDBOX_FILL_FEE_RATE = {
    "polymarket": Decimal(env.str("SANDBOX_FILL_FEE_RATE_POLYMARKET", default="0")),
    "kalshi": Decimal(env.str("SANDBOX_FILL_FEE_RATE_KALSHI", default="0.01")),
}

# Market lifecycle (sandbox.lifecycle). The sources do not describe resolution (NOTES §12.6).
# A market whose end_date passes is closed (trading halted, live orders cancelled) by the clock's
# tick, as Kalshi closes at close_time; false: it stays active until the control plane acts.
SANDBOX_CLOSE_AT_END_DATE = env.bool("SANDBOX_CLOSE_AT_END_DATE", default=True)
# What a voided (cancelled) market pays per share: "even" = 1/N of a USDC per outcome share
# (Polymarket resolves such markets 50-50), "cost" = the holder's average price back.
VOID_RULES = ("even", "cost")
SANDBOX_VOID_RULE = {
    "polymarket": env.str("SANDBOX_VOID_RULE_POLYMARKET", default="even"),
    "kalshi": env.str("SANDBOX_VOID_RULE_KALSHI", default="cost"),
}
# The status a voided market is listed with: Parsec's common values have none for it.
SANDBOX_VOID_STATUS = env.str("SANDBOX_VOID_STATUS", default="resolved")
if not set(SANDBOX_VOID_RULE.values()) <= set(VOID_RULES):
    raise ImproperlyConfigured(f"SANDBOX_VOID_RULE_* must be one of {', '.join(VOID_RULES)}")
if SANDBOX_VOID_STATUS in ("active", "closed"):
    raise ImproperlyConfigured("SANDBOX_VOID_STATUS cannot be a status of an open market")

# Market makers and time
SANDBOX_TICK_SECONDS = env.float("SANDBOX_TICK_SECONDS", default=1.0)  # real seconds between background ticks
SANDBOX_MM_STEP_SECONDS = env.int("SANDBOX_MM_STEP_SECONDS", default=60)  # simulated seconds between quote moves
SANDBOX_MM_LEVELS = env.int("SANDBOX_MM_LEVELS", default=5)
SANDBOX_MM_MAX_STEPS_PER_TICK = env.int("SANDBOX_MM_MAX_STEPS_PER_TICK", default=240)

# Server
# Server threads take turns through whole requests (sandbox.serial): faster under the GIL, and
# two threads suffice (a sleeping fault borrows another); without turns, use more threads.
SANDBOX_SERIAL_REQUESTS = env.bool("SANDBOX_SERIAL_REQUESTS", default=True)
SANDBOX_THREADS = env.int("SANDBOX_THREADS", default=2 if SANDBOX_SERIAL_REQUESTS else 8)

# Stream (/ws, sandbox.stream; NOTES §10)
SANDBOX_WS_AUTH_TIMEOUT_SECONDS = env.float("SANDBOX_WS_AUTH_TIMEOUT_SECONDS", default=15.0)
SANDBOX_WS_HEARTBEAT_SECONDS = env.float("SANDBOX_WS_HEARTBEAT_SECONDS", default=20.0)
SANDBOX_WS_CONTROL_PER_SECOND = env.int("SANDBOX_WS_CONTROL_PER_SECOND", default=3)  # subscribe + unsubscribe + resync
# Messages waiting for one connection before it is a slow reader: its books stop (slow_reader, resync_required).
SANDBOX_WS_QUEUE_LIMIT = env.int("SANDBOX_WS_QUEUE_LIMIT", default=2000)
SANDBOX_WS_STALE_AFTER_MS = env.int("SANDBOX_WS_STALE_AFTER_MS", default=5000)  # the docs' example value

# Chain (sandbox.chain): the local Polygon stand-in where the fee escrow runs
SANDBOX_CHAIN_BLOCK_SECONDS = env.float("SANDBOX_CHAIN_BLOCK_SECONDS", default=2.0)  # Polygon's ~2 s; 0: only when asked
SANDBOX_CHAIN_BLOCK_GAS = env.int("SANDBOX_CHAIN_BLOCK_GAS", default=30_000_000)  # gas a timed block takes from the mempool
# While requests are waiting, the block producer takes at most this share of the server's time
# (py-evm is pure Python: a pull costs ~10 ms); idle, it mines as fast as it can.
SANDBOX_CHAIN_BUSY_SHARE = env.float("SANDBOX_CHAIN_BUSY_SHARE", default=0.1)
# Empty blocks keep coming this long after the last transaction (so confirmations accrue), then the chain idles.
SANDBOX_CHAIN_IDLE_BLOCKS = env.int("SANDBOX_CHAIN_IDLE_BLOCKS", default=600)
SANDBOX_CHAIN_DEMO_USDC = env.int("SANDBOX_CHAIN_DEMO_USDC", default=10_000)  # mock USDC per demo wallet at genesis
SANDBOX_CHAIN_MAX_LOG_BLOCKS = env.int("SANDBOX_CHAIN_MAX_LOG_BLOCKS", default=5_000)  # eth_getLogs range cap, like RPC providers
SANDBOX_CHAIN_MAX_LOG_RESULTS = env.int("SANDBOX_CHAIN_MAX_LOG_RESULTS", default=10_000)
