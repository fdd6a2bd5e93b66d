"""``flush`` that may empty the append-only audit table (and only while it runs), never in production.

It runs as the schema's owner where one is configured (DATABASE_OWNER_URL): the app's own role
may neither truncate the audit table nor lift its triggers. The emptied log starts a new chain,
so a signed reset line goes to the checkpoint file: earlier checkpoints describe rows that a
sanctioned flush removed.
"""

from django.conf import settings
from django.core.management.base import CommandError
from django.core.management.commands.flush import Command as FlushCommand
from django.db import DEFAULT_DB_ALIAS, connections

from audit import checkpoints, triggers
from core.db import as_owner


class Command(FlushCommand):
    def handle(self, **options):
        alias = options.get("database") or DEFAULT_DB_ALIAS
        if settings.PRODUCTION and alias == DEFAULT_DB_ALIAS:
            raise CommandError("flush refuses to run in production: it would wipe the audit log.", returncode=1)
        connection = connections[alias]
        if connection.vendor not in ("sqlite", "postgresql") or not triggers.table_exists(connection):
            return super().handle(**options)
        with as_owner(alias) as owned:
            triggers.remove(owned)
            try:
                result = super().handle(**options)
            finally:
                triggers.install(owned)
        checkpoints.write_reset()
        return result
