"""Shared by the bench/sync_*.py scripts: a scratch PostgreSQL database and a sandbox process.

Each script creates its own database on 127.0.0.1:5432 (user postgres), migrates it, and drops
it at the end, so it never touches the `test` database's contents.
"""

from __future__ import annotations

import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PG = "postgres://postgres@127.0.0.1:5432"
MAINTENANCE_DB = f"{PG}/postgres"  # where databases are created and dropped; not "test", which CI recreates


@contextmanager
def scratch_database(name: str, **env):
    """Point Django at a fresh database, run migrations, drop it afterwards."""
    import psycopg

    db = f"{name}_{os.getpid()}"
    with psycopg.connect(MAINTENANCE_DB, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db}"')
        conn.execute(f'CREATE DATABASE "{db}"')
    os.environ.update({"DATABASE_URL": f"{PG}/{db}", "DJANGO_SETTINGS_MODULE": "backoffice.settings", **env})
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    try:
        yield db
    finally:
        from django.db import connections

        connections.close_all()
        with psycopg.connect(MAINTENANCE_DB, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


@contextmanager
def sandbox_process(tmp: Path, **env):
    """The real sandbox (its own SQLite file) on a free port, as the tests start it."""
    from tests.sandbox_client import start_sandbox, stop_sandbox

    proc = start_sandbox(tmp, extra_env={k: str(v) for k, v in env.items()})
    try:
        yield proc
    finally:
        stop_sandbox(proc)


class Timer:
    def __enter__(self):
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.started
