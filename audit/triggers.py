"""The triggers that make the audit table append-only, per database vendor.

UPDATE, DELETE (and TRUNCATE on PostgreSQL) are refused; an INSERT is accepted only as the next
row of the chain (seq = head + 1, never over an existing id, seq or hash), which also shuts
SQLite's REPLACE, whose implicit delete fires no delete trigger. On PostgreSQL the app's role
has no UPDATE, DELETE or TRUNCATE privilege on the table either, and is not its owner, so it
cannot disable these triggers (``backoffice.db_roles``).

Migrations install them. ``manage.py flush`` (overridden in this app, refused in production)
lifts them for the length of the flush only: emptying the whole database is the one sanctioned
way rows go away (development and the test suite's transactional teardown).
"""

from __future__ import annotations

TABLE = "compliance_auditevent"
MESSAGE = "the audit log is append-only"

_SQLITE_INSTALL = [
    f"CREATE TRIGGER IF NOT EXISTS auditevent_no_update BEFORE UPDATE ON {TABLE} "
    f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END;",
    f"CREATE TRIGGER IF NOT EXISTS auditevent_no_delete BEFORE DELETE ON {TABLE} "
    f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END;",
    f"CREATE TRIGGER IF NOT EXISTS auditevent_append_only BEFORE INSERT ON {TABLE} "
    f"WHEN NEW.seq IS NOT (SELECT COALESCE(MAX(seq), 0) + 1 FROM {TABLE}) "
    f"OR EXISTS (SELECT 1 FROM {TABLE} WHERE id = NEW.id OR hash = NEW.hash) "
    f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END;",
]
_SQLITE_REMOVE = [
    "DROP TRIGGER IF EXISTS auditevent_no_update;",
    "DROP TRIGGER IF EXISTS auditevent_no_delete;",
    "DROP TRIGGER IF EXISTS auditevent_append_only;",
]

_PG_INSTALL = [
    f"""CREATE OR REPLACE FUNCTION auditevent_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;""",
    f"""CREATE OR REPLACE FUNCTION auditevent_append_only() RETURNS trigger AS $$
BEGIN
    IF NEW.seq IS DISTINCT FROM (SELECT COALESCE(MAX(seq), 0) + 1 FROM {TABLE}) THEN
        RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;""",
    f"DROP TRIGGER IF EXISTS auditevent_no_change ON {TABLE};",
    f"CREATE TRIGGER auditevent_no_change BEFORE UPDATE OR DELETE ON {TABLE} "
    "FOR EACH ROW EXECUTE FUNCTION auditevent_refuse_change();",
    f"DROP TRIGGER IF EXISTS auditevent_no_truncate ON {TABLE};",
    f"CREATE TRIGGER auditevent_no_truncate BEFORE TRUNCATE ON {TABLE} "
    "FOR EACH STATEMENT EXECUTE FUNCTION auditevent_refuse_change();",
    f"DROP TRIGGER IF EXISTS auditevent_append_only ON {TABLE};",
    f"CREATE TRIGGER auditevent_append_only BEFORE INSERT ON {TABLE} "
    "FOR EACH ROW EXECUTE FUNCTION auditevent_append_only();",
]
_PG_REMOVE = [
    f"DROP TRIGGER IF EXISTS auditevent_no_change ON {TABLE};",
    f"DROP TRIGGER IF EXISTS auditevent_no_truncate ON {TABLE};",
    f"DROP TRIGGER IF EXISTS auditevent_append_only ON {TABLE};",
    "DROP FUNCTION IF EXISTS auditevent_refuse_change();",
    "DROP FUNCTION IF EXISTS auditevent_append_only();",
]


def _statements(vendor: str, install: bool) -> list[str]:
    if vendor == "sqlite":
        return _SQLITE_INSTALL if install else _SQLITE_REMOVE
    if vendor == "postgresql":
        return _PG_INSTALL if install else _PG_REMOVE
    raise NotImplementedError(f"no append-only trigger for database vendor {vendor!r}")


def install(connection) -> None:
    with connection.cursor() as cursor:
        for sql in _statements(connection.vendor, install=True):
            cursor.execute(sql)


def remove(connection) -> None:
    with connection.cursor() as cursor:
        for sql in _statements(connection.vendor, install=False):
            cursor.execute(sql)


def table_exists(connection) -> bool:
    return TABLE in connection.introspection.table_names()
