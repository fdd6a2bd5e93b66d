"""Rotating the audit chain's key: a retired or leaked AUDIT_CHAIN_KEY is replaced without one old
row failing verification. The rotation row (under the new key) closes the old key's segment;
every segment verifies under its own key; a retired key dropped too early is named (KEY_UNKNOWN)."""

from __future__ import annotations

import hashlib
import hmac
import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from audit import services
from audit.models import AuditEvent
from tests.security.tamper import TABLE, tamper

pytestmark = pytest.mark.django_db(transaction=True)

ROTATED_ACTION = "audit.key_rotated"


def _id_of(key: bytes) -> str:
    """A key's public id, as checkpoints and rotation rows name it."""
    return hmac.new(key, b"audit-chain-key-id", hashlib.sha256).hexdigest()[:12]


OLD = "old-Kq7#vW2!pZ9" * 4
NEW = "new-Hx3$mR8@tL5" * 4
NEWER = "newer-Jd6%nB1^cF4" * 4
OLD_ID, NEW_ID, NEWER_ID = _id_of(OLD.encode()), _id_of(NEW.encode()), _id_of(NEWER.encode())


@pytest.fixture
def keys(settings):
    """Start under OLD with no retired keys; ``deploy(NEW, OLD)`` is what the operator does before rotating."""
    def deploy(current: str, *previous: str) -> None:
        settings.AUDIT_CHAIN_KEY = current
        settings.AUDIT_CHAIN_PREVIOUS_KEYS = list(previous)

    deploy(OLD)
    return deploy


def record(n: int, label: str = "step") -> list[AuditEvent]:
    return [services.record_action(actor="system", action="customer.deactivate", reason=f"{label} {i}", outcome="ok")
            for i in range(n)]


def run(command: str, *args: str) -> str:
    """A command's output when it succeeds, "REFUSED <message>" when it exits 1."""
    out = StringIO()
    try:
        call_command(command, *args, stdout=out)
    except CommandError as exc:
        assert exc.returncode == 1
        return f"REFUSED {exc}"
    return out.getvalue()


def verify() -> str:
    return run("verify_audit_log")


def rotate(reason: str = "yearly rotation") -> str:
    return run("rotate_audit_key", "--reason", reason)


def checkpoint_lines(settings) -> list[dict]:
    path = Path(settings.AUDIT_CHECKPOINT_DIR) / "audit-checkpoints.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_rotate_then_verify_clean_and_the_rotation_row_names_both_key_ids_and_the_old_head(keys, settings):
    record(3)
    assert "intact" in verify()
    old_head = AuditEvent.objects.get(seq=3)
    keys(NEW, OLD)
    output = rotate("key on a stolen laptop")
    assert output.strip() == (f"Audit key rotated: key id {OLD_ID} -> {NEW_ID} after head seq 3; rotation row seq 4; "
                              f"checkpoint written at seq 4 signed by key id {NEW_ID}.")
    row = AuditEvent.objects.get(seq=4)
    assert (row.action, row.reason, row.outcome) == (ROTATED_ACTION, "key on a stolen laptop", "ok")
    assert row.actor_name.startswith("rotate_audit_key (")
    assert row.request == {"old_key_id": OLD_ID, "new_key_id": NEW_ID, "old_head_seq": 3,
                           "old_head_hash": old_head.hash, "scheme": "hmac-sha256"}
    assert OLD not in json.dumps(row.request) and NEW not in json.dumps(row.request)
    assert verify().startswith("Audit log intact: 4 event(s) verified")


def test_rows_before_and_after_the_rotation_verify_each_under_its_key(keys):
    from audit.chain import compute_hash

    record(2, "before")
    keys(NEW, OLD)
    assert rotate().startswith("Audit key rotated")
    record(2, "after")
    rows = list(AuditEvent.objects.order_by("seq"))
    assert [compute_hash(r, OLD.encode()) == r.hash for r in rows] == [True, True, False, False, False]
    assert [compute_hash(r, NEW.encode()) == r.hash for r in rows] == [False, False, True, True, True]
    assert verify().startswith("Audit log intact: 5 event(s) verified")


def test_altering_a_row_before_the_rotation_is_still_altered(keys):
    record(3)
    keys(NEW, OLD)
    rotate()
    record(1)
    tamper((f"UPDATE {TABLE} SET reason = %s WHERE seq = 2", ["nothing happened"]))
    assert verify().startswith("REFUSED Audit log ALTERED at seq 2"), verify()


def test_rows_written_after_the_rotation_under_the_retired_key_are_altered(keys, settings):
    """A leaked old key cannot extend the chain once rotated: the segment after the rotation row is NEW's."""
    from audit.chain import compute_hash

    record(2)
    keys(NEW, OLD)
    rotate()
    [forged] = record(1)
    tamper((f"UPDATE {TABLE} SET hash = %s WHERE seq = %s", [compute_hash(forged, OLD.encode()), forged.seq]))
    assert verify().startswith("REFUSED Audit log ALTERED at seq 4"), verify()


def test_dropping_the_previous_key_too_early_is_key_unknown_naming_its_id(keys):
    record(3)
    keys(NEW, OLD)
    rotate()
    keys(NEW)  # OLD dropped from AUDIT_CHAIN_PREVIOUS_KEYS
    report = verify()
    assert report.startswith(f"REFUSED Audit log KEY_UNKNOWN at seq 1 (id {AuditEvent.objects.get(seq=1).pk}): rows "
                             f"from seq 1 were written under key id {OLD_ID}, which is neither AUDIT_CHAIN_KEY nor in "
                             f"AUDIT_CHAIN_PREVIOUS_KEYS (put the retired key with id {OLD_ID} back"), report
    assert OLD not in report
    keys(NEW, OLD)
    assert "intact" in verify()


def test_a_checkpoint_signed_by_a_key_no_longer_known_is_key_unknown(keys, settings):
    record(2)
    assert "intact" in verify()  # a checkpoint signed by OLD
    keys(NEW)  # OLD forgotten without a rotation; the rows are now unverifiable too, but the walk starts at the file
    from audit import checkpoints

    broken = checkpoints.compare()
    assert (broken.kind, broken.problem.split(",")[0]) == (
        "KEY_UNKNOWN", f"line 1 of {checkpoints.path()} was written under key id {OLD_ID}")


def test_rotating_a_broken_chain_is_refused_naming_the_break(keys):
    record(3)
    tamper((f"UPDATE {TABLE} SET reason = %s WHERE seq = 2", ["nothing happened"]))
    keys(NEW, OLD)
    report = rotate()
    assert report.startswith("REFUSED Refusing to rotate the audit key: Audit log ALTERED at seq 2"), report
    assert AuditEvent.objects.count() == 3 and not AuditEvent.objects.filter(action=ROTATED_ACTION).exists()


def test_rotating_twice_with_the_same_key_is_refused(keys):
    record(2)
    keys(NEW, OLD)
    assert rotate().startswith("Audit key rotated")
    report = rotate()
    assert report == (f"REFUSED Refusing to rotate the audit key: The chain is already under AUDIT_CHAIN_KEY (key id "
                      f"{NEW_ID}): nothing to rotate. Deploy the new key as AUDIT_CHAIN_KEY, with this one in "
                      "AUDIT_CHAIN_PREVIOUS_KEYS, then rotate."), report
    assert AuditEvent.objects.filter(action=ROTATED_ACTION).count() == 1


def test_rotating_without_the_new_key_deployed_is_refused(keys):
    record(1)
    report = rotate()
    assert report.startswith(f"REFUSED Refusing to rotate the audit key: The chain is already under AUDIT_CHAIN_KEY "
                             f"(key id {OLD_ID})"), report


def test_a_second_rotation_chains_three_segments(keys):
    record(1)
    keys(NEW, OLD)
    rotate()
    record(1)
    keys(NEWER, NEW, OLD)
    assert f"key id {NEW_ID} -> {NEWER_ID} after head seq 3" in rotate()
    record(1)
    assert verify().startswith("Audit log intact: 5 event(s) verified")
    keys(NEWER, OLD)  # NEW dropped: the middle segment is the one named
    assert verify().startswith("REFUSED Audit log KEY_UNKNOWN at seq 2"), verify()
    assert f"key id {NEW_ID}" in verify()


def test_checkpoints_across_a_rotation_verify_and_say_which_key_signed_them(keys, settings):
    record(2)
    assert "intact" in verify()
    keys(NEW, OLD)
    rotate()
    record(1)
    assert "intact" in verify()
    assert [(c["seq"], c["reason"], c["key_id"]) for c in checkpoint_lines(settings)] == [
        (2, "verify", OLD_ID), (3, "key rotated", NEW_ID), (4, "verify", NEW_ID)]
    # A cut back past the rotation still shows against the new key's checkpoints.
    tamper(f"DELETE FROM {TABLE} WHERE seq >= 3")
    assert verify().startswith("REFUSED Audit log CUT after seq 2: rows 3 to 4"), verify()


def test_a_retired_key_cannot_sign_checkpoints_after_the_rotation(keys, settings):
    """Someone holding the leaked old key appends a reset (to hide a wipe) signed with it."""
    from dataclasses import asdict
    from datetime import UTC, datetime

    from audit.checkpoints import RESET, Checkpoint, path

    record(2)
    keys(NEW, OLD)
    rotate()
    forged = Checkpoint(seq=0, hash="", at=datetime.now(UTC).isoformat(), key_id=OLD_ID, reason=RESET).signed(OLD.encode())
    with path().open("a") as handle:
        handle.write(json.dumps(asdict(forged)) + "\n")
    tamper(f"DELETE FROM {TABLE}")
    assert verify().startswith(f"REFUSED Audit log CHECKPOINT: line 2 is signed by key id {OLD_ID}, which the "
                               f"checkpoints had left for key id {NEW_ID}"), verify()


def test_rows_written_between_the_deploy_and_the_rotation_stay_under_the_old_key_and_verify(keys, settings):
    """The chosen behaviour: until the rotation row exists, every writer keeps hashing under the key
    the chain's head was written with (one HMAC per append checks it), so nothing written in the
    window is lost or unverifiable; the rotation row then closes that segment."""
    from audit.chain import compute_hash

    record(2, "before deploy")
    keys(NEW, OLD)  # the new key is deployed; nobody has run rotate_audit_key yet
    window = record(2, "in the window")
    assert [compute_hash(e, OLD.encode()) == e.hash for e in window] == [True, True]
    assert "intact" in verify()
    assert checkpoint_lines(settings)[-1]["key_id"] == OLD_ID  # the head's key signs it
    assert "after head seq 4" in rotate()
    [after] = record(1, "after rotation")
    assert compute_hash(after, NEW.encode()) == after.hash
    assert verify().startswith("Audit log intact: 6 event(s) verified")


def test_the_rotation_row_cannot_be_written_through_record_action(keys):
    record(1)
    with pytest.raises(services.AuditError, match="written only by rotate_chain_key"):
        services.record_action(actor="system", action=ROTATED_ACTION, outcome="ok",
                               request={"old_key_id": OLD_ID, "new_key_id": "ffffffffffff"})


def test_a_process_without_the_key_the_chain_was_rotated_to_refuses_to_append(keys):
    """A process left on the old configuration after the rotation (a missed host in a deploy) must
    not hash a row under the retired key: that row would break the append-only chain for good."""
    record(2)
    keys(NEW, OLD)
    rotate()
    keys(OLD)  # the missed host: still OLD as AUDIT_CHAIN_KEY, never heard of NEW
    with pytest.raises(services.AuditError) as refused:
        record(1)
    assert str(refused.value) == (
        f"the audit log's head (seq 3) verifies under no key this process holds (AUDIT_CHAIN_KEY {OLD_ID}, "
        f"AUDIT_CHAIN_PREVIOUS_KEYS); the chain was rotated to key id {NEW_ID}; refusing to append. Deploy the "
        "chain's key, or run verify_audit_log if the head was changed.")
    assert AuditEvent.objects.count() == 3
    keys(NEW, OLD)
    assert verify().startswith("Audit log intact: 3 event(s) verified")


def test_deploying_the_new_key_without_keeping_the_old_one_is_key_unknown_not_a_rewrite(keys):
    """The operator's likely slip: AUDIT_CHAIN_KEY replaced, the old key not moved to
    AUDIT_CHAIN_PREVIOUS_KEYS. The rows are fine; the checkpoints name the key they need."""
    record(2)
    assert "intact" in verify()
    keys(NEW)
    expected = f"Audit log KEY_UNKNOWN at seq 1 (id {AuditEvent.objects.get(seq=1).pk}): rows from seq 1 were written under key id {OLD_ID}"
    assert verify().startswith(f"REFUSED {expected}"), verify()
    assert rotate().startswith(f"REFUSED Refusing to rotate the audit key: {expected}"), rotate()
    keys(NEW, OLD)
    assert f"key id {OLD_ID} -> {NEW_ID} after head seq 2" in rotate()


def test_a_forged_rotation_row_naming_a_key_no_one_had_is_flagged(keys):
    """Someone who can insert into the table but holds no key appends a rotation row to a key id of
    their own: the walk cannot verify it (KEY_UNKNOWN), and says no checkpoint ever named that key."""
    record(2)
    assert "intact" in verify()
    head = AuditEvent.objects.get(seq=2)
    AuditEvent(seq=3, at=head.at, actor_name="system", action=ROTATED_ACTION, reason="forged", outcome="ok",
               request={"old_key_id": OLD_ID, "new_key_id": "0123456789ab", "old_head_seq": 2,
                        "old_head_hash": head.hash, "scheme": "hmac-sha256"},
               prev_hash=head.hash, hash="f" * 64).save(force_insert=True)  # the app role may insert the next row
    report = verify()
    assert report.startswith("REFUSED Audit log KEY_UNKNOWN at seq 3"), report
    assert ("no checkpoint names key id 0123456789ab either: if it was never this log's key, the rows naming it "
            "were forged") in report


def test_rotation_end_to_end_through_the_environment(tmp_path):
    """The operator's steps as processes: the keys come from the environment, never appear in any
    output, and a retired key dropped too early stops verify_audit_log with KEY_UNKNOWN."""
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "AUDIT_", "DATABASE_", "SECRET_KEY"))}
    base.update({"BACKOFFICE_VAR_DIR": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
                 "AUDIT_CHECKPOINT_DIR": str(tmp_path / "checkpoints")})

    def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "manage.py", *args], cwd=root, env={**base, **env},
                              capture_output=True, text=True, timeout=300)

    old, new = {"AUDIT_CHAIN_KEY": OLD}, {"AUDIT_CHAIN_KEY": NEW, "AUDIT_CHAIN_PREVIOUS_KEYS": OLD}
    assert manage("migrate", "--noinput", "-v0", **old).returncode == 0
    seed = "from audit.services import record_action as r; [r(actor='system', action='x.y', outcome='ok') for _ in range(2)]"
    assert manage("shell", "-c", seed, **old).returncode == 0
    assert manage("shell", "-c", seed, **new).returncode == 0  # the window: deployed, not yet rotated
    steps = [manage("verify_audit_log", **new), manage("rotate_audit_key", "--reason", "yearly", **new),
             manage("verify_audit_log", **new), manage("verify_audit_log", AUDIT_CHAIN_KEY=NEW)]
    assert [s.returncode for s in steps] == [0, 0, 0, 1], [s.stdout + s.stderr for s in steps]
    assert f"Audit key rotated: key id {OLD_ID} -> {NEW_ID} after head seq 4; rotation row seq 5" in steps[1].stdout
    assert "Audit log intact: 5 event(s) verified" in steps[2].stdout
    assert "KEY_UNKNOWN at seq 1" in steps[3].stderr and f"key id {OLD_ID}" in steps[3].stderr
    assert not any(key in s.stdout + s.stderr for s in steps for key in (OLD, NEW))
