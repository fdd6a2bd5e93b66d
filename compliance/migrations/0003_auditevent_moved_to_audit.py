"""AuditEvent now belongs to the audit app (same table, same rows): forget it here, state only."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('compliance', '0002_alerts_reviews'),
        ('audit', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name='AuditEvent')],
            database_operations=[],
        ),
    ]
