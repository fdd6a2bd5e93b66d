"""Shared fixtures: personas for the three roles and a real sandbox process.

The sandbox runs as its own process (``manage.py parsec_sandbox``, see tests/sandbox_client.py)
on a free port with its own SQLite file, exactly as an operator starts it; tests reach it over
HTTP, through the official SDK or through our gateway.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.sandbox_client import ROOT, SandboxProcess, start_sandbox, stop_sandbox


@pytest.fixture
def eager_celery():
    """Tasks run in the caller, at once (the worker tests run a real worker instead)."""
    from backoffice.celery import app as celery_app

    celery_app.conf.task_always_eager = True
    yield celery_app
    celery_app.conf.task_always_eager = False


# --- The database as the app's least-privileged role (CI's PostgreSQL pass) ---------------------

def _sign_in_default_as(account: dict) -> None:
    from django.db import connections

    connection = connections["default"]
    connection.close()
    connection.settings_dict.update({key: account[key] for key in ("USER", "PASSWORD")})


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    """With DATABASE_OWNER_URL set, the test database is created and migrated by the owner role
    (the app's role may not create databases or tables) ..."""
    from django.conf import settings

    if settings.DATABASE_OWNER:
        from django.db import connections

        app = {key: connections["default"].settings_dict.get(key) for key in ("USER", "PASSWORD")}
        settings.DATABASE_APP_ACCOUNT = app
        _sign_in_default_as({key: settings.DATABASE_OWNER.get(key) for key in ("USER", "PASSWORD")})


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """... and the tests then run as the app's role, exactly as the product does; the owner drops
    the database at the end."""
    from django.conf import settings

    app = getattr(settings, "DATABASE_APP_ACCOUNT", None)
    if app is None:
        yield
        return
    owner = {key: settings.DATABASE_OWNER.get(key) for key in ("USER", "PASSWORD")}
    with django_db_blocker.unblock():
        _sign_in_default_as(app)
    yield
    with django_db_blocker.unblock():
        _sign_in_default_as(owner)


@pytest.fixture(autouse=True)
def _own_audit_checkpoints(settings, tmp_path):
    """Each test checkpoints the audit chain into its own folder: another test's flushed database
    would otherwise look like a wiped log."""
    settings.AUDIT_CHECKPOINT_DIR = str(tmp_path / "audit-checkpoints")


@pytest.fixture(autouse=True)
def _fresh_market_pk_cache():
    """orders.sync caches market pks; a rolled-back test's pks must not leak into the next test."""
    from orders.sync import forget_market_pks

    forget_market_pks()
    yield
    forget_market_pks()


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory) -> SandboxProcess:
    """One sandbox process for the whole test session."""
    proc = start_sandbox(tmp_path_factory.mktemp("sandbox"))
    yield proc
    stop_sandbox(proc)


@pytest.fixture
def parsec_settings(settings, sandbox):
    """Point the back-office's gateway at the test sandbox."""
    settings.PARSEC_API_BASE_URL = sandbox.base_url
    settings.PARSEC_API_KEY = sandbox.builder_key
    return settings


# --- Trading: a customer ready to trade, a real end-user at the sandbox, one-shot faults ---------

@pytest.fixture
def trading_customer(db):
    """An active customer linked to both exchanges with 1,000 USDC on each (mirror rows only)."""
    from tests import factories as f

    customer = f.customer()
    for exchange in ("polymarket", "kalshi"):
        f.ExchangeLinkFactory(customer=customer, exchange=exchange)
        f.balance(customer, exchange, "1000")
    return customer


@pytest.fixture
def capture_enqueues(monkeypatch) -> list[tuple[str, tuple, float]]:
    """Record the hints the services give the broker instead of sending them (tests run the
    reconciliation themselves, at the moment they choose)."""
    from orders.services import common

    sent: list[tuple[str, tuple, float]] = []
    monkeypatch.setattr(common, "safe_delay", lambda task, *args, countdown=0: sent.append((task.name, args, countdown)))
    return sent


@pytest.fixture
def sandbox_customer(parsec_settings, transactional_db):
    """A fresh end-user at the sandbox, onboarded (managed) to Polymarket and (self) to Kalshi,
    mirrored with its balances; plus the sandbox's active binary markets in the catalogue."""
    from parsec.client import get_client
    from tests.sandbox_client import sync_catalogue, sync_one_customer

    client = get_client()
    user = client.create_user(external_id=f"trading-test-{uuid.uuid4().hex[:10]}", email="t@example.com")
    client.onboard(customer_id=user.customer_id, exchange="polymarket", mode="managed")
    sync_catalogue()
    customer = sync_one_customer(user.customer_id)
    assert customer.exchange_links.filter(exchange="polymarket").exists()
    assert customer.balance_snapshots.filter(exchange="polymarket").exists()
    return customer


@pytest.fixture
def fault(sandbox, sandbox_customer):
    """Inject one fault on this customer's next order creation (and clear it afterwards)."""
    ids = []

    def inject(kind: str, **extra):
        rule = sandbox.control("POST", "faults", json={
            "kind": kind, "endpoint": "orders.create", "customer_id": str(sandbox_customer.parsec_customer_id),
            "count": 1, **extra,
        }).json()
        ids.append(rule["id"])

    yield inject
    for rule_id in ids:
        sandbox.control("DELETE", f"faults/{rule_id}")


@pytest.fixture
def qps_pool(sandbox):
    """Set the sandbox builder's QPS pool (the session's sandbox accumulates end-users at 10 QPS
    each, so a test that raises a qps_limit names the pool it needs); restored afterwards."""
    def set_pool(qps: int) -> None:
        sandbox.control("POST", f"builders/{sandbox.builder_key}/pool", json={"qps_pool": qps})

    yield set_pool
    set_pool(500)


@pytest.fixture
def escrow_settings(parsec_settings, sandbox):
    parsec_settings.PARSEC_SANDBOX_ADMIN_KEY = sandbox.admin_key
    return parsec_settings


@pytest.fixture
def alice(escrow_settings):
    """The sandbox's demo end-user whose wallet the sandbox signs for, mirrored with the catalogue."""
    from tests.fee_escrow import demo_customer
    from tests.sandbox_client import sync_catalogue

    sync_catalogue()
    return demo_customer()


# --- Personas -----------------------------------------------------------------

def _staff(django_user_model, username: str, role: str | None):
    from django.contrib.auth.models import Group

    user = django_user_model.objects.create_user(username=username, password="correct-horse-battery", is_staff=True)
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def operator(db, django_user_model):
    return _staff(django_user_model, "olivia.operator", "Operations")


@pytest.fixture
def second_operator(db, django_user_model):
    return _staff(django_user_model, "oscar.operator", "Operations")


@pytest.fixture
def reviewer(db, django_user_model):
    return _staff(django_user_model, "carla.compliance", "Compliance")


@pytest.fixture
def administrator(db, django_user_model):
    return _staff(django_user_model, "ada.admin", "Administrators")


@pytest.fixture
def operator_client(client, operator):
    client.force_login(operator)
    return client


@pytest.fixture
def reviewer_client(client, reviewer):
    client.force_login(reviewer)
    return client


# --- A real Celery worker (production-shape pass only) ---------------------------

def pytest_collection_modifyitems(config, items):
    """``worker`` tests need Redis as the broker; on the filesystem default they are deselected."""
    if os.environ.get("CELERY_BROKER_URL", "").startswith("redis"):
        return
    kept = [item for item in items if item.get_closest_marker("worker") is None]
    if len(kept) != len(items):
        config.hook.pytest_deselected(items=[item for item in items if item.get_closest_marker("worker") is not None])
        items[:] = kept


class CeleryWorkerProcess:
    """``celery worker`` processes on the test database; ``start()`` one, ``kill()`` it (SIGKILL)."""

    def __init__(self, tmp_dir: Path, env: dict):
        self.tmp_dir, self.env, self.processes = tmp_dir, env, []

    def start(self, **extra_env) -> subprocess.Popen:
        log = open(self.tmp_dir / f"worker-{len(self.processes)}.log", "w")  # noqa: SIM115 (kept open for the process's life)
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "backoffice", "worker", "--loglevel", "INFO", "--concurrency", "1",
             "--without-gossip", "--without-mingle", "--without-heartbeat", "-n", f"test{len(self.processes)}@%h"],
            cwd=ROOT, env={**self.env, **{k: str(v) for k, v in extra_env.items()}}, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes.append(process)
        return process

    def kill(self, process: subprocess.Popen) -> None:
        """SIGKILL the worker and its pool children at once, as the OOM killer would."""
        import signal

        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def logs(self) -> str:
        return "\n".join(p.read_text() for p in sorted(self.tmp_dir.glob("worker-*.log")))

    def stop_all(self) -> None:
        import signal

        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)


@pytest.fixture
def celery_worker_process(transactional_db, tmp_path, settings):
    """Real worker processes on Redis that use *this test's* database (pass DATABASE_URL)."""
    from django.db import connection

    db = connection.settings_dict
    if connection.vendor != "postgresql":
        pytest.skip("a worker process needs a database it can share: run with DATABASE_URL=postgres://...")
    url = f"postgres://{db['USER']}:{db.get('PASSWORD') or ''}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    env = {
        **os.environ, "DATABASE_URL": url, "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "PARSEC_API_BASE_URL": settings.PARSEC_API_BASE_URL, "PARSEC_API_KEY": settings.PARSEC_API_KEY, "PYTHONUNBUFFERED": "1",
    }
    workers = CeleryWorkerProcess(tmp_path, env)
    yield workers
    workers.stop_all()
