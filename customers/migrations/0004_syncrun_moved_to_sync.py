"""SyncRun now belongs to the sync app (same table, same rows): forget it here, state only."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('customers', '0003_exchangelink_sync_digests'),
        ('sync', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name='SyncRun')],
            database_operations=[],
        ),
    ]
