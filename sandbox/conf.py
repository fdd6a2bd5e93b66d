"""The sandbox's knobs: every choice the Parsec sources leave open (NOTES §12, [CHOOSE]).

Each is read once from the environment with the suggested default, so a test or an operator
changes behaviour by starting the process with another value, never by editing code.
"""

from __future__ import annotations

from decimal import Decimal

import environ

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
