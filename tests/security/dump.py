"""Every text column of every table, as the database returns it (raw SQL), for secret searches."""

from __future__ import annotations

from django.db import connections

TEXT_TYPES = ("char", "text", "json", "clob", "uuid")


def database_text(alias: str = "default") -> str:
    """All rows' text-like columns of every table in ``alias`` joined into one string."""
    connection = connections[alias]
    chunks = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            columns = [
                c.name for c in connection.introspection.get_table_description(cursor, table)
                if any(t in str(_type_name(connection, c)).lower() for t in TEXT_TYPES)
            ]
            if not columns:
                continue
            quoted = ", ".join(connection.ops.quote_name(c) for c in columns)
            cursor.execute(f"SELECT {quoted} FROM {connection.ops.quote_name(table)}")
            for row in cursor.fetchall():
                chunks.extend(str(value) for value in row if value is not None)
    return "\n".join(chunks)


def _type_name(connection, column) -> str:
    try:
        return connection.introspection.get_field_type(column.type_code, column)
    except KeyError:
        return str(column.type_code)
