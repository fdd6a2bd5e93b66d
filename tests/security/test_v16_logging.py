"""ASVS V16 (security logging): an audit log nobody can quietly rewrite, and log lines no value can forge.

The chain is keyed (HMAC under AUDIT_CHAIN_KEY, which the database never sees) and its head is
checkpointed outside the database, so ``verify_audit_log`` names each way a powerful insider can
rewrite history: a changed row, a rewrite re-chained with the public hash, a cut tail, a wipe.
Tampering is done with more power than the app has (tests/security/tamper.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, IntegrityError, connection, transaction

from audit import services
from audit.models import AuditEvent
from tests.security.tamper import TABLE, rechain_from, tamper

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]


def record(n: int) -> list[AuditEvent]:
    return [services.record_action(actor="system", action="customer.deactivate", reason=f"step {i}", outcome="ok")
            for i in range(n)]


def verify() -> str:
    """Run verify_audit_log; its output when intact, the CommandError's text when not."""
    from io import StringIO

    out = StringIO()
    try:
        call_command("verify_audit_log", stdout=out)
    except CommandError as exc:
        assert exc.returncode == 1
        return f"BROKEN {exc}"
    return out.getvalue()


def checkpoint_lines(settings) -> list[dict]:
    path = Path(settings.AUDIT_CHECKPOINT_DIR) / "audit-checkpoints.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


# --- The four rewrites ----------------------------------------------------------------------------


def test_a_changed_row_is_reported_as_altered():
    record(5)
    assert "intact" in verify()
    tamper((f"UPDATE {TABLE} SET reason = %s WHERE seq = 3", ["nothing happened"]))
    report = verify()
    assert report.startswith("BROKEN Audit log ALTERED at seq 3"), report


def test_a_rewrite_rechained_with_the_public_hash_is_reported():
    record(5)
    assert "intact" in verify()
    rechain_from(3, reason="nothing happened")
    report = verify()
    assert report.startswith("BROKEN Audit log RECHAINED from seq 3"), report


def test_a_rechained_rewrite_of_the_head_alone_is_caught_by_the_checkpoint():
    record(3)
    assert "intact" in verify()
    rechain_from(3, outcome="rejected")
    report = verify()
    assert report.startswith("BROKEN Audit log RECHAINED from seq 3"), report


def test_a_cut_tail_is_reported_against_the_latest_checkpoint():
    record(5)
    assert "intact" in verify()
    tamper(f"DELETE FROM {TABLE} WHERE seq >= 4")
    report = verify()
    assert report.startswith("BROKEN Audit log CUT after seq 3: rows 4 to 5"), report


def test_a_cut_tail_hidden_under_new_rows_is_still_reported():
    record(5)
    assert "intact" in verify()
    tamper(f"DELETE FROM {TABLE} WHERE seq >= 4")
    record(3)  # the app goes on writing: seqs 4, 5 and 6 again, with new hashes
    report = verify()
    assert report.startswith("BROKEN Audit log RECHAINED from seq 5"), report


def test_a_wipe_is_reported():
    record(4)
    assert "intact" in verify()
    tamper(f"DELETE FROM {TABLE}")
    report = verify()
    assert report.startswith("BROKEN Audit log WIPED: no rows, but the checkpoint"), report


def test_a_gap_in_the_middle_is_reported():
    record(5)
    tamper(f"DELETE FROM {TABLE} WHERE seq = 2")
    assert verify().startswith("BROKEN Audit log GAP at seq 3"), verify()


# --- The key and the checkpoints ---------------------------------------------------------------


def test_the_chain_is_keyed_so_the_public_hash_does_not_verify(settings):
    from tests.security.tamper import public_hash, rows

    record(2)
    stored = list(AuditEvent.objects.order_by("seq").values_list("hash", flat=True))
    assert [public_hash(row) for row in rows()] != stored
    settings.AUDIT_CHAIN_KEY = "another-key-" + "k" * 40
    assert verify().startswith("BROKEN Audit log RECHAINED from seq 1")  # rows under another key are not ours


def test_every_verify_writes_a_signed_checkpoint_to_the_file_and_the_log(settings, caplog):
    record(3)
    head = AuditEvent.objects.order_by("-seq").first()
    caplog.set_level("INFO", logger="audit.checkpoint")
    assert "intact" in verify()
    [line] = checkpoint_lines(settings)
    assert (line["seq"], line["hash"]) == (3, head.hash)
    assert set(line) == {"seq", "hash", "at", "key_id", "reason", "signature"}
    logged = [r for r in caplog.records if r.name == "audit.checkpoint"]
    assert logged and logged[-1].checkpoint == line


def test_a_forged_checkpoint_line_is_reported(settings):
    record(2)
    assert "intact" in verify()
    path = Path(settings.AUDIT_CHECKPOINT_DIR) / "audit-checkpoints.jsonl"
    forged = {**checkpoint_lines(settings)[-1], "seq": 1}
    with path.open("a") as handle:
        handle.write(json.dumps(forged) + "\n")
    assert verify().startswith("BROKEN Audit log CHECKPOINT: line 2 is not signed by the chain key"), verify()


def test_the_scheduled_task_checkpoints_the_head(settings):
    from audit.tasks import write_audit_checkpoint

    record(2)
    write_audit_checkpoint()
    assert [(line["seq"], line["reason"]) for line in checkpoint_lines(settings)] == [(2, "schedule")]


# --- No DML path but appending --------------------------------------------------------------------


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's REPLACE and UPSERT")
@pytest.mark.parametrize("sql", [
    f"INSERT OR REPLACE INTO {TABLE} (id, seq, at, actor_name, action, customer_ref, reason, request, outcome, response, "
    "prev_hash, hash) SELECT id, seq, at, actor_name, action, customer_ref, 'replaced', request, outcome, response, "
    f"prev_hash, hash FROM {TABLE} WHERE seq = 2",
    f"REPLACE INTO {TABLE} (id, seq, at, actor_name, action, customer_ref, reason, request, outcome, response, "
    "prev_hash, hash) SELECT id, seq, at, actor_name, action, customer_ref, 'replaced', request, outcome, response, "
    f"prev_hash, hash FROM {TABLE} WHERE seq = 2",
    f"INSERT INTO {TABLE} (id, seq, at, actor_name, action, customer_ref, reason, request, outcome, response, prev_hash, "
    "hash) SELECT id, seq, at, actor_name, action, customer_ref, reason, request, outcome, response, prev_hash, hash "
    f"FROM {TABLE} WHERE seq = 2 ON CONFLICT DO UPDATE SET reason = 'upserted'",
    f"UPDATE OR REPLACE {TABLE} SET reason = 'replaced' WHERE seq = 2",
    f"INSERT INTO {TABLE} (seq, at, actor_name, action, customer_ref, reason, request, outcome, response, prev_hash, hash) "
    "VALUES (99, '2026-01-01', 'x', 'x', '', '', '{}', 'ok', '{}', '', 'forged-in-the-future')",
])
def test_sqlite_refuses_every_path_but_appending(sql):
    record(3)
    before = list(AuditEvent.objects.order_by("seq").values_list("seq", "reason", "hash"))
    with pytest.raises((DatabaseError, IntegrityError), match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql)
    assert list(AuditEvent.objects.order_by("seq").values_list("seq", "reason", "hash")) == before


def _app_role_on_postgresql() -> bool:
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        return not cursor.fetchone()[0]


@pytest.mark.postgres
@pytest.mark.parametrize("sql", [
    "SET session_replication_role = replica",
    f"ALTER TABLE {TABLE} DISABLE TRIGGER USER",
    f"ALTER TABLE {TABLE} DISABLE TRIGGER ALL",
    f"DROP TRIGGER auditevent_no_change ON {TABLE}",
    f"UPDATE {TABLE} SET reason = 'edited' WHERE seq = 2",
    f"DELETE FROM {TABLE} WHERE seq >= 2",
    f"TRUNCATE {TABLE}",
    f"DROP TABLE {TABLE} CASCADE",
])
def test_the_app_role_cannot_rewrite_the_log_on_postgresql(sql):
    if not _app_role_on_postgresql():
        pytest.skip("runs where the app connects as a least-privileged role (CI's PostgreSQL pass)")
    record(3)
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql)
    assert AuditEvent.objects.count() == 3
    assert "intact" in verify()


@pytest.mark.postgres
def test_the_app_role_is_neither_superuser_nor_owner():
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's roles")
    if not _app_role_on_postgresql():
        pytest.skip("runs where the app connects as a least-privileged role (CI's PostgreSQL pass)")
    with connection.cursor() as cursor:
        cursor.execute("SELECT tableowner = current_user FROM pg_tables WHERE tablename = %s", [TABLE])
        assert cursor.fetchone() == (False,)
        cursor.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tableowner = current_user")
        assert cursor.fetchone() == (0,)


# --- flush ----------------------------------------------------------------------------------------


def test_flush_refuses_in_production(tmp_path):
    db = tmp_path / "prod.sqlite3"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "SECRET_KEY", "DEBUG", "DATABASE_URL"))}
    env.update({"DJANGO_ENV": "production", "SECRET_KEY": "s" * 20 + "-production-secret-key-with-enough-entropy-0123456789",
                "AUDIT_CHAIN_KEY": "a" * 20 + "-audit-chain-key-with-enough-entropy-0123456789", "ALLOWED_HOSTS": "x.example",
                "PARSEC_API_KEY": "pk_live", "DATABASE_URL": f"sqlite:///{db}", "BACKOFFICE_VAR_DIR": str(tmp_path)})
    migrate = subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert migrate.returncode == 0, migrate.stderr[-2000:]
    seed = "from audit.services import record_action; record_action(actor='system', action='x.y', outcome='ok')"
    subprocess.run([sys.executable, "manage.py", "shell", "-c", seed], cwd=ROOT, env=env, check=True, timeout=120)
    result = subprocess.run([sys.executable, "manage.py", "flush", "--noinput"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "flush refuses to run in production: it would wipe the audit log" in result.stderr
    count = "from audit.models import AuditEvent; print(AuditEvent.objects.count())"
    after = subprocess.run([sys.executable, "manage.py", "shell", "-c", count], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert after.stdout.strip().splitlines()[-1] == "1"


# --- Log lines ------------------------------------------------------------------------------------


def test_a_newline_in_a_logged_value_cannot_forge_a_log_record(tmp_path):
    forged = "olivia\n2026-11-30 06:00:00,000 INFO django.security Successful login by admin"
    code = ("import logging; logging.getLogger('django.security.DisallowedHost').warning('bad _to_field %s', "
            f"{forged!r}); logging.getLogger('axes').info('done')")
    env = {**os.environ, "BACKOFFICE_VAR_DIR": str(tmp_path)}
    result = subprocess.run([sys.executable, "manage.py", "shell", "-c", code], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line is one JSON record
    [warning] = [r for r in records if r["name"] == "django.security.DisallowedHost"]
    assert warning["message"] == f"bad _to_field {forged}"
    assert warning["levelname"] == "WARNING"
    assert not any(r.get("message", "").startswith("Successful login") for r in records)
