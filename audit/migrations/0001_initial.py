"""The audit log moves here from compliance with its table (compliance_auditevent) and rows:
state only, nothing in the database changes."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('compliance', '0002_alerts_reviews'),
        ('customers', '0001_initial'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
            migrations.CreateModel(
                name='AuditEvent',
                fields=[
                    ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                    ('seq', models.PositiveBigIntegerField(editable=False, unique=True)),
                    ('at', models.DateTimeField(db_index=True, editable=False)),
                    ('actor_name', models.CharField(max_length=255)),
                    ('action', models.CharField(db_index=True, max_length=100)),
                    ('customer_ref', models.CharField(blank=True, max_length=64, verbose_name='Parsec customer id')),
                    ('reason', models.TextField(blank=True)),
                    ('request', models.JSONField(blank=True, default=dict)),
                    ('outcome', models.CharField(choices=[('ok', 'OK'), ('rejected', 'Rejected'), ('error', 'Error'), ('unknown', 'Unknown')], db_index=True, max_length=16)),
                    ('response', models.JSONField(blank=True, default=dict)),
                    ('prev_hash', models.CharField(blank=True, editable=False, max_length=64)),
                    ('hash', models.CharField(editable=False, max_length=64, unique=True)),
                    ('actor', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                    ('customer', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='audit_events', to='customers.customer')),
                ],
                options={
                    'verbose_name': 'audit event',
                    'db_table': 'compliance_auditevent',
                    'ordering': ['-seq'],
                    'indexes': [models.Index(fields=['customer_ref', '-seq'], name='auditevent_customer_seq'), models.Index(fields=['action', '-seq'], name='auditevent_action_seq')],
                    'constraints': [models.CheckConstraint(condition=models.Q(('outcome__in', ['ok', 'rejected', 'error', 'unknown'])), name='auditevent_outcome_known')],
                },
            ),
            ],
            database_operations=[],
        ),
    ]
