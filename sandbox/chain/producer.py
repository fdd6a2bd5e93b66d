"""The block producer: a server thread that mines a block every SANDBOX_CHAIN_BLOCK_SECONDS.

It takes its turn like a request (sandbox.serial) for slices of at most ``SLICE_SECONDS``;
while requests are waiting it rests between slices so that it takes no more than
SANDBOX_CHAIN_BUSY_SHARE of the server's time (py-evm executes a pull in about 10 ms of pure
Python: placements must not queue behind it). A busy spell only makes the chain lag; it catches
up when the server is quiet. With SANDBOX_CHAIN_BLOCK_SECONDS = 0 there is no producer: blocks
come only from ``POST /_sandbox/chain/mine`` (and around a clock advance).
"""

from __future__ import annotations

import logging
import threading
import time

from sandbox import conf, serial

logger = logging.getLogger("sandbox.chain")
SLICE_SECONDS = 0.02
BUSY_MEMORY_SECONDS = 2.0


def run(stop: threading.Event) -> None:
    from django.db import connections

    from sandbox.chain import node

    chain = node.get()
    share = min(max(conf.SANDBOX_CHAIN_BUSY_SHARE, 0.01), 1.0)
    busy_until = 0.0
    while not stop.is_set():
        # The turn is free for an instant between any two requests: once seen taken, the server
        # counts as busy for a while (a wrong "idle" would build one big block and hold the turn to seal it).
        if serial.busy():
            busy_until = time.monotonic() + BUSY_MEMORY_SECONDS
        busy = time.monotonic() < busy_until
        # Busy: a block of what fits the share of one block interval, so sealing it is short too.
        max_ops = max(1, int(share * conf.SANDBOX_CHAIN_BLOCK_SECONDS / max(chain.op_seconds, 1e-4))) if busy else None
        started = time.monotonic()
        with serial.turn():
            try:
                state = chain.work(seconds=SLICE_SECONDS, max_ops=max_ops)
            except Exception:
                logger.exception("sandbox chain: block production failed")
                state = "idle"
        spent = time.monotonic() - started
        if state == "idle":
            stop.wait(min(max(chain.seconds_until_due(), 0.01), 0.5))
        elif busy:
            stop.wait(spent * (1 - share) / share)
    connections.close_all()
