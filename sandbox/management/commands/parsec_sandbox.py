"""Run the local Parsec: ``python manage.py parsec_sandbox [--port 3000] [--seed N] [--reset]``.

Started under the back-office's settings, it re-executes itself with
DJANGO_SETTINGS_MODULE=sandbox.settings (no sessions/CSRF/login middleware, both database
aliases on the sandbox database). It migrates its database, wipes it first with --reset,
seeds it when empty, then serves /api/v1, /_sandbox and the /ws stream on one port of
127.0.0.1 (sandbox.server: uvicorn, with the WSGI application in a few request threads) while a
background thread runs the clock's tick.
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

SANDBOX_SETTINGS = "sandbox.settings"


class Command(BaseCommand):
    help = "Run the stateful local Parsec sandbox (REST API under /api/v1/, control plane under /_sandbox/)."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=3000)
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument("--reset", action="store_true", help="wipe the sandbox database first")
        parser.add_argument("--threads", type=int, default=None)
        parser.add_argument("--demo-activity", action="store_true", help="on a fresh seed, give the demo customers some trades")

    def handle(self, *args, **options):
        if os.environ.get("DJANGO_SETTINGS_MODULE") != SANDBOX_SETTINGS or settings.ROOT_URLCONF != "sandbox.urls":
            env = {**os.environ, "DJANGO_SETTINGS_MODULE": SANDBOX_SETTINGS}
            manage = Path(settings.BASE_DIR) / "manage.py"
            os.execve(sys.executable, [sys.executable, str(manage), "parsec_sandbox", *sys.argv[2:]], env)  # noqa: S606 (a fixed argv)
        from sandbox import clock, conf, seed

        if options["reset"]:
            self._wipe()
        call_command("migrate", "sandbox", database="sandbox", verbosity=0, interactive=False)
        clock.forget_offset()
        if seed.seed(options["seed"]):
            self.stdout.write(f"seeded the sandbox with seed {options['seed']}")
            if options["demo_activity"]:
                self.stdout.write(f"placed {seed.demo_activity(options['seed'])} demo orders for the demo customers")
        from sandbox.chain import mempool, node, producer

        chain = node.get()  # loads the chain, or creates it at genesis
        mempool.sync_splits(now=clock.now())
        from django.db import connections

        connections.close_all()
        stop = threading.Event()
        ticker = threading.Thread(target=clock.run_ticker, args=(stop,), name="sandbox-clock", daemon=True)
        ticker.start()
        if conf.SANDBOX_CHAIN_BLOCK_SECONDS > 0:
            threading.Thread(target=producer.run, args=(stop,), name="sandbox-chain", daemon=True).start()
        self.stdout.write(f"chain {node.CHAIN_ID} (escrow {node.ESCROW_ADDRESS}) at block {chain.head.block_number}, "
                          f"JSON-RPC on /_chain, a block every {conf.SANDBOX_CHAIN_BLOCK_SECONDS:g} s "
                          f"({'on request only' if conf.SANDBOX_CHAIN_BLOCK_SECONDS <= 0 else 'timed'})")
        from sandbox import control, server
        from sandbox.wsgi import application

        threads = options["threads"] or conf.SANDBOX_THREADS
        self.stdout.write(f"Parsec sandbox on http://{options['host']}:{options['port']} ({threads} threads; "
                          f"stream on ws://{options['host']}:{options['port']}/ws)")
        self.stdout.write(control.startup_note())
        try:
            server.serve(application, host=options["host"], port=options["port"], threads=threads)
        finally:
            stop.set()

    def _wipe(self) -> None:
        database = settings.DATABASES["sandbox"]
        if database["ENGINE"].endswith("sqlite3"):
            from django.db import connections

            connections.close_all()
            for suffix in ("", "-wal", "-shm"):
                Path(f"{database['NAME']}{suffix}").unlink(missing_ok=True)
        else:
            call_command("migrate", "sandbox", "zero", database="sandbox", verbosity=0, interactive=False)
            from django.db import connections as conns

            with conns["sandbox"].cursor() as cursor:
                cursor.execute("DELETE FROM django_migrations WHERE app = 'sandbox'")
