"""Someone with more power over the database than the app (a DBA, a restored backup, a stolen
owner password) rewriting the audit table behind the app's back.

On SQLite that is the app's own file with the triggers dropped; on PostgreSQL a separate
connection as the table's owner (DATABASE_OWNER_URL) or, in a shape without one, as the
configured user, with the table's triggers disabled for the length of the statements. The
rows a test tampers with must be committed (a ``transaction=True`` test on PostgreSQL).
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.db import connection

from audit import triggers

TABLE = triggers.TABLE


def tamper(*statements: tuple[str, list] | str) -> None:
    pairs = [(s, []) if isinstance(s, str) else s for s in statements]
    if connection.vendor == "sqlite":
        triggers.remove(connection)
        try:
            with connection.cursor() as cursor:
                for sql, params in pairs:
                    cursor.execute(sql, params)
        finally:
            triggers.install(connection)
        return
    import psycopg

    db = connection.settings_dict
    owner = getattr(settings, "DATABASE_OWNER", None) or db
    with psycopg.connect(host=owner.get("HOST") or db.get("HOST") or "127.0.0.1", port=owner.get("PORT") or db.get("PORT") or 5432,
                         user=owner["USER"], password=owner.get("PASSWORD") or None, dbname=db["NAME"]) as conn:
        conn.execute(f"ALTER TABLE {TABLE} DISABLE TRIGGER USER")
        for sql, params in pairs:
            conn.execute(sql, params)
        conn.execute(f"ALTER TABLE {TABLE} ENABLE TRIGGER USER")


def public_hash(row: dict) -> str:
    """The chain's hash as anyone can compute it without the key: SHA-256 over the row's
    canonical content (the product's hash before the chain was keyed)."""
    from audit.services import canonical_content

    return hashlib.sha256(canonical_content(**row)).hexdigest()


def rows() -> list[dict]:
    """Every audit row as the chain's canonical fields, in order."""
    from audit.models import AuditEvent

    out = []
    for event in AuditEvent.objects.order_by("seq"):
        out.append({
            "seq": event.seq, "at": event.at, "actor_id": event.actor_id, "actor_name": event.actor_name,
            "action": event.action, "customer_id": event.customer_id, "customer_ref": event.customer_ref,
            "reason": event.reason, "request": event.request, "outcome": event.outcome, "response": event.response,
            "prev_hash": event.prev_hash,
        })
    return out


def rechain_from(seq: int, **changes) -> None:
    """Change row ``seq`` and recompute its hash and every later one with the public algorithm,
    so each row's prev_hash links to the row before it again."""
    statements = []
    previous = None
    for row in rows():
        if row["seq"] < seq:
            previous = None
            continue
        if row["seq"] == seq:
            row.update(changes)
        if previous is not None:
            row["prev_hash"] = previous
        new_hash = public_hash(row)
        statements.append((f"UPDATE {TABLE} SET reason = %s, outcome = %s, prev_hash = %s, hash = %s WHERE seq = %s",
                           [row["reason"], row["outcome"], row["prev_hash"], new_hash, row["seq"]]))
        previous = new_hash
    tamper(*statements)
