"""``migrate`` as the schema's owner where one is configured (DATABASE_OWNER_URL): the app's
role owns nothing, so it could not create or alter a table. Afterwards the app's role is granted
what it needs (``backoffice.db_roles``, on post_migrate)."""

from django.core.management.commands.migrate import Command as MigrateCommand

from core.db import as_owner


class Command(MigrateCommand):
    def handle(self, *args, **options):
        with as_owner(options["database"]):
            return super().handle(*args, **options)
