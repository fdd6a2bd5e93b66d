"""Substring search on the lists people search (customers by external id or email, markets by
title, orders by Parsec order id): trigram GIN indexes on PostgreSQL, so ``icontains`` (Django's
``UPPER(col) LIKE UPPER('%term%')``) is an index scan at a million rows (bench/admin_lists.py).

Here, with the wiring, because the search spans apps; a no-op on SQLite, where a list of a few
thousand rows is scanned anyway.
"""

from django.db import migrations

INDEXES = [
    ("customer_external_id_trgm", "customers_customer", "external_id"),
    ("customer_email_trgm", "customers_customer", "email"),
    ("market_question_trgm", "orders_market", "question"),
    ("order_parsec_order_id_trgm", "orders_order", "parsec_order_id"),
]


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, table, column in INDEXES:
        schema_editor.execute(f'CREATE INDEX IF NOT EXISTS "{name}" ON "{table}" USING gin (UPPER("{column}") gin_trgm_ops)')


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _table, _column in INDEXES:
        schema_editor.execute(f'DROP INDEX IF EXISTS "{name}"')


class Migration(migrations.Migration):
    dependencies = [
        ("backoffice", "0002_scheduler_heartbeat"),
        ("customers", "0004_syncrun_moved_to_sync"),
        ("orders", "0007_lifecycle_settlements"),
    ]

    operations = [migrations.RunPython(create, drop, elidable=False)]
