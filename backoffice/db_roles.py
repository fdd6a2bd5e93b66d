"""The app's database role on PostgreSQL: it reads and writes the tables, owns none of them, and
may only read and append to the audit log.

Granted after every migrate (run as the owner) to ``DATABASE_APP_ROLE``: every table and sequence
of the schema, then the audit table's UPDATE, DELETE and TRUNCATE taken back. Not being the
owner, the role can neither drop nor disable the audit table's triggers; not being a superuser, it
cannot set ``session_replication_role`` (which would silence them).
"""

from __future__ import annotations

from django.conf import settings
from django.db import connections

from audit.triggers import TABLE as AUDIT_TABLE


def grant_app_role(sender, using="default", **kwargs) -> None:
    role = settings.DATABASE_APP_ROLE
    connection = connections[using]
    if using != "default" or not role or connection.vendor != "postgresql":
        return
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user")
        if cursor.fetchone()[0] == role:
            return  # migrating as the app role itself (a shape without an owner role): nothing to grant
        cursor.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {quote(role)}")
        cursor.execute(f"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {quote(role)}")
        cursor.execute(f"REVOKE UPDATE, DELETE, TRUNCATE, TRIGGER, REFERENCES ON {AUDIT_TABLE} FROM {quote(role)}")
